//! Reading an mbox file (for `import mbox`): messages one after another, each
//! starting at a line `From sender date`. Handles mboxo/mboxrd quoting (a body line
//! `>From ` was `From ` before it was stored) and files with CRLF line endings.
//! Reads a line at a time, so memory is bounded by the largest message.

use std::io::BufRead;

use anyhow::{Context, Result};

/// The messages of an mbox, in order, each without its `From ` separator line.
pub struct MboxReader<R> {
    input: R,
    /// The separator line of the next message, once read.
    started: bool,
    line: Vec<u8>,
    done: bool,
}

impl<R: BufRead> MboxReader<R> {
    pub fn new(input: R) -> Self {
        MboxReader {
            input,
            started: false,
            line: Vec::new(),
            done: false,
        }
    }

    /// The next message's bytes, `None` at the end.
    pub fn next_message(&mut self) -> Result<Option<Vec<u8>>> {
        if self.done {
            return Ok(None);
        }
        if !self.started {
            // Skip anything before the first separator (there should be nothing).
            loop {
                self.line.clear();
                if self
                    .input
                    .read_until(b'\n', &mut self.line)
                    .context("reading the mbox")?
                    == 0
                {
                    self.done = true;
                    return Ok(None);
                }
                if is_separator(&self.line) {
                    self.started = true;
                    break;
                }
            }
        }
        let mut message = Vec::new();
        loop {
            self.line.clear();
            if self
                .input
                .read_until(b'\n', &mut self.line)
                .context("reading the mbox")?
                == 0
            {
                self.done = true;
                break;
            }
            if is_separator(&self.line) {
                break;
            }
            message.extend_from_slice(unquote(&self.line));
        }
        // The blank line mbox writers put before the next separator is not the
        // message's: drop one trailing empty line.
        if message.ends_with(b"\r\n\r\n") {
            message.truncate(message.len() - 2);
        } else if message.ends_with(b"\n\n") {
            message.truncate(message.len() - 1);
        }
        Ok(Some(message))
    }
}

fn is_separator(line: &[u8]) -> bool {
    line.starts_with(b"From ")
}

/// `>From ` → `From `, `>>From ` → `>From ` (mboxrd); other lines unchanged.
fn unquote(line: &[u8]) -> &[u8] {
    let quotes = line.iter().take_while(|&&b| b == b'>').count();
    if quotes > 0 && line[quotes..].starts_with(b"From ") {
        &line[1..]
    } else {
        line
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(text: &str) -> Vec<String> {
        let mut r = MboxReader::new(text.as_bytes());
        let mut out = Vec::new();
        while let Some(m) = r.next_message().unwrap() {
            out.push(String::from_utf8(m).unwrap());
        }
        out
    }

    #[test]
    fn splits_messages_and_unquotes_from_lines() {
        let mbox = "From a@x Mon Jan  1 00:00:00 2024\nSubject: one\n\nHello\n>From here on\n>>From quoted\n\nFrom b@x Mon Jan  1 00:00:01 2024\nSubject: two\n\nBye\n";
        let got = all(mbox);
        assert_eq!(got.len(), 2);
        assert_eq!(
            got[0],
            "Subject: one\n\nHello\nFrom here on\n>From quoted\n"
        );
        assert_eq!(got[1], "Subject: two\n\nBye\n");
        assert!(all("").is_empty());
        let crlf =
            all("From a@x Mon\r\nSubject: c\r\n\r\nbody\r\n\r\nFrom b@x Tue\r\nSubject: d\r\n\r\n");
        assert_eq!(crlf[0], "Subject: c\r\n\r\nbody\r\n");
        assert_eq!(crlf.len(), 2);
    }
}
