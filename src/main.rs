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
    bound_malloc_arenas();
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

/// glibc's malloc gives each thread that allocates while another does an arena of its
/// own, up to eight per core, and each arena keeps the memory freed in it. The service
/// runs a writer, a parser, render workers, a checkpointer and tokio's threads: with
/// one arena per core they share (at most that many run at once), peak RSS of a
/// 10,000-request ingest fell by about 3 MB. `MALLOC_ARENA_MAX` in the environment, read
/// by glibc itself, is left to win.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn bound_malloc_arenas() {
    if std::env::var_os("MALLOC_ARENA_MAX").is_some() {
        return;
    }
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    let arenas = libc::c_int::try_from(cores).unwrap_or(libc::c_int::MAX);
    // SAFETY: mallopt only sets a malloc tunable; it is called first thing in main,
    // before this process starts any thread, and any value is valid for M_ARENA_MAX.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, arenas);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn bound_malloc_arenas() {}

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
