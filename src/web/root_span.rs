//! The root span of every request, as tracing-actix-web's default but
//! without the raw target: paths carry invite tokens and query strings carry
//! OAuth codes and states, and every event of a request repeats its root
//! span's fields. The span records the route template (`/invite/{token}`)
//! and only the names of query parameters; it never records their values.

use actix_web::Error;
use actix_web::HttpMessage;
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use tracing::Span;
use tracing_actix_web::{DefaultRootSpanBuilder, RequestId, RootSpanBuilder};

pub struct RedactedRootSpan;

/// `a=1&b=2` → `a=…&b=…`: which parameters came, not what they said.
pub fn redact_query(query: &str) -> String {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let name = p.split('=').next().unwrap_or_default();
            let name: String = name
                .chars()
                .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
                .take(32)
                .collect();
            format!("{name}=…")
        })
        .collect::<Vec<_>>()
        .join("&")
}

impl RootSpanBuilder for RedactedRootSpan {
    fn on_request_start(request: &ServiceRequest) -> Span {
        let route = request
            .match_pattern()
            .unwrap_or_else(|| "unmatched".to_owned());
        let request_id = request
            .extensions()
            .get::<RequestId>()
            .map(ToString::to_string)
            .unwrap_or_default();
        let query = redact_query(request.query_string());
        tracing::info_span!(
            "HTTP request",
            http.method = %request.method(),
            http.route = %route,
            http.query = %query,
            request_id = %request_id,
            http.status_code = tracing::field::Empty,
            otel.status_code = tracing::field::Empty,
            exception.message = tracing::field::Empty,
            exception.details = tracing::field::Empty,
        )
    }

    fn on_request_end<B: MessageBody>(span: Span, outcome: &Result<ServiceResponse<B>, Error>) {
        DefaultRootSpanBuilder::on_request_end(span, outcome);
    }
}

#[cfg(test)]
mod tests {
    use super::redact_query;

    #[test]
    fn query_values_never_survive() {
        assert_eq!(redact_query("code=s3cr3t&state=abc"), "code=…&state=…");
        assert_eq!(redact_query(""), "");
        assert_eq!(redact_query("flag"), "flag=…");
    }
}
