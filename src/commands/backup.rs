//! `ticketpost backup FILE` and `ticketpost restore FILE`: a consistent copy of the
//! store made with SQLite's online backup (the service may keep running while it is
//! taken), checked before it is called good, and copied back the same way.

use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use rusqlite::backup::Backup;
use rusqlite::{Connection, OpenFlags};

use crate::config::Config;
use crate::store;

/// Pages copied per step; between steps the source is unlocked, so a running service
/// keeps writing while a large store is copied.
const PAGES_PER_STEP: std::ffi::c_int = 1024;
const PAUSE_BETWEEN_STEPS: Duration = Duration::from_millis(5);

/// What a backup or restore did, for the command's output.
pub struct Copied {
    pub bytes: u64,
    pub tickets: i64,
    pub messages: i64,
    pub schema_version: usize,
    pub seconds: f64,
}

impl std::fmt::Display for Copied {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{:.1} MB, {} ticket(s), {} message(s), schema version {}, in {:.2} s",
            self.bytes as f64 / 1e6,
            self.tickets,
            self.messages,
            self.schema_version,
            self.seconds
        )
    }
}

/// `ticketpost backup FILE`: makes the copy and says what it holds.
pub fn run_backup(cfg: &Config, file: &Path, out: &mut impl Write) -> Result<()> {
    let copied = backup(cfg, file)?;
    writeln!(out, "backed up to {}: {copied}", file.display())?;
    Ok(())
}

/// `ticketpost restore FILE`: replaces the store and says what it now holds.
pub fn run_restore(cfg: &Config, file: &Path, out: &mut impl Write) -> Result<()> {
    let copied = restore(cfg, file)?;
    writeln!(
        out,
        "restored {} from {}: {copied}",
        cfg.store.path.display(),
        file.display()
    )?;
    Ok(())
}

/// Copies the store into `target` (which must not exist yet) and checks the copy.
/// The copy holds all the mail and the staff key, so it is made 0600, and the folders
/// made for it 0700, like the store itself.
pub fn backup(cfg: &Config, target: &Path) -> Result<Copied> {
    if target.exists() {
        bail!("{} exists already; choose a new file", target.display());
    }
    let started = Instant::now();
    let source = store::open_reader(&cfg.store.path)?;
    if let Some(dir) = target.parent().filter(|d| !d.as_os_str().is_empty()) {
        store::private::create_dir_all(dir)
            .with_context(|| format!("cannot create the backup folder {}", dir.display()))?;
    }
    // Made here, not by SQLite (0644 under the usual umask); its journal takes its mode.
    match store::private::create_new_file(target) {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            bail!("{} exists already; choose a new file", target.display())
        }
        Err(e) => return Err(e).with_context(|| format!("cannot create {}", target.display())),
    }
    let mut copy =
        Connection::open(target).with_context(|| format!("cannot create {}", target.display()))?;
    Backup::new(&source, &mut copy)
        .context("cannot start the backup")?
        .run_to_completion(PAGES_PER_STEP, PAUSE_BETWEEN_STEPS, None)
        .context("the backup failed")?;
    drop(copy);
    let checked = check_copy(target)?;
    Ok(Copied {
        seconds: started.elapsed().as_secs_f64(),
        ..checked
    })
}

/// Replaces the store with the backup `from` after checking it. Stop the service
/// first: the restore takes the store's write lock, and a running service would keep
/// working from what it had in memory.
pub fn restore(cfg: &Config, from: &Path) -> Result<Copied> {
    let started = Instant::now();
    let checked = check_copy(from)?;
    if checked.schema_version > store::schema::latest_version() {
        bail!(
            "{} has schema version {}, newer than this ticketpost knows ({})",
            from.display(),
            checked.schema_version,
            store::schema::latest_version()
        );
    }
    let source = Connection::open_with_flags(from, OpenFlags::SQLITE_OPEN_READ_ONLY)
        .with_context(|| format!("cannot open {}", from.display()))?;
    let mut target = store::open_and_migrate(&cfg.store.path, cfg.store.synchronous_full)?;
    // The copy takes the backup's page size (4 KiB for a store made before 16 KiB
    // pages, see `store::NEW_STORE_PAGE_SIZE`). SQLite changes a database's page size
    // in a restore only out of WAL mode (in WAL mode the copy fails as "readonly"); the
    // store is opened in WAL mode again below.
    let mode: String =
        target.pragma_update_and_check(None, "journal_mode", "DELETE", |r| r.get(0))?;
    if !mode.eq_ignore_ascii_case("delete") {
        bail!(
            "cannot take {} out of WAL mode for the restore (got {mode}): is the service still running?",
            cfg.store.path.display()
        );
    }
    Backup::new(&source, &mut target)
        .context("cannot start the restore")?
        .run_to_completion(PAGES_PER_STEP, Duration::ZERO, None)
        .context("the restore failed")?;
    drop(target);
    // An older backup is brought up to this version's schema.
    drop(store::open_and_migrate(
        &cfg.store.path,
        cfg.store.synchronous_full,
    )?);
    let restored = check_copy(&cfg.store.path)?;
    Ok(Copied {
        seconds: started.elapsed().as_secs_f64(),
        ..restored
    })
}

/// Opens a copy read-only and checks it: SQLite's integrity check, and that it is a
/// ticketpost store (it has a schema version and the tickets table).
fn check_copy(path: &Path) -> Result<Copied> {
    let bytes = std::fs::metadata(path)
        .with_context(|| format!("cannot read {}", path.display()))?
        .len();
    let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY)
        .with_context(|| format!("cannot open {}", path.display()))?;
    let integrity: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .with_context(|| format!("{} is not an SQLite database", path.display()))?;
    if integrity != "ok" {
        return Err(anyhow!(
            "{} failed SQLite's integrity check: {integrity}",
            path.display()
        ));
    }
    let schema_version = store::schema_version(&conn)?;
    let count = |table: &str| -> Result<i64> {
        conn.query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))
            .with_context(|| format!("{} is not a ticketpost store (no {table})", path.display()))
    };
    Ok(Copied {
        bytes,
        tickets: count("tickets")?,
        messages: count("messages")?,
        schema_version,
        seconds: 0.0,
    })
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).unwrap().permissions().mode() & 0o7777
    }

    #[test]
    fn backup_and_restore_make_private_files_in_private_new_folders() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().display();
        let text = format!(
            r#"
[store]
path = "{root}/var/t.db"
[mailbox]
kind = "maildir"
path = "{root}/var/inbox"
[transport]
kind = "file"
path = "{root}/var/outbox"
[desk]
support_address = "support@example.test"
agents = ["Ann Lee <ann@example.test>"]
"#
        );
        let cfg = Config::from_toml(Path::new("t.toml"), &text, &HashMap::new()).unwrap();
        drop(store::open_and_migrate(&cfg.store.path, false).unwrap());

        let target = dir.path().join("backups/daily/t.db");
        backup(&cfg, &target).unwrap();
        assert_eq!(mode(&target), 0o600);
        assert_eq!(mode(&dir.path().join("backups")), 0o700);
        assert_eq!(mode(&dir.path().join("backups/daily")), 0o700);
        let Err(again) = backup(&cfg, &target) else {
            panic!("a second backup into the same file succeeded");
        };
        assert!(again.to_string().contains("exists already"), "{again}");

        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", cfg.store.path.display()));
        }
        restore(&cfg, &target).unwrap();
        assert_eq!(mode(&cfg.store.path), 0o600);
    }
}
