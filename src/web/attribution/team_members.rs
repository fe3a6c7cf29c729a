//! `/admin/team-members`: every `sentByUserId` in the mirror that no staff
//! member carries, with its message count and the revenue it decides, and a
//! one-click mapping to a staff member. Mapping is the same change as on the
//! staff page (same rules, same audit action); the database re-credits the
//! past sales it decides.

use actix_session::Session;
use actix_web::{HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use crate::domain::{AuditAction, FanvueUserUuid, StaffId};
use crate::http::client_ip::ClientIp;
use crate::store::sales::UnmappedTeamMember;
use crate::store::staff::Staff;
use crate::store::{self, StoreError};
use crate::web::AppState;
use crate::web::error::WebError;
use crate::web::extract::AdminStaff;
use crate::web::render::{PageCtx, html, see_other};
use crate::web::session::{FlashKind, TypedSession};

const PAGE: &str = "/admin/team-members";

#[derive(Template)]
#[template(path = "attribution/team_members.html")]
pub struct TeamMembersPage {
    pub ctx: PageCtx,
    pub unmapped: Vec<UnmappedTeamMember>,
    /// Active staff without a mapping: the ones a uuid can be given to.
    pub candidates: Vec<Staff>,
}

impl TeamMembersPage {
    pub fn money(cents: &i64) -> String {
        crate::domain::Cents::new(*cents).to_string()
    }
}

pub async fn list(
    state: web::Data<AppState>,
    session: Session,
    me: AdminStaff,
) -> Result<HttpResponse, WebError> {
    let unmapped = store::sales::unmapped_team_members(&state.pool, me.agency_id).await?;
    let candidates = store::staff::list(&state.pool, me.agency_id)
        .await?
        .into_iter()
        .filter(|s| s.active && s.fanvue_user_uuid.is_none() && me.role.may_manage(s.role))
        .collect();
    html(&TeamMembersPage {
        ctx: PageCtx::new(&session, Some(&me), "team-members")?,
        unmapped,
        candidates,
    })
}

#[derive(Deserialize)]
pub struct MapForm {
    team_member_uuid: String,
    staff_id: String,
}

pub async fn map(
    state: web::Data<AppState>,
    session: Session,
    me: AdminStaff,
    ip: ClientIp,
    form: web::Form<MapForm>,
) -> Result<HttpResponse, WebError> {
    let form = form.into_inner();
    let flash = TypedSession(&session);
    let Ok(uuid) = FanvueUserUuid::parse(&form.team_member_uuid) else {
        flash.flash(FlashKind::Error, "That is not a Fanvue team-member UUID.");
        return Ok(see_other(PAGE));
    };
    let Ok(id) = form.staff_id.trim().parse::<StaffId>() else {
        flash.flash(FlashKind::Error, "Choose a staff member to map it to.");
        return Ok(see_other(PAGE));
    };
    let mut tx = state.pool.begin().await?;
    let person = store::staff::get_for_update(&mut tx, me.agency_id, id).await?;
    // Mapping moves sales attribution: the staff page's rule.
    if !me.role.may_manage(person.role) {
        drop(tx);
        flash.flash(FlashKind::Error, "Only an owner can change another owner.");
        return Ok(see_other(PAGE));
    }
    if person.fanvue_user_uuid.is_some() {
        drop(tx);
        flash.flash(
            FlashKind::Error,
            format!(
                "{} is already mapped to another team member; change it on their staff page.",
                person.display_name
            ),
        );
        return Ok(see_other(PAGE));
    }
    match store::staff::set_fanvue_user_uuid(&mut *tx, me.agency_id, id, Some(uuid)).await {
        Ok(()) => {}
        Err(StoreError::Conflict(_)) => {
            drop(tx);
            flash.flash(
                FlashKind::Error,
                "Another staff member is already mapped to this team member.",
            );
            return Ok(see_other(PAGE));
        }
        Err(e) => return Err(e.into()),
    }
    store::audit::record(
        &mut *tx,
        me.audit(
            AuditAction::FanvueUuidChanged,
            &person.email,
            serde_json::json!({
                "staff_id": id,
                "from": person.fanvue_user_uuid,
                "to": uuid.as_uuid(),
                "via": "team-members",
            }),
            &ip,
        ),
    )
    .await?;
    tx.commit().await?;
    flash.flash(
        FlashKind::Success,
        format!(
            "Team member {uuid} mapped to {}; their past sales are credited to them.",
            person.display_name
        ),
    );
    Ok(see_other(PAGE))
}
