//! SLA clocks: business-hours calendars, targets per priority, and what a ticket's
//! clocks must say given its state. No I/O: `store::sla_clocks` keeps the clocks, `ingest`
//! calls [`reconcile`] whenever a ticket changes and fires the alerts that fall due.
//!
//! A clock measures time in its calendar (business seconds, or plain seconds for a
//! 24x7 priority). It runs from the ticket's creation, pauses while the ticket waits on
//! the requester (status waiting, or an open authorisation request), and stops when its
//! target is met: the first public agent reply for `first_response`, resolution (or
//! closing) for `resolution`. While it runs, its due times are absolute instants,
//! stored and indexed, so the service sleeps until the earliest one.

use std::collections::BTreeSet;

use chrono::{Datelike, LocalResult, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Weekday};
use chrono_tz::Tz;

use super::status::Priority;

/// At most this many days are walked to find a due time or measure a span; a
/// calendar is validated to have working hours every week, so only a ten-year list of
/// holidays could exhaust it.
const MAX_DAYS: i64 = 3_700;

/// Working hours by weekday, holidays, in a time zone.
#[derive(Debug, Clone)]
pub struct Calendar {
    pub tz: Tz,
    /// Monday first: working intervals as seconds from local midnight, sorted and
    /// disjoint, `end` up to 86 400.
    pub week: [Vec<(u32, u32)>; 7],
    pub holidays: BTreeSet<NaiveDate>,
}

impl Calendar {
    /// Monday to Friday, 09:00 to 17:00, no holidays.
    pub fn office_hours(tz: Tz) -> Calendar {
        let day = vec![(9 * 3_600, 17 * 3_600)];
        Calendar {
            tz,
            week: [
                day.clone(),
                day.clone(),
                day.clone(),
                day.clone(),
                day,
                Vec::new(),
                Vec::new(),
            ],
            holidays: BTreeSet::new(),
        }
    }

    /// Working seconds in a week.
    pub fn weekly_seconds(&self) -> i64 {
        self.week
            .iter()
            .flatten()
            .map(|(a, b)| i64::from(b - a))
            .sum()
    }

    /// The length of an average working day: what "1d" means in this calendar.
    pub fn day_seconds(&self) -> i64 {
        let days = self.week.iter().filter(|d| !d.is_empty()).count() as i64;
        if days == 0 {
            0
        } else {
            self.weekly_seconds() / days
        }
    }

    fn local_date(&self, at: i64) -> NaiveDate {
        chrono::DateTime::from_timestamp(at, 0)
            .map(|t| t.with_timezone(&self.tz).date_naive())
            .unwrap_or_default()
    }

    /// The instant a local wall-clock time on `date` happens. A time skipped by a
    /// daylight-saving jump counts as the first instant after the jump; a repeated
    /// one as its first occurrence.
    fn instant(&self, date: NaiveDate, seconds: u32) -> i64 {
        let base = NaiveDateTime::new(date, NaiveTime::MIN);
        let mut wall = base + chrono::Duration::seconds(i64::from(seconds));
        for _ in 0..(4 * 60) {
            match self.tz.from_local_datetime(&wall) {
                LocalResult::Single(t) => return t.timestamp(),
                LocalResult::Ambiguous(early, _) => return early.timestamp(),
                LocalResult::None => wall += chrono::Duration::minutes(1),
            }
        }
        wall.and_utc().timestamp()
    }

    /// The working intervals of a local date as instants.
    fn intervals(&self, date: NaiveDate) -> Vec<(i64, i64)> {
        if self.holidays.contains(&date) {
            return Vec::new();
        }
        self.week[date.weekday().num_days_from_monday() as usize]
            .iter()
            .map(|&(a, b)| (self.instant(date, a), self.instant(date, b)))
            .filter(|(a, b)| b > a)
            .collect()
    }

    /// The instant at which `seconds` of working time have passed after `start`.
    fn add(&self, start: i64, seconds: i64) -> i64 {
        if seconds <= 0 {
            return start;
        }
        let mut left = seconds;
        let mut date = self.local_date(start);
        for _ in 0..MAX_DAYS {
            for (a, b) in self.intervals(date) {
                if b <= start {
                    continue;
                }
                let from = a.max(start);
                if left <= b - from {
                    return from + left;
                }
                left -= b - from;
            }
            date = date.succ_opt().unwrap_or(date);
        }
        start.saturating_add(seconds)
    }

    /// Working seconds between two instants.
    fn between(&self, from: i64, to: i64) -> i64 {
        if to <= from {
            return 0;
        }
        let mut total = 0;
        let mut date = self.local_date(from);
        for _ in 0..MAX_DAYS {
            let intervals = self.intervals(date);
            for (a, b) in intervals {
                let (a, b) = (a.max(from), b.min(to));
                if b > a {
                    total += b - a;
                }
            }
            if self.instant(date, 0) >= to {
                break;
            }
            date = match date.succ_opt() {
                Some(d) => d,
                None => break,
            };
        }
        total
    }
}

/// How a priority's clocks count time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hours {
    /// Around the clock.
    AllHours,
    /// The desk's business calendar.
    Business,
}

impl Hours {
    pub fn as_str(self) -> &'static str {
        match self {
            Hours::AllHours => "24x7",
            Hours::Business => "business",
        }
    }
}

/// One priority's targets, in its calendar's seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Targets {
    pub first_response: i64,
    pub resolution: i64,
    pub hours: Hours,
}

/// What is measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Target {
    FirstResponse,
    Resolution,
}

impl Target {
    pub const ALL: [Target; 2] = [Target::FirstResponse, Target::Resolution];

    pub fn as_str(self) -> &'static str {
        match self {
            Target::FirstResponse => "first_response",
            Target::Resolution => "resolution",
        }
    }

    pub fn parse(s: &str) -> Option<Target> {
        Target::ALL.into_iter().find(|t| t.as_str() == s)
    }

    /// In a sentence: "first response", "resolution".
    pub fn label(self) -> &'static str {
        match self {
            Target::FirstResponse => "first response",
            Target::Resolution => "resolution",
        }
    }
}

/// An alert level; each fires at most once per ticket and target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Warning,
    Breach,
    Escalation,
}

impl Level {
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Warning => "warning",
            Level::Breach => "breach",
            Level::Escalation => "escalation",
        }
    }
}

/// The desk's SLA policy, validated from `[sla]`.
#[derive(Debug, Clone)]
pub struct SlaPolicy {
    /// P1..P4.
    pub targets: [Targets; 4],
    pub calendar: Calendar,
    /// Share of a target after which the assignee is warned (0 < warn_at < 1).
    pub warn_at: f64,
    /// Second-level escalation this long (in the clock's calendar) after a breach.
    pub escalate_after: Option<i64>,
    /// Who gets the escalation (default: the supervisors).
    pub escalate_to: Vec<String>,
    /// Local hour (0-23) of the supervisors' daily digest; None: no digest.
    pub digest_hour: Option<u32>,
}

impl SlaPolicy {
    /// The documented defaults: P1 1h/4h around the clock; P2 4h/1d, P3 1d/3d,
    /// P4 3d/10d in office hours (Monday-Friday 09:00-17:00) in `tz`.
    pub fn defaults(tz: Tz) -> SlaPolicy {
        SlaPolicy::for_calendar(Calendar::office_hours(tz))
    }

    /// The default targets, with business days counted in `calendar` ("1d" is its
    /// average working day).
    pub fn for_calendar(calendar: Calendar) -> SlaPolicy {
        let day = calendar.day_seconds();
        let h = 3_600;
        let business = |first_response, resolution| Targets {
            first_response,
            resolution,
            hours: Hours::Business,
        };
        SlaPolicy {
            targets: [
                Targets {
                    first_response: h,
                    resolution: 4 * h,
                    hours: Hours::AllHours,
                },
                business(4 * h, day),
                business(day, 3 * day),
                business(3 * day, 10 * day),
            ],
            calendar,
            warn_at: 0.8,
            escalate_after: None,
            escalate_to: Vec::new(),
            digest_hour: None,
        }
    }

    pub fn targets(&self, priority: Priority) -> Targets {
        self.targets[priority_index(priority)]
    }

    pub fn target_seconds(&self, priority: Priority, target: Target) -> i64 {
        let t = self.targets(priority);
        match target {
            Target::FirstResponse => t.first_response,
            Target::Resolution => t.resolution,
        }
    }

    /// What the acknowledgement promises for the first response, in the requester's
    /// language: "within 4 business hours", "1 个工作日内".
    pub fn promise(&self, priority: Priority, language: &str) -> String {
        let t = self.targets(priority);
        let seconds = t.first_response;
        let business = t.hours == Hours::Business;
        let day = self.calendar.day_seconds();
        let (n, unit) = if business && day > 0 && seconds % day == 0 {
            (seconds / day, "day")
        } else if seconds % 3_600 == 0 {
            (seconds / 3_600, "hour")
        } else {
            ((seconds + 59) / 60, "minute")
        };
        if language == "zh" {
            let unit = match unit {
                "day" => "个工作日",
                "hour" if business => "个工作小时",
                "hour" => "小时",
                _ if business => "个工作时间分钟",
                _ => "分钟",
            };
            return format!("{n} {unit}内");
        }
        let plural = if n == 1 { "" } else { "s" };
        let kind = if business { "business " } else { "" };
        format!("within {n} {kind}{unit}{plural}")
    }

    /// The instant `seconds` of clock time after `start`, for a priority's hours.
    pub fn add(&self, hours: Hours, start: i64, seconds: i64) -> i64 {
        match hours {
            Hours::AllHours => start.saturating_add(seconds.max(0)),
            Hours::Business => self.calendar.add(start, seconds),
        }
    }

    /// Clock time between two instants, for a priority's hours.
    pub fn between(&self, hours: Hours, from: i64, to: i64) -> i64 {
        match hours {
            Hours::AllHours => (to - from).max(0),
            Hours::Business => self.calendar.between(from, to),
        }
    }
}

fn priority_index(p: Priority) -> usize {
    match p {
        Priority::P1 => 0,
        Priority::P2 => 1,
        Priority::P3 => 2,
        Priority::P4 => 3,
    }
}

/// A ticket's state as far as its clocks care.
#[derive(Debug, Clone, Copy)]
pub struct ClockInputs {
    pub priority: Priority,
    pub created_at: i64,
    /// When the first public agent reply went out.
    pub first_response_at: Option<i64>,
    /// Resolved or closed.
    pub done: bool,
    /// Waiting on the requester (status waiting, or an open authorisation request).
    pub waiting_on_requester: bool,
}

/// One clock, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlaClock {
    pub target: Target,
    pub priority: Priority,
    pub hours: Hours,
    pub target_seconds: i64,
    pub started_at: i64,
    /// Clock time used before `running_since`.
    pub consumed: i64,
    /// Since when the clock runs; None while paused or stopped.
    pub running_since: Option<i64>,
    pub warn_at: Option<i64>,
    pub due_at: Option<i64>,
    pub escalate_at: Option<i64>,
    pub met_at: Option<i64>,
    pub warned_at: Option<i64>,
    pub breached_at: Option<i64>,
    pub escalated_at: Option<i64>,
    /// The earliest alert not fired yet; what the service wakes for.
    pub next_alert_at: Option<i64>,
}

impl SlaClock {
    fn new(target: Target, inputs: &ClockInputs, policy: &SlaPolicy) -> SlaClock {
        SlaClock {
            target,
            priority: inputs.priority,
            hours: policy.targets(inputs.priority).hours,
            target_seconds: policy.target_seconds(inputs.priority, target),
            started_at: inputs.created_at,
            consumed: 0,
            running_since: Some(inputs.created_at),
            warn_at: None,
            due_at: None,
            escalate_at: None,
            met_at: None,
            warned_at: None,
            breached_at: None,
            escalated_at: None,
            next_alert_at: None,
        }
    }

    /// Clock time used up to `now`.
    pub fn used(&self, policy: &SlaPolicy, now: i64) -> i64 {
        self.consumed
            + self
                .running_since
                .map_or(0, |since| policy.between(self.hours, since, now))
    }

    /// Whether it is counting.
    pub fn is_running(&self) -> bool {
        self.running_since.is_some()
    }

    /// Alerts due at `now` that have not fired, in order.
    pub fn due_levels(&self, now: i64, policy: &SlaPolicy) -> Vec<Level> {
        let mut levels = Vec::new();
        if !self.is_running() {
            return levels;
        }
        if self.warned_at.is_none()
            && self.breached_at.is_none()
            && self.warn_at.is_some_and(|t| t <= now)
        {
            levels.push(Level::Warning);
        }
        if self.breached_at.is_none() && self.due_at.is_some_and(|t| t <= now) {
            levels.push(Level::Breach);
        }
        if policy.escalate_after.is_some()
            && self.escalated_at.is_none()
            && self.escalate_at.is_some_and(|t| t <= now)
        {
            levels.push(Level::Escalation);
        }
        levels
    }

    /// Records that an alert fired (the caller stores it in the same transaction as
    /// the mail), and recomputes the next alert.
    pub fn mark_fired(&mut self, level: Level, now: i64, policy: &SlaPolicy) {
        match level {
            Level::Warning => self.warned_at = Some(now),
            Level::Breach => {
                self.breached_at = Some(self.due_at.unwrap_or(now));
                // A breach without a warning (the target was short, or the service was
                // down) makes the warning moot.
                self.warned_at.get_or_insert(now);
            }
            Level::Escalation => self.escalated_at = Some(now),
        }
        self.schedule(policy);
    }

    /// Recomputes the due times and the next alert (after a policy change).
    pub fn reschedule(&mut self, policy: &SlaPolicy) {
        self.schedule(policy);
    }

    /// Due times from the clock's state.
    fn schedule(&mut self, policy: &SlaPolicy) {
        let Some(since) = self.running_since else {
            self.warn_at = None;
            self.due_at = None;
            self.escalate_at = None;
            self.next_alert_at = None;
            return;
        };
        let left = self.target_seconds - self.consumed;
        let warn_mark = (self.target_seconds as f64 * policy.warn_at).round() as i64;
        self.due_at = Some(policy.add(self.hours, since, left.max(0)));
        self.warn_at = Some(policy.add(self.hours, since, (warn_mark - self.consumed).max(0)));
        self.escalate_at = policy
            .escalate_after
            .map(|e| policy.add(self.hours, since, (left + e).max(0)));
        let mut next: Option<i64> = None;
        let mut consider = |t: Option<i64>| {
            if let Some(t) = t {
                next = Some(next.map_or(t, |n| n.min(t)));
            }
        };
        if self.warned_at.is_none() && self.breached_at.is_none() {
            consider(self.warn_at);
        }
        if self.breached_at.is_none() {
            consider(self.due_at);
        }
        if self.escalated_at.is_none() && policy.escalate_after.is_some() {
            consider(self.escalate_at);
        }
        self.next_alert_at = next;
    }
}

/// The clock a ticket's state calls for, from the stored one (None: a new ticket).
/// Applying it twice changes nothing; fired alerts are kept, so a level never fires
/// twice for a ticket and target (a priority change moves the due times, it does not
/// re-arm alerts already sent).
pub fn reconcile(
    stored: Option<&SlaClock>,
    target: Target,
    inputs: &ClockInputs,
    policy: &SlaPolicy,
    now: i64,
) -> SlaClock {
    let mut clock = stored
        .cloned()
        .unwrap_or_else(|| SlaClock::new(target, inputs, policy));
    // A ticket resolved or closed with no public reply (closed as a duplicate, answered
    // by phone, solved by an internal note) needs no first response any more: its
    // first-response clock stops there, as resolution's does, instead of running on
    // and alerting about a ticket nobody has to answer.
    let met = match target {
        Target::FirstResponse => inputs.first_response_at.or(inputs.done.then_some(now)),
        Target::Resolution => inputs.done.then_some(now),
    };
    // Stop, pause or resume; time used so far is banked at each change.
    let should_run = met.is_none() && !inputs.waiting_on_requester;
    match (clock.running_since, should_run) {
        (Some(since), false) => {
            let until = met.map_or(now, |m| m.clamp(since, now));
            clock.consumed += policy.between(clock.hours, since, until);
            clock.running_since = None;
        }
        (None, true) => clock.running_since = Some(now),
        _ => {}
    }
    clock.met_at = match (clock.met_at, met) {
        (Some(m), Some(_)) => Some(m),
        (_, m) => m,
    };
    // A priority change: the new target, counted in the new priority's hours (time
    // already used is kept as it was measured).
    if clock.priority != inputs.priority {
        clock.priority = inputs.priority;
        clock.target_seconds = policy.target_seconds(inputs.priority, target);
        let hours = policy.targets(inputs.priority).hours;
        if hours != clock.hours {
            if let Some(since) = clock.running_since {
                clock.consumed += policy.between(clock.hours, since, now);
                clock.running_since = Some(now);
            }
            clock.hours = hours;
        }
    }
    // A target met late was breached even if no tick saw it.
    if let (Some(m), None) = (clock.met_at, clock.breached_at)
        && clock.consumed > clock.target_seconds
    {
        clock.breached_at = Some(m);
    }
    clock.schedule(policy);
    clock
}

/// Day names as config keys, Monday first.
pub const WEEKDAYS: [(&str, Weekday); 7] = [
    ("mon", Weekday::Mon),
    ("tue", Weekday::Tue),
    ("wed", Weekday::Wed),
    ("thu", Weekday::Thu),
    ("fri", Weekday::Fri),
    ("sat", Weekday::Sat),
    ("sun", Weekday::Sun),
];

/// Parses a day's working hours: `"09:00-17:00"`, several separated by commas
/// (`"08:00-12:00, 13:00-17:00"`), `"24:00"` allowed as an end, `""` for none.
pub fn parse_day_hours(text: &str) -> Result<Vec<(u32, u32)>, String> {
    let mut out: Vec<(u32, u32)> = Vec::new();
    for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (a, b) = part
            .split_once('-')
            .ok_or_else(|| format!("{part:?} is not a range like \"09:00-17:00\""))?;
        let (a, b) = (parse_clock_time(a)?, parse_clock_time(b)?);
        if b <= a {
            return Err(format!("{part:?} ends before it starts"));
        }
        if out.last().is_some_and(|&(_, end)| a < end) {
            return Err(format!("{part:?} overlaps or is out of order"));
        }
        out.push((a, b));
    }
    Ok(out)
}

fn parse_clock_time(t: &str) -> Result<u32, String> {
    let t = t.trim();
    let (h, m) = t
        .split_once(':')
        .ok_or_else(|| format!("{t:?} is not a time like 09:00"))?;
    let h: u32 = h.parse().map_err(|_| format!("{t:?} is not a time"))?;
    let m: u32 = m.parse().map_err(|_| format!("{t:?} is not a time"))?;
    if m >= 60 || h > 24 || (h == 24 && m > 0) {
        return Err(format!("{t:?} is not a time of day"));
    }
    Ok(h * 3_600 + m * 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Unix seconds of a UTC wall time.
    fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> i64 {
        chrono::Utc
            .with_ymd_and_hms(y, mo, d, h, mi, 0)
            .single()
            .unwrap()
            .timestamp()
    }

    fn zoned(tz: Tz, y: i32, mo: u32, d: u32, h: u32, mi: u32) -> i64 {
        tz.with_ymd_and_hms(y, mo, d, h, mi, 0)
            .single()
            .unwrap()
            .timestamp()
    }

    const H: i64 = 3_600;

    #[test]
    fn business_time_skips_nights_and_weekends() {
        let cal = Calendar::office_hours(chrono_tz::UTC);
        // Friday 2026-12-04 16:00 + 4 business hours = Monday 12:00.
        let fri = utc(2026, 12, 4, 16, 0);
        assert_eq!(cal.add(fri, 4 * H), utc(2026, 12, 7, 12, 0));
        assert_eq!(cal.between(fri, utc(2026, 12, 7, 12, 0)), 4 * H);
        // Saturday morning counts from Monday 09:00.
        assert_eq!(cal.add(utc(2026, 12, 5, 10, 0), H), utc(2026, 12, 7, 10, 0));
        // Exactly at the end of a day: the next day's start + rest.
        assert_eq!(
            cal.add(utc(2026, 12, 7, 9, 0), 8 * H),
            utc(2026, 12, 7, 17, 0)
        );
        assert_eq!(
            cal.add(utc(2026, 12, 7, 9, 0), 8 * H + 1),
            utc(2026, 12, 8, 9, 0) + 1
        );
        assert_eq!(
            cal.between(utc(2026, 12, 5, 0, 0), utc(2026, 12, 7, 0, 0)),
            0
        );
        assert_eq!(cal.day_seconds(), 8 * H);
    }

    #[test]
    fn holidays_are_skipped() {
        let mut cal = Calendar::office_hours(chrono_tz::UTC);
        cal.holidays
            .insert(NaiveDate::from_ymd_opt(2026, 12, 25).unwrap());
        // Thursday 24th 16:00 + 2h: Friday 25th is a holiday, so Monday 28th 10:00.
        assert_eq!(
            cal.add(utc(2026, 12, 24, 16, 0), 2 * H),
            utc(2026, 12, 28, 10, 0)
        );
        assert_eq!(
            cal.between(utc(2026, 12, 24, 0, 0), utc(2026, 12, 29, 0, 0)),
            16 * H
        );
    }

    #[test]
    fn daylight_saving_changes_follow_the_local_clock() {
        let tz = chrono_tz::Europe::Berlin;
        let cal = Calendar::office_hours(tz);
        // Friday 2026-03-27 16:00 CET; DST starts Sunday 29th. Two business hours later
        // is Monday 10:00 CEST, which is 08:00 UTC (not 09:00).
        let due = cal.add(zoned(tz, 2026, 3, 27, 16, 0), 2 * H);
        assert_eq!(due, zoned(tz, 2026, 3, 30, 10, 0));
        assert_eq!(due, utc(2026, 3, 30, 8, 0));
        // Across the autumn change (Sunday 2026-10-25), the same.
        let due = cal.add(zoned(tz, 2026, 10, 23, 16, 0), 2 * H);
        assert_eq!(due, utc(2026, 10, 26, 9, 0));
        // A 24x7 day around the spring change has 23 hours of wall time.
        let policy = SlaPolicy::defaults(tz);
        assert_eq!(
            policy.between(
                Hours::AllHours,
                zoned(tz, 2026, 3, 29, 0, 0),
                zoned(tz, 2026, 3, 30, 0, 0)
            ),
            23 * H
        );
        // Working hours inside a skipped hour start after the jump.
        let mut night = Calendar::office_hours(tz);
        night.week[6] = vec![(2 * 3_600 + 30 * 60, 4 * 3_600)];
        let sunday = NaiveDate::from_ymd_opt(2026, 3, 29).unwrap();
        assert_eq!(
            night.intervals(sunday),
            vec![(utc(2026, 3, 29, 1, 0), utc(2026, 3, 29, 2, 0))]
        );
    }

    fn inputs(priority: Priority, created_at: i64) -> ClockInputs {
        ClockInputs {
            priority,
            created_at,
            first_response_at: None,
            done: false,
            waiting_on_requester: false,
        }
    }

    #[test]
    fn a_new_clock_is_due_at_its_target_and_warns_at_80_percent() {
        let p = SlaPolicy::defaults(chrono_tz::UTC);
        let t0 = utc(2026, 12, 7, 9, 0); // Monday
        let c = reconcile(
            None,
            Target::FirstResponse,
            &inputs(Priority::P2, t0),
            &p,
            t0,
        );
        assert_eq!(c.due_at, Some(t0 + 4 * H));
        assert_eq!(c.warn_at, Some(t0 + 4 * H * 8 / 10));
        assert_eq!(c.next_alert_at, c.warn_at);
        // P1 is around the clock: Saturday night counts.
        let sat = utc(2026, 12, 5, 23, 0);
        let c = reconcile(
            None,
            Target::Resolution,
            &inputs(Priority::P1, sat),
            &p,
            sat,
        );
        assert_eq!(c.due_at, Some(sat + 4 * H));
        // Applying it again changes nothing.
        assert_eq!(
            reconcile(
                Some(&c),
                Target::Resolution,
                &inputs(Priority::P1, sat),
                &p,
                sat + 60
            ),
            c
        );
    }

    #[test]
    fn waiting_on_the_requester_pauses_and_their_reply_resumes() {
        let p = SlaPolicy::defaults(chrono_tz::UTC);
        let t0 = utc(2026, 12, 7, 9, 0); // Monday 09:00; P3 resolution = 3 days = 24h
        let mut i = inputs(Priority::P3, t0);
        let c = reconcile(None, Target::Resolution, &i, &p, t0);
        assert_eq!(c.due_at, Some(utc(2026, 12, 9, 17, 0)));
        // Monday 11:00: waiting on the requester. Two hours used; no due time.
        i.waiting_on_requester = true;
        let c = reconcile(Some(&c), Target::Resolution, &i, &p, t0 + 2 * H);
        assert_eq!((c.consumed, c.due_at, c.next_alert_at), (2 * H, None, None));
        // Their reply on Tuesday 09:00: 22 hours left, from then.
        i.waiting_on_requester = false;
        let tue = utc(2026, 12, 8, 9, 0);
        let c = reconcile(Some(&c), Target::Resolution, &i, &p, tue);
        assert_eq!(c.running_since, Some(tue));
        assert_eq!(c.due_at, Some(utc(2026, 12, 10, 15, 0)));
        assert_eq!(c.used(&p, tue + H), 3 * H);
    }

    #[test]
    fn meeting_the_target_stops_the_clock_and_a_late_one_counts_as_breached() {
        let p = SlaPolicy::defaults(chrono_tz::UTC);
        let t0 = utc(2026, 12, 7, 9, 0);
        let mut i = inputs(Priority::P2, t0);
        let c = reconcile(None, Target::FirstResponse, &i, &p, t0);
        i.first_response_at = Some(t0 + H);
        let met = reconcile(Some(&c), Target::FirstResponse, &i, &p, t0 + H);
        assert_eq!(
            (met.met_at, met.breached_at, met.next_alert_at),
            (Some(t0 + H), None, None)
        );
        // Met five hours in, with no tick in between: breached.
        i.first_response_at = Some(t0 + 5 * H);
        let late = reconcile(Some(&c), Target::FirstResponse, &i, &p, t0 + 5 * H);
        assert_eq!(late.breached_at, Some(t0 + 5 * H));
    }

    #[test]
    fn closing_without_a_reply_stops_the_first_response_clock_and_reopening_resumes_it() {
        let p = SlaPolicy::defaults(chrono_tz::UTC);
        let t0 = utc(2026, 12, 7, 9, 0);
        let mut i = inputs(Priority::P2, t0);
        let c = reconcile(None, Target::FirstResponse, &i, &p, t0);
        i.done = true;
        let closed = reconcile(Some(&c), Target::FirstResponse, &i, &p, t0 + H);
        assert_eq!(
            (closed.met_at, closed.running_since, closed.next_alert_at),
            (Some(t0 + H), None, None)
        );
        let later = reconcile(Some(&closed), Target::FirstResponse, &i, &p, t0 + 9 * H);
        assert_eq!((later.met_at, later.breached_at), (Some(t0 + H), None));
        i.done = false;
        let reopened = reconcile(Some(&later), Target::FirstResponse, &i, &p, t0 + 2 * H);
        assert_eq!(
            (reopened.met_at, reopened.running_since),
            (None, Some(t0 + 2 * H))
        );
        assert!(reopened.next_alert_at.is_some());
    }

    #[test]
    fn alerts_fire_once_in_order() {
        let mut p = SlaPolicy::defaults(chrono_tz::UTC);
        p.escalate_after = Some(H);
        let t0 = utc(2026, 12, 7, 9, 0);
        let mut c = reconcile(
            None,
            Target::FirstResponse,
            &inputs(Priority::P2, t0),
            &p,
            t0,
        );
        assert!(c.due_levels(t0 + H, &p).is_empty());
        let warn = t0 + 4 * H * 8 / 10;
        assert_eq!(c.due_levels(warn, &p), [Level::Warning]);
        c.mark_fired(Level::Warning, warn, &p);
        assert!(c.due_levels(warn, &p).is_empty());
        assert_eq!(c.next_alert_at, Some(t0 + 4 * H));
        c.mark_fired(Level::Breach, t0 + 4 * H, &p);
        assert_eq!(c.next_alert_at, Some(t0 + 5 * H));
        // A service that was down for the whole day sees all that is left at once.
        let mut d = reconcile(
            None,
            Target::FirstResponse,
            &inputs(Priority::P2, t0),
            &p,
            t0,
        );
        assert_eq!(
            d.due_levels(t0 + 6 * H, &p),
            [Level::Warning, Level::Breach, Level::Escalation]
        );
        d.mark_fired(Level::Breach, t0 + 6 * H, &p);
        assert_eq!(d.due_levels(t0 + 6 * H, &p), [Level::Escalation]);
    }

    #[test]
    fn a_priority_change_moves_the_due_times_but_keeps_fired_alerts() {
        let p = SlaPolicy::defaults(chrono_tz::UTC);
        let t0 = utc(2026, 12, 7, 9, 0);
        let mut i = inputs(Priority::P3, t0);
        let mut c = reconcile(None, Target::FirstResponse, &i, &p, t0);
        assert_eq!(c.due_at, Some(utc(2026, 12, 7, 17, 0)));
        c.mark_fired(Level::Warning, t0 + 7 * H, &p);
        // Raised to P2 at 10:00: 4 business hours from creation.
        i.priority = Priority::P2;
        let c2 = reconcile(Some(&c), Target::FirstResponse, &i, &p, t0 + H);
        assert_eq!(c2.due_at, Some(t0 + 4 * H));
        assert_eq!(c2.warned_at, c.warned_at);
        assert_eq!(c2.next_alert_at, Some(t0 + 4 * H));
        // Raised to P1 (24x7) on Saturday: the business time used is kept, the rest
        // counts around the clock.
        let sat = utc(2026, 12, 12, 10, 0);
        let mut j = inputs(Priority::P3, utc(2026, 12, 11, 16, 30)); // Friday
        let c = reconcile(None, Target::FirstResponse, &j, &p, j.created_at);
        j.priority = Priority::P1;
        let c = reconcile(Some(&c), Target::FirstResponse, &j, &p, sat);
        assert_eq!(c.consumed, 30 * 60);
        assert_eq!(c.due_at, Some(sat + 30 * 60));
    }

    #[test]
    fn promises_follow_the_targets() {
        let mut p = SlaPolicy::defaults(chrono_tz::UTC);
        assert_eq!(p.promise(Priority::P1, "en"), "within 1 hour");
        assert_eq!(p.promise(Priority::P2, "en"), "within 4 business hours");
        assert_eq!(p.promise(Priority::P3, "en"), "within 1 business day");
        assert_eq!(p.promise(Priority::P4, "en"), "within 3 business days");
        assert_eq!(p.promise(Priority::P2, "zh"), "4 个工作小时内");
        assert_eq!(p.promise(Priority::P1, "zh"), "1 小时内");
        p.targets[0].first_response = 30 * 60;
        assert_eq!(p.promise(Priority::P1, "en"), "within 30 minutes");
        assert_eq!(p.promise(Priority::P1, "zh"), "30 分钟内");
    }

    #[test]
    fn day_hours_parse_and_reject_nonsense() {
        assert_eq!(
            parse_day_hours("08:00-12:00, 13:00-24:00").unwrap(),
            vec![(8 * 3_600, 12 * 3_600), (13 * 3_600, 24 * 3_600)]
        );
        assert!(parse_day_hours("").unwrap().is_empty());
        for bad in [
            "9-17",
            "17:00-09:00",
            "08:00-12:00,11:00-13:00",
            "25:00-26:00",
            "nine",
        ] {
            assert!(parse_day_hours(bad).is_err(), "{bad}");
        }
    }
}
