//! `POST /inbox/chats/{id}/send` and `POST /inbox/chats/{id}/read`.
//!
//! A send answers a browser with 303 to the thread on success and the
//! thread re-rendered with the draft on any failure. A client asking for
//! `Accept: application/json` gets a JSON status instead; an htmx request
//! (`HX-Request`) gets just the compose form (blank after a success, the
//! draft after a failure) with the same status codes.

use actix_session::Session;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::json;
use uuid::Uuid;

use crate::inbox::compose_input::{ComposeForm, validate};
use crate::inbox::send::{
    Failure, Hold, MSG_ALREADY_SENT, MSG_UNKNOWN, SendError, SendOutcome, Sender,
};
use crate::inbox::{Viewer, may_work_creator};
use crate::store::sends::{ChatTarget, SendRow};
use crate::store::{self};
use crate::web::AppState;
use crate::web::error::WebError;
use crate::web::extract::CurrentStaff;
use crate::web::inbox::compose::{self, ComposeBox, NoticeKind};
use crate::web::inbox::thread::render_thread;
use crate::web::render::{PageCtx, html_status, see_other};

pub fn viewer(me: &CurrentStaff) -> Viewer {
    Viewer {
        agency_id: me.agency_id,
        staff_id: me.id,
        role: me.role,
    }
}

/// The chat `{id}` if the viewer may work its creator; 404 otherwise (a
/// malformed id, another agency's chat, an unassigned creator alike).
pub async fn visible_target(
    state: &AppState,
    me: &CurrentStaff,
    id: &str,
) -> Result<ChatTarget, WebError> {
    let chat = Uuid::parse_str(id).map_err(|_| WebError::NotFound)?;
    let target = store::sends::chat_target(&state.pool, me.agency_id, chat)
        .await?
        .ok_or(WebError::NotFound)?;
    if !may_work_creator(&state.pool, viewer(me), target.creator_id).await? {
        return Err(WebError::NotFound);
    }
    Ok(target)
}

pub fn sender(state: &AppState) -> Sender {
    Sender {
        pool: state.pool.clone(),
        connections: state.connections.clone(),
    }
}

/// The compose form alone, for htmx.
#[derive(askama::Template)]
#[template(path = "inbox/_compose.html")]
pub struct ComposeFragment {
    pub ctx: PageCtx,
    pub compose: ComposeBox,
}

fn is_htmx(req: &HttpRequest) -> bool {
    req.headers().contains_key("HX-Request")
}

fn wants_json(req: &HttpRequest) -> bool {
    req.headers()
        .get(actix_web::http::header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("application/json"))
}

/// How a send turned out, for either kind of answer.
struct Answer {
    status: StatusCode,
    /// `sent`, `pending`, `failed`, `unknown`, `held`, `invalid`.
    state: &'static str,
    compose: ComposeBox,
    send: Option<SendRow>,
}

pub async fn send(
    state: web::Data<AppState>,
    session: Session,
    me: CurrentStaff,
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, WebError> {
    let target = visible_target(&state, &me, &path).await?;
    let form = ComposeForm::from_urlencoded(&body);
    let min = compose::min_price(&state, &me).await?;
    let draft = ComposeBox::with_draft(min, target.chat_id, &form);
    let answer = match validate(&form, min.cents()) {
        Err(errors) => Answer {
            status: StatusCode::BAD_REQUEST,
            state: "invalid",
            compose: ComposeBox { errors, ..draft },
            send: None,
        },
        Ok(v) => match sender(&state).send(me.agency_id, me.id, &target, &v).await {
            Ok(outcome) => answer(&me, &target, draft, outcome),
            // The form's key is another chat's or agency's: say nothing.
            Err(SendError::NotFound) => return Err(WebError::NotFound),
            Err(e) => return Err(WebError::Unexpected(e.into())),
        },
    };
    if wants_json(&req) {
        return Ok(json_answer(&answer));
    }
    if is_htmx(&req) {
        let compose = if answer.state == "sent" {
            ComposeBox::blank(min, target.chat_id)
        } else {
            answer.compose
        };
        return html_status(
            answer.status,
            &ComposeFragment {
                ctx: PageCtx::new(&session, Some(&me), "inbox")?,
                compose,
            },
        );
    }
    if answer.state == "sent" {
        return Ok(see_other(&format!("/inbox/chats/{}", target.chat_id)));
    }
    render_thread(
        &state,
        &session,
        &me,
        target.chat_id,
        answer.compose,
        answer.status,
    )
    .await
}

fn answer(me: &CurrentStaff, target: &ChatTarget, draft: ComposeBox, o: SendOutcome) -> Answer {
    match o {
        SendOutcome::Sent(row) => Answer {
            status: StatusCode::OK,
            state: "sent",
            compose: draft,
            send: Some(row),
        },
        SendOutcome::Pending(row) => Answer {
            status: StatusCode::ACCEPTED,
            state: "pending",
            compose: draft.notice(
                NoticeKind::Info,
                "This message is still being sent. Reload the page in a moment to see it.",
            ),
            send: Some(row),
        },
        SendOutcome::Unknown(row) => {
            let mut compose = draft.fresh_key().notice(NoticeKind::Warning, MSG_UNKNOWN);
            compose.retry_of = Some(row.id.to_string());
            Answer {
                status: StatusCode::BAD_GATEWAY,
                state: "unknown",
                compose,
                send: Some(row),
            }
        }
        SendOutcome::Failed(row, f) => failed(me, target, draft, row, f),
        SendOutcome::Held(Hold::AlreadyBought(media)) => {
            let mut compose = draft.notice(
                NoticeKind::Warning,
                "This fan already bought some of this media. Tick \u{201c}Send anyway\u{201d} to sell it to them again, or choose other media.",
            );
            compose.already_bought = media.iter().map(Uuid::to_string).collect();
            compose
                .errors
                .add("media", "This fan already bought this media.");
            Answer {
                status: StatusCode::CONFLICT,
                state: "held",
                compose,
                send: None,
            }
        }
        SendOutcome::Held(Hold::Arrived(arrived)) => {
            // Same key: nothing was recorded, so "Send anyway" (or the
            // edited draft) goes out under it.
            let mut compose = draft.notice(
                NoticeKind::Warning,
                "Not sent: the conversation moved on while you were writing. Read what arrived, then send anyway or edit your reply.",
            );
            compose.arrived = arrived.iter().map(compose::ArrivedView::new).collect();
            Answer {
                status: StatusCode::CONFLICT,
                state: "held",
                compose,
                send: None,
            }
        }
        SendOutcome::Held(Hold::AlreadySent { .. }) => Answer {
            status: StatusCode::CONFLICT,
            state: "held",
            compose: draft.fresh_key().notice(NoticeKind::Info, MSG_ALREADY_SENT),
            send: None,
        },
        SendOutcome::KeyReused(row) => Answer {
            status: StatusCode::CONFLICT,
            state: "held",
            compose: draft.fresh_key().notice(
                NoticeKind::Warning,
                "This form already sent a different message, so the edited one was not sent. Check the thread, then send the edited message again.",
            ),
            send: Some(row),
        },
        SendOutcome::Held(Hold::MaybeSent { send_id }) => {
            let mut compose = draft.fresh_key().notice(
                NoticeKind::Warning,
                "The same message to this fan may already have been sent (Fanvue did not answer in time). Tick \u{201c}Retry anyway\u{201d} to send it again.",
            );
            compose.retry_of = Some(send_id.to_string());
            Answer {
                status: StatusCode::CONFLICT,
                state: "held",
                compose,
                send: None,
            }
        }
    }
}

fn failed(
    me: &CurrentStaff,
    target: &ChatTarget,
    draft: ComposeBox,
    row: SendRow,
    f: Failure,
) -> Answer {
    let status = if f.reconnect {
        StatusCode::CONFLICT
    } else if f.message.contains("rate-limiting") {
        StatusCode::TOO_MANY_REQUESTS
    } else if f.field.is_some() || f.message == crate::inbox::send::MSG_CONTACTABILITY {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::BAD_GATEWAY
    };
    // Nothing was sent: the re-rendered form may safely send again.
    let mut compose = draft
        .fresh_key()
        .notice(NoticeKind::Error, f.message.clone());
    if let Some(field) = f.field {
        compose.errors.add(field, f.message.clone());
    }
    if f.reconnect && me.role.is_admin() {
        compose.reconnect_link = Some(format!("/admin/creators/{}", target.creator_id));
    }
    Answer {
        status,
        state: "failed",
        compose,
        send: Some(row),
    }
}

fn json_answer(a: &Answer) -> HttpResponse {
    let fields: serde_json::Map<String, serde_json::Value> =
        ["form", "text", "price", "media", "template"]
            .iter()
            .filter_map(|f| a.compose.error(f).map(|e| ((*f).to_owned(), json!(e))))
            .collect();
    HttpResponse::build(a.status).json(json!({
        "status": a.state,
        "send": a.send.as_ref().map(|s| s.id),
        "message": a.send.as_ref().and_then(|s| s.message_uuid),
        "error": a.compose.notice,
        "fields": fields,
        "arrived": a.compose.arrived.iter().map(|x| json!({ "who": x.who, "text": x.text, "at": x.at_iso })).collect::<Vec<_>>(),
        "idempotency_key": a.compose.idempotency_key,
        "retry_of": a.compose.retry_of,
        "reconnect": a.compose.reconnect_link,
    }))
}

/// `POST /inbox/chats/{id}/read`: mark the chat read on Fanvue, then in
/// the mirror; back to the thread (204 for JSON clients).
pub async fn mark_read(
    state: web::Data<AppState>,
    session: Session,
    me: CurrentStaff,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, WebError> {
    let target = visible_target(&state, &me, &path).await?;
    match sender(&state).mark_read(me.agency_id, &target).await {
        Ok(()) if wants_json(&req) => Ok(HttpResponse::NoContent().finish()),
        Ok(()) => Ok(see_other(&format!("/inbox/chats/{}", target.chat_id))),
        Err(e) => {
            tracing::warn!(error = %e, chat_id = %target.chat_id, "mark read failed");
            let (_, f) = crate::inbox::send::classify(&e);
            let message = if f.reconnect {
                "Reconnect this creator: Fanvue no longer accepts Switchboard's access. The chat was not marked read.".to_owned()
            } else {
                "Fanvue did not mark the chat read; try again in a moment.".to_owned()
            };
            if wants_json(&req) {
                return Ok(HttpResponse::BadGateway()
                    .json(json!({ "status": "failed", "error": message })));
            }
            let min = compose::min_price(&state, &me).await?;
            let mut compose =
                ComposeBox::blank(min, target.chat_id).notice(NoticeKind::Error, message);
            if f.reconnect && me.role.is_admin() {
                compose.reconnect_link = Some(format!("/admin/creators/{}", target.creator_id));
            }
            render_thread(
                &state,
                &session,
                &me,
                target.chat_id,
                compose,
                StatusCode::BAD_GATEWAY,
            )
            .await
        }
    }
}
