//! The bad-input property run shared by `tests/mutation.rs` (a bounded number of cases
//! in CI) and `benches/mutation.rs` (many more): source messages (the shared corpus and
//! a few hand-written ones below) are mutated by `mutate.rs`, each mutated message is
//! ingested through the real path (`ingest::parse_batch` + `ingest::apply_batch`, as
//! the service, `import` and `quarantine retry` call them) into a real SQLite store in
//! a temporary directory, and every case is checked:
//!
//! - nothing panics (each case runs under `catch_unwind`; a panic is a failure that
//!   names the case);
//! - the message ends up exactly one of: a new ticket, a follow-up on a ticket, kept
//!   without a ticket, a duplicate of a message already stored (same identity and
//!   content hash), or a quarantine entry holding its raw bytes and a reason; the row
//!   counts of the store moved accordingly;
//! - the raw bytes stored (message or quarantine row) are the input bytes;
//! - ingesting the same bytes again changes nothing (no row written or updated);
//! - no case takes more CPU time (of its thread) than the bound: a bound about
//!   correctness (quadratic or worse behaviour on some input), not a benchmark.
//!
//! One case in four runs as an import of existing mail (`send_mail = false`), the rest
//! as the service ingests; the store has an agent, a supervisor and two knowledge-base
//! entries, so the knowledge-base search, the similar-tickets lookup and the staff
//! notices run too.
//!
//! A failure names the run's seed, the case number, the mutators and the source, and
//! the input is written under the target directory so it can be replayed.
//! Counting and printing are here; what to assert on the totals is the caller's.

#![allow(dead_code)]

#[path = "corpus.rs"]
mod corpus;
#[path = "mutate.rs"]
pub mod mutate;

use std::collections::BTreeMap;
use std::fs;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use fastrand::Rng;
use rusqlite::{Connection, OptionalExtension};
use sha2::{Digest, Sha256};
use ticketpost::config::Config;
use ticketpost::desk::staff_proof::StaffKey;
use ticketpost::ingest::{self, BatchSummary, Faults, IngestContext};
use ticketpost::notify::Renderer;
use ticketpost::store;

/// A message the cases start from.
#[derive(Debug, Clone)]
pub struct Source {
    /// Path relative to the corpus root, or `hand-written/<name>`.
    pub name: String,
    pub raw: Vec<u8>,
}

/// Messages written for this test: one of each kind the desk tells apart, so the run
/// reaches every outcome even without the corpus. The support address and the agent
/// match [`desk_config`]; ticket tokens name tickets the run opens.
pub const HAND_WRITTEN: &[(&str, &[u8])] = &[
    (
        "plain_request",
        b"From: Carla Diaz <carla@customer.test>\r\nTo: support@desk.example\r\nSubject: Printer on floor 3 prints blank pages\r\nDate: Mon, 2 Nov 2026 10:00:00 +0100\r\nMessage-ID: <req-1@customer.test>\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nHello,\r\n\r\nthe printer on floor 3 prints only blank pages since this morning.\r\nError 809 on the display.\r\n\r\nCarla\r\n",
    ),
    (
        "multipart_alternative_latin1",
        b"From: \"M\xfcller, Jan\" <jan@customer.test>\r\nTo: support@desk.example\r\nSubject: =?iso-8859-1?Q?VPN_verbindet_nicht_=FCber_WLAN?=\r\nDate: Tue, 3 Nov 2026 08:15:00 +0100\r\nMessage-ID: <req-2@customer.test>\r\nMIME-Version: 1.0\r\nContent-Type: multipart/alternative; boundary=\"alt-7\"\r\n\r\n--alt-7\r\nContent-Type: text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\nDer VPN-Client meldet Fehler 809 =FCber WLAN.=0D=0AGr=FC=DFe\r\n--alt-7\r\nContent-Type: text/html; charset=iso-8859-1\r\n\r\n<html><body><p>Der VPN-Client meldet <b>Fehler 809</b>.</p></body></html>\r\n--alt-7--\r\n",
    ),
    (
        "mixed_with_attachment_chinese",
        b"From: =?utf-8?B?5byg5LiJ?= <zhang@customer.test>\r\nTo: support@desk.example\r\nCc: li@customer.test\r\nSubject: =?utf-8?B?VlBOIOi/nuaOpeS4jeS4iu+8jOaPkOekuumUmeivryA4MDk=?=\r\nDate: Wed, 4 Nov 2026 09:00:00 +0800\r\nMessage-ID: <req-3@customer.test>\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"mix-1\"\r\n\r\n--mix-1\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n5oiR55qEIFZQTiDov57mjqXkuI3kuIrvvIzmj5DnpLrplJnor68gODA577yM5oql6ZSZ44CC\r\n--mix-1\r\nContent-Type: application/pdf; name=\"log.pdf\"\r\nContent-Disposition: attachment; filename=\"log.pdf\"\r\nContent-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQKJcfsj6IKMSAwIG9iago8PD4+CmVuZG9iagp0cmFpbGVyCjw8Pj4KJSVFT0YK\r\n--mix-1--\r\n",
    ),
    (
        "reply_with_token_and_references",
        b"From: carla@customer.test\r\nTo: support@desk.example\r\nSubject: Re: [TP-1] Printer on floor 3 prints blank pages\r\nDate: Mon, 2 Nov 2026 12:00:00 +0100\r\nMessage-ID: <reply-1@customer.test>\r\nIn-Reply-To: <req-1@customer.test>\r\nReferences: <req-1@customer.test>\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nStill blank after the restart.\r\n\r\nOn Mon, 2 Nov 2026 at 10:05, Desk <support@desk.example> wrote:\r\n> Please restart the printer.\r\n",
    ),
    (
        "agent_reply_with_command",
        b"From: Ann Lee <ann@desk.example>\r\nTo: support@desk.example\r\nSubject: Re: [TP-2] VPN\r\nDate: Tue, 3 Nov 2026 09:00:00 +0100\r\nMessage-ID: <agent-1@desk.example>\r\nIn-Reply-To: <req-2@customer.test>\r\n\r\n/assign me\r\n/priority P2\r\nPlease update the VPN client to 5.2 and try again.\r\n",
    ),
    (
        // A bounce of mail the desk never sent (its id is unknown): kept, no ticket.
        "bounce_dsn",
        b"From: Mail Delivery System <MAILER-DAEMON@mx.customer.test>\r\nTo: support@desk.example\r\nSubject: Undelivered Mail Returned to Sender\r\nDate: Mon, 2 Nov 2026 10:01:00 +0100\r\nMessage-ID: <bounce-1@mx.customer.test>\r\nAuto-Submitted: auto-replied\r\nMIME-Version: 1.0\r\nContent-Type: multipart/report; report-type=delivery-status; boundary=\"dsn-b\"\r\n\r\n--dsn-b\r\nContent-Type: text/plain\r\n\r\nThis is the mail system. Your message could not be delivered.\r\n--dsn-b\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.customer.test\r\n\r\nFinal-Recipient: rfc822; gone@customer.test\r\nAction: failed\r\nStatus: 5.1.1\r\n--dsn-b\r\nContent-Type: message/rfc822\r\n\r\nFrom: support@desk.example\r\nTo: gone@customer.test\r\nSubject: [TP-1] Printer\r\nMessage-ID: <ack-1@desk.example>\r\n\r\nWe received your request.\r\n--dsn-b--\r\n",
    ),
    (
        "auto_reply",
        b"From: Bo Out <bo@customer.test>\r\nTo: support@desk.example\r\nSubject: Automatic reply: out of office\r\nDate: Thu, 5 Nov 2026 07:00:00 +0000\r\nMessage-ID: <ooo-1@customer.test>\r\nAuto-Submitted: auto-replied\r\nX-Autoreply: yes\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\nI am out of the office until Monday.\r\n",
    ),
    (
        "html_only_lf",
        b"From: dana@customer.test\nTo: support@desk.example\nSubject: Laptop will not boot\nMessage-ID: <req-4@customer.test>\nContent-Type: text/html; charset=windows-1252\n\n<html><body><div>My laptop shows a <i>black screen</i> \x96 since the update.</div><table><tr><td>Model</td><td>X1</td></tr></table></body></html>\n",
    ),
    (
        "mbox_framed_no_message_id",
        b"From dana@customer.test Thu Nov  5 10:00:00 2026\nFrom: dana@customer.test\nTo: support@desk.example\nSubject: No id on this one\n\nThe scanner jams on thick paper.\n",
    ),
];

/// The hand-written messages as sources.
pub fn hand_written() -> Vec<Source> {
    HAND_WRITTEN
        .iter()
        .map(|(name, raw)| Source {
            name: format!("hand-written/{name}"),
            raw: raw.to_vec(),
        })
        .collect()
}

/// The corpus's message files of at most `max_bytes` each, sorted by path; `None`
/// (with a visible SKIP line) when the corpus is absent.
pub fn corpus_sources(max_bytes: usize) -> Option<Vec<Source>> {
    let root = corpus::corpus_root();
    if !root.is_dir() {
        corpus::skip(format!(
            "corpus not found at {}: mutating the hand-written messages only",
            root.display()
        ));
        return None;
    }
    let mut files = Vec::new();
    corpus::message_files(&root, &mut files);
    files.sort();
    let sources: Vec<Source> = files
        .iter()
        .filter(|p| fs::metadata(p).is_ok_and(|m| m.len() as usize <= max_bytes))
        .filter_map(|p| {
            Some(Source {
                name: p.strip_prefix(&root).unwrap_or(p).display().to_string(),
                raw: fs::read(p).ok()?,
            })
        })
        .collect();
    assert!(
        !sources.is_empty(),
        "no message files under {}",
        root.display()
    );
    Some(sources)
}

/// What to run.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Shown in every line and failure.
    pub label: String,
    pub seed: u64,
    pub cases: usize,
    /// Only this case (a replay; in a fresh store).
    pub only: Option<usize>,
    /// A case that takes more CPU time than this is a failure.
    pub case_limit: Duration,
    /// A fresh store after this many cases (bounds disk and memory in long runs).
    pub cases_per_store: usize,
    /// Threads, each with its own store.
    pub workers: usize,
}

/// Where one message went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Outcome {
    NewTicket,
    FollowUp,
    KeptWithoutTicket,
    Duplicate,
    Quarantined,
}

/// What a run found.
#[derive(Debug, Default)]
pub struct Report {
    pub cases: usize,
    pub outcomes: BTreeMap<Outcome, usize>,
    /// Quarantine reasons, cut to their first words.
    pub reasons: BTreeMap<String, usize>,
    /// Cases per mutator and their summed time (a case with several mutators counts
    /// for each).
    pub by_mutator: BTreeMap<&'static str, (usize, Duration)>,
    /// The slowest cases (CPU time), slowest first.
    pub slowest: Vec<(Duration, String)>,
    /// Failed cases (all of them).
    pub failed: usize,
    /// The first failures, described.
    pub failures: Vec<String>,
    pub elapsed: Duration,
}

/// How many slow cases and failure texts are kept.
const KEEP: usize = 5;
const KEEP_FAILURES: usize = 50;

impl Report {
    pub fn count(&self, o: Outcome) -> usize {
        self.outcomes.get(&o).copied().unwrap_or(0)
    }

    pub fn print(&self) {
        let label = |o| format!("{o:?} {}", self.count(o));
        println!(
            "  {} case(s) in {:.1} s ({:.0} cases/s): {}",
            self.cases,
            self.elapsed.as_secs_f64(),
            self.cases as f64 / self.elapsed.as_secs_f64().max(1e-9),
            [
                Outcome::NewTicket,
                Outcome::FollowUp,
                Outcome::KeptWithoutTicket,
                Outcome::Duplicate,
                Outcome::Quarantined
            ]
            .map(label)
            .join(", ")
        );
        let reasons: Vec<String> = self
            .reasons
            .iter()
            .map(|(r, n)| format!("{n} {r}"))
            .collect();
        println!("  quarantine reasons: {}", reasons.join("; "));
        let mut muts: Vec<(&str, usize, Duration)> = self
            .by_mutator
            .iter()
            .map(|(m, (n, t))| (*m, *n, *t))
            .collect();
        muts.sort_by_key(|(_, _, t)| std::cmp::Reverse(*t));
        let muts: Vec<String> = muts
            .iter()
            .map(|(m, n, t)| format!("{m} {n} ({:.1} s)", t.as_secs_f64()))
            .collect();
        println!("  cases per mutator (time): {}", muts.join(", "));
        for (d, what) in &self.slowest {
            println!("  slow: {:.3} s CPU  {what}", d.as_secs_f64());
        }
        println!("  failures: {}", self.failed);
        for f in &self.failures {
            println!("  FAILED: {f}");
        }
    }
}

/// A store, and the context the service would ingest into it with.
struct Desk {
    _dir: tempfile::TempDir,
    conn: Connection,
    cx: IngestContext,
}

fn desk_config(dir: &Path) -> Config {
    let text = format!(
        r#"
[store]
path = "{0}/mutation.db"
[mailbox]
kind = "maildir"
path = "{0}/inbox"
[transport]
kind = "file"
path = "{0}/outbox"
[desk]
support_address = "support@desk.example"
support_name = "Mutation Desk"
agents = ["Ann Lee <ann@desk.example>"]
supervisors = ["Sam Boss <sam@desk.example>"]
[limits]
acknowledgements_per_sender_per_hour = 100000
messages_per_ticket_per_hour = 100000
"#,
        dir.display()
    );
    Config::from_toml(&dir.join("t.toml"), &text, &Default::default()).expect("test config")
}

impl Desk {
    /// A fresh store with two knowledge-base entries (so requests are searched) and an
    /// agent and supervisor (so similar tickets are looked up and notices rendered).
    fn new() -> Desk {
        let dir = tempfile::tempdir().expect("tempdir");
        let cfg = desk_config(dir.path());
        let conn = store::open_and_migrate(&cfg.store.path, false).expect("store");
        for (title, problem) in [
            (
                "Printer prints blank pages",
                "The printer feeds paper but pages are blank.",
            ),
            (
                "VPN 报错 809 无法连接",
                "VPN error 809 when connecting from home.",
            ),
        ] {
            store::kb::add(
                &conn,
                &store::kb::NewKbEntry {
                    ticket_id: None,
                    title,
                    problem,
                    cause: "",
                    steps: "",
                    solution: "Restart it.",
                    language: "en",
                    author: "ann@desk.example",
                    at: 1,
                },
            )
            .expect("kb entry");
        }
        let staff_key = StaffKey::new(store::staff_key(&conn).expect("staff key"));
        let cx = IngestContext {
            desk: cfg.desk.clone(),
            kb: cfg.kb,
            intake: cfg.load_intake_rules().expect("intake rules"),
            sla: cfg.sla.clone(),
            security: cfg.security.clone(),
            limits: cfg.limits,
            renderer: Arc::new(
                Renderer::new(&cfg.templates, &cfg.desk)
                    .expect("templates")
                    .with_staff_key(staff_key.clone()),
            ),
            staff_key,
            source: "mutation".into(),
            folder: "INBOX".into(),
            faults: Faults::default(),
            send_mail: true,
        };
        Desk {
            _dir: dir,
            conn,
            cx,
        }
    }

    fn ingest(&mut self, raw: &[u8], now: i64) -> Result<(BatchSummary, Parse), String> {
        let mut parsed = ingest::parse_batch(vec![raw.to_vec()], &self.cx);
        let Some(item) = parsed.first() else {
            return Err("parse_batch returned nothing".into());
        };
        let parse = match item {
            Ok(p) => {
                if p.msg.raw != raw {
                    return Err("the parsed message does not carry the input bytes".into());
                }
                Parse::Message {
                    identity: p.msg.identity(),
                    content_hash: p.msg.content_hash.clone(),
                }
            }
            Err(f) => {
                if f.raw != raw {
                    return Err("the parse failure does not carry the input bytes".into());
                }
                Parse::Failed
            }
        };
        parsed.truncate(1);
        let summary = ingest::apply_batch(&mut self.conn, &self.cx, parsed, None, now)
            .map_err(|e| format!("apply_batch failed: {e:#}"))?;
        // What the service does when idle: the new ticket goes into the search index.
        ingest::index_waiting_tickets(&mut self.conn)
            .map_err(|e| format!("indexing failed: {e:#}"))?;
        Ok((summary, parse))
    }

    fn counts(&self) -> Result<Counts, String> {
        let count = |table: &str| -> Result<i64, String> {
            self.conn
                .query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))
                .map_err(|e| format!("counting {table}: {e}"))
        };
        Ok(Counts {
            messages: count("messages")?,
            tickets: count("tickets")?,
            quarantine: count("quarantine")?,
        })
    }
}

/// What parsing made of the input.
enum Parse {
    Message {
        identity: String,
        content_hash: String,
    },
    Failed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Counts {
    messages: i64,
    tickets: i64,
    quarantine: i64,
}

fn outcome_of(s: &BatchSummary) -> Result<Outcome, String> {
    let hits: Vec<(usize, Outcome)> = [
        (s.new_tickets, Outcome::NewTicket),
        (s.follow_ups, Outcome::FollowUp),
        (s.unfiled, Outcome::KeptWithoutTicket),
        (s.duplicates, Outcome::Duplicate),
        (s.quarantined, Outcome::Quarantined),
    ]
    .into_iter()
    .filter(|(n, _)| *n > 0)
    .collect();
    match (s.messages, hits.as_slice()) {
        (1, [(1, one)]) => Ok(*one),
        _ => Err(format!("not exactly one outcome: {s:?}")),
    }
}

/// One case: ingest, check where it went, ingest again, check nothing changed.
/// Returns the outcome and, for a quarantine, its reason.
fn run_case(desk: &mut Desk, raw: &[u8], now: i64) -> Result<(Outcome, Option<String>), String> {
    let before = desk.counts()?;
    let (summary, parse) = desk.ingest(raw, now)?;
    let outcome = outcome_of(&summary)?;
    let after = desk.counts()?;
    let delta = (
        after.messages - before.messages,
        after.tickets - before.tickets,
        after.quarantine - before.quarantine,
    );
    let mut reason = None;
    match outcome {
        Outcome::NewTicket | Outcome::FollowUp | Outcome::KeptWithoutTicket => {
            let tickets = if outcome == Outcome::NewTicket { 1 } else { 0 };
            if delta != (1, tickets, 0) {
                return Err(format!(
                    "{outcome:?}, but (messages, tickets, quarantine) moved by {delta:?}"
                ));
            }
            let (id, ticket): (i64, Option<i64>) = desk
                .conn
                .query_row(
                    "SELECT id, ticket_id FROM messages ORDER BY id DESC LIMIT 1",
                    [],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .map_err(|e| format!("reading the stored message: {e}"))?;
            // Kept packed since schema 19: read back as every reader does.
            let stored = ticketpost::store::messages::raw_of(&desk.conn, id)
                .map_err(|e| format!("unpacking the stored message: {e:#}"))?
                .unwrap_or_default();
            if stored != raw {
                return Err(format!(
                    "{outcome:?}: stored raw bytes ({}) differ from the input ({})",
                    stored.len(),
                    raw.len()
                ));
            }
            if ticket.is_some() != (outcome != Outcome::KeptWithoutTicket) {
                return Err(format!("{outcome:?}, but the stored ticket is {ticket:?}"));
            }
        }
        Outcome::Duplicate => {
            if delta != (0, 0, 0) {
                return Err(format!("a duplicate, but the store moved by {delta:?}"));
            }
            let Parse::Message {
                identity,
                content_hash,
            } = &parse
            else {
                return Err("a duplicate of a message that did not parse".into());
            };
            let known: Option<i64> = desk
                .conn
                .query_row(
                    "SELECT id FROM messages WHERE content_hash = ?1
                     AND (identity = ?2 OR substr(identity, 1, length(?2) + 1) = ?2 || '#')",
                    [content_hash, identity],
                    |r| r.get(0),
                )
                .optional()
                .map_err(|e| format!("looking up the original: {e}"))?;
            if known.is_none() {
                return Err(format!(
                    "counted a duplicate, but no stored message has identity {identity} and its content hash"
                ));
            }
        }
        Outcome::Quarantined => {
            if !matches!(delta, (0, 0, 0) | (0, 0, 1)) {
                return Err(format!("quarantined, but the store moved by {delta:?}"));
            }
            let hash = hex::encode(Sha256::digest(raw));
            let row: Option<(Vec<u8>, String)> = desk
                .conn
                .query_row(
                    "SELECT raw, reason FROM quarantine WHERE content_hash = ?1",
                    [&hash],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()
                .map_err(|e| format!("reading the quarantine: {e}"))?;
            let Some((stored, why)) = row else {
                return Err("counted as quarantined, but no quarantine row holds it".into());
            };
            if stored != raw {
                return Err("the quarantined raw bytes differ from the input".into());
            }
            if why.trim().is_empty() {
                return Err("quarantined without a reason".into());
            }
            reason = Some(why);
        }
    }

    // Idempotence: the same bytes again write nothing.
    let changes = desk.conn.total_changes();
    let (again, _) = desk.ingest(raw, now)?;
    let expected = match outcome {
        Outcome::Quarantined => Outcome::Quarantined,
        _ => Outcome::Duplicate,
    };
    let again_outcome = outcome_of(&again).map_err(|e| format!("ingested again: {e}"))?;
    if again_outcome != expected {
        return Err(format!(
            "ingested again after {outcome:?}: {again_outcome:?}, expected {expected:?}"
        ));
    }
    let written = desk.conn.total_changes() - changes;
    if written != 0 || desk.counts()? != after {
        return Err(format!(
            "ingested again after {outcome:?}: {written} row change(s)"
        ));
    }
    Ok((outcome, reason))
}

/// The seed of one case: the run's seed and the case number mixed (splitmix64).
pub fn case_seed(seed: u64, case: usize) -> u64 {
    let mut z = seed ^ (case as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The first words of a quarantine reason (numbers dropped), for counting.
fn reason_kind(reason: &str) -> String {
    let words: Vec<&str> = reason
        .split_whitespace()
        .filter(|w| !w.chars().any(|c| c.is_ascii_digit()))
        .take(5)
        .collect();
    words.join(" ")
}

/// CPU time of the calling thread: the cost of a case whatever else the machine runs
/// (the time bound is about pathological inputs, not about a busy CI host).
fn thread_cpu_time() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid timespec for the call to write into.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    if rc != 0 {
        return Duration::ZERO;
    }
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// Where failing inputs are written.
fn failure_dir() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("mutation-failures")
}

/// Runs the cases over `sources` (picked at random per case) on `settings.workers`
/// threads, each with its own store (case `i` goes to worker `i % workers`), and
/// reports.
pub fn run(sources: &[Source], settings: &Settings) -> Report {
    assert!(!sources.is_empty(), "{}: no sources", settings.label);
    let started = Instant::now();
    let cases: Vec<usize> = match settings.only {
        Some(i) => vec![i],
        None => (0..settings.cases).collect(),
    };
    let workers = settings.workers.clamp(1, cases.len().max(1));
    let mut report = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..workers)
            .map(|w| {
                let mine: Vec<usize> = cases.iter().copied().filter(|c| c % workers == w).collect();
                scope.spawn(move || run_cases(sources, settings, &mine))
            })
            .collect();
        let mut total = Report::default();
        for h in handles {
            match h.join() {
                Ok(part) => total.merge(part),
                Err(_) => {
                    total.failed += 1;
                    total.failures.push(format!(
                        "{}: a worker thread died outside the per-case catch_unwind",
                        settings.label
                    ));
                }
            }
        }
        total
    });
    report.elapsed = started.elapsed();
    report
}

impl Report {
    fn merge(&mut self, o: Report) {
        self.cases += o.cases;
        for (k, n) in o.outcomes {
            *self.outcomes.entry(k).or_default() += n;
        }
        for (k, n) in o.reasons {
            *self.reasons.entry(k).or_default() += n;
        }
        for (k, (n, t)) in o.by_mutator {
            let e = self.by_mutator.entry(k).or_default();
            e.0 += n;
            e.1 += t;
        }
        self.slowest.extend(o.slowest);
        self.slowest.sort_by_key(|s| std::cmp::Reverse(s.0));
        self.slowest.truncate(KEEP);
        self.failed += o.failed;
        self.failures.extend(o.failures);
        self.failures.truncate(KEEP_FAILURES);
    }
}

/// One worker's cases, in one store (renewed every `cases_per_store` cases).
fn run_cases(sources: &[Source], settings: &Settings, cases: &[usize]) -> Report {
    let mut report = Report::default();
    let mut desk = Desk::new();
    let mut in_store = 0usize;
    // Virtual time: a minute per case, so SLA and loop-guard windows move.
    let mut now: i64 = 1_795_000_000;
    for &case in cases {
        if in_store == settings.cases_per_store {
            desk = Desk::new();
            in_store = 0;
        }
        in_store += 1;
        now += 60;
        let mut rng = Rng::with_seed(case_seed(settings.seed, case));
        let source = &sources[rng.usize(0..sources.len())];
        // A mutator that panics is a bug of this test, not of ticketpost: reported
        // as a failure all the same, so the run goes on.
        let mutated = catch_unwind(AssertUnwindSafe(|| mutate::mutate(&mut rng, &source.raw)));
        let Ok((raw, mutators)) = mutated else {
            report.cases += 1;
            report.failed += 1;
            report.failures.push(format!(
                "{} seed {} case {case}: {}: a mutator panicked (a bug of the test)",
                settings.label, settings.seed, source.name
            ));
            continue;
        };
        // One case in four as an import of existing mail (`send_mail = false`: stored
        // and filed, nothing queued), the rest as the service ingests.
        desk.cx.send_mail = rng.u8(0..4) != 0;
        let what = format!(
            "{} seed {} case {case}: {} via {} ({} bytes{})",
            settings.label,
            settings.seed,
            source.name,
            mutators.join("+"),
            raw.len(),
            if desk.cx.send_mail {
                ""
            } else {
                ", as an import"
            }
        );
        let t = thread_cpu_time();
        let result = catch_unwind(AssertUnwindSafe(|| run_case(&mut desk, &raw, now)));
        let took = thread_cpu_time().saturating_sub(t);
        report.cases += 1;
        for m in &mutators {
            let e = report.by_mutator.entry(m).or_default();
            e.0 += 1;
            e.1 += took;
        }
        let failure = match result {
            Ok(Ok((outcome, reason))) => {
                *report.outcomes.entry(outcome).or_default() += 1;
                if let Some(r) = reason {
                    *report.reasons.entry(reason_kind(&r)).or_default() += 1;
                }
                (took > settings.case_limit).then(|| {
                    format!(
                        "took {:.1} s of CPU, over the bound of {:.0} s",
                        took.as_secs_f64(),
                        settings.case_limit.as_secs_f64()
                    )
                })
            }
            Ok(Err(problem)) => Some(problem),
            Err(panic) => {
                let detail = panic
                    .downcast_ref::<&str>()
                    .map(|s| (*s).to_string())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_default();
                // The store may be left mid-transaction: start a new one.
                desk = Desk::new();
                in_store = 0;
                Some(format!("panicked: {detail}"))
            }
        };
        if let Some(problem) = failure {
            report.failed += 1;
            let dir = failure_dir();
            let file = dir.join(format!("{}-{}-{case}.eml", settings.label, settings.seed));
            let saved = fs::create_dir_all(&dir)
                .and_then(|_| fs::write(&file, &raw))
                .map(|_| format!(" (input saved to {})", file.display()))
                .unwrap_or_default();
            if report.failures.len() < KEEP_FAILURES {
                report.failures.push(format!("{what}: {problem}{saved}"));
            }
        }
        if report.slowest.len() < KEEP || took > report.slowest[KEEP - 1].0 {
            report.slowest.push((took, what));
            report.slowest.sort_by_key(|s| std::cmp::Reverse(s.0));
            report.slowest.truncate(KEEP);
        }
    }
    report
}

/// Ingests each source once, unmutated and in order, into one fresh store, with the
/// same checks as a case; a failed check panics. Returns each source's outcome.
pub fn ingest_unmutated(sources: &[Source], settings: &Settings) -> Vec<(String, Outcome)> {
    let mut desk = Desk::new();
    let mut now: i64 = 1_795_000_000;
    sources
        .iter()
        .map(|s| {
            now += 60;
            match run_case(&mut desk, &s.raw, now) {
                Ok((outcome, _)) => (s.name.clone(), outcome),
                Err(problem) => panic!("{}: {}: {problem}", settings.label, s.name),
            }
        })
        .collect()
}
