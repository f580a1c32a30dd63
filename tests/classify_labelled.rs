//! The automatic-mail classifier (`inbound::classify`) against labelled mail, in two
//! parts measured and reported apart:
//!
//! - DEV: the labelled corpora in `../shared/corpus`, which the rules were written
//!   and tuned against: sisimai's `expected_results.tsv` (bounces, complaints,
//!   vacation replies) and its two non-bounces, mailgun/flanker's `classification`,
//!   Zammad's `MANIFEST.json` labels and transcribed header cases, and our reviewed
//!   labels in `tests/fixtures/corpus_automatic.toml`.
//! - HELD OUT: `tests/fixtures/classify_heldout/` (hand-written messages in the styles
//!   of real servers, clients and services, labelled in `labels.toml` from what each
//!   message is, committed before the classifier first ran on them, never tuned on).
//!
//! Figures are asserted against bars that follow from stated principles (see
//! [`PRINCIPLES`], printed with the figures):
//!
//! 1. A loop is worse than a missed ticket: automatic mail taken for human mail gets
//!    an answer, and an answer to a machine can start an endless exchange. Bar: 0.
//! 2. Human mail taken for automatic gets no acknowledgement (and, taken for a bounce,
//!    complaint or auto-reply, no ticket): a missed ticket, bounded to one message.
//!    The README's stated tolerance for that is 1% of ordinary mail. Bar: at most
//!    floor(1% of n) of n human messages (0 below 100).
//! 3. The kind decides a README promise: a DSN is filed on its ticket as a delivery
//!    failure; an auto-reply or complaint opens no ticket; list, bulk and other
//!    machine mail opens an unanswered ticket; our own mail is never a request. A kind
//!    in the wrong one of these classes breaks that promise for one message, the same
//!    bounded harm as a missed ticket, so it gets the same tolerance: at most floor(1%
//!    of n) of the n automatic messages found automatic. Kinds within a class (list vs
//!    bulk, auto-reply vs complaint) lead to the same handling and are only reported.
//!
//! Where a bar does not hold on a part, the rules are not tuned to make it hold: the
//! messages that miss it are named in [`KNOWN_GAPS`] with the principle they break,
//! printed as a gap, and every other message must meet the bar (a new miss fails, and
//! so does a listed gap that stops missing, so the list stays true).
//!
//! The corpora are read where they lie; when absent the test prints `SKIPPED: ...`
//! (and fails under the test command: see `support/skip.rs`). The held-out part needs
//! nothing outside the repository.

#[path = "support/corpus.rs"]
mod corpus;

use std::collections::{BTreeMap, HashSet};
use std::fmt::Write as _;
use std::fs;
use std::path::Path;

use serde::Deserialize;
use serde_json::Value;
use ticketpost::inbound::{self, AutomaticKind};

/// The desk address the classifier is given (the held-out loop messages use it; no
/// corpus message is from it).
const DESK_ADDRESS: &str = "support@desk.example";

/// The principles behind the bars, printed with the figures.
const PRINCIPLES: &str = "\
principles behind the bars:
  1 loops: a loop is worse than a missed ticket; automatic mail taken for human must be 0
  2 held back: human mail taken for automatic is a missed ticket; tolerance 1% (README), i.e. at most floor(n/100)
  3 kind class: the kind decides the handling (DSN filed as delivery failure / answer opens no ticket /
    list-bulk-machine mail opens an unanswered ticket / own mail); a wrong class is one mishandled
    message: tolerance 1%, i.e. at most floor(n/100) of the automatic messages found automatic";

/// The share of a part's messages a bounded error (principles 2 and 3) may reach.
const BOUNDED_ERROR_SHARE: f64 = 0.01;

/// Messages that miss a bar today, found when the held-out set was first run (no rule
/// was changed for them): (part, message, principle broken). Reported as gaps: the
/// held-out part does NOT meet bars 1 and 3 (7 machine messages taken for human mail,
/// 2 notifications taken for auto-replies, so they would open no ticket).
const KNOWN_GAPS: &[(Part, &str, Principle)] = &[
    // Outlook's Portuguese out-of-office subject, no automatic header.
    (Part::HeldOut, "autoreply-outlook-pt.eml", Principle::Loop),
    // A webmail away message with no automatic header.
    (
        Part::HeldOut,
        "autoreply-away-no-headers.eml",
        Principle::Loop,
    ),
    // A challenge-response anti-spam answer with no automatic header.
    (
        Part::HeldOut,
        "autoreply-challenge-response.eml",
        Principle::Loop,
    ),
    // Machine notifications without Auto-Submitted or Precedence.
    (
        Part::HeldOut,
        "bulk-servicenow-notification.eml",
        Principle::Loop,
    ),
    (Part::HeldOut, "bulk-nagios-alert.eml", Principle::Loop),
    (Part::HeldOut, "bulk-cron-output.eml", Principle::Loop),
    (
        Part::HeldOut,
        "bulk-proofpoint-quarantine-digest.eml",
        Principle::Loop,
    ),
    // `Auto-Submitted: auto-generated` notifications taken for auto-replies: they open
    // no ticket, where the README says machine mail opens an unanswered one.
    (
        Part::HeldOut,
        "bulk-jira-notification.eml",
        Principle::KindClass,
    ),
    (
        Part::HeldOut,
        "bulk-google-calendar-reminder.eml",
        Principle::KindClass,
    ),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
enum Part {
    Dev,
    HeldOut,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Principle {
    /// 1: automatic mail taken for human.
    Loop,
    /// 2: human mail taken for automatic.
    HeldBack,
    /// 3: automatic mail of the wrong kind class.
    KindClass,
}

/// What a labelled message is.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Expected {
    Human,
    /// Automatic; `kind` when the label names one, `also` kinds just as true of it.
    Automatic {
        kind: Option<AutomaticKind>,
        also: Vec<AutomaticKind>,
    },
    /// Either decision is fine, but not this kind (Zammad's fax notice "Failed Mail" is
    /// no bounce).
    Either {
        not: Option<AutomaticKind>,
    },
}

/// The handling a kind leads to (principle 3).
fn class(kind: AutomaticKind) -> &'static str {
    match kind {
        AutomaticKind::Bounce => "dsn",
        AutomaticKind::AutoReply | AutomaticKind::Complaint => "answer",
        AutomaticKind::List | AutomaticKind::Bulk => "unsolicited",
        AutomaticKind::Loop => "own",
    }
}

fn kind_name(kind: AutomaticKind) -> &'static str {
    match kind {
        AutomaticKind::Bounce => "bounce",
        AutomaticKind::Complaint => "complaint",
        AutomaticKind::AutoReply => "auto-reply",
        AutomaticKind::List => "list",
        AutomaticKind::Bulk => "bulk",
        AutomaticKind::Loop => "loop",
    }
}

fn parse_kind(name: &str) -> AutomaticKind {
    match name {
        "bounce" => AutomaticKind::Bounce,
        "complaint" => AutomaticKind::Complaint,
        "auto-reply" => AutomaticKind::AutoReply,
        "list" => AutomaticKind::List,
        "bulk" => AutomaticKind::Bulk,
        "loop" => AutomaticKind::Loop,
        other => panic!("unknown kind {other:?}"),
    }
}

/// One labelled message.
struct Case {
    part: Part,
    /// Where the label comes from (corpus, or "held out").
    source: &'static str,
    name: String,
    raw: Vec<u8>,
    expected: Expected,
}

/// Columns of the confusion matrix: what the classifier said.
const PREDICTED: [&str; 8] = [
    "human",
    "bounce",
    "complaint",
    "auto-reply",
    "list",
    "bulk",
    "loop",
    "unparsed",
];

/// Everything measured over one part.
#[derive(Default)]
struct Tally {
    automatic: usize,
    human: usize,
    either: usize,
    /// Automatic messages found automatic (the base of principle 3).
    found: usize,
    kind_labelled: usize,
    kind_exact: usize,
    kind_class: usize,
    /// (expected row, predicted column) -> count.
    confusion: BTreeMap<(String, &'static str), usize>,
    /// Misses by principle: (message, what happened).
    misses: Vec<(Principle, String, String)>,
    /// Exact-kind mismatches within the right class (reported only).
    same_class: Vec<String>,
    either_seen: Vec<String>,
}

impl Tally {
    fn bar(&self, principle: Principle) -> usize {
        let n = match principle {
            Principle::Loop => return 0,
            Principle::HeldBack => self.human,
            Principle::KindClass => self.found,
        };
        (n as f64 * BOUNDED_ERROR_SHARE).floor() as usize
    }

    fn count(&self, principle: Principle) -> usize {
        self.misses.iter().filter(|m| m.0 == principle).count()
    }
}

fn classify_case(case: &Case, tally: &mut Tally) {
    let verdict = inbound::parse(case.raw.clone())
        .ok()
        .map(|msg| inbound::classify(&msg, &[DESK_ADDRESS]));
    let predicted: &'static str = match &verdict {
        None => "unparsed",
        Some(None) => "human",
        Some(Some(v)) => kind_name(v.kind),
    };
    let said = match &verdict {
        None => "did not parse".to_string(),
        Some(None) => "human".to_string(),
        Some(Some(v)) => format!("{} ({})", kind_name(v.kind), v.reason),
    };
    let row = match &case.expected {
        Expected::Human => "human".to_string(),
        Expected::Automatic { kind: Some(k), .. } => kind_name(*k).to_string(),
        Expected::Automatic { kind: None, .. } => "automatic (any)".to_string(),
        Expected::Either { .. } => "either".to_string(),
    };
    *tally.confusion.entry((row, predicted)).or_default() += 1;
    let name = format!("{}: {}", case.source, case.name);
    match &case.expected {
        Expected::Human => {
            tally.human += 1;
            // A message that does not parse is quarantined: no ticket, no answer.
            if predicted != "human" {
                tally
                    .misses
                    .push((Principle::HeldBack, case.name.clone(), said));
            }
        }
        Expected::Automatic { kind, also } => {
            tally.automatic += 1;
            match &verdict {
                // Quarantined mail is never answered: no loop, and no kind to judge.
                None => {}
                Some(None) => tally
                    .misses
                    .push((Principle::Loop, case.name.clone(), said)),
                Some(Some(v)) => {
                    tally.found += 1;
                    if let Some(kind) = kind {
                        tally.kind_labelled += 1;
                        let exact = v.kind == *kind || also.contains(&v.kind);
                        let same_class = class(v.kind) == class(*kind)
                            || also.iter().any(|k| class(*k) == class(v.kind));
                        tally.kind_exact += usize::from(exact);
                        tally.kind_class += usize::from(same_class);
                        if !same_class {
                            tally.misses.push((
                                Principle::KindClass,
                                case.name.clone(),
                                format!("{said}, labelled {}", kind_name(*kind)),
                            ));
                        } else if !exact {
                            tally
                                .same_class
                                .push(format!("{name}: {said}, labelled {}", kind_name(*kind)));
                        }
                    }
                }
            }
        }
        Expected::Either { not } => {
            tally.either += 1;
            let forbidden = matches!((&verdict, not), (Some(Some(v)), Some(k)) if v.kind == *k);
            if forbidden {
                tally.misses.push((
                    Principle::KindClass,
                    case.name.clone(),
                    format!("{said}, which it is not"),
                ));
            }
            tally.either_seen.push(format!("{name}: {said}"));
        }
    }
}

fn print_part(title: &str, t: &Tally) {
    println!("\n== {title}");
    println!(
        "  {} automatic, {} human, {} either (not measured)",
        t.automatic, t.human, t.either
    );
    println!(
        "  automatic taken for human: {}/{}; human taken for automatic: {}/{}",
        t.count(Principle::Loop),
        t.automatic,
        t.count(Principle::HeldBack),
        t.human
    );
    println!(
        "  kind (where labelled, of those found automatic): exact {}/{}, class {}/{}",
        t.kind_exact, t.kind_labelled, t.kind_class, t.kind_labelled
    );
    println!("  confusion (rows labelled, columns classified):");
    let mut header = format!("    {:<16}", "");
    for p in PREDICTED {
        let _ = write!(header, "{p:>11}");
    }
    println!("{header}");
    let rows: Vec<String> = {
        let mut seen = Vec::new();
        for (row, _) in t.confusion.keys() {
            if !seen.contains(row) {
                seen.push(row.clone());
            }
        }
        seen
    };
    for row in rows {
        let mut line = format!("    {row:<16}");
        for p in PREDICTED {
            let n = t.confusion.get(&(row.clone(), p)).copied().unwrap_or(0);
            let _ = write!(line, "{n:>11}");
        }
        println!("{line}");
    }
    for (principle, name, said) in &t.misses {
        println!("  MISS ({principle:?}) {name}: {said}");
    }
    for s in &t.same_class {
        println!("  kind within the right class: {s}");
    }
    for e in &t.either_seen {
        println!("  either: {e}");
    }
}

/// Checks each bar on a part; returns the failures (gaps named in [`KNOWN_GAPS`] are
/// printed, not failed).
fn check_bars(part: Part, t: &Tally) -> Vec<String> {
    let mut failures = Vec::new();
    for principle in [Principle::Loop, Principle::HeldBack, Principle::KindClass] {
        let bar = t.bar(principle);
        let misses: Vec<&str> = t
            .misses
            .iter()
            .filter(|m| m.0 == principle)
            .map(|m| m.1.as_str())
            .collect();
        let known: Vec<&str> = KNOWN_GAPS
            .iter()
            .filter(|g| g.0 == part && g.2 == principle)
            .map(|g| g.1)
            .collect();
        let holds = misses.len() <= bar;
        println!(
            "  bar {principle:?} on {part:?}: at most {bar}, measured {} -> {}",
            misses.len(),
            if holds {
                "HOLDS"
            } else {
                "NOT MET (gap reported, see KNOWN_GAPS)"
            }
        );
        if holds {
            for k in &known {
                failures.push(format!(
                    "{part:?} {principle:?}: the bar holds now; remove {k} from KNOWN_GAPS"
                ));
            }
            continue;
        }
        for m in &misses {
            if !known.contains(m) {
                failures.push(format!(
                    "{part:?} {principle:?}: {m} misses the bar and is no known gap"
                ));
            }
        }
        for k in &known {
            if !misses.contains(k) {
                failures.push(format!(
                    "{part:?} {principle:?}: {k} no longer misses; remove it from KNOWN_GAPS"
                ));
            }
        }
    }
    failures
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct HeldOutLabels {
    message: Vec<HeldOutLabel>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct HeldOutLabel {
    file: String,
    verdict: String,
    #[serde(default)]
    kind: Option<String>,
    #[serde(default)]
    also: Vec<String>,
    why: String,
}

fn held_out_cases() -> Vec<Case> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/classify_heldout");
    let labels: HeldOutLabels = toml::from_str(
        &fs::read_to_string(dir.join("labels.toml")).expect("classify_heldout/labels.toml"),
    )
    .expect("labels.toml is valid");
    let mut files: Vec<String> = fs::read_dir(&dir)
        .expect("classify_heldout/")
        .filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| n.ends_with(".eml"))
        .collect();
    files.sort();
    let mut labelled: Vec<&str> = labels.message.iter().map(|m| m.file.as_str()).collect();
    labelled.sort();
    assert_eq!(files, labelled, "every held-out message has one label");
    labels
        .message
        .iter()
        .map(|m| {
            assert!(!m.why.trim().is_empty(), "{}: a label says why", m.file);
            let expected = match (m.verdict.as_str(), &m.kind) {
                ("human", None) => Expected::Human,
                ("either", None) => Expected::Either { not: None },
                ("automatic", Some(kind)) => Expected::Automatic {
                    kind: Some(parse_kind(kind)),
                    also: m.also.iter().map(|k| parse_kind(k)).collect(),
                },
                other => panic!("{}: bad verdict/kind {other:?}", m.file),
            };
            Case {
                part: Part::HeldOut,
                source: "held out",
                name: m.file.clone(),
                raw: fs::read(dir.join(&m.file)).expect("held-out message"),
                expected,
            }
        })
        .collect()
}

fn automatic(kind: AutomaticKind) -> Expected {
    Expected::Automatic {
        kind: Some(kind),
        also: Vec::new(),
    }
}

/// The labelled corpora; `None` when they are missing.
fn dev_cases(root: &Path) -> Option<Vec<Case>> {
    let sisimai = root.join("sisimai_set_of_emails");
    let zammad = root.join("zammad_mail");
    let flanker = root.join("mailgun_flanker");
    if !sisimai.is_dir() || !zammad.is_dir() || !flanker.is_dir() {
        return None;
    }
    let read = |path: &Path| fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut cases = Vec::new();

    // sisimai: reason `vacation` = auto-reply, `feedback` = complaint, else a DSN (one
    // row per recipient: one case per message).
    let tsv = fs::read_to_string(sisimai.join("expected_results.tsv")).expect("readable");
    let mut seen = HashSet::new();
    for line in tsv.lines().skip(1) {
        let cols: Vec<&str> = line.split('\t').collect();
        let (Some(file), Some(reason)) = (cols.first(), cols.get(4)) else {
            continue;
        };
        if !seen.insert(file.to_string()) {
            continue;
        }
        let kind = match *reason {
            "vacation" => AutomaticKind::AutoReply,
            "feedback" => AutomaticKind::Complaint,
            _ => AutomaticKind::Bounce,
        };
        cases.push(Case {
            part: Part::Dev,
            source: "sisimai",
            name: file.to_string(),
            raw: read(&sisimai.join(file)),
            expected: automatic(kind),
        });
    }
    for name in ["is-not-bounce-01.eml", "is-not-bounce-02.eml"] {
        cases.push(Case {
            part: Part::Dev,
            source: "sisimai",
            name: format!("maildir/not/{name}"),
            raw: read(&sisimai.join("maildir/not").join(name)),
            expected: Expected::Human,
        });
    }

    // flanker: regular = human; bounces and delay notices are DSNs, ARF reports are
    // complaints, read receipts are auto-replies (the AutoReply kind covers them).
    let v: Value = serde_json::from_str(
        &fs::read_to_string(flanker.join("expectations.json")).expect("readable"),
    )
    .expect("flanker expectations.json is JSON");
    for c in v["classification"].as_array().into_iter().flatten() {
        let (Some(file), Some(kind)) = (c["file"].as_str(), c["kind"].as_str()) else {
            continue;
        };
        let expected = match kind {
            "regular" => Expected::Human,
            "bounce" | "delay_notification" => automatic(AutomaticKind::Bounce),
            "abuse_feedback_report" => automatic(AutomaticKind::Complaint),
            "read_receipt_mdn" => automatic(AutomaticKind::AutoReply),
            other => panic!("flanker {file}: unknown kind {other}"),
        };
        cases.push(Case {
            part: Part::Dev,
            source: "flanker",
            name: file.to_string(),
            raw: read(&flanker.join(file)),
            expected,
        });
    }

    // Zammad: labelled files and the transcribed header cases. ServiceNow and Jira
    // notifications are machine mail that answers nothing of ours: the bulk class
    // (README: they open a ticket that is not answered).
    let manifest: Value =
        serde_json::from_str(&fs::read_to_string(zammad.join("MANIFEST.json")).expect("readable"))
            .expect("MANIFEST.json is JSON");
    for label in manifest["bounce_and_auto_reply_labels"]
        .as_array()
        .into_iter()
        .flatten()
    {
        let (Some(file), Some(kind)) = (label["file"].as_str(), label["kind"].as_str()) else {
            continue;
        };
        let expected = match kind {
            "bounce" | "bounce_without_report" | "dsn_utf7_subject" | "delay_notification" => {
                automatic(AutomaticKind::Bounce)
            }
            "bulk" | "machine_generated" | "machine_generated_followup" => {
                automatic(AutomaticKind::Bulk)
            }
            "not_a_bounce" => Expected::Either {
                not: Some(AutomaticKind::Bounce),
            },
            other => panic!("zammad {file}: unknown label {other}"),
        };
        cases.push(Case {
            part: Part::Dev,
            source: "zammad",
            name: file.to_string(),
            raw: read(&zammad.join(file)),
            expected,
        });
    }
    let synthetic = &manifest["synthetic_auto_reply_cases_from_upstream_specs"]["cases"];
    for (i, case) in synthetic.as_array().into_iter().flatten().enumerate() {
        let subject = case["subject"].as_str().unwrap_or("Lorem ipsum dolor");
        let headers: Vec<&str> = case["headers"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        let expected = if case["out_of_office"].as_bool() == Some(true) {
            automatic(AutomaticKind::AutoReply)
        } else if case["is_auto_response"].as_bool() == Some(true) {
            // The one such case is `Precedence: list`.
            automatic(AutomaticKind::List)
        } else {
            Expected::Human
        };
        let mut raw =
            format!("From: me@example.com\nTo: customer@example.com\nSubject: {subject}\n");
        for header in &headers {
            raw.push_str(header);
            raw.push('\n');
        }
        raw.push_str("\nSome Text\n");
        cases.push(Case {
            part: Part::Dev,
            source: "zammad synthetic",
            name: format!("case {i} {headers:?}"),
            raw: raw.into_bytes(),
            expected,
        });
    }

    // Our reviewed labels (automatic: any kind; ordinary: human; either).
    let review: toml::Value = toml::from_str(
        &fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/corpus_automatic.toml"),
        )
        .expect("tests/fixtures/corpus_automatic.toml"),
    )
    .expect("corpus_automatic.toml is TOML");
    for entry in review["message"].as_array().into_iter().flatten() {
        let file = entry["file"].as_str().expect("file");
        let expected = match entry["label"].as_str().expect("label") {
            "automatic" => Expected::Automatic {
                kind: None,
                also: Vec::new(),
            },
            "ordinary" => Expected::Human,
            "either" => Expected::Either { not: None },
            other => panic!("corpus_automatic.toml: unknown label {other}"),
        };
        let raw = match file.split_once('#') {
            Some((path, n)) => {
                let n: usize = n.parse().expect("mbox message number");
                corpus::split_mbox(&read(&root.join(path)))
                    .into_iter()
                    .nth(n - 1)
                    .unwrap_or_else(|| panic!("{file}: no such mbox message"))
            }
            None => read(&root.join(file)),
        };
        cases.push(Case {
            part: Part::Dev,
            source: "reviewed",
            name: file.to_string(),
            raw,
            expected,
        });
    }
    Some(cases)
}

#[test]
fn classifier_meets_principled_bars_on_dev_and_held_out_mail() {
    let held_out = held_out_cases();
    let root = corpus::corpus_root();
    let dev = dev_cases(&root);
    if dev.is_none() {
        corpus::skip(format!(
            "labelled corpora not found at {} (the held-out part still runs)",
            root.display()
        ));
    }
    let mut tallies: BTreeMap<Part, Tally> = BTreeMap::new();
    for case in dev.iter().flatten().chain(&held_out) {
        classify_case(case, tallies.entry(case.part).or_default());
    }

    println!("{PRINCIPLES}");
    let mut failures = Vec::new();
    for (part, title) in [
        (
            Part::Dev,
            "DEV: labelled corpora the rules were tuned on (../shared/corpus)",
        ),
        (
            Part::HeldOut,
            "HELD OUT: tests/fixtures/classify_heldout (never tuned on)",
        ),
    ] {
        let Some(t) = tallies.get(&part) else {
            continue;
        };
        print_part(title, t);
        failures.extend(check_bars(part, t));
    }

    // The sets are what they claim to be: a moved or half-read corpus fails.
    let held = &tallies[&Part::HeldOut];
    assert!(
        held.automatic >= 40 && held.human >= 15,
        "held-out set too small: {} automatic, {} human",
        held.automatic,
        held.human
    );
    if let Some(dev) = tallies.get(&Part::Dev) {
        assert!(
            dev.automatic >= 450,
            "only {} labelled automatic corpus messages",
            dev.automatic
        );
    }
    assert!(failures.is_empty(), "bars missed: {failures:#?}");
}
