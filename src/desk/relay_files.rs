//! Which of a message's attachments a mail about it carries: the decision, pure.
//!
//! A requester's files go on the agents' notices of their message; an agent's files on
//! the relay of their reply (and on the agents' notices of a note). A file is carried
//! unless it is of a dangerous type (an executable or script, known by its name or by
//! its first bytes) or it would take the mail over `[limits] relay_attachments_bytes`;
//! such a file is listed in the mail instead, with its size, SHA-256 and the command
//! that fetches it. Storing the bytes and building the MIME are left to `store` and
//! `notify`.

use crate::inbound::AttachmentInfo;

use super::lifecycle::{Mail, Notice};

/// `[limits] relay_attachments_bytes` when not set: 10 MiB of files per mail.
pub const DEFAULT_RELAY_ATTACHMENTS_BYTES: u64 = 10 * 1024 * 1024;

/// File name endings that run code when opened on a common desktop.
const DANGEROUS_EXTENSIONS: &[&str] = &[
    "exe", "bat", "cmd", "com", "scr", "js", "jse", "vbs", "vbe", "ps1", "psm1", "msi", "msp",
    "jar", "sh", "bash", "pif", "cpl", "hta", "wsf", "wsh", "lnk", "reg", "dll", "apk", "py", "pl",
    "rb", "command", "gadget",
];

/// Content types that are programs or scripts whatever the name says.
const DANGEROUS_TYPES: &[&str] = &[
    "application/x-msdownload",
    "application/x-msdos-program",
    "application/x-executable",
    "application/x-elf",
    "application/x-sh",
    "application/x-shellscript",
    "application/x-msi",
    "application/java-archive",
    "application/javascript",
    "text/javascript",
    "application/x-bat",
    "application/vnd.microsoft.portable-executable",
];

/// Why a file is dangerous to carry, or `None`: by name (extension), declared type,
/// or content (`MZ` Windows executables, `\x7fELF`, `#!` scripts).
pub fn dangerous(name: Option<&str>, content_type: &str, bytes: &[u8]) -> Option<&'static str> {
    if bytes.starts_with(b"MZ") {
        return Some("a Windows executable (MZ)");
    }
    if bytes.starts_with(b"\x7fELF") {
        return Some("an executable (ELF)");
    }
    if bytes.starts_with(b"#!") {
        return Some("a script (#!)");
    }
    if DANGEROUS_TYPES
        .iter()
        .any(|t| t.eq_ignore_ascii_case(content_type))
    {
        return Some("a program or script (by its type)");
    }
    let name = name?.trim().trim_end_matches('.');
    let (_, ext) = name.rsplit_once('.')?;
    DANGEROUS_EXTENSIONS
        .iter()
        .any(|e| e.eq_ignore_ascii_case(ext))
        .then_some("a program or script (by its name)")
}

/// What a mail does with one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Carry {
    Attach,
    /// Listed with its size and SHA-256, not attached, for this reason.
    Withhold(String),
}

/// One file of the message and what the mail does with it. `n` counts from 1, as
/// `ticketpost attachments get TP-n N` does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilePlan {
    pub n: usize,
    pub carry: Carry,
}

/// Decides each file: dangerous ones are withheld; the rest are carried in order
/// while their total stays within `limit` bytes, and withheld past it.
pub fn plan(files: &[AttachmentInfo], limit: u64) -> Vec<FilePlan> {
    let mut total: u64 = 0;
    files
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let carry = if let Some(why) = dangerous(f.name.as_deref(), &f.content_type, &f.bytes) {
                Carry::Withhold(format!("{why}: not attached for safety"))
            } else if total.saturating_add(f.size) > limit {
                Carry::Withhold(format!(
                    "over the {} a mail may carry ([limits] relay_attachments_bytes)",
                    human_size(limit)
                ))
            } else {
                total = total.saturating_add(f.size);
                Carry::Attach
            };
            FilePlan { n: i + 1, carry }
        })
        .collect()
}

/// Whether a decided mail carries the files of the message that caused it: the
/// agents' notices of a requester's message or of a note, and an agent's relay.
pub fn carries_files(mail: &Mail) -> bool {
    match mail {
        Mail::Relay { .. } => true,
        Mail::AgentNotice { notice, .. } => matches!(
            notice,
            Notice::NewTicket
                | Notice::RequesterReply
                | Notice::Reopened
                | Notice::StillFailing
                | Notice::Note
        ),
        _ => false,
    }
}

/// The lines a mail adds for the files it does not carry (empty when it carries
/// them all): name, size, SHA-256, why, and how to fetch each. `before` is how many
/// files the ticket's earlier messages brought: the ticket numbers its files.
pub fn withheld_lines(
    token: &str,
    files: &[AttachmentInfo],
    plans: &[FilePlan],
    before: usize,
) -> String {
    let mut out = String::new();
    for p in plans {
        let (Carry::Withhold(why), Some(f)) = (&p.carry, files.get(p.n.wrapping_sub(1))) else {
            continue;
        };
        if out.is_empty() {
            out.push_str("[ticketpost: attachments not carried by this mail]\n");
        }
        out.push_str(&format!(
            "{}. {} ({}, {}, SHA-256 {}): {}. Fetch it with: ticketpost attachments get {} {}\n",
            p.n + before,
            f.name.as_deref().unwrap_or("(no name)"),
            f.content_type,
            human_size(f.size),
            f.sha256,
            why,
            token,
            p.n + before
        ));
    }
    out
}

/// Sizes for people: "512 bytes", "12.3 KiB", "10.0 MiB".
pub fn human_size(n: u64) -> String {
    match n {
        0..1024 => format!("{n} bytes"),
        1024..1_048_576 => format!("{:.1} KiB", n as f64 / 1024.0),
        _ => format!("{:.1} MiB", n as f64 / 1_048_576.0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(name: &str, ct: &str, bytes: &[u8]) -> AttachmentInfo {
        AttachmentInfo {
            name: Some(name.into()),
            content_type: ct.into(),
            size: bytes.len() as u64,
            sha256: "ab".into(),
            content_id: None,
            inline: false,
            bytes: bytes.into(),
        }
    }

    #[test]
    fn dangerous_files_are_known_by_name_type_and_content() {
        assert!(dangerous(Some("setup.EXE"), "application/octet-stream", b"x").is_some());
        assert!(dangerous(Some("run.ps1"), "text/plain", b"x").is_some());
        assert!(dangerous(Some("a.tar.sh"), "text/plain", b"x").is_some());
        assert!(dangerous(Some("invoice.pdf"), "application/pdf", b"MZ\x90\x00").is_some());
        assert!(dangerous(Some("notes.txt"), "text/plain", b"#!/bin/sh\nrm -rf /").is_some());
        assert!(dangerous(None, "application/octet-stream", b"\x7fELF\x02").is_some());
        assert!(dangerous(Some("x.dat"), "application/x-msdownload", b"").is_some());
        assert_eq!(dangerous(Some("shot.png"), "image/png", b"\x89PNG"), None);
        assert_eq!(
            dangerous(Some("report.pdf"), "application/pdf", b"%PDF-"),
            None
        );
        assert_eq!(dangerous(None, "image/jpeg", b"\xff\xd8"), None);
        assert_eq!(dangerous(Some("exe"), "text/plain", b"hello"), None);
    }

    #[test]
    fn files_are_carried_within_the_limit_and_dangerous_ones_never() {
        let files = [
            file("a.png", "image/png", &[1; 600]),
            file("tool.exe", "application/octet-stream", &[2; 10]),
            file("b.pdf", "application/pdf", &[3; 300]),
            file("c.pdf", "application/pdf", &[4; 200]),
            file("d.txt", "text/plain", &[5; 100]),
        ];
        let plans = plan(&files, 1000);
        let carried: Vec<usize> = plans
            .iter()
            .filter(|p| p.carry == Carry::Attach)
            .map(|p| p.n)
            .collect();
        assert_eq!(carried, vec![1, 3, 5]);
        let lines = withheld_lines("TP-7", &files, &plans, 10);
        assert!(lines.contains("12. tool.exe"), "{lines}");
        assert!(
            lines.contains("ticketpost attachments get TP-7 12"),
            "{lines}"
        );
        assert!(lines.contains("14. c.pdf"), "{lines}");
        assert!(lines.contains("relay_attachments_bytes"), "{lines}");
        assert!(!lines.contains("a.png"), "{lines}");
        assert_eq!(
            withheld_lines("TP-7", &files[..1], &plan(&files[..1], 1000), 0),
            ""
        );
    }
}
