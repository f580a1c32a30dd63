//! `ticketpost triage review [--json] [--limit N]`: where agents' `/priority` overrides
//! disagreed with the rules, newest first, with the rules' impact, urgency and deciding
//! words, so the severity rules can be improved from real traffic. The rows are kept by
//! `store::triage_review`; this module prints them, for people or as JSON.

use std::io::Write;

use anyhow::Result;
use serde::Serialize;

use crate::cli::TriageCommand;
use crate::clock::format_time;
use crate::config::Config;
use crate::desk::threading::token;
use crate::store;

#[derive(Serialize)]
struct DisagreementJson {
    token: String,
    subject: String,
    rules_priority: String,
    impact: String,
    urgency: String,
    words: String,
    agent_priority: String,
    agent: String,
    at: String,
}

/// Runs `triage review`.
pub fn run(cfg: &Config, command: TriageCommand, now: i64, out: &mut impl Write) -> Result<()> {
    let TriageCommand::Review { limit, json } = command;
    let conn = store::open_reader(&cfg.store.path)?;
    let rows = store::triage_review::disagreements(&conn, now, usize::from(limit))?;
    let prefix = &cfg.desk.token_prefix;
    let items: Vec<DisagreementJson> = rows
        .into_iter()
        .map(|r| DisagreementJson {
            token: token(prefix, r.ticket_id),
            subject: r.subject,
            rules_priority: r.rules_priority,
            impact: r.impact,
            urgency: r.urgency,
            words: r.words,
            agent_priority: r.agent_priority,
            agent: r.agent,
            at: format_time(r.at),
        })
        .collect();
    if json {
        serde_json::to_writer_pretty(&mut *out, &items)?;
        writeln!(out)?;
        return Ok(());
    }
    if items.is_empty() {
        writeln!(out, "no disagreements between the rules and the agents")?;
        return Ok(());
    }
    for i in &items {
        writeln!(
            out,
            "{} {}  rules {} (impact {}, urgency {}) -> agent {} ({}, {})",
            i.token,
            i.subject,
            i.rules_priority,
            i.impact,
            i.urgency,
            i.agent_priority,
            i.agent,
            i.at
        )?;
        writeln!(out, "    {}", i.words)?;
    }
    Ok(())
}
