//! SLA tick benchmark: with 100,000 open tickets in the store, how long one timer tick
//! takes to find the alerts that fell due, render and queue them (one transaction),
//! and send them through the file transport; and the measuring process's peak RSS.
//! Prints figures next to their targets; asserts nothing about timings.
//!
//! The store is filled first (tickets opened over the previous 20 days, a P1-P4 mix,
//! two clocks each, alerts already due before "now" marked as fired, as on a desk
//! that has been running), then this program runs itself again to measure, so the
//! filling does not count towards the RSS. Measured: `TP_SLA_BENCH_TICKS` ticks one
//! minute apart in business hours (the steady state), then one tick after the service
//! was down for two hours (a backlog, drained 200 clocks per tick).
//!
//! Knobs (environment): `TP_SLA_BENCH_TICKETS` (100000), `TP_SLA_BENCH_TICKS` (120),
//! `TP_SLA_BENCH_DIR` (where the store and the sent files go; default the system's
//! temporary directory).

use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result};
use chrono::TimeZone;
use tokio::sync::Notify;

use ticketpost::clock::{Clock, ManualClock};
use ticketpost::config::Config;
use ticketpost::desk::intake::IntakeRules;
use ticketpost::desk::sla::Target;
use ticketpost::ingest::{Faults, IngestContext};
use ticketpost::notify::Renderer;
use ticketpost::outbox::OutboxSender;
use ticketpost::outbox::transport::Transport;
use ticketpost::store;

const TARGET_TICK_MS: f64 = 50.0;
const TARGET_RSS_MB: f64 = 60.0;
const MEASURE_ENV: &str = "TP_SLA_BENCH_MEASURE";

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Tuesday 2026-12-08 11:00 UTC: ticks fall in business hours.
fn start_time() -> i64 {
    chrono::Utc
        .with_ymd_and_hms(2026, 12, 8, 11, 0, 0)
        .single()
        .map(|t| t.timestamp())
        .unwrap_or(0)
}

fn config(dir: &Path) -> Result<Config> {
    let text = format!(
        r#"
[store]
path = "{root}/ticketpost.db"
[mailbox]
kind = "maildir"
path = "{root}/inbox"
[transport]
kind = "file"
path = "{root}/outbox"
[desk]
support_address = "support@example.test"
agents = ["Ann Lee <ann@example.test>", "Bob Ray <bob@example.test>"]
supervisors = ["Sue Boss <sue@example.test>"]
[sla]
escalate_after = "2h"
"#,
        root = dir.display()
    );
    Config::from_toml(&dir.join("bench.toml"), &text, &Default::default())
}

fn fill(cfg: &Config, tickets: usize, now: i64) -> Result<()> {
    let mut conn = store::open_and_migrate(&cfg.store.path, false)?;
    let tx = conn.transaction()?;
    let span = 20 * 86_400;
    let priorities = ["P1", "P2", "P2", "P3", "P3", "P3", "P3", "P3", "P4", "P4"];
    for i in 0..tickets {
        let created = now - span + (i as i64 * span) / tickets as i64;
        let priority = priorities[i % priorities.len()];
        let subject = format!("Request {i}");
        let requester = format!("user{i}@example.test");
        let id = store::tickets::insert(
            &tx,
            &store::tickets::NewTicket {
                status: "open",
                priority,
                requester: &requester,
                requester_name: None,
                subject: &subject,
                at: created,
                linked_ticket: None,
                language: "en",
            },
        )?;
        ticketpost::ticket_writer::sync_clocks(&tx, id, &cfg.sla, created)?;
        // A desk that has been running: what fell due before now has fired.
        for target in Target::ALL {
            if let Some(mut c) = store::sla_clocks::clock(&tx, id, target)? {
                let levels = c.due_levels(now, &cfg.sla);
                if !levels.is_empty() {
                    for level in levels {
                        c.mark_fired(level, now, &cfg.sla);
                    }
                    store::sla_clocks::save(&tx, id, &c)?;
                }
            }
        }
    }
    tx.commit()?;
    conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE); ANALYZE;")?;
    Ok(())
}

fn peak_rss_mb() -> f64 {
    // SAFETY: getrusage only writes into the struct we pass.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) };
    usage.ru_maxrss as f64 * 1024.0 / 1e6
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

async fn measure(dir: &Path, ticks: usize) -> Result<()> {
    let cfg = config(dir)?;
    let clock = ManualClock::new(start_time());
    let writer = store::Writer::start(&cfg.store)?;
    let renderer = Arc::new(Renderer::new(&cfg.templates, &cfg.desk)?);
    let cx = Arc::new(IngestContext {
        desk: cfg.desk.clone(),
        kb: cfg.kb,
        intake: IntakeRules::built_in(),
        sla: cfg.sla.clone(),
        security: cfg.security.clone(),
        limits: cfg.limits,
        staff_key: ticketpost::desk::staff_proof::StaffKey::new(b"bench".to_vec()),
        renderer,
        source: "bench".into(),
        folder: "INBOX".into(),
        faults: Faults::default(),
        send_mail: true,
    });
    let sender = OutboxSender::new(
        writer.clone(),
        Arc::new(Transport::new(&cfg.transport)?),
        Arc::new(clock.clone()),
        Arc::new(Notify::new()),
        cfg.desk.token_prefix.clone(),
    );
    let tick = |now: i64| {
        let (writer, cx, sender) = (writer.clone(), cx.clone(), &sender);
        async move {
            let started = Instant::now();
            let summary = writer
                .call(move |c| ticketpost::timers::run_due(c, &cx.desk, &cx.sla, &cx.renderer, now))
                .await?;
            let found = started.elapsed().as_secs_f64() * 1e3;
            sender.send_due().await?;
            let total = started.elapsed().as_secs_f64() * 1e3;
            anyhow::Ok((
                summary.sla_alerts,
                summary.mails,
                summary.more_due,
                found,
                total,
            ))
        }
    };

    let mut times = Vec::new();
    let mut find_times = Vec::new();
    let mut per_tick = Vec::new();
    let (mut alerts, mut mails) = (0, 0);
    let mut runs = 0;
    for _ in 0..ticks {
        clock.advance(60);
        // As the service does: a tick that stopped at its bound is followed at once.
        loop {
            let (a, m, more, found, total) = tick(clock.now()).await?;
            runs += 1;
            alerts += a;
            mails += m;
            find_times.push(found);
            times.push(total);
            per_tick.push((total, found, a, m));
            if !more {
                break;
            }
        }
    }
    per_tick.sort_by(|x, y| y.0.total_cmp(&x.0));
    for (total, found, a, m) in per_tick.iter().take(5) {
        println!(
            "  slow tick: {a} alert levels, {m} mails: find + queue {found:.1} ms, with sending {total:.1} ms"
        );
    }
    times.sort_by(f64::total_cmp);
    find_times.sort_by(f64::total_cmp);
    println!(
        "steady state: {ticks} minutes, {runs} ticks (bursts are split into ticks of {} clocks run back to back), {alerts} alert levels fired, {mails} mails sent",
        ticketpost::timers::ALERT_BATCH
    );
    println!(
        "  tick (find + render + queue):        p50 {:.2} ms  p95 {:.2} ms  max {:.2} ms",
        percentile(&find_times, 0.5),
        percentile(&find_times, 0.95),
        percentile(&find_times, 1.0)
    );
    println!(
        "  tick (find + queue + send, file):    p50 {:.2} ms  p95 {:.2} ms  max {:.2} ms  (target < {TARGET_TICK_MS} ms)",
        percentile(&times, 0.5),
        percentile(&times, 0.95),
        percentile(&times, 1.0)
    );

    // The service was down for two hours: the backlog, 200 clocks per tick.
    clock.advance(2 * 3_600);
    let drain = Instant::now();
    let mut backlog = Vec::new();
    let (mut backlog_alerts, mut backlog_mails) = (0, 0);
    loop {
        let (a, m, more, _, total) = tick(clock.now()).await?;
        backlog.push(total);
        backlog_alerts += a;
        backlog_mails += m;
        if !more {
            break;
        }
    }
    let drained = drain.elapsed().as_secs_f64();
    backlog.sort_by(f64::total_cmp);
    println!(
        "backlog after 2 h down: {backlog_alerts} alert levels, {backlog_mails} mails in {} ticks, {drained:.2} s in all; tick with sending p50 {:.2} ms, max {:.2} ms",
        backlog.len(),
        percentile(&backlog, 0.5),
        percentile(&backlog, 1.0)
    );
    let next = writer.call(|c| store::sla_clocks::next_alert(c)).await?;
    println!(
        "next alert due in {} s (the service sleeps until then)",
        next.map_or(-1, |t| t - clock.now())
    );
    println!(
        "peak RSS of the measuring process: {:.1} MB (target < {TARGET_RSS_MB} MB)",
        peak_rss_mb()
    );
    Ok(())
}

fn main() -> Result<()> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let ticks = env_usize("TP_SLA_BENCH_TICKS", 120);
    if let Ok(dir) = std::env::var(MEASURE_ENV) {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()?;
        return runtime.block_on(measure(Path::new(&dir), ticks));
    }
    let tickets = env_usize("TP_SLA_BENCH_TICKETS", 100_000);
    let dir = match std::env::var("TP_SLA_BENCH_DIR") {
        Ok(base) => tempfile::tempdir_in(base)?,
        Err(_) => tempfile::tempdir()?,
    };
    let cfg = config(dir.path())?;
    let started = Instant::now();
    fill(&cfg, tickets, start_time())?;
    let open: i64 = store::open_reader(&cfg.store.path)?.query_row(
        "SELECT count(*) FROM tickets WHERE status = 'open'",
        [],
        |r| r.get(0),
    )?;
    println!(
        "store filled: {open} open tickets with two clocks each in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let status = Command::new(std::env::current_exe()?)
        .env(MEASURE_ENV, dir.path())
        .status()
        .context("cannot run the measuring process")?;
    anyhow::ensure!(status.success(), "the measuring process failed: {status}");
    Ok(())
}
