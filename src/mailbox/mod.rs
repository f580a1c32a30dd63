//! Mailbox sources: where raw mail comes from. One interface over IMAP and Maildir,
//! which are read from; `lmtp` is the other way round (the MTA delivers to us) and
//! has its own server, with the same exactly-once contract: the `250` for a message
//! is given only after its transaction committed.
//!
//! The contract that makes ingest exactly-once: [`MailSource::fetch_batch`] returns
//! messages not yet committed; the caller stores them (together with the batch's
//! [`Checkpoint`]) in one transaction, and only then calls [`MailSource::mark_done`].
//! `mark_done` is an idempotent extra (\Seen, new/ → cur/), never a condition: if the
//! process dies before it, the next fetch returns the same messages and the store's
//! identity index drops the repeats.

pub mod imap;
pub mod lmtp;
pub mod maildir;
pub mod mbox;

use anyhow::Result;
use tokio_util::sync::CancellationToken;

use crate::config::MailboxConfig;

/// Where a fetched message sits in its source, so it can be marked done.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MailKey {
    Imap { uid: u32 },
    Maildir { file_name: String },
}

#[derive(Debug, Clone)]
pub struct FetchedMail {
    pub key: MailKey,
    pub raw: Vec<u8>,
}

/// IMAP progress: everything up to `last_uid` in `folder` under `uid_validity` is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Checkpoint {
    pub uid_validity: u32,
    pub last_uid: u32,
}

/// One batch from a source. `checkpoint` is `Some` for IMAP and must be committed with
/// the batch's messages.
#[derive(Debug, Default)]
pub struct Batch {
    pub mails: Vec<FetchedMail>,
    pub checkpoint: Option<Checkpoint>,
}

/// Bytes of mail in one batch, besides `batch_size` messages: one transaction holds
/// a batch, parsed, in memory, so a run of large messages makes shorter batches.
/// A single message larger than this is still a batch of its own.
pub const BATCH_BYTES: usize = 64 << 20;

/// How many of the messages of these sizes, in order, make one batch: as many as fit
/// in [`BATCH_BYTES`], and at least one.
pub fn within_batch_bytes(sizes: impl IntoIterator<Item = usize>) -> usize {
    let mut total = 0usize;
    let mut n = 0;
    for size in sizes {
        total = total.saturating_add(size);
        if n > 0 && total > BATCH_BYTES {
            break;
        }
        n += 1;
    }
    n
}

/// A mailbox to read from.
pub enum MailSource {
    Imap(imap::ImapSource),
    Maildir(maildir::MaildirSource),
}

impl MailSource {
    /// Builds the source; `checkpoint` is what the store last committed for this
    /// mailbox (IMAP only). Does not connect yet.
    pub fn new(cfg: &MailboxConfig, checkpoint: Option<Checkpoint>) -> Result<MailSource> {
        Ok(match cfg {
            MailboxConfig::Imap(c) => {
                MailSource::Imap(imap::ImapSource::new(c.clone(), checkpoint)?)
            }
            MailboxConfig::Maildir(c) => {
                MailSource::Maildir(maildir::MaildirSource::new(c.clone())?)
            }
            MailboxConfig::Lmtp(c) => anyhow::bail!(
                "[mailbox] kind = \"lmtp\" is not read from: the MTA delivers to the listener on {}",
                c.listen
            ),
        })
    }

    /// A name for the mailbox state row in the store (`imap://user@host/INBOX`).
    pub fn state_key(cfg: &MailboxConfig) -> String {
        match cfg {
            MailboxConfig::Imap(c) => {
                format!("imap://{}@{}:{}/{}", c.username, c.host, c.port, c.folder)
            }
            MailboxConfig::Maildir(c) => format!("maildir:{}", c.path.display()),
            MailboxConfig::Lmtp(c) => format!("lmtp:{}", c.listen),
        }
    }

    /// Up to `max` messages not yet committed, oldest first; empty when nothing waits.
    pub async fn fetch_batch(&mut self, max: usize) -> Result<Batch> {
        match self {
            MailSource::Imap(s) => s.fetch_batch(max).await,
            MailSource::Maildir(s) => s.fetch_batch(max).await,
        }
    }

    /// Called after the batch is committed: marks the messages seen / moves them.
    pub async fn mark_done(&mut self, batch: &Batch) -> Result<()> {
        match self {
            MailSource::Imap(s) => s.mark_done(batch).await,
            MailSource::Maildir(s) => s.mark_done(batch).await,
        }
    }

    /// Waits until new mail may be there (IDLE, or the poll interval), or `shutdown`.
    pub async fn wait_for_mail(&mut self, shutdown: &CancellationToken) -> Result<()> {
        match self {
            MailSource::Imap(s) => s.wait_for_mail(shutdown).await,
            MailSource::Maildir(s) => s.wait_for_mail(shutdown).await,
        }
    }

    /// After a failed store: forgets what was fetched but not committed (it is fetched
    /// again) and drops any connection; the next call reconnects.
    pub fn reset(&mut self) {
        match self {
            MailSource::Imap(s) => s.reset(),
            MailSource::Maildir(s) => s.reset(),
        }
    }

    /// A description of what the source found, for `ticketpost check`.
    pub async fn probe(&mut self) -> Result<String> {
        match self {
            MailSource::Imap(s) => s.probe().await,
            MailSource::Maildir(s) => s.probe().await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_is_bounded_by_bytes_and_holds_at_least_one_message() {
        assert_eq!(within_batch_bytes([]), 0);
        assert_eq!(within_batch_bytes([BATCH_BYTES * 2, 1]), 1);
        assert_eq!(within_batch_bytes([1 << 20; 100]), 64);
        assert_eq!(within_batch_bytes([10; 500]), 500);
    }
}
