//! A chat's thread (`/inbox/chats/{id}`): every message kind, who sent
//! each outbound message, older pages and the "still syncing" notice, the
//! fan panel's figures, and the message fragments.

use chrono::{DateTime, Duration, Utc};
use reqwest::StatusCode;
use switchboard::domain::MessageKind;
use switchboard::store::messages::MessageUpsert;
use uuid::Uuid;

use crate::helpers::*;

fn base() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-20T10:00:00Z")
        .unwrap()
        .with_timezone(&Utc)
}

fn at(minutes: i64) -> DateTime<Utc> {
    base() + Duration::minutes(minutes)
}

fn kind(mut m: MessageUpsert, k: &str) -> MessageUpsert {
    m.kind = MessageKind::from(k.to_owned());
    m
}

fn position(html: &str, m: &MessageUpsert) -> usize {
    html.find(&format!("id=\"msg-{}\"", m.uuid)).unwrap()
}

#[tokio::test]
async fn every_message_kind_is_shown_as_the_guide_says() {
    let ConnectedCreator {
        app,
        acme,
        admin,
        id: creator,
        ..
    } = TestApp::with_connected_creator().await;
    let seed = MirrorSeed {
        pool: &app.pool,
        agency: acme.id,
        creator,
    };
    let fan = Uuid::new_v4();
    let chat = seed.chat(fan_chat(fan, "Frida Fan")).await;
    let text = seed_message(
        fan,
        false,
        Some("Hi <script>alert(1)</script>\nsecond line"),
        at(0),
    );
    let mut media = seed_message(fan, false, None, at(1));
    media.has_media = Some(true);
    media.media_type = Some("image".into());
    media.media_uuids = vec![Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4()];
    let mut ppv_open = seed_message(fan, true, Some("Unlock me"), at(2));
    ppv_open.price_cents = Some(1500);
    ppv_open.has_media = Some(true);
    ppv_open.media_type = Some("video".into());
    ppv_open.media_uuids = vec![Uuid::new_v4()];
    let mut ppv_paid = seed_message(fan, true, None, at(3));
    ppv_paid.price_cents = Some(999);
    ppv_paid.purchased_at = Some(at(10));
    let tip = kind(seed_message(fan, false, None, at(4)), "TIP");
    let auto = kind(
        seed_message(fan, true, Some("Thanks for subscribing"), at(5)),
        "AUTOMATED_NEW_SUBSCRIBER",
    );
    let broadcast = kind(
        seed_message(fan, true, Some("Hello all fans"), at(6)),
        "BROADCAST",
    );
    let unknown = kind(seed_message(fan, false, None, at(7)), "HOLOGRAM_CALL");
    let mut read_out = seed_message(fan, true, Some("seen it"), at(8));
    read_out.is_read = true;
    let unread_out = seed_message(fan, true, Some("not yet"), at(9));
    let unsent = seed_message(fan, true, Some("oops wrong chat"), at(11));
    let all = [
        text.clone(),
        media.clone(),
        ppv_open.clone(),
        ppv_paid.clone(),
        tip.clone(),
        auto.clone(),
        broadcast.clone(),
        unknown.clone(),
        read_out.clone(),
        unread_out.clone(),
        unsent.clone(),
    ];
    seed.messages(&all).await;
    seed.tip(fan, 500, at(4)).await;
    seed.delete(unsent.uuid).await;

    let (s, html) = admin.get_html(&format!("/inbox/chats/{chat}")).await;
    assert_eq!(s, StatusCode::OK);
    // The DOM contract the live script relies on.
    assert!(html.contains(&format!(
        "<section id=\"thread\" class=\"inbox-pane thread\" data-chat-id=\"{chat}\" data-creator-id=\"{creator}\""
    )));
    assert!(html.contains("<ol id=\"messages\" class=\"messages\" aria-live=\"polite\""));
    assert!(html.contains("id=\"compose\"") && html.contains("id=\"compose-text\""));
    // The side list comes after the thread, as a fragment (a link to the
    // full list without script), and marks the open chat.
    assert!(
        chat_li(&html, chat).is_none(),
        "no list query in the thread page"
    );
    assert!(
        html.contains("data-side=\"/inbox/rows?")
            && html.contains(&format!("side=1&amp;open={chat}\""))
            && html.contains("href=\"/inbox\">Open the chat list</a>"),
        "the side list's source and fallback"
    );
    let (s, fragment) = admin
        .get_html(&format!(
            "/inbox/rows?tab=all&creator=&q=&side=1&open={chat}"
        ))
        .await;
    assert_eq!(s, StatusCode::OK);
    let side = chat_li(&fragment, chat).expect("the chat in the side list");
    assert!(
        side.contains("is-open") && side.contains("aria-current=\"page\""),
        "{side}"
    );
    assert!(
        !fragment.contains("load-more"),
        "the side list has no pages"
    );
    // Oldest first.
    let positions: Vec<usize> = all.iter().map(|m| position(&html, m)).collect();
    assert!(positions.windows(2).all(|w| w[0] < w[1]), "{positions:?}");
    assert!(!html.contains("<script>alert(1)"));

    let li = |m: &MessageUpsert| message_li(&html, m.uuid).to_owned();
    let t = li(&text);
    assert!(
        t.contains("<p class=\"msg-text\" dir=\"auto\">Hi &#60;script&#62;alert(1)&#60;/script&#62;\nsecond line</p>"),
        "{t}"
    );
    assert!(t.contains("msg-in") && t.contains("Frida Fan") && !t.contains("msg-read"));
    assert!(t.contains("datetime=\"2026-11-20T10:00:00Z\">2026-11-20 10:00 UTC</time>"));
    let m = li(&media);
    assert!(m.contains("Photo ×3") && !m.contains("msg-text"), "{m}");
    let p = li(&ppv_open);
    assert!(
        p.contains("PPV $15.00") && p.contains("Awaiting purchase") && p.contains("Video"),
        "{p}"
    );
    assert!(p.contains("Unlock me") && !p.contains("Paid"));
    let p = li(&ppv_paid);
    assert!(
        p.contains("PPV $9.99 · <span class=\"ppv-paid\">Paid <time datetime=\"2026-11-20T10:10:00Z\">2026-11-20 10:10 UTC</time>"),
        "{p}"
    );
    assert!(!p.contains("Awaiting purchase"));
    let tp = li(&tip);
    assert!(tp.contains("msg-tip") && tp.contains("Tip $5.00"), "{tp}");
    let a = li(&auto);
    assert!(
        a.contains("msg-auto") && a.contains("Automated · New subscriber"),
        "{a}"
    );
    let b = li(&broadcast);
    assert!(
        b.contains("msg-broadcast") && b.contains("Mass message"),
        "{b}"
    );
    let u = li(&unknown);
    assert!(
        u.contains("<span class=\"msg-badge\">HOLOGRAM_CALL</span>"),
        "{u}"
    );
    let r = li(&read_out);
    assert!(
        r.contains("msg-read is-read") && r.contains("✓✓</span> Read"),
        "{r}"
    );
    let r = li(&unread_out);
    assert!(r.contains("Not read yet") && !r.contains("is-read"), "{r}");
    let d = li(&unsent);
    assert!(
        d.contains("msg-deleted") && d.contains(">Unsent</span>"),
        "{d}"
    );

    // Automated messages can be hidden, without script, by a link.
    assert!(html.contains(&format!("href=\"/inbox/chats/{chat}?hide_auto=1\"")));
    let (_, hidden) = admin
        .get_html(&format!("/inbox/chats/{chat}?hide_auto=1"))
        .await;
    assert!(!hidden.contains(&format!("msg-{}", auto.uuid)));
    assert!(hidden.contains(&format!("msg-{}", broadcast.uuid)));
    assert!(hidden.contains("Show automated messages") && hidden.contains("thread hide-auto"));

    // Fragments: one message, and those after a message (oldest first).
    let (s, one) = admin
        .get_html(&format!("/inbox/chats/{chat}/messages/{}", ppv_paid.uuid))
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        one.trim(),
        message_li(&html, ppv_paid.uuid).to_owned() + "</li>"
    );
    let (s, after) = admin
        .get_html(&format!(
            "/inbox/chats/{chat}/messages?after={}",
            broadcast.uuid
        ))
        .await;
    assert_eq!(s, StatusCode::OK);
    let shown: Vec<usize> = all
        .iter()
        .filter_map(|m| after.find(&format!("id=\"msg-{}\"", m.uuid)))
        .collect();
    assert_eq!(shown.len(), 4, "unknown, read, unread, unsent");
    assert!(shown.windows(2).all(|w| w[0] < w[1]));
    assert!(
        after.find(&format!("msg-{}", unknown.uuid)).unwrap()
            < after.find(&format!("msg-{}", unsent.uuid)).unwrap()
    );
    let (s, _) = admin
        .get_html(&format!("/inbox/chats/{chat}/messages/{}", Uuid::new_v4()))
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    for bad in ["garbage", &Uuid::new_v4().to_string()] {
        let (s, _) = admin
            .get_html(&format!("/inbox/chats/{chat}/messages?after={bad}"))
            .await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{bad}");
    }
    let (s, latest) = admin
        .get_html(&format!("/inbox/chats/{chat}/messages"))
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(latest.matches("class=\"msg ").count(), all.len());
}

#[tokio::test]
async fn outbound_senders_are_the_ledger_then_the_mapping_then_the_creator() {
    let ConnectedCreator {
        app,
        acme,
        admin,
        id: creator,
        ..
    } = TestApp::with_connected_creator().await;
    let seed = MirrorSeed {
        pool: &app.pool,
        agency: acme.id,
        creator,
    };
    let fan = Uuid::new_v4();
    let chat = seed.chat(fan_chat(fan, "Sam Sender")).await;
    let manager_uuid = Uuid::new_v4();
    sqlx::query("UPDATE staff SET fanvue_user_uuid = $1 WHERE id = $2")
        .bind(manager_uuid)
        .bind(acme.manager)
        .execute(&app.pool)
        .await
        .unwrap();
    let ledger = seed_message(fan, true, Some("sent from switchboard"), at(1));
    let mut mapped = seed_message(fan, true, Some("sent by the manager in fanvue"), at(2));
    mapped.sent_by_user_uuid = Some(manager_uuid.to_string().to_uppercase());
    let by_creator = seed_message(fan, true, Some("sent by the creator"), at(3));
    let mut unmapped = seed_message(fan, true, Some("sent by someone unknown"), at(4));
    unmapped.sent_by_user_uuid = Some("0b3c5d7e-1111-4222-8333-944445555666".into());
    let inbound = seed_message(fan, false, Some("from the fan"), at(5));
    // The ledger wins even over a mapping.
    let mut ledger_mapped = ledger.clone();
    ledger_mapped.sent_by_user_uuid = Some(manager_uuid.to_string());
    seed.messages(&[
        ledger_mapped,
        mapped.clone(),
        by_creator.clone(),
        unmapped.clone(),
        inbound.clone(),
    ])
    .await;
    sqlx::query(
        "INSERT INTO outbound_sends (id, agency_id, creator_id, chat_id, staff_id, idempotency_key, body, status, message_uuid)
         VALUES ($1, $2, $3, $4, $5, $6, 'sent from switchboard', 'sent', $7)",
    )
    .bind(Uuid::now_v7())
    .bind(acme.id)
    .bind(creator)
    .bind(chat)
    .bind(acme.chatter)
    .bind(Uuid::new_v4().to_string())
    .bind(ledger.uuid)
    .execute(&app.pool)
    .await
    .unwrap();

    let (s, html) = admin.get_html(&format!("/inbox/chats/{chat}")).await;
    assert_eq!(s, StatusCode::OK);
    let sender = |html: &str, m: &MessageUpsert| {
        let li = message_li(html, m.uuid);
        let marker = "class=\"msg-sender\" dir=\"auto\">";
        let at = li.find(marker).unwrap() + marker.len();
        li[at..][..li[at..].find('<').unwrap()].to_owned()
    };
    assert_eq!(sender(&html, &ledger), "Acme Chatter · via Switchboard");
    assert_eq!(sender(&html, &mapped), "Acme Manager");
    assert_eq!(sender(&html, &by_creator), "Creator");
    assert_eq!(sender(&html, &unmapped), "Unmapped team member 0b3c5d7e");
    assert_eq!(sender(&html, &inbound), "Sam Sender");
    // Admins get a link to map the unknown team member; managers do not.
    assert!(message_li(&html, unmapped.uuid).contains("href=\"/admin/staff\""));
    assert!(!message_li(&html, by_creator.uuid).contains("/admin/staff"));
    let manager = app.signed_in(&acme.email("manager")).await;
    let (_, as_manager) = manager.get_html(&format!("/inbox/chats/{chat}")).await;
    assert_eq!(
        sender(&as_manager, &unmapped),
        "Unmapped team member 0b3c5d7e"
    );
    assert!(!message_li(&as_manager, unmapped.uuid).contains("/admin/staff"));
}

#[tokio::test]
async fn older_messages_page_by_keyset_and_unsynced_history_is_announced() {
    let ConnectedCreator {
        app,
        acme,
        admin,
        id: creator,
        ..
    } = TestApp::with_connected_creator().await;
    let seed = MirrorSeed {
        pool: &app.pool,
        agency: acme.id,
        creator,
    };
    let fan = Uuid::new_v4();
    let chat = seed.chat(fan_chat(fan, "Olga Older")).await;
    let msgs: Vec<MessageUpsert> = (0..60)
        .map(|i| seed_message(fan, i % 2 == 0, Some(&format!("number {i:02}.")), at(i)))
        .collect();
    seed.messages(&msgs).await;

    let (s, first) = admin.get_html(&format!("/inbox/chats/{chat}")).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(first.matches("class=\"msg ").count(), 50);
    assert!(
        first.contains("number 10.")
            && first.contains("number 59.")
            && !first.contains("number 09.")
    );
    assert!(
        !first.contains("still syncing"),
        "older local messages come first"
    );
    let at_link = first.find("?before=").expect("a load-older link") + "?before=".len();
    let cursor: String = first[at_link..]
        .chars()
        .take_while(|c| *c != '"' && *c != '&')
        .collect();
    let (s, older) = admin
        .get_html(&format!("/inbox/chats/{chat}?before={cursor}"))
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(older.matches("class=\"msg ").count(), 10);
    assert!(
        older.contains("number 00.")
            && older.contains("number 09.")
            && !older.contains("number 10.")
    );
    assert!(older.contains("Older messages are still syncing"));
    assert!(
        !older.contains("Load older messages") && older.contains("Jump to the newest messages")
    );

    sqlx::query("UPDATE chats SET history_complete = true WHERE id = $1")
        .bind(chat)
        .execute(&app.pool)
        .await
        .unwrap();
    let (_, older) = admin
        .get_html(&format!("/inbox/chats/{chat}?before={cursor}"))
        .await;
    assert!(!older.contains("still syncing") && older.contains("Start of the conversation"));

    for bad in ["nonsense", "123.", "1.2.3"] {
        let (s, body) = admin
            .get_html(&format!("/inbox/chats/{chat}?before={bad}"))
            .await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{bad}");
        assert!(body.contains("not valid"), "{bad}");
    }
}

#[tokio::test]
async fn fan_panel_figures_are_exact_to_the_cent() {
    let ConnectedCreator {
        app,
        acme,
        admin,
        id: creator,
        ..
    } = TestApp::with_connected_creator().await;
    let seed = MirrorSeed {
        pool: &app.pool,
        agency: acme.id,
        creator,
    };
    let fan = Uuid::new_v4();
    let mut profile = fan_chat(fan, "Penelope Panel");
    profile.handle = Some("pen_p".into());
    profile.nickname = Some("Big Pen".into());
    profile.is_top_spender = true;
    profile.registered_at = Some(
        DateTime::parse_from_rfc3339("2024-03-05T08:00:00Z")
            .unwrap()
            .with_timezone(&Utc),
    );
    let chat = seed.chat(profile).await;
    let other = Uuid::new_v4();
    seed.chat(fan_chat(other, "Someone Else")).await;
    let ppv = |cents: i64, minute: i64, bought: Option<i64>| {
        let mut m = seed_message(fan, true, None, at(minute));
        m.price_cents = Some(cents);
        m.has_media = Some(true);
        m.purchased_at = bought.map(at);
        m
    };
    let deleted_offer = ppv(400, 6, None);
    let mut others_ppv = seed_message(other, true, None, at(7));
    others_ppv.price_cents = Some(5000);
    others_ppv.purchased_at = Some(at(8));
    seed.messages(&[
        seed_message(fan, false, Some("first!"), at(0)),
        ppv(1250, 1, Some(20)),
        ppv(999, 2, Some(30)),
        ppv(3000, 3, None),
        deleted_offer.clone(),
        others_ppv,
    ])
    .await;
    seed.delete(deleted_offer.uuid).await;
    seed.tip(fan, 505, at(40)).await;
    seed.tip(fan, 1000, at(50)).await;
    seed.tip(other, 7777, at(60)).await;

    let (s, html) = admin.get_html(&format!("/inbox/chats/{chat}")).await;
    assert_eq!(s, StatusCode::OK);
    let dd = |id: &str| {
        let at = html
            .find(&format!("<dd id=\"{id}\""))
            .unwrap_or_else(|| panic!("{id}"));
        let start = html[at..].find('>').unwrap() + at + 1;
        let end = html[start..].find("</dd>").unwrap() + start;
        html[start..end].to_owned()
    };
    assert_eq!(dd("fan-total"), "$37.54");
    assert_eq!(
        dd("fan-purchases"),
        "4 <span class=\"muted\">(2 PPV · $22.49, 2 tips · $15.05)</span>"
    );
    assert_eq!(
        dd("fan-last-purchase"),
        "<time datetime=\"2026-11-20T10:50:00Z\">2026-11-20 10:50 UTC</time>"
    );
    assert_eq!(dd("fan-unlock-rate"), "2 of 3 (67%)");
    assert!(
        dd("fan-first-message")
            .starts_with("<time datetime=\"2026-11-20T10:00:00Z\">2026-11-20 10:00 UTC</time>")
    );
    assert_eq!(dd("fan-handle"), "@pen_p");
    assert_eq!(dd("fan-nickname"), "Big Pen");
    assert_eq!(
        dd("fan-registered"),
        "<time datetime=\"2024-03-05T08:00:00Z\">2024-03-05</time>"
    );
    assert!(html.contains("★ Top spender"));
}

#[tokio::test]
async fn hostile_names_and_texts_render_as_text_in_header_panel_and_messages() {
    let ConnectedCreator {
        app,
        acme,
        admin,
        id: creator,
        ..
    } = TestApp::with_connected_creator().await;
    let seed = MirrorSeed {
        pool: &app.pool,
        agency: acme.id,
        creator,
    };
    let fan = Uuid::new_v4();
    let hostile = "\"><img src=x onerror=alert(1)>\u{202E}evil";
    let mut profile = fan_chat(fan, hostile);
    profile.nickname = Some("<b onmouseover=alert(2)>nick</b>".into());
    profile.avatar_url = Some("\" onerror=\"alert(3)".into());
    let chat = seed.chat(profile).await;
    let long_word = "W".repeat(5000);
    let text = format!("<svg onload=alert(4)>\n{long_word}");
    let m = seed_message(fan, false, Some(&text), at(0));
    seed.messages(std::slice::from_ref(&m)).await;

    let (s, html) = admin.get_html(&format!("/inbox/chats/{chat}")).await;
    assert_eq!(s, StatusCode::OK);
    for raw in [
        "<img src=x",
        "<b onmouseover",
        "<svg onload",
        "onerror=\"alert(3)",
    ] {
        assert!(!html.contains(raw), "{raw} reached the page unescaped");
    }
    let escaped = "&#34;&#62;&#60;img src=x onerror=alert(1)&#62;\u{202E}evil";
    assert!(html.contains(&format!(
        "<h1 id=\"thread-title\" dir=\"auto\">{escaped}</h1>"
    )));
    assert!(html.contains(&format!(
        "<h2 id=\"fan-panel-title\" dir=\"auto\">{escaped}</h2>"
    )));
    let li = message_li(&html, m.uuid);
    assert!(li.contains(&format!(
        "<span class=\"msg-sender\" dir=\"auto\">{escaped}</span>"
    )));
    assert!(li.contains(&format!("&#60;svg onload=alert(4)&#62;\n{long_word}</p>")));
    // No avatar image for a non-https URL; the initial stands in.
    assert!(!html.contains("<img class=\"avatar"), "no fan avatar image");
    let (_, list) = admin.get_html("/inbox").await;
    assert!(!list.contains("<img src=x") && !list.contains("<b onmouseover"));
    assert!(list.contains(&format!(
        "<span class=\"chat-name\" dir=\"auto\">{escaped}</span>"
    )));
}

// === Review fixes (send part): a `before` cursor out of range is a 400 ===

#[tokio::test]
async fn a_before_cursor_out_of_postgres_range_is_a_400() {
    let c = TestApp::with_connected_creator().await;
    sync_until_idle(&c.app.sync_engine(), c.id).await;
    let chat: Uuid = sqlx::query_scalar("SELECT id FROM chats WHERE creator_id = $1 LIMIT 1")
        .bind(c.id)
        .fetch_one(&c.app.pool)
        .await
        .unwrap();
    for before in [
        "253402300800000000.0190a0a00a0a7a0a8a0a0a0a0a0a0a0a",
        "-8210298412800000000.0190a0a00a0a7a0a8a0a0a0a0a0a0a0a",
    ] {
        let (status, body) = c
            .admin
            .get_html(&format!("/inbox/chats/{chat}?before={before}"))
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{before}: {body}");
    }
}
