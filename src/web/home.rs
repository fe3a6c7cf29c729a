//! The overview page every role lands on after signing in.

use actix_session::Session;
use actix_web::{HttpResponse, web};
use askama::Template;

use crate::inbox::{Viewer, visible_creators};
use crate::store;
use crate::web::AppState;
use crate::web::error::WebError;
use crate::web::extract::CurrentStaff;
use crate::web::render::{PageCtx, html};

#[derive(Template)]
#[template(path = "home.html")]
pub struct OverviewPage {
    pub ctx: PageCtx,
    pub me: CurrentStaff,
    pub active_staff: usize,
    pub unmapped_chatters: usize,
    pub pending_invites: usize,
    /// Creators this person works: assigned ones for chatters, all for
    /// managers and above.
    pub creators: Vec<store::creators::Creator>,
}

pub async fn overview(
    state: web::Data<AppState>,
    session: Session,
    me: CurrentStaff,
) -> Result<HttpResponse, WebError> {
    let staff = store::staff::list(&state.pool, me.agency_id).await?;
    let pending = if me.role.is_admin() {
        store::invites::list_pending(&state.pool, me.agency_id)
            .await?
            .len()
    } else {
        0
    };
    let viewer = Viewer {
        agency_id: me.agency_id,
        staff_id: me.id,
        role: me.role,
    };
    let creators = visible_creators(&state.pool, viewer).await?;
    html(&OverviewPage {
        creators,
        ctx: PageCtx::new(&session, Some(&me), "overview")?,
        active_staff: staff.iter().filter(|s| s.active).count(),
        unmapped_chatters: staff
            .iter()
            .filter(|s| {
                s.active && s.role == crate::domain::Role::Chatter && s.fanvue_user_uuid.is_none()
            })
            .count(),
        pending_invites: pending,
        me,
    })
}
