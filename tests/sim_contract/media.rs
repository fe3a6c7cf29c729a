//! The media library (`GET /media`, creator twin, one item), sends from it, the send
//! faults (fail after commit, contactability), the hostile-input knob and the targeted
//! control hooks (fan says / buys / tips).

use std::collections::{BTreeSet, HashSet};

use serde_json::{Value, json};
use switchboard::sim::FaultsPatch;
use uuid::Uuid;

use crate::fixture::*;

const MEDIA_SCOPES: &[&str] = &["read:self", "read:chat", "write:chat", "read:media"];
const TWIN_SCOPES: &[&str] = &[
    "read:chat",
    "write:chat",
    "read:creator",
    "write:creator",
    "read:media",
];

fn item_keys() -> BTreeSet<String> {
    set(&[
        "uuid",
        "status",
        "createdAt",
        "name",
        "caption",
        "description",
        "mediaType",
        "folderName",
        "recommendedPrice",
        "variants",
    ])
}

/// Every item of a listing, following `hasMore` (size 50).
async fn all_items(t: &SimFixture, token: &str, path: &str, query: &str) -> Vec<Value> {
    let mut out = Vec::new();
    for page in 1.. {
        let sep = if query.is_empty() { "" } else { "&" };
        let (s, b) = t
            .json(t.get_as(&format!("{path}?size=50&page={page}{sep}{query}"), token))
            .await;
        assert_eq!(s, 200, "{b}");
        let data = b["data"].as_array().unwrap();
        assert_eq!(b["pagination"]["page"], page);
        assert_eq!(b["pagination"]["size"], data.len());
        out.extend(data.iter().cloned());
        if !b["pagination"]["hasMore"].as_bool().unwrap() {
            break;
        }
    }
    out
}

#[tokio::test]
async fn media_library_pages_filters_and_validates() {
    let t = spawn().await;
    let tok = t.token(t.creator, MEDIA_SCOPES);
    let lib = t.sim.media_library(&t.creator);
    assert!((30..=60).contains(&lib.len()), "{}", lib.len());
    // Default page: 15 items, newest first, documented shape.
    let (s, b) = t.json(t.get_as("/media", &tok)).await;
    assert_eq!(s, 200, "{b}");
    let data = b["data"].as_array().unwrap();
    assert_eq!(data.len(), 15);
    assert_eq!(
        b["pagination"],
        json!({"page": 1, "size": 15, "hasMore": true})
    );
    for m in data {
        assert_eq!(keys(m), item_keys(), "{m}");
        assert_eq!(m["status"], "ready");
        for v in m["variants"].as_array().unwrap() {
            assert_eq!(
                keys(v),
                set(&[
                    "uuid",
                    "variantType",
                    "displayPosition",
                    "url",
                    "width",
                    "height",
                    "lengthMs"
                ])
            );
        }
    }
    let created: Vec<&str> = data
        .iter()
        .map(|m| m["createdAt"].as_str().unwrap())
        .collect();
    assert!(created.windows(2).all(|w| w[0] >= w[1]), "newest first");
    // Paging walks the whole library exactly once.
    let all = all_items(&t, &tok, "/media", "").await;
    let uuids: Vec<Uuid> = all
        .iter()
        .map(|m| m["uuid"].as_str().unwrap().parse().unwrap())
        .collect();
    assert_eq!(uuids, lib.iter().map(|x| x.0).collect::<Vec<_>>());
    let types: HashSet<&str> = all
        .iter()
        .map(|m| m["mediaType"].as_str().unwrap())
        .collect();
    assert!(types.len() >= 3, "mixed types: {types:?}");
    assert!(all.iter().any(|m| m["recommendedPrice"].is_u64()));
    assert!(all.iter().any(|m| m["recommendedPrice"].is_null()));
    assert!(all.iter().any(|m| m["folderName"].is_null()));
    // mediaType.
    for ty in ["image", "video", "audio", "document"] {
        let got = all_items(&t, &tok, "/media", &format!("mediaType={ty}")).await;
        let want = all.iter().filter(|m| m["mediaType"] == ty).count();
        assert_eq!(got.len(), want, "{ty}");
        assert!(got.iter().all(|m| m["mediaType"] == ty));
    }
    // folderName.
    let folder = all
        .iter()
        .find_map(|m| m["folderName"].as_str())
        .unwrap()
        .to_string();
    let got = all_items(
        &t,
        &tok,
        "/media",
        &format!("folderName={}", folder.replace(' ', "%20")),
    )
    .await;
    assert_eq!(
        got.len(),
        all.iter()
            .filter(|m| m["folderName"] == folder.as_str())
            .count()
    );
    assert!(!got.is_empty() && got.iter().all(|m| m["folderName"] == folder.as_str()));
    // usage: each value a non-empty strict subset; together they cover the library.
    let mut covered = HashSet::new();
    for u in ["chat", "post", "vault"] {
        let got = all_items(&t, &tok, "/media", &format!("usage={u}")).await;
        assert!(
            !got.is_empty() && got.len() < all.len(),
            "{u}: {}",
            got.len()
        );
        covered.extend(got.iter().map(|m| m["uuid"].as_str().unwrap().to_string()));
    }
    assert_eq!(covered.len(), all.len());
    // status: every item is ready.
    assert_eq!(
        all_items(&t, &tok, "/media", "status=ready,processing")
            .await
            .len(),
        all.len()
    );
    assert!(
        all_items(&t, &tok, "/media", "status=processing")
            .await
            .is_empty()
    );
    // variants.
    let got = all_items(&t, &tok, "/media", "variants=main").await;
    assert!(got.iter().all(|m| {
        let v = m["variants"].as_array().unwrap();
        v.len() == 1 && v[0]["variantType"] == "main"
    }));
    assert!(
        all.iter()
            .any(|m| m["variants"].as_array().unwrap().len() == 3)
    );
    // No purchasedBy: no purchasedByFan.
    assert!(all.iter().all(|m| m.get("purchasedByFan").is_none()));
    // Validation errors: the documented 400 body, one message per bad field.
    for (q, want) in [
        ("size=51", "size must be an integer between 1 and 50"),
        (
            "page=0",
            "page must be an integer greater than or equal to 1",
        ),
        (
            "mediaType=gif",
            "mediaType must be one of: image, video, audio, document",
        ),
        ("usage=story", "usage must be one of: chat, post, vault"),
        ("purchasedBy=nope", "purchasedBy must be a UUID"),
        (
            "status=done",
            "status must be a comma-separated list of: ready, processing, error",
        ),
        (
            "variants=huge",
            "variants must be a comma-separated list of: main, thumbnail, blurred",
        ),
    ] {
        let (s, b) = t.json(t.get_as(&format!("/media?{q}"), &tok)).await;
        assert_eq!(s, 400, "{q}");
        assert_errors_body(&b, &[want]);
    }
    // One item.
    let first = &all[0];
    let (s, one) = t
        .json(t.get_as(&format!("/media/{}", first["uuid"].as_str().unwrap()), &tok))
        .await;
    assert_eq!(s, 200);
    assert_eq!(&one, first);
    let (s, b) = t
        .json(t.get_as(&format!("/media/{}", Uuid::new_v4()), &tok))
        .await;
    assert_eq!(
        (s.as_u16(), b),
        (404, json!({"message": "Media not found"}))
    );
    let stats = t.sim.stats();
    assert!(stats.by_endpoint["GET /media"] >= 10);
    assert_eq!(stats.by_endpoint["GET /media/{uuid}"], 2);
    t.sim.stop().await;
}

#[tokio::test]
async fn media_scopes_creator_twin_and_other_creators() {
    let mut cfg = small();
    cfg.scenario.agencies = 2;
    let t = spawn_with(cfg).await;
    let creators = t.sim.creator_uuids();
    let (mine, theirs) = (creators[0], creators[1]);
    // Without read:media: 403.
    let no_media = t.token(t.creator, &["read:self", "read:chat"]);
    let (s, b) = t.json(t.get_as("/media", &no_media)).await;
    assert_eq!(
        (s.as_u16(), b),
        (403, json!({"error": "Insufficient scopes"}))
    );
    // The first member of agency 1 manages creator 1 only.
    let member = t.sim.team_member_uuids()[0];
    let mt = t.token(member, TWIN_SCOPES);
    let own = all_items(&t, &t.token(t.creator, MEDIA_SCOPES), "/media", "").await;
    let twin = all_items(&t, &mt, &format!("/creators/{mine}/media"), "").await;
    assert_eq!(own, twin);
    let (s, _) = t
        .json(t.get_as(&format!("/creators/{theirs}/media"), &mt))
        .await;
    assert_eq!(s, 403, "a creator the member does not manage");
    let partial = t.token(member, &["read:media"]);
    let (s, _) = t
        .json(t.get_as(&format!("/creators/{mine}/media"), &partial))
        .await;
    assert_eq!(s, 403, "read:creator is needed too");
    // A team member has no library of their own.
    let (s, _) = t.json(t.get_as("/media", &mt)).await;
    assert_eq!(s, 404);
    // One item through the twin; another creator's item is not found.
    let item = own[0]["uuid"].as_str().unwrap();
    let (s, one) = t
        .json(t.get_as(&format!("/creators/{mine}/media/{item}"), &mt))
        .await;
    assert_eq!(s, 200);
    assert_eq!(one, own[0]);
    let other_item = t.sim.media_library(&theirs)[0].0;
    let (s, _) = t
        .json(t.get_as(
            &format!("/media/{other_item}"),
            &t.token(t.creator, MEDIA_SCOPES),
        ))
        .await;
    assert_eq!(s, 404);
    let stats = t.sim.stats();
    assert!(stats.by_endpoint["GET /creators/{creatorUserUuid}/media"] >= 3);
    t.sim.stop().await;
}

#[tokio::test]
async fn history_media_is_library_media_and_purchased_by_fan_tells_the_truth() {
    let mut cfg = small();
    cfg.scenario.ppv_share = 0.5;
    let t = spawn_with(cfg).await;
    let tok = t.token(t.creator, MEDIA_SCOPES);
    let lib: HashSet<Uuid> = t.library().into_iter().collect();
    // Every creator-side media uuid in history is a library item.
    let truth = t.sim.truth();
    let me = &truth["creators"][0];
    let mut n = 0;
    for chat in me["chats"].as_array().unwrap() {
        for m in chat["messages"].as_array().unwrap() {
            if m["sender"]["uuid"] == me["user"]["uuid"] {
                for u in m["mediaUuids"].as_array().unwrap() {
                    assert!(lib.contains(&u.as_str().unwrap().parse().unwrap()), "{m}");
                    n += 1;
                }
            }
        }
    }
    assert!(n > 0);
    // purchasedBy answers per fan and changes when that fan buys.
    let fans = t.fans();
    // A fan who bought in history, and another.
    let fan = *fans
        .iter()
        .find(|f| !t.sim.purchased_media(&t.creator, f).is_empty())
        .expect("some fan bought a PPV in history");
    let other = *fans.iter().find(|f| **f != fan).unwrap();
    let bought = |items: &[Value]| -> HashSet<String> {
        items
            .iter()
            .filter(|m| {
                m["purchasedByFan"]
                    .as_bool()
                    .expect("purchasedByFan on every item")
            })
            .map(|m| m["uuid"].as_str().unwrap().to_string())
            .collect()
    };
    let before = bought(&all_items(&t, &tok, "/media", &format!("purchasedBy={fan}")).await);
    let truth_before: HashSet<String> = t
        .sim
        .purchased_media(&t.creator, &fan)
        .iter()
        .map(|u| u.to_string())
        .collect();
    assert_eq!(before, truth_before);
    assert!(!before.is_empty());
    let item = t
        .library()
        .into_iter()
        .find(|u| !before.contains(&u.to_string()))
        .unwrap();
    let (s, b) = t
        .json(t.post_as(
            &format!("/chats/{fan}/message"),
            &tok,
            json!({"text": "just for you", "mediaUuids": [item], "price": 1200}),
        ))
        .await;
    assert_eq!(s, 201, "{b}");
    let msg: Uuid = b["messageUuid"].as_str().unwrap().parse().unwrap();
    let q = format!("purchasedBy={fan}");
    let still = bought(&all_items(&t, &tok, "/media", &q).await);
    assert!(!still.contains(&item.to_string()), "sent is not bought");
    t.sim.fan_buys(&msg).unwrap();
    let after = bought(&all_items(&t, &tok, "/media", &q).await);
    assert!(after.contains(&item.to_string()));
    assert_eq!(after.len(), before.len() + 1);
    let (s, one) = t.json(t.get_as(&format!("/media/{item}?{q}"), &tok)).await;
    assert_eq!((s.as_u16(), &one["purchasedByFan"]), (200, &json!(true)));
    let theirs = bought(&all_items(&t, &tok, "/media", &format!("purchasedBy={other}")).await);
    let theirs_truth: HashSet<String> = t
        .sim
        .purchased_media(&t.creator, &other)
        .iter()
        .map(|u| u.to_string())
        .collect();
    assert_eq!(
        theirs, theirs_truth,
        "another fan's purchases are their own"
    );
    // An unknown fan has bought nothing.
    let none = bought(
        &all_items(
            &t,
            &tok,
            "/media",
            &format!("purchasedBy={}", Uuid::new_v4()),
        )
        .await,
    );
    assert!(none.is_empty());
    t.sim.stop().await;
}

#[tokio::test]
async fn sends_take_library_media_record_its_type_and_reject_the_rest() {
    let t = spawn().await;
    let fan = t.fans()[0];
    let lib = t.sim.media_library(&t.creator);
    let audio = lib
        .iter()
        .find(|m| m.1 == "audio")
        .or(lib.iter().find(|m| m.1 != "image"))
        .unwrap();
    let path = format!("/chats/{fan}/message");
    t.sim.reset_stats();
    let (s, b) = t
        .json(t.post(
            &path,
            json!({"text": "listen", "mediaUuids": [audio.0], "price": 700}),
        ))
        .await;
    assert_eq!(s, 201, "{b}");
    let (_, h) = t
        .json(t.get(&format!("/chats/{fan}/messages?size=1&markAsRead=false")))
        .await;
    let m = &h["data"][0];
    assert_eq!(m["uuid"], b["messageUuid"]);
    assert_eq!(m["mediaType"], audio.1);
    assert_eq!(m["hasMedia"], true);
    assert_eq!(m["mediaUuids"], json!([audio.0]));
    // Media-only, free.
    let (s, _) = t
        .json(t.post(&path, json!({"mediaUuids": [lib[0].0]})))
        .await;
    assert_eq!(s, 201);
    // Unknown media and a PPV without media: validation 400s, nothing sent.
    let (s, b) = t
        .json(t.post(
            &path,
            json!({"text": "x", "mediaUuids": [lib[1].0, Uuid::new_v4()]}),
        ))
        .await;
    assert_eq!(s, 400);
    assert_errors_body(
        &b,
        &["mediaUuids[1] does not match a media item in your library"],
    );
    let other_creator_item = t.sim.media_library(&t.sim.creator_uuids()[1])[0].0;
    let (s, _) = t
        .json(t.post(
            &path,
            json!({"text": "x", "mediaUuids": [other_creator_item]}),
        ))
        .await;
    assert_eq!(s, 400, "another creator's media is not in this library");
    let (s, b) = t
        .json(t.post(&path, json!({"text": "x", "price": 500})))
        .await;
    assert_eq!(s, 400);
    assert_errors_body(&b, &["price requires at least one item in mediaUuids"]);
    let (s, _) = t
        .json(t.post(
            &path,
            json!({"text": "x", "mediaUuids": [lib[0].0], "price": 299}),
        ))
        .await;
    assert_eq!(s, 400, "the minimum price holds");
    assert_eq!(t.sim.messages_sent(), 2, "exactly the two accepted sends");
    assert_eq!(
        t.sim.stats().by_endpoint["POST /chats/{userUuid}/message"],
        6
    );
    t.sim.stop().await;
}

fn count_text(t: &SimFixture, text: &str) -> usize {
    message_index(&t.sim.truth())
        .values()
        .filter(|m| m["text"] == text)
        .count()
}

#[tokio::test]
async fn fail_after_commit_creates_exactly_one_message_and_answers_500() {
    let t = spawn().await;
    let fan = t.fans()[0];
    t.sim.reset_stats();
    t.sim.patch_faults(FaultsPatch {
        send_fail_after_commit_rate: Some(1.0),
        ..Default::default()
    });
    let (s, b) = t
        .json(t.post(
            &format!("/chats/{fan}/message"),
            json!({"text": "did it arrive?"}),
        ))
        .await;
    assert_eq!(
        (s.as_u16(), b),
        (500, json!({"error": "Internal server error"}))
    );
    assert_eq!(count_text(&t, "did it arrive?"), 1, "the message exists");
    assert_eq!(t.sim.messages_sent(), 1);
    assert_eq!(t.sim.stats().injected_errors, 1);
    // Through the creator twin too.
    let member = t.sim.team_member_uuids()[0];
    let mt = t.token(member, TWIN_SCOPES);
    let (s, _) = t
        .json(t.post_as(
            &format!("/creators/{}/chats/{fan}/message", t.creator),
            &mt,
            json!({"text": "twin arrived?"}),
        ))
        .await;
    assert_eq!(s, 500);
    assert_eq!(count_text(&t, "twin arrived?"), 1);
    assert_eq!(t.sim.messages_sent(), 2);
    // Off again: 201.
    t.sim.patch_faults(FaultsPatch {
        send_fail_after_commit_rate: Some(0.0),
        ..Default::default()
    });
    t.send_text(&fan, "fine now").await;
    assert_eq!(t.sim.messages_sent(), 3);
    assert_eq!(t.sim.faults().send_contactability_rate, 0.0, "defaults off");
    t.sim.stop().await;
}

#[tokio::test]
async fn a_fan_made_uncontactable_gets_the_contactability_400() {
    let t = spawn().await;
    let fans = t.fans();
    let (fan, other) = (fans[0], fans[1]);
    let ctl = t.sim.control_url().unwrap();
    let r = t
        .http
        .post(format!("{ctl}/fans/{fan}"))
        .json(&json!({"contactable": false}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    t.sim.reset_stats();
    let (s, b) = t
        .json(t.post(&format!("/chats/{fan}/message"), json!({"text": "hello?"})))
        .await;
    assert_eq!(
        (s.as_u16(), b),
        (400, json!({"message": "This user cannot be messaged"}))
    );
    assert_eq!(count_text(&t, "hello?"), 0);
    t.send_text(&other, "others still fine").await;
    assert_eq!(t.sim.messages_sent(), 1);
    // The in-process switch, and back.
    t.sim.set_fan_contactable(&fan, true).unwrap();
    t.send_text(&fan, "hello again").await;
    t.sim.set_fan_contactable(&other, false).unwrap();
    let (s, _) = t
        .json(t.post(&format!("/chats/{other}/message"), json!({"text": "nope"})))
        .await;
    assert_eq!(s, 400);
    // The rate fault refuses every send alike.
    t.sim.patch_faults(FaultsPatch {
        send_contactability_rate: Some(1.0),
        ..Default::default()
    });
    let (s, b) = t
        .json(t.post(&format!("/chats/{fan}/message"), json!({"text": "rate"})))
        .await;
    assert_eq!(
        (s.as_u16(), b),
        (400, json!({"message": "This user cannot be messaged"}))
    );
    assert_eq!(t.sim.messages_sent(), 2);
    t.sim.stop().await;
}

#[tokio::test]
async fn hostile_scenario_produces_hostile_names_and_texts_and_is_off_by_default() {
    let mut cfg = small();
    cfg.scenario.hostile_names = true;
    let t = spawn_with(cfg).await;
    let truth = t.sim.truth();
    let mut names = Vec::new();
    let mut handles = Vec::new();
    let mut nicknames = Vec::new();
    for c in truth["creators"].as_array().unwrap() {
        for chat in c["chats"].as_array().unwrap() {
            names.push(chat["fan"]["displayName"].as_str().unwrap().to_string());
            handles.push(chat["fan"]["handle"].as_str().unwrap().to_string());
            if let Some(n) = chat["fan"]["nickname"].as_str() {
                nicknames.push(n.to_string());
            }
        }
    }
    for h in switchboard::sim::hostile::NAMES {
        assert!(names.iter().any(|n| n == h), "display name {h:?}");
        assert!(nicknames.iter().any(|n| n == h), "nickname {h:?}");
    }
    assert!(handles.iter().any(|h| h.contains("<script>")));
    assert!(names.iter().any(|n| n.contains('\u{202E}')));
    assert!(names.iter().any(|n| n.contains('\u{200D}')));
    let texts: Vec<String> = message_index(&truth)
        .values()
        .filter_map(|m| m["text"].as_str().map(str::to_string))
        .collect();
    assert!(texts.iter().all(|x| x.chars().count() <= 5000));
    let long = switchboard::sim::hostile::long_word();
    assert!(texts.contains(&long), "the 5,000-character word");
    assert!(
        texts
            .iter()
            .any(|x| x.contains("<script>alert(1)</script>"))
    );
    assert!(texts.iter().any(|x| x.contains("onerror=alert(1)")));
    assert!(texts.iter().any(|x| x.contains('\u{202E}')));
    // Deterministic: a second world is identical.
    let mut cfg = small();
    cfg.scenario.hostile_names = true;
    let u = spawn_with(cfg).await;
    let strip = |mut v: Value| {
        v.as_object_mut().unwrap().remove("now");
        v
    };
    assert_eq!(strip(truth), strip(u.sim.truth()));
    // The API serves them as-is, and messages with them can be sent back.
    let fan = t.fans()[0];
    t.send_text(&fan, &long).await;
    // Off by default: nothing hostile anywhere.
    let plain = spawn().await;
    let all = plain.sim.truth().to_string();
    for bad in [
        "<script>",
        "onerror",
        "\u{202E}",
        "\u{200D}",
        "WWWWWWWWWWWWWWWWWWWW",
    ] {
        assert!(!all.contains(bad), "{bad:?} in a default world");
    }
    for h in [t.sim, u.sim, plain.sim] {
        h.stop().await;
    }
}

#[tokio::test]
async fn control_hooks_say_buy_and_tip_with_their_webhooks() {
    let mut cfg = small();
    cfg.scenario.purchase_probability = 0.0;
    let t = spawn_with(cfg).await;
    let (url, _got, rh) = receiver(vec![]).await;
    t.sim.register_webhook(&url, &[]);
    let ctl = t.sim.control_url().unwrap();
    let fan = t.fans()[0];
    let bodies = |topic: &str| -> Vec<Value> {
        t.sim
            .deliveries()
            .iter()
            .filter(|d| d.event == topic && d.outcome == "delivered")
            .map(|d| serde_json::from_str(&d.body).unwrap())
            .collect()
    };
    // Fan says, over the control API.
    let r = t
        .http
        .post(format!("{ctl}/fans/{fan}/message"))
        .json(&json!({"creator": t.creator, "text": "are you there?"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let said: Value = r.json().await.unwrap();
    wait_for(|| !bodies("message.received").is_empty()).await;
    let ev = &bodies("message.received")[0];
    assert_documented_payload("message.received", ev);
    assert_eq!(ev["messageUuid"], said["messageUuid"]);
    assert_eq!(ev["message"]["text"], "are you there?");
    assert_eq!(ev["sender"]["uuid"], fan.to_string());
    let (_, h) = t
        .json(t.get(&format!("/chats/{fan}/messages?size=1&markAsRead=false")))
        .await;
    assert_eq!(h["data"][0]["uuid"], said["messageUuid"]);
    // In process too.
    let m2 = t.sim.fan_says(&t.creator, &fan, "and again").unwrap();
    wait_for(|| bodies("message.received").len() >= 2).await;
    assert_eq!(bodies("message.received")[1]["messageUuid"], m2.to_string());
    // Fan buys a PPV over the control API; a second buy is refused.
    let item = t.library()[0];
    let (s, b) = t
        .json(t.post(
            &format!("/chats/{fan}/message"),
            json!({"text": "unlock", "mediaUuids": [item], "price": 800}),
        ))
        .await;
    assert_eq!(s, 201);
    let ppv = b["messageUuid"].as_str().unwrap().to_string();
    let buy = |u: String| t.http.post(format!("{ctl}/messages/{u}/purchase")).send();
    assert_eq!(buy(ppv.clone()).await.unwrap().status(), 200);
    assert_eq!(buy(ppv.clone()).await.unwrap().status(), 400);
    assert_eq!(buy(Uuid::new_v4().to_string()).await.unwrap().status(), 404);
    wait_for(|| !bodies("purchase.new").is_empty()).await;
    let p = &bodies("purchase.new")[0];
    assert_documented_payload("purchase.new", p);
    assert_eq!(
        (p["routeUuid"].as_str().unwrap(), p["price"].as_u64()),
        (ppv.as_str(), Some(800))
    );
    let truth = t.sim.truth();
    assert!(
        truth["purchases"]
            .as_array()
            .unwrap()
            .iter()
            .any(|x| x["messageUuid"] == ppv.as_str())
    );
    // Fan tips on that message over the control API, and on a post in process.
    let r = t
        .http
        .post(format!("{ctl}/fans/{fan}/tip"))
        .json(&json!({"creator": t.creator, "amount": 450, "messageUuid": ppv}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let tip: Value = r.json().await.unwrap();
    t.sim.fan_tips(&t.creator, &fan, 1000, None).unwrap();
    wait_for(|| bodies("tip.new").len() >= 2).await;
    let tips = bodies("tip.new");
    assert_documented_payload("tip.new", &tips[0]);
    assert_eq!(
        (tips[0]["context"].as_str(), tips[0]["price"].as_u64()),
        (Some("message"), Some(450))
    );
    assert_eq!(tips[0]["messageUuid"].as_str(), Some(ppv.as_str()));
    assert_eq!(
        (tips[1]["context"].as_str(), tips[1]["price"].as_u64()),
        (Some("post"), Some(1000))
    );
    let idx = message_index(&t.sim.truth());
    assert_eq!(idx[tip["tipMessageUuid"].as_str().unwrap()]["type"], "TIP");
    // Refusals: unknown fan, a fan of another creator, a fan message as the tipped one.
    let r = t
        .http
        .post(format!("{ctl}/fans/{}/message", Uuid::new_v4()))
        .json(&json!({"creator": t.creator, "text": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let stranger = t.sim.fan_uuids(&t.sim.creator_uuids()[1])[0];
    assert!(t.sim.fan_says(&t.creator, &stranger, "x").is_err());
    assert!(t.sim.fan_tips(&t.creator, &fan, 100, Some(&m2)).is_err());
    assert!(t.sim.fan_says(&t.creator, &fan, "").is_err());
    rh.stop(true).await;
    t.sim.stop().await;
}
