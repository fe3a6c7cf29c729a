//! `GET /inbox/stream`: the Server-Sent Events stream of one tab. Carries
//! only events of creators the viewer may work (re-checked on access
//! changes and every 30 s), resumes after `Last-Event-ID` from the event
//! table, and says `resync` whenever it cannot be sure nothing was missed.
//! Ends when the login does (signed out, deactivated) or the instance stops.

use std::collections::{HashSet, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use bytes::Bytes;
use serde::Deserialize;
use tokio::sync::broadcast::error::RecvError;
use tokio::time::{Instant, Interval, MissedTickBehavior, interval_at};

use crate::inbox::access::Viewer;
use crate::live::filter::Recheck;
use crate::live::{AccessFilter, COMMIT_MARGIN, LiveEvent, RESUME_LIMIT, Subscription};
use crate::store;
use crate::web::AppState;
use crate::web::error::WebError;
use crate::web::extract::CurrentStaff;

const HEARTBEAT: Duration = Duration::from_secs(15);
const RECHECK: Duration = Duration::from_secs(30);
/// The browser's reconnect delay.
const RETRY_MS: u64 = 3000;
const RESYNC: &str = "event: resync\ndata: {}\n\n";

#[derive(Deserialize)]
pub struct StreamQuery {
    /// The first connect's resume point (`EventSource` sends the header
    /// only on its own reconnects).
    last_event_id: Option<String>,
}

pub async fn stream(
    state: web::Data<AppState>,
    req: HttpRequest,
    me: Result<CurrentStaff, WebError>,
    query: web::Query<StreamQuery>,
) -> Result<HttpResponse, WebError> {
    // An event source cannot follow a login redirect usefully.
    let me = match me {
        Ok(me) => me,
        Err(WebError::LoginRequired { .. }) => {
            return Ok(HttpResponse::Unauthorized()
                .content_type("text/plain; charset=utf-8")
                .body("Sign in to receive live updates."));
        }
        Err(e) => return Err(e),
    };
    let resume_from = req
        .headers()
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .or_else(|| query.into_inner().last_event_id);
    let viewer = Viewer {
        agency_id: me.agency_id,
        staff_id: me.id,
        role: me.role,
    };
    let live = open(&state, viewer, me.login_id.clone(), resume_from.as_deref()).await?;
    let body = futures_util::stream::unfold(live, |mut s| async move {
        s.next()
            .await
            .map(|b| (Ok::<_, std::convert::Infallible>(b), s))
    });
    Ok(HttpResponse::Ok()
        .content_type("text/event-stream")
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .insert_header(("X-Accel-Buffering", "no"))
        .streaming(body))
}

/// Subscribes first, then replays: an event written in between is in both
/// and sent once.
async fn open(
    state: &web::Data<AppState>,
    viewer: Viewer,
    login_id: Option<String>,
    resume_from: Option<&str>,
) -> Result<LiveStream, WebError> {
    let sub = state.live.subscribe();
    let filter = AccessFilter::load(&state.pool, viewer, login_id).await?;
    let mut queue = VecDeque::new();
    queue.push_back(Bytes::from(format!("retry: {RETRY_MS}\n: live\n\n")));
    let mut replayed = HashSet::new();
    if let Some(raw) = resume_from.map(str::trim).filter(|s| !s.is_empty()) {
        match raw.parse::<i64>() {
            Ok(after) if store::live::resumable_after(&state.pool, after).await? => {
                let rows = store::live::replay(
                    &state.pool,
                    viewer.agency_id,
                    &filter.creators(),
                    after,
                    COMMIT_MARGIN,
                    RESUME_LIMIT + 1,
                )
                .await?;
                if rows.len() as i64 > RESUME_LIMIT {
                    queue.push_back(Bytes::from_static(RESYNC.as_bytes()));
                } else {
                    for ev in rows.into_iter().filter_map(LiveEvent::from_row) {
                        replayed.insert(ev.id);
                        queue.push_back(Bytes::from(ev.sse_frame()));
                    }
                }
            }
            // Unknown, reset or pruned: the page refetches.
            _ => queue.push_back(Bytes::from_static(RESYNC.as_bytes())),
        }
    }
    let ticker = |every: Duration| -> Interval {
        let mut i = interval_at(Instant::now() + every, every);
        i.set_missed_tick_behavior(MissedTickBehavior::Delay);
        i
    };
    Ok(LiveStream {
        pool: state.pool.clone(),
        sub,
        filter,
        queue,
        replayed,
        heartbeat: ticker(HEARTBEAT),
        recheck: ticker(RECHECK),
        done: false,
    })
}

enum Woke {
    Closing,
    Event(Result<Arc<LiveEvent>, RecvError>),
    Recheck,
    Heartbeat,
}

struct LiveStream {
    pool: sqlx::PgPool,
    sub: Subscription,
    filter: AccessFilter,
    /// Frames waiting to go out (the resume replay, at most
    /// `RESUME_LIMIT`); live events are taken from the hub one at a time.
    queue: VecDeque<Bytes>,
    replayed: HashSet<i64>,
    heartbeat: Interval,
    recheck: Interval,
    done: bool,
}

impl LiveStream {
    /// The next frame, or `None` to end the stream.
    async fn next(&mut self) -> Option<Bytes> {
        loop {
            if let Some(frame) = self.queue.pop_front() {
                return Some(frame);
            }
            if self.done {
                return None;
            }
            let woke = tokio::select! {
                biased;
                _ = self.sub.closing.wait_for(|c| *c) => Woke::Closing,
                got = self.sub.events.recv() => Woke::Event(got),
                _ = self.recheck.tick() => Woke::Recheck,
                _ = self.heartbeat.tick() => Woke::Heartbeat,
            };
            match woke {
                Woke::Closing | Woke::Event(Err(RecvError::Closed)) => return None,
                Woke::Event(Ok(ev)) => {
                    if let Some(frame) = self.on_event(&ev).await {
                        return Some(frame);
                    }
                }
                Woke::Event(Err(RecvError::Lagged(_))) => {
                    // The skipped events may include this viewer's `access`
                    // events: re-check before the page refetches.
                    self.recheck().await;
                    if self.done {
                        continue;
                    }
                    return Some(Bytes::from_static(RESYNC.as_bytes()));
                }
                Woke::Recheck => {
                    if let Some(frame) = self.recheck().await {
                        return Some(frame);
                    }
                }
                Woke::Heartbeat => return Some(Bytes::from_static(b": ping\n\n")),
            }
        }
    }

    async fn on_event(&mut self, ev: &Arc<LiveEvent>) -> Option<Bytes> {
        if self.filter.concerns(ev) {
            return self.recheck().await;
        }
        if ev.agency_id.is_none() {
            // The listener lost events, `access` ones possibly among them.
            self.recheck().await;
            return (!self.done).then(|| Bytes::from(ev.sse_frame()));
        }
        if !self.filter.admits(ev) || self.replayed.remove(&ev.id) {
            return None;
        }
        Some(Bytes::from(ev.sse_frame()))
    }

    /// Re-checks the viewer; a changed set of creators resyncs the page.
    async fn recheck(&mut self) -> Option<Bytes> {
        match self.filter.recheck(&self.pool).await {
            Ok(Recheck::Unchanged) => None,
            Ok(Recheck::Changed) => Some(Bytes::from_static(RESYNC.as_bytes())),
            Ok(Recheck::Ended) => {
                self.done = true;
                None
            }
            Err(e) => {
                // Fail closed: a stream that cannot check access stops.
                tracing::warn!(error = %e, "live stream access re-check failed; ending it");
                self.done = true;
                None
            }
        }
    }
}
