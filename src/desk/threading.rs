//! Finding the ticket a message belongs to, from its own facts: the `[TP-n]` token in
//! the subject, and the ids in In-Reply-To / References. Looking those ids up is the
//! store's job; the order of preference is decided here.

use std::collections::HashSet;

use crate::inbound::InboundMessage;

/// Finds `[PREFIX-n]` anywhere in a subject, any case, whatever reply/forward prefixes
/// come before it (`Re:`, `AW:`, `回复:` ...: they need no special handling because the
/// token is searched anywhere). Returns the first well-formed token's number.
pub fn token_in_subject(subject: &str, prefix: &str) -> Option<i64> {
    let bytes = subject.as_bytes();
    let p = prefix.as_bytes();
    let mut i = 0;
    while let Some(off) = subject[i..].find('[') {
        let start = i + off + 1;
        i = start;
        let rest = &bytes[start..];
        if rest.len() < p.len() + 2 || !rest[..p.len()].eq_ignore_ascii_case(p) {
            continue;
        }
        let rest = &rest[p.len()..];
        // Accept "TP-12", "TP#12" and "TP 12" is too loose: only '-' (what we send) and '#'.
        if rest[0] != b'-' && rest[0] != b'#' {
            continue;
        }
        let digits: &[u8] = &rest[1..];
        let n = digits.iter().take_while(|b| b.is_ascii_digit()).count();
        if n == 0 || n > 15 || digits.get(n) != Some(&b']') {
            continue;
        }
        if let Ok(v) = std::str::from_utf8(&digits[..n])
            .unwrap_or("")
            .parse::<i64>()
        {
            return Some(v);
        }
    }
    None
}

/// The subject without the `[PREFIX-n]` tokens of ticket `n` (any case, `-` or `#`),
/// spaces tidied: for a new ticket opened by a stranger who used another ticket's token.
pub fn without_token(subject: &str, prefix: &str, ticket: i64) -> String {
    let forms = [
        format!("[{prefix}-{ticket}]"),
        format!("[{prefix}#{ticket}]"),
    ];
    let mut out = String::with_capacity(subject.len());
    let mut rest = subject;
    'scan: while !rest.is_empty() {
        for form in &forms {
            if rest.len() >= form.len()
                && rest.is_char_boundary(form.len())
                && rest[..form.len()].eq_ignore_ascii_case(form)
            {
                rest = &rest[form.len()..];
                continue 'scan;
            }
        }
        let c = rest.chars().next().unwrap_or(' ');
        out.push(c);
        rest = &rest[c.len_utf8()..];
    }
    let tidy = out.split_whitespace().collect::<Vec<_>>().join(" ");
    if tidy.is_empty() {
        "(no subject)".to_string()
    } else {
        tidy
    }
}

/// The ids to look up, most specific first: In-Reply-To, then References from the
/// newest (last) to the oldest.
/// Each id comes once, where it first appears. The dedupe uses a set: References is
/// input, and a message with tens of thousands of them must cost linear time, not
/// quadratic (the scan of a `Vec` per id took seconds per message).
pub fn reference_candidates(msg: &InboundMessage) -> Vec<&str> {
    let mut seen: HashSet<&str> =
        HashSet::with_capacity(msg.in_reply_to.len() + msg.references.len());
    msg.in_reply_to
        .iter()
        .chain(msg.references.iter().rev())
        .map(String::as_str)
        .filter(|id| seen.insert(id))
        .collect()
}

/// Formats a ticket's token without brackets: `TP-42`.
pub fn token(prefix: &str, ticket: i64) -> String {
    format!("{prefix}-{ticket}")
}

/// Parses `TP-42`, `[TP-42]`, `tp-42` or `42` (as typed on the command line).
pub fn parse_token(text: &str, prefix: &str) -> Option<i64> {
    let t = text.trim().trim_start_matches('[').trim_end_matches(']');
    let number = match t.get(..prefix.len()) {
        Some(head) if head.eq_ignore_ascii_case(prefix) => {
            t[prefix.len()..].trim_start_matches(['-', '#'])
        }
        _ => t,
    };
    number.parse().ok().filter(|n: &i64| *n > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_tokens_behind_any_prefix() {
        for s in [
            "[TP-42] printer",
            "Re: [TP-42] printer",
            "RE: RE: [tp-42] printer",
            "AW: [Tp-42] Drucker",
            "SV: [TP-42]",
            "回复: [TP-42] 打印机",
            "答复：[TP-42] 打印机",
            "Fwd: printer [TP-42]",
            "printer [x] [TP-42]",
            "[TP-] [TP-42]",
        ] {
            assert_eq!(token_in_subject(s, "TP"), Some(42), "{s}");
        }
    }

    #[test]
    fn ignores_lookalikes() {
        for s in [
            "TP-42 printer",
            "[TPX-42]",
            "[TP-42",
            "[TP-4a]",
            "[XX-42]",
            "",
            "[",
            "[TP-99999999999999999]",
        ] {
            assert_eq!(token_in_subject(s, "TP"), None, "{s}");
        }
        assert_eq!(token_in_subject("[HELP-7] x", "HELP"), Some(7));
    }

    #[test]
    fn parses_cli_tokens() {
        assert_eq!(parse_token("TP-42", "TP"), Some(42));
        assert_eq!(parse_token("[tp-42]", "TP"), Some(42));
        assert_eq!(parse_token("42", "TP"), Some(42));
        assert_eq!(parse_token("TP-x", "TP"), None);
    }

    #[test]
    fn reference_candidates_come_once_in_order_even_from_a_huge_references_header() {
        let mut msg = crate::inbound::parse(
            b"From: a@x.test\r\nSubject: Re: x\r\nIn-Reply-To: <r7@x.test>\r\n\r\nbody\r\n"
                .to_vec(),
        )
        .unwrap();
        // 50,000 distinct ids, listed twice: a linear dedupe does this at once, the old
        // quadratic one took minutes in a debug build.
        let ids: Vec<String> = (0..50_000).map(|i| format!("r{i}@x.test")).collect();
        msg.references = ids.iter().chain(ids.iter()).cloned().collect();
        let candidates = reference_candidates(&msg);
        let expected: Vec<&str> = std::iter::once("r7@x.test")
            .chain(
                ids.iter()
                    .rev()
                    .map(String::as_str)
                    .filter(|id| *id != "r7@x.test"),
            )
            .collect();
        assert_eq!(candidates.len(), 50_000);
        assert_eq!(candidates, expected);
    }

    #[test]
    fn a_tickets_token_is_removed_from_a_subject() {
        assert_eq!(without_token("Re: [TP-7] Printer", "TP", 7), "Re: Printer");
        assert_eq!(
            without_token("[tp#7]打印机坏了 [TP-8]", "TP", 7),
            "打印机坏了 [TP-8]"
        );
        assert_eq!(without_token("[TP-7]", "TP", 7), "(no subject)");
        assert_eq!(without_token("[TP-70] x", "TP", 7), "[TP-70] x");
    }
}
