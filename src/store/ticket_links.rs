//! Merged and linked tickets (`/merge`, `/link`): the `merged_into` pointer of a merged
//! ticket, the chain those pointers make, and the `ticket_links` pairs. Whether a merge
//! or a link is allowed is the desk's decision (`desk::merge`); this module only reads
//! and writes what was decided.
//!
//! Every query here can run once per arriving message (threading follows the merge
//! chain), so each is a primary-key or index look-up; the tests hold their query plans.

use anyhow::{Context, Result};
use rusqlite::{Connection, OptionalExtension, params};

/// How many `merged_into` hops a chain may have before it is cut off. Merges refuse
/// loops, so a longer chain means a damaged store; reading stops rather than spins.
pub const MAX_CHAIN: usize = 64;

/// The ticket `id` was merged into, if it was (`None` also for an unknown ticket).
pub fn merged_into(conn: &Connection, id: i64) -> Result<Option<i64>> {
    Ok(conn
        .prepare_cached("SELECT merged_into FROM tickets WHERE id = ?1")?
        .query_row([id], |r| r.get::<_, Option<i64>>(0))
        .optional()
        .with_context(|| format!("reading where ticket {id} was merged"))?
        .flatten())
}

/// The tickets `id` was merged into, hop by hop (`id` itself not included): empty for a
/// ticket that was not merged; the last one is the survivor. Stops at a ticket seen
/// before and after [`MAX_CHAIN`] hops.
pub fn merge_chain(conn: &Connection, id: i64) -> Result<Vec<i64>> {
    let mut chain = Vec::new();
    let mut at = id;
    while chain.len() < MAX_CHAIN {
        let Some(next) = merged_into(conn, at)? else {
            break;
        };
        if next == id || chain.contains(&next) {
            break;
        }
        chain.push(next);
        at = next;
    }
    Ok(chain)
}

/// The ticket mail for `id` belongs to: the end of its merge chain, else `id`.
pub fn survivor(conn: &Connection, id: i64) -> Result<i64> {
    Ok(merge_chain(conn, id)?.last().copied().unwrap_or(id))
}

/// Records that `id` was merged into `into`.
pub fn set_merged_into(conn: &Connection, id: i64, into: i64) -> Result<()> {
    conn.prepare_cached("UPDATE tickets SET merged_into = ?2 WHERE id = ?1")?
        .execute(params![id, into])
        .with_context(|| format!("merging ticket {id} into {into}"))?;
    Ok(())
}

/// The tickets merged directly into `id`, oldest first.
pub fn merged_from(conn: &Connection, id: i64) -> Result<Vec<i64>> {
    let mut stmt =
        conn.prepare_cached("SELECT id FROM tickets WHERE merged_into = ?1 ORDER BY id")?;
    let rows = stmt
        .query_map([id], |r| r.get(0))?
        .collect::<rusqlite::Result<Vec<i64>>>()
        .with_context(|| format!("listing the tickets merged into {id}"))?;
    Ok(rows)
}

/// Adds `participant` to `ticket` unless they are its requester or on it already (a
/// merged ticket's requester joins the survivor's conversation).
pub fn add_participant_unless_requester(
    conn: &Connection,
    ticket: i64,
    participant: &str,
    at: i64,
) -> Result<()> {
    conn.prepare_cached(
        "INSERT OR IGNORE INTO participants (ticket_id, address, name, added_at)
         SELECT ?1, lower(?2), NULL, ?3 FROM tickets
         WHERE id = ?1 AND lower(requester) <> lower(?2)",
    )?
    .execute(params![ticket, participant, at])
    .with_context(|| format!("adding a participant to ticket {ticket}"))?;
    Ok(())
}

/// Links two tickets (once per pair, either order). Returns whether the link is new.
pub fn add_link(conn: &Connection, a: i64, b: i64, at: i64, by: &str) -> Result<bool> {
    let (low, high) = if a < b { (a, b) } else { (b, a) };
    let added = conn
        .prepare_cached(
            "INSERT OR IGNORE INTO ticket_links (low_id, high_id, linked_at, linked_by)
             VALUES (?1, ?2, ?3, ?4)",
        )?
        .execute(params![low, high, at, by])
        .with_context(|| format!("linking tickets {a} and {b}"))?;
    Ok(added > 0)
}

/// The tickets linked to `id`, in id order.
pub fn linked(conn: &Connection, id: i64) -> Result<Vec<i64>> {
    let mut stmt = conn.prepare_cached(
        "SELECT high_id FROM ticket_links WHERE low_id = ?1
         UNION SELECT low_id FROM ticket_links WHERE high_id = ?1
         ORDER BY 1",
    )?;
    let rows = stmt
        .query_map([id], |r| r.get(0))?
        .collect::<rusqlite::Result<Vec<i64>>>()
        .with_context(|| format!("listing the tickets linked to {id}"))?;
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> Connection {
        let conn = crate::store::migrated_in_memory();
        for requester in ["a@x.test", "b@x.test", "c@x.test", "d@x.test"] {
            conn.execute(
                "INSERT INTO tickets (status, priority, requester, subject, created_at, updated_at)
                 VALUES ('open', 'P3', ?1, 's', 1, 1)",
                [requester],
            )
            .unwrap();
        }
        conn
    }

    /// The query plan's detail lines.
    fn plan(conn: &Connection, sql: &str) -> String {
        let mut stmt = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
        let rows: Vec<String> = stmt
            .query_map([], |r| r.get::<_, String>(3))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        rows.join("\n")
    }

    #[test]
    fn chains_resolve_to_the_last_survivor() {
        let conn = store();
        assert_eq!(survivor(&conn, 1).unwrap(), 1);
        set_merged_into(&conn, 1, 2).unwrap();
        set_merged_into(&conn, 2, 3).unwrap();
        assert_eq!(merge_chain(&conn, 1).unwrap(), vec![2, 3]);
        assert_eq!(survivor(&conn, 1).unwrap(), 3);
        assert_eq!(survivor(&conn, 2).unwrap(), 3);
        assert_eq!(merged_from(&conn, 3).unwrap(), vec![2]);
        assert_eq!(merged_into(&conn, 99).unwrap(), None);
        // A damaged store with a loop does not spin.
        set_merged_into(&conn, 3, 1).unwrap();
        assert_eq!(merge_chain(&conn, 1).unwrap(), vec![2, 3]);
    }

    #[test]
    fn links_read_from_both_sides_once() {
        let conn = store();
        assert!(add_link(&conn, 3, 1, 5, "ann@desk.test").unwrap());
        assert!(!add_link(&conn, 1, 3, 6, "ann@desk.test").unwrap());
        assert!(add_link(&conn, 3, 4, 7, "ann@desk.test").unwrap());
        assert_eq!(linked(&conn, 1).unwrap(), vec![3]);
        assert_eq!(linked(&conn, 3).unwrap(), vec![1, 4]);
        assert!(linked(&conn, 2).unwrap().is_empty());
    }

    #[test]
    fn a_merged_requester_joins_the_survivor_once() {
        let conn = store();
        add_participant_unless_requester(&conn, 2, "A@x.test", 5).unwrap();
        add_participant_unless_requester(&conn, 2, "a@x.test", 5).unwrap();
        add_participant_unless_requester(&conn, 2, "B@X.test", 5).unwrap();
        let n: i64 = conn
            .query_row(
                "SELECT count(*) FROM participants WHERE ticket_id = 2",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(n, 1, "the survivor's own requester is not a participant");
    }

    #[test]
    fn per_message_queries_use_an_index() {
        let conn = store();
        let merged = plan(&conn, "SELECT merged_into FROM tickets WHERE id = 1");
        assert!(merged.contains("USING INTEGER PRIMARY KEY"), "{merged}");
        let from = plan(
            &conn,
            "SELECT id FROM tickets WHERE merged_into = 1 ORDER BY id",
        );
        assert!(
            from.contains("USING") && from.contains("tickets_merged_into"),
            "{from}"
        );
        assert!(!from.contains("SCAN tickets"), "{from}");
        let links = plan(
            &conn,
            "SELECT high_id FROM ticket_links WHERE low_id = 1
             UNION SELECT low_id FROM ticket_links WHERE high_id = 1 ORDER BY 1",
        );
        assert!(links.contains("USING PRIMARY KEY (low_id=?)"), "{links}");
        assert!(links.contains("ticket_links_high (high_id=?)"), "{links}");
        assert!(!links.contains("SCAN ticket_links"), "{links}");
    }
}
