//! The Fanvue client against the simulator: rate-limit budget, Retry-After,
//! retries that never repeat a send, tolerant decoding, and reads that never
//! mark a chat read. No database needed.

use std::time::{Duration, Instant};

use futures_util::StreamExt;
use secrecy::SecretString;
use switchboard::config::Settings;
use switchboard::fanvue::client::{ChatsQuery, RetryPolicy};
use switchboard::fanvue::models::{BatchEntry, BatchRequest, SendMessage};
use switchboard::fanvue::{CallAuth, FanvueClient, FanvueError, Priority};
use switchboard::sim::faults::FaultsPatch;
use switchboard::sim::{SimConfig, SimHandle};

const SCOPES: &[&str] = &[
    "read:self",
    "read:chat",
    "write:chat",
    "read:fan",
    "offline_access",
];

async fn sim(tweak: impl FnOnce(&mut SimConfig)) -> SimHandle {
    let mut cfg = SimConfig::default();
    cfg.scenario.creators = 1;
    cfg.scenario.fans_per_creator = 8;
    cfg.scenario.messages_per_chat = 10;
    cfg.scenario.uncontactable_share = 0.0;
    tweak(&mut cfg);
    switchboard::sim::start(cfg).await.expect("simulator")
}

fn client(sim: &SimHandle) -> FanvueClient {
    let mut settings = Settings::for_tests("postgres://127.0.0.1/unused").fanvue;
    settings.api_url = url::Url::parse(&sim.api_base_url()).unwrap();
    settings.auth_url = url::Url::parse(sim.auth_base_url()).unwrap();
    settings.api_version = sim.api_version().to_owned();
    FanvueClient::new(&settings).unwrap()
}

fn creator_auth(sim: &SimHandle, priority: Priority) -> (uuid::Uuid, CallAuth) {
    let creator = sim.creator_uuids()[0];
    let t = sim
        .issue_token(&creator.to_string(), SCOPES)
        .expect("token");
    (
        creator,
        CallAuth {
            token: SecretString::from(t.access_token),
            bucket: creator.to_string(),
            priority,
            meter: None,
        },
    )
}

#[tokio::test]
async fn forced_429_with_retry_after_2_is_waited_out_then_succeeds() {
    let sim = sim(|c| c.rate_limit.window_ms = 2000).await;
    let client = client(&sim);
    let (creator, auth) = creator_auth(&sim, Priority::Interactive);
    sim.patch_faults(FaultsPatch {
        force_429: Some(true),
        ..Default::default()
    });
    let started = Instant::now();
    let call = client.me(&auth);
    let lift = async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        sim.patch_faults(FaultsPatch {
            force_429: Some(false),
            ..Default::default()
        });
    };
    let (me, ()) = tokio::join!(call, lift);
    let me = me.expect("succeeds after waiting");
    assert_eq!(me.uuid, creator);
    assert!(
        started.elapsed() >= Duration::from_secs(2),
        "waited only {:?}",
        started.elapsed()
    );
    assert_eq!(
        sim.stats().rate_limited,
        1,
        "no retry before Retry-After passed"
    );
}

#[tokio::test]
async fn a_burst_of_1000_calls_against_50_per_window_gets_no_429() {
    let sim = sim(|c| {
        c.rate_limit.limit = 50;
        c.rate_limit.window_ms = 1000;
    })
    .await;
    let client = client(&sim);
    let (_, auth) = creator_auth(&sim, Priority::Interactive);
    let results: Vec<_> = futures_util::stream::iter(0..1000)
        .map(|_| client.unread(&auth))
        .buffer_unordered(16)
        .collect()
        .await;
    assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 1000);
    let stats = sim.stats();
    assert_eq!(stats.rate_limited, 0, "our own pacing caused 429s");
    assert_eq!(stats.total_requests, 1000);
    let st = client.budget().status(&auth.bucket).await.unwrap();
    assert_eq!(st.limit, 50, "the real limit was learned from the headers");
}

#[tokio::test]
async fn background_work_leaves_the_reserve_to_interactive_sends() {
    let sim = sim(|c| {
        c.rate_limit.limit = 10;
        c.rate_limit.window_ms = 60_000;
    })
    .await;
    let client = client(&sim);
    let (_, bg) = creator_auth(&sim, Priority::Background);
    for _ in 0..8 {
        client.unread(&bg).await.unwrap();
    }
    // 20 % of 10 is reserved: a ninth background call has to wait ...
    assert!(
        tokio::time::timeout(Duration::from_millis(300), client.unread(&bg))
            .await
            .is_err()
    );
    // ... while a chatter's call goes straight through.
    let interactive = CallAuth {
        priority: Priority::Interactive,
        ..bg.clone()
    };
    // Not held back for the 60 s window (generous bound for a loaded machine).
    tokio::time::timeout(Duration::from_secs(5), client.unread(&interactive))
        .await
        .expect("not delayed")
        .unwrap();
    assert_eq!(sim.stats().rate_limited, 0);
}

#[tokio::test]
async fn server_errors_are_retried_for_reads_and_sends_are_never_repeated() {
    let sim = sim(|_| {}).await;
    let client = client(&sim).with_retry(RetryPolicy {
        max_attempts: 12,
        base_delay: Duration::from_millis(2),
        max_rate_limited: 5,
    });
    let (creator, auth) = creator_auth(&sim, Priority::Interactive);
    let fan = sim.fan_uuids(&creator)[0];
    sim.patch_faults(FaultsPatch {
        api_error_rate: Some(0.3),
        ..Default::default()
    });
    for _ in 0..30 {
        client
            .unread(&auth)
            .await
            .expect("reads survive 30 % server errors");
    }
    assert!(sim.stats().injected_errors > 0, "faults were injected");

    let before = sim
        .stats()
        .by_endpoint
        .get("POST /chats/{userUuid}/message")
        .copied()
        .unwrap_or(0);
    let mut ok = Vec::new();
    let mut failed = 0;
    for i in 0..20 {
        let msg = SendMessage {
            text: Some(format!("probe-{i}")),
            media_uuids: vec![],
            price: None,
            template_uuid: None,
        };
        match client.send_message(&auth, fan, &msg).await {
            Ok(sent) => ok.push((i, sent.message_uuid)),
            Err(FanvueError::Server { .. }) => failed += 1,
            Err(other) => panic!("unexpected {other:?}"),
        }
    }
    let attempts = sim
        .stats()
        .by_endpoint
        .get("POST /chats/{userUuid}/message")
        .copied()
        .unwrap_or(0)
        - before;
    assert_eq!(attempts, 20, "each send went out exactly once");
    assert!(
        failed > 0 && !ok.is_empty(),
        "ok {} failed {failed}",
        ok.len()
    );

    sim.patch_faults(FaultsPatch {
        api_error_rate: Some(0.0),
        ..Default::default()
    });
    let page = client.chat_messages(&auth, fan, 1, 50).await.unwrap();
    let probes: Vec<&str> = page
        .items
        .iter()
        .filter_map(|m| m.text.as_deref())
        .filter(|t| t.starts_with("probe-"))
        .collect();
    assert_eq!(
        probes.len(),
        ok.len(),
        "exactly the acknowledged sends exist, none twice"
    );
    for (i, uuid) in &ok {
        assert!(
            page.items
                .iter()
                .any(|m| m.uuid == *uuid && m.text.as_deref() == Some(&format!("probe-{i}")))
        );
    }
}

#[tokio::test]
async fn a_malformed_batch_item_is_skipped_and_unknown_types_are_kept() {
    let sim = sim(|_| {}).await;
    let client = client(&sim);
    let (creator, auth) = creator_auth(&sim, Priority::Background);
    let fans = sim.fan_uuids(&creator);
    sim.patch_faults(FaultsPatch {
        batch_malformed_item: Some(true),
        unknown_type_rate: Some(1.0),
        unknown_type_value: Some("HOLOGRAM_MESSAGE".into()),
        ..Default::default()
    });
    let req = BatchRequest {
        chat_uuids: fans.clone(),
        since_message_uuid: None,
        limit: Some(50),
    };
    let resp = client
        .messages_batch(&auth, &req)
        .await
        .expect("the batch is not sunk by one bad item");
    let mut skipped = 0;
    let mut messages = 0;
    for entry in resp.by_chat.values() {
        if let BatchEntry::Ok(chat) = entry {
            skipped += chat.skipped.len();
            messages += chat.messages.len();
            assert!(chat.messages.iter().all(|m| m.kind == "HOLOGRAM_MESSAGE"));
        }
    }
    assert!(skipped >= 1, "the malformed item was reported");
    assert!(messages > 0);
}

#[tokio::test]
async fn reading_history_never_marks_a_chat_read() {
    let sim = sim(|_| {}).await;
    let client = client(&sim);
    let (_, auth) = creator_auth(&sim, Priority::Background);
    let chats = client.chats(&auth, &ChatsQuery::default()).await.unwrap();
    let unread: Vec<_> = chats
        .items
        .iter()
        .filter(|c| c.unread_messages_count.unwrap_or(0) > 0)
        .collect();
    assert!(!unread.is_empty(), "the scenario has unread chats");
    for c in &unread {
        client
            .chat_messages(&auth, c.user.uuid, 1, 50)
            .await
            .unwrap();
    }
    let after = client.chats(&auth, &ChatsQuery::default()).await.unwrap();
    for c in unread {
        let again = after
            .items
            .iter()
            .find(|a| a.user.uuid == c.user.uuid)
            .unwrap();
        assert_eq!(
            again.unread_messages_count, c.unread_messages_count,
            "reading marked {} read",
            c.user.uuid
        );
    }
}

#[tokio::test]
async fn errors_are_mapped_from_real_responses() {
    let sim = sim(|_| {}).await;
    let client = client(&sim);
    let creator = sim.creator_uuids()[0];
    let t = sim
        .issue_token(&creator.to_string(), &["read:self"])
        .unwrap();
    let narrow = CallAuth {
        token: SecretString::from(t.access_token),
        bucket: creator.to_string(),
        priority: Priority::Interactive,
        meter: None,
    };
    assert_eq!(
        client.unread(&narrow).await.unwrap_err(),
        FanvueError::InsufficientScope
    );
    let bogus = CallAuth {
        token: SecretString::from("not-a-token".to_owned()),
        ..narrow.clone()
    };
    assert!(matches!(
        client.me(&bogus).await,
        Err(FanvueError::Unauthorized(_))
    ));
    let (_, auth) = creator_auth(&sim, Priority::Interactive);
    let stranger = uuid::Uuid::new_v4();
    assert!(matches!(
        client.chat_messages(&auth, stranger, 1, 10).await,
        Err(FanvueError::NotFound(_))
    ));
    let bad = BatchRequest {
        chat_uuids: vec![],
        since_message_uuid: None,
        limit: Some(51),
    };
    assert!(
        matches!(client.messages_batch(&auth, &bad).await, Err(FanvueError::Validation(e)) if !e.is_empty())
    );
}

#[tokio::test]
async fn custom_list_members_are_added_skipped_and_removed() {
    let sim = sim(|_| {}).await;
    let client = client(&sim);
    let (creator, auth) = creator_auth(&sim, Priority::Interactive);
    let lists = client.custom_lists(&auth, 1, 50).await.unwrap();
    let list: uuid::Uuid = lists.items[0].uuid.parse().unwrap();
    let before = list_members(&client, &auth, list).await;
    let fan = sim
        .fan_uuids(&creator)
        .into_iter()
        .find(|f| !before.contains(f))
        .expect("a fan off the list");
    let added = client
        .add_custom_list_members(&auth, list, &[fan])
        .await
        .unwrap();
    assert_eq!((added.added, added.skipped), (1, 0));
    let again = client
        .add_custom_list_members(&auth, list, &[fan])
        .await
        .unwrap();
    assert_eq!((again.added, again.skipped), (0, 1), "a repeat is harmless");
    assert!(list_members(&client, &auth, list).await.contains(&fan));
    client
        .remove_custom_list_member(&auth, list, fan)
        .await
        .unwrap();
    assert_eq!(list_members(&client, &auth, list).await, before);
    let missing = client
        .custom_list_members(&auth, uuid::Uuid::new_v4(), 1, 10)
        .await
        .unwrap_err();
    assert!(matches!(missing, FanvueError::NotFound(_)), "{missing:?}");
}

async fn list_members(c: &FanvueClient, a: &CallAuth, list: uuid::Uuid) -> Vec<uuid::Uuid> {
    let mut all = Vec::new();
    for page in 1..=10 {
        let p = c.custom_list_members(a, list, page, 3).await.unwrap();
        all.extend(p.items.into_iter().map(|u| u.uuid));
        if !p.has_more {
            break;
        }
    }
    all
}
