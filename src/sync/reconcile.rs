//! Incremental reconcile (DESIGN §5.2): find the chats whose last message is
//! newer than the high-water mark minus an overlap, then fetch what is new in
//! them with the batch endpoint's `sinceMessageUuid` cursor (a stored message
//! from before that point). Chats the mirror did not know get the default
//! mode; chats with more than 50 new messages are paged per chat down to
//! the cursor; a cursor Fanvue no longer knows (deleted) is replaced by the
//! next older stored message.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{
    BATCH_CHATS, Lease, PAGE_SIZE, RunStats, SyncEngine, SyncError, cursor_rejected, finish_run,
};
use crate::domain::MessageSource;
use crate::fanvue::Priority;
use crate::fanvue::models::Message;
use crate::store;

/// Cursor replacements tried before giving up on incremental mode.
const MAX_CURSOR_RETRIES: usize = 5;
/// How far back an unread outbound message makes its chat's read state worth
/// re-reading (older ones are rarely read at all).
const READ_REFRESH_DAYS: i64 = 30;

impl SyncEngine {
    pub async fn reconcile(&self, lease: &Lease, stats: &mut RunStats) -> Result<(), SyncError> {
        let creator = self.creator_uuid(lease.creator_id).await?;
        let overlap = chrono::Duration::seconds(self.settings.overlap_secs as i64);
        // The chats the mirror knows, before the walk adds new ones.
        let known: HashSet<Uuid> =
            store::chats::known_fans(&self.pool, lease.agency_id, lease.creator_id)
                .await?
                .into_iter()
                .collect();
        let high_water = match lease.high_water_at {
            Some(h) => Some(h),
            None => {
                let mut conn = self.pool.acquire().await?;
                store::chats::high_water(&mut conn, lease.creator_id).await?
            }
        };
        let cutoff = high_water.map(|h| h - overlap);
        // Whether the mirror holds unread chats, as of before the walk
        // (which refreshes the rows on the pages it reads).
        let unread_before = {
            let mut conn = self.pool.acquire().await?;
            store::chats::unread_as_of(&mut conn, lease.creator_id, None).await?
        };
        let changed = self.walk_chats(lease, stats, cutoff, None).await?;
        // Chats the mirror did not know get the default mode. (Skipping
        // chats whose last message looks unchanged would save a request per
        // creator, but could leave a message skipped earlier unfetched.)
        let (new_chats, known): (Vec<Uuid>, Vec<Uuid>) = changed
            .into_iter()
            .map(|(fan, _)| fan)
            .partition(|f| !known.contains(f));

        // New chats: their whole recent history, like a backfill.
        self.default_batches(
            lease,
            stats,
            creator,
            &new_chats,
            true,
            MessageSource::Reconcile,
        )
        .await?;

        if !known.is_empty() {
            let cursor = match cutoff {
                Some(cut) => {
                    let mut conn = self.pool.acquire().await?;
                    store::messages::cursor_before(&mut conn, lease.creator_id, cut).await?
                }
                None => None,
            };
            match cursor {
                Some(c) => self.incremental(lease, stats, creator, &known, c).await?,
                None => {
                    self.default_batches(
                        lease,
                        stats,
                        creator,
                        &known,
                        false,
                        MessageSource::Reconcile,
                    )
                    .await?
                }
            }
        }

        // New chats were read in default mode above: their newest page
        // carries the read state already. (Incremental reads only return
        // what is newer than the cursor, so those chats still qualify.)
        let fetched: HashSet<Uuid> = new_chats.iter().copied().collect();
        self.refresh_read_state(lease, stats, creator, &fetched)
            .await?;
        if let Some(walked_at) = unread_before {
            self.sweep_unread(lease, stats, walked_at).await?;
        }

        let mut tx = lease.begin(&self.pool).await?;
        let hw = finish_run(&mut tx, lease).await?;
        store::sync::mark_reconciled(&mut tx, lease.creator_id, hw, lease.claimed_at).await?;
        tx.commit().await?;
        Ok(())
    }

    /// A fan reading the creator's message changes its `isRead` on Fanvue,
    /// but no webhook says so and the chat's last message does not move, so
    /// the walk above never sees it. Chats holding unread outbound messages
    /// from the last `READ_REFRESH_DAYS` are re-read (newest page, batch
    /// endpoint, which never marks anything read), a bounded number per run,
    /// least recently checked first; the requests count in the creator's
    /// budget like any background call.
    async fn refresh_read_state(
        &self,
        lease: &Lease,
        stats: &mut RunStats,
        creator: Uuid,
        fetched: &HashSet<Uuid>,
    ) -> Result<(), SyncError> {
        let limit = self.settings.read_refresh_chats;
        if limit == 0 {
            return Ok(());
        }
        let since = Utc::now() - chrono::Duration::days(READ_REFRESH_DAYS);
        let fans = {
            let mut conn = self.pool.acquire().await?;
            store::messages::take_unread_outbound_chats(
                &mut conn,
                lease.creator_id,
                since,
                limit as i64,
            )
            .await?
        };
        let fans: Vec<Uuid> = fans.into_iter().filter(|f| !fetched.contains(f)).collect();
        if fans.is_empty() {
            return Ok(());
        }
        self.default_batches(
            lease,
            stats,
            creator,
            &fans,
            false,
            MessageSource::Reconcile,
        )
        .await
    }

    /// The creator reading a fan's messages on Fanvue sends `message.read`;
    /// when that webhook is lost the chat stays unread here, and the walk
    /// above never comes back to it (its last message did not move). When
    /// chats held unread were not refreshed by the walk (not written since
    /// `walked_at`), the chat list's `unread` filter names every chat Fanvue
    /// still counts unread: those rows are refreshed by this walk, and the
    /// mirror's other unread chats and their fan messages are marked read.
    /// Cost: ceil(unread chats / 50) list pages, and nothing while every
    /// unread chat was on the pages the walk read.
    async fn sweep_unread(
        &self,
        lease: &Lease,
        stats: &mut RunStats,
        walked_at: DateTime<Utc>,
    ) -> Result<(), SyncError> {
        let as_of = {
            let mut conn = self.pool.acquire().await?;
            match store::chats::unread_as_of(&mut conn, lease.creator_id, Some(walked_at)).await? {
                Some(t) => t,
                None => return Ok(()),
            }
        };
        let skipped = stats.skipped.len();
        // A chat read on Fanvue while the pages are read shifts a later one
        // off them. Clearing it would mark its fan messages read, which no
        // later listing undoes; so a chat is cleared only when two walks
        // both missed it, which a shift cannot do to the same chat twice
        // unless reads land at the same place in both.
        let mut unread: Vec<Uuid> = Vec::new();
        for _ in 0..2 {
            let walked = self.walk_chats(lease, stats, None, Some("unread")).await?;
            unread.extend(walked.into_iter().map(|(fan, _)| fan));
        }
        if stats.skipped.len() != skipped {
            // A skipped (malformed) item may be one of the unread chats.
            return Ok(());
        }
        unread.sort_unstable();
        unread.dedup();
        let mut tx = lease.begin(&self.pool).await?;
        let cleared = store::chats::mark_read_except(
            &mut tx,
            lease.agency_id,
            lease.creator_id,
            &unread,
            as_of,
        )
        .await?;
        tx.commit().await?;
        if cleared > 0 {
            tracing::info!(chats = cleared, "chats read on Fanvue without a webhook");
        }
        Ok(())
    }

    async fn incremental(
        &self,
        lease: &Lease,
        stats: &mut RunStats,
        creator: Uuid,
        fans: &[Uuid],
        mut cursor: (Uuid, DateTime<Utc>),
    ) -> Result<(), SyncError> {
        for chunk in fans.chunks(BATCH_CHATS) {
            let mut tries = 0;
            let got = loop {
                match self.batch(lease, stats, chunk, Some(cursor.0)).await {
                    Ok(got) => break got,
                    Err(e) if cursor_rejected(&e) && tries < MAX_CURSOR_RETRIES => {
                        // Fanvue no longer knows the cursor message: it was
                        // deleted. Record that, and use the next older one.
                        tries += 1;
                        stats.skip(
                            format!("cursor {}", cursor.0),
                            "cursor message no longer exists; using an older one",
                        );
                        let mut tx = lease.begin(&self.pool).await?;
                        store::messages::mark_deleted(&mut tx, lease.creator_id, cursor.0).await?;
                        let next =
                            store::messages::cursor_before(&mut tx, lease.creator_id, cursor.1)
                                .await?;
                        tx.commit().await?;
                        match next {
                            Some(c) => cursor = c,
                            None => {
                                self.default_batches(
                                    lease,
                                    stats,
                                    creator,
                                    chunk,
                                    false,
                                    MessageSource::Reconcile,
                                )
                                .await?;
                                break Default::default();
                            }
                        }
                    }
                    Err(e) => return Err(e),
                }
            };
            let by_fan: Vec<(Uuid, &[Message])> = got
                .iter()
                .map(|(f, c)| (*f, c.messages.as_slice()))
                .collect();
            self.write_messages(lease, stats, creator, &by_fan, MessageSource::Reconcile)
                .await?;
            // More than 50 new messages: page that chat down to the cursor.
            for (fan, chat) in &got {
                if chat.has_more {
                    self.page_down_to(lease, stats, creator, *fan, cursor.1)
                        .await?;
                }
            }
            lease.renew(&self.pool).await?;
        }
        Ok(())
    }

    /// Pages one chat (newest first) until a page reaches `until` or ends.
    async fn page_down_to(
        &self,
        lease: &Lease,
        stats: &mut RunStats,
        creator: Uuid,
        fan: Uuid,
        until: DateTime<Utc>,
    ) -> Result<(), SyncError> {
        let client = self.connections.client();
        let mut page = 1u32;
        loop {
            let resp = self
                .connections
                .call_metered(
                    lease.creator_id,
                    Priority::Background,
                    Some(stats.meter.clone()),
                    |a| async move { client.chat_messages(&a, fan, page, PAGE_SIZE).await },
                )
                .await?;
            self.write_messages(
                lease,
                stats,
                creator,
                &[(fan, &resp.items)],
                MessageSource::Reconcile,
            )
            .await?;
            let reached = resp
                .items
                .iter()
                .any(|m| m.sent_at.is_some_and(|t| t <= until));
            if reached || !resp.has_more {
                return Ok(());
            }
            page += 1;
        }
    }
}
