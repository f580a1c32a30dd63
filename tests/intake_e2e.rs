//! Intake and triage end to end on the private Dovecot + Postfix: missing facts asked
//! for, priority and the urgent path, the requester's language, and the knowledge base
//! from `/resolve` to the next requester's acknowledgement. The gateway runs in-process
//! (`--once` style); every assertion about mail looks into IMAP mailboxes.

#[path = "support/desk.rs"]
mod desk;
mod support;

use desk::{Desk, assert_count_stays, inbox, mail, wait_for_subject};

const EXTRA: &str = r#"
supervisors = ["Sue Park <{sue}>"]
[triage]
systems = ["mail", "ERP", "VPN", "邮箱"]
oncall = ["Bob Ray <{bob}>"]
[kb]
suggest_threshold = 0.3
similar_threshold = 0.3
# This desk reviews its entries: requesters are offered them too.
suggest_to_requesters = true
"#;

#[tokio::test(flavor = "multi_thread")]
async fn facts_priority_language_urgent_path_and_knowledge_base() {
    let mut desk = Desk::new(EXTRA);
    let (req, ann, bob, sue) = (
        desk.requester.clone(),
        desk.ann.clone(),
        desk.bob.clone(),
        desk.sue.clone(),
    );
    let sup = desk.support.clone();
    let colleague = support::unique_user("col");

    // A Chinese request about the VPN, with little detail: a Chinese acknowledgement
    // that asks for the missing facts.
    desk.write(
        &req,
        mail(
            &req,
            &sup,
            "zh-1@req.test",
            "VPN 连不上",
            None,
            "你好，我的 VPN 连不上了，请帮忙看一下。",
        ),
    )
    .await;
    desk.run_once().await;
    let ack = wait_for_subject(&req, "[TP-1]").await;
    assert!(
        ack.text_body.contains("我们已收到您的请求"),
        "{}",
        ack.text_body
    );
    assert!(
        ack.text_body.contains("请回复以下信息"),
        "asks for facts: {}",
        ack.text_body
    );
    let t = desk.ticket("TP-1");
    assert_eq!(t["language"], "zh");
    let facts = t["facts"].as_array().unwrap();
    assert_eq!(facts.len(), 6);
    assert!(facts.iter().any(|f| f["present"] == false), "{facts:?}");

    // The requester's reply supplies facts: the checklist fills in.
    let missing_before = facts.iter().filter(|f| f["present"] == false).count();
    desk.write(
        &req,
        mail(
            &req,
            &sup,
            "zh-2@req.test",
            &format!("回复：{}", ack.subject),
            ack.message_id.as_deref(),
            "我用的是 ThinkPad X1 笔记本，Windows 11 23H2，从昨天早上开始的，提示“错误 809”。已经重启过电脑了。",
        ),
    )
    .await;
    desk.run_once().await;
    let t = desk.ticket("TP-1");
    let missing_after = t["facts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["present"] == false)
        .count();
    assert!(
        missing_after < missing_before,
        "{missing_before} -> {missing_after}: {}",
        t["facts"]
    );
    assert!(desk.timeline("TP-1").contains("facts given"));

    // Ann resolves it, answering in the thread of her notice (which proves it is her):
    // the resolution becomes a knowledge-base entry.
    let notice1 = wait_for_subject(&ann, "[TP-1] New ticket")
        .await
        .message_id
        .unwrap();
    desk.write(
        &ann,
        mail(
            &ann,
            &sup,
            "ann-kb-1@agents.test",
            "Re: [TP-1] VPN 连不上",
            Some(&notice1),
            "/resolve VPN 错误 809：防火墙拦截了 L2TP，已在 VPN 客户端改用 IKEv2 连接。",
        ),
    )
    .await;
    desk.run_once().await;
    wait_for_subject(&req, "[TP-1] 已解决").await;
    let mut out = Vec::new();
    ticketpost::commands::knowledge::kb_list(&desk.cfg, true, &mut out).unwrap();
    let kb: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(kb.as_array().unwrap().len(), 1, "{kb}");
    assert!(kb[0]["solution"].as_str().unwrap().contains("IKEv2"));

    // Ann refines it by mail with /kb; nothing reaches the requester.
    let requester_mails = inbox(&req).await.len();
    desk.write(
        &ann,
        mail(&ann, &sup, "ann-kb-2@agents.test", "Re: [TP-1] VPN 连不上", Some(&notice1), "/kb\nProblem: VPN 连接失败，错误 809\nCause: 防火墙拦截 L2TP/IPsec\nSolution: VPN 客户端改用 IKEv2"),
    )
    .await;
    desk.run_once().await;
    let mut out = Vec::new();
    ticketpost::commands::knowledge::kb_list(&desk.cfg, true, &mut out).unwrap();
    let kb: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(kb[0]["cause"], "防火墙拦截 L2TP/IPsec", "{kb}");
    assert_eq!(kb[0]["state"], "draft", "{kb}");
    assert_count_stays(&req, requester_mails).await;
    // Entries are drafts until another agent approves them: Bob does.
    let mut out = Vec::new();
    ticketpost::commands::knowledge::kb_approve(&desk.cfg, "KB-1", &bob, 1, &mut out).unwrap();

    // The next requester with the same problem is offered the entry, and the agents'
    // notice lists it and the similar ticket.
    desk.write(
        &colleague,
        mail(
            &colleague,
            &sup,
            "zh-3@col.test",
            "VPN 报错 809",
            None,
            "VPN 连接时提示错误 809，连不上公司网络。",
        ),
    )
    .await;
    desk.run_once().await;
    let ack2 = wait_for_subject(&colleague, "[TP-2]").await;
    assert!(
        ack2.text_body.contains("IKEv2"),
        "KB entry offered: {}",
        ack2.text_body
    );
    let notice = wait_for_subject(&ann, "[TP-2] New ticket").await;
    assert!(
        notice.text_body.contains("Knowledge base:"),
        "{}",
        notice.text_body
    );
    assert!(
        notice.text_body.contains("TP-1"),
        "similar ticket listed: {}",
        notice.text_body
    );

    // An English request about a business system down for a whole department: P1, the
    // urgent path (supervisor and on-call alerted), an acknowledgement that says so.
    desk.write(
        &colleague,
        mail(&colleague, &sup, "en-1@col.test", "ERP is down for the whole finance department", None, "Nobody in finance can log in to the ERP since 9:00. Error: \"Service unavailable (503)\"."),
    )
    .await;
    desk.run_once().await;
    let ack3 = wait_for_subject(&colleague, "[TP-3]").await;
    assert!(ack3.text_body.contains("URGENT"), "{}", ack3.text_body);
    let t = desk.ticket("TP-3");
    assert_eq!(t["priority"], "P1");
    assert_eq!(t["language"], "en");
    let alert = wait_for_subject(&sue, "URGENT").await;
    assert!(alert.subject.contains("[TP-3]"));
    assert!(
        alert.text_body.contains("Service unavailable"),
        "{}",
        alert.text_body
    );
    wait_for_subject(&bob, "URGENT (P1)").await;
    assert!(desk.timeline("TP-3").contains("triage"));
}
