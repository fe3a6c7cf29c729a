//! Staff of one agency can neither read nor change another agency's data by
//! guessing ids: every id-taking route answers 404, exactly as for an id that
//! does not exist, and nothing changes.

use reqwest::StatusCode;

use crate::helpers::*;

#[derive(Clone, Copy, Debug)]
enum IdKind {
    Staff,
    Invite,
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
];

/// Routes with a path parameter that is not a tenant id.
const NOT_TENANT_IDS: &[&str] = &["/static/{file}", "/invite/{token}"];

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
    let app = TestApp::spawn().await;
    let acme = app.agency("Acme").await;
    let globex = app.agency("Globex").await;

    // A pending invitation in Acme to aim at.
    let acme_admin = app.signed_in(&acme.email("admin")).await;
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
        let invites: Vec<(uuid::Uuid, Option<chrono::DateTime<chrono::Utc>>)> =
            sqlx::query_as("SELECT id, revoked_at FROM invites WHERE agency_id = $1 ORDER BY id")
                .bind(acme.id)
                .fetch_all(&app.pool)
                .await
                .unwrap();
        (staff, invites)
    };
    let before = snapshot().await;

    let intruder = app.signed_in(&globex.email("owner")).await;
    let nonexistent = uuid::Uuid::now_v7();
    for (method, template, kind, fields) in ID_ROUTES {
        let targets: Vec<String> = match kind {
            IdKind::Staff => [acme.owner, acme.admin, acme.manager, acme.chatter]
                .iter()
                .map(ToString::to_string)
                .collect(),
            IdKind::Invite => vec![acme_invite.to_string()],
        };
        // A foreign id must look exactly like an id that does not exist.
        let missing = template.replace("{id}", &nonexistent.to_string());
        let missing_status = match *method {
            "GET" => intruder.get(&missing).await.status(),
            _ => intruder.post_form(&missing, fields).await.status(),
        };
        assert_eq!(missing_status, StatusCode::NOT_FOUND, "{method} {missing}");
        for id in targets {
            let path = template.replace("{id}", &id);
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

    // Lists never show another agency's people.
    let (_, staff_page) = intruder.get_html("/admin/staff").await;
    assert!(!staff_page.contains("acme.test") && staff_page.contains("globex.test"));
    let (_, audit_page) = intruder.get_html("/admin/audit").await;
    assert!(!audit_page.contains("acme.test"));
}
