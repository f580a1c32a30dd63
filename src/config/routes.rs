//! `[[route]]`: rules that send matching mail (by recipient, sender domain, subject
//! or folder) to a team, with a priority and tags. Each rule is checked against the
//! folders read and the teams in `[teams]`; matching mail is left to
//! `desk/routing.rs`.

use anyhow::Result;

use super::context::Ctx;
use super::raw::RawRoute;
use crate::desk::roster::Team;
use crate::desk::routing::Route;

/// Every `[[route]]`, in file order; `folders` are the folders read.
pub(super) fn routes(
    cx: &Ctx,
    raw: Option<Vec<RawRoute>>,
    folders: &[String],
    teams: &[Team],
) -> Result<Vec<Route>> {
    raw.unwrap_or_default()
        .into_iter()
        .enumerate()
        .map(|(i, r)| route(cx, i, r, folders, teams))
        .collect()
}

/// The `i`th route (from 0; messages count from 1).
fn route(cx: &Ctx, i: usize, r: RawRoute, folders: &[String], teams: &[Team]) -> Result<Route> {
    let key = |k: &str| format!("[[route]] {} {k}", i + 1);
    let lower = |v: Option<Vec<String>>| -> Vec<String> {
        v.unwrap_or_default()
            .iter()
            .map(|x| x.trim().to_lowercase())
            .filter(|x| !x.is_empty())
            .collect()
    };
    let route = Route {
        to: lower(r.to),
        from_domain: lower(r.from_domain),
        subject: lower(r.subject),
        folder: r
            .folder
            .unwrap_or_default()
            .into_iter()
            .map(|f| f.trim().to_string())
            .filter(|f| !f.is_empty())
            .collect(),
        team: r.team,
        priority: r
            .priority
            .map(|p| p.parse().map_err(|e| cx.err(&key("priority"), e)))
            .transpose()?,
        tags: r.tags.unwrap_or_default(),
    };
    if route.to.is_empty()
        && route.from_domain.is_empty()
        && route.subject.is_empty()
        && route.folder.is_empty()
    {
        return Err(cx.err(
            &key("to"),
            "a route needs at least one of to, from_domain, subject, folder",
        ));
    }
    if let Some(f) = route
        .folder
        .iter()
        .find(|f| !folders.iter().any(|g| g.eq_ignore_ascii_case(f)))
    {
        return Err(cx.err(
            &key("folder"),
            format!("{f:?} is not one of the folders read ([mailbox] folders: {folders:?})"),
        ));
    }
    if let Some(team) = &route.team
        && !teams.iter().any(|t| &t.name == team)
    {
        return Err(cx.err(&key("team"), format!("no team {team:?} in [teams]")));
    }
    Ok(route)
}
