//! The dashboard page (`GET /`): the counts of tickets by status and priority, the
//! SLA targets breached and at risk, the outbox, and the most urgent open tickets
//! (at most [`TICKETS`], ranked by `store::overview`), never every ticket. What it
//! reads is bounded whatever the size of the store; the HTTP side around it (access,
//! headers, the read-only connection) is `http`'s.

use anyhow::Result;
use rusqlite::Connection;
use serde::Serialize;

use crate::desk::threading::token;
use crate::desk::{Priority, Status};
use crate::report::format_duration;
use crate::store;
use crate::store::outbox::OutboxRow;
use crate::store::overview::{Totals, Urgency, UrgentTicket};

/// Open tickets listed, the most urgent first.
pub const TICKETS: usize = 50;
/// Failed mails listed, the newest first.
pub const FAILED: usize = 50;

const TEMPLATE: &str = r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="refresh" content="30">
<title>ticketpost: {{ open_count }} open</title>
<style>
body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5em; color: #222; }
table { border-collapse: collapse; margin-bottom: 1.5em; }
th, td { text-align: left; padding: 0.25em 0.8em; border-bottom: 1px solid #ddd; }
td.n { text-align: right; }
.breached { color: #b00; font-weight: bold; }
.at-risk { color: #b60; }
.counts span { margin-right: 1.5em; }
</style></head><body>
<h1>ticketpost</h1>
<p class="counts" id="counts"><span>{{ open_count }} open ticket(s)</span><span>{{ breached }} SLA target(s) breached</span><span>{{ at_risk }} at risk</span><span>outbox: {{ outbox.queued }} queued, {{ outbox.sent }} sent, {{ outbox.failed }} failed</span><span>{{ quarantined }} quarantined</span></p>
<h2>Tickets by status and priority</h2>
<table id="by-status"><tr><th>Status</th>{% for p in priorities %}<th>{{ p }}</th>{% endfor %}<th>All</th></tr>
{% for row in by_status %}<tr><td>{{ row.status }}</td>{% for n in row.counts %}<td class="n">{{ n }}</td>{% endfor %}<td class="n">{{ row.total }}</td></tr>
{% endfor %}</table>
<h2>Most urgent open tickets</h2>
<p id="shown">{% if open | length < open_count %}The {{ open | length }} most urgent of {{ open_count }}: {% endif %}SLA breached first, then at risk, then by priority and due time; tickets whose clocks are paused last. <code>ticketpost tickets list</code> lists every ticket.</p>
<table id="tickets"><tr><th>Ticket</th><th>Priority</th><th>Status</th><th>Subject</th><th>Requester</th><th>Assignee</th><th>SLA</th></tr>
{% for t in open %}<tr class="{{ t.sla_class }}"><td>{{ t.token }}</td><td>{{ t.priority }}</td><td>{{ t.status }}</td><td>{{ t.subject }}</td><td>{{ t.requester }}</td><td>{{ t.assignee }}</td><td>{{ t.sla }}</td></tr>
{% endfor %}</table>
<h2>Outbox</h2>
{% if failed %}<table id="failed"><tr><th>Mail</th><th>Ticket</th><th>Kind</th><th>To</th><th>Error</th></tr>
{% for m in failed %}<tr><td>M-{{ m.id }}</td><td>{{ m.token }}</td><td>{{ m.kind }}</td><td>{{ m.to }}</td><td>{{ m.error }}</td></tr>
{% endfor %}</table>{% else %}<p id="failed">No failed mail.</p>{% endif %}
<p><small>Generated {{ generated }}; refreshes every 30 s. <a href="/metrics">metrics</a></small></p>
</body></html>
"#;

/// What the page shows, read from the store in one go.
pub struct Page {
    pub urgent: Vec<UrgentTicket>,
    pub totals: Totals,
    pub failed: Vec<OutboxRow>,
}

impl Page {
    /// Every query the page runs (the query-plan tests run this).
    pub fn read(conn: &Connection, now: i64) -> Result<Page> {
        Ok(Page {
            urgent: store::overview::urgent_tickets(conn, now, TICKETS)?,
            totals: store::overview::totals(conn)?,
            failed: store::outbox::list_failed(conn, FAILED)?,
        })
    }

    /// The page's HTML (autoescaped: subjects and addresses come from mail).
    pub fn render(&self, prefix: &str, now: i64, generated: &str) -> Result<String> {
        let mut ctx = tera::Context::new();
        let lines: Vec<TicketLine> = self
            .urgent
            .iter()
            .map(|t| ticket_line(prefix, t, now))
            .collect();
        let failed: Vec<FailedLine> = self
            .failed
            .iter()
            .map(|m| FailedLine {
                id: m.id,
                token: m.ticket_id.map(|t| token(prefix, t)).unwrap_or_default(),
                kind: m.kind.clone(),
                to: m.recipients.join(", "),
                error: m.last_error.clone().unwrap_or_default(),
            })
            .collect();
        let (priorities, by_status) = status_table(&self.totals.tickets);
        ctx.insert("open_count", &self.totals.open_tickets());
        ctx.insert("breached", &self.totals.sla_open_breached);
        ctx.insert("at_risk", &self.totals.sla_open_at_risk);
        ctx.insert("priorities", &priorities);
        ctx.insert("by_status", &by_status);
        ctx.insert("open", &lines);
        ctx.insert("failed", &failed);
        ctx.insert("outbox", &self.totals.outbox);
        ctx.insert("quarantined", &self.totals.quarantined);
        ctx.insert("generated", generated);
        Ok(tera::Tera::one_off(TEMPLATE, &ctx, true)?)
    }
}

#[derive(Serialize)]
struct TicketLine {
    token: String,
    priority: String,
    status: String,
    subject: String,
    requester: String,
    assignee: String,
    sla: String,
    sla_class: &'static str,
}

#[derive(Serialize)]
struct FailedLine {
    id: i64,
    token: String,
    kind: String,
    to: String,
    error: String,
}

fn ticket_line(prefix: &str, t: &UrgentTicket, now: i64) -> TicketLine {
    let target = t.target.as_deref().unwrap_or("").replace('_', " ");
    let (sla, sla_class) = match (t.urgency, t.due_at) {
        (Urgency::Breached, Some(due)) if due <= now => (
            format!("{target} BREACHED, {} late", format_duration(now - due)),
            "breached",
        ),
        // Breached, then given more time (a priority change).
        (Urgency::Breached, Some(due)) => (
            format!(
                "{target} BREACHED, now due in {}",
                format_duration(due - now)
            ),
            "breached",
        ),
        (Urgency::AtRisk, Some(due)) => (
            format!("{target} due in {}", format_duration(due - now)),
            "at-risk",
        ),
        (_, Some(due)) => (
            format!("{target} due in {}", format_duration(due - now)),
            "",
        ),
        (_, None) => ("paused or met".to_string(), ""),
    };
    TicketLine {
        token: token(prefix, t.id),
        priority: t.priority.clone(),
        status: t.status.clone(),
        subject: t.subject.clone(),
        requester: t.requester.clone(),
        assignee: t.assignee.clone().unwrap_or_default(),
        sla,
        sla_class,
    }
}

#[derive(Debug, PartialEq, Serialize)]
struct StatusRow {
    status: String,
    counts: Vec<i64>,
    total: i64,
}

/// The counts as a table: a column per priority (P1..P4, then any other value found),
/// a row per status (the desk's, in their order, then any other); empty rows left out.
fn status_table(counts: &[(String, String, i64)]) -> (Vec<String>, Vec<StatusRow>) {
    let mut priorities: Vec<String> = Priority::ALL.iter().map(|p| p.to_string()).collect();
    let mut statuses: Vec<String> = Status::ALL.iter().map(|s| s.to_string()).collect();
    for (status, priority, _) in counts {
        if !priorities.contains(priority) {
            priorities.push(priority.clone());
        }
        if !statuses.contains(status) {
            statuses.push(status.clone());
        }
    }
    let rows = statuses
        .into_iter()
        .map(|status| {
            let counts: Vec<i64> = priorities
                .iter()
                .map(|p| {
                    counts
                        .iter()
                        .filter(|(s, q, _)| *s == status && q == p)
                        .map(|(_, _, n)| n)
                        .sum()
                })
                .collect();
            let total = counts.iter().sum();
            StatusRow {
                status,
                counts,
                total,
            }
        })
        .filter(|row| row.total > 0)
        .collect();
    (priorities, rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_status_table_has_every_priority_and_only_statuses_with_tickets() {
        let counts = [
            ("open".to_string(), "P3".to_string(), 4),
            ("closed".into(), "P1".into(), 2),
            ("open".into(), "P1".into(), 1),
            ("archived".into(), "P9".into(), 7),
        ];
        let (priorities, rows) = status_table(&counts);
        assert_eq!(priorities, ["P1", "P2", "P3", "P4", "P9"]);
        assert_eq!(
            rows,
            [
                StatusRow {
                    status: "open".into(),
                    counts: vec![1, 0, 4, 0, 0],
                    total: 5
                },
                StatusRow {
                    status: "closed".into(),
                    counts: vec![2, 0, 0, 0, 0],
                    total: 2
                },
                StatusRow {
                    status: "archived".into(),
                    counts: vec![0, 0, 0, 0, 7],
                    total: 7
                },
            ]
        );
    }

    #[test]
    fn the_page_says_how_many_it_shows_of_how_many() {
        let conn = store::migrated_in_memory();
        for id in 1..=(TICKETS as i64 + 3) {
            conn.execute(
                "INSERT INTO tickets (id, status, priority, requester, subject, created_at, updated_at)
                 VALUES (?1, 'open', 'P3', 'r@x.test', '<b>s</b>', 1, 1)",
                [id],
            )
            .unwrap();
        }
        let page = Page::read(&conn, 100).unwrap();
        assert_eq!(page.urgent.len(), TICKETS);
        let html = page.render("TP", 100, "now").unwrap();
        assert!(html.contains("53 open ticket(s)"), "{html}");
        assert!(html.contains("The 50 most urgent of 53"), "{html}");
        assert!(html.contains("&lt;b&gt;s&lt;&#x2F;b&gt;"), "{html}");
        assert!(
            html.contains("<td>open</td><td class=\"n\">0</td>"),
            "{html}"
        );
        assert_eq!(html.matches("<tr class=").count(), TICKETS);
    }
}
