//! How far each mailbox source has been committed.

use anyhow::Result;
use rusqlite::{Connection, OptionalExtension, params};

use crate::mailbox::Checkpoint;

pub fn load(conn: &Connection, source: &str) -> Result<Option<Checkpoint>> {
    Ok(conn
        .query_row(
            "SELECT uid_validity, last_uid FROM mailbox_state WHERE source = ?1",
            [source],
            |r| {
                Ok(Checkpoint {
                    uid_validity: r.get(0)?,
                    last_uid: r.get(1)?,
                })
            },
        )
        .optional()?)
}

/// Records progress; called in the same transaction as the batch it covers.
pub fn save(conn: &Connection, source: &str, c: Checkpoint, at: i64) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO mailbox_state (source, uid_validity, last_uid, updated_at) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (source) DO UPDATE SET uid_validity = excluded.uid_validity,
             last_uid = excluded.last_uid, updated_at = excluded.updated_at",
    )?
    .execute(params![source, c.uid_validity, c.last_uid, at])?;
    Ok(())
}
