//! Answers to look-ups by mail: gathers what an agent's `/show`, `/list` and `/search`
//! lines ask for (bounded, through `store::listings` and `store::kb`) and queues the one
//! answer to that agent, or, for a look-up that did not prove its sender, the warning
//! to the agents. Whether a mail is a look-up and who is answered is decided in
//! `desk::lookup`; ingest stores the message and calls in here.
//!
//! The answer is about no one ticket, so it is queued straight into the outbox in the
//! message's transaction (no ticket timeline to note it on).

use anyhow::{Context, Result};
use rusqlite::Connection;
use tracing::{info, warn};

use crate::desk::lookup::{ListScope, Lookup, LookupRequest, MAX_RESULTS, sla_summary};
use crate::desk::roster::DeskConfig;
use crate::desk::sla::SlaPolicy;
use crate::desk::threading::token;
use crate::notify::{
    LookupAnswer, LookupLine, LookupSection, OutgoingMail, Renderer, Suggestion, Thread,
};
use crate::store;
use crate::store::listings::{ListedTicket, Listing};

/// Knowledge-base entries listed for one `/search`.
const KB_RESULTS: usize = 10;
/// Text of an entry's solution shown in an answer.
const KB_SOLUTION_CHARS: usize = 300;

/// What answering needs besides the connection.
pub struct Answering<'a> {
    pub desk: &'a DeskConfig,
    pub sla: &'a SlaPolicy,
    pub renderer: &'a Renderer,
    pub now: i64,
}

/// Gathers the answer to `request` from `asker` (a staff address) and queues it to
/// them alone, threaded on their mail. Returns whether a mail was queued.
pub fn answer(
    tx: &Connection,
    a: &Answering,
    asker: &str,
    request: &LookupRequest,
    thread: &Thread,
) -> Result<bool> {
    let mut sections = Vec::new();
    for lookup in &request.lookups {
        sections.push(section(tx, a, asker, lookup).with_context(|| format!("look-up {lookup}"))?);
    }
    let asked: Vec<String> = sections.iter().map(|s| s.title.clone()).collect();
    let answer = LookupAnswer {
        asked: if asked.is_empty() {
            "lines not understood".into()
        } else {
            asked.join(", ")
        },
        sections,
        errors: request.errors.clone(),
    };
    let mail = a.renderer.lookup_answer(asker, &answer, thread, a.now);
    queue(tx, mail, a.now)
}

/// Warns every agent that a look-up in the name of `claimed` did not prove its sender.
pub fn warn_unverified(tx: &Connection, a: &Answering, claimed: &str, text: &str) -> Result<usize> {
    let mut queued = 0;
    for agent in a.desk.all_agents() {
        let mail = a
            .renderer
            .lookup_unverified(&agent.address, claimed, text, a.now);
        queued += usize::from(queue(tx, mail, a.now)?);
    }
    Ok(queued)
}

/// Queues a rendered mail; one that cannot be rendered is logged, not sent.
fn queue(tx: &Connection, mail: Result<OutgoingMail>, now: i64) -> Result<bool> {
    match mail {
        Ok(mail) => {
            store::outbox::enqueue(tx, &mail, now)?;
            info!(kind = %mail.kind, to = %mail.recipients.join(", "), message_id = %mail.message_id, "look-up mail queued");
            Ok(true)
        }
        Err(e) => {
            warn!(error = %format!("{e:#}"), "look-up mail not sent: cannot render it");
            Ok(false)
        }
    }
}

/// The answer to one look-up line.
fn section(tx: &Connection, a: &Answering, asker: &str, lookup: &Lookup) -> Result<LookupSection> {
    let prefix = &a.desk.token_prefix;
    let mut s = LookupSection {
        title: match lookup {
            Lookup::Show(n) => format!("/show {}", token(prefix, *n)),
            other => other.to_string(),
        },
        tickets: Vec::new(),
        more: 0,
        kb: Vec::new(),
        empty: "No tickets.".into(),
    };
    let listing = match lookup {
        Lookup::Show(n) => {
            s.empty = format!("There is no ticket {}.", token(prefix, *n));
            let tickets: Vec<ListedTicket> = store::listings::ticket(tx, *n)?.into_iter().collect();
            Listing {
                total: tickets.len() as i64,
                tickets,
            }
        }
        Lookup::List(scope) => match list(tx, a, asker, scope)? {
            Ok(listing) => listing,
            Err(why) => {
                s.empty = why;
                Listing::default()
            }
        },
        Lookup::Search(words) => {
            s.kb = store::kb::search(tx, words, 0.0, KB_RESULTS)?
                .into_iter()
                .map(|m| Suggestion {
                    id: m.entry.id,
                    // Agents see drafts, marked (`desk::kb_review`).
                    title: if m.entry.is_approved() {
                        m.entry.title
                    } else {
                        format!("{} (draft)", m.entry.title)
                    },
                    solution: m.entry.solution.chars().take(KB_SOLUTION_CHARS).collect(),
                })
                .collect();
            s.empty = "No tickets or knowledge-base entries match.".into();
            // Ticket ids can never be 0: nothing is excluded.
            let found = store::kb::similar_tickets(tx, words, 0, 0.0, MAX_RESULTS)?;
            let mut tickets = Vec::new();
            for f in found {
                tickets.extend(store::listings::ticket(tx, f.ticket_id)?);
            }
            Listing {
                total: tickets.len() as i64,
                tickets,
            }
        }
    };
    s.more = (listing.total - listing.tickets.len() as i64).max(0);
    for t in listing.tickets {
        s.tickets.push(line(tx, a, t)?);
    }
    Ok(s)
}

/// The tickets of a `/list`, or why there are none to list (an unknown team).
fn list(
    tx: &Connection,
    a: &Answering,
    asker: &str,
    scope: &ListScope,
) -> Result<std::result::Result<Listing, String>> {
    Ok(Ok(match scope {
        ListScope::Mine => {
            // Assignees are stored as the configured address.
            let me = a
                .desk
                .agent(asker)
                .map(|n| n.address.as_str())
                .unwrap_or(asker);
            store::listings::assigned(tx, me, MAX_RESULTS)?
        }
        ListScope::Open => store::listings::with_status(tx, "open", MAX_RESULTS)?,
        ListScope::Waiting => store::listings::with_status(tx, "waiting", MAX_RESULTS)?,
        ListScope::Breached => store::listings::breached(tx, a.now, MAX_RESULTS)?,
        ListScope::Team(name) => match a.desk.team(name) {
            Some(team) => store::listings::of_team(tx, &team.name, MAX_RESULTS)?,
            None => return Ok(Err(format!("There is no team {name:?} in [[desk.teams]]."))),
        },
    }))
}

/// A ticket's line: its state, who holds it, its SLA and its last activity.
fn line(tx: &Connection, a: &Answering, t: ListedTicket) -> Result<LookupLine> {
    let clocks = store::sla_clocks::clocks(tx, t.id)?;
    Ok(LookupLine {
        token: token(&a.desk.token_prefix, t.id),
        holder: match (&t.assignee, &t.team) {
            (Some(who), _) => format!("held by {who}"),
            (None, Some(team)) => format!("team {team}, unassigned"),
            (None, None) => "unassigned".into(),
        },
        sla: sla_summary(&clocks, a.now),
        last_activity: crate::timers::local_time(a.sla, t.updated_at),
        subject: t.subject,
        status: t.status,
        priority: t.priority,
        requester: t.requester,
    })
}
