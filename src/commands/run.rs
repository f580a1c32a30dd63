//! `ticketpost run [--once]`: starts the service (`service::run`) on an async runtime
//! with the fault injection named in `TICKETPOST_FAULT` (for tests), stops it on
//! SIGINT/SIGTERM, and with `--once` prints what the round did. The loops themselves
//! belong to `service`.

use std::sync::Arc;

use anyhow::Result;
use tokio::signal::unix::{Signal, SignalKind, signal};
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::clock::SystemClock;
use crate::config::Config;
use crate::ingest::Faults;
use crate::service::{self, RunOptions, RunReport};

/// Runs the service until a signal, or (`once`) until everything waiting is done.
pub fn run(cfg: &Config, once: bool) -> Result<()> {
    let faults = match std::env::var("TICKETPOST_FAULT") {
        Ok(spec) => Faults::parse(&spec)?,
        Err(_) => Faults::default(),
    };
    super::runtime()?.block_on(async {
        let shutdown = CancellationToken::new();
        // Listening starts here, before the service does anything, so a signal sent
        // while it starts stops it cleanly too.
        let signals = StopSignals::listen();
        tokio::spawn(stop_on_signal(signals, shutdown.clone()));
        let options = RunOptions { once, faults };
        let report = service::run(cfg, options, Arc::new(SystemClock), shutdown).await?;
        if once {
            println!("{}", once_summary(&report));
        } else {
            info!("stopped");
        }
        Ok(())
    })
}

/// The one line `run --once` prints.
fn once_summary(report: &RunReport) -> String {
    let i = &report.ingest;
    let unsent = if report.send_retrying + report.send_failed > 0 {
        format!(
            ", {} to retry, {} failed",
            report.send_retrying, report.send_failed
        )
    } else {
        String::new()
    };
    format!(
        "processed {} message(s) in {:.3} s: {} new ticket(s), {} follow-up(s), {} duplicate(s), {} quarantined, {} kept without a ticket; sent {} mail(s) in {:.3} s{unsent}; indexed {} ticket(s) for similar-ticket search in {:.3} s",
        i.messages,
        report.ingest_seconds,
        i.new_tickets,
        i.follow_ups,
        i.duplicates,
        i.quarantined,
        i.unfiled,
        report.sent,
        report.send_seconds,
        report.indexed,
        report.index_seconds
    )
}

/// SIGINT and SIGTERM, listened for from the moment they are created.
struct StopSignals {
    interrupt: Option<Signal>,
    terminate: Option<Signal>,
}

impl StopSignals {
    fn listen() -> StopSignals {
        let listen = |kind: SignalKind, name: &str| match signal(kind) {
            Ok(s) => Some(s),
            Err(e) => {
                warn!(error = %e, "cannot listen for {name}");
                None
            }
        };
        StopSignals {
            interrupt: listen(SignalKind::interrupt(), "SIGINT"),
            terminate: listen(SignalKind::terminate(), "SIGTERM"),
        }
    }

    /// The next SIGINT or SIGTERM (never, when neither could be listened for).
    async fn next(&mut self) {
        async fn recv(s: &mut Option<Signal>) {
            match s {
                Some(s) => {
                    s.recv().await;
                }
                None => std::future::pending::<()>().await,
            }
        }
        tokio::select! {
            _ = recv(&mut self.interrupt) => {}
            _ = recv(&mut self.terminate) => {}
        }
    }
}

/// First SIGINT/SIGTERM: finish the work in hand and stop. A second one: exit now.
async fn stop_on_signal(mut signals: StopSignals, shutdown: CancellationToken) {
    signals.next().await;
    info!("shutting down: finishing the work in hand");
    shutdown.cancel();
    signals.next().await;
    warn!("second signal: exiting at once");
    std::process::exit(130);
}
