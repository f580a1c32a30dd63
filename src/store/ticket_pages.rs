//! One page of `tickets list`: tickets newest first, optionally of one status and
//! created on or after a time, older than a cursor. Keyset pagination on the primary
//! key (never OFFSET): each page is one index range of at most `limit + 1` rows, as
//! quick on the last page of a million tickets as on the first.
//!
//! Tickets are numbered as they arrive, so "created on or after" starts at the first
//! ticket created at or after that time (found through `tickets_created`) and runs to
//! the newest: the page is then a range of ids, and a ticket whose clock said an older
//! time (a clock set back) is left out by its `created_at`. What a page shows of each
//! ticket is `store::tickets`'s row.

use anyhow::Result;
use rusqlite::{Connection, OptionalExtension, params};

use super::tickets::{SELECT_TICKET, TicketRow, ticket_from_row};

/// What a page asks for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PageQuery {
    /// Only tickets in this status (a stored one: open, waiting, ...).
    pub status: Option<String>,
    /// Only tickets created at or after this time (Unix seconds).
    pub since: Option<i64>,
    /// Only tickets older than this one (the previous page's last ticket).
    pub before: Option<i64>,
    pub limit: usize,
}

/// A page, newest first, and whether there are more after it (the next page is the
/// tickets before the last one here).
#[derive(Debug, Clone)]
pub struct TicketPage {
    pub tickets: Vec<TicketRow>,
    pub more: bool,
}

/// The id of the first ticket created at or after `?1`.
pub(crate) const FIRST_SINCE: &str =
    "SELECT id FROM tickets WHERE created_at >= ?1 ORDER BY created_at, id LIMIT 1";
/// Tickets with `?1 <= id < ?2` created at or after `?3`, newest first, at most `?4`
/// (`+` keeps SQLite on the primary key rather than `tickets_created`).
pub(crate) const PAGE: &str = "WHERE t.id >= ?1 AND t.id < ?2 AND +t.created_at >= ?3
     ORDER BY t.id DESC LIMIT ?4";
/// The same, of status `?5` (`tickets_status`: status, id).
pub(crate) const PAGE_OF_STATUS: &str = "WHERE t.status = ?5 AND t.id >= ?1 AND t.id < ?2
     AND +t.created_at >= ?3 ORDER BY t.id DESC LIMIT ?4";

/// Every query of this module, for the query-plan tests.
#[cfg(test)]
pub(crate) fn queries() -> Vec<String> {
    vec![
        FIRST_SINCE.to_string(),
        format!("{SELECT_TICKET} {PAGE}"),
        format!("{SELECT_TICKET} {PAGE_OF_STATUS}"),
    ]
}

/// The page `q` asks for.
pub fn page(conn: &Connection, q: &PageQuery) -> Result<TicketPage> {
    let floor = match q.since {
        None => 0,
        Some(since) => {
            let first: Option<i64> = conn
                .prepare_cached(FIRST_SINCE)?
                .query_row([since], |r| r.get(0))
                .optional()?;
            match first {
                Some(id) => id,
                None => {
                    return Ok(TicketPage {
                        tickets: Vec::new(),
                        more: false,
                    });
                }
            }
        }
    };
    let before = q.before.unwrap_or(i64::MAX);
    let since = q.since.unwrap_or(i64::MIN);
    // One more than the page, to know whether there is a next one.
    let fetch = i64::try_from(q.limit.saturating_add(1)).unwrap_or(i64::MAX);
    let mut tickets = match &q.status {
        None => conn
            .prepare_cached(&format!("{SELECT_TICKET} {PAGE}"))?
            .query_map(params![floor, before, since, fetch], ticket_from_row)?
            .collect::<rusqlite::Result<Vec<_>>>()?,
        Some(status) => conn
            .prepare_cached(&format!("{SELECT_TICKET} {PAGE_OF_STATUS}"))?
            .query_map(
                params![floor, before, since, fetch, status],
                ticket_from_row,
            )?
            .collect::<rusqlite::Result<Vec<_>>>()?,
    };
    let more = tickets.len() > q.limit;
    tickets.truncate(q.limit);
    Ok(TicketPage { tickets, more })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store(created: &[(i64, &str)]) -> Connection {
        let conn = crate::store::migrated_in_memory();
        for (at, status) in created {
            conn.execute(
                "INSERT INTO tickets (status, priority, requester, subject, created_at, updated_at)
                 VALUES (?1, 'P3', 'r@x.test', 's', ?2, ?2)",
                params![status, at],
            )
            .unwrap();
        }
        conn
    }

    fn ids(p: &TicketPage) -> Vec<i64> {
        p.tickets.iter().map(|t| t.id).collect()
    }

    fn q(limit: usize) -> PageQuery {
        PageQuery {
            limit,
            ..PageQuery::default()
        }
    }

    #[test]
    fn pages_follow_one_another_newest_first_until_the_last() {
        let statuses = ["open", "closed", "waiting"];
        let rows: Vec<(i64, &str)> = (0..10)
            .map(|i| (100 + i, statuses[i as usize % 3]))
            .collect();
        let conn = store(&rows);
        let mut seen = Vec::new();
        let mut query = q(4);
        loop {
            let p = page(&conn, &query).unwrap();
            seen.push(ids(&p));
            if !p.more {
                break;
            }
            query.before = p.tickets.last().map(|t| t.id);
        }
        assert_eq!(seen, [vec![10, 9, 8, 7], vec![6, 5, 4, 3], vec![2, 1]]);
        // A page that ends exactly at the last ticket says there is no more.
        let p = page(&conn, &q(10)).unwrap();
        assert_eq!((p.tickets.len(), p.more), (10, false));
        let p = page(&conn, &q(9)).unwrap();
        assert_eq!((p.tickets.len(), p.more), (9, true));
    }

    #[test]
    fn status_and_since_narrow_the_pages() {
        // Ticket 6's clock was set back: created "before" ticket 5.
        let conn = store(&[
            (100, "open"),
            (200, "closed"),
            (300, "open"),
            (400, "open"),
            (500, "closed"),
            (250, "open"),
            (600, "open"),
        ]);
        let open = PageQuery {
            status: Some("open".into()),
            ..q(2)
        };
        let p = page(&conn, &open).unwrap();
        assert_eq!((ids(&p), p.more), (vec![7, 6], true));
        let p = page(
            &conn,
            &PageQuery {
                before: Some(6),
                ..open.clone()
            },
        )
        .unwrap();
        assert_eq!((ids(&p), p.more), (vec![4, 3], true));
        let since = PageQuery {
            since: Some(300),
            ..q(10)
        };
        assert_eq!(ids(&page(&conn, &since).unwrap()), [7, 5, 4, 3]);
        let both = PageQuery {
            since: Some(300),
            status: Some("closed".into()),
            ..q(10)
        };
        assert_eq!(ids(&page(&conn, &both).unwrap()), [5]);
        let none = PageQuery {
            since: Some(601),
            ..q(10)
        };
        let p = page(&conn, &none).unwrap();
        assert!(p.tickets.is_empty() && !p.more);
        // A cursor past the newest, or before the first, is just a range.
        assert_eq!(
            ids(&page(
                &conn,
                &PageQuery {
                    before: Some(99),
                    ..q(2)
                }
            )
            .unwrap()),
            [7, 6]
        );
        assert!(
            ids(&page(
                &conn,
                &PageQuery {
                    before: Some(1),
                    ..q(2)
                }
            )
            .unwrap())
            .is_empty()
        );
    }

    #[test]
    fn every_page_is_an_index_range_read_in_its_order() {
        let conn = store(&[]);
        for sql in queries() {
            let plan = crate::store::plan_audit::plan(&conn, &sql);
            assert!(
                !plan.iter().any(|l| l.starts_with("SCAN")),
                "{sql}\n{plan:#?}"
            );
            assert!(
                !plan.iter().any(|l| l.contains("TEMP B-TREE")),
                "a page is read in its order, not sorted: {sql}\n{plan:#?}"
            );
        }
    }
}
