//! README claims that had no test of their own, checked on the real binary on the
//! embedded default (Maildir in, `.eml` files out, a real SQLite file):
//!
//! - **Threading** ("an In-Reply-To/References id we have seen or sent"): a reply whose
//!   only link to its ticket is an id in References (no In-Reply-To we know, no token
//!   in the subject) joins that ticket, and not another one; and an id we only *saw*
//!   (the requester's own request, a participant's message) threads as well as one we
//!   sent.
//! - **Import** ("Running it again changes nothing"): importing the same Maildir a
//!   second time (new requests, follow-ups, mail without a Message-ID, an auto-reply and
//!   an unparseable file among them, first with `--acknowledge`) adds no ticket, no
//!   message, no timeline event and no outgoing mail, and leaves the Maildir as it was.

#[path = "support/embedded.rs"]
mod embedded;

use std::collections::BTreeMap;
use std::path::Path;

use embedded::{Desk, header, request};
use serde_json::Value;

/// A plain-text mail with the threading headers given (none when empty).
fn mail(
    id: &str,
    from: &str,
    cc: Option<&str>,
    subject: &str,
    in_reply_to: Option<&str>,
    references: &[&str],
    body: &str,
) -> String {
    let mut head = format!("From: {from}\nTo: support@example.test\n");
    if let Some(cc) = cc {
        head.push_str(&format!("Cc: {cc}\n"));
    }
    head.push_str(&format!(
        "Subject: {subject}\nDate: Wed, 25 Nov 2026 10:00:00 +0000\nMessage-ID: <{id}>\n"
    ));
    if let Some(irt) = in_reply_to {
        head.push_str(&format!("In-Reply-To: <{irt}>\n"));
    }
    if !references.is_empty() {
        let refs: Vec<String> = references.iter().map(|r| format!("<{r}>")).collect();
        head.push_str(&format!("References: {}\n", refs.join(" ")));
    }
    format!("{head}Content-Type: text/plain; charset=utf-8\n\n{body}\n")
}

/// The Message-IDs of the messages stored on a ticket, in order.
fn message_ids(desk: &Desk, token: &str) -> Vec<String> {
    desk.show(token)["messages"]
        .as_array()
        .expect("messages of the ticket")
        .iter()
        .map(|m| m["message_id"].as_str().unwrap_or("").to_string())
        .collect()
}

/// The Message-ID of the first mail of `kind` queued on a ticket.
fn sent_id(desk: &Desk, token: &str, kind: &str) -> String {
    let t = desk.show(token);
    t["mails"]
        .as_array()
        .expect("mails of the ticket")
        .iter()
        .find(|m| m["kind"] == kind)
        .and_then(|m| m["message_id"].as_str())
        .unwrap_or_else(|| panic!("no {kind} on {token}: {:#}", t["mails"]))
        .to_string()
}

#[test]
fn a_reply_threads_by_an_id_found_only_in_references() {
    let desk = Desk::new(50);
    for (n, (id, from, subject)) in [
        (
            "jane-1@home.test",
            "Jane <jane@home.test>",
            "VPN drops every hour",
        ),
        (
            "omar-1@home.test",
            "Omar <omar@home.test>",
            "Printer out of toner",
        ),
        (
            "lena-1@home.test",
            "Lena <lena@home.test>",
            "Cannot log in to ERP",
        ),
    ]
    .iter()
    .enumerate()
    {
        desk.deliver(
            &format!("{n}.req"),
            &request(id, from, subject, "Details inside."),
        );
    }
    desk.run_once();
    assert_eq!(desk.tickets().len(), 3);
    let ack_2 = sent_id(&desk, "TP-2", "acknowledgement");

    // Omar answers from a client that writes no In-Reply-To and drops the token: the
    // acknowledgement's id sits in the middle of References, between ids we never saw.
    desk.deliver(
        "3.reply",
        &mail(
            "omar-2@home.test",
            "Omar <omar@home.test>",
            None,
            "Re: toner",
            None,
            &[
                "unknown-root@elsewhere.test",
                &ack_2,
                "unknown-tail@elsewhere.test",
            ],
            "The toner is the HP 26A.",
        ),
    );
    // Lena answers with an In-Reply-To we do not know; only References names her
    // own request (an id we saw, never sent).
    desk.deliver(
        "4.reply",
        &mail(
            "lena-2@home.test",
            "Lena <lena@home.test>",
            None,
            "Re: login",
            Some("lena-draft-77@home.test"),
            &["lena-1@home.test"],
            "It says the password expired.",
        ),
    );
    // The control: the same kind of mail from Omar whose References name only ids we
    // never saw is a new request (subject text and sender alone never thread).
    desk.deliver(
        "5.unrelated",
        &mail(
            "omar-3@home.test",
            "Omar <omar@home.test>",
            None,
            "Re: toner",
            None,
            &["unknown-root@elsewhere.test", "unknown-tail@elsewhere.test"],
            "Also: the scanner is slow.",
        ),
    );
    let out = desk.run_once();

    let tickets = desk.tickets();
    assert_eq!(
        tickets.len(),
        4,
        "one new ticket, the control: {out}\n{tickets:#?}"
    );
    assert_eq!(message_ids(&desk, "TP-4"), ["omar-3@home.test"]);
    assert_eq!(
        message_ids(&desk, "TP-2"),
        ["omar-1@home.test", "omar-2@home.test"],
        "Omar's reply joins his ticket, by the acknowledgement's id in References"
    );
    assert_eq!(
        message_ids(&desk, "TP-3"),
        ["lena-1@home.test", "lena-2@home.test"],
        "Lena's reply joins her ticket, by her own request's id in References"
    );
    assert_eq!(message_ids(&desk, "TP-1"), ["jane-1@home.test"]);
}

#[test]
fn an_id_we_saw_but_did_not_send_threads_the_reply() {
    let desk = Desk::new(50);
    // Jane's request, with Bob in Cc: Bob becomes a participant.
    desk.deliver(
        "1.req",
        &mail(
            "jane-1@home.test",
            "Jane <jane@home.test>",
            Some("Bob <bob@home.test>"),
            "Shared drive is read-only",
            None,
            &[],
            "Since this morning the shared drive S: is read-only for both of us.",
        ),
    );
    desk.deliver(
        "2.req",
        &request(
            "kim-1@home.test",
            "Kim <kim@home.test>",
            "Monitor flickers",
            "The left monitor flickers.",
        ),
    );
    desk.run_once();
    assert_eq!(desk.tickets().len(), 2);
    let t1 = desk.show("TP-1");
    assert!(
        t1["participants"].to_string().contains("bob@home.test"),
        "Bob is a participant: {:#}",
        t1["participants"]
    );

    // Bob writes on the ticket by its token: his message id is now one we saw.
    desk.deliver(
        "3.bob",
        &mail(
            "bob-1@home.test",
            "Bob <bob@home.test>",
            None,
            "Re: [TP-1] Shared drive is read-only",
            Some("jane-1@home.test"),
            &["jane-1@home.test"],
            "Same here, on my laptop too.",
        ),
    );
    desk.run_once();
    assert_eq!(
        message_ids(&desk, "TP-1"),
        ["jane-1@home.test", "bob-1@home.test"]
    );

    // Jane answers Bob's mail (not ours): no token, and the only id she quotes is
    // Bob's, in References.
    desk.deliver(
        "4.jane",
        &mail(
            "jane-2@home.test",
            "Jane <jane@home.test>",
            Some("Bob <bob@home.test>"),
            "Re: Re: drive",
            None,
            &["bob-1@home.test"],
            "Bob, did you restart?",
        ),
    );
    // Bob forwards a thought to the desk, quoting only Jane's original request (an id
    // we saw as the request, never sent), through In-Reply-To and References.
    desk.deliver(
        "5.bob",
        &mail(
            "bob-2@home.test",
            "Bob <bob@home.test>",
            None,
            "drive again",
            Some("jane-1@home.test"),
            &["jane-1@home.test"],
            "Restarting did not help.",
        ),
    );
    let out = desk.run_once();

    assert_eq!(desk.tickets().len(), 2, "no new ticket: {out}");
    assert_eq!(
        message_ids(&desk, "TP-1"),
        [
            "jane-1@home.test",
            "bob-1@home.test",
            "jane-2@home.test",
            "bob-2@home.test"
        ]
    );
    assert_eq!(message_ids(&desk, "TP-2"), ["kim-1@home.test"]);
    let timeline = desk.show("TP-1")["timeline"].to_string();
    assert!(
        !timeline.contains("not on this ticket"),
        "nobody was taken for a stranger: {timeline}"
    );
}

/// What a re-import must leave alone, read from the store directly.
#[derive(Debug, PartialEq, Eq)]
struct Snapshot {
    tickets: i64,
    messages: i64,
    message_ids: i64,
    events: i64,
    outbox: i64,
    quarantined: i64,
    participants: i64,
    sla_clocks: i64,
    /// Ticket id → (status, priority, message count).
    per_ticket: BTreeMap<i64, (String, String, i64)>,
}

fn snapshot(db: &Path) -> Snapshot {
    let c = rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
        .expect("open the store read-only");
    let n = |sql: &str| -> i64 { c.query_row(sql, [], |r| r.get(0)).expect(sql) };
    let mut stmt = c
        .prepare(
            "SELECT t.id, t.status, t.priority, (SELECT count(*) FROM messages m WHERE m.ticket_id = t.id)
             FROM tickets t ORDER BY t.id",
        )
        .expect("prepare per-ticket query");
    let per_ticket = stmt
        .query_map([], |r| Ok((r.get(0)?, (r.get(1)?, r.get(2)?, r.get(3)?))))
        .expect("per-ticket query")
        .collect::<rusqlite::Result<BTreeMap<_, _>>>()
        .expect("per-ticket rows");
    Snapshot {
        tickets: n("SELECT count(*) FROM tickets"),
        messages: n("SELECT count(*) FROM messages"),
        message_ids: n("SELECT count(*) FROM message_ids"),
        events: n("SELECT count(*) FROM events"),
        outbox: n("SELECT count(*) FROM outbox"),
        quarantined: n("SELECT count(*) FROM quarantine"),
        participants: n("SELECT count(*) FROM participants"),
        sla_clocks: n("SELECT count(*) FROM sla_clocks"),
        per_ticket,
    }
}

/// Every file under `dir`, with its bytes.
fn tree(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    for sub in ["cur", "new", "tmp"] {
        if let Ok(entries) = std::fs::read_dir(dir.join(sub)) {
            for e in entries {
                let p = e.expect("dir entry").path();
                out.insert(
                    format!(
                        "{sub}/{}",
                        p.file_name().unwrap_or_default().to_string_lossy()
                    ),
                    std::fs::read(&p).expect("read a Maildir file"),
                );
            }
        }
    }
    out
}

#[test]
fn importing_a_maildir_again_changes_nothing() {
    let desk = Desk::new(50);
    let old = desk.root().join("old-maildir");
    for sub in ["cur", "new", "tmp"] {
        std::fs::create_dir_all(old.join(sub)).expect("make the old Maildir");
    }
    let put = |name: &str, raw: &str| {
        std::fs::write(old.join(name), raw.replace('\n', "\r\n")).expect("write old mail")
    };
    for i in 0..12 {
        put(
            &format!("cur/{:03}.req:2,S", i * 2),
            &request(
                &format!("old-{i}@archive.test"),
                &format!("User {i} <user{i}@archive.test>"),
                &format!("Old request {i}: laptop battery"),
                "The battery drains within an hour.",
            ),
        );
        // Every other request has a reply in its thread (by References only).
        if i % 2 == 0 {
            put(
                &format!("cur/{:03}.reply:2,S", i * 2 + 1),
                &mail(
                    &format!("old-{i}-reply@archive.test"),
                    &format!("User {i} <user{i}@archive.test>"),
                    None,
                    "more",
                    None,
                    &[&format!("old-{i}@archive.test")],
                    "It is a Dell Latitude 5420.",
                ),
            );
        }
    }
    // No Message-ID: identified by its content.
    put(
        "new/100.noid",
        "From: Pat <pat@archive.test>\nTo: support@example.test\nSubject: No id at all\nDate: Wed, 25 Nov 2026 09:00:00 +0000\n\nMy keyboard is missing keys.\n",
    );
    // An auto-reply: kept, never answered.
    put(
        "new/101.auto",
        "From: Away <away@archive.test>\nTo: support@example.test\nSubject: Out of office\nAuto-Submitted: auto-replied\nMessage-ID: <away-1@archive.test>\nDate: Wed, 25 Nov 2026 09:00:00 +0000\n\nI am away.\n",
    );
    // Unparseable: quarantined.
    put("new/102.junk", "\u{0}\u{0}\u{0}");
    let before_tree = tree(&old);

    let import = |ack: bool| -> String {
        let dir = old.to_str().expect("utf-8 path");
        let mut args = vec!["import", "maildir", dir];
        if ack {
            args.push("--acknowledge");
        }
        let out = desk.ticketpost(&args, None);
        assert!(
            out.status.success(),
            "import: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let first = import(true);
    println!("first import: {}", first.trim());
    assert!(first.contains("13 new ticket(s)"), "{first}");
    assert!(first.contains("6 follow-up(s)"), "{first}");
    let db = desk.root().join("var/ticketpost.db");
    // The acknowledgements (and agents' notices) go out with the next run.
    desk.run_once();
    let after_first = snapshot(&db);
    let acks_first = desk.outbox().len();
    let sent_files_first = std::fs::read_dir(desk.root().join("var/outbox"))
        .expect("outbox folder")
        .count();
    assert_eq!(after_first.tickets, 13, "{after_first:#?}");
    assert_eq!(acks_first, 13, "one acknowledgement per new ticket");
    assert!(after_first.outbox > 0);
    let timelines_first: Vec<Value> = (1..=after_first.tickets)
        .map(|n| desk.show(&format!("TP-{n}"))["timeline"].clone())
        .collect();

    // Again, with and without --acknowledge: nothing changes.
    for ack in [true, false] {
        let again = import(ack);
        println!("import again (--acknowledge: {ack}): {}", again.trim());
        assert!(
            again.contains("0 new ticket(s), 0 follow-up(s)") && again.contains("0 mail(s) queued"),
            "{again}"
        );
        desk.run_once();
        assert_eq!(snapshot(&db), after_first, "the store is unchanged");
        assert_eq!(desk.outbox().len(), acks_first, "no new acknowledgement");
        assert_eq!(
            std::fs::read_dir(desk.root().join("var/outbox"))
                .expect("outbox folder")
                .count(),
            sent_files_first,
            "no mail of any kind went out"
        );
    }
    let timelines_again: Vec<Value> = (1..=after_first.tickets)
        .map(|n| desk.show(&format!("TP-{n}"))["timeline"].clone())
        .collect();
    assert_eq!(timelines_again, timelines_first, "every timeline as it was");
    assert_eq!(tree(&old), before_tree, "the Maildir is only read");
    // Nothing of it ever went to the auto-reply's sender.
    let to_away = std::fs::read_dir(desk.root().join("var/outbox"))
        .expect("outbox folder")
        .filter_map(|e| std::fs::read_to_string(e.ok()?.path()).ok())
        .filter(|m| header(m, "To").is_some_and(|t| t.contains("away@archive.test")))
        .count();
    assert_eq!(to_away, 0);
}
