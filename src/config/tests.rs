//! Unit tests of reading the config: defaults, the shipped files, and that every
//! error names the file and the key and never repeats a secret.

use std::time::Duration;

use super::redact::is_secret_key;
use super::*;

fn load(text: &str) -> Result<Config> {
    let mut env = HashMap::new();
    env.insert("TP_PW".to_string(), "s3cret".to_string());
    Config::from_toml(Path::new("conf/test.toml"), text, &env)
}

#[test]
fn shipped_configs_load() {
    let mut env = HashMap::new();
    for name in [
        "TICKETPOST_IMAP_PASSWORD",
        "TICKETPOST_SMTP_PASSWORD",
        "TICKETPOST_HTTP_TOKEN",
    ] {
        env.insert(name.to_string(), "x".to_string());
    }
    for file in ["config/ticketpost.toml", "config/production.example.toml"] {
        let text = std::fs::read_to_string(file).unwrap();
        let cfg = Config::from_toml(Path::new(file), &text, &env)
            .unwrap_or_else(|e| panic!("{file}: {e:#}"));
        if file.contains("production") {
            let sla = &cfg.sla;
            assert_eq!(sla.calendar.tz, chrono_tz::Asia::Shanghai);
            assert_eq!(sla.calendar.day_seconds(), 8 * 3_600);
            assert_eq!(sla.targets[0].first_response, 30 * 60);
            assert_eq!(sla.targets[1].resolution, 8 * 3_600);
            assert_eq!(sla.targets[2].resolution, 3 * 8 * 3_600);
            assert_eq!(sla.escalate_after, Some(7_200));
            assert_eq!(sla.digest_hour, Some(8));
        }
    }
}

/// The commented Gmail blocks of the production example, uncommented in place of
/// the passwords, load as OAuth2 logins.
#[test]
fn production_example_oauth2_blocks_load() {
    let file = "config/production.example.toml";
    let text = std::fs::read_to_string(file).unwrap();
    let (mut lines, mut in_gmail, mut blocks) = (Vec::new(), false, 0);
    for line in text.lines() {
        if line.starts_with("# OAuth2 (XOAUTH2)") {
            in_gmail = true;
            blocks += 1;
        } else if line.starts_with("# ...") {
            in_gmail = false;
        } else if in_gmail && let Some(code) = line.strip_prefix("# ") {
            lines.push(code);
        } else if !line.starts_with("password_env") {
            lines.push(line);
        }
    }
    assert_eq!(blocks, 2, "one block in [mailbox], one in [transport]");
    let env: HashMap<String, String> = [
        "TICKETPOST_OAUTH2_CLIENT_SECRET",
        "TICKETPOST_OAUTH2_REFRESH_TOKEN",
        "TICKETPOST_HTTP_TOKEN",
    ]
    .iter()
    .map(|k| (k.to_string(), "x".to_string()))
    .collect();
    let cfg = Config::from_toml(Path::new(file), &lines.join("\n"), &env)
        .unwrap_or_else(|e| panic!("{e:#}"));
    let gmail = |auth: &Auth| {
        matches!(auth, Auth::OAuth2(o) if matches!(&o.grant,
            OAuth2Grant::Refresh { token_url, scopes, .. }
                if token_url == "https://oauth2.googleapis.com/token" && scopes == &["https://mail.google.com/"]))
    };
    let (MailboxConfig::Imap(i), TransportConfig::Smtp(s)) = (&cfg.mailbox, &cfg.transport) else {
        panic!("imap and smtp expected")
    };
    assert!(gmail(&i.auth), "{:?}", i.auth);
    assert!(gmail(&s.login.as_ref().unwrap().auth), "{:?}", s.login);
}

#[test]
fn bad_sla_keys_are_named() {
    for (extra, key) in [
        ("[sla]\ntime_zone = \"Mars/Olympus\"\n", "[sla] time_zone"),
        ("[sla]\nwarn_at = 1.5\n", "[sla] warn_at"),
        ("[sla]\nholidays = [\"2026-02-30\"]\n", "[sla] holidays[0]"),
        ("[sla.hours]\nmon = \"17:00-09:00\"\n", "[sla.hours] mon"),
        (
            "[sla.hours]\nmonday = \"09:00-17:00\"\n",
            "[sla.hours] monday",
        ),
        (
            "[sla.P2]\nfirst_response = \"5x\"\n",
            "[sla.P2] first_response",
        ),
        ("[sla.P3]\nhours = \"always\"\n", "[sla.P3] hours"),
        ("[sla]\nescalate_to = [\"a@x.test\"]\n", "[sla] escalate_to"),
        ("[sla]\ndigest_hour = 24\n", "[sla] digest_hour"),
    ] {
        let err = load(&format!("{MINIMAL}{extra}")).unwrap_err();
        let msg = format!("{err:#}");
        assert!(
            msg.contains("conf/test.toml") && msg.contains(key),
            "{extra}: {msg}"
        );
    }
}

#[test]
fn limits_are_read_and_bad_ones_named() {
    let c = load(&format!(
        "{MINIMAL}[limits]\nmax_message_bytes = 1048576\nmax_mime_depth = 8\n"
    ))
    .unwrap();
    assert_eq!(c.limits.parse.max_message_bytes, 1 << 20);
    assert_eq!(c.limits.parse.max_mime_depth, 8);
    assert_eq!(c.limits.parse.max_attachments, 100);
    assert_eq!(c.limits.acknowledgements_per_sender_per_hour, 10);
    assert_eq!(c.limits.relay_attachments_bytes, 10 << 20);
    let c = load(&format!("{MINIMAL}[limits]\nrelay_attachments_bytes = 0\n")).unwrap();
    assert_eq!(c.limits.relay_attachments_bytes, 0);
    for (extra, key) in [
        (
            "relay_attachments_bytes = -1",
            "[limits] relay_attachments_bytes",
        ),
        ("max_message_bytes = 10", "[limits] max_message_bytes"),
        ("max_mime_depth = 0", "[limits] max_mime_depth"),
        (
            "max_header_line_bytes = 80",
            "[limits] max_header_line_bytes",
        ),
        (
            "messages_per_ticket_per_hour = 0",
            "[limits] messages_per_ticket_per_hour",
        ),
    ] {
        let err = load(&format!("{MINIMAL}[limits]\n{extra}\n")).unwrap_err();
        let msg = format!("{err:#}");
        assert!(msg.contains("conf/test.toml") && msg.contains(key), "{msg}");
    }
}

#[test]
fn stranger_policy_is_read_and_a_bad_one_named() {
    let c = load(&format!(
        "{MINIMAL}[security]\nstranger_with_token = \"hold\"\n"
    ))
    .unwrap();
    assert_eq!(c.security.stranger_with_token, StrangerPolicy::Hold);
    assert_eq!(
        load(MINIMAL).unwrap().security.stranger_with_token,
        StrangerPolicy::NewTicket
    );
    let err = load(&format!(
        "{MINIMAL}[security]\nstranger_with_token = \"drop\"\n"
    ))
    .unwrap_err();
    assert!(
        format!("{err:#}").contains("[security] stranger_with_token"),
        "{err:#}"
    );
}

#[test]
fn folders_are_read_in_order_and_bad_lists_named() {
    let one = load(MINIMAL).unwrap();
    assert_eq!(one.folders, vec!["INBOX"]);
    let c = load(&MINIMAL.replace(
        "kind = \"maildir\"",
        "kind = \"maildir\"\nfolders = [\"INBOX\", \"HR\"]",
    ))
    .unwrap();
    assert_eq!(c.folders, vec!["INBOX", "HR"]);
    match c.mailbox.for_folder("HR") {
        MailboxConfig::Maildir(m) => assert!(m.path.ends_with("var/inbox/.HR"), "{m:?}"),
        other => panic!("{other:?}"),
    }
    match c.mailbox.for_folder("inbox") {
        MailboxConfig::Maildir(m) => assert!(m.path.ends_with("var/inbox"), "{m:?}"),
        other => panic!("{other:?}"),
    }
    for (keys, key) in [
        ("folders = []", "[mailbox] folders"),
        ("folder = \"A\"\nfolders = [\"B\"]", "[mailbox] folders"),
        ("folders = [\"HR\", \"hr\"]", "[mailbox] folders[1]"),
        ("folders = [\"a/b\"]", "[mailbox] folders[0]"),
        ("folders = [\" \"]", "[mailbox] folders[0]"),
    ] {
        let err =
            load(&MINIMAL.replace("kind = \"maildir\"", &format!("kind = \"maildir\"\n{keys}")))
                .unwrap_err();
        let msg = format!("{err:#}");
        assert!(
            msg.contains("conf/test.toml") && msg.contains(key),
            "{keys}: {msg}"
        );
    }
    // A route may name only a folder that is read.
    let routed = load(&format!(
        "{}[[route]]\nfolder = [\"hr\"]\ntags = [\"hr\"]\n",
        MINIMAL.replace(
            "kind = \"maildir\"",
            "kind = \"maildir\"\nfolders = [\"INBOX\", \"HR\"]"
        )
    ))
    .unwrap();
    assert_eq!(routed.desk.routes[0].folder, vec!["hr"]);
    let err = load(&format!(
        "{MINIMAL}[[route]]\nfolder = [\"HR\"]\ntags = [\"hr\"]\n"
    ))
    .unwrap_err();
    assert!(format!("{err:#}").contains("[[route]] 1 folder"), "{err:#}");
}

#[test]
fn routes_and_other_addresses_are_read_and_bad_ones_named() {
    let c = load(&MINIMAL.replace(
        "[desk]",
        "[teams]\nhr = [\"h@example.test\"]\n[[route]]\nto = [\"HR@Example.test\"]\nteam = \"hr\"\npriority = \"P2\"\n[desk]\nother_addresses = [\"HR@Example.test\"]",
    ))
    .unwrap();
    assert_eq!(c.desk.routes[0].to, vec!["hr@example.test"]);
    assert!(c.desk.is_own_address("hr@EXAMPLE.test"));
    assert!(c.desk.is_own_address("support@example.test"));
    for (extra, key) in [
        ("[[route]]\nteam = \"hr\"\n", "[[route]] 1 to"),
        (
            "[[route]]\nto = [\"a@b\"]\nteam = \"nope\"\n",
            "[[route]] 1 team",
        ),
        (
            "[[route]]\nsubject = [\"x\"]\npriority = \"P9\"\n",
            "[[route]] 1 priority",
        ),
    ] {
        let err = load(&format!("{MINIMAL}{extra}")).unwrap_err();
        let msg = format!("{err:#}");
        assert!(msg.contains("conf/test.toml") && msg.contains(key), "{msg}");
    }
}

const MINIMAL: &str = r#"
[store]
path = "var/t.db"
[mailbox]
kind = "maildir"
path = "var/inbox"
[transport]
kind = "file"
path = "var/outbox"
[desk]
support_address = "Support@Example.test"
agents = ["Ann Lee <ann@example.test>", "bob@example.test"]
"#;

#[test]
fn minimal_config_gets_defaults() {
    let c = load(MINIMAL).unwrap();
    assert_eq!(c.desk.support_address, "support@example.test");
    assert_eq!(c.desk.token_prefix, "TP");
    assert_eq!(c.desk.message_id_domain, "example.test");
    assert_eq!(c.desk.agents[0].name.as_deref(), Some("Ann Lee"));
    assert_eq!(c.desk.agents[1].address, "bob@example.test");
    assert!(matches!(c.mailbox, MailboxConfig::Maildir(_)));
}

#[test]
fn errors_name_file_and_key() {
    let e = load(&MINIMAL.replace("kind = \"maildir\"", "kind = \"pop3\""))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("conf/test.toml") && e.contains("[mailbox] kind"),
        "{e}"
    );

    let e = load(&MINIMAL.replace("path = \"var/inbox\"\n", ""))
        .unwrap_err()
        .to_string();
    assert!(e.contains("[mailbox] path"), "{e}");

    let e = load(&MINIMAL.replace("[desk]", "[desk]\ntoken_prefx = \"X\""))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("conf/test.toml") && e.contains("token_prefx"),
        "{e}"
    );

    let e = load(&MINIMAL.replace("agents = [", "agents = [\"not an address\", "))
        .unwrap_err()
        .to_string();
    assert!(e.contains("[desk] agents"), "{e}");
}

#[test]
fn wrong_type_names_the_key() {
    let text = MINIMAL.replace(
        "kind = \"maildir\"",
        "kind = \"imap\"\nhost = \"h\"\nport = \"x\"",
    );
    let e = load(&text).unwrap_err().to_string();
    assert!(e.contains("conf/test.toml") && e.contains("port"), "{e}");
}

const IMAP_OAUTH2: &str = "kind = \"imap\"\nhost = \"imap.gmail.com\"\nusername = \"desk@example.test\"\nauth = \"oauth2\"\noauth2_token_url = \"https://oauth2.googleapis.com/token\"\noauth2_client_id = \"cid\"\noauth2_client_secret_env = \"TP_SECRET\"\noauth2_refresh_token_env = \"TP_REFRESH\"\noauth2_scopes = [\"https://mail.google.com/\"]";

fn load_oauth2(text: &str) -> Result<Config> {
    let mut env = HashMap::new();
    env.insert("TP_SECRET".to_string(), "client-s3cret".to_string());
    env.insert("TP_REFRESH".to_string(), "refresh-s3cret".to_string());
    env.insert("TP_ACCESS".to_string(), "access-s3cret".to_string());
    Config::from_toml(Path::new("conf/test.toml"), text, &env)
}

fn imap_oauth2(extra: &str, drop: &[&str]) -> String {
    let mut mailbox: Vec<&str> = IMAP_OAUTH2
        .lines()
        .filter(|l| !drop.iter().any(|d| l.starts_with(&format!("{d} "))))
        .collect();
    mailbox.extend(extra.lines());
    MINIMAL.replace(
        "kind = \"maildir\"\npath = \"var/inbox\"",
        &mailbox.join("\n"),
    )
}

#[test]
fn oauth2_keys_are_read_and_secrets_stay_out_of_debug_output() {
    let c = load_oauth2(&imap_oauth2("", &[])).unwrap();
    let MailboxConfig::Imap(i) = &c.mailbox else {
        panic!("not imap")
    };
    let Auth::OAuth2(o) = &i.auth else {
        panic!("not oauth2: {:?}", i.auth)
    };
    assert_eq!(o.table, "[mailbox]");
    assert_eq!(o.timeout, Duration::from_secs(30));
    match &o.grant {
        OAuth2Grant::Refresh {
            token_url,
            client_id,
            client_secret,
            refresh_token,
            scopes,
        } => {
            assert_eq!(token_url, "https://oauth2.googleapis.com/token");
            assert_eq!(client_id, "cid");
            assert_eq!(client_secret.as_deref(), Some("client-s3cret"));
            assert_eq!(refresh_token, "refresh-s3cret");
            assert_eq!(scopes, &["https://mail.google.com/"]);
        }
        OAuth2Grant::Static { .. } => panic!("not a refresh grant"),
    }
    let debug = format!("{c:?}");
    assert!(!debug.contains("s3cret"), "{debug}");
    assert!(describe(&c).contains("auth oauth2"), "{}", describe(&c));

    // A fixed token from the environment, for tokens minted elsewhere.
    let fixed = MINIMAL.replace(
        "kind = \"maildir\"\npath = \"var/inbox\"",
        "kind = \"imap\"\nhost = \"h\"\nusername = \"u\"\nauth = \"oauth2\"\noauth2_access_token_env = \"TP_ACCESS\"",
    );
    let c = load_oauth2(&fixed).unwrap();
    let MailboxConfig::Imap(i) = &c.mailbox else {
        panic!("not imap")
    };
    assert!(
        matches!(&i.auth, Auth::OAuth2(o) if matches!(&o.grant, OAuth2Grant::Static { access_token } if access_token == "access-s3cret"))
    );
    assert!(!format!("{c:?}").contains("s3cret"));

    // SMTP: the same keys in [transport]; a public client needs no secret.
    let smtp = MINIMAL.replace(
        "kind = \"file\"\npath = \"var/outbox\"",
        "kind = \"smtp\"\nhost = \"smtp.office365.com\"\nusername = \"desk@example.test\"\nauth = \"oauth2\"\noauth2_token_url = \"https://login.microsoftonline.com/t/oauth2/v2.0/token\"\noauth2_client_id = \"cid\"\noauth2_refresh_token_env = \"TP_REFRESH\"\noauth2_scopes = [\"https://outlook.office.com/SMTP.Send\", \"offline_access\"]",
    );
    let c = load_oauth2(&smtp).unwrap();
    let TransportConfig::Smtp(s) = &c.transport else {
        panic!("not smtp")
    };
    let login = s.login.as_ref().unwrap();
    assert_eq!(login.username, "desk@example.test");
    assert!(
        matches!(&login.auth, Auth::OAuth2(o) if o.table == "[transport]" && matches!(&o.grant, OAuth2Grant::Refresh { client_secret: None, scopes, .. } if scopes.len() == 2))
    );
}

#[test]
fn bad_or_missing_oauth2_keys_are_named() {
    let url = "oauth2_token_url";
    for (text, key) in [
        (imap_oauth2("", &[url]), "[mailbox] oauth2_token_url"),
        (
            imap_oauth2("", &["oauth2_client_id"]),
            "[mailbox] oauth2_client_id",
        ),
        (
            imap_oauth2("", &["oauth2_refresh_token_env"]),
            "[mailbox] oauth2_refresh_token",
        ),
        (
            imap_oauth2("oauth2_refresh_token_env = \"TP_NOPE\"", &["oauth2_refresh_token_env"]),
            "[mailbox] oauth2_refresh_token_env",
        ),
        (
            imap_oauth2("oauth2_token_url = \"http://auth.example.test/token\"", &[url]),
            "[mailbox] oauth2_token_url",
        ),
        (
            imap_oauth2("oauth2_token_url = \"not a url\"", &[url]),
            "[mailbox] oauth2_token_url",
        ),
        (
            imap_oauth2("oauth2_scopes = [\"a b\"]", &["oauth2_scopes"]),
            "[mailbox] oauth2_scopes[0]",
        ),
        (
            imap_oauth2("password_env = \"TP_PW\"", &[]),
            "[mailbox] password_env",
        ),
        (
            imap_oauth2("oauth2_access_token_env = \"TP_ACCESS\"", &[]),
            "[mailbox] oauth2_access_token_env",
        ),
        (
            imap_oauth2("auth = \"kerberos\"", &["auth"]),
            "[mailbox] auth",
        ),
        (
            imap_oauth2("auth = \"password\"\npassword = \"x\"", &["auth"]),
            "[mailbox] oauth2_token_url",
        ),
        (
            MINIMAL.replace("path = \"var/inbox\"", "path = \"var/inbox\"\nauth = \"oauth2\""),
            "[mailbox] auth",
        ),
        (
            MINIMAL.replace("path = \"var/outbox\"", "path = \"var/outbox\"\noauth2_client_id = \"x\""),
            "[transport] oauth2_client_id",
        ),
        (
            MINIMAL.replace(
                "kind = \"file\"\npath = \"var/outbox\"",
                "kind = \"smtp\"\nhost = \"h\"\nauth = \"oauth2\"\noauth2_access_token_env = \"TP_ACCESS\"",
            ),
            "[transport] username",
        ),
    ] {
        let err = load_oauth2(&text).unwrap_err();
        let msg = format!("{err:#}");
        assert!(
            msg.contains("conf/test.toml") && msg.contains(key),
            "{key}: {msg}\n{text}"
        );
        assert!(!msg.contains("s3cret"), "{msg}");
    }
    // Plain http is fine to this machine.
    let local = imap_oauth2("oauth2_token_url = \"http://127.0.0.1:8080/token\"", &[url]);
    assert!(load_oauth2(&local).is_ok());
}

#[test]
fn errors_about_secret_keys_name_the_key_but_not_the_value() {
    let imap = |keys: &str| {
        MINIMAL.replace(
            "kind = \"maildir\"\npath = \"var/inbox\"",
            &format!("kind = \"imap\"\nhost = \"h\"\nusername = \"u\"\n{keys}"),
        )
    };
    let http = |keys: &str| format!("{MINIMAL}[http]\n{keys}\n");
    for (text, key) in [
        (imap("password = 12345678"), "mailbox.password"),
        (imap("password = 1234.5678"), "mailbox.password"),
        (imap("password_env = 12345678"), "mailbox.password_env"),
        (
            imap("password_env = \"hunter2-12345678\""),
            "[mailbox] password_env",
        ),
        (
            imap(
                "auth = \"oauth2\"\noauth2_token_url = \"https://a.test/t\"\noauth2_client_id = \"c\"\noauth2_refresh_token = \"r\"\noauth2_client_secret = 12345678",
            ),
            "mailbox.oauth2_client_secret",
        ),
        (http("bearer_token = 12345678"), "http.bearer_token"),
        (
            http("bearer_token = [\"tok-12345678\"]"),
            "http.bearer_token",
        ),
        (
            http("bearer_token_env = \"tok-12345678\""),
            "[http] bearer_token_env",
        ),
        // Syntax errors: toml would quote the line; only its number is given.
        (http("bearer_token = \"tok-12345678"), "line 14, column 29"),
        (http("bearer_token = tok-12345678"), "line 14"),
        (http("bearer_token = \"tok\\q12345678\""), "line 14"),
        (http("bearer_token = \"\"\"tok\n12345678"), "line 16"),
        (
            http("bearer_token = \"a\"\nbearer_token = \"tok-12345678\""),
            "duplicate key `bearer_token`",
        ),
    ] {
        let msg = format!("{:#}", load(&text).unwrap_err());
        assert!(
            msg.contains("conf/test.toml") && msg.contains(key),
            "{key}: {msg}\n{text}"
        );
        assert!(!msg.contains("12345678"), "{msg}\n{text}");
    }
    // Other keys keep their values in messages: they help and are not secret.
    let msg = format!(
        "{:#}",
        load(&imap("password = \"p\"\nport = \"abc\"")).unwrap_err()
    );
    assert!(msg.contains("mailbox.port") && msg.contains("abc"), "{msg}");
    for (key, secret) in [
        ("password", true),
        ("oauth2_refresh_token_env", true),
        ("bearer_token", true),
        ("oauth2_client_secret", true),
        ("api_key", true),
        ("token_prefix", false),
        ("oauth2_token_url", false),
        ("oauth2_client_id", false),
        ("username", false),
    ] {
        assert_eq!(is_secret_key(key), secret, "{key}");
    }
}

#[test]
fn imap_password_from_env() {
    let text = MINIMAL.replace(
        "kind = \"maildir\"\npath = \"var/inbox\"",
        "kind = \"imap\"\nhost = \"mail\"\nusername = \"u\"\npassword_env = \"TP_PW\"\ntls = \"starttls\"",
    );
    let c = load(&text).unwrap();
    let MailboxConfig::Imap(i) = c.mailbox else {
        panic!("not imap")
    };
    assert!(matches!(&i.auth, Auth::Password(p) if p == "s3cret"));
    assert_eq!(i.port, 143);
    assert_eq!(i.folder, "INBOX");
    assert!(i.idle);

    // A missing variable is named; something that looks like a pasted secret is not.
    let missing = text.replace("TP_PW", "TP_NOPE");
    let e = load(&missing).unwrap_err().to_string();
    assert!(
        e.contains("conf/test.toml") && e.contains("[mailbox] password_env"),
        "{e}"
    );
    assert!(e.contains("TP_NOPE is not set"), "{e}");
    let pasted = text.replace("TP_PW", "hunter2-Secret!");
    let e = load(&pasted).unwrap_err().to_string();
    assert!(
        e.contains("[mailbox] password_env") && !e.contains("hunter2"),
        "{e}"
    );
}

#[test]
fn collision_window_is_read_and_a_bad_one_named() {
    assert_eq!(load(MINIMAL).unwrap().desk.lifecycle.collision_window, 600);
    let with = |value: &str| {
        load(&MINIMAL.replacen(
            "[desk]\n",
            &format!("[desk]\ncollision_window = {value}\n"),
            1,
        ))
    };
    assert_eq!(with("\"2m\"").unwrap().desk.lifecycle.collision_window, 120);
    let err = with("\"soon\"").unwrap_err();
    assert!(
        format!("{err:#}").contains("[desk] collision_window"),
        "{err:#}"
    );
}

#[test]
fn macros_are_read_and_bad_ones_named() {
    let c = load(&format!(
        "{MINIMAL}[[macro]]\nname = \"need-logs\"\ntext = \"Please send the log.\"\ncommands = [\"/status waiting\", \" /priority P2 \"]\n\
         [[macro]]\nname = \"thanks\"\ntext = \"Thank you!\"\n"
    ))
    .unwrap();
    assert_eq!(c.desk.macros.len(), 2);
    assert_eq!(c.desk.macros[0].name, "need-logs");
    assert_eq!(
        c.desk.macros[0].commands,
        vec!["/status waiting", "/priority P2"]
    );
    assert!(c.desk.macros[1].commands.is_empty());
    for (table, key, what) in [
        ("text = \"x\"\n", "[[macro]] 1 name", "missing"),
        ("name = \" \"\ntext = \"x\"\n", "[[macro]] 1 name", "empty"),
        ("name = \"a\"\n", "[[macro]] 1 text", "a text or commands"),
        (
            "name = \"a\"\ncommands = [\"/priority P9\"]\n",
            "[[macro]] 1 commands",
            "unknown priority",
        ),
        (
            "name = \"a\"\ncommands = [\"/macro b\"]\n",
            "[[macro]] 1 commands",
            "cannot run another macro",
        ),
        (
            "name = \"a\"\ncommands = [\"please /close\"]\n",
            "[[macro]] 1 commands",
            "one command line",
        ),
        (
            "name = \"a\"\ntext = \"x\"\ncolour = 1\n",
            "macro",
            "unknown field",
        ),
    ] {
        let err = load(&format!("{MINIMAL}[[macro]]\n{table}")).unwrap_err();
        let msg = format!("{err:#}");
        assert!(msg.starts_with("conf/test.toml: "), "{msg}");
        assert!(msg.contains(key) && msg.contains(what), "{table:?}: {msg}");
    }
    let err = load(&format!(
        "{MINIMAL}[[macro]]\nname = \"a\"\ntext = \"x\"\n[[macro]]\nname = \"A\"\ntext = \"y\"\n"
    ))
    .unwrap_err();
    assert!(
        format!("{err:#}").contains("[[macro]] 2 name: \"A\" is defined twice"),
        "{err:#}"
    );
}

#[test]
fn change_review_required_is_read_and_bad_entries_are_named() {
    use crate::desk::Priority;
    let default = load(MINIMAL).unwrap();
    assert!(default.desk.change.review_required(Priority::P2, None));
    assert!(!default.desk.change.review_required(Priority::P3, None));
    let cfg = load(&format!(
        "{MINIMAL}[teams]\nnetwork = [\"net@x.test\"]\n[change]\nreview_required = [\"P1\", \"team:network\"]\n"
    ))
    .unwrap();
    assert!(!cfg.desk.change.review_required(Priority::P2, None));
    assert!(
        cfg.desk
            .change
            .review_required(Priority::P4, Some("network"))
    );
    for extra in [
        "[change]\nreview_required = [\"P9\"]\n",
        "[change]\nreview_required = [\"team:nowhere\"]\n",
        "[change]\nreview_required = [\"team:\"]\n",
    ] {
        let msg = format!("{:#}", load(&format!("{MINIMAL}{extra}")).unwrap_err());
        assert!(
            msg.contains("conf/test.toml") && msg.contains("[change] review_required"),
            "{extra}: {msg}"
        );
    }
    let unknown = format!(
        "{:#}",
        load(&format!("{MINIMAL}[change]\nreviews = []\n")).unwrap_err()
    );
    assert!(unknown.contains("reviews"), "{unknown}");
}
