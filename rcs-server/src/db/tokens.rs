//! The api_tokens table: API tokens by the digest of their secret.

use sqlx::Row;

use super::Db;

impl Db {
    /// Every API token as (digest, name, role).
    pub async fn api_tokens(&self) -> Result<Vec<(String, String, String)>, sqlx::Error> {
        let rows = sqlx::query("SELECT token_digest, name, role FROM api_tokens")
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?)))
            .collect()
    }

    /// Every stored API token as (id, name, role, created at ms), oldest first (no secret:
    /// the id is the start of the digest, see [`crate::auth::token_id`]).
    pub async fn api_token_list(&self) -> Result<Vec<(String, String, String, i64)>, sqlx::Error> {
        let rows =
            sqlx::query("SELECT token_digest, name, role, created_at FROM api_tokens ORDER BY created_at, token_digest")
                .fetch_all(&self.pool)
                .await?;
        rows.iter()
            .map(|r| {
                let digest: String = r.try_get(0)?;
                Ok((
                    crate::auth::token_id(&digest).to_owned(),
                    r.try_get(1)?,
                    r.try_get(2)?,
                    r.try_get(3)?,
                ))
            })
            .collect()
    }

    /// Deletes the stored token with id `id` (revoked); returns its name and role, None when
    /// no token has that id.
    pub async fn revoke_api_token(
        &self,
        id: &str,
    ) -> Result<Option<(String, String)>, sqlx::Error> {
        if id.len() != crate::auth::TOKEN_ID_LEN || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Ok(None);
        }
        let rows = sqlx::query(
            "DELETE FROM api_tokens WHERE substr(token_digest, 1, 16) = $1 RETURNING name, role",
        )
        .bind(id.to_ascii_lowercase())
        .fetch_all(&self.pool)
        .await?;
        rows.first()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
            .transpose()
    }

    /// Stores a token's digest.
    pub async fn insert_api_token(
        &self,
        digest: &str,
        name: &str,
        role: &str,
        now_ms: i64,
    ) -> Result<(), sqlx::Error> {
        sqlx::query(
            "INSERT INTO api_tokens (token_digest, name, role, created_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(digest)
        .bind(name)
        .bind(role)
        .bind(now_ms)
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}
