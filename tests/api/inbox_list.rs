//! The chat list (`/inbox`) and its fragments: who sees which chats, the
//! tabs and their counts, search, rows, and keyset pages under inserts.

use std::collections::BTreeSet;

use chrono::{Duration, Utc};
use reqwest::StatusCode;
use switchboard::domain::MessageKind;
use uuid::Uuid;

use crate::helpers::*;

fn count_of(html: &str, tab: &str) -> i64 {
    let marker = format!("data-count=\"{tab}\">");
    let at = html
        .find(&marker)
        .unwrap_or_else(|| panic!("no count for {tab}"))
        + marker.len();
    html[at..][..html[at..].find('<').unwrap()].parse().unwrap()
}

fn cursor_in(html: &str) -> Option<String> {
    let at = html.find("after=")? + "after=".len();
    let rest = &html[at..];
    Some(rest[..rest.find('"').unwrap()].to_owned())
}

#[tokio::test]
async fn chatters_see_only_assigned_creators_and_lose_them_at_once_on_unassign() {
    let ConnectedCreator {
        app,
        acme,
        admin,
        id: creator_a,
        ..
    } = TestApp::with_connected_creator().await;
    let creator_b = app.connect(&admin, app.sim().creator_uuids()[1]).await;
    let seed_a = MirrorSeed {
        pool: &app.pool,
        agency: acme.id,
        creator: creator_a,
    };
    let seed_b = MirrorSeed {
        creator: creator_b,
        ..seed_a
    };
    let now = Utc::now();
    let (fan_a, fan_b) = (Uuid::new_v4(), Uuid::new_v4());
    let chat_a = seed_a.chat(fan_chat(fan_a, "Alice Assigned")).await;
    let chat_b = seed_b.chat(fan_chat(fan_b, "Bob Elsewhere")).await;
    let msg_b = seed_message(fan_b, false, Some("hi from bob"), now);
    seed_a
        .messages(&[seed_message(fan_a, false, Some("hi from alice"), now)])
        .await;
    seed_b.messages(std::slice::from_ref(&msg_b)).await;
    let r = admin
        .post_form(
            &format!("/admin/creators/{creator_a}/assignments"),
            &[("staff_id", &acme.chatter.to_string())],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);

    let chatter = app.signed_in(&acme.email("chatter")).await;
    let (s, list) = chatter.get_html("/inbox").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        chat_ids(&list),
        vec![chat_a],
        "only the assigned creator's chat"
    );
    assert!(list.contains("Alice Assigned") && !list.contains("Bob Elsewhere"));
    assert_eq!(count_of(&list, "all"), 1);
    let (s, thread) = chatter.get_html(&format!("/inbox/chats/{chat_a}")).await;
    assert_eq!(s, StatusCode::OK);
    assert!(thread.contains("hi from alice"));
    for path in [
        format!("/inbox/chats/{chat_b}"),
        format!("/inbox/chats/{chat_b}/row"),
        format!("/inbox/chats/{chat_b}/messages"),
        format!("/inbox/chats/{chat_b}/messages/{}", msg_b.uuid),
        format!("/inbox?creator={creator_b}"),
        format!("/inbox/rows?creator={creator_b}"),
        format!("/inbox/counts?creator={creator_b}"),
    ] {
        let (s, body) = chatter.get_html(&path).await;
        assert_eq!(s, StatusCode::NOT_FOUND, "{path}");
        assert!(!body.contains("bob"), "{path} leaks the chat");
    }

    // Managers (and above) see every creator's chats.
    let manager = app.signed_in(&acme.email("manager")).await;
    let (_, list) = manager.get_html("/inbox").await;
    assert_eq!(
        chat_ids(&list).into_iter().collect::<BTreeSet<_>>(),
        BTreeSet::from([chat_a, chat_b])
    );
    let (_, only_b) = manager
        .get_html(&format!("/inbox?creator={creator_b}"))
        .await;
    assert_eq!(chat_ids(&only_b), vec![chat_b]);
    let (s, _) = manager.get_html(&format!("/inbox/chats/{chat_b}")).await;
    assert_eq!(s, StatusCode::OK);

    // Unassigning takes effect on the chatter's very next request.
    let r = admin
        .post_form(
            &format!(
                "/admin/creators/{creator_a}/assignments/{}/remove",
                acme.chatter
            ),
            &[],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let (s, _) = chatter.get_html(&format!("/inbox/chats/{chat_a}")).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) = chatter
        .get_html(&format!("/inbox/chats/{chat_a}/row"))
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (_, list) = chatter.get_html("/inbox").await;
    assert!(chat_ids(&list).is_empty() && list.contains("No creators are assigned to you yet"));
}

/// Chats built to sit in exactly the tabs named.
#[tokio::test]
async fn each_tab_holds_its_chats_and_counts_them() {
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
    let t0 = Utc::now() - Duration::hours(5);
    let at = |m: i64| t0 + Duration::minutes(m);
    let fans: Vec<Uuid> = (0..7).map(|_| Uuid::new_v4()).collect();
    let mut unread = fan_chat(fans[0], "Una Unread");
    unread.unread_count = 2;
    unread.is_read = false;
    let ids = seed
        .chats(&[
            unread,
            fan_chat(fans[1], "Rita Replied"),
            fan_chat(fans[2], "Otto Automated"),
            fan_chat(fans[3], "Penny Pending"),
            fan_chat(fans[4], "Paula Paid"),
            fan_chat(fans[5], "Tim Tipper"),
            fan_chat(fans[6], "Ursula Unsent"),
        ])
        .await;
    let auto = |mut m: switchboard::store::messages::MessageUpsert| {
        m.kind = MessageKind::from("AUTOMATED_NEW_SUBSCRIBER".to_owned());
        m
    };
    let ppv = |mut m: switchboard::store::messages::MessageUpsert, paid: bool| {
        m.price_cents = Some(1200);
        m.has_media = Some(true);
        m.purchased_at = paid.then(|| at(100));
        m
    };
    let ursula_reply = seed_message(fans[6], true, Some("sorry, wrong chat"), at(61));
    seed.messages(&[
        seed_message(fans[0], false, Some("hello?"), at(10)),
        seed_message(fans[1], false, Some("hi"), at(20)),
        seed_message(fans[1], true, Some("hey you"), at(21)),
        seed_message(fans[2], false, Some("are you there"), at(30)),
        auto(seed_message(
            fans[2],
            true,
            Some("Thanks for subscribing!"),
            at(31),
        )),
        seed_message(fans[3], false, Some("show me"), at(40)),
        ppv(seed_message(fans[3], true, None, at(41)), false),
        ppv(seed_message(fans[4], true, None, at(50)), true),
        seed_message(fans[5], true, Some("thanks for the tip"), at(55)),
        seed_message(fans[6], false, Some("ping"), at(60)),
        ursula_reply.clone(),
    ])
    .await;
    seed.tip(fans[5], 500, at(54)).await;
    // The creator's reply to Ursula was unsent: she is waiting again.
    seed.delete(ursula_reply.uuid).await;
    // A tip that arrived before its fan's chat was mirrored still counts.
    let early = Uuid::new_v4();
    seed.tip(early, 300, at(62)).await;
    let mut ids = ids;
    ids.push(seed.chat(fan_chat(early, "Erin Early")).await);

    let expect: &[(&str, &[usize])] = &[
        ("all", &[0, 1, 2, 3, 4, 5, 6, 7]),
        ("unread", &[0]),
        ("awaiting", &[0, 2, 6]),
        ("ppv", &[3]),
        ("spenders", &[4, 5, 7]),
    ];
    let (_, page) = admin.get_html("/inbox").await;
    let (s, counts) = admin.get_html("/inbox/counts").await;
    assert_eq!(s, StatusCode::OK);
    assert!(counts.contains("id=\"inbox-tabs\""));
    for (tab, members) in expect {
        let want: BTreeSet<Uuid> = members.iter().map(|i| ids[*i]).collect();
        let (s, html) = admin.get_html(&format!("/inbox?tab={tab}")).await;
        assert_eq!(s, StatusCode::OK, "{tab}");
        let got: BTreeSet<Uuid> = chat_ids(&html).into_iter().collect();
        assert_eq!(got, want, "members of tab {tab}");
        assert_eq!(count_of(&page, tab), members.len() as i64, "count of {tab}");
        assert_eq!(
            count_of(&counts, tab),
            members.len() as i64,
            "fragment count of {tab}"
        );
        let (_, rows) = admin.get_html(&format!("/inbox/rows?tab={tab}")).await;
        assert_eq!(chat_ids(&rows).into_iter().collect::<BTreeSet<_>>(), want);
        // The one-row fragment: the row when it matches the tab, else 204.
        for (i, id) in ids.iter().enumerate() {
            let r = admin.get(&format!("/inbox/chats/{id}/row?tab={tab}")).await;
            if members.contains(&i) {
                assert_eq!(r.status(), StatusCode::OK, "{tab} row {i}");
                let body = r.text().await.unwrap();
                assert_eq!(chat_ids(&body), vec![*id]);
            } else {
                assert_eq!(r.status(), StatusCode::NO_CONTENT, "{tab} row {i}");
            }
        }
    }
    // Newest first.
    let (_, all) = admin.get_html("/inbox?tab=all").await;
    assert_eq!(
        chat_ids(&all),
        vec![
            ids[7], ids[6], ids[5], ids[4], ids[3], ids[2], ids[1], ids[0]
        ]
    );
    // The current tab is marked and the list carries its query.
    let (_, ppv_page) = admin.get_html("/inbox?tab=ppv").await;
    assert!(ppv_page.contains("data-query=\"tab=ppv&#38;creator=&#38;q=\""));
    assert!(ppv_page.contains("href=\"/inbox?tab=ppv&amp;creator=&#38;q=\" aria-current=\"page\""));
    // Malformed queries are refused with a message, never a server error.
    for bad in [
        "/inbox?tab=bogus",
        "/inbox?after=garbage",
        "/inbox/rows?after=1.x",
        "/inbox?creator=nope",
    ] {
        let (s, body) = admin.get_html(bad).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{bad}");
        assert!(
            body.contains("valid") || body.contains("Unknown inbox tab"),
            "{bad}"
        );
    }
}

#[tokio::test]
async fn search_matches_name_handle_or_nickname_with_wildcards_taken_literally() {
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
    let mut zoe = fan_chat(Uuid::new_v4(), "Zoë 100% real");
    zoe.handle = Some("zoe_x".into());
    let mut max = fan_chat(Uuid::new_v4(), "Max");
    max.handle = Some("max1000".into());
    max.nickname = Some("BigSpender".into());
    let mut yves = fan_chat(Uuid::new_v4(), "Yves");
    yves.handle = Some("zoeyx".into());
    let mut nameless = fan_chat(Uuid::new_v4(), "");
    nameless.display_name = None;
    nameless.handle = Some("only_handle".into());
    let now = Utc::now();
    for (i, c) in [&mut zoe, &mut max, &mut yves, &mut nameless]
        .into_iter()
        .enumerate()
    {
        c.last_message_at = Some(now - Duration::minutes(i as i64));
    }
    let ids = seed.chats(&[zoe, max, yves, nameless]).await;
    let cases: &[(&str, &[usize])] = &[
        ("100%25", &[0]),     // "100%": not "max1000"
        ("e_x", &[0]),        // literal underscore: not "zoeyx"
        ("bigspender", &[1]), // nickname, any case
        ("MAX1", &[1]),       // handle
        ("zoe", &[0, 2]),     // handle substring
        ("%25", &[0]),        // a bare "%" matches only a real "%"
        ("only_handle", &[3]),
        ("nobody", &[]),
    ];
    for (q, want) in cases {
        let want: Vec<Uuid> = want.iter().map(|i| ids[*i]).collect();
        let (s, html) = admin.get_html(&format!("/inbox?q={q}")).await;
        assert_eq!(s, StatusCode::OK, "{q}");
        assert_eq!(chat_ids(&html), want, "search {q}");
        assert_eq!(count_of(&html, "all"), want.len() as i64, "count for {q}");
        let (_, counts) = admin.get_html(&format!("/inbox/counts?q={q}")).await;
        assert_eq!(count_of(&counts, "all"), want.len() as i64);
    }
    // A handle stands in for a missing display name; the search is kept in the box.
    let (_, html) = admin.get_html("/inbox?q=only_handle").await;
    let row = chat_li(&html, ids[3]).unwrap();
    assert!(
        row.contains("<span class=\"chat-name\" dir=\"auto\">only_handle</span>"),
        "{row}"
    );
    assert!(html.contains("value=\"only_handle\""));
    // A filtered-out chat's row fragment is 204 under the search.
    let r = admin
        .get(&format!("/inbox/chats/{}/row?q=zoe", ids[1]))
        .await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
}

#[tokio::test]
async fn keyset_pages_neither_repeat_nor_skip_while_newer_chats_arrive() {
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
    let base = Utc::now() - Duration::days(2);
    // 130 chats; 40 of them share one timestamp (the id breaks the tie).
    let chats: Vec<_> = (0..130)
        .map(|i| {
            let mut c = fan_chat(Uuid::new_v4(), &format!("Fan {i}"));
            let minute = if (40..80).contains(&i) { 40 } else { i };
            c.last_message_at = Some(base + Duration::minutes(minute));
            c
        })
        .collect();
    let original: BTreeSet<Uuid> = seed.chats(&chats).await.into_iter().collect();

    let newer = |n: usize, minutes: i64| {
        (0..n)
            .map(|i| {
                let mut c = fan_chat(Uuid::new_v4(), &format!("Newcomer {minutes}-{i}"));
                c.last_message_at = Some(Utc::now() + Duration::minutes(minutes));
                c
            })
            .collect::<Vec<_>>()
    };
    let mut seen: Vec<Uuid> = Vec::new();
    let (s, first) = admin.get_html("/inbox").await;
    assert_eq!(s, StatusCode::OK);
    let page = chat_ids(&first);
    assert_eq!(page.len(), 50);
    seen.extend(&page);
    let mut cursor = cursor_in(&first).expect("a load-more link");
    assert!(first.contains("Load more"));
    // Without JS: the link's page is a full page with a way back.
    let (s, second_page) = admin
        .get_html(&format!("/inbox?tab=all&after={cursor}"))
        .await;
    assert_eq!(s, StatusCode::OK);
    assert!(second_page.contains("Back to the newest chats"));
    let mut rounds = 0;
    loop {
        // Newer chats arrive between page fetches.
        let added = seed.chats(&newer(7, rounds)).await;
        assert!(added.iter().all(|id| !original.contains(id)));
        let (s, rows) = admin
            .get_html(&format!("/inbox/rows?tab=all&creator=&q=&after={cursor}"))
            .await;
        assert_eq!(s, StatusCode::OK);
        let page = chat_ids(&rows);
        assert!(
            page.iter().all(|id| original.contains(id)),
            "new chats only land above the cursor"
        );
        seen.extend(&page);
        rounds += 1;
        match cursor_in(&rows) {
            Some(c) => cursor = c,
            None => break,
        }
        assert!(rounds < 10);
    }
    assert_eq!(rounds, 2, "50 + 50 + 30");
    let unique: BTreeSet<Uuid> = seen.iter().copied().collect();
    assert_eq!(unique.len(), seen.len(), "no chat on two pages");
    assert_eq!(unique, original, "no chat skipped");
}

#[tokio::test]
async fn rows_show_avatar_names_preview_by_kind_time_unread_and_top_spender() {
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
    let now = Utc::now() - Duration::minutes(5);
    let fans: Vec<Uuid> = (0..7).map(|_| Uuid::new_v4()).collect();
    let mut tipper = fan_chat(fans[0], "<script>alert(1)</script>");
    tipper.avatar_url = Some("https://cdn.example/tipper.jpg".into());
    tipper.is_top_spender = true;
    tipper.unread_count = 3;
    tipper.is_read = false;
    tipper.nickname = Some("\"><img src=x onerror=alert(2)>".into());
    let mut ppv = fan_chat(fans[1], "Pat PPV");
    ppv.avatar_url = Some("http://insecure.example/p.jpg".into());
    let mut paid = fan_chat(fans[2], "Paige Paid");
    paid.avatar_url = Some("javascript:alert(3)".into());
    let ids = seed
        .chats(&[
            tipper,
            ppv,
            paid,
            fan_chat(fans[3], "Phil Photos"),
            fan_chat(fans[4], "Ada Auto"),
            fan_chat(fans[5], "Una Unsent"),
            fan_chat(fans[6], "Nico New"),
        ])
        .await;
    let mut tip = seed_message(fans[0], false, None, now);
    tip.kind = MessageKind::from("TIP".to_owned());
    let mut offer = seed_message(fans[1], true, Some("just for you"), now);
    offer.price_cents = Some(1200);
    let mut bought = seed_message(fans[2], true, None, now);
    bought.price_cents = Some(999);
    bought.purchased_at = Some(now);
    let mut photos = seed_message(fans[3], false, None, now);
    photos.has_media = Some(true);
    photos.media_type = Some("image".into());
    photos.media_uuids = vec![Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4()];
    let mut auto = seed_message(fans[4], true, Some("Welcome aboard"), now);
    auto.kind = MessageKind::from("AUTOMATED_NEW_FOLLOWER".to_owned());
    let unsent = seed_message(fans[5], true, Some("secret oops"), now);
    seed.messages(&[tip, offer, bought, photos, auto, unsent.clone()])
        .await;
    seed.tip(fans[0], 500, now).await;
    seed.delete(unsent.uuid).await;

    let (_, html) = admin.get_html("/inbox").await;
    assert!(!html.contains("<script>alert(1)") && !html.contains("<img src=x"));
    let row = |i: usize| chat_li(&html, ids[i]).unwrap_or_else(|| panic!("row {i}"));
    let r0 = row(0);
    assert!(
        r0.contains("&#60;script&#62;alert(1)&#60;/script&#62;"),
        "{r0}"
    );
    assert!(
        r0.contains("<img class=\"avatar chat-avatar\" src=\"https://cdn.example/tipper.jpg\"")
    );
    assert!(r0.contains("Tip $5.00"), "{r0}");
    assert!(r0.contains("badge-top") && r0.contains("Top spender"));
    assert!(r0.contains("class=\"unread-badge\"") && r0.contains(">3<"));
    assert!(
        r0.contains("&#34;&#62;&#60;img src=x onerror=alert(2)&#62;"),
        "{r0}"
    );
    assert!(r0.contains(&format!("data-creator-id=\"{creator}\"")));
    assert!(r0.contains(&format!(
        "<a class=\"chat-link\" href=\"/inbox/chats/{}\">",
        ids[0]
    )));
    assert!(
        r0.contains("<time class=\"chat-time\" datetime=\"") && r0.contains("UTC\">5m</time>"),
        "{r0}"
    );
    let r1 = row(1);
    assert!(
        r1.contains("PPV $12.00 · awaiting") && !r1.contains("<img"),
        "{r1}"
    );
    assert!(
        r1.contains(">P</span>"),
        "initial instead of an http avatar"
    );
    let r2 = row(2);
    assert!(r2.contains("PPV $9.99 · paid") && !r2.contains("<img") && !r2.contains("javascript:"));
    assert!(row(3).contains("Photo ×3"));
    assert!(row(4).contains("Automated: Welcome aboard"));
    let r5 = row(5);
    assert!(r5.contains("Message unsent") && !r5.contains("secret oops"));
    assert!(row(6).contains("No messages yet"));
    assert!(!row(1).contains("badge-top") && !row(1).contains("unread-badge"));
    // Both inbox pages load their styles and scripts.
    for asset in ["inbox.css", "inbox.js", "compose.js", "live.js"] {
        assert!(
            html.contains(switchboard::web::static_files::url(asset)),
            "{asset}"
        );
    }
}

// === Review fixes (send part): input Postgres cannot take is a 400 ===

#[tokio::test]
async fn a_nul_in_the_search_or_a_cursor_out_of_range_is_a_400() {
    let c = TestApp::with_connected_creator().await;
    sync_until_idle(&c.app.sync_engine(), c.id).await;
    let far = "253402300800000000.0190a0a00a0a7a0a8a0a0a0a0a0a0a0a";
    let early = "-8210298412800000000.0190a0a00a0a7a0a8a0a0a0a0a0a0a0a";
    for path in [
        "/inbox?q=%00".to_owned(),
        "/inbox?q=a%00b".to_owned(),
        "/inbox/rows?q=%00".to_owned(),
        "/inbox/counts?q=%00".to_owned(),
        format!("/inbox?after={far}"),
        format!("/inbox/rows?after={early}"),
    ] {
        let (status, body) = c.admin.get_html(&path).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path}: {body}");
    }
}

/// Every chat id of the agency under `predicate`, in list order.
async fn brute_force_order(
    app: &TestApp,
    agency: switchboard::domain::AgencyId,
    predicate: &str,
) -> Vec<Uuid> {
    sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT c.id FROM chats c WHERE c.agency_id = $1 AND {predicate}
         ORDER BY COALESCE(c.last_message_at, c.created_at) DESC, c.id DESC"
    )))
    .bind(agency)
    .fetch_all(&app.pool)
    .await
    .unwrap()
}

/// Every page of a tab through "load more", in order.
async fn all_pages(client: &TestClient, tab: &str) -> Vec<Uuid> {
    let (s, first) = client.get_html(&format!("/inbox?tab={tab}")).await;
    assert_eq!(s, StatusCode::OK);
    let mut ids = chat_ids(&first);
    let mut cursor = cursor_in(&first);
    while let Some(c) = cursor {
        let (s, rows) = client
            .get_html(&format!("/inbox/rows?tab={tab}&creator=&q=&after={c}"))
            .await;
        assert_eq!(s, StatusCode::OK);
        ids.extend(chat_ids(&rows));
        cursor = cursor_in(&rows);
        assert!(ids.len() < 10_000);
    }
    ids
}

async fn tally_rows(pool: &sqlx::PgPool) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM chat_tab_tallies")
        .fetch_one(pool)
        .await
        .unwrap()
}

const TAB_PREDICATES: [(&str, &str); 5] = [
    ("all", "true"),
    ("unread", "(c.unread_count > 0 OR NOT c.is_read)"),
    ("awaiting", "c.awaiting_reply"),
    ("ppv", "c.has_open_ppv"),
    ("spenders", "c.has_spend"),
];

async fn assert_counts_match_a_recount(
    app: &TestApp,
    client: &TestClient,
    agency: switchboard::domain::AgencyId,
    when: &str,
) {
    let (_, page) = client.get_html("/inbox").await;
    for (tab, predicate) in TAB_PREDICATES {
        let expected = brute_force_order(app, agency, predicate).await.len() as i64;
        assert_eq!(count_of(&page, tab), expected, "{tab} count {when}");
    }
}

#[tokio::test]
async fn many_creators_page_in_exact_order_and_kept_counts_match_a_recount() {
    let ConnectedCreator {
        app,
        acme,
        admin,
        id: first,
        ..
    } = TestApp::with_connected_creator().await;
    // Seven creators (the list's probe bounds the scans from four up), with
    // skewed activity: the first has most of the newest chats, the others
    // fewer and older ones, and many chats share a timestamp.
    let mut creators = vec![first];
    for i in 1..7 {
        let id = switchboard::domain::CreatorId::new();
        sqlx::query(
            "INSERT INTO creators (id, agency_id, fanvue_uuid, handle, display_name, status)
             VALUES ($1, $2, $3, $4, $5, 'disconnected')",
        )
        .bind(id)
        .bind(acme.id)
        .bind(Uuid::new_v4())
        .bind(format!("creator{i}"))
        .bind(format!("Creator {i}"))
        .execute(&app.pool)
        .await
        .unwrap();
        creators.push(id);
    }
    let base = Utc::now() - Duration::days(3);
    let mut chats_of = Vec::new();
    for (n, creator) in creators.iter().enumerate() {
        let seed = MirrorSeed {
            pool: &app.pool,
            agency: acme.id,
            creator: *creator,
        };
        let count = if n == 0 { 90 } else { 8 + 5 * n };
        let chats: Vec<_> = (0..count)
            .map(|i| {
                let mut c = fan_chat(Uuid::new_v4(), &format!("Fan {n}-{i}"));
                let minutes = if n == 0 {
                    1000 + i as i64
                } else {
                    (i * 7 + n * 3) as i64
                };
                // Every fifth chat ties with a chat of another creator.
                let minutes = if i % 5 == 0 { 500 } else { minutes };
                c.last_message_at = Some(base + Duration::minutes(minutes));
                c.is_read = i % 3 != 0;
                c.unread_count = if i % 4 == 0 { 2 } else { 0 };
                c
            })
            .collect();
        let ids = seed.chats(&chats).await;
        // Some chats get a fan message last (awaiting reply), some an open
        // PPV, some a tip.
        let mut msgs = Vec::new();
        for (i, c) in chats.iter().enumerate().filter(|(i, _)| i % 2 == 0) {
            let at = c.last_message_at.unwrap();
            let mut m = seed_message(c.fan_uuid, i % 4 == 0, Some("hello"), at);
            if i % 6 == 0 {
                m.outbound = true;
                m.sender_uuid = None;
                m.recipient_uuid = Some(c.fan_uuid);
                m.price_cents = Some(1200);
                m.has_media = Some(true);
                m.media_type = Some("image".to_owned());
                m.media_uuids = vec![Uuid::new_v4()];
            }
            msgs.push(m);
        }
        seed.messages(&msgs).await;
        for c in chats.iter().step_by(7) {
            seed.tip(c.fan_uuid, 500, c.last_message_at.unwrap()).await;
        }
        chats_of.push(ids);
    }
    for (tab, predicate) in TAB_PREDICATES {
        let expected = brute_force_order(&app, acme.id, predicate).await;
        assert!(!expected.is_empty(), "{tab} has chats");
        assert_eq!(
            all_pages(&admin, tab).await,
            expected,
            "{tab} in list order"
        );
    }
    assert_counts_match_a_recount(&app, &admin, acme.id, "after seeding").await;

    // Changes through the mirror's writers: read state, a new message moving
    // a chat up, a deleted chat; then the tallies folded.
    sqlx::query("UPDATE chats SET is_read = true, unread_count = 0 WHERE agency_id = $1 AND unread_count > 0 AND creator_id = $2")
        .bind(acme.id)
        .bind(creators[2])
        .execute(&app.pool)
        .await
        .unwrap();
    sqlx::query("DELETE FROM chats WHERE id = $1")
        .bind(chats_of[3][0])
        .execute(&app.pool)
        .await
        .unwrap();
    assert_counts_match_a_recount(&app, &admin, acme.id, "after changes").await;
    assert!(tally_rows(&app.pool).await > creators.len() as i64);
    switchboard::store::inbox::compact_tab_tallies(&app.pool)
        .await
        .unwrap();
    assert_eq!(
        tally_rows(&app.pool).await,
        creators.len() as i64,
        "one row per creator once folded"
    );
    assert_counts_match_a_recount(&app, &admin, acme.id, "after folding").await;
    for (tab, predicate) in TAB_PREDICATES {
        let expected = brute_force_order(&app, acme.id, predicate).await;
        assert_eq!(
            all_pages(&admin, tab).await,
            expected,
            "{tab} in list order after changes"
        );
    }
}

/// The preview is kept on the chat by the messages' triggers (migration
/// 24), not read from the messages per row: it must follow each change.
#[tokio::test]
async fn the_kept_preview_follows_a_newer_message_an_unsend_and_a_purchase() {
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
    let chat = seed.chat(fan_chat(fan, "Pia Preview")).await;
    // The row's preview text, without the "You: " mark of outbound ones.
    let preview_of = |html: &str| {
        let li = chat_li(html, chat).expect("the chat's row").to_owned();
        let at = li.find("class=\"chat-preview").expect("a preview");
        let rest = li[at..].replace("<span class=\"preview-you\">You: </span>", "");
        let start = rest.find('>').unwrap() + 1;
        rest[start..][..rest[start..].find('<').unwrap()].to_owned()
    };
    let t0 = Utc::now() - Duration::minutes(30);
    seed.messages(&[seed_message(fan, false, Some("first hello"), t0)])
        .await;
    let (_, html) = admin.get_html("/inbox").await;
    assert_eq!(preview_of(&html), "first hello");

    // A newer message takes over; an older one arriving late does not.
    let mut offer = seed_message(fan, true, Some("a treat"), t0 + Duration::minutes(10));
    offer.price_cents = Some(1500);
    let late = seed_message(fan, false, Some("late and old"), t0 - Duration::minutes(5));
    seed.messages(&[offer.clone(), late]).await;
    let (_, html) = admin.get_html("/inbox").await;
    assert_eq!(preview_of(&html), "PPV $15.00 · awaiting");

    // The fan buys it: the same message, now paid.
    let mut conn = app.pool.acquire().await.unwrap();
    let joined = switchboard::store::purchases::record_purchase(
        &mut conn,
        acme.id,
        creator,
        switchboard::store::purchases::Purchase {
            message_uuid: offer.uuid,
            fan_uuid: Some(fan),
            price_cents: Some(1500),
            purchased_at: t0 + Duration::minutes(12),
            dedupe_key: "preview-purchase",
        },
    )
    .await
    .unwrap();
    drop(conn);
    assert!(joined, "the purchase joined its message");
    let (_, html) = admin.get_html("/inbox").await;
    assert_eq!(preview_of(&html), "PPV $15.00 · paid");

    // A newer message, then unsent: the row says so, not its text.
    let oops = seed_message(
        fan,
        true,
        Some("wrong chat oops"),
        t0 + Duration::minutes(20),
    );
    seed.messages(std::slice::from_ref(&oops)).await;
    let (_, html) = admin.get_html("/inbox").await;
    assert_eq!(preview_of(&html), "wrong chat oops");
    seed.delete(oops.uuid).await;
    let (_, html) = admin.get_html("/inbox").await;
    assert_eq!(preview_of(&html), "Message unsent");
    assert!(!html.contains("wrong chat oops"));

    // The kept columns agree with the newest message read directly.
    let (kept, newest): (Option<Uuid>, Option<Uuid>) = sqlx::query_as(
        "SELECT c.preview_uuid, (SELECT m.uuid FROM messages m WHERE m.chat_id = c.id
             ORDER BY COALESCE(m.sent_at, m.first_seen_at) DESC, m.uuid DESC LIMIT 1)
         FROM chats c WHERE c.id = $1",
    )
    .bind(chat)
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(kept, Some(oops.uuid));
    assert_eq!(kept, newest);
}
