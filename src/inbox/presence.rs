//! Presence: the pages report who has a chat open and who is typing in it
//! (a heartbeat every ~10 s while the page is visible, typing debounced);
//! the state lives in Postgres (`store::presence`), expires 30 s after the
//! last heartbeat and reaches other pages as live events.

use sqlx::PgPool;

use super::access::Viewer;
use super::claims;
use super::error::InboxError;
use crate::store::presence::Beat;
use crate::store::sends::ChatTarget;
use crate::store::{self};

/// Longest tab id a page may send (it is random, made by the page).
const MAX_TAB_ID: usize = 64;

/// What a page reports.
#[derive(Debug, Clone)]
pub struct Report {
    pub tab: String,
    pub typing: Option<bool>,
    pub idle: bool,
    /// The tab closed or left the chat.
    pub leaving: bool,
}

impl Report {
    /// Reads the form fields `tab`, `typing` (`1`/`0`), `idle`, `leave`.
    pub fn parse(
        tab: &str,
        typing: Option<&str>,
        idle: Option<&str>,
        leave: Option<&str>,
    ) -> Result<Self, InboxError> {
        let tab = tab.trim();
        if tab.is_empty()
            || tab.len() > MAX_TAB_ID
            || !tab
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(InboxError::BadRequest(
                "`tab` must be 1-64 letters, digits, `-` or `_`.".to_owned(),
            ));
        }
        let flag = |v: Option<&str>| matches!(v.map(str::trim), Some("1" | "true" | "on"));
        Ok(Self {
            tab: tab.to_owned(),
            typing: typing
                .map(str::trim)
                .filter(|t| !t.is_empty())
                .map(|t| matches!(t, "1" | "true" | "on")),
            idle: flag(idle),
            leaving: flag(leave),
        })
    }
}

/// Records `report` for `target` (a chat the viewer may work). Typing is
/// activity: it renews the viewer's own claim on the chat. Expired rows of
/// every chat are pruned on the way (the housekeeping task does it too).
pub async fn report(
    db: &PgPool,
    viewer: Viewer,
    target: &ChatTarget,
    report: &Report,
) -> Result<(), InboxError> {
    if report.leaving {
        store::presence::leave(
            db,
            viewer.agency_id,
            target.chat_id,
            viewer.staff_id,
            &report.tab,
        )
        .await?;
        return Ok(());
    }
    store::presence::beat(
        db,
        &Beat {
            agency_id: viewer.agency_id,
            creator_id: target.creator_id,
            chat_id: target.chat_id,
            staff_id: viewer.staff_id,
            tab: &report.tab,
            typing: report.typing,
            idle: report.idle,
        },
    )
    .await?;
    // Cheap (index range scans) and keeps presence right on an instance
    // whose housekeeping is not running.
    prune(db).await?;
    if report.typing == Some(true) {
        store::claims::renew(
            db,
            viewer.agency_id,
            target.chat_id,
            viewer.staff_id,
            claims::length(),
        )
        .await?;
    }
    Ok(())
}

/// Deletes expired presence and claims (each deletion reaches open pages
/// as a live event). Run every few seconds by housekeeping.
pub async fn prune(db: &PgPool) -> Result<u64, InboxError> {
    let p = store::presence::prune(db).await?;
    let c = store::claims::prune(db).await?;
    Ok(p + c)
}
