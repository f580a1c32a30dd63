//! The dashboard link of a withheld attachment: with `[http]` on, agents' mails list a
//! file they do not carry with `<public_url>/tickets/TP-n/files/N`, and the running
//! service serves it there, behind the dashboard's bearer token, as a download of the
//! exact bytes whatever the sender declared.

#[path = "support/embedded.rs"]
mod embedded;
#[path = "support/mail_files.rs"]
mod mail_files;
#[path = "support/running.rs"]
mod running;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

use embedded::{Desk, header};
use mail_files::{exe, files_of, png, text_of, with_files};
use running::Running;

const TOKEN: &str = "files-link-token";

struct Reply {
    status: u16,
    head: String,
    body: Vec<u8>,
}

impl Reply {
    fn header(&self, name: &str) -> Option<String> {
        self.head.lines().find_map(|l| {
            let (n, v) = l.split_once(':')?;
            n.trim()
                .eq_ignore_ascii_case(name)
                .then(|| v.trim().to_string())
        })
    }
}

/// One HTTP/1.1 GET; `None` when nothing answers.
fn get(port: u16, path: &str, bearer: Option<&str>) -> Option<Reply> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .ok()?;
    let auth = bearer
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{auth}Connection: close\r\n\r\n"
    )
    .ok()?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).ok()?;
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let status = head.split_whitespace().nth(1)?.parse().ok()?;
    Some(Reply {
        status,
        head,
        body: raw[split + 4..].to_vec(),
    })
}

#[test]
fn a_withheld_file_is_linked_in_the_notice_and_downloaded_behind_the_token() {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let desk = Desk::with_agents(
        &["Ann Lee <ann@example.test>"],
        &format!(
            "[http]\nlisten = \"127.0.0.1:{port}\"\npublic_url = \"http://127.0.0.1:{port}/\"\nbearer_token = \"{TOKEN}\"\n"
        ),
    );
    let (png, exe) = (png(), exe());
    desk.deliver(
        "1.request",
        &with_files(
            "From: Jane Doe <jane@example.org>\nTo: support@example.test\nSubject: Printer\nMessage-ID: <req-1@example.org>\n",
            "The vendor sent this tool; the screenshot shows the error.",
            &[
                ("shot.png", "image/png", &png),
                ("fix tool.exe", "text/html", &exe),
            ],
        ),
    );
    desk.run_once();
    let notice = desk
        .sent("-agent_notice.eml")
        .into_iter()
        .map(|m| String::from_utf8_lossy(&m).into_owned())
        .find(|m| header(m, "To").is_some_and(|t| t.contains("ann@example.test")))
        .expect("a notice to Ann");
    assert_eq!(
        files_of(notice.as_bytes()),
        vec![("shot.png".to_string(), png)]
    );
    let link = format!("http://127.0.0.1:{port}/tickets/TP-1/files/2");
    let text = text_of(notice.as_bytes());
    assert!(
        text.contains(&format!(
            "Fetch it with: ticketpost attachments get TP-1 2, or open {link}"
        )),
        "{text}"
    );

    let mut service = Running::new(&desk.config, &desk.root().join("service.log"));
    service.start();
    let started = Instant::now();
    while get(port, "/healthz", None).is_none_or(|r| r.status != 200) {
        service.assert_running("start-up");
        assert!(started.elapsed() < Duration::from_secs(60), "no /healthz");
        std::thread::sleep(Duration::from_millis(50));
    }
    let path = "/tickets/TP-1/files/2";
    assert_eq!(get(port, path, None).unwrap().status, 401);
    assert_eq!(get(port, path, Some("wrong")).unwrap().status, 401);
    let reply = get(port, path, Some(TOKEN)).unwrap();
    assert_eq!(reply.status, 200, "{}", reply.head);
    assert_eq!(reply.body, exe, "the exact bytes");
    // Declared text/html by its sender: still only ever a download.
    assert_eq!(
        reply.header("content-type").as_deref(),
        Some("application/octet-stream")
    );
    let disposition = reply.header("content-disposition").unwrap_or_default();
    assert!(
        disposition.starts_with("attachment; filename=\"fix tool.exe\""),
        "{disposition}"
    );
    assert!(
        disposition.contains("filename*=UTF-8''fix%20tool.exe"),
        "{disposition}"
    );
    assert_eq!(reply.header("cache-control").as_deref(), Some("no-store"));
    for missing in [
        "/tickets/TP-1/files/3",
        "/tickets/TP-99/files/1",
        "/tickets/XX-1/files/1",
    ] {
        let reply = get(port, missing, Some(TOKEN)).unwrap();
        assert_eq!(reply.status, 404, "{missing}");
    }
    service.terminate(Duration::from_secs(30));

    // A bad public_url names the key.
    let bad = Desk::with_agents(
        &["Ann Lee <ann@example.test>"],
        "[http]\npublic_url = \"desk.example.com\"\n",
    );
    let out = bad.ticketpost(&["check"], None);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("[http] public_url"), "{err}");
}
