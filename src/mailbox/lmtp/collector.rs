//! Group commit for the LMTP listener: every connection hands its parsed message to
//! one [`Collector`], which stores what has gathered as one batch (one transaction
//! through `ingest::apply_batch`, the same exactly-once path as IMAP and Maildir) and
//! only then answers each connection.
//!
//! A batch is what waits in the channel, plus the messages other connections are in
//! the middle of sending or parsing ([`IncomingCount`]): for those the collector
//! waits a little ([`GATHER_WAIT`]), because each connection has one message at a
//! time and would otherwise make a commit of its own right after. Connections that
//! have just been answered are not waited for: their next messages are parsed while
//! this batch commits, and make the next one. A lone message waits for nobody. Parsing is the connections' (in parallel); protocol and sockets are
//! `lmtp/mod.rs`'s.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::{Notify, mpsc, oneshot};
use tracing::{debug, info, warn};

use super::protocol::Delivered;
use crate::clock::Clock;
use crate::inbound::ParseFailure;
use crate::ingest::{self, BatchSummary, IngestContext, Parsed};
use crate::mailbox::BATCH_BYTES;
use crate::store::{self, Writer};
use crate::telemetry::Telemetry;

/// A message read and parsed by a connection, waiting for its commit.
pub(super) struct Delivery {
    pub(super) parsed: Result<Parsed, ParseFailure>,
    /// Raw size, for the batch's byte bound.
    pub(super) bytes: usize,
    /// How the connection learns the outcome: `Stored` only after the commit.
    pub(super) answer: oneshot::Sender<Delivered>,
}

/// The longest a batch waits for messages still being sent on other connections.
pub(super) const GATHER_WAIT: Duration = Duration::from_millis(3);

/// How many messages are being read (after DATA) or parsed, not yet handed to the
/// collector: messages that may join the next batch.
#[derive(Debug, Default)]
pub(super) struct IncomingCount(AtomicUsize);

impl IncomingCount {
    fn count(&self) -> usize {
        self.0.load(Ordering::Acquire)
    }
}

/// One message on its way, counted while this lives.
pub(super) struct Incoming(Arc<IncomingCount>);

impl Incoming {
    pub(super) fn new(open: &Arc<IncomingCount>) -> Incoming {
        open.0.fetch_add(1, Ordering::AcqRel);
        Incoming(open.clone())
    }
}

impl Drop for Incoming {
    fn drop(&mut self) {
        self.0.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Tickets indexed per writer job while the listener is idle: small, so a message
/// that arrives meanwhile waits for little.
const INDEX_CHUNK: usize = 50;

/// Quiet time after a commit before the deferred work ([`Deferred`]) is done.
const IDLE_FOR: Duration = Duration::from_millis(5);

/// Under a stream with no quiet moment, the index catches up after this many commits.
const INDEX_EVERY_COMMITS: usize = 64;

/// Under a stream, the timer loop is told at most this often (each time it reads the
/// earliest due time: two writer jobs, as much as a small commit).
const TIMERS_WAKE_EVERY: Duration = Duration::from_millis(500);

/// Work a commit leaves for a quiet moment.
struct Deferred {
    /// New tickets wait for the similar-tickets index.
    unindexed: bool,
    /// Tickets changed: their due times may be sooner than the timer loop's wait.
    timers: bool,
    /// Commits since the index last caught up.
    commits: usize,
    timers_woken: Instant,
}

impl Default for Deferred {
    fn default() -> Self {
        Deferred {
            unindexed: false,
            timers: false,
            commits: 0,
            timers_woken: Instant::now(),
        }
    }
}

impl Deferred {
    fn any(&self) -> bool {
        self.unindexed || self.timers
    }
}

/// The one consumer of the connections' deliveries.
pub(super) struct Collector {
    pub(super) writer: Writer,
    pub(super) cx: Arc<IngestContext>,
    pub(super) clock: Arc<dyn Clock>,
    /// The outbox sender: told after a commit that queued mail.
    pub(super) wake: Arc<Notify>,
    /// The timer loop: told after commits that touched tickets (see [`Deferred`]).
    pub(super) timers_wake: Arc<Notify>,
    pub(super) telemetry: Arc<Telemetry>,
    pub(super) batch_size: usize,
    pub(super) rx: mpsc::Receiver<Delivery>,
    /// Messages on their way (see [`IncomingCount`]).
    pub(super) incoming: Arc<IncomingCount>,
}

impl Collector {
    /// Commits and answers until every connection (every sender of the channel) is
    /// gone; returns what was stored.
    pub(super) async fn run(mut self) -> BatchSummary {
        let mut total = BatchSummary::default();
        let mut commits = 0usize;
        let mut failed = 0usize;
        let mut later = Deferred::default();
        loop {
            let first = if later.any() {
                tokio::select! {
                    d = self.rx.recv() => d,
                    _ = tokio::time::sleep(IDLE_FOR) => {
                        self.catch_up(&mut later).await;
                        continue;
                    }
                }
            } else {
                self.rx.recv().await
            };
            let Some(first) = first else {
                break;
            };
            let batch = self.gather(first).await;
            if let Some(summary) = self.commit(batch, &mut commits, &mut failed).await {
                total.add(&summary);
                later.unindexed |= summary.new_tickets > 0;
                later.timers |= summary.new_tickets + summary.follow_ups > 0;
                later.commits += 1;
                if later.commits >= INDEX_EVERY_COMMITS
                    || later.timers_woken.elapsed() >= TIMERS_WAKE_EVERY
                {
                    self.catch_up(&mut later).await;
                }
            }
        }
        total
    }

    /// Does what waits for a quiet moment: tells the timer loop, and indexes one
    /// chunk of new tickets for the similar-tickets search.
    async fn catch_up(&self, later: &mut Deferred) {
        if later.timers {
            self.timers_wake.notify_one();
            later.timers = false;
            later.timers_woken = Instant::now();
        }
        if later.unindexed && (later.commits >= INDEX_EVERY_COMMITS || self.rx.is_empty()) {
            later.unindexed = self.index_chunk().await;
            later.commits = 0;
        }
    }

    /// `first`, whatever else is waiting, and (for up to [`GATHER_WAIT`]) what other
    /// connections are sending meanwhile, up to the batch's size and bytes.
    async fn gather(&mut self, first: Delivery) -> Vec<Delivery> {
        let deadline = tokio::time::Instant::now() + GATHER_WAIT;
        let mut bytes = first.bytes;
        let mut batch = vec![first];
        while batch.len() < self.batch_size && bytes < BATCH_BYTES {
            let next = match self.rx.try_recv() {
                Ok(d) => Some(d),
                Err(_) if self.incoming.count() == 0 => None,
                Err(_) => tokio::time::timeout_at(deadline, self.rx.recv())
                    .await
                    .ok()
                    .flatten(),
            };
            let Some(d) = next else {
                break;
            };
            bytes = bytes.saturating_add(d.bytes);
            batch.push(d);
        }
        batch
    }

    /// Stores a batch in one transaction, then answers each of its connections:
    /// `Stored` after the commit, `Failed` when it did not commit.
    async fn commit(
        &self,
        batch: Vec<Delivery>,
        commits: &mut usize,
        failed: &mut usize,
    ) -> Option<BatchSummary> {
        let started = Instant::now();
        let (parsed, answers): (Vec<_>, Vec<_>) =
            batch.into_iter().map(|d| (d.parsed, d.answer)).unzip();
        let cx = self.cx.clone();
        let now = self.clock.now();
        let refuse = self.cx.faults.store_fails.is_some_and(|n| *failed < n);
        let stored = self
            .writer
            .call(move |conn| {
                if refuse {
                    anyhow::bail!("fault injection: the store refuses the batch");
                }
                ingest::apply_batch(conn, &cx, parsed, None, now)
            })
            .await;
        let summary = match stored {
            Ok(summary) => summary,
            Err(e) => {
                *failed += 1;
                warn!(error = %format!("{e:#}"), messages = answers.len(), "LMTP batch not stored; answered 451, the MTA retries");
                for answer in answers {
                    let _ = answer.send(Delivered::Failed);
                }
                return None;
            }
        };
        *commits += 1;
        self.telemetry
            .batch_stored(summary.messages, started.elapsed());
        if self.cx.faults.abort_after_commits == Some(*commits) {
            warn!("fault injection: aborting after a commit");
            std::process::abort();
        }
        // The acknowledgements leave at once; then the MTA hears its 250s.
        if summary.mails > 0 {
            self.wake.notify_one();
        }
        for answer in answers {
            // A connection gone meanwhile: the MTA retries, the repeat is dropped.
            let _ = answer.send(Delivered::Stored);
        }
        let store_ms = started.elapsed().as_millis() as u64;
        if summary.new_tickets + summary.follow_ups > 0 {
            info!(
                folder = %self.cx.folder,
                messages = summary.messages,
                new_tickets = summary.new_tickets,
                follow_ups = summary.follow_ups,
                duplicates = summary.duplicates,
                acks = summary.acknowledgements,
                store_ms,
                "LMTP batch stored"
            );
        } else {
            debug!(
                messages = summary.messages,
                duplicates = summary.duplicates,
                store_ms,
                "LMTP batch stored"
            );
        }
        Some(summary)
    }

    /// One chunk of the similar-tickets index; true while more are waiting.
    async fn index_chunk(&self) -> bool {
        match self
            .writer
            .call(|c| store::kb::index_queued(c, INDEX_CHUNK))
            .await
        {
            Ok(n) => n == INDEX_CHUNK,
            Err(e) => {
                warn!(error = %format!("{e:#}"), "search index of past requests not updated; trying again later");
                false
            }
        }
    }
}
