//! CSRF protection for every state-changing request: a per-session token
//! (synchronizer pattern) sent as the `csrf_token` form field or the
//! `X-CSRF-Token` header, compared in constant time, plus an Origin check.
//! This middleware also caps request bodies (413), since it is the one
//! place that reads them before handlers. Webhooks are exempt: they are
//! authenticated by their signature instead.

use actix_session::SessionExt;
use actix_web::body::BoxBody;
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::http::{Method, StatusCode, header};
use actix_web::middleware::Next;
use actix_web::{HttpMessage, ResponseError, web};
use futures_util::StreamExt;

use crate::credentials::token::constant_time_eq;
use crate::web::AppState;
use crate::web::error::{WebError, error_page};
use crate::web::session::TypedSession;

pub const FIELD: &str = "csrf_token";
pub const HEADER: &str = "x-csrf-token";

/// Bodies declared larger than this are refused without reading them, and
/// an undeclared (chunked) body is read no further than this.
const DRAIN_LIMIT: usize = 16 * 1024 * 1024;

/// A body that has not arrived completely within this is refused (408).
const DRAIN_TIME: std::time::Duration = std::time::Duration::from_secs(5);

fn exempt(req: &ServiceRequest) -> bool {
    matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS)
        || req.path().starts_with("/webhooks/")
}

/// The Origin header, when a browser sends one, must be exactly the origin
/// of `PUBLIC_URL` (scheme, host and port). `Host` is not trusted: it is
/// whatever the client or a proxy put there.
fn origin_matches(req: &ServiceRequest, public: &url::Origin) -> bool {
    let Some(origin) = req.headers().get(header::ORIGIN) else {
        return true;
    };
    origin
        .to_str()
        .ok()
        .and_then(|o| url::Url::parse(o).ok())
        .is_some_and(|u| u.origin().is_tuple() && &u.origin() == public)
}

fn form_token(body: &[u8]) -> Option<String> {
    serde_urlencoded::from_bytes::<Vec<(String, String)>>(body)
        .ok()?
        .into_iter()
        .find(|(k, _)| k == FIELD)
        .map(|(_, v)| v)
}

fn reject(req: ServiceRequest, err: &WebError) -> ServiceResponse<BoxBody> {
    let (http, _) = req.into_parts();
    ServiceResponse::new(http, err.error_response())
}

pub async fn guard(
    mut req: ServiceRequest,
    next: Next<BoxBody>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    if exempt(&req) {
        return next.call(req).await;
    }
    let limit = req
        .app_data::<web::Data<AppState>>()
        .map_or(64 * 1024, |s| s.settings.max_form_bytes);
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > DRAIN_LIMIT) {
        let (http, _) = req.into_parts();
        return Ok(ServiceResponse::new(
            http,
            error_page(StatusCode::PAYLOAD_TOO_LARGE, None),
        ));
    }

    // Read the whole (bounded) body. An oversized body is drained rather than
    // abandoned, so the client reliably receives the 413 instead of a reset,
    // but only up to DRAIN_LIMIT bytes and DRAIN_TIME in all: a chunked body
    // without Content-Length could otherwise be drained forever.
    let mut payload = req.take_payload();
    let mut body = web::BytesMut::new();
    let mut seen = 0usize;
    let mut too_large = false;
    let deadline = tokio::time::Instant::now() + DRAIN_TIME;
    loop {
        let chunk = match tokio::time::timeout_at(deadline, payload.next()).await {
            Err(_) => {
                let (http, _) = req.into_parts();
                return Ok(ServiceResponse::new(
                    http,
                    error_page(StatusCode::REQUEST_TIMEOUT, None),
                ));
            }
            Ok(None) => break,
            Ok(Some(Ok(chunk))) => chunk,
            Ok(Some(Err(_))) => {
                return Ok(reject(
                    req,
                    &WebError::BadRequest("The request body could not be read.".into()),
                ));
            }
        };
        seen += chunk.len();
        if seen > DRAIN_LIMIT {
            return Ok(reject(req, &WebError::PayloadTooLarge));
        }
        if too_large || body.len() + chunk.len() > limit {
            too_large = true;
            continue;
        }
        body.extend_from_slice(&chunk);
    }
    if too_large {
        return Ok(reject(req, &WebError::PayloadTooLarge));
    }

    let submitted = req
        .headers()
        .get(HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .or_else(|| form_token(&body));
    let session = req.get_session();
    let expected = TypedSession(&session).expected_csrf();
    let public = req
        .app_data::<web::Data<AppState>>()
        .map(|s| s.settings.public_url.origin());
    let ok = public.is_some_and(|p| origin_matches(&req, &p))
        && matches!((&submitted, &expected), (Some(s), Some(e)) if constant_time_eq(s, e));
    if !ok {
        // The route template, never the path: paths carry invite tokens.
        tracing::warn!(
            route = req.match_pattern().as_deref().unwrap_or("unmatched"),
            has_token = submitted.is_some(),
            has_session_token = expected.is_some(),
            "CSRF check failed; request refused"
        );
        return Ok(reject(req, &WebError::Csrf));
    }
    req.set_payload(Payload::from(body.freeze()));
    next.call(req).await
}
