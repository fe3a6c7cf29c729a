//! The fan's Fanvue custom lists, read and changed through the creator's
//! token: which of the creator's lists the fan is on, and putting them on
//! or taking them off one. Fanvue has no "lists of this fan" route, so the
//! read walks each list's members (bounded: a list too long to check says
//! so). Every call is an interactive one (the chatter is waiting) and draws
//! on the creator's rate budget. A grant without the scopes is reported,
//! not called. Changes are audited after Fanvue accepted them.

use serde_json::json;
use sqlx::PgPool;
use uuid::Uuid;

use super::Viewer;
use crate::connections::{ConnectionError, Connections};
use crate::domain::AuditAction;
use crate::fanvue::{FanvueError, Priority};
use crate::store::sends::ChatTarget;
use crate::store::{self, StoreError, audit::AuditEntry};

/// Reading lists needs these scopes (Fanvue's documented ones).
pub const READ_SCOPES: [&str; 2] = ["read:chat", "read:fan"];
/// Changing membership needs this one.
pub const WRITE_SCOPE: &str = "write:chat";
/// Pages of lists (50 each) and of each list's members read at most.
const LIST_PAGES: u32 = 2;
const MEMBER_PAGES: u32 = 4;
const PAGE: u32 = 50;

/// One of the creator's lists and whether the fan is on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListMembership {
    pub uuid: Uuid,
    pub name: String,
    pub members: i64,
    /// None when the list is too long to check within the bound.
    pub on: Option<bool>,
}

/// What the fan panel's list section shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FanLists {
    Loaded {
        lists: Vec<ListMembership>,
        /// May the chatter change membership (the grant has `write:chat`)?
        writable: bool,
    },
    /// The grant lacks these scopes: nothing was asked of Fanvue.
    MissingScope(Vec<&'static str>),
    /// Fanvue could not answer; the text is safe to show.
    Unavailable(String),
}

#[derive(Debug, thiserror::Error)]
pub enum ListsError {
    #[error("{0}")]
    Refused(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn missing(granted: &[String], wanted: &[&'static str]) -> Vec<&'static str> {
    wanted
        .iter()
        .copied()
        .filter(|w| !granted.iter().any(|g| g == w))
        .collect()
}

/// Why a list call failed, in words a chatter can act on.
pub fn explain(e: &ConnectionError) -> String {
    match e {
        ConnectionError::Api(FanvueError::InsufficientScope) => {
            "This creator's Fanvue connection does not allow custom lists (it needs read:chat, read:fan and write:chat); an admin can reconnect the creator to grant them.".to_owned()
        }
        ConnectionError::NeedsReauth | ConnectionError::Disconnected => {
            "Reconnect this creator to use custom lists.".to_owned()
        }
        ConnectionError::Api(FanvueError::RateLimited { retry_after }) => format!(
            "Fanvue is rate-limiting this creator; try again in {} s.",
            retry_after.as_secs().max(1)
        ),
        ConnectionError::Api(FanvueError::NotFound(_)) => {
            "That list no longer exists on Fanvue.".to_owned()
        }
        _ => "Could not reach Fanvue's custom lists; try again.".to_owned(),
    }
}

/// The creator's lists and whether the chat's fan is on each.
#[tracing::instrument(skip_all, fields(agency_id = %viewer.agency_id, chat_id = %target.chat_id))]
pub async fn load(
    db: &PgPool,
    connections: &Connections,
    viewer: Viewer,
    target: &ChatTarget,
) -> Result<FanLists, StoreError> {
    let creator = store::creators::get(db, viewer.agency_id, target.creator_id).await?;
    let lacking = missing(&creator.scopes, &READ_SCOPES);
    if !lacking.is_empty() {
        return Ok(FanLists::MissingScope(lacking));
    }
    let writable = missing(&creator.scopes, &[WRITE_SCOPE]).is_empty();
    let client = connections.client();
    let fan = target.fan_uuid;
    let result = connections
        .call(target.creator_id, Priority::Interactive, |a| async move {
            let mut lists = Vec::new();
            for page in 1..=LIST_PAGES {
                let p = client.custom_lists(&a, page, PAGE).await?;
                lists.extend(p.items);
                if !p.has_more {
                    break;
                }
            }
            let mut out = Vec::with_capacity(lists.len());
            for l in lists {
                let Ok(uuid) = Uuid::parse_str(&l.uuid) else {
                    continue;
                };
                let mut on = Some(false);
                for page in 1..=MEMBER_PAGES {
                    let m = client.custom_list_members(&a, uuid, page, PAGE).await?;
                    if m.items.iter().any(|u| u.uuid == fan) {
                        on = Some(true);
                        break;
                    }
                    if !m.has_more {
                        break;
                    }
                    if page == MEMBER_PAGES {
                        on = None;
                    }
                }
                out.push(ListMembership {
                    uuid,
                    name: l
                        .name
                        .filter(|n| !n.trim().is_empty())
                        .unwrap_or_else(|| "Untitled list".to_owned()),
                    members: l.members_count.unwrap_or(0),
                    on,
                });
            }
            Ok(out)
        })
        .await;
    Ok(match result {
        Ok(lists) => FanLists::Loaded { lists, writable },
        Err(ConnectionError::Api(FanvueError::InsufficientScope)) => {
            FanLists::MissingScope(READ_SCOPES.to_vec())
        }
        Err(e) => {
            tracing::warn!(error = %e, "custom lists failed");
            FanLists::Unavailable(explain(&e))
        }
    })
}

/// Puts the chat's fan on (`add`) or takes them off `list` on Fanvue, then
/// records it in the audit log.
#[tracing::instrument(skip_all, fields(agency_id = %viewer.agency_id, chat_id = %target.chat_id, add))]
pub async fn change(
    db: &PgPool,
    connections: &Connections,
    viewer: Viewer,
    client_ip: Option<&str>,
    target: &ChatTarget,
    list: Uuid,
    add: bool,
) -> Result<(), ListsError> {
    let creator = store::creators::get(db, viewer.agency_id, target.creator_id).await?;
    if !missing(&creator.scopes, &[WRITE_SCOPE]).is_empty() {
        return Err(ListsError::Refused(
            "This creator's Fanvue connection does not allow changing custom lists (it needs write:chat); an admin can reconnect the creator to grant it.".to_owned(),
        ));
    }
    let client = connections.client();
    let fan = target.fan_uuid;
    let result = connections
        .call(target.creator_id, Priority::Interactive, |a| async move {
            if add {
                client
                    .add_custom_list_members(&a, list, &[fan])
                    .await
                    .map(|_| ())
            } else {
                client.remove_custom_list_member(&a, list, fan).await
            }
        })
        .await;
    if let Err(e) = result {
        tracing::warn!(error = %e, "custom list change failed");
        return Err(ListsError::Refused(explain(&e)));
    }
    let target_s = target.chat_id.to_string();
    store::audit::record(
        db,
        AuditEntry {
            agency_id: Some(viewer.agency_id),
            actor_id: Some(viewer.staff_id),
            action: if add {
                AuditAction::FanListAdded
            } else {
                AuditAction::FanListRemoved
            },
            target: Some(&target_s),
            details: json!({ "chat": target.chat_id, "creator": target.creator_id, "fan": fan, "list": list }),
            client_ip,
        },
    )
    .await?;
    Ok(())
}
