//! Deterministic mutations of raw mail for the bad-input property test
//! (`tests/mutation.rs`, `benches/mutation.rs`): truncation, byte flips, NUL bytes,
//! line-ending mixes, wrong and bogus charsets, broken MIME boundaries and nesting,
//! mangled headers (colons deleted, very long lines, duplicate Message-IDs, garbage
//! encoded words, huge References, thousands of fields), broken transfer encodings and
//! deeply nested HTML.
//!
//! Each mutator has a name and draws every choice from the `fastrand::Rng` it is
//! given, so a case is reproduced from its seed alone. This module owns only the
//! bytes; ingesting them and checking the outcome is `mutation_run.rs`'s job.
//!
//! Use it with `#[path = "support/mutate.rs"] mod mutate;` (or through
//! `mutation_run.rs`, which includes it).

#![allow(dead_code)]

use fastrand::Rng;

/// One named way of breaking a message.
pub struct Mutator {
    pub name: &'static str,
    apply: fn(&mut Rng, &[u8]) -> Vec<u8>,
}

impl Mutator {
    pub fn apply(&self, rng: &mut Rng, raw: &[u8]) -> Vec<u8> {
        (self.apply)(rng, raw)
    }
}

/// Every mutator, in a fixed order (a case's seed picks from this list).
pub const MUTATORS: &[Mutator] = &[
    Mutator {
        name: "truncate",
        apply: truncate,
    },
    Mutator {
        name: "flip_bytes",
        apply: flip_bytes,
    },
    Mutator {
        name: "nul_bytes",
        apply: nul_bytes,
    },
    Mutator {
        name: "mixed_line_endings",
        apply: mixed_line_endings,
    },
    Mutator {
        name: "utf8_declared_on_latin1",
        apply: utf8_declared_on_latin1,
    },
    Mutator {
        name: "bogus_charset",
        apply: bogus_charset,
    },
    Mutator {
        name: "utf16_declared_on_ascii",
        apply: utf16_declared_on_ascii,
    },
    Mutator {
        name: "boundary_changed",
        apply: boundary_changed,
    },
    Mutator {
        name: "boundary_removed",
        apply: boundary_removed,
    },
    Mutator {
        name: "closing_boundary_dropped",
        apply: closing_boundary_dropped,
    },
    Mutator {
        name: "boundary_lines_duplicated",
        apply: boundary_lines_duplicated,
    },
    Mutator {
        name: "multipart_nested",
        apply: multipart_nested,
    },
    Mutator {
        name: "header_colon_deleted",
        apply: header_colon_deleted,
    },
    Mutator {
        name: "long_header_line",
        apply: long_header_line,
    },
    Mutator {
        name: "message_id_duplicated",
        apply: message_id_duplicated,
    },
    Mutator {
        name: "garbage_encoded_words",
        apply: garbage_encoded_words,
    },
    Mutator {
        name: "huge_references",
        apply: huge_references,
    },
    Mutator {
        name: "subject_letter_run",
        apply: subject_letter_run,
    },
    Mutator {
        name: "many_header_fields",
        apply: many_header_fields,
    },
    Mutator {
        name: "header_body_separator_removed",
        apply: separator_removed,
    },
    Mutator {
        name: "transfer_encoding_broken",
        apply: transfer_encoding_broken,
    },
    Mutator {
        name: "chunk_spliced",
        apply: chunk_spliced,
    },
    Mutator {
        name: "html_deeply_nested",
        apply: html_deeply_nested,
    },
    Mutator {
        name: "address_garbage",
        apply: address_garbage,
    },
    Mutator {
        name: "date_garbage",
        apply: date_garbage,
    },
    Mutator {
        name: "ticket_token_subject",
        apply: ticket_token_subject,
    },
    Mutator {
        name: "many_parts",
        apply: many_parts,
    },
    Mutator {
        name: "deep_quotes",
        apply: deep_quotes,
    },
];

/// Applies one to three mutators (one most often) and returns the bytes with the names
/// applied, in order.
pub fn mutate(rng: &mut Rng, source: &[u8]) -> (Vec<u8>, Vec<&'static str>) {
    let rounds = match rng.u8(0..10) {
        0..=5 => 1,
        6..=8 => 2,
        _ => 3,
    };
    let mut bytes = source.to_vec();
    let mut names = Vec::with_capacity(rounds);
    for _ in 0..rounds {
        let m = &MUTATORS[rng.usize(0..MUTATORS.len())];
        bytes = m.apply(rng, &bytes);
        names.push(m.name);
    }
    (bytes, names)
}

// ---- helpers over raw bytes -------------------------------------------------------

/// The line ending the message mostly uses.
fn eol(raw: &[u8]) -> &'static [u8] {
    if raw.windows(2).any(|w| w == b"\r\n") {
        b"\r\n"
    } else {
        b"\n"
    }
}

/// Lines as (start, end without line ending, start of the next line).
fn lines(raw: &[u8]) -> Vec<(usize, usize, usize)> {
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < raw.len() {
        let (end, next) = match raw[pos..].iter().position(|&b| b == b'\n') {
            Some(i) => {
                let nl = pos + i;
                let end = if nl > pos && raw[nl - 1] == b'\r' {
                    nl - 1
                } else {
                    nl
                };
                (end, nl + 1)
            }
            None => (raw.len(), raw.len()),
        };
        out.push((pos, end, next));
        pos = next;
    }
    out
}

/// Where a header may be inserted: after a leading mbox `From ` line, else at 0.
fn head_insert_pos(raw: &[u8]) -> usize {
    if raw.starts_with(b"From ") {
        lines(raw).first().map_or(0, |l| l.2)
    } else {
        0
    }
}

/// The top header block's lines (up to the first empty line), as in [`lines`].
fn header_lines(raw: &[u8]) -> Vec<(usize, usize, usize)> {
    let start = head_insert_pos(raw);
    lines(raw)
        .into_iter()
        .filter(|l| l.0 >= start)
        .take_while(|l| l.0 != l.1)
        .collect()
}

/// End of the top header block (the start of the blank separator line, or the end).
fn header_end(raw: &[u8]) -> usize {
    header_lines(raw)
        .last()
        .map_or(head_insert_pos(raw), |l| l.2)
}

fn starts_with_ci(line: &[u8], prefix: &[u8]) -> bool {
    line.len() >= prefix.len() && line[..prefix.len()].eq_ignore_ascii_case(prefix)
}

/// Every position of `needle` in `hay`, ignoring ASCII case, without overlaps (so the
/// ranges can be cut out back to front).
fn find_all_ci(hay: &[u8], needle: &[u8]) -> Vec<usize> {
    let mut out = Vec::new();
    if needle.is_empty() {
        return out;
    }
    let mut i = 0;
    while i + needle.len() <= hay.len() {
        if hay[i..i + needle.len()].eq_ignore_ascii_case(needle) {
            out.push(i);
            i += needle.len();
        } else {
            i += 1;
        }
    }
    out
}

/// The top-level header `name` removed (with its folded lines) and `name: value` put
/// at the top of the header block.
fn set_header(raw: &[u8], name: &str, value: &[u8]) -> Vec<u8> {
    let mut out = remove_header(raw, name);
    let pos = head_insert_pos(&out);
    let mut line = Vec::with_capacity(name.len() + value.len() + 4);
    line.extend_from_slice(name.as_bytes());
    line.extend_from_slice(b": ");
    line.extend_from_slice(value);
    line.extend_from_slice(eol(raw));
    out.splice(pos..pos, line);
    out
}

/// Adds `name: value` at the top without removing anything.
fn add_header(raw: &[u8], name: &str, value: &[u8]) -> Vec<u8> {
    let mut out = raw.to_vec();
    let pos = head_insert_pos(raw);
    let mut line = Vec::new();
    line.extend_from_slice(name.as_bytes());
    line.extend_from_slice(b": ");
    line.extend_from_slice(value);
    line.extend_from_slice(eol(raw));
    out.splice(pos..pos, line);
    out
}

/// The top-level header `name` removed, with its folded continuation lines.
fn remove_header(raw: &[u8], name: &str) -> Vec<u8> {
    let prefix = format!("{name}:");
    let mut cut: Vec<(usize, usize)> = Vec::new();
    let mut in_field = false;
    for (start, end, next) in header_lines(raw) {
        let line = &raw[start..end];
        if matches!(line.first(), Some(b' ' | b'\t')) {
            if in_field {
                cut.push((start, next));
            }
            continue;
        }
        in_field = starts_with_ci(line, prefix.as_bytes());
        if in_field {
            cut.push((start, next));
        }
    }
    let mut out = raw.to_vec();
    for (s, e) in cut.into_iter().rev() {
        out.drain(s..e);
    }
    out
}

/// The value of the first top-level header `name` (first physical line only).
fn header_value(raw: &[u8], name: &str) -> Option<Vec<u8>> {
    let prefix = format!("{name}:");
    header_lines(raw).into_iter().find_map(|(s, e, _)| {
        let line = &raw[s..e];
        starts_with_ci(line, prefix.as_bytes()).then(|| line[prefix.len()..].trim_ascii().to_vec())
    })
}

/// Boundary parameter values found anywhere in the message (quoted or not).
fn boundaries(raw: &[u8]) -> Vec<Vec<u8>> {
    let mut out: Vec<Vec<u8>> = Vec::new();
    for pos in find_all_ci(raw, b"boundary=") {
        let rest = &raw[pos + 9..];
        let value: Vec<u8> = if rest.first() == Some(&b'"') {
            rest[1..]
                .iter()
                .take_while(|&&b| b != b'"' && b != b'\n')
                .copied()
                .collect()
        } else {
            rest.iter()
                .take_while(|&&b| !matches!(b, b';' | b' ' | b'\t' | b'\r' | b'\n'))
                .copied()
                .collect()
        };
        if !value.is_empty() && !out.contains(&value) {
            out.push(value);
        }
    }
    out
}

/// Ranges of `charset=` parameter values (quoted values without their quotes).
fn charset_values(raw: &[u8]) -> Vec<(usize, usize)> {
    find_all_ci(raw, b"charset=")
        .into_iter()
        .map(|pos| {
            let start = pos + 8;
            let rest = &raw[start..];
            if rest.first() == Some(&b'"') {
                let len = rest[1..]
                    .iter()
                    .take_while(|&&b| b != b'"' && b != b'\n')
                    .count();
                (start + 1, start + 1 + len)
            } else {
                let len = rest
                    .iter()
                    .take_while(|&&b| !matches!(b, b';' | b' ' | b'\t' | b'\r' | b'\n' | b'"'))
                    .count();
                (start, start + len)
            }
        })
        .collect()
}

/// Every charset value replaced by one chosen per occurrence; a message without any
/// gets a top-level `Content-Type: text/plain; charset=...`.
fn replace_charsets(rng: &mut Rng, raw: &[u8], pick: &dyn Fn(&mut Rng) -> Vec<u8>) -> Vec<u8> {
    let ranges = charset_values(raw);
    if ranges.is_empty() {
        let mut value = b"text/plain; charset=".to_vec();
        value.extend(pick(rng));
        return set_header(raw, "Content-Type", &value);
    }
    let mut out = raw.to_vec();
    for (s, e) in ranges.into_iter().rev() {
        out.splice(s..e, pick(rng));
    }
    out
}

/// A random position inside the body (after the header block), or the end.
fn body_pos(rng: &mut Rng, raw: &[u8]) -> usize {
    let start = header_end(raw).min(raw.len());
    rng.usize(start..=raw.len())
}

/// A size between `lo` and `hi`, spread evenly over the orders of magnitude: most
/// cases stay small (and cheap), some reach `hi`.
fn log_uniform(rng: &mut Rng, lo: usize, hi: usize) -> usize {
    let (l, h) = ((lo.max(1) as f64).ln(), (hi.max(lo) as f64).ln());
    ((l + rng.f64() * (h - l)).exp() as usize).clamp(lo, hi)
}

fn random_id(rng: &mut Rng) -> String {
    format!("m{}.{}@mutation.test", rng.u32(..), rng.u16(..))
}

// ---- the mutators -----------------------------------------------------------------

fn truncate(rng: &mut Rng, raw: &[u8]) -> Vec<u8> {
    raw[..rng.usize(0..=raw.len())].to_vec()
}

fn flip_bytes(rng: &mut Rng, raw: &[u8]) -> Vec<u8> {
    let mut out = raw.to_vec();
    if out.is_empty() {
        return out;
    }
    for _ in 0..rng.usize(1..=16) {
        // Half the flips land in the header block, where they matter most.
        let end = if rng.bool() {
            header_end(&out).max(1)
        } else {
            out.len()
        };
        let i = rng.usize(0..end.min(out.len()));
        out[i] ^= rng.u8(1..=255);
    }
    out
}

fn nul_bytes(rng: &mut Rng, raw: &[u8]) -> Vec<u8> {
    let mut out = raw.to_vec();
    for _ in 0..rng.usize(1..=8) {
        let end = if rng.bool() {
            header_end(&out)
        } else {
            out.len()
        };
        let i = rng.usize(0..=end.min(out.len()));
        let run = rng.usize(1..=4);
        out.splice(i..i, std::iter::repeat_n(0u8, run));
    }
    out
}

fn mixed_line_endings(rng: &mut Rng, raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len() + raw.len() / 20);
    let endings: [&[u8]; 4] = [b"\r\n", b"\n", b"\r", b"\r\r\n"];
    let mut pos = 0;
    for (start, end, next) in lines(raw) {
        debug_assert_eq!(start, pos);
        out.extend_from_slice(&raw[start..end]);
        if next > end {
            if rng.u8(0..3) == 0 {
                out.extend_from_slice(endings[rng.usize(0..endings.len())]);
            } else {
                out.extend_from_slice(&raw[end..next]);
            }
        }
        pos = next;
    }
    out
}

fn utf8_declared_on_latin1(rng: &mut Rng, raw: &[u8]) -> Vec<u8> {
    let mut out = replace_charsets(rng, raw, &|_| b"utf-8".to_vec());
    // Latin-1 bytes (invalid as UTF-8) in the body and in the subject.
    let samples: [&[u8]; 4] = [
        b"caf\xe9",
        b"Gr\xfc\xdfe",
        b"\xe0 bient\xf4t",
        b"\xff\xfe\xfd",
    ];
    for _ in 0..rng.usize(1..=5) {
        let pos = body_pos(rng, &out);
        out.splice(
            pos..pos,
            samples[rng.usize(0..samples.len())].iter().copied(),
        );
    }
    let mut subject = header_value(&out, "Subject").unwrap_or_default();
    subject.extend_from_slice(b" r\xe9sum\xe9 \xa0na\xefve");
    set_header(&out, "Subject", &subject)
}

fn bogus_charset(rng: &mut Rng, raw: &[u8]) -> Vec<u8> {
    replace_charsets(rng, raw, &|rng| {
        let names: [&[u8]; 10] = [
            b"x-unknown",
            b"",
            b"utf-99",
            b"iso-8859-99",
            b"unicode-1-1-utf-7",
            b"windows-65001",
            b"\xff\xfe",
            b"\"",
            b"ks_c_5601-1987",
            b"gb18030",
        ];
        if rng.u8(0..8) == 0 {
            // A very long name.
            vec![b'x'; rng.usize(100..5000)]
        } else {
            names[rng.usize(0..names.len())].to_vec()
        }
    })
}

fn utf16_declared_on_ascii(rng: &mut Rng, raw: &[u8]) -> Vec<u8> {
    replace_charsets(rng, raw, &|rng| {
        let names: [&[u8]; 6] = [
            b"utf-16",
            b"utf-16le",
            b"UTF-16BE",
            b"utf-32",
            b"ucs-2",
            b"utf-7",
        ];
        names[rng.usize(0..names.len())].to_vec()
    })
}

fn boundary_changed(rng: &mut Rng, raw: &[u8]) -> Vec<u8> {
    let bs = boundaries(raw);
    if bs.is_empty() {
        return multipart_nested(rng, raw);
    }
    let b = &bs[rng.usize(0..bs.len())];
    // Only the parameter changes: the delimiter lines in the body no longer match.
    let mut out = raw.to_vec();
    for pos in find_all_ci(raw, b"boundary=").into_iter().rev() {
        let rest = &raw[pos + 9..];
        let quoted = rest.first() == Some(&b'"');
        let value_start = pos + 9 + usize::from(quoted);
        if raw[value_start..].starts_with(b) {
            let replacement: Vec<u8> = match rng.u8(0..4) {
                0 => b.iter().rev().copied().collect(),
                1 => [b.as_slice(), b"x"].concat(),
                2 => b.get(..b.len() / 2).unwrap_or_default().to_vec(),
                _ => b"--".to_vec(),
            };
            out.splice(value_start..value_start + b.len(), replacement);
        }
    }
    out
}

fn boundary_removed(rng: &mut Rng, raw: &[u8]) -> Vec<u8> {
    let positions = find_all_ci(raw, b"boundary=");
    if positions.is_empty() {
        return truncate(rng, raw);
    }
    let pos = positions[rng.usize(0..positions.len())];
    let rest = &raw[pos + 9..];
    let len = if rest.first() == Some(&b'"') {
        1 + rest[1..]
            .iter()
            .take_while(|&&b| b != b'"' && b != b'\n')
            .count()
            + 1
    } else {
        rest.iter()
            .take_while(|&&b| !matches!(b, b';' | b' ' | b'\t' | b'\r' | b'\n'))
            .count()
    };
    let end = (pos + 9 + len).min(raw.len());
    let mut out = raw.to_vec();
    out.drain(pos..end);
    out
}

fn closing_boundary_dropped(rng: &mut Rng, raw: &[u8]) -> Vec<u8> {
    let bs = boundaries(raw);
    if bs.is_empty() {
        return truncate(rng, raw);
    }
    let mut out = raw.to_vec();
    for b in &bs {
        let closing = [b"--".as_slice(), b, b"--"].concat();
        let found: Vec<usize> = find_all_ci(&out, &closing);
        for pos in found.into_iter().rev() {
            out.drain(pos..pos + closing.len());
        }
    }
    out
}

fn boundary_lines_duplicated(rng: &mut Rng, raw: &[u8]) -> Vec<u8> {
    let bs = boundaries(raw);
    if bs.is_empty() {
        return multipart_nested(rng, raw);
    }
    let e = eol(raw);
    let mut out = raw.to_vec();
    for b in &bs {
        let delim = [b"--".as_slice(), b].concat();
        let found = find_all_ci(&out, &delim);
        for pos in found.into_iter().rev() {
            if rng.bool() {
                let times = rng.usize(1..=50);
                let mut extra = Vec::new();
                for _ in 0..times {
                    extra.extend_from_slice(&delim);
                    extra.extend_from_slice(e);
                }
                out.splice(pos..pos, extra);
            }
        }
    }
    out
}

/// Wraps the message body in multipart levels, sometimes more than the parser's
/// nesting limit, sometimes all with the same boundary, sometimes never closed.
fn multipart_nested(rng: &mut Rng, raw: &[u8]) -> Vec<u8> {
    let e = eol(raw);
    let depth = if rng.u8(0..4) == 0 {
        rng.usize(20..=200)
    } else {
        rng.usize(1..=8)
    };
    let same = rng.bool();
    let close = rng.bool();
    let name = |i: usize| {
        if same {
            "nest".to_string()
        } else {
            format!("nest{i}")
        }
    };
    let head_end = header_end(raw);
    let body_start = lines(raw)
        .into_iter()
        .find(|l| l.0 == head_end)
        .map_or(raw.len(), |l| l.2);
    let mut out = remove_header(&raw[..head_end.min(raw.len())], "Content-Type");
    out.extend_from_slice(b"Content-Type: multipart/mixed; boundary=\"");
    out.extend_from_slice(name(0).as_bytes());
    out.extend_from_slice(b"\"");
    out.extend_from_slice(e);
    out.extend_from_slice(e);
    for i in 0..depth {
        out.extend_from_slice(format!("--{}", name(i)).as_bytes());
        out.extend_from_slice(e);
        out.extend_from_slice(
            format!(
                "Content-Type: multipart/mixed; boundary=\"{}\"",
                name(i + 1)
            )
            .as_bytes(),
        );
        out.extend_from_slice(e);
        out.extend_from_slice(e);
    }
    out.extend_from_slice(format!("--{}", name(depth)).as_bytes());
    out.extend_from_slice(e);
    out.extend_from_slice(b"Content-Type: text/plain; charset=utf-8");
    out.extend_from_slice(e);
    out.extend_from_slice(e);
    out.extend_from_slice(raw.get(body_start..).unwrap_or_default());
    if close {
        for i in (0..=depth).rev() {
            out.extend_from_slice(e);
            out.extend_from_slice(format!("--{}--", name(i)).as_bytes());
        }
        out.extend_from_slice(e);
    }
    out
}

fn header_colon_deleted(rng: &mut Rng, raw: &[u8]) -> Vec<u8> {
    let hl = header_lines(raw);
    if hl.is_empty() {
        return flip_bytes(rng, raw);
    }
    let mut out = raw.to_vec();
    let mut removed = 0;
    for (s, e, _) in hl {
        if rng.u8(0..3) == 0
            && let Some(i) = raw[s..e].iter().position(|&b| b == b':')
        {
            out.remove(s + i - removed);
            removed += 1;
        }
    }
    out
}

fn long_header_line(rng: &mut Rng, raw: &[u8]) -> Vec<u8> {
    let len = [900usize, 10_000, 60_000, 70_000, 300_000][rng.usize(0..5)];
    let value: Vec<u8> = match rng.u8(0..3) {
        0 => (0..len).map(|i| b"abcdefgh ,;<>@"[i % 14]).collect(),
        1 => vec![b'x'; len],
        _ => (0..len).map(|_| rng.u8(b' '..=b'~')).collect(),
    };
    let names = ["X-Long", "Subject", "To", "Message-ID", "Content-Type"];
    let name = names[rng.usize(0..names.len())];
    set_header(raw, name, &value)
}

fn message_id_duplicated(rng: &mut Rng, raw: &[u8]) -> Vec<u8> {
    match rng.u8(0..3) {
        // A second, different Message-ID.
        0 => add_header(
            raw,
            "Message-ID",
            format!("<{}>", random_id(rng)).as_bytes(),
        ),
        // The same one twice.
        1 => {
            let id = header_value(raw, "Message-ID")
                .unwrap_or_else(|| format!("<{}>", random_id(rng)).into_bytes());
            add_header(&add_header(raw, "Message-ID", &id), "Message-ID", &id)
        }
        // An id from a small shared pool: different messages collide on it.
        _ => set_header(
            raw,
            "Message-ID",
            format!("<pool{}@mutation.test>", rng.u8(0..4)).as_bytes(),
        ),
    }
}

fn garbage_encoded_words(rng: &mut Rng, raw: &[u8]) -> Vec<u8> {
    let samples: [&[u8]; 10] = [
        b"=?utf-8?B?####?=",
        b"=?x-unknown?Q?caf=E9?=",
        b"=?utf-8?q?unterminated",
        b"=?=?=?=?",
        b"=?utf-8?B?/+/+/+/+?=",
        b"=?utf-8?B?wA==?= =?utf-8?B?gA==?=",
        b"=?utf-16?B?2D3YPQ==?=",
        b"=?iso-2022-jp?B?GyRCJCIbKEI?=",
        b"=??B??=",
        b"=?utf-8*en?Q?=ZZ=?=",
    ];
    let mut value = Vec::new();
    let words = if rng.u8(0..5) == 0 {
        rng.usize(100..2000)
    } else {
        rng.usize(1..5)
    };
    for _ in 0..words {
        value.extend_from_slice(samples[rng.usize(0..samples.len())]);
        value.push(b' ');
    }
    let name = ["Subject", "From", "To", "Content-Type"][rng.usize(0..4)];
    if name == "From" || name == "To" {
        value.extend_from_slice(b"<someone@example.test>");
    }
    if name == "Content-Type" {
        let mut ct = b"text/plain; name=\"".to_vec();
        ct.extend(value.iter().take(2000));
        ct.extend_from_slice(b"\"; charset=");
        ct.extend_from_slice(samples[rng.usize(0..samples.len())]);
        value = ct;
    }
    set_header(raw, name, value.trim_ascii_end())
}

/// A References header with up to 100,000 short ids (folded, so no line is over the
/// limit), one in ten a repeat: short ids make many ids per byte, which is where a
/// dedupe or lookup that is quadratic in the number of ids shows.
fn huge_references(rng: &mut Rng, raw: &[u8]) -> Vec<u8> {
    let n = log_uniform(rng, 100, 100_000);
    let tag = rng.u16(..);
    let e = eol(raw);
    let mut value = Vec::with_capacity(n * 16);
    for i in 0..n {
        if i > 0 {
            if i % 6 == 0 {
                value.extend_from_slice(e);
            }
            value.push(b' ');
        }
        let id = if i > 0 && rng.u8(0..10) == 0 {
            rng.usize(0..i)
        } else {
            i
        };
        value.extend_from_slice(format!("<{id:x}.{tag:x}@r>").as_bytes());
    }
    set_header(raw, "References", &value)
}

fn subject_letter_run(rng: &mut Rng, raw: &[u8]) -> Vec<u8> {
    let n = log_uniform(rng, 1_000, 60_000);
    let letter = [b'a', b'x', b'Z'][rng.usize(0..3)];
    let mut value = b"Re: ".to_vec();
    if rng.bool() {
        // The same run in UTF-8 (2-byte letters).
        value.extend("é".repeat(n / 2).as_bytes());
    } else {
        value.extend(std::iter::repeat_n(letter, n));
    }
    let mut out = set_header(raw, "Subject", &value);
    if rng.bool() {
        // And the body too.
        let pos = body_pos(rng, &out);
        out.splice(pos..pos, std::iter::repeat_n(letter, n));
    }
    out
}

fn many_header_fields(rng: &mut Rng, raw: &[u8]) -> Vec<u8> {
    let n = rng.usize(200..=1_500);
    let e = eol(raw);
    let mut block = Vec::new();
    for i in 0..n {
        let name = match rng.u8(0..4) {
            0 => "Received".to_string(),
            1 => "To".to_string(),
            _ => format!("X-Field-{i}"),
        };
        block.extend_from_slice(name.as_bytes());
        block.extend_from_slice(format!(": value {i} <f{i}@mutation.test>").as_bytes());
        block.extend_from_slice(e);
    }
    let mut out = raw.to_vec();
    let pos = head_insert_pos(raw);
    out.splice(pos..pos, block);
    out
}

fn separator_removed(rng: &mut Rng, raw: &[u8]) -> Vec<u8> {
    let end = header_end(raw);
    match lines(raw).into_iter().find(|l| l.0 == end) {
        Some((s, _, next)) => {
            let mut out = raw.to_vec();
            out.drain(s..next);
            out
        }
        None => flip_bytes(rng, raw),
    }
}

fn transfer_encoding_broken(rng: &mut Rng, raw: &[u8]) -> Vec<u8> {
    let encodings: [&[u8]; 5] = [
        b"base64",
        b"quoted-printable",
        b"x-uuencode",
        b"8bit",
        b"bogus",
    ];
    let enc = encodings[rng.usize(0..encodings.len())];
    let mut out = raw.to_vec();
    let found = find_all_ci(raw, b"content-transfer-encoding:");
    if found.is_empty() || rng.bool() {
        out = set_header(&out, "Content-Transfer-Encoding", enc);
    } else {
        for pos in found.into_iter().rev() {
            let start = pos + 26;
            let len = raw[start..]
                .iter()
                .take_while(|&&b| b != b'\r' && b != b'\n')
                .count();
            let mut v = b" ".to_vec();
            v.extend_from_slice(enc);
            out.splice(start..start + len, v);
        }
    }
    // Broken escapes and padding in the body.
    let junk: [&[u8]; 6] = [b"=ZZ", b"=\r\n=", b"====", b"!!!!", b"=", b"begin 644 x\n"];
    for _ in 0..rng.usize(1..=6) {
        let pos = body_pos(rng, &out);
        out.splice(pos..pos, junk[rng.usize(0..junk.len())].iter().copied());
    }
    out
}

fn chunk_spliced(rng: &mut Rng, raw: &[u8]) -> Vec<u8> {
    if raw.is_empty() {
        return b"\r\n".to_vec();
    }
    let a = rng.usize(0..raw.len());
    let b = rng.usize(a..=raw.len().min(a + 4096));
    let chunk = raw[a..b].to_vec();
    let mut out = raw.to_vec();
    let at = rng.usize(0..=out.len());
    let times = rng.usize(1..=3);
    for _ in 0..times {
        out.splice(at..at, chunk.iter().copied());
    }
    out
}

/// An HTML-only body of thousands of nested elements: the text rendering must not
/// recurse without bound.
fn html_deeply_nested(rng: &mut Rng, raw: &[u8]) -> Vec<u8> {
    let depth = log_uniform(rng, 10, 20_000);
    let tags = [
        "div",
        "table",
        "blockquote",
        "ul",
        "b",
        "span",
        "td",
        "li",
        "p",
    ];
    let mut html = b"<html><body>".to_vec();
    let mut open = Vec::new();
    for _ in 0..depth {
        let t = tags[rng.usize(0..tags.len())];
        html.extend_from_slice(format!("<{t}>x").as_bytes());
        open.push(t);
    }
    if rng.bool() {
        for t in open.iter().rev() {
            html.extend_from_slice(format!("</{t}>").as_bytes());
        }
    }
    html.extend_from_slice(b"</body></html>");
    let head_end = header_end(raw);
    let e = eol(raw);
    let mut out = remove_header(&raw[..head_end.min(raw.len())], "Content-Type");
    out = remove_header(&out, "Content-Transfer-Encoding");
    out.extend_from_slice(b"Content-Type: text/html; charset=utf-8");
    out.extend_from_slice(e);
    out.extend_from_slice(e);
    out.extend_from_slice(&html);
    out.extend_from_slice(e);
    out
}

fn address_garbage(rng: &mut Rng, raw: &[u8]) -> Vec<u8> {
    let samples: [&[u8]; 9] = [
        b"<<<@@@>>>",
        b"\"unterminated <a@b",
        b"=?utf-8?B?####?= <a@example.test>",
        b"undisclosed-recipients:;",
        b"a@b@c@d",
        b"@",
        b"<>",
        b"\"\\\\\\\"\" <x@y>",
        b"group: a@x.test, (comment (nested (deeply)) b@x.test;",
    ];
    let name = ["From", "To", "Cc", "Reply-To", "Sender"][rng.usize(0..5)];
    if rng.u8(0..4) == 0 {
        // Thousands of addresses, folded.
        let e = eol(raw);
        let n = rng.usize(500..5_000);
        let mut value = Vec::new();
        for i in 0..n {
            if i > 0 {
                value.push(b',');
                value.extend_from_slice(e);
                value.push(b' ');
            }
            value.extend_from_slice(format!("p{i} <p{i}@crowd.test>").as_bytes());
        }
        return set_header(raw, name, &value);
    }
    set_header(raw, name, samples[rng.usize(0..samples.len())])
}

fn date_garbage(rng: &mut Rng, raw: &[u8]) -> Vec<u8> {
    let samples: [&[u8]; 10] = [
        b"Mon, 1 Jan 99999 00:00:00 +9999",
        b"Fri, 31 Dec 9999 23:59:60 -9959",
        b"Thu, 1 Jan 1970 00:00:00 +0000",
        b"Tue, 30 Feb 2021 25:61:61 +2500",
        b"0",
        b"-1",
        b"yesterday",
        b"Sun, 00 Xyz 0000 00:00:00",
        b"Wed, 18446744073709551615 Jan 2020 10:00:00 +0100",
        b"1 Jan 65535 99:99:99 -0000",
    ];
    set_header(raw, "Date", samples[rng.usize(0..samples.len())])
}

/// A ticket token in the subject: replies to tickets the run opened, to ones that do
/// not exist, and tokens too big for a number.
fn ticket_token_subject(rng: &mut Rng, raw: &[u8]) -> Vec<u8> {
    let token = match rng.u8(0..4) {
        0 => "[TP-99999999999999]".to_string(),
        1 => "[TP-0]".to_string(),
        _ => format!("[TP-{}]", rng.u16(1..60)),
    };
    let subject = header_value(raw, "Subject").unwrap_or_default();
    let mut value = format!("Re: {token} ").into_bytes();
    value.extend(subject);
    set_header(raw, "Subject", &value)
}

/// A multipart body of thousands of parts (text, HTML, attachments, empty ones).
fn many_parts(rng: &mut Rng, raw: &[u8]) -> Vec<u8> {
    let n = log_uniform(rng, 10, 20_000);
    let e = eol(raw);
    let head_end = header_end(raw);
    let mut out = remove_header(&raw[..head_end.min(raw.len())], "Content-Type");
    out.extend_from_slice(b"Content-Type: multipart/mixed; boundary=\"p\"");
    out.extend_from_slice(e);
    out.extend_from_slice(e);
    let kinds: [&[u8]; 4] = [
        b"Content-Type: text/plain\r\n\r\npart text",
        b"Content-Type: text/html\r\n\r\n<p>part</p>",
        b"Content-Type: application/octet-stream; name=\"a.bin\"\r\nContent-Disposition: attachment\r\n\r\nAAAA",
        b"",
    ];
    for _ in 0..n {
        out.extend_from_slice(b"--p");
        out.extend_from_slice(e);
        out.extend_from_slice(kinds[rng.usize(0..kinds.len())]);
        out.extend_from_slice(e);
    }
    if rng.bool() {
        out.extend_from_slice(b"--p--");
        out.extend_from_slice(e);
    }
    out
}

/// A reply whose body quotes and re-quotes: thousands of `>` levels, attribution
/// lines and signature markers, for the reply trimmer.
fn deep_quotes(rng: &mut Rng, raw: &[u8]) -> Vec<u8> {
    let n = log_uniform(rng, 10, 20_000);
    let e = eol(raw);
    let mut body = b"Thanks, that fixed it.".to_vec();
    body.extend_from_slice(e);
    for i in 0..n {
        match rng.u8(0..4) {
            0 => body.extend_from_slice(
                b"On Mon, 2 Nov 2026 at 10:00, Desk <support@desk.example> wrote:",
            ),
            1 => body.extend_from_slice(b"-- "),
            _ => {
                let depth = if rng.bool() { i % 500 } else { rng.usize(1..8) };
                body.extend(std::iter::repeat_n(b'>', depth));
                body.extend_from_slice(b" quoted line");
            }
        }
        body.extend_from_slice(e);
    }
    let head_end = header_end(raw);
    let mut out = remove_header(&raw[..head_end.min(raw.len())], "Content-Type");
    out = remove_header(&out, "Content-Transfer-Encoding");
    out = set_header(&out, "Subject", b"Re: your request");
    out.extend_from_slice(e);
    out.extend_from_slice(&body);
    out
}
