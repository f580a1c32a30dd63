//! Security and safety cues added in round 4: data leaving in bulk through an account
//! that should not be used ("离职账号批量导出客户资料", "bulk export", a former employee's
//! login), ransomware by its marks (files with a new ending, a "read to restore" note,
//! folders changing as one watches), a colleague's mailbox sending a sign-in link that
//! people clicked; heat and smell at network cupboards ("hot plastic smell", "the door is
//! warm to touch", "comms cupboard", "弱电间").
//!
//! The patterns are joined into the cue sets of `desk::severity`; this module holds no
//! rule order.

/// A security incident in progress.
pub(super) const SECURITY: &str = concat!(
    r"\bbulk (?:export|download)|\bmass (?:export|download)|\bexfiltrat|\b(?:former|ex-|departed|leaver'?s?) (?:employee|staff|colleague|member of staff)'?s? (?:account|login) (?:is |has been |was )?(?:logging|downloading|exporting|signing|accessing|copying|still being used)",
    r"|\b(?:grown|gained|strange|weird|odd|unknown|new) (?:a |an )?\.[a-z0-9]{2,8} (?:ending|extension|suffix)\b|\bread_?(?:me|to|how)_?(?:recover|decrypt|restore)|\bfolders? (?:\w+ )?going the same way\b",
    r"|\blink\b[^.!?\n]{0,40}\b(?:asking (?:\w+ )?to (?:sign|log) ?in|to verify)\b|\b(?:people|colleagues|someone|\w+ of them)\b[^.!?\n]{0,20}\bclicked (?:on )?it\b",
    r"|(?:批量|大量)(?:导出|下载|拷贝)|离职[^，。,]{0,10}账号[^，。,]{0,12}(?:导出|下载|登录|登陆|拷贝)",
);

/// Exposure of a security incident that is wide.
pub(super) const SECURITY_WIDE: &str =
    r"\b(?:client|customer) matter|\bthe whole firm\b|\beveryone in the company\b";

/// Safety: heat or a smell at equipment.
pub(super) const SAFETY: &str = concat!(
    r"\b(?:hot|melting|burning|burnt|electrical|plastic)(?: \w+)? smell\b|\bsmell of (?:hot|melting|burning|plastic)\b|\b(?:warm|hot) to (?:the )?touch\b",
    r"|焦味|烧焦味|塑料味|发烫",
);

/// Shared equipment a safety incident can be at.
pub(super) const SHARED_EQUIPMENT: &str = r"\b(?:comms|network|server|wiring|data) (?:cupboard|closet|cabinet)\b|\bpatch panel\b|弱电间|电井|配线间";

/// A planned safety test, not an incident: "fire alarm test at 10:00 tomorrow", "消防演练".
pub(super) const PLANNED: &str =
    r"\b(?:fire )?drill\b|\balarm test|\btest(?:ing)? (?:of )?the (?:fire )?alarm|消防演练|演习";
