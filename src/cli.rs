//! Command-line definitions (clap). What each command does lives in `commands`.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "ticketpost",
    version,
    about = "Turns a support mailbox into a ticket desk."
)]
pub struct Cli {
    /// The configuration file.
    #[arg(long, short, global = true, default_value = "config/ticketpost.toml")]
    pub config: PathBuf,
    /// Log as JSON lines instead of human-readable text.
    #[arg(long, global = true)]
    pub log_json: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Writes a commented config to --config (default config/ticketpost.toml) from
    /// these flags, asking on the terminal for the rest.
    Init(InitArgs),
    /// Run the gateway: read the mailbox, keep tickets, send mail.
    Run {
        /// Process everything waiting, drain the outbox, then exit.
        #[arg(long)]
        once: bool,
    },
    /// Look at tickets.
    Tickets {
        #[command(subcommand)]
        command: TicketsCommand,
    },
    /// The files a ticket's messages brought (stored once each).
    Attachments {
        #[command(subcommand)]
        command: AttachmentsCommand,
    },
    /// Validate config and templates, connect to the mailbox and the transport.
    Check,
    /// The knowledge base: solved cases the next requester and agent see.
    Kb {
        #[command(subcommand)]
        command: KbCommand,
    },
    /// Mail that could not be stored, kept raw with the reason.
    Quarantine {
        #[command(subcommand)]
        command: QuarantineCommand,
    },
    /// Existing mail into the store, idempotently; no mail is sent for it unless
    /// --acknowledge is given.
    Import {
        #[command(subcommand)]
        source: ImportCommand,
        /// Answer new tickets (and tell agents) as for live mail.
        #[arg(long, global = true)]
        acknowledge: bool,
    },
    /// The queue of outgoing mail.
    Outbox {
        #[command(subcommand)]
        command: OutboxCommand,
    },
    /// Copies the store into FILE with SQLite's online backup (the service may run),
    /// and checks the copy.
    Backup { file: PathBuf },
    /// Replaces the store with a backup made by `backup` (stop the service first).
    Restore { file: PathBuf },
    /// Triage: where agents' `/priority` disagreed with the rules.
    Triage {
        #[command(subcommand)]
        command: TriageCommand,
    },
    /// Tickets at risk of missing an SLA target, and those that missed one.
    Sla {
        #[arg(long)]
        json: bool,
    },
    /// Figures for a period: tickets opened and closed, median first response and
    /// resolution times, share of SLA targets met, per priority, agent and team.
    Report {
        /// First day (YYYY-MM-DD, UTC) or an RFC 3339 time.
        #[arg(long)]
        since: String,
        /// Last day, included (YYYY-MM-DD, UTC) or an RFC 3339 time (excluded).
        #[arg(long)]
        until: String,
        #[arg(long, conflicts_with = "csv")]
        json: bool,
        #[arg(long)]
        csv: bool,
    },
}

impl Command {
    /// Whether the command prints JSON (`--json`), which is escaped as JSON rather than
    /// as text for people. Every command is named, so a new one is decided, not assumed.
    pub fn prints_json(&self) -> bool {
        match self {
            Command::Tickets { command } => match command {
                TicketsCommand::List(TicketListArgs { json, .. })
                | TicketsCommand::Show { json, .. } => *json,
            },
            Command::Kb { command } => match command {
                KbCommand::List { json }
                | KbCommand::Show { json, .. }
                | KbCommand::Search { json, .. } => *json,
                KbCommand::Add { .. } | KbCommand::Approve { .. } => false,
            },
            Command::Quarantine { command } => match command {
                QuarantineCommand::List { json } | QuarantineCommand::Show { json, .. } => *json,
                QuarantineCommand::Retry { .. } => false,
            },
            Command::Outbox { command } => match command {
                OutboxCommand::List { json, .. } => *json,
                OutboxCommand::Retry { .. } | OutboxCommand::Purge { .. } => false,
            },
            Command::Attachments { command } => match command {
                AttachmentsCommand::List { json, .. } => *json,
                AttachmentsCommand::Get { .. } => false,
            },
            Command::Triage {
                command: TriageCommand::Review { json, .. },
            } => *json,
            Command::Sla { json } => *json,
            Command::Report { json, .. } => *json,
            Command::Init(_)
            | Command::Run { .. }
            | Command::Check
            | Command::Import { .. }
            | Command::Backup { .. }
            | Command::Restore { .. } => false,
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum KbCommand {
    /// All entries.
    List {
        #[arg(long)]
        json: bool,
    },
    /// One entry, e.g. KB-3 (or 3).
    Show {
        id: String,
        #[arg(long)]
        json: bool,
    },
    /// Entries matching free text (English or Chinese), best first, with scores.
    Search {
        query: String,
        #[arg(long)]
        json: bool,
    },
    /// Add an entry.
    Add {
        #[arg(long)]
        title: String,
        #[arg(long)]
        problem: String,
        #[arg(long)]
        solution: String,
        #[arg(long, default_value = "")]
        cause: String,
        #[arg(long, default_value = "")]
        steps: String,
        /// Language of the entry: en or zh.
        #[arg(long, default_value = "en")]
        language: String,
        /// The ticket it comes from, e.g. TP-12.
        #[arg(long)]
        ticket: Option<String>,
    },
    /// Approve a draft entry, e.g. KB-3, so requesters may be offered it; by an agent
    /// who did not write it.
    Approve {
        id: String,
        /// The approving agent's address (a configured agent, not the entry's author).
        #[arg(long)]
        by: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum QuarantineCommand {
    /// Everything in the quarantine, oldest first.
    List {
        #[arg(long)]
        json: bool,
    },
    /// One message with its reason and raw text, e.g. Q-3 (or 3).
    Show {
        id: String,
        #[arg(long)]
        json: bool,
    },
    /// Runs one message through ingestion again; it leaves the quarantine if stored.
    Retry { id: String },
}

#[derive(Debug, Subcommand)]
pub enum ImportCommand {
    /// An mbox file (mboxo or mboxrd).
    Mbox { file: PathBuf },
    /// A Maildir folder (its cur/ and new/); nothing in it is moved.
    Maildir { dir: PathBuf },
}

#[derive(Debug, Subcommand)]
pub enum TriageCommand {
    /// Agents' `/priority` overrides that disagreed with the rules, newest first, with
    /// the rules' impact, urgency and deciding words.
    Review {
        /// At most this many (1 to 1000).
        #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u16).range(1..=1000))]
        limit: u16,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum OutboxCommand {
    /// Every outgoing mail, oldest first, with its state and last error.
    List {
        /// Only mail in this state: queued, sending, sent or failed.
        #[arg(long)]
        state: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Puts failed mail back in the queue: one (e.g. M-3) or, with --failed, all.
    Retry {
        #[arg(required_unless_present = "failed", conflicts_with = "failed")]
        id: Option<String>,
        #[arg(long)]
        failed: bool,
    },
    /// Drops the bytes of mail sent more than N days ago (the records stay).
    Purge {
        #[arg(long, default_value_t = 90)]
        older_than_days: u32,
    },
}

#[derive(Debug, Subcommand)]
pub enum AttachmentsCommand {
    /// A ticket's files, numbered as `get` takes them.
    List {
        /// The ticket's token, e.g. TP-42 (or just 42).
        token: String,
        #[arg(long)]
        json: bool,
    },
    /// Writes one file out: to FILE (`-` for standard output), or by default to its
    /// own name in the current folder (never over an existing file).
    Get {
        token: String,
        /// The file's number, as `list` and the mails that did not carry it show it.
        n: i64,
        #[arg(long, short)]
        output: Option<PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
pub enum TicketsCommand {
    /// Tickets, newest first, a page at a time.
    List(TicketListArgs),
    /// One ticket with its messages, timeline and mail sent.
    Show {
        /// The ticket's token, e.g. TP-42 (or just 42).
        token: String,
        #[arg(long)]
        json: bool,
    },
}

/// `tickets list`: which page of which tickets.
#[derive(Debug, clap::Args)]
pub struct TicketListArgs {
    #[arg(long)]
    pub json: bool,
    /// Tickets per page, 1 to 1000.
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u16).range(1..=1000))]
    pub limit: u16,
    /// Only tickets in this status: open, waiting, pending, resolved or closed.
    #[arg(long)]
    pub status: Option<String>,
    /// Only tickets created on or after this day (YYYY-MM-DD, UTC) or RFC 3339 time.
    #[arg(long)]
    pub since: Option<String>,
    /// The next page: tickets older than this one (the last token of the page before).
    #[arg(long)]
    pub before: Option<String>,
}

#[derive(Debug, clap::Args)]
pub struct InitArgs {
    /// maildir or imap.
    #[arg(long)]
    pub mailbox: Option<String>,
    #[arg(long)]
    pub imap_host: Option<String>,
    #[arg(long)]
    pub imap_port: Option<u16>,
    #[arg(long)]
    pub imap_user: Option<String>,
    /// file or smtp.
    #[arg(long)]
    pub transport: Option<String>,
    #[arg(long)]
    pub smtp_host: Option<String>,
    #[arg(long)]
    pub smtp_port: Option<u16>,
    #[arg(long)]
    pub smtp_user: Option<String>,
    #[arg(long)]
    pub support_address: Option<String>,
    #[arg(long)]
    pub support_name: Option<String>,
    /// An agent, "Name <address>"; repeat for more.
    #[arg(long = "agent")]
    pub agents: Vec<String>,
    /// A supervisor, "Name <address>"; repeat for more.
    #[arg(long = "supervisor")]
    pub supervisors: Vec<String>,
    /// The SQLite store file.
    #[arg(long)]
    pub store: Option<String>,
    /// Replace an existing file.
    #[arg(long)]
    pub force: bool,
}
