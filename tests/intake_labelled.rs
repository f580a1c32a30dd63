//! Intake fact detection, triage and language detection measured against a labelled set
//! of requests (`tests/fixtures/intake/requests.toml`, labelled by hand before the rules
//! were tuned; its header gives the labelling conventions).
//!
//! Printed: precision and recall of missing-fact detection per fact and overall (a fact
//! is "predicted missing" when it is not found; missing is the positive class, since a
//! missing fact is what the acknowledgement asks for), priority accuracy with a confusion
//! matrix, language accuracy, and every disagreement. Figures are printed for all
//! requests, the tuning group, the held-out group and the fresh group.
//!
//! Asserted: the overall floor on all requests, and on the held-out group (never
//! looked at while tuning) bars that follow from stated principles ([`HELD_OUT_BARS`],
//! printed with the figures): the floor must hold on requests the rules never saw (the
//! overall figure is flattered by the tuning group); a missed urgent path is worse than
//! a false alarm, so no P1 request may be triaged lower, and no request may be triaged
//! less urgent than labelled (its SLA clock would run late); and an acknowledgement in
//! the wrong language is unreadable to the requester, so every language must be right.
//! The fresh group's figures against the same bars are printed, not asserted.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde::Deserialize;
use ticketpost::desk::Priority;
use ticketpost::desk::intake::{Fact, IntakeRules, find_facts};
use ticketpost::desk::language::detect_language;
use ticketpost::desk::triage::{TriageConfig, triage};

/// Overall missing-fact precision and recall, and priority accuracy, must reach this.
const FLOOR: f64 = 0.85;
const MIN_REQUESTS: usize = 60;
const MIN_HELD_OUT: usize = 15;

/// The principles behind the held-out bars, printed with the figures.
const HELD_OUT_BARS: &str = "\
held-out bars and their principles:
  missing-fact precision and recall >= FLOOR: the floor must hold on requests the rules never saw
  P1 triaged lower = 0: a missed urgent path (no alert, a 1 h clock) is worse than a false alarm
  triaged less urgent than labelled = 0: an under-triaged ticket's SLA clock runs late
  priority accuracy >= FLOOR: the floor on unseen requests
  language wrong = 0: an acknowledgement in the wrong language cannot be read";

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Fixture {
    config: ConfigSpec,
    request: Vec<Request>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigSpec {
    systems: Vec<String>,
    vip_senders: Vec<String>,
    domain_priorities: Vec<DomainPriority>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DomainPriority {
    domain: String,
    priority: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Request {
    id: String,
    group: String,
    language: String,
    sender: String,
    subject: String,
    body: String,
    #[serde(default)]
    attachments: Vec<String>,
    present: Vec<String>,
    priority: String,
}

/// Missing-fact counts: true positive = rightly reported missing.
#[derive(Default, Clone, Copy)]
struct Counts {
    tp: usize,
    fp: usize,
    fn_: usize,
    tn: usize,
}

impl Counts {
    fn add(&mut self, expected_missing: bool, predicted_missing: bool) {
        match (expected_missing, predicted_missing) {
            (true, true) => self.tp += 1,
            (false, true) => self.fp += 1,
            (true, false) => self.fn_ += 1,
            (false, false) => self.tn += 1,
        }
    }
    fn precision(self) -> f64 {
        ratio(self.tp, self.tp + self.fp)
    }
    fn recall(self) -> f64 {
        ratio(self.tp, self.tp + self.fn_)
    }
    fn merge(&mut self, o: Counts) {
        self.tp += o.tp;
        self.fp += o.fp;
        self.fn_ += o.fn_;
        self.tn += o.tn;
    }
}

/// `n / d`, 1.0 when there is nothing to measure.
fn ratio(n: usize, d: usize) -> f64 {
    if d == 0 { 1.0 } else { n as f64 / d as f64 }
}

/// Everything measured over one group of requests.
#[derive(Default)]
struct Tally {
    requests: usize,
    facts: BTreeMap<Fact, Counts>,
    priority_right: usize,
    /// (expected, predicted) -> count
    confusion: BTreeMap<(Priority, Priority), usize>,
    language_right: usize,
}

impl Tally {
    fn overall(&self) -> Counts {
        let mut all = Counts::default();
        for c in self.facts.values() {
            all.merge(*c);
        }
        all
    }
    fn priority_accuracy(&self) -> f64 {
        ratio(self.priority_right, self.requests)
    }
    fn language_accuracy(&self) -> f64 {
        ratio(self.language_right, self.requests)
    }
    /// Requests labelled P1 triaged lower.
    fn p1_missed(&self) -> usize {
        self.confusion
            .iter()
            .filter(|((e, p), _)| *e == Priority::P1 && *p != Priority::P1)
            .map(|(_, n)| n)
            .sum()
    }
    /// Requests triaged less urgent than labelled (P1 is the most urgent).
    fn under_triaged(&self) -> usize {
        self.confusion
            .iter()
            .filter(|((e, p), _)| p > e)
            .map(|(_, n)| n)
            .sum()
    }

    /// The held-out bars on this group: (what was measured against which bar, holds).
    fn bars(&self) -> Vec<(String, bool)> {
        let c = self.overall();
        let wrong_language = self.requests - self.language_right;
        vec![
            (
                format!("missing-fact precision {:.3} >= {FLOOR}", c.precision()),
                c.precision() >= FLOOR,
            ),
            (
                format!("missing-fact recall {:.3} >= {FLOOR}", c.recall()),
                c.recall() >= FLOOR,
            ),
            (
                format!("P1 triaged lower {} = 0", self.p1_missed()),
                self.p1_missed() == 0,
            ),
            (
                format!(
                    "triaged less urgent than labelled {} = 0",
                    self.under_triaged()
                ),
                self.under_triaged() == 0,
            ),
            (
                format!(
                    "priority accuracy {:.3} >= {FLOOR}",
                    self.priority_accuracy()
                ),
                self.priority_accuracy() >= FLOOR,
            ),
            (
                format!("language wrong {wrong_language} = 0"),
                wrong_language == 0,
            ),
        ]
    }

    fn print(&self, title: &str) {
        println!("\n== {title}: {} requests", self.requests);
        println!(
            "missing-fact detection     {:>4} {:>4} {:>4} {:>4}  precision  recall",
            "tp", "fp", "fn", "tn"
        );
        let rows = Fact::ALL
            .iter()
            .map(|f| (f.as_str(), self.facts.get(f).copied().unwrap_or_default()))
            .chain(std::iter::once(("OVERALL", self.overall())));
        for (name, c) in rows {
            println!(
                "  {name:<24} {:>4} {:>4} {:>4} {:>4}  {:>9.3}  {:>6.3}",
                c.tp,
                c.fp,
                c.fn_,
                c.tn,
                c.precision(),
                c.recall()
            );
        }
        println!(
            "priority accuracy {:.3} ({}/{}); rows expected, columns predicted:",
            self.priority_accuracy(),
            self.priority_right,
            self.requests
        );
        println!(
            "        {}",
            Priority::ALL.map(|p| format!("{p:>4}")).join("")
        );
        for e in Priority::ALL {
            let cells = Priority::ALL
                .map(|p| format!("{:>4}", self.confusion.get(&(e, p)).copied().unwrap_or(0)))
                .join("");
            println!("    {e:<4}{cells}");
        }
        println!(
            "language accuracy {:.3} ({}/{})",
            self.language_accuracy(),
            self.language_right,
            self.requests
        );
    }
}

fn load() -> Fixture {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/intake/requests.toml");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    toml::from_str(&text).unwrap_or_else(|e| panic!("parsing {}: {e}", path.display()))
}

fn parse_priority(s: &str, id: &str) -> Priority {
    s.parse()
        .unwrap_or_else(|e| panic!("request {id}: priority: {e}"))
}

#[test]
fn labelled_intake_requests() {
    let fixture = load();
    let rules = IntakeRules::built_in();
    let cfg = TriageConfig {
        vip_senders: fixture.config.vip_senders.clone(),
        domain_priorities: fixture
            .config
            .domain_priorities
            .iter()
            .map(|d| (d.domain.clone(), parse_priority(&d.priority, "config")))
            .collect(),
        ..TriageConfig::with_systems(&fixture.config.systems)
    };

    let mut ids = BTreeSet::new();
    let mut tallies: BTreeMap<&str, Tally> = BTreeMap::new();
    let mut disagreements = Vec::new();
    for r in &fixture.request {
        assert!(ids.insert(r.id.as_str()), "duplicate request id {}", r.id);
        assert!(
            ["tune", "heldout", "fresh"].contains(&r.group.as_str()),
            "request {}: group must be tune, heldout or fresh",
            r.id
        );
        let expected_present: BTreeSet<Fact> = r
            .present
            .iter()
            .map(|f| {
                f.parse()
                    .unwrap_or_else(|e| panic!("request {}: {e}", r.id))
            })
            .collect();
        let expected_priority = parse_priority(&r.priority, &r.id);
        let attachments: Vec<&str> = r.attachments.iter().map(String::as_str).collect();

        let found = find_facts(rules, &r.subject, &r.body, &attachments);
        let decided = triage(rules, &cfg, &r.sender, &r.subject, &r.body);
        let language = detect_language(&r.subject, &r.body);

        for group in ["all", r.group.as_str()] {
            let tally = tallies.entry(group).or_default();
            tally.requests += 1;
            for fact in Fact::ALL {
                let predicted_missing = !found.iter().any(|f| f.fact == fact);
                tally
                    .facts
                    .entry(fact)
                    .or_default()
                    .add(!expected_present.contains(&fact), predicted_missing);
            }
            *tally
                .confusion
                .entry((expected_priority, decided.priority))
                .or_default() += 1;
            tally.priority_right += usize::from(decided.priority == expected_priority);
            tally.language_right += usize::from(language == r.language);
        }

        for fact in Fact::ALL {
            let hit = found.iter().find(|f| f.fact == fact);
            match (expected_present.contains(&fact), hit) {
                (true, None) => {
                    disagreements.push(format!("[{}] {}: {fact} not found", r.group, r.id))
                }
                (false, Some(f)) => disagreements.push(format!(
                    "[{}] {}: {fact} found in {:?}, labelled missing",
                    r.group, r.id, f.evidence
                )),
                _ => {}
            }
        }
        if decided.priority != expected_priority {
            disagreements.push(format!(
                "[{}] {}: priority {} expected {} ({})",
                r.group,
                r.id,
                decided.priority,
                expected_priority,
                decided.reasons.join("; ")
            ));
        }
        if language != r.language {
            disagreements.push(format!(
                "[{}] {}: language {language} expected {}",
                r.group, r.id, r.language
            ));
        }
    }

    println!("\ndisagreements ({}):", disagreements.len());
    for d in &disagreements {
        println!("  {d}");
    }
    let empty = Tally::default();
    let all = tallies.get("all").unwrap_or(&empty);
    let held_out = tallies.get("heldout").unwrap_or(&empty);
    all.print("ALL");
    tallies.get("tune").unwrap_or(&empty).print("TUNE");
    held_out.print("HELD OUT (written before the rules, not tuned on)");
    tallies
        .get("fresh")
        .unwrap_or(&empty)
        .print("FRESH (written after the rules were frozen, not tuned on)");

    assert!(
        all.requests >= MIN_REQUESTS,
        "only {} labelled requests",
        all.requests
    );
    assert!(
        held_out.requests >= MIN_HELD_OUT,
        "only {} held-out requests",
        held_out.requests
    );
    println!("\n{HELD_OUT_BARS}");
    let fresh = tallies.get("fresh").unwrap_or(&empty);
    for (what, holds) in fresh.bars() {
        println!(
            "  fresh (reported, not asserted): {what}: {}",
            if holds { "holds" } else { "NOT MET" }
        );
    }
    let held_out_bars = held_out.bars();
    for (what, holds) in &held_out_bars {
        println!(
            "  held out: {what}: {}",
            if *holds { "HOLDS" } else { "NOT MET" }
        );
    }
    // Issue 16 (severity as impact x urgency): this set's priority labels follow the old
    // keyword policy (config/intake.toml header: one person's problem is P3 by default,
    // "no rush" is P4, wide + outage is P1). The new policy
    // (tests/fixtures/severity/README.md) differs by class: one person with no stated
    // urgency is P4 (low x low), one person whose work stopped is P3, a hedge is taken
    // at its word even on a business system. Priorities here are therefore reported,
    // not asserted; the priority bars are asserted by tests/severity_labelled.rs on its
    // own held-out part. The fact and language bars are still asserted.
    let missed: Vec<&String> = held_out_bars
        .iter()
        .filter(|(what, _)| {
            !what.contains("P1") && !what.contains("triaged") && !what.contains("priority")
        })
        .filter(|(_, holds)| !holds)
        .map(|(what, _)| what)
        .collect();
    assert!(missed.is_empty(), "held-out bars missed: {missed:?}");

    let overall = all.overall();
    assert!(
        overall.precision() >= FLOOR,
        "missing-fact precision {:.3} < {FLOOR}",
        overall.precision()
    );
    assert!(
        overall.recall() >= FLOOR,
        "missing-fact recall {:.3} < {FLOOR}",
        overall.recall()
    );
    println!(
        "priority accuracy against the old labels (reported, not asserted; see above): {:.3}",
        all.priority_accuracy()
    );
}
