//! `[mailbox] kind = "lmtp"`: where ticketpost listens for the MTA's LMTP deliveries
//! (a TCP address or a Unix socket) and the bounds of that server: connections at
//! once, the idle limit, the socket's mode ([`LmtpConfig`]). The size limit is
//! `[limits] max_message_bytes`, shared with the other kinds. Serving LMTP is left to
//! `mailbox::lmtp`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Result;

use super::context::Ctx;
use super::raw::RawMailbox;

/// Where the LMTP server listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LmtpListen {
    /// `"127.0.0.1:2424"`, `"[::1]:2424"`.
    Tcp(SocketAddr),
    /// `"unix:/run/ticketpost/lmtp.sock"`.
    Unix(PathBuf),
}

impl std::fmt::Display for LmtpListen {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LmtpListen::Tcp(addr) => write!(f, "{addr}"),
            LmtpListen::Unix(path) => write!(f, "unix:{}", path.display()),
        }
    }
}

/// `kind = "lmtp"`: the MTA delivers to ticketpost directly (RFC 2033).
#[derive(Debug, Clone)]
pub struct LmtpConfig {
    pub listen: LmtpListen,
    /// Connections served at once; one more is answered `421` and closed.
    pub max_connections: usize,
    /// How long a connection may stay silent (waiting for a command, or between two
    /// pieces of a message) before it is closed with `421`.
    pub timeout: Duration,
    /// Messages at most in one group commit (one transaction).
    pub batch_size: usize,
    /// Permission bits of a Unix socket (`socket_mode = "0660"`): the MTA's user must
    /// be able to write to it.
    pub socket_mode: u32,
}

/// Longest Unix socket path the kernel takes (`sun_path` is 108 bytes with its NUL).
const UNIX_PATH_MAX: usize = 107;

/// `[mailbox]` with `kind = "lmtp"`; the keys of the other kinds are errors here.
pub(super) fn lmtp(cx: &Ctx, mut m: RawMailbox, batch_size: usize) -> Result<LmtpConfig> {
    for (key, set) in [
        ("host", m.host.is_some()),
        ("port", m.port.is_some()),
        ("username", m.username.is_some()),
        ("tls", m.tls.is_some()),
        ("tls_ca_file", m.tls_ca_file.is_some()),
        ("idle", m.idle.is_some()),
        ("poll_interval", m.poll_interval.is_some()),
        ("path", m.path.is_some()),
        ("folder", m.folder.is_some()),
        ("folders", m.folders.is_some()),
    ]
    .into_iter()
    .chain(m.take_auth().first_set().map(|k| (k, true)))
    {
        if set {
            return Err(cx.err(
                &format!("[mailbox] {key}"),
                "not for kind = \"lmtp\" (the MTA delivers to the listener; see listen)",
            ));
        }
    }
    let listen = listen(cx, cx.required("[mailbox] listen", m.listen)?)?;
    let max_connections = match m.max_connections {
        None => 64,
        Some(n @ 1..=10_000) => n as usize,
        Some(n) => {
            return Err(cx.err(
                "[mailbox] max_connections",
                format!("must be between 1 and 10000, got {n}"),
            ));
        }
    };
    let socket_mode = match (&listen, m.socket_mode) {
        (_, None) => 0o660,
        (LmtpListen::Unix(_), Some(text)) => socket_mode(cx, &text)?,
        (LmtpListen::Tcp(_), Some(_)) => {
            return Err(cx.err(
                "[mailbox] socket_mode",
                "only for a Unix socket (listen = \"unix:/path\")",
            ));
        }
    };
    Ok(LmtpConfig {
        listen,
        max_connections,
        timeout: cx.seconds("[mailbox] timeout", m.timeout, 300.0)?,
        batch_size,
        socket_mode,
    })
}

/// `listen`: `"address:port"` or `"unix:/path"`.
fn listen(cx: &Ctx, text: String) -> Result<LmtpListen> {
    let key = "[mailbox] listen";
    if let Some(path) = text.strip_prefix("unix:") {
        if path.is_empty() {
            return Err(cx.err(
                key,
                "\"unix:\" needs a path (e.g. \"unix:/run/ticketpost/lmtp.sock\")",
            ));
        }
        if path.len() > UNIX_PATH_MAX {
            return Err(cx.err(
                key,
                format!(
                    "a Unix socket path is at most {UNIX_PATH_MAX} bytes; {path:?} has {}",
                    path.len()
                ),
            ));
        }
        return Ok(LmtpListen::Unix(PathBuf::from(path)));
    }
    text.parse().map(LmtpListen::Tcp).map_err(|_| {
        cx.err(
            key,
            format!(
                "{text:?} is neither an address:port (e.g. \"127.0.0.1:2424\") nor \"unix:/path/lmtp.sock\""
            ),
        )
    })
}

/// `socket_mode`: octal permission bits such as `"0660"` or `"666"`.
fn socket_mode(cx: &Ctx, text: &str) -> Result<u32> {
    match u32::from_str_radix(text.trim(), 8) {
        Ok(mode) if mode <= 0o777 && mode & 0o600 == 0o600 => Ok(mode),
        Ok(_) => Err(cx.err(
            "[mailbox] socket_mode",
            format!("{text:?}: the owner needs read and write (e.g. \"0660\"), and at most 0777"),
        )),
        Err(_) => Err(cx.err(
            "[mailbox] socket_mode",
            format!("{text:?} is not octal permission bits (e.g. \"0660\")"),
        )),
    }
}

/// The LMTP-only keys set in a table of another kind, for "only for kind" messages.
pub(super) fn lmtp_key_set(m: &RawMailbox) -> Option<&'static str> {
    [
        ("listen", m.listen.is_some()),
        ("max_connections", m.max_connections.is_some()),
        ("socket_mode", m.socket_mode.is_some()),
    ]
    .into_iter()
    .find_map(|(key, set)| set.then_some(key))
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::path::Path;

    use super::super::{Config, MailboxConfig};
    use super::*;

    fn load(mailbox: &str, extra: &str) -> anyhow::Result<Config> {
        let text = format!(
            "[store]\npath = \"var/t.db\"\n[mailbox]\nkind = \"lmtp\"\n{mailbox}\n[transport]\nkind = \"file\"\npath = \"var/outbox\"\n[desk]\nsupport_address = \"support@example.test\"\n{extra}"
        );
        Config::from_toml(Path::new("conf/test.toml"), &text, &HashMap::new())
    }

    fn lmtp_of(cfg: &Config) -> &LmtpConfig {
        match &cfg.mailbox {
            MailboxConfig::Lmtp(l) => l,
            other => panic!("not lmtp: {other:?}"),
        }
    }

    #[test]
    fn a_tcp_listener_with_defaults() {
        let cfg = load("listen = \"127.0.0.1:2424\"", "").unwrap();
        let l = lmtp_of(&cfg);
        assert_eq!(l.listen, LmtpListen::Tcp("127.0.0.1:2424".parse().unwrap()));
        assert_eq!(l.max_connections, 64);
        assert_eq!(l.timeout, Duration::from_secs(300));
        assert_eq!(l.batch_size, crate::config::mail_access::DEFAULT_BATCH_SIZE);
        assert_eq!(cfg.folders, ["INBOX"]);
        assert_eq!(
            crate::mailbox::MailSource::state_key(&cfg.mailbox),
            "lmtp:127.0.0.1:2424"
        );
        let described = super::super::describe(&cfg);
        assert!(
            described.contains("lmtp listener on 127.0.0.1:2424"),
            "{described}"
        );
    }

    #[test]
    fn a_unix_socket_with_its_mode_and_bounds() {
        let cfg = load(
            "listen = \"unix:/run/tp/lmtp.sock\"\nsocket_mode = \"0666\"\nmax_connections = 8\ntimeout = 30\nbatch_size = 100",
            "",
        )
        .unwrap();
        let l = lmtp_of(&cfg);
        assert_eq!(l.listen, LmtpListen::Unix("/run/tp/lmtp.sock".into()));
        assert_eq!(l.listen.to_string(), "unix:/run/tp/lmtp.sock");
        assert_eq!(l.socket_mode, 0o666);
        assert_eq!((l.max_connections, l.batch_size), (8, 100));
        assert_eq!(l.timeout, Duration::from_secs(30));
    }

    #[test]
    fn every_error_names_the_file_and_the_key() {
        let long = format!("listen = \"unix:/{}\"", "x".repeat(120));
        for (mailbox, key) in [
            ("", "[mailbox] listen: missing"),
            (
                "listen = \"localhost:2424\"",
                "[mailbox] listen: \"localhost:2424\" is neither",
            ),
            ("listen = \"2424\"", "[mailbox] listen:"),
            (
                "listen = \"unix:\"",
                "[mailbox] listen: \"unix:\" needs a path",
            ),
            (
                long.as_str(),
                "[mailbox] listen: a Unix socket path is at most 107 bytes",
            ),
            (
                "listen = \"127.0.0.1:2424\"\nmax_connections = 0",
                "[mailbox] max_connections:",
            ),
            (
                "listen = \"127.0.0.1:2424\"\nsocket_mode = \"0666\"",
                "[mailbox] socket_mode: only for a Unix socket",
            ),
            (
                "listen = \"unix:/s\"\nsocket_mode = \"rw\"",
                "[mailbox] socket_mode: \"rw\" is not octal",
            ),
            (
                "listen = \"unix:/s\"\nsocket_mode = \"0066\"",
                "[mailbox] socket_mode: \"0066\": the owner",
            ),
            (
                "listen = \"127.0.0.1:2424\"\ntimeout = 0",
                "[mailbox] timeout:",
            ),
            (
                "listen = \"127.0.0.1:2424\"\nhost = \"mx\"",
                "[mailbox] host: not for kind = \"lmtp\"",
            ),
            (
                "listen = \"127.0.0.1:2424\"\npath = \"var/in\"",
                "[mailbox] path: not for kind = \"lmtp\"",
            ),
            (
                "listen = \"127.0.0.1:2424\"\nfolders = [\"HR\"]",
                "[mailbox] folders: not for kind = \"lmtp\"",
            ),
            (
                "listen = \"127.0.0.1:2424\"\npassword = \"x\"",
                "[mailbox] password: not for kind = \"lmtp\"",
            ),
        ] {
            let err = format!("{:#}", load(mailbox, "").unwrap_err());
            assert!(err.starts_with("conf/test.toml: "), "{err}");
            assert!(err.contains(key), "{mailbox:?}: {err}");
        }
    }

    #[test]
    fn the_listener_keys_are_errors_for_the_other_kinds() {
        let text = "[store]\npath = \"t.db\"\n[mailbox]\nkind = \"maildir\"\npath = \"in\"\nlisten = \"127.0.0.1:2424\"\n[transport]\nkind = \"file\"\npath = \"out\"\n[desk]\nsupport_address = \"s@example.test\"\n";
        let err = Config::from_toml(Path::new("c.toml"), text, &HashMap::new()).unwrap_err();
        assert_eq!(
            format!("{err:#}"),
            "c.toml: [mailbox] listen: only for kind = \"lmtp\""
        );
        let err = Config::from_toml(
            Path::new("c.toml"),
            &text.replace("maildir", "pop3"),
            &HashMap::new(),
        )
        .unwrap_err();
        assert!(format!("{err:#}").contains("expected \"imap\", \"maildir\" or \"lmtp\""));
    }
}
