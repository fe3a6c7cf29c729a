//! Connected creators: the list with connection health, and each creator's
//! page with chatter assignments, reconnect and disconnect.

use actix_session::Session;
use actix_web::{HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use crate::connections::missing_scopes;
use crate::domain::{AuditAction, CreatorStatus};
use crate::domain::{CreatorId, Role, StaffId};
use crate::http::client_ip::ClientIp;
use crate::store::creators::{Assignee, Creator};
use crate::store::staff::Staff;
use crate::store::{self};
use crate::web::AppState;
use crate::web::error::WebError;
use crate::web::extract::AdminStaff;
use crate::web::render::{PageCtx, html, see_other};
use crate::web::session::{FlashKind, TypedSession};

/// A creator row with what the page derives from it.
pub struct CreatorRow {
    pub c: Creator,
    pub missing: Vec<&'static str>,
}

impl CreatorRow {
    fn new(c: Creator) -> Self {
        let missing = if c.status == CreatorStatus::Disconnected {
            Vec::new()
        } else {
            missing_scopes(&c.scopes)
        };
        Self { c, missing }
    }
    pub fn status_class(&self) -> &'static str {
        match self.c.status {
            CreatorStatus::Connected => "badge-ok",
            CreatorStatus::NeedsReauth => "badge-warn",
            CreatorStatus::Disconnected => "badge-off",
        }
    }
    pub fn initial(&self) -> String {
        self.c
            .display_name
            .chars()
            .next()
            .map(|c| c.to_uppercase().collect())
            .unwrap_or_default()
    }
}

#[derive(Template)]
#[template(path = "admin/creators_list.html")]
pub struct CreatorsPage {
    pub ctx: PageCtx,
    pub creators: Vec<CreatorRow>,
    pub configured: bool,
}

#[derive(Template)]
#[template(path = "admin/creator_show.html")]
pub struct CreatorPage {
    pub ctx: PageCtx,
    pub row: CreatorRow,
    pub assignees: Vec<Assignee>,
    pub assignable: Vec<Staff>,
}

pub async fn list(
    state: web::Data<AppState>,
    session: Session,
    me: AdminStaff,
) -> Result<HttpResponse, WebError> {
    let creators = store::creators::list(&state.pool, me.agency_id)
        .await?
        .into_iter()
        .map(CreatorRow::new)
        .collect();
    html(&CreatorsPage {
        ctx: PageCtx::new(&session, Some(&me), "creators")?,
        creators,
        configured: state.settings.fanvue.app.is_some(),
    })
}

fn parse_id(raw: &str) -> Result<CreatorId, WebError> {
    raw.parse().map_err(|_| WebError::NotFound)
}

pub async fn show(
    state: web::Data<AppState>,
    session: Session,
    me: AdminStaff,
    id: web::Path<String>,
) -> Result<HttpResponse, WebError> {
    let creator = store::creators::get(&state.pool, me.agency_id, parse_id(&id)?).await?;
    let assignees = store::creators::assignees(&state.pool, me.agency_id, creator.id).await?;
    let assignable = store::staff::list(&state.pool, me.agency_id)
        .await?
        .into_iter()
        .filter(|s| s.active && matches!(s.role, Role::Chatter | Role::Manager))
        .filter(|s| !assignees.iter().any(|a| a.staff_id == s.id))
        .collect();
    html(&CreatorPage {
        ctx: PageCtx::new(&session, Some(&me), "creators")?,
        row: CreatorRow::new(creator),
        assignees,
        assignable,
    })
}

#[derive(Deserialize)]
pub struct AssignForm {
    staff_id: String,
}

pub async fn assign(
    state: web::Data<AppState>,
    session: Session,
    me: AdminStaff,
    ip: ClientIp,
    id: web::Path<String>,
    form: web::Form<AssignForm>,
) -> Result<HttpResponse, WebError> {
    let creator = store::creators::get(&state.pool, me.agency_id, parse_id(&id)?).await?;
    let Ok(staff_id) = form.staff_id.parse::<StaffId>() else {
        TypedSession(&session).flash(FlashKind::Error, "Choose a staff member to assign.");
        return Ok(see_other(&format!("/admin/creators/{}", creator.id)));
    };
    // Scoped: a staff id of another agency is simply not found.
    let person = store::staff::get(&state.pool, me.agency_id, staff_id).await?;
    let mut tx = state.pool.begin().await?;
    let added =
        store::creators::assign(&mut *tx, me.agency_id, creator.id, person.id, me.id).await?;
    if added {
        store::audit::record(
            &mut *tx,
            me.audit(
                AuditAction::CreatorAssigned,
                &person.email,
                serde_json::json!({ "creator_id": creator.id, "creator": creator.handle }),
                &ip,
            ),
        )
        .await?;
    }
    tx.commit().await?;
    if added {
        TypedSession(&session).flash(
            FlashKind::Success,
            format!(
                "{} now works @{}'s inbox.",
                person.display_name, creator.handle
            ),
        );
    }
    Ok(see_other(&format!("/admin/creators/{}", creator.id)))
}

pub async fn unassign(
    state: web::Data<AppState>,
    session: Session,
    me: AdminStaff,
    ip: ClientIp,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, WebError> {
    let (cid, sid) = path.into_inner();
    let creator = store::creators::get(&state.pool, me.agency_id, parse_id(&cid)?).await?;
    let staff_id: StaffId = sid.parse().map_err(|_| WebError::NotFound)?;
    let person = store::staff::get(&state.pool, me.agency_id, staff_id).await?;
    let mut tx = state.pool.begin().await?;
    store::creators::unassign(&mut *tx, me.agency_id, creator.id, person.id).await?;
    store::audit::record(
        &mut *tx,
        me.audit(
            AuditAction::CreatorUnassigned,
            &person.email,
            serde_json::json!({ "creator_id": creator.id, "creator": creator.handle }),
            &ip,
        ),
    )
    .await?;
    tx.commit().await?;
    TypedSession(&session).flash(
        FlashKind::Success,
        format!(
            "{} no longer works @{}'s inbox.",
            person.display_name, creator.handle
        ),
    );
    Ok(see_other(&format!("/admin/creators/{}", creator.id)))
}

#[derive(Deserialize)]
pub struct DisconnectForm {
    #[serde(default)]
    purge: Option<String>,
}

pub async fn disconnect(
    state: web::Data<AppState>,
    session: Session,
    me: AdminStaff,
    ip: ClientIp,
    id: web::Path<String>,
    form: web::Form<DisconnectForm>,
) -> Result<HttpResponse, WebError> {
    let creator = store::creators::get(&state.pool, me.agency_id, parse_id(&id)?).await?;
    let purge = form.purge.as_deref() == Some("on");
    let mut tx = state.pool.begin().await?;
    if purge {
        store::creators::purge(&mut *tx, me.agency_id, creator.id).await?;
    } else {
        store::creators::disconnect(&mut *tx, me.agency_id, creator.id).await?;
    }
    store::audit::record(
        &mut *tx,
        me.audit(
            if purge {
                AuditAction::CreatorPurged
            } else {
                AuditAction::CreatorDisconnected
            },
            &creator.handle,
            serde_json::json!({ "creator_id": creator.id, "fanvue_uuid": creator.fanvue_uuid }),
            &ip,
        ),
    )
    .await?;
    tx.commit().await?;
    let msg = if purge {
        format!(
            "@{} was disconnected and everything mirrored for them was deleted.",
            creator.handle
        )
    } else {
        format!(
            "@{} was disconnected; Switchboard no longer holds their tokens.",
            creator.handle
        )
    };
    TypedSession(&session).flash(FlashKind::Success, msg);
    Ok(see_other(
        if purge {
            "/admin/creators".to_owned()
        } else {
            format!("/admin/creators/{}", creator.id)
        }
        .as_str(),
    ))
}
