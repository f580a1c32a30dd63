//! The LMTP conversation (RFC 2033, on the commands of RFC 5321) as a pure state
//! machine: command lines in, replies out, no I/O, so every sequence is unit-tested.
//! [`Session`] owns the order of commands, the envelope, which recipients are the
//! desk's, and the RFC's error replies; [`DataReader`] owns the message text (dot
//! unstuffing, the end-of-data line, the size limit). Reading the socket, storing the
//! message and timeouts are left to the connection in `lmtp/mod.rs`.

/// Longest command line taken, CRLF included (RFC 5321 asks for 512; parameters make
/// real ones longer).
pub const MAX_COMMAND_LINE: usize = 2048;

/// Recipients in one transaction (RFC 5321 §4.5.3.1.8: at least 100 must be taken).
const MAX_RECIPIENTS: usize = 100;

/// Syntax and sequence errors before the connection is closed: a client that sends
/// garbage is not answered for ever.
const MAX_ERRORS: u32 = 20;

/// What the session needs to know about the desk.
#[derive(Debug, Clone)]
pub struct Rules {
    /// Named in the greeting and the LHLO reply.
    pub hostname: String,
    /// `[limits] max_message_bytes`: advertised as SIZE; larger messages get 552.
    pub max_message_bytes: usize,
    /// The desk's addresses, lower-cased: the only recipients taken.
    pub addresses: Vec<String>,
}

impl Rules {
    fn is_ours(&self, address: &str) -> bool {
        self.addresses
            .iter()
            .any(|a| a.eq_ignore_ascii_case(address))
    }
}

/// One reply: a code and its lines (more than one only for LHLO).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub code: u16,
    lines: Vec<String>,
}

impl Reply {
    /// `code status text`, e.g. `250 2.1.0 Ok`.
    pub fn new(code: u16, status: &str, text: impl std::fmt::Display) -> Reply {
        Reply {
            code,
            lines: vec![format!("{status} {text}")],
        }
    }

    /// `code text`, for the replies without an enhanced status code (220, 354).
    pub fn plain(code: u16, text: impl std::fmt::Display) -> Reply {
        Reply {
            code,
            lines: vec![text.to_string()],
        }
    }

    /// The text of the reply's lines, without code and CRLF.
    pub fn lines(&self) -> &[String] {
        &self.lines
    }

    /// Appends the reply as it goes on the wire (`250-` for all lines but the last).
    pub fn write_to(&self, out: &mut Vec<u8>) {
        let last = self.lines.len().saturating_sub(1);
        for (i, line) in self.lines.iter().enumerate() {
            let sep = if i == last { ' ' } else { '-' };
            out.extend_from_slice(format!("{}{sep}{line}\r\n", self.code).as_bytes());
        }
    }

    pub fn greeting(rules: &Rules) -> Reply {
        Reply::plain(220, format!("{} LMTP ticketpost ready", rules.hostname))
    }

    /// `421`: the server closes the connection (shutdown, idle limit, too many).
    pub fn closing(status: &str, why: &str) -> Reply {
        Reply::new(421, status, why)
    }
}

/// What the connection does after a command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    Reply(Reply),
    /// `354` is sent and the message text follows: read it with a [`DataReader`].
    Data(Reply),
    /// The reply is sent, then the connection is closed.
    Close(Reply),
}

/// Who the message is from and for, as the MTA gave it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    /// The reverse path without `<>`; empty for a bounce (`MAIL FROM:<>`).
    pub sender: String,
    /// Accepted recipients, in order: one reply each after the message.
    pub recipients: Vec<String>,
}

impl Envelope {
    /// The trace header the final delivery agent adds (RFC 5321 §4.4): how the desk
    /// tells a bounce (`<>`) from a person's mail. Not part of a message's identity.
    pub fn return_path(&self) -> Vec<u8> {
        format!("Return-Path: <{}>\r\n", self.sender).into_bytes()
    }
}

/// How a message's delivery ended, for its replies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivered {
    /// Committed in the store (a repeat of a stored message counts: it is there).
    Stored,
    /// Over `max_message_bytes`.
    TooBig,
    /// The store could not take it: the MTA keeps it and tries again.
    Failed,
}

/// One reply per accepted recipient, in RCPT order (RFC 2033 §4.2).
pub fn delivery_replies(envelope: &Envelope, outcome: Delivered) -> Vec<Reply> {
    envelope
        .recipients
        .iter()
        .map(|rcpt| match outcome {
            Delivered::Stored => Reply::new(250, "2.0.0", format!("<{rcpt}> stored")),
            Delivered::TooBig => Reply::new(
                552,
                "5.3.4",
                format!("<{rcpt}> message exceeds the fixed maximum message size"),
            ),
            Delivered::Failed => Reply::new(
                451,
                "4.3.0",
                format!("<{rcpt}> the store cannot take the message now; try again later"),
            ),
        })
        .collect()
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Phase {
    /// Before LHLO.
    Greeted,
    /// After LHLO, no transaction.
    Ready,
    /// After MAIL.
    Mail(Envelope),
}

/// The state of one connection's conversation.
#[derive(Debug)]
pub struct Session {
    rules: std::sync::Arc<Rules>,
    phase: Phase,
    errors: u32,
}

impl Session {
    pub fn new(rules: std::sync::Arc<Rules>) -> Session {
        Session {
            rules,
            phase: Phase::Greeted,
            errors: 0,
        }
    }

    /// Answers one command line (without its line end).
    pub fn command(&mut self, line: &[u8]) -> Step {
        let line = String::from_utf8_lossy(line);
        let line = line.trim_end_matches(['\r', '\n']);
        let (verb, arg) = match line.split_once(' ') {
            Some((v, a)) => (v, a.trim()),
            None => (line, ""),
        };
        let step = match verb.to_ascii_uppercase().as_str() {
            "LHLO" => self.lhlo(arg),
            "HELO" | "EHLO" => Step::Reply(Reply::new(500, "5.5.1", "this is LMTP: use LHLO")),
            "MAIL" => self.mail(arg),
            "RCPT" => self.rcpt(arg),
            "DATA" => self.data(arg),
            "RSET" => self.without_argument(arg, |s| {
                if s.phase != Phase::Greeted {
                    s.phase = Phase::Ready;
                }
                Reply::new(250, "2.0.0", "Ok")
            }),
            "NOOP" => Step::Reply(Reply::new(250, "2.0.0", "Ok")),
            "QUIT" => Step::Close(Reply::new(221, "2.0.0", "Bye")),
            "VRFY" if arg.is_empty() => {
                Step::Reply(Reply::new(501, "5.5.4", "Syntax: VRFY address"))
            }
            "VRFY" => Step::Reply(Reply::new(
                252,
                "2.5.0",
                "Cannot VRFY user, but will take a message for the desk's addresses",
            )),
            "" => Step::Reply(Reply::new(500, "5.5.2", "Empty command")),
            _ => Step::Reply(Reply::new(500, "5.5.2", "Command not recognized")),
        };
        self.count_errors(step)
    }

    /// The transaction under way, if any.
    pub fn envelope(&self) -> Option<&Envelope> {
        match &self.phase {
            Phase::Mail(envelope) => Some(envelope),
            _ => None,
        }
    }

    /// The envelope of the message just read, after `DATA`; the session is ready for
    /// the next transaction.
    pub fn finish_data(&mut self) -> Option<Envelope> {
        match std::mem::replace(&mut self.phase, Phase::Ready) {
            Phase::Mail(envelope) if !envelope.recipients.is_empty() => Some(envelope),
            other => {
                self.phase = other;
                None
            }
        }
    }

    /// Syntax and sequence errors count; past [`MAX_ERRORS`] the connection closes.
    fn count_errors(&mut self, step: Step) -> Step {
        let Step::Reply(reply) = &step else {
            return step;
        };
        if matches!(reply.code, 500 | 501 | 503 | 555) {
            self.errors += 1;
            if self.errors >= MAX_ERRORS {
                return Step::Close(Reply::closing("4.7.0", "Too many errors; closing"));
            }
        }
        step
    }

    fn without_argument(&mut self, arg: &str, f: impl FnOnce(&mut Session) -> Reply) -> Step {
        if arg.is_empty() {
            Step::Reply(f(self))
        } else {
            Step::Reply(Reply::new(501, "5.5.4", "No argument expected"))
        }
    }

    fn lhlo(&mut self, arg: &str) -> Step {
        if arg.is_empty() {
            return Step::Reply(Reply::new(501, "5.5.4", "Syntax: LHLO hostname"));
        }
        // Like EHLO, LHLO starts afresh (RFC 5321 §4.1.4).
        self.phase = Phase::Ready;
        Step::Reply(Reply {
            code: 250,
            lines: vec![
                self.rules.hostname.clone(),
                "PIPELINING".into(),
                "ENHANCEDSTATUSCODES".into(),
                "8BITMIME".into(),
                format!("SIZE {}", self.rules.max_message_bytes),
            ],
        })
    }

    fn mail(&mut self, arg: &str) -> Step {
        match self.phase {
            Phase::Greeted => return bad_sequence("Send LHLO first"),
            Phase::Mail(_) => return bad_sequence("Nested MAIL command"),
            Phase::Ready => {}
        }
        let Some(rest) = strip_prefix_ignore_case(arg, "FROM:") else {
            return Step::Reply(Reply::new(501, "5.5.4", "Syntax: MAIL FROM:<address>"));
        };
        let (sender, params) = match path(rest) {
            Ok(p) => p,
            Err(why) => return Step::Reply(Reply::new(501, "5.1.7", why)),
        };
        for param in params.split_ascii_whitespace() {
            let (key, value) = param.split_once('=').unwrap_or((param, ""));
            match key.to_ascii_uppercase().as_str() {
                "SIZE" => match value.parse::<u64>() {
                    Ok(n) if n > self.rules.max_message_bytes as u64 => {
                        return Step::Reply(Reply::new(
                            552,
                            "5.3.4",
                            "Message size exceeds the fixed maximum message size",
                        ));
                    }
                    Ok(_) => {}
                    Err(_) => {
                        return Step::Reply(Reply::new(501, "5.5.4", "Bad SIZE parameter"));
                    }
                },
                "BODY"
                    if value.eq_ignore_ascii_case("7BIT")
                        || value.eq_ignore_ascii_case("8BITMIME") => {}
                _ => {
                    return Step::Reply(Reply::new(
                        555,
                        "5.5.4",
                        "MAIL FROM parameter not recognized",
                    ));
                }
            }
        }
        self.phase = Phase::Mail(Envelope {
            sender,
            recipients: Vec::new(),
        });
        Step::Reply(Reply::new(250, "2.1.0", "Ok"))
    }

    fn rcpt(&mut self, arg: &str) -> Step {
        let rules = self.rules.clone();
        let envelope = match &mut self.phase {
            Phase::Mail(envelope) => envelope,
            _ => return bad_sequence("Send MAIL first"),
        };
        let Some(rest) = strip_prefix_ignore_case(arg, "TO:") else {
            return Step::Reply(Reply::new(501, "5.5.4", "Syntax: RCPT TO:<address>"));
        };
        let (rcpt, params) = match path(rest) {
            Ok(p) => p,
            Err(why) => return Step::Reply(Reply::new(501, "5.1.3", why)),
        };
        if rcpt.is_empty() {
            return Step::Reply(Reply::new(501, "5.1.3", "A recipient cannot be empty"));
        }
        if !params.trim().is_empty() {
            return Step::Reply(Reply::new(
                555,
                "5.5.4",
                "RCPT TO parameters not recognized",
            ));
        }
        if !rules.is_ours(&rcpt) {
            return Step::Reply(Reply::new(
                550,
                "5.1.1",
                format!("<{rcpt}>: no such mailbox at this desk"),
            ));
        }
        if envelope.recipients.len() >= MAX_RECIPIENTS {
            return Step::Reply(Reply::new(452, "4.5.3", "Too many recipients"));
        }
        envelope.recipients.push(rcpt);
        Step::Reply(Reply::new(250, "2.1.5", "Ok"))
    }

    fn data(&mut self, arg: &str) -> Step {
        if !arg.is_empty() {
            return Step::Reply(Reply::new(501, "5.5.4", "No argument expected"));
        }
        match &self.phase {
            Phase::Mail(envelope) if !envelope.recipients.is_empty() => Step::Data(Reply::plain(
                354,
                "Start mail input; end with <CRLF>.<CRLF>",
            )),
            Phase::Mail(_) => bad_sequence("No valid recipients"),
            _ => bad_sequence("Send MAIL first"),
        }
    }
}

fn bad_sequence(text: &str) -> Step {
    Step::Reply(Reply::new(503, "5.5.1", text))
}

fn strip_prefix_ignore_case<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
    let head = text.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| text[prefix.len()..].trim_start())
}

/// `<address> params`: the address without `<>` (and without a source route), and
/// what follows. Only printable ASCII is taken (no SMTPUTF8 is offered).
fn path(text: &str) -> Result<(String, &str), &'static str> {
    let inner = text
        .strip_prefix('<')
        .ok_or("Syntax: the address must be in <>")?;
    let mut quoted = false;
    let mut escaped = false;
    let mut end = None;
    for (i, c) in inner.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            '>' if !quoted => {
                end = Some(i);
                break;
            }
            _ => {}
        }
    }
    let end = end.ok_or("Syntax: missing >")?;
    let address = &inner[..end];
    let params = &inner[end + 1..];
    if !params.is_empty() && !params.starts_with(' ') {
        return Err("Syntax: a space must follow >");
    }
    if address.bytes().any(|b| !(0x20..0x7f).contains(&b)) {
        return Err("The address must be printable ASCII");
    }
    // `<@relay1,@relay2:user@example.com>`: the route is obsolete; keep the mailbox.
    let address = match address.strip_prefix('@') {
        Some(route) => route
            .split_once(':')
            .map(|(_, mailbox)| mailbox)
            .ok_or("Syntax: bad source route")?,
        None => address,
    };
    if address.contains(' ') && !address.contains('"') {
        return Err("Syntax: no spaces in an address");
    }
    Ok((address.to_string(), params))
}

/// Reads the text after `DATA`: undoes dot-stuffing, stops at the line holding a
/// single dot, and keeps at most `limit` bytes (the rest is read and dropped, so the
/// conversation can go on with a `552`). Lines are kept as they came (CRLF).
#[derive(Debug)]
pub struct DataReader {
    message: Vec<u8>,
    limit: usize,
    received: usize,
    state: DataState,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DataState {
    LineStart,
    /// A line began with a dot.
    Dot,
    /// A line began with a dot and a CR.
    DotCr,
    InLine,
}

impl DataReader {
    /// A reader whose message starts with `prefix` (not counted against `limit`).
    pub fn new(prefix: Vec<u8>, limit: usize) -> DataReader {
        DataReader {
            message: prefix,
            limit,
            received: 0,
            state: DataState::LineStart,
        }
    }

    /// Takes what `input` holds of the message; returns how many bytes were used and
    /// whether the end-of-data line was among them (bytes after it are not used).
    pub fn feed(&mut self, input: &[u8]) -> (usize, bool) {
        let mut i = 0;
        while i < input.len() {
            match self.state {
                DataState::InLine => match input[i..].iter().position(|&b| b == b'\n') {
                    Some(n) => {
                        self.push(&input[i..=i + n]);
                        i += n + 1;
                        self.state = DataState::LineStart;
                    }
                    None => {
                        self.push(&input[i..]);
                        i = input.len();
                    }
                },
                DataState::LineStart if input[i] == b'.' => {
                    self.state = DataState::Dot;
                    i += 1;
                }
                DataState::LineStart => self.state = DataState::InLine,
                DataState::Dot => match input[i] {
                    b'\r' => {
                        self.state = DataState::DotCr;
                        i += 1;
                    }
                    // A bare LF ends the data too: lenient, as the line ends above are.
                    b'\n' => return (i + 1, true),
                    // The dot was stuffing: dropped; the byte belongs to the line.
                    _ => self.state = DataState::InLine,
                },
                DataState::DotCr if input[i] == b'\n' => return (i + 1, true),
                DataState::DotCr => {
                    self.push(b"\r");
                    self.state = DataState::InLine;
                }
            }
        }
        (i, false)
    }

    fn push(&mut self, bytes: &[u8]) {
        self.received = self.received.saturating_add(bytes.len());
        if self.received <= self.limit {
            self.message.extend_from_slice(bytes);
        } else if !self.message.is_empty() {
            // Over the limit: the rest is only counted, and what was kept is freed.
            self.message = Vec::new();
        }
    }

    /// Bytes of message text received so far (without the prefix).
    pub fn received(&self) -> usize {
        self.received
    }

    /// The message (prefix first), or `None` when it was over the limit.
    pub fn finish(self) -> Option<Vec<u8>> {
        (self.received <= self.limit).then_some(self.message)
    }
}

#[cfg(test)]
mod tests;
