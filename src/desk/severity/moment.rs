//! Urgency cues added in round 4: how people say that work has stopped without a
//! "can't" ("nobody on the ward can get in", "none of the tickets are coming through",
//! "hangs on submit", "returning an error", "一辆都放不进来"), that the moment is now
//! (a live show, a service or an exam under way, staff stood about, a count waiting,
//! orders stacked up), deadlines by the clock ("in twenty minutes", "the bell is at
//! 09:30", "下午两点截港"), events that are over ("yesterday's outage … fine since
//! 11:40", a write-up wanted), and hedges ("是不是中毒了" asked by others is a question,
//! not an incident; "end of the month is fine").
//!
//! The patterns are joined into the cue sets of `desk::severity`; this module holds no
//! rule order.

/// Work stopped, said without a plain failure verb.
pub(super) const STOPPED: &str = concat!(
    r"\b(?:nobody|no one|no-one|none of)\b[^.!?\n]{0,50}?\b(?:can|could)\b",
    r"|\bnone of\b[^.!?\n]{0,50}?\b(?:(?:are|is) (?:\w+ing)|seems? to have)\b",
    r"|\bhangs?\b|\bhanging\b|\bgreyed out\b|\bsits? in the outbox\b|\bstuck in the outbox\b",
    r"|\b(?:returns?|returning|throws?|throwing|gives?|giving) (?:an? |the )?(?:error|500|404)\b|\berroring\b",
    r"|\bzero (?:inbound |incoming |outbound )?(?:calls|orders|sales|tickets)\b|\bnot (?:issuing|releasing|printing|ringing|pulling)\b|\bstopped (?:issuing|releasing|talking|printing|sending)\b",
    r"|[\p{Han}--[大少免差忘受得]]不了|一(?:辆|台|个|张|单)都(?:不|没|放不|进不)",
);

/// The moment is now: a live event under way, staff idle, a count waiting, work piling.
pub(super) const NOW: &str = concat!(
    r"\b(?:we'?re|we are) on air\b|\bon air (?:in|at)\b|\b(?:mid-?way|halfway|part way) through (?:the |our )?(?:[a-z]+ ){0,2}(?:show|service|broadcast|match|exam|session|shift|surgery|list)\b",
    r"|\bevery table is full\b|\b(?:start time|kick-?off) was\b|\b(?:is|are) (?:now )?boarding\b|\bpush-?back is\b",
    r"|\b(?:stood|standing|sat|sitting) (?:about|around)\b|\btwiddling\b|\bcan'?t (?:tip|unload|ship|dispatch|board|check (?:anyone )?in)\b",
    r"|\b\d+ (?:(?:people|callers|calls|customers|patients|guests|passengers|students|visitors|drivers|lorries|trucks) )?(?:waiting|queued|in (?:the )?queue|on hold)\b",
    r"|\b(?:orders|bookings|jobs|calls|loads|deliveries)\b[^.!?\n]{0,20}\b(?:stacked|stacking|piling|backed|backing) up\b",
    r"|\b(?:thawing|defrosting|spoiling)\b|维持秩序|干等|在现场等|已经开考|正在直播|直播中|化冻|解冻|变质",
);

/// A deadline within the hour or by the clock today.
pub(super) const SOON: &str = concat!(
    r"\bin (?:(?:ten|fifteen|twenty|twenty-five|thirty|forty|forty-five|fifty) (?:min|mins|minutes)|a quarter of an hour|quarter of an hour|half an hour|under an hour|under \w+ minutes)\b",
    r"|\bwithin the hour\b|\btop of the hour\b|\b(?:bell|cut-?off|push-?back|departure|kick-?off|curtain|doors open)\b[^.!?\n]{0,20}\b(?:is |at )\d{1,2}[:.]\d\d\b",
    r"|\bit'?s (?:now )?\d{1,2}[:.]\d\d\b[^.!?\n]{0,40}\b(?:is|at|by) \d{1,2}[:.]\d\d\b",
    r"|(?:截止|截港|开考|开播|直播|登机|发车|开船|开门|开业)[^，。,明后周]{0,8}(?:今天|上午|下午|中午|晚上|今晚)[\d一二三四五六七八九十两]+点",
    r"|[\d一二三四五六七八九十两]+点(?:半|\d+分?)?(?:就|要)?(?:开考|开播|直播|登机|发车|开船|截港|开门|开业|开始考试)",
    r"|(?:今天|上午|下午|中午|晚上|今晚)[\d一二三四五六七八九十两]+点[^，。,明后周]{0,10}(?:截|开考|开播|直播|登机|发车|开船|到期)",
);

/// Over already: the fault is in the past and a report is wanted.
pub(super) const OVER: &str = concat!(
    r"\b(?:everything|it|all|things)(?:'s| is| has| have| was)? (?:been )?(?:fine|normal|ok|okay|stable) (?:since|ever since)\b",
    r"|\b(?:it'?s|it is|seems?|all|everything'?s?) (?:fine|ok|okay|working|back to normal) now\b|现在(?:又)?(?:好了|正常了)",
    r"|\b(?:trading|service|business) was normal\b|\b(?:yesterday|last (?:night|week|month))'?s? (?:[\w-]+ ){0,3}(?:outage|incident|crash|failure|downtime)\b",
);

/// Not an incident: others ask whether it might be one.
pub(super) const ONLY_ASKED: &str = concat!(
    r"(?:是不是|会不会是?|是否)(?:中毒|病毒|被黑|中招)",
    r"|\b(?:asking|asked|wondering) (?:me )?(?:if|whether) (?:it'?s|this is|we have|we'?ve got|we'?ve been) (?:a |been )?(?:virus|hacked|malware)\b",
);

/// The sender can wait: a later date "is fine", no effect on use.
pub(super) const CAN_WAIT: &str = concat!(
    r"\b(?:end of (?:the )?(?:month|week|term)|next week|later this week) (?:is|would be) (?:fine|ok|okay)\b",
    r"|不影响用|不影响正常",
);

/// Whether the queue at `at` is of things, not people: "print jobs queueing",
/// "任务一直排队".
pub(super) fn queue_of_things(text: &str, at: usize) -> bool {
    const THINGS: &[&str] = &["任务", "文件", "作业", "打印", "jobs", "job", "prints"];
    let before = &text[..at];
    let start = before.char_indices().rev().nth(5).map_or(0, |(i, _)| i);
    THINGS.iter().any(|t| before[start..].contains(t))
}

/// The sender's own deadline is days away ("due Friday", "截止是这周五", "下周二之前必须"):
/// when nothing waits now and no hour is named, work stopped can wait that long.
pub(super) const DAYS_AWAY: &str = concat!(
    r"\b(?:due|deadline|needs? to be (?:in|done|filed|submitted|out)|has to (?:go|be)|must (?:go|be))\b[^.!?\n]{0,30}\b(?:tomorrow|monday|tuesday|wednesday|thursday|friday|saturday|sunday|this week|next week|end of (?:the )?week)\b",
    r"|\b(?:look at|fix|sort|check)\b[^.!?\n]{0,20}\b(?:this week|in the next few days)\b|(?:这周内|本周内|这两天)(?:帮忙)?(?:看|处理|弄)",
    r"|\b(?:by|before) (?:tomorrow|monday|tuesday|wednesday|thursday|friday|saturday|sunday|the end of the week)\b",
    r"|(?:明天|后天|本?周[一二三四五六日末]|星期[一二三四五六日天]|下周[一二三四五六日]?|这周[一二三四五六日]?|本周)[^，。,]{0,3}(?:截止|之前|前(?:要|必须|得)|要交|到期)",
    r"|截止(?:日期|时间)?(?:到|是|在)?(?:明天|后天|本?周[一二三四五六日]|这周|星期|下周)",
);

/// A workaround by hand, in Chinese: "人工巡逻", "人工登记".
pub(super) const BY_HAND: &str = r"人工(?:登记|巡逻|核对|记录|处理|操作|录入)";

/// A detour that costs time but keeps work going: "going round via the east airlock,
/// which adds about five minutes".
pub(super) const DETOUR: &str = r"\b(?:going|go|went|sending|routing|walking) (?:\w+ )?(?:round|around) (?:via|through|by)\b|\badds? (?:about |roughly |around |an extra )?\w+ (?:minutes|mins)\b|绕(?:道|路|行)";

/// Part of a thing still works: "everything else works", "black and white is fine".
pub(super) const PARTLY: &str = r"\b(?:everything else|all else|black and white|mono)\b[^.!?\n]{0,10}\b(?:works|is fine|is ok|is okay|is working|still works)\b|其他(?:功能)?都(?:正常|能用)";
