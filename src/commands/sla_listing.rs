//! `ticketpost sla`: the tickets at risk of missing an SLA target (past their warning)
//! and those that missed one, most urgent first. The clocks are kept by `desk::sla`
//! and `timers`; this module reads `store::sla_clocks` and prints, for people or as JSON.

use std::io::Write;

use anyhow::Result;
use serde::Serialize;

use crate::clock::format_time;
use crate::config::Config;
use crate::desk::threading::token;
use crate::report::format_duration;
use crate::store;

/// Rows `sla` lists at most.
const LIST_LIMIT: usize = 1_000;

#[derive(Serialize)]
struct SlaRowJson {
    token: String,
    subject: String,
    priority: String,
    status: String,
    assignee: Option<String>,
    target: &'static str,
    due_at: String,
    state: &'static str,
    /// Seconds left (positive) or late (negative), wall-clock.
    seconds_left: i64,
}

/// `ticketpost sla`: tickets at risk (past their warning) and breached, most urgent
/// first, with time left or how late.
pub fn sla_command(cfg: &Config, json: bool, now: i64, out: &mut impl Write) -> Result<()> {
    let conn = store::open_reader(&cfg.store.path)?;
    let rows = store::sla_clocks::at_risk(&conn, now, LIST_LIMIT)?;
    let prefix = &cfg.desk.token_prefix;
    let items: Vec<SlaRowJson> = rows
        .iter()
        .map(|r| {
            let due = r.clock.due_at.unwrap_or(now);
            SlaRowJson {
                token: token(prefix, r.ticket_id),
                subject: r.subject.clone(),
                priority: r.clock.priority.as_str().to_string(),
                status: r.status.clone(),
                assignee: r.assignee.clone(),
                target: r.clock.target.as_str(),
                due_at: format_time(due),
                state: if due <= now { "breached" } else { "at_risk" },
                seconds_left: due - now,
            }
        })
        .collect();
    if json {
        serde_json::to_writer_pretty(&mut *out, &items)?;
        writeln!(out)?;
        return Ok(());
    }
    if items.is_empty() {
        writeln!(out, "no ticket is at risk or breached")?;
        return Ok(());
    }
    for i in &items {
        let when = if i.seconds_left <= 0 {
            format!("BREACHED {} late", format_duration(-i.seconds_left))
        } else {
            format!("at risk, {} left", format_duration(i.seconds_left))
        };
        writeln!(
            out,
            "{:<9} {} {:<8} {:<14} {:<28} due {}  {}  {}",
            i.token,
            i.priority,
            i.status,
            i.target,
            when,
            crate::timers::local_time(&cfg.sla, i.seconds_left + now),
            i.assignee.as_deref().unwrap_or("(unassigned)"),
            i.subject
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::plan_audit::{NOW, assert_no_scans, desk_store};

    #[test]
    fn every_query_of_sla_is_an_index_range() {
        let conn = desk_store();
        let (rows, ran) = assert_no_scans("sla", &conn, |c| {
            store::sla_clocks::at_risk(c, NOW, LIST_LIMIT).unwrap()
        });
        let found: Vec<(i64, &str)> = rows
            .iter()
            .map(|r| (r.ticket_id, r.clock.target.as_str()))
            .collect();
        // Overdue (the longest first), then not yet due: warned, or late to warn.
        assert_eq!(
            found,
            [
                (5, "first_response"),
                (1, "first_response"),
                (3, "resolution"),
                (7, "resolution")
            ]
        );
        for sql in store::sla_clocks::at_risk_queries() {
            assert!(ran.contains(&sql), "not run: {sql}");
        }
    }
}
