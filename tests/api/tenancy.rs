//! Staff of one agency can neither read nor change another agency's data by
//! guessing ids: every id-taking route answers 404, exactly as for an id that
//! does not exist, and nothing changes.

use reqwest::StatusCode;

use crate::helpers::*;

#[derive(Clone, Copy, Debug)]
enum IdKind {
    Staff,
    Invite,
    Creator,
    /// A creator id and (as `{staff_id}`) a staff id.
    CreatorStaff,
    WebhookEvent,
    /// A chat id (and, as `{uuid}`, a message of that chat).
    Chat,
    /// A sale of the sales ledger.
    Sale,
    /// One of the agency's fan tags.
    Tag,
    /// An agency-wide canned reply.
    Canned,
}

/// Form fields a POST sends (chosen so that success would change data).
type Fields = &'static [(&'static str, &'static str)];

/// Every route that takes an id of tenant data. `routes_table_is_complete`
/// fails when a new id route is added to `src/web/mod.rs` but not here.
const ID_ROUTES: &[(&str, &str, IdKind, Fields)] = &[
    ("GET", "/admin/staff/{id}", IdKind::Staff, &[]),
    (
        "POST",
        "/admin/staff/{id}/role",
        IdKind::Staff,
        &[("role", "manager")],
    ),
    ("POST", "/admin/staff/{id}/deactivate", IdKind::Staff, &[]),
    ("POST", "/admin/staff/{id}/reactivate", IdKind::Staff, &[]),
    (
        "POST",
        "/admin/staff/{id}/fanvue-uuid",
        IdKind::Staff,
        &[("fanvue_user_uuid", "3f2b8c1e-9d4a-4e7b-8a1c-0d2e3f4a5b6c")],
    ),
    ("POST", "/admin/invites/{id}/revoke", IdKind::Invite, &[]),
    ("GET", "/admin/creators/{id}", IdKind::Creator, &[]),
    ("GET", "/admin/creators/{id}/sync", IdKind::Creator, &[]),
    (
        "POST",
        "/admin/creators/{id}/sync/reconcile",
        IdKind::Creator,
        &[],
    ),
    (
        "POST",
        "/admin/creators/{id}/reconnect",
        IdKind::Creator,
        &[],
    ),
    (
        "POST",
        "/admin/creators/{id}/disconnect",
        IdKind::Creator,
        &[("purge", "on")],
    ),
    (
        "POST",
        "/admin/creators/{id}/assignments",
        IdKind::Creator,
        &[],
    ),
    (
        "POST",
        "/admin/creators/{id}/assignments/{staff_id}/remove",
        IdKind::CreatorStaff,
        &[],
    ),
    (
        "POST",
        "/admin/webhooks/events/{id}/retry",
        IdKind::WebhookEvent,
        &[],
    ),
    ("GET", "/inbox/chats/{id}", IdKind::Chat, &[]),
    ("GET", "/inbox/chats/{id}/row", IdKind::Chat, &[]),
    ("GET", "/inbox/chats/{id}/messages", IdKind::Chat, &[]),
    (
        "GET",
        "/inbox/chats/{id}/messages/{uuid}",
        IdKind::Chat,
        &[],
    ),
    (
        "POST",
        "/inbox/chats/{id}/send",
        IdKind::Chat,
        &[
            ("idempotency_key", "5b0e7f2a-1c3d-4e5f-8a9b-0c1d2e3f4a5b"),
            ("text", "intruder"),
        ],
    ),
    ("POST", "/inbox/chats/{id}/read", IdKind::Chat, &[]),
    ("GET", "/inbox/chats/{id}/media", IdKind::Chat, &[]),
    ("GET", "/inbox/chats/{id}/templates", IdKind::Chat, &[]),
    ("GET", "/inbox/chats/{id}/canned", IdKind::Chat, &[]),
    ("GET", "/inbox/chats/{id}/lists", IdKind::Chat, &[]),
    (
        "POST",
        "/inbox/chats/{id}/lists",
        IdKind::Chat,
        &[
            ("list", "5b0e7f2a-1c3d-4e5f-8a9b-0c1d2e3f4a5b"),
            ("action", "add"),
        ],
    ),
    ("GET", "/inbox/canned/{id}", IdKind::Canned, &[]),
    (
        "POST",
        "/inbox/canned/{id}",
        IdKind::Canned,
        &[("title", "intruder"), ("body", "intruder")],
    ),
    ("POST", "/inbox/canned/{id}/delete", IdKind::Canned, &[]),
    ("GET", "/inbox/chats/{id}/people", IdKind::Chat, &[]),
    (
        "POST",
        "/inbox/chats/{id}/presence",
        IdKind::Chat,
        &[("tab", "intruder"), ("typing", "1")],
    ),
    ("POST", "/inbox/chats/{id}/claim", IdKind::Chat, &[]),
    ("POST", "/inbox/chats/{id}/claim/take", IdKind::Chat, &[]),
    ("POST", "/inbox/chats/{id}/claim/release", IdKind::Chat, &[]),
    (
        "POST",
        "/inbox/chats/{id}/claim/assign",
        IdKind::Chat,
        &[("staff_id", "5b0e7f2a-1c3d-4e5f-8a9b-0c1d2e3f4a5b")],
    ),
    (
        "POST",
        "/inbox/chats/{id}/notes",
        IdKind::Chat,
        &[("body", "intruder")],
    ),
    (
        "POST",
        "/inbox/chats/{id}/notes/{note}/edit",
        IdKind::Chat,
        &[("body", "intruder")],
    ),
    (
        "POST",
        "/inbox/chats/{id}/notes/{note}/delete",
        IdKind::Chat,
        &[],
    ),
    ("POST", "/inbox/chats/{id}/tags", IdKind::Chat, &[]),
    (
        "POST",
        "/inbox/chats/{id}/tags/{tag}/remove",
        IdKind::Chat,
        &[],
    ),
    (
        "POST",
        "/inbox/tags/{id}/edit",
        IdKind::Tag,
        &[("name", "intruder"), ("colour", "red")],
    ),
    ("POST", "/inbox/tags/{id}/delete", IdKind::Tag, &[]),
    ("GET", "/sales/{id}", IdKind::Sale, &[]),
    ("GET", "/earnings/creators/{id}", IdKind::Creator, &[]),
    (
        "POST",
        "/sales/{id}/reassign",
        IdKind::Sale,
        &[("staff_id", ""), ("reason", "intruder")],
    ),
    (
        "POST",
        "/sales/{id}/revert",
        IdKind::Sale,
        &[("reason", "intruder")],
    ),
];

/// Routes with a path parameter that is not a tenant id.
const NOT_TENANT_IDS: &[&str] = &["/static/{file}", "/invite/{token}", "/fanvue/{event}"];

#[test]
fn routes_table_is_complete() {
    let source = include_str!("../../src/web/mod.rs");
    let declared: Vec<&str> = source
        .split('"')
        .skip(1)
        .step_by(2)
        .filter(|s| s.starts_with('/') && s.contains('{'))
        .collect();
    assert!(declared.len() >= ID_ROUTES.len());
    for path in declared {
        let covered =
            ID_ROUTES.iter().any(|(_, p, _, _)| *p == path) || NOT_TENANT_IDS.contains(&path);
        assert!(
            covered,
            "route {path} takes an id but is missing from ID_ROUTES"
        );
    }
}

#[tokio::test]
async fn staff_of_agency_b_cannot_read_or_change_agency_a_by_guessing_ids() {
    let ConnectedCreator {
        app,
        acme,
        admin: acme_admin,
        id: acme_creator,
        ..
    } = TestApp::with_connected_creator().await;
    let globex = app.agency("Globex").await;

    // A pending invitation and an assigned creator in Acme to aim at.
    acme_admin
        .post_form(
            &format!("/admin/creators/{acme_creator}/assignments"),
            &[("staff_id", &acme.chatter.to_string())],
        )
        .await;
    acme_admin
        .post_form(
            "/admin/staff/invite",
            &[
                ("email", "pending@acme.test"),
                ("display_name", "Pending"),
                ("role", "chatter"),
            ],
        )
        .await;
    let acme_invite: uuid::Uuid = sqlx::query_scalar("SELECT id FROM invites WHERE agency_id = $1")
        .bind(acme.id)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    // A dead-lettered webhook event of Acme's.
    let acme_event: i64 = sqlx::query_scalar(
        "INSERT INTO webhook_events (event_type, dedupe_key, agency_id, creator_id, payload, status)
         VALUES ('message.read', 'tenancy-test', $1, $2, '{}', 'dead') RETURNING id",
    )
    .bind(acme.id)
    .bind(acme_creator)
    .fetch_one(&app.pool)
    .await
    .unwrap();
    // An unread Acme chat with a real simulated fan and one message, so a
    // send or a mark read that got through would reach the simulator and a
    // read that got through would show the text.
    let acme_fan = app.sim().fan_uuids(&app.sim().creator_uuids()[0])[0];
    let acme_chat = uuid::Uuid::now_v7();
    let acme_message = uuid::Uuid::now_v7();
    sqlx::query(
        "INSERT INTO chats (id, agency_id, creator_id, fan_uuid, fan_display_name, last_message_at, is_read, unread_count)
         VALUES ($1, $2, $3, $4, 'Acme fan', now(), false, 2)",
    )
    .bind(acme_chat)
    .bind(acme.id)
    .bind(acme_creator)
    .bind(acme_fan)
    .execute(&app.pool)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO messages (creator_id, uuid, agency_id, chat_id, direction, text, sent_at, kind, source)
         VALUES ($1, $2, $3, $4, 'in', 'Acme secret text', now(), 'SINGLE_RECIPIENT', 'webhook')",
    )
    .bind(acme_creator)
    .bind(acme_message)
    .bind(acme.id)
    .bind(acme_chat)
    .execute(&app.pool)
    .await
    .unwrap();
    // A sale of Acme's (a purchase webhook's event makes one).
    sqlx::query(
        "INSERT INTO purchase_events (agency_id, creator_id, message_uuid, fan_uuid, price_cents, purchased_at, dedupe_key)
         VALUES ($1, $2, $3, $4, 1500, now(), 'tenancy-sale')",
    )
    .bind(acme.id)
    .bind(acme_creator)
    .bind(uuid::Uuid::now_v7())
    .bind(acme_fan)
    .execute(&app.pool)
    .await
    .unwrap();
    let acme_sale: uuid::Uuid = sqlx::query_scalar("SELECT id FROM sales WHERE agency_id = $1")
        .bind(acme.id)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    // A tag on Acme's fan and a note about them.
    let acme_tag = uuid::Uuid::now_v7();
    sqlx::query(
        "INSERT INTO tags (id, agency_id, name, colour) VALUES ($1, $2, 'Acme VIP', 'blue')",
    )
    .bind(acme_tag)
    .bind(acme.id)
    .execute(&app.pool)
    .await
    .unwrap();
    sqlx::query("INSERT INTO fan_tags (agency_id, tag_id, fan_uuid) VALUES ($1, $2, $3)")
        .bind(acme.id)
        .bind(acme_tag)
        .bind(acme_fan)
        .execute(&app.pool)
        .await
        .unwrap();
    let acme_note = uuid::Uuid::now_v7();
    sqlx::query(
        "INSERT INTO fan_notes (id, agency_id, fan_uuid, author_id, body) VALUES ($1, $2, $3, $4, 'Acme secret note')",
    )
    .bind(acme_note)
    .bind(acme.id)
    .bind(acme_fan)
    .bind(acme.chatter)
    .execute(&app.pool)
    .await
    .unwrap();
    // An agency-wide snippet of Acme's.
    let acme_canned = uuid::Uuid::now_v7();
    sqlx::query(
        "INSERT INTO canned_replies (id, agency_id, title, body) VALUES ($1, $2, 'Acme snippet', 'Acme secret snippet')",
    )
    .bind(acme_canned)
    .bind(acme.id)
    .execute(&app.pool)
    .await
    .unwrap();
    let sim_calls_before = app.sim().stats().total_requests;
    // One deactivated Acme member, so "reactivate" would change something.
    sqlx::query("UPDATE staff SET active = false WHERE id = $1")
        .bind(acme.manager)
        .execute(&app.pool)
        .await
        .unwrap();

    let snapshot = || async {
        let staff: Vec<(uuid::Uuid, String, bool, Option<uuid::Uuid>)> = sqlx::query_as(
            "SELECT id, role, active, fanvue_user_uuid FROM staff WHERE agency_id = $1 ORDER BY id",
        )
        .bind(acme.id)
        .fetch_all(&app.pool)
        .await
        .unwrap();
        let creators: Vec<(uuid::Uuid, String, Option<Vec<u8>>)> = sqlx::query_as(
            "SELECT id, status, access_token_enc FROM creators WHERE agency_id = $1 ORDER BY id",
        )
        .bind(acme.id)
        .fetch_all(&app.pool)
        .await
        .unwrap();
        let requested: Option<chrono::DateTime<chrono::Utc>> = sqlx::query_scalar(
            "SELECT max(reconcile_requested_at) FROM sync_state WHERE agency_id = $1",
        )
        .bind(acme.id)
        .fetch_one(&app.pool)
        .await
        .unwrap();
        let assignments: i64 =
            sqlx::query_scalar("SELECT count(*) FROM creator_assignments WHERE agency_id = $1")
                .bind(acme.id)
                .fetch_one(&app.pool)
                .await
                .unwrap();
        let invites: Vec<(uuid::Uuid, Option<chrono::DateTime<chrono::Utc>>)> =
            sqlx::query_as("SELECT id, revoked_at FROM invites WHERE agency_id = $1 ORDER BY id")
                .bind(acme.id)
                .fetch_all(&app.pool)
                .await
                .unwrap();
        let dead: Vec<(i64, String)> = sqlx::query_as(
            "SELECT id, status FROM webhook_events WHERE agency_id = $1 ORDER BY id",
        )
        .bind(acme.id)
        .fetch_all(&app.pool)
        .await
        .unwrap();
        let chats: Vec<(uuid::Uuid, bool, i32)> = sqlx::query_as(
            "SELECT id, is_read, unread_count FROM chats WHERE agency_id = $1 ORDER BY id",
        )
        .bind(acme.id)
        .fetch_all(&app.pool)
        .await
        .unwrap();
        let sends: i64 = sqlx::query_scalar("SELECT count(*) FROM outbound_sends")
            .fetch_one(&app.pool)
            .await
            .unwrap();
        let sales: Vec<(uuid::Uuid, String, Option<uuid::Uuid>)> = sqlx::query_as(
            "SELECT id, basis, credited_staff_id FROM sales WHERE agency_id = $1 ORDER BY id",
        )
        .bind(acme.id)
        .fetch_all(&app.pool)
        .await
        .unwrap();
        let canned: Vec<(uuid::Uuid, String, String)> = sqlx::query_as(
            "SELECT id, title, body FROM canned_replies WHERE agency_id = $1 ORDER BY id",
        )
        .bind(acme.id)
        .fetch_all(&app.pool)
        .await
        .unwrap();
        let collab: (i64, i64) = sqlx::query_as(
            "SELECT (SELECT count(*) FROM chat_claims), (SELECT count(*) FROM chat_presence)",
        )
        .fetch_one(&app.pool)
        .await
        .unwrap();
        let fan_data: Vec<String> = sqlx::query_scalar(
            "SELECT x FROM (
                SELECT 'note ' || id || ' ' || body || ' ' || updated_at AS x FROM fan_notes
                UNION ALL SELECT 'tag ' || id || ' ' || name || ' ' || colour FROM tags
                UNION ALL SELECT 'on ' || tag_id || ' ' || fan_uuid FROM fan_tags) t ORDER BY x",
        )
        .fetch_all(&app.pool)
        .await
        .unwrap();
        (
            (staff, invites, creators, assignments, requested, dead),
            (chats, sends, sales, collab, fan_data, canned),
        )
    };
    let before = snapshot().await;

    let intruder = app.signed_in(&globex.email("owner")).await;
    let nonexistent = uuid::Uuid::now_v7();
    // Form fields naming Acme's people, for the assignment route.
    let chatter_id = acme.chatter.to_string();
    for (method, template, kind, fields) in ID_ROUTES {
        let targets: Vec<String> = match kind {
            IdKind::Staff => [acme.owner, acme.admin, acme.manager, acme.chatter]
                .iter()
                .map(ToString::to_string)
                .collect(),
            IdKind::Invite => vec![acme_invite.to_string()],
            IdKind::Creator | IdKind::CreatorStaff => vec![acme_creator.to_string()],
            IdKind::WebhookEvent => vec![acme_event.to_string()],
            IdKind::Chat => vec![acme_chat.to_string()],
            IdKind::Sale => vec![acme_sale.to_string()],
            IdKind::Tag => vec![acme_tag.to_string()],
            IdKind::Canned => vec![acme_canned.to_string()],
        };
        let acme_message = acme_message.to_string();
        let (acme_note, acme_tag) = (acme_note.to_string(), acme_tag.to_string());
        let with_staff = |p: String| {
            p.replace("{staff_id}", &chatter_id)
                .replace("{uuid}", &acme_message)
                .replace("{note}", &acme_note)
                .replace("{tag}", &acme_tag)
        };
        let mut fields: Vec<(&str, &str)> = fields.to_vec();
        if template.ends_with("/assignments") {
            fields.push(("staff_id", &chatter_id));
        }
        if template.ends_with("/tags") {
            fields.push(("tag_id", &acme_tag));
        }
        let fields = fields.as_slice();
        // A foreign id must look exactly like an id that does not exist.
        let missing_id = match kind {
            IdKind::WebhookEvent => "987654321".to_owned(),
            _ => nonexistent.to_string(),
        };
        let missing = with_staff(template.replace("{id}", &missing_id));
        let missing_status = match *method {
            "GET" => intruder.get(&missing).await.status(),
            _ => intruder.post_form(&missing, fields).await.status(),
        };
        assert_eq!(missing_status, StatusCode::NOT_FOUND, "{method} {missing}");
        for id in targets {
            let path = with_staff(template.replace("{id}", &id));
            let r = match *method {
                "GET" => intruder.get(&path).await,
                _ => intruder.post_form(&path, fields).await,
            };
            assert_eq!(r.status(), StatusCode::NOT_FOUND, "{method} {path}");
            let body = r.text().await.unwrap();
            assert!(!body.contains("Acme"), "{method} {path} leaks Acme data");
        }
    }
    assert_eq!(before, snapshot().await, "agency A's data changed");
    assert_eq!(
        app.sim().stats().total_requests,
        sim_calls_before,
        "a foreign id reached Fanvue"
    );

    // Lists never show another agency's people.
    let (_, staff_page) = intruder.get_html("/admin/staff").await;
    assert!(!staff_page.contains("acme.test") && staff_page.contains("globex.test"));
    let (_, audit_page) = intruder.get_html("/admin/audit").await;
    assert!(!audit_page.contains("acme.test"));
    let (_, creators_page) = intruder.get_html("/admin/creators").await;
    assert!(
        !creators_page.contains(&acme_creator.to_string())
            && creators_page.contains("No creators yet")
    );
    let (_, home) = intruder.get_html("/").await;
    assert!(home.contains("No creators are connected yet"));

    // Globex's staff cannot be assigned to Acme's creator by Acme either:
    // a staff id of another agency is not found.
    let r = acme_admin
        .post_form(
            &format!("/admin/creators/{acme_creator}/assignments"),
            &[("staff_id", &globex.chatter.to_string())],
        )
        .await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
}
