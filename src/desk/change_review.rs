//! Change review by email (stage 3 of the support process: "have a second person review
//! critical steps"). This module owns the pure rules: reading a `/plan` (its `Change:`,
//! `Risk:`, `Backup:`, `Rollback:` and `Window:` sections, the window in the desk's time
//! zone), the plan's states and who may move it (`/review`, `/approve`, `/reject`,
//! `/done`, `/rollback`), whether `/authorize` waits for the review (`[change]
//! review_required`), and what the window's start and end send. Storing the plan is
//! `store::changes`; writing a decision is `ticket_writer`; the timer tick is `timers`.
//!
//! Who may approve: any agent other than the plan's author (the requested reviewer or
//! another agent); the one who did is recorded as `decided_by`.

use std::sync::LazyLock;

use chrono::{NaiveDate, NaiveDateTime, NaiveTime, TimeZone};
use chrono_tz::Tz;
use regex::Regex;

pub use super::change_plan::*;
use super::quick_actions::{AgentReply, Command};
use super::roster::DeskConfig;
use super::status::Priority;

/// The sections a plan needs, in the order they are named in errors.
const SECTIONS: [&str; 5] = ["Change", "Risk", "Backup", "Rollback", "Window"];

/// Reads a `/plan` reply's text (command lines taken out): sections headed `Change:`,
/// `Risk:`, `Backup:`, `Rollback:`, `Window:` (any case; the text may go on on the
/// heading's line and the lines below). A missing or empty section, or a window that
/// cannot be read, is an error that names it.
pub fn parse_plan(text: &str, tz: Tz) -> Result<PlanSections, String> {
    let mut parts: [Vec<&str>; 5] = Default::default();
    let mut current: Option<usize> = None;
    for line in text.lines() {
        let t = line.trim_start();
        let heading = SECTIONS.iter().enumerate().find_map(|(slot, name)| {
            let head = t.get(..name.len())?;
            if !head.eq_ignore_ascii_case(name) {
                return None;
            }
            let rest = t[name.len()..].trim_start();
            let rest = rest.strip_prefix(':').or_else(|| rest.strip_prefix('：'))?;
            Some((slot, rest.trim()))
        });
        match (heading, current) {
            (Some((slot, rest)), _) => {
                current = Some(slot);
                if !rest.is_empty() {
                    parts[slot].push(rest);
                }
            }
            (None, Some(slot)) => parts[slot].push(line),
            // Text before the first heading stays in the note only.
            (None, None) => {}
        }
    }
    let joined: Vec<String> = parts
        .iter()
        .map(|lines| lines.join("\n").trim().to_string())
        .collect();
    let missing: Vec<&str> = SECTIONS
        .iter()
        .zip(&joined)
        .filter(|(_, text)| text.is_empty())
        .map(|(name, _)| *name)
        .collect();
    if !missing.is_empty() {
        let names: Vec<String> = missing.iter().map(|n| format!("{n}:")).collect();
        return Err(format!(
            "the plan has no {} section (a plan needs Change:, Risk:, Backup:, Rollback: and Window:)",
            names.join(", ")
        ));
    }
    let (window_start, window_end) = parse_window(&joined[4], tz)
        .map_err(|why| format!("Window: {:?} cannot be read: {why}", joined[4]))?;
    Ok(PlanSections {
        change: joined[0].clone(),
        risk: joined[1].clone(),
        backup: joined[2].clone(),
        rollback: joined[3].clone(),
        window_start,
        window_end,
    })
}

/// `2026-12-05 22:00 - 2026-12-06 01:00`, `2026-12-05 22:00-23:30` (the same day) or
/// ISO `2026-12-05T22:00/2026-12-06T01:00`; seconds optional; `-`, `–`, `/` or `to`
/// between the two ends.
static WINDOW: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?i)^(\d{4}-\d{2}-\d{2})[T ]\s*(\d{1,2}:\d{2}(?::\d{2})?)\s*(?:-|–|—|/|to)\s*(?:(\d{4}-\d{2}-\d{2})[T ]\s*)?(\d{1,2}:\d{2}(?::\d{2})?)$",
    )
    .expect("window pattern is valid")
});

const WINDOW_FORMS: &str = "write it as 2026-12-05 22:00 - 2026-12-06 01:00, \
     2026-12-05 22:00-23:30 or 2026-12-05T22:00/2026-12-06T01:00";

/// A change window in zone `tz`: (start, end) as Unix times; the end after the start.
pub fn parse_window(text: &str, tz: Tz) -> Result<(i64, i64), String> {
    let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
    let caps = WINDOW
        .captures(&text)
        .ok_or_else(|| format!("not a date-time range ({WINDOW_FORMS}, in {tz})"))?;
    let group = |i: usize| caps.get(i).map(|m| m.as_str());
    let start_day = date(group(1).unwrap_or_default())?;
    let end_day = match group(3) {
        Some(day) => date(day)?,
        None => start_day,
    };
    let start = local(tz, start_day, group(2).unwrap_or_default())?;
    let end = local(tz, end_day, group(4).unwrap_or_default())?;
    if end <= start {
        return Err("the window ends before it starts".into());
    }
    Ok((start, end))
}

fn date(text: &str) -> Result<NaiveDate, String> {
    NaiveDate::parse_from_str(text, "%Y-%m-%d").map_err(|_| format!("{text:?} is not a date"))
}

fn local(tz: Tz, day: NaiveDate, time: &str) -> Result<i64, String> {
    let t = NaiveTime::parse_from_str(time, "%H:%M:%S")
        .or_else(|_| NaiveTime::parse_from_str(time, "%H:%M"))
        .map_err(|_| format!("{time:?} is not a time of day"))?;
    tz.from_local_datetime(&NaiveDateTime::new(day, t))
        .earliest()
        .map(|at| at.timestamp())
        .ok_or_else(|| format!("{day} {time} does not exist in {tz} (a clock change)"))
}

/// A window for people: `2026-12-05 22:00 – 2026-12-06 01:00 UTC`.
pub fn format_window(start: i64, end: i64, tz: Tz) -> String {
    let show = |at: i64, fmt: &str| match tz.timestamp_opt(at, 0).single() {
        Some(t) => t.format(fmt).to_string(),
        None => at.to_string(),
    };
    format!(
        "{} – {} {tz}",
        show(start, "%Y-%m-%d %H:%M"),
        show(end, "%Y-%m-%d %H:%M")
    )
}

/// The change-review commands.
pub fn is_change_command(command: &Command) -> bool {
    matches!(
        command,
        Command::Plan
            | Command::Review(_)
            | Command::Approve
            | Command::Reject(_)
            | Command::Done(_)
            | Command::Rollback(_)
    )
}

/// A reply with a change-review command is internal, like a note: never relayed.
pub fn is_internal(reply: &AgentReply) -> bool {
    reply.commands.iter().any(is_change_command)
}

/// What checking a reply's change-review commands needs.
pub struct Check<'a> {
    pub priority: Priority,
    pub team: Option<&'a str>,
    pub assignee: Option<&'a str>,
    /// The replying agent (lower case).
    pub agent: &'a str,
    pub reply: &'a AgentReply,
    pub plan: Option<&'a ChangePlan>,
    pub desk: &'a DeskConfig,
}

impl Check<'_> {
    /// The plan as it stands once this reply's `/plan` (if any) is taken: (state,
    /// author). A new plan is `planned` and its author is the replying agent.
    fn plan_after_plan_command(&self) -> Option<(ChangeState, &str)> {
        if self.reply.commands.contains(&Command::Plan) {
            Some((ChangeState::Planned, self.agent))
        } else {
            self.plan.map(|p| (p.state, p.author.as_str()))
        }
    }
}

/// Why `command` cannot run, for the change-review commands and `/authorize`; `None`
/// when it can (or is none of them).
pub fn command_problem(command: &Command, c: &Check) -> Option<String> {
    let plan = c.plan_after_plan_command();
    let no_plan = || "the ticket has no change plan (send /plan first)".to_string();
    match command {
        Command::Plan => parse_plan(&c.reply.text, c.desk.change.tz).err(),
        Command::Review(who) => {
            let Some(agent) = c.desk.resolve_agent(who) else {
                return Some(format!("no agent {who:?} (use an agent's address or name)"));
            };
            let Some((state, author)) = plan else {
                return Some(no_plan());
            };
            if agent.address.eq_ignore_ascii_case(author) {
                return Some(format!(
                    "{} wrote the plan: a review needs a second agent",
                    agent.address
                ));
            }
            settled(state, &["planned", "in_review"])
        }
        Command::Approve | Command::Reject(_) => {
            let Some((state, author)) = plan else {
                return Some(no_plan());
            };
            if author.eq_ignore_ascii_case(c.agent) {
                let verb = if *command == Command::Approve {
                    "approve"
                } else {
                    "reject"
                };
                return Some(format!(
                    "you wrote this plan: you cannot {verb} it yourself (another agent reviews it)"
                ));
            }
            settled(state, &["planned", "in_review"])
        }
        Command::Done(_) | Command::Rollback(_) => {
            let Some((state, _)) = plan else {
                return Some(no_plan());
            };
            settled(state, &["planned", "in_review", "approved"])
        }
        Command::Authorize(_) => authorize_held(c.priority, c.team, plan.map(|(s, _)| s), c.desk),
        _ => None,
    }
}

/// Why a plan in `state` cannot take the command (it only runs in `allowed` states).
fn settled(state: ChangeState, allowed: &[&str]) -> Option<String> {
    if allowed.contains(&state.as_str()) {
        return None;
    }
    Some(match state {
        ChangeState::Approved => {
            "the plan is approved already (a changed /plan needs a new review)".into()
        }
        ChangeState::Rejected => "the plan was rejected: send a changed /plan first".into(),
        ChangeState::Done | ChangeState::RolledBack => {
            format!("the change is settled ({state}): send a new /plan for another change")
        }
        ChangeState::Planned | ChangeState::InReview => format!("the plan is {state}"),
    })
}

/// Why `/authorize` waits: the ticket needs a review (`[change] review_required`) and
/// its plan is not approved.
pub fn authorize_held(
    priority: Priority,
    team: Option<&str>,
    plan: Option<ChangeState>,
    desk: &DeskConfig,
) -> Option<String> {
    if !desk.change.review_required(priority, team) {
        return None;
    }
    let why = match plan {
        Some(ChangeState::Approved) => return None,
        None => "there is no change plan yet (send /plan, then /review <agent>)".to_string(),
        Some(state) => format!("the change plan is {state}, not approved"),
    };
    Some(format!(
        "held until the change plan is approved: {} tickets need a reviewed plan ([change] review_required); {why}",
        priority
    ))
}

/// The other agents (never `except`).
fn other_agents(desk: &DeskConfig, except: &str) -> Vec<String> {
    desk.all_agents()
        .into_iter()
        .map(|a| a.address.clone())
        .filter(|a| !a.eq_ignore_ascii_case(except))
        .collect()
}

fn step(state: ChangeState, by: &str, reviewer: Option<String>, note: &str) -> PlanChange {
    PlanChange::Step(ChangeStep {
        state,
        by: by.to_string(),
        reviewer,
        note: note.to_string(),
    })
}

/// Applies a checked reply's change-review commands (in the order written): the
/// plan's changes, timeline entries and the agents' mails. The reply is internal
/// (the caller records it as a note and relays nothing).
pub fn apply_reply(c: &Check) -> Outcome {
    let mut d = Outcome::default();
    let agent = c.agent;
    let mut author = c.plan.map(|p| p.author.clone());
    for command in &c.reply.commands {
        match command {
            Command::Plan => {
                // Checked: the plan reads.
                let Ok(sections) = parse_plan(&c.reply.text, c.desk.change.tz) else {
                    continue;
                };
                let window =
                    format_window(sections.window_start, sections.window_end, c.desk.change.tz);
                d.events
                    .push(format!("change plan by {agent}, window {window}"));
                d.changes.push(PlanChange::Plan {
                    sections,
                    author: agent.to_string(),
                });
                author = Some(agent.to_string());
                let to = other_agents(c.desk, agent);
                if !to.is_empty() {
                    d.mails.push(ChangeMail {
                        to,
                        notice: ChangeNotice::Plan,
                        text: c.reply.text.clone(),
                    });
                }
            }
            Command::Review(who) => {
                let Some(reviewer) = c.desk.resolve_agent(who) else {
                    continue;
                };
                let reviewer = reviewer.address.to_ascii_lowercase();
                d.events.push(format!(
                    "review of the change plan asked of {reviewer} by {agent}"
                ));
                d.changes.push(step(
                    ChangeState::InReview,
                    agent,
                    Some(reviewer.clone()),
                    "",
                ));
                d.mails.push(ChangeMail {
                    to: vec![reviewer],
                    notice: ChangeNotice::ReviewRequest,
                    text: String::new(),
                });
            }
            Command::Approve | Command::Reject(_) | Command::Done(_) | Command::Rollback(_) => {
                let (state, notice, note, verb) = match command {
                    Command::Approve => (
                        ChangeState::Approved,
                        ChangeNotice::Approved,
                        "",
                        "approved",
                    ),
                    Command::Reject(why) => (
                        ChangeState::Rejected,
                        ChangeNotice::Rejected,
                        why.as_str(),
                        "rejected",
                    ),
                    Command::Done(result) => (
                        ChangeState::Done,
                        ChangeNotice::Done,
                        result.as_str(),
                        "done",
                    ),
                    Command::Rollback(why) => (
                        ChangeState::RolledBack,
                        ChangeNotice::RolledBack,
                        why.as_str(),
                        "rolled back",
                    ),
                    _ => continue,
                };
                let detail = if note.is_empty() {
                    format!("change plan {verb} by {agent}")
                } else {
                    format!("change plan {verb} by {agent}: {note}")
                };
                d.events.push(detail);
                d.changes.push(step(state, agent, None, note));
                let mut to = vec![];
                if let Some(a) = author.as_deref().filter(|a| !a.eq_ignore_ascii_case(agent)) {
                    to.push(a.to_string());
                }
                if let Some(a) = c.assignee.filter(|a| {
                    !a.eq_ignore_ascii_case(agent) && !to.iter().any(|t| t.eq_ignore_ascii_case(a))
                }) {
                    to.push(a.to_string());
                }
                if !to.is_empty() {
                    d.mails.push(ChangeMail {
                        to,
                        notice,
                        text: note.to_string(),
                    });
                }
            }
            _ => {}
        }
    }
    d
}

/// The window events due at `now` for a plan (its reminder and alert not sent yet).
pub fn window_due(plan: &ChangePlan, now: i64) -> Vec<WindowEvent> {
    let mut due = Vec::new();
    if plan.remind_at.is_some_and(|at| at <= now) {
        due.push(WindowEvent::Start);
    }
    if plan.alert_at.is_some_and(|at| at <= now) {
        due.push(WindowEvent::Overdue);
    }
    due
}

/// What a plan's window does at `now`: the reminder at its start to the assignee (or
/// every agent), the alert at its end, when the change is neither done nor rolled
/// back, to the assignee (or every agent) and the supervisors. Each is stamped on the
/// plan by a [`PlanChange::WindowFired`], so it fires once.
pub fn decide_window(
    assignee: Option<&str>,
    plan: &ChangePlan,
    now: i64,
    desk: &DeskConfig,
) -> Outcome {
    let mut d = Outcome::default();
    let window = format_window(
        plan.sections.window_start,
        plan.sections.window_end,
        desk.change.tz,
    );
    let holders: Vec<String> = match assignee {
        Some(a) => vec![a.to_ascii_lowercase()],
        None => desk
            .all_agents()
            .into_iter()
            .map(|a| a.address.to_ascii_lowercase())
            .collect(),
    };
    for event in window_due(plan, now) {
        d.changes.push(PlanChange::WindowFired(event));
        if !plan.state.is_open() {
            continue;
        }
        let (notice, mut to, detail) = match event {
            WindowEvent::Start => (
                ChangeNotice::WindowStart,
                holders.clone(),
                format!("change window starts ({window}); plan {}", plan.state),
            ),
            WindowEvent::Overdue => (
                ChangeNotice::WindowOverdue,
                holders.clone(),
                format!(
                    "change window ended ({window}) with no /done or /rollback; plan {}",
                    plan.state
                ),
            ),
        };
        if event == WindowEvent::Overdue {
            to.extend(
                desk.supervisors
                    .iter()
                    .map(|s| s.address.to_ascii_lowercase()),
            );
        }
        let mut seen = std::collections::HashSet::new();
        to.retain(|a| seen.insert(a.clone()));
        d.events.push(detail.clone());
        if !to.is_empty() {
            d.mails.push(ChangeMail {
                to,
                notice,
                text: detail,
            });
        }
    }
    d
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(text: &str) -> i64 {
        chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M")
            .unwrap()
            .and_utc()
            .timestamp()
    }

    const PLAN: &str = "Change: replace the core switch config\nRisk: the floor loses network for 5 minutes\n\
                        Backup: running-config saved to tftp\nRollback: reload the saved config\n\
                        Window: 2026-12-05 22:00 - 2026-12-06 01:00";

    #[test]
    fn window_forms_are_read_in_the_desk_zone() {
        let tz = Tz::UTC;
        assert_eq!(
            parse_window("2026-12-05 22:00 - 2026-12-06 01:00", tz),
            Ok((utc("2026-12-05 22:00"), utc("2026-12-06 01:00")))
        );
        assert_eq!(
            parse_window("2026-12-05 22:00-23:30", tz),
            Ok((utc("2026-12-05 22:00"), utc("2026-12-05 23:30")))
        );
        assert_eq!(
            parse_window("2026-12-05T22:00/2026-12-06T01:00", tz),
            Ok((utc("2026-12-05 22:00"), utc("2026-12-06 01:00")))
        );
        let berlin: Tz = "Europe/Berlin".parse().unwrap();
        assert_eq!(
            parse_window("2026-12-05 22:00 - 23:00", berlin),
            Ok((utc("2026-12-05 21:00"), utc("2026-12-05 22:00")))
        );
    }

    #[test]
    fn bad_windows_say_why() {
        let tz = Tz::UTC;
        let ends_before = parse_window("2026-12-05 22:00-21:00", tz).unwrap_err();
        assert!(
            ends_before.contains("ends before it starts"),
            "{ends_before}"
        );
        let garbage = parse_window("tonight after ten", tz).unwrap_err();
        assert!(garbage.contains("not a date-time range"), "{garbage}");
        let bad_date = parse_window("2026-13-05 22:00-23:00", tz).unwrap_err();
        assert!(bad_date.contains("not a date"), "{bad_date}");
        let bad_time = parse_window("2026-12-05 25:00-23:00", tz).unwrap_err();
        assert!(bad_time.contains("not a time"), "{bad_time}");
    }

    #[test]
    fn a_plan_has_five_sections() {
        let plan = parse_plan(PLAN, Tz::UTC).unwrap();
        assert_eq!(plan.change, "replace the core switch config");
        assert_eq!(plan.rollback, "reload the saved config");
        assert_eq!(plan.window_end - plan.window_start, 3 * 3600);
        let multi = parse_plan(
            &PLAN.replace("Risk: the floor", "RISK:\nthe floor"),
            Tz::UTC,
        )
        .unwrap();
        assert_eq!(multi.risk, "the floor loses network for 5 minutes");
    }

    #[test]
    fn a_missing_section_or_bad_window_is_named() {
        let no_backup = PLAN.replace("Backup: running-config saved to tftp\n", "");
        let e = parse_plan(&no_backup, Tz::UTC).unwrap_err();
        assert!(e.contains("no Backup: section"), "{e}");
        let bad = PLAN.replace("2026-12-06 01:00", "2026-12-05 21:00");
        let e = parse_plan(&bad, Tz::UTC).unwrap_err();
        assert!(e.starts_with("Window: "), "{e}");
        assert!(e.contains("ends before it starts"), "{e}");
    }

    #[test]
    fn scopes_are_priorities_or_teams() {
        assert_eq!(parse_scope("p1"), Ok(ReviewScope::Priority(Priority::P1)));
        assert_eq!(
            parse_scope("team:network"),
            Ok(ReviewScope::Team("network".into()))
        );
        assert!(
            parse_scope("P9")
                .unwrap_err()
                .contains("neither a priority")
        );
        assert!(parse_scope("team:").is_err());
        let rules = ChangeRules {
            review_required: vec![
                ReviewScope::Priority(Priority::P1),
                ReviewScope::Team("network".into()),
            ],
            tz: Tz::UTC,
        };
        assert!(rules.review_required(Priority::P1, None));
        assert!(rules.review_required(Priority::P4, Some("Network")));
        assert!(!rules.review_required(Priority::P2, Some("desktop")));
        assert!(ChangeRules::default().review_required(Priority::P2, None));
        assert!(!ChangeRules::default().review_required(Priority::P3, None));
    }

    #[test]
    fn states_round_trip_and_settled_states_refuse() {
        for s in ChangeState::ALL {
            assert_eq!(s.as_str().parse::<ChangeState>(), Ok(s));
        }
        assert!(
            settled(ChangeState::Approved, &["planned"])
                .unwrap()
                .contains("new review")
        );
        assert!(settled(ChangeState::InReview, &["planned", "in_review"]).is_none());
    }

    fn plan(state: ChangeState, remind_at: Option<i64>, alert_at: Option<i64>) -> ChangePlan {
        ChangePlan {
            state,
            author: "ann@example.test".into(),
            reviewer: None,
            decided_by: None,
            sections: parse_plan(PLAN, Tz::UTC).unwrap(),
            planned_at: 0,
            updated_at: 0,
            outcome: None,
            remind_at,
            alert_at,
        }
    }

    #[test]
    fn the_window_reminds_at_start_and_alerts_at_end_once() {
        let p = plan(ChangeState::Approved, Some(100), Some(200));
        assert!(window_due(&p, 99).is_empty());
        assert_eq!(window_due(&p, 100), vec![WindowEvent::Start]);
        assert_eq!(
            window_due(&p, 200),
            vec![WindowEvent::Start, WindowEvent::Overdue]
        );
        // Stamped: nothing more.
        assert!(window_due(&plan(ChangeState::Approved, None, None), 500).is_empty());
    }
}
