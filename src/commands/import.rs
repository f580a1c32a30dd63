//! `ticketpost import mbox FILE` and `ticketpost import maildir DIR`: existing mail
//! into the store through the same path as live mail (parse, assess, one transaction
//! per batch). Idempotent: a message already stored (same Message-ID, or the same
//! content) changes nothing, so an import can be run again or resumed after a crash.
//! No mail is sent for imported messages unless `--acknowledge` is given.
//! The source is only read: nothing in the Maildir moves.

use std::io::{BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result, anyhow};
use indicatif::{ProgressBar, ProgressStyle};

use crate::cli::ImportCommand;
use crate::clock::{Clock, SystemClock};
use crate::config::Config;
use crate::ingest::{self, BatchSummary, Faults};
use crate::mailbox::mbox::MboxReader;
use crate::store::Writer;

/// Messages per transaction.
const BATCH: usize = 200;
/// Bytes per batch at most, so a run of huge messages stays within memory.
const BATCH_BYTES: usize = 32 << 20;

pub enum ImportSource {
    Mbox(PathBuf),
    Maildir(PathBuf),
}

/// What an import did.
pub struct ImportReport {
    pub summary: BatchSummary,
    pub seconds: f64,
}

impl std::fmt::Display for ImportReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = &self.summary;
        write!(
            f,
            "imported {} message(s) in {:.1} s: {} new ticket(s), {} follow-up(s), {} already stored, {} kept without a ticket, {} quarantined; {} mail(s) queued",
            s.messages,
            self.seconds,
            s.new_tickets,
            s.follow_ups,
            s.duplicates,
            s.unfiled,
            s.quarantined,
            s.mails
        )
    }
}

/// Runs `import mbox` or `import maildir` and prints what it did.
pub fn run(
    cfg: &Config,
    source: ImportCommand,
    acknowledge: bool,
    out: &mut impl Write,
) -> Result<()> {
    let source = match source {
        ImportCommand::Mbox { file } => ImportSource::Mbox(file),
        ImportCommand::Maildir { dir } => ImportSource::Maildir(dir),
    };
    let report =
        super::runtime()?.block_on(import(cfg, source, acknowledge, Arc::new(SystemClock)))?;
    writeln!(out, "{report}")?;
    Ok(())
}

/// Imports every message of `source`; with `acknowledge`, new tickets are answered
/// (and agents told) as for live mail.
pub async fn import(
    cfg: &Config,
    source: ImportSource,
    acknowledge: bool,
    clock: Arc<dyn Clock>,
) -> Result<ImportReport> {
    let started = Instant::now();
    let writer = Writer::start(&cfg.store)?;
    let mut cx =
        crate::service::ingest_context(cfg, &writer, "import".into(), Faults::default()).await?;
    cx.send_mail = acknowledge;
    let cx = Arc::new(cx);
    let mut messages = MessageStream::open(&source)?;
    let progress = match messages.total() {
        Some(n) => ProgressBar::new(n as u64).with_style(
            ProgressStyle::with_template("{bar:40} {pos}/{len} messages, {per_sec}, eta {eta}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        ),
        None => ProgressBar::new_spinner().with_style(
            ProgressStyle::with_template("{spinner} {pos} messages, {per_sec}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        ),
    };
    let mut total = BatchSummary::default();
    loop {
        let mut raws = Vec::new();
        let mut bytes = 0;
        while raws.len() < BATCH && bytes < BATCH_BYTES {
            match messages.next_message()? {
                Some(raw) => {
                    bytes += raw.len();
                    raws.push(raw);
                }
                None => break,
            }
        }
        if raws.is_empty() {
            break;
        }
        let count = raws.len() as u64;
        let parse_cx = cx.clone();
        let parsed = crate::parse_thread::run(move || ingest::parse_batch(raws, &parse_cx)).await?;
        let store_cx = cx.clone();
        let now = clock.now();
        let summary = writer
            .call(move |c| ingest::apply_batch(c, &store_cx, parsed, None, now))
            .await
            .context("storing imported mail")?;
        total.add(&summary);
        progress.inc(count);
    }
    progress.finish_and_clear();
    writer
        .call(ingest::index_waiting_tickets)
        .await
        .context("indexing imported tickets for similar-ticket search")?;
    Ok(ImportReport {
        summary: total,
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// The messages of an mbox file or of a Maildir (`cur/` and `new/`, by name).
enum MessageStream {
    Mbox(MboxReader<BufReader<std::fs::File>>),
    Maildir(std::vec::IntoIter<PathBuf>, usize),
}

impl MessageStream {
    fn open(source: &ImportSource) -> Result<MessageStream> {
        match source {
            ImportSource::Mbox(path) => {
                let file = std::fs::File::open(path)
                    .with_context(|| format!("cannot open the mbox {}", path.display()))?;
                Ok(MessageStream::Mbox(MboxReader::new(BufReader::new(file))))
            }
            ImportSource::Maildir(dir) => {
                let files = maildir_files(dir)?;
                let n = files.len();
                Ok(MessageStream::Maildir(files.into_iter(), n))
            }
        }
    }

    fn total(&self) -> Option<usize> {
        match self {
            MessageStream::Mbox(_) => None,
            MessageStream::Maildir(_, n) => Some(*n),
        }
    }

    fn next_message(&mut self) -> Result<Option<Vec<u8>>> {
        match self {
            MessageStream::Mbox(reader) => reader.next_message(),
            MessageStream::Maildir(files, _) => match files.next() {
                Some(path) => std::fs::read(&path)
                    .with_context(|| format!("cannot read {}", path.display()))
                    .map(Some),
                None => Ok(None),
            },
        }
    }
}

/// The message files of a Maildir: `cur/` then `new/`, each sorted by name (delivery
/// time first in the usual naming). `tmp/` holds deliveries in progress: skipped.
fn maildir_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let mut found_any = false;
    for sub in ["cur", "new"] {
        let path = dir.join(sub);
        let Ok(entries) = std::fs::read_dir(&path) else {
            continue;
        };
        found_any = true;
        let mut files: Vec<PathBuf> = entries
            .filter_map(|e| e.ok())
            .map(|e| e.path())
            .filter(|p| p.is_file())
            .collect();
        files.sort();
        out.extend(files);
    }
    if !found_any {
        return Err(anyhow!(
            "{} is not a Maildir (no cur/ or new/ in it)",
            dir.display()
        ));
    }
    Ok(out)
}
