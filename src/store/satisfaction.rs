//! Requesters' satisfaction ratings: one per ticket (`satisfaction`, keyed by the
//! ticket), so a later rating replaces the earlier one. What counts as a rating is
//! `desk::satisfaction`'s; the figures per period are `report`'s.

use anyhow::Result;
use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;

/// A ticket's rating.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SatisfactionRow {
    /// 1 (worst) to 5 (best).
    pub rating: i64,
    /// The rest of the reply (may be empty).
    pub comment: String,
    /// Who rated (the requester or a participant).
    pub rated_by: String,
    pub rated_at: i64,
}

const RECORD: &str = "INSERT INTO satisfaction (ticket_id, rating, comment, rated_by, rated_at)
     VALUES (?1, ?2, ?3, ?4, ?5)
     ON CONFLICT (ticket_id) DO UPDATE SET rating = excluded.rating, comment = excluded.comment,
         rated_by = excluded.rated_by, rated_at = excluded.rated_at";

const GET: &str =
    "SELECT rating, comment, rated_by, rated_at FROM satisfaction WHERE ticket_id = ?1";

/// Records `rating` for `ticket`, replacing any earlier one.
pub fn record(
    conn: &Connection,
    ticket: i64,
    rating: u8,
    comment: &str,
    by: &str,
    at: i64,
) -> Result<()> {
    conn.prepare_cached(RECORD)?
        .execute(params![ticket, rating, comment, by, at])?;
    Ok(())
}

/// The ticket's rating, if it has one.
pub fn get(conn: &Connection, ticket: i64) -> Result<Option<SatisfactionRow>> {
    Ok(conn
        .prepare_cached(GET)?
        .query_row([ticket], |r| {
            Ok(SatisfactionRow {
                rating: r.get(0)?,
                comment: r.get(1)?,
                rated_by: r.get(2)?,
                rated_at: r.get(3)?,
            })
        })
        .optional()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn db() -> Connection {
        let conn = crate::store::migrated_in_memory();
        conn.execute(
            "INSERT INTO tickets (status, priority, requester, subject, created_at, updated_at)
             VALUES ('closed', 'P3', 'a@x.test', 's', 1, 1)",
            [],
        )
        .unwrap();
        conn
    }

    #[test]
    fn a_later_rating_replaces_the_earlier_one() {
        let conn = db();
        assert_eq!(get(&conn, 1).unwrap(), None);
        record(&conn, 1, 5, "thanks!", "a@x.test", 10).unwrap();
        record(&conn, 1, 2, "slow", "a@x.test", 20).unwrap();
        let n: i64 = conn
            .query_row("SELECT count(*) FROM satisfaction", [], |r| r.get(0))
            .unwrap();
        assert_eq!(n, 1);
        assert_eq!(
            get(&conn, 1).unwrap(),
            Some(SatisfactionRow {
                rating: 2,
                comment: "slow".into(),
                rated_by: "a@x.test".into(),
                rated_at: 20
            })
        );
        assert!(
            record(&conn, 1, 6, "", "a@x.test", 30).is_err(),
            "1..=5 only"
        );
    }

    #[test]
    fn ratings_are_read_and_written_by_the_tickets_key() {
        let conn = db();
        for sql in [
            GET.replace("?1", "1"),
            RECORD
                .replace("?1", "1")
                .replace("?2", "5")
                .replace("?3", "''")
                .replace("?4", "''")
                .replace("?5", "1"),
        ] {
            let plan = crate::store::query_plan(&conn, &sql);
            assert!(
                !plan.contains("SCAN"),
                "a per-message query must not scan: {plan}"
            );
        }
        let plan = crate::store::query_plan(&conn, &GET.replace("?1", "1"));
        assert!(plan.contains("INTEGER PRIMARY KEY (rowid=?)"), "{plan}");
    }
}
