//! Webhook intake. Per request, in order: size cap (413, by the payload
//! config), raw body, signature (401, nothing stored), JSON (400, logged as
//! a rejected delivery), event type, dedupe key (a duplicate answers 200
//! without a second row), creator lookup (unknown → 202, kept as
//! unmatched), commit, 2xx. Nothing here calls Fanvue or writes the mirror.

use actix_web::{HttpRequest, HttpResponse, web};
use chrono::Utc;
use serde_json::json;

use super::events::{self, EventType};
use super::signature;
use crate::store::webhooks::Intake;
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

async fn intake(
    state: &AppState,
    req: &HttpRequest,
    url_type: Option<EventType>,
    body: &[u8],
) -> HttpResponse {
    use actix_web::http::StatusCode;
    let cfg = &state.settings.webhooks;
    let ip = ClientIp::of(req);
    let type_hint = url_type.map(|t| t.topic());

    if let Err(e) = signature::verify(
        header(req, SIGNATURE_HEADER),
        body,
        cfg.secret.as_ref(),
        cfg.previous_secret.as_ref(),
        cfg.tolerance_secs,
        Utc::now(),
    ) {
        tracing::warn!(reason = %e, event = type_hint, "webhook refused: signature");
        let reason = format!("signature: {e}");
        if let Err(db) =
            store::webhooks::reject(&state.pool, type_hint, &reason, Some(ip.as_str()), None).await
        {
            tracing::error!(error = %db, "could not log a webhook rejection");
        }
        return answer(
            StatusCode::UNAUTHORIZED,
            json!({ "error": "invalid signature" }),
        );
    }

    let excerpt = || String::from_utf8_lossy(&body[..body.len().min(2048)]).into_owned();
    let value: serde_json::Value = match serde_json::from_slice(body) {
        Ok(v) => v,
        Err(e) => {
            tracing::warn!(error = %e, event = type_hint, "webhook refused: malformed JSON");
            let _ = store::webhooks::reject(
                &state.pool,
                type_hint,
                &format!("malformed JSON: {e}"),
                Some(ip.as_str()),
                Some(&excerpt()),
            )
            .await;
            return answer(
                StatusCode::BAD_REQUEST,
                json!({ "error": "malformed JSON" }),
            );
        }
    };
    let event_type = url_type
        .or_else(|| header(req, TOPIC_HEADER).and_then(EventType::from_topic))
        .or_else(|| EventType::infer(&value));
    let Some(event_type) = event_type else {
        let _ = store::webhooks::reject(
            &state.pool,
            None,
            "unrecognised event",
            Some(ip.as_str()),
            Some(&excerpt()),
        )
        .await;
        return answer(
            StatusCode::BAD_REQUEST,
            json!({ "error": "unrecognised event" }),
        );
    };
    let parsed = match events::parse(event_type, &value) {
        Ok(p) => p,
        Err(e) => {
            let reason = format!("not a valid {} payload: {e}", event_type.topic());
            tracing::warn!(%reason, "webhook refused");
            let _ = store::webhooks::reject(
                &state.pool,
                Some(event_type.topic()),
                &reason,
                Some(ip.as_str()),
                Some(&excerpt()),
            )
            .await;
            return answer(
                StatusCode::BAD_REQUEST,
                json!({ "error": "payload does not match the event" }),
            );
        }
    };
    let event_id = header(req, EVENT_ID_HEADER).filter(|s| !s.is_empty() && s.len() <= 200);
    let dedupe = match event_id {
        Some(id) => format!("id:{id}"),
        None => parsed.natural_key.clone(),
    };
    let stored = store::webhooks::insert(
        &state.pool,
        store::webhooks::NewEvent {
            event_type: event_type.topic(),
            dedupe_key: &dedupe,
            event_id,
            creator_fanvue_uuid: parsed.recipient,
            payload: &value,
        },
    )
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
