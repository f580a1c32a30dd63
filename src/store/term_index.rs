//! The term index behind similar tickets and knowledge-base suggestions: which items (a
//! past ticket, an entry) hold which terms, how many items hold each term, and each
//! item's own terms for scoring. What a term is, and how candidates are scored, is
//! `store::kb`'s; this module owns the tables and the bounded look-up.
//!
//! The look-up costs the same whatever the size of the history. Each term has one row
//! (`term_lists`, keyed by the term's 32-bit hash, [`term_hash`]): how many items hold
//! it, and the ids of the newest [`LIST_CAP`] of them, packed. A look-up reads the rows
//! of at most [`MAX_QUERY_TERMS`] of the request's terms (one primary-key look-up
//! each), keeps the [`RAREST_TERMS`] rarest that occur at all (rare terms say most
//! about what a request is about), takes the newest [`POSTINGS_PER_TERM`] items of
//! each (twice both for knowledge-base entries),
//! ranks the items found by the rarity of every term read whose list holds them, and
//! reads the best [`CANDIDATES`] of them (twice for entries) by primary key, with their
//! terms (as hashes).
//! No step reads a list whose length grows with the history: an FTS5 query over a
//! trigram index did (an OR of phrases walks every trigram's list to the end), and a
//! row per term and item (schema V16) made a look-up read a thousand rows.
//!
//! What a candidate read costs is its row's size: an item keeps only its terms' hashes
//! (`term_items`, at most 512 bytes), which are also the keys of the lists it is in, so
//! taking it out of the index needs no term strings (schema V21; before, they were kept
//! a second time, as text, for that alone). With the strings in the same row (V17), a
//! row over about 1,000 bytes spilled onto overflow pages, and SQLite reads a WITHOUT
//! ROWID row whole, overflow pages included, for every key it compares while searching
//! a leaf page: a candidate cost about four times what it does now (V20, issue 17).
//! Two terms that share a hash (about one in 40 million per pair) share a list: their
//! frequency is the sum, which at worst nudges a ranking.

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
    /// How many of a request's rarest terms are read, how many items per term, newest
    /// first, and how many of the items found are scored. Entries get twice the
    /// tickets' budget: a reviewed knowledge base is far smaller than the history of
    /// tickets, and a missed entry is a requester who does not get the answer.
    /// Measured in `tests/suggestions_quality.rs` and `benches/lookups.rs`.
    fn budget(self) -> Budget {
        match self {
            Scope::Tickets => Budget {
                rarest: RAREST_TERMS,
                per_term: POSTINGS_PER_TERM as usize,
                scored: CANDIDATES,
            },
            Scope::KbEntries => Budget {
                rarest: 2 * RAREST_TERMS,
                per_term: 2 * POSTINGS_PER_TERM as usize,
                scored: 2 * CANDIDATES,
            },
        }
    }
}

/// A scope's look-up budget ([`Scope::budget`]).
struct Budget {
    rarest: usize,
    per_term: usize,
    scored: usize,
}

/// At most this many of a request's terms are looked up.
pub const MAX_QUERY_TERMS: usize = 64;
/// The rarest terms of a request whose tickets are read.
pub const RAREST_TERMS: usize = 16;
/// Tickets read per term, newest first.
pub const POSTINGS_PER_TERM: i64 = 64;
/// Items scored per look-up of tickets (twice for entries).
pub const CANDIDATES: usize = 48;
/// Items a term's list keeps, newest first: the most any scope reads (entries read
/// twice [`POSTINGS_PER_TERM`]). Older items still count in the term's frequency.
pub const LIST_CAP: usize = 2 * POSTINGS_PER_TERM as usize;

const TERM_LIST: &str = "SELECT items, newest FROM term_lists WHERE scope = ?1 AND hash = ?2";
const SET_TERM_LIST: &str =
    "INSERT INTO term_lists (scope, hash, items, newest) VALUES (?1, ?2, ?3, ?4)
     ON CONFLICT (scope, hash) DO UPDATE SET items = excluded.items, newest = excluded.newest";
const DROP_TERM_LIST: &str = "DELETE FROM term_lists WHERE scope = ?1 AND hash = ?2";
const ITEM_HASHES: &str = "SELECT hashes FROM term_items WHERE scope = ?1 AND item = ?2";
const SET_ITEM_HASHES: &str = "INSERT INTO term_items (scope, item, hashes) VALUES (?1, ?2, ?3)
     ON CONFLICT (scope, item) DO UPDATE SET hashes = excluded.hashes";
const DELETE_ITEM_HASHES: &str = "DELETE FROM term_items WHERE scope = ?1 AND item = ?2";

/// Every query above, for the query-plan test.
#[cfg(test)]
const QUERIES: [&str; 6] = [
    TERM_LIST,
    SET_TERM_LIST,
    DROP_TERM_LIST,
    ITEM_HASHES,
    SET_ITEM_HASHES,
    DELETE_ITEM_HASHES,
];

/// A candidate item and its terms, as [`term_hashes`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    pub item: i64,
    hashes: Vec<u32>,
}

impl Candidate {
    /// How many distinct terms the item has.
    pub fn size(&self) -> usize {
        self.hashes.len()
    }

    /// How many of `request` (as [`term_hashes`]) the item has: one merge of two
    /// sorted lists, no string compared or hashed per look-up.
    pub fn shared(&self, request: &[u32]) -> usize {
        let (mut a, mut b, mut shared) = (0, 0, 0);
        while a < self.hashes.len() && b < request.len() {
            match self.hashes[a].cmp(&request[b]) {
                std::cmp::Ordering::Less => a += 1,
                std::cmp::Ordering::Greater => b += 1,
                std::cmp::Ordering::Equal => (shared, a, b) = (shared + 1, a + 1, b + 1),
            }
        }
        shared
    }
}

/// Terms as sorted, distinct 32-bit FNV-1a hashes: what items are scored by. Stable
/// across versions (they are stored); two terms sharing a hash is about one in 40
/// million per pair, which at worst nudges a score.
pub fn term_hashes(terms: &[impl AsRef<str>]) -> Vec<u32> {
    let mut out: Vec<u32> = terms.iter().map(|t| term_hash(t.as_ref())).collect();
    out.sort_unstable();
    out.dedup();
    out
}

/// A term's 32-bit FNV-1a hash: its key in `term_lists` and in an item's hashes.
pub fn term_hash(term: &str) -> u32 {
    term.bytes().fold(0x811c_9dc5u32, |h, b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    })
}

/// Sorted hashes as `term_items.hashes` keeps them: each little-endian.
pub(crate) fn hashes_to_bytes(hashes: &[u32]) -> Vec<u8> {
    hashes.iter().flat_map(|h| h.to_le_bytes()).collect()
}

fn hashes_from_bytes(bytes: &[u8]) -> Vec<u32> {
    bytes
        .chunks_exact(4)
        .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}

/// One term's row: how many items hold it, and the newest of them (descending).
struct TermList {
    items: i64,
    newest: Vec<i64>,
}

fn term_list(conn: &Connection, scope: i64, hash: u32) -> Result<Option<TermList>> {
    Ok(conn
        .prepare_cached(TERM_LIST)?
        .query_row(params![scope, hash], |r| {
            Ok(TermList {
                items: r.get(0)?,
                newest: decode_newest(&r.get::<_, Vec<u8>>(1)?),
            })
        })
        .optional()?)
}

fn set_term_list(conn: &Connection, scope: i64, hash: u32, list: &TermList) -> Result<()> {
    if list.items <= 0 {
        conn.prepare_cached(DROP_TERM_LIST)?
            .execute(params![scope, hash])?;
    } else {
        conn.prepare_cached(SET_TERM_LIST)?.execute(params![
            scope,
            hash,
            list.items,
            encode_newest(&list.newest)
        ])?;
    }
    Ok(())
}

/// Indexes `item` under `terms` (which replace any it had).
pub fn index(conn: &Connection, scope: Scope, item: i64, terms: &[impl AsRef<str>]) -> Result<()> {
    remove(conn, scope, item)?;
    let scope = scope as i64;
    let mut seen = foldhash::HashSet::with_capacity_and_hasher(terms.len(), Default::default());
    for term in terms.iter().map(AsRef::as_ref).filter(|t| !t.is_empty()) {
        let hash = term_hash(term);
        if !seen.insert(hash) {
            continue;
        }
        let mut list = term_list(conn, scope, hash)?.unwrap_or(TermList {
            items: 0,
            newest: Vec::new(),
        });
        list.items += 1;
        // Descending: a new item (the highest id) goes first; a re-indexed older one
        // takes its place, or none when it is older than the whole full list.
        let at = list.newest.partition_point(|&i| i > item);
        if at < LIST_CAP {
            list.newest.insert(at, item);
            list.newest.truncate(LIST_CAP);
        }
        set_term_list(conn, scope, hash, &list)?;
    }
    let mut kept: Vec<u32> = seen.into_iter().collect();
    kept.sort_unstable();
    conn.prepare_cached(SET_ITEM_HASHES)?
        .execute(params![scope, item, hashes_to_bytes(&kept)])?;
    Ok(())
}

/// Takes `item` out of the index (nothing when it is not in it): out of the list of
/// each of its hashes.
pub fn remove(conn: &Connection, scope: Scope, item: i64) -> Result<()> {
    let scope = scope as i64;
    let Some(bytes) = conn
        .prepare_cached(ITEM_HASHES)?
        .query_row(params![scope, item], |r| r.get::<_, Vec<u8>>(0))
        .optional()?
    else {
        return Ok(());
    };
    for hash in hashes_from_bytes(&bytes) {
        if let Some(mut list) = term_list(conn, scope, hash)? {
            list.items -= 1;
            list.newest.retain(|&i| i != item);
            set_term_list(conn, scope, hash, &list)?;
        }
    }
    conn.prepare_cached(DELETE_ITEM_HASHES)?
        .execute(params![scope, item])?;
    Ok(())
}

/// The items worth scoring for a request with `terms` (never `exclude`): at most
/// [`CANDIDATES`] (twice for entries) of the items found through the request's rarest terms, with their
/// terms, ranked as [`ranked`] says.
pub fn candidates(
    conn: &Connection,
    scope: Scope,
    terms: &[impl AsRef<str>],
    exclude: i64,
) -> Result<Vec<Candidate>> {
    let scope_id = scope as i64;
    let mut lists: Vec<TermList> = Vec::new();
    let mut read: Vec<u32> = Vec::with_capacity(MAX_QUERY_TERMS);
    for term in terms.iter().map(AsRef::as_ref).take(MAX_QUERY_TERMS) {
        let hash = term_hash(term);
        if read.contains(&hash) {
            continue;
        }
        read.push(hash);
        if let Some(list) = term_list(conn, scope_id, hash)?.filter(|l| l.items > 0) {
            lists.push(list);
        }
    }
    lists.sort_unstable_by_key(|l| l.items);
    let mut read = conn.prepare_cached(ITEM_HASHES)?;
    let mut out = Vec::with_capacity(2 * CANDIDATES);
    for item in ranked(&lists, scope.budget(), exclude) {
        if let Some(bytes) = read
            .query_row(params![scope_id, item], |r| r.get::<_, Vec<u8>>(0))
            .optional()?
        {
            out.push(Candidate {
                item,
                hashes: hashes_from_bytes(&bytes),
            });
        }
    }
    Ok(out)
}

/// The best `budget.scored` items of `lists` (a request's term lists, rarest first),
/// newest first between equals. The items are found through the `budget.rarest` lists
/// (their newest `budget.per_term` each); each gains the weight of every list read that holds it, the
/// others too (a rarer term says more: 1/sqrt of its frequency, a smooth stand-in for
/// its inverse frequency). Counting every list, not only those it was found through,
/// costs no read and ranks an item that shares many of the request's terms above one
/// found through a single rare term.
fn ranked(lists: &[TermList], budget: Budget, exclude: i64) -> Vec<i64> {
    let mut found: foldhash::HashMap<i64, f64> = foldhash::HashMap::default();
    for list in lists.iter().take(budget.rarest) {
        for &item in list.newest.iter().take(budget.per_term) {
            if item != exclude {
                found.insert(item, 0.0);
            }
        }
    }
    for list in lists {
        let weight = 1.0 / (list.items as f64).sqrt();
        for item in &list.newest {
            if let Some(w) = found.get_mut(item) {
                *w += weight;
            }
        }
    }
    let mut ranked: Vec<(f64, i64)> = found.into_iter().map(|(i, w)| (w, i)).collect();
    ranked.sort_unstable_by(|a, b| b.0.total_cmp(&a.0).then(b.1.cmp(&a.1)));
    ranked.truncate(budget.scored);
    ranked.into_iter().map(|(_, item)| item).collect()
}

/// A term's newest items (descending ids) as bytes: the first id, then each gap to the
/// next, as LEB128 varints (a list of [`LIST_CAP`] ids stays a few hundred bytes, within
/// one page).
fn encode_newest(ids: &[i64]) -> Vec<u8> {
    let mut out = Vec::with_capacity(ids.len() * 3);
    let mut previous = None;
    for &id in ids {
        let value = match previous {
            None => id,
            Some(p) => p - id,
        };
        previous = Some(id);
        let mut v = u64::try_from(value).unwrap_or(0);
        loop {
            let byte = (v & 0x7f) as u8;
            v >>= 7;
            if v == 0 {
                out.push(byte);
                break;
            }
            out.push(byte | 0x80);
        }
    }
    out
}

/// The ids [`encode_newest`] wrote; a damaged tail is dropped, never misread as ids.
fn decode_newest(bytes: &[u8]) -> Vec<i64> {
    let mut out = Vec::with_capacity(bytes.len() / 2);
    let (mut value, mut shift) = (0u64, 0u32);
    for &byte in bytes {
        if shift > 56 {
            break;
        }
        value |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 != 0 {
            shift += 7;
            continue;
        }
        let Ok(v) = i64::try_from(value) else { break };
        let id = match out.last() {
            None => v,
            Some(&last) => last - v,
        };
        out.push(id);
        (value, shift) = (0, 0);
    }
    out
}

/// Schema V17's hook: packs the V16 postings (one row per term and item) into one
/// list per term, newest [`LIST_CAP`] items first, with the term's frequency; adds each
/// item's [`term_hashes`]; and drops the V16 tables. Each term's list is one range read
/// of its postings.
pub fn pack_postings(tx: &rusqlite::Transaction) -> rusqlite_migration::HookResult {
    let terms: Vec<(i64, String, i64)> = {
        let mut stmt = tx.prepare("SELECT scope, term, items FROM term_counts")?;
        stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
            .collect::<rusqlite::Result<_>>()?
    };
    let mut newest = tx.prepare(
        "SELECT item FROM term_postings WHERE scope = ?1 AND term = ?2 ORDER BY item DESC LIMIT ?3",
    )?;
    let mut insert =
        tx.prepare("INSERT INTO term_lists (scope, term, items, newest) VALUES (?1, ?2, ?3, ?4)")?;
    for (scope, term, items) in terms.iter().filter(|t| t.2 > 0) {
        let ids: Vec<i64> = newest
            .query_map(params![scope, term, LIST_CAP as i64], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        insert.execute(params![scope, term, items, encode_newest(&ids)])?;
    }
    drop((newest, insert));
    let items: Vec<(i64, i64, String)> = {
        let mut stmt = tx.prepare("SELECT scope, item, terms FROM term_items_v16")?;
        stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
            .collect::<rusqlite::Result<_>>()?
    };
    let mut insert =
        tx.prepare("INSERT INTO term_items (scope, item, hashes, terms) VALUES (?1, ?2, ?3, ?4)")?;
    for (scope, item, terms) in &items {
        let list: Vec<&str> = terms.split('\n').filter(|t| !t.is_empty()).collect();
        insert.execute(params![
            scope,
            item,
            hashes_to_bytes(&term_hashes(&list)),
            terms
        ])?;
    }
    drop(insert);
    tx.execute_batch(
        "DROP TABLE term_postings; DROP TABLE term_counts; DROP TABLE term_items_v16;",
    )?;
    Ok(())
}

/// Schema V21's hook: moves each term's list from `term_lists_v20` (the V20 table,
/// renamed by the migration's SQL) into the new `term_lists`, under its hash, merging
/// the lists of two terms that share one (their frequencies add up, their newest items
/// are merged), then drops the term strings (`term_lists_v20`, `term_item_terms`). One
/// row in memory at a time.
pub fn key_lists_by_hash(tx: &rusqlite::Transaction) -> rusqlite_migration::HookResult {
    let moved = |scope: i64, term: String, items: i64, newest: Vec<u8>| -> Result<()> {
        let hash = term_hash(&term);
        let mut list = TermList {
            items,
            newest: decode_newest(&newest),
        };
        if let Some(other) = term_list(tx, scope, hash)? {
            list.items += other.items;
            list.newest.extend(other.newest);
            list.newest.sort_unstable_by(|a, b| b.cmp(a));
            list.newest.dedup();
            list.newest.truncate(LIST_CAP);
        }
        set_term_list(tx, scope, hash, &list)
    };
    {
        let mut old = tx.prepare("SELECT scope, term, items, newest FROM term_lists_v20")?;
        let mut rows = old.query([])?;
        while let Some(row) = rows.next()? {
            moved(row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?)
                .map_err(|e| rusqlite_migration::HookError::Hook(format!("{e:#}")))?;
        }
    }
    tx.execute_batch("DROP TABLE term_lists_v20; DROP TABLE term_item_terms;")?;
    Ok(())
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
            "SELECT items FROM term_lists WHERE scope = 1 AND hash = ?1",
            [term_hash(term)],
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
                .replace("?3", "3")
                .replace("?4", "x'01'");
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
        assert_eq!(c.size(), 2);
        assert_eq!(c.shared(&term_hashes(&["toner", "jam", "printer"])), 2);
        assert_eq!(c.shared(&term_hashes(&["jam"])), 0);
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
        assert_eq!(got.len(), CANDIDATES);
        assert_eq!(got[0], 500, "newest first");
        // The list keeps the newest LIST_CAP; the frequency counts them all.
        assert_eq!(count(&conn, "common"), Some(500));
        let list = term_list(&conn, 1, term_hash("common")).unwrap().unwrap();
        assert_eq!(list.newest.len(), LIST_CAP);
        assert_eq!(list.newest[LIST_CAP - 1], 500 - LIST_CAP as i64 + 1);
        // An old item re-indexed below a full list is counted, not listed; a removed
        // listed item leaves the list.
        index(&conn, Scope::Tickets, 7, &["common"]).unwrap();
        assert_eq!(count(&conn, "common"), Some(500));
        remove(&conn, Scope::Tickets, 500).unwrap();
        let list = term_list(&conn, 1, term_hash("common")).unwrap().unwrap();
        assert_eq!((list.items, list.newest[0]), (499, 499));
    }

    #[test]
    fn packed_lists_round_trip_and_a_damaged_tail_is_dropped() {
        for ids in [
            vec![],
            vec![1],
            vec![1_000_000_007, 999_999_000, 5, 4, 1],
            (1..=LIST_CAP as i64).rev().collect::<Vec<_>>(),
        ] {
            assert_eq!(decode_newest(&encode_newest(&ids)), ids);
        }
        let mut bytes = encode_newest(&[300, 2]);
        bytes.push(0x80);
        assert_eq!(decode_newest(&bytes), vec![300, 2]);
        assert_eq!(decode_newest(&[0xff; 12]), Vec::<i64>::new());
        // A full list of a million-ticket desk stays well within one page.
        let wide: Vec<i64> = (0..LIST_CAP as i64)
            .map(|i| 1_000_000 - 7_000 * i)
            .collect();
        assert!(encode_newest(&wide).len() <= 3 * LIST_CAP);
    }
}
