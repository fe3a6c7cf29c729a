//! The staff-facing web face: routes grouped by page area, plus the
//! cross-cutting pieces every request passes through (security headers,
//! request ids, sessions, CSRF). Handlers parse input into domain types, call
//! `store`, and render templates; they never build SQL.

pub mod account;
pub mod admin;
pub mod attribution;
pub mod auth;
pub mod connect;
pub mod csrf;
pub mod csv;
pub mod dashboard;
pub mod error;
pub mod extract;
pub mod headers;
pub mod health;
pub mod home;
pub mod inbox;
pub mod metrics;
pub mod render;
pub mod root_span;
pub mod session;
pub mod session_store;
pub mod settings;
pub mod static_files;

use std::sync::Arc;

use actix_web::web;
use sqlx::PgPool;

use crate::config::Settings;
use crate::connections::Connections;

/// Shared by every handler through `web::Data`.
pub struct AppState {
    pub pool: PgPool,
    pub settings: Arc<Settings>,
    pub connections: Connections,
    /// The Content-Security-Policy, fixed at start-up (it names Fanvue's
    /// authorize origin as a form target for the connect flow).
    pub csp: String,
    /// This instance's live-event hub (SSE streams subscribe to it).
    pub live: Arc<crate::live::LiveHub>,
}

/// Every route of the web face (webhook intake registers its own, in
/// `webhooks::routes`). Id-taking routes are listed in the tenancy test's
/// route table; add new ones there too.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/healthz", web::get().to(health::healthz))
        .route("/readyz", web::get().to(health::readyz))
        .route("/metrics", web::get().to(metrics::scrape))
        .route("/static/{file}", web::get().to(static_files::serve))
        .route("/", web::get().to(home::overview))
        .route("/inbox", web::get().to(inbox::list::page))
        .route("/inbox/rows", web::get().to(inbox::list::rows))
        .route("/inbox/counts", web::get().to(inbox::list::counts))
        .route("/inbox/chats/{id}", web::get().to(inbox::thread::show))
        .route("/inbox/chats/{id}/row", web::get().to(inbox::list::row))
        .route(
            "/inbox/chats/{id}/messages",
            web::get().to(inbox::thread::messages_after),
        )
        .route(
            "/inbox/chats/{id}/messages/{uuid}",
            web::get().to(inbox::thread::message),
        )
        .route("/inbox/stream", web::get().to(inbox::stream::stream))
        .service(
            web::resource("/login")
                .route(web::get().to(auth::login::form))
                .route(web::post().to(auth::login::submit)),
        )
        .route("/logout", web::post().to(auth::logout::submit))
        .service(
            web::resource("/invite/{token}")
                .route(web::get().to(auth::invite::form))
                .route(web::post().to(auth::invite::submit)),
        )
        .route("/account", web::get().to(account::show))
        .service(
            web::resource("/account/password")
                .route(web::get().to(account::password_form))
                .route(web::post().to(account::password_submit)),
        )
        .route(
            "/account/sessions/end-others",
            web::post().to(account::end_other_sessions),
        )
        .route("/admin/staff", web::get().to(admin::staff::list))
        .service(
            web::resource("/admin/staff/invite")
                .route(web::get().to(admin::invites::form))
                .route(web::post().to(admin::invites::submit)),
        )
        .route("/admin/staff/{id}", web::get().to(admin::staff::show))
        .route(
            "/admin/staff/{id}/role",
            web::post().to(admin::staff::change_role),
        )
        .route(
            "/admin/staff/{id}/deactivate",
            web::post().to(admin::staff::deactivate),
        )
        .route(
            "/admin/staff/{id}/reactivate",
            web::post().to(admin::staff::reactivate),
        )
        .route(
            "/admin/staff/{id}/fanvue-uuid",
            web::post().to(admin::staff::set_fanvue_uuid),
        )
        .route(
            "/admin/invites/{id}/revoke",
            web::post().to(admin::invites::revoke),
        )
        .route("/admin/audit", web::get().to(admin::audit::list))
        .service(
            web::resource("/admin/settings")
                .route(web::get().to(settings::show))
                .route(web::post().to(settings::save)),
        )
        .route(
            "/admin/team-members",
            web::get().to(attribution::team_members::list),
        )
        .route(
            "/admin/team-members/map",
            web::post().to(attribution::team_members::map),
        )
        .route("/dashboard", web::get().to(dashboard::show))
        .route(
            "/dashboard/chatters.csv",
            web::get().to(dashboard::chatters_csv),
        )
        .route("/sales", web::get().to(attribution::sales::list))
        // Before /sales/{id}: actix matches in order.
        .route(
            "/sales/export.csv",
            web::get().to(attribution::sales::export),
        )
        .route("/sales/{id}", web::get().to(attribution::sales::show))
        .route(
            "/sales/{id}/reassign",
            web::post().to(attribution::sales::reassign),
        )
        .route(
            "/sales/{id}/revert",
            web::post().to(attribution::sales::revert),
        )
        .route("/earnings", web::get().to(attribution::cross_check::list))
        .route(
            "/earnings/creators/{id}",
            web::get().to(attribution::cross_check::day),
        )
        .route("/admin/status", web::get().to(admin::status::show))
        .route("/admin/webhooks", web::get().to(admin::webhooks::show))
        .route(
            "/admin/webhooks/events/{id}/retry",
            web::post().to(admin::webhooks::retry),
        )
        .route("/admin/creators", web::get().to(admin::creators::list))
        .route("/admin/creators/connect", web::post().to(connect::start))
        .route("/connect/fanvue/callback", web::get().to(connect::callback))
        .route("/admin/creators/{id}", web::get().to(admin::creators::show))
        .route(
            "/admin/creators/{id}/reconnect",
            web::post().to(connect::reconnect),
        )
        .route(
            "/admin/creators/{id}/sync",
            web::get().to(admin::sync::show),
        )
        .route(
            "/admin/creators/{id}/sync/reconcile",
            web::post().to(admin::sync::reconcile_now),
        )
        .route(
            "/admin/creators/{id}/disconnect",
            web::post().to(admin::creators::disconnect),
        )
        .route(
            "/admin/creators/{id}/assignments",
            web::post().to(admin::creators::assign),
        )
        .route(
            "/admin/creators/{id}/assignments/{staff_id}/remove",
            web::post().to(admin::creators::unassign),
        )
        .route("/inbox/chats/{id}/send", web::post().to(inbox::send::send))
        .route(
            "/inbox/chats/{id}/read",
            web::post().to(inbox::send::mark_read),
        )
        .route(
            "/inbox/chats/{id}/media",
            web::get().to(inbox::media::picker),
        )
        .route(
            "/inbox/chats/{id}/templates",
            web::get().to(inbox::media::templates),
        )
        .route("/inbox/tags", web::get().to(inbox::tags::page))
        .route("/inbox/tags", web::post().to(inbox::tags::create))
        .route("/inbox/tags/{id}/edit", web::post().to(inbox::tags::update))
        .route(
            "/inbox/tags/{id}/delete",
            web::post().to(inbox::tags::delete),
        )
        .route(
            "/inbox/chats/{id}/notes",
            web::post().to(inbox::fan::add_note),
        )
        .route(
            "/inbox/chats/{id}/notes/{note}/edit",
            web::post().to(inbox::fan::edit_note),
        )
        .route(
            "/inbox/chats/{id}/notes/{note}/delete",
            web::post().to(inbox::fan::delete_note),
        )
        .route(
            "/inbox/chats/{id}/tags",
            web::post().to(inbox::fan::add_tag),
        )
        .route(
            "/inbox/chats/{id}/tags/{tag}/remove",
            web::post().to(inbox::fan::remove_tag),
        )
        .service(
            web::resource("/inbox/canned")
                .route(web::get().to(inbox::canned::page))
                .route(web::post().to(inbox::canned::create)),
        )
        .service(
            web::resource("/inbox/canned/{id}")
                .route(web::get().to(inbox::canned::edit))
                .route(web::post().to(inbox::canned::update)),
        )
        .route(
            "/inbox/canned/{id}/delete",
            web::post().to(inbox::canned::delete),
        )
        .route(
            "/inbox/chats/{id}/canned",
            web::get().to(inbox::canned::for_chat),
        )
        .service(
            web::resource("/inbox/chats/{id}/lists")
                .route(web::get().to(inbox::fan_lists::show))
                .route(web::post().to(inbox::fan_lists::change)),
        )
        .route("/inbox/claims", web::get().to(inbox::collab::claims_page))
        .route("/inbox/next", web::post().to(inbox::collab::next_chat))
        .route(
            "/inbox/chats/{id}/people",
            web::get().to(inbox::collab::people),
        )
        .route(
            "/inbox/chats/{id}/presence",
            web::post().to(inbox::collab::report),
        )
        .route(
            "/inbox/chats/{id}/claim",
            web::post().to(inbox::collab::claim),
        )
        .route(
            "/inbox/chats/{id}/claim/take",
            web::post().to(inbox::collab::take_over),
        )
        .route(
            "/inbox/chats/{id}/claim/release",
            web::post().to(inbox::collab::release),
        )
        .route(
            "/inbox/chats/{id}/claim/assign",
            web::post().to(inbox::collab::reassign),
        );
}
