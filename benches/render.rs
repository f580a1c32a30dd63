//! Render benchmark (issue 17): what the mail of one new ticket costs to render and
//! pack, with the embedded default's staff (two agents and a supervisor get a notice
//! each, besides the requester's acknowledgement), done two ways in the same process:
//!
//! - **per recipient**, as before: each notice rendered from its templates, made into
//!   MIME and packed on its own (`Renderer::agent_notice`, `Renderer::pack`);
//! - **once per event**, as ingest does now: the notice rendered and made into MIME
//!   once, addressed to each agent, and its shared body packed once
//!   (`Renderer::agent_notices`, `Renderer::pack_each`).
//!
//! Both render the same generated requests (`support/generated_mail.rs`, parsed as
//! ingest parses them) with the outbox dictionary of the desk's templates, in
//! alternating rounds so that a busy machine slows both alike. Printed: the mean time
//! per ticket of each way (notices, and notices with the acknowledgement), and the
//! bytes kept per ticket. It asserts nothing about timings.
//!
//! Run it: `cargo bench --bench render`. Knobs (environment): `TP_RENDER_TICKETS`
//! (2000 per round), `TP_RENDER_ROUNDS` (4 of each way).

#[path = "support/generated_mail.rs"]
mod generated_mail;
#[path = "support/knobs.rs"]
mod knobs;

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Result, anyhow};
use knobs::env_number;
use ticketpost::config::Config;
use ticketpost::desk::lifecycle::Notice;
use ticketpost::inbound::InboundMessage;
use ticketpost::mail_packing::{self, Packer};
use ticketpost::notify::{Intake, NoticeExtras, OutgoingMail, Renderer, Thread, TicketView};

const EMBEDDED_DEFAULT: &str = include_str!("../config/ticketpost.toml");

fn main() {
    if let Err(e) = bench() {
        eprintln!("render benchmark failed: {e:#}");
        std::process::exit(1);
    }
}

/// One way of rendering a new ticket's staff notices.
#[derive(Clone, Copy, PartialEq)]
enum Way {
    PerRecipient,
    OncePerEvent,
}

#[derive(Default)]
struct Tally {
    notices: Duration,
    all: Duration,
    tickets: usize,
    kept_bytes: usize,
}

impl Tally {
    fn print(&self, name: &str) {
        let per = |d: Duration| d.as_secs_f64() * 1e6 / self.tickets.max(1) as f64;
        println!(
            "{name}: notices {:.0} µs per ticket; with the acknowledgement {:.0} µs; {} B kept per ticket (packed)",
            per(self.notices),
            per(self.all),
            self.kept_bytes / self.tickets.max(1)
        );
    }
}

fn bench() -> Result<()> {
    let tickets = env_number("TP_RENDER_TICKETS", 2000)?.max(1);
    let rounds = env_number("TP_RENDER_ROUNDS", 4)?.max(1);
    let config = Config::from_toml(
        Path::new("config/ticketpost.toml"),
        EMBEDDED_DEFAULT,
        &Default::default(),
    )?;
    let staff: Vec<String> = config
        .desk
        .agents
        .iter()
        .chain(&config.desk.supervisors)
        .map(|a| a.address.clone())
        .collect();
    let renderer = Renderer::new(&config.templates, &config.desk)?;
    let samples = renderer.sample_mails()?;
    let raws: Vec<&[u8]> = samples.iter().map(|m| m.raw.as_slice()).collect();
    let renderer = renderer.with_packer(Packer::with_dictionary(
        1,
        &mail_packing::dictionary_from(&raws),
    ));
    let mut rng = fastrand::Rng::with_seed(17);
    let requests: Vec<InboundMessage> = (0..tickets)
        .map(|i| {
            let raw = generated_mail::request(&mut rng, i, i % 997, "render", i % 3 == 0, false);
            ticketpost::inbound::parse(generated_mail::to_crlf(&raw))
                .map_err(|e| anyhow!("generated request {i} does not parse: {}", e.reason))
        })
        .collect::<Result<_>>()?;
    println!(
        "ticketpost render benchmark: {tickets} new tickets per round, {rounds} rounds of each way, {} staff notices per ticket",
        staff.len()
    );
    let (mut per_recipient, mut once) = (Tally::default(), Tally::default());
    for _ in 0..rounds {
        for (way, tally) in [
            (Way::PerRecipient, &mut per_recipient),
            (Way::OncePerEvent, &mut once),
        ] {
            for (i, request) in requests.iter().enumerate() {
                render_ticket(&renderer, way, i as i64 + 1, request, &staff, tally)?;
            }
        }
    }
    per_recipient.print("per recipient (before)");
    once.print("once per event (now)");
    let share = |a: Duration, b: Duration| 100.0 * (1.0 - a.as_secs_f64() / b.as_secs_f64());
    println!(
        "once per event saves {:.0}% of the notices' time and {:.0}% of a new ticket's rendering",
        share(once.notices, per_recipient.notices),
        share(once.all, per_recipient.all)
    );
    Ok(())
}

/// Renders and packs a new ticket's acknowledgement and staff notices one way.
fn render_ticket(
    r: &Renderer,
    way: Way,
    id: i64,
    request: &InboundMessage,
    staff: &[String],
    tally: &mut Tally,
) -> Result<()> {
    let started = Instant::now();
    let intake = Intake::plain("en");
    let ack = r.pack(r.acknowledgement(id, request, &intake, 1_795_420_800)?)?;
    let view = TicketView {
        id,
        subject: request.subject.clone(),
        requester: request
            .reply_address()
            .map(|a| a.email.clone())
            .unwrap_or_default(),
        requester_name: None,
        status: "open".into(),
        priority: "P3".into(),
        assignee: None,
        team: None,
        participants: Vec::new(),
        language: "en".into(),
        linked: Vec::new(),
    };
    let notices_started = Instant::now();
    let (extras, thread) = (NoticeExtras::default(), Thread::default());
    let notices: Vec<OutgoingMail> = match way {
        Way::PerRecipient => staff
            .iter()
            .map(|to| {
                r.pack(r.agent_notice(
                    &view,
                    to,
                    Notice::NewTicket,
                    Some("Requester"),
                    &request.text_body,
                    &extras,
                    &thread,
                    1_795_420_800,
                )?)
            })
            .collect::<Result<_>>()?,
        Way::OncePerEvent => r.pack_each(r.agent_notices(
            &view,
            staff,
            Notice::NewTicket,
            Some("Requester"),
            &request.text_body,
            &extras,
            &thread,
            1_795_420_800,
        )?)?,
    };
    tally.notices += notices_started.elapsed();
    tally.all += started.elapsed();
    tally.tickets += 1;
    // What the outbox keeps: each mail's packed head, and a shared body once per
    // distinct hash within the ticket.
    let mut bodies = std::collections::HashSet::new();
    for mail in std::iter::once(&ack).chain(&notices) {
        let packed = mail
            .packed
            .as_ref()
            .ok_or_else(|| anyhow!("a mail was not packed"))?;
        tally.kept_bytes += packed.bytes.len();
        if let Some(body) = &packed.body
            && bodies.insert(body.hash.clone())
        {
            tally.kept_bytes += body.bytes.len();
        }
    }
    Ok(())
}
