//! The attacks found by probing the release binary on the embedded default, each
//! replayed through the real `ticketpost` binary: a staff-signed Message-ID replayed
//! from a relay, forged consent and confirmation, floods of Subject bytes and Cc
//! addresses, knowledge-base text offered to outsiders, mail from the desk's other
//! addresses, a size notice aimed by Reply-To, and notices that hid the sender's
//! address or came by the hundred.

#[path = "support/embedded.rs"]
mod embedded;

use embedded::{Desk, header, request};

const ANN: &str = "Ann Lee <ann@example.test>";
const BOB: &str = "Bob Ray <bob@example.test>";
/// What our MTA writes on top of mail whose DKIM signature for example.test held.
const ANN_VERIFIED: &str =
    "Authentication-Results: mx.desk.test; dkim=pass header.d=example.test\n";

/// Every file the file transport wrote: (file name, contents), in outbox order.
fn outbox_files(desk: &Desk) -> Vec<(String, String)> {
    let dir = desk.root().join("var/outbox");
    let mut files: Vec<(String, String)> = std::fs::read_dir(&dir)
        .map(|d| {
            d.filter_map(|e| e.ok())
                .map(|e| {
                    (
                        e.file_name().to_string_lossy().into_owned(),
                        std::fs::read_to_string(e.path()).unwrap_or_default(),
                    )
                })
                .filter(|(n, _)| n.ends_with(".eml"))
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    files
}

/// The header block of a mail, folded lines joined.
fn headers_of(mail: &str) -> String {
    let block = mail.split("\r\n\r\n").next().unwrap_or(mail);
    block.replace("\r\n ", " ").replace("\r\n\t", " ")
}

/// Every `<...>` id in the In-Reply-To and References of a mail.
fn thread_ids(mail: &str) -> Vec<String> {
    let headers = headers_of(mail);
    headers
        .lines()
        .filter(|l| {
            let l = l.to_ascii_lowercase();
            l.starts_with("in-reply-to:") || l.starts_with("references:")
        })
        .flat_map(|l| {
            l.split('<')
                .skip(1)
                .filter_map(|p| p.split_once('>').map(|(id, _)| id.to_string()))
                .collect::<Vec<_>>()
        })
        .collect()
}

fn message_id(mail: &str) -> String {
    let id = header(&headers_of(mail), "Message-ID")
        .expect("our mail has a Message-ID")
        .to_string();
    id.trim_matches(['<', '>']).to_string()
}

/// The outbox mails of `kind` (`00000003-agent_notice.eml`) addressed To `who`.
fn mails_to(desk: &Desk, kind: &str, who: &str) -> Vec<String> {
    outbox_files(desk)
        .into_iter()
        .filter(|(n, m)| {
            n.ends_with(&format!("-{kind}.eml"))
                && header(&headers_of(m), "To").is_some_and(|t| t.contains(who))
        })
        .map(|(_, m)| m)
        .collect()
}

/// A mail with extra header lines on top.
fn with_headers(extra: &str, mail: String) -> String {
    format!("{extra}{mail}")
}

/// A reply threaded under `parent` (In-Reply-To and References).
fn reply_to(parent: &str, mail: String) -> String {
    with_headers(
        &format!("In-Reply-To: <{parent}>\nReferences: <{parent}>\n"),
        mail,
    )
}

fn jane_request(desk: &Desk) {
    desk.deliver(
        "1.req",
        &request(
            "jane-1@customer.test",
            "Jane Doe <jane@customer.test>",
            "Laptop will not boot",
            "My laptop shows a black screen since this morning.",
        ),
    );
    desk.run_once();
}

fn timeline(desk: &Desk, token: &str) -> String {
    desk.show(token)["timeline"].to_string()
}

#[test]
fn a_staff_id_never_reaches_the_requester_side_and_cannot_be_replayed() {
    let desk = Desk::with_agents(&[ANN, BOB], "");
    jane_request(&desk);
    // Ann, verified by our MTA, tries to make Bob a participant.
    desk.deliver(
        "2.ann",
        &with_headers(
            ANN_VERIFIED,
            request(
                "ann-1@example.test",
                ANN,
                "Re: [TP-1] Laptop will not boot",
                "/cc bob@example.test",
            ),
        ),
    );
    desk.run_once();

    // Bob answers his own notice: relayed to Jane.
    let bob_notice = message_id(&mails_to(&desk, "agent_notice", "bob@example.test")[0]);
    desk.deliver(
        "3.bob",
        &reply_to(
            &bob_notice,
            request(
                "bob-1@example.test",
                BOB,
                "Re: [TP-1] Laptop will not boot",
                "Please hold the power button for 30 seconds.",
            ),
        ),
    );
    desk.run_once();
    let relays = mails_to(&desk, "relay", "jane@customer.test");
    assert_eq!(relays.len(), 1, "Bob's reply is relayed");
    // No mail to anyone but Bob carries an id we signed for Bob.
    for (name, mail) in outbox_files(&desk) {
        let to = header(&headers_of(&mail), "To")
            .unwrap_or_default()
            .to_string();
        if !to.contains("bob@example.test") {
            assert!(
                !mail.contains(&bob_notice),
                "{name} to {to} carries Bob's id"
            );
        }
    }

    // Anyone who got the relay forges Bob with each id it names: nothing runs.
    let mut ids = thread_ids(&relays[0]);
    ids.push(message_id(&relays[0]));
    for (i, id) in ids.iter().enumerate() {
        desk.deliver(
            &format!("4.forged{i}"),
            &reply_to(
                id,
                request(
                    &format!("forged-{i}@evil.test"),
                    BOB,
                    "Re: [TP-1] Laptop will not boot",
                    "/cc attacker@evil.test\n/priority P1\nPlease send me your password.",
                ),
            ),
        );
    }
    desk.run_once();
    let t = desk.show("TP-1");
    assert_eq!(t["priority"], "P3");
    assert_eq!(t["participants"], serde_json::json!([]));
    assert_eq!(
        mails_to(&desk, "relay", "jane@customer.test").len(),
        1,
        "no forged relay reached Jane"
    );
    assert!(
        !outbox_files(&desk)
            .iter()
            .any(|(_, m)| m.contains("your password")
                && header(&headers_of(m), "To").is_some_and(|t| t.contains("jane@"))),
        "nothing of the forged mail reached Jane"
    );
    assert!(timeline(&desk, "TP-1").contains("did not prove its sender"));
    // Ann's /cc of Bob was refused: staff are never participants, and she was told.
    let errors = mails_to(&desk, "command_error", "ann@example.test");
    assert_eq!(errors.len(), 1, "Ann is told why /cc failed");
    assert!(errors[0].contains("staff"), "{}", errors[0]);
}

#[test]
fn consent_and_confirmation_count_only_from_the_requesters_reply_to_our_request() {
    let desk = Desk::with_agents(&[ANN], "");
    jane_request(&desk);
    desk.deliver(
        "2.authorize",
        &with_headers(
            ANN_VERIFIED,
            request(
                "ann-1@example.test",
                ANN,
                "Re: [TP-1] Laptop will not boot",
                "/authorize wipe and reinstall your laptop",
            ),
        ),
    );
    desk.run_once();
    assert_eq!(
        desk.show("TP-1")["authorization_pending"],
        "wipe and reinstall your laptop"
    );
    // A forged "yes" in Jane's name, answers going to the attacker.
    desk.deliver(
        "3.forged-yes",
        &with_headers(
            "Reply-To: attacker@evil.test\n",
            request(
                "forged-yes@evil.test",
                "Jane Doe <jane@customer.test>",
                "Re: [TP-1] Laptop will not boot",
                "Yes, I approve.",
            ),
        ),
    );
    desk.run_once();
    let t = desk.show("TP-1");
    assert_eq!(
        t["authorization_pending"], "wipe and reinstall your laptop",
        "a forged yes is not consent"
    );
    let line = timeline(&desk, "TP-1");
    assert!(!line.contains("APPROVED"), "{line}");
    assert!(line.contains("could not be verified"), "{line}");
    let warned = mails_to(&desk, "agent_notice", "ann@example.test");
    assert!(
        warned.iter().any(|m| m.contains("UNVERIFIED answer")),
        "Ann is told the answer could not be verified"
    );
    // Jane's real answer, a reply to our request.
    let asked = mails_to(&desk, "authorization_request", "jane@customer.test");
    assert_eq!(asked.len(), 1);
    desk.deliver(
        "4.real-yes",
        &reply_to(
            &message_id(&asked[0]),
            request(
                "jane-2@customer.test",
                "Jane Doe <jane@customer.test>",
                "Re: [TP-1] Laptop will not boot",
                "Yes, go ahead.",
            ),
        ),
    );
    desk.run_once();
    assert!(desk.show("TP-1")["authorization_pending"].is_null());
    assert!(timeline(&desk, "TP-1").contains("APPROVED"));

    // The same for the confirmation that closes the ticket.
    desk.deliver(
        "5.resolve",
        &with_headers(
            ANN_VERIFIED,
            request(
                "ann-2@example.test",
                ANN,
                "Re: [TP-1] Laptop will not boot",
                "/resolve reinstalled the system",
            ),
        ),
    );
    desk.run_once();
    assert_eq!(desk.show("TP-1")["status"], "resolved");
    desk.deliver(
        "6.forged-thanks",
        &request(
            "forged-thanks@evil.test",
            "Jane Doe <jane@customer.test>",
            "Re: [TP-1] Laptop will not boot",
            "Thanks, it works now.",
        ),
    );
    desk.run_once();
    assert_eq!(
        desk.show("TP-1")["status"],
        "resolved",
        "a forged confirmation does not close"
    );
    let confirm = mails_to(&desk, "confirmation_request", "jane@customer.test");
    assert_eq!(confirm.len(), 1);
    desk.deliver(
        "7.real-thanks",
        &reply_to(
            &message_id(&confirm[0]),
            request(
                "jane-3@customer.test",
                "Jane Doe <jane@customer.test>",
                "Re: [TP-1] Laptop will not boot",
                "Thanks, it works now.",
            ),
        ),
    );
    desk.run_once();
    assert_eq!(desk.show("TP-1")["status"], "closed");
}

/// Lines of a mail's header block, unfolded or not, over RFC 5322's 998 bytes.
fn long_header_lines(mail: &str) -> Vec<usize> {
    let block = mail.split("\r\n\r\n").next().unwrap_or(mail);
    block
        .split("\r\n")
        .map(str::len)
        .filter(|&n| n > 998)
        .collect()
}

#[test]
fn a_huge_subject_is_kept_raw_but_echoed_bounded() {
    let desk = Desk::with_agents(&[ANN, BOB], "");
    // A 2 MB Subject folded over short lines (the probe used 20.8 MB).
    let folded: String = (0..100_000).map(|i| format!(" word{i:05}x\r\n")).collect();
    let raw = format!(
        "From: Mallory <mallory@evil.test>\r\nTo: support@example.test\r\nSubject:{folded}Message-ID: <huge@evil.test>\r\nDate: Wed, 25 Nov 2026 09:00:00 +0000\r\n\r\nhello\r\n"
    );
    let dir = desk.root().join("var/inbox");
    std::fs::create_dir_all(dir.join("new")).unwrap();
    std::fs::create_dir_all(dir.join("tmp")).unwrap();
    std::fs::write(dir.join("new/1.huge"), &raw).unwrap();
    desk.run_once();
    let t = desk.show("TP-1");
    let subject = t["subject"].as_str().unwrap();
    assert!(
        subject.len() <= 1100,
        "subject kept: {} bytes",
        subject.len()
    );
    assert!(subject.ends_with("[...]"), "the cut is marked");
    let files = outbox_files(&desk);
    assert_eq!(files.len(), 3, "acknowledgement and two notices");
    for (name, mail) in &files {
        assert!(mail.len() < 64 * 1024, "{name}: {} bytes", mail.len());
        assert_eq!(long_header_lines(mail), Vec::<usize>::new(), "{name}");
    }
    // The raw message is kept byte-exact.
    let db = rusqlite::Connection::open(desk.root().join("var/ticketpost.db")).unwrap();
    let row: i64 = db
        .query_row(
            "SELECT id FROM messages WHERE message_id = 'huge@evil.test'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    let stored = ticketpost::store::messages::raw_of(&db, row)
        .unwrap()
        .unwrap();
    assert!(
        stored == raw.as_bytes(),
        "the raw bytes are kept as they came"
    );
}

#[test]
fn a_flood_of_cc_addresses_makes_a_bounded_list_of_participants() {
    let desk = Desk::with_agents(&[ANN], "");
    let cc: Vec<String> = (0..500).map(|i| format!("person{i}@crowd.test")).collect();
    desk.deliver(
        "1.req",
        &with_headers(
            &format!("Cc: {}\n", cc.join(", ")),
            request(
                "crowd-1@customer.test",
                "Jane Doe <jane@customer.test>",
                "Printer on floor 2 is jammed",
                "The printer shows paper jam.",
            ),
        ),
    );
    desk.run_once();
    let t = desk.show("TP-1");
    assert_eq!(t["participants"].as_array().unwrap().len(), 20);
    assert!(timeline(&desk, "TP-1").contains("480 more addresses"));
    let notice = &mails_to(&desk, "agent_notice", "ann@example.test")[0];
    assert!(
        notice.contains("480 more"),
        "Ann is told how many were left out"
    );
    // Ann's reply goes to Jane and the 20, each a copy of their own, with header lines
    // within 998 bytes.
    let before = outbox_files(&desk).len();
    desk.deliver(
        "2.ann",
        &with_headers(
            ANN_VERIFIED,
            request(
                "ann-1@example.test",
                ANN,
                "Re: [TP-1] Printer on floor 2 is jammed",
                "Open tray 2 and pull the sheet out.",
            ),
        ),
    );
    desk.run_once();
    let relays: Vec<(String, String)> = outbox_files(&desk)
        .into_iter()
        .skip(before)
        .filter(|(n, _)| n.ends_with("-relay.eml"))
        .collect();
    assert_eq!(relays.len(), 21);
    let ids: std::collections::HashSet<String> =
        relays.iter().map(|(_, m)| message_id(m)).collect();
    assert_eq!(ids.len(), 21, "each copy has its own Message-ID");
    for (name, mail) in &relays {
        assert_eq!(long_header_lines(mail), Vec::<usize>::new(), "{name}");
    }
}

#[test]
fn knowledge_is_not_offered_to_requesters_by_default() {
    let desk = Desk::with_agents(&[ANN], "");
    desk.deliver(
        "1.req",
        &request(
            "dan-1@customer.test",
            "Dan Smith <dan@customer.test>",
            "Payroll export for Dan Smith salary 185000 fails in SAP",
            "The payroll export fails with error 42.",
        ),
    );
    desk.run_once();
    desk.deliver(
        "2.resolve",
        &with_headers(
            ANN_VERIFIED,
            request(
                "ann-1@example.test",
                ANN,
                "Re: [TP-1] Payroll export for Dan Smith salary 185000 fails in SAP",
                "/resolve cleared the SAP payroll export lock for Dan Smith salary 185000",
            ),
        ),
    );
    desk.run_once();
    desk.deliver(
        "3.stranger",
        &request(
            "eve-1@other.test",
            "Eve <eve@other.test>",
            "payroll export fails in SAP",
            "Our payroll export fails in SAP too.",
        ),
    );
    desk.run_once();
    let ack = &mails_to(&desk, "acknowledgement", "eve@other.test")[0];
    assert!(!ack.contains("185000"), "no internal text to a stranger");
    assert!(!ack.contains("KB-"), "no entry offered");
    let notices = mails_to(&desk, "agent_notice", "ann@example.test");
    assert!(
        notices
            .iter()
            .any(|m| m.contains("KB-") && m.contains("payroll")),
        "agents still see the match"
    );
}

#[test]
fn mail_from_or_replying_to_another_desk_address_is_our_own() {
    let desk = Desk::with_agents(&[ANN], "");
    // other_addresses lives in [desk]: write it there.
    let config = std::fs::read_to_string(&desk.config).unwrap().replacen(
        "[desk]\n",
        "[desk]\nother_addresses = [\"hr@example.test\"]\n",
        1,
    );
    std::fs::write(&desk.config, config).unwrap();
    desk.deliver(
        "1.from-hr",
        &request(
            "hr-1@example.test",
            "HR <hr@example.test>",
            "Payslips are out",
            "Your payslip for November is ready.",
        ),
    );
    desk.deliver(
        "2.reply-to-hr",
        &with_headers(
            "Reply-To: hr@example.test\n",
            request(
                "x-1@customer.test",
                "Someone <someone@customer.test>",
                "Question",
                "What is this?",
            ),
        ),
    );
    desk.run_once();
    let files = outbox_files(&desk);
    assert!(
        !files
            .iter()
            .any(|(_, m)| header(&headers_of(m), "To")
                .is_some_and(|t| t.contains("hr@example.test"))),
        "nothing is sent to the desk's own address"
    );
    // From hr@: our own mail, kept without a ticket, as mail from support@ is.
    assert!(
        desk.tickets()
            .iter()
            .all(|t| t["subject"] != "Payslips are out"),
        "mail from hr@ opens no ticket"
    );
    // Replying to hr@: a ticket like any request, but no acknowledgement to hr@.
    let reply_to_hr = desk
        .tickets()
        .into_iter()
        .find(|t| t["subject"] == "Question")
        .expect("a ticket for the question");
    let line = timeline(&desk, reply_to_hr["token"].as_str().unwrap());
    assert!(line.contains("reply address is our own"), "{line}");
}

#[test]
fn a_size_notice_goes_to_the_from_address_only() {
    let desk = Desk::with_config(50, "[limits]\nmax_message_bytes = 65536\n");
    jane_request(&desk);
    let big: String = (0..5_000)
        .map(|i| format!("line {i:05} of a long log\n"))
        .collect();
    desk.deliver(
        "2.big",
        &with_headers(
            "Reply-To: victim@other.test\n",
            request(
                "jane-2@customer.test",
                "Jane Doe <jane@customer.test>",
                "Re: [TP-1] Laptop will not boot",
                &big,
            ),
        ),
    );
    desk.run_once();
    let notices: Vec<String> = outbox_files(&desk)
        .into_iter()
        .filter(|(n, _)| n.ends_with("-size_notice.eml"))
        .map(|(_, m)| m)
        .collect();
    assert_eq!(notices.len(), 1);
    let to = header(&headers_of(&notices[0]), "To").unwrap().to_string();
    assert!(to.contains("jane@customer.test"), "{to}");
    assert!(!to.contains("victim"), "{to}");
}

#[test]
fn notices_name_the_senders_address_and_a_flood_is_one_summary() {
    let desk = Desk::with_agents(&[ANN], "");
    jane_request(&desk);
    desk.deliver(
        "2.reply",
        &request(
            "jane-2@customer.test",
            "Your IT Director <jane@customer.test>",
            "Re: [TP-1] Laptop will not boot",
            "Any news?",
        ),
    );
    desk.run_once();
    let notices = mails_to(&desk, "agent_notice", "ann@example.test");
    let reply_notice = notices.last().unwrap();
    assert!(
        reply_notice.contains("Your IT Director <jane@customer.test>")
            || reply_notice.contains("Your IT Director &lt;jane@customer.test&gt;"),
        "{reply_notice}"
    );

    // 30 requests from one sender within the hour: 10 notices, then one summary.
    for i in 0..30 {
        desk.deliver(
            &format!("3.flood{i:02}"),
            &request(
                &format!("flood-{i}@flood.test"),
                "Flood <flood@flood.test>",
                &format!("Request number {i}"),
                "Please help.",
            ),
        );
    }
    desk.run_once();
    let about_flood: Vec<String> = mails_to(&desk, "agent_notice", "ann@example.test")
        .into_iter()
        .filter(|m| m.contains("flood@flood.test"))
        .collect();
    assert_eq!(about_flood.len(), 11, "10 notices and one summary");
    assert_eq!(
        about_flood.iter().filter(|m| m.contains("FLOOD")).count(),
        1
    );
}
