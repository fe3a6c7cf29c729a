//! `switchboard demo` assigns its chatters to its creators: every chatter works at least
//! one creator, not every chatter works all of them, and what the demo reports is what
//! the database holds.

#[path = "api/helpers.rs"]
#[allow(dead_code)]
mod helpers;

use std::collections::BTreeSet;

use helpers::{DropDatabase, test_settings};
use switchboard::demo::DemoArgs;

#[tokio::test]
async fn demo_chatters_are_assigned_to_some_but_not_all_creators() {
    let db = format!("sbtest_{}", uuid::Uuid::new_v4().simple());
    let _database = DropDatabase::new(&db);
    let args = DemoArgs {
        port: 0,
        creators: 3,
        fans: 5,
        messages: 5,
        live_rate: 0.0,
        ..DemoArgs::default()
    };
    let demo = switchboard::demo::start(&args, test_settings(&db))
        .await
        .expect("demo starts");
    let rows: Vec<(String, String)> = sqlx::query_as(
        "SELECT s.email, c.display_name FROM creator_assignments a
         JOIN staff s ON s.id = a.staff_id JOIN creators c ON c.id = a.creator_id
         ORDER BY s.email, c.display_name",
    )
    .fetch_all(&demo.pool)
    .await
    .unwrap();
    let chatters: Vec<String> = demo
        .logins
        .iter()
        .filter(|(_, r)| *r == "Chatter")
        .map(|(e, _)| e.clone())
        .collect();
    assert_eq!(chatters.len(), 3);
    let mut sets = Vec::new();
    for email in &chatters {
        let db_set: BTreeSet<&str> = rows
            .iter()
            .filter(|(e, _)| e == email)
            .map(|(_, c)| c.as_str())
            .collect();
        assert!(!db_set.is_empty(), "{email} works a creator");
        assert!(db_set.len() < 3, "{email} does not work every creator");
        let reported: BTreeSet<&str> = demo
            .assignments
            .iter()
            .find(|(e, _)| e == email)
            .map(|(_, cs)| cs.iter().map(String::as_str).collect())
            .unwrap_or_default();
        assert_eq!(reported, db_set, "{email}: reported = stored");
        sets.push(db_set);
    }
    assert!(
        sets[0] != sets[1] && sets[1] != sets[2],
        "inboxes differ by login"
    );
    assert!(
        rows.iter().all(|(e, _)| chatters.contains(e)),
        "only chatters are assigned"
    );
    demo.shutdown().await.expect("the demo stops cleanly");
}
