//! How rendered mail is kept in the outbox: compressed with zstd, against a dictionary
//! made of the desk's own templates, so that what every mail of a kind shares (headers,
//! the layout, the footer, the HTML around the text) costs next to nothing, and only
//! what differs (names, the ticket, the text) is stored. A body that quotes the
//! request back is packed against the request's text as well ([`prefix`], schema 22).
//!
//! Owns the byte format of `outbox.raw` (`raw_format`, `raw_dict`) and the making of a
//! dictionary from sample mails. It does no I/O: the store keeps the dictionaries
//! (`store::outbox::dictionary`), notify renders the samples, and the mail queue packs
//! each mail on the render workers, off the writer thread. Unpacking gives back the
//! rendered bytes exactly: what is sent does not depend on how it was kept.

use std::sync::Arc;

use anyhow::{Context, Result, bail};
use sha2::Digest as _;
use zstd::dict::EncoderDictionary;

use crate::zstd_context;

/// `raw_format` of bytes kept as rendered (rows written before schema 18, purged rows).
pub const FORMAT_RAW: i64 = 0;
/// `raw_format` of a zstd frame, made with the dictionary `raw_dict` when it is set.
pub const FORMAT_ZSTD: i64 = 1;
/// A zstd frame (as [`FORMAT_ZSTD`]) of a body whose base64 and quoted-printable
/// parts were decoded first (`transfer_decoding`): encoded again when read. Shared
/// bodies only (schema 19).
pub const FORMAT_ZSTD_DECODED: i64 = 2;

/// zstd level: 3 (zstd's default) compresses a mail in well under a millisecond; higher
/// levels gain little on mails of a few kilobytes once the dictionary holds the rest.
const LEVEL: i32 = 3;

/// A dictionary is made of sample mails; past this size the rest is left out (zstd
/// looks back at most its window, and a bigger dictionary only costs memory).
pub const MAX_DICTIONARY_BYTES: usize = 256 * 1024;

/// A mail as the outbox keeps it: the header block, and the body apart when it can be
/// shared (see [`SharedBody`]), or the whole mail in `bytes`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packed {
    /// [`FORMAT_RAW`] or [`FORMAT_ZSTD`].
    pub format: i64,
    /// The `outbox_dicts` row the frame was made with.
    pub dict: Option<i64>,
    pub bytes: Vec<u8>,
    /// The body, kept once for every mail that has the same (`outbox_bodies`).
    pub body: Option<SharedBody>,
}

/// The body of a MIME mail with its boundary taken out: the notices of one event to
/// several agents differ only in their headers and their (random) boundary, so their
/// bodies are kept once. `bytes` is a zstd frame (with the mail's dictionary) of the
/// body with each occurrence of the boundary replaced by [`BOUNDARY_MARK`], and its
/// parts' transfer encoding taken off when it comes back exactly ([`FORMAT_ZSTD_DECODED`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SharedBody {
    /// SHA-256 of the body with the boundary taken out: the key bodies are shared by.
    pub hash: Vec<u8>,
    /// [`FORMAT_ZSTD`] or [`FORMAT_ZSTD_DECODED`].
    pub format: i64,
    pub bytes: Vec<u8>,
    /// The received message (`messages` row) the body quotes, when the frame was made
    /// against it ([`prefix`]; schema 22): unpacking needs its text.
    pub quotes: Option<i64>,
}

/// The request a mail quotes back: a received message (`messages` row) and its text
/// body as the store keeps it. Acknowledgements and agents' notices repeat the request
/// (in the text part and again in the HTML part); packed against it, a body keeps
/// little more than what the templates add (README "Store size").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuotedRequest {
    pub message: i64,
    pub text: Arc<str>,
}

/// Begins every prefix, so that it never reads as a trained zstd dictionary (whose
/// magic number is four bytes a dictionary's tail could start with).
const PREFIX_MARK: &[u8] = b"ticketpost quoted request\n";

/// How much of the end of the dictionary a prefix takes: the samples of the
/// commonest kinds (acknowledgements, notices) are there. The whole dictionary would
/// cost zstd a table of a quarter of a megabyte for every body; with this much, 100
/// acknowledgements of the 10,000-ticket scale store packed within 4% as small.
const PREFIX_DICTIONARY_TAIL: usize = 32 * 1024;

/// The bytes a body that quotes `request` is packed against: the end of the mail's
/// dictionary (what the templates make), then the request's text.
pub fn prefix(dictionary: Option<&[u8]>, request: &str) -> Vec<u8> {
    let dictionary = dictionary.unwrap_or_default();
    let tail = &dictionary[dictionary.len().saturating_sub(PREFIX_DICTIONARY_TAIL)..];
    let mut prefix = Vec::with_capacity(PREFIX_MARK.len() + tail.len() + request.len());
    prefix.extend_from_slice(PREFIX_MARK);
    prefix.extend_from_slice(tail);
    prefix.extend_from_slice(request.as_bytes());
    prefix
}

/// Stands for the boundary in a shared body. Rendered MIME never holds a NUL byte (a
/// body that did would not be shared).
pub const BOUNDARY_MARK: &[u8] = b"\0tp-boundary\0";

/// The body packed last (with its boundary taken out), for the next mail of the same
/// event ([`Packer::pack_with`]).
#[derive(Default)]
pub struct BodyMemo {
    last: Option<(Vec<u8>, Option<i64>, SharedBody)>,
}

/// Packs mail, with the store's current dictionary when it has one. Shared read-only
/// by the render workers.
pub struct Packer {
    dictionary: Option<(i64, EncoderDictionary<'static>)>,
    /// The dictionary's bytes, for the prefix of bodies that quote a request.
    dictionary_bytes: Vec<u8>,
}

impl Default for Packer {
    fn default() -> Packer {
        Packer::plain()
    }
}

impl std::fmt::Debug for Packer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Packer")
            .field("dictionary", &self.dictionary.as_ref().map(|(id, _)| *id))
            .finish()
    }
}

impl Packer {
    /// zstd without a dictionary (a store whose dictionary is not loaded yet).
    pub fn plain() -> Packer {
        Packer {
            dictionary: None,
            dictionary_bytes: Vec::new(),
        }
    }

    /// zstd with the dictionary of `outbox_dicts` row `id`.
    pub fn with_dictionary(id: i64, bytes: &[u8]) -> Packer {
        Packer {
            dictionary: Some((id, EncoderDictionary::copy(bytes, LEVEL))),
            dictionary_bytes: bytes.to_vec(),
        }
    }

    /// The dictionary row in use, if any.
    pub fn dictionary_id(&self) -> Option<i64> {
        self.dictionary.as_ref().map(|(id, _)| *id)
    }

    /// Compresses a rendered mail: its header block and its body apart when the body
    /// can be shared, else the whole mail.
    pub fn pack(&self, raw: &[u8]) -> Result<Packed> {
        self.pack_with(raw, None, &mut BodyMemo::default())
    }

    /// [`Self::pack`], with the body packed against the request it quotes when there
    /// is one, and reusing the body packed last in `memo` when this mail's body is the
    /// same (the mails of one event to several people), else packing it and keeping
    /// it there.
    pub fn pack_with(
        &self,
        raw: &[u8],
        quotes: Option<&QuotedRequest>,
        memo: &mut BodyMemo,
    ) -> Result<Packed> {
        let Some((head, body)) = split_shared(raw) else {
            return self.compress(raw);
        };
        let mut packed = self.compress(head)?;
        let message = quotes.map(|q| q.message);
        let shared = match &memo.last {
            Some((last, quoted, shared)) if *last == body && *quoted == message => shared.clone(),
            _ => {
                let shared = self.shared_body(&body, quotes)?;
                memo.last = Some((body, message, shared.clone()));
                shared
            }
        };
        packed.body = Some(shared);
        Ok(packed)
    }

    /// A body with its boundary taken out, hashed, decoded when that comes back
    /// exactly, and compressed (against the request it quotes, when it quotes one).
    fn shared_body(&self, body: &[u8], quotes: Option<&QuotedRequest>) -> Result<SharedBody> {
        let hash = sha2::Sha256::digest(body).to_vec();
        let decoded = crate::transfer_decoding::split(body, BOUNDARY_MARK);
        let (format, kept) = match &decoded {
            Some(decoded) => (FORMAT_ZSTD_DECODED, decoded.as_slice()),
            None => (FORMAT_ZSTD, body),
        };
        let bytes = match quotes {
            Some(q) => zstd_context::compress_with_prefix(
                kept,
                &prefix(Some(&self.dictionary_bytes), &q.text),
                LEVEL,
            )?,
            None => self.compress(kept)?.bytes,
        };
        Ok(SharedBody {
            hash,
            format,
            bytes,
            quotes: quotes.map(|q| q.message),
        })
    }

    fn compress(&self, raw: &[u8]) -> Result<Packed> {
        let (dict, bytes) = match &self.dictionary {
            Some((id, prepared)) => (Some(*id), zstd_context::compress_with(raw, prepared)?),
            None => (None, zstd_context::compress(raw, LEVEL)?),
        };
        Ok(Packed {
            format: FORMAT_ZSTD,
            dict,
            bytes,
            body: None,
        })
    }
}

/// The rendered bytes of a kept mail. `dictionary` holds the bytes of its `raw_dict`
/// row (None when it has none).
pub fn unpack(format: i64, dictionary: Option<&[u8]>, bytes: &[u8]) -> Result<Vec<u8>> {
    match format {
        FORMAT_RAW => Ok(bytes.to_vec()),
        FORMAT_ZSTD_DECODED => {
            crate::transfer_decoding::join(&unpack(FORMAT_ZSTD, dictionary, bytes)?)
        }
        FORMAT_ZSTD => zstd_context::decompress(bytes, dictionary.unwrap_or_default())
            .context("the kept mail does not decompress"),
        other => bail!("unknown outbox format {other}"),
    }
}

/// The bytes of a body packed against the request it quotes ([`SharedBody::quotes`]):
/// `request` is that message's text as the store keeps it, `dictionary` the body's.
pub fn unpack_quoting(
    format: i64,
    dictionary: Option<&[u8]>,
    request: &str,
    bytes: &[u8],
) -> Result<Vec<u8>> {
    unpack(format, Some(&prefix(dictionary, request)), bytes)
        .context("a body packed against the request it quotes does not unpack against it")
}

/// The header block of a multipart mail (through its blank line) and its body with
/// the boundary replaced by [`BOUNDARY_MARK`]; None when the mail is not multipart,
/// or the body would not come back byte for byte.
fn split_shared(raw: &[u8]) -> Option<(&[u8], Vec<u8>)> {
    let end = find(raw, b"\r\n\r\n")? + 4;
    let (head, body) = raw.split_at(end);
    let boundary = boundary_of(head)?;
    if find(body, BOUNDARY_MARK).is_some() {
        return None;
    }
    let shared = replace(body, boundary, BOUNDARY_MARK);
    (replace(&shared, BOUNDARY_MARK, boundary) == body).then_some((head, shared))
}

/// The `boundary="..."` parameter of a header block (as lettre writes it).
fn boundary_of(head: &[u8]) -> Option<&[u8]> {
    const KEY: &[u8] = b"boundary=\"";
    let start = find(head, KEY)? + KEY.len();
    let len = find(&head[start..], b"\"")?;
    (len > 0).then(|| &head[start..start + len])
}

/// The whole mail from its header block and shared body (see [`SharedBody`]).
pub fn join_shared(head: Vec<u8>, body: &[u8]) -> Result<Vec<u8>> {
    let Some(boundary) = boundary_of(&head) else {
        bail!("a kept mail with a shared body has no boundary");
    };
    let body = replace(body, BOUNDARY_MARK, boundary);
    let mut raw = head;
    raw.extend_from_slice(&body);
    Ok(raw)
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    memchr::memmem::find(hay, needle)
}

/// `hay` with every (non-overlapping, left to right) `from` replaced by `to`.
fn replace(hay: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(hay.len());
    let mut rest = hay;
    while let Some(at) = find(rest, from) {
        out.extend_from_slice(&rest[..at]);
        out.extend_from_slice(to);
        rest = &rest[at + from.len()..];
    }
    out.extend_from_slice(rest);
    out
}

/// A dictionary made of sample mails (a raw-content dictionary: zstd finds the
/// repeated runs in it as it would in earlier parts of the same mail), at most
/// [`MAX_DICTIONARY_BYTES`]. The commonest kinds should come last: zstd reaches the end
/// of a dictionary with the shortest offsets, and the last samples are the ones kept
/// when not all of them fit.
pub fn dictionary_from(samples: &[&[u8]]) -> Vec<u8> {
    let mut total = 0;
    let mut first = samples.len();
    while first > 0 && total + samples[first - 1].len() <= MAX_DICTIONARY_BYTES {
        first -= 1;
        total += samples[first].len();
    }
    samples[first..].concat()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mail(n: usize) -> Vec<u8> {
        let mut m = b"From: \"Example Support\" <support@example.test>\r\nSubject: [TP-1] Request \
                      received\r\nMIME-Version: 1.0\r\n\r\n"
            .to_vec();
        for i in 0..n {
            m.extend_from_slice(format!("line {i} =E7=B4=A7 of the mail\r\n").as_bytes());
        }
        m
    }

    #[test]
    fn a_packed_mail_unpacks_byte_exact_with_and_without_a_dictionary() {
        let raw = mail(200);
        let plain = Packer::plain().pack(&raw).unwrap();
        assert_eq!((plain.format, plain.dict), (FORMAT_ZSTD, None));
        assert!(plain.bytes.len() < raw.len() / 4, "{}", plain.bytes.len());
        assert_eq!(unpack(plain.format, None, &plain.bytes).unwrap(), raw);

        let dict = dictionary_from(&[mail(30).as_slice()]);
        let packer = Packer::with_dictionary(7, &dict);
        let packed = packer.pack(&raw).unwrap();
        assert_eq!(packed.dict, Some(7));
        assert_eq!(
            unpack(packed.format, Some(&dict), &packed.bytes).unwrap(),
            raw
        );
        // Without its dictionary the frame does not decode to the mail.
        assert!(unpack(packed.format, None, &packed.bytes).map_or(true, |b| b != raw));
        // Raw rows (before schema 18) read as they are; unknown formats are errors.
        assert_eq!(unpack(FORMAT_RAW, None, &raw).unwrap(), raw);
        assert!(unpack(9, None, &raw).is_err());
    }

    #[test]
    fn the_dictionary_makes_a_short_mail_cheaper() {
        let raw = mail(3);
        let dict = dictionary_from(&[mail(3).as_slice()]);
        let with = Packer::with_dictionary(1, &dict).pack(&raw).unwrap();
        let without = Packer::plain().pack(&raw).unwrap();
        assert!(
            with.bytes.len() * 3 < without.bytes.len(),
            "{} vs {}",
            with.bytes.len(),
            without.bytes.len()
        );
    }

    /// A two-part mail that quotes `request` in both parts, as an acknowledgement does.
    fn quoting(request: &str, to: &str) -> Vec<u8> {
        let quoted: String = request.lines().map(|l| format!("> {l}\r\n")).collect();
        format!(
            "To: {to}\r\nContent-Type: multipart/alternative;\r\n boundary=\"b0undary{to}\"\r\n\r\n\
             --b0undary{to}\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n\
             We have received your request.\r\n\r\nYour request:\r\n{quoted}\r\n\
             --b0undary{to}\r\nContent-Type: text/html; charset=utf-8\r\n\r\n\
             <p>Your request:</p><blockquote>{request}</blockquote>\r\n--b0undary{to}--\r\n"
        )
        .into_bytes()
    }

    #[test]
    fn a_body_packed_against_the_request_it_quotes_is_smaller_and_needs_that_request() {
        let text: String = (0..40)
            .map(|i| {
                format!(
                    "line {i}: the scanner on floor {} jams on page {}\n",
                    i % 7,
                    i * 13
                )
            })
            .collect();
        let request = QuotedRequest {
            message: 42,
            text: Arc::from(text.as_str()),
        };
        let dict = dictionary_from(&[quoting("an earlier request", "x@example.test").as_slice()]);
        let packer = Packer::with_dictionary(3, &dict);
        let raw = quoting(&text, "ann@example.test");
        let alone = packer.pack(&raw).unwrap();
        let mut memo = BodyMemo::default();
        let against = packer.pack_with(&raw, Some(&request), &mut memo).unwrap();
        let (body, alone_body) = (against.body.unwrap(), alone.body.unwrap());
        assert_eq!(body.quotes, Some(42));
        assert_eq!(alone_body.quotes, None);
        assert!(
            body.bytes.len() * 3 < alone_body.bytes.len() * 2,
            "{} vs {}",
            body.bytes.len(),
            alone_body.bytes.len()
        );
        let head = unpack(against.format, Some(&dict), &against.bytes).unwrap();
        let kept = unpack_quoting(body.format, Some(&dict), &text, &body.bytes).unwrap();
        assert_eq!(join_shared(head, &kept).unwrap(), raw);
        // Against another text, or without the request: an error, never other bytes.
        assert!(unpack_quoting(body.format, Some(&dict), "other", &body.bytes).is_err());
        assert!(unpack(body.format, Some(&dict), &body.bytes).is_err());

        // The next person's copy shares the body; another request's does not.
        let bo = packer
            .pack_with(
                &quoting(&text, "bo@example.test"),
                Some(&request),
                &mut memo,
            )
            .unwrap();
        assert_eq!(bo.body.unwrap().hash, body.hash);
        let other = QuotedRequest {
            message: 43,
            ..request
        };
        let again = packer.pack_with(&raw, Some(&other), &mut memo).unwrap();
        assert_eq!(again.body.unwrap().quotes, Some(43));
    }

    #[test]
    fn a_dictionary_keeps_the_last_samples_that_fit() {
        let big = vec![b'x'; MAX_DICTIONARY_BYTES - 6];
        let d = dictionary_from(&[b"first".as_slice(), big.as_slice(), b"last".as_slice()]);
        assert_eq!(d.len(), big.len() + 4);
        assert!(d.ends_with(b"xlast"));
    }
}
