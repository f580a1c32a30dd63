//! ticketpost: a support mailbox turned into a ticket desk.
//!
//! Data flows top to bottom through the modules: `mailbox` (where mail comes from) →
//! `inbound` (raw bytes → message) → `desk` (what it means for a ticket; no I/O) →
//! `store` (one SQLite transaction per batch) → `notify` (which mail goes to whom) →
//! `outbox` (durable queue, delivery). `service` wires the loops together. `commands`
//! holds every verb of the command line (`cli` defines their arguments).

pub mod behalf_opening;
pub mod cli;
pub mod clock;
pub mod commands;
pub mod config;
pub mod desk;
pub mod http;
pub mod inbound;
pub mod ingest;
pub mod lookup_answer;
pub mod mail_packing;
pub mod mail_queue;
pub mod mailbox;
pub mod notify;
pub mod oauth;
pub mod outbox;
pub mod parse_thread;
pub mod report;
pub mod service;
pub mod store;
pub mod telemetry;
pub mod terminal;
pub mod ticket_writer;
pub mod timers;
pub mod tls_client;
pub mod transfer_decoding;
pub mod zstd_context;
