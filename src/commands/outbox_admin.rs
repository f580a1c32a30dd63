//! The `outbox list|retry|purge` commands: looking at the queue of outgoing mail,
//! putting failed mail back in it, and dropping the bytes of old sent mail.
//!
//! They run beside a running service: each is one short write transaction, and a
//! retried mail is picked up by the service's sender within its idle limit (5 min).

use std::io::Write;

use anyhow::{Result, anyhow};

use crate::cli::OutboxCommand;
use crate::config::Config;
use crate::store;

/// Runs one `outbox` command; `now` is when a retry or purge happens.
pub fn run(cfg: &Config, command: OutboxCommand, now: i64, out: &mut impl Write) -> Result<()> {
    let said = match command {
        OutboxCommand::List { state, json } => return list(cfg, state.as_deref(), json, out),
        OutboxCommand::Retry { id, .. } => retry(cfg, id.as_deref(), now)?,
        OutboxCommand::Purge { older_than_days } => purge(cfg, older_than_days, now)?,
    };
    writeln!(out, "{said}")?;
    Ok(())
}

/// Lists the outbox, newest last; `state` keeps only rows in that state.
pub fn list(cfg: &Config, state: Option<&str>, json: bool, out: &mut impl Write) -> Result<()> {
    if let Some(s) = state
        && !["queued", "sending", "sent", "failed"].contains(&s)
    {
        return Err(anyhow!(
            "--state {s:?}: expected queued, sending, sent or failed"
        ));
    }
    let conn = store::open_reader(&cfg.store.path)?;
    let rows: Vec<_> = store::outbox::list(&conn, None)?
        .into_iter()
        .filter(|r| state.is_none_or(|s| r.state == s))
        .collect();
    if json {
        serde_json::to_writer_pretty(&mut *out, &rows)?;
        writeln!(out)?;
        return Ok(());
    }
    let counts = store::outbox::counts(&conn)?;
    writeln!(
        out,
        "outbox: {} queued, {} sending, {} sent, {} failed",
        counts.queued, counts.sending, counts.sent, counts.failed
    )?;
    for r in &rows {
        let token = r
            .ticket_id
            .map(|t| crate::desk::threading::token(&cfg.desk.token_prefix, t))
            .unwrap_or_else(|| "-".into());
        writeln!(
            out,
            "M-{:<6} {:<8} {:<7} {:<22} {:<8} to {}{}",
            r.id,
            r.state,
            token,
            r.kind,
            format!("{} try", r.attempts),
            r.recipients.join(", "),
            r.last_error
                .as_deref()
                .map(|e| format!("  ({e})"))
                .unwrap_or_default()
        )?;
    }
    Ok(())
}

/// `M-12` or `12`.
fn parse_id(text: &str) -> Result<i64> {
    super::parse_prefixed_id(text, "M")
        .ok_or_else(|| anyhow!("{text:?} is not an outbox id (expected e.g. M-3)"))
}

/// Puts failed mail back in the queue: one (`id`) or all (`None`). Returns a sentence.
pub fn retry(cfg: &Config, id: Option<&str>, now: i64) -> Result<String> {
    let id = id.map(parse_id).transpose()?;
    let conn = store::open_and_migrate(&cfg.store.path, cfg.store.synchronous_full)?;
    let n = store::outbox::requeue_failed(&conn, id, now)?;
    match (id, n) {
        (Some(id), 0) => match store::outbox::state_of(&conn, id)? {
            None => Err(anyhow!("no outbox mail M-{id}")),
            Some(state) => Err(anyhow!("M-{id} is {state}, not failed: nothing to retry")),
        },
        (Some(id), _) => Ok(format!("M-{id} queued again")),
        (None, n) => Ok(format!("{n} failed mail(s) queued again")),
    }
}

/// Drops the bytes of mail sent more than `days` days before `now`.
pub fn purge(cfg: &Config, days: u32, now: i64) -> Result<String> {
    let conn = store::open_and_migrate(&cfg.store.path, cfg.store.synchronous_full)?;
    let before = now - i64::from(days) * 86_400;
    let (rows, bytes) = store::outbox::purge_sent(&conn, before)?;
    Ok(format!(
        "dropped the bytes of {rows} mail(s) sent more than {days} day(s) ago ({:.1} MB); their records stay",
        bytes as f64 / 1e6
    ))
}
