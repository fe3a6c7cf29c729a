//! The outermost middleware: security headers on every response (pages,
//! static files, errors), the request id echoed as `X-Request-Id`, and a
//! friendly HTML page in place of any framework-generated plain-text error
//! (unknown route, wrong method, malformed path) so nothing leaks internals.

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::error::InternalError;
use actix_web::http::header::{self, HeaderMap, HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{HttpMessage, HttpResponse, web};
use tracing_actix_web::RequestId;

use crate::web::AppState;
use crate::web::error::error_page;

/// Only our own origin; no inline script or style, no framing, no plugins.
/// Forms may also post to (and be redirected to) Fanvue's authorize origin,
/// which the connect flow needs.
pub fn content_security_policy(fanvue_auth: &url::Url) -> String {
    let origin = fanvue_auth.origin().ascii_serialization();
    format!(
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: https:; \
font-src 'self'; connect-src 'self'; form-action 'self' {origin}; frame-ancestors 'none'; base-uri 'none'; \
object-src 'none'"
    )
}

pub async fn security(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let (https, csp) = req
        .app_data::<web::Data<AppState>>()
        .map(|s| (s.settings.secure_cookies(), s.csp.clone()))
        .unwrap_or((false, FALLBACK_CSP.to_owned()));
    let wants_html = !req.path().starts_with("/webhooks/");
    // The request must not be cloned before routing (the router mutates it),
    // so an error that escapes the inner layers is turned into a response
    // here, with the same headers, rather than into a ServiceResponse.
    let res = match next.call(req).await {
        Ok(res) => res.map_into_boxed_body(),
        Err(e) => {
            let mut page = friendly(e.error_response(), wants_html);
            apply(page.headers_mut(), https, &csp, None);
            return Err(InternalError::from_response(e.to_string(), page).into());
        }
    };
    let request_id = res
        .request()
        .extensions()
        .get::<RequestId>()
        .map(|id| id.to_string());
    let (http, response) = res.into_parts();
    let mut response = friendly(response, wants_html);
    apply(response.headers_mut(), https, &csp, request_id);
    Ok(ServiceResponse::new(http, response))
}

/// Swaps a framework's plain-text error body for the friendly error page
/// (a handler's own HTML or JSON answer is kept: the inbox's JSON clients
/// read their errors).
fn friendly(res: HttpResponse<BoxBody>, wants_html: bool) -> HttpResponse<BoxBody> {
    let status = res.status();
    let ours = res
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/html") || v.starts_with("application/json"));
    if !wants_html || ours || !(status.is_client_error() || status.is_server_error()) {
        return res;
    }
    let mut page = error_page(status, None);
    // Keep headers the framework set for a reason (e.g. Allow on 405).
    for (k, v) in res.headers() {
        if k != header::CONTENT_TYPE && k != header::CONTENT_LENGTH {
            page.headers_mut().insert(k.clone(), v.clone());
        }
    }
    page
}

/// Used only if the app state is missing (never in a built app).
const FALLBACK_CSP: &str = "default-src 'self'; frame-ancestors 'none'";

fn apply(h: &mut HeaderMap, https: bool, csp: &str, request_id: Option<String>) {
    if let Some(id) = request_id.and_then(|id| HeaderValue::from_str(&id).ok()) {
        h.insert(HeaderName::from_static("x-request-id"), id);
    }
    if let Ok(v) = HeaderValue::from_str(csp) {
        h.insert(header::CONTENT_SECURITY_POLICY, v);
    }
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        HeaderName::from_static("cross-origin-opener-policy"),
        HeaderValue::from_static("same-origin"),
    );
    h.insert(
        HeaderName::from_static("permissions-policy"),
        HeaderValue::from_static("camera=(), microphone=(), geolocation=(), payment=()"),
    );
    if https {
        h.insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=63072000; includeSubDomains"),
        );
    }
    // Pages show tenant data: keep them out of shared and back-button caches.
    if !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
}
