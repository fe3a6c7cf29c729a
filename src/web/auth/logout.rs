//! Signing out ends the server-side session (the row is deleted), not just
//! the cookie.

use actix_session::Session;
use actix_web::{HttpResponse, web};

use crate::domain::AuditAction;
use crate::http::client_ip::ClientIp;
use crate::store::{self, audit::AuditEntry};
use crate::web::AppState;
use crate::web::error::WebError;
use crate::web::extract::CurrentStaff;
use crate::web::render::see_other;

pub async fn submit(
    state: web::Data<AppState>,
    session: Session,
    staff: CurrentStaff,
    ip: ClientIp,
) -> Result<HttpResponse, WebError> {
    store::audit::record(
        &state.pool,
        AuditEntry {
            agency_id: Some(staff.agency_id),
            actor_id: Some(staff.id),
            action: AuditAction::Logout,
            target: Some(&staff.email),
            details: serde_json::json!({}),
            client_ip: Some(ip.as_str()),
        },
    )
    .await?;
    session.purge();
    Ok(see_other("/login?signed_out=1"))
}
