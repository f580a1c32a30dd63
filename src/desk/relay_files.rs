//! Which of a message's attachments a mail about it carries: the decision, pure.
//!
//! A requester's files go on the agents' notices of their message; an agent's files on
//! the relay of their reply (and on the agents' notices of a note). A file is carried
//! unless it is of a dangerous type (an executable or script, known by its name or by
//! its first bytes) or it would take the mail over `[limits] relay_attachments_bytes`;
//! such a file is listed in the mail instead, with its size and SHA-256: for agents
//! with the command that fetches it and the dashboard link when `[http]` is on, for
//! the requester's side in their language, with a request to reply if they need it.
//! Storing the bytes and building the MIME are left to `store` and
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

/// What makes a file dangerous to carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Danger {
    /// Starts with `MZ`.
    WindowsExecutable,
    /// Starts with `\x7fELF`.
    Executable,
    /// Starts with `#!`.
    Script,
    /// Declared as a program or script.
    ByType,
    /// Named as one (its extension).
    ByName,
}

impl Danger {
    fn describe(self, language: &str) -> &'static str {
        match (self, language) {
            (Danger::WindowsExecutable, "zh") => "Windows 可执行文件（MZ）",
            (Danger::Executable, "zh") => "可执行文件（ELF）",
            (Danger::Script, "zh") => "脚本（#!）",
            (Danger::ByType, "zh") => "程序或脚本（按其类型）",
            (Danger::ByName, "zh") => "程序或脚本（按其文件名）",
            (Danger::WindowsExecutable, _) => "a Windows executable (MZ)",
            (Danger::Executable, _) => "an executable (ELF)",
            (Danger::Script, _) => "a script (#!)",
            (Danger::ByType, _) => "a program or script (by its type)",
            (Danger::ByName, _) => "a program or script (by its name)",
        }
    }
}

/// Why a file is dangerous to carry, or `None`: by name (extension), declared type,
/// or content (`MZ` Windows executables, `\x7fELF`, `#!` scripts).
pub fn dangerous(name: Option<&str>, content_type: &str, bytes: &[u8]) -> Option<Danger> {
    if bytes.starts_with(b"MZ") {
        return Some(Danger::WindowsExecutable);
    }
    if bytes.starts_with(b"\x7fELF") {
        return Some(Danger::Executable);
    }
    if bytes.starts_with(b"#!") {
        return Some(Danger::Script);
    }
    if DANGEROUS_TYPES
        .iter()
        .any(|t| t.eq_ignore_ascii_case(content_type))
    {
        return Some(Danger::ByType);
    }
    let name = name?.trim().trim_end_matches('.');
    let (_, ext) = name.rsplit_once('.')?;
    DANGEROUS_EXTENSIONS
        .iter()
        .any(|e| e.eq_ignore_ascii_case(ext))
        .then_some(Danger::ByName)
}

/// Why a mail does not carry a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Withheld {
    Dangerous(Danger),
    /// It would take the mail over this many bytes of files.
    OverLimit(u64),
}

/// What a mail does with one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Carry {
    Attach,
    /// Listed with its size and SHA-256, not attached.
    Withhold(Withheld),
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
            let carry = if let Some(d) = dangerous(f.name.as_deref(), &f.content_type, &f.bytes) {
                Carry::Withhold(Withheld::Dangerous(d))
            } else if total.saturating_add(f.size) > limit {
                Carry::Withhold(Withheld::OverLimit(limit))
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

/// Who reads the list of withheld files, which decides how it is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Readers<'a> {
    /// Agents, in English: the command that fetches each file, and the dashboard link
    /// (`[http] public_url`) when the endpoint is on.
    Staff { dashboard_url: Option<&'a str> },
    /// The requester's side, in their language: they have neither the command nor the
    /// dashboard, so they are told to reply if they need the file.
    Requester { language: &'a str },
}

/// The lines a mail adds for the files it does not carry (empty when it carries
/// them all): name, size, SHA-256, why, and how to get each. `before` is how many
/// files the ticket's earlier messages brought: the ticket numbers its files.
pub fn withheld_lines(
    token: &str,
    files: &[AttachmentInfo],
    plans: &[FilePlan],
    before: usize,
    readers: Readers,
) -> String {
    let language = match readers {
        Readers::Requester { language: "zh" } => "zh",
        _ => "en",
    };
    let mut out = String::new();
    for p in plans {
        let (Carry::Withhold(why), Some(f)) = (&p.carry, files.get(p.n.wrapping_sub(1))) else {
            continue;
        };
        let n = p.n + before;
        if out.is_empty() {
            out.push_str(match language {
                "zh" => "[ticketpost：以下附件未随本邮件发送]\n",
                _ => "[ticketpost: attachments not carried by this mail]\n",
            });
        }
        let name = f.name.as_deref().unwrap_or(match language {
            "zh" => "（无文件名）",
            _ => "(no name)",
        });
        let (size, sha) = (human_size(f.size), &f.sha256);
        let reason = reason(*why, readers, language);
        let line = match readers {
            Readers::Staff { dashboard_url } => {
                let link = dashboard_url
                    .map(|base| format!(", or open {base}/tickets/{token}/files/{n}"))
                    .unwrap_or_default();
                format!(
                    "{n}. {name} ({}, {size}, SHA-256 {sha}): {reason}. Fetch it with: ticketpost attachments get {token} {n}{link}\n",
                    f.content_type
                )
            }
            Readers::Requester { .. } if language == "zh" => format!(
                "{n}. {name}（{}，{size}，SHA-256 {sha}）：{reason}。如需此文件，请回复本邮件告诉我们。\n",
                f.content_type
            ),
            Readers::Requester { .. } => format!(
                "{n}. {name} ({}, {size}, SHA-256 {sha}): {reason}. If you need it, reply to this mail and tell us.\n",
                f.content_type
            ),
        };
        out.push_str(&line);
    }
    out
}

/// Why a file was withheld, for its readers.
fn reason(why: Withheld, readers: Readers, language: &str) -> String {
    match (why, language) {
        (Withheld::Dangerous(d), "zh") => format!("{}，出于安全考虑未附上", d.describe("zh")),
        (Withheld::Dangerous(d), _) => format!("{}: not attached for safety", d.describe("en")),
        (Withheld::OverLimit(limit), "zh") => {
            format!("超过每封邮件可带附件的上限 {}", human_size(limit))
        }
        (Withheld::OverLimit(limit), _) => match readers {
            Readers::Staff { .. } => format!(
                "over the {} a mail may carry ([limits] relay_attachments_bytes)",
                human_size(limit)
            ),
            Readers::Requester { .. } => {
                format!("over the {} of files a mail may carry", human_size(limit))
            }
        },
    }
}

/// A file name from mail made safe to write or offer for download: its last path
/// component, without control characters, colons or a leading dot; `attachment-N`
/// when nothing is left.
pub fn safe_file_name(name: Option<&str>, n: i64) -> String {
    let last = name
        .unwrap_or_default()
        .rsplit(['/', '\\'])
        .next()
        .unwrap_or_default();
    let cleaned: String = last
        .chars()
        .filter(|c| !c.is_control() && *c != ':')
        .collect();
    let cleaned = cleaned.trim().trim_start_matches('.').to_string();
    if cleaned.is_empty() {
        format!("attachment-{n}")
    } else {
        cleaned
    }
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
    fn names_from_mail_cannot_leave_the_folder() {
        assert_eq!(safe_file_name(Some("../../etc/passwd"), 1), "passwd");
        assert_eq!(safe_file_name(Some("C:\\x\\shot.png"), 1), "shot.png");
        assert_eq!(safe_file_name(Some(".bashrc"), 2), "bashrc");
        assert_eq!(safe_file_name(Some(".."), 3), "attachment-3");
        assert_eq!(safe_file_name(None, 4), "attachment-4");
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
        let staff = Readers::Staff {
            dashboard_url: None,
        };
        let lines = withheld_lines("TP-7", &files, &plans, 10, staff);
        assert!(lines.contains("12. tool.exe"), "{lines}");
        assert!(
            lines.contains("ticketpost attachments get TP-7 12"),
            "{lines}"
        );
        assert!(lines.contains("14. c.pdf"), "{lines}");
        assert!(lines.contains("relay_attachments_bytes"), "{lines}");
        assert!(!lines.contains("a.png"), "{lines}");
        assert!(!lines.contains("http"), "{lines}");
        assert_eq!(
            withheld_lines("TP-7", &files[..1], &plan(&files[..1], 1000), 0, staff),
            ""
        );
    }

    #[test]
    fn agents_get_the_command_and_the_dashboard_link_requesters_their_language() {
        let files = [file("tool.exe", "application/octet-stream", b"MZ\x90")];
        let plans = plan(&files, 1000);
        let staff = Readers::Staff {
            dashboard_url: Some("https://desk.example.com"),
        };
        let lines = withheld_lines("TP-7", &files, &plans, 2, staff);
        assert!(
            lines.contains(
                "Fetch it with: ticketpost attachments get TP-7 3, or open https://desk.example.com/tickets/TP-7/files/3"
            ),
            "{lines}"
        );
        let en = withheld_lines(
            "TP-7",
            &files,
            &plans,
            2,
            Readers::Requester { language: "en" },
        );
        assert!(en.contains("3. tool.exe"), "{en}");
        assert!(
            en.contains("a Windows executable (MZ): not attached for safety"),
            "{en}"
        );
        assert!(en.contains("reply to this mail"), "{en}");
        assert!(!en.contains("ticketpost attachments get"), "{en}");
        let zh = withheld_lines(
            "TP-7",
            &files,
            &plans,
            2,
            Readers::Requester { language: "zh" },
        );
        assert!(
            zh.starts_with("[ticketpost：以下附件未随本邮件发送]"),
            "{zh}"
        );
        assert!(
            zh.contains("Windows 可执行文件（MZ），出于安全考虑未附上"),
            "{zh}"
        );
        assert!(zh.contains("请回复本邮件"), "{zh}");
        let big = [file("scan.pdf", "application/pdf", &[1; 2000])];
        let zh = withheld_lines(
            "TP-7",
            &big,
            &plan(&big, 1000),
            0,
            Readers::Requester { language: "zh" },
        );
        assert!(zh.contains("超过每封邮件可带附件的上限 1000 bytes"), "{zh}");
    }
}
