//! The `kb` commands: list, show, search, add and approve knowledge-base entries from
//! the shell.
//! Entries written from resolved tickets and `/kb` mails live in the same table
//! (`store::kb`); this module only reads and writes it for people at a terminal.

use std::io::Write;

use anyhow::{Result, anyhow};
use serde::Serialize;

use crate::cli::KbCommand;
use crate::clock::format_time;
use crate::config::Config;
use crate::desk::threading::{parse_token, token};
use crate::store::{self, kb::KbEntry};

/// Matches `kb search` prints at most.
const SEARCH_LIMIT: usize = 20;

/// What `kb add` is given.
pub struct KbAddArgs {
    pub title: String,
    pub problem: String,
    pub cause: String,
    pub steps: String,
    pub solution: String,
    pub language: String,
    pub ticket: Option<String>,
}

/// Runs one `kb` command; `now` dates an added entry.
pub fn run(cfg: &Config, command: KbCommand, now: i64, out: &mut impl Write) -> Result<()> {
    match command {
        KbCommand::List { json } => kb_list(cfg, json, out),
        KbCommand::Show { id, json } => kb_show(cfg, &id, json, out),
        KbCommand::Search { query, json } => kb_search(cfg, &query, json, out),
        KbCommand::Add {
            title,
            problem,
            solution,
            cause,
            steps,
            language,
            ticket,
        } => {
            let args = KbAddArgs {
                title,
                problem,
                cause,
                steps,
                solution,
                language,
                ticket,
            };
            kb_add(cfg, &args, now, out)
        }
        KbCommand::Approve { id, by } => kb_approve(cfg, &id, &by, now, out),
    }
}

/// An entry's id as people write it: `KB-3` (or `3`).
pub fn kb_token(id: i64) -> String {
    format!("KB-{id}")
}

fn parse_kb_id(text: &str) -> Option<i64> {
    super::parse_prefixed_id(text, "KB")
}

#[derive(Serialize)]
struct EntryJson<'a> {
    id: String,
    ticket: Option<String>,
    title: &'a str,
    problem: &'a str,
    cause: &'a str,
    steps: &'a str,
    solution: &'a str,
    language: &'a str,
    author: &'a str,
    created_at: String,
    updated_at: String,
    lessons: &'a str,
    /// `draft` or `approved`: only approved entries are offered to requesters.
    state: &'a str,
    approved_by: Option<&'a str>,
    approved_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    score: Option<f64>,
}

fn entry_json<'a>(prefix: &str, e: &'a KbEntry, score: Option<f64>) -> EntryJson<'a> {
    EntryJson {
        id: kb_token(e.id),
        ticket: e.ticket_id.map(|t| token(prefix, t)),
        title: &e.title,
        problem: &e.problem,
        cause: &e.cause,
        steps: &e.steps,
        solution: &e.solution,
        language: &e.language,
        author: &e.author,
        created_at: format_time(e.created_at),
        updated_at: format_time(e.updated_at),
        lessons: &e.lessons,
        state: &e.state,
        approved_by: e.approved_by.as_deref(),
        approved_at: e.approved_at.map(format_time),
        score,
    }
}

fn summary_line(prefix: &str, e: &KbEntry) -> String {
    let from = e
        .ticket_id
        .map(|t| format!("  (from {})", token(prefix, t)))
        .unwrap_or_default();
    let draft = if e.is_approved() { "" } else { "  (draft)" };
    format!(
        "{:<7} {}  {}{from}{draft}",
        kb_token(e.id),
        e.language,
        e.title
    )
}

pub fn kb_list(cfg: &Config, json: bool, out: &mut impl Write) -> Result<()> {
    let conn = store::open_reader(&cfg.store.path)?;
    let entries = store::kb::list(&conn)?;
    let prefix = &cfg.desk.token_prefix;
    if json {
        let rows: Vec<_> = entries
            .iter()
            .map(|e| entry_json(prefix, e, None))
            .collect();
        serde_json::to_writer_pretty(&mut *out, &rows)?;
        writeln!(out)?;
        return Ok(());
    }
    if entries.is_empty() {
        writeln!(out, "no knowledge-base entries yet")?;
    }
    for e in &entries {
        writeln!(out, "{}", summary_line(prefix, e))?;
    }
    Ok(())
}

pub fn kb_show(cfg: &Config, id_text: &str, json: bool, out: &mut impl Write) -> Result<()> {
    let id = parse_kb_id(id_text)
        .ok_or_else(|| anyhow!("{id_text:?} is not a knowledge-base id (expected e.g. KB-3)"))?;
    let conn = store::open_reader(&cfg.store.path)?;
    let entry = store::kb::get(&conn, id)?.ok_or_else(|| anyhow!("no entry {}", kb_token(id)))?;
    let prefix = &cfg.desk.token_prefix;
    if json {
        serde_json::to_writer_pretty(&mut *out, &entry_json(prefix, &entry, None))?;
        writeln!(out)?;
        return Ok(());
    }
    writeln!(out, "{}  {}", kb_token(entry.id), entry.title)?;
    let from = entry
        .ticket_id
        .map(|t| format!(", from {}", token(prefix, t)))
        .unwrap_or_default();
    writeln!(
        out,
        "  language {}, by {}, written {}, updated {}{from}",
        entry.language,
        entry.author,
        format_time(entry.created_at),
        format_time(entry.updated_at)
    )?;
    match (&entry.approved_by, entry.approved_at) {
        (Some(by), Some(at)) if entry.is_approved() => {
            writeln!(out, "  approved by {by}, {}", format_time(at))?
        }
        _ => writeln!(
            out,
            "  {} (not offered to requesters until another agent approves it)",
            entry.state
        )?,
    }
    for (heading, text) in [
        ("Problem", &entry.problem),
        ("Cause", &entry.cause),
        ("Steps", &entry.steps),
        ("Solution", &entry.solution),
        ("Lessons", &entry.lessons),
    ] {
        if text.trim().is_empty() {
            continue;
        }
        writeln!(out, "\n{heading}:")?;
        for line in text.lines() {
            writeln!(out, "  {line}")?;
        }
    }
    Ok(())
}

pub fn kb_search(cfg: &Config, query: &str, json: bool, out: &mut impl Write) -> Result<()> {
    let conn = store::open_reader(&cfg.store.path)?;
    // Any entry sharing a term is shown, with its score; the configured threshold only
    // decides what requesters are offered.
    let matches = store::kb::search(&conn, query, 0.0, SEARCH_LIMIT)?;
    let prefix = &cfg.desk.token_prefix;
    if json {
        let rows: Vec<_> = matches
            .iter()
            .map(|m| entry_json(prefix, &m.entry, Some(m.score)))
            .collect();
        serde_json::to_writer_pretty(&mut *out, &rows)?;
        writeln!(out)?;
        return Ok(());
    }
    if matches.is_empty() {
        writeln!(out, "no entry matches")?;
    }
    let offered = cfg.kb.suggest_threshold;
    for m in &matches {
        let mark = if m.score >= offered { "*" } else { " " };
        writeln!(
            out,
            "{:.2}{mark} {}",
            m.score,
            summary_line(prefix, &m.entry)
        )?;
    }
    if matches.iter().any(|m| m.score >= offered) {
        writeln!(out, "(* = offered to requesters: score ≥ {offered:.2})")?;
    }
    Ok(())
}

pub fn kb_add(cfg: &Config, args: &KbAddArgs, now: i64, out: &mut impl Write) -> Result<()> {
    let language = args.language.trim().to_ascii_lowercase();
    if !matches!(language.as_str(), "en" | "zh") {
        return Err(anyhow!(
            "--language {:?} is not supported (en or zh)",
            args.language
        ));
    }
    for (name, value) in [
        ("--title", &args.title),
        ("--problem", &args.problem),
        ("--solution", &args.solution),
    ] {
        if value.trim().is_empty() {
            return Err(anyhow!("{name} must not be empty"));
        }
    }
    let prefix = &cfg.desk.token_prefix;
    let ticket_id = match &args.ticket {
        None => None,
        Some(t) => Some(parse_token(t, prefix).ok_or_else(|| {
            anyhow!("--ticket {t:?} is not a ticket token (expected e.g. {prefix}-42)")
        })?),
    };
    // A second process writing one row: SQLite's file lock (with the busy timeout)
    // orders it against a running service's writer.
    let conn = store::open_and_migrate(&cfg.store.path, false)?;
    if let Some(t) = ticket_id
        && store::tickets::get(&conn, t)?.is_none()
    {
        return Err(anyhow!("no ticket {}", token(prefix, t)));
    }
    let entry = store::kb::NewKbEntry {
        ticket_id,
        title: args.title.trim(),
        problem: args.problem.trim(),
        cause: args.cause.trim(),
        steps: args.steps.trim(),
        solution: args.solution.trim(),
        language: &language,
        author: "cli",
        at: now,
    };
    let id = match ticket_id {
        Some(_) => store::kb::upsert_for_ticket(&conn, &entry)?,
        None => store::kb::add(&conn, &entry)?,
    };
    writeln!(out, "{}", kb_token(id))?;
    Ok(())
}

/// `kb approve KB-n --by <agent>`: another agent than its author approves an entry.
pub fn kb_approve(
    cfg: &Config,
    id_text: &str,
    by: &str,
    now: i64,
    out: &mut impl Write,
) -> Result<()> {
    let id = parse_kb_id(id_text)
        .ok_or_else(|| anyhow!("{id_text:?} is not a knowledge-base id (expected e.g. KB-3)"))?;
    let by = by.trim().to_ascii_lowercase();
    if cfg.desk.agent(&by).is_none() {
        return Err(anyhow!(
            "--by {by:?} is not a configured agent: an entry is approved by an agent"
        ));
    }
    let conn = store::open_and_migrate(&cfg.store.path, false)?;
    let entry = store::kb::get(&conn, id)?.ok_or_else(|| anyhow!("no entry {}", kb_token(id)))?;
    if let Some(why) = crate::desk::kb_review::refusal(id, &entry.author, &by) {
        return Err(anyhow!("{why} ({by} is its author)"));
    }
    if entry.is_approved() {
        writeln!(
            out,
            "{} was approved already (by {})",
            kb_token(id),
            entry.approved_by.as_deref().unwrap_or("?")
        )?;
        return Ok(());
    }
    store::kb::approve(&conn, id, &by, now)?;
    writeln!(out, "{} approved by {by}", kb_token(id))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kb_ids_parse_with_or_without_prefix() {
        assert_eq!(parse_kb_id("KB-3"), Some(3));
        assert_eq!(parse_kb_id(" 12 "), Some(12));
        assert_eq!(parse_kb_id("kb-7"), Some(7));
        assert_eq!(parse_kb_id("TP-3"), None);
        assert_eq!(parse_kb_id("0"), None);
        assert_eq!(parse_kb_id(""), None);
    }
}
