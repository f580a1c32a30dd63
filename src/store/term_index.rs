//! The term index behind similar tickets and knowledge-base suggestions: which items (a
//! past ticket, an entry) hold which terms, how many items hold each term, and each
//! item's own terms for scoring. What a term is, and how candidates are scored, is
//! `store::kb`'s; this module owns the tables and the bounded look-up.
//!
//! The look-up costs the same whatever the size of the history: it asks for the
//! document frequency of at most [`MAX_QUERY_TERMS`] of the request's terms (one
//! primary-key look-up each), keeps the [`RAREST_TERMS`] rarest that occur at all (rare
//! terms say most about what a request is about, and have the shortest lists), and reads
//! the newest [`POSTINGS_PER_TERM`] items of each, one index range scan each (twice both
//! for knowledge-base entries). The items found by the rarest terms are the candidates,
//! at most [`CANDIDATES`], read by primary key with their terms. No step reads a list whose length grows with the
//! history: an FTS5 query over a trigram index did (an OR of phrases walks every
//! trigram's list to the end to prove that a rare phrase does not occur).

use std::collections::HashMap;

use anyhow::Result;
use rusqlite::{Connection, OptionalExtension, params};

/// What an index entry points at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Past tickets (by ticket id): subject and the start of the request.
    Tickets = 1,
    /// Knowledge-base entries (by entry id): title and problem.
    KbEntries = 2,
}

impl Scope {
    /// How many of a request's rarest terms are read, and how many items per term,
    /// newest first. Entries get twice the tickets' budget: a reviewed knowledge base
    /// is far smaller than the history of tickets, and a missed entry is a requester
    /// who does not get the answer. Measured in `tests/suggestions_quality.rs`.
    fn budget(self) -> (usize, i64) {
        match self {
            Scope::Tickets => (RAREST_TERMS, POSTINGS_PER_TERM),
            Scope::KbEntries => (2 * RAREST_TERMS, 2 * POSTINGS_PER_TERM),
        }
    }
}

/// At most this many of a request's terms are looked up.
pub const MAX_QUERY_TERMS: usize = 64;
/// The rarest terms of a request whose tickets are read.
pub const RAREST_TERMS: usize = 16;
/// Tickets read per term, newest first.
pub const POSTINGS_PER_TERM: i64 = 64;
/// Items scored per look-up.
pub const CANDIDATES: usize = 128;

/// Separates an item's terms in `term_items.terms` (terms never hold a newline).
const SEPARATOR: char = '\n';

const DOC_FREQUENCY: &str = "SELECT items FROM term_counts WHERE scope = ?1 AND term = ?2";
const NEWEST_POSTINGS: &str = "SELECT item FROM term_postings WHERE scope = ?1 AND term = ?2
     ORDER BY item DESC LIMIT ?3";
const ITEM_TERMS: &str = "SELECT terms FROM term_items WHERE scope = ?1 AND item = ?2";
const ADD_POSTING: &str =
    "INSERT OR IGNORE INTO term_postings (scope, term, item) VALUES (?1, ?2, ?3)";
const COUNT_UP: &str = "INSERT INTO term_counts (scope, term, items) VALUES (?1, ?2, 1)
     ON CONFLICT (scope, term) DO UPDATE SET items = items + 1";
const DELETE_POSTING: &str =
    "DELETE FROM term_postings WHERE scope = ?1 AND term = ?2 AND item = ?3";
const COUNT_DOWN: &str = "UPDATE term_counts SET items = items - 1 WHERE scope = ?1 AND term = ?2";
const DROP_ZERO_COUNT: &str =
    "DELETE FROM term_counts WHERE scope = ?1 AND term = ?2 AND items <= 0";
const SET_ITEM: &str = "INSERT INTO term_items (scope, item, terms) VALUES (?1, ?2, ?3)
     ON CONFLICT (scope, item) DO UPDATE SET terms = excluded.terms";
const DELETE_ITEM: &str = "DELETE FROM term_items WHERE scope = ?1 AND item = ?2";

/// Every query above, for the query-plan test.
#[cfg(test)]
const QUERIES: [&str; 10] = [
    DOC_FREQUENCY,
    NEWEST_POSTINGS,
    ITEM_TERMS,
    ADD_POSTING,
    COUNT_UP,
    DELETE_POSTING,
    COUNT_DOWN,
    DROP_ZERO_COUNT,
    SET_ITEM,
    DELETE_ITEM,
];

/// A candidate item and its terms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    pub item: i64,
    /// The item's terms, separated by newlines ([`Candidate::terms`]).
    terms: String,
}

impl Candidate {
    pub fn terms(&self) -> impl Iterator<Item = &str> {
        self.terms.split(SEPARATOR).filter(|t| !t.is_empty())
    }
}

/// Indexes `item` under `terms` (which replace any it had).
pub fn index(conn: &Connection, scope: Scope, item: i64, terms: &[impl AsRef<str>]) -> Result<()> {
    remove(conn, scope, item)?;
    let scope = scope as i64;
    let mut kept = Vec::with_capacity(terms.len());
    for term in terms.iter().map(AsRef::as_ref) {
        if term.is_empty() || term.contains(SEPARATOR) {
            continue;
        }
        if conn
            .prepare_cached(ADD_POSTING)?
            .execute(params![scope, term, item])?
            > 0
        {
            conn.prepare_cached(COUNT_UP)?
                .execute(params![scope, term])?;
            kept.push(term);
        }
    }
    let joined = kept.join("\n");
    conn.prepare_cached(SET_ITEM)?
        .execute(params![scope, item, joined])?;
    Ok(())
}

/// Takes `item` out of the index (nothing when it is not in it).
pub fn remove(conn: &Connection, scope: Scope, item: i64) -> Result<()> {
    let scope = scope as i64;
    let Some(terms) = conn
        .prepare_cached(ITEM_TERMS)?
        .query_row(params![scope, item], |r| r.get::<_, String>(0))
        .optional()?
    else {
        return Ok(());
    };
    for term in terms.split(SEPARATOR).filter(|t| !t.is_empty()) {
        if conn
            .prepare_cached(DELETE_POSTING)?
            .execute(params![scope, term, item])?
            > 0
        {
            conn.prepare_cached(COUNT_DOWN)?
                .execute(params![scope, term])?;
            conn.prepare_cached(DROP_ZERO_COUNT)?
                .execute(params![scope, term])?;
        }
    }
    conn.prepare_cached(DELETE_ITEM)?
        .execute(params![scope, item])?;
    Ok(())
}

/// The items worth scoring for a request with `terms` (never `exclude`): those found
/// through the most of the request's rarest terms, newest first between equals, at
/// most [`CANDIDATES`], with their terms.
pub fn candidates(
    conn: &Connection,
    scope: Scope,
    terms: &[impl AsRef<str>],
    exclude: i64,
) -> Result<Vec<Candidate>> {
    let scope_id = scope as i64;
    let mut frequency = conn.prepare_cached(DOC_FREQUENCY)?;
    let mut rare: Vec<(i64, &str)> = Vec::new();
    for term in terms.iter().map(AsRef::as_ref).take(MAX_QUERY_TERMS) {
        let items: Option<i64> = frequency
            .query_row(params![scope_id, term], |r| r.get(0))
            .optional()?;
        if let Some(n) = items.filter(|n| *n > 0) {
            rare.push((n, term));
        }
    }
    let (rarest, per_term) = scope.budget();
    rare.sort_unstable();
    rare.truncate(rarest);
    // Each item found gains the weight of the term that found it: a rarer term says
    // more (1/sqrt of its frequency, a smooth stand-in for its inverse frequency).
    let mut found: HashMap<i64, f64> = HashMap::new();
    let mut postings = conn.prepare_cached(NEWEST_POSTINGS)?;
    for (items, term) in &rare {
        let weight = 1.0 / (*items as f64).sqrt();
        let rows = postings.query_map(params![scope_id, term, per_term], |r| r.get::<_, i64>(0))?;
        for item in rows {
            let item = item?;
            if item != exclude {
                *found.entry(item).or_default() += weight;
            }
        }
    }
    let mut ranked: Vec<(f64, i64)> = found.into_iter().map(|(i, w)| (w, i)).collect();
    ranked.sort_unstable_by(|a, b| b.0.total_cmp(&a.0).then(b.1.cmp(&a.1)));
    ranked.truncate(CANDIDATES);
    let mut read = conn.prepare_cached(ITEM_TERMS)?;
    let mut out = Vec::with_capacity(ranked.len());
    for (_, item) in ranked {
        if let Some(terms) = read
            .query_row(params![scope_id, item], |r| r.get::<_, String>(0))
            .optional()?
        {
            out.push(Candidate { item, terms });
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn db() -> Connection {
        crate::store::migrated_in_memory()
    }

    fn found(conn: &Connection, terms: &[&str], exclude: i64) -> Vec<i64> {
        candidates(conn, Scope::Tickets, terms, exclude)
            .unwrap()
            .into_iter()
            .map(|c| c.item)
            .collect()
    }

    fn count(conn: &Connection, term: &str) -> Option<i64> {
        conn.query_row(
            "SELECT items FROM term_counts WHERE scope = 1 AND term = ?1",
            [term],
            |r| r.get(0),
        )
        .optional()
        .unwrap()
    }

    #[test]
    fn every_query_is_a_primary_key_look_up_or_range() {
        let conn = db();
        for sql in QUERIES {
            let explained = sql
                .replace("?1", "1")
                .replace("?2", "'t'")
                .replace("?3", "3");
            let plan = crate::store::query_plan(&conn, &explained);
            assert!(!plan.lines().any(|l| l.contains("SCAN")), "{sql}\n{plan}");
            if sql.starts_with("SELECT") || sql.starts_with("DELETE") || sql.starts_with("UPDATE") {
                assert!(plan.contains("PRIMARY KEY"), "{sql}\n{plan}");
            }
        }
    }

    #[test]
    fn items_sharing_the_most_rare_terms_come_first_and_counts_follow_the_index() {
        let conn = db();
        index(&conn, Scope::Tickets, 1, &["printer", "jam", "floor"]).unwrap();
        index(&conn, Scope::Tickets, 2, &["printer", "toner"]).unwrap();
        index(&conn, Scope::Tickets, 3, &["vpn", "809"]).unwrap();
        index(&conn, Scope::KbEntries, 1, &["printer"]).unwrap();
        assert_eq!(found(&conn, &["printer", "jam", "nothing"], 0), vec![1, 2]);
        assert_eq!(found(&conn, &["printer", "jam"], 1), vec![2]);
        assert_eq!(found(&conn, &["809"], 0), vec![3]);
        assert_eq!(count(&conn, "printer"), Some(2));
        let c = &candidates(&conn, Scope::Tickets, &["toner"], 0).unwrap()[0];
        assert_eq!(c.terms().collect::<Vec<_>>(), vec!["printer", "toner"]);
        // Re-indexing replaces the terms; removing takes them out, and empty counts go.
        index(&conn, Scope::Tickets, 2, &["toner", "toner"]).unwrap();
        assert_eq!(count(&conn, "printer"), Some(1));
        assert_eq!(count(&conn, "toner"), Some(1));
        remove(&conn, Scope::Tickets, 2).unwrap();
        assert_eq!(count(&conn, "toner"), None);
        assert_eq!(found(&conn, &["toner"], 0), Vec::<i64>::new());
        remove(&conn, Scope::Tickets, 99).unwrap();
        // Scopes are apart.
        assert_eq!(
            candidates(&conn, Scope::KbEntries, &["printer"], 0)
                .unwrap()
                .len(),
            1
        );
    }

    #[test]
    fn a_look_up_reads_a_bounded_number_of_items_however_common_its_terms() {
        let conn = db();
        for item in 1..=500 {
            index(&conn, Scope::Tickets, item, &["common", "printer"]).unwrap();
        }
        let got = found(&conn, &["common", "printer"], 0);
        assert_eq!(got.len(), POSTINGS_PER_TERM as usize);
        assert_eq!(got[0], 500, "newest first");
    }
}
