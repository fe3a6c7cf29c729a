//! Rate-limit headers, windows, 429s and per-endpoint buckets.

use std::time::Duration;

use serde_json::Value;
use switchboard::sim::FaultsPatch;
use uuid::Uuid;

use crate::fixture::*;

#[tokio::test]
async fn rate_limit_headers_and_429_after_exactly_limit_requests() {
    let mut cfg = small();
    cfg.rate_limit.enabled = true;
    cfg.rate_limit.limit = 5;
    let t = spawn_with(cfg).await;
    for i in 0..5 {
        let r = t.get("/users/me").send().await.unwrap();
        assert_eq!(r.status(), 200, "request {i}");
        let h = r.headers();
        assert_eq!(h["x-ratelimit-limit"], "5");
        assert_eq!(h["x-ratelimit-remaining"], (4 - i).to_string().as_str());
        assert!(
            h["x-ratelimit-reset"]
                .to_str()
                .unwrap()
                .parse::<i64>()
                .unwrap()
                > 0
        );
    }
    let r = t.get("/users/me").send().await.unwrap();
    assert_eq!(r.status(), 429);
    let retry: i64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry));
    assert_eq!(r.headers()["x-ratelimit-remaining"], "0");
    let b: Value = r.json().await.unwrap();
    assert!(b["error"].is_string());
    // Creator-scoped routes draw from their own bucket.
    let r = t
        .get(&format!("/creators/{}/chats", t.creator))
        .send()
        .await
        .unwrap();
    assert_ne!(r.status(), 429);
    let stats = t.sim.stats();
    assert_eq!(stats.rate_limited, 1);
    assert_eq!(stats.by_endpoint["GET /users/me"], 6);
    assert_eq!(stats.by_bucket.len(), 2);
    // A new window refills the bucket.
    t.sim.advance_clock(Duration::from_secs(61));
    assert_eq!(t.get("/users/me").send().await.unwrap().status(), 200);
    t.sim.stop().await;
}

#[tokio::test]
async fn per_endpoint_limit_override_has_its_own_bucket_and_header() {
    let mut cfg = small();
    cfg.rate_limit.enabled = true;
    cfg.rate_limit.limit = 10;
    cfg.rate_limit
        .overrides
        .insert("GET /chats/unread".into(), 2);
    let t = spawn_with(cfg).await;
    for want in ["1", "0"] {
        let r = t.get("/chats/unread").send().await.unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(r.headers()["x-ratelimit-limit"], "2");
        assert_eq!(r.headers()["x-ratelimit-remaining"], want);
    }
    assert_eq!(t.get("/chats/unread").send().await.unwrap().status(), 429);
    let r = t.get("/users/me").send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-ratelimit-limit"], "10");
    assert_eq!(r.headers()["x-ratelimit-remaining"], "9");
    // The forced-429 fault reports each endpoint's own limit.
    t.sim.patch_faults(FaultsPatch {
        force_429: Some(true),
        ..Default::default()
    });
    for (path, limit) in [("/chats/unread", "2"), ("/users/me", "10")] {
        let r = t.get(path).send().await.unwrap();
        assert_eq!(r.status(), 429);
        assert_eq!(r.headers()["x-ratelimit-limit"], limit, "{path}");
        assert_eq!(r.headers()["x-ratelimit-remaining"], "0");
    }
    t.sim.stop().await;
}

#[tokio::test]
async fn rate_limit_headers_ride_on_errors_after_authentication_too() {
    let mut cfg = small();
    cfg.rate_limit.enabled = true;
    cfg.rate_limit.limit = 3;
    let t = spawn_with(cfg).await;
    let no_chat = t.token(t.creator, &["read:self"]);
    // 403 (scope) and 404 (no conversation) are charged to the bucket and carry headers.
    let r = t.get_as("/chats", &no_chat).send().await.unwrap();
    assert_eq!(r.status(), 403);
    assert_eq!(r.headers()["x-ratelimit-remaining"], "2");
    let r = t
        .get(&format!("/chats/{}/messages", Uuid::new_v4()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(r.headers()["x-ratelimit-limit"], "3");
    assert_eq!(r.headers()["x-ratelimit-remaining"], "1");
    let ok = t.get("/users/me").send().await.unwrap();
    assert_eq!(ok.headers()["x-ratelimit-remaining"], "0");
    let reset: i64 = ok.headers()["x-ratelimit-reset"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    let r = t.get("/users/me").send().await.unwrap();
    assert_eq!(r.status(), 429);
    let h = r.headers();
    assert_eq!(h["x-ratelimit-limit"], "3");
    assert_eq!(h["x-ratelimit-remaining"], "0");
    assert_eq!(h["x-ratelimit-reset"].to_str().unwrap(), reset.to_string());
    let retry: i64 = h["retry-after"].to_str().unwrap().parse().unwrap();
    // Reset is wall-clock unix seconds (the simulated clock sits at a fixed epoch), within
    // one window of now, and Retry-After waits until about then.
    let now = chrono::Utc::now().timestamp();
    assert!(reset >= now && reset <= now + 61, "reset={reset} now={now}");
    assert!(
        retry >= 1 && retry <= reset - now + 1,
        "retry={retry} reset={reset} now={now}"
    );
    let b: Value = r.json().await.unwrap();
    assert_eq!(keys(&b), set(&["error"]));
    // Still empty: a second 429, not a refill.
    assert_eq!(t.get("/users/me").send().await.unwrap().status(), 429);
    t.sim.stop().await;
}

#[tokio::test]
async fn rate_limit_window_is_configurable() {
    let mut cfg = small();
    cfg.rate_limit.enabled = true;
    cfg.rate_limit.limit = 2;
    cfg.rate_limit.window_ms = 1_000;
    let t = spawn_with(cfg).await;
    t.sim.freeze_clock(true);
    for want in [200, 200, 429] {
        assert_eq!(t.get("/users/me").send().await.unwrap().status(), want);
    }
    let r = t.get("/users/me").send().await.unwrap();
    assert_eq!(
        r.headers()["retry-after"],
        "1",
        "a 1 s window waits at most 1 s"
    );
    t.sim.advance_clock(Duration::from_millis(999));
    assert_eq!(t.get("/users/me").send().await.unwrap().status(), 429);
    t.sim.advance_clock(Duration::from_millis(1));
    let r = t.get("/users/me").send().await.unwrap();
    assert_eq!(r.status(), 200, "the window ended: full bucket again");
    assert_eq!(r.headers()["x-ratelimit-remaining"], "1");
    t.sim.stop().await;
}
