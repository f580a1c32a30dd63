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

const AT_RISK_COLUMNS: &str = "SELECT c.ticket_id, c.target, c.priority, c.hours,
        c.target_seconds, c.started_at, c.consumed, c.running_since, c.warn_at, c.due_at,
        c.escalate_at, c.met_at, c.warned_at, c.breached_at, c.escalated_at, c.next_alert_at,
        t.subject, t.status, t.assignee";
/// Running clocks past their due time, the longest overdue first: `?1` now, `?2` the
/// limit.
const OVERDUE: &str = "FROM sla_clocks c INDEXED BY sla_due JOIN tickets t ON t.id = c.ticket_id
     WHERE c.due_at IS NOT NULL AND c.due_at <= ?1
     ORDER BY c.due_at LIMIT ?2";
/// Running clocks whose warning fired and that are not due yet, of priority `?3`.
const WARNED: &str = "FROM sla_clocks c INDEXED BY sla_warned JOIN tickets t ON t.id = c.ticket_id
     WHERE c.priority = ?3 AND c.due_at IS NOT NULL AND c.warned_at IS NOT NULL
       AND c.due_at > ?1 AND c.warn_at <= ?1
     ORDER BY c.due_at LIMIT ?2";
/// Running clocks past their warning time whose warning has not fired yet (the service
/// was stopped, or is catching up): their next alert is due, so they are in the
/// timer's range of `sla_next_alert`.
const WARNING_LATE: &str = "FROM sla_clocks c INDEXED BY sla_next_alert
     JOIN tickets t ON t.id = c.ticket_id
     WHERE c.next_alert_at IS NOT NULL AND c.next_alert_at <= ?1
       AND c.due_at > ?1 AND c.warn_at <= ?1 AND c.warned_at IS NULL
     ORDER BY c.next_alert_at LIMIT ?2";

/// Every query [`at_risk`] runs, for the query-plan tests.
#[cfg(test)]
pub(crate) fn at_risk_queries() -> Vec<String> {
    [OVERDUE, WARNED, WARNING_LATE]
        .iter()
        .map(|tail| format!("{AT_RISK_COLUMNS} {tail}"))
        .collect()
}

fn clock_at_risk(r: &rusqlite::Row) -> rusqlite::Result<ClockAtRisk> {
    Ok(ClockAtRisk {
        ticket_id: r.get(0)?,
        clock: clock_from(r, 1)?,
        subject: r.get(16)?,
        status: r.get(17)?,
        assignee: r.get(18)?,
    })
}

/// Running clocks whose warning time has passed (so also the breached ones), most
/// urgent first (earliest due), at most `limit`.
///
/// Three bounded index ranges rather than one walk over every running clock: the
/// overdue clocks (`sla_due`), which come first; then, when there are fewer than
/// `limit`, those not yet due: warned (`sla_warned`, one priority at a time), or past
/// their warning time with the warning still to fire (`sla_next_alert`, at most
/// `limit` of the timer's backlog).
pub fn at_risk(conn: &Connection, now: i64, limit: usize) -> Result<Vec<ClockAtRisk>> {
    let n = i64::try_from(limit).unwrap_or(i64::MAX);
    let mut rows = conn
        .prepare_cached(&format!("{AT_RISK_COLUMNS} {OVERDUE}"))?
        .query_map(params![now, n], clock_at_risk)?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    if rows.len() >= limit {
        return Ok(rows);
    }
    let mut stmt = conn.prepare_cached(&format!("{AT_RISK_COLUMNS} {WARNED}"))?;
    for p in Priority::ALL {
        for row in stmt.query_map(params![now, n, p.as_str()], clock_at_risk)? {
            rows.push(row?);
        }
    }
    for row in conn
        .prepare_cached(&format!("{AT_RISK_COLUMNS} {WARNING_LATE}"))?
        .query_map(params![now, n], clock_at_risk)?
    {
        rows.push(row?);
    }
    rows.sort_by_key(|r| (r.clock.due_at, r.ticket_id, r.clock.target.as_str()));
    rows.truncate(limit);
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

/// Open tickets (not resolved or closed) by priority and status, for the digest, from
/// the counts the triggers keep (`store::tallies`).
pub fn open_counts(conn: &Connection) -> Result<Vec<(String, String, i64)>> {
    let mut rows: Vec<(String, String, i64)> = super::tallies::ticket_counts(conn)?
        .into_iter()
        .filter(|(status, _, _)| status != "resolved" && status != "closed")
        .map(|(status, priority, n)| (priority, status, n))
        .collect();
    rows.sort();
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

/// The oldest tickets of each waiting status, one index range each (`tickets_status`).
pub(crate) const OLDEST_OF_STATUS: &str = "SELECT id, subject, status, priority, created_at
     FROM tickets WHERE status = ?1 ORDER BY id LIMIT ?2";

/// The oldest open tickets (open, waiting or pending), at most `limit`.
pub fn oldest_open(conn: &Connection, limit: usize) -> Result<Vec<OpenTicket>> {
    let mut stmt = conn.prepare_cached(OLDEST_OF_STATUS)?;
    let mut rows = Vec::new();
    for status in ["open", "waiting", "pending"] {
        for row in stmt.query_map(
            params![status, i64::try_from(limit).unwrap_or(i64::MAX)],
            |r| {
                Ok(OpenTicket {
                    id: r.get(0)?,
                    subject: r.get(1)?,
                    status: r.get(2)?,
                    priority: r.get(3)?,
                    created_at: r.get(4)?,
                })
            },
        )? {
            rows.push(row?);
        }
    }
    rows.sort_by_key(|t| t.id);
    rows.truncate(limit);
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::plan_audit::{NOW, assert_no_scans, desk_store};

    /// What `at_risk` returned before it was split into bounded ranges: one walk over
    /// every running clock.
    fn at_risk_by_walking(conn: &Connection, now: i64) -> Vec<(Option<i64>, i64, String)> {
        conn.prepare(
            "SELECT c.due_at, c.ticket_id, c.target FROM sla_clocks c
             WHERE c.due_at IS NOT NULL AND c.warn_at <= ?1 ORDER BY c.due_at, c.ticket_id, c.target",
        )
        .unwrap()
        .query_map([now], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .map(|r| r.unwrap())
        .collect()
    }

    #[test]
    fn at_risk_finds_what_a_walk_over_every_clock_finds() {
        let conn = desk_store();
        // More clocks of every kind, at many times around now.
        for id in 100..400_i64 {
            conn.execute(
                "INSERT INTO tickets (id, status, priority, requester, subject, created_at, updated_at)
                 VALUES (?1, 'open', 'P3', 'r@x.test', 's', 0, 0)",
                [id],
            )
            .unwrap();
            let due = NOW + (id * 7_919) % 20_000 - 10_000;
            let warn = due - (id * 31) % 5_000;
            let warned = (id % 3 != 0 && warn <= NOW).then_some(warn);
            let breached = (id % 5 != 0 && due <= NOW).then_some(due);
            let next_alert = match (warned, breached) {
                (_, Some(_)) => None,
                (Some(_), None) => Some(due),
                (None, None) => Some(warn),
            };
            conn.execute(
                "INSERT INTO sla_clocks (ticket_id, target, priority, hours, target_seconds,
                     started_at, consumed, running_since, warn_at, due_at, warned_at,
                     breached_at, next_alert_at)
                 VALUES (?1, 'resolution', ?2, '24x7', 60, 0, 0, 0, ?3, ?4, ?5, ?6, ?7)",
                params![
                    id,
                    Priority::ALL[(id % 4) as usize].as_str(),
                    warn,
                    due,
                    warned,
                    breached,
                    next_alert
                ],
            )
            .unwrap();
        }
        let all = at_risk_by_walking(&conn, NOW);
        assert!(all.len() > 100 && all.iter().any(|(due, _, _)| *due > Some(NOW)));
        for limit in [1, 5, 50, 150, all.len(), all.len() + 10] {
            let found: Vec<(Option<i64>, i64, String)> = at_risk(&conn, NOW, limit)
                .unwrap()
                .into_iter()
                .map(|r| {
                    (
                        r.clock.due_at,
                        r.ticket_id,
                        r.clock.target.as_str().to_string(),
                    )
                })
                .collect();
            let expected: Vec<_> = all.iter().take(limit).cloned().collect();
            if limit >= all.len() {
                assert_eq!(found, expected, "limit {limit}");
            } else {
                // Overdue clocks tie on nothing but their order within a due time.
                let due =
                    |v: &[(Option<i64>, i64, String)]| v.iter().map(|r| r.0).collect::<Vec<_>>();
                assert_eq!(due(&found), due(&expected), "limit {limit}");
            }
        }
    }

    #[test]
    fn the_digest_and_the_timers_read_through_index_ranges() {
        let conn = desk_store();
        let ((counts, oldest), _) = assert_no_scans("digest", &conn, |c| {
            (open_counts(c).unwrap(), oldest_open(c, 5).unwrap())
        });
        assert_eq!(
            counts,
            [
                ("P1".to_string(), "open".to_string(), 1),
                ("P2".into(), "open".into(), 1),
                ("P2".into(), "waiting".into(), 1),
                ("P3".into(), "pending".into(), 1)
            ]
        );
        assert_eq!(
            oldest.iter().map(|t| t.id).collect::<Vec<_>>(),
            [1, 2, 3, 7]
        );
        assert_eq!(oldest_open(&conn, 2).unwrap().len(), 2);
        assert_no_scans("timers", &conn, |c| {
            due(c, NOW, 10).unwrap();
            next_alert(c).unwrap();
            clocks(c, 1).unwrap();
            ticket_clock_row(c, 1).unwrap();
            digest_sent(c, "2026-03-01").unwrap();
        });
    }
}
