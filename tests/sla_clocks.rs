//! SLA clocks and alerts through the real service on the embedded setting (Maildir in,
//! file transport out, a real SQLite file), with an injected clock. Every step is a
//! fresh `run --once`, so every step is also a restart: a level fires once across
//! restarts. Calendar arithmetic (weekends, holidays, DST) is unit-tested in
//! `desk::sla`; this file checks what the desk does with it.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::TimeZone;
use rusqlite::Connection;
use ticketpost::clock::ManualClock;
use ticketpost::config::Config;
use ticketpost::service::{self, RunOptions};
use tokio_util::sync::CancellationToken;

const ANN: &str = "ann@example.test";
const SUE: &str = "sue@example.test";
const SUPPORT: &str = "support@example.test";

fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> i64 {
    chrono::Utc
        .with_ymd_and_hms(y, mo, d, h, mi, 0)
        .single()
        .unwrap()
        .timestamp()
}

struct Desk {
    dir: tempfile::TempDir,
    cfg: Config,
    clock: ManualClock,
    delivered: usize,
}

impl Desk {
    fn new(start: i64) -> Desk {
        let dir = tempfile::tempdir().unwrap();
        let text = format!(
            r#"
[store]
path = "{root}/ticketpost.db"
[mailbox]
kind = "maildir"
path = "{root}/inbox"
[transport]
kind = "file"
path = "{root}/outbox"
[desk]
support_address = "{SUPPORT}"
agents = ["Ann Lee <{ANN}>"]
supervisors = ["Sue Boss <{SUE}>"]
# The requests here are one person's, with no urgency: P4 under the priority matrix.
# The clocks below are worked out for P3 targets: the domain floor makes them P3.
[triage]
domains = {{ "example.test" = "P3" }}
[sla]
time_zone = "UTC"
escalate_after = "1h"
digest_hour = 8
holidays = ["2026-12-25"]
"#,
            root = dir.path().display(),
        );
        let cfg =
            Config::from_toml(&dir.path().join("t.toml"), &text, &Default::default()).unwrap();
        Desk {
            dir,
            cfg,
            clock: ManualClock::new(start),
            delivered: 0,
        }
    }

    fn root(&self) -> &Path {
        self.dir.path()
    }

    fn deliver(&mut self, raw: String) {
        let new = self.root().join("inbox/new");
        std::fs::create_dir_all(&new).unwrap();
        for sub in ["cur", "tmp"] {
            std::fs::create_dir_all(self.root().join("inbox").join(sub)).unwrap();
        }
        self.delivered += 1;
        std::fs::write(new.join(format!("{}.test", self.delivered)), raw).unwrap();
    }

    fn set_time(&self, at: i64) {
        let now = ticketpost::clock::Clock::now(&self.clock);
        assert!(at >= now, "time only moves forward");
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

    fn db(&self) -> Connection {
        Connection::open(self.root().join("ticketpost.db")).unwrap()
    }

    /// (kind, recipients, subject) of every mail queued, oldest first.
    fn mails(&self) -> Vec<(String, String, String)> {
        let conn = self.db();
        let mut stmt = conn
            .prepare("SELECT kind, recipients_json, subject FROM outbox ORDER BY id")
            .unwrap();
        stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .unwrap()
            .collect::<Result<Vec<_>, _>>()
            .unwrap()
    }

    /// Subjects of the SLA alerts sent to `who`, oldest first.
    fn alerts_to(&self, who: &str) -> Vec<String> {
        self.mails()
            .into_iter()
            .filter(|(kind, to, _)| kind == "sla_alert" && to.contains(who))
            .map(|(_, _, s)| s)
            .collect()
    }

    /// The Message-ID of the new-ticket notice sent to `who` about `ticket`.
    fn notice_to(&self, ticket: i64, who: &str) -> String {
        self.db()
            .query_row(
                "SELECT message_id FROM outbox WHERE ticket_id = ?1 AND kind = 'agent_notice'
                 AND recipients_json LIKE '%' || ?2 || '%' ORDER BY id LIMIT 1",
                rusqlite::params![ticket, who],
                |r| r.get(0),
            )
            .unwrap()
    }

    /// A clock's (due_at, consumed, running) for a ticket and target.
    fn clock_row(&self, ticket: i64, target: &str) -> (Option<i64>, i64, bool) {
        self.db()
            .query_row(
                "SELECT due_at, consumed, running_since IS NOT NULL FROM sla_clocks
                 WHERE ticket_id = ?1 AND target = ?2",
                rusqlite::params![ticket, target],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .unwrap()
    }

    /// The files the transport wrote: every mail really left.
    fn sent_files(&self) -> Vec<PathBuf> {
        match std::fs::read_dir(self.root().join("outbox")) {
            Ok(d) => d.map(|e| e.unwrap().path()).collect(),
            Err(_) => Vec::new(),
        }
    }

    fn sla_json(&self) -> serde_json::Value {
        let mut out = Vec::new();
        ticketpost::commands::sla_listing::sla_command(
            &self.cfg,
            true,
            ticketpost::clock::Clock::now(&self.clock),
            &mut out,
        )
        .unwrap();
        serde_json::from_slice(&out).unwrap()
    }
}

fn mail(from: &str, id: &str, subject: &str, body: &str) -> String {
    format!(
        "From: {from}\r\nTo: {SUPPORT}\r\nSubject: {subject}\r\nMessage-ID: <{id}>\r\nDate: Mon, 07 Dec 2026 09:00:00 +0000\r\n\r\n{body}\r\n"
    )
}

/// A reply to one of our mails (`in_reply_to`, a Message-ID we sent).
fn reply(from: &str, id: &str, in_reply_to: &str, subject: &str, body: &str) -> String {
    format!(
        "From: {from}\r\nTo: {SUPPORT}\r\nSubject: {subject}\r\nMessage-ID: <{id}>\r\nIn-Reply-To: <{in_reply_to}>\r\nDate: Mon, 07 Dec 2026 09:00:00 +0000\r\n\r\n{body}\r\n"
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn warning_breach_escalation_and_digest_fire_once_across_restarts() {
    // Monday 2026-12-07 09:00 UTC. A P3 request: first response due in one business
    // day (8h, Monday 17:00); warning at 80% (15:24); escalation one business hour
    // after the breach (Tuesday 10:00).
    let start = utc(2026, 12, 7, 9, 0);
    let mut desk = Desk::new(start);
    desk.deliver(mail(
        "Rita <rita@example.test>",
        "r1@example.test",
        "Question about my monitor",
        "Hello, my second monitor flickers now and then. Windows 11, Dell U2720Q.",
    ));
    desk.run_once().await;
    let (due, consumed, running) = desk.clock_row(1, "first_response");
    assert_eq!(
        (due, consumed, running),
        (Some(utc(2026, 12, 7, 17, 0)), 0, true)
    );
    assert_eq!(
        desk.clock_row(1, "resolution").0,
        Some(utc(2026, 12, 9, 17, 0))
    );
    assert!(desk.alerts_to(ANN).is_empty());
    // Monday's digest (08:00 has passed) went to the supervisor once.
    let digests = |d: &Desk| d.mails().iter().filter(|m| m.0 == "sla_digest").count();
    assert_eq!(digests(&desk), 1);

    // 15:30: the warning goes to the agents (nobody is assigned).
    desk.set_time(utc(2026, 12, 7, 15, 30));
    desk.run_once().await;
    let to_ann = desk.alerts_to(ANN);
    assert_eq!(to_ann.len(), 1, "{to_ann:?}");
    assert!(
        to_ann[0].starts_with("[TP-1] SLA at risk: first response due in 1h 30m"),
        "{}",
        to_ann[0]
    );
    assert!(desk.alerts_to(SUE).is_empty());
    let listed = desk.sla_json();
    assert_eq!(listed[0]["token"], "TP-1");
    assert_eq!(listed[0]["state"], "at_risk");
    assert_eq!(listed[0]["seconds_left"], 90 * 60);

    // 16:00, a restart later: no second warning.
    desk.set_time(utc(2026, 12, 7, 16, 0));
    desk.run_once().await;
    assert_eq!(desk.alerts_to(ANN).len(), 1);

    // Tuesday 08:30: breached at 17:00 yesterday, 15h30m of wall time ago. The breach
    // goes to the supervisor and the agents; Tuesday's digest too.
    desk.set_time(utc(2026, 12, 8, 8, 30));
    desk.run_once().await;
    let to_sue = desk.alerts_to(SUE);
    assert_eq!(to_sue.len(), 1, "{to_sue:?}");
    assert!(
        to_sue[0].contains("SLA BREACHED: first response 15h 30m late"),
        "{}",
        to_sue[0]
    );
    assert_eq!(desk.alerts_to(ANN).len(), 2);
    assert_eq!(digests(&desk), 2);
    assert_eq!(desk.sla_json()[0]["state"], "breached");

    // 10:05: the escalation, to the supervisors (the default escalate_to).
    desk.set_time(utc(2026, 12, 8, 10, 5));
    desk.run_once().await;
    let to_sue = desk.alerts_to(SUE);
    assert_eq!(to_sue.len(), 2, "{to_sue:?}");
    assert!(to_sue[1].contains("SLA ESCALATION"), "{}", to_sue[1]);
    // Nothing fires twice, however often the service restarts.
    for minutes in [1, 60, 600] {
        desk.clock.advance(minutes * 60);
        desk.run_once().await;
    }
    assert_eq!(desk.alerts_to(SUE).len(), 2);
    assert_eq!(desk.alerts_to(ANN).len(), 2);
    // Tuesday's digest was not repeated; Wednesday's came at its hour.
    assert_eq!(digests(&desk), 2);
    // The timeline says what happened, and the mails left through the transport.
    let events: Vec<String> = desk
        .db()
        .prepare("SELECT detail FROM events WHERE kind = 'sla' ORDER BY id")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(events.len(), 3, "{events:?}");
    assert_eq!(desk.sent_files().len(), desk.mails().len());
}

#[tokio::test(flavor = "multi_thread")]
async fn waiting_pauses_the_clock_a_reply_resumes_it_and_priority_moves_it() {
    // Tuesday 2026-12-08 10:00 UTC.
    let mut desk = Desk::new(utc(2026, 12, 8, 10, 0));
    desk.deliver(mail(
        "Rita <rita@example.test>",
        "r2@example.test",
        "Question about my monitor",
        "Hello, my second monitor flickers now and then. Windows 11, Dell U2720Q.",
    ));
    desk.run_once().await;
    // P3 resolution: three business days (24h), due Friday 10:00.
    assert_eq!(
        desk.clock_row(1, "resolution").0,
        Some(utc(2026, 12, 11, 10, 0))
    );

    // 11:00: Ann answers and sets the ticket waiting on the requester. The first
    // response is met; the resolution clock pauses with one hour used.
    desk.set_time(utc(2026, 12, 8, 11, 0));
    let notice = desk.notice_to(1, ANN);
    desk.deliver(reply(
        &format!("Ann Lee <{ANN}>"),
        "a1@example.test",
        &notice,
        "Re: [TP-1] Question about my monitor",
        "/status waiting\nCould you try another cable and tell me if it still flickers?",
    ));
    desk.run_once().await;
    let (due, consumed, running) = desk.clock_row(1, "resolution");
    assert_eq!((due, consumed, running), (None, 3_600, false));
    let (fr_due, _, fr_running) = desk.clock_row(1, "first_response");
    assert_eq!((fr_due, fr_running), (None, false), "first response met");
    // `tickets show` says so.
    let mut out = Vec::new();
    ticketpost::commands::ticket_view::tickets_show(
        &desk.cfg,
        "TP-1",
        true,
        ticketpost::clock::Clock::now(&desk.clock),
        &mut out,
    )
    .unwrap();
    let shown: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(shown["sla"][0]["target"], "first_response");
    assert_eq!(shown["sla"][0]["state"], "met");
    assert_eq!(shown["sla"][1]["state"], "paused");
    assert_eq!(shown["sla"][1]["used_seconds"], 3_600);

    // A week passes: nothing is due while the desk waits.
    desk.set_time(utc(2026, 12, 15, 11, 0));
    desk.run_once().await;
    assert!(desk.alerts_to(ANN).is_empty());

    // Tuesday 15th 11:00, the requester replies: 23 business hours left, so due
    // Friday 18th 10:00.
    desk.deliver(mail(
        "Rita <rita@example.test>",
        "r3@example.test",
        "Re: [TP-1] Question about my monitor",
        "Another cable did not help, it still flickers.",
    ));
    desk.run_once().await;
    let (due, consumed, running) = desk.clock_row(1, "resolution");
    assert_eq!(
        (due, consumed, running),
        (Some(utc(2026, 12, 18, 10, 0)), 3_600, true)
    );

    // 12:00: Ann raises it to P1 (4h around the clock). Two business hours are used,
    // so it is due at 14:00.
    desk.set_time(utc(2026, 12, 15, 12, 0));
    desk.deliver(reply(
        &format!("Ann Lee <{ANN}>"),
        "a2@example.test",
        &notice,
        "Re: [TP-1] Question about my monitor",
        "/priority P1",
    ));
    desk.run_once().await;
    let (due, consumed, _) = desk.clock_row(1, "resolution");
    assert_eq!(consumed, 2 * 3_600);
    assert_eq!(due, Some(utc(2026, 12, 15, 14, 0)));
    // The P1 clock counts through the night: at 22:00 it is 8h late, and the breach
    // and the escalation (due 15:00) went out although it is outside business hours.
    desk.set_time(utc(2026, 12, 15, 22, 0));
    desk.run_once().await;
    let to_sue = desk.alerts_to(SUE);
    assert_eq!(to_sue.len(), 2, "{to_sue:?}");
    assert!(
        to_sue[0].contains("SLA BREACHED: resolution 8h 00m late (P1)"),
        "{}",
        to_sue[0]
    );
    assert!(
        to_sue[1].contains("SLA ESCALATION: resolution"),
        "{}",
        to_sue[1]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_burst_larger_than_one_tick_is_drained_in_one_run() {
    // Forty requests over a weekend: their business clocks all start on Monday 09:00,
    // so every warning falls due at the same instant, more than one tick handles.
    let mut desk = Desk::new(utc(2026, 12, 5, 10, 0)); // Saturday
    let burst = 40;
    assert!(burst > ticketpost::timers::ALERT_BATCH);
    for i in 0..burst {
        desk.deliver(mail(
            &format!("User {i} <user{i}@example.test>"),
            &format!("w{i}@example.test"),
            &format!("Question number {i} about my monitor"),
            "Hello, my second monitor flickers now and then. Windows 11, Dell U2720Q.",
        ));
    }
    desk.run_once().await;
    assert!(desk.alerts_to(ANN).is_empty());
    desk.set_time(utc(2026, 12, 7, 15, 30)); // Monday, past 80% of 8 business hours
    desk.run_once().await;
    let warnings = desk.alerts_to(ANN);
    assert_eq!(warnings.len(), burst, "{warnings:?}");
    let tokens: std::collections::HashSet<&str> = warnings
        .iter()
        .filter_map(|s| s.split(']').next())
        .collect();
    assert_eq!(tokens.len(), burst, "one warning per ticket");
}

/// The long-running service: a commit wakes the timer loop, so a due time that came
/// closer than its last wait (here: one already past when the next mail arrives) fires
/// at once, not when the loop's 60 s safety sleep runs out.
#[tokio::test(flavor = "multi_thread")]
async fn a_commit_wakes_the_timer_loop() {
    let start = utc(2026, 12, 7, 9, 0);
    let mut desk = Desk::new(start);
    let shutdown = CancellationToken::new();
    let service = {
        let (cfg, clock, stop) = (desk.cfg.clone(), desk.clock.clone(), shutdown.clone());
        tokio::spawn(async move {
            service::run(&cfg, RunOptions::default(), Arc::new(clock), stop).await
        })
    };
    desk.deliver(mail(
        "Rita <rita@example.test>",
        "r1@example.test",
        "Question about my monitor",
        "Hello, my second monitor flickers now and then.",
    ));
    wait_for(
        "the ticket",
        &|| !desk.sent_files().is_empty(),
        Duration::from_secs(20),
    )
    .await;
    // The timer loop has looked (nothing due before 15:24) and sleeps its longest.
    tokio::time::sleep(Duration::from_secs(2)).await;
    // Past the warning time; nothing tells the loop but the next commit.
    desk.set_time(utc(2026, 12, 7, 15, 30));
    desk.deliver(mail(
        "Tom <tom@example.test>",
        "t1@example.test",
        "Keyboard",
        "A key is stuck.",
    ));
    let took = wait_for(
        "the warning after the next commit",
        &|| {
            desk.sent_files()
                .iter()
                .any(|p| p.to_string_lossy().ends_with("-sla_alert.eml"))
        },
        Duration::from_secs(15),
    )
    .await;
    println!("warning fired {took:?} after the next mail was delivered");
    shutdown.cancel();
    service.await.unwrap().unwrap();
    assert_eq!(desk.alerts_to(ANN).len(), 1, "the warning, once");
}

/// Waits until `done`, failing after `limit`; returns how long it took.
async fn wait_for(what: &str, done: &dyn Fn() -> bool, limit: Duration) -> Duration {
    let started = Instant::now();
    while !done() {
        assert!(started.elapsed() < limit, "{what}: not within {limit:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    started.elapsed()
}
