//! `[sla]`: the targets per priority, the business calendar they count in (time
//! zone, working hours, holidays), warnings, escalation and the daily digest, read
//! into a [`SlaPolicy`]. Running the clocks is left to
//! `desk/sla.rs`.

use anyhow::Result;

use super::context::Ctx;
use super::duration_text::parse_duration_text;
use super::raw::{RawSla, RawSlaTargets};
use crate::desk::roster::DeskConfig;
use crate::desk::sla::{Calendar, Hours, SlaPolicy, Targets, WEEKDAYS, parse_day_hours};

/// `[sla]`, validated: each key's problem names the key. The defaults when absent.
pub(super) fn sla_policy(cx: &Ctx, raw: Option<RawSla>, desk: &DeskConfig) -> Result<SlaPolicy> {
    let Some(raw) = raw else {
        return Ok(SlaPolicy::defaults(chrono_tz::UTC));
    };
    let calendar = calendar(cx, &raw)?;
    // The default targets count business days in the configured calendar.
    let mut policy = SlaPolicy::for_calendar(calendar);
    if let Some(w) = raw.warn_at {
        if !(w > 0.0 && w < 1.0) {
            return Err(cx.err(
                "[sla] warn_at",
                format!("must be between 0 and 1 (a share of the target), got {w}"),
            ));
        }
        policy.warn_at = w;
    }
    for (i, raw_targets) in [&raw.p1, &raw.p2, &raw.p3, &raw.p4].into_iter().enumerate() {
        let Some(r) = raw_targets else { continue };
        let name = format!("P{}", i + 1);
        targets(cx, &name, r, &mut policy.targets[i], &policy.calendar)?;
    }
    escalation(cx, &raw, desk, &mut policy)?;
    if let Some(h) = raw.digest_hour {
        if h > 23 {
            return Err(cx.err(
                "[sla] digest_hour",
                format!("must be an hour 0-23, got {h}"),
            ));
        }
        policy.digest_hour = Some(h);
    }
    Ok(policy)
}

/// `time_zone`, `[sla.hours]` and `holidays`: office hours in UTC unless set.
fn calendar(cx: &Ctx, raw: &RawSla) -> Result<Calendar> {
    let tz: chrono_tz::Tz = match &raw.time_zone {
        None => chrono_tz::UTC,
        Some(name) => name.parse().map_err(|_| {
            cx.err(
                "[sla] time_zone",
                format!("{name:?} is not an IANA time zone (e.g. \"Europe/Berlin\", \"UTC\")"),
            )
        })?,
    };
    let mut calendar = Calendar::office_hours(tz);
    if let Some(hours) = &raw.hours {
        let mut week: [Vec<(u32, u32)>; 7] = Default::default();
        for (key, text) in hours {
            let Some(day) = WEEKDAYS.iter().position(|(name, _)| name == key) else {
                return Err(cx.err(
                    &format!("[sla.hours] {key}"),
                    "unknown day (use mon, tue, wed, thu, fri, sat, sun)",
                ));
            };
            week[day] =
                parse_day_hours(text).map_err(|e| cx.err(&format!("[sla.hours] {key}"), e))?;
        }
        calendar.week = week;
        if calendar.weekly_seconds() == 0 {
            return Err(cx.err("[sla.hours]", "no working hours in the week"));
        }
    }
    for (i, day) in raw.holidays.iter().flatten().enumerate() {
        let date = chrono::NaiveDate::parse_from_str(day.trim(), "%Y-%m-%d").map_err(|_| {
            cx.err(
                &format!("[sla] holidays[{i}]"),
                format!("{day:?} is not a date (use YYYY-MM-DD)"),
            )
        })?;
        calendar.holidays.insert(date);
    }
    Ok(calendar)
}

/// `[sla.P1]` .. `[sla.P4]` (`name`): the clock's hours, then its targets over `t`.
fn targets(
    cx: &Ctx,
    name: &str,
    r: &RawSlaTargets,
    t: &mut Targets,
    calendar: &Calendar,
) -> Result<()> {
    if let Some(h) = &r.hours {
        t.hours = match h.trim() {
            "24x7" => Hours::AllHours,
            "business" => Hours::Business,
            other => {
                return Err(cx.err(
                    &format!("[sla.{name}] hours"),
                    format!("{other:?}: use \"business\" or \"24x7\""),
                ));
            }
        };
    }
    let hours = t.hours;
    if let Some(v) = &r.first_response {
        t.first_response = duration(
            cx,
            &format!("[sla.{name}] first_response"),
            v,
            hours,
            calendar,
        )?;
    }
    if let Some(v) = &r.resolution {
        t.resolution = duration(cx, &format!("[sla.{name}] resolution"), v, hours, calendar)?;
    }
    if t.first_response > t.resolution {
        return Err(cx.err(
            &format!("[sla.{name}] first_response"),
            "is longer than the resolution target",
        ));
    }
    Ok(())
}

/// A target in the clock's seconds: "1d" in a business calendar is one working day;
/// around the clock, 24 hours.
fn duration(cx: &Ctx, key: &str, text: &str, hours: Hours, calendar: &Calendar) -> Result<i64> {
    let seconds = parse_duration_text(text).map_err(|e| cx.err(key, e))?;
    let t = text.trim();
    Ok(match (hours, t.chars().last()) {
        (Hours::Business, Some('d')) => seconds / 86_400 * calendar.day_seconds(),
        (Hours::Business, Some('w')) => seconds / (7 * 86_400) * calendar.weekly_seconds(),
        _ => seconds,
    })
}

/// `escalate_after` and who gets it: `escalate_to`, or else the supervisors.
fn escalation(cx: &Ctx, raw: &RawSla, desk: &DeskConfig, policy: &mut SlaPolicy) -> Result<()> {
    if let Some(e) = &raw.escalate_after {
        policy.escalate_after =
            Some(parse_duration_text(e).map_err(|m| cx.err("[sla] escalate_after", m))?);
        policy.escalate_to = match &raw.escalate_to {
            Some(list) if !list.is_empty() => list.clone(),
            _ => desk.supervisors.iter().map(|s| s.address.clone()).collect(),
        };
        if policy.escalate_to.is_empty() {
            return Err(cx.err(
                "[sla] escalate_to",
                "escalate_after is set but nobody receives escalations (set escalate_to or [desk] supervisors)",
            ));
        }
    } else if raw.escalate_to.is_some() {
        return Err(cx.err("[sla] escalate_to", "needs [sla] escalate_after"));
    }
    Ok(())
}
