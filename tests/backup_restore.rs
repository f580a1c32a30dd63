//! `ticketpost backup` and `ticketpost restore`, as the README promises them:
//!
//! - backups taken while `ticketpost run` keeps storing mail that arrives all the
//!   time are consistent copies: each restores into a fresh place, passes
//!   `ticketpost check` and SQLite's integrity and foreign-key checks, holds the
//!   ticket count the backup reported, agrees ticket by ticket with the live store,
//!   and the restored desk runs on: fed the whole stream again, it stores exactly what
//!   the backup lacked (no ticket twice, one acknowledgement per ticket);
//! - a backup of a store of every older schema version (built here by applying only
//!   the first numbered migrations, with a ticket, its request, its timeline and a
//!   sent mail in it) is restored by today's binary, migrated to the current version,
//!   and works: old rows are shown, replies to the old request and to our old mail
//!   thread onto the old ticket, and new requests get tickets and acknowledgements.

#[path = "support/embedded.rs"]
mod embedded;
#[path = "support/running.rs"]
mod running;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use embedded::{Desk, request};
use running::{Running, count, read_store};

const WAIT: Duration = Duration::from_secs(60);

/// A desk on the embedded default with `extra` appended (`{root}` is the temp dir).
fn desk(extra: &str) -> Desk {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("ticketpost.toml");
    let text = format!(
        r#"
[store]
path = "{{root}}/var/ticketpost.db"
[mailbox]
kind = "maildir"
path = "{{root}}/var/inbox"
batch_size = 10
poll_interval = 0.1
[transport]
kind = "file"
path = "{{root}}/var/outbox"
[desk]
support_address = "support@example.test"
support_name = "Example Support"
agents = ["Ann Lee <ann@example.test>"]
{extra}
"#
    );
    std::fs::write(
        &config,
        text.replace("{root}", &dir.path().display().to_string()),
    )
    .expect("write config");
    Desk { dir, config }
}

fn db(desk: &Desk) -> PathBuf {
    desk.root().join("var/ticketpost.db")
}

/// Runs a ticketpost command that must succeed; its stdout.
fn ok(desk: &Desk, args: &[&str]) -> String {
    let out = desk.ticketpost(args, None);
    assert!(
        out.status.success(),
        "ticketpost {args:?} failed ({}): {}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The number before `what` in a command's summary ("12 ticket(s)").
fn figure(text: &str, what: &str) -> i64 {
    let end = text
        .find(what)
        .unwrap_or_else(|| panic!("no {what:?} in {text:?}"));
    text[..end]
        .trim_end()
        .rsplit(|c: char| !c.is_ascii_digit())
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no number before {what:?} in {text:?}"))
}

/// SQLite's integrity check and foreign-key check of a store, and its schema version.
fn sqlite_checks(db: &Path) -> (String, i64, usize) {
    let c = read_store(db).expect("the store");
    let integrity: String = c
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .expect("integrity_check");
    let fk_problems = c
        .prepare("PRAGMA foreign_key_check")
        .expect("foreign_key_check")
        .query_map([], |_| Ok(()))
        .expect("foreign_key_check rows")
        .count() as i64;
    let version: i64 = c
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .expect("user_version");
    (integrity, fk_problems, version as usize)
}

/// Ticket id → (requester, subject) and message identity → ticket, from a store.
type Tickets = BTreeMap<i64, (String, String)>;
type Messages = BTreeMap<String, Option<i64>>;

fn contents(db: &Path) -> (Tickets, Messages) {
    let c = read_store(db).expect("the store");
    let tickets = c
        .prepare("SELECT id, requester, subject FROM tickets")
        .expect("prepare")
        .query_map([], |r| Ok((r.get(0)?, (r.get(1)?, r.get(2)?))))
        .expect("tickets")
        .collect::<rusqlite::Result<_>>()
        .expect("ticket rows");
    let messages = c
        .prepare("SELECT identity, ticket_id FROM messages")
        .expect("prepare")
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .expect("messages")
        .collect::<rusqlite::Result<_>>()
        .expect("message rows");
    (tickets, messages)
}

/// The stream: requests from distinct requesters, and every fourth one followed
/// (a dozen mails later) by its requester's reply, threaded by References only.
fn stream(requests: usize) -> Vec<(String, String)> {
    let mut mail = Vec::new();
    for i in 0..requests {
        mail.push((
            format!("{:05}.req", i * 2),
            request(
                &format!("req-{i}@req.test"),
                &format!("User {i} <user{i}@req.test>"),
                &format!("Request {i}: the projector flickers"),
                "The projector in room 2 flickers every few seconds.",
            ),
        ));
        if i >= 12 && (i - 12) % 4 == 0 {
            let j = i - 12;
            mail.push((
                format!("{:05}.reply", i * 2 + 1),
                format!(
                    "From: User {j} <user{j}@req.test>\nTo: support@example.test\nSubject: more\nDate: Wed, 25 Nov 2026 10:00:00 +0000\nMessage-ID: <reply-{j}@req.test>\nReferences: <req-{j}@req.test>\nContent-Type: text/plain; charset=utf-8\n\nIt is an Epson EB-X41.\n"
                ),
            ));
        }
    }
    mail
}

#[test]
fn backups_taken_while_mail_arrives_restore_into_a_working_desk() {
    const REQUESTS: usize = 240;
    const BACKUPS: usize = 3;
    let mail = stream(REQUESTS);
    let total = mail.len();
    let source = desk("");
    let source_db = db(&source);
    let mut svc = Running::new(&source.config, &source.root().join("service.log"));
    svc.start();
    svc.wait_started(WAIT);

    // The mail arrives over about 8 s while the backups are taken.
    let delivered = Arc::new(AtomicUsize::new(0));
    let feeder = {
        let inbox = source.root().join("var/inbox");
        let delivered = delivered.clone();
        let mail = mail.clone();
        for sub in ["tmp", "new", "cur"] {
            std::fs::create_dir_all(inbox.join(sub)).expect("the inbox Maildir");
        }
        std::thread::spawn(move || {
            for (name, raw) in mail {
                let tmp = inbox.join("tmp").join(&name);
                std::fs::write(&tmp, raw.replace('\n', "\r\n")).expect("write into tmp/");
                std::fs::rename(&tmp, inbox.join("new").join(&name)).expect("deliver into new/");
                delivered.fetch_add(1, Ordering::SeqCst);
                std::thread::sleep(Duration::from_millis(25));
            }
        })
    };
    let mut backups: Vec<(PathBuf, i64, i64, usize)> = Vec::new();
    for k in 1..=BACKUPS {
        let due = total * k / (BACKUPS + 1);
        svc.wait_for("mail delivered and some stored", WAIT, || {
            let n = delivered.load(Ordering::SeqCst);
            let stored = count(&source_db, "SELECT count(*) FROM tickets");
            if n >= due && stored > 0 {
                Ok(())
            } else {
                Err((n, stored))
            }
        });
        let file = source.root().join(format!("backups/during-{k}.db"));
        let said = ok(&source, &["backup", file.to_str().expect("utf-8 path")]);
        println!(
            "backup {k}, with {} of {total} mails delivered: {}",
            delivered.load(Ordering::SeqCst),
            said.trim()
        );
        backups.push((
            file,
            figure(&said, "ticket(s)"),
            figure(&said, "message(s)"),
            delivered.load(Ordering::SeqCst),
        ));
    }
    feeder.join().expect("feeder");
    svc.wait_for("every mail stored and sent", WAIT, || {
        let stored = count(&source_db, "SELECT count(*) FROM messages");
        let unsent = count(
            &source_db,
            "SELECT count(*) FROM outbox WHERE state <> 'sent'",
        );
        if stored == total as i64 && unsent == 0 {
            Ok(())
        } else {
            Err((stored, unsent))
        }
    });
    let status = svc.terminate(Duration::from_secs(30));
    assert!(
        status.success(),
        "SIGTERM exit: {status}\n{}",
        svc.log_tail(40)
    );
    let (live_tickets, live_messages) = contents(&source_db);
    assert_eq!(live_tickets.len(), REQUESTS);
    assert!(
        backups
            .iter()
            .any(|(_, t, _, _)| *t > 0 && (*t as usize) < REQUESTS),
        "a backup was taken while tickets were still being made: {backups:?}"
    );

    for (k, (file, tickets, messages, _)) in (1..).zip(backups.iter()) {
        let restored = desk("");
        let said = ok(&restored, &["restore", file.to_str().expect("utf-8 path")]);
        assert_eq!(figure(&said, "ticket(s)"), *tickets, "{said}");
        assert_eq!(figure(&said, "message(s)"), *messages, "{said}");
        let check = ok(&restored, &["check"]);
        assert!(
            check.contains(&format!(
                "schema version {}",
                ticketpost::store::schema::latest_version()
            )) && check.contains(&format!("{tickets} ticket(s)"))
                && !check.contains("PROBLEM"),
            "{check}"
        );
        let rdb = db(&restored);
        assert_eq!(
            sqlite_checks(&rdb),
            (
                "ok".to_string(),
                0,
                ticketpost::store::schema::latest_version()
            )
        );
        assert_eq!(restored.tickets().len() as i64, *tickets);
        // The copy is the live store as it was: every ticket and message in it is in
        // the live store, unchanged and on the same ticket.
        let (copy_tickets, copy_messages) = contents(&rdb);
        for (id, t) in &copy_tickets {
            assert_eq!(live_tickets.get(id), Some(t), "backup {k}: TP-{id}");
        }
        for (identity, ticket) in &copy_messages {
            assert_eq!(
                live_messages.get(identity),
                Some(ticket),
                "backup {k}: message {identity}"
            );
        }
        // Every ticket in the copy has its request (the ticket and its first message
        // were committed together).
        let c = read_store(&rdb).expect("restored store");
        let bare: i64 = c
            .query_row(
                "SELECT count(*) FROM tickets t WHERE NOT EXISTS (SELECT 1 FROM messages m WHERE m.ticket_id = t.id)",
                [],
                |r| r.get(0),
            )
            .expect("tickets without messages");
        assert_eq!(bare, 0, "backup {k}: tickets without their request");
        drop(c);

        // The restored desk runs on: the whole stream again, and it stores exactly
        // what the backup lacked.
        for (name, raw) in &mail {
            restored.deliver(name, raw);
        }
        let out = restored.run_once();
        assert!(
            out.contains(&format!("{} duplicate(s)", copy_messages.len())),
            "backup {k}: {out}"
        );
        let (after_tickets, after_messages) = contents(&rdb);
        assert_eq!(after_tickets, live_tickets, "backup {k}: the same tickets");
        assert_eq!(
            after_messages, live_messages,
            "backup {k}: the same messages"
        );
        let acks = count(
            &rdb,
            "SELECT count(*) FROM outbox WHERE kind = 'acknowledgement'",
        );
        let acked = count(
            &rdb,
            "SELECT count(DISTINCT ticket_id) FROM outbox WHERE kind = 'acknowledgement'",
        );
        assert_eq!(
            (acks, acked),
            (REQUESTS as i64, REQUESTS as i64),
            "one acknowledgement per ticket"
        );
        assert_eq!(
            count(&rdb, "SELECT count(*) FROM outbox WHERE state <> 'sent'"),
            0
        );
        println!(
            "backup {k}: restored {tickets} ticket(s), ran on to {} ticket(s): {}",
            after_tickets.len(),
            out.trim()
        );
    }
}

/// A store at schema `version` with one ticket: its request, its id in the threading
/// table, a timeline entry and an acknowledgement sent (columns every version has).
fn old_store(path: &Path, version: usize) {
    let mut c = rusqlite::Connection::open(path).expect("create the old store");
    ticketpost::store::schema::migrations()
        .to_version(&mut c, version)
        .expect("migrate to the old version");
    let raw = request(
        "old-1@req.test",
        "Jane <jane@req.test>",
        "Old request: the plotter",
        "The plotter prints only half of each page.",
    )
    .replace('\n', "\r\n");
    c.execute_batch(
        "INSERT INTO tickets (id, status, priority, requester, requester_name, subject, created_at, updated_at)
         VALUES (1, 'open', 'P3', 'jane@req.test', 'Jane', 'Old request: the plotter', 1764000000, 1764000000);
         INSERT INTO message_ids (message_id, ticket_id, outgoing) VALUES ('old-1@req.test', 1, 0);
         INSERT INTO message_ids (message_id, ticket_id, outgoing) VALUES ('tp.1.acknowledgement.old@example.test', 1, 1);
         INSERT INTO events (ticket_id, at, actor, kind, detail) VALUES (1, 1764000000, 'ticketpost', 'created', 'ticket opened: Old request: the plotter');
         INSERT INTO outbox (ticket_id, kind, message_id, mail_from, recipients_json, subject, raw, state, attempts, next_attempt_at, created_at, sent_at)
         VALUES (1, 'acknowledgement', 'tp.1.acknowledgement.old@example.test', 'support@example.test', '[\"jane@req.test\"]', '[TP-1] Old request: the plotter', X'00', 'sent', 1, 1764000000, 1764000000, 1764000001);",
    )
    .expect("old rows");
    c.execute(
        "INSERT INTO messages (id, ticket_id, identity, message_id, content_hash, kind, from_address, from_name,
             to_json, cc_json, subject, sent_date, references_json, text_body, attachments_json, problems_json, raw, received_at)
         VALUES (1, 1, 'old-1@req.test', 'old-1@req.test', 'hash-old-1', 'request', 'jane@req.test', 'Jane',
             '[\"support@example.test\"]', '[]', 'Old request: the plotter', 1764000000, '[]',
             'The plotter prints only half of each page.', '[]', '[]', ?1, 1764000000)",
        [raw.as_bytes()],
    )
    .expect("old message");
    let v: i64 = c
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .expect("user_version");
    assert_eq!(v as usize, version);
}

#[test]
fn a_backup_of_every_older_schema_restores_migrated_and_works() {
    let latest = ticketpost::store::schema::latest_version();
    assert!(latest >= 2, "there is an older schema to test");
    for version in 1..latest {
        let started = Instant::now();
        // The old installation: its store, backed up by today's binary.
        let old = desk("");
        std::fs::create_dir_all(old.root().join("var")).expect("var/");
        old_store(&db(&old), version);
        let file = old.root().join("old-backup.db");
        let said = ok(&old, &["backup", file.to_str().expect("utf-8 path")]);
        assert!(
            said.contains(&format!("schema version {version}"))
                && said.contains("1 ticket(s), 1 message(s)"),
            "v{version}: {said}"
        );

        // Restored into a fresh desk: migrated to today's schema.
        let new = desk("");
        let said = ok(&new, &["restore", file.to_str().expect("utf-8 path")]);
        assert!(
            said.contains(&format!("schema version {latest}")) && said.contains("1 ticket(s)"),
            "v{version}: {said}"
        );
        let ndb = db(&new);
        assert_eq!(
            sqlite_checks(&ndb),
            ("ok".to_string(), 0, latest),
            "v{version}"
        );
        let check = ok(&new, &["check"]);
        assert!(
            check.contains(&format!("schema version {latest}, 1 ticket(s)"))
                && !check.contains("PROBLEM"),
            "v{version}: {check}"
        );
        let t = new.show("TP-1");
        assert_eq!(t["subject"], "Old request: the plotter", "v{version}");
        assert_eq!(
            t["messages"].as_array().map(Vec::len),
            Some(1),
            "v{version}"
        );
        assert!(
            t["timeline"].to_string().contains("ticket opened"),
            "v{version}: {}",
            t["timeline"]
        );

        // It works: a reply to the old request and one to our old acknowledgement
        // (References only, no token) join the old ticket; a new request is a new
        // ticket, acknowledged with an id signed by the key the migration made.
        new.deliver(
            "1.reply",
            "From: Jane <jane@req.test>\nTo: support@example.test\nSubject: plotter\nDate: Wed, 25 Nov 2026 10:00:00 +0000\nMessage-ID: <old-2@req.test>\nReferences: <old-1@req.test>\nContent-Type: text/plain; charset=utf-8\n\nIt is an HP DesignJet.\n",
        );
        new.deliver(
            "2.reply",
            "From: Jane <jane@req.test>\nTo: support@example.test\nSubject: Re: plotter\nDate: Wed, 25 Nov 2026 10:05:00 +0000\nMessage-ID: <old-3@req.test>\nIn-Reply-To: <tp.1.acknowledgement.old@example.test>\nReferences: <tp.1.acknowledgement.old@example.test>\nContent-Type: text/plain; charset=utf-8\n\nStill broken.\n",
        );
        new.deliver(
            "3.req",
            &request(
                "new-1@req.test",
                "Omar <omar@req.test>",
                "New request: the badge reader",
                "The badge reader at the door stays red.",
            ),
        );
        let out = new.run_once();
        assert!(
            out.contains("1 new ticket(s), 2 follow-up(s)"),
            "v{version}: {out}"
        );
        let tickets = new.tickets();
        assert_eq!(tickets.len(), 2, "v{version}: {tickets:#?}");
        let old_ids: Vec<String> = new.show("TP-1")["messages"]
            .as_array()
            .expect("messages")
            .iter()
            .map(|m| m["message_id"].as_str().unwrap_or("").to_string())
            .collect();
        assert_eq!(
            old_ids,
            ["old-1@req.test", "old-2@req.test", "old-3@req.test"],
            "v{version}"
        );
        let acks = new.outbox();
        assert_eq!(acks.len(), 1, "v{version}: one acknowledgement, for TP-2");
        assert!(
            embedded::header(&acks[0], "Subject").is_some_and(|s| s.contains("[TP-2]")),
            "v{version}: {}",
            acks[0]
        );
        assert_eq!(
            count(&ndb, "SELECT count(*) FROM sla_clocks WHERE ticket_id = 2"),
            2,
            "v{version}: the new ticket has its SLA clocks"
        );
        assert_eq!(
            count(
                &ndb,
                "SELECT count(*) FROM settings WHERE key = 'staff_key' AND length(value) = 32"
            ),
            1,
            "v{version}: the store has its signing key"
        );
        println!(
            "schema v{version} -> v{latest}: backed up, restored, migrated and run in {:.1} s",
            started.elapsed().as_secs_f64()
        );
    }
}
