//! Claims and the queue (DESIGN §11): a chatter claims a chat (a soft lock
//! with an owner and an expiry that their typing and sending push on),
//! others see it, may still open the chat and may take it over; managers
//! reassign. "Next chat" claims the unclaimed chat that has waited longest.
//! Take-overs, releases and reassignments are audited in the transaction
//! that makes them.

use chrono::{DateTime, Utc};
use serde_json::json;
use sqlx::PgPool;
use uuid::Uuid;

use super::access::{Viewer, may_work_creator, visible_creators};
use super::error::InboxError;
use crate::domain::{AuditAction, CreatorId, StaffId};
use crate::store::claims::ClaimRow;
use crate::store::presence::PresenceRow;
use crate::store::{self, StoreError};

/// How long a claim lasts after its owner's last activity in the chat.
pub const CLAIM_MINUTES: i64 = 15;

pub fn length() -> chrono::Duration {
    chrono::Duration::minutes(CLAIM_MINUTES)
}

/// What a claim request did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClaimOutcome {
    /// The viewer holds the chat now (or already did).
    Claimed,
    /// Someone else holds it: take over to reply.
    HeldBy(String),
    /// The viewer already holds as many chats as the agency allows.
    CapReached(i32),
    /// "Next chat": nothing is waiting unclaimed.
    NothingWaiting,
}

pub use super::actor::Actor;

async fn cap_reached(
    conn: &mut sqlx::PgConnection,
    viewer: Viewer,
    chat: Option<Uuid>,
) -> Result<Option<i32>, StoreError> {
    let Some(cap) = store::agency_settings::get(&mut *conn, viewer.agency_id)
        .await?
        .claim_cap
    else {
        return Ok(None);
    };
    let held = store::claims::held_by(conn, viewer.agency_id, viewer.staff_id, chat).await?;
    Ok((held >= i64::from(cap)).then_some(cap))
}

/// Claims `chat` (which the viewer may work: the caller checked) unless
/// someone else holds it or the viewer is at the agency's cap.
pub async fn claim(
    db: &PgPool,
    viewer: Viewer,
    creator: CreatorId,
    chat: Uuid,
) -> Result<ClaimOutcome, InboxError> {
    let mut tx = db.begin().await.map_err(StoreError::from)?;
    store::claims::lock_staff(&mut tx, viewer.staff_id).await?;
    if let Some(cap) = cap_reached(&mut tx, viewer, Some(chat)).await? {
        return Ok(ClaimOutcome::CapReached(cap));
    }
    let now = store::claims::claim(
        &mut tx,
        viewer.agency_id,
        creator,
        chat,
        viewer.staff_id,
        length(),
    )
    .await?;
    tx.commit().await.map_err(StoreError::from)?;
    Ok(if now.staff_id == viewer.staff_id {
        ClaimOutcome::Claimed
    } else {
        ClaimOutcome::HeldBy(now.staff_name)
    })
}

/// Takes `chat` over from whoever holds it (audited when someone did).
pub async fn take_over(
    db: &PgPool,
    actor: &Actor<'_>,
    creator: CreatorId,
    chat: Uuid,
) -> Result<ClaimOutcome, InboxError> {
    let viewer = actor.viewer;
    let mut tx = db.begin().await.map_err(StoreError::from)?;
    store::claims::lock_staff(&mut tx, viewer.staff_id).await?;
    if let Some(cap) = cap_reached(&mut tx, viewer, Some(chat)).await? {
        return Ok(ClaimOutcome::CapReached(cap));
    }
    let before = store::claims::give(
        &mut tx,
        viewer.agency_id,
        creator,
        chat,
        viewer.staff_id,
        length(),
    )
    .await?;
    if let Some(prev) = before.filter(|b| b.staff_id != viewer.staff_id) {
        let target = chat.to_string();
        store::audit::record(
            &mut *tx,
            actor.audit(
                AuditAction::ClaimTakenOver,
                &target,
                json!({ "chat": chat, "from": prev.staff_id, "from_name": prev.staff_name }),
            ),
        )
        .await?;
    }
    tx.commit().await.map_err(StoreError::from)?;
    Ok(ClaimOutcome::Claimed)
}

/// Ends the viewer's own claim, or (managers) anyone's. Returns whether a
/// claim ended.
pub async fn release(db: &PgPool, actor: &Actor<'_>, chat: Uuid) -> Result<bool, InboxError> {
    let viewer = actor.viewer;
    let owner = (!viewer.role.is_manager_or_above()).then_some(viewer.staff_id);
    let mut tx = db.begin().await.map_err(StoreError::from)?;
    let Some(ended) = store::claims::release(&mut tx, viewer.agency_id, chat, owner).await? else {
        return Ok(false);
    };
    let target = chat.to_string();
    store::audit::record(
        &mut *tx,
        actor.audit(
            AuditAction::ClaimReleased,
            &target,
            json!({ "chat": chat, "owner": ended.staff_id, "owner_name": ended.staff_name }),
        ),
    )
    .await?;
    tx.commit().await.map_err(StoreError::from)?;
    Ok(true)
}

/// A manager gives `chat`'s claim to `to`, who must be an active member
/// of the agency allowed to work the chat's creator (else 404).
pub async fn reassign(
    db: &PgPool,
    actor: &Actor<'_>,
    creator: CreatorId,
    chat: Uuid,
    to: StaffId,
) -> Result<(), InboxError> {
    let viewer = actor.viewer;
    let staff = store::staff::for_session(db, to)
        .await?
        .filter(|s| s.active && s.agency_id == viewer.agency_id)
        .ok_or(InboxError::NotFound)?;
    let to_viewer = Viewer {
        agency_id: staff.agency_id,
        staff_id: staff.id,
        role: staff.role,
    };
    if !may_work_creator(db, to_viewer, creator).await? {
        return Err(InboxError::BadRequest(format!(
            "{} does not work this creator's inbox.",
            staff.display_name
        )));
    }
    let mut tx = db.begin().await.map_err(StoreError::from)?;
    let before =
        store::claims::give(&mut tx, viewer.agency_id, creator, chat, to, length()).await?;
    let target = chat.to_string();
    store::audit::record(
        &mut *tx,
        actor.audit(
            AuditAction::ClaimReassigned,
            &target,
            json!({
                "chat": chat,
                "from": before.as_ref().map(|b| b.staff_id),
                "from_name": before.as_ref().map(|b| b.staff_name.clone()),
                "to": to,
                "to_name": staff.display_name,
            }),
        ),
    )
    .await?;
    tx.commit().await.map_err(StoreError::from)?;
    Ok(())
}

/// "Next chat": claims the unclaimed chat of the viewer's creators that has
/// waited longest for a reply. Two chatters at once get different chats
/// (the candidate row is locked, locked rows are skipped).
pub async fn next_chat(
    db: &PgPool,
    viewer: Viewer,
) -> Result<(ClaimOutcome, Option<Uuid>), InboxError> {
    let creators: Vec<CreatorId> = visible_creators(db, viewer)
        .await?
        .into_iter()
        .map(|c| c.id)
        .collect();
    if creators.is_empty() {
        return Ok((ClaimOutcome::NothingWaiting, None));
    }
    // A claim that raced in after the candidate was read (the candidate's
    // lock does not cover the claims table): try the next one.
    for _ in 0..3 {
        let mut tx = db.begin().await.map_err(StoreError::from)?;
        store::claims::lock_staff(&mut tx, viewer.staff_id).await?;
        if let Some(cap) = cap_reached(&mut tx, viewer, None).await? {
            return Ok((ClaimOutcome::CapReached(cap), None));
        }
        let Some((chat, creator)) =
            store::claims::next_unclaimed(&mut tx, viewer.agency_id, &creators).await?
        else {
            return Ok((ClaimOutcome::NothingWaiting, None));
        };
        let now = store::claims::claim(
            &mut tx,
            viewer.agency_id,
            creator,
            chat,
            viewer.staff_id,
            length(),
        )
        .await?;
        if now.staff_id == viewer.staff_id {
            tx.commit().await.map_err(StoreError::from)?;
            return Ok((ClaimOutcome::Claimed, Some(chat)));
        }
        tx.rollback().await.map_err(StoreError::from)?;
    }
    Ok((ClaimOutcome::NothingWaiting, None))
}

/// A claim as pages show it ("Claimed by Chloe · 12 min").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimView {
    pub owner_id: StaffId,
    pub owner: String,
    pub initials: String,
    pub mine: bool,
    /// Whole minutes since it was claimed.
    pub minutes: i64,
    pub claimed_iso: String,
    pub expires_iso: String,
}

impl ClaimView {
    pub fn new(c: &ClaimRow, me: StaffId, now: DateTime<Utc>) -> Self {
        Self {
            owner_id: c.staff_id,
            owner: c.staff_name.clone(),
            initials: initials(&c.staff_name),
            mine: c.staff_id == me,
            minutes: (now - c.claimed_at).num_minutes().max(0),
            claimed_iso: super::preview::iso(c.claimed_at),
            expires_iso: super::preview::iso(c.expires_at),
        }
    }

    /// "Claimed by Chloe · 12 min" / "Claimed by you · 3 min".
    pub fn label(&self) -> String {
        let who = if self.mine { "you" } else { &self.owner };
        format!("Claimed by {who} \u{b7} {} min", self.minutes)
    }
}

/// One person in a chat.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PersonView {
    pub name: String,
    pub initials: String,
    pub typing: bool,
    pub idle: bool,
    /// "Chloe is typing" / "Chloe is viewing" / "Chloe is idle".
    pub label: String,
}

impl PersonView {
    pub fn new(p: &PresenceRow) -> Self {
        let state = if p.typing {
            "typing"
        } else if p.idle {
            "idle"
        } else {
            "viewing"
        };
        Self {
            initials: initials(&p.staff_name),
            label: format!("{} is {state}", p.staff_name),
            name: p.staff_name.clone(),
            typing: p.typing,
            idle: p.idle && !p.typing,
        }
    }

    pub fn class(&self) -> &'static str {
        if self.typing {
            "person is-typing"
        } else if self.idle {
            "person is-idle"
        } else {
            "person"
        }
    }
}

/// Who else is in a chat and who holds it, for a list row or the header.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChatPeople {
    /// Other staff members with the chat open (never the viewer).
    pub people: Vec<PersonView>,
    pub claim: Option<ClaimView>,
}

impl ChatPeople {
    pub fn typing(&self) -> Vec<&PersonView> {
        self.people.iter().filter(|p| p.typing).collect()
    }

    /// "Chloe is typing…" for the header, when anyone is.
    pub fn typing_note(&self) -> Option<String> {
        let t = self.typing();
        match t.len() {
            0 => None,
            1 => Some(format!("{} is typing\u{2026}", t[0].name)),
            _ => Some(format!(
                "{} are typing\u{2026}",
                t.iter()
                    .map(|p| p.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
        }
    }

    /// Someone other than the viewer holds the chat.
    pub fn claimed_by_other(&self) -> bool {
        self.claim.as_ref().is_some_and(|c| !c.mine)
    }
}

/// Up to two initials of a name ("Chloe Martin" → "CM").
pub fn initials(name: &str) -> String {
    let s: String = name
        .split_whitespace()
        .filter_map(|w| w.chars().find(|c| c.is_alphanumeric()))
        .take(2)
        .flat_map(char::to_uppercase)
        .collect();
    if s.is_empty() { "?".to_owned() } else { s }
}

/// Presence and claims of these chats (which the viewer may see), by chat.
pub async fn people_of(
    db: &PgPool,
    viewer: Viewer,
    chats: &[Uuid],
) -> Result<std::collections::HashMap<Uuid, ChatPeople>, InboxError> {
    let mut out: std::collections::HashMap<Uuid, ChatPeople> = std::collections::HashMap::new();
    if chats.is_empty() {
        return Ok(out);
    }
    let now = Utc::now();
    for c in store::claims::for_chats(db, viewer.agency_id, chats).await? {
        out.entry(c.chat_id).or_default().claim = Some(ClaimView::new(&c, viewer.staff_id, now));
    }
    for p in store::presence::for_chats(db, viewer.agency_id, chats).await? {
        if p.staff_id == viewer.staff_id {
            continue;
        }
        out.entry(p.chat_id)
            .or_default()
            .people
            .push(PersonView::new(&p));
    }
    Ok(out)
}

/// One creator's claims on the managers' page.
pub struct CreatorClaims {
    pub creator_name: String,
    pub claims: Vec<ClaimLine>,
    /// Who may be given this creator's chats.
    pub staff: Vec<(String, String)>,
}

pub struct ClaimLine {
    pub chat_id: String,
    pub fan_name: String,
    pub claim: ClaimView,
}

/// The managers' claims page: every creator the viewer works, with its live
/// claims and the staff who may be given its chats.
#[tracing::instrument(skip_all, fields(agency_id = %viewer.agency_id))]
pub async fn overview(db: &PgPool, viewer: Viewer) -> Result<Vec<CreatorClaims>, InboxError> {
    let creators = visible_creators(db, viewer).await?;
    let ids: Vec<_> = creators.iter().map(|c| c.id).collect();
    let rows = store::claims::for_creators(db, viewer.agency_id, &ids).await?;
    let chats: Vec<Uuid> = rows.iter().map(|r| r.chat_id).collect();
    let names = store::claims::fan_names(db, viewer.agency_id, &chats).await?;
    let now = Utc::now();
    let mut out = Vec::with_capacity(creators.len());
    for c in &creators {
        let staff = store::claims::workers_of(db, viewer.agency_id, c.id)
            .await?
            .into_iter()
            .map(|(id, name)| (id.to_string(), name))
            .collect();
        out.push(CreatorClaims {
            creator_name: c.display_name.clone(),
            claims: rows
                .iter()
                .filter(|r| r.creator_id == c.id)
                .map(|r| ClaimLine {
                    chat_id: r.chat_id.to_string(),
                    fan_name: names.get(&r.chat_id).map_or_else(
                        || "Unknown fan".to_owned(),
                        |(n, h)| super::preview::fan_name(n.as_deref(), h.as_deref()),
                    ),
                    claim: ClaimView::new(r, viewer.staff_id, now),
                })
                .collect(),
            staff,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn initials_take_the_first_letters_of_two_words() {
        assert_eq!(initials("Chloe Martin"), "CM");
        assert_eq!(initials("chloe"), "C");
        assert_eq!(initials("  "), "?");
        assert_eq!(initials("Ana María López"), "AM");
    }
}
