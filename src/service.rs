//! The service: wires the loops together. The ingest loop (mailbox → inbound → desk →
//! store) and the outbox sender run side by side; one cancellation token stops both.
//! On shutdown the batch in hand is finished and committed, each loop is awaited with a
//! time limit, and whatever is left is safely redone at the next start.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use crate::clock::Clock;
use crate::config::Config;
use crate::ingest::{self, BatchSummary, Faults, IngestContext};
use crate::mailbox::MailSource;
use crate::notify::Renderer;
use crate::outbox::transport::Transport;
use crate::outbox::{OutboxSender, SendRound, backoff};
use crate::store::{self, Writer};

/// How to run.
#[derive(Debug, Clone, Copy, Default)]
pub struct RunOptions {
    /// Process what is waiting, drain the outbox, return.
    pub once: bool,
    pub faults: Faults,
}

/// What a run did.
#[derive(Debug, Default, Clone, Copy, serde::Serialize)]
pub struct RunReport {
    pub ingest: BatchSummary,
    pub sent: usize,
    pub send_retrying: usize,
    pub send_failed: usize,
    /// Wall time of the ingest part (fetch, parse, store, queue), in seconds.
    pub ingest_seconds: f64,
    /// Wall time of draining the outbox (`--once` only), in seconds.
    pub send_seconds: f64,
}

/// Time allowed for the sender to finish its round at shutdown.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(20);

/// Runs the gateway until `shutdown` (or, with `once`, until everything waiting is done).
pub async fn run(
    cfg: &Config,
    opts: RunOptions,
    clock: Arc<dyn Clock>,
    shutdown: CancellationToken,
) -> Result<RunReport> {
    let writer = Writer::start(&cfg.store)?;
    let renderer = Arc::new(Renderer::new(&cfg.templates, &cfg.desk)?);
    let transport = Arc::new(Transport::new(&cfg.transport)?);
    let source_key = MailSource::state_key(&cfg.mailbox);
    let checkpoint = {
        let key = source_key.clone();
        writer
            .call(move |c| store::mailbox_state::load(c, &key))
            .await?
    };
    let mut source = MailSource::new(&cfg.mailbox, checkpoint)?;
    let wake = Arc::new(Notify::new());
    let sender = OutboxSender::new(
        writer.clone(),
        transport,
        clock.clone(),
        wake.clone(),
        cfg.desk.token_prefix.clone(),
    );
    let cx = Arc::new(IngestContext {
        desk: cfg.desk.clone(),
        renderer,
        source: source_key,
        faults: opts.faults,
    });
    let batch_size = match &cfg.mailbox {
        crate::config::MailboxConfig::Imap(c) => c.batch_size,
        crate::config::MailboxConfig::Maildir(c) => c.batch_size,
    };
    let ingest = IngestLoop {
        writer,
        cx,
        clock,
        wake,
        batch_size,
        once: opts.once,
    };

    if opts.once {
        let started = Instant::now();
        let summary = ingest.run(&mut source, &shutdown).await?;
        let ingest_seconds = started.elapsed().as_secs_f64();
        let started = Instant::now();
        sender.recover().await?;
        let round = sender.send_due().await?;
        let send_seconds = started.elapsed().as_secs_f64();
        if round.retrying > 0 {
            warn!(
                count = round.retrying,
                "some mail could not be sent yet; it stays queued for the next run"
            );
        }
        return Ok(RunReport {
            ingest_seconds,
            send_seconds,
            ..report(summary, round)
        });
    }

    let sender_task = tokio::spawn(sender.run(shutdown.child_token()));
    let result = ingest.run(&mut source, &shutdown).await;
    shutdown.cancel();
    match tokio::time::timeout(SHUTDOWN_GRACE, sender_task).await {
        Ok(Ok(Ok(()))) => {}
        Ok(Ok(Err(e))) => warn!(error = %format!("{e:#}"), "outbox sender stopped with an error"),
        Ok(Err(e)) => warn!(error = %e, "outbox sender task failed"),
        Err(_) => {
            warn!("outbox sender did not stop in time; queued mail is sent at the next start")
        }
    }
    Ok(report(result?, SendRound::default()))
}

fn report(ingest: BatchSummary, round: SendRound) -> RunReport {
    RunReport {
        ingest,
        sent: round.sent,
        send_retrying: round.retrying,
        send_failed: round.failed,
        ingest_seconds: 0.0,
        send_seconds: 0.0,
    }
}

struct IngestLoop {
    writer: Writer,
    cx: Arc<IngestContext>,
    clock: Arc<dyn Clock>,
    wake: Arc<Notify>,
    batch_size: usize,
    once: bool,
}

impl IngestLoop {
    /// Fetch → parse → commit → mark done, batch after batch. Errors from the mailbox
    /// or the store are logged and retried with backoff (in `once` mode they end the
    /// run); nothing is marked done in the mailbox unless its batch committed.
    async fn run(
        &self,
        source: &mut MailSource,
        shutdown: &CancellationToken,
    ) -> Result<BatchSummary> {
        let mut total = BatchSummary::default();
        let mut failures = 0u32;
        let mut commits = 0usize;
        while !shutdown.is_cancelled() {
            match self.one_batch(source, &mut commits).await {
                Ok(Some(summary)) => {
                    failures = 0;
                    total.add(&summary);
                }
                Ok(None) => {
                    failures = 0;
                    if self.once {
                        break;
                    }
                    if let Err(e) = source.wait_for_mail(shutdown).await {
                        warn!(error = %format!("{e:#}"), "mailbox wait failed; reconnecting");
                        source.reset();
                        failures += 1;
                        pause(backoff(failures), shutdown).await;
                    }
                }
                Err(e) => {
                    if self.once {
                        return Err(e);
                    }
                    failures += 1;
                    let delay = backoff(failures);
                    warn!(error = %format!("{e:#}"), retry_in_ms = delay.as_millis() as u64, "ingest failed; nothing was marked done, retrying");
                    source.reset();
                    pause(delay, shutdown).await;
                }
            }
        }
        Ok(total)
    }

    /// One batch; `None` when nothing was waiting.
    async fn one_batch(
        &self,
        source: &mut MailSource,
        commits: &mut usize,
    ) -> Result<Option<BatchSummary>> {
        let started = Instant::now();
        let mut batch = source
            .fetch_batch(self.batch_size)
            .await
            .context("fetching mail")?;
        if batch.mails.is_empty() {
            return Ok(None);
        }
        let fetched = started.elapsed();
        let raws: Vec<Vec<u8>> = batch
            .mails
            .iter_mut()
            .map(|m| std::mem::take(&mut m.raw))
            .collect();
        let parsed = tokio::task::spawn_blocking(move || {
            raws.into_iter()
                .map(crate::inbound::parse)
                .collect::<Vec<_>>()
        })
        .await
        .context("parser task failed")?;
        let cx = self.cx.clone();
        let checkpoint = batch.checkpoint;
        let now = self.clock.now();
        let summary = self
            .writer
            .call(move |conn| ingest::apply_batch(conn, &cx, parsed, checkpoint, now))
            .await
            .context("storing the batch")?;
        *commits += 1;
        if self.cx.faults.abort_after_commits == Some(*commits) {
            warn!("fault injection: aborting after a commit");
            std::process::abort();
        }
        if summary.acknowledgements > 0 {
            self.wake.notify_one();
        }
        if let Err(e) = source.mark_done(&batch).await {
            // Harmless: the checkpoint is committed; the mark is an extra.
            warn!(error = %format!("{e:#}"), "could not mark the batch done in the mailbox");
            source.reset();
        }
        let level_info = summary.new_tickets + summary.follow_ups > 0;
        if level_info {
            info!(
                messages = summary.messages,
                new_tickets = summary.new_tickets,
                follow_ups = summary.follow_ups,
                duplicates = summary.duplicates,
                acks = summary.acknowledgements,
                fetch_ms = fetched.as_millis() as u64,
                total_ms = started.elapsed().as_millis() as u64,
                "batch stored"
            );
        } else {
            debug!(
                messages = summary.messages,
                duplicates = summary.duplicates,
                "batch stored"
            );
        }
        Ok(Some(summary))
    }
}

async fn pause(d: Duration, shutdown: &CancellationToken) {
    tokio::select! {
        _ = shutdown.cancelled() => {}
        _ = tokio::time::sleep(d) => {}
    }
}
