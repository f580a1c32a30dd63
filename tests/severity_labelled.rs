//! Severity rules (impact x urgency -> priority, `desk::severity` via `desk::triage`)
//! measured against the labelled requests in `tests/fixtures/severity/` (labelling
//! policy: its README.md). Two parts, read at test time:
//!
//! - `dev.toml`: the development part; the rules were tuned on it. Its figures are
//!   printed with every miss (id, expected, got, the deciding words).
//! - `heldout.toml`: the held-out part, never read while writing rules. Only aggregate
//!   figures are printed (never ids or texts), with issue 16's bar: P1 recall >= 0.9
//!   (a missed P1 means no alert and a late clock) and false P1s at most 5% of the
//!   non-P1 cases (alerts that cry wolf get ignored). The rules do not meet it yet
//!   (run 5: 0.895 and 0.045): the test prints "NOT MET" and asserts the measured level as a
//!   floor, so nothing goes back; the issue stays open.
//!
//! Figures per part: P1 recall, false P1s / non-P1 cases, exact priority accuracy,
//! impact and urgency accuracy, and the priority confusion matrix.
//!
//! The triage configuration is the shipped default's `[triage] systems` (no VIPs, no
//! domain floors), so the figures are those of the matrix and the text rules alone.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;
use ticketpost::desk::Priority;
use ticketpost::desk::intake::IntakeRules;
use ticketpost::desk::severity::Level;
use ticketpost::desk::triage::{Triage, TriageConfig, triage};

const MIN_P1_RECALL: f64 = 0.9;
const MAX_FALSE_P1_SHARE: f64 = 0.05;

#[derive(Deserialize)]
struct Part {
    request: Vec<Request>,
}

#[derive(Deserialize)]
struct Request {
    id: String,
    subject: String,
    body: String,
    impact: String,
    urgency: String,
    priority: String,
}

#[derive(Default)]
struct Figures {
    cases: usize,
    p1: usize,
    p1_found: usize,
    non_p1: usize,
    false_p1: usize,
    priority_right: usize,
    impact_right: usize,
    urgency_right: usize,
    /// (expected, got) -> count
    confusion: BTreeMap<(Priority, Priority), usize>,
    /// id, expected, got, reasons: kept only for the dev part.
    misses: Vec<String>,
}

fn ratio(a: usize, b: usize) -> f64 {
    if b == 0 { 0.0 } else { a as f64 / b as f64 }
}

impl Figures {
    fn p1_recall(&self) -> f64 {
        ratio(self.p1_found, self.p1)
    }
    fn false_p1_share(&self) -> f64 {
        ratio(self.false_p1, self.non_p1)
    }

    fn print(&self, name: &str) {
        println!("== {name}: {} requests", self.cases);
        println!(
            "P1 recall {:.3} ({}/{}); false P1s {}/{} non-P1 ({:.3})",
            self.p1_recall(),
            self.p1_found,
            self.p1,
            self.false_p1,
            self.non_p1,
            self.false_p1_share()
        );
        println!(
            "priority exact {:.3} ({}/{}); impact {:.3}; urgency {:.3}",
            ratio(self.priority_right, self.cases),
            self.priority_right,
            self.cases,
            ratio(self.impact_right, self.cases),
            ratio(self.urgency_right, self.cases)
        );
        println!("confusion (rows expected, columns got):\n      P1  P2  P3  P4");
        for e in Priority::ALL {
            let row: Vec<String> = Priority::ALL
                .iter()
                .map(|g| format!("{:>3}", self.confusion.get(&(e, *g)).unwrap_or(&0)))
                .collect();
            println!("  {e} {}", row.join(" "));
        }
    }
}

fn parse_level(s: &str, id: &str) -> Level {
    s.parse()
        .unwrap_or_else(|e| panic!("request {id}: level: {e}"))
}

fn measure(file: &str, keep_misses: bool) -> Figures {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/severity")
        .join(file);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let part: Part = toml::from_str(&text).unwrap_or_else(|e| panic!("{file}: {e}"));
    let cfg = TriageConfig::with_systems(&["mail", "email", "ERP", "VPN", "SAP", "OA"]);
    let rules = IntakeRules::built_in();
    let mut f = Figures::default();
    for r in &part.request {
        let expected: Priority = r
            .priority
            .parse()
            .unwrap_or_else(|e| panic!("request {}: {e}", r.id));
        let t: Triage = triage(
            rules,
            &cfg,
            "Requester <req@example.test>",
            &r.subject,
            &r.body,
        );
        f.cases += 1;
        *f.confusion.entry((expected, t.priority)).or_default() += 1;
        f.priority_right += usize::from(t.priority == expected);
        f.impact_right += usize::from(t.severity.impact.level == parse_level(&r.impact, &r.id));
        f.urgency_right += usize::from(t.severity.urgency.level == parse_level(&r.urgency, &r.id));
        if expected == Priority::P1 {
            f.p1 += 1;
            f.p1_found += usize::from(t.priority == Priority::P1);
        } else {
            f.non_p1 += 1;
            f.false_p1 += usize::from(t.priority == Priority::P1);
        }
        if keep_misses && t.priority != expected {
            f.misses.push(format!(
                "{}: expected {} ({}/{}), got {} -- {}",
                r.id,
                expected,
                r.impact,
                r.urgency,
                t.priority,
                t.reasons.join("; ")
            ));
        }
    }
    assert!(f.cases >= 100, "{file}: only {} requests", f.cases);
    f
}

/// Measures dev parts (the rules were tuned on them), prints each with its misses, then
/// asserts the held-out bars on each: all are printed before any is asserted, so one
/// failing does not hide the others' figures.
fn dev_parts_meet_the_bar(parts: &[(&str, &str)]) {
    let measured: Vec<(&str, Figures)> = parts
        .iter()
        .map(|(file, name)| (*name, measure(file, true)))
        .collect();
    for (name, f) in &measured {
        f.print(name);
        println!("misses:");
        for m in &f.misses {
            println!("  {m}");
        }
    }
    for (name, f) in &measured {
        assert!(
            f.p1_recall() >= MIN_P1_RECALL,
            "{name} P1 recall {:.3}",
            f.p1_recall()
        );
        assert!(
            f.false_p1_share() <= MAX_FALSE_P1_SHARE,
            "{name} false P1 share {:.3}",
            f.false_p1_share()
        );
    }
}

#[test]
fn dev_part_figures_and_misses() {
    // The part the rules were tuned on: the held-out bars hold here too.
    dev_parts_meet_the_bar(&[("dev.toml", "dev")]);
}

#[test]
fn second_dev_part_figures_and_misses() {
    // Written apart from the first dev part, by another writer, after the first rules:
    // measured before any tuning on it (see README "Severity"), then tuned on.
    dev_parts_meet_the_bar(&[("dev2.toml", "dev2")]);
}

#[test]
fn third_dev_parts_figures_and_misses() {
    // Written apart by two more writers, who saw only the labelling guide: measured
    // before any tuning on them (dev3a P1 recall 0.745, false P1s 7/85; dev3b 0.480,
    // 10/87), then used to find general reasons for the misses (not their wording).
    dev_parts_meet_the_bar(&[("dev3b.toml", "dev3b"), ("dev3a.toml", "dev3a")]);
}

#[test]
fn fourth_dev_parts_figures_and_misses() {
    // Written apart by two more writers, who saw only the labelling guide: measured
    // before any tuning on them (dev4a P1 recall 0.722 (39/54), false P1s 4/87;
    // dev4b 0.755 (40/53), 5/87), then used to find general reasons for the
    // misses (not their wording).
    dev_parts_meet_the_bar(&[("dev4a.toml", "dev4a"), ("dev4b.toml", "dev4b")]);
}

#[test]
fn held_out_part_figures_against_the_issue_bar() {
    let f = measure("heldout.toml", false);
    assert!(f.misses.is_empty());
    f.print("held-out (aggregate figures only)");
    let meets = f.p1_recall() >= MIN_P1_RECALL && f.false_p1_share() <= MAX_FALSE_P1_SHARE;
    println!(
        "issue 16's bar (P1 recall >= {MIN_P1_RECALL}, false P1s <= {MAX_FALSE_P1_SHARE}): {}",
        if meets { "met" } else { "NOT MET" }
    );
    // The issue's bar, asserted (met since run 6: recall 35/38 = 0.921, false P1s 2/67
    // = 0.030; runs 1-5 were 0.553, 0.579, 0.816, 0.816, 0.895).
    assert!(
        f.p1_recall() >= MIN_P1_RECALL,
        "held-out P1 recall {:.3} is below the bar {MIN_P1_RECALL}",
        f.p1_recall()
    );
    assert!(
        f.false_p1_share() <= MAX_FALSE_P1_SHARE,
        "held-out false P1s {:.3} are above the bar {MAX_FALSE_P1_SHARE}",
        f.false_p1_share()
    );
}
