//! Look-ups by mail, through the real `ticketpost` binary on the embedded default:
//! Ann (an agent) mails `/show`, `/list mine` and `/search` to the support address.
//! Proven by DKIM pass from the trusted MTA, each is answered to Ann alone; the same
//! mail without proof is answered to nobody (the agents are warned). Neither opens a
//! ticket, and every look-up is kept in the store.

#[path = "support/embedded.rs"]
mod embedded;
use embedded::{Desk, header, request};

const DKIM_PASS: &str = "Authentication-Results: mx.desk.test; dkim=pass header.d=example.test";

/// A desk with two agents and Jane's ticket TP-1, assigned to Ann.
fn desk_with_anns_ticket() -> Desk {
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
            "The printer on floor three jams on every page since Monday.",
        ),
    );
    desk.run_once();
    desk.deliver(
        "2.assign",
        &proven(&request(
            "ann-assign@example.test",
            "Ann Lee <ann@example.test>",
            "Re: [TP-1] Printer jam on floor three",
            "/assign ann@example.test",
        )),
    );
    desk.run_once();
    assert_eq!(desk.show("TP-1")["assignee"], "ann@example.test");
    desk
}

/// `raw` with our MTA's DKIM pass for example.test on top.
fn proven(raw: &str) -> String {
    format!("{DKIM_PASS}\n{raw}")
}

/// Ann's new mail (not a reply) holding `body`.
fn anns_lookup(id: &str, body: &str) -> String {
    request(id, "Ann Lee <ann@example.test>", "look-up", body)
}

/// The .eml files the file transport wrote whose name ends with `-<kind>.eml`.
fn mails(desk: &Desk, kind: &str) -> Vec<String> {
    desk.sent_text(&format!("-{kind}.eml"))
}

/// Messages stored as `kind`, none of them on a ticket.
fn stored_without_ticket(desk: &Desk, kind: &str) -> i64 {
    let conn = rusqlite::Connection::open(desk.root().join("var/ticketpost.db")).unwrap();
    conn.query_row(
        "SELECT count(*) FROM messages WHERE kind = ?1 AND ticket_id IS NULL",
        [kind],
        |r| r.get(0),
    )
    .unwrap()
}

fn all_mail_count(desk: &Desk) -> usize {
    std::fs::read_dir(desk.root().join("var/outbox"))
        .map(|d| d.count())
        .unwrap_or(0)
}

/// The decoded text of a mail (quoted-printable soft breaks undone).
fn text(mail: &str) -> String {
    mail.replace("=\r\n", "")
        .replace("=\n", "")
        .replace("=3D", "=")
}

#[test]
fn show_list_mine_and_search_from_a_verified_agent_answer_that_agent_only() {
    let desk = desk_with_anns_ticket();
    for (id, body) in [
        ("look-show@example.test", "/show TP-1"),
        ("look-mine@example.test", "/list mine"),
        ("look-search@example.test", "/search printer jams"),
    ] {
        desk.deliver(id, &proven(&anns_lookup(id, body)));
    }
    desk.run_once();
    let answers = mails(&desk, "lookup_answer");
    assert_eq!(answers.len(), 3, "one answer per look-up");
    for asked in ["/show TP-1", "/list mine", "/search printer jams"] {
        let answer = answers
            .iter()
            .find(|a| header(a, "Subject") == Some(format!("Look-up: {asked}").as_str()))
            .unwrap_or_else(|| panic!("no answer to {asked}"));
        assert_eq!(header(answer, "To"), Some("ann@example.test"), "{answer}");
        assert!(header(answer, "Cc").is_none());
        let body = text(answer);
        assert!(body.contains(asked), "{asked}: {body}");
        assert!(body.contains("TP-1"), "{asked}: {body}");
        assert!(
            body.contains("Printer jam on floor three"),
            "{asked}: {body}"
        );
        assert!(body.contains("held by ann@example.test"), "{asked}: {body}");
        assert!(body.contains("SLA: first response"), "{asked}: {body}");
        assert!(body.contains("last activity"), "{asked}: {body}");
    }
    // Threaded on Ann's mail.
    assert!(
        answers
            .iter()
            .any(|a| header(a, "In-Reply-To") == Some("<look-show@example.test>"))
    );
    // No ticket opened; nothing else sent to anyone for the look-ups.
    assert_eq!(desk.tickets().len(), 1);
    assert!(mails(&desk, "acknowledgement").len() == 1);
    let t = desk.show("TP-1");
    assert_eq!(t["timeline"].to_string().matches("look").count(), 0);
    // Every look-up is kept.
    assert_eq!(stored_without_ticket(&desk, "lookup"), 3);
}

#[test]
fn list_bounds_and_errors_are_answered() {
    let desk = desk_with_anns_ticket();
    desk.deliver(
        "look-lists",
        &proven(&anns_lookup(
            "look-lists@example.test",
            "/list open\n/list team nosuch\n/list everything\n/show TP-99",
        )),
    );
    desk.run_once();
    let answers = mails(&desk, "lookup_answer");
    assert_eq!(answers.len(), 1);
    let body = text(&answers[0]);
    assert!(body.contains("TP-1"), "{body}");
    assert!(body.contains("There is no team"), "{body}");
    assert!(body.contains("line 3: /list everything"), "{body}");
    assert!(body.contains("There is no ticket TP-99"), "{body}");
    assert_eq!(desk.tickets().len(), 1);
}

#[test]
fn the_same_look_ups_unverified_answer_nobody_and_open_no_ticket() {
    let desk = desk_with_anns_ticket();
    let before = all_mail_count(&desk);
    for (id, body) in [
        ("forged-show@evil.test", "/show TP-1"),
        ("forged-mine@evil.test", "/list mine"),
        ("forged-search@evil.test", "/search printer jams"),
    ] {
        // No results from our MTA; a forged one from elsewhere counts for nothing.
        let forged = anns_lookup(id, body).replacen(
            "From:",
            "Authentication-Results: mx.evil.test; dkim=pass header.d=example.test\nFrom:",
            1,
        );
        desk.deliver(id, &forged);
    }
    desk.run_once();
    assert!(mails(&desk, "lookup_answer").is_empty(), "answered");
    assert_eq!(desk.tickets().len(), 1, "a ticket was opened");
    assert_eq!(stored_without_ticket(&desk, "unverified"), 3, "kept");
    // Only the agents' warnings went out, and none holds the ticket's details.
    // Each agent is warned once: a run of forged look-ups in one name within the hour
    // does not make the desk mail every agent for each.
    let warnings = mails(&desk, "lookup_unverified");
    assert_eq!(warnings.len(), 2, "each agent warned once");
    assert_eq!(all_mail_count(&desk), before + warnings.len());
    for w in &warnings {
        let body = text(w);
        assert!(!body.contains("Printer jam"), "{body}");
        assert!(body.contains("did not prove its sender"), "{body}");
    }
}

#[test]
fn a_requesters_mail_with_look_up_lines_is_a_request() {
    let desk = desk_with_anns_ticket();
    desk.deliver(
        "3.jane",
        &request(
            "jane-look@example.test",
            "Jane <jane@example.test>",
            "show me",
            "/list open",
        ),
    );
    desk.run_once();
    assert!(mails(&desk, "lookup_answer").is_empty());
    assert_eq!(desk.tickets().len(), 2);
}
