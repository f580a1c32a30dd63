//! Queries on attachments: their bytes, stored once per SHA-256 (`file_blobs`), the
//! files each message brought (`message_files`, numbered from 1 in the message), and
//! the files each outbox mail carries (`outbox_files`: where its placeholder is, which
//! bytes fill it at send time). Which files a mail carries is the desk's decision
//! (`desk::relay_files`); building the MIME is notify's.

use anyhow::{Context, Result};
use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;

use crate::inbound::AttachmentInfo;

/// A stored file as people see it. `n` numbers the ticket's files from 1, in the
/// order their messages arrived: `ticketpost attachments get TP-n N`.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct FileRow {
    pub n: i64,
    pub message_row: i64,
    /// The file's place in its message, from 1.
    pub position: i64,
    pub sha256: String,
    pub name: Option<String>,
    pub content_type: String,
    pub size: i64,
    pub content_id: Option<String>,
    pub inline: bool,
}

/// Stores a message's files: each content once, then the message's links to them.
/// Part of the message's transaction.
pub fn store_for_message(
    conn: &Connection,
    message_row: i64,
    files: &[AttachmentInfo],
) -> Result<()> {
    let mut blob = conn.prepare_cached(
        "INSERT INTO file_blobs (sha256, size, bytes) VALUES (?1, ?2, ?3)
         ON CONFLICT (sha256) DO NOTHING",
    )?;
    let mut link = conn.prepare_cached(
        "INSERT INTO message_files (message_row, position, sha256, name, content_type, size,
             content_id, inline)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )?;
    for (i, f) in files.iter().enumerate() {
        blob.execute(params![f.sha256, f.bytes.len() as i64, &f.bytes[..]])
            .with_context(|| format!("storing attachment {}", f.sha256))?;
        link.execute(params![
            message_row,
            i as i64 + 1,
            f.sha256,
            f.name,
            f.content_type,
            f.size as i64,
            f.content_id,
            f.inline
        ])?;
    }
    Ok(())
}

/// Every file of a ticket's messages, numbered.
pub fn list_for_ticket(conn: &Connection, ticket: i64) -> Result<Vec<FileRow>> {
    let mut stmt = conn.prepare_cached(
        "SELECT f.message_row, f.position, f.sha256, f.name, f.content_type, f.size,
                f.content_id, f.inline
         FROM messages m JOIN message_files f ON f.message_row = m.id
         WHERE m.ticket_id = ?1 ORDER BY m.id, f.position",
    )?;
    let rows = stmt.query_map([ticket], |r| {
        Ok(FileRow {
            n: 0,
            message_row: r.get(0)?,
            position: r.get(1)?,
            sha256: r.get(2)?,
            name: r.get(3)?,
            content_type: r.get(4)?,
            size: r.get(5)?,
            content_id: r.get(6)?,
            inline: r.get(7)?,
        })
    })?;
    let mut files = rows.collect::<rusqlite::Result<Vec<_>>>()?;
    for (i, f) in files.iter_mut().enumerate() {
        f.n = i as i64 + 1;
    }
    Ok(files)
}

/// How many files a ticket's messages brought.
pub fn count_for_ticket(conn: &Connection, ticket: i64) -> Result<i64> {
    Ok(conn
        .prepare_cached(
            "SELECT count(*) FROM messages m JOIN message_files f ON f.message_row = m.id
             WHERE m.ticket_id = ?1",
        )?
        .query_row([ticket], |r| r.get(0))?)
}

/// A file's bytes.
pub fn bytes(conn: &Connection, sha256: &str) -> Result<Option<Vec<u8>>> {
    Ok(conn
        .prepare_cached("SELECT bytes FROM file_blobs WHERE sha256 = ?1")?
        .query_row([sha256], |r| r.get(0))
        .optional()?)
}

/// Records which stored files an outbox mail carries, and where: (placeholder, sha256).
pub fn link_outbox(conn: &Connection, outbox_id: i64, files: &[(String, String)]) -> Result<()> {
    let mut stmt = conn.prepare_cached(
        "INSERT INTO outbox_files (outbox_id, position, placeholder, sha256) VALUES (?1, ?2, ?3, ?4)",
    )?;
    for (i, (placeholder, sha256)) in files.iter().enumerate() {
        stmt.execute(params![outbox_id, i as i64 + 1, placeholder, sha256])?;
    }
    Ok(())
}

/// The bytes that fill an outbox mail's placeholders: (placeholder, bytes).
pub fn outbox_fills(conn: &Connection, outbox_id: i64) -> Result<Vec<(String, Vec<u8>)>> {
    let mut stmt = conn.prepare_cached(
        "SELECT o.placeholder, b.bytes FROM outbox_files o
         JOIN file_blobs b ON b.sha256 = o.sha256
         WHERE o.outbox_id = ?1 ORDER BY o.position",
    )?;
    let rows = stmt.query_map([outbox_id], |r| Ok((r.get(0)?, r.get(1)?)))?;
    Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(conn: &Connection, sql: &str) -> String {
        let mut stmt = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
        let rows = stmt
            .query_map([1], |r| r.get::<_, String>(3))
            .unwrap()
            .collect::<rusqlite::Result<Vec<_>>>()
            .unwrap();
        rows.join("\n")
    }

    #[test]
    fn per_message_and_per_mail_lookups_are_index_range_scans() {
        let conn = crate::store::migrated_in_memory();
        let fills = plan(
            &conn,
            "SELECT o.placeholder, b.bytes FROM outbox_files o
             JOIN file_blobs b ON b.sha256 = o.sha256 WHERE o.outbox_id = ?1 ORDER BY o.position",
        );
        assert!(
            fills.contains("SEARCH o USING PRIMARY KEY (outbox_id=?)"),
            "{fills}"
        );
        assert!(
            fills.contains("SEARCH b USING PRIMARY KEY (sha256=?)"),
            "{fills}"
        );
        assert!(!fills.contains("SCAN"), "{fills}");
        let listed = plan(
            &conn,
            "SELECT f.message_row FROM messages m JOIN message_files f ON f.message_row = m.id
             WHERE m.ticket_id = ?1 ORDER BY m.id, f.position",
        );
        assert!(
            listed.contains("SEARCH m USING COVERING INDEX messages_ticket (ticket_id=?)"),
            "{listed}"
        );
        assert!(
            listed.contains("SEARCH f USING PRIMARY KEY (message_row=?)"),
            "{listed}"
        );
        assert!(!listed.contains("SCAN"), "{listed}");
        let counted = plan(
            &conn,
            "SELECT count(*) FROM messages m JOIN message_files f ON f.message_row = m.id
             WHERE m.ticket_id = ?1",
        );
        assert!(
            counted.contains("messages_ticket (ticket_id=?)"),
            "{counted}"
        );
        assert!(
            counted.contains("SEARCH f USING PRIMARY KEY (message_row=?)"),
            "{counted}"
        );
        assert!(!counted.contains("SCAN"), "{counted}");
    }

    #[test]
    fn a_file_sent_twice_is_stored_once() {
        let conn = crate::store::migrated_in_memory();
        conn.execute_batch(
            "INSERT INTO tickets (id, status, priority, requester, subject, created_at, updated_at)
             VALUES (1, 'open', 'P3', 'a@x.test', 's', 1, 1);
             INSERT INTO messages (id, ticket_id, identity, content_hash, kind, to_json, cc_json,
                 subject, references_json, text_body, attachments_json, problems_json, raw, received_at)
             VALUES (1, 1, 'a', 'h', 'request', '[]', '[]', 's', '[]', '', '[]', '[]', x'', 1),
                    (2, 1, 'b', 'h', 'reply', '[]', '[]', 's', '[]', '', '[]', '[]', x'', 2);",
        )
        .unwrap();
        let file = AttachmentInfo {
            name: Some("a.png".into()),
            content_type: "image/png".into(),
            size: 3,
            sha256: "abc".into(),
            content_id: None,
            inline: false,
            bytes: b"png".as_slice().into(),
        };
        store_for_message(&conn, 1, std::slice::from_ref(&file)).unwrap();
        store_for_message(&conn, 2, &[file.clone(), file]).unwrap();
        let blobs: i64 = conn
            .query_row("SELECT count(*) FROM file_blobs", [], |r| r.get(0))
            .unwrap();
        assert_eq!(blobs, 1);
        let listed = list_for_ticket(&conn, 1).unwrap();
        let ns: Vec<(i64, i64, i64)> = listed
            .iter()
            .map(|f| (f.n, f.message_row, f.position))
            .collect();
        assert_eq!(ns, vec![(1, 1, 1), (2, 2, 1), (3, 2, 2)]);
        assert_eq!(count_for_ticket(&conn, 1).unwrap(), 3);
        assert_eq!(
            bytes(&conn, "abc").unwrap().as_deref(),
            Some(b"png".as_slice())
        );
    }
}
