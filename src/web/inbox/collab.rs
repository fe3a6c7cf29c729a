//! Presence reports, the people/claim fragment, claims (claim, take over,
//! release, reassign), "Next chat" and the managers' claims page. Every
//! chat route goes through `visible_target` (404 for another agency's chat
//! or a creator the viewer may not work); every POST is CSRF-checked by the
//! middleware like the rest.

use actix_session::Session;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde::Deserialize;
use serde_json::json;

use crate::domain::StaffId;
use crate::http::client_ip::ClientIp;
use crate::inbox::claims::{self, Actor, ChatPeople, ClaimOutcome, CreatorClaims};
use crate::inbox::presence::{self, Report};
use crate::web::AppState;
use crate::web::error::WebError;
use crate::web::extract::{CurrentStaff, ManagerStaff};
use crate::web::inbox::send::{viewer, visible_target};
use crate::web::render::{PageCtx, html, see_other};
use crate::web::session::{FlashKind, TypedSession};

fn wants_json(req: &HttpRequest) -> bool {
    req.headers()
        .get(actix_web::http::header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("application/json"))
}

#[derive(Debug, Deserialize)]
pub struct PresenceForm {
    #[serde(default)]
    tab: String,
    typing: Option<String>,
    idle: Option<String>,
    leave: Option<String>,
}

/// `POST /inbox/chats/{id}/presence`: the page's heartbeat, typing and
/// leaving reports. 204.
pub async fn report(
    state: web::Data<AppState>,
    me: CurrentStaff,
    path: web::Path<String>,
    form: web::Form<PresenceForm>,
) -> Result<HttpResponse, WebError> {
    let target = visible_target(&state, &me, &path).await?;
    let r = Report::parse(
        &form.tab,
        form.typing.as_deref(),
        form.idle.as_deref(),
        form.leave.as_deref(),
    )?;
    presence::report(&state.pool, viewer(&me), &target, &r).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// The thread header's people and claim block.
#[derive(Template)]
#[template(path = "inbox/_people.html")]
pub struct PeopleFragment {
    pub ctx: PageCtx,
    pub people_chat: String,
    pub people: ChatPeople,
}

/// `GET /inbox/chats/{id}/people`: the block live.js swaps in.
pub async fn people(
    state: web::Data<AppState>,
    session: Session,
    me: CurrentStaff,
    path: web::Path<String>,
) -> Result<HttpResponse, WebError> {
    let target = visible_target(&state, &me, &path).await?;
    let people = claims::people_of(&state.pool, viewer(&me), &[target.chat_id])
        .await?
        .remove(&target.chat_id)
        .unwrap_or_default();
    html(&PeopleFragment {
        ctx: PageCtx::new(&session, Some(&me), "inbox")?,
        people_chat: target.chat_id.to_string(),
        people,
    })
}

fn back_to(chat: uuid::Uuid) -> String {
    format!("/inbox/chats/{chat}")
}

fn answer(
    req: &HttpRequest,
    session: &Session,
    chat: uuid::Uuid,
    outcome: &ClaimOutcome,
) -> HttpResponse {
    let (status, text, kind) = match outcome {
        ClaimOutcome::Claimed => (
            "claimed",
            "You claimed this chat.".to_owned(),
            FlashKind::Success,
        ),
        ClaimOutcome::HeldBy(who) => (
            "held",
            format!("{who} has claimed this chat. Take it over to work it."),
            FlashKind::Error,
        ),
        ClaimOutcome::CapReached(cap) => (
            "cap",
            format!(
                "You already hold {cap} claimed chats, the most this agency allows. Release one first."
            ),
            FlashKind::Error,
        ),
        ClaimOutcome::NothingWaiting => (
            "empty",
            "No unclaimed chat is waiting for a reply.".to_owned(),
            FlashKind::Info,
        ),
    };
    if wants_json(req) {
        let code = match outcome {
            ClaimOutcome::Claimed => actix_web::http::StatusCode::OK,
            ClaimOutcome::NothingWaiting => actix_web::http::StatusCode::NOT_FOUND,
            _ => actix_web::http::StatusCode::CONFLICT,
        };
        return HttpResponse::build(code)
            .json(json!({ "status": status, "chat": chat, "message": text }));
    }
    TypedSession(session).flash(kind, text);
    see_other(&back_to(chat))
}

/// `POST /inbox/chats/{id}/claim`.
pub async fn claim(
    state: web::Data<AppState>,
    session: Session,
    me: CurrentStaff,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, WebError> {
    let target = visible_target(&state, &me, &path).await?;
    let outcome =
        claims::claim(&state.pool, viewer(&me), target.creator_id, target.chat_id).await?;
    Ok(answer(&req, &session, target.chat_id, &outcome))
}

/// `POST /inbox/chats/{id}/claim/take`: take the chat over (audited).
pub async fn take_over(
    state: web::Data<AppState>,
    session: Session,
    me: CurrentStaff,
    ip: ClientIp,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, WebError> {
    let target = visible_target(&state, &me, &path).await?;
    let actor = Actor {
        viewer: viewer(&me),
        client_ip: Some(ip.as_str()),
    };
    let outcome = claims::take_over(&state.pool, &actor, target.creator_id, target.chat_id).await?;
    if outcome == ClaimOutcome::Claimed && !wants_json(&req) {
        TypedSession(&session).flash(FlashKind::Success, "You took this chat over.");
        return Ok(see_other(&back_to(target.chat_id)));
    }
    Ok(answer(&req, &session, target.chat_id, &outcome))
}

/// `POST /inbox/chats/{id}/claim/release`: the owner (or a manager) ends
/// the claim (audited).
pub async fn release(
    state: web::Data<AppState>,
    session: Session,
    me: CurrentStaff,
    ip: ClientIp,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, WebError> {
    let target = visible_target(&state, &me, &path).await?;
    let actor = Actor {
        viewer: viewer(&me),
        client_ip: Some(ip.as_str()),
    };
    let ended = claims::release(&state.pool, &actor, target.chat_id).await?;
    if wants_json(&req) {
        return Ok(HttpResponse::Ok().json(json!({ "released": ended })));
    }
    TypedSession(&session).flash(
        FlashKind::Info,
        if ended {
            "The claim on this chat is released."
        } else {
            "You hold no claim on this chat."
        },
    );
    let back = req
        .headers()
        .get(actix_web::http::header::REFERER)
        .and_then(|v| v.to_str().ok())
        .filter(|r| r.contains("/inbox/claims"))
        .map_or_else(|| back_to(target.chat_id), |_| "/inbox/claims".to_owned());
    Ok(see_other(&back))
}

#[derive(Debug, Deserialize)]
pub struct AssignForm {
    #[serde(default)]
    staff_id: String,
}

/// `POST /inbox/chats/{id}/claim/assign` (managers): give the claim to a
/// staff member who works the creator (audited).
pub async fn reassign(
    state: web::Data<AppState>,
    session: Session,
    me: ManagerStaff,
    ip: ClientIp,
    req: HttpRequest,
    path: web::Path<String>,
    form: web::Form<AssignForm>,
) -> Result<HttpResponse, WebError> {
    let target = visible_target(&state, &me, &path).await?;
    let to: StaffId = form
        .staff_id
        .trim()
        .parse()
        .map_err(|_| WebError::BadRequest("Choose who gets the claim.".to_owned()))?;
    let actor = Actor {
        viewer: viewer(&me),
        client_ip: Some(ip.as_str()),
    };
    claims::reassign(&state.pool, &actor, target.creator_id, target.chat_id, to).await?;
    if wants_json(&req) {
        return Ok(HttpResponse::Ok().json(json!({ "status": "reassigned" })));
    }
    TypedSession(&session).flash(FlashKind::Success, "Claim reassigned.");
    Ok(see_other("/inbox/claims"))
}

/// `POST /inbox/next`: claim the unclaimed chat that has waited longest and
/// open it.
pub async fn next_chat(
    state: web::Data<AppState>,
    session: Session,
    me: CurrentStaff,
    req: HttpRequest,
) -> Result<HttpResponse, WebError> {
    let (outcome, chat) = claims::next_chat(&state.pool, viewer(&me)).await?;
    match chat {
        Some(chat) => Ok(answer(&req, &session, chat, &outcome)),
        None => {
            let resp = answer(&req, &session, uuid::Uuid::nil(), &outcome);
            if wants_json(&req) {
                return Ok(resp);
            }
            Ok(see_other("/inbox?tab=unclaimed"))
        }
    }
}

#[derive(Template)]
#[template(path = "inbox/claims.html")]
pub struct ClaimsPage {
    pub ctx: PageCtx,
    pub creators: Vec<CreatorClaims>,
}

/// `GET /inbox/claims` (managers): live claims per creator, with release
/// and reassign.
pub async fn claims_page(
    state: web::Data<AppState>,
    session: Session,
    me: ManagerStaff,
) -> Result<HttpResponse, WebError> {
    let creators = claims::overview(&state.pool, viewer(&me)).await?;
    html(&ClaimsPage {
        ctx: PageCtx::new(&session, Some(&me), "inbox")?,
        creators,
    })
}
