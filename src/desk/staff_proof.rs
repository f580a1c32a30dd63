//! Proof that a mail really comes from a member of staff, before any command in it
//! runs. A From header is easy to forge; two things are not:
//!
//! - **Our signed Message-IDs.** Every mail the desk sends carries a Message-ID
//!   `tp.<ticket>.<kind>.<nonce>.<sig>@<domain>`, where `sig` is an HMAC (SHA-256, key
//!   kept in the store) of the recipient's address, the ticket and the nonce. An
//!   agent's reply quotes it in In-Reply-To/References; only someone who received
//!   that mail can, and the signature names who that was.
//! - **Authentication-Results** from the MTA the desk trusts (`[security]
//!   trusted_authserv_id`): `dkim=pass` with `header.d`, or `spf=pass` with
//!   `smtp.mailfrom`, for the sender's domain. Only the topmost header with the trusted
//!   id counts: the ones below it came with the message.
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

    fn sign(&self, recipient: &str, ticket: i64, nonce: &str) -> String {
        let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(&self.0) else {
            // HMAC takes keys of any length; this cannot happen.
            return String::new();
        };
        mac.update(recipient.trim().to_ascii_lowercase().as_bytes());
        mac.update(b"\n");
        mac.update(ticket.to_string().as_bytes());
        mac.update(b"\n");
        mac.update(nonce.as_bytes());
        let digest = mac.finalize().into_bytes();
        hex::encode(&digest[..SIG_HEX / 2])
    }

    /// A Message-ID (without brackets) for a mail about `ticket` to `recipient`.
    pub fn message_id(&self, kind: &str, ticket: i64, recipient: &str, domain: &str) -> String {
        let nonce = format!("{:016x}", fastrand::u64(..));
        let sig = self.sign(recipient, ticket, &nonce);
        format!("tp.{ticket}.{kind}.{nonce}.{sig}@{domain}")
    }

    /// Whether one of `ids` is a Message-ID we signed for `sender` about `ticket`.
    pub fn signed_for(&self, ids: &[&str], sender: &str, ticket: i64, domain: &str) -> bool {
        ids.iter().any(|id| {
            let Some((local, id_domain)) = id.trim_matches(['<', '>']).rsplit_once('@') else {
                return false;
            };
            if !id_domain.eq_ignore_ascii_case(domain) {
                return false;
            }
            let parts: Vec<&str> = local.split('.').collect();
            let [tp, t, _kind, nonce, sig] = parts.as_slice() else {
                return false;
            };
            *tp == "tp"
                && t.parse::<i64>().ok() == Some(ticket)
                && constant_time_eq(sig.as_bytes(), self.sign(sender, ticket, nonce).as_bytes())
        })
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Whether the topmost Authentication-Results header of the trusted server says the
/// sender's domain passed DKIM (`header.d`) or SPF (`smtp.mailfrom`). `headers`: the
/// Authentication-Results values, top first.
pub fn authenticated_by_mta(headers: &[&str], trusted_authserv_id: &str, sender: &str) -> bool {
    let Some(domain) = sender
        .rsplit_once('@')
        .map(|(_, d)| d.trim().to_ascii_lowercase())
    else {
        return false;
    };
    let Some(header) = headers.iter().find(|h| {
        h.split(';')
            .next()
            .and_then(|id| id.split_whitespace().next())
            .is_some_and(|id| id.eq_ignore_ascii_case(trusted_authserv_id))
    }) else {
        return false;
    };
    header.split(';').skip(1).any(|result| {
        let words: Vec<String> = result
            .split_whitespace()
            .map(|w| w.to_ascii_lowercase())
            .collect();
        let property = |name: &str| {
            words.iter().find_map(|w| {
                w.strip_prefix(name)
                    .map(|v| v.trim_matches('"').to_string())
            })
        };
        let domain_of = |v: String| v.rsplit_once('@').map_or(v.clone(), |(_, d)| d.to_string());
        match words.first().map(String::as_str) {
            Some("dkim=pass") => property("header.d=").is_some_and(|d| d == domain),
            Some("spf=pass") => property("smtp.mailfrom=").is_some_and(|m| domain_of(m) == domain),
            _ => false,
        }
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
        assert!(!key.signed_for(
            &["junk", "", "@desk.test"],
            "ann@example.test",
            7,
            "desk.test"
        ));
    }

    #[test]
    fn only_the_trusted_servers_pass_counts() {
        let ok = "mx.desk.test; dkim=pass header.d=example.test header.s=s1; spf=fail";
        assert!(authenticated_by_mta(
            &[ok],
            "mx.desk.test",
            "ann@example.test"
        ));
        let spf = "mx.desk.test; spf=pass smtp.mailfrom=ann@Example.test";
        assert!(authenticated_by_mta(
            &[spf],
            "mx.desk.test",
            "ann@example.test"
        ));
        // Another domain's pass, a fail, an untrusted server, a header below ours.
        let other = "mx.desk.test; dkim=pass header.d=evil.test";
        assert!(!authenticated_by_mta(
            &[other],
            "mx.desk.test",
            "ann@example.test"
        ));
        let fail = "mx.desk.test; dkim=fail header.d=example.test";
        assert!(!authenticated_by_mta(
            &[fail],
            "mx.desk.test",
            "ann@example.test"
        ));
        let untrusted = "mx.evil.test; dkim=pass header.d=example.test";
        assert!(!authenticated_by_mta(
            &[untrusted],
            "mx.desk.test",
            "ann@example.test"
        ));
        assert!(!authenticated_by_mta(
            &[fail, ok],
            "mx.desk.test",
            "ann@example.test"
        ));
        assert!(!authenticated_by_mta(
            &[],
            "mx.desk.test",
            "ann@example.test"
        ));
    }
}
