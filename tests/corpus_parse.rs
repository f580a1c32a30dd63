//! `inbound::parse` against real messages: the stalwart mail-parser test corpus
//! (RFC examples, malformed Dovecot messages, old-client samples) with the decoded
//! fields its `summary.jsonl` expects, plus a no-panic sweep over every message file
//! of every corpus in `../shared/corpus`.
//!
//! The corpora are read where they lie and never copied into this repository
//! (several are GPL/AGPL, and stalwart's `legacy/` has no licence grant). When they
//! are absent the tests print `SKIPPED: ...` and pass (under the test command they fail:
//! see `support/skip.rs`).
//!
//! Expected values are normalised the way `InboundMessage` documents its fields:
//! subjects with white space collapsed to single spaces, emails lower-cased,
//! entries without an address dropped, Message-IDs through
//! `ticketpost::inbound::normalize_message_id`. A message `parse` rejects counts as
//! an empty message (empty subject, no addresses, no ids): it matches only when the
//! corpus expects nothing either.

use std::fs;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::PathBuf;

use serde_json::Value;
use ticketpost::inbound::{self, InboundMessage, normalize_message_id};

/// Every compared field must match at least this share of the summary entries.
const REQUIRED_MATCH_RATE: f64 = 0.98;
/// How many mismatches per field are printed.
const MISMATCHES_SHOWN: usize = 5;
/// How many ParseFailures per corpus folder are printed.
const REJECTIONS_SHOWN: usize = 10;

#[path = "support/corpus.rs"]
mod corpus;
use corpus::{corpus_root, message_files};

/// One field's tally.
struct FieldTally {
    name: &'static str,
    matched: usize,
    total: usize,
    mismatches: Vec<String>,
}

impl FieldTally {
    fn new(name: &'static str) -> Self {
        Self {
            name,
            matched: 0,
            total: 0,
            mismatches: Vec::new(),
        }
    }

    fn check<T: PartialEq + std::fmt::Debug>(&mut self, file: &str, expected: T, actual: T) {
        self.total += 1;
        if expected == actual {
            self.matched += 1;
        } else {
            self.mismatches
                .push(format!("{file}: expected {expected:?}, got {actual:?}"));
        }
    }

    fn rate(&self) -> f64 {
        if self.total == 0 {
            1.0
        } else {
            self.matched as f64 / self.total as f64
        }
    }
}

fn collapse_whitespace(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Expected addresses: entries with a non-empty address, as (email lower-cased,
/// display name with white space collapsed).
fn expected_addresses(value: &Value) -> Vec<(String, Option<String>)> {
    let Some(list) = value.as_array() else {
        return Vec::new();
    };
    list.iter()
        .filter_map(|entry| {
            let email = entry.get("address")?.as_str()?.trim();
            if email.is_empty() {
                return None;
            }
            let name = entry
                .get("name")
                .and_then(Value::as_str)
                .map(collapse_whitespace)
                .filter(|n| !n.is_empty());
            Some((email.to_lowercase(), name))
        })
        .collect()
}

fn actual_addresses<'a>(
    addresses: impl IntoIterator<Item = &'a inbound::Address>,
) -> Vec<(String, Option<String>)> {
    addresses
        .into_iter()
        .map(|a| (a.email.clone(), a.name.clone()))
        .collect()
}

/// Expected ids: `null`, one string, or a list of strings.
fn expected_ids(value: &Value) -> Vec<String> {
    match value {
        Value::String(id) => normalize_message_id(id).into_iter().collect(),
        Value::Array(list) => list
            .iter()
            .filter_map(Value::as_str)
            .filter_map(normalize_message_id)
            .collect(),
        _ => Vec::new(),
    }
}

#[test]
fn stalwart_corpus_decoded_fields_match() {
    let folder = corpus_root().join("stalwart_mail_parser");
    let summary_path = folder.join("summary.jsonl");
    if !summary_path.is_file() {
        corpus::skip(format!("corpus not found at {}", summary_path.display()));
        return;
    }
    let summary = fs::read_to_string(&summary_path).expect("summary.jsonl is readable");

    let mut subject = FieldTally::new("subject");
    let mut from = FieldTally::new("from");
    let mut to = FieldTally::new("to");
    let mut message_id = FieldTally::new("message_id");
    let mut in_reply_to = FieldTally::new("in_reply_to");
    let mut references = FieldTally::new("references");
    let (mut parsed, mut rejected) = (0usize, Vec::new());

    for (line_no, line) in summary.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let entry: Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("summary.jsonl line {}: {e}", line_no + 1));
        let file = entry["file"].as_str().expect("every entry names its file");
        let raw = fs::read(folder.join(file)).unwrap_or_else(|e| panic!("{file}: {e}"));

        let msg: Option<InboundMessage> = match inbound::parse(raw) {
            Ok(msg) => {
                parsed += 1;
                Some(msg)
            }
            Err(failure) => {
                rejected.push(format!("{file}: {}", failure.reason));
                None
            }
        };

        let expected_subject = entry["subject"]
            .as_str()
            .map(collapse_whitespace)
            .unwrap_or_default();
        subject.check(
            file,
            expected_subject,
            msg.as_ref().map(|m| m.subject.clone()).unwrap_or_default(),
        );

        // Our From is the first usable address of the header.
        let expected_from = expected_addresses(&entry["from"]).into_iter().next();
        from.check(
            file,
            expected_from,
            msg.as_ref()
                .and_then(|m| m.from.as_ref())
                .and_then(|a| actual_addresses([a]).pop()),
        );
        to.check(
            file,
            expected_addresses(&entry["to"]),
            msg.as_ref()
                .map(|m| actual_addresses(&m.to))
                .unwrap_or_default(),
        );
        message_id.check(
            file,
            expected_ids(&entry["message_id"]).into_iter().next(),
            msg.as_ref().and_then(|m| m.message_id.clone()),
        );
        in_reply_to.check(
            file,
            expected_ids(&entry["in_reply_to"]),
            msg.as_ref()
                .map(|m| m.in_reply_to.clone())
                .unwrap_or_default(),
        );
        references.check(
            file,
            expected_ids(&entry["references"]),
            msg.as_ref()
                .map(|m| m.references.clone())
                .unwrap_or_default(),
        );
    }

    let tallies = [subject, from, to, message_id, in_reply_to, references];
    let total = tallies[0].total;
    println!(
        "stalwart summary: {total} messages, {parsed} parsed, {} rejected as ParseFailure",
        rejected.len()
    );
    for reason in &rejected {
        println!("  rejected {reason}");
    }
    for tally in &tallies {
        println!(
            "{}: {}/{} ({:.1}%)",
            tally.name,
            tally.matched,
            tally.total,
            tally.rate() * 100.0
        );
        for mismatch in tally.mismatches.iter().take(MISMATCHES_SHOWN) {
            println!("  mismatch {mismatch}");
        }
    }

    assert!(total > 0, "summary.jsonl lists no messages");
    for tally in &tallies {
        assert!(
            tally.rate() >= REQUIRED_MATCH_RATE,
            "{}: {}/{} below {:.0}%",
            tally.name,
            tally.matched,
            tally.total,
            REQUIRED_MATCH_RATE * 100.0
        );
    }
}

/// Parses every file and counts outcomes; a panic is caught and counted so the
/// report lists them all rather than stopping at the first.
struct SweepCounts {
    files: usize,
    /// Time spent in `parse` alone.
    elapsed: std::time::Duration,
    /// The file that took longest, and how long.
    slowest: Option<(std::time::Duration, String)>,
    ok: usize,
    /// File and reason of each ParseFailure.
    rejected: Vec<String>,
    panicked: Vec<String>,
}

impl SweepCounts {
    fn print(&self, label: &str) {
        println!(
            "{label}: {} files, {} Ok, {} ParseFailure, {} panicked (parse time {} ms)",
            self.files,
            self.ok,
            self.rejected.len(),
            self.panicked.len(),
            self.elapsed.as_millis()
        );
        if let Some((took, file)) = &self.slowest {
            println!("  slowest {file}: {} ms", took.as_millis());
        }
        for rejected in self.rejected.iter().take(REJECTIONS_SHOWN) {
            println!("  rejected {rejected}");
        }
    }
}

fn sweep(files: &[PathBuf]) -> SweepCounts {
    let mut counts = SweepCounts {
        files: files.len(),
        elapsed: std::time::Duration::ZERO,
        slowest: None,
        ok: 0,
        rejected: Vec::new(),
        panicked: Vec::new(),
    };
    for path in files {
        let raw = fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let started = std::time::Instant::now();
        let outcome = catch_unwind(AssertUnwindSafe(|| inbound::parse(raw)));
        let took = started.elapsed();
        counts.elapsed += took;
        if counts.slowest.as_ref().is_none_or(|(t, _)| took > *t) {
            counts.slowest = Some((took, path.display().to_string()));
        }
        match outcome {
            Ok(Ok(msg)) => {
                assert_eq!(msg.content_hash.len(), 64, "{}", path.display());
                counts.ok += 1;
            }
            Ok(Err(failure)) => {
                let size = failure.raw.len();
                counts.rejected.push(format!(
                    "{} ({size} bytes): {}",
                    path.display(),
                    failure.reason
                ));
            }
            Err(_) => counts.panicked.push(path.display().to_string()),
        }
    }
    counts
}

#[test]
fn every_stalwart_message_file_parses_without_panic() {
    let folder = corpus_root().join("stalwart_mail_parser");
    if !folder.is_dir() {
        corpus::skip(format!("corpus not found at {}", folder.display()));
        return;
    }
    let mut files = Vec::new();
    message_files(&folder, &mut files);
    files.sort();
    let counts = sweep(&files);
    counts.print("stalwart message files");
    // 113 files in the shared corpus.
    assert!(
        counts.files >= 100,
        "no message files under {}",
        folder.display()
    );
    assert!(
        counts.panicked.is_empty(),
        "parse panicked on {:?}",
        counts.panicked
    );
}

#[test]
fn every_other_corpus_message_parses_without_panic() {
    let root = corpus_root();
    let Ok(entries) = fs::read_dir(&root) else {
        corpus::skip(format!("corpus not found at {}", root.display()));
        return;
    };
    let mut folders: Vec<PathBuf> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_dir() && !p.ends_with("stalwart_mail_parser"))
        .collect();
    folders.sort();
    let mut read = 0;
    for folder in folders {
        let mut files = Vec::new();
        message_files(&folder, &mut files);
        if files.is_empty() {
            continue;
        }
        files.sort();
        let counts = sweep(&files);
        let name = folder.file_name().and_then(|n| n.to_str()).unwrap_or("?");
        counts.print(name);
        read += counts.files;
        assert!(
            counts.panicked.is_empty(),
            "parse panicked on {:?}",
            counts.panicked
        );
    }
    // 792 files in the other corpora (flanker, OTRS, sisimai, Zammad).
    assert!(
        read >= 750,
        "only {read} message files read under {}",
        root.display()
    );
}

/// Line endings normalised the simple way (CRLF and lone CR to LF), for deciding
/// whether two stored copies hold the same message.
fn lf_normalised(raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        if raw[i] == b'\r' {
            out.push(b'\n');
            if raw.get(i + 1) == Some(&b'\n') {
                i += 1;
            }
        } else {
            out.push(raw[i]);
        }
        i += 1;
    }
    out
}

/// sisimai keeps CR-only (`mac/`) and CRLF (`dos/`) copies of some LF (`bsd/`)
/// messages: copies that differ only in line endings must decode to the same
/// header fields and hash the same.
#[test]
fn sisimai_line_ending_copies_agree() {
    let maildir = corpus_root().join("sisimai_set_of_emails/maildir");
    if !maildir.is_dir() {
        corpus::skip(format!("corpus not found at {}", maildir.display()));
        return;
    }
    let (mut pairs, mut same_bytes, mut hash_equal) = (0, 0, 0);
    let mut disagreements = Vec::new();
    for variant in ["mac", "dos"] {
        let Ok(entries) = fs::read_dir(maildir.join(variant)) else {
            continue;
        };
        let mut names: Vec<_> = entries.flatten().map(|e| e.file_name()).collect();
        names.sort();
        for name in names {
            let lf_path = maildir.join("bsd").join(&name);
            let Ok(lf_raw) = fs::read(&lf_path) else {
                continue;
            };
            let other_raw = fs::read(maildir.join(variant).join(&name)).expect("readable");
            let label = format!("{variant}/{}", name.to_string_lossy());
            let identical = lf_normalised(&other_raw) == lf_normalised(&lf_raw);
            let (Ok(lf), Ok(other)) = (inbound::parse(lf_raw), inbound::parse(other_raw)) else {
                disagreements.push(format!("{label}: one copy failed to parse"));
                continue;
            };
            pairs += 1;
            let differing: Vec<&str> = [
                ("subject", lf.subject == other.subject),
                ("from", lf.from == other.from),
                ("to", lf.to == other.to),
                ("message_id", lf.message_id == other.message_id),
                ("references", lf.references == other.references),
                ("date", lf.date == other.date),
                ("return_path", lf.return_path == other.return_path),
                ("auto_headers", lf.auto_headers == other.auto_headers),
            ]
            .into_iter()
            .filter(|(_, same)| !same)
            .map(|(name, _)| name)
            .collect();
            // Copies that differ in more than line endings (one sisimai copy has
            // its Subject pre-decoded) are only required to parse.
            if identical && !differing.is_empty() {
                disagreements.push(format!("{label}: {differing:?} differ from bsd/"));
            }
            if identical {
                same_bytes += 1;
                if lf.content_hash == other.content_hash {
                    hash_equal += 1;
                } else {
                    disagreements.push(format!("{label}: content_hash differs from bsd/"));
                }
            }
        }
    }
    println!(
        "sisimai line-ending copies: {pairs} pairs, {same_bytes} identical but for line endings, \
         {hash_equal} with equal content_hash"
    );
    for d in &disagreements {
        println!("  {d}");
    }
    assert!(pairs > 0, "no mac/ or dos/ copies found");
    assert!(disagreements.is_empty(), "{disagreements:?}");
}
