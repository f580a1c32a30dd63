//! The `quarantine` commands: mail that could not be stored, kept raw with the reason,
//! listed, shown, and retried (after a fix, or a config change) through the same
//! ingest path as the mailbox's mail. A retried message that stores leaves the
//! quarantine; one that fails again stays, with the new reason.

use std::io::Write;
use std::sync::Arc;

use anyhow::{Result, anyhow};
use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;

use crate::cli::QuarantineCommand;
use crate::clock::{Clock, SystemClock, format_time};
use crate::config::Config;
use crate::ingest::{self, Faults};
use crate::store::{self, Writer};

/// Characters of the raw message `quarantine show` prints (the rest is counted).
const SHOW_RAW_CHARS: usize = 4_000;

/// Runs one `quarantine` command.
pub fn run(cfg: &Config, command: QuarantineCommand, out: &mut impl Write) -> Result<()> {
    match command {
        QuarantineCommand::List { json } => list(cfg, json, out),
        QuarantineCommand::Show { id, json } => show(cfg, &id, json, out),
        QuarantineCommand::Retry { id } => {
            let said = super::runtime()?.block_on(retry(cfg, &id, Arc::new(SystemClock)))?;
            writeln!(out, "{said}")?;
            Ok(())
        }
    }
}

#[derive(Debug, Serialize)]
pub struct QuarantineRow {
    pub id: i64,
    pub source: String,
    pub sha256: String,
    pub reason: String,
    pub size: i64,
    pub received_at: String,
}

fn rows(conn: &Connection, id: Option<i64>) -> Result<Vec<(QuarantineRow, Vec<u8>)>> {
    let mut stmt = conn.prepare(
        "SELECT id, source, content_hash, reason, length(raw), received_at, raw FROM quarantine
         WHERE ?1 IS NULL OR id = ?1 ORDER BY id",
    )?;
    let list = stmt
        .query_map(params![id], |r| {
            Ok((
                QuarantineRow {
                    id: r.get(0)?,
                    source: r.get(1)?,
                    sha256: r.get(2)?,
                    reason: r.get(3)?,
                    size: r.get(4)?,
                    received_at: format_time(r.get(5)?),
                },
                if id.is_some() { r.get(6)? } else { Vec::new() },
            ))
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(list)
}

pub fn list(cfg: &Config, json: bool, out: &mut impl Write) -> Result<()> {
    let conn = store::open_reader(&cfg.store.path)?;
    let list: Vec<QuarantineRow> = rows(&conn, None)?.into_iter().map(|(r, _)| r).collect();
    if json {
        serde_json::to_writer_pretty(&mut *out, &list)?;
        writeln!(out)?;
        return Ok(());
    }
    if list.is_empty() {
        writeln!(out, "the quarantine is empty")?;
    }
    for q in &list {
        writeln!(
            out,
            "Q-{:<5} {}  {:>9} B  {}  {}",
            q.id, q.received_at, q.size, q.source, q.reason
        )?;
    }
    Ok(())
}

fn parse_id(text: &str) -> Result<i64> {
    super::parse_prefixed_id(text, "Q")
        .ok_or_else(|| anyhow!("{text:?} is not a quarantine id (expected e.g. Q-3)"))
}

pub fn show(cfg: &Config, id_text: &str, json: bool, out: &mut impl Write) -> Result<()> {
    let id = parse_id(id_text)?;
    let conn = store::open_reader(&cfg.store.path)?;
    let (row, raw) = rows(&conn, Some(id))?
        .pop()
        .ok_or_else(|| anyhow!("no quarantined message Q-{id}"))?;
    let text = String::from_utf8_lossy(&raw);
    if json {
        #[derive(Serialize)]
        struct Shown<'a> {
            #[serde(flatten)]
            row: &'a QuarantineRow,
            raw: &'a str,
        }
        serde_json::to_writer_pretty(
            &mut *out,
            &Shown {
                row: &row,
                raw: &text,
            },
        )?;
        writeln!(out)?;
        return Ok(());
    }
    writeln!(
        out,
        "Q-{}  from {}, {}",
        row.id, row.source, row.received_at
    )?;
    writeln!(out, "  reason: {}", row.reason)?;
    writeln!(out, "  {} bytes, sha256 {}", row.size, row.sha256)?;
    writeln!(out)?;
    let shown: String = text.chars().take(SHOW_RAW_CHARS).collect();
    writeln!(out, "{shown}")?;
    let rest = text.chars().count().saturating_sub(SHOW_RAW_CHARS);
    if rest > 0 {
        writeln!(out, "[… {rest} more characters; --json has them all]")?;
    }
    Ok(())
}

/// Retries one quarantined message; returns what happened, in a sentence.
pub async fn retry(cfg: &Config, id_text: &str, clock: Arc<dyn Clock>) -> Result<String> {
    let id = parse_id(id_text)?;
    let writer = Writer::start(&cfg.store)?;
    let cx = Arc::new(
        crate::service::ingest_context(cfg, &writer, "quarantine".into(), Faults::default())
            .await?,
    );
    let found: Option<Vec<u8>> = writer
        .call(move |c| {
            Ok(
                c.query_row("SELECT raw FROM quarantine WHERE id = ?1", [id], |r| {
                    r.get(0)
                })
                .optional()?,
            )
        })
        .await?;
    let raw = found.ok_or_else(|| anyhow!("no quarantined message Q-{id}"))?;
    let parse_cx = cx.clone();
    let parsed =
        crate::parse_thread::run(move || ingest::parse_batch(vec![raw], &parse_cx)).await?;
    let now = clock.now();
    let summary = writer
        .call(move |c| {
            // Failing again quarantines it under the same hash, which keeps the row
            // (and its raw bytes) as it is; only a stored message leaves.
            let summary = ingest::apply_batch(c, &cx, parsed, None, now)?;
            if summary.quarantined == 0 {
                c.execute("DELETE FROM quarantine WHERE id = ?1", [id])?;
            }
            ingest::index_waiting_tickets(c)?;
            Ok(summary)
        })
        .await?;
    Ok(if summary.quarantined > 0 {
        format!("Q-{id} failed again and is back in the quarantine (see `quarantine list`)")
    } else if summary.duplicates > 0 {
        format!("Q-{id} was already stored; removed from the quarantine")
    } else {
        format!(
            "Q-{id} stored: {} new ticket(s), {} follow-up(s); {} mail(s) queued (they go out with the next run)",
            summary.new_tickets, summary.follow_ups, summary.mails
        )
    })
}
