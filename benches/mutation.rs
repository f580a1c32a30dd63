//! The bad-input property run of `tests/mutation.rs` at scale: many more mutated
//! messages (default 100,000) from the shared corpus (every message, the multi-MB ones
//! included) and the hand-written messages, through the real ingestion path, with the
//! same checks per case (`tests/support/mutation_run.rs`). Prints cases/s, the
//! outcome counts, the slowest cases, the failures and the peak RSS (`VmHWM`), and
//! exits non-zero when a case failed.
//!
//! `cargo bench --bench mutation [-- CASES [SEED]]`, or `TP_MUTATION_CASES`,
//! `TP_MUTATION_SEED` (default 6), `TP_MUTATION_WORKERS` (default: the cores, at most
//! 4). One case in twenty starts from a hand-written message; each worker renews its
//! store every 5,000 cases, so disk and memory stay bounded however long the run.

#[path = "../tests/support/mutation_run.rs"]
mod mutation_run;

use std::time::Duration;

use mutation_run::{Outcome, Settings, Source};

const DEFAULT_CASES: usize = 100_000;
const DEFAULT_SEED: u64 = 6;
const CASES_PER_STORE: usize = 5_000;
/// A case slower than this fails the run (a bound for pathological inputs, as in the
/// test; release build).
const CASE_LIMIT: Duration = Duration::from_secs(5);

fn number(arg: Option<String>, env: &str) -> Option<u64> {
    let text = arg.or_else(|| std::env::var(env).ok())?;
    match text.trim().parse() {
        Ok(n) => Some(n),
        Err(_) => {
            eprintln!("{env}: {text:?} is not a number");
            std::process::exit(2);
        }
    }
}

/// Peak resident set size in MB, from `/proc/self/status`.
fn peak_rss_mb() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

fn main() {
    // `cargo bench` passes `--bench`; positional numbers are ours.
    let mut args = std::env::args().skip(1).filter(|a| !a.starts_with('-'));
    let cases = number(args.next(), "TP_MUTATION_CASES").map_or(DEFAULT_CASES, |n| n as usize);
    let seed = number(args.next(), "TP_MUTATION_SEED").unwrap_or(DEFAULT_SEED);
    let workers = number(None, "TP_MUTATION_WORKERS").map_or_else(
        || {
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1)
                .min(4)
        },
        |n| n as usize,
    );

    let hand = mutation_run::hand_written();
    let mut sources: Vec<Source> = mutation_run::corpus_sources(usize::MAX).unwrap_or_default();
    let corpus = sources.len();
    // One case in twenty from a hand-written message (all of them without the corpus).
    let copies = (corpus / (19 * hand.len())).max(1);
    for _ in 0..copies {
        sources.extend(hand.iter().cloned());
    }
    println!(
        "mutation bench: {cases} case(s), seed {seed}, {workers} worker(s), {corpus} corpus message(s) + {} hand-written",
        hand.len()
    );
    let settings = Settings {
        label: "bench".into(),
        seed,
        cases,
        only: None,
        case_limit: CASE_LIMIT,
        cases_per_store: CASES_PER_STORE,
        workers,
    };
    let report = mutation_run::run(&sources, &settings);
    report.print();
    let stored = report.count(Outcome::NewTicket)
        + report.count(Outcome::FollowUp)
        + report.count(Outcome::KeptWithoutTicket);
    println!(
        "cases: {}, cases/s: {:.0}, stored: {stored}, duplicates: {}, quarantined: {}, failures: {}, peak RSS: {} MB",
        report.cases,
        report.cases as f64 / report.elapsed.as_secs_f64().max(1e-9),
        report.count(Outcome::Duplicate),
        report.count(Outcome::Quarantined),
        report.failed,
        peak_rss_mb().map_or("?".into(), |m| format!("{m:.0}")),
    );
    if report.failed > 0 {
        std::process::exit(1);
    }
}
