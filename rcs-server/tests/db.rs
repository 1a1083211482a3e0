//! The repository functions on both databases: SQLite always, PostgreSQL when one answers at
//! 127.0.0.1:5432 (a throwaway database per run; the test says SKIPPED otherwise).

mod support;

use protocol::message::*;
use protocol::types::*;
use rcs_server::db::{Db, EnrolledKey, TaskRow};

fn registration() -> RegisterRequest {
    RegisterRequest {
        agv_type: AgvType::Forklift,
        vendor: "Acme".into(),
        model: "FL-12".into(),
        serial: "AMR-0042".into(),
        firmware: "3.4.1".into(),
        footprint: Footprint {
            front: 1.2,
            rear: 0.4,
            left: 0.45,
            right: 0.45,
            height: 2.1,
        },
        speeds: SpeedLimits {
            forward: 2.0,
            reverse: 0.5,
            lateral: 0.0,
            angular: 1.0,
            acceleration: 0.5,
            deceleration: 1.0,
        },
        load_capacity_kg: 1200.0,
        navigation_modes: vec![NavigationMode::Slam],
        maps: vec![],
        actuators: vec![],
        battery: BatteryInfo {
            capacity_wh: 2400.0,
            nominal_voltage: 48.0,
        },
        extensions: vec![],
    }
}

async fn exercise(db: &Db) {
    db.migrate().await.unwrap();
    db.migrate().await.unwrap(); // idempotent
    db.enroll(7, "PEM-A", "ab", "1234567812345678", 1)
        .await
        .unwrap();
    db.enroll(7, "PEM-B", "cd", "1234567812345678", 2)
        .await
        .unwrap(); // replaces
    db.register(7, &registration(), 3).await.unwrap();
    db.register(8, &registration(), 3).await.unwrap(); // registered, never enrolled
    let keys = db.enrolled_keys().await.unwrap();
    assert_eq!(
        keys,
        vec![EnrolledKey {
            agv_id: 7,
            public_key_pem: "PEM-B".into(),
            distid: "1234567812345678".into(),
        }]
    );
    assert_eq!(
        db.registration(7).await.unwrap(),
        Some(("Acme".into(), "FL-12".into(), "AMR-0042".into()))
    );
    assert_eq!(db.registration(9).await.unwrap(), None);
    db.open_session(1, 7, "Secure", "Fast", "127.0.0.1:5000", 10)
        .await
        .unwrap();
    db.close_session(1, "LinkTimeout", 20).await.unwrap();
    tasks(db).await;
}

/// Tasks with and without a reference: stored, found by reference, the reference unique and
/// never changed by an update.
async fn tasks(db: &Db) {
    let row = |task_id: u32, reference: Option<&str>| TaskRow {
        task_id,
        kind: "move".into(),
        agv_id: None,
        state: "queued".into(),
        spec: r#"{"destination":3,"priority":70}"#.into(),
        created_by: "erp".into(),
        created_at: 100,
        updated_at: 100,
        reference: reference.map(str::to_owned),
    };
    let first = row(1, Some("order-1"));
    db.upsert_task(&first).await.unwrap();
    db.upsert_task(&row(2, None)).await.unwrap();
    db.upsert_task(&row(3, None)).await.unwrap(); // many without a reference
    assert_eq!(
        db.task_by_reference("order-1").await.unwrap(),
        Some(first.clone())
    );
    assert_eq!(db.task_by_reference("order-2").await.unwrap(), None);
    // another task with that reference is refused
    assert!(db.upsert_task(&row(4, Some("order-1"))).await.is_err());
    // an update keeps the reference
    let done = TaskRow {
        state: "completed".into(),
        agv_id: Some(7),
        updated_at: 200,
        reference: None,
        ..first.clone()
    };
    db.upsert_task(&done).await.unwrap();
    let stored = db.task_by_reference("order-1").await.unwrap().unwrap();
    assert_eq!(
        (stored.state.as_str(), stored.agv_id, stored.updated_at),
        ("completed", Some(7), 200)
    );
    let open: Vec<u32> = db
        .open_tasks()
        .await
        .unwrap()
        .iter()
        .map(|t| t.task_id)
        .collect();
    assert_eq!(open, [2, 3]);
    let finished = db.finished_tasks(150).await.unwrap();
    assert_eq!(finished.len(), 1);
    assert_eq!(finished[0].reference.as_deref(), Some("order-1"));
    assert!(db.finished_tasks(201).await.unwrap().is_empty());
    assert_eq!(db.max_task_id().await.unwrap(), 3);
}

#[tokio::test]
async fn sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("t.sqlite").display()
    );
    let db = Db::open(&url).await.unwrap();
    exercise(&db).await;
    concurrent_stores_of_a_new_task(&db).await;
}

/// A new task is stored twice at once (the API stores it as submitted while the dispatcher,
/// woken by it, stores it assigned): neither store fails on the task's reference, and the later
/// state is the one kept, whichever commits last. On PostgreSQL two concurrent inserts of a new
/// row raced on the reference's unique index (only the task id's conflict was handled): one
/// failed, and when it was the later state, storage kept the task queued while an AGV ran it.
async fn concurrent_stores_of_a_new_task(db: &Db) {
    for i in 0..100u32 {
        let submitted = TaskRow {
            task_id: 10_000 + i,
            kind: "move".into(),
            agv_id: None,
            state: "queued".into(),
            spec: r#"{"destination":3}"#.into(),
            created_by: "erp".into(),
            created_at: 100,
            updated_at: 100,
            reference: Some(format!("race-{i}")),
        };
        let assigned = TaskRow {
            agv_id: Some(7),
            state: "running".into(),
            updated_at: 101,
            ..submitted.clone()
        };
        let (a, b) = if i % 2 == 0 {
            tokio::join!(db.upsert_task(&submitted), db.upsert_task(&assigned))
        } else {
            let (b, a) = tokio::join!(db.upsert_task(&assigned), db.upsert_task(&submitted));
            (a, b)
        };
        a.unwrap_or_else(|e| panic!("store {i} as submitted: {e}"));
        b.unwrap_or_else(|e| panic!("store {i} as assigned: {e}"));
        let stored = db.task_by_reference(&format!("race-{i}")).await.unwrap();
        assert_eq!(stored, Some(assigned), "store {i}");
    }
}

#[tokio::test]
async fn postgres_when_available() {
    let Some((db, url)) = support::postgres::throwaway("the PostgreSQL test", "db").await else {
        return;
    };
    exercise(&db).await;
    concurrent_stores_of_a_new_task(&db).await;
    db.close().await;
    support::postgres::drop(&url).await;
}

/// Session ids continue after the highest one stored, not from the clock alone: an instance
/// that took over from another (or restarted) within as many seconds as the other had numbered
/// sessions ahead of the clock gave out ids already logged; the session log refused them and a
/// session's end was written on another AGV's row.
#[tokio::test]
async fn session_ids_continue_after_the_stored_ones() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = rcs_server::Config::for_tests(dir.path());
    config.site = Some(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../maps/sites/demo"));
    let db = Db::open(&config.database_url()).await.unwrap();
    db.migrate().await.unwrap();
    // the instance before: 100 AGVs a few times over, numbered on from the second it started
    let start = (rcs_server::state::now_ms() / 1000) as u32;
    for id in start..start + 300 {
        db.open_session(id, 1000 + id % 100, "normal", "guide", "10.0.0.1:1", 0)
            .await
            .unwrap();
    }
    assert_eq!(db.max_session_id().await.unwrap(), start + 299);
    db.close().await;

    let running = support::Running::start(config.clone()).await;
    let events = support::run_agv(&running.server, support::normal_agv(7), |_, e| {
        matches!(e, Some(protocol::session::AgvEvent::Configured(_)))
    })
    .await;
    assert!(
        events
            .iter()
            .any(|e| matches!(e, protocol::session::AgvEvent::Configured(_))),
        "{events:?}"
    );
    running.stop().await;
    let pool = sqlx::SqlitePool::connect(&config.database_url())
        .await
        .unwrap();
    let rows: Vec<(i64, i64, Option<String>)> = sqlx::query_as(
        "SELECT session_id, agv_id, close_cause FROM sessions WHERE agv_id = 7 ORDER BY session_id",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(rows.len(), 1, "AGV 7's session was logged: {rows:?}");
    assert!(rows[0].0 > i64::from(start + 299), "{rows:?}");
    assert!(rows[0].2.is_some(), "and its end, on its own row: {rows:?}");
    let others: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM sessions WHERE close_cause IS NOT NULL AND agv_id <> 7",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(others, 0, "no other AGV's session was closed");
    pool.close().await;
}
