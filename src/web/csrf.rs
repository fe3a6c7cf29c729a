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

/// Bodies declared larger than this are refused without reading them.
const DRAIN_LIMIT: usize = 16 * 1024 * 1024;

fn exempt(req: &ServiceRequest) -> bool {
    matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS)
        || req.path().starts_with("/webhooks/")
}

/// The Origin header, when a browser sends one, must name this host.
fn origin_matches(req: &ServiceRequest) -> bool {
    let Some(origin) = req
        .headers()
        .get(header::ORIGIN)
        .and_then(|v| v.to_str().ok())
    else {
        return true;
    };
    let Some(host) = req
        .headers()
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    url::Url::parse(origin)
        .ok()
        .and_then(|u| {
            let h = u.host_str()?.to_owned();
            Some(match u.port() {
                Some(p) => format!("{h}:{p}"),
                None => h,
            })
        })
        .is_some_and(|o| o.eq_ignore_ascii_case(host))
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
    // abandoned, so the client reliably receives the 413 instead of a reset.
    let mut payload = req.take_payload();
    let mut body = web::BytesMut::new();
    let mut too_large = false;
    while let Some(chunk) = payload.next().await {
        let Ok(chunk) = chunk else {
            return Ok(reject(
                req,
                &WebError::BadRequest("The request body could not be read.".into()),
            ));
        };
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
    let ok = origin_matches(&req)
        && matches!((&submitted, &expected), (Some(s), Some(e)) if constant_time_eq(s, e));
    if !ok {
        tracing::warn!(
            path = %req.path(),
            has_token = submitted.is_some(),
            has_session_token = expected.is_some(),
            "CSRF check failed; request refused"
        );
        return Ok(reject(req, &WebError::Csrf));
    }
    req.set_payload(Payload::from(body.freeze()));
    next.call(req).await
}
