//! In-process figures the store cannot give: how long ingest takes, as a histogram
//! for `/metrics`. Lock-free counters, shared by the ingest loop and the HTTP server.
//!
//! Also the log output ([`init_logging`]): its format, and the escaping that keeps text
//! from mail in log fields from acting on the terminal or the log viewer.

use std::fmt;
use std::io::IsTerminal;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tracing::field::{Field, Visit};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::field::RecordFields;
use tracing_subscriber::fmt::FormatFields;
use tracing_subscriber::fmt::format::Writer;

use crate::terminal::{TerminalSafeWriter, TextLayout, escape_for_terminal};

/// Starts logging to stderr: text lines, or JSON lines with `json`. The level comes from
/// `TICKETPOST_LOG` (default `info`); colours only when stderr is a terminal and
/// `NO_COLOR` is unset.
///
/// Log fields carry text from mail (Message-IDs, addresses, reasons). tracing-subscriber
/// 0.3.23 escapes ESC, BEL, BS, FF, DEL and C1 in the message only: a `%` field is
/// written raw, and no bidi control or `\r` is escaped anywhere; its JSON output leaves
/// C1 and bidi controls raw. So text lines format every field through
/// [`escape_for_terminal`], and JSON lines pass through [`TerminalSafeWriter`].
pub fn init_logging(json: bool) {
    let filter =
        EnvFilter::try_from_env("TICKETPOST_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    // async-imap traces the raw protocol, LOGIN passwords and XOAUTH2 tokens included,
    // and logs nothing else but errors: its own level is fixed at `info`, whatever
    // TICKETPOST_LOG asks for (a directive for a target replaces the global level).
    let filter = match "async_imap=info".parse() {
        Ok(cap) => filter.add_directive(cap),
        Err(_) => filter,
    };
    // Our own colour codes would be the only escape sequences in a log file or journal.
    let colour = std::io::stderr().is_terminal()
        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(colour);
    if json {
        // One writer per event; the event is one line, written at once.
        builder
            .json()
            .with_writer(|| TerminalSafeWriter::new(std::io::stderr(), TextLayout::Json))
            .init();
    } else {
        builder
            .fmt_fields(EscapedFields)
            .with_writer(std::io::stderr)
            .init();
    }
}

/// Formats log fields as the default formatter does (`message`, then `name=value`),
/// each value passed through [`escape_for_terminal`] to stay on its line.
struct EscapedFields;

impl<'writer> FormatFields<'writer> for EscapedFields {
    fn format_fields<R: RecordFields>(&self, writer: Writer<'writer>, fields: R) -> fmt::Result {
        let mut visitor = EscapedVisitor {
            writer,
            empty: true,
            result: Ok(()),
        };
        fields.record(&mut visitor);
        visitor.result
    }
}

struct EscapedVisitor<'writer> {
    writer: Writer<'writer>,
    empty: bool,
    result: fmt::Result,
}

impl EscapedVisitor<'_> {
    fn write(&mut self, field: &Field, value: fmt::Arguments<'_>) {
        let name = field.name();
        // The `log` crate's metadata, already shown as the target.
        if self.result.is_err() || name.starts_with("log.") {
            return;
        }
        let text = value.to_string();
        let shown = escape_for_terminal(&text, TextLayout::OneLine);
        let gap = if self.empty { "" } else { " " };
        self.empty = false;
        let name = name.strip_prefix("r#").unwrap_or(name);
        self.result = if name == "message" {
            write!(self.writer, "{gap}{shown}")
        } else if self.writer.has_ansi_escapes() {
            write!(
                self.writer,
                "{gap}\x1b[3m{name}\x1b[0m\x1b[2m=\x1b[0m{shown}"
            )
        } else {
            write!(self.writer, "{gap}{name}={shown}")
        };
    }
}

impl Visit for EscapedVisitor<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.write(field, format_args!("{value}"));
        } else {
            self.write(field, format_args!("{value:?}"));
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.write(field, format_args!("{value:?}"));
    }
}

/// Upper bounds (seconds) of the ingest latency buckets.
pub const LATENCY_BOUNDS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// Shared by the service's tasks.
pub struct Telemetry {
    pub started: Instant,
    /// Per message: from the start of its batch's fetch to the commit that stored it.
    pub ingest_latency: Histogram,
    pub batches: AtomicU64,
}

impl Default for Telemetry {
    fn default() -> Self {
        Telemetry {
            started: Instant::now(),
            ingest_latency: Histogram::new(LATENCY_BOUNDS),
            batches: AtomicU64::new(0),
        }
    }
}

impl Telemetry {
    /// A batch of `messages` committed `latency` after its fetch began.
    pub fn batch_stored(&self, messages: usize, latency: Duration) {
        self.batches.fetch_add(1, Ordering::Relaxed);
        self.ingest_latency
            .observe_many(latency.as_secs_f64(), messages as u64);
    }
}

/// A Prometheus-style histogram with fixed buckets.
pub struct Histogram {
    bounds: &'static [f64],
    /// One per bound, plus +Inf; not cumulative (summed when written out).
    buckets: Vec<AtomicU64>,
    count: AtomicU64,
    sum_micros: AtomicU64,
}

impl Histogram {
    pub fn new(bounds: &'static [f64]) -> Histogram {
        Histogram {
            bounds,
            buckets: (0..=bounds.len()).map(|_| AtomicU64::new(0)).collect(),
            count: AtomicU64::new(0),
            sum_micros: AtomicU64::new(0),
        }
    }

    /// `n` observations of `seconds`.
    pub fn observe_many(&self, seconds: f64, n: u64) {
        if n == 0 {
            return;
        }
        let index = self
            .bounds
            .iter()
            .position(|b| seconds <= *b)
            .unwrap_or(self.bounds.len());
        self.buckets[index].fetch_add(n, Ordering::Relaxed);
        self.count.fetch_add(n, Ordering::Relaxed);
        self.sum_micros
            .fetch_add((seconds * 1e6) as u64 * n, Ordering::Relaxed);
    }

    /// Cumulative counts per bound (the last is +Inf), the count and the sum (s).
    pub fn snapshot(&self) -> (Vec<(Option<f64>, u64)>, u64, f64) {
        let mut running = 0;
        let mut out = Vec::with_capacity(self.buckets.len());
        for (i, b) in self.buckets.iter().enumerate() {
            running += b.load(Ordering::Relaxed);
            out.push((self.bounds.get(i).copied(), running));
        }
        (
            out,
            self.count.load(Ordering::Relaxed),
            self.sum_micros.load(Ordering::Relaxed) as f64 / 1e6,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_cumulative() {
        let h = Histogram::new(&[0.1, 1.0]);
        h.observe_many(0.05, 2);
        h.observe_many(0.5, 1);
        h.observe_many(7.0, 1);
        let (buckets, count, sum) = h.snapshot();
        assert_eq!(buckets, vec![(Some(0.1), 2), (Some(1.0), 3), (None, 4)]);
        assert_eq!(count, 4);
        assert!((sum - 7.6).abs() < 1e-6);
    }
}
