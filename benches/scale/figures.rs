//! The figures of one size, measured on a copy of its cached store with the release
//! binary, as a user runs it: `run --once` on a Maildir of new requests (ingest rate,
//! outbox drain, peak RSS from `wait4` in the measuring helper), the store's size
//! against the raw mail it holds, `tickets list`, `tickets show`, `sla` and a month's
//! `report` (best of three), and the dashboard and `/metrics` of a running `run` with
//! `[http]` (best of three requests). Building the store is `store_build`'s; the table
//! is `scale`'s.

use std::fs::File;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::desk_history;
use crate::generated_mail::deliver_maildir;
use crate::measured_run::{Exit, Measured, OnceReport, parse_once_line, strip_ansi, tail};
use crate::store_build::Cached;

/// Runs of each command and requests of each page; the best counts.
const TRIES: usize = 3;
/// How long the service may take to answer `/healthz` after it starts.
const STARTUP_LIMIT: Duration = Duration::from_secs(300);
/// How long the service may take to stop after SIGTERM (its own grace is 20 s).
const STOP_LIMIT: Duration = Duration::from_secs(60);

/// The best wall time of a command or request, and how much it printed or served.
#[derive(Debug, Clone, Copy, Default)]
pub struct Timed {
    pub best: Duration,
    pub bytes: u64,
}

impl Timed {
    pub fn ms(&self) -> f64 {
        self.best.as_secs_f64() * 1000.0
    }
}

/// What was measured at one size.
pub struct Figures {
    pub once: OnceReport,
    pub once_exit: Exit,
    pub list: Timed,
    pub show: Timed,
    pub sla: Timed,
    pub report: Timed,
    pub dashboard: Timed,
    pub metrics: Timed,
    /// Peak RSS of the serving `run`, for comparison.
    pub serve_rss_mb: Option<f64>,
    /// Database file + WAL, after the measured ingest.
    pub store_bytes: u64,
    /// Of which the WAL.
    pub wal_bytes: u64,
    /// The raw bytes of every message received (requests and replies).
    pub raw_bytes: u64,
    pub tickets_after: usize,
}

impl Figures {
    pub fn ingest_rate(&self) -> f64 {
        self.once.processed as f64 / self.once.ingest_s.max(1e-9)
    }

    pub fn store_per_ticket(&self) -> f64 {
        self.store_bytes as f64 / self.tickets_after.max(1) as f64
    }

    pub fn raw_per_ticket(&self) -> f64 {
        self.raw_bytes as f64 / self.tickets_after.max(1) as f64
    }

    pub fn store_ratio(&self) -> f64 {
        self.store_bytes as f64 / self.raw_bytes.max(1) as f64
    }
}

/// The folder a size is measured in, with its config and the copied store.
struct Desk {
    root: PathBuf,
    config: PathBuf,
    port: u16,
}

impl Desk {
    fn ticketpost(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(crate::binary());
        cmd.arg("--config")
            .arg(&self.config)
            .args(args)
            .env("TICKETPOST_LOG", "warn")
            .env("NO_COLOR", "1")
            .env(crate::TOKEN_ENV, crate::TOKEN)
            .env_remove("TICKETPOST_FAULT")
            .current_dir(&self.root)
            .stdin(Stdio::null());
        cmd
    }

    fn db(&self) -> PathBuf {
        self.root.join("var/ticketpost.db")
    }
}

/// Measures a copy of `cached` in `root` (emptied first), with `requests` new requests;
/// with `consume`, the cached store itself, moved out of the cache.
pub fn measure(cached: &Cached, root: &Path, requests: usize, consume: bool) -> Result<Figures> {
    let desk = set_up(cached, root, requests, consume)?;
    let tickets = cached.info.tickets;
    let (once, once_exit) = ingest(&desk, requests)?;
    let (store_bytes, wal_bytes, raw_bytes, tickets_after) = sizes(&desk)?;
    if tickets_after != tickets + requests {
        bail!(
            "after the ingest the store has {tickets_after} tickets, expected {}",
            tickets + requests
        );
    }
    let middle = format!("TP-{}", (tickets / 2).max(1));
    let end = chrono::DateTime::from_timestamp(cached.info.history_end, 0).unwrap_or_default();
    let since = (end - chrono::Duration::days(29))
        .format("%Y-%m-%d")
        .to_string();
    let until = end.format("%Y-%m-%d").to_string();
    println!(
        "timing tickets list, tickets show {middle}, sla, report --since {since} --until {until} (best of {TRIES})"
    );
    let list = best_of(&desk, &["tickets", "list"])?;
    let show = best_of(&desk, &["tickets", "show", &middle])?;
    let sla = best_of(&desk, &["sla"])?;
    let report = best_of(&desk, &["report", "--since", &since, "--until", &until])?;
    let (dashboard, metrics, serve_rss_mb) = serve(&desk)?;
    Ok(Figures {
        once,
        once_exit,
        list,
        show,
        sla,
        report,
        dashboard,
        metrics,
        serve_rss_mb,
        store_bytes,
        wal_bytes,
        raw_bytes,
        tickets_after,
    })
}

/// The folder: the cached store copied (or with `consume`, moved) in, the config, the
/// Maildir of new requests (dated now, from the same senders as the history).
fn set_up(cached: &Cached, root: &Path, requests: usize, consume: bool) -> Result<Desk> {
    if root.exists() {
        std::fs::remove_dir_all(root).with_context(|| format!("removing {}", root.display()))?;
    }
    std::fs::create_dir_all(root.join("var"))
        .with_context(|| format!("creating {}", root.display()))?;
    let port = free_port()?;
    let config = root.join("ticketpost.toml");
    std::fs::write(&config, crate::desk_config(root, port)?)?;
    let desk = Desk {
        root: root.to_path_buf(),
        config,
        port,
    };
    let copying = Instant::now();
    if consume {
        std::fs::rename(&cached.db, desk.db())
            .with_context(|| format!("moving {} into {}", cached.db.display(), root.display()))?;
        std::fs::remove_file(cached.db.with_extension("json"))?;
    } else {
        std::fs::copy(&cached.db, desk.db())
            .with_context(|| format!("copying {} into {}", cached.db.display(), root.display()))?;
    }
    let now = chrono::Utc::now().timestamp();
    let mail = desk_history::requests_after(cached.info.tickets, requests, now);
    let bytes: usize = mail.iter().map(Vec::len).sum();
    deliver_maildir(&root.join("var/inbox"), &mail)?;
    println!(
        "{} the store in {:.1} s; {requests} new requests in the Maildir ({:.1} MB, {} B average)",
        if consume { "moved" } else { "copied" },
        copying.elapsed().as_secs_f64(),
        bytes as f64 / 1e6,
        bytes / requests.max(1)
    );
    Ok(desk)
}

/// `run --once` under the measuring helper: what it printed and how it ended.
fn ingest(desk: &Desk, requests: usize) -> Result<(OnceReport, Exit)> {
    let (out, err) = (desk.root.join("once.stdout"), desk.root.join("once.stderr"));
    let exit = Measured::spawn(&desk.ticketpost(&["run", "--once"]), &out, &err)?.finish()?;
    let stdout = std::fs::read_to_string(&out).unwrap_or_default();
    let stderr = strip_ansi(&std::fs::read_to_string(&err).unwrap_or_default());
    if !exit.success() {
        bail!(
            "run --once: {}\n{}",
            exit.describe_status(),
            tail(&stderr, 30)
        );
    }
    let warnings: Vec<&str> = stderr.lines().filter(|l| l.contains(" WARN ")).collect();
    if let Some(first) = warnings.first() {
        println!("  ({} warning line(s); first: {first})", warnings.len());
    }
    let once = stdout
        .lines()
        .find_map(parse_once_line)
        .with_context(|| format!("run --once printed no report: {:?}", stdout.trim()))?;
    if once.new_tickets != requests || once.quarantined > 0 {
        bail!("run --once: {}", stdout.trim());
    }
    println!("run --once: {}", stdout.trim());
    Ok((once, exit))
}

/// The database file with its WAL, the WAL, the raw bytes of the messages, and the
/// tickets.
fn sizes(desk: &Desk) -> Result<(u64, u64, u64, usize)> {
    let db = desk.db();
    let size = |p: &Path| std::fs::metadata(p).map_or(0, |m| m.len());
    let wal = size(Path::new(&format!("{}-wal", db.display())));
    let conn =
        rusqlite::Connection::open_with_flags(&db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .with_context(|| format!("opening {}", db.display()))?;
    let raw: i64 = conn.query_row(
        "SELECT coalesce(sum(coalesce(raw_len, length(raw))), 0) FROM messages",
        [],
        |r| r.get(0),
    )?;
    let tickets: i64 = conn.query_row("SELECT count(*) FROM tickets", [], |r| r.get(0))?;
    Ok((
        size(&db) + wal,
        wal,
        u64::try_from(raw).unwrap_or(0),
        usize::try_from(tickets).unwrap_or(0),
    ))
}

/// The best wall time of [`TRIES`] runs of the binary with `args`, its output to a file.
fn best_of(desk: &Desk, args: &[&str]) -> Result<Timed> {
    let out = desk.root.join("command.stdout");
    let mut best: Option<Timed> = None;
    for _ in 0..TRIES {
        let file = File::create(&out)?;
        let started = Instant::now();
        let run = desk
            .ticketpost(args)
            .stdout(file)
            .stderr(Stdio::piped())
            .output()
            .with_context(|| format!("running ticketpost {}", args.join(" ")))?;
        let wall = started.elapsed();
        if !run.status.success() {
            bail!(
                "ticketpost {}: {}\n{}",
                args.join(" "),
                run.status,
                String::from_utf8_lossy(&run.stderr)
            );
        }
        let bytes = std::fs::metadata(&out).map_or(0, |m| m.len());
        if best.is_none_or(|b| wall < b.best) {
            best = Some(Timed { best: wall, bytes });
        }
    }
    best.context("no runs")
}

/// `ticketpost run` with the dashboard: waits for `/healthz`, times `/` and `/metrics`,
/// stops it with SIGTERM. Also returns the service's peak RSS.
fn serve(desk: &Desk) -> Result<(Timed, Timed, Option<f64>)> {
    let (out, err) = (
        desk.root.join("serve.stdout"),
        desk.root.join("serve.stderr"),
    );
    let mut service = Measured::spawn(&desk.ticketpost(&["run"]), &out, &err)?;
    let started = Instant::now();
    let timed = loop {
        if let Some(exit) = service.try_finish()? {
            bail!(
                "ticketpost run ended during start-up ({}):\n{}",
                exit.describe_status(),
                tail(&std::fs::read_to_string(&err).unwrap_or_default(), 30)
            );
        }
        if matches!(get(desk.port, "/healthz"), Ok((200, _))) {
            println!(
                "the service answered /healthz {:.1} s after it started",
                started.elapsed().as_secs_f64()
            );
            break best_page(desk.port, "/")
                .and_then(|d| Ok((d, best_page(desk.port, "/metrics")?)));
        }
        if started.elapsed() > STARTUP_LIMIT {
            break Err(anyhow::anyhow!(
                "no answer on /healthz within {STARTUP_LIMIT:?}"
            ));
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let rss = stop(service)?;
    let (dashboard, metrics) = timed?;
    Ok((dashboard, metrics, rss))
}

/// SIGTERM, then the service's peak RSS when it ended cleanly in time.
fn stop(mut service: Measured) -> Result<Option<f64>> {
    service.signal(libc::SIGTERM);
    let stopping = Instant::now();
    loop {
        if let Some(exit) = service.try_finish()? {
            return Ok(exit.success().then(|| exit.rss_mb()));
        }
        if stopping.elapsed() > STOP_LIMIT {
            service.signal(libc::SIGKILL);
            service.finish()?;
            println!("  the service did not stop within {STOP_LIMIT:?} of SIGTERM: killed");
            return Ok(None);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The best of [`TRIES`] requests for `path`; each must answer 200.
fn best_page(port: u16, path: &str) -> Result<Timed> {
    let mut best: Option<Timed> = None;
    for _ in 0..TRIES {
        let started = Instant::now();
        let (status, body) = get(port, path)?;
        let wall = started.elapsed();
        if status != 200 {
            bail!("GET {path}: status {status}");
        }
        if best.is_none_or(|b| wall < b.best) {
            best = Some(Timed {
                best: wall,
                bytes: body as u64,
            });
        }
    }
    best.context("no requests")
}

/// One HTTP/1.1 GET with the bearer token, read to the end: (status, body bytes).
fn get(port: u16, path: &str) -> Result<(u16, usize)> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(Duration::from_secs(120)))?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {}\r\nConnection: close\r\n\r\n",
        crate::TOKEN
    )?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response)?;
    let head_end = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map_or(response.len(), |p| p + 4);
    let status = String::from_utf8_lossy(&response[..head_end.min(response.len())])
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    Ok((status, response.len() - head_end))
}

fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}
