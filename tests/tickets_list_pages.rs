//! `tickets list` a page at a time, on the real binary and the embedded default: the
//! human output ends with the command for the next page, following it reaches every
//! ticket once, `--json` stays an array of tickets, and the filters are checked.

#[path = "support/embedded.rs"]
mod embedded;

use embedded::{Desk, request};
use serde_json::Value;

/// The tokens a page lists, and the command its last line gives for the next page.
fn page(text: &str) -> (Vec<String>, Option<Vec<String>>) {
    let tokens = text
        .lines()
        .skip(1)
        .filter(|l| l.starts_with("TP-"))
        .map(|l| l.split_whitespace().next().unwrap_or("").to_string())
        .collect();
    let next = text
        .lines()
        .last()
        .and_then(|l| l.strip_prefix("More: ticketpost "))
        .map(|cmd| cmd.split_whitespace().map(String::from).collect());
    (tokens, next)
}

#[test]
fn following_the_next_page_lists_every_ticket_once_newest_first() {
    let desk = Desk::new(50);
    for i in 1..=7 {
        desk.deliver(
            &format!("{i}"),
            &request(
                &format!("r{i}@example.org"),
                &format!("User {i} <u{i}@example.org>"),
                &format!("Request {i}"),
                "It is broken.",
            ),
        );
    }
    desk.run_once();

    let mut args: Vec<String> = ["tickets", "list", "--limit", "3"].map(String::from).into();
    let mut seen = Vec::new();
    let mut pages = 0;
    loop {
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        let (tokens, next) = page(&desk.stdout(&refs));
        pages += 1;
        seen.extend(tokens);
        match next {
            Some(next) => args = next,
            None => break,
        }
    }
    assert_eq!(pages, 3);
    let expected: Vec<String> = (1..=7).rev().map(|i| format!("TP-{i}")).collect();
    assert_eq!(seen, expected);
    // The hint of the first page names the exact cursor and keeps the page size.
    let first = desk.stdout(&["tickets", "list", "--limit", "3"]);
    assert!(
        first.ends_with("More: ticketpost tickets list --before TP-5 --limit 3\n"),
        "{first}"
    );
    // The default page holds all seven: no hint.
    let all = desk.stdout(&["tickets", "list"]);
    assert_eq!(page(&all), (expected.clone(), None), "{all}");

    // --json is the array of tickets it always was; the cursor is the last token.
    let json: Value =
        serde_json::from_str(&desk.stdout(&["tickets", "list", "--json", "--limit", "2"])).unwrap();
    let list = json.as_array().expect("an array");
    assert_eq!(list.len(), 2);
    assert_eq!(
        (list[0]["token"].as_str(), list[0]["status"].as_str()),
        (Some("TP-7"), Some("open"))
    );
    assert_eq!(list[0]["message_count"], 1);
    let json: Value = serde_json::from_str(&desk.stdout(&[
        "tickets", "list", "--json", "--limit", "2", "--before", "TP-6",
    ]))
    .unwrap();
    let tokens: Vec<&str> = json
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|t| t["token"].as_str())
        .collect();
    assert_eq!(tokens, ["TP-5", "TP-4"]);
    assert_eq!(desk.tickets().len(), 7);
}

#[test]
fn the_filters_narrow_the_list_and_bad_values_are_refused() {
    let desk = Desk::new(50);
    desk.deliver(
        "1",
        &request("a@example.org", "A <a@example.org>", "Printer", "Jams."),
    );
    desk.run_once();
    let open = desk.stdout(&["tickets", "list", "--status", "open"]);
    assert_eq!(page(&open).0, ["TP-1"]);
    let closed = desk.stdout(&["tickets", "list", "--status", "closed"]);
    assert_eq!(closed, "No tickets match.\n");
    let today = desk.stdout(&["tickets", "list", "--since", "2000-01-01"]);
    assert_eq!(page(&today).0, ["TP-1"]);
    let future = desk.stdout(&["tickets", "list", "--since", "2999-01-01", "--json"]);
    assert_eq!(future.trim(), "[]");

    for (args, says) in [
        (
            &["--status", "lost"][..],
            "--status: unknown status \"lost\"",
        ),
        (
            &["--since", "yesterday"][..],
            "--since \"yesterday\" is not a date",
        ),
        (
            &["--before", "XY-1"][..],
            "--before \"XY-1\" is not a ticket token",
        ),
        (&["--limit", "0"][..], "--limit"),
        (&["--limit", "1001"][..], "--limit"),
    ] {
        let mut all = vec!["tickets", "list"];
        all.extend(args);
        let out = desk.ticketpost(&all, None);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success() && err.contains(says),
            "{args:?}: {err}"
        );
    }
}
