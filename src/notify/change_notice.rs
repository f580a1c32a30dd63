//! The change-review mail to agents and supervisors (`templates/en/change_notice.*`):
//! a plan recorded, a review asked, a verdict, the window's reminder and its alert.
//! The ticket's plan is shown as [`PlanView`], which the requester's authorisation
//! mail uses too. Which mail goes to whom is `desk::change_review`'s.

use anyhow::Result;
use chrono_tz::Tz;
use serde::Serialize;

use super::{OutgoingMail, Renderer, Thread, TicketView, bounded};
use crate::desk::change_plan::{ChangeNotice, ChangePlan};
use crate::desk::change_review::format_window;

/// Every notice, for the template check.
pub(super) const ALL_NOTICES: [ChangeNotice; 8] = [
    ChangeNotice::Plan,
    ChangeNotice::ReviewRequest,
    ChangeNotice::Approved,
    ChangeNotice::Rejected,
    ChangeNotice::Done,
    ChangeNotice::RolledBack,
    ChangeNotice::WindowStart,
    ChangeNotice::WindowOverdue,
];

/// A change plan as mail shows it; the window in the desk's zone.
#[derive(Debug, Clone, Serialize)]
pub struct PlanView {
    pub state: String,
    pub author: String,
    pub reviewer: Option<String>,
    pub decided_by: Option<String>,
    pub change: String,
    pub risk: String,
    pub backup: String,
    pub rollback: String,
    pub window: String,
    pub outcome: Option<String>,
}

impl PlanView {
    pub fn of(p: &ChangePlan, tz: Tz) -> PlanView {
        PlanView {
            state: p.state.as_str().to_string(),
            author: p.author.clone(),
            reviewer: p.reviewer.clone(),
            decided_by: p.decided_by.clone(),
            change: p.sections.change.clone(),
            risk: p.sections.risk.clone(),
            backup: p.sections.backup.clone(),
            rollback: p.sections.rollback.clone(),
            window: format_window(p.sections.window_start, p.sections.window_end, tz),
            outcome: p.outcome.clone(),
        }
    }

    pub(super) fn sample() -> PlanView {
        PlanView {
            state: "approved".into(),
            author: "agent@example.test".into(),
            reviewer: Some("second@example.test".into()),
            decided_by: Some("second@example.test".into()),
            change: "Sample change".into(),
            risk: "Sample risk".into(),
            backup: "Sample backup".into(),
            rollback: "Sample rollback".into(),
            window: "2026-12-05 22:00 – 2026-12-06 01:00 UTC".into(),
            outcome: Some("Sample outcome".into()),
        }
    }
}

impl Renderer {
    /// A change-review notice to one agent or supervisor, in the staff language, a
    /// thread of its own; its Message-ID is signed for them, so a reply to it proves
    /// them (`/approve`, `/reject`, `/done`, `/rollback`).
    #[allow(clippy::too_many_arguments)]
    pub fn change_notice(
        &self,
        t: &TicketView,
        to: &str,
        notice: ChangeNotice,
        author: Option<&str>,
        plan: &PlanView,
        text: &str,
        now: i64,
    ) -> Result<OutgoingMail> {
        let mut ctx = self.ticket_context(t);
        ctx.insert("headline", notice.headline());
        ctx.insert("notice", notice.as_str());
        ctx.insert("author", &author);
        ctx.insert("text", &bounded(text));
        ctx.insert("plan", plan);
        let rendered = self.render_event("change_notice", &self.language, &ctx)?;
        self.compose(
            "change_notice",
            t.id,
            self.one_person(to, "auto-generated"),
            rendered,
            &Thread::default(),
            now,
        )
    }
}
