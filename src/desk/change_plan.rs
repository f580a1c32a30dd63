//! The change plan's data (`desk::change_review` decides; `store::changes` keeps it):
//! its states, sections, the moves a decision makes ([`PlanChange`]) and mails it
//! sends ([`ChangeMail`]), and `[change]`'s rules. No decisions here, so the ticket
//! row's types (`desk::roster`, `desk::merge`) can name these without a cycle.

use std::fmt;
use std::str::FromStr;

use chrono_tz::Tz;

use super::status::Priority;

/// Where a change plan stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeState {
    Planned,
    InReview,
    Approved,
    Rejected,
    Done,
    RolledBack,
}

impl ChangeState {
    pub const ALL: [ChangeState; 6] = [
        ChangeState::Planned,
        ChangeState::InReview,
        ChangeState::Approved,
        ChangeState::Rejected,
        ChangeState::Done,
        ChangeState::RolledBack,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ChangeState::Planned => "planned",
            ChangeState::InReview => "in_review",
            ChangeState::Approved => "approved",
            ChangeState::Rejected => "rejected",
            ChangeState::Done => "done",
            ChangeState::RolledBack => "rolled_back",
        }
    }

    /// The change still may happen (its window matters).
    pub fn is_open(self) -> bool {
        matches!(
            self,
            ChangeState::Planned | ChangeState::InReview | ChangeState::Approved
        )
    }
}

impl fmt::Display for ChangeState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ChangeState {
    type Err = String;
    fn from_str(s: &str) -> Result<ChangeState, String> {
        ChangeState::ALL
            .into_iter()
            .find(|c| c.as_str() == s)
            .ok_or_else(|| format!("unknown change state {s:?}"))
    }
}

/// The sections of a `/plan`, the window as Unix times.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanSections {
    pub change: String,
    pub risk: String,
    pub backup: String,
    pub rollback: String,
    pub window_start: i64,
    pub window_end: i64,
}

/// A ticket's change plan as the store knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangePlan {
    pub state: ChangeState,
    pub author: String,
    /// The agent asked to review (`/review`).
    pub reviewer: Option<String>,
    /// Who approved or rejected it.
    pub decided_by: Option<String>,
    pub sections: PlanSections,
    pub planned_at: i64,
    pub updated_at: i64,
    /// The `/done` result, `/rollback` or `/reject` reason.
    pub outcome: Option<String>,
    /// The window-start reminder, until it is sent.
    pub remind_at: Option<i64>,
    /// The window-end alert, until it is sent or the change is settled.
    pub alert_at: Option<i64>,
}

/// A move of the plan to `state` by `by`; `reviewer` for `in_review`, `note` the
/// reason or result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangeStep {
    pub state: ChangeState,
    pub by: String,
    pub reviewer: Option<String>,
    pub note: String,
}

/// A timer event of a plan's window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WindowEvent {
    /// The window starts: the assignee (or every agent) is reminded.
    Start,
    /// The window ended with no `/done` or `/rollback`: assignee and supervisors.
    Overdue,
}

/// Why agents get a change-review mail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeNotice {
    /// A plan was recorded (the other agents are told).
    Plan,
    /// A review is asked of the recipient.
    ReviewRequest,
    Approved,
    Rejected,
    Done,
    RolledBack,
    WindowStart,
    WindowOverdue,
}

impl ChangeNotice {
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeNotice::Plan => "plan",
            ChangeNotice::ReviewRequest => "review_request",
            ChangeNotice::Approved => "approved",
            ChangeNotice::Rejected => "rejected",
            ChangeNotice::Done => "done",
            ChangeNotice::RolledBack => "rolled_back",
            ChangeNotice::WindowStart => "window_start",
            ChangeNotice::WindowOverdue => "window_overdue",
        }
    }

    /// The headline in the subject.
    pub fn headline(self) -> &'static str {
        match self {
            ChangeNotice::Plan => "Change plan recorded",
            ChangeNotice::ReviewRequest => {
                "Change review requested (reply /approve or /reject <why>)"
            }
            ChangeNotice::Approved => "Change plan approved",
            ChangeNotice::Rejected => "Change plan rejected",
            ChangeNotice::Done => "Change done",
            ChangeNotice::RolledBack => "Change rolled back",
            ChangeNotice::WindowStart => "Change window starts now",
            ChangeNotice::WindowOverdue => "ALERT: change window ended with no /done or /rollback",
        }
    }
}

/// Which tickets need a reviewed plan before `/authorize`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReviewScope {
    Priority(Priority),
    /// A team name, as configured.
    Team(String),
}

/// `[change]`: what needs a review, and the zone windows are written in (`[sla]
/// time_zone`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangeRules {
    pub review_required: Vec<ReviewScope>,
    pub tz: Tz,
}

impl Default for ChangeRules {
    fn default() -> Self {
        ChangeRules {
            review_required: vec![
                ReviewScope::Priority(Priority::P1),
                ReviewScope::Priority(Priority::P2),
            ],
            tz: Tz::UTC,
        }
    }
}

impl ChangeRules {
    /// Whether a ticket of this priority and team needs an approved plan.
    pub fn review_required(&self, priority: Priority, team: Option<&str>) -> bool {
        self.review_required.iter().any(|s| match s {
            ReviewScope::Priority(p) => *p == priority,
            ReviewScope::Team(name) => team.is_some_and(|t| t.eq_ignore_ascii_case(name)),
        })
    }
}

/// One `[change] review_required` entry: `P1`..`P4` or `team:<name>`.
pub fn parse_scope(entry: &str) -> Result<ReviewScope, String> {
    let entry = entry.trim();
    if let Some(team) = entry.strip_prefix("team:") {
        let team = team.trim();
        if team.is_empty() {
            return Err("\"team:\" needs a team name (team:<name>)".into());
        }
        return Ok(ReviewScope::Team(team.to_string()));
    }
    entry
        .parse::<Priority>()
        .map(ReviewScope::Priority)
        .map_err(|_| format!("{entry:?} is neither a priority (P1, P2, P3, P4) nor team:<name>"))
}

/// What a change-review decision does to the plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlanChange {
    /// `/plan`: the ticket's plan, by `author` (state `planned`: a changed plan needs a
    /// new review).
    Plan {
        sections: PlanSections,
        author: String,
    },
    /// The plan moves (review asked, approved, rejected, done, rolled back).
    Step(ChangeStep),
    /// A window event was sent: stamped so that it fires once.
    WindowFired(WindowEvent),
}

/// A change-review mail to agents (and supervisors), one each.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangeMail {
    pub to: Vec<String>,
    pub notice: ChangeNotice,
    pub text: String,
}

/// What a change-review decision does: the lifecycle turns it into its `Decision`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Outcome {
    pub changes: Vec<PlanChange>,
    /// Timeline entries (kind `change`).
    pub events: Vec<String>,
    pub mails: Vec<ChangeMail>,
}
