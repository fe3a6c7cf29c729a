//! The chat list: which chats a viewer sees under a tab, creator filter and
//! search, one keyset page at a time, and the rows' view model.

use chrono::Utc;
use sqlx::PgPool;
use uuid::Uuid;

use super::access::{Viewer, may_work_creator, visible_creators};
use super::cursor;
use super::error::InboxError;
use super::preview::{self, PreviewInput};
use super::tags::TagChip;
use crate::domain::{CreatorId, TagId, group_digits};
pub use crate::store::inbox::Tab;
use crate::store::inbox::{self as q, ChatCursor, ChatFilter, ChatRow, TabCounts};

fn given(v: Option<&str>) -> Option<&str> {
    v.map(str::trim).filter(|v| !v.is_empty())
}

/// Rows per page.
pub const PAGE_SIZE: i64 = 50;
/// Longest search accepted (longer input is cut, not refused).
const MAX_SEARCH_CHARS: usize = 100;

/// A parsed list query (`tab`, `creator`, `q`, `tag`, `after`).
#[derive(Debug, Clone)]
pub struct ListQuery {
    pub tab: Tab,
    pub creator: Option<CreatorId>,
    pub search: Option<String>,
    /// Only fans with this tag (checked to be the agency's when the list
    /// is read: another agency's tag is 404).
    pub tag: Option<TagId>,
    pub after: Option<ChatCursor>,
}

impl ListQuery {
    /// Parses the raw query values; empty values mean "not given".
    pub fn parse(
        tab: Option<&str>,
        creator: Option<&str>,
        search: Option<&str>,
        after: Option<&str>,
    ) -> Result<Self, InboxError> {
        let tab = match given(tab) {
            None => Tab::All,
            Some(t) => Tab::parse(t).ok_or_else(|| {
                InboxError::BadRequest(
                    "Unknown inbox tab. Use all, unread, awaiting, mine, unclaimed, ppv or spenders.".to_owned(),
                )
            })?,
        };
        let creator = match given(creator) {
            None => None,
            Some(c) => Some(c.parse().map_err(|_| {
                InboxError::BadRequest("The creator filter is not a valid creator id.".to_owned())
            })?),
        };
        if search.is_some_and(|s| s.contains('\0')) {
            return Err(InboxError::BadRequest(
                "The search contains a NUL character; remove it and search again.".to_owned(),
            ));
        }
        let search = given(search).map(|s| s.chars().take(MAX_SEARCH_CHARS).collect());
        let after = given(after).map(cursor::parse_chat).transpose()?;
        Ok(Self {
            tab,
            creator,
            search,
            tag: None,
            after,
        })
    }

    /// Adds the `tag` filter (empty means none).
    pub fn with_tag(mut self, tag: Option<&str>) -> Result<Self, InboxError> {
        self.tag = match given(tag) {
            None => None,
            Some(t) => Some(t.parse().map_err(|_| {
                InboxError::BadRequest("The tag filter is not a valid tag id.".to_owned())
            })?),
        };
        Ok(self)
    }

    /// `creator=…&q=…` (the filters every tab shares), URL-encoded.
    pub fn filters(&self) -> String {
        let mut s = url::form_urlencoded::Serializer::new(String::new());
        s.append_pair(
            "creator",
            &self.creator.map(|c| c.to_string()).unwrap_or_default(),
        );
        s.append_pair("q", self.search.as_deref().unwrap_or(""));
        if let Some(tag) = self.tag {
            s.append_pair("tag", &tag.to_string());
        }
        s.finish()
    }

    /// `tab=…&creator=…&q=…`: the list's `data-query`, without the cursor.
    pub fn query(&self) -> String {
        format!("tab={}&{}", self.tab.as_str(), self.filters())
    }
}

/// One chat row as the list renders it.
#[derive(Debug, Clone)]
pub struct RowView {
    pub id: Uuid,
    pub creator_id: CreatorId,
    pub name: String,
    pub handle: Option<String>,
    pub nickname: Option<String>,
    pub creator_name: String,
    pub avatar: Option<String>,
    pub initial: String,
    pub preview: String,
    pub preview_outbound: bool,
    pub at_iso: String,
    pub at_title: String,
    pub at_relative: String,
    pub unread: i32,
    pub is_unread: bool,
    pub top_spender: bool,
    /// The chat open beside the list (the thread page's side list).
    pub open: bool,
    /// Who else has it open or is typing, and who holds it.
    pub people: super::claims::ChatPeople,
    /// The fan's tags (chips on the row).
    pub tags: Vec<TagChip>,
    pub fan_uuid: Uuid,
}

impl RowView {
    pub fn from_row(r: &ChatRow, now: chrono::DateTime<Utc>) -> Self {
        let name = preview::fan_name(r.fan_display_name.as_deref(), r.fan_handle.as_deref());
        let preview_text = match &r.last_kind {
            None => "No messages yet".to_owned(),
            Some(kind) => preview::preview(&PreviewInput {
                kind,
                text: r.last_text.as_deref(),
                media_type: r.last_media_type.as_deref(),
                media_count: r.last_media_count.unwrap_or(0),
                has_media: r.last_has_media.unwrap_or(false),
                price_cents: r.last_price_cents,
                purchased: r.last_purchased.unwrap_or(false),
                deleted: r.last_deleted.unwrap_or(false),
                tip_cents: r.last_tip_cents,
            }),
        };
        Self {
            id: r.id,
            creator_id: r.creator_id,
            initial: preview::initial(&name),
            handle: r.fan_handle.clone().filter(|h| !h.trim().is_empty()),
            nickname: r.fan_nickname.clone().filter(|n| !n.trim().is_empty()),
            name,
            creator_name: r.creator_name.clone(),
            avatar: preview::safe_avatar(r.fan_avatar_url.as_deref()),
            preview: preview_text,
            preview_outbound: r.last_direction.as_deref() == Some("out"),
            at_iso: preview::iso(r.activity_at),
            at_title: preview::utc(r.activity_at),
            at_relative: preview::relative(r.activity_at, now),
            unread: r.unread_count.max(0),
            is_unread: r.unread_count > 0 || !r.is_read,
            top_spender: r.is_top_spender,
            open: false,
            people: Default::default(),
            tags: Vec::new(),
            fan_uuid: r.fan_uuid,
        }
    }
}

/// A creator in the filter menu.
#[derive(Debug, Clone)]
pub struct CreatorOption {
    pub id: CreatorId,
    pub name: String,
}

/// Rows of one page and the link to the next, if there is one.
#[derive(Debug, Clone)]
pub struct RowsView {
    pub rows: Vec<RowView>,
    /// `/inbox?…&after=…` (and the same for the rows fragment).
    pub next_cursor: Option<String>,
}

/// The tabs with their counts.
#[derive(Debug, Clone)]
pub struct TabView {
    pub tab: Tab,
    pub count: i64,
    /// The count as shown: "999+" at the cap.
    pub shown: String,
    pub current: bool,
}

/// The list page.
#[derive(Debug, Clone)]
pub struct ListView {
    pub query: ListQuery,
    pub creators: Vec<CreatorOption>,
    pub tabs: Vec<TabView>,
    pub rows: RowsView,
    /// The agency's tags (the filter menu).
    pub tags: Vec<TagChip>,
}

/// The creator ids the query covers, or 404 for a filter on a creator the
/// viewer may not work.
async fn scope(
    db: &PgPool,
    viewer: Viewer,
    query: &ListQuery,
) -> Result<(Vec<CreatorOption>, ChatFilter), InboxError> {
    let creators: Vec<CreatorOption> = visible_creators(db, viewer)
        .await?
        .into_iter()
        .map(|c| CreatorOption {
            id: c.id,
            name: c.display_name,
        })
        .collect();
    let ids = match query.creator {
        Some(id) if creators.iter().any(|c| c.id == id) => vec![id],
        Some(_) => return Err(InboxError::NotFound),
        None => creators.iter().map(|c| c.id).collect(),
    };
    if let Some(tag) = query.tag {
        // Another agency's tag is as unknown as one that does not exist.
        crate::store::fan_tags::get(db, viewer.agency_id, tag).await?;
    }
    let filter = ChatFilter {
        tab: Some(query.tab),
        creators: ids,
        search: query.search.clone(),
        claimant: Some(viewer.staff_id),
        tag: query.tag,
    };
    Ok((creators, filter))
}

async fn rows_for(
    db: &PgPool,
    viewer: Viewer,
    filter: &ChatFilter,
    after: Option<ChatCursor>,
    limit: i64,
) -> Result<RowsView, InboxError> {
    let mut rows = q::list_chats(db, viewer.agency_id, filter, after, None, limit + 1).await?;
    let more = rows.len() as i64 > limit;
    rows.truncate(limit as usize);
    let next_cursor = more.then(|| rows.last()).flatten().map(|r| {
        cursor::chat(ChatCursor {
            at: r.activity_at,
            id: r.id,
        })
    });
    let now = Utc::now();
    let mut rows: Vec<RowView> = rows.iter().map(|r| RowView::from_row(r, now)).collect();
    with_people(db, viewer, &mut rows).await?;
    with_tags(db, viewer, &mut rows).await?;
    Ok(RowsView { rows, next_cursor })
}

/// Fills in each row's fan tags (one query for the page).
async fn with_tags(db: &PgPool, viewer: Viewer, rows: &mut [RowView]) -> Result<(), InboxError> {
    let mut fans: Vec<Uuid> = rows.iter().map(|r| r.fan_uuid).collect();
    fans.sort_unstable();
    fans.dedup();
    let tags = crate::store::fan_tags::of_fans(db, viewer.agency_id, &fans).await?;
    for r in rows {
        if let Some(t) = tags.get(&r.fan_uuid) {
            r.tags = t.iter().map(TagChip::from).collect();
        }
    }
    Ok(())
}

/// Fills in each row's presence and claim.
async fn with_people(db: &PgPool, viewer: Viewer, rows: &mut [RowView]) -> Result<(), InboxError> {
    let ids: Vec<Uuid> = rows.iter().map(|r| r.id).collect();
    let mut people = super::claims::people_of(db, viewer, &ids).await?;
    for r in rows {
        if let Some(p) = people.remove(&r.id) {
            r.people = p;
        }
    }
    Ok(())
}

/// The tab counts, with Mine and Unclaimed from the claims.
async fn counts_for(
    db: &PgPool,
    viewer: Viewer,
    filter: &ChatFilter,
) -> Result<TabCounts, InboxError> {
    let mut counts = q::count_tabs(db, viewer.agency_id, filter).await?;
    let (mine, claimed_awaiting) = crate::store::claims::counts(
        db,
        viewer.agency_id,
        viewer.staff_id,
        &filter.creators,
        filter.tag,
    )
    .await?;
    counts.mine = mine;
    counts.unclaimed = (counts.awaiting - claimed_awaiting).max(0);
    Ok(counts)
}

fn tab_views(counts: &TabCounts, current: Tab) -> Vec<TabView> {
    Tab::ALL
        .into_iter()
        .map(|tab| {
            let count = counts.get(tab);
            TabView {
                tab,
                count,
                shown: if counts.capped && count >= q::COUNT_CAP {
                    format!("{}+", q::COUNT_CAP - 1)
                } else {
                    group_digits(count.max(0).unsigned_abs())
                },
                current: tab == current,
            }
        })
        .collect()
}

/// The list page: filter menu, tabs with counts, first (or `after`) page.
pub async fn page(db: &PgPool, viewer: Viewer, query: ListQuery) -> Result<ListView, InboxError> {
    let (creators, filter) = scope(db, viewer, &query).await?;
    let counts = counts_for(db, viewer, &filter).await?;
    let rows = rows_for(db, viewer, &filter, query.after, PAGE_SIZE).await?;
    let tags = super::tags::chips(db, viewer).await?;
    Ok(ListView {
        tabs: tab_views(&counts, query.tab),
        query,
        creators,
        rows,
        tags,
    })
}

/// One page of rows only (the "load more" fragment).
pub async fn rows(db: &PgPool, viewer: Viewer, query: &ListQuery) -> Result<RowsView, InboxError> {
    let (_, filter) = scope(db, viewer, query).await?;
    rows_for(db, viewer, &filter, query.after, PAGE_SIZE).await
}

/// The first `limit` rows of the unfiltered list with `open` marked as the
/// chat beside them (the thread page's side list, a fragment). No "load
/// more": the side list links to the full list instead.
pub async fn side_rows(
    db: &PgPool,
    viewer: Viewer,
    open: Option<Uuid>,
    limit: i64,
) -> Result<RowsView, InboxError> {
    let query = ListQuery::parse(None, None, None, None)?;
    let (_, filter) = scope(db, viewer, &query).await?;
    let mut side = rows_for(db, viewer, &filter, None, limit).await?;
    side.next_cursor = None;
    for r in &mut side.rows {
        r.open = Some(r.id) == open;
    }
    Ok(side)
}

/// The tabs with counts (the counts fragment).
pub async fn tabs(
    db: &PgPool,
    viewer: Viewer,
    query: &ListQuery,
) -> Result<Vec<TabView>, InboxError> {
    let (_, filter) = scope(db, viewer, query).await?;
    let counts = counts_for(db, viewer, &filter).await?;
    Ok(tab_views(&counts, query.tab))
}

/// One chat's row under `query`'s filters: 404 if the viewer may not see
/// the chat, `None` if it does not match the filters (live JS drops it).
pub async fn row(
    db: &PgPool,
    viewer: Viewer,
    chat: Uuid,
    query: &ListQuery,
) -> Result<Option<RowView>, InboxError> {
    let head = q::chat_head(db, viewer.agency_id, chat).await?;
    if !may_work_creator(db, viewer, head.creator_id).await? {
        return Err(InboxError::NotFound);
    }
    if query.creator.is_some_and(|c| c != head.creator_id) {
        return Ok(None);
    }
    if let Some(tag) = query.tag {
        crate::store::fan_tags::get(db, viewer.agency_id, tag).await?;
    }
    let filter = ChatFilter {
        tab: Some(query.tab),
        creators: vec![head.creator_id],
        search: query.search.clone(),
        claimant: Some(viewer.staff_id),
        tag: query.tag,
    };
    let rows = q::list_chats(db, viewer.agency_id, &filter, None, Some(chat), 1).await?;
    let now = Utc::now();
    let mut rows: Vec<RowView> = rows.iter().map(|r| RowView::from_row(r, now)).collect();
    with_people(db, viewer, &mut rows).await?;
    with_tags(db, viewer, &mut rows).await?;
    Ok(rows.into_iter().next())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_at_the_cap_show_a_plus() {
        let counts = TabCounts {
            all: q::COUNT_CAP,
            unread: 999,
            capped: true,
            ..Default::default()
        };
        let tabs = tab_views(&counts, Tab::Unread);
        let shown = |t: Tab| tabs.iter().find(|v| v.tab == t).unwrap().shown.clone();
        assert_eq!(shown(Tab::All), "999+");
        assert_eq!(shown(Tab::Unread), "999");
        assert!(tabs.iter().find(|v| v.tab == Tab::Unread).unwrap().current);
        // Kept counts are exact, with separators.
        let exact = TabCounts {
            all: 1_234_567,
            unread: 1000,
            ..Default::default()
        };
        let tabs = tab_views(&exact, Tab::All);
        let shown = |t: Tab| tabs.iter().find(|v| v.tab == t).unwrap().shown.clone();
        assert_eq!(shown(Tab::All), "1,234,567");
        assert_eq!(shown(Tab::Unread), "1,000");
        assert_eq!(shown(Tab::Ppv), "0");
    }

    #[test]
    fn parses_and_rebuilds_the_query() {
        let q = ListQuery::parse(Some("ppv"), Some(""), Some(" 50% a&b "), None).unwrap();
        assert_eq!(q.tab, Tab::Ppv);
        assert_eq!(q.search.as_deref(), Some("50% a&b"));
        assert_eq!(q.query(), "tab=ppv&creator=&q=50%25+a%26b");
        assert!(matches!(
            ListQuery::parse(Some("bogus"), None, None, None),
            Err(InboxError::BadRequest(_))
        ));
        assert!(matches!(
            ListQuery::parse(None, Some("x"), None, None),
            Err(InboxError::BadRequest(_))
        ));
        assert!(matches!(
            ListQuery::parse(None, None, None, Some("zzz")),
            Err(InboxError::BadRequest(_))
        ));
    }
}
