//! The real `ticketpost` binary on the embedded default (Maildir in, .eml files out, a
//! real SQLite file), for end-to-end tests that drive it as its users do.
//!
//! Use it with `#[path = "support/embedded.rs"] mod embedded;`.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

pub struct Desk {
    pub dir: tempfile::TempDir,
    pub config: PathBuf,
}

impl Desk {
    pub fn new(batch_size: usize) -> Desk {
        Desk::with_config(batch_size, "")
    }

    /// A desk whose config ends with `extra` (tables of its own, e.g. `[limits]`).
    pub fn with_config(batch_size: usize, extra: &str) -> Desk {
        Desk::with_mailbox_keys(batch_size, "", extra)
    }

    /// Like `with_config`, with `mailbox_keys` added to `[mailbox]`.
    pub fn with_mailbox_keys(batch_size: usize, mailbox_keys: &str, extra: &str) -> Desk {
        Desk::build(
            batch_size,
            mailbox_keys,
            &["Ann Lee <ann@example.test>"],
            extra,
        )
    }

    /// A desk with these agents (`Name <address>`), the config ending with `extra`.
    pub fn with_agents(agents: &[&str], extra: &str) -> Desk {
        Desk::build(50, "", agents, extra)
    }

    fn build(batch_size: usize, mailbox_keys: &str, agents: &[&str], extra: &str) -> Desk {
        let agents: Vec<String> = agents.iter().map(|a| format!("{a:?}")).collect();
        let agents = agents.join(", ");
        let dir = tempfile::tempdir().expect("temp dir");
        let config = dir.path().join("ticketpost.toml");
        std::fs::write(
            &config,
            format!(
                r#"
[store]
path = "{root}/var/ticketpost.db"
[mailbox]
kind = "maildir"
path = "{root}/var/inbox"
batch_size = {batch_size}
{mailbox_keys}
[transport]
kind = "file"
path = "{root}/var/outbox"
[desk]
support_address = "support@example.test"
support_name = "Example Support"
agents = [{agents}]
[security]
trusted_authserv_id = "mx.desk.test"
{extra}
"#,
                root = dir.path().display()
            ),
        )
        .expect("write config");
        Desk { dir, config }
    }

    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    pub fn deliver(&self, name: &str, raw: &str) {
        self.deliver_into("var/inbox", name, raw);
    }

    /// Delivers into the Maildir (or Maildir++ subfolder) at `maildir` under the root.
    pub fn deliver_into(&self, maildir: &str, name: &str, raw: &str) {
        let new = self.root().join(maildir).join("new");
        std::fs::create_dir_all(&new).unwrap();
        let tmp = self.root().join(maildir).join("tmp");
        std::fs::create_dir_all(&tmp).unwrap();
        std::fs::write(tmp.join(name), raw.replace('\n', "\r\n")).unwrap();
        std::fs::rename(tmp.join(name), new.join(name)).unwrap();
    }

    pub fn ticketpost(&self, args: &[&str], fault: Option<&str>) -> Output {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_ticketpost"));
        cmd.arg("--config")
            .arg(&self.config)
            .args(args)
            .env("TICKETPOST_LOG", "warn");
        match fault {
            Some(f) => cmd.env("TICKETPOST_FAULT", f),
            None => cmd.env_remove("TICKETPOST_FAULT"),
        };
        cmd.output().expect("run ticketpost")
    }

    pub fn run_once(&self) -> String {
        self.stdout(&["run", "--once"])
    }

    /// Runs `ticketpost <args>`, which must succeed, and returns what it printed.
    pub fn stdout(&self, args: &[&str]) -> String {
        let out = self.ticketpost(args, None);
        assert!(
            out.status.success(),
            "{args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Every ticket, newest first: `tickets list --json` page after page, each next page
    /// `--before` the last token of the one before.
    pub fn tickets(&self) -> Vec<Value> {
        let mut all: Vec<Value> = Vec::new();
        loop {
            let mut args = vec!["tickets", "list", "--json", "--limit", "1000"];
            let last = all.last().map(|t| t["token"].as_str().unwrap().to_string());
            if let Some(last) = &last {
                args.extend(["--before", last.as_str()]);
            }
            let out = self.ticketpost(&args, None);
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            let page = serde_json::from_slice::<Value>(&out.stdout)
                .unwrap()
                .as_array()
                .unwrap()
                .clone();
            let done = page.len() < 1000;
            all.extend(page);
            if done {
                return all;
            }
        }
    }

    pub fn show(&self, token: &str) -> Value {
        let out = self.ticketpost(&["tickets", "show", token, "--json"], None);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    }

    /// The acknowledgements written by the file transport (`<id>-acknowledgement.eml`),
    /// sorted; agents' notices and other mail are left out.
    /// Every mail the file transport wrote whose file name ends with `suffix`
    /// (`-agent_notice.eml`, `.eml` for all), in name order, as raw bytes.
    pub fn sent(&self, suffix: &str) -> Vec<Vec<u8>> {
        let mut paths: Vec<PathBuf> = match std::fs::read_dir(self.root().join("var/outbox")) {
            Ok(d) => d
                .filter_map(|e| e.ok())
                .map(|e| e.path())
                .filter(|p| p.to_string_lossy().ends_with(suffix))
                .collect(),
            Err(_) => Vec::new(),
        };
        paths.sort();
        paths.iter().map(|p| std::fs::read(p).unwrap()).collect()
    }

    /// [`Desk::sent`] as text (our mail is ASCII; anything else shows as U+FFFD).
    pub fn sent_text(&self, suffix: &str) -> Vec<String> {
        self.sent(suffix)
            .iter()
            .map(|m| String::from_utf8_lossy(m).into_owned())
            .collect()
    }

    pub fn outbox(&self) -> Vec<String> {
        let dir = self.root().join("var/outbox");
        let mut files: Vec<PathBuf> = match std::fs::read_dir(&dir) {
            Ok(d) => d
                .filter_map(|e| e.ok())
                .map(|e| e.path())
                .filter(|p| {
                    p.file_name()
                        .is_some_and(|n| n.to_string_lossy().ends_with("-acknowledgement.eml"))
                })
                .collect(),
            Err(_) => Vec::new(),
        };
        files.sort();
        files
            .iter()
            .map(|p| std::fs::read_to_string(p).unwrap())
            .collect()
    }
}

pub fn header<'a>(mail: &'a str, name: &str) -> Option<&'a str> {
    let prefix = format!("{name}: ");
    mail.lines()
        .find(|l| l.len() > prefix.len() && l[..prefix.len()].eq_ignore_ascii_case(&prefix))
        .map(|l| l[prefix.len()..].trim())
}

pub fn request(id: &str, from: &str, subject: &str, body: &str) -> String {
    format!(
        "From: {from}\nTo: support@example.test\nSubject: {subject}\nDate: Wed, 25 Nov 2026 09:00:00 +0000\nMessage-ID: <{id}>\nContent-Type: text/plain; charset=utf-8\n\n{body}\n"
    )
}
