//! The sessions table: one row per AGV session granted access.

use sqlx::Row;

use super::Db;

/// The close cause of a session a server found still open when it started (or took the lease):
/// the process that had it ended without closing it (killed, crashed).
pub const SESSION_LEFT_OPEN: &str = "left open (server restarted)";

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

    /// Closes every session still open in the log with `cause` at `now_ms`; how many. At the
    /// start of a server (or of a term) no session of this instance is open yet: one still open
    /// was left by a process that ended without closing it (killed, crashed, lost its lease
    /// while the database was out of reach), and its AGV is no longer connected to it.
    pub async fn close_sessions_left_open(
        &self,
        cause: &str,
        now_ms: i64,
    ) -> Result<u64, sqlx::Error> {
        let done = sqlx::query(
            "UPDATE sessions SET closed_at = CASE WHEN opened_at > $1 THEN opened_at ELSE $1 END, \
             close_cause = $2 WHERE closed_at IS NULL",
        )
        .bind(now_ms)
        .bind(cause)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected())
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
