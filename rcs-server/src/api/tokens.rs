//! API tokens: created (shown once, stored as a digest), listed without secrets, revoked.
//! Tokens created by the CLI or another instance work at once (a token not known is looked up
//! in the database); revocations through the CLI or another instance within seconds
//! (`auth::Tokens`).

use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{ApiError, Json, Path, authorize};
use crate::auth::{self, Role};
use crate::state::{Shared, now_ms};

/// A token to create.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenRequest {
    /// A name for it (recorded in the audit log with what it does).
    pub name: String,
    /// Its role.
    pub role: Role,
}

/// The new token: shown once, stored only as a digest.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TokenResponse {
    /// Its id (what to revoke it by; not a secret).
    pub id: String,
    /// The name.
    pub name: String,
    /// The role.
    pub role: Role,
    /// The token.
    pub token: String,
}

/// A stored token, without its secret.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TokenInfo {
    /// Its id: the first 16 hex digits of the digest it is stored as.
    pub id: String,
    /// The name.
    pub name: String,
    /// The role.
    pub role: String,
    /// When it was created, ms since the epoch.
    pub created_at_ms: i64,
}

/// Creates an API token (admin): 201 with the token, shown this once.
#[utoipa::path(post, path = "/api/v1/tokens", tag = "system", request_body = TokenRequest,
    responses((status = 201, body = TokenResponse), (status = 400, body = super::ApiErrorBody),
        (status = 401, body = super::ApiErrorBody), (status = 403, body = super::ApiErrorBody)))]
pub(super) async fn create(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    Json(request): Json<TokenRequest>,
) -> Result<(StatusCode, Json<TokenResponse>), ApiError> {
    let who = authorize(&shared, &headers, None, Role::Admin)?;
    let name = request.name.trim();
    if name.is_empty() || name.len() > 64 || name.chars().any(char::is_control) {
        return Err(ApiError::bad_request(
            "invalid_name",
            "the name must be 1 to 64 characters, none of them a control character",
        ));
    }
    let token = auth::generate();
    let digest = auth::digest(&token);
    let id = auth::token_id(&digest).to_owned();
    shared
        .events
        .audit(
            &shared.db,
            "token.created",
            None,
            &who.name,
            json!({ "id": id, "name": name, "role": request.role.as_str() }),
        )
        .await?;
    shared
        .db
        .insert_api_token(&digest, name, request.role.as_str(), now_ms() as i64)
        .await?;
    shared.tokens.insert(&token, name, request.role);
    Ok((
        StatusCode::CREATED,
        Json(TokenResponse {
            id,
            name: name.to_owned(),
            role: request.role,
            token,
        }),
    ))
}

/// The stored tokens (admin), oldest first, without secrets. The admin token from
/// `RCS_API_TOKEN` or the data dir's `api-token` file is not among them (it is changed where it
/// is configured).
#[utoipa::path(get, path = "/api/v1/tokens", tag = "system",
    responses((status = 200, body = [TokenInfo]), (status = 401, body = super::ApiErrorBody),
        (status = 403, body = super::ApiErrorBody)))]
pub(super) async fn list(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
) -> Result<Json<Vec<TokenInfo>>, ApiError> {
    authorize(&shared, &headers, None, Role::Admin)?;
    let rows = shared.db.api_token_list().await?;
    Ok(Json(
        rows.into_iter()
            .map(|(id, name, role, created_at_ms)| TokenInfo {
                id,
                name,
                role,
                created_at_ms,
            })
            .collect(),
    ))
}

/// Revokes a stored token (admin): 204; it answers 401 from then on, on this instance at once
/// and on others within seconds. 404 `unknown_token` when no stored token has that id.
#[utoipa::path(delete, path = "/api/v1/tokens/{id}", tag = "system",
    params(("id" = String, Path, description = "the token's id (16 hex digits)")),
    responses((status = 204, description = "revoked"), (status = 401, body = super::ApiErrorBody),
        (status = 403, body = super::ApiErrorBody), (status = 404, body = super::ApiErrorBody)))]
pub(super) async fn revoke(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let who = authorize(&shared, &headers, None, Role::Admin)?;
    let id = id.to_ascii_lowercase();
    let unknown = || {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "unknown_token",
            "no stored token has this id",
        )
    };
    let Some((_, name, role, _)) = shared
        .db
        .api_token_list()
        .await?
        .into_iter()
        .find(|t| t.0 == id)
    else {
        return Err(unknown());
    };
    shared
        .events
        .audit(
            &shared.db,
            "token.revoked",
            None,
            &who.name,
            json!({ "id": id, "name": name, "role": role }),
        )
        .await?;
    if shared.db.revoke_api_token(&id).await?.is_none() {
        return Err(unknown());
    }
    shared.tokens.forget(&id);
    Ok(StatusCode::NO_CONTENT)
}
