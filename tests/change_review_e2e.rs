//! Change review by email (issue 16, part 2) through the real binary on the embedded
//! default: `/plan`, `/review`, `/approve` (never by the plan's author), `/authorize`
//! held until approval, the requester's authorisation mail stating the plan (English
//! and Chinese), the window's reminder and overdue alert (once, across restarts),
//! `/done`, and the fields of `tickets show --json` and `report --json`. The window's
//! timing with a moving clock runs `ticketpost::service` with a `ManualClock`.

#[path = "support/embedded.rs"]
mod embedded;

use std::sync::Arc;

use chrono::TimeZone;
use embedded::{Desk, request};
use rusqlite::Connection;
use serde_json::Value;
use ticketpost::clock::ManualClock;
use ticketpost::config::Config;
use ticketpost::service::{self, RunOptions};
use tokio_util::sync::CancellationToken;

const AGENTS: &[&str] = &["Ann Lee <ann@example.test>", "Bob Ng <bob@example.test>"];
const EXTRA: &str = "supervisors = [\"Sue Boss <sue@example.test>\"]\n";

const PLAN: &str = "/plan\nChange: restart the mail server with the new TLS certificate\n\
                    Risk: mail is unavailable for about ten minutes\n\
                    Backup: the old certificate and config are copied to /srv/backup\n\
                    Rollback: put the old certificate back and restart\n\
                    Window: 2026-12-05 22:00 - 2026-12-06 01:00";

/// A desk with Ann and Bob as agents and Sue as supervisor (`[desk] supervisors` is
/// added to the desk table by the helper's `extra`, which follows `[security]`, so it
/// goes in a `[desk]`-less form: the helper's config is rebuilt here).
fn desk() -> Desk {
    let d = Desk::with_agents(AGENTS, "");
    let text = std::fs::read_to_string(&d.config).unwrap();
    let text = text.replacen("[security]", &format!("{EXTRA}[security]"), 1);
    std::fs::write(&d.config, text).unwrap();
    d
}

/// A staff mail on `token` that proves its sender by a DKIM pass from the trusted MTA.
fn staff_mail(desk: &Desk, file: &str, from: &str, token: &str, body: &str) {
    desk.deliver(
        file,
        &format!(
            "Authentication-Results: mx.desk.test; dkim=pass header.d=example.test\n\
             From: {from}\nTo: support@example.test\nSubject: Re: [{token}] mail server\n\
             Message-ID: <{file}@example.test>\nDate: Wed, 25 Nov 2026 10:00:00 +0000\n\
             Content-Type: text/plain; charset=utf-8\n\n{body}\n"
        ),
    );
    desk.run_once();
}

/// Decoded (subject, text) of every mail sent whose file ends with `-{kind}.eml` and
/// whose To contains `to`.
fn sent(desk: &Desk, kind: &str, to: &str) -> Vec<(String, String)> {
    desk.sent(&format!("-{kind}.eml"))
        .into_iter()
        .map(|raw| ticketpost::inbound::parse(raw).expect("our mail parses"))
        .filter(|m| m.to.iter().any(|a| a.email.contains(to)))
        .map(|m| (m.subject, m.text_body))
        .collect()
}

fn db(desk: &Desk) -> Connection {
    Connection::open(desk.root().join("var/ticketpost.db")).unwrap()
}

/// Change-review mails queued to `who` whose subject contains `what`.
fn change_notices(desk: &Desk, who: &str, what: &str) -> usize {
    db(desk)
        .query_row(
            "SELECT count(*) FROM outbox WHERE kind = 'change_notice'
             AND recipients_json LIKE '%' || ?1 || '%' AND subject LIKE '%' || ?2 || '%'",
            rusqlite::params![who, what],
            |r| r.get::<_, i64>(0),
        )
        .unwrap() as usize
}

fn open_ticket(desk: &Desk, file: &str, from: &str, subject: &str, body: &str) {
    desk.deliver(
        file,
        &request(&format!("{file}@customer.test"), from, subject, body),
    );
    desk.run_once();
}

#[test]
fn authorize_waits_for_a_second_agents_approval_and_then_states_the_plan() {
    let desk = desk();
    open_ticket(
        &desk,
        "1.jane",
        "Jane Roe <jane@customer.test>",
        "Mail server certificate expired",
        "Our mail client warns that the server certificate expired.",
    );
    staff_mail(
        &desk,
        "2.ann",
        "Ann Lee <ann@example.test>",
        "TP-1",
        &format!("/priority P2\n/assign ann\n{PLAN}\n/review bob"),
    );
    let show = desk.show("TP-1");
    assert_eq!(show["change"]["state"], "in_review", "{show:#}");
    assert_eq!(show["change"]["author"], "ann@example.test");
    assert_eq!(show["change"]["reviewer"], "bob@example.test");
    assert_eq!(show["change"]["window_start"], "2026-12-05T22:00:00Z");
    assert_eq!(show["change"]["window_end"], "2026-12-06T01:00:00Z");
    // The plan is internal: nothing reached Jane; Bob got the plan to review.
    assert!(sent(&desk, "relay", "jane@customer.test").is_empty());
    let review = sent(&desk, "change_notice", "bob@example.test");
    assert!(
        review
            .iter()
            .any(|(s, t)| s.contains("Change review requested")
                && t.contains("restart the mail server")
                && t.contains("2026-12-05 22:00")),
        "{review:?}"
    );

    // /authorize is held: Ann is told, Jane gets nothing.
    staff_mail(
        &desk,
        "3.ann",
        "Ann Lee <ann@example.test>",
        "TP-1",
        "/authorize restart the mail server",
    );
    let errors = sent(&desk, "command_error", "ann@example.test");
    assert!(
        errors
            .iter()
            .any(|(_, t)| t.contains("held until the change plan is approved")),
        "{errors:?}"
    );
    assert!(sent(&desk, "authorization_request", "jane@customer.test").is_empty());
    assert!(desk.show("TP-1")["authorization_pending"].is_null());

    // The author cannot approve her own plan.
    staff_mail(
        &desk,
        "4.ann",
        "Ann Lee <ann@example.test>",
        "TP-1",
        "/approve",
    );
    let errors = sent(&desk, "command_error", "ann@example.test");
    assert!(
        errors
            .iter()
            .any(|(_, t)| t.contains("you cannot approve it yourself")),
        "{errors:?}"
    );
    assert_eq!(desk.show("TP-1")["change"]["state"], "in_review");

    // Bob approves; Ann hears of it.
    staff_mail(
        &desk,
        "5.bob",
        "Bob Ng <bob@example.test>",
        "TP-1",
        "/approve",
    );
    let show = desk.show("TP-1");
    assert_eq!(show["change"]["state"], "approved", "{show:#}");
    assert_eq!(show["change"]["decided_by"], "bob@example.test");
    assert_eq!(
        change_notices(&desk, "ann@example.test", "Change plan approved"),
        1
    );
    let history: Vec<&str> = show["change"]["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["state"].as_str().unwrap())
        .collect();
    assert_eq!(history, vec!["planned", "in_review", "approved"]);

    // Now /authorize goes out and states change, risk, backup and window.
    staff_mail(
        &desk,
        "6.ann",
        "Ann Lee <ann@example.test>",
        "TP-1",
        "/authorize restart the mail server",
    );
    let asked = sent(&desk, "authorization_request", "jane@customer.test");
    assert_eq!(asked.len(), 1, "{asked:?}");
    let text = &asked[0].1;
    for part in [
        "restart the mail server with the new TLS certificate",
        "mail is unavailable for about ten minutes",
        "copied to /srv/backup",
        "2026-12-05 22:00 – 2026-12-06 01:00 UTC",
    ] {
        assert!(text.contains(part), "{part:?} missing from {text}");
    }

    // report --json counts the plan and its approval.
    let out = desk.ticketpost(
        &[
            "report",
            "--since",
            "2000-01-01",
            "--until",
            "2100-01-01",
            "--json",
        ],
        None,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["changes"]["planned"], 1, "{report:#}");
    assert_eq!(report["changes"]["approved"], 1);
    assert_eq!(report["changes"]["rejected"], 0);
}

#[test]
fn a_chinese_requester_reads_the_approved_plan_in_chinese_and_a_changed_plan_needs_a_new_review() {
    let desk = desk();
    open_ticket(
        &desk,
        "1.li",
        "Li Wei <li@customer.test>",
        "邮件服务器证书过期",
        "您好，我们的邮件客户端提示服务器证书已经过期，无法收发邮件。请帮忙处理，谢谢。",
    );
    staff_mail(
        &desk,
        "2.ann",
        "Ann Lee <ann@example.test>",
        "TP-1",
        &format!("/priority P1\n{PLAN}"),
    );
    staff_mail(
        &desk,
        "3.bob",
        "Bob Ng <bob@example.test>",
        "TP-1",
        "/approve",
    );
    assert_eq!(desk.show("TP-1")["change"]["state"], "approved");
    // A changed plan goes back to planned: /authorize waits again.
    staff_mail(
        &desk,
        "4.ann",
        "Ann Lee <ann@example.test>",
        "TP-1",
        &PLAN.replace("ten minutes", "twenty minutes"),
    );
    assert_eq!(desk.show("TP-1")["change"]["state"], "planned");
    staff_mail(
        &desk,
        "5.ann",
        "Ann Lee <ann@example.test>",
        "TP-1",
        "/authorize restart the mail server",
    );
    assert!(sent(&desk, "authorization_request", "li@customer.test").is_empty());
    staff_mail(
        &desk,
        "6.bob",
        "Bob Ng <bob@example.test>",
        "TP-1",
        "/reject the window overlaps the backup job",
    );
    assert_eq!(desk.show("TP-1")["change"]["state"], "rejected");
    staff_mail(
        &desk,
        "7.ann",
        "Ann Lee <ann@example.test>",
        "TP-1",
        &PLAN.replace("22:00 - 2026-12-06 01:00", "23:00 - 2026-12-06 01:30"),
    );
    staff_mail(
        &desk,
        "8.bob",
        "Bob Ng <bob@example.test>",
        "TP-1",
        "/approve",
    );
    staff_mail(
        &desk,
        "9.ann",
        "Ann Lee <ann@example.test>",
        "TP-1",
        "/authorize restart the mail server",
    );
    let asked = sent(&desk, "authorization_request", "li@customer.test");
    assert_eq!(asked.len(), 1, "{asked:?}");
    let text = &asked[0].1;
    for part in [
        "变更内容",
        "restart the mail server with the new TLS certificate",
        "备份",
        "时间窗口",
        "2026-12-05 23:00 – 2026-12-06 01:30 UTC",
    ] {
        assert!(text.contains(part), "{part:?} missing from {text}");
    }
    let out = desk.ticketpost(
        &[
            "report",
            "--since",
            "2000-01-01",
            "--until",
            "2100-01-01",
            "--json",
        ],
        None,
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["changes"]["planned"], 3, "{report:#}");
    assert_eq!(report["changes"]["approved"], 2);
    assert_eq!(report["changes"]["rejected"], 1);
}

#[test]
fn a_plan_with_a_missing_section_or_a_bad_window_is_refused_naming_it() {
    let desk = desk();
    open_ticket(
        &desk,
        "1.jane",
        "Jane Roe <jane@customer.test>",
        "Switch",
        "The switch on floor 2 is slow.",
    );
    let no_backup = PLAN.replace(
        "Backup: the old certificate and config are copied to /srv/backup\n",
        "",
    );
    staff_mail(
        &desk,
        "2.ann",
        "Ann Lee <ann@example.test>",
        "TP-1",
        &no_backup,
    );
    let bad_window = PLAN.replace("2026-12-06 01:00", "2026-12-05 21:00");
    staff_mail(
        &desk,
        "3.ann",
        "Ann Lee <ann@example.test>",
        "TP-1",
        &bad_window,
    );
    let unreadable = PLAN.replace("2026-12-05 22:00 - 2026-12-06 01:00", "tonight after ten");
    staff_mail(
        &desk,
        "4.ann",
        "Ann Lee <ann@example.test>",
        "TP-1",
        &unreadable,
    );
    let errors: Vec<String> = sent(&desk, "command_error", "ann@example.test")
        .into_iter()
        .map(|(_, t)| t)
        .collect();
    assert_eq!(errors.len(), 3, "{errors:?}");
    assert!(
        errors[0].contains("\"/plan\"") && errors[0].contains("no Backup: section"),
        "{}",
        errors[0]
    );
    assert!(
        errors[1].contains("Window:") && errors[1].contains("ends before it starts"),
        "{}",
        errors[1]
    );
    assert!(
        errors[2].contains("Window: \"tonight after ten\" cannot be read"),
        "{}",
        errors[2]
    );
    let show = desk.show("TP-1");
    assert!(show["change"].is_null(), "{show:#}");
}

#[test]
fn a_window_that_passed_without_done_alerts_the_supervisors_once_across_restarts() {
    let desk = desk();
    open_ticket(
        &desk,
        "1.jane",
        "Jane Roe <jane@customer.test>",
        "Switch",
        "The switch on floor 2 is slow.",
    );
    // A window already over by the real clock: reminder and alert are both due.
    let past = PLAN.replace(
        "2026-12-05 22:00 - 2026-12-06 01:00",
        "2020-01-05 22:00 - 23:00",
    );
    staff_mail(
        &desk,
        "2.ann",
        "Ann Lee <ann@example.test>",
        "TP-1",
        &format!("/assign ann\n{past}"),
    );
    for _ in 0..3 {
        desk.run_once();
    }
    assert_eq!(
        change_notices(&desk, "sue@example.test", "change window ended"),
        1
    );
    assert_eq!(
        change_notices(&desk, "ann@example.test", "change window ended"),
        1
    );
    assert_eq!(
        change_notices(&desk, "ann@example.test", "Change window starts"),
        1
    );
    // Bob is not the assignee: no reminder for him.
    assert_eq!(
        change_notices(&desk, "bob@example.test", "Change window starts"),
        0
    );
    let alert = sent(&desk, "change_notice", "sue@example.test");
    assert!(
        alert
            .iter()
            .any(|(_, t)| t.contains("no /done or /rollback")),
        "{alert:?}"
    );
}

// ---- the window with a moving clock -------------------------------------------------

fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> i64 {
    chrono::Utc
        .with_ymd_and_hms(y, mo, d, h, mi, 0)
        .single()
        .unwrap()
        .timestamp()
}

struct Clocked {
    desk: Desk,
    cfg: Config,
    clock: ManualClock,
}

impl Clocked {
    fn new(start: i64) -> Clocked {
        let desk = desk();
        let text = std::fs::read_to_string(&desk.config).unwrap();
        let cfg = Config::from_toml(&desk.config, &text, &Default::default()).unwrap();
        Clocked {
            desk,
            cfg,
            clock: ManualClock::new(start),
        }
    }

    fn set_time(&self, at: i64) {
        let now = ticketpost::clock::Clock::now(&self.clock);
        self.clock.advance(at - now);
    }

    async fn run_once(&self) {
        service::run(
            &self.cfg,
            RunOptions {
                once: true,
                ..Default::default()
            },
            Arc::new(self.clock.clone()),
            CancellationToken::new(),
        )
        .await
        .unwrap();
    }

    async fn staff(&self, file: &str, from: &str, body: &str) {
        self.desk.deliver(
            file,
            &format!(
                "Authentication-Results: mx.desk.test; dkim=pass header.d=example.test\n\
                 From: {from}\nTo: support@example.test\nSubject: Re: [TP-1] switch\n\
                 Message-ID: <{file}@example.test>\nDate: Sat, 05 Dec 2026 20:00:00 +0000\n\n{body}\n"
            ),
        );
        self.run_once().await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_assignee_is_reminded_at_the_window_start_and_done_before_the_end_means_no_alert() {
    let c = Clocked::new(utc(2026, 12, 5, 20, 0));
    c.desk.deliver(
        "1.jane",
        &request(
            "1@customer.test",
            "Jane Roe <jane@customer.test>",
            "Switch",
            "The switch is slow.",
        ),
    );
    c.run_once().await;
    c.staff(
        "2.ann",
        "Ann Lee <ann@example.test>",
        &format!(
            "/assign ann\n{}",
            PLAN.replace("2026-12-06 01:00", "2026-12-05 23:00")
        ),
    )
    .await;
    let d = &c.desk;
    assert_eq!(
        change_notices(d, "ann@example.test", "Change window starts"),
        0
    );
    // Just before the start: nothing; at the start: Ann (the assignee) is reminded.
    c.set_time(utc(2026, 12, 5, 21, 59));
    c.run_once().await;
    assert_eq!(
        change_notices(d, "ann@example.test", "Change window starts"),
        0
    );
    c.set_time(utc(2026, 12, 5, 22, 0));
    c.run_once().await;
    c.run_once().await;
    assert_eq!(
        change_notices(d, "ann@example.test", "Change window starts"),
        1
    );
    assert_eq!(
        change_notices(d, "bob@example.test", "Change window starts"),
        0
    );
    // Done before the end: no alert when the window ends.
    c.set_time(utc(2026, 12, 5, 22, 40));
    c.staff(
        "3.ann",
        "Ann Lee <ann@example.test>",
        "/done new certificate in place, mail flows",
    )
    .await;
    c.set_time(utc(2026, 12, 6, 0, 0));
    c.run_once().await;
    assert_eq!(
        change_notices(d, "sue@example.test", "change window ended"),
        0
    );
    assert_eq!(
        change_notices(d, "ann@example.test", "change window ended"),
        0
    );
    let show = d.show("TP-1");
    assert_eq!(show["change"]["state"], "done", "{show:#}");
    assert_eq!(
        show["change"]["outcome"],
        "new certificate in place, mail flows"
    );
}
