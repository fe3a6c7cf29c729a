//! The PPV media picker (`GET /inbox/chats/{id}/media`) and the template
//! chooser (`GET /inbox/chats/{id}/templates`). Both call Fanvue, so they
//! run only when a chatter opens them, never on a thread view.
//!
//! Without JavaScript each is a page holding a complete compose form that
//! posts to the send route; compose.js asks for the picker's fragment
//! (`?fragment=1`) to put inside the thread's compose box, and for the
//! templates as JSON (`Accept: application/json`) to fill the form.

use actix_session::Session;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde::Deserialize;
use serde_json::json;

use crate::connections::ConnectionError;
use crate::domain::Cents;
use crate::fanvue::Priority;
use crate::fanvue::client::MediaQuery;
use crate::fanvue::models::{MediaItem, Template as FanvueTemplate};
use crate::web::AppState;
use crate::web::error::WebError;
use crate::web::extract::CurrentStaff;
use crate::web::inbox::compose::{self, ComposeBox};
use crate::web::inbox::send::visible_target;
use crate::web::render::{PageCtx, html};

const MEDIA_TYPES: [&str; 4] = ["image", "video", "audio", "document"];
const PAGE_SIZE: u32 = 24;

#[derive(Debug, Deserialize)]
pub struct MediaParams {
    #[serde(default, rename = "type")]
    pub media_type: String,
    #[serde(default)]
    pub folder: String,
    #[serde(default)]
    pub page: Option<u32>,
    #[serde(default)]
    pub fragment: Option<String>,
}

/// A library item as the picker shows it.
pub struct PickItem {
    pub uuid: String,
    pub name: String,
    pub media_type: String,
    pub folder: Option<String>,
    pub price: Option<String>,
    pub bought: bool,
}

impl PickItem {
    fn from(m: MediaItem) -> Self {
        Self {
            uuid: m.uuid.to_string(),
            name: m
                .name
                .or(m.caption)
                .filter(|n| !n.trim().is_empty())
                .unwrap_or_else(|| "Untitled".into()),
            media_type: m.media_type.unwrap_or_else(|| "media".into()),
            folder: m.folder_name,
            price: m.recommended_price.map(|c| Cents::new(c).decimal()),
            bought: m.purchased_by_fan.unwrap_or(false),
        }
    }
}

/// The picker's list with its filters and pager.
pub struct Picker {
    pub chat_id: String,
    pub items: Vec<PickItem>,
    pub error: Option<String>,
    pub media_type: String,
    pub folder: String,
    pub page: u32,
    pub has_more: bool,
    pub types: [&'static str; 4],
    /// Rendered inside the compose form (no nested filter form).
    pub fragment: bool,
}

impl Picker {
    /// The query string of another page with the same filters.
    pub fn page_query(&self, page: u32) -> String {
        let mut q = url::form_urlencoded::Serializer::new(String::new());
        if !self.media_type.is_empty() {
            q.append_pair("type", &self.media_type);
        }
        if !self.folder.is_empty() {
            q.append_pair("folder", &self.folder);
        }
        q.append_pair("page", &page.to_string());
        q.finish()
    }
}

#[derive(Template)]
#[template(path = "inbox/media.html")]
pub struct MediaPage {
    pub ctx: PageCtx,
    pub picker: Picker,
    pub compose: ComposeBox,
}

#[derive(Template)]
#[template(path = "inbox/_media_items.html")]
pub struct MediaFragment {
    pub picker: Picker,
}

/// Why `what` (e.g. "the media library") could not be loaded.
fn api_message(e: &ConnectionError, what: &str) -> String {
    match e {
        ConnectionError::NeedsReauth | ConnectionError::Disconnected => {
            format!("Reconnect this creator to use {what}.")
        }
        ConnectionError::Api(crate::fanvue::FanvueError::RateLimited { retry_after }) => format!(
            "Fanvue is rate-limiting this creator; try again in {} s.",
            retry_after.as_secs().max(1)
        ),
        _ => format!("Could not load {what} from Fanvue; try again."),
    }
}

pub async fn picker(
    state: web::Data<AppState>,
    session: Session,
    me: CurrentStaff,
    path: web::Path<String>,
    params: web::Query<MediaParams>,
) -> Result<HttpResponse, WebError> {
    let target = visible_target(&state, &me, &path).await?;
    let media_type = params.media_type.trim().to_lowercase();
    let media_type = if MEDIA_TYPES.contains(&media_type.as_str()) {
        media_type
    } else {
        String::new()
    };
    let folder: String = params.folder.trim().chars().take(100).collect();
    let page = params.page.unwrap_or(1).clamp(1, 10_000);
    let query = MediaQuery {
        page,
        size: PAGE_SIZE,
        media_type: (!media_type.is_empty()).then(|| media_type.clone()),
        folder_name: (!folder.is_empty()).then(|| folder.clone()),
        usage: None,
        purchased_by: Some(target.fan_uuid),
    };
    let client = state.connections.client();
    let q = &query;
    let result = state
        .connections
        .call(target.creator_id, Priority::Interactive, |a| async move {
            client.media(&a, q).await
        })
        .await;
    let (items, has_more, error) = match result {
        Ok(p) => (
            p.items.into_iter().map(PickItem::from).collect(),
            p.has_more,
            None,
        ),
        Err(e) => {
            tracing::warn!(error = %e, chat_id = %target.chat_id, "media library failed");
            (
                Vec::new(),
                false,
                Some(api_message(&e, "the media library")),
            )
        }
    };
    let picker = Picker {
        chat_id: target.chat_id.to_string(),
        items,
        error,
        media_type,
        folder,
        page,
        has_more,
        types: MEDIA_TYPES,
        fragment: params.fragment.is_some(),
    };
    if params.fragment.is_some() {
        return html(&MediaFragment { picker });
    }
    let compose = ComposeBox::blank(compose::min_price(&state, &me).await?, target.chat_id);
    html(&MediaPage {
        ctx: PageCtx::new(&session, Some(&me), "inbox")?,
        picker,
        compose,
    })
}

/// A template as the chooser lists it.
pub struct TemplateChoice {
    pub uuid: String,
    pub name: String,
    pub preview: String,
    pub price: Option<String>,
    pub media_count: usize,
}

#[derive(Template)]
#[template(path = "inbox/templates.html")]
pub struct TemplatesPage {
    pub ctx: PageCtx,
    pub chat_id: String,
    pub templates: Vec<TemplateChoice>,
    pub error: Option<String>,
    /// The chosen template's compose form (`?use={uuid}`).
    pub compose: Option<ComposeBox>,
}

#[derive(Debug, Deserialize)]
pub struct TemplatesParams {
    #[serde(default, rename = "use")]
    pub chosen: Option<String>,
}

pub async fn templates(
    state: web::Data<AppState>,
    session: Session,
    me: CurrentStaff,
    req: HttpRequest,
    path: web::Path<String>,
    params: web::Query<TemplatesParams>,
) -> Result<HttpResponse, WebError> {
    let target = visible_target(&state, &me, &path).await?;
    let client = state.connections.client();
    let result = state
        .connections
        .call(target.creator_id, Priority::Interactive, |a| async move {
            client.templates(&a, 1, 50).await
        })
        .await;
    let (list, error): (Vec<FanvueTemplate>, Option<String>) = match result {
        Ok(p) => (p.items, None),
        Err(e) => {
            tracing::warn!(error = %e, chat_id = %target.chat_id, "templates failed");
            (Vec::new(), Some(api_message(&e, "the templates")))
        }
    };
    let wants_json = req
        .headers()
        .get(actix_web::http::header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("application/json"));
    if wants_json {
        let data: Vec<_> = list
            .iter()
            .map(|t| {
                json!({
                    "uuid": t.uuid,
                    "name": t.name,
                    "text": t.text,
                    "price": t.price.map(|c| Cents::new(c).decimal()),
                    "media": t.media_uuids,
                })
            })
            .collect();
        return Ok(HttpResponse::Ok().json(json!({ "data": data, "error": error })));
    }
    let chosen = params
        .chosen
        .as_deref()
        .and_then(|u| uuid::Uuid::parse_str(u).ok());
    let min = compose::min_price(&state, &me).await?;
    let compose = chosen
        .and_then(|u| list.iter().find(|t| t.uuid == u))
        .map(|t| {
            let mut compose = ComposeBox::blank(min, target.chat_id);
            compose.text = t.text.clone().unwrap_or_default();
            compose.price = t.price.map(|c| Cents::new(c).decimal()).unwrap_or_default();
            compose.media = t.media_uuids.iter().map(|u| u.to_string()).collect();
            compose.template_uuid = t.uuid.to_string();
            compose
        });
    let templates = list
        .into_iter()
        .map(|t| TemplateChoice {
            uuid: t.uuid.to_string(),
            name: t
                .name
                .clone()
                .or(t.folder_name.clone())
                .unwrap_or_else(|| "Template".into()),
            preview: t.text.as_deref().unwrap_or("").chars().take(140).collect(),
            price: t.price.map(|c| Cents::new(c).decimal()),
            media_count: t.media_uuids.len(),
        })
        .collect();
    html(&TemplatesPage {
        ctx: PageCtx::new(&session, Some(&me), "inbox")?,
        chat_id: target.chat_id.to_string(),
        templates,
        error,
        compose,
    })
}
