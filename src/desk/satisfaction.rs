//! Satisfaction (stage 4): the closing mail asks the requester to rate the desk's work
//! by reply, 1 to 5 or in words ("great", "bad", "很好", "不满意"). This module owns
//! reading such a reply ([`rating_in`], with its bilingual word list) and what a rating
//! does ([`decide_rating`]): it is recorded on the ticket (a later one replaces it),
//! the agents get a short notice, and nothing else happens — it never reopens the
//! ticket, never opens a new one, and is not relayed as "still failing". Storing is
//! `store::satisfaction`'s, the figures per period `report`'s.
//!
//! The reading is cautious in the other direction from `consent`: a reply that is not
//! clearly a rating (a question, a new problem, "it broke again", "Good morning, the
//! scanner ...") is `None` and follows the usual reopen rules. A rating must open the
//! reply; what follows it is the comment, and a comment that reports trouble ("5, but
//! it crashes again") makes the reply a problem report, not a rating.

use super::lifecycle::{self, Author, Change, Decision, Mail, Notice, TicketState};
use super::roster::DeskConfig;
use super::{MessageKind, Status};

/// A rating read from a reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rating {
    /// 1 (worst) to 5 (best).
    pub score: u8,
    /// The rest of the reply, trimmed (may be empty).
    pub comment: String,
    /// Given as a number ("4", "5/5", "4 stars", "五分"), not in words.
    pub explicit: bool,
}

/// A comment is kept up to this many characters.
const MAX_COMMENT_CHARS: usize = 2_000;

/// Words and phrases that rate, with their score. Latin ones are matched without
/// regard to case, as whole words; the longest match wins ("not good" before "good",
/// "不满意" before "满意").
const WORDS: &[(&str, u8)] = &[
    // English
    ("very good", 5),
    ("really good", 5),
    ("great", 5),
    ("excellent", 5),
    ("perfect", 5),
    ("awesome", 5),
    ("amazing", 5),
    ("fantastic", 5),
    ("outstanding", 5),
    ("superb", 5),
    ("thanks a lot", 5),
    ("thank you very much", 5),
    ("thanks so much", 5),
    ("very satisfied", 5),
    ("very happy", 5),
    ("good", 4),
    ("pretty good", 4),
    ("quite good", 4),
    ("nice", 4),
    ("satisfied", 4),
    ("happy", 4),
    ("ok", 3),
    ("okay", 3),
    ("fine", 3),
    ("so-so", 3),
    ("so so", 3),
    ("average", 3),
    ("alright", 3),
    ("not bad", 3),
    ("bad", 2),
    ("slow", 2),
    ("too slow", 2),
    ("poor", 2),
    ("not good", 2),
    ("not great", 2),
    ("not very good", 2),
    ("not satisfied", 2),
    ("not happy", 2),
    ("unsatisfied", 2),
    ("dissatisfied", 2),
    ("disappointed", 2),
    ("terrible", 1),
    ("awful", 1),
    ("useless", 1),
    ("horrible", 1),
    ("very bad", 1),
    ("very poor", 1),
    ("very dissatisfied", 1),
    ("very disappointed", 1),
    ("not good at all", 1),
    ("not satisfied at all", 1),
    // Chinese
    ("非常满意", 5),
    ("很满意", 5),
    ("十分满意", 5),
    ("很好", 5),
    ("非常好", 5),
    ("特别好", 5),
    ("太好了", 5),
    ("完美", 5),
    ("超赞", 5),
    ("棒极了", 5),
    ("非常感谢", 5),
    ("满分", 5),
    ("满意", 4),
    ("比较满意", 4),
    ("好", 4),
    ("挺好", 4),
    ("不错", 4),
    ("还不错", 4),
    ("一般", 3),
    ("还行", 3),
    ("还可以", 3),
    ("凑合", 3),
    ("马马虎虎", 3),
    ("不满意", 2),
    ("不太满意", 2),
    ("不好", 2),
    ("不太好", 2),
    ("差", 2),
    ("比较差", 2),
    ("慢", 2),
    ("太慢", 2),
    ("太慢了", 2),
    ("很差", 1),
    ("非常差", 1),
    ("太差了", 1),
    ("非常不满意", 1),
    ("很不满意", 1),
    ("糟糕", 1),
    ("太糟糕了", 1),
    ("没用", 1),
];

/// Latin words that may follow a rating word on the same line: "great job", "very good
/// service, thanks". Any other word makes the reply something else ("Good morning, ...").
const FOLLOWERS: &[&str] = &[
    "service",
    "job",
    "work",
    "support",
    "experience",
    "help",
    "thanks",
    "thank",
    "overall",
];

/// Han characters that may follow a Chinese rating directly: "很好谢谢", "不错的服务".
const HAN_FOLLOWERS: &str = "谢感的啊呀哦了啦呢嘛吧";

/// Units after a number that make it a rating: "5/5", "4 stars", "5分", "五颗星".
const UNITS: &[&str] = &[
    "/5", "/ 5", "out of 5", "of 5", "stars", "star", "points", "颗星", "分", "星",
];

/// Labels a rating may come after: "Rating: 4", "评分：5".
const LABELS: &[&str] = &["rating", "score", "评分", "打分", "评价"];

/// Said anywhere in the comment, these make a reply a problem report, not a rating.
const STILL_FAILING: &[&str] = &[
    "again",
    "still",
    "broke",
    "not work",
    "doesn't work",
    "does not work",
    "didn't work",
    "isn't working",
    "stopped working",
    "not fixed",
    "reopen",
    "又",
    "还是",
    "仍然",
    "依然",
    "重新打开",
    "没解决",
    "没有解决",
    "未解决",
    "不行",
    "没好",
];

/// Trouble words: a problem report unless the comment also says it is solved.
const TROUBLE: &[&str] = &[
    "error", "crash", "fail", "problem", "issue", "broken", "错误", "报错", "故障", "问题", "失败",
    "坏", "无法", "不能",
];

/// Words that say the trouble named is gone ("no more errors", "问题解决了").
const SOLVED: &[&str] = &[
    "solved",
    "fixed",
    "resolved",
    "works",
    "working",
    "no more",
    "no problem",
    "解决",
    "修好",
    "正常",
    "好了",
    "没问题",
];

/// Reads a requester's reply (quotes and signature trimmed) as a rating, or `None`
/// when it is not one. The rating opens the reply: a number 1-5 (with `/5`, `stars`,
/// `分`, or alone before punctuation or the end), a Chinese numeral with `分`/`星`, or
/// one of the rating words; the rest is the comment. A question, or a comment that
/// reports trouble, is not a rating.
pub fn rating_in(reply: &str) -> Option<Rating> {
    let text = normalise(reply);
    let text = text.trim();
    if text.is_empty() || text.contains(['?', '？']) {
        return None;
    }
    let text = without_label(text);
    let (score, rest, explicit) = match leading_number(text) {
        Some((score, rest)) => (score, rest, true),
        None => {
            let (score, rest) = leading_words(text)?;
            (score, rest, false)
        }
    };
    let comment = rest
        .trim_start_matches(|c: char| c.is_whitespace() || SEPARATORS.contains(c))
        .trim();
    if reports_trouble(comment) {
        return None;
    }
    Some(Rating {
        score,
        comment: first_chars(comment, MAX_COMMENT_CHARS).to_string(),
        explicit,
    })
}

/// Punctuation between a rating and its comment.
const SEPARATORS: &str = ",.!;:-—~)，。！、；：～）";

/// Full-width digits and slash as ASCII (Chinese input methods type them).
fn normalise(reply: &str) -> String {
    reply
        .chars()
        .map(|c| match c {
            '０'..='９' => char::from(b'0' + (c as u32 - '０' as u32) as u8),
            '／' => '/',
            other => other,
        })
        .collect()
}

/// The text after a leading "Rating:" label, if any.
fn without_label(text: &str) -> &str {
    for label in LABELS {
        if let Some(rest) = strip_prefix_ignore_case(text, label) {
            let rest = rest.trim_start();
            if let Some(after) = rest.strip_prefix([':', '：']) {
                return after.trim_start();
            }
        }
    }
    text
}

/// A leading score given as a number: `5`, `5/5`, `4 stars`, `5分`, `五分`, `满分` is a
/// word. A bare digit must stand alone: followed by the end, punctuation, a line break
/// or "thanks" ("3 printers are down" is not a rating).
fn leading_number(text: &str) -> Option<(u8, &str)> {
    let first = text.chars().next()?;
    let score = match first {
        '1'..='5' => first as u8 - b'0',
        '一' => 1,
        '二' | '两' => 2,
        '三' => 3,
        '四' => 4,
        '五' => 5,
        _ => return None,
    };
    let after = &text[first.len_utf8()..];
    // "50", "5.1": a longer number.
    let decimal = after
        .strip_prefix('.')
        .is_some_and(|d| d.starts_with(|c: char| c.is_ascii_digit()));
    if decimal || after.starts_with(|c: char| c.is_ascii_digit()) {
        return None;
    }
    let spaced = after.trim_start();
    if let Some(rest) = UNITS
        .iter()
        .find_map(|u| strip_prefix_ignore_case(spaced, u))
        .filter(|rest| !rest.starts_with(|c: char| c.is_ascii_alphanumeric()))
    {
        return Some((score, rest));
    }
    // A Chinese numeral is a score only with its unit ("一" alone is a word).
    if !first.is_ascii_digit() {
        return None;
    }
    stands_alone(after, false).then_some((score, after))
}

/// A leading rating word (the longest that matches), and the text after it.
fn leading_words(text: &str) -> Option<(u8, &str)> {
    WORDS
        .iter()
        .filter_map(|(word, score)| {
            let rest = strip_prefix_ignore_case(text, word)?;
            let han = !word.is_ascii();
            stands_alone(rest, han).then_some((word.len(), *score, rest))
        })
        .max_by_key(|(len, _, _)| *len)
        .map(|(_, score, rest)| (score, rest))
}

/// Whether what follows a rating lets it be one: the end, punctuation, a line break, a
/// word such as "service" or "thanks" after a space; after a Chinese word also a
/// particle or "谢谢" with no space.
fn stands_alone(rest: &str, han: bool) -> bool {
    let Some(next) = rest.chars().next() else {
        return true;
    };
    if han && HAN_FOLLOWERS.contains(next) {
        return true;
    }
    if !next.is_whitespace() {
        // "3/10" or "5@" go on as something else; ",", "!", "。" end the rating.
        return !next.is_alphanumeric() && !"/@#&*_+=<'’".contains(next);
    }
    let line = rest.split('\n').next().unwrap_or("");
    if line.trim().is_empty() {
        return true;
    }
    let word: String = line
        .trim_start()
        .chars()
        .take_while(|c| c.is_alphanumeric())
        .collect::<String>()
        .to_lowercase();
    if word.is_empty() {
        return true;
    }
    FOLLOWERS.contains(&word.as_str())
        || line
            .trim_start()
            .starts_with(|c: char| HAN_FOLLOWERS.contains(c))
}

/// Whether a comment reports that something still fails or is wrong.
fn reports_trouble(comment: &str) -> bool {
    let lower = comment.to_lowercase();
    if STILL_FAILING.iter().any(|w| lower.contains(w)) {
        return true;
    }
    TROUBLE.iter().any(|w| lower.contains(w)) && !SOLVED.iter().any(|w| lower.contains(w))
}

/// `text` without `prefix` at its start, ASCII case ignored.
fn strip_prefix_ignore_case<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
    let head = text.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &text[prefix.len()..])
}

/// The first `n` characters of `text`.
fn first_chars(text: &str, n: usize) -> &str {
    match text.char_indices().nth(n) {
        Some((i, _)) => &text[..i],
        None => text,
    }
}

/// What a reply that reads as a rating does on ticket `t`, or `None` when the rule does
/// not apply and the reply goes its usual way. It applies to the requester's side
/// (requester or participant) on a closed ticket — however long ago it closed — and on
/// a resolved one when the score is a number: there a word such as "ok" or "great"
/// answers the confirmation request, as it did before ratings existed.
///
/// The rating is recorded (replacing any earlier one), the timeline says so, and the
/// agents who answer for the ticket get a short notice with the reply; the ticket's
/// status, clocks and timers do not change, and no mail goes to the requester.
pub fn decide_rating(
    t: &TicketState,
    author: &Author,
    text: &str,
    desk: &DeskConfig,
) -> Option<Decision> {
    if !matches!(author, Author::Requester | Author::Participant) {
        return None;
    }
    let rating = rating_in(text)?;
    let applies = match t.status {
        Status::Closed => true,
        Status::Resolved => rating.explicit,
        _ => false,
    };
    if !applies {
        return None;
    }
    let mut d = Decision {
        message_kind: MessageKind::Reply,
        ..Decision::default()
    };
    let said = if rating.comment.is_empty() {
        format!("rated {}/5", rating.score)
    } else {
        format!("rated {}/5: {}", rating.score, rating.comment)
    };
    d.events.push(("satisfaction", said.clone()));
    d.changes.push(Change::Satisfaction {
        rating: rating.score,
        comment: rating.comment,
    });
    let to = lifecycle::agents_to_notify(t, desk, None);
    if !to.is_empty() {
        d.mails.push(Mail::AgentNotice {
            to,
            notice: Notice::Rated,
            text: format!("{said}\n\n(A rating does not reopen the ticket.)"),
        });
    }
    Some(d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::desk::Priority;

    fn score(text: &str) -> Option<u8> {
        rating_in(text).map(|r| r.score)
    }

    #[test]
    fn numbers_rate() {
        for (text, expected) in [
            ("5", 5),
            ("5, thanks!", 5),
            ("5/5", 5),
            ("4 / 5 quick and friendly", 4),
            ("4 stars", 4),
            ("4 stars, good job", 4),
            ("3 out of 5", 3),
            ("1.", 1),
            ("2 - slow answers", 2),
            ("5分", 5),
            ("5 分，谢谢", 5),
            ("五分", 5),
            ("五颗星！", 5),
            ("三分吧", 3),
            ("５分", 5),
            ("5\n\nAnn was very patient.", 5),
            ("Rating: 4", 4),
            ("评分：5", 5),
            ("5 thanks", 5),
        ] {
            assert_eq!(score(text), Some(expected), "{text:?}");
        }
        let r = rating_in("5, thanks!").unwrap();
        assert_eq!((r.comment.as_str(), r.explicit), ("thanks!", true));
        assert_eq!(rating_in("5").unwrap().comment, "");
        assert_eq!(rating_in("4 stars, good job").unwrap().comment, "good job");
    }

    #[test]
    fn numbers_that_are_not_ratings() {
        for text in [
            "0",
            "6",
            "10/10",
            "3 printers are down",
            "2nd floor printer",
            "5.1 is the driver version",
            "50 pages jammed",
            "5 minutes after you closed it, it stopped",
            "一",
            "一直打印空白页",
            "3/10",
        ] {
            assert_eq!(score(text), None, "{text:?}");
        }
    }

    #[test]
    fn english_words_rate() {
        for (text, expected) in [
            ("Great, thanks", 5),
            ("great!", 5),
            ("Excellent service", 5),
            ("Perfect.", 5),
            ("Thanks a lot!", 5),
            ("Very good", 5),
            ("very good service, thanks", 5),
            ("Good", 4),
            ("good job", 4),
            ("Satisfied.", 4),
            ("OK", 3),
            ("ok.", 3),
            ("Fine", 3),
            ("so-so", 3),
            ("Not bad", 3),
            ("Bad", 2),
            ("Slow.", 2),
            ("too slow", 2),
            ("Not good", 2),
            ("not good at all", 1),
            ("Not satisfied, it took a week", 2),
            ("Terrible", 1),
            ("awful!!", 1),
            ("Useless.", 1),
            ("Very bad service", 1),
        ] {
            assert_eq!(score(text), Some(expected), "{text:?}");
        }
        let r = rating_in("Great, thanks").unwrap();
        assert_eq!((r.comment.as_str(), r.explicit), ("thanks", false));
        assert_eq!(
            rating_in("Not satisfied, it took a week").unwrap().comment,
            "it took a week"
        );
    }

    #[test]
    fn chinese_words_rate() {
        for (text, expected) in [
            ("非常满意", 5),
            ("很好", 5),
            ("很好，谢谢", 5),
            ("很好谢谢！", 5),
            ("太好了！", 5),
            ("满意", 4),
            ("好", 4),
            ("好的", 4),
            ("不错的服务", 4),
            ("一般", 3),
            ("还行吧", 3),
            ("不满意", 2),
            ("不太满意", 2),
            ("不太满意，等了三天", 2),
            ("差", 2),
            ("很差", 1),
            ("非常不满意", 1),
            ("满分", 5),
        ] {
            assert_eq!(score(text), Some(expected), "{text:?}");
        }
        assert_eq!(rating_in("不太满意，等了三天").unwrap().comment, "等了三天");
    }

    #[test]
    fn problems_and_questions_are_not_ratings() {
        for text in [
            "it broke again",
            "It broke again.",
            "The printer prints blank pages again",
            "Good morning, the scanner on floor 2 jams",
            "Great, but it crashes again",
            "5, but it still fails",
            "ok?",
            "Is it fixed?",
            "能再帮我看看吗？",
            "又坏了",
            "好像又坏了",
            "好几天了还是不行",
            "不行，还是打印空白页",
            "很好，但是又报错了",
            "Bad news: the error is back",
            "Thanks",
            "Hello",
            "",
            "   ",
            "Fine now but the scanner shows an error",
            "Okay I will try tomorrow",
        ] {
            assert_eq!(rating_in(text), None, "{text:?}");
        }
    }

    #[test]
    fn a_solved_problem_in_the_comment_is_still_a_rating() {
        assert_eq!(score("很好，问题解决了"), Some(5));
        assert_eq!(score("Great, no more errors"), Some(5));
        assert_eq!(score("5 - the crash is fixed"), Some(5));
    }

    #[test]
    fn a_long_comment_is_cut() {
        let long = format!("5, {}", "a".repeat(5_000));
        assert_eq!(
            rating_in(&long).unwrap().comment.chars().count(),
            MAX_COMMENT_CHARS
        );
    }

    /// The lifecycle tests' desk (Ann among the agents).
    fn desk() -> DeskConfig {
        crate::desk::lifecycle::tests::desk()
    }

    fn ticket(status: Status) -> TicketState {
        TicketState {
            id: 7,
            status,
            priority: Priority::P3,
            requester: "jane@example.org".into(),
            assignee: Some("ann@example.test".into()),
            team: None,
            participants: Vec::new(),
            authorization: None,
            resolution: None,
            closed_at: Some(100),
        }
    }

    #[test]
    fn a_rating_on_a_closed_ticket_is_recorded_and_told_nothing_else() {
        let d = decide_rating(
            &ticket(Status::Closed),
            &Author::Requester,
            "5, thanks!",
            &desk(),
        )
        .expect("a rating");
        assert_eq!(
            d.changes,
            vec![Change::Satisfaction {
                rating: 5,
                comment: "thanks!".into()
            }]
        );
        assert_eq!(d.final_status(Status::Closed), Status::Closed);
        assert_eq!(d.mails.len(), 1);
        let Mail::AgentNotice { to, notice, text } = &d.mails[0] else {
            panic!("{:?}", d.mails);
        };
        assert_eq!(
            (to.as_slice(), *notice),
            (&["ann@example.test".to_string()][..], Notice::Rated)
        );
        assert!(text.contains("rated 5/5: thanks!"), "{text}");
        assert!(d.mails.iter().all(|m| !m.to_requester()));
    }

    #[test]
    fn who_and_where_a_rating_counts() {
        let closed = ticket(Status::Closed);
        let d = desk();
        assert!(decide_rating(&closed, &Author::Participant, "很好", &d).is_some());
        for author in [
            Author::Other,
            Author::Staff {
                address: "ann@example.test".into(),
                name: "Ann".into(),
            },
        ] {
            assert!(
                decide_rating(&closed, &author, "5", &d).is_none(),
                "{author:?}"
            );
        }
        assert!(decide_rating(&closed, &Author::Requester, "it broke again", &d).is_none());
        // Resolved: a number rates, a word answers the confirmation request.
        let resolved = ticket(Status::Resolved);
        assert!(decide_rating(&resolved, &Author::Requester, "4/5", &d).is_some());
        assert!(decide_rating(&resolved, &Author::Requester, "great", &d).is_none());
        for status in [Status::Open, Status::Waiting, Status::Pending] {
            assert!(decide_rating(&ticket(status), &Author::Requester, "5", &d).is_none());
        }
    }
}
