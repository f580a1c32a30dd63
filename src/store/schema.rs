//! The schema, as numbered migrations. Each migration runs in one transaction that
//! also records the version (rusqlite_migration's `user_version`), so a crash leaves
//! the database at one version or the next, never between.
//!
//! Never edit a released migration: add a new one.

use rusqlite_migration::{M, Migrations};

/// The migrations' SQL, in order. Index + 1 is the schema version.
const STEPS: [&str; 22] = [
    V1, V2, V3, V4, V5, V6, V7, V8, V9, V10, V11, V12, V13, V14, V15, V16, V17, V18, V19, V20, V21,
    V22,
];

/// The version whose migration packs the term index in Rust after its SQL.
const PACKED_TERM_LISTS: usize = 17;
/// The version whose migration keys the term lists by hash in Rust after its SQL.
const HASHED_TERM_LISTS: usize = 21;

/// All migrations, in order.
pub fn migrations() -> Migrations<'static> {
    Migrations::new(
        STEPS
            .iter()
            .enumerate()
            .map(|(i, sql)| match i + 1 {
                PACKED_TERM_LISTS => M::up_with_hook(sql, super::term_index::pack_postings),
                HASHED_TERM_LISTS => M::up_with_hook(sql, super::term_index::key_lists_by_hash),
                _ => M::up(sql),
            })
            .collect(),
    )
}

/// The newest schema version this binary knows.
pub fn latest_version() -> usize {
    STEPS.len()
}

const V1: &str = r#"
CREATE TABLE tickets (
    id             INTEGER PRIMARY KEY,
    status         TEXT NOT NULL,
    priority       TEXT NOT NULL,
    requester      TEXT NOT NULL,
    requester_name TEXT,
    subject        TEXT NOT NULL,
    created_at     INTEGER NOT NULL,
    updated_at     INTEGER NOT NULL
) STRICT;
CREATE INDEX tickets_status ON tickets(status, id);

-- Every message received, raw bytes included. `identity` is the Message-ID, or
-- "sha256:<content hash>" for mail without one: the exactly-once key.
CREATE TABLE messages (
    id               INTEGER PRIMARY KEY,
    ticket_id        INTEGER REFERENCES tickets(id),
    identity         TEXT NOT NULL UNIQUE,
    message_id       TEXT,
    content_hash     TEXT NOT NULL,
    kind             TEXT NOT NULL,
    automatic        TEXT,
    from_address     TEXT,
    from_name        TEXT,
    to_json          TEXT NOT NULL,
    cc_json          TEXT NOT NULL,
    subject          TEXT NOT NULL,
    sent_date        INTEGER,
    in_reply_to      TEXT,
    references_json  TEXT NOT NULL,
    text_body        TEXT NOT NULL,
    html_body        TEXT,
    attachments_json TEXT NOT NULL,
    problems_json    TEXT NOT NULL,
    raw              BLOB NOT NULL,
    received_at      INTEGER NOT NULL
) STRICT;
CREATE INDEX messages_ticket ON messages(ticket_id, id);

-- Every Message-ID seen or sent, and the ticket it belongs to: threading looks here.
CREATE TABLE message_ids (
    message_id TEXT PRIMARY KEY,
    ticket_id  INTEGER NOT NULL REFERENCES tickets(id),
    outgoing   INTEGER NOT NULL
) STRICT, WITHOUT ROWID;

-- The ticket's timeline.
CREATE TABLE events (
    id          INTEGER PRIMARY KEY,
    ticket_id   INTEGER NOT NULL REFERENCES tickets(id),
    at          INTEGER NOT NULL,
    actor       TEXT NOT NULL,
    kind        TEXT NOT NULL,
    detail      TEXT NOT NULL
) STRICT;
CREATE INDEX events_ticket ON events(ticket_id, id);

-- Durable queue of outgoing mail, rendered to final bytes when queued.
CREATE TABLE outbox (
    id              INTEGER PRIMARY KEY,
    ticket_id       INTEGER REFERENCES tickets(id),
    kind            TEXT NOT NULL,
    message_id      TEXT NOT NULL UNIQUE,
    mail_from       TEXT NOT NULL,
    recipients_json TEXT NOT NULL,
    subject         TEXT NOT NULL,
    raw             BLOB NOT NULL,
    state           TEXT NOT NULL CHECK (state IN ('queued', 'sending', 'sent', 'failed')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    last_error      TEXT,
    created_at      INTEGER NOT NULL,
    sent_at         INTEGER
) STRICT;
CREATE INDEX outbox_due ON outbox(next_attempt_at) WHERE state = 'queued';
CREATE INDEX outbox_ticket ON outbox(ticket_id);

-- How far each mailbox has been committed (IMAP: folder + UIDVALIDITY + last UID).
CREATE TABLE mailbox_state (
    source       TEXT PRIMARY KEY,
    uid_validity INTEGER NOT NULL,
    last_uid     INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL
) STRICT;

-- Mail that could not be made into a message at all, kept raw with the reason.
CREATE TABLE quarantine (
    id          INTEGER PRIMARY KEY,
    source      TEXT NOT NULL,
    content_hash TEXT NOT NULL UNIQUE,
    reason      TEXT NOT NULL,
    raw         BLOB NOT NULL,
    received_at INTEGER NOT NULL
) STRICT;
"#;

/// The lifecycle: assignment, teams, participants, authorisation, resolution and the
/// auto-close timer; the trimmed text of each message.
const V2: &str = r#"
ALTER TABLE tickets ADD COLUMN assignee TEXT;
ALTER TABLE tickets ADD COLUMN team TEXT;
ALTER TABLE tickets ADD COLUMN authorization TEXT;
ALTER TABLE tickets ADD COLUMN resolution TEXT;
ALTER TABLE tickets ADD COLUMN auto_close_at INTEGER;
ALTER TABLE tickets ADD COLUMN closed_at INTEGER;
ALTER TABLE tickets ADD COLUMN first_response_at INTEGER;
ALTER TABLE tickets ADD COLUMN linked_ticket INTEGER REFERENCES tickets(id);
CREATE INDEX tickets_auto_close ON tickets(auto_close_at) WHERE auto_close_at IS NOT NULL;

-- People besides the requester who receive the desk's replies (Cc'd on the request,
-- or added with /cc).
CREATE TABLE participants (
    ticket_id INTEGER NOT NULL REFERENCES tickets(id),
    address   TEXT NOT NULL,
    name      TEXT,
    added_at  INTEGER NOT NULL,
    PRIMARY KEY (ticket_id, address)
) STRICT, WITHOUT ROWID;

-- What the author wrote: quotes, reply headers and signatures trimmed.
ALTER TABLE messages ADD COLUMN visible_text TEXT;
"#;

/// Intake and triage: the request's language, the intake facts found, the knowledge
/// base and the index of past tickets (both FTS5 with the trigram tokenizer, which
/// works for Chinese as well as English).
const V3: &str = r#"
ALTER TABLE tickets ADD COLUMN language TEXT NOT NULL DEFAULT 'en';
CREATE TABLE ticket_facts (
    ticket_id  INTEGER NOT NULL REFERENCES tickets(id),
    fact       TEXT NOT NULL,
    evidence   TEXT NOT NULL,
    message_id INTEGER REFERENCES messages(id),
    found_at   INTEGER NOT NULL,
    PRIMARY KEY (ticket_id, fact)
) STRICT, WITHOUT ROWID;
CREATE TABLE kb_entries (
    id         INTEGER PRIMARY KEY,
    ticket_id  INTEGER REFERENCES tickets(id),
    title      TEXT NOT NULL,
    problem    TEXT NOT NULL,
    cause      TEXT NOT NULL DEFAULT '',
    steps      TEXT NOT NULL DEFAULT '',
    solution   TEXT NOT NULL,
    language   TEXT NOT NULL,
    author     TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
) STRICT;
CREATE UNIQUE INDEX kb_ticket ON kb_entries(ticket_id) WHERE ticket_id IS NOT NULL;
CREATE VIRTUAL TABLE kb_fts USING fts5(title, problem, cause, steps, solution, content='kb_entries', content_rowid='id', tokenize='trigram');
CREATE TRIGGER kb_ai AFTER INSERT ON kb_entries BEGIN
  INSERT INTO kb_fts(rowid, title, problem, cause, steps, solution) VALUES (new.id, new.title, new.problem, new.cause, new.steps, new.solution);
END;
CREATE TRIGGER kb_ad AFTER DELETE ON kb_entries BEGIN
  INSERT INTO kb_fts(kb_fts, rowid, title, problem, cause, steps, solution) VALUES ('delete', old.id, old.title, old.problem, old.cause, old.steps, old.solution);
END;
CREATE TRIGGER kb_au AFTER UPDATE ON kb_entries BEGIN
  INSERT INTO kb_fts(kb_fts, rowid, title, problem, cause, steps, solution) VALUES ('delete', old.id, old.title, old.problem, old.cause, old.steps, old.solution);
  INSERT INTO kb_fts(rowid, title, problem, cause, steps, solution) VALUES (new.id, new.title, new.problem, new.cause, new.steps, new.solution);
END;
-- Similar past tickets: subject and the start of the request, by ticket id.
CREATE VIRTUAL TABLE ticket_fts USING fts5(subject, body, tokenize='trigram');
"#;

/// SLA clocks: one row per ticket and target (first_response, resolution), with the
/// absolute due times of the alerts not yet fired; `next_alert_at` is indexed so the
/// service finds what is due without scanning tickets. Fired levels are stamped in
/// the row in the same transaction as the alert's outbox entry. `sla_digests` records
/// each day's digest once.
const V4: &str = r#"
CREATE TABLE sla_clocks (
    ticket_id      INTEGER NOT NULL REFERENCES tickets(id),
    target         TEXT NOT NULL,
    priority       TEXT NOT NULL,
    hours          TEXT NOT NULL,
    target_seconds INTEGER NOT NULL,
    started_at     INTEGER NOT NULL,
    consumed       INTEGER NOT NULL,
    running_since  INTEGER,
    warn_at        INTEGER,
    due_at         INTEGER,
    escalate_at    INTEGER,
    met_at         INTEGER,
    warned_at      INTEGER,
    breached_at    INTEGER,
    escalated_at   INTEGER,
    next_alert_at  INTEGER,
    PRIMARY KEY (ticket_id, target)
) STRICT, WITHOUT ROWID;
CREATE INDEX sla_next_alert ON sla_clocks(next_alert_at) WHERE next_alert_at IS NOT NULL;
CREATE INDEX sla_due ON sla_clocks(due_at) WHERE due_at IS NOT NULL;
-- `ticketpost report` reads tickets by when they were opened and closed.
CREATE INDEX tickets_created ON tickets(created_at);
CREATE INDEX tickets_closed ON tickets(closed_at) WHERE closed_at IS NOT NULL;
-- Loop guard: tickets a sender opened lately.
CREATE INDEX tickets_requester ON tickets(requester, created_at);
-- Secrets the desk makes for itself: `staff_key` signs the Message-IDs of the mail we
-- send, so a reply that quotes one proves who received it (desk::staff_proof).
CREATE TABLE settings (
    key   TEXT PRIMARY KEY,
    value BLOB NOT NULL
) STRICT;
INSERT INTO settings (key, value) VALUES ('staff_key', randomblob(32));
CREATE TABLE sla_digests (
    day     TEXT PRIMARY KEY,
    sent_at INTEGER NOT NULL
) STRICT;
"#;

/// Tags on tickets (set by `[[route]]` rules), as a JSON array of strings.
const V5: &str = r#"
ALTER TABLE tickets ADD COLUMN tags_json TEXT NOT NULL DEFAULT '[]';
"#;

/// New tickets waiting for the similar-tickets index (`ticket_fts`). Writing the
/// trigram index is the costliest step of storing a request, so ingest only queues
/// here and the index is brought up to date when the mailbox is idle.
const V6: &str = r#"
CREATE TABLE ticket_index_queue (
    ticket_id INTEGER PRIMARY KEY REFERENCES tickets(id),
    subject   TEXT NOT NULL,
    body      TEXT NOT NULL
) STRICT;
"#;

/// Look-ups by mail (`/list mine`, `/list team <name>`): tickets by assignee and by
/// team, newest first, each an index range scan (`store::listings`).
const V7: &str = r#"
CREATE INDEX tickets_assignee ON tickets(assignee, id);
CREATE INDEX tickets_team ON tickets(team, id);
"#;

const V8: &str = r#"
-- Mail kept without a ticket, by sender and time: how many unverified look-ups one
-- claimed sender sent within the hour (their warnings to the agents are bounded).
CREATE INDEX messages_unfiled_from ON messages(from_address, received_at) WHERE ticket_id IS NULL;
"#;

/// Merged and linked tickets (`/merge`, `/link`). A merged ticket keeps its row, its
/// messages and its timeline; `merged_into` names the ticket that took it over, so mail
/// for it can be followed to the last survivor. A link is stored once per pair, the
/// smaller id first, and read from either side by its own index.
const V9: &str = r#"
ALTER TABLE tickets ADD COLUMN merged_into INTEGER REFERENCES tickets(id);
CREATE INDEX tickets_merged_into ON tickets(merged_into) WHERE merged_into IS NOT NULL;
CREATE TABLE ticket_links (
    low_id     INTEGER NOT NULL REFERENCES tickets(id),
    high_id    INTEGER NOT NULL REFERENCES tickets(id),
    linked_at  INTEGER NOT NULL,
    linked_by  TEXT NOT NULL,
    PRIMARY KEY (low_id, high_id),
    CHECK (low_id < high_id)
) STRICT, WITHOUT ROWID;
CREATE INDEX ticket_links_high ON ticket_links(high_id, low_id);
"#;

/// Attachments' bytes, stored once per content (SHA-256), whatever the number of
/// messages and mails that carry them; `message_files` links them to the message
/// that brought them (N = position), `outbox_files` to the mails that relay them: an
/// outbox row holds a placeholder where the bytes go, filled in when it is sent.
const V10: &str = r#"
CREATE TABLE file_blobs (
    sha256 TEXT PRIMARY KEY,
    size   INTEGER NOT NULL,
    bytes  BLOB NOT NULL
) STRICT, WITHOUT ROWID;

CREATE TABLE message_files (
    message_row  INTEGER NOT NULL REFERENCES messages(id),
    position     INTEGER NOT NULL,
    sha256       TEXT NOT NULL REFERENCES file_blobs(sha256),
    name         TEXT,
    content_type TEXT NOT NULL,
    size         INTEGER NOT NULL,
    content_id   TEXT,
    inline       INTEGER NOT NULL,
    PRIMARY KEY (message_row, position)
) STRICT, WITHOUT ROWID;

CREATE TABLE outbox_files (
    outbox_id   INTEGER NOT NULL REFERENCES outbox(id),
    position    INTEGER NOT NULL,
    sha256      TEXT NOT NULL REFERENCES file_blobs(sha256),
    placeholder TEXT NOT NULL,
    PRIMARY KEY (outbox_id, position)
) STRICT, WITHOUT ROWID;
"#;

const V11: &str = r#"
-- The agent who opened a ticket on someone's behalf (a forward, /new); NULL when the
-- requester wrote in themself.
ALTER TABLE tickets ADD COLUMN opened_by TEXT;
"#;

/// Satisfaction, knowledge review and the worklog (issue 16 parts 3-5).
/// - `kb_entries` gain a review state: entries are written as drafts and offered to
///   requesters only once another agent approved them. The entries already stored were
///   live before review existed: they are marked approved (by "migration", at their
///   last update). `lessons` is the entry's Lessons: section.
/// - `satisfaction`: one rating per ticket (its primary key), so a later rating
///   replaces the earlier one.
/// - `time_entries`: the time agents spent on a ticket (`/time`), read per ticket and,
///   by `report`, per period.
const V12: &str = r#"
ALTER TABLE kb_entries ADD COLUMN state TEXT NOT NULL DEFAULT 'draft';
ALTER TABLE kb_entries ADD COLUMN approved_by TEXT;
ALTER TABLE kb_entries ADD COLUMN approved_at INTEGER;
ALTER TABLE kb_entries ADD COLUMN lessons TEXT NOT NULL DEFAULT '';
UPDATE kb_entries SET state = 'approved', approved_by = 'migration', approved_at = updated_at;

CREATE TABLE satisfaction (
    ticket_id INTEGER PRIMARY KEY REFERENCES tickets(id),
    rating    INTEGER NOT NULL CHECK (rating BETWEEN 1 AND 5),
    comment   TEXT NOT NULL,
    rated_by  TEXT NOT NULL,
    rated_at  INTEGER NOT NULL
) STRICT;

CREATE TABLE time_entries (
    id        INTEGER PRIMARY KEY,
    ticket_id INTEGER NOT NULL REFERENCES tickets(id),
    agent     TEXT NOT NULL,
    minutes   INTEGER NOT NULL CHECK (minutes > 0),
    at        INTEGER NOT NULL
) STRICT;
CREATE INDEX time_entries_ticket ON time_entries(ticket_id, id);
CREATE INDEX time_entries_at ON time_entries(at);
"#;

/// Change review (issue 16 part 2).
const V13: &str = r#"
-- Change review (store::changes): a ticket's change plan, one per ticket (a new /plan
-- replaces it). remind_at / alert_at hold the window's start and end until the
-- reminder / the overdue alert is sent (or the change is settled): the timer reads
-- them through the partial indexes, and stamps them in the transaction of the mail.
CREATE TABLE change_plans (
    ticket_id     INTEGER PRIMARY KEY REFERENCES tickets(id),
    state         TEXT NOT NULL,
    author        TEXT NOT NULL,
    reviewer      TEXT,
    decided_by    TEXT,
    change_text   TEXT NOT NULL,
    risk          TEXT NOT NULL,
    backup        TEXT NOT NULL,
    rollback_text TEXT NOT NULL,
    window_start  INTEGER NOT NULL,
    window_end    INTEGER NOT NULL,
    planned_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL,
    outcome       TEXT,
    remind_at     INTEGER,
    alert_at      INTEGER,
    reminded_at   INTEGER,
    alerted_at    INTEGER
) STRICT;
CREATE INDEX change_plans_remind ON change_plans(remind_at) WHERE remind_at IS NOT NULL;
CREATE INDEX change_plans_alert ON change_plans(alert_at) WHERE alert_at IS NOT NULL;

-- Every state a plan took, who moved it and when (tickets show, report).
CREATE TABLE change_events (
    id        INTEGER PRIMARY KEY,
    ticket_id INTEGER NOT NULL REFERENCES tickets(id),
    at        INTEGER NOT NULL,
    state     TEXT NOT NULL,
    actor     TEXT NOT NULL,
    detail    TEXT NOT NULL
) STRICT;
CREATE INDEX change_events_ticket ON change_events(ticket_id, id);
CREATE INDEX change_events_at ON change_events(at);
"#;

/// Severity (issue 16 part 1): the rules' triage of each new
/// ticket (`ticket_triage`) and agents' `/priority` overrides kept as labelled examples
/// (`triage_overrides`), with a partial index on the disagreements for `triage review`.
const V14: &str = r#"
CREATE TABLE ticket_triage (
    ticket_id   INTEGER PRIMARY KEY REFERENCES tickets(id),
    priority    TEXT NOT NULL,
    impact      TEXT NOT NULL,
    urgency     TEXT NOT NULL,
    words       TEXT NOT NULL,
    assessed_at INTEGER NOT NULL
) STRICT;
CREATE TABLE triage_overrides (
    id             INTEGER PRIMARY KEY,
    ticket_id      INTEGER NOT NULL REFERENCES tickets(id),
    rules_priority TEXT NOT NULL,
    impact         TEXT NOT NULL,
    urgency        TEXT NOT NULL,
    words          TEXT NOT NULL,
    agent_priority TEXT NOT NULL,
    agent          TEXT NOT NULL,
    at             INTEGER NOT NULL
) STRICT;
CREATE INDEX triage_disagreements ON triage_overrides(at, id)
    WHERE rules_priority <> agent_priority;
"#;

/// The read side at size (issue 17): what `/metrics`, the dashboard, `sla` and the
/// digest show is read from a few rows instead of counted over every ticket, message
/// and mail, and the most urgent clocks are found through bounded index ranges.
///
/// - Counts are kept by triggers, in the transaction of the rows they count, and start
///   from the rows already stored: `ticket_counts` (tickets by status and priority),
///   `outbox_counts` (mails by state) and `tallies` (one named count each: messages,
///   quarantined mail, mails waiting for a retry, SLA levels fired, and the SLA
///   targets of open tickets breached or at risk, clock by clock). A count that falls
///   to 0 keeps its row; readers skip it.
/// - `sla_running`: running clocks by priority and due time (the dashboard's most
///   urgent tickets, one priority at a time); `sla_warned`: the running clocks whose
///   warning fired, likewise (at risk, or breached and then given more time).
/// - `outbox_failed`: failed mail, newest first, for the dashboard.
const V15: &str = r#"
CREATE TABLE ticket_counts (
    status   TEXT NOT NULL,
    priority TEXT NOT NULL,
    n        INTEGER NOT NULL,
    PRIMARY KEY (status, priority)
) STRICT, WITHOUT ROWID;
INSERT INTO ticket_counts (status, priority, n)
    SELECT status, priority, count(*) FROM tickets GROUP BY status, priority;
CREATE TRIGGER ticket_counts_insert AFTER INSERT ON tickets BEGIN
    INSERT INTO ticket_counts (status, priority, n) VALUES (new.status, new.priority, 1)
        ON CONFLICT (status, priority) DO UPDATE SET n = n + 1;
END;
CREATE TRIGGER ticket_counts_update AFTER UPDATE OF status, priority ON tickets
WHEN old.status IS NOT new.status OR old.priority IS NOT new.priority BEGIN
    UPDATE ticket_counts SET n = n - 1 WHERE status = old.status AND priority = old.priority;
    INSERT INTO ticket_counts (status, priority, n) VALUES (new.status, new.priority, 1)
        ON CONFLICT (status, priority) DO UPDATE SET n = n + 1;
END;
CREATE TRIGGER ticket_counts_delete AFTER DELETE ON tickets BEGIN
    UPDATE ticket_counts SET n = n - 1 WHERE status = old.status AND priority = old.priority;
END;

CREATE TABLE outbox_counts (
    state TEXT PRIMARY KEY,
    n     INTEGER NOT NULL
) STRICT, WITHOUT ROWID;
INSERT INTO outbox_counts (state, n) SELECT state, count(*) FROM outbox GROUP BY state;
CREATE TRIGGER outbox_counts_insert AFTER INSERT ON outbox BEGIN
    INSERT INTO outbox_counts (state, n) VALUES (new.state, 1)
        ON CONFLICT (state) DO UPDATE SET n = n + 1;
END;
CREATE TRIGGER outbox_counts_update AFTER UPDATE OF state ON outbox
WHEN old.state IS NOT new.state BEGIN
    UPDATE outbox_counts SET n = n - 1 WHERE state = old.state;
    INSERT INTO outbox_counts (state, n) VALUES (new.state, 1)
        ON CONFLICT (state) DO UPDATE SET n = n + 1;
END;
CREATE TRIGGER outbox_counts_delete AFTER DELETE ON outbox BEGIN
    UPDATE outbox_counts SET n = n - 1 WHERE state = old.state;
END;

CREATE TABLE tallies (
    name TEXT PRIMARY KEY,
    n    INTEGER NOT NULL
) STRICT, WITHOUT ROWID;
INSERT INTO tallies (name, n) VALUES
    ('messages', (SELECT count(*) FROM messages)),
    ('quarantine', (SELECT count(*) FROM quarantine)),
    ('outbox_retrying',
        (SELECT count(*) FROM outbox WHERE state = 'queued' AND last_error IS NOT NULL)),
    ('sla_warned', (SELECT count(*) FROM sla_clocks WHERE warned_at IS NOT NULL)),
    ('sla_breached', (SELECT count(*) FROM sla_clocks WHERE breached_at IS NOT NULL)),
    ('sla_escalated', (SELECT count(*) FROM sla_clocks WHERE escalated_at IS NOT NULL)),
    ('sla_open_breached',
        (SELECT count(*) FROM sla_clocks c JOIN tickets t ON t.id = c.ticket_id
          WHERE t.status <> 'closed' AND c.met_at IS NULL AND c.breached_at IS NOT NULL)),
    ('sla_open_at_risk',
        (SELECT count(*) FROM sla_clocks c JOIN tickets t ON t.id = c.ticket_id
          WHERE t.status <> 'closed' AND c.met_at IS NULL AND c.breached_at IS NULL
            AND c.warned_at IS NOT NULL));

CREATE TRIGGER tally_messages_insert AFTER INSERT ON messages BEGIN
    UPDATE tallies SET n = n + 1 WHERE name = 'messages';
END;
CREATE TRIGGER tally_messages_delete AFTER DELETE ON messages BEGIN
    UPDATE tallies SET n = n - 1 WHERE name = 'messages';
END;
CREATE TRIGGER tally_quarantine_insert AFTER INSERT ON quarantine BEGIN
    UPDATE tallies SET n = n + 1 WHERE name = 'quarantine';
END;
CREATE TRIGGER tally_quarantine_delete AFTER DELETE ON quarantine BEGIN
    UPDATE tallies SET n = n - 1 WHERE name = 'quarantine';
END;

CREATE TRIGGER tally_retrying_insert AFTER INSERT ON outbox
WHEN new.state = 'queued' AND new.last_error IS NOT NULL BEGIN
    UPDATE tallies SET n = n + 1 WHERE name = 'outbox_retrying';
END;
CREATE TRIGGER tally_retrying_update AFTER UPDATE OF state, last_error ON outbox
WHEN (old.state = 'queued' AND old.last_error IS NOT NULL)
  IS NOT (new.state = 'queued' AND new.last_error IS NOT NULL) BEGIN
    UPDATE tallies
       SET n = n + (new.state = 'queued' AND new.last_error IS NOT NULL)
                 - (old.state = 'queued' AND old.last_error IS NOT NULL)
     WHERE name = 'outbox_retrying';
END;
CREATE TRIGGER tally_retrying_delete AFTER DELETE ON outbox
WHEN old.state = 'queued' AND old.last_error IS NOT NULL BEGIN
    UPDATE tallies SET n = n - 1 WHERE name = 'outbox_retrying';
END;

-- SLA levels fired (warned, breached, escalated: each stamp counted once).
CREATE TRIGGER tally_sla_fired_insert AFTER INSERT ON sla_clocks
WHEN new.warned_at IS NOT NULL OR new.breached_at IS NOT NULL
  OR new.escalated_at IS NOT NULL BEGIN
    UPDATE tallies SET n = n + (new.warned_at IS NOT NULL) WHERE name = 'sla_warned';
    UPDATE tallies SET n = n + (new.breached_at IS NOT NULL) WHERE name = 'sla_breached';
    UPDATE tallies SET n = n + (new.escalated_at IS NOT NULL) WHERE name = 'sla_escalated';
END;
CREATE TRIGGER tally_sla_fired_update AFTER UPDATE OF warned_at, breached_at, escalated_at
ON sla_clocks
WHEN (old.warned_at IS NULL) IS NOT (new.warned_at IS NULL)
  OR (old.breached_at IS NULL) IS NOT (new.breached_at IS NULL)
  OR (old.escalated_at IS NULL) IS NOT (new.escalated_at IS NULL) BEGIN
    UPDATE tallies SET n = n + (new.warned_at IS NOT NULL) - (old.warned_at IS NOT NULL)
     WHERE name = 'sla_warned';
    UPDATE tallies SET n = n + (new.breached_at IS NOT NULL) - (old.breached_at IS NOT NULL)
     WHERE name = 'sla_breached';
    UPDATE tallies SET n = n + (new.escalated_at IS NOT NULL) - (old.escalated_at IS NOT NULL)
     WHERE name = 'sla_escalated';
END;
CREATE TRIGGER tally_sla_fired_delete AFTER DELETE ON sla_clocks
WHEN old.warned_at IS NOT NULL OR old.breached_at IS NOT NULL
  OR old.escalated_at IS NOT NULL BEGIN
    UPDATE tallies SET n = n - (old.warned_at IS NOT NULL) WHERE name = 'sla_warned';
    UPDATE tallies SET n = n - (old.breached_at IS NOT NULL) WHERE name = 'sla_breached';
    UPDATE tallies SET n = n - (old.escalated_at IS NOT NULL) WHERE name = 'sla_escalated';
END;

-- SLA targets of open (not closed) tickets not met yet: breached, or at risk (warned,
-- not breached). A clock counts while its ticket is open, so a ticket's closing or
-- reopening moves its clocks in or out.
CREATE TRIGGER tally_sla_open_insert AFTER INSERT ON sla_clocks
WHEN new.met_at IS NULL AND (new.breached_at IS NOT NULL OR new.warned_at IS NOT NULL) BEGIN
    UPDATE tallies
       SET n = n + coalesce((SELECT status <> 'closed' FROM tickets WHERE id = new.ticket_id), 0)
     WHERE name = CASE WHEN new.breached_at IS NOT NULL THEN 'sla_open_breached'
                       ELSE 'sla_open_at_risk' END;
END;
CREATE TRIGGER tally_sla_open_update AFTER UPDATE OF met_at, warned_at, breached_at
ON sla_clocks
WHEN (old.met_at IS NULL AND old.breached_at IS NOT NULL)
       IS NOT (new.met_at IS NULL AND new.breached_at IS NOT NULL)
  OR (old.met_at IS NULL AND old.breached_at IS NULL AND old.warned_at IS NOT NULL)
       IS NOT (new.met_at IS NULL AND new.breached_at IS NULL AND new.warned_at IS NOT NULL)
BEGIN
    UPDATE tallies
       SET n = n + coalesce((SELECT status <> 'closed' FROM tickets WHERE id = new.ticket_id), 0)
                 * ((new.met_at IS NULL AND new.breached_at IS NOT NULL)
                    - (old.met_at IS NULL AND old.breached_at IS NOT NULL))
     WHERE name = 'sla_open_breached';
    UPDATE tallies
       SET n = n + coalesce((SELECT status <> 'closed' FROM tickets WHERE id = new.ticket_id), 0)
                 * ((new.met_at IS NULL AND new.breached_at IS NULL AND new.warned_at IS NOT NULL)
                    - (old.met_at IS NULL AND old.breached_at IS NULL AND old.warned_at IS NOT NULL))
     WHERE name = 'sla_open_at_risk';
END;
CREATE TRIGGER tally_sla_open_delete AFTER DELETE ON sla_clocks
WHEN old.met_at IS NULL AND (old.breached_at IS NOT NULL OR old.warned_at IS NOT NULL) BEGIN
    UPDATE tallies
       SET n = n - coalesce((SELECT status <> 'closed' FROM tickets WHERE id = old.ticket_id), 0)
     WHERE name = CASE WHEN old.breached_at IS NOT NULL THEN 'sla_open_breached'
                       ELSE 'sla_open_at_risk' END;
END;
CREATE TRIGGER tally_sla_open_ticket AFTER UPDATE OF status ON tickets
WHEN (old.status = 'closed') IS NOT (new.status = 'closed') BEGIN
    UPDATE tallies
       SET n = n + CASE WHEN new.status = 'closed' THEN -1 ELSE 1 END
                 * (SELECT count(*) FROM sla_clocks c WHERE c.ticket_id = new.id
                      AND c.met_at IS NULL AND c.breached_at IS NOT NULL)
     WHERE name = 'sla_open_breached';
    UPDATE tallies
       SET n = n + CASE WHEN new.status = 'closed' THEN -1 ELSE 1 END
                 * (SELECT count(*) FROM sla_clocks c WHERE c.ticket_id = new.id
                      AND c.met_at IS NULL AND c.breached_at IS NULL AND c.warned_at IS NOT NULL)
     WHERE name = 'sla_open_at_risk';
END;

CREATE INDEX sla_running ON sla_clocks(priority, due_at) WHERE due_at IS NOT NULL;
CREATE INDEX sla_warned ON sla_clocks(priority, due_at)
    WHERE due_at IS NOT NULL AND warned_at IS NOT NULL;
CREATE INDEX outbox_failed ON outbox(state, id) WHERE state = 'failed';
"#;

/// The term index (`store::term_index`) replaces the two trigram FTS5 indexes behind
/// similar tickets and knowledge-base suggestions, whose look-ups grew with the history.
/// Tickets already indexed are queued again (`ticket_index_queue`), and every entry is
/// queued (`kb_index_queue`): the service indexes them in chunks when the mailbox is
/// idle, as it does new tickets. The postings, counts and items are WITHOUT ROWID
/// tables keyed the way they are read.
const V16: &str = r#"
CREATE TABLE term_postings (
    scope INTEGER NOT NULL,
    term  TEXT NOT NULL,
    item  INTEGER NOT NULL,
    PRIMARY KEY (scope, term, item)
) STRICT, WITHOUT ROWID;
CREATE TABLE term_counts (
    scope INTEGER NOT NULL,
    term  TEXT NOT NULL,
    items INTEGER NOT NULL,
    PRIMARY KEY (scope, term)
) STRICT, WITHOUT ROWID;
CREATE TABLE term_items (
    scope INTEGER NOT NULL,
    item  INTEGER NOT NULL,
    terms TEXT NOT NULL,
    PRIMARY KEY (scope, item)
) STRICT, WITHOUT ROWID;
CREATE TABLE kb_index_queue (
    entry_id INTEGER PRIMARY KEY
) STRICT;
INSERT OR IGNORE INTO ticket_index_queue (ticket_id, subject, body)
    SELECT f.rowid, f.subject, f.body FROM ticket_fts f
    WHERE EXISTS (SELECT 1 FROM tickets t WHERE t.id = f.rowid);
INSERT INTO kb_index_queue (entry_id) SELECT id FROM kb_entries;
DROP TRIGGER kb_ai;
DROP TRIGGER kb_ad;
DROP TRIGGER kb_au;
DROP TABLE kb_fts;
DROP TABLE ticket_fts;
"#;

/// The term index as one row per term (`store::term_index`): its frequency and the
/// newest items holding it, packed (the hook `term_index::pack_postings` fills it from
/// the V16 postings and drops them). A look-up reads one row per term instead of one
/// per term and item. Items keep their terms as sorted hashes too, read to score them.
const V17: &str = r#"
ALTER TABLE term_items RENAME TO term_items_v16;
CREATE TABLE term_items (
    scope  INTEGER NOT NULL,
    item   INTEGER NOT NULL,
    hashes BLOB NOT NULL,
    terms  TEXT NOT NULL,
    PRIMARY KEY (scope, item)
) STRICT, WITHOUT ROWID;
CREATE TABLE term_lists (
    scope  INTEGER NOT NULL,
    term   TEXT NOT NULL,
    items  INTEGER NOT NULL,
    newest BLOB NOT NULL,
    PRIMARY KEY (scope, term)
) STRICT, WITHOUT ROWID;
"#;

/// Rendered mail is kept compressed (issue 17): `raw_format` says how `outbox.raw` is
/// kept (0: as rendered, the rows before this version and purged rows; 1: a zstd
/// frame, see `mail_packing`), `raw_dict` the dictionary it was made with.
/// `outbox_dicts` holds the dictionaries, one per set of templates (`key`: a digest
/// of the templates' text), never changed once written: rows refer to them.
/// `outbox_bodies` holds bodies shared by mails that differ only in their headers
/// (the notices of one event to each agent): `raw` is then the header block and
/// `body_id` the body, `uses` counts the rows that refer to it (purge drops it at 0).
/// A message's visible text that begins its text body is kept as its length in bytes
/// (`visible_len`, see `store::messages`), and its HTML body is no longer kept.
const V18: &str = r#"
CREATE TABLE outbox_dicts (
    id         INTEGER PRIMARY KEY,
    key        TEXT NOT NULL UNIQUE,
    bytes      BLOB NOT NULL,
    created_at INTEGER NOT NULL
) STRICT;
CREATE TABLE outbox_bodies (
    id     INTEGER PRIMARY KEY,
    hash   BLOB NOT NULL UNIQUE,
    format INTEGER NOT NULL,
    dict   INTEGER REFERENCES outbox_dicts(id),
    bytes  BLOB NOT NULL,
    uses   INTEGER NOT NULL
) STRICT;
ALTER TABLE outbox ADD COLUMN raw_format INTEGER NOT NULL DEFAULT 0;
ALTER TABLE outbox ADD COLUMN raw_dict INTEGER REFERENCES outbox_dicts(id);
ALTER TABLE outbox ADD COLUMN body_id INTEGER REFERENCES outbox_bodies(id);
CREATE INDEX outbox_body ON outbox(body_id) WHERE body_id IS NOT NULL;
ALTER TABLE messages ADD COLUMN visible_len INTEGER;
"#;

/// Received mail packed (store::messages): the raw mail and the text body in one zstd
/// frame, `raw` and `text_body` then left empty. Rows from before stay as they are.
/// A mail's "queued to" and "sent to" timeline lines are made from its outbox row
/// (`queued_after_event`, `sent_after_event`: the newest event at that moment, the
/// line's place on the timeline) instead of `events` rows; the lines of mails queued
/// or sent before stay in `events`.
/// Outgoing bodies may also be kept decoded (`outbox_bodies.format` 2,
/// `mail_packing::FORMAT_ZSTD_DECODED`), which older binaries could not read.
const V19: &str = r#"
ALTER TABLE messages ADD COLUMN packed BLOB;
ALTER TABLE messages ADD COLUMN raw_len INTEGER;
ALTER TABLE outbox ADD COLUMN sent_after_event INTEGER;
ALTER TABLE outbox ADD COLUMN queued_after_event INTEGER;
"#;

/// An item's term hashes apart from its term strings (issue 17): `term_items` keeps
/// (scope, item, hashes), at most 512 bytes of hashes, read for every candidate of a
/// look-up; `term_item_terms` keeps the strings, read only to take an item out of the
/// term lists. In one row they made a row of about 1,000 bytes or more spill onto
/// overflow pages, which SQLite reads, whole, for each key it compares while it searches
/// a WITHOUT ROWID leaf page: a candidate read cost about four times what it does apart.
/// The hashes are copied in key order, so the new table's pages are full.
const V20: &str = r#"
CREATE TABLE term_item_terms (
    scope INTEGER NOT NULL,
    item  INTEGER NOT NULL,
    terms TEXT NOT NULL,
    PRIMARY KEY (scope, item)
) STRICT, WITHOUT ROWID;
INSERT INTO term_item_terms (scope, item, terms)
    SELECT scope, item, terms FROM term_items ORDER BY scope, item;
CREATE TABLE term_item_hashes (
    scope  INTEGER NOT NULL,
    item   INTEGER NOT NULL,
    hashes BLOB NOT NULL,
    PRIMARY KEY (scope, item)
) STRICT, WITHOUT ROWID;
INSERT INTO term_item_hashes (scope, item, hashes)
    SELECT scope, item, hashes FROM term_items ORDER BY scope, item;
DROP TABLE term_items;
ALTER TABLE term_item_hashes RENAME TO term_items;
"#;

/// Term lists keyed by the term's hash (issue 17): `term_lists` (scope, hash, items,
/// newest) replaces (scope, term, ...), and an item's term strings (`term_item_terms`)
/// are dropped: an item's hashes in `term_items` are the keys of the lists it is in,
/// which is all that taking it out needs. The lists are moved by the hook
/// (`term_index::key_lists_by_hash`), which also drops the old tables.
const V21: &str = r#"
ALTER TABLE term_lists RENAME TO term_lists_v20;
CREATE TABLE term_lists (
    scope  INTEGER NOT NULL,
    hash   INTEGER NOT NULL,
    items  INTEGER NOT NULL,
    newest BLOB NOT NULL,
    PRIMARY KEY (scope, hash)
) STRICT, WITHOUT ROWID;
"#;

/// Bodies packed against the request they quote (issue 17, `mail_packing::prefix`):
/// `quotes` is the received message whose text the frame was made against, NULL for
/// bodies packed alone (every body before this version). Received messages are never
/// deleted or changed, so the text stays there to unpack against.
const V22: &str = r#"
ALTER TABLE outbox_bodies ADD COLUMN quotes INTEGER REFERENCES messages(id);
"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v16_queues_what_the_fts_indexes_held() {
        let mut conn = rusqlite::Connection::open_in_memory().unwrap();
        migrations().to_version(&mut conn, 15).unwrap();
        conn.execute_batch(
            "INSERT INTO tickets (status, priority, requester, subject, created_at, updated_at)
             VALUES ('open', 'P3', 'a@x.test', 'VPN 809', 1, 1);
             INSERT INTO ticket_fts (rowid, subject, body) VALUES (1, 'VPN 809', 'no connect');
             INSERT INTO kb_entries (title, problem, solution, language, author, created_at,
                 updated_at)
             VALUES ('VPN 809', 'VPN fails', 'IKEv2', 'en', 'ann@x.test', 1, 1);",
        )
        .unwrap();
        migrations().to_latest(&mut conn).unwrap();
        let queued: (i64, i64) = conn
            .query_row(
                "SELECT (SELECT count(*) FROM ticket_index_queue),
                        (SELECT count(*) FROM kb_index_queue)",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap();
        assert_eq!(queued, (1, 1));
        assert_eq!(crate::store::kb::index_queued(&mut conn, 10).unwrap(), 2);
        let found = crate::store::kb::similar_tickets(&conn, "VPN 809 again", 0, 0.0, 5).unwrap();
        assert_eq!(found.len(), 1);
        let found = crate::store::kb::search(&conn, "VPN 809 fails", 0.0, 5).unwrap();
        assert_eq!(found.len(), 1);
    }

    #[test]
    fn v17_packs_the_postings_into_one_list_per_term() {
        let mut conn = rusqlite::Connection::open_in_memory().unwrap();
        migrations().to_version(&mut conn, 16).unwrap();
        for item in 1..=200 {
            conn.execute_batch(&format!(
                "INSERT INTO term_postings VALUES (1, 'printer', {item});
                 INSERT INTO term_items VALUES (1, {item}, 'printer');"
            ))
            .unwrap();
        }
        conn.execute_batch(
            "INSERT INTO term_counts VALUES (1, 'printer', 200);
             INSERT INTO term_postings VALUES (2, 'vpn', 3);
             INSERT INTO term_counts VALUES (2, 'vpn', 1);
             INSERT INTO term_items VALUES (2, 3, 'vpn');",
        )
        .unwrap();
        migrations().to_latest(&mut conn).unwrap();
        let lists: i64 = conn
            .query_row("SELECT count(*) FROM term_lists", [], |r| r.get(0))
            .unwrap();
        assert_eq!(lists, 2);
        let old: i64 = conn
            .query_row(
                "SELECT count(*) FROM sqlite_schema WHERE name IN ('term_postings', 'term_counts')",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(old, 0);
        use crate::store::term_index::{CANDIDATES, Scope, candidates};
        let found = candidates(&conn, Scope::Tickets, &["printer"], 0).unwrap();
        assert_eq!(found.len(), CANDIDATES, "the newest of the 200");
        assert_eq!(found[0].item, 200);
        let found = candidates(&conn, Scope::KbEntries, &["vpn"], 0).unwrap();
        assert_eq!(found.len(), 1);
    }

    #[test]
    fn v20_keeps_an_items_terms_apart_and_v21_keys_the_lists_by_hash() {
        use crate::store::term_index::{self, Scope, candidates, term_hash};
        let mut conn = rusqlite::Connection::open_in_memory().unwrap();
        migrations().to_version(&mut conn, 18).unwrap();
        conn.execute_batch(
            "INSERT INTO term_lists VALUES (1, 'printer', 1, x'07');
             INSERT INTO term_lists VALUES (1, 'jam', 2, x'0702');",
        )
        .unwrap();
        // As V17 wrote them: the terms' sorted hashes, little-endian.
        let real = term_index::hashes_to_bytes(&term_index::term_hashes(&["printer", "jam"]));
        conn.execute(
            "INSERT INTO term_items VALUES (1, 7, ?1, 'printer' || char(10) || 'jam')",
            [&real],
        )
        .unwrap();
        migrations().to_version(&mut conn, 20).unwrap();
        let (hashes, terms): (Vec<u8>, String) = conn
            .query_row(
                "SELECT h.hashes, t.terms FROM term_items h JOIN term_item_terms t USING (scope, item)",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap();
        assert_eq!((hashes.len(), terms.as_str()), (8, "printer\njam"));
        // V21: the lists under the terms' hashes, the strings gone.
        migrations().to_latest(&mut conn).unwrap();
        let jam: i64 = conn
            .query_row(
                "SELECT items FROM term_lists WHERE scope = 1 AND hash = ?1",
                [term_hash("jam")],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(jam, 2);
        let strings: i64 = conn
            .query_row(
                "SELECT count(*) FROM sqlite_schema WHERE name IN ('term_item_terms', 'term_lists_v20')",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(strings, 0);
        let found = candidates(&conn, Scope::Tickets, &["jam"], 0).unwrap();
        assert_eq!(found.iter().map(|c| c.item).collect::<Vec<_>>(), vec![7]);
        // Indexing a new item, then taking both out, leaves nothing, with no strings.
        term_index::index(&conn, Scope::Tickets, 9, &["jam", "toner"]).unwrap();
        term_index::remove(&conn, Scope::Tickets, 7).unwrap();
        term_index::remove(&conn, Scope::Tickets, 9).unwrap();
        let left: i64 = conn
            .query_row(
                "SELECT (SELECT count(*) FROM term_lists WHERE hash <> ?1)
                      + (SELECT count(*) FROM term_items)",
                [term_hash("jam")],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(left, 0);
        // The migrated "jam" list counted an item (2) the test never indexed: one is left.
        assert_eq!(
            conn.query_row("SELECT items FROM term_lists", [], |r| r.get::<_, i64>(0))
                .unwrap(),
            1
        );
    }

    #[test]
    fn v21_merges_the_lists_of_two_terms_that_share_a_hash() {
        use crate::store::term_index::term_hash;
        // Two different strings with one FNV-1a hash, found by search once.
        let (a, b) = colliding_terms();
        assert_eq!(term_hash(&a), term_hash(&b));
        let mut conn = rusqlite::Connection::open_in_memory().unwrap();
        migrations().to_version(&mut conn, 20).unwrap();
        conn.execute(
            "INSERT INTO term_lists VALUES (1, ?1, 2, x'0905'), (1, ?2, 1, x'07')",
            [&a, &b],
        )
        .unwrap();
        migrations().to_latest(&mut conn).unwrap();
        let (items, newest): (i64, Vec<u8>) = conn
            .query_row("SELECT items, newest FROM term_lists", [], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .unwrap();
        // 9, 4 and 7 merged, newest first: 9, then gaps 2 and 3.
        assert_eq!((items, newest), (3, vec![9, 2, 3]));
    }

    /// Two short lower-case strings with the same term hash.
    fn colliding_terms() -> (String, String) {
        use crate::store::term_index::term_hash;
        let mut seen = std::collections::HashMap::new();
        let letters = b"abcdefghijklmnopqrstuvwxyz";
        for n in 0u64.. {
            let mut word = String::new();
            let mut v = n;
            for _ in 0..7 {
                word.push(char::from(letters[(v % 26) as usize]));
                v /= 26;
            }
            if let Some(other) = seen.insert(term_hash(&word), word.clone()) {
                return (other, word);
            }
        }
        unreachable!()
    }

    #[test]
    fn migrations_are_valid() {
        migrations().validate().expect("migrations validate");
    }

    #[test]
    fn a_version_1_store_with_data_migrates() {
        let mut conn = rusqlite::Connection::open_in_memory().unwrap();
        migrations().to_version(&mut conn, 1).unwrap();
        conn.execute_batch(
            "INSERT INTO tickets (status, priority, requester, subject, created_at, updated_at)
             VALUES ('open', 'P3', 'a@x.test', 's', 1, 1);",
        )
        .unwrap();
        migrations().to_latest(&mut conn).unwrap();
        let (assignee, auto): (Option<String>, Option<i64>) = conn
            .query_row("SELECT assignee, auto_close_at FROM tickets", [], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .unwrap();
        assert_eq!((assignee, auto), (None, None));
    }

    #[test]
    fn knowledge_written_before_review_existed_is_approved_by_the_migration() {
        let mut conn = rusqlite::Connection::open_in_memory().unwrap();
        migrations().to_version(&mut conn, 11).unwrap();
        conn.execute_batch(
            "INSERT INTO kb_entries (title, problem, cause, steps, solution, language, author,
                 created_at, updated_at)
             VALUES ('t', 'p', '', '', 's', 'en', 'ann@x.test', 1, 7);",
        )
        .unwrap();
        migrations().to_latest(&mut conn).unwrap();
        let (state, by, at): (String, Option<String>, Option<i64>) = conn
            .query_row(
                "SELECT state, approved_by, approved_at FROM kb_entries",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .unwrap();
        assert_eq!(
            (state.as_str(), by.as_deref(), at),
            ("approved", Some("migration"), Some(7))
        );
        // New entries are drafts.
        conn.execute_batch(
            "INSERT INTO kb_entries (title, problem, cause, steps, solution, language, author,
                 created_at, updated_at)
             VALUES ('t2', 'p', '', '', 's', 'en', 'ann@x.test', 8, 8);",
        )
        .unwrap();
        let state: String = conn
            .query_row("SELECT state FROM kb_entries WHERE title = 't2'", [], |r| {
                r.get(0)
            })
            .unwrap();
        assert_eq!(state, "draft");
    }
}
