//! The client's address for throttling and the audit log. `X-Forwarded-For`
//! is trusted only when configured (behind a proxy that sets it).

use std::future::{Ready, ready};

use actix_web::{FromRequest, HttpRequest, dev::Payload, web};

use crate::web::AppState;

#[derive(Debug, Clone)]
pub struct ClientIp(pub String);

impl ClientIp {
    pub fn of(req: &HttpRequest) -> Self {
        let trust = req
            .app_data::<web::Data<AppState>>()
            .is_some_and(|s| s.settings.trust_forwarded_for);
        if trust
            && let Some(ip) = req
                .headers()
                .get("x-forwarded-for")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.split(',').next())
                .map(str::trim)
                .filter(|v| !v.is_empty())
        {
            return Self(ip.to_owned());
        }
        Self(
            req.peer_addr()
                .map(|a| a.ip().to_string())
                .unwrap_or_else(|| "unknown".to_owned()),
        )
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromRequest for ClientIp {
    type Error = actix_web::Error;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(Ok(Self::of(req)))
    }
}
