//! `ticketpost check`: validates the config, the templates, the intake rules and the
//! store, and connects to every mailbox folder and to the transport, printing one line
//! per item. Each probe belongs to its module (`config`, `notify`, `mailbox`,
//! `outbox::transport`); this module only runs them in order and counts problems.

use std::io::Write;

use anyhow::{Context, Result, anyhow};

use crate::config::{self, Config};
use crate::mailbox::MailSource;
use crate::notify::Renderer;
use crate::outbox::transport::Transport;
use crate::store;

/// Runs [`check`] on its own async runtime.
pub fn run(cfg: &Config, out: &mut (impl Write + Send)) -> Result<()> {
    super::runtime()?.block_on(check(cfg, out))
}

/// `ticketpost check`: every problem found is printed; fails if there was any.
pub async fn check(cfg: &Config, out: &mut (impl Write + Send)) -> Result<()> {
    let mut problems = 0;
    writeln!(out, "{}", config::describe(cfg))?;
    if let Err(e) = config::ensure_usable(cfg) {
        problems += 1;
        writeln!(out, "PROBLEM {e:#}")?;
    }
    match Renderer::new(&cfg.templates, &cfg.desk) {
        Ok(r) => writeln!(out, "ok templates: {}", r.template_names().join(", "))?,
        Err(e) => {
            problems += 1;
            writeln!(out, "PROBLEM templates: {e:#}")?;
        }
    }
    match cfg.load_intake_rules() {
        Ok(_) => writeln!(
            out,
            "ok intake rules: {}",
            cfg.intake_rules.as_ref().map_or_else(
                || "built-in (config/intake.toml)".to_string(),
                |p| p.display().to_string()
            )
        )?,
        Err(e) => {
            problems += 1;
            writeln!(out, "PROBLEM {e:#}")?;
        }
    }
    if cfg.store.path.exists() {
        match store::open_reader(&cfg.store.path).and_then(|c| {
            let v = store::schema_version(&c)?;
            let tickets = store::tickets::list(&c)?.len();
            let outbox = store::outbox::counts(&c)?;
            Ok(format!(
                "schema version {v}, {tickets} ticket(s), outbox {} queued / {} sent / {} failed",
                outbox.queued, outbox.sent, outbox.failed
            ))
        }) {
            Ok(s) => writeln!(out, "ok store {}: {s}", cfg.store.path.display())?,
            Err(e) => {
                problems += 1;
                writeln!(out, "PROBLEM store: {e:#}")?;
            }
        }
    } else {
        writeln!(
            out,
            "ok store {}: does not exist yet; `run` creates it",
            cfg.store.path.display()
        )?;
    }
    for folder in &cfg.folders {
        let label = if cfg.folders.len() == 1 {
            "mailbox".to_string()
        } else {
            format!("mailbox folder {folder:?}")
        };
        let probed = match MailSource::new(&cfg.mailbox.for_folder(folder), None) {
            Ok(mut source) => source.probe().await,
            Err(e) => Err(e),
        };
        match probed {
            Ok(s) => writeln!(out, "ok {label}: {s}")?,
            Err(e) => {
                problems += 1;
                writeln!(out, "PROBLEM {label}: {e:#}")?;
            }
        }
    }
    match Transport::new(&cfg.transport) {
        Ok(t) => match t.probe().await {
            Ok(s) => writeln!(out, "ok transport: {s}")?,
            Err(e) => {
                problems += 1;
                writeln!(out, "PROBLEM transport: {e:#}")?;
            }
        },
        Err(e) => {
            problems += 1;
            writeln!(out, "PROBLEM transport: {e:#}")?;
        }
    }
    if problems > 0 {
        return Err(anyhow!("{problems} problem(s) found")).context("check failed");
    }
    writeln!(out, "all checks passed")?;
    Ok(())
}
