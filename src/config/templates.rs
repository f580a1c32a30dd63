//! `[templates]`: a folder whose files replace the built-in templates, and the
//! default language ([`TemplatesConfig`]). Rendering is left to
//! `notify`.

use std::path::PathBuf;

use super::raw::RawTemplates;

#[derive(Debug, Clone)]
pub struct TemplatesConfig {
    /// A folder whose files replace the built-in templates of the same name.
    pub dir: Option<PathBuf>,
    pub language: String,
}

/// `[templates]` (optional): no override folder and English by default.
pub(super) fn templates(raw: Option<RawTemplates>) -> TemplatesConfig {
    match raw {
        Some(t) => TemplatesConfig {
            dir: t.dir,
            language: t.language.unwrap_or_else(|| "en".into()),
        },
        None => TemplatesConfig {
            dir: None,
            language: "en".into(),
        },
    }
}
