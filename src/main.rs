//! The `ticketpost` binary: parse the command line, load the config, run the command,
//! map errors to exit codes (0 ok, 1 failure, 2 bad configuration).

use std::io::Write;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result};
use clap::Parser;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use ticketpost::cli::{
    Cli, Command, ImportCommand, InitArgs, KbCommand, OutboxCommand, QuarantineCommand,
    TicketsCommand,
};
use ticketpost::clock::SystemClock;
use ticketpost::commands;
use ticketpost::config::Config;
use ticketpost::ingest::Faults;
use ticketpost::knowledge;
use ticketpost::report::ReportFormat;
use ticketpost::service::{self, RunOptions};
use ticketpost::terminal::{TerminalSafeWriter, TextLayout, escape_for_terminal};

fn main() -> ExitCode {
    // One TLS crypto provider for the whole process (ring), before anything uses TLS.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let cli = Cli::parse();
    ticketpost::telemetry::init_logging(cli.log_json);
    if let Command::Init(args) = cli.command {
        let (answers, force) = init_answers(args);
        return match ticketpost::init::init(&cli.config, answers, force) {
            Ok(said) => {
                println!("{said}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                print_error(&e);
                ExitCode::FAILURE
            }
        };
    }
    let cfg = match Config::load(&cli.config) {
        Ok(c) => c,
        Err(e) => {
            print_error(&e);
            return ExitCode::from(2);
        }
    };
    match run_command(cli, cfg) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            print_error(&e);
            ExitCode::FAILURE
        }
    }
}

/// An error and its causes on stderr; text from mail they quote is escaped.
fn print_error(e: &anyhow::Error) {
    eprintln!(
        "error: {}",
        escape_for_terminal(&format!("{e:#}"), TextLayout::Lines)
    );
}

/// The flags of `init`, and `--force`.
fn init_answers(a: InitArgs) -> (ticketpost::init::InitAnswers, bool) {
    (
        ticketpost::init::InitAnswers {
            mailbox: a.mailbox,
            imap_host: a.imap_host,
            imap_port: a.imap_port,
            imap_user: a.imap_user,
            transport: a.transport,
            smtp_host: a.smtp_host,
            smtp_port: a.smtp_port,
            smtp_user: a.smtp_user,
            support_address: a.support_address,
            support_name: a.support_name,
            agents: a.agents,
            supervisors: a.supervisors,
            store: a.store,
        },
        a.force,
    )
}

fn run_command(cli: Cli, cfg: Config) -> Result<()> {
    // Mail-derived text reaches the terminal inert, whichever module prints it: text
    // for people is escaped, JSON gets JSON escapes for what its encoder leaves raw.
    let layout = if cli.command.prints_json() {
        TextLayout::Json
    } else {
        TextLayout::Lines
    };
    let stdout = &mut TerminalSafeWriter::new(std::io::stdout(), layout);
    match cli.command {
        Command::Tickets {
            command: TicketsCommand::List { json },
        } => commands::tickets_list(&cfg, json, stdout),
        Command::Tickets {
            command: TicketsCommand::Show { token, json },
        } => commands::tickets_show(
            &cfg,
            &token,
            json,
            ticketpost::clock::Clock::now(&SystemClock),
            stdout,
        ),
        Command::Init(_) => unreachable!("init runs before the config is loaded"),
        Command::Check => runtime()?.block_on(commands::check(&cfg, stdout)),
        Command::Kb { command } => match command {
            KbCommand::List { json } => knowledge::kb_list(&cfg, json, stdout),
            KbCommand::Show { id, json } => knowledge::kb_show(&cfg, &id, json, stdout),
            KbCommand::Search { query, json } => knowledge::kb_search(&cfg, &query, json, stdout),
            KbCommand::Add {
                title,
                problem,
                solution,
                cause,
                steps,
                language,
                ticket,
            } => knowledge::kb_add(
                &cfg,
                &knowledge::KbAddArgs {
                    title,
                    problem,
                    cause,
                    steps,
                    solution,
                    language,
                    ticket,
                },
                ticketpost::clock::Clock::now(&SystemClock),
                stdout,
            ),
        },
        Command::Quarantine { command } => match command {
            QuarantineCommand::List { json } => ticketpost::quarantine::list(&cfg, json, stdout),
            QuarantineCommand::Show { id, json } => {
                ticketpost::quarantine::show(&cfg, &id, json, stdout)
            }
            QuarantineCommand::Retry { id } => {
                let said = runtime()?.block_on(ticketpost::quarantine::retry(
                    &cfg,
                    &id,
                    Arc::new(SystemClock),
                ))?;
                writeln!(stdout, "{said}")?;
                Ok(())
            }
        },
        Command::Sla { json } => ticketpost::commands::sla_command(
            &cfg,
            json,
            ticketpost::clock::Clock::now(&SystemClock),
            stdout,
        ),
        Command::Import {
            source,
            acknowledge,
        } => {
            let source = match source {
                ImportCommand::Mbox { file } => ticketpost::import::ImportSource::Mbox(file),
                ImportCommand::Maildir { dir } => ticketpost::import::ImportSource::Maildir(dir),
            };
            let report = runtime()?.block_on(ticketpost::import::import(
                &cfg,
                source,
                acknowledge,
                Arc::new(SystemClock),
            ))?;
            writeln!(stdout, "{report}")?;
            Ok(())
        }
        Command::Outbox { command } => {
            let now = ticketpost::clock::Clock::now(&SystemClock);
            let said = match command {
                OutboxCommand::List { state, json } => {
                    return ticketpost::outbox::manage::list(&cfg, state.as_deref(), json, stdout);
                }
                OutboxCommand::Retry { id, .. } => {
                    ticketpost::outbox::manage::retry(&cfg, id.as_deref(), now)?
                }
                OutboxCommand::Purge { older_than_days } => {
                    ticketpost::outbox::manage::purge(&cfg, older_than_days, now)?
                }
            };
            writeln!(stdout, "{said}")?;
            Ok(())
        }
        Command::Backup { file } => {
            let copied = ticketpost::backup::backup(&cfg, &file)?;
            writeln!(stdout, "backed up to {}: {copied}", file.display())?;
            Ok(())
        }
        Command::Restore { file } => {
            let copied = ticketpost::backup::restore(&cfg, &file)?;
            writeln!(
                stdout,
                "restored {} from {}: {copied}",
                cfg.store.path.display(),
                file.display()
            )?;
            Ok(())
        }
        Command::Report {
            since,
            until,
            json,
            csv,
        } => {
            let format = if json {
                ReportFormat::Json
            } else if csv {
                ReportFormat::Csv
            } else {
                ReportFormat::Human
            };
            ticketpost::report::report(&cfg, &since, &until, format, stdout)
        }
        Command::Run { once } => {
            let faults = match std::env::var("TICKETPOST_FAULT") {
                Ok(spec) => Faults::parse(&spec)?,
                Err(_) => Faults::default(),
            };
            runtime()?.block_on(async {
                let shutdown = CancellationToken::new();
                tokio::spawn(stop_on_signal(shutdown.clone()));
                let report =
                    service::run(&cfg, RunOptions { once, faults }, Arc::new(SystemClock), shutdown).await?;
                if !once {
                    info!("stopped");
                } else {
                    let i = report.ingest;
                    println!(
                        "processed {} message(s) in {:.3} s: {} new ticket(s), {} follow-up(s), {} duplicate(s), {} quarantined, {} kept without a ticket; sent {} mail(s) in {:.3} s{}; indexed {} ticket(s) for similar-ticket search in {:.3} s",
                        i.messages,
                        report.ingest_seconds,
                        i.new_tickets,
                        i.follow_ups,
                        i.duplicates,
                        i.quarantined,
                        i.unfiled,
                        report.sent,
                        report.send_seconds,
                        if report.send_retrying + report.send_failed > 0 {
                            format!(", {} to retry, {} failed", report.send_retrying, report.send_failed)
                        } else {
                            String::new()
                        },
                        report.indexed,
                        report.index_seconds
                    );
                }
                Ok(())
            })
        }
    }
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

/// First SIGINT/SIGTERM: finish the work in hand and stop. A second one: exit now.
async fn stop_on_signal(shutdown: CancellationToken) {
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(s) => s,
        Err(e) => {
            warn!(error = %e, "cannot listen for SIGTERM");
            return;
        }
    };
    for round in 0..2 {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
        if round == 0 {
            info!("shutting down: finishing the work in hand");
            shutdown.cancel();
        } else {
            warn!("second signal: exiting at once");
            std::process::exit(130);
        }
    }
}
