//! Read-only summaries for `/metrics` and the dashboard: the counts the triggers keep
//! (`store::tallies`), and the most urgent open tickets. Whatever the size of the
//! store, each is a few rows of the count tables and a few bounded index ranges.
//!
//! The most urgent tickets: those with a breached SLA target first, then those at risk
//! (warned), then the other running clocks, each by priority and then due time; last,
//! the newest open tickets whose clocks are paused or met. Each tier is read one
//! priority at a time through `sla_running` / `sla_warned` (priority, due time),
//! `limit` rows at most per query, so the first `limit` of the whole order are among
//! what was read; the ranking itself is done here in Rust.

use std::cmp::Reverse;
use std::collections::HashMap;

use anyhow::Result;
use rusqlite::{Connection, params};
use serde::Serialize;

use super::outbox::OutboxCounts;
use super::tallies;
use crate::desk::{Priority, Status};

/// Where a ticket's most urgent SLA clock stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub enum Urgency {
    /// Past its due time (or its breach was recorded).
    Breached,
    /// Past its warning time (or its warning was recorded).
    AtRisk,
    /// Running, not yet near its due time.
    Running,
    /// No running clock: paused (waiting on the requester), met, or none.
    Paused,
}

/// An open (not closed) ticket as the dashboard lists it.
#[derive(Debug, Clone, Serialize)]
pub struct UrgentTicket {
    pub id: i64,
    pub subject: String,
    pub priority: String,
    pub status: String,
    pub requester: String,
    pub assignee: Option<String>,
    pub updated_at: i64,
    /// The due time of its most urgent running clock, and which target that is.
    pub due_at: Option<i64>,
    pub target: Option<String>,
    pub urgency: Urgency,
}

/// The columns every tier reads: the clock's, then the ticket's.
const COLUMNS: &str = "SELECT c.ticket_id, c.target, c.due_at, c.warn_at, c.warned_at,
        c.breached_at, t.subject, t.priority, t.status, t.requester, t.assignee, t.updated_at";

/// The tiers' queries: `?1` a priority, `?2` now, `?3` the limit. Each is a range of
/// an index on the clocks, most urgent first, joined to its open ticket by key.
const OVERDUE: &str =
    "FROM sla_clocks c INDEXED BY sla_running JOIN tickets t ON t.id = c.ticket_id
     WHERE c.priority = ?1 AND c.due_at IS NOT NULL AND c.due_at <= ?2 AND t.status <> 'closed'
     ORDER BY c.due_at LIMIT ?3";
/// Warned and not yet due (at risk), or breached and then given more time.
const WARNED: &str = "FROM sla_clocks c INDEXED BY sla_warned JOIN tickets t ON t.id = c.ticket_id
     WHERE c.priority = ?1 AND c.due_at IS NOT NULL AND c.warned_at IS NOT NULL
       AND c.due_at > ?2 AND t.status <> 'closed'
     ORDER BY c.due_at LIMIT ?3";
/// Past the warning time with the warning not fired yet (the service was stopped or
/// is catching up): such a clock's next alert is due, so it is in the timer's range.
const WARNING_LATE: &str = "FROM sla_clocks c INDEXED BY sla_next_alert
     JOIN tickets t ON t.id = c.ticket_id
     WHERE c.next_alert_at IS NOT NULL AND c.next_alert_at <= ?2 AND c.priority = ?1
       AND c.due_at > ?2 AND c.warn_at <= ?2 AND c.warned_at IS NULL
       AND t.status <> 'closed'
     ORDER BY c.next_alert_at LIMIT ?3";
const UPCOMING: &str =
    "FROM sla_clocks c INDEXED BY sla_running JOIN tickets t ON t.id = c.ticket_id
     WHERE c.priority = ?1 AND c.due_at IS NOT NULL AND c.due_at > ?2 AND t.status <> 'closed'
     ORDER BY c.due_at LIMIT ?3";
/// The newest tickets of an open status (`?1`), with or without clocks; `?2` the limit.
const NEWEST: &str = "SELECT t.id, NULL, NULL, NULL, NULL, NULL, t.subject, t.priority,
        t.status, t.requester, t.assignee, t.updated_at
     FROM tickets t WHERE t.status = ?1 ORDER BY t.id DESC LIMIT ?2";

/// Every query the dashboard's list runs, for the query-plan tests.
#[cfg(test)]
pub(crate) fn queries() -> Vec<String> {
    let mut all: Vec<String> = [OVERDUE, WARNED, WARNING_LATE, UPCOMING]
        .iter()
        .map(|tail| format!("{COLUMNS} {tail}"))
        .collect();
    all.push(NEWEST.to_string());
    all
}

/// One row of a tier, ranked.
struct Candidate {
    key: (Urgency, usize, Option<i64>, Reverse<i64>),
    ticket: UrgentTicket,
}

fn candidate(r: &rusqlite::Row, now: i64) -> rusqlite::Result<Candidate> {
    let due_at: Option<i64> = r.get(2)?;
    let warn_at: Option<i64> = r.get(3)?;
    let warned_at: Option<i64> = r.get(4)?;
    let breached_at: Option<i64> = r.get(5)?;
    let urgency = match due_at {
        None => Urgency::Paused,
        Some(due) if due <= now || breached_at.is_some() => Urgency::Breached,
        Some(_) if warned_at.is_some() || warn_at.is_some_and(|w| w <= now) => Urgency::AtRisk,
        Some(_) => Urgency::Running,
    };
    let ticket = UrgentTicket {
        id: r.get(0)?,
        target: r.get(1)?,
        due_at,
        subject: r.get(6)?,
        priority: r.get(7)?,
        status: r.get(8)?,
        requester: r.get(9)?,
        assignee: r.get(10)?,
        updated_at: r.get(11)?,
        urgency,
    };
    let rank = ticket
        .priority
        .parse::<Priority>()
        .map_or(Priority::ALL.len(), |p| p as usize);
    Ok(Candidate {
        key: (urgency, rank, due_at, Reverse(ticket.id)),
        ticket,
    })
}

/// The `limit` most urgent open tickets (see the module's header), most urgent first.
pub fn urgent_tickets(conn: &Connection, now: i64, limit: usize) -> Result<Vec<UrgentTicket>> {
    let n = i64::try_from(limit).unwrap_or(i64::MAX);
    let mut best: HashMap<i64, Candidate> = HashMap::new();
    let mut keep = |c: Candidate| {
        let id = c.ticket.id;
        if best.get(&id).is_none_or(|b| c.key < b.key) {
            best.insert(id, c);
        }
    };
    for tail in [OVERDUE, WARNED, WARNING_LATE, UPCOMING] {
        let mut stmt = conn.prepare_cached(&format!("{COLUMNS} {tail}"))?;
        for p in Priority::ALL {
            for c in stmt.query_map(params![p.as_str(), now, n], |r| candidate(r, now))? {
                keep(c?);
            }
        }
    }
    let mut stmt = conn.prepare_cached(NEWEST)?;
    for status in Status::ALL.iter().filter(|s| **s != Status::Closed) {
        for c in stmt.query_map(params![status.as_str(), n], |r| candidate(r, now))? {
            keep(c?);
        }
    }
    let mut ranked: Vec<Candidate> = best.into_values().collect();
    ranked.sort_by_key(|c| c.key);
    Ok(ranked.into_iter().take(limit).map(|c| c.ticket).collect())
}

/// Totals for `/metrics` and the dashboard, from the counts the triggers keep.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Totals {
    pub messages: i64,
    /// (status, priority, count), every pair with tickets.
    pub tickets: Vec<(String, String, i64)>,
    pub outbox: OutboxCounts,
    /// Queued mail that failed at least once and waits for its retry.
    pub outbox_retrying: i64,
    /// SLA levels fired, over all time.
    pub sla_warnings: i64,
    pub sla_breaches: i64,
    pub sla_escalations: i64,
    /// SLA targets of open tickets not met yet, breached / warned but not breached.
    pub sla_open_breached: i64,
    pub sla_open_at_risk: i64,
    pub quarantined: i64,
}

impl Totals {
    /// Tickets not closed.
    pub fn open_tickets(&self) -> i64 {
        self.tickets
            .iter()
            .filter(|(status, _, _)| status != Status::Closed.as_str())
            .map(|(_, _, n)| n)
            .sum()
    }
}

pub fn totals(conn: &Connection) -> Result<Totals> {
    let named = tallies::Named::read(conn)?;
    Ok(Totals {
        messages: named.get("messages"),
        tickets: tallies::ticket_counts(conn)?,
        outbox: tallies::outbox_counts(conn)?,
        outbox_retrying: named.get("outbox_retrying"),
        sla_warnings: named.get("sla_warned"),
        sla_breaches: named.get("sla_breached"),
        sla_escalations: named.get("sla_escalated"),
        sla_open_breached: named.get("sla_open_breached"),
        sla_open_at_risk: named.get("sla_open_at_risk"),
        quarantined: named.get("quarantine"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_000_000;

    fn ticket(conn: &Connection, id: i64, status: &str, priority: &str) {
        conn.execute(
            "INSERT INTO tickets (id, status, priority, requester, subject, created_at, updated_at)
             VALUES (?1, ?2, ?3, 'r@x.test', ?4, 1, 2)",
            params![id, status, priority, format!("ticket {id}")],
        )
        .unwrap();
    }

    /// A running clock due at `due` (warned at `due - 100`), with its stamps.
    fn clock(conn: &Connection, id: i64, target: &str, priority: &str, due: i64, stamps: bool) {
        let warn = due - 100;
        let (warned, breached) = if stamps {
            ((warn <= NOW).then_some(warn), (due <= NOW).then_some(due))
        } else {
            (None, None)
        };
        let next_alert = match (warned, breached) {
            (_, Some(_)) => None,
            (Some(_), None) => Some(due),
            (None, None) => Some(warn),
        };
        conn.execute(
            "INSERT INTO sla_clocks (ticket_id, target, priority, hours, target_seconds, started_at,
                 consumed, running_since, warn_at, due_at, warned_at, breached_at, next_alert_at)
             VALUES (?1, ?2, ?3, '24x7', 500, 0, 0, 0, ?4, ?5, ?6, ?7, ?8)",
            params![id, target, priority, warn, due, warned, breached, next_alert],
        )
        .unwrap();
    }

    fn ids(list: &[UrgentTicket]) -> Vec<i64> {
        list.iter().map(|t| t.id).collect()
    }

    #[test]
    fn breached_then_at_risk_then_running_each_by_priority_then_due_then_paused() {
        let conn = crate::store::migrated_in_memory();
        // id, priority, due (None: paused / no clock), stamped.
        let rows = [
            (1, "P3", Some(NOW - 500), true),   // breached, P3
            (2, "P1", Some(NOW - 10), true),    // breached, P1, recently
            (3, "P1", Some(NOW - 900), true),   // breached, P1, long ago
            (4, "P2", Some(NOW + 50), true),    // at risk (warned)
            (5, "P1", Some(NOW + 5_000), true), // running
            (6, "P4", Some(NOW + 20), false),   // at risk, warning not fired yet
            (7, "P4", None, false),             // paused
            (8, "P1", Some(NOW + 900), true),   // running
            (9, "P2", Some(NOW - 1), false),    // due, breach not recorded yet
            (10, "P1", None, false),            // paused
        ];
        for (id, p, due, stamped) in rows {
            ticket(&conn, id, "open", p);
            if let Some(due) = due {
                clock(&conn, id, "resolution", p, due, stamped);
            }
        }
        // Closed tickets are left out, even with a breached clock.
        ticket(&conn, 11, "closed", "P1");
        clock(&conn, 11, "first_response", "P1", NOW - 5_000, true);
        // A ticket's most urgent clock decides.
        clock(&conn, 5, "first_response", "P1", NOW + 30, true);

        let list = urgent_tickets(&conn, NOW, 50).unwrap();
        assert_eq!(ids(&list), [3, 2, 9, 1, 5, 4, 6, 8, 10, 7]);
        let urgency: Vec<Urgency> = list.iter().map(|t| t.urgency).collect();
        use Urgency::*;
        assert_eq!(
            urgency,
            [
                Breached, Breached, Breached, Breached, AtRisk, AtRisk, AtRisk, Running, Paused,
                Paused
            ]
        );
        assert_eq!(list[4].target.as_deref(), Some("first_response"));
        assert_eq!(ids(&urgent_tickets(&conn, NOW, 3).unwrap()), [3, 2, 9]);
    }

    #[test]
    fn the_first_of_the_order_are_found_however_many_tickets_come_before_in_a_tier() {
        let conn = crate::store::migrated_in_memory();
        // Many breached P4 tickets, long overdue; one P1 breached a second ago, and one
        // P2 at risk whose due time is after every running P2 clock's.
        for id in 1..=300 {
            ticket(&conn, id, "open", "P4");
            clock(&conn, id, "resolution", "P4", NOW - 10_000 + id, true);
        }
        ticket(&conn, 301, "open", "P1");
        clock(&conn, 301, "resolution", "P1", NOW - 1, true);
        let list = urgent_tickets(&conn, NOW, 5).unwrap();
        assert_eq!(ids(&list), [301, 1, 2, 3, 4]);

        let conn = crate::store::migrated_in_memory();
        for id in 1..=300 {
            ticket(&conn, id, "open", "P2");
            clock(&conn, id, "resolution", "P2", NOW + 1_000 + id, true);
        }
        ticket(&conn, 301, "open", "P2");
        clock(&conn, 301, "resolution", "P2", NOW + 50_000, false);
        conn.execute(
            "UPDATE sla_clocks SET warned_at = ?1 WHERE ticket_id = 301",
            [NOW - 7],
        )
        .unwrap();
        let list = urgent_tickets(&conn, NOW, 5).unwrap();
        assert_eq!(ids(&list), [301, 1, 2, 3, 4]);
        assert_eq!(list[0].urgency, Urgency::AtRisk);
    }

    #[test]
    fn totals_come_from_the_kept_counts() {
        let conn = crate::store::migrated_in_memory();
        ticket(&conn, 1, "open", "P1");
        ticket(&conn, 2, "closed", "P3");
        ticket(&conn, 3, "waiting", "P3");
        clock(&conn, 1, "resolution", "P1", NOW - 5, true);
        clock(&conn, 3, "resolution", "P3", NOW + 5, true);
        clock(&conn, 2, "resolution", "P3", NOW - 5, true);
        let t = totals(&conn).unwrap();
        assert_eq!(t.open_tickets(), 2);
        assert_eq!(
            t.tickets,
            [
                ("closed".to_string(), "P3".to_string(), 1),
                ("open".into(), "P1".into(), 1),
                ("waiting".into(), "P3".into(), 1)
            ]
        );
        assert_eq!((t.sla_warnings, t.sla_breaches), (3, 2));
        assert_eq!((t.sla_open_breached, t.sla_open_at_risk), (1, 1));
        conn.execute("UPDATE tickets SET status = 'closed' WHERE id = 1", [])
            .unwrap();
        let t = totals(&conn).unwrap();
        assert_eq!((t.open_tickets(), t.sla_open_breached), (1, 0));
        assert_eq!(t.sla_breaches, 2, "fired levels stay counted");
    }
}
