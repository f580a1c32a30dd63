//! `ticketpost init`: writes a commented configuration from flags, asking on the
//! terminal for what the flags leave out (or taking the defaults when there is no
//! terminal). The result is checked by loading it before it is written, and an
//! existing file is never overwritten without `--force`. The file is written 0600 (and
//! folders made for it 0700): `init` puts secrets in the environment, but the format
//! allows them inline (`password`, `bearer_token`) and a user may add them later.

use std::collections::HashMap;
use std::io::{BufRead, IsTerminal, Write};
use std::path::Path;

use anyhow::{Context, Result, bail};

use crate::cli::InitArgs;
use crate::config::Config;

/// What `init` was told; `None` = ask (or take the default).
#[derive(Debug, Default, Clone)]
pub struct InitAnswers {
    /// "maildir" or "imap".
    pub mailbox: Option<String>,
    pub imap_host: Option<String>,
    pub imap_port: Option<u16>,
    pub imap_user: Option<String>,
    /// "smtp" or "file".
    pub transport: Option<String>,
    pub smtp_host: Option<String>,
    pub smtp_port: Option<u16>,
    pub smtp_user: Option<String>,
    pub support_address: Option<String>,
    pub support_name: Option<String>,
    pub agents: Vec<String>,
    pub supervisors: Vec<String>,
    pub store: Option<String>,
}

/// `ticketpost init`: writes the config to `path` from the flags and prints what it
/// did. Runs before any config is loaded, so it prints straight to standard output.
pub fn run(path: &Path, args: InitArgs) -> Result<()> {
    let force = args.force;
    let said = init(path, InitAnswers::from(args), force)?;
    println!("{said}");
    Ok(())
}

impl From<InitArgs> for InitAnswers {
    /// The flags of `init`, all but `--force`.
    fn from(a: InitArgs) -> Self {
        InitAnswers {
            mailbox: a.mailbox,
            imap_host: a.imap_host,
            imap_port: a.imap_port,
            imap_user: a.imap_user,
            transport: a.transport,
            smtp_host: a.smtp_host,
            smtp_port: a.smtp_port,
            smtp_user: a.smtp_user,
            support_address: a.support_address,
            support_name: a.support_name,
            agents: a.agents,
            supervisors: a.supervisors,
            store: a.store,
        }
    }
}

/// Asks for missing answers on `input`/`output` when `interactive`.
struct Asker<'a, R: BufRead, W: Write> {
    input: R,
    output: &'a mut W,
    interactive: bool,
}

impl<R: BufRead, W: Write> Asker<'_, R, W> {
    fn ask(&mut self, given: Option<String>, question: &str, default: &str) -> Result<String> {
        if let Some(v) = given {
            return Ok(v);
        }
        if !self.interactive {
            return Ok(default.to_string());
        }
        write!(self.output, "{question} [{default}]: ")?;
        self.output.flush()?;
        let mut line = String::new();
        self.input.read_line(&mut line)?;
        let line = line.trim();
        Ok(if line.is_empty() { default } else { line }.to_string())
    }
}

/// Writes the config to `path` and returns what it says about it.
pub fn init(path: &Path, answers: InitAnswers, force: bool) -> Result<String> {
    if path.exists() && !force {
        bail!(
            "{} exists already (use --force to replace it)",
            path.display()
        );
    }
    let stdin = std::io::stdin();
    let interactive = stdin.is_terminal();
    let mut stderr = std::io::stderr();
    let text = render(
        answers,
        &mut Asker {
            input: stdin.lock(),
            output: &mut stderr,
            interactive,
        },
    )?;
    // Check it loads, with the secrets it names present.
    let env: HashMap<String, String> = [
        "TICKETPOST_IMAP_PASSWORD",
        "TICKETPOST_SMTP_PASSWORD",
        "TICKETPOST_HTTP_TOKEN",
    ]
    .iter()
    .map(|k| (k.to_string(), "x".to_string()))
    .collect();
    Config::from_toml(path, &text, &env).context("the written config would not load (bug)")?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        crate::store::private::create_dir_all(dir)
            .with_context(|| format!("cannot create {}", dir.display()))?;
    }
    crate::store::private::create_file(path)
        .and_then(|mut f| f.write_all(text.as_bytes()))
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(format!(
        "wrote {}; next: `ticketpost --config {} check`",
        path.display(),
        path.display()
    ))
}

fn quoted(s: &str) -> String {
    // TOML basic string: escape backslashes and quotes.
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

fn list(items: &[String]) -> String {
    format!(
        "[{}]",
        items
            .iter()
            .map(|i| quoted(i))
            .collect::<Vec<_>>()
            .join(", ")
    )
}

fn render<R: BufRead, W: Write>(a: InitAnswers, ask: &mut Asker<'_, R, W>) -> Result<String> {
    let mut out = String::from(
        "# ticketpost configuration, written by `ticketpost init`. Every key is explained in\n\
         # config/production.example.toml; `ticketpost check` validates this file and\n\
         # connects to the mailbox and the transport. Secrets come from the environment.\n\n",
    );
    let store = ask.ask(a.store, "SQLite store file", "var/ticketpost.db")?;
    out.push_str(&format!("[store]\npath = {}\n\n", quoted(&store)));

    let mailbox = ask.ask(a.mailbox, "Mailbox: maildir or imap", "maildir")?;
    match mailbox.as_str() {
        "maildir" => out.push_str(
            "[mailbox]\nkind = \"maildir\"\npath = \"var/inbox\"               # holds new/ cur/ tmp/\n\n",
        ),
        "imap" => {
            let host = ask.ask(a.imap_host, "IMAP server", "imap.example.com")?;
            let port = ask.ask(a.imap_port.map(|p| p.to_string()), "IMAP port", "993")?;
            let user = ask.ask(a.imap_user, "IMAP user", "support@example.com")?;
            out.push_str(&format!(
                "[mailbox]\nkind = \"imap\"\nhost = {}\nport = {port}\ntls = \"implicit\"                  # or \"starttls\", \"none\"\nusername = {}\npassword_env = \"TICKETPOST_IMAP_PASSWORD\"\nfolder = \"INBOX\"\nidle = true\n\n",
                quoted(&host),
                quoted(&user)
            ));
        }
        other => bail!("mailbox {other:?}: expected maildir or imap"),
    }

    let transport = ask.ask(a.transport, "Outgoing mail: file or smtp", "file")?;
    match transport.as_str() {
        "file" => out.push_str(
            "[transport]\nkind = \"file\"\npath = \"var/outbox\"              # one .eml per sent message\n\n",
        ),
        "smtp" => {
            let host = ask.ask(a.smtp_host, "SMTP server", "smtp.example.com")?;
            let port = ask.ask(a.smtp_port.map(|p| p.to_string()), "SMTP port", "587")?;
            let user = ask.ask(a.smtp_user, "SMTP user", "support@example.com")?;
            out.push_str(&format!(
                "[transport]\nkind = \"smtp\"\nhost = {}\nport = {port}\ntls = \"starttls\"                  # or \"implicit\", \"none\"\nusername = {}\npassword_env = \"TICKETPOST_SMTP_PASSWORD\"\n\n",
                quoted(&host),
                quoted(&user)
            ));
        }
        other => bail!("transport {other:?}: expected file or smtp"),
    }

    let address = ask.ask(a.support_address, "Support address", "support@example.com")?;
    let name = ask.ask(a.support_name, "Support name", "Support")?;
    let agents = if a.agents.is_empty() {
        let answer = ask.ask(None, "Agents (comma-separated, \"Name <address>\")", "")?;
        answer
            .split(',')
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect()
    } else {
        a.agents
    };
    out.push_str(&format!(
        "[desk]\nsupport_address = {}\nsupport_name = {}\ntoken_prefix = \"TP\"                # subjects carry [TP-1042]\nagents = {}\nsupervisors = {}\n\n",
        quoted(&address),
        quoted(&name),
        list(&agents),
        list(&a.supervisors)
    ));
    out.push_str(
        "# Dashboard, /metrics and /healthz while `run` is up (this machine only).\n\
         [http]\nlisten = \"127.0.0.1:8025\"\n\
         # bearer_token_env = \"TICKETPOST_HTTP_TOKEN\"\n",
    );
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rendered(a: InitAnswers, typed: &str) -> String {
        let mut out = Vec::new();
        render(
            a,
            &mut Asker {
                input: typed.as_bytes(),
                output: &mut out,
                interactive: !typed.is_empty(),
            },
        )
        .unwrap()
    }

    fn loads(text: &str) -> Config {
        let env: HashMap<String, String> = [
            ("TICKETPOST_IMAP_PASSWORD", "x"),
            ("TICKETPOST_SMTP_PASSWORD", "x"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        Config::from_toml(Path::new("t.toml"), text, &env).unwrap()
    }

    #[test]
    fn flags_answers_and_defaults_make_a_config_that_loads() {
        let defaults = loads(&rendered(InitAnswers::default(), ""));
        assert_eq!(defaults.desk.support_address, "support@example.com");
        let flags = rendered(
            InitAnswers {
                mailbox: Some("imap".into()),
                imap_host: Some("imap.acme.test".into()),
                transport: Some("smtp".into()),
                smtp_host: Some("smtp.acme.test".into()),
                support_address: Some("help@acme.test".into()),
                support_name: Some("ACME \"IT\" Help".into()),
                agents: vec!["Ann Lee <ann@acme.test>".into()],
                ..InitAnswers::default()
            },
            "",
        );
        let cfg = loads(&flags);
        assert_eq!(cfg.desk.support_name, "ACME \"IT\" Help");
        assert!(matches!(cfg.mailbox, crate::config::MailboxConfig::Imap(_)));
        assert!(flags.contains("password_env = \"TICKETPOST_IMAP_PASSWORD\""));
        // Typed answers, one per question, empty lines take the default.
        let typed = rendered(
            InitAnswers::default(),
            "\nmaildir\nfile\nit@corp.test\n\nBo <bo@corp.test>, cy@corp.test\n",
        );
        let cfg = loads(&typed);
        assert_eq!(cfg.desk.support_address, "it@corp.test");
        assert_eq!(cfg.desk.support_name, "Support");
        assert_eq!(cfg.desk.agents.len(), 2);
    }
}
