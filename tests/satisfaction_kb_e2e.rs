//! Issue 16 parts 3-5 end to end, through the real binary on the embedded default
//! (Maildir in, .eml files out): satisfaction ratings by reply after closing, knowledge
//! entries reviewed before requesters are offered them, and the `/time` worklog with
//! the report's figures. Agents reply to the notices the desk sent them (quoting its
//! signed Message-ID, which proves the sender); every assertion reads the CLI's JSON
//! or the mail written to the outbox.

#[path = "support/embedded.rs"]
mod embedded;

use embedded::{Desk, header, request};
use serde_json::Value;

const ANN: &str = "Ann Lee <ann@example.test>";
const BOB: &str = "Bob Roe <bob@example.test>";

/// Mail of `kind` (the file name's suffix) to `to` whose subject holds `subject`,
/// decoded (quoted-printable soft breaks joined).
fn mails(desk: &Desk, kind: &str, to: &str, subject: &str) -> Vec<String> {
    desk.sent_text(&format!("-{kind}.eml"))
        .into_iter()
        .filter(|m| {
            header(m, "To").is_some_and(|t| t.contains(to))
                && header(m, "Subject").is_some_and(|s| s.contains(subject))
        })
        .map(|m| {
            let parsed = ticketpost::inbound::parse(m.as_bytes().to_vec()).expect("our mail");
            format!(
                "{}\n{}\n{}",
                header(&m, "Message-ID").unwrap_or(""),
                parsed.subject,
                parsed.text_body
            )
        })
        .collect()
}

/// The Message-ID of the newest agent notice to `agent` about `token`, as `<id>`.
fn notice_id(desk: &Desk, agent: &str, token: &str) -> String {
    let notices = mails(desk, "agent_notice", agent, &format!("[{token}]"));
    let last = notices
        .last()
        .unwrap_or_else(|| panic!("no notice to {agent} about {token}"));
    last.lines().next().unwrap().to_string()
}

/// `agent` (`Name <address>`) replies to their notice about `token`: in its thread,
/// so their commands run.
fn agent_replies(desk: &Desk, agent: &str, file: &str, token: &str, body: &str) {
    let address = agent.split('<').nth(1).unwrap().trim_end_matches('>');
    let notice = notice_id(desk, address, token);
    desk.deliver(
        file,
        &format!(
            "From: {agent}\nTo: support@example.test\nSubject: Re: [{token}] notice\n\
             Message-ID: <{file}@example.test>\nIn-Reply-To: {notice}\nReferences: {notice}\n\
             Date: Wed, 25 Nov 2026 10:00:00 +0000\nContent-Type: text/plain; charset=utf-8\n\n{body}\n"
        ),
    );
    desk.run_once();
}

/// The requester `from` replies on `token` (the token in the subject threads it).
fn requester_replies(desk: &Desk, from: &str, file: &str, token: &str, body: &str) {
    desk.deliver(
        file,
        &request(
            &format!("{file}@example.org"),
            from,
            &format!("Re: [{token}] Closed"),
            body,
        ),
    );
    desk.run_once();
}

fn json_of(out: std::process::Output) -> Value {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn report(desk: &Desk) -> Value {
    json_of(desk.ticketpost(
        &[
            "report",
            "--since",
            "2000-01-01",
            "--until",
            "2100-12-31",
            "--json",
        ],
        None,
    ))
}

fn group<'a>(report: &'a Value, list: &str, name: &str) -> &'a Value {
    report[list]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["group"] == name)
        .unwrap_or_else(|| panic!("no {name} in {list}: {}", report[list]))
}

#[test]
fn a_rating_after_closing_is_recorded_replaced_and_never_reopens() {
    let desk = Desk::with_agents(&[ANN], "");
    desk.deliver(
        "1.jane",
        &request(
            "req-1@example.org",
            "Jane <jane@example.org>",
            "Printer prints blank pages",
            "Every page comes out blank since this morning.",
        ),
    );
    desk.deliver(
        "2.carl",
        &request(
            "req-2@example.net",
            "Carl <carl@example.net>",
            "Scanner jams",
            "The scanner jams on every sheet.",
        ),
    );
    desk.run_once();
    agent_replies(&desk, ANN, "ann-1", "TP-1", "New toner is in.\n/close");
    agent_replies(&desk, ANN, "ann-2", "TP-2", "Cleaned the rollers.\n/close");
    assert_eq!(desk.show("TP-1")["status"], "closed");
    let closing = mails(&desk, "closing", "jane@example.org", "TP-1");
    assert_eq!(closing.len(), 1);
    assert!(closing[0].contains("How did we do?"), "{}", closing[0]);
    let status_mails = |d: &Desk| mails(d, "status_open", "jane@example.org", "TP-1").len();
    let before = status_mails(&desk);

    requester_replies(
        &desk,
        "Jane <jane@example.org>",
        "jane-rate-1",
        "TP-1",
        "5, thanks!",
    );
    let t = desk.show("TP-1");
    assert_eq!(t["status"], "closed", "a rating does not reopen");
    assert_eq!(t["satisfaction"]["rating"], 5);
    assert_eq!(t["satisfaction"]["comment"], "thanks!");
    assert_eq!(desk.tickets().len(), 2, "no new ticket");
    assert_eq!(
        status_mails(&desk),
        before,
        "no reopened mail to the requester"
    );
    let notices = mails(&desk, "agent_notice", "ann@example.test", "TP-1");
    let last = notices.last().unwrap();
    assert!(last.contains("Satisfaction rating"), "{last}");
    assert!(
        notices
            .iter()
            .all(|n| !n.contains("] Reopened") && !n.contains("Not fixed yet")),
        "no reopen notice: {notices:?}"
    );

    // A second rating replaces the first.
    requester_replies(
        &desk,
        "Jane <jane@example.org>",
        "jane-rate-2",
        "TP-1",
        "不太满意，等了三天",
    );
    let t = desk.show("TP-1");
    assert_eq!(t["status"], "closed");
    assert_eq!(t["satisfaction"]["rating"], 2);
    assert_eq!(t["satisfaction"]["comment"], "等了三天");

    // The report: TP-1 and TP-2 closed by Ann, one rated (2).
    let r = report(&desk);
    let ann = group(&r, "by_agent", "ann@example.test");
    assert_eq!(ann["closed"], 2);
    assert_eq!(ann["satisfaction"]["rated"], 1);
    assert_eq!(ann["satisfaction"]["average"], 2.0);
    assert_eq!(ann["satisfaction"]["response_rate"], 0.5);
    assert_eq!(
        group(&r, "by_priority", "P3")["satisfaction"]["average"],
        2.0
    );
    assert_eq!(
        group(&r, "by_team", "(no team)")["satisfaction"]["response_rate"],
        0.5
    );
    assert_eq!(r["overall"]["satisfaction"]["rated"], 1);

    // Not a rating: reopens, as before.
    requester_replies(
        &desk,
        "Jane <jane@example.org>",
        "jane-broke",
        "TP-1",
        "it broke again",
    );
    let t = desk.show("TP-1");
    assert_eq!(t["status"], "open", "{}", t["timeline"]);
    assert_eq!(t["satisfaction"]["rating"], 2, "the rating is kept");
    assert_eq!(status_mails(&desk), before + 1, "the reopened mail");
}

#[test]
fn a_draft_entry_is_offered_to_requesters_only_once_another_agent_approved_it() {
    let extra = "[kb]\nsuggest_threshold = 0.3\nsuggest_to_requesters = true\n";
    let desk = Desk::with_agents(&[ANN, BOB], extra);
    let printer = |id: &str, from: &str| {
        request(
            id,
            from,
            "Printer prints blank pages",
            "The office printer prints blank pages.",
        )
    };
    desk.deliver(
        "1.jane",
        &printer("req-1@example.org", "Jane <jane@example.org>"),
    );
    desk.run_once();
    agent_replies(
        &desk,
        ANN,
        "ann-resolve",
        "TP-1",
        "/resolve Replace the toner cartridge and pull the seal tab.",
    );
    let kb = json_of(desk.ticketpost(&["kb", "show", "KB-1", "--json"], None));
    assert_eq!(kb["state"], "draft");
    assert_eq!(kb["approved_by"], Value::Null);
    assert_eq!(kb["author"], "ann@example.test");

    // A draft is not offered to the next requester; agents see it, marked.
    desk.deliver(
        "2.carl",
        &printer("req-2@example.net", "Carl <carl@example.net>"),
    );
    desk.run_once();
    let ack = mails(&desk, "acknowledgement", "carl@example.net", "TP-2");
    assert_eq!(ack.len(), 1);
    assert!(!ack[0].contains("toner"), "a draft offered: {}", ack[0]);
    let notice = mails(&desk, "agent_notice", "bob@example.test", "TP-2");
    assert!(
        notice[0].contains("KB-1") && notice[0].contains("(draft)"),
        "{}",
        notice[0]
    );

    // Its author cannot approve it, by mail or on the command line.
    agent_replies(&desk, ANN, "ann-approve", "TP-2", "/kb approve KB-1");
    let refused = mails(&desk, "command_error", "ann@example.test", "TP-2");
    assert_eq!(refused.len(), 1);
    assert!(
        refused[0].contains("you wrote (or last edited) it"),
        "{}",
        refused[0]
    );
    let out = desk.ticketpost(&["kb", "approve", "KB-1", "--by", "ann@example.test"], None);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("its author"));
    assert_eq!(
        json_of(desk.ticketpost(&["kb", "show", "KB-1", "--json"], None))["state"],
        "draft"
    );

    // Bob approves it by mail: the next requester is offered it.
    agent_replies(&desk, BOB, "bob-approve", "TP-2", "/kb approve KB-1");
    let kb = json_of(desk.ticketpost(&["kb", "show", "KB-1", "--json"], None));
    assert_eq!(kb["state"], "approved");
    assert_eq!(kb["approved_by"], "bob@example.test");
    desk.deliver(
        "3.dave",
        &printer("req-3@example.com", "Dave <dave@example.com>"),
    );
    desk.run_once();
    let ack = mails(&desk, "acknowledgement", "dave@example.com", "TP-3");
    assert!(
        ack[0].contains("toner"),
        "the approved entry is offered: {}",
        ack[0]
    );

    // Editing it by /kb makes it a draft again; its Lessons: are kept.
    agent_replies(
        &desk,
        ANN,
        "ann-kb",
        "TP-1",
        "/kb\nSolution: Replace the toner cartridge.\nLessons: Keep a spare cartridge on every floor.",
    );
    let list = json_of(desk.ticketpost(&["kb", "list", "--json"], None));
    assert_eq!(list[0]["state"], "draft");
    assert_eq!(list[0]["approved_by"], Value::Null);
    assert_eq!(list[0]["lessons"], "Keep a spare cartridge on every floor.");
    // The CLI approval by another agent.
    let out = desk.ticketpost(&["kb", "approve", "KB-1", "--by", "bob@example.test"], None);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        json_of(desk.ticketpost(&["kb", "show", "KB-1", "--json"], None))["state"],
        "approved"
    );
}

#[test]
fn time_entries_show_on_the_ticket_and_add_up_in_the_report() {
    let desk = Desk::with_agents(&[ANN, BOB], "");
    desk.deliver(
        "1.jane",
        &request(
            "req-1@example.org",
            "Jane <jane@example.org>",
            "VPN drops every hour",
            "The VPN disconnects every hour.",
        ),
    );
    desk.run_once();
    agent_replies(
        &desk,
        ANN,
        "ann-1",
        "TP-1",
        "/time 30m\nPlease try the new profile.",
    );
    agent_replies(
        &desk,
        BOB,
        "bob-1",
        "TP-1",
        "/note\n/time 1h15m\nChecked the gateway logs.",
    );
    // Two /time lines in one reply are refused: nothing is logged.
    agent_replies(&desk, ANN, "ann-2", "TP-1", "/time 30m\n/time 15m\n/note");
    assert_eq!(
        mails(&desk, "command_error", "ann@example.test", "TP-1").len(),
        1
    );

    let t = desk.show("TP-1");
    let entries = t["worklog"]["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 2, "{}", t["worklog"]);
    assert_eq!(entries[0]["agent"], "ann@example.test");
    assert_eq!(entries[0]["minutes"], 30);
    assert_eq!(entries[1]["agent"], "bob@example.test");
    assert_eq!(entries[1]["minutes"], 75);
    assert_eq!(t["worklog"]["total_minutes"], 105);
    let text = desk.ticketpost(&["tickets", "show", "TP-1"], None);
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(text.contains("total 105 min (1h 45m)"), "{text}");

    let r = report(&desk);
    assert_eq!(r["overall"]["time_spent_minutes"], 105);
    assert_eq!(
        group(&r, "by_agent", "ann@example.test")["time_spent_minutes"],
        30
    );
    assert_eq!(
        group(&r, "by_agent", "bob@example.test")["time_spent_minutes"],
        75
    );
    let priority = t["priority"].as_str().unwrap();
    assert_eq!(
        group(&r, "by_priority", priority)["time_spent_minutes"],
        105
    );
    assert_eq!(group(&r, "by_team", "(no team)")["time_spent_minutes"], 105);
}
