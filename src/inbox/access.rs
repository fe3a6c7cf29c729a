//! The one rule for whose inboxes a staff member sees: managers and above
//! see every creator of their agency, chatters only the creators assigned to
//! them. Pages that list creators and checks on a single creator both go
//! through here, so the two can never disagree.

use sqlx::PgPool;

use crate::domain::{AgencyId, CreatorId, Role, StaffId};
use crate::store::creators::Creator;
use crate::store::{self, StoreError};

/// Who is looking: the signed-in staff member's agency, id and role.
#[derive(Debug, Clone, Copy)]
pub struct Viewer {
    pub agency_id: AgencyId,
    pub staff_id: StaffId,
    pub role: Role,
}

/// The creators `viewer` works, by display name.
pub async fn visible_creators(db: &PgPool, viewer: Viewer) -> Result<Vec<Creator>, StoreError> {
    if viewer.role.is_manager_or_above() {
        store::creators::list(db, viewer.agency_id).await
    } else {
        store::creators::list_assigned(db, viewer.agency_id, viewer.staff_id).await
    }
}

/// Whether `viewer` may see and work `creator`'s inbox. A creator of another
/// agency is simply not one they may work.
pub async fn may_work_creator(
    db: &PgPool,
    viewer: Viewer,
    creator: CreatorId,
) -> Result<bool, StoreError> {
    if viewer.role.is_manager_or_above() {
        match store::creators::get(db, viewer.agency_id, creator).await {
            Ok(_) => Ok(true),
            Err(StoreError::NotFound) => Ok(false),
            Err(e) => Err(e),
        }
    } else {
        store::creators::is_assigned(db, viewer.agency_id, creator, viewer.staff_id).await
    }
}
