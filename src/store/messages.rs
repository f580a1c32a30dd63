//! Queries on received messages, the Message-ID index used for threading, and the
//! quarantine of mail that could not be parsed at all.

use anyhow::{Context, Result};
use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;

use crate::inbound::InboundMessage;

/// A stored message as shown in a ticket's history.
#[derive(Debug, Clone, Serialize)]
pub struct MessageRow {
    pub id: i64,
    pub message_id: Option<String>,
    pub kind: String,
    pub automatic: Option<String>,
    pub from_address: Option<String>,
    pub from_name: Option<String>,
    pub subject: String,
    pub text_body: String,
    /// What the author wrote (quotes and signatures trimmed); the text body where
    /// nothing was trimmed (and in stores from before schema version 2).
    pub visible_text: Option<String>,
    pub attachments: serde_json::Value,
    pub received_at: i64,
    pub size: i64,
}

/// What the store already holds under an identity.
pub struct KnownMessage {
    pub content_hash: String,
}

pub fn find_by_identity(conn: &Connection, identity: &str) -> Result<Option<KnownMessage>> {
    Ok(conn
        .prepare_cached("SELECT content_hash FROM messages WHERE identity = ?1")?
        .query_row([identity], |r| {
            Ok(KnownMessage {
                content_hash: r.get(0)?,
            })
        })
        .optional()?)
}

/// Stores a message with its raw bytes; returns its row id.
/// A message to store, with what ingest decided about it.
pub struct NewMessage<'a> {
    pub msg: &'a InboundMessage,
    /// The exactly-once key (Message-ID, derived id, or content hash).
    pub identity: &'a str,
    pub ticket: Option<i64>,
    /// request, reply, agent_reply, note, rejected_commands, automatic.
    pub kind: &'a str,
    /// Why it counts as automatic mail, when it does.
    pub automatic: Option<&'a str>,
    /// What the author wrote (quotes and signatures trimmed).
    pub visible_text: &'a str,
    pub at: i64,
}

/// Stores a received message. The raw bytes are kept byte-exact, packed (schema 19)
/// with the text body in one zstd frame (`packed`: the raw mail first, `raw_len`
/// bytes, then the text body), where the text costs next to nothing since the raw mail
/// holds it; `raw` and `text_body` are then empty. Rows from before keep them plain;
/// readers take both ([`KEPT_TEXT`], [`raw_of`]). The HTML body is not kept (nothing
/// reads it back, and the raw mail holds it), and the visible text is kept as a length
/// when it is the text body's beginning (`visible_len`).
pub fn insert(conn: &Connection, m: &NewMessage) -> Result<i64> {
    let msg = m.msg;
    // Trimming cuts quotes and signatures off the end: the visible text is then the
    // text body's first bytes, kept as their length.
    let (visible_text, visible_len) = match msg.text_body.strip_prefix(m.visible_text) {
        Some(_) => (None, Some(m.visible_text.len() as i64)),
        None => (Some(m.visible_text), None),
    };
    let packed = pack_received(&msg.raw, &msg.text_body)?;
    conn.prepare_cached(
        "INSERT INTO messages (ticket_id, identity, message_id, content_hash, kind, automatic,
             from_address, from_name, to_json, cc_json, subject, sent_date, in_reply_to,
             references_json, text_body, html_body, attachments_json, problems_json, raw, received_at,
             visible_text, visible_len, packed, raw_len)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, '', ?15, ?16, ?17, X'',
             ?18, ?19, ?20, ?21, ?22)",
    )?
    .execute(params![
        m.ticket,
        m.identity,
        msg.message_id,
        msg.content_hash,
        m.kind,
        m.automatic,
        msg.from.as_ref().map(|a| &a.email),
        msg.from.as_ref().and_then(|a| a.name.as_ref()),
        json(&msg.to),
        json(&msg.cc),
        msg.subject,
        msg.date,
        msg.in_reply_to.first(),
        json(&msg.references),
        None::<&str>,
        json(&msg.attachments),
        json(&msg.problems),
        m.at,
        visible_text,
        visible_len,
        packed,
        msg.raw.len() as i64,
    ])?;
    Ok(conn.last_insert_rowid())
}

/// zstd level of received mail: as for outgoing mail (`mail_packing`), zstd's default;
/// a few kilobytes take some tens of microseconds.
const RECEIVED_LEVEL: i32 = 3;

/// One zstd frame of the raw mail followed by the text body.
fn pack_received(raw: &[u8], text_body: &str) -> Result<Vec<u8>> {
    let mut both = Vec::with_capacity(raw.len() + text_body.len());
    both.extend_from_slice(raw);
    both.extend_from_slice(text_body.as_bytes());
    crate::zstd_context::compress(&both, RECEIVED_LEVEL).context("cannot pack a received message")
}

/// The raw mail and the text body of a packed row.
fn unpack_received(packed: &[u8], raw_len: i64) -> Result<(Vec<u8>, String)> {
    let mut both =
        crate::zstd_context::decompress(packed, &[]).context("a stored message does not unpack")?;
    let raw_len = usize::try_from(raw_len)
        .ok()
        .filter(|n| *n <= both.len())
        .context("a stored message is shorter than its raw mail")?;
    let text = String::from_utf8(both.split_off(raw_len))
        .context("a stored message's text is not UTF-8")?;
    Ok((both, text))
}

/// The columns a row keeps its texts in, as [`KeptText::read`] takes them.
const KEPT_TEXT: &str = "text_body, packed, raw_len, visible_text, visible_len";

/// The texts of a `messages` row as kept: plain (before schema 19) or packed.
struct KeptText {
    text_body: String,
    packed: Option<(Vec<u8>, i64)>,
    visible_text: Option<String>,
    visible_len: Option<i64>,
}

impl KeptText {
    /// Reads the [`KEPT_TEXT`] columns starting at `first`.
    fn read(r: &rusqlite::Row, first: usize) -> rusqlite::Result<KeptText> {
        let packed: Option<Vec<u8>> = r.get(first + 1)?;
        let raw_len: Option<i64> = r.get(first + 2)?;
        Ok(KeptText {
            text_body: r.get(first)?,
            packed: packed.map(|p| (p, raw_len.unwrap_or(0))),
            visible_text: r.get(first + 3)?,
            visible_len: r.get(first + 4)?,
        })
    }

    /// The text body as kept.
    fn text(self) -> Result<String> {
        match self.packed {
            Some((packed, raw_len)) => Ok(unpack_received(&packed, raw_len)?.1),
            None => Ok(self.text_body),
        }
    }

    /// The text body and the visible text: as kept, or the text body's first
    /// `visible_len` bytes, or (stores from before schema 2) the text body.
    fn texts(mut self) -> Result<(String, String)> {
        let (visible_text, visible_len) = (self.visible_text.take(), self.visible_len);
        let text = self.text()?;
        let visible = match (visible_text, visible_len) {
            (Some(v), _) => v,
            (None, Some(n)) => usize::try_from(n)
                .ok()
                .and_then(|n| text.get(..n))
                .unwrap_or(&text)
                .to_string(),
            (None, None) => text.clone(),
        };
        Ok((text, visible))
    }
}

/// The text body of a stored message (row id), as kept: what a body that quotes it
/// was packed against (`mail_packing::QuotedRequest`).
pub fn text_of(conn: &Connection, id: i64) -> Result<Option<String>> {
    conn.prepare_cached(&format!("SELECT {KEPT_TEXT} FROM messages WHERE id = ?1"))?
        .query_row([id], |r| KeptText::read(r, 0))
        .optional()?
        .map(|kept| kept.text())
        .transpose()
}

/// The raw mail of a stored message (row id), byte-exact as received.
pub fn raw_of(conn: &Connection, id: i64) -> Result<Option<Vec<u8>>> {
    type Kept = (Vec<u8>, Option<Vec<u8>>, Option<i64>);
    let row: Option<Kept> = conn
        .prepare_cached("SELECT raw, packed, raw_len FROM messages WHERE id = ?1")?
        .query_row([id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .optional()?;
    match row {
        None => Ok(None),
        Some((_, Some(packed), raw_len)) => {
            Ok(Some(unpack_received(&packed, raw_len.unwrap_or(0))?.0))
        }
        Some((raw, None, _)) => Ok(Some(raw)),
    }
}

/// The Message-ID and References of the newest message on `ticket` from one of
/// `senders` (any case), so that a reply to them threads in their mail client.
pub fn last_from(
    conn: &Connection,
    ticket: i64,
    senders: &[&str],
) -> Result<Option<(String, Vec<String>)>> {
    let mut stmt = conn.prepare_cached(
        "SELECT message_id, references_json, from_address FROM messages
         WHERE ticket_id = ?1 AND message_id IS NOT NULL ORDER BY id DESC",
    )?;
    let mut rows = stmt.query([ticket])?;
    while let Some(r) = rows.next()? {
        let from: Option<String> = r.get(2)?;
        if from.is_some_and(|f| senders.iter().any(|s| s.eq_ignore_ascii_case(&f))) {
            let id: String = r.get(0)?;
            let refs: String = r.get(1)?;
            return Ok(Some((id, serde_json::from_str(&refs).unwrap_or_default())));
        }
    }
    Ok(None)
}

/// Serialises a field for a JSON column; the types stored here cannot fail to serialise.
fn json<T: Serialize>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "null".into())
}

/// The ticket of the first of `ids` that we have seen or sent, in the order given.
pub fn ticket_for_ids(conn: &Connection, ids: &[&str]) -> Result<Option<i64>> {
    let mut stmt =
        conn.prepare_cached("SELECT ticket_id FROM message_ids WHERE message_id = ?1")?;
    for id in ids {
        if let Some(t) = stmt.query_row([id], |r| r.get(0)).optional()? {
            return Ok(Some(t));
        }
    }
    Ok(None)
}

/// Records that `message_id` belongs to `ticket` (first record wins).
pub fn record_id(conn: &Connection, message_id: &str, ticket: i64, outgoing: bool) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO message_ids (message_id, ticket_id, outgoing) VALUES (?1, ?2, ?3)
         ON CONFLICT (message_id) DO NOTHING",
    )?
    .execute(params![message_id, ticket, outgoing])?;
    Ok(())
}

pub fn list_for_ticket(conn: &Connection, ticket: i64) -> Result<Vec<MessageRow>> {
    let mut stmt = conn.prepare(&format!(
        "SELECT id, message_id, kind, automatic, from_address, from_name, subject,
                attachments_json, received_at, coalesce(raw_len, length(raw)), {KEPT_TEXT}
         FROM messages WHERE ticket_id = ?1 ORDER BY id"
    ))?;
    let rows = stmt
        .query_map([ticket], |r| {
            let attachments: String = r.get(7)?;
            let row = MessageRow {
                id: r.get(0)?,
                message_id: r.get(1)?,
                kind: r.get(2)?,
                automatic: r.get(3)?,
                from_address: r.get(4)?,
                from_name: r.get(5)?,
                subject: r.get(6)?,
                text_body: String::new(),
                attachments: serde_json::from_str(&attachments).unwrap_or(serde_json::Value::Null),
                received_at: r.get(8)?,
                size: r.get(9)?,
                visible_text: None,
            };
            Ok((row, KeptText::read(r, 10)?))
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    rows.into_iter()
        .map(|(mut row, kept)| {
            let (text, visible) = kept.texts()?;
            row.text_body = text;
            row.visible_text = Some(visible);
            Ok(row)
        })
        .collect()
}

/// Counts of stored messages: (all, with a ticket).
pub fn count(conn: &Connection) -> Result<i64> {
    Ok(conn.query_row("SELECT count(*) FROM messages", [], |r| r.get(0))?)
}

/// Keeps mail that could not be parsed, once per content.
pub fn quarantine(
    conn: &Connection,
    source: &str,
    content_hash: &str,
    reason: &str,
    raw: &[u8],
    at: i64,
) -> Result<bool> {
    let n = conn
        .prepare_cached(
            "INSERT INTO quarantine (source, content_hash, reason, raw, received_at) VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (content_hash) DO NOTHING",
        )?
        .execute(params![source, content_hash, reason, raw, at])?;
    Ok(n == 1)
}

pub fn quarantine_count(conn: &Connection) -> Result<i64> {
    Ok(conn.query_row("SELECT count(*) FROM quarantine", [], |r| r.get(0))?)
}

/// Messages `ticket` received at or after `since` (loop guard).
pub fn count_for_ticket_since(conn: &Connection, ticket: i64, since: i64) -> Result<i64> {
    Ok(conn
        .prepare_cached("SELECT count(*) FROM messages WHERE ticket_id = ?1 AND received_at >= ?2")?
        .query_row(params![ticket, since], |r| r.get(0))?)
}

/// How many messages of `kind` from `from` (exactly as stored) were kept without a
/// ticket since `since`: a range of the `messages_unfiled_from` index.
pub fn unfiled_from_since(conn: &Connection, from: &str, kind: &str, since: i64) -> Result<i64> {
    Ok(conn
        .prepare_cached(UNFILED_FROM_SINCE)?
        .query_row(params![from, since, kind], |r| r.get(0))?)
}

const UNFILED_FROM_SINCE: &str = "SELECT count(*) FROM messages
     WHERE ticket_id IS NULL AND from_address = ?1 AND received_at >= ?2 AND kind = ?3";

/// The agent replies on `ticket` since its requester's (or a participant's) latest
/// message, newest first, at most `limit`: (author address, when, text with quotes
/// trimmed). For the collision guard, which skips those that relayed nothing.
pub fn agent_replies_since_requester(
    conn: &Connection,
    ticket: i64,
    limit: usize,
) -> Result<Vec<(String, i64, String)>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT coalesce(from_address, ''), received_at, {KEPT_TEXT}
         FROM messages
         WHERE ticket_id = ?1 AND kind = 'agent_reply'
           AND id > coalesce((SELECT max(id) FROM messages
                              WHERE ticket_id = ?1 AND kind IN ('request', 'reply')), 0)
         ORDER BY id DESC LIMIT ?2"
    ))?;
    let rows = stmt
        .query_map(
            params![ticket, i64::try_from(limit).unwrap_or(i64::MAX)],
            |r| Ok((r.get(0)?, r.get(1)?, KeptText::read(r, 2)?)),
        )?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    rows.into_iter()
        .map(|(from, at, kept)| Ok((from, at, kept.texts()?.1)))
        .collect()
}

/// The latest reply of `author` on `ticket` held by the collision guard: (row, text
/// with quotes trimmed).
pub fn latest_held_reply(
    conn: &Connection,
    ticket: i64,
    author: &str,
) -> Result<Option<(i64, String)>> {
    let found: Option<(i64, KeptText)> = conn
        .prepare_cached(&format!(
            "SELECT id, {KEPT_TEXT} FROM messages
             WHERE ticket_id = ?1 AND kind = 'held_reply' AND lower(from_address) = lower(?2)
             ORDER BY id DESC LIMIT 1"
        ))?
        .query_row(params![ticket, author], |r| {
            Ok((r.get(0)?, KeptText::read(r, 1)?))
        })
        .optional()?;
    found
        .map(|(id, kept)| Ok((id, kept.texts()?.1)))
        .transpose()
}

/// Records what a stored message turned out to be (a held reply, once sent).
pub fn set_kind(conn: &Connection, id: i64, kind: &str) -> Result<()> {
    conn.prepare_cached("UPDATE messages SET kind = ?2 WHERE id = ?1")?
        .execute(params![id, kind])?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unfiled_mail_from_a_sender_is_counted_by_an_index_range() {
        let conn = crate::store::migrated_in_memory();
        let sql = UNFILED_FROM_SINCE
            .replace("?1", "'a@x.test'")
            .replace("?2", "0")
            .replace("?3", "'unverified'");
        let plan = crate::store::query_plan(&conn, &sql);
        assert!(plan.contains("messages_unfiled_from"), "{plan}");
        assert!(plan.contains("from_address=? AND received_at>?"), "{plan}");
        assert_eq!(
            unfiled_from_since(&conn, "a@x.test", "unverified", 0).expect("count"),
            0
        );
    }

    #[test]
    fn a_message_keeps_its_raw_bytes_and_its_text_once() {
        let conn = crate::store::migrated_in_memory();
        conn.execute_batch(
            "INSERT INTO tickets (id, status, priority, requester, subject, created_at, updated_at)
             VALUES (1, 'open', 'P3', 'a@x.test', 's', 1, 1);",
        )
        .unwrap();
        let raw = b"From: A <a@x.test>\r\nSubject: VPN\r\nMessage-ID: <m1@x.test>\r\nContent-Type: multipart/alternative; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nThe VPN drops.\r\n--b\r\nContent-Type: text/html\r\n\r\n<p>The VPN drops.</p>\r\n--b--\r\n";
        let msg = crate::inbound::parse(raw.to_vec()).unwrap();
        assert!(msg.html_body.is_some());
        let new = |identity, visible_text| NewMessage {
            msg: &msg,
            identity,
            ticket: Some(1),
            kind: "request",
            automatic: None,
            visible_text,
            at: 5,
        };
        insert(&conn, &new("m1@x.test", &msg.text_body)).unwrap();
        insert(&conn, &new("m2@x.test", "The VPN")).unwrap();
        let kept: Vec<(i64, Option<String>, Option<String>, i64)> = conn
            .prepare("SELECT id, html_body, visible_text, length(packed) FROM messages ORDER BY id")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        for k in &kept {
            assert_eq!(raw_of(&conn, k.0).unwrap().unwrap(), raw.to_vec());
            assert!(k.1.is_none());
            // Both visible texts begin the text body: kept as lengths.
            assert!(k.2.is_none());
            // Raw mail and text in one frame, smaller than the raw mail alone.
            assert!((k.3 as usize) < raw.len(), "{} vs {}", k.3, raw.len());
        }
        assert_eq!(raw_of(&conn, 99).unwrap(), None);
        insert(&conn, &new("m3@x.test", "Not the text body")).unwrap();
        // Read back, the visible text is there either way.
        let rows = list_for_ticket(&conn, 1).unwrap();
        assert_eq!(
            rows[0].visible_text.as_deref(),
            Some(msg.text_body.as_str())
        );
        assert_eq!(rows[1].visible_text.as_deref(), Some("The VPN"));
        assert_eq!(rows[2].visible_text.as_deref(), Some("Not the text body"));
        assert!(rows.iter().all(|r| r.text_body == msg.text_body));
        assert!(rows.iter().all(|r| r.size == raw.len() as i64));
        // A store from before schema 2 (no visible text at all) shows the text body.
        conn.execute("UPDATE messages SET visible_len = NULL WHERE id = 2", [])
            .unwrap();
        let rows = list_for_ticket(&conn, 1).unwrap();
        assert_eq!(
            rows[1].visible_text.as_deref(),
            Some(msg.text_body.as_str())
        );
    }

    #[test]
    fn rows_from_before_schema_19_read_as_they_were_kept() {
        let mut conn = rusqlite::Connection::open_in_memory().unwrap();
        crate::store::schema::migrations()
            .to_version(&mut conn, 18)
            .unwrap();
        conn.execute_batch(
            "INSERT INTO tickets (id, status, priority, requester, subject, created_at, updated_at)
             VALUES (1, 'open', 'P3', 'a@x.test', 's', 1, 1);
             INSERT INTO messages (ticket_id, identity, message_id, content_hash, kind,
                 from_address, to_json, cc_json, subject, references_json, text_body,
                 attachments_json, problems_json, raw, received_at, visible_len)
             VALUES (1, 'm1', 'm1', 'h', 'agent_reply', 'ann@x.test', '[]', '[]', 's', '[]',
                 'Done.\n> quoted', '[]', '[]', X'0D0A416263', 5, 5);",
        )
        .unwrap();
        crate::store::schema::migrations()
            .to_latest(&mut conn)
            .unwrap();
        assert_eq!(raw_of(&conn, 1).unwrap().unwrap(), b"\r\nAbc".to_vec());
        let rows = list_for_ticket(&conn, 1).unwrap();
        assert_eq!(rows[0].text_body, "Done.\n> quoted");
        assert_eq!(rows[0].visible_text.as_deref(), Some("Done."));
        assert_eq!(rows[0].size, 5);
        let replies = agent_replies_since_requester(&conn, 1, 5).unwrap();
        assert_eq!(
            replies,
            vec![("ann@x.test".to_string(), 5, "Done.".to_string())]
        );
    }
}
