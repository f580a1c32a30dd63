//! A desk's history for the scale benchmark: a year of requests from a few thousand
//! senders with a Zipf-like spread (a few write often, most seldom), a fifth of them in
//! Chinese. Half of the tickets get an agent's `/resolve` (which the auto-close timer
//! later turns into a close); of the other half most get an agent's answer, half of
//! those with `/status waiting`; a quarter of all get a follow-up from the requester.
//!
//! Deterministic: ticket `t` always has the same sender, subject, replies and times, so
//! a store built twice is the same store, and a reply can name its ticket's subject
//! without keeping it. Storing the history is `store_build`'s; the vocabulary and MIME
//! helpers are `generated_mail`'s.

use std::ops::Range;

use crate::generated_mail::{
    DOMAINS, FIRST_NAMES, LAST_NAMES, SUBJECTS, USER_AGENTS, ascii_fold, encode_word, fill_from,
    mime_body, paragraphs, wrap,
};

const MINUTE: i64 = 60;
const HOUR: i64 = 3_600;
const DAY: i64 = 86_400;

/// How long the history runs: tickets are opened evenly over it.
pub const SPAN: i64 = 360 * DAY;
/// The latest reply after its request (a `/resolve` comes at most this late).
pub const LONGEST_REPLY: i64 = 3 * DAY;

/// People who write to the desk.
const SENDERS: usize = 3_000;
/// The Zipf exponent of who writes: the busiest sender opens about 5% of the tickets,
/// the median one a few hundredths of a percent.
const ZIPF_EXPONENT: f64 = 0.8;
/// Every fifth sender writes in Chinese.
const CHINESE_EVERY: usize = 5;

/// A batch is cut at this many messages, or when its messages span this much time.
const BATCH_MESSAGES: usize = 2_000;
const BATCH_WINDOW: i64 = 6 * HOUR;

/// The embedded default's agents (`config/ticketpost.toml`), who answer in turn.
const AGENTS: [(&str, &str); 2] = [
    ("Ann Lee", "ann@example.test"),
    ("Bo Chen", "bo@example.test"),
];
/// The desk's MX vouches for its agents' mail (`[security] trusted_authserv_id`).
const AGENT_PROOF: &str = "Authentication-Results: mx.desk.test; dkim=pass header.d=example.test";

/// What a message of the history is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Step {
    Request,
    RequesterReply,
    AgentReply,
    Resolve,
}

/// One message of the history: ticket `ticket` (0-based; its token is `TP-<ticket+1>`)
/// gets a `step` at `at` (Unix seconds).
#[derive(Debug, Clone, Copy)]
pub struct Event {
    pub at: i64,
    pub ticket: u32,
    pub step: Step,
}

/// Messages stored in one transaction, at `now` (the time of its last message).
#[derive(Debug, Clone)]
pub struct Batch {
    pub events: Range<usize>,
    pub now: i64,
    /// New requests in it (each opens a ticket).
    pub requests: usize,
}

/// What ticket `t` is: who asked what, and what happens to it.
struct TicketPlan {
    sender: usize,
    subject: String,
    /// Resolved by an agent this long after the request (then closed by the timer).
    resolve: Option<i64>,
    requester_reply: Option<i64>,
    /// An agent's first answer on a ticket that stays open; with `/status waiting`
    /// (a question back: the resolution clock pauses) when `waiting`.
    agent_reply: Option<i64>,
    waiting: bool,
    agent: usize,
}

pub struct History {
    pub tickets: usize,
    /// When ticket 0 was opened.
    pub start: i64,
    pub events: Vec<Event>,
    /// Tickets that get `/resolve` (and so are closed once their timer has run).
    pub resolved: usize,
    senders: Zipf,
}

impl History {
    /// The history of `tickets` tickets opened evenly from `start` over [`SPAN`].
    pub fn new(tickets: usize, start: i64) -> History {
        let mut history = History {
            tickets,
            start,
            events: Vec::new(),
            resolved: 0,
            senders: Zipf::new(SENDERS, ZIPF_EXPONENT),
        };
        let mut events = Vec::with_capacity(tickets * 2);
        for t in 0..tickets {
            let opened = history.opened_at(t);
            let plan = history.plan(t);
            let ticket = u32::try_from(t).expect("fewer than 4 billion tickets");
            let mut push = |delay: i64, step| {
                events.push(Event {
                    at: opened + delay,
                    ticket,
                    step,
                })
            };
            push(0, Step::Request);
            if let Some(d) = plan.requester_reply {
                push(d, Step::RequesterReply);
            }
            if let Some(d) = plan.agent_reply {
                push(d, Step::AgentReply);
            }
            if let Some(d) = plan.resolve {
                push(d, Step::Resolve);
                history.resolved += 1;
            }
        }
        events.sort_by_key(|e| (e.at, e.ticket, e.step));
        history.events = events;
        history
    }

    /// When ticket `t` is opened.
    fn opened_at(&self, t: usize) -> i64 {
        let offset = (t as i128 * i128::from(SPAN)) / self.tickets.max(1) as i128;
        self.start + offset as i64
    }

    /// The time after which nothing happens any more (the last reply).
    pub fn end(&self) -> i64 {
        self.events.last().map_or(self.start, |e| e.at)
    }

    /// The history cut into batches: at most [`BATCH_MESSAGES`] each, spanning at most
    /// [`BATCH_WINDOW`].
    pub fn batches(&self) -> Vec<Batch> {
        let mut batches = Vec::new();
        let mut first = 0;
        while first < self.events.len() {
            let opened = self.events[first].at;
            let mut end = first;
            let mut requests = 0;
            while end < self.events.len()
                && end - first < BATCH_MESSAGES
                && self.events[end].at - opened <= BATCH_WINDOW
            {
                requests += usize::from(self.events[end].step == Step::Request);
                end += 1;
            }
            batches.push(Batch {
                events: first..end,
                now: self.events[end - 1].at,
                requests,
            });
            first = end;
        }
        batches
    }

    fn plan(&self, t: usize) -> TicketPlan {
        let mut rng = fastrand::Rng::with_seed(seed(t, 0));
        let sender = self.senders.sample(&mut rng);
        let subject = if chinese(sender) {
            zh_fill_from(&mut rng, ZH_SUBJECTS)
        } else {
            fill_from(&mut rng, SUBJECTS)
        };
        let resolve = rng.bool().then(|| between(&mut rng, HOUR, LONGEST_REPLY));
        let requester_reply = (rng.u8(..100) < 25).then(|| match resolve {
            Some(r) => between(&mut rng, 10 * MINUTE, r - 5 * MINUTE),
            None => between(&mut rng, HOUR, 2 * DAY),
        });
        let agent_reply =
            (resolve.is_none() && rng.u8(..100) < 90).then(|| between(&mut rng, 30 * MINUTE, DAY));
        let waiting = rng.bool();
        TicketPlan {
            sender,
            subject,
            resolve,
            requester_reply,
            agent_reply,
            waiting,
            agent: rng.usize(..AGENTS.len()),
        }
    }

    /// The raw mail of `e` (LF line ends).
    pub fn raw(&self, e: &Event) -> Vec<u8> {
        let t = e.ticket as usize;
        let plan = self.plan(t);
        let mut rng = fastrand::Rng::with_seed(seed(t, 1 + e.step as u64));
        let who = Sender::of(plan.sender);
        match e.step {
            Step::Request => request(&mut rng, t, &plan, &who, e.at),
            Step::RequesterReply => requester_reply(&mut rng, t, &plan, &who, e.at),
            Step::AgentReply | Step::Resolve => {
                agent_reply(&mut rng, t, &plan, &who, e.at, e.step == Step::Resolve)
            }
        }
    }
}

/// `count` new requests past a history of `tickets` tickets (those of tickets
/// `tickets..`), from the same senders, all dated `at`: the measured ingest.
pub fn requests_after(tickets: usize, count: usize, at: i64) -> Vec<Vec<u8>> {
    let history = History {
        tickets,
        start: at,
        events: Vec::new(),
        resolved: 0,
        senders: Zipf::new(SENDERS, ZIPF_EXPONENT),
    };
    (tickets..tickets + count)
        .map(|t| {
            history.raw(&Event {
                at,
                ticket: u32::try_from(t).expect("fewer than 4 billion tickets"),
                step: Step::Request,
            })
        })
        .collect()
}

/// A seed for ticket `t`'s plan (`part` 0) or one of its messages.
fn seed(t: usize, part: u64) -> u64 {
    (t as u64)
        .wrapping_mul(0x9E37_79B9_7F4A_7C15)
        .wrapping_add(part.wrapping_mul(0xD1B5_4A32_D192_ED03))
        ^ 0x5CA1_E000_2026
}

/// A time in `lo..hi` seconds, spread so that short delays are as common as long ones
/// (log-uniform), as answers on a desk are.
fn between(rng: &mut fastrand::Rng, lo: i64, hi: i64) -> i64 {
    let (lo, hi) = (lo.max(1) as f64, hi.max(lo + 1) as f64);
    (lo * (hi / lo).powf(rng.f64())) as i64
}

fn chinese(sender: usize) -> bool {
    sender.is_multiple_of(CHINESE_EVERY)
}

/// Sender ranks drawn with probability ∝ 1/(rank+1)^s.
struct Zipf {
    cumulative: Vec<f64>,
}

impl Zipf {
    fn new(n: usize, s: f64) -> Zipf {
        let mut total = 0.0;
        let cumulative = (1..=n)
            .map(|k| {
                total += 1.0 / (k as f64).powf(s);
                total
            })
            .collect();
        Zipf { cumulative }
    }

    fn sample(&self, rng: &mut fastrand::Rng) -> usize {
        let total = self.cumulative.last().copied().unwrap_or(1.0);
        let x = rng.f64() * total;
        self.cumulative
            .partition_point(|&c| c < x)
            .min(self.cumulative.len() - 1)
    }
}

/// A sender's name, address and organisation; a rank maps to one person.
struct Sender {
    name: String,
    first: String,
    address: String,
    domain: &'static str,
    chinese: bool,
    rank: usize,
}

impl Sender {
    fn of(rank: usize) -> Sender {
        let domain = DOMAINS[rank % DOMAINS.len()];
        if chinese(rank) {
            let k = rank / CHINESE_EVERY;
            let (surname, surname_py) = ZH_SURNAMES[k % ZH_SURNAMES.len()];
            let (given, given_py) = ZH_GIVEN[(k / ZH_SURNAMES.len()) % ZH_GIVEN.len()];
            Sender {
                name: format!("{surname}{given}"),
                first: format!("{surname}{given}"),
                address: format!("{given_py}.{surname_py}{}@{domain}", rank / 100),
                domain,
                chinese: true,
                rank,
            }
        } else {
            let first = FIRST_NAMES[rank % FIRST_NAMES.len()];
            let last = LAST_NAMES[(rank / FIRST_NAMES.len()) % LAST_NAMES.len()];
            Sender {
                name: format!("{first} {last}"),
                first: first.to_string(),
                address: format!(
                    "{}.{}{}@{domain}",
                    ascii_fold(first),
                    ascii_fold(last),
                    rank / 100
                ),
                domain,
                chinese: false,
                rank,
            }
        }
    }

    fn organisation(&self) -> &'static str {
        self.domain.split('.').next().unwrap_or(self.domain)
    }
}

/// The headers every message of the history has; `extra` goes before `MIME-Version`.
fn head(from: &str, subject: &str, at: i64, message_id: &str, extra: &str) -> String {
    let date = chrono::DateTime::from_timestamp(at, 0)
        .unwrap_or_default()
        .to_rfc2822();
    format!(
        "From: {from}\nTo: Example Support <support@example.test>\nSubject: {}\nDate: {date}\nMessage-ID: {message_id}\n{extra}MIME-Version: 1.0\n",
        encode_word(subject)
    )
}

fn request(rng: &mut fastrand::Rng, t: usize, plan: &TicketPlan, who: &Sender, at: i64) -> Vec<u8> {
    let length = rng.usize(700..3000);
    let text = if who.chinese {
        let greeting = ZH_GREETINGS[rng.usize(..ZH_GREETINGS.len())];
        format!(
            "{greeting}\n\n{}\n谢谢！\n{}\n\n-- \n{}\n{}\n电话 +86 21 5555 01{:02}\n",
            zh_paragraphs(rng, length),
            who.name,
            who.name,
            who.organisation(),
            who.rank % 100
        )
    } else {
        let greeting = ["Hi support team,", "Hello,", "Dear IT support,", "Hi,"][rng.usize(..4)];
        format!(
            "{greeting}\n\n{}\nThanks,\n{}\n\n-- \n{}\n{}\nPhone +1 555 01{:02}\n",
            paragraphs(rng, length),
            who.first,
            who.name,
            who.organisation(),
            who.rank % 100
        )
    };
    let received = format!(
        "Received: from mail-{0}.{1} (mail-{0}.{1} [203.0.113.{2}])\n\tby mx.example.test (Postfix) with ESMTPS id {3:010X}\n\tfor <support@example.test>; {4}\n",
        who.rank % 7,
        who.domain,
        who.rank % 250 + 1,
        rng.u64(..1 << 40),
        chrono::DateTime::from_timestamp(at, 0)
            .unwrap_or_default()
            .to_rfc2822()
    );
    let mut extra = USER_AGENTS[who.rank % USER_AGENTS.len()].to_string() + "\n";
    if rng.u8(..8) == 0 {
        extra.push_str(&format!("Cc: Team Lead <lead@{}>\n", who.domain));
    }
    let from = format!("{} <{}>", encode_word(&who.name), who.address);
    let id = format!("<req-{t}.scale@{}>", who.domain);
    let alternative = rng.u8(..100) < if who.chinese { 15 } else { 30 };
    let attachment = rng.u8(..100) < 3;
    let mut raw = received + &head(&from, &plan.subject, at, &id, &extra);
    raw.push_str(&mime_body(rng, t, &text, alternative, attachment));
    raw.into_bytes()
}

/// The quoted tail of a reply: what the person answers to.
fn quoted(rng: &mut fastrand::Rng, chinese: bool, at: i64, whom: &str) -> String {
    let when = chrono::DateTime::from_timestamp(at, 0)
        .unwrap_or_default()
        .format("%a, %d %b %Y at %H:%M");
    let body = if chinese {
        zh_paragraphs(rng, 300)
    } else {
        paragraphs(rng, 400)
    };
    let lines: String = body.lines().map(|l| format!("> {l}\n")).collect();
    format!("\nOn {when}, {whom} wrote:\n{lines}")
}

fn requester_reply(
    rng: &mut fastrand::Rng,
    t: usize,
    plan: &TicketPlan,
    who: &Sender,
    at: i64,
) -> Vec<u8> {
    let mut text = String::new();
    for _ in 0..rng.usize(1..4) {
        if who.chinese {
            text.push_str(&zh_fill_from(rng, ZH_FOLLOW_UPS));
        } else {
            text.push_str(&fill_from(rng, FOLLOW_UPS));
            text.push(' ');
        }
    }
    let body = if who.chinese {
        format!("您好，\n\n{text}\n\n谢谢！\n{}\n", who.name)
    } else {
        format!("Hi,\n\n{}\nThanks,\n{}\n", wrap(&text, 72), who.first)
    };
    let body = body + &quoted(rng, who.chinese, at - HOUR, "Example Support");
    let from = format!("{} <{}>", encode_word(&who.name), who.address);
    let subject = format!("Re: [TP-{}] {}", t + 1, plan.subject);
    let id = format!("<re-{t}.scale@{}>", who.domain);
    let mut raw = head(&from, &subject, at, &id, "");
    raw.push_str(&mime_body(rng, t, &body, false, false));
    raw.into_bytes()
}

fn agent_reply(
    rng: &mut fastrand::Rng,
    t: usize,
    plan: &TicketPlan,
    requester: &Sender,
    at: i64,
    resolve: bool,
) -> Vec<u8> {
    let (name, address) = AGENTS[plan.agent];
    let mut text = String::new();
    if resolve {
        let summary = if requester.chinese {
            zh_fill_from(rng, ZH_RESOLUTIONS)
        } else {
            fill_from(rng, RESOLUTIONS)
        };
        text.push_str(&format!("/resolve {summary}\n\n"));
    } else if plan.waiting {
        text.push_str("/status waiting\n\n");
    }
    if requester.chinese {
        text.push_str(&format!("{}，您好：\n\n", requester.name));
        for _ in 0..rng.usize(1..4) {
            text.push_str(&zh_fill_from(rng, ZH_ANSWERS));
        }
        text.push_str(&format!("\n\n祝好，\n{name}\nIT 服务台\n"));
    } else {
        let mut answer = String::new();
        for _ in 0..rng.usize(1..4) {
            answer.push_str(&fill_from(rng, ANSWERS));
            answer.push(' ');
        }
        text.push_str(&format!(
            "Hello {},\n\n{}\nBest regards,\n{name}\nIT Service Desk\n",
            requester.first,
            wrap(&answer, 72)
        ));
    }
    text.push_str(&quoted(rng, requester.chinese, at - HOUR, &requester.name));
    let from = format!("{name} <{address}>");
    let subject = format!("Re: [TP-{}] {}", t + 1, plan.subject);
    let id = format!("<agent-{t}-{}.scale@example.test>", u8::from(resolve));
    let mut raw = format!("{AGENT_PROOF}\n") + &head(&from, &subject, at, &id, "");
    let alternative = rng.u8(..100) < 50;
    raw.push_str(&mime_body(rng, t, &text, alternative, false));
    raw.into_bytes()
}

/// Chinese paragraphs (no spaces between sentences, one line each), about `target`
/// bytes long.
fn zh_paragraphs(rng: &mut fastrand::Rng, target: usize) -> String {
    let mut text = String::new();
    while text.len() < target {
        for _ in 0..rng.usize(2..5) {
            text.push_str(&zh_fill_from(rng, ZH_SENTENCES));
        }
        text.push_str("\n\n");
    }
    text
}

fn zh_fill_from(rng: &mut fastrand::Rng, templates: &[&str]) -> String {
    let template = templates[rng.usize(..templates.len())];
    template
        .replace("{sys}", ZH_SYSTEMS[rng.usize(..ZH_SYSTEMS.len())])
        .replace("{dev}", ZH_DEVICES[rng.usize(..ZH_DEVICES.len())])
        .replace("{code}", &format!("0x{:04X}", rng.u16(..)))
        .replace("{n}", &rng.u8(1..9).to_string())
}

const FOLLOW_UPS: &[&str] = &[
    "Any news on this? It is still not working.",
    "I forgot to mention: the error code is {code}.",
    "It happened again just now, right after lunch.",
    "Some more information: I sit on floor {n}, next to the printer.",
    "The problem now also affects {sys}.",
    "Restarting the {dev} did not help, unfortunately.",
    "Could someone call me? My number is in the signature.",
    "A colleague says it works on her {dev}, so it may be my account.",
];
const ANSWERS: &[&str] = &[
    "Thank you for your message and sorry for the trouble.",
    "I have reset your profile on {sys}; please sign out and in again.",
    "The {dev} has been replaced, and the old one is on its way back to us.",
    "We found a stuck job in the print queue on floor {n} and cleared it.",
    "The certificate of {sys} was renewed this morning.",
    "Your access to the folder has been granted; it can take up to an hour to show.",
    "Could you tell us whether the error {code} still appears after a restart?",
    "I have asked the network team to look into it; they are on it now.",
    "Last night's update caused this; we rolled it back for your team.",
    "Please try again and let us know if anything still does not work.",
    "There is a known issue with {sys} at the moment and we are working on it.",
];
const RESOLUTIONS: &[&str] = &[
    "Reset the profile on {sys}",
    "Replaced the {dev}",
    "Cleared the print queue on floor {n}",
    "Renewed the certificate of {sys}",
    "Granted access to Finance/{n}",
    "Rolled back last night's update of {sys}",
    "Reissued invoice {code}",
    "Reset the password for {sys}",
];

const ZH_SURNAMES: &[(&str, &str)] = &[
    ("王", "wang"),
    ("李", "li"),
    ("张", "zhang"),
    ("刘", "liu"),
    ("陈", "chen"),
    ("杨", "yang"),
    ("黄", "huang"),
    ("赵", "zhao"),
    ("吴", "wu"),
    ("周", "zhou"),
    ("徐", "xu"),
    ("孙", "sun"),
];
const ZH_GIVEN: &[(&str, &str)] = &[
    ("伟", "wei"),
    ("芳", "fang"),
    ("娜", "na"),
    ("秀英", "xiuying"),
    ("敏", "min"),
    ("静", "jing"),
    ("丽", "li"),
    ("强", "qiang"),
    ("磊", "lei"),
    ("军", "jun"),
    ("洋", "yang"),
    ("勇", "yong"),
    ("艳", "yan"),
    ("杰", "jie"),
    ("娟", "juan"),
    ("涛", "tao"),
];
const ZH_SYSTEMS: &[&str] = &[
    "VPN",
    "Outlook",
    "CRM系统",
    "SAP",
    "内网门户",
    "Teams",
    "工资系统",
    "共享盘",
    "Jira",
    "仓库系统",
    "Citrix",
    "OA系统",
    "ERP",
];
const ZH_DEVICES: &[&str] = &[
    "笔记本电脑",
    "扩展坞",
    "显示器",
    "耳机",
    "座机",
    "门禁读卡器",
    "标签打印机",
];
const ZH_GREETINGS: &[&str] = &["您好，", "你好，", "IT支持团队：你们好！", "各位好，"];
const ZH_SUBJECTS: &[&str] = &[
    "无法登录{sys}",
    "{sys}从今天早上开始非常慢",
    "打开{sys}时报错 {code}",
    "申请重置{sys}密码",
    "新同事入职，需要一台{dev}",
    "我的{dev}无法开机",
    "{n}楼打印机只打印空白页",
    "申请共享文件夹 财务/{n} 的访问权限",
    "紧急：{sys}整个部门都无法使用",
    "关于发票 {code} 的问题",
    "VPN 连接不上，提示错误 {code}",
    "邮箱收不到外部邮件",
];
const ZH_SENTENCES: &[&str] = &[
    "从今天早上开始，我完全无法打开{sys}。",
    "系统提示会话已过期，即使刚刚登录也是这样。",
    "我已经重启了两次{dev}，也清除了浏览器缓存，但问题依旧。",
    "同一个办公室的同事也遇到了同样的问题，所以应该不只是我的电脑有问题。",
    "昨天下午四点半之前一切都还正常。",
    "我们月底结账需要用到这个系统，周五之前必须完成。",
    "麻烦尽快帮忙看一下，谢谢！",
    "附件是报错的截图，供参考。",
    "错误代码是 {code}，大约三十秒后出现。",
    "重试的时候有时能成功，但是到下一个页面又失败了。",
    "领导让我提交工单，方便跟踪处理进度。",
    "我今天在家办公，通过VPN连接公司网络。",
    "新同事下周一入职，需要一台{dev}和{sys}的账号。",
    "如果需要更多信息，请随时联系我。",
    "我今天一整天都可以通过手机联系到。",
    "问题是在昨晚安装更新之后开始出现的。",
    "{dev}上的其他功能看起来都正常。",
    "整个发货组都受影响，现在无法打印任何标签。",
    "我用Chrome和Edge都试过了，结果一样。",
    "上次类似的问题是通过重置个人配置解决的。",
    "发票号是 {code}，金额好像被重复扣了两次。",
    "权限开通后请告知我一声。",
    "不着急，但希望下周之前能解决。",
    "只有超过几兆的文件才会出现这个提示。",
    "我们组长也在抄送里，方便她了解情况。",
    "登录时一直提示用户名或密码错误，但我确定密码是对的。",
];
const ZH_FOLLOW_UPS: &[&str] = &[
    "请问有进展吗？现在还是不行。",
    "补充一下：错误代码是 {code}。",
    "刚才又出现了一次。",
    "补充信息：我在{n}楼，靠近打印机。",
    "现在{sys}也出问题了。",
    "重启{dev}之后还是不行。",
    "方便的话请给我打个电话，号码在签名里。",
];
const ZH_ANSWERS: &[&str] = &[
    "感谢您的反馈，给您带来不便，非常抱歉。",
    "已经为您重置了{sys}的个人配置，请退出后重新登录。",
    "{dev}已为您更换，旧设备我们会收回。",
    "打印队列中有卡住的任务，已经清除。",
    "{sys}的证书已于今天上午更新。",
    "共享文件夹的权限已开通，可能需要一小时生效。",
    "请问重启之后是否还会出现错误 {code}？",
    "已转交网络组处理，他们正在排查。",
    "请再试一下，如仍有问题请直接回复此邮件。",
];
const ZH_RESOLUTIONS: &[&str] = &[
    "已重置{sys}配置",
    "已更换{dev}",
    "已清除{n}楼打印队列",
    "已更新{sys}证书",
    "已开通财务/{n}共享文件夹权限",
    "已回滚{sys}昨晚的更新",
    "已重新开具发票 {code}",
    "已重置{sys}密码",
];
