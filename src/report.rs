//! `ticketpost report`: how the desk did over a time range — tickets opened and closed,
//! median first-response and resolution times, the share of SLA targets met, the
//! requesters' satisfaction and the time agents logged — overall and per priority,
//! agent and team; printed for people (aligned tables),
//! scripts (`--json`) or spreadsheets (`--csv`).
//!
//! This module owns the range parsing, the figures and their three renderings. It only
//! reads the store: the SLA clocks are run by `desk::sla` and written by `store`; here
//! we read what they recorded. SQL returns just the rows inside the range, each set
//! through an index range (`tickets_created`, `tickets_closed`, `time_entries_at`,
//! `change_events_at`; the two clocks joined by their primary key), so a month costs
//! the month's tickets whatever the store holds; grouping, medians and shares are
//! computed in Rust, so the arithmetic is tested without SQL tricks.
//!
//! Satisfaction is read for the tickets closed in the range (a rating answers the
//! closing mail): their average rating, and the response rate, rated / closed; by
//! agent means by assignee. Time spent sums the `/time` entries logged in the range;
//! by agent means the agent who logged it, by team and priority the ticket's.
//!
//! The figures are "as of now" for the tickets opened in the range: a first response or
//! a clock decision recorded after `until` still counts for a ticket opened before it,
//! because the question asked is "how were the tickets of March served", not "what
//! happened in March".

use std::borrow::Cow;
use std::collections::HashMap;
use std::io::Write;

use anyhow::{Context, Result, anyhow, bail};
use chrono::{DateTime, NaiveDate};
use rusqlite::{Connection, params};
use serde::Serialize;

use crate::clock::format_time;
use crate::config::Config;
use crate::store;

/// How `report` prints its figures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReportFormat {
    Human,
    Json,
    Csv,
}

/// The group name of tickets without an assignee.
pub const UNASSIGNED: &str = "(unassigned)";
/// The group name of tickets without a team.
pub const NO_TEAM: &str = "(no team)";
/// Always listed, even when no ticket of that priority falls in the range, so reports
/// of different ranges line up. Other priority values found in the store follow them.
const PRIORITIES: [&str; 4] = ["P1", "P2", "P3", "P4"];

/// The CSV header; one row per group follows it.
pub const CSV_HEADER: &str = "group_kind,group,opened,closed,median_first_response_s,median_resolution_s,first_response_met,first_response_missed,first_response_share,resolution_met,resolution_missed,resolution_share,rated,satisfaction_average,response_rate,time_spent_minutes,changes_planned,changes_approved,changes_rejected,changes_done,changes_rolled_back";

/// The figures of one range.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    /// Start of the range, Unix seconds, included.
    pub since: i64,
    /// End of the range, Unix seconds, excluded.
    pub until: i64,
    /// `since` as RFC 3339 UTC, for people reading the JSON.
    pub since_time: String,
    /// `until` as RFC 3339 UTC.
    pub until_time: String,
    pub overall: Figures,
    /// P1..P4 always, then any other priority value found, sorted.
    pub by_priority: Vec<GroupFigures>,
    /// By assignee address, sorted; [`UNASSIGNED`] last.
    pub by_agent: Vec<GroupFigures>,
    /// By team name, sorted; [`NO_TEAM`] last.
    pub by_team: Vec<GroupFigures>,
    /// Change plans (`desk::change_review`) that took each state in the range.
    pub changes: ChangeFigures,
}

/// How many times change plans were recorded, approved, rejected, done and rolled
/// back in the range (a changed plan counts as planned again).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ChangeFigures {
    pub planned: u64,
    pub approved: u64,
    pub rejected: u64,
    pub done: u64,
    pub rolled_back: u64,
}

impl ChangeFigures {
    /// The counts in the range; none in a store from before change review (V12).
    fn of(conn: &Connection, since: i64, until: i64) -> Result<ChangeFigures> {
        let mut f = ChangeFigures::default();
        if store::schema_version(conn)? < 12 {
            return Ok(f);
        }
        for (state, count) in store::changes::counts(conn, since, until)? {
            let n = u64::try_from(count).unwrap_or(0);
            match state.as_str() {
                "planned" => f.planned = n,
                "approved" => f.approved = n,
                "rejected" => f.rejected = n,
                "done" => f.done = n,
                "rolled_back" => f.rolled_back = n,
                _ => {}
            }
        }
        Ok(f)
    }
}

/// The figures of one group (a priority, an agent, a team).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GroupFigures {
    pub group: String,
    #[serde(flatten)]
    pub figures: Figures,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Figures {
    /// Tickets created in the range.
    pub opened: u64,
    /// Tickets whose `closed_at` is in the range (wherever they were opened).
    pub closed: u64,
    /// Over the tickets opened in the range that have had a first response.
    pub median_first_response_s: Option<i64>,
    /// Over the tickets opened in the range whose resolution clock was met (stopped).
    pub median_resolution_s: Option<i64>,
    pub first_response_sla: SlaFigures,
    pub resolution_sla: SlaFigures,
    /// The ratings of the tickets closed in the range.
    pub satisfaction: SatisfactionFigures,
    /// Minutes logged with `/time` in the range.
    pub time_spent_minutes: u64,
}

/// The requesters' ratings (1..=5) of the tickets closed in the range.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SatisfactionFigures {
    /// Closed tickets with a rating.
    pub rated: u64,
    /// Their average rating; `None` when none is rated.
    pub average: Option<f64>,
    /// `rated / closed`, 0..=1; `None` when none closed.
    pub response_rate: Option<f64>,
}

/// One SLA target's clocks, for the tickets opened in the range.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SlaFigures {
    /// Stopped in time: `met_at` set, never breached.
    pub met: u64,
    /// Breached, whether or not met later.
    pub missed: u64,
    /// Neither met nor breached yet; left out of `share`.
    pub running: u64,
    /// Tickets without this clock (created before SLA clocks existed); left out too.
    pub no_data: u64,
    /// `met / (met + missed)`, 0..=1; `None` when no clock is decided.
    pub share: Option<f64>,
}

/// Prints the report for `since`..`until` (see [`parse_range`]) from the store in
/// `cfg` to `out`.
pub fn report(
    cfg: &Config,
    since: &str,
    until: &str,
    format: ReportFormat,
    out: &mut impl Write,
) -> Result<()> {
    let (since_unix, until_unix) = parse_range(since, until)?;
    let conn = store::open_reader(&cfg.store.path)?;
    let report = compute(&conn, since_unix, until_unix)?;
    render(&report, format, out)
}

/// Turns the `--since` and `--until` arguments into `[since, until)` in Unix seconds.
///
/// Each is a `YYYY-MM-DD` UTC day or an RFC 3339 instant. A day given to `--since`
/// starts the range at the beginning of that day; a day given to `--until` is included,
/// so the range ends at the end of that day (`--since 2026-03-01 --until 2026-03-01` is
/// that one day). An instant is taken as is; fractions of a second round up, which
/// keeps exactly the whole-second `created_at` values that lie inside the range.
pub fn parse_range(since: &str, until: &str) -> Result<(i64, i64)> {
    let start = parse_bound("--since", since, false)?;
    let end = parse_bound("--until", until, true)?;
    if start >= end {
        bail!(
            "--since {since:?} is not before --until {until:?}: the range is empty \
             (a day given to --until is included, so the same day twice is one day)"
        );
    }
    Ok((start, end))
}

/// The start of a range given to `flag` (a `YYYY-MM-DD` UTC day, from its beginning,
/// or an RFC 3339 instant), in Unix seconds: `tickets list --since`.
pub fn parse_start(flag: &str, text: &str) -> Result<i64> {
    parse_bound(flag, text, false)
}

/// One bound; `day_end` makes a bare day mean the end of that day.
fn parse_bound(flag: &str, text: &str, day_end: bool) -> Result<i64> {
    let t = text.trim();
    if t.len() <= 10 {
        let day = parse_day(t)
            .ok_or_else(|| anyhow!("{flag} {text:?} is not a date (use YYYY-MM-DD)"))?;
        let day = if day_end {
            day.succ_opt()
                .ok_or_else(|| anyhow!("{flag} {text:?} is too far in the future"))?
        } else {
            day
        };
        return Ok(day.and_time(chrono::NaiveTime::MIN).and_utc().timestamp());
    }
    let at = DateTime::parse_from_rfc3339(t).map_err(|e| {
        anyhow!(
            "{flag} {text:?} is not a date (use YYYY-MM-DD, or an RFC 3339 time like \
             2026-03-01T09:30:00Z): {e}"
        )
    })?;
    let secs = at.timestamp();
    Ok(if at.timestamp_subsec_nanos() > 0 {
        secs.saturating_add(1)
    } else {
        secs
    })
}

/// Exactly `YYYY-MM-DD` (chrono's `%Y-%m-%d` also takes `2026-3-1` and signs).
fn parse_day(t: &str) -> Option<NaiveDate> {
    let b = t.as_bytes();
    let shape_ok = b.len() == 10
        && b.iter().enumerate().all(|(i, c)| match i {
            4 | 7 => *c == b'-',
            _ => c.is_ascii_digit(),
        });
    if !shape_ok {
        return None;
    }
    let year = t.get(0..4)?.parse().ok()?;
    let month = t.get(5..7)?.parse().ok()?;
    let day = t.get(8..10)?.parse().ok()?;
    NaiveDate::from_ymd_opt(year, month, day)
}

/// Computes the figures for `[since, until)` (Unix seconds) from the store.
///
/// Works on stores from schema version 2 on; before version 4 there are no SLA clocks
/// and every ticket counts as "no SLA data".
pub fn compute(conn: &Connection, since: i64, until: i64) -> Result<Report> {
    if since >= until {
        bail!("the report range is empty ({since} >= {until})");
    }
    let version = store::schema_version(conn)?;
    if version < 2 {
        bail!(
            "the store has schema version {version}; a report needs version 2 or newer \
             (run `ticketpost run --once` to migrate it)"
        );
    }
    let has_clocks: bool = conn
        .query_row(
            "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'sla_clocks')",
            [],
            |r| r.get(0),
        )
        .context("cannot read the store's schema")?;

    let mut overall = Acc::default();
    let mut by_priority = Groups::default();
    let mut by_agent = Groups::default();
    let mut by_team = Groups::default();

    let opened_sql = if has_clocks {
        "SELECT t.priority, t.assignee, t.team, t.created_at, t.first_response_at,
                fr.ticket_id IS NOT NULL, fr.met_at, fr.breached_at,
                rs.ticket_id IS NOT NULL, rs.met_at, rs.breached_at
         FROM tickets t
         LEFT JOIN sla_clocks fr ON fr.ticket_id = t.id AND fr.target = 'first_response'
         LEFT JOIN sla_clocks rs ON rs.ticket_id = t.id AND rs.target = 'resolution'
         WHERE t.created_at >= ?1 AND t.created_at < ?2"
    } else {
        "SELECT t.priority, t.assignee, t.team, t.created_at, t.first_response_at,
                0, NULL, NULL, 0, NULL, NULL
         FROM tickets t
         WHERE t.created_at >= ?1 AND t.created_at < ?2"
    };
    let context = "cannot read the tickets opened in the range";
    let mut stmt = conn.prepare(opened_sql).context(context)?;
    let mut rows = stmt.query(params![since, until]).context(context)?;
    while let Some(r) = rows.next().context(context)? {
        let created_at: i64 = r.get(3)?;
        let first_response_at: Option<i64> = r.get(4)?;
        let resolution_met_at: Option<i64> = r.get(9)?;
        let opened = Opened {
            first_response_s: first_response_at.map(|at| at.saturating_sub(created_at)),
            resolution_s: resolution_met_at.map(|at| at.saturating_sub(created_at)),
            first_response: ClockState::of(r.get(5)?, r.get(6)?, r.get(7)?),
            resolution: ClockState::of(r.get(8)?, resolution_met_at, r.get(10)?),
        };
        overall.add_opened(&opened);
        by_priority
            .get(Some(r.get_ref(0)?.as_str()?))
            .add_opened(&opened);
        by_agent
            .get(r.get_ref(1)?.as_str_or_null()?)
            .add_opened(&opened);
        by_team
            .get(r.get_ref(2)?.as_str_or_null()?)
            .add_opened(&opened);
    }

    let has_worklog = has_table(conn, "time_entries")?;
    let closed_sql = if has_worklog {
        "SELECT t.priority, t.assignee, t.team, s.rating FROM tickets t
         LEFT JOIN satisfaction s ON s.ticket_id = t.id
         WHERE t.closed_at >= ?1 AND t.closed_at < ?2"
    } else {
        "SELECT priority, assignee, team, NULL FROM tickets
         WHERE closed_at >= ?1 AND closed_at < ?2"
    };
    let context = "cannot read the tickets closed in the range";
    let mut stmt = conn.prepare(closed_sql).context(context)?;
    let mut rows = stmt.query(params![since, until]).context(context)?;
    while let Some(r) = rows.next().context(context)? {
        let rating: Option<i64> = r.get(3)?;
        overall.add_closed(rating);
        by_priority
            .get(Some(r.get_ref(0)?.as_str()?))
            .add_closed(rating);
        by_agent
            .get(r.get_ref(1)?.as_str_or_null()?)
            .add_closed(rating);
        by_team
            .get(r.get_ref(2)?.as_str_or_null()?)
            .add_closed(rating);
    }
    if has_worklog {
        let context = "cannot read the time logged in the range";
        let mut stmt = conn
            .prepare(
                "SELECT e.agent, t.priority, t.team, e.minutes FROM time_entries e
                 JOIN tickets t ON t.id = e.ticket_id
                 WHERE e.at >= ?1 AND e.at < ?2",
            )
            .context(context)?;
        let mut rows = stmt.query(params![since, until]).context(context)?;
        while let Some(r) = rows.next().context(context)? {
            let minutes = u64::try_from(r.get::<_, i64>(3)?).unwrap_or(0);
            overall.time_spent_minutes += minutes;
            by_agent
                .get(Some(r.get_ref(0)?.as_str()?))
                .time_spent_minutes += minutes;
            by_priority
                .get(Some(r.get_ref(1)?.as_str()?))
                .time_spent_minutes += minutes;
            by_team
                .get(r.get_ref(2)?.as_str_or_null()?)
                .time_spent_minutes += minutes;
        }
    }

    for p in PRIORITIES {
        by_priority.get(Some(p));
    }
    let priority_rank = |p: &str| {
        PRIORITIES
            .iter()
            .position(|k| *k == p)
            .unwrap_or(PRIORITIES.len())
    };

    Ok(Report {
        since,
        until,
        since_time: format_time(since),
        until_time: format_time(until),
        overall: overall.finish(),
        by_priority: by_priority.finish(priority_rank, "(none)"),
        by_agent: by_agent.finish(|_| 0, UNASSIGNED),
        by_team: by_team.finish(|_| 0, NO_TEAM),
        changes: ChangeFigures::of(conn, since, until)?,
    })
}

/// Whether the store has table `name` (reports read stores of older schemas too).
fn has_table(conn: &Connection, name: &str) -> Result<bool> {
    conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?1)",
        [name],
        |r| r.get(0),
    )
    .context("cannot read the store's schema")
}

/// Accumulators by group name. Looked up by `&str`, so a row's names are copied only
/// the first time a group is seen.
#[derive(Default)]
struct Groups {
    index: HashMap<String, usize>,
    named: Vec<(String, Acc)>,
    unnamed: Option<Acc>,
}

impl Groups {
    fn get(&mut self, name: Option<&str>) -> &mut Acc {
        let Some(name) = name else {
            return self.unnamed.get_or_insert_with(Acc::default);
        };
        let i = match self.index.get(name) {
            Some(&i) => i,
            None => {
                self.named.push((name.to_owned(), Acc::default()));
                self.index.insert(name.to_owned(), self.named.len() - 1);
                self.named.len() - 1
            }
        };
        &mut self.named[i].1
    }

    /// Sorted by `rank`, then by name; the group without a name last, as `none`.
    fn finish(self, rank: impl Fn(&str) -> usize, none: &str) -> Vec<GroupFigures> {
        let mut named = self.named;
        named.sort_by(|(a, _), (b, _)| (rank(a), a).cmp(&(rank(b), b)));
        named
            .into_iter()
            .chain(self.unnamed.map(|acc| (none.to_string(), acc)))
            .map(|(group, acc)| GroupFigures {
                group,
                figures: acc.finish(),
            })
            .collect()
    }
}

/// What one ticket opened in the range contributes.
struct Opened {
    first_response_s: Option<i64>,
    resolution_s: Option<i64>,
    first_response: ClockState,
    resolution: ClockState,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ClockState {
    Met,
    Missed,
    Running,
    NoData,
}

impl ClockState {
    fn of(exists: bool, met_at: Option<i64>, breached_at: Option<i64>) -> ClockState {
        match (exists, met_at, breached_at) {
            (false, _, _) => ClockState::NoData,
            (true, _, Some(_)) => ClockState::Missed,
            (true, Some(_), None) => ClockState::Met,
            (true, None, None) => ClockState::Running,
        }
    }
}

#[derive(Default)]
struct Acc {
    opened: u64,
    closed: u64,
    first_response_s: Vec<i64>,
    resolution_s: Vec<i64>,
    first_response: SlaCount,
    resolution: SlaCount,
    rated: u64,
    rating_sum: u64,
    time_spent_minutes: u64,
}

#[derive(Default)]
struct SlaCount {
    met: u64,
    missed: u64,
    running: u64,
    no_data: u64,
}

impl SlaCount {
    fn add(&mut self, state: ClockState) {
        match state {
            ClockState::Met => self.met += 1,
            ClockState::Missed => self.missed += 1,
            ClockState::Running => self.running += 1,
            ClockState::NoData => self.no_data += 1,
        }
    }

    fn finish(&self) -> SlaFigures {
        let decided = self.met + self.missed;
        SlaFigures {
            met: self.met,
            missed: self.missed,
            running: self.running,
            no_data: self.no_data,
            share: (decided > 0).then(|| self.met as f64 / decided as f64),
        }
    }
}

impl Acc {
    /// A ticket closed in the range, with its rating if it has one.
    fn add_closed(&mut self, rating: Option<i64>) {
        self.closed += 1;
        if let Some(r) = rating.and_then(|r| u64::try_from(r).ok()) {
            self.rated += 1;
            self.rating_sum += r;
        }
    }

    fn add_opened(&mut self, t: &Opened) {
        self.opened += 1;
        self.first_response_s.extend(t.first_response_s);
        self.resolution_s.extend(t.resolution_s);
        self.first_response.add(t.first_response);
        self.resolution.add(t.resolution);
    }

    fn finish(mut self) -> Figures {
        Figures {
            opened: self.opened,
            closed: self.closed,
            median_first_response_s: median(&mut self.first_response_s),
            median_resolution_s: median(&mut self.resolution_s),
            first_response_sla: self.first_response.finish(),
            resolution_sla: self.resolution.finish(),
            satisfaction: SatisfactionFigures {
                rated: self.rated,
                average: (self.rated > 0).then(|| self.rating_sum as f64 / self.rated as f64),
                response_rate: (self.closed > 0).then(|| self.rated as f64 / self.closed as f64),
            },
            time_spent_minutes: self.time_spent_minutes,
        }
    }
}

/// The median; of an even count, the lower of the two middle values. That keeps it a
/// duration some ticket actually had, in whole seconds, and never flatters the desk.
/// Reorders `values`.
fn median(values: &mut [i64]) -> Option<i64> {
    if values.is_empty() {
        return None;
    }
    let mid = (values.len() - 1) / 2;
    let (_, m, _) = values.select_nth_unstable(mid);
    Some(*m)
}

/// Writes `report` to `out` in `format`.
pub fn render(report: &Report, format: ReportFormat, out: &mut impl Write) -> Result<()> {
    match format {
        ReportFormat::Human => write_human(report, out),
        ReportFormat::Json => {
            serde_json::to_writer_pretty(&mut *out, report)?;
            writeln!(out)?;
            Ok(())
        }
        ReportFormat::Csv => write_csv(report, out),
    }
    .context("cannot write the report")
}

/// Every group with its kind, in output order: all, priorities, agents, teams.
fn groups(report: &Report) -> Vec<(&'static str, &str, &Figures)> {
    let mut rows = vec![("all", "all", &report.overall)];
    for (kind, list) in [
        ("priority", &report.by_priority),
        ("agent", &report.by_agent),
        ("team", &report.by_team),
    ] {
        rows.extend(list.iter().map(|g| (kind, g.group.as_str(), &g.figures)));
    }
    rows
}

/// One header line, then one row per group. Lines end in `\n`; empty cells mean "no
/// value" (no median, no decided clock).
fn write_csv(report: &Report, out: &mut impl Write) -> Result<()> {
    writeln!(out, "{CSV_HEADER}")?;
    let opt = |v: Option<i64>| v.map(|v| v.to_string()).unwrap_or_default();
    let share = |v: Option<f64>| v.map(|v| v.to_string()).unwrap_or_default();
    let c = &report.changes;
    for (kind, group, f) in groups(report) {
        // The change counts are the desk's, on the `all` row only.
        let changes = if kind == "all" {
            format!(
                "{},{},{},{},{}",
                c.planned, c.approved, c.rejected, c.done, c.rolled_back
            )
        } else {
            ",,,,".to_string()
        };
        writeln!(
            out,
            "{kind},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{changes}",
            csv_field(group),
            f.opened,
            f.closed,
            opt(f.median_first_response_s),
            opt(f.median_resolution_s),
            f.first_response_sla.met,
            f.first_response_sla.missed,
            share(f.first_response_sla.share),
            f.resolution_sla.met,
            f.resolution_sla.missed,
            share(f.resolution_sla.share),
            f.satisfaction.rated,
            share(f.satisfaction.average),
            share(f.satisfaction.response_rate),
            f.time_spent_minutes,
        )?;
    }
    Ok(())
}

/// RFC 4180 quoting: a field with a comma, quote or line break is put in quotes, and
/// its quotes doubled.
fn csv_field(s: &str) -> Cow<'_, str> {
    if s.contains([',', '"', '\n', '\r']) {
        Cow::Owned(format!("\"{}\"", s.replace('"', "\"\"")))
    } else {
        Cow::Borrowed(s)
    }
}

fn write_human(report: &Report, out: &mut impl Write) -> Result<()> {
    writeln!(
        out,
        "Tickets from {} to {} (end excluded)\n",
        report.since_time, report.until_time
    )?;
    let header: Vec<String> = [
        "",
        "opened",
        "closed",
        "median 1st response",
        "median resolution",
        "1st response SLA met",
        "resolution SLA met",
        "satisfaction",
        "time spent",
    ]
    .map(String::from)
    .to_vec();
    let row = |label: String, f: &Figures| -> Vec<String> {
        vec![
            label,
            f.opened.to_string(),
            f.closed.to_string(),
            duration_cell(f.median_first_response_s),
            duration_cell(f.median_resolution_s),
            sla_cell(&f.first_response_sla),
            sla_cell(&f.resolution_sla),
            satisfaction_cell(&f.satisfaction, f.closed),
            match f.time_spent_minutes {
                0 => "-".to_string(),
                m => format_duration(i64::try_from(m * 60).unwrap_or(i64::MAX)),
            },
        ]
    };
    // Sections share the column widths, so the whole report reads as one table.
    let mut sections: Vec<(Option<&str>, Vec<Vec<String>>)> =
        vec![(None, vec![row("All".to_string(), &report.overall)])];
    for (title, list, empty) in [
        ("By priority", &report.by_priority, ""),
        ("By agent", &report.by_agent, "  (no tickets)"),
        ("By team", &report.by_team, "  (no tickets)"),
    ] {
        let rows: Vec<Vec<String>> = list
            .iter()
            .map(|g| row(format!("  {}", g.group), &g.figures))
            .collect();
        if rows.is_empty() {
            sections.push((Some(title), vec![vec![empty.to_string()]]));
        } else {
            sections.push((Some(title), rows));
        }
    }
    let columns = header.len();
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for (_, rows) in &sections {
        for r in rows.iter().filter(|r| r.len() == columns) {
            for (w, cell) in widths.iter_mut().zip(r) {
                *w = (*w).max(cell.chars().count());
            }
        }
    }
    write_row(out, &header, &widths)?;
    for (title, rows) in &sections {
        if let Some(title) = title {
            writeln!(out, "{title}")?;
        }
        for r in rows {
            write_row(out, r, &widths)?;
        }
    }
    let c = &report.changes;
    writeln!(
        out,
        "\nChanges: {} planned, {} approved, {} rejected, {} done, {} rolled back.",
        c.planned, c.approved, c.rejected, c.done, c.rolled_back
    )?;
    let (fr, rs) = (
        report.overall.first_response_sla.no_data,
        report.overall.resolution_sla.no_data,
    );
    if fr + rs > 0 {
        writeln!(
            out,
            "\nNo SLA clock (tickets from before SLA tracking): {fr} first response, {rs} resolution."
        )?;
    }
    Ok(())
}

/// The first cell left-aligned, the others right-aligned, two spaces apart.
fn write_row(out: &mut impl Write, cells: &[String], widths: &[usize]) -> Result<()> {
    let mut line = String::new();
    for (i, (cell, w)) in cells.iter().zip(widths).enumerate() {
        let pad = w.saturating_sub(cell.chars().count());
        if i == 0 {
            line.push_str(cell);
            line.extend(std::iter::repeat_n(' ', pad));
        } else {
            line.push_str("  ");
            line.extend(std::iter::repeat_n(' ', pad));
            line.push_str(cell);
        }
    }
    writeln!(out, "{}", line.trim_end())?;
    Ok(())
}

fn duration_cell(seconds: Option<i64>) -> String {
    seconds
        .map(format_duration)
        .unwrap_or_else(|| "-".to_string())
}

/// "83.3% (5/6)", plus the clocks still running; "-" when nothing is decided.
fn sla_cell(s: &SlaFigures) -> String {
    let decided = s.met + s.missed;
    let mut cell = match s.share {
        Some(share) => format!("{:.1}% ({}/{decided})", share * 100.0, s.met),
        None => "-".to_string(),
    };
    if s.running > 0 {
        cell = if s.share.is_some() {
            format!("{cell}, {} running", s.running)
        } else {
            format!("{} running", s.running)
        };
    }
    cell
}

/// "4.5 (2/3 rated)": the average rating and how many closed tickets were rated; "-"
/// when none was.
fn satisfaction_cell(s: &SatisfactionFigures, closed: u64) -> String {
    match s.average {
        Some(avg) => format!("{avg:.1} ({}/{closed} rated)", s.rated),
        None => "-".to_string(),
    }
}

/// "45s", "12m", "2h 05m", "1d 3h": two units at most, as precise as a person reading
/// a report needs.
pub fn format_duration(seconds: i64) -> String {
    if seconds < 0 {
        return format!("-{}", format_duration(seconds.saturating_neg()));
    }
    let (d, h, m, s) = (
        seconds / 86_400,
        seconds % 86_400 / 3_600,
        seconds % 3_600 / 60,
        seconds % 60,
    );
    if d > 0 {
        format!("{d}d {h}h")
    } else if h > 0 {
        format!("{h}h {m:02}m")
    } else if m > 0 {
        format!("{m}m")
    } else {
        format!("{s}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2026-03-01T00:00:00Z.
    const S: i64 = 1_772_323_200;
    /// 2026-03-02T00:00:00Z: the end of a one-day range starting at `S`.
    const U: i64 = S + 86_400;

    fn store() -> (tempfile::TempDir, Connection) {
        let dir = tempfile::tempdir().unwrap();
        let conn = store::open_and_migrate(&dir.path().join("t.db"), false).unwrap();
        (dir, conn)
    }

    struct T<'a> {
        id: i64,
        priority: &'a str,
        created_at: i64,
        closed_at: Option<i64>,
        first_response_at: Option<i64>,
        assignee: Option<&'a str>,
        team: Option<&'a str>,
    }

    fn ticket(conn: &Connection, t: T) {
        conn.execute(
            "INSERT INTO tickets (id, status, priority, requester, subject, created_at, updated_at,
                                  closed_at, first_response_at, assignee, team)
             VALUES (?1, 'open', ?2, 'req@example.test', 's', ?3, ?3, ?4, ?5, ?6, ?7)",
            params![
                t.id,
                t.priority,
                t.created_at,
                t.closed_at,
                t.first_response_at,
                t.assignee,
                t.team
            ],
        )
        .unwrap();
    }

    fn clock(conn: &Connection, id: i64, target: &str, met: Option<i64>, breached: Option<i64>) {
        conn.execute(
            "INSERT INTO sla_clocks (ticket_id, target, priority, hours, target_seconds,
                                     started_at, consumed, met_at, breached_at)
             VALUES (?1, ?2, 'P1', 'office', 3600, 0, 0, ?3, ?4)",
            params![id, target, met, breached],
        )
        .unwrap();
    }

    /// The day S..U with tickets on both boundaries and outside it.
    fn sample(conn: &Connection) {
        let t = |id, priority, created_at| T {
            id,
            priority,
            created_at,
            closed_at: None,
            first_response_at: None,
            assignee: None,
            team: None,
        };
        // 1: P1, answered in 10m, resolved in 2h, both in time, closed in range.
        ticket(
            conn,
            T {
                closed_at: Some(S + 7_300),
                first_response_at: Some(S + 100 + 600),
                assignee: Some("ann@example.test"),
                team: Some("Billing, EU"),
                ..t(1, "P1", S + 100)
            },
        );
        clock(conn, 1, "first_response", Some(S + 700), None);
        clock(conn, 1, "resolution", Some(S + 100 + 7_200), None);
        // 2: P1, answered in 30m after the breach; resolution still running.
        ticket(
            conn,
            T {
                first_response_at: Some(S + 200 + 1_800),
                assignee: Some("ann@example.test"),
                team: Some("Billing, EU"),
                ..t(2, "P1", S + 200)
            },
        );
        clock(conn, 2, "first_response", Some(S + 2_000), Some(S + 1_000));
        clock(conn, 2, "resolution", None, None);
        // 3: P2, nobody on it, both clocks running.
        ticket(conn, t(3, "P2", S + 300));
        clock(conn, 3, "first_response", None, None);
        clock(conn, 3, "resolution", None, None);
        // 4: P3, answered in 1h, no SLA clocks at all.
        ticket(
            conn,
            T {
                first_response_at: Some(S + 400 + 3_600),
                assignee: Some("bob@example.test"),
                team: Some("Ops"),
                ..t(4, "P3", S + 400)
            },
        );
        // 5: opened the day before, closed in range: counts as closed only.
        ticket(
            conn,
            T {
                closed_at: Some(S + 500),
                assignee: Some("bob@example.test"),
                team: Some("Ops"),
                ..t(5, "P2", S - 1_000)
            },
        );
        // 6: opened exactly at the end: outside.
        ticket(
            conn,
            T {
                first_response_at: Some(U + 1),
                assignee: Some("carl@example.test"),
                ..t(6, "P1", U)
            },
        );
        clock(conn, 6, "first_response", Some(U + 1), None);
        // 7: P4, opened exactly at the start; answered in 20m; resolution breached;
        // closed exactly at the end (not counted as closed).
        ticket(
            conn,
            T {
                closed_at: Some(U),
                first_response_at: Some(S + 1_200),
                ..t(7, "P4", S)
            },
        );
        clock(conn, 7, "first_response", Some(S + 1_200), None);
        clock(conn, 7, "resolution", None, Some(S + 5_000));
        // 8: all before the range.
        ticket(
            conn,
            T {
                closed_at: Some(S - 1),
                ..t(8, "P1", S - 10)
            },
        );
    }

    fn group<'a>(list: &'a [GroupFigures], name: &str) -> &'a Figures {
        &list.iter().find(|g| g.group == name).unwrap().figures
    }

    #[test]
    fn overall_figures_count_the_range_only() {
        let (_dir, conn) = store();
        sample(&conn);
        let r = compute(&conn, S, U).unwrap();
        let o = &r.overall;
        assert_eq!((o.opened, o.closed), (5, 2));
        // 600, 1200, 1800, 3600: the lower middle.
        assert_eq!(o.median_first_response_s, Some(1_200));
        assert_eq!(o.median_resolution_s, Some(7_200));
        assert_eq!(
            o.first_response_sla,
            SlaFigures {
                met: 2,
                missed: 1,
                running: 1,
                no_data: 1,
                share: Some(2.0 / 3.0),
            }
        );
        assert_eq!(
            o.resolution_sla,
            SlaFigures {
                met: 1,
                missed: 1,
                running: 2,
                no_data: 1,
                share: Some(0.5),
            }
        );
    }

    #[test]
    fn figures_are_grouped_by_priority_agent_and_team() {
        let (_dir, conn) = store();
        sample(&conn);
        let r = compute(&conn, S, U).unwrap();
        let names = |l: &[GroupFigures]| l.iter().map(|g| g.group.clone()).collect::<Vec<_>>();
        assert_eq!(names(&r.by_priority), ["P1", "P2", "P3", "P4"]);
        assert_eq!(
            names(&r.by_agent),
            ["ann@example.test", "bob@example.test", UNASSIGNED]
        );
        assert_eq!(names(&r.by_team), ["Billing, EU", "Ops", NO_TEAM]);

        let p1 = group(&r.by_priority, "P1");
        assert_eq!((p1.opened, p1.closed), (2, 1));
        assert_eq!(p1.median_first_response_s, Some(600));
        assert_eq!(p1.first_response_sla.share, Some(0.5));
        let p2 = group(&r.by_priority, "P2");
        assert_eq!((p2.opened, p2.closed), (1, 1));
        assert_eq!(p2.median_first_response_s, None);
        assert_eq!(p2.first_response_sla.share, None);
        assert_eq!(p2.first_response_sla.running, 1);

        let bob = group(&r.by_agent, "bob@example.test");
        assert_eq!((bob.opened, bob.closed), (1, 1));
        assert_eq!(bob.first_response_sla.no_data, 1);
        let nobody = group(&r.by_agent, UNASSIGNED);
        assert_eq!(nobody.opened, 2);
        assert_eq!(nobody.median_first_response_s, Some(1_200));
        assert_eq!(nobody.resolution_sla.missed, 1);

        let billing = group(&r.by_team, "Billing, EU");
        assert_eq!((billing.opened, billing.closed), (2, 1));
        assert_eq!(billing.median_resolution_s, Some(7_200));
        assert_eq!(group(&r.by_team, NO_TEAM).opened, 2);
    }

    #[test]
    fn an_empty_range_still_lists_every_priority() {
        let (_dir, conn) = store();
        sample(&conn);
        let r = compute(&conn, U + 1_000, U + 2_000).unwrap();
        assert_eq!(r.by_priority.len(), 4);
        assert!(r.by_priority.iter().all(|g| g.figures.opened == 0));
        assert!(r.by_agent.is_empty() && r.by_team.is_empty());
        assert_eq!(r.overall.median_first_response_s, None);
        assert_eq!(r.overall.first_response_sla.share, None);
        let mut out = Vec::new();
        render(&r, ReportFormat::Human, &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.contains("By agent\n  (no tickets)"), "{text}");
    }

    #[test]
    fn other_priorities_follow_the_known_ones() {
        let (_dir, conn) = store();
        ticket(
            &conn,
            T {
                id: 1,
                priority: "P0",
                created_at: S,
                closed_at: None,
                first_response_at: None,
                assignee: None,
                team: None,
            },
        );
        let r = compute(&conn, S, U).unwrap();
        let names: Vec<_> = r.by_priority.iter().map(|g| g.group.as_str()).collect();
        assert_eq!(names, ["P1", "P2", "P3", "P4", "P0"]);
    }

    #[test]
    fn a_store_from_before_sla_clocks_reports_no_sla_data() {
        let mut conn = Connection::open_in_memory().unwrap();
        store::schema::migrations()
            .to_version(&mut conn, 3)
            .unwrap();
        ticket(
            &conn,
            T {
                id: 1,
                priority: "P2",
                created_at: S + 10,
                closed_at: None,
                first_response_at: Some(S + 70),
                assignee: None,
                team: None,
            },
        );
        let r = compute(&conn, S, U).unwrap();
        assert_eq!(r.overall.opened, 1);
        assert_eq!(r.overall.median_first_response_s, Some(60));
        assert_eq!(r.overall.first_response_sla.no_data, 1);
        assert_eq!(r.overall.resolution_sla.no_data, 1);
        assert_eq!(r.overall.resolution_sla.share, None);
    }

    #[test]
    fn satisfaction_and_time_spent_per_agent_team_and_priority() {
        let (_dir, conn) = store();
        sample(&conn);
        // Closed in range: 1 (ann, Billing, P1) and 5 (bob, Ops, P2). Only 1 is rated;
        // 8 is rated but closed before the range.
        for (ticket, rating) in [(1, 4), (8, 1)] {
            store::satisfaction::record(&conn, ticket, rating, "", "req@example.test", S).unwrap();
        }
        store::worklog::add(&conn, 1, "ann@example.test", 30, S + 10).unwrap();
        store::worklog::add(&conn, 1, "bob@example.test", 45, S + 20).unwrap();
        store::worklog::add(&conn, 4, "bob@example.test", 15, S + 30).unwrap();
        store::worklog::add(&conn, 4, "bob@example.test", 60, U).unwrap();
        let r = compute(&conn, S, U).unwrap();
        let o = &r.overall.satisfaction;
        assert_eq!(
            (o.rated, o.average, o.response_rate),
            (1, Some(4.0), Some(0.5))
        );
        assert_eq!(r.overall.time_spent_minutes, 90);
        let ann = group(&r.by_agent, "ann@example.test");
        assert_eq!(
            (ann.satisfaction.average, ann.satisfaction.response_rate),
            (Some(4.0), Some(1.0))
        );
        assert_eq!(ann.time_spent_minutes, 30);
        let bob = group(&r.by_agent, "bob@example.test");
        assert_eq!(
            (
                bob.satisfaction.rated,
                bob.satisfaction.average,
                bob.satisfaction.response_rate
            ),
            (0, None, Some(0.0))
        );
        assert_eq!(bob.time_spent_minutes, 60);
        assert_eq!(group(&r.by_team, "Billing, EU").time_spent_minutes, 75);
        assert_eq!(group(&r.by_team, "Ops").time_spent_minutes, 15);
        assert_eq!(group(&r.by_priority, "P1").satisfaction.average, Some(4.0));
        assert_eq!(group(&r.by_priority, "P1").time_spent_minutes, 75);
        assert_eq!(group(&r.by_priority, "P3").time_spent_minutes, 15);
        assert_eq!(group(&r.by_priority, "P3").satisfaction.response_rate, None);
        let mut out = Vec::new();
        render(&r, ReportFormat::Human, &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        let all = text.lines().find(|l| l.starts_with("All")).unwrap();
        assert!(
            all.contains("4.0 (1/2 rated)") && all.contains("1h 30m"),
            "{all}"
        );
        let mut out = Vec::new();
        render(&r, ReportFormat::Csv, &mut out).unwrap();
        let csv = String::from_utf8(out).unwrap();
        assert!(
            csv.lines()
                .nth(1)
                .unwrap()
                .ends_with(",1,4,0.5,90,0,0,0,0,0"),
            "{csv}"
        );
        let mut out = Vec::new();
        render(&r, ReportFormat::Json, &mut out).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["overall"]["satisfaction"]["average"], 4.0);
        assert_eq!(v["by_team"][0]["satisfaction"]["response_rate"], 1.0);
        assert_eq!(v["by_team"][0]["time_spent_minutes"], 75);
    }

    #[test]
    fn median_takes_the_lower_middle_of_an_even_count() {
        assert_eq!(median(&mut []), None);
        assert_eq!(median(&mut [5]), Some(5));
        assert_eq!(median(&mut [9, 1, 5]), Some(5));
        assert_eq!(median(&mut [40, 10, 30, 20]), Some(20));
    }

    #[test]
    fn csv_has_one_row_per_group_and_quotes_names() {
        let (_dir, conn) = store();
        sample(&conn);
        let r = compute(&conn, S, U).unwrap();
        let mut out = Vec::new();
        render(&r, ReportFormat::Csv, &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], CSV_HEADER);
        // all + 4 priorities + 3 agents + 3 teams.
        assert_eq!(lines.len(), 1 + 1 + 4 + 3 + 3);
        assert_eq!(
            lines[1],
            "all,all,5,2,1200,7200,2,1,0.6666666666666666,1,1,0.5,0,,0,0,0,0,0,0,0"
        );
        assert!(lines.contains(&"team,\"Billing, EU\",2,1,600,7200,1,1,0.5,1,0,1,0,,0,0,,,,,"));
        assert!(lines.contains(&"priority,P2,1,1,,,0,0,,0,0,,0,,0,0,,,,,"));
        assert!(lines.iter().skip(1).all(|l| l.split(',').count() >= 21));
    }

    #[test]
    fn csv_field_quotes_only_when_needed() {
        assert_eq!(csv_field("Ops"), "Ops");
        assert_eq!(csv_field("Billing, EU"), "\"Billing, EU\"");
        assert_eq!(csv_field("the \"A\" team"), "\"the \"\"A\"\" team\"");
        assert_eq!(csv_field("two\nlines"), "\"two\nlines\"");
    }

    #[test]
    fn json_has_seconds_and_shares_or_null() {
        let (_dir, conn) = store();
        sample(&conn);
        let r = compute(&conn, S, U).unwrap();
        let mut out = Vec::new();
        render(&r, ReportFormat::Json, &mut out).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["since"], S);
        assert_eq!(v["until_time"], "2026-03-02T00:00:00Z");
        assert_eq!(v["overall"]["median_first_response_s"], 1_200);
        assert_eq!(v["overall"]["resolution_sla"]["share"], 0.5);
        assert_eq!(v["by_priority"][1]["group"], "P2");
        assert!(v["by_priority"][1]["first_response_sla"]["share"].is_null());
        assert_eq!(v["by_team"][0]["group"], "Billing, EU");
        assert_eq!(v["by_team"][0]["opened"], 2);
    }

    #[test]
    fn human_output_is_a_readable_table() {
        let (_dir, conn) = store();
        sample(&conn);
        let r = compute(&conn, S, U).unwrap();
        let mut out = Vec::new();
        render(&r, ReportFormat::Human, &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.starts_with("Tickets from 2026-03-01T00:00:00Z to 2026-03-02T00:00:00Z"));
        let all = text.lines().find(|l| l.starts_with("All")).unwrap();
        assert!(all.contains("20m") && all.contains("2h 00m"), "{all}");
        assert!(all.contains("66.7% (2/3), 1 running"), "{all}");
        assert!(text.contains("  (unassigned)"));
        assert!(text.contains("No SLA clock"));
        // Numbers are right-aligned under their header.
        let header = text.lines().nth(2).unwrap();
        let opened_end = header.find("opened").unwrap() + "opened".len();
        assert!(all[..opened_end].ends_with(" 5"), "{text}");
        let p1 = text.lines().find(|l| l.starts_with("  P1")).unwrap();
        assert!(p1[..opened_end].ends_with(" 2"), "{text}");
    }

    #[test]
    fn durations_read_like_people_write_them() {
        assert_eq!(format_duration(0), "0s");
        assert_eq!(format_duration(45), "45s");
        assert_eq!(format_duration(600), "10m");
        assert_eq!(format_duration(7_500), "2h 05m");
        assert_eq!(format_duration(97_200 + 59), "1d 3h");
        assert_eq!(format_duration(-90), "-1m");
    }

    #[test]
    fn days_cover_whole_utc_days_and_until_is_inclusive() {
        assert_eq!(parse_range("2026-03-01", "2026-03-01").unwrap(), (S, U));
        assert_eq!(
            parse_range("2026-02-28", "2026-03-31").unwrap(),
            (S - 86_400, S + 31 * 86_400)
        );
        assert_eq!(
            parse_range("2026-03-01T09:30:00+01:00", "2026-03-01T12:00:00.5Z").unwrap(),
            (S + 8 * 3_600 + 1_800, S + 12 * 3_600 + 1)
        );
    }

    #[test]
    fn bad_dates_name_the_flag() {
        let err = parse_range("2026-13-01", "2026-03-01")
            .unwrap_err()
            .to_string();
        assert_eq!(err, "--since \"2026-13-01\" is not a date (use YYYY-MM-DD)");
        let err = parse_range("2026-03-01", "2026-02-30")
            .unwrap_err()
            .to_string();
        assert_eq!(err, "--until \"2026-02-30\" is not a date (use YYYY-MM-DD)");
        let err = parse_range("2026-3-1", "2026-03-01")
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("--since \"2026-3-1\" is not a date"),
            "{err}"
        );
        let err = parse_range("2026-03-01", "yesterday")
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("--until \"yesterday\" is not a date"),
            "{err}"
        );
        let err = parse_range("2026-03-01", "2026-03-01T25:00:00Z")
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("--until \"2026-03-01T25:00:00Z\" is not a date"),
            "{err}"
        );
        assert!(err.contains("RFC 3339"), "{err}");
    }

    #[test]
    fn an_empty_or_reversed_range_is_refused() {
        let err = parse_range("2026-03-02", "2026-03-01")
            .unwrap_err()
            .to_string();
        assert!(err.contains("--since \"2026-03-02\" is not before --until \"2026-03-01\""));
        assert!(parse_range("2026-03-01T00:00:00Z", "2026-03-01T00:00:00Z").is_err());
        assert!(compute(&store().1, U, S).is_err());
    }

    #[test]
    fn report_reads_the_configured_store() {
        let dir = tempfile::tempdir().unwrap();
        let text = format!(
            "[store]\npath = \"{0}/t.db\"\n[mailbox]\nkind = \"maildir\"\npath = \"{0}/in\"\n[transport]\nkind = \"file\"\npath = \"{0}/out\"\n[desk]\nsupport_address = \"support@example.test\"\n",
            dir.path().display()
        );
        let cfg =
            Config::from_toml(std::path::Path::new("t.toml"), &text, &Default::default()).unwrap();
        {
            let conn = store::open_and_migrate(&cfg.store.path, false).unwrap();
            sample(&conn);
        }
        let mut out = Vec::new();
        report(
            &cfg,
            "2026-03-01",
            "2026-03-01",
            ReportFormat::Csv,
            &mut out,
        )
        .unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.contains("\nall,all,5,2,"), "{text}");
        let err = report(
            &cfg,
            "2026-13-01",
            "2026-03-01",
            ReportFormat::Csv,
            &mut Vec::new(),
        )
        .unwrap_err();
        assert!(err.to_string().contains("--since"));
    }

    #[test]
    fn a_months_report_reads_its_rows_through_index_ranges() {
        use crate::store::plan_audit::{NOW, assert_no_scans, desk_store};
        let conn = desk_store();
        let (since, until) = (NOW - 28 * 86_400, NOW + 86_400);
        let (r, ran) = assert_no_scans("report", &conn, |c| compute(c, since, until).unwrap());
        assert_eq!((r.overall.opened, r.overall.closed), (7, 2));
        assert_eq!(r.overall.time_spent_minutes, 30);
        assert_eq!(r.changes.planned, 1);
        for index in ["created_at >= ?1", "closed_at >= ?1", "e.at >= ?1"] {
            assert!(ran.iter().any(|s| s.contains(index)), "{index}: {ran:#?}");
        }
        let plans: Vec<String> = ran
            .iter()
            .flat_map(|s| crate::store::plan_audit::plan(&conn, s))
            .collect();
        for index in [
            "tickets_created",
            "tickets_closed",
            "time_entries_at",
            "change_events_at",
        ] {
            assert!(
                plans.iter().any(|l| l.contains(index)),
                "{index}: {plans:#?}"
            );
        }
    }
}
