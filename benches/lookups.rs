//! Look-up benchmark (issue 17): what one knowledge-base search and one similar-tickets
//! look-up (`store::kb::search`, `store::kb::similar_tickets`) cost on a scale store,
//! as the writer runs them for each new request, and what they find.
//!
//! It opens a store the scale benchmark built and cached (`benches/scale.rs`:
//! `target/scale-stores/<size>-<schema version>.db`), read-only, with the writer's page
//! cache, and looks up the next requests of that store's generated history
//! (`scale/desk_history.rs`), parsed as ingest parses them, with the embedded default's
//! thresholds and limits, each request's two look-ups in one read transaction (the
//! writer runs them inside its write transaction: no lock is taken per statement). The first [`WARM_UP`] requests warm the page cache and are not
//! timed. Printed: the mean time per look-up of each kind, and how many matches and what
//! total score they found (so that a faster look-up can be checked to find the same).
//! It asserts nothing about timings.
//!
//! Run it after the scale benchmark built the store: `cargo bench --bench lookups`.
//! Knobs (environment): `TP_SCALE_SIZES` (`10000`; the first size is used),
//! `TP_SCALE_STORES` (the cache folder), `TP_LOOKUP_REQUESTS` (2000), `TP_LOOKUP_TX=0`
//! (each statement in a transaction of its own, as before this knob: figures of the
//! first runs of issue 17's look-up work were taken so).

#[path = "scale/desk_history.rs"]
#[allow(dead_code)]
mod desk_history;
#[path = "support/generated_mail.rs"]
mod generated_mail;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use ticketpost::store;

/// Requests looked up before the timed ones.
const WARM_UP: usize = 200;
/// The embedded default's `[kb]`: thresholds and how many suggestions.
const KB_THRESHOLD: f64 = 0.5;
const KB_LIMIT: usize = 3;
const SIMILAR_THRESHOLD: f64 = 0.4;
/// `ingest`'s similar tickets per notice, and how much of a request is searched.
const SIMILAR_LIMIT: usize = 5;
const SEARCH_CHARS: usize = 1000;
/// The writer's page cache (`store`'s `STORE_CACHE_KIB`).
const CACHE_KIB: i64 = -4 * 1024;

#[derive(Default)]
struct Tally {
    time: Duration,
    matches: usize,
    score: f64,
}

impl Tally {
    fn print(&self, name: &str, timed: usize) {
        println!(
            "{name}: {:.0} µs per look-up; {} matches, total score {:.3}",
            self.time.as_secs_f64() * 1e6 / timed.max(1) as f64,
            self.matches,
            self.score
        );
    }
}

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.split(',').next().and_then(|s| s.trim().parse().ok()))
        .unwrap_or(default)
}

fn main() -> Result<()> {
    let size: usize = env_or("TP_SCALE_SIZES", 10_000);
    let requests: usize = env_or("TP_LOOKUP_REQUESTS", 2_000);
    let stores = std::env::var_os("TP_SCALE_STORES")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/scale-stores"));
    let db = stores.join(format!("{size}-{}.db", store::schema::latest_version()));
    let conn = store::open_reader(&db)
        .with_context(|| format!("{}: run the scale benchmark first", db.display()))?;
    conn.pragma_update(None, "cache_size", CACHE_KIB)?;
    let texts: Vec<String> = desk_history::requests_after(size, WARM_UP + requests, 0)
        .into_iter()
        .filter_map(|raw| ticketpost::inbound::parse(raw).ok())
        .map(|m| {
            let body: String = m.visible_text().chars().take(SEARCH_CHARS).collect();
            format!("{}\n{body}", m.subject)
        })
        .collect();
    let (mut kb, mut similar) = (Tally::default(), Tally::default());
    let in_transaction = std::env::var("TP_LOOKUP_TX").map_or(true, |v| v != "0");
    for (n, text) in texts.iter().enumerate() {
        if in_transaction {
            conn.execute_batch("BEGIN")?;
        }
        let started = Instant::now();
        let found = store::kb::search(&conn, text, KB_THRESHOLD, KB_LIMIT)?;
        let kb_time = started.elapsed();
        let started = Instant::now();
        let like = store::kb::similar_tickets(&conn, text, 0, SIMILAR_THRESHOLD, SIMILAR_LIMIT)?;
        let similar_time = started.elapsed();
        if in_transaction {
            conn.execute_batch("COMMIT")?;
        }
        if n < WARM_UP {
            continue;
        }
        kb.time += kb_time;
        kb.matches += found.len();
        kb.score += found.iter().map(|m| m.score).sum::<f64>();
        similar.time += similar_time;
        similar.matches += like.len();
        similar.score += like.iter().map(|s| s.score).sum::<f64>();
    }
    let timed = texts.len().saturating_sub(WARM_UP);
    println!("{} ({timed} requests timed after {WARM_UP})", db.display());
    kb.print("knowledge base", timed);
    similar.print("similar tickets", timed);
    Ok(())
}
