//! The worklog's `/time` command: what an agent writes for the time they spent on a
//! ticket (`30m`, `1h15m`, `45 min`, `2h`), its canonical form, and the change it
//! makes. One `/time` line per reply: a second one is refused as a conflict
//! (`quick_actions::conflict`), so a repeated line never counts twice by accident and
//! a reply's total is what its one line says. Storing and summing are `store::worklog`'s
//! and `report`'s. A leaf: the lifecycle turns [`Spent`] into its change.

/// The most one `/time` line may log: a day. More is a typo (`/time 300h`).
pub const MAX_MINUTES: u32 = 24 * 60;

/// Minutes in a `/time` argument: one or more `<number><unit>` parts, units `h`,
/// `hr(s)`, `hour(s)`, `m`, `min(s)`, `minute(s)` (any case, spaces allowed), each
/// unit at most once, hours before minutes. The reason, in words for the agent,
/// when it is not one.
pub fn parse_spent(argument: &str) -> Result<u32, String> {
    let bad = || format!("{argument:?} is not a time spent (write e.g. 30m, 1h15m, 45 min or 2h)");
    let text = argument.trim().to_ascii_lowercase();
    let mut rest = text.as_str();
    let (mut hours, mut minutes): (Option<u32>, Option<u32>) = (None, None);
    while !rest.is_empty() {
        let digits = rest.len() - rest.trim_start_matches(|c: char| c.is_ascii_digit()).len();
        if digits == 0 || digits > 5 {
            return Err(bad());
        }
        let number: u32 = rest[..digits].parse().map_err(|_| bad())?;
        rest = rest[digits..].trim_start();
        let unit_len = rest.len()
            - rest
                .trim_start_matches(|c: char| c.is_ascii_alphabetic())
                .len();
        let unit = &rest[..unit_len];
        rest = rest[unit_len..].trim_start();
        match unit {
            "h" | "hr" | "hrs" | "hour" | "hours" if hours.is_none() && minutes.is_none() => {
                hours = Some(number)
            }
            "m" | "min" | "mins" | "minute" | "minutes" if minutes.is_none() => {
                minutes = Some(number)
            }
            "" if rest.is_empty() => {
                return Err(format!("{argument:?} has no unit (write 30m or 2h)"));
            }
            _ => return Err(bad()),
        }
    }
    let total = hours.unwrap_or(0) * 60 + minutes.unwrap_or(0);
    if hours.is_none() && minutes.is_none() {
        return Err(bad());
    }
    if total == 0 {
        return Err(format!("{argument:?} is no time at all"));
    }
    if total > MAX_MINUTES {
        return Err(format!(
            "{argument:?} is more than a day: log at most 24h per /time line"
        ));
    }
    Ok(total)
}

/// The canonical form: `45m`, `2h`, `1h15m`.
pub fn spent_text(minutes: u32) -> String {
    match (minutes / 60, minutes % 60) {
        (0, m) => format!("{m}m"),
        (h, 0) => format!("{h}h"),
        (h, m) => format!("{h}h{m}m"),
    }
}

/// Time an agent spent on a ticket, as `/time` records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spent {
    pub agent: String,
    pub minutes: u32,
}

/// `/time` by `agent`: the timeline kind and entry, and the time to record (never
/// refused once parsed).
pub fn spent(agent: &str, minutes: u32) -> (&'static str, String, Result<Spent, String>) {
    let event = format!("{} spent by {agent}", spent_text(minutes));
    let spent = Spent {
        agent: agent.to_string(),
        minutes,
    };
    ("time", event, Ok(spent))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::desk::quick_actions::{Command, parse_agent_reply};

    #[test]
    fn the_usual_ways_of_writing_time() {
        for (text, minutes) in [
            ("30m", 30),
            ("1h15m", 75),
            ("1h 15m", 75),
            ("45 min", 45),
            ("45 mins", 45),
            ("2h", 120),
            ("2 hours", 120),
            ("1 hour 5 minutes", 65),
            ("90m", 90),
            ("1H30M", 90),
            ("24h", 24 * 60),
        ] {
            assert_eq!(parse_spent(text), Ok(minutes), "{text}");
        }
    }

    #[test]
    fn what_is_not_a_time_says_why() {
        for (text, why) in [
            ("30", "has no unit"),
            ("half an hour", "is not a time spent"),
            ("1.5h", "is not a time spent"),
            ("15m1h", "is not a time spent"),
            ("1h1h", "is not a time spent"),
            ("0m", "is no time at all"),
            ("25h", "more than a day"),
            ("-5m", "is not a time spent"),
            ("30 s", "is not a time spent"),
            ("99999999999m", "is not a time spent"),
        ] {
            let err = parse_spent(text).unwrap_err();
            assert!(err.contains(why), "{text}: {err}");
        }
    }

    #[test]
    fn the_canonical_form_parses_back() {
        for minutes in [1, 45, 60, 75, 120, 1439] {
            assert_eq!(parse_spent(&spent_text(minutes)), Ok(minutes));
        }
        assert_eq!(spent_text(75), "1h15m");
    }

    #[test]
    fn time_is_a_command_and_one_line_per_reply() {
        let reply = parse_agent_reply("/time 1h15m\nReplaced the fuser.").unwrap();
        assert_eq!(reply.commands, vec![Command::Time(75)]);
        assert_eq!(reply.commands[0].to_string(), "/time 1h15m");
        assert_eq!(reply.text, "Replaced the fuser.");
        let errors = parse_agent_reply("/time 30m\n/note\n/time 30m").unwrap_err();
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].line_number, 3);
        assert!(
            errors[0].reason.starts_with("conflicts with"),
            "{}",
            errors[0]
        );
        let errors = parse_agent_reply("/time\n/time soon").unwrap_err();
        assert!(errors[0].reason.contains("needs the time spent"));
        assert!(errors[1].reason.contains("is not a time spent"));
    }

    #[test]
    fn spent_records_the_agent_and_the_minutes() {
        let (kind, event, spent) = spent("ann@example.test", 45);
        assert_eq!(
            (kind, event.as_str()),
            ("time", "45m spent by ann@example.test")
        );
        assert_eq!(
            spent,
            Ok(Spent {
                agent: "ann@example.test".into(),
                minutes: 45
            })
        );
    }
}
