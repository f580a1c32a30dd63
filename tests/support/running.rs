//! `ticketpost run` (the long-running service, real clock) as a child process of a
//! test: started with its log in a file, stopped with SIGTERM or killed with SIGKILL,
//! and polled for conditions with a deadline instead of sleeping for fixed times.
//!
//! Use it with `#[path = "support/running.rs"] mod running;`.

#![allow(dead_code)]

use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

pub struct Running {
    config: PathBuf,
    pub log: PathBuf,
    child: Option<Child>,
    pub starts: usize,
    /// Where the current run's part of the log begins.
    run_log_offset: u64,
    /// `TICKETPOST_FAULT` for the runs (none by default).
    fault: Option<String>,
}

impl Running {
    /// Not started yet; every run's stderr is appended to `log`.
    pub fn new(config: &Path, log: &Path) -> Running {
        Running {
            config: config.to_path_buf(),
            log: log.to_path_buf(),
            child: None,
            starts: 0,
            run_log_offset: 0,
            fault: None,
        }
    }

    /// Later runs get `TICKETPOST_FAULT=spec` (`None`: no fault).
    pub fn set_fault(&mut self, spec: Option<&str>) {
        self.fault = spec.map(str::to_string);
    }

    pub fn start(&mut self) {
        assert!(self.child.is_none(), "already running");
        self.starts += 1;
        let mut log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .expect("open the service log");
        writeln!(log, "=== run {}", self.starts).expect("write the service log");
        self.run_log_offset = log.metadata().map(|m| m.len()).unwrap_or(0);
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_ticketpost"));
        match &self.fault {
            Some(spec) => cmd.env("TICKETPOST_FAULT", spec),
            None => cmd.env_remove("TICKETPOST_FAULT"),
        };
        let child = cmd
            .arg("--config")
            .arg(&self.config)
            .arg("run")
            // rusqlite_migration's debug line when the store is opened tells that the
            // run is past its start-up (the signal handler is in place by then).
            .env("TICKETPOST_LOG", "info,rusqlite_migration=debug")
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("clone the log handle"))
            .stderr(log)
            .spawn()
            .expect("spawn ticketpost run");
        self.child = Some(child);
    }

    pub fn is_running(&mut self) -> bool {
        match self.child.as_mut() {
            Some(c) => c.try_wait().expect("try_wait").is_none(),
            None => false,
        }
    }

    /// Panics, with the log, when the service has exited by itself.
    pub fn assert_running(&mut self, during: &str) {
        let exited = self
            .child
            .as_mut()
            .expect("started")
            .try_wait()
            .expect("try_wait");
        if let Some(status) = exited {
            panic!(
                "ticketpost exited ({status}) during {during}\n{}",
                self.log_tail(60)
            );
        }
    }

    /// SIGKILL, and reap it.
    pub fn kill9(&mut self) {
        let mut child = self.child.take().expect("running");
        unsafe { libc::kill(child.id() as i32, libc::SIGKILL) };
        child.wait().expect("wait for the killed child");
    }

    /// Waits until the current run has opened its store (its signal handler is set up
    /// before that); panics after `limit`.
    pub fn wait_started(&mut self, limit: Duration) {
        if !self.wait_log(&["migrat"], limit) {
            self.assert_running("start-up");
            panic!(
                "run {} did not open its store within {limit:?}\n{}",
                self.starts,
                self.log_tail(40)
            );
        }
    }

    /// SIGTERM once the run is up (a signal before its handler is set up would kill
    /// it), and wait for the exit (SIGKILL and a panic after `limit`).
    pub fn terminate(&mut self, limit: Duration) -> ExitStatus {
        self.wait_started(limit);
        let mut child = self.child.take().expect("running");
        unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = child.try_wait().expect("try_wait") {
                return status;
            }
            if Instant::now() >= deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "ticketpost did not stop within {limit:?} of SIGTERM\n{}",
                    self.log_tail(60)
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The current run's part of the log.
    pub fn run_log(&self) -> String {
        use std::io::{Read, Seek, SeekFrom};
        let mut text = String::new();
        if let Ok(mut f) = std::fs::File::open(&self.log) {
            let _ = f.seek(SeekFrom::Start(self.run_log_offset));
            let _ = f.read_to_string(&mut text);
        }
        text
    }

    /// Waits (polling every 20 ms) until the current run has logged a line with one of
    /// `needles`; false after `limit` or when the run has exited.
    pub fn wait_log(&mut self, needles: &[&str], limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline && self.is_running() {
            let log = self.run_log();
            if needles.iter().any(|n| log.contains(n)) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }

    pub fn log_tail(&self, n: usize) -> String {
        let text = self.log_text();
        let lines: Vec<&str> = text.lines().collect();
        format!(
            "--- {} (last {n} lines)\n{}",
            self.log.display(),
            lines[lines.len().saturating_sub(n)..].join("\n")
        )
    }

    /// Polls `check` every 100 ms until it gives a value; panics with `what`, the last
    /// state and the log after `limit`. The service must stay up meanwhile.
    pub fn wait_for<T, S: std::fmt::Debug>(
        &mut self,
        what: &str,
        limit: Duration,
        mut check: impl FnMut() -> Result<T, S>,
    ) -> T {
        let deadline = Instant::now() + limit;
        loop {
            let last = match check() {
                Ok(v) => return v,
                Err(state) => state,
            };
            self.assert_running(what);
            if Instant::now() >= deadline {
                panic!(
                    "timed out after {limit:?} waiting for {what}; last: {last:?}\n{}",
                    self.log_tail(60)
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Opens the store read-only for a look while the service runs (None before it exists).
pub fn read_store(db: &Path) -> Option<rusqlite::Connection> {
    if !db.exists() {
        return None;
    }
    let c = rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
        .ok()?;
    c.busy_timeout(Duration::from_secs(5)).ok()?;
    Some(c)
}

/// `SELECT count(*) ...` or another single integer, 0 when the store is not there yet.
pub fn count(db: &Path, sql: &str) -> i64 {
    read_store(db)
        .and_then(|c| c.query_row(sql, [], |r| r.get::<_, i64>(0)).ok())
        .unwrap_or(0)
}

/// The seed for a test's random choices: `var` if set (a replay), else a fresh one.
/// Printed, so a failure can be replayed.
pub fn seed(var: &str) -> u64 {
    let seed = std::env::var(var)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| fastrand::u64(..));
    println!("seed {seed} (replay with {var}={seed})");
    seed
}
