//! Triage: the priority a new request enters the queue with, and why. Priority is about
//! the width and depth of the impact, not about how hard the fix is. This module owns the
//! rule; the words it looks for are data (`config/intake.toml`, compiled by
//! `desk::intake`), and the systems, VIP senders and domain priorities are the
//! deployment's configuration, handed in as a [`TriageConfig`].
//!
//! The signals, each found in the subject and body (quoted `>` lines left out):
//! - wide: scope words ("whole department", "所有人"), unless negated ("not everyone")
//!   or the sender says it is only them ("just me", "别人都正常");
//! - system: a configured business system named, as a whole word, case-insensitive
//!   (Chinese names as substrings), or one of its aliases from the rules file;
//! - outage: words saying something does not work at all ("can't", "down", "无法");
//! - vip: the sender is a configured VIP;
//! - low: the sender says it can wait ("no rush", "不急").
//!
//! The rule:
//! - P1: wide and (system or outage or vip);
//! - P2: wide; or system and outage (one person cannot use a business system); or vip;
//! - P4: low, and none of the above;
//! - P3: everything else.
//!
//! The sender domain's configured priority is then a floor: the more urgent one wins.
//! "URGENT" in a subject does not raise anything by itself.

use super::intake::{IntakeRules, head};
use super::status::Priority;

/// The deployment's triage settings.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TriageConfig {
    /// Business systems by the names people use for them: "mail", "ERP", "VPN", "OA".
    pub systems: Vec<String>,
    /// Sender addresses whose requests start at P2 at least (P1 when the impact is wide).
    pub vip_senders: Vec<String>,
    /// Sender domain (or a parent domain of it) and the least urgent priority its
    /// requests get.
    pub domain_priorities: Vec<(String, Priority)>,
}

/// The priority and the reasons for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Triage {
    pub priority: Priority,
    /// Why, in words for the timeline: `impact: "whole department"`, `system: VPN`,
    /// `VIP sender`, then the rule that decided.
    pub reasons: Vec<String>,
}

impl Triage {
    /// The urgent path: supervisors are alerted at once.
    pub fn urgent(&self) -> bool {
        self.priority == Priority::P1
    }
}

/// Decides the priority of a new request.
pub fn triage(
    rules: &IntakeRules,
    cfg: &TriageConfig,
    sender: &str,
    subject: &str,
    body: &str,
) -> Triage {
    let words = rules.triage_words();
    let text = rules.clean(&format!("{subject}\n{}", unquoted(head(body, 16 * 1024))));
    let mut reasons = Vec::new();

    let scope = words.scope.first_unnegated(&text, &words.scope_negations);
    let narrow = words.narrow.first(&text);
    let wide = match (scope, narrow) {
        (Some(s), None) => {
            reasons.push(format!("impact: {:?}", s.trim()));
            true
        }
        (Some(s), Some(n)) => {
            reasons.push(format!("impact {:?} not counted: {:?}", s.trim(), n.trim()));
            false
        }
        _ => false,
    };
    let system = named_system(cfg, &words.system_aliases, &text);
    if let Some(s) = &system {
        reasons.push(format!("system: {s}"));
    }
    let outage = words.outage.first_unnegated(&text, &words.outage_negations);
    if let Some(o) = outage {
        reasons.push(format!("outage: {:?}", o.trim()));
    }
    let address = address_of(sender);
    let vip = !address.is_empty()
        && cfg
            .vip_senders
            .iter()
            .any(|v| address_of(v).eq_ignore_ascii_case(&address));
    if vip {
        reasons.push("VIP sender".to_string());
    }
    let low = words.low_urgency.first(&text);
    if let Some(l) = low {
        reasons.push(format!("low urgency: {:?}", l.trim()));
    }

    let (system, outage) = (system.is_some(), outage.is_some());
    let (rule_priority, rule) = if wide && (system || outage || vip) {
        (
            Priority::P1,
            match (system, outage) {
                (true, _) => "wide impact on a business system",
                (false, true) => "wide impact, not working",
                (false, false) => "wide impact reported by a VIP",
            },
        )
    } else if wide {
        (Priority::P2, "wide impact")
    } else if system && outage {
        (Priority::P2, "a business system not working for the sender")
    } else if vip {
        (Priority::P2, "VIP sender")
    } else if low.is_some() {
        (Priority::P4, "the sender says it can wait")
    } else {
        (Priority::P3, "one person's problem")
    };
    reasons.push(format!("rule: {rule} -> {rule_priority}"));

    let mut priority = rule_priority;
    if let Some((domain, floor)) = domain_floor(cfg, &address)
        && floor < priority
    {
        reasons.push(format!("sender domain {domain}: at least {floor}"));
        priority = floor;
    }
    Triage { priority, reasons }
}

/// The body without lines quoted from earlier mail.
fn unquoted(body: &str) -> String {
    body.lines()
        .filter(|l| !l.trim_start().starts_with('>'))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The bare address of `a@b`, `Name <a@b>` or `<a@b>`, trimmed.
fn address_of(sender: &str) -> String {
    let s = sender.trim();
    let inner = match (s.rfind('<'), s.rfind('>')) {
        (Some(open), Some(close)) if open < close => &s[open + 1..close],
        _ => s,
    };
    inner.trim().to_string()
}

/// The most urgent configured priority for the sender's domain or a parent of it.
fn domain_floor<'c>(cfg: &'c TriageConfig, address: &str) -> Option<(&'c str, Priority)> {
    let domain = address.rsplit_once('@')?.1.trim().to_ascii_lowercase();
    if domain.is_empty() {
        return None;
    }
    cfg.domain_priorities
        .iter()
        .filter(|(d, _)| {
            let d = d.trim().trim_start_matches('@').to_ascii_lowercase();
            !d.is_empty() && (domain == d || domain.ends_with(&format!(".{d}")))
        })
        .min_by_key(|(_, p)| *p)
        .map(|(d, p)| (d.trim(), *p))
}

/// The first configured system named in `text` (in configuration order), directly or
/// by an alias, as words for the reasons: `VPN`, `email (as "Outlook")`.
fn named_system(
    cfg: &TriageConfig,
    aliases: &[(String, Vec<String>)],
    text: &str,
) -> Option<String> {
    let lower = text.to_lowercase();
    for system in cfg
        .systems
        .iter()
        .map(|s| s.trim())
        .filter(|s| !s.is_empty())
    {
        if contains_word(&lower, system) {
            return Some(system.to_string());
        }
        let own = aliases
            .iter()
            .filter(|(name, _)| name.trim().to_lowercase() == system.to_lowercase())
            .flat_map(|(_, words)| words);
        for alias in own {
            if contains_word(&lower, alias) {
                return Some(format!("{system} (as {:?})", alias.trim()));
            }
        }
    }
    None
}

/// Whether the lower-cased `haystack` contains `word`, case-insensitive, as a whole word
/// at each end that is a Latin letter or digit (Chinese: anywhere).
fn contains_word(haystack: &str, word: &str) -> bool {
    let needle = word.trim().to_lowercase();
    let Some(first) = needle.chars().next() else {
        return false;
    };
    let last = needle.chars().last().unwrap_or(first);
    let is_word = |c: char| c.is_ascii_alphanumeric() || c == '_';
    haystack.match_indices(&needle).any(|(at, m)| {
        let before_ok = !is_word(first) || !haystack[..at].chars().last().is_some_and(is_word);
        let after_ok =
            !is_word(last) || !haystack[at + m.len()..].chars().next().is_some_and(is_word);
        before_ok && after_ok
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> TriageConfig {
        TriageConfig {
            systems: ["mail", "email", "ERP", "VPN", "SAP", "邮箱", "OA"]
                .map(String::from)
                .to_vec(),
            vip_senders: vec!["Boss@Example.test".into()],
            domain_priorities: vec![
                ("clinic.example.test".into(), Priority::P2),
                ("slow.example.test".into(), Priority::P4),
            ],
        }
    }

    fn t(sender: &str, subject: &str, body: &str) -> Triage {
        triage(IntakeRules::built_in(), &cfg(), sender, subject, body)
    }

    fn p(subject: &str, body: &str) -> Priority {
        t("a@example.test", subject, body).priority
    }

    #[test]
    fn wide_and_system_or_outage_is_p1() {
        let r = t(
            "a@example.test",
            "VPN",
            "The whole department cannot connect.",
        );
        assert_eq!(r.priority, Priority::P1);
        assert!(r.urgent());
        assert!(
            r.reasons
                .contains(&"impact: \"whole department\"".to_string()),
            "{:?}",
            r.reasons
        );
        assert!(r.reasons.contains(&"system: VPN".to_string()));
        assert_eq!(p("打印机", "整个部门都打印不了"), Priority::P1);
        assert_eq!(p("OA系统登不上", "所有人都登不上OA"), Priority::P1);
    }

    #[test]
    fn wide_alone_system_outage_alone_and_vip_are_p2() {
        assert_eq!(
            p("slow internet", "Everyone says the internet is slow."),
            Priority::P2
        );
        assert_eq!(p("VPN连不上", "在家连VPN，一直连不上。"), Priority::P2);
        assert_eq!(p("Outlook", "Outlook crashes on start."), Priority::P2);
        let vip = t(
            "Boss <boss@example.test>",
            "Wallpaper",
            "Please change my wallpaper.",
        );
        assert_eq!(vip.priority, Priority::P2);
        assert!(vip.reasons.contains(&"VIP sender".to_string()));
        assert_eq!(
            t(
                "boss@example.test",
                "Wallpaper",
                "Everyone on my floor wants new wallpaper"
            )
            .priority,
            Priority::P1
        );
    }

    #[test]
    fn low_urgency_and_default() {
        assert_eq!(p("mouse", "My mouse is sticky, no rush."), Priority::P4);
        assert_eq!(p("鼠标", "鼠标有点卡，不急"), Priority::P4);
        assert_eq!(p("printer", "My printer can't print."), Priority::P3);
        // a low-urgency word does not hide a serious problem
        assert_eq!(
            p("VPN", "I can't connect to the VPN, no rush though"),
            Priority::P2
        );
    }

    #[test]
    fn negated_and_narrow_scope_do_not_count() {
        assert_eq!(
            p("drive", "I can't open the drive. Not everyone is affected."),
            Priority::P3
        );
        assert_eq!(
            p(
                "drive",
                "Everyone else is fine, just me: the drive is gone."
            ),
            Priority::P3
        );
        assert_eq!(p("网速", "不是所有人都慢，只有我"), Priority::P3);
        assert_eq!(
            p("slow", "Internet slow for the whole office, not down."),
            Priority::P2
        );
    }

    #[test]
    fn systems_are_whole_words() {
        assert_eq!(p("Gmail", "My gmail cannot load"), Priority::P3);
        assert_eq!(p("SAPPHIRE", "sapphire can't start"), Priority::P3);
        assert_eq!(p("VPN连不上", ""), Priority::P2);
        assert!(contains_word("the erp.", "ERP"));
        assert!(!contains_word("superp", "erp"));
        assert!(contains_word("公司邮箱打不开", "邮箱"));
        assert!(!contains_word("x", ""));
    }

    #[test]
    fn quoted_lines_do_not_count() {
        assert_eq!(
            p("pdf", "The PDF won't open.\n> Everyone is waiting."),
            Priority::P3
        );
    }

    #[test]
    fn domain_floor_only_raises() {
        assert_eq!(
            t(
                "n@clinic.example.test",
                "label",
                "Printer prints blank labels"
            )
            .priority,
            Priority::P2
        );
        assert_eq!(
            t("n@ward.clinic.example.test", "label", "no rush").priority,
            Priority::P2
        );
        assert_eq!(
            t("n@slow.example.test", "VPN", "VPN down for everyone").priority,
            Priority::P1
        );
        assert_eq!(t("", "", "").priority, Priority::P3);
        assert_eq!(t("<>", "@", ">").priority, Priority::P3);
    }
}
