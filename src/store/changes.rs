//! Change plans (`desk::change_review`): the one plan of a ticket (`change_plans`) and
//! the history of its states (`change_events`), the window timers' due rows, and the
//! period counts for `report`. Every per-message and per-tick query is a primary-key
//! look-up or an index range scan (see the tests).

use anyhow::{Result, anyhow};
use rusqlite::{Connection, OptionalExtension, Row, params};

use crate::desk::change_plan::{ChangePlan, ChangeState, PlanChange, PlanSections, WindowEvent};

const PLAN_COLUMNS: &str = "state, author, reviewer, decided_by, change_text, risk, backup, \
     rollback_text, window_start, window_end, planned_at, updated_at, outcome, remind_at, alert_at";

fn plan_from(r: &Row) -> rusqlite::Result<(String, ChangePlan)> {
    let state: String = r.get(0)?;
    Ok((
        state,
        ChangePlan {
            state: ChangeState::Planned,
            author: r.get(1)?,
            reviewer: r.get(2)?,
            decided_by: r.get(3)?,
            sections: PlanSections {
                change: r.get(4)?,
                risk: r.get(5)?,
                backup: r.get(6)?,
                rollback: r.get(7)?,
                window_start: r.get(8)?,
                window_end: r.get(9)?,
            },
            planned_at: r.get(10)?,
            updated_at: r.get(11)?,
            outcome: r.get(12)?,
            remind_at: r.get(13)?,
            alert_at: r.get(14)?,
        },
    ))
}

/// The ticket's change plan (a primary-key look-up).
pub fn get(conn: &Connection, ticket: i64) -> Result<Option<ChangePlan>> {
    let row = conn
        .prepare_cached(&format!(
            "SELECT {PLAN_COLUMNS} FROM change_plans WHERE ticket_id = ?1"
        ))?
        .query_row([ticket], plan_from)
        .optional()?;
    let Some((state, mut plan)) = row else {
        return Ok(None);
    };
    plan.state = state
        .parse()
        .map_err(|e| anyhow!("change plan of ticket {ticket}: {e}"))?;
    Ok(Some(plan))
}

/// One state the plan took.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangeEvent {
    pub at: i64,
    pub state: String,
    pub actor: String,
    pub detail: String,
}

/// The plan's history, oldest first.
pub fn history(conn: &Connection, ticket: i64) -> Result<Vec<ChangeEvent>> {
    let mut stmt = conn.prepare_cached(
        "SELECT at, state, actor, detail FROM change_events WHERE ticket_id = ?1 ORDER BY id",
    )?;
    let rows = stmt
        .query_map([ticket], |r| {
            Ok(ChangeEvent {
                at: r.get(0)?,
                state: r.get(1)?,
                actor: r.get(2)?,
                detail: r.get(3)?,
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(rows)
}

fn add_event(
    conn: &Connection,
    ticket: i64,
    at: i64,
    state: ChangeState,
    actor: &str,
    detail: &str,
) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO change_events (ticket_id, at, state, actor, detail) VALUES (?1, ?2, ?3, ?4, ?5)",
    )?
    .execute(params![ticket, at, state.as_str(), actor, detail])?;
    Ok(())
}

/// Writes a change-review decision's move to ticket `ticket`'s plan.
pub fn apply(conn: &Connection, ticket: i64, change: &PlanChange, now: i64) -> Result<()> {
    match change {
        PlanChange::Plan { sections, author } => {
            let s = sections;
            conn.prepare_cached(
                "INSERT INTO change_plans (ticket_id, state, author, change_text, risk, backup,
                    rollback_text, window_start, window_end, planned_at, updated_at, remind_at,
                    alert_at)
                 VALUES (?1, 'planned', ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?9, ?7, ?8)
                 ON CONFLICT (ticket_id) DO UPDATE SET state = 'planned', author = ?2,
                    reviewer = NULL, decided_by = NULL, change_text = ?3, risk = ?4, backup = ?5,
                    rollback_text = ?6, window_start = ?7, window_end = ?8, planned_at = ?9,
                    updated_at = ?9, outcome = NULL, remind_at = ?7, alert_at = ?8,
                    reminded_at = NULL, alerted_at = NULL",
            )?
            .execute(params![
                ticket,
                author,
                s.change,
                s.risk,
                s.backup,
                s.rollback,
                s.window_start,
                s.window_end,
                now
            ])?;
            add_event(conn, ticket, now, ChangeState::Planned, author, &s.change)?;
        }
        PlanChange::Step(step) => {
            let settles = matches!(
                step.state,
                ChangeState::Rejected | ChangeState::Done | ChangeState::RolledBack
            );
            let decides = matches!(step.state, ChangeState::Approved | ChangeState::Rejected);
            conn.prepare_cached(
                "UPDATE change_plans SET state = ?2, updated_at = ?3,
                    reviewer = coalesce(?4, reviewer),
                    decided_by = CASE WHEN ?5 THEN ?6 ELSE decided_by END,
                    outcome = CASE WHEN ?7 THEN ?8 ELSE outcome END,
                    remind_at = CASE WHEN ?7 THEN NULL ELSE remind_at END,
                    alert_at = CASE WHEN ?7 THEN NULL ELSE alert_at END
                 WHERE ticket_id = ?1",
            )?
            .execute(params![
                ticket,
                step.state.as_str(),
                now,
                step.reviewer,
                decides,
                step.by,
                settles,
                step.note
            ])?;
            let detail = match &step.reviewer {
                Some(r) => format!("review asked of {r}"),
                None => step.note.clone(),
            };
            add_event(conn, ticket, now, step.state, &step.by, &detail)?;
        }
        PlanChange::WindowFired(WindowEvent::Start) => {
            conn.prepare_cached(
                "UPDATE change_plans SET remind_at = NULL, reminded_at = ?2 WHERE ticket_id = ?1",
            )?
            .execute(params![ticket, now])?;
        }
        PlanChange::WindowFired(WindowEvent::Overdue) => {
            conn.prepare_cached(
                "UPDATE change_plans SET alert_at = NULL, alerted_at = ?2 WHERE ticket_id = ?1",
            )?
            .execute(params![ticket, now])?;
        }
    }
    Ok(())
}

const DUE_REMINDERS: &str = "SELECT ticket_id FROM change_plans INDEXED BY change_plans_remind
     WHERE remind_at IS NOT NULL AND remind_at <= ?1 ORDER BY remind_at LIMIT ?2";
const DUE_ALERTS: &str = "SELECT ticket_id FROM change_plans INDEXED BY change_plans_alert
     WHERE alert_at IS NOT NULL AND alert_at <= ?1 ORDER BY alert_at LIMIT ?2";
const NEXT_REMINDER: &str = "SELECT min(remind_at) FROM change_plans INDEXED BY change_plans_remind
     WHERE remind_at IS NOT NULL";
const NEXT_ALERT: &str = "SELECT min(alert_at) FROM change_plans INDEXED BY change_plans_alert
     WHERE alert_at IS NOT NULL";

/// Tickets whose plan has a window event due at `now`, at most `limit` of each kind
/// (two index range scans), without repeats.
pub fn due(conn: &Connection, now: i64, limit: usize) -> Result<Vec<i64>> {
    let mut tickets: Vec<i64> = Vec::new();
    for sql in [DUE_REMINDERS, DUE_ALERTS] {
        let mut stmt = conn.prepare_cached(sql)?;
        for id in stmt.query_map(params![now, limit as i64], |r| r.get::<_, i64>(0))? {
            let id = id?;
            if !tickets.contains(&id) {
                tickets.push(id);
            }
        }
    }
    Ok(tickets)
}

/// The earliest window event not sent yet, over all plans.
pub fn next_due(conn: &Connection) -> Result<Option<i64>> {
    let mut times = Vec::new();
    for sql in [NEXT_REMINDER, NEXT_ALERT] {
        let at: Option<i64> = conn.prepare_cached(sql)?.query_row([], |r| r.get(0))?;
        times.extend(at);
    }
    Ok(times.into_iter().min())
}

const COUNTS_SINCE: &str = "SELECT state, count(*) FROM change_events INDEXED BY change_events_at
     WHERE at >= ?1 AND at < ?2 GROUP BY state";

/// How many times plans took each state in `[from, to)`: (state, count).
pub fn counts(conn: &Connection, from: i64, to: i64) -> Result<Vec<(String, i64)>> {
    let mut stmt = conn.prepare_cached(COUNTS_SINCE)?;
    let rows = stmt
        .query_map(params![from, to], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::desk::change_plan::ChangeStep;

    fn store() -> Connection {
        let conn = crate::store::migrated_in_memory();
        conn.execute_batch(
            "INSERT INTO tickets (id, status, priority, requester, subject, created_at, updated_at)
             VALUES (1, 'open', 'P2', 'a@x.test', 's', 1, 1);",
        )
        .unwrap();
        conn
    }

    fn plan_change() -> PlanChange {
        PlanChange::Plan {
            sections: PlanSections {
                change: "swap the switch".into(),
                risk: "5 minutes down".into(),
                backup: "config saved".into(),
                rollback: "reload".into(),
                window_start: 100,
                window_end: 200,
            },
            author: "ann@x.test".into(),
        }
    }

    #[test]
    fn a_plan_moves_and_its_history_is_kept() {
        let conn = store();
        apply(&conn, 1, &plan_change(), 10).unwrap();
        let step = |state, by: &str, reviewer: Option<&str>, note: &str| {
            PlanChange::Step(ChangeStep {
                state,
                by: by.into(),
                reviewer: reviewer.map(String::from),
                note: note.into(),
            })
        };
        apply(
            &conn,
            1,
            &step(ChangeState::InReview, "ann@x.test", Some("bob@x.test"), ""),
            11,
        )
        .unwrap();
        apply(
            &conn,
            1,
            &step(ChangeState::Approved, "bob@x.test", None, ""),
            12,
        )
        .unwrap();
        let p = get(&conn, 1).unwrap().unwrap();
        assert_eq!(p.state, ChangeState::Approved);
        assert_eq!(p.reviewer.as_deref(), Some("bob@x.test"));
        assert_eq!(p.decided_by.as_deref(), Some("bob@x.test"));
        assert_eq!((p.remind_at, p.alert_at), (Some(100), Some(200)));
        assert_eq!(due(&conn, 150, 10).unwrap(), vec![1]);
        assert_eq!(next_due(&conn).unwrap(), Some(100));
        apply(&conn, 1, &PlanChange::WindowFired(WindowEvent::Start), 150).unwrap();
        assert!(due(&conn, 150, 10).unwrap().is_empty());
        assert_eq!(next_due(&conn).unwrap(), Some(200));
        apply(
            &conn,
            1,
            &step(ChangeState::Done, "ann@x.test", None, "swapped"),
            160,
        )
        .unwrap();
        let p = get(&conn, 1).unwrap().unwrap();
        assert_eq!(
            (p.state, p.outcome.as_deref()),
            (ChangeState::Done, Some("swapped"))
        );
        assert_eq!(next_due(&conn).unwrap(), None);
        let states: Vec<String> = history(&conn, 1)
            .unwrap()
            .into_iter()
            .map(|e| e.state)
            .collect();
        assert_eq!(states, vec!["planned", "in_review", "approved", "done"]);
        let counts = counts(&conn, 0, 1_000).unwrap();
        assert!(counts.contains(&("approved".to_string(), 1)), "{counts:?}");
        // A changed plan needs a new review.
        apply(&conn, 1, &plan_change(), 170).unwrap();
        let p = get(&conn, 1).unwrap().unwrap();
        assert_eq!((p.state, p.decided_by), (ChangeState::Planned, None));
        assert_eq!(p.remind_at, Some(100));
    }

    #[test]
    fn per_message_and_per_tick_queries_use_indexes() {
        let conn = store();
        let plan = |sql: &str| crate::store::query_plan(&conn, sql);
        let get_plan = plan(&format!(
            "SELECT {PLAN_COLUMNS} FROM change_plans WHERE ticket_id = 1"
        ));
        assert!(get_plan.contains("USING INTEGER PRIMARY KEY"), "{get_plan}");
        let history = plan(
            "SELECT at, state, actor, detail FROM change_events WHERE ticket_id = 1 ORDER BY id",
        );
        assert!(
            history.contains("change_events_ticket (ticket_id=?)"),
            "{history}"
        );
        for (sql, index, range) in [
            (DUE_REMINDERS, "change_plans_remind", "remind_at<?"),
            (DUE_ALERTS, "change_plans_alert", "alert_at<?"),
            (NEXT_REMINDER, "change_plans_remind", ""),
            (NEXT_ALERT, "change_plans_alert", ""),
            (COUNTS_SINCE, "change_events_at", "at>? AND at<?"),
        ] {
            let sql = sql.replace("?1", "1").replace("?2", "10");
            let p = plan(&sql);
            assert!(p.contains(index), "{sql}: {p}");
            assert!(p.contains(range), "{sql}: {p}");
            assert!(!p.contains("SCAN change"), "{sql}: {p}");
        }
    }
}
