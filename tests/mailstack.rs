//! Checks the private Dovecot + Postfix test stack and the helpers in
//! `tests/support` that every integration test builds on.

mod support;

use std::time::{Duration, Instant};

use futures::TryStreamExt;
use support::{
    imap_append, imap_fetch_all, imap_wait_for, imaps_login, mail_stack, smtp_send, subject_of,
    unique_user,
};

fn message(from: &str, to: &str, subject: &str, body: &str) -> Vec<u8> {
    format!(
        "From: {from}\r\nTo: {to}\r\nSubject: {subject}\r\n\
         Message-ID: <{}@example.test>\r\nDate: Mon, 1 Jan 2024 00:00:00 +0000\r\n\
         MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{body}",
        fastrand::u64(..)
    )
    .into_bytes()
}

#[tokio::test]
async fn smtp_to_imap_delivery() -> anyhow::Result<()> {
    let stack = mail_stack();
    let user = unique_user("delivery");
    // A line with a lone dot and one starting with a dot: SMTP dot-stuffing.
    let body = "hello\r\n.\r\n..two dots\r\n.one dot\r\nbye\r\n";
    let raw = message("customer@outside.test", &user, "Printer on fire", body);

    let sent = Instant::now();
    smtp_send(stack, "customer@outside.test", &[&user], &raw).await?;
    let messages = imap_wait_for(stack, &user, |m| !m.is_empty(), Duration::from_secs(15)).await?;
    eprintln!("delivered in {:?}", sent.elapsed());

    assert_eq!(messages.len(), 1);
    let got = &messages[0];
    assert_eq!(subject_of(got).as_deref(), Some("Printer on fire"));
    let text = String::from_utf8_lossy(got);
    assert!(
        text.ends_with(body),
        "body must survive dot-stuffing unchanged:\n{text}"
    );
    Ok(())
}

#[tokio::test]
async fn outside_recipients_go_to_the_sink() -> anyhow::Result<()> {
    let stack = mail_stack();
    let user = unique_user("sinkcheck");
    let marker = format!("sink-marker-{}", fastrand::u64(..));
    let raw = message(&user, "someone@elsewhere.invalid", &marker, "x\r\n");
    smtp_send(stack, &user, &["someone@elsewhere.invalid"], &raw).await?;
    let messages = imap_wait_for(
        stack,
        support::SINK,
        |m| {
            m.iter()
                .any(|raw| subject_of(raw).as_deref() == Some(&marker))
        },
        Duration::from_secs(15),
    )
    .await?;
    assert!(!messages.is_empty());
    Ok(())
}

#[tokio::test]
async fn imaps_login_trusting_the_test_ca() -> anyhow::Result<()> {
    let stack = mail_stack();
    let user = unique_user("tls");
    let mut session = imaps_login(stack, &user).await?;
    let mailbox = session.select("INBOX").await?;
    assert_eq!(mailbox.exists, 0);
    let names: Vec<_> = session.list(None, Some("*")).await?.try_collect().await?;
    assert!(names.iter().any(|n| n.name() == "INBOX"));
    session.logout().await?;

    // The wrong password is refused.
    let tcp = tokio::net::TcpStream::connect(stack.imap_addr(false)).await?;
    let mut client = async_imap::Client::new(tcp);
    client.read_response().await?;
    assert!(client.login(&user, "wrong").await.is_err());
    Ok(())
}

#[tokio::test]
async fn append_then_fetch() -> anyhow::Result<()> {
    let stack = mail_stack();
    let user = unique_user("append");
    assert!(imap_fetch_all(stack, &user).await?.is_empty());

    let first = message("a@outside.test", &user, "first", "one\r\n");
    let second = message("b@outside.test", &user, "second", "two\r\n");
    imap_append(stack, &user, &first).await?;
    imap_append(stack, &user, &second).await?;

    let messages = imap_fetch_all(stack, &user).await?;
    assert_eq!(messages, vec![first, second]);
    Ok(())
}

#[tokio::test]
async fn bare_lf_and_leading_dots_survive_smtp() -> anyhow::Result<()> {
    let stack = mail_stack();
    let user = unique_user("lf");
    let raw =
        format!("From: x@outside.test\nTo: {user}\nSubject: bare lf\n\n.\n.starts with a dot\nend");
    smtp_send(stack, "x@outside.test", &[&user], raw.as_bytes()).await?;
    let messages = imap_wait_for(stack, &user, |m| !m.is_empty(), Duration::from_secs(15)).await?;
    let text = String::from_utf8_lossy(&messages[0]);
    assert!(
        text.ends_with("\r\n\r\n.\r\n.starts with a dot\r\nend\r\n"),
        "{text}"
    );
    Ok(())
}
