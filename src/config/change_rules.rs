//! `[change]`: which tickets need a reviewed change plan before `/authorize`
//! (`review_required`, priorities and `team:<name>`, P1 and P2 by default). The
//! windows of plans are read in `[sla] time_zone`. The rules themselves are
//! `desk::change_review`'s.

use anyhow::Result;

use super::context::Ctx;
use super::raw::RawChange;
use crate::desk::change_plan::{ChangeRules, ReviewScope, parse_scope};
use crate::desk::roster::DeskConfig;

/// `[change]` (optional); teams named must be configured in `[teams]`.
pub(super) fn change(
    cx: &Ctx,
    raw: Option<RawChange>,
    desk: &DeskConfig,
    tz: chrono_tz::Tz,
) -> Result<ChangeRules> {
    let key = "[change] review_required";
    let mut rules = ChangeRules {
        tz,
        ..ChangeRules::default()
    };
    let Some(list) = raw.and_then(|r| r.review_required) else {
        return Ok(rules);
    };
    rules.review_required = Vec::new();
    for entry in list {
        let scope = parse_scope(&entry).map_err(|e| cx.err(key, e))?;
        if let ReviewScope::Team(name) = &scope
            && desk.team(name).is_none()
        {
            return Err(cx.err(key, format!("no team {name:?} in [teams]")));
        }
        rules.review_required.push(scope);
    }
    Ok(rules)
}
