//! The stores the scale benchmark measures: a desk's history (`desk_history`) written
//! through the library's real write path, as the service writes it, and cached.
//!
//! Per batch of up to 2,000 messages, on the service's writer thread (`store::Writer`):
//! the timers due by then (`timers::run_due`: SLA alerts, the auto-close of resolved
//! tickets), the batch (`ingest::parse_batch`, parsed ahead on a blocking thread, then
//! `ingest::apply_batch`: messages, tickets, events, SLA clocks, intake facts,
//! knowledge-base drafts, rendered mail in the outbox), the similar-tickets index
//! catching up (`ingest::index_waiting_tickets`, as the service does when idle), and the
//! outbox marked sent the way the sender marks it (`store::outbox::claim_due`, then
//! `mark_sent`, which also puts each mail on its ticket's timeline). At the end the
//! timers run once more, past the last auto-close, so every resolved ticket is closed.
//!
//! By default the two look-ups that only add lines to agents' notices are left out
//! while building: knowledge-base suggestions (`[kb] max_suggestions = 0`) and similar
//! tickets (the index is brought up to date once, at the end, so they find nothing).
//! Before the fixes of issue 17 their cost grows with every ticket resolved and
//! indexed, and building 100,000 tickets with them takes far longer than the service
//! would ever spend at once; the store gets the same rows either way (knowledge-base
//! drafts from `/resolve`, the full index), with shorter notices. The measured ingest
//! runs with them, on the full store. `lookups` builds with them on, into its own cache
//! file.
//!
//! A built store is kept as `<stores>/<size>-<schema version>[-lookups].db` with its
//! [`BuildInfo`] beside it (`.json`), and built again when either is missing or the
//! schema version differs. What is measured on it is `figures`'.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use rusqlite::Connection;
use serde::{Deserialize, Serialize};
use ticketpost::config::Config;
use ticketpost::inbound::ParseFailure;
use ticketpost::ingest::{self, BatchSummary, Faults, IngestContext, Parsed};
use ticketpost::mailbox::MailSource;
use ticketpost::store::{self, Writer};
use ticketpost::{service, timers};

use crate::desk_history::{Batch, History, LONGEST_REPLY, SPAN};

/// Outbox rows claimed and marked sent per transaction.
const SEND_CLAIM: usize = 500;
/// How often the build prints where it is.
const PROGRESS_EVERY: Duration = Duration::from_secs(30);

/// What a built store holds and how long building it took.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BuildInfo {
    pub tickets: usize,
    pub closed: usize,
    pub messages: usize,
    pub outbox: usize,
    pub seconds: f64,
    /// When it was built (Unix seconds).
    pub built_at: i64,
    /// When its history starts and ends (the last message; the timers ran later).
    pub history_start: i64,
    pub history_end: i64,
    /// Built with the look-ups that feed notices on (see the module header).
    #[serde(default)]
    pub lookups: bool,
}

/// A cached store, ready to be copied.
pub struct Cached {
    pub db: PathBuf,
    pub info: BuildInfo,
    /// Built by this run (not found in the cache).
    pub fresh: bool,
}

/// The cache file of a store of `size` tickets at the current schema.
pub fn cache_path(stores: &Path, size: usize, lookups: bool) -> PathBuf {
    let schema = store::schema::latest_version();
    stores.join(format!("{size}-{schema}{}.db", suffix(lookups)))
}

fn suffix(lookups: bool) -> &'static str {
    if lookups { "-lookups" } else { "" }
}

/// The store of `size` tickets from the cache, built first when it is missing, is of
/// another schema version, or `rebuild` is asked for.
pub fn cached_or_built(stores: &Path, size: usize, lookups: bool, rebuild: bool) -> Result<Cached> {
    std::fs::create_dir_all(stores).with_context(|| format!("creating {}", stores.display()))?;
    let db = cache_path(stores, size, lookups);
    let info_path = db.with_extension("json");
    if !rebuild
        && db.exists()
        && let Ok(text) = std::fs::read_to_string(&info_path)
    {
        let info: BuildInfo = serde_json::from_str(&text)
            .with_context(|| format!("reading {}", info_path.display()))?;
        return Ok(Cached {
            db,
            info,
            fresh: false,
        });
    }
    remove_stale(stores, size, lookups, &db)?;
    let info = build(stores, size, lookups, &db)?;
    std::fs::write(&info_path, serde_json::to_string_pretty(&info)?)
        .with_context(|| format!("writing {}", info_path.display()))?;
    Ok(Cached {
        db,
        info,
        fresh: true,
    })
}

/// Removes the cached stores of this size and kind made for other schema versions:
/// they would only take disk space.
fn remove_stale(stores: &Path, size: usize, lookups: bool, keep: &Path) -> Result<()> {
    let prefix = format!("{size}-");
    for entry in std::fs::read_dir(stores)?.filter_map(|e| e.ok()) {
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(rest) = name
            .strip_suffix(".db")
            .or_else(|| name.strip_suffix(".json"))
            .and_then(|s| s.strip_prefix(&prefix))
        else {
            continue;
        };
        let (version, with_lookups) = match rest.strip_suffix(suffix(true)) {
            Some(v) => (v, true),
            None => (rest, false),
        };
        let numbered = !version.is_empty() && version.bytes().all(|b| b.is_ascii_digit());
        if numbered && with_lookups == lookups && path.with_extension("db") != keep {
            println!("removing {} (another schema version)", path.display());
            std::fs::remove_file(&path).with_context(|| format!("removing {}", path.display()))?;
        }
    }
    Ok(())
}

/// Builds the store of `size` tickets in a folder of its own, then moves it to `db`.
fn build(stores: &Path, size: usize, lookups: bool, db: &Path) -> Result<BuildInfo> {
    let root = stores.join(format!("building-{size}"));
    if root.exists() {
        std::fs::remove_dir_all(&root).with_context(|| format!("removing {}", root.display()))?;
    }
    std::fs::create_dir_all(&root).with_context(|| format!("creating {}", root.display()))?;
    let config_path = root.join("ticketpost.toml");
    let text = crate::desk_config(&root, 0)?;
    std::fs::write(&config_path, &text)?;
    let env = HashMap::from([(crate::TOKEN_ENV.to_string(), crate::TOKEN.to_string())]);
    let mut cfg = Config::from_toml(&config_path, &text, &env)?;
    if !lookups {
        cfg.kb.max_suggestions = 0;
    }

    // The history ends so that its last resolved ticket is due to close an hour ago:
    // the final timer run (at `closing`) closes every resolved ticket.
    let now = chrono::Utc::now().timestamp();
    let closing = now - 3_600;
    let last_opened = closing - cfg.desk.lifecycle.auto_close_after - LONGEST_REPLY - 3_600;
    let history = Arc::new(History::new(size, last_opened - SPAN));
    println!(
        "building the store of {size} tickets: {} messages in {} batches, {} tickets to resolve (closed by the auto-close timer); look-ups for notices {}",
        history.events.len(),
        history.batches().len(),
        history.resolved,
        if lookups {
            "on"
        } else {
            "off (TP_SCALE_BUILD_LOOKUPS=1 turns them on)"
        }
    );
    let started = Instant::now();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let counts = rt.block_on(store_history(&cfg, history.clone(), closing, lookups))?;
    drop(rt);
    let seconds = started.elapsed().as_secs_f64();
    if counts.tickets != size || counts.closed != history.resolved {
        bail!(
            "the built store has {} tickets, {} closed; expected {size} and {} (see the warnings above)",
            counts.tickets,
            counts.closed,
            history.resolved
        );
    }
    let built = cfg.store.path.clone();
    wait_for_close(&built)?;
    std::fs::rename(&built, db)
        .with_context(|| format!("moving {} to {}", built.display(), db.display()))?;
    std::fs::remove_dir_all(&root).with_context(|| format!("removing {}", root.display()))?;
    println!(
        "built {size} tickets ({} messages, {} closed, {} outbox mails) in {seconds:.0} s ({:.0} messages/s): {} ({:.2} GB)",
        counts.messages,
        counts.closed,
        counts.outbox,
        counts.messages as f64 / seconds.max(1e-9),
        db.display(),
        std::fs::metadata(db).map_or(0, |m| m.len()) as f64 / 1e9
    );
    Ok(BuildInfo {
        tickets: counts.tickets,
        closed: counts.closed,
        messages: counts.messages,
        outbox: counts.outbox,
        seconds,
        built_at: now,
        history_start: history.start,
        history_end: history.end(),
        lookups,
    })
}

/// The writer and the checkpointer close their connections once the writer is dropped;
/// the last one to close removes the WAL. Waits for that, so the moved file is whole.
fn wait_for_close(db: &Path) -> Result<()> {
    let wal = PathBuf::from(format!("{}-wal", db.display()));
    let waited = Instant::now();
    while wal.exists() {
        if waited.elapsed() > Duration::from_secs(60) {
            bail!(
                "{} is still there a minute after the writer stopped",
                wal.display()
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Ok(())
}

/// What the finished store holds.
struct Counts {
    tickets: usize,
    closed: usize,
    messages: usize,
    outbox: usize,
}

/// Stores the whole history, batch after batch, while the next batch is generated and
/// parsed on a blocking thread; then runs the timers at `closing`. The similar-tickets
/// index catches up after each batch with `lookups`, else at the end.
async fn store_history(
    cfg: &Config,
    history: Arc<History>,
    closing: i64,
    lookups: bool,
) -> Result<Counts> {
    let writer = Writer::start(&cfg.store)?;
    let source = MailSource::state_key(&cfg.mailbox);
    let cx = Arc::new(service::ingest_context(cfg, &writer, source, Faults::default()).await?);
    let batches = history.batches();
    let mut progress = Progress::new(&history);
    let mut ahead = batches.first().map(|b| parse(&history, &cx, b));
    for (i, batch) in batches.iter().enumerate() {
        let parsed = ahead
            .take()
            .ok_or_else(|| anyhow!("batch {i} was not parsed"))?
            .await
            .context("generating or parsing a batch panicked")?;
        ahead = batches.get(i + 1).map(|b| parse(&history, &cx, b));
        let (store_cx, now) = (cx.clone(), batch.now);
        let summary = writer
            .call(move |c| store_batch(c, &store_cx, parsed, now, lookups))
            .await
            .with_context(|| format!("storing batch {i}"))?;
        check(batch, &summary, i)?;
        progress.advance(batch);
    }
    let finish_cx = cx.clone();
    writer
        .call(move |c| finish(c, &finish_cx, closing))
        .await
        .context("closing the resolved tickets")
}

fn parse(
    history: &Arc<History>,
    cx: &Arc<IngestContext>,
    batch: &Batch,
) -> tokio::task::JoinHandle<Vec<Result<Parsed, ParseFailure>>> {
    let (history, cx, range) = (history.clone(), cx.clone(), batch.events.clone());
    tokio::task::spawn_blocking(move || {
        let raws = history.events[range]
            .iter()
            .map(|e| history.raw(e))
            .collect();
        ingest::parse_batch(raws, &cx)
    })
}

/// A batch as the service handles it at `now`: the timers due, the batch, the
/// similar-tickets index (with `index`), the outbox sent.
fn store_batch(
    conn: &mut Connection,
    cx: &IngestContext,
    parsed: Vec<Result<Parsed, ParseFailure>>,
    now: i64,
    index: bool,
) -> Result<BatchSummary> {
    run_timers(conn, cx, now)?;
    let summary = ingest::apply_batch(conn, cx, parsed, None, now)?;
    if index {
        ingest::index_waiting_tickets(conn)?;
    }
    mark_sent(conn, now)?;
    Ok(summary)
}

/// Every request of a batch opened its ticket (so ticket `t` is `TP-<t+1>`, as the
/// replies that follow say), and nothing was quarantined.
fn check(batch: &Batch, s: &BatchSummary, i: usize) -> Result<()> {
    if s.new_tickets != batch.requests || s.quarantined > 0 || s.duplicates > 0 {
        bail!(
            "batch {i}: {} new tickets for {} requests, {} quarantined, {} duplicates: the generated history no longer matches what ingest does",
            s.new_tickets,
            batch.requests,
            s.quarantined,
            s.duplicates
        );
    }
    Ok(())
}

/// Timer ticks at `now` until nothing more is due.
fn run_timers(conn: &mut Connection, cx: &IngestContext, now: i64) -> Result<()> {
    loop {
        let tick = timers::run_due(conn, &cx.desk, &cx.sla, &cx.renderer, now)?;
        if !tick.more_due {
            return Ok(());
        }
    }
}

/// Marks every mail due by `now` sent, as the outbox sender does after a transport
/// accepted it (claimed first, then marked, a transaction each).
fn mark_sent(conn: &mut Connection, now: i64) -> Result<usize> {
    let mut sent = 0;
    loop {
        let claimed = store::outbox::claim_due(conn, now, SEND_CLAIM)?;
        if claimed.is_empty() {
            return Ok(sent);
        }
        let tx = conn.transaction()?;
        for entry in &claimed {
            store::outbox::mark_sent(&tx, entry.id, now)?;
        }
        tx.commit()?;
        sent += claimed.len();
    }
}

/// The last timer run (every resolved ticket closes), its mail sent, the index up to
/// date and the WAL folded into the database; then what the store holds.
fn finish(conn: &mut Connection, cx: &IngestContext, closing: i64) -> Result<Counts> {
    run_timers(conn, cx, closing)?;
    ingest::index_waiting_tickets(conn)?;
    mark_sent(conn, closing)?;
    let count = |sql: &str| -> Result<usize> {
        let n: i64 = conn.query_row(sql, [], |r| r.get(0))?;
        Ok(usize::try_from(n).unwrap_or(0))
    };
    let counts = Counts {
        tickets: count("SELECT count(*) FROM tickets")?,
        closed: count("SELECT count(*) FROM tickets WHERE status = 'closed'")?,
        messages: count("SELECT count(*) FROM messages")?,
        outbox: count("SELECT count(*) FROM outbox")?,
    };
    conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
    Ok(counts)
}

/// Where the build is, printed every [`PROGRESS_EVERY`].
struct Progress {
    started: Instant,
    last: Instant,
    last_messages: usize,
    tickets: usize,
    messages: usize,
    total_tickets: usize,
    total_messages: usize,
}

impl Progress {
    fn new(history: &History) -> Progress {
        Progress {
            started: Instant::now(),
            last: Instant::now(),
            last_messages: 0,
            tickets: 0,
            messages: 0,
            total_tickets: history.tickets,
            total_messages: history.events.len(),
        }
    }

    fn advance(&mut self, batch: &Batch) {
        self.tickets += batch.requests;
        self.messages += batch.events.len();
        if self.last.elapsed() < PROGRESS_EVERY {
            return;
        }
        let rate = (self.messages - self.last_messages) as f64 / self.last.elapsed().as_secs_f64();
        let left = (self.total_messages - self.messages) as f64 / rate.max(1e-9);
        println!(
            "  {}/{} tickets, {}/{} messages, {:.0} s; {rate:.0} messages/s lately; at that rate {:.0} s to go",
            self.tickets,
            self.total_tickets,
            self.messages,
            self.total_messages,
            self.started.elapsed().as_secs_f64(),
            left
        );
        self.last = Instant::now();
        self.last_messages = self.messages;
    }
}
