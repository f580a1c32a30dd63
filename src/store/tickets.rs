//! Queries on tickets and their timeline (events).

use anyhow::Result;
use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;

/// A new ticket to insert.
pub struct NewTicket<'a> {
    pub status: &'a str,
    pub priority: &'a str,
    pub requester: &'a str,
    pub requester_name: Option<&'a str>,
    pub subject: &'a str,
    pub at: i64,
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
        "INSERT INTO tickets (status, priority, requester, requester_name, subject, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6)",
    )?
    .execute(params![t.status, t.priority, t.requester, t.requester_name, t.subject, t.at])?;
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

const SELECT_TICKET: &str =
    "SELECT t.id, t.status, t.priority, t.requester, t.requester_name, t.subject,
        t.created_at, t.updated_at, (SELECT count(*) FROM messages m WHERE m.ticket_id = t.id)
     FROM tickets t";

fn ticket_from_row(r: &rusqlite::Row) -> rusqlite::Result<TicketRow> {
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
    })
}

/// All tickets, newest first.
pub fn list(conn: &Connection) -> Result<Vec<TicketRow>> {
    let mut stmt = conn.prepare(&format!("{SELECT_TICKET} ORDER BY t.id DESC"))?;
    let rows = stmt
        .query_map([], ticket_from_row)?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(rows)
}

pub fn get(conn: &Connection, id: i64) -> Result<Option<TicketRow>> {
    Ok(conn
        .query_row(
            &format!("{SELECT_TICKET} WHERE t.id = ?1"),
            [id],
            ticket_from_row,
        )
        .optional()?)
}

pub fn events(conn: &Connection, ticket: i64) -> Result<Vec<EventRow>> {
    let mut stmt = conn
        .prepare("SELECT at, actor, kind, detail FROM events WHERE ticket_id = ?1 ORDER BY id")?;
    let rows = stmt
        .query_map([ticket], |r| {
            Ok(EventRow {
                at: r.get(0)?,
                actor: r.get(1)?,
                kind: r.get(2)?,
                detail: r.get(3)?,
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(rows)
}
