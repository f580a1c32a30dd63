//! Triage: the priority a new request enters the queue with, and why. Priority is read
//! from a matrix of impact (how wide the harm is) and urgency (how soon it must be
//! fixed), as ITIL defines it; `desk::severity` reads each axis from the subject and body
//! (quoted `>` lines left out) and owns the matrix. This module names the business
//! service the request is about (a configured system, directly or by an alias from the
//! rules file, else a built-in critical service), asks for the severity, applies the
//! deployment's matrix and then the floors:
//! - vip: the sender is a configured VIP: at least P2, and P1 when the impact is high;
//! - the sender domain's configured priority: the more urgent one wins.
//!
//! The rules file's triage words (`config/intake.toml`: scope, narrow, outage,
//! low_urgency) extend the built-in cues of the same meaning. "URGENT" in a subject does
//! not make a trivial matter urgent (it is medium urgency at most by itself).

use super::intake::{IntakeRules, head};
use super::severity::{self, FileCues, Level, Matrix, Service, Severity};
use super::status::Priority;

/// The deployment's triage settings.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TriageConfig {
    /// Business systems by the names people use for them ("mail", "ERP", "VPN", "OA"),
    /// each with its criticality (high unless configured otherwise).
    pub systems: Vec<Service>,
    /// Sender addresses whose requests start at P2 at least (P1 when the impact is high).
    pub vip_senders: Vec<String>,
    /// Sender domain (or a parent domain of it) and the least urgent priority its
    /// requests get.
    pub domain_priorities: Vec<(String, Priority)>,
    /// `[triage.matrix]`: priority by impact and urgency.
    pub matrix: Matrix,
}

impl TriageConfig {
    /// Settings naming `systems`, all of high criticality (the meaning of a plain name).
    pub fn with_systems<S: AsRef<str>>(systems: &[S]) -> TriageConfig {
        TriageConfig {
            systems: systems.iter().map(|s| Service::high(s.as_ref())).collect(),
            ..TriageConfig::default()
        }
    }
}

/// The priority and the reasons for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Triage {
    pub priority: Priority,
    /// The rules' impact and urgency, with the words that decided each.
    pub severity: Severity,
    /// Why, in words for the timeline: `impact high: "every store"`, `urgency high:
    /// waiting now: "customers are waiting"`, the matrix cell, then any floor.
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
    let body = head(body, 16 * 1024);
    let body = if forwarded(subject) {
        body.to_string()
    } else {
        unquoted(body)
    };
    let body = without_command_lines(&body);
    let text = rules.clean(&format!("{subject}\n{body}")).to_lowercase();
    let service = named_system(cfg, &words.system_aliases, &text)
        .or_else(|| severity::built_in_service(&text));
    let file = FileCues {
        narrow: words.narrow.first(&text),
        outage: words.outage.first_unnegated(&text, &words.outage_negations),
        can_wait: words.low_urgency.first(&text),
    };
    let sev = severity::assess(&text, service.as_ref(), &file);
    let (impact, urgency) = (sev.impact.level, sev.urgency.level);
    let rule_priority = cfg.matrix.priority(impact, urgency);
    let mut reasons = vec![
        format!("impact {impact}: {}", sev.impact.why),
        format!("urgency {urgency}: {}", sev.urgency.why),
        format!("matrix: impact {impact} x urgency {urgency} -> {rule_priority}"),
    ];

    let mut priority = rule_priority;
    let address = address_of(sender);
    let vip = !address.is_empty()
        && cfg
            .vip_senders
            .iter()
            .any(|v| address_of(v).eq_ignore_ascii_case(&address));
    if vip {
        let floor = if impact == Level::High {
            Priority::P1
        } else {
            Priority::P2
        };
        reasons.push(format!("VIP sender: at least {floor}"));
        priority = priority.min(floor);
    }
    if let Some((domain, floor)) = domain_floor(cfg, &address)
        && floor < priority
    {
        reasons.push(format!("sender domain {domain}: at least {floor}"));
        priority = floor;
    }
    Triage {
        priority,
        severity: sev,
        reasons,
    }
}

/// Whether the subject says the mail forwards someone else's request ("FW:", "Fwd:",
/// "转发", "转："): its quoted lines are the request, so they count.
fn forwarded(subject: &str) -> bool {
    let s = subject.trim_start().to_lowercase();
    ["fw:", "fwd:", "fw ", "转发", "转：", "转:"]
        .iter()
        .any(|p| s.starts_with(p))
}

/// The body without an agent's command lines ("/assign nobody", "/priority P1"): they
/// are the agent's instructions, not the request, and their words are not cues.
fn without_command_lines(body: &str) -> String {
    body.lines()
        .filter(|l| {
            let t = l.trim_start();
            !(t.starts_with('/') && t[1..].starts_with(|c: char| c.is_ascii_alphabetic()))
        })
        .collect::<Vec<_>>()
        .join("\n")
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
/// by an alias; its name for the reasons: `VPN`, `email (as "Outlook")`.
fn named_system(
    cfg: &TriageConfig,
    aliases: &[(String, Vec<String>)],
    lower: &str,
) -> Option<Service> {
    for system in cfg.systems.iter().filter(|s| !s.name.trim().is_empty()) {
        let name = system.name.trim();
        let named = |n: String| Service {
            name: n,
            criticality: system.criticality,
        };
        if contains_word(lower, name) {
            return Some(named(name.to_string()));
        }
        let own = aliases
            .iter()
            .filter(|(n, _)| n.trim().to_lowercase() == name.to_lowercase())
            .flat_map(|(_, words)| words);
        for alias in own {
            if contains_word(lower, alias) {
                return Some(named(format!("{name} (as {:?})", alias.trim())));
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
            vip_senders: vec!["Boss@Example.test".into()],
            domain_priorities: vec![
                ("clinic.example.test".into(), Priority::P2),
                ("slow.example.test".into(), Priority::P4),
            ],
            ..TriageConfig::with_systems(&["mail", "email", "ERP", "VPN", "SAP", "邮箱", "OA"])
        }
    }

    fn t(sender: &str, subject: &str, body: &str) -> Triage {
        triage(IntakeRules::built_in(), &cfg(), sender, subject, body)
    }

    fn p(subject: &str, body: &str) -> Priority {
        t("a@example.test", subject, body).priority
    }

    // Rewritten for issue 16 (severity as impact x urgency): the old tests encoded the
    // keyword rule (wide + outage -> P1, one person's outage -> P3, "no rush" -> P4);
    // the cases are kept where the matrix agrees and relabelled where the labelling
    // policy (tests/fixtures/severity/README.md) says otherwise.

    #[test]
    fn wide_impact_and_stopped_work_is_p1_with_the_deciding_words() {
        let r = t(
            "a@example.test",
            "VPN",
            "The whole department cannot connect.",
        );
        assert_eq!(r.priority, Priority::P1);
        assert!(r.urgent());
        assert_eq!(r.severity.impact.level, Level::High);
        assert_eq!(r.severity.urgency.level, Level::High);
        assert!(
            r.reasons
                .contains(&"impact high: \"whole department\"".to_string()),
            "{:?}",
            r.reasons
        );
        assert!(
            r.reasons
                .contains(&"urgency high: work stopped: \"cannot\"".to_string()),
            "{:?}",
            r.reasons
        );
        assert!(r.reasons.iter().any(|x| x.starts_with("matrix: ")));
        assert_eq!(p("打印机", "整个部门都打印不了"), Priority::P1);
        assert_eq!(p("OA系统登不上", "所有人都登不上OA"), Priority::P1);
        // the examples
        assert_eq!(
            p(
                "cards",
                "payment terminals in every store stopped processing cards, customers \
                 are waiting, whole business is affected"
            ),
            Priority::P1
        );
        assert_eq!(
            p(
                "network",
                "no network at all on two floors, three departments cannot work"
            ),
            Priority::P1
        );
    }

    #[test]
    fn one_person_on_a_critical_system_is_p2_and_vip_floor() {
        // one person who cannot use a high-criticality system: medium x high
        assert_eq!(p("VPN连不上", "在家连VPN，一直连不上。"), Priority::P2);
        assert_eq!(p("Outlook", "Outlook crashes on start."), Priority::P2);
        // many people, degraded: high x medium
        assert_eq!(
            p("slow internet", "Internet is slow for everyone today."),
            Priority::P2
        );
        let vip = t(
            "Boss <boss@example.test>",
            "Wallpaper",
            "Please change my wallpaper.",
        );
        assert_eq!(vip.priority, Priority::P2);
        assert!(
            vip.reasons.contains(&"VIP sender: at least P2".to_string()),
            "{:?}",
            vip.reasons
        );
        // a VIP reporting high impact is P1 (as before the matrix)
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
    fn an_agents_command_lines_are_not_cues() {
        // "/assign nobody" in a forwarded mail is not "nobody can work"
        let fwd = "/assign nobody\n\n-----Original Message-----\nMy laptop will not boot.";
        assert_eq!(p("FW: Laptop", fwd), Priority::P3);
        assert_eq!(without_command_lines("/close\nhi\n/ 2"), "hi\n/ 2");
    }

    #[test]
    fn hedges_and_one_persons_stop() {
        assert_eq!(p("mouse", "My mouse is sticky, no rush."), Priority::P4);
        assert_eq!(p("鼠标", "鼠标有点卡，不急"), Priority::P4);
        // one person, work stopped: low x high
        assert_eq!(p("printer", "My printer can't print."), Priority::P3);
        // a stated hedge is taken at its word: VPN for one person, can wait
        assert_eq!(
            p("VPN", "I can't connect to the VPN, no rush though"),
            Priority::P4
        );
        // urgency words on a trivial matter do not make it urgent
        assert_eq!(p("URGENT", "URGENT!!! my font is tiny"), Priority::P4);
    }

    #[test]
    fn negated_and_narrow_scope_do_not_count() {
        let r = t(
            "a@example.test",
            "drive",
            "I can't open the drive. Not everyone is affected.",
        );
        assert_eq!(r.severity.impact.level, Level::Low, "{:?}", r.reasons);
        assert_eq!(r.priority, Priority::P3);
        assert_eq!(
            p(
                "drive",
                "Everyone else is fine, just me: the drive is gone."
            ),
            Priority::P4
        );
        assert_eq!(p("网速", "不是所有人都慢，只有我"), Priority::P4);
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
    fn a_low_criticality_system_gives_no_impact_and_the_matrix_is_configurable() {
        let mut c = cfg();
        c.systems = vec![Service {
            name: "wiki".into(),
            criticality: Level::Low,
        }];
        let r = triage(
            IntakeRules::built_in(),
            &c,
            "a@x.test",
            "wiki",
            "The wiki is down.",
        );
        assert_eq!(r.severity.impact.level, Level::Low, "{:?}", r.reasons);
        c.matrix.rows[2][0] = Priority::P2;
        let r = triage(
            IntakeRules::built_in(),
            &c,
            "a@x.test",
            "wiki",
            "The wiki is down.",
        );
        assert_eq!(r.priority, Priority::P2, "{:?}", r.reasons);
    }

    #[test]
    fn quoted_lines_do_not_count_unless_forwarded() {
        assert_eq!(
            p("pdf", "The PDF won't open.\n> Everyone is waiting."),
            Priority::P3
        );
        assert_eq!(
            p(
                "FW: access",
                "From my manager.\n> Everyone in finance can't log in."
            ),
            Priority::P1
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
        assert_eq!(t("", "", "").priority, Priority::P4);
        assert_eq!(t("<>", "@", ">").priority, Priority::P4);
    }
}
