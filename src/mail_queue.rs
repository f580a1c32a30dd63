//! Mail queueing: the mails a cause decides (a message, a timer) are rendered from
//! templates and queued in the outbox in the cause's own transaction, so a mail is
//! queued exactly when its cause commits. Rendering is the costliest part of a batch,
//! so it is spread over the cores ([`PendingMail::flush`]) or done on a worker while
//! the writer stores the rest of the batch ([`RenderAhead`]).
//!
//! Sits below ingest and the timers, which decide what to send; above the store
//! (`store::outbox`) and notify (the rendering).

use std::sync::Arc;

use anyhow::Result;
use rusqlite::Connection;
use tracing::warn;

use crate::desk::MailKind;
use crate::notify::{OutgoingMail, Renderer};
use crate::store;

/// Mails a flush queued, for the batch's summary.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Queued {
    pub mails: usize,
    pub acknowledgements: usize,
}

impl std::ops::AddAssign for Queued {
    fn add_assign(&mut self, o: Queued) {
        self.mails += o.mails;
        self.acknowledgements += o.acknowledgements;
    }
}

/// Renders the mails of one decided event: one mail, or the same event to several
/// people (rendered once, addressed to each: `Renderer::agent_notices`).
type RenderFn = Box<dyn FnOnce(&Renderer) -> Result<Vec<OutgoingMail>> + Send>;

/// Mail decided in a transaction but not yet rendered: rendering (templates, MIME
/// encoding) is the costliest part of a batch, so a batch's mails are rendered
/// together, spread over the cores, and queued in the same transaction before it
/// commits.
#[derive(Default)]
pub struct PendingMail {
    jobs: Vec<(i64, MailKind, RenderFn)>,
}

/// How much was pending at a point, to roll back to.
#[derive(Clone, Copy)]
pub struct PendingMark {
    jobs: usize,
}

/// Below this many mails, rendering stays on the writer thread.
pub const PARALLEL_RENDER_MIN: usize = 32;

impl PendingMail {
    pub fn push(
        &mut self,
        ticket: i64,
        kind: MailKind,
        render: impl FnOnce(&Renderer) -> Result<OutgoingMail> + Send + 'static,
    ) {
        self.jobs
            .push((ticket, kind, Box::new(move |r| render(r).map(|m| vec![m]))));
    }

    /// Like [`Self::push`] for an event that goes to several people: `render` gives
    /// a mail per person, made from one rendering.
    pub fn push_each(
        &mut self,
        ticket: i64,
        kind: MailKind,
        render: impl FnOnce(&Renderer) -> Result<Vec<OutgoingMail>> + Send + 'static,
    ) {
        self.jobs.push((ticket, kind, Box::new(render)));
    }

    pub fn mark(&self) -> PendingMark {
        PendingMark {
            jobs: self.jobs.len(),
        }
    }

    /// Drops what was pushed after `mark` (a message rolled back).
    pub fn rollback(&mut self, mark: PendingMark) {
        self.jobs.truncate(mark.jobs);
    }

    /// Renders every pending mail and queues it in `tx`, in the order decided.
    pub fn flush(self, tx: &Connection, renderer: &Arc<Renderer>, now: i64) -> Result<Queued> {
        let rendered = render_all(self.jobs, renderer)?;
        let mut queued = Queued::default();
        for (ticket, kind, result) in rendered {
            queued += queue_rendered(tx, renderer, ticket, kind, result, now)?;
        }
        Ok(queued)
    }
}

/// Queues a job's rendered mails (or notes why they could not be rendered) and
/// counts them.
fn queue_rendered(
    tx: &Connection,
    renderer: &Renderer,
    ticket: i64,
    kind: MailKind,
    result: Result<Vec<OutgoingMail>>,
    now: i64,
) -> Result<Queued> {
    let token = renderer.token(ticket);
    let mut queued = Queued::default();
    let mut queue = |mail: Result<OutgoingMail>| -> Result<()> {
        if queue_mail(tx, &token, ticket, kind, mail, now)? {
            queued.mails += 1;
            if kind == MailKind::Acknowledgement {
                queued.acknowledgements += 1;
            }
        }
        Ok(())
    };
    match result {
        Ok(mails) => mails.into_iter().try_for_each(|mail| queue(Ok(mail)))?,
        Err(e) => queue(Err(e))?,
    }
    Ok(queued)
}

/// The rendered mails of a job with the ticket and kind they were decided for.
type RenderedJob = (i64, MailKind, Result<Vec<OutgoingMail>>);

/// Renders a batch's mails on a worker thread while the writer goes on storing the
/// batch: the writer hands over a message's mails once the message is stored (its
/// savepoint released, when it has one) and queues them in the batch transaction as
/// they come back, between messages. The two overlap instead of the writer stopping
/// to render the whole batch at its end, and a batch's rendered mails are not all held
/// at once.
pub struct RenderAhead<'scope> {
    jobs: std::sync::mpsc::Sender<(i64, MailKind, RenderFn)>,
    /// Set when the batch is abandoned: the worker stops rendering.
    cancelled: Arc<std::sync::atomic::AtomicBool>,
    done: std::sync::mpsc::Receiver<RenderedJob>,
    /// Handed over and not yet queued.
    in_flight: usize,
    worker: std::thread::ScopedJoinHandle<'scope, ()>,
}

impl<'scope> RenderAhead<'scope> {
    pub fn start<'env>(
        scope: &'scope std::thread::Scope<'scope, 'env>,
        renderer: &'env Arc<Renderer>,
    ) -> RenderAhead<'scope> {
        let (jobs, job_rx) = std::sync::mpsc::channel::<(i64, MailKind, RenderFn)>();
        let (done_tx, done) = std::sync::mpsc::channel::<RenderedJob>();
        let cancelled = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let stop = Arc::clone(&cancelled);
        let worker = scope.spawn(move || {
            for (ticket, kind, render) in job_rx {
                if stop.load(std::sync::atomic::Ordering::Relaxed) {
                    break;
                }
                let result = render_packed(renderer, render);
                if done_tx.send((ticket, kind, result)).is_err() {
                    break;
                }
            }
        });
        RenderAhead {
            jobs,
            cancelled,
            done,
            in_flight: 0,
            worker,
        }
    }

    /// Hands the settled mails of `pending` to the worker. The worker only stops
    /// early on a bug (renders cannot panic it); the batch then fails and is stored
    /// again later, so no mail is lost.
    pub fn submit(&mut self, pending: &mut PendingMail) -> Result<()> {
        for job in pending.jobs.drain(..) {
            self.jobs
                .send(job)
                .map_err(|_| anyhow::anyhow!("the render worker stopped early (bug)"))?;
            self.in_flight += 1;
        }
        Ok(())
    }

    /// The batch is abandoned: stop rendering its mails (the scope joins the worker).
    pub fn cancel(self) {
        self.cancelled
            .store(true, std::sync::atomic::Ordering::Relaxed);
    }

    /// Queues whatever the worker has finished, without waiting.
    pub fn queue_ready(
        &mut self,
        tx: &Connection,
        renderer: &Renderer,
        now: i64,
    ) -> Result<Queued> {
        let mut queued = Queued::default();
        while let Ok((ticket, kind, result)) = self.done.try_recv() {
            self.in_flight -= 1;
            queued += queue_rendered(tx, renderer, ticket, kind, result, now)?;
        }
        Ok(queued)
    }

    /// Waits for the rest and queues it.
    pub fn finish(self, tx: &Connection, renderer: &Renderer, now: i64) -> Result<Queued> {
        let RenderAhead {
            jobs,
            done,
            mut in_flight,
            worker,
            ..
        } = self;
        // No more jobs: the worker ends once it has rendered what it holds.
        drop(jobs);
        let mut queued = Queued::default();
        while in_flight > 0 {
            let (ticket, kind, result) = done
                .recv()
                .map_err(|_| anyhow::anyhow!("the render worker stopped early (bug)"))?;
            in_flight -= 1;
            queued += queue_rendered(tx, renderer, ticket, kind, result, now)?;
        }
        worker
            .join()
            .map_err(|_| anyhow::anyhow!("the render worker panicked (bug)"))?;
        Ok(queued)
    }
}

/// Renders a job's mails and packs them for the outbox, on the calling thread (a
/// render worker's, so the writer only stores the packed bytes). A render that panics
/// becomes the job's error.
fn render_packed(renderer: &Renderer, render: RenderFn) -> Result<Vec<OutgoingMail>> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| render(renderer)))
        .unwrap_or_else(|_| Err(anyhow::anyhow!("rendering panicked (bug)")))
        .and_then(|mails| renderer.pack_each(mails))
}

/// Runs the render jobs, on several threads when there are many; results keep the
/// jobs' order. A render that panics becomes that mail's error.
fn render_all(
    jobs: Vec<(i64, MailKind, RenderFn)>,
    renderer: &Arc<Renderer>,
) -> Result<Vec<RenderedJob>> {
    let run = |chunk: Vec<(i64, MailKind, RenderFn)>| {
        chunk
            .into_iter()
            .map(|(ticket, kind, render)| (ticket, kind, render_packed(renderer, render)))
            .collect::<Vec<_>>()
    };
    let workers = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .clamp(1, 4);
    if workers == 1 || jobs.len() < PARALLEL_RENDER_MIN {
        return Ok(run(jobs));
    }
    let per_worker = jobs.len().div_ceil(workers);
    let mut chunks: Vec<Vec<_>> = Vec::with_capacity(workers);
    let mut jobs = jobs.into_iter();
    loop {
        let chunk: Vec<_> = jobs.by_ref().take(per_worker).collect();
        if chunk.is_empty() {
            break;
        }
        chunks.push(chunk);
    }
    let mut chunks = chunks.into_iter();
    let first = chunks.next().unwrap_or_default();
    std::thread::scope(|scope| {
        let handles: Vec<_> = chunks.map(|c| scope.spawn(|| run(c))).collect();
        let mut out = run(first);
        for h in handles {
            // `run` catches panics per job, so a join error cannot happen; if it did,
            // those mails would be missing, so the batch fails rather than lose them.
            let part = h
                .join()
                .map_err(|_| anyhow::anyhow!("a render thread failed (bug)"))?;
            out.extend(part);
        }
        Ok(out)
    })
}

/// Queues a rendered mail with its timeline entry; a mail that could not be rendered
/// is logged and noted on the ticket instead. Returns whether it was queued.
fn queue_mail(
    tx: &Connection,
    token: &str,
    ticket: i64,
    kind: MailKind,
    mail: Result<OutgoingMail>,
    now: i64,
) -> Result<bool> {
    match mail {
        Ok(mail) => {
            // Its "queued to" line is made from the outbox row.
            store::outbox::enqueue_on_timeline(tx, &mail, now)?;
            store::messages::record_id(tx, &mail.message_id, ticket, true)?;
            Ok(true)
        }
        Err(e) => {
            warn!(token = %token, kind = kind.as_str(), error = %format!("{e:#}"), "mail not sent: cannot render it");
            store::tickets::add_event(
                tx,
                ticket,
                now,
                "ticketpost",
                "mail",
                &format!("{kind} not sent: {e:#}"),
            )?;
            Ok(false)
        }
    }
}
