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
use sha2::{Digest as _, Sha256};
use tera::Tera;

use crate::config::TemplatesConfig;
use crate::desk::Status;
use crate::desk::lifecycle::Notice;
use crate::desk::roster::DeskConfig;
use crate::desk::staff_proof::StaffKey;
use crate::desk::threading::token;
use crate::inbound::{Address, InboundMessage};
use crate::mail_packing::{Packed, Packer, QuotedRequest};

mod change_notice;
pub mod relayed_files;

pub use change_notice::PlanView;

/// A rendered mail ready to queue: what notify makes and the outbox stores and sends.
#[derive(Debug, Clone)]
pub struct OutgoingMail {
    pub kind: String,
    pub ticket: Option<i64>,
    /// Our Message-ID, without `<>`.
    pub message_id: String,
    pub mail_from: String,
    /// The envelope recipients (one person per mail about a ticket).
    pub recipients: Vec<String>,
    pub subject: String,
    pub raw: Vec<u8>,
    /// Files the mail carries: (placeholder in `raw`, SHA-256 of the stored bytes that
    /// replace it when the mail is sent); see [`relayed_files`].
    pub files: Vec<(String, String)>,
    /// `raw` as the outbox keeps it, when it was packed on a render worker
    /// ([`Renderer::pack`]); the store packs it otherwise.
    pub packed: Option<Packed>,
    /// The received request the mail quotes back (an acknowledgement, a new ticket's
    /// notices): its body is packed against it.
    pub quotes: Option<QuotedRequest>,
}

impl OutgoingMail {
    /// The mail, noted as quoting `request` (see [`Self::quotes`]).
    pub fn quoting(self, request: &QuotedRequest) -> OutgoingMail {
        OutgoingMail {
            quotes: Some(request.clone()),
            ..self
        }
    }
}

/// The built-in templates: (name, text).
macro_rules! built_in {
    ($($name:literal),* $(,)?) => {
        &[$(($name, include_str!(concat!("../../templates/", $name)))),*]
    };
}
const BUILT_IN: &[(&str, &str)] = built_in![
    "en/_layout.html",
    "en/acknowledgement.subject",
    "en/acknowledgement.txt",
    "en/acknowledgement.html",
    "en/agent_notice.subject",
    "en/agent_notice.txt",
    "en/agent_notice.html",
    "en/relay.subject",
    "en/relay.txt",
    "en/relay.html",
    "en/status_open.subject",
    "en/status_open.txt",
    "en/status_open.html",
    "en/status_waiting.subject",
    "en/status_waiting.txt",
    "en/status_waiting.html",
    "en/status_pending.subject",
    "en/status_pending.txt",
    "en/status_pending.html",
    "en/authorization_request.subject",
    "en/authorization_request.txt",
    "en/authorization_request.html",
    "en/confirmation_request.subject",
    "en/confirmation_request.txt",
    "en/confirmation_request.html",
    "en/closing.subject",
    "en/closing.txt",
    "en/closing.html",
    "en/command_error.subject",
    "en/command_error.txt",
    "en/command_error.html",
    "en/urgent_alert.subject",
    "en/urgent_alert.txt",
    "en/urgent_alert.html",
    "en/sla_alert.subject",
    "en/sla_alert.txt",
    "en/sla_alert.html",
    "en/sla_digest.subject",
    "en/sla_digest.txt",
    "en/sla_digest.html",
    "en/size_notice.subject",
    "en/size_notice.txt",
    "en/size_notice.html",
    "en/lookup_answer.subject",
    "en/lookup_answer.txt",
    "en/lookup_answer.html",
    "en/lookup_unverified.subject",
    "en/lookup_unverified.txt",
    "en/lookup_unverified.html",
    "en/merged.subject",
    "en/merged.txt",
    "en/merged.html",
    "en/merged_here.subject",
    "en/merged_here.txt",
    "en/merged_here.html",
    "en/change_notice.subject",
    "en/change_notice.txt",
    "en/change_notice.html",
    "zh/_layout.html",
    "zh/acknowledgement.subject",
    "zh/acknowledgement.txt",
    "zh/acknowledgement.html",
    "zh/relay.subject",
    "zh/relay.txt",
    "zh/relay.html",
    "zh/status_open.subject",
    "zh/status_open.txt",
    "zh/status_open.html",
    "zh/status_waiting.subject",
    "zh/status_waiting.txt",
    "zh/status_waiting.html",
    "zh/status_pending.subject",
    "zh/status_pending.txt",
    "zh/status_pending.html",
    "zh/authorization_request.subject",
    "zh/authorization_request.txt",
    "zh/authorization_request.html",
    "zh/confirmation_request.subject",
    "zh/confirmation_request.txt",
    "zh/confirmation_request.html",
    "zh/closing.subject",
    "zh/closing.txt",
    "zh/closing.html",
    "zh/size_notice.subject",
    "zh/size_notice.txt",
    "zh/size_notice.html",
    "zh/merged.subject",
    "zh/merged.txt",
    "zh/merged.html",
    "zh/merged_here.subject",
    "zh/merged_here.txt",
    "zh/merged_here.html",
];

/// Languages requester-facing mail is written in; every one has every requester event.
pub const LANGUAGES: &[&str] = &["en", "zh"];

/// Events a requester receives, in their language.
const REQUESTER_EVENTS: &[&str] = &[
    "acknowledgement",
    "relay",
    "status_open",
    "status_waiting",
    "status_pending",
    "authorization_request",
    "confirmation_request",
    "closing",
    "size_notice",
    "merged",
    "merged_here",
];

/// Events that send mail, each with its three templates.
const EVENTS: &[&str] = &[
    "acknowledgement",
    "agent_notice",
    "relay",
    "status_open",
    "status_waiting",
    "status_pending",
    "authorization_request",
    "confirmation_request",
    "closing",
    "command_error",
    "urgent_alert",
    "sla_alert",
    "sla_digest",
    "size_notice",
    "lookup_answer",
    "lookup_unverified",
    "merged",
    "merged_here",
    "change_notice",
];

/// Lines of the request quoted back in the acknowledgement.
const EXCERPT_LINES: usize = 40;
const EXCERPT_CHARS: usize = 4000;
/// Text relayed or shown to agents is bounded too (the full message stays stored).
const TEXT_CHARS: usize = 64 * 1024;
/// Ids kept in the References of our mail: the first of the thread and the latest.
const MAX_REFERENCES: usize = 20;
/// A Message-ID longer than this is left out of our In-Reply-To/References, so that
/// no header line passes RFC 5322's 998 bytes.
const MAX_THREAD_ID_BYTES: usize = 250;
/// An ASCII header word (a run without white space) longer than this is cut: lettre
/// folds such words only between them, and RFC 5322 caps a line at 998 bytes. Words
/// with other characters become encoded-words, which lettre folds itself.
const MAX_HEADER_WORD_BYTES: usize = 200;
/// Text from mail shown in one of our headers (subject, names) is cut past this.
const MAX_HEADER_TEXT_BYTES: usize = 1024;

/// Renders outgoing mail. Built once at start-up; shared read-only.
pub struct Renderer {
    tera: Tera,
    desk: DeskConfig,
    language: String,
    support: Mailbox,
    /// Signs our Message-IDs for their recipients (see `desk::staff_proof`).
    staff_key: StaffKey,
    /// Packs rendered mail for the outbox, on the thread that rendered it.
    packer: std::sync::Arc<Packer>,
    /// SHA-256 of the templates in use (names and text): the key of the outbox
    /// dictionary made from them.
    templates_digest: String,
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
    urgent: bool,
    questions: &'a [String],
    suggestions: &'a [Suggestion],
    /// Set when the request was over the size limit.
    too_large: Option<TooLarge>,
}

/// A message over the size limit, for the mail telling its sender.
#[derive(Serialize)]
struct TooLarge {
    size_mb: String,
    limit_mb: String,
}

impl TooLarge {
    fn of(request: &InboundMessage) -> Option<TooLarge> {
        request.oversized.map(|o| {
            let (size_mb, limit_mb) = o.in_megabytes();
            TooLarge { size_mb, limit_mb }
        })
    }
}

/// A knowledge-base entry offered to a requester.
#[derive(Debug, Clone, Serialize)]
pub struct Suggestion {
    pub id: i64,
    pub title: String,
    /// The solution, shortened for the mail.
    pub solution: String,
}

/// A fact the requester gave, as agents see it.
#[derive(Debug, Clone, Serialize)]
pub struct FactLine {
    pub label: String,
    pub evidence: String,
}

/// A similar past ticket, as agents see it.
#[derive(Debug, Clone, Serialize)]
pub struct SimilarLine {
    pub token: String,
    pub status: String,
    pub subject: String,
}

/// What agents' notices and alerts show besides the text: facts, matches, reasons.
#[derive(Debug, Clone, Default, Serialize)]
pub struct NoticeExtras {
    pub facts: Vec<FactLine>,
    /// Labels of the facts still missing.
    pub missing: Vec<String>,
    pub kb_matches: Vec<Suggestion>,
    pub similar: Vec<SimilarLine>,
    /// Why the ticket got its priority.
    pub reasons: Vec<String>,
    /// Content-IDs of the inline images the notice carries, shown in its HTML.
    pub inline_images: Vec<String>,
}

impl NoticeExtras {
    fn insert_into(&self, ctx: &mut tera::Context) {
        ctx.insert("inline_images", &self.inline_images);
        ctx.insert("facts", &self.facts);
        ctx.insert("missing", &self.missing);
        ctx.insert("kb_matches", &self.kb_matches);
        ctx.insert("similar", &self.similar);
        ctx.insert("reasons", &self.reasons);
    }
}

/// What intake found for a new request: it shapes the acknowledgement and the notices.
#[derive(Debug, Clone)]
pub struct Intake {
    pub priority: crate::desk::Priority,
    /// "en" or "zh": the requester's language.
    pub language: String,
    /// Questions for the missing facts, in the requester's language.
    pub questions: Vec<String>,
    pub suggestions: Vec<Suggestion>,
    pub notice: NoticeExtras,
    /// When the first response is due, in words ("within 4 business hours").
    pub response_promise: String,
}

impl Intake {
    /// Plain intake: default priority and SLA, no questions, no matches.
    pub fn plain(language: &str) -> Intake {
        let priority = crate::desk::Priority::P3;
        Intake {
            response_promise: crate::desk::sla::SlaPolicy::defaults(chrono_tz::UTC)
                .promise(priority, language),
            priority,
            language: language.to_string(),
            questions: Vec::new(),
            suggestions: Vec::new(),
            notice: NoticeExtras::default(),
        }
    }

    fn sample(language: &str) -> Intake {
        let suggestion = Suggestion {
            id: 1,
            title: "Sample".into(),
            solution: "Sample".into(),
        };
        Intake {
            response_promise: "within 1 hour".into(),
            priority: crate::desk::Priority::P1,
            language: language.to_string(),
            questions: vec!["Sample?".into()],
            suggestions: vec![suggestion.clone()],
            notice: NoticeExtras {
                facts: vec![FactLine {
                    label: "device".into(),
                    evidence: "Sample".into(),
                }],
                missing: vec!["error text".into()],
                kb_matches: vec![suggestion],
                similar: vec![SimilarLine {
                    token: "TP-1".into(),
                    status: "open".into(),
                    subject: "Sample".into(),
                }],
                reasons: vec!["sample".into()],
                inline_images: vec!["sample@example.test".into()],
            },
        }
    }
}

/// Where an outgoing mail sits in its thread.
#[derive(Debug, Clone, Default)]
pub struct Thread {
    pub in_reply_to: Option<String>,
    pub references: Vec<String>,
}

impl Thread {
    /// A reply to the message `id` whose own References were `references`.
    pub fn reply_to(id: Option<&str>, references: &[String]) -> Thread {
        let mut refs = references.to_vec();
        if let Some(id) = id
            && !refs.iter().any(|r| r == id)
        {
            refs.push(id.to_string());
        }
        Thread {
            in_reply_to: id.map(String::from),
            references: refs,
        }
    }
}

/// Who an outgoing mail goes to and how it presents itself.
struct Envelope {
    to: Vec<Address>,
    cc: Vec<Address>,
    /// The one person this copy is delivered to, when the To and Cc headers name more
    /// (the requester and the participants each get a copy of their own, whose
    /// Message-ID is signed for them alone). `None`: delivered to To and Cc.
    copy_for: Option<String>,
    /// Display name on the support address (`None`: the support name).
    from_name: Option<String>,
    /// `Auto-Submitted` value; `None` for mail a person wrote (relays).
    auto_submitted: Option<&'static str>,
}

impl Renderer {
    /// The token of ticket `id` (`TP-42`), for logs and subjects.
    pub fn token(&self, id: i64) -> String {
        token(&self.desk.token_prefix, id)
    }

    /// Loads the templates (built-in, then overrides) and checks every one renders.
    pub fn new(templates: &TemplatesConfig, desk: &DeskConfig) -> Result<Renderer> {
        let mut tera = Tera::default();
        tera.autoescape_on(vec![".html", ".htm"]);
        tera.add_raw_templates(BUILT_IN.iter().copied())
            .context("built-in templates do not parse (bug)")?;
        let mut digest = Sha256::new();
        digest.update(templates.language.as_bytes());
        for (name, text) in BUILT_IN {
            digest.update(format!("\0{name}\0{}\0{text}", text.len()).as_bytes());
        }
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
            for (name, text) in &overrides {
                digest.update(format!("\0{name}\0{}\0{text}", text.len()).as_bytes());
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
            // A key for this process only, until the store's is set.
            staff_key: StaffKey::new(fastrand::u64(..).to_le_bytes().to_vec()),
            packer: std::sync::Arc::new(Packer::plain()),
            templates_digest: hex::encode(digest.finalize()),
        };
        renderer.self_check()?;
        Ok(renderer)
    }

    /// Signs Message-IDs with the store's key, so replies can be verified later.
    pub fn with_staff_key(mut self, key: StaffKey) -> Renderer {
        self.staff_key = key;
        self
    }

    /// Packs mail with the store's outbox dictionary (see `mail_packing`).
    pub fn with_packer(mut self, packer: Packer) -> Renderer {
        self.packer = std::sync::Arc::new(packer);
        self
    }

    /// SHA-256 (hex) of the templates in use: the key of the outbox dictionary made
    /// from [`Renderer::sample_mails`].
    pub fn templates_digest(&self) -> &str {
        &self.templates_digest
    }

    /// Packs a rendered mail for the outbox (compression, on the calling thread: the
    /// render workers call it, so the writer thread only stores the bytes).
    pub fn pack(&self, mut mail: OutgoingMail) -> Result<OutgoingMail> {
        mail.packed = Some(self.packer.pack_with(
            &mail.raw,
            mail.quotes.as_ref(),
            &mut crate::mail_packing::BodyMemo::default(),
        )?);
        Ok(mail)
    }

    /// [`Self::pack`] for the mails of one event: a body they share is hashed,
    /// decoded and compressed once.
    pub fn pack_each(&self, mut mails: Vec<OutgoingMail>) -> Result<Vec<OutgoingMail>> {
        let mut memo = crate::mail_packing::BodyMemo::default();
        for mail in &mut mails {
            mail.packed = Some(self.packer.pack_with(
                &mail.raw,
                mail.quotes.as_ref(),
                &mut memo,
            )?);
        }
        Ok(mails)
    }

    /// Renders every event's templates with sample values; names the failing file.
    pub fn self_check(&self) -> Result<()> {
        self.sample_mails().map(|_| ())
    }

    /// Every template an event needs is there (built in or overridden).
    fn check_templates_present(&self) -> Result<()> {
        let mut needed: Vec<String> = Vec::new();
        for event in EVENTS {
            needed.push(format!("{}/{event}", self.language));
        }
        for language in LANGUAGES {
            for event in REQUESTER_EVENTS {
                needed.push(format!("{language}/{event}"));
            }
        }
        for base in needed {
            for suffix in ["subject", "txt", "html"] {
                let name = format!("{base}.{suffix}");
                if !self.tera.get_template_names().any(|n| n == name) {
                    return Err(anyhow!("template {name} is missing"));
                }
            }
        }
        Ok(())
    }

    /// Every event's templates rendered with sample values, the requester-facing ones
    /// in every language; an error names the failing file. What `self_check` renders,
    /// and what the outbox dictionary is made of.
    pub fn sample_mails(&self) -> Result<Vec<OutgoingMail>> {
        self.check_templates_present()?;
        let sample = crate::inbound::parse(
            b"From: Sample <sample@example.test>\r\nSubject: Sample\r\nMessage-ID: <s@example.test>\r\n\r\nSample text.\r\n"
                .to_vec(),
        )
        .map_err(|e| anyhow!("sample message does not parse (bug): {}", e.reason))?;
        let mut too_large = sample.clone();
        too_large.oversized = Some(crate::inbound::Oversized {
            bytes: 30 << 20,
            limit: 25 << 20,
        });
        let check = |language: &str| -> Result<Vec<OutgoingMail>> {
            let mut out = Vec::new();
            let intake = Intake::sample(language);
            out.push(self.acknowledgement(1, &sample, &intake, 0)?);
            out.push(self.acknowledgement(1, &too_large, &intake, 0)?);
            let mut t = TicketView::sample();
            t.language = language.to_string();
            let thread = Thread::default();
            let extras = &intake.notice;
            out.push(self.agent_notice(
                &t,
                "agent@example.test",
                Notice::NewTicket,
                Some("Sample"),
                "Sample text.",
                extras,
                &thread,
                0,
            )?);
            out.extend(self.urgent_alerts(
                &t,
                &["agent@example.test".to_string()],
                "Sample text.",
                extras,
                &thread,
                0,
            )?);
            for (level, late_by, left) in [
                ("warning", "", "48m"),
                ("warning", "12m", ""),
                ("breach", "5m", ""),
                ("escalation", "1h 05m", ""),
            ] {
                let alert = SlaAlert {
                    level,
                    target: "first response",
                    due: "2026-01-01 09:00 UTC".into(),
                    late_by: late_by.into(),
                    left: left.into(),
                    target_length: "4h 00m".into(),
                    hours: "business",
                    holder: "agent@example.test".into(),
                    opened: "2026-01-01 05:00 UTC".into(),
                };
                out.push(self.sla_alert(&t, "agent@example.test", &alert, 0)?);
            }
            let line = DigestLine {
                token: "TP-1".into(),
                subject: "Sample".into(),
                priority: "P2".into(),
                status: "open".into(),
                holder: "agent@example.test".into(),
                what: "resolution 5m late".into(),
            };
            out.push(self.sla_digest(
                "boss@example.test",
                &Digest {
                    day: "2026-01-01".into(),
                    open_total: 1,
                    open: vec!["P2 open: 1".into()],
                    at_risk: vec![line.clone()],
                    breached: vec![line.clone()],
                    oldest: vec![line],
                    generated: "2026-01-01 08:00 UTC".into(),
                },
                0,
            )?);
            out.push(self.relay(&t, &t.requester, "Sample Agent", "Sample text.", &thread, 0)?);
            for status in [Status::Open, Status::Waiting, Status::Pending] {
                out.push(self.status_change(&t, &t.requester, status, &thread, 0)?);
            }
            out.push(self.authorization_request(&t, "Sample change", true, None, &thread, 0)?);
            let plan = PlanView::sample();
            out.push(self.authorization_request(
                &t,
                "Sample change",
                false,
                Some(&plan),
                &thread,
                0,
            )?);
            for notice in change_notice::ALL_NOTICES {
                out.push(self.change_notice(
                    &t,
                    "agent@example.test",
                    notice,
                    Some("Sample"),
                    &plan,
                    "Sample text.",
                    0,
                )?);
            }
            out.push(self.confirmation_request(&t, &t.requester, "Sample summary", &thread, 0)?);
            out.push(self.closing(&t, &t.requester, true, &thread, 0)?);
            out.push(self.command_error(
                &t,
                "agent@example.test",
                &["line 1: sample".into()],
                &thread,
                0,
            )?);
            out.push(self.size_notice(&t, &too_large, &thread, 0)?);
            out.push(self.lookup_answer(
                "agent@example.test",
                &LookupAnswer::sample(),
                &thread,
                0,
            )?);
            out.push(self.lookup_unverified(
                "agent@example.test",
                "agent@example.test",
                "/list open",
                0,
            )?);
            out.push(self.merged(&t, &t.requester, 2, &thread, 0)?);
            Ok(out)
        };
        let mut mails = Vec::new();
        for language in LANGUAGES {
            mails.extend(
                check(language).with_context(|| format!("template check failed ({language})"))?,
            );
        }
        Ok(mails)
    }

    /// Names of the templates in use, for `check`.
    pub fn template_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.tera.get_template_names().map(String::from).collect();
        names.sort();
        names
    }

    /// The acknowledgement of a new ticket, to the requester, threaded on the request,
    /// in the request's language: the urgent note, the questions for missing facts and
    /// matching knowledge-base entries, when there are any.
    pub fn acknowledgement(
        &self,
        ticket: i64,
        request: &InboundMessage,
        intake: &Intake,
        now: i64,
    ) -> Result<OutgoingMail> {
        let to = request
            .reply_address()
            .ok_or_else(|| anyhow!("the request has no sender address"))?;
        let excerpt = excerpt(&request.text_body);
        let priority = intake.priority.as_str();
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
            response_promise: &intake.response_promise,
            request_lines: excerpt.lines().collect(),
            request_excerpt: excerpt.clone(),
            support_name: &self.desk.support_name,
            support_address: &self.desk.support_address,
            urgent: intake.priority == crate::desk::Priority::P1,
            questions: &intake.questions,
            suggestions: &intake.suggestions,
            too_large: TooLarge::of(request),
        };
        let ctx = tera::Context::from_serialize(&ctx).context("template context")?;
        let rendered = self.render_event("acknowledgement", &intake.language, &ctx)?;
        let thread = Thread::reply_to(request.message_id.as_deref(), &request.references);
        self.compose(
            "acknowledgement",
            ticket,
            Envelope {
                to: vec![to.clone()],
                cc: Vec::new(),
                copy_for: None,
                from_name: None,
                auto_submitted: Some("auto-replied"),
            },
            rendered,
            &thread,
            now,
        )
    }

    /// The urgent-path alert: a P1 ticket, to each supervisor or on-call agent in `to`:
    /// rendered once, addressed to each.
    #[allow(clippy::too_many_arguments)]
    pub fn urgent_alerts(
        &self,
        t: &TicketView,
        to: &[String],
        text: &str,
        extras: &NoticeExtras,
        thread: &Thread,
        now: i64,
    ) -> Result<Vec<OutgoingMail>> {
        let mut ctx = self.ticket_context(t);
        ctx.insert("text", &bounded(text));
        extras.insert_into(&mut ctx);
        let rendered = self.render_event("urgent_alert", &self.language, &ctx)?;
        self.compose_each("urgent_alert", t.id, to, rendered, thread, now)
    }

    /// An SLA alert (warning, breach or escalation) to one member of staff.
    pub fn sla_alert(
        &self,
        t: &TicketView,
        to: &str,
        alert: &SlaAlert,
        now: i64,
    ) -> Result<OutgoingMail> {
        let mut ctx = self.ticket_context(t);
        ctx.insert("alert", alert);
        let rendered = self.render_event("sla_alert", &self.language, &ctx)?;
        self.compose(
            "sla_alert",
            t.id,
            Envelope {
                to: vec![Address {
                    name: None,
                    email: to.to_string(),
                }],
                cc: Vec::new(),
                copy_for: None,
                from_name: None,
                auto_submitted: Some("auto-generated"),
            },
            rendered,
            &Thread::default(),
            now,
        )
    }

    /// The supervisors' daily digest (about the desk, not one ticket).
    pub fn sla_digest(&self, to: &str, digest: &Digest, now: i64) -> Result<OutgoingMail> {
        let mut ctx = tera::Context::new();
        ctx.insert("digest", digest);
        ctx.insert("support_name", &self.desk.support_name);
        ctx.insert("support_address", &self.desk.support_address);
        // The layout's title and footer name a ticket; the digest has none.
        ctx.insert("token", "");
        ctx.insert("subject", &format!("Daily SLA digest {}", digest.day));
        let rendered = self.render_event("sla_digest", &self.language, &ctx)?;
        self.compose_for(
            "sla_digest",
            None,
            Envelope {
                to: vec![Address {
                    name: None,
                    email: to.to_string(),
                }],
                cc: Vec::new(),
                copy_for: None,
                from_name: None,
                auto_submitted: Some("auto-generated"),
            },
            rendered,
            &Thread::default(),
            now,
        )
    }

    /// The answer to an agent's look-up (`/show`, `/list`, `/search`), to that agent
    /// alone, in the staff language, threaded on their mail. About no one ticket.
    pub fn lookup_answer(
        &self,
        to: &str,
        answer: &LookupAnswer,
        thread: &Thread,
        now: i64,
    ) -> Result<OutgoingMail> {
        let mut ctx = self.desk_context();
        ctx.insert("asked", &answer.asked);
        ctx.insert("sections", &answer.sections);
        ctx.insert("errors", &answer.errors);
        ctx.insert("subject", &format!("Look-up: {}", answer.asked));
        let rendered = self.render_event("lookup_answer", &self.language, &ctx)?;
        self.compose_for(
            "lookup_answer",
            None,
            self.one_person(to, "auto-replied"),
            rendered,
            thread,
            now,
        )
    }

    /// Warns an agent that a look-up in the name of `claimed` (staff) did not prove
    /// its sender: nothing was answered.
    pub fn lookup_unverified(
        &self,
        to: &str,
        claimed: &str,
        text: &str,
        now: i64,
    ) -> Result<OutgoingMail> {
        let mut ctx = self.desk_context();
        ctx.insert("claimed", claimed);
        ctx.insert("text", &bounded(text));
        ctx.insert(
            "subject",
            &format!("Unverified look-up in the name of {claimed}"),
        );
        let rendered = self.render_event("lookup_unverified", &self.language, &ctx)?;
        self.compose_for(
            "lookup_unverified",
            None,
            self.one_person(to, "auto-generated"),
            rendered,
            &Thread::default(),
            now,
        )
    }

    /// The context of mail about the desk rather than one ticket.
    fn desk_context(&self) -> tera::Context {
        let mut ctx = tera::Context::new();
        ctx.insert("support_name", &self.desk.support_name);
        ctx.insert("support_address", &self.desk.support_address);
        // The layout's title and footer name a ticket; this mail has none.
        ctx.insert("token", "");
        ctx
    }

    /// Mail to `to` alone, from the support address.
    fn one_person(&self, to: &str, auto_submitted: &'static str) -> Envelope {
        Envelope {
            to: vec![Address {
                name: None,
                email: to.to_string(),
            }],
            cc: Vec::new(),
            copy_for: None,
            from_name: None,
            auto_submitted: Some(auto_submitted),
        }
    }

    /// The context every ticket mail shares.
    fn ticket_context(&self, t: &TicketView) -> tera::Context {
        let mut ctx = tera::Context::new();
        ctx.insert("token", &token(&self.desk.token_prefix, t.id));
        ctx.insert("ticket_id", &t.id);
        ctx.insert("subject", &t.subject);
        ctx.insert("requester", &t.requester);
        ctx.insert("requester_name", &t.requester_name);
        ctx.insert("status", &t.status);
        ctx.insert("priority", &t.priority);
        ctx.insert("assignee", &t.assignee);
        ctx.insert("team", &t.team);
        let linked: Vec<String> = t
            .linked
            .iter()
            .map(|l| token(&self.desk.token_prefix, *l))
            .collect();
        ctx.insert("linked", &linked);
        ctx.insert("support_name", &self.desk.support_name);
        ctx.insert("support_address", &self.desk.support_address);
        ctx
    }

    /// The requester (To) and the participants (Cc) of a ticket, in the copy for
    /// `copy_for` (one of them).
    fn requester_envelope(
        &self,
        t: &TicketView,
        with_participants: bool,
        copy_for: &str,
    ) -> Envelope {
        Envelope {
            to: vec![Address {
                name: t.requester_name.clone(),
                email: t.requester.clone(),
            }],
            cc: if with_participants {
                t.participants
                    .iter()
                    .map(|p| Address {
                        name: None,
                        email: p.clone(),
                    })
                    .collect()
            } else {
                Vec::new()
            },
            copy_for: Some(copy_for.to_string()),
            from_name: None,
            auto_submitted: Some("auto-generated"),
        }
    }

    /// A notice to one agent about ticket `t`, with Reply-To the support address so
    /// that "Reply" reaches the ticket.
    #[allow(clippy::too_many_arguments)]
    pub fn agent_notice(
        &self,
        t: &TicketView,
        to: &str,
        notice: Notice,
        author: Option<&str>,
        text: &str,
        extras: &NoticeExtras,
        thread: &Thread,
        now: i64,
    ) -> Result<OutgoingMail> {
        let to = [to.to_string()];
        let mut mails = self.agent_notices(t, &to, notice, author, text, extras, thread, now)?;
        mails
            .pop()
            .ok_or_else(|| anyhow!("no agent notice composed (bug)"))
    }

    /// [`Self::agent_notice`] to each agent in `to`: the event is rendered and made
    /// into MIME once, and only the headers are written per agent (their own To and
    /// signed Message-ID).
    #[allow(clippy::too_many_arguments)]
    pub fn agent_notices(
        &self,
        t: &TicketView,
        to: &[String],
        notice: Notice,
        author: Option<&str>,
        text: &str,
        extras: &NoticeExtras,
        thread: &Thread,
        now: i64,
    ) -> Result<Vec<OutgoingMail>> {
        let mut ctx = self.ticket_context(t);
        ctx.insert("headline", notice.headline());
        ctx.insert("notice", notice.as_str());
        ctx.insert("author", &author);
        ctx.insert("text", &bounded(text));
        extras.insert_into(&mut ctx);
        let rendered = self.render_event("agent_notice", &self.language, &ctx)?;
        self.compose_each("agent_notice", t.id, to, rendered, thread, now)
    }

    /// An agent's reply relayed to the requester and participants, from the support
    /// address as "<agent> via <support name>". The agent's address appears nowhere.
    #[allow(clippy::too_many_arguments)]
    pub fn relay(
        &self,
        t: &TicketView,
        copy_for: &str,
        agent_name: &str,
        text: &str,
        thread: &Thread,
        now: i64,
    ) -> Result<OutgoingMail> {
        let mut ctx = self.ticket_context(t);
        ctx.insert("agent_name", agent_name);
        ctx.insert("text", &bounded(text));
        let rendered = self.render_event("relay", &t.language, &ctx)?;
        let mut envelope = self.requester_envelope(t, true, copy_for);
        envelope.from_name = Some(format!("{agent_name} via {}", self.desk.support_name));
        envelope.auto_submitted = None;
        self.compose("relay", t.id, envelope, rendered, thread, now)
    }

    /// A status change the requester should know about (open, waiting, pending).
    pub fn status_change(
        &self,
        t: &TicketView,
        copy_for: &str,
        status: Status,
        thread: &Thread,
        now: i64,
    ) -> Result<OutgoingMail> {
        let event = match status {
            Status::Open => "status_open",
            Status::Waiting => "status_waiting",
            Status::Pending => "status_pending",
            Status::Resolved | Status::Closed => {
                return Err(anyhow!("status {status} has its own mail (bug)"));
            }
        };
        let ctx = self.ticket_context(t);
        let rendered = self.render_event(event, &t.language, &ctx)?;
        self.compose(
            event,
            t.id,
            self.requester_envelope(t, true, copy_for),
            rendered,
            thread,
            now,
        )
    }

    /// Asks the requester (only them) to authorise `what`.
    #[allow(clippy::too_many_arguments)]
    pub fn authorization_request(
        &self,
        t: &TicketView,
        what: &str,
        again: bool,
        plan: Option<&PlanView>,
        thread: &Thread,
        now: i64,
    ) -> Result<OutgoingMail> {
        let mut ctx = self.ticket_context(t);
        ctx.insert("what", what);
        ctx.insert("again", &again);
        // An approved change plan states the change, risk, backup and window.
        ctx.insert("plan", &plan);
        let rendered = self.render_event("authorization_request", &t.language, &ctx)?;
        self.compose(
            "authorization_request",
            t.id,
            self.requester_envelope(t, false, &t.requester),
            rendered,
            thread,
            now,
        )
    }

    pub fn confirmation_request(
        &self,
        t: &TicketView,
        copy_for: &str,
        summary: &str,
        thread: &Thread,
        now: i64,
    ) -> Result<OutgoingMail> {
        let mut ctx = self.ticket_context(t);
        let summary = bounded(summary);
        ctx.insert("summary_lines", &summary.lines().collect::<Vec<_>>());
        ctx.insert("summary", &summary);
        ctx.insert(
            "auto_close_days",
            &days(self.desk.lifecycle.auto_close_after),
        );
        let rendered = self.render_event("confirmation_request", &t.language, &ctx)?;
        self.compose(
            "confirmation_request",
            t.id,
            self.requester_envelope(t, true, copy_for),
            rendered,
            thread,
            now,
        )
    }

    pub fn closing(
        &self,
        t: &TicketView,
        copy_for: &str,
        auto: bool,
        thread: &Thread,
        now: i64,
    ) -> Result<OutgoingMail> {
        let mut ctx = self.ticket_context(t);
        ctx.insert("auto", &auto);
        ctx.insert("reopen_days", &days(self.desk.lifecycle.reopen_window));
        let rendered = self.render_event("closing", &t.language, &ctx)?;
        self.compose(
            "closing",
            t.id,
            self.requester_envelope(t, true, copy_for),
            rendered,
            thread,
            now,
        )
    }

    /// Tells one person on the requester side of ticket `t` that it was merged into
    /// ticket `into`, in the ticket's language.
    pub fn merged(
        &self,
        t: &TicketView,
        copy_for: &str,
        into: i64,
        thread: &Thread,
        now: i64,
    ) -> Result<OutgoingMail> {
        let mut ctx = self.ticket_context(t);
        ctx.insert("survivor", &token(&self.desk.token_prefix, into));
        let rendered = self.render_event("merged", &t.language, &ctx)?;
        self.compose(
            "merged",
            t.id,
            self.requester_envelope(t, true, copy_for),
            rendered,
            thread,
            now,
        )
    }

    /// Tells the requester of ticket `t` that ticket `merged` was merged into it, so
    /// that its replies now also reach the people who raised that one.
    pub fn merged_here(
        &self,
        t: &TicketView,
        merged: i64,
        thread: &Thread,
        now: i64,
    ) -> Result<OutgoingMail> {
        let mut ctx = self.ticket_context(t);
        ctx.insert("merged", &token(&self.desk.token_prefix, merged));
        let rendered = self.render_event("merged_here", &t.language, &ctx)?;
        self.compose(
            "merged_here",
            t.id,
            self.requester_envelope(t, false, &t.requester),
            rendered,
            thread,
            now,
        )
    }

    /// Tells the sender of a follow-up over the size limit that it was kept but its
    /// attachments were not read (a new request says so in its acknowledgement).
    pub fn size_notice(
        &self,
        t: &TicketView,
        request: &InboundMessage,
        thread: &Thread,
        now: i64,
    ) -> Result<OutgoingMail> {
        // The From address only: a Reply-To (easily forged) could aim it at anyone.
        let to = request
            .from
            .as_ref()
            .ok_or_else(|| anyhow!("the message has no From address"))?;
        let too_large = TooLarge::of(request)
            .ok_or_else(|| anyhow!("the message is not over the size limit (bug)"))?;
        let mut ctx = self.ticket_context(t);
        ctx.insert("size_mb", &too_large.size_mb);
        ctx.insert("limit_mb", &too_large.limit_mb);
        let rendered = self.render_event("size_notice", &t.language, &ctx)?;
        self.compose(
            "size_notice",
            t.id,
            Envelope {
                to: vec![to.clone()],
                cc: Vec::new(),
                copy_for: None,
                from_name: None,
                auto_submitted: Some("auto-replied"),
            },
            rendered,
            thread,
            now,
        )
    }

    /// Tells an agent which lines of their reply were wrong.
    pub fn command_error(
        &self,
        t: &TicketView,
        to: &str,
        errors: &[String],
        thread: &Thread,
        now: i64,
    ) -> Result<OutgoingMail> {
        let mut ctx = self.ticket_context(t);
        ctx.insert("errors", errors);
        let rendered = self.render_event("command_error", &self.language, &ctx)?;
        self.compose(
            "command_error",
            t.id,
            Envelope {
                to: vec![Address {
                    name: None,
                    email: to.to_string(),
                }],
                cc: Vec::new(),
                copy_for: None,
                from_name: None,
                auto_submitted: Some("auto-replied"),
            },
            rendered,
            thread,
            now,
        )
    }

    /// `thread` as `recipients` may see it: no Message-ID we signed for anyone else
    /// (it would let them pass as that person), no id too long for a header line, and
    /// References cut to the first and the latest ids, as RFC 5322 allows.
    fn thread_shown_to(&self, thread: &Thread, recipients: &[String]) -> Thread {
        let domain = &self.desk.message_id_domain;
        let shown = |id: &String| {
            id.len() <= MAX_THREAD_ID_BYTES
                && recipients
                    .iter()
                    .all(|r| self.staff_key.may_show_to(id, r, domain))
        };
        let mut references: Vec<String> = thread
            .references
            .iter()
            .filter(|id| shown(id))
            .cloned()
            .collect();
        if references.len() > MAX_REFERENCES {
            let latest = references.split_off(references.len() - (MAX_REFERENCES - 1));
            references.truncate(1);
            references.extend(latest);
        }
        Thread {
            in_reply_to: thread.in_reply_to.clone().filter(|id| shown(id)),
            references,
        }
    }

    /// Renders `event` in `language`, or in the configured language when there are no
    /// templates for it.
    fn render_event(&self, event: &str, language: &str, ctx: &tera::Context) -> Result<Rendered> {
        let has = |lang: &str| {
            let name = format!("{lang}/{event}.txt");
            self.tera.get_template_names().any(|n| n == name)
        };
        let language = if has(language) {
            language
        } else {
            &self.language
        };
        let render = |suffix: &str| {
            let name = format!("{language}/{event}.{suffix}");
            self.tera
                .render(&name, ctx)
                .map_err(|e| anyhow!("template {name}: {}", error_chain(&e)))
        };
        Ok(Rendered {
            // Made one line, bounded, in `compose_for` (`header_text`).
            subject: render("subject")?,
            text: render("txt")?,
            html: render("html")?,
        })
    }

    fn compose(
        &self,
        kind: &'static str,
        ticket: i64,
        envelope: Envelope,
        rendered: Rendered,
        thread: &Thread,
        now: i64,
    ) -> Result<OutgoingMail> {
        self.compose_for(kind, Some(ticket), envelope, rendered, thread, now)
    }

    /// One rendered event to each staff member in `to`, each a mail of their own
    /// (their To, their signed Message-ID, the thread they may see), all sharing one
    /// MIME body made once.
    fn compose_each(
        &self,
        kind: &'static str,
        ticket: i64,
        to: &[String],
        rendered: Rendered,
        thread: &Thread,
        now: i64,
    ) -> Result<Vec<OutgoingMail>> {
        let event = EventMime::new(rendered);
        to.iter()
            .map(|to| {
                let envelope = Envelope {
                    to: vec![Address {
                        name: None,
                        email: to.clone(),
                    }],
                    cc: Vec::new(),
                    copy_for: None,
                    from_name: None,
                    auto_submitted: Some("auto-generated"),
                };
                self.address(kind, Some(ticket), envelope, &event, thread, now)
            })
            .collect()
    }

    /// [`Self::compose`] for mail about a ticket or (None) about the desk as a whole.
    fn compose_for(
        &self,
        kind: &'static str,
        ticket: Option<i64>,
        envelope: Envelope,
        rendered: Rendered,
        thread: &Thread,
        now: i64,
    ) -> Result<OutgoingMail> {
        self.address(
            kind,
            ticket,
            envelope,
            &EventMime::new(rendered),
            thread,
            now,
        )
    }

    /// Writes the headers of one mail of `event` for `envelope`'s recipients.
    fn address(
        &self,
        kind: &'static str,
        ticket: Option<i64>,
        envelope: Envelope,
        event: &EventMime,
        thread: &Thread,
        now: i64,
    ) -> Result<OutgoingMail> {
        let mailbox = |a: &Address| -> Result<Mailbox> {
            Ok(Mailbox::new(
                a.name.as_deref().map(header_text),
                a.email
                    .parse()
                    .with_context(|| format!("recipient {:?} is not a usable address", a.email))?,
            ))
        };
        let recipients: Vec<String> = match &envelope.copy_for {
            Some(one) => vec![one.clone()],
            None => envelope
                .to
                .iter()
                .chain(&envelope.cc)
                .map(|a| a.email.clone())
                .collect(),
        };
        let Some(first) = recipients.first() else {
            return Err(anyhow!("no recipient for the {kind} mail"));
        };
        let domain = &self.desk.message_id_domain;
        let message_id = match ticket {
            Some(t) => self.staff_key.message_id(kind, t, first, domain),
            None => new_message_id(kind, ticket.unwrap_or(0), domain),
        };
        let from = match &envelope.from_name {
            Some(name) => Mailbox::new(Some(header_text(name)), self.support.email.clone()),
            None => self.support.clone(),
        };
        let subject = event.subject.clone();
        let mut builder = lettre::Message::builder()
            .from(from)
            .reply_to(self.support.clone())
            .subject(subject.clone())
            .message_id(Some(format!("<{message_id}>")))
            .date(UNIX_EPOCH + Duration::from_secs(u64::try_from(now).unwrap_or(0)))
            .raw_header(header("X-Auto-Response-Suppress", "All"));
        if let Some(ticket) = ticket {
            builder = builder.raw_header(header(
                "X-Ticketpost-Ticket",
                &token(&self.desk.token_prefix, ticket),
            ));
        }
        if let Some(value) = envelope.auto_submitted {
            builder = builder.raw_header(header("Auto-Submitted", value));
        }
        // Each list is built once and set once: adding mailboxes one by one copies the
        // list each time (quadratic in the number of participants).
        let list = |people: &[Address]| -> Result<lettre::message::Mailboxes> {
            people.iter().map(mailbox).collect()
        };
        if !envelope.to.is_empty() {
            builder = builder.mailbox(lettre::message::header::To::from(list(&envelope.to)?));
        }
        if !envelope.cc.is_empty() {
            builder = builder.mailbox(lettre::message::header::Cc::from(list(&envelope.cc)?));
        }
        let thread = self.thread_shown_to(thread, &recipients);
        if let Some(irt) = &thread.in_reply_to {
            builder = builder.in_reply_to(format!("<{irt}>"));
        }
        if !thread.references.is_empty() {
            // lettre's references() replaces: pass the whole chain at once.
            let chain: Vec<String> = thread.references.iter().map(|r| format!("<{r}>")).collect();
            builder = builder.references(chain.join(" "));
        }
        let message = builder
            .multipart(event.parts.clone())
            .context("cannot build the outgoing message")?;
        Ok(OutgoingMail {
            kind: kind.to_string(),
            ticket,
            message_id,
            mail_from: self.desk.support_address.clone(),
            recipients,
            subject,
            raw: message.formatted(),
            files: Vec::new(),
            packed: None,
            quotes: None,
        })
    }
}

/// A ticket as a look-up answer lists it.
#[derive(Debug, Clone, Serialize)]
pub struct LookupLine {
    pub token: String,
    pub subject: String,
    pub status: String,
    pub priority: String,
    pub requester: String,
    /// `held by <assignee>`, `team <team>` or `unassigned`.
    pub holder: String,
    /// The SLA clocks in words (`desk::lookup::sla_summary`).
    pub sla: String,
    /// When the ticket last changed, in the desk's time zone.
    pub last_activity: String,
}

/// The answer to one look-up line.
#[derive(Debug, Clone, Serialize)]
pub struct LookupSection {
    /// The line answered, e.g. `/list mine`.
    pub title: String,
    pub tickets: Vec<LookupLine>,
    /// Tickets past the listed ones ("and N more").
    pub more: i64,
    /// Knowledge-base entries found (for `/search`).
    pub kb: Vec<Suggestion>,
    /// What to say when nothing was found.
    pub empty: String,
}

/// The answer to a look-up mail.
#[derive(Debug, Clone, Serialize)]
pub struct LookupAnswer {
    /// The lines asked, for the subject.
    pub asked: String,
    pub sections: Vec<LookupSection>,
    /// Lines not understood, with why.
    pub errors: Vec<String>,
}

impl LookupAnswer {
    fn sample() -> LookupAnswer {
        LookupAnswer {
            asked: "/list open".into(),
            sections: vec![LookupSection {
                title: "/list open".into(),
                tickets: vec![LookupLine {
                    token: "TP-1".into(),
                    subject: "Sample".into(),
                    status: "open".into(),
                    priority: "P2".into(),
                    requester: "sample@example.test".into(),
                    holder: "unassigned".into(),
                    sla: "resolution due in 3h 00m".into(),
                    last_activity: "2026-01-01 08:00 UTC".into(),
                }],
                more: 1,
                kb: vec![Suggestion {
                    id: 1,
                    title: "Sample".into(),
                    solution: "Sample".into(),
                }],
                empty: "No tickets.".into(),
            }],
            errors: vec!["line 2: /list everything: sample".into()],
        }
    }
}

/// An SLA alert as mails show it.
#[derive(Debug, Clone, Serialize)]
pub struct SlaAlert {
    /// "warning", "breach" or "escalation".
    pub level: &'static str,
    /// "first response" or "resolution".
    pub target: &'static str,
    /// When the target is (was) due, in the desk's time zone.
    pub due: String,
    /// How late (empty before the due time).
    pub late_by: String,
    /// How long is left (empty after the due time).
    pub left: String,
    /// The target's length, e.g. "4h 00m".
    pub target_length: String,
    /// "business" or "24x7".
    pub hours: &'static str,
    /// Who holds the ticket.
    pub holder: String,
    pub opened: String,
}

/// One ticket line in the daily digest.
#[derive(Debug, Clone, Serialize)]
pub struct DigestLine {
    pub token: String,
    pub subject: String,
    pub priority: String,
    pub status: String,
    pub holder: String,
    /// "resolution 2h 05m late", "first response due in 40m", "open for 3d 2h".
    pub what: String,
}

/// The supervisors' daily digest.
#[derive(Debug, Clone, Serialize)]
pub struct Digest {
    pub day: String,
    pub open_total: i64,
    /// "P2 open: 4" lines.
    pub open: Vec<String>,
    pub at_risk: Vec<DigestLine>,
    pub breached: Vec<DigestLine>,
    pub oldest: Vec<DigestLine>,
    pub generated: String,
}

/// The ticket as mails show it.
#[derive(Debug, Clone)]
pub struct TicketView {
    pub id: i64,
    pub subject: String,
    pub requester: String,
    pub requester_name: Option<String>,
    pub status: String,
    pub priority: String,
    pub assignee: Option<String>,
    pub team: Option<String>,
    pub participants: Vec<String>,
    /// The requester's language ("en", "zh"): requester mail is written in it.
    pub language: String,
    /// Tickets linked to this one (`/link`), listed in the agents' notices.
    pub linked: Vec<i64>,
}

impl TicketView {
    fn sample() -> TicketView {
        TicketView {
            id: 1,
            subject: "Sample".into(),
            requester: "sample@example.test".into(),
            requester_name: Some("Sample".into()),
            status: "open".into(),
            priority: "P3".into(),
            assignee: Some("agent@example.test".into()),
            team: None,
            participants: vec!["cc@example.test".into()],
            language: "en".into(),
            linked: vec![2],
        }
    }
}

impl From<&crate::store::tickets::TicketRow> for TicketView {
    fn from(r: &crate::store::tickets::TicketRow) -> TicketView {
        TicketView {
            id: r.id,
            subject: r.subject.clone(),
            requester: r.requester.clone(),
            requester_name: r.requester_name.clone(),
            status: r.status.clone(),
            priority: r.priority.clone(),
            assignee: r.assignee.clone(),
            team: r.team.clone(),
            participants: r.participants.clone(),
            language: r.language.clone(),
            linked: Vec::new(),
        }
    }
}

fn days(seconds: i64) -> i64 {
    (seconds + 86_399) / 86_400
}

/// Text bounded to [`TEXT_CHARS`] (at a character boundary), marked when cut.
fn bounded(text: &str) -> String {
    if text.len() <= TEXT_CHARS {
        return text.to_string();
    }
    let mut end = TEXT_CHARS;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!(
        "{}\n[... shortened; the full message is on the ticket]",
        &text[..end]
    )
}

struct Rendered {
    subject: String,
    text: String,
    html: String,
}

/// A rendered event made into MIME (its parts transfer-encoded), once for all the
/// recipients it is addressed to.
struct EventMime {
    /// One line, bounded (`header_text`).
    subject: String,
    parts: MultiPart,
}

impl EventMime {
    fn new(rendered: Rendered) -> EventMime {
        EventMime {
            subject: header_text(&rendered.subject),
            parts: MultiPart::alternative_plain_html(
                crlf_line_ends(rendered.text),
                crlf_line_ends(rendered.html),
            ),
        }
    }
}

fn header(name: &'static str, value: &str) -> HeaderValue {
    HeaderValue::new(HeaderName::new_from_ascii_str(name), value.to_string())
}

/// Our Message-ID for an outgoing mail: unique, in our domain, and telling which
/// ticket and event it belongs to (useful when reading bounces).
fn new_message_id(kind: &str, ticket: i64, domain: &str) -> String {
    format!("tp.{ticket}.{kind}.{:016x}@{domain}", fastrand::u64(..))
}

/// Text for one of our header fields (a subject, a display name): on one line, at
/// most [`MAX_HEADER_TEXT_BYTES`], and no word longer than [`MAX_HEADER_WORD_BYTES`],
/// so that every line of the header, once folded, stays within 998 bytes. A cut is
/// marked with "[...]".
fn header_text(s: &str) -> String {
    let line = one_line(s);
    let fits =
        line.len() <= MAX_HEADER_TEXT_BYTES && line.split(' ').all(|w| word_cap(w) >= w.len());
    if fits {
        return line;
    }
    let mut out = String::with_capacity(MAX_HEADER_TEXT_BYTES + 16);
    for word in line.split(' ') {
        if !out.is_empty() {
            out.push(' ');
        }
        let room = MAX_HEADER_TEXT_BYTES.saturating_sub(out.len());
        let keep = floor_char_boundary(word, room.min(word_cap(word)));
        out.push_str(&word[..keep]);
        if keep < word.len() {
            out.push_str("[...]");
        }
        if out.len() >= MAX_HEADER_TEXT_BYTES {
            break;
        }
    }
    out
}

/// How long `word` may be in a header: ASCII words are bounded, others are folded.
fn word_cap(word: &str) -> usize {
    if word.is_ascii() {
        MAX_HEADER_WORD_BYTES
    } else {
        usize::MAX
    }
}

/// The largest char boundary of `s` at or below `at`.
fn floor_char_boundary(s: &str, at: usize) -> usize {
    if at >= s.len() {
        return s.len();
    }
    let mut end = at;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    end
}

/// A subject on one line: control characters and line breaks become spaces, and
/// bidi overrides (which let a sender reorder what a mail client shows) are dropped.
fn one_line(s: &str) -> String {
    let s: String = s
        .chars()
        .filter(|c| !crate::terminal::is_bidi_control(*c))
        .collect();
    s.split(|c: char| c.is_control())
        .filter(|p| !p.trim().is_empty())
        .map(str::trim)
        .collect::<Vec<_>>()
        .join(" ")
}

/// `text` with CRLF line ends, in one pass. lettre would otherwise insert each CR in
/// place, moving the rest of the body once per line.
fn crlf_line_ends(text: String) -> String {
    let bare = text.bytes().filter(|&b| b == b'\n').count() - text.matches("\r\n").count();
    if bare == 0 {
        return text;
    }
    let mut out = String::with_capacity(text.len() + bare);
    let mut rest = text.as_str();
    while let Some(at) = rest.find('\n') {
        let line = &rest[..at];
        out.push_str(line);
        if !line.ends_with('\r') {
            out.push('\r');
        }
        out.push('\n');
        rest = &rest[at + 1..];
    }
    out.push_str(rest);
    out
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
    use crate::desk::roster::parse_named_address;

    #[test]
    fn line_ends_become_crlf_once() {
        let c = crlf_line_ends;
        assert_eq!(c("a\nb\r\nc\n".into()), "a\r\nb\r\nc\r\n");
        assert_eq!(c("\n\n".into()), "\r\n\r\n");
        assert_eq!(c("no breaks".into()), "no breaks");
        assert_eq!(c("done\r\n".into()), "done\r\n");
        assert_eq!(c("中文\n".into()), "中文\r\n");
    }

    pub(crate) fn desk() -> DeskConfig {
        DeskConfig {
            macros: Vec::new(),
            dashboard_url: None,
            change: Default::default(),
            other_addresses: Vec::new(),
            routes: Vec::new(),
            support_address: "support@example.test".into(),
            support_name: "Example Support".into(),
            token_prefix: "TP".into(),
            agents: vec![parse_named_address("Ann <ann@example.test>").unwrap()],
            supervisors: vec![],
            teams: vec![],
            message_id_domain: "example.test".into(),
            lifecycle: Default::default(),
            triage: Default::default(),
            oncall: vec![],
            default_language: "en".into(),
            max_participants: crate::desk::roster::DEFAULT_MAX_PARTICIPANTS,
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
    fn an_sla_warning_that_fires_late_says_how_late() {
        let alert = |late_by: &str, left: &str| SlaAlert {
            level: "warning",
            target: "first response",
            due: "2026-01-01 09:00 UTC".into(),
            late_by: late_by.into(),
            left: left.into(),
            target_length: "4h 00m".into(),
            hours: "business",
            holder: "ann@example.test".into(),
            opened: "2026-01-01 05:00 UTC".into(),
        };
        let r = renderer();
        let t = TicketView::sample();
        let late = r
            .sla_alert(&t, "ann@example.test", &alert("12m", ""), 0)
            .unwrap();
        assert!(
            late.subject
                .contains("at risk: first response overdue by 12m ("),
            "{}",
            late.subject
        );
        let text = String::from_utf8_lossy(&late.raw);
        assert!(
            !text.contains("due in ,") && !text.contains("due in  "),
            "{text}"
        );
        let early = r
            .sla_alert(&t, "ann@example.test", &alert("", "48m"), 0)
            .unwrap();
        assert!(
            early
                .subject
                .contains("at risk: first response due in 48m ("),
            "{}",
            early.subject
        );
    }

    #[test]
    fn an_event_to_several_agents_is_rendered_once_and_addressed_to_each() {
        let r = renderer();
        let t = TicketView::sample();
        let to: Vec<String> = ["ann@example.test", "bob@example.test", "boss@example.test"]
            .map(String::from)
            .to_vec();
        let thread = Thread::default();
        let mails = r
            .agent_notices(
                &t,
                &to,
                Notice::NewTicket,
                Some("Jane"),
                "The printer on floor 2 is jammed.",
                &NoticeExtras::default(),
                &thread,
                1_700_000_000,
            )
            .unwrap();
        assert_eq!(mails.len(), 3);
        let body = |m: &OutgoingMail| {
            let at = m.raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
            m.raw[at..].to_vec()
        };
        for (mail, to) in mails.iter().zip(&to) {
            assert_eq!(&mail.recipients, &vec![to.clone()]);
            let parsed = crate::inbound::parse(mail.raw.clone()).unwrap();
            assert_eq!(parsed.message_id.as_deref(), Some(mail.message_id.as_str()));
            // The Message-ID is signed for this agent alone (their replies prove them).
            assert!(matches!(
                r.staff_key.check(&mail.message_id, to, "example.test"),
                crate::desk::staff_proof::SignedId::For { .. }
            ));
            assert!(
                parsed
                    .text_body
                    .contains("The printer on floor 2 is jammed.")
            );
            // One MIME body for all (its boundary too: made once, not per agent).
            assert_eq!(body(mail), body(&mails[0]));
        }
        let ids: std::collections::HashSet<&str> =
            mails.iter().map(|m| m.message_id.as_str()).collect();
        assert_eq!(ids.len(), 3);
        // The same as one notice each, apart from the boundary and Message-ID.
        let one = r
            .agent_notice(
                &t,
                "bob@example.test",
                Notice::NewTicket,
                Some("Jane"),
                "The printer on floor 2 is jammed.",
                &NoticeExtras::default(),
                &thread,
                1_700_000_000,
            )
            .unwrap();
        let text = |m: &OutgoingMail| crate::inbound::parse(m.raw.clone()).unwrap().text_body;
        assert_eq!(text(&one), text(&mails[1]));
        assert_eq!(one.subject, mails[1].subject);
        // Packed together, the body is compressed once and shared; each comes back
        // byte-exact.
        let packed = r.pack_each(mails.clone()).unwrap();
        let shared: Vec<_> = packed
            .iter()
            .map(|m| m.packed.as_ref().unwrap().body.clone().unwrap())
            .collect();
        assert!(shared.iter().all(|b| *b == shared[0]));
        for (mail, original) in packed.iter().zip(&mails) {
            let p = mail.packed.as_ref().unwrap();
            let head = crate::mail_packing::unpack(p.format, None, &p.bytes).unwrap();
            let b = p.body.as_ref().unwrap();
            let body = crate::mail_packing::unpack(b.format, None, &b.bytes).unwrap();
            let raw = crate::mail_packing::join_shared(head, &body).unwrap();
            assert_eq!(raw, original.raw);
        }
    }

    #[test]
    fn acknowledgement_is_threaded_and_marked_automatic() {
        let raw = "From: Jane <jane@x.test>\r\nSubject: =?UTF-8?B?5omT5Y2w5py65Z2P5LqG?= <b>\r\nMessage-ID: <req-1@x.test>\r\nReferences: <a@x.test>\r\n\r\nIt is broken\r\n";
        let req = crate::inbound::parse(raw.as_bytes().to_vec()).unwrap();
        let mail = renderer()
            .acknowledgement(42, &req, &Intake::plain("en"), 1_700_000_000)
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
    fn ids_signed_for_others_are_not_shown_and_each_copy_is_signed_for_its_reader() {
        let key = StaffKey::new(b"k".to_vec());
        let r = renderer().with_staff_key(key.clone());
        let ann_id = key.message_id("agent_notice", 1, "ann@example.test", "example.test");
        let jane_id = key.message_id("acknowledgement", 1, "jane@x.test", "example.test");
        let thread = Thread {
            in_reply_to: Some(ann_id.clone()),
            references: vec!["theirs@x.test".into(), jane_id.clone(), ann_id.clone()],
        };
        let mut t = TicketView::sample();
        t.requester = "jane@x.test".into();
        t.participants = vec!["cc@x.test".into()];
        let for_jane = r
            .relay(&t, "jane@x.test", "Ann", "Try again.", &thread, 0)
            .unwrap();
        let for_cc = r
            .relay(&t, "cc@x.test", "Ann", "Try again.", &thread, 0)
            .unwrap();
        assert_eq!(for_jane.recipients, vec!["jane@x.test"]);
        assert_eq!(for_cc.recipients, vec!["cc@x.test"]);
        let jane_sees = crate::inbound::parse(for_jane.raw.clone()).unwrap();
        assert!(jane_sees.in_reply_to.is_empty());
        assert_eq!(
            jane_sees.references,
            vec!["theirs@x.test".to_string(), jane_id.clone()]
        );
        assert_eq!(
            jane_sees.cc.len(),
            1,
            "the Cc header still names the participants"
        );
        let cc_sees = crate::inbound::parse(for_cc.raw.clone()).unwrap();
        assert_eq!(cc_sees.references, vec!["theirs@x.test".to_string()]);
        // Each copy's own id proves its reader only.
        assert!(key.signed_for(&[&for_jane.message_id], "jane@x.test", t.id, "example.test"));
        assert!(!key.signed_for(&[&for_cc.message_id], "jane@x.test", t.id, "example.test"));
        assert!(key.signed_for(&[&for_cc.message_id], "cc@x.test", t.id, "example.test"));
    }

    #[test]
    fn header_text_keeps_every_header_line_within_998_bytes() {
        let long_word = "x".repeat(5_000);
        let cut = header_text(&long_word);
        assert!(cut.len() <= MAX_HEADER_WORD_BYTES + 5 && cut.ends_with("[...]"));
        let many_words = "word ".repeat(1_000);
        assert!(header_text(&many_words).len() <= MAX_HEADER_TEXT_BYTES + 5);
        // Text that lettre encodes (and folds) itself is not cut per word.
        let chinese = "打印机坏了".repeat(20);
        assert_eq!(header_text(&chinese), chinese);
        let mut req =
            crate::inbound::parse(b"From: a@x.test\r\nSubject: x\r\n\r\nb\r\n".to_vec()).unwrap();
        req.subject = format!("{long_word} {}", "y".repeat(900));
        req.references = (0..500).map(|i| format!("ref{i}@x.test")).collect();
        req.references.push(format!("{}@x.test", "z".repeat(2_000)));
        let mail = renderer()
            .acknowledgement(1, &req, &Intake::plain("en"), 0)
            .unwrap();
        let text = String::from_utf8_lossy(&mail.raw);
        let headers = text.split("\r\n\r\n").next().unwrap_or_default();
        for line in headers.split("\r\n") {
            assert!(line.len() <= 998, "{} bytes: {}", line.len(), &line[..80]);
        }
        let parsed = crate::inbound::parse(mail.raw.clone()).unwrap();
        assert_eq!(parsed.references.len(), MAX_REFERENCES);
        assert_eq!(parsed.references[0], "ref0@x.test");
    }

    #[test]
    fn header_injection_in_subject_is_neutralised() {
        let mut req =
            crate::inbound::parse(b"From: a@x.test\r\nSubject: x\r\n\r\nb\r\n".to_vec()).unwrap();
        req.subject = "hi\r\nBcc: victim@evil.test".into();
        let mail = renderer()
            .acknowledgement(1, &req, &Intake::plain("en"), 0)
            .unwrap();
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
