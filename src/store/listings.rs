//! Ticket listings for look-ups by mail (`/show`, `/list`): a ticket's summary line,
//! and bounded lists of tickets by assignee, team, status or breached SLA clock. Each
//! list is one index range scan for its page and one for its count (the query plans
//! are checked in the tests); which list a look-up asks for is `desk::lookup`'s.

use anyhow::Result;
use rusqlite::{Connection, OptionalExtension, params};

/// A ticket as a look-up answer lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedTicket {
    pub id: i64,
    pub subject: String,
    pub status: String,
    pub priority: String,
    pub requester: String,
    pub assignee: Option<String>,
    pub team: Option<String>,
    /// The ticket's last change (message, command, mail).
    pub updated_at: i64,
}

/// One page of a list, newest ticket first, and how many tickets the list has.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Listing {
    pub tickets: Vec<ListedTicket>,
    pub total: i64,
}

const SELECT_LISTED: &str = "SELECT t.id, t.subject, t.status, t.priority, t.requester,
        t.assignee, t.team, t.updated_at
     FROM tickets t";

fn listed_from_row(r: &rusqlite::Row) -> rusqlite::Result<ListedTicket> {
    Ok(ListedTicket {
        id: r.get(0)?,
        subject: r.get(1)?,
        status: r.get(2)?,
        priority: r.get(3)?,
        requester: r.get(4)?,
        assignee: r.get(5)?,
        team: r.get(6)?,
        updated_at: r.get(7)?,
    })
}

/// Ticket `id`, when it exists.
pub fn ticket(conn: &Connection, id: i64) -> Result<Option<ListedTicket>> {
    Ok(conn
        .prepare_cached(&format!("{SELECT_LISTED} WHERE t.id = ?1"))?
        .query_row([id], listed_from_row)
        .optional()?)
}

/// The page and count queries of each list: `?1` is the list's key, `?2` the limit.
const ASSIGNED: (&str, &str) = (
    "WHERE t.assignee = ?1 AND t.status <> 'closed' ORDER BY t.id DESC LIMIT ?2",
    "SELECT count(*) FROM tickets t WHERE t.assignee = ?1 AND t.status <> 'closed'",
);
const OF_TEAM: (&str, &str) = (
    "WHERE t.team = ?1 AND t.status <> 'closed' ORDER BY t.id DESC LIMIT ?2",
    "SELECT count(*) FROM tickets t WHERE t.team = ?1 AND t.status <> 'closed'",
);
const WITH_STATUS: (&str, &str) = (
    "WHERE t.status = ?1 ORDER BY t.id DESC LIMIT ?2",
    "SELECT count(*) FROM tickets t WHERE t.status = ?1",
);
/// Tickets with a running clock past its due time (`due_at` is set only while a clock
/// runs), through the `sla_due` index.
const BREACHED: (&str, &str) = (
    "WHERE t.id IN (SELECT c.ticket_id FROM sla_clocks c
                    WHERE c.due_at IS NOT NULL AND c.due_at <= ?1)
     ORDER BY t.id DESC LIMIT ?2",
    "SELECT count(DISTINCT c.ticket_id) FROM sla_clocks c
     WHERE c.due_at IS NOT NULL AND c.due_at <= ?1",
);

fn listing(
    conn: &Connection,
    (page, count): (&str, &str),
    key: &dyn rusqlite::ToSql,
    limit: usize,
) -> Result<Listing> {
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let tickets = conn
        .prepare_cached(&format!("{SELECT_LISTED} {page}"))?
        .query_map(params![key, limit], listed_from_row)?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let total = conn.prepare_cached(count)?.query_row([key], |r| r.get(0))?;
    Ok(Listing { tickets, total })
}

/// Tickets assigned to `assignee` (an agent's configured address) and not closed.
pub fn assigned(conn: &Connection, assignee: &str, limit: usize) -> Result<Listing> {
    listing(conn, ASSIGNED, &assignee, limit)
}

/// Tickets of `team` (its configured name) not closed.
pub fn of_team(conn: &Connection, team: &str, limit: usize) -> Result<Listing> {
    listing(conn, OF_TEAM, &team, limit)
}

/// Tickets in `status`.
pub fn with_status(conn: &Connection, status: &str, limit: usize) -> Result<Listing> {
    listing(conn, WITH_STATUS, &status, limit)
}

/// Tickets with a running SLA clock due at or before `now`.
pub fn breached(conn: &Connection, now: i64, limit: usize) -> Result<Listing> {
    listing(conn, BREACHED, &now, limit)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> Connection {
        crate::store::migrated_in_memory()
    }

    fn add(conn: &Connection, status: &str, assignee: Option<&str>, team: Option<&str>) -> i64 {
        conn.execute(
            "INSERT INTO tickets (status, priority, requester, subject, created_at, updated_at, assignee, team)
             VALUES (?1, 'P3', 'r@x.test', 's', 1, 2, ?2, ?3)",
            params![status, assignee, team],
        )
        .unwrap();
        conn.last_insert_rowid()
    }

    fn plan(conn: &Connection, sql: &str) -> String {
        crate::store::query_plan(conn, sql)
    }

    #[test]
    fn every_list_is_an_index_range_scan() {
        let conn = store();
        let substitute = |sql: &str| sql.replace("?1", "'x'").replace("?2", "50");
        for (name, (page, count), index) in [
            ("assigned", ASSIGNED, "tickets_assignee"),
            ("team", OF_TEAM, "tickets_team"),
            ("status", WITH_STATUS, "tickets_status"),
            ("breached", BREACHED, "sla_due"),
        ] {
            for sql in [format!("{SELECT_LISTED} {page}"), count.to_string()] {
                let p = plan(&conn, &substitute(&sql));
                assert!(p.contains(index), "{name}: {sql}\n{p}");
                assert!(
                    !p.lines()
                        .any(|l| l.starts_with("SCAN t") || l.starts_with("SCAN c")),
                    "{name} scans a table: {sql}\n{p}"
                );
            }
        }
    }

    #[test]
    fn lists_are_bounded_newest_first_and_counted() {
        let conn = store();
        for _ in 0..5 {
            add(&conn, "open", Some("ann@x.test"), Some("net"));
        }
        add(&conn, "closed", Some("ann@x.test"), Some("net"));
        let waiting = add(&conn, "waiting", Some("bob@x.test"), None);
        let mine = assigned(&conn, "ann@x.test", 3).unwrap();
        assert_eq!(mine.total, 5);
        assert_eq!(
            mine.tickets.iter().map(|t| t.id).collect::<Vec<_>>(),
            vec![5, 4, 3]
        );
        assert_eq!(of_team(&conn, "net", 50).unwrap().total, 5);
        let w = with_status(&conn, "waiting", 50).unwrap();
        assert_eq!((w.total, w.tickets[0].id), (1, waiting));
        assert_eq!(ticket(&conn, waiting).unwrap().unwrap().status, "waiting");
        assert_eq!(ticket(&conn, 99).unwrap(), None);
        conn.execute(
            "INSERT INTO sla_clocks (ticket_id, target, priority, hours, target_seconds, started_at,
                 consumed, running_since, due_at)
             VALUES (2, 'resolution', 'P3', '24x7', 60, 0, 0, 0, 100),
                    (2, 'first_response', 'P3', '24x7', 60, 0, 0, 0, 50),
                    (3, 'resolution', 'P3', '24x7', 60, 0, 0, 0, 500)",
            [],
        )
        .unwrap();
        let b = breached(&conn, 200, 50).unwrap();
        assert_eq!((b.total, b.tickets.len(), b.tickets[0].id), (1, 1, 2));
    }
}
