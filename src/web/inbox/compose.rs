//! The compose box under a thread: what the chatter typed (kept on every
//! failure), the form's idempotency key, and the messages to show.

use crate::domain::FieldErrors;
use crate::domain::{CreatorId, MinPpvPrice};
use crate::inbox::compose_input::{ComposeForm, MAX_TEXT_CHARS};
use crate::web::AppState;
use crate::web::error::WebError;
use crate::web::extract::CurrentStaff;

/// How the notice above the form looks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoticeKind {
    Error,
    Warning,
    Info,
}

/// Everything `templates/inbox/_compose.html` renders.
pub struct ComposeBox {
    pub chat_id: String,
    /// A fresh key per rendered form; a resubmitted form reuses it. After a
    /// definite failure the re-rendered form gets a new one (a retry is
    /// safe); after a hold or a validation error it keeps its own.
    pub idempotency_key: String,
    pub text: String,
    pub notice: Option<String>,
    pub notice_kind: NoticeKind,
    /// The draft's price as typed.
    pub price: String,
    /// The draft's selected media uuids.
    pub media: Vec<String>,
    pub template_uuid: String,
    pub errors: FieldErrors,
    /// The minimum PPV price, for the hint ("3.00").
    pub min_price: String,
    pub max_chars: usize,
    /// Set for admins when the creator needs reconnecting.
    pub reconnect_link: Option<String>,
    /// The `unknown` send a "Retry anyway" would repeat.
    pub retry_of: Option<String>,
    /// Media of the draft this fan already bought (ask before reselling).
    pub already_bought: Vec<String>,
    /// The thread version the form carries: the newest message the page
    /// shows ("" for an empty thread). Set by the thread page.
    pub seen: String,
    /// Held because the thread moved on: what arrived, and the offer to
    /// "Send anyway".
    pub arrived: Vec<ArrivedView>,
    /// Someone else holds the chat: their name, for the warning shown when
    /// the viewer starts to reply.
    pub claimed_by: Option<String>,
}

/// A message (or a send in flight) that arrived after the chatter's view.
#[derive(Debug, Clone)]
pub struct ArrivedView {
    pub who: String,
    pub text: String,
    pub at_iso: String,
}

impl ArrivedView {
    pub fn new(a: &crate::store::sends::Arrived) -> Self {
        let who = match (&a.staff_name, a.outbound, a.message_uuid.is_some()) {
            (_, false, _) => "The fan".to_owned(),
            (Some(name), true, false) => format!("{name} (sending now)"),
            (Some(name), true, true) => format!("{name} \u{b7} via Switchboard"),
            (None, true, _) if a.outside => "Sent on Fanvue".to_owned(),
            (None, true, _) => "Creator".to_owned(),
        };
        let text = a
            .text
            .as_deref()
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map_or_else(
                || "(media or no text)".to_owned(),
                |t| {
                    let mut s: String = t.chars().take(280).collect();
                    if t.chars().count() > 280 {
                        s.push('\u{2026}');
                    }
                    s
                },
            );
        Self {
            who,
            text,
            at_iso: crate::inbox::preview::iso(a.at),
        }
    }
}

impl ComposeBox {
    /// A blank box for `chat_id`; `min_price` is the agency's setting.
    pub fn blank(min_price: MinPpvPrice, chat_id: uuid::Uuid) -> Self {
        Self {
            chat_id: chat_id.to_string(),
            idempotency_key: uuid::Uuid::new_v4().to_string(),
            text: String::new(),
            notice: None,
            notice_kind: NoticeKind::Error,
            price: String::new(),
            media: Vec::new(),
            template_uuid: String::new(),
            errors: FieldErrors::default(),
            min_price: min_price.cents().decimal(),
            max_chars: MAX_TEXT_CHARS,
            reconnect_link: None,
            retry_of: None,
            already_bought: Vec::new(),
            seen: String::new(),
            arrived: Vec::new(),
            claimed_by: None,
        }
    }

    /// The box refilled with a submitted form's draft, same key.
    pub fn with_draft(min_price: MinPpvPrice, chat_id: uuid::Uuid, form: &ComposeForm) -> Self {
        let mut b = Self::blank(min_price, chat_id);
        if !form.idempotency_key.trim().is_empty() {
            b.idempotency_key = form.idempotency_key.trim().to_owned();
        }
        b.text = form.text.clone();
        b.price = form.price.clone();
        b.media = form.media.clone();
        b.template_uuid = form.template_uuid.clone();
        b.seen = form.seen.clone().unwrap_or_default();
        b
    }

    /// A new key: the last attempt definitely sent nothing.
    pub fn fresh_key(mut self) -> Self {
        self.idempotency_key = uuid::Uuid::new_v4().to_string();
        self
    }

    pub fn notice(mut self, kind: NoticeKind, msg: impl Into<String>) -> Self {
        self.notice_kind = kind;
        self.notice = Some(msg.into());
        self
    }

    pub fn error(&self, field: &str) -> Option<&str> {
        self.errors.get(field)
    }

    pub fn has_error(&self, field: &str) -> bool {
        self.errors.get(field).is_some()
    }

    pub fn notice_class(&self) -> &'static str {
        match self.notice_kind {
            NoticeKind::Error => "flash flash-error",
            NoticeKind::Warning => "flash flash-warn",
            NoticeKind::Info => "flash flash-info",
        }
    }

    pub fn is_selected(&self, media: &str) -> bool {
        self.media.iter().any(|m| m == media)
    }

    pub fn was_bought(&self, media: &str) -> bool {
        self.already_bought.iter().any(|m| m == media)
    }

    /// The PPV section starts open when the draft is a PPV.
    pub fn ppv_open(&self) -> bool {
        !self.price.trim().is_empty()
            || !self.media.is_empty()
            || self.has_error("price")
            || self.has_error("media")
    }

    pub fn text_chars(&self) -> usize {
        self.text.chars().count()
    }

    /// The first block of a uuid, to name media without its library entry.
    pub fn short_id(&self, id: &str) -> String {
        id.get(..8).unwrap_or(id).to_owned()
    }
}

/// The agency's minimum PPV price (the settings page sets it; sends are
/// checked against it and the compose box's hint shows it).
pub async fn min_price(_state: &AppState, me: &CurrentStaff) -> Result<MinPpvPrice, WebError> {
    // Read with the signed-in staff row, this request.
    Ok(me.min_ppv_price)
}

/// A blank compose box for a thread the viewer may work.
pub async fn for_thread(
    state: &AppState,
    me: &CurrentStaff,
    _creator: CreatorId,
    chat_id: uuid::Uuid,
) -> Result<ComposeBox, WebError> {
    Ok(ComposeBox::blank(min_price(state, me).await?, chat_id))
}
