//! The query-plan audit of the read paths (tests only): runs a path (`tickets list`,
//! `tickets show`, `sla`, `report`, the dashboard, `/metrics`, ...) on a connection
//! with statement tracing on, then asks SQLite for the plan of every statement the
//! path ran and fails on a full scan of a table that grows with the desk's history.
//!
//! Because it records what a path runs rather than a list someone keeps, a query
//! added to a path later is audited without anyone remembering to add it. The plans
//! are those SQLite makes without statistics (the store never runs ANALYZE), the
//! same on a test store as on a large one.

use std::cell::RefCell;

use rusqlite::Connection;
use rusqlite::trace::{TraceEvent, TraceEventCodes};

/// Scans that are fine: a constant row, a table-valued function or a virtual table
/// (`json_each`; the full-text indexes, which are another audit's), and the tables
/// whose size does not grow with the history (counts, settings, the schema). Every
/// other scan fails the audit: tickets, messages, outbox, events, sla_clocks and the
/// rest grow with every request.
const SMALL: [&str; 9] = [
    "CONSTANT ROW",
    // Queues the service empties when the mailbox is idle, read oldest first in
    // bounded chunks.
    "ticket_index_queue",
    "kb_index_queue",
    "ticket_counts",
    "outbox_counts",
    "tallies",
    "settings",
    "sqlite_master",
    "sqlite_schema",
];

thread_local! {
    static RAN: RefCell<Option<Vec<String>>> = const { RefCell::new(None) };
}

fn record(event: TraceEvent<'_>) {
    if let TraceEvent::Stmt(_, sql) = event {
        RAN.with(|ran| {
            if let Some(ran) = ran.borrow_mut().as_mut() {
                ran.push(sql.to_string());
            }
        });
    }
}

/// Runs `path` on `conn` and returns what it returned and the distinct statements it
/// ran, in order (not the statements run by triggers, nor pragmas).
pub(crate) fn statements_run<T>(
    conn: &Connection,
    path: impl FnOnce(&Connection) -> T,
) -> (T, Vec<String>) {
    start_tracing(conn);
    let result = path(conn);
    (result, stop_tracing(conn))
}

fn start_tracing(conn: &Connection) {
    RAN.with(|ran| *ran.borrow_mut() = Some(Vec::new()));
    conn.trace_v2(TraceEventCodes::SQLITE_TRACE_STMT, Some(record));
}

/// The distinct statements run since [`start_tracing`], in order.
fn stop_tracing(conn: &Connection) -> Vec<String> {
    conn.trace_v2(TraceEventCodes::empty(), None);
    let ran = RAN.with(|ran| ran.borrow_mut().take()).unwrap_or_default();
    let mut distinct: Vec<String> = Vec::new();
    for sql in ran {
        let head = sql.trim_start().to_ascii_uppercase();
        if head.starts_with("--") || head.starts_with("PRAGMA") || distinct.contains(&sql) {
            continue;
        }
        distinct.push(sql);
    }
    distinct
}

/// The plan of `sql` (its parameters left unbound), one line per step.
pub(crate) fn plan(conn: &Connection, sql: &str) -> Vec<String> {
    let mut stmt = conn
        .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
        .unwrap_or_else(|e| panic!("cannot explain {sql}: {e}"));
    let mut rows = stmt.raw_query();
    let mut lines = Vec::new();
    while let Some(row) = rows.next().expect("a plan row") {
        lines.push(row.get::<_, String>(3).expect("a plan line"));
    }
    lines
}

/// The plan lines of `sql` that scan something other than a small table, a constant
/// or a virtual table.
pub(crate) fn scans(conn: &Connection, sql: &str) -> Vec<String> {
    let children = foreign_key_children(conn, sql);
    plan(conn, sql)
        .into_iter()
        .filter(|line| {
            let Some(what) = line.trim().strip_prefix("SCAN ") else {
                return false;
            };
            let small = SMALL
                .iter()
                .any(|s| what == *s || what.starts_with(&format!("{s} ")));
            let child = children.iter().any(|c| what == c);
            !small && !child && !what.contains("VIRTUAL TABLE")
        })
        .collect()
}

/// For an `INSERT INTO t`: the tables with a foreign key to `t`. The plan of such an
/// insert lists a scan of each: the look-up for child rows that were waiting for the
/// new parent, which SQLite runs only while a foreign-key violation is outstanding
/// (`OP_FkIfZero` skips it otherwise), and the store's constraints are immediate.
fn foreign_key_children(conn: &Connection, sql: &str) -> Vec<String> {
    let words: Vec<&str> = sql.split_whitespace().take(5).collect();
    let table = match words.as_slice() {
        [insert, into, table, ..]
            if insert.eq_ignore_ascii_case("INSERT") && into.eq_ignore_ascii_case("INTO") =>
        {
            *table
        }
        [insert, or, _, into, table]
            if insert.eq_ignore_ascii_case("INSERT")
                && or.eq_ignore_ascii_case("OR")
                && into.eq_ignore_ascii_case("INTO") =>
        {
            *table
        }
        _ => return Vec::new(),
    };
    let table = table.split('(').next().unwrap_or(table);
    let mut stmt = conn
        .prepare(
            "SELECT m.name FROM sqlite_schema m, pragma_foreign_key_list(m.name) f
             WHERE m.type = 'table' AND f.\"table\" = ?1",
        )
        .expect("the foreign-key query");
    stmt.query_map([table], |r| r.get(0))
        .expect("foreign keys")
        .map(|r| r.expect("a table name"))
        .collect()
}

/// Runs `path` on `conn` and fails if a statement it ran scans a table; returns what
/// the path returned and the statements, so the caller can check that the path did
/// run the queries it means to audit.
pub(crate) fn assert_no_scans<T>(
    name: &str,
    conn: &Connection,
    path: impl FnOnce(&Connection) -> T,
) -> (T, Vec<String>) {
    let (result, ran) = statements_run(conn, path);
    assert_none_scan(name, conn, &ran);
    (result, ran)
}

/// [`assert_no_scans`] for a path that writes through transactions of its own (ingest).
pub(crate) fn assert_no_scans_mut<T>(
    name: &str,
    conn: &mut Connection,
    path: impl FnOnce(&mut Connection) -> T,
) -> (T, Vec<String>) {
    start_tracing(conn);
    let result = path(conn);
    let ran = stop_tracing(conn);
    assert_none_scan(name, conn, &ran);
    (result, ran)
}

fn assert_none_scan(name: &str, conn: &Connection, ran: &[String]) {
    assert!(!ran.is_empty(), "{name}: ran no statement");
    let mut found = Vec::new();
    for sql in ran {
        let scans = scans(conn, sql);
        if !scans.is_empty() {
            found.push(format!("{}\n  -> {}", sql.trim(), scans.join("; ")));
        }
    }
    assert!(
        found.is_empty(),
        "{name} scans a table:\n{}",
        found.join("\n")
    );
}

/// "Now" in [`desk_store`].
pub(crate) const NOW: i64 = 1_772_366_400; // 2026-03-01T12:00:00Z

const H: i64 = 3_600;
const D: i64 = 86_400;
/// When [`desk_store`]'s tickets were opened.
const CREATED: i64 = NOW - 2 * D;

/// A store in memory with a little of everything the read paths read, so that each
/// path runs each of its queries: tickets of every status and priority, one merged
/// into another and one linked to it, messages with a file, timelines, mail sent and
/// failed, SLA clocks overdue, warned, late to warn, upcoming, paused and met, facts,
/// a rating, time logged, a change plan and a quarantined mail.
pub(crate) fn desk_store() -> Connection {
    let conn = crate::store::migrated_in_memory();
    let tickets = [
        (1, "open", "P1", None),
        (2, "waiting", "P2", None),
        (3, "pending", "P3", None),
        (4, "resolved", "P4", None),
        (5, "closed", "P2", Some(NOW - H)),
        (6, "closed", "P3", Some(CREATED + H)),
        (7, "open", "P2", None),
    ];
    for (id, status, priority, closed_at) in tickets {
        conn.execute(
            "INSERT INTO tickets (id, status, priority, requester, subject, created_at, updated_at,
                 assignee, team, closed_at, first_response_at)
             VALUES (?1, ?2, ?3, 'r@x.test', 'VPN down', ?4, ?4, 'ann@x.test', 'network', ?5, ?6)",
            rusqlite::params![
                id,
                status,
                priority,
                CREATED + id,
                closed_at,
                CREATED + id + 60
            ],
        )
        .expect("a ticket");
    }
    conn.execute_batch(&around_tickets()).expect("the rows");
    for clock in CLOCKS {
        clock.insert(&conn);
    }
    conn
}

/// Everything [`desk_store`] holds besides its tickets and clocks.
fn around_tickets() -> String {
    let (created, now) = (CREATED, NOW);
    format!(
        "UPDATE tickets SET merged_into = 1 WHERE id = 7;
         INSERT INTO ticket_links (low_id, high_id, linked_at, linked_by) VALUES (1, 2, {now}, 'a');
         INSERT INTO participants (ticket_id, address, added_at) VALUES (1, 'cc@x.test', {now});
         INSERT INTO messages (id, ticket_id, identity, content_hash, kind, from_address, to_json,
             cc_json, subject, references_json, text_body, attachments_json, problems_json, raw,
             received_at)
         VALUES (1, 1, '<m1@x>', 'h1', 'request', 'r@x.test', '[]', '[]', 's', '[]', 'text',
                 '[]', '[]', x'00', {created}),
                (2, 7, '<m2@x>', 'h2', 'request', 'r@x.test', '[]', '[]', 's', '[]', 'text',
                 '[]', '[]', x'00', {created});
         INSERT INTO file_blobs (sha256, size, bytes) VALUES ('ab', 1, x'01');
         INSERT INTO message_files (message_row, position, sha256, name, content_type, size, inline)
         VALUES (1, 1, 'ab', 'a.txt', 'text/plain', 1, 0);
         INSERT INTO events (ticket_id, at, actor, kind, detail)
         VALUES (1, {created}, 'r@x.test', 'created', 'x'), (7, {created}, 'r@x.test', 'created', 'x');
         INSERT INTO outbox (id, ticket_id, kind, message_id, mail_from, recipients_json, subject,
             raw, state, attempts, next_attempt_at, last_error, created_at, sent_at)
         VALUES (1, 1, 'acknowledgement', '<o1@d>', 'd@x.test', '[\"r@x.test\"]', 's', x'', 'sent',
                 1, {created}, NULL, {created}, {created}),
                (2, 1, 'new_ticket', '<o2@d>', 'd@x.test', '[\"a@x.test\"]', 's', x'', 'failed',
                 5, {created}, '550 no', {created}, NULL),
                (3, 2, 'agent_reply', '<o3@d>', 'd@x.test', '[\"r@x.test\"]', 's', x'', 'queued',
                 1, {now}, '421 later', {created}, NULL);
         INSERT INTO ticket_facts (ticket_id, fact, evidence, found_at)
         VALUES (1, 'device', 'laptop', {created});
         INSERT INTO satisfaction (ticket_id, rating, comment, rated_by, rated_at)
         VALUES (5, 4, 'ok', 'r@x.test', {now});
         INSERT INTO time_entries (ticket_id, agent, minutes, at) VALUES (1, 'ann@x.test', 30, {now});
         INSERT INTO change_plans (ticket_id, state, author, change_text, risk, backup,
             rollback_text, window_start, window_end, planned_at, updated_at)
         VALUES (1, 'planned', 'ann@x.test', 'c', 'r', 'b', 'rb', {now}, {now}, {now}, {now});
         INSERT INTO change_events (ticket_id, at, state, actor, detail)
         VALUES (1, {now}, 'planned', 'ann@x.test', '');
         INSERT INTO quarantine (source, content_hash, reason, raw, received_at)
         VALUES ('maildir', 'q', 'r', x'', {now});"
    )
}

/// A clock of [`desk_store`]: running when it has a due time; the stamps, when set,
/// are an hour ago.
struct Clock {
    ticket: i64,
    target: &'static str,
    priority: &'static str,
    due: Option<i64>,
    warn: Option<i64>,
    warned: bool,
    breached: bool,
    met: bool,
    next_alert: Option<i64>,
}

const fn clock(ticket: i64, target: &'static str, priority: &'static str) -> Clock {
    Clock {
        ticket,
        target,
        priority,
        due: None,
        warn: None,
        warned: false,
        breached: false,
        met: false,
        next_alert: None,
    }
}

const CLOCKS: [Clock; 8] = [
    // Overdue, breach recorded.
    Clock {
        due: Some(NOW - H),
        warn: Some(NOW - 2 * H),
        warned: true,
        breached: true,
        ..clock(1, "first_response", "P1")
    },
    // Upcoming.
    Clock {
        due: Some(NOW + D),
        warn: Some(NOW + H),
        next_alert: Some(NOW + H),
        ..clock(1, "resolution", "P1")
    },
    // Warned, not yet due.
    Clock {
        due: Some(NOW + H),
        warn: Some(NOW - H),
        warned: true,
        next_alert: Some(NOW + H),
        ..clock(7, "resolution", "P2")
    },
    // Past its warning time, the warning not fired yet.
    Clock {
        due: Some(NOW + H),
        warn: Some(NOW - 60),
        next_alert: Some(NOW - 60),
        ..clock(3, "resolution", "P3")
    },
    // Paused (waiting on the requester) after its warning.
    Clock {
        warned: true,
        ..clock(2, "resolution", "P2")
    },
    Clock {
        met: true,
        ..clock(4, "resolution", "P4")
    },
    // A closed ticket's clock, overdue.
    Clock {
        due: Some(NOW - D),
        warn: Some(NOW - D - H),
        warned: true,
        breached: true,
        ..clock(5, "first_response", "P2")
    },
    Clock {
        met: true,
        ..clock(6, "resolution", "P3")
    },
];

impl Clock {
    fn insert(&self, conn: &Connection) {
        let stamp = |set: bool| set.then_some(NOW - H);
        conn.execute(
            "INSERT INTO sla_clocks (ticket_id, target, priority, hours, target_seconds, started_at,
                 consumed, running_since, warn_at, due_at, met_at, warned_at, breached_at,
                 next_alert_at)
             VALUES (?1, ?2, ?3, '24x7', 3600, ?4, 0, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
            rusqlite::params![
                self.ticket,
                self.target,
                self.priority,
                CREATED,
                self.due.map(|_| CREATED),
                self.warn,
                self.due,
                stamp(self.met),
                stamp(self.warned),
                stamp(self.breached),
                self.next_alert
            ],
        )
        .expect("a clock");
    }
}

/// A configuration for the read paths that need one (its store is never opened).
pub(crate) fn config() -> crate::config::Config {
    let text = "[store]\npath = \"/nonexistent/t.db\"\n[mailbox]\nkind = \"maildir\"\n\
                path = \"/nonexistent/in\"\n[transport]\nkind = \"file\"\n\
                path = \"/nonexistent/out\"\n[desk]\nsupport_address = \"support@example.test\"\n";
    crate::config::Config::from_toml(
        std::path::Path::new("t.toml"),
        text,
        &std::collections::HashMap::new(),
    )
    .expect("a configuration")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_scan_is_caught_and_an_index_range_is_not() {
        let conn = crate::store::migrated_in_memory();
        let (_, ran) = statements_run(&conn, |c| {
            c.query_row(
                "SELECT count(*) FROM tickets WHERE subject = ?1",
                ["x"],
                |r| r.get::<_, i64>(0),
            )
            .unwrap();
            c.query_row("SELECT count(*) FROM tickets WHERE id = ?1", [1], |r| {
                r.get::<_, i64>(0)
            })
            .unwrap();
            c.query_row("SELECT n FROM tallies WHERE name = 'messages'", [], |r| {
                r.get::<_, i64>(0)
            })
            .unwrap();
        });
        assert_eq!(ran.len(), 3, "{ran:?}");
        assert_eq!(scans(&conn, &ran[0]), ["SCAN tickets"]);
        assert!(scans(&conn, &ran[1]).is_empty());
        assert!(scans(&conn, &ran[2]).is_empty());
        let json = "SELECT value FROM json_each('[1,2]')";
        assert!(scans(&conn, json).is_empty(), "{:?}", plan(&conn, json));
        let aliased = "SELECT t.id FROM outbox t WHERE t.kind = ?1";
        assert_eq!(scans(&conn, aliased), ["SCAN t"]);
    }

    #[test]
    #[should_panic(expected = "scans a table")]
    fn a_path_that_scans_fails() {
        let conn = crate::store::migrated_in_memory();
        assert_no_scans("counting", &conn, |c| {
            c.query_row("SELECT count(*) FROM messages", [], |r| r.get::<_, i64>(0))
                .unwrap()
        });
    }
}
