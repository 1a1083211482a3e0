//! The repository functions on both databases: SQLite always, PostgreSQL when one answers at
//! 127.0.0.1:5432 (a throwaway database per run; the test says SKIPPED otherwise).

use protocol::message::*;
use protocol::types::*;
use rcs_server::db::{Db, EnrolledKey};

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
}

#[tokio::test]
async fn sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("t.sqlite").display()
    );
    exercise(&Db::open(&url).await.unwrap()).await;
}

#[tokio::test]
async fn postgres_when_available() {
    let admin_url = "postgres://postgres@127.0.0.1:5432/postgres";
    let Ok(admin) = Db::open(admin_url).await else {
        eprintln!("SKIPPED: no PostgreSQL at 127.0.0.1:5432; the PostgreSQL test did not run");
        return;
    };
    let name = format!(
        "rcs_test_{}_{}",
        std::process::id(),
        rcs_server::state::now_ms()
    );
    admin
        .execute_raw(&format!("CREATE DATABASE {name}"))
        .await
        .unwrap();
    let db = Db::open(&format!("postgres://postgres@127.0.0.1:5432/{name}"))
        .await
        .unwrap();
    exercise(&db).await;
    db.close().await;
    admin
        .execute_raw(&format!("DROP DATABASE {name}"))
        .await
        .unwrap();
}
