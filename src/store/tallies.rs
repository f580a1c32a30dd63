//! The counts that schema V15's triggers keep in the transaction of the rows they
//! count (`ticket_counts`, `outbox_counts`, `tallies`): reading them for `/metrics`,
//! the dashboard and the digest, a few rows whatever the size of the store. The
//! triggers themselves are in `store::schema`; which count means what is said there.
//!
//! The `check` and `outbox list` commands still count rows themselves: they read
//! stores of any schema version, and run once, not per request.

use std::collections::HashMap;

use anyhow::Result;
use rusqlite::Connection;

use super::outbox::OutboxCounts;

/// Tickets by status and priority, every pair that has some.
pub(crate) const TICKET_COUNTS: &str =
    "SELECT status, priority, n FROM ticket_counts WHERE n <> 0 ORDER BY status, priority";
/// Mails by state.
pub(crate) const OUTBOX_COUNTS: &str = "SELECT state, n FROM outbox_counts";
/// The named counts.
pub(crate) const NAMED: &str = "SELECT name, n FROM tallies";

/// Every query of this module, for the query-plan tests.
#[cfg(test)]
pub(crate) const QUERIES: [&str; 3] = [TICKET_COUNTS, OUTBOX_COUNTS, NAMED];

/// (status, priority, count) for each pair with tickets, by status then priority.
pub fn ticket_counts(conn: &Connection) -> Result<Vec<(String, String, i64)>> {
    let rows = conn
        .prepare_cached(TICKET_COUNTS)?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(rows)
}

/// Mails by state.
pub fn outbox_counts(conn: &Connection) -> Result<OutboxCounts> {
    let mut c = OutboxCounts::default();
    let mut stmt = conn.prepare_cached(OUTBOX_COUNTS)?;
    let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))?;
    for row in rows {
        let (state, n) = row?;
        match state.as_str() {
            "queued" => c.queued += n,
            "sending" => c.sending += n,
            "sent" => c.sent += n,
            _ => c.failed += n,
        }
    }
    Ok(c)
}

/// The named counts of `tallies` (a name missing from the store reads as 0).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Named(HashMap<String, i64>);

impl Named {
    pub fn read(conn: &Connection) -> Result<Named> {
        let rows = conn
            .prepare_cached(NAMED)?
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<rusqlite::Result<HashMap<String, i64>>>()?;
        Ok(Named(rows))
    }

    pub fn get(&self, name: &str) -> i64 {
        self.0.get(name).copied().unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rusqlite::params;

    /// Each count as the triggers keep it, and as counted from the rows.
    fn kept_and_counted(conn: &Connection) -> Vec<(String, i64, i64)> {
        let count = |sql: &str| -> i64 { conn.query_row(sql, [], |r| r.get(0)).unwrap() };
        let named = Named::read(conn).unwrap();
        let mut pairs = vec![
            ("messages", "SELECT count(*) FROM messages"),
            ("quarantine", "SELECT count(*) FROM quarantine"),
            (
                "outbox_retrying",
                "SELECT count(*) FROM outbox WHERE state = 'queued' AND last_error IS NOT NULL",
            ),
            (
                "sla_warned",
                "SELECT count(*) FROM sla_clocks WHERE warned_at IS NOT NULL",
            ),
            (
                "sla_breached",
                "SELECT count(*) FROM sla_clocks WHERE breached_at IS NOT NULL",
            ),
            (
                "sla_escalated",
                "SELECT count(*) FROM sla_clocks WHERE escalated_at IS NOT NULL",
            ),
            (
                "sla_open_breached",
                "SELECT count(*) FROM sla_clocks c JOIN tickets t ON t.id = c.ticket_id
                 WHERE t.status <> 'closed' AND c.met_at IS NULL AND c.breached_at IS NOT NULL",
            ),
            (
                "sla_open_at_risk",
                "SELECT count(*) FROM sla_clocks c JOIN tickets t ON t.id = c.ticket_id
                 WHERE t.status <> 'closed' AND c.met_at IS NULL AND c.breached_at IS NULL
                   AND c.warned_at IS NOT NULL",
            ),
        ]
        .into_iter()
        .map(|(name, sql)| (name.to_string(), named.get(name), count(sql)))
        .collect::<Vec<_>>();
        let counted: Vec<(String, String, i64)> = conn
            .prepare(
                "SELECT status, priority, count(*) FROM tickets GROUP BY status, priority
                 ORDER BY status, priority",
            )
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .unwrap()
            .map(|r| r.unwrap())
            .collect();
        pairs.push((
            format!("tickets {counted:?}"),
            i64::from(ticket_counts(conn).unwrap() == counted),
            1,
        ));
        let mut by_state = OutboxCounts::default();
        for (state, n) in conn
            .prepare("SELECT state, count(*) FROM outbox GROUP BY state")
            .unwrap()
            .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))
            .unwrap()
            .map(|r| r.unwrap())
        {
            match state.as_str() {
                "queued" => by_state.queued = n,
                "sending" => by_state.sending = n,
                "sent" => by_state.sent = n,
                _ => by_state.failed = n,
            }
        }
        pairs.push((
            format!("outbox {by_state:?}"),
            i64::from(outbox_counts(conn).unwrap() == by_state),
            1,
        ));
        pairs
    }

    fn assert_agree(conn: &Connection, when: &str) {
        for (name, kept, counted) in kept_and_counted(conn) {
            assert_eq!(kept, counted, "{when}: {name}");
        }
    }

    /// A small deterministic generator, so the test needs no crate and repeats.
    struct Lcg(u64);
    impl Lcg {
        fn below(&mut self, n: u64) -> u64 {
            self.0 = self
                .0
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (self.0 >> 33) % n
        }
    }

    const STATUSES: [&str; 5] = ["open", "waiting", "pending", "resolved", "closed"];
    const STATES: [&str; 4] = ["queued", "sending", "sent", "failed"];

    fn maybe(rng: &mut Lcg, at: i64) -> Option<i64> {
        (rng.below(2) == 0).then_some(at)
    }

    /// One random write of the kinds the desk makes (and deletes, which it does not).
    fn random_write(conn: &Connection, rng: &mut Lcg, step: i64) {
        let tickets: i64 = conn
            .query_row("SELECT count(*) FROM tickets", [], |r| r.get(0))
            .unwrap();
        let ticket = 1 + i64::try_from(rng.below(tickets.max(1) as u64)).unwrap();
        let status = STATUSES[rng.below(5) as usize];
        let priority = format!("P{}", 1 + rng.below(4));
        let state = STATES[rng.below(4) as usize];
        let error = (rng.below(2) == 0).then_some("421 try later");
        match rng.below(9) {
            0 | 1 if tickets < 40 || rng.below(3) == 0 => {
                conn.execute(
                    "INSERT INTO tickets (status, priority, requester, subject, created_at, updated_at)
                     VALUES (?1, ?2, 'r@x.test', 's', ?3, ?3)",
                    params![status, priority, step],
                )
                .unwrap();
            }
            0 | 1 => {
                conn.execute(
                    "UPDATE tickets SET status = ?2, priority = ?3 WHERE id = ?1",
                    params![ticket, status, priority],
                )
                .unwrap();
            }
            2 => {
                let target = ["first_response", "resolution"][rng.below(2) as usize];
                let (met, warned, breached, escalated) = (
                    maybe(rng, step),
                    maybe(rng, step),
                    maybe(rng, step),
                    maybe(rng, step),
                );
                let updated = conn
                    .execute(
                        "UPDATE sla_clocks SET met_at = ?3, warned_at = ?4, breached_at = ?5,
                             escalated_at = ?6
                         WHERE ticket_id = ?1 AND target = ?2",
                        params![ticket, target, met, warned, breached, escalated],
                    )
                    .unwrap();
                if updated == 0 && tickets > 0 {
                    conn.execute(
                        "INSERT INTO sla_clocks (ticket_id, target, priority, hours, target_seconds,
                             started_at, consumed, met_at, warned_at, breached_at, escalated_at)
                         VALUES (?1, ?2, 'P3', '24x7', 60, 0, 0, ?3, ?4, ?5, ?6)",
                        params![ticket, target, met, warned, breached, escalated],
                    )
                    .unwrap();
                }
            }
            3 => {
                conn.execute(
                    "INSERT INTO outbox (ticket_id, kind, message_id, mail_from, recipients_json,
                         subject, raw, state, next_attempt_at, last_error, created_at)
                     VALUES (NULL, 'k', ?1, 'd@x.test', '[]', 's', x'', ?2, 0, ?3, 0)",
                    params![format!("<o{step}@x>"), state, error],
                )
                .unwrap();
            }
            4 => {
                conn.execute(
                    "UPDATE outbox SET state = ?2, last_error = ?3
                     WHERE id = (SELECT id FROM outbox ORDER BY id LIMIT 1 OFFSET ?1)",
                    params![rng.below(10) as i64, state, error],
                )
                .unwrap();
            }
            5 => {
                conn.execute(
                    "INSERT INTO messages (identity, content_hash, kind, to_json, cc_json, subject,
                         references_json, text_body, attachments_json, problems_json, raw,
                         received_at)
                     VALUES (?1, 'h', 'request', '[]', '[]', 's', '[]', '', '[]', '[]', x'', 0)",
                    [format!("m{step}")],
                )
                .unwrap();
            }
            6 => {
                conn.execute(
                    "INSERT INTO quarantine (source, content_hash, reason, raw, received_at)
                     VALUES ('maildir', ?1, 'r', x'', 0) ON CONFLICT (content_hash) DO NOTHING",
                    [format!("q{}", rng.below(20))],
                )
                .unwrap();
            }
            7 => {
                let table =
                    ["outbox", "messages", "quarantine", "sla_clocks"][rng.below(4) as usize];
                conn.execute(
                    &format!(
                        "DELETE FROM {table} WHERE rowid IN (SELECT rowid FROM {table} LIMIT 1)"
                    ),
                    [],
                )
                .unwrap_or_else(|_| {
                    // sla_clocks has no rowid: delete by key.
                    conn.execute(
                        "DELETE FROM sla_clocks WHERE ticket_id = ?1 AND target = 'resolution'",
                        [ticket],
                    )
                    .unwrap()
                });
            }
            _ => {
                conn.execute(
                    "UPDATE tickets SET status = 'closed' WHERE id = ?1",
                    [ticket],
                )
                .unwrap();
            }
        }
    }

    #[test]
    fn the_kept_counts_follow_every_kind_of_write() {
        let conn = crate::store::migrated_in_memory();
        assert_agree(&conn, "empty");
        let mut rng = Lcg(17);
        for step in 0..3_000 {
            random_write(&conn, &mut rng, step);
            if step % 100 == 0 {
                assert_agree(&conn, &format!("step {step}"));
            }
        }
        assert_agree(&conn, "the end");
        let named = Named::read(&conn).unwrap();
        // The run made every kind of count move, so the comparisons above compared
        // something.
        for name in [
            "messages",
            "quarantine",
            "outbox_retrying",
            "sla_warned",
            "sla_open_breached",
            "sla_open_at_risk",
        ] {
            assert!(named.get(name) > 0, "{name} stayed at 0");
        }
    }

    #[test]
    fn the_migration_counts_what_an_older_store_holds() {
        let mut conn = Connection::open_in_memory().unwrap();
        super::super::schema::migrations()
            .to_version(&mut conn, 14)
            .unwrap();
        let mut rng = Lcg(5);
        // Writes at version 14 are not counted by any trigger...
        for step in 0..500 {
            random_write(&conn, &mut rng, step);
        }
        // ...the migration counts them...
        super::super::schema::migrations()
            .to_latest(&mut conn)
            .unwrap();
        assert_agree(&conn, "migrated");
        // ...and the triggers carry on from there.
        for step in 500..1_000 {
            random_write(&conn, &mut rng, step);
        }
        assert_agree(&conn, "after");
        assert!(Named::read(&conn).unwrap().get("messages") > 0);
    }
}
