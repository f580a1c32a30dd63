//! The service: wires the loops together. The ingest loop (mailbox → inbound → desk →
//! store), or the LMTP listener the MTA pushes mail to (`mailbox::lmtp`), and the
//! outbox sender run side by side; one cancellation token stops both.
//! On shutdown the batch in hand is finished and committed, each loop is awaited with a
//! time limit, and whatever is left is safely redone at the next start.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use crate::clock::Clock;
use crate::config::{Config, MailboxConfig};
use crate::desk::staff_proof::StaffKey;
use crate::inbound::ParseFailure;
use crate::ingest::{self, BatchSummary, Faults, IngestContext};
use crate::mailbox::lmtp::{self, LmtpDeps, LmtpServer};
use crate::mailbox::{Batch, MailSource};
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
    /// New tickets added to the similar-tickets index after the ingest (`--once`).
    pub indexed: usize,
    /// Wall time of that, in seconds.
    pub index_seconds: f64,
}

/// Everything the writer needs to store mail, from the config and the store's key.
pub async fn ingest_context(
    cfg: &Config,
    writer: &Writer,
    source: String,
    faults: Faults,
) -> Result<IngestContext> {
    let staff_key = StaffKey::new(writer.call(|c| store::staff_key(c)).await?);
    let renderer = Renderer::new(&cfg.templates, &cfg.desk)?.with_staff_key(staff_key.clone());
    let renderer = Arc::new(with_outbox_dictionary(renderer, writer).await?);
    Ok(IngestContext {
        desk: cfg.desk.clone(),
        kb: cfg.kb,
        intake: cfg.load_intake_rules()?,
        sla: cfg.sla.clone(),
        security: cfg.security.clone(),
        limits: cfg.limits,
        staff_key,
        renderer,
        source,
        folder: "INBOX".into(),
        faults,
        send_mail: true,
    })
}

/// Gives the renderer the store's outbox dictionary for its templates, made from
/// their sample mails and stored the first time these templates are used (see
/// `mail_packing`). The commonest mails go last, where zstd reaches them soonest.
async fn with_outbox_dictionary(renderer: Renderer, writer: &Writer) -> Result<Renderer> {
    let mut samples = renderer.sample_mails()?;
    let rank = |kind: &str| match kind {
        "agent_notice" => 2,
        "acknowledgement" => 1,
        _ => 0,
    };
    samples.sort_by_key(|m| rank(&m.kind));
    let raws: Vec<&[u8]> = samples.iter().map(|m| m.raw.as_slice()).collect();
    let bytes = crate::mail_packing::dictionary_from(&raws);
    let key = renderer.templates_digest().to_string();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(0));
    let (id, bytes) = writer
        .call(move |c| store::outbox::dictionary(c, &key, now, || Ok(bytes)))
        .await?;
    Ok(renderer.with_packer(crate::mail_packing::Packer::with_dictionary(id, &bytes)))
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
    // An LMTP listener is bound first: a busy address fails the start at once. In
    // `once` mode there is nothing to fetch from it (timers and the outbox only).
    let listener = match &cfg.mailbox {
        MailboxConfig::Lmtp(l) if !opts.once => Some(LmtpServer::bind(l).await?),
        _ => None,
    };
    let writer = Writer::start(&cfg.store)?;
    let first_key = MailSource::state_key(&cfg.mailbox);
    let cx = Arc::new(ingest_context(cfg, &writer, first_key, opts.faults).await?);
    let transport = Arc::new(Transport::new(&cfg.transport)?);
    // One source per folder, each with its own checkpoint and its own context (the
    // folder's state key, and its name for routing).
    let mut sources = Vec::with_capacity(cfg.folders.len());
    let pulled = !matches!(cfg.mailbox, MailboxConfig::Lmtp(_));
    for folder in cfg.folders.iter().filter(|_| pulled) {
        let mailbox = cfg.mailbox.for_folder(folder);
        let key = MailSource::state_key(&mailbox);
        let checkpoint = {
            let key = key.clone();
            writer
                .call(move |c| store::mailbox_state::load(c, &key))
                .await?
        };
        let source = MailSource::new(&mailbox, checkpoint)
            .with_context(|| format!("[mailbox] folder {folder:?}"))?;
        let folder_cx = Arc::new(IngestContext {
            source: key,
            folder: folder.clone(),
            ..(*cx).clone()
        });
        sources.push((folder_cx, source));
    }
    let wake = Arc::new(Notify::new());
    let sender = OutboxSender::new(
        writer.clone(),
        transport,
        clock.clone(),
        wake.clone(),
        cfg.desk.token_prefix.clone(),
    );
    let batch_size = cfg.mailbox.batch_size();
    let telemetry = Arc::new(crate::telemetry::Telemetry::default());
    let timers_wake = Arc::new(Notify::new());
    let ingest = IngestLoop {
        writer,
        cx,
        clock,
        wake,
        timers_wake: timers_wake.clone(),
        batch_size,
        once: opts.once,
        telemetry: telemetry.clone(),
    };

    let timers = TimerLoop {
        writer: ingest.writer.clone(),
        cx: ingest.cx.clone(),
        clock: ingest.clock.clone(),
        wake_sender: ingest.wake.clone(),
        wake: timers_wake,
    };

    if opts.once {
        let started = Instant::now();
        let mut summary = ingest.run_folders(&mut sources, &shutdown).await?;
        loop {
            let fired = timers.fire_due().await?;
            summary.sla_alerts += fired.sla_alerts;
            summary.mails += fired.mails;
            if !fired.more_due {
                break;
            }
        }
        let ingest_seconds = started.elapsed().as_secs_f64();
        let started = Instant::now();
        let indexed = ingest.index_waiting_tickets(&shutdown).await?;
        let index_seconds = started.elapsed().as_secs_f64();
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
        ingest.writer.checkpoint_at_exit().await;
        return Ok(RunReport {
            ingest_seconds,
            send_seconds,
            indexed,
            index_seconds,
            ..report(summary, round)
        });
    }

    let http_task = match &cfg.http {
        Some(http) => Some(
            crate::http::serve(
                cfg,
                http,
                telemetry,
                ingest.clock.clone(),
                shutdown.child_token(),
            )
            .await?,
        ),
        None => None,
    };
    let sender_task = tokio::spawn(sender.run(shutdown.child_token()));
    let timer_task = tokio::spawn(timers.run(shutdown.child_token()));
    let result = match listener {
        Some(listener) => {
            let rules = lmtp::rules(cfg);
            listener.serve(ingest.lmtp_deps(), rules, &shutdown).await
        }
        None => ingest.run_folders(&mut sources, &shutdown).await,
    };
    shutdown.cancel();
    if let Ok(Err(e)) = tokio::time::timeout(SHUTDOWN_GRACE, timer_task).await {
        warn!(error = %e, "timer task failed");
    }
    if let Some(task) = http_task
        && let Ok(Err(e)) = tokio::time::timeout(SHUTDOWN_GRACE, task).await
    {
        warn!(error = %e, "HTTP task failed");
    }
    match tokio::time::timeout(SHUTDOWN_GRACE, sender_task).await {
        Ok(Ok(Ok(()))) => {}
        Ok(Ok(Err(e))) => warn!(error = %format!("{e:#}"), "outbox sender stopped with an error"),
        Ok(Err(e)) => warn!(error = %e, "outbox sender task failed"),
        Err(_) => {
            warn!("outbox sender did not stop in time; queued mail is sent at the next start")
        }
    }
    ingest.writer.checkpoint_at_exit().await;
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
        indexed: 0,
        index_seconds: 0.0,
    }
}

struct IngestLoop {
    writer: Writer,
    cx: Arc<IngestContext>,
    clock: Arc<dyn Clock>,
    wake: Arc<Notify>,
    /// Told after a batch that touched tickets: their due times may now come sooner
    /// than the timer loop's sleep.
    timers_wake: Arc<Notify>,
    batch_size: usize,
    once: bool,
    telemetry: Arc<crate::telemetry::Telemetry>,
}

/// A fetched and parsed batch, waiting for the writer.
struct Prepared {
    batch: Batch,
    parsed: Vec<Result<ingest::Parsed, ParseFailure>>,
    fetch: Duration,
    parse: Duration,
}

impl IngestLoop {
    /// What an LMTP listener needs to store mail the way this loop does.
    fn lmtp_deps(&self) -> LmtpDeps {
        LmtpDeps {
            writer: self.writer.clone(),
            cx: self.cx.clone(),
            clock: self.clock.clone(),
            wake: self.wake.clone(),
            timers_wake: self.timers_wake.clone(),
            telemetry: self.telemetry.clone(),
        }
    }

    /// The same loop for another folder's context.
    fn for_folder(&self, cx: Arc<IngestContext>) -> IngestLoop {
        IngestLoop {
            writer: self.writer.clone(),
            cx,
            clock: self.clock.clone(),
            wake: self.wake.clone(),
            timers_wake: self.timers_wake.clone(),
            batch_size: self.batch_size,
            once: self.once,
            telemetry: self.telemetry.clone(),
        }
    }

    /// Runs one loop per folder, side by side, until `shutdown` (or, with `once`, until
    /// every folder is drained); if one ends with an error the others are stopped too.
    /// The summaries add up.
    async fn run_folders(
        &self,
        sources: &mut [(Arc<IngestContext>, MailSource)],
        shutdown: &CancellationToken,
    ) -> Result<BatchSummary> {
        let runs = sources.iter_mut().map(|(cx, source)| {
            let folder_loop = self.for_folder(cx.clone());
            async move {
                let result = folder_loop.run(source, shutdown).await;
                if result.is_err() {
                    shutdown.cancel();
                }
                result
            }
        });
        let mut total = BatchSummary::default();
        for result in futures::future::join_all(runs).await {
            total.add(&result?);
        }
        Ok(total)
    }

    /// Fetch → parse → commit → mark done, batch after batch, with one batch of
    /// look-ahead: while the writer stores batch N, batch N+1 is fetched and parsed
    /// (sources never hand out a message twice while it is in flight). Errors from the
    /// mailbox or the store are logged and retried with backoff (in `once` mode they
    /// end the run); nothing is marked done in the mailbox unless its batch committed,
    /// and after an error the source rewinds to what is committed.
    async fn run(
        &self,
        source: &mut MailSource,
        shutdown: &CancellationToken,
    ) -> Result<BatchSummary> {
        let mut total = BatchSummary::default();
        let mut failures = 0u32;
        let mut commits = 0usize;
        let mut ahead: Option<Prepared> = None;
        let mut next_error: Option<anyhow::Error> = None;
        while !shutdown.is_cancelled() {
            let step = match ahead.take() {
                Some(prepared) => Ok(Some(prepared)),
                None => self.prepare(source).await,
            };
            let outcome = match step {
                Ok(None) => {
                    failures = 0;
                    if self.once {
                        break;
                    }
                    // Idle: the similar-tickets index catches up with the burst.
                    if let Err(e) = self.index_waiting_tickets(shutdown).await {
                        warn!(error = %format!("{e:#}"), "search index of past requests not updated; trying again when idle");
                    }
                    if let Err(e) = source.wait_for_mail(shutdown).await {
                        warn!(error = %format!("{e:#}"), "mailbox wait failed; reconnecting");
                        source.reset();
                        failures += 1;
                        pause(backoff(failures), shutdown).await;
                    }
                    continue;
                }
                Ok(Some(prepared)) => {
                    let stored = self.store(prepared, &mut commits);
                    // The look-ahead stops at shutdown: a batch fetched then would only
                    // be dropped unstored.
                    let next = async {
                        if shutdown.is_cancelled() {
                            Ok(None)
                        } else {
                            self.prepare(source).await
                        }
                    };
                    let (stored, next) = tokio::join!(stored, next);
                    match stored {
                        Ok((summary, batch)) => {
                            if let Err(e) = source.mark_done(&batch).await {
                                // Harmless: the batch is committed; the mark is an extra
                                // (the source has dropped its connection and reconnects).
                                warn!(error = %format!("{e:#}"), "could not mark the batch done in the mailbox");
                            }
                            match next {
                                Ok(next) => ahead = next,
                                Err(e) => next_error = Some(e),
                            }
                            Ok(summary)
                        }
                        Err(e) => Err(e),
                    }
                }
                Err(e) => Err(e),
            };
            match outcome {
                Ok(summary) => {
                    failures = 0;
                    total.add(&summary);
                }
                Err(e) => {
                    ahead = None;
                    self.fail(e, source, &mut failures, shutdown).await?;
                }
            }
            // A failed look-ahead is fetched again after the pause.
            if let Some(e) = next_error.take() {
                self.fail(e, source, &mut failures, shutdown).await?;
            }
        }
        Ok(total)
    }

    /// Indexes queued tickets one chunk per writer job, so mail that arrives meanwhile
    /// is stored between chunks. Returns how many were indexed.
    async fn index_waiting_tickets(&self, shutdown: &CancellationToken) -> Result<usize> {
        let mut total = 0;
        while !shutdown.is_cancelled() {
            let n = self
                .writer
                .call(|c| store::kb::index_queued(c, ingest::INDEX_CHUNK))
                .await
                .context("updating the similar-tickets index")?;
            total += n;
            if n < ingest::INDEX_CHUNK {
                break;
            }
        }
        if total > 0 {
            debug!(requests = total, "search index of past requests caught up");
        }
        Ok(total)
    }

    /// After a failed fetch or store: rewinds the source to what is committed and
    /// pauses with backoff, or (in `once` mode) gives the error back.
    async fn fail(
        &self,
        e: anyhow::Error,
        source: &mut MailSource,
        failures: &mut u32,
        shutdown: &CancellationToken,
    ) -> Result<()> {
        source.reset();
        if self.once {
            return Err(e);
        }
        *failures += 1;
        let delay = backoff(*failures);
        warn!(error = %format!("{e:#}"), retry_in_ms = delay.as_millis() as u64, "ingest failed; nothing was marked done, retrying");
        pause(delay, shutdown).await;
        Ok(())
    }

    /// Fetches and parses the next batch; `None` when nothing is waiting.
    async fn prepare(&self, source: &mut MailSource) -> Result<Option<Prepared>> {
        let started = Instant::now();
        let mut batch = source
            .fetch_batch(self.batch_size)
            .await
            .context("fetching mail")?;
        if batch.mails.is_empty() {
            return Ok(None);
        }
        let fetch = started.elapsed();
        let raws: Vec<Vec<u8>> = batch
            .mails
            .iter_mut()
            .map(|m| std::mem::take(&mut m.raw))
            .collect();
        let cx = self.cx.clone();
        let parsed = crate::parse_thread::run(move || ingest::parse_batch(raws, &cx)).await?;
        Ok(Some(Prepared {
            batch,
            parsed,
            fetch,
            parse: started.elapsed() - fetch,
        }))
    }

    /// Commits a prepared batch; gives the batch back for `mark_done`.
    async fn store(
        &self,
        prepared: Prepared,
        commits: &mut usize,
    ) -> Result<(BatchSummary, Batch)> {
        let started = Instant::now();
        let Prepared {
            batch,
            parsed,
            fetch,
            parse,
        } = prepared;
        let cx = self.cx.clone();
        let checkpoint = batch.checkpoint;
        let now = self.clock.now();
        let summary = self
            .writer
            .call(move |conn| ingest::apply_batch(conn, &cx, parsed, checkpoint, now))
            .await
            .context("storing the batch")?;
        *commits += 1;
        self.telemetry
            .batch_stored(summary.messages, fetch + parse + started.elapsed());
        if self.cx.faults.abort_after_commits == Some(*commits) {
            warn!("fault injection: aborting after a commit");
            std::process::abort();
        }
        if summary.mails > 0 {
            self.wake.notify_one();
        }
        if summary.new_tickets + summary.follow_ups > 0 {
            // New tickets and replies move SLA clocks and auto-close times: the timer
            // loop looks again instead of sleeping out its last wait.
            self.timers_wake.notify_one();
            info!(
                folder = %self.cx.folder,
                messages = summary.messages,
                new_tickets = summary.new_tickets,
                follow_ups = summary.follow_ups,
                duplicates = summary.duplicates,
                acks = summary.acknowledgements,
                fetch_ms = fetch.as_millis() as u64,
                parse_ms = parse.as_millis() as u64,
                store_ms = started.elapsed().as_millis() as u64,
                "batch stored"
            );
        } else {
            debug!(
                messages = summary.messages,
                duplicates = summary.duplicates,
                "batch stored"
            );
        }
        Ok((summary, batch))
    }
}

/// The longest the timer loop sleeps without looking again (a safety net; it is
/// woken when a batch commits, and sleeps until the earliest due time).
const TIMER_MAX_SLEEP: Duration = Duration::from_secs(60);

/// Fires due timers (auto-close of unconfirmed resolutions, SLA alerts, the digest):
/// sleeps until the earliest
/// due time in the store, never scans every ticket.
struct TimerLoop {
    writer: Writer,
    cx: Arc<IngestContext>,
    clock: Arc<dyn Clock>,
    wake_sender: Arc<Notify>,
    /// Notified when a commit may have brought a due time closer.
    wake: Arc<Notify>,
}

impl TimerLoop {
    async fn fire_due(&self) -> Result<crate::timers::TimerTick> {
        let cx = self.cx.clone();
        let now = self.clock.now();
        let summary = self
            .writer
            .call(move |c| crate::timers::run_due(c, &cx.desk, &cx.sla, &cx.renderer, now))
            .await
            .context("firing timers")?;
        if summary.mails > 0 {
            self.wake_sender.notify_one();
        }
        Ok(summary)
    }

    async fn run(self, shutdown: CancellationToken) {
        let mut failures = 0u32;
        while !shutdown.is_cancelled() {
            let sleep = match self.fire_due().await {
                Ok(summary) if summary.more_due => {
                    // A burst: the next bounded tick at once.
                    failures = 0;
                    tokio::task::yield_now().await;
                    continue;
                }
                Ok(_) => {
                    failures = 0;
                    let cx = self.cx.clone();
                    let now = self.clock.now();
                    match self
                        .writer
                        .call(move |c| crate::timers::next_due(c, &cx.sla, now))
                        .await
                    {
                        Ok(Some(at)) => Duration::from_secs(
                            u64::try_from(at - self.clock.now()).unwrap_or(0).max(1),
                        )
                        .min(TIMER_MAX_SLEEP),
                        Ok(None) => TIMER_MAX_SLEEP,
                        Err(e) => {
                            warn!(error = %format!("{e:#}"), "cannot read the next due time");
                            TIMER_MAX_SLEEP
                        }
                    }
                }
                Err(e) => {
                    failures += 1;
                    warn!(error = %format!("{e:#}"), "timers failed; retrying");
                    backoff(failures)
                }
            };
            // Until the earliest due time, or until a commit may have made one sooner
            // (a notification sent while firing is kept, so none is missed).
            tokio::select! {
                _ = shutdown.cancelled() => {}
                _ = tokio::time::sleep(sleep) => {}
                _ = self.wake.notified() => {}
            }
        }
    }
}

async fn pause(d: Duration, shutdown: &CancellationToken) {
    tokio::select! {
        _ = shutdown.cancelled() => {}
        _ = tokio::time::sleep(d) => {}
    }
}
