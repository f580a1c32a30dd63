//! `ticketpost tickets show` (and the ticket fields `tickets list` shares with it): a
//! ticket as the store holds it, for people (aligned text) or scripts (`--json`, a
//! stable shape). It only reads; the list's pages are `ticket_list`'s.
//!
//! A subject or a sender's name is chosen by whoever sends the mail, and a terminal
//! obeys the escape sequences in what it is shown: every field from mail is printed
//! through [`one_line`] (or `escape_for_terminal`), on top of the safe writer that
//! `commands::dispatch` puts around standard output.

use super::change_view::{ChangeJson, change_json, write_change_text};
use std::borrow::Cow;
use std::io::Write;

use anyhow::{Result, anyhow};
use serde::Serialize;

use crate::clock::format_time;
use crate::config::Config;
use crate::desk::threading::{parse_token, token};
use crate::report::format_duration;
use crate::store::{
    self, messages::MessageRow, outbox::OutboxRow, tickets::EventRow, tickets::TicketRow,
};
use crate::terminal::{TextLayout, escape_for_terminal};

#[derive(Serialize)]
pub(super) struct TicketJson<'a> {
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
    /// The last survivor of a merged ticket (`/merge`); its status is then `merged`.
    merged_into: Option<String>,
    /// The tickets merged directly into this one.
    merged_from: Vec<String>,
    /// Related tickets (`/link`).
    linked: Vec<String>,
}

/// A ticket's merges and links, as `tickets list` and `show` print them.
#[derive(Default)]
pub(super) struct Relations {
    merged_into: Option<i64>,
    merged_from: Vec<i64>,
    linked: Vec<i64>,
}

impl Relations {
    pub(super) fn of(conn: &rusqlite::Connection, id: i64) -> Result<Relations> {
        Ok(Relations {
            merged_into: store::ticket_links::merge_chain(conn, id)?.last().copied(),
            merged_from: store::ticket_links::merged_from(conn, id)?,
            linked: store::ticket_links::linked(conn, id)?,
        })
    }

    /// The status shown: `merged` for a merged ticket, else the stored one.
    pub(super) fn status<'a>(&self, t: &'a TicketRow) -> &'a str {
        if self.merged_into.is_some() {
            "merged"
        } else {
            &t.status
        }
    }
}

/// Tokens of `ids`.
fn tokens(prefix: &str, ids: &[i64]) -> Vec<String> {
    ids.iter().map(|i| token(prefix, *i)).collect()
}

pub(super) fn ticket_json<'a>(prefix: &str, t: &'a TicketRow, rel: &Relations) -> TicketJson<'a> {
    TicketJson {
        token: token(prefix, t.id),
        id: t.id,
        status: rel.status(t),
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
        merged_into: rel.merged_into.map(|m| token(prefix, m)),
        merged_from: tokens(prefix, &rel.merged_from),
        linked: tokens(prefix, &rel.linked),
    }
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
    /// The agent who opened the ticket on its requester's behalf (a forward, `/new`).
    opened_by: Option<&'a str>,
    facts: &'a [FactJson],
    sla: &'a [ClockJson],
    /// The requester's rating (`desk::satisfaction`), the latest one; null when none.
    satisfaction: Option<SatisfactionJson<'a>>,
    /// Time agents spent on the ticket (`/time`).
    worklog: WorklogJson<'a>,
    messages: Vec<MessageJson<'a>>,
    timeline: Vec<EventJson<'a>>,
    mails: Vec<MailJson<'a>>,
    /// The change plan (`desk::change_review`), null when there is none.
    change: Option<&'a ChangeJson>,
}

#[derive(Serialize)]
struct SatisfactionJson<'a> {
    rating: i64,
    comment: &'a str,
    by: &'a str,
    at: String,
}

#[derive(Serialize)]
struct WorklogJson<'a> {
    entries: Vec<TimeEntryJson<'a>>,
    total_minutes: i64,
}

#[derive(Serialize)]
struct TimeEntryJson<'a> {
    agent: &'a str,
    at: String,
    minutes: i64,
}

fn satisfaction_json(s: &store::satisfaction::SatisfactionRow) -> SatisfactionJson<'_> {
    SatisfactionJson {
        rating: s.rating,
        comment: &s.comment,
        by: &s.rated_by,
        at: format_time(s.rated_at),
    }
}

fn worklog_json(entries: &[store::worklog::TimeEntry]) -> WorklogJson<'_> {
    WorklogJson {
        entries: entries
            .iter()
            .map(|e| TimeEntryJson {
                agent: &e.agent,
                at: format_time(e.at),
                minutes: e.minutes,
            })
            .collect(),
        total_minutes: entries.iter().map(|e| e.minutes).sum(),
    }
}

fn message_json(m: &MessageRow) -> MessageJson<'_> {
    MessageJson {
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
    }
}

fn event_json(e: &EventRow) -> EventJson<'_> {
    EventJson {
        at: format_time(e.at),
        actor: &e.actor,
        kind: &e.kind,
        detail: &e.detail,
    }
}

fn mail_json(m: &OutboxRow) -> MailJson<'_> {
    MailJson {
        kind: &m.kind,
        message_id: &m.message_id,
        to: &m.recipients,
        subject: &m.subject,
        state: &m.state,
        attempts: m.attempts,
        last_error: m.last_error.as_deref(),
        created_at: format_time(m.created_at),
        sent_at: m.sent_at.map(format_time),
    }
}

/// Everything `tickets show` prints about one ticket, read from the store in one go.
struct TicketDetail {
    ticket: TicketRow,
    relations: Relations,
    opened_by: Option<String>,
    change: Option<ChangeJson>,
    facts: Vec<FactJson>,
    sla: Vec<ClockJson>,
    satisfaction: Option<store::satisfaction::SatisfactionRow>,
    worklog: Vec<store::worklog::TimeEntry>,
    messages: Vec<MessageRow>,
    events: Vec<EventRow>,
    mails: Vec<OutboxRow>,
}

/// `tickets show`: one ticket with its facts, SLA clocks, timeline, messages and the
/// mail sent for it.
pub fn tickets_show(
    cfg: &Config,
    token_text: &str,
    json: bool,
    now: i64,
    out: &mut impl Write,
) -> Result<()> {
    let detail = gather_detail(cfg, token_text, now)?;
    let prefix = &cfg.desk.token_prefix;
    if json {
        write_detail_json(prefix, &detail, out)
    } else {
        write_detail_text(prefix, &detail, out)
    }
}

fn gather_detail(cfg: &Config, token_text: &str, now: i64) -> Result<TicketDetail> {
    let prefix = &cfg.desk.token_prefix;
    let id = parse_token(token_text, prefix).ok_or_else(|| {
        anyhow!("{token_text:?} is not a ticket token (expected e.g. {prefix}-42)")
    })?;
    let conn = store::open_reader(&cfg.store.path)?;
    read_detail(&conn, cfg, id, now)
}

/// Every query `tickets show` runs.
fn read_detail(
    conn: &rusqlite::Connection,
    cfg: &Config,
    id: i64,
    now: i64,
) -> Result<TicketDetail> {
    let prefix = &cfg.desk.token_prefix;
    let ticket =
        store::tickets::get(conn, id)?.ok_or_else(|| anyhow!("no ticket {}", token(prefix, id)))?;
    let relations = Relations::of(conn, id)?;
    // The messages and timelines of the tickets merged into this one are part of its
    // story; their timeline lines are marked with their own token.
    let mut messages = store::messages::list_for_ticket(conn, id)?;
    let mut events = store::tickets::events(conn, id)?;
    for merged in merged_tickets(conn, id)? {
        messages.extend(store::messages::list_for_ticket(conn, merged)?);
        let from = token(prefix, merged);
        events.extend(
            store::tickets::events(conn, merged)?
                .into_iter()
                .map(|mut e| {
                    e.detail = format!("{from}: {}", e.detail);
                    e
                }),
        );
    }
    messages.sort_by_key(|m| m.id);
    events.sort_by_key(|e| e.at);
    let mails = store::outbox::list(conn, Some(id))?;
    let facts = facts_checklist(&store::tickets::facts(conn, id)?);
    let sla = clocks_json(cfg, &store::sla_clocks::clocks(conn, id)?, now);
    let opened_by = store::on_behalf::opened_by(conn, id)?;
    let change = change_json(conn, id, cfg.desk.change.tz)?;
    Ok(TicketDetail {
        ticket,
        relations,
        opened_by,
        change,
        facts,
        sla,
        satisfaction: store::satisfaction::get(conn, id)?,
        worklog: store::worklog::for_ticket(conn, id)?,
        messages,
        events,
        mails,
    })
}

/// Every ticket merged into `id`, directly or along a chain (bounded like the chain).
fn merged_tickets(conn: &rusqlite::Connection, id: i64) -> Result<Vec<i64>> {
    let mut found: Vec<i64> = Vec::new();
    let mut next = vec![id];
    while let Some(at) = next.pop() {
        for m in store::ticket_links::merged_from(conn, at)? {
            if m != id && !found.contains(&m) && found.len() < store::ticket_links::MAX_CHAIN {
                found.push(m);
                next.push(m);
            }
        }
    }
    Ok(found)
}

fn write_detail_json(prefix: &str, d: &TicketDetail, out: &mut impl Write) -> Result<()> {
    let detail = TicketDetailJson {
        ticket: ticket_json(prefix, &d.ticket, &d.relations),
        opened_by: d.opened_by.as_deref(),
        facts: &d.facts,
        sla: &d.sla,
        satisfaction: d.satisfaction.as_ref().map(satisfaction_json),
        worklog: worklog_json(&d.worklog),
        messages: d.messages.iter().map(message_json).collect(),
        timeline: d.events.iter().map(event_json).collect(),
        mails: d.mails.iter().map(mail_json).collect(),
        change: d.change.as_ref(),
    };
    serde_json::to_writer_pretty(&mut *out, &detail)?;
    writeln!(out)?;
    Ok(())
}

fn write_detail_text(prefix: &str, d: &TicketDetail, out: &mut impl Write) -> Result<()> {
    write_ticket_text(prefix, &d.ticket, &d.relations, out)?;
    if let Some(agent) = &d.opened_by {
        writeln!(
            out,
            "  opened by {} on the requester's behalf",
            one_line(agent)
        )?;
    }
    write_facts_text(&d.facts, out)?;
    if let Some(change) = &d.change {
        write_change_text(change, out)?;
    }
    write_sla_text(&d.sla, out)?;
    write_satisfaction_and_worklog_text(d, out)?;
    write_timeline_text(&d.events, out)?;
    write_messages_text(&d.messages, out)?;
    write_mails_text(&d.mails, out)
}

/// The ticket's own fields: subject, state, people, dates.
fn write_ticket_text(
    prefix: &str,
    ticket: &TicketRow,
    rel: &Relations,
    out: &mut impl Write,
) -> Result<()> {
    writeln!(
        out,
        "{}  {}",
        token(prefix, ticket.id),
        one_line(&ticket.subject)
    )?;
    let who = match &ticket.requester_name {
        Some(n) => format!("{} <{}>", one_line(n), one_line(&ticket.requester)),
        None => one_line(&ticket.requester).into_owned(),
    };
    writeln!(
        out,
        "  status {}, priority {}, requester {who}, language {}",
        rel.status(ticket),
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
    write_relations_text(prefix, rel, out)?;
    write_ticket_state_text(prefix, ticket, out)
}

/// Merges and links, each line only when it applies.
fn write_relations_text(prefix: &str, rel: &Relations, out: &mut impl Write) -> Result<()> {
    if let Some(into) = rel.merged_into {
        writeln!(
            out,
            "  merged into {}: its mail goes there",
            token(prefix, into)
        )?;
    }
    if !rel.merged_from.is_empty() {
        writeln!(
            out,
            "  merged from {}",
            tokens(prefix, &rel.merged_from).join(", ")
        )?;
    }
    if !rel.linked.is_empty() {
        writeln!(out, "  linked {}", tokens(prefix, &rel.linked).join(", "))?;
    }
    Ok(())
}

/// What the ticket waits for or ended with, each line only when it applies.
fn write_ticket_state_text(prefix: &str, ticket: &TicketRow, out: &mut impl Write) -> Result<()> {
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
    Ok(())
}

fn write_facts_text(facts: &[FactJson], out: &mut impl Write) -> Result<()> {
    writeln!(out, "\nFacts:")?;
    for f in facts {
        writeln!(
            out,
            "  [{}] {:<30} {}",
            if f.present { "x" } else { " " },
            f.label,
            one_line(f.evidence.as_deref().unwrap_or("(missing)"))
        )?;
    }
    Ok(())
}

fn write_sla_text(sla: &[ClockJson], out: &mut impl Write) -> Result<()> {
    if sla.is_empty() {
        return Ok(());
    }
    writeln!(out, "\nSLA:")?;
    for c in sla {
        let label = c.target.replace('_', " ");
        let used = format!(
            "{} of {} used ({})",
            format_duration(c.used_seconds),
            format_duration(c.target_seconds),
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
    Ok(())
}

/// The requester's rating and the time agents logged, each only when there is one.
fn write_satisfaction_and_worklog_text(d: &TicketDetail, out: &mut impl Write) -> Result<()> {
    if let Some(s) = &d.satisfaction {
        writeln!(
            out,
            "\nSatisfaction: {}/5 by {}, {}{}",
            s.rating,
            one_line(&s.rated_by),
            format_time(s.rated_at),
            if s.comment.is_empty() {
                String::new()
            } else {
                format!(": {}", one_line(&s.comment))
            }
        )?;
    }
    if d.worklog.is_empty() {
        return Ok(());
    }
    writeln!(out, "\nTime spent:")?;
    for e in &d.worklog {
        writeln!(
            out,
            "  {}  {:<28} {:>6} min",
            format_time(e.at),
            shorten(&one_line(&e.agent), 28),
            e.minutes
        )?;
    }
    let total: i64 = d.worklog.iter().map(|e| e.minutes).sum();
    writeln!(out, "  total {total} min ({})", format_duration(total * 60))?;
    Ok(())
}

fn write_timeline_text(events: &[EventRow], out: &mut impl Write) -> Result<()> {
    writeln!(out, "\nTimeline:")?;
    for e in events {
        writeln!(
            out,
            "  {}  {:<14} {:<28} {}",
            format_time(e.at),
            e.kind,
            shorten(&one_line(&e.actor), 28),
            one_line(&e.detail)
        )?;
    }
    Ok(())
}

/// Lines of a message's text `tickets show` prints at most (`--json` has them all).
const MESSAGE_LINES: usize = 40;

fn write_messages_text(messages: &[MessageRow], out: &mut impl Write) -> Result<()> {
    writeln!(out, "\nMessages ({}):", messages.len())?;
    // Files stored with their bytes are numbered across the ticket, as
    // `ticketpost attachments get TOKEN N` takes them.
    let mut stored_files = 0;
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
                let sha256 = a["sha256"].as_str().filter(|h| !h.is_empty());
                let number = match sha256 {
                    Some(_) => {
                        stored_files += 1;
                        format!(" {stored_files}")
                    }
                    None => String::new(),
                };
                writeln!(
                    out,
                    "  Attachment{number}: {} ({}, {} bytes){}",
                    one_line(a["name"].as_str().unwrap_or("(unnamed)")),
                    one_line(a["content_type"].as_str().unwrap_or("?")),
                    a["size"],
                    match sha256 {
                        Some(h) => format!(" sha256 {}", one_line(h)),
                        None => String::new(),
                    }
                )?;
            }
        }
        let text = m.visible_text.as_deref().unwrap_or(&m.text_body);
        for line in text.lines().take(MESSAGE_LINES) {
            writeln!(out, "  | {}", escape_for_terminal(line, TextLayout::Lines))?;
        }
    }
    Ok(())
}

fn write_mails_text(mails: &[OutboxRow], out: &mut impl Write) -> Result<()> {
    if mails.is_empty() {
        return Ok(());
    }
    writeln!(out, "\nMail sent:")?;
    for m in mails {
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
    Ok(())
}

/// A field from mail, escaped to stay on its line.
pub(crate) fn one_line(text: &str) -> Cow<'_, str> {
    escape_for_terminal(text, TextLayout::OneLine)
}

pub(super) fn shorten(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut t: String = s.chars().take(max.saturating_sub(1)).collect();
    t.push('…');
    t
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::plan_audit::{NOW, assert_no_scans, config, desk_store};

    #[test]
    fn every_query_of_tickets_show_is_an_index_range() {
        let conn = desk_store();
        let cfg = config();
        // Ticket 1 has a bit of everything, ticket 7 is merged into it.
        let (detail, ran) = assert_no_scans("tickets show", &conn, |c| {
            read_detail(c, &cfg, 1, NOW).unwrap()
        });
        assert_eq!(detail.messages.len(), 2, "its own and the merged ticket's");
        assert_eq!(detail.mails.len(), 2);
        assert!(detail.change.is_some() && !detail.worklog.is_empty());
        assert!(!detail.sla.is_empty() && !detail.relations.linked.is_empty());
        for table in [
            "messages",
            "events",
            "outbox",
            "sla_clocks",
            "ticket_facts",
            "change_plans",
        ] {
            assert!(
                ran.iter().any(|s| s.contains(&format!("FROM {table}"))),
                "no query of {table} ran: {ran:#?}"
            );
        }
        let (detail, _) = assert_no_scans("tickets show (merged)", &conn, |c| {
            read_detail(c, &cfg, 7, NOW).unwrap()
        });
        assert_eq!(detail.relations.merged_into, Some(1));
    }
}
