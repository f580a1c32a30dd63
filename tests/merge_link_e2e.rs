//! `/merge`, `/link`, `/reply KB-n` and `/macro` end to end, through the real binary on
//! the embedded default (Maildir in, .eml files out): agents reply to the notices the
//! desk sent them (quoting its signed Message-ID, which proves the sender), and every
//! assertion reads `tickets show --json` or the mail written to the outbox.

#[path = "support/embedded.rs"]
mod embedded;

use embedded::{Desk, header, request};

const MACROS: &str = r#"
[[macro]]
name = "need-logs"
text = "Please send us the printer's error log."
commands = ["/status waiting", "/priority P2"]
"#;

/// Mail of `kind` (the file name's suffix) to `to` whose subject holds `subject`.
fn mails(desk: &Desk, kind: &str, to: &str, subject: &str) -> Vec<String> {
    desk.sent_text(&format!("-{kind}.eml"))
        .into_iter()
        .filter(|m| {
            header(m, "To").is_some_and(|t| t.contains(to))
                && header(m, "Subject").is_some_and(|s| s.contains(subject))
        })
        .collect()
}

/// The Message-ID of the newest agent notice to Ann about `token`, as `<id>`.
fn notice_id(desk: &Desk, token: &str) -> String {
    let notices = mails(
        desk,
        "agent_notice",
        "ann@example.test",
        &format!("[{token}]"),
    );
    let last = notices
        .last()
        .unwrap_or_else(|| panic!("no notice about {token}"));
    header(last, "Message-ID").unwrap().to_string()
}

/// Ann's reply to her notice about `token`: in its thread, so her commands run.
fn ann_replies(desk: &Desk, file: &str, token: &str, body: &str) {
    let notice = notice_id(desk, token);
    desk.deliver(
        file,
        &format!(
            "From: Ann Lee <ann@example.test>\nTo: support@example.test\nSubject: Re: [{token}] notice\n\
             Message-ID: <{file}@example.test>\nIn-Reply-To: {notice}\nReferences: {notice}\n\
             Date: Wed, 25 Nov 2026 10:00:00 +0000\nContent-Type: text/plain; charset=utf-8\n\n{body}\n"
        ),
    );
    desk.run_once();
}

/// A mail's decoded subject and text part.
fn decoded(mail: &str) -> (String, String) {
    let m = ticketpost::inbound::parse(mail.as_bytes().to_vec()).expect("our mail parses");
    (m.subject, m.text_body)
}

/// Decoded text of a mail's body (quoted-printable soft breaks joined), for searching.
fn body_text(mail: &str) -> String {
    mail.replace("=\r\n", "").replace("=\n", "")
}

fn three_tickets(desk: &Desk) {
    desk.deliver(
        "1.jane",
        &request(
            "req-1@example.org",
            "Jane <jane@example.org>",
            "Printer on floor 3 prints blank pages",
            "Since this morning every page comes out blank.",
        ),
    );
    desk.deliver(
        "2.li",
        &request(
            "req-2@example.cn",
            "Li Lei <lilei@example.cn>",
            "三楼打印机打印空白页",
            "三楼的打印机从今天早上开始一直打印空白页，请帮忙处理。",
        ),
    );
    desk.deliver(
        "3.carl",
        &request(
            "req-3@example.net",
            "Carl <carl@example.net>",
            "Scanner on floor 3 jams",
            "The scanner next to the printer jams on every sheet.",
        ),
    );
    desk.run_once();
    assert_eq!(desk.tickets().len(), 3);
}

#[test]
fn after_a_merge_the_merged_tickets_mail_lands_on_the_survivor() {
    let desk = Desk::with_agents(&["Ann Lee <ann@example.test>"], "");
    three_tickets(&desk);

    // TP-2 (Li Lei, in Chinese) is the same outage as TP-1: Ann merges it.
    ann_replies(&desk, "ann-merge", "TP-2", "/merge TP-1");
    let merged = desk.show("TP-2");
    assert_eq!(merged["status"], "merged");
    assert_eq!(merged["merged_into"], "TP-1");
    assert!(
        merged["timeline"].to_string().contains("merged into TP-1"),
        "{}",
        merged["timeline"]
    );
    // Its clocks stop: none runs.
    for clock in merged["sla"].as_array().unwrap() {
        assert_ne!(clock["state"], "running", "{clock}");
    }
    let survivor = desk.show("TP-1");
    assert_eq!(survivor["status"], "open");
    assert_eq!(survivor["merged_into"], serde_json::Value::Null);
    assert_eq!(survivor["merged_from"], serde_json::json!(["TP-2"]));
    assert!(
        survivor["participants"]
            .to_string()
            .contains("lilei@example.cn"),
        "{}",
        survivor["participants"]
    );
    assert!(
        survivor["timeline"]
            .to_string()
            .contains("TP-2 merged into this ticket")
    );
    // The merged ticket's messages and timeline are readable under both tokens.
    let timeline = survivor["timeline"].to_string();
    assert!(timeline.contains("TP-2: merged into TP-1"), "{timeline}");
    assert!(merged["messages"].to_string().contains("三楼的打印机"));
    assert!(survivor["messages"].to_string().contains("三楼的打印机"));

    // Each requester is told once, in their language: Li Lei (Chinese) that TP-2 is
    // now TP-1; Jane (English) that TP-2 joined her TP-1 and its people get replies.
    let told = mails(&desk, "merged", "lilei@example.cn", "TP-2");
    assert_eq!(told.len(), 1, "{told:?}");
    let (subject, text) = decoded(&told[0]);
    assert_eq!(subject, "[TP-2] 已并入 TP-1：三楼打印机打印空白页");
    assert!(text.contains("我们已将两者合并"), "{text}");
    assert!(mails(&desk, "merged", "jane@example.org", "").is_empty());
    let jane_told = mails(&desk, "merged_here", "jane@example.org", "TP-1");
    assert_eq!(jane_told.len(), 1, "{jane_told:?}");
    let (subject, text) = decoded(&jane_told[0]);
    assert_eq!(
        subject,
        "[TP-1] TP-2 merged into your ticket: Printer on floor 3 prints blank pages"
    );
    assert!(text.contains("will also receive our replies"), "{text}");
    assert!(mails(&desk, "merged_here", "lilei@example.cn", "").is_empty());
    assert!(
        mails(&desk, "closing", "lilei@example.cn", "").is_empty(),
        "no closing mail"
    );

    // Li Lei answers with the merged token in the subject, not in any thread: it lands
    // on TP-1, whose agents are told.
    desk.deliver(
        "4.li",
        &request(
            "li-2@example.cn",
            "Li Lei <lilei@example.cn>",
            "Re: [TP-2] 三楼打印机打印空白页",
            "现在打印机显示错误代码 E-42。",
        ),
    );
    // And Jane's reply to her acknowledgement (a mail of TP-1) still lands there too.
    let ack = mails(&desk, "acknowledgement", "jane@example.org", "TP-1");
    let ack_id = header(&ack[0], "Message-ID").unwrap().to_string();
    desk.deliver(
        "5.jane",
        &format!(
            "From: Jane <jane@example.org>\nTo: support@example.test\nSubject: Re: printer\n\
             Message-ID: <jane-2@example.org>\nIn-Reply-To: {ack_id}\n\nStill blank.\n"
        ),
    );
    desk.run_once();
    assert_eq!(desk.tickets().len(), 3, "no ticket opened");
    let survivor = desk.show("TP-1");
    let messages = survivor["messages"].to_string();
    assert!(messages.contains("E-42"), "{messages}");
    assert!(messages.contains("Still blank."), "{messages}");
    let merged = desk.show("TP-2");
    assert_eq!(merged["status"], "merged");
    assert!(!merged["messages"].to_string().contains("E-42"));

    // A reply to the merge mail Li Lei got (a mail of TP-2) lands on TP-1 as well.
    let merge_mail_id = header(&told[0], "Message-ID").unwrap().to_string();
    desk.deliver(
        "6.li",
        &format!(
            "From: Li Lei <lilei@example.cn>\nTo: support@example.test\nSubject: Re: merged\n\
             Message-ID: <li-3@example.cn>\nIn-Reply-To: {merge_mail_id}\n\n好的，谢谢。\n"
        ),
    );
    desk.run_once();
    assert!(
        desk.show("TP-1")["messages"]
            .to_string()
            .contains("好的，谢谢")
    );
    assert_eq!(desk.tickets().len(), 3);
}

#[test]
fn merges_into_itself_unknown_tickets_or_loops_are_refused_naming_the_line() {
    let desk = Desk::with_agents(&["Ann Lee <ann@example.test>"], "");
    three_tickets(&desk);
    ann_replies(&desk, "ann-merge", "TP-2", "/merge TP-1");

    // TP-1 into TP-2 would make a loop; into itself and into TP-99 make no sense.
    for (file, body, reason) in [
        ("ann-loop", "Same thing.\n/merge TP-2", "loop"),
        ("ann-self", "/merge TP-1", "into itself"),
        ("ann-unknown", "/merge TP-99", "no ticket TP-99"),
    ] {
        let before = mails(&desk, "command_error", "ann@example.test", "").len();
        ann_replies(&desk, file, "TP-1", body);
        let errors = mails(&desk, "command_error", "ann@example.test", "");
        assert_eq!(errors.len(), before + 1, "{body:?}");
        let text = body_text(errors.last().unwrap());
        let line = body.lines().last().unwrap();
        assert!(text.contains(line), "{body:?}: {text}");
        assert!(text.contains(reason), "{body:?}: {text}");
    }
    let t = desk.show("TP-1");
    assert_eq!(t["status"], "open");
    assert_eq!(t["merged_into"], serde_json::Value::Null);
    assert_eq!(desk.show("TP-2")["merged_into"], "TP-1");
}

#[test]
fn chains_resolve_to_the_last_survivor() {
    let desk = Desk::with_agents(&["Ann Lee <ann@example.test>"], "");
    three_tickets(&desk);
    ann_replies(&desk, "ann-merge-2", "TP-2", "/merge TP-1");
    // TP-1 goes into TP-3: TP-2's chain now ends there too.
    ann_replies(&desk, "ann-merge-1", "TP-1", "/merge TP-3");
    assert_eq!(desk.show("TP-2")["merged_into"], "TP-3");
    assert_eq!(desk.show("TP-1")["merged_into"], "TP-3");
    // TP-1's requester side is told once each, in TP-1's language (English): Jane,
    // and Li Lei, who joined TP-1 when TP-2 was merged into it.
    let sent: Vec<String> = desk.show("TP-1")["mails"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["kind"] == "merged")
        .map(|m| m["to"].to_string())
        .collect();
    assert_eq!(
        sent,
        vec!["[\"jane@example.org\"]", "[\"lilei@example.cn\"]"],
        "one copy each"
    );
    let told = mails(&desk, "merged", "jane@example.org", "TP-1");
    let (subject, text) = decoded(&told[0]);
    assert_eq!(
        subject,
        "[TP-1] Merged into TP-3: Printer on floor 3 prints blank pages"
    );
    assert!(text.contains("we have merged the two"), "{text}");
    let listed = desk.tickets();
    let status = |token: &str| {
        listed
            .iter()
            .find(|t| t["token"] == token)
            .map(|t| t["status"].clone())
    };
    assert_eq!(status("TP-1"), Some("merged".into()));
    assert_eq!(status("TP-2"), Some("merged".into()));
    assert_eq!(status("TP-3"), Some("open".into()));
    // Mail with TP-2's token lands on TP-3; Li Lei (TP-2's requester) is on it now.
    desk.deliver(
        "7.li",
        &request(
            "li-9@example.cn",
            "Li Lei <lilei@example.cn>",
            "Re: [TP-2] 三楼打印机打印空白页",
            "还是不行。",
        ),
    );
    desk.run_once();
    assert_eq!(desk.tickets().len(), 3, "no ticket opened");
    let survivor = desk.show("TP-3");
    assert!(survivor["messages"].to_string().contains("还是不行"));
    // Its messages include those of both merged tickets.
    let messages = survivor["messages"].to_string();
    assert!(messages.contains("三楼的打印机") && messages.contains("every page comes out blank"));
    // Merging TP-3 into TP-2 (merged into TP-3 along the chain) would make a loop.
    ann_replies(&desk, "ann-loop-2", "TP-3", "/merge TP-2");
    let errors = mails(&desk, "command_error", "ann@example.test", "");
    let text = body_text(errors.last().unwrap());
    assert!(
        text.contains("/merge TP-2") && text.contains("loop"),
        "{text}"
    );
    assert_eq!(desk.show("TP-3")["status"], "open");
}

#[test]
fn links_show_on_both_tickets_and_in_their_notices() {
    let desk = Desk::with_agents(&["Ann Lee <ann@example.test>"], "");
    three_tickets(&desk);
    ann_replies(&desk, "ann-link", "TP-3", "/link TP-1");
    let (one, three) = (desk.show("TP-1"), desk.show("TP-3"));
    assert_eq!(one["linked"], serde_json::json!(["TP-3"]));
    assert_eq!(three["linked"], serde_json::json!(["TP-1"]));
    assert!(one["timeline"].to_string().contains("linked to TP-3"));
    assert!(three["timeline"].to_string().contains("linked to TP-1"));

    // The next notice about either ticket lists the other.
    for (i, (token, from)) in [
        ("TP-1", "Jane <jane@example.org>"),
        ("TP-3", "Carl <carl@example.net>"),
    ]
    .into_iter()
    .enumerate()
    {
        desk.deliver(
            &format!("{i}.more"),
            &request(
                &format!("more-{i}@example.org"),
                from,
                &format!("Re: [{token}] more"),
                "One more detail.",
            ),
        );
    }
    desk.run_once();
    let about_one = mails(&desk, "agent_notice", "ann@example.test", "[TP-1]");
    assert!(body_text(about_one.last().unwrap()).contains("Linked:    TP-3"));
    let about_three = mails(&desk, "agent_notice", "ann@example.test", "[TP-3]");
    assert!(body_text(about_three.last().unwrap()).contains("Linked:    TP-1"));
}

#[test]
fn reply_kb_and_macros_relay_the_right_text() {
    let desk = Desk::with_agents(&["Ann Lee <ann@example.test>"], MACROS);
    three_tickets(&desk);
    let added = desk.ticketpost(
        &[
            "kb",
            "add",
            "--title",
            "Blank pages",
            "--problem",
            "The printer prints blank pages",
            "--solution",
            "Replace the toner cartridge and print a test page.",
        ],
        None,
    );
    assert!(
        added.status.success(),
        "{}",
        String::from_utf8_lossy(&added.stderr)
    );

    ann_replies(&desk, "ann-kb", "TP-1", "Hello Jane,\n/reply KB-1");
    let relays = mails(&desk, "relay", "jane@example.org", "TP-1");
    assert_eq!(relays.len(), 1);
    let text = body_text(&relays[0]);
    assert!(text.contains("Hello Jane,"), "{text}");
    assert!(text.contains("Replace the toner cartridge"), "{text}");
    assert!(!text.contains("/reply"), "{text}");

    ann_replies(&desk, "ann-macro", "TP-3", "Hi Carl,\n/macro need-logs");
    let relays = mails(&desk, "relay", "carl@example.net", "TP-3");
    assert_eq!(relays.len(), 1);
    let text = body_text(&relays[0]);
    assert!(
        text.contains("Please send us the printer's error log."),
        "{text}"
    );
    let t = desk.show("TP-3");
    assert_eq!(
        (t["status"].as_str(), t["priority"].as_str()),
        (Some("waiting"), Some("P2"))
    );

    // Unknown entries and macros are command errors, and change nothing.
    for (file, body, reason) in [
        ("ann-nokb", "/reply KB-9", "no knowledge-base entry KB-9"),
        ("ann-nomacro", "/macro nope", "no macro"),
    ] {
        ann_replies(&desk, file, "TP-1", body);
        let errors = mails(&desk, "command_error", "ann@example.test", "");
        let text = body_text(errors.last().unwrap());
        assert!(text.contains(body) && text.contains(reason), "{text}");
    }
    assert_eq!(mails(&desk, "relay", "jane@example.org", "TP-1").len(), 1);
}
