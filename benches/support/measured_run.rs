//! Running the `ticketpost` binary as a measured child, for the benchmarks: its peak
//! RSS and CPU from `wait4` in a small helper process (this benchmark program run again
//! with [`MEASURE_ENV`]; see [`measure_child`] for why), and reading the line that
//! `run --once` prints. What is run, and what the figures are compared with, is each
//! benchmark's own.
//!
//! Use it with `#[path = "support/measured_run.rs"] mod measured_run;`, and call
//! [`measure_child`] first thing in `main` when [`MEASURE_ENV`] is set.

#![allow(dead_code)]

use std::fs::File;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow};

/// Set on the measuring helper (this program run again), see [`Measured`].
pub const MEASURE_ENV: &str = "TP_BENCH_MEASURE_CHILD";

/// How a child ended, from `wait4`.
pub struct Exit {
    pub status: i32,
    pub wall: Duration,
    /// Peak resident set size in KiB (`ru_maxrss` on Linux).
    pub maxrss_kib: i64,
    pub cpu_user: Duration,
    pub cpu_sys: Duration,
}

impl Exit {
    pub fn success(&self) -> bool {
        libc::WIFEXITED(self.status) && libc::WEXITSTATUS(self.status) == 0
    }

    pub fn describe_status(&self) -> String {
        if libc::WIFEXITED(self.status) {
            format!("exit code {}", libc::WEXITSTATUS(self.status))
        } else if libc::WIFSIGNALED(self.status) {
            format!("killed by signal {}", libc::WTERMSIG(self.status))
        } else {
            format!("status {:#x}", self.status)
        }
    }

    pub fn rss_mb(&self) -> f64 {
        self.maxrss_kib as f64 * 1024.0 / 1e6
    }

    pub fn cpu(&self) -> Duration {
        self.cpu_user + self.cpu_sys
    }
}

fn timeval(tv: libc::timeval) -> Duration {
    Duration::from_secs(tv.tv_sec.max(0) as u64) + Duration::from_micros(tv.tv_usec.max(0) as u64)
}

/// `wait4` on `pid`; `None` with `WNOHANG` when it is still running.
pub fn wait4(pid: i32, flags: i32, spawned: Instant) -> Result<Option<Exit>> {
    loop {
        let mut status = 0i32;
        // SAFETY: an all-zero rusage is a valid value; wait4 fills it in.
        let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
        // SAFETY: plain system call on our own child with valid pointers.
        let r = unsafe { libc::wait4(pid, &mut status, flags, &mut usage) };
        if r == pid {
            return Ok(Some(Exit {
                status,
                wall: spawned.elapsed(),
                maxrss_kib: usage.ru_maxrss,
                cpu_user: timeval(usage.ru_utime),
                cpu_sys: timeval(usage.ru_stime),
            }));
        }
        if r == 0 {
            return Ok(None);
        }
        let err = std::io::Error::last_os_error();
        if err.kind() != std::io::ErrorKind::Interrupted {
            return Err(err).context("wait4");
        }
    }
}

/// Why a helper: Linux starts a child's `ru_maxrss` at the RSS of the process that
/// spawned it (at `exec`, the peak of the old address space is kept; with `vfork`-style
/// spawning that is the parent's own peak). Spawned from this benchmark, which holds the
/// generated mail, every child would report at least this process's peak. So each
/// measured child is spawned by a small helper, this program run again with
/// [`MEASURE_ENV`], which `wait4`s for it and prints what it got. The helper's own
/// few MB are the floor of the figure (printed at the start as the measurement floor).
///
/// The helper prints `pid=<child pid>`, then, when the child has ended,
/// `status=… wall_us=… maxrss_kib=… utime_us=… stime_us=…`.
pub fn measure_child() -> i32 {
    let args: Vec<std::ffi::OsString> = std::env::args_os().skip(1).collect();
    let [stdout, stderr, program, rest @ ..] = args.as_slice() else {
        eprintln!("measuring helper: expected STDOUT STDERR PROGRAM [ARGS...]");
        return 2;
    };
    let files = File::create(stdout).and_then(|o| Ok((o, File::create(stderr)?)));
    let (out, err) = match files {
        Ok(f) => f,
        Err(e) => {
            eprintln!("measuring helper: cannot create the output files: {e}");
            return 2;
        }
    };
    let spawned = Instant::now();
    let child = Command::new(program)
        .args(rest)
        .env_remove(MEASURE_ENV)
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .spawn();
    let child = match child {
        Ok(c) => c,
        Err(e) => {
            eprintln!("measuring helper: cannot start {program:?}: {e}");
            return 2;
        }
    };
    let pid = child.id() as i32;
    println!("pid={pid}");
    match wait4(pid, 0, spawned) {
        Ok(Some(e)) => {
            println!(
                "status={} wall_us={} maxrss_kib={} utime_us={} stime_us={}",
                e.status,
                e.wall.as_micros(),
                e.maxrss_kib,
                e.cpu_user.as_micros(),
                e.cpu_sys.as_micros()
            );
            0
        }
        Ok(None) => 2,
        Err(e) => {
            eprintln!("measuring helper: {e:#}");
            2
        }
    }
}

/// A child run under the measuring helper (see [`measure_child`]).
pub struct Measured {
    helper: std::process::Child,
    output: std::io::BufReader<std::process::ChildStdout>,
    /// The measured child itself, for signals.
    pub pid: i32,
}

impl Measured {
    /// Starts `cmd` (program, arguments, environment, folder) under the helper, its
    /// output going to the two files.
    pub fn spawn(cmd: &Command, stdout: &Path, stderr: &Path) -> Result<Measured> {
        let exe = std::env::current_exe().context("locating the benchmark program")?;
        let mut helper = Command::new(exe);
        helper
            .arg(stdout)
            .arg(stderr)
            .arg(cmd.get_program())
            .args(cmd.get_args())
            .env(MEASURE_ENV, "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped());
        for (key, value) in cmd.get_envs() {
            match value {
                Some(v) => helper.env(key, v),
                None => helper.env_remove(key),
            };
        }
        if let Some(dir) = cmd.get_current_dir() {
            helper.current_dir(dir);
        }
        let mut helper = helper.spawn().context("starting the measuring helper")?;
        let mut output = std::io::BufReader::new(
            helper
                .stdout
                .take()
                .ok_or_else(|| anyhow!("no pipe from the measuring helper"))?,
        );
        let mut line = String::new();
        std::io::BufRead::read_line(&mut output, &mut line)?;
        let pid = line
            .trim()
            .strip_prefix("pid=")
            .and_then(|p| p.parse().ok())
            .ok_or_else(|| {
                let _ = helper.wait();
                anyhow!(
                    "the measuring helper could not start {:?} (said {:?})",
                    cmd.get_program(),
                    line.trim()
                )
            })?;
        Ok(Measured {
            helper,
            output,
            pid,
        })
    }

    /// Waits for the child to end.
    pub fn finish(mut self) -> Result<Exit> {
        self.helper
            .wait()
            .context("waiting for the measuring helper")?;
        self.report()
    }

    /// The child's exit, if it has ended.
    pub fn try_finish(&mut self) -> Result<Option<Exit>> {
        match self
            .helper
            .try_wait()
            .context("polling the measuring helper")?
        {
            Some(_) => self.report().map(Some),
            None => Ok(None),
        }
    }

    pub fn signal(&self, signal: i32) {
        // SAFETY: a plain kill(2) of the measured child; the helper reaps it, so the pid
        // stays ours until the helper has exited, which we have not seen yet.
        unsafe { libc::kill(self.pid, signal) };
    }

    fn report(&mut self) -> Result<Exit> {
        let mut text = String::new();
        std::io::Read::read_to_string(&mut self.output, &mut text)?;
        let line = text
            .lines()
            .find(|l| l.starts_with("status="))
            .ok_or_else(|| anyhow!("the measuring helper reported nothing ({text:?})"))?;
        let field = |key: &str| -> Result<i64> {
            line.split_whitespace()
                .find_map(|kv| kv.strip_prefix(key)?.strip_prefix('='))
                .and_then(|v| v.parse().ok())
                .ok_or_else(|| anyhow!("no {key} in {line:?}"))
        };
        let micros = |key: &str| -> Result<Duration> {
            Ok(Duration::from_micros(field(key)?.max(0) as u64))
        };
        Ok(Exit {
            status: field("status")? as i32,
            wall: micros("wall_us")?,
            maxrss_kib: field("maxrss_kib")?,
            cpu_user: micros("utime_us")?,
            cpu_sys: micros("stime_us")?,
        })
    }
}

/// The peak RSS the helper alone gives a child that uses almost nothing (`true`).
pub fn measurement_floor() -> Result<Exit> {
    let dir = tempfile::tempdir()?;
    Measured::spawn(
        &Command::new("true"),
        &dir.path().join("out"),
        &dir.path().join("err"),
    )?
    .finish()
}

/// The line `run --once` prints.
#[derive(Debug, Default, Clone, Copy)]
pub struct OnceReport {
    pub processed: usize,
    pub ingest_s: f64,
    pub new_tickets: usize,
    pub quarantined: usize,
    pub sent: usize,
    pub send_s: f64,
    pub indexed: usize,
    pub index_s: f64,
}

/// `processed N message(s) in S s: A new ticket(s), B follow-up(s), C duplicate(s),
/// D quarantined, U kept without a ticket; sent M mail(s) in T s; indexed I ticket(s)
/// for similar-ticket search in X s`
pub fn parse_once_line(line: &str) -> Option<OnceReport> {
    let after = |key: &str| -> Option<&str> {
        let start = line.find(key)? + key.len();
        line[start..].split_whitespace().next()
    };
    let before = |key: &str| -> Option<&str> {
        let end = line.find(key)?;
        line[..end].split_whitespace().last()
    };
    let num = |s: Option<&str>| -> Option<f64> {
        s?.trim_matches(|c: char| !(c.is_ascii_digit() || c == '.'))
            .parse()
            .ok()
    };
    Some(OnceReport {
        processed: num(after("processed "))? as usize,
        ingest_s: num(after(" message(s) in "))?,
        new_tickets: num(before(" new ticket(s)"))? as usize,
        quarantined: num(before(" quarantined"))? as usize,
        sent: num(after("; sent "))? as usize,
        send_s: num(after(" mail(s) in "))?,
        indexed: num(after("; indexed ")).unwrap_or(0.0) as usize,
        index_s: num(after(" similar-ticket search in ")).unwrap_or(0.0),
    })
}

/// The text without ANSI colour sequences (`ESC [ ... letter`).
pub fn strip_ansi(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

pub fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}
