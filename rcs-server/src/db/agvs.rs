//! The agvs table: every AGV that registered or was enrolled, its key, its registration and
//! its life in the fleet (decommissioned, space cleared).

use protocol::message::RegisterRequest;
use sqlx::Row;

use super::{AgvRecord, Db, EnrolledKey};

impl Db {
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
             enrolled_at = $5, decommissioned_at = NULL",
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
            "SELECT agv_id, public_key_pem, distid FROM agvs \
             WHERE public_key_pem IS NOT NULL AND decommissioned_at IS NULL",
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
             registered_at, fp_front, fp_rear, fp_left, fp_right) \
             VALUES ($1, '', $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) \
             ON CONFLICT (agv_id) DO UPDATE SET vendor = $2, model = $3, serial = $4, \
             firmware = $5, agv_type = $6, registered_at = $7, fp_front = $8, fp_rear = $9, \
             fp_left = $10, fp_right = $11, decommissioned_at = NULL",
        )
        .bind(i64::from(agv_id))
        .bind(&req.vendor)
        .bind(&req.model)
        .bind(&req.serial)
        .bind(&req.firmware)
        .bind(i32::from(req.agv_type.to_raw()))
        .bind(now_ms)
        .bind(f64::from(req.footprint.front))
        .bind(f64::from(req.footprint.rear))
        .bind(f64::from(req.footprint.left))
        .bind(f64::from(req.footprint.right))
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

    /// Every AGV that registered or was enrolled, by id.
    pub async fn agvs(&self) -> Result<Vec<AgvRecord>, sqlx::Error> {
        let rows = sqlx::query(
            "SELECT agv_id, vendor, model, serial, firmware, agv_type, public_key_pem, \
             fp_front, fp_rear, fp_left, fp_right, decommissioned_at, space_cleared_at \
             FROM agvs ORDER BY agv_id",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(AgvRecord {
                    agv_id: u32::try_from(r.try_get::<i64, _>(0)?).unwrap_or(0),
                    vendor: r.try_get::<Option<String>, _>(1)?.unwrap_or_default(),
                    model: r.try_get::<Option<String>, _>(2)?.unwrap_or_default(),
                    serial: r.try_get::<Option<String>, _>(3)?.unwrap_or_default(),
                    firmware: r.try_get::<Option<String>, _>(4)?.unwrap_or_default(),
                    agv_type: r
                        .try_get::<Option<i32>, _>(5)?
                        .and_then(|v| u8::try_from(v).ok())
                        .unwrap_or(0),
                    enrolled: r.try_get::<Option<String>, _>(6)?.is_some(),
                    footprint: match (
                        r.try_get::<Option<f64>, _>(7)?,
                        r.try_get::<Option<f64>, _>(8)?,
                        r.try_get::<Option<f64>, _>(9)?,
                        r.try_get::<Option<f64>, _>(10)?,
                    ) {
                        (Some(f), Some(b), Some(l), Some(r)) => Some([f, b, l, r]),
                        _ => None,
                    },
                    decommissioned_at: r.try_get::<Option<i64>, _>(11)?.map(|v| v.max(0) as u64),
                    space_cleared_at: r.try_get::<Option<i64>, _>(12)?.map(|v| v.max(0) as u64),
                })
            })
            .collect()
    }

    /// Records that an operator cleared the space `agv_id` blocked while offline, at `at_ms`:
    /// its last stored pose no longer blocks space after a restart (unless it reports later).
    pub async fn mark_space_cleared(&self, agv_id: u32, at_ms: i64) -> Result<(), sqlx::Error> {
        sqlx::query("UPDATE agvs SET space_cleared_at = $2 WHERE agv_id = $1")
            .bind(i64::from(agv_id))
            .bind(at_ms)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Takes `agv_id` out of service at `at_ms`, in one transaction: marked decommissioned
    /// (its space cleared at the same time; its enrolled key no longer loaded), its
    /// reservations dropped. Its sessions, telemetry, tasks and events are kept.
    pub async fn decommission(&self, agv_id: u32, at_ms: i64) -> Result<(), sqlx::Error> {
        let mut tx = self.decision().await?;
        sqlx::query(
            "INSERT INTO agvs (agv_id, distid, decommissioned_at, space_cleared_at) \
             VALUES ($1, '', $2, $2) \
             ON CONFLICT (agv_id) DO UPDATE SET decommissioned_at = $2, space_cleared_at = $2",
        )
        .bind(i64::from(agv_id))
        .bind(at_ms)
        .execute(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM reservations WHERE agv_id = $1")
            .bind(i64::from(agv_id))
            .execute(&mut *tx)
            .await?;
        tx.commit().await
    }

    /// Undoes [`Self::decommission`]'s mark (the AGV came online while it was being taken
    /// out of service).
    pub async fn recommission(&self, agv_id: u32) -> Result<(), sqlx::Error> {
        sqlx::query("UPDATE agvs SET decommissioned_at = NULL WHERE agv_id = $1")
            .bind(i64::from(agv_id))
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}
