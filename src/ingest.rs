//! Ingest: one batch of fetched mail becomes one SQLite transaction.
//!
//! For each message, in order: parse (on a blocking thread, panic-isolated), drop it if
//! its identity is already stored, look up its thread, let the desk decide, then store
//! the message, the ticket change, the timeline events and the rendered
//! acknowledgement in the outbox. The batch's mailbox checkpoint commits in the same
//! transaction, so after a crash the batch is either wholly there or wholly fetched
//! again (and then dropped as repeats where it was). Rendering and queueing the mail
//! decided is `mail_queue`'s.

use std::sync::Arc;

use anyhow::{Context, Result};
use rusqlite::Connection;
use sha2::{Digest, Sha256};
use tracing::{debug, info, warn};

use crate::behalf_opening;
use crate::config::StrangerPolicy;
use crate::desk::arrival::StaffMail;
use crate::desk::follow_up::{
    FollowUp, FollowUpFacts, FollowUpRules, HeldReply, LastRelay, decide_follow_up,
};
use crate::desk::intake::{self, FactFinding, IntakeRules};
use crate::desk::language;
use crate::desk::lifecycle::{self, Author};
use crate::desk::lookup::LookupOutcome;
use crate::desk::merge::{CommandFacts, KbSolution, NamedTicket};
use crate::desk::quick_actions;
use crate::desk::roster::DeskConfig;
use crate::desk::staff_proof::SignedId;
use crate::desk::triage::{self, Triage, TriageConfig};
use crate::desk::{self, MailKind, MessageKind, Placement, ThreadFacts, ThreadedBy, threading};
use crate::inbound::{self, InboundMessage, ParseFailure};
use crate::lookup_answer;
use crate::mail_packing::QuotedRequest;
use crate::mail_queue::{PARALLEL_RENDER_MIN, PendingMail, Queued, RenderAhead};
use crate::mailbox::Checkpoint;
use crate::notify::relayed_files::carry_files;
use crate::notify::{
    FactLine, Intake, NoticeExtras, Renderer, SimilarLine, Suggestion, Thread, TicketView,
};
use crate::store;
use crate::ticket_writer::{
    Actor, Applying, CauseFiles, FileListing, apply_decision, excerpt_chars, sync_clocks,
};

/// Deliberate faults for tests (set by `TICKETPOST_FAULT`, read in main): the process
/// aborts at the named point, as a `kill -9` would stop it, or a mail handler panics,
/// as a bug would make it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Faults {
    /// Abort inside a batch's transaction after this many messages were written.
    pub abort_in_batch_after: Option<usize>,
    /// Abort right after this many batches committed (before the mailbox is told and
    /// before anything is sent).
    pub abort_after_commits: Option<usize>,
    /// Panic while the intake rules assess the message at this index of a batch.
    pub panic_assessing: Option<usize>,
    /// Panic while the message at this index of a batch is being stored.
    pub panic_storing: Option<usize>,
    /// The first N group commits of the LMTP listener fail, as a store that cannot
    /// write would make them (`mailbox::lmtp` answers 451 and the MTA retries).
    pub store_fails: Option<usize>,
}

impl Faults {
    /// Parses `in-batch:N`, `after-commit:N`, `panic-assessing:N`, `panic-storing:N` or
    /// `store-fails:N`.
    pub fn parse(spec: &str) -> Result<Faults> {
        let (what, n) = spec.split_once(':').context(
            "TICKETPOST_FAULT must look like in-batch:N, after-commit:N, panic-assessing:N, panic-storing:N or store-fails:N",
        )?;
        let n: usize = n.parse().context("TICKETPOST_FAULT: N must be a number")?;
        match what {
            "in-batch" => Ok(Faults {
                abort_in_batch_after: Some(n),
                ..Faults::default()
            }),
            "after-commit" => Ok(Faults {
                abort_after_commits: Some(n),
                ..Faults::default()
            }),
            "panic-assessing" => Ok(Faults {
                panic_assessing: Some(n),
                ..Faults::default()
            }),
            "panic-storing" => Ok(Faults {
                panic_storing: Some(n),
                ..Faults::default()
            }),
            "store-fails" => Ok(Faults {
                store_fails: Some(n),
                ..Faults::default()
            }),
            _ => anyhow::bail!("TICKETPOST_FAULT: unknown fault {what:?}"),
        }
    }
}

/// What a batch did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct BatchSummary {
    pub messages: usize,
    pub new_tickets: usize,
    pub follow_ups: usize,
    pub duplicates: usize,
    pub acknowledgements: usize,
    pub unfiled: usize,
    pub quarantined: usize,
    /// Every mail queued (acknowledgements, notices, relays, status mails).
    pub mails: usize,
    /// SLA alert levels fired (each may mail several people).
    pub sla_alerts: usize,
}

impl BatchSummary {
    /// Counts the mails a flush queued.
    pub fn count_queued(&mut self, q: Queued) {
        self.mails += q.mails;
        self.acknowledgements += q.acknowledgements;
    }

    pub fn add(&mut self, o: &BatchSummary) {
        self.messages += o.messages;
        self.new_tickets += o.new_tickets;
        self.follow_ups += o.follow_ups;
        self.duplicates += o.duplicates;
        self.acknowledgements += o.acknowledgements;
        self.unfiled += o.unfiled;
        self.quarantined += o.quarantined;
        self.sla_alerts += o.sla_alerts;
        self.mails += o.mails;
    }
}

/// What intake reads from a message before it is stored: pure work, done with the
/// parsing, off the store's writer.
#[derive(Debug, Clone)]
pub struct Assessment {
    /// "en" or "zh".
    pub language: &'static str,
    /// Intake facts present in the request (or, for a reply, in what its author wrote).
    pub facts: Vec<FactFinding>,
    /// The priority the request would get as a new ticket, and why.
    pub triage: Triage,
}

/// A parsed message with its assessment, ready for [`apply_batch`].
#[derive(Debug, Clone)]
pub struct Parsed {
    pub msg: InboundMessage,
    pub assessment: Assessment,
}

/// What the intake rules find in a message: its language, facts and triage.
fn assessment(msg: &InboundMessage, rules: &IntakeRules, triage_cfg: &TriageConfig) -> Assessment {
    let text = msg.visible_text();
    let attachments: Vec<&str> = msg
        .attachments
        .iter()
        .filter_map(|a| a.name.as_deref())
        .collect();
    let sender = msg
        .from
        .as_ref()
        .map(|a| a.email.as_str())
        .unwrap_or_default();
    Assessment {
        language: language::detect_language(&msg.subject, text),
        facts: intake::find_facts(rules, &msg.subject, text, &attachments),
        triage: triage::triage(rules, triage_cfg, sender, &msg.subject, text),
    }
}

/// Parses and assesses a batch. CPU work: call it from a blocking thread. A panic while
/// assessing a message (a bug) sends that message to the quarantine with its raw
/// bytes; the rest of the batch goes on.
pub fn parse_batch(raws: Vec<Vec<u8>>, cx: &IngestContext) -> Vec<Result<Parsed, ParseFailure>> {
    raws.into_iter()
        .enumerate()
        .map(|(i, raw)| {
            let msg = inbound::parse_with(raw, &cx.limits.parse)?;
            let assessed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                if cx.faults.panic_assessing == Some(i) {
                    panic!("fault injection: panic while assessing message {i} of the batch");
                }
                assessment(&msg, cx.intake, &cx.desk.triage)
            }));
            match assessed {
                Ok(assessment) => Ok(Parsed { msg, assessment }),
                Err(_) => Err(ParseFailure {
                    reason: "the intake rules panicked on this message (a bug); retry it after an upgrade with `quarantine retry`".into(),
                    raw: msg.raw,
                }),
            }
        })
        .collect()
}

/// Everything `apply_batch` needs besides the connection; shared with the writer thread.
#[derive(Clone)]
pub struct IngestContext {
    pub desk: DeskConfig,
    pub kb: crate::config::KbConfig,
    pub intake: &'static IntakeRules,
    pub sla: crate::desk::sla::SlaPolicy,
    pub security: crate::config::SecurityConfig,
    pub limits: crate::config::LimitsConfig,
    /// The key our Message-IDs are signed with (staff replies are checked against it).
    pub staff_key: crate::desk::staff_proof::StaffKey,
    pub renderer: Arc<Renderer>,
    /// The mailbox state key (for the checkpoint and quarantine rows).
    pub source: String,
    /// The mailbox folder read ("INBOX" for a plain Maildir or an import), for routing.
    pub folder: String,
    pub faults: Faults,
    /// False for imports of existing mail: messages are stored and tickets opened, but
    /// no mail (acknowledgement, notice, alert) is queued for them.
    pub send_mail: bool,
}

/// Tickets indexed per transaction (and per writer job) when the index catches up.
pub const INDEX_CHUNK: usize = 500;

/// Brings the similar-tickets index up to date, one transaction per chunk. Returns
/// how many tickets it indexed. The service does the same chunk by chunk between
/// other writer jobs (`service`); this is for callers that own the connection.
pub fn index_waiting_tickets(conn: &mut Connection) -> Result<usize> {
    let mut total = 0;
    loop {
        let n = store::kb::index_queued(conn, INDEX_CHUNK)
            .context("cannot update the similar-tickets index")?;
        total += n;
        if n < INDEX_CHUNK {
            return Ok(total);
        }
    }
}

/// Applies a parsed batch in one transaction, with the batch's checkpoint.
///
/// First without a savepoint per message: journalling every page a message touches,
/// only to undo it when the message cannot be stored, took a sixth of the writer's
/// time. If a message then fails (or its storing panics), the batch is rolled back and
/// stored again with a savepoint per message, so that the one message is rolled back
/// alone and quarantined while the rest is stored.
pub fn apply_batch(
    conn: &mut Connection,
    cx: &IngestContext,
    parsed: Vec<Result<Parsed, ParseFailure>>,
    checkpoint: Option<Checkpoint>,
    now: i64,
) -> Result<BatchSummary> {
    match try_batch(conn, cx, &parsed, checkpoint, now, Care::Optimistic) {
        Err(e) if e.is::<NeedsSavepoints>() => {
            debug!(
                "a message of the batch cannot be stored: storing the batch again, message by message"
            );
            try_batch(conn, cx, &parsed, checkpoint, now, Care::SavepointEach)
        }
        other => other,
    }
}

/// How a batch is stored: see [`apply_batch`].
#[derive(Clone, Copy, PartialEq, Eq)]
enum Care {
    Optimistic,
    SavepointEach,
}

/// A message of an optimistic batch could not be stored: store it with savepoints.
#[derive(Debug)]
struct NeedsSavepoints;

impl std::fmt::Display for NeedsSavepoints {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a message of the batch cannot be stored")
    }
}

impl std::error::Error for NeedsSavepoints {}

fn try_batch(
    conn: &mut Connection,
    cx: &IngestContext,
    parsed: &[Result<Parsed, ParseFailure>],
    checkpoint: Option<Checkpoint>,
    now: i64,
    care: Care,
) -> Result<BatchSummary> {
    let mut tx = conn
        .transaction()
        .context("cannot begin the batch transaction")?;
    // A large batch's mails are rendered on a worker thread while the writer stores the
    // next messages; a small one's on the writer, at the end.
    let render_ahead = cx.send_mail && parsed.len() >= PARALLEL_RENDER_MIN;
    let (summary, quarantined) = std::thread::scope(|scope| {
        let mut ahead = render_ahead.then(|| RenderAhead::start(scope, &cx.renderer));
        let stored = store_batch(&mut tx, cx, parsed, now, care, ahead.as_mut());
        match (stored, ahead) {
            (Ok((mut summary, quarantined)), Some(ahead)) => {
                summary.count_queued(ahead.finish(&tx, &cx.renderer, now)?);
                Ok((summary, quarantined))
            }
            (Err(e), Some(ahead)) => {
                ahead.cancel();
                Err(e)
            }
            (stored, None) => stored,
        }
    })?;
    if let Some(c) = checkpoint {
        store::mailbox_state::save(&tx, &cx.source, c, now)?;
    }
    tx.commit().context("cannot commit the batch")?;
    for (reason, hash) in quarantined {
        warn!(reason = %reason, sha256 = %hash, "message quarantined with its raw bytes");
    }
    Ok(summary)
}

/// Stores each message of a batch in `tx` (with `Care::SavepointEach`, each in its own
/// savepoint) and queues the mail decided for it: rendered by `ahead` when given, else
/// on this thread at the end. Also returns the reason and hash of each message
/// quarantined, to be logged once the batch is committed.
fn store_batch(
    tx: &mut rusqlite::Transaction<'_>,
    cx: &IngestContext,
    parsed: &[Result<Parsed, ParseFailure>],
    now: i64,
    care: Care,
    mut ahead: Option<&mut RenderAhead<'_>>,
) -> Result<(BatchSummary, Vec<(String, String)>)> {
    let mut summary = BatchSummary::default();
    let mut quarantined = Vec::new();
    let mut pending = PendingMail::default();
    for (written, item) in parsed.iter().enumerate() {
        // Mail already rendered is queued between messages, outside their savepoints.
        if let Some(ahead) = ahead.as_deref_mut() {
            let queued = ahead.queue_ready(tx, &cx.renderer, now)?;
            summary.count_queued(queued);
        }
        if cx.faults.abort_in_batch_after == Some(written) {
            warn!("fault injection: aborting inside a batch transaction");
            std::process::abort();
        }
        summary.messages += 1;
        let (reason, raw) = match item {
            Err(failure) => (failure.reason.clone(), &failure.raw),
            Ok(Parsed { msg, assessment }) => {
                let store = |conn: &Connection,
                             summary: &mut BatchSummary,
                             pending: &mut PendingMail| {
                    // A panic while storing (a bug) is handled like any other message
                    // that cannot be stored: rolled back alone and quarantined.
                    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                            if cx.faults.panic_storing == Some(written) {
                                panic!(
                                    "fault injection: panic while storing message {written} of the batch"
                                );
                            }
                            apply_message(conn, cx, msg, assessment, now, summary, pending)
                        }))
                        .unwrap_or_else(|_| Err(anyhow::anyhow!("storing it panicked (a bug)")))
                };
                let environmental =
                    |e: anyhow::Error| e.context(format!("storing message {}", msg.identity()));
                match care {
                    Care::Optimistic => match store(tx, &mut summary, &mut pending) {
                        Ok(()) => {
                            if let Some(ahead) = ahead.as_deref_mut() {
                                ahead.submit(&mut pending)?;
                            }
                            continue;
                        }
                        Err(e) if is_environmental(&e) => return Err(environmental(e)),
                        Err(e) => return Err(e.context(NeedsSavepoints)),
                    },
                    Care::SavepointEach => {
                        // Each message in its own savepoint: a message that cannot be
                        // stored is rolled back alone and quarantined, instead of
                        // blocking the mailbox by failing its batch forever.
                        let before = summary;
                        let mark = pending.mark();
                        let savepoint = tx.savepoint()?;
                        match store(&savepoint, &mut summary, &mut pending) {
                            Ok(()) => {
                                savepoint.commit()?;
                                if let Some(ahead) = ahead.as_deref_mut() {
                                    ahead.submit(&mut pending)?;
                                }
                                continue;
                            }
                            Err(e) if is_environmental(&e) => return Err(environmental(e)),
                            Err(e) => {
                                drop(savepoint);
                                summary = before;
                                pending.rollback(mark);
                                (format!("cannot be stored: {e:#}"), &msg.raw)
                            }
                        }
                    }
                }
            }
        };
        let hash = hex::encode(Sha256::digest(raw));
        store::messages::quarantine(tx, &cx.source, &hash, &reason, raw, now)?;
        quarantined.push((reason, hash));
        summary.quarantined += 1;
    }
    // An import (`send_mail` false) drops the mail decided for its messages unsent.
    if cx.send_mail {
        summary.count_queued(pending.flush(tx, &cx.renderer, now)?);
    }
    Ok((summary, quarantined))
}

/// Errors of the environment (disk full, read-only or unreachable store) rather than
/// of the message: they fail the whole batch, which is retried later, and nothing is
/// marked done in the mailbox.
fn is_environmental(e: &anyhow::Error) -> bool {
    use rusqlite::ErrorCode::*;
    e.chain()
        .any(|cause| match cause.downcast_ref::<rusqlite::Error>() {
            Some(rusqlite::Error::SqliteFailure(f, _)) => matches!(
                f.code,
                DiskFull
                    | SystemIoFailure
                    | ReadOnly
                    | DatabaseBusy
                    | DatabaseLocked
                    | CannotOpen
                    | OutOfMemory
                    | FileLockingProtocolFailed
                    | DatabaseCorrupt
                    | NotADatabase
            ),
            _ => false,
        })
}

fn apply_message(
    tx: &Connection,
    cx: &IngestContext,
    msg: &InboundMessage,
    assessment: &Assessment,
    now: i64,
    summary: &mut BatchSummary,
    pending: &mut PendingMail,
) -> Result<()> {
    let Some(identity) = new_identity(tx, msg, summary)? else {
        return Ok(());
    };
    let own: Vec<&str> = cx.desk.own_addresses().collect();
    let automatic = inbound::classify(msg, &own);
    let facts = thread_facts(tx, cx, msg, &identity, automatic.as_ref())?;
    let decision = desk::decide_intake(msg, automatic.as_ref(), facts, &own);
    let sender = msg
        .from
        .as_ref()
        .map(|a| a.email.as_str())
        .unwrap_or("(unknown sender)");
    let automatic_reason = automatic.as_ref().map(|v| v.reason.as_str());
    let visible = msg.visible_text();
    let record = |ticket: Option<i64>, kind: MessageKind| -> Result<i64> {
        let row = store::messages::insert(
            tx,
            &store::messages::NewMessage {
                msg,
                identity: &identity,
                ticket,
                kind: kind.as_str(),
                automatic: automatic_reason,
                visible_text: visible,
                at: now,
            },
        )?;
        if let (Some(id), Some(ticket)) = (&msg.message_id, ticket) {
            store::messages::record_id(tx, id, ticket, false)?;
        }
        if !msg.attachments.is_empty() {
            store::file_blobs::store_for_message(tx, row, &msg.attachments)?;
        }
        Ok(row)
    };
    let m = Arriving {
        tx,
        cx,
        msg,
        stored: msg,
        assessment,
        identity: &identity,
        automatic: automatic.as_ref(),
        sender,
        now,
    };
    match decision.placement.clone() {
        Placement::FollowUp { ticket, by } => {
            follow_up(&m, &decision, (ticket, by), &record, summary, pending)
        }
        Placement::NewTicket {
            requester,
            requester_name,
            subject,
        } => {
            if let Some(outcome) = lookup_outcome(&m)? {
                return lookup(&m, outcome, &record, summary);
            }
            if let Some(behalf) = behalf_outcome(&m) {
                // Opened on someone's behalf: the request is the original's, the
                // acknowledgement goes to its sender.
                let request = behalf_opening::request_of(msg, &behalf);
                let m = Arriving { msg: &request, ..m };
                let opening = Opening::on_behalf(behalf);
                return open_ticket(&m, &decision, opening, &record, summary, pending);
            }
            let opening = Opening {
                requester,
                requester_name,
                subject,
                linked_ticket: None,
                redirected: false,
                behalf: None,
            };
            open_ticket(&m, &decision, opening, &record, summary, pending)
        }
        Placement::Unfiled => {
            record(None, decision.kind)?;
            info!(message_id = %identity, reason = ?decision.no_ack_reason, "message stored without a ticket");
            summary.unfiled += 1;
            Ok(())
        }
    }
}

/// Whether a new mail is an agent's look-up, as `desk::lookup` decides it from the
/// mail's text and the proof of its sender.
fn lookup_outcome(m: &Arriving) -> Result<Option<LookupOutcome>> {
    let Arriving {
        cx,
        msg,
        sender,
        automatic,
        ..
    } = *m;
    let staff = cx.desk.is_staff(sender);
    let proven = staff && cx.security.verify_staff && staff_mail_verified(cx, msg, sender, None);
    // Only a look-up that is not proven needs its sender's recent unverified ones.
    let unverified_lately = if staff && cx.security.verify_staff && !proven {
        store::messages::unfiled_from_since(
            m.tx,
            sender,
            MessageKind::Unverified.as_str(),
            m.now - 3_600,
        )?
    } else {
        0
    };
    let facts = desk::lookup::LookupFacts {
        text: msg.visible_text(),
        staff,
        automatic: automatic.is_some(),
        proven,
        verify_staff: cx.security.verify_staff,
        unverified_lately,
    };
    Ok(desk::lookup::decide_lookup(facts, &cx.desk.token_prefix))
}

/// A look-up: stored without a ticket and answered to its sender alone, or, when it
/// did not prove its sender, stored as unverified, nothing answered, the agents warned.
/// No ticket is opened either way.
fn lookup(
    m: &Arriving,
    outcome: LookupOutcome,
    record: &Record,
    summary: &mut BatchSummary,
) -> Result<()> {
    let Arriving {
        tx,
        cx,
        msg,
        sender,
        now,
        ..
    } = *m;
    let a = lookup_answer::Answering {
        desk: &cx.desk,
        sla: &cx.sla,
        renderer: &cx.renderer,
        now,
    };
    summary.unfiled += 1;
    match outcome {
        LookupOutcome::Answer(request) => {
            record(None, MessageKind::Lookup)?;
            info!(message_id = %m.identity, sender = %sender, "look-up: answered to its sender alone, no ticket opened");
            if cx.send_mail {
                let thread = Thread::reply_to(msg.message_id.as_deref(), &msg.references);
                if lookup_answer::answer(tx, &a, sender, &request, &thread)? {
                    summary.mails += 1;
                }
            }
        }
        LookupOutcome::Unverified { warn } => {
            record(None, MessageKind::Unverified)?;
            warn!(message_id = %m.identity, sender = %sender, agents_warned = warn, "look-up in a staff member's name did not prove its sender: not answered");
            if cx.send_mail && warn {
                summary.mails +=
                    lookup_answer::warn_unverified(tx, &a, sender, msg.visible_text())?;
            }
        }
    }
    Ok(())
}

/// Whether a new mail is a staff member's forward or `/new`, opening a ticket on
/// someone's behalf, as `desk::forwarded` decides it from the mail's text, its attached
/// original and the proof of its sender. An unproven one is an ordinary request.
fn behalf_outcome(m: &Arriving) -> Option<desk::forwarded::Behalf> {
    let Arriving {
        cx,
        msg,
        sender,
        automatic,
        ..
    } = *m;
    let staff = cx.desk.is_staff(sender);
    if !staff || automatic.is_some() {
        return None;
    }
    let proven = cx.security.verify_staff && staff_mail_verified(cx, msg, sender, None);
    let attached = msg
        .attachments
        .iter()
        .any(|a| a.content_type == "message/rfc822")
        .then(|| inbound::attached::attached_original(&msg.raw))
        .flatten();
    let facts = desk::forwarded::BehalfFacts {
        text: &msg.text_body,
        subject: &msg.subject,
        sender,
        staff,
        automatic: false,
        proven,
        verify_staff: cx.security.verify_staff,
        attached: attached.as_ref(),
    };
    let behalf = desk::forwarded::decide_behalf(&facts, &cx.desk);
    if behalf.is_none() && cx.security.verify_staff && !proven {
        let check = desk::forwarded::BehalfFacts {
            proven: true,
            ..facts
        };
        if desk::forwarded::decide_behalf(&check, &cx.desk).is_some() {
            warn!(message_id = %m.identity, sender = %sender, "a forward or /new in a staff member's name did not prove its sender: an ordinary request of its sender");
        }
    }
    behalf
}

/// The identity `msg` is stored under, or `None` when it is stored already (counted
/// as a duplicate). A different message that reuses a stored Message-ID (broken
/// clients do) is kept under an identity derived from its content.
fn new_identity(
    tx: &Connection,
    msg: &InboundMessage,
    summary: &mut BatchSummary,
) -> Result<Option<String>> {
    let identity = msg.identity();
    let Some(known) = store::messages::find_by_identity(tx, &identity)? else {
        return Ok(Some(identity));
    };
    if known.content_hash == msg.content_hash {
        debug!(identity = %identity, "already stored; dropped");
        summary.duplicates += 1;
        return Ok(None);
    }
    let derived = format!(
        "{identity}#{}",
        &msg.content_hash[..16.min(msg.content_hash.len())]
    );
    if store::messages::find_by_identity(tx, &derived)?.is_some() {
        summary.duplicates += 1;
        return Ok(None);
    }
    warn!(message_id = %identity, kept_as = %derived, "Message-ID reused with different content; kept as a separate message");
    Ok(Some(derived))
}

/// What the store knows about the message's thread: the ticket its subject token
/// names, and the ticket of the first id of its thread we know.
fn thread_facts(
    tx: &Connection,
    cx: &IngestContext,
    msg: &InboundMessage,
    identity: &str,
    automatic: Option<&inbound::AutomaticVerdict>,
) -> Result<ThreadFacts> {
    // A merged ticket's mail goes to the last ticket of its merge chain.
    let token_ticket = match threading::token_in_subject(&msg.subject, &cx.desk.token_prefix) {
        Some(n) if store::tickets::exists(tx, n)? => Some(survivor(tx, n)?),
        _ => None,
    };
    // A message whose own id we know (our own mail coming back) belongs where that id
    // does; a different message that merely reuses an id (kept under a derived
    // identity) must not be threaded by it.
    let mut candidates: Vec<&str> = msg
        .message_id
        .as_deref()
        .filter(|id| *id == identity)
        .into_iter()
        .collect();
    // A bounce or complaint names the mail it reports on (the original attached):
    // that is the thread it belongs to.
    if automatic.is_some() {
        candidates.extend(msg.reported_ids.iter().map(String::as_str));
    }
    candidates.extend(threading::reference_candidates(msg));
    let reference_ticket = match store::messages::ticket_for_ids(tx, &candidates)? {
        Some(n) => Some(survivor(tx, n)?),
        None => None,
    };
    Ok(ThreadFacts {
        token_ticket,
        reference_ticket,
    })
}

/// The last survivor of `ticket`'s merge chain (itself when it was not merged).
fn survivor(tx: &Connection, ticket: i64) -> Result<i64> {
    let chain = store::ticket_links::merge_chain(tx, ticket)?;
    Ok(desk::merge::last_survivor(ticket, &chain))
}

/// What the store knows of the tickets and knowledge-base entries a staff reply's
/// commands name, read before the desk decides the reply.
fn command_facts(
    tx: &Connection,
    cx: &IngestContext,
    text: &str,
    carries_files: bool,
) -> Result<CommandFacts> {
    let (tickets, kb) = desk::merge::named_in(text, &cx.desk);
    let mut facts = CommandFacts {
        carries_files,
        ..CommandFacts::default()
    };
    for id in tickets {
        if store::tickets::exists(tx, id)? {
            facts.tickets.push(NamedTicket {
                id,
                chain: store::ticket_links::merge_chain(tx, id)?,
            });
        }
    }
    for id in kb {
        if let Some(entry) = store::kb::get(tx, id)? {
            facts.kb.push(KbSolution {
                id,
                solution: entry.solution,
                author: entry.author,
            });
        }
    }
    Ok(facts)
}

/// One message being applied: what every step of `apply_message` reads.
struct Arriving<'a> {
    tx: &'a Connection,
    cx: &'a IngestContext,
    msg: &'a InboundMessage,
    /// The message as it is stored: `msg` itself, except for a ticket opened on
    /// someone's behalf, where `msg` is the request taken out of it.
    stored: &'a InboundMessage,
    assessment: &'a Assessment,
    /// The message's identity in the store (its Message-ID, or a derived one).
    identity: &'a str,
    automatic: Option<&'a inbound::AutomaticVerdict>,
    sender: &'a str,
    now: i64,
}

impl<'a> Arriving<'a> {
    /// Where a decision about this message is written: its transaction, the desk's
    /// rules and its time.
    fn applying(&self) -> Applying<'a> {
        Applying {
            tx: self.tx,
            desk: &self.cx.desk,
            sla: &self.cx.sla,
            now: self.now,
            relay_attachments_bytes: self.cx.limits.relay_attachments_bytes,
        }
    }
}

/// Stores the message on a ticket (or none) as `kind`; returns its row.
type Record<'a> = dyn Fn(Option<i64>, MessageKind) -> Result<i64> + 'a;

/// The ticket a message opens, as intake (or a follow-up turned request) placed it.
struct Opening {
    requester: String,
    requester_name: Option<String>,
    subject: String,
    /// The closed ticket a late reply was about.
    linked_ticket: Option<i64>,
    /// A stranger's mail that used another ticket's token.
    redirected: bool,
    /// Opened by an agent on its requester's behalf (a forward, `/new`).
    behalf: Option<desk::forwarded::Behalf>,
}

impl Opening {
    /// A ticket an agent opened on someone's behalf.
    fn on_behalf(behalf: desk::forwarded::Behalf) -> Opening {
        Opening {
            requester: behalf.requester.email.clone(),
            requester_name: behalf.requester.name.clone(),
            subject: behalf.subject.clone(),
            linked_ticket: None,
            redirected: false,
            behalf: Some(behalf),
        }
    }

    /// A follow-up on `ticket` that opens a ticket of its own for its sender.
    fn from_follow_up(msg: &InboundMessage, prefix: &str, ticket: i64, late: bool) -> Opening {
        let subject = if late {
            msg.subject.clone()
        } else {
            // Not the other ticket's token: the new ticket has its own.
            threading::without_token(&msg.subject, prefix, ticket)
        };
        Opening {
            requester: msg
                .reply_address()
                .map(|a| a.email.clone())
                .unwrap_or_default(),
            requester_name: msg.reply_address().and_then(|a| a.name.clone()),
            subject: if subject.trim().is_empty() {
                "(no subject)".into()
            } else {
                subject
            },
            linked_ticket: late.then_some(ticket),
            redirected: !late,
            behalf: None,
        }
    }
}

/// A message threaded onto `ticket` (`by` token or reference): gathers the facts,
/// lets `desk::follow_up` decide, and applies what it decided.
fn follow_up(
    m: &Arriving,
    decision: &desk::IntakeDecision,
    (ticket, by): (i64, ThreadedBy),
    record: &Record,
    summary: &mut BatchSummary,
    pending: &mut PendingMail,
) -> Result<()> {
    let Arriving {
        tx,
        cx,
        msg,
        automatic,
        sender,
        now,
        ..
    } = *m;
    let state =
        store::tickets::state(tx, ticket)?.with_context(|| format!("ticket {ticket} vanished"))?;
    let author = Author::of(sender, &state, &cx.desk);
    let human = automatic.is_none();
    let staff = matches!(author, Author::Staff { .. });
    let (last_relay, held_reply) = if human && staff {
        collision_facts(tx, ticket, sender)?
    } else {
        (None, None)
    };
    let commands = if human && staff {
        let files = msg.attachments.iter().any(|a| !a.inline);
        let mut facts = command_facts(tx, cx, msg.visible_text(), files)?;
        facts.change = store::changes::get(tx, ticket)?;
        facts
    } else {
        CommandFacts::default()
    };
    let facts = FollowUpFacts {
        ticket: &state,
        by,
        automatic,
        messages_last_hour: if human {
            store::messages::count_for_ticket_since(tx, ticket, now - 3_600)?
        } else {
            0
        },
        staff_proven: human
            && staff
            && cx.security.verify_staff
            && staff_mail_verified(cx, msg, sender, Some(ticket)),
        answer_proof: if human && !staff {
            answer_proof(cx, msg, sender, ticket)
        } else {
            lifecycle::AnswerProof::default()
        },
        author,
        text: msg.visible_text(),
        identity: m.identity,
        now,
        last_relay,
        held_reply,
        commands: &commands,
    };
    let rules = FollowUpRules {
        hold_strangers: cx.security.stranger_with_token == StrangerPolicy::Hold,
        verify_staff: cx.security.verify_staff,
        messages_per_ticket_per_hour: cx.limits.messages_per_ticket_per_hour,
        collision_window: cx.desk.lifecycle.collision_window,
    };
    let prefix = &cx.desk.token_prefix;
    let outcome = decide_follow_up(facts, rules, &cx.desk);
    match outcome {
        FollowUp::StrangerOpensTicket => {
            let what = format!(
                "mail from {sender}, who is not on this ticket, used its token; it opened a new ticket instead"
            );
            store::tickets::add_event(tx, ticket, now, "ticketpost", "security", &what)?;
            warn!(token = %threading::token(prefix, ticket), sender = %sender, "a stranger used this ticket's token: opened as a new ticket");
            let opening = Opening::from_follow_up(msg, prefix, ticket, false);
            return open_ticket(m, decision, opening, record, summary, pending);
        }
        FollowUp::LateReply => {
            let opening = Opening::from_follow_up(msg, prefix, ticket, true);
            return open_ticket(m, decision, opening, record, summary, pending);
        }
        FollowUp::HoldStranger => held_stranger_mail(m, &state, record, pending)?,
        FollowUp::Automatic { bounce } => file_automatic(m, &state, by, bounce, record, pending)?,
        FollowUp::LoopGuard => loop_guard(m, ticket, record)?,
        FollowUp::UnverifiedStaff => unverified_staff_mail(m, ticket, record, pending)?,
        FollowUp::Reply { author, decision } | FollowUp::Rated { author, decision } => {
            apply_reply(m, (ticket, by), &author, &decision, record, pending)?
        }
        FollowUp::HoldCollision { author, relay } => {
            held_collision(m, ticket, &author, &relay, record, pending)?
        }
        FollowUp::SendHeld {
            author,
            message,
            decision,
        } => {
            // The held reply is an agent reply from now on (what it says is relayed
            // by this decision); the `/send` mail is recorded as the reply it is.
            store::messages::set_kind(tx, message, MessageKind::AgentReply.as_str())?;
            store::tickets::add_event(
                tx,
                ticket,
                now,
                sender,
                "collision",
                "held reply sent with /send",
            )?;
            apply_reply(m, (ticket, by), &author, &decision, record, pending)?
        }
    }
    summary.follow_ups += 1;
    Ok(())
}

/// Replies on the ticket the collision guard reads, for staff mail from `sender`: the
/// last reply another agent relayed since the requester's latest message (replies of
/// commands only relay nothing and are skipped), and `sender`'s latest held reply.
fn collision_facts(
    tx: &Connection,
    ticket: i64,
    sender: &str,
) -> Result<(Option<LastRelay>, Option<HeldReply>)> {
    /// Agent replies looked at: commands-only replies in a row beyond this are rare.
    const LOOK_BACK: usize = 10;
    let last_relay = store::messages::agent_replies_since_requester(tx, ticket, LOOK_BACK)?
        .into_iter()
        .find_map(|(by, at, text)| {
            let reply = quick_actions::parse_agent_reply(&text).ok()?;
            (!reply.only_commands()).then_some(LastRelay {
                by,
                at,
                text: reply.text,
            })
        });
    let held_reply = store::messages::latest_held_reply(tx, ticket, sender)?
        .map(|(message, text)| HeldReply { message, text });
    Ok((last_relay, held_reply))
}

/// An agent's public reply held by the collision guard: stored as held (nothing
/// changed or relayed), the timeline says why, and its author is told who answered,
/// when and what, and that `/send` in a reply to that notice relays theirs anyway.
fn held_collision(
    m: &Arriving,
    ticket: i64,
    author: &Author,
    relay: &LastRelay,
    record: &Record,
    pending: &mut PendingMail,
) -> Result<()> {
    let Arriving {
        tx,
        cx,
        msg,
        sender,
        now,
        ..
    } = *m;
    record(Some(ticket), MessageKind::HeldReply)?;
    store::tickets::touch(tx, ticket, now)?;
    let ago = desk::lookup::span(now - relay.at);
    let what = format!(
        "reply held, not relayed: {} answered the requester {ago} before (collision guard, [desk] collision_window); /send in a reply to the notice relays it",
        relay.by
    );
    store::tickets::add_event(tx, ticket, now, sender, "collision", &what)?;
    info!(token = %threading::token(&cx.desk.token_prefix, ticket), sender = %sender, message_id = ?msg.message_id, "{what}");
    let answered_by = cx
        .desk
        .agent(&relay.by)
        .map(lifecycle::display_name)
        .unwrap_or_else(|| relay.by.clone());
    let when = crate::timers::local_time(&cx.sla, relay.at);
    let text = format!(
        "{answered_by} answered the requester at {when} ({ago} before your reply), so yours was held, not sent:\n\n{}\n\n--- Your held reply ---\n\n{}\n\nReply to this notice with /send on a line of its own to send yours anyway.",
        relay.text,
        msg.visible_text()
    );
    let to = match author {
        Author::Staff { address, .. } => address.clone(),
        _ => sender.to_string(),
    };
    let notice = PlainNotice {
        ticket,
        agents: vec![to],
        notice: lifecycle::Notice::Collision,
        author: answered_by,
        text,
    };
    push_plain_notices(tx, pending, notice, now)
}

/// How a follow-up was threaded, for the timeline.
fn threaded_how(by: ThreadedBy) -> &'static str {
    match by {
        ThreadedBy::Token => "subject token",
        ThreadedBy::Reference => "In-Reply-To/References",
    }
}

/// Automatic mail on a ticket: filed, never answered; a bounce of our mail tells the
/// agents of the delivery failure.
fn file_automatic(
    m: &Arriving,
    state: &lifecycle::TicketState,
    by: ThreadedBy,
    bounce: bool,
    record: &Record,
    pending: &mut PendingMail,
) -> Result<()> {
    let Arriving {
        tx,
        cx,
        sender,
        now,
        ..
    } = *m;
    let ticket = state.id;
    let reason = m.automatic.map(|v| v.reason.as_str()).unwrap_or_default();
    record(Some(ticket), MessageKind::Automatic)?;
    store::tickets::touch(tx, ticket, now)?;
    let what = format!(
        "automatic message threaded by {} ({reason})",
        threaded_how(by)
    );
    store::tickets::add_event(tx, ticket, now, sender, "message", &what)?;
    info!(token = %threading::token(&cx.desk.token_prefix, ticket), message_id = %m.identity, "{what}");
    if bounce {
        delivery_failure(m, state, pending)?;
    }
    Ok(())
}

/// A follow-up past the ticket's hourly message limit: kept, nothing sent for it.
fn loop_guard(m: &Arriving, ticket: i64, record: &Record) -> Result<()> {
    let Arriving {
        tx,
        cx,
        sender,
        now,
        ..
    } = *m;
    record(Some(ticket), MessageKind::LoopGuard)?;
    store::tickets::touch(tx, ticket, now)?;
    let what = format!(
        "message from {sender} kept without mail: the ticket took {} messages within the hour (loop guard, [limits] messages_per_ticket_per_hour)",
        cx.limits.messages_per_ticket_per_hour
    );
    store::tickets::add_event(tx, ticket, now, "ticketpost", "message", &what)?;
    warn!(token = %threading::token(&cx.desk.token_prefix, ticket), sender = %sender, "{what}");
    Ok(())
}

/// A reply the lifecycle decided: stored as the kind it decided, the facts a requester
/// or participant gave recorded, and the decision applied.
fn apply_reply(
    m: &Arriving,
    (ticket, by): (i64, ThreadedBy),
    author: &Author,
    d: &lifecycle::Decision,
    record: &Record,
    pending: &mut PendingMail,
) -> Result<()> {
    let Arriving {
        tx,
        cx,
        msg,
        assessment,
        sender,
        now,
        ..
    } = *m;
    let row = record(Some(ticket), d.message_kind)?;
    // What the requester (or a colleague on the thread) adds fills in the ticket's
    // intake facts; agents' text is about the fix, not the case.
    if matches!(author, Author::Requester | Author::Participant) {
        record_facts(tx, ticket, &assessment.facts, Some(row), sender, now)?;
    }
    let what = format!(
        "{} threaded by {}",
        d.message_kind.label(),
        threaded_how(by)
    );
    store::tickets::add_event(tx, ticket, now, sender, "message", &what)?;
    let token = threading::token(&cx.desk.token_prefix, ticket);
    info!(token = %token, message_id = %m.identity, kind = d.message_kind.as_str(), "{what}");
    let shown_author = match author {
        Author::Staff { name, .. } => name.clone(),
        _ => name_and_address(msg.from.as_ref().and_then(|a| a.name.as_deref()), sender),
    };
    let actor = Actor {
        address: sender,
        name: Some(&shown_author),
    };
    let w = m.applying();
    apply_decision(&w, ticket, d, &actor, Some(msg), pending)?;
    let tell = !matches!(author, Author::Staff { .. });
    oversized_message(tx, msg, (ticket, &token), tell, now, pending)
}

/// A new ticket's first steps, as gathered and decided before it is written.
struct Planned<'a> {
    routed: desk::routing::Routed,
    arrival: desk::arrival::Arrival<'a>,
    /// How the opening message is recorded.
    kind: MessageKind,
}

/// Opens a ticket for `m`: gathers the facts, lets `desk::arrival` decide, and writes
/// the ticket, its routing, participants, intake facts and timeline, and queues the
/// acknowledgement and the staff mail decided.
fn open_ticket(
    m: &Arriving,
    decision: &desk::IntakeDecision,
    opening: Opening,
    record: &Record,
    summary: &mut BatchSummary,
    pending: &mut PendingMail,
) -> Result<()> {
    let plan = plan_ticket(m, decision, &opening)?;
    let ticket = write_ticket(m, &opening, &plan)?;
    if opening.behalf.is_none() {
        // The rules' reading, kept to compare with an agent's `/priority` later.
        store::triage_review::record_intake(m.tx, ticket, &m.assessment.triage, m.now)?;
    }
    let row = record(Some(ticket), plan.kind)?;
    // The acknowledgement and the notices quote it: their bodies are packed against
    // its text as stored.
    let request = QuotedRequest {
        message: row,
        text: Arc::from(m.stored.text_body.as_str()),
    };
    let token = threading::token(&m.cx.desk.token_prefix, ticket);
    write_opening_events(m, (ticket, &token), &opening, &plan)?;
    info!(token = %token, message_id = %m.identity, requester = %opening.requester, priority = %plan.arrival.priority, "new ticket");
    // The acknowledgement tells the requester.
    oversized_message(m.tx, m.msg, (ticket, &token), false, m.now, pending)?;
    summary.new_tickets += 1;
    let language = m.assessment.language;
    let mut intake_view = Intake::plain(language);
    intake_view.priority = plan.arrival.priority;
    intake_view.response_promise = m.cx.sla.promise(plan.arrival.priority, language);
    if m.automatic.is_none() {
        gather_intake(m, (ticket, row), &opening.subject, &mut intake_view)?;
    }
    if let Some(behalf) = &opening.behalf {
        behalf_opening::record(m.tx, ticket, m.sender, behalf, m.now)?;
        // The agent, left the requester, is told why in their acknowledgement.
        if let Some(problem) = &behalf.problem {
            intake_view.questions.insert(0, problem.clone());
        }
    }
    queue_acknowledgement(
        m,
        decision,
        (ticket, &token, &request),
        &opening,
        &plan,
        &intake_view,
        pending,
    )?;
    queue_staff_mail(
        m,
        (ticket, &token, request),
        &opening,
        &plan,
        intake_view.notice,
        pending,
    )?;
    match &opening.behalf {
        Some(behalf) if !behalf.later.is_empty() => {
            run_behalf_commands(m, ticket, &behalf.later, pending)
        }
        _ => Ok(()),
    }
}

/// The forwarding agent's commands that run on the ticket once it is open (`/authorize`,
/// `/cc`, `/merge`, `/reply KB-n`, ...): decided by the lifecycle as that agent's reply
/// to the ticket's notice, holding only those commands, and written like one. The
/// requester's files are not the agent's: nothing of the forward is relayed but what
/// the commands say.
fn run_behalf_commands(
    m: &Arriving,
    ticket: i64,
    commands: &str,
    pending: &mut PendingMail,
) -> Result<()> {
    let Arriving {
        tx,
        cx,
        sender,
        now,
        ..
    } = *m;
    let state =
        store::tickets::state(tx, ticket)?.with_context(|| format!("ticket {ticket} vanished"))?;
    let author = Author::of(sender, &state, &cx.desk);
    let facts = command_facts(tx, cx, commands, false)?;
    let d = lifecycle::decide_reply_with_facts(
        &state,
        &author,
        commands,
        m.identity,
        now,
        &cx.desk,
        lifecycle::AnswerProof::default(),
        &facts,
    );
    let name = match &author {
        Author::Staff { name, .. } => name.clone(),
        _ => sender.to_string(),
    };
    let actor = Actor {
        address: sender,
        name: Some(&name),
    };
    let w = m.applying();
    apply_decision(&w, ticket, &d, &actor, None, pending)
}

/// Gathers what a new ticket's first steps depend on (its routing, the sender's
/// tickets within the hour) and lets `desk::arrival` decide them.
fn plan_ticket<'a>(
    m: &Arriving<'a>,
    decision: &desk::IntakeDecision,
    opening: &Opening,
) -> Result<Planned<'a>> {
    let Arriving {
        tx,
        cx,
        msg,
        assessment,
        automatic,
        now,
        ..
    } = *m;
    let recipients: Vec<&str> = msg
        .to
        .iter()
        .chain(msg.cc.iter())
        .map(|a| a.email.as_str())
        .collect();
    let routed = desk::routing::route(
        &cx.desk.routes,
        desk::routing::RouteFacts {
            recipients: &recipients,
            sender: &opening.requester,
            subject: &opening.subject,
            folder: &cx.folder,
        },
    );
    // A follow-up turned request (a late reply, a stranger's mail) is a request like
    // any other.
    let (kind, wants_acknowledgement) = if opening.linked_ticket.is_some() || opening.redirected {
        (
            MessageKind::Request,
            msg.reply_address()
                .is_some_and(|a| !cx.desk.is_own_address(&a.email)),
        )
    } else {
        (decision.kind, decision.acknowledge)
    };
    let opened_before = if wants_acknowledgement || automatic.is_none() {
        store::tickets::opened_by_since(tx, &opening.requester, now - 3_600)?
    } else {
        0
    };
    let mut arrival = desk::arrival::decide_arrival(
        &desk::arrival::ArrivalFacts {
            automatic: automatic.is_some(),
            wants_acknowledgement,
            // A forwarding agent's `/priority` stands for triage (a P1 alerts).
            triage_priority: opening
                .behalf
                .as_ref()
                .and_then(behalf_opening::priority)
                .unwrap_or(assessment.triage.priority),
            routed_priority: routed.priority,
            routed_team: routed.team.as_deref(),
            requester: &opening.requester,
            opened_before,
            addresses: msg.cc.iter().chain(msg.to.iter()).collect(),
            acknowledgements_per_sender_per_hour: cx.limits.acknowledgements_per_sender_per_hour,
        },
        &cx.desk,
    );
    if let Some(behalf) = &opening.behalf {
        desk::forwarded::adjust_arrival(behalf, &mut arrival);
    }
    Ok(Planned {
        routed,
        arrival,
        kind,
    })
}

/// Writes the ticket decided: its row, its routing, its clocks and its participants.
fn write_ticket(m: &Arriving, opening: &Opening, plan: &Planned) -> Result<i64> {
    let Arriving { tx, cx, now, .. } = *m;
    let routed = &plan.routed;
    let ticket = store::tickets::insert(
        tx,
        &store::tickets::NewTicket {
            status: desk::Status::Open.as_str(),
            priority: plan.arrival.priority.as_str(),
            requester: &opening.requester,
            requester_name: opening.requester_name.as_deref(),
            subject: &opening.subject,
            at: now,
            linked_ticket: opening.linked_ticket,
            language: m.assessment.language,
        },
    )?;
    if let Some(team) = routed.team.as_ref().filter(|_| !routed.matched.is_empty()) {
        let change = [lifecycle::Change::Team(team.clone())];
        store::tickets::apply_changes(tx, ticket, &change, now)?;
    }
    if !routed.matched.is_empty() && !routed.tags.is_empty() {
        store::tickets::set_tags(tx, ticket, &routed.tags)?;
    }
    sync_clocks(tx, ticket, &cx.sla, now)?;
    // Cc'd people become participants (not us, not staff, not the requester), up to
    // [limits] max_participants; the agents are told of the rest.
    for a in &plan.arrival.participants {
        store::tickets::add_participant(tx, ticket, &a.email, a.name.as_deref(), now)?;
    }
    Ok(ticket)
}

/// A new ticket's timeline: how it was routed, that it opened, the ticket a late reply
/// links, and the addresses left out of its participants.
fn write_opening_events(
    m: &Arriving,
    (ticket, token): (i64, &str),
    opening: &Opening,
    plan: &Planned,
) -> Result<()> {
    let Arriving {
        tx,
        cx,
        sender,
        now,
        ..
    } = *m;
    let routed = &plan.routed;
    if !routed.matched.is_empty() {
        let rules: Vec<String> = routed.matched.iter().map(|n| n.to_string()).collect();
        let mut what = format!("routed by [[route]] {}", rules.join(", "));
        if let Some(team) = &routed.team {
            what.push_str(&format!(": team {team}"));
        }
        if let Some(p) = routed.priority {
            what.push_str(&format!(", priority at least {p}"));
        }
        if !routed.tags.is_empty() {
            what.push_str(&format!(", tags {}", routed.tags.join(", ")));
        }
        store::tickets::add_event(tx, ticket, now, "ticketpost", "routing", &what)?;
    }
    let opened = format!("ticket opened: {}", opening.subject);
    store::tickets::add_event(tx, ticket, now, sender, "created", &opened)?;
    if let Some(old) = opening.linked_ticket {
        let old_token = threading::token(&cx.desk.token_prefix, old);
        let here = format!("a reply to {old_token}, closed longer than the reopen window");
        store::tickets::add_event(tx, ticket, now, sender, "linked", &here)?;
        let there = format!("a late reply opened {token}");
        store::tickets::add_event(tx, old, now, sender, "linked", &there)?;
    }
    let left_out = plan.arrival.left_out;
    if left_out > 0 {
        let what = format!(
            "{left_out} more addresses on the request were not added as participants (the limit is {}, [limits] max_participants)",
            cx.desk.max_participants
        );
        store::tickets::add_event(tx, ticket, now, "ticketpost", "participant", &what)?;
        warn!(token = %token, left_out, "{what}");
    }
    Ok(())
}

/// Queues the acknowledgement decided, or notes on the timeline why there is none.
fn queue_acknowledgement(
    m: &Arriving,
    decision: &desk::IntakeDecision,
    (ticket, token, quoted): (i64, &str, &QuotedRequest),
    opening: &Opening,
    plan: &Planned,
    intake_view: &Intake,
    pending: &mut PendingMail,
) -> Result<()> {
    let Arriving {
        tx, cx, msg, now, ..
    } = *m;
    let arrival = &plan.arrival;
    let requester = &opening.requester;
    let what = if arrival.acknowledge {
        let mut request = msg.without_raw();
        if opening.redirected {
            // Not the other ticket's token: the subject the new ticket has.
            request.subject = opening.subject.clone();
        }
        let intake = intake_view.clone();
        let quoted = quoted.clone();
        pending.push(ticket, MailKind::Acknowledgement, move |r| {
            r.acknowledgement(ticket, &request, &intake, now)
                .map(|mail| mail.quoting(&quoted))
        });
        return Ok(());
    } else if arrival.acknowledgement_withheld {
        // Loop guard: an autoresponder no rule recognised, opening ticket after
        // ticket, stops getting answers.
        let what = format!(
            "no acknowledgement: {requester} opened {} tickets within the hour (loop guard, [limits] acknowledgements_per_sender_per_hour = {})",
            arrival.opened_lately, cx.limits.acknowledgements_per_sender_per_hour
        );
        warn!(token = %token, requester = %requester, "{what}");
        what
    } else if let Some(reason) = &decision.no_ack_reason {
        debug!(token = %token, reason = %reason, "no acknowledgement");
        format!("no acknowledgement: {reason}")
    } else {
        return Ok(());
    };
    store::tickets::add_event(tx, ticket, now, "ticketpost", "mail", &what)?;
    Ok(())
}

/// Queues the staff mail decided for a new ticket: the urgent alerts and notices, one
/// per person, or, for a flooding sender, one summary or nothing.
fn queue_staff_mail(
    m: &Arriving,
    (ticket, token, request): (i64, &str, QuotedRequest),
    opening: &Opening,
    plan: &Planned,
    extras: NoticeExtras,
    pending: &mut PendingMail,
) -> Result<()> {
    let arrival = &plan.arrival;
    let (urgent, notices) = match &arrival.staff_mail {
        StaffMail::Nobody => return Ok(()),
        StaffMail::Flooded => {
            return flooded_notices(
                m,
                (ticket, token),
                &opening.requester,
                arrival,
                None,
                pending,
            );
        }
        StaffMail::FloodSummary { to } => {
            let to = Some(to.clone());
            return flooded_notices(m, (ticket, token), &opening.requester, arrival, to, pending);
        }
        StaffMail::Each { urgent, notices } => (urgent.clone(), notices.clone()),
    };
    if urgent.is_empty() && notices.is_empty() {
        return Ok(());
    }
    let view = TicketView {
        id: ticket,
        subject: opening.subject.clone(),
        requester: opening.requester.clone(),
        requester_name: opening.requester_name.clone(),
        status: desk::Status::Open.as_str().to_string(),
        priority: arrival.priority.as_str().to_string(),
        assignee: None,
        team: plan.routed.team.clone(),
        participants: arrival
            .participants
            .iter()
            .map(|a| a.email.to_ascii_lowercase())
            .collect(),
        language: m.assessment.language.to_string(),
        linked: Vec::new(),
    };
    let staff = NewTicketStaff {
        urgent,
        notices,
        left_out: arrival.left_out,
        request,
    };
    queue_new_ticket_mail(m, (ticket, token), view, extras, staff, pending);
    Ok(())
}

/// The intake facts of a human request, for the timeline and the mail: the triage
/// reasons, the facts found and missing (questions for the requester), knowledge-base
/// matches and similar tickets (for the agents), and the request queued for the
/// similar-tickets index.
fn gather_intake(
    m: &Arriving,
    (ticket, row): (i64, i64),
    subject: &str,
    intake_view: &mut Intake,
) -> Result<()> {
    let Arriving {
        tx,
        cx,
        msg,
        assessment,
        sender,
        now,
        ..
    } = *m;
    let (priority, language) = (intake_view.priority, assessment.language);
    let prefix = &cx.desk.token_prefix;
    if !assessment.triage.reasons.is_empty() {
        store::tickets::add_event(
            tx,
            ticket,
            now,
            "ticketpost",
            "triage",
            &format!("{priority}: {}", assessment.triage.reasons.join("; ")),
        )?;
    }
    record_facts(tx, ticket, &assessment.facts, Some(row), sender, now)?;
    let missing = intake::missing_facts(&assessment.facts);
    intake_view.questions = missing
        .iter()
        .map(|f| cx.intake.question(*f, language).to_string())
        .collect();
    let text = msg.visible_text();
    // Both look-ups compare the same terms: taken once.
    let query = store::kb::Query::new(&format!("{subject}\n{}", excerpt_chars(text, SEARCH_CHARS)));
    let found = store::kb::search_for(tx, &query, cx.kb.suggest_threshold, cx.kb.max_suggestions)?;
    // Requesters are offered entries only when the desk says so ([kb]
    // suggest_to_requesters), and only approved ones (`desk::kb_review`):
    // a draft may hold internal text. Agents see drafts too, marked.
    if cx.kb.suggest_to_requesters {
        intake_view.suggestions = found
            .iter()
            .filter(|m| m.entry.is_approved())
            .map(|m| suggestion(&m.entry))
            .collect();
    }
    let kb_matches: Vec<Suggestion> = found.iter().map(|m| agents_suggestion(&m.entry)).collect();
    // Similar tickets are listed only in mail to staff: no staff, no search.
    let similar = if cx.desk.all_agents().is_empty() && cx.desk.supervisors.is_empty() {
        Vec::new()
    } else {
        store::kb::similar_tickets_for(
            tx,
            &query,
            ticket,
            cx.kb.similar_threshold,
            SIMILAR_TICKETS,
        )?
    };
    // Queued for the similar-tickets index (written when the mailbox is
    // idle: the trigram index is the costliest write of a request); a
    // plain row, rolled back with the message's savepoint if need be.
    store::kb::queue_for_index(tx, ticket, subject, excerpt_chars(text, INDEX_CHARS))?;
    let mut similar_lines = Vec::new();
    for s in similar {
        if let Some(row) = store::tickets::get(tx, s.ticket_id)? {
            similar_lines.push(SimilarLine {
                token: threading::token(prefix, row.id),
                status: row.status,
                subject: row.subject,
            });
        }
    }
    intake_view.notice = NoticeExtras {
        facts: assessment
            .facts
            .iter()
            .map(|f| FactLine {
                label: f.fact.label().to_string(),
                evidence: f.evidence.clone(),
            })
            .collect(),
        missing: missing.iter().map(|f| f.label().to_string()).collect(),
        kb_matches,
        similar: similar_lines,
        reasons: assessment.triage.reasons.clone(),
        inline_images: Vec::new(),
    };
    Ok(())
}

/// Who on the staff hears of a new ticket (decided by `desk::arrival`).
struct NewTicketStaff {
    urgent: Vec<String>,
    notices: Vec<String>,
    /// Addresses past `[limits] max_participants`, for the notices' text.
    left_out: usize,
    /// The request, which the alerts and notices quote.
    request: QuotedRequest,
}

/// Queues the urgent alerts and the new-ticket notices, one per person.
fn queue_new_ticket_mail(
    m: &Arriving,
    (ticket, token): (i64, &str),
    view: TicketView,
    extras: NoticeExtras,
    staff: NewTicketStaff,
    pending: &mut PendingMail,
) {
    let Arriving {
        cx,
        msg,
        assessment,
        now,
        ..
    } = *m;
    let NewTicketStaff {
        urgent,
        notices,
        left_out,
        request,
    } = staff;
    let author = name_and_address(view.requester_name.as_deref(), &view.requester);
    let view = Arc::new(view);
    // The request is the ticket's first message: its files are numbered from 1.
    let listing = FileListing {
        token,
        language: &view.language,
        dashboard_url: cx.desk.dashboard_url.as_deref(),
    };
    let files = CauseFiles::decide(msg, &listing, cx.limits.relay_attachments_bytes, 0);
    let extras = Arc::new(NoticeExtras {
        inline_images: files.inline_images(),
        ..extras
    });
    let thread = Thread::reply_to(msg.message_id.as_deref(), &msg.references);
    let text = if left_out > 0 {
        format!(
            "[ticketpost: {left_out} more Cc/To addresses were not made participants; the limit is {} ([limits] max_participants)]\n\n{}",
            cx.desk.max_participants, msg.text_body
        )
    } else {
        msg.text_body.clone()
    };
    let notice_text = files.text(text.clone());
    // The urgent path: supervisors and on-call agents, at once.
    if !urgent.is_empty() {
        warn!(token = %token, reasons = %assessment.triage.reasons.join("; "), "urgent ticket: supervisors and on-call alerted");
        let (view, extras, thread) = (view.clone(), extras.clone(), thread.clone());
        let request = request.clone();
        pending.push_each(ticket, MailKind::UrgentAlert, move |r| {
            let mails = r.urgent_alerts(&view, &urgent, &text, &extras, &thread, now)?;
            Ok(mails.into_iter().map(|m| m.quoting(&request)).collect())
        });
    }
    if !notices.is_empty() {
        let carried = files.files;
        pending.push_each(ticket, MailKind::AgentNotice, move |r| {
            let mails = r.agent_notices(
                &view,
                &notices,
                lifecycle::Notice::NewTicket,
                Some(&author),
                &notice_text,
                &extras,
                &thread,
                now,
            )?;
            mails
                .into_iter()
                .map(|m| carry_files(m.quoting(&request), &carried))
                .collect()
        });
    }
}

/// Whether mail from a member of staff proves its sender (see `desk::staff_proof`):
/// it replies in a thread of ours, quoting a Message-ID we signed for this sender —
/// about `ticket`, or about any ticket for a new mail on none (a look-up, a forward) —
/// or the trusted MTA saw DKIM or SPF pass for the sender's domain.
fn staff_mail_verified(
    cx: &IngestContext,
    msg: &InboundMessage,
    sender: &str,
    ticket: Option<i64>,
) -> bool {
    let ids = threading::reference_candidates(msg);
    let domain = &cx.desk.message_id_domain;
    let signed = match ticket {
        Some(ticket) => cx.staff_key.signed_for(&ids, sender, ticket, domain),
        None => ids
            .iter()
            .any(|id| matches!(cx.staff_key.check(id, sender, domain), SignedId::For { .. })),
    };
    signed || mta_vouches_for(cx, msg, sender)
}

/// Whether the trusted MTA's Authentication-Results say DKIM or SPF passed for the
/// sender's domain (never without `[security] trusted_authserv_id`).
fn mta_vouches_for(cx: &IngestContext, msg: &InboundMessage, sender: &str) -> bool {
    let Some(trusted) = &cx.security.trusted_authserv_id else {
        return false;
    };
    let results: Vec<&str> = msg
        .auto_headers
        .iter()
        .filter(|(name, _)| name == "authentication-results")
        .map(|(_, value)| value.as_str())
        .collect();
    crate::desk::staff_proof::authenticated_by_mta(&results, trusted, sender)
}

/// Whether a reply proves the requester answers our authorisation or confirmation
/// request: it quotes the Message-ID of that mail, signed for the sender, or the
/// trusted MTA saw DKIM or SPF pass for the sender's domain.
fn answer_proof(
    cx: &IngestContext,
    msg: &InboundMessage,
    sender: &str,
    ticket: i64,
) -> lifecycle::AnswerProof {
    if mta_vouches_for(cx, msg, sender) {
        return lifecycle::AnswerProof::VERIFIED;
    }
    // One pass over the thread's ids: each of ours is checked (one HMAC) once.
    let mut proof = lifecycle::AnswerProof::default();
    for id in threading::reference_candidates(msg) {
        if let SignedId::For { ticket: t, kind } =
            cx.staff_key.check(id, sender, &cx.desk.message_id_domain)
            && t == ticket
        {
            proof.authorization |= kind == MailKind::AuthorizationRequest.as_str();
            proof.confirmation |= kind == MailKind::ConfirmationRequest.as_str();
        }
    }
    proof
}

/// Mail in a staff member's name that did not prove it: kept on the ticket as an
/// ordinary message, no command run, nothing relayed, and the agents are warned.
fn unverified_staff_mail(
    m: &Arriving,
    ticket: i64,
    record: &Record,
    pending: &mut PendingMail,
) -> Result<()> {
    let Arriving {
        tx,
        cx,
        msg,
        sender,
        now,
        ..
    } = *m;
    record(Some(ticket), MessageKind::Unverified)?;
    store::tickets::touch(tx, ticket, now)?;
    let what = format!(
        "mail in the name of {sender} (staff) did not prove its sender (no signed Message-ID of ours in its thread{}): kept, no command run, nothing relayed",
        if cx.security.trusted_authserv_id.is_some() {
            ", no DKIM/SPF pass from the trusted MTA"
        } else {
            ""
        }
    );
    store::tickets::add_event(tx, ticket, now, "ticketpost", "security", &what)?;
    let token = threading::token(&cx.desk.token_prefix, ticket);
    warn!(token = %token, sender = %sender, message_id = ?msg.message_id, "unverified mail in a staff member's name: commands ignored, agents warned");
    let agents = cx
        .desk
        .all_agents()
        .iter()
        .map(|a| a.address.clone())
        .collect();
    let claimed = format!("{sender} (claimed; not verified)");
    let notice = PlainNotice {
        ticket,
        agents,
        notice: lifecycle::Notice::Unverified,
        author: claimed,
        text: msg.visible_text().to_string(),
    };
    push_plain_notices(tx, pending, notice, now)
}

/// Mail from someone not on the ticket who used its token, with `[security]
/// stranger_with_token = "hold"`: kept on the ticket as held (no status change, no
/// facts, nothing relayed or sent to its sender), and the ticket's agents are told.
fn held_stranger_mail(
    m: &Arriving,
    state: &lifecycle::TicketState,
    record: &Record,
    pending: &mut PendingMail,
) -> Result<()> {
    let Arriving {
        tx,
        cx,
        msg,
        sender,
        now,
        ..
    } = *m;
    let ticket = state.id;
    record(Some(ticket), MessageKind::Held)?;
    let what = format!(
        "mail from {sender}, who is not on this ticket, used its token: held for an agent (not part of the conversation, nothing sent to them; /cc {sender} lets them in)"
    );
    store::tickets::add_event(tx, ticket, now, "ticketpost", "security", &what)?;
    warn!(token = %threading::token(&cx.desk.token_prefix, ticket), sender = %sender, message_id = ?msg.message_id, "a stranger used this ticket's token: held for an agent");
    let notice = PlainNotice {
        ticket,
        agents: lifecycle::agents_to_notify(state, &cx.desk, None),
        notice: lifecycle::Notice::HeldStranger,
        author: sender.to_string(),
        text: msg.visible_text().to_string(),
    };
    push_plain_notices(tx, pending, notice, now)
}

/// A bounce of our mail about the ticket: a delivery-failure note on the timeline, and
/// the assignee (or the ticket's agents) told, with the bounce's text. Never answered.
fn delivery_failure(
    m: &Arriving,
    state: &lifecycle::TicketState,
    pending: &mut PendingMail,
) -> Result<()> {
    let Arriving {
        tx, cx, msg, now, ..
    } = *m;
    let ticket = state.id;
    let bounced: Vec<String> = msg
        .reported_ids
        .iter()
        .filter_map(|id| store::outbox::recipients_of(tx, id).ok().flatten())
        .flatten()
        .collect();
    let who = if bounced.is_empty() {
        "a recipient".to_string()
    } else {
        bounced.join(", ")
    };
    let what = format!("delivery failure: our mail to {who} bounced");
    store::tickets::add_event(tx, ticket, now, "ticketpost", "delivery_failure", &what)?;
    warn!(token = %threading::token(&cx.desk.token_prefix, ticket), "{what}");
    let text = format!(
        "{what}.\n\n{}",
        msg.text_body.chars().take(2_000).collect::<String>()
    );
    let notice = PlainNotice {
        ticket,
        agents: lifecycle::agents_to_notify(state, &cx.desk, None),
        notice: lifecycle::Notice::DeliveryFailed,
        author: "the mail system".to_string(),
        text,
    };
    push_plain_notices(tx, pending, notice, now)
}

/// A warning the desk raises itself about a ticket, to some agents.
struct PlainNotice {
    ticket: i64,
    agents: Vec<String>,
    notice: lifecycle::Notice,
    author: String,
    text: String,
}

/// Queues one agents' notice per address, without intake extras and outside any
/// thread (warnings the desk raises itself, not replies to a message).
fn push_plain_notices(
    tx: &Connection,
    pending: &mut PendingMail,
    n: PlainNotice,
    now: i64,
) -> Result<()> {
    let PlainNotice {
        ticket,
        agents,
        notice,
        author,
        text,
    } = n;
    let row =
        store::tickets::get(tx, ticket)?.with_context(|| format!("ticket {ticket} vanished"))?;
    let view = TicketView::from(&row);
    if !agents.is_empty() {
        pending.push_each(ticket, MailKind::AgentNotice, move |r| {
            r.agent_notices(
                &view,
                &agents,
                notice,
                Some(author.as_str()),
                &text,
                &NoticeExtras::default(),
                &Thread::default(),
                now,
            )
        });
    }
    Ok(())
}

/// A new ticket from a sender over `[limits] acknowledgements_per_sender_per_hour`:
/// no notice or alert of its own (noted on the timeline). The first one over the limit
/// sends `summary_to` one summary notice instead, so a flood is one mail per agent.
fn flooded_notices(
    m: &Arriving,
    (ticket, token): (i64, &str),
    requester: &str,
    arrival: &desk::arrival::Arrival,
    summary_to: Option<Vec<String>>,
    pending: &mut PendingMail,
) -> Result<()> {
    let Arriving { tx, cx, now, .. } = *m;
    let limit = cx.limits.acknowledgements_per_sender_per_hour;
    let opened_lately = arrival.opened_lately;
    let what = format!(
        "no agents' notice: {requester} opened {opened_lately} tickets within the hour (flood, [limits] acknowledgements_per_sender_per_hour = {limit})"
    );
    store::tickets::add_event(tx, ticket, now, "ticketpost", "mail", &what)?;
    let Some(agents) = summary_to else {
        return Ok(());
    };
    warn!(token = %token, requester = %requester, "{what}; the agents get one summary notice");
    let text = format!(
        "{requester} has opened {opened_lately} tickets within the hour, the last one {token}. Their new tickets are stored as usual, but neither acknowledged nor announced one by one until the hour is over: `ticketpost tickets list` shows them."
    );
    let notice = PlainNotice {
        ticket,
        agents,
        notice: lifecycle::Notice::Flood,
        author: requester.to_string(),
        text,
    };
    push_plain_notices(tx, pending, notice, now)
}

/// How agents' notices name someone from outside: the address always shows, since a
/// display name alone can claim to be anyone.
fn name_and_address(name: Option<&str>, address: &str) -> String {
    match name {
        Some(name) if !name.trim().is_empty() => format!("{name} <{address}>"),
        _ => address.to_string(),
    }
}

/// A message over the size limit: noted on the ticket for the agents and, when
/// `tell`, its sender is told with a size notice.
fn oversized_message(
    tx: &Connection,
    msg: &InboundMessage,
    (ticket, token): (i64, &str),
    tell: bool,
    now: i64,
    pending: &mut PendingMail,
) -> Result<()> {
    let Some(o) = msg.oversized else {
        return Ok(());
    };
    let (size, limit) = o.in_megabytes();
    let what = format!(
        "message of {size} MB, over the {limit} MB limit ([limits] max_message_bytes): kept raw; only its start was read and its attachments are not listed{}",
        if tell { "; the sender was told" } else { "" }
    );
    store::tickets::add_event(tx, ticket, now, "ticketpost", "message", &what)?;
    warn!(token = %token, bytes = o.bytes, "{what}");
    if tell && msg.reply_address().is_some() {
        let row = store::tickets::get(tx, ticket)?
            .with_context(|| format!("ticket {ticket} vanished"))?;
        let view = TicketView::from(&row);
        let request = msg.without_raw();
        let thread = Thread::reply_to(request.message_id.as_deref(), &request.references);
        pending.push(ticket, MailKind::SizeNotice, move |r| {
            r.size_notice(&view, &request, &thread, now)
        });
    }
    Ok(())
}

/// Characters of a request that knowledge-base and similar-ticket search look at.
const SEARCH_CHARS: usize = 1000;

/// How much of a request the similar-tickets index keeps: the subject and the first
/// paragraphs say what it is about, and every character costs index work per ticket.
const INDEX_CHARS: usize = 400;
/// Similar past tickets listed in a new ticket's notice.
const SIMILAR_TICKETS: usize = 5;

/// An entry as agents' notices list it: a draft is marked "(draft)".
fn agents_suggestion(e: &store::kb::KbEntry) -> Suggestion {
    let mut s = suggestion(e);
    if !e.is_approved() {
        s.title.push_str(" (draft)");
    }
    s
}

fn suggestion(e: &store::kb::KbEntry) -> Suggestion {
    Suggestion {
        id: e.id,
        title: e.title.clone(),
        solution: excerpt_chars(&e.solution, 300).to_string(),
    }
}

/// Records intake facts found in a message on its ticket, with a timeline entry for
/// the new ones.
fn record_facts(
    tx: &Connection,
    ticket: i64,
    facts: &[FactFinding],
    message_row: Option<i64>,
    actor: &str,
    now: i64,
) -> Result<()> {
    if facts.is_empty() {
        return Ok(());
    }
    let pairs: Vec<(&str, &str)> = facts
        .iter()
        .map(|f| (f.fact.as_str(), f.evidence.as_str()))
        .collect();
    let added = store::tickets::add_facts(tx, ticket, &pairs, message_row, now)?;
    if !added.is_empty() {
        let labels: Vec<&str> = facts
            .iter()
            .filter(|f| added.iter().any(|a| a == f.fact.as_str()))
            .map(|f| f.fact.label())
            .collect();
        store::tickets::add_event(
            tx,
            ticket,
            now,
            actor,
            "facts",
            &format!("facts given: {}", labels.join(", ")),
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    fn setup() -> (tempfile::TempDir, Connection, IngestContext) {
        setup_with("")
    }

    /// `desk`: more `[desk]` keys, then any more tables.
    fn setup_with(desk: &str) -> (tempfile::TempDir, Connection, IngestContext) {
        let dir = tempfile::tempdir().unwrap();
        let text = format!(
            "[store]\npath = \"{0}/t.db\"\n[mailbox]\nkind = \"maildir\"\npath = \"{0}/in\"\n[transport]\nkind = \"file\"\npath = \"{0}/out\"\n[desk]\nsupport_address = \"support@example.test\"\n{desk}\n",
            dir.path().display()
        );
        let cfg =
            Config::from_toml(std::path::Path::new("t.toml"), &text, &Default::default()).unwrap();
        let conn = store::open_and_migrate(&cfg.store.path, false).unwrap();
        let cx = IngestContext {
            desk: cfg.desk.clone(),
            kb: cfg.kb,
            intake: IntakeRules::built_in(),
            sla: cfg.sla.clone(),
            security: cfg.security.clone(),
            limits: cfg.limits,
            staff_key: crate::desk::staff_proof::StaffKey::new(b"test".to_vec()),
            renderer: Arc::new(Renderer::new(&cfg.templates, &cfg.desk).unwrap()),
            source: "test".into(),
            folder: "INBOX".into(),
            faults: Faults::default(),
            send_mail: true,
        };
        (dir, conn, cx)
    }

    fn mail(id: &str, subject: &str) -> Result<Parsed, ParseFailure> {
        mail_from("a@x.test", id, subject)
    }

    fn mail_from(from: &str, id: &str, subject: &str) -> Result<Parsed, ParseFailure> {
        inbound::parse(
            format!("From: {from}\r\nSubject: {subject}\r\nMessage-ID: <{id}>\r\n\r\nbody\r\n")
                .into_bytes(),
        )
        .map(|msg| Parsed {
            assessment: assessment(&msg, IntakeRules::built_in(), &TriageConfig::default()),
            msg,
        })
    }

    fn count(conn: &Connection, table: &str) -> i64 {
        conn.query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))
            .unwrap()
    }

    /// Makes storing any message with the subject "poison" fail.
    fn poison_subject(conn: &Connection) {
        conn.execute_batch(
            "CREATE TRIGGER poison BEFORE INSERT ON messages WHEN NEW.subject = 'poison'
             BEGIN SELECT RAISE(ABORT, 'poisoned'); END;",
        )
        .unwrap();
    }

    #[test]
    fn a_message_that_cannot_be_stored_is_quarantined_alone() {
        let (_dir, mut conn, cx) = setup();
        poison_subject(&conn);
        let batch = vec![
            mail("1@x.test", "fine"),
            mail("2@x.test", "poison"),
            mail("3@x.test", "fine too"),
        ];
        let s = apply_batch(
            &mut conn,
            &cx,
            batch,
            Some(Checkpoint {
                uid_validity: 7,
                last_uid: 3,
            }),
            100,
        )
        .unwrap();
        assert_eq!(
            (s.messages, s.new_tickets, s.quarantined, s.acknowledgements),
            (3, 2, 1, 2)
        );
        // The poison message's ticket and outbox row were rolled back with it.
        assert_eq!(count(&conn, "tickets"), 2);
        assert_eq!(count(&conn, "outbox"), 2);
        let reason: String = conn
            .query_row("SELECT reason FROM quarantine", [], |r| r.get(0))
            .unwrap();
        assert!(reason.contains("poisoned"), "{reason}");
        assert_eq!(
            store::mailbox_state::load(&conn, "test")
                .unwrap()
                .unwrap()
                .last_uid,
            3
        );
    }

    #[test]
    fn a_large_batch_renders_ahead_and_queues_every_mail_once_in_order() {
        let (_dir, mut conn, cx) = setup();
        poison_subject(&conn);
        let n = PARALLEL_RENDER_MIN * 3;
        // Each from its own sender, below the per-sender acknowledgement limit.
        let request = |i: usize| {
            let subject = if i % 17 == 5 {
                "poison".to_string()
            } else {
                format!("request {i}")
            };
            mail_from(&format!("u{i}@x.test"), &format!("{i}@x.test"), &subject)
        };
        let batch: Vec<_> = (0..n).map(request).collect();
        let poisoned = (0..n).filter(|i| i % 17 == 5).count();
        let s = apply_batch(&mut conn, &cx, batch, None, 100).unwrap();
        let stored = n - poisoned;
        assert_eq!(
            (s.new_tickets, s.quarantined, s.acknowledgements, s.mails),
            (stored, poisoned, stored, stored)
        );
        // One acknowledgement per ticket, queued in ticket order, none for the
        // rolled-back messages.
        let tickets: Vec<i64> = conn
            .prepare("SELECT ticket_id FROM outbox ORDER BY id")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        assert_eq!(tickets, (1..=stored as i64).collect::<Vec<_>>());
        assert_eq!(count(&conn, "tickets"), stored as i64);
        // An import stores the same batch size without rendering anything.
        let (_dir, mut conn, mut cx) = setup();
        cx.send_mail = false;
        let batch: Vec<_> = (0..n).map(request).collect();
        let s = apply_batch(&mut conn, &cx, batch, None, 100).unwrap();
        assert_eq!((s.new_tickets, s.mails), (n, 0));
        assert_eq!(count(&conn, "outbox"), 0);
    }

    #[test]
    fn a_store_that_cannot_be_written_fails_the_whole_batch() {
        let (_dir, mut conn, cx) = setup();
        conn.pragma_update(None, "query_only", true).unwrap();
        let batch = vec![mail("1@x.test", "fine"), mail("2@x.test", "also fine")];
        let err = apply_batch(
            &mut conn,
            &cx,
            batch,
            Some(Checkpoint {
                uid_validity: 7,
                last_uid: 2,
            }),
            100,
        )
        .unwrap_err();
        assert!(format!("{err:#}").contains("1@x.test"), "{err:#}");
        conn.pragma_update(None, "query_only", false).unwrap();
        assert_eq!(count(&conn, "messages") + count(&conn, "quarantine"), 0);
        assert!(
            store::mailbox_state::load(&conn, "test").unwrap().is_none(),
            "checkpoint not advanced"
        );
    }

    #[test]
    fn duplicates_within_one_batch_and_reused_ids_are_handled() {
        let (_dir, mut conn, cx) = setup();
        let same = mail("1@x.test", "hello");
        let again = mail("1@x.test", "hello");
        let reused = mail("1@x.test", "a different message reusing the id");
        let s = apply_batch(&mut conn, &cx, vec![same, again, reused], None, 100).unwrap();
        assert_eq!((s.new_tickets, s.duplicates), (2, 1));
        let ids: Vec<String> = conn
            .prepare("SELECT identity FROM messages ORDER BY id")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        assert_eq!(ids[0], "1@x.test");
        assert!(ids[1].starts_with("1@x.test#"), "{ids:?}");
    }

    #[test]
    fn a_reply_after_the_reopen_window_opens_a_linked_ticket() {
        let (_dir, mut conn, cx) = setup();
        let day = 86_400;
        apply_batch(
            &mut conn,
            &cx,
            vec![mail("r1@x.test", "Printer")],
            None,
            100,
        )
        .unwrap();
        store::tickets::apply_changes(
            &conn,
            1,
            &[
                lifecycle::Change::Status(desk::Status::Closed),
                lifecycle::Change::ClosedAt(Some(100)),
            ],
            100,
        )
        .unwrap();
        // Within the window: the same ticket opens again.
        let s = apply_batch(
            &mut conn,
            &cx,
            vec![mail("r2@x.test", "Re: [TP-1] Printer")],
            None,
            100 + 14 * day,
        )
        .unwrap();
        assert_eq!((s.follow_ups, s.new_tickets), (1, 0));
        assert_eq!(
            store::tickets::get(&conn, 1).unwrap().unwrap().status,
            "open"
        );
        // Closed again, and answered after the window: a new ticket that links it.
        store::tickets::apply_changes(
            &conn,
            1,
            &[
                lifecycle::Change::Status(desk::Status::Closed),
                lifecycle::Change::ClosedAt(Some(200 + 14 * day)),
            ],
            200 + 14 * day,
        )
        .unwrap();
        let s = apply_batch(
            &mut conn,
            &cx,
            vec![mail("r3@x.test", "Re: [TP-1] Printer")],
            None,
            300 + 28 * day,
        )
        .unwrap();
        assert_eq!((s.follow_ups, s.new_tickets, s.acknowledgements), (0, 1, 1));
        let new = store::tickets::get(&conn, 2).unwrap().unwrap();
        assert_eq!(new.linked_ticket, Some(1));
        assert_eq!(
            store::tickets::get(&conn, 1).unwrap().unwrap().status,
            "closed"
        );
        let old_events = store::tickets::events(&conn, 1).unwrap();
        assert!(
            old_events
                .iter()
                .any(|e| e.kind == "linked" && e.detail.contains("TP-2"))
        );
    }

    fn raw_mail(head: &str, body: &str) -> Result<Parsed, ParseFailure> {
        inbound::parse(
            format!("{head}\r\n\r\n{body}\r\n")
                .replace('\n', "\r\n")
                .replace("\r\r\n", "\r\n")
                .into_bytes(),
        )
        .map(|msg| Parsed {
            assessment: assessment(&msg, IntakeRules::built_in(), &TriageConfig::default()),
            msg,
        })
    }

    /// Every statement a batch runs — a new request (triage, facts, knowledge-base and
    /// similar-ticket look-ups, acknowledgement and agents' notices), a requester's
    /// reply threaded by its token, an agent's reply with commands, and a repeat — and
    /// the similar-tickets index catching up, is a primary-key look-up or an index
    /// range, never a scan of a table that grows with the history.
    #[test]
    fn a_new_tickets_mail_is_packed_against_the_request_and_comes_back_whole() {
        let (_dir, mut conn, cx) =
            setup_with("agents = [\"Ann Lee <ann@example.test>\", \"Bob Roe <bob@example.test>\"]");
        let request = "Since this morning the plotter on floor 4 prints every page twice,\n\
                       and the second copy is shifted by two centimetres to the left.";
        let first = raw_mail(
            "From: Al <al@x.test>\nTo: support@example.test\nSubject: Plotter prints twice\nMessage-ID: <plot@x.test>",
            request,
        );
        apply_batch(&mut conn, &cx, vec![first], None, 100).unwrap();
        let row: i64 = conn
            .query_row("SELECT id FROM messages WHERE ticket_id = 1", [], |r| {
                r.get(0)
            })
            .unwrap();
        let mut stmt = conn
            .prepare(
                "SELECT o.kind, b.quotes FROM outbox o JOIN outbox_bodies b ON b.id = o.body_id
                 ORDER BY o.id",
            )
            .unwrap();
        let quoting: Vec<(String, Option<i64>)> = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .map(|r| r.unwrap())
            .collect();
        drop(stmt);
        assert_eq!(
            quoting,
            vec![
                ("acknowledgement".to_string(), Some(row)),
                ("agent_notice".to_string(), Some(row)),
                ("agent_notice".to_string(), Some(row)),
            ]
        );
        // The sender gets each mail whole (the request's text read back from its row),
        // and looks that row up by its key.
        let (claimed, ran) =
            crate::store::plan_audit::assert_no_scans_mut("outbox claim", &mut conn, |c| {
                store::outbox::claim_due(c, 200, 10).unwrap()
            });
        assert!(
            ran.iter().any(|q| q.contains("FROM messages WHERE id")),
            "{ran:#?}"
        );
        assert_eq!(claimed.len(), 3);
        for mail in &claimed {
            let parsed = inbound::parse(mail.raw.clone()).unwrap();
            let text = parsed.text_body.replace("\r\n", "\n");
            assert!(
                text.contains("prints every page twice"),
                "{}: {text}",
                mail.kind
            );
            assert_eq!(parsed.message_id.as_deref(), Some(mail.message_id.as_str()));
        }
    }

    #[test]
    fn ingest_runs_no_scan_of_a_growing_table() {
        let (_dir, mut conn, cx) = setup_with(
            "agents = [\"Ann Lee <ann@example.test>\", \"Bob Roe <bob@example.test>\"]\n\
             supervisors = [\"Sue Boss <sue@example.test>\"]\n\
             [security]\ntrusted_authserv_id = \"mx.desk.test\"",
        );
        let entry = store::kb::NewKbEntry {
            ticket_id: None,
            title: "VPN error 809",
            problem: "The VPN fails with error 809 from home.",
            cause: "",
            steps: "",
            solution: "Use IKEv2.",
            language: "en",
            author: "ann@example.test",
            at: 50,
        };
        store::kb::add(&conn, &entry).unwrap();
        let first = raw_mail(
            "From: Al <al@x.test>\nTo: support@example.test\nSubject: VPN error 809\nMessage-ID: <first@x.test>",
            "The VPN gives error 809 since this morning on my laptop.",
        );
        apply_batch(&mut conn, &cx, vec![first], None, 100).unwrap();
        store::kb::index_queued(&mut conn, 100).unwrap();
        let batch = || {
            vec![
                raw_mail(
                    "From: Cy <cy@x.test>\nTo: support@example.test\nSubject: VPN error 809 again\nMessage-ID: <new@x.test>",
                    "Same VPN error 809 here, the whole sales team is affected.",
                ),
                raw_mail(
                    "From: Al <al@x.test>\nTo: support@example.test\nSubject: Re: [TP-1] VPN error 809\nMessage-ID: <reply@x.test>",
                    "Still failing after a restart.",
                ),
                raw_mail(
                    "Authentication-Results: mx.desk.test; dkim=pass header.d=example.test\nFrom: Ann Lee <ann@example.test>\nTo: support@example.test\nSubject: Re: [TP-1] VPN error 809\nMessage-ID: <agent@example.test>",
                    "/assign me\n/priority P2\n\nPlease try IKEv2.",
                ),
            ]
        };
        let (summary, ran) =
            crate::store::plan_audit::assert_no_scans_mut("ingest", &mut conn, |c| {
                apply_batch(c, &cx, batch(), None, 200).unwrap()
            });
        assert_eq!(
            (summary.new_tickets, summary.follow_ups),
            (1, 2),
            "{ran:#?}"
        );
        for wanted in [
            "term_lists",
            "term_items",
            "INSERT INTO outbox",
            // The notices to each agent share one body (store::outbox).
            "INSERT INTO outbox_bodies",
            "kb_entries",
        ] {
            assert!(
                ran.iter().any(|q| q.contains(wanted)),
                "ingest did not run {wanted}"
            );
        }
        // The same mails again are repeats, found through the identity index.
        let (summary, _) =
            crate::store::plan_audit::assert_no_scans_mut("ingest of repeats", &mut conn, |c| {
                apply_batch(c, &cx, batch(), None, 300).unwrap()
            });
        assert_eq!(summary.duplicates, 3);
        let (indexed, ran) = crate::store::plan_audit::assert_no_scans_mut(
            "similar-tickets index",
            &mut conn,
            |c| store::kb::index_queued(c, 100).unwrap(),
        );
        assert_eq!(indexed, 1);
        assert!(ran.iter().any(|q| q.contains("term_lists")));
    }
}
