//! Why an inbox read could not answer: the chat (or creator) is not one
//! the viewer may see, or the request itself is malformed.

use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum InboxError {
    /// Not in the agency, or a creator the viewer may not work: always 404.
    #[error("not found")]
    NotFound,
    /// Visible, but not the viewer's to change (someone else's note, a
    /// manager's page): 403.
    #[error("forbidden")]
    Forbidden,
    /// A malformed query (cursor, tab, creator); the text is safe to show.
    #[error("{0}")]
    BadRequest(String),
    #[error(transparent)]
    Store(StoreError),
}

impl From<StoreError> for InboxError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => InboxError::NotFound,
            other => InboxError::Store(other),
        }
    }
}
