//! The outbox's own SMTP sessions (`outbox/smtp_session.rs`, TCP_NODELAY, pooled)
//! against the private Postfix: implicit TLS through a small TLS-terminating proxy in
//! front of Postfix's SMTP port (the stack has no SMTPS port of its own), sessions
//! reused from mail to mail, and a session the server closed meanwhile replaced.
//! STARTTLS with XOAUTH2 is `tests/oauth2_login.rs`'s, plain SMTP every e2e test's.

mod support;

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use ticketpost::config::Config;
use ticketpost::outbox::transport::Transport;
use ticketpost::store::outbox::OutboxEntry;
use tokio::net::{TcpListener, TcpStream};

fn entry(from: &str, to: &str, n: usize) -> OutboxEntry {
    OutboxEntry {
        id: n as i64,
        kind: "test".into(),
        ticket: None,
        message_id: format!("session-{n}-{}@example.test", fastrand::u64(..)),
        mail_from: from.into(),
        recipients: vec![to.into()],
        raw: format!(
            "From: {from}\r\nTo: {to}\r\nSubject: session mail {n}\r\nMessage-ID: <session-{n}-{}@example.test>\r\nDate: Mon, 1 Jan 2024 00:00:00 +0000\r\n\r\nMail {n}.\r\n.A line that starts with a dot.\r\n",
            fastrand::u64(..)
        )
        .into_bytes(),
        attempts: 1,
        created_at: 0,
    }
}

fn transport(transport_toml: &str) -> Transport {
    let text = format!(
        "[store]\npath = \"/nonexistent/t.db\"\n[mailbox]\nkind = \"maildir\"\npath = \"/nonexistent/in\"\n[transport]\n{transport_toml}\n[desk]\nsupport_address = \"desk@example.test\"\n"
    );
    let cfg =
        Config::from_toml(Path::new("sessions.toml"), &text, &Default::default()).expect("config");
    Transport::new(&cfg.transport).expect("transport")
}

/// Accepts TLS with the stack's certificate and relays the plain bytes to `upstream`;
/// counts the connections it took.
async fn tls_proxy(stack: &support::MailStack, upstream: u16) -> (u16, Arc<AtomicUsize>) {
    let dir = &stack.state_dir;
    let certs: Vec<CertificateDer> = CertificateDer::pem_file_iter(dir.join("server.pem"))
        .expect("server.pem")
        .collect::<Result<_, _>>()
        .expect("certificates");
    let key = PrivateKeyDer::from_pem_file(dir.join("server.key")).expect("server.key");
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("protocol versions")
    .with_no_client_auth()
    .with_single_cert(certs, key)
    .expect("server config");
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let accepted = Arc::new(AtomicUsize::new(0));
    let counter = accepted.clone();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            counter.fetch_add(1, Ordering::SeqCst);
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let Ok(mut plain) = TcpStream::connect(("127.0.0.1", upstream)).await else {
                    return;
                };
                let _ = tokio::io::copy_bidirectional(&mut tls, &mut plain).await;
            });
        }
    });
    (port, accepted)
}

#[tokio::test(flavor = "multi_thread")]
async fn implicit_tls_sessions_deliver_and_are_reused() {
    let stack = support::mail_stack();
    let (port, accepted) = tls_proxy(stack, stack.smtp_port).await;
    let transport = transport(&format!(
        "kind = \"smtp\"\nhost = \"localhost\"\nport = {port}\ntls = \"implicit\"\ntls_ca_file = \"{}\"\ntimeout = 10",
        stack.ca_file.display()
    ));
    let to = support::unique_user("sessions-tls");
    for n in 0..5 {
        transport
            .send(&entry("desk@example.test", &to, n))
            .await
            .unwrap_or_else(|e| panic!("mail {n} over implicit TLS: {e}"));
    }
    let inbox = support::imap_wait_for(stack, &to, |m| m.len() == 5, Duration::from_secs(30))
        .await
        .expect("five mails delivered");
    assert!(
        inbox
            .iter()
            .any(|m| String::from_utf8_lossy(m).contains("\r\n.A line that starts with a dot.\r\n")),
        "dot-stuffing undone by the server"
    );
    assert_eq!(
        accepted.load(Ordering::SeqCst),
        1,
        "one TLS session carried the five mails"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_session_the_server_dropped_is_replaced() {
    let stack = support::mail_stack();
    // A plain relay that cuts every connection after its first mail's reply.
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let accepted = Arc::new(AtomicUsize::new(0));
    let counter = accepted.clone();
    let upstream = stack.smtp_port;
    tokio::spawn(async move {
        while let Ok((mut client, _)) = listener.accept().await {
            counter.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                let Ok(mut server) = TcpStream::connect(("127.0.0.1", upstream)).await else {
                    return;
                };
                // Long enough for one mail, then both sides are closed.
                let _ = tokio::time::timeout(
                    Duration::from_millis(1500),
                    tokio::io::copy_bidirectional(&mut client, &mut server),
                )
                .await;
            });
        }
    });
    let transport = transport(&format!(
        "kind = \"smtp\"\nhost = \"127.0.0.1\"\nport = {port}\ntls = \"none\"\ntimeout = 10"
    ));
    let to = support::unique_user("sessions-drop");
    transport
        .send(&entry("desk@example.test", &to, 0))
        .await
        .expect("first mail");
    tokio::time::sleep(Duration::from_millis(2000)).await;
    transport
        .send(&entry("desk@example.test", &to, 1))
        .await
        .expect("second mail, on a new session");
    support::imap_wait_for(stack, &to, |m| m.len() == 2, Duration::from_secs(30))
        .await
        .expect("both delivered");
    assert_eq!(accepted.load(Ordering::SeqCst), 2);
}
