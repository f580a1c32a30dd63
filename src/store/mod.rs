//! The SQLite store: schema, the one writer, and every query (all SQL lives under
//! `store/`, in functions named for what they do).
//!
//! One dedicated thread owns the write connection and runs jobs from a bounded
//! channel, so no connection is ever held across an `.await` and writes never
//! contend. Readers (the CLI, `check`) open their own connections; WAL lets them read
//! while the writer commits.
//!
//! The store holds every message and the key that signs staff Message-IDs, so it is
//! for the service's user alone: the file, its -wal and -shm are 0600 and a folder
//! made for it is 0700, whatever the umask ([`private`] has the helpers the other
//! writers of mail use too).

pub mod changes;
pub mod file_blobs;
pub mod kb;
pub mod listings;
pub mod mailbox_state;
pub mod messages;
pub mod on_behalf;
pub mod outbox;
pub mod overview;
#[cfg(test)]
pub(crate) mod plan_audit;
pub mod satisfaction;
pub mod schema;
pub mod sla_clocks;
pub mod tallies;
pub mod term_index;
pub mod ticket_links;
pub mod ticket_pages;
pub mod tickets;
pub mod triage_review;
pub mod worklog;

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow};
use rusqlite::{Connection, OpenFlags};
use tokio::sync::{mpsc, oneshot};
use tracing::warn;

use crate::config::StoreConfig;

/// Jobs waiting for the writer; senders wait (backpressure) when it is full.
const WRITER_QUEUE: usize = 64;

type Job = Box<dyn FnOnce(&mut Connection) + Send>;

/// Handle to the writer thread. Cheap to clone.
#[derive(Clone)]
pub struct Writer {
    jobs: mpsc::Sender<Job>,
}

impl Writer {
    /// Opens (creating if needed) and migrates the database, then starts the writer.
    pub fn start(cfg: &StoreConfig) -> Result<Writer> {
        let mut conn = open_and_migrate(&cfg.path, cfg.synchronous_full)?;
        // Checkpoints run on their own thread and connection, so copying the WAL back
        // into the database overlaps with the next batch instead of stalling it. The
        // writer checkpoints itself only if that thread falls far behind.
        conn.pragma_update(None, "wal_autocheckpoint", WRITER_CHECKPOINT_PAGES)?;
        let checkpoints = start_checkpointer(cfg)?;
        let (jobs, mut rx) = mpsc::channel::<Job>(WRITER_QUEUE);
        std::thread::Builder::new()
            .name("store-writer".into())
            .spawn(move || {
                while let Some(job) = rx.blocking_recv() {
                    job(&mut conn);
                    // Full means a checkpoint is already pending: nothing to add.
                    let _ = checkpoints.try_send(());
                }
            })
            .context("cannot start the store writer thread")?;
        Ok(Writer { jobs })
    }

    /// Copies the WAL back into the database and cuts the WAL file to nothing, at the
    /// end of a run: the store a stopped service leaves is the database alone, not a
    /// database plus a WAL of up to hundreds of megabytes after a burst. Best effort: a
    /// reader still open only leaves the WAL for the next start. The checkpointer
    /// thread may be copying pages at that moment (the writer just woke it): a blocked
    /// attempt is tried again for up to a second.
    pub async fn checkpoint_at_exit(&self) {
        let done = self
            .call(|conn| {
                let mut blocked = 0;
                for _ in 0..EXIT_CHECKPOINT_TRIES {
                    blocked = conn
                        .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| {
                            r.get::<_, i64>(0)
                        })
                        .context("WAL checkpoint")?;
                    if blocked == 0 {
                        break;
                    }
                    std::thread::sleep(std::time::Duration::from_millis(50));
                }
                Ok(blocked)
            })
            .await;
        match done {
            Ok(0) => {}
            Ok(_) => tracing::debug!("WAL checkpoint at exit was blocked by a reader"),
            Err(e) => tracing::debug!(error = %format!("{e:#}"), "WAL checkpoint at exit failed"),
        }
    }

    /// Runs `f` on the writer thread and returns its result. `f` should open its own
    /// transaction; it runs alone, so it sees its own writes only.
    pub async fn call<R, F>(&self, f: F) -> Result<R>
    where
        R: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<R> + Send + 'static,
    {
        let (tx, rx) = oneshot::channel();
        let job: Job = Box::new(move |conn| {
            // A panic inside a job is a bug; keep the writer alive and report it.
            let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(conn)))
                .unwrap_or_else(|_| Err(anyhow!("store job panicked (bug)")));
            let _ = tx.send(result);
        });
        self.jobs
            .send(job)
            .await
            .map_err(|_| anyhow!("store writer has stopped"))?;
        rx.await
            .map_err(|_| anyhow!("store writer dropped a job"))?
    }
}

/// Attempts of the checkpoint at exit, 50 ms apart.
const EXIT_CHECKPOINT_TRIES: usize = 20;

/// WAL pages after which the writer checkpoints by itself (a safety net; normally the
/// checkpointer thread keeps the WAL below this). A burst of 10,000 requests writes
/// some 15,000 pages between two passive checkpoints; at the former 16,384 the writer
/// stopped to copy them itself.
const WRITER_CHECKPOINT_PAGES: i64 = 64 * 1024;

/// The size the WAL file is cut back to after a burst has grown it (bytes).
const WAL_SIZE_LIMIT: i64 = 64 * 1024 * 1024;

/// The least time between two passive checkpoints.
const CHECKPOINT_MIN_GAP: std::time::Duration = std::time::Duration::from_millis(1000);

/// Starts the thread that runs passive checkpoints after writes; it stops when the
/// writer (the sender of its signals) is gone.
fn start_checkpointer(cfg: &StoreConfig) -> Result<std::sync::mpsc::SyncSender<()>> {
    let conn = Connection::open(&cfg.path)
        .with_context(|| format!("cannot open the store {}", cfg.path.display()))?;
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    let (signal, wake) = std::sync::mpsc::sync_channel::<()>(1);
    std::thread::Builder::new()
        .name("store-checkpointer".into())
        .spawn(move || {
            while wake.recv().is_ok() {
                // PASSIVE never blocks the writer or readers; whatever it cannot copy
                // now is copied next time.
                if let Err(e) = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
                    tracing::debug!(error = %e, "passive checkpoint did not run");
                }
                // Signals that come meanwhile fold into one: under a burst of writes a
                // checkpoint copies each hot page (indexes, the FTS tables) once per
                // gap instead of once per batch, and syncs the file once per gap.
                std::thread::sleep(CHECKPOINT_MIN_GAP);
            }
        })
        .context("cannot start the store checkpointer thread")?;
    Ok(signal)
}

/// The key that signs our Message-IDs (made once, at migration, by the store).
pub fn staff_key(conn: &Connection) -> Result<Vec<u8>> {
    conn.query_row(
        "SELECT value FROM settings WHERE key = 'staff_key'",
        [],
        |r| r.get(0),
    )
    .context("the store has no staff key")
}

/// Prepared statements the writer keeps (rusqlite's default is 16). A new request
/// runs some 30 distinct statements (its message, ticket, clocks, timeline, intake
/// facts, similar tickets, the outbox and its files); with 16 the least recently
/// used ones were evicted each message and compiled again (`sqlite3_prepare` was
/// about a fifth of the writer's time at ingest). Each kept statement costs a few KiB.
const WRITER_STATEMENT_CACHE: usize = 128;

/// Opens the database for the writer: creates it, applies pragmas and migrations.
pub fn open_and_migrate(path: &Path, synchronous_full: bool) -> Result<Connection> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        private::create_dir_all(dir)
            .with_context(|| format!("cannot create the store directory {}", dir.display()))?;
    }
    make_private(path)?;
    let mut conn = Connection::open(path)
        .with_context(|| format!("cannot open the store {}", path.display()))?;
    // SQLite quietly opens a file it may not write read-only; every batch would then
    // fail until a restart, so say so now instead.
    if conn.is_readonly(rusqlite::MAIN_DB)? {
        return Err(anyhow!(
            "the store {} is read-only (the file, its directory and its filesystem must be writable)",
            path.display()
        ));
    }
    apply_pragmas(&conn, synchronous_full)
        .with_context(|| format!("cannot set up the store {}", path.display()))?;
    conn.set_prepared_statement_cache_capacity(WRITER_STATEMENT_CACHE);
    schema::migrations()
        .to_latest(&mut conn)
        .with_context(|| format!("cannot migrate the store {}", path.display()))?;
    Ok(conn)
}

/// Creates the store file 0600 before SQLite opens it (SQLite would make it 0644 under
/// the usual umask, and makes the -wal, -shm and -journal files with the mode of the
/// database file), or tightens a store an older ticketpost left readable by others.
pub fn make_private(path: &Path) -> Result<()> {
    match private::create_new_file(path) {
        Ok(_) => return Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => {
            return Err(e).with_context(|| format!("cannot create the store {}", path.display()));
        }
    }
    let files = ["", "-wal", "-shm", "-journal"].map(|suffix| with_suffix(path, suffix));
    let mut tightened = Vec::new();
    for file in &files {
        match private::tighten(file) {
            Ok(Some(was)) => tightened.push(format!("{} (was {was:04o})", file.display())),
            Ok(None) => {}
            // Not ours to chmod (another owner): the store still works; say so.
            Err(e) => {
                warn!(file = %file.display(), error = %e, "cannot make a store file private (0600)")
            }
        }
    }
    if !tightened.is_empty() {
        warn!(
            files = %tightened.join(", "),
            "store files were readable by other users; tightened to 0600"
        );
    }
    Ok(())
}

/// `path` with `suffix` appended to its file name (SQLite's `-wal`, `-shm`).
fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// Files and folders for the service's user alone (mail, the store, backups): files
/// 0600, folders 0700, set at creation and again after it, so the umask cannot widen
/// (or narrow) them. A folder that exists already keeps its mode: it may be the
/// user's own (a home, `/var/lib/ticketpost` made by a package) and what ticketpost
/// puts in it is private anyway.
pub mod private {
    use std::fs::{DirBuilder, File, OpenOptions, Permissions};
    use std::io;
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
    use std::path::Path;

    pub const FILE_MODE: u32 = 0o600;
    pub const DIR_MODE: u32 = 0o700;

    /// Like `std::fs::create_dir_all`, with each folder it creates 0700.
    pub fn create_dir_all(dir: &Path) -> io::Result<()> {
        let missing: Vec<&Path> = dir
            .ancestors()
            .take_while(|d| !d.as_os_str().is_empty() && !d.is_dir())
            .collect();
        for d in missing.into_iter().rev() {
            match DirBuilder::new().mode(DIR_MODE).create(d) {
                Ok(()) => std::fs::set_permissions(d, Permissions::from_mode(DIR_MODE))?,
                // Made meanwhile by someone else: not ours, left as it is.
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists && d.is_dir() => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Creates `path`, which must not exist, 0600, open for writing.
    pub fn create_new_file(path: &Path) -> io::Result<File> {
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(FILE_MODE)
            .open(path)?;
        file.set_permissions(Permissions::from_mode(FILE_MODE))?;
        Ok(file)
    }

    /// Creates or truncates `path` for writing, 0600 (also when it existed with a
    /// looser mode: its content is being replaced by ours).
    pub fn create_file(path: &Path) -> io::Result<File> {
        let file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(FILE_MODE)
            .open(path)?;
        file.set_permissions(Permissions::from_mode(FILE_MODE))?;
        Ok(file)
    }

    /// Takes group and other access away from `path` when it has any; returns the old
    /// mode then. A missing file is nothing to do.
    pub fn tighten(path: &Path) -> io::Result<Option<u32>> {
        let mode = match std::fs::metadata(path) {
            Ok(m) => m.permissions().mode() & 0o7777,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        if mode & 0o077 == 0 {
            return Ok(None);
        }
        std::fs::set_permissions(path, Permissions::from_mode(mode & !0o077))?;
        Ok(Some(mode))
    }
}

/// Opens an existing database read-only (CLI listings), failing clearly when the
/// file is missing or its schema is newer than this binary.
pub fn open_reader(path: &Path) -> Result<Connection> {
    if !path.exists() {
        return Err(anyhow!(
            "the store {} does not exist yet (run `ticketpost run --once` first)",
            path.display()
        ));
    }
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .with_context(|| format!("cannot open the store {}", path.display()))?;
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    let version = schema_version(&conn)?;
    if version > schema::latest_version() {
        return Err(anyhow!(
            "the store {} has schema version {version}, newer than this ticketpost knows ({})",
            path.display(),
            schema::latest_version()
        ));
    }
    Ok(conn)
}

/// The schema version recorded in the database.
pub fn schema_version(conn: &Connection) -> Result<usize> {
    let v: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    Ok(usize::try_from(v).unwrap_or(0))
}

/// The writer's page cache, in KiB (SQLite's negative `cache_size`): enough for a
/// batch of the default 100 messages without spilling (8 MB, sized for batches of
/// 2,000, cost 3-4 MB of peak RSS and no measurable ingest rate at 10,000 tickets).
const STORE_CACHE_KIB: i64 = -4 * 1024;

/// The page size of a new store, in bytes (SQLite's default is 4,096). Most rows are
/// a kilobyte or two (a received mail packed, a rendered body, an outbox row): with
/// 4 KiB pages a leaf holds two or three of them and the rest of the page stays empty,
/// a fifth of the file at 10,000 tickets. 16 KiB pages hold ten: the scale bench's
/// store of 20,000 tickets took 8% less (issue 17, README "Store size"). It applies when the
/// file is made: a store made with another page size keeps it (it is in the file's
/// header, and WAL mode fixes it), and works the same.
pub const NEW_STORE_PAGE_SIZE: i64 = 16 * 1024;

fn apply_pragmas(conn: &Connection, synchronous_full: bool) -> Result<()> {
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    // Before WAL mode: only a new, empty file takes it; any other ignores it.
    conn.pragma_update(None, "page_size", NEW_STORE_PAGE_SIZE)?;
    let mode: String = conn.pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(anyhow!(
            "the store could not switch to WAL mode (got {mode})"
        ));
    }
    conn.pragma_update(
        None,
        "synchronous",
        if synchronous_full { "FULL" } else { "NORMAL" },
    )?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    // Savepoints (one per message when a batch is stored again message by message)
    // journal into memory instead of a temp file, and a batch's pages stay in the
    // cache instead of spilling into the WAL mid-transaction.
    conn.pragma_update(None, "temp_store", "MEMORY")?;
    conn.pragma_update(None, "cache_size", STORE_CACHE_KIB)?;
    conn.pragma_update(None, "journal_size_limit", WAL_SIZE_LIMIT)?;
    Ok(())
}

/// The query plan of `sql`, a line per step, as `EXPLAIN QUERY PLAN` gives it: tests
/// check with it that a query runs as an index range scan.
/// A store in memory, migrated to the latest schema: for unit tests of store code.
#[cfg(test)]
pub(crate) fn migrated_in_memory() -> Connection {
    let mut conn = Connection::open_in_memory().expect("an in-memory store");
    schema::migrations()
        .to_latest(&mut conn)
        .expect("the migrations apply");
    conn
}

#[cfg(test)]
pub(crate) fn query_plan(conn: &Connection, sql: &str) -> String {
    let mut stmt = conn
        .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
        .expect("a query to explain");
    let lines: Vec<String> = stmt
        .query_map([], |r| r.get::<_, String>(3))
        .expect("its plan")
        .map(|l| l.expect("a plan line"))
        .collect();
    lines.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn writer_runs_jobs_and_survives_a_panicking_job() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = StoreConfig {
            path: dir.path().join("sub/t.db"),
            synchronous_full: false,
        };
        let w = Writer::start(&cfg).unwrap();
        let v = w.call(|c| schema_version(c)).await.unwrap();
        assert_eq!(v, schema::latest_version());
        let e = w
            .call(|_| -> Result<()> { panic!("boom") })
            .await
            .unwrap_err();
        assert!(e.to_string().contains("panicked"));
        let n: i64 = w
            .call(|c| Ok(c.query_row("SELECT count(*) FROM tickets", [], |r| r.get(0))?))
            .await
            .unwrap();
        assert_eq!(n, 0);
        let r = open_reader(&cfg.path).unwrap();
        assert_eq!(schema_version(&r).unwrap(), schema::latest_version());
    }

    #[tokio::test]
    async fn the_wal_is_cut_at_exit_once_a_reader_that_held_it_lets_go() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = StoreConfig {
            path: dir.path().join("t.db"),
            synchronous_full: false,
        };
        let w = Writer::start(&cfg).unwrap();
        w.call(|c| {
            c.execute(
                "INSERT INTO tickets (subject, requester, status, priority, created_at, updated_at) \
                 VALUES ('s', 'r@x.test', 'open', 'P3', 0, 0)",
                [],
            )?;
            Ok(())
        })
        .await
        .unwrap();
        let wal = dir.path().join("t.db-wal");
        assert!(std::fs::metadata(&wal).unwrap().len() > 0);
        // A reader in the middle of a read transaction (as the checkpointer thread
        // is while it copies pages) lets go after 200 ms.
        let (held, hold) = std::sync::mpsc::channel();
        let path = cfg.path.clone();
        let reader = std::thread::spawn(move || {
            let r = open_reader(&path).unwrap();
            r.execute_batch("BEGIN").unwrap();
            let _: i64 = r
                .query_row("SELECT count(*) FROM tickets", [], |row| row.get(0))
                .unwrap();
            held.send(()).unwrap();
            std::thread::sleep(std::time::Duration::from_millis(200));
            r.execute_batch("COMMIT").unwrap();
        });
        hold.recv().unwrap();
        w.checkpoint_at_exit().await;
        reader.join().unwrap();
        assert_eq!(std::fs::metadata(&wal).unwrap().len(), 0);
    }

    fn page_size(conn: &Connection) -> i64 {
        conn.pragma_query_value(None, "page_size", |r| r.get(0))
            .unwrap()
    }

    #[test]
    fn a_new_store_gets_16_kib_pages_and_an_old_one_keeps_its_own() {
        let dir = tempfile::tempdir().unwrap();
        let new = dir.path().join("new.db");
        drop(open_and_migrate(&new, false).unwrap());
        let conn = open_and_migrate(&new, false).unwrap();
        assert_eq!(page_size(&conn), NEW_STORE_PAGE_SIZE);
        assert_eq!(page_size(&open_reader(&new).unwrap()), NEW_STORE_PAGE_SIZE);

        // A store made by an older binary, with SQLite's 4 KiB pages and in WAL mode.
        let old = dir.path().join("old.db");
        let made = Connection::open(&old).unwrap();
        made.pragma_update(None, "page_size", 4096).unwrap();
        made.pragma_update(None, "journal_mode", "WAL").unwrap();
        made.execute_batch("CREATE TABLE probe (x INTEGER)")
            .unwrap();
        drop(made);
        let conn = open_and_migrate(&old, false).unwrap();
        assert_eq!(page_size(&conn), 4096);
        assert_eq!(schema_version(&conn).unwrap(), schema::latest_version());
        conn.execute(
            "INSERT INTO tickets (subject, requester, status, priority, created_at, updated_at) \
             VALUES ('s', 'r@x.test', 'open', 'P3', 0, 0)",
            [],
        )
        .unwrap();
    }

    fn mode(path: &Path) -> u32 {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(path).unwrap().permissions().mode() & 0o7777
    }

    #[tokio::test]
    async fn the_store_its_wal_and_shm_and_its_new_folders_are_private() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = StoreConfig {
            path: dir.path().join("a/b/t.db"),
            synchronous_full: false,
        };
        let w = Writer::start(&cfg).unwrap();
        w.call(|c| {
            Ok(c.execute(
                "INSERT INTO settings (key, value) VALUES ('probe', x'00')",
                [],
            )?)
        })
        .await
        .unwrap();
        // The writer is open: SQLite has made the -wal and -shm, with the store's mode.
        for suffix in ["", "-wal", "-shm"] {
            assert_eq!(mode(&with_suffix(&cfg.path, suffix)), 0o600, "t.db{suffix}");
        }
        assert_eq!(mode(&dir.path().join("a")), 0o700);
        assert_eq!(mode(&dir.path().join("a/b")), 0o700);
    }

    #[test]
    fn a_loose_store_is_tightened_and_a_folder_that_exists_is_left_alone() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let loose = std::fs::Permissions::from_mode(0o755);
        std::fs::set_permissions(dir.path(), loose.clone()).unwrap();
        let path = dir.path().join("t.db");
        drop(open_and_migrate(&path, false).unwrap());
        let wal = with_suffix(&path, "-wal");
        std::fs::write(&wal, b"").unwrap();
        for file in [&path, &wal] {
            std::fs::set_permissions(file, std::fs::Permissions::from_mode(0o644)).unwrap();
        }
        make_private(&path).unwrap();
        assert_eq!(mode(&path), 0o600);
        assert_eq!(mode(&wal), 0o600);
        std::fs::remove_file(&wal).unwrap();
        assert_eq!(mode(dir.path()), 0o755, "the user's folder keeps its mode");
        private::create_dir_all(dir.path()).unwrap();
        assert_eq!(mode(dir.path()), 0o755);
    }
}
