//! Reading an Authentication-Results header field (RFC 8601): what a receiving server
//! found when it checked a message's DKIM signatures, SPF and the like. Which server to
//! believe, and what a result proves about a sender, is `staff_proof`'s business.
//!
//! Much of the field is written by the sender: an SPF result names the envelope
//! sender, whose local-part may be a quoted string holding `;`, `=` and `(`, and the
//! comments quote what the server saw. So the value is read unit by unit (quoted
//! strings with their escapes, nested comments) and never split on a character; a
//! `;` inside a quoted string or a comment separates nothing.
//!
//! No I/O. No panic on any input, and the work is linear in the length of the value:
//! the reader only moves forward, without recursion or backtracking.

/// One Authentication-Results value, as far as it could be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthResults {
    /// Who wrote the field (its authserv-id), as written: compare it ignoring case.
    pub authserv_id: String,
    /// The authres-version; 1 (the only version defined) when the field names none.
    pub version: u32,
    /// The results in their order; empty for `none`. A result that breaks the
    /// grammar is left out and counted in `unreadable`: the separators around it are
    /// still known, so the others keep their meaning.
    pub results: Vec<ResInfo>,
    /// Results left out because they could not be read.
    pub unreadable: usize,
}

/// One result: `method[/version]=result [reason=value] [ptype.property=value ...]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResInfo {
    /// Lower-cased, e.g. `dkim`, `spf`, `dmarc`.
    pub method: String,
    /// The method-version; 1 when none is written.
    pub method_version: u32,
    /// Lower-cased, e.g. `pass`, `fail`, `none`.
    pub result: String,
    pub reason: Option<String>,
    pub properties: Vec<Property>,
}

/// `ptype.property=value`, e.g. `header.d=example.test`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Property {
    /// Lower-cased, e.g. `header`, `smtp`.
    pub ptype: String,
    /// Lower-cased, e.g. `d`, `mailfrom`.
    pub name: String,
    /// A value that was one quoted string is unquoted; any other value is kept as
    /// written, quotes included (`"a;b"@example.test`), for [`value_domain`].
    pub value: String,
}

impl ResInfo {
    /// The value of `ptype.name` (names compared ignoring case), when it is given
    /// exactly once. Given twice, the result contradicts itself: neither value counts.
    pub fn property(&self, ptype: &str, name: &str) -> Option<&str> {
        let mut found = self.properties_named(ptype, name);
        let first = found.next()?;
        found.next().is_none().then_some(first)
    }

    /// Whether `ptype.name` is given at all.
    pub fn has_property(&self, ptype: &str, name: &str) -> bool {
        self.properties_named(ptype, name).next().is_some()
    }

    fn properties_named<'s>(&'s self, ptype: &str, name: &str) -> impl Iterator<Item = &'s str> {
        self.properties
            .iter()
            .filter(move |p| {
                p.ptype.eq_ignore_ascii_case(ptype) && p.name.eq_ignore_ascii_case(name)
            })
            .map(|p| p.value.as_str())
    }
}

/// The domain a property value names: what follows its last `@` outside quoted
/// strings (`"a@b"@example.test` names `example.test`), or the whole value when it
/// has no `@` (`smtp.mailfrom=example.test`, `header.d=example.test`). `None` when
/// that is empty or not shaped like a domain name.
pub fn value_domain(value: &str) -> Option<&str> {
    let mut quoted = false;
    let mut escaped = false;
    let mut at = None;
    for (i, b) in value.bytes().enumerate() {
        if escaped {
            escaped = false;
            continue;
        }
        match b {
            b'\\' if quoted => escaped = true,
            b'"' => quoted = !quoted,
            b'@' if !quoted => at = Some(i),
            _ => {}
        }
    }
    if quoted {
        return None;
    }
    let domain = match at {
        Some(i) => value.get(i + 1..)?,
        None => value,
    };
    let domain_shaped = !domain.is_empty()
        && domain
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_') || b >= 0x80);
    domain_shaped.then_some(domain)
}

/// Reads one Authentication-Results value (the text after `Authentication-Results:`,
/// unfolded or not). `None` when it cannot be read as a whole: no authserv-id, a
/// quoted string or comment that never ends (where the results are separated is then
/// unknown), `none` followed by results, or text after the id that is no result.
pub fn parse(value: &str) -> Option<AuthResults> {
    let mut c = Cursor::new(value);
    c.skip_cfws().ok()?;
    let authserv_id = match c.peek()? {
        b'"' => c.quoted().ok()?,
        _ => c.token()?,
    };
    if authserv_id.trim().is_empty() {
        return None;
    }
    let mut parsed = AuthResults {
        authserv_id,
        version: 1,
        results: Vec::new(),
        unreadable: 0,
    };
    c.skip_cfws().ok()?;
    if c.peek().is_some_and(|b| b.is_ascii_digit()) {
        parsed.version = c.number()?;
        c.skip_cfws().ok()?;
    }
    match c.peek() {
        // An id alone reports nothing (RFC 8601 asks for `; none`; be lenient).
        None => return Some(parsed),
        Some(b';') => {}
        Some(_) => return None,
    }
    let mut first = true;
    while c.eat(b';') {
        c.skip_cfws().ok()?;
        if first && c.rest_is_keyword("none") {
            c.keyword();
            c.skip_cfws().ok()?;
            // `none` stands alone: results after it make the field contradict itself.
            return c.at_end().then_some(parsed);
        }
        first = false;
        match resinfo(&mut c) {
            Ok(Some(r)) => parsed.results.push(r),
            // An empty result (a `;` at the end, or two in a row): nothing to report.
            Ok(None) => {}
            Err(Broken::Result) => {
                parsed.unreadable += 1;
                c.skip_to_semicolon().ok()?;
            }
            Err(Broken::Field) => return None,
        }
    }
    // Every path above stops at a `;` or the end, so the loop ends at the end.
    c.at_end().then_some(parsed)
}

/// Why reading stopped.
#[derive(Debug)]
enum Broken {
    /// A quoted string or comment never ends: nothing after it can be placed.
    Field,
    /// This result breaks the grammar; the next `;` (outside quotes and comments)
    /// still starts the next one.
    Result,
}

impl From<Unterminated> for Broken {
    fn from(_: Unterminated) -> Broken {
        Broken::Field
    }
}

/// A quoted string or comment that runs to the end of the value.
#[derive(Debug)]
struct Unterminated;

/// One result, the cursor just past its `;` and any CFWS. Stops at the next `;` or
/// the end. `Ok(None)` for an empty result.
fn resinfo(c: &mut Cursor) -> Result<Option<ResInfo>, Broken> {
    if c.at_end() || c.peek() == Some(b';') {
        return Ok(None);
    }
    let method = c.keyword().ok_or(Broken::Result)?;
    c.skip_cfws()?;
    let mut method_version = 1;
    if c.eat(b'/') {
        c.skip_cfws()?;
        method_version = c.number().ok_or(Broken::Result)?;
        c.skip_cfws()?;
    }
    if !c.eat(b'=') {
        return Err(Broken::Result);
    }
    c.skip_cfws()?;
    let result = c.keyword().ok_or(Broken::Result)?;
    let mut r = ResInfo {
        method: method.to_ascii_lowercase(),
        method_version,
        result: result.to_ascii_lowercase(),
        reason: None,
        properties: Vec::new(),
    };
    loop {
        let before = c.pos;
        c.skip_cfws()?;
        if c.at_end() || c.peek() == Some(b';') {
            return Ok(Some(r));
        }
        // Each reason and property is set off from what comes before it.
        if c.pos == before {
            return Err(Broken::Result);
        }
        let word = c.keyword().ok_or(Broken::Result)?;
        c.skip_cfws()?;
        if c.eat(b'.') {
            c.skip_cfws()?;
            let name = c.keyword().ok_or(Broken::Result)?;
            c.skip_cfws()?;
            if !c.eat(b'=') {
                return Err(Broken::Result);
            }
            c.skip_cfws()?;
            let value = c.pvalue()?.ok_or(Broken::Result)?;
            r.properties.push(Property {
                ptype: word.to_ascii_lowercase(),
                name: name.to_ascii_lowercase(),
                value,
            });
        } else if c.eat(b'=') {
            c.skip_cfws()?;
            let value = match c.peek() {
                Some(b'"') => c.quoted()?,
                _ => c.token().ok_or(Broken::Result)?,
            };
            if word.eq_ignore_ascii_case("reason") {
                if r.reason.is_some() {
                    return Err(Broken::Result);
                }
                r.reason = Some(value);
            }
            // Other `word=value` pairs (Microsoft's `action=none`) are outside RFC
            // 8601 and say nothing we use: read past them.
        } else {
            return Err(Broken::Result);
        }
    }
}

/// A position in the value. Every step moves forward by at least one byte or stops,
/// and the position never passes the end.
struct Cursor<'a> {
    s: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn new(value: &'a str) -> Cursor<'a> {
        Cursor {
            s: value.as_bytes(),
            pos: 0,
        }
    }

    fn peek(&self) -> Option<u8> {
        self.s.get(self.pos).copied()
    }

    fn at_end(&self) -> bool {
        self.pos >= self.s.len()
    }

    fn bump(&mut self) {
        self.pos = (self.pos + 1).min(self.s.len());
    }

    fn eat(&mut self, b: u8) -> bool {
        let here = self.peek() == Some(b);
        if here {
            self.bump();
        }
        here
    }

    /// The bytes from `start` to here, as text. Boundaries fall on ASCII bytes or the
    /// ends, so nothing is lost; `lossy` only keeps this free of any panic path.
    fn since(&self, start: usize) -> String {
        String::from_utf8_lossy(self.s.get(start..self.pos).unwrap_or_default()).into_owned()
    }

    /// Skips white space and comments (RFC 5322 CFWS).
    fn skip_cfws(&mut self) -> Result<(), Unterminated> {
        loop {
            match self.peek() {
                Some(b' ' | b'\t' | b'\r' | b'\n') => self.bump(),
                Some(b'(') => self.skip_comment()?,
                _ => return Ok(()),
            }
        }
    }

    /// Skips a comment, at its `(`: comments nest, and a backslash quotes the next
    /// byte (so `\)` does not close one). A depth counter, not recursion.
    fn skip_comment(&mut self) -> Result<(), Unterminated> {
        let mut depth = 0usize;
        while let Some(b) = self.peek() {
            self.bump();
            match b {
                b'\\' => self.bump(),
                b'(' => depth += 1,
                b')' => {
                    depth = depth.saturating_sub(1);
                    if depth == 0 {
                        return Ok(());
                    }
                }
                _ => {}
            }
        }
        Err(Unterminated)
    }

    /// A quoted string, at its `"`: its content with the backslash escapes undone.
    fn quoted(&mut self) -> Result<String, Unterminated> {
        self.bump();
        let mut out = Vec::new();
        while let Some(b) = self.peek() {
            self.bump();
            match b {
                b'"' => return Ok(String::from_utf8_lossy(&out).into_owned()),
                b'\\' => {
                    if let Some(next) = self.peek() {
                        out.push(next);
                        self.bump();
                    }
                }
                _ => out.push(b),
            }
        }
        Err(Unterminated)
    }

    /// A keyword (letters, digits, `-`, `_`): methods, results, property names.
    fn keyword(&mut self) -> Option<String> {
        let start = self.pos;
        while self
            .peek()
            .is_some_and(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_'))
        {
            self.bump();
        }
        (self.pos > start).then(|| self.since(start))
    }

    /// Whether the keyword here is `word` (ignoring case), without moving.
    fn rest_is_keyword(&self, word: &str) -> bool {
        let rest = self.s.get(self.pos..).unwrap_or_default();
        rest.len() >= word.len()
            && rest[..word.len()].eq_ignore_ascii_case(word.as_bytes())
            && !rest
                .get(word.len())
                .is_some_and(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_'))
    }

    /// An RFC 2045 token: anything but white space, controls and `()<>@,;:\"/[]?=`.
    fn token(&mut self) -> Option<String> {
        let start = self.pos;
        while self
            .peek()
            .is_some_and(|b| b > b' ' && b != 0x7f && !b"()<>@,;:\\\"/[]?=".contains(&b))
        {
            self.bump();
        }
        (self.pos > start).then(|| self.since(start))
    }

    /// Digits, as a number (saturating: a version of 99999999999 is just unknown).
    fn number(&mut self) -> Option<u32> {
        let start = self.pos;
        let mut n: u32 = 0;
        while let Some(b) = self.peek().filter(u8::is_ascii_digit) {
            n = n.saturating_mul(10).saturating_add(u32::from(b - b'0'));
            self.bump();
        }
        (self.pos > start).then_some(n)
    }

    /// A property value: a token, a quoted string, or an address whose local-part may
    /// be quoted (`"a;b"@example.test`), i.e. quoted strings and runs of other
    /// printable bytes with no white space between them. It ends at white space, a
    /// comment or a `;`. `Ok(None)` when there is none.
    fn pvalue(&mut self) -> Result<Option<String>, Unterminated> {
        let start = self.pos;
        let mut parts = 0;
        let mut only_quoted = None;
        loop {
            match self.peek() {
                Some(b'"') => {
                    let q = self.quoted()?;
                    only_quoted = (parts == 0).then_some(q);
                }
                Some(b) if is_value_byte(b) => {
                    while self.peek().is_some_and(is_value_byte) {
                        self.bump();
                    }
                    only_quoted = None;
                }
                _ => break,
            }
            parts += 1;
        }
        Ok(match (parts, only_quoted) {
            (0, _) => None,
            (1, Some(q)) => Some(q),
            _ => Some(self.since(start)),
        })
    }

    /// Skips to the next `;` that is outside quoted strings and comments, or the end.
    fn skip_to_semicolon(&mut self) -> Result<(), Unterminated> {
        while let Some(b) = self.peek() {
            match b {
                b';' => return Ok(()),
                b'"' => {
                    self.quoted()?;
                }
                b'(' => self.skip_comment()?,
                _ => self.bump(),
            }
        }
        Ok(())
    }
}

/// Bytes of an unquoted part of a property value.
fn is_value_byte(b: u8) -> bool {
    b > b' ' && b != 0x7f && !matches!(b, b';' | b'(' | b')' | b'"' | b'\\')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(value: &str) -> AuthResults {
        parse(value).unwrap_or_else(|| panic!("unreadable: {value}"))
    }

    fn summary(value: &str) -> Vec<String> {
        one(value)
            .results
            .iter()
            .map(|r| {
                let props: Vec<String> = r
                    .properties
                    .iter()
                    .map(|p| format!("{}.{}={}", p.ptype, p.name, p.value))
                    .collect();
                format!("{}={} {}", r.method, r.result, props.join(" "))
                    .trim()
                    .to_string()
            })
            .collect()
    }

    #[test]
    fn real_fields_read_as_their_servers_meant() {
        // OpenDKIM, with its comment holding a `;`.
        let a = one(
            "mx.desk.test;\r\n\tdkim=pass (2048-bit key; unprotected) header.d=example.test header.i=@example.test header.a=rsa-sha256 header.s=s1 header.b=Ab/c+d=",
        );
        assert_eq!(a.authserv_id, "mx.desk.test");
        assert_eq!(a.version, 1);
        assert_eq!(a.results.len(), 1);
        let r = &a.results[0];
        assert_eq!((r.method.as_str(), r.result.as_str()), ("dkim", "pass"));
        assert_eq!(r.property("header", "d"), Some("example.test"));
        assert_eq!(r.property("HEADER", "I"), Some("@example.test"));
        assert_eq!(r.property("header", "b"), Some("Ab/c+d="));
        // Gmail-like: comments quoting addresses, quoted mailfrom, upper case.
        assert_eq!(
            summary(
                "mx.google.com; DKIM=Pass header.i=@example.test header.s=s1; spf=pass (google.com: domain of ann@example.test designates 192.0.2.1 as permitted sender) smtp.mailfrom=\"ann@example.test\"; dmarc=pass (p=NONE sp=NONE dis=NONE) header.from=example.test"
            ),
            [
                "dkim=pass header.i=@example.test header.s=s1",
                "spf=pass smtp.mailfrom=ann@example.test",
                "dmarc=pass header.from=example.test"
            ]
        );
        // OpenDMARC's SPF result names the domain alone; Microsoft adds `action=none`;
        // a trailing `;` adds nothing.
        assert_eq!(
            summary("mx.desk.test; spf=pass smtp.mailfrom=example.test;"),
            ["spf=pass smtp.mailfrom=example.test"]
        );
        assert_eq!(
            summary(
                "spf.protection.outlook.com; dmarc=pass action=none header.from=example.test;compauth=pass reason=100"
            ),
            ["dmarc=pass header.from=example.test", "compauth=pass"]
        );
        assert_eq!(
            one("x; compauth=pass reason=100").results[0]
                .reason
                .as_deref(),
            Some("100")
        );
        assert_eq!(
            one("x; dkim=fail reason=\"signature; verification failed\" header.d=a.test").results
                [0]
            .reason
            .as_deref(),
            Some("signature; verification failed")
        );
    }

    #[test]
    fn a_semicolon_in_a_quoted_local_part_separates_nothing() {
        let v = r#"mx.desk.test; spf=pass smtp.mailfrom="x;dkim=pass header.d=example.test x"@evil.test"#;
        let a = one(v);
        assert_eq!(a.results.len(), 1, "{a:?}");
        let mailfrom = a.results[0].property("smtp", "mailfrom").unwrap();
        assert_eq!(
            mailfrom,
            r#""x;dkim=pass header.d=example.test x"@evil.test"#
        );
        assert_eq!(value_domain(mailfrom), Some("evil.test"));
        // Escaped quotes stay inside the quoted string.
        let v = r#"mx; spf=pass smtp.mailfrom="a\";dkim=pass header.d=example.test"@evil.test"#;
        let a = one(v);
        assert_eq!(a.results.len(), 1, "{a:?}");
        assert_eq!(
            value_domain(a.results[0].property("smtp", "mailfrom").unwrap()),
            Some("evil.test")
        );
        // A whole quoted value is unquoted, and its own quoting still counts.
        let a = one(r#"mx; spf=pass smtp.mailfrom="\"x@example.test\"@evil.test""#);
        let v = a.results[0].property("smtp", "mailfrom").unwrap();
        assert_eq!(v, r#""x@example.test"@evil.test"#);
        assert_eq!(value_domain(v), Some("evil.test"));
    }

    #[test]
    fn comments_nest_and_hide_semicolons() {
        assert_eq!(
            summary(
                "mx (a; (b; dkim=pass header.d=example.test) c\\) d; e) ; spf=fail (x; (y) ; z) smtp.mailfrom=evil.test"
            ),
            ["spf=fail smtp.mailfrom=evil.test"]
        );
        // A comment anywhere CFWS may go, even between the parts of a property.
        assert_eq!(
            summary(
                "(c) mx (c) 1 (c) ; (c) dkim (c) / (c) 1 (c) = (c) pass (c) header (c) . (c) d (c) = (c) example.test (c)"
            ),
            ["dkim=pass header.d=example.test"]
        );
        // Unbalanced: where the results are separated is unknown, so nothing is read.
        assert_eq!(
            parse("mx; spf=fail (x; dkim=pass header.d=example.test"),
            None
        );
        assert_eq!(
            parse("mx; spf=fail ((x) ; dkim=pass header.d=example.test"),
            None
        );
        assert_eq!(parse("mx; spf=pass smtp.mailfrom=\"x;dkim=pass"), None);
        // A `)` too many is no comment: that result is unreadable, the next one stands.
        let a = one("mx; spf=fail x) header.d=example.test; dkim=fail header.d=a.test");
        assert_eq!(a.unreadable, 1);
        assert_eq!(a.results.len(), 1);
    }

    #[test]
    fn versions_of_the_field_and_of_methods() {
        let a = one("mx.desk.test 1; dkim/1=pass header.d=example.test");
        assert_eq!((a.version, a.results[0].method_version), (1, 1));
        let a = one("mx.desk.test 2; dkim/2=pass header.d=example.test");
        assert_eq!((a.version, a.results[0].method_version), (2, 2));
        let a = one("mx 99999999999999; dkim=pass");
        assert_eq!(a.version, u32::MAX);
        assert!(parse("mx 1 2; dkim=pass").is_none());
        assert_eq!(one("mx; dkim/=pass").unreadable, 1);
    }

    #[test]
    fn none_reports_nothing_and_stands_alone() {
        for v in [
            "mx.desk.test; none",
            "mx.desk.test 1 ;NONE (nothing checked)",
            "mx",
        ] {
            let a = one(v);
            assert!(a.results.is_empty(), "{v}");
            assert_eq!(a.unreadable, 0, "{v}");
        }
        assert_eq!(parse("mx; none; dkim=pass header.d=example.test"), None);
        // A method that merely starts with "none" is a method.
        assert_eq!(summary("mx; nonesuch=pass"), ["nonesuch=pass"]);
    }

    #[test]
    fn quoted_authserv_id_and_values() {
        let a = one(r#""mx.desk.test"; dkim=pass header.d="Example.Test""#);
        assert_eq!(a.authserv_id, "mx.desk.test");
        assert_eq!(a.results[0].property("header", "d"), Some("Example.Test"));
        // A property given twice contradicts itself.
        let a = one("mx; dkim=pass header.d=evil.test header.d=example.test");
        assert_eq!(a.results[0].property("header", "d"), None);
        assert!(a.results[0].has_property("header", "d"));
    }

    #[test]
    fn domains_of_values() {
        assert_eq!(value_domain("ann@Example.test"), Some("Example.test"));
        assert_eq!(value_domain("@example.test"), Some("example.test"));
        assert_eq!(value_domain("example.test"), Some("example.test"));
        assert_eq!(value_domain("\"a@b.test\"@c.test"), Some("c.test"));
        assert_eq!(value_domain("\"a@b.test\""), None);
        assert_eq!(value_domain("ann@"), None);
        assert_eq!(value_domain("<ann@example.test>"), None);
        assert_eq!(value_domain("a@b@c.test"), Some("c.test"));
        assert_eq!(value_domain(""), None);
        assert_eq!(value_domain("\"unterminated@x.test"), None);
    }

    #[test]
    fn garbage_never_panics() {
        let samples = [
            "",
            ";",
            ";;;;",
            "(",
            ")",
            "\"",
            "\\",
            "mx;",
            "mx; =",
            "mx; dkim",
            "mx; dkim=",
            "mx; dkim=pass header",
            "mx; dkim=pass header.",
            "mx; dkim=pass header.d",
            "mx; dkim=pass header.d=",
            "mx; dkim=pass header.d=\\",
            "mx; dkim=pass (\\",
            "mx; dkim=pass header.d=\"\\",
            "mx; dkim=pass header.d=é@ü.test",
            "é; dkim=pass",
            "mx\u{0}; dkim=pass",
            "@@@; dkim=pass",
        ];
        for s in samples {
            let _ = parse(s);
        }
        // Every prefix and every one-byte corruption of a rich field.
        let rich = "mx.desk.test 1; dkim/1=pass (2048-bit key; \"x\" (n)) header.d=example.test header.i=\"a\\\"b\"@example.test; spf=pass reason=\"ok\" smtp.mailfrom=\"x;y\"@evil.test; none";
        let bytes = rich.as_bytes();
        for end in 0..=bytes.len() {
            let _ = parse(&String::from_utf8_lossy(&bytes[..end]));
        }
        let mut rng = fastrand::Rng::with_seed(8601);
        let alphabet = b" \t\r\n;=./()\"\\@ab1xX\xc3";
        for _ in 0..20_000 {
            let len = rng.usize(0..60);
            let noise: Vec<u8> = (0..len)
                .map(|_| alphabet[rng.usize(0..alphabet.len())])
                .collect();
            let _ = parse(&String::from_utf8_lossy(&noise));
            let mut corrupt = bytes.to_vec();
            let at = rng.usize(0..corrupt.len());
            corrupt[at] = alphabet[rng.usize(0..alphabet.len())];
            let _ = parse(&String::from_utf8_lossy(&corrupt));
        }
    }

    #[test]
    fn very_long_fields_take_linear_time() {
        // Each is about 1 MB: quadratic work would take hours, linear work about a
        // second for all of them in a debug build (the bound leaves room for a loaded
        // machine).
        let n = 100_000;
        let fields = [
            format!("mx;{}", " dkim=pass;".repeat(n)),
            format!("mx; dkim=pass{}", " header.d=a.test".repeat(n / 2)),
            format!("mx;{}", " x) y=z;".repeat(n)),
            format!("mx; dkim=pass {}", "(".repeat(n * 10)),
            format!("mx; dkim=pass {}{}", "(".repeat(n * 5), ")".repeat(n * 5)),
            format!("mx; dkim=pass {}", "(\\)".repeat(n * 3)),
            format!(
                "mx; spf=pass smtp.mailfrom=\"{}\"@a.test",
                "\\;".repeat(n * 5)
            ),
            format!("mx; spf=pass smtp.mailfrom={}", "\"a\"b".repeat(n * 3)),
            format!("mx;{}", ";".repeat(n * 10)),
            format!("mx{}", " 1".repeat(n * 5)),
        ];
        let started = std::time::Instant::now();
        for f in &fields {
            let _ = parse(f);
        }
        let many = one(&fields[0]);
        assert_eq!(many.results.len(), n);
        assert_eq!(one(&fields[2]).unreadable, n);
        let elapsed = started.elapsed();
        assert!(
            elapsed < std::time::Duration::from_secs(10),
            "{elapsed:?} for {} bytes",
            fields.iter().map(String::len).sum::<usize>()
        );
    }
}
