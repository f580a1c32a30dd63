//! The LMTP phases of the ingest benchmark (`[mailbox] kind = "lmtp"`):
//!
//! - `lmtp`: `ticketpost run` listens on 127.0.0.1; `TP_BENCH_LMTP_CONNECTIONS` (8)
//!   clients deliver the generated requests over LMTP at once, each waiting for its
//!   `250` (given after the group commit) before the next message. Measured: messages
//!   per second from the first command to the last `250`, and the round trip of each
//!   message. Two runs: the acknowledgements queued and held (as the IMAP and Maildir
//!   figures count: stored, acknowledgement queued), then written by the file
//!   transport at the same time. Target: at least 5,000 msg/s.
//! - `lmtp-latency`: requests go through the private Postfix, which delivers them over
//!   LMTP (transport_maps) to the long-running service; the acknowledgement goes back
//!   out through Postfix into the requester's Dovecot INBOX. Measured: SMTP accept to
//!   acknowledgement in that INBOX, `TP_BENCH_LMTP_LATENCY_MESSAGES` (1000) requests
//!   at `TP_BENCH_LMTP_RATE` (20) a second. Target: p99 under 100 ms.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

use super::support::{self, MailStack};
use super::{
    Corpus, Measured, STOP_WAIT, Settings, TARGET_MSGS_PER_S, Watcher, count_files, file_transport,
    latency_request, percentile, stats, strip_ansi, tail, ticketpost, to_crlf, write_config,
};
use crate::knobs::env_number;

const TARGET_LMTP_P99: Duration = Duration::from_millis(100);

/// A free port on 127.0.0.1 (free when asked).
fn free_port() -> Result<u16> {
    let l = std::net::TcpListener::bind("127.0.0.1:0").context("finding a free port")?;
    Ok(l.local_addr()?.port())
}

/// The service's stderr after the run, and how its stop went.
fn stop(service: &mut Measured, err_path: &std::path::Path) -> Result<(String, String)> {
    service.signal(libc::SIGTERM);
    let started = Instant::now();
    let exit = loop {
        if let Some(exit) = service.try_finish()? {
            break Some(exit);
        }
        if started.elapsed() > STOP_WAIT {
            service.signal(libc::SIGKILL);
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let stderr = strip_ansi(&std::fs::read_to_string(err_path).unwrap_or_default());
    let stop_s = started.elapsed().as_secs_f64();
    let text = match exit {
        Some(e) if e.success() => format!(
            "SIGTERM -> exit 0 in {stop_s:.2} s; service peak RSS {:.1} MB, CPU {:.2} s user + {:.2} s sys",
            e.rss_mb(),
            e.cpu_user.as_secs_f64(),
            e.cpu_sys.as_secs_f64()
        ),
        Some(e) => format!(
            "SIGTERM -> {} (NOT 0) after {stop_s:.2} s; stderr:\n{}",
            e.describe_status(),
            tail(&stderr, 20)
        ),
        None => format!("did NOT stop within {STOP_WAIT:?} of SIGTERM (killed)"),
    };
    Ok((stderr, text))
}

/// Waits until the listener at `port` greets.
async fn wait_listening(port: u16, service: &mut Measured, err: &std::path::Path) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)).await {
            let _ = s.write_all(b"QUIT\r\n").await;
            return Ok(());
        }
        if let Some(exit) = service.try_finish()? {
            bail!(
                "ticketpost run ended during start-up ({}):\n{}",
                exit.describe_status(),
                tail(&std::fs::read_to_string(err).unwrap_or_default(), 30)
            );
        }
        if Instant::now() > deadline {
            bail!("the LMTP listener did not come up within 30 s");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The message as it goes after DATA: CRLF, dot-stuffed, with the end line.
fn lmtp_data(raw: &[u8]) -> Vec<u8> {
    let crlf = to_crlf(raw);
    let mut out = Vec::with_capacity(crlf.len() + 16);
    for line in crlf.split_inclusive(|&b| b == b'\n') {
        if line.first() == Some(&b'.') {
            out.push(b'.');
        }
        out.extend_from_slice(line);
    }
    if !out.ends_with(b"\r\n") {
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b".\r\n");
    out
}

/// The code of the next reply (its last line).
async fn reply(r: &mut BufReader<tokio::net::tcp::OwnedReadHalf>) -> Result<u16> {
    let mut line = String::new();
    loop {
        line.clear();
        if r.read_line(&mut line).await? == 0 {
            bail!("the server closed the connection");
        }
        if line.as_bytes().get(3) != Some(&b'-') {
            return line
                .get(..3)
                .and_then(|c| c.parse().ok())
                .with_context(|| format!("bad reply {line:?}"));
        }
    }
}

/// What one client connection did.
#[derive(Default)]
struct Tally {
    stored: usize,
    refused: usize,
    round_trips: Vec<Duration>,
}

/// One LMTP client: takes the next message until none is left.
async fn client(
    port: u16,
    rcpt: Arc<String>,
    messages: Arc<Vec<Vec<u8>>>,
    next: Arc<AtomicUsize>,
) -> Result<Tally> {
    let stream = TcpStream::connect(("127.0.0.1", port)).await?;
    stream.set_nodelay(true)?;
    let (r, mut w) = stream.into_split();
    let mut r = BufReader::new(r);
    reply(&mut r).await?;
    w.write_all(b"LHLO bench.example.test\r\n").await?;
    reply(&mut r).await?;
    let envelope = format!("MAIL FROM:<bench@outside.test>\r\nRCPT TO:<{rcpt}>\r\nDATA\r\n");
    let mut tally = Tally::default();
    loop {
        let i = next.fetch_add(1, Ordering::Relaxed);
        let Some(message) = messages.get(i) else {
            break;
        };
        let started = Instant::now();
        // PIPELINING: the envelope in one write, then the text after the 354.
        w.write_all(envelope.as_bytes()).await?;
        let codes = (
            reply(&mut r).await?,
            reply(&mut r).await?,
            reply(&mut r).await?,
        );
        if codes != (250, 250, 354) {
            bail!("envelope of message {i} answered {codes:?}");
        }
        w.write_all(message).await?;
        match reply(&mut r).await? {
            250 => tally.stored += 1,
            _ => tally.refused += 1,
        }
        tally.round_trips.push(started.elapsed());
    }
    w.write_all(b"QUIT\r\n").await?;
    Ok(tally)
}

/// `lmtp`: throughput with several connections delivering at once, twice: with the
/// acknowledgements held in the outbox (the transport is a closed port, so the sender
/// backs off: stored and queued, as the IMAP and Maildir figures count), and with the
/// file transport writing them meanwhile.
pub(super) fn lmtp_ingest(
    rt: &tokio::runtime::Runtime,
    settings: &Settings,
    corpus: &Corpus,
) -> Result<Vec<String>> {
    let connections = env_number("TP_BENCH_LMTP_CONNECTIONS", 8)?.clamp(1, 64);
    let messages: Arc<Vec<Vec<u8>>> = Arc::new(corpus.raw.iter().map(|m| lmtp_data(m)).collect());
    let mut lines = Vec::new();
    for send in [false, true] {
        lines.extend(lmtp_run(rt, settings, &messages, connections, send)?);
    }
    Ok(lines)
}

/// One `lmtp` run: a fresh store, `connections` clients, every message once.
fn lmtp_run(
    rt: &tokio::runtime::Runtime,
    settings: &Settings,
    messages: &Arc<Vec<Vec<u8>>>,
    connections: usize,
    send: bool,
) -> Result<Vec<String>> {
    let what = if send {
        "acknowledgements written to files meanwhile"
    } else {
        "acknowledgements queued, sender held back"
    };
    println!("\n-- LMTP push ingest, {connections} connection(s), {what} --");
    let dir = tempfile::Builder::new()
        .prefix("tp-bench-lmtp-")
        .tempdir()
        .context("creating a temporary folder")?;
    let port = free_port()?;
    let support_address = "support@example.test";
    let mailbox = format!("kind = \"lmtp\"\nlisten = \"127.0.0.1:{port}\"");
    // Held back: an SMTP server that takes the connection and never greets, so the
    // sender's first round waits out its time limit while the run lasts.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").context("binding a silent port")?;
    let transport = if send {
        file_transport(dir.path())
    } else {
        format!(
            "kind = \"smtp\"\nhost = \"127.0.0.1\"\nport = {}\ntls = \"none\"\ntimeout = 300",
            silent.local_addr()?.port()
        )
    };
    let cfg = write_config(dir.path(), &mailbox, &transport, support_address)?;
    let err_path = dir.path().join("service.stderr");
    // TP_BENCH_WRAPPER (e.g. perf record) wraps the service here.
    let mut cmd = ticketpost(Some(settings), &cfg, support::mail_stack(), &settings.log);
    cmd.arg("run");
    let mut service = Measured::spawn(&cmd, &dir.path().join("service.stdout"), &err_path)?;
    rt.block_on(wait_listening(port, &mut service, &err_path))?;

    let n = messages.len();
    let next = Arc::new(AtomicUsize::new(0));
    let rcpt = Arc::new(support_address.to_string());
    let started = Instant::now();
    let tallies = rt.block_on(async {
        let tasks: Vec<_> = (0..connections)
            .map(|_| tokio::spawn(client(port, rcpt.clone(), messages.clone(), next.clone())))
            .collect();
        let mut tallies = Vec::new();
        for task in tasks {
            tallies.push(task.await.context("client task failed")?);
        }
        anyhow::Ok(tallies)
    })?;
    let elapsed = started.elapsed();
    let mut round_trips = Vec::new();
    let (mut stored, mut refused, mut failed) = (0, 0, 0);
    for t in tallies {
        match t {
            Ok(t) => {
                stored += t.stored;
                refused += t.refused;
                round_trips.extend(t.round_trips);
            }
            Err(e) => {
                failed += 1;
                println!("  a client failed: {e:#}");
            }
        }
    }
    let db = dir.path().join("ticketpost.db");
    let acks = if send {
        // The sender runs alongside; wait until it has written every acknowledgement.
        let deadline = Instant::now() + Duration::from_secs(120);
        let mut acks = 0;
        while Instant::now() < deadline {
            acks = count_files(&dir.path().join("outbox"), "-acknowledgement.eml")?;
            if acks >= stored {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        format!(
            "every acknowledgement written {:.2} s after the start ({acks} .eml)",
            started.elapsed().as_secs_f64()
        )
    } else {
        format!(
            "{} acknowledgement(s) queued",
            count_sql(
                &db,
                "SELECT count(*) FROM outbox WHERE kind = 'acknowledgement'"
            )
        )
    };
    let (stderr, stop_text) = stop(&mut service, &err_path)?;
    drop(silent);
    let tickets = count_sql(&db, "SELECT count(*) FROM tickets");
    let warnings = stderr.lines().filter(|l| l.contains(" WARN ")).count();
    let rate = stored as f64 / elapsed.as_secs_f64();
    let verdict = if rate >= TARGET_MSGS_PER_S && stored == n {
        "ok"
    } else {
        "MISSED"
    };
    let lines = vec![
        format!(
            "LMTP push, {connections} connections, {what}: {stored} of {n} msgs answered 250 in {:.2} s = {rate:.0} msg/s (target >= {TARGET_MSGS_PER_S:.0}: {verdict}); {refused} refused, {failed} client(s) failed",
            elapsed.as_secs_f64()
        ),
        format!(
            "  round trip per message (envelope + text -> 250): {}; {acks}; {tickets} ticket(s) in the store; {warnings} warning line(s)",
            stats(&mut round_trips),
        ),
        format!("  {stop_text}"),
    ];
    for l in &lines {
        println!("{l}");
    }
    Ok(lines)
}

fn count_sql(db: &std::path::Path, sql: &str) -> String {
    rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
        .and_then(|c| c.query_row(sql, [], |r| r.get::<_, i64>(0)))
        .map_or_else(|e| format!("? ({e})"), |n| n.to_string())
}

/// `lmtp-latency`: SMTP accept → acknowledgement in the requester's INBOX, with
/// Postfix delivering to the service over LMTP.
pub(super) async fn lmtp_latency(stack: &'static MailStack) -> Result<Vec<String>> {
    let n = env_number("TP_BENCH_LMTP_LATENCY_MESSAGES", 1000)?.max(1);
    let rate = env_number("TP_BENCH_LMTP_RATE", 20)?.clamp(1, 1000);
    let unix = std::env::var("TP_BENCH_LMTP_SOCKET").is_ok_and(|v| v == "unix");
    let label = if unix { "Unix socket" } else { "TCP" };
    println!("\n-- latency, LMTP push from Postfix over {label}, {n} requests at {rate}/s --");
    let route = stack.desk_lmtp_route(unix)?;
    let support_address = route.address("bench");
    let requester = support::unique_user("lmtp-latency-req");
    let dir = tempfile::Builder::new()
        .prefix("tp-bench-lmtp-latency-")
        .tempdir()
        .context("creating a temporary folder")?;
    let mailbox = format!(
        "kind = \"lmtp\"\nlisten = \"{}\"\nsocket_mode = \"0666\"",
        route.listen
    );
    let mailbox = if unix {
        mailbox
    } else {
        mailbox.replace("\nsocket_mode = \"0666\"", "")
    };
    let transport = format!(
        "kind = \"smtp\"\nhost = \"127.0.0.1\"\nport = {}\ntls = \"none\"\ntimeout = 10",
        stack.smtp_port
    );
    let cfg = write_config(dir.path(), &mailbox, &transport, &support_address)?;
    let interval = Duration::from_secs(1) / rate as u32;
    let deadline = Instant::now() + interval * n as u32 + Duration::from_secs(60);
    let acked = Watcher::start(stack, &requester, n, deadline, true).await?;

    let err_path = dir.path().join("service.stderr");
    let mut cmd = ticketpost(None, &cfg, stack, "warn");
    cmd.arg("run");
    let mut service = Measured::spawn(&cmd, &dir.path().join("service.stdout"), &err_path)?;
    tokio::time::sleep(super::STARTUP_WAIT).await;
    if let Some(exit) = service.try_finish()? {
        bail!(
            "ticketpost run ended during start-up ({}):\n{}",
            exit.describe_status(),
            tail(&std::fs::read_to_string(&err_path).unwrap_or_default(), 30)
        );
    }
    let acked = tokio::spawn(acked.run());
    let (accepted, send_errors) =
        send_paced(stack, n, interval, &requester, &support_address).await;
    let acked = acked.await.context("watcher task failed")??;
    let (stderr, stop_text) = stop(&mut service, &err_path)?;
    let warnings = stderr.lines().filter(|l| l.contains(" WARN ")).count();
    let mut total: Vec<Duration> = accepted
        .iter()
        .zip(&acked)
        .filter_map(|(a, b)| Some(b.as_ref()?.saturating_duration_since(*a.as_ref()?)))
        .collect();
    let missing = n - total.len();
    let p99 = percentile(&mut total, 0.99);
    let lines = vec![
        format!(
            "SMTP accept -> ack in requester mailbox, LMTP push over {label} ({n} at {rate}/s): {} (n={}{}, target p99 < {} ms: {})",
            stats(&mut total),
            total.len(),
            if missing > 0 {
                format!(", {missing} MISSING")
            } else {
                String::new()
            },
            TARGET_LMTP_P99.as_millis(),
            match p99 {
                Some(p) if p < TARGET_LMTP_P99 && missing == 0 => "ok",
                _ => "MISSED",
            }
        ),
        format!("  {send_errors} send error(s); {warnings} warning line(s); {stop_text}"),
    ];
    for l in &lines {
        println!("{l}");
    }
    Ok(lines)
}

/// Sends `n` requests at a steady pace; the accept instant is when `smtp_send` returned.
async fn send_paced(
    stack: &'static MailStack,
    n: usize,
    interval: Duration,
    requester: &str,
    support_address: &str,
) -> (Vec<Option<Instant>>, usize) {
    let mut accepted = vec![None; n];
    let mut errors = 0usize;
    let mut next = tokio::time::Instant::now();
    for (i, slot) in accepted.iter_mut().enumerate() {
        tokio::time::sleep_until(next).await;
        next += interval;
        let raw = latency_request(i, requester, support_address);
        match support::smtp_send(stack, requester, &[support_address], &raw).await {
            Ok(()) => *slot = Some(Instant::now()),
            Err(e) => {
                errors += 1;
                if errors <= 3 {
                    println!("  smtp_send latency-{i} failed: {e:#}");
                }
            }
        }
    }
    (accepted, errors)
}
