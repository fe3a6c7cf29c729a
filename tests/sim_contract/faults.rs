//! Injected faults: forced 429s, 5xx, latency, dropped, paused and duplicated webhooks.

use std::time::Duration;

use switchboard::sim::FaultsPatch;

use crate::fixture::*;

#[tokio::test]
async fn forced_429_and_injected_5xx_faults() {
    let t = spawn().await;
    t.sim.patch_faults(FaultsPatch {
        force_429: Some(true),
        ..Default::default()
    });
    let r = t.get("/users/me").send().await.unwrap();
    assert_eq!(r.status(), 429);
    assert!(r.headers().contains_key("retry-after"));
    t.sim.patch_faults(FaultsPatch {
        force_429: Some(false),
        api_error_rate: Some(1.0),
        api_error_status: Some(503),
        ..Default::default()
    });
    assert_eq!(t.get("/users/me").send().await.unwrap().status(), 503);
    assert_eq!(t.sim.stats().injected_errors, 1);
    t.sim.stop().await;
}

#[tokio::test]
async fn webhook_drop_and_pause_faults() {
    let t = spawn().await;
    let (url, got, rh) = receiver(vec![]).await;
    t.sim.register_webhook(&url, &[]);
    t.sim.patch_faults(FaultsPatch {
        webhook_drop_rate: Some(1.0),
        ..Default::default()
    });
    let n = t.sim.generate_activity(30);
    assert!(n > 0);
    wait_for(|| t.sim.deliveries().len() >= n).await;
    assert!(t.sim.deliveries().iter().all(|d| d.outcome == "dropped"));
    assert!(got.lock().is_empty());
    t.sim.patch_faults(FaultsPatch {
        webhook_drop_rate: Some(0.0),
        webhook_paused: Some(true),
        ..Default::default()
    });
    let mut m = 0;
    while m == 0 {
        m = t.sim.generate_activity(10);
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(got.lock().is_empty(), "paused: nothing delivered");
    t.sim.patch_faults(FaultsPatch {
        webhook_paused: Some(false),
        ..Default::default()
    });
    wait_for(|| got.lock().len() >= m).await;
    assert_eq!(got.lock().len(), m);
    rh.stop(true).await;
    t.sim.stop().await;
}

#[tokio::test]
async fn duplicate_fault_resends_the_same_event_with_the_same_event_id() {
    let mut cfg = small();
    cfg.webhooks.event_id_header = Some("X-Fanvue-Event-Id".into());
    let t = spawn_with(cfg).await;
    let (url, got, rh) = receiver(vec![]).await;
    t.sim.register_webhook(&url, &[]);
    t.sim.patch_faults(FaultsPatch {
        webhook_duplicate_rate: Some(1.0),
        webhook_reorder: Some(true),
        ..Default::default()
    });
    let mut n = 0;
    while n == 0 {
        n = t.sim.generate_activity(5);
    }
    wait_for(|| got.lock().len() >= 2 * n).await;
    let items = got.lock().clone();
    assert_eq!(items.len(), 2 * n);
    let mut ids: std::collections::HashMap<String, Vec<String>> = Default::default();
    for (h, body) in &items {
        ids.entry(h["x-fanvue-event-id"].clone())
            .or_default()
            .push(body.clone());
    }
    assert_eq!(ids.len(), n);
    assert!(ids.values().all(|b| b.len() == 2 && b[0] == b[1]));
    rh.stop(true).await;
    t.sim.stop().await;
}

#[tokio::test]
async fn api_latency_and_webhook_delay_faults_slow_things_down() {
    let t = spawn().await;
    t.sim.patch_faults(FaultsPatch {
        api_latency_ms: Some(150),
        ..Default::default()
    });
    let t0 = std::time::Instant::now();
    assert_eq!(t.get("/users/me").send().await.unwrap().status(), 200);
    assert!(t0.elapsed() >= Duration::from_millis(150));
    let (url, got, rh) = receiver(vec![]).await;
    t.sim.register_webhook(&url, &[]);
    t.sim.patch_faults(FaultsPatch {
        api_latency_ms: Some(0),
        webhook_delay_ms: Some(2000),
        ..Default::default()
    });
    let mut n = 0;
    while n == 0 {
        n = t.sim.generate_activity(5);
    }
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert!(got.lock().is_empty(), "still delayed");
    wait_for(|| got.lock().len() >= n).await;
    assert_eq!(got.lock().len(), n);
    rh.stop(true).await;
    t.sim.stop().await;
}
