//! Read-only summaries for `/metrics` and the dashboard: counts by state and the open
//! tickets with where their SLA clocks stand. Each is a handful of aggregate queries
//! on a reader connection.

use anyhow::Result;
use rusqlite::Connection;
use serde::Serialize;

use super::outbox::OutboxCounts;

/// An open (not closed) ticket with its nearest SLA due time.
#[derive(Debug, Clone, Serialize)]
pub struct OpenTicket {
    pub id: i64,
    pub subject: String,
    pub priority: String,
    pub status: String,
    pub requester: String,
    pub assignee: Option<String>,
    pub updated_at: i64,
    /// The earliest due time of a clock not yet met, and which target it is.
    pub next_due: Option<i64>,
    pub next_target: Option<String>,
    /// A clock of this ticket is past its due time (and not met).
    pub breached: bool,
    /// A clock of this ticket is past its warning time.
    pub warned: bool,
}

/// Open tickets, the most urgent SLA first (breached, then nearest due, then newest
/// without a clock), at most `limit`.
pub fn open_tickets(conn: &Connection, limit: usize) -> Result<Vec<OpenTicket>> {
    let mut stmt = conn.prepare(
        "SELECT t.id, t.subject, t.priority, t.status, t.requester, t.assignee, t.updated_at,
                (SELECT min(c.due_at) FROM sla_clocks c
                  WHERE c.ticket_id = t.id AND c.met_at IS NULL AND c.due_at IS NOT NULL)
                  AS next_due,
                (SELECT c.target FROM sla_clocks c
                  WHERE c.ticket_id = t.id AND c.met_at IS NULL AND c.due_at IS NOT NULL
                  ORDER BY c.due_at LIMIT 1),
                EXISTS (SELECT 1 FROM sla_clocks c
                  WHERE c.ticket_id = t.id AND c.met_at IS NULL AND c.breached_at IS NOT NULL)
                  AS breached,
                EXISTS (SELECT 1 FROM sla_clocks c
                  WHERE c.ticket_id = t.id AND c.met_at IS NULL AND c.warned_at IS NOT NULL)
         FROM tickets t
         WHERE t.status != 'closed'
         ORDER BY breached DESC, next_due IS NULL, next_due, t.id DESC
         LIMIT ?1",
    )?;
    let rows = stmt
        .query_map([limit as i64], |r| {
            Ok(OpenTicket {
                id: r.get(0)?,
                subject: r.get(1)?,
                priority: r.get(2)?,
                status: r.get(3)?,
                requester: r.get(4)?,
                assignee: r.get(5)?,
                updated_at: r.get(6)?,
                next_due: r.get(7)?,
                next_target: r.get(8)?,
                breached: r.get(9)?,
                warned: r.get(10)?,
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(rows)
}

/// Totals for the metrics.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Totals {
    pub messages: i64,
    /// (status, priority, count).
    pub tickets: Vec<(String, String, i64)>,
    pub outbox: OutboxCounts,
    /// Queued mail that failed at least once and waits for its retry.
    pub outbox_retrying: i64,
    pub sla_warnings: i64,
    pub sla_breaches: i64,
    pub sla_escalations: i64,
    pub quarantined: i64,
}

pub fn totals(conn: &Connection) -> Result<Totals> {
    let one = |sql: &str| -> Result<i64> { Ok(conn.query_row(sql, [], |r| r.get(0))?) };
    let mut stmt =
        conn.prepare("SELECT status, priority, count(*) FROM tickets GROUP BY status, priority")?;
    let tickets = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(Totals {
        messages: one("SELECT count(*) FROM messages")?,
        tickets,
        outbox: super::outbox::counts(conn)?,
        outbox_retrying: one(
            "SELECT count(*) FROM outbox WHERE state = 'queued' AND last_error IS NOT NULL",
        )?,
        sla_warnings: one("SELECT count(*) FROM sla_clocks WHERE warned_at IS NOT NULL")?,
        sla_breaches: one("SELECT count(*) FROM sla_clocks WHERE breached_at IS NOT NULL")?,
        sla_escalations: one("SELECT count(*) FROM sla_clocks WHERE escalated_at IS NOT NULL")?,
        quarantined: one("SELECT count(*) FROM quarantine")?,
    })
}
