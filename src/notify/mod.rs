//! Notify: which mail goes to whom at each event, rendered from the tera templates in
//! `templates/<lang>/<event>.{subject,txt,html}` into final RFC 5322 bytes.
//!
//! The binary carries the default templates; `[templates] dir` may hold files of the same
//! names that replace them. Every template is rendered once with sample values at
//! start-up (and by `check`), so a broken template stops the service before it has
//! taken any mail, never at send time. HTML templates escape everything; the subject
//! is made single-line; lettre encodes headers, so requester text cannot inject one.

use std::time::{Duration, UNIX_EPOCH};

use anyhow::{Context, Result, anyhow};
use lettre::message::header::{HeaderName, HeaderValue};
use lettre::message::{Mailbox, MultiPart};
use serde::Serialize;
use tera::Tera;

use crate::config::{DeskConfig, TemplatesConfig};
use crate::desk::threading::token;
use crate::inbound::{Address, InboundMessage};
use crate::outbox::OutgoingMail;

/// The built-in templates: (name, text).
const BUILT_IN: &[(&str, &str)] = &[
    (
        "en/acknowledgement.subject",
        include_str!("../../templates/en/acknowledgement.subject"),
    ),
    (
        "en/acknowledgement.txt",
        include_str!("../../templates/en/acknowledgement.txt"),
    ),
    (
        "en/acknowledgement.html",
        include_str!("../../templates/en/acknowledgement.html"),
    ),
];

/// Events that send mail, each with its three templates.
const EVENTS: &[&str] = &["acknowledgement"];

/// Lines of the request quoted back in the acknowledgement.
const EXCERPT_LINES: usize = 40;
const EXCERPT_CHARS: usize = 4000;

/// Renders outgoing mail. Built once at start-up; shared read-only.
pub struct Renderer {
    tera: Tera,
    desk: DeskConfig,
    language: String,
    support: Mailbox,
}

#[derive(Serialize)]
struct AcknowledgementContext<'a> {
    token: String,
    ticket_id: i64,
    subject: &'a str,
    requester_name: Option<&'a str>,
    requester: &'a str,
    priority: &'a str,
    response_promise: &'a str,
    request_excerpt: String,
    request_lines: Vec<&'a str>,
    support_name: &'a str,
    support_address: &'a str,
}

impl Renderer {
    /// Loads the templates (built-in, then overrides) and checks every one renders.
    pub fn new(templates: &TemplatesConfig, desk: &DeskConfig) -> Result<Renderer> {
        let mut tera = Tera::default();
        tera.autoescape_on(vec![".html", ".htm"]);
        tera.add_raw_templates(BUILT_IN.iter().copied())
            .context("built-in templates do not parse (bug)")?;
        if let Some(dir) = &templates.dir {
            let mut overrides = Vec::new();
            for (name, _) in BUILT_IN {
                let path = dir.join(name);
                if path.exists() {
                    let text = std::fs::read_to_string(&path)
                        .with_context(|| format!("cannot read template {}", path.display()))?;
                    overrides.push((name.to_string(), text));
                }
            }
            tera.add_raw_templates(overrides)
                .with_context(|| format!("a template in {} does not parse", dir.display()))?;
        }
        let support = Mailbox::new(
            Some(desk.support_name.clone()),
            desk.support_address.parse().with_context(|| {
                format!(
                    "[desk] support_address {:?} is not usable as a sender",
                    desk.support_address
                )
            })?,
        );
        let renderer = Renderer {
            tera,
            desk: desk.clone(),
            language: templates.language.clone(),
            support,
        };
        renderer.self_check()?;
        Ok(renderer)
    }

    /// Renders every event's templates with sample values; names the failing file.
    pub fn self_check(&self) -> Result<()> {
        for event in EVENTS {
            for suffix in ["subject", "txt", "html"] {
                let name = format!("{}/{event}.{suffix}", self.language);
                if !self.tera.get_template_names().any(|n| n == name) {
                    return Err(anyhow!("template {name} is missing"));
                }
            }
        }
        let sample = crate::inbound::parse(
            b"From: Sample <sample@example.test>\r\nSubject: Sample\r\nMessage-ID: <s@example.test>\r\n\r\nSample text.\r\n"
                .to_vec(),
        )
        .map_err(|e| anyhow!("sample message does not parse (bug): {}", e.reason))?;
        self.acknowledgement(1, &sample, crate::desk::DEFAULT_PRIORITY, 0)
            .context("template check failed")?;
        Ok(())
    }

    /// Names of the templates in use, for `check`.
    pub fn template_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.tera.get_template_names().map(String::from).collect();
        names.sort();
        names
    }

    /// The acknowledgement of a new ticket, to the requester, threaded on the request.
    pub fn acknowledgement(
        &self,
        ticket: i64,
        request: &InboundMessage,
        priority: &str,
        now: i64,
    ) -> Result<OutgoingMail> {
        let to = request
            .reply_address()
            .ok_or_else(|| anyhow!("the request has no sender address"))?;
        let excerpt = excerpt(&request.text_body);
        let ctx = AcknowledgementContext {
            token: token(&self.desk.token_prefix, ticket),
            ticket_id: ticket,
            subject: if request.subject.trim().is_empty() {
                "(no subject)"
            } else {
                &request.subject
            },
            requester_name: to.name.as_deref(),
            requester: &to.email,
            priority,
            response_promise: crate::desk::first_response_promise(priority),
            request_lines: excerpt.lines().collect(),
            request_excerpt: excerpt.clone(),
            support_name: &self.desk.support_name,
            support_address: &self.desk.support_address,
        };
        let rendered = self.render_event("acknowledgement", &ctx)?;
        let mut references = request.references.clone();
        if let Some(id) = &request.message_id
            && !references.contains(id)
        {
            references.push(id.clone());
        }
        self.compose(Compose {
            kind: "acknowledgement",
            ticket,
            to,
            rendered,
            in_reply_to: request.message_id.as_deref(),
            references: &references,
            now,
        })
    }

    fn render_event(&self, event: &str, ctx: &impl Serialize) -> Result<Rendered> {
        let ctx = tera::Context::from_serialize(ctx).context("template context")?;
        let render = |suffix: &str| {
            let name = format!("{}/{event}.{suffix}", self.language);
            self.tera
                .render(&name, &ctx)
                .map_err(|e| anyhow!("template {name}: {}", error_chain(&e)))
        };
        Ok(Rendered {
            subject: one_line(&render("subject")?),
            text: render("txt")?,
            html: render("html")?,
        })
    }

    fn compose(&self, c: Compose) -> Result<OutgoingMail> {
        let recipient = Mailbox::new(
            c.to.name.clone(),
            c.to.email
                .parse()
                .with_context(|| format!("recipient {:?} is not a usable address", c.to.email))?,
        );
        let message_id = new_message_id(c.kind, c.ticket, &self.desk.message_id_domain);
        let mut builder = lettre::Message::builder()
            .from(self.support.clone())
            .to(recipient)
            .subject(c.rendered.subject.clone())
            .message_id(Some(format!("<{message_id}>")))
            .date(UNIX_EPOCH + Duration::from_secs(u64::try_from(c.now).unwrap_or(0)))
            .raw_header(header("Auto-Submitted", "auto-replied"))
            .raw_header(header("X-Auto-Response-Suppress", "All"))
            .raw_header(header(
                "X-Ticketpost-Ticket",
                &token(&self.desk.token_prefix, c.ticket),
            ));
        if let Some(irt) = c.in_reply_to {
            builder = builder.in_reply_to(format!("<{irt}>"));
        }
        if !c.references.is_empty() {
            // lettre's references() replaces: pass the whole chain at once.
            let chain: Vec<String> = c.references.iter().map(|r| format!("<{r}>")).collect();
            builder = builder.references(chain.join(" "));
        }
        let message = builder
            .multipart(MultiPart::alternative_plain_html(
                c.rendered.text,
                c.rendered.html,
            ))
            .context("cannot build the outgoing message")?;
        Ok(OutgoingMail {
            kind: c.kind.to_string(),
            ticket: Some(c.ticket),
            message_id,
            mail_from: self.desk.support_address.clone(),
            recipients: vec![c.to.email.clone()],
            subject: c.rendered.subject,
            raw: message.formatted(),
        })
    }
}

struct Rendered {
    subject: String,
    text: String,
    html: String,
}

struct Compose<'a> {
    kind: &'static str,
    ticket: i64,
    to: &'a Address,
    rendered: Rendered,
    in_reply_to: Option<&'a str>,
    references: &'a [String],
    now: i64,
}

fn header(name: &'static str, value: &str) -> HeaderValue {
    HeaderValue::new(HeaderName::new_from_ascii_str(name), value.to_string())
}

/// Our Message-ID for an outgoing mail: unique, in our domain, and telling which
/// ticket and event it belongs to (useful when reading bounces).
fn new_message_id(kind: &str, ticket: i64, domain: &str) -> String {
    format!("tp.{ticket}.{kind}.{:016x}@{domain}", fastrand::u64(..))
}

/// A subject on one line: control characters and line breaks become spaces.
fn one_line(s: &str) -> String {
    s.split(|c: char| c.is_control())
        .filter(|p| !p.trim().is_empty())
        .map(str::trim)
        .collect::<Vec<_>>()
        .join(" ")
}

/// The first lines of the request, bounded, for quoting.
fn excerpt(text: &str) -> String {
    let mut out = String::new();
    for (i, line) in text.lines().enumerate() {
        if i == EXCERPT_LINES || out.len() + line.len() > EXCERPT_CHARS {
            out.push_str("[...]\n");
            break;
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out.trim_end().to_string()
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut source = e.source();
    while let Some(inner) = source {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        source = inner.source();
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::parse_named_address;

    pub(crate) fn desk() -> DeskConfig {
        DeskConfig {
            support_address: "support@example.test".into(),
            support_name: "Example Support".into(),
            token_prefix: "TP".into(),
            agents: vec![parse_named_address("Ann <ann@example.test>").unwrap()],
            supervisors: vec![],
            message_id_domain: "example.test".into(),
        }
    }

    fn renderer() -> Renderer {
        Renderer::new(
            &TemplatesConfig {
                dir: None,
                language: "en".into(),
            },
            &desk(),
        )
        .unwrap()
    }

    #[test]
    fn acknowledgement_is_threaded_and_marked_automatic() {
        let raw = "From: Jane <jane@x.test>\r\nSubject: =?UTF-8?B?5omT5Y2w5py65Z2P5LqG?= <b>\r\nMessage-ID: <req-1@x.test>\r\nReferences: <a@x.test>\r\n\r\nIt is broken\r\n";
        let req = crate::inbound::parse(raw.as_bytes().to_vec()).unwrap();
        let mail = renderer()
            .acknowledgement(42, &req, "P3", 1_700_000_000)
            .unwrap();
        assert_eq!(mail.recipients, vec!["jane@x.test"]);
        assert!(
            mail.subject.starts_with("[TP-42] 打印机坏了"),
            "{}",
            mail.subject
        );
        assert!(mail.message_id.ends_with("@example.test"));
        let parsed = crate::inbound::parse(mail.raw.clone()).unwrap();
        assert_eq!(parsed.subject, mail.subject);
        assert_eq!(parsed.in_reply_to, vec!["req-1@x.test"]);
        assert_eq!(parsed.references, vec!["a@x.test", "req-1@x.test"]);
        assert_eq!(parsed.message_id.as_deref(), Some(mail.message_id.as_str()));
        let text = String::from_utf8_lossy(&mail.raw);
        assert!(text.contains("Auto-Submitted: auto-replied"));
        assert!(text.contains("multipart/alternative"));
        assert!(parsed.text_body.contains("TP-42") && parsed.text_body.contains("> It is broken"));
        // The requester's "<b>" is escaped in HTML.
        let html = parsed.html_body.unwrap();
        assert!(
            html.contains("&lt;b&gt;") && !html.contains("<b>"),
            "{html}"
        );
    }

    #[test]
    fn header_injection_in_subject_is_neutralised() {
        let mut req =
            crate::inbound::parse(b"From: a@x.test\r\nSubject: x\r\n\r\nb\r\n".to_vec()).unwrap();
        req.subject = "hi\r\nBcc: victim@evil.test".into();
        let mail = renderer().acknowledgement(1, &req, "P3", 0).unwrap();
        let text = String::from_utf8_lossy(&mail.raw);
        let headers = text.split("\r\n\r\n").next().unwrap_or_default();
        assert!(
            !headers
                .lines()
                .any(|l| l.to_ascii_lowercase().starts_with("bcc:")),
            "{headers}"
        );
        assert!(headers.contains("Subject: [TP-1] hi Bcc: victim@evil.test"));
    }

    #[test]
    fn broken_override_template_is_reported_at_start() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("en")).unwrap();
        std::fs::write(
            dir.path().join("en/acknowledgement.txt"),
            "{{ no_such_variable }}",
        )
        .unwrap();
        let err = Renderer::new(
            &TemplatesConfig {
                dir: Some(dir.path().into()),
                language: "en".into(),
            },
            &desk(),
        )
        .err()
        .expect("must fail");
        let msg = format!("{err:#}");
        assert!(msg.contains("en/acknowledgement.txt"), "{msg}");
    }
}
