//! Look-ups by mail: an agent's new mail whose text holds only `/show`, `/list` and
//! `/search` lines asks the desk a question instead of opening a ticket. This module
//! owns what counts as a look-up (every line of the text above any quote is one of
//! those commands), the syntax of each, who gets an answer (verified staff only), and
//! how a ticket's SLA clocks read in the answer. Finding the tickets is the store's,
//! writing the answer notify's, and both are wired by ingest.

use super::sla::{SlaClock, Target};
use super::threading::parse_token;

/// At most this many tickets are listed for one look-up; the rest is counted.
pub const MAX_RESULTS: usize = 50;
/// At most this many look-up lines are answered in one mail; more is an error.
pub const MAX_LOOKUPS: usize = 10;

/// Which tickets `/list` names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListScope {
    /// Assigned to the sender and not closed.
    Mine,
    /// Status open.
    Open,
    /// Status waiting (on the requester).
    Waiting,
    /// A running SLA clock is past its due time.
    Breached,
    /// Of this team (as typed) and not closed.
    Team(String),
}

/// One look-up line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    /// `/show TP-n`
    Show(i64),
    /// `/list mine | open | waiting | breached | team <name>`
    List(ListScope),
    /// `/search <words>`: tickets and the knowledge base.
    Search(String),
}

impl std::fmt::Display for Lookup {
    /// The canonical line, e.g. `/list team network` (the ticket without its prefix).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Lookup::Show(n) => write!(f, "/show {n}"),
            Lookup::List(ListScope::Mine) => f.write_str("/list mine"),
            Lookup::List(ListScope::Open) => f.write_str("/list open"),
            Lookup::List(ListScope::Waiting) => f.write_str("/list waiting"),
            Lookup::List(ListScope::Breached) => f.write_str("/list breached"),
            Lookup::List(ListScope::Team(t)) => write!(f, "/list team {t}"),
            Lookup::Search(words) => write!(f, "/search {words}"),
        }
    }
}

/// A look-up mail read: the lines understood and, per line that was not, why.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LookupRequest {
    pub lookups: Vec<Lookup>,
    /// `line N: ...` for each line that names a look-up command but is wrong.
    pub errors: Vec<String>,
}

/// What the desk does with a look-up mail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LookupOutcome {
    /// Answer the sender alone.
    Answer(LookupRequest),
    /// Mail in a staff member's name that did not prove its sender: stored, no
    /// answer; the agents are warned (as for unverified commands) once an hour per
    /// claimed sender, so forged look-ups cannot make the desk mail every agent at will.
    Unverified { warn: bool },
}

/// Unverified look-ups in one sender's name that warn the agents within an hour.
pub const UNVERIFIED_WARNINGS_PER_HOUR: i64 = 1;

/// What the shell gathered about a new mail that might be a look-up.
#[derive(Debug, Clone, Copy)]
pub struct LookupFacts<'a> {
    /// The text above any quote (quotes and signature trimmed).
    pub text: &'a str,
    /// The sender is an agent or supervisor.
    pub staff: bool,
    /// Automatic mail (never a look-up).
    pub automatic: bool,
    /// The sender proved who they are (signed thread, or DKIM/SPF pass from the
    /// trusted MTA).
    pub proven: bool,
    /// `[security] verify_staff`.
    pub verify_staff: bool,
    /// Unverified look-ups in this sender's name stored within the hour before this one.
    pub unverified_lately: i64,
}

/// Whether a new mail is a look-up and what it gets. `None`: not a look-up (it goes
/// on to intake as any other mail): not from staff, automatic, or its text holds
/// anything besides look-up lines.
pub fn decide_lookup(f: LookupFacts, prefix: &str) -> Option<LookupOutcome> {
    if !f.staff || f.automatic {
        return None;
    }
    let request = parse_lookups(f.text, prefix)?;
    if f.verify_staff && !f.proven {
        return Some(LookupOutcome::Unverified {
            warn: f.unverified_lately < UNVERIFIED_WARNINGS_PER_HOUR,
        });
    }
    Some(LookupOutcome::Answer(request))
}

/// Reads `text` as look-up lines. `None` when a non-blank line is not a look-up
/// command, or there is none; otherwise each line is a look-up or an error.
pub fn parse_lookups(text: &str, prefix: &str) -> Option<LookupRequest> {
    let mut request = LookupRequest::default();
    let mut seen = 0;
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let (word, rest) = match line.split_once(char::is_whitespace) {
            Some((w, r)) => (w, r.trim()),
            None => (line, ""),
        };
        let word = word.to_ascii_lowercase();
        if !matches!(word.as_str(), "/show" | "/list" | "/search") {
            return None;
        }
        seen += 1;
        let n = i + 1;
        if seen > MAX_LOOKUPS {
            request.errors.push(format!(
                "line {n}: at most {MAX_LOOKUPS} look-ups are answered in one mail"
            ));
            continue;
        }
        match parse_line(&word, rest, prefix) {
            Ok(lookup) if !request.lookups.contains(&lookup) => request.lookups.push(lookup),
            Ok(_) => {}
            Err(why) => request.errors.push(format!("line {n}: {line}: {why}")),
        }
    }
    (seen > 0).then_some(request)
}

/// One line's command (`word`, lower case) with its argument.
fn parse_line(word: &str, rest: &str, prefix: &str) -> Result<Lookup, String> {
    match word {
        "/show" => {
            let n = parse_token(rest, prefix)
                .filter(|n| *n > 0)
                .ok_or_else(|| format!("/show needs one ticket, like /show {prefix}-12"))?;
            Ok(Lookup::Show(n))
        }
        "/list" => {
            let (scope, arg) = match rest.split_once(char::is_whitespace) {
                Some((s, a)) => (s.to_ascii_lowercase(), a.trim()),
                None => (rest.to_ascii_lowercase(), ""),
            };
            let plain = |s: ListScope| {
                if arg.is_empty() {
                    Ok(Lookup::List(s))
                } else {
                    Err(format!("/list {scope} takes nothing after it"))
                }
            };
            match scope.as_str() {
                "mine" => plain(ListScope::Mine),
                "open" => plain(ListScope::Open),
                "waiting" => plain(ListScope::Waiting),
                "breached" => plain(ListScope::Breached),
                "team" if !arg.is_empty() => Ok(Lookup::List(ListScope::Team(arg.to_string()))),
                "team" => Err("/list team needs a team name".into()),
                _ => Err("/list takes mine, open, waiting, breached or team <name>".into()),
            }
        }
        _ => {
            if rest.is_empty() {
                Err("/search needs words to look for".into())
            } else {
                Ok(Lookup::Search(rest.to_string()))
            }
        }
    }
}

/// How a ticket's SLA clocks read in an answer: each running or breached clock with
/// its due time, e.g. `first response 2h 05m late; resolution due in 1d 3h`.
/// Met clocks say so; no clocks: `no SLA`.
pub fn sla_summary(clocks: &[SlaClock], now: i64) -> String {
    if clocks.is_empty() {
        return "no SLA".into();
    }
    let mut parts: Vec<String> = clocks
        .iter()
        .map(|c| {
            let label = c.target.label();
            if c.met_at.is_some() {
                format!("{label} met")
            } else if let (true, Some(due)) = (c.is_running(), c.due_at) {
                if due <= now {
                    format!("{label} {} late", span(now - due))
                } else {
                    format!("{label} due in {}", span(due - now))
                }
            } else if c.breached_at.is_some() {
                format!("{label} breached (paused)")
            } else {
                format!("{label} paused")
            }
        })
        .collect();
    // First response before resolution, whatever order the store gave.
    parts.sort_by_key(|p| !p.starts_with(Target::FirstResponse.label()));
    parts.join("; ")
}

/// A length of time in words: `45m`, `3h 05m`, `2d 4h`.
pub fn span(seconds: i64) -> String {
    let m = seconds.max(0) / 60;
    let (d, h, m) = (m / 1440, (m / 60) % 24, m % 60);
    if d > 0 {
        format!("{d}d {h}h")
    } else if h > 0 {
        format!("{h}h {m:02}m")
    } else {
        format!("{m}m")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::desk::sla::Hours;
    use crate::desk::status::Priority;

    fn facts(text: &str) -> LookupFacts<'_> {
        LookupFacts {
            text,
            staff: true,
            automatic: false,
            proven: true,
            verify_staff: true,
            unverified_lately: 0,
        }
    }

    #[test]
    fn each_command_parses() {
        let r = parse_lookups(
            "/show TP-12\n/list mine\n/LIST Team  Network Ops\n/search printer jam\n\n/list breached\n/show 7",
            "TP",
        )
        .unwrap();
        assert_eq!(
            r.lookups,
            vec![
                Lookup::Show(12),
                Lookup::List(ListScope::Mine),
                Lookup::List(ListScope::Team("Network Ops".into())),
                Lookup::Search("printer jam".into()),
                Lookup::List(ListScope::Breached),
                Lookup::Show(7),
            ]
        );
        assert!(r.errors.is_empty());
    }

    #[test]
    fn any_other_line_makes_it_no_look_up() {
        assert_eq!(parse_lookups("/show TP-1\nPlease help", "TP"), None);
        assert_eq!(parse_lookups("/close\n", "TP"), None);
        assert_eq!(parse_lookups("", "TP"), None);
        assert_eq!(parse_lookups("My printer: /show TP-1", "TP"), None);
    }

    #[test]
    fn bad_lines_are_errors_naming_the_line() {
        let r = parse_lookups(
            "/show\n/show banana\n/list everything\n/list team\n/search   \n/list open now\n/list open",
            "TP",
        )
        .unwrap();
        assert_eq!(r.lookups, vec![Lookup::List(ListScope::Open)]);
        assert_eq!(r.errors.len(), 6, "{:?}", r.errors);
        assert!(r.errors[0].starts_with("line 1: /show"));
        assert!(r.errors[2].contains("mine, open"));
    }

    #[test]
    fn repeats_are_answered_once_and_lines_are_bounded() {
        let text = "/list open\n".repeat(MAX_LOOKUPS + 2);
        let r = parse_lookups(&text, "TP").unwrap();
        assert_eq!(r.lookups, vec![Lookup::List(ListScope::Open)]);
        assert_eq!(r.errors.len(), 2);
    }

    #[test]
    fn only_verified_staff_get_an_answer() {
        let f = facts("/list open");
        assert!(matches!(
            decide_lookup(f, "TP"),
            Some(LookupOutcome::Answer(_))
        ));
        let unproven = LookupFacts {
            proven: false,
            ..facts("/list open")
        };
        assert_eq!(
            decide_lookup(unproven, "TP"),
            Some(LookupOutcome::Unverified { warn: true })
        );
        // A run of forged look-ups warns the agents once an hour, not once each.
        let again = LookupFacts {
            unverified_lately: UNVERIFIED_WARNINGS_PER_HOUR,
            ..unproven
        };
        assert_eq!(
            decide_lookup(again, "TP"),
            Some(LookupOutcome::Unverified { warn: false })
        );
        // Without `verify_staff`, staff mail needs no proof (as for commands).
        let trusting = LookupFacts {
            verify_staff: false,
            ..unproven
        };
        assert!(matches!(
            decide_lookup(trusting, "TP"),
            Some(LookupOutcome::Answer(_))
        ));
        // Requesters and automatic mail are never look-ups: intake takes them.
        let requester = LookupFacts {
            staff: false,
            ..facts("/list open")
        };
        assert_eq!(decide_lookup(requester, "TP"), None);
        let automatic = LookupFacts {
            automatic: true,
            ..facts("/list open")
        };
        assert_eq!(decide_lookup(automatic, "TP"), None);
        // An agent's ordinary mail is a request like anyone's.
        assert_eq!(decide_lookup(facts("My screen is dark"), "TP"), None);
    }

    fn clock(target: Target) -> SlaClock {
        SlaClock {
            target,
            priority: Priority::P2,
            hours: Hours::AllHours,
            target_seconds: 3_600,
            started_at: 0,
            consumed: 0,
            running_since: Some(0),
            warn_at: None,
            due_at: Some(3_600),
            escalate_at: None,
            met_at: None,
            warned_at: None,
            breached_at: None,
            escalated_at: None,
            next_alert_at: None,
        }
    }

    #[test]
    fn sla_reads_due_late_met_and_paused() {
        assert_eq!(sla_summary(&[], 0), "no SLA");
        let mut met = clock(Target::FirstResponse);
        met.met_at = Some(60);
        let late = clock(Target::Resolution);
        assert_eq!(
            sla_summary(&[late.clone(), met], 3_600 + 7_500),
            "first response met; resolution 2h 05m late"
        );
        assert_eq!(
            sla_summary(std::slice::from_ref(&late), 600),
            "resolution due in 50m"
        );
        let mut paused = late;
        paused.running_since = None;
        paused.due_at = None;
        assert_eq!(sla_summary(&[paused], 0), "resolution paused");
        assert_eq!(span(2 * 86_400 + 4 * 3_600 + 59), "2d 4h");
    }
}
