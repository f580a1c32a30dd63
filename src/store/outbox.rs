//! Queries on the outbox: the durable queue of rendered outgoing mail.
//!
//! States: `queued` → (`sending` while an attempt is in flight) → `sent` | `failed`,
//! or back to `queued` with a later `next_attempt_at` after a temporary failure. A row
//! left in `sending` by a crash goes back to `queued` at start-up: the mail may then be
//! sent twice, with the same Message-ID, which receivers (and our ingest) dedupe.

use anyhow::{Context, Result};
use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;

use crate::mail_packing::{self, Packer};
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

/// Queues a rendered mail, due at once. Part of the cause's transaction. The mail is
/// kept packed (`mail_packing`): as the render worker packed it, or packed here
/// without a dictionary when it was not.
pub fn enqueue(conn: &Connection, mail: &OutgoingMail, at: i64) -> Result<i64> {
    insert(conn, mail, at, false)
}

/// Queues a rendered mail as [`enqueue`] does, with its "<kind> queued to a, b
/// (message id)" line on its ticket's timeline: made from the row when the timeline
/// is read (`store::tickets::events`), at the place `queued_after_event` (the newest
/// event now) keeps, instead of an `events` row (schema 19).
pub fn enqueue_on_timeline(conn: &Connection, mail: &OutgoingMail, at: i64) -> Result<i64> {
    insert(conn, mail, at, true)
}

fn insert(conn: &Connection, mail: &OutgoingMail, at: i64, on_timeline: bool) -> Result<i64> {
    let packed_here;
    let packed = match &mail.packed {
        Some(p) => p,
        None => {
            packed_here = Packer::plain().pack(&mail.raw)?;
            &packed_here
        }
    };
    let body_id: Option<i64> = match &packed.body {
        None => None,
        Some(body) => Some(
            conn.prepare_cached(
                "INSERT INTO outbox_bodies (hash, format, dict, bytes, uses, quotes)
                 VALUES (?1, ?2, ?3, ?4, 1, ?5)
                 ON CONFLICT (hash) DO UPDATE SET uses = uses + 1
                 RETURNING id",
            )?
            .query_row(
                params![body.hash, body.format, packed.dict, body.bytes, body.quotes],
                |r| r.get(0),
            )?,
        ),
    };
    conn.prepare_cached(
        "INSERT INTO outbox (ticket_id, kind, message_id, mail_from, recipients_json, subject, raw,
             raw_format, raw_dict, body_id, state, attempts, next_attempt_at, created_at,
             queued_after_event)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?11, 'queued', 0, ?10, ?10,
             CASE WHEN ?12 THEN (SELECT coalesce(max(id), 0) FROM events) END)",
    )?
    .execute(params![
        mail.ticket,
        mail.kind,
        mail.message_id,
        mail.mail_from,
        serde_json::to_string(&mail.recipients)?,
        mail.subject,
        packed.bytes,
        packed.format,
        packed.dict,
        at,
        body_id,
        on_timeline
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
    let packed_rows = {
        let mut stmt = tx.prepare_cached(
            "SELECT id, kind, ticket_id, message_id, mail_from, recipients_json, raw, attempts,
                    created_at, raw_format, raw_dict, body_id
             FROM outbox WHERE state = 'queued' AND next_attempt_at <= ?1
             ORDER BY next_attempt_at, id LIMIT ?2",
        )?;
        let rows = stmt.query_map(params![now, limit as i64], |r| {
            let recipients: String = r.get(5)?;
            let entry = OutboxEntry {
                id: r.get(0)?,
                kind: r.get(1)?,
                ticket: r.get(2)?,
                message_id: r.get(3)?,
                mail_from: r.get(4)?,
                recipients: serde_json::from_str(&recipients).unwrap_or_default(),
                raw: r.get(6)?,
                attempts: r.get::<_, i64>(7)? + 1,
                created_at: r.get(8)?,
            };
            let kept = Kept {
                format: r.get(9)?,
                dict: r.get(10)?,
                body: r.get(11)?,
            };
            Ok((entry, kept))
        })?;
        rows.collect::<rusqlite::Result<Vec<_>>>()?
    };
    let mut dictionaries = Dictionaries::default();
    let mut entries: Vec<OutboxEntry> = Vec::with_capacity(packed_rows.len());
    for (mut e, kept) in packed_rows {
        // A row that does not unpack is a damaged store: it fails (it cannot be sent
        // as it was rendered) and the rest of the queue goes on.
        match dictionaries
            .unpack(&tx, &kept, std::mem::take(&mut e.raw))
            .with_context(|| format!("outbox mail {} ({})", e.id, e.message_id))
        {
            Ok(raw) => e.raw = raw,
            Err(err) => {
                tracing::error!(error = format!("{err:#}"), "outbox mail cannot be read");
                mark_failed(&tx, e.id, &format!("{err:#}"), now)?;
                continue;
            }
        }
        entries.push(e);
    }
    // Files are stored once, not in each row: put their bytes in now.
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

/// How a row keeps its mail (`raw_format`, `raw_dict`, `body_id`).
struct Kept {
    format: i64,
    dict: Option<i64>,
    body: Option<i64>,
}

/// The dictionaries of the rows being read, each loaded once (`outbox_dicts` by id),
/// and the shared body read last (the mails of one event are claimed together).
#[derive(Default)]
struct Dictionaries {
    loaded: std::collections::HashMap<i64, Vec<u8>>,
    last_body: Option<(i64, Vec<u8>)>,
}

impl Dictionaries {
    fn get(&mut self, conn: &Connection, id: Option<i64>) -> Result<Option<&[u8]>> {
        let Some(id) = id else { return Ok(None) };
        if let std::collections::hash_map::Entry::Vacant(slot) = self.loaded.entry(id) {
            let bytes: Vec<u8> = conn
                .prepare_cached("SELECT bytes FROM outbox_dicts WHERE id = ?1")?
                .query_row([id], |r| r.get(0))
                .optional()?
                .with_context(|| format!("outbox dictionary {id} is missing"))?;
            slot.insert(bytes);
        }
        Ok(self.loaded.get(&id).map(Vec::as_slice))
    }

    /// The rendered bytes of a row that keeps `bytes` as `kept` says.
    fn unpack(&mut self, conn: &Connection, kept: &Kept, bytes: Vec<u8>) -> Result<Vec<u8>> {
        let head = mail_packing::unpack(kept.format, self.get(conn, kept.dict)?, &bytes)?;
        let Some(body_id) = kept.body else {
            return Ok(head);
        };
        if self.last_body.as_ref().is_none_or(|(id, _)| *id != body_id) {
            let body = self.body(conn, body_id)?;
            self.last_body = Some((body_id, body));
        }
        let (_, body) = self.last_body.as_ref().context("the body just read")?;
        mail_packing::join_shared(head, body)
    }

    /// A shared body, unpacked (against the request it quotes, when it quotes one).
    fn body(&mut self, conn: &Connection, body_id: i64) -> Result<Vec<u8>> {
        type Body = (i64, Option<i64>, Vec<u8>, Option<i64>);
        let (format, dict, body, quotes): Body = conn
            .prepare_cached("SELECT format, dict, bytes, quotes FROM outbox_bodies WHERE id = ?1")?
            .query_row([body_id], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
            })
            .optional()?
            .with_context(|| format!("outbox body {body_id} is missing"))?;
        let Some(message) = quotes else {
            return mail_packing::unpack(format, self.get(conn, dict)?, &body);
        };
        let request = super::messages::text_of(conn, message)?.with_context(|| {
            format!("message {message}, which outbox body {body_id} quotes, is missing")
        })?;
        mail_packing::unpack_quoting(format, self.get(conn, dict)?, &request, &body)
    }
}

/// The outbox dictionary of a set of templates (`key`: their digest), made by `make`
/// and stored the first time the key is seen: (its id, its bytes). A dictionary is
/// never changed once stored, since rows refer to it.
pub fn dictionary(
    conn: &Connection,
    key: &str,
    at: i64,
    make: impl FnOnce() -> Result<Vec<u8>>,
) -> Result<(i64, Vec<u8>)> {
    let found: Option<(i64, Vec<u8>)> = conn
        .prepare_cached("SELECT id, bytes FROM outbox_dicts WHERE key = ?1")?
        .query_row([key], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    if let Some(found) = found {
        return Ok(found);
    }
    let bytes = make()?;
    conn.prepare_cached("INSERT INTO outbox_dicts (key, bytes, created_at) VALUES (?1, ?2, ?3)")?
        .execute(params![key, bytes, at])?;
    Ok((conn.last_insert_rowid(), bytes))
}

/// The rendered bytes of one row, unpacked (None: no such row; empty once purged).
pub fn raw_of(conn: &Connection, id: i64) -> Result<Option<Vec<u8>>> {
    let row: Option<(Vec<u8>, Kept)> = conn
        .prepare_cached("SELECT raw, raw_format, raw_dict, body_id FROM outbox WHERE id = ?1")?
        .query_row([id], |r| {
            let kept = Kept {
                format: r.get(1)?,
                dict: r.get(2)?,
                body: r.get(3)?,
            };
            Ok((r.get(0)?, kept))
        })
        .optional()?;
    match row {
        None => Ok(None),
        Some((bytes, kept)) => Dictionaries::default().unpack(conn, &kept, bytes).map(Some),
    }
}

/// Marks a row sent. Its timeline line (`<kind> sent to a, b (message id)`) is not
/// written to `events` (schema 19): it is made from the row when the timeline is read
/// (`store::tickets::events`), at the place among the ticket's events it would have taken, which
/// `sent_after_event` (the newest event then) keeps.
pub fn mark_sent(conn: &Connection, id: i64, at: i64) -> Result<()> {
    conn.prepare_cached(
        "UPDATE outbox SET state = 'sent', sent_at = ?2, last_error = NULL,
             sent_after_event = (SELECT coalesce(max(id), 0) FROM events)
         WHERE id = ?1",
    )?
    .execute(params![id, at])?;
    Ok(())
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
/// many rows and how many bytes were freed (as kept: packed mail counts its packed
/// size). A purged row is kept as an empty raw row.
pub fn purge_sent(conn: &Connection, before: i64) -> Result<(usize, i64)> {
    conn.execute_batch("SAVEPOINT purge_sent")?;
    let purged = purge_in(conn, before);
    match purged {
        Ok(_) => conn.execute_batch("RELEASE purge_sent")?,
        Err(_) => conn.execute_batch("ROLLBACK TO purge_sent; RELEASE purge_sent")?,
    }
    purged
}

/// What [`purge_sent`] does, in its savepoint: the rows' own bytes, then the shared
/// bodies no row uses any more.
fn purge_in(conn: &Connection, before: i64) -> Result<(usize, i64)> {
    const PURGED: &str =
        "state = 'sent' AND sent_at <= ?1 AND (length(raw) > 0 OR body_id IS NOT NULL)";
    let bodies: Vec<(i64, i64)> = conn
        .prepare(&format!(
            "SELECT body_id, count(*) FROM outbox WHERE {PURGED} AND body_id IS NOT NULL
             GROUP BY body_id"
        ))?
        .query_map([before], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<rusqlite::Result<_>>()?;
    let mut bytes: i64 = conn.query_row(
        &format!("SELECT coalesce(sum(length(raw)), 0) FROM outbox WHERE {PURGED}"),
        [before],
        |r| r.get(0),
    )?;
    let rows = conn.execute(
        &format!(
            "UPDATE outbox SET raw = x'', raw_format = 0, raw_dict = NULL, body_id = NULL
             WHERE {PURGED}"
        ),
        [before],
    )?;
    for (id, n) in bodies {
        conn.execute(
            "UPDATE outbox_bodies SET uses = uses - ?2 WHERE id = ?1",
            params![id, n],
        )?;
        let freed: Option<i64> = conn
            .query_row(
                "DELETE FROM outbox_bodies WHERE id = ?1 AND uses <= 0 RETURNING length(bytes)",
                [id],
                |r| r.get(0),
            )
            .optional()?;
        bytes += freed.unwrap_or(0);
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::notify::{Intake, NoticeExtras, Renderer, Thread, TicketView};

    fn renderer() -> Renderer {
        let text = "[store]\npath = \"/nonexistent/t.db\"\n[mailbox]\nkind = \"maildir\"\npath = \"/nonexistent/in\"\n[transport]\nkind = \"file\"\npath = \"/nonexistent/out\"\n[desk]\nsupport_address = \"support@example.test\"\n";
        let cfg =
            Config::from_toml(std::path::Path::new("t.toml"), text, &Default::default()).unwrap();
        Renderer::new(&cfg.templates, &cfg.desk).unwrap()
    }

    /// `renderer` with its dictionary stored in `conn`, as the service sets it up.
    fn with_dictionary(conn: &Connection, renderer: Renderer) -> Renderer {
        let samples = renderer.sample_mails().unwrap();
        let raws: Vec<&[u8]> = samples.iter().map(|m| m.raw.as_slice()).collect();
        let bytes = mail_packing::dictionary_from(&raws);
        let key = renderer.templates_digest().to_string();
        let (id, bytes) = dictionary(conn, &key, 1, || Ok(bytes)).unwrap();
        // Asked again for the same templates: the same row, not a new one.
        assert_eq!(dictionary(conn, &key, 2, || unreachable!()).unwrap().0, id);
        renderer.with_packer(Packer::with_dictionary(id, &bytes))
    }

    /// A request of some 1–3 KB, English or Chinese, different for each `i`.
    fn request_text(i: usize) -> String {
        let en = [
            "The VPN drops every few minutes since this morning",
            "Outlook asks for my password again and again",
            "The printer on the third floor jams on every page",
            "I cannot open the shared drive from home",
        ];
        let zh = [
            "仓库系统整个部门都无法使用",
            "打印机卡纸，每一页都卡",
            "邮箱一直提示密码错误",
            "家里连不上公司的共享盘",
        ];
        let mut text = String::new();
        for line in 0..(8 + i % 20) {
            let n = i * 31 + line * 7;
            if i.is_multiple_of(2) {
                text.push_str(&format!(
                    "{} (case {n}, seen at {}:{:02}).\n",
                    en[n % 4],
                    n % 24,
                    n % 60
                ));
            } else {
                text.push_str(&format!(
                    "{}（编号 {n}，{} 点 {} 分）。\n",
                    zh[n % 4],
                    n % 24,
                    n % 60
                ));
            }
        }
        text
    }

    /// An acknowledgement and a notice to each of three agents for request `i`.
    fn rendered_batch(r: &Renderer, i: usize) -> Vec<OutgoingMail> {
        let text = request_text(i);
        let raw = format!(
            "From: Jun Wang <jun{i}@acme.test>\r\nSubject: Request {i}\r\nMessage-ID: <r{i}@acme.test>\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{}",
            text.replace('\n', "\r\n")
        );
        let request = crate::inbound::parse(raw.into_bytes()).unwrap();
        let id = i64::try_from(i).unwrap() + 1;
        let mut mails = vec![
            r.acknowledgement(id, &request, &Intake::plain("en"), 1_800_000_000)
                .unwrap(),
        ];
        let t = TicketView {
            id,
            subject: format!("Request {i}"),
            requester: format!("jun{i}@acme.test"),
            requester_name: Some("Jun Wang".into()),
            status: "open".into(),
            priority: "P3".into(),
            assignee: None,
            team: None,
            participants: vec![],
            language: if i.is_multiple_of(2) { "en" } else { "zh" }.into(),
            linked: vec![],
        };
        for agent in ["ann@example.test", "bo@example.test", "boss@example.test"] {
            mails.push(
                r.agent_notice(
                    &t,
                    agent,
                    crate::desk::lifecycle::Notice::NewTicket,
                    Some("Jun Wang"),
                    &text,
                    &NoticeExtras::default(),
                    &Thread::reply_to(Some(&format!("r{i}@acme.test")), &[]),
                    1_800_000_000,
                )
                .unwrap(),
            );
        }
        mails
    }

    fn tickets(conn: &Connection, n: usize) {
        for i in 1..=n {
            conn.execute(
                "INSERT INTO tickets (id, status, priority, requester, subject, created_at, updated_at)
                 VALUES (?1, 'open', 'P3', 'a@x.test', 's', 1, 1)",
                [i64::try_from(i).unwrap()],
            )
            .unwrap();
        }
    }

    #[test]
    fn queued_mail_is_sent_byte_exact_as_rendered() {
        let mut conn = crate::store::migrated_in_memory();
        tickets(&conn, 2);
        let r = with_dictionary(&conn, renderer());
        let mut rendered = Vec::new();
        for i in 0..2 {
            for mail in rendered_batch(&r, i) {
                // As the render workers do; the last mail is packed by the store.
                let mail = if rendered.len() == 7 {
                    mail
                } else {
                    r.pack(mail).unwrap()
                };
                enqueue(&conn, &mail, 5).unwrap();
                rendered.push(mail);
            }
        }
        let kept: Vec<(i64, Option<i64>)> = conn
            .prepare("SELECT raw_format, raw_dict FROM outbox ORDER BY id")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        assert!(
            kept[..7]
                .iter()
                .all(|k| k.0 == mail_packing::FORMAT_ZSTD && k.1.is_some())
        );
        assert_eq!(kept[7], (mail_packing::FORMAT_ZSTD, None));
        // Reading a kept mail back (dictionary, shared body) scans nothing.
        let (claimed, ran) =
            crate::store::plan_audit::assert_no_scans_mut("outbox claim", &mut conn, |c| {
                claim_due(c, 10, 100).unwrap()
            });
        assert!(
            ran.iter().any(|q| q.contains("FROM outbox_bodies")),
            "{ran:#?}"
        );
        assert_eq!(claimed.len(), rendered.len());
        for (sent, mail) in claimed.iter().zip(&rendered) {
            assert_eq!(sent.message_id, mail.message_id);
            assert!(sent.raw == mail.raw, "mail {} differs once kept", sent.id);
            assert_eq!(raw_of(&conn, sent.id).unwrap().as_ref(), Some(&mail.raw));
        }
    }

    #[test]
    fn a_mails_timeline_lines_are_made_from_its_row_in_place() {
        let conn = crate::store::migrated_in_memory();
        tickets(&conn, 1);
        let r = with_dictionary(&conn, renderer());
        let mut batch = rendered_batch(&r, 0);
        let (ack, notice) = (batch.remove(0), batch.remove(0));
        let event = |kind, detail| {
            crate::store::tickets::add_event(&conn, 1, 6, "ann", kind, detail).unwrap()
        };
        // A mail queued and sent before schema 19: its lines are `events` rows.
        let old = enqueue(&conn, &r.pack(ack).unwrap(), 5).unwrap();
        event("mail", "acknowledgement queued to ...");
        conn.execute(
            "UPDATE outbox SET state = 'sent', sent_at = 6 WHERE id = ?1",
            [old],
        )
        .unwrap();
        note_on_ticket(&conn, old, 6, "sent", "sent to").unwrap();
        event("status", "pending");
        let new = enqueue_on_timeline(&conn, &r.pack(notice.clone()).unwrap(), 6).unwrap();
        event("note", "looked at it");
        mark_sent(&conn, new, 7).unwrap();
        event("status", "resolved");
        let stored: i64 = conn
            .query_row("SELECT count(*) FROM events", [], |r| r.get(0))
            .unwrap();
        assert_eq!(stored, 5, "no events rows for the mail queued and sent now");
        let timeline = crate::store::tickets::events(&conn, 1).unwrap();
        let kinds: Vec<&str> = timeline.iter().map(|e| e.kind.as_str()).collect();
        assert_eq!(
            kinds,
            ["mail", "sent", "status", "mail", "note", "sent", "status"]
        );
        // The lines made from the row say what the events rows said.
        note_on_ticket(&conn, new, 7, "sent", "sent to").unwrap();
        let written: String = conn
            .query_row(
                "SELECT detail FROM events ORDER BY id DESC LIMIT 1",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(timeline[5].detail, written);
        assert_eq!(
            (timeline[5].at, timeline[5].actor.as_str()),
            (7, "ticketpost")
        );
        assert_eq!(
            timeline[3].detail,
            format!(
                "agent notice queued to {} ({})",
                notice.recipients.join(", "),
                notice.message_id
            )
        );
        assert_eq!(timeline[3].at, 6);
        let plan =
            crate::store::query_plan(&conn, &crate::store::tickets::MAIL_LINES.replace("?1", "1"));
        assert!(plan.contains("outbox_ticket (ticket_id=?)"), "{plan}");
    }

    #[test]
    fn the_outbox_keeps_a_fraction_of_the_rendered_bytes() {
        let conn = crate::store::migrated_in_memory();
        let n = 40;
        tickets(&conn, n);
        let r = with_dictionary(&conn, renderer());
        let mut rendered = 0;
        for i in 0..n {
            for mail in rendered_batch(&r, i) {
                rendered += mail.raw.len();
                enqueue(&conn, &r.pack(mail).unwrap(), 5).unwrap();
            }
        }
        let kept: i64 = conn
            .query_row(
                "SELECT (SELECT sum(length(raw)) FROM outbox)
                      + (SELECT sum(length(bytes)) FROM outbox_bodies)",
                [],
                |r| r.get(0),
            )
            .unwrap();
        let bodies: i64 = conn
            .query_row("SELECT count(*) FROM outbox_bodies", [], |r| r.get(0))
            .unwrap();
        // The three notices of a ticket share their body; the acknowledgement has its own.
        assert_eq!(bodies, 2 * i64::try_from(n).unwrap());
        // Bodies with encoded parts are kept decoded (each comes back exactly: see
        // queued_mail_is_sent_byte_exact_as_rendered).
        let decoded: i64 = conn
            .query_row(
                "SELECT count(*) FROM outbox_bodies WHERE format = ?1",
                [mail_packing::FORMAT_ZSTD_DECODED],
                |r| r.get(0),
            )
            .unwrap();
        assert!(decoded > 0, "no body kept decoded");
        let ratio = rendered as f64 / kept as f64;
        eprintln!(
            "{} mails: {rendered} bytes rendered, {kept} kept ({ratio:.1}x)",
            n * 4
        );
        assert!(
            ratio >= 5.0,
            "{rendered} bytes rendered, {kept} kept ({ratio:.1}x)"
        );
    }

    #[test]
    fn rows_from_before_packing_are_sent_as_they_were_and_purged() {
        let mut conn = rusqlite::Connection::open_in_memory().unwrap();
        crate::store::schema::migrations()
            .to_version(&mut conn, 17)
            .unwrap();
        tickets(&conn, 1);
        let raw = b"Subject: old\r\n\r\nkept as rendered\r\n".to_vec();
        conn.execute(
            "INSERT INTO outbox (ticket_id, kind, message_id, mail_from, recipients_json, subject,
                 raw, state, attempts, next_attempt_at, created_at)
             VALUES (1, 'relay', 'old@x.test', 'd@x.test', '[\"a@x.test\"]', 'old', ?1, 'queued',
                 0, 1, 1)",
            [&raw],
        )
        .unwrap();
        crate::store::schema::migrations()
            .to_latest(&mut conn)
            .unwrap();
        let claimed = claim_due(&mut conn, 10, 10).unwrap();
        assert_eq!(claimed.len(), 1);
        assert_eq!(claimed[0].raw, raw);
        mark_sent(&conn, claimed[0].id, 20).unwrap();
        // A packed row sent too: purge empties both, and they read as empty.
        let r = renderer();
        let mail = r.pack(rendered_batch(&r, 0).remove(0)).unwrap();
        let id = enqueue(
            &conn,
            &OutgoingMail {
                ticket: Some(1),
                ..mail
            },
            10,
        )
        .unwrap();
        mark_sent(&conn, id, 20).unwrap();
        let (rows, bytes) = purge_sent(&conn, 30).unwrap();
        assert_eq!(rows, 2);
        assert!(bytes > i64::try_from(raw.len()).unwrap());
        for id in [claimed[0].id, id] {
            assert_eq!(raw_of(&conn, id).unwrap(), Some(Vec::new()));
        }
    }

    #[test]
    fn a_row_whose_dictionary_is_gone_fails_and_the_rest_is_sent() {
        let mut conn = crate::store::migrated_in_memory();
        tickets(&conn, 2);
        let r = with_dictionary(&conn, renderer());
        let mut batch = rendered_batch(&r, 0);
        let first = enqueue(&conn, &r.pack(batch.remove(0)).unwrap(), 5).unwrap();
        let second = enqueue(&conn, &r.pack(batch.remove(0)).unwrap(), 5).unwrap();
        // A damaged store (foreign keys would not let it happen otherwise).
        conn.execute_batch("PRAGMA foreign_keys = OFF").unwrap();
        conn.execute("UPDATE outbox SET raw_dict = 999 WHERE id = ?1", [first])
            .unwrap();
        let claimed = claim_due(&mut conn, 10, 10).unwrap();
        assert_eq!(
            claimed.iter().map(|e| e.id).collect::<Vec<_>>(),
            vec![second]
        );
        assert_eq!(state_of(&conn, first).unwrap().as_deref(), Some("failed"));
    }
}
