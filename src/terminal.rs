//! Text from mail on a terminal: control characters and bidi overrides a sender put
//! in a subject, a name or a body are shown as escapes, never acted on, in command
//! output and in the logs. Owns the escaping and a writer that applies it; what is
//! printed, and how, is left to the commands and to telemetry.

use std::borrow::Cow;
use std::io::Write;

/// How text is laid out where it is printed, which decides what becomes of its line
/// breaks in [`escape_for_terminal`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextLayout {
    /// A field printed on one line (a subject, a name, an address, a log field): line
    /// breaks and tabs are escaped too, so a value cannot fake a line of its own.
    OneLine,
    /// Text printed as lines (a message body, a raw message): `\n`, `\r\n` and `\t`
    /// stay; a lone `\r`, which would let a line overwrite itself, does not.
    Lines,
    /// JSON text: what JSON encoders leave raw inside strings (DEL, C1 controls, bidi
    /// controls) becomes a JSON escape (`\u202e`), so the document keeps its values.
    /// The C0 controls are escaped by the encoder; outside strings they are whitespace.
    Json,
}

/// Text from mail, made safe to show on a terminal: control characters (C0, DEL, C1),
/// the Unicode bidirectional embeddings, overrides and isolates (U+202A-U+202E,
/// U+2066-U+2069) and the line and paragraph separators are shown as escapes (`\x1b`,
/// `\u{9b}`, `\u{202e}`). A sender can then neither send the terminal commands
/// (clear the screen, set the title, rewrite a line) nor reorder what it displays.
/// Borrowed when nothing needs escaping, the usual case. Backslashes are left alone:
/// this is for reading, not for reading back.
pub fn escape_for_terminal(text: &str, layout: TextLayout) -> Cow<'_, str> {
    use std::fmt::Write as _;
    let mut escaped: Option<String> = None;
    let mut copied = 0;
    let mut chars = text.char_indices().peekable();
    while let Some((at, c)) = chars.next() {
        let kept = match (c, layout) {
            ('\n' | '\t', TextLayout::Lines) => true,
            ('\r', TextLayout::Lines) => chars.peek().is_some_and(|(_, next)| *next == '\n'),
            (c, TextLayout::Json) => (c as u32) < 0x7f || !is_terminal_control(c),
            (c, _) => !is_terminal_control(c),
        };
        if kept {
            continue;
        }
        let out = escaped.get_or_insert_with(|| String::with_capacity(text.len() + 16));
        out.push_str(&text[copied..at]);
        copied = at + c.len_utf8();
        let _ = match (c, layout) {
            (c, TextLayout::Json) => write!(out, "\\u{:04x}", c as u32),
            ('\n', _) => write!(out, "\\n"),
            ('\r', _) => write!(out, "\\r"),
            ('\t', _) => write!(out, "\\t"),
            (c, _) if (c as u32) < 0x80 => write!(out, "\\x{:02x}", c as u32),
            (c, _) => write!(out, "\\u{{{:x}}}", c as u32),
        };
    }
    match escaped {
        None => Cow::Borrowed(text),
        Some(mut out) => {
            out.push_str(&text[copied..]);
            Cow::Owned(out)
        }
    }
}

/// Whether a terminal would act on `c` rather than show it: C0, DEL and C1 controls,
/// bidi embeddings, overrides and isolates, line and paragraph separators.
fn is_terminal_control(c: char) -> bool {
    c.is_control() || is_bidi_control(c) || matches!(c, '\u{2028}' | '\u{2029}')
}

/// Bidi embeddings, overrides and isolates (U+202A-U+202E, U+2066-U+2069): they let
/// a sender reorder what a terminal or a mail client shows.
pub fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// Passes everything written through [`escape_for_terminal`], a line at a time: put
/// around the standard output of the commands that print for people (as
/// [`TextLayout::Lines`]) or JSON (as [`TextLayout::Json`]), so mail-derived text that
/// a command prints without escaping it itself still reaches the terminal inert.
/// Whatever is left of a line is written on `flush` and on drop.
pub struct TerminalSafeWriter<W: Write> {
    inner: W,
    layout: TextLayout,
    /// Bytes after the last newline written, kept until their line is complete so that
    /// no character or `\r\n` is split.
    pending: Vec<u8>,
}

impl<W: Write> TerminalSafeWriter<W> {
    pub fn new(inner: W, layout: TextLayout) -> Self {
        TerminalSafeWriter {
            inner,
            layout,
            pending: Vec::new(),
        }
    }

    fn write_escaped(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        if bytes.is_empty() {
            return Ok(());
        }
        let text = String::from_utf8_lossy(bytes);
        self.inner
            .write_all(escape_for_terminal(&text, self.layout).as_bytes())
    }
}

impl<W: Write> Write for TerminalSafeWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.pending.extend_from_slice(buf);
        if let Some(end) = self.pending.iter().rposition(|b| *b == b'\n') {
            let lines: Vec<u8> = self.pending.drain(..=end).collect();
            self.write_escaped(&lines)?;
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        let rest = std::mem::take(&mut self.pending);
        self.write_escaped(&rest)?;
        self.inner.flush()
    }
}

impl<W: Write> Drop for TerminalSafeWriter<W> {
    fn drop(&mut self) {
        let _ = self.flush();
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::{TerminalSafeWriter, TextLayout, escape_for_terminal};

    const EVIL: &str = "a\x1b[2J\x1b]0;t\x07\u{9b}1m\u{202e}b\u{2066}\x7f";

    #[test]
    fn controls_and_bidi_overrides_are_shown_as_escapes() {
        assert_eq!(
            escape_for_terminal(EVIL, TextLayout::OneLine),
            "a\\x1b[2J\\x1b]0;t\\x07\\u{9b}1m\\u{202e}b\\u{2066}\\x7f"
        );
        assert_eq!(
            escape_for_terminal(EVIL, TextLayout::Json),
            "a\x1b[2J\x1b]0;t\x07\\u009b1m\\u202eb\\u2066\\u007f"
        );
        // Plain text, accents, CJK and emoji are borrowed as they are.
        for plain in ["Drucker geht nicht", "Crème brûlée", "打印机坏了 🙂", ""] {
            assert!(matches!(
                escape_for_terminal(plain, TextLayout::OneLine),
                std::borrow::Cow::Borrowed(_)
            ));
        }
    }

    #[test]
    fn line_breaks_stay_only_where_text_is_printed_as_lines() {
        let text = "one\r\ntwo\tcols\rover\nthree\u{2028}";
        assert_eq!(
            escape_for_terminal(text, TextLayout::OneLine),
            "one\\r\\ntwo\\tcols\\rover\\nthree\\u{2028}"
        );
        assert_eq!(
            escape_for_terminal(text, TextLayout::Lines),
            "one\r\ntwo\tcols\\rover\nthree\\u{2028}"
        );
    }

    #[test]
    fn the_writer_escapes_whole_lines_however_they_are_written() {
        let mut out = Vec::new();
        {
            let mut w = TerminalSafeWriter::new(&mut out, TextLayout::Lines);
            // A character and a CRLF split across writes are not broken apart.
            let bytes = "x\u{202e}y\r\nz\x1b".as_bytes();
            for b in bytes {
                w.write_all(&[*b]).unwrap();
            }
        }
        assert_eq!(String::from_utf8(out).unwrap(), "x\\u{202e}y\r\nz\\x1b");
    }
}
