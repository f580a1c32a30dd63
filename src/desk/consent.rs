//! Reading a requester's short answer: is it a yes to an authorisation request
//! ([`consent_in`]), and does it confirm that a resolved ticket is fixed
//! ([`confirmation_in`])? This module owns the word lists (English and Chinese, plus
//! common German, French and Spanish words) and the rules that weigh them. Both readings
//! are cautious: a wrong "yes" is costly, so anything doubtful is `Unclear` /
//! `NotConfirmed` and goes to a person.
//!
//! How a reply is read: quoted lines (`>`) that slipped through are ignored; a leading
//! greeting ("Hi Ann,", "您好，") and trailing sign-offs ("Thanks,\nBob", "谢谢！") are
//! set aside; the rest is cut into sentences (`. ! ? ; 。` and line ends) and clauses
//! (`, : 、`), and each clause into units: a Latin-script word, or a single Han
//! character. Words and phrases are matched as unit sequences, longest first, so
//! "不同意" is found before "同意" and "no problem" before "no". A negation ("not",
//! "don't", "不", "没" ...) turns a yes-word that follows closely in the same clause into
//! a no. Questions are sentences ending in `?`, sentences with a question word ("吗",
//! "是否", "能不能"), or clauses opening like one ("can you", "will it", "why").

use std::cmp::Reverse;
use std::collections::HashMap;
use std::sync::LazyLock;

use regex::Regex;

/// The answer to an authorisation request ("may we restart your laptop tonight?").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Consent {
    Approved,
    Refused,
    Unclear,
}

/// The answer to "we think it is fixed: reply to confirm, or tell us what still fails".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Confirmation {
    Confirmed,
    NotConfirmed,
}

/// Answer to an authorisation request ("may we restart your laptop tonight?"). Never
/// Approved unless the reply clearly says yes; a reply that both approves and refuses,
/// asks a question back, or says something else is Unclear.
///
/// A yes that comes with a condition ("yes, but after 6", "可以，不过先备份") is Unclear;
/// a no with a condition ("not now, maybe later") is still Refused. The yes must be in
/// the first sentence, or the reply must hold at most one other sentence without a
/// yes; an unexplained negation anywhere ("I won't be using it") keeps a yes from
/// counting.
pub fn consent_in(reply: &str) -> Consent {
    let reading = Reading::of(reply, &CONSENT_WORDS);
    if reading.asks_a_question() {
        return Consent::Unclear;
    }
    let sentences: Vec<ConsentSentence> = reading
        .sentences
        .iter()
        .map(|sentence| {
            let mut judged = ConsentSentence::default();
            for clause in &sentence.clauses {
                judged.absorb(judge_consent_clause(clause));
            }
            judged
        })
        .collect();
    let says_yes = sentences.iter().any(|s| s.yes);
    let says_no = sentences.iter().any(|s| s.no);
    match (says_yes, says_no) {
        (true, true) | (false, false) => Consent::Unclear,
        (false, true) => Consent::Refused,
        (true, false) => {
            if sentences.iter().any(|s| s.hedge || s.loose_negation) {
                return Consent::Unclear;
            }
            let first_says_yes = sentences.first().is_some_and(|s| s.yes);
            let sentences_without_yes = sentences.iter().filter(|s| !s.yes).count();
            if first_says_yes || sentences_without_yes <= 1 {
                Consent::Approved
            } else {
                Consent::Unclear
            }
        }
    }
}

/// Answer to "we think it is fixed: reply to confirm, or tell us what still fails".
/// Confirmed only when the reply says it works / is fixed / thanks-with-no-complaint;
/// anything that says it still fails, asks a question, or is unclear is NotConfirmed.
///
/// Any failure word ("still", "again", "error", "还是", "又" ...), hedge ("but", "only",
/// "不过") or unexplained negation anywhere makes it NotConfirmed. Otherwise it is
/// Confirmed when the first sentence says it works, when some sentence says so and at
/// most one other sentence is neutral, or when the reply is nothing but thanks / "ok" /
/// "great" (no neutral sentence at all: a story ending in "thanks" is not a confirmation).
pub fn confirmation_in(reply: &str) -> Confirmation {
    let reading = Reading::of(reply, &CONFIRMATION_WORDS);
    if reading.asks_a_question() {
        return Confirmation::NotConfirmed;
    }
    let mut sentence_verdicts = Vec::with_capacity(reading.sentences.len());
    for sentence in &reading.sentences {
        let mut sentence_verdict = Verdict::Neutral;
        for clause in &sentence.clauses {
            let verdict = judge_confirmation_clause(clause);
            if verdict == Verdict::Fails {
                return Confirmation::NotConfirmed;
            }
            sentence_verdict = sentence_verdict.max(verdict);
        }
        sentence_verdicts.push(sentence_verdict);
    }
    let neutral = sentence_verdicts
        .iter()
        .filter(|v| **v == Verdict::Neutral)
        .count();
    let first_works = sentence_verdicts.first() == Some(&Verdict::Works);
    let any_works = sentence_verdicts.contains(&Verdict::Works);
    let thanks = reading.closing_thanks || sentence_verdicts.contains(&Verdict::Thanks);
    let confirmed = first_works || (any_works && neutral <= 1) || (thanks && neutral == 0);
    if confirmed {
        Confirmation::Confirmed
    } else {
        Confirmation::NotConfirmed
    }
}

// ---------------------------------------------------------------------------------
// Word lists
// ---------------------------------------------------------------------------------

/// What a word or phrase means for the reading.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cue {
    /// Consent: yes.
    Yes,
    /// Consent: no.
    No,
    /// Consent: a condition, a delay, doubt ("but", "tomorrow", "maybe", "但是").
    Hedge,
    /// Confirmation: it works / is fixed.
    Works,
    /// Confirmation: thanks, "ok", "great": positive, but says nothing about the fix.
    Thanks,
    /// Confirmation: it still fails, or only partly works.
    Fails,
    /// Confirmation: a trouble word ("error", "crash", "问题"); fine only when the
    /// clause says it is gone or fixed.
    Trouble,
    /// Confirmation: "no longer", "anymore", "gone", "不再".
    NoLonger,
    /// Negation: "not", "don't", "不", "没".
    Negation,
    /// A question word.
    Question,
    /// Matched only so that its parts are not read on their own ("你好" is not "好",
    /// "特别" is not "别", "don't worry" is not a refusal).
    Neutral,
}

use Cue::*;

/// Han-script terms that must be read as a whole, shared by both lists.
const CHINESE_NEUTRAL: &[(&str, Cue)] = &[
    ("你好", Neutral),
    ("您好", Neutral),
    ("大家好", Neutral),
    ("好像", Neutral),
    ("好久", Neutral),
    ("好多", Neutral),
    ("好几", Neutral),
    ("刚好", Neutral),
    ("正好", Neutral),
    ("好处", Neutral),
    ("爱好", Neutral),
    ("友好", Neutral),
    ("只好", Neutral),
    ("好好", Neutral),
    ("不好意思", Neutral),
    ("不客气", Neutral),
    ("对不起", Neutral),
    ("不用谢", Neutral),
    ("特别", Neutral),
    ("别人", Neutral),
    ("别的", Neutral),
    ("区别", Neutral),
    ("分别", Neutral),
    ("告别", Neutral),
    ("级别", Neutral),
    ("类别", Neutral),
    ("识别", Neutral),
    ("个别", Neutral),
    ("性别", Neutral),
    ("差别", Neutral),
    ("别处", Neutral),
    ("银行", Neutral),
    ("进行", Neutral),
    ("执行", Neutral),
    ("运行", Neutral),
    ("行程", Neutral),
    ("行李", Neutral),
    ("一行", Neutral),
    ("没想到", Neutral),
    ("没人", Neutral),
    ("没有人", Neutral),
];

/// Question words and phrases, shared by both lists.
const QUESTION_WORDS: &[(&str, Cue)] = &[
    ("wonder", Question),
    ("wondering", Question),
    ("any chance", Question),
    ("吗", Question),
    ("是否", Question),
    ("能不能", Question),
    ("可不可以", Question),
    ("行不行", Question),
    ("会不会", Question),
    ("要不要", Question),
    ("好不好", Question),
    ("是不是", Question),
    ("对不对", Question),
    ("有没有", Question),
    ("能否", Question),
    ("可否", Question),
    ("为什么", Question),
    ("为何", Question),
    ("什么", Question),
    ("怎么", Question),
    ("怎样", Question),
    ("如何", Question),
    ("多久", Question),
    ("多长时间", Question),
    ("几点", Question),
    ("哪", Question),
    ("谁", Question),
];

/// Negations, shared by both lists. Words ending in "n't" and French "n'…" are
/// negations too (see [`is_elided_negation`]).
const NEGATIONS: &[(&str, Cue)] = &[
    ("not", Negation),
    ("no", Negation),
    ("never", Negation),
    ("cannot", Negation),
    ("dont", Negation),
    ("doesnt", Negation),
    ("didnt", Negation),
    ("wont", Negation),
    ("isnt", Negation),
    ("nicht", Negation),
    ("kein", Negation),
    ("keine", Negation),
    ("nie", Negation),
    ("pas", Negation),
    ("ne", Negation),
    ("jamais", Negation),
    ("nunca", Negation),
    ("不", Negation),
    ("没", Negation),
    ("没有", Negation),
    ("未", Negation),
    ("无", Negation),
    ("非", Negation),
    ("no one", Neutral),
    ("nobody", Neutral),
    ("nothing", Neutral),
    ("don't worry", Neutral),
    ("do not worry", Neutral),
];

const CONSENT_PHRASES: &[(&str, Cue)] = &[
    // English yes.
    ("yes", Yes),
    ("yeah", Yes),
    ("yep", Yes),
    ("yup", Yes),
    ("sure", Yes),
    ("sure thing", Yes),
    ("ok", Yes),
    ("okay", Yes),
    ("alright", Yes),
    ("all right", Yes),
    ("approve", Yes),
    ("approved", Yes),
    ("agree", Yes),
    ("agreed", Yes),
    ("go ahead", Yes),
    ("go for it", Yes),
    ("proceed", Yes),
    ("please do", Yes),
    ("do it", Yes),
    ("fine", Yes),
    ("sounds good", Yes),
    ("that works", Yes),
    ("works for me", Yes),
    ("no problem", Yes),
    ("no problems", Yes),
    ("not a problem", Yes),
    ("no worries", Yes),
    ("no objection", Yes),
    ("no objections", Yes),
    ("no issue", Yes),
    ("no issues", Yes),
    ("of course", Yes),
    ("certainly", Yes),
    ("absolutely", Yes),
    ("definitely", Yes),
    ("granted", Yes),
    ("authorised", Yes),
    ("authorized", Yes),
    ("authorise", Yes),
    ("authorize", Yes),
    ("you can", Yes),
    ("you may", Yes),
    ("feel free", Yes),
    ("don't mind", Yes),
    ("do not mind", Yes),
    ("dont mind", Yes),
    ("wouldn't mind", Yes),
    ("have my permission", Yes),
    ("have my approval", Yes),
    ("by all means", Yes),
    // English no.
    ("nope", No),
    ("nah", No),
    ("no thanks", No),
    ("no thank you", No),
    ("no way", No),
    ("not now", No),
    ("not today", No),
    ("not tonight", No),
    ("not yet", No),
    ("not right now", No),
    ("not at the moment", No),
    ("not this time", No),
    ("refuse", No),
    ("refused", No),
    ("decline", No),
    ("declined", No),
    ("deny", No),
    ("denied", No),
    ("disagree", No),
    ("reject", No),
    ("rejected", No),
    ("veto", No),
    ("don't want", No),
    ("do not want", No),
    ("dont want", No),
    ("rather not", No),
    ("prefer not", No),
    ("stop", No),
    ("cancel", No),
    ("hold off", No),
    ("absolutely not", No),
    ("definitely not", No),
    ("certainly not", No),
    ("of course not", No),
    ("no need", No),
    ("not necessary", No),
    ("unnecessary", No),
    ("bad idea", No),
    ("not a good idea", No),
    ("don't think so", No),
    ("do not think so", No),
    ("not convenient", No),
    ("inconvenient", No),
    // English conditions, delays, doubt.
    ("but", Hedge),
    ("however", Hedge),
    ("though", Hedge),
    ("although", Hedge),
    ("unless", Hedge),
    ("if", Hedge),
    ("only", Hedge),
    ("except", Hedge),
    ("instead", Hedge),
    ("maybe", Hedge),
    ("perhaps", Hedge),
    ("possibly", Hedge),
    ("probably", Hedge),
    ("not sure", Hedge),
    ("unsure", Hedge),
    ("not certain", Hedge),
    ("wait", Hedge),
    ("hold on", Hedge),
    ("hang on", Hedge),
    ("later", Hedge),
    ("tomorrow", Hedge),
    ("next week", Hedge),
    ("another time", Hedge),
    ("other time", Hedge),
    ("after", Hedge),
    ("before", Hedge),
    ("first", Hedge),
    ("as long as", Hedge),
    ("so long as", Hedge),
    ("provided", Hedge),
    ("providing", Hedge),
    ("depends", Hedge),
    ("busy", Hedge),
    ("check", Hedge),
    ("ask", Hedge),
    ("need to", Hedge),
    ("prefer", Hedge),
    ("make sure", Hedge),
    ("i think", Hedge),
    ("i guess", Hedge),
    ("not at all", Hedge),
    ("never mind", Hedge),
    ("hmm", Hedge),
    // German.
    ("ja", Yes),
    ("jawohl", Yes),
    ("gerne", Yes),
    ("gern", Yes),
    ("einverstanden", Yes),
    ("in ordnung", Yes),
    ("klar", Yes),
    ("natürlich", Yes),
    ("kein problem", Yes),
    ("passt", Yes),
    ("nein", No),
    ("nein danke", No),
    ("lieber nicht", No),
    ("bitte nicht", No),
    ("nicht jetzt", No),
    ("noch nicht", No),
    ("auf keinen fall", No),
    ("abgelehnt", No),
    ("aber", Hedge),
    ("nur", Hedge),
    ("wenn", Hedge),
    ("falls", Hedge),
    ("später", Hedge),
    ("morgen", Hedge),
    ("vielleicht", Hedge),
    ("erst", Hedge),
    // French.
    ("oui", Yes),
    ("ouais", Yes),
    ("d'accord", Yes),
    ("bien sûr", Yes),
    ("allez y", Yes),
    ("vas y", Yes),
    ("pas de problème", Yes),
    ("pas de souci", Yes),
    ("aucun problème", Yes),
    ("volontiers", Yes),
    ("non", No),
    ("non merci", No),
    ("pas maintenant", No),
    ("pas encore", No),
    ("pas question", No),
    ("refusé", No),
    ("mais", Hedge),
    ("seulement", Hedge),
    ("si", Hedge),
    ("plus tard", Hedge),
    ("demain", Hedge),
    ("peut être", Hedge),
    // Spanish.
    ("sí", Yes),
    ("claro", Yes),
    ("vale", Yes),
    ("de acuerdo", Yes),
    ("adelante", Yes),
    ("por supuesto", Yes),
    ("sin problema", Yes),
    ("está bien", Yes),
    ("no gracias", No),
    ("ahora no", No),
    ("todavía no", No),
    ("de ninguna manera", No),
    ("pero", Hedge),
    ("solo", Hedge),
    ("sólo", Hedge),
    ("más tarde", Hedge),
    ("mañana", Hedge),
    ("quizás", Hedge),
    ("quizá", Hedge),
    ("tal vez", Hedge),
    // Chinese yes.
    ("同意", Yes),
    ("可以", Yes),
    ("好的", Yes),
    ("好啊", Yes),
    ("好吧", Yes),
    ("好呀", Yes),
    ("批准", Yes),
    ("没问题", Yes),
    ("没有问题", Yes),
    ("没什么问题", Yes),
    ("没关系", Yes),
    ("没事", Yes),
    ("当然", Yes),
    ("是的", Yes),
    ("确定", Yes),
    ("允许", Yes),
    ("准许", Yes),
    ("赞成", Yes),
    ("没意见", Yes),
    ("没有意见", Yes),
    ("请便", Yes),
    ("请进行", Yes),
    // Chinese no.
    ("不同意", No),
    ("不可以", No),
    ("不行", No),
    ("拒绝", No),
    ("不要", No),
    ("先不要", No),
    ("先别", No),
    ("别", No),
    ("不用了", No),
    ("不好", No),
    ("不能", No),
    ("不必", No),
    ("不准", No),
    ("不允许", No),
    ("不批准", No),
    ("不方便", No),
    ("暂时不", No),
    ("算了", No),
    ("反对", No),
    ("否", No),
    // Chinese conditions, delays, doubt.
    ("但是", Hedge),
    ("但", Hedge),
    ("不过", Hedge),
    ("可是", Hedge),
    ("只是", Hedge),
    ("只要", Hedge),
    ("除非", Hedge),
    ("如果", Hedge),
    ("要是", Hedge),
    ("的话", Hedge),
    ("等等", Hedge),
    ("等一下", Hedge),
    ("等下", Hedge),
    ("稍后", Hedge),
    ("晚点", Hedge),
    ("晚些", Hedge),
    ("改天", Hedge),
    ("明天", Hedge),
    ("下周", Hedge),
    ("下次", Hedge),
    ("之后", Hedge),
    ("以后", Hedge),
    ("以前", Hedge),
    ("之前", Hedge),
    ("也许", Hedge),
    ("可能", Hedge),
    ("大概", Hedge),
    ("或许", Hedge),
    ("不确定", Hedge),
    ("不知道", Hedge),
    ("不好说", Hedge),
    ("再说", Hedge),
    ("考虑", Hedge),
    ("想想", Hedge),
    ("先", Hedge),
    ("最好", Hedge),
    ("还行", Hedge),
    ("还好", Hedge),
];

/// Consent words that count only when they are the whole clause (trailing particles
/// such as 的/吧/啊 aside): "No." but not "no one", "好" but not "好像", "行" but not "银行".
const CONSENT_WHOLE_CLAUSES: &[(&str, Cue)] = &[
    ("no", No),
    ("never", No),
    ("不", No),
    ("不用", No),
    ("好", Yes),
    ("行", Yes),
    ("对", Yes),
    ("是", Yes),
];

const CONFIRMATION_PHRASES: &[(&str, Cue)] = &[
    // English: it works.
    ("works", Works),
    ("work", Works),
    ("working", Works),
    ("worked", Works),
    ("works again", Works),
    ("working again", Works),
    ("work again", Works),
    ("running again", Works),
    ("running", Works),
    ("fixed", Works),
    ("solved", Works),
    ("resolved", Works),
    ("sorted", Works),
    ("confirmed", Works),
    ("confirm", Works),
    ("all good", Works),
    ("all set", Works),
    ("all fine", Works),
    ("fine", Works),
    ("back to normal", Works),
    ("normal", Works),
    ("up and running", Works),
    ("did the trick", Works),
    ("that did it", Works),
    ("helped", Works),
    ("help", Works),
    ("success", Works),
    ("successful", Works),
    ("successfully", Works),
    ("yes", Works),
    ("yeah", Works),
    ("yep", Works),
    ("yup", Works),
    ("looks good", Works),
    ("good now", Works),
    ("ok now", Works),
    ("okay now", Works),
    ("no problem", Works),
    ("no problems", Works),
    ("no issue", Works),
    ("no issues", Works),
    ("no error", Works),
    ("no errors", Works),
    ("no crashes", Works),
    ("no further problems", Works),
    ("no further issues", Works),
    ("can close", Works),
    ("close it", Works),
    ("close the ticket", Works),
    ("please close", Works),
    // English: thanks and pleasantries.
    ("thanks", Thanks),
    ("thank", Thanks),
    ("thank you", Thanks),
    ("thx", Thanks),
    ("ty", Thanks),
    ("cheers", Thanks),
    ("great", Thanks),
    ("perfect", Thanks),
    ("excellent", Thanks),
    ("awesome", Thanks),
    ("brilliant", Thanks),
    ("wonderful", Thanks),
    ("nice", Thanks),
    ("super", Thanks),
    ("cool", Thanks),
    ("ok", Thanks),
    ("okay", Thanks),
    ("alright", Thanks),
    ("good", Thanks),
    ("appreciated", Thanks),
    ("appreciate", Thanks),
    // English: it still fails, or only partly works.
    ("still", Fails),
    ("again", Fails),
    ("same", Fails),
    ("fails to", Fails),
    ("failed to", Fails),
    ("failing to", Fails),
    ("stopped", Fails),
    ("but", Fails),
    ("however", Fails),
    ("though", Fails),
    ("although", Fails),
    ("except", Fails),
    ("unfortunately", Fails),
    ("sadly", Fails),
    ("only", Fails),
    ("partly", Fails),
    ("partially", Fails),
    ("mostly", Fails),
    ("sometimes", Fails),
    ("occasionally", Fails),
    ("intermittent", Fails),
    ("intermittently", Fails),
    ("randomly", Fails),
    ("better", Fails),
    ("not yet", Fails),
    ("not quite", Fails),
    ("not really", Fails),
    ("no luck", Fails),
    ("no change", Fails),
    ("no difference", Fails),
    ("nothing changed", Fails),
    ("cannot", Fails),
    ("can't", Fails),
    ("cant", Fails),
    ("unable", Fails),
    ("wrong", Fails),
    ("worse", Fails),
    ("slow", Fails),
    ("stuck", Fails),
    ("nope", Fails),
    ("nah", Fails),
    // English trouble words.
    ("problem", Trouble),
    ("problems", Trouble),
    ("issue", Trouble),
    ("issues", Trouble),
    ("error", Trouble),
    ("errors", Trouble),
    ("bug", Trouble),
    ("crash", Trouble),
    ("crashes", Trouble),
    ("crashed", Trouble),
    ("crashing", Trouble),
    ("freeze", Trouble),
    ("freezes", Trouble),
    ("frozen", Trouble),
    ("hangs", Trouble),
    ("broken", Trouble),
    ("fail", Trouble),
    ("fails", Trouble),
    ("failed", Trouble),
    ("failing", Trouble),
    ("failure", Trouble),
    ("no longer", NoLonger),
    ("anymore", NoLonger),
    ("any more", NoLonger),
    ("no more", NoLonger),
    ("gone", NoLonger),
    ("went away", NoLonger),
    ("disappeared", NoLonger),
    // German.
    ("funktioniert", Works),
    ("funktioniert wieder", Works),
    ("geht wieder", Works),
    ("klappt", Works),
    ("gelöst", Works),
    ("behoben", Works),
    ("alles gut", Works),
    ("ja", Works),
    ("danke", Thanks),
    ("prima", Thanks),
    ("immer noch", Fails),
    ("noch immer", Fails),
    ("wieder", Fails),
    ("aber", Fails),
    ("leider", Fails),
    ("nein", Fails),
    ("fehler", Trouble),
    ("nicht mehr", NoLonger),
    // French.
    ("ça marche", Works),
    ("marche", Works),
    ("fonctionne", Works),
    ("résolu", Works),
    ("réglé", Works),
    ("c'est bon", Works),
    ("oui", Works),
    ("merci", Thanks),
    ("parfait", Thanks),
    ("toujours", Fails),
    ("encore", Fails),
    ("mais", Fails),
    ("malheureusement", Fails),
    ("non", Fails),
    ("erreur", Trouble),
    ("problème", Trouble),
    // Spanish.
    ("funciona", Works),
    ("resuelto", Works),
    ("solucionado", Works),
    ("arreglado", Works),
    ("todo bien", Works),
    ("sí", Works),
    ("gracias", Thanks),
    ("perfecto", Thanks),
    ("todavía", Fails),
    ("sigue", Fails),
    ("aún", Fails),
    ("otra vez", Fails),
    ("de nuevo", Fails),
    ("pero", Fails),
    ("problema", Trouble),
    ("ya no", NoLonger),
    // Chinese: it works.
    ("好了", Works),
    ("可以了", Works),
    ("解决了", Works),
    ("解决", Works),
    ("已解决", Works),
    ("没问题了", Works),
    ("没有问题了", Works),
    ("没问题", Works),
    ("没有问题", Works),
    ("没什么问题", Works),
    ("没事了", Works),
    ("正常了", Works),
    ("正常", Works),
    ("恢复了", Works),
    ("恢复正常", Works),
    ("修好了", Works),
    ("修好", Works),
    ("修复", Works),
    ("好用了", Works),
    ("能用了", Works),
    ("能用", Works),
    ("可以用了", Works),
    ("可以用", Works),
    ("搞定", Works),
    ("成功", Works),
    ("行了", Works),
    ("确认", Works),
    ("都好了", Works),
    ("是的", Works),
    // Chinese: thanks and pleasantries.
    ("谢谢", Thanks),
    ("多谢", Thanks),
    ("感谢", Thanks),
    ("谢了", Thanks),
    ("辛苦了", Thanks),
    ("好的", Thanks),
    ("太好了", Thanks),
    ("不错", Thanks),
    ("很好", Thanks),
    ("完美", Thanks),
    ("可以", Thanks),
    // Chinese: it still fails, or only partly works.
    ("还是", Fails),
    ("仍然", Fails),
    ("仍", Fails),
    ("依然", Fails),
    ("依旧", Fails),
    ("照旧", Fails),
    ("老样子", Fails),
    ("又", Fails),
    ("再次", Fails),
    ("还有", Fails),
    ("还会", Fails),
    ("还没", Fails),
    ("不行", Fails),
    ("失败", Fails),
    ("崩溃", Fails),
    ("无法", Fails),
    ("不能", Fails),
    ("打不开", Fails),
    ("连不上", Fails),
    ("上不去", Fails),
    ("登不上", Fails),
    ("用不了", Fails),
    ("坏了", Fails),
    ("一样", Fails),
    ("同样", Fails),
    ("偶尔", Fails),
    ("有时", Fails),
    ("有时候", Fails),
    ("部分", Fails),
    ("但是", Fails),
    ("但", Fails),
    ("不过", Fails),
    ("可是", Fails),
    ("只是", Fails),
    ("只有", Fails),
    ("还行", Fails),
    ("卡住", Fails),
    ("卡顿", Fails),
    ("很卡", Fails),
    ("很慢", Fails),
    ("太慢", Fails),
    ("变慢", Fails),
    // Chinese trouble words and "no longer".
    ("问题", Trouble),
    ("报错", Trouble),
    ("错误", Trouble),
    ("出错", Trouble),
    ("故障", Trouble),
    ("异常", Trouble),
    ("不再", NoLonger),
    ("没再", NoLonger),
    ("没有再", NoLonger),
    ("消失", NoLonger),
    ("不见了", NoLonger),
    ("没有了", NoLonger),
];

/// Confirmation words that count only as the whole clause.
const CONFIRMATION_WHOLE_CLAUSES: &[(&str, Cue)] = &[
    ("no", Fails),
    ("never", Fails),
    ("不", Fails),
    ("好", Thanks),
    ("行", Thanks),
    ("对", Thanks),
    ("是", Thanks),
];

static CONSENT_WORDS: LazyLock<Lexicon> = LazyLock::new(|| {
    Lexicon::new(
        &[CONSENT_PHRASES, CHINESE_NEUTRAL, QUESTION_WORDS, NEGATIONS],
        CONSENT_WHOLE_CLAUSES,
    )
});

static CONFIRMATION_WORDS: LazyLock<Lexicon> = LazyLock::new(|| {
    Lexicon::new(
        &[
            CONFIRMATION_PHRASES,
            CHINESE_NEUTRAL,
            QUESTION_WORDS,
            NEGATIONS,
        ],
        CONFIRMATION_WHOLE_CLAUSES,
    )
});

/// Clause openings that make a question even without a question mark
/// ("can you do it tomorrow instead").
static QUESTION_OPENINGS: LazyLock<Vec<Vec<String>>> = LazyLock::new(|| {
    const AUXILIARIES: &[&str] = &[
        "can", "could", "will", "would", "should", "shall", "may", "might", "is", "are", "was",
        "were", "do", "does", "did", "have", "has",
    ];
    const SUBJECTS: &[&str] = &[
        "i", "you", "we", "it", "this", "that", "they", "there", "he", "she", "my", "our", "your",
        "the",
    ];
    /// Imperatives, not questions: "do it tonight", "have it done".
    const IMPERATIVES: &[(&str, &str)] = &[
        ("do", "it"),
        ("do", "this"),
        ("do", "that"),
        ("have", "it"),
        ("have", "this"),
        ("have", "that"),
    ];
    const QUESTION_WORDS: &[&str] = &[
        "how", "what", "when", "why", "where", "which", "who", "whom", "whose",
    ];
    let mut openings: Vec<Vec<String>> = Vec::new();
    for auxiliary in AUXILIARIES {
        for subject in SUBJECTS {
            if !IMPERATIVES.contains(&(auxiliary, subject)) {
                openings.push(vec![auxiliary.to_string(), subject.to_string()]);
            }
        }
    }
    openings.extend(QUESTION_WORDS.iter().map(|w| vec![w.to_string()]));
    openings
});

/// Units that may stand before an imperative negation: "please don't", "请不要".
const IMPERATIVE_LEADS: &[&str] = &[
    "please", "pls", "plz", "just", "bitte", "请", "先", "还是", "暂时",
];

/// Chinese particles ignored at the end of a clause for the whole-clause words.
const TRAILING_PARTICLES: &[&str] = &[
    "的", "吧", "啊", "呀", "哦", "噢", "滴", "嘞", "哒", "啦", "了", "嗯",
];

/// How many units may stand between a negation and the yes/works word it negates
/// ("I do not really approve", "不是很同意").
const NEGATION_REACH: usize = 3;

/// A word list: phrases by their first unit, longest first, and whole-clause words.
struct Lexicon {
    phrases_by_first_unit: HashMap<String, Vec<Phrase>>,
    whole_clauses: HashMap<Vec<String>, Cue>,
}

struct Phrase {
    units: Vec<String>,
    cue: Cue,
}

/// A matched word or phrase: its cue and where it sits in the clause's units.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Hit {
    cue: Cue,
    start: usize,
    end: usize,
}

impl Lexicon {
    fn new(lists: &[&[(&str, Cue)]], whole_clauses: &[(&str, Cue)]) -> Lexicon {
        let mut phrases_by_first_unit: HashMap<String, Vec<Phrase>> = HashMap::new();
        for &(text, cue) in lists.iter().flat_map(|list| list.iter()) {
            let units = units_of(text);
            if let Some(first) = units.first() {
                phrases_by_first_unit
                    .entry(first.clone())
                    .or_default()
                    .push(Phrase { units, cue });
            }
        }
        for phrases in phrases_by_first_unit.values_mut() {
            // Stable: among equally long phrases the first listed wins.
            phrases.sort_by_key(|phrase| Reverse(phrase.units.len()));
        }
        let whole_clauses = whole_clauses
            .iter()
            .map(|&(text, cue)| (units_of(text), cue))
            .collect();
        Lexicon {
            phrases_by_first_unit,
            whole_clauses,
        }
    }

    /// The longest phrase starting at `start`: its length in units and its cue.
    fn longest_at(&self, units: &[String], start: usize) -> Option<(usize, Cue)> {
        let rest = units.get(start..)?;
        self.phrases_by_first_unit
            .get(rest.first()?)?
            .iter()
            .find(|phrase| rest.starts_with(&phrase.units))
            .map(|phrase| (phrase.units.len(), phrase.cue))
    }

    /// The cues of a clause, left to right, each unit in at most one phrase. A clause
    /// in which the phrases find nothing but negations may be a whole-clause word
    /// ("no", "不", "好吧").
    fn scan(&self, units: &[String]) -> Vec<Hit> {
        let mut hits = Vec::new();
        let mut start = 0;
        while let Some(unit) = units.get(start) {
            if let Some((len, cue)) = self.longest_at(units, start) {
                hits.push(Hit {
                    cue,
                    start,
                    end: start + len,
                });
                start += len;
            } else {
                if is_elided_negation(unit) {
                    hits.push(Hit {
                        cue: Negation,
                        start,
                        end: start + 1,
                    });
                }
                start += 1;
            }
        }
        if hits.iter().all(|hit| hit.cue == Negation)
            && let Some(cue) = self.whole_clause(units)
        {
            return vec![Hit {
                cue,
                start: 0,
                end: units.len(),
            }];
        }
        hits
    }

    /// The whole-clause word a clause is, trailing particles (的, 吧, 啊 ...) aside.
    fn whole_clause(&self, units: &[String]) -> Option<Cue> {
        let mut core = units;
        while let [rest @ .., last] = core
            && !rest.is_empty()
            && TRAILING_PARTICLES.contains(&last.as_str())
        {
            core = rest;
        }
        self.whole_clauses.get(core).copied()
    }
}

/// English "don't", "isn't", "can't" ... and French "n'est", "n'ai" ...
fn is_elided_negation(unit: &str) -> bool {
    unit.ends_with("n't") || (unit.starts_with("n'") && unit.len() > 2)
}

// ---------------------------------------------------------------------------------
// Reading a reply
// ---------------------------------------------------------------------------------

/// A word in a Latin-like script (with inner apostrophes), or one Han character.
static UNIT: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"\p{Han}|[[\p{L}\p{M}\p{N}]--\p{Han}]+(?:'[[\p{L}\p{M}\p{N}]--\p{Han}]+)*")
        .expect("unit pattern is valid")
});

/// Where sentences end. Full-width forms are folded to ASCII before this applies.
static SENTENCE_END: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"[.!?;\n。…¿¡]+").expect("sentence end pattern is valid"));

/// Where clauses end within a sentence.
static CLAUSE_END: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"[,:、]+").expect("clause end pattern is valid"));

/// A greeting at the start of the first line: "Hi Ann,", "Dear Mr. Smith,", "Hello!",
/// "王工，你好！", "您好，".
static GREETING: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?x)^\s*(?:
            (?i:hi|hello|hey|hiya|dear|good\s+(?:morning|afternoon|evening|day)|greetings
               |hallo|moin|servus|guten\s+(?:tag|morgen|abend)|liebe[rs]?|sehr\s+geehrte[rs]?
               |bonjour|bonsoir|salut|hola|buenos\s+d[ií]as|buenas\s+tardes|buenas|estimad[oa]s?)\b
            (?:\s+(?:\p{Lu}[\p{L}\p{M}'.-]*|\p{Han}{1,4}
               |(?i:team|all|everyone|there|folks|guys|support|helpdesk|colleagues)))
            {0,3}
            \s*(?:[,:!]+|$)
          | (?:[\p{Han}\p{L}]{1,6}\s*,?\s*)?(?:你好|您好|大家好|嗨|哈喽)[\s,.:!~。]*
        )",
    )
    .expect("greeting pattern is valid")
});

/// A whole sentence that is a sign-off: "Thanks, Bob", "Best regards", "谢谢！小王".
/// The `thanks` group is set when it thanks.
static SIGN_OFF: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?x)^\s*(?:
            (?P<thanks>
                (?i:many\s+thanks|thanks\s+a\s+lot|thanks\s+so\s+much|thanks\s+again
                   |thanks\s+in\s+advance|thank\s+you(?:\s+(?:very|so)\s+much)?|thanks|thx|ty
                   |cheers|danke\s+schön|vielen\s+dank|danke|merci\s+beaucoup|merci
                   |muchas\s+gracias|gracias)
              | 谢谢(?:你|您|啦|了|大家)?|多谢|感谢|辛苦了)
          | (?i:best\s+regards|kind\s+regards|warm\s+regards|regards|best\s+wishes|best|br
               |sincerely|yours(?:\s+sincerely)?|viele\s+grüße|beste\s+grüße|liebe\s+grüße
               |mfg|lg|cordialement|bien\s+à\s+vous|saludos|un\s+saludo|atentamente)
          | 祝好|此致敬礼|此致|敬礼
        )
        (?:[\s,~!-]+(?:\p{Lu}[\p{L}\p{M}'.-]*(?:\s+\p{Lu}[\p{L}\p{M}'.-]*){0,2}|\p{Han}{1,4}))?
        [\s,.!~]*$",
    )
    .expect("sign-off pattern is valid")
});

/// A sentence that is only a name, as under a sign-off: "Bob", "Ann Lee", "— Bob", "小王".
static NAME_ONLY: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"^\s*(?P<dash>[-–—~]+\s*)?(?:\p{Lu}[\p{L}\p{M}'.-]*(?:\s+\p{Lu}[\p{L}\p{M}'.-]*){0,2}|\p{Han}{1,4})[\s.]*$",
    )
    .expect("name pattern is valid")
});

/// A reply cut into sentences and clauses, with greeting and sign-offs set aside.
struct Reading {
    sentences: Vec<Sentence>,
    /// A thanking sign-off ("Thanks, Bob", "谢谢！") was set aside.
    closing_thanks: bool,
}

struct Sentence {
    clauses: Vec<Clause>,
    /// Ends in a question mark.
    question_mark: bool,
}

struct Clause {
    units: Vec<String>,
    hits: Vec<Hit>,
}

impl Reading {
    fn of(reply: &str, lexicon: &Lexicon) -> Reading {
        let folded = fold_forms(reply);
        let unquoted: Vec<&str> = folded
            .lines()
            .filter(|line| !line.trim_start().starts_with('>'))
            .collect();
        let unquoted = unquoted.join("\n");
        let body = without_greeting(&unquoted);

        let mut raw_sentences: Vec<(&str, bool)> = Vec::new();
        let mut sentence_start = 0;
        for end in SENTENCE_END.find_iter(body) {
            raw_sentences.push((
                body.get(sentence_start..end.start()).unwrap_or(""),
                end.as_str().contains('?'),
            ));
            sentence_start = end.end();
        }
        raw_sentences.push((body.get(sentence_start..).unwrap_or(""), false));
        raw_sentences.retain(|(text, _)| !units_of(text).is_empty());

        let closing_thanks = drop_sign_offs(&mut raw_sentences, lexicon);
        let sentences = raw_sentences
            .into_iter()
            .map(|(text, question_mark)| Sentence {
                clauses: CLAUSE_END
                    .split(text)
                    .map(units_of)
                    .filter(|units| !units.is_empty())
                    .map(|units| Clause {
                        hits: lexicon.scan(&units),
                        units,
                    })
                    .collect(),
                question_mark,
            })
            .collect();
        Reading {
            sentences,
            closing_thanks,
        }
    }

    fn asks_a_question(&self) -> bool {
        self.sentences.iter().any(|sentence| {
            sentence.question_mark
                || sentence.clauses.iter().any(|clause| {
                    clause.hits.iter().any(|hit| hit.cue == Question)
                        || clause.units.last().is_some_and(|unit| unit == "呢")
                        || QUESTION_OPENINGS
                            .iter()
                            .any(|opening| clause.units.starts_with(opening))
                })
        })
    }
}

/// Full-width ASCII forms to ASCII (so "，！？" are ",!?"), odd spaces to spaces, and
/// typographic apostrophes to `'`.
fn fold_forms(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '\u{FF01}'..='\u{FF5E}' => char::from_u32(u32::from(c) - 0xFEE0).unwrap_or(c),
            '\u{3000}' | '\u{00A0}' | '\u{2009}' | '\u{202F}' => ' ',
            '\u{2018}' | '\u{2019}' | '\u{02BC}' | '\u{00B4}' | '`' => '\'',
            '\r' => '\n',
            _ => c,
        })
        .collect()
}

/// The text without a greeting at the start of its first non-blank line.
fn without_greeting(text: &str) -> &str {
    let body = text.trim_start();
    let first_line = body.split('\n').next().unwrap_or("");
    match GREETING.find(first_line) {
        Some(greeting) => body.get(greeting.end()..).unwrap_or(""),
        None => body,
    }
}

/// Removes trailing sign-off sentences (and a name under one); says whether one of them
/// thanked. A name is only removed when it carries no cue of its own.
fn drop_sign_offs(sentences: &mut Vec<(&str, bool)>, lexicon: &Lexicon) -> bool {
    let mut thanked = false;
    while let Some(&(last, _)) = sentences.last() {
        if let Some(caps) = SIGN_OFF.captures(last) {
            thanked |= caps.name("thanks").is_some();
            sentences.pop();
            continue;
        }
        let name = NAME_ONLY.captures(last).filter(|_| {
            let units = units_of(last);
            lexicon.scan(&units).is_empty()
        });
        let Some(name) = name else {
            break;
        };
        let under_sign_off = sentences
            .len()
            .checked_sub(2)
            .and_then(|previous| sentences.get(previous))
            .is_some_and(|(previous, _)| SIGN_OFF.is_match(previous));
        if name.name("dash").is_some() || under_sign_off {
            sentences.pop();
            continue;
        }
        break;
    }
    thanked
}

/// The units of a text, lower case.
fn units_of(text: &str) -> Vec<String> {
    UNIT.find_iter(text)
        .map(|unit| unit.as_str().to_lowercase())
        .collect()
}

// ---------------------------------------------------------------------------------
// Weighing the cues
// ---------------------------------------------------------------------------------

/// What the clauses of one sentence say about consent.
#[derive(Debug, Default, Clone, Copy)]
struct ConsentSentence {
    yes: bool,
    no: bool,
    hedge: bool,
    /// A negation that neither negates a yes nor is an imperative "don't".
    loose_negation: bool,
}

impl ConsentSentence {
    fn absorb(&mut self, clause: ConsentSentence) {
        self.yes |= clause.yes;
        self.no |= clause.no;
        self.hedge |= clause.hedge;
        self.loose_negation |= clause.loose_negation;
    }
}

fn judge_consent_clause(clause: &Clause) -> ConsentSentence {
    let mut judged = ConsentSentence::default();
    // The open negation: where it ends, and whether it is an imperative ("don't").
    let mut open_negation: Option<(usize, bool)> = None;
    let settle = |judged: &mut ConsentSentence, imperative: bool| {
        if imperative {
            judged.no = true;
        } else {
            judged.loose_negation = true;
        }
    };
    for hit in &clause.hits {
        match hit.cue {
            Negation => {
                if let Some((_, imperative)) = open_negation.take() {
                    settle(&mut judged, imperative);
                }
                let leads = clause.units.get(..hit.start).unwrap_or(&[]);
                let imperative = leads
                    .iter()
                    .all(|unit| IMPERATIVE_LEADS.contains(&unit.as_str()));
                open_negation = Some((hit.end, imperative));
            }
            Yes => match open_negation.take() {
                Some((end, _)) if hit.start.saturating_sub(end) <= NEGATION_REACH => {
                    judged.no = true;
                }
                Some((_, imperative)) => {
                    settle(&mut judged, imperative);
                    judged.yes = true;
                }
                None => judged.yes = true,
            },
            No => {
                // "no, I don't want that": the negation belongs to the refusal.
                open_negation = None;
                judged.no = true;
            }
            Hedge => judged.hedge = true,
            Works | Thanks | Fails | Trouble | NoLonger | Question | Neutral => {}
        }
    }
    if let Some((_, imperative)) = open_negation {
        settle(&mut judged, imperative);
    }
    judged
}

/// What a clause or sentence says about the fix, ordered from least to most telling
/// for a sentence (a failure anywhere decides the whole reply).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Verdict {
    Neutral,
    Thanks,
    Works,
    Fails,
}

fn judge_confirmation_clause(clause: &Clause) -> Verdict {
    let mut works = false;
    let mut thanks = false;
    let mut fails = false;
    let mut trouble = false;
    let mut no_longer = false;
    let mut loose_negation = false;
    // The open negation: where it ends and how far it reaches ("no longer" negates
    // only what follows at once: "no longer works").
    let mut open_negation: Option<(usize, usize)> = None;
    for hit in &clause.hits {
        let negated = match open_negation {
            Some((end, reach)) if hit.start.saturating_sub(end) <= reach => true,
            Some((_, reach)) => {
                // Expired without negating anything it could.
                if reach > 0 {
                    loose_negation = true;
                }
                open_negation = None;
                false
            }
            None => false,
        };
        match hit.cue {
            Negation => {
                if open_negation.is_some() {
                    loose_negation = true;
                }
                open_negation = Some((hit.end, NEGATION_REACH));
            }
            NoLonger => {
                // "doesn't crash anymore": an open negation belongs to it.
                no_longer = true;
                open_negation = Some((hit.end, 0));
            }
            Works | Thanks if negated => {
                fails = true;
                open_negation = None;
            }
            Works => works = true,
            Thanks => thanks = true,
            Fails | No => fails = true,
            Trouble => trouble = true,
            Yes | Hedge | Question | Neutral => {}
        }
    }
    if let Some((_, reach)) = open_negation
        && reach > 0
    {
        loose_negation = true;
    }

    if fails {
        Verdict::Fails
    } else if trouble {
        // "no more errors", "doesn't crash anymore", "the error is fixed".
        if no_longer || (works && !loose_negation) {
            Verdict::Works
        } else {
            Verdict::Fails
        }
    } else if no_longer || loose_negation {
        Verdict::Fails
    } else if works {
        Verdict::Works
    } else if thanks {
        Verdict::Thanks
    } else {
        Verdict::Neutral
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn consent_table() {
        use Consent::{Approved, Refused, Unclear};
        let cases: &[(&str, Consent)] = &[
            // Plain English yes.
            ("yes", Approved),
            ("Yes please", Approved),
            ("YES!", Approved),
            ("I approve", Approved),
            ("Approved.", Approved),
            ("go ahead", Approved),
            ("OK, go ahead", Approved),
            ("okay go ahead", Approved),
            ("Sure", Approved),
            ("Fine by me", Approved),
            ("Please proceed", Approved),
            ("No problem, go ahead.", Approved),
            ("I don't mind", Approved),
            ("Don't worry, go ahead", Approved),
            ("That’s fine, do it tonight.", Approved),
            // Plain English no.
            ("no", Refused),
            ("No.", Refused),
            ("No thanks", Refused),
            ("I do not approve", Refused),
            ("I don't approve.", Refused),
            ("don't", Refused),
            ("Please don't", Refused),
            ("Please don’t, I have unsaved work.", Refused),
            ("not now", Refused),
            ("I refuse", Refused),
            ("not ok", Refused),
            ("I don't agree", Refused),
            ("Not now, maybe next week", Refused),
            ("No, I don't want that", Refused),
            // Questions, mixed answers, and other things.
            ("Can you do it tomorrow instead?", Unclear),
            ("can you do it tomorrow instead", Unclear),
            ("Will I lose my files", Unclear),
            ("Yes, but only after 6pm", Unclear),
            ("Yes and no", Unclear),
            ("Yes, please don't delete anything", Unclear),
            ("Sure, why?", Unclear),
            ("I'm not sure", Unclear),
            ("I'm in a meeting until 3", Unclear),
            ("Thanks", Unclear),
            ("", Unclear),
            ("Yes, I won't be using it tonight", Unclear),
            (
                "I came in this morning. The laptop was off. Someone moved it. Go ahead.",
                Unclear,
            ),
            // Greetings and sign-offs.
            ("Hi Ann,\n\nYes, go ahead.\n\nThanks,\nBob", Approved),
            ("Hi Ann, yes please. Bob", Approved),
            (
                "Hello team,\nPlease don't, I have a demo.\nRegards,\nBob",
                Refused,
            ),
            (
                "Dear Ann,\r\nno thanks.\r\nBest regards, Bob Smith",
                Refused,
            ),
            (
                "Hi Ann,\n\nWhat exactly will you restart?\n\nThanks, Bob",
                Unclear,
            ),
            ("Hey, sure thing!\n\n-- Bob", Approved),
            ("Hi,\nthanks for asking. Yes, go ahead.\nCheers", Approved),
            // Chinese.
            ("同意", Approved),
            ("我同意", Approved),
            ("可以", Approved),
            ("好的", Approved),
            ("好", Approved),
            ("好的。", Approved),
            ("批准", Approved),
            ("行", Approved),
            ("行吧", Approved),
            ("没问题", Approved),
            ("没问题，今晚重启吧", Approved),
            ("可以，谢谢！", Approved),
            ("不同意", Refused),
            ("不可以", Refused),
            ("不行", Refused),
            ("拒绝", Refused),
            ("不要", Refused),
            ("先不要", Refused),
            ("别", Refused),
            ("先别重启，我还有文件没保存", Refused),
            ("不用了，谢谢", Refused),
            ("我不太同意", Refused),
            ("今晚不方便", Refused),
            ("会丢数据吗？", Unclear),
            ("会丢数据吗", Unclear),
            ("可以吗？", Unclear),
            ("能不能明天再做", Unclear),
            ("好的，不过请先备份", Unclear),
            ("可以，但是要先备份", Unclear),
            ("同意。不同意。", Unclear),
            ("我今天在家办公", Unclear),
            ("您好，同意。谢谢！", Approved),
            ("王工，你好！\n可以，今晚重启。\n谢谢\n小李", Approved),
            ("你好！\n不同意，我明天要用电脑。", Refused),
            ("你好，我想问一下，为什么要重启", Unclear),
            // German, French, Spanish.
            ("Ja, gerne", Approved),
            ("Nein danke", Refused),
            ("Nicht einverstanden", Refused),
            ("Oui, allez-y", Approved),
            ("D'accord", Approved),
            ("Non merci", Refused),
            ("Je ne suis pas d'accord", Refused),
            ("Sí, adelante", Approved),
            ("No, gracias", Refused),
            ("No estoy de acuerdo", Refused),
            ("Ja, aber erst morgen", Unclear),
            // Full-width forms.
            ("ＯＫ，ｇｏ ａｈｅａｄ", Approved),
        ];
        assert!(cases.len() >= 40);
        let wrong: Vec<String> = cases
            .iter()
            .filter(|(reply, expected)| consent_in(reply) != *expected)
            .map(|(reply, expected)| {
                format!(
                    "{reply:?}: expected {expected:?}, got {:?}",
                    consent_in(reply)
                )
            })
            .collect();
        assert!(wrong.is_empty(), "\n{}", wrong.join("\n"));
    }

    #[test]
    fn confirmation_table() {
        use Confirmation::{Confirmed, NotConfirmed};
        let cases: &[(&str, Confirmation)] = &[
            // Plain English, confirmed.
            ("it works", Confirmed),
            ("Works now!", Confirmed),
            ("Fixed.", Confirmed),
            ("yes it's fine now", Confirmed),
            ("All good", Confirmed),
            ("thanks, solved", Confirmed),
            ("Confirmed", Confirmed),
            ("Thanks!", Confirmed),
            ("Thank you so much", Confirmed),
            ("Great, thanks", Confirmed),
            ("Yes, it works now. Thanks!", Confirmed),
            ("Working again, you can close the ticket.", Confirmed),
            ("No more errors since the update.", Confirmed),
            ("It doesn't crash anymore.", Confirmed),
            ("The error is fixed", Confirmed),
            ("I restarted it as you said. Now it works.", Confirmed),
            ("Works now. I'll tell the others.", Confirmed),
            // Plain English, not confirmed.
            ("still broken", NotConfirmed),
            ("Still fails.", NotConfirmed),
            ("not working", NotConfirmed),
            ("It doesn't work", NotConfirmed),
            ("same problem", NotConfirmed),
            ("no", NotConfirmed),
            ("Nope.", NotConfirmed),
            ("It no longer works", NotConfirmed),
            ("It stopped working again", NotConfirmed),
            ("Works on wifi, fails on the cable", NotConfirmed),
            ("It's better but still slow", NotConfirmed),
            ("I can't log in", NotConfirmed),
            (
                "Sorry, still broken: it dropped again at 11:00.",
                NotConfirmed,
            ),
            (
                "It works, thanks. Could you also look at my printer?",
                NotConfirmed,
            ),
            ("Is it supposed to show a warning", NotConfirmed),
            ("", NotConfirmed),
            ("The printer prints blank pages", NotConfirmed),
            // Greetings, sign-offs, stories.
            ("Hi Ann,\n\nWorks now, thanks!\n\nBob", Confirmed),
            ("Hi Ann,\n\nAll good now.\n\nThanks,\nBob", Confirmed),
            (
                "Hello,\r\nthank you!\r\nBest regards,\r\nBob Smith",
                Confirmed,
            ),
            (
                "Hi Ann,\n\nI restarted the PC this morning and opened the app. The screen \
                 stays blank after login.\n\nThanks,\nBob",
                NotConfirmed,
            ),
            (
                "Hi Ann,\n\nthanks for the quick fix. I tried it at home and the VPN \
                 connected, but after ten minutes it dropped.\n\nThanks, Bob",
                NotConfirmed,
            ),
            (
                "Hi Ann, it fails with error 0x80070005. Thanks, Bob",
                NotConfirmed,
            ),
            (
                "Yes, it works now. Thanks!\n\n> we believe ticket TP-1 is solved",
                Confirmed,
            ),
            ("Hi,\n\n> it works now?\nNo.\n\nBob", NotConfirmed),
            // Chinese.
            ("好了", Confirmed),
            ("可以了", Confirmed),
            ("解决了", Confirmed),
            ("没问题了", Confirmed),
            ("正常了", Confirmed),
            ("谢谢", Confirmed),
            ("谢谢！", Confirmed),
            ("好了，谢谢！", Confirmed),
            ("问题已经解决了，谢谢", Confirmed),
            ("恢复正常了", Confirmed),
            ("不再报错了", Confirmed),
            ("您好，已经修好了。谢谢！\n小李", Confirmed),
            ("还是不行", NotConfirmed),
            ("仍然打不开", NotConfirmed),
            ("还是有问题", NotConfirmed),
            ("没有解决", NotConfirmed),
            ("不行", NotConfirmed),
            ("还没好", NotConfirmed),
            ("不正常", NotConfirmed),
            ("今天早上又出现了", NotConfirmed),
            ("好了吗？", NotConfirmed),
            ("谢谢，但是打印还是很慢", NotConfirmed),
            (
                "你好，我重启了电脑，登录以后屏幕一片空白。谢谢",
                NotConfirmed,
            ),
            // German, French, Spanish.
            ("Funktioniert wieder, danke!", Confirmed),
            ("Funktioniert immer noch nicht", NotConfirmed),
            ("Ça marche, merci", Confirmed),
            ("Ça ne marche toujours pas", NotConfirmed),
            ("Funciona, gracias", Confirmed),
            ("No funciona", NotConfirmed),
            // Full-width forms.
            ("ＯＫ了，谢谢", Confirmed),
        ];
        assert!(cases.len() >= 40);
        let wrong: Vec<String> = cases
            .iter()
            .filter(|(reply, expected)| confirmation_in(reply) != *expected)
            .map(|(reply, expected)| {
                format!(
                    "{reply:?}: expected {expected:?}, got {:?}",
                    confirmation_in(reply)
                )
            })
            .collect();
        assert!(wrong.is_empty(), "\n{}", wrong.join("\n"));
    }

    #[test]
    fn containment_is_resolved_longest_first() {
        let units = units_of("我不同意");
        let hits = CONSENT_WORDS.scan(&units);
        assert_eq!(hits.iter().map(|h| h.cue).collect::<Vec<_>>(), vec![No]);
        let units = units_of("no problem at all");
        let hits = CONSENT_WORDS.scan(&units);
        assert_eq!(hits.first().map(|h| h.cue), Some(Yes));
    }

    #[test]
    fn units_split_scripts() {
        assert_eq!(
            units_of("OK了, don't 同意 d'accord"),
            vec!["ok", "了", "don't", "同", "意", "d'accord"]
        );
    }

    #[test]
    fn word_lists_are_well_formed() {
        let lists: &[&[(&str, Cue)]] = &[
            CONSENT_PHRASES,
            CONFIRMATION_PHRASES,
            CHINESE_NEUTRAL,
            QUESTION_WORDS,
            NEGATIONS,
            CONSENT_WHOLE_CLAUSES,
            CONFIRMATION_WHOLE_CLAUSES,
        ];
        for list in lists {
            let mut seen = std::collections::HashSet::new();
            for (phrase, _) in *list {
                assert!(!units_of(phrase).is_empty(), "{phrase:?} has no units");
                assert!(seen.insert(units_of(phrase)), "{phrase:?} listed twice");
            }
        }
    }

    #[test]
    fn greeting_and_sign_off_are_set_aside() {
        let reading = Reading::of("Hi Ann,\nyes\nThanks,\nBob", &CONSENT_WORDS);
        assert_eq!(reading.sentences.len(), 1);
        assert!(reading.closing_thanks);
        let reading = Reading::of("Hi yes go ahead", &CONSENT_WORDS);
        assert_eq!(reading.sentences.len(), 1);
        assert_eq!(consent_in("Hi yes go ahead"), Consent::Approved);
    }
}
