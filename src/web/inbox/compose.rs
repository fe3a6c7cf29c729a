//! The compose box under a thread: what the chatter typed (kept on every
//! failure), the form's idempotency key, and the messages to show.

use crate::domain::CreatorId;
use crate::web::AppState;
use crate::web::error::WebError;
use crate::web::extract::CurrentStaff;

/// Everything `templates/inbox/_compose.html` renders.
pub struct ComposeBox {
    pub chat_id: String,
    /// A fresh key per rendered form; a resubmitted form reuses it.
    pub idempotency_key: String,
    pub text: String,
    pub notice: Option<String>,
}

/// A blank compose box for a thread the viewer may work.
pub async fn for_thread(
    _state: &AppState,
    _me: &CurrentStaff,
    _creator: CreatorId,
    chat_id: uuid::Uuid,
) -> Result<ComposeBox, WebError> {
    Ok(ComposeBox {
        chat_id: chat_id.to_string(),
        idempotency_key: uuid::Uuid::new_v4().to_string(),
        text: String::new(),
        notice: None,
    })
}
