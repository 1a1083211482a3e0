//! The vda5050_vehicles table: which AGV id each VDA 5050 vehicle (manufacturer and serial
//! number) has in the fleet.

use sqlx::Row;

use super::Db;

/// One VDA 5050 vehicle's row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vda5050Vehicle {
    /// Manufacturer.
    pub manufacturer: String,
    /// Serial number.
    pub serial_number: String,
    /// Its AGV id.
    pub agv_id: u32,
    /// The version it last spoke (`2.0`, `2.1`, `3.0`; empty: not yet).
    pub version: String,
    /// When the row last changed, UTC ms.
    pub updated_at: i64,
}

impl Db {
    /// Every VDA 5050 vehicle, by AGV id.
    pub async fn vda5050_vehicles(&self) -> Result<Vec<Vda5050Vehicle>, sqlx::Error> {
        let rows = sqlx::query(
            "SELECT manufacturer, serial_number, agv_id, version, updated_at \
             FROM vda5050_vehicles ORDER BY agv_id",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(Vda5050Vehicle {
                    manufacturer: r.try_get(0)?,
                    serial_number: r.try_get(1)?,
                    agv_id: r.try_get::<i64, _>(2)? as u32,
                    version: r.try_get(3)?,
                    updated_at: r.try_get(4)?,
                })
            })
            .collect()
    }

    /// Stores (or moves) a vehicle's AGV id. Fails (a unique violation) when another vehicle
    /// has that id.
    pub async fn set_vda5050_vehicle(&self, v: &Vda5050Vehicle) -> Result<(), sqlx::Error> {
        sqlx::query(
            "INSERT INTO vda5050_vehicles (manufacturer, serial_number, agv_id, version, updated_at) \
             VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (manufacturer, serial_number) DO UPDATE SET agv_id = excluded.agv_id, \
             version = excluded.version, updated_at = excluded.updated_at",
        )
        .bind(&v.manufacturer)
        .bind(&v.serial_number)
        .bind(i64::from(v.agv_id))
        .bind(&v.version)
        .bind(v.updated_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}
