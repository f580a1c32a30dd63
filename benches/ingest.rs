//! Benchmark of the `ticketpost` binary, run as a child process against the private
//! Dovecot + Postfix of the test suite (`tests/support/`). It prints figures next to their
//! targets; it asserts nothing about timings.
//!
//! 1. IMAP ingest: generated requests are APPENDed to a fresh support INBOX (loading is
//!    timed apart), then `ticketpost run --once` reads them over plain IMAP and writes its
//!    acknowledgements as `.eml` files. Measured: the ingest seconds that `run --once`
//!    prints (fetch + parse + store + acknowledgements queued), the whole wall time, and
//!    the child's peak RSS from `wait4`. Every batch size in `TP_BENCH_BATCH_SIZES` gets
//!    a fresh store over the same INBOX (the source reads by UID, not by `\Seen`).
//! 2. Maildir ingest: the same messages written into `new/` (tmp, then rename).
//! 3. Latency: `ticketpost run` stays up (IDLE, then polling), requests go through Postfix
//!    one every 30–50 ms, and the time from SMTP accept to the acknowledgement in the
//!    requester's INBOX is measured, split at the moment the request became visible in
//!    the support INBOX.
//! 4. LMTP push (`benches/ingest/lmtp.rs`): `lmtp`, the same requests delivered over LMTP
//!    by 8 connections at once (group commit; target 5,000 msg/s), and `lmtp-latency`,
//!    SMTP accept to acknowledgement with Postfix delivering over LMTP (1,000 requests
//!    at 20/s; target p99 under 100 ms).
//!
//! Knobs (environment): `TP_BENCH_MESSAGES` (10000), `TP_BENCH_LATENCY_MESSAGES` (200),
//! `TP_BENCH_BATCH_SIZES` (`500,100,2000`), `TP_BENCH_APPEND_CONNECTIONS` (4),
//! `TP_BENCH_PHASES` (`imap,maildir,latency`; also `lmtp`, `lmtp-latency`), `TP_BENCH_AGENTS` (0: agents who get a
//! new-ticket notice each, besides the acknowledgement), `TP_BENCH_LOG` (the children's
//! `TICKETPOST_LOG`, default `warn`; with `info` the per-batch `fetch_ms`/`parse_ms`/`store_ms`
//! lines are summed), `TP_BENCH_WRAPPER` (a command put in front of the ingest runs,
//! e.g. `perf record -g -o /tmp/tp.perf --`; RSS and times then include the wrapper).
//! The LMTP phases' own knobs are listed in `benches/ingest/lmtp.rs`.

#[path = "support/generated_mail.rs"]
mod generated_mail;
#[path = "support/knobs.rs"]
mod knobs;
#[path = "support/measured_run.rs"]
mod measured_run;
#[path = "../tests/support/mod.rs"]
mod support;

#[path = "ingest/lmtp.rs"]
mod lmtp;

use std::collections::HashSet;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use futures::TryStreamExt;
use tokio::time::timeout;

use generated_mail::{deliver_maildir, paragraphs, request, to_crlf};
use measured_run::{
    Exit, MEASURE_ENV, Measured, OnceReport, measure_child, measurement_floor, parse_once_line,
    strip_ansi, tail,
};
use support::MailStack;

const BIN: &str = env!("CARGO_BIN_EXE_ticketpost");

/// The environment variable the generated configs name for the IMAP password.
const PASSWORD_ENV: &str = "TP_BENCH_IMAP_PASSWORD";

const TARGET_MSGS_PER_S: f64 = 5000.0;
const TARGET_RSS_MB: f64 = 60.0;
const TARGET_P99: Duration = Duration::from_secs(1);

/// How often the latency watchers look into a mailbox.
const WATCH_EVERY: Duration = Duration::from_millis(10);

/// How long the long-running service gets to come up before the first request.
const STARTUP_WAIT: Duration = Duration::from_secs(1);

/// Time allowed for the service to stop after SIGTERM (its own grace is 20 s).
const STOP_WAIT: Duration = Duration::from_secs(30);

fn main() {
    if std::env::var_os(MEASURE_ENV).is_some() {
        std::process::exit(measure_child());
    }
    let started = Instant::now();
    if let Err(e) = bench(started) {
        eprintln!("benchmark failed: {e:#}");
        std::process::exit(1);
    }
}

struct Settings {
    messages: usize,
    latency_messages: usize,
    batch_sizes: Vec<usize>,
    append_connections: usize,
    phases: HashSet<String>,
    log: String,
    wrapper: Vec<String>,
}

impl Settings {
    fn from_env() -> Result<Settings> {
        use knobs::env_number as number;
        let batch_sizes = std::env::var("TP_BENCH_BATCH_SIZES")
            .unwrap_or_else(|_| "500,100,2000".into())
            .split(',')
            .map(|s| {
                s.trim()
                    .parse::<usize>()
                    .with_context(|| format!("TP_BENCH_BATCH_SIZES: {s:?} is not a number"))
            })
            .collect::<Result<Vec<_>>>()?;
        if batch_sizes.is_empty() {
            bail!("TP_BENCH_BATCH_SIZES is empty");
        }
        let phases = std::env::var("TP_BENCH_PHASES")
            .unwrap_or_else(|_| "imap,maildir,latency".into())
            .split(',')
            .map(|s| s.trim().to_ascii_lowercase())
            .filter(|s| !s.is_empty())
            .collect();
        Ok(Settings {
            messages: number("TP_BENCH_MESSAGES", 10_000)?.max(1),
            latency_messages: number("TP_BENCH_LATENCY_MESSAGES", 200)?.max(1),
            batch_sizes,
            append_connections: number("TP_BENCH_APPEND_CONNECTIONS", 4)?.clamp(1, 32),
            phases,
            log: std::env::var("TP_BENCH_LOG").unwrap_or_else(|_| "warn".into()),
            wrapper: std::env::var("TP_BENCH_WRAPPER")
                .map(|w| w.split_whitespace().map(String::from).collect())
                .unwrap_or_default(),
        })
    }

    fn phase(&self, name: &str) -> bool {
        self.phases.contains(name)
    }
}

fn bench(started: Instant) -> Result<()> {
    let settings = Settings::from_env()?;
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    println!(
        "ticketpost ingest benchmark: {} message(s), {} latency request(s), batch sizes {:?}, {cores} core(s)",
        settings.messages, settings.latency_messages, settings.batch_sizes
    );
    if !settings.wrapper.is_empty() {
        println!(
            "note: ingest runs wrapped in `{}`: times and RSS include the wrapper",
            settings.wrapper.join(" ")
        );
    }
    let floor = measurement_floor().context("measuring the RSS floor of the helper")?;
    println!(
        "peak RSS is measured with wait4 in a small helper process; its floor (a child running `true`): {:.1} MB",
        floor.rss_mb()
    );
    let stack = support::mail_stack();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;

    let mut summary: Vec<String> = Vec::new();
    let messages = Corpus::generate(settings.messages);
    println!(
        "generated {} request(s): {:.1} MiB, {} B average, {} multipart/alternative, {} with an attachment, {} distinct senders",
        messages.raw.len(),
        messages.total_bytes() as f64 / (1024.0 * 1024.0),
        messages.total_bytes() / messages.raw.len(),
        messages.alternative,
        messages.attachments,
        messages.senders,
    );

    if settings.phase("imap") {
        match imap_ingest(&rt, stack, &settings, &messages) {
            Ok(lines) => summary.extend(lines),
            Err(e) => summary.push(format!("IMAP ingest: FAILED: {e:#}")),
        }
    }
    if settings.phase("maildir") {
        match maildir_ingest(&settings, &messages) {
            Ok(lines) => summary.extend(lines),
            Err(e) => summary.push(format!("Maildir ingest: FAILED: {e:#}")),
        }
    }
    if settings.phase("latency") {
        let modes = [
            LatencyMode {
                label: "IDLE",
                mailbox: "idle = true",
            },
            LatencyMode {
                label: "polling every 0.1 s (idle = false)",
                mailbox: "idle = false\npoll_interval = 0.1",
            },
        ];
        for mode in &modes {
            match rt.block_on(latency(stack, &settings, mode)) {
                Ok(lines) => summary.extend(lines),
                Err(e) => {
                    summary.push(format!("SMTP accept -> ack, {}: FAILED: {e:#}", mode.label))
                }
            }
        }
    }

    if settings.phase("lmtp") {
        match lmtp::lmtp_ingest(&rt, &settings, &messages) {
            Ok(lines) => summary.extend(lines),
            Err(e) => summary.push(format!("LMTP push ingest: FAILED: {e:#}")),
        }
    }
    if settings.phase("lmtp-latency") {
        match rt.block_on(lmtp::lmtp_latency(stack)) {
            Ok(lines) => summary.extend(lines),
            Err(e) => summary.push(format!("SMTP accept -> ack, LMTP push: FAILED: {e:#}")),
        }
    }

    println!();
    println!("== ticketpost ingest benchmark ({cores} cores) ==");
    for line in &summary {
        println!("{line}");
    }
    println!("bench wall time: {:.1} s", started.elapsed().as_secs_f64());
    Ok(())
}

// ---------------------------------------------------------------------------
// 1. IMAP ingest

fn imap_ingest(
    rt: &tokio::runtime::Runtime,
    stack: &'static MailStack,
    settings: &Settings,
    corpus: &Corpus,
) -> Result<Vec<String>> {
    println!("\n-- IMAP ingest --");
    let support_user = support::unique_user("bench-imap");
    let crlf: Arc<Vec<Vec<u8>>> = Arc::new(corpus.raw.iter().map(|m| to_crlf(m)).collect());
    let conns = settings.append_connections.min(crlf.len());
    let loading = Instant::now();
    rt.block_on(append_parallel(stack, &support_user, crlf.clone(), conns))?;
    let load_s = loading.elapsed().as_secs_f64();
    let waiting = rt.block_on(inbox_count(stack, &support_user))?;
    println!(
        "loaded {} message(s) into {support_user} with IMAP APPEND over {conns} connection(s) in {load_s:.2} s ({:.0} msg/s); INBOX holds {waiting}",
        crlf.len(),
        crlf.len() as f64 / load_s
    );
    if waiting != crlf.len() {
        bail!("INBOX holds {waiting} message(s), expected {}", crlf.len());
    }

    let mut runs = Vec::new();
    for &batch_size in &settings.batch_sizes {
        let dir = tempfile::Builder::new()
            .prefix("tp-bench-imap-")
            .tempdir()
            .context("creating a temporary folder")?;
        let mailbox = format!(
            "kind = \"imap\"\nhost = \"127.0.0.1\"\nport = {}\ntls = \"none\"\nusername = \"{support_user}\"\npassword_env = \"{PASSWORD_ENV}\"\nbatch_size = {batch_size}\ntimeout = 60",
            stack.imap_port
        );
        let cfg = write_config(
            dir.path(),
            &mailbox,
            &file_transport(dir.path()),
            &support_user,
        )?;
        let run = run_once(settings, &cfg, dir.path(), stack)?;
        let checked = verify(&cfg, dir.path(), stack)?;
        println!(
            "batch_size {batch_size}: {}",
            run.describe(corpus.raw.len(), &checked)
        );
        runs.push((batch_size, run, checked));
    }
    Ok(summarise(
        "IMAP fetch+store+ack queued",
        corpus.raw.len(),
        &runs,
    ))
}

async fn append_parallel(
    stack: &'static MailStack,
    user: &str,
    messages: Arc<Vec<Vec<u8>>>,
    connections: usize,
) -> Result<()> {
    let per = messages.len().div_ceil(connections);
    let mut tasks = Vec::new();
    for c in 0..connections {
        let messages = messages.clone();
        let user = user.to_string();
        tasks.push(tokio::spawn(async move {
            let end = ((c + 1) * per).min(messages.len());
            let start = (c * per).min(end);
            let slice: Vec<&[u8]> = messages[start..end].iter().map(Vec::as_slice).collect();
            support::imap_append_many(stack, &user, &slice).await
        }));
    }
    for task in tasks {
        task.await.context("append task failed")??;
    }
    Ok(())
}

async fn inbox_count(stack: &'static MailStack, user: &str) -> Result<usize> {
    let mut session = support::imap_login(stack, user).await?;
    let mailbox = timeout(support::IO_TIMEOUT, session.select("INBOX"))
        .await
        .context("IMAP SELECT timed out")??;
    let _ = timeout(Duration::from_secs(5), session.logout()).await;
    Ok(mailbox.exists as usize)
}

// ---------------------------------------------------------------------------
// 2. Maildir ingest

fn maildir_ingest(settings: &Settings, corpus: &Corpus) -> Result<Vec<String>> {
    println!("\n-- Maildir ingest --");
    let support_user = "support@example.test";
    let mut runs = Vec::new();
    for &batch_size in &settings.batch_sizes {
        let dir = tempfile::Builder::new()
            .prefix("tp-bench-maildir-")
            .tempdir()
            .context("creating a temporary folder")?;
        let maildir = dir.path().join("inbox");
        let loading = Instant::now();
        deliver_maildir(&maildir, &corpus.raw)?;
        let load_s = loading.elapsed().as_secs_f64();
        let mailbox = format!(
            "kind = \"maildir\"\npath = \"{}\"\nbatch_size = {batch_size}",
            maildir.display()
        );
        let cfg = write_config(
            dir.path(),
            &mailbox,
            &file_transport(dir.path()),
            support_user,
        )?;
        let run = run_once(settings, &cfg, dir.path(), support::mail_stack())?;
        let checked = verify(&cfg, dir.path(), support::mail_stack())?;
        let left = count_files(&maildir.join("new"), "")?;
        let done = count_files(&maildir.join("cur"), "")?;
        println!(
            "batch_size {batch_size}: {} (written in {load_s:.2} s; new/ {left}, cur/ {done} afterwards)",
            run.describe(corpus.raw.len(), &checked)
        );
        runs.push((batch_size, run, checked));
    }
    Ok(summarise(
        "Maildir fetch+store+ack queued",
        corpus.raw.len(),
        &runs,
    ))
}

// ---------------------------------------------------------------------------
// Running the binary and checking what it did

fn write_config(
    dir: &Path,
    mailbox: &str,
    transport: &str,
    support_address: &str,
) -> Result<PathBuf> {
    let path = dir.join("ticketpost.toml");
    // Agents each get a new-ticket notice: TP_BENCH_AGENTS of them (default none, the
    // acknowledgement-only workload the ingest target is set for).
    let agents: usize = std::env::var("TP_BENCH_AGENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let agents: Vec<String> = (0..agents)
        .map(|i| format!("\"Agent {i} <agent{i}@example.test>\""))
        .collect();
    let text = format!(
        "[store]\npath = \"{}\"\n[mailbox]\n{mailbox}\n[transport]\n{transport}\n[desk]\nsupport_address = \"{support_address}\"\nsupport_name = \"Example Support\"\nagents = [{}]\n# Generated senders send many requests each within the hour: no loop guard here.\n[limits]\nacknowledgements_per_sender_per_hour = 100000\n",
        dir.join("ticketpost.db").display(),
        agents.join(", ")
    );
    std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
    Ok(path)
}

fn file_transport(dir: &Path) -> String {
    format!(
        "kind = \"file\"\npath = \"{}\"",
        dir.join("outbox").display()
    )
}

/// The binary with `--config`, the password and a log level; wrapped when asked.
fn ticketpost(settings: Option<&Settings>, cfg: &Path, stack: &MailStack, log: &str) -> Command {
    let wrapper = settings.map(|s| s.wrapper.as_slice()).unwrap_or_default();
    let mut cmd = match wrapper.split_first() {
        Some((program, args)) => {
            let mut c = Command::new(program);
            c.args(args).arg(BIN);
            c
        }
        None => Command::new(BIN),
    };
    cmd.arg("--config")
        .arg(cfg)
        .env("TICKETPOST_LOG", log)
        .env("NO_COLOR", "1")
        .env(PASSWORD_ENV, &stack.password)
        .env_remove("TICKETPOST_FAULT")
        .stdin(Stdio::null());
    if let Some(dir) = cfg.parent() {
        cmd.current_dir(dir);
    }
    cmd
}

/// What one `run --once` did.
struct OnceRun {
    exit: Exit,
    report: Option<OnceReport>,
    stdout: String,
    /// Per-batch log lines (only with `TP_BENCH_LOG=info`): count, Σ fetch_ms, Σ parse_ms,
    /// Σ store_ms.
    batches: Option<(usize, u64, u64, u64)>,
}

/// Counts taken after a run.
struct Checked {
    tickets: Option<usize>,
    eml: usize,
}

impl Checked {
    fn complete(&self, expected: usize) -> bool {
        self.tickets == Some(expected) && self.eml == expected
    }
}

fn run_once(settings: &Settings, cfg: &Path, dir: &Path, stack: &MailStack) -> Result<OnceRun> {
    let out_path = dir.join("run.stdout");
    let err_path = dir.join("run.stderr");
    let mut cmd = ticketpost(Some(settings), cfg, stack, &settings.log);
    cmd.args(["run", "--once"]);
    let exit = Measured::spawn(&cmd, &out_path, &err_path)?.finish()?;
    let stdout = std::fs::read_to_string(&out_path).unwrap_or_default();
    let stderr = strip_ansi(&std::fs::read_to_string(&err_path).unwrap_or_default());
    if !exit.success() {
        bail!(
            "run --once: {}\nstdout: {stdout}\nstderr (last lines):\n{}",
            exit.describe_status(),
            tail(&stderr, 30)
        );
    }
    let report = stdout.lines().find_map(parse_once_line);
    let warnings = stderr.lines().filter(|l| l.contains(" WARN ")).count();
    if warnings > 0 {
        println!(
            "  ({warnings} warning line(s) on stderr; first: {})",
            stderr.lines().find(|l| l.contains(" WARN ")).unwrap_or("")
        );
    }
    Ok(OnceRun {
        exit,
        report,
        stdout,
        batches: batch_log(&stderr),
    })
}

/// Sums the `batch stored` info lines (`fetch_ms=`, `parse_ms=`, `store_ms=`).
fn batch_log(stderr: &str) -> Option<(usize, u64, u64, u64)> {
    let field = |line: &str, key: &str| -> u64 {
        line.find(key)
            .and_then(|i| {
                line[i + key.len()..]
                    .split(|c: char| !c.is_ascii_digit())
                    .next()?
                    .parse()
                    .ok()
            })
            .unwrap_or(0)
    };
    let lines: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("batch stored") && l.contains("store_ms="))
        .collect();
    if lines.is_empty() {
        return None;
    }
    Some((
        lines.len(),
        lines.iter().map(|l| field(l, "fetch_ms=")).sum(),
        lines.iter().map(|l| field(l, "parse_ms=")).sum(),
        lines.iter().map(|l| field(l, "store_ms=")).sum(),
    ))
}

/// How many tickets `tickets list --json` lists, page after page (each next page
/// `--before` the last token of the one before); None if a page fails.
fn count_tickets(cfg: &Path, stack: &MailStack) -> Result<Option<usize>> {
    const PAGE: usize = 1_000;
    let mut count = 0;
    let mut before: Option<String> = None;
    loop {
        let mut cmd = ticketpost(None, cfg, stack, "warn");
        cmd.args(["tickets", "list", "--json", "--limit", "1000"]);
        if let Some(token) = &before {
            cmd.args(["--before", token]);
        }
        let out = cmd.output().context("running tickets list")?;
        let page = if out.status.success() {
            serde_json::from_slice::<serde_json::Value>(&out.stdout)
                .ok()
                .and_then(|v| v.as_array().cloned())
        } else {
            println!(
                "  tickets list --json failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            );
            None
        };
        let Some(page) = page else {
            return Ok(None);
        };
        count += page.len();
        if page.len() < PAGE {
            return Ok(Some(count));
        }
        before = page
            .last()
            .and_then(|t| t["token"].as_str())
            .map(String::from);
    }
}

fn verify(cfg: &Path, dir: &Path, stack: &MailStack) -> Result<Checked> {
    let tickets = count_tickets(cfg, stack)?;
    Ok(Checked {
        tickets,
        eml: count_files(&dir.join("outbox"), "-acknowledgement.eml")?,
    })
}

fn count_files(dir: &Path, suffix: &str) -> Result<usize> {
    if !dir.exists() {
        return Ok(0);
    }
    Ok(std::fs::read_dir(dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .filter_map(|e| e.ok())
        .filter(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            !name.starts_with('.') && name.ends_with(suffix)
        })
        .count())
}

impl OnceRun {
    fn rate(&self) -> Option<f64> {
        let r = self.report?;
        (r.ingest_s > 0.0).then(|| r.processed as f64 / r.ingest_s)
    }

    fn describe(&self, expected: usize, checked: &Checked) -> String {
        let mut s = String::new();
        match self.report {
            Some(r) => {
                let _ = write!(
                    s,
                    "{} msgs in {:.3} s = {:.0} msg/s; {} new ticket(s), {} quarantined; sent {} in {:.3} s; similar-tickets index caught up with {} in {:.3} s after",
                    r.processed,
                    r.ingest_s,
                    self.rate().unwrap_or(0.0),
                    r.new_tickets,
                    r.quarantined,
                    r.sent,
                    r.send_s,
                    r.indexed,
                    r.index_s
                );
            }
            None => {
                let _ = write!(s, "unparsed output {:?}", self.stdout.trim());
            }
        }
        let e = &self.exit;
        let _ = write!(
            s,
            "; wall {:.3} s; peak RSS {:.1} MB; CPU {:.2} s user + {:.2} s sys ({:.0}% of wall)",
            e.wall.as_secs_f64(),
            e.rss_mb(),
            e.cpu_user.as_secs_f64(),
            e.cpu_sys.as_secs_f64(),
            100.0 * e.cpu().as_secs_f64() / e.wall.as_secs_f64().max(1e-9)
        );
        let _ = write!(
            s,
            "; tickets {}, acknowledgements {}{}",
            checked
                .tickets
                .map_or_else(|| "?".to_string(), |n| n.to_string()),
            checked.eml,
            if checked.complete(expected) {
                " (ok)".to_string()
            } else {
                format!(" (MISMATCH: expected {expected} each)")
            }
        );
        if let Some((n, fetch, parse, store)) = self.batches {
            let _ = write!(
                s,
                "; {n} batch log line(s): fetch {fetch} ms, parse {parse} ms (both overlap the previous batch's store), store {store} ms"
            );
        }
        s
    }
}

/// The summary lines of one ingest phase: the first batch size of
/// `TP_BENCH_BATCH_SIZES` (500, the shipped default) is the headline, not the head one;
/// the others follow.
fn summarise(label: &str, expected: usize, runs: &[(usize, OnceRun, Checked)]) -> Vec<String> {
    let Some((head_size, head, checked)) = runs.first() else {
        return vec![format!("{label}: no runs")];
    };
    let verdict = |ok: bool| if ok { "ok" } else { "MISSED" };
    let mut lines = Vec::new();
    match head.report {
        Some(r) => {
            let rate = head.rate().unwrap_or(0.0);
            lines.push(format!(
                "{label}: {} msgs in {:.2} s = {rate:.0} msg/s (target >= {TARGET_MSGS_PER_S:.0}: {}); peak RSS {:.1} MB (target < {TARGET_RSS_MB:.0} MB: {}) [batch_size {head_size}; wall {:.2} s incl. {:.2} s writing {} acks]",
                r.processed,
                r.ingest_s,
                verdict(rate >= TARGET_MSGS_PER_S),
                head.exit.rss_mb(),
                verdict(head.exit.rss_mb() < TARGET_RSS_MB),
                head.exit.wall.as_secs_f64(),
                r.send_s,
                r.sent,
            ));
        }
        None => lines.push(format!(
            "{label}: run --once printed no report: {:?}",
            head.stdout.trim()
        )),
    }
    lines.push(format!(
        "  correctness: {} ticket(s) in the store, {} .eml file(s) in the outbox (expected {expected}){}",
        checked
            .tickets
            .map_or_else(|| "?".to_string(), |n| n.to_string()),
        checked.eml,
        if checked.complete(expected) {
            ""
        } else {
            " MISMATCH"
        }
    ));
    let others: Vec<String> = runs
        .iter()
        .map(|(size, run, c)| {
            format!(
                "{size}: {:.0} msg/s, {:.1} MB{}",
                run.rate().unwrap_or(0.0),
                run.exit.rss_mb(),
                if c.complete(expected) {
                    ""
                } else {
                    " (counts wrong)"
                }
            )
        })
        .collect();
    if runs.len() > 1 {
        lines.push(format!("  by batch_size: {}", others.join("; ")));
    }
    lines
}

// ---------------------------------------------------------------------------
// 3. Latency through Postfix with the long-running service

struct LatencyMode {
    label: &'static str,
    mailbox: &'static str,
}

async fn latency(
    stack: &'static MailStack,
    settings: &Settings,
    mode: &LatencyMode,
) -> Result<Vec<String>> {
    println!("\n-- latency, {} --", mode.label);
    let n = settings.latency_messages;
    let support_user = support::unique_user("bench-lat");
    let requester = support::unique_user("latency-req");
    let dir = tempfile::Builder::new()
        .prefix("tp-bench-latency-")
        .tempdir()
        .context("creating a temporary folder")?;
    let mailbox = format!(
        "kind = \"imap\"\nhost = \"127.0.0.1\"\nport = {}\ntls = \"none\"\nusername = \"{support_user}\"\npassword_env = \"{PASSWORD_ENV}\"\ntimeout = 10\n{}",
        stack.imap_port, mode.mailbox
    );
    let transport = format!(
        "kind = \"smtp\"\nhost = \"127.0.0.1\"\nport = {}\ntls = \"none\"\ntimeout = 10",
        stack.smtp_port
    );
    let cfg = write_config(dir.path(), &mailbox, &transport, &support_user)?;

    // Watchers log in first, so their mailboxes exist before anything arrives.
    let sending_time = Duration::from_millis(50) * n as u32;
    let deadline = Instant::now() + STARTUP_WAIT + sending_time + Duration::from_secs(30);
    let delivered = Watcher::start(stack, &support_user, n, deadline, false).await?;
    let acked = Watcher::start(stack, &requester, n, deadline, true).await?;

    let err_path = dir.path().join("service.stderr");
    let mut cmd = ticketpost(None, &cfg, stack, "warn");
    cmd.arg("run");
    let mut service = Measured::spawn(&cmd, &dir.path().join("service.stdout"), &err_path)?;
    tokio::time::sleep(STARTUP_WAIT).await;
    if let Some(exit) = service.try_finish()? {
        bail!(
            "ticketpost run ended during start-up ({}):\n{}",
            exit.describe_status(),
            tail(&std::fs::read_to_string(&err_path).unwrap_or_default(), 30)
        );
    }
    let delivered = tokio::spawn(delivered.run());
    let acked = tokio::spawn(acked.run());

    // Requests one every 30–50 ms; the accept instant is when smtp_send returned.
    let mut accepted: Vec<Option<Instant>> = vec![None; n];
    let mut send_errors = 0usize;
    let mut rng = fastrand::Rng::with_seed(7);
    let mut next = tokio::time::Instant::now();
    let sending = Instant::now();
    for (i, slot) in accepted.iter_mut().enumerate() {
        tokio::time::sleep_until(next).await;
        next += Duration::from_millis(rng.u64(30..=50));
        let raw = latency_request(i, &requester, &support_user);
        match support::smtp_send(stack, &requester, &[&support_user], &raw).await {
            Ok(()) => *slot = Some(Instant::now()),
            Err(e) => {
                send_errors += 1;
                if send_errors <= 3 {
                    println!("  smtp_send latency-{i} failed: {e:#}");
                }
            }
        }
    }
    let sending_s = sending.elapsed().as_secs_f64();
    let delivered = delivered.await.context("watcher task failed")??;
    let acked = acked.await.context("watcher task failed")??;

    // SIGTERM: the service must finish and exit 0.
    service.signal(libc::SIGTERM);
    let stop_started = Instant::now();
    let exit = loop {
        if let Some(exit) = service.try_finish()? {
            break Some(exit);
        }
        if stop_started.elapsed() > STOP_WAIT {
            service.signal(libc::SIGKILL);
            let _ = service.finish();
            break None;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let stop_s = stop_started.elapsed().as_secs_f64();
    let stderr = strip_ansi(&std::fs::read_to_string(&err_path).unwrap_or_default());
    let stop = match &exit {
        Some(e) if e.success() => format!(
            "SIGTERM -> exit 0 in {stop_s:.2} s; service peak RSS {:.1} MB, CPU {:.2} s",
            e.rss_mb(),
            e.cpu().as_secs_f64()
        ),
        Some(e) => format!(
            "SIGTERM -> {} (NOT 0) after {stop_s:.2} s; stderr:\n{}",
            e.describe_status(),
            tail(&stderr, 20)
        ),
        None => format!("did NOT stop within {STOP_WAIT:?} of SIGTERM (killed)"),
    };
    let warnings = stderr.lines().filter(|l| l.contains(" WARN ")).count();

    let mut total = Vec::new();
    let mut inbound = Vec::new();
    let mut gateway = Vec::new();
    for i in 0..n {
        let (Some(accept), Some(ack)) = (accepted[i], acked[i]) else {
            continue;
        };
        total.push(ack.saturating_duration_since(accept));
        if let Some(seen) = delivered[i] {
            inbound.push(seen.saturating_duration_since(accept));
            gateway.push(ack.saturating_duration_since(seen));
        }
    }
    let missing = n - total.len();
    println!(
        "sent {n} request(s) in {sending_s:.1} s ({send_errors} failed); {} seen in the support INBOX, {} acknowledgement(s) arrived; {stop}; {warnings} warning line(s)",
        delivered.iter().flatten().count(),
        acked.iter().flatten().count(),
    );
    let p99 = percentile(&mut total, 0.99);
    let mut lines = vec![format!(
        "SMTP accept -> ack in requester mailbox, {}: {} (n={}{}, target p99 < {:.0} s: {})",
        mode.label,
        stats(&mut total),
        total.len(),
        if missing > 0 {
            format!(", {missing} MISSING")
        } else {
            String::new()
        },
        TARGET_P99.as_secs_f64(),
        match p99 {
            Some(p) if p < TARGET_P99 && missing == 0 => "ok",
            _ => "MISSED",
        }
    )];
    lines.push(format!(
        "  accept -> visible in support INBOX (Postfix in): {}; visible -> ack in requester INBOX (ticketpost + Postfix out): {}",
        stats(&mut inbound),
        stats(&mut gateway)
    ));
    lines.push(format!("  {stop}"));
    for l in &lines {
        println!("{l}");
    }
    Ok(lines)
}

/// A short request in the style of the generated ones, subject `latency-<i>`.
fn latency_request(i: usize, from: &str, to: &str) -> Vec<u8> {
    let mut rng = fastrand::Rng::with_seed(1000 + i as u64);
    let mut body = String::from("Hello,\n\n");
    body.push_str(&paragraphs(&mut rng, 600));
    body.push_str("\nThanks,\nLee\n");
    format!(
        "From: Latency Tester <{from}>\nTo: Example Support <{to}>\nSubject: latency-{i}\nDate: {}\nMessage-ID: <latency-{i}.{}.{:08x}@outside.test>\nMIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\n{body}",
        chrono::Utc::now().to_rfc2822(),
        std::process::id(),
        fastrand::u32(..)
    )
    .into_bytes()
}

/// Watches one INBOX over a single logged-in session: NOOP, then the headers of UIDs
/// not seen yet, every [`WATCH_EVERY`]; records when each `latency-<i>` first showed.
struct Watcher {
    session: async_imap::Session<tokio::net::TcpStream>,
    n: usize,
    deadline: Instant,
    /// Acknowledgements (`[TP-n] latency-<i>`) rather than the requests themselves.
    acks: bool,
}

impl Watcher {
    async fn start(
        stack: &'static MailStack,
        user: &str,
        n: usize,
        deadline: Instant,
        acks: bool,
    ) -> Result<Watcher> {
        let mut session = support::imap_login(stack, user).await?;
        timeout(support::IO_TIMEOUT, session.select("INBOX"))
            .await
            .context("IMAP SELECT timed out")?
            .with_context(|| format!("SELECT INBOX of {user}"))?;
        Ok(Watcher {
            session,
            n,
            deadline,
            acks,
        })
    }

    async fn run(mut self) -> Result<Vec<Option<Instant>>> {
        let mut seen: Vec<Option<Instant>> = vec![None; self.n];
        let mut remaining = self.n;
        let mut last_uid = 0u32;
        while remaining > 0 && Instant::now() < self.deadline {
            timeout(support::IO_TIMEOUT, self.session.noop())
                .await
                .context("IMAP NOOP timed out")??;
            let looked = Instant::now();
            while self.session.unsolicited_responses.try_recv().is_ok() {}
            let query = format!("UID {}:*", last_uid + 1);
            let uids = timeout(support::IO_TIMEOUT, self.session.uid_search(&query))
                .await
                .context("IMAP UID SEARCH timed out")??;
            let mut new: Vec<u32> = uids.into_iter().filter(|&u| u > last_uid).collect();
            if !new.is_empty() {
                new.sort_unstable();
                let set = new.iter().map(u32::to_string).collect::<Vec<_>>().join(",");
                let session = &mut self.session;
                let fetches: Vec<_> = timeout(support::IO_TIMEOUT, async {
                    let stream = session.uid_fetch(&set, "(UID BODY.PEEK[HEADER])").await?;
                    stream.try_collect::<Vec<_>>().await
                })
                .await
                .context("IMAP UID FETCH timed out")??;
                last_uid = new[new.len() - 1];
                for f in &fetches {
                    let Some(subject) = f.header().and_then(support::subject_of) else {
                        continue;
                    };
                    if self.acks && !subject.starts_with('[') {
                        continue;
                    }
                    if let Some(i) = latency_index(&subject)
                        && i < self.n
                        && seen[i].is_none()
                    {
                        seen[i] = Some(looked);
                        remaining -= 1;
                    }
                }
            }
            tokio::time::sleep(WATCH_EVERY).await;
        }
        let _ = timeout(Duration::from_secs(5), self.session.logout()).await;
        Ok(seen)
    }
}

/// `i` from a subject ending in `latency-<i>`.
fn latency_index(subject: &str) -> Option<usize> {
    let at = subject.rfind("latency-")?;
    subject[at + "latency-".len()..].trim().parse().ok()
}

/// Nearest-rank percentile; sorts `values`.
fn percentile(values: &mut [Duration], p: f64) -> Option<Duration> {
    if values.is_empty() {
        return None;
    }
    values.sort_unstable();
    let rank = ((p * values.len() as f64).ceil() as usize).clamp(1, values.len());
    Some(values[rank - 1])
}

fn stats(values: &mut [Duration]) -> String {
    let ms = |d: Option<Duration>| {
        d.map_or_else(
            || "-".to_string(),
            |d| format!("{:.0} ms", d.as_secs_f64() * 1000.0),
        )
    };
    let p50 = percentile(values, 0.5);
    let p99 = percentile(values, 0.99);
    let max = values.iter().max().copied();
    format!("p50 {} p99 {} max {}", ms(p50), ms(p99), ms(max))
}

// ---------------------------------------------------------------------------
// Generated requests

/// Generated requests (LF line ends), deterministic for a given count.
struct Corpus {
    raw: Vec<Vec<u8>>,
    alternative: usize,
    attachments: usize,
    senders: usize,
}

impl Corpus {
    fn generate(n: usize) -> Corpus {
        let mut rng = fastrand::Rng::with_seed(20_261_125);
        let nonce = format!("{}.{:08x}", std::process::id(), fastrand::u32(..));
        let sender_pool = (n / 5).clamp(1, 2000);
        let mut corpus = Corpus {
            raw: Vec::with_capacity(n),
            alternative: 0,
            attachments: 0,
            senders: 0,
        };
        let mut senders_used = HashSet::new();
        for i in 0..n {
            let sender = rng.usize(..sender_pool);
            senders_used.insert(sender);
            let alternative = rng.u8(..100) < 30;
            let attachment = rng.u8(..100) < 3;
            corpus.alternative += usize::from(alternative);
            corpus.attachments += usize::from(attachment);
            corpus.raw.push(request(
                &mut rng,
                i,
                sender,
                &nonce,
                alternative,
                attachment,
            ));
        }
        corpus.senders = senders_used.len();
        corpus
    }

    fn total_bytes(&self) -> usize {
        self.raw.iter().map(Vec::len).sum()
    }
}
