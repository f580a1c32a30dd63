//! Intake facts: which of the facts support needs at first contact (device, operating
//! system, program version, error text, when it started, what was tried) a new request
//! already gives, and the plain-words question to ask for each one it leaves out.
//!
//! The rules are data, not code: `config/intake.toml` (embedded, see [`IntakeRules::built_in`])
//! or a replacement of the same shape that the caller reads and hands in as text. Its
//! header documents the format. The same file carries the triage vocabulary; this module
//! compiles it and `desk::triage` applies it. Reading files, choosing the file and
//! deciding when to ask are the caller's business.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;
use std::sync::LazyLock;

use regex::{Regex, RegexBuilder};
use regex_automata::nfa::thompson::WhichCaptures;
use regex_automata::util::syntax;
use regex_automata::{Anchored, Input, PatternID, meta};
use serde::Deserialize;

/// The embedded default rules.
const BUILT_IN: &str = include_str!("../../config/intake.toml");

/// Longest evidence kept per finding, in characters.
const EVIDENCE_CHARS: usize = 120;

/// How much of a body is searched, in bytes: the facts of a request are near its top,
/// and a pasted log of megabytes must not cost megabytes of matching per pattern.
pub(crate) const SCAN_BYTES: usize = 64 * 1024;

/// One fact support needs at intake.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Fact {
    Device,
    OsVersion,
    SoftwareVersion,
    ErrorText,
    Started,
    Tried,
}

impl Fact {
    pub const ALL: [Fact; 6] = [
        Fact::Device,
        Fact::OsVersion,
        Fact::SoftwareVersion,
        Fact::ErrorText,
        Fact::Started,
        Fact::Tried,
    ];

    /// The spelling in the rules file and in stored data.
    pub fn as_str(self) -> &'static str {
        match self {
            Fact::Device => "device",
            Fact::OsVersion => "os_version",
            Fact::SoftwareVersion => "software_version",
            Fact::ErrorText => "error_text",
            Fact::Started => "started",
            Fact::Tried => "tried",
        }
    }

    /// The fact in words, for people (timelines, agent notes).
    pub fn label(self) -> &'static str {
        match self {
            Fact::Device => "device",
            Fact::OsVersion => "operating system and version",
            Fact::SoftwareVersion => "program and its version",
            Fact::ErrorText => "exact error message",
            Fact::Started => "when it started and how often",
            Fact::Tried => "what was already tried",
        }
    }
}

impl fmt::Display for Fact {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Fact {
    type Err = String;

    /// The `as_str` spelling, any case; the error lists the valid values.
    fn from_str(s: &str) -> Result<Fact, String> {
        Fact::ALL
            .into_iter()
            .find(|f| f.as_str().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| {
                format!(
                    "unknown fact {s:?} (use device, os_version, software_version, error_text, started or tried)"
                )
            })
    }
}

/// A fact the request gives, with the text that shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FactFinding {
    pub fact: Fact,
    /// The matched text (or attachment name), at most 120 characters.
    pub evidence: String,
}

// ---------------------------------------------------------------- the file's shape

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct MatcherSpec {
    #[serde(default)]
    keywords: Vec<String>,
    #[serde(default)]
    patterns: Vec<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct NegatableSpec {
    #[serde(default)]
    keywords: Vec<String>,
    #[serde(default)]
    patterns: Vec<String>,
    #[serde(default)]
    negations: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FactSpec {
    #[serde(default)]
    keywords: Vec<String>,
    #[serde(default)]
    patterns: Vec<String>,
    #[serde(default)]
    attachment_patterns: Vec<String>,
    question_en: String,
    question_zh: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct TriageSpec {
    #[serde(default)]
    scope: NegatableSpec,
    #[serde(default)]
    narrow: MatcherSpec,
    #[serde(default)]
    outage: NegatableSpec,
    #[serde(default)]
    low_urgency: MatcherSpec,
    #[serde(default)]
    system_aliases: BTreeMap<String, Vec<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RulesFile {
    #[serde(default)]
    ignore: MatcherSpec,
    facts: BTreeMap<String, FactSpec>,
    #[serde(default)]
    triage: TriageSpec,
}

// ---------------------------------------------------------------- compiled

/// A compiled keyword list plus patterns: finds the earliest match among them. All of
/// them are compiled into one multi-pattern regex, so a text is read once per matcher
/// rather than once per pattern (a third of the time for the built-in rules).
#[derive(Debug, Clone, Default)]
pub(crate) struct Matcher {
    /// The keyword list (pattern 0 when there are keywords), then each pattern; `None`
    /// when the matcher is empty.
    any: Option<meta::Regex>,
}

impl Matcher {
    fn compile(key: &str, keywords: &[String], patterns: &[String]) -> Result<Matcher, String> {
        // (where it came from, for errors; the regex)
        let mut sources = Vec::with_capacity(patterns.len() + 1);
        if !keywords.is_empty() {
            let mut alternatives = Vec::with_capacity(keywords.len());
            for (i, keyword) in keywords.iter().enumerate() {
                let alternative = keyword_regex(keyword)
                    .ok_or_else(|| format!("{key}.keywords[{i}]: empty keyword"))?;
                alternatives.push((keyword.trim().chars().count(), alternative));
            }
            // Longest first, so the evidence is the longest phrase at a position.
            alternatives.sort_by_key(|a| std::cmp::Reverse(a.0));
            let joined = alternatives
                .into_iter()
                .map(|(_, a)| a)
                .collect::<Vec<_>>()
                .join("|");
            sources.push((format!("{key}.keywords"), joined));
        }
        for (i, pattern) in patterns.iter().enumerate() {
            sources.push((format!("{key}.patterns[{i}]"), pattern.clone()));
        }
        if sources.is_empty() {
            return Ok(Matcher { any: None });
        }
        let any = meta::Regex::builder()
            .syntax(syntax::Config::new().case_insensitive(true))
            .configure(meta::Config::new().which_captures(WhichCaptures::Implicit))
            .build_many(&sources.iter().map(|(_, re)| re).collect::<Vec<_>>())
            .map_err(|e| {
                // Name the one at fault: compile them one by one (only when one fails).
                sources
                    .iter()
                    .find_map(|(at, re)| build(re).err().map(|e| format!("{at}: {e}")))
                    .unwrap_or_else(|| format!("{key}: {e}"))
            })?;
        Ok(Matcher { any: Some(any) })
    }

    /// The earliest match in `text`, if any.
    pub(crate) fn first<'t>(&self, text: &'t str) -> Option<&'t str> {
        self.first_unnegated(text, &[])
    }

    /// The earliest match in `text` that does not directly follow one of `negations`
    /// ("not everyone", "不是所有人"); of the matches starting there, the longest.
    pub(crate) fn first_unnegated<'t>(
        &self,
        text: &'t str,
        negations: &[String],
    ) -> Option<&'t str> {
        let any = self.any.as_ref()?;
        let mut from = 0;
        while from <= text.len() {
            let found = any.search(&Input::new(text).range(from..))?;
            let start = found.start();
            if negated(&text[..start], negations) {
                from = start + text[start..].chars().next().map_or(1, char::len_utf8);
                continue;
            }
            let end = (0..any.pattern_len())
                .filter_map(|p| PatternID::new(p).ok())
                .filter_map(|p| {
                    let at = Input::new(text)
                        .range(start..)
                        .anchored(Anchored::Pattern(p));
                    any.search(&at)
                })
                .map(|m| m.end())
                .fold(found.end(), usize::max);
            return Some(&text[start..end]);
        }
        None
    }

    /// Blanks every match out of `text` (one space per match).
    fn blank(&self, text: &str) -> String {
        let Some(any) = &self.any else {
            return text.to_string();
        };
        let mut out = String::with_capacity(text.len());
        let mut kept = 0;
        for m in any.find_iter(text) {
            out.push_str(&text[kept..m.start()]);
            out.push(' ');
            kept = m.end();
        }
        out.push_str(&text[kept..]);
        out
    }
}

/// The regex for one literal keyword: whole word at Latin ends, white space runs and
/// curly apostrophes tolerated. `None` for an empty keyword.
fn keyword_regex(keyword: &str) -> Option<String> {
    let keyword = keyword.trim();
    let first = keyword.chars().next()?;
    let last = keyword.chars().last()?;
    let mut out = String::new();
    if first.is_ascii_alphanumeric() {
        out.push_str(r"(?-u:\b)");
    }
    let mut in_space = false;
    for c in keyword.chars() {
        if c.is_whitespace() {
            if !in_space {
                out.push_str(r"\s+");
            }
            in_space = true;
            continue;
        }
        in_space = false;
        match c {
            '\'' | '’' => out.push_str("['’]"),
            _ => out.push_str(&regex::escape(c.encode_utf8(&mut [0; 4]))),
        }
    }
    if last.is_ascii_alphanumeric() {
        out.push_str(r"(?-u:\b)");
    }
    Some(out)
}

fn build(pattern: &str) -> Result<Regex, regex::Error> {
    RegexBuilder::new(pattern).case_insensitive(true).build()
}

/// Whether `before` (the text ahead of a match) ends with one of `negations`, allowing
/// white space between. A Latin negation must start a word ("cannot" is not "not").
fn negated(before: &str, negations: &[String]) -> bool {
    if negations.is_empty() {
        return false;
    }
    let before = before.trim_end();
    let tail: String = {
        let start = before.char_indices().rev().nth(15).map_or(0, |(i, _)| i);
        before[start..].replace('’', "'").to_lowercase()
    };
    negations.iter().any(|n| {
        let n = n.trim().to_lowercase();
        if n.is_empty() || !tail.ends_with(&n) {
            return false;
        }
        let head = &tail[..tail.len() - n.len()];
        let starts_latin = n.chars().next().is_some_and(|c| c.is_ascii_alphanumeric());
        !(starts_latin
            && head
                .chars()
                .last()
                .is_some_and(|c| c.is_ascii_alphanumeric()))
    })
}

#[derive(Debug, Clone)]
struct FactRules {
    text: Matcher,
    attachments: Vec<Regex>,
    question_en: String,
    question_zh: String,
}

/// The compiled triage vocabulary; `desk::triage` applies it.
#[derive(Debug, Clone, Default)]
pub(crate) struct TriageWords {
    pub(crate) narrow: Matcher,
    pub(crate) outage: Matcher,
    pub(crate) outage_negations: Vec<String>,
    pub(crate) low_urgency: Matcher,
    /// (system name, words that also name it)
    pub(crate) system_aliases: Vec<(String, Vec<String>)>,
}

/// The intake and triage rules, compiled once.
#[derive(Debug, Clone)]
pub struct IntakeRules {
    ignore: Matcher,
    /// Indexed by position in `Fact::ALL`.
    facts: Vec<FactRules>,
    triage: TriageWords,
}

static BUILT_IN_RULES: LazyLock<IntakeRules> = LazyLock::new(|| {
    IntakeRules::from_toml(BUILT_IN).expect("config/intake.toml is valid (unit-tested)")
});

impl IntakeRules {
    /// Parses and compiles a rules file. The error names the key at fault, e.g.
    /// `facts.device.patterns[2]: regex parse error ...`.
    pub fn from_toml(text: &str) -> Result<IntakeRules, String> {
        let file: RulesFile = toml::from_str(text).map_err(|e| format!("intake rules: {e}"))?;
        for name in file.facts.keys() {
            name.parse::<Fact>()
                .map_err(|e| format!("facts.{name}: {e}"))?;
        }
        let mut facts = Vec::with_capacity(Fact::ALL.len());
        for fact in Fact::ALL {
            let key = format!("facts.{}", fact.as_str());
            let spec = file.facts.get(fact.as_str()).ok_or_else(|| {
                format!("{key}: missing (every fact needs its rules and questions)")
            })?;
            for (field, q) in [
                ("question_en", &spec.question_en),
                ("question_zh", &spec.question_zh),
            ] {
                if q.trim().is_empty() {
                    return Err(format!("{key}.{field}: empty"));
                }
            }
            let text = Matcher::compile(&key, &spec.keywords, &spec.patterns)?;
            let attachments = spec
                .attachment_patterns
                .iter()
                .enumerate()
                .map(|(i, p)| build(p).map_err(|e| format!("{key}.attachment_patterns[{i}]: {e}")))
                .collect::<Result<Vec<_>, _>>()?;
            facts.push(FactRules {
                text,
                attachments,
                question_en: spec.question_en.trim().to_string(),
                question_zh: spec.question_zh.trim().to_string(),
            });
        }
        let ignore = Matcher::compile("ignore", &file.ignore.keywords, &file.ignore.patterns)?;
        let t = &file.triage;
        // Scope words are checked (a rules file stays valid) but no longer used: the
        // severity rules read breadth with their own cues (`desk::severity`).
        Matcher::compile("triage.scope", &t.scope.keywords, &t.scope.patterns)?;
        let triage = TriageWords {
            narrow: Matcher::compile("triage.narrow", &t.narrow.keywords, &t.narrow.patterns)?,
            outage: Matcher::compile("triage.outage", &t.outage.keywords, &t.outage.patterns)?,
            outage_negations: t.outage.negations.clone(),
            low_urgency: Matcher::compile(
                "triage.low_urgency",
                &t.low_urgency.keywords,
                &t.low_urgency.patterns,
            )?,
            system_aliases: t
                .system_aliases
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        };
        Ok(IntakeRules {
            ignore,
            facts,
            triage,
        })
    }

    /// The embedded `config/intake.toml`, compiled on first use.
    pub fn built_in() -> &'static IntakeRules {
        &BUILT_IN_RULES
    }

    /// The question asking for `fact`, in `language` ("zh..." gives Chinese, anything
    /// else English).
    pub fn question(&self, fact: Fact, language: &str) -> &str {
        let Some(rules) = self.fact_rules(fact) else {
            return "";
        };
        if language.trim().to_ascii_lowercase().starts_with("zh") {
            &rules.question_zh
        } else {
            &rules.question_en
        }
    }

    fn fact_rules(&self, fact: Fact) -> Option<&FactRules> {
        let index = Fact::ALL.iter().position(|f| *f == fact)?;
        self.facts.get(index)
    }

    pub(crate) fn triage_words(&self) -> &TriageWords {
        &self.triage
    }

    /// `text` cut to the scanned size, with signatures, tags and entities blanked.
    pub(crate) fn clean(&self, text: &str) -> String {
        self.ignore.blank(head(text, SCAN_BYTES))
    }
}

/// At most `max` bytes of `text`, cut at a character boundary.
pub(crate) fn head(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

fn evidence(text: &str) -> String {
    let text = text.trim();
    match text.char_indices().nth(EVIDENCE_CHARS) {
        Some((i, _)) => text[..i].to_string(),
        None => text.to_string(),
    }
}

/// The intake facts the request gives: one finding per fact found, in `Fact` order.
/// The subject is searched first, then the body, then the attachment names.
pub fn find_facts(
    rules: &IntakeRules,
    subject: &str,
    body: &str,
    attachment_names: &[&str],
) -> Vec<FactFinding> {
    let subject = rules.clean(subject);
    let body = rules.clean(body);
    let mut found = Vec::new();
    for (fact, fact_rules) in Fact::ALL.into_iter().zip(&rules.facts) {
        let hit = fact_rules
            .text
            .first(&subject)
            .or_else(|| fact_rules.text.first(&body))
            .or_else(|| {
                attachment_names.iter().copied().find(|name| {
                    fact_rules
                        .attachments
                        .iter()
                        .any(|re| re.is_match(name.trim()))
                })
            });
        if let Some(text) = hit {
            found.push(FactFinding {
                fact,
                evidence: evidence(text),
            });
        }
    }
    found
}

/// The facts not in `found`, in `Fact` order: what the acknowledgement should ask for.
pub fn missing_facts(found: &[FactFinding]) -> Vec<Fact> {
    Fact::ALL
        .into_iter()
        .filter(|f| !found.iter().any(|x| x.fact == *f))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(subject: &str, body: &str, attachments: &[&str]) -> Vec<Fact> {
        find_facts(IntakeRules::built_in(), subject, body, attachments)
            .into_iter()
            .map(|f| f.fact)
            .collect()
    }

    #[test]
    fn built_in_rules_parse_and_have_both_questions() {
        let rules = IntakeRules::built_in();
        for fact in Fact::ALL {
            assert!(!rules.question(fact, "en").is_empty());
            assert!(!rules.question(fact, "zh").is_empty());
            assert_ne!(rules.question(fact, "en"), rules.question(fact, "zh-CN"));
        }
    }

    #[test]
    fn fact_names_round_trip() {
        for fact in Fact::ALL {
            assert_eq!(fact.as_str().parse::<Fact>(), Ok(fact));
            assert!(!fact.label().is_empty());
        }
        assert_eq!("OS_VERSION".parse::<Fact>(), Ok(Fact::OsVersion));
        assert!("os".parse::<Fact>().unwrap_err().contains("os_version"));
    }

    #[test]
    fn errors_name_the_key() {
        let bad = BUILT_IN.replacen(
            "patterns = [\n    # brand followed",
            "patterns = [\n    'ok', 'fine', '(unclosed',\n    # brand followed",
            1,
        );
        let err = IntakeRules::from_toml(&bad).unwrap_err();
        assert!(
            err.starts_with("facts.device.patterns[2]: regex parse error"),
            "{err}"
        );

        let missing = "[facts.device]\nquestion_en = \"a\"\nquestion_zh = \"b\"\n";
        let err = IntakeRules::from_toml(missing).unwrap_err();
        assert!(err.starts_with("facts.os_version: missing"), "{err}");

        let unknown =
            format!("{BUILT_IN}\n[facts.colour]\nquestion_en = \"a\"\nquestion_zh = \"b\"\n");
        assert!(
            IntakeRules::from_toml(&unknown)
                .unwrap_err()
                .starts_with("facts.colour")
        );

        assert!(IntakeRules::from_toml("facts = 3").is_err());
    }

    #[test]
    fn finds_each_fact_in_english() {
        let body = "My ThinkPad X1 on Windows 11 23H2: Outlook 2019 shows error code 0x80070005 \
                    every time since Monday. I restarted twice.";
        assert_eq!(facts("Mail", body, &[]), Fact::ALL.to_vec());
    }

    #[test]
    fn finds_each_fact_in_chinese() {
        let body =
            "我的联想笔记本，Win10系统，微信 8.0 提示“网络不可用”，从昨天开始的，已经重启过了。";
        assert_eq!(facts("微信", body, &[]), Fact::ALL.to_vec());
    }

    #[test]
    fn bare_windows_and_signature_phone_do_not_count() {
        let found = facts(
            "Slow",
            "It is slow on Windows.\n\nSent from my iPhone\nPhone: +1 555 0100",
            &[],
        );
        assert!(found.is_empty(), "{found:?}");
    }

    #[test]
    fn chinese_time_words_need_their_context() {
        // "有时间" is "when you have time", "下周一" is next Monday: neither says when it started
        assert_eq!(
            facts("iPad", "有时间帮我看看，下周一也行", &[]),
            vec![Fact::Device]
        );
        assert_eq!(
            facts("", "有时连不上，从上周五开始", &[]),
            vec![Fact::Started]
        );
    }

    #[test]
    fn screenshot_attachment_counts_as_error_text() {
        assert_eq!(
            facts("报错", "见附件", &["截图.png"]),
            vec![Fact::ErrorText]
        );
        assert_eq!(facts("x", "y", &["error.PNG"]), vec![Fact::ErrorText]);
        assert!(facts("x", "y", &["report.xlsx"]).is_empty());
    }

    #[test]
    fn evidence_is_bounded_and_missing_is_the_rest() {
        let long = format!("it says \"{}\"", "x".repeat(500));
        let found = find_facts(IntakeRules::built_in(), "", &long, &[]);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].evidence.chars().count(), EVIDENCE_CHARS);
        assert_eq!(
            missing_facts(&found),
            vec![
                Fact::Device,
                Fact::OsVersion,
                Fact::SoftwareVersion,
                Fact::Started,
                Fact::Tried
            ]
        );
    }

    #[test]
    fn odd_input_does_not_panic() {
        let huge = "é".repeat(SCAN_BYTES);
        let _ = facts(&huge, &format!("{huge}漢"), &["", "\u{0}"]);
        let _ = facts("", "", &[]);
        let _ = facts(">", "'''\"\"“”", &[".png"]);
    }

    #[test]
    fn negation_needs_a_word_start() {
        let negs = vec!["not".to_string(), "不是".to_string()];
        assert!(negated("it is not ", &negs));
        assert!(negated("Not", &negs));
        assert!(negated("不是", &negs));
        assert!(!negated("I cannot ", &negs));
        assert!(!negated("", &negs));
    }

    fn matcher(keywords: &[&str], patterns: &[&str]) -> Matcher {
        let owned = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        Matcher::compile("test", &owned(keywords), &owned(patterns)).expect("valid")
    }

    #[test]
    fn matcher_takes_the_earliest_then_the_longest_across_keywords_and_patterns() {
        let m = matcher(
            &["down", "mail"],
            &[r"(?-u:\b)down\s+again", r"server\s+down"],
        );
        // "server down" starts first; at "down", the pattern is longer than the keyword.
        assert_eq!(m.first("the SERVER DOWN again"), Some("SERVER DOWN"));
        assert_eq!(m.first("it is Down  again today"), Some("Down  again"));
        assert_eq!(m.first("download"), None);
        assert_eq!(Matcher::default().first("anything"), None);
    }

    #[test]
    fn matcher_skips_negated_starts_only() {
        let m = matcher(&["everyone", "everyone here"], &[]);
        let negs = vec!["not".to_string()];
        let text = "not everyone here, but everyone upstairs";
        assert_eq!(m.first_unnegated(text, &negs), Some("everyone"));
        assert_eq!(m.first_unnegated(text, &[]), Some("everyone here"));
        assert_eq!(m.first_unnegated("not everyone", &negs), None);
    }

    #[test]
    fn blank_replaces_each_match_with_one_space() {
        let m = matcher(&[], &["<[^<>]+>", "&nbsp;"]);
        assert_eq!(m.blank("a<b>c&nbsp;d<i>"), "a c d ");
        assert_eq!(Matcher::default().blank("plain"), "plain");
    }
}
