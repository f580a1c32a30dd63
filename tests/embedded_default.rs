//! End to end on the embedded default (Maildir in, .eml files out, a real SQLite file),
//! driving the real `ticketpost` binary: new request → ticket + acknowledgement; replies
//! thread by token and by In-Reply-To; duplicates change nothing; automatic mail gets
//! no answer; crashes mid-batch and after a commit lose and duplicate nothing.

use std::process::Command;

use serde_json::Value;

#[path = "support/embedded.rs"]
mod embedded;
use embedded::{Desk, header, request};

#[test]
fn request_reply_duplicate_and_auto_reply() {
    let desk = Desk::new(50);
    desk.deliver(
        "1.req",
        &request(
            "req-1@example.org",
            "Jane Doe <jane@example.org>",
            "Printer prints blank pages",
            "Since this morning.",
        ),
    );
    let out = desk.run_once();
    assert!(out.contains("1 new ticket"), "{out}");
    // The run leaves the database alone: its WAL is copied back and cut at exit.
    let wal = desk.root().join("var/ticketpost.db-wal");
    let wal_bytes = std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0);
    assert_eq!(wal_bytes, 0, "{} left behind", wal.display());

    let tickets = desk.tickets();
    assert_eq!(tickets.len(), 1);
    let t = &tickets[0];
    assert_eq!(t["token"], "TP-1");
    assert_eq!(t["status"], "open");
    assert_eq!(t["priority"], "P3");
    assert_eq!(t["requester"], "jane@example.org");
    assert_eq!(t["subject"], "Printer prints blank pages");
    assert_eq!(t["message_count"], 1);
    for key in ["created_at", "updated_at"] {
        assert!(
            t[key].as_str().is_some_and(|s| s.ends_with('Z')),
            "{key}: {}",
            t[key]
        );
    }

    // The acknowledgement: to the requester, token + original subject, threaded, automatic.
    let mails = desk.outbox();
    assert_eq!(mails.len(), 1, "one acknowledgement");
    let ack = &mails[0];
    assert_eq!(
        header(ack, "Subject"),
        Some("[TP-1] Printer prints blank pages")
    );
    assert!(header(ack, "To").unwrap().contains("jane@example.org"));
    assert_eq!(header(ack, "In-Reply-To"), Some("<req-1@example.org>"));
    assert_eq!(header(ack, "Auto-Submitted"), Some("auto-replied"));
    let ack_id = header(ack, "Message-ID")
        .unwrap()
        .trim_matches(['<', '>'])
        .to_string();
    assert!(ack_id.ends_with("@example.test"), "{ack_id}");
    assert!(ack.contains("multipart/alternative"));
    // The Maildir message left new/ for cur/.
    assert_eq!(
        std::fs::read_dir(desk.root().join("var/inbox/new"))
            .unwrap()
            .count(),
        0
    );
    assert_eq!(
        std::fs::read_dir(desk.root().join("var/inbox/cur"))
            .unwrap()
            .count(),
        1
    );

    // A reply with the token behind a German prefix threads, and gets no acknowledgement.
    desk.deliver(
        "2.reply",
        &request(
            "reply-1@example.org",
            "jane@example.org",
            "AW: [tp-1] Printer prints blank pages",
            "Still blank.",
        ),
    );
    // A reply without the token threads by In-Reply-To on our acknowledgement.
    desk.deliver(
        "3.reply",
        &format!(
            "From: jane@example.org\nTo: support@example.test\nSubject: Re: printer\nMessage-ID: <reply-2@example.org>\nIn-Reply-To: <{ack_id}>\nReferences: <req-1@example.org> <{ack_id}>\n\nAnd one more thing.\n"
        ),
    );
    let out = desk.run_once();
    assert!(out.contains("2 follow-up"), "{out}");
    assert_eq!(desk.tickets().len(), 1);
    assert_eq!(desk.tickets()[0]["message_count"], 3);
    assert_eq!(desk.outbox().len(), 1, "follow-ups are not acknowledged");

    // The same request again (a second delivery: different trace headers) changes nothing.
    desk.deliver(
        "4.dup",
        &format!("Received: from relay.example.org by mx.example.test; Wed, 25 Nov 2026 09:01:00 +0000\n{}", request("req-1@example.org", "Jane Doe <jane@example.org>", "Printer prints blank pages", "Since this morning.")),
    );
    let out = desk.run_once();
    assert!(out.contains("1 duplicate"), "{out}");
    assert_eq!(desk.tickets().len(), 1);
    assert_eq!(desk.tickets()[0]["message_count"], 3);
    assert_eq!(desk.outbox().len(), 1);

    // An out-of-office reply and a bounce with no thread: kept without a ticket, never
    // answered.
    desk.deliver(
        "5.ooo",
        "From: Mark <mark@example.org>\nTo: support@example.test\nSubject: Automatic reply: hello\nMessage-ID: <ooo-1@example.org>\nAuto-Submitted: auto-replied\n\nI am away.\n",
    );
    desk.deliver(
        "7.bounce",
        "From: MAILER-DAEMON@mx.example.org\nTo: support@example.test\nSubject: Undelivered Mail Returned to Sender\nMessage-ID: <bounce-1@mx.example.org>\n\nThis is the mail system.\n",
    );
    // Mailing-list mail: a ticket, never answered.
    desk.deliver(
        "6.list",
        "From: news@lists.example.org\nTo: support@example.test\nSubject: Weekly news\nMessage-ID: <news-1@example.org>\nList-Id: <news.lists.example.org>\nPrecedence: list\n\nNews.\n",
    );
    let out = desk.run_once();
    assert!(out.contains("2 kept without a ticket"), "{out}");
    let tickets = desk.tickets();
    assert_eq!(
        tickets.len(),
        2,
        "list mail is a ticket; the others are not"
    );
    assert_eq!(
        desk.outbox().len(),
        1,
        "automatic mail gets no acknowledgement"
    );
    let conn = rusqlite::Connection::open(desk.root().join("var/ticketpost.db")).unwrap();
    let (ticket, automatic): (Option<i64>, String) = conn
        .query_row(
            "SELECT ticket_id, automatic FROM messages WHERE message_id = 'ooo-1@example.org'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!(ticket, None);
    assert!(automatic.contains("Auto-Submitted"), "{automatic}");
    let list = tickets
        .iter()
        .find(|t| t["requester"] == "news@lists.example.org")
        .unwrap();
    let detail = desk.show(list["token"].as_str().unwrap());
    assert!(
        detail["messages"][0]["automatic"]
            .as_str()
            .unwrap()
            .contains("Precedence: list"),
        "{detail}"
    );
    assert!(
        detail["timeline"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["detail"].as_str().unwrap().contains("no acknowledgement"))
    );

    // A token for a ticket that does not exist opens a new ticket (and is acknowledged).
    desk.deliver(
        "8.bogus",
        &request(
            "bogus-1@example.org",
            "kim@example.org",
            "Re: [TP-999] old thing",
            "Hello?",
        ),
    );
    desk.run_once();
    let tickets = desk.tickets();
    assert_eq!(tickets.len(), 3);
    assert_eq!(tickets[0]["requester"], "kim@example.org");
    assert_eq!(desk.outbox().len(), 2);

    // `tickets show` holds the messages in order and the mail sent.
    let detail = desk.show("TP-1");
    let messages = detail["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 3);
    assert_eq!(messages[0]["message_id"], "req-1@example.org");
    assert_eq!(messages[1]["message_id"], "reply-1@example.org");
    assert_eq!(
        messages[2]["text"].as_str().unwrap().trim(),
        "And one more thing."
    );
    assert_eq!(detail["mails"][0]["kind"], "acknowledgement");
    assert_eq!(detail["mails"][0]["state"], "sent");
    let human = desk.ticketpost(&["tickets", "show", "TP-1"], None);
    assert!(String::from_utf8_lossy(&human.stdout).contains("Still blank."));
}

fn crash_then_recover(fault: &str) {
    let desk = Desk::new(2);
    for i in 0..5 {
        desk.deliver(
            &format!("{i}.req"),
            &request(
                &format!("crash-{i}@example.org"),
                &format!("user{i}@example.org"),
                &format!("Request {i}"),
                "Help.",
            ),
        );
    }
    let crashed = desk.ticketpost(&["run", "--once"], Some(fault));
    assert!(
        !crashed.status.success(),
        "the fault must stop the process ({fault})"
    );
    let before = desk.tickets().len();
    assert!(
        before < 5,
        "{fault}: the crash came before the end ({before} tickets)"
    );

    let out = desk.run_once();
    assert!(out.contains("processed"), "{out}");
    let tickets = desk.tickets();
    assert_eq!(
        tickets.len(),
        5,
        "{fault}: every request has exactly one ticket"
    );
    let mut requesters: Vec<String> = tickets
        .iter()
        .map(|t| t["requester"].as_str().unwrap().to_string())
        .collect();
    requesters.sort();
    requesters.dedup();
    assert_eq!(requesters.len(), 5);
    let mails = desk.outbox();
    assert_eq!(
        mails.len(),
        5,
        "{fault}: exactly one acknowledgement per ticket"
    );
    let mut to: Vec<&str> = mails.iter().map(|m| header(m, "To").unwrap()).collect();
    to.sort();
    to.dedup();
    assert_eq!(to.len(), 5);
    // A third run finds nothing left to do.
    let out = desk.run_once();
    assert!(
        out.contains("processed 0 message(s)") && out.contains("sent 0 mail"),
        "{out}"
    );
}

#[test]
fn crash_inside_a_batch_loses_and_duplicates_nothing() {
    crash_then_recover("in-batch:1");
}

#[test]
fn crash_after_a_commit_loses_and_duplicates_nothing() {
    crash_then_recover("after-commit:1");
}

#[test]
fn bad_config_names_file_and_key() {
    let desk = Desk::new(10);
    let text = std::fs::read_to_string(&desk.config)
        .unwrap()
        .replace("kind = \"file\"", "kind = \"carrier-pigeon\"");
    std::fs::write(&desk.config, text).unwrap();
    let out = desk.ticketpost(&["run", "--once"], None);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("ticketpost.toml") && err.contains("[transport] kind"),
        "{err}"
    );
}

#[test]
fn unparseable_mail_is_quarantined_not_lost() {
    let desk = Desk::new(10);
    desk.deliver("1.empty", "");
    desk.deliver(
        "2.ok",
        &request("fine@example.org", "a@example.org", "Fine", "ok"),
    );
    let out = desk.run_once();
    assert!(
        out.contains("1 quarantined") && out.contains("1 new ticket"),
        "{out}"
    );
    let check = desk.ticketpost(&["check"], None);
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stdout)
    );

    // The quarantine lists it with its reason; a retry of mail that is still broken
    // keeps it there, raw bytes and all.
    let listed = |desk: &Desk| -> Vec<Value> {
        let out = desk.ticketpost(&["quarantine", "list", "--json"], None);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice::<Value>(&out.stdout)
            .unwrap()
            .as_array()
            .unwrap()
            .clone()
    };
    let q = listed(&desk);
    assert_eq!(q.len(), 1, "{q:?}");
    assert!(!q[0]["reason"].as_str().unwrap().is_empty());
    let shown = desk.ticketpost(&["quarantine", "show", "Q-1"], None);
    assert!(String::from_utf8_lossy(&shown.stdout).contains("reason:"));
    let retried = desk.ticketpost(&["quarantine", "retry", "Q-1"], None);
    assert!(
        retried.status.success(),
        "{}",
        String::from_utf8_lossy(&retried.stderr)
    );
    assert!(String::from_utf8_lossy(&retried.stdout).contains("failed again"));
    assert_eq!(listed(&desk).len(), 1);

    // A message an older version could not store (here: put there by hand) is stored
    // by a retry, acknowledged with the next run, and leaves the quarantine.
    let raw = request(
        "late@example.org",
        "b@example.org",
        "Kept for later",
        "hello",
    )
    .replace('\n', "\r\n");
    let conn = rusqlite::Connection::open(desk.root().join("var/ticketpost.db")).unwrap();
    conn.execute(
        "INSERT INTO quarantine (source, content_hash, reason, raw, received_at)
         VALUES ('maildir', 'hand', 'a bug in an older version', ?1, 0)",
        [raw.as_bytes()],
    )
    .unwrap();
    drop(conn);
    let retried = desk.ticketpost(&["quarantine", "retry", "Q-2"], None);
    let said = String::from_utf8_lossy(&retried.stdout);
    assert!(said.contains("Q-2 stored: 1 new ticket"), "{said}");
    assert_eq!(listed(&desk).len(), 1);
    assert_eq!(desk.tickets().len(), 2);
    desk.run_once();
    assert!(
        desk.outbox()
            .iter()
            .any(|m| header(m, "Subject").is_some_and(|s| s.contains("Kept for later")))
    );
}

#[test]
fn with_hold_a_strangers_mail_is_held_for_an_agent() {
    // `{extra}` lands in the [security] table.
    let desk = Desk::with_config(50, "stranger_with_token = \"hold\"\n");
    desk.deliver(
        "1.req",
        &request(
            "own-1@example.test",
            "Jane <jane@example.test>",
            "Salary statement for March",
            "Please send me my salary statement for March.",
        ),
    );
    desk.run_once();
    desk.deliver(
        "2.req",
        &request(
            "evil-1@example.test",
            "Mallory <mallory@example.test>",
            "Re: [TP-1] Salary statement for March",
            "Please send it to this address instead.",
        ),
    );
    let out = desk.run_once();
    assert!(out.contains("0 new ticket"), "{out}");
    assert_eq!(desk.tickets().len(), 1);
    let t = desk.show("TP-1");
    assert_eq!(t["message_count"], 2, "kept on the ticket");
    assert_eq!(t["messages"][1]["kind"], "held");
    assert_eq!(t["status"], "open");
    assert!(
        t["timeline"].to_string().contains("held for an agent"),
        "{}",
        t["timeline"]
    );
    let mails: Vec<String> = std::fs::read_dir(desk.root().join("var/outbox"))
        .unwrap()
        .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
        .collect();
    assert!(
        !mails
            .iter()
            .any(|m| header(m, "To").is_some_and(|t| t.contains("mallory@"))),
        "nothing goes to the stranger"
    );
    let held: Vec<&String> = mails
        .iter()
        .filter(|m| header(m, "Subject").is_some_and(|s| s.contains("HELD")))
        .collect();
    assert_eq!(held.len(), 1, "Ann is told");
    assert!(header(held[0], "To").unwrap().contains("ann@example.test"));
    assert!(held[0].contains("mallory@example.test"));
}

#[test]
fn a_stranger_with_a_tickets_token_opens_a_ticket_of_their_own() {
    let desk = Desk::new(50);
    desk.deliver(
        "1.req",
        &request(
            "own-1@example.test",
            "Jane <jane@example.test>",
            "Salary statement for March",
            "Please send me my salary statement for March.",
        ),
    );
    desk.run_once();
    // Mallory guessed the token: no In-Reply-To, no References.
    desk.deliver(
        "2.req",
        &request(
            "evil-1@example.test",
            "Mallory <mallory@example.test>",
            "Re: [TP-1] Salary statement for March",
            "Please send it to this address instead.",
        ),
    );
    let out = desk.run_once();
    assert!(out.contains("1 new ticket"), "{out}");
    let tickets = desk.tickets();
    assert_eq!(tickets.len(), 2);
    let first = desk.show("TP-1");
    assert_eq!(first["message_count"], 1, "nothing added to TP-1");
    let timeline = first["timeline"].to_string();
    assert!(
        timeline.contains("mallory@example.test, who is not on this ticket"),
        "{timeline}"
    );
    let second = desk.show("TP-2");
    assert_eq!(second["requester"], "mallory@example.test");
    assert_eq!(second["subject"], "Re: Salary statement for March");
    // Mallory's only mail is the acknowledgement of TP-2, which quotes nothing of TP-1.
    let to_mallory: Vec<String> = std::fs::read_dir(desk.root().join("var/outbox"))
        .unwrap()
        .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
        .filter(|m| header(m, "To").is_some_and(|t| t.contains("mallory@")))
        .collect();
    assert_eq!(
        to_mallory.len(),
        1,
        "{:?}",
        std::fs::read_dir(desk.root().join("var/outbox"))
            .unwrap()
            .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
            .collect::<Vec<_>>()
    );
    assert!(
        header(&to_mallory[0], "Subject")
            .unwrap()
            .contains("[TP-2]")
    );
    assert!(!to_mallory[0].contains("TP-1"), "{}", to_mallory[0]);
    assert!(!to_mallory[0].contains("Please send me my salary statement"));
}

#[test]
fn commands_count_only_from_staff_mail_that_proves_its_sender() {
    let desk = Desk::new(50);
    desk.deliver(
        "1.req",
        &request(
            "jane-1@example.test",
            "Jane <jane@example.test>",
            "Laptop will not boot",
            "My laptop shows a black screen since this morning.",
        ),
    );
    desk.run_once();
    // Someone writes in Ann's name, with the token but not in the thread of any mail
    // we sent Ann, and no authentication result from our MTA.
    desk.deliver(
        "2.forged",
        &request(
            "forged-1@evil.test",
            "Ann Lee <ann@example.test>",
            "Re: [TP-1] Laptop will not boot",
            "/priority P1\n/status closed\nPlease send the recovery key to me.",
        ),
    );
    desk.run_once();
    let t = desk.show("TP-1");
    assert_eq!(
        (t["priority"].as_str(), t["status"].as_str()),
        (Some("P3"), Some("open"))
    );
    let timeline = t["timeline"].to_string();
    assert!(timeline.contains("did not prove its sender"), "{timeline}");
    let files: Vec<String> = std::fs::read_dir(desk.root().join("var/outbox"))
        .unwrap()
        .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
        .collect();
    let warned = files.iter().any(|m| {
        header(m, "To").is_some_and(|t| t.contains("ann@example.test"))
            && header(m, "Subject").is_some_and(|s| s.contains("UNVERIFIED"))
    });
    assert!(warned, "Ann is warned");
    let to_jane: Vec<&String> = files
        .iter()
        .filter(|m| header(m, "To").is_some_and(|t| t.contains("jane@")))
        .collect();
    assert_eq!(
        to_jane.len(),
        1,
        "only the acknowledgement: nothing relayed"
    );
    assert!(!files.iter().any(
        |m| m.contains("recovery key") && header(m, "To").is_some_and(|t| t.contains("jane@"))
    ));

    // The same from Ann's real server: our MTA vouches for it (DKIM pass for her
    // domain, as the topmost Authentication-Results with our trusted id).
    desk.deliver(
        "3.signed",
        &request(
            "ann-1@example.test",
            "Ann Lee <ann@example.test>",
            "Re: [TP-1] Laptop will not boot",
            "/priority P2\nPlease hold the power button for 30 seconds.",
        )
        .replacen(
            "From:",
            "Authentication-Results: mx.desk.test; dkim=pass header.d=example.test\nFrom:",
            1,
        ),
    );
    desk.run_once();
    assert_eq!(desk.show("TP-1")["priority"], "P2");
}

#[test]
fn loop_guards_stop_answering_a_sender_or_ticket_that_floods() {
    let desk = Desk::new(100);
    // An autoresponder no rule recognises opens twelve tickets within the hour: the
    // first ten are acknowledged ([limits] default 10), the rest only stored.
    for i in 0..12 {
        desk.deliver(
            &format!("{i}.flood"),
            &request(
                &format!("flood-{i}@robot.test"),
                "robot@robot.test",
                &format!("Status report {i}"),
                "All systems nominal.",
            ),
        );
    }
    desk.run_once();
    assert_eq!(desk.tickets().len(), 12, "nothing lost");
    assert_eq!(desk.outbox().len(), 10, "ten acknowledgements");
    let last = desk.show("TP-12")["timeline"].to_string();
    assert!(last.contains("loop guard"), "{last}");

    // Thirty-five replies on one ticket within the hour: Ann is told of the first 29
    // (the ticket then holds 30 messages), the rest are kept without mail.
    for i in 0..35 {
        desk.deliver(
            &format!("{i}.reply"),
            &request(
                &format!("reply-{i}@robot.test"),
                "robot@robot.test",
                "Re: [TP-1] Status report 0",
                &format!("Reply number {i}"),
            ),
        );
    }
    desk.run_once();
    let t = desk.show("TP-1");
    assert_eq!(t["message_count"], 36, "all kept");
    let notices = std::fs::read_dir(desk.root().join("var/outbox"))
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .ends_with("-agent_notice.eml")
        })
        .count();
    // 10 new-ticket notices, one flood summary for the 11th (none for the 12th),
    // and 29 reply notices.
    assert_eq!(notices, 10 + 1 + 29);
    assert!(t["timeline"].to_string().contains("loop guard"));
}

#[test]
fn requester_text_never_becomes_a_header() {
    let desk = Desk::new(50);
    // CR/LF smuggled in through encoded words: in the subject and in the display name.
    let raw = "From: =?utf-8?q?Eve=0D=0ABcc=3A_victim=40example=2Etest?= <eve@example.test>\n\
               To: support@example.test\n\
               Subject: =?utf-8?q?Help=0D=0ABcc=3A_victim=40example=2Etest=0D=0AX-Evil=3A_1?=\n\
               Message-ID: <inject-1@example.test>\n\
               Date: Wed, 25 Nov 2026 09:00:00 +0000\n\
               Content-Type: text/html; charset=utf-8\n\n\
               <p>Hi</p><script>alert(1)</script>\n";
    desk.deliver("1.inject", raw);
    desk.run_once();
    let files: Vec<String> = std::fs::read_dir(desk.root().join("var/outbox"))
        .unwrap()
        .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
        .collect();
    assert!(!files.is_empty());
    for mail in &files {
        let head = mail.split("\r\n\r\n").next().unwrap();
        for line in head.lines() {
            let l = line.to_ascii_lowercase();
            assert!(
                !l.starts_with("bcc:") && !l.starts_with("x-evil:"),
                "{head}"
            );
        }
        assert_eq!(
            head.lines()
                .filter(|l| l.to_ascii_lowercase().starts_with("to:"))
                .count(),
            1,
            "{head}"
        );
        // The HTML part shows the request as text, never as markup.
        assert!(!mail.contains("<script>"), "{mail}");
    }
}

#[test]
fn a_bounce_of_our_mail_lands_on_its_ticket_and_tells_the_agents() {
    let desk = Desk::new(50);
    desk.deliver(
        "1.req",
        &request(
            "typo-1@example.test",
            "Tom <tom@exmaple.test>",
            "Printer offline",
            "The printer on floor 2 is offline.",
        ),
    );
    desk.run_once();
    let ack = desk.outbox().pop().unwrap();
    let ack_id = header(&ack, "Message-ID").unwrap().to_string();
    // The receiving server's delivery status notification, with the headers of our
    // acknowledgement attached (RFC 3464).
    let dsn = format!(
        "From: MAILER-DAEMON@mx.exmaple.test (Mail Delivery System)\n\
         To: support@example.test\n\
         Subject: Undelivered Mail Returned to Sender\n\
         Message-ID: <dsn-1@mx.exmaple.test>\n\
         Date: Wed, 25 Nov 2026 09:05:00 +0000\n\
         Auto-Submitted: auto-replied\n\
         MIME-Version: 1.0\n\
         Content-Type: multipart/report; report-type=delivery-status; boundary=\"b1\"\n\n\
         --b1\n\
         Content-Type: text/plain\n\n\
         <tom@exmaple.test>: host mx.exmaple.test said: 550 5.1.1 User unknown\n\n\
         --b1\n\
         Content-Type: message/delivery-status\n\n\
         Reporting-MTA: dns; mx.exmaple.test\n\n\
         Final-Recipient: rfc822; tom@exmaple.test\n\
         Action: failed\n\
         Status: 5.1.1\n\n\
         --b1\n\
         Content-Type: text/rfc822-headers\n\n\
         From: \"Example Support\" <support@example.test>\n\
         To: Tom <tom@exmaple.test>\n\
         Subject: [TP-1] Printer offline\n\
         Message-ID: {ack_id}\n\n\
         --b1--\n"
    );
    desk.deliver("2.dsn", &dsn);
    let out = desk.run_once();
    assert!(out.contains("0 new ticket"), "{out}");
    assert_eq!(desk.tickets().len(), 1, "a bounce never opens a ticket");
    let t = desk.show("TP-1");
    assert_eq!(t["message_count"], 2);
    let timeline = t["timeline"].to_string();
    assert!(
        timeline.contains("delivery failure: our mail to tom@exmaple.test bounced"),
        "{timeline}"
    );
    let files: Vec<String> = std::fs::read_dir(desk.root().join("var/outbox"))
        .unwrap()
        .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
        .collect();
    assert!(files.iter().any(|m| {
        header(m, "To").is_some_and(|t| t.contains("ann@example.test"))
            && header(m, "Subject").is_some_and(|s| s.contains("Delivery failure"))
    }));
    assert!(
        !files
            .iter()
            .any(|m| header(m, "To")
                .is_some_and(|t| t.to_ascii_lowercase().contains("mailer-daemon"))),
        "the bounce is never answered"
    );
}

/// `n` bytes of base64 (76-column lines) for an attachment.
fn base64_lines(n: usize) -> String {
    let line = "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWZnaGlqa2xtbm9wcXJzdHV2d3h5ejAxMjM0\n";
    line.repeat(n / line.len() + 1)
}

fn with_attachment(id: &str, subject: &str, text: &str, attachment_bytes: usize) -> String {
    format!(
        "From: Pat <pat@example.org>\nTo: support@example.test\nSubject: {subject}\nMessage-ID: <{id}>\n\
         MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"b1\"\n\n\
         --b1\nContent-Type: text/plain; charset=utf-8\n\n{text}\n\
         --b1\nContent-Type: application/octet-stream; name=\"trace.bin\"\n\
         Content-Disposition: attachment; filename=\"trace.bin\"\nContent-Transfer-Encoding: base64\n\n\
         {}--b1--\n",
        base64_lines(attachment_bytes)
    )
}

#[test]
fn messages_over_the_limits_are_kept_and_the_sender_told_or_quarantined() {
    let desk = Desk::with_config(
        10,
        "[limits]\nmax_message_bytes = 65536\nmax_header_fields = 100\nmax_mime_depth = 10\n",
    );
    // Over the size limit: a ticket with the start of the text, the raw bytes whole,
    // no attachment listed, and the acknowledgement says why.
    let big = with_attachment(
        "big@example.org",
        "Crash log attached",
        "The app crashes on start, log attached.",
        100_000,
    );
    desk.deliver("1.big", &big);
    // A message with too many header fields and one nested too deep: quarantined.
    let mut many = String::new();
    for i in 0..150 {
        many.push_str(&format!("X-Note-{i}: {i}\n"));
    }
    desk.deliver(
        "2.headers",
        &format!(
            "{many}{}",
            request("many@example.org", "m@example.org", "Many headers", "hi")
        ),
    );
    let mut deep = String::from(
        "From: d@example.org\nTo: support@example.test\nSubject: Deep\nMessage-ID: <deep@example.org>\nMIME-Version: 1.0\n",
    );
    let levels = 15;
    for i in 0..levels {
        deep.push_str(&format!(
            "Content-Type: multipart/mixed; boundary=\"l{i}\"\n\n--l{i}\n"
        ));
    }
    deep.push_str("Content-Type: text/plain\n\ninside\n");
    for i in (0..levels).rev() {
        deep.push_str(&format!("--l{i}--\n"));
    }
    desk.deliver("3.deep", &deep);
    let out = desk.run_once();
    assert!(
        out.contains("1 new ticket") && out.contains("2 quarantined"),
        "{out}"
    );

    let t = desk.show("TP-1");
    let timeline = t["timeline"].to_string();
    assert!(timeline.contains("over the 0.1 MB limit"), "{timeline}");
    let conn = rusqlite::Connection::open(desk.root().join("var/ticketpost.db")).unwrap();
    let (raw_len, attachments): (i64, String) = conn
        .query_row(
            "SELECT coalesce(raw_len, length(raw)), attachments_json FROM messages WHERE message_id = 'big@example.org'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!(
        raw_len as usize,
        big.replace('\n', "\r\n").len(),
        "raw kept whole"
    );
    assert_eq!(
        attachments, "[]",
        "attachments of an oversized message are not listed"
    );
    let ack = desk.outbox().pop().expect("acknowledged");
    assert!(ack.contains("more than the 0.1 MB"), "{ack}");

    let quarantine = desk.ticketpost(&["quarantine", "list", "--json"], None);
    let q: Value = serde_json::from_slice(&quarantine.stdout).unwrap();
    let reasons: Vec<&str> = q
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["reason"].as_str().unwrap())
        .collect();
    assert!(
        reasons.iter().any(|r| r.contains("max_header_fields")),
        "{reasons:?}"
    );
    assert!(
        reasons.iter().any(|r| r.contains("max_mime_depth")),
        "{reasons:?}"
    );

    // An oversized follow-up: on the ticket, and its sender gets a size notice.
    desk.deliver(
        "4.big-reply",
        &with_attachment(
            "big-reply@example.org",
            "Re: [TP-1] Crash log attached",
            "Here is the full dump.",
            100_000,
        ),
    );
    desk.run_once();
    assert_eq!(desk.show("TP-1")["message_count"], 2);
    let notices: Vec<String> = std::fs::read_dir(desk.root().join("var/outbox"))
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .ends_with("-size_notice.eml")
        })
        .map(|e| std::fs::read_to_string(e.path()).unwrap())
        .collect();
    assert_eq!(notices.len(), 1, "one size notice");
    assert_eq!(header(&notices[0], "To"), Some("Pat <pat@example.org>"));
    assert!(
        header(&notices[0], "Subject").is_some_and(|s| s.contains("[TP-1]")),
        "{}",
        notices[0]
    );
}

#[test]
fn outbox_commands_and_backup_restore() {
    let desk = Desk::new(10);
    desk.deliver(
        "1.req",
        &request(
            "b-1@example.org",
            "a@example.org",
            "Laptop fan loud",
            "Very loud.",
        ),
    );
    desk.run_once();
    let ok = |args: &[&str]| desk.stdout(args);
    let listed = ok(&["outbox", "list"]);
    assert!(
        listed.contains("0 queued, 0 sending, 2 sent, 0 failed"),
        "{listed}"
    );
    let rows: Value = serde_json::from_str(&ok(&["outbox", "list", "--json"])).unwrap();
    let ack = rows
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["kind"] == "acknowledgement")
        .unwrap();
    let id = format!("M-{}", ack["id"]);
    assert_eq!(
        ok(&["outbox", "list", "--state", "failed", "--json"]).trim(),
        "[]"
    );

    // A sent mail is not retried; a failed one (marked by hand here) is, and goes out.
    let refused = desk.ticketpost(&["outbox", "retry", &id], None);
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("is sent, not failed"));
    let db = desk.root().join("var/ticketpost.db");
    let conn = rusqlite::Connection::open(&db).unwrap();
    conn.execute(
        "UPDATE outbox SET state = 'failed', last_error = '550 by hand' WHERE id = ?1",
        [ack["id"].as_i64().unwrap()],
    )
    .unwrap();
    assert!(ok(&["outbox", "list", "--state", "failed"]).contains("550 by hand"));
    assert!(ok(&["outbox", "retry", "--failed"]).contains("1 failed mail(s) queued again"));
    let out = desk.run_once();
    assert!(out.contains("sent 1 mail"), "{out}");
    assert!(ok(&["outbox", "list"]).contains("2 sent, 0 failed"));

    // Purge drops the bytes, not the record.
    let purged = ok(&["outbox", "purge", "--older-than-days", "0"]);
    assert!(
        purged.contains("dropped the bytes of 2 mail(s)"),
        "{purged}"
    );
    let raw_len: i64 = conn
        .query_row(
            "SELECT length(raw) FROM outbox WHERE id = ?1",
            [ack["id"].as_i64().unwrap()],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(raw_len, 0);
    assert_eq!(desk.show("TP-1")["mails"].as_array().unwrap().len(), 2);
    drop(conn);

    // Backup, more work, restore: the store is as it was at the backup.
    let copy = desk.root().join("backup.db");
    let said = ok(&["backup", copy.to_str().unwrap()]);
    assert!(said.contains("1 ticket(s), 1 message(s)"), "{said}");
    let again = desk.ticketpost(&["backup", copy.to_str().unwrap()], None);
    assert!(String::from_utf8_lossy(&again.stderr).contains("exists already"));
    desk.deliver(
        "2.req",
        &request(
            "b-2@example.org",
            "c@example.org",
            "Mouse broken",
            "Broken.",
        ),
    );
    desk.run_once();
    assert_eq!(desk.tickets().len(), 2);
    let said = ok(&["restore", copy.to_str().unwrap()]);
    assert!(said.contains("1 ticket(s)"), "{said}");
    assert_eq!(desk.tickets().len(), 1);
    // Not a store: refused, the store untouched.
    let junk = desk.root().join("junk.db");
    std::fs::write(&junk, b"not a database").unwrap();
    let refused = desk.ticketpost(&["restore", junk.to_str().unwrap()], None);
    assert!(!refused.status.success());
    assert_eq!(desk.tickets().len(), 1);
}

#[test]
fn import_mbox_and_maildir_idempotently_without_mail() {
    let desk = Desk::new(10);
    let mut mbox = String::new();
    for i in 0..3 {
        mbox.push_str(&format!(
            "From old{i}@example.org Mon Nov  2 09:00:00 2026\n{}\n",
            request(
                &format!("old-{i}@example.org"),
                &format!("old{i}@example.org"),
                &format!("Old request {i}"),
                // As mbox writers store it: a body line "From ..." quoted as ">From".
                "Moved from the old system.\n>From a quoted line",
            )
        ));
    }
    let mbox_path = desk.root().join("old.mbox");
    std::fs::write(&mbox_path, &mbox).unwrap();
    let ok = |args: &[&str]| desk.stdout(args);
    let said = ok(&["import", "mbox", mbox_path.to_str().unwrap()]);
    assert!(
        said.contains("imported 3 message(s)")
            && said.contains("3 new ticket(s)")
            && said.contains("0 mail(s) queued"),
        "{said}"
    );
    assert_eq!(desk.tickets().len(), 3);
    let text = desk.show("TP-1")["messages"][0]["text"].to_string();
    assert!(
        text.contains("From a quoted line") && !text.contains(">From"),
        "mboxrd unquoted: {text}"
    );
    // Again: nothing new.
    let said = ok(&["import", "mbox", mbox_path.to_str().unwrap()]);
    assert!(said.contains("3 already stored"), "{said}");
    assert_eq!(desk.tickets().len(), 3);

    // A Maildir, with acknowledgements asked for: queued, sent by the next run.
    let old = desk.root().join("oldmaildir");
    for sub in ["cur", "new", "tmp"] {
        std::fs::create_dir_all(old.join(sub)).unwrap();
    }
    std::fs::write(
        old.join("cur/1.a:2,S"),
        request("md-1@example.org", "m1@example.org", "Maildir one", "one"),
    )
    .unwrap();
    std::fs::write(
        old.join("new/2.b"),
        request("md-2@example.org", "m2@example.org", "Maildir two", "two"),
    )
    .unwrap();
    std::fs::write(old.join("tmp/3.c"), "half written").unwrap();
    let said = ok(&["import", "maildir", old.to_str().unwrap(), "--acknowledge"]);
    assert!(
        // An acknowledgement and Ann's new-ticket notice each.
        said.contains("imported 2 message(s)") && said.contains("4 mail(s) queued"),
        "{said}"
    );
    assert!(old.join("new/2.b").exists(), "the source is only read");
    assert_eq!(desk.tickets().len(), 5);
    assert!(desk.outbox().is_empty());
    desk.run_once();
    assert_eq!(
        desk.outbox().len(),
        2,
        "only the Maildir import was acknowledged"
    );
    let not_maildir = desk.ticketpost(&["import", "maildir", desk.root().to_str().unwrap()], None);
    assert!(String::from_utf8_lossy(&not_maildir.stderr).contains("is not a Maildir"));
}

#[test]
fn init_writes_a_config_that_check_accepts() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("etc/ticketpost.toml");
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_ticketpost"))
            .current_dir(dir.path())
            .arg("--config")
            .arg(&config)
            .args(args)
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap()
    };
    let out = run(&[
        "init",
        "--support-address",
        "help@acme.test",
        "--support-name",
        "ACME Help",
        "--agent",
        "Ann Lee <ann@acme.test>",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(&config).unwrap();
    assert!(
        text.contains("support_address = \"help@acme.test\""),
        "{text}"
    );
    let check = run(&["check"]);
    assert!(
        check.status.success(),
        "{}{}",
        String::from_utf8_lossy(&check.stdout),
        String::from_utf8_lossy(&check.stderr)
    );
    let again = run(&["init"]);
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("--force"));
}

#[test]
fn routing_rules_set_team_priority_and_tags() {
    let desk = Desk::with_config(
        10,
        r#"
[teams]
hr = ["Hana Ito <hana@example.test>"]

[[route]]
to = ["hr@example.test"]
team = "hr"
tags = ["hr"]

[[route]]
from_domain = ["clinic.example.org"]
priority = "P2"
tags = ["clinic"]
"#,
    );
    desk.deliver(
        "1",
        "From: Nurse <nurse@ward3.clinic.example.org>\nTo: hr@example.test\nSubject: Payslip shows the wrong hours\nMessage-ID: <r1@example.org>\n\nPlease check.\n",
    );
    desk.deliver(
        "2",
        &request("r2@example.org", "x@example.org", "Mouse broken", "Broken."),
    );
    desk.run_once();
    let t = desk.show("TP-1");
    assert_eq!(t["team"], "hr");
    assert_eq!(t["priority"], "P2");
    assert_eq!(t["tags"], serde_json::json!(["hr", "clinic"]));
    assert!(
        t["timeline"]
            .to_string()
            .contains("routed by [[route]] 1, 2"),
        "{}",
        t["timeline"]
    );
    let other = desk.show("TP-2");
    assert_eq!(other["team"], Value::Null);
    assert_eq!(other["tags"], serde_json::json!([]));
    // The team, not all agents, is told of the routed ticket.
    let notices: Vec<String> = std::fs::read_dir(desk.root().join("var/outbox"))
        .unwrap()
        .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
        .filter(|m| header(m, "Subject").is_some_and(|s| s.contains("[TP-1] New ticket")))
        .collect();
    assert_eq!(notices.len(), 1, "{notices:?}");
    assert!(
        header(&notices[0], "To")
            .unwrap()
            .contains("hana@example.test")
    );
}

#[test]
fn each_folder_is_read_and_can_route_to_its_own_team() {
    let desk = Desk::with_mailbox_keys(
        10,
        r#"folders = ["INBOX", "HR"]"#,
        r#"
[teams]
hr = ["Hana Ito <hana@example.test>"]

[[route]]
folder = ["HR"]
team = "hr"
tags = ["hr-folder"]
"#,
    );
    desk.deliver_into(
        "var/inbox/.HR",
        "1",
        &request(
            "f1@example.org",
            "x@example.org",
            "Payslip wrong",
            "Please check.",
        ),
    );
    desk.deliver(
        "2",
        &request("f2@example.org", "y@example.org", "Mouse broken", "Broken."),
    );
    let summary = desk.run_once();
    assert!(summary.contains("2 new ticket"), "{summary}");
    let tickets = desk.tickets();
    assert_eq!(tickets.len(), 2, "{tickets:?}");
    let by_subject = |s: &str| {
        tickets
            .iter()
            .find(|t| t["subject"] == s)
            .unwrap_or_else(|| panic!("no ticket {s:?} in {tickets:?}"))
            .clone()
    };
    let hr = desk.show(by_subject("Payslip wrong")["token"].as_str().unwrap());
    assert_eq!(hr["team"], "hr");
    assert_eq!(hr["tags"], serde_json::json!(["hr-folder"]));
    let inbox = desk.show(by_subject("Mouse broken")["token"].as_str().unwrap());
    assert_eq!(inbox["team"], Value::Null);
    // Both folders' mail left new/ once stored; a second run finds nothing more.
    for dir in ["var/inbox/new", "var/inbox/.HR/new"] {
        let left = std::fs::read_dir(desk.root().join(dir)).unwrap().count();
        assert_eq!(left, 0, "{dir} still holds mail");
    }
    desk.run_once();
    assert_eq!(desk.tickets().len(), 2);

    // A route naming a folder that is not read is a config error naming the key.
    let bad = Desk::with_config(10, "[[route]]\nfolder = [\"Sales\"]\ntags = [\"x\"]\n");
    let out = bad.ticketpost(&["check"], None);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("ticketpost.toml") && err.contains("[[route]] 1 folder"),
        "{err}"
    );
}

#[test]
fn json_logs_name_the_ticket_on_every_line_about_one() {
    let desk = Desk::new(10);
    desk.deliver(
        "1",
        &request(
            "log1@example.org",
            "ann@example.org",
            "Laptop fan loud",
            "Noisy.",
        ),
    );
    desk.deliver(
        "2",
        &request(
            "log2@example.org",
            "ann@example.org",
            "Re: [TP-1] Laptop fan loud",
            "Still.",
        ),
    );
    // A stranger writing on ticket 1 (opens a ticket of their own, and says so).
    desk.deliver(
        "3",
        &request(
            "log3@example.org",
            "eve@example.net",
            "[TP-1] me too",
            "Hi.",
        ),
    );
    let out = Command::new(env!("CARGO_BIN_EXE_ticketpost"))
        .arg("--config")
        .arg(&desk.config)
        .args(["--log-json", "run", "--once"])
        .env("TICKETPOST_LOG", "debug")
        .env_remove("TICKETPOST_FAULT")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<Value> = stderr
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    assert!(!lines.is_empty());
    let token_re = regex::Regex::new(r"^TP-\d+$").unwrap();
    let mut about_tickets = 0;
    // Our own lines (other crates' debug lines, e.g. migrations, are not about tickets).
    for line in lines.iter().filter(|l| {
        l["target"]
            .as_str()
            .is_some_and(|t| t.starts_with("ticketpost"))
    }) {
        let fields = &line["fields"];
        let message = fields["message"]
            .as_str()
            .unwrap_or_default()
            .to_lowercase();
        // Tickets are named by token, never by their row id.
        assert!(
            fields.get("ticket").is_none(),
            "row id in a log line: {line}"
        );
        let mentions_ticket = message.contains("ticket")
            && !message.contains("without a ticket")
            && !message.contains("new_tickets");
        let token = fields["token"].as_str();
        if mentions_ticket || token.is_some_and(|t| !t.is_empty()) {
            about_tickets += 1;
            assert!(
                token.is_some_and(|t| token_re.is_match(t)),
                "a line about a ticket without its token: {line}"
            );
        }
    }
    let with = |msg: &str, token: &str| {
        lines.iter().any(|l| {
            l["fields"]["message"]
                .as_str()
                .is_some_and(|m| m.contains(msg))
                && l["fields"]["token"] == token
        })
    };
    assert!(with("new ticket", "TP-1"), "{stderr}");
    assert!(with("new ticket", "TP-2"), "{stderr}");
    assert!(
        with("a stranger used this ticket's token", "TP-1"),
        "{stderr}"
    );
    assert!(with("sent", "TP-1") && with("sent", "TP-2"), "{stderr}");
    println!(
        "{} JSON log lines, {about_tickets} about a ticket, each with its token",
        lines.len()
    );
}

/// A panic in a mail handler is a bug; if one happens, the message it hit goes to the
/// quarantine with its raw bytes, the rest of the batch is stored, and a retry (after
/// the fix) makes it a ticket. The panics here are injected (`TICKETPOST_FAULT`).
#[test]
fn a_panic_in_a_mail_handler_quarantines_that_message_and_spares_the_batch() {
    for (fault, reason) in [
        ("panic-assessing:1", "intake rules panicked"),
        ("panic-storing:1", "storing it panicked"),
    ] {
        let desk = Desk::new(10);
        for (i, subject) in ["First", "Second", "Third"].iter().enumerate() {
            desk.deliver(
                &format!("{i}"),
                &request(
                    &format!("p{i}@example.org"),
                    "a@example.org",
                    subject,
                    "Help.",
                ),
            );
        }
        let out = desk.ticketpost(&["run", "--once"], Some(fault));
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{fault}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            stdout.contains("2 new ticket") && stdout.contains("1 quarantined"),
            "{fault}: {stdout}"
        );
        // Nothing is left in new/: the panicked message is stored in the quarantine.
        let left = std::fs::read_dir(desk.root().join("var/inbox/new"))
            .unwrap()
            .count();
        assert_eq!(left, 0, "{fault}");
        let listed = desk.ticketpost(&["quarantine", "list", "--json"], None);
        let q: Value = serde_json::from_slice(&listed.stdout).unwrap();
        assert_eq!(q.as_array().unwrap().len(), 1, "{fault}: {q}");
        assert!(
            q[0]["reason"].as_str().unwrap().contains(reason),
            "{fault}: {q}"
        );
        let shown = desk.ticketpost(&["quarantine", "show", "Q-1"], None);
        assert!(
            String::from_utf8_lossy(&shown.stdout).contains("Subject: Second"),
            "{fault}: raw bytes kept: {}",
            String::from_utf8_lossy(&shown.stdout)
        );
        // After the fix (no fault), a retry stores it.
        let retried = desk.ticketpost(&["quarantine", "retry", "Q-1"], None);
        let said = String::from_utf8_lossy(&retried.stdout);
        assert!(said.contains("Q-1 stored: 1 new ticket"), "{fault}: {said}");
        let subjects: Vec<String> = desk
            .tickets()
            .iter()
            .map(|t| t["subject"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(subjects.len(), 3, "{fault}: {subjects:?}");
        assert!(subjects.contains(&"Second".to_string()), "{subjects:?}");
    }
}
