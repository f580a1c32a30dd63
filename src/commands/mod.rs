//! Every verb of the `ticketpost` command line, one module per verb group: its
//! argument handling and what it prints (text for people, `--json` for scripts).
//! [`dispatch`] sends a parsed [`Command`] to its module. The clap definitions live in
//! `cli`; logic that the service or the HTTP side shares stays in its own module
//! (the report's figures in `report`, ingestion in `ingest`, the store in `store`).
//!
//! Mail-derived text reaches the terminal inert whichever verb prints it: `dispatch`
//! hands each verb a standard output wrapped in a [`TerminalSafeWriter`].

pub mod attachments;
pub mod backup;
pub mod change_view;
pub mod check;
pub mod import;
pub mod init;
pub mod knowledge;
pub mod outbox_admin;
pub mod period_report;
pub mod quarantine;
pub mod run;
pub mod sla_listing;
pub mod ticket_list;
pub mod ticket_view;
pub mod triage_review;

use anyhow::{Context, Result, anyhow};

use crate::cli::{Command, TicketsCommand};
use crate::clock::{Clock, SystemClock};
use crate::config::Config;
use crate::terminal::{TerminalSafeWriter, TextLayout};

/// Runs one verb with the loaded config. `init` is not one of them: it writes the
/// config, so it runs before there is one ([`init::run`]).
pub fn dispatch(command: Command, cfg: &Config) -> Result<()> {
    // Text for people is escaped as text, JSON gets JSON escapes for what its encoder
    // leaves raw.
    let layout = if command.prints_json() {
        TextLayout::Json
    } else {
        TextLayout::Lines
    };
    let out = &mut TerminalSafeWriter::new(std::io::stdout(), layout);
    let now = SystemClock.now();
    match command {
        Command::Init(_) => Err(anyhow!("`init` runs before the config is loaded (bug)")),
        Command::Run { once } => run::run(cfg, once),
        Command::Tickets {
            command: TicketsCommand::List(args),
        } => ticket_list::run(cfg, &args, out),
        Command::Tickets {
            command: TicketsCommand::Show { token, json },
        } => ticket_view::tickets_show(cfg, &token, json, now, out),
        Command::Attachments { command } => attachments::run(cfg, command, out),
        Command::Check => check::run(cfg, out),
        Command::Kb { command } => knowledge::run(cfg, command, now, out),
        Command::Quarantine { command } => quarantine::run(cfg, command, out),
        Command::Sla { json } => sla_listing::sla_command(cfg, json, now, out),
        Command::Triage { command } => triage_review::run(cfg, command, now, out),
        Command::Import {
            source,
            acknowledge,
        } => import::run(cfg, source, acknowledge, out),
        Command::Outbox { command } => outbox_admin::run(cfg, command, now, out),
        Command::Backup { file } => backup::run_backup(cfg, &file, out),
        Command::Restore { file } => backup::run_restore(cfg, &file, out),
        Command::Report {
            since,
            until,
            json,
            csv,
        } => period_report::run(cfg, &since, &until, json, csv, out),
    }
}

/// The async runtime of one command that needs one (`run`, `check`, `import`,
/// `quarantine retry`).
fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

/// An id as people write it for a command: `Q-3`, `q-3` or `3` for prefix `Q`.
/// `None` unless it is a positive number.
pub(crate) fn parse_prefixed_id(text: &str, prefix: &str) -> Option<i64> {
    let t = text.trim();
    let digits = [prefix.to_ascii_uppercase(), prefix.to_ascii_lowercase()]
        .iter()
        .find_map(|p| t.strip_prefix(p.as_str())?.strip_prefix('-'))
        .unwrap_or(t);
    digits.parse::<i64>().ok().filter(|id| *id > 0)
}

#[cfg(test)]
mod id_tests {
    use super::parse_prefixed_id;

    #[test]
    fn prefixed_ids_as_people_write_them() {
        assert_eq!(parse_prefixed_id(" Q-3 ", "Q"), Some(3));
        assert_eq!(parse_prefixed_id("kb-12", "KB"), Some(12));
        assert_eq!(parse_prefixed_id("7", "M"), Some(7));
        for bad in ["Q3", "Kb-1", "M-0", "M--2", "X-1", ""] {
            assert_eq!(parse_prefixed_id(bad, "M"), None, "{bad}");
        }
        assert_eq!(parse_prefixed_id("Q3", "Q"), None);
    }
}
