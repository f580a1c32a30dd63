//! The LMTP state machine without sockets: command order, recipients, replies,
//! data unstuffing and the size limit.

use std::sync::Arc;

use super::*;

fn rules() -> Arc<Rules> {
    Arc::new(Rules {
        hostname: "desk.test".into(),
        max_message_bytes: 100,
        addresses: vec!["support@desk.test".into(), "help@desk.test".into()],
    })
}

fn session() -> Session {
    Session::new(rules())
}

/// The code of a command's reply, and whether it closes, opens data, or neither.
fn code(s: &mut Session, line: &str) -> (u16, &'static str) {
    match s.command(line.as_bytes()) {
        Step::Reply(r) => (r.code, "reply"),
        Step::Data(r) => (r.code, "data"),
        Step::Close(r) => (r.code, "close"),
    }
}

fn wire(reply: &Reply) -> String {
    let mut out = Vec::new();
    reply.write_to(&mut out);
    String::from_utf8(out).expect("replies are text")
}

#[test]
fn a_whole_transaction_in_order() {
    let mut s = session();
    assert_eq!(code(&mut s, "LHLO mx.example.test"), (250, "reply"));
    assert_eq!(
        code(&mut s, "MAIL FROM:<ann@example.test> SIZE=50 BODY=8BITMIME"),
        (250, "reply")
    );
    assert_eq!(code(&mut s, "RCPT TO:<support@desk.test>"), (250, "reply"));
    assert_eq!(code(&mut s, "RCPT TO:<HELP@Desk.Test>"), (250, "reply"));
    assert_eq!(code(&mut s, "DATA"), (354, "data"));
    let envelope = s.finish_data().expect("an envelope after DATA");
    assert_eq!(envelope.sender, "ann@example.test");
    assert_eq!(envelope.recipients, ["support@desk.test", "HELP@Desk.Test"]);
    assert_eq!(
        envelope.return_path(),
        b"Return-Path: <ann@example.test>\r\n"
    );
    // Ready for the next one without a new LHLO.
    assert_eq!(code(&mut s, "MAIL FROM:<>"), (250, "reply"));
    assert_eq!(s.envelope().map(|e| e.sender.as_str()), Some(""));
    assert_eq!(code(&mut s, "QUIT"), (221, "close"));
}

#[test]
fn lhlo_advertises_the_extensions_in_one_multiline_reply() {
    let mut s = session();
    let Step::Reply(reply) = s.command(b"LHLO mx") else {
        panic!("LHLO gets a reply");
    };
    assert_eq!(
        wire(&reply),
        "250-desk.test\r\n250-PIPELINING\r\n250-ENHANCEDSTATUSCODES\r\n250-8BITMIME\r\n250 SIZE 100\r\n"
    );
    assert_eq!(
        wire(&Reply::greeting(&rules())),
        "220 desk.test LMTP ticketpost ready\r\n"
    );
}

#[test]
fn only_the_desks_addresses_are_taken() {
    let mut s = session();
    code(&mut s, "LHLO mx");
    code(&mut s, "MAIL FROM:<ann@example.test>");
    let Step::Reply(reply) = s.command(b"RCPT TO:<someone@desk.test>") else {
        panic!("RCPT gets a reply");
    };
    assert_eq!(reply.code, 550);
    assert!(reply.lines()[0].starts_with("5.1.1 <someone@desk.test>"));
    assert_eq!(
        code(&mut s, "RCPT TO:<support@desk.test.evil>"),
        (550, "reply")
    );
    assert_eq!(
        code(&mut s, "RCPT TO:<support@desk.test> NOTIFY=NEVER"),
        (555, "reply")
    );
    // With no recipient taken, DATA is refused (RFC 2033 §4.2).
    assert_eq!(code(&mut s, "DATA"), (503, "reply"));
    assert_eq!(
        code(&mut s, "RCPT TO:<@relay.test:support@desk.test>"),
        (250, "reply")
    );
    assert_eq!(code(&mut s, "DATA"), (354, "data"));
}

#[test]
fn commands_out_of_order_get_503() {
    let mut s = session();
    assert_eq!(code(&mut s, "MAIL FROM:<a@b.test>"), (503, "reply"));
    assert_eq!(code(&mut s, "RCPT TO:<support@desk.test>"), (503, "reply"));
    assert_eq!(code(&mut s, "DATA"), (503, "reply"));
    code(&mut s, "LHLO mx");
    assert_eq!(code(&mut s, "RCPT TO:<support@desk.test>"), (503, "reply"));
    assert_eq!(code(&mut s, "MAIL FROM:<a@b.test>"), (250, "reply"));
    assert_eq!(code(&mut s, "MAIL FROM:<a@b.test>"), (503, "reply"));
    // RSET ends the transaction; MAIL is allowed again.
    assert_eq!(code(&mut s, "RSET"), (250, "reply"));
    assert!(s.envelope().is_none());
    assert_eq!(code(&mut s, "MAIL FROM:<a@b.test>"), (250, "reply"));
    // LHLO again starts afresh too.
    assert_eq!(code(&mut s, "LHLO mx"), (250, "reply"));
    assert!(s.envelope().is_none());
    assert!(s.finish_data().is_none(), "no envelope without DATA");
}

#[test]
fn syntax_errors_get_500_501_and_555() {
    let mut s = session();
    assert_eq!(code(&mut s, "EHLO mx"), (500, "reply"));
    assert_eq!(code(&mut s, "HELO mx"), (500, "reply"));
    assert_eq!(code(&mut s, "LHLO"), (501, "reply"));
    assert_eq!(code(&mut s, "BDAT 10 LAST"), (500, "reply"));
    assert_eq!(code(&mut s, ""), (500, "reply"));
    code(&mut s, "lhlo mx");
    assert_eq!(code(&mut s, "MAIL TO:<a@b.test>"), (501, "reply"));
    assert_eq!(code(&mut s, "MAIL FROM:a@b.test"), (501, "reply"));
    assert_eq!(code(&mut s, "MAIL FROM:<a@b.test"), (501, "reply"));
    assert_eq!(code(&mut s, "MAIL FROM:<a@b.test>x"), (501, "reply"));
    assert_eq!(code(&mut s, "MAIL FROM:<a\u{e9}@b.test>"), (501, "reply"));
    assert_eq!(
        code(&mut s, "MAIL FROM:<a@b.test> SIZE=lots"),
        (501, "reply")
    );
    assert_eq!(
        code(&mut s, "MAIL FROM:<a@b.test> SMTPUTF8"),
        (555, "reply")
    );
    assert_eq!(code(&mut s, "mail from: <a@b.test>"), (250, "reply"));
    assert_eq!(code(&mut s, "RCPT TO:<>"), (501, "reply"));
    assert_eq!(code(&mut s, "RCPT TO:support@desk.test"), (501, "reply"));
    assert_eq!(code(&mut s, "DATA now"), (501, "reply"));
    assert_eq!(code(&mut s, "RSET all"), (501, "reply"));
    assert_eq!(code(&mut s, "NOOP"), (250, "reply"));
    assert_eq!(code(&mut s, "VRFY support"), (252, "reply"));
    assert_eq!(code(&mut s, "VRFY"), (501, "reply"));
}

#[test]
fn a_quoted_local_part_may_hold_a_closing_bracket() {
    let mut s = session();
    code(&mut s, "LHLO mx");
    assert_eq!(
        code(&mut s, "MAIL FROM:<\"odd>name\"@b.test>"),
        (250, "reply")
    );
    assert_eq!(
        s.envelope().map(|e| e.sender.clone()),
        Some("\"odd>name\"@b.test".to_string())
    );
}

#[test]
fn an_announced_size_over_the_limit_gets_552_at_mail() {
    let mut s = session();
    code(&mut s, "LHLO mx");
    let Step::Reply(reply) = s.command(b"MAIL FROM:<a@b.test> SIZE=101") else {
        panic!("MAIL gets a reply");
    };
    assert_eq!(reply.code, 552);
    assert!(reply.lines()[0].starts_with("5.3.4 "));
    assert!(s.envelope().is_none());
}

#[test]
fn too_many_errors_close_the_connection() {
    let mut s = session();
    let steps: Vec<Step> = (0..MAX_ERRORS).map(|_| s.command(b"garbage")).collect();
    assert!(
        steps[..steps.len() - 1]
            .iter()
            .all(|st| matches!(st, Step::Reply(r) if r.code == 500))
    );
    assert!(matches!(steps.last(), Some(Step::Close(r)) if r.code == 421));
}

#[test]
fn unknown_recipients_do_not_count_as_errors() {
    let mut s = session();
    code(&mut s, "LHLO mx");
    code(&mut s, "MAIL FROM:<a@b.test>");
    for _ in 0..(MAX_ERRORS * 2) {
        assert_eq!(code(&mut s, "RCPT TO:<nobody@desk.test>"), (550, "reply"));
    }
}

#[test]
fn recipients_are_bounded() {
    let mut s = session();
    code(&mut s, "LHLO mx");
    code(&mut s, "MAIL FROM:<a@b.test>");
    for _ in 0..MAX_RECIPIENTS {
        assert_eq!(code(&mut s, "RCPT TO:<support@desk.test>"), (250, "reply"));
    }
    assert_eq!(code(&mut s, "RCPT TO:<support@desk.test>"), (452, "reply"));
}

#[test]
fn one_reply_per_recipient_after_the_data() {
    let envelope = Envelope {
        sender: "a@b.test".into(),
        recipients: vec!["support@desk.test".into(), "help@desk.test".into()],
    };
    let codes = |o| {
        delivery_replies(&envelope, o)
            .iter()
            .map(|r| {
                (
                    r.code,
                    r.lines()[0].split(' ').next().unwrap_or("").to_string(),
                )
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(
        codes(Delivered::Stored),
        [(250, "2.0.0".to_string()), (250, "2.0.0".to_string())]
    );
    assert_eq!(codes(Delivered::TooBig)[1], (552, "5.3.4".to_string()));
    assert_eq!(codes(Delivered::Failed)[0], (451, "4.3.0".to_string()));
}

/// Feeds `input` in pieces of `step` bytes; returns the message and the bytes used.
fn read_data(input: &[u8], step: usize, limit: usize) -> (Option<Vec<u8>>, usize, bool) {
    let mut reader = DataReader::new(b"P: x\r\n".to_vec(), limit);
    let mut used = 0;
    let mut done = false;
    while used < input.len() && !done {
        let end = (used + step).min(input.len());
        let (n, d) = reader.feed(&input[used..end]);
        if !d {
            assert_eq!(n, end - used, "a reader not done takes every byte");
        }
        used += n;
        done = d;
    }
    (reader.finish(), used, done)
}

#[test]
fn data_is_unstuffed_and_ends_at_the_dot_line_in_any_split() {
    let input =
        b"Subject: x\r\n\r\n..leading dot\r\n..\r\n...two\r\nlast\r\n.\r\nMAIL FROM:<a@b>\r\n";
    let expected = b"P: x\r\nSubject: x\r\n\r\n.leading dot\r\n.\r\n..two\r\nlast\r\n";
    let end = input.len() - b"MAIL FROM:<a@b>\r\n".len();
    // Every split, down to a byte at a time: a dot line cut between reads still ends
    // the data, and a stuffed dot cut off its line is still removed.
    for step in [1, 2, 3, 5, 7, input.len()] {
        let (message, used, done) = read_data(input, step, 1000);
        assert!(done, "step {step}");
        assert_eq!(
            used, end,
            "step {step}: bytes after the dot line are not used"
        );
        assert_eq!(
            message.as_deref(),
            Some(&expected[..]),
            "step {step}: {:?}",
            message.as_deref().map(String::from_utf8_lossy)
        );
    }
}

#[test]
fn a_dot_line_with_a_bare_lf_ends_the_data_and_other_dots_stay() {
    let (message, _, done) = read_data(b"a\n.\n", 1, 1000);
    assert!(done);
    assert_eq!(message.as_deref(), Some(&b"P: x\r\na\n"[..]));
    // ".\rx" is not an end: the dot goes (stuffing), the CR stays.
    let (message, _, done) = read_data(b".\rx\r\n.\r\n", 1, 1000);
    assert!(done);
    assert_eq!(message.as_deref(), Some(&b"P: x\r\n\rx\r\n"[..]));
    // A dot inside a line is text.
    let (message, _, _) = read_data(b"a.b\r\n. \r\n.\r\n", 4, 1000);
    assert_eq!(message.as_deref(), Some(&b"P: x\r\na.b\r\n \r\n"[..]));
}

#[test]
fn data_over_the_limit_is_read_to_its_end_but_not_kept() {
    let mut input = vec![b'x'; 150];
    input.extend_from_slice(b"\r\n.\r\n");
    let (message, used, done) = read_data(&input, 16, 100);
    assert!(done, "the end is still found");
    assert_eq!(used, input.len());
    assert_eq!(message, None);
    // Exactly at the limit is taken.
    let mut input = vec![b'y'; 98];
    input.extend_from_slice(b"\r\n.\r\n");
    let (message, _, _) = read_data(&input, 1000, 100);
    assert_eq!(message.map(|m| m.len()), Some(6 + 100));
}

#[test]
fn no_input_makes_the_session_or_reader_panic() {
    // A small deterministic fuzz: random lines (printable, binary, long) through the
    // session and random bytes through the reader.
    let mut rng = fastrand::Rng::with_seed(2033);
    let words: [&[u8]; 12] = [
        b"LHLO x",
        b"MAIL FROM:<",
        b"RCPT TO:<support@desk.test>",
        b"DATA",
        b"RSET",
        b"MAIL FROM:<a@b> SIZE=",
        b">",
        b"\"",
        b"\\",
        b"\xff\xfe",
        b" ",
        b"@a,@b:",
    ];
    for _ in 0..5000 {
        let mut s = session();
        for _ in 0..rng.usize(1..20) {
            let mut line = Vec::new();
            for _ in 0..rng.usize(0..6) {
                if rng.bool() {
                    line.extend_from_slice(words[rng.usize(..words.len())]);
                } else {
                    line.extend((0..rng.usize(0..8)).map(|_| rng.u8(..)));
                }
            }
            if let Step::Data(_) = s.command(&line) {
                assert!(s.finish_data().is_some());
            }
        }
        let mut reader = DataReader::new(Vec::new(), rng.usize(0..64));
        let bytes: Vec<u8> = (0..rng.usize(0..200))
            .map(|_| {
                *[b'.', b'\r', b'\n', b'a']
                    .get(rng.usize(..5))
                    .unwrap_or(&rng.u8(..))
            })
            .collect();
        let (n, _) = reader.feed(&bytes);
        assert!(n <= bytes.len());
        let _ = reader.finish();
    }
}
