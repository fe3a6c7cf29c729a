//! Generated scenarios and live activity: determinism by seed, ground truth, documented types.

use std::time::Duration;

use serde_json::Value;

use crate::fixture::*;

#[tokio::test]
async fn same_seed_gives_same_ground_truth_and_other_seed_differs() {
    let strip = |mut v: Value| {
        v.as_object_mut().unwrap().remove("now");
        v
    };
    let a = spawn().await;
    let b = spawn().await;
    let mut other = small();
    other.seed = 2;
    let c = spawn_with(other).await;
    let (ta, tb, tc) = (
        strip(a.sim.truth()),
        strip(b.sim.truth()),
        strip(c.sim.truth()),
    );
    assert_eq!(ta, tb);
    assert_ne!(ta, tc);
    assert_eq!(ta["creators"].as_array().unwrap().len(), 2);
    assert!(!ta["purchases"].as_array().unwrap().is_empty());
    assert!(!ta["tips"].as_array().unwrap().is_empty());
    for h in [a.sim, b.sim, c.sim] {
        h.stop().await;
    }
}

#[tokio::test]
async fn truth_purchases_follow_their_messages_and_control_api_serves_it() {
    let t = spawn().await;
    let truth: Value = t.control_json("/truth").await;
    let mut sent_at = std::collections::HashMap::new();
    for c in truth["creators"].as_array().unwrap() {
        for chat in c["chats"].as_array().unwrap() {
            for m in chat["messages"].as_array().unwrap() {
                sent_at.insert(
                    m["uuid"].as_str().unwrap().to_string(),
                    m["sentAt"].as_str().unwrap().to_string(),
                );
            }
        }
    }
    for p in truth["purchases"].as_array().unwrap() {
        let s = &sent_at[p["messageUuid"].as_str().unwrap()];
        assert!(p["purchasedAt"].as_str().unwrap() > s.as_str());
    }
    let info: Value = t.control_json("/info").await;
    assert_eq!(info["clientId"], t.sim.client_id());
    assert_eq!(info["creators"].as_array().unwrap().len(), 2);
    t.sim.stop().await;
}

#[tokio::test]
async fn background_live_mode_generates_activity_at_the_configured_rate() {
    let mut cfg = small();
    cfg.live.events_per_sec = 100.0;
    let t = spawn_with(cfg).await;
    let before = message_index(&t.sim.truth()).len();
    // 100 events/s for 1 s: about 100 events, of which more than a fifth
    // are messages (a full second rides out a short stall of a loaded runtime).
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let after = message_index(&t.sim.truth()).len();
    assert!(after > before + 20, "before={before} after={after}");
    t.sim.stop().await;
}

#[tokio::test]
async fn generated_message_types_and_media_types_come_from_the_documented_lists() {
    let mut cfg = small();
    cfg.scenario.creators = 4;
    cfg.scenario.messages_per_chat = 80;
    cfg.scenario.automated_share = 0.2;
    let t = spawn_with(cfg).await;
    let documented = set(&[
        "SINGLE_RECIPIENT",
        "CHAT_TEXT_REPLY",
        "CHAT_TEXT_GENERATION",
        "CHAT_TEXT_REWRITE",
        "BROADCAST",
        "TIP",
        "VOICE_CALL",
        "LOCKED_MESSAGE_UNLOCKED",
        "GHOST_PROMOTION",
        "MARKETING_KYC",
        "AUTOMATED_FIRST_MESSAGE_REPLY",
        "AUTOMATED_NEW_SUBSCRIBER",
        "AUTOMATED_NEW_FOLLOWER",
        "AUTOMATED_NEW_PURCHASE",
        "AUTOMATED_RE_SUBSCRIBED",
        "AUTOMATED_RENEWED",
        "AUTOMATED_CANCELED",
        "AUTOMATED_CHAT_MESSAGE_REPLY",
    ]);
    // The message-object guide's list: every value should occur in a world this size.
    let guide = set(&[
        "SINGLE_RECIPIENT",
        "CHAT_TEXT_REPLY",
        "CHAT_TEXT_GENERATION",
        "CHAT_TEXT_REWRITE",
        "TIP",
        "VOICE_CALL",
        "AUTOMATED_FIRST_MESSAGE_REPLY",
        "AUTOMATED_NEW_SUBSCRIBER",
        "AUTOMATED_NEW_FOLLOWER",
        "AUTOMATED_NEW_PURCHASE",
        "AUTOMATED_RE_SUBSCRIBED",
        "AUTOMATED_RENEWED",
        "AUTOMATED_CANCELED",
        "AUTOMATED_CHAT_MESSAGE_REPLY",
    ]);
    let msgs = message_index(&t.sim.truth());
    let types: std::collections::BTreeSet<String> = msgs
        .values()
        .map(|m| m["type"].as_str().unwrap().to_string())
        .collect();
    assert!(types.is_subset(&documented), "{types:?}");
    assert!(
        guide.is_subset(&types),
        "missing: {:?}",
        guide.difference(&types)
    );
    let media: std::collections::BTreeSet<String> = msgs
        .values()
        .filter_map(|m| m["mediaType"].as_str().map(str::to_string))
        .collect();
    assert_eq!(media, set(&["image", "video", "audio", "document"]));
    for m in msgs.values() {
        assert_eq!(
            m["hasMedia"],
            !m["mediaUuids"].as_array().unwrap().is_empty()
        );
        assert_eq!(
            m["mediaType"].is_null(),
            m["mediaUuids"].as_array().unwrap().is_empty()
        );
        if let Some(p) = m["pricing"].as_object() {
            assert!(p["USD"]["price"].as_u64().unwrap() >= 300);
        } else {
            assert_eq!(m["purchasedAt"], Value::Null);
        }
    }
    // Media-only messages exist and carry a null text.
    assert!(
        msgs.values()
            .any(|m| m["text"].is_null() && m["hasMedia"] == true)
    );
    t.sim.stop().await;
}

#[tokio::test]
async fn same_seed_gives_the_same_live_activity() {
    let strip = |mut v: Value| {
        v.as_object_mut().unwrap().remove("now");
        v
    };
    let a = spawn().await;
    let b = spawn().await;
    // Both clocks run from the same epoch but started a few ms apart: line them up.
    a.sim.freeze_clock(true);
    b.sim.freeze_clock(true);
    let (na, nb) = (a.sim.now(), b.sim.now());
    let lag = (na - nb).num_milliseconds();
    let behind = if lag > 0 { &b } else { &a };
    behind
        .sim
        .advance_clock(Duration::from_millis(lag.unsigned_abs()));
    assert_eq!(a.sim.now(), b.sim.now());
    for t in [&a, &b] {
        t.sim.generate_activity(150);
    }
    assert_eq!(strip(a.sim.truth()), strip(b.sim.truth()));
    for t in [a, b] {
        t.sim.stop().await;
    }
}
