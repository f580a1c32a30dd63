//! The apply side of a ticket opened on someone's behalf (`desk::forwarded` decides):
//! the request as the requester wrote it, for the acknowledgement and the agents'
//! notice, and what the ticket records about it (who opened it, the agent's note,
//! the commands that shaped its first steps, and why the ticket is the agent's own
//! when the forward named no usable sender). Ingest opens the ticket itself, as for
//! any request, and then runs the agent's other commands on it as a reply.

use anyhow::{Context, Result};
use rusqlite::Connection;

use crate::desk::forwarded::Behalf;
use crate::desk::lifecycle::Change;
use crate::inbound::InboundMessage;
use crate::store;

/// The request as if its requester had sent it: from them, with the original's subject
/// and text, and nothing of the agent's mail that would reach them (no Message-ID or
/// references of the agent's thread, no recipients, no HTML of the forward).
pub fn request_of(msg: &InboundMessage, behalf: &Behalf) -> InboundMessage {
    let mut request = msg.without_raw();
    request.from = Some(behalf.requester.clone());
    request.sender = None;
    request.reply_to = Vec::new();
    request.to = Vec::new();
    request.cc = Vec::new();
    request.message_id = None;
    request.in_reply_to = Vec::new();
    request.references = Vec::new();
    request.subject = behalf.subject.clone();
    request.text_body = behalf.request.clone();
    request.trimmed_text = None;
    request.html_body = None;
    request
}

/// The priority the agent's words set, if they set one.
pub fn priority(behalf: &Behalf) -> Option<crate::desk::Priority> {
    behalf.changes.iter().rev().find_map(|c| match c {
        Change::Priority(p) => Some(*p),
        _ => None,
    })
}

/// Records on the new `ticket` who opened it, the agent's changes (the priority is
/// set when the ticket is written) and its timeline: how it was opened, the agent's
/// note, their commands, and any problem.
pub fn record(tx: &Connection, ticket: i64, agent: &str, behalf: &Behalf, now: i64) -> Result<()> {
    store::on_behalf::set_opened_by(tx, ticket, agent)?;
    let changes: Vec<Change> = behalf
        .changes
        .iter()
        .filter(|c| !matches!(c, Change::Priority(_)))
        .cloned()
        .collect();
    if !changes.is_empty() {
        store::tickets::apply_changes(tx, ticket, &changes, now)
            .context("applying the commands of a forwarding agent")?;
    }
    let how = match &behalf.problem {
        None => format!(
            "opened by {agent} ({}) on behalf of {}",
            behalf.kind.as_str(),
            behalf.requester.email
        ),
        Some(problem) => format!("opened by {agent} ({}): {problem}", behalf.kind.as_str()),
    };
    store::tickets::add_event(tx, ticket, now, agent, "on_behalf", &how)?;
    if !behalf.note.is_empty() {
        store::tickets::add_event(tx, ticket, now, agent, "note", &behalf.note)?;
    }
    for event in &behalf.events {
        store::tickets::add_event(tx, ticket, now, agent, "command", event)?;
    }
    Ok(())
}
