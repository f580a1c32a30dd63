//! The one writer of a decided outcome: a lifecycle [`Decision`]'s ticket changes, the
//! SLA clocks they move, knowledge-base entries, timeline entries, and the mail it
//! decided, queued per recipient. Replies (ingest) and timer events (auto-close) are
//! written here, in the caller's transaction; the decisions come from `desk`.
//!
//! [`Decision`]: crate::desk::lifecycle::Decision

use std::sync::Arc;

use anyhow::{Context, Result};
use rusqlite::Connection;

use crate::desk::MailKind;
use crate::desk::change_plan::{ChangeNotice, ChangeState};
use crate::desk::lifecycle::{self, Mail};
use crate::desk::relay_files;
use crate::desk::roster::DeskConfig;
use crate::desk::sla::{ClockInputs, SlaPolicy, Target, reconcile};
use crate::desk::status::{Priority, Status};
use crate::inbound::{AttachmentInfo, InboundMessage};
use crate::mail_queue::PendingMail;
use crate::notify::relayed_files::{CarriedFile, carry_files};
use crate::notify::{NoticeExtras, PlanView, Thread, TicketView};
use crate::store;

/// Who caused a decision, for the timeline and the agents' notices.
pub struct Actor<'a> {
    pub address: &'a str,
    pub name: Option<&'a str>,
}

/// Where a decision is written: the transaction, the desk's rules, and the time.
pub struct Applying<'a> {
    pub tx: &'a Connection,
    pub desk: &'a DeskConfig,
    pub sla: &'a SlaPolicy,
    pub now: i64,
    /// `[limits] relay_attachments_bytes`.
    pub relay_attachments_bytes: u64,
}

/// Writes a lifecycle decision for `ticket`: its changes (and the clocks they move),
/// knowledge-base entries, timeline entries and mails, in the caller's transaction.
/// `cause` is the message that caused it (threading of agents' notices), if any.
pub fn apply_decision(
    w: &Applying,
    ticket: i64,
    d: &lifecycle::Decision,
    actor: &Actor,
    cause: Option<&InboundMessage>,
    pending: &mut PendingMail,
) -> Result<()> {
    let Applying { tx, sla, now, .. } = *w;
    if !d.changes.is_empty() {
        store::tickets::apply_changes(tx, ticket, &d.changes, now)?;
    }
    // Status, priority, authorisation and first response all move the clocks.
    sync_clocks(tx, ticket, sla, now)?;
    for change in &d.changes {
        match change {
            lifecycle::Change::Knowledge(draft) => {
                write_kb_entry(tx, ticket, draft, actor.address, now)?
            }
            lifecycle::Change::Satisfaction { rating, comment } => {
                store::satisfaction::record(tx, ticket, *rating, comment, actor.address, now)?
            }
            _ => {}
        }
        // An agent's `/priority`: kept with the rules' triage as a labelled example.
        if let lifecycle::Change::Priority(p) = change {
            store::triage_review::record_override(tx, ticket, *p, actor.address, now)?;
        }
    }
    for (kind, detail) in &d.events {
        store::tickets::add_event(tx, ticket, now, actor.address, kind, detail)?;
    }
    if d.mails.is_empty() {
        return Ok(());
    }
    queue_decision_mail(w, ticket, &d.mails, actor, cause, pending)
}

/// Queues a decision's mails, each to its recipients: agents one mail each,
/// requester-side mail one copy per person on the requester's side.
fn queue_decision_mail(
    w: &Applying,
    ticket: i64,
    mails: &[Mail],
    actor: &Actor,
    cause: Option<&InboundMessage>,
    pending: &mut PendingMail,
) -> Result<()> {
    let Applying { tx, desk, now, .. } = *w;
    let mut view = TicketView::from(
        &store::tickets::get(tx, ticket)?.with_context(|| format!("ticket {ticket} vanished"))?,
    );
    // A ticket stored before participants were capped may list thousands: mail goes to
    // the first `max_participants` only.
    view.participants.truncate(desk.max_participants);
    if mails.iter().any(|m| matches!(m, Mail::AgentNotice { .. })) {
        view.linked = store::ticket_links::linked(tx, ticket)?;
    }
    // Requester-facing mail threads on the requester side's newest message.
    let requester_thread = if mails.iter().any(Mail::to_requester) {
        let mut requester_side: Vec<&str> = vec![view.requester.as_str()];
        requester_side.extend(view.participants.iter().map(String::as_str));
        thread_on_last_from(tx, ticket, &requester_side)?
    } else {
        Thread::default()
    };
    let cause_thread = match cause {
        Some(m) => Thread::reply_to(m.message_id.as_deref(), &m.references),
        None => Thread::default(),
    };
    // The requester and each participant get a copy of their own of requester-facing
    // mail, whose Message-ID is signed for them alone (see notify's `Envelope`).
    let requester_side: Arc<[String]> = std::iter::once(view.requester.clone())
        .chain(view.participants.iter().cloned())
        .collect();
    let files = cause_files(w, ticket, &view, cause)?;
    let view = Arc::new(view);
    let author: Option<String> = actor.name.or(Some(actor.address)).map(String::from);
    for mail in mails {
        let (view, requester_thread) = (view.clone(), requester_thread.clone());
        let copies = requester_side.iter().cloned();
        let carried = files.carried_by(mail);
        match mail.clone() {
            Mail::AgentNotice { to, notice, text } => {
                let text = carried.text(text);
                let inline_images = carried.inline_images();
                if !to.is_empty() {
                    let (view, thread) = (view.clone(), cause_thread.clone());
                    let author = author.clone();
                    let carried = carried.files.clone();
                    let extras = NoticeExtras {
                        inline_images,
                        ..NoticeExtras::default()
                    };
                    pending.push_each(ticket, MailKind::AgentNotice, move |r| {
                        let mails = r.agent_notices(
                            &view,
                            &to,
                            notice,
                            author.as_deref(),
                            &text,
                            &extras,
                            &thread,
                            now,
                        )?;
                        mails
                            .into_iter()
                            .map(|m| carry_files(m, &carried))
                            .collect()
                    });
                }
            }
            Mail::Relay { agent_name, text } => {
                let (agent_name, text) = (Arc::new(agent_name), Arc::new(carried.text(text)));
                for to in copies {
                    let (view, thread) = (view.clone(), requester_thread.clone());
                    let (agent_name, text) = (agent_name.clone(), text.clone());
                    let carried = carried.files.clone();
                    pending.push(ticket, MailKind::Relay, move |r| {
                        let mail = r.relay(&view, &to, &agent_name, &text, &thread, now)?;
                        carry_files(mail, &carried)
                    });
                }
            }
            Mail::StatusChange(status) => {
                for to in copies {
                    let (view, thread) = (view.clone(), requester_thread.clone());
                    pending.push(ticket, MailKind::Status, move |r| {
                        r.status_change(&view, &to, status, &thread, now)
                    });
                }
            }
            Mail::AuthorizationRequest { what, again } => {
                queue_authorization(w, ticket, view, (what, again), requester_thread, pending)?
            }
            Mail::ChangeNotice { to, notice, text } => {
                queue_change_notice(w, ticket, &view, (to, notice, text), &author, pending)?
            }
            Mail::ConfirmationRequest { summary } => {
                let summary = Arc::new(summary);
                for to in copies {
                    let (view, thread, summary) =
                        (view.clone(), requester_thread.clone(), summary.clone());
                    pending.push(ticket, MailKind::ConfirmationRequest, move |r| {
                        r.confirmation_request(&view, &to, &summary, &thread, now)
                    });
                }
            }
            Mail::Closing { auto } => {
                for to in copies {
                    let (view, thread) = (view.clone(), requester_thread.clone());
                    pending.push(ticket, MailKind::Closing, move |r| {
                        r.closing(&view, &to, auto, &thread, now)
                    });
                }
            }
            Mail::Merged { into } => {
                for to in copies {
                    let (view, thread) = (view.clone(), requester_thread.clone());
                    pending.push(ticket, MailKind::Merged, move |r| {
                        r.merged(&view, &to, into, &thread, now)
                    });
                }
            }
            Mail::MergedHere { survivor } => {
                queue_merged_here(w, survivor, ticket, &requester_side, pending)?
            }
            Mail::CommandError { to, errors } => {
                let thread = cause_thread.clone();
                pending.push(ticket, MailKind::CommandError, move |r| {
                    r.command_error(&view, &to, &errors, &thread, now)
                })
            }
        }
    }
    Ok(())
}

/// Asks the requester to authorise `what`; an approved change plan
/// (`desk::change_review`) is stated in the mail: change, risk, backup, window.
fn queue_authorization(
    w: &Applying,
    ticket: i64,
    view: Arc<TicketView>,
    (what, again): (String, bool),
    thread: Thread,
    pending: &mut PendingMail,
) -> Result<()> {
    let plan = store::changes::get(w.tx, ticket)?
        .filter(|p| p.state == ChangeState::Approved)
        .map(|p| PlanView::of(&p, w.desk.change.tz));
    let now = w.now;
    pending.push(ticket, MailKind::AuthorizationRequest, move |r| {
        r.authorization_request(&view, &what, again, plan.as_ref(), &thread, now)
    });
    Ok(())
}

/// Queues a change-review notice to each of its recipients, with the ticket's plan as
/// it stands after the decision's changes.
fn queue_change_notice(
    w: &Applying,
    ticket: i64,
    view: &Arc<TicketView>,
    (to, notice, text): (Vec<String>, ChangeNotice, String),
    author: &Option<String>,
    pending: &mut PendingMail,
) -> Result<()> {
    let Some(plan) = store::changes::get(w.tx, ticket)? else {
        return Ok(());
    };
    let plan = Arc::new(PlanView::of(&plan, w.desk.change.tz));
    let text = Arc::new(text);
    let now = w.now;
    for agent in to {
        let (view, plan, text, author) = (view.clone(), plan.clone(), text.clone(), author.clone());
        pending.push(ticket, MailKind::ChangeNotice, move |r| {
            r.change_notice(&view, &agent, notice, author.as_deref(), &plan, &text, now)
        });
    }
    Ok(())
}

/// Tells the requester of `survivor` that `merged` joined their ticket, threaded on
/// their newest message there. Not when they were on the merged ticket's requester
/// side themselves: the merge notice told them already.
fn queue_merged_here(
    w: &Applying,
    survivor: i64,
    merged: i64,
    told: &[String],
    pending: &mut PendingMail,
) -> Result<()> {
    let Applying { tx, now, .. } = *w;
    let view = TicketView::from(
        &store::tickets::get(tx, survivor)?
            .with_context(|| format!("ticket {survivor} vanished"))?,
    );
    if told.iter().any(|t| t.eq_ignore_ascii_case(&view.requester)) {
        return Ok(());
    }
    let thread = thread_on_last_from(tx, survivor, &[view.requester.as_str()])?;
    pending.push(survivor, MailKind::MergedHere, move |r| {
        r.merged_here(&view, merged, &thread, now)
    });
    Ok(())
}

/// Requester-facing mail threads on the newest message from `senders` on `ticket`
/// (none yet: a thread of its own).
fn thread_on_last_from(tx: &Connection, ticket: i64, senders: &[&str]) -> Result<Thread> {
    Ok(match store::messages::last_from(tx, ticket, senders)? {
        Some((id, refs)) => Thread::reply_to(Some(&id), &refs),
        None => Thread::default(),
    })
}

/// The files of the message that caused a decision, as its mails carry them (see
/// `desk::relay_files`): the ones attached, and the lines that list the others.
#[derive(Default)]
pub struct CauseFiles {
    pub files: Arc<[CarriedFile]>,
    /// The list of withheld files as agents read it.
    withheld: String,
    /// The same list for the requester's side, in their language.
    withheld_for_requester: String,
}

/// Where a ticket's withheld files are listed: its token, the requester's language,
/// and the dashboard (`[http] public_url`) when it is on.
pub struct FileListing<'a> {
    pub token: &'a str,
    pub language: &'a str,
    pub dashboard_url: Option<&'a str>,
}

impl CauseFiles {
    /// Decides which of `msg`'s files a mail carries and lists the rest; `before` is
    /// how many files the ticket's earlier messages brought (the ticket numbers them).
    pub fn decide(
        msg: &InboundMessage,
        listing: &FileListing,
        limit: u64,
        before: usize,
    ) -> CauseFiles {
        if msg.attachments.is_empty() {
            return CauseFiles::default();
        }
        let plans = relay_files::plan(&msg.attachments, limit);
        let lines = |readers| {
            relay_files::withheld_lines(listing.token, &msg.attachments, &plans, before, readers)
        };
        let withheld = lines(relay_files::Readers::Staff {
            dashboard_url: listing.dashboard_url,
        });
        let withheld_for_requester = lines(relay_files::Readers::Requester {
            language: listing.language,
        });
        let files = plans
            .iter()
            .filter(|p| p.carry == relay_files::Carry::Attach)
            .filter_map(|p| msg.attachments.get(p.n.wrapping_sub(1)))
            .map(carried_file)
            .collect();
        CauseFiles {
            files,
            withheld,
            withheld_for_requester,
        }
    }

    /// What `mail` carries: all of it if it is a mail that carries files, else
    /// nothing; the list of withheld files written for the mail's readers.
    fn carried_by(&self, mail: &Mail) -> CauseFiles {
        if !relay_files::carries_files(mail) {
            return CauseFiles::default();
        }
        let withheld = if mail.to_requester() {
            &self.withheld_for_requester
        } else {
            &self.withheld
        };
        CauseFiles {
            files: self.files.clone(),
            withheld: withheld.clone(),
            withheld_for_requester: String::new(),
        }
    }

    /// Content-IDs of the inline images carried, for the notice's HTML.
    pub fn inline_images(&self) -> Vec<String> {
        self.files
            .iter()
            .filter(|f| f.inline)
            .filter_map(|f| f.content_id.clone())
            .collect()
    }

    /// The mail's text, with the list of withheld files after it.
    pub fn text(&self, text: String) -> String {
        if self.withheld.is_empty() {
            text
        } else {
            format!("{}\n\n{}", text.trim_end(), self.withheld)
        }
    }
}

/// Decides which of the cause's files its mails carry, and lists the rest.
fn cause_files(
    w: &Applying,
    ticket: i64,
    view: &TicketView,
    cause: Option<&InboundMessage>,
) -> Result<CauseFiles> {
    let Some(msg) = cause.filter(|m| !m.attachments.is_empty()) else {
        return Ok(CauseFiles::default());
    };
    // The cause is the ticket's newest message: its files are numbered last.
    let before = usize::try_from(store::file_blobs::count_for_ticket(w.tx, ticket)?)
        .unwrap_or(0)
        .saturating_sub(msg.attachments.len());
    let token = crate::desk::threading::token(&w.desk.token_prefix, view.id);
    let listing = FileListing {
        token: &token,
        language: &view.language,
        dashboard_url: w.desk.dashboard_url.as_deref(),
    };
    Ok(CauseFiles::decide(
        msg,
        &listing,
        w.relay_attachments_bytes,
        before,
    ))
}

/// A received file as outgoing mail carries it.
pub fn carried_file(f: &AttachmentInfo) -> CarriedFile {
    CarriedFile {
        sha256: f.sha256.clone(),
        name: f.name.clone(),
        content_type: f.content_type.clone(),
        content_id: f.content_id.clone(),
        inline: f.inline,
    }
}

/// Brings a ticket's clocks in line with its state. Cheap when nothing changed.
pub fn sync_clocks(tx: &Connection, ticket: i64, policy: &SlaPolicy, now: i64) -> Result<()> {
    let Some(row) = store::sla_clocks::ticket_clock_row(tx, ticket)? else {
        return Ok(());
    };
    let status: Status = row.status.parse().unwrap_or(Status::Open);
    let priority: Priority = row.priority.parse().unwrap_or(Priority::P3);
    let inputs = ClockInputs {
        priority,
        created_at: row.created_at,
        first_response_at: row.first_response_at,
        done: matches!(status, Status::Resolved | Status::Closed),
        // A merged ticket's clocks stop (paused, not met): its work goes on in the
        // ticket it was merged into, whose clocks keep running.
        waiting_on_requester: status == Status::Waiting
            || row.authorization_pending
            || store::ticket_links::merged_into(tx, ticket)?.is_some(),
    };
    let stored = store::sla_clocks::clocks(tx, ticket)?;
    for target in Target::ALL {
        let old = stored.iter().find(|c| c.target == target);
        let next = reconcile(old, target, &inputs, policy, now);
        if old != Some(&next) {
            store::sla_clocks::save(tx, ticket, &next)?;
        }
    }
    Ok(())
}

/// Creates or updates the ticket's knowledge-base entry from an agent's draft; an
/// empty problem is filled from the ticket's subject and request.
fn write_kb_entry(
    tx: &Connection,
    ticket: i64,
    draft: &lifecycle::KbDraft,
    author: &str,
    now: i64,
) -> Result<()> {
    let row =
        store::tickets::get(tx, ticket)?.with_context(|| format!("ticket {ticket} vanished"))?;
    let request = store::messages::list_for_ticket(tx, ticket)?
        .into_iter()
        .next()
        .map(|m| m.visible_text.unwrap_or(m.text_body))
        .unwrap_or_default();
    let problem = if draft.problem.is_empty() {
        format!("{}\n\n{}", row.subject, excerpt_chars(request.trim(), 1500))
    } else {
        draft.problem.clone()
    };
    let id = store::kb::upsert_for_ticket(
        tx,
        &store::kb::NewKbEntry {
            ticket_id: Some(ticket),
            title: &row.subject,
            problem: &problem,
            cause: &draft.cause,
            steps: &draft.steps,
            solution: &draft.solution,
            language: &row.language,
            author,
            at: now,
        },
    )?;
    if !draft.lessons.is_empty() {
        store::kb::set_lessons(tx, id, &draft.lessons)?;
    }
    Ok(())
}

/// The first `n` characters of `text` (at a character boundary).
pub fn excerpt_chars(text: &str, n: usize) -> &str {
    match text.char_indices().nth(n) {
        Some((i, _)) => &text[..i],
        None => text,
    }
}
