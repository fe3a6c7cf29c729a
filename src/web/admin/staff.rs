//! Staff list and per-person administration: role, activation, and the
//! Fanvue team-member UUID that attributes Fanvue's `sentByUserId` to them.

use actix_session::Session;
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use crate::domain::AuditAction;
use crate::domain::FieldErrors;
use crate::domain::{FanvueUserUuid, Role, StaffId};
use crate::http::client_ip::ClientIp;
use crate::store::invites::Invite;
use crate::store::staff::Staff;
use crate::store::{self, StoreError};
use crate::web::AppState;
use crate::web::error::WebError;
use crate::web::extract::AdminStaff;
use crate::web::render::{PageCtx, html, html_status, see_other};
use crate::web::session::{FlashKind, TypedSession};

#[derive(Template)]
#[template(path = "admin/staff_list.html")]
pub struct StaffListPage {
    pub ctx: PageCtx,
    pub staff: Vec<Staff>,
    pub invites: Vec<Invite>,
    /// Whose page it is: revoke buttons show only for invites they may revoke.
    pub my_role: Role,
}

#[derive(Template)]
#[template(path = "admin/staff_show.html")]
pub struct StaffPage {
    pub ctx: PageCtx,
    pub person: Staff,
    pub is_self: bool,
    pub can_manage: bool,
    pub roles: Vec<Role>,
    pub sessions: i64,
    pub fanvue_input: String,
    pub errors: FieldErrors,
}

#[derive(Deserialize)]
pub struct RoleForm {
    role: String,
}

#[derive(Deserialize)]
pub struct FanvueForm {
    fanvue_user_uuid: String,
}

pub async fn list(
    state: web::Data<AppState>,
    session: Session,
    me: AdminStaff,
) -> Result<HttpResponse, WebError> {
    let staff = store::staff::list(&state.pool, me.agency_id).await?;
    let invites = store::invites::list_pending(&state.pool, me.agency_id).await?;
    html(&StaffListPage {
        ctx: PageCtx::new(&session, Some(&me), "staff")?,
        staff,
        invites,
        my_role: me.role,
    })
}

fn parse_id(raw: &str) -> Result<StaffId, WebError> {
    raw.parse().map_err(|_| WebError::NotFound)
}

async fn page(
    state: &AppState,
    session: &Session,
    me: &AdminStaff,
    person: Staff,
    fanvue_input: Option<String>,
    errors: FieldErrors,
) -> Result<StaffPage, WebError> {
    let sessions = store::sessions::count_for_staff(&state.pool, person.id).await?;
    Ok(StaffPage {
        ctx: PageCtx::new(session, Some(me), "staff")?,
        is_self: person.id == me.id,
        can_manage: me.role.may_manage(person.role),
        roles: Role::ALL
            .into_iter()
            .filter(|r| me.role.may_manage(*r))
            .collect(),
        sessions,
        fanvue_input: fanvue_input.unwrap_or_else(|| {
            person
                .fanvue_user_uuid
                .map(|u| u.to_string())
                .unwrap_or_default()
        }),
        errors,
        person,
    })
}

const LAST_OWNER: &str =
    "The agency needs at least one active owner. Make someone else an owner first.";

/// Re-renders the person's page with one error, status 422.
async fn refuse(
    state: &AppState,
    session: &Session,
    me: &AdminStaff,
    person: Staff,
    field: &'static str,
    msg: &str,
) -> Result<HttpResponse, WebError> {
    let mut errors = FieldErrors::default();
    errors.add(field, msg);
    let p = page(state, session, me, person, None, errors).await?;
    html_status(StatusCode::UNPROCESSABLE_ENTITY, &p)
}

pub async fn show(
    state: web::Data<AppState>,
    session: Session,
    me: AdminStaff,
    id: web::Path<String>,
) -> Result<HttpResponse, WebError> {
    let person = store::staff::get(&state.pool, me.agency_id, parse_id(&id)?).await?;
    html(&page(&state, &session, &me, person, None, FieldErrors::default()).await?)
}

pub async fn change_role(
    state: web::Data<AppState>,
    session: Session,
    me: AdminStaff,
    ip: ClientIp,
    id: web::Path<String>,
    form: web::Form<RoleForm>,
) -> Result<HttpResponse, WebError> {
    let id = parse_id(&id)?;
    let mut tx = state.pool.begin().await?;
    let person = store::staff::get_for_update(&mut tx, me.agency_id, id).await?;
    let new_role = match Role::parse(&form.role) {
        Ok(r) => r,
        Err(e) => return refuse(&state, &session, &me, person, "role", &e.0).await,
    };
    if !me.role.may_manage(person.role) || !me.role.may_manage(new_role) {
        return refuse(
            &state,
            &session,
            &me,
            person,
            "role",
            "Only an owner can grant or change the owner role.",
        )
        .await;
    }
    if person.role == new_role {
        return Ok(see_other(&format!("/admin/staff/{id}")));
    }
    if store::staff::is_last_active_owner(&mut tx, &person).await? {
        drop(tx);
        return refuse(&state, &session, &me, person, "role", LAST_OWNER).await;
    }
    store::staff::set_role(&mut *tx, me.agency_id, id, new_role).await?;
    // Invites they made for roles they may no longer grant die with the role.
    let revoked =
        store::invites::revoke_ungrantable(&mut *tx, me.agency_id, id, Some(new_role)).await?;
    store::audit::record(
        &mut *tx,
        me.audit(
            AuditAction::RoleChanged,
            &person.email,
            serde_json::json!({
                "staff_id": id,
                "from": person.role.as_str(),
                "to": new_role.as_str(),
                "invites_revoked": revoked,
            }),
            &ip,
        ),
    )
    .await?;
    tx.commit().await?;
    TypedSession(&session).flash(
        FlashKind::Success,
        format!("{} is now {}.", person.display_name, new_role.label()),
    );
    Ok(see_other(&format!("/admin/staff/{id}")))
}

async fn set_active(
    state: web::Data<AppState>,
    session: Session,
    me: AdminStaff,
    ip: ClientIp,
    id: web::Path<String>,
    active: bool,
) -> Result<HttpResponse, WebError> {
    let id = parse_id(&id)?;
    let mut tx = state.pool.begin().await?;
    let person = store::staff::get_for_update(&mut tx, me.agency_id, id).await?;
    if !me.role.may_manage(person.role) {
        return refuse(
            &state,
            &session,
            &me,
            person,
            "active",
            "Only an owner can change another owner.",
        )
        .await;
    }
    if person.active == active {
        return Ok(see_other(&format!("/admin/staff/{id}")));
    }
    if !active {
        if person.id == me.id {
            return refuse(
                &state,
                &session,
                &me,
                person,
                "active",
                "You cannot deactivate your own account.",
            )
            .await;
        }
        if store::staff::is_last_active_owner(&mut tx, &person).await? {
            drop(tx);
            return refuse(&state, &session, &me, person, "active", LAST_OWNER).await;
        }
    }
    store::staff::set_active(&mut *tx, me.agency_id, id, active).await?;
    // A deactivated person's sessions and pending invites end with them;
    // reactivating restores neither.
    let (ended, revoked) = if active {
        (0, 0)
    } else {
        (
            store::sessions::delete_for_staff(&mut *tx, id, None).await?,
            store::invites::revoke_ungrantable(&mut *tx, me.agency_id, id, None).await?,
        )
    };
    let action = if active {
        AuditAction::StaffReactivated
    } else {
        AuditAction::StaffDeactivated
    };
    store::audit::record(
        &mut *tx,
        me.audit(
            action,
            &person.email,
            serde_json::json!({ "staff_id": id, "sessions_ended": ended, "invites_revoked": revoked }),
            &ip,
        ),
    )
    .await?;
    tx.commit().await?;
    let msg = if active {
        format!("{} can sign in again.", person.display_name)
    } else {
        format!(
            "{} is deactivated and was signed out everywhere.",
            person.display_name
        )
    };
    TypedSession(&session).flash(FlashKind::Success, msg);
    Ok(see_other(&format!("/admin/staff/{id}")))
}

pub async fn deactivate(
    state: web::Data<AppState>,
    session: Session,
    me: AdminStaff,
    ip: ClientIp,
    id: web::Path<String>,
) -> Result<HttpResponse, WebError> {
    set_active(state, session, me, ip, id, false).await
}

pub async fn reactivate(
    state: web::Data<AppState>,
    session: Session,
    me: AdminStaff,
    ip: ClientIp,
    id: web::Path<String>,
) -> Result<HttpResponse, WebError> {
    set_active(state, session, me, ip, id, true).await
}

pub async fn set_fanvue_uuid(
    state: web::Data<AppState>,
    session: Session,
    me: AdminStaff,
    ip: ClientIp,
    id: web::Path<String>,
    form: web::Form<FanvueForm>,
) -> Result<HttpResponse, WebError> {
    let id = parse_id(&id)?;
    let mut tx = state.pool.begin().await?;
    let person = store::staff::get_for_update(&mut tx, me.agency_id, id).await?;
    // Re-mapping moves sales attribution: the same rule as changing a role.
    if !me.role.may_manage(person.role) {
        drop(tx);
        return refuse(
            &state,
            &session,
            &me,
            person,
            "fanvue_user_uuid",
            "Only an owner can change another owner.",
        )
        .await;
    }
    let raw = form.into_inner().fanvue_user_uuid;
    let parsed = if raw.trim().is_empty() {
        Ok(None)
    } else {
        FanvueUserUuid::parse(&raw).map(Some)
    };
    let uuid = match parsed {
        Ok(u) => u,
        Err(e) => {
            drop(tx);
            let mut errors = FieldErrors::default();
            errors.add("fanvue_user_uuid", e.0);
            let p = page(&state, &session, &me, person, Some(raw), errors).await?;
            return html_status(StatusCode::UNPROCESSABLE_ENTITY, &p);
        }
    };
    match store::staff::set_fanvue_user_uuid(&mut *tx, me.agency_id, id, uuid).await {
        Ok(()) => {}
        Err(StoreError::Conflict(_)) => {
            drop(tx);
            let mut errors = FieldErrors::default();
            errors.add(
                "fanvue_user_uuid",
                "Another staff member of this agency is already mapped to this Fanvue team member.",
            );
            let p = page(&state, &session, &me, person, Some(raw), errors).await?;
            return html_status(StatusCode::UNPROCESSABLE_ENTITY, &p);
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
                "to": uuid.map(|u| u.as_uuid()),
            }),
            &ip,
        ),
    )
    .await?;
    tx.commit().await?;
    TypedSession(&session).flash(FlashKind::Success, "Fanvue team-member UUID saved.");
    Ok(see_other(&format!("/admin/staff/{id}")))
}
