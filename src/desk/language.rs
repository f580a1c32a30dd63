//! Language of a request: whether answers to it should be written in Chinese or English.
//! Only the two languages the desk's templates carry; the caller maps the result to a
//! template folder.
//!
//! The measure: Han characters against Latin letters in the subject and the first ~2000
//! characters of the body, lines quoted from earlier mail (`>`) and tag-like `<...>` runs
//! left out. One Han character carries about as much as a short English word, so a Han
//! character weighs as much as three Latin letters: "VPN 连不上了，提示 error 809" is
//! Chinese, an English mail with a Chinese name in it is English.

/// How much of the body is looked at, in characters.
const BODY_CHARS: usize = 2000;

/// How many Latin letters one Han character outweighs.
const HAN_WEIGHT: usize = 3;

/// "zh" when the text is mostly Chinese, else "en".
pub fn detect_language(subject: &str, body: &str) -> &'static str {
    let mut tally = Tally::default();
    tally.line(subject, usize::MAX);
    let mut budget = BODY_CHARS;
    for line in body.lines().filter(|l| !l.trim_start().starts_with('>')) {
        if budget == 0 {
            break;
        }
        // The line's characters, then its line break, count against the budget.
        budget -= tally.line(line, budget);
        budget = budget.saturating_sub(1);
    }
    if tally.han > 0 && tally.han * HAN_WEIGHT >= tally.latin {
        "zh"
    } else {
        "en"
    }
}

/// Han characters and Latin letters seen so far.
#[derive(Default)]
struct Tally {
    han: usize,
    latin: usize,
}

impl Tally {
    /// Counts at most `limit` characters of one line (a tag-like run ends with its
    /// line); returns how many it looked at.
    fn line(&mut self, line: &str, limit: usize) -> usize {
        let mut in_tag = false;
        let mut seen = 0;
        for c in line.chars().take(limit) {
            seen += 1;
            match c {
                '<' => in_tag = true,
                '>' => in_tag = false,
                _ if in_tag => {}
                _ if c.is_ascii() => self.latin += usize::from(c.is_ascii_alphabetic()),
                _ if is_han(c) => self.han += 1,
                _ if is_latin_letter(c) => self.latin += 1,
                _ => {}
            }
        }
        seen
    }
}

fn is_han(c: char) -> bool {
    matches!(c as u32,
        0x4E00..=0x9FFF | 0x3400..=0x4DBF | 0xF900..=0xFAFF | 0x20000..=0x2FFFF)
}

fn is_latin_letter(c: char) -> bool {
    c.is_ascii_alphabetic() || (c.is_alphabetic() && ('\u{C0}'..='\u{24F}').contains(&c))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_languages() {
        assert_eq!(detect_language("Printer", "My printer is broken."), "en");
        assert_eq!(detect_language("打印机坏了", "三楼打印机卡纸"), "zh");
        assert_eq!(detect_language("", ""), "en");
        assert_eq!(detect_language("12345", "!!!"), "en");
    }

    #[test]
    fn mixed_text_goes_by_weight() {
        assert_eq!(detect_language("VPN 连不上了，提示 error 809", ""), "zh");
        assert_eq!(
            detect_language(
                "Zoom 5.16 no audio",
                "开会的时候对方听不到我的声音。MacBook Pro, macOS Sonoma."
            ),
            "zh"
        );
        assert_eq!(
            detect_language(
                "Printer",
                "Please ask 张伟 about the printer on the third floor, he knows."
            ),
            "en"
        );
        assert_eq!(detect_language("Grüße", "Müller läuft über"), "en");
    }

    #[test]
    fn quoted_lines_and_tags_are_ignored() {
        let body =
            "好的，谢谢\n> On Monday you wrote:\n> Please restart your computer and try again.";
        assert_eq!(detect_language("Re: 电脑", body), "zh");
        assert_eq!(
            detect_language(
                "",
                "<div class=\"mailbody\" style=\"font-family: Arial\">邮箱打不开</div>"
            ),
            "zh"
        );
    }

    #[test]
    fn only_the_head_of_a_long_body_counts() {
        let body = format!("{}{}", "打印机".repeat(700), "english ".repeat(5000));
        assert_eq!(detect_language("", &body), "zh");
    }
}
