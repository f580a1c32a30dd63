//! `ticketpost attachments list TOKEN [--json]` and `attachments get TOKEN N [-o FILE]`:
//! the files a ticket's messages brought, as the store keeps them (once each, by
//! SHA-256; see `store::file_blobs`). Mails that could not carry a file name this
//! command. It only reads.
//!
//! A file name is chosen by whoever sent the mail: it is printed through
//! [`one_line`], and `get` without `-o` writes to the name's last component only,
//! in the current folder, never over an existing file.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow, bail};
use sha2::{Digest, Sha256};

use crate::cli::AttachmentsCommand;
use crate::config::Config;
use crate::desk::relay_files::{human_size, safe_file_name};
use crate::desk::threading::{parse_token, token};
use crate::store::{self, file_blobs::FileRow};

use super::ticket_view::one_line;

pub fn run(cfg: &Config, command: AttachmentsCommand, out: &mut impl Write) -> Result<()> {
    match command {
        AttachmentsCommand::List { token, json } => {
            let (shown, files) = files_of(cfg, &token)?;
            if json {
                serde_json::to_writer_pretty(&mut *out, &files)?;
                writeln!(out)?;
                return Ok(());
            }
            if files.is_empty() {
                writeln!(out, "{shown} has no attachments.")?;
            }
            for f in &files {
                writeln!(
                    out,
                    "{:>3}  {}  {}  {}  message #{} part {}  sha256 {}{}",
                    f.n,
                    one_line(f.name.as_deref().unwrap_or("(no name)")),
                    one_line(&f.content_type),
                    human_size(u64::try_from(f.size).unwrap_or(0)),
                    f.message_row,
                    f.position,
                    f.sha256,
                    if f.inline { "  (inline)" } else { "" }
                )?;
            }
            Ok(())
        }
        AttachmentsCommand::Get { token, n, output } => get(cfg, &token, n, output, out),
    }
}

/// The ticket's token as shown, and its files.
fn files_of(cfg: &Config, token_text: &str) -> Result<(String, Vec<FileRow>)> {
    let prefix = &cfg.desk.token_prefix;
    let id = parse_token(token_text, prefix).ok_or_else(|| {
        anyhow!("{token_text:?} is not a ticket token (expected e.g. {prefix}-42)")
    })?;
    let conn = store::open_reader(&cfg.store.path)?;
    let shown = token(prefix, id);
    store::tickets::get(&conn, id)?.ok_or_else(|| anyhow!("no ticket {shown}"))?;
    let files = store::file_blobs::list_for_ticket(&conn, id)
        .with_context(|| format!("listing the attachments of {shown}"))?;
    Ok((shown, files))
}

fn get(
    cfg: &Config,
    token_text: &str,
    n: i64,
    output: Option<PathBuf>,
    out: &mut impl Write,
) -> Result<()> {
    let (shown, files) = files_of(cfg, token_text)?;
    let file = files
        .iter()
        .find(|f| f.n == n)
        .ok_or_else(|| anyhow!("{shown} has no attachment {n} (it has {})", files.len()))?;
    let conn = store::open_reader(&cfg.store.path)?;
    let bytes = store::file_blobs::bytes(&conn, &file.sha256)?
        .ok_or_else(|| anyhow!("the bytes of {shown} attachment {n} are missing"))?;
    if hex::encode(Sha256::digest(&bytes)) != file.sha256 {
        bail!(
            "{shown} attachment {n} does not match its SHA-256 {}",
            file.sha256
        );
    }
    let path = match output {
        Some(p) if p == Path::new("-") => {
            std::io::stdout().write_all(&bytes)?;
            return Ok(());
        }
        Some(p) => p,
        None => PathBuf::from(safe_file_name(file.name.as_deref(), n)),
    };
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&path)
        .with_context(|| format!("cannot create {} (it is not overwritten)", path.display()))?;
    f.write_all(&bytes)
        .with_context(|| format!("writing {}", path.display()))?;
    writeln!(
        out,
        "wrote {} ({}, sha256 {})",
        one_line(&path.display().to_string()),
        human_size(bytes.len() as u64),
        file.sha256
    )?;
    Ok(())
}
