//! The durable outbox under failure: a temporary failure (nobody listening) keeps the
//! mail queued with its attempt counted and retries it once its backoff has passed (time
//! moved with a manual clock), then it reaches the requester through the real Postfix;
//! a permanent failure (a 550 from a small in-process SMTP peer) is marked failed.

mod support;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio_util::sync::CancellationToken;

use ticketpost::clock::ManualClock;
use ticketpost::config::Config;
use ticketpost::service::{self, RunOptions};
use ticketpost::store;

fn config(root: &Path, smtp_port: u16, support: &str) -> Config {
    let text = format!(
        r#"
[store]
path = "{root}/t.db"
[mailbox]
kind = "maildir"
path = "{root}/inbox"
[transport]
kind = "smtp"
host = "127.0.0.1"
port = {smtp_port}
tls = "none"
timeout = 5
[desk]
support_address = "{support}"
"#,
        root = root.display()
    );
    Config::from_toml(Path::new("test.toml"), &text, &Default::default()).unwrap()
}

fn deliver(root: &Path, name: &str, from: &str, support: &str) {
    let new = root.join("inbox/new");
    std::fs::create_dir_all(&new).unwrap();
    std::fs::write(
        new.join(name),
        format!("From: {from}\r\nTo: {support}\r\nSubject: Outbox test\r\nMessage-ID: <{name}@outside.test>\r\n\r\nHelp.\r\n"),
    )
    .unwrap();
}

async fn run_once(cfg: &Config, clock: &ManualClock) -> service::RunReport {
    service::run(
        cfg,
        RunOptions {
            once: true,
            ..Default::default()
        },
        Arc::new(clock.clone()),
        CancellationToken::new(),
    )
    .await
    .unwrap()
}

fn outbox_rows(cfg: &Config) -> Vec<store::outbox::OutboxRow> {
    let conn = store::open_reader(&cfg.store.path).unwrap();
    store::outbox::list(&conn, None).unwrap()
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[tokio::test(flavor = "multi_thread")]
async fn temporary_failure_is_retried_after_backoff_then_delivered() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let stack = support::mail_stack();
    let dir = tempfile::tempdir().unwrap();
    let support_addr = support::unique_user("outbox");
    let requester = support::unique_user("outboxreq");
    let clock = ManualClock::new(1_800_000_000);

    // Nobody listens on this port: a temporary failure.
    let down = config(dir.path(), free_port(), &support_addr);
    deliver(dir.path(), "r1", &requester, &support_addr);
    let report = run_once(&down, &clock).await;
    assert_eq!(
        (report.ingest.new_tickets, report.sent, report.send_retrying),
        (1, 0, 1)
    );
    let rows = outbox_rows(&down);
    assert_eq!(rows.len(), 1);
    assert_eq!((rows[0].state.as_str(), rows[0].attempts), ("queued", 1));
    assert!(rows[0].last_error.is_some());

    // The server is back, but the retry is not due yet: nothing is sent.
    let up = config(dir.path(), stack.smtp_port, &support_addr);
    clock.advance(5);
    let report = run_once(&up, &clock).await;
    assert_eq!(report.sent, 0);
    assert_eq!(outbox_rows(&up)[0].state, "queued");

    // After the backoff it goes out, once, with the Message-ID it was queued with.
    clock.advance(60);
    let report = run_once(&up, &clock).await;
    assert_eq!(report.sent, 1);
    let rows = outbox_rows(&up);
    assert_eq!((rows[0].state.as_str(), rows[0].attempts), ("sent", 2));
    let inbox = support::imap_wait_for(
        stack,
        &requester,
        |m| !m.is_empty(),
        Duration::from_secs(20),
    )
    .await
    .unwrap();
    let text = String::from_utf8_lossy(&inbox[0]);
    assert!(
        text.contains(&format!("<{}>", rows[0].message_id)),
        "same Message-ID as queued"
    );
    assert_eq!(
        support::subject_of(&inbox[0]).unwrap(),
        "[TP-1] Outbox test"
    );
}

/// A minimal SMTP peer that refuses every recipient with 550.
async fn refusing_smtp_server() -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let (read, mut write) = stream.into_split();
                let mut lines = BufReader::new(read).lines();
                write.write_all(b"220 refuser ESMTP\r\n").await.ok();
                while let Ok(Some(line)) = lines.next_line().await {
                    let verb = line
                        .split_whitespace()
                        .next()
                        .unwrap_or("")
                        .to_ascii_uppercase();
                    let reply: &[u8] = match verb.as_str() {
                        "EHLO" | "HELO" => b"250 refuser\r\n",
                        "MAIL" | "RSET" | "NOOP" => b"250 ok\r\n",
                        "RCPT" => b"550 5.1.1 no such user here\r\n",
                        "QUIT" => {
                            write.write_all(b"221 bye\r\n").await.ok();
                            break;
                        }
                        _ => b"502 5.5.2 not implemented\r\n",
                    };
                    write.write_all(reply).await.ok();
                }
            });
        }
    });
    port
}

#[tokio::test(flavor = "multi_thread")]
async fn permanent_failure_is_marked_failed_and_not_retried() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(1_800_000_000);
    let cfg = config(
        dir.path(),
        refusing_smtp_server().await,
        "support@example.test",
    );
    deliver(
        dir.path(),
        "p1",
        "someone@outside.test",
        "support@example.test",
    );
    let report = run_once(&cfg, &clock).await;
    assert_eq!(
        (report.ingest.new_tickets, report.sent, report.send_failed),
        (1, 0, 1)
    );
    let rows = outbox_rows(&cfg);
    assert_eq!(rows[0].state, "failed");
    assert!(
        rows[0].last_error.as_deref().unwrap().contains("550"),
        "{:?}",
        rows[0].last_error
    );

    clock.advance(86_400);
    let report = run_once(&cfg, &clock).await;
    assert_eq!(
        (report.sent, report.send_failed, report.send_retrying),
        (0, 0, 0)
    );
    assert_eq!(outbox_rows(&cfg)[0].attempts, 1);
}
