//! The typed Fanvue API client. Every call carries `X-Fanvue-API-Version`
//! and the bearer token, goes through the rate-limit budget, and is retried
//! as `retry` decides: on 5xx/timeouts only when the request is idempotent
//! (a send is never retried blindly), on a 429 always.
//! Per-chat history is always read with `markAsRead=false` (invariant 7).
//! A send waits out only a short 429 (`SEND_MAX_RATE_WAIT`): a chatter is
//! told to try again rather than left waiting for a long penalty.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::header::{HeaderMap, RETRY_AFTER};
use reqwest::{Method, StatusCode};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use uuid::Uuid;

pub use super::budget::Priority;
use super::budget::{Budget, Observed};
use super::error::FanvueError;
use super::models::{
    BatchRequest, BatchResponse, Chat, ChatUpdate, Creator, EarningsLine, FanList, FeedPage,
    ListMembersAdded, MediaItem, Message, Page, SendMessage, SentMessage, TeamMember, Template,
    UnreadCounts, User, UserRef, decode_batch, decode_feed, decode_items, decode_page,
};
use super::retry::Attempts;
pub use super::retry::RetryPolicy;
use crate::config::FanvueSettings;

pub const API_VERSION_HEADER: &str = "X-Fanvue-API-Version";

/// The longest rate-limit wait a send sits through before giving up with
/// `RateLimited` (the inbox then says "try again in N s").
pub const SEND_MAX_RATE_WAIT: Duration = Duration::from_secs(2);

/// Whose token a call uses and which budget it draws from. Owned (no
/// borrowed fields) so futures holding it stay `Send` for spawned tasks.
#[derive(Clone)]
pub struct CallAuth {
    pub token: SecretString,
    /// The rate-limit bucket: the authorizing user (the creator) for
    /// self-scoped routes.
    pub bucket: String,
    pub priority: Priority,
    /// Counts the HTTP requests made for a caller (a sync run's cost).
    pub meter: Option<Arc<Meter>>,
}

/// Request and 429 counters shared by the calls of one unit of work.
#[derive(Debug, Default)]
pub struct Meter {
    pub requests: AtomicU64,
    pub rate_limited: AtomicU64,
}

impl Meter {
    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }
    pub fn rate_limited(&self) -> u64 {
        self.rate_limited.load(Ordering::Relaxed)
    }
}

impl std::fmt::Debug for CallAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CallAuth")
            .field("bucket", &self.bucket)
            .field("priority", &self.priority)
            .finish_non_exhaustive()
    }
}

/// A `Deprecation` or `Sunset` header Fanvue sent; shown on the status page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    pub header: String,
    pub value: String,
    pub path: String,
}

#[derive(Default, Deserialize)]
struct ErrorBody {
    error: Option<String>,
    message: Option<String>,
    errors: Option<Vec<serde_json::Value>>,
    #[serde(default, rename = "nextVersion")]
    next_version: Option<String>,
}

/// How a 400 `{message}` is read: on a send it means "cannot message this fan".
#[derive(Clone, Copy, PartialEq, Eq)]
enum Call {
    Read,
    Send,
    Write,
}

pub struct FanvueClient {
    http: reqwest::Client,
    api_url: String,
    version: String,
    budget: Budget,
    retry: RetryPolicy,
    notices: Mutex<BTreeMap<(String, String), Notice>>,
}

impl std::fmt::Debug for FanvueClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FanvueClient")
            .field("api_url", &self.api_url)
            .finish_non_exhaustive()
    }
}

impl FanvueClient {
    pub fn new(settings: &FanvueSettings) -> Result<Self, FanvueError> {
        let http = reqwest::Client::builder()
            .timeout(settings.request_timeout)
            .connect_timeout(Duration::from_secs(5))
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("Switchboard/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| FanvueError::Transport(e.to_string()))?;
        Ok(Self {
            http,
            api_url: settings.api_url.as_str().trim_end_matches('/').to_owned(),
            version: settings.api_version.clone(),
            budget: Budget::new(settings.interactive_reserve_percent),
            retry: RetryPolicy::default(),
            notices: Mutex::new(BTreeMap::new()),
        })
    }

    pub fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// Shares the rate budget with every instance on `pool`'s database.
    pub fn with_shared_budget(mut self, pool: sqlx::PgPool) -> Self {
        let local = std::mem::replace(&mut self.budget, Budget::new(0));
        self.budget = local.shared(pool);
        self
    }

    pub fn budget(&self) -> &Budget {
        &self.budget
    }

    /// Deprecation/Sunset notices seen since start-up.
    pub fn notices(&self) -> Vec<Notice> {
        self.notices
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .cloned()
            .collect()
    }

    fn note_deprecations(&self, headers: &HeaderMap, path: &str) {
        for name in ["deprecation", "sunset"] {
            let Some(value) = headers.get(name).and_then(|v| v.to_str().ok()) else {
                continue;
            };
            let mut seen = self.notices.lock().unwrap_or_else(|p| p.into_inner());
            let key = (name.to_owned(), value.to_owned());
            if let std::collections::btree_map::Entry::Vacant(slot) = seen.entry(key) {
                // Logged once per distinct notice, not on every response.
                tracing::warn!(header = name, value, path, "Fanvue announced a deprecation");
                slot.insert(Notice {
                    header: name.to_owned(),
                    value: value.to_owned(),
                    path: path.to_owned(),
                });
            }
        }
    }

    /// Sends one API request with budget, retries and error mapping; returns
    /// the body of a 2xx.
    async fn execute(
        &self,
        auth: &CallAuth,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<serde_json::Value>,
        call: Call,
    ) -> Result<bytes::Bytes, FanvueError> {
        let url = format!("{}{}", self.api_url, path);
        let bucket: &str = auth.bucket.as_str();
        let mut attempts = Attempts::new(self.retry, call != Call::Send);
        loop {
            if call == Call::Send
                && let Some(wait) = self.budget.penalty(bucket).await
                && wait > SEND_MAX_RATE_WAIT
            {
                return Err(FanvueError::RateLimited { retry_after: wait });
            }
            self.budget.acquire(bucket, auth.priority).await;
            let mut req = self
                .http
                .request(method.clone(), &url)
                .bearer_auth(auth.token.expose_secret())
                .header(API_VERSION_HEADER, &self.version)
                .query(query);
            if let Some(b) = &body {
                req = req.json(b);
            }
            if let Some(m) = &auth.meter {
                m.requests.fetch_add(1, Ordering::Relaxed);
            }
            let resp = match req.send().await {
                Ok(r) => r,
                Err(e) => {
                    self.budget.release(bucket).await;
                    // Without the URL: it can carry ids, never tokens, but
                    // the message stays short.
                    let err = FanvueError::Transport(e.without_url().to_string());
                    if let Some(delay) = attempts.after_failure() {
                        tracing::debug!(
                            path,
                            attempt = attempts.failures(),
                            "transport error; retrying"
                        );
                        tokio::time::sleep(delay).await;
                        continue;
                    }
                    return Err(err);
                }
            };
            let status = resp.status();
            crate::metrics::fanvue_response(method.as_str(), path, status.as_u16());
            let headers = resp.headers().clone();
            self.note_deprecations(&headers, path);
            if status == StatusCode::TOO_MANY_REQUESTS {
                let retry_after = retry_after(&headers);
                self.budget.penalize(bucket, retry_after).await;
                if let Some(m) = &auth.meter {
                    m.rate_limited.fetch_add(1, Ordering::Relaxed);
                }
                tracing::warn!(
                    path,
                    retry_after_secs = retry_after.as_secs_f64(),
                    "rate limited by Fanvue"
                );
                let short = call != Call::Send || retry_after <= SEND_MAX_RATE_WAIT;
                if short && attempts.after_rate_limit() {
                    continue; // `acquire` waits out the penalty.
                }
                return Err(FanvueError::RateLimited { retry_after });
            }
            let seen = observed(&headers);
            crate::metrics::fanvue_budget(bucket, seen.remaining);
            self.budget.observe(bucket, seen).await;
            let bytes = resp
                .bytes()
                .await
                .map_err(|e| FanvueError::Transport(e.without_url().to_string()))?;
            if status.is_success() {
                return Ok(bytes);
            }
            if status.is_server_error() {
                if let Some(delay) = attempts.after_failure() {
                    tracing::debug!(
                        path,
                        status = status.as_u16(),
                        attempt = attempts.failures(),
                        "server error; retrying"
                    );
                    tokio::time::sleep(delay).await;
                    continue;
                }
                return Err(FanvueError::Server {
                    status: status.as_u16(),
                });
            }
            return Err(map_error(status, &bytes, call));
        }
    }

    async fn get_json<T: serde::de::DeserializeOwned>(
        &self,
        auth: &CallAuth,
        path: &str,
        query: &[(&str, String)],
    ) -> Result<T, FanvueError> {
        let body = self
            .execute(auth, Method::GET, path, query, None, Call::Read)
            .await?;
        serde_json::from_slice(&body).map_err(|e| FanvueError::Decode(e.to_string()))
    }

    async fn get_page<T: serde::de::DeserializeOwned>(
        &self,
        auth: &CallAuth,
        path: &str,
        query: &[(&str, String)],
    ) -> Result<Page<T>, FanvueError> {
        let body = self
            .execute(auth, Method::GET, path, query, None, Call::Read)
            .await?;
        let page = decode_page(&body).map_err(|e| FanvueError::Decode(e.to_string()))?;
        if !page.skipped.is_empty() {
            tracing::warn!(
                path,
                skipped = page.skipped.len(),
                "skipped malformed items in a Fanvue page"
            );
        }
        Ok(page)
    }

    /// `GET /users/me`: the authorizing user.
    pub async fn me(&self, auth: &CallAuth) -> Result<User, FanvueError> {
        self.get_json(auth, "/users/me", &[]).await
    }

    /// `GET /chats`, most recent message first unless `query` says otherwise.
    pub async fn chats(
        &self,
        auth: &CallAuth,
        query: &ChatsQuery,
    ) -> Result<Page<Chat>, FanvueError> {
        let mut q: Vec<(&str, String)> = vec![
            ("page", query.page.to_string()),
            ("size", query.size.to_string()),
        ];
        for f in &query.filters {
            q.push(("filter", f.clone()));
        }
        if let Some(s) = &query.search {
            q.push(("search", s.clone()));
        }
        if let Some(s) = &query.sort_by {
            q.push(("sortBy", s.clone()));
        }
        self.get_page(auth, "/chats", &q).await
    }

    /// `GET /chats/unread`.
    pub async fn unread(&self, auth: &CallAuth) -> Result<UnreadCounts, FanvueError> {
        self.get_json(auth, "/chats/unread", &[]).await
    }

    /// `GET /chats/{userUuid}/messages`, newest first. Never marks the chat
    /// read: mirroring must be invisible to the creator.
    pub async fn chat_messages(
        &self,
        auth: &CallAuth,
        fan: Uuid,
        page: u32,
        size: u32,
    ) -> Result<Page<Message>, FanvueError> {
        let q = [
            ("page", page.to_string()),
            ("size", size.to_string()),
            ("markAsRead", "false".to_owned()),
        ];
        self.get_page(auth, &format!("/chats/{fan}/messages"), &q)
            .await
    }

    /// `POST /chats/messages/batch` (a read, so it is retried like one).
    pub async fn messages_batch(
        &self,
        auth: &CallAuth,
        req: &BatchRequest,
    ) -> Result<BatchResponse, FanvueError> {
        let body = serde_json::to_value(req).map_err(|e| FanvueError::Decode(e.to_string()))?;
        let bytes = self
            .execute(
                auth,
                Method::POST,
                "/chats/messages/batch",
                &[],
                Some(body),
                Call::Read,
            )
            .await?;
        decode_batch(&bytes).map_err(|e| FanvueError::Decode(e.to_string()))
    }

    /// `POST /chats/{userUuid}/message`. Not retried on 5xx or timeouts: the
    /// message may have been sent; the caller reconciles instead.
    pub async fn send_message(
        &self,
        auth: &CallAuth,
        fan: Uuid,
        msg: &SendMessage,
    ) -> Result<SentMessage, FanvueError> {
        let body = serde_json::to_value(msg).map_err(|e| FanvueError::Decode(e.to_string()))?;
        let bytes = self
            .execute(
                auth,
                Method::POST,
                &format!("/chats/{fan}/message"),
                &[],
                Some(body),
                Call::Send,
            )
            .await?;
        serde_json::from_slice(&bytes).map_err(|e| FanvueError::Decode(e.to_string()))
    }

    /// `DELETE /chats/{userUuid}/messages/{messageUuid}` (unsend).
    pub async fn delete_message(
        &self,
        auth: &CallAuth,
        fan: Uuid,
        message: Uuid,
    ) -> Result<(), FanvueError> {
        self.execute(
            auth,
            Method::DELETE,
            &format!("/chats/{fan}/messages/{message}"),
            &[],
            None,
            Call::Write,
        )
        .await
        .map(|_| ())
    }

    /// `PATCH /chats/{userUuid}`: read state, mute, nickname.
    pub async fn update_chat(
        &self,
        auth: &CallAuth,
        fan: Uuid,
        update: &ChatUpdate,
    ) -> Result<(), FanvueError> {
        let body = serde_json::to_value(update).map_err(|e| FanvueError::Decode(e.to_string()))?;
        self.execute(
            auth,
            Method::PATCH,
            &format!("/chats/{fan}"),
            &[],
            Some(body),
            Call::Write,
        )
        .await
        .map(|_| ())
    }

    /// `GET /chats/templates`.
    pub async fn templates(
        &self,
        auth: &CallAuth,
        page: u32,
        size: u32,
    ) -> Result<Page<Template>, FanvueError> {
        self.get_page(
            auth,
            "/chats/templates",
            &[("page", page.to_string()), ("size", size.to_string())],
        )
        .await
    }

    /// `GET /media` (the creator's own library; self route, creator token).
    /// With `purchased_by` every item says whether that fan bought it.
    pub async fn media(
        &self,
        auth: &CallAuth,
        query: &MediaQuery,
    ) -> Result<Page<MediaItem>, FanvueError> {
        let mut q: Vec<(&str, String)> = vec![
            ("page", query.page.max(1).to_string()),
            ("size", query.size.clamp(1, 50).to_string()),
        ];
        if let Some(t) = &query.media_type {
            q.push(("mediaType", t.clone()));
        }
        if let Some(f) = &query.folder_name {
            q.push(("folderName", f.clone()));
        }
        if let Some(u) = &query.usage {
            q.push(("usage", u.clone()));
        }
        if let Some(fan) = query.purchased_by {
            q.push(("purchasedBy", fan.to_string()));
        }
        self.get_page(auth, "/media", &q).await
    }

    /// `GET /chats/lists/smart` (a bare array).
    pub async fn smart_lists(
        &self,
        auth: &CallAuth,
    ) -> Result<(Vec<FanList>, Vec<super::models::Skipped>), FanvueError> {
        let values: Vec<serde_json::Value> = self.get_json(auth, "/chats/lists/smart", &[]).await?;
        Ok(decode_items(values))
    }

    /// `GET /chats/lists/custom`.
    pub async fn custom_lists(
        &self,
        auth: &CallAuth,
        page: u32,
        size: u32,
    ) -> Result<Page<FanList>, FanvueError> {
        self.get_page(
            auth,
            "/chats/lists/custom",
            &[("page", page.to_string()), ("size", size.to_string())],
        )
        .await
    }

    /// `GET /chats/lists/custom/{uuid}`: one page of a custom list's members.
    pub async fn custom_list_members(
        &self,
        auth: &CallAuth,
        list: Uuid,
        page: u32,
        size: u32,
    ) -> Result<Page<UserRef>, FanvueError> {
        self.get_page(
            auth,
            &format!("/chats/lists/custom/{list}"),
            &[
                ("page", page.max(1).to_string()),
                ("size", size.clamp(1, 50).to_string()),
            ],
        )
        .await
    }

    /// `POST /chats/lists/custom/{uuid}/members`: adds users (existing
    /// members are skipped, so a retry is harmless).
    pub async fn add_custom_list_members(
        &self,
        auth: &CallAuth,
        list: Uuid,
        users: &[Uuid],
    ) -> Result<ListMembersAdded, FanvueError> {
        let body = self
            .execute(
                auth,
                Method::POST,
                &format!("/chats/lists/custom/{list}/members"),
                &[],
                Some(serde_json::json!({ "userUuids": users })),
                Call::Write,
            )
            .await?;
        serde_json::from_slice(&body).map_err(|e| FanvueError::Decode(e.to_string()))
    }

    /// `DELETE /chats/lists/custom/{uuid}/members/{userUuid}`.
    pub async fn remove_custom_list_member(
        &self,
        auth: &CallAuth,
        list: Uuid,
        user: Uuid,
    ) -> Result<(), FanvueError> {
        self.execute(
            auth,
            Method::DELETE,
            &format!("/chats/lists/custom/{list}/members/{user}"),
            &[],
            None,
            Call::Write,
        )
        .await
        .map(|_| ())
    }

    /// `GET /creators` (agency grants).
    pub async fn creators(
        &self,
        auth: &CallAuth,
        page: u32,
        size: u32,
    ) -> Result<Page<Creator>, FanvueError> {
        self.get_page(
            auth,
            "/creators",
            &[("page", page.to_string()), ("size", size.to_string())],
        )
        .await
    }

    /// `GET /insights/earnings` (self route, the creator's token; or the
    /// `/creators/{c}/…` twin when `query.creator` is set). Scope
    /// `read:insights`.
    pub async fn earnings(
        &self,
        auth: &CallAuth,
        query: &FeedQuery,
    ) -> Result<FeedPage<EarningsLine>, FanvueError> {
        self.insights_feed(auth, "earnings", query).await
    }

    /// `GET /insights/spending`: refunds and chargebacks (same paging).
    pub async fn spending(
        &self,
        auth: &CallAuth,
        query: &FeedQuery,
    ) -> Result<FeedPage<EarningsLine>, FanvueError> {
        self.insights_feed(auth, "spending", query).await
    }

    async fn insights_feed(
        &self,
        auth: &CallAuth,
        which: &str,
        query: &FeedQuery,
    ) -> Result<FeedPage<EarningsLine>, FanvueError> {
        let path = match query.creator {
            Some(c) => format!("/creators/{c}/insights/{which}"),
            None => format!("/insights/{which}"),
        };
        let fmt = |t: chrono::DateTime<chrono::Utc>| {
            t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
        };
        let mut q: Vec<(&str, String)> = vec![("size", query.size.clamp(1, 50).to_string())];
        if let Some(t) = query.start_date {
            q.push(("startDate", fmt(t)));
        }
        if let Some(t) = query.end_date {
            q.push(("endDate", fmt(t)));
        }
        if !query.sources.is_empty() {
            q.push(("source", query.sources.join(",")));
        }
        if let Some(c) = &query.cursor {
            q.push(("cursor", c.clone()));
        }
        let body = self
            .execute(auth, Method::GET, &path, &q, None, Call::Read)
            .await?;
        let page = decode_feed(&body).map_err(|e| FanvueError::Decode(e.to_string()))?;
        if !page.skipped.is_empty() {
            tracing::warn!(
                path = %path,
                skipped = page.skipped.len(),
                "skipped malformed lines in an insights feed"
            );
        }
        Ok(page)
    }

    /// `GET /agencies/team-members` (agency-admin grants; a bare array).
    pub async fn team_members(
        &self,
        auth: &CallAuth,
    ) -> Result<(Vec<TeamMember>, Vec<super::models::Skipped>), FanvueError> {
        let values: Vec<serde_json::Value> =
            self.get_json(auth, "/agencies/team-members", &[]).await?;
        Ok(decode_items(values))
    }
}

/// Parameters of the insights feeds (`startDate` inclusive, `endDate`
/// exclusive; `size` 1–50).
#[derive(Debug, Clone, Default)]
pub struct FeedQuery {
    /// The creator-scoped twin for this creator; the self route when None.
    pub creator: Option<Uuid>,
    pub start_date: Option<chrono::DateTime<chrono::Utc>>,
    pub end_date: Option<chrono::DateTime<chrono::Utc>>,
    pub sources: Vec<String>,
    pub cursor: Option<String>,
    pub size: u32,
}

/// Parameters of `GET /media`.
#[derive(Debug, Clone)]
pub struct MediaQuery {
    pub page: u32,
    /// 1–50.
    pub size: u32,
    /// `image`, `video`, `audio` or `document`.
    pub media_type: Option<String>,
    pub folder_name: Option<String>,
    pub usage: Option<String>,
    pub purchased_by: Option<Uuid>,
}

impl Default for MediaQuery {
    fn default() -> Self {
        Self {
            page: 1,
            size: 24,
            media_type: None,
            folder_name: None,
            usage: None,
            purchased_by: None,
        }
    }
}

/// Parameters of `GET /chats`.
#[derive(Debug, Clone)]
pub struct ChatsQuery {
    pub page: u32,
    pub size: u32,
    pub filters: Vec<String>,
    pub search: Option<String>,
    pub sort_by: Option<String>,
}

impl Default for ChatsQuery {
    fn default() -> Self {
        Self {
            page: 1,
            size: 50,
            filters: Vec::new(),
            search: None,
            sort_by: Some("most_recent_messages".into()),
        }
    }
}

fn header_num<T: std::str::FromStr>(h: &HeaderMap, name: &str) -> Option<T> {
    h.get(name)?.to_str().ok()?.trim().parse().ok()
}

fn observed(h: &HeaderMap) -> Observed {
    Observed {
        limit: header_num(h, "x-ratelimit-limit"),
        remaining: header_num(h, "x-ratelimit-remaining"),
        reset: header_num(h, "x-ratelimit-reset"),
    }
}

/// `Retry-After` in seconds (the only form Fanvue documents); 1 s if absent.
fn retry_after(h: &HeaderMap) -> Duration {
    header_num::<f64>(h, RETRY_AFTER.as_str())
        .filter(|s| s.is_finite() && *s >= 0.0)
        .map_or(Duration::from_secs(1), Duration::from_secs_f64)
}

fn map_error(status: StatusCode, body: &[u8], call: Call) -> FanvueError {
    let b: ErrorBody = serde_json::from_slice(body).unwrap_or_default();
    let text = b
        .message
        .clone()
        .or(b.error.clone())
        .unwrap_or_else(|| status.to_string());
    match status.as_u16() {
        401 => FanvueError::Unauthorized(text),
        403 if b.error.as_deref() == Some("Insufficient scopes") => FanvueError::InsufficientScope,
        403 => FanvueError::Forbidden(text),
        404 => FanvueError::NotFound(text),
        410 => FanvueError::Sunset {
            message: text,
            next_version: b.next_version,
        },
        400 if b
            .error
            .as_deref()
            .is_some_and(|e| e.to_lowercase().contains("version")) =>
        {
            FanvueError::UnsupportedVersion(text)
        }
        400 if b.errors.is_some() => FanvueError::Validation(
            b.errors
                .unwrap_or_default()
                .into_iter()
                .map(|e| match e {
                    serde_json::Value::String(s) => s,
                    other => other.to_string(),
                })
                .collect(),
        ),
        400 if call == Call::Send => FanvueError::Contactability(text),
        _ => FanvueError::Validation(vec![text]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deprecation_notices_are_kept_once_each() {
        let settings = crate::config::Settings::for_tests("postgres://127.0.0.1/unused").fanvue;
        let client = FanvueClient::new(&settings).unwrap();
        let mut h = HeaderMap::new();
        h.insert("sunset", "Wed, 01 Jul 2026 00:00:00 GMT".parse().unwrap());
        client.note_deprecations(&h, "/chats");
        client.note_deprecations(&h, "/chats/unread");
        h.insert("deprecation", "true".parse().unwrap());
        client.note_deprecations(&h, "/users/me");
        let notices = client.notices();
        assert_eq!(notices.len(), 2);
        assert!(
            notices
                .iter()
                .any(|n| n.header == "sunset" && n.path == "/chats")
        );
    }

    #[test]
    fn error_bodies_map_to_actionable_variants() {
        assert_eq!(
            map_error(
                StatusCode::FORBIDDEN,
                br#"{"error":"Insufficient scopes"}"#,
                Call::Read
            ),
            FanvueError::InsufficientScope
        );
        assert_eq!(
            map_error(
                StatusCode::BAD_REQUEST,
                br#"{"message":"This user cannot be messaged"}"#,
                Call::Send
            ),
            FanvueError::Contactability("This user cannot be messaged".into())
        );
        assert_eq!(
            map_error(
                StatusCode::BAD_REQUEST,
                br#"{"errors":["limit must be <= 50"]}"#,
                Call::Read
            ),
            FanvueError::Validation(vec!["limit must be <= 50".into()])
        );
        assert!(matches!(
            map_error(
                StatusCode::BAD_REQUEST,
                br#"{"error":"Unsupported API version","message":"x"}"#,
                Call::Read
            ),
            FanvueError::UnsupportedVersion(_)
        ));
        assert_eq!(
            map_error(
                StatusCode::GONE,
                br#"{"error":"gone","message":"sunset","nextVersion":"2026-01-01"}"#,
                Call::Read
            ),
            FanvueError::Sunset {
                message: "sunset".into(),
                next_version: Some("2026-01-01".into())
            }
        );
        assert!(matches!(
            map_error(StatusCode::UNAUTHORIZED, b"", Call::Read),
            FanvueError::Unauthorized(_)
        ));
        assert!(
            matches!(map_error(StatusCode::NOT_FOUND, br#"{"message":"no chat"}"#, Call::Read), FanvueError::NotFound(m) if m == "no chat")
        );
    }
}
