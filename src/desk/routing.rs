//! Routing rules (`[[route]]` in the config): which team a new ticket goes to, how
//! urgent it is at least, and its tags, from the address it was sent to, the
//! sender's domain, words in the subject and the mailbox folder it arrived in. Pure: the rules and the message's facts
//! in, the outcome out.

use super::Priority;

/// One rule. Its conditions must all hold (an empty list is no condition); within a
/// list, any entry will do. A rule with no condition matches nothing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Route {
    /// Recipient addresses (To, Cc), lower-case: "hr@acme.example".
    pub to: Vec<String>,
    /// Sender domains, lower-case; a subdomain matches too.
    pub from_domain: Vec<String>,
    /// Words or phrases in the subject, lower-case, matched as whole words.
    pub subject: Vec<String>,
    /// Mailbox folders (`[mailbox] folders`) the mail arrived in: "HR"; any case.
    pub folder: Vec<String>,
    pub team: Option<String>,
    pub priority: Option<Priority>,
    pub tags: Vec<String>,
}

/// What the rules decided for a new ticket.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Routed {
    /// The team of the first matching rule that names one.
    pub team: Option<String>,
    /// The most urgent priority the matching rules ask for.
    pub priority: Option<Priority>,
    /// Every matching rule's tags, in order, without repeats.
    pub tags: Vec<String>,
    /// 1-based numbers of the rules that matched, for the timeline.
    pub matched: Vec<usize>,
}

/// What routing looks at in a new request.
#[derive(Debug, Clone, Copy)]
pub struct RouteFacts<'a> {
    /// To and Cc addresses.
    pub recipients: &'a [&'a str],
    pub sender: &'a str,
    pub subject: &'a str,
    /// The mailbox folder the mail was read from.
    pub folder: &'a str,
}

/// Applies `routes` to a new request's facts.
pub fn route(routes: &[Route], facts: RouteFacts<'_>) -> Routed {
    let RouteFacts {
        recipients,
        sender,
        subject,
        folder,
    } = facts;
    let sender_domain = sender
        .rsplit_once('@')
        .map(|(_, d)| d.to_ascii_lowercase())
        .unwrap_or_default();
    let subject = subject.to_lowercase();
    let mut out = Routed::default();
    for (i, r) in routes.iter().enumerate() {
        if r.to.is_empty()
            && r.from_domain.is_empty()
            && r.subject.is_empty()
            && r.folder.is_empty()
        {
            continue;
        }
        let to_ok = r.to.is_empty()
            || recipients
                .iter()
                .any(|a| r.to.iter().any(|t| t.eq_ignore_ascii_case(a)));
        let from_ok = r.from_domain.is_empty()
            || r.from_domain
                .iter()
                .any(|d| sender_domain == *d || sender_domain.ends_with(&format!(".{d}")));
        let subject_ok = r.subject.is_empty() || r.subject.iter().any(|w| has_word(&subject, w));
        let folder_ok =
            r.folder.is_empty() || r.folder.iter().any(|f| f.eq_ignore_ascii_case(folder));
        if !(to_ok && from_ok && subject_ok && folder_ok) {
            continue;
        }
        out.matched.push(i + 1);
        if out.team.is_none() {
            out.team = r.team.clone();
        }
        out.priority = match (out.priority, r.priority) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        for tag in &r.tags {
            if !out.tags.contains(tag) {
                out.tags.push(tag.clone());
            }
        }
    }
    out
}

/// `word` in `text` (both lower-case) with no letter or digit right before or after.
fn has_word(text: &str, word: &str) -> bool {
    if word.is_empty() {
        return false;
    }
    text.match_indices(word).any(|(at, _)| {
        let before = text[..at].chars().next_back();
        let after = text[at + word.len()..].chars().next();
        // CJK words have no spaces around them: any position counts.
        let cjk = word.chars().any(|c| c as u32 >= 0x2E80);
        cjk || (!before.is_some_and(char::is_alphanumeric)
            && !after.is_some_and(char::is_alphanumeric))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts<'a>(recipients: &'a [&'a str], sender: &'a str, subject: &'a str) -> RouteFacts<'a> {
        RouteFacts {
            recipients,
            sender,
            subject,
            folder: "INBOX",
        }
    }

    fn rules() -> Vec<Route> {
        vec![
            Route {
                to: vec!["hr@acme.example".into()],
                team: Some("hr".into()),
                tags: vec!["hr".into()],
                ..Route::default()
            },
            Route {
                from_domain: vec!["clinic.acme.example".into()],
                priority: Some(Priority::P2),
                tags: vec!["clinic".into()],
                ..Route::default()
            },
            Route {
                subject: vec!["invoice".into(), "发票".into()],
                team: Some("finance".into()),
                tags: vec!["billing".into(), "hr".into()],
                ..Route::default()
            },
        ]
    }

    #[test]
    fn rules_combine_first_team_most_urgent_priority_all_tags() {
        let r = route(
            &rules(),
            facts(
                &["hr@acme.example"],
                "nurse@ward3.clinic.acme.example",
                "Invoice for March",
            ),
        );
        assert_eq!(r.team.as_deref(), Some("hr"));
        assert_eq!(r.priority, Some(Priority::P2));
        assert_eq!(r.tags, vec!["hr", "clinic", "billing"]);
        assert_eq!(r.matched, vec![1, 2, 3]);
    }

    #[test]
    fn conditions_are_whole_words_and_exact_domains() {
        let none = route(
            &rules(),
            facts(
                &["it@acme.example"],
                "a@notclinic.acme.example.org",
                "Invoices are fine",
            ),
        );
        assert_eq!(none, Routed::default());
        let zh = route(&rules(), facts(&[], "a@x.example", "请开发票"));
        assert_eq!(zh.team.as_deref(), Some("finance"));
        // A rule without conditions matches nothing.
        let empty = vec![Route {
            team: Some("all".into()),
            ..Route::default()
        }];
        assert_eq!(route(&empty, facts(&[], "a@x", "hi")).team, None);
    }

    #[test]
    fn a_folder_condition_routes_mail_read_from_that_folder() {
        let rules = vec![Route {
            folder: vec!["HR".into()],
            team: Some("hr".into()),
            tags: vec!["from-hr-folder".into()],
            ..Route::default()
        }];
        let in_hr = route(
            &rules,
            RouteFacts {
                folder: "hr",
                ..facts(&["help@acme.example"], "a@x.example", "Payslip")
            },
        );
        assert_eq!(in_hr.team.as_deref(), Some("hr"));
        assert_eq!(in_hr.tags, vec!["from-hr-folder"]);
        let in_inbox = route(
            &rules,
            facts(&["help@acme.example"], "a@x.example", "Payslip"),
        );
        assert_eq!(in_inbox, Routed::default());
    }
}
