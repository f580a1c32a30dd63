//! Tickets on someone's behalf, through the real `ticketpost` binary on the embedded
//! default: Ann (an agent) forwards a requester's mail to the support address, inline
//! as Outlook, Gmail, Apple Mail and Thunderbird write it (English and Chinese
//! headers) or as an attached .eml, or writes `/new Name <address>` for a phone call.
//! Proven by DKIM pass from the trusted MTA, the ticket is the original sender's, the
//! acknowledgement goes to them, Ann is `opened_by` and her words are a note; unproven,
//! the mail is Ann's own request and nothing goes to the address named inside it.

#[path = "support/embedded.rs"]
mod embedded;
use embedded::{Desk, header, request};
use serde_json::Value;

const DKIM_PASS: &str = "Authentication-Results: mx.desk.test; dkim=pass header.d=example.test";

fn desk() -> Desk {
    Desk::with_agents(
        &["Ann Lee <ann@example.test>", "Bob Roe <bob@example.test>"],
        "",
    )
}

/// `raw` with our MTA's DKIM pass for example.test on top.
fn proven(raw: &str) -> String {
    format!("{DKIM_PASS}\n{raw}")
}

fn from_ann(id: &str, subject: &str, body: &str) -> String {
    request(id, "Ann Lee <ann@example.test>", subject, body)
}

/// The acknowledgement sent to `address`, if one was.
fn acknowledgement_to(desk: &Desk, address: &str) -> Option<String> {
    desk.outbox()
        .into_iter()
        .find(|m| header(m, "To").is_some_and(|to| to.contains(address)))
}

/// Every .eml the file transport wrote.
fn all_mail(desk: &Desk) -> Vec<String> {
    desk.sent_text(".eml")
}

fn timeline_has(ticket: &Value, kind: &str, needle: &str) -> bool {
    ticket["timeline"].as_array().is_some_and(|events| {
        events
            .iter()
            .any(|e| e["kind"] == kind && e["detail"].as_str().is_some_and(|d| d.contains(needle)))
    })
}

const FORWARDS: [(&str, &str, &str, &str); 8] = [
    (
        "outlook-en",
        "carol@customer.test",
        "Printer on floor 3 jams",
        "/priority P2\nPlease look at this.\n\n-----Original Message-----\nFrom: Carol Diaz <carol@customer.test>\nSent: Monday, March 2, 2026 9:14 AM\nTo: Ann Lee <ann@example.test>\nSubject: Printer on floor 3 jams\n\nHi Ann,\nthe printer jams again.\nCarol",
    ),
    (
        "outlook-zh",
        "wang.fang@customer.test",
        "打印机卡纸",
        "请处理。\n\n-----原始邮件-----\n发件人: 王芳 <wang.fang@customer.test>\n发送时间: 2026年3月2日 9:14\n收件人: Ann Lee <ann@example.test>\n主题: 打印机卡纸\n\n你好，三楼打印机又卡纸了。",
    ),
    (
        "gmail-en",
        "dan@customer.test",
        "VPN drops every hour",
        "see below\n\n---------- Forwarded message ---------\nFrom: Dan Wu <dan@customer.test>\nDate: Mon, Mar 2, 2026 at 9:14 AM\nSubject: VPN drops every hour\nTo: <ann@example.test>\n\n\nThe VPN drops every hour.",
    ),
    (
        "gmail-zh",
        "li.lei@customer.test",
        "VPN 每小时断开",
        "---------- 转发的邮件 ---------\n发件人：李雷 <li.lei@customer.test>\n日期：2026年3月2日周一 上午9:14\n主题：VPN 每小时断开\n收件人：<ann@example.test>\n\n\nVPN 每小时断开一次。",
    ),
    (
        "apple-en",
        "erin@customer.test",
        "Laptop will not boot",
        "/assign bob\n\nBegin forwarded message:\n\n> From: Erin Fox <erin@customer.test>\n> Subject: Laptop will not boot\n> Date: 2 March 2026 at 09:14:00 CET\n> To: Ann Lee <ann@example.test>\n> \n\nMy laptop will not boot.",
    ),
    (
        "apple-zh",
        "han.mei@customer.test",
        "笔记本无法启动",
        "转发的邮件：\n\n发件人: 韩梅 <han.mei@customer.test>\n主题: 笔记本无法启动\n日期: 2026年3月2日 GMT+8 09:14:00\n收件人: Ann Lee <ann@example.test>\n\n我的笔记本无法启动。",
    ),
    (
        "thunderbird-en",
        "gus@customer.test",
        "Shared drive is full",
        "Gus called too.\n\n-------- Forwarded Message --------\nSubject: \tShared drive is full\nDate: \tMon, 2 Mar 2026 09:14:00 +0100\nFrom: \tGus Hall <gus@customer.test>\nTo: \tsupport@example.test\n\nThe shared drive is full.",
    ),
    (
        "thunderbird-zh",
        "zhao.min@customer.test",
        "共享盘满了",
        "-------- 转发的消息 --------\n主题： \t共享盘满了\n日期： \tMon, 2 Mar 2026 09:14:00 +0800\n发件人： \t赵敏 <zhao.min@customer.test>\n收件人： \tsupport@example.test\n\n共享盘满了。",
    ),
];

#[test]
fn each_clients_inline_forward_en_and_zh_is_a_ticket_for_the_original_sender() {
    let desk = desk();
    for (i, (name, _, _, body)) in FORWARDS.iter().enumerate() {
        let raw = proven(&from_ann(
            &format!("{name}@example.test"),
            &format!("Fwd: forward {i}"),
            body,
        ));
        desk.deliver(&format!("{i}.{name}"), &raw);
    }
    desk.run_once();
    let tickets = desk.tickets();
    assert_eq!(tickets.len(), FORWARDS.len(), "{tickets:?}");
    for (name, requester, subject, _) in FORWARDS {
        let t = tickets
            .iter()
            .find(|t| t["requester"] == requester)
            .unwrap_or_else(|| panic!("{name}: no ticket for {requester}: {tickets:?}"));
        assert_eq!(t["subject"], subject, "{name}");
        let token = t["token"].as_str().expect("token");
        let shown = desk.show(token);
        assert_eq!(shown["opened_by"], "ann@example.test", "{name}");
        assert!(
            timeline_has(&shown, "on_behalf", "on behalf of"),
            "{name}: {shown}"
        );
        let ack = acknowledgement_to(&desk, requester)
            .unwrap_or_else(|| panic!("{name}: no acknowledgement to {requester}"));
        assert!(ack.contains(token), "{name}");
    }
    assert!(
        acknowledgement_to(&desk, "ann@example.test").is_none(),
        "the forwarding agent gets no acknowledgement"
    );
    // Ann's own words: a note, and her commands ran.
    let carol = desk.show("TP-1");
    assert_eq!(carol["requester"], "carol@customer.test");
    assert_eq!(carol["priority"], "P2");
    assert!(timeline_has(&carol, "note", "Please look at this."));
    let erin = tickets
        .iter()
        .find(|t| t["requester"] == "erin@customer.test")
        .expect("erin's ticket");
    assert_eq!(erin["assignee"], "bob@example.test");
    // Assigned by the forward: the new-ticket notice goes to Bob alone.
    let erin_token = erin["token"].as_str().expect("token");
    let notices: Vec<String> = all_mail(&desk)
        .into_iter()
        .filter(|m| {
            header(m, "Subject").is_some_and(|s| s.contains(&format!("[{erin_token}]")))
                && !header(m, "To").unwrap_or("").contains("erin@customer.test")
        })
        .collect();
    assert_eq!(notices.len(), 1, "{notices:?}");
    assert!(header(&notices[0], "To").is_some_and(|to| to.contains("bob@example.test")));
    // The original's text is the request; Ann's words are not sent to Carol.
    let ack = acknowledgement_to(&desk, "carol@customer.test").expect("ack");
    assert!(ack.contains("the printer jams again"));
    assert!(!ack.contains("Please look at this."));
}

#[test]
fn an_attached_eml_is_a_ticket_for_its_sender() {
    let desk = desk();
    let raw = "From: Ann Lee <ann@example.test>\nTo: support@example.test\nSubject: Fwd: VPN drops\nDate: Wed, 25 Nov 2026 09:00:00 +0000\nMessage-ID: <fwd-eml@example.test>\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"b1\"\n\n--b1\nContent-Type: text/plain; charset=utf-8\n\n/priority P1\nUrgent, see the attached mail.\n--b1\nContent-Type: message/rfc822\nContent-Disposition: attachment; filename=\"vpn.eml\"\n\nFrom: Wang Fang <wang.fang@customer.test>\nTo: ann@example.test\nSubject: VPN drops\nMessage-ID: <orig@customer.test>\nContent-Type: text/plain; charset=utf-8\n\nThe VPN drops every hour since Monday.\n--b1--\n";
    desk.deliver("1.eml", &proven(raw));
    desk.run_once();
    let t = desk.show("TP-1");
    assert_eq!(t["requester"], "wang.fang@customer.test");
    assert_eq!(t["subject"], "VPN drops");
    assert_eq!(t["opened_by"], "ann@example.test");
    assert_eq!(t["priority"], "P1");
    assert!(timeline_has(&t, "note", "Urgent, see the attached mail."));
    let ack = acknowledgement_to(&desk, "wang.fang@customer.test").expect("ack to Wang Fang");
    assert!(ack.contains("The VPN drops every hour"));
    assert!(acknowledgement_to(&desk, "ann@example.test").is_none());
}

#[test]
fn an_unverified_forward_is_the_forwarders_request_and_nothing_goes_to_the_named_address() {
    let desk = desk();
    let (_, _, _, body) = FORWARDS[0];
    desk.deliver(
        "1.fwd",
        &from_ann("forged@example.test", "Fwd: printer", body),
    );
    desk.run_once();
    let t = desk.show("TP-1");
    assert_eq!(t["requester"], "ann@example.test");
    assert_eq!(t["opened_by"], Value::Null);
    for mail in all_mail(&desk) {
        assert!(
            !header(&mail, "To")
                .unwrap_or("")
                .contains("carol@customer.test")
        );
        assert!(
            !header(&mail, "Cc")
                .unwrap_or("")
                .contains("carol@customer.test")
        );
    }
}

#[test]
fn a_forward_naming_no_sender_or_the_desk_is_the_agents_ticket_and_says_why() {
    let desk = desk();
    let no_sender = "-----Original Message-----\nFrom: Carol Diaz\nSubject: Printer\n\nIt jams.";
    let own = "---------- Forwarded message ---------\nFrom: Example Support <support@example.test>\nSubject: [TP-9] ack\n\nWe have received your request.";
    desk.deliver(
        "1.none",
        &proven(&from_ann("none@example.test", "Fwd: printer", no_sender)),
    );
    desk.deliver(
        "2.own",
        &proven(&from_ann("own@example.test", "Fwd: ours", own)),
    );
    desk.run_once();
    let first = desk.show("TP-1");
    assert_eq!(first["requester"], "ann@example.test");
    assert_eq!(first["opened_by"], "ann@example.test");
    assert!(timeline_has(&first, "on_behalf", "no sender address"));
    let second = desk.show("TP-2");
    assert_eq!(second["requester"], "ann@example.test");
    assert!(timeline_has(&second, "on_behalf", "the desk's own address"));
    let acks: Vec<String> = desk
        .outbox()
        .into_iter()
        .filter(|m| header(m, "To").is_some_and(|to| to.contains("ann@example.test")))
        .collect();
    assert_eq!(acks.len(), 2, "Ann is told, twice");
    assert!(acks.iter().any(|a| a.contains("no sender address")));
    assert!(acks.iter().any(|a| a.contains("own address")));
    // Nothing is lost: the whole forward is the request.
    assert!(acks.iter().any(|a| a.contains("It jams.")));
    assert!(all_mail(&desk).iter().all(|m| {
        !header(m, "To")
            .unwrap_or("")
            .contains("support@example.test")
    }));
}

#[test]
fn slash_new_opens_a_ticket_for_the_named_requester() {
    let desk = desk();
    let body = "/new Dan Wu <dan@customer.test>\n\nDan called: his phone cannot reach the VPN since this morning.";
    desk.deliver(
        "1.new",
        &proven(&from_ann("new@example.test", "Phone: VPN on phone", body)),
    );
    desk.run_once();
    let t = desk.show("TP-1");
    assert_eq!(t["requester"], "dan@customer.test");
    assert_eq!(t["requester_name"], "Dan Wu");
    assert_eq!(t["subject"], "Phone: VPN on phone");
    assert_eq!(t["opened_by"], "ann@example.test");
    let ack = acknowledgement_to(&desk, "dan@customer.test").expect("ack to Dan");
    assert!(ack.contains("cannot reach the VPN"));
    assert!(!ack.contains("/new"));
    let text = desk.ticketpost(&["tickets", "show", "TP-1"], None);
    assert!(
        String::from_utf8_lossy(&text.stdout)
            .contains("opened by ann@example.test on the requester's behalf")
    );
    // Unproven, /new is Ann's own request and Dan hears nothing.
    let desk = self::desk();
    desk.deliver(
        "1.new",
        &from_ann("new@example.test", "Phone: VPN on phone", body),
    );
    desk.run_once();
    assert_eq!(desk.show("TP-1")["requester"], "ann@example.test");
    assert!(acknowledgement_to(&desk, "dan@customer.test").is_none());
}

#[test]
fn slash_requester_on_an_agents_reply_changes_the_requester() {
    let desk = desk();
    desk.deliver(
        "1.req",
        &request(
            "jane-1@example.test",
            "Jane <jane@example.test>",
            "Printer for Carol",
            "Carol's printer jams; she will follow up.",
        ),
    );
    desk.run_once();
    desk.deliver(
        "2.requester",
        &proven(&from_ann(
            "ann-req@example.test",
            "Re: [TP-1] Printer for Carol",
            "/requester Carol Diaz <carol@customer.test>\nHello Carol, we are on it.",
        )),
    );
    desk.run_once();
    let t = desk.show("TP-1");
    assert_eq!(t["requester"], "carol@customer.test");
    assert_eq!(t["requester_name"], "Carol Diaz");
    assert!(timeline_has(
        &t,
        "requester",
        "jane@example.test → carol@customer.test"
    ));
    // The reply's text goes to the new requester.
    assert!(all_mail(&desk).iter().any(|m| {
        header(m, "To").is_some_and(|to| to.contains("carol@customer.test"))
            && m.contains("we are on it")
    }));
    // A staff address cannot be the requester: a command error, nothing changes.
    desk.deliver(
        "3.staff",
        &proven(&from_ann(
            "ann-staff@example.test",
            "Re: [TP-1] Printer for Carol",
            "/requester bob@example.test",
        )),
    );
    desk.run_once();
    assert_eq!(desk.show("TP-1")["requester"], "carol@customer.test");
    assert!(
        all_mail(&desk)
            .iter()
            .any(|m| m.contains("cannot be a ticket's requester"))
    );
}

#[test]
fn every_command_in_the_forwarding_agents_words_runs_on_the_new_ticket() {
    let desk = desk();
    // P3: P1 and P2 tickets hold /authorize until a change plan is approved (see
    // tests/change_review_e2e.rs).
    let body = "/priority P3\n/cc Dan Wu <dan@customer.test>\n/authorize reinstall the VPN client on her laptop\nShe called about this too.\n\n-----Original Message-----\nFrom: Carol Diaz <carol@customer.test>\nSubject: VPN client broken\n\nThe VPN client crashes at start.";
    desk.deliver(
        "1.fwd",
        &proven(&from_ann(
            "fwd-cmds@example.test",
            "FW: VPN client broken",
            body,
        )),
    );
    desk.run_once();
    let t = desk.show("TP-1");
    assert_eq!(t["requester"], "carol@customer.test");
    assert_eq!(t["priority"], "P3");
    assert!(timeline_has(&t, "note", "She called about this too."));
    assert!(timeline_has(&t, "command", "/cc dan@customer.test"));
    assert!(timeline_has(&t, "command", "/authorize"));
    let participants = t["participants"].to_string();
    assert!(participants.contains("dan@customer.test"), "{participants}");
    // The authorisation request reaches the original sender, not Ann.
    let mail = all_mail(&desk);
    let asks = mail.iter().filter(|m| {
        header(m, "To").is_some_and(|to| to.contains("carol@customer.test"))
            && m.contains("reinstall the VPN client on her laptop")
    });
    assert_eq!(asks.count(), 1, "one authorisation request to Carol");
    assert!(!mail.iter().any(|m| {
        header(m, "To").is_some_and(|to| to.contains("ann@example.test"))
            && m.contains("NOT applied")
    }));

    // A refused command is mailed back to Ann with its line; none of her commands
    // applies, and the ticket is still Carol's.
    let body = "/priority P1\n/assign nobody\n/close\n\n-----Original Message-----\nFrom: Erin Fox <erin@customer.test>\nSubject: Laptop will not boot\n\nMy laptop will not boot.";
    desk.deliver(
        "2.fwd",
        &proven(&from_ann("fwd-bad@example.test", "FW: Laptop", body)),
    );
    desk.run_once();
    let t = desk.show("TP-2");
    assert_eq!(t["requester"], "erin@customer.test");
    assert_ne!(t["priority"], "P1");
    assert_ne!(t["status"], "closed");
    let to_ann = all_mail(&desk)
        .into_iter()
        .filter(|m| header(m, "To").is_some_and(|to| to.contains("ann@example.test")))
        .filter(|m| m.contains("/assign nobody"))
        .count();
    assert_eq!(to_ann, 1, "Ann is told which line was refused");
}
