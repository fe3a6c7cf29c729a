//! Webhook intake. Per request, in order: size cap (413, by the payload
//! config), raw body, signature (401, nothing stored), JSON (400), event
//! type — from the URL or topic header, and it must agree with the body's
//! shape (400) —, dedupe key (the body's natural key, which the signature
//! covers; a duplicate answers 200 without a second row), creator lookup
//! (unknown or disconnected → 202, kept as unmatched), commit, 2xx. Every
//! 4xx is logged as a rejection. Nothing here calls Fanvue or writes the
//! mirror.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::Utc;
use serde_json::json;
use uuid::Uuid;

use super::events::{self, EventType, ParseFailure};
use super::{IntakeState, REJECTIONS_PER_MINUTE, signature};
use crate::http::client_ip::ClientIp;
use crate::store::webhooks::{Intake, NewEvent, NewRejection};
use crate::store::{self};

pub const SIGNATURE_HEADER: &str = "x-fanvue-signature";
/// Optional headers (unconfirmed upstream): the event's topic and id. Both
/// are unsigned: the topic must agree with the body, the id is only kept.
pub const TOPIC_HEADER: &str = "x-fanvue-topic";
pub const EVENT_ID_HEADER: &str = "x-fanvue-event-id";

fn answer(status: StatusCode, body: serde_json::Value) -> HttpResponse {
    HttpResponse::build(status).json(body)
}

fn header<'a>(req: &'a HttpRequest, name: &str) -> Option<&'a str> {
    req.headers().get(name).and_then(|v| v.to_str().ok())
}

/// `POST /webhooks/fanvue/{event}`: one URL per event type.
pub async fn per_event(
    state: web::Data<IntakeState>,
    req: HttpRequest,
    event: web::Path<String>,
    body: web::Bytes,
) -> HttpResponse {
    match EventType::from_slug(&event) {
        Some(t) => intake(&state, &req, Some(t), &body).await,
        None => answer(StatusCode::NOT_FOUND, json!({ "error": "unknown event" })),
    }
}

/// `POST /webhooks/fanvue`: one URL for several events.
pub async fn shared(
    state: web::Data<IntakeState>,
    req: HttpRequest,
    body: web::Bytes,
) -> HttpResponse {
    intake(&state, &req, None, &body).await
}

/// A refused delivery: what is logged (never payload text) and answered.
struct Refusal {
    status: StatusCode,
    event_type: Option<&'static str>,
    /// The creator a signed body names (the agency it concerns).
    creator: Option<Uuid>,
    reason: String,
    answer_text: &'static str,
}

/// Logs a refused delivery (capped per minute) and answers it.
async fn refuse(state: &IntakeState, ip: &str, r: Refusal) -> HttpResponse {
    tracing::warn!(reason = %r.reason, event = r.event_type, "webhook refused");
    crate::metrics::webhook_delivery("rejected");
    let entry = NewRejection {
        event_type: r.event_type,
        reason: &r.reason,
        client_ip: Some(ip),
        creator_fanvue_uuid: r.creator,
    };
    if let Err(db) = store::webhooks::reject(&state.pool, &entry, REJECTIONS_PER_MINUTE).await {
        tracing::error!(error = %db, "could not log a webhook rejection");
    }
    answer(r.status, json!({ "error": r.answer_text }))
}

/// Whether JSON text holds a `\u0000` escape (an escaped backslash followed
/// by `u0000` is plain text and does not count).
fn has_nul_escape(text: &str) -> bool {
    let bytes = text.as_bytes();
    text.match_indices("\\u0000").any(|(at, _)| {
        let backslashes = bytes[..at]
            .iter()
            .rev()
            .take_while(|b| **b == b'\\')
            .count();
        backslashes % 2 == 0
    })
}

async fn intake(
    state: &IntakeState,
    req: &HttpRequest,
    url_type: Option<EventType>,
    body: &[u8],
) -> HttpResponse {
    let cfg = &state.settings.webhooks;
    let ip = ClientIp::of(req);

    if let Err(e) = signature::verify(
        header(req, SIGNATURE_HEADER),
        body,
        cfg.secret.as_ref(),
        cfg.previous_secret.as_ref(),
        cfg.tolerance_secs,
        Utc::now(),
    ) {
        // Nothing from the body is used: a forged delivery is not ours.
        let refusal = Refusal {
            status: StatusCode::UNAUTHORIZED,
            event_type: url_type.map(|t| t.topic()),
            creator: None,
            reason: format!("signature: {e}"),
            answer_text: "invalid signature",
        };
        return refuse(state, ip.as_str(), refusal).await;
    }

    // Signed from here on: the body may name the creator it concerns.
    let value = match serde_json::from_slice::<serde_json::Value>(body) {
        Ok(v) => v,
        Err(e) => {
            let refusal = Refusal {
                status: StatusCode::BAD_REQUEST,
                event_type: url_type.map(|t| t.topic()),
                creator: None,
                reason: ParseFailure::from(e).to_string(),
                answer_text: "malformed JSON",
            };
            return refuse(state, ip.as_str(), refusal).await;
        }
    };
    let creator = value
        .get("recipientUuid")
        .and_then(|v| v.as_str())
        .and_then(|s| Uuid::parse_str(s).ok());
    let bad = |event_type: Option<EventType>, reason: String, answer_text| Refusal {
        status: StatusCode::BAD_REQUEST,
        event_type: event_type.map(|t| t.topic()),
        creator,
        reason,
        answer_text,
    };

    // The URL and the topic header are not signed: a signed body of one type
    // must not be presented as another (a purchase body read as a new
    // subscriber, say), so both must agree with the body's own shape.
    let topic_type = header(req, TOPIC_HEADER).and_then(EventType::from_topic);
    let shape = EventType::infer(&value);
    let event_type = match (url_type, topic_type, shape) {
        (Some(u), Some(t), _) if u != t => {
            let reason = format!(
                "topic header {} disagrees with the URL's {}",
                t.topic(),
                u.topic()
            );
            return refuse(
                state,
                ip.as_str(),
                bad(Some(u), reason, "event type mismatch"),
            )
            .await;
        }
        (None, None, Some(s)) => s,
        (None, None, None) => {
            let reason = "unrecognised event".to_owned();
            return refuse(state, ip.as_str(), bad(None, reason, "unrecognised event")).await;
        }
        (Some(claimed), _, s) | (None, Some(claimed), s) if !shape_allows(s, claimed) => {
            let seen = s.map_or("no known event", |s| s.topic());
            let reason = format!("the body has the shape of {seen}, not {}", claimed.topic());
            return refuse(
                state,
                ip.as_str(),
                bad(Some(claimed), reason, "payload does not match the event"),
            )
            .await;
        }
        (Some(claimed), _, _) | (None, Some(claimed), _) => claimed,
    };
    let parsed = match events::parse(event_type, body) {
        Ok(p) => p,
        Err(e) => {
            let reason = format!("not a valid {} payload: {e}", event_type.topic());
            return refuse(
                state,
                ip.as_str(),
                bad(Some(event_type), reason, "payload does not match the event"),
            )
            .await;
        }
    };
    // Postgres' jsonb refuses NUL characters; say so now rather than fail
    // the insert (and every retry of it) later.
    let payload = match std::str::from_utf8(body) {
        Ok(text) if !has_nul_escape(text) => text.to_owned(),
        _ => {
            let reason = "payload contains a NUL character, which cannot be stored".to_owned();
            return refuse(
                state,
                ip.as_str(),
                bad(Some(event_type), reason, "malformed JSON"),
            )
            .await;
        }
    };
    // Deduplicated on the natural key alone, which the signature covers: an
    // unsigned id header could turn a replay into a new event, or a new
    // event into a "duplicate" of a replay. The id is kept as metadata.
    let event_id = header(req, EVENT_ID_HEADER).filter(|s| !s.is_empty() && s.len() <= 200);
    let stored = state
        .writer
        .store(NewEvent {
            event_type: event_type.topic(),
            dedupe_key: parsed.natural_key,
            event_id: event_id.map(str::to_owned),
            creator_fanvue_uuid: parsed.recipient,
            payload,
        })
        .await;
    // Answered only after the commit: from here on Fanvue may consider the
    // event delivered.
    crate::metrics::webhook_delivery(match &stored {
        Ok(Intake::Pending) => "accepted",
        Ok(Intake::Unmatched) => "unmatched",
        Ok(Intake::Duplicate) => "duplicate",
        Err(_) => "error",
    });
    match stored {
        Ok(Intake::Pending) => answer(StatusCode::OK, json!({ "status": "accepted" })),
        Ok(Intake::Unmatched) => answer(StatusCode::ACCEPTED, json!({ "status": "unmatched" })),
        Ok(Intake::Duplicate) => answer(StatusCode::OK, json!({ "status": "duplicate" })),
        Err(e) => {
            tracing::error!(error = %e, "webhook intake: could not store the event");
            answer(
                StatusCode::SERVICE_UNAVAILABLE,
                json!({ "error": "try again" }),
            )
        }
    }
}

/// Whether a body whose fields look like `shape` may be the `claimed` event.
/// Only a body that positively looks like another event is refused: a body
/// no shape recognises is left to the claimed type's parser (optional
/// fields may be absent), and a subscription without its optional `price`
/// looks like a follow.
fn shape_allows(shape: Option<EventType>, claimed: EventType) -> bool {
    match shape {
        None => true,
        Some(s) if s == claimed => true,
        Some(EventType::NewFollower) => claimed == EventType::NewSubscriber,
        Some(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::has_nul_escape;

    #[test]
    fn nul_escapes_are_found_and_escaped_backslashes_are_not() {
        assert!(has_nul_escape(r#"{"text":"a\u0000b"}"#));
        assert!(has_nul_escape(r#"{"text":"\\\u0000"}"#));
        assert!(!has_nul_escape(r#"{"text":"\\u0000"}"#));
        assert!(!has_nul_escape(r#"{"text":"u0000"}"#));
    }
}
