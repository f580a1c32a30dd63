//! Tickets opened on someone's behalf: who opened them (`tickets.opened_by`), and the
//! requester an agent set with `/requester`. The decisions are `desk::forwarded`'s.

use anyhow::{Context, Result};
use rusqlite::{Connection, OptionalExtension, params};

/// Records the agent who opened `ticket` for its requester.
pub fn set_opened_by(conn: &Connection, ticket: i64, agent: &str) -> Result<()> {
    conn.prepare_cached("UPDATE tickets SET opened_by = ?2 WHERE id = ?1")?
        .execute(params![ticket, agent])
        .with_context(|| format!("recording who opened ticket {ticket}"))?;
    Ok(())
}

/// The agent who opened `ticket` on someone's behalf, if one did.
pub fn opened_by(conn: &Connection, ticket: i64) -> Result<Option<String>> {
    let found: Option<Option<String>> = conn
        .prepare_cached("SELECT opened_by FROM tickets WHERE id = ?1")?
        .query_row(params![ticket], |r| r.get(0))
        .optional()
        .with_context(|| format!("reading who opened ticket {ticket}"))?;
    Ok(found.flatten())
}

/// Changes `ticket`'s requester (`/requester`).
pub fn set_requester(
    conn: &Connection,
    ticket: i64,
    address: &str,
    name: Option<&str>,
) -> Result<()> {
    conn.prepare_cached("UPDATE tickets SET requester = ?2, requester_name = ?3 WHERE id = ?1")?
        .execute(params![ticket, address, name])
        .with_context(|| format!("changing the requester of ticket {ticket}"))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opened_by_is_recorded_and_read() -> Result<()> {
        let mut conn = Connection::open_in_memory()?;
        crate::store::schema::migrations().to_latest(&mut conn)?;
        conn.execute_batch(
            "INSERT INTO tickets (status, priority, requester, subject, created_at, updated_at)
             VALUES ('open', 'P3', 'a@x.test', 's', 1, 1);",
        )?;
        assert_eq!(opened_by(&conn, 1)?, None);
        set_opened_by(&conn, 1, "ann@example.test")?;
        assert_eq!(opened_by(&conn, 1)?.as_deref(), Some("ann@example.test"));
        assert_eq!(opened_by(&conn, 99)?, None);
        set_requester(&conn, 1, "c@x.test", Some("C"))?;
        let r: String = conn.query_row("SELECT requester FROM tickets", [], |r| r.get(0))?;
        assert_eq!(r, "c@x.test");
        Ok(())
    }
}
