//! The hostile input burst: forged, stale and missing signatures, malformed, oversize and
//! NUL-bearing bodies, unknown event types and a topic that disagrees with the body, sent
//! to both instances' intake. Each body carries a marker so the check can prove none of
//! them was stored as an event.

use secrecy::SecretString;
use sqlx::PgPool;
use switchboard::domain::CreatorId;
use switchboard::webhooks::signature;
use uuid::Uuid;

use super::checks::Check;

#[derive(Default)]
pub struct Outcome {
    pub sent: u64,
    pub refused_4xx: u64,
    /// (case, status) of every answer that was not a 4xx.
    pub other: Vec<(String, String)>,
    pub marker: String,
    /// Not webhook deliveries, or refused before intake (oversize bodies: 413 from the
    /// body limit), so not in the rejection log.
    pub unlogged: u64,
}

fn message_body(marker: &str, creator: Uuid) -> String {
    let msg = Uuid::new_v4();
    let fan = Uuid::new_v4();
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    format!(
        r#"{{"messageUuid":"{msg}","message":{{"uuid":"{msg}","text":"{marker}","hasMedia":false,"mediaUuids":[],"price":null,"createdAt":"{now}"}},"sender":{{"uuid":"{fan}","handle":"hostile","displayName":"Hostile","avatarUrl":null}},"recipientUuid":"{creator}","isMuted":false,"timestamp":"{now}"}}"#
    )
}

pub async fn burst(bases: &[String; 2], secret: &str, creators: &[(Uuid, CreatorId)]) -> Outcome {
    let marker = format!("hostile-{}", Uuid::new_v4().simple());
    let good = SecretString::from(secret.to_owned());
    let forged = SecretString::from("not-the-secret".to_owned());
    let now = chrono::Utc::now().timestamp();
    let creator = creators.first().map_or_else(Uuid::new_v4, |c| c.0);
    let client = reqwest::Client::new();
    let mut out = Outcome {
        marker: marker.clone(),
        ..Default::default()
    };
    for round in 0..5 {
        for base in bases {
            let url = format!("{base}/webhooks/fanvue");
            let body = message_body(&marker, creator);
            let oversize = format!(
                r#"{{"pad":"{}","marker":"{marker}"}}"#,
                "x".repeat(300 * 1024)
            );
            let cases: Vec<(&str, String, Option<String>, Option<&str>)> = vec![
                (
                    "forged signature",
                    body.clone(),
                    Some(signature::sign(&forged, now, body.as_bytes())),
                    None,
                ),
                (
                    "stale signature",
                    body.clone(),
                    Some(signature::sign(&good, now - 3600, body.as_bytes())),
                    None,
                ),
                ("missing signature", body.clone(), None, None),
                (
                    "malformed JSON",
                    format!("{{\"marker\":\"{marker}\",,"),
                    None,
                    None,
                ),
                ("oversize body", oversize, None, None),
                (
                    "unknown event type",
                    format!(r#"{{"marker":"{marker}","kind":"something.new"}}"#),
                    None,
                    None,
                ),
                (
                    "topic disagrees with body",
                    body.clone(),
                    None,
                    Some("message.read"),
                ),
                (
                    "NUL in body",
                    body.replace(&marker, &format!("{marker}\\u0000")),
                    None,
                    None,
                ),
                (
                    "malformed message.received",
                    format!(r#"{{"messageUuid":"{marker}","recipientUuid":"{creator}"}}"#),
                    None,
                    None,
                ),
            ];
            for (name, body, sig, topic) in cases {
                let sig = sig.unwrap_or_else(|| {
                    if name == "missing signature" {
                        String::new()
                    } else {
                        signature::sign(&good, now, body.as_bytes())
                    }
                });
                let mut req = client
                    .post(&url)
                    .header("Content-Type", "application/json")
                    .body(body);
                if !sig.is_empty() {
                    req = req.header("X-Fanvue-Signature", sig);
                }
                if let Some(t) = topic {
                    req = req.header("X-Fanvue-Topic", t);
                }
                out.sent += 1;
                match req.send().await {
                    // Refused by the body limit before intake reads it: not logged.
                    Ok(r) if name == "oversize body" && r.status().as_u16() == 413 => {
                        out.refused_4xx += 1;
                        out.unlogged += 1;
                    }
                    Ok(r) if name == "oversize body" => out
                        .other
                        .push((format!("{name} (round {round})"), r.status().to_string())),
                    Ok(r) if r.status().is_client_error() => out.refused_4xx += 1,
                    Ok(r) => out
                        .other
                        .push((format!("{name} (round {round})"), r.status().to_string())),
                    Err(e) => out
                        .other
                        .push((format!("{name} (round {round})"), e.to_string())),
                }
            }
        }
    }
    out
}

/// A signed-in owner of another agency asks both instances for `chats` (the first
/// agency's): each thread, its messages, its fan panel routes and a send (with a valid
/// CSRF token of its own session) must answer 404, and the send must leave nothing behind
/// (the text carries the marker, which `check` looks for in the ledger and the mirror).
pub async fn cross_tenant(bases: &[String; 2], email: &str, chats: &[Uuid], o: &mut Outcome) {
    for base in bases {
        let client = match super::load::login(base, email).await {
            Ok(c) => c,
            Err(e) => {
                o.other.push(("cross-tenant login".into(), e.to_string()));
                continue;
            }
        };
        let csrf = match client.get(format!("{base}/inbox")).send().await {
            Ok(r) => r.text().await.ok().and_then(|p| super::load::csrf_in(&p)),
            Err(_) => None,
        };
        let Some(csrf) = csrf else {
            o.other
                .push(("cross-tenant: no CSRF token".into(), base.clone()));
            continue;
        };
        for chat in chats {
            let gets = ["", "/messages", "/row", "/media", "/canned", "/people"];
            for tail in gets {
                let url = format!("{base}/inbox/chats/{chat}{tail}");
                o.sent += 1;
                o.unlogged += 1;
                tally(o, "cross-tenant GET", client.get(&url).send().await);
            }
            let key = Uuid::new_v4().to_string();
            let text = format!("{} cross-tenant send", o.marker);
            o.sent += 1;
            o.unlogged += 1;
            let r = client
                .post(format!("{base}/inbox/chats/{chat}/send"))
                .form(&[
                    ("csrf_token", csrf.as_str()),
                    ("idempotency_key", key.as_str()),
                    ("text", text.as_str()),
                    ("price", ""),
                ])
                .send()
                .await;
            tally(o, "cross-tenant send", r);
        }
    }
}

/// Only a 404 is the right answer to another agency's id.
fn tally(o: &mut Outcome, case: &str, r: reqwest::Result<reqwest::Response>) {
    match r {
        Ok(r) if r.status() == reqwest::StatusCode::NOT_FOUND => o.refused_4xx += 1,
        Ok(r) => o
            .other
            .push((format!("{case} {}", r.url()), r.status().to_string())),
        Err(e) => o.other.push((case.to_owned(), e.to_string())),
    }
}

/// Every hostile delivery got a 4xx and none is stored as an event; the rejection log
/// (rows plus the per-minute overflow count) grew by at least the number sent.
pub async fn check(pool: &PgPool, o: &Outcome) -> anyhow::Result<Check> {
    let mut c = Check {
        name: "hostile input: 4xx, nothing stored beyond the rejection log",
        compared: o.sent,
        bad: Vec::new(),
    };
    if o.sent == 0 {
        c.bad.push("the hostile burst did not run".into());
        return Ok(c);
    }
    for (case, status) in &o.other {
        c.bad.push(format!("{case}: answered {status}"));
    }
    let stored: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM webhook_events WHERE payload::text LIKE '%' || $1 || '%'",
    )
    .bind(&o.marker)
    .fetch_one(pool)
    .await?;
    if stored > 0 {
        c.bad
            .push(format!("{stored} hostile bodies stored in webhook_events"));
    }
    let msgs: i64 =
        sqlx::query_scalar("SELECT count(*) FROM messages WHERE text LIKE '%' || $1 || '%'")
            .bind(&o.marker)
            .fetch_one(pool)
            .await?;
    if msgs > 0 {
        c.bad.push(format!("{msgs} hostile messages in the mirror"));
    }
    let sends: i64 =
        sqlx::query_scalar("SELECT count(*) FROM outbound_sends WHERE body LIKE '%' || $1 || '%'")
            .bind(&o.marker)
            .fetch_one(pool)
            .await?;
    if sends > 0 {
        c.bad
            .push(format!("{sends} cross-tenant sends in the send ledger"));
    }
    let logged: i64 = sqlx::query_scalar(
        "SELECT (SELECT count(*) FROM webhook_rejections) + COALESCE((SELECT sum(dropped) FROM webhook_rejections_dropped), 0)::bigint",
    )
    .fetch_one(pool)
    .await?;
    let expected = (o.sent - o.unlogged) as i64;
    if logged < expected {
        c.bad.push(format!(
            "rejection log holds {logged} entries for {expected} hostile deliveries that reached intake"
        ));
    }
    Ok(c)
}
