//! Connecting a creator's Fanvue account (owners and admins): "Connect" and
//! "Reconnect" send the browser to Fanvue, and Fanvue's callback lands here.
//! The flow itself (validation, code exchange, token storage, audit) lives
//! in `connections::connect`; these handlers only map its outcome to pages.

use actix_session::Session;
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;

use crate::connections::{Callback, ConnectFailure, Initiator};
use crate::domain::CreatorId;
use crate::http::client_ip::ClientIp;
use crate::web::AppState;
use crate::web::error::WebError;
use crate::web::extract::AdminStaff;
use crate::web::render::{PageCtx, html_status, see_other};
use crate::web::session::{FlashKind, TypedSession};

#[derive(Template)]
#[template(path = "connect/failed.html")]
pub struct FailedPage {
    pub ctx: PageCtx,
    pub title: &'static str,
    pub message: String,
}

fn initiator<'a>(me: &'a AdminStaff, ip: &'a ClientIp) -> Initiator<'a> {
    Initiator {
        agency_id: me.agency_id,
        staff_id: me.id,
        login_id: me.login_id.as_deref(),
        client_ip: ip.as_str(),
    }
}

async fn begin(
    state: &AppState,
    session: &Session,
    me: &AdminStaff,
    ip: &ClientIp,
    reconnect: Option<CreatorId>,
) -> Result<HttpResponse, WebError> {
    match state
        .connections
        .begin_connect(&initiator(me, ip), reconnect)
        .await
    {
        Ok(url) => Ok(see_other(&url)),
        Err(ConnectFailure::NotConfigured) => {
            TypedSession(session).flash(
                FlashKind::Error,
                "Fanvue is not configured yet: set FANVUE_CLIENT_ID and FANVUE_CLIENT_SECRET (see Fanvue status).",
            );
            Ok(see_other("/admin/creators"))
        }
        Err(e) => Err(e.into()),
    }
}

pub async fn start(
    state: web::Data<AppState>,
    session: Session,
    me: AdminStaff,
    ip: ClientIp,
) -> Result<HttpResponse, WebError> {
    begin(&state, &session, &me, &ip, None).await
}

pub async fn reconnect(
    state: web::Data<AppState>,
    session: Session,
    me: AdminStaff,
    ip: ClientIp,
    id: web::Path<String>,
) -> Result<HttpResponse, WebError> {
    let id: CreatorId = id.parse().map_err(|_| WebError::NotFound)?;
    begin(&state, &session, &me, &ip, Some(id)).await
}

/// The status and title of the page for a refused connection; None for
/// failures that are not the admin's to act on (error pages).
fn refusal(f: &ConnectFailure) -> Option<(StatusCode, &'static str)> {
    use ConnectFailure as F;
    Some(match f {
        F::MissingState | F::UnknownFlow | F::MissingCode => {
            (StatusCode::BAD_REQUEST, "Connection failed")
        }
        F::ForeignSession => (StatusCode::FORBIDDEN, "Connection refused"),
        F::Expired => (StatusCode::BAD_REQUEST, "Connection expired"),
        F::Denied => (StatusCode::OK, "Connection cancelled"),
        F::FanvueRefused(_) | F::Exchange(_) | F::Profile(_) => {
            (StatusCode::BAD_GATEWAY, "Connection failed")
        }
        F::NotACreator(_) => (StatusCode::UNPROCESSABLE_ENTITY, "Not a creator account"),
        F::OtherAgency(_) | F::JustTaken => (StatusCode::CONFLICT, "Already connected elsewhere"),
        F::WrongAccount(_) => (StatusCode::CONFLICT, "A different account approved"),
        F::NotConfigured | F::NoLogin | F::Crypto(_) | F::Store(_) => return None,
    })
}

impl From<ConnectFailure> for WebError {
    fn from(f: ConnectFailure) -> Self {
        match f {
            ConnectFailure::NotConfigured => {
                WebError::BadRequest("Fanvue is not configured.".into())
            }
            ConnectFailure::Store(e) => e.into(),
            other => WebError::Unexpected(anyhow::Error::new(other)),
        }
    }
}

pub async fn callback(
    state: web::Data<AppState>,
    session: Session,
    me: AdminStaff,
    ip: ClientIp,
    q: web::Query<Callback>,
) -> Result<HttpResponse, WebError> {
    let outcome = state
        .connections
        .complete_connect(&initiator(&me, &ip), q.into_inner())
        .await;
    match outcome {
        Ok(c) => {
            TypedSession(&session)
                .flash(FlashKind::Success, format!("@{} is connected.", c.handle));
            Ok(see_other(&format!("/admin/creators/{}", c.creator_id)))
        }
        Err(f) => match refusal(&f) {
            Some((status, title)) => html_status(
                status,
                &FailedPage {
                    ctx: PageCtx::new(&session, Some(&me), "creators")?,
                    title,
                    message: f.to_string(),
                },
            ),
            None => Err(f.into()),
        },
    }
}
