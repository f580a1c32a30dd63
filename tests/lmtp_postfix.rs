//! LMTP push delivery through the private Postfix of the test mail stack: Postfix's
//! `transport_maps` route desk addresses (`tests/support/mailstack.sh`) to the real
//! `ticketpost run` listening over TCP or a Unix socket, and the acknowledgement goes
//! back out through Postfix into the requester's Dovecot INBOX.
//!
//! - a request sent by SMTP becomes a ticket and its acknowledgement arrives;
//! - a desk address ticketpost does not serve gets 550, and Postfix bounces it;
//! - kill -9 of the service during a burst of 300 requests, and a restart: every
//!   request is exactly one ticket with one acknowledgement (Postfix delivers again
//!   what was not answered 250; the identity index drops what was).
//!
//! Latency is measured by the benchmark (`TP_BENCH_PHASES=lmtp-latency cargo bench
//! --bench ingest`), not here.

mod support;

#[path = "support/running.rs"]
mod running;

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use running::{Running, count};
use support::{DeskRoute, MailStack};

const WAIT: Duration = Duration::from_secs(120);

/// `ticketpost run` listening where `route` sends, sending through the stack's Postfix.
struct Desk {
    _dir: tempfile::TempDir,
    support: String,
    db: PathBuf,
    service: Running,
}

impl Desk {
    fn start(stack: &MailStack, route: &DeskRoute, tag: &str) -> Desk {
        let dir = tempfile::tempdir().expect("temp dir");
        let support = route.address(tag);
        let db = dir.path().join("ticketpost.db");
        let config = dir.path().join("ticketpost.toml");
        let socket_mode = if route.listen.starts_with("unix:") {
            // Postfix's lmtp client runs as the postfix user.
            "socket_mode = \"0666\""
        } else {
            ""
        };
        std::fs::write(
            &config,
            format!(
                r#"[store]
path = "{db}"
[mailbox]
kind = "lmtp"
listen = "{listen}"
{socket_mode}
[transport]
kind = "smtp"
host = "127.0.0.1"
port = {smtp}
tls = "none"
timeout = 10
[desk]
support_address = "{support}"
support_name = "Example Support"
[limits]
acknowledgements_per_sender_per_hour = 100000
"#,
                db = db.display(),
                listen = route.listen,
                smtp = stack.smtp_port,
            ),
        )
        .expect("write the config");
        let mut service = Running::new(&config, &dir.path().join("service.log"));
        service.start();
        service.wait_started(WAIT);
        Desk {
            _dir: dir,
            support,
            db,
            service,
        }
    }

    fn tickets(&self) -> i64 {
        count(&self.db, "SELECT count(*) FROM tickets")
    }
}

fn request(from: &str, to: &str, id: &str, subject: &str) -> Vec<u8> {
    format!(
        "From: Requester <{from}>\nTo: Example Support <{to}>\nSubject: {subject}\nMessage-ID: <{id}>\nDate: Thu, 03 Dec 2026 10:00:00 +0000\n\nHello, {subject} since this morning.\n"
    )
    .into_bytes()
}

/// The value of header `name` (first occurrence, unfolded), if any.
fn header(raw: &[u8], name: &str) -> Option<String> {
    let text = String::from_utf8_lossy(raw);
    let mut value: Option<String> = None;
    for line in text.split("\r\n").flat_map(|l| l.split('\n')) {
        if line.is_empty() {
            break;
        }
        if let Some(v) = value.as_mut() {
            if line.starts_with([' ', '\t']) {
                v.push_str(line.trim());
                continue;
            }
            break;
        }
        if let Some((n, v)) = line.split_once(':')
            && n.eq_ignore_ascii_case(name)
        {
            value = Some(v.trim().to_string());
        }
    }
    value
}

fn ids(value: &str) -> Vec<String> {
    value
        .split(['<', '>', ' ', ','])
        .filter(|s| s.contains('@'))
        .map(str::to_string)
        .collect()
}

/// The acknowledgements in `user`'s INBOX: request Message-ID → the distinct
/// Message-IDs of the acknowledgements answering it.
async fn acks_by_request(stack: &MailStack, user: &str) -> HashMap<String, HashSet<String>> {
    let mut acks: HashMap<String, HashSet<String>> = HashMap::new();
    for raw in support::imap_fetch_all(stack, user)
        .await
        .unwrap_or_default()
    {
        let subject = header(&raw, "Subject").unwrap_or_default();
        if !subject.starts_with("[TP-") {
            continue;
        }
        let own = header(&raw, "Message-ID").unwrap_or_default();
        for id in ids(&header(&raw, "In-Reply-To").unwrap_or_default()) {
            acks.entry(id).or_default().insert(own.clone());
        }
    }
    acks
}

async fn one_request_becomes_a_ticket_and_its_ack_arrives(unix: bool) {
    let stack = support::mail_stack();
    let route = stack.desk_lmtp_route(unix).expect("a free LMTP route");
    let desk = Desk::start(stack, &route, "e2e");
    let requester = support::unique_user("lmtp-req");
    let id = format!("lmtp-e2e.{}@outside.test", fastrand::u64(..));
    let raw = request(&requester, &desk.support, &id, "the VPN drops every minute");
    let sent = Instant::now();
    support::smtp_send(stack, &requester, &[&desk.support], &raw)
        .await
        .expect("SMTP submission to Postfix");
    let inbox = support::imap_wait_for(stack, &requester, |m| !m.is_empty(), WAIT)
        .await
        .expect("the acknowledgement in the requester's INBOX");
    println!(
        "over {}: acknowledgement in the requester's INBOX {:.0} ms after SMTP accept",
        if unix { "a Unix socket" } else { "TCP" },
        sent.elapsed().as_secs_f64() * 1000.0
    );
    let ack = &inbox[0];
    let subject = header(ack, "Subject").unwrap_or_default();
    assert!(subject.starts_with("[TP-1]"), "{subject}");
    assert_eq!(
        ids(&header(ack, "In-Reply-To").unwrap_or_default()),
        std::slice::from_ref(&id)
    );
    assert_eq!(desk.tickets(), 1);
    let store = running::read_store(&desk.db).expect("store");
    let row: i64 = store
        .query_row("SELECT id FROM messages", [], |r| r.get(0))
        .expect("the request is stored");
    let stored = ticketpost::store::messages::raw_of(&store, row)
        .expect("readable")
        .expect("the request is stored");
    let text = String::from_utf8_lossy(&stored);
    assert!(
        text.starts_with(&format!("Return-Path: <{requester}>\r\n")),
        "the envelope sender is kept: {text}"
    );
    let log = std::fs::read_to_string(stack.state_dir.join("postfix.log")).unwrap_or_default();
    // `relay=localhost[/…/desk-1.sock]` or `relay=127.0.0.1[127.0.0.1]:PORT`.
    let via = match route.listen.strip_prefix("unix:") {
        Some(path) => format!("[{path}]"),
        None => format!("]:{}", route.listen.rsplit(':').next().unwrap_or("")),
    };
    assert!(
        log.lines().any(|l| l.contains(&desk.support)
            && l.contains(&via)
            && l.contains("status=sent (250 2.0.0")),
        "Postfix delivered over LMTP to ticketpost ({via})\n{}",
        stack.logs()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_request_through_postfix_over_tcp_becomes_a_ticket_and_its_ack_arrives() {
    one_request_becomes_a_ticket_and_its_ack_arrives(false).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_request_through_postfix_over_a_unix_socket_becomes_a_ticket_and_its_ack_arrives() {
    one_request_becomes_a_ticket_and_its_ack_arrives(true).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn postfix_bounces_a_desk_address_ticketpost_does_not_serve() {
    let stack = support::mail_stack();
    let route = stack.desk_lmtp_route(false).expect("a free LMTP route");
    let desk = Desk::start(stack, &route, "served");
    let requester = support::unique_user("lmtp-bounce");
    let unserved = route.address("unserved");
    let raw = request(
        &requester,
        &unserved,
        "unserved.1@outside.test",
        "who reads this",
    );
    support::smtp_send(stack, &requester, &[&unserved], &raw)
        .await
        .expect("Postfix takes it");
    let inbox = support::imap_wait_for(stack, &requester, |m| !m.is_empty(), WAIT)
        .await
        .expect("a bounce in the sender's INBOX");
    let bounce = String::from_utf8_lossy(&inbox[0]);
    assert!(
        bounce.contains("550 5.1.1") && bounce.contains(&unserved),
        "the bounce quotes ticketpost's 550: {bounce}"
    );
    assert_eq!(desk.tickets(), 0);
}

/// Sends `requests` (requester, Message-ID) through Postfix, 8 at a time.
async fn send_all(stack: &'static MailStack, support: String, requests: Vec<(String, String)>) {
    use futures::StreamExt;
    let results: Vec<anyhow::Result<()>> = futures::stream::iter(requests)
        .map(|(from, id)| {
            let support = support.clone();
            async move {
                let raw = request(&from, &support, &id, &format!("burst {id}"));
                support::smtp_send(stack, &from, &[&support], &raw).await
            }
        })
        .buffer_unordered(8)
        .collect()
        .await;
    let failed: Vec<String> = results
        .into_iter()
        .filter_map(|r| r.err().map(|e| format!("{e:#}")))
        .collect();
    assert!(failed.is_empty(), "SMTP submissions failed: {failed:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn kill_9_during_an_lmtp_burst_loses_nothing_and_repeats_nothing() {
    const REQUESTS: usize = 300;
    const REQUESTERS: usize = 20;
    let stack = support::mail_stack();
    let route = stack.desk_lmtp_route(false).expect("a free LMTP route");
    let mut desk = Desk::start(stack, &route, "burst");
    let requesters: Vec<String> = (0..REQUESTERS)
        .map(|_| support::unique_user("lmtp-burst"))
        .collect();
    let run = fastrand::u64(..);
    let requests: Vec<(String, String)> = (0..REQUESTS)
        .map(|i| {
            (
                requesters[i % REQUESTERS].clone(),
                format!("burst-{i}.{run}@outside.test"),
            )
        })
        .collect();
    let started = Instant::now();
    let support_address = desk.support.clone();
    let sending = tokio::spawn(send_all(stack, support_address, requests));

    // Two kills while the burst is being stored, each followed by a restart.
    let mut at_kill = Vec::new();
    for (threshold, down_for) in [(60, 300), (180, 1500)] {
        let deadline = Instant::now() + WAIT;
        while desk.tickets() < threshold && Instant::now() < deadline {
            desk.service.assert_running("the burst");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        desk.service.kill9();
        at_kill.push(desk.tickets());
        tokio::time::sleep(Duration::from_millis(down_for)).await;
        desk.service.start();
        desk.service.wait_started(WAIT);
        let _ = stack.postfix_flush();
    }
    sending.await.expect("the sender task");
    assert!(
        at_kill.iter().all(|&n| n < REQUESTS as i64),
        "the kills came while requests were still arriving: {at_kill:?}"
    );

    // Postfix delivers again what was not answered 250 (flushed to save its backoff).
    let deadline = Instant::now() + WAIT;
    while desk.tickets() < REQUESTS as i64 && Instant::now() < deadline {
        let _ = stack.postfix_flush();
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let stored_s = started.elapsed().as_secs_f64();
    let tickets = desk.tickets();
    let messages = count(&desk.db, "SELECT count(*) FROM messages");
    let distinct = count(&desk.db, "SELECT count(DISTINCT message_id) FROM messages");
    let derived = count(
        &desk.db,
        "SELECT count(*) FROM messages WHERE identity LIKE '%#%'",
    );
    assert_eq!(
        tickets,
        REQUESTS as i64,
        "every request is a ticket\n{}",
        desk.service.log_tail(40)
    );
    assert_eq!(
        (messages, distinct, derived),
        (REQUESTS as i64, REQUESTS as i64, 0),
        "each stored once"
    );
    let one_ticket_each = count(
        &desk.db,
        "SELECT count(*) FROM (SELECT message_id FROM messages GROUP BY message_id HAVING count(DISTINCT ticket_id) = 1)",
    );
    assert_eq!(one_ticket_each, REQUESTS as i64);

    // Every request has its acknowledgement (at most one per request, by Message-ID).
    let deadline = Instant::now() + WAIT;
    let (mut acked, mut repeated) = (0, 0);
    while Instant::now() < deadline {
        acked = 0;
        repeated = 0;
        for r in &requesters {
            for ids in acks_by_request(stack, r).await.values() {
                acked += 1;
                repeated += usize::from(ids.len() > 1);
            }
        }
        if acked >= REQUESTS {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let log = std::fs::read_to_string(stack.state_dir.join("postfix.log")).unwrap_or_default();
    let deferred = log
        .lines()
        .filter(|l| l.contains(&desk.support) && l.contains("status=deferred"))
        .count();
    println!(
        "kill -9 twice during {REQUESTS} requests (tickets at the kills: {at_kill:?}): all stored after {stored_s:.1} s; Postfix deferred {deferred} delivery attempt(s) and delivered them again; {acked} requests acknowledged, {repeated} with more than one acknowledgement Message-ID"
    );
    assert_eq!(
        acked,
        REQUESTS,
        "every request acknowledged\n{}",
        desk.service.log_tail(40)
    );
    assert_eq!(repeated, 0, "no request acknowledged twice");
    assert!(deferred > 0, "Postfix had to deliver again after the kills");
    assert!(desk.service.terminate(WAIT).success());
}
