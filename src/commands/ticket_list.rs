//! `ticketpost tickets list`: one page of tickets, newest first, for people (aligned
//! text ending with the command for the next page) or scripts (`--json`, the array of
//! `tickets show`'s ticket fields it always was; the next page starts `--before` the
//! last token). Which rows make the page is `store::ticket_pages`'s; how a ticket's
//! fields are shown is `ticket_view`'s.

use std::io::Write;

use anyhow::{Result, anyhow};

use super::ticket_view::{Relations, one_line, shorten, ticket_json};
use crate::cli::TicketListArgs;
use crate::clock::format_time;
use crate::config::Config;
use crate::desk::Status;
use crate::desk::threading::{parse_token, token};
use crate::store::{self, ticket_pages::PageQuery, ticket_pages::TicketPage};

/// The page the flags ask for; an error names the flag.
fn page_query(prefix: &str, args: &TicketListArgs) -> Result<PageQuery> {
    let status = match &args.status {
        Some(s) => Some(
            s.parse::<Status>()
                .map_err(|e| anyhow!("--status: {e}"))?
                .as_str()
                .to_string(),
        ),
        None => None,
    };
    let since = match &args.since {
        Some(text) => Some(crate::report::parse_start("--since", text)?),
        None => None,
    };
    let before = match &args.before {
        Some(text) => Some(parse_token(text, prefix).ok_or_else(|| {
            anyhow!("--before {text:?} is not a ticket token (expected e.g. {prefix}-42)")
        })?),
        None => None,
    };
    Ok(PageQuery {
        status,
        since,
        before,
        limit: usize::from(args.limit),
    })
}

/// Every query the command runs: the page, and each ticket's merges and links.
fn read_page(
    conn: &rusqlite::Connection,
    query: &PageQuery,
) -> Result<(TicketPage, Vec<Relations>)> {
    let page = store::ticket_pages::page(conn, query)?;
    let relations = page
        .tickets
        .iter()
        .map(|t| Relations::of(conn, t.id))
        .collect::<Result<Vec<_>>>()?;
    Ok((page, relations))
}

/// `tickets list`: one page of tickets, newest first.
pub fn run(cfg: &Config, args: &TicketListArgs, out: &mut impl Write) -> Result<()> {
    let prefix = &cfg.desk.token_prefix;
    let query = page_query(prefix, args)?;
    let conn = store::open_reader(&cfg.store.path)?;
    let (page, relations) = read_page(&conn, &query)?;
    if args.json {
        let rows: Vec<_> = page
            .tickets
            .iter()
            .zip(&relations)
            .map(|(t, rel)| ticket_json(prefix, t, rel))
            .collect();
        serde_json::to_writer_pretty(&mut *out, &rows)?;
        writeln!(out)?;
        return Ok(());
    }
    if page.tickets.is_empty() {
        let filtered = args.status.is_some() || args.since.is_some() || args.before.is_some();
        writeln!(
            out,
            "{}",
            if filtered {
                "No tickets match."
            } else {
                "No tickets yet."
            }
        )?;
        return Ok(());
    }
    writeln!(
        out,
        "{:<10} {:<8} {:<4} {:<20} {:>4}  {:<28} SUBJECT",
        "TOKEN", "STATUS", "PRIO", "UPDATED", "MSGS", "REQUESTER"
    )?;
    for (t, rel) in page.tickets.iter().zip(&relations) {
        writeln!(
            out,
            "{:<10} {:<8} {:<4} {:<20} {:>4}  {:<28} {}",
            token(prefix, t.id),
            rel.status(t),
            t.priority,
            format_time(t.updated_at),
            t.message_count,
            shorten(&one_line(&t.requester), 28),
            shorten(&one_line(&t.subject), 60)
        )?;
    }
    if let Some(last) = page.tickets.last().filter(|_| page.more) {
        writeln!(out, "More: {}", next_page(prefix, args, last.id))?;
    }
    Ok(())
}

/// The command for the page after the one that ended with ticket `last`.
fn next_page(prefix: &str, args: &TicketListArgs, last: i64) -> String {
    let mut command = format!("ticketpost tickets list --before {}", token(prefix, last));
    if let Some(status) = &args.status {
        command.push_str(&format!(" --status {}", status.trim().to_ascii_lowercase()));
    }
    if let Some(since) = &args.since {
        command.push_str(&format!(" --since {}", since.trim()));
    }
    if args.limit != 50 {
        command.push_str(&format!(" --limit {}", args.limit));
    }
    command
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(status: Option<&str>, since: Option<&str>, before: Option<&str>) -> TicketListArgs {
        TicketListArgs {
            json: false,
            limit: 20,
            status: status.map(String::from),
            since: since.map(String::from),
            before: before.map(String::from),
        }
    }

    #[test]
    fn flags_are_checked_and_name_themselves() {
        let q = page_query("TP", &args(Some("Open"), Some("2026-03-01"), Some("TP-42"))).unwrap();
        assert_eq!(
            q,
            PageQuery {
                status: Some("open".into()),
                since: Some(1_772_323_200),
                before: Some(42),
                limit: 20
            }
        );
        let err = page_query("TP", &args(Some("merged"), None, None)).unwrap_err();
        assert_eq!(
            err.to_string(),
            "--status: unknown status \"merged\" (use open, waiting, pending, resolved or closed)"
        );
        let err = page_query("TP", &args(None, Some("March"), None)).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("--since \"March\" is not a date"),
            "{err}"
        );
        let err = page_query("TP", &args(None, None, Some("TP-x"))).unwrap_err();
        assert!(err.to_string().starts_with("--before \"TP-x\""), "{err}");
    }

    #[test]
    fn the_next_page_keeps_the_filters() {
        assert_eq!(
            next_page("TP", &args(Some("Open"), Some("2026-03-01"), None), 17),
            "ticketpost tickets list --before TP-17 --status open --since 2026-03-01 --limit 20"
        );
        let mut plain = args(None, None, Some("TP-99"));
        plain.limit = 50;
        assert_eq!(
            next_page("TP", &plain, 3),
            "ticketpost tickets list --before TP-3"
        );
    }

    #[test]
    fn every_query_of_every_kind_of_page_is_an_index_range() {
        use crate::store::plan_audit::{NOW, assert_no_scans, desk_store};
        let conn = desk_store();
        let mut ran_all = Vec::new();
        for (status, since, before) in [
            (None, None, None),
            (Some("open"), None, None),
            (None, Some(NOW - 3 * 86_400), None),
            (Some("closed"), Some(NOW - 3 * 86_400), Some(7)),
        ] {
            let q = PageQuery {
                status: status.map(String::from),
                since,
                before,
                limit: 50,
            };
            let ((page, relations), ran) =
                assert_no_scans("tickets list", &conn, |c| read_page(c, &q).unwrap());
            assert!(!page.tickets.is_empty(), "{q:?}");
            assert_eq!(relations.len(), page.tickets.len());
            ran_all.extend(ran);
        }
        for sql in store::ticket_pages::queries() {
            assert!(ran_all.contains(&sql), "not run: {sql}");
        }
        // Each ticket's merges and links were read too.
        assert!(
            ran_all.iter().any(|s| s.contains("ticket_links")),
            "{ran_all:#?}"
        );
    }
}
