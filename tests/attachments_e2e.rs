//! Attachments both ways, end to end through the real binary on the embedded default:
//! a requester's files reach every agent's notice byte-identical, an agent's files
//! reach the requester, a note's files reach agents only, a dangerous file is listed
//! and not attached, `attachments list/get` fetch them, and the store keeps one copy
//! of each file however many mails carry it.

#[path = "support/embedded.rs"]
mod embedded;

#[path = "support/mail_files.rs"]
mod mail_files;

use embedded::{Desk, header};
use mail_files::{b64, exe, files_of, noise, pdf, png, text_of, with_files};
use mail_parser::{MessageParser, MimeHeaders};

const AGENTS: &[&str] = &["Ann Lee <ann@example.test>", "Bob Ray <bob@example.test>"];

/// Every mail the file transport wrote whose name ends with `suffix`.
fn sent(desk: &Desk, suffix: &str) -> Vec<Vec<u8>> {
    desk.sent(suffix)
}

fn to_of(raw: &[u8]) -> String {
    let text = String::from_utf8_lossy(raw);
    header(&text, "To").unwrap_or_default().to_string()
}

fn message_id_of(raw: &[u8]) -> String {
    let m = MessageParser::default().parse(raw).expect("mail parses");
    m.message_id()
        .expect("our mail has a Message-ID")
        .to_string()
}

fn db(desk: &Desk) -> rusqlite::Connection {
    rusqlite::Connection::open(desk.root().join("var/ticketpost.db")).unwrap()
}

fn count(desk: &Desk, sql: &str) -> i64 {
    db(desk).query_row(sql, [], |r| r.get(0)).unwrap()
}

/// Ann's notice of ticket 1, to reply to in its thread (the signed Message-ID proves her).
fn anns_notice(desk: &Desk) -> Vec<u8> {
    sent(desk, "-agent_notice.eml")
        .into_iter()
        .find(|m| to_of(m).contains("ann@example.test"))
        .expect("a notice to Ann")
}

fn agent_reply(desk: &Desk, name: &str, id: &str, text: &str, files: &[(&str, &str, &[u8])]) {
    let notice = anns_notice(desk);
    let irt = message_id_of(&notice);
    let head = format!(
        "From: Ann Lee <ann@example.test>\nTo: support@example.test\nSubject: Re: [TP-1] Printer\nMessage-ID: <{id}>\nIn-Reply-To: <{irt}>\nReferences: <{irt}>\n"
    );
    desk.deliver(name, &with_files(&head, text, files));
}

#[test]
fn files_travel_both_ways_and_are_stored_once() {
    let desk = Desk::with_agents(AGENTS, "");
    let (png, pdf, exe) = (png(), pdf(), exe());
    desk.deliver(
        "1.request",
        &with_files(
            "From: Jane Doe <jane@example.org>\nTo: support@example.test\nSubject: Printer\nMessage-ID: <req-1@example.org>\n",
            "The printer shows this error, see the screenshot and the log.",
            &[
                ("screen shot.png", "image/png", &png),
                ("log.pdf", "application/pdf", &pdf),
                ("setup.exe", "application/octet-stream", &exe),
            ],
        ),
    );
    desk.run_once();

    // Every agent's notice carries the PNG and the PDF, byte-identical; not the .exe,
    // which is listed with its size, SHA-256 and how to fetch it.
    let notices = sent(&desk, "-agent_notice.eml");
    assert_eq!(notices.len(), 2);
    for n in &notices {
        assert_eq!(
            files_of(n),
            vec![
                ("screen shot.png".to_string(), png.clone()),
                ("log.pdf".to_string(), pdf.clone())
            ],
            "to {}",
            to_of(n)
        );
        let text = text_of(n);
        assert!(text.contains("setup.exe"), "{text}");
        assert!(text.contains("ticketpost attachments get TP-1 3"), "{text}");
    }
    // The acknowledgement does not send the requester's files back.
    assert!(files_of(&desk.outbox()[0].clone().into_bytes()).is_empty());

    // `attachments list` and `get`.
    let out = desk.ticketpost(&["attachments", "list", "TP-1", "--json"], None);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let listed: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let names: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["screen shot.png", "log.pdf", "setup.exe"]);
    let target = desk.root().join("got.exe");
    let out = desk.ticketpost(
        &[
            "attachments",
            "get",
            "TP-1",
            "3",
            "-o",
            target.to_str().unwrap(),
        ],
        None,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(std::fs::read(&target).unwrap(), exe);
    let out = desk.ticketpost(&["attachments", "get", "TP-1", "9"], None);
    assert!(!out.status.success());
    let show = desk.ticketpost(&["tickets", "show", "TP-1"], None);
    let show = String::from_utf8_lossy(&show.stdout);
    assert!(show.contains("Attachment 2: log.pdf"), "{show}");

    // Ann's reply relays her file to the requester, byte-identical.
    let fix = noise(12_345, 17);
    agent_reply(
        &desk,
        "2.reply",
        "ann-1@example.test",
        "Please install this driver configuration.",
        &[("printer-config.pdf", "application/pdf", &fix)],
    );
    desk.run_once();
    let relays = sent(&desk, "-relay.eml");
    assert_eq!(relays.len(), 1);
    assert!(to_of(&relays[0]).contains("jane@example.org"));
    assert_eq!(
        files_of(&relays[0]),
        vec![("printer-config.pdf".to_string(), fix.clone())]
    );

    // A note's file goes to the other agents only.
    let internal = noise(3_000, 19);
    agent_reply(
        &desk,
        "3.note",
        "ann-2@example.test",
        "/note\nThe vendor's internal bulletin, not for the requester.",
        &[("bulletin.pdf", "application/pdf", &internal)],
    );
    desk.run_once();
    assert_eq!(sent(&desk, "-relay.eml").len(), 1, "a note is not relayed");
    let with_bulletin: Vec<String> = std::fs::read_dir(desk.root().join("var/outbox"))
        .unwrap()
        .map(|e| std::fs::read(e.unwrap().path()).unwrap())
        .filter(|m| {
            files_of(m)
                .iter()
                .any(|(n, b)| n == "bulletin.pdf" && *b == internal)
        })
        .map(|m| to_of(&m))
        .collect();
    assert_eq!(
        with_bulletin.len(),
        1,
        "{with_bulletin:?} {}",
        desk.show("TP-1")
    );
    assert!(
        with_bulletin[0].contains("bob@example.test"),
        "{with_bulletin:?}"
    );

    // The requester's follow-up: its file reaches the assignee's notice.
    let photo = noise(9_000, 29);
    desk.deliver(
        "4.follow-up",
        &with_files(
            "From: Jane Doe <jane@example.org>\nTo: support@example.test\nSubject: Re: [TP-1] Printer\nMessage-ID: <req-2@example.org>\n",
            "Still jams, photo attached.",
            &[("jam.jpg", "image/jpeg", &photo)],
        ),
    );
    desk.run_once();
    let with_photo: Vec<String> = std::fs::read_dir(desk.root().join("var/outbox"))
        .unwrap()
        .map(|e| std::fs::read(e.unwrap().path()).unwrap())
        .filter(|m| files_of(m) == vec![("jam.jpg".to_string(), photo.clone())])
        .map(|m| to_of(&m))
        .collect();
    assert_eq!(with_photo.len(), 1, "{with_photo:?}");
    assert!(with_photo[0].contains("ann@example.test"), "{with_photo:?}");
    let out = desk.ticketpost(&["attachments", "list", "TP-1"], None);
    let listed = String::from_utf8_lossy(&out.stdout);
    assert!(listed.contains("  6  jam.jpg  image/jpeg"), "{listed}");

    // One copy of each file, and no outbox row holds the bytes.
    assert_eq!(count(&desk, "SELECT count(*) FROM file_blobs"), 6);
    let biggest_row = count(&desk, "SELECT max(length(raw)) FROM outbox");
    assert!(
        biggest_row < 16_000,
        "an outbox row holds {biggest_row} bytes"
    );
    assert_eq!(
        count(&desk, "SELECT count(*) FROM outbox_files"),
        // Two notices with two files, the relay, the note to Bob, the follow-up notice.
        2 * 2 + 1 + 1 + 1
    );
}

/// The store's size after a checkpoint (the WAL folded in).
fn store_bytes(desk: &Desk) -> u64 {
    let conn = db(desk);
    conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
        .unwrap();
    drop(conn);
    std::fs::metadata(desk.root().join("var/ticketpost.db"))
        .unwrap()
        .len()
}

#[test]
fn a_relayed_megabyte_grows_the_store_by_about_its_own_size_not_per_recipient() {
    let desk = Desk::with_agents(AGENTS, "");
    desk.deliver(
        "1.request",
        "From: Jane Doe <jane@example.org>\nTo: support@example.test\nCc: Max <max@example.org>, Kim <kim@example.org>\nSubject: Printer\nMessage-ID: <req-1@example.org>\nDate: Wed, 25 Nov 2026 09:00:00 +0000\n\nIt jams.\n",
    );
    desk.run_once();
    let before = store_bytes(&desk);
    let megabyte = noise(1 << 20, 23);
    agent_reply(
        &desk,
        "2.reply",
        "ann-1@example.test",
        "The manual, chapter 4.",
        &[("manual.pdf", "application/pdf", &megabyte)],
    );
    desk.run_once();
    let relays = sent(&desk, "-relay.eml");
    assert_eq!(relays.len(), 3, "requester and two participants");
    for r in &relays {
        assert_eq!(
            files_of(r),
            vec![("manual.pdf".to_string(), megabyte.clone())]
        );
    }
    let growth = store_bytes(&desk) - before;
    let mb = |n: u64| n as f64 / (1 << 20) as f64;
    // The received message (kept raw, base64: 1.37 MB) plus the file once (1 MB);
    // the three relays add a few KB each, not a megabyte each.
    eprintln!(
        "store growth for 1 MiB relayed to 3 people: {:.2} MiB (raw message {:.2} MiB, file {:.2} MiB, outbox {} bytes)",
        mb(growth),
        mb(count(
            &desk,
            "SELECT max(coalesce(raw_len, length(raw))) FROM messages"
        ) as u64),
        mb(count(&desk, "SELECT sum(size) FROM file_blobs") as u64),
        count(&desk, "SELECT sum(length(raw)) FROM outbox"),
    );
    assert!(mb(growth) < 2.6, "grew {:.2} MiB", mb(growth));
    assert!(count(&desk, "SELECT sum(length(raw)) FROM outbox") < 100_000);
}

#[test]
fn an_inline_image_shows_in_the_notice_and_a_forwarded_message_stays_attached() {
    let desk = Desk::with_agents(AGENTS, "");
    let logo = png();
    let raw = format!(
        "From: Jane Doe <jane@example.org>\nTo: support@example.test\nSubject: Error dialog\nMessage-ID: <req-9@example.org>\nDate: Wed, 25 Nov 2026 09:00:00 +0000\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"MM\"\n\n--MM\nContent-Type: multipart/related; boundary=\"RR\"\n\n--RR\nContent-Type: text/html; charset=utf-8\n\n<p>This dialog:</p><img src=\"cid:dialog@jane\">\n--RR\nContent-Type: image/png; name=\"dialog.png\"\nContent-ID: <dialog@jane>\nContent-Disposition: inline; filename=\"dialog.png\"\nContent-Transfer-Encoding: base64\n\n{}\n--RR--\n--MM\nContent-Type: message/rfc822\n\nFrom: boss@example.org\nTo: jane@example.org\nSubject: please report it\nMessage-ID: <fw-1@example.org>\n\nPlease report this.\n--MM--\n",
        b64(&logo)
    );
    desk.deliver("1.request", &raw);
    desk.run_once();
    let notices = sent(&desk, "-agent_notice.eml");
    assert_eq!(notices.len(), 2);
    for n in &notices {
        let m = MessageParser::default().parse(n).unwrap();
        let html = m.body_html(0).unwrap_or_default().into_owned();
        assert!(html.contains("cid:dialog@jane"), "{html}");
        let image = m
            .attachments()
            .find(|a| a.content_id() == Some("dialog@jane"))
            .expect("the inline image is carried with its Content-ID");
        assert_eq!(image.contents(), logo.as_slice());
        let forwarded = m
            .attachments()
            .find(|a| a.is_message())
            .expect("the forwarded message stays an attachment");
        assert_eq!(
            forwarded.message().and_then(|f| f.subject()),
            Some("please report it")
        );
        assert!(String::from_utf8_lossy(n).contains("multipart/related"));
    }
}

#[test]
fn files_over_the_relay_limit_are_listed_not_carried() {
    let desk = Desk::with_agents(AGENTS, "[limits]\nrelay_attachments_bytes = 25000\n");
    let (png, pdf) = (png(), pdf());
    desk.deliver(
        "1.request",
        &with_files(
            "From: Jane Doe <jane@example.org>\nTo: support@example.test\nSubject: Printer\nMessage-ID: <req-1@example.org>\n",
            "Screenshot and log.",
            &[("shot.png", "image/png", &png), ("log.pdf", "application/pdf", &pdf)],
        ),
    );
    desk.run_once();
    for n in sent(&desk, "-agent_notice.eml") {
        // The PNG (20 KB) fits; the PDF (30 KB) would take the mail past 25,000 bytes.
        assert_eq!(files_of(&n), vec![("shot.png".to_string(), png.clone())]);
        let text = text_of(&n);
        assert!(text.contains("2. log.pdf"), "{text}");
        assert!(text.contains("relay_attachments_bytes"), "{text}");
        assert!(text.contains("ticketpost attachments get TP-1 2"), "{text}");
    }
    let bad = Desk::with_agents(AGENTS, "[limits]\nrelay_attachments_bytes = -5\n");
    let out = bad.ticketpost(&["check"], None);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("[limits] relay_attachments_bytes"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn an_agents_file_with_no_text_is_relayed_to_the_requester() {
    let desk = Desk::with_agents(AGENTS, "");
    desk.deliver(
        "1.request",
        "From: Jane Doe <jane@example.org>\nTo: support@example.test\nSubject: Printer\nMessage-ID: <req-1@example.org>\n\nThe printer needs a driver.\n",
    );
    desk.run_once();
    let pdf = pdf();
    // Only a command line above the quote, and the driver attached.
    agent_reply(
        &desk,
        "2.ann",
        "ann-1@example.test",
        "/priority P2",
        &[("driver.pdf", "application/pdf", &pdf)],
    );
    desk.run_once();
    let relays: Vec<Vec<u8>> = sent(&desk, "-relay.eml")
        .into_iter()
        .filter(|m| to_of(m).contains("jane@example.org"))
        .collect();
    assert_eq!(relays.len(), 1, "one relay to Jane");
    assert_eq!(
        files_of(&relays[0]),
        vec![("driver.pdf".to_string(), pdf.clone())]
    );
    assert!(
        !text_of(&relays[0]).contains("/priority"),
        "command lines are not relayed"
    );
}

#[test]
fn the_requester_reads_the_list_of_withheld_files_in_their_language() {
    let desk = Desk::with_agents(AGENTS, "");
    desk.deliver(
        "1.request",
        "From: Li Lei <lilei@example.cn>\nTo: support@example.test\nSubject: 打印机驱动\nMessage-ID: <req-zh@example.cn>\nContent-Type: text/plain; charset=utf-8\n\n三楼的打印机需要新的驱动程序，请帮忙处理。\n",
    );
    desk.run_once();
    let (exe, pdf) = (exe(), pdf());
    agent_reply(
        &desk,
        "2.ann",
        "ann-zh@example.test",
        "Here is the driver and its installer.",
        &[
            ("driver.pdf", "application/pdf", &pdf),
            ("setup.exe", "application/octet-stream", &exe),
        ],
    );
    desk.run_once();
    let relays = sent(&desk, "-relay.eml");
    assert_eq!(relays.len(), 1);
    assert_eq!(files_of(&relays[0]), vec![("driver.pdf".to_string(), pdf)]);
    let text = text_of(&relays[0]);
    assert!(
        text.contains("[ticketpost：以下附件未随本邮件发送]"),
        "{text}"
    );
    assert!(text.contains("2. setup.exe"), "{text}");
    assert!(
        text.contains("Windows 可执行文件（MZ），出于安全考虑未附上"),
        "{text}"
    );
    assert!(text.contains("请回复本邮件"), "{text}");
    // Requesters have no shell on the server: no command, no dashboard link.
    assert!(!text.contains("ticketpost attachments get"), "{text}");
}
