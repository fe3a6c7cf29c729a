//! Insights feeds: `GET /insights/earnings` and `GET /insights/spending` (self and
//! creator-scoped twins), consistent with the simulator's truth, with cursor paging,
//! date filters, the `read:insights` scope and the earnings fault knobs.

use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::Value;
use switchboard::sim::FaultsPatch;

use crate::fixture::*;

const WITH_INSIGHTS: &[&str] = &["read:self", "read:chat", "read:insights", "read:creator"];

/// Every line of a feed, walked with `size` per page; asserts the cursor ends.
async fn walk(t: &SimFixture, token: &str, path: &str, size: usize) -> (Vec<Value>, usize) {
    let mut out = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let sep = if path.contains('?') { '&' } else { '?' };
        let url = match &cursor {
            Some(c) => format!("{path}{sep}size={size}&cursor={c}"),
            None => format!("{path}{sep}size={size}"),
        };
        let (s, b) = t.json(t.get_as(&url, token)).await;
        assert_eq!(s, 200, "{url}: {b}");
        pages += 1;
        let data = b["data"].as_array().expect("data array");
        assert!(data.len() <= size);
        out.extend(data.iter().cloned());
        match b["nextCursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => return (out, pages),
        }
        assert!(pages < 1000, "cursor never ends");
    }
}

fn creator_truth(t: &SimFixture) -> Value {
    let truth = t.sim.truth();
    let mut v = truth.clone();
    let me = t.creator.to_string();
    for k in ["purchases", "tips"] {
        let kept: Vec<Value> = truth[k]
            .as_array()
            .unwrap()
            .iter()
            .filter(|p| p["creatorUuid"] == me.as_str())
            .cloned()
            .collect();
        v[k] = Value::Array(kept);
    }
    v
}

#[tokio::test]
async fn earnings_lines_match_the_truth_and_page_by_cursor_without_gaps_or_repeats() {
    let t = spawn().await;
    let tok = t.token(t.creator, WITH_INSIGHTS);
    let truth = creator_truth(&t);
    let (lines, pages) = walk(&t, &tok, "/insights/earnings", 7).await;
    assert!(pages > 1, "several pages");
    // Every PPV purchase is one `message` line with its message uuid and price.
    let want: BTreeSet<(String, i64, String)> = truth["purchases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["messageUuid"].as_str().unwrap().to_owned(),
                p["price"].as_i64().unwrap(),
                p["fanUuid"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert!(!want.is_empty(), "the scenario has purchases");
    let got: BTreeSet<(String, i64, String)> = lines
        .iter()
        .filter(|l| l["source"] == "message")
        .map(|l| {
            (
                l["messageUuid"].as_str().unwrap().to_owned(),
                l["gross"].as_i64().unwrap(),
                l["user"]["uuid"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(got, want);
    let tips = lines.iter().filter(|l| l["source"] == "tip").count();
    assert_eq!(tips, truth["tips"].as_array().unwrap().len());
    assert!(lines.iter().any(|l| l["source"] == "subscription"));
    // No line twice; newest first; documented + SDK fields present.
    let ids: BTreeSet<&str> = lines
        .iter()
        .map(|l| l["transactionOrderId"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), lines.len());
    let dates: Vec<&str> = lines.iter().map(|l| l["date"].as_str().unwrap()).collect();
    let mut sorted = dates.clone();
    sorted.sort_by(|a, b| b.cmp(a));
    assert_eq!(dates, sorted);
    let l = &lines[0];
    for k in ["date", "gross", "net", "currency", "source", "user"] {
        assert!(!l[k].is_null(), "{k} in {l}");
    }
    assert_eq!(
        l["net"].as_i64().unwrap(),
        l["gross"].as_i64().unwrap() * 80 / 100
    );
    assert!(l.get("transactionOrderStatus").is_some());
    t.sim.stop().await;
}

#[tokio::test]
async fn date_filters_are_start_inclusive_end_exclusive_and_size_is_validated() {
    let t = spawn().await;
    let tok = t.token(t.creator, WITH_INSIGHTS);
    let (all, _) = walk(&t, &tok, "/insights/earnings", 50).await;
    let pivot = all[all.len() / 2]["date"].as_str().unwrap().to_owned();
    let enc = pivot.replace('+', "%2B");
    let (after, _) = walk(&t, &tok, &format!("/insights/earnings?startDate={enc}"), 50).await;
    let (before, _) = walk(&t, &tok, &format!("/insights/earnings?endDate={enc}"), 50).await;
    assert_eq!(after.len() + before.len(), all.len());
    assert!(
        after
            .iter()
            .all(|l| l["date"].as_str().unwrap() >= pivot.as_str())
    );
    assert!(
        before
            .iter()
            .all(|l| l["date"].as_str().unwrap() < pivot.as_str())
    );
    let (tips, _) = walk(&t, &tok, "/insights/earnings?source=tip", 50).await;
    assert!(tips.iter().all(|l| l["source"] == "tip"));
    let (s, b) = t.json(t.get_as("/insights/earnings?size=51", &tok)).await;
    assert_eq!(s, 400);
    assert!(b["errors"].is_array());
    let (s, _) = t
        .json(t.get_as("/insights/earnings?startDate=yesterday", &tok))
        .await;
    assert_eq!(s, 400);
    t.sim.stop().await;
}

#[tokio::test]
async fn insights_need_read_insights_and_the_twin_serves_a_managing_team_member() {
    let t = spawn().await;
    let without = t.token(t.creator, &["read:self", "read:chat"]);
    let (s, b) = t.json(t.get_as("/insights/earnings", &without)).await;
    assert_eq!(s, 403, "{b}");
    let (s, _) = t.json(t.get_as("/insights/spending", &without)).await;
    assert_eq!(s, 403);
    // An agency admin reads the creator's feed through the twin: the same lines.
    let admin = t.sim.team_member_uuids()[0];
    let admin_tok = t.token(admin, WITH_INSIGHTS);
    let own = t.token(t.creator, WITH_INSIGHTS);
    let (mine, _) = walk(&t, &own, "/insights/earnings", 50).await;
    let (twin, _) = walk(
        &t,
        &admin_tok,
        &format!("/creators/{}/insights/earnings", t.creator),
        50,
    )
    .await;
    assert_eq!(mine, twin);
    // A team member has no insights of their own.
    let (s, _) = t.json(t.get_as("/insights/earnings", &admin_tok)).await;
    assert_eq!(s, 403);
    t.sim.stop().await;
}

#[tokio::test]
async fn fault_knobs_strip_uuids_add_reversals_and_lag_the_feed() {
    let t = spawn().await;
    let tok = t.token(t.creator, WITH_INSIGHTS);
    let (spending, _) = walk(&t, &tok, "/insights/spending", 50).await;
    assert!(spending.is_empty(), "no reversals by default");

    t.sim.patch_faults(FaultsPatch {
        earnings_missing_uuid_rate: Some(1.0),
        ..FaultsPatch::default()
    });
    let (bare, _) = walk(&t, &tok, "/insights/earnings", 50).await;
    assert!(bare.iter().all(|l| l.get("messageUuid").is_none()
        && l.get("transactionOrderId").is_none()
        && l["user"]["uuid"].is_string()));

    t.sim.patch_faults(FaultsPatch {
        earnings_missing_uuid_rate: Some(0.0),
        refund_rate: Some(0.5),
        chargeback_rate: Some(1.0),
        reversal_after_secs: Some(60),
        ..FaultsPatch::default()
    });
    let purchases = creator_truth(&t)["purchases"].as_array().unwrap().len();
    let (rev, _) = walk(&t, &tok, "/insights/spending", 50).await;
    assert_eq!(
        rev.len(),
        purchases,
        "every purchase reversed one way or the other"
    );
    let refunds = rev.iter().filter(|l| l["source"] == "refund").count();
    let chargebacks = rev.iter().filter(|l| l["source"] == "chargeback").count();
    assert!(refunds > 0 && chargebacks > 0, "{refunds} {chargebacks}");
    assert!(rev.iter().all(|l| l["messageUuid"].is_string()));

    // Lag: a purchase made now appears only after the lag.
    t.sim.patch_faults(FaultsPatch {
        refund_rate: Some(0.0),
        chargeback_rate: Some(0.0),
        earnings_lag_secs: Some(600),
        ..FaultsPatch::default()
    });
    t.sim.freeze_clock(true);
    let (before, _) = walk(&t, &tok, "/insights/earnings", 50).await;
    let fan = t.fans()[0];
    let ppv = t
        .json(t.post(
            &format!("/chats/{fan}/message"),
            serde_json::json!({"text": "ppv", "price": 700, "mediaUuids": [t.library()[0]]}),
        ))
        .await
        .1["messageUuid"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    t.sim.fan_buys(&ppv).unwrap();
    let (still, _) = walk(&t, &tok, "/insights/earnings", 50).await;
    assert_eq!(still.len(), before.len(), "the new line is not visible yet");
    t.sim.advance_clock(Duration::from_secs(601));
    let tok = t.token(t.creator, WITH_INSIGHTS);
    let (after, _) = walk(&t, &tok, "/insights/earnings", 50).await;
    assert!(
        after
            .iter()
            .any(|l| l["messageUuid"] == ppv.to_string().as_str()),
        "the line appears after the lag"
    );
    t.sim.stop().await;
}
