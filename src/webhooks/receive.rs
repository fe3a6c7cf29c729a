//! Webhook intake. Per request, in order: size cap (413, by the payload
//! config), raw body, signature (401, nothing stored), JSON (400, logged as
//! a rejected delivery), event type, dedupe key (a duplicate answers 200
//! without a second row), creator lookup (unknown → 202, kept as
//! unmatched), commit, 2xx. Nothing here calls Fanvue or writes the mirror.

use actix_web::{HttpRequest, HttpResponse, web};
use chrono::Utc;
use serde_json::json;

use super::events::{self, EventType, ParseFailure};
use super::signature;
use crate::store::webhooks::{Intake, NewEvent};
use crate::store::{self};
use crate::web::AppState;
use crate::web::client_ip::ClientIp;

pub const SIGNATURE_HEADER: &str = "x-fanvue-signature";
/// Optional headers (unconfirmed upstream): the event's topic and id.
pub const TOPIC_HEADER: &str = "x-fanvue-topic";
pub const EVENT_ID_HEADER: &str = "x-fanvue-event-id";

fn answer(status: actix_web::http::StatusCode, body: serde_json::Value) -> HttpResponse {
    HttpResponse::build(status).json(body)
}

fn header<'a>(req: &'a HttpRequest, name: &str) -> Option<&'a str> {
    req.headers().get(name).and_then(|v| v.to_str().ok())
}

/// `POST /webhooks/fanvue/{event}`: one URL per event type.
pub async fn per_event(
    state: web::Data<AppState>,
    req: HttpRequest,
    event: web::Path<String>,
    body: web::Bytes,
) -> HttpResponse {
    match EventType::from_slug(&event) {
        Some(t) => intake(&state, &req, Some(t), &body).await,
        None => answer(
            actix_web::http::StatusCode::NOT_FOUND,
            json!({ "error": "unknown event" }),
        ),
    }
}

/// `POST /webhooks/fanvue`: one URL for several events.
pub async fn shared(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
) -> HttpResponse {
    intake(&state, &req, None, &body).await
}

/// Logs a refused delivery (type, reason, and the start of its body when
/// there is one worth keeping) and answers with `status`.
async fn refuse(
    state: &AppState,
    ip: &str,
    status: actix_web::http::StatusCode,
    body: Option<&[u8]>,
    event_type: Option<&'static str>,
    reason: String,
    answer_text: &'static str,
) -> HttpResponse {
    tracing::warn!(%reason, event = event_type, "webhook refused");
    let excerpt = body.map(|b| String::from_utf8_lossy(&b[..b.len().min(2048)]).into_owned());
    if let Err(db) = store::webhooks::reject(
        &state.pool,
        event_type,
        &reason,
        Some(ip),
        excerpt.as_deref(),
    )
    .await
    {
        tracing::error!(error = %db, "could not log a webhook rejection");
    }
    answer(status, json!({ "error": answer_text }))
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
    state: &AppState,
    req: &HttpRequest,
    url_type: Option<EventType>,
    body: &[u8],
) -> HttpResponse {
    use actix_web::http::StatusCode;
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
        // No body kept: a forged delivery is not ours to store.
        let url_topic = url_type.map(|t| t.topic());
        let reason = format!("signature: {e}");
        return refuse(
            state,
            ip.as_str(),
            StatusCode::UNAUTHORIZED,
            None,
            url_topic,
            reason,
            "invalid signature",
        )
        .await;
    }

    let refuse = |event_type, reason, answer_text| {
        refuse(
            state,
            ip.as_str(),
            StatusCode::BAD_REQUEST,
            Some(body),
            event_type,
            reason,
            answer_text,
        )
    };

    // The type comes from the URL or the topic header; only a shared URL
    // without a topic needs a look at the body's shape first.
    let event_type = match url_type
        .or_else(|| header(req, TOPIC_HEADER).and_then(EventType::from_topic))
    {
        Some(t) => t,
        None => match serde_json::from_slice::<serde_json::Value>(body) {
            Err(e) => return refuse(None, format!("malformed JSON: {e}"), "malformed JSON").await,
            Ok(value) => match EventType::infer(&value) {
                Some(t) => t,
                None => {
                    return refuse(None, "unrecognised event".into(), "unrecognised event").await;
                }
            },
        },
    };
    let topic = Some(event_type.topic());
    let parsed = match events::parse(event_type, body) {
        Ok(p) => p,
        Err(ParseFailure::Malformed(e)) => {
            return refuse(topic, format!("malformed JSON: {e}"), "malformed JSON").await;
        }
        Err(ParseFailure::Shape(e)) => {
            let reason = format!("not a valid {} payload: {e}", event_type.topic());
            return refuse(topic, reason, "payload does not match the event").await;
        }
    };
    // Postgres' jsonb refuses NUL characters; say so now rather than fail
    // the insert (and every retry of it) later.
    let payload = match std::str::from_utf8(body) {
        Ok(text) if !has_nul_escape(text) => text.to_owned(),
        _ => {
            let reason = "payload contains a NUL character, which cannot be stored".to_owned();
            return refuse(topic, reason, "malformed JSON").await;
        }
    };
    let event_id = header(req, EVENT_ID_HEADER).filter(|s| !s.is_empty() && s.len() <= 200);
    let dedupe_key = match event_id {
        Some(id) => format!("id:{id}"),
        None => parsed.natural_key,
    };
    let stored = state
        .intake
        .store(NewEvent {
            event_type: event_type.topic(),
            dedupe_key,
            event_id: event_id.map(str::to_owned),
            creator_fanvue_uuid: parsed.recipient,
            payload,
        })
        .await;
    // Answered only after the commit: from here on Fanvue may consider the
    // event delivered.
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
