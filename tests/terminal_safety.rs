//! What reaches a terminal, through the real binary: config errors never repeat a
//! secret, and text from mail (a subject, a sender's name, a Message-ID) cannot send
//! the terminal commands or reorder what it shows, in command output or in the logs.

#[path = "support/embedded.rs"]
mod embedded;

use std::process::{Command, Output};

use embedded::Desk;
use serde_json::Value;

/// Clears the screen, sets the window title, rings the bell, then reverses the text.
const EVIL: &str = "\x1b[2J\x1b]0;pwned\x07\u{202e}";
/// What must never reach the terminal raw.
const RAW: [char; 3] = ['\x1b', '\x07', '\u{202e}'];

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn assert_inert(what: &str, out: &str) {
    for c in RAW {
        assert!(
            !out.contains(c),
            "{what}: raw {:?} reaches the terminal:\n{}",
            c,
            out.escape_debug()
        );
    }
}

// ---------------------------------------------------------------------------
// Config errors

/// A distinctive secret: it must not appear in any error.
const SECRET: &str = "s3cr3t-Zq7xWv";

fn check(desk: &Desk) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ticketpost"))
        .arg("--config")
        .arg(&desk.config)
        .arg("check")
        .env("TICKETPOST_LOG", "warn")
        .env("NO_COLOR", "1")
        .output()
        .expect("run ticketpost")
}

#[test]
fn config_errors_name_the_secret_key_and_file_but_not_the_value() {
    let num = "12345678";
    for (mailbox_keys, extra, secret, key) in [
        // Wrong types: serde quotes the value ("invalid type: integer `12345678`").
        (
            "password = 12345678".to_string(),
            String::new(),
            num,
            "password",
        ),
        (
            String::new(),
            "[http]\nbearer_token = 12345678".to_string(),
            num,
            "bearer_token",
        ),
        (
            "password_env = 12345678".to_string(),
            String::new(),
            num,
            "password_env",
        ),
        (
            "oauth2_client_secret = 12345678".to_string(),
            String::new(),
            num,
            "oauth2_client_secret",
        ),
        // Syntax errors: toml quotes the whole line.
        (
            String::new(),
            format!("[http]\nbearer_token = \"{SECRET}"),
            SECRET,
            "line ",
        ),
        (
            String::new(),
            format!("[http]\nbearer_token = {SECRET}"),
            SECRET,
            "line ",
        ),
        (
            format!("password = \"{SECRET}\\q\""),
            String::new(),
            SECRET,
            "line ",
        ),
        (
            String::new(),
            format!("[http]\nbearer_token = \"a\"\nbearer_token = \"{SECRET}\""),
            SECRET,
            "bearer_token",
        ),
        // A secret pasted where the name of its environment variable belongs.
        (
            String::new(),
            format!("[http]\nbearer_token_env = \"{SECRET}\""),
            SECRET,
            "[http] bearer_token_env",
        ),
        (
            String::new(),
            format!("[http]\nbearer_token = \"x\"\nbearer_token_env = \"{SECRET}\""),
            SECRET,
            "[http] bearer_token_env",
        ),
    ] {
        let desk = Desk::with_mailbox_keys(10, &mailbox_keys, &extra);
        let out = check(&desk);
        let stderr = text(&out.stderr);
        let stdout = text(&out.stdout);
        let case = format!("{mailbox_keys}{extra}");
        assert_eq!(out.status.code(), Some(2), "{case}: {stderr}");
        assert!(
            stderr.contains(&desk.config.display().to_string()) && stderr.contains(key),
            "{case}: the file and {key:?} must be named: {stderr}"
        );
        assert!(
            !stderr.contains(secret) && !stdout.contains(secret),
            "{case}: the secret is printed: {stderr}{stdout}"
        );
    }
}

#[test]
fn config_errors_about_other_keys_still_show_the_value() {
    let desk = Desk::with_config(10, "[sla]\ntime_zone = \"Mars/Olympus\"");
    let out = check(&desk);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("[sla] time_zone") && stderr.contains("Mars/Olympus"),
        "{stderr}"
    );
}

// ---------------------------------------------------------------------------
// Text from mail

/// A request whose subject (raw and as an encoded word), sender name, sender address,
/// Message-ID and body carry escape sequences and a right-to-left override.
fn evil_request() -> String {
    format!(
        "From: \"Mallory {EVIL}Name\" <\"mal\x1b[31m\"@example.test>\n\
         To: support@example.test\n\
         Subject: Printer {EVIL}raw =?utf-8?q?enc=1B[31mRED=E2=80=AE_fake?=\n\
         Date: Wed, 25 Nov 2026 09:00:00 +0000\n\
         Message-ID: <id{EVIL}@example.test>\n\
         Content-Type: text/plain; charset=utf-8\n\
         \n\
         Body line one {EVIL}\n\
         line two\n"
    )
}

fn desk_with_evil_ticket() -> Desk {
    let desk = Desk::new(10);
    desk.deliver("1.eml", &evil_request());
    desk.run_once();
    desk
}

/// Runs the binary with the log at `log`; NO_COLOR keeps the log's own colour codes
/// out of what is checked (they are off on a pipe anyway).
fn run(desk: &Desk, args: &[&str], log: &str) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ticketpost"))
        .arg("--config")
        .arg(&desk.config)
        .args(args)
        .env("TICKETPOST_LOG", log)
        .env("NO_COLOR", "1")
        .env_remove("TICKETPOST_FAULT")
        .output()
        .expect("run ticketpost")
}

fn stdout_of(desk: &Desk, args: &[&str]) -> String {
    let out = run(desk, args, "warn");
    assert!(out.status.success(), "{args:?}: {}", text(&out.stderr));
    text(&out.stdout)
}

#[test]
fn tickets_list_and_show_escape_what_mail_puts_in_them() {
    let desk = desk_with_evil_ticket();
    // The values are stored as they came: escaping is for display only.
    let ticket = &desk.tickets()[0];
    let subject = ticket["subject"].as_str().unwrap();
    assert!(subject.contains(EVIL) && subject.contains("\x1b[31mRED\u{202e} fake"));
    assert!(ticket["requester_name"].as_str().unwrap().contains(EVIL));

    let list = stdout_of(&desk, &["tickets", "list"]);
    assert_inert("tickets list", &list);
    assert!(
        list.contains(r"Printer \x1b[2J\x1b]0;pwned\x07\u{202e}raw"),
        "{list}"
    );
    assert_eq!(list.lines().count(), 2, "header and one ticket:\n{list}");
    assert!(list.contains(r#""mal\x1b[31m"@example.test"#), "{list}");

    let show = stdout_of(&desk, &["tickets", "show", "TP-1"]);
    assert_inert("tickets show", &show);
    assert!(
        show.contains(
            r"TP-1  Printer \x1b[2J\x1b]0;pwned\x07\u{202e}raw enc\x1b[31mRED\u{202e} fake"
        ),
        "{show}"
    );
    assert!(
        show.contains(r"requester Mallory \x1b[2J\x1b]0;pwned\x07\u{202e}Name <"),
        "{show}"
    );
    // A body keeps its lines.
    assert!(
        show.contains("  | Body line one \\x1b[2J\\x1b]0;pwned\\x07\\u{202e}\n  | line two\n"),
        "{show}"
    );
}

#[test]
fn json_output_keeps_the_values_with_nothing_raw_for_the_terminal() {
    let desk = desk_with_evil_ticket();
    for args in [
        &["tickets", "list", "--json"][..],
        &["tickets", "show", "TP-1", "--json"][..],
    ] {
        let json = stdout_of(&desk, args);
        assert_inert(&format!("{args:?}"), &json);
        let value: Value = serde_json::from_str(&json).unwrap();
        let subject = match &value {
            Value::Array(list) => &list[0]["subject"],
            one => &one["subject"],
        };
        assert!(subject.as_str().unwrap().contains(EVIL), "{args:?}: {json}");
    }
}

#[test]
fn quarantine_show_escapes_the_raw_message() {
    let desk = Desk::new(10);
    desk.deliver("1.eml", &evil_request());
    // The intake rules "panic" on the message: it is kept raw in the quarantine.
    let out = desk.ticketpost(&["run", "--once"], Some("panic-assessing:0"));
    assert!(out.status.success(), "{}", text(&out.stderr));
    let list = stdout_of(&desk, &["quarantine", "list"]);
    assert!(list.starts_with("Q-1 "), "{list}");
    let show = stdout_of(&desk, &["quarantine", "show", "Q-1"]);
    assert_inert("quarantine show", &show);
    assert!(
        show.contains("Message-ID: <id\\x1b[2J\\x1b]0;pwned\\x07\\u{202e}@example.test>\r\n"),
        "{show}"
    );
}

/// tracing-subscriber 0.3.23 escapes some controls in the message of a text log line,
/// but writes `%` fields raw and leaves bidi controls alone; its JSON lines escape C0
/// controls only. Message-IDs and addresses from mail are logged as `%` fields.
#[test]
fn logs_escape_what_mail_puts_in_them() {
    let desk = Desk::new(10);
    desk.deliver("1.eml", &evil_request());
    let out = run(&desk, &["run", "--once"], "debug");
    assert!(out.status.success(), "{}", text(&out.stderr));
    let log = text(&out.stderr);
    assert_inert("text log", &log);
    let new_ticket = log
        .lines()
        .find(|l| l.contains("new ticket"))
        .unwrap_or_else(|| panic!("no \"new ticket\" line:\n{log}"));
    assert!(
        new_ticket.contains(r"message_id=id\x1b[2J\x1b]0;pwned\x07\u{202e}@example.test")
            && new_ticket.contains(r#"requester="mal\x1b[31m"@example.test"#),
        "{new_ticket}"
    );

    let desk = Desk::new(10);
    desk.deliver("1.eml", &evil_request());
    let out = run(&desk, &["--log-json", "run", "--once"], "debug");
    assert!(out.status.success(), "{}", text(&out.stderr));
    let log = text(&out.stderr);
    assert_inert("JSON log", &log);
    let new_ticket: Value = log
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|v| v["fields"]["message"] == "new ticket")
        .unwrap_or_else(|| panic!("no \"new ticket\" line:\n{log}"));
    // Escaped as JSON: the value read back is the one from the mail.
    assert_eq!(
        new_ticket["fields"]["message_id"],
        format!("id{EVIL}@example.test"),
        "{new_ticket}"
    );
}
