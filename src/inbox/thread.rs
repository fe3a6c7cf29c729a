//! A chat's thread: the header, the latest messages (older ones by keyset),
//! each message's kind, state and sender, and the fan panel's figures.

use sqlx::PgPool;
use uuid::Uuid;

use super::access::{Viewer, may_work_creator};
use super::cursor;
use super::error::InboxError;
use super::preview;
use crate::domain::{AgencyZone, Cents, CreatorId};
use crate::store::inbox::{self as q, ChatHead, FanStats, MessageCursor, MessageRow, Window};

/// Messages per page of the thread.
pub const PAGE_SIZE: i64 = 50;
/// Most messages one live "after" fetch returns.
const AFTER_LIMIT: i64 = 200;
/// Rows of the side list beside a thread (loaded after the thread, as the
/// list's rows fragment: a second list query on every thread view cost
/// about as much as the thread itself).
pub const SIDE_ROWS: i64 = 30;

/// The chat, checked visible to the viewer; 404 otherwise (another agency,
/// or a creator they may not work — as of this request).
pub async fn visible_chat(db: &PgPool, viewer: Viewer, chat: Uuid) -> Result<ChatHead, InboxError> {
    let head = q::chat_head(db, viewer.agency_id, chat).await?;
    if may_work_creator(db, viewer, head.creator_id).await? {
        Ok(head)
    } else {
        Err(InboxError::NotFound)
    }
}

/// The zone the viewer's agency shows times in.
async fn agency_zone(db: &PgPool, viewer: Viewer) -> Result<AgencyZone, InboxError> {
    Ok(crate::store::agency_settings::time_zone(db, viewer.agency_id).await?)
}

/// The thread header.
#[derive(Debug, Clone)]
pub struct HeadView {
    pub chat_id: Uuid,
    pub creator_id: CreatorId,
    pub creator_name: String,
    pub creator_handle: String,
    /// The fan's Fanvue uuid (notes and tags hang off it).
    pub fan_uuid: Uuid,
    pub fan_name: String,
    pub fan_handle: Option<String>,
    pub fan_nickname: Option<String>,
    pub avatar: Option<String>,
    pub initial: String,
    pub top_spender: bool,
    pub registered: Option<String>,
    pub registered_iso: String,
    /// The agency's zone, which every time on the page is shown in.
    pub zone_name: &'static str,
}

impl HeadView {
    fn new(h: &ChatHead, zone: AgencyZone) -> Self {
        let fan_name = preview::fan_name(h.fan_display_name.as_deref(), h.fan_handle.as_deref());
        Self {
            chat_id: h.id,
            creator_id: h.creator_id,
            creator_name: h.creator_name.clone(),
            creator_handle: h.creator_handle.clone(),
            fan_uuid: h.fan_uuid,
            initial: preview::initial(&fan_name),
            fan_name,
            fan_handle: h.fan_handle.clone().filter(|s| !s.trim().is_empty()),
            fan_nickname: h.fan_nickname.clone().filter(|s| !s.trim().is_empty()),
            avatar: preview::safe_avatar(h.fan_avatar_url.as_deref()),
            top_spender: h.is_top_spender,
            registered: h.fan_registered_at.map(|t| zone.date(t)),
            registered_iso: h.fan_registered_at.map(preview::iso).unwrap_or_default(),
            zone_name: zone.name(),
        }
    }
}

/// A PPV's state.
#[derive(Debug, Clone)]
pub struct PpvView {
    pub price: String,
    /// When it was bought (agency time), if it was.
    pub paid_at: Option<String>,
    pub paid_iso: String,
}

/// One message as the thread renders it.
#[derive(Debug, Clone)]
pub struct MessageView {
    pub uuid: Uuid,
    pub outbound: bool,
    /// Extra CSS classes (`msg-out`, `msg-auto`, …).
    pub classes: String,
    pub sender: String,
    /// Admins get a link to map an unmapped team member.
    pub map_link: bool,
    pub at_iso: String,
    /// The time in the agency's zone, with its abbreviation.
    pub at_local: String,
    pub text: Option<String>,
    /// "Photo ×3" for media (with or without text).
    pub media: Option<String>,
    pub ppv: Option<PpvView>,
    /// "Tip $5.00" (or "Tip" when the amount is not mirrored).
    pub tip: Option<String>,
    pub badge: Option<String>,
    pub automated: bool,
    /// Outbound only: whether the fan has read it.
    pub read: Option<bool>,
    pub deleted: bool,
}

impl MessageView {
    pub fn new(m: &MessageRow, fan_name: &str, viewer_is_admin: bool, zone: AgencyZone) -> Self {
        let outbound = m.direction == "out";
        let automated = preview::is_automated(&m.kind);
        let mut map_link = false;
        let sender = if !outbound {
            fan_name.to_owned()
        } else if m.via_ledger {
            format!(
                "{} · via Switchboard",
                m.ledger_staff.as_deref().unwrap_or("Former staff member")
            )
        } else if let Some(name) = &m.mapped_staff {
            name.clone()
        } else if let Some(uuid) = m.sent_by_user_uuid.as_deref().filter(|u| !u.is_empty()) {
            map_link = viewer_is_admin;
            let short: String = uuid.chars().take(8).collect();
            format!("Unmapped team member {short}")
        } else {
            "Creator".to_owned()
        };
        let is_tip = m.kind == "TIP";
        let ppv = m.price_cents.filter(|_| !is_tip).map(|c| PpvView {
            price: Cents(c).to_string(),
            paid_at: m.purchased_at.map(|t| preview::local(t, zone)),
            paid_iso: m.purchased_at.map(preview::iso).unwrap_or_default(),
        });
        let tip = is_tip.then(|| match m.tip_cents.or(m.price_cents) {
            Some(c) => format!("Tip {}", Cents(c)),
            None => "Tip".to_owned(),
        });
        let media = (m.has_media.unwrap_or(false) || m.media_count > 0)
            .then(|| preview::media_label(m.media_type.as_deref(), m.media_count.max(1)));
        let text = m.text.clone().filter(|t| !t.is_empty());
        let mut classes = vec![if outbound { "msg-out" } else { "msg-in" }];
        if automated {
            classes.push("msg-auto");
        }
        if m.kind == "BROADCAST" {
            classes.push("msg-broadcast");
        }
        if ppv.is_some() {
            classes.push("msg-ppv");
        }
        if is_tip {
            classes.push("msg-tip");
        }
        if m.deleted {
            classes.push("msg-deleted");
        }
        Self {
            uuid: m.uuid,
            outbound,
            classes: classes.join(" "),
            sender,
            map_link,
            at_iso: preview::iso(m.at),
            at_local: preview::local(m.at, zone),
            text,
            media,
            ppv,
            tip,
            badge: preview::kind_badge(&m.kind),
            automated,
            read: outbound.then_some(m.is_read),
            deleted: m.deleted,
        }
    }
}

/// The fan panel.
#[derive(Debug, Clone)]
pub struct PanelView {
    pub total_spent: String,
    pub ppv_spent: String,
    pub tip_spent: String,
    pub ppv_bought: i64,
    pub tips: i64,
    /// PPVs bought plus tips.
    pub purchases: i64,
    pub last_purchase: Option<String>,
    pub last_purchase_iso: String,
    /// "2 of 3 (67%)", or None when no PPV was sent.
    pub unlock_rate: Option<String>,
    pub first_message: Option<String>,
    pub first_message_iso: String,
}

impl PanelView {
    pub fn new(s: &FanStats, zone: AgencyZone) -> Self {
        let last = s.last_ppv_at.max(s.last_tip_at);
        let unlock_rate = (s.ppv_sent > 0).then(|| {
            let pct = (s.ppv_bought as f64 * 100.0 / s.ppv_sent as f64).round();
            format!("{} of {} ({pct}%)", s.ppv_bought, s.ppv_sent)
        });
        Self {
            total_spent: Cents(s.ppv_cents.saturating_add(s.tip_cents)).to_string(),
            ppv_spent: Cents(s.ppv_cents).to_string(),
            tip_spent: Cents(s.tip_cents).to_string(),
            ppv_bought: s.ppv_bought,
            tips: s.tips,
            purchases: s.ppv_bought + s.tips,
            last_purchase: last.map(|t| preview::local(t, zone)),
            last_purchase_iso: last.map(preview::iso).unwrap_or_default(),
            unlock_rate,
            first_message: s.first_message_at.map(|t| preview::local(t, zone)),
            first_message_iso: s.first_message_at.map(preview::iso).unwrap_or_default(),
        }
    }
}

/// What a thread page shows.
#[derive(Debug, Clone)]
pub struct ThreadView {
    pub head: HeadView,
    /// Oldest first.
    pub messages: Vec<MessageView>,
    /// Cursor for "Load older", when older local messages exist.
    pub older: Option<String>,
    /// No older local messages, but the chat's history is not all mirrored.
    pub still_syncing: bool,
    pub hide_auto: bool,
    /// Whether this page is an older page (a `before` cursor was given).
    pub paged: bool,
    pub panel: PanelView,
}

/// A thread page's request.
#[derive(Debug, Clone, Copy)]
pub struct ThreadQuery {
    pub before: Option<MessageCursor>,
    pub hide_auto: bool,
}

impl ThreadQuery {
    pub fn parse(before: Option<&str>, hide_auto: Option<&str>) -> Result<Self, InboxError> {
        let before = before
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(cursor::parse_message)
            .transpose()?;
        let hide_auto = matches!(hide_auto.map(str::trim), Some("1" | "true" | "on" | "yes"));
        Ok(Self { before, hide_auto })
    }
}

/// The whole thread page for `chat`.
/// `zone` is the agency's, as read with the signed-in staff row.
pub async fn load(
    db: &PgPool,
    viewer: Viewer,
    zone: AgencyZone,
    chat: Uuid,
    query: ThreadQuery,
) -> Result<ThreadView, InboxError> {
    let head = visible_chat(db, viewer, chat).await?;
    let mut rows = q::messages(
        db,
        viewer.agency_id,
        chat,
        head.fan_uuid,
        Window::Before(query.before),
        query.hide_auto,
        PAGE_SIZE + 1,
    )
    .await?;
    let more = rows.len() as i64 > PAGE_SIZE;
    rows.truncate(PAGE_SIZE as usize);
    let older = more.then(|| rows.last()).flatten().map(|m| {
        cursor::message(MessageCursor {
            at: m.at,
            uuid: m.uuid,
        })
    });
    rows.reverse();
    let stats = q::fan_stats(db, viewer.agency_id, head.creator_id, chat, head.fan_uuid).await?;
    let view = HeadView::new(&head, zone);
    let admin = viewer.role.is_admin();
    Ok(ThreadView {
        messages: rows
            .iter()
            .map(|m| MessageView::new(m, &view.fan_name, admin, zone))
            .collect(),
        still_syncing: !more && !head.history_complete,
        older,
        hide_auto: query.hide_auto,
        paged: query.before.is_some(),
        panel: PanelView::new(&stats, zone),
        head: view,
    })
}

/// Messages after `after` (oldest first) — live appends. Without `after`,
/// the latest page.
pub async fn after(
    db: &PgPool,
    viewer: Viewer,
    chat: Uuid,
    after: Option<Uuid>,
) -> Result<Vec<MessageView>, InboxError> {
    let head = visible_chat(db, viewer, chat).await?;
    let window = match after {
        None => Window::Before(None),
        Some(uuid) => Window::After(
            q::message_cursor(db, viewer.agency_id, chat, uuid)
                .await?
                .ok_or_else(|| {
                    InboxError::BadRequest(
                        "The message to continue after is not in this chat.".to_owned(),
                    )
                })?,
        ),
    };
    let limit = if after.is_some() {
        AFTER_LIMIT
    } else {
        PAGE_SIZE
    };
    let mut rows = q::messages(
        db,
        viewer.agency_id,
        chat,
        head.fan_uuid,
        window,
        false,
        limit,
    )
    .await?;
    if after.is_none() {
        rows.reverse();
    }
    let name = preview::fan_name(head.fan_display_name.as_deref(), head.fan_handle.as_deref());
    let admin = viewer.role.is_admin();
    let zone = agency_zone(db, viewer).await?;
    Ok(rows
        .iter()
        .map(|m| MessageView::new(m, &name, admin, zone))
        .collect())
}

/// One message of the chat (404 if it is not there).
pub async fn one(
    db: &PgPool,
    viewer: Viewer,
    chat: Uuid,
    uuid: Uuid,
) -> Result<MessageView, InboxError> {
    let head = visible_chat(db, viewer, chat).await?;
    let rows = q::messages(
        db,
        viewer.agency_id,
        chat,
        head.fan_uuid,
        Window::One(uuid),
        false,
        1,
    )
    .await?;
    let m = rows.first().ok_or(InboxError::NotFound)?;
    let name = preview::fan_name(head.fan_display_name.as_deref(), head.fan_handle.as_deref());
    let zone = agency_zone(db, viewer).await?;
    Ok(MessageView::new(m, &name, viewer.role.is_admin(), zone))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unlock_rate_and_totals() {
        let p = PanelView::new(
            &FanStats {
                ppv_cents: 2450,
                ppv_bought: 2,
                ppv_sent: 3,
                tip_cents: 505,
                tips: 1,
                ..Default::default()
            },
            AgencyZone::UTC,
        );
        assert_eq!(p.total_spent, "$29.55");
        assert_eq!(p.unlock_rate.as_deref(), Some("2 of 3 (67%)"));
        assert_eq!(
            PanelView::new(&FanStats::default(), AgencyZone::UTC).unlock_rate,
            None
        );
    }

    #[test]
    fn hide_auto_and_before_parse() {
        let q = ThreadQuery::parse(Some(""), Some("1")).unwrap();
        assert!(q.hide_auto && q.before.is_none());
        assert!(ThreadQuery::parse(Some("nope"), None).is_err());
    }
}
