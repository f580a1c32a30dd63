//! The knowledge base and the index of past tickets: storing entries, and finding the
//! entries and tickets that resemble a new request.
//!
//! Both look-ups go through the term index (`store::term_index`): terms are English
//! words and codes, and for Chinese the character bigrams, the usual indexing unit for
//! text without spaces ([`match_term_list`]). The index finds a bounded set of
//! candidates through the request's rarest terms, whatever the size of the history;
//! the score callers compare with a threshold is computed here: the cosine (Ochiai)
//! similarity of two term sets, the request's and the candidate's (an entry's title and
//! problem, a ticket's subject and request). A request that repeats a short entry's
//! problem scores high, one that merely shares a word with a long one scores low. When
//! to search, and what to do with the matches, is left to the desk.

use std::collections::HashSet;

use anyhow::{Result, anyhow};
use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;

use super::term_index::{self, Scope};

/// A knowledge-base entry.
#[derive(Debug, Clone, Serialize)]
pub struct KbEntry {
    pub id: i64,
    /// The ticket the entry was written from, if any (at most one entry per ticket).
    pub ticket_id: Option<i64>,
    pub title: String,
    pub problem: String,
    pub cause: String,
    pub steps: String,
    pub solution: String,
    pub language: String,
    pub author: String,
    pub created_at: i64,
    pub updated_at: i64,
    /// `Lessons:` — what the desk learnt from the case (empty when not written).
    pub lessons: String,
    /// [`DRAFT`] until another agent approves it, then [`APPROVED`]; only approved
    /// entries are offered to requesters.
    pub state: String,
    /// Who approved it (an agent's address; `migration` for entries that were live
    /// before review existed).
    pub approved_by: Option<String>,
    pub approved_at: Option<i64>,
}

/// The state of an entry nobody approved yet (or edited since).
pub const DRAFT: &str = "draft";
/// The state of an entry another agent approved.
pub const APPROVED: &str = "approved";

impl KbEntry {
    /// Whether requesters may be offered the entry.
    pub fn is_approved(&self) -> bool {
        self.state == APPROVED
    }
}

/// An entry to add, or the fields to change in a ticket's entry.
pub struct NewKbEntry<'a> {
    pub ticket_id: Option<i64>,
    pub title: &'a str,
    pub problem: &'a str,
    pub cause: &'a str,
    pub steps: &'a str,
    pub solution: &'a str,
    pub language: &'a str,
    pub author: &'a str,
    pub at: i64,
}

/// An entry that resembles a request.
#[derive(Debug, Clone, Serialize)]
pub struct KbMatch {
    pub entry: KbEntry,
    /// 0..=1: cosine similarity of the request's terms and the entry's title and
    /// problem terms.
    pub score: f64,
}

/// A past ticket that resembles a request.
#[derive(Debug, Clone, Serialize)]
pub struct SimilarTicket {
    pub ticket_id: i64,
    /// 0..=1: cosine similarity of the request's terms and the ticket's indexed
    /// subject and request.
    pub score: f64,
}

/// At most this many terms are taken from a text: what is indexed per item and looked
/// up per request stays small whatever the text looks like.
const MAX_TERMS: usize = 128;

/// Only the start of a text is searched for terms (a request's subject and first
/// paragraphs say what it is about; a pasted log would only add noise).
const MAX_TEXT_CHARS: usize = 4000;

/// A ticket's indexed body is cut here, whatever the caller passes.
const MAX_INDEXED_BODY_CHARS: usize = 2000;

/// A ticket's indexed subject is cut here (characters, not bytes): subjects come from
/// mail, and a subject of thousands of characters only makes the index slow.
const MAX_INDEXED_SUBJECT_CHARS: usize = 500;

/// A word longer than this (characters) is cut to its start as a term: real words and
/// codes are shorter, and a mangled mail's run of one letter stays one small term.
const MAX_TERM_CHARS: usize = 40;

/// Shorter words are not terms (English ones are mostly function words).
const MIN_WORD_CHARS: usize = 3;

const SELECT_ENTRY: &str = "SELECT id, ticket_id, title, problem, cause, steps, solution, language,
        author, created_at, updated_at, lessons, state, approved_by, approved_at
     FROM kb_entries";

fn entry_from_row(r: &rusqlite::Row) -> rusqlite::Result<KbEntry> {
    Ok(KbEntry {
        id: r.get(0)?,
        ticket_id: r.get(1)?,
        title: r.get(2)?,
        problem: r.get(3)?,
        cause: r.get(4)?,
        steps: r.get(5)?,
        solution: r.get(6)?,
        language: r.get(7)?,
        author: r.get(8)?,
        created_at: r.get(9)?,
        updated_at: r.get(10)?,
        lessons: r.get(11)?,
        state: r.get(12)?,
        approved_by: r.get(13)?,
        approved_at: r.get(14)?,
    })
}

/// Adds an entry; returns its id. An entry for a ticket that already has one fails
/// (one entry per ticket): use [`upsert_for_ticket`] for those.
pub fn add(conn: &Connection, e: &NewKbEntry) -> Result<i64> {
    conn.prepare_cached(
        "INSERT INTO kb_entries (ticket_id, title, problem, cause, steps, solution, language,
             author, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?9)",
    )?
    .execute(params![
        e.ticket_id,
        e.title,
        e.problem,
        e.cause,
        e.steps,
        e.solution,
        e.language,
        e.author,
        e.at
    ])?;
    let id = conn.last_insert_rowid();
    index_entry(conn, id)?;
    Ok(id)
}

/// For a ticket: insert, or update the ticket's entry (only the non-empty fields given
/// replace stored ones, so a later summary that lacks, say, the cause keeps the one
/// written before). Returns the entry's id. An edited entry is a draft again: what
/// changed was not reviewed.
pub fn upsert_for_ticket(conn: &Connection, e: &NewKbEntry) -> Result<i64> {
    let ticket = e
        .ticket_id
        .ok_or_else(|| anyhow!("a knowledge-base entry for a ticket needs the ticket"))?;
    // The conflict target repeats the partial index's WHERE, as SQLite requires.
    let id = conn
        .prepare_cached(
            "INSERT INTO kb_entries (ticket_id, title, problem, cause, steps, solution, language,
                 author, created_at, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?9)
             ON CONFLICT (ticket_id) WHERE ticket_id IS NOT NULL DO UPDATE SET
                 title = iif(excluded.title <> '', excluded.title, title),
                 problem = iif(excluded.problem <> '', excluded.problem, problem),
                 cause = iif(excluded.cause <> '', excluded.cause, cause),
                 steps = iif(excluded.steps <> '', excluded.steps, steps),
                 solution = iif(excluded.solution <> '', excluded.solution, solution),
                 language = iif(excluded.language <> '', excluded.language, language),
                 author = iif(excluded.author <> '', excluded.author, author),
                 updated_at = max(updated_at, excluded.updated_at),
                 state = 'draft', approved_by = NULL, approved_at = NULL
             RETURNING id",
        )?
        .query_row(
            params![
                ticket, e.title, e.problem, e.cause, e.steps, e.solution, e.language, e.author,
                e.at
            ],
            |r| r.get(0),
        )?;
    index_entry(conn, id)?;
    Ok(id)
}

/// Sets an entry's `Lessons:` section (the entry stays in the state it is in: the
/// caller wrote it in the same edit).
pub fn set_lessons(conn: &Connection, id: i64, lessons: &str) -> Result<()> {
    conn.prepare_cached("UPDATE kb_entries SET lessons = ?2 WHERE id = ?1")?
        .execute(params![id, lessons])?;
    Ok(())
}

const APPROVE: &str = "UPDATE kb_entries SET state = 'approved', approved_by = ?2, approved_at = ?3
     WHERE id = ?1 AND lower(author) <> lower(?2)";

/// Marks entry `id` approved by `by` at `at`. Its author cannot approve it: returns
/// false then (and when there is no such entry); the callers refuse that earlier, with
/// the reason.
pub fn approve(conn: &Connection, id: i64, by: &str, at: i64) -> Result<bool> {
    Ok(conn.prepare_cached(APPROVE)?.execute(params![id, by, at])? > 0)
}

pub fn get(conn: &Connection, id: i64) -> Result<Option<KbEntry>> {
    Ok(conn
        .prepare_cached(&format!("{SELECT_ENTRY} WHERE id = ?1"))?
        .query_row([id], entry_from_row)
        .optional()?)
}

/// All entries, newest first.
pub fn list(conn: &Connection) -> Result<Vec<KbEntry>> {
    let mut stmt = conn.prepare_cached(&format!("{SELECT_ENTRY} ORDER BY id DESC"))?;
    let rows = stmt
        .query_map([], entry_from_row)?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(rows)
}

/// A text's terms as both look-ups compare them ([`match_term_list`] and their hashes):
/// taken once for a new request, which is looked up twice ([`search_for`],
/// [`similar_tickets_for`]).
pub struct Query {
    terms: Vec<String>,
    hashes: Vec<u32>,
}

impl Query {
    pub fn new(text: &str) -> Query {
        let terms = match_term_list(text);
        let hashes = term_index::term_hashes(&terms);
        Query { terms, hashes }
    }
}

/// Entries that match free text (a request's subject + body) at or above `threshold`,
/// best first, at most `limit`. An entry that shares no term with the text is never a
/// match, even with threshold 0.
pub fn search(conn: &Connection, text: &str, threshold: f64, limit: usize) -> Result<Vec<KbMatch>> {
    search_for(conn, &Query::new(text), threshold, limit)
}

/// [`search`] for a text whose terms are taken already.
pub fn search_for(
    conn: &Connection,
    query: &Query,
    threshold: f64,
    limit: usize,
) -> Result<Vec<KbMatch>> {
    if limit == 0 || !has_entries(conn)? {
        return Ok(Vec::new());
    }
    let best = best_matches(conn, Scope::KbEntries, query, 0, threshold, limit)?;
    let mut matches = Vec::with_capacity(best.len());
    for (id, score) in best {
        if let Some(entry) = get(conn, id)? {
            matches.push(KbMatch { entry, score });
        }
    }
    Ok(matches)
}

/// Whether any entry is indexed: a desk without a knowledge base pays one lookup.
fn has_entries(conn: &Connection) -> Result<bool> {
    Ok(conn
        .prepare_cached("SELECT EXISTS (SELECT 1 FROM term_items WHERE scope = ?1)")?
        .query_row([Scope::KbEntries as i64], |r| r.get(0))?)
}

/// The items of `scope` closest to `query` at or above `threshold`: (id, score), best
/// first (newest first between equal scores), at most `limit`. The candidates come from
/// the term index's bounded look-up ([`term_index::candidates`]).
fn best_matches(
    conn: &Connection,
    scope: Scope,
    query: &Query,
    exclude: i64,
    threshold: f64,
    limit: usize,
) -> Result<Vec<(i64, f64)>> {
    let request = &query.hashes;
    let mut scored: Vec<(i64, f64)> = term_index::candidates(conn, scope, &query.terms, exclude)?
        .iter()
        .map(|c| (c.item, cosine(c.shared(request), request.len(), c.size())))
        .filter(|&(_, score)| score > 0.0 && score >= threshold)
        .collect();
    scored.sort_by(|a, b| b.1.total_cmp(&a.1).then(b.0.cmp(&a.0)));
    scored.truncate(limit);
    Ok(scored)
}

/// Cosine similarity of a request's term set and a candidate's (distinct terms, as
/// the index keeps them): shared terms over the geometric mean of the sizes; 0 when
/// either is empty.
fn cosine(shared: usize, request: usize, candidate: usize) -> f64 {
    if request == 0 || candidate == 0 {
        return 0.0;
    }
    shared as f64 / ((request * candidate) as f64).sqrt()
}

/// Queues a new ticket for the similar-tickets index; [`index_queued`] indexes it.
/// Cheap (one plain row), so it runs inside the ingest transaction.
pub fn queue_for_index(conn: &Connection, ticket_id: i64, subject: &str, body: &str) -> Result<()> {
    let subject = first_chars(subject, MAX_INDEXED_SUBJECT_CHARS);
    let body = first_chars(body, MAX_INDEXED_BODY_CHARS);
    conn.prepare_cached(
        "INSERT OR IGNORE INTO ticket_index_queue (ticket_id, subject, body) VALUES (?1, ?2, ?3)",
    )?
    .execute(params![ticket_id, subject, body])?;
    Ok(())
}

/// Moves up to `max` queued tickets, oldest first, into the similar-tickets index in
/// one transaction, and up to `max` queued knowledge-base entries (those written before
/// the term index, queued by its migration). Returns how many it indexed (0: the index
/// is up to date).
pub fn index_queued(conn: &mut Connection, max: usize) -> Result<usize> {
    let tx = conn.transaction()?;
    let rows: Vec<(i64, String, String)> = {
        let mut stmt = tx.prepare_cached(
            "SELECT ticket_id, subject, body FROM ticket_index_queue ORDER BY ticket_id LIMIT ?1",
        )?;
        stmt.query_map([max as i64], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
            .collect::<rusqlite::Result<_>>()?
    };
    for (ticket, subject, body) in &rows {
        index_ticket(&tx, *ticket, subject, body)?;
    }
    if let Some((last, _, _)) = rows.last() {
        tx.prepare_cached("DELETE FROM ticket_index_queue WHERE ticket_id <= ?1")?
            .execute([last])?;
    }
    let entries: Vec<i64> = tx
        .prepare_cached("SELECT entry_id FROM kb_index_queue ORDER BY entry_id LIMIT ?1")?
        .query_map([max as i64], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    for id in &entries {
        index_entry(&tx, *id)?;
    }
    if let Some(last) = entries.last() {
        tx.prepare_cached("DELETE FROM kb_index_queue WHERE entry_id <= ?1")?
            .execute([last])?;
    }
    tx.commit()?;
    Ok(rows.len() + entries.len())
}

/// Indexes a ticket for [`similar_tickets`] (again: its terms are replaced). `body`: the
/// caller passes the start of the request; longer text is cut.
pub fn index_ticket(conn: &Connection, ticket_id: i64, subject: &str, body: &str) -> Result<()> {
    let subject = first_chars(subject, MAX_INDEXED_SUBJECT_CHARS);
    let body = first_chars(body, MAX_INDEXED_BODY_CHARS);
    let terms = match_term_list(&format!("{subject}\n{body}"));
    term_index::index(conn, Scope::Tickets, ticket_id, &terms)
}

/// Indexes entry `id` by its title and problem, the text a request is compared with
/// (an entry that does not exist is taken out of the index).
fn index_entry(conn: &Connection, id: i64) -> Result<()> {
    let Some(entry) = get(conn, id)? else {
        return term_index::remove(conn, Scope::KbEntries, id);
    };
    let terms = match_term_list(&format!("{}\n{}", entry.title, entry.problem));
    term_index::index(conn, Scope::KbEntries, id, &terms)
}

/// The first `n` characters of `text` (cut at a character boundary, never inside one).
fn first_chars(text: &str, n: usize) -> &str {
    match text.char_indices().nth(n) {
        Some((cut, _)) => &text[..cut],
        None => text,
    }
}

/// Past tickets whose indexed text matches free text at or above `threshold`, best
/// first, at most `limit`, never `exclude` (the ticket the text comes from).
pub fn similar_tickets(
    conn: &Connection,
    text: &str,
    exclude: i64,
    threshold: f64,
    limit: usize,
) -> Result<Vec<SimilarTicket>> {
    similar_tickets_for(conn, &Query::new(text), exclude, threshold, limit)
}

/// [`similar_tickets`] for a text whose terms are taken already.
pub fn similar_tickets_for(
    conn: &Connection,
    query: &Query,
    exclude: i64,
    threshold: f64,
    limit: usize,
) -> Result<Vec<SimilarTicket>> {
    if limit == 0 {
        return Ok(Vec::new());
    }
    Ok(
        best_matches(conn, Scope::Tickets, query, exclude, threshold, limit)?
            .into_iter()
            .map(|(ticket_id, score)| SimilarTicket { ticket_id, score })
            .collect(),
    )
}

/// The terms a text is indexed and compared by, in order of first appearance, without
/// repeats, at most [`MAX_TERMS`], from the first [`MAX_TEXT_CHARS`] characters:
/// - words of letters (Latin and other alphabets), 3+ letters, lower-cased, minus a
///   small list of English stop words and mail pleasantries;
/// - numbers, versions and codes containing a digit (`809`, `10.2.1`, `0x80070005`,
///   `win11`), 3+ characters, lower-cased;
/// - a word or code longer than [`MAX_TERM_CHARS`] is cut to its first characters;
/// - for each run of Chinese (Han) characters, its character bigrams (the usual
///   indexing unit for text without spaces: most Chinese words have two characters),
///   minus Chinese pleasantries and function words. Single characters are dropped.
pub fn match_term_list(text: &str) -> Vec<String> {
    let mut terms = Terms::default();
    scan_text(text, |run| {
        match run {
            TextRun::Han(run) => {
                for pair in run.windows(2) {
                    let bigram: String = pair.iter().collect();
                    if !CHINESE_STOP_BIGRAMS.contains(&bigram.as_str()) {
                        terms.add(bigram);
                    }
                }
            }
            TextRun::Word(word) => terms.add(word),
        }
        !terms.full()
    });
    terms.list
}

/// [`match_term_list`] as a set: what two texts are compared by (see the module header).
pub fn match_terms(text: &str) -> HashSet<String> {
    match_term_list(text).into_iter().collect()
}

/// What [`scan_text`] finds: a run of Chinese characters, or a word that can be a term.
enum TextRun<'a> {
    Han(&'a [char]),
    /// Lower-cased, 3+ characters, and a code (has a digit) or not a stop word.
    Word(String),
}

/// Walks the first [`MAX_TEXT_CHARS`] characters of `text`, handing each run to `f`
/// until it returns false (its term list is full).
fn scan_text(text: &str, mut f: impl FnMut(TextRun<'_>) -> bool) {
    let chars: Vec<char> = text.chars().take(MAX_TEXT_CHARS).collect();
    let mut i = 0;
    while i < chars.len() {
        let start = i;
        let run = if is_han(chars[i]) {
            while i < chars.len() && is_han(chars[i]) {
                i += 1;
            }
            TextRun::Han(&chars[start..i])
        } else if chars[i].is_alphanumeric() {
            while i < chars.len() && (is_word_char(chars[i]) || is_inner_dot(&chars, i)) {
                i += 1;
            }
            // A word over MAX_TERM_CHARS is cut to its start (lower-casing can change
            // the length, so cut after it).
            let mut word: String = chars[start..i].iter().collect::<String>().to_lowercase();
            let cut = first_chars(&word, MAX_TERM_CHARS).len();
            word.truncate(cut);
            let long_enough = word.chars().count() >= MIN_WORD_CHARS;
            let has_digit = word.chars().any(|c| c.is_numeric());
            if !(long_enough && (has_digit || !STOP_WORDS.contains(&word.as_str()))) {
                continue;
            }
            TextRun::Word(word)
        } else {
            i += 1;
            continue;
        };
        if !f(run) {
            return;
        }
    }
}

/// Chinese bigrams that say nothing about what a request is about: greetings, thanks,
/// requests for help, pronouns.
const CHINESE_STOP_BIGRAMS: &[&str] = &[
    "你好", "您好", "大家", "谢谢", "感谢", "麻烦", "请问", "帮忙", "帮我", "一下", "我的", "我们",
    "你们", "您的", "他们", "这个", "那个", "一个", "现在", "今天", "已经", "可以", "没有", "是否",
    "问题", "请帮",
];

/// Distinct terms in order, bounded.
#[derive(Default)]
struct Terms {
    list: Vec<String>,
    seen: HashSet<String>,
}

impl Terms {
    fn add(&mut self, term: String) {
        if !self.full() && self.seen.insert(term.clone()) {
            self.list.push(term);
        }
    }

    fn full(&self) -> bool {
        self.list.len() >= MAX_TERMS
    }
}

fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() && !is_han(c)
}

/// A dot between two digits belongs to a version or decimal number (`10.2.1`).
fn is_inner_dot(chars: &[char], i: usize) -> bool {
    chars[i] == '.'
        && i > 0
        && chars[i - 1].is_ascii_digit()
        && chars.get(i + 1).is_some_and(|c| c.is_ascii_digit())
}

/// Chinese characters (CJK unified and compatibility ideographs).
fn is_han(c: char) -> bool {
    matches!(c,
        '\u{3400}'..='\u{4DBF}'
        | '\u{4E00}'..='\u{9FFF}'
        | '\u{F900}'..='\u{FAFF}'
        | '\u{20000}'..='\u{2FA1F}'
        | '\u{30000}'..='\u{323AF}')
}

/// English words too common to say what a request is about (3+ letters only: shorter
/// words are never terms), and the pleasantries of a mail.
const STOP_WORDS: &[&str] = &[
    "about", "above", "after", "again", "all", "also", "and", "any", "are", "because", "been",
    "before", "being", "below", "best", "both", "but", "can", "cannot", "could", "dear", "did",
    "does", "doing", "done", "each", "few", "for", "from", "get", "got", "had", "has", "have",
    "having", "hello", "her", "here", "him", "his", "how", "into", "its", "just", "kind", "more",
    "most", "our", "ours", "off", "once", "only", "other", "out", "over", "own", "please",
    "regards", "same", "she", "should", "some", "such", "than", "thank", "thanks", "that", "the",
    "their", "them", "then", "there", "these", "they", "this", "those", "too", "under", "until",
    "very", "was", "were", "what", "when", "where", "which", "while", "who", "whom", "why", "will",
    "with", "would", "yes", "yet", "you", "your", "yours",
];

#[cfg(test)]
mod tests {
    use super::*;

    fn db() -> Connection {
        crate::store::migrated_in_memory()
    }

    /// A bare ticket row (only what the foreign keys need).
    fn ticket(conn: &Connection, subject: &str) -> i64 {
        conn.execute(
            "INSERT INTO tickets (status, priority, requester, subject, created_at, updated_at)
             VALUES ('open', 'P3', 'a@x.test', ?1, 1, 1)",
            [subject],
        )
        .unwrap();
        conn.last_insert_rowid()
    }

    fn entry<'a>(title: &'a str, problem: &'a str, solution: &'a str) -> NewKbEntry<'a> {
        NewKbEntry {
            ticket_id: None,
            title,
            problem,
            cause: "",
            steps: "",
            solution,
            language: "en",
            author: "ann@x.test",
            at: 100,
        }
    }

    /// A small knowledge base in English and Chinese; returns the ids.
    fn sample(conn: &Connection) -> (i64, i64, i64) {
        let printer = add(
            conn,
            &NewKbEntry {
                cause: "The toner cartridge is empty or its seal was not removed.",
                ..entry(
                    "Printer prints blank pages",
                    "The office printer feeds paper but the pages come out blank.",
                    "Replace the toner cartridge; pull the seal tab before inserting it.",
                )
            },
        )
        .unwrap();
        let vpn_zh = add(
            conn,
            &NewKbEntry {
                language: "zh",
                ..entry(
                    "VPN 报错 809 无法连接",
                    "用户在家里连接公司 VPN 时提示错误 809，无法建立连接。",
                    "在路由器上开启 IPsec 直通，或改用 SSL VPN 客户端。",
                )
            },
        )
        .unwrap();
        let password = add(
            conn,
            &entry(
                "Reset a forgotten password",
                "The user cannot log in to the portal after too many attempts.",
                "Unlock the account in the directory and send a reset link.",
            ),
        )
        .unwrap();
        (printer, vpn_zh, password)
    }

    #[test]
    fn terms_of_english_text() {
        let t = match_term_list(
            "Hello, the VPN gives error 809 on Windows 10.2.1 (win11), please help!",
        );
        assert_eq!(
            t,
            [
                "vpn", "gives", "error", "809", "windows", "10.2.1", "win11", "help"
            ]
        );
    }

    #[test]
    fn terms_of_chinese_text() {
        let t = match_term_list("VPN 连接不上，提示错误 809，报错，谢谢");
        assert_eq!(
            t,
            [
                "vpn", "连接", "接不", "不上", "提示", "示错", "错误", "809", "报错"
            ]
        );
        // Single characters are no terms; terms are deduplicated and bounded.
        assert!(match_term_list("好 的").is_empty());
        assert_eq!(match_term_list("错误错误错误"), ["错误", "误错"]);
        let long: String = (0..500).map(|i| format!("word{i} ")).collect();
        assert_eq!(match_term_list(&long).len(), MAX_TERMS);
    }

    #[test]
    fn english_request_finds_its_entry() {
        let conn = db();
        let (printer, _, _) = sample(&conn);
        let found = search(&conn, "Printer on floor 3 prints only blank pages", 0.3, 5).unwrap();
        assert_eq!(found[0].entry.id, printer, "{found:?}");
        assert!(found[0].score >= 0.5, "{found:?}");
        assert!(found[0].score <= 1.0);
    }

    #[test]
    fn chinese_request_finds_its_entry() {
        let conn = db();
        let (_, vpn_zh, _) = sample(&conn);
        let found = search(&conn, "VPN 连接不上，提示错误 809", 0.3, 5).unwrap();
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].entry.id, vpn_zh);
        // A request that shares only a two-character word is found through instr.
        // One shared word of a long problem is a weak match.
        let found = search(&conn, "报错", 0.0, 5).unwrap();
        assert_eq!(found[0].entry.id, vpn_zh, "{found:?}");
        assert!(found[0].score > 0.0 && found[0].score < 0.3, "{found:?}");
    }

    #[test]
    fn unrelated_requests_find_nothing_above_the_threshold() {
        let conn = db();
        sample(&conn);
        for text in [
            "Can I order a new office chair? Mine is broken.",
            "会议室的投影仪不亮了",
            "",
            "!!! ??? …",
        ] {
            let found = search(&conn, text, 0.3, 5).unwrap();
            assert!(found.is_empty(), "{text}: {found:?}");
        }
    }

    #[test]
    fn score_is_the_cosine_of_request_and_problem_terms() {
        let conn = db();
        let short = add(&conn, &entry("Scanner jams", "It jams.", "Clean it.")).unwrap();
        let long = add(
            &conn,
            &entry(
                "Device trouble",
                "The scanner jams on thick paper and beeps twice.",
                "Clean it.",
            ),
        )
        .unwrap();
        let found = search(&conn, "scanner jams", 0.0, 5).unwrap();
        assert_eq!(found.len(), 2);
        // {scanner, jams} against {scanner, jams}: identical.
        assert_eq!((found[0].entry.id, found[0].score), (short, 1.0));
        // Against {device, trouble, scanner, jams, thick, paper, beeps, twice}.
        assert_eq!(found[1].entry.id, long);
        assert!((found[1].score - 2.0 / (2.0_f64 * 8.0).sqrt()).abs() < 1e-9);
        // Words only in the solution do not make a match.
        assert!(search(&conn, "clean", 0.0, 5).unwrap().is_empty());
    }

    #[test]
    fn chinese_is_compared_by_bigrams_without_pleasantries() {
        let t = match_terms("你好，VPN 连不上了，谢谢");
        let mut t: Vec<&str> = t.iter().map(String::as_str).collect();
        t.sort_unstable();
        assert_eq!(t, ["vpn", "上了", "不上", "连不"]);
    }

    #[test]
    fn upsert_for_ticket_inserts_then_updates_non_empty_fields() {
        let conn = db();
        let t = ticket(&conn, "VPN broken");
        let first = NewKbEntry {
            ticket_id: Some(t),
            cause: "Router blocks IPsec.",
            ..entry(
                "VPN error 809",
                "VPN cannot connect.",
                "Enable IPsec passthrough.",
            )
        };
        let id = upsert_for_ticket(&conn, &first).unwrap();
        let again = NewKbEntry {
            ticket_id: Some(t),
            title: "",
            problem: "",
            cause: "",
            steps: "1. Open the router page.",
            solution: "Enable IPsec passthrough, or use the SSL VPN client.",
            language: "",
            author: "bob@x.test",
            at: 200,
        };
        assert_eq!(upsert_for_ticket(&conn, &again).unwrap(), id);
        let e = get(&conn, id).unwrap().unwrap();
        assert_eq!(e.ticket_id, Some(t));
        assert_eq!(e.title, "VPN error 809");
        assert_eq!(e.cause, "Router blocks IPsec.");
        assert_eq!(e.steps, "1. Open the router page.");
        assert_eq!(
            e.solution,
            "Enable IPsec passthrough, or use the SSL VPN client."
        );
        assert_eq!(
            (e.language.as_str(), e.author.as_str()),
            ("en", "bob@x.test")
        );
        assert_eq!((e.created_at, e.updated_at), (100, 200));
        assert_eq!(list(&conn).unwrap().len(), 1);
        // The term index follows an update of the problem.
        let problem = NewKbEntry {
            problem: "Tunnel drops after handshake.",
            ..again
        };
        upsert_for_ticket(&conn, &problem).unwrap();
        let found = search(&conn, "tunnel handshake", 0.0, 5).unwrap();
        assert_eq!(found[0].entry.id, id);
        assert!(search(&conn, "cannot connect", 0.0, 5).unwrap().is_empty());
        // One entry per ticket; an entry without a ticket cannot be upserted.
        assert!(add(&conn, &first).is_err());
        assert!(upsert_for_ticket(&conn, &entry("a", "b", "c")).is_err());
    }

    #[test]
    fn list_and_get() {
        let conn = db();
        let (printer, vpn_zh, password) = sample(&conn);
        let ids: Vec<i64> = list(&conn).unwrap().iter().map(|e| e.id).collect();
        assert_eq!(ids, [password, vpn_zh, printer]);
        assert_eq!(get(&conn, vpn_zh).unwrap().unwrap().language, "zh");
        assert!(get(&conn, 999).unwrap().is_none());
    }

    #[test]
    fn fts_syntax_in_requests_is_harmless() {
        let conn = db();
        let (printer, _, _) = sample(&conn);
        let t = ticket(&conn, "printer");
        index_ticket(&conn, t, "printer blank", "blank pages").unwrap();
        for text in [
            r#"foo" OR kb_fts MATCH "x"#,
            "NEAR(",
            "NEAR(printer blank, 2)",
            "title: printer",
            "{title problem}: printer*",
            "printer AND NOT blank OR ^blank",
            "\"\"\"",
            "'; DROP TABLE kb_entries; --",
        ] {
            search(&conn, text, 0.0, 5).unwrap();
            similar_tickets(&conn, text, 0, 0.0, 5).unwrap();
        }
        assert_eq!(
            search(&conn, "printer", 0.0, 5).unwrap()[0].entry.id,
            printer
        );
    }

    #[test]
    fn similar_tickets_ranks_and_excludes_the_ticket_itself() {
        let conn = db();
        let vpn = ticket(&conn, "VPN error 809");
        let vpn_zh = ticket(&conn, "VPN 连接不上");
        let printer = ticket(&conn, "Printer");
        let new = ticket(&conn, "VPN again");
        index_ticket(&conn, vpn, "VPN error 809", "Cannot connect from home.").unwrap();
        index_ticket(&conn, vpn_zh, "VPN 连接不上", "提示错误 809，无法连接。").unwrap();
        index_ticket(&conn, printer, "Printer prints blank pages", "Floor 3.").unwrap();
        index_ticket(&conn, new, "VPN error 809 again", "Cannot connect.").unwrap();

        let text = "VPN error 809 again\nCannot connect.";
        let found = similar_tickets(&conn, text, new, 0.0, 10).unwrap();
        let ids: Vec<i64> = found.iter().map(|s| s.ticket_id).collect();
        assert_eq!(ids, [vpn, vpn_zh], "{found:?}");
        assert!(found[0].score > found[1].score);
        assert!(found[0].score <= 1.0);
        // Without the exclusion the ticket finds itself first ("connect" is in its body).
        let found = similar_tickets(&conn, text, 0, 0.0, 10).unwrap();
        assert_eq!(found[0].ticket_id, new);
        assert_eq!(found[0].score, 1.0);

        let found = similar_tickets(&conn, "VPN 连接不上，提示错误 809", 0, 0.5, 10).unwrap();
        assert_eq!(found[0].ticket_id, vpn_zh, "{found:?}");
        assert!(
            similar_tickets(&conn, "office chair broken", 0, 0.3, 10)
                .unwrap()
                .is_empty()
        );

        // Indexing a ticket again replaces its terms.
        index_ticket(&conn, printer, "Toner empty", "").unwrap();
        assert!(
            similar_tickets(&conn, "printer blank pages", 0, 0.0, 10)
                .unwrap()
                .is_empty()
        );
        assert_eq!(
            similar_tickets(&conn, "toner empty", 0, 0.0, 10).unwrap()[0].ticket_id,
            printer
        );
    }

    #[test]
    fn queued_tickets_are_found_once_indexed_in_chunks() {
        let mut conn = db();
        let ids: Vec<i64> = (0..5)
            .map(|i| ticket(&conn, &format!("VPN error 80{i}")))
            .collect();
        for (i, id) in ids.iter().enumerate() {
            queue_for_index(&conn, *id, &format!("VPN error 80{i}"), "Cannot connect.").unwrap();
        }
        // Queued twice (a retried batch) is still one entry.
        queue_for_index(&conn, ids[0], "VPN error 800", "Cannot connect.").unwrap();
        assert!(
            similar_tickets(&conn, "VPN error cannot connect", 0, 0.0, 10)
                .unwrap()
                .is_empty(),
            "queued, not yet searchable"
        );
        assert_eq!(index_queued(&mut conn, 3).unwrap(), 3);
        assert_eq!(index_queued(&mut conn, 3).unwrap(), 2);
        assert_eq!(index_queued(&mut conn, 3).unwrap(), 0);
        let found = similar_tickets(&conn, "VPN error cannot connect", 0, 0.0, 10).unwrap();
        let mut found: Vec<i64> = found.iter().map(|s| s.ticket_id).collect();
        found.sort();
        assert_eq!(found, ids);
        let left: i64 = conn
            .query_row("SELECT count(*) FROM ticket_index_queue", [], |r| r.get(0))
            .unwrap();
        assert_eq!(left, 0);
    }

    /// A subject that is one letter repeated (a mangled or hostile mail) is one small
    /// term: words are cut at [`MAX_TERM_CHARS`], and only the first
    /// [`MAX_TEXT_CHARS`] characters of a text are read.
    #[test]
    fn a_long_run_of_one_letter_is_one_short_term() {
        let conn = db();
        let run = "a".repeat(20_000);
        let subject = format!("é{run}");
        let t = ticket(&conn, "long");
        index_ticket(&conn, t, &subject, &run).unwrap();
        let terms = match_term_list(&subject);
        assert_eq!(terms.len(), 1);
        assert_eq!(terms[0].chars().count(), MAX_TERM_CHARS);
        let other = ticket(&conn, "new");
        let found = similar_tickets(&conn, &subject, other, 0.0, 5).unwrap();
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].ticket_id, t);
        add(&conn, &entry(&subject, &run, "Type less.")).unwrap();
        assert_eq!(search(&conn, &subject, 0.0, 5).unwrap().len(), 1);
        // Multi-byte characters are cut whole.
        let word = "ü".repeat(3 * MAX_TERM_CHARS);
        assert_eq!(match_term_list(&word), ["ü".repeat(MAX_TERM_CHARS)]);
    }

    /// Timing-free scale check: however many items share the request's terms, the
    /// candidates read are bounded by the term index, and the results by `limit`.
    #[test]
    fn searches_read_bounded_candidates() {
        let conn = db();
        let many = 3 * term_index::CANDIDATES;
        for i in 0..many {
            let t = ticket(&conn, "printer");
            index_ticket(&conn, t, &format!("printer jam {i}"), "paper stuck").unwrap();
            add(
                &conn,
                &entry(&format!("Printer jam {i}"), "Paper stuck.", "Open tray."),
            )
            .unwrap();
            add(&conn, &entry(&format!("报错 {i}"), "报错", "重启")).unwrap();
        }
        let terms = match_term_list("printer jam paper");
        for scope in [Scope::Tickets, Scope::KbEntries] {
            let found = term_index::candidates(&conn, scope, &terms, 0).unwrap();
            assert!(found.len() <= 2 * term_index::CANDIDATES, "{}", found.len());
            assert!(!found.is_empty());
        }
        assert_eq!(search(&conn, "printer jam paper", 0.0, 7).unwrap().len(), 7);
        assert_eq!(
            similar_tickets(&conn, "printer jam", 0, 0.0, 7)
                .unwrap()
                .len(),
            7
        );
        // Two-character Chinese words are terms like any other.
        let found = search(&conn, "报错", 0.0, 5).unwrap();
        assert_eq!(found.len(), 5);
        assert!(found.iter().all(|m| m.entry.title.starts_with("报错")));
    }

    #[test]
    fn entries_are_drafts_until_another_agent_approves_and_edits_make_them_drafts_again() {
        let conn = db();
        let t = ticket(&conn, "Printer");
        let written = NewKbEntry {
            ticket_id: Some(t),
            ..entry("Printer blank", "Blank pages.", "New toner.")
        };
        let id = upsert_for_ticket(&conn, &written).unwrap();
        let e = get(&conn, id).unwrap().unwrap();
        assert_eq!((e.state.as_str(), e.approved_by.as_deref()), (DRAFT, None));
        assert!(!e.is_approved());
        // Its author (any case) cannot approve it.
        assert!(!approve(&conn, id, "ANN@x.test", 150).unwrap());
        assert_eq!(get(&conn, id).unwrap().unwrap().state, DRAFT);
        assert!(approve(&conn, id, "bob@x.test", 160).unwrap());
        let e = get(&conn, id).unwrap().unwrap();
        assert!(e.is_approved());
        assert_eq!(
            (e.approved_by.as_deref(), e.approved_at),
            (Some("bob@x.test"), Some(160))
        );
        set_lessons(&conn, id, "Keep toner in stock.").unwrap();
        assert_eq!(
            get(&conn, id).unwrap().unwrap().lessons,
            "Keep toner in stock."
        );
        // An edit is a draft again, and its editor is the one who cannot approve it.
        let edit = NewKbEntry {
            ticket_id: Some(t),
            author: "bob@x.test",
            ..entry("", "", "New toner; pull the seal.")
        };
        upsert_for_ticket(&conn, &edit).unwrap();
        let e = get(&conn, id).unwrap().unwrap();
        assert_eq!((e.state.as_str(), e.approved_by.as_deref()), (DRAFT, None));
        assert!(!approve(&conn, id, "bob@x.test", 170).unwrap());
        assert!(approve(&conn, id, "ann@x.test", 170).unwrap());
        assert!(!approve(&conn, 999, "ann@x.test", 170).unwrap());
    }

    #[test]
    fn an_approval_finds_its_entry_by_primary_key() {
        let conn = db();
        let sql = APPROVE
            .replace("?1", "1")
            .replace("?2", "'a@x.test'")
            .replace("?3", "5");
        let plan = crate::store::query_plan(&conn, &sql);
        assert!(
            plan.contains("USING INTEGER PRIMARY KEY (rowid=?)"),
            "{plan}"
        );
    }
}
