//! Breadth cues added in round 4 (impact): ways people name many without a plain
//! quantifier. Points of a place named by role ("every gate", "every seat on the desk",
//! "both stations"), possessive groups ("all the dealers' screens"), "all of them" and
//! "the rest of the patch have the same", whole units of kinds the first rounds did not
//! list (a firm, an emergency department, an office named by its town), runs of
//! departures or flights, vehicles or the public held up at a place ("lorries lined up",
//! "trucks queued", "集卡排了两三公里", "群众拿着号"), and the two things that make a wide
//! word narrow again: a number that labels ("floor 2 agents", "gate 3") rather than counts,
//! and a remote worker whose own connection fails ("I work from home and the VPN…").
//!
//! The patterns are joined into the cue sets of `desk::severity`; this module holds no
//! rule order.

use std::sync::LazyLock;

use regex::Regex;

use super::pattern::cues;

/// Wide: points of a place named by role, possessive groups, "all of them", the rest of
/// a group having the same fault, whole units, Chinese "all X 都 can't / offline".
pub(super) const WIDE: &str = concat!(
    r"\b(?:every|each) (?:single )?(?:gate|seat|station|door|entrance|lane|bay|pump|reader|kiosk|checkout|terminal|desk|kitchen|screen on the [a-z]+|phone on the [a-z]+)\b",
    r"|\bboth (?:of )?(?:our |the )?(?:stations|tills|counters|checkouts|lanes|terminals|registers|entrances|gates|kitchens|receptions|desks|lines)\b",
    r"|\ball (?:of )?(?:the |our )?[a-z]+s' [a-z]+",
    r"|\b(?:it'?s|they'?re|affects) all of them\b|\ball of them, not just\b",
    r"|\bacross (?:all |every |both )|\bacross (?:pathology|radiology|pharmacy|theatres|maternity|[a-z]+ (?:department|team|site|wards|floors|branches|stores|sites))\b",
    r"|\b(?:to|for|on|across) (?:all )?(?:the )?(?:wards|branches|stores|sites|departments|clinics|schools|surgeries)\b",
    r"|\btheirs (?:does|is doing|has|is showing) the same\b|(?:另外|其他|隔壁)[\p{Han}]{0,8}也(?:一样|是这样|不行)",
    r"|\ball (?:two|three|four|five|six|seven|eight|nine|[2-9]) (?:of (?:our|the) )?(?:[a-z]+ )?[a-z]{3,}s\b",
    r"|\b(?:[1-9]\d+|[a-z]+ty(?:-[a-z]+)?)(?:-odd|\+)? (?:on (?:the )?(?:manifest|passenger list|register|board)|booked in|seated|checked in|on the list)\b",
    r"|\bthe rest of (?:the |our )?(?:[a-z]+ ){0,3}(?:have|has|are|is|get|got) (?:got )?(?:the same|it too)\b",
    r"|\b(?:whole|entire) (?:the )?(?:firm|practice|agency|studio|newsroom|surgery|kitchen|crew|desk|hall|lab|library|centre|center|depot|yard|terminal|port|shift|patch)\b",
    r"|\bnone of (?:the |our )(?:[a-z-]+ ){0,3}(?:people|colleagues|agents|kitchens|lines|gates|readers|shops|restaurants|screens|tills|counters|desks|lanes|vans|lorries|trucks|flights|departures|phones|handsets|sites)\b",
    r"|(?:全部|所有|每个|各个)(?:的)?(?:窗口|柜台|门店|分店|网点|闸口|通道|工位|岗位|终端|收银台?|人|同事|员工|用户|科室|部门|车间|仓库|教室|诊室|病区|办公室|楼层|站点|设备)都[\p{Han}]{0,3}(?:不|没|无法)|(?:全部|全都)[\p{Han}]{0,2}(?:离线|停了|黑屏|没反应)",
);

/// Units and whole places the first rounds did not list.
pub(super) const UNIT: &str = concat!(
    r"\b(?:the |our |in |at )(?:[a-z]+ ){1,2}office\b|\b(?:a&e|a and e|emergency department|intensive care|icu|itu|maternity|radiology)\b",
    r"|\bthe (?:news|sport|sports|equities|trading|dealing|foreign|business|picture|copy|sales) desk\b",
    r"|\bed (?:tracking|board|department|triage|reception|nurses|doctors|staff)\b|\bnurse in charge, ed\b",
);

/// Counted units a run of which is many people: departures, flights, sailings.
pub(super) const UNITS: &str = "departures|flights|sailings|vessels|kitchens|gates|stations";

/// A place's public thing: "our donate page", "our booking site".
pub(super) const SHARED: &str =
    r"\bour (?:[a-z]+ ){0,2}(?:page|site|webpage|web page|shop|checkout|booking system)\b";

/// Vehicles or the public held up at a place now: both who is affected (the place's
/// service has stopped) and that they wait.
pub(super) const HELD_UP: &str = concat!(
    r"\b(?:lorries|trucks|vans|vehicles|coaches|buses|ambulances|taxis|couriers|hauliers)\b[^.!?\n]{0,30}\b(?:queu\w*|lined up|backed up|stacked|waiting|offloading|circling|parked up)",
    r"|\ba (?:coach|bus|coachload|busload|tour group|party) of \d+\b",
    r"|\b(?:patients|passengers|diners|candidates|students|pupils|visitors|guests|travellers)\b[^.!?\n]{0,30}\b(?:seated and waiting|on trolleys|in the corridor|stranded|stuck at)",
    r"|\b(?:the |a )?crowds? (?:outside |at the \w+ )?(?:is |are )?(?:building|growing|getting bigger)\b",
    r"|(?:学生|考生|乘客|旅客|观众|病人|患者|客人|顾客)[^，。,!！\n]{0,6}(?:已经)?(?:坐好|坐满|到齐|进场|在场)",
    r"|(?:集卡|货车|卡车|车辆|救护车|大巴|客车|(?:外面|门口|场外|路上)的车)[^，。,!！\n]{0,10}(?:排了|排到|堵|等着|停满)|拿着号|大厅里[^，。,!！\n]{0,6}(?:转|等|挤)",
);

/// A small group named by role with a small number word: "we're the two dispatchers".
pub(super) const SMALL: &str =
    r"\b(?:we'?re|we are) the (?:two|three|four|five|six|seven|eight|nine|[2-9]) [a-z]+s\b";

/// Whether the number at `at` in `text` labels a place or a thing ("floor 2 agents",
/// "gate 3", "ward 7") rather than counting.
pub(super) fn labels(text: &str, at: usize) -> bool {
    const LABELS: &[&str] = &[
        "floor", "level", "ward", "gate", "room", "line", "team", "no.", "no", "#", "bay",
        "platform", "channel", "table", "lane", "till", "counter", "window", "berth", "studio",
        "gallery", "desk", "bus", "route", "zone", "block",
    ];
    let before = text[..at].trim_end();
    LABELS.iter().any(|l| {
        before
            .strip_suffix(l)
            .is_some_and(|rest| rest.is_empty() || !rest.ends_with(|c: char| c.is_alphanumeric()))
    })
}

/// A remote or travelling worker, whose failure is their own connection, not the shared
/// thing behind it: "I'm working from home and the VPN fails", "老陈人在成都…出差".
pub(super) fn remote_worker(text: &str) -> Option<&str> {
    static REMOTE: LazyLock<Regex> = LazyLock::new(|| {
        cues(
            r"\b(?:i'?m|i am|i) (?:working|work) (?:from|at) home\b|\b(?:i'?m|i am) (?:remote|travelling|traveling|abroad|on the road|at a hotel)\b|在家办公|居家办公|出差",
        )
    });
    REMOTE.find(text).map(|m| m.as_str())
}

/// Narrow: the others' are fine ("I asked Dev and Sam and theirs is fine").
pub(super) const NARROW: &str =
    r"\btheirs (?:is|are|works?|seems?) (?:fine|ok|okay|working|normal)\b";

/// Whether the wide words `w` in `text` are not who is affected: the recipients of
/// something sent ("发给各科室", "send the rota to all staff") or the sender's own
/// things ("我的全部文件").
pub(super) fn not_affected(text: &str, w: &str) -> bool {
    static SENT_TO: LazyLock<Regex> = LazyLock::new(|| {
        cues(
            r"(?:发给|发到|交给|报给|转给|提交给|送到|寄给)$|\b(?:send|sent|email|e-mail|submit|forward|circulate|post) (?:\w+ ){0,3}(?:to|out to)$",
        )
    });
    text.find(w).is_some_and(|at| {
        let before = text[..at].trim_end();
        static SENDING: LazyLock<Regex> = LazyLock::new(|| {
            cues(r"\b(?:send|sent|sending|email|e-mail|submit|forward|circulate|post|deliver)(?: [\w']+){0,3}$")
        });
        SENT_TO.is_match(before)
            || before.ends_with("我的")
            || (w.starts_with("to ") && SENDING.is_match(before))
    })
}
