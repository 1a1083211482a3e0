//! Persistence: one schema and one set of runtime queries for SQLite (default, WAL) and
//! PostgreSQL, through sqlx's `Any` driver; migrations embedded from `migrations/`.

use protocol::message::RegisterRequest;
use sqlx::AnyPool;
use sqlx::Row;
use sqlx::any::AnyPoolOptions;

/// The database.
#[derive(Debug, Clone)]
pub struct Db {
    pool: AnyPool,
}

/// An enrolled AGV key as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnrolledKey {
    /// The AGV.
    pub agv_id: u32,
    /// Its public key, SPKI PEM.
    pub public_key_pem: String,
    /// Its distinguishing identifier.
    pub distid: String,
}

impl Db {
    /// Connects (creating a SQLite file if needed).
    pub async fn open(url: &str) -> Result<Self, sqlx::Error> {
        sqlx::any::install_default_drivers();
        let sqlite = url.starts_with("sqlite:");
        let pool = AnyPoolOptions::new()
            .max_connections(if sqlite { 1 } else { 8 })
            .connect(url)
            .await?;
        if sqlite {
            sqlx::query("PRAGMA journal_mode=WAL")
                .execute(&pool)
                .await?;
            sqlx::query("PRAGMA synchronous=NORMAL")
                .execute(&pool)
                .await?;
        }
        Ok(Self { pool })
    }

    /// Runs one statement without parameters (administration: creating a test database).
    pub async fn execute_raw(&self, sql: &str) -> Result<(), sqlx::Error> {
        sqlx::raw_sql(sql).execute(&self.pool).await?;
        Ok(())
    }

    /// Closes every connection.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// Applies the embedded migrations.
    pub async fn migrate(&self) -> Result<(), sqlx::migrate::MigrateError> {
        sqlx::migrate!("./migrations").run(&self.pool).await
    }

    /// Enrolls (or replaces) the key of `agv_id`.
    pub async fn enroll(
        &self,
        agv_id: u32,
        public_key_pem: &str,
        key_id_hex: &str,
        distid: &str,
        now_ms: i64,
    ) -> Result<(), sqlx::Error> {
        sqlx::query(
            "INSERT INTO agvs (agv_id, public_key_pem, key_id, distid, enrolled_at) \
             VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (agv_id) DO UPDATE SET public_key_pem = $2, key_id = $3, distid = $4, \
             enrolled_at = $5",
        )
        .bind(i64::from(agv_id))
        .bind(public_key_pem)
        .bind(key_id_hex)
        .bind(distid)
        .bind(now_ms)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Every enrolled key.
    pub async fn enrolled_keys(&self) -> Result<Vec<EnrolledKey>, sqlx::Error> {
        let rows = sqlx::query(
            "SELECT agv_id, public_key_pem, distid FROM agvs WHERE public_key_pem IS NOT NULL",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(EnrolledKey {
                    agv_id: u32::try_from(r.try_get::<i64, _>(0)?).unwrap_or(0),
                    public_key_pem: r.try_get(1)?,
                    distid: r.try_get(2)?,
                })
            })
            .collect()
    }

    /// Records a registration (identity and capabilities).
    pub async fn register(
        &self,
        agv_id: u32,
        req: &RegisterRequest,
        now_ms: i64,
    ) -> Result<(), sqlx::Error> {
        sqlx::query(
            "INSERT INTO agvs (agv_id, distid, vendor, model, serial, firmware, agv_type, \
             registered_at) VALUES ($1, '', $2, $3, $4, $5, $6, $7) \
             ON CONFLICT (agv_id) DO UPDATE SET vendor = $2, model = $3, serial = $4, \
             firmware = $5, agv_type = $6, registered_at = $7",
        )
        .bind(i64::from(agv_id))
        .bind(&req.vendor)
        .bind(&req.model)
        .bind(&req.serial)
        .bind(&req.firmware)
        .bind(i32::from(req.agv_type.to_raw()))
        .bind(now_ms)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The vendor, model and serial recorded for `agv_id`.
    pub async fn registration(
        &self,
        agv_id: u32,
    ) -> Result<Option<(String, String, String)>, sqlx::Error> {
        let row = sqlx::query("SELECT vendor, model, serial FROM agvs WHERE agv_id = $1")
            .bind(i64::from(agv_id))
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?)))
            .transpose()
    }

    /// Logs a session's start.
    pub async fn open_session(
        &self,
        session_id: u32,
        agv_id: u32,
        mode: &str,
        profile: &str,
        peer: &str,
        now_ms: i64,
    ) -> Result<(), sqlx::Error> {
        sqlx::query(
            "INSERT INTO sessions (session_id, agv_id, mode, profile, peer, opened_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(i64::from(session_id))
        .bind(i64::from(agv_id))
        .bind(mode)
        .bind(profile)
        .bind(peer)
        .bind(now_ms)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Logs a session's end.
    pub async fn close_session(
        &self,
        session_id: u32,
        cause: &str,
        now_ms: i64,
    ) -> Result<(), sqlx::Error> {
        sqlx::query("UPDATE sessions SET closed_at = $1, close_cause = $2 WHERE session_id = $3")
            .bind(now_ms)
            .bind(cause)
            .bind(i64::from(session_id))
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}
