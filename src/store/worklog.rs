//! The worklog: time agents spent on a ticket (`/time 30m` in a reply or note), one
//! row per entry. What a `/time` line means is `desk::worklog`'s; the sums per period
//! are `report`'s.

use anyhow::Result;
use rusqlite::{Connection, params};
use serde::Serialize;

/// One entry of a ticket's worklog.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TimeEntry {
    pub agent: String,
    pub minutes: i64,
    pub at: i64,
}

const FOR_TICKET: &str =
    "SELECT agent, minutes, at FROM time_entries WHERE ticket_id = ?1 ORDER BY id";

/// Adds `minutes` spent on `ticket` by `agent` at `at`.
pub fn add(conn: &Connection, ticket: i64, agent: &str, minutes: u32, at: i64) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO time_entries (ticket_id, agent, minutes, at) VALUES (?1, lower(?2), ?3, ?4)",
    )?
    .execute(params![ticket, agent, minutes, at])?;
    Ok(())
}

/// The ticket's entries, oldest first.
pub fn for_ticket(conn: &Connection, ticket: i64) -> Result<Vec<TimeEntry>> {
    let mut stmt = conn.prepare_cached(FOR_TICKET)?;
    let rows = stmt
        .query_map([ticket], |r| {
            Ok(TimeEntry {
                agent: r.get(0)?,
                minutes: r.get(1)?,
                at: r.get(2)?,
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_are_listed_per_ticket_by_an_index_range() {
        let conn = crate::store::migrated_in_memory();
        conn.execute(
            "INSERT INTO tickets (status, priority, requester, subject, created_at, updated_at)
             VALUES ('open', 'P3', 'a@x.test', 's', 1, 1)",
            [],
        )
        .unwrap();
        add(&conn, 1, "Ann@X.test", 30, 10).unwrap();
        add(&conn, 1, "bob@x.test", 75, 20).unwrap();
        let entries = for_ticket(&conn, 1).unwrap();
        assert_eq!(
            entries,
            vec![
                TimeEntry {
                    agent: "ann@x.test".into(),
                    minutes: 30,
                    at: 10
                },
                TimeEntry {
                    agent: "bob@x.test".into(),
                    minutes: 75,
                    at: 20
                },
            ]
        );
        assert!(for_ticket(&conn, 2).unwrap().is_empty());
        let plan = crate::store::query_plan(&conn, &FOR_TICKET.replace("?1", "1"));
        assert!(
            plan.contains("USING INDEX time_entries_ticket (ticket_id=?)"),
            "{plan}"
        );
        assert!(!plan.contains("TEMP B-TREE"), "{plan}");
    }
}
