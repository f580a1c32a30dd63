//! The one thread that parses and assesses the mailbox's batches.
//!
//! Parsing runs the intake, trimming and severity regexes. A compiled regex keeps a
//! search cache (its lazy DFA's states, up to a couple of megabytes) for the first
//! thread that ran it, and more caches, shared by thread id, for the other threads. On
//! tokio's blocking pool each batch runs on whichever pool thread is free, so a burst
//! grew several sets of caches for the same regexes: about 33 MB of a 72 MB heap peak
//! (heaptrack, 10,000 requests into a desk of 10,000 tickets). One long-lived thread
//! uses one set.
//! The mailbox reads one batch ahead, so one parser is what it can use anyway.

use std::sync::LazyLock;
use std::sync::mpsc::{Sender, channel};

use anyhow::{Result, anyhow};
use tokio::sync::oneshot;

type Job = Box<dyn FnOnce() + Send>;

/// The parser thread's queue, started on first use; it lives as long as the process.
static PARSER: LazyLock<Option<Sender<Job>>> = LazyLock::new(|| {
    let (jobs, queue) = channel::<Job>();
    std::thread::Builder::new()
        .name("parser".into())
        .spawn(move || {
            for job in queue {
                // A panic in a job is a bug; the job's caller sees it as an error, and
                // the thread goes on with the next job.
                let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job));
            }
        })
        .ok()
        .map(|_| jobs)
});

/// Runs `work` on the parser thread and returns its result. Falls back to tokio's
/// blocking pool when the thread could not be started.
pub async fn run<R, F>(work: F) -> Result<R>
where
    R: Send + 'static,
    F: FnOnce() -> R + Send + 'static,
{
    let Some(jobs) = PARSER.as_ref() else {
        return tokio::task::spawn_blocking(work)
            .await
            .map_err(|e| anyhow!("parser task failed: {e}"));
    };
    let (done, result) = oneshot::channel();
    jobs.send(Box::new(move || {
        let _ = done.send(work());
    }))
    .map_err(|_| anyhow!("the parser thread has stopped"))?;
    result
        .await
        .map_err(|_| anyhow!("parsing a batch panicked (a bug)"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn jobs_run_on_one_named_thread_and_a_panic_does_not_stop_it() {
        let first = run(|| std::thread::current().name().map(String::from))
            .await
            .unwrap();
        assert_eq!(first.as_deref(), Some("parser"));
        let failed = run(|| -> u32 { panic!("a bug") }).await;
        assert!(failed.unwrap_err().to_string().contains("panicked"));
        let id = run(|| std::thread::current().id()).await.unwrap();
        assert_eq!(run(|| std::thread::current().id()).await.unwrap(), id);
    }
}
