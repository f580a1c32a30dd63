//! Severity: a request's impact (how wide the harm is) and urgency (how soon it must be
//! fixed), each read from the text by its own rules, and the priority matrix that turns
//! the two into a priority, as ITIL defines it. The labelling policy the rules follow is
//! `tests/fixtures/severity/README.md`; `tests/severity_labelled.rs` measures them.
//!
//! This module owns the reading of the text and the matrix; `desk::triage` hands it the
//! cleaned text and the business service named (with its criticality), then applies the
//! VIP and sender-domain floors. No I/O; the patterns are compiled once.
//!
//! Impact, first rule that applies:
//! 1. the sender says it is only them or their own thing ("only me", "only my Outlook",
//!    "everyone else in the office is fine", "别的诊室都正常", "只有他这一台"): low, or
//!    medium when a critical service does not work for them;
//! 2. one point of several: a numbered till/counter/window, "the other tills are fine",
//!    "2号收银台", "坏了一台": medium (one person's critical tool, the rest still working);
//! 3. a security incident in progress (see below) with wide exposure: admin accounts,
//!    finance/payment roles, money paid or transferred, ransomware signs (files renamed,
//!    ransom notes), a mailbox sending to colleagues, contacts or an address book,
//!    customers' or patients' personal data (names, dates of birth, "身份证", "手机号")
//!    held on a lost device or sent out — unless denied in its clause ("nothing
//!    financial", "没有客户资料"): high;
//! 4. quantifiers and collective words over people, places or things ("every store",
//!    "any of the showroom or workshop PCs", "every outgoing email", "nobody", "全公司",
//!    "所有门店", "五家药店", "全部掉线", "大家"): high — unless the object is the sender's
//!    own thing ("everyone hears my echo", "我显示器整个屏幕");
//! 5. a count of 10 or more people or things, in digits or words ("17 users", "14 of
//!    them", "3,000 patients", "三十余名客户", "四万多人", "八百名新生"; not minutes,
//!    pages, money or years): high;
//! 6. any other security incident: one account exposed, medium;
//! 7. a small group of people ("the three of us", "6 trustees", "我们组 5 个人"): medium;
//! 8. the public waiting — customers, patients, parents, residents queueing, "queue out
//!    the door", "客人在等" — with no own-thing marker ("my screen", "我的电脑"): the
//!    place's public service is down: high;
//! 9. a few devices ("seven counter PCs", "两台PDA"): medium;
//! 10. a named unit or place without a count ("the finance department", "at Oakwood
//!     surgery", "the dealership", "网点", "门诊"), unless the text is about the sender's
//!     own thing: high;
//! 11. a group of staff named by role ("ED doctors", "店长们") or shared things that all
//!     fail ("收银机都用不了"): high;
//! 12. a shared thing that has stopped — what is broken, not who says it: a shared drive,
//!     the main line, the phone system, a hotline, an app/site customers use, "the
//!     server", a place's network: high — unless the failure is the sender's own ("I
//!     can't reach the server", "my laptop") and nothing says it is down;
//! 13. a safety incident at shared equipment (server room, rack, UPS): high;
//! 14. the service named: a critical one down outright (or "not a single …") is high;
//!     not working for the sender is medium (a high-criticality service) — see
//!     [`service_impact`]; otherwise low.
//!
//! A security incident is in progress when security words appear and the text does not
//! say nothing happened, nothing was clicked, that it is about training, or a record.
//!
//! Urgency, first rule that applies: a security incident in progress or a safety
//! incident (smoke, a burning smell, a hot server room) (high); over already — "for the
//! record", "已经恢复正常", "不需要处理" (low); work goes on — "not stopping us", "还能正常
//! 收款", or degraded with a workaround (medium); then facts before hedges: people or
//! things waiting now — customers, callers, patients, lorries at the dock, "排队", "在等"
//! (high) — and money moving — refunds or payments failing, paid to a fraudster (high);
//! the sender says it can wait (low); a how-do-I question (low); "can't do anything"
//! (high); a workaround, unless undercut in the same breath ("paper for now, but we don't
//! know …", "手工…根本来不及") (medium); a deadline within hours today (high); work
//! stopped — a total-failure verb ("can't", "rejecting", "用不了", "读不出", "忙音"), not
//! hedged, negated or only feared ("slightly down", "能不能", "don't want to be locked
//! out") (high); degraded service (medium); urgency words (medium); a deadline in days
//! (medium); otherwise low. Round 4 puts one rule before "work stopped": the sender's own
//! deadline days away ("due Friday", "截止是这周五") keeps stopped work medium.
//!
//! The round-4 cue tables live in submodules, joined into the sets above: `breadth`
//! (points named by role, possessive groups, vehicles or the public held up, counts by
//! place, label numbers, remote workers, recipients), `moment` (stopped without "can't",
//! live events, clock deadlines, days-away deadlines, past outages, asked-about
//! incidents, detours) and `alarms` (bulk export, ransomware marks, heat at cupboards);
//! `pattern` compiles them all.

use std::fmt;
use std::str::FromStr;
use std::sync::LazyLock;

use regex::Regex;

use super::status::Priority;

mod alarms;
mod breadth;
mod moment;
mod pattern;

use pattern::cues;

/// A level of impact, urgency or criticality.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    Low,
    Medium,
    High,
}

impl Level {
    pub const ALL: [Level; 3] = [Level::High, Level::Medium, Level::Low];

    pub fn as_str(self) -> &'static str {
        match self {
            Level::Low => "low",
            Level::Medium => "medium",
            Level::High => "high",
        }
    }

    fn index(self) -> usize {
        match self {
            Level::High => 0,
            Level::Medium => 1,
            Level::Low => 2,
        }
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Level {
    type Err = String;

    fn from_str(s: &str) -> Result<Level, String> {
        Level::ALL
            .into_iter()
            .find(|l| l.as_str().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| format!("unknown level {s:?} (use high, medium or low)"))
    }
}

/// The priority matrix: `rows[impact][urgency]`, high first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Matrix {
    pub rows: [[Priority; 3]; 3],
}

impl Default for Matrix {
    /// ITIL's usual matrix (`tests/fixtures/severity/README.md`).
    fn default() -> Self {
        use Priority::*;
        Matrix {
            rows: [[P1, P2, P3], [P2, P3, P4], [P3, P4, P4]],
        }
    }
}

impl Matrix {
    pub fn priority(&self, impact: Level, urgency: Level) -> Priority {
        self.rows[impact.index()][urgency.index()]
    }
}

/// One axis read from the text: the level and the words that decided it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reading {
    pub level: Level,
    /// What decided, for the timeline: `"every store"`, `service ERP down`, `no signal`.
    pub why: String,
}

/// Impact and urgency of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Severity {
    pub impact: Reading,
    pub urgency: Reading,
}

/// The business service a request names, and how critical it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Service {
    pub name: String,
    pub criticality: Level,
}

impl Service {
    /// A service of high criticality (what a plain name in `[triage] systems` means).
    pub fn high(name: &str) -> Service {
        Service {
            name: name.trim().to_string(),
            criticality: Level::High,
        }
    }
}

/// Matches of the rules file's triage words (`config/intake.toml`), which extend the
/// built-in cues of the same meaning: narrow (only the sender), outage (work stopped)
/// and low urgency (can wait). The file's scope words are not used: they were written
/// for "more than the sender" ("3 people", "全部"), which is not the matrix's high
/// impact; the built-in breadth cues are.
#[derive(Debug, Clone, Copy, Default)]
pub struct FileCues<'t> {
    pub narrow: Option<&'t str>,
    pub outage: Option<&'t str>,
    pub can_wait: Option<&'t str>,
}

macro_rules! cue_set {
    ($name:ident, $($part:expr),+ $(,)?) => {
        static $name: LazyLock<Regex> = LazyLock::new(|| cues(&[$($part),+].join("|")));
    };
}

const NUM_2_9: &str = r"(?:[2-9]|two|three|four|five|six|seven|eight|nine)";
const NUM_10: &str = r"(?:[1-9]\d+\+?|ten|eleven|twelve|thirteen|fourteen|fifteen|sixteen|seventeen|eighteen|nineteen|twenty|thirty|forty|fifty|sixty|a hundred(?: and [a-z]+)?|hundreds|dozens|scores)";
const UNITS: &str = r"(?:floors|departments|depts|sites|stores|shops|branches|warehouses|wards|offices|surgeries|schools|locations|restaurants|workshops|buildings|clinics|campuses|teams|lines|production lines|packing lines|hotels|plants|factories|classrooms|pharmacies)";
const PEOPLE: &str = r"(?:people|users|staff|employees|guests|customers|clients|students|pupils|patients|colleagues|suppliers|parcels|orders|agents|drivers|workers|members|operators|nurses|doctors|teachers|cashiers|callers|pickers|engineers|clinicians|machines|pcs|computers|laptops|devices|of us)";

cue_set!(
    NARROW,
    r"\b(?:only|just) (?:me|mine|my (?:laptop|pc|computer|phone|machine|account|mailbox|desk))\b",
    r"\bonly affects me\b",
    r"\b(?:only|just) (?:my|his|her) (?:own )?[a-z]+\b|\bonly (?:his|hers|her one)\b",
    r"\b(?:everyone|everybody|all the others|others|the rest of us) else\b[^.!?\n]{0,30}\b(?:is|are|seems?|seem to be) (?:fine|ok|okay|working|unaffected|normal)\b",
    r"\bonly (?:this|the one) (?:file|document|one)\b",
    r"\b(?:everyone|everybody|all the others|others|no one|nobody|none of the others)(?: else)?(?:'s (?:machines?|pcs?|laptops?|computers?))? (?:is|are|seems?|seem to be) (?:fine|ok|okay|working|unaffected)\b",
    r"\b(?:no one|nobody) else\b",
    r"\bothers seem (?:ok|okay|fine)\b",
    r"\b(?:everyone else|my colleagues?|others) can\b",
    r"(?:别的|其他|其余|隔壁)[\p{Han}]{0,4}(?:都|也)?(?:正常|没事|没问题|不卡|好好的)|只有(?:他|她)|就我这|就(?:他|她)(?:这|一)",
    r"只有我|就我一个人|仅我|别人都|别人的|其他人都|其他同事都|其他同事的|同事都正常|别人电脑|其他人正常|其他电脑都",
    breadth::NARROW,
);

cue_set!(
    ALL_WIDE,
    r"\b(?:everyone|everybody|nobody|no one|no-one|none of us|all users|all staff|all employees|all of us|company[- ]wide|across the (?:company|business|organi[sz]ation|site|estate|office|building|council|school|hospital|group)|organi[sz]ation[- ]wide|site[- ]wide)\b",
    r"\ball (?:of )?(?:the |our )?(?:[a-z]+ )?(?:users|staff|customers|clients|branches|stores|shops|sites|offices|restaurants|locations|classrooms?|wards|departments|floors|schools|surgeries|printers|laptops|pcs|computers|machines|devices|desk phones|phones|network drives|drives|tills|terminals|remote workers|users' [a-z]+|workstations|tablets|scanners|handhelds|kiosks|accounts|mailboxes|teams|nurses|doctors|agents|operators|drivers|teachers|pupils|students|patients|callers)\b",
    r"\b(?:none|any) of (?:the |our )(?:[a-z]+ ){0,3}(?:users|staff|pcs|computers|laptops|machines|phones|tills|printers|terminals|stores|shops|branches|sites|offices|wards|devices|workstations|tablets|scanners|clinics|schools|warehouses|plants)\b",
    r"\banyone in the (?:company|office|building|business|school|organi[sz]ation)\b|\b(?:every|each) (?:single )?(?:computer|pc|laptop|device|workstation|employee|member of staff)\b|\b(?:every|any|each) (?:single )?(?:user|store|shop|branch|site|office|restaurant|location|department|floor|customer|client|order|card payment|payment|classroom|ward|school|till|machine|counter|(?:outgoing |incoming |sales |inbound |outbound )?(?:email|e-mail|call))\b",
    r"\b(?:whole|entire) (?:the )?(?:company|office|school|store|shop|branch|site|floor|building|department|dept|team|plant|factory|warehouse|ward|organi[sz]ation|staff|fleet|business|network|campus|hospital|clinic|region|estate|shift|[a-z]+ (?:department|dept|team|office|floor|site|campus|wing|plant|ward))\b",
    r"\b(?:many|lots of|loads of|a lot of|plenty of|a dozen|dozens of|hundreds of) (?:people|users|staff|colleagues|customers|clients|of us)\b|\busers (?:are |can't|cannot|unable|report|keep|getting)",
    r"\ball of (?:finance|accounts|accounting|payroll|hr|sales|marketing|legal|support|engineering|operations|logistics|production|the office|the team|the staff)\b",
    r"\bthe (?:network|internet|server|servers|wifi|wi-fi|phones|phone lines|phone system|system|website|intranet|email|e-mail|power|printers) (?:is |are |has |have |went |seems |)(?:down|out|offline|dead|gone|not working|unavailable|crashed)\b",
    r"\bhalf (?:of )?the (?:company|office|staff|building|floor|users|team|school)\b",
    r"\bboth (?:of )?(?:our |the )?(?:sites|surgeries|offices|floors|stores|shops|branches|warehouses|buildings|clinics|schools|campuses|wards|locations|plants|factories|depots|gates|lines)\b",
    &format!(
        r"\b(?:all )?(?:{NUM_2_9}|several|multiple|many|all the) (?:[a-z]+ )?(?:{UNITS}|{})\b",
        breadth::UNITS
    ),
    &format!(r"\b{NUM_10} (?:[a-z]+ )?{PEOPLE}\b"),
    r"\b(?:lots|many|most|all|dozens|hundreds) of (?:the |our )?(?:machines|pcs|computers|laptops|users|staff|people|customers|clients|stores|branches)\b",
    r"\b(?:the|our) (?:wards|branches|stores|shops|sites|offices|restaurants|clinics|surgeries|departments|floors|warehouses)\b",
    r"\b(?:customers|clients|patients|guests|pupils|students|people) (?:are |were )?(?:can't|cannot|unable|waiting|leaving|queu|lined up|phon|complain|annoyed|bunched)",
    r"\b(?:every|our) customer\b|\bcustomer integration|\bzero sales\b|\blosing sales\b|\btables are\b",
    r"全(?:公司|厂|校|院|体|员|年级|部门|市|省|国|网|楼)|整个(?:公司|厂区|部门|办公室|团队|楼层|楼|门店|分店|仓库|车间|医院|学校|病区|科室)|整(?:层|栋)",
    r"每(?:一)?(?:个|家|间|台|位)(?:门店|分店|部门|网点|仓库|车间|病区|科室|校区|分公司|工厂|员工|同事|用户|客户|顾客|电脑|终端|收银)|所有(?:的)?(?:医生|护士|工作站|设备|机器|账号|门店|分店|人|同事|用户|员工|客户|顾客|电脑|打印机|座机|电话|部门|网点|仓库|车间|病区|终端|收银|办公点|分公司)",
    r"各(?:个)?(?:分店|门店|门诊|部门|办公点|网点|仓库|车间|校区|病区|科室|分公司|工厂)",
    r"(?:好几|好多|很多|不少|许多)(?:个|位|名|家)?(?:客户|顾客|用户|病人|患者|同事|人|门店)|大家|不少(?:人|同事)|多个(?:部门|门店|分店|科室|仓库|网点|办公室)|多家|整个[\p{Han}]{1,3}(?:都|全)|[一二三四五六七八九十\d]+楼(?:整|全|都|所有)|(?:办公室|公司|店里|门店|楼里)(?:的)?(?:网络|网|电话|wifi|WiFi|电)(?:都|全|断|挂|没|不)",
    r"(?:网络|网|服务器|系统|总机|电话)(?:全)?(?:断了|挂了|瘫痪|崩溃|宕机)|断网了|网断了",
    r"其他人也|别人也|同事(?:们)?(?:也|都)(?:[^正]|$)|几百|上百|几十|好几台电脑|很多(?:人|同事|电脑|顾客|客户)|好多(?:人|顾客|客户)",
    r"[两二三四五六七八九十几\d](?:个|家|间|所)(?:仓库|门店|分店|店|药店|网点|支行|超市|酒店|诊所|医院|学校|部门|车间|楼层|办公室|校区|病区|工厂|分公司|科室)|[一二三四五六七八九]车间[、和]",
    r"(?:[二三四五六七八九]?十[一二三四五六七八九几多]?|[1-9]\d+|[一二三四五六七八九两几]?[百千万])\s*(?:多|来|余)?(?:(?:名|位)|(?:个|台|家)?(?:新)?(?:人|员工|学生|病人|患者|顾客|客户|客人|用户|医生|护士|老师|司机|工人|电脑|终端|门店|分店|设备|孩子|家长|会员|乘客|居民|群众|客服|坐席|同学|新生))",
    r"(?:客户|顾客|病人|患者|学生|乘客)(?:们)?(?:投诉|都|找不到)|排(?:了)?(?:一长串|长队|满)|排着队|排起了",
    breadth::WIDE,
);

cue_set!(
    SHARED_THING,
    r"\b(?:shared|network|team|[a-z]:) (?:drive|folder|disk|mailbox|calendar)|\b[a-z]: ?drive\b|\bmain (?:line|number)\b|\bour (?:main |phone |office )?(?:number|phone lines?|website|app|portal|system|server|network|gateway)\b|\bphone (?:system|lines?)\b|\bswitchboard\b|\bthe (?:app|website|site|portal|system|service|line|number|kiosk)s? (?:that )?(?:our |the )?(?:customers|clients|patients|callers|users|everyone|staff|students|public|drivers) (?:use|book|order|call|ring|log)",
    r"\b(?:customer|client|patient|public)[- ](?:facing |)(?:app|portal|website|site|line)\b|\b(?:payment|sms|api|vpn|remote desktop|email|mail) gateway\b|\bthe (?:server|servers|network|domain controller|file server|mail server|intranet)\b|\b(?:production|packing|assembly|bottling) line\b|\bline \d+\b|\b(?:active directory|dc\d*)\b",
    r"\b(?:office|site|store|shop|branch|school|clinic|warehouse|plant|building|floor|campus|ward|depot|hotel)(?:'s)? (?:network|internet|wifi|wi-fi|phones?|phone lines?|power|system|server)\b",
    r"热线|共享盘|共享文件夹|共享目录|公共盘|总机|官网|公司网站|我们(?:的)?网站|商城|小程序|服务器|云平台|医院信息系统|信息系统|产线|生产线|流水线",
    breadth::SHARED,
);

cue_set!(
    GROUP_NOUNS,
    r"\b(?:doctors|nurses|clinicians|operators|agents|cashiers|(?:delivery|lorry|van|truck|bus) drivers|teachers|pickers|engineers|developers|dispatchers|receptionists|pharmacists|technicians|radiographers|store managers|shop staff|field staff|call handlers)\b",
    r"(?:医生|护士|老师|店员|店长|司机|工人|员工|同事|客服|操作工|师傅|收银员)们",
    r"(?:我们|大家|同事|电脑|收银机|收银台|终端|设备|打印机|电话|座机|机器|工作站|扫码枪)[^，。,!！\n]{0,3}都(?:用不了|打不开|开不了|进不去|登不|连不|上不了|没(?:网|信号|反应|声音|法|电|了)|不能|无法|卡|断|挂|出不)",
    r"整个[\p{Han}]{0,3}(?:部|科|室|楼|层|区|店|厂|校|院|组|队|中心|公司|系统|网络|车间|仓库|园区|办公室)",
    r"(?:全部|全都|集体)[\p{Han}]{0,4}(?:失败|掉线|用不了|打不开|不能|无法|登不|连不|上不|断|挂|报错)",
);

cue_set!(
    SINGLE_POINT,
    r"\b(?:on |at )?(?:till|counter|window|lane|checkout|register|desk|position) (?:no\.? ?)?\d+\b|\bone (?:till|counter|window|checkout|lane)\b|\b(?:the )?other (?:tills|counters|windows|checkouts|lanes) (?:are |seem )?(?:fine|ok|okay|working)\b|\bthe other one (?:works|is fine|is working|still works)\b|\bone of (?:the |our )?(?:two|three|four)\b",
    r"[\d一二三四五六七八九十]+号(?:收银|窗口|柜台|诊室|机|台)|我这个(?:窗口|柜台|收银)|(?:别的|其他|其余)(?:窗口|柜台|收银台?|诊室)(?:都)?正常|坏了?一台|另一台(?:在用|能用|正常|是好的|还好)",
);

cue_set!(
    OWN_THING,
    r"\bmy (?:own )?(?:laptop|pc|computer|desktop|phone|mobile|screen|monitor|display|account|login|password|mouse|keyboard|headset|printer|desk|chair|outlook|inbox|mailbox|email|calendar|profile|photo|signature|machine|tablet|badge|scanner|scroll)\b",
    r"我的(?:电脑|笔记本|手机|屏幕|显示器|账号|密码|鼠标|键盘|耳机|打印机|邮箱|桌面|工位|巴枪)|我(?:这台|电脑|笔记本|显示器|手机)",
);

cue_set!(
    PUBLIC_WAITING,
    r"\b(?:customers?|clients?|patients?|guests?|residents?|citizens?|parents?|callers?|passengers?|members|visitors?|shoppers?|people|students|pupils|buyers)\b[^.!?\n]{0,30}\b(?:waiting|queu\w*|lined up|standing (?:there|around)|leaving|walking out|turned away|sent away)",
    r"\bqueue (?:of|out|to|at|outside|round|is)\b|\b(?:line|queue) at the (?:counter|till|desk|door)|\bwaiting (?:room|area) is full\b",
    r"(?:顾客|客户|客人|病人|患者|家长|会员|群众|居民|乘客|旅客|学生|市民|买家|大爷|老人)[^，。,!！\n]{0,12}(?:等|排队|排着|走了|回去|骂|门口)|排[^，。,!！\n]{0,3}队|坐满了|一堆人|候诊|号在等",
    breadth::HELD_UP,
);

cue_set!(
    NOT_INCIDENT,
    r"\bnothing (?:has )?happened\b|\b(?:did not|didn'?t|never) (?:click|open|enter|type|reply)|\bfor (?:the|your) records?\b|\b(?:training|course|awareness)\b",
    r"没(?:有)?点(?:开|击)?|没(?:有)?输|没(?:有)?打开",
    moment::ONLY_ASKED,
);

cue_set!(
    RESOLVED,
    r"\bfor (?:the|your) records?\b|\bback to normal\b|\b(?:resolved|sorted|fixed) itself\b|\b(?:came|come) back on its own\b|\bno action needed\b",
    r"(?:后来|已经?|都)(?:自己|自动)?恢复(?:了|正常)|一切正常|不需要处理|无需处理|备案|仅作记录|记录一下",
    moment::OVER,
);

cue_set!(
    QUESTION,
    r"^(?:[^\n]*\n)?how (?:do|can|would) (?:i|we)\b|\bhow do (?:i|we) (?:\w+ )?(?:set|change|turn|add|blur|make|get|use|find)\b",
    r"怎么(?:设置|弄|操作|开启|关闭)|如何(?:设置|操作|开启|关闭)|想问(?:一下)?|可不可行|是否可以",
);

cue_set!(
    NOT_STOPPED,
    r"\bnot stopping (?:us|work|anyone|anybody)\b|\b(?:we'?re|we are) managing\b|\bstill (?:selling|trading|taking (?:cards|payments|orders))\b",
    r"(?:都|也)?还能正常|不影响(?:工作|营业|收款)|能正常收款",
);

cue_set!(
    HARD_STOP,
    r"\b(?:can'?t|cannot) do anything\b|\bnothing (?:i|we) can do\b",
    r"什么都(?:做|干)不了|啥都(?:做|干)不了",
);

cue_set!(
    MONEY,
    r"\brefunds?\b[^.!?\n]{0,30}\b(?:failing|fail|failed|rejected|declined|bouncing|stuck)\b|\b(?:failing|rejecting|declining|rejected)\b[^.!?\n]{0,30}\brefunds?\b|\bwhere (?:their|my|our) (?:refunds?|money) (?:is|are)\b|\bcharges? (?:are |is )?(?:failing|rejected|declined|not going)|\bpayments? (?:are |is )?(?:failing|rejected|declined|not going)|\b(?:paid|transferred|wired) (?:\w+ ){0,3}(?:to|into) (?:the |a |their )?new (?:account|bank)|\bfor free\b|\bfree of charge\b|\b(?:losing|lost) (?:\w+ )?(?:money|sales|revenue|orders)",
    r"退款|零元|白拿|买走|损失|多扣|扣款失败|付款失败|收不了钱|收不到钱|钱转",
);

cue_set!(
    SMALL,
    &format!(r"\b(?:the |we |all )?{NUM_2_9} of us\b"),
    r"\bme and [a-z]+\b",
    &format!(
        r"\b{NUM_2_9} (?:[a-z]+ )?(?:directors|managers|nurses|doctors|agents|staff|people|colleagues|users|members|guests|clients|attendees|starters|hires|trustees|visitors|governors|partners|designers|cashiers|teachers)\b"
    ),
    r"[两二三四五六七八九](?:个|位|名)(?:新人|新同事|同事|人|护士|医生|用户|员工|老师)",
    r"\bboth (?:of )?(?:our |the )?(?:[a-z]+ ){0,2}(?:of us|people|colleagues|nurses|doctors)\b",
    r"\b(?:several|multiple|a few|some|a couple of) (?:people|users|colleagues|staff|of us)\b",
    &format!(r"\b(?:team|group|office) of {NUM_2_9}\b|\({NUM_2_9} people\)"),
    &format!(
        r"\b(?:the |our )?{NUM_2_9} (?:people|colleagues|users|staff|designers|nurses|agents|techs|of them)\b"
    ),
    r"我和[\p{Han}]{1,3}|我们[^，。,.!！\n\d]{0,6}[两二三四五六七八九几2-9]\s?个|(?:^|[^\d])[2-9]\s?个人|[两二三四五六七八九]个人(?:共用|的)?",
    breadth::SMALL,
);

cue_set!(
    SMALL_THINGS,
    &format!(r"\b{NUM_2_9} (?:[a-z]+ )?(?:laptops|pcs|computers|phones|machines)\b"),
    r"\bboth (?:of )?(?:our |the )?(?:[a-z]+ ){0,2}(?:phones|pcs|laptops|printers|desks|machines|headsets)\b",
    r"[两二三四五六七八九\d](?:台|部|张|间)",
);

cue_set!(
    UNIT,
    r"\b(?:the |our |a |this |in |at )(?:[a-z]+ ){0,2}(?:department|dept|team|studio|ward|unit|site|school|hotel|factory|plant|warehouse|floor|block|branch|store|hall|building|shop|restaurant|clinic|surgery|practice|pharmacy|hospital|lab|call cent(?:re|er)|contact cent(?:re|er)|dealership|showroom|newsroom|depot|outlet|nursery|kindergarten|council)\b",
    r"\b(?:finance|accounts|accounting|payroll|hr|sales|marketing|legal|procurement|purchasing|logistics|dispatch|customer (?:service|support)|call cent(?:re|er)|contact cent(?:re|er)|front desk|operations) (?:team|department|dept|staff|people|office|is|are|can't|cannot|has|have)\b",
    r"\bward \d+\b|\bnew branch\b|\b(?:the|our|this) office\b",
    r"我们(?:部门|科室|团队|公司|店|门店|分店|学校|医院|病区|车间)",
    r"(?:设计|行政|客服|财务|人事|销售|市场|采购|生产|技术|研发|运营|法务|物流|仓储|质检|工程|计划)部|检验科|病房|急诊|病区|车间|厂区|仓库|分店|门店|新店|全校|食堂|文印室|培训室|网点|支行|分行|营业厅|门诊|展厅|幼儿园|药店|呼叫中心|客服中心|媒体中心|调度中心|分拣中心|导播间",
    breadth::UNIT,
);

cue_set!(
    SECURITY,
    r"\bphish|ransom|\bmalware\b|\bvirus|\bthreat\b|\bhacked\b|compromis|\b(?:data|security) breach|\bbreached\b|\bsigned in (?:at|from)|\bsign-?in from|\blog-?in from|unknown (?:ip|country|location)|\bforwarding rule|\b(?:typed|entered|put|gave|submitted)\b[^.!?\n]{0,25}\b(?:password|credentials|login details|bank details)|\b(?:typed|entered|put in|gave|submitted) (?:in )?(?:my|our|his|her|their) (?:\w+ )?(?:password|credentials|login|details)\b|\b(?:inbox|mail|mailbox|forwarding|auto-?forward) rules?\b|\bclicked (?:on )?(?:a|the|this|that) (?:link|attachment)|\bscam|impersonat|\bgift cards?\b|\bchange (?:of )?bank details|\baccount (?:is |was |has been )?(?:sending|hacked)|\bfraud|suspicious (?:login|sign|payment|email)|\bstolen\b|\blost (?:my |a |the )?(?:work )?(?:laptop|phone|usb)|\b(?:left|lost|stolen|missing)\b[^.!?\n]{0,30}\b(?:laptop|phone|usb|tablet|device)\b|\b(?:laptop|phone|usb|tablet)\b[^.!?\n]{0,20}\b(?:lost|stolen|missing|left on)\b|\b(?:don'?t|do not) recogni[sz]e\b[^.!?\n]{0,30}\b(?:host|log-?ins?|log-?ons?|sign-?ins?|device|ip|account|address)|\bi (?:didn'?t|did not|never) send (?:it|them|that|this|those|any)\b|\bnobody (?:\w+ ){0,3}did this\b|\bunknown (?:host|device|account|sender)|\bdomain admins?\b|\blog-?ons?\b[^.!?\n]{0,40}\b(?:unknown|unrecogni|strange|odd)|\bread_?(?:me|to)_?(?:recover|decrypt)|\brecover(?:y)? (?:your |the )?files\b|\bbitcoin|\bdecrypt|\brenamed\b[^.!?\n]{0,40}\bending in\b|\bbank details\b|\b(?:sender|domain|address|url)\b[^.!?\n]{0,30}\b(?:was|looked|looks|is) (?:off|odd|wrong|fake|spoofed|dodgy)\b|\b(?:email|mailbox|account) (?:is |has been |was )?(?:sending|blasting)\b|\bread_?me_?\w*\.txt\b|\bending in \.\w+|\bbroken into\b",
    r"被骗|上当|中招|外泄|公开链接|发错(?:了)?群|外部(?:的)?(?:商家)?(?:交流)?群|乱发|(?:他|她|本人)(?:说)?(?:他|她)?(?:根本)?没(?:有)?发|(?:笔记本|电脑|手机|u盘|硬盘|平板)[^，。,]{0,12}(?:丢了|丢失|遗失|被偷)|陌生(?:IP|ip|设备|账号|地址)|比特币|恢复文件|后缀[^，。]{0,4}(?:全|都)?变|不是我发|我没发|钓鱼|赎金|勒索|被加密|病毒|中毒|木马|被盗|泄露|异地登录|转发规则|盗号|诈骗|被黑|冒充|点了(?:一个)?链接|点开了|输入了[^，。,]{0,12}密码|输了[^，。,]{0,12}密码|假的[^，。,]{0,8}(?:网页|网站|页面|邮件)",
    alarms::SECURITY,
);

cue_set!(
    SECURITY_WIDE,
    r"\b(?:domain )?admin(?:istrator)? account|\bransom|encrypted|\bfinance director|\bcfo\b|\bmoney (?:has been |was )?(?:sent|transferred|moved)|\bspamming|sending spam|\bpayment (?:was |has been )?(?:made|sent)|\balready paid\b|\b(?:patient|customer|client)s?'? (?:data|details|records|list|spreadsheet|information|contacts)|\ball staff\b|\bdomain admins?\b|\badmins?\b|\bpaid\b|\b\d[\d,]* (?:patients|customers|clients|people)\b|\b(?:all|every) (?:of )?(?:our |the )?(?:customers?|patients?|clients?)\b",
    r"\b(?:sent|sending|gone|went|going out|mailed)\b[^.!?\n]{0,40}\b(?:colleagues|contacts?|contact list|everyone|all staff|the whole)|\bfinanc\w*|\bpayroll\b|\bpayment (?:runs?|approvals?)|\bsign off (?:\w+ )?payments|\bbank(?:ing)? (?:approval|payments?)|\bevery folder\b|\bfolders are changing\b|\bread_?(?:me|to)_?(?:recover|decrypt|restore)|\bbitcoin|\bdates? of birth\b|\bnames,? (?:and )?(?:addresses|phone numbers|emails)\b|\bpersonal data\b|\b[\d,]{3,} (?:rows|records|members)\b|\baddress book\b|\bsuppliers\b|\b(?:hundreds|dozens|thousands) of (?:them|emails|messages)\b|\b(?:clients|customers|colleagues|contacts)\b(?: \w+){0,4} (?:replied|asking|received)\b",
    r"乱发|(?:客户|供应商|联系人|同事)[^，。]{0,4}(?:来问|收到|打电话来问)|身份证|手机号|个人信息|买家|几百封|上百封|好几百封|外部(?:的)?[\p{Han}]{0,4}群|管理员|赎金|勒索|被加密|比特币|恢复文件|财务|网银|付款审批|审批权限|转账|病人信息|患者信息|客户(?:的)?(?:资料|信息|数据|联系方式|名单)|全部客户|所有客户|所有邮件|没加密|未加密|(?:发给|发到|群发|转发给)[^，。]{0,10}(?:同事|所有人|全公司|通讯录)",
    alarms::SECURITY_WIDE,
);

cue_set!(
    SAFETY,
    r"\bsmoke|\bsmoking\b|burning smell|smells? (?:of )?(?:burning|burnt)|\bburnt\b|\bon fire\b|fire alarm|overheat|\bsparks?\b|water (?:is )?(?:dripping|leak|coming)|\bleak(?:ing)?\b|\bflood|\bdripping\b|patient safety|safety issue|\bburning\b[^.!?\n]{0,20}\bsmell|\b(?:server|comms) room\b[^.!?\n]{0,40}\b(?:hot|temperature|air ?con|cooling)\b|\b(?:air ?con|air conditioning|cooling)\b[^.!?\n]{0,20}\b(?:stopped|failed|off|down|broken)\b",
    r"冒烟|焦糊|着火|烧焦|过热|漏水|滴水|机房[^，。]{0,6}进水|安全隐患|机房[^。]{0,10}(?:热|温度|空调)|空调[^，。]{0,4}(?:不转|坏|停|不制冷)",
    alarms::SAFETY,
);

cue_set!(
    SHARED_EQUIPMENT,
    r"\b(?:network |server |comms )?(?:rack|server room|comms room|cabinet|ups|switch|data cent(?:er|re))\b",
    r"机房|机柜|配电|UPS|交换机|服务器",
    alarms::SHARED_EQUIPMENT,
);

cue_set!(
    CAN_WAIT,
    r"\bno (?:hurry|rush|urgency)\b|\bnot (?:urgent|a priority|a big deal|in a hurry|pressing)\b|\bplenty of time\b|\bcan wait\b|\blow priority\b|\bwhenever (?:you|it suits|convenient|possible)|\bany ?time (?:this|next)\b|\bwhen(?:ever)? you (?:get|have) (?:a|the|some)? ?(?:sec|second|moment|chance|time|minute)|\bwhen you get round\b|\bat your convenience\b|\bnext (?:month|quarter|year|term)\b|\bin (?:two|three|four|a few|2|3|4) weeks\b|\bnext week is fine\b|\bcan be looked at next\b|\bover the summer\b|\bwould be nice\b|\bnice to have\b|\b(?:is|would) it (?:be )?possible\b|\bquick question\b|\bjust (?:a question|asking|wondering)\b",
    r"^咨询|只是咨询|想咨询|咨询一下|请问(?:能不能|可不可以|是否|有没有办法)|不急|不着急|不紧急|不赶时间|有空|有时间再|慢慢来|(?:前|之前|以后|的时候|装好|弄好|完成|给到|做好|下周)就(?:行|可以)|(?:之后|以后|有空|有时间|回头|下周|下个月|过几天)再|问题不大|下个月|下个季度|明年|不影响使用",
    moment::CAN_WAIT,
);

cue_set!(
    WAITING,
    r"\b(?:customers?|clients?|patients?|guests?|people|drivers?|van|tables|students|pupils) (?:are |were |is |have |keep )?(?:\w+ )?(?:waiting|leaving|queu\w*|lined up|bunched up|chasing|standing|walking out|getting cold)",
    r"\b(?:losing|lost|zero|no) (?:sales|money|revenue|orders)\b|\bcash only\b|\bcan'?t (?:pay|take (?:cards|payments|orders)|check in|assign rooms|sell)\b|\bchasing us\b|\blunch rush\b|\bbusiest time\b|\bpeak (?:time|hours?)\b|\bon stop\b|\bstanding by\b|\bparked up\b|\bcan'?t (?:trade|open the (?:shop|store))|\bproduction (?:has )?(?:stopped|halted)|\blines? (?:is |are )?(?:down|stopped)|\bcosting us\b|\b(?:missing|losing|missed) calls\b|\bcalls (?:are )?going to voicemail\b",
    r"\b(?:customers?|clients?|callers?|patients?|guests?|people|drivers?|lorries|trucks?|couriers?|vans?|operators|orders)\b[^.!?\n]{0,25}\b(?:waiting|queu\w*|piling up|standing by|standing around|idle|lined up|sat (?:there|idle)|stuck at)\b|\bqueue of\b|\bcourier (?:collects|arrives|comes|is due|at)\b|\bcollection (?:is )?at \d|\blit up\b|\bphones? (?:are |is )?ringing off\b",
    r"排[^，。,!！\n]{0,3}队|在等|等着|等了|排队|排着|排满|一长串|直接走|投诉|催|打爆|结不了账|打不了饭|在月台|全停|干不了活|只能付现金|只能让顾客|影响营业|没法营业|无法营业|停产|停工|损失",
    breadth::HELD_UP,
    moment::NOW,
);

cue_set!(
    WORKAROUND,
    r"\bfor now\b|\bin the meantime\b|\bmeanwhile\b|\bworkaround\b|\bfall ?back\b|\bby hand\b|\bmanually\b|\bhandwriting\b|\bwe can (?:still |use |pull |scan |read )|\bthey can (?:read|still|use)|\bcan still\b|\bstill (?:works|printing|working|getting|usable|able|prints)|\bgetting (?:things done|through)|\bcarrying on\b|\bnot ideal\b|\bwhich works\b|\bworks fine\b|\b(?:i'?m|we'?re) (?:ok|okay|using)\b|\bim (?:ok|using)\b|\bno stress\b|\bgrabbed a spare\b|\bthey do arrive\b|\breconnecting works\b|\bprinted it for us\b|\bone page at a time\b|\bmanageable\b|\bwait it out\b|\bcomes back\b|\bit came back\b|\bdo (?:get|arrive) (?:there )?eventually\b|\beventually\b|\b(?:walking|walk|go|going|went|use|using) (?:down |up |over )?to (?:the |an)?(?:other|another|next|\d\w* floor)|\b(?:desktop|web|laptop|other|spare|backup|the rest)\b[^.!?\n]{0,25}\b(?:is|are|works?|working) (?:fine|ok|okay)\b|\bupdating from\b",
    r"另一台|跑去|跑到|去楼下|借用|改用|换用|先手工|还在生产|活还能干|都能收到|先用|先在|先拿|凑合|手工|能用|还能|能正常|也能|也行|正常收发|电脑上正常|现在去|暂时|最终能",
    moment::BY_HAND,
    moment::DETOUR,
    moment::PARTLY,
);

cue_set!(
    DEADLINE_HOURS,
    r"\b(?:due|deadline|has to|have to|must|need to|needs to|required|close|closes|submit|file|collects?|presenting|pitching|starts?|arrives?|opens?|go to)\b[^.!?\n]{0,50}\b(?:today|tonight|this (?:morning|afternoon)|in (?:an?|one|two|\d+|a few) (?:min|mins|minutes|hours?)|by \d{1,2}(?::\d\d)?\s*(?:am|pm)?|before midnight|by noon|at \d{1,2}(?::\d\d)?\s*(?:am|pm)?)\b",
    r"\bin (?:an?|one|two|\d+|a few) (?:min|mins|minutes|hours?)\b|\bcut-?off\b|\bsame-day\b",
    r"(?:今天|今晚|今早|今天上午|今天下午|中午)[^，。,!！\n]{0,12}(?:要|必须|截止|交|签|发货|申报|开会|上课|到期)|[\d一二三四五六七八九十两几]+\s*(?:分钟|个?小时)(?:后|以后|之后|内)|最后一天|马上(?:就)?要",
    moment::SOON,
);

cue_set!(DAYS_AWAY, moment::DAYS_AWAY);
cue_set!(PLANNED_SAFETY, alarms::PLANNED);

cue_set!(
    DEGRADED,
    r"\bslow|\bsluggish|\blag|\bpatchy\b|\bintermittent|\bdrop(?:s|ping)? (?:off|out|every|all the time|constantly)|\bdisconnect(?:s|ing)?\b|\bkeeps? (?:dropping|disconnecting|kicking|freezing)|\bkicked off\b|\bdelayed\b|\btaking \d+|\btakes? (?:a|\d+|ages)|\bchoppy\b|\bflaky\b|\bannoying\b|\bdisruptive\b",
    r"慢|卡纸|延迟|掉线|拖进度|费劲|影响效率",
);

cue_set!(
    STOPPED,
    r"\bcan'?t\b|\bcannot\b|\bcan not\b|\bunable\b|\bwon'?t\b|\b(?:not|isn'?t|aren'?t|arent|isnt) (?:working|coming|reaching|showing|accepting|connecting|loading|opening|printing|reading|syncing|responding|taking)\b|\bdoesn'?t work\b|\bstopped\b|\bdown\b|\bdead\b|\bno (?:dial tone|lights|network|internet|phone|signal|access|connection|sound|power)\b|\boffline\b|\blost (?:its |our |the )?(?:internet|connection|network)|\bfailing\b|\bfailed\b|\bfails\b|\brejected\b|\bdeclined\b|\blocked (?:out)?\b|\bcrash|\bblue ?screen|\bnothing works\b|\bunavailable\b|\b50[234]\b|\bnot able to\b|\bwill not\b|\bwould not\b|\bdoes not work|\bblack screen\b|\bblank (?:pages?|screen)\b|\bfroz(?:en|e)\b|\bhung\b|\b(?:is|are|went) out\b|\bcut off\b|\bkicked (?:\w+ ){0,2}out\b|\b(?:all|were|was|been|are|is|got) disconnected\b|\bnone of (?:us|them) can\b|\bno(?:body| one|-one) can\b|\bno work\b|\b(?:is|are|isn'?t) (?:not )?possible\b|\bnot in service\b|\brings? out\b|\bbusy tone\b|\brejecting\b|\brefusing\b|\b(?:hasn'?t|has not|haven'?t|have not) (?:\w+ )?(?:released|synced|arrived|come|worked|loaded|printed|sent|received|started|booted)\b|\bnot (?:a single|one|any)\b",
    r"无法|不能|打不开|连不上|登不上|登不了|进不去|用不了|开不了|收不到|发不出|打不了|刷不了|查不了|下不了|传不到|传不过去|看不到|扫不了|打不出|干不了|没反应|崩溃|宕机|挂了|坏了|断了|断网|全停|失败|报错|蓝屏|死机|闪退|不亮|没声音|停了|瘫痪|没网(?:[^口线]|$)|不能用|没法|没办法|上不了|进不了|连接不上|登录不上|动不了|停摆|没信号|[\p{Han}]不(?:出|上|进|动|通)(?:[\p{Han}]|$)|卡死|卡在|登不进|进不来|下不了|忙音|打不通|弹出|一直在转|停止",
    moment::STOPPED,
);

cue_set!(
    OUTRIGHT_DOWN,
    r"\b(?:is |are |went |gone |all |completely |totally )?down\b|\boutage\b|\bunavailable\b|\bnot accepting\b|\b50[0234]\b|(?:\bnot|\bno|n't) (?:\w+ ){0,2}a single\b|\bnot (?:a single|one|any)\b|\bnone of\b|\bno(?:body| one|-one) can\b|\brejecting\b|\bnot in service\b|\brings? out\b|\bsilent\b",
    r"宕机|挂了|瘫痪|全断|断了|全都(?:打不开|用不了|登不|进不|连不|卡)|忙音|卡死",
);

cue_set!(
    URGENT_WORDS,
    r"\burgent|\basap\b|\bimmediately\b|\bemergency\b|\bright now\b|\bhelp!|\bsend someone now\b|\bplease hurry\b",
    r"急|马上|赶紧|尽快|快来|快帮",
);

cue_set!(
    DEADLINE_DAYS,
    r"\btomorrow\b|\b(?:by |before |on |this |next )?(?:monday|tuesday|wednesday|thursday|friday|saturday|sunday)\b|\bthis week\b|\bnext few days\b|\bin (?:two|2|a few|three|3) days\b|\bend of (?:the )?week\b|\bopens\b",
    r"明天|后天|周[一二三四五六日末]|星期[一二三四五六日天]|下周|这周|这两天|本周",
);

/// A count of 10 or more followed (within two words) by a plural noun: "17 users",
/// "~30 operators", "3,000 patients", "dozens of stores".
static COUNT_PLURAL: LazyLock<Regex> = LazyLock::new(|| {
    cues(&format!(
        r"(?:^|[^\d,.:/-])(?:{NUM_10}|[1-9]\d{{0,2}}(?:,\d{{3}})+)(?:\+|-?odd|-?ish|-plus)? (?:of )?((?:[a-z'-]+ ){{0,2}}[a-z'-]+)"
    ))
});

/// Words after a count that are not people or things: time, money, sizes, documents.
const NOT_COUNTED: &[&str] = &[
    "seconds",
    "secs",
    "minutes",
    "mins",
    "min",
    "hours",
    "hrs",
    "days",
    "weeks",
    "months",
    "years",
    "times",
    "pages",
    "percent",
    "mb",
    "gb",
    "kb",
    "tb",
    "pounds",
    "dollars",
    "euros",
    "yuan",
    "quid",
    "pence",
    "cents",
    "emails",
    "messages",
    "files",
    "rows",
    "characters",
    "words",
    "photos",
    "tabs",
    "slides",
    "copies",
    "prints",
    "rings",
    "calls",
    "am",
    "pm",
    "to",
    "or",
    "and",
    "o'clock",
    "tries",
    "attempts",
    "goes",
    "clicks",
];

/// The first count of 10 or more people or things (see [`COUNT_PLURAL`]).
fn count_of_many(text: &str) -> Option<&str> {
    COUNT_PLURAL.captures_iter(text).find_map(|c| {
        let all = c.get(0)?;
        let words = c.get(1)?.as_str();
        let first = words.split(' ').next().unwrap_or("");
        if NOT_COUNTED.contains(&first) {
            return None;
        }
        let counted = words
            .split(' ')
            .take_while(|w| !NOT_COUNTED.contains(w))
            .any(|w| {
                (w.len() > 3 && w.ends_with('s') && !w.ends_with("ss"))
                    || w == "staff"
                    || w == "people"
                    || w == "them"
            });
        // "from 2016 on my staff profile": a year, not a count.
        let number = all
            .as_str()
            .trim_start_matches(|ch: char| !ch.is_ascii_digit());
        let year = number.len() >= 4
            && (number.starts_with("19") || number.starts_with("20"))
            && !number[..4].contains(|ch: char| !ch.is_ascii_digit())
            && !number[4..].starts_with(|ch: char| ch.is_ascii_digit() || ch == ',');
        let counted = counted && !year;
        counted.then(|| {
            all.as_str()
                .trim_start_matches(|ch: char| !ch.is_alphanumeric() && ch != '~')
        })
    })
}

/// A workaround the sender undercuts in the same breath: "we're using paper for now
/// but we don't know what was given".
fn undercut(text: &str, w: &str) -> bool {
    static BUT_NOT: LazyLock<Regex> = LazyLock::new(|| {
        cues(
            r"^[^.!?\n]{0,40}\bbut (?:we|i|they|nobody|no one)?\s*(?:don'?t|do not|can'?t|cannot|have no|no longer|still can'?t)\b|^[^。！\n]{0,20}但是?(?:不知道|没法|不能|还是不)|^[^。！\n]{0,30}(?:来不及|跟不上|忙不过来|不够用)",
        )
    });
    text.find(w)
        .is_some_and(|at| BUT_NOT.is_match(&text[at + w.len()..]))
}

/// A wide word whose object is the sender's own thing: "everyone hears my echo",
/// "nobody can see my calendar", "大家说我的头像": one person's matter, seen by many.
/// "Everyone on my floor" is a place of many, not an object of mine.
fn about_my_own(text: &str, w: &str) -> bool {
    static MY_OWN: LazyLock<Regex> =
        LazyLock::new(|| cues(r"^(?:'s)?((?: \w+){0,3}) my\b|^[^，。,!！\n]{0,6}我的"));
    const PLACE: &[&str] = &[
        "on", "in", "at", "of", "across", "from", "for", "around", "near",
    ];
    let Some(at) = text.find(w) else {
        return false;
    };
    MY_OWN.captures(&text[at + w.len()..]).is_some_and(|c| {
        c.get(1)
            .is_none_or(|between| !between.as_str().split(' ').any(|x| PLACE.contains(&x)))
    })
}

/// The failure word is the sender's own ("i can't reach the server", "我登不上"): a shared
/// thing failing for one person is not the shared thing down.
fn first_person(text: &str, w: &str) -> bool {
    text.find(w).is_some_and(|at| {
        let before = text[..at].trim_end();
        before.ends_with(" i") || before == "i" || before.ends_with("\ni") || before.ends_with('我')
    })
}

/// A failure the sender only fears, earlier in its clause: "don't want to come back
/// locked out", "以免打不开".
static HYPOTHETICAL: LazyLock<Regex> = LazyLock::new(|| {
    cues(
        r"(?:\b(?:don'?t|do not) want to|\bin case|\bavoid|\bso that|不想|以免|免得|万一)[^.!?;,\n，。；！？]{0,30}$",
    )
});

/// The first match of `re` in `text` that is not negated just before ("not everyone",
/// "不是所有") and not followed by "else" ("no one else" is narrow, not wide).
fn first_unnegated<'t>(re: &Regex, text: &'t str) -> Option<&'t str> {
    re.find_iter(text)
        .find(|m| !negated(text, m.start(), m.end()))
        .map(|m| m.as_str())
}

/// Whether the words at `start..end` of `text` are negated, hedged or only feared.
fn negated(text: &str, start: usize, end: usize) -> bool {
    let before = &text[..start];
    let after = &text[end..];
    before.ends_with("not ")
        || before.ends_with("not an ")
        || before.ends_with("not a ")
        || before.ends_with("slightly ")
        || before.ends_with("a bit ")
        || before.ends_with("能不")
        || before.ends_with('不')
        || before.ends_with('没')
        || before.ends_with("并非")
        || text[..end].ends_with("能不能")
        || HYPOTHETICAL.is_match(before)
        || after.starts_with(" else")
}

/// A safety incident, unless the text is about a planned test or drill.
fn safety(text: &str) -> Option<&str> {
    found(&SAFETY, text).filter(|_| found(&PLANNED_SAFETY, text).is_none())
}

fn found<'t>(re: &Regex, text: &'t str) -> Option<&'t str> {
    re.find(text).map(|m| m.as_str())
}

/// The first match of `re` whose number counts rather than labels ("floor 2 agents" is
/// a floor's agents, not two of them).
fn counting<'t>(re: &Regex, text: &'t str) -> Option<&'t str> {
    re.find_iter(text)
        .find(|m| !breadth::labels(text, m.start()))
        .map(|m| m.as_str())
}

fn reading(level: Level, why: String) -> Reading {
    Reading { level, why }
}

fn quoted(words: &str) -> String {
    format!("{:?}", words.trim())
}

/// Reads impact and urgency from `text` (subject and body, quoted lines left out) and
/// the business service it names, if any.
pub fn assess(text: &str, service: Option<&Service>, file: &FileCues) -> Severity {
    // A stop cue spanning "else" or "other" is about the others: "none of the others are".
    let stopped = STOPPED
        .find_iter(text)
        .find(|m| {
            !negated(text, m.start(), m.end())
                && ![" else", "other", "rest of"]
                    .iter()
                    .any(|w| m.as_str().contains(w))
        })
        .map(|m| m.as_str())
        .or(file.outage.filter(|w| {
            text.match_indices(w)
                .any(|(at, m)| !negated(text, at, at + m.len()))
        }));
    let incident = incident(text);
    let impact = impact(text, service, stopped, incident, file);
    let urgency = urgency(text, stopped, incident, file);
    Severity { impact, urgency }
}

/// A security incident in progress: security words, unless the text says nothing
/// happened, nothing was clicked, it is a question about training, or a past record.
fn incident(text: &str) -> Option<&str> {
    found(&SECURITY, text)
        .filter(|_| found(&NOT_INCIDENT, text).is_none() && found(&RESOLVED, text).is_none())
}

/// The first match of `re` not denied earlier in its clause: "I don't have access to
/// anything financial", "电脑里没有客户资料" deny the exposure they name.
fn first_affirmed<'t>(re: &Regex, text: &'t str) -> Option<&'t str> {
    static DENIED: LazyLock<Regex> = LazyLock::new(|| {
        cues(r"(?:\bno|\bnot|n't|\bnever|\bwithout|没有|没|无|不)[^.!?;,\n，。；！？]{0,30}$")
    });
    re.find_iter(text)
        .find(|m| !DENIED.is_match(&text[..m.start()]))
        .map(|m| m.as_str())
}

/// How wide the harm is; see the module header for the order of the rules.
fn impact(
    text: &str,
    service: Option<&Service>,
    stopped: Option<&str>,
    incident: Option<&str>,
    file: &FileCues,
) -> Reading {
    let from_service = service_impact(text, service, stopped.is_some());
    let critical_for_one = || match &from_service {
        Some(r) if r.level >= Level::Medium => Level::Medium,
        _ => Level::Low,
    };
    if let Some(w) = found(&NARROW, text).or(file.narrow) {
        return reading(
            critical_for_one(),
            format!("only the sender: {}", quoted(w)),
        );
    }
    if let Some(w) = found(&SINGLE_POINT, text) {
        return reading(
            Level::Medium,
            format!("one point of several: {}", quoted(w)),
        );
    }
    if incident.is_some()
        && let Some(w) = first_affirmed(&SECURITY_WIDE, text)
    {
        return reading(Level::High, format!("security exposure: {}", quoted(w)));
    }
    if let Some(w) = first_unnegated(&ALL_WIDE, text)
        .filter(|w| !about_my_own(text, w) && !breadth::not_affected(text, w))
    {
        return reading(Level::High, quoted(w));
    }
    if let Some(w) = count_of_many(text) {
        return reading(Level::High, format!("a count of many: {}", quoted(w)));
    }
    if let Some(w) = incident {
        return reading(Level::Medium, format!("one account exposed: {}", quoted(w)));
    }
    if let Some(w) = counting(&SMALL, text) {
        return reading(Level::Medium, format!("a small group: {}", quoted(w)));
    }
    let own = found(&OWN_THING, text).or_else(|| breadth::remote_worker(text));
    if own.is_none()
        && let Some(w) = found(&PUBLIC_WAITING, text)
    {
        return reading(Level::High, format!("the public waiting: {}", quoted(w)));
    }
    if let Some(w) = counting(&SMALL_THINGS, text) {
        return reading(Level::Medium, format!("a few devices: {}", quoted(w)));
    }
    if let Some(w) = UNIT
        .find_iter(text)
        .map(|m| m.as_str())
        .find(|w| own.is_none() && !w.contains("my "))
    {
        return reading(Level::High, format!("a whole unit: {}", quoted(w)));
    }
    if let Some(w) = found(&GROUP_NOUNS, text) {
        return reading(Level::High, format!("a group of staff: {}", quoted(w)));
    }
    if stopped.is_some_and(|w| {
        found(&OUTRIGHT_DOWN, text).is_some() || (own.is_none() && !first_person(text, w))
    }) && let Some(w) = first_unnegated(&SHARED_THING, text)
    {
        return reading(
            Level::High,
            format!("a shared thing stopped: {}", quoted(w)),
        );
    }
    if safety(text).is_some()
        && let Some(w) = found(&SHARED_EQUIPMENT, text)
    {
        return reading(Level::High, format!("shared equipment: {}", quoted(w)));
    }
    if let Some(r) = from_service {
        return r;
    }
    reading(Level::Low, "one person".to_string())
}

/// The impact the named service gives by itself: down outright, a high-criticality
/// service is high (down for everyone who uses it) and a medium one medium; not working
/// for the sender or degraded, a high-criticality service is medium. Low-criticality services and
/// services that still work give nothing.
fn service_impact(text: &str, service: Option<&Service>, stopped: bool) -> Option<Reading> {
    let s = service?;
    let down = found(&OUTRIGHT_DOWN, text);
    let level = match (s.criticality, down, stopped) {
        (Level::High, Some(_), _) => Level::High,
        (Level::High, None, _) if stopped || found(&DEGRADED, text).is_some() => Level::Medium,
        (Level::Medium, Some(_), _) => Level::Medium,
        _ => return None,
    };
    let how = down.map_or("not working".to_string(), quoted);
    Some(reading(
        level,
        format!("service {} ({} criticality) {how}", s.name, s.criticality),
    ))
}

/// How soon it must be fixed; see the module header for the order of the rules.
fn urgency(text: &str, stopped: Option<&str>, incident: Option<&str>, file: &FileCues) -> Reading {
    if let Some(w) = incident {
        return reading(Level::High, format!("security incident: {}", quoted(w)));
    }
    if let Some(w) = safety(text) {
        return reading(Level::High, format!("safety: {}", quoted(w)));
    }
    if let Some(w) = found(&RESOLVED, text) {
        return reading(Level::Low, format!("over already: {}", quoted(w)));
    }
    if let Some(w) = found(&NOT_STOPPED, text).or_else(|| {
        found(&DEGRADED, text)
            .and(first_unnegated(&WORKAROUND, text).filter(|w| !undercut(text, w)))
    }) {
        return reading(Level::Medium, format!("work goes on: {}", quoted(w)));
    }
    // Facts before hedges: people or money waiting now contradict "not urgent".
    if let Some(w) = WAITING
        .find_iter(text)
        .find(|m| !moment::queue_of_things(text, m.start()))
        .map(|m| m.as_str())
    {
        return reading(Level::High, format!("waiting now: {}", quoted(w)));
    }
    if let Some(w) = found(&MONEY, text) {
        return reading(Level::High, format!("money moving: {}", quoted(w)));
    }
    if let Some(w) = found(&CAN_WAIT, text).or(file.can_wait) {
        return reading(Level::Low, format!("can wait: {}", quoted(w)));
    }
    if let Some(w) = found(&QUESTION, text) {
        return reading(Level::Low, format!("a question: {}", quoted(w)));
    }
    if let Some(w) = found(&HARD_STOP, text) {
        return reading(Level::High, format!("work stopped: {}", quoted(w)));
    }
    if let Some(w) = first_unnegated(&WORKAROUND, text).filter(|w| !undercut(text, w)) {
        return reading(Level::Medium, format!("workaround: {}", quoted(w)));
    }
    if let Some(w) = found(&DEADLINE_HOURS, text) {
        return reading(Level::High, format!("deadline within hours: {}", quoted(w)));
    }
    if let Some(w) = found(&DAYS_AWAY, text) {
        return reading(Level::Medium, format!("deadline days away: {}", quoted(w)));
    }
    if let Some(w) = stopped {
        return reading(Level::High, format!("work stopped: {}", quoted(w)));
    }
    if let Some(w) = found(&DEGRADED, text) {
        return reading(Level::Medium, format!("degraded: {}", quoted(w)));
    }
    if let Some(w) = found(&URGENT_WORDS, text) {
        return reading(Level::Medium, format!("urgency words: {}", quoted(w)));
    }
    if let Some(w) = found(&DEADLINE_DAYS, text) {
        return reading(Level::Medium, format!("deadline in days: {}", quoted(w)));
    }
    reading(Level::Low, "no urgency stated".to_string())
}

/// Built-in business-critical services, named as people name them, for requests that
/// name none of the configured systems: payments and tills, ERP/WMS, clinical systems,
/// the phone system, production. Criticality high.
static CRITICAL_SERVICES: LazyLock<Regex> = LazyLock::new(|| {
    cues(
        r"\b(?:tills?|pos|card (?:machines?|machiens|readers?|terminals?)|payments?|checkout|booking (?:page|site|system)|website|web ?shop|online shop|erp|wms|emr|patient records?|clinical system|dispensing|prescriptions?|phone (?:system|lines?)|switchboard|nurse call|remote desktop gateway|prod(?:uction)? (?:api|database|db)|database|checkweighers|clocking terminals|property management system)\b|\btax (?:portal|system|return)|\bvat\b|收银|支付|刷卡|医保|处方|总机|一卡通|医院信息系统|生产数据库|数据库|会员系统|工单系统|报税|税务|电子病历",
    )
});

/// The first built-in critical service named in `text`.
pub fn built_in_service(text: &str) -> Option<Service> {
    found(&CRITICAL_SERVICES, text).map(|w| Service {
        name: w.trim().to_string(),
        criticality: Level::High,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn levels(text: &str) -> (Level, Level) {
        let text = text.to_lowercase();
        let s = assess(
            &text,
            built_in_service(&text).as_ref(),
            &FileCues::default(),
        );
        (s.impact.level, s.urgency.level)
    }

    #[test]
    fn matrix_default_is_itil() {
        let m = Matrix::default();
        assert_eq!(m.priority(Level::High, Level::High), Priority::P1);
        assert_eq!(m.priority(Level::High, Level::Low), Priority::P3);
        assert_eq!(m.priority(Level::Medium, Level::High), Priority::P2);
        assert_eq!(m.priority(Level::Low, Level::Medium), Priority::P4);
        assert_eq!("HIGH".parse::<Level>(), Ok(Level::High));
        assert!("huge".parse::<Level>().is_err());
    }

    #[test]
    fn the_issue_examples_are_p1() {
        use Level::*;
        assert_eq!(
            levels(
                "payment terminals in every store stopped processing cards, customers are \
                 waiting, whole business is affected"
            ),
            (High, High)
        );
        assert_eq!(
            levels("no network at all on two floors, three departments cannot work"),
            (High, High)
        );
        assert_eq!(levels("所有门店收银都用不了，顾客在排队"), (High, High));
    }

    #[test]
    fn hedges_and_narrow_words_count() {
        use Level::*;
        assert_eq!(levels("my mouse is sticky, no hurry"), (Low, Low));
        assert_eq!(levels("打印机打不了，只有我，别人都正常，不急"), (Low, Low));
        assert_eq!(
            levels("everyone else is fine, only me: my laptop won't boot"),
            (Low, High)
        );
        assert_eq!(
            levels("not everyone, just me, my printer is slow"),
            (Low, Medium)
        );
    }

    #[test]
    fn counts_security_and_safety() {
        use Level::*;
        assert_eq!(levels("the three of us can't print"), (Medium, High));
        assert_eq!(levels("40 people cannot log in"), (High, High));
        assert_eq!(
            levels("I typed my password into a phishing page"),
            (Medium, High)
        );
        assert_eq!(levels("机房的UPS冒烟了"), (High, High));
        assert_eq!(levels("三个部门都上不了网"), (High, High));
    }
    // The tests below use wording written for them, not taken from any labelled file.

    #[test]
    fn an_own_thing_or_one_point_of_several_beats_unit_words() {
        use Level::*;
        assert_eq!(
            levels("only my calendar app freezes; everybody else in the studio is fine").0,
            Low
        );
        assert_eq!(
            levels("till 4 at the bakery counter rejects every card, the other tills are fine").0,
            Medium
        );
        assert_eq!(levels("我的显示器整个屏幕发绿，下周再弄"), (Low, Low));
        assert_eq!(
            levels("只有她这一台电脑开不了机，我们部门其他人正常").0,
            Low
        );
    }

    #[test]
    fn the_public_waiting_means_the_places_service_is_down() {
        use Level::*;
        assert_eq!(
            levels(
                "the booking screen at the riverside clinic won't load and patients are \
                 queueing at reception"
            ),
            (High, High)
        );
        assert_eq!(
            levels("店里扫码付款用不了，客人在收银台前排着"),
            (High, High)
        );
        assert_eq!(
            levels("候车厅三十余名乘客在等，检票闸机全部报错"),
            (High, High)
        );
        // a count of devices is not a count of people when the place's public waits
        assert_eq!(
            levels("four ticket pcs at the museum desk show no network, visitors are queueing"),
            (High, High)
        );
    }

    #[test]
    fn years_are_not_counts_and_chinese_people_classifiers_are() {
        use Level::*;
        assert_eq!(
            levels("my photo from 2019 on the staff page, no hurry"),
            (Low, Low)
        );
        assert_eq!(levels("下个月有约两百名学员需要开账号，不急").0, High);
    }

    #[test]
    fn facts_beat_hedges_and_the_past_or_a_question_is_not_urgent() {
        use Level::*;
        assert_eq!(
            levels(
                "no rush I suppose, but the cafe has been cash only since noon and there is \
                 a queue out the door"
            ),
            (High, High)
        );
        assert_eq!(
            levels("上周五整栋楼断网一小时，已经恢复正常，记录一下"),
            (High, Low)
        );
        assert_eq!(
            levels("how do I change my ringtone? I can't find it"),
            (Low, Low)
        );
        assert_eq!(
            levels("when does the token expire? I don't want to be locked out while abroad").1,
            Low
        );
        assert_eq!(
            levels("the whole depot's wifi is sluggish, we use cables meanwhile, not stopping us"),
            (High, Medium)
        );
        assert_eq!(levels("收银系统能不能升级一下？").1, Low);
    }

    #[test]
    fn a_security_incidents_impact_is_its_exposure() {
        use Level::*;
        assert_eq!(
            levels("I typed my password into a fake login page, I don't handle anything financial"),
            (Medium, High)
        );
        assert_eq!(
            levels("I entered my credentials on a fake supplier portal and I approve payment runs"),
            (High, High)
        );
        assert_eq!(
            levels("我把会员名单（姓名、手机号）发到外部群了"),
            (High, High)
        );
        assert_eq!(
            levels("老板的邮箱在乱发邮件，好几个供应商来问"),
            (High, High)
        );
        assert_eq!(
            levels(
                "after a ransomware story on the radio: is there training? nothing has happened"
            ),
            (Low, Low)
        );
        assert_eq!(
            levels("the comms room aircon has stopped and it feels very hot").1,
            High
        );
    }

    // Round 4 (dev4a/dev4b): general kinds of wording, each with wording written here.

    #[test]
    fn work_stopped_said_without_cant_and_points_named_by_role() {
        use Level::*;
        assert_eq!(
            levels("nobody in the returns office can print dispatch notes"),
            (High, High)
        );
        assert_eq!(
            levels("none of the self-service lanes are taking cards this morning"),
            (High, High)
        );
        // a number that labels is not a count: "gate 5 agents" are a gate's agents
        assert_eq!(levels("gate 5 agents cannot print boarding cards").0, High);
        assert_eq!(
            levels("出库系统打不开，仓库门口的货车排了很长"),
            (High, High)
        );
        // every one of a set, and people counted by where they are
        assert_eq!(
            levels("all four of our depots lost the scanner app, no rush").0,
            High
        );
        assert_eq!(
            levels("the kiosk app crashed with 30 checked in for the tour").0,
            High
        );
        assert_eq!(
            levels("all the tellers' screens hang when they open an account"),
            (High, High)
        );
    }

    #[test]
    fn the_moment_is_by_the_clock_and_the_past_or_a_date_days_away_is_not_now() {
        use Level::*;
        assert_eq!(
            levels("the auction goes live in fifteen minutes and our bidding page gives an error"),
            (High, High)
        );
        assert_eq!(
            levels(
                "last night's outage of the booking system at every branch: it's been fine \
                 since 7, a short write-up please"
            )
            .1,
            Low
        );
        assert_eq!(
            levels("the expenses module is stuck for the whole company, claims are due by friday"),
            (High, Medium)
        );
        assert_eq!(levels("电子阅卷系统打不开，九点开考，考生已经进场").1, High);
        assert_eq!(
            levels("the pos app at the ticket office froze, the crowd outside is growing").0,
            High
        );
        assert_eq!(
            levels("nobody in the team can open the wiki home page, everything else works").1,
            Medium
        );
        assert_eq!(
            levels("fire alarm test at 10:00 tomorrow in the server room").1,
            Medium
        );
        assert_eq!(
            levels("同事们问我开机弹窗是不是病毒，点关闭就没了，不急").1,
            Low
        );
    }

    #[test]
    fn recipients_and_remote_workers_are_not_breadth() {
        use Level::*;
        assert_ne!(levels("我的OA登不上，下午三点前要把通知发给各部门").0, High);
        assert_ne!(
            levels("outlook won't open and i must send the rota to the branches by 4pm").0,
            High
        );
        assert_ne!(
            levels("i work from home and the vpn fails, everything i need is on the file server").0,
            High
        );
    }

    #[test]
    fn data_leaving_in_bulk_and_heat_at_a_cupboard_are_incidents() {
        use Level::*;
        assert_eq!(
            levels("someone is running a bulk export of our customer records from the crm"),
            (High, High)
        );
        assert_eq!(
            levels("there is an electrical smell from the network cupboard by the lifts"),
            (High, High)
        );
        assert_eq!(levels("how do i change a .csv extension to .txt?").1, Low);
    }
}
