//! Finding the shared test corpora (`../shared/corpus`, read where they lie and never
//! copied into this repository) and their raw message files.
//!
//! Use it with `#[path = "support/corpus.rs"] mod corpus;`.

#![allow(dead_code)]

use std::fs;
use std::path::{Path, PathBuf};

#[path = "skip.rs"]
pub mod skip;
pub use skip::skip;

pub fn corpus_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus")
}

/// A raw message file by its name: `*.eml`, mbox-style `*.box`, or a Maildir entry
/// (any file directly inside `cur/`, `new/` or `tmp/`).
pub fn is_message_file(path: &Path) -> bool {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or_default();
    if ext.eq_ignore_ascii_case("eml") || ext.eq_ignore_ascii_case("box") {
        return true;
    }
    path.parent()
        .and_then(Path::file_name)
        .and_then(|d| d.to_str())
        .is_some_and(|d| matches!(d, "cur" | "new" | "tmp"))
}

/// Every message file under `dir`, recursively, appended to `out` (unsorted).
pub fn message_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            message_files(&path, out);
        } else if is_message_file(&path) {
            out.push(path);
        }
    }
}

/// The messages of an mbox: each starts at a line beginning `From `.
pub fn split_mbox(bytes: &[u8]) -> Vec<Vec<u8>> {
    let mut messages = Vec::new();
    let mut start = None;
    let mut line_start = 0;
    while line_start < bytes.len() {
        if bytes[line_start..].starts_with(b"From ") {
            if let Some(s) = start {
                messages.push(bytes[s..line_start].to_vec());
            }
            start = Some(line_start);
        }
        line_start = match bytes[line_start..].iter().position(|&b| b == b'\n') {
            Some(i) => line_start + i + 1,
            None => bytes.len(),
        };
    }
    if let Some(s) = start {
        messages.push(bytes[s..].to_vec());
    }
    messages
}
