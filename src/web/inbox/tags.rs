//! `/inbox/tags` (managers and above): the agency's fan tags — create,
//! rename, recolour, delete; every change audited by `inbox::tags`. A
//! refused form re-renders the page with what was typed and why.

use actix_session::Session;
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use crate::domain::{TAG_NAME_MAX_CHARS, TagColour, TagId, TagName};
use crate::http::client_ip::ClientIp;
use crate::inbox::InboxError;
use crate::inbox::fan_notes::Actor;
use crate::inbox::tags;
use crate::store::fan_tags::TagUsage;
use crate::web::AppState;
use crate::web::error::WebError;
use crate::web::extract::ManagerStaff;
use crate::web::inbox::list::viewer;
use crate::web::render::{PageCtx, html_status, see_other};
use crate::web::session::{FlashKind, TypedSession};

/// A tag form as typed (the create form's draft after a refusal).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct TagForm {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub colour: String,
}

impl TagForm {
    fn parse(&self) -> Result<(TagName, TagColour), String> {
        let name = TagName::parse(&self.name).map_err(|e| e.0)?;
        let colour = TagColour::parse(&self.colour).map_err(|e| e.0)?;
        Ok((name, colour))
    }
}

#[derive(Template)]
#[template(path = "inbox/tags.html")]
pub struct TagsPage {
    pub ctx: PageCtx,
    pub tags: Vec<TagUsage>,
    pub colours: [TagColour; 8],
    pub max_chars: usize,
    /// The create form's draft and error.
    pub form: TagForm,
    pub error: Option<String>,
    /// A refused rename: the tag and why.
    pub edit_error: Option<(TagId, String)>,
}

impl TagsPage {
    pub fn edit_error_for(&self, id: &TagId) -> Option<&str> {
        match &self.edit_error {
            Some((e, msg)) if e == id => Some(msg),
            _ => None,
        }
    }
}

async fn render(
    state: &AppState,
    session: &Session,
    me: &ManagerStaff,
    form: TagForm,
    error: Option<String>,
    edit_error: Option<(TagId, String)>,
    status: StatusCode,
) -> Result<HttpResponse, WebError> {
    let tags = tags::overview(&state.pool, viewer(me)).await?;
    let form = if form.colour.is_empty() {
        TagForm {
            colour: TagColour::Blue.as_str().to_owned(),
            ..form
        }
    } else {
        form
    };
    html_status(
        status,
        &TagsPage {
            ctx: PageCtx::new(session, Some(me), "inbox")?,
            tags,
            colours: TagColour::ALL,
            max_chars: TAG_NAME_MAX_CHARS,
            form,
            error,
            edit_error,
        },
    )
}

/// `GET /inbox/tags`.
pub async fn page(
    state: web::Data<AppState>,
    session: Session,
    me: ManagerStaff,
) -> Result<HttpResponse, WebError> {
    render(
        &state,
        &session,
        &me,
        TagForm::default(),
        None,
        None,
        StatusCode::OK,
    )
    .await
}

fn actor<'a>(me: &ManagerStaff, ip: &'a ClientIp) -> Actor<'a> {
    Actor {
        viewer: viewer(me),
        client_ip: Some(ip.as_str()),
    }
}

/// `POST /inbox/tags`: a new tag.
pub async fn create(
    state: web::Data<AppState>,
    session: Session,
    me: ManagerStaff,
    ip: ClientIp,
    form: web::Form<TagForm>,
) -> Result<HttpResponse, WebError> {
    let form = form.into_inner();
    let outcome = match form.parse() {
        Err(msg) => Err(msg),
        Ok((name, colour)) => {
            match tags::create(&state.pool, &actor(&me, &ip), &name, colour).await {
                Ok(_) => Ok(name),
                Err(InboxError::BadRequest(msg)) => Err(msg),
                Err(e) => return Err(e.into()),
            }
        }
    };
    match outcome {
        Ok(name) => {
            TypedSession(&session).flash(FlashKind::Success, format!("Tag “{name}” created."));
            Ok(see_other("/inbox/tags"))
        }
        Err(msg) => {
            render(
                &state,
                &session,
                &me,
                form,
                Some(msg),
                None,
                StatusCode::BAD_REQUEST,
            )
            .await
        }
    }
}

fn tag_id(raw: &str) -> Result<TagId, WebError> {
    raw.parse().map_err(|_| WebError::NotFound)
}

/// `POST /inbox/tags/{id}/edit`: rename and recolour.
pub async fn update(
    state: web::Data<AppState>,
    session: Session,
    me: ManagerStaff,
    ip: ClientIp,
    path: web::Path<String>,
    form: web::Form<TagForm>,
) -> Result<HttpResponse, WebError> {
    let id = tag_id(&path)?;
    // A foreign or missing tag is 404 before the form is judged.
    crate::store::fan_tags::get(&state.pool, me.agency_id, id).await?;
    let outcome = match form.parse() {
        Err(msg) => Err(msg),
        Ok((name, colour)) => {
            match tags::update(&state.pool, &actor(&me, &ip), id, &name, colour).await {
                Ok(()) => Ok(name),
                Err(InboxError::BadRequest(msg)) => Err(msg),
                Err(e) => return Err(e.into()),
            }
        }
    };
    match outcome {
        Ok(name) => {
            TypedSession(&session).flash(FlashKind::Success, format!("Tag “{name}” saved."));
            Ok(see_other("/inbox/tags"))
        }
        Err(msg) => {
            render(
                &state,
                &session,
                &me,
                TagForm::default(),
                None,
                Some((id, msg)),
                StatusCode::BAD_REQUEST,
            )
            .await
        }
    }
}

/// `POST /inbox/tags/{id}/delete`: deletes the tag (taking it off every fan).
pub async fn delete(
    state: web::Data<AppState>,
    session: Session,
    me: ManagerStaff,
    ip: ClientIp,
    path: web::Path<String>,
) -> Result<HttpResponse, WebError> {
    let id = tag_id(&path)?;
    tags::delete(&state.pool, &actor(&me, &ip), id).await?;
    TypedSession(&session).flash(FlashKind::Info, "Tag deleted.");
    Ok(see_other("/inbox/tags"))
}
