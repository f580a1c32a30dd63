//! SLA clocks in the store: one row per ticket and target, the due alerts found
//! through the `next_alert_at` index, and the record of daily digests. What the
//! clocks should say is decided in `desk::sla`; this module only reads and writes.

use anyhow::{Result, anyhow};
use rusqlite::{Connection, OptionalExtension, params};

use crate::desk::sla::{Hours, SlaClock, Target};
use crate::desk::status::Priority;

const SELECT_CLOCK: &str = "SELECT target, priority, hours, target_seconds, started_at, consumed,
        running_since, warn_at, due_at, escalate_at, met_at, warned_at, breached_at,
        escalated_at, next_alert_at
     FROM sla_clocks";

/// A clock from a row whose clock columns (in [`SELECT_CLOCK`] order) start at
/// column `base`.
fn clock_from(r: &rusqlite::Row, base: usize) -> rusqlite::Result<SlaClock> {
    let bad = |i: usize, what: String| {
        rusqlite::Error::FromSqlConversionFailure(
            i,
            rusqlite::types::Type::Text,
            anyhow!("unknown {what}").into(),
        )
    };
    let target: String = r.get(base)?;
    let priority: String = r.get(base + 1)?;
    let hours: String = r.get(base + 2)?;
    Ok(SlaClock {
        target: Target::parse(&target).ok_or_else(|| bad(base, format!("target {target:?}")))?,
        priority: priority
            .parse::<Priority>()
            .map_err(|_| bad(base + 1, format!("priority {priority:?}")))?,
        hours: match hours.as_str() {
            "24x7" => Hours::AllHours,
            "business" => Hours::Business,
            _ => return Err(bad(base + 2, format!("hours {hours:?}"))),
        },
        target_seconds: r.get(base + 3)?,
        started_at: r.get(base + 4)?,
        consumed: r.get(base + 5)?,
        running_since: r.get(base + 6)?,
        warn_at: r.get(base + 7)?,
        due_at: r.get(base + 8)?,
        escalate_at: r.get(base + 9)?,
        met_at: r.get(base + 10)?,
        warned_at: r.get(base + 11)?,
        breached_at: r.get(base + 12)?,
        escalated_at: r.get(base + 13)?,
        next_alert_at: r.get(base + 14)?,
    })
}

/// A ticket's clocks (none for tickets older than the SLA feature).
pub fn clocks(conn: &Connection, ticket: i64) -> Result<Vec<SlaClock>> {
    let mut stmt = conn.prepare_cached(&format!(
        "{SELECT_CLOCK} WHERE ticket_id = ?1 ORDER BY target"
    ))?;
    let rows = stmt
        .query_map([ticket], |r| clock_from(r, 0))?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(rows)
}

pub fn clock(conn: &Connection, ticket: i64, target: Target) -> Result<Option<SlaClock>> {
    Ok(conn
        .prepare_cached(&format!(
            "{SELECT_CLOCK} WHERE ticket_id = ?1 AND target = ?2"
        ))?
        .query_row(params![ticket, target.as_str()], |r| clock_from(r, 0))
        .optional()?)
}

/// Inserts or replaces a ticket's clock.
pub fn save(conn: &Connection, ticket: i64, c: &SlaClock) -> Result<()> {
    // An UPDATE of the one row, else an INSERT. `INSERT OR REPLACE` may delete a row,
    // so SQLite copied every page it touched into a statement journal in case the
    // statement had to be undone: 5% of the writer's time at ingest.
    let values = params![
        ticket,
        c.target.as_str(),
        c.priority.as_str(),
        c.hours.as_str(),
        c.target_seconds,
        c.started_at,
        c.consumed,
        c.running_since,
        c.warn_at,
        c.due_at,
        c.escalate_at,
        c.met_at,
        c.warned_at,
        c.breached_at,
        c.escalated_at,
        c.next_alert_at,
    ];
    let updated = conn
        .prepare_cached(
            "UPDATE sla_clocks SET priority = ?3, hours = ?4, target_seconds = ?5,
                 started_at = ?6, consumed = ?7, running_since = ?8, warn_at = ?9,
                 due_at = ?10, escalate_at = ?11, met_at = ?12, warned_at = ?13,
                 breached_at = ?14, escalated_at = ?15, next_alert_at = ?16
             WHERE ticket_id = ?1 AND target = ?2",
        )?
        .execute(values)?;
    if updated == 0 {
        conn.prepare_cached(
            "INSERT INTO sla_clocks (ticket_id, target, priority, hours, target_seconds,
                 started_at, consumed, running_since, warn_at, due_at, escalate_at, met_at,
                 warned_at, breached_at, escalated_at, next_alert_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)",
        )?
        .execute(values)?;
    }
    Ok(())
}

/// Clocks with an alert due at `now`, earliest first, at most `limit`: an index range
/// scan, however many tickets are open.
pub fn due(conn: &Connection, now: i64, limit: usize) -> Result<Vec<(i64, SlaClock)>> {
    let mut stmt = conn.prepare_cached(
        "SELECT ticket_id, target, priority, hours, target_seconds, started_at, consumed,
                running_since, warn_at, due_at, escalate_at, met_at, warned_at, breached_at,
                escalated_at, next_alert_at
         FROM sla_clocks INDEXED BY sla_next_alert
         WHERE next_alert_at IS NOT NULL AND next_alert_at <= ?1
         ORDER BY next_alert_at LIMIT ?2",
    )?;
    let rows = stmt
        .query_map(params![now, limit as i64], |r| {
            Ok((r.get::<_, i64>(0)?, clock_from(r, 1)?))
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(rows)
}

/// The earliest alert not fired yet, over all tickets.
pub fn next_alert(conn: &Connection) -> Result<Option<i64>> {
    Ok(conn
        .prepare_cached(
            "SELECT min(next_alert_at) FROM sla_clocks INDEXED BY sla_next_alert
             WHERE next_alert_at IS NOT NULL",
        )?
        .query_row([], |r| r.get(0))?)
}

/// A clock that is at risk (past its warning) or breached, for `ticketpost sla` and
/// the digest.
#[derive(Debug, Clone)]
pub struct ClockAtRisk {
    pub ticket_id: i64,
    pub subject: String,
    pub status: String,
    pub assignee: Option<String>,
    pub clock: SlaClock,
}

/// Running clocks whose warning time has passed (so also the breached ones), most
/// urgent first (earliest due), at most `limit`. Uses the `sla_due` index.
pub fn at_risk(conn: &Connection, now: i64, limit: usize) -> Result<Vec<ClockAtRisk>> {
    let mut stmt = conn.prepare_cached(
        "SELECT c.ticket_id, c.target, c.priority, c.hours, c.target_seconds, c.started_at,
                c.consumed, c.running_since, c.warn_at, c.due_at, c.escalate_at, c.met_at,
                c.warned_at, c.breached_at, c.escalated_at, c.next_alert_at,
                t.subject, t.status, t.assignee
         FROM sla_clocks c JOIN tickets t ON t.id = c.ticket_id
         WHERE c.due_at IS NOT NULL AND c.warn_at <= ?1
         ORDER BY c.due_at LIMIT ?2",
    )?;
    let rows = stmt
        .query_map(params![now, limit as i64], |r| {
            Ok(ClockAtRisk {
                ticket_id: r.get(0)?,
                clock: clock_from(r, 1)?,
                subject: r.get(16)?,
                status: r.get(17)?,
                assignee: r.get(18)?,
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(rows)
}

/// Records today's digest; false when it was already sent.
pub fn claim_digest(conn: &Connection, day: &str, now: i64) -> Result<bool> {
    Ok(conn
        .prepare_cached("INSERT OR IGNORE INTO sla_digests (day, sent_at) VALUES (?1, ?2)")?
        .execute(params![day, now])?
        > 0)
}

pub fn digest_sent(conn: &Connection, day: &str) -> Result<bool> {
    Ok(conn
        .prepare_cached("SELECT 1 FROM sla_digests WHERE day = ?1")?
        .query_row([day], |_| Ok(()))
        .optional()?
        .is_some())
}

/// What a ticket's clocks depend on, read straight from its row.
pub struct TicketClockRow {
    pub status: String,
    pub priority: String,
    pub created_at: i64,
    pub first_response_at: Option<i64>,
    pub authorization_pending: bool,
}

pub fn ticket_clock_row(conn: &Connection, ticket: i64) -> Result<Option<TicketClockRow>> {
    Ok(conn
        .prepare_cached(
            "SELECT status, priority, created_at, first_response_at, authorization IS NOT NULL
             FROM tickets WHERE id = ?1",
        )?
        .query_row([ticket], |r| {
            Ok(TicketClockRow {
                status: r.get(0)?,
                priority: r.get(1)?,
                created_at: r.get(2)?,
                first_response_at: r.get(3)?,
                authorization_pending: r.get(4)?,
            })
        })
        .optional()?)
}

/// Open tickets (not resolved or closed) by priority and status, for the digest.
pub fn open_counts(conn: &Connection) -> Result<Vec<(String, String, i64)>> {
    let mut stmt = conn.prepare_cached(
        "SELECT priority, status, count(*) FROM tickets
         WHERE status NOT IN ('resolved', 'closed')
         GROUP BY priority, status ORDER BY priority, status",
    )?;
    let rows = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(rows)
}

/// An open ticket in the digest's "oldest" list.
pub struct OpenTicket {
    pub id: i64,
    pub subject: String,
    pub status: String,
    pub priority: String,
    pub created_at: i64,
}

/// The oldest open tickets.
pub fn oldest_open(conn: &Connection, limit: usize) -> Result<Vec<OpenTicket>> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, subject, status, priority, created_at FROM tickets
         WHERE status IN ('open', 'waiting', 'pending') ORDER BY id LIMIT ?1",
    )?;
    let rows = stmt
        .query_map([limit as i64], |r| {
            Ok(OpenTicket {
                id: r.get(0)?,
                subject: r.get(1)?,
                status: r.get(2)?,
                priority: r.get(3)?,
                created_at: r.get(4)?,
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(rows)
}
