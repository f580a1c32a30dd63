//! Timers: one tick ([`run_due`]) auto-closes unconfirmed resolutions, fires the SLA
//! alerts that fall due and queues the supervisors' daily digest; [`next_due`] is the
//! next time anything is due, which the service's timer loop sleeps until. The rules
//! are in `desk::sla` and `desk::lifecycle`; the rows in `store::sla_clocks`; the clocks are
//! kept in step with each ticket change by `ticket_writer::sync_clocks`.
//!
//! Exactly once: a level is stamped on the clock row in the same transaction that
//! queues its mail, so a crash before the commit loses both (and the next tick fires
//! it), and a crash after it keeps both (and no tick fires it again).

use std::sync::Arc;

use anyhow::{Context, Result};
use chrono::TimeZone;
use rusqlite::Connection;
use tracing::{info, warn};

use crate::clock::format_time;
use crate::desk::MailKind;
use crate::desk::change_review;
use crate::desk::lifecycle;
use crate::desk::roster::DeskConfig;
use crate::desk::sla::{Level, SlaPolicy};
use crate::desk::threading::token;
use crate::mail_queue::PendingMail;
use crate::notify::{Digest, DigestLine, Renderer, SlaAlert, TicketView};
use crate::report::format_duration;
use crate::store;
use crate::ticket_writer::{Actor, Applying, apply_decision};

/// Clocks handled per timer transaction. A burst (every ticket that came in overnight
/// falls due when business hours start) is drained in ticks of this size, run back to
/// back, so the writer is never held long and ingest interleaves with them.
pub const ALERT_BATCH: usize = 32;

/// What one tick of [`fire_due`] did.
pub struct FiredAlerts {
    /// Alert levels fired.
    pub fired: usize,
    /// The tick stopped at [`ALERT_BATCH`]; more may be due now.
    pub more_due: bool,
}

/// A time in the desk's calendar zone, for mails and the CLI.
pub fn local_time(policy: &SlaPolicy, at: i64) -> String {
    match policy.calendar.tz.timestamp_opt(at, 0).single() {
        Some(t) => t.format("%Y-%m-%d %H:%M %Z").to_string(),
        None => format_time(at),
    }
}

/// Who holds a ticket, for alerts.
fn holder(assignee: Option<&str>, team: Option<&str>) -> String {
    match (assignee, team) {
        (Some(a), _) => a.to_string(),
        (None, Some(t)) => format!("team {t} (nobody assigned)"),
        (None, None) => "nobody (unassigned)".to_string(),
    }
}

/// Who receives a level's alert for a ticket (lower-cased, without repeats).
fn recipients(
    level: Level,
    view: &TicketView,
    desk: &DeskConfig,
    policy: &SlaPolicy,
) -> Vec<String> {
    let assignee_or_agents = || -> Vec<String> {
        match &view.assignee {
            Some(a) => vec![a.clone()],
            None => desk
                .all_agents()
                .iter()
                .map(|a| a.address.clone())
                .collect(),
        }
    };
    let mut to: Vec<String> = match level {
        Level::Warning => assignee_or_agents(),
        Level::Breach => {
            let mut v: Vec<String> = desk.supervisors.iter().map(|s| s.address.clone()).collect();
            v.extend(assignee_or_agents());
            v
        }
        Level::Escalation => policy.escalate_to.clone(),
    };
    for a in &mut to {
        *a = a.to_ascii_lowercase();
    }
    let mut seen = std::collections::HashSet::new();
    to.retain(|a| seen.insert(a.clone()));
    to
}

/// Fires the alerts due at `now` (at most [`ALERT_BATCH`] clocks), queuing their mails
/// in `pending` and stamping the levels on the clocks, in the caller's transaction.
pub fn fire_due(
    tx: &Connection,
    desk: &DeskConfig,
    policy: &SlaPolicy,
    now: i64,
    pending: &mut PendingMail,
) -> Result<FiredAlerts> {
    let mut fired = 0;
    let due = store::sla_clocks::due(tx, now, ALERT_BATCH)?;
    let more_due = due.len() == ALERT_BATCH;
    for (ticket, mut clock) in due {
        let levels = clock.due_levels(now, policy);
        let row = store::tickets::get(tx, ticket)?;
        let Some(row) = row else {
            // A clock without a ticket cannot happen (foreign key); park it.
            clock.next_alert_at = None;
            store::sla_clocks::save(tx, ticket, &clock)?;
            continue;
        };
        let view = TicketView::from(&row);
        let tok = token(&desk.token_prefix, ticket);
        for level in &levels {
            let level = *level;
            let due = clock.due_at.unwrap_or(now);
            let alert = SlaAlert {
                level: level.as_str(),
                target: clock.target.label(),
                due: local_time(policy, due),
                late_by: if now > due {
                    format_duration(now - due)
                } else {
                    String::new()
                },
                // A warning that fires late (the service was down, or the clock was
                // already past its warning point) says how late, never "due in ".
                left: if due >= now {
                    format_duration(due - now)
                } else {
                    String::new()
                },
                target_length: format_duration(clock.target_seconds),
                hours: clock.hours.as_str(),
                holder: holder(row.assignee.as_deref(), row.team.as_deref()),
                opened: local_time(policy, row.created_at),
            };
            let to = recipients(level, &view, desk, policy);
            if to.is_empty() {
                warn!(token = %tok, level = level.as_str(), target = clock.target.as_str(), "SLA alert has nobody to go to (no agents or supervisors configured)");
            }
            for address in to {
                let (view, alert) = (view.clone(), alert.clone());
                pending.push(ticket, MailKind::SlaAlert, move |r: &Renderer| {
                    r.sla_alert(&view, &address, &alert, now)
                });
            }
            store::tickets::add_event(
                tx,
                ticket,
                now,
                "ticketpost",
                "sla",
                &format!(
                    "SLA {} for {}: {}",
                    level.as_str(),
                    clock.target.label(),
                    if alert.late_by.is_empty() {
                        format!("{} left (due {})", alert.left, alert.due)
                    } else {
                        format!("{} late (due {})", alert.late_by, alert.due)
                    }
                ),
            )?;
            info!(token = %tok, level = level.as_str(), target = clock.target.as_str(), "SLA alert");
            clock.mark_fired(level, now, policy);
            fired += 1;
        }
        if levels.is_empty() {
            // Due by the index but nothing to fire (e.g. escalation turned off since):
            // recompute so the row leaves the index.
            clock.reschedule(policy);
        }
        store::sla_clocks::save(tx, ticket, &clock)?;
    }
    Ok(FiredAlerts { fired, more_due })
}

/// The local day a digest belongs to, and the instant it is due, for the digest hour.
fn digest_slot(policy: &SlaPolicy, hour: u32, now: i64) -> Option<(String, i64)> {
    let tz = policy.calendar.tz;
    let local = tz.timestamp_opt(now, 0).single()?;
    let day = local.date_naive();
    let at = |d: chrono::NaiveDate| {
        d.and_hms_opt(hour, 0, 0)
            .and_then(|t| tz.from_local_datetime(&t).earliest())
            .map(|t| t.timestamp())
    };
    let today = at(day)?;
    if now >= today {
        Some((day.to_string(), today))
    } else {
        let yesterday = day.pred_opt()?;
        Some((yesterday.to_string(), at(yesterday)?))
    }
}

/// When the next digest is due (None: no digest configured).
pub fn next_digest(conn: &Connection, policy: &SlaPolicy, now: i64) -> Result<Option<i64>> {
    let Some(hour) = policy.digest_hour else {
        return Ok(None);
    };
    let Some((day, at)) = digest_slot(policy, hour, now) else {
        return Ok(None);
    };
    if !store::sla_clocks::digest_sent(conn, &day)? {
        return Ok(Some(at));
    }
    // Tomorrow's slot: a day later, at the same local hour.
    Ok(digest_slot(policy, hour, at + 86_400 + 3_600 * 3).map(|(_, t)| t))
}

/// Digest rows listed at most, per section.
const DIGEST_ROWS: usize = 20;

/// Queues today's digest to the supervisors once, when its hour has come. The day is
/// claimed in the caller's transaction with the mail. Returns whether one was queued.
pub fn send_digest_if_due(
    tx: &Connection,
    desk: &DeskConfig,
    renderer: &Renderer,
    policy: &SlaPolicy,
    now: i64,
) -> Result<bool> {
    let Some(hour) = policy.digest_hour else {
        return Ok(false);
    };
    let Some((day, at)) = digest_slot(policy, hour, now) else {
        return Ok(false);
    };
    // Only today's slot: a service that was down for days sends one digest, not one
    // per missed day.
    if now < at || store::sla_clocks::digest_sent(tx, &day)? {
        return Ok(false);
    }
    if desk.supervisors.is_empty() {
        store::sla_clocks::claim_digest(tx, &day, now)?;
        warn!("SLA digest skipped: no [desk] supervisors");
        return Ok(false);
    }
    let digest = build_digest(tx, desk, policy, &day, now)?;
    for s in &desk.supervisors {
        let mail = renderer
            .sla_digest(&s.address, &digest, now)
            .context("cannot render the SLA digest")?;
        store::outbox::enqueue(tx, &mail, now)?;
    }
    store::sla_clocks::claim_digest(tx, &day, now)?;
    info!(day = %day, "SLA digest queued");
    Ok(true)
}

fn build_digest(
    conn: &Connection,
    desk: &DeskConfig,
    policy: &SlaPolicy,
    day: &str,
    now: i64,
) -> Result<Digest> {
    let prefix = &desk.token_prefix;
    let mut open = Vec::new();
    let mut total = 0;
    for (priority, status, count) in store::sla_clocks::open_counts(conn)? {
        total += count;
        open.push(format!("{priority} {status}: {count}"));
    }
    let mut at_risk = Vec::new();
    let mut breached = Vec::new();
    for r in store::sla_clocks::at_risk(conn, now, 10 * DIGEST_ROWS)? {
        let due = r.clock.due_at.unwrap_or(now);
        let line = DigestLine {
            token: token(prefix, r.ticket_id),
            subject: r.subject.clone(),
            priority: r.clock.priority.as_str().to_string(),
            status: r.status.clone(),
            holder: holder(r.assignee.as_deref(), None),
            what: if due <= now {
                format!(
                    "{} {} late",
                    r.clock.target.label(),
                    format_duration(now - due)
                )
            } else {
                format!(
                    "{} due in {}",
                    r.clock.target.label(),
                    format_duration(due - now)
                )
            },
        };
        let list = if due <= now {
            &mut breached
        } else {
            &mut at_risk
        };
        if list.len() < DIGEST_ROWS {
            list.push(line);
        }
    }
    let oldest = store::sla_clocks::oldest_open(conn, 5)?
        .into_iter()
        .map(|t| DigestLine {
            token: token(prefix, t.id),
            subject: t.subject,
            priority: t.priority,
            status: t.status,
            holder: String::new(),
            what: format!("open for {}", format_duration(now - t.created_at)),
        })
        .collect();
    Ok(Digest {
        day: day.to_string(),
        open_total: total,
        open,
        at_risk,
        breached,
        oldest,
        generated: local_time(policy, now),
    })
}

/// The earliest time a timer is due: an auto-close, an SLA alert, the digest or a
/// change window's start or end. Each
/// is one indexed lookup.
pub fn next_due(conn: &Connection, policy: &SlaPolicy, now: i64) -> Result<Option<i64>> {
    let times = [
        store::tickets::next_auto_close(conn)?,
        store::sla_clocks::next_alert(conn)?,
        next_digest(conn, policy, now)?,
        store::changes::next_due(conn)?,
    ];
    Ok(times.into_iter().flatten().min())
}

/// What one timer tick did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct TimerTick {
    /// Resolved tickets closed because their confirmation request went unanswered.
    pub auto_closed: usize,
    /// SLA alert levels fired (each may mail several people).
    pub sla_alerts: usize,
    /// Change-window reminders and overdue alerts fired (`desk::change_review`).
    pub change_windows: usize,
    /// Every mail queued.
    pub mails: usize,
    /// The tick stopped at its bound with more already due: run the next at once.
    pub more_due: bool,
}

/// Auto-closes resolved tickets whose confirmation request went unanswered (decided
/// in `desk::lifecycle`, written by `ticket_writer`), fires the SLA alerts due and
/// queues the day's digest, in one transaction with their mail.
pub fn run_due(
    conn: &mut Connection,
    desk: &DeskConfig,
    sla: &SlaPolicy,
    renderer: &Arc<Renderer>,
    now: i64,
) -> Result<TimerTick> {
    let tx = conn
        .transaction()
        .context("cannot begin the timer transaction")?;
    let mut tick = TimerTick::default();
    let mut pending = PendingMail::default();
    let closing = store::tickets::due_auto_close(&tx, now, AUTO_CLOSE_BATCH)?;
    tick.more_due = closing.len() == AUTO_CLOSE_BATCH;
    let w = Applying {
        tx: &tx,
        desk,
        sla,
        now,
        // Timers decide no mail that carries files.
        relay_attachments_bytes: 0,
    };
    let timer = Actor {
        address: "ticketpost",
        name: None,
    };
    for ticket in closing {
        let Some(state) = store::tickets::state(&tx, ticket)? else {
            continue;
        };
        let d = lifecycle::decide_auto_close(&state, now);
        apply_decision(&w, ticket, &d, &timer, None, &mut pending)?;
        tick.auto_closed += 1;
        info!(token = %token(&desk.token_prefix, ticket), "auto-close timer fired");
    }
    let windows = fire_change_windows(&w, &timer, &mut pending)?;
    tick.change_windows += windows.fired;
    tick.more_due |= windows.more_due;
    let alerts = fire_due(&tx, desk, sla, now, &mut pending)?;
    tick.sla_alerts += alerts.fired;
    tick.more_due |= alerts.more_due;
    if send_digest_if_due(&tx, desk, renderer, sla, now)? {
        tick.mails += desk.supervisors.len();
    }
    tick.mails += pending.flush(&tx, renderer, now)?.mails;
    tx.commit().context("cannot commit the timer transaction")?;
    Ok(tick)
}

/// Sends the change-window events due (the reminder at a window's start, the alert
/// when it ended with no `/done` or `/rollback`), decided by
/// `desk::change_review::decide_window` and written by `apply_decision`, which stamps
/// them on the plan in this transaction with their mail: each fires once.
fn fire_change_windows(
    w: &Applying,
    timer: &Actor,
    pending: &mut PendingMail,
) -> Result<FiredAlerts> {
    let due = store::changes::due(w.tx, w.now, ALERT_BATCH)?;
    let more_due = due.len() >= ALERT_BATCH;
    let mut fired = 0;
    for ticket in due {
        let (Some(state), Some(plan)) = (
            store::tickets::state(w.tx, ticket)?,
            store::changes::get(w.tx, ticket)?,
        ) else {
            continue;
        };
        let d: lifecycle::Decision =
            change_review::decide_window(state.assignee.as_deref(), &plan, w.now, w.desk).into();
        fired += d.mails.len();
        apply_decision(w, ticket, &d, timer, None, pending)?;
        info!(token = %token(&w.desk.token_prefix, ticket), "change window timer fired");
    }
    Ok(FiredAlerts { fired, more_due })
}

/// Auto-closes handled per timer transaction.
const AUTO_CLOSE_BATCH: usize = 200;
