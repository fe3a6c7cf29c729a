//! Applies stored webhook events to the mirror. Workers claim due events
//! with `SKIP LOCKED`; a claimed round is applied and marked processed in
//! one transaction (event by event if the round fails), so a crash between
//! claim and commit leaves it to be claimed again (its claim lapses) and it
//! is applied exactly once. Failures retry with exponential backoff and are
//! dead-lettered after `max_attempts`.
//! Every application is idempotent and order-independent. Events whose
//! creator was disconnected since intake are filed as unmatched, not applied.

use std::collections::BTreeSet;
use std::time::Duration;

use sqlx::PgPool;
use tokio::sync::watch;

use super::batch;
use super::events::{self, EventType};
use crate::config::WebhookSettings;
use crate::domain::{AgencyId, CreatorId, MessageKind, WebhookEventId};
use crate::store::chats::FanProfile;
use crate::store::messages::MessageUpsert;
use crate::store::webhooks::Claimed;
use crate::store::{self, StoreError};
use crate::task::AbortOnDrop;

/// A claim lapses this long after its last renewal: a crashed worker's events are
/// retried by another within it.
const CLAIM_SECS: f64 = 10.0;
/// How often a live worker renews the claim of the round it is applying, so a slow
/// round (waiting on locks or on a busy pool) is not taken over while alive.
const CLAIM_RENEW: std::time::Duration = std::time::Duration::from_secs(3);

/// Renews a claimed round's claim in the background until the guard is dropped.
fn keep_claimed(pool: &PgPool, claimed: &[Claimed]) -> AbortOnDrop {
    let ids: Vec<WebhookEventId> = claimed.iter().map(|c| c.id).collect();
    let pool = pool.clone();
    AbortOnDrop::spawn(async move {
        loop {
            tokio::time::sleep(CLAIM_RENEW).await;
            if let Err(e) = store::webhooks::extend_claim(&pool, &ids, CLAIM_SECS).await {
                tracing::warn!(error = %e, events = ids.len(), "webhook claim renewal failed");
            }
        }
    })
}

#[derive(Debug, thiserror::Error)]
pub enum ProcessError {
    #[error("payload no longer parses: {0}")]
    Payload(String),
    #[error("event has no creator")]
    NoCreator,
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

fn profile(p: &events::Person) -> FanProfile {
    FanProfile {
        uuid: p.uuid,
        handle: p.handle.clone(),
        display_name: p.display_name.clone(),
        avatar_url: p.avatar_url.clone(),
    }
}

fn decode<T: serde::de::DeserializeOwned>(v: &serde_json::Value) -> Result<T, ProcessError> {
    serde_json::from_value(v.clone()).map_err(|e| ProcessError::Payload(e.to_string()))
}

/// Applies one event inside `tx`. Tips and purchases are keyed by the
/// event's natural key (signed, unlike any id header), so a replay of the
/// same sale is one sale.
async fn apply(
    tx: &mut sqlx::PgConnection,
    event_type: EventType,
    agency: AgencyId,
    creator: CreatorId,
    payload: &serde_json::Value,
    natural_key: &str,
) -> Result<(), ProcessError> {
    let sale_key = format!("webhook:{natural_key}");
    match event_type {
        EventType::MessageReceived => {
            let e: events::MessageReceived = decode(payload)?;
            let m = MessageUpsert {
                uuid: e.message_uuid,
                fan_uuid: e.sender.uuid,
                sender_uuid: Some(e.sender.uuid),
                recipient_uuid: Some(e.recipient_uuid),
                outbound: false,
                text: e.message.text.clone(),
                sent_at: e.message.created_at.or(e.timestamp),
                // The webhook carries no type; reconcile replaces it with
                // Fanvue's own when it reads the message.
                kind: MessageKind::single_recipient(),
                has_media: e.message.has_media,
                media_type: None,
                media_uuids: e.message.media_uuids.clone(),
                price_cents: e.message.price,
                purchased_at: None,
                sent_by_user_uuid: None,
                is_read: false,
            };
            store::messages::insert_received(tx, agency, creator, &profile(&e.sender), &m).await?;
        }
        EventType::MessageRead => {
            let e: events::MessageRead = decode(payload)?;
            store::messages::apply_read(
                tx,
                creator,
                e.counterpart_uuid,
                e.read_messages_count,
                e.timestamp,
            )
            .await?;
        }
        EventType::Purchase => {
            let e: events::Purchase = decode(payload)?;
            // A post purchase has no message to join; it is kept as an event.
            if let Some(route) = e.route_uuid {
                store::purchases::record_purchase(
                    tx,
                    agency,
                    creator,
                    store::purchases::Purchase {
                        message_uuid: route,
                        fan_uuid: e.sender.as_ref().map(|s| s.uuid),
                        price_cents: e.price,
                        purchased_at: e.timestamp,
                        dedupe_key: &sale_key,
                    },
                )
                .await?;
            }
        }
        EventType::Tip => {
            let e: events::Tip = decode(payload)?;
            store::purchases::record_tip(
                &mut *tx,
                agency,
                creator,
                store::purchases::Tip {
                    fan_uuid: e.sender_uuid.or(e.sender.as_ref().map(|s| s.uuid)),
                    amount_cents: e.price,
                    tipped_at: e.timestamp,
                    context: &e.context,
                    tipped_message_uuid: if e.context == "message" {
                        e.message_uuid
                    } else {
                        None
                    },
                    dedupe_key: &sale_key,
                },
            )
            .await?;
            // Its reconcile is asked for after the commit (`after_commit`).
        }
        EventType::NewFollower | EventType::NewSubscriber => {
            let e: events::FanEvent = decode(payload)?;
            store::chats::fan_event(
                tx,
                agency,
                creator,
                &profile(&e.sender),
                event_type == EventType::NewSubscriber,
                e.timestamp,
            )
            .await?;
        }
    }
    Ok(())
}

/// Checks a claimed event can be applied: known type, connected creator.
pub(super) fn target(ev: &Claimed) -> Result<(EventType, AgencyId, CreatorId), ProcessError> {
    let event_type = EventType::from_topic(&ev.event_type)
        .ok_or_else(|| ProcessError::Payload(format!("unknown type {}", ev.event_type)))?;
    match (ev.agency_id, ev.creator_id) {
        (Some(agency), Some(creator)) => Ok((event_type, agency, creator)),
        _ => Err(ProcessError::NoCreator),
    }
}

/// Applies events one at a time (`apply`) and marks them processed in one
/// transaction: the per-event path, used for a single event when a round
/// failed and its bad event has to be found and retried alone.
async fn apply_all(pool: &PgPool, claimed: &[Claimed]) -> Result<(), ProcessError> {
    let mut tx = pool.begin().await?;
    // Tip-sales locks before anything else, as a round takes them.
    let mut tipped = BTreeSet::new();
    for ev in claimed {
        if ev.creator_disconnected != Some(true)
            && let Ok((EventType::Tip, agency, creator)) = target(ev)
        {
            tipped.insert((agency, creator));
        }
    }
    let tip_creators: Vec<CreatorId> = tipped.iter().map(|t| t.1).collect();
    store::locks::tip_sales(&mut tx, &tip_creators).await?;
    let mut creators = BTreeSet::new();
    let mut applied: Vec<WebhookEventId> = Vec::with_capacity(claimed.len());
    let mut disconnected = Vec::new();
    for ev in claimed {
        if ev.creator_disconnected == Some(true) {
            disconnected.push(ev.id);
            continue;
        }
        let (event_type, agency, creator) = target(ev)?;
        apply(
            &mut tx,
            event_type,
            agency,
            creator,
            &ev.payload,
            &ev.dedupe_key,
        )
        .await?;
        creators.insert(creator);
        applied.push(ev.id);
    }
    if !applied.is_empty() {
        store::webhooks::mark_processed(&mut tx, &applied).await?;
    }
    if !disconnected.is_empty() {
        store::webhooks::mark_unmatched(&mut tx, &disconnected).await?;
    }
    tx.commit().await?;
    after_commit(pool, &creators, &tipped).await;
    Ok(())
}

/// What a committed round leaves to do outside its transaction (see
/// `batch::apply` for the lock order): the creators' freshness, and a
/// reconcile now for creators with tips — Fanvue's tip event carries no uuid
/// of the chat's TIP message, which only a read brings, so the tip shows in
/// the inbox within seconds rather than at the next period. Failures are
/// logged: the round is applied, and the next round or period catches up.
async fn after_commit(
    pool: &PgPool,
    creators: &BTreeSet<CreatorId>,
    tipped: &BTreeSet<(AgencyId, CreatorId)>,
) {
    for creator in creators {
        if let Err(e) = store::webhooks::touch_creator(pool, *creator).await {
            tracing::warn!(creator_id = %creator, error = %e, "webhook freshness not recorded");
        }
    }
    for (agency, creator) in tipped {
        if let Err(e) =
            store::sync::request_reconcile(pool, *agency, *creator, Duration::ZERO).await
        {
            tracing::warn!(creator_id = %creator, error = %e, "reconcile after a tip not requested");
        }
    }
}

/// Applies a round with set-based statements (`batch`) and marks it in one
/// transaction. Events that cannot be applied at all (a payload that no
/// longer parses, no creator) are marked failed in the same transaction;
/// events whose creator was disconnected are filed as unmatched. Returns
/// how many were applied or filed.
async fn apply_round(
    pool: &PgPool,
    claimed: &[Claimed],
    settings: &WebhookSettings,
) -> Result<usize, ProcessError> {
    let mut round = Vec::with_capacity(claimed.len());
    let mut disconnected = Vec::new();
    let mut failed = Vec::new();
    for ev in claimed {
        if ev.creator_disconnected == Some(true) {
            disconnected.push(ev.id);
            continue;
        }
        match batch::plan(ev) {
            Ok(p) => round.push(p),
            Err(e) => failed.push((ev, e)),
        }
    }
    let mut tx = pool.begin().await?;
    let tipped = batch::apply(&mut tx, &round).await?;
    let applied: Vec<WebhookEventId> = round.iter().map(|p| p.id).collect();
    if !applied.is_empty() {
        store::webhooks::mark_processed(&mut tx, &applied).await?;
    }
    if !disconnected.is_empty() {
        store::webhooks::mark_unmatched(&mut tx, &disconnected).await?;
    }
    for (ev, e) in &failed {
        tracing::warn!(event_id = %ev.id, attempts = ev.attempts, error = %e, "webhook event failed; will retry");
        store::webhooks::mark_failed(&mut *tx, ev.id, &e.to_string(), settings.max_attempts)
            .await?;
    }
    let creators: BTreeSet<CreatorId> = round.iter().map(|p| p.creator).collect();
    tx.commit().await?;
    after_commit(pool, &creators, &tipped).await;
    Ok(applied.len() + disconnected.len())
}

/// Applies claimed events one by one, each in its own transaction (the
/// fallback when a round fails: the failing event is found, retried later
/// on its own, and holds back no other). Returns how many were applied.
async fn apply_one_by_one(
    pool: &PgPool,
    claimed: Vec<Claimed>,
    settings: &WebhookSettings,
) -> Result<usize, ProcessError> {
    let mut applied = 0;
    for ev in claimed {
        match apply_all(pool, std::slice::from_ref(&ev)).await {
            Ok(()) => applied += 1,
            Err(e) => {
                tracing::warn!(event_id = %ev.id, attempts = ev.attempts, error = %e, "webhook event failed; will retry");
                store::webhooks::mark_failed(pool, ev.id, &e.to_string(), settings.max_attempts)
                    .await?;
            }
        }
    }
    Ok(applied)
}

/// Claims and applies one round of due events; returns how many were applied.
pub async fn process_batch(
    pool: &PgPool,
    settings: &WebhookSettings,
) -> Result<usize, ProcessError> {
    let claimed = store::webhooks::claim(pool, round_size(settings), CLAIM_SECS).await?;
    if claimed.is_empty() {
        return Ok(0);
    }
    let _kept = keep_claimed(pool, &claimed);
    match apply_round(pool, &claimed, settings).await {
        Ok(n) => return Ok(n),
        Err(e) => {
            tracing::debug!(error = %e, events = claimed.len(), "webhook round failed as a whole; applying one by one")
        }
    }
    apply_one_by_one(pool, claimed, settings).await
}

/// Claims one round and applies it event by event, as the fallback does:
/// the reference the batched path is compared with (tests, benchmarks).
pub async fn process_one_by_one(
    pool: &PgPool,
    settings: &WebhookSettings,
) -> Result<usize, ProcessError> {
    let claimed = store::webhooks::claim(pool, round_size(settings), CLAIM_SECS).await?;
    let _kept = keep_claimed(pool, &claimed);
    apply_one_by_one(pool, claimed, settings).await
}

/// Processes until nothing is due, each round in one transaction but with
/// per-event statements (`apply`), as processing worked before rounds were
/// batched: the baseline the benchmark compares the batched path with.
pub async fn drain_per_event(
    pool: &PgPool,
    settings: &WebhookSettings,
) -> Result<usize, ProcessError> {
    let mut total = 0;
    loop {
        let claimed = store::webhooks::claim(pool, round_size(settings), CLAIM_SECS).await?;
        if claimed.is_empty() {
            return Ok(total);
        }
        let _kept = keep_claimed(pool, &claimed);
        total += match apply_all(pool, &claimed).await {
            Ok(()) => claimed.len(),
            Err(_) => apply_one_by_one(pool, claimed, settings).await?,
        };
    }
}

/// Events claimed per round (`webhooks.apply_batch`).
fn round_size(settings: &WebhookSettings) -> i64 {
    i64::try_from(settings.apply_batch).unwrap_or(i64::MAX)
}

/// Processes until nothing is due with `workers` concurrent processors,
/// as a `serve` instance's webhook workers run (benchmarks).
pub async fn drain_concurrently(
    pool: &PgPool,
    settings: &WebhookSettings,
    workers: usize,
) -> Result<usize, ProcessError> {
    let runs = (0..workers.max(1)).map(|_| drain(pool, settings));
    let mut total = 0;
    for n in futures_util::future::try_join_all(runs).await? {
        total += n;
    }
    Ok(total)
}

/// Processes until nothing is due (tests, the demo's catch-up).
pub async fn drain(pool: &PgPool, settings: &WebhookSettings) -> Result<usize, ProcessError> {
    let mut total = 0;
    loop {
        let n = process_batch(pool, settings).await?;
        if n == 0 {
            return Ok(total);
        }
        total += n;
    }
}

/// Background processors; they stop when `shutdown` turns true.
pub fn spawn_workers(
    pool: PgPool,
    settings: WebhookSettings,
    shutdown: watch::Receiver<bool>,
) -> Vec<tokio::task::JoinHandle<()>> {
    (0..settings.workers)
        .map(|_| {
            let pool = pool.clone();
            let settings = settings.clone();
            let mut shutdown = shutdown.clone();
            tokio::spawn(async move {
                loop {
                    if *shutdown.borrow() {
                        break;
                    }
                    let idle = match process_batch(&pool, &settings).await {
                        Ok(0) => true,
                        Ok(_) => false,
                        Err(e) => {
                            tracing::warn!(error = %e, "webhook processing round failed");
                            true
                        }
                    };
                    if idle {
                        tokio::select! {
                            _ = tokio::time::sleep(Duration::from_millis(200)) => {}
                            _ = shutdown.changed() => {}
                        }
                    }
                }
            })
        })
        .collect()
}
