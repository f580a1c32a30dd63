//! Exactly once across kill -9, for the work that is not new tickets (those are covered
//! by `tests/faults.rs`): the real `ticketpost run` on the embedded default (Maildir
//! in, `.eml` files out, a real SQLite file, the real clock) is killed with SIGKILL at
//! seeded random moments (the seed is printed; `TP_CRASH_SEED` replays it) and started
//! again, while
//!
//! - agents' replies carrying quick actions (`/priority`, `/note`, `/close`) arrive:
//!   afterwards every reply is stored once, every command shows once on its ticket's
//!   timeline, and the outbox holds exactly the mail of a run without kills (compared
//!   row by row), all of it sent;
//! - SLA alerts fall due on many tickets with targets of seconds: afterwards every
//!   level of every clock fired exactly once (one timeline entry, one mail per
//!   recipient), none lost, none repeated.

#[path = "support/embedded.rs"]
mod embedded;
#[path = "support/running.rs"]
mod running;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use embedded::{Desk, request};
use running::{Running, count, read_store};

/// Generous bound for catching up after the last restart (a loaded 2-core machine).
const CATCH_UP: Duration = Duration::from_secs(45);

/// A desk on the embedded default with this config text (`{root}` is the temp dir).
fn desk_with(config: &str) -> Desk {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("ticketpost.toml");
    std::fs::write(
        &path,
        config.replace("{root}", &dir.path().display().to_string()),
    )
    .expect("write config");
    Desk { dir, config: path }
}

fn db(desk: &Desk) -> PathBuf {
    desk.root().join("var/ticketpost.db")
}

/// Files waiting in the inbox's `new/`.
fn waiting(desk: &Desk) -> usize {
    std::fs::read_dir(desk.root().join("var/inbox/new"))
        .map(|d| d.count())
        .unwrap_or(0)
}

/// One kill: `delay` after the run has logged one of the activity lines (three kills in
/// four: the run is at work, fetching, storing, firing or sending), else after its
/// spawn (start-up: opening the store, loading rules and templates, recovering).
#[derive(Debug, Clone, Copy)]
struct Kill {
    after_activity: bool,
    delay: Duration,
}

/// `n` kills from the seed.
fn schedule(rng: &mut fastrand::Rng, n: usize) -> Vec<Kill> {
    (0..n)
        .map(|_| {
            let after_activity = rng.u8(0..4) != 0;
            let delay = if after_activity {
                Duration::from_millis(rng.u64(0..=600))
            } else {
                Duration::from_millis(rng.u64(100..=1500))
            };
            Kill {
                after_activity,
                delay,
            }
        })
        .collect()
}

/// Kills `svc` at the seeded moments and starts it again each time; returns `sql`'s
/// value in the store at each kill, and how many kills came after activity.
fn kill_at(
    svc: &mut Running,
    db: &Path,
    schedule: &[Kill],
    activity: &[&str],
    sql: &str,
) -> (Vec<i64>, usize) {
    let mut seen = Vec::new();
    let mut at_work = 0;
    for kill in schedule {
        // No activity within the bound (nothing left to do): kill anyway.
        if kill.after_activity && svc.wait_log(activity, Duration::from_secs(3)) {
            at_work += 1;
        }
        std::thread::sleep(kill.delay);
        svc.assert_running("the kill run");
        seen.push(count(db, sql));
        svc.kill9();
        svc.start();
    }
    (seen, at_work)
}

const COMMANDS_CONFIG: &str = r#"
[store]
path = "{root}/var/ticketpost.db"
[mailbox]
kind = "maildir"
path = "{root}/var/inbox"
batch_size = 4
poll_interval = 0.1
[transport]
kind = "file"
path = "{root}/var/outbox"
[desk]
support_address = "support@example.test"
support_name = "Example Support"
agents = ["Ann Lee <ann@example.test>", "Bo Chen <bo@example.test>"]
[security]
trusted_authserv_id = "mx.desk.test"
"#;

const TICKETS: usize = 30;

/// Ann's three replies to ticket `n`, in order: a public answer with `/priority`, an
/// internal `/note`, a `/close`. Our MTA vouches for her (DKIM pass), so they run.
fn agent_replies(n: usize) -> [(String, String); 3] {
    let reply = |k: usize, body: &str| {
        (
            format!("{:03}-{n:03}.reply", 100 + k),
            request(
                &format!("ann-{n}-{k}@example.test"),
                "Ann Lee <ann@example.test>",
                &format!("Re: [TP-{n}] Printer {n} jams"),
                body,
            )
            .replacen(
                "From:",
                "Authentication-Results: mx.desk.test; dkim=pass header.d=example.test\nFrom:",
                1,
            ),
        )
    };
    let priority = if n.is_multiple_of(2) { "P2" } else { "P1" };
    [
        reply(
            0,
            &format!(
                "/priority {priority}\nPlease switch printer {n} off and on, and tell me what the display says."
            ),
        ),
        reply(
            1,
            &format!("/note\nThe spooler log of printer {n} shows a driver crash."),
        ),
        reply(2, "/close"),
    ]
}

fn open_tickets(desk: &Desk) {
    for n in 1..=TICKETS {
        desk.deliver(
            &format!("000-{n:03}.req"),
            &request(
                &format!("req-{n}@req.test"),
                &format!("User {n} <user{n}@req.test>"),
                &format!("Printer {n} jams"),
                "It jams on every second page.",
            ),
        );
    }
    desk.run_once();
    assert_eq!(desk.tickets().len(), TICKETS);
}

/// What a ticket's history holds, without times: its timeline (kind, detail) and its
/// outgoing mail (kind, recipients, subject), each sorted, plus its final state.
#[derive(Debug, PartialEq, Eq)]
struct History {
    status: String,
    priority: String,
    messages: i64,
    events: Vec<(String, String)>,
    mails: Vec<(String, String, String)>,
}

/// A timeline detail without the Message-ID it names (ours carry a random nonce).
fn without_id(detail: String) -> String {
    match detail.find(" (tp.") {
        Some(i) => format!("{} (our id)", &detail[..i]),
        None => detail,
    }
}

fn histories(db: &Path) -> BTreeMap<i64, History> {
    let c = read_store(db).expect("the store");
    let mut out = BTreeMap::new();
    let ids: Vec<(i64, String, String)> = c
        .prepare("SELECT id, status, priority FROM tickets ORDER BY id")
        .expect("prepare")
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .expect("tickets")
        .collect::<rusqlite::Result<_>>()
        .expect("ticket rows");
    for (id, status, priority) in ids {
        let mut events: Vec<(String, String)> = c
            .prepare("SELECT kind, detail FROM events WHERE ticket_id = ?1")
            .expect("prepare")
            .query_map([id], |r| Ok((r.get(0)?, without_id(r.get(1)?))))
            .expect("events")
            .collect::<rusqlite::Result<_>>()
            .expect("event rows");
        events.sort();
        let mut mails: Vec<(String, String, String)> = c
            .prepare("SELECT kind, recipients_json, subject FROM outbox WHERE ticket_id = ?1")
            .expect("prepare")
            .query_map([id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .expect("mails")
            .collect::<rusqlite::Result<_>>()
            .expect("mail rows");
        mails.sort();
        let messages = c
            .query_row(
                "SELECT count(*) FROM messages WHERE ticket_id = ?1",
                [id],
                |r| r.get(0),
            )
            .expect("message count");
        out.insert(
            id,
            History {
                status,
                priority,
                messages,
                events,
                mails,
            },
        );
    }
    out
}

#[test]
fn kill_9_while_agents_commands_arrive_applies_each_once() {
    let seed = running::seed("TP_CRASH_SEED");
    let mut rng = fastrand::Rng::with_seed(seed);
    const KILLS: usize = 10;
    let schedule = schedule(&mut rng, KILLS);
    println!("kills: {schedule:?}");

    // The reference: the same mail without kills, one `run --once` per round.
    let reference = desk_with(COMMANDS_CONFIG);
    open_tickets(&reference);
    for k in 0..3 {
        for n in 1..=TICKETS {
            let (name, raw) = agent_replies(n)[k].clone();
            reference.deliver(&name, &raw);
        }
        reference.run_once();
    }
    let expected = histories(&db(&reference));

    let desk = desk_with(COMMANDS_CONFIG);
    open_tickets(&desk);
    let db = db(&desk);
    let mut svc = Running::new(&desk.config, &desk.root().join("service.log"));
    // The replies arrive over about 12 s, round after round (in a debug build a run
    // takes about a second to start), so the kills land while they are fetched,
    // stored, and their mail sent.
    let mail: Vec<(String, String)> = (0..3)
        .flat_map(|k| (1..=TICKETS).map(move |n| agent_replies(n)[k].clone()))
        .collect();
    let total = mail.len();
    let feeding = Arc::new(AtomicBool::new(true));
    let feeder = {
        let inbox = desk.root().join("var/inbox");
        let feeding = feeding.clone();
        let gap = Duration::from_secs(12) / total as u32;
        std::thread::spawn(move || {
            for (name, raw) in mail {
                let tmp = inbox.join("tmp").join(&name);
                std::fs::write(&tmp, raw.replace('\n', "\r\n")).expect("write into tmp/");
                std::fs::rename(&tmp, inbox.join("new").join(&name)).expect("deliver into new/");
                std::thread::sleep(gap);
            }
            feeding.store(false, Ordering::SeqCst);
        })
    };
    let started = Instant::now();
    svc.start();
    let (at_kills, at_work) = kill_at(
        &mut svc,
        &db,
        &schedule,
        &["batch stored", " sent "],
        "SELECT count(*) FROM messages",
    );
    feeder.join().expect("feeder");
    assert!(!feeding.load(Ordering::SeqCst));
    let last_restart = Instant::now();
    let want_messages = (TICKETS * 4) as i64;
    svc.wait_for("every reply stored and all mail sent", CATCH_UP, || {
        let stored = count(&db, "SELECT count(*) FROM messages");
        let unsent = count(&db, "SELECT count(*) FROM outbox WHERE state <> 'sent'");
        if stored == want_messages && unsent == 0 && waiting(&desk) == 0 {
            Ok(())
        } else {
            Err((stored, unsent, waiting(&desk)))
        }
    });
    let caught_up = last_restart.elapsed();
    let status = svc.terminate(Duration::from_secs(30));
    println!(
        "{KILLS} kills ({at_work} while at work), messages stored at each kill: {at_kills:?} (of {want_messages}); caught up {:.1} s after the last restart; {:.1} s in all",
        caught_up.as_secs_f64(),
        started.elapsed().as_secs_f64()
    );
    assert!(
        status.success(),
        "SIGTERM exit: {status}\n{}",
        svc.log_tail(40)
    );
    assert!(
        at_kills
            .iter()
            .any(|n| *n > (TICKETS as i64) && *n < want_messages),
        "at least one kill landed while replies were being stored: {at_kills:?}"
    );

    let got = histories(&db);
    assert_eq!(got.len(), TICKETS, "no ticket made or lost");
    for (id, h) in &got {
        let once = |kind: &str, detail: &str| {
            h.events
                .iter()
                .filter(|(k, d)| k == kind && d.contains(detail))
                .count()
        };
        let priority = if id % 2 == 0 { "P2" } else { "P1" };
        assert_eq!(
            (h.status.as_str(), h.priority.as_str(), h.messages),
            ("closed", priority, 4),
            "TP-{id}: {h:#?}"
        );
        assert_eq!(once("command", "/priority"), 1, "TP-{id}: {h:#?}");
        assert_eq!(once("priority", priority), 1, "TP-{id}: {h:#?}");
        assert_eq!(once("note", "driver crash"), 1, "TP-{id}: {h:#?}");
        assert_eq!(once("command", "/close"), 1, "TP-{id}: {h:#?}");
        assert_eq!(once("status", "closed"), 1, "TP-{id}: {h:#?}");
        assert_eq!(once("relayed", ""), 1, "TP-{id}: {h:#?}");
        assert_eq!(
            Some(h),
            expected.get(id),
            "TP-{id}: the same history as the run without kills"
        );
    }
    // Every outbox row went out, as one file each (named by the row).
    let rows = count(&db, "SELECT count(*) FROM outbox");
    let files = std::fs::read_dir(desk.root().join("var/outbox"))
        .expect("outbox folder")
        .filter(|e| {
            e.as_ref()
                .is_ok_and(|e| e.file_name().to_string_lossy().ends_with(".eml"))
        })
        .count();
    assert_eq!(files as i64, rows, "one sent file per outbox row");
}

const SLA_CONFIG: &str = r#"
[store]
path = "{root}/var/ticketpost.db"
[mailbox]
kind = "maildir"
path = "{root}/var/inbox"
poll_interval = 0.2
[transport]
kind = "file"
path = "{root}/var/outbox"
[desk]
support_address = "support@example.test"
support_name = "Example Support"
agents = ["Ann Lee <ann@example.test>"]
supervisors = ["Sue Boss <sue@example.test>"]
[security]
trusted_authserv_id = "mx.desk.test"
[triage]
# The priority comes from the sender's domain: "the scanner is slow" alone reads as
# one person, degraded (P4 under the matrix); the domain floor makes it P3.
domains = { "p1.test" = "P1", "p2.test" = "P2", "p3.test" = "P3" }
[sla]
time_zone = "UTC"
warn_at = 0.5
escalate_after = "2s"
[sla.P1]
first_response = "4s"
resolution = "8s"
hours = "24x7"
[sla.P2]
first_response = "6s"
resolution = "12s"
hours = "24x7"
[sla.P3]
first_response = "8s"
resolution = "16s"
hours = "24x7"
"#;

/// The level and target an alert's subject names.
fn alert_key(subject: &str) -> (&'static str, &'static str) {
    let level = if subject.contains("SLA at risk") {
        "warning"
    } else if subject.contains("BREACHED") {
        "breach"
    } else if subject.contains("ESCALATION") {
        "escalation"
    } else {
        panic!("not an SLA alert: {subject}")
    };
    let target = if subject.contains("first response") {
        "first response"
    } else if subject.contains("resolution") {
        "resolution"
    } else {
        panic!("no target in {subject}")
    };
    (level, target)
}

#[test]
fn kill_9_during_sla_ticks_fires_every_alert_once() {
    const PER_PRIORITY: usize = 15;
    let seed = running::seed("TP_CRASH_SEED");
    let mut rng = fastrand::Rng::with_seed(seed);
    const KILLS: usize = 8;
    let schedule = schedule(&mut rng, KILLS);
    println!("kills: {schedule:?}");

    let desk = desk_with(SLA_CONFIG);
    let db = db(&desk);
    let mut n = 0;
    for domain in ["p1.test", "p2.test", "p3.test"] {
        for i in 0..PER_PRIORITY {
            n += 1;
            desk.deliver(
                &format!("{n:03}.req"),
                &request(
                    &format!("req-{n}@{domain}"),
                    &format!("User {i} <user{i}@{domain}>"),
                    &format!("Request {n}: the scanner is slow"),
                    "Scanning a page takes a minute.",
                ),
            );
        }
    }
    // Opened now (the real clock): the alerts fall due 2 to 18 s from here.
    let opened = Instant::now();
    desk.run_once();
    let tickets = desk.tickets();
    assert_eq!(tickets.len(), 3 * PER_PRIORITY);
    for p in ["P1", "P2", "P3"] {
        assert_eq!(
            tickets.iter().filter(|t| t["priority"] == p).count(),
            PER_PRIORITY,
            "{p}"
        );
    }

    let mut svc = Running::new(&desk.config, &desk.root().join("service.log"));
    svc.start();
    let fired_sql = "SELECT coalesce(sum((warned_at IS NOT NULL) + (breached_at IS NOT NULL) + (escalated_at IS NOT NULL)), 0) FROM sla_clocks";
    let (at_kills, at_work) = kill_at(
        &mut svc,
        &db,
        &schedule,
        &["SLA alert", " sent "],
        fired_sql,
    );
    let last_restart = Instant::now();
    // 45 tickets × 2 clocks × 3 levels.
    let want_levels = (3 * PER_PRIORITY * 2 * 3) as i64;
    svc.wait_for("every level fired and all mail sent", CATCH_UP, || {
        let fired = count(&db, fired_sql);
        let unsent = count(&db, "SELECT count(*) FROM outbox WHERE state <> 'sent'");
        if fired == want_levels && unsent == 0 {
            Ok(())
        } else {
            Err((fired, unsent))
        }
    });
    let caught_up = last_restart.elapsed();
    let status = svc.terminate(Duration::from_secs(30));
    println!(
        "{KILLS} kills ({at_work} while at work), alert levels fired at each kill: {at_kills:?} (of {want_levels}); caught up {:.1} s after the last restart, {:.1} s after the tickets opened",
        caught_up.as_secs_f64(),
        opened.elapsed().as_secs_f64()
    );
    assert!(
        status.success(),
        "SIGTERM exit: {status}\n{}",
        svc.log_tail(40)
    );
    assert!(
        at_kills.iter().any(|n| *n > 0 && *n < want_levels),
        "at least one kill landed while alerts were firing: {at_kills:?}"
    );

    let c = read_store(&db).expect("the store");
    // Each level once on each ticket's timeline.
    let mut events: BTreeMap<(i64, String), usize> = BTreeMap::new();
    let mut stmt = c
        .prepare("SELECT ticket_id, detail FROM events WHERE kind = 'sla'")
        .expect("prepare");
    for row in stmt
        .query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?)))
        .expect("sla events")
    {
        let (ticket, detail) = row.expect("event row");
        let key: String = detail.split(':').next().unwrap_or_default().to_string();
        *events.entry((ticket, key)).or_default() += 1;
    }
    assert_eq!(
        events.len(),
        3 * PER_PRIORITY * 6,
        "six levels on every ticket: {events:#?}"
    );
    let repeated: Vec<_> = events.iter().filter(|(_, n)| **n != 1).collect();
    assert!(
        repeated.is_empty(),
        "levels on a timeline twice: {repeated:#?}"
    );

    // One mail per level and recipient: the warning to the agent (nobody is assigned),
    // the breach to the supervisor and the agent, the escalation to the supervisor.
    let mut mails: BTreeMap<(i64, &str, &str, String), usize> = BTreeMap::new();
    let mut stmt = c
        .prepare("SELECT ticket_id, subject, recipients_json, state FROM outbox WHERE kind = 'sla_alert'")
        .expect("prepare");
    for row in stmt
        .query_map([], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?,
            ))
        })
        .expect("alert mails")
    {
        let (ticket, subject, to, state) = row.expect("mail row");
        assert_eq!(state, "sent");
        let (level, target) = alert_key(&subject);
        *mails.entry((ticket, level, target, to)).or_default() += 1;
    }
    let repeated: Vec<_> = mails.iter().filter(|(_, n)| **n != 1).collect();
    assert!(repeated.is_empty(), "alert mails repeated: {repeated:#?}");
    for ticket in 1..=(3 * PER_PRIORITY) as i64 {
        for target in ["first response", "resolution"] {
            let to = |level: &str| -> Vec<String> {
                mails
                    .keys()
                    .filter(|(t, l, g, _)| *t == ticket && *l == level && *g == target)
                    .map(|(.., to)| to.clone())
                    .collect()
            };
            assert_eq!(
                to("warning").len(),
                1,
                "TP-{ticket} {target}: {:?}",
                to("warning")
            );
            assert!(to("warning")[0].contains("ann@example.test"));
            let breach = to("breach");
            assert!(
                breach.len() == 2
                    && breach.iter().any(|t| t.contains("sue@example.test"))
                    && breach.iter().any(|t| t.contains("ann@example.test")),
                "TP-{ticket} {target} breach: {breach:?}"
            );
            let esc = to("escalation");
            assert!(
                esc.len() == 1 && esc[0].contains("sue@example.test"),
                "TP-{ticket} {target} escalation: {esc:?}"
            );
        }
    }
    assert_eq!(mails.len(), 3 * PER_PRIORITY * 2 * 4);
}
