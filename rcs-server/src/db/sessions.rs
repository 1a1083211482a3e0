//! The sessions table: one row per AGV session granted access.

use sqlx::Row;

use super::Db;

impl Db {
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

    /// The highest session id stored (0: none). New session ids continue after it, so ids
    /// stay unique across restarts.
    pub async fn max_session_id(&self) -> Result<u32, sqlx::Error> {
        let max: Option<i64> = sqlx::query("SELECT MAX(session_id) FROM sessions")
            .fetch_one(&self.pool)
            .await?
            .try_get(0)?;
        Ok(max.map_or(0, |m| u32::try_from(m).unwrap_or(u32::MAX)))
    }
}
