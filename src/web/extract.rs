//! Who is asking: `CurrentStaff` yields the signed-in staff member (with the
//! agency id every store call is scoped by) or redirects to the login page.
//! `AdminStaff` adds the admin check (`role_guard!` makes more). A handler that takes one
//! of these can never run for an anonymous or under-privileged request.

use std::future::Future;
use std::pin::Pin;

use actix_session::{Session, SessionExt};
use actix_web::{FromRequest, HttpRequest, dev::Payload, web};
use chrono::Utc;

use crate::domain::{AgencyId, AgencyZone, MinPpvPrice, Role, StaffId};
use crate::store;
use crate::web::AppState;
use crate::web::error::WebError;
use crate::web::session::TypedSession;

#[derive(Debug, Clone)]
pub struct CurrentStaff {
    pub id: StaffId,
    pub agency_id: AgencyId,
    pub agency_name: String,
    pub role: Role,
    pub display_name: String,
    pub email: String,
    /// Identifies this login's session row ("sign out other sessions").
    pub login_id: Option<String>,
    /// The agency's settings as of this request, read with the staff row.
    pub zone: AgencyZone,
    pub min_ppv_price: MinPpvPrice,
    pub mark_read_on_open: bool,
}

fn login_required(req: &HttpRequest) -> WebError {
    let next = match req.uri().path_and_query() {
        Some(pq) if req.method() == actix_web::http::Method::GET => pq.as_str().to_owned(),
        _ => "/".to_owned(),
    };
    WebError::LoginRequired { next }
}

async fn current_staff(req: HttpRequest) -> Result<CurrentStaff, WebError> {
    let session: Session = req.get_session();
    let typed = TypedSession(&session);
    let Some((staff_id, login_at)) = typed.login() else {
        return Err(login_required(&req));
    };
    let state = req
        .app_data::<web::Data<AppState>>()
        .ok_or_else(|| WebError::Unexpected(anyhow::anyhow!("AppState missing")))?;
    // Absolute lifetime: however active, a login ends after this long.
    let absolute = chrono::Duration::from_std(state.settings.auth.absolute())
        .map_err(|e| WebError::Unexpected(e.into()))?;
    if login_at + absolute < Utc::now() {
        session.purge();
        return Err(login_required(&req));
    }
    let found = store::staff::for_session(&state.pool, staff_id).await?;
    match found {
        Some(s) if s.active => Ok(CurrentStaff {
            id: s.id,
            agency_id: s.agency_id,
            agency_name: s.agency_name,
            role: s.role,
            display_name: s.display_name,
            email: s.email,
            login_id: typed.login_id(),
            zone: AgencyZone::from_db(&s.time_zone),
            min_ppv_price: MinPpvPrice::from_cents(s.min_ppv_price_cents),
            mark_read_on_open: s.mark_read_on_open,
        }),
        // Deactivated or deleted: the session must not keep working.
        _ => {
            session.purge();
            Err(login_required(&req))
        }
    }
}

impl FromRequest for CurrentStaff {
    type Error = WebError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        Box::pin(current_staff(req.clone()))
    }
}

macro_rules! role_guard {
    ($(#[$meta:meta])* $name:ident, $check:expr) => {
        $(#[$meta])*
        #[derive(Debug, Clone)]
        pub struct $name(pub CurrentStaff);

        impl std::ops::Deref for $name {
            type Target = CurrentStaff;
            fn deref(&self) -> &CurrentStaff {
                &self.0
            }
        }

        impl FromRequest for $name {
            type Error = WebError;
            type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

            fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
                let req = req.clone();
                Box::pin(async move {
                    let staff = current_staff(req).await?;
                    let check: fn(Role) -> bool = $check;
                    if check(staff.role) { Ok($name(staff)) } else { Err(WebError::Forbidden) }
                })
            }
        }
    };
}

role_guard!(
    /// Managers and above (sales reassignment).
    ManagerStaff,
    Role::is_manager_or_above
);

role_guard!(
    /// Owners and admins.
    AdminStaff,
    Role::is_admin
);

impl CurrentStaff {
    /// An audit entry for an action this staff member takes.
    pub fn audit<'a>(
        &'a self,
        action: crate::domain::AuditAction,
        target: &'a str,
        details: serde_json::Value,
        ip: &'a crate::http::client_ip::ClientIp,
    ) -> crate::store::audit::AuditEntry<'a> {
        crate::store::audit::AuditEntry {
            agency_id: Some(self.agency_id),
            actor_id: Some(self.id),
            action,
            target: Some(target),
            details,
            client_ip: Some(ip.as_str()),
        }
    }
}
