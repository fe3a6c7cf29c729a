//! The shared inbox's reads: chat list pages, tab counts, a chat's header,
//! its thread and the fan panel's figures. Every query is scoped by the
//! agency and by the creator ids the viewer may work (decided by
//! `inbox::access`); a chat outside them is "not found".
//!
//! Order keys: a chat's activity is `COALESCE(last_message_at, created_at)`
//! and a message's time `COALESCE(sent_at, first_seen_at)`, both with the id
//! as tie-breaker, matching the indexes of the inbox migration. Pages are
//! keyset (never OFFSET), so rows arriving between two page fetches only
//! ever land above the cursor.

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use uuid::Uuid;

use super::StoreError;
use crate::domain::{AgencyId, CreatorId};

/// The list's tabs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tab {
    All,
    Unread,
    /// The newest human (not automated), not unsent message is the fan's.
    Awaiting,
    /// An outbound PPV the fan has not bought yet.
    Ppv,
    /// The fan has mirrored spend: a purchased PPV or a tip.
    Spenders,
    /// Chats the viewer holds claimed.
    Mine,
    /// Awaiting a reply and claimed by nobody.
    Unclaimed,
}

impl Tab {
    pub const ALL: [Tab; 7] = [
        Tab::Unread,
        Tab::Awaiting,
        Tab::Mine,
        Tab::Unclaimed,
        Tab::All,
        Tab::Ppv,
        Tab::Spenders,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Tab::All => "all",
            Tab::Unread => "unread",
            Tab::Awaiting => "awaiting",
            Tab::Ppv => "ppv",
            Tab::Spenders => "spenders",
            Tab::Mine => "mine",
            Tab::Unclaimed => "unclaimed",
        }
    }

    pub fn parse(s: &str) -> Option<Tab> {
        Tab::ALL.into_iter().find(|t| t.as_str() == s)
    }

    pub fn label(self) -> &'static str {
        match self {
            Tab::All => "All",
            Tab::Unread => "Unread",
            Tab::Awaiting => "Awaiting reply",
            Tab::Ppv => "PPV awaiting purchase",
            Tab::Spenders => "Spenders",
            Tab::Mine => "Mine",
            Tab::Unclaimed => "Unclaimed",
        }
    }

    /// The tab's condition on chat `c` (static SQL only).
    fn predicate(self) -> &'static str {
        match self {
            Tab::All => "true",
            Tab::Unread => UNREAD,
            Tab::Awaiting => AWAITING,
            Tab::Ppv => OPEN_PPV,
            Tab::Spenders => SPENDER,
            Tab::Mine => MINE,
            Tab::Unclaimed => UNCLAIMED,
        }
    }
}

const UNREAD: &str = "(c.unread_count > 0 OR NOT c.is_read)";
// Kept on the chat by the inbox migration's triggers (see there).
const AWAITING: &str = "c.awaiting_reply";
const OPEN_PPV: &str = "c.has_open_ppv";
const SPENDER: &str = "c.has_spend";
// Claims (`chat_claims`, live while `expires_at` is ahead); `$7` is the viewer.
const MINE: &str = "EXISTS (SELECT 1 FROM chat_claims k
    WHERE k.chat_id = c.id AND k.staff_id = $7 AND k.expires_at > now())";
const UNCLAIMED: &str = "c.awaiting_reply AND NOT EXISTS (SELECT 1 FROM chat_claims k
    WHERE k.chat_id = c.id AND k.expires_at > now())";
/// Matches the expression of `chats_fan_search_idx`; `$3` is the LIKE pattern.
const SEARCH: &str =
    "lower(COALESCE(c.fan_display_name, '') || ' ' || COALESCE(c.fan_handle, '') || ' '
      || COALESCE(c.fan_nickname, '')) LIKE $3";
const ACTIVITY: &str = "COALESCE(c.last_message_at, c.created_at)";
/// The tag filter: one probe of `fan_tags`' key (agency, tag, fan) per
/// candidate chat; `$8` is the tag.
const TAGGED: &str = "AND EXISTS (SELECT 1 FROM fan_tags ft
    WHERE ft.agency_id = $1 AND ft.tag_id = $8 AND ft.fan_uuid = c.fan_uuid)";

/// Which chats a list shows (besides agency and visible creators).
#[derive(Debug, Clone, Default)]
pub struct ChatFilter {
    pub tab: Option<Tab>,
    /// Already narrowed to creators the viewer may work.
    pub creators: Vec<CreatorId>,
    /// The search text as typed (trimmed); matched as a substring.
    pub search: Option<String>,
    /// Whose claims the Mine tab shows (the viewer).
    pub claimant: Option<crate::domain::StaffId>,
    /// Only fans carrying this tag of the agency (already checked to be
    /// the agency's).
    pub tag: Option<crate::domain::TagId>,
}

/// A LIKE pattern matching `text` anywhere, with `%`, `_` and `\` literal.
pub fn contains_pattern(text: &str) -> String {
    let mut p = String::with_capacity(text.len() + 2);
    p.push('%');
    for ch in text.to_lowercase().chars() {
        if matches!(ch, '%' | '_' | '\\') {
            p.push('\\');
        }
        p.push(ch);
    }
    p.push('%');
    p
}

/// A position in the list: the last row's activity and id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChatCursor {
    pub at: DateTime<Utc>,
    pub id: Uuid,
}

/// A list row: the chat, its creator and its newest message.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ChatRow {
    pub id: Uuid,
    pub creator_id: CreatorId,
    pub creator_name: String,
    pub fan_uuid: Uuid,
    pub fan_handle: Option<String>,
    pub fan_display_name: Option<String>,
    pub fan_nickname: Option<String>,
    pub fan_avatar_url: Option<String>,
    pub is_top_spender: bool,
    pub is_read: bool,
    pub unread_count: i32,
    pub activity_at: DateTime<Utc>,
    pub last_direction: Option<String>,
    pub last_text: Option<String>,
    pub last_kind: Option<String>,
    pub last_media_type: Option<String>,
    pub last_media_count: Option<i32>,
    pub last_has_media: Option<bool>,
    pub last_price_cents: Option<i64>,
    pub last_purchased: Option<bool>,
    pub last_deleted: Option<bool>,
    pub last_tip_cents: Option<i64>,
}

/// The amount of a TIP message: Fanvue's message carries none, the tip
/// webhook does; they are the same event, so the tip nearest in time.
const TIP_AMOUNT: &str = "LEFT JOIN LATERAL (
        SELECT t.amount_cents FROM tips t
        WHERE {m}.kind = 'TIP' AND t.creator_id = {m}.creator_id AND t.fan_uuid = {fan}
          AND t.tipped_at BETWEEN COALESCE({m}.sent_at, {m}.first_seen_at) - interval '10 seconds'
                              AND COALESCE({m}.sent_at, {m}.first_seen_at) + interval '10 seconds'
        ORDER BY abs(extract(epoch FROM t.tipped_at - COALESCE({m}.sent_at, {m}.first_seen_at)))
        LIMIT 1) tip ON true";

fn tip_join(m: &str, fan: &str) -> String {
    TIP_AMOUNT.replace("{m}", m).replace("{fan}", fan)
}

/// The SQL of `list_chats` (also explained by the benchmark). Binds: $1 agency, $2 creators, $3 search
/// pattern, $4/$5 the cursor, $6 the one chat, $7 the claimant (the Mine tab), $8 the tag. The
/// tag filter is one of two fixed texts, like the others, so each shape keeps its cached plan. The page size and
/// the probe are written into the text: with them as parameters Postgres re-plans
/// the query on every execution (its generic plan guesses a LIMIT's size),
/// which cost more than running it; as literals the cached plan is reused.
fn list_chats_sql(filter: &ChatFilter, after: bool, only: bool, limit: i64) -> String {
    let tab = filter.tab.unwrap_or(Tab::All).predicate();
    let search = if filter.search.is_some() {
        SEARCH
    } else {
        "$3::text IS NULL"
    };
    let cursor = if after {
        "AND (COALESCE(c.last_message_at, c.created_at), c.id) < ($4, $5)"
    } else {
        "AND $4::timestamptz IS NULL AND $5::uuid IS NULL"
    };
    let only_sql = if only {
        "AND c.id = $6 AND ($7::uuid IS NULL OR true)"
    } else {
        "AND $6::uuid IS NULL AND ($7::uuid IS NULL OR true)"
    };
    let tag = if filter.tag.is_some() {
        TAGGED
    } else {
        "AND $8::uuid IS NULL"
    };
    let probe = probe_rows(filter.creators.len(), limit);
    const COLUMNS: &str =
        "c.id, c.creator_id, c.agency_id, c.fan_uuid, c.fan_handle, c.fan_display_name,
        c.fan_nickname, c.fan_avatar_url, c.is_top_spender, c.is_read, c.unread_count,
        c.preview_at, c.preview_direction, c.preview_kind, c.preview_text, c.preview_media_type,
        c.preview_media_count, c.preview_has_media, c.preview_price_cents, c.preview_purchased,
        c.preview_deleted";
    let page = if filter.search.is_some() {
        // A search matches few chats: one trigram index scan over the
        // agency, then the (small) set of matches sorted.
        format!(
            "SELECT {COLUMNS}, {ACTIVITY} AS activity_at FROM chats c
             WHERE c.agency_id = $1 AND c.creator_id = ANY($2)
               AND {tab} AND {search} {cursor} {only_sql} {tag}
             ORDER BY {ACTIVITY} DESC, c.id DESC
             LIMIT {limit}"
        )
    } else {
        // Per creator, a backward scan of its keyset index. Taking `limit`
        // rows from every creator and merging them reads creators × limit
        // rows for one page, so first a probe reads the newest `probe` of each
        // (creators × probe ≥ limit): at least `limit` chats are at or above
        // the `limit`-th newest of those, so no row below it can be on the
        // page, and the scans stop there. Without a probe (0), or when
        // the probe found fewer than `limit`, there is no bound.
        format!(
            "SELECT x.* FROM (
                SELECT (array_agg(p.at ORDER BY p.at DESC))[{limit}] AS at
                FROM unnest($2::uuid[]) AS v(creator_id)
                CROSS JOIN LATERAL (
                    SELECT {ACTIVITY} AS at FROM chats c
                    WHERE c.agency_id = $1 AND c.creator_id = v.creator_id
                      AND {tab} AND {search} {cursor} {only_sql} {tag}
                    ORDER BY {ACTIVITY} DESC, c.id DESC
                    LIMIT {probe}) p
             ) bound
             CROSS JOIN unnest($2::uuid[]) AS v(creator_id)
             CROSS JOIN LATERAL (
                SELECT {COLUMNS}, {ACTIVITY} AS activity_at FROM chats c
                WHERE c.agency_id = $1 AND c.creator_id = v.creator_id
                  AND {tab} AND {search} {cursor} {only_sql} {tag}
                  AND {ACTIVITY} >= COALESCE(bound.at, '-infinity'::timestamptz)
                ORDER BY {ACTIVITY} DESC, c.id DESC
                LIMIT {limit}) x
             ORDER BY x.activity_at DESC, x.id DESC
             LIMIT {limit}"
        )
    };
    // The preview is kept on the chat (migration 24), so the page needs no
    // probe of `messages` per row; only a TIP's amount is looked up, and
    // only for rows whose newest message is a tip.
    format!(
        "WITH page AS ({page})
         SELECT c.id, c.creator_id, cr.display_name AS creator_name, c.fan_uuid, c.fan_handle,
            c.fan_display_name, c.fan_nickname, c.fan_avatar_url, c.is_top_spender, c.is_read,
            c.unread_count, c.activity_at,
            c.preview_direction AS last_direction, c.preview_text AS last_text,
            c.preview_kind AS last_kind, c.preview_media_type AS last_media_type,
            c.preview_media_count AS last_media_count, c.preview_has_media AS last_has_media,
            c.preview_price_cents AS last_price_cents, c.preview_purchased AS last_purchased,
            c.preview_deleted AS last_deleted, tip.amount_cents AS last_tip_cents
         FROM page c
         JOIN creators cr ON cr.id = c.creator_id AND cr.agency_id = c.agency_id
         LEFT JOIN LATERAL (
            SELECT t.amount_cents FROM tips t
            WHERE c.preview_kind = 'TIP' AND t.creator_id = c.creator_id AND t.fan_uuid = c.fan_uuid
              AND t.tipped_at BETWEEN c.preview_at - interval '10 seconds'
                                  AND c.preview_at + interval '10 seconds'
            ORDER BY abs(extract(epoch FROM t.tipped_at - c.preview_at))
            LIMIT 1) tip ON true
         ORDER BY c.activity_at DESC, c.id DESC"
    )
}

/// Rows per creator the list's probe reads: enough that all creators
/// together give `limit`; none (no bound) for one to three creators, whose
/// scans of `limit` rows each cost less than the probe saves.
fn probe_rows(creators: usize, limit: i64) -> i64 {
    if creators < 4 {
        0
    } else {
        let n = creators as i64;
        (limit + n - 1) / n
    }
}

/// One page of the list: up to `limit` rows after `after`, newest first.
/// Per creator, a backward scan of its keyset index (at most `limit` rows
/// each), then the merge of those few: never a sort of a creator's whole
/// chat set. `only` narrows it to one chat (a live row refresh).
#[tracing::instrument(skip_all, fields(agency_id = %agency, creators = filter.creators.len()))]
pub async fn list_chats(
    db: &PgPool,
    agency: AgencyId,
    filter: &ChatFilter,
    after: Option<ChatCursor>,
    only: Option<Uuid>,
    limit: i64,
) -> Result<Vec<ChatRow>, StoreError> {
    if filter.creators.is_empty() {
        return Ok(Vec::new());
    }
    let sql = list_chats_sql(filter, after.is_some(), only.is_some(), limit);
    let creators: Vec<Uuid> = filter.creators.iter().map(CreatorId::as_uuid).collect();
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(agency)
        .bind(&creators)
        .bind(filter.search.as_deref().map(contains_pattern))
        .bind(after.map(|c| c.at))
        .bind(after.map(|c| c.id))
        .bind(only)
        .bind(filter.claimant)
        .bind(filter.tag)
        .fetch_all(db)
        .await?)
}

/// How many chats each tab holds, under the creator filter and search.
#[derive(Debug, Clone, Copy, Default, sqlx::FromRow)]
pub struct TabCounts {
    pub all: i64,
    pub unread: i64,
    pub awaiting: i64,
    pub ppv: i64,
    pub spenders: i64,
    /// Counted by scanning (a search), so each count stops at `COUNT_CAP`.
    #[sqlx(default)]
    pub capped: bool,
    /// Filled from the claims (`store::claims::counts`), not this query.
    #[sqlx(default)]
    pub mine: i64,
    #[sqlx(default)]
    pub unclaimed: i64,
}

impl TabCounts {
    pub fn get(&self, tab: Tab) -> i64 {
        match tab {
            Tab::All => self.all,
            Tab::Unread => self.unread,
            Tab::Awaiting => self.awaiting,
            Tab::Ppv => self.ppv,
            Tab::Spenders => self.spenders,
            Tab::Mine => self.mine,
            Tab::Unclaimed => self.unclaimed,
        }
    }
}

/// A search's counts stop here ("999+"): they are counted by scanning the
/// matches, unlike the unfiltered counts, which are kept.
pub const COUNT_CAP: i64 = 1000;

/// The SQL of `count_tabs`. Binds: $1 agency, $2 creators, then for a
/// search or a tag $3 the pattern (or NULL), $4 the cap and $5 the tag (or NULL).
fn count_tabs_sql(search: bool, tag: bool) -> String {
    if search || tag {
        // Few matches: one scan (trigram index for a search, the tag's
        // fans otherwise), every tab counted in the same pass.
        let search = if search { SEARCH } else { "$3::text IS NULL" };
        let tag = if tag {
            "AND EXISTS (SELECT 1 FROM fan_tags ft
                WHERE ft.agency_id = $1 AND ft.tag_id = $5 AND ft.fan_uuid = c.fan_uuid)"
        } else {
            "AND $5::uuid IS NULL"
        };
        format!(
            "SELECT least(count(*), $4) AS \"all\",
                least(count(*) FILTER (WHERE {UNREAD}), $4) AS unread,
                least(count(*) FILTER (WHERE {AWAITING}), $4) AS awaiting,
                least(count(*) FILTER (WHERE {OPEN_PPV}), $4) AS ppv,
                least(count(*) FILTER (WHERE {SPENDER}), $4) AS spenders,
                true AS capped
             FROM chats c
             WHERE c.agency_id = $1 AND c.creator_id = ANY($2) AND {search} {tag}"
        )
    } else {
        // The tallies the chats' triggers keep (migration 15): a handful of
        // rows per creator, folded by `compact_tab_tallies`.
        "SELECT COALESCE(sum(t.n_all), 0)::int8 AS \"all\",
            COALESCE(sum(t.n_unread), 0)::int8 AS unread,
            COALESCE(sum(t.n_awaiting), 0)::int8 AS awaiting,
            COALESCE(sum(t.n_ppv), 0)::int8 AS ppv,
            COALESCE(sum(t.n_spend), 0)::int8 AS spenders
         FROM chat_tab_tallies t
         WHERE t.creator_id = ANY($2) AND t.agency_id = $1"
            .to_owned()
    }
}

/// The tab counts (the tab of `filter` is ignored): exact, or for a
/// search or a tag each at most `COUNT_CAP`.
#[tracing::instrument(skip_all, fields(agency_id = %agency, creators = filter.creators.len()))]
pub async fn count_tabs(
    db: &PgPool,
    agency: AgencyId,
    filter: &ChatFilter,
) -> Result<TabCounts, StoreError> {
    if filter.creators.is_empty() {
        return Ok(TabCounts::default());
    }
    let scan = filter.search.is_some() || filter.tag.is_some();
    let sql = count_tabs_sql(filter.search.is_some(), filter.tag.is_some());
    let creators: Vec<Uuid> = filter.creators.iter().map(CreatorId::as_uuid).collect();
    let query = sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(agency)
        .bind(&creators);
    let query = if scan {
        query
            .bind(filter.search.as_deref().map(contains_pattern))
            .bind(COUNT_CAP)
            .bind(filter.tag)
    } else {
        query
    };
    Ok(query.fetch_one(db).await?)
}

/// Folds each creator's tab tallies into one row (housekeeping: a count
/// reads every row of its creators). Returns how many rows went.
#[tracing::instrument(skip_all)]
pub async fn compact_tab_tallies(db: &PgPool) -> Result<i64, StoreError> {
    Ok(sqlx::query_scalar("SELECT chat_tab_tallies_compact()")
        .fetch_one(db)
        .await?)
}

/// A chat's header and fan profile.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ChatHead {
    pub id: Uuid,
    pub creator_id: CreatorId,
    pub creator_name: String,
    pub creator_handle: String,
    pub fan_uuid: Uuid,
    pub fan_handle: Option<String>,
    pub fan_display_name: Option<String>,
    pub fan_nickname: Option<String>,
    pub fan_avatar_url: Option<String>,
    pub fan_registered_at: Option<DateTime<Utc>>,
    pub is_top_spender: bool,
    pub is_read: bool,
    pub unread_count: i32,
    pub history_complete: bool,
}

/// The chat `chat` of the agency (any creator: the caller checks that the
/// viewer may work its creator).
#[tracing::instrument(skip_all, fields(agency_id = %agency, chat_id = %chat))]
pub async fn chat_head(db: &PgPool, agency: AgencyId, chat: Uuid) -> Result<ChatHead, StoreError> {
    sqlx::query_as(
        "SELECT c.id, c.creator_id, cr.display_name AS creator_name, cr.handle AS creator_handle,
            c.fan_uuid, c.fan_handle, c.fan_display_name, c.fan_nickname, c.fan_avatar_url,
            c.fan_registered_at, c.is_top_spender, c.is_read, c.unread_count, c.history_complete
         FROM chats c JOIN creators cr ON cr.id = c.creator_id AND cr.agency_id = c.agency_id
         WHERE c.agency_id = $1 AND c.id = $2",
    )
    .bind(agency)
    .bind(chat)
    .fetch_optional(db)
    .await?
    .ok_or(StoreError::NotFound)
}

/// A position in a thread: a message's time and uuid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MessageCursor {
    pub at: DateTime<Utc>,
    pub uuid: Uuid,
}

/// A message as the thread shows it, with who sent it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct MessageRow {
    pub uuid: Uuid,
    pub direction: String,
    pub text: Option<String>,
    pub at: DateTime<Utc>,
    pub kind: String,
    pub has_media: Option<bool>,
    pub media_type: Option<String>,
    pub media_count: i32,
    pub price_cents: Option<i64>,
    pub purchased_at: Option<DateTime<Utc>>,
    pub sent_by_user_uuid: Option<String>,
    pub is_read: bool,
    pub deleted: bool,
    /// Sent through Switchboard's ledger.
    pub via_ledger: bool,
    /// The ledger's staff member (None if the row has none any more).
    pub ledger_staff: Option<String>,
    /// The staff member mapped to `sent_by_user_uuid`.
    pub mapped_staff: Option<String>,
    pub tip_cents: Option<i64>,
}

/// Which messages of a thread to read.
#[derive(Debug, Clone, Copy)]
pub enum Window {
    /// The newest `limit` before the cursor (or the newest of all), newest first.
    Before(Option<MessageCursor>),
    /// Everything after the cursor, oldest first (live appends).
    After(MessageCursor),
    /// Exactly this message.
    One(Uuid),
}

/// The SQL of `messages`. Binds: $1 agency, $2 chat, $3 fan, $4/$5 the
/// window's cursor (or message). The limit is a literal, as in the list:
/// given as a parameter it makes the generic plan look expensive, and the
/// prepared statement was planned again on every thread view.
fn messages_sql(window: Window, hide_auto: bool, limit: i64) -> String {
    const AT: &str = "COALESCE(m.sent_at, m.first_seen_at)";
    let (cond, order) = match window {
        Window::Before(None) => ("AND $4::timestamptz IS NULL AND $5::uuid IS NULL", "DESC"),
        Window::Before(Some(_)) => (
            "AND (COALESCE(m.sent_at, m.first_seen_at), m.uuid) < ($4, $5)",
            "DESC",
        ),
        Window::After(_) => (
            "AND (COALESCE(m.sent_at, m.first_seen_at), m.uuid) > ($4, $5)",
            "ASC",
        ),
        Window::One(_) => ("AND $4::timestamptz IS NULL AND m.uuid = $5", "DESC"),
    };
    let auto = if hide_auto {
        "AND m.kind NOT LIKE 'AUTOMATED\\_%'"
    } else {
        ""
    };
    format!(
        "SELECT m.uuid, m.direction, m.text, {AT} AS at, m.kind, m.has_media, m.media_type,
            cardinality(m.media_uuids)::int4 AS media_count, m.price_cents, m.purchased_at,
            m.sent_by_user_uuid, m.is_read, (m.deleted_at IS NOT NULL) AS deleted,
            (os.found IS NOT NULL) AS via_ledger, os.staff_name AS ledger_staff,
            st.display_name AS mapped_staff, tip.amount_cents AS tip_cents
         FROM messages m
         LEFT JOIN LATERAL (
            SELECT true AS found, s.display_name AS staff_name FROM outbound_sends o
            LEFT JOIN staff s ON s.id = o.staff_id
            WHERE o.creator_id = m.creator_id AND o.message_uuid = m.uuid AND o.agency_id = m.agency_id
            ORDER BY o.created_at LIMIT 1) os ON true
         LEFT JOIN LATERAL (
            SELECT s.display_name FROM staff s
            WHERE m.sent_by_user_uuid IS NOT NULL AND s.agency_id = m.agency_id
              AND s.fanvue_user_uuid::text = lower(m.sent_by_user_uuid)
            LIMIT 1) st ON true
         {tip}
         WHERE m.chat_id = $2 AND m.agency_id = $1 {cond} {auto}
         ORDER BY {AT} {order}, m.uuid {order}
         LIMIT {limit}",
        tip = tip_join("m", "$3"),
    )
}

/// Messages of `chat` (already checked visible) in `window`; `hide_auto`
/// leaves out AUTOMATED_* ones.
#[tracing::instrument(skip_all, fields(agency_id = %agency, chat_id = %chat))]
pub async fn messages(
    db: &PgPool,
    agency: AgencyId,
    chat: Uuid,
    fan: Uuid,
    window: Window,
    hide_auto: bool,
    limit: i64,
) -> Result<Vec<MessageRow>, StoreError> {
    let sql = messages_sql(window, hide_auto, limit);
    let (at, uuid) = match window {
        Window::Before(c) => (c.map(|c| c.at), c.map(|c| c.uuid)),
        Window::After(c) => (Some(c.at), Some(c.uuid)),
        Window::One(u) => (None, Some(u)),
    };
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(agency)
        .bind(chat)
        .bind(fan)
        .bind(at)
        .bind(uuid)
        .fetch_all(db)
        .await?)
}

/// The cursor of message `uuid` of `chat`, if it is there.
#[tracing::instrument(skip_all, fields(agency_id = %agency, chat_id = %chat))]
pub async fn message_cursor(
    db: &PgPool,
    agency: AgencyId,
    chat: Uuid,
    uuid: Uuid,
) -> Result<Option<MessageCursor>, StoreError> {
    let row: Option<(DateTime<Utc>, Uuid)> = sqlx::query_as(
        "SELECT COALESCE(sent_at, first_seen_at), uuid FROM messages
         WHERE agency_id = $1 AND chat_id = $2 AND uuid = $3",
    )
    .bind(agency)
    .bind(chat)
    .bind(uuid)
    .fetch_optional(db)
    .await?;
    Ok(row.map(|(at, uuid)| MessageCursor { at, uuid }))
}

/// The fan panel's figures, all from the mirror.
#[derive(Debug, Clone, Default, sqlx::FromRow)]
pub struct FanStats {
    /// Prices of the fan's purchased PPVs, in cents.
    pub ppv_cents: i64,
    pub ppv_bought: i64,
    /// Outbound PPVs offered (unsent ones only if bought).
    pub ppv_sent: i64,
    pub last_ppv_at: Option<DateTime<Utc>>,
    pub tip_cents: i64,
    pub tips: i64,
    pub last_tip_at: Option<DateTime<Utc>>,
    pub first_message_at: Option<DateTime<Utc>>,
}

/// The fan of `chat`'s spend with the chat's creator.
#[tracing::instrument(skip_all, fields(agency_id = %agency, creator_id = %creator, chat_id = %chat))]
pub async fn fan_stats(
    db: &PgPool,
    agency: AgencyId,
    creator: CreatorId,
    chat: Uuid,
    fan: Uuid,
) -> Result<FanStats, StoreError> {
    Ok(sqlx::query_as(
        "SELECT b.ppv_cents, b.ppv_bought, b.last_ppv_at,
            (SELECT count(*) FROM messages m
             WHERE m.chat_id = $2 AND m.agency_id = $1 AND m.direction = 'out' AND m.price_cents IS NOT NULL
               AND m.kind <> 'TIP' AND (m.deleted_at IS NULL OR m.purchased_at IS NOT NULL)) AS ppv_sent,
            t.tip_cents, t.tips, t.last_tip_at,
            (SELECT COALESCE(m.sent_at, m.first_seen_at) FROM messages m WHERE m.chat_id = $2
             ORDER BY COALESCE(m.sent_at, m.first_seen_at), m.uuid LIMIT 1) AS first_message_at
         FROM (SELECT COALESCE(sum(m.price_cents), 0)::int8 AS ppv_cents, count(*) AS ppv_bought,
                      max(m.purchased_at) AS last_ppv_at
               FROM messages m
               WHERE m.chat_id = $2 AND m.agency_id = $1 AND m.purchased_at IS NOT NULL
                 AND m.price_cents IS NOT NULL AND m.kind <> 'TIP') b,
              (SELECT COALESCE(sum(amount_cents), 0)::int8 AS tip_cents, count(*) AS tips,
                      max(tipped_at) AS last_tip_at
               FROM tips WHERE agency_id = $1 AND creator_id = $3 AND fan_uuid = $4) t",
    )
    .bind(agency)
    .bind(chat)
    .bind(creator)
    .bind(fan)
    .fetch_one(db)
    .await?)
}

/// `EXPLAIN (ANALYZE, BUFFERS)` of the list, tab and search queries with the
/// binds `list_chats` uses: the benchmark documents the plans the product
/// really runs.
#[tracing::instrument(skip_all, fields(agency_id = %agency))]
pub async fn explain_list_chats(
    db: &PgPool,
    agency: AgencyId,
    filter: &ChatFilter,
    limit: i64,
) -> Result<Vec<String>, StoreError> {
    let sql = format!(
        "EXPLAIN (ANALYZE, BUFFERS) {}",
        list_chats_sql(filter, false, false, limit)
    );
    let creators: Vec<Uuid> = filter.creators.iter().map(CreatorId::as_uuid).collect();
    Ok(sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
        .bind(agency)
        .bind(&creators)
        .bind(filter.search.as_deref().map(contains_pattern))
        .bind(None::<DateTime<Utc>>)
        .bind(None::<Uuid>)
        .bind(None::<Uuid>)
        .bind(filter.claimant)
        .bind(filter.tag)
        .fetch_all(db)
        .await?)
}

/// `EXPLAIN (ANALYZE, BUFFERS)` of `count_tabs`.
#[tracing::instrument(skip_all, fields(agency_id = %agency))]
pub async fn explain_count_tabs(
    db: &PgPool,
    agency: AgencyId,
    filter: &ChatFilter,
) -> Result<Vec<String>, StoreError> {
    let sql = format!(
        "EXPLAIN (ANALYZE, BUFFERS) {}",
        count_tabs_sql(filter.search.is_some(), filter.tag.is_some())
    );
    let creators: Vec<Uuid> = filter.creators.iter().map(CreatorId::as_uuid).collect();
    let query = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
        .bind(agency)
        .bind(&creators);
    let query = if filter.search.is_some() || filter.tag.is_some() {
        query
            .bind(filter.search.as_deref().map(contains_pattern))
            .bind(COUNT_CAP)
            .bind(filter.tag)
    } else {
        query
    };
    Ok(query.fetch_all(db).await?)
}

/// `EXPLAIN (ANALYZE, BUFFERS)` of the thread page's `messages` (the newest
/// `limit`).
#[tracing::instrument(skip_all, fields(agency_id = %agency, chat_id = %chat))]
pub async fn explain_thread(
    db: &PgPool,
    agency: AgencyId,
    chat: Uuid,
    fan: Uuid,
    limit: i64,
) -> Result<Vec<String>, StoreError> {
    let sql = format!(
        "EXPLAIN (ANALYZE, BUFFERS) {}",
        messages_sql(Window::Before(None), false, limit)
    );
    Ok(sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
        .bind(agency)
        .bind(chat)
        .bind(fan)
        .bind(None::<DateTime<Utc>>)
        .bind(None::<Uuid>)
        .fetch_all(db)
        .await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_wildcards_are_literal() {
        assert_eq!(contains_pattern("50%_off\\"), "%50\\%\\_off\\\\%");
        assert_eq!(contains_pattern("Ann"), "%ann%");
    }

    #[test]
    fn tabs_round_trip() {
        for t in Tab::ALL {
            assert_eq!(Tab::parse(t.as_str()), Some(t));
        }
        assert_eq!(Tab::parse("nope"), None);
    }
}
