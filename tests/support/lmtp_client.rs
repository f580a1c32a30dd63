//! A blocking LMTP client for tests of ticketpost's listener (`[mailbox] kind =
//! "lmtp"`), over TCP or a Unix socket: whole transactions, single commands, and raw
//! bytes for clients that misbehave. Also the config of a desk that listens.
//!
//! Use it with `#[path = "support/lmtp_client.rs"] mod lmtp_client;`.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// How long a test waits for one reply.
pub const REPLY_WAIT: Duration = Duration::from_secs(30);

/// One server reply: its code and the text of its lines (without the code).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub code: u16,
    pub lines: Vec<String>,
}

impl Reply {
    /// The enhanced status code of the last line (`2.1.5`).
    pub fn status(&self) -> &str {
        self.lines
            .last()
            .and_then(|l| l.split(' ').next())
            .unwrap_or("")
    }
}

pub struct LmtpClient {
    reader: BufReader<Box<dyn Read + Send>>,
    writer: Box<dyn Write + Send>,
}

impl LmtpClient {
    /// Connects to `listen` (`127.0.0.1:PORT` or `unix:/path`) without reading.
    pub fn connect(listen: &str) -> std::io::Result<LmtpClient> {
        let (reader, writer): (Box<dyn Read + Send>, Box<dyn Write + Send>) =
            match listen.strip_prefix("unix:") {
                Some(path) => {
                    let s = std::os::unix::net::UnixStream::connect(path)?;
                    s.set_read_timeout(Some(REPLY_WAIT))?;
                    (Box::new(s.try_clone()?), Box::new(s))
                }
                None => {
                    let s = std::net::TcpStream::connect(listen)?;
                    s.set_read_timeout(Some(REPLY_WAIT))?;
                    s.set_nodelay(true)?;
                    (Box::new(s.try_clone()?), Box::new(s))
                }
            };
        Ok(LmtpClient {
            reader: BufReader::new(reader),
            writer,
        })
    }

    /// Connects as soon as the listener is up and reads its `220`; panics after `limit`.
    pub fn greeted(listen: &str, limit: Duration) -> LmtpClient {
        let deadline = Instant::now() + limit;
        loop {
            if let Ok(mut c) = LmtpClient::connect(listen)
                && let Ok(r) = c.reply()
            {
                assert_eq!(r.code, 220, "greeting {r:?}");
                return c;
            }
            assert!(
                Instant::now() < deadline,
                "no LMTP greeting on {listen} within {limit:?}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Connects, greets and says LHLO.
    pub fn ready(listen: &str, limit: Duration) -> LmtpClient {
        let mut c = LmtpClient::greeted(listen, limit);
        let r = c.command("LHLO client.example.test");
        assert_eq!(r.code, 250, "LHLO: {r:?}");
        c
    }

    /// The next reply; an error at EOF or a timeout.
    pub fn reply(&mut self) -> std::io::Result<Reply> {
        let mut lines = Vec::new();
        loop {
            let mut line = String::new();
            if self.reader.read_line(&mut line)? == 0 {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    format!("connection closed after {lines:?}"),
                ));
            }
            let line = line.trim_end_matches(['\r', '\n']);
            let code = line
                .get(..3)
                .and_then(|c| c.parse::<u16>().ok())
                .ok_or_else(|| {
                    std::io::Error::new(std::io::ErrorKind::InvalidData, format!("{line:?}"))
                })?;
            lines.push(line.get(4..).unwrap_or("").to_string());
            if line.as_bytes().get(3) != Some(&b'-') {
                return Ok(Reply { code, lines });
            }
        }
    }

    /// Whether the server has closed the connection (EOF, or reset, before any byte).
    pub fn closed(&mut self) -> bool {
        let mut byte = [0u8; 1];
        matches!(self.reader.read(&mut byte), Ok(0) | Err(_))
    }

    pub fn send(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.writer.write_all(bytes)?;
        self.writer.flush()
    }

    /// One command line and its reply; panics on I/O errors.
    pub fn command(&mut self, line: &str) -> Reply {
        self.send(format!("{line}\r\n").as_bytes())
            .unwrap_or_else(|e| panic!("sending {line:?}: {e}"));
        self.reply()
            .unwrap_or_else(|e| panic!("reply to {line:?}: {e}"))
    }

    /// A whole transaction: the replies to MAIL and each RCPT, then (when a recipient
    /// was taken) to DATA and one per taken recipient after the text.
    pub fn deliver(&mut self, from: &str, rcpts: &[&str], raw: &[u8]) -> Delivery {
        let mail = self.command(&format!("MAIL FROM:<{from}>"));
        let rcpt: Vec<Reply> = rcpts
            .iter()
            .map(|r| self.command(&format!("RCPT TO:<{r}>")))
            .collect();
        let taken = rcpt.iter().filter(|r| r.code == 250).count();
        let mut after = Vec::new();
        let data = self.command("DATA");
        if data.code == 354 {
            self.send(&dot_stuffed(raw)).expect("sending the text");
            for _ in 0..taken {
                after.push(self.reply().expect("a reply per recipient"));
            }
        }
        Delivery {
            mail,
            rcpt,
            data,
            after,
        }
    }
}

/// The replies of one transaction.
#[derive(Debug)]
pub struct Delivery {
    pub mail: Reply,
    pub rcpt: Vec<Reply>,
    pub data: Reply,
    /// One per recipient taken, after the text.
    pub after: Vec<Reply>,
}

impl Delivery {
    /// The codes after the text, in order.
    pub fn codes(&self) -> Vec<u16> {
        self.after.iter().map(|r| r.code).collect()
    }
}

/// The text as it goes after DATA: CRLF line ends, dot-stuffed, with the end line.
pub fn dot_stuffed(raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len() + 16);
    let mut at_line_start = true;
    let mut prev = 0u8;
    for &b in raw {
        if at_line_start && b == b'.' {
            out.push(b'.');
        }
        if b == b'\n' && prev != b'\r' {
            out.push(b'\r');
        }
        out.push(b);
        at_line_start = b == b'\n';
        prev = b;
    }
    if !out.ends_with(b"\r\n") {
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b".\r\n");
    out
}

/// A plain request from `from` to `to`.
pub fn request(from: &str, to: &str, message_id: &str, subject: &str) -> Vec<u8> {
    format!(
        "From: Requester <{from}>\r\nTo: Support <{to}>\r\nSubject: {subject}\r\nMessage-ID: <{message_id}>\r\nDate: Thu, 03 Dec 2026 10:00:00 +0000\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nHello,\r\n\r\nmy laptop does not start since this morning.\r\n.hidden line that starts with a dot\r\n\r\nThanks\r\n"
    )
    .into_bytes()
}

/// A TCP port on 127.0.0.1 that was free a moment ago.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// Writes `dir/ticketpost.toml` for a desk listening on `listen`; `mailbox` and
/// `rest` add keys to `[mailbox]` and tables after `[desk]`. Returns the config and
/// the store's path.
pub fn write_config(
    dir: &Path,
    listen: &str,
    mailbox: &str,
    transport: &str,
    desk: &str,
    rest: &str,
) -> (PathBuf, PathBuf) {
    let db = dir.join("ticketpost.db");
    let config = dir.join("ticketpost.toml");
    std::fs::write(
        &config,
        format!(
            "[store]\npath = \"{}\"\n[mailbox]\nkind = \"lmtp\"\nlisten = \"{listen}\"\n{mailbox}\n[transport]\n{transport}\n[desk]\n{desk}\n{rest}",
            db.display()
        ),
    )
    .expect("write the config");
    (config, db)
}
