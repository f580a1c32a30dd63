//! The `ticketpost` binary: parse the command line, set up logging, load the config,
//! hand the command to `commands::dispatch`, map errors to exit codes (0 ok,
//! 1 failure, 2 bad configuration). What each command does lives in `commands`.

use std::process::ExitCode;

use clap::Parser;

use ticketpost::cli::{Cli, Command};
use ticketpost::commands;
use ticketpost::config::Config;
use ticketpost::terminal::{TextLayout, escape_for_terminal};

fn main() -> ExitCode {
    // One TLS crypto provider for the whole process (ring), before anything uses TLS.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let cli = Cli::parse();
    ticketpost::telemetry::init_logging(cli.log_json);
    // `init` writes the config, so it runs before there is one to load.
    let command = match cli.command {
        Command::Init(args) => return exit_code(commands::init::run(&cli.config, args)),
        command => command,
    };
    let cfg = match Config::load(&cli.config) {
        Ok(c) => c,
        Err(e) => {
            print_error(&e);
            return ExitCode::from(2);
        }
    };
    exit_code(commands::dispatch(command, &cfg))
}

/// 0 on success; otherwise the error on stderr and 1.
fn exit_code(result: anyhow::Result<()>) -> ExitCode {
    match result {
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
