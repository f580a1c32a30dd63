//! The HTTP endpoint of a running `ticketpost run` (embedded default: Maildir in, file
//! transport out): `/healthz`, `/metrics` with the bearer token, and the dashboard,
//! loaded in headless Chromium (the Debian `chromium` package, installed by
//! `tests/run.sh`): the test reads the page as the browser built it, checks what it
//! shows, and saves a screenshot next to the test binaries.

#[path = "support/skip.rs"]
mod skip;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const TOKEN: &str = "s3cret-dashboard-token";

struct Service {
    child: Child,
}

impl Drop for Service {
    fn drop(&mut self) {
        // SAFETY: sending a signal to our own child process.
        unsafe {
            libc::kill(self.child.id() as i32, libc::SIGTERM);
        }
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// One HTTP/1.1 GET; (status, body).
fn get(port: u16, path: &str, bearer: Option<&str>) -> (u16, String) {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let auth = bearer
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{auth}Connection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let status = response
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

fn deliver(root: &Path, name: &str, raw: &str) {
    let tmp = root.join("inbox/tmp").join(name);
    std::fs::write(&tmp, raw.replace('\n', "\r\n")).unwrap();
    std::fs::rename(&tmp, root.join("inbox/new").join(name)).unwrap();
}

fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let started = Instant::now();
    while !done() {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn chromium() -> Option<PathBuf> {
    ["chromium", "chromium-browser", "google-chrome"]
        .iter()
        .find_map(|name| {
            std::env::var_os("PATH").and_then(|paths| {
                std::env::split_paths(&paths)
                    .map(|d| d.join(name))
                    .find(|p| p.is_file())
            })
        })
}

/// Runs headless Chromium on `url` with `args`; its stdout.
fn browse(browser: &Path, profile: &Path, args: &[&str], url: &str) -> String {
    let out = Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--hide-scrollbars",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .arg(url)
        .stdin(Stdio::null())
        .output()
        .expect("run chromium");
    assert!(
        out.status.success(),
        "chromium failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn health_metrics_and_dashboard_in_headless_chromium() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    for sub in ["inbox/new", "inbox/cur", "inbox/tmp"] {
        std::fs::create_dir_all(root.join(sub)).unwrap();
    }
    let port = free_port();
    let config = root.join("ticketpost.toml");
    std::fs::write(
        &config,
        format!(
            r#"
[store]
path = "{r}/t.db"
[mailbox]
kind = "maildir"
path = "{r}/inbox"
poll_interval = 0.2
[transport]
kind = "file"
path = "{r}/outbox"
[desk]
support_address = "support@example.test"
support_name = "Example Support"
agents = ["Ann Lee <ann@example.test>"]
# Both requests are one person's (P3 and P4 under the priority matrix): the domain
# floor makes both P3, so the page and the metrics below have one row to check.
[triage]
domains = {{ "example.org" = "P3" }}
[http]
listen = "127.0.0.1:{port}"
bearer_token_env = "TP_TEST_HTTP_TOKEN"
"#,
            r = root.display()
        ),
    )
    .unwrap();
    let _service = Service {
        child: Command::new(env!("CARGO_BIN_EXE_ticketpost"))
            .arg("--config")
            .arg(&config)
            .arg("run")
            .env("TP_TEST_HTTP_TOKEN", TOKEN)
            .env("TICKETPOST_LOG", "warn")
            .stdin(Stdio::null())
            .spawn()
            .expect("start ticketpost"),
    };
    wait_until("the HTTP endpoint", || {
        TcpStream::connect(("127.0.0.1", port)).is_ok()
    });

    deliver(
        root,
        "1",
        "From: Jane <jane@example.org>\nTo: support@example.test\nSubject: Printer on floor 2 jams\nMessage-ID: <d1@example.org>\n\nIt jams on every page.\n",
    );
    deliver(
        root,
        "2",
        "From: Mallory <m@example.org>\nTo: support@example.test\nSubject: <script>alert(1)</script> VPN down\nMessage-ID: <d2@example.org>\n\nVPN is down for me.\n",
    );
    wait_until("two tickets", || {
        let (status, body) = get(port, "/metrics", Some(TOKEN));
        status == 200 && body.contains("ticketpost_messages_ingested_total 2")
    });

    let (status, body) = get(port, "/healthz", None);
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"status\":\"ok\""), "{body}");
    let (status, _) = get(port, "/metrics", None);
    assert_eq!(status, 401, "the token is required");
    let (status, _) = get(port, "/metrics", Some("wrong"));
    assert_eq!(status, 401);
    let (_, metrics) = get(port, "/metrics", Some(TOKEN));
    println!("--- /metrics\n{metrics}");
    for needle in [
        "ticketpost_tickets{status=\"open\",priority=\"P3\"} 2",
        "ticketpost_outbox_mails{state=\"failed\"} 0",
        "# TYPE ticketpost_ingest_latency_seconds histogram",
        "ticketpost_ingest_latency_seconds_count 2",
        "ticketpost_ingest_latency_seconds_bucket{le=\"+Inf\"} 2",
        "ticketpost_sla_breaches_total 0",
        "ticketpost_sla_open_breached 0",
    ] {
        assert!(metrics.contains(needle), "missing {needle}");
    }
    wait_until("the mail sent", || {
        get(port, "/metrics", Some(TOKEN))
            .1
            .contains("ticketpost_outbox_depth 0")
    });

    let Some(browser) = chromium() else {
        skip::skip("the browser part: no chromium on PATH (tests/run.sh installs it)");
        return;
    };
    let profile = root.join("chromium-profile");
    // `?token=` is answered with a cookie and a redirect to `/`, which Chromium follows.
    let url = format!("http://127.0.0.1:{port}/?token={TOKEN}");
    let dom = browse(&browser, &profile, &["--dump-dom"], &url);
    for needle in [
        "2 open ticket(s)",
        "TP-1",
        "Printer on floor 2 jams",
        "TP-2",
        "jane@example.org",
        "first response due in",
        "4 sent, 0 failed",
        "No failed mail.",
        "0 SLA target(s) breached",
        // The counts by status and priority: the open row, its P3 column and total.
        "<td>open</td><td class=\"n\">0</td><td class=\"n\">0</td><td class=\"n\">2</td>",
    ] {
        assert!(dom.contains(needle), "the page lacks {needle:?}:\n{dom}");
    }
    // The subject's markup is shown as text, never run.
    assert!(
        dom.contains("&lt;script&gt;alert(1)&lt;/script&gt; VPN down"),
        "{dom}"
    );
    assert!(!dom.contains("<script>alert(1)</script>"));
    // A fresh profile: the first visit left the auth cookie in `profile`.
    let denied = browse(
        &browser,
        &root.join("chromium-profile-no-cookie"),
        &["--dump-dom"],
        &format!("http://127.0.0.1:{port}/"),
    );
    assert!(denied.contains("a bearer token is required"), "{denied}");

    let shots = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    let shot = shots.join("dashboard.png");
    let _ = std::fs::remove_file(&shot);
    browse(
        &browser,
        &profile,
        &[
            &format!("--screenshot={}", shot.display()),
            "--window-size=1280,800",
        ],
        &url,
    );
    let png = std::fs::read(&shot).expect("screenshot written");
    assert!(png.starts_with(b"\x89PNG"), "a PNG");
    assert!(png.len() > 5_000, "{} bytes: an empty page?", png.len());
    println!(
        "dashboard screenshot: {} ({} bytes)",
        shot.display(),
        png.len()
    );
}
