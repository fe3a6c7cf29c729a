//! `GET /metrics`: Prometheus text format, for the operator's scraper only.
//! Off (404) unless `metrics.token` is configured, and then only with
//! `Authorization: Bearer <token>` (401 otherwise). Never shows tenant data
//! beyond installation-wide counts.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use secrecy::ExposeSecret;

use crate::credentials::token::constant_time_eq;
use crate::metrics::{self, Samples};
use crate::store;
use crate::web::AppState;
use crate::web::error::WebError;

pub async fn scrape(
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, WebError> {
    let Some(token) = state.settings.metrics.token.as_ref() else {
        return Err(WebError::NotFound);
    };
    let presented = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    if !presented.is_some_and(|p| constant_time_eq(p, token.expose_secret().trim())) {
        return Ok(HttpResponse::Unauthorized()
            .insert_header((header::WWW_AUTHENTICATE, "Bearer"))
            .content_type("text/plain; charset=utf-8")
            .body("a bearer token is required\n"));
    }
    let Some(handle) = metrics::install() else {
        return Err(WebError::Unexpected(anyhow::anyhow!(
            "no Prometheus recorder could be installed"
        )));
    };
    let db = store::metrics::sample(&state.pool).await?;
    metrics::set_samples(&Samples {
        pool_size: state.pool.size(),
        pool_idle: state.pool.num_idle(),
        live_streams: state.live.open_streams(),
        db,
    });
    handle.run_upkeep();
    Ok(HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(handle.render()))
}
