//! Reply trimming: which part of a plain-text reply its author wrote. Owns the rules
//! that recognise what mail clients put around a reply (`>` quotes, "On … wrote:"
//! reply headers in many languages, Outlook header blocks, "Original Message" and
//! forwarded-message markers, `-- ` signatures, list footers behind underscore lines,
//! "Sent from my iPhone" style mobile footers) and removes them. It never rewrites:
//! the result is a selection of whole input lines (line endings become `\n`, trailing
//! white space goes). Choosing which body to trim, and storing the result, is the
//! caller's job.
//!
//! How a body is read, top to bottom:
//! - Everything from the first *cut point* that follows something the author wrote is
//!   dropped. Cut points: a reply header not followed by a `>` quote (the quoted
//!   message is pasted unprefixed, as Outlook and most phones do), an Outlook header
//!   block, an original/forwarded-message marker, an underscore line, a `--`
//!   signature delimiter. Blank and separator lines just above a cut go with it.
//! - A cut point with nothing above it (a forward without comment, a header at the
//!   very top) is removed alone and reading goes on, so forwarded text is kept.
//!   A signature delimiter cuts wherever it is.
//! - A quote block (with the reply header that introduces it) is dropped when it
//!   comes before or after everything the author wrote (bottom- and top-posting) and
//!   kept, without its header, when it sits between two pieces of the author's text
//!   (inline answers read wrong without the question).
//! - Mobile footers, a final `-Name` sign-off and trailing separator lines go.
//!   Lines starting with `/` (agent commands) are ordinary author text and stay.
//! - Fenced code blocks (```) are author text whatever their lines look like.
//!
//! Every pattern runs on one line or on a short join of at most six lines, and long
//! lines skip the patterns that could not match them, so the cost is linear in the
//! input.

use std::sync::LazyLock;

use regex::{Regex, RegexSet};

/// A wrapped reply header spans at most this many lines (blank lines included).
const MAX_HEADER_LINES: usize = 6;
/// Lines longer than this (bytes) are never part of a reply header, header field,
/// marker or footer.
const MAX_SHORT_LINE: usize = 300;
/// A joined reply header is at most this long (bytes).
const MAX_HEADER_BYTES: usize = 500;

/// Lines the author wrote: quoted text, reply headers, signatures and mobile footers
/// removed. Never returns text that was not in the input; lines that start with `/`
/// (agent commands such as `/status waiting`) above the quoted part are kept.
/// Returns an empty string when nothing remains (say, the whole body was quoted).
pub fn trim_reply(text: &str) -> String {
    let lines = split_lines(text);
    let segments = segment(&lines);
    let keep = select(&lines, &segments);
    assemble(&lines, &keep)
}

/// What a run of lines is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Blank,
    /// Author text (or anything not recognised).
    Text,
    /// A `>` (or supercite `Name>`) quoted line.
    Quote,
    /// A reply header followed by a quote block: belongs to that block.
    Intro,
    /// A reply header followed by unquoted text: a cut point.
    Header,
    /// An Outlook-style `From:`/`Sent:`/`To:`/`Subject:` block: a cut point.
    Block,
    /// "-----Original Message-----", "Begin forwarded message:" and the like.
    Marker,
    /// A line of underscores (Outlook, mailing-list footers): a cut point.
    Separator,
    /// Any other line of one repeated symbol (`-----`, `=====`): kept unless next to
    /// a cut or at the end.
    Rule,
    /// `-- ` (or `--`): everything after is the signature.
    SigDelimiter,
    /// "Sent from my iPhone" and friends.
    Footer,
}

/// Lines `start..end` of one kind.
#[derive(Debug, Clone, Copy)]
struct Segment {
    start: usize,
    end: usize,
    kind: Kind,
}

/// Splits on `\n`, `\r\n` and lone `\r`; trailing white space of each line removed.
fn split_lines(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    for piece in text.split('\n') {
        let piece = piece.strip_suffix('\r').unwrap_or(piece);
        out.extend(piece.split('\r').map(str::trim_end));
    }
    out
}

/// Lines inside a closed ``` fence (fence lines included).
fn fence_mask(lines: &[&str]) -> Vec<bool> {
    let mut mask = vec![false; lines.len()];
    let mut open: Option<usize> = None;
    for (i, line) in lines.iter().enumerate() {
        if line.trim_start().starts_with("```") {
            match open.take() {
                Some(start) => mask[start..=i].iter_mut().for_each(|m| *m = true),
                None => open = Some(i),
            }
        }
    }
    mask
}

fn segment(lines: &[&str]) -> Vec<Segment> {
    let fenced = fence_mask(lines);
    let quote = quote_mask(lines, &fenced);
    let mut segments = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let (end, kind) = classify_at(lines, &fenced, &quote, i);
        let end = end.max(i + 1);
        segments.push(Segment {
            start: i,
            end,
            kind,
        });
        i = end;
    }
    segments
}

/// The kind of the segment starting at line `i`, and where it ends (exclusive).
fn classify_at(lines: &[&str], fenced: &[bool], quote: &[bool], i: usize) -> (usize, Kind) {
    let line = lines[i];
    if fenced[i] {
        return (i + 1, Kind::Text);
    }
    if line.trim().is_empty() {
        return (i + 1, Kind::Blank);
    }
    if quote[i] {
        return (i + 1, Kind::Quote);
    }
    if line == "--" {
        return (i + 1, Kind::SigDelimiter);
    }
    if let Some((end, strong)) = reply_header(lines, fenced, quote, i) {
        let next = (end..lines.len()).find(|&j| fenced[j] || !lines[j].trim().is_empty());
        if next.is_some_and(|j| quote[j]) {
            return (end, Kind::Intro);
        }
        if strong {
            return (end, Kind::Header);
        }
    }
    if line.len() <= MAX_SHORT_LINE && (MARKER_RE.is_match(line) || FORWARD_RE.is_match(line)) {
        return (i + 1, Kind::Marker);
    }
    if let Some(end) = header_block(lines, fenced, quote, i) {
        return (end, Kind::Block);
    }
    match rule_char(line) {
        Some(('_', n)) if n >= 5 => return (i + 1, Kind::Separator),
        Some(_) => return (i + 1, Kind::Rule),
        None => {}
    }
    if is_footer(line) {
        return (i + 1, Kind::Footer);
    }
    (i + 1, Kind::Text)
}

/// Quoted lines: `>` prefixed, or supercite style (`Name> text`, as Emacs writes
/// them). A lone `Name>` line is more likely a prompt (`SQL> select 1;`) than a
/// citation, so supercite prefixes count only on two or more lines in a row.
fn quote_mask(lines: &[&str], fenced: &[bool]) -> Vec<bool> {
    let cite: Vec<Option<&str>> = lines
        .iter()
        .map(|l| {
            SUPERCITE_RE
                .captures(l)
                .and_then(|c| c.get(1))
                .map(|m| m.as_str())
        })
        .collect();
    (0..lines.len())
        .map(|i| {
            if fenced[i] {
                return false;
            }
            if lines[i].trim_start().starts_with('>') {
                return true;
            }
            cite[i].is_some()
                && ((i > 0 && cite[i - 1] == cite[i]) || cite.get(i + 1) == Some(&cite[i]))
        })
        .collect()
}

/// If the line is one symbol repeated (at least three times, surrounding white
/// space and `*` bold markers ignored), that symbol and the count.
fn rule_char(line: &str) -> Option<(char, usize)> {
    let t = line.trim();
    repeated_symbol(t).or_else(|| repeated_symbol(t.trim_matches('*').trim()))
}

fn repeated_symbol(t: &str) -> Option<(char, usize)> {
    let first = t.chars().next()?;
    if !"-_=*~+#—─═".contains(first) {
        return None;
    }
    let mut n = 0;
    for c in t.chars() {
        if c != first {
            return None;
        }
        n += 1;
    }
    (n >= 3).then_some((first, n))
}

fn is_footer(line: &str) -> bool {
    let t = line.trim();
    if t.len() > 200 {
        return false;
    }
    // The Streak/Mixmax tracking marker, on a line of its own.
    if t == "ᐧ" {
        return true;
    }
    if t.contains('<') {
        FOOTER_RE.is_match(LINK_RE.replace_all(t, "").trim())
    } else {
        FOOTER_RE.is_match(t)
    }
}

/// A reply header starting at line `i`: where it ends (exclusive) and whether it is
/// strong (a known header form with a date or time in it, which cuts even when no
/// quote follows). Joins up to [`MAX_HEADER_LINES`] lines, shortest first, because
/// clients wrap long headers.
fn reply_header(
    lines: &[&str],
    fenced: &[bool],
    quote: &[bool],
    i: usize,
) -> Option<(usize, bool)> {
    if lines[i].len() > MAX_SHORT_LINE {
        return None;
    }
    let mut joined = String::new();
    let mut last_text: Option<&str> = None;
    for j in i..lines.len().min(i + MAX_HEADER_LINES) {
        if fenced[j] || lines[j].len() > MAX_SHORT_LINE {
            return None;
        }
        let t = lines[j].trim();
        if t.is_empty() {
            continue;
        }
        // A header does not run on past the end of a sentence.
        if last_text.is_some_and(ends_sentence) {
            return None;
        }
        // Only a line that can start a header may be joined with the next ones.
        if !joined.is_empty() {
            if !HEADER_START_RE.is_match(lines[i]) {
                return None;
            }
            joined.push(' ');
        }
        joined.push_str(t);
        last_text = Some(t);
        if joined.len() > MAX_HEADER_BYTES {
            return None;
        }
        if !could_end_header(t) {
            continue;
        }
        let Some(strong) = header_match(&joined) else {
            continue;
        };
        // When a later line starts a header on its own, this line is text above it.
        if j > i
            && (i + 1..=j).any(|m| {
                !quote[m]
                    && HEADER_START_RE.is_match(lines[m])
                    && header_from(lines, m, j).is_some()
            })
        {
            return None;
        }
        return Some((j + 1, strong));
    }
    None
}

/// Whether lines `from..=to` joined are a reply header (see [`header_match`]).
fn header_from(lines: &[&str], from: usize, to: usize) -> Option<bool> {
    let parts: Vec<&str> = lines[from..=to]
        .iter()
        .map(|l| l.trim())
        .filter(|l| !l.is_empty())
        .collect();
    if parts.is_empty() {
        return None;
    }
    header_match(&parts.join(" "))
}

/// `Some(strong)` when `joined` is a reply header.
fn header_match(joined: &str) -> Option<bool> {
    let c =
        joined.trim_matches(|ch: char| ch == '-' || ch == '*' || ch == '_' || ch.is_whitespace());
    if STRONG_HEADER.is_match(c) {
        Some(DATE_RE.is_match(c))
    } else if WEAK_HEADER.is_match(c) {
        Some(false)
    } else {
        None
    }
}

fn ends_sentence(t: &str) -> bool {
    t.ends_with(['.', '!', '?', ':', '：', '。', '！', '？'])
}

/// Cheap test before the header patterns: every header form ends with a colon or
/// with its verb.
fn could_end_header(t: &str) -> bool {
    let t =
        t.trim_end_matches(|ch: char| ch == '-' || ch == '*' || ch == '_' || ch.is_whitespace());
    t.ends_with([':', '：']) || HEADER_END_RE.is_match(t)
}

/// An Outlook-style header block starting at line `i`: a `From:` field followed,
/// within a few lines, by at least two more header fields. Returns its end.
fn header_block(lines: &[&str], fenced: &[bool], quote: &[bool], i: usize) -> Option<usize> {
    if lines[i].len() > MAX_SHORT_LINE || !FROM_FIELD_RE.is_match(lines[i]) {
        return None;
    }
    let mut fields = 0;
    let mut last = i;
    let mut blanks = 0;
    for j in i + 1..lines.len().min(i + 12) {
        if fenced[j] || quote[j] {
            break;
        }
        if lines[j].trim().is_empty() {
            blanks += 1;
            if blanks > 1 {
                break;
            }
            continue;
        }
        blanks = 0;
        if FIELD_RE.is_match(lines[j]) {
            fields += 1;
            last = j;
        } else if j > last + 2 {
            break;
        }
    }
    (fields >= 2).then_some(last + 1)
}

/// Which lines to keep.
fn select(lines: &[&str], segments: &[Segment]) -> Vec<bool> {
    let mut keep = vec![true; lines.len()];

    // 1. The cut: the first cut point below something the author wrote.
    let mut seen = false;
    let mut cut = segments.len();
    for (s, seg) in segments.iter().enumerate() {
        match seg.kind {
            Kind::SigDelimiter => {
                cut = s;
                break;
            }
            Kind::Header | Kind::Block | Kind::Marker | Kind::Separator => {
                if seen {
                    cut = s;
                    break;
                }
                remove(seg, &mut keep);
            }
            Kind::Text | Kind::Quote | Kind::Intro | Kind::Footer => seen = true,
            Kind::Blank | Kind::Rule => {}
        }
    }
    while cut > 0
        && cut < segments.len()
        && matches!(
            segments[cut - 1].kind,
            Kind::Blank | Kind::Rule | Kind::Separator | Kind::Marker
        )
    {
        cut -= 1;
    }
    for seg in &segments[cut..] {
        remove(seg, &mut keep);
    }
    let region = &segments[..cut];

    // 2. Footers go; a final "-Name" sign-off below other text is a signature.
    let mut texts: Vec<usize> = Vec::new();
    for (s, seg) in region.iter().enumerate() {
        match seg.kind {
            Kind::Footer => remove(seg, &mut keep),
            Kind::Text => texts.push(s),
            _ => {}
        }
    }
    if texts.len() >= 2
        && let Some(&last) = texts.last()
        && SIGNOFF_RE.is_match(lines[region[last].start])
    {
        remove(&region[last], &mut keep);
        texts.pop();
    }

    // 3. Quote blocks. One after all the author's text is the quoted tail of a
    // top-post; one before it is the quoted head of a bottom-post: both go. Blocks
    // between two pieces of text are inline answers' questions and stay (without
    // their reply header); so does the leading block of such an inline reply.
    let mut blocks: Vec<(usize, usize)> = Vec::new();
    let mut s = 0;
    while s < region.len() {
        if !matches!(region[s].kind, Kind::Quote | Kind::Intro) {
            s += 1;
            continue;
        }
        let mut end = s;
        let mut t = s + 1;
        while t < region.len() && matches!(region[t].kind, Kind::Quote | Kind::Intro | Kind::Blank)
        {
            if region[t].kind != Kind::Blank {
                end = t;
            }
            t += 1;
        }
        blocks.push((s, end));
        s = end + 1;
    }
    let text_before = |s: usize| texts.first().is_some_and(|&f| f < s);
    let text_after = |e: usize| texts.last().is_some_and(|&l| l > e);
    let inline_reply = blocks.iter().any(|&(s, e)| text_before(s) && text_after(e));
    for &(start, end) in &blocks {
        let keep_quote = text_after(end) && (text_before(start) || inline_reply);
        for seg in &region[start..=end] {
            if !keep_quote || seg.kind == Kind::Intro {
                remove(seg, &mut keep);
            }
        }
    }
    keep
}

fn remove(seg: &Segment, keep: &mut [bool]) {
    keep[seg.start..seg.end].iter_mut().for_each(|k| *k = false);
}

/// Joins the kept lines; no leading blank lines, no trailing blank or separator lines.
fn assemble(lines: &[&str], keep: &[bool]) -> String {
    let kept: Vec<&str> = lines
        .iter()
        .zip(keep)
        .filter_map(|(l, k)| k.then_some(*l))
        .collect();
    let first = kept.iter().position(|l| !l.trim().is_empty());
    let last = kept
        .iter()
        .rposition(|l| !l.trim().is_empty() && rule_char(l).is_none());
    match (first, last) {
        (Some(f), Some(l)) if f <= l => kept[f..=l].join("\n"),
        _ => String::new(),
    }
}

/// Supercite-style quote prefixes: `Richard> text`, `C>`; group 1 is the name.
static SUPERCITE_RE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^\s*(\p{Lu}\p{L}{0,9})>(?:\s|$)").expect("valid regex"));

/// A date or time somewhere in a header: a year, or `hh:mm` / `hh.mm`.
static DATE_RE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?:^|\D)(?:19|20)\d{2}(?:\D|$)|\d{1,2}[:.h]\d{2}").expect("valid regex")
});

/// How a reply header can end besides a colon (the verb, for clients that leave
/// the colon out or put dashes after it).
static HEADER_END_RE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?i)(?:wrote|écrit|escribió|scritto|escreveu|napisał|napisała|napisał\(a\)|написал|написала|написал\(а\)|пише|[写寫]道)$",
    )
    .expect("valid regex")
});

/// How the first line of a wrapped reply header can begin: a leading word of the
/// known forms, a date, a weekday abbreviation before a date, or a name before an
/// address.
static HEADER_START_RE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"^\s*(?:(?:On|At|Le|Am|El|Il|Em|Op|Den|den|Dnia|W|Quoting|Citando|Zitat\s+von|在)\s|\d|\p{L}{2,4}\.?,\s*\d|[^<>:.!?]{1,80}\s<(?:[^\s<>]*@|$))",
    )
    .expect("valid regex")
});

/// Reply headers in their known per-language forms. Strong (a cut point) when they
/// also carry a date or time; otherwise they only introduce a quote.
static STRONG_HEADER: LazyLock<RegexSet> = LazyLock::new(|| {
    RegexSet::new([
        // English (Gmail, Apple Mail, Thunderbird, Outlook for Mac, Eudora, Zoho).
        r"^(?:On|At)\s+(?:(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun|Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)[a-z]*\.?,?\s|\d).*(?i:wrote)\s*:?$",
        // Lotus Notes: "Name/Org wrote on 01/02/2024 10:00:00 AM:"
        r"(?i)^.{1,150}\bwrote\s+on\s.{4,120}:$",
        // French: "Le … a écrit :"
        r"(?i)\ba\s+écrit\s*:?$",
        // German: "Am … schrieb Name <a@b>:", "Name <a@b> schrieb am …:"
        r"(?i)^Am\s.*\bschrieb\b.*:$",
        r"(?i)\bschrieb\s+am\s.*:$",
        r"(?i)\bschrieb\s*:$",
        // Spanish, Italian, Portuguese.
        r"(?i)\bescribió\s*:?$",
        r"(?i)\bha\s+scritto\s*:?$",
        r"(?i)\bescreveu\s*:?$",
        // Dutch: "Op … schreef Name <a@b>:", "Name schreef op …:"
        r"(?i)\bschreef\b.*:$",
        // Norwegian, Danish, Swedish: "Den … skrev Name <a@b>:"
        r"(?i)\bskrev\b.*:$",
        // Finnish, Polish, Russian, Ukrainian, Czech, Turkish, Hungarian.
        r"(?i)\bkirjoitti\b.*:$",
        r"(?i)\bnapisał(?:\(a\)|a)?\s*:?$",
        r"(?i)(?:написал(?:\(а\)|а)?|пише|написав(?:\(ла\)|ла)?)\s*:?$",
        r"(?i)\bnapsal(?:\(a\)|a)?\s*:$",
        r"(?i)\byazdı\s*:$",
        r"(?i)\bírta\s*:$",
        // Chinese: "在 … 写道：", "Name <a@b> 于 … 写道："
        r"[写寫]道\s*[:：]?$",
        // Japanese: "2024/01/02 10:00、Name <a@b>のメール:"
        r"(?:のメール|は書きました)\s*[:：]$",
        // Korean: "2024년 1월 2일 (화) 오전 10:00, Name <a@b>님이 작성:"
        r"작성\s*[:：]$",
    ])
    .expect("valid regex set")
});

/// Header forms that only count when a quote follows.
static WEAK_HEADER: LazyLock<RegexSet> = LazyLock::new(|| {
    RegexSet::new([
        // "Name <a@b> wrote:", "you wrote:"
        r#"^[\p{L}\p{N}"'’().,_-]+(?:\s+[\p{L}\p{N}"'’().,_-]+){0,5}\s*(?:[<(\[](?:mailto:)?[^<>()\[\]\s]+@[^<>()\[\]\s]+[>)\]])?\s*(?i:wrote|writes)\s*:$"#,
        // Date first, address last (Gmail in many locales): "2016-10-24 15:36 GMT+02:00 Name <a@b>:"
        r"^\d.{4,250}[\s<(\[:](?:mailto:)?[^<>()\[\]\s]+@[^<>()\[\]\s]+[>)\]]?\s*[:：]$",
        // Horde: "Quoting Name <a@b>:"
        r"^(?i:quoting)\s.{1,200}:$",
    ])
    .expect("valid regex set")
});

/// "-----Original Message-----" and forwarded-message separators.
static MARKER_RE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?ix)^[\s*_]*-*[\s*_]*
        (?:original\s+message|original\s+e-?mail|forwarded\s+message|forwarded\s+e-?mail
        |ursprüngliche\s+nachricht|weitergeleitete\s+nachricht
        |message\s+d'origine|message\s+transféré|message\s+original
        |mensaje\s+original|mensaje\s+reenviado|messaggio\s+originale|messaggio\s+inoltrato
        |mensagem\s+original|mensagem\s+encaminhada
        |oorspronkelijk\s+bericht|doorgestuurd\s+bericht
        |originalmeddelande|vidarebefordrat\s+meddelande|oprindelig\s+meddelelse
        |videresendt\s+meddelelse|opprinnelig\s+melding|videresendt\s+melding
        |alkuperäinen\s+viesti|välitetty\s+viesti|wiadomość\s+oryginalna|przekazana\s+wiadomość
        |původní\s+zpráva|přeposlaná\s+zpráva|исходное\s+сообщение|пересылаемое\s+сообщение
        |原始邮件|原始郵件|转发邮件|轉寄郵件|元のメッセージ|転送メッセージ|원본\s*메시지|전달된\s*메시지)
        [\s*_]*-*[\s*_]*$",
    )
    .expect("valid regex")
});

/// Forward introductions without dashes (Apple Mail and its translations).
static FORWARD_RE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?ix)^\s*
        (?:begin\s+forwarded\s+message|anfang\s+der\s+weitergeleiteten\s+nachricht
        |début\s+du\s+message\s+(?:réexpédié|transféré)|inicio\s+del\s+mensaje\s+reenviado
        |inizio\s+messaggio\s+inoltrato|início\s+da\s+mensagem\s+reencaminhada
        |begin\s+doorgestuurd\s+bericht|vidarebefordrat\s+brev|videresendt\s+besked
        |转发的邮件|転送されたメッセージ)
        \s*[:：]?\s*$",
    )
    .expect("valid regex")
});

/// The "From" field of a header block, in the languages Outlook and webmails use.
static FROM_FIELD_RE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?i)^[\s*]*(?:from|von|de|da|van|från|fra|od|от|від|发件人|發件人|寄件者|寄件人|差出人|보낸\s*사람|mittente|remitente|lähettäjä|feladó|gönderen|expéditeur|afzender)[\s*]*[:：]",
    )
    .expect("valid regex")
});

/// Any other field of a header block.
static FIELD_RE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?ix)^[\s*]*
        (?:from|sent|date|to|cc|bcc|subject|reply-to
        |von|gesendet|datum|an|betreff|kopie|antwort\s+an
        |de|envoyé|à|a|objet|répondre\s+à
        |da|inviato|data|oggetto|risposta|rispondi\s+a
        |van|verzonden|aan|onderwerp
        |från|skickat|till|ämne|kopia|fra|sendt|til|emne|dato
        |od|wysłano|do|temat|dw
        |от|отправлено|дата|кому|тема|копия|від|надіслано
        |enviado|enviada|fecha|para|asunto|assunto
        |发件人|發件人|发送时间|發送時間|日期|时间|時間|收件人|抄送|主题|主題|寄件者|寄件人|寄件日期|收件者|副本|主旨
        |差出人|送信日時|宛先|件名|日付
        |보낸\s*사람|보낸\s*날짜|받는\s*사람|제목|날짜
        |lähettäjä|lähetetty|vastaanottaja|aihe|päivämäärä
        |feladó|elküldve|címzett|tárgy|gönderen|gönderildi|kime|konu|tarih
        |odesláno|komu|předmět)
        [\s*]*[:：]",
    )
    .expect("valid regex")
});

/// Mobile and webmail footers, the whole line. `DEV` is a device or app name of at
/// most five words; a comma ends it ("Sent from my desk, is much easier" is text).
/// The forms are grouped by what follows their words, so that `DEV` (a class of every
/// letter and digit, five times) is compiled four times instead of once per form: the
/// compiled regex took 4.7 MB, a tenth of the parser's memory.
static FOOTER_RE: LazyLock<Regex> = LazyLock::new(|| {
    let dev = r"[\p{L}\p{N}'’&+®™_-]+(?:[\s.][\p{L}\p{N}'’&+®™_-]+){0,4}";
    let client = r"(?:outlook|mail|yahoo|aol|gmail|protonmail|proton\s+mail|samsung|huawei|xiaomi|blackberry|android|iphone|ipad|windows|spark|bluemail|nine|edison|mymail|tutanota|fastmail|zoho|gmx|web\.de|mailbird|newton|airmail|typeapp|aquamail|k-9\s+mail|fairemail|thunderbird|superhuman)";
    let pattern = format!(
        r"(?ix)^(?:
        (?:sent\s+(?:from|with|via|using|on)\s+my\s+
          |gesendet\s+(?:von|mit)\s+(?:meinem\s+)?
          |envoyé\s+(?:de|depuis)\s+(?:mon|ma)\s+
          |enviado\s+(?:desde|de|do|a\s+partir\s+do)\s+(?:mi|meu|o\s+meu)\s+
          |inviato\s+da(?:l)?\s+(?:mio\s+)?
          |(?:verzonden|verstuurd)\s+(?:vanaf|met|van)\s+(?:mijn\s+)?
          |skickat\s+från\s+(?:min\s+)?
          |sendt\s+fra\s+(?:min\s+)?
          |wysłane\s+z\s+(?:mojego\s+)?
          |отправлено\s+(?:с|со|из)\s+(?:моего\s+)?
          |lähetetty\s+
          |(?:发自我的|发自|来自我的|傳送自我的|寄自我的)\s*
        ){dev}
        |(?:sent\s+(?:from|with|via|using)\s+(?:the\s+)?(?:all\s+new\s+)?
          |envoyé\s+(?:de|depuis|avec)\s+
          |enviado\s+(?:desde|de|do)\s+
        ){client}\b.{{0,60}}
        |get\s+outlook\s+for\s+(?:ios|android|windows|mac)
        |von\s+meinem\s+{dev}\s+gesendet
        |(?:从我的|從我的)\s*{dev}\s*(?:发送|傳送)
        |{dev}\s*(?:から送信|에서\s*보냄)
        )[.!。]?$"
    );
    Regex::new(&pattern).expect("valid regex")
});

/// Link targets clients append to footers: `<https://aka.ms/…>`.
static LINK_RE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"<(?:https?|mailto):[^>\s]*>").expect("valid regex"));

/// A `-Name` sign-off line (a signature without a delimiter).
static SIGNOFF_RE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^--?\p{Lu}[\p{L}\p{M}.'’-]*(?:\s+\p{L}[\p{L}\p{M}.'’-]*){0,3}$")
        .expect("valid regex")
});

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_text_is_kept() {
        let body = "Hello,\n\nthe printer on floor 2 is jammed again.\n\nRegards,\nAnna\n";
        assert_eq!(
            trim_reply(body),
            "Hello,\n\nthe printer on floor 2 is jammed again.\n\nRegards,\nAnna"
        );
    }

    #[test]
    fn english_top_post() {
        let body = "Thanks, that fixed it.\n\nOn Mon, Mar 4, 2024 at 10:12 AM Help Desk <help@example.com> wrote:\n> Please restart the service.\n>\n> Regards\n";
        assert_eq!(trim_reply(body), "Thanks, that fixed it.");
    }

    #[test]
    fn wrapped_english_header() {
        let body = "Will do.\n\nOn Tue, Mar 5, 2024 at 9:01 AM, A Very Long Support Team Name\n<support@example.com> wrote:\n\n> Can you try again?\n";
        assert_eq!(trim_reply(body), "Will do.");
    }

    #[test]
    fn header_without_quote_cuts_unquoted_original() {
        let body = "Yes, please close it.\n\nOn Wed, 6 Mar 2024, 14:00 Help Desk <help@example.com> wrote:\n\nHello,\nshall we close the ticket?\n";
        assert_eq!(trim_reply(body), "Yes, please close it.");
    }

    #[test]
    fn text_starting_with_on_is_not_a_header() {
        let body =
            "On your laptop, open the settings:\n\n    Settings > Network\n\nThen restart.\n";
        assert_eq!(trim_reply(body), body.trim_end());
    }

    #[test]
    fn chinese_headers() {
        let body = "好的，我明天再试一下。\n\n在 2024年3月5日 星期二 10:12，客服 <support@example.com> 写道：\n> 请提供订单号。\n";
        assert_eq!(trim_reply(body), "好的，我明天再试一下。");

        let gmail = "已解决，谢谢！\n\n客服 <support@example.com> 于2024年3月5日周二 10:12写道：\n\n> 请重启路由器。\n";
        assert_eq!(trim_reply(gmail), "已解决，谢谢！");

        let qq = "收到\n\n------------------ 原始邮件 ------------------\n发件人: \"客服\"<support@example.com>;\n发送时间: 2024年3月5日(星期二) 上午10:12\n收件人: \"我\"<me@example.com>;\n主题: 回复：订单问题\n\n请提供订单号。\n";
        assert_eq!(trim_reply(qq), "收到");

        let mobile = "可以\n\n发自我的iPhone\n";
        assert_eq!(trim_reply(mobile), "可以");
    }

    #[test]
    fn other_languages() {
        let fr = "Merci !\n\nLe mar. 5 mars 2024 à 10:12, Support <support@example.com> a écrit :\n> Bonjour\n";
        assert_eq!(trim_reply(fr), "Merci !");
        let de =
            "Danke.\n\nAm 05.03.2024 um 10:12 schrieb Support <support@example.com>:\n> Hallo\n";
        assert_eq!(trim_reply(de), "Danke.");
        let es = "Gracias.\n\nEl mar, 5 mar 2024 a las 10:12, Soporte (<support@example.com>) escribió:\n> Hola\n";
        assert_eq!(trim_reply(es), "Gracias.");
        let nl =
            "Dank je.\n\nOp 5 mrt. 2024 om 10:12 schreef Support <support@example.com>:\n> Hallo\n";
        assert_eq!(trim_reply(nl), "Dank je.");
        let ja = "了解しました。\n\n2024年3月5日(火) 10:12 Support <support@example.com>:\n> こんにちは\n";
        assert_eq!(trim_reply(ja), "了解しました。");
    }

    #[test]
    fn outlook_blocks() {
        let en = "See attached.\n\n________________________________\nFrom: Help Desk <help@example.com>\nSent: Tuesday, March 5, 2024 10:12 AM\nTo: Customer <c@example.com>\nSubject: RE: Ticket 42\n\nHello,\nplease send the invoice.\n";
        assert_eq!(trim_reply(en), "See attached.");
        let de = "Erledigt.\n\n-----Ursprüngliche Nachricht-----\nVon: Support <support@example.com>\nGesendet: Dienstag, 5. März 2024 10:12\nAn: Kunde <k@example.com>\nBetreff: Ticket 42\n\nHallo\n";
        assert_eq!(trim_reply(de), "Erledigt.");
        let fr = "C'est fait.\n\nDe : Support <support@example.com>\nEnvoyé : mardi 5 mars 2024 10:12\nÀ : Client <c@example.com>\nObjet : Ticket 42\n";
        assert_eq!(trim_reply(fr), "C'est fait.");
        let bold = "Done\n\n ------------------------------\n\n*From:* Help Desk\n*Sent:* 2024-03-05\n*To:* me@example.com\n*Subject:* Ticket\n\nHi\n";
        assert_eq!(trim_reply(bold), "Done");
    }

    #[test]
    fn forward_without_comment_keeps_forwarded_text() {
        let body = "---------- Forwarded message ---------\nFrom: Shop <shop@example.com>\nDate: Tue, Mar 5, 2024 at 10:12 AM\nSubject: Your order\nTo: <me@example.com>\n\nYour order 1234 has shipped.\n";
        assert_eq!(trim_reply(body), "Your order 1234 has shipped.");
        let commented = "Please look at this.\n\n---------- Forwarded message ---------\nFrom: Shop <shop@example.com>\nDate: Tue, Mar 5, 2024\nSubject: Your order\n\nShipped.\n";
        assert_eq!(trim_reply(commented), "Please look at this.");
    }

    #[test]
    fn command_lines_are_kept() {
        let body = "/status waiting\n/assign bob\nI asked the vendor, will report back.\n\nOn Tue, Mar 5, 2024 at 10:12 AM Customer <c@example.com> wrote:\n> Any news?\n";
        assert_eq!(
            trim_reply(body),
            "/status waiting\n/assign bob\nI asked the vendor, will report back."
        );
        assert_eq!(trim_reply("/close\n"), "/close");
    }

    #[test]
    fn signatures() {
        let body = "It works now.\n\n-- \nJane Doe\nACME Corp | +1 555 0100\n";
        assert_eq!(trim_reply(body), "It works now.");
        let no_space = "It works now.\n--\nJane\n";
        assert_eq!(trim_reply(no_space), "It works now.");
        let inline = "A fix -- not a signature.\n";
        assert_eq!(trim_reply(inline), "A fix -- not a signature.");
        let signoff = "Thanks for the quick answer.\n\n-Jane Doe\n\nOn Tue, Mar 5, 2024 at 10:12 AM Help <h@example.com> wrote:\n> Done.\n";
        assert_eq!(trim_reply(signoff), "Thanks for the quick answer.");
        let list = "Question about the API.\n\n_______________________________________________\nusers mailing list\nusers@lists.example.org\n";
        assert_eq!(trim_reply(list), "Question about the API.");
    }

    #[test]
    fn mobile_footers() {
        for footer in [
            "Sent from my iPhone",
            "Sent from my Verizon Wireless BlackBerry",
            "Sent from Outlook Mobile<https://aka.ms/ghei36>",
            "Get Outlook for Android<https://aka.ms/ghei36>",
            "Get Outlook for iOS",
            "Von meinem iPhone gesendet",
            "Envoyé de mon iPhone",
            "Enviado desde mi iPhone",
            "Sendt fra min iPad",
            "发自我的iPhone",
            "iPhoneから送信",
        ] {
            let body = format!("Works, thanks.\n\n{footer}\n");
            assert_eq!(trim_reply(&body), "Works, thanks.", "{footer}");
        }
        let sentence = "Here it is\n\nSent from my desk, is much easier than my phone.";
        assert_eq!(trim_reply(sentence), sentence);
    }

    #[test]
    fn bottom_post_keeps_author_text_and_drops_the_quote() {
        let body = "On Tue, Mar 5, 2024 at 10:12 AM Help Desk <help@example.com> wrote:\n> Could you send us the log file?\n>\n> Thanks\n\nHere it is, attached.\n\nBob\n";
        assert_eq!(trim_reply(body), "Here it is, attached.\n\nBob");
        let no_header = "> Could you send us the log file?\n\nAttached.\n";
        assert_eq!(trim_reply(no_header), "Attached.");
    }

    #[test]
    fn inline_answers_keep_their_questions() {
        let body = "Hi,\n\nOn Tue, Mar 5, 2024 at 10:12 AM Help Desk <help@example.com> wrote:\n> Which version?\n\n4.2\n\n> Which browser?\n\nFirefox\n\n> Thanks\n> Help Desk\n";
        assert_eq!(
            trim_reply(body),
            "Hi,\n\n> Which version?\n\n4.2\n\n> Which browser?\n\nFirefox"
        );
    }

    #[test]
    fn inline_reply_starting_with_a_quote_keeps_all_questions() {
        let body = "> Which version?\n\n4.2\n\n> Which browser?\n\nFirefox\n";
        assert_eq!(trim_reply(body), body.trim_end());
    }

    #[test]
    fn supercite_quotes_need_a_run_of_lines() {
        let body = "Fixed it.\n\nOn Tue, Mar 5, 2024 at 10:12 AM, bob wrote:\n\nBob> line one\nBob> line two\n";
        assert_eq!(trim_reply(body), "Fixed it.");
        let prompt = "SQL> select 1 from dual;\nORA-00942: table or view does not exist\nAny idea?";
        assert_eq!(trim_reply(prompt), prompt);
    }

    #[test]
    fn whole_body_quoted_gives_empty() {
        assert_eq!(trim_reply("> only a quote\n>\n> here\n"), "");
        assert_eq!(
            trim_reply("On Tue, Mar 5, 2024 at 10:12 AM X <x@example.com> wrote:\n> hi\n"),
            ""
        );
    }

    #[test]
    fn code_fences_are_author_text() {
        let body = "Config:\n\n```\n--\n> not a quote\n__________\n```\n\nThat's all.";
        assert_eq!(trim_reply(body), body);
    }

    #[test]
    fn line_endings_and_white_space() {
        assert_eq!(trim_reply("a \r\nb\t\r\n\r\n"), "a\nb");
        assert_eq!(trim_reply("a\rb\r"), "a\nb");
        assert_eq!(trim_reply("\n\n  \n"), "");
        assert_eq!(trim_reply(""), "");
        assert_eq!(trim_reply("----\n"), "");
    }

    #[test]
    fn never_adds_text_and_never_panics() {
        let inputs = [
            "\u{feff}>\r\r\n-",
            "On\nOn\nOn\nOn\nOn\nOn\nOn wrote:",
            "From:\nTo:\nSent:\nSubject:\nFrom:",
            "ᐧ\n--\n",
            "写道：\n于写道\n在写道",
            "*\n**\n***\n",
            "`````\n```\n```",
            "\u{0}\u{1}>>>>\u{202e}",
        ];
        for input in inputs {
            let out = trim_reply(input);
            let input_lines: Vec<&str> = split_lines(input);
            for line in out.lines() {
                assert!(input_lines.contains(&line), "{line:?} not in {input:?}");
            }
        }
    }

    #[test]
    fn huge_inputs_stay_fast() {
        let mut body = String::from("Top line\n");
        for i in 0..5_000 {
            body.push_str(&format!("On Mon, Jan {i} line {i}\nsome <x@y.z> text\n"));
        }
        body.push_str(&">".repeat(300_000));
        body.push('\n');
        body.push_str(&"x".repeat(300_000));
        let started = std::time::Instant::now();
        let out = trim_reply(&body);
        assert!(out.starts_with("Top line"));
        assert!(
            started.elapsed().as_secs() < 20,
            "took {:?}",
            started.elapsed()
        );
    }
}
