//! What one stream may carry: events of the creators its viewer may work,
//! decided by the one visibility rule (`inbox::access::visible_creators`),
//! loaded at connect and re-checked when the viewer's access changes and
//! periodically. A stream whose login ended (signed out, deactivated) ends.

use std::collections::HashSet;

use sqlx::PgPool;

use super::{EventKind, LiveEvent};
use crate::domain::CreatorId;
use crate::inbox::access::{Viewer, visible_creators};
use crate::store::{self, StoreError};

pub struct AccessFilter {
    viewer: Viewer,
    login_id: Option<String>,
    creators: HashSet<CreatorId>,
}

/// The outcome of a re-check.
#[derive(Debug, PartialEq, Eq)]
pub enum Recheck {
    /// Same creators as before.
    Unchanged,
    /// The visible set (or role) changed: the page should refetch.
    Changed,
    /// The login is over: end the stream.
    Ended,
}

impl AccessFilter {
    pub async fn load(
        db: &PgPool,
        viewer: Viewer,
        login_id: Option<String>,
    ) -> Result<Self, StoreError> {
        let creators = visible_creators(db, viewer)
            .await?
            .into_iter()
            .map(|c| c.id)
            .collect();
        Ok(Self {
            viewer,
            login_id,
            creators,
        })
    }

    pub fn viewer(&self) -> Viewer {
        self.viewer
    }

    pub fn creators(&self) -> Vec<CreatorId> {
        self.creators.iter().copied().collect()
    }

    /// Whether the event goes out on this stream.
    pub fn admits(&self, ev: &LiveEvent) -> bool {
        if ev.kind == EventKind::Access {
            return false;
        }
        match ev.agency_id {
            // Instance-wide resync.
            None => true,
            Some(a) => {
                a == self.viewer.agency_id
                    && ev.creator_id.is_some_and(|c| self.creators.contains(&c))
            }
        }
    }

    /// Whether the event changes what this viewer may see.
    pub fn concerns(&self, ev: &LiveEvent) -> bool {
        ev.kind == EventKind::Access && ev.staff_id == Some(self.viewer.staff_id)
    }

    /// Reloads the viewer (with the store call the session extractor uses)
    /// and their creators.
    pub async fn recheck(&mut self, db: &PgPool) -> Result<Recheck, StoreError> {
        let me = store::staff::for_session(db, self.viewer.staff_id).await?;
        let Some(me) = me.filter(|s| s.active && s.agency_id == self.viewer.agency_id) else {
            return Ok(Recheck::Ended);
        };
        if let Some(login) = &self.login_id
            && !store::live::login_alive(db, me.id, login).await?
        {
            return Ok(Recheck::Ended);
        }
        let viewer = Viewer {
            agency_id: me.agency_id,
            staff_id: me.id,
            role: me.role,
        };
        let creators: HashSet<CreatorId> = visible_creators(db, viewer)
            .await?
            .into_iter()
            .map(|c| c.id)
            .collect();
        let changed = creators != self.creators || viewer.role != self.viewer.role;
        self.viewer = viewer;
        self.creators = creators;
        Ok(if changed {
            Recheck::Changed
        } else {
            Recheck::Unchanged
        })
    }
}
