//! Queries on tickets and their timeline (events).

use anyhow::{Result, anyhow};
use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;

use crate::desk::lifecycle::{Change, TicketState};
use crate::desk::{Priority, Status};

/// A new ticket to insert.
pub struct NewTicket<'a> {
    pub status: &'a str,
    pub priority: &'a str,
    pub requester: &'a str,
    pub requester_name: Option<&'a str>,
    pub subject: &'a str,
    pub at: i64,
    /// The closed ticket a late reply came from.
    pub linked_ticket: Option<i64>,
    /// The requester's language ("en", "zh").
    pub language: &'a str,
}

/// A ticket as listed.
#[derive(Debug, Clone, Serialize)]
pub struct TicketRow {
    pub id: i64,
    pub status: String,
    pub priority: String,
    pub requester: String,
    pub requester_name: Option<String>,
    pub subject: String,
    pub created_at: i64,
    pub updated_at: i64,
    pub message_count: i64,
    pub assignee: Option<String>,
    pub team: Option<String>,
    pub participants: Vec<String>,
    pub authorization: Option<String>,
    pub resolution: Option<String>,
    pub auto_close_at: Option<i64>,
    pub closed_at: Option<i64>,
    pub first_response_at: Option<i64>,
    pub linked_ticket: Option<i64>,
    pub language: String,
    pub tags: Vec<String>,
}

/// One line of a ticket's timeline.
#[derive(Debug, Clone, Serialize)]
pub struct EventRow {
    pub at: i64,
    pub actor: String,
    pub kind: String,
    pub detail: String,
}

pub fn insert(conn: &Connection, t: &NewTicket) -> Result<i64> {
    conn.prepare_cached(
        "INSERT INTO tickets (status, priority, requester, requester_name, subject, created_at, updated_at,
             linked_ticket, language)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6, ?7, ?8)",
    )?
    .execute(params![
        t.status,
        t.priority,
        t.requester,
        t.requester_name,
        t.subject,
        t.at,
        t.linked_ticket,
        t.language
    ])?;
    Ok(conn.last_insert_rowid())
}

pub fn exists(conn: &Connection, id: i64) -> Result<bool> {
    Ok(conn
        .prepare_cached("SELECT 1 FROM tickets WHERE id = ?1")?
        .query_row([id], |_| Ok(()))
        .optional()?
        .is_some())
}

/// Marks the ticket as changed at `at`.
pub fn touch(conn: &Connection, id: i64, at: i64) -> Result<()> {
    conn.prepare_cached("UPDATE tickets SET updated_at = max(updated_at, ?2) WHERE id = ?1")?
        .execute(params![id, at])?;
    Ok(())
}

pub fn add_event(
    conn: &Connection,
    ticket: i64,
    at: i64,
    actor: &str,
    kind: &str,
    detail: &str,
) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO events (ticket_id, at, actor, kind, detail) VALUES (?1, ?2, ?3, ?4, ?5)",
    )?
    .execute(params![ticket, at, actor, kind, detail])?;
    Ok(())
}

pub(super) const SELECT_TICKET: &str =
    "SELECT t.id, t.status, t.priority, t.requester, t.requester_name, t.subject,
        t.created_at, t.updated_at, (SELECT count(*) FROM messages m WHERE m.ticket_id = t.id),
        t.assignee, t.team, t.authorization, t.resolution, t.auto_close_at, t.closed_at,
        t.first_response_at, t.linked_ticket,
        (SELECT coalesce(json_group_array(p.address), '[]') FROM participants p WHERE p.ticket_id = t.id),
        t.language, t.tags_json
     FROM tickets t";

pub(super) fn ticket_from_row(r: &rusqlite::Row) -> rusqlite::Result<TicketRow> {
    Ok(TicketRow {
        id: r.get(0)?,
        status: r.get(1)?,
        priority: r.get(2)?,
        requester: r.get(3)?,
        requester_name: r.get(4)?,
        subject: r.get(5)?,
        created_at: r.get(6)?,
        updated_at: r.get(7)?,
        message_count: r.get(8)?,
        assignee: r.get(9)?,
        team: r.get(10)?,
        authorization: r.get(11)?,
        resolution: r.get(12)?,
        auto_close_at: r.get(13)?,
        closed_at: r.get(14)?,
        first_response_at: r.get(15)?,
        linked_ticket: r.get(16)?,
        participants: serde_json::from_str(&r.get::<_, String>(17)?).unwrap_or_default(),
        language: r.get(18)?,
        tags: serde_json::from_str(&r.get::<_, String>(19)?).unwrap_or_default(),
    })
}

/// The lifecycle state of a ticket (for the desk's decisions).
pub fn state(conn: &Connection, id: i64) -> Result<Option<TicketState>> {
    let Some(row) = get(conn, id)? else {
        return Ok(None);
    };
    Ok(Some(TicketState {
        id: row.id,
        status: row
            .status
            .parse::<Status>()
            .map_err(|e| anyhow!("ticket {id}: {e}"))?,
        priority: row
            .priority
            .parse::<Priority>()
            .map_err(|e| anyhow!("ticket {id}: {e}"))?,
        requester: row.requester,
        assignee: row.assignee,
        team: row.team,
        participants: row.participants,
        authorization: row.authorization,
        resolution: row.resolution,
        closed_at: row.closed_at,
    }))
}

/// Writes the desk's changes to ticket `id`.
pub fn apply_changes(conn: &Connection, id: i64, changes: &[Change], now: i64) -> Result<()> {
    for change in changes {
        match change {
            Change::Status(s) => set(conn, id, "status", s.as_str())?,
            Change::Priority(p) => set(conn, id, "priority", p.as_str())?,
            Change::Assignee(a) => set(conn, id, "assignee", a)?,
            Change::Team(t) => set(conn, id, "team", t)?,
            Change::AddParticipant(a) => add_participant(conn, id, a, None, now)?,
            Change::Authorization(w) => set(conn, id, "authorization", w)?,
            Change::Resolution(r) => set(conn, id, "resolution", r)?,
            Change::AutoCloseAt(at) => set(conn, id, "auto_close_at", at)?,
            Change::ClosedAt(at) => set(conn, id, "closed_at", at)?,
            Change::Requester { address, name } => {
                super::on_behalf::set_requester(conn, id, address, name.as_deref())?;
            }
            // Written by the ingest shell through store::kb (it fills in the request).
            Change::Knowledge(_) => {}
            // Written by `ticket_writer`, which knows who rated.
            Change::Satisfaction { .. } => {}
            Change::TimeSpent(t) => super::worklog::add(conn, id, &t.agent, t.minutes, now)?,
            Change::KbApproved(a) => {
                super::kb::approve(conn, a.entry, &a.by, now)?;
            }
            Change::MergedInto {
                into,
                participants,
                note,
            } => {
                super::ticket_links::set_merged_into(conn, id, *into)?;
                for p in participants {
                    super::ticket_links::add_participant_unless_requester(conn, *into, p, now)?;
                }
                add_event(conn, *into, now, "ticketpost", "merged", note)?;
                touch(conn, *into, now)?;
            }
            Change::Link { with, note } => {
                if super::ticket_links::add_link(conn, id, *with, now, "ticketpost")? {
                    add_event(conn, *with, now, "ticketpost", "linked", note)?;
                }
            }
            Change::ChangePlan(change) => {
                super::changes::apply(conn, id, change, now)?;
            }
            Change::FirstResponse => {
                conn.prepare_cached(
                    "UPDATE tickets SET first_response_at = coalesce(first_response_at, ?2) WHERE id = ?1",
                )?
                .execute(params![id, now])?;
            }
        }
    }
    touch(conn, id, now)
}

/// Sets a ticket's tags.
pub fn set_tags(conn: &Connection, id: i64, tags: &[String]) -> Result<()> {
    set(conn, id, "tags_json", serde_json::to_string(tags)?)
}

/// Sets one column; `column` is one of the fixed names above, never input.
fn set(
    conn: &Connection,
    id: i64,
    column: &'static str,
    value: impl rusqlite::ToSql,
) -> Result<()> {
    conn.prepare_cached(&format!("UPDATE tickets SET {column} = ?2 WHERE id = ?1"))?
        .execute(params![id, value])?;
    Ok(())
}

pub fn add_participant(
    conn: &Connection,
    ticket: i64,
    address: &str,
    name: Option<&str>,
    at: i64,
) -> Result<()> {
    conn.prepare_cached(
        "INSERT OR IGNORE INTO participants (ticket_id, address, name, added_at) VALUES (?1, lower(?2), ?3, ?4)",
    )?
    .execute(params![ticket, address, name, at])?;
    Ok(())
}

/// An intake fact found on a ticket.
#[derive(Debug, Clone, Serialize)]
pub struct FactRow {
    pub fact: String,
    pub evidence: String,
    pub found_at: i64,
}

/// Records the facts found in a message; a fact already on the ticket keeps its first
/// evidence. Returns how many were new.
pub fn add_facts(
    conn: &Connection,
    ticket: i64,
    facts: &[(&str, &str)],
    message_row: Option<i64>,
    at: i64,
) -> Result<Vec<String>> {
    let mut stmt = conn.prepare_cached(
        "INSERT OR IGNORE INTO ticket_facts (ticket_id, fact, evidence, message_id, found_at)
         VALUES (?1, ?2, ?3, ?4, ?5)",
    )?;
    let mut added = Vec::new();
    for (fact, evidence) in facts {
        if stmt.execute(params![ticket, fact, evidence, message_row, at])? > 0 {
            added.push((*fact).to_string());
        }
    }
    Ok(added)
}

pub fn facts(conn: &Connection, ticket: i64) -> Result<Vec<FactRow>> {
    let mut stmt = conn.prepare_cached(
        "SELECT fact, evidence, found_at FROM ticket_facts WHERE ticket_id = ?1 ORDER BY found_at, fact",
    )?;
    let rows = stmt
        .query_map([ticket], |r| {
            Ok(FactRow {
                fact: r.get(0)?,
                evidence: r.get(1)?,
                found_at: r.get(2)?,
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(rows)
}

/// Tickets whose auto-close time has come, oldest first.
pub fn due_auto_close(conn: &Connection, now: i64, limit: usize) -> Result<Vec<i64>> {
    let mut stmt = conn.prepare_cached(
        "SELECT id FROM tickets WHERE auto_close_at IS NOT NULL AND auto_close_at <= ?1
         ORDER BY auto_close_at LIMIT ?2",
    )?;
    let ids = stmt
        .query_map(params![now, limit as i64], |r| r.get(0))?
        .collect::<rusqlite::Result<Vec<i64>>>()?;
    Ok(ids)
}

/// The earliest auto-close time, if any ticket waits for one.
pub fn next_auto_close(conn: &Connection) -> Result<Option<i64>> {
    Ok(conn
        .prepare_cached("SELECT min(auto_close_at) FROM tickets WHERE auto_close_at IS NOT NULL")?
        .query_row([], |r| r.get(0))?)
}

/// How many tickets the store holds, counted (`check`; it reads stores of any schema,
/// so not from `store::tallies`). A page of them is `store::ticket_pages`'s.
pub fn count(conn: &Connection) -> Result<i64> {
    Ok(conn.query_row("SELECT count(*) FROM tickets", [], |r| r.get(0))?)
}

pub fn get(conn: &Connection, id: i64) -> Result<Option<TicketRow>> {
    Ok(conn
        .prepare_cached(&format!("{SELECT_TICKET} WHERE t.id = ?1"))?
        .query_row([id], ticket_from_row)
        .optional()?)
}

/// A ticket's timeline: its `events` rows, and the queued and sent lines of its mails
/// made from their outbox rows (schema 19: `store::outbox::enqueue_on_timeline`,
/// `mark_sent`), each in its place.
pub fn events(conn: &Connection, ticket: i64) -> Result<Vec<EventRow>> {
    let mut stmt = conn.prepare(
        "SELECT id, at, actor, kind, detail FROM events WHERE ticket_id = ?1 ORDER BY id",
    )?;
    let stored = stmt
        .query_map([ticket], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                EventRow {
                    at: r.get(1)?,
                    actor: r.get(2)?,
                    kind: r.get(3)?,
                    detail: r.get(4)?,
                },
            ))
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let mut sent = mail_lines(conn, ticket)?.into_iter().peekable();
    let mut rows = Vec::with_capacity(stored.len());
    for (id, event) in stored {
        while let Some((_, line)) = sent.next_if(|(after, _)| *after < id) {
            rows.push(line);
        }
        rows.push(event);
    }
    rows.extend(sent.map(|(_, line)| line));
    Ok(rows)
}

/// The timeline lines of a ticket's mails made from their outbox rows (schema 19;
/// before, they are rows of `events`): "queued to" where the mail was queued on the
/// timeline, "sent to" once sent, each with the newest event id at that moment, in
/// the order they happened.
fn mail_lines(conn: &Connection, ticket: i64) -> Result<Vec<(i64, EventRow)>> {
    let mut stmt = conn.prepare_cached(MAIL_LINES)?;
    let rows = stmt
        .query_map([ticket], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?,
                [(r.get(4)?, r.get(5)?), (r.get(6)?, r.get(7)?)],
            ))
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    // (after, phase, outbox id, line): a mail queued and sent with no event between
    // comes out as "queued", then "sent", as the events rows did.
    let mut lines: Vec<(i64, usize, i64, EventRow)> = Vec::new();
    for (id, kind, recipients, message_id, moments) in rows {
        let recipients: Vec<String> = serde_json::from_str(&recipients).unwrap_or_default();
        let (kind, recipients) = (kind.replace('_', " "), recipients.join(", "));
        let names = [("mail", "queued to"), ("sent", "sent to")];
        for (phase, (moment, (event, verb))) in moments.into_iter().zip(names).enumerate() {
            let (Some(after), Some(at)): (Option<i64>, Option<i64>) = moment else {
                continue;
            };
            let detail = format!("{kind} {verb} {recipients} ({message_id})");
            let (actor, kind) = ("ticketpost".to_string(), event.to_string());
            lines.push((
                after,
                phase,
                id,
                EventRow {
                    at,
                    actor,
                    kind,
                    detail,
                },
            ));
        }
    }
    lines.sort_by_key(|(after, phase, id, _)| (*after, *phase, *id));
    Ok(lines
        .into_iter()
        .map(|(after, _, _, line)| (after, line))
        .collect())
}

/// A ticket's mails with a line made from the row (`outbox_ticket` range): the
/// queued line's place and time, then the sent line's (sent mail only).
pub(crate) const MAIL_LINES: &str =
    "SELECT id, kind, recipients_json, message_id, queued_after_event, created_at,
            CASE WHEN state = 'sent' THEN sent_after_event END, sent_at
     FROM outbox
     WHERE ticket_id = ?1 AND (queued_after_event IS NOT NULL OR sent_after_event IS NOT NULL)";

/// Tickets `requester` opened at or after `since` (loop guard).
pub fn opened_by_since(conn: &Connection, requester: &str, since: i64) -> Result<i64> {
    Ok(conn
        .prepare_cached("SELECT count(*) FROM tickets WHERE requester = ?1 AND created_at >= ?2")?
        .query_row(params![requester, since], |r| r.get(0))?)
}
