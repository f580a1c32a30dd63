//! Ingest: one batch of fetched mail becomes one SQLite transaction.
//!
//! For each message, in order: parse (on a blocking thread, panic-isolated), drop it if
//! its identity is already stored, look up its thread, let the desk decide, then store
//! the message, the ticket change, the timeline events and the rendered
//! acknowledgement in the outbox. The batch's mailbox checkpoint commits in the same
//! transaction, so after a crash the batch is either wholly there or wholly fetched
//! again (and then dropped as repeats where it was).

use std::sync::Arc;

use anyhow::{Context, Result};
use rusqlite::Connection;
use sha2::{Digest, Sha256};
use tracing::{debug, info, warn};

use crate::config::DeskConfig;
use crate::desk::{self, Placement, ThreadFacts, ThreadedBy, threading};
use crate::inbound::{self, InboundMessage, ParseFailure};
use crate::mailbox::{Checkpoint, FetchedMail};
use crate::notify::Renderer;
use crate::store;

/// Deliberate crashes for tests of crash safety (set by `TICKETPOST_FAULT`, read in
/// main): the process aborts at the named point, as a `kill -9` would stop it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Faults {
    /// Abort inside a batch's transaction after this many messages were written.
    pub abort_in_batch_after: Option<usize>,
    /// Abort right after this many batches committed (before the mailbox is told and
    /// before anything is sent).
    pub abort_after_commits: Option<usize>,
}

impl Faults {
    /// Parses `in-batch:N` or `after-commit:N`.
    pub fn parse(spec: &str) -> Result<Faults> {
        let (what, n) = spec
            .split_once(':')
            .context("TICKETPOST_FAULT must look like in-batch:N or after-commit:N")?;
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
}

impl BatchSummary {
    pub fn add(&mut self, o: &BatchSummary) {
        self.messages += o.messages;
        self.new_tickets += o.new_tickets;
        self.follow_ups += o.follow_ups;
        self.duplicates += o.duplicates;
        self.acknowledgements += o.acknowledgements;
        self.unfiled += o.unfiled;
        self.quarantined += o.quarantined;
    }
}

/// Parses a batch. CPU work: call it from a blocking thread.
pub fn parse_batch(mails: Vec<FetchedMail>) -> Vec<Result<InboundMessage, ParseFailure>> {
    mails.into_iter().map(|m| inbound::parse(m.raw)).collect()
}

/// Everything `apply_batch` needs besides the connection; shared with the writer thread.
pub struct IngestContext {
    pub desk: DeskConfig,
    pub renderer: Arc<Renderer>,
    /// The mailbox state key (for the checkpoint and quarantine rows).
    pub source: String,
    pub faults: Faults,
}

/// Applies a parsed batch in one transaction, with the batch's checkpoint.
pub fn apply_batch(
    conn: &mut Connection,
    cx: &IngestContext,
    parsed: Vec<Result<InboundMessage, ParseFailure>>,
    checkpoint: Option<Checkpoint>,
    now: i64,
) -> Result<BatchSummary> {
    let mut tx = conn
        .transaction()
        .context("cannot begin the batch transaction")?;
    let mut summary = BatchSummary::default();
    for (written, item) in parsed.into_iter().enumerate() {
        if cx.faults.abort_in_batch_after == Some(written) {
            warn!("fault injection: aborting inside a batch transaction");
            std::process::abort();
        }
        summary.messages += 1;
        let (reason, raw) = match item {
            Ok(msg) => {
                // Each message in its own savepoint: a message that cannot be stored
                // is rolled back alone and quarantined, instead of blocking the
                // mailbox by failing its batch forever.
                let before = summary;
                let savepoint = tx.savepoint()?;
                match apply_message(&savepoint, cx, &msg, now, &mut summary) {
                    Ok(()) => {
                        savepoint.commit()?;
                        continue;
                    }
                    Err(e) if is_environmental(&e) => {
                        return Err(e.context(format!("storing message {}", msg.identity())));
                    }
                    Err(e) => {
                        drop(savepoint);
                        summary = before;
                        (format!("cannot be stored: {e:#}"), msg.raw)
                    }
                }
            }
            Err(failure) => (failure.reason, failure.raw),
        };
        let hash = hex::encode(Sha256::digest(&raw));
        warn!(reason = %reason, sha256 = %hash, "message quarantined with its raw bytes");
        store::messages::quarantine(&tx, &cx.source, &hash, &reason, &raw, now)?;
        summary.quarantined += 1;
    }
    if let Some(c) = checkpoint {
        store::mailbox_state::save(&tx, &cx.source, c, now)?;
    }
    tx.commit().context("cannot commit the batch")?;
    Ok(summary)
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
    now: i64,
    summary: &mut BatchSummary,
) -> Result<()> {
    let mut identity = msg.identity();
    if let Some(known) = store::messages::find_by_identity(tx, &identity)? {
        if known.content_hash == msg.content_hash {
            debug!(identity = %identity, "already stored; dropped");
            summary.duplicates += 1;
            return Ok(());
        }
        // Same Message-ID, different content: a different message that reused an id
        // (broken clients do). Keep it under a derived identity.
        let derived = format!(
            "{identity}#{}",
            &msg.content_hash[..16.min(msg.content_hash.len())]
        );
        if store::messages::find_by_identity(tx, &derived)?.is_some() {
            summary.duplicates += 1;
            return Ok(());
        }
        warn!(message_id = %identity, kept_as = %derived, "Message-ID reused with different content; kept as a separate message");
        identity = derived;
    }

    let automatic = inbound::classify(msg, &cx.desk.support_address);
    let prefix = &cx.desk.token_prefix;
    let token_ticket = match threading::token_in_subject(&msg.subject, prefix) {
        Some(n) if store::tickets::exists(tx, n)? => Some(n),
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
    candidates.extend(threading::reference_candidates(msg));
    let reference_ticket = store::messages::ticket_for_ids(tx, &candidates)?;
    let facts = ThreadFacts {
        token_ticket,
        reference_ticket,
    };
    let decision = desk::decide_intake(msg, automatic.as_ref(), facts, &cx.desk.support_address);
    let sender = msg
        .from
        .as_ref()
        .map(|a| a.email.as_str())
        .unwrap_or("(unknown sender)");
    let automatic_reason = automatic.as_ref().map(|v| v.reason.as_str());

    match decision.placement {
        Placement::FollowUp { ticket, by } => {
            store::messages::insert(
                tx,
                msg,
                &identity,
                Some(ticket),
                decision.kind,
                automatic_reason,
                now,
            )?;
            if let Some(id) = &msg.message_id {
                store::messages::record_id(tx, id, ticket, false)?;
            }
            store::tickets::touch(tx, ticket, now)?;
            let how = match by {
                ThreadedBy::Token => "subject token",
                ThreadedBy::Reference => "In-Reply-To/References",
            };
            let what = match automatic_reason {
                Some(r) => format!("automatic message threaded by {how} ({r})"),
                None => format!("message threaded by {how}"),
            };
            store::tickets::add_event(tx, ticket, now, sender, "message", &what)?;
            info!(token = %threading::token(prefix, ticket), message_id = %identity, "{what}");
            summary.follow_ups += 1;
        }
        Placement::NewTicket {
            requester,
            requester_name,
            subject,
        } => {
            let ticket = store::tickets::insert(
                tx,
                &store::tickets::NewTicket {
                    status: desk::status::OPEN,
                    priority: desk::DEFAULT_PRIORITY,
                    requester: &requester,
                    requester_name: requester_name.as_deref(),
                    subject: &subject,
                    at: now,
                },
            )?;
            store::messages::insert(
                tx,
                msg,
                &identity,
                Some(ticket),
                decision.kind,
                automatic_reason,
                now,
            )?;
            if let Some(id) = &msg.message_id {
                store::messages::record_id(tx, id, ticket, false)?;
            }
            let token = threading::token(prefix, ticket);
            store::tickets::add_event(
                tx,
                ticket,
                now,
                sender,
                "created",
                &format!("ticket opened: {subject}"),
            )?;
            info!(token = %token, message_id = %identity, requester = %requester, "new ticket");
            summary.new_tickets += 1;
            if decision.acknowledge {
                match cx
                    .renderer
                    .acknowledgement(ticket, msg, desk::DEFAULT_PRIORITY, now)
                {
                    Ok(mail) => {
                        store::outbox::enqueue(tx, &mail, now)?;
                        store::messages::record_id(tx, &mail.message_id, ticket, true)?;
                        store::tickets::add_event(
                            tx,
                            ticket,
                            now,
                            "ticketpost",
                            "mail",
                            &format!(
                                "acknowledgement queued to {} ({})",
                                mail.recipients.join(", "),
                                mail.message_id
                            ),
                        )?;
                        summary.acknowledgements += 1;
                    }
                    Err(e) => {
                        warn!(token = %token, error = %format!("{e:#}"), "no acknowledgement: cannot render it");
                        store::tickets::add_event(
                            tx,
                            ticket,
                            now,
                            "ticketpost",
                            "mail",
                            &format!("acknowledgement not sent: {e:#}"),
                        )?;
                    }
                }
            } else if let Some(reason) = &decision.no_ack_reason {
                debug!(token = %token, reason = %reason, "no acknowledgement");
                store::tickets::add_event(
                    tx,
                    ticket,
                    now,
                    "ticketpost",
                    "mail",
                    &format!("no acknowledgement: {reason}"),
                )?;
            }
        }
        Placement::Unfiled => {
            store::messages::insert(
                tx,
                msg,
                &identity,
                None,
                decision.kind,
                automatic_reason,
                now,
            )?;
            info!(message_id = %identity, reason = ?decision.no_ack_reason, "message stored without a ticket");
            summary.unfiled += 1;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    fn setup() -> (tempfile::TempDir, Connection, IngestContext) {
        let dir = tempfile::tempdir().unwrap();
        let text = format!(
            "[store]\npath = \"{0}/t.db\"\n[mailbox]\nkind = \"maildir\"\npath = \"{0}/in\"\n[transport]\nkind = \"file\"\npath = \"{0}/out\"\n[desk]\nsupport_address = \"support@example.test\"\n",
            dir.path().display()
        );
        let cfg =
            Config::from_toml(std::path::Path::new("t.toml"), &text, &Default::default()).unwrap();
        let conn = store::open_and_migrate(&cfg.store.path, false).unwrap();
        let cx = IngestContext {
            desk: cfg.desk.clone(),
            renderer: Arc::new(Renderer::new(&cfg.templates, &cfg.desk).unwrap()),
            source: "test".into(),
            faults: Faults::default(),
        };
        (dir, conn, cx)
    }

    fn mail(id: &str, subject: &str) -> Result<InboundMessage, ParseFailure> {
        inbound::parse(
            format!("From: a@x.test\r\nSubject: {subject}\r\nMessage-ID: <{id}>\r\n\r\nbody\r\n")
                .into_bytes(),
        )
    }

    fn count(conn: &Connection, table: &str) -> i64 {
        conn.query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))
            .unwrap()
    }

    #[test]
    fn a_message_that_cannot_be_stored_is_quarantined_alone() {
        let (_dir, mut conn, cx) = setup();
        conn.execute_batch(
            "CREATE TRIGGER poison BEFORE INSERT ON messages WHEN NEW.subject = 'poison'
             BEGIN SELECT RAISE(ABORT, 'poisoned'); END;",
        )
        .unwrap();
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
}
