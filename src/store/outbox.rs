//! Queries on the outbox: the durable queue of rendered outgoing mail.
//!
//! States: `queued` → (`sending` while an attempt is in flight) → `sent` | `failed`,
//! or back to `queued` with a later `next_attempt_at` after a temporary failure. A row
//! left in `sending` by a crash goes back to `queued` at start-up: the mail may then be
//! sent twice, with the same Message-ID, which receivers (and our ingest) dedupe.

use anyhow::{Context, Result};
use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;

use crate::notify::OutgoingMail;

/// A row claimed for sending.
#[derive(Debug, Clone)]
pub struct OutboxEntry {
    pub id: i64,
    pub kind: String,
    pub ticket: Option<i64>,
    pub message_id: String,
    pub mail_from: String,
    pub recipients: Vec<String>,
    pub raw: Vec<u8>,
    /// Attempts including the one being made now.
    pub attempts: i64,
    pub created_at: i64,
}

/// Counts per state.
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq, Eq)]
pub struct OutboxCounts {
    pub queued: i64,
    pub sending: i64,
    pub sent: i64,
    pub failed: i64,
}

/// A row as listed for people.
#[derive(Debug, Clone, Serialize)]
pub struct OutboxRow {
    pub id: i64,
    pub ticket_id: Option<i64>,
    pub kind: String,
    pub message_id: String,
    pub recipients: Vec<String>,
    pub subject: String,
    pub state: String,
    pub attempts: i64,
    pub last_error: Option<String>,
    pub created_at: i64,
    pub sent_at: Option<i64>,
}

/// Queues a rendered mail, due at once. Part of the cause's transaction.
pub fn enqueue(conn: &Connection, mail: &OutgoingMail, at: i64) -> Result<i64> {
    conn.prepare_cached(
        "INSERT INTO outbox (ticket_id, kind, message_id, mail_from, recipients_json, subject, raw,
             state, attempts, next_attempt_at, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 'queued', 0, ?8, ?8)",
    )?
    .execute(params![
        mail.ticket,
        mail.kind,
        mail.message_id,
        mail.mail_from,
        serde_json::to_string(&mail.recipients)?,
        mail.subject,
        mail.raw,
        at
    ])?;
    let id = conn.last_insert_rowid();
    if !mail.files.is_empty() {
        super::file_blobs::link_outbox(conn, id, &mail.files)?;
    }
    Ok(id)
}

/// Puts rows a crash left in `sending` back in the queue; returns how many.
pub fn requeue_interrupted(conn: &Connection) -> Result<usize> {
    Ok(conn.execute(
        "UPDATE outbox SET state = 'queued' WHERE state = 'sending'",
        [],
    )?)
}

/// Claims up to `limit` due rows: marks them `sending` and counts the attempt
/// before anything is sent.
pub fn claim_due(conn: &mut Connection, now: i64, limit: usize) -> Result<Vec<OutboxEntry>> {
    let tx = conn.transaction()?;
    let entries = {
        let mut stmt = tx.prepare_cached(
            "SELECT id, kind, ticket_id, message_id, mail_from, recipients_json, raw, attempts, created_at
             FROM outbox WHERE state = 'queued' AND next_attempt_at <= ?1
             ORDER BY next_attempt_at, id LIMIT ?2",
        )?;
        let rows = stmt.query_map(params![now, limit as i64], |r| {
            let recipients: String = r.get(5)?;
            Ok(OutboxEntry {
                id: r.get(0)?,
                kind: r.get(1)?,
                ticket: r.get(2)?,
                message_id: r.get(3)?,
                mail_from: r.get(4)?,
                recipients: serde_json::from_str(&recipients).unwrap_or_default(),
                raw: r.get(6)?,
                attempts: r.get::<_, i64>(7)? + 1,
                created_at: r.get(8)?,
            })
        })?;
        rows.collect::<rusqlite::Result<Vec<_>>>()?
    };
    // Files are stored once, not in each row: put their bytes in now.
    let mut entries = entries;
    for e in &mut entries {
        let fills = super::file_blobs::outbox_fills(&tx, e.id)?;
        if fills.is_empty() {
            continue;
        }
        // A mail whose places were damaged goes without its files rather than
        // holding up the queue; the log says which.
        match crate::notify::relayed_files::fill(&e.raw, &fills)
            .with_context(|| format!("outbox mail {} ({})", e.id, e.message_id))
        {
            Ok(raw) => e.raw = raw,
            Err(err) => tracing::warn!(error = format!("{err:#}"), "files not filled in"),
        }
    }
    {
        let mut claim = tx.prepare_cached(
            "UPDATE outbox SET state = 'sending', attempts = attempts + 1 WHERE id = ?1",
        )?;
        for e in &entries {
            claim.execute([e.id])?;
        }
    }
    tx.commit()?;
    Ok(entries)
}

pub fn mark_sent(conn: &Connection, id: i64, at: i64) -> Result<()> {
    conn.prepare_cached(
        "UPDATE outbox SET state = 'sent', sent_at = ?2, last_error = NULL WHERE id = ?1",
    )?
    .execute(params![id, at])?;
    note_on_ticket(conn, id, at, "sent", "sent to")
}

/// Puts a mail's fate on its ticket's timeline (`<kind> sent to a, b (message id)`).
fn note_on_ticket(conn: &Connection, id: i64, at: i64, kind: &str, verb: &str) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO events (ticket_id, at, actor, kind, detail)
         SELECT o.ticket_id, ?2, 'ticketpost', ?3,
                replace(o.kind, '_', ' ') || ' ' || ?4 || ' ' ||
                (SELECT group_concat(r.value, ', ') FROM json_each(o.recipients_json) r) ||
                ' (' || o.message_id || ')' ||
                CASE WHEN o.last_error IS NOT NULL AND o.state = 'failed' THEN ': ' || o.last_error ELSE '' END
         FROM outbox o WHERE o.id = ?1 AND o.ticket_id IS NOT NULL",
    )?
    .execute(params![id, at, kind, verb])?;
    Ok(())
}

pub fn schedule_retry(conn: &Connection, id: i64, next_attempt_at: i64, error: &str) -> Result<()> {
    conn.prepare_cached(
        "UPDATE outbox SET state = 'queued', next_attempt_at = ?2, last_error = ?3 WHERE id = ?1",
    )?
    .execute(params![id, next_attempt_at, error])?;
    Ok(())
}

pub fn mark_failed(conn: &Connection, id: i64, error: &str, at: i64) -> Result<()> {
    conn.prepare_cached("UPDATE outbox SET state = 'failed', last_error = ?2 WHERE id = ?1")?
        .execute(params![id, error])?;
    note_on_ticket(conn, id, at, "send_failed", "could not be sent to")
}

/// The earliest `next_attempt_at` of a queued row.
pub fn next_due(conn: &Connection) -> Result<Option<i64>> {
    Ok(conn
        .query_row(
            "SELECT min(next_attempt_at) FROM outbox WHERE state = 'queued'",
            [],
            |r| r.get(0),
        )
        .optional()?
        .flatten())
}

pub fn counts(conn: &Connection) -> Result<OutboxCounts> {
    let mut c = OutboxCounts::default();
    let mut stmt = conn.prepare("SELECT state, count(*) FROM outbox GROUP BY state")?;
    let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))?;
    for row in rows {
        let (state, n) = row?;
        match state.as_str() {
            "queued" => c.queued = n,
            "sending" => c.sending = n,
            "sent" => c.sent = n,
            _ => c.failed = n,
        }
    }
    Ok(c)
}

const SELECT_ROW: &str = "SELECT id, ticket_id, kind, message_id, recipients_json, subject, state,
        attempts, last_error, created_at, sent_at
     FROM outbox";
/// A ticket's mails, oldest first (`outbox_ticket`).
pub(crate) const OF_TICKET: &str = "WHERE ticket_id = ?1 ORDER BY id";
/// Failed mails, newest first, at most `?1` (`outbox_failed`).
pub(crate) const FAILED_NEWEST: &str = "WHERE state = 'failed' ORDER BY id DESC LIMIT ?1";

fn outbox_row(r: &rusqlite::Row) -> rusqlite::Result<OutboxRow> {
    let recipients: String = r.get(4)?;
    Ok(OutboxRow {
        id: r.get(0)?,
        ticket_id: r.get(1)?,
        kind: r.get(2)?,
        message_id: r.get(3)?,
        recipients: serde_json::from_str(&recipients).unwrap_or_default(),
        subject: r.get(5)?,
        state: r.get(6)?,
        attempts: r.get(7)?,
        last_error: r.get(8)?,
        created_at: r.get(9)?,
        sent_at: r.get(10)?,
    })
}

fn rows(conn: &Connection, tail: &str, params: impl rusqlite::Params) -> Result<Vec<OutboxRow>> {
    let rows = conn
        .prepare_cached(&format!("{SELECT_ROW} {tail}"))?
        .query_map(params, outbox_row)?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(rows)
}

/// Mails of a ticket (an index range), or all of them when `ticket` is None (the
/// `outbox list` command), oldest first.
pub fn list(conn: &Connection, ticket: Option<i64>) -> Result<Vec<OutboxRow>> {
    match ticket {
        Some(id) => rows(conn, OF_TICKET, [id]),
        None => rows(conn, "ORDER BY id", []),
    }
}

/// Puts failed mail back in the queue, due at `now`, with its attempts reset: one row
/// by id, or every failed row. Returns how many. Sent or queued mail is left alone.
pub fn requeue_failed(conn: &Connection, id: Option<i64>, now: i64) -> Result<usize> {
    Ok(conn.execute(
        "UPDATE outbox SET state = 'queued', next_attempt_at = ?2, attempts = 0
         WHERE state = 'failed' AND (?1 IS NULL OR id = ?1)",
        params![id, now],
    )?)
}

/// The state of one row, if it exists.
pub fn state_of(conn: &Connection, id: i64) -> Result<Option<String>> {
    Ok(conn
        .query_row("SELECT state FROM outbox WHERE id = ?1", [id], |r| r.get(0))
        .optional()?)
}

/// Drops the bytes of mail sent before `before` (the row, its recipients, subject and
/// Message-ID stay for the ticket's history and for matching bounces). Returns how
/// many rows and how many bytes were freed.
pub fn purge_sent(conn: &Connection, before: i64) -> Result<(usize, i64)> {
    let bytes: i64 = conn.query_row(
        "SELECT coalesce(sum(length(raw)), 0) FROM outbox
         WHERE state = 'sent' AND sent_at <= ?1 AND length(raw) > 0",
        [before],
        |r| r.get(0),
    )?;
    let rows = conn.execute(
        "UPDATE outbox SET raw = x'' WHERE state = 'sent' AND sent_at <= ?1 AND length(raw) > 0",
        [before],
    )?;
    Ok((rows, bytes))
}

/// Failed mails, newest first, at most `limit`.
pub fn list_failed(conn: &Connection, limit: usize) -> Result<Vec<OutboxRow>> {
    rows(
        conn,
        FAILED_NEWEST,
        [i64::try_from(limit).unwrap_or(i64::MAX)],
    )
}

/// The recipients of a mail we sent, by its Message-ID (None: not ours).
pub fn recipients_of(conn: &Connection, message_id: &str) -> Result<Option<Vec<String>>> {
    let json: Option<String> = conn
        .prepare_cached("SELECT recipients_json FROM outbox WHERE message_id = ?1")?
        .query_row([message_id], |r| r.get(0))
        .optional()?;
    Ok(match json {
        Some(j) => Some(serde_json::from_str(&j)?),
        None => None,
    })
}
