//! Prometheus metrics: one process-wide recorder (the `metrics` facade with
//! the Prometheus renderer), counters and histograms recorded where things
//! happen, and gauges sampled from Postgres when `/metrics` is scraped.
//! Label values are bounded sets only — route templates, endpoint templates,
//! statuses, creator ids — never fan, chat or message ids.

use std::sync::OnceLock;
use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

pub const HTTP_REQUESTS: &str = "switchboard_http_requests_total";
pub const HTTP_DURATION: &str = "switchboard_http_request_duration_seconds";
pub const FANVUE_REQUESTS: &str = "switchboard_fanvue_requests_total";
pub const FANVUE_RATE_LIMITED: &str = "switchboard_fanvue_rate_limited_total";
pub const FANVUE_RATE_REMAINING: &str = "switchboard_fanvue_rate_remaining";
pub const WEBHOOK_DELIVERIES: &str = "switchboard_webhook_deliveries_total";

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Installs the recorder (once per process; later calls return the same
/// handle). `None` if another recorder was installed first.
pub fn install() -> Option<&'static PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new()
                .set_buckets_for_metric(
                    Matcher::Full(HTTP_DURATION.to_owned()),
                    // Fine below 50 ms, where page targets are judged.
                    &[
                        0.0005, 0.001, 0.0025, 0.005, 0.0075, 0.01, 0.015, 0.02, 0.025, 0.03, 0.04,
                        0.05, 0.075, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
                    ],
                )
                .ok()?
                .build_recorder();
            let handle = recorder.handle();
            match metrics::set_global_recorder(recorder) {
                Ok(()) => Some(handle),
                Err(e) => {
                    tracing::warn!(error = %e, "a metrics recorder was already installed");
                    None
                }
            }
        })
        .as_ref()
}

/// Whether a recorder is installed (without one, recording is skipped).
fn enabled() -> bool {
    HANDLE.get().is_some_and(Option::is_some)
}

/// Counts and times every request by method, route template and status.
/// Unmatched paths share one label, so scanners cannot grow the series.
pub async fn track_http<B: MessageBody + 'static>(
    req: ServiceRequest,
    next: Next<B>,
) -> Result<ServiceResponse<B>, actix_web::Error> {
    if !enabled() {
        return next.call(req).await;
    }
    let started = Instant::now();
    let method = req.method().as_str().to_owned();
    let res = next.call(req).await?;
    let route = res
        .request()
        .match_pattern()
        .unwrap_or_else(|| "unmatched".to_owned());
    let status = res.status().as_u16().to_string();
    let labels = [("method", method), ("route", route), ("status", status)];
    metrics::counter!(HTTP_REQUESTS, &labels).increment(1);
    metrics::histogram!(HTTP_DURATION, &labels[..2]).record(started.elapsed().as_secs_f64());
    Ok(res)
}

/// A Fanvue response: by endpoint template and status; 429s also counted on
/// their own.
pub fn fanvue_response(method: &str, path: &str, status: u16) {
    let endpoint = endpoint_template(path);
    metrics::counter!(
        FANVUE_REQUESTS,
        "method" => method.to_owned(),
        "endpoint" => endpoint.clone(),
        "status" => status.to_string()
    )
    .increment(1);
    if status == 429 {
        metrics::counter!(FANVUE_RATE_LIMITED, "endpoint" => endpoint).increment(1);
    }
}

/// What the rate-limit headers said is left in a bucket (the bucket is the
/// authorizing creator's Fanvue uuid: few, bounded).
pub fn fanvue_budget(bucket: &str, remaining: Option<u32>) {
    if let Some(r) = remaining {
        metrics::gauge!(FANVUE_RATE_REMAINING, "bucket" => bucket.to_owned()).set(f64::from(r));
    }
}

/// One webhook delivery's outcome: `accepted`, `unmatched`, `duplicate`,
/// `rejected` or `error`.
pub fn webhook_delivery(result: &'static str) {
    metrics::counter!(WEBHOOK_DELIVERIES, "result" => result).increment(1);
}

/// `/chats/3f2b…/messages` → `/chats/{id}/messages`: ids (uuids, numbers)
/// become `{id}` so the label set stays that of the API's routes.
pub fn endpoint_template(path: &str) -> String {
    let path = path.split('?').next().unwrap_or("");
    path.split('/')
        .map(|seg| {
            let is_id = uuid::Uuid::parse_str(seg).is_ok()
                || (!seg.is_empty() && seg.bytes().all(|b| b.is_ascii_digit()));
            if is_id { "{id}" } else { seg }
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// Gauges sampled at scrape time: state that lives in Postgres (shared by
/// every instance) and this instance's pool and live streams.
pub struct Samples {
    pub pool_size: u32,
    pub pool_idle: usize,
    pub live_streams: i64,
    pub db: crate::store::metrics::DbSamples,
}

pub fn set_samples(s: &Samples) {
    use metrics::gauge;
    let in_use = (s.pool_size as usize).saturating_sub(s.pool_idle);
    gauge!("switchboard_db_pool_connections", "state" => "in_use").set(in_use as f64);
    gauge!("switchboard_db_pool_connections", "state" => "idle").set(s.pool_idle as f64);
    gauge!("switchboard_live_streams").set(s.live_streams as f64);
    let d = &s.db;
    gauge!("switchboard_webhook_events", "status" => "open").set(d.webhooks_open as f64);
    gauge!("switchboard_webhook_events", "status" => "dead").set(d.webhooks_dead as f64);
    gauge!("switchboard_webhook_lag_seconds").set(d.webhook_lag_secs);
    gauge!("switchboard_webhook_last_received_age_seconds").set(d.webhook_last_received_age_secs);
    for (status, n) in &d.creators {
        gauge!("switchboard_creators", "status" => status.clone()).set(*n as f64);
    }
    for (status, n) in &d.sends_last_hour {
        gauge!("switchboard_sends_last_hour", "status" => status.clone()).set(*n as f64);
    }
    for (kind, ok, n) in &d.sync_runs_last_hour {
        let result = if *ok { "ok" } else { "error" };
        gauge!("switchboard_sync_runs_last_hour", "kind" => kind.clone(), "result" => result)
            .set(*n as f64);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_leave_endpoint_labels() {
        assert_eq!(
            endpoint_template("/chats/3f2b8c1e-9d4a-4e7b-8a1c-0d2e3f4a5b6c/messages?page=2"),
            "/chats/{id}/messages"
        );
        assert_eq!(
            endpoint_template("/creators/3f2b8c1e-9d4a-4e7b-8a1c-0d2e3f4a5b6c/chats/42"),
            "/creators/{id}/chats/{id}"
        );
        assert_eq!(
            endpoint_template("/chats/messages/batch"),
            "/chats/messages/batch"
        );
    }
}
