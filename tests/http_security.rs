//! The HTTP endpoint's protections, through a running `ticketpost run` spoken to in raw
//! HTTP/1.1: the security headers on every response, `no-store` on the guarded pages,
//! the `Authorization` scheme in any case, and the browser's way in: `?token=` once,
//! then a cookie, with the token gone from the address.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const TOKEN: &str = "s3cret-security-token";
const CSP: &str = "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; \
                   form-action 'none'; frame-ancestors 'none'";

/// A `ticketpost run` on an empty Maildir, stopped (SIGTERM) when dropped.
struct Service {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
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

/// Starts the service, with `[http] bearer_token_env` when `token` is given, and waits
/// for its `/healthz`. A port taken between our pick and its bind (by another test, or
/// by a probe's own ephemeral port) makes it exit: then it is tried again on another.
fn start(token: Option<&str>) -> Service {
    for _attempt in 0..3 {
        let dir = tempfile::tempdir().unwrap();
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut service = Service {
            child: spawn(dir.path(), port, token),
            port,
            _dir: dir,
        };
        let started = Instant::now();
        loop {
            if service.child.try_wait().unwrap().is_some() {
                break;
            }
            // A full HTTP answer, not just a connection: it is this service speaking.
            if try_get(port, "/healthz", &[]).is_some_and(|r| r.status == 200) {
                return service;
            }
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "the HTTP endpoint did not come up"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    panic!("ticketpost exited at start three times");
}

fn spawn(root: &Path, port: u16, token: Option<&str>) -> Child {
    for sub in ["inbox/new", "inbox/cur", "inbox/tmp"] {
        std::fs::create_dir_all(root.join(sub)).unwrap();
    }
    let config = root.join("ticketpost.toml");
    let bearer = if token.is_some() {
        "bearer_token_env = \"TP_TEST_HTTP_TOKEN\""
    } else {
        ""
    };
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
[http]
listen = "127.0.0.1:{port}"
{bearer}
"#,
            r = root.display()
        ),
    )
    .unwrap();
    let mut command = Command::new(env!("CARGO_BIN_EXE_ticketpost"));
    command
        .arg("--config")
        .arg(&config)
        .arg("run")
        .env_remove("TP_TEST_HTTP_TOKEN")
        .env("TICKETPOST_LOG", "warn")
        .stdin(Stdio::null());
    if let Some(token) = token {
        command.env("TP_TEST_HTTP_TOKEN", token);
    }
    command.spawn().expect("start ticketpost")
}

struct Reply {
    status: u16,
    /// Names in lower case, in the order received.
    headers: Vec<(String, String)>,
    body: String,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// One HTTP/1.1 GET of `path` with `extra` header lines (each without CRLF).
fn get(port: u16, path: &str, extra: &[&str]) -> Reply {
    try_get(port, path, extra).unwrap_or_else(|| panic!("no HTTP answer to GET {path}"))
}

/// As [`get`]; `None` when the connection fails or the answer is not HTTP.
fn try_get(port: u16, path: &str, extra: &[&str]) -> Option<Reply> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .ok()?;
    let extra: String = extra.iter().map(|h| format!("{h}\r\n")).collect();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{extra}Connection: close\r\n\r\n"
    )
    .ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let (head, body) = response.split_once("\r\n\r\n")?;
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .filter(|l| l.starts_with("HTTP/1.1 "))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()?;
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    Some(Reply {
        status,
        headers,
        body: body.to_string(),
    })
}

fn assert_security_headers(what: &str, reply: &Reply) {
    for (name, value) in [
        ("referrer-policy", "no-referrer"),
        ("content-security-policy", CSP),
        ("x-frame-options", "DENY"),
        ("x-content-type-options", "nosniff"),
    ] {
        assert_eq!(
            reply.header(name),
            Some(value),
            "{what}: {name} (status {}, headers {:?})",
            reply.status,
            reply.headers
        );
    }
}

#[test]
fn every_response_carries_the_security_headers_and_guarded_ones_no_store() {
    let service = start(Some(TOKEN));
    let bearer = format!("Authorization: Bearer {TOKEN}");
    let cases: [(&str, &[&str], u16, bool); 6] = [
        ("/healthz", &[], 200, false),
        ("/", &[&bearer], 200, true),
        ("/metrics", &[&bearer], 200, true),
        ("/", &[], 401, true),
        ("/metrics", &["Authorization: Bearer wrong"], 401, true),
        ("/no-such-page", &[], 404, false),
    ];
    for (path, headers, status, guarded) in cases {
        let reply = get(service.port, path, headers);
        let what = format!("GET {path} {headers:?}");
        assert_eq!(reply.status, status, "{what}: {}", reply.body);
        assert_security_headers(&what, &reply);
        if guarded {
            assert_eq!(reply.header("cache-control"), Some("no-store"), "{what}");
        }
    }
    // The page itself needs nothing the policy forbids: no script, no outside resource.
    let page = get(service.port, "/", &[&bearer]).body;
    assert!(page.contains("<h1>ticketpost</h1>"), "{page}");
    assert!(!page.contains("<script"), "{page}");
    assert!(!page.contains("src="), "{page}");
}

#[test]
fn the_authorization_scheme_is_case_insensitive() {
    let service = start(Some(TOKEN));
    for scheme in ["Bearer", "bearer", "BEARER", "bEaReR"] {
        let header = format!("Authorization: {scheme} {TOKEN}");
        let reply = get(service.port, "/metrics", &[&header]);
        assert_eq!(reply.status, 200, "{header}: {}", reply.body);
        assert!(reply.body.contains("ticketpost_outbox_depth"), "{header}");
    }
    for refused in [
        format!("Authorization: Basic {TOKEN}"),
        format!("Authorization: bearer {TOKEN}x"),
        format!("Authorization: bearer{TOKEN}"),
        "Authorization: bearer".to_string(),
    ] {
        let reply = get(service.port, "/metrics", &[&refused]);
        assert_eq!(reply.status, 401, "{refused}");
        assert_eq!(
            reply.header("www-authenticate"),
            Some("Bearer"),
            "{refused}"
        );
    }
}

#[test]
fn a_token_in_the_url_becomes_a_cookie_and_leaves_the_url() {
    let service = start(Some(TOKEN));
    let port = service.port;

    let reply = get(port, &format!("/?token={TOKEN}"), &[]);
    assert_eq!(reply.status, 303, "{:?}", reply.headers);
    assert_eq!(reply.header("location"), Some("/"));
    assert_security_headers("the redirect", &reply);
    assert_eq!(reply.header("cache-control"), Some("no-store"));
    let set_cookie = reply
        .header("set-cookie")
        .expect("a Set-Cookie")
        .to_string();
    let attributes: Vec<&str> = set_cookie.split(';').map(str::trim).collect();
    for wanted in ["HttpOnly", "SameSite=Lax", "Path=/"] {
        assert!(attributes.contains(&wanted), "{wanted} in {set_cookie}");
    }
    assert!(
        !attributes.iter().any(|a| a.eq_ignore_ascii_case("secure")),
        "no Secure on plain HTTP: {set_cookie}"
    );
    let cookie = attributes[0];
    assert!(cookie.starts_with("ticketpost_auth="), "{set_cookie}");
    assert!(
        !cookie.contains(TOKEN),
        "the cookie holds the token: {cookie}"
    );

    // The cookie now opens both guarded pages; the page links carry no token.
    let cookie_header = format!("Cookie: theme=dark; {cookie}");
    let page = get(port, "/", &[&cookie_header]);
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("<h1>ticketpost</h1>"), "{}", page.body);
    assert!(page.body.contains("href=\"/metrics\""), "{}", page.body);
    assert!(!page.body.contains(TOKEN), "{}", page.body);
    assert!(!page.body.contains("token="), "{}", page.body);
    assert_eq!(page.header("set-cookie"), None, "set once, by the redirect");
    let metrics = get(port, "/metrics", &[&cookie_header]);
    assert_eq!(metrics.status, 200, "{}", metrics.body);

    // /metrics redirects to itself, and other query parameters go with the token.
    let reply = get(port, &format!("/metrics?x=1&token={TOKEN}"), &[]);
    assert_eq!(reply.status, 303);
    assert_eq!(reply.header("location"), Some("/metrics"));

    // A wrong token in the URL, or a wrong cookie, is refused, with no cookie set.
    for (path, headers) in [
        ("/?token=wrong".to_string(), vec![]),
        ("/?token=".to_string(), vec![]),
        (
            "/".to_string(),
            vec!["Cookie: ticketpost_auth=0000".to_string()],
        ),
        (
            "/".to_string(),
            vec![format!("Cookie: ticketpost_auth={TOKEN}")],
        ),
        ("/metrics".to_string(), vec![format!("Cookie: {cookie}x")]),
    ] {
        let headers: Vec<&str> = headers.iter().map(String::as_str).collect();
        let reply = get(port, &path, &headers);
        assert_eq!(reply.status, 401, "GET {path} {headers:?}");
        assert_eq!(reply.header("set-cookie"), None, "GET {path}");
    }
}

#[test]
fn without_a_token_pages_are_open_and_the_url_is_left_alone() {
    let service = start(None);
    for path in ["/", "/metrics", "/?token=anything"] {
        let reply = get(service.port, path, &[]);
        assert_eq!(reply.status, 200, "GET {path}: {}", reply.body);
        assert_security_headers(path, &reply);
        assert_eq!(reply.header("set-cookie"), None, "GET {path}");
    }
}
