//! The outbox: mail queued in the store (in the same transaction as its cause) is
//! delivered here, exactly once as far as a sender can: the attempt is counted before
//! sending, the result recorded after. Temporary failures retry with capped
//! exponential backoff and jitter; permanent ones are marked failed and logged.
//!
//! The sender sleeps until the earliest next attempt or until the ingest side wakes it
//! after a commit; it never scans on a fixed tick.

mod smtp_session;
pub mod transport;

use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;
use futures::StreamExt;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::clock::Clock;
use crate::store::outbox::OutboxEntry;
use crate::store::{self, Writer};
use transport::{SendError, Transport};

/// Rows claimed per round.
const CLAIM_BATCH: usize = 64;
/// Mails in flight at once (SMTP sessions come from `smtp_session`'s pool).
const PARALLEL_SENDS: usize = 8;
/// Retry delays: 30 s doubling up to one hour.
const FIRST_RETRY_SECONDS: i64 = 30;
const MAX_RETRY_SECONDS: i64 = 3600;
/// A mail still undeliverable this long after it was queued is given up.
const GIVE_UP_AFTER_SECONDS: i64 = 4 * 86_400;
/// Longest sleep between looks at the queue, a safety net for a missed wake-up.
const MAX_IDLE: Duration = Duration::from_secs(300);

/// What one sending round did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct SendRound {
    pub sent: usize,
    pub retrying: usize,
    pub failed: usize,
}

pub struct OutboxSender {
    writer: Writer,
    transport: Arc<Transport>,
    clock: Arc<dyn Clock>,
    wake: Arc<Notify>,
    /// For ticket tokens in log lines.
    token_prefix: String,
}

impl OutboxSender {
    pub fn new(
        writer: Writer,
        transport: Arc<Transport>,
        clock: Arc<dyn Clock>,
        wake: Arc<Notify>,
        token_prefix: String,
    ) -> Self {
        OutboxSender {
            writer,
            transport,
            clock,
            wake,
            token_prefix,
        }
    }

    fn token(&self, entry: &OutboxEntry) -> String {
        entry
            .ticket
            .map(|t| crate::desk::threading::token(&self.token_prefix, t))
            .unwrap_or_default()
    }

    /// Puts mail a crash left "sending" back in the queue. Call once at start.
    pub async fn recover(&self) -> Result<usize> {
        let n = self
            .writer
            .call(|c| store::outbox::requeue_interrupted(c))
            .await?;
        if n > 0 {
            warn!(
                count = n,
                "outbox: mail interrupted by a crash is queued again (it may arrive twice, with the same Message-ID)"
            );
        }
        Ok(n)
    }

    /// Sends everything due now, round after round, until nothing due is left.
    pub async fn send_due(&self) -> Result<SendRound> {
        let mut total = SendRound::default();
        loop {
            let now = self.clock.now();
            let entries = self
                .writer
                .call(move |c| store::outbox::claim_due(c, now, CLAIM_BATCH))
                .await?;
            if entries.is_empty() {
                return Ok(total);
            }
            let transport = &self.transport;
            let parallel = self.transport.parallelism(PARALLEL_SENDS);
            // Outcomes are recorded as the sends finish (whatever is ready at once, in
            // one transaction), not after the whole claim: a crash between a server's
            // "250" and its "sent" mark repeats only the mails in that gap, not every
            // mail of the claim sent so far.
            let mut finished = futures::stream::iter(entries)
                .map(|entry| async move {
                    let result = transport.send(&entry).await;
                    (entry, result)
                })
                .buffer_unordered(parallel)
                .ready_chunks(parallel);
            while let Some(results) = finished.next().await {
                let now = self.clock.now();
                let mut outcomes = Vec::with_capacity(results.len());
                for (entry, result) in results {
                    let outcome = match result {
                        Ok(()) => {
                            info!(message_id = %entry.message_id, kind = %entry.kind, token = %self.token(&entry), "sent");
                            total.sent += 1;
                            Outcome::Sent
                        }
                        Err(SendError::Temporary(e))
                            if now - entry.created_at < GIVE_UP_AFTER_SECONDS =>
                        {
                            let delay = retry_delay(entry.attempts);
                            warn!(message_id = %entry.message_id, token = %self.token(&entry), attempts = entry.attempts, retry_in_s = delay, error = %e, "send failed, will retry");
                            total.retrying += 1;
                            Outcome::Retry {
                                at: now + delay,
                                error: e,
                            }
                        }
                        Err(e) => {
                            warn!(message_id = %entry.message_id, kind = %entry.kind, token = %self.token(&entry), error = %e, "send failed for good; a person must act");
                            total.failed += 1;
                            Outcome::Failed(e.to_string())
                        }
                    };
                    outcomes.push((entry.id, outcome));
                }
                self.writer
                    .call(move |c| {
                        let tx = c.transaction()?;
                        for (id, outcome) in &outcomes {
                            match outcome {
                                Outcome::Sent => store::outbox::mark_sent(&tx, *id, now)?,
                                Outcome::Retry { at, error } => {
                                    store::outbox::schedule_retry(&tx, *id, *at, error)?
                                }
                                Outcome::Failed(error) => {
                                    store::outbox::mark_failed(&tx, *id, error, now)?
                                }
                            }
                        }
                        tx.commit()?;
                        Ok(())
                    })
                    .await?;
            }
        }
    }

    /// The sending loop: until `shutdown`, send what is due, then sleep until the next
    /// due time or a wake-up from the ingest side.
    pub async fn run(self, shutdown: CancellationToken) -> Result<()> {
        self.recover().await?;
        let mut failures = 0u32;
        while !shutdown.is_cancelled() {
            // Register interest before looking, so a wake-up during the round is kept.
            let woken = self.wake.notified();
            tokio::pin!(woken);
            woken.as_mut().enable();
            let pause = match self.send_due().await {
                Ok(_) => {
                    failures = 0;
                    let next = self.writer.call(|c| store::outbox::next_due(c)).await?;
                    match next {
                        Some(at) => Duration::from_secs(
                            u64::try_from(at - self.clock.now()).unwrap_or(0).max(1),
                        ),
                        None => MAX_IDLE,
                    }
                    .min(MAX_IDLE)
                }
                Err(e) => {
                    failures += 1;
                    warn!(error = %format!("{e:#}"), "outbox round failed");
                    backoff(failures)
                }
            };
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = &mut woken => {}
                _ = tokio::time::sleep(pause) => {}
            }
        }
        Ok(())
    }
}

enum Outcome {
    Sent,
    Retry { at: i64, error: String },
    Failed(String),
}

/// Delay before the next attempt after `attempts` attempts: 30 s doubling to 1 h, with
/// up to 20% jitter so a crowd of retries spreads out.
fn retry_delay(attempts: i64) -> i64 {
    let exp = u32::try_from(attempts.clamp(1, 20) - 1).unwrap_or(0);
    let base = FIRST_RETRY_SECONDS
        .saturating_mul(1i64 << exp.min(16))
        .min(MAX_RETRY_SECONDS);
    base + fastrand::i64(0..=base / 5)
}

/// Capped exponential backoff with jitter for loops that hit an error.
pub fn backoff(failures: u32) -> Duration {
    let base_ms = 500u64.saturating_mul(1u64 << failures.min(7)).min(60_000);
    Duration::from_millis(base_ms + fastrand::u64(0..=base_ms / 4))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_delays_grow_and_are_capped() {
        assert!((30..=36).contains(&retry_delay(1)));
        assert!((60..=72).contains(&retry_delay(2)));
        assert!((3600..=4320).contains(&retry_delay(12)));
        assert!((3600..=4320).contains(&retry_delay(i64::MAX)));
        assert!(backoff(100) <= Duration::from_millis(75_000));
    }
}
