//! The collision guard, through the real `ticketpost` binary on the embedded default:
//! Ann's reply to Jane is relayed; Bob's reply a moment later (inside `[desk]
//! collision_window`, 10 minutes by default) is held, and Bob is told who answered,
//! when and what. `/send` in Bob's reply to that notice relays his reply after all.

#[path = "support/embedded.rs"]
mod embedded;
use embedded::{Desk, header, request};

const DKIM_PASS: &str = "Authentication-Results: mx.desk.test; dkim=pass header.d=example.test";

/// `raw` with our MTA's DKIM pass for example.test on top.
fn proven(raw: &str) -> String {
    format!("{DKIM_PASS}\n{raw}")
}

/// The .eml files the file transport wrote whose name ends with `-<kind>.eml`.
fn mails(desk: &Desk, kind: &str) -> Vec<String> {
    desk.sent_text(&format!("-{kind}.eml"))
}

/// The decoded text of a mail (quoted-printable soft breaks undone).
fn text(mail: &str) -> String {
    mail.replace("=\r\n", "").replace("=3D", "=")
}

#[test]
fn a_second_reply_inside_the_collision_window_is_held_until_send() {
    let desk = Desk::with_agents(
        &["Ann Lee <ann@example.test>", "Bob Roe <bob@example.test>"],
        "",
    );
    desk.deliver(
        "1.req",
        &request(
            "jane-1@example.test",
            "Jane <jane@example.test>",
            "Printer jam on floor three",
            "The printer on floor three jams on every page.",
        ),
    );
    desk.run_once();
    desk.deliver(
        "2.ann",
        &proven(&request(
            "ann-1@example.test",
            "Ann Lee <ann@example.test>",
            "Re: [TP-1] Printer jam on floor three",
            "Please restart the printer and tell me if it still jams.",
        )),
    );
    desk.run_once();
    assert_eq!(mails(&desk, "relay").len(), 1, "Ann's reply relayed");

    desk.deliver(
        "3.bob",
        &proven(&request(
            "bob-1@example.test",
            "Bob Roe <bob@example.test>",
            "Re: [TP-1] Printer jam on floor three",
            "Try the other paper tray.",
        )),
    );
    desk.run_once();
    assert_eq!(mails(&desk, "relay").len(), 1, "Bob's reply was relayed");
    let notices: Vec<String> = mails(&desk, "agent_notice")
        .into_iter()
        .filter(|m| header(m, "To") == Some("bob@example.test") && m.contains("HELD"))
        .collect();
    assert_eq!(notices.len(), 1, "Bob is told once");
    let notice = &notices[0];
    let body = text(notice);
    assert!(body.contains("Ann Lee answered the requester at"), "{body}");
    assert!(body.contains("restart the printer"), "{body}");
    assert!(body.contains("Try the other paper tray."), "{body}");
    assert!(body.contains("/send"), "{body}");
    let t = desk.show("TP-1");
    assert!(
        t["timeline"]
            .to_string()
            .contains("reply held, not relayed")
    );
    assert_eq!(t["assignee"], "ann@example.test");

    // Bob replies to the notice with /send: his held reply goes to Jane.
    let notice_id = header(notice, "Message-ID").expect("notice id");
    let send = request(
        "bob-send@example.test",
        "Bob Roe <bob@example.test>",
        "Re: [TP-1] Printer jam on floor three",
        "/send",
    )
    .replacen(
        "Content-Type:",
        &format!("In-Reply-To: {notice_id}\nReferences: {notice_id}\nContent-Type:"),
        1,
    );
    desk.deliver("4.send", &send);
    desk.run_once();
    let relays = mails(&desk, "relay");
    assert_eq!(relays.len(), 2, "/send relays the held reply");
    let relayed = text(&relays[1]);
    assert_eq!(header(&relays[1], "To"), Some("Jane <jane@example.test>"));
    assert!(relayed.contains("Try the other paper tray."), "{relayed}");
    assert!(!relayed.contains("/send"), "{relayed}");
    assert!(
        desk.show("TP-1")["timeline"]
            .to_string()
            .contains("held reply sent with /send")
    );
}
