//! The rules' triage of each new ticket and agents' `/priority` overrides, kept as
//! labelled examples so the severity rules can be improved from real traffic
//! (`ticketpost triage review`). What the rules decide is `desk::triage`; when an
//! override is recorded is `ticket_writer`.

use anyhow::Result;
use rusqlite::{Connection, OptionalExtension, params};

use crate::desk::Priority;
use crate::desk::triage::Triage;

/// Records the rules' triage of a new ticket (its words, as in the timeline).
pub fn record_intake(conn: &Connection, ticket: i64, t: &Triage, now: i64) -> Result<()> {
    conn.execute(
        "INSERT OR REPLACE INTO ticket_triage (ticket_id, priority, impact, urgency, words, assessed_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![
            ticket,
            t.priority.as_str(),
            t.severity.impact.level.as_str(),
            t.severity.urgency.level.as_str(),
            t.reasons.join("; "),
            now
        ],
    )?;
    Ok(())
}

/// Records an agent's `/priority` on a ticket the rules triaged; nothing for a ticket
/// without a recorded triage (opened before this was kept, or by an agent).
pub fn record_override(
    conn: &Connection,
    ticket: i64,
    agent_priority: Priority,
    agent: &str,
    now: i64,
) -> Result<bool> {
    let n = conn.execute(
        "INSERT INTO triage_overrides
             (ticket_id, rules_priority, impact, urgency, words, agent_priority, agent, at)
         SELECT ticket_id, priority, impact, urgency, words, ?2, ?3, ?4
         FROM ticket_triage WHERE ticket_id = ?1",
        params![ticket, agent_priority.as_str(), agent, now],
    )?;
    Ok(n > 0)
}

/// One disagreement between the rules and an agent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Disagreement {
    pub ticket_id: i64,
    pub subject: String,
    pub rules_priority: String,
    pub impact: String,
    pub urgency: String,
    pub words: String,
    pub agent_priority: String,
    pub agent: String,
    pub at: i64,
}

/// Newest first, at most `limit`: a range scan of the partial index on disagreements.
const DISAGREEMENTS: &str =
    "SELECT o.ticket_id, COALESCE(t.subject, ''), o.rules_priority, o.impact,
        o.urgency, o.words, o.agent_priority, o.agent, o.at
     FROM triage_overrides o LEFT JOIN tickets t ON t.id = o.ticket_id
     WHERE o.rules_priority <> o.agent_priority AND o.at <= ?1
     ORDER BY o.at DESC, o.id DESC LIMIT ?2";

/// Where the rules and the agents disagreed, newest first, at most `limit`.
pub fn disagreements(conn: &Connection, now: i64, limit: usize) -> Result<Vec<Disagreement>> {
    let mut stmt = conn.prepare_cached(DISAGREEMENTS)?;
    let rows = stmt.query_map(params![now, limit as i64], |r| {
        Ok(Disagreement {
            ticket_id: r.get(0)?,
            subject: r.get(1)?,
            rules_priority: r.get(2)?,
            impact: r.get(3)?,
            urgency: r.get(4)?,
            words: r.get(5)?,
            agent_priority: r.get(6)?,
            agent: r.get(7)?,
            at: r.get(8)?,
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
}

/// The rules' recorded priority of a ticket, if any.
pub fn rules_priority(conn: &Connection, ticket: i64) -> Result<Option<String>> {
    Ok(conn
        .query_row(
            "SELECT priority FROM ticket_triage WHERE ticket_id = ?1",
            [ticket],
            |r| r.get(0),
        )
        .optional()?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::desk::intake::IntakeRules;
    use crate::desk::triage::{TriageConfig, triage};

    fn store() -> Connection {
        crate::store::migrated_in_memory()
    }

    fn ticket(conn: &Connection, subject: &str) -> i64 {
        conn.execute(
            "INSERT INTO tickets (status, priority, requester, subject, created_at, updated_at)
             VALUES ('open', 'P3', 'r@x.test', ?1, 1, 1)",
            [subject],
        )
        .unwrap();
        conn.last_insert_rowid()
    }

    #[test]
    fn overrides_are_kept_and_disagreements_listed_newest_first() {
        let conn = store();
        let cfg = TriageConfig::default();
        let rules = IntakeRules::built_in();
        let a = ticket(&conn, "printer");
        let t = triage(
            rules,
            &cfg,
            "r@x.test",
            "printer",
            "My printer can't print.",
        );
        record_intake(&conn, a, &t, 10).unwrap();
        let b = ticket(&conn, "tills");
        let t = triage(
            rules,
            &cfg,
            "r@x.test",
            "tills",
            "All tills down, customers waiting",
        );
        record_intake(&conn, b, &t, 11).unwrap();
        assert_eq!(rules_priority(&conn, b).unwrap().as_deref(), Some("P1"));
        // agrees with the rules: kept, not listed
        assert!(record_override(&conn, b, Priority::P1, "ann@x.test", 20).unwrap());
        assert!(record_override(&conn, a, Priority::P1, "ann@x.test", 30).unwrap());
        assert!(record_override(&conn, b, Priority::P2, "bo@x.test", 40).unwrap());
        // a ticket without a recorded triage: nothing
        let c = ticket(&conn, "x");
        assert!(!record_override(&conn, c, Priority::P2, "bo@x.test", 50).unwrap());
        let list = disagreements(&conn, 100, 10).unwrap();
        assert_eq!(list.len(), 2);
        assert_eq!(
            (list[0].ticket_id, list[0].agent_priority.as_str()),
            (b, "P2")
        );
        assert_eq!(list[0].rules_priority, "P1");
        assert!(list[0].words.contains("impact high"), "{}", list[0].words);
        assert_eq!(
            (list[1].ticket_id, list[1].rules_priority.as_str()),
            (a, "P3")
        );
        assert_eq!(disagreements(&conn, 100, 1).unwrap().len(), 1);
    }

    #[test]
    fn disagreements_is_an_index_range_scan() {
        let conn = store();
        let sql = DISAGREEMENTS.replace("?1", "100").replace("?2", "50");
        let plan = crate::store::query_plan(&conn, &sql);
        assert!(
            plan.contains("USING INDEX triage_disagreements (at<?)"),
            "{plan}"
        );
        assert!(!plan.contains("SCAN o"), "{plan}");
    }
}
