//! The repository functions on both databases: SQLite always, PostgreSQL when one answers at
//! 127.0.0.1:5432 (a throwaway database per run; the test says SKIPPED otherwise).

mod support;

use protocol::message::*;
use protocol::types::*;
use rcs_server::db::{Acknowledged, AcknowledgedGrant, Db, EnrolledKey, TaskRow};

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
    telemetry(db).await;
    event_log(db).await;
    lifecycle(db).await;
}

/// An AGV taken out of service: left out of the keys loaded, marked with the time its space
/// was cleared, its reservations gone; back in service when it registers again or is enrolled.
async fn lifecycle(db: &Db) {
    let record = |id: u32| async move {
        db.agvs()
            .await
            .unwrap()
            .into_iter()
            .find(|r| r.agv_id == id)
    };
    db.mark_space_cleared(8, 40).await.unwrap();
    assert_eq!(record(8).await.unwrap().space_cleared_at, Some(40));
    assert_eq!(record(7).await.unwrap().decommissioned_at, None);
    db.insert_reservations(7, 1, 0, &[5], &[None])
        .await
        .unwrap();
    assert!(!db.reservations().await.unwrap().is_empty());
    db.decommission(7, 50).await.unwrap();
    let r = record(7).await.unwrap();
    assert_eq!(
        (r.decommissioned_at, r.space_cleared_at),
        (Some(50), Some(50))
    );
    assert!(
        db.enrolled_keys().await.unwrap().is_empty(),
        "its key is still loaded"
    );
    assert!(
        db.reservations()
            .await
            .unwrap()
            .iter()
            .all(|(a, ..)| *a != 7)
    );
    // an AGV never stored (it only ever connected) is recorded decommissioned too
    db.decommission(4242, 50).await.unwrap();
    assert_eq!(record(4242).await.unwrap().decommissioned_at, Some(50));
    // registering again brings it back, with its key
    db.register(7, &registration(), 60).await.unwrap();
    assert_eq!(record(7).await.unwrap().decommissioned_at, None);
    assert_eq!(db.enrolled_keys().await.unwrap().len(), 1);
    db.decommission(7, 70).await.unwrap();
    db.recommission(7).await.unwrap();
    assert_eq!(record(7).await.unwrap().decommissioned_at, None);
    db.decommission(7, 80).await.unwrap();
    db.enroll(7, "PEM-C", "ef", "1234567812345678", 90)
        .await
        .unwrap();
    assert_eq!(record(7).await.unwrap().decommissioned_at, None);
    assert_eq!(db.enrolled_keys().await.unwrap()[0].public_key_pem, "PEM-C");
}

/// Telemetry batches larger than one statement (32 rows on SQLite, 512 on PostgreSQL) and than
/// one SQLite transaction (1,024 rows) are stored whole, every column in its place (the placeholders are `?` on SQLite, `$n` on
/// PostgreSQL): each AGV's last snapshot replaced, never by an older one; the history appended,
/// a row already stored skipped, not an error; pruning takes the oldest slice of the history
/// only and never the last snapshots.
async fn telemetry(db: &Db) {
    use rcs_server::db::TelemetryRow;
    let row = |agv_id: u32, at_ms: u64| TelemetryRow {
        agv_id,
        at_ms,
        map_id: 2,
        x: f64::from(agv_id) + at_ms as f64 / 1000.0,
        y: -1.5,
        theta: 0.25,
        state: 3,
        battery_pct: 87.5,
        navigation_mode: 1,
        charging: agv_id % 2 == 0,
        task_id: 40 + agv_id,
    };
    // 10 batches of 1,100 AGVs (SQLite: two transactions a table, the first four texts of 8
    // statements, the second a text of two 32-row statements, then an 8-row and a 4-row one;
    // PostgreSQL: one transaction, three statements a table)
    let batch =
        |t: u64| -> Vec<TelemetryRow> { (1..=1_100).map(|agv| row(agv, t * 100)).collect() };
    for t in 1..=10 {
        db.write_telemetry(&batch(t), &batch(t)).await.unwrap();
    }
    // again, and an older batch: skipped in the history, not written over the last snapshots;
    // on SQLite its four transactions spread over 1.2 s (three pauses of 400 ms: written at
    // once they take a fraction of that)
    let started = std::time::Instant::now();
    db.write_telemetry_over(
        &batch(4),
        &batch(10),
        std::time::Duration::from_millis(1_200),
    )
    .await
    .unwrap();
    if !db.is_postgres() {
        assert!(
            started.elapsed() >= std::time::Duration::from_millis(1_200),
            "{:?}",
            started.elapsed()
        );
    }
    let latest = db.latest_telemetry().await.unwrap();
    assert_eq!(latest, batch(10));
    let history = db.telemetry_history(7, 0, u64::MAX).await.unwrap();
    assert_eq!(
        history,
        (1..=10).map(|t| row(7, t * 100)).collect::<Vec<_>>()
    );
    assert_eq!(
        db.telemetry_history(7, 300, 500).await.unwrap(),
        vec![row(7, 300), row(7, 400)]
    );
    // prune what is older than 650, 200 ms of it a call: 100 and 200, then 300 and 400, then
    // 500 and 600, then nothing
    assert_eq!(db.prune_telemetry(650, 200).await.unwrap(), 2 * 1_100);
    assert_eq!(
        db.telemetry_history(1_100, 0, 10_000).await.unwrap()[0],
        row(1_100, 300)
    );
    assert_eq!(db.prune_telemetry(650, 200).await.unwrap(), 2 * 1_100);
    assert_eq!(db.prune_telemetry(650, 200).await.unwrap(), 2 * 1_100);
    assert_eq!(db.prune_telemetry(650, 200).await.unwrap(), 0);
    assert_eq!(db.telemetry_history(3, 0, 10_000).await.unwrap().len(), 4);
    // everything older than the end: the history empty, the last snapshots all there
    assert_eq!(db.prune_telemetry(5_000, 10_000).await.unwrap(), 4 * 1_100);
    assert!(db.telemetry_history(3, 0, 10_000).await.unwrap().is_empty());
    assert_eq!(db.latest_telemetry().await.unwrap(), batch(10));
}

/// Event log entries written in bulk (more than one statement and than one transaction; on
/// SQLite several statements in one text) are all stored, in order, every column in its place.
async fn event_log(db: &Db) {
    use rcs_server::db::EventRow;
    let entry = |seq: i64| EventRow {
        at_ms: 1_000 + seq / 10,
        seq,
        actor: format!("agv:{}", seq % 97),
        kind: if seq % 2 == 0 {
            "agv.online"
        } else {
            "agv.state"
        }
        .into(),
        detail: format!(r#"{{"n":{seq}}}"#),
    };
    let all: Vec<EventRow> = (1..=1_100).map(entry).collect();
    db.insert_events(&all).await.unwrap();
    let mut stored = db.events(5_000).await.unwrap();
    stored.retain(|e| e.detail.starts_with(r#"{"n":"#));
    stored.reverse();
    assert_eq!(stored, all);
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
    let finished = db.finished_tasks(150, None, 10).await.unwrap();
    assert_eq!(finished.len(), 1);
    assert_eq!(finished[0].reference.as_deref(), Some("order-1"));
    assert!(db.finished_tasks(201, None, 10).await.unwrap().is_empty());
    assert!(
        db.finished_tasks(150, Some(1), 10)
            .await
            .unwrap()
            .is_empty()
    );
    // the newest `limit` below an id, by id
    for id in [5, 6, 7] {
        db.upsert_task(&TaskRow {
            task_id: id,
            ..done.clone()
        })
        .await
        .unwrap();
    }
    let ids = |rows: Vec<TaskRow>| rows.iter().map(|t| t.task_id).collect::<Vec<_>>();
    assert_eq!(ids(db.finished_tasks(150, None, 2).await.unwrap()), [6, 7]);
    assert_eq!(
        ids(db.finished_tasks(150, Some(7), 2).await.unwrap()),
        [5, 6]
    );
    assert_eq!(
        ids(db.finished_tasks(150, Some(6), 9).await.unwrap()),
        [1, 5]
    );
    assert_eq!(db.max_task_id().await.unwrap(), 7);
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
    let checked = db.check().await.unwrap();
    assert_eq!(
        checked.figures["sqlite integrity_check ok"],
        1,
        "{}",
        checked.text()
    );
    check_finds_what_is_wrong(&db).await;
}

/// On SQLite the telemetry lives in a file of its own beside the database, created 0600, so
/// no decision waits for the telemetry writer: with the telemetry file's write lock held, a
/// decision still commits (in one file, behind one connection, every decision waited for the
/// writer's transaction in hand: at 10,000 AGVs most of a command's p99). A database written
/// before the split has its telemetry moved into that file on the next start (a newer last
/// snapshot already there kept, a history row already there not doubled), and the check reads
/// both files.
#[tokio::test]
async fn sqlite_telemetry_in_a_file_of_its_own() {
    use rcs_server::db::{EventRow, TelemetryRow};
    use sqlx::sqlite::SqliteConnectOptions;
    let dir = tempfile::tempdir().unwrap();
    let url = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("rcs.sqlite").display()
    );
    let telemetry_file = dir.path().join("rcs-telemetry.sqlite");
    let db = Db::open(&url).await.unwrap();
    db.migrate().await.unwrap();
    db.close().await;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&telemetry_file)
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "{}", telemetry_file.display());
    }
    let row = |agv_id: u32, at_ms: u64| TelemetryRow {
        agv_id,
        at_ms,
        map_id: 1,
        x: f64::from(agv_id),
        y: at_ms as f64,
        theta: 0.5,
        state: 2,
        battery_pct: 50.0,
        navigation_mode: 0,
        charging: false,
        task_id: 9,
    };
    // the rows an earlier version left in the database's own tables, and a last snapshot of
    // AGV 1 newer than its one there already in the telemetry file (a move cut short)
    let insert = |table: &str, r: TelemetryRow| {
        format!(
            "INSERT INTO {table} (agv_id, at_ms, map_id, x, y, theta, state, battery_pct, \
             navigation_mode, charging, task_id) VALUES ({}, {}, 1, {}, {}, 0.5, 2, 50.0, 0, \
             0, 9)",
            r.agv_id, r.at_ms, r.x, r.y
        )
    };
    let main = sqlx::SqlitePool::connect(&url).await.unwrap();
    let telemetry =
        sqlx::SqlitePool::connect_with(SqliteConnectOptions::new().filename(&telemetry_file))
            .await
            .unwrap();
    for r in [row(1, 100), row(2, 100)] {
        sqlx::raw_sql(&insert("telemetry_latest", r))
            .execute(&main)
            .await
            .unwrap();
    }
    for r in [row(1, 50), row(1, 100), row(2, 100)] {
        sqlx::raw_sql(&insert("telemetry", r))
            .execute(&main)
            .await
            .unwrap();
    }
    for (table, r) in [("telemetry_latest", row(1, 200)), ("telemetry", row(1, 50))] {
        sqlx::raw_sql(&insert(table, r))
            .execute(&telemetry)
            .await
            .unwrap();
    }

    let db = Db::open(&url).await.unwrap();
    db.migrate().await.unwrap();
    assert_eq!(
        db.latest_telemetry().await.unwrap(),
        [row(1, 200), row(2, 100)]
    );
    assert_eq!(
        db.telemetry_history(1, 0, 1_000).await.unwrap(),
        [row(1, 50), row(1, 100)]
    );
    assert_eq!(
        db.telemetry_history(2, 0, 1_000).await.unwrap(),
        [row(2, 100)]
    );
    let left: i64 = sqlx::query_scalar(
        "SELECT (SELECT count(*) FROM telemetry_latest) + (SELECT count(*) FROM telemetry)",
    )
    .fetch_one(&main)
    .await
    .unwrap();
    assert_eq!(left, 0, "the database's own telemetry tables are emptied");
    // a second start finds nothing to move and changes nothing
    db.migrate().await.unwrap();
    assert_eq!(
        db.latest_telemetry().await.unwrap(),
        [row(1, 200), row(2, 100)]
    );
    let checked = db.check().await.unwrap();
    assert!(checked.ok(), "{}", checked.text());
    assert_eq!(checked.figures["sqlite integrity_check ok"], 1);
    assert_eq!(
        checked.figures["sqlite telemetry file integrity_check ok"],
        1
    );

    // another connection holds the telemetry file's write lock ...
    let mut held = telemetry.begin().await.unwrap();
    sqlx::raw_sql(&insert("telemetry", row(3, 300)))
        .execute(&mut *held)
        .await
        .unwrap();
    let impatient = sqlx::SqlitePool::connect_with(
        SqliteConnectOptions::new()
            .filename(&telemetry_file)
            .busy_timeout(std::time::Duration::ZERO),
    )
    .await
    .unwrap();
    let locked = sqlx::raw_sql(&insert("telemetry", row(4, 300)))
        .execute(&impatient)
        .await
        .unwrap_err();
    assert!(locked.to_string().contains("locked"), "{locked}");
    // ... and decisions commit all the same
    tokio::time::timeout(std::time::Duration::from_secs(2), async {
        db.insert_event(&EventRow {
            at_ms: 1,
            seq: 1,
            actor: "operator".into(),
            kind: "agv.command".into(),
            detail: "{}".into(),
        })
        .await
        .unwrap();
        db.upsert_task(&TaskRow {
            task_id: 77,
            kind: "move".into(),
            agv_id: Some(1),
            state: "running".into(),
            spec: "{}".into(),
            created_by: "operator".into(),
            created_at: 1,
            updated_at: 1,
            reference: None,
        })
        .await
        .unwrap();
    })
    .await
    .expect("a decision waited for the telemetry file's lock");
    held.rollback().await.unwrap();
    db.write_telemetry(&[row(3, 400)], &[row(3, 400)])
        .await
        .unwrap();
    assert_eq!(
        db.telemetry_history(3, 0, 1_000).await.unwrap(),
        [row(3, 400)]
    );
}

/// The telemetry file holds the last poses from which a restart blocks the space of offline
/// AGVs, so a start whose telemetry file is not the database's (lost and created anew, or
/// another database's) is refused with an error naming the file, and stays refused; an empty
/// file (0 bytes) put in its place is the operator's consent: the start goes on without the
/// telemetry, the decisions kept, and the next start needs nothing more. A database from before
/// the split (never paired, no telemetry file) starts, its telemetry moved, and is paired.
#[tokio::test]
async fn a_start_with_a_telemetry_file_not_the_databases_is_refused() {
    use rcs_server::db::TelemetryRow;
    let dir = tempfile::tempdir().unwrap();
    let url_in = |name: &str| {
        format!(
            "sqlite://{}?mode=rwc",
            dir.path().join(format!("{name}.sqlite")).display()
        )
    };
    let file =
        |name: &str, suffix: &str| dir.path().join(format!("{name}-telemetry.sqlite{suffix}"));
    let remove = |name: &str| {
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(file(name, suffix));
        }
    };
    let last = TelemetryRow {
        agv_id: 5,
        at_ms: 1_000,
        map_id: 1,
        x: 3.0,
        y: 4.0,
        theta: 0.0,
        state: 1,
        battery_pct: 90.0,
        navigation_mode: 0,
        charging: false,
        task_id: 0,
    };
    let start = |name: &'static str| {
        let url = url_in(name);
        async move {
            let db = Db::open(&url).await.unwrap();
            let migrated = db.migrate().await;
            (db, migrated)
        }
    };
    for name in ["rcs", "other"] {
        let (db, migrated) = start(name).await;
        migrated.unwrap();
        db.register(5, &registration(), 3).await.unwrap();
        db.write_telemetry(&[last], &[last]).await.unwrap();
        db.close().await;
    }

    // lost: created anew by the start, which is refused, and so is the next
    remove("rcs");
    for _ in 0..2 {
        let (db, migrated) = start("rcs").await;
        let refused = migrated.unwrap_err().to_string();
        assert!(
            refused.contains("is not the one this database was written with")
                && refused.contains(&*file("rcs", "").to_string_lossy()),
            "{refused}"
        );
        db.close().await;
    }
    // another database's
    remove("rcs");
    std::fs::copy(file("other", ""), file("rcs", "")).unwrap();
    let (db, migrated) = start("rcs").await;
    assert!(migrated.is_err());
    db.close().await;
    // emptied by the operator: the start goes on without the telemetry
    remove("rcs");
    std::fs::write(file("rcs", ""), b"").unwrap();
    let (db, migrated) = start("rcs").await;
    migrated.unwrap();
    assert!(db.latest_telemetry().await.unwrap().is_empty());
    assert_eq!(
        db.agvs().await.unwrap().len(),
        1,
        "the database's own rows kept"
    );
    db.write_telemetry(&[last], &[last]).await.unwrap();
    db.close().await;
    let (db, migrated) = start("rcs").await;
    migrated.unwrap();
    assert_eq!(db.latest_telemetry().await.unwrap(), [last]);
    db.close().await;

    // a database from before the split: never paired, no telemetry file, its last snapshots in
    // its own table; the start moves them and pairs the new file
    remove("rcs");
    let main = sqlx::SqlitePool::connect(&url_in("rcs")).await.unwrap();
    sqlx::raw_sql(
        "PRAGMA user_version = 0; INSERT INTO telemetry_latest (agv_id, at_ms, map_id, x, y, \
         theta, state, battery_pct, navigation_mode, charging, task_id) \
         VALUES (5, 1000, 1, 3.0, 4.0, 0.0, 1, 90.0, 0, 0, 0)",
    )
    .execute(&main)
    .await
    .unwrap();
    main.close().await;
    for _ in 0..2 {
        let (db, migrated) = start("rcs").await;
        migrated.unwrap();
        assert_eq!(db.latest_telemetry().await.unwrap(), [last]);
        db.close().await;
    }
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
    let checked = db.check().await.unwrap();
    assert!(
        checked.notes.iter().any(|n| n.contains("amcheck")),
        "without amcheck, a note says what was not checked: {}",
        checked.text()
    );
    db.execute_raw("CREATE EXTENSION IF NOT EXISTS amcheck")
        .await
        .unwrap();
    let checked = db.check().await.unwrap();
    assert!(
        checked.figures["postgresql indexes checked (bt_index_check)"] >= 8,
        "{}",
        checked.text()
    );
    check_finds_what_is_wrong(&db).await;
    db.close().await;
    support::postgres::drop(&url).await;
}

/// `Db::check` on the rows `exercise` and `concurrent_stores_of_a_new_task` left: consistent;
/// then each kind of inconsistency is found, and what clients were told is checked against the
/// rows.
async fn check_finds_what_is_wrong(db: &Db) {
    let checked = db.check().await.unwrap();
    assert!(checked.ok(), "{}", checked.text());
    assert_eq!(checked.figures["sessions"], 1, "{}", checked.text());
    let task = |task_id: u32, state: &str, spec: &str| TaskRow {
        task_id,
        kind: "move".into(),
        agv_id: Some(7),
        state: state.into(),
        spec: spec.into(),
        created_by: "erp".into(),
        created_at: 100,
        updated_at: 100,
        reference: None,
    };
    db.upsert_task(&task(500, "completed", r#"{"destination":3}"#))
        .await
        .unwrap();
    db.upsert_task(&task(
        501,
        "failed",
        r#"{"destination":3,"error":"no route"}"#,
    ))
    .await
    .unwrap();
    db.upsert_task(&task(502, "running", r#"{"destination":3}"#))
        .await
        .unwrap();
    db.insert_grant(&rcs_server::db::GrantRow {
        grant_id: 40,
        agv_id: 7,
        map_id: 1,
        region: "[]".into(),
        granted_at: 1_000,
        expires_at: 2_000,
    })
    .await
    .unwrap();
    db.insert_reservations(7, 1, 502, &[11], &[None])
        .await
        .unwrap();
    let checked = db.check().await.unwrap();
    assert!(checked.ok(), "{}", checked.text());
    // what the clients were told: stored; one task still running, which a settled check finds
    let mut ack = Acknowledged {
        tasks: vec![500, 501, 502],
        grants: vec![AcknowledgedGrant { agv: 7, grant: 40 }],
    };
    let mut f = db.check().await.unwrap();
    db.check_acknowledged(&ack, false, &mut f).await.unwrap();
    assert!(f.ok(), "{}", f.text());
    assert_eq!(
        f.figures["acknowledged grants still held"],
        1,
        "{}",
        f.text()
    );
    let mut f = db.check().await.unwrap();
    db.check_acknowledged(&ack, true, &mut f).await.unwrap();
    assert_eq!(f.problems.len(), 1, "{}", f.text());
    assert!(f.problems[0].contains("502 (running)"), "{}", f.text());
    // told of a task and a grant that are not stored, and of a grant for another AGV
    ack.tasks.push(503);
    ack.grants.push(AcknowledgedGrant { agv: 7, grant: 41 });
    ack.grants.push(AcknowledgedGrant { agv: 8, grant: 40 });
    let mut f = db.check().await.unwrap();
    db.check_acknowledged(&ack, false, &mut f).await.unwrap();
    let text = f.text();
    assert_eq!(f.problems.len(), 3, "{text}");
    assert!(text.contains("not stored: 503"), "{text}");
    assert!(text.contains("41 (AGV 7)"), "{text}");
    assert!(text.contains("40 (AGV 8, stored for 7)"), "{text}");

    // rows that do not fit together
    db.open_session(2, 7, "Normal", "Guide", "127.0.0.1:5001", 30)
        .await
        .unwrap(); // never closed
    db.upsert_task(&task(504, "failed", r#"{"destination":3}"#))
        .await
        .unwrap(); // no reason
    db.upsert_task(&TaskRow {
        agv_id: None,
        ..task(505, "running", r#"{"destination":3}"#)
    })
    .await
    .unwrap(); // running, no AGV
    db.insert_reservations(7, 1, 999, &[12], &[None])
        .await
        .unwrap(); // a task never stored
    db.insert_reservations(9, 1, 502, &[13], &[None])
        .await
        .unwrap(); // an AGV never registered
    db.execute_raw("UPDATE grants SET release_cause = 'released' WHERE grant_id = 40")
        .await
        .unwrap(); // an end without its time
    let f = db.check().await.unwrap();
    let text = f.text();
    assert_eq!(f.problems.len(), 6, "{text}");
    for expected in [
        "sessions still open",
        "failed tasks without a reason: 504",
        "running tasks without an AGV: 505",
        "of tasks that are not stored: 7/12/999",
        "of AGVs never registered: 9/13",
        "recorded in part, or before they began: 40",
    ] {
        assert!(text.contains(expected), "{expected}: {text}");
    }
    // put back as it was
    db.close_session(2, "closed", 40).await.unwrap();
    db.release_reservations(7, &[]).await.unwrap();
    db.release_reservations(9, &[]).await.unwrap();
    db.execute_raw("DELETE FROM tasks WHERE task_id >= 500")
        .await
        .unwrap();
    db.execute_raw("DELETE FROM grants").await.unwrap();
    assert!(db.check().await.unwrap().ok());
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
    // the instance before left its sessions open (it was killed): the start closed them as
    // such, and no other AGV's session was closed as if it were AGV 7's
    let others: Vec<(Option<String>, i64)> = sqlx::query_as(
        "SELECT close_cause, count(*) FROM sessions WHERE agv_id <> 7 GROUP BY close_cause",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(
        others,
        vec![(Some(rcs_server::db::SESSION_LEFT_OPEN.to_owned()), 300)],
        "{others:?}"
    );
    pool.close().await;
}
