//! `ticketpost check`: validates the config, the templates, the intake rules and the
//! store, and connects to every mailbox folder (or looks at the LMTP listener's
//! address) and to the transport, printing one line per item. Each probe belongs to its module (`config`, `notify`, `mailbox`,
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
    let templates = Renderer::new(&cfg.templates, &cfg.desk).map(|r| r.template_names().join(", "));
    problems += item(out, "templates", "templates: ", templates)?;
    let rules = cfg.load_intake_rules().map(|_| {
        cfg.intake_rules.as_ref().map_or_else(
            || "built-in (config/intake.toml)".to_string(),
            |p| p.display().to_string(),
        )
    });
    problems += item(out, "intake rules", "", rules)?;
    problems += check_store(cfg, out)?;
    if let config::MailboxConfig::Lmtp(l) = &cfg.mailbox {
        let probed = crate::mailbox::lmtp::probe(l).await;
        problems += item(out, "mailbox", "mailbox: ", probed)?;
    }
    let pulled = !matches!(cfg.mailbox, config::MailboxConfig::Lmtp(_));
    for folder in cfg.folders.iter().filter(|_| pulled) {
        let label = if cfg.folders.len() == 1 {
            "mailbox".to_string()
        } else {
            format!("mailbox folder {folder:?}")
        };
        let probed = match MailSource::new(&cfg.mailbox.for_folder(folder), None) {
            Ok(mut source) => source.probe().await,
            Err(e) => Err(e),
        };
        problems += item(out, &label, &format!("{label}: "), probed)?;
    }
    let transport = match Transport::new(&cfg.transport) {
        Ok(t) => t.probe().await,
        Err(e) => Err(e),
    };
    problems += item(out, "transport", "transport: ", transport)?;
    if problems > 0 {
        return Err(anyhow!("{problems} problem(s) found")).context("check failed");
    }
    writeln!(out, "all checks passed")?;
    Ok(())
}

/// One checked item: `ok LABEL: what was found`, or `PROBLEM` and the error (after
/// `problem_label`). Returns the number of problems: 0 or 1.
fn item(
    out: &mut impl Write,
    ok_label: &str,
    problem_label: &str,
    found: Result<String>,
) -> Result<usize> {
    match found {
        Ok(s) => {
            writeln!(out, "ok {ok_label}: {s}")?;
            Ok(0)
        }
        Err(e) => {
            writeln!(out, "PROBLEM {problem_label}{e:#}")?;
            Ok(1)
        }
    }
}

/// The store, if it exists yet: its schema version and what it holds.
fn check_store(cfg: &Config, out: &mut impl Write) -> Result<usize> {
    let path = &cfg.store.path;
    if !path.exists() {
        writeln!(
            out,
            "ok store {}: does not exist yet; `run` creates it",
            path.display()
        )?;
        return Ok(0);
    }
    let found = store::open_reader(path).and_then(|c| {
        let v = store::schema_version(&c)?;
        let tickets = store::tickets::count(&c)?;
        let outbox = store::outbox::counts(&c)?;
        Ok(format!(
            "schema version {v}, {tickets} ticket(s), outbox {} queued / {} sent / {} failed",
            outbox.queued, outbox.sent, outbox.failed
        ))
    });
    item(out, &format!("store {}", path.display()), "store: ", found)
}
