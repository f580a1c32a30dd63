//! The long-running service's own timers, on the real clock (no injected clock, no
//! `--once`): `ticketpost run` on the embedded default, with SLA targets and an
//! auto-close of a few seconds, mails a supervisor the breach alert of a ticket nobody
//! answered, and closes a resolved ticket nobody confirmed (with its closing mail),
//! both while it keeps running; then SIGTERM stops it cleanly (exit 0). Every wait is
//! a poll with a generous deadline; the only timing asserted is a lower bound (a timer
//! never fires before its time).

#[path = "support/embedded.rs"]
mod embedded;
#[path = "support/running.rs"]
mod running;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use embedded::{Desk, header, request};
use running::{Running, read_store};

/// Bound for each wait (a loaded 2-core machine, a debug build).
const WAIT: Duration = Duration::from_secs(60);

const FIRST_RESPONSE_SECS: i64 = 3;
const AUTO_CLOSE_SECS: i64 = 3;

fn desk() -> Desk {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("ticketpost.toml");
    std::fs::write(
        &config,
        format!(
            r#"
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
[lifecycle]
auto_close_after = "{AUTO_CLOSE_SECS}s"
[sla]
time_zone = "UTC"
[sla.P3]
first_response = "{FIRST_RESPONSE_SECS}s"
resolution = "2m"
hours = "24x7"
"#,
            root = dir.path().display()
        ),
    )
    .expect("write config");
    Desk { dir, config }
}

/// The sent mails (`.eml` files of the file transport) whose name ends with `kind.eml`.
fn sent(root: &Path, kind: &str) -> Vec<(PathBuf, String)> {
    let Ok(dir) = std::fs::read_dir(root.join("var/outbox")) else {
        return Vec::new();
    };
    let suffix = format!("-{kind}.eml");
    let mut out: Vec<(PathBuf, String)> = dir
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.to_string_lossy().ends_with(&suffix))
        .filter_map(|p| Some((p.clone(), std::fs::read_to_string(&p).ok()?)))
        .collect();
    out.sort();
    out
}

/// When the timeline of `ticket` first got an event of `kind` whose detail holds
/// `detail` (unix seconds).
fn event_at(db: &Path, ticket: i64, kind: &str, detail: &str) -> Option<i64> {
    read_store(db)?
        .query_row(
            "SELECT min(at) FROM events WHERE ticket_id = ?1 AND kind = ?2 AND instr(detail, ?3) > 0",
            rusqlite::params![ticket, kind, detail],
            |r| r.get::<_, Option<i64>>(0),
        )
        .ok()
        .flatten()
}

fn ticket_field(db: &Path, ticket: i64, column: &str) -> Option<String> {
    read_store(db)?
        .query_row(
            &format!("SELECT CAST({column} AS TEXT) FROM tickets WHERE id = ?1"),
            [ticket],
            |r| r.get::<_, Option<String>>(0),
        )
        .ok()
        .flatten()
}

#[test]
fn the_running_service_mails_a_breach_and_auto_closes_on_the_real_clock() {
    let desk = desk();
    let db = desk.root().join("var/ticketpost.db");
    let mut svc = Running::new(&desk.config, &desk.root().join("service.log"));
    let started = Instant::now();
    svc.start();
    svc.wait_started(WAIT);

    // A request nobody answers.
    desk.deliver(
        "1.req",
        &request(
            "jane-1@home.test",
            "Jane <jane@home.test>",
            "Docking station dead",
            "The docking station on my desk does not power on.",
        ),
    );
    // The breach alert reaches the supervisor while the service runs on.
    let alert = svc.wait_for("the supervisor's breach alert for TP-1", WAIT, || {
        sent(desk.root(), "sla_alert")
            .into_iter()
            .find(|(_, m)| {
                header(m, "To").is_some_and(|t| t.contains("sue@example.test"))
                    && header(m, "Subject").is_some_and(|s| {
                        s.contains("[TP-1]")
                            && s.contains("BREACHED")
                            && s.contains("first response")
                    })
            })
            .ok_or_else(|| {
                let all: Vec<String> = sent(desk.root(), "sla_alert")
                    .iter()
                    .filter_map(|(_, m)| header(m, "Subject").map(str::to_string))
                    .collect();
                all
            })
    });
    let alerted_after = started.elapsed();
    let opened: i64 = ticket_field(&db, 1, "created_at")
        .and_then(|s| s.parse().ok())
        .expect("TP-1 opened");
    let breached = event_at(&db, 1, "sla", "SLA breach for first response")
        .expect("the breach is on TP-1's timeline");
    assert!(
        breached - opened >= FIRST_RESPONSE_SECS,
        "the breach fired {}s after the ticket opened, before the {FIRST_RESPONSE_SECS}s target",
        breached - opened
    );
    assert!(
        alert.1.contains("TP-1"),
        "the alert names the ticket: {}",
        alert.1
    );
    // The warning (80%) went to the agent before it.
    let warned = event_at(&db, 1, "sla", "SLA warning for first response")
        .expect("the warning is on TP-1's timeline");
    assert!(warned <= breached);

    // A second request, resolved by Ann (our MTA vouches for her); nobody confirms.
    desk.deliver(
        "2.req",
        &request(
            "omar-1@home.test",
            "Omar <omar@home.test>",
            "Headset crackles",
            "My headset crackles in every call.",
        ),
    );
    svc.wait_for("TP-2 opened", WAIT, || {
        ticket_field(&db, 2, "status").ok_or("no TP-2 yet")
    });
    desk.deliver(
        "3.resolve",
        &request(
            "ann-1@example.test",
            "Ann Lee <ann@example.test>",
            "Re: [TP-2] Headset crackles",
            "/resolve Replaced the headset cable.\nThe cable was frayed; I put in a new one.",
        )
        .replacen(
            "From:",
            "Authentication-Results: mx.desk.test; dkim=pass header.d=example.test\nFrom:",
            1,
        ),
    );
    let resolved_at = svc.wait_for("TP-2 resolved", WAIT, || {
        match event_at(&db, 2, "status", "resolved") {
            Some(at) => Ok(at),
            None => Err(ticket_field(&db, 2, "status")),
        }
    });
    // The auto-close timer closes it, with a closing mail to Omar.
    let closing = svc.wait_for("TP-2 auto-closed with its closing mail", WAIT, || {
        let status = ticket_field(&db, 2, "status");
        let mail = sent(desk.root(), "closing").into_iter().find(|(_, m)| {
            header(m, "Subject").is_some_and(|s| s.contains("[TP-2]"))
                && header(m, "To").is_some_and(|t| t.contains("omar@home.test"))
        });
        match (status.as_deref(), mail) {
            (Some("closed"), Some(m)) => Ok(m),
            (s, m) => Err((s.map(str::to_string), m.is_some())),
        }
    });
    let closed_at: i64 = ticket_field(&db, 2, "closed_at")
        .and_then(|s| s.parse().ok())
        .expect("TP-2 has closed_at");
    assert!(
        closed_at - resolved_at >= AUTO_CLOSE_SECS,
        "closed {}s after the resolution, before the {AUTO_CLOSE_SECS}s auto-close",
        closed_at - resolved_at
    );
    let closer = read_store(&db)
        .expect("store")
        .query_row(
            "SELECT actor FROM events WHERE ticket_id = 2 AND kind = 'status' AND instr(detail, 'closed') > 0",
            [],
            |r| r.get::<_, String>(0),
        )
        .expect("the close on TP-2's timeline");
    assert_eq!(closer, "ticketpost", "closed by the timer, not by a person");
    assert!(closing.1.contains("Headset crackles"), "{}", closing.1);
    assert_eq!(svc.starts, 1, "all of it in one run of the service");

    let status = svc.terminate(Duration::from_secs(30));
    println!(
        "breach alert mailed {:.1} s after the start (breach {} s after opening); TP-2 auto-closed {} s after its resolution; {:.1} s in all",
        alerted_after.as_secs_f64(),
        breached - opened,
        closed_at - resolved_at,
        started.elapsed().as_secs_f64()
    );
    assert!(
        status.success(),
        "SIGTERM exit: {status}\n{}",
        svc.log_tail(40)
    );
    assert!(svc.run_log().contains("stopped"), "{}", svc.log_tail(20));
}
