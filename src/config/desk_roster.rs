//! `[desk]` and `[teams]`: who the desk is (its address, name and token prefix), who
//! works it (agents, supervisors, teams) and which other addresses are its own; and
//! the assembly of the whole [`DeskConfig`] from those and the tables read by
//! `triage_rules`, `ticket_lifecycle`, `routes`, `limits` and `macros`. What the desk does with
//! them is left to the `desk` module.

use anyhow::Result;

use super::context::Ctx;
use super::limits::max_participants;
use super::raw::{RawDesk, RawLifecycle, RawRoute, RawTriage};
use super::routes::routes;
use super::ticket_lifecycle::{duration, lifecycle};
use super::triage_rules::triage;
use crate::desk::roster::{DeskConfig, Team};

/// The raw tables the desk is made of, besides `[desk]` itself.
pub(super) struct DeskTables {
    pub(super) teams: Option<toml::Table>,
    pub(super) lifecycle: Option<RawLifecycle>,
    pub(super) triage: Option<RawTriage>,
    pub(super) routes: Option<Vec<RawRoute>>,
    /// `[limits] max_participants`.
    pub(super) max_participants: Option<i64>,
    /// `[templates] language`.
    pub(super) language: Option<String>,
    /// `[[macro]]`.
    pub(super) macros: Option<Vec<super::raw::RawMacro>>,
}

/// `[desk]` (required) with the tables in `tables`; `folders` are the folders read,
/// which routes may name.
pub(super) fn desk(
    cx: &Ctx,
    raw: Option<RawDesk>,
    tables: DeskTables,
    folders: &[String],
) -> Result<DeskConfig> {
    let d = cx.required("[desk]", raw)?;
    let (support_address, message_id_domain) = support_address(cx, d.support_address)?;
    let token_prefix = token_prefix(cx, d.token_prefix)?;
    let teams = teams(cx, tables.teams)?;
    let mut lifecycle = lifecycle(cx, tables.lifecycle)?;
    lifecycle.collision_window = duration(
        cx,
        "[desk] collision_window",
        d.collision_window,
        lifecycle.collision_window,
    )?;
    let (triage, oncall) = triage(cx, tables.triage)?;
    let default_language = tables.language.unwrap_or_else(|| "en".into());
    let other_addresses = other_addresses(cx, d.other_addresses)?;
    let routes = routes(cx, tables.routes, folders, &teams)?;
    let max_participants = max_participants(cx, tables.max_participants)?;
    let macros = super::macros::macros(cx, tables.macros)?;
    Ok(DeskConfig {
        dashboard_url: None,
        change: Default::default(),
        macros,
        other_addresses,
        routes,
        max_participants,
        triage,
        oncall,
        default_language,
        support_name: d.support_name.unwrap_or_else(|| "Support".into()),
        token_prefix,
        agents: cx.named_addresses("[desk] agents", d.agents)?,
        supervisors: cx.named_addresses("[desk] supervisors", d.supervisors)?,
        teams,
        support_address,
        message_id_domain,
        lifecycle,
    })
}

/// `[desk] support_address` (required), lower-cased, and its domain, which our
/// Message-IDs use.
fn support_address(cx: &Ctx, raw: Option<String>) -> Result<(String, String)> {
    let support_address = cx
        .required("[desk] support_address", raw)?
        .trim()
        .to_ascii_lowercase();
    match support_address.rsplit_once('@') {
        Some((local, domain))
            if !local.is_empty()
                && !domain.is_empty()
                && !support_address.contains(char::is_whitespace) =>
        {
            let domain = domain.to_string();
            Ok((support_address, domain))
        }
        _ => Err(cx.err(
            "[desk] support_address",
            format!("{support_address:?} is not an email address"),
        )),
    }
}

/// `[desk] token_prefix`: "TP" by default.
fn token_prefix(cx: &Ctx, raw: Option<String>) -> Result<String> {
    let token_prefix = raw.unwrap_or_else(|| "TP".into());
    if token_prefix.is_empty()
        || token_prefix.len() > 16
        || !token_prefix.chars().all(|c| c.is_ascii_alphanumeric())
    {
        return Err(cx.err(
            "[desk] token_prefix",
            "must be 1 to 16 ASCII letters or digits",
        ));
    }
    Ok(token_prefix)
}

/// `[teams]`: each key a one-word team name, each value its members' addresses.
fn teams(cx: &Ctx, raw: Option<toml::Table>) -> Result<Vec<Team>> {
    let mut teams = Vec::new();
    for (name, members) in raw.unwrap_or_default() {
        let key = format!("[teams] {name}");
        if name.trim().is_empty() || name.contains(char::is_whitespace) {
            return Err(cx.err(&key, "a team name is one word"));
        }
        let list: Vec<String> = members
            .try_into()
            .map_err(|_| cx.err(&key, "expected a list of addresses"))?;
        if list.is_empty() {
            return Err(cx.err(&key, "a team needs at least one member"));
        }
        teams.push(Team {
            members: cx.named_addresses(&key, Some(list))?,
            name,
        });
    }
    Ok(teams)
}

/// `[desk] other_addresses`: more addresses of ours, lower-cased.
fn other_addresses(cx: &Ctx, raw: Option<Vec<String>>) -> Result<Vec<String>> {
    let mut other_addresses = Vec::new();
    for (i, a) in raw.unwrap_or_default().iter().enumerate() {
        let a = a.trim().to_ascii_lowercase();
        if !a.contains('@') || a.contains(char::is_whitespace) {
            return Err(cx.err(
                &format!("[desk] other_addresses[{i}]"),
                format!("{a:?} is not an email address"),
            ));
        }
        other_addresses.push(a);
    }
    Ok(other_addresses)
}
