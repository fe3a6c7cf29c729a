//! The mirror's references: every message names an existing chat of its own
//! creator and agency, and deleting a creator takes its chats and messages
//! with it (checked per statement by triggers, see the migration
//! `messages_fk_via_chat`).

use reqwest::StatusCode;
use switchboard::domain::CreatorId;
use uuid::Uuid;

use crate::helpers::*;

async fn spawn_two_mirrored() -> (TestApp, TestClient, CreatorId, CreatorId) {
    let ConnectedCreator {
        app,
        admin,
        id: first,
        ..
    } = TestApp::with_connected_creator_in(
        |c| {
            c.scenario.creators = 2;
            c.scenario.fans_per_creator = 4;
            c.scenario.messages_per_chat = 6;
        },
        |_| {},
    )
    .await;
    let second = app.connect(&admin, app.sim().creator_uuids()[1]).await;
    let engine = app.sync_engine();
    for creator in [first, second] {
        sync_until_idle(&engine, creator).await;
    }
    (app, admin, first, second)
}

async fn count(app: &TestApp, table: &str, creator: CreatorId) -> i64 {
    let sql = match table {
        "chats" => "SELECT count(*) FROM chats WHERE creator_id = $1",
        "messages" => "SELECT count(*) FROM messages WHERE creator_id = $1",
        other => panic!("no count for {other}"),
    };
    sqlx::query_scalar(sql)
        .bind(creator)
        .fetch_one(&app.pool)
        .await
        .unwrap()
}

/// A chat of `creator`: (chat id, agency id).
async fn a_chat(app: &TestApp, creator: CreatorId) -> (Uuid, Uuid) {
    sqlx::query_as("SELECT id, agency_id FROM chats WHERE creator_id = $1 ORDER BY id LIMIT 1")
        .bind(creator)
        .fetch_one(&app.pool)
        .await
        .unwrap()
}

async fn insert(app: &TestApp, rows: &[(CreatorId, Uuid, Uuid)]) -> Result<u64, sqlx::Error> {
    let mut qb = sqlx::QueryBuilder::new(
        "INSERT INTO messages (creator_id, uuid, agency_id, chat_id, direction, kind, source) ",
    );
    qb.push_values(rows, |mut b, (creator, agency, chat)| {
        b.push_bind(*creator)
            .push_bind(Uuid::now_v7())
            .push_bind(*agency)
            .push_bind(*chat)
            .push_bind("in")
            .push_bind("SINGLE_RECIPIENT")
            .push_bind("test");
    });
    qb.build()
        .execute(&app.pool)
        .await
        .map(|r| r.rows_affected())
}

fn is_fk_violation(r: Result<u64, sqlx::Error>) -> bool {
    match r {
        Err(sqlx::Error::Database(e)) => e.code().as_deref() == Some("23503"),
        _ => false,
    }
}

#[tokio::test]
async fn a_message_must_name_a_chat_of_its_own_creator_and_agency() {
    let (app, _admin, first, second) = spawn_two_mirrored().await;
    let (chat, agency) = a_chat(&app, first).await;
    let (other_chat, _) = a_chat(&app, second).await;
    let before = count(&app, "messages", first).await;
    assert!(before > 0, "the backfill mirrored messages");

    assert_eq!(insert(&app, &[(first, agency, chat)]).await.unwrap(), 1);
    assert!(
        is_fk_violation(insert(&app, &[(first, agency, Uuid::now_v7())]).await),
        "an unknown chat is refused"
    );
    assert!(
        is_fk_violation(insert(&app, &[(first, agency, other_chat)]).await),
        "another creator's chat is refused"
    );
    assert!(
        is_fk_violation(insert(&app, &[(first, Uuid::now_v7(), chat)]).await),
        "another agency is refused"
    );
    // One bad row sinks its statement: nothing of it is stored.
    assert!(is_fk_violation(
        insert(&app, &[(first, agency, chat), (first, agency, other_chat)]).await
    ));
    assert_eq!(count(&app, "messages", first).await, before + 1);

    // A stored message keeps its chat; other fields stay writable.
    let moved = sqlx::query("UPDATE messages SET chat_id = $2 WHERE creator_id = $1")
        .bind(first)
        .bind(other_chat)
        .execute(&app.pool)
        .await;
    assert!(is_fk_violation(moved.map(|r| r.rows_affected())));
    let edited = sqlx::query("UPDATE messages SET text = 'edited' WHERE creator_id = $1")
        .bind(first)
        .execute(&app.pool)
        .await
        .unwrap();
    assert_eq!(edited.rows_affected() as i64, before + 1);
}

#[tokio::test]
async fn purging_a_creator_removes_its_chats_and_messages_and_nothing_else() {
    let (app, admin, first, second) = spawn_two_mirrored().await;
    let kept = count(&app, "messages", second).await;
    assert!(count(&app, "messages", first).await > 0 && kept > 0);
    for form in [&[][..], &[("purge", "on")][..]] {
        let r = admin
            .post_form(&format!("/admin/creators/{first}/disconnect"), form)
            .await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
    }
    assert_eq!(count(&app, "chats", first).await, 0);
    assert_eq!(count(&app, "messages", first).await, 0);
    assert_eq!(count(&app, "messages", second).await, kept);
}

#[tokio::test]
async fn a_chat_being_written_to_cannot_be_deleted_until_the_writer_commits() {
    let (app, _admin, first, _second) = spawn_two_mirrored().await;
    let (chat, agency) = a_chat(&app, first).await;
    let mut writer = app.pool.begin().await.unwrap();
    sqlx::query(
        "INSERT INTO messages (creator_id, uuid, agency_id, chat_id, direction, kind, source)
         VALUES ($1, $2, $3, $4, 'in', 'SINGLE_RECIPIENT', 'test')",
    )
    .bind(first)
    .bind(Uuid::now_v7())
    .bind(agency)
    .bind(chat)
    .execute(&mut *writer)
    .await
    .unwrap();

    // The insert holds its chat key-share locked, as a foreign key would.
    let mut deleter = app.pool.begin().await.unwrap();
    sqlx::query("SET LOCAL lock_timeout = '300ms'")
        .execute(&mut *deleter)
        .await
        .unwrap();
    let blocked = sqlx::query("DELETE FROM creators WHERE id = $1")
        .bind(first)
        .execute(&mut *deleter)
        .await;
    match blocked {
        Err(sqlx::Error::Database(e)) => assert_eq!(e.code().as_deref(), Some("55P03")),
        other => panic!("delete should wait for the writer: {other:?}"),
    }
    drop(deleter);

    writer.commit().await.unwrap();
    sqlx::query("DELETE FROM creators WHERE id = $1")
        .bind(first)
        .execute(&app.pool)
        .await
        .unwrap();
    assert_eq!(count(&app, "messages", first).await, 0, "no orphan left");
}

#[tokio::test]
async fn reconcile_sees_only_the_chats_of_the_leases_agency() {
    let app = TestApp::spawn_with_sim(
        |c| {
            c.scenario.creators = 1;
            c.scenario.fans_per_creator = 3;
            c.scenario.messages_per_chat = 2;
        },
        |_| {},
    )
    .await;
    let acme = app.agency("Acme").await;
    let other = app.agency("Other").await;
    let admin = app.signed_in(&acme.email("admin")).await;
    let creator = app.connect(&admin, app.sim().creator_uuids()[0]).await;
    sync_until_idle(&app.sync_engine(), creator).await;

    let fans = switchboard::store::chats::known_fans(&app.pool, acme.id, creator)
        .await
        .unwrap();
    assert_eq!(fans.len(), 3);
    // The same creator id under another agency's scope finds nothing.
    let leaked = switchboard::store::chats::known_fans(&app.pool, other.id, creator)
        .await
        .unwrap();
    assert!(leaked.is_empty(), "another agency's scope saw {leaked:?}");
}

/// A sync write and a webhook round on one chat at once. The round locks
/// its chats first and then writes messages; a sync write used to insert
/// its messages first and lock the chat in the messages' trigger, so with
/// the round then writing a message the sync write held, each waited for
/// the other and Postgres aborted one ("deadlock detected", hundreds in the
/// full soak). Writers of messages now take the chat first: the sync write
/// waits for the round, then applies.
#[tokio::test]
async fn a_sync_write_and_a_webhook_round_on_one_chat_do_not_deadlock() {
    let (app, _admin, creator, _) = spawn_two_mirrored().await;
    let pool = &app.pool;
    let (agency, chat, fan): (Uuid, Uuid, Uuid) = sqlx::query_as(
        "SELECT agency_id, id, fan_uuid FROM chats WHERE creator_id = $1 ORDER BY id LIMIT 1",
    )
    .bind(creator)
    .fetch_one(pool)
    .await
    .unwrap();
    let message = Uuid::now_v7();
    let at = chrono::Utc::now();

    // The round: its chat locked, as `lock_chats` does.
    let mut round = pool.begin().await.unwrap();
    sqlx::query("SELECT 1 FROM chats WHERE id = $1 FOR UPDATE")
        .bind(chat)
        .execute(&mut *round)
        .await
        .unwrap();

    // The sync write of the same message, from another connection.
    let mut sync = pool.begin().await.unwrap();
    let sync_pid: i32 = sqlx::query_scalar("SELECT pg_backend_pid()")
        .fetch_one(&mut *sync)
        .await
        .unwrap();
    let writing = tokio::spawn(async move {
        let m = switchboard::store::messages::MessageUpsert {
            uuid: message,
            ..seed_message(fan, false, Some("from the sync"), at)
        };
        let r = switchboard::store::messages::upsert_messages(
            &mut sync,
            switchboard::domain::AgencyId::from_uuid(agency),
            creator,
            &[m],
            switchboard::domain::MessageSource::Reconcile,
        )
        .await;
        match r {
            Ok(_) => sync.commit().await.map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        }
    });
    assert!(
        waits_on_a_lock(pool, sync_pid).await,
        "the sync write waits for the round's chat"
    );

    // The round writes the same message (its webhook) and commits.
    let inserted = sqlx::query(
        "INSERT INTO messages (creator_id, uuid, agency_id, chat_id, sender_uuid, direction, text, sent_at,
             kind, source)
         VALUES ($1, $2, $3, $4, $5, 'in', 'from the webhook', $6, 'SINGLE_RECIPIENT', 'webhook')
         ON CONFLICT (creator_id, uuid) DO NOTHING",
    )
    .bind(creator)
    .bind(message)
    .bind(agency)
    .bind(chat)
    .bind(fan)
    .bind(at)
    .execute(&mut *round)
    .await;
    assert!(
        inserted.is_ok(),
        "the round's write went through: {inserted:?}"
    );
    round.commit().await.unwrap();
    let synced = writing.await.unwrap();
    assert!(
        synced.is_ok(),
        "the sync write went through after the round: {synced:?}"
    );
    let text: String =
        sqlx::query_scalar("SELECT text FROM messages WHERE creator_id = $1 AND uuid = $2")
            .bind(creator)
            .bind(message)
            .fetch_one(pool)
            .await
            .unwrap();
    assert_eq!(text, "from the sync", "the later write's copy stands");
}
