//! File modes under a common umask (022): everything ticketpost writes that holds mail
//! or the staff key (the store and its -wal/-shm, outbox .eml files, backups, restored
//! stores, the config `init` writes) is 0600, and every folder it creates is 0700.
//! Drives the real binary on the embedded default, each child with umask 022 set.

use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

#[path = "support/embedded.rs"]
mod embedded;
use embedded::{Desk, request};

/// `ticketpost --config <desk config> <args>` with umask 022 (the usual default, which
/// leaves new files 0644 and new folders 0755 unless the program says otherwise).
fn command(config: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ticketpost"));
    cmd.arg("--config")
        .arg(config)
        .args(args)
        .env("TICKETPOST_LOG", "warn")
        .env_remove("TICKETPOST_FAULT");
    // SAFETY: umask is async-signal-safe and touches nothing but the child's own mask.
    unsafe {
        cmd.pre_exec(|| {
            libc::umask(0o022);
            Ok(())
        });
    }
    cmd
}

fn ticketpost(config: &Path, args: &[&str]) -> Output {
    let out = command(config, args).output().expect("run ticketpost");
    assert!(
        out.status.success(),
        "ticketpost {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o7777
}

/// Collects every path whose mode is not the one wanted, so one failure shows them all.
#[derive(Default)]
struct Modes {
    wrong: Vec<String>,
    checked: usize,
}

impl Modes {
    fn expect(&mut self, path: &Path, want: u32) {
        self.checked += 1;
        let got = mode(path);
        if got != want {
            self.wrong
                .push(format!("{}: {got:04o}, want {want:04o}", path.display()));
        }
    }

    /// `<store>-wal`, `-shm` and `-journal`, those that exist.
    fn expect_sidecars(&mut self, store: &Path) {
        for suffix in ["-wal", "-shm", "-journal"] {
            let p = sidecar(store, suffix);
            if p.exists() {
                self.expect(&p, 0o600);
            }
        }
    }

    fn assert_all_right(&self, what: &str) {
        assert!(self.checked > 0, "{what}: nothing checked");
        assert!(
            self.wrong.is_empty(),
            "{what}: wrong modes:\n  {}",
            self.wrong.join("\n  ")
        );
    }
}

fn sidecar(store: &Path, suffix: &str) -> PathBuf {
    let mut name = store.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

fn outbox_files(root: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(root.join("var/outbox"))
        .map(|d| d.filter_map(|e| e.ok()).map(|e| e.path()).collect())
        .unwrap_or_default();
    files.sort();
    files
}

/// Waits (bounded) until `ready` holds, for a service running in the background.
fn wait_for(what: &str, child: &mut Child, ready: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !ready() {
        if let Some(status) = child.try_wait().unwrap() {
            panic!("ticketpost run stopped early ({status}) while waiting for {what}");
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("timed out waiting for {what}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Asks the service to stop (SIGTERM, as systemd does) and waits for it.
fn stop(mut child: Child) {
    let pid = libc::pid_t::try_from(child.id()).expect("pid");
    // SAFETY: signals our own child, which we have not reaped yet.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success(), "ticketpost run exited with {status}");
            return;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("ticketpost run did not stop after SIGTERM");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn store_outbox_backup_and_restore_are_private_under_umask_022() {
    let desk = Desk::new(50);
    let root = desk.root();
    let store = root.join("var/ticketpost.db");

    // A first run on an empty desk lays out var/: the store, the Maildir, the outbox.
    ticketpost(&desk.config, &["run", "--once"]);
    let mut modes = Modes::default();
    for dir in [
        "var",
        "var/inbox",
        "var/inbox/new",
        "var/inbox/cur",
        "var/inbox/tmp",
        "var/outbox",
    ] {
        modes.expect(&root.join(dir), 0o700);
    }
    modes.expect(&store, 0o600);
    modes.expect_sidecars(&store);
    modes.assert_all_right("after the first run");

    // A request (the folders exist: delivering creates none) and its acknowledgement.
    desk.deliver(
        "1.req",
        &request(
            "req-1@example.org",
            "Jane Doe <jane@example.org>",
            "Printer prints blank pages",
            "Since this morning.",
        ),
    );
    let out = ticketpost(&desk.config, &["run", "--once"]);
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(said.contains("1 new ticket"), "{said}");
    let mut modes = Modes::default();
    let eml: Vec<PathBuf> = outbox_files(root);
    assert!(
        eml.iter()
            .any(|p| p.to_string_lossy().ends_with("-acknowledgement.eml")),
        "no acknowledgement in {eml:?}"
    );
    for file in &eml {
        modes.expect(file, 0o600);
    }
    modes.expect(&store, 0o600);
    modes.expect_sidecars(&store);
    modes.assert_all_right("after a request");

    // While the service runs, SQLite keeps the -wal and -shm next to the store: they
    // must be as private as the store (SQLite creates them with the store's mode).
    desk.deliver(
        "2.req",
        &request(
            "req-2@example.org",
            "Max Roe <max@example.org>",
            "VPN drops every hour",
            "Since Monday.",
        ),
    );
    let mut service = command(&desk.config, &["run"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start ticketpost run");
    let wal = sidecar(&store, "-wal");
    let shm = sidecar(&store, "-shm");
    wait_for(
        "the second acknowledgement, -wal and -shm",
        &mut service,
        || wal.exists() && shm.exists() && outbox_files(root).len() > eml.len(),
    );
    let mut modes = Modes::default();
    modes.expect(&wal, 0o600);
    modes.expect(&shm, 0o600);
    for file in outbox_files(root) {
        modes.expect(&file, 0o600);
    }
    stop(service);
    modes.assert_all_right("while the service runs");

    // A backup into a folder that does not exist yet: ticketpost makes it, private.
    let backup = root.join("backups/nightly/ticketpost-1.db");
    ticketpost(
        &desk.config,
        &["backup", backup.to_str().expect("utf-8 temp path")],
    );
    let mut modes = Modes::default();
    modes.expect(&root.join("backups"), 0o700);
    modes.expect(&root.join("backups/nightly"), 0o700);
    modes.expect(&backup, 0o600);
    modes.expect_sidecars(&backup);
    modes.assert_all_right("after a backup");

    // A restore into a lost store makes a new one, as private as the first.
    for suffix in ["", "-wal", "-shm"] {
        let p = sidecar(&store, suffix);
        if p.exists() {
            std::fs::remove_file(&p).unwrap();
        }
    }
    ticketpost(
        &desk.config,
        &["restore", backup.to_str().expect("utf-8 temp path")],
    );
    let mut modes = Modes::default();
    modes.expect(&store, 0o600);
    modes.expect_sidecars(&store);
    modes.assert_all_right("after a restore");
    assert_eq!(
        desk.tickets().len(),
        2,
        "the restored store has both tickets"
    );
}

#[test]
fn a_store_left_readable_by_others_is_tightened_at_open() {
    let desk = Desk::new(50);
    let store = desk.root().join("var/ticketpost.db");
    ticketpost(&desk.config, &["run", "--once"]);
    // As an older ticketpost left it.
    std::fs::set_permissions(&store, std::fs::Permissions::from_mode(0o644)).unwrap();

    let out = ticketpost(&desk.config, &["run", "--once"]);
    assert_eq!(mode(&store), 0o600);
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(
        log.contains("tightened") && log.contains("ticketpost.db"),
        "the tightening is logged: {log}"
    );
    // Once: the next start finds nothing to do and says nothing about it.
    let out = ticketpost(&desk.config, &["run", "--once"]);
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(!log.contains("tightened"), "logged again: {log}");
}

#[test]
fn init_writes_a_private_config_in_a_private_new_folder() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("etc/ticketpost/ticketpost.toml");
    let out = command(&config, &["init"])
        .stdin(Stdio::null())
        .output()
        .expect("run ticketpost init");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut modes = Modes::default();
    modes.expect(&dir.path().join("etc"), 0o700);
    modes.expect(&dir.path().join("etc/ticketpost"), 0o700);
    // Inline secrets (`password`, `bearer_token`) are allowed in the file.
    modes.expect(&config, 0o600);
    modes.assert_all_right("after init");
}
