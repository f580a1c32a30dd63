//! What the read-side commands print: `tickets list`, `tickets show`, `check`.
//! Human output is for people; `--json` is a stable shape for scripts.
//!
//! It also owns how text from mail is made safe to print ([`escape_for_terminal`]):
//! a subject or a sender's name is chosen by whoever sends the mail, and a terminal
//! obeys the escape sequences in what it is shown.

use std::borrow::Cow;
use std::io::Write;

use anyhow::{Context, Result, anyhow};
use serde::Serialize;

use crate::clock::format_time;
use crate::config::{self, Config};
use crate::desk::threading::{parse_token, token};
use crate::mailbox::MailSource;
use crate::notify::Renderer;
use crate::outbox::transport::Transport;
use crate::store::{
    self, messages::MessageRow, outbox::OutboxRow, tickets::EventRow, tickets::TicketRow,
};
use crate::terminal::{TextLayout, escape_for_terminal};

#[derive(Serialize)]
struct TicketJson<'a> {
    token: String,
    id: i64,
    status: &'a str,
    priority: &'a str,
    requester: &'a str,
    requester_name: Option<&'a str>,
    subject: &'a str,
    created_at: String,
    updated_at: String,
    message_count: i64,
    assignee: Option<&'a str>,
    team: Option<&'a str>,
    participants: &'a [String],
    /// What an open authorisation request asks for.
    authorization_pending: Option<&'a str>,
    resolution: Option<&'a str>,
    auto_close_at: Option<String>,
    closed_at: Option<String>,
    first_response_at: Option<String>,
    linked_ticket: Option<String>,
    language: &'a str,
    tags: &'a [String],
}

fn ticket_json<'a>(prefix: &str, t: &'a TicketRow) -> TicketJson<'a> {
    TicketJson {
        token: token(prefix, t.id),
        id: t.id,
        status: &t.status,
        priority: &t.priority,
        requester: &t.requester,
        requester_name: t.requester_name.as_deref(),
        subject: &t.subject,
        created_at: format_time(t.created_at),
        updated_at: format_time(t.updated_at),
        message_count: t.message_count,
        assignee: t.assignee.as_deref(),
        team: t.team.as_deref(),
        participants: &t.participants,
        authorization_pending: t.authorization.as_deref(),
        resolution: t.resolution.as_deref(),
        auto_close_at: t.auto_close_at.map(format_time),
        closed_at: t.closed_at.map(format_time),
        first_response_at: t.first_response_at.map(format_time),
        linked_ticket: t.linked_ticket.map(|l| token(prefix, l)),
        language: &t.language,
        tags: &t.tags,
    }
}

pub fn tickets_list(cfg: &Config, json: bool, out: &mut impl Write) -> Result<()> {
    let conn = store::open_reader(&cfg.store.path)?;
    let tickets = store::tickets::list(&conn)?;
    let prefix = &cfg.desk.token_prefix;
    if json {
        let rows: Vec<_> = tickets.iter().map(|t| ticket_json(prefix, t)).collect();
        serde_json::to_writer_pretty(&mut *out, &rows)?;
        writeln!(out)?;
        return Ok(());
    }
    if tickets.is_empty() {
        writeln!(out, "No tickets yet.")?;
        return Ok(());
    }
    writeln!(
        out,
        "{:<10} {:<8} {:<4} {:<20} {:>4}  {:<28} SUBJECT",
        "TOKEN", "STATUS", "PRIO", "UPDATED", "MSGS", "REQUESTER"
    )?;
    for t in &tickets {
        writeln!(
            out,
            "{:<10} {:<8} {:<4} {:<20} {:>4}  {:<28} {}",
            token(prefix, t.id),
            t.status,
            t.priority,
            format_time(t.updated_at),
            t.message_count,
            shorten(&one_line(&t.requester), 28),
            shorten(&one_line(&t.subject), 60)
        )?;
    }
    Ok(())
}

#[derive(Serialize)]
struct MessageJson<'a> {
    message_id: Option<&'a str>,
    kind: &'a str,
    automatic: Option<&'a str>,
    from: Option<&'a str>,
    from_name: Option<&'a str>,
    subject: &'a str,
    received_at: String,
    size: i64,
    text: &'a str,
    /// What the author wrote: quotes and signatures trimmed.
    visible_text: Option<&'a str>,
    attachments: &'a serde_json::Value,
}

#[derive(Serialize)]
struct EventJson<'a> {
    at: String,
    actor: &'a str,
    kind: &'a str,
    detail: &'a str,
}

#[derive(Serialize)]
struct MailJson<'a> {
    kind: &'a str,
    message_id: &'a str,
    to: &'a [String],
    subject: &'a str,
    state: &'a str,
    attempts: i64,
    last_error: Option<&'a str>,
    created_at: String,
    sent_at: Option<String>,
}

/// One line of the intake facts checklist.
#[derive(Serialize)]
struct FactJson {
    fact: &'static str,
    label: &'static str,
    present: bool,
    evidence: Option<String>,
    found_at: Option<String>,
}

fn facts_checklist(rows: &[store::tickets::FactRow]) -> Vec<FactJson> {
    crate::desk::intake::Fact::ALL
        .iter()
        .map(|f| {
            let row = rows.iter().find(|r| r.fact == f.as_str());
            FactJson {
                fact: f.as_str(),
                label: f.label(),
                present: row.is_some(),
                evidence: row.map(|r| r.evidence.clone()),
                found_at: row.map(|r| format_time(r.found_at)),
            }
        })
        .collect()
}

/// One SLA clock of a ticket.
#[derive(Serialize)]
struct ClockJson {
    target: &'static str,
    /// "running", "paused", "met" or "met late".
    state: &'static str,
    hours: &'static str,
    target_seconds: i64,
    /// Clock time used so far (business seconds for business-hours priorities).
    used_seconds: i64,
    due_at: Option<String>,
    met_at: Option<String>,
    breached: bool,
    warned_at: Option<String>,
    escalated_at: Option<String>,
}

fn clocks_json(cfg: &Config, clocks: &[crate::desk::sla::SlaClock], now: i64) -> Vec<ClockJson> {
    clocks
        .iter()
        .map(|c| ClockJson {
            target: c.target.as_str(),
            state: match (c.met_at, c.breached_at, c.is_running()) {
                (Some(_), Some(_), _) => "met late",
                (Some(_), None, _) => "met",
                (None, _, true) => "running",
                (None, _, false) => "paused",
            },
            hours: c.hours.as_str(),
            target_seconds: c.target_seconds,
            used_seconds: c.used(&cfg.sla, now),
            due_at: c.due_at.map(format_time),
            met_at: c.met_at.map(format_time),
            breached: c.breached_at.is_some() || c.due_at.is_some_and(|d| d <= now),
            warned_at: c.warned_at.map(format_time),
            escalated_at: c.escalated_at.map(format_time),
        })
        .collect()
}

#[derive(Serialize)]
struct TicketDetailJson<'a> {
    #[serde(flatten)]
    ticket: TicketJson<'a>,
    facts: Vec<FactJson>,
    sla: Vec<ClockJson>,
    messages: Vec<MessageJson<'a>>,
    timeline: Vec<EventJson<'a>>,
    mails: Vec<MailJson<'a>>,
}

pub fn tickets_show(
    cfg: &Config,
    token_text: &str,
    json: bool,
    now: i64,
    out: &mut impl Write,
) -> Result<()> {
    let prefix = &cfg.desk.token_prefix;
    let id = parse_token(token_text, prefix).ok_or_else(|| {
        anyhow!("{token_text:?} is not a ticket token (expected e.g. {prefix}-42)")
    })?;
    let conn = store::open_reader(&cfg.store.path)?;
    let ticket = store::tickets::get(&conn, id)?
        .ok_or_else(|| anyhow!("no ticket {}", token(prefix, id)))?;
    let messages: Vec<MessageRow> = store::messages::list_for_ticket(&conn, id)?;
    let events: Vec<EventRow> = store::tickets::events(&conn, id)?;
    let mails: Vec<OutboxRow> = store::outbox::list(&conn, Some(id))?;
    let facts = facts_checklist(&store::tickets::facts(&conn, id)?);
    let sla = clocks_json(cfg, &store::sla::clocks(&conn, id)?, now);
    if json {
        let detail = TicketDetailJson {
            ticket: ticket_json(prefix, &ticket),
            facts,
            sla,
            messages: messages
                .iter()
                .map(|m| MessageJson {
                    message_id: m.message_id.as_deref(),
                    kind: &m.kind,
                    automatic: m.automatic.as_deref(),
                    from: m.from_address.as_deref(),
                    from_name: m.from_name.as_deref(),
                    subject: &m.subject,
                    received_at: format_time(m.received_at),
                    size: m.size,
                    text: &m.text_body,
                    visible_text: m.visible_text.as_deref(),
                    attachments: &m.attachments,
                })
                .collect(),
            timeline: events
                .iter()
                .map(|e| EventJson {
                    at: format_time(e.at),
                    actor: &e.actor,
                    kind: &e.kind,
                    detail: &e.detail,
                })
                .collect(),
            mails: mails
                .iter()
                .map(|m| MailJson {
                    kind: &m.kind,
                    message_id: &m.message_id,
                    to: &m.recipients,
                    subject: &m.subject,
                    state: &m.state,
                    attempts: m.attempts,
                    last_error: m.last_error.as_deref(),
                    created_at: format_time(m.created_at),
                    sent_at: m.sent_at.map(format_time),
                })
                .collect(),
        };
        serde_json::to_writer_pretty(&mut *out, &detail)?;
        writeln!(out)?;
        return Ok(());
    }
    writeln!(out, "{}  {}", token(prefix, id), one_line(&ticket.subject))?;
    let who = match &ticket.requester_name {
        Some(n) => format!("{} <{}>", one_line(n), one_line(&ticket.requester)),
        None => one_line(&ticket.requester).into_owned(),
    };
    writeln!(
        out,
        "  status {}, priority {}, requester {who}, language {}",
        ticket.status,
        ticket.priority,
        one_line(&ticket.language)
    )?;
    writeln!(
        out,
        "  opened {}, updated {}{}",
        format_time(ticket.created_at),
        format_time(ticket.updated_at),
        ticket
            .closed_at
            .map(|c| format!(", closed {}", format_time(c)))
            .unwrap_or_default()
    )?;
    writeln!(
        out,
        "  assignee {}, team {}",
        one_line(ticket.assignee.as_deref().unwrap_or("(none)")),
        one_line(ticket.team.as_deref().unwrap_or("(none)"))
    )?;
    if !ticket.participants.is_empty() {
        writeln!(
            out,
            "  participants {}",
            one_line(&ticket.participants.join(", "))
        )?;
    }
    if !ticket.tags.is_empty() {
        writeln!(out, "  tags {}", one_line(&ticket.tags.join(", ")))?;
    }
    if let Some(what) = &ticket.authorization {
        writeln!(out, "  waiting for authorisation: {}", one_line(what))?;
    }
    if let Some(r) = &ticket.resolution {
        writeln!(out, "  resolution: {}", one_line(r))?;
    }
    if let Some(at) = ticket.auto_close_at {
        writeln!(
            out,
            "  closes by itself at {} unless the requester answers",
            format_time(at)
        )?;
    }
    if let Some(l) = ticket.linked_ticket {
        writeln!(out, "  follows up on {}", token(prefix, l))?;
    }
    writeln!(out, "\nFacts:")?;
    for f in &facts {
        writeln!(
            out,
            "  [{}] {:<30} {}",
            if f.present { "x" } else { " " },
            f.label,
            one_line(f.evidence.as_deref().unwrap_or("(missing)"))
        )?;
    }
    if !sla.is_empty() {
        writeln!(out, "\nSLA:")?;
        for c in &sla {
            let label = c.target.replace('_', " ");
            let used = format!(
                "{} of {} used ({})",
                crate::report::format_duration(c.used_seconds),
                crate::report::format_duration(c.target_seconds),
                c.hours
            );
            let when = match (&c.met_at, &c.due_at) {
                (Some(m), _) => format!("at {m}"),
                (None, Some(d)) if c.breached => format!("was due {d}"),
                (None, Some(d)) => format!("due {d}"),
                (None, None) => "clock stopped while waiting on the requester".into(),
            };
            writeln!(out, "  {label:<15} {:<8} {when}; {used}", c.state)?;
        }
    }
    writeln!(out, "\nTimeline:")?;
    for e in &events {
        writeln!(
            out,
            "  {}  {:<14} {:<28} {}",
            format_time(e.at),
            e.kind,
            shorten(&one_line(&e.actor), 28),
            one_line(&e.detail)
        )?;
    }
    writeln!(out, "\nMessages ({}):", messages.len())?;
    for (i, m) in messages.iter().enumerate() {
        let from = one_line(m.from_address.as_deref().unwrap_or("(no sender)"));
        writeln!(
            out,
            "\n  #{} {} from {from} ({}){}",
            i + 1,
            format_time(m.received_at),
            m.kind.replace('_', " "),
            match &m.automatic {
                Some(a) => format!(" [automatic: {}]", one_line(a)),
                None => String::new(),
            }
        )?;
        writeln!(out, "  Subject: {}", one_line(&m.subject))?;
        if let Some(list) = m.attachments.as_array().filter(|l| !l.is_empty()) {
            for a in list {
                writeln!(
                    out,
                    "  Attachment: {} ({}, {} bytes)",
                    one_line(a["name"].as_str().unwrap_or("(unnamed)")),
                    one_line(a["content_type"].as_str().unwrap_or("?")),
                    a["size"]
                )?;
            }
        }
        for line in m
            .visible_text
            .as_deref()
            .unwrap_or(&m.text_body)
            .lines()
            .take(40)
        {
            writeln!(out, "  | {}", escape_for_terminal(line, TextLayout::Lines))?;
        }
    }
    if !mails.is_empty() {
        writeln!(out, "\nMail sent:")?;
        for m in &mails {
            writeln!(
                out,
                "  {}  {:<16} to {}  [{}{}]",
                format_time(m.created_at),
                m.kind,
                one_line(&m.recipients.join(", ")),
                m.state,
                m.last_error
                    .as_deref()
                    .map(|e| format!(": {}", one_line(e)))
                    .unwrap_or_default()
            )?;
        }
    }
    Ok(())
}

/// `ticketpost check`: every problem found is printed; fails if there was any.
pub async fn check(cfg: &Config, out: &mut (impl Write + Send)) -> Result<()> {
    let mut problems = 0;
    writeln!(out, "{}", config::describe(cfg))?;
    if let Err(e) = config::ensure_usable(cfg) {
        problems += 1;
        writeln!(out, "PROBLEM {e:#}")?;
    }
    match Renderer::new(&cfg.templates, &cfg.desk) {
        Ok(r) => writeln!(out, "ok templates: {}", r.template_names().join(", "))?,
        Err(e) => {
            problems += 1;
            writeln!(out, "PROBLEM templates: {e:#}")?;
        }
    }
    match cfg.load_intake_rules() {
        Ok(_) => writeln!(
            out,
            "ok intake rules: {}",
            cfg.intake_rules.as_ref().map_or_else(
                || "built-in (config/intake.toml)".to_string(),
                |p| p.display().to_string()
            )
        )?,
        Err(e) => {
            problems += 1;
            writeln!(out, "PROBLEM {e:#}")?;
        }
    }
    if cfg.store.path.exists() {
        match store::open_reader(&cfg.store.path).and_then(|c| {
            let v = store::schema_version(&c)?;
            let tickets = store::tickets::list(&c)?.len();
            let outbox = store::outbox::counts(&c)?;
            Ok(format!(
                "schema version {v}, {tickets} ticket(s), outbox {} queued / {} sent / {} failed",
                outbox.queued, outbox.sent, outbox.failed
            ))
        }) {
            Ok(s) => writeln!(out, "ok store {}: {s}", cfg.store.path.display())?,
            Err(e) => {
                problems += 1;
                writeln!(out, "PROBLEM store: {e:#}")?;
            }
        }
    } else {
        writeln!(
            out,
            "ok store {}: does not exist yet; `run` creates it",
            cfg.store.path.display()
        )?;
    }
    for folder in &cfg.folders {
        let label = if cfg.folders.len() == 1 {
            "mailbox".to_string()
        } else {
            format!("mailbox folder {folder:?}")
        };
        let probed = match MailSource::new(&cfg.mailbox.for_folder(folder), None) {
            Ok(mut source) => source.probe().await,
            Err(e) => Err(e),
        };
        match probed {
            Ok(s) => writeln!(out, "ok {label}: {s}")?,
            Err(e) => {
                problems += 1;
                writeln!(out, "PROBLEM {label}: {e:#}")?;
            }
        }
    }
    match Transport::new(&cfg.transport) {
        Ok(t) => match t.probe().await {
            Ok(s) => writeln!(out, "ok transport: {s}")?,
            Err(e) => {
                problems += 1;
                writeln!(out, "PROBLEM transport: {e:#}")?;
            }
        },
        Err(e) => {
            problems += 1;
            writeln!(out, "PROBLEM transport: {e:#}")?;
        }
    }
    if problems > 0 {
        return Err(anyhow!("{problems} problem(s) found")).context("check failed");
    }
    writeln!(out, "all checks passed")?;
    Ok(())
}

/// A field from mail, escaped to stay on its line.
fn one_line(text: &str) -> Cow<'_, str> {
    escape_for_terminal(text, TextLayout::OneLine)
}

fn shorten(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut t: String = s.chars().take(max.saturating_sub(1)).collect();
    t.push('…');
    t
}

/// An id as people write it for a command: `Q-3`, `q-3` or `3` for prefix `Q`.
/// `None` unless it is a positive number.
pub(crate) fn parse_prefixed_id(text: &str, prefix: &str) -> Option<i64> {
    let t = text.trim();
    let digits = [prefix.to_ascii_uppercase(), prefix.to_ascii_lowercase()]
        .iter()
        .find_map(|p| t.strip_prefix(p.as_str())?.strip_prefix('-'))
        .unwrap_or(t);
    digits.parse::<i64>().ok().filter(|id| *id > 0)
}

#[derive(Serialize)]
struct SlaRowJson {
    token: String,
    subject: String,
    priority: String,
    status: String,
    assignee: Option<String>,
    target: &'static str,
    due_at: String,
    state: &'static str,
    /// Seconds left (positive) or late (negative), wall-clock.
    seconds_left: i64,
}

/// `ticketpost sla`: tickets at risk (past their warning) and breached, most urgent
/// first, with time left or how late.
pub fn sla_command(cfg: &Config, json: bool, now: i64, out: &mut impl Write) -> Result<()> {
    let conn = store::open_reader(&cfg.store.path)?;
    let rows = store::sla::at_risk(&conn, now, 1_000)?;
    let prefix = &cfg.desk.token_prefix;
    let items: Vec<SlaRowJson> = rows
        .iter()
        .map(|r| {
            let due = r.clock.due_at.unwrap_or(now);
            SlaRowJson {
                token: token(prefix, r.ticket_id),
                subject: r.subject.clone(),
                priority: r.clock.priority.as_str().to_string(),
                status: r.status.clone(),
                assignee: r.assignee.clone(),
                target: r.clock.target.as_str(),
                due_at: format_time(due),
                state: if due <= now { "breached" } else { "at_risk" },
                seconds_left: due - now,
            }
        })
        .collect();
    if json {
        serde_json::to_writer_pretty(&mut *out, &items)?;
        writeln!(out)?;
        return Ok(());
    }
    if items.is_empty() {
        writeln!(out, "no ticket is at risk or breached")?;
        return Ok(());
    }
    for i in &items {
        let when = if i.seconds_left <= 0 {
            format!(
                "BREACHED {} late",
                crate::report::format_duration(-i.seconds_left)
            )
        } else {
            format!(
                "at risk, {} left",
                crate::report::format_duration(i.seconds_left)
            )
        };
        writeln!(
            out,
            "{:<9} {} {:<8} {:<14} {:<28} due {}  {}  {}",
            i.token,
            i.priority,
            i.status,
            i.target,
            when,
            crate::timers::local_time(&cfg.sla, i.seconds_left + now),
            i.assignee.as_deref().unwrap_or("(unassigned)"),
            i.subject
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod id_tests {
    use super::parse_prefixed_id;

    #[test]
    fn prefixed_ids_as_people_write_them() {
        assert_eq!(parse_prefixed_id(" Q-3 ", "Q"), Some(3));
        assert_eq!(parse_prefixed_id("kb-12", "KB"), Some(12));
        assert_eq!(parse_prefixed_id("7", "M"), Some(7));
        for bad in ["Q3", "Kb-1", "M-0", "M--2", "X-1", ""] {
            assert_eq!(parse_prefixed_id(bad, "M"), None, "{bad}");
        }
        assert_eq!(parse_prefixed_id("Q3", "Q"), None);
    }
}
