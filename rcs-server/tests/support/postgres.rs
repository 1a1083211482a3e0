//! Throwaway PostgreSQL databases on the server at 127.0.0.1:5432 (trust auth), for the tests
//! that need one (rcs-server's and agv-sim's tests); they say SKIPPED when none answers.

use rcs_server::db::Db;

const ADMIN: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// A fresh, migrated database and its URL, or none (printing SKIPPED for `test`) without
/// PostgreSQL. `tag` keeps the names of tests running at the same moment apart.
pub async fn throwaway(test: &str, tag: &str) -> Option<(Db, String)> {
    let Ok(admin) = Db::open(ADMIN).await else {
        eprintln!("SKIPPED: no PostgreSQL at 127.0.0.1:5432; {test} did not run");
        return None;
    };
    let name = format!(
        "rcs_test_{tag}_{}_{}",
        std::process::id(),
        rcs_server::state::now_ms()
    );
    admin
        .execute_raw(&format!("CREATE DATABASE {name}"))
        .await
        .unwrap();
    admin.close().await;
    let url = format!("postgres://postgres@127.0.0.1:5432/{name}");
    let db = Db::open(&url).await.unwrap();
    db.migrate().await.unwrap();
    Some((db, url))
}

/// Drops the database behind `url` (FORCE: a connection a pool dropped, or a killed process
/// left, may still be open on the server's side).
pub async fn drop(url: &str) {
    let name = url.rsplit('/').next().unwrap();
    let name = name.split('?').next().unwrap();
    if let Ok(admin) = Db::open(ADMIN).await {
        admin
            .execute_raw(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            .await
            .unwrap();
        admin.close().await;
    }
}
