//! Maildir source: the embedded default's mailbox. Mail waits in `new/`; a message
//! leaves `new/` (renamed into `cur/` with the Seen flag) only after it is stored.
//!
//! Deliver into it the Maildir way (write in `tmp/`, rename into `new/`); a small file
//! copied straight into `new/` also works.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use tokio_util::sync::CancellationToken;
use tracing::warn;

use super::{Batch, FetchedMail, MailKey};
use crate::config::MaildirConfig;

pub struct MaildirSource {
    cfg: MaildirConfig,
    /// Names handed out by `fetch_batch` and not yet marked done: the next fetch skips
    /// them, so a batch can be fetched while the one before it is being stored.
    in_flight: HashSet<String>,
}

impl MaildirSource {
    /// Creates `new/`, `cur/` and `tmp/` when missing, 0700 (they hold mail); folders
    /// that exist keep their mode (the delivery agent's choice).
    pub fn new(cfg: MaildirConfig) -> Result<Self> {
        for sub in ["new", "cur", "tmp"] {
            let dir = cfg.path.join(sub);
            crate::store::private::create_dir_all(&dir)
                .with_context(|| format!("cannot create the Maildir folder {}", dir.display()))?;
        }
        Ok(MaildirSource {
            cfg,
            in_flight: HashSet::new(),
        })
    }

    fn new_dir(&self) -> PathBuf {
        self.cfg.path.join("new")
    }

    pub async fn fetch_batch(&mut self, max: usize) -> Result<Batch> {
        let dir = self.new_dir();
        let skip = self.in_flight.clone();
        let batch = tokio::task::spawn_blocking(move || read_batch(&dir, max, &skip))
            .await
            .context("Maildir reader task failed")??;
        for mail in &batch.mails {
            if let MailKey::Maildir { file_name } = &mail.key {
                self.in_flight.insert(file_name.clone());
            }
        }
        Ok(batch)
    }

    /// Forgets what is in flight (after a failed store): it is fetched again.
    pub fn reset(&mut self) {
        self.in_flight.clear();
    }

    pub async fn mark_done(&mut self, batch: &Batch) -> Result<()> {
        let names: Vec<String> = batch
            .mails
            .iter()
            .filter_map(|m| match &m.key {
                MailKey::Maildir { file_name } => Some(file_name.clone()),
                MailKey::Imap { .. } => None,
            })
            .collect();
        // Out of flight even if a rename fails below: such a message is fetched again
        // and dropped as a repeat by the store.
        for name in &names {
            self.in_flight.remove(name);
        }
        let root = self.cfg.path.clone();
        tokio::task::spawn_blocking(move || {
            for name in names {
                let from = root.join("new").join(&name);
                let to = root.join("cur").join(seen_name(&name));
                match std::fs::rename(&from, &to) {
                    Ok(()) => {}
                    // Already moved (by us before a crash, or by a mail client): fine.
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => {
                        return Err(e)
                            .with_context(|| format!("cannot move {} to cur/", from.display()));
                    }
                }
            }
            Ok(())
        })
        .await
        .context("Maildir mover task failed")?
    }

    pub async fn wait_for_mail(&mut self, shutdown: &CancellationToken) -> Result<()> {
        tokio::select! {
            _ = shutdown.cancelled() => {}
            _ = tokio::time::sleep(self.cfg.poll_interval) => {}
        }
        Ok(())
    }

    pub async fn probe(&mut self) -> Result<String> {
        let root = self.cfg.path.clone();
        tokio::task::spawn_blocking(move || {
            let count = |sub: &str| -> Result<usize> {
                let dir = root.join(sub);
                Ok(std::fs::read_dir(&dir)
                    .with_context(|| format!("cannot read {}", dir.display()))?
                    .filter_map(|e| e.ok())
                    .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
                    .count())
            };
            Ok(format!(
                "Maildir {}: {} waiting in new/, {} done in cur/",
                root.display(),
                count("new")?,
                count("cur")?
            ))
        })
        .await
        .context("Maildir probe task failed")?
    }
}

/// Reads up to `max` messages from `new/`, oldest name first (Maildir names start
/// with the delivery time).
fn read_batch(dir: &Path, max: usize, skip: &HashSet<String>) -> Result<Batch> {
    // The `max` smallest names, kept in a bounded heap: a backlog of many thousands
    // of files costs one pass over the directory, not a sorted copy of all its names.
    let mut oldest: std::collections::BinaryHeap<String> = std::collections::BinaryHeap::new();
    let entries = std::fs::read_dir(dir)
        .with_context(|| format!("cannot read the Maildir folder {}", dir.display()))?
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().map(|t| t.is_file()).unwrap_or(false))
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| !n.starts_with('.') && !skip.contains(n));
    for name in entries {
        if oldest.len() < max {
            oldest.push(name);
        } else if oldest.peek().is_some_and(|newest| name < *newest) {
            oldest.pop();
            oldest.push(name);
        }
    }
    let mut names = oldest.into_sorted_vec();
    // Bounded by bytes too (see `BATCH_BYTES`); the rest wait for the next batch.
    let keep = super::within_batch_bytes(names.iter().map(|name| {
        std::fs::metadata(dir.join(name))
            .map_or(0, |m| usize::try_from(m.len()).unwrap_or(usize::MAX))
    }));
    names.truncate(keep);
    let mut mails = Vec::with_capacity(names.len());
    for name in names {
        let path = dir.join(&name);
        match std::fs::read(&path) {
            Ok(raw) => mails.push(FetchedMail {
                key: MailKey::Maildir { file_name: name },
                raw,
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                warn!(file = %path.display(), error = %e, "cannot read a Maildir message; will try again")
            }
        }
    }
    Ok(Batch {
        mails,
        checkpoint: None,
    })
}

/// The `cur/` name of a message: its `new/` name with the Seen flag in the info part.
fn seen_name(name: &str) -> String {
    match name.split_once(":2,") {
        Some((base, flags)) if flags.contains('S') => format!("{base}:2,{flags}"),
        Some((base, flags)) => {
            let mut f: Vec<char> = flags.chars().chain(['S']).collect();
            f.sort_unstable();
            format!("{base}:2,{}", f.into_iter().collect::<String>())
        }
        None => format!("{name}:2,S"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_batch_is_the_oldest_names_in_order() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["5.e", "1.a", "4.d", "2.b", "3.c", ".hidden"] {
            std::fs::write(dir.path().join(name), "Subject: x\r\n\r\nb\r\n").unwrap();
        }
        let names = |batch: Batch| -> Vec<String> {
            batch
                .mails
                .into_iter()
                .map(|m| match m.key {
                    MailKey::Maildir { file_name } => file_name,
                    other => panic!("{other:?}"),
                })
                .collect()
        };
        let skip: HashSet<String> = ["2.b".to_string()].into();
        assert_eq!(
            names(read_batch(dir.path(), 3, &skip).unwrap()),
            ["1.a", "3.c", "4.d"]
        );
        assert_eq!(
            names(read_batch(dir.path(), 10, &HashSet::new()).unwrap()).len(),
            5
        );
    }

    #[test]
    fn seen_flag_is_added_once() {
        assert_eq!(seen_name("1.2.host"), "1.2.host:2,S");
        assert_eq!(seen_name("1.2.host:2,F"), "1.2.host:2,FS");
        assert_eq!(seen_name("1.2.host:2,S"), "1.2.host:2,S");
    }

    #[tokio::test]
    async fn messages_leave_new_only_when_marked_done() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = MaildirConfig {
            path: dir.path().join("box"),
            poll_interval: Duration::from_millis(10),
            batch_size: 2,
        };
        let mut src = MaildirSource::new(cfg).unwrap();
        for i in 0..3 {
            std::fs::write(
                dir.path().join(format!("box/new/{i}.x")),
                format!("Subject: {i}\r\n\r\nb\r\n"),
            )
            .unwrap();
        }
        std::fs::write(dir.path().join("box/new/.hidden"), "x").unwrap();
        let b = src.fetch_batch(2).await.unwrap();
        assert_eq!(b.mails.len(), 2);
        assert_eq!(
            b.mails[0].key,
            MailKey::Maildir {
                file_name: "0.x".into()
            }
        );
        // In flight: the look-ahead fetch skips them and gets the next one.
        let ahead = src.fetch_batch(2).await.unwrap();
        assert_eq!(ahead.mails.len(), 1);
        assert_eq!(
            ahead.mails[0].key,
            MailKey::Maildir {
                file_name: "2.x".into()
            }
        );
        // A failed store rewinds: not marked done, the same messages come back.
        src.reset();
        let again = src.fetch_batch(2).await.unwrap();
        assert_eq!(again.mails[0].key, b.mails[0].key);
        src.mark_done(&b).await.unwrap();
        src.mark_done(&b).await.unwrap(); // idempotent
        assert!(dir.path().join("box/cur/0.x:2,S").exists());
        src.reset();
        let rest = src.fetch_batch(10).await.unwrap();
        assert_eq!(rest.mails.len(), 1);
        assert!(src.probe().await.unwrap().contains("1 waiting"));
    }
}
