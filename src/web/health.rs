//! Liveness and readiness probes for load balancers and orchestrators.

use actix_web::{HttpResponse, web};

use crate::store;
use crate::web::AppState;

/// The process is up and serving.
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; charset=utf-8")
        .body("ok")
}

/// The database answers; a failing probe takes the instance out of rotation.
pub async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    match store::ping(&state.pool).await {
        Ok(_) => HttpResponse::Ok()
            .content_type("text/plain; charset=utf-8")
            .body("ready"),
        Err(e) => {
            tracing::warn!(error = %e, "readiness check: database unreachable");
            HttpResponse::ServiceUnavailable()
                .content_type("text/plain; charset=utf-8")
                .body("database unavailable")
        }
    }
}
