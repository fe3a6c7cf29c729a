//! After quiesce: the mirror, the sales, the webhook ledger, the sends and the leases
//! against the simulator's truth. Every check returns its offending rows.

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::{PgPool, Row};
use switchboard::domain::WebhookEventType;
use switchboard::sim::world::MsgType;
use switchboard::webhooks::events;
use uuid::Uuid;

use super::remote::RemoteSim;
use super::setup::World;

pub struct Check {
    pub name: &'static str,
    pub compared: u64,
    pub bad: Vec<String>,
}

impl Check {
    fn new(name: &'static str) -> Self {
        Check {
            name,
            compared: 0,
            bad: Vec::new(),
        }
    }
}

fn ms(t: Option<DateTime<Utc>>) -> Option<i64> {
    t.map(|t| t.timestamp_millis())
}

#[derive(Debug, PartialEq)]
struct Msg {
    sender: Option<Uuid>,
    sent_at: Option<i64>,
    price: Option<i64>,
    purchased_at: Option<i64>,
    sent_by: Option<String>,
    is_read: bool,
    deleted: bool,
}

#[derive(Debug, Clone, PartialEq)]
struct ChatRow {
    last_message_uuid: Option<Uuid>,
    last_message_at: Option<i64>,
    unread: i64,
    is_read: bool,
    is_muted: bool,
    nickname: Option<String>,
}

struct Truth {
    /// creator uuid → message uuid → fields
    messages: HashMap<Uuid, HashMap<Uuid, Msg>>,
    /// creator uuid → fan uuid → row
    chats: HashMap<Uuid, HashMap<Uuid, ChatRow>>,
    /// creator uuid → (message uuid → price) of purchased PPVs, with the team member the
    /// attribution rules credit
    ppv: HashMap<Uuid, Vec<(Uuid, i64, Option<Uuid>)>>,
    /// creator uuid → tips (cents) since the world was generated
    tips: HashMap<Uuid, i64>,
    tip_count: HashMap<Uuid, usize>,
}

fn iso(v: &Value) -> Option<i64> {
    v.as_str()
        .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
        .map(|d| d.timestamp_millis())
}

fn uuid_of(v: &Value) -> Option<Uuid> {
    v.as_str().and_then(|s| s.parse().ok())
}

fn array(v: &Value) -> impl Iterator<Item = &Value> {
    v.as_array().into_iter().flatten()
}

/// The simulator's ground truth (`GET {control}/truth`), in the checks' shape.
async fn truth(sim: &RemoteSim) -> anyhow::Result<Truth> {
    let v = sim.truth().await?;
    let mut t = Truth {
        messages: HashMap::new(),
        chats: HashMap::new(),
        ppv: HashMap::new(),
        tips: HashMap::new(),
        tip_count: HashMap::new(),
    };
    for cr in array(&v["creators"]) {
        let Some(cu) = uuid_of(&cr["user"]["uuid"]) else {
            continue;
        };
        let msgs = t.messages.entry(cu).or_default();
        let chats = t.chats.entry(cu).or_default();
        let ppv = t.ppv.entry(cu).or_default();
        for chat in array(&cr["chats"]) {
            let Some(fan) = uuid_of(&chat["fan"]["uuid"]) else {
                continue;
            };
            let row = &chat["row"];
            chats.insert(
                fan,
                ChatRow {
                    last_message_uuid: uuid_of(&row["lastMessage"]["uuid"]),
                    last_message_at: iso(&row["lastMessageAt"]),
                    unread: row["unreadMessagesCount"].as_i64().unwrap_or(0),
                    is_read: row["isRead"].as_bool().unwrap_or(false),
                    is_muted: row["isMuted"].as_bool().unwrap_or(false),
                    nickname: chat["fan"]["nickname"].as_str().map(str::to_owned),
                },
            );
            for m in array(&chat["messages"]) {
                let Some(mu) = uuid_of(&m["uuid"]) else {
                    continue;
                };
                let sent_by = m["sentByUserId"].as_str().map(str::to_owned);
                let price = m["pricing"]["USD"]["price"].as_i64();
                let purchased_at = iso(&m["purchasedAt"]);
                if let (Some(p), Some(_)) = (price, purchased_at) {
                    // A mass message credits no team member (the attribution rules).
                    let credited = if m["type"].as_str() == Some(MsgType::Broadcast.as_str()) {
                        None
                    } else {
                        sent_by.as_deref().and_then(|s| s.parse().ok())
                    };
                    ppv.push((mu, p, credited));
                }
                msgs.insert(
                    mu,
                    Msg {
                        sender: uuid_of(&m["sender"]["uuid"]),
                        sent_at: iso(&m["sentAt"]),
                        price,
                        purchased_at,
                        sent_by,
                        is_read: m["isRead"].as_bool().unwrap_or(false),
                        deleted: m["deleted"].as_bool().unwrap_or(false),
                    },
                );
            }
        }
    }
    for tip in array(&v["tips"]) {
        let Some(c) = uuid_of(&tip["creatorUuid"]) else {
            continue;
        };
        *t.tips.entry(c).or_default() += tip["amount"].as_i64().unwrap_or(0);
        *t.tip_count.entry(c).or_default() += 1;
    }
    Ok(t)
}

/// Every message of the simulator as (uuid, text).
async fn message_texts(sim: &RemoteSim) -> anyhow::Result<Vec<(Uuid, Option<String>)>> {
    let v = sim.truth().await?;
    let mut out = Vec::new();
    for cr in array(&v["creators"]) {
        for chat in array(&cr["chats"]) {
            for m in array(&chat["messages"]) {
                if let Some(mu) = uuid_of(&m["uuid"]) {
                    out.push((mu, m["text"].as_str().map(str::to_owned)));
                }
            }
        }
    }
    Ok(out)
}

pub async fn mirror(w: &World) -> anyhow::Result<(Check, Check)> {
    let t = truth(&w.sim).await?;
    let mut mc = Check::new("mirror == truth: messages (all fields)");
    let mut cc = Check::new("mirror == truth: chat rows");
    for (cu, cid) in &w.creators {
        let rows = sqlx::query(
            "SELECT uuid, sender_uuid, sent_at, price_cents, purchased_at, sent_by_user_uuid, is_read, deleted_at IS NOT NULL AS deleted
             FROM messages WHERE creator_id = $1",
        )
        .bind(cid)
        .fetch_all(&w.pool)
        .await?;
        let mut mirror: HashMap<Uuid, Msg> = HashMap::with_capacity(rows.len());
        for r in rows {
            mirror.insert(
                r.get("uuid"),
                Msg {
                    sender: r.get("sender_uuid"),
                    sent_at: ms(r.get("sent_at")),
                    price: r.get("price_cents"),
                    purchased_at: ms(r.get("purchased_at")),
                    sent_by: r
                        .get::<Option<String>, _>("sent_by_user_uuid")
                        .map(|s| s.to_lowercase()),
                    is_read: r.get("is_read"),
                    deleted: r.get("deleted"),
                },
            );
        }
        let empty = HashMap::new();
        let truth_msgs = t.messages.get(cu).unwrap_or(&empty);
        for (uuid, tm) in truth_msgs {
            mc.compared += 1;
            match mirror.get(uuid) {
                None => mc.bad.push(format!(
                    "creator {cu} message {uuid}: missing in the mirror ({tm:?})"
                )),
                Some(mm) if mm != tm => mc.bad.push(format!(
                    "creator {cu} message {uuid}: mirror {mm:?} truth {tm:?}"
                )),
                Some(_) => {}
            }
        }
        for uuid in mirror.keys() {
            if !truth_msgs.contains_key(uuid) {
                mc.bad.push(format!(
                    "creator {cu} message {uuid}: in the mirror, not on Fanvue"
                ));
            }
        }
        let rows = sqlx::query(
            "SELECT fan_uuid, last_message_uuid, last_message_at, unread_count, is_read, is_muted, fan_nickname
             FROM chats WHERE creator_id = $1",
        )
        .bind(cid)
        .fetch_all(&w.pool)
        .await?;
        let empty = HashMap::new();
        let truth_chats = t.chats.get(cu).unwrap_or(&empty);
        let mut seen = HashSet::new();
        for r in rows {
            let fan: Uuid = r.get("fan_uuid");
            seen.insert(fan);
            let mrow = ChatRow {
                last_message_uuid: r.get("last_message_uuid"),
                last_message_at: ms(r.get("last_message_at")),
                unread: i64::from(r.get::<i32, _>("unread_count")),
                is_read: r.get("is_read"),
                is_muted: r.get("is_muted"),
                nickname: r.get("fan_nickname"),
            };
            cc.compared += 1;
            // Two messages in the same millisecond: which is "last" is Fanvue's insertion order,
            // which no reader can see; the time must still agree.
            let tie = |tr: &ChatRow| {
                let mut m = mrow.clone();
                if m.last_message_at == tr.last_message_at {
                    m.last_message_uuid = tr.last_message_uuid;
                }
                m
            };
            match truth_chats.get(&fan) {
                None => cc.bad.push(format!(
                    "creator {cu} chat {fan}: in the mirror, not on Fanvue"
                )),
                Some(tr) if *tr != tie(tr) => cc.bad.push(format!(
                    "creator {cu} chat {fan}: mirror {mrow:?} truth {tr:?}"
                )),
                Some(_) => {}
            }
        }
        for fan in truth_chats.keys() {
            if !seen.contains(fan) {
                cc.bad
                    .push(format!("creator {cu} chat {fan}: missing in the mirror"));
            }
        }
    }
    Ok((mc, cc))
}

/// PPV sales: each purchased PPV exactly once at its price; totals per creator and per
/// credited team member (mapped ones through their staff member) to the cent. Tips: the
/// total per creator of the tips the simulator recorded.
pub async fn sales(w: &World) -> anyhow::Result<Check> {
    let t = truth(&w.sim).await?;
    let mut c = Check::new("sales == truth (PPV once each, per creator and team member; tips)");
    let mapped: HashMap<Uuid, Uuid> = sqlx::query(
        "SELECT id, fanvue_user_uuid FROM staff WHERE agency_id = $1 AND fanvue_user_uuid IS NOT NULL",
    )
    .bind(w.agency)
    .fetch_all(&w.pool)
    .await?
    .into_iter()
    .map(|r| (r.get("id"), r.get("fanvue_user_uuid")))
    .collect();
    for (cu, cid) in &w.creators {
        let rows = sqlx::query(
            "SELECT message_uuid, gross_cents, team_member_uuid, credited_staff_id, basis, basis_detail, amount_source
             FROM sales WHERE creator_id = $1 AND kind = 'ppv'",
        )
        .bind(cid)
        .fetch_all(&w.pool)
        .await?;
        let mut by_msg: HashMap<Uuid, Vec<i64>> = HashMap::new();
        let mut credit: HashMap<Uuid, (String, String)> = HashMap::new();
        let mut per_tm_mirror: BTreeMap<String, i64> = BTreeMap::new();
        for r in &rows {
            let m: Option<Uuid> = r.get("message_uuid");
            let g: i64 = r.get("gross_cents");
            by_msg.entry(m.unwrap_or_default()).or_default().push(g);
            let tm: Option<String> = r.get("team_member_uuid");
            let staff: Option<Uuid> = r.get("credited_staff_id");
            let who = tm
                .map(|s| s.to_lowercase())
                .or_else(|| staff.and_then(|s| mapped.get(&s)).map(Uuid::to_string))
                .unwrap_or_else(|| "creator".to_owned());
            credit.insert(
                m.unwrap_or_default(),
                (
                    who.clone(),
                    format!(
                        "basis {} ({:?}), amount from {}",
                        r.get::<String, _>("basis"),
                        r.get::<Option<String>, _>("basis_detail"),
                        r.get::<String, _>("amount_source")
                    ),
                ),
            );
            *per_tm_mirror.entry(who).or_default() += g;
        }
        let mut per_tm_truth: BTreeMap<String, i64> = BTreeMap::new();
        let empty = Vec::new();
        let ppv = t.ppv.get(cu).unwrap_or(&empty);
        let mut truth_set = HashSet::new();
        for (m, price, by) in ppv {
            c.compared += 1;
            truth_set.insert(*m);
            *per_tm_truth
                .entry(by.map_or_else(|| "creator".to_owned(), |u| u.to_string()))
                .or_default() += price;
            let want = by.map_or_else(|| "creator".to_owned(), |u| u.to_string());
            if let Some((got, how)) = credit.get(m)
                && *got != want
            {
                c.bad.push(format!(
                    "creator {cu} PPV {m} ({price} ¢): credited to {got}, sent by {want} on Fanvue; {how}"
                ));
            }
            match by_msg.get(m).map(Vec::as_slice) {
                Some([g]) if g == price => {}
                other => c.bad.push(format!(
                    "creator {cu} PPV {m}: truth {price} ¢, sales rows {other:?}"
                )),
            }
        }
        for m in by_msg.keys() {
            if !truth_set.contains(m) {
                c.bad.push(format!(
                    "creator {cu} PPV sale {m}: not a purchase on Fanvue"
                ));
            }
        }
        if per_tm_mirror != per_tm_truth {
            c.bad.push(format!(
                "creator {cu} PPV per team member: sales {per_tm_mirror:?} truth {per_tm_truth:?}"
            ));
        }
        let tips: i64 = sqlx::query_scalar(
            "SELECT COALESCE(sum(gross_cents), 0)::bigint FROM sales WHERE creator_id = $1 AND kind = 'tip'",
        )
        .bind(cid)
        .fetch_one(&w.pool)
        .await?;
        let truth_tips = t.tips.get(cu).copied().unwrap_or(0);
        c.compared += 1;
        if tips != truth_tips {
            let rows = sqlx::query(
                "SELECT s.gross_cents, s.occurred_at, s.amount_source, s.tip_id, s.earnings_line_id, s.fan_uuid
                 FROM sales s WHERE s.creator_id = $1 AND s.kind = 'tip' ORDER BY s.occurred_at",
            )
            .bind(cid)
            .fetch_all(&w.pool)
            .await?;
            let mut detail = Vec::new();
            for r in rows {
                detail.push(format!(
                    "{}¢@{} from {} tip {:?} line {:?} fan {:?}",
                    r.get::<i64, _>("gross_cents"),
                    r.get::<DateTime<Utc>, _>("occurred_at")
                        .format("%m-%d %H:%M:%S%.3f"),
                    r.get::<String, _>("amount_source"),
                    r.get::<Option<i64>, _>("tip_id"),
                    r.get::<Option<i64>, _>("earnings_line_id"),
                    r.get::<Option<Uuid>, _>("fan_uuid"),
                ));
            }
            c.bad.push(format!(
                "creator {cu} tips: sales {tips} ¢ truth {truth_tips} ¢ ({} truth tips); sales rows: {}",
                t.tip_count.get(cu).copied().unwrap_or(0),
                detail.join("; ")
            ));
        }
    }
    Ok(c)
}

/// Every delivery the simulator logged as answered 2xx is a stored event, and processed.
pub async fn webhooks(w: &World) -> anyhow::Result<Check> {
    let mut c = Check::new("zero lost webhooks (every 2xx delivery stored and applied)");
    let rows = sqlx::query("SELECT dedupe_key, status FROM webhook_events")
        .fetch_all(&w.pool)
        .await?;
    let stored: HashMap<String, String> = rows
        .into_iter()
        .map(|r| (r.get("dedupe_key"), r.get("status")))
        .collect();
    let mut keys = HashSet::new();
    for d in w.sim.deliveries().await? {
        if d.outcome != "delivered" {
            continue;
        }
        let Some(t) = WebhookEventType::from_topic(&d.event) else {
            c.bad.push(format!(
                "delivery {} of unknown topic {}",
                d.event_id, d.event
            ));
            continue;
        };
        let key = match events::parse(t, d.body.as_bytes()) {
            Ok(p) => p.natural_key,
            Err(e) => {
                c.bad
                    .push(format!("delivery {}: body not parsed: {e}", d.event_id));
                continue;
            }
        };
        if !keys.insert(key.clone()) {
            continue;
        }
        c.compared += 1;
        match stored.get(&key).map(String::as_str) {
            Some("processed") => {}
            other => c.bad.push(format!(
                "delivery {} ({}, key {key}) answered {:?}: event {other:?}",
                d.event_id, d.event, d.status
            )),
        }
    }
    let open: i64 =
        sqlx::query_scalar("SELECT count(*) FROM webhook_events WHERE status NOT IN ('processed')")
            .fetch_one(&w.pool)
            .await?;
    if open > 0 {
        let rows = sqlx::query(
            "SELECT id, event_type, status, attempts, error FROM webhook_events WHERE status <> 'processed' ORDER BY id LIMIT 20",
        )
        .fetch_all(&w.pool)
        .await?;
        for r in rows {
            c.bad.push(format!(
                "event {} {} status {} attempts {} error {:?}",
                r.get::<i64, _>("id"),
                r.get::<String, _>("event_type"),
                r.get::<String, _>("status"),
                r.get::<i32, _>("attempts"),
                r.get::<Option<String>, _>("error")
            ));
        }
    }
    Ok(c)
}

/// Every ledger row `sent` has exactly one message on the simulator; nothing left
/// `pending` or `unknown`; every message the soak's senders wrote is a `sent` row.
pub async fn sends(w: &World, attempted: &[(String, String)]) -> anyhow::Result<Check> {
    let mut c = Check::new("sends exactly once (ledger vs Fanvue)");
    let mut on_fanvue: HashMap<String, Vec<Uuid>> = HashMap::new();
    for (uuid, text) in message_texts(&w.sim).await? {
        if let Some(t) = text
            && t.starts_with("soak send ")
        {
            on_fanvue.entry(t).or_default().push(uuid);
        }
    }
    let rows = sqlx::query(
        "SELECT idempotency_key, body, status, message_uuid, error FROM outbound_sends",
    )
    .fetch_all(&w.pool)
    .await?;
    let mut sent_texts = HashSet::new();
    for r in rows {
        let key: String = r.get("idempotency_key");
        let body: Option<String> = r.get("body");
        let status: String = r.get("status");
        let msg: Option<Uuid> = r.get("message_uuid");
        let body = body.unwrap_or_default();
        c.compared += 1;
        let found = on_fanvue.get(&body).map_or(0, Vec::len);
        match status.as_str() {
            "sent" => {
                sent_texts.insert(body.clone());
                if found != 1 || msg.is_none_or(|m| !on_fanvue[&body].contains(&m)) {
                    c.bad.push(format!(
                        "send {key} sent as {msg:?}: {found} messages on Fanvue"
                    ));
                }
            }
            "failed" => {
                if found != 0 {
                    c.bad
                        .push(format!("send {key} failed but {found} messages on Fanvue"));
                }
            }
            other => c.bad.push(format!(
                "send {key} left {other}, {found} messages with its text on Fanvue ({:?})",
                r.get::<Option<String>, _>("error")
            )),
        }
    }
    for (text, uuids) in &on_fanvue {
        if uuids.len() > 1 {
            c.bad
                .push(format!("{text:?}: {} messages on Fanvue", uuids.len()));
        }
        if !sent_texts.contains(text) {
            c.bad.push(format!(
                "{text:?} is on Fanvue but its ledger row is not sent"
            ));
        }
    }
    let keys: HashSet<&str> = attempted.iter().map(|(k, _)| k.as_str()).collect();
    c.compared += keys.len() as u64;
    Ok(c)
}

/// No two runs of one creator overlap in time (each run holds the creator's lease).
pub async fn leases(pool: &PgPool) -> anyhow::Result<Check> {
    let mut c = Check::new("no lease held twice (sync_runs never overlap per creator)");
    c.compared = sqlx::query_scalar::<_, i64>("SELECT count(*) FROM sync_runs")
        .fetch_one(pool)
        .await? as u64;
    // A run whose lease expired under it (stalled past `lease_secs`) ends with "lease lost":
    // every write re-checks the lease in its transaction, so it wrote nothing after losing
    // it, and its time may overlap its successor's. Any other overlap is two holders.
    let lost: i64 =
        sqlx::query_scalar("SELECT count(*) FROM sync_runs WHERE error LIKE 'lease lost%'")
            .fetch_one(pool)
            .await?;
    if lost > 0 {
        println!(
            "leases: {lost} runs lost their lease (expired while stalled) and stopped writing"
        );
    }
    let rows = sqlx::query(
        "SELECT a.id AS a, b.id AS b, a.creator_id, a.worker AS wa, b.worker AS wb, a.kind AS ka, b.kind AS kb,
                a.started_at AS sa, a.finished_at AS fa, b.started_at AS sb, b.finished_at AS fb
         FROM sync_runs a JOIN sync_runs b
           ON a.creator_id = b.creator_id AND a.id < b.id
          AND a.started_at < b.finished_at AND b.started_at < a.finished_at
         WHERE a.error IS DISTINCT FROM 'lease lost: another worker owns this creator now'
           AND b.error IS DISTINCT FROM 'lease lost: another worker owns this creator now'
         ORDER BY a.id LIMIT 20",
    )
    .fetch_all(pool)
    .await?;
    for r in rows {
        c.bad.push(format!(
            "creator {}: run {} ({} by {}, {}…{}) overlaps run {} ({} by {}, {}…{})",
            r.get::<Uuid, _>("creator_id"),
            r.get::<i64, _>("a"),
            r.get::<String, _>("ka"),
            r.get::<String, _>("wa"),
            r.get::<DateTime<Utc>, _>("sa").format("%H:%M:%S%.3f"),
            r.get::<DateTime<Utc>, _>("fa").format("%H:%M:%S%.3f"),
            r.get::<i64, _>("b"),
            r.get::<String, _>("kb"),
            r.get::<String, _>("wb"),
            r.get::<DateTime<Utc>, _>("sb").format("%H:%M:%S%.3f"),
            r.get::<DateTime<Utc>, _>("fb").format("%H:%M:%S%.3f"),
        ));
    }
    Ok(c)
}
