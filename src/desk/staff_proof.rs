//! Proof that a mail really comes from a member of staff, before any command in it
//! runs. A From header is easy to forge; two things are not:
//!
//! - **Our signed Message-IDs.** Every mail the desk sends carries a Message-ID
//!   `tp.<ticket>.<kind>.<nonce>.<sig>@<domain>`, where `sig` is an HMAC (SHA-256, key
//!   kept in the store) of the recipient's address, the ticket, the kind and the nonce. An
//!   agent's reply quotes it in In-Reply-To/References; only someone who received
//!   that mail can, and the signature names who that was.
//! - **Authentication-Results** from the MTA the desk trusts (`[security]
//!   trusted_authserv_id`): `dkim=pass` with `header.d`, or `spf=pass` with
//!   `smtp.mailfrom`, for the sender's domain. Only the message's topmost
//!   Authentication-Results header counts, and only when it carries the trusted id:
//!   the ones below it came with the message (see `auth_results`).
//!
//! No I/O: the key is passed in.

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// Hex characters of the signature kept in a Message-ID (64 bits).
const SIG_HEX: usize = 16;

/// The desk's signing key.
#[derive(Clone)]
pub struct StaffKey(Vec<u8>);

impl std::fmt::Debug for StaffKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StaffKey(..)")
    }
}

impl StaffKey {
    pub fn new(bytes: Vec<u8>) -> StaffKey {
        StaffKey(bytes)
    }

    fn sign(&self, recipient: &str, ticket: i64, kind: &str, nonce: &str) -> String {
        let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(&self.0) else {
            // HMAC takes keys of any length; this cannot happen.
            return String::new();
        };
        // "v2": the kind is signed too, so an id of one kind of mail (an acknowledgement)
        // cannot be passed off as another (the authorisation request a consent answers).
        // Ids signed before the kind was (v1) no longer verify.
        mac.update(b"v2\n");
        mac.update(recipient.trim().to_ascii_lowercase().as_bytes());
        mac.update(b"\n");
        mac.update(ticket.to_string().as_bytes());
        mac.update(b"\n");
        mac.update(kind.as_bytes());
        mac.update(b"\n");
        mac.update(nonce.as_bytes());
        let digest = mac.finalize().into_bytes();
        hex::encode(&digest[..SIG_HEX / 2])
    }

    /// A Message-ID (without brackets) for a mail about `ticket` to `recipient`.
    pub fn message_id(&self, kind: &str, ticket: i64, recipient: &str, domain: &str) -> String {
        let nonce = format!("{:016x}", fastrand::u64(..));
        let sig = self.sign(recipient, ticket, kind, &nonce);
        format!("tp.{ticket}.{kind}.{nonce}.{sig}@{domain}")
    }

    /// What `id` is, seen by `recipient`: one of our signed ids, valid for them or not,
    /// or not a signed id of ours at all.
    pub fn check(&self, id: &str, recipient: &str, domain: &str) -> SignedId {
        let Some(parts) = SignedParts::of(id, domain) else {
            return SignedId::NotOurs;
        };
        let expected = self.sign(recipient, parts.ticket, parts.kind, parts.nonce);
        if constant_time_eq(parts.sig.as_bytes(), expected.as_bytes()) {
            SignedId::For {
                ticket: parts.ticket,
                kind: parts.kind.to_string(),
            }
        } else {
            SignedId::NotFor
        }
    }

    /// Whether one of `ids` is a Message-ID we signed for `sender` about `ticket`.
    pub fn signed_for(&self, ids: &[&str], sender: &str, ticket: i64, domain: &str) -> bool {
        ids.iter().any(|id| {
            matches!(self.check(id, sender, domain), SignedId::For { ticket: t, .. } if t == ticket)
        })
    }

    /// Whether `id` may appear in mail to `recipient`: an id we signed for someone else
    /// would let the recipient pass as that person, so it never leaves to them.
    pub fn may_show_to(&self, id: &str, recipient: &str, domain: &str) -> bool {
        !matches!(self.check(id, recipient, domain), SignedId::NotFor)
    }
}

/// What a Message-ID is to the desk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignedId {
    /// Not shaped like one of our signed ids (someone else's, or our unsigned ones).
    NotOurs,
    /// Ours, signed for someone else (or forged).
    NotFor,
    /// Ours, signed for the one asked about, on a mail of `kind` about `ticket`.
    For { ticket: i64, kind: String },
}

/// The pieces of `tp.<ticket>.<kind>.<nonce>.<sig>@<domain>`.
struct SignedParts<'a> {
    ticket: i64,
    kind: &'a str,
    nonce: &'a str,
    sig: &'a str,
}

impl<'a> SignedParts<'a> {
    fn of(id: &'a str, domain: &str) -> Option<SignedParts<'a>> {
        let (local, id_domain) = id.trim().trim_matches(['<', '>']).rsplit_once('@')?;
        if !id_domain.eq_ignore_ascii_case(domain) {
            return None;
        }
        let mut parts = local.split('.');
        let (tp, ticket, kind, nonce, sig) = (
            parts.next()?,
            parts.next()?,
            parts.next()?,
            parts.next()?,
            parts.next()?,
        );
        if tp != "tp" || parts.next().is_some() {
            return None;
        }
        Some(SignedParts {
            ticket: ticket.parse().ok()?,
            kind,
            nonce,
            sig,
        })
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Whether the trusted server vouches for the sender's domain: the topmost
/// Authentication-Results header carries its authserv-id and reports `dkim=pass` with
/// `header.d` (or, without one, `header.i`'s domain) equal to the sender's domain, or
/// `spf=pass` with `smtp.mailfrom` in (or being) that domain. Ids, methods, results and
/// domains compare ignoring case. `headers`: the Authentication-Results values, top
/// first.
///
/// Only the topmost header can be the trusted server's: it adds its own above those
/// the message came with, so a header with its id further down was written by someone
/// else (the server should also strip those, see the README). The header is read by
/// `auth_results`, which keeps a `;` inside a quoted local-part or a comment from
/// starting a result of the sender's making.
pub fn authenticated_by_mta(headers: &[&str], trusted_authserv_id: &str, sender: &str) -> bool {
    use super::auth_results::{parse, value_domain};

    let Some(domain) = sender
        .rsplit_once('@')
        .map(|(_, d)| d.trim())
        .filter(|d| !d.is_empty())
    else {
        return false;
    };
    let Some(top) = headers.first().and_then(|h| parse(h)) else {
        return false;
    };
    if top.version != 1
        || !top
            .authserv_id
            .eq_ignore_ascii_case(trusted_authserv_id.trim())
    {
        return false;
    }
    let is_senders = |d: Option<&str>| d.is_some_and(|d| d.eq_ignore_ascii_case(domain));
    top.results
        .iter()
        .filter(|r| r.result == "pass" && r.method_version == 1)
        .any(|r| match r.method.as_str() {
            // `header.d` is the signing domain; `header.i` (its domain, or a
            // subdomain of it) stands in only where no `header.d` is given.
            "dkim" if r.has_property("header", "d") => {
                is_senders(r.property("header", "d").and_then(value_domain))
            }
            "dkim" => is_senders(r.property("header", "i").and_then(value_domain)),
            "spf" => is_senders(r.property("smtp", "mailfrom").and_then(value_domain)),
            _ => false,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signed_id_proves_its_recipient_and_ticket_only() {
        let key = StaffKey::new(b"k".to_vec());
        let id = key.message_id("agent_notice", 7, "Ann@Example.test", "desk.test");
        assert!(key.signed_for(&[&id], "ann@example.test", 7, "desk.test"));
        assert!(key.signed_for(&[&format!("<{id}>")], "ANN@example.test", 7, "desk.test"));
        assert!(!key.signed_for(&[&id], "mallory@example.test", 7, "desk.test"));
        assert!(!key.signed_for(&[&id], "ann@example.test", 8, "desk.test"));
        assert!(!key.signed_for(&[&id], "ann@example.test", 7, "other.test"));
        let other = StaffKey::new(b"other key".to_vec());
        assert!(!other.signed_for(&[&id], "ann@example.test", 7, "desk.test"));
        // A forged id with the right shape but a made-up signature.
        let forged = "tp.7.agent_notice.0123456789abcdef.0123456789abcdef@desk.test";
        assert!(!key.signed_for(&[forged], "ann@example.test", 7, "desk.test"));
        // The kind is signed: renaming it breaks the signature.
        let renamed = id.replacen("agent_notice", "authorization_request", 1);
        assert!(!key.signed_for(&[&renamed], "ann@example.test", 7, "desk.test"));
        // What a valid id says: its ticket and its kind (not another kind).
        assert_eq!(
            key.check(&id, "ann@example.test", "desk.test"),
            SignedId::For {
                ticket: 7,
                kind: "agent_notice".into()
            }
        );
        assert_eq!(
            key.check(&renamed, "ann@example.test", "desk.test"),
            SignedId::NotFor
        );
        assert!(!key.signed_for(
            &["junk", "", "@desk.test"],
            "ann@example.test",
            7,
            "desk.test"
        ));
    }

    #[test]
    fn an_id_signed_for_one_person_is_shown_to_no_one_else() {
        let key = StaffKey::new(b"k".to_vec());
        let id = key.message_id("agent_notice", 7, "ann@example.test", "desk.test");
        assert!(key.may_show_to(&id, "Ann@example.test", "desk.test"));
        assert!(!key.may_show_to(&id, "jane@example.test", "desk.test"));
        // Other people's ids, and our unsigned ones, are not ours to hide.
        assert!(key.may_show_to("abc@mail.example.test", "jane@example.test", "desk.test"));
        assert!(key.may_show_to(
            "tp.0.sla_digest.0123456789abcdef@desk.test",
            "jane@example.test",
            "desk.test"
        ));
        // A forged id in our shape is not shown either.
        assert!(!key.may_show_to(
            "tp.7.relay.0123456789abcdef.0123456789abcdef@desk.test",
            "jane@example.test",
            "desk.test"
        ));
    }

    #[test]
    fn only_the_trusted_servers_pass_counts() {
        let ann =
            |headers: &[&str]| authenticated_by_mta(headers, "mx.desk.test", "ann@example.test");
        let ok = "mx.desk.test; dkim=pass header.d=example.test header.s=s1; spf=fail";
        assert!(ann(&[ok]));
        let spf = "mx.desk.test; spf=pass smtp.mailfrom=ann@Example.test";
        assert!(ann(&[spf]));
        // Case, comments, quoted values, versions, `header.i`, a domain-only mailfrom.
        for genuine in [
            "MX.Desk.Test; DKIM=PASS header.d=EXAMPLE.test",
            "mx.desk.test 1; dkim/1=pass (2048-bit key; unprotected) header.d=example.test",
            "\"mx.desk.test\" (border); dkim=pass header.d=\"example.test\"",
            "mx.desk.test; dkim=pass header.i=@example.test",
            "mx.desk.test; dkim=pass header.i=ann@example.test header.s=s1",
            "mx.desk.test; spf=pass smtp.mailfrom=example.test",
            "mx.desk.test; spf=pass smtp.mailfrom=\"ann;x\"@example.test",
            "mx.desk.test; dmarc=fail header.from=example.test; spf=pass (mx.desk.test: x; y) smtp.mailfrom=ann@example.test",
        ] {
            assert!(ann(&[genuine]), "{genuine}");
        }
        // Another domain's pass, a fail, an untrusted server, a header below ours.
        let other = "mx.desk.test; dkim=pass header.d=evil.test";
        assert!(!ann(&[other]));
        let fail = "mx.desk.test; dkim=fail header.d=example.test";
        assert!(!ann(&[fail]));
        let untrusted = "mx.evil.test; dkim=pass header.d=example.test";
        assert!(!ann(&[untrusted]));
        assert!(!ann(&[fail, ok]));
        assert!(!ann(&[]));
        // Attack a: a `;` inside a quoted local-part (or a comment) starts no result.
        let quoted = "mx.desk.test; spf=pass smtp.mailfrom=\"x;dkim=pass header.d=example.test x\"@evil.test";
        assert!(!ann(&[quoted]));
        let comment =
            "mx.desk.test; spf=fail (x; dkim=pass header.d=example.test ) smtp.mailfrom=evil.test";
        assert!(!ann(&[comment]));
        let nested = "mx.desk.test; spf=fail (a (b) ; dkim=pass header.d=example.test) smtp.mailfrom=evil.test";
        assert!(!ann(&[nested]));
        // Attack b: a header with our id below any other is not ours.
        let foreign = "mx.other.test; dkim=fail header.d=example.test";
        assert!(!ann(&[foreign, ok]));
        assert!(ann(&[ok, foreign]));
        // Near misses: a subdomain or parent, a look-alike id, `none`, an unknown
        // version, a property given twice, a header.i beside another header.d,
        // unreadable fields, no sender domain.
        for forged in [
            "mx.desk.test; dkim=pass header.d=mail.example.test",
            "mx.desk.test; spf=pass smtp.mailfrom=ann@sub.example.test",
            "mx.desk.test; dkim=pass header.d=test",
            "mx.desk.test.evil.test; dkim=pass header.d=example.test",
            "x.mx.desk.test; dkim=pass header.d=example.test",
            "mx.desk.test; none",
            "mx.desk.test; none; dkim=pass header.d=example.test",
            "mx.desk.test 2; dkim=pass header.d=example.test",
            "mx.desk.test; dkim/2=pass header.d=example.test",
            "mx.desk.test; dkim=pass header.d=evil.test header.d=example.test",
            "mx.desk.test; dkim=pass header.d=evil.test header.i=@example.test",
            "mx.desk.test; spf=pass smtp.mailfrom=\"ann@example.test\"@evil.test",
            "mx.desk.test; spf=pass smtp.helo=example.test",
            "mx.desk.test; dkim=pass header.d=example.test (unclosed",
            "mx.desk.test; dkim=pass header.d=\"example.test",
            "mx.desk.test dkim=pass header.d=example.test",
            "mx.desk.test; dmarc=pass header.from=example.test",
            "",
            ";;;",
        ] {
            assert!(!ann(&[forged]), "{forged}");
        }
        assert!(!authenticated_by_mta(&[ok], "mx.desk.test", "ann"));
        assert!(!authenticated_by_mta(&[ok], "mx.desk.test", "ann@"));
        assert!(!authenticated_by_mta(
            &[ok],
            "mx.other.test",
            "ann@example.test"
        ));
        // Garbage in the topmost place never panics and never passes.
        let long = format!(
            "mx.desk.test;{}",
            " dkim=pass header.d=evil.test;".repeat(50_000)
        );
        assert!(!ann(&[&long, ok]));
        assert!(!ann(&[&long]));
    }
}
