//! The change plan in `tickets show` (`change` in `--json`): its sections, window,
//! state with author, reviewer and who decided, and its history (who moved it, when).
//! The plan's rules are `desk::change_review`'s; its rows `store::changes`'.

use std::io::Write;

use anyhow::Result;
use chrono_tz::Tz;
use serde::Serialize;

use crate::clock::format_time;
use crate::desk::change_review::format_window;
use crate::store;
use crate::terminal::{TextLayout, escape_for_terminal};

/// Text from mail on one line, safe for a terminal.
fn one_line(text: &str) -> std::borrow::Cow<'_, str> {
    escape_for_terminal(text, TextLayout::OneLine)
}

/// One state the plan took.
#[derive(Debug, Serialize)]
pub struct ChangeStepJson {
    pub state: String,
    pub by: String,
    pub at: String,
    pub detail: String,
}

/// A ticket's change plan, for `tickets show`.
#[derive(Debug, Serialize)]
pub struct ChangeJson {
    /// planned | in_review | approved | rejected | done | rolled_back
    pub state: &'static str,
    pub author: String,
    /// The agent asked to review.
    pub reviewer: Option<String>,
    /// Who approved or rejected it.
    pub decided_by: Option<String>,
    pub change: String,
    pub risk: String,
    pub backup: String,
    pub rollback: String,
    /// RFC 3339, UTC.
    pub window_start: String,
    pub window_end: String,
    /// The window in the desk's zone, as mail shows it.
    pub window: String,
    pub outcome: Option<String>,
    pub history: Vec<ChangeStepJson>,
}

/// The ticket's plan, if it has one.
pub fn change_json(conn: &rusqlite::Connection, ticket: i64, tz: Tz) -> Result<Option<ChangeJson>> {
    let Some(p) = store::changes::get(conn, ticket)? else {
        return Ok(None);
    };
    let history = store::changes::history(conn, ticket)?
        .into_iter()
        .map(|e| ChangeStepJson {
            state: e.state,
            by: e.actor,
            at: format_time(e.at),
            detail: e.detail,
        })
        .collect();
    let s = &p.sections;
    Ok(Some(ChangeJson {
        state: p.state.as_str(),
        author: p.author.clone(),
        reviewer: p.reviewer.clone(),
        decided_by: p.decided_by.clone(),
        change: s.change.clone(),
        risk: s.risk.clone(),
        backup: s.backup.clone(),
        rollback: s.rollback.clone(),
        window_start: format_time(s.window_start),
        window_end: format_time(s.window_end),
        window: format_window(s.window_start, s.window_end, tz),
        outcome: p.outcome.clone(),
        history,
    }))
}

/// The plan in the text form of `tickets show`.
pub fn write_change_text(change: &ChangeJson, out: &mut impl Write) -> Result<()> {
    writeln!(
        out,
        "Change plan: {} (by {})",
        change.state,
        one_line(&change.author)
    )?;
    for (label, text) in [
        ("change", &change.change),
        ("risk", &change.risk),
        ("backup", &change.backup),
        ("rollback", &change.rollback),
        ("window", &change.window),
    ] {
        writeln!(out, "  {label:<9} {}", one_line(text))?;
    }
    if let Some(outcome) = &change.outcome {
        writeln!(out, "  {:<9} {}", "outcome", one_line(outcome))?;
    }
    for h in &change.history {
        writeln!(
            out,
            "  {} {:<11} by {}{}",
            h.at,
            h.state,
            one_line(&h.by),
            if h.detail.is_empty() {
                String::new()
            } else {
                format!(": {}", one_line(&h.detail))
            }
        )?;
    }
    Ok(())
}
