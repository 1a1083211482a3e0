//! The HTTP API (axum) for operators and business systems: bearer tokens with roles, one
//! [`ApiError`] shape for every failure, JSON bodies, server-sent events, Prometheus metrics and a
//! generated OpenAPI document (`GET /api/openapi.json`).

pub(crate) mod agvs;
mod contract;
pub(crate) mod dashboard;
mod events;
mod grants;
mod lifecycle;
mod live;
mod maps;
mod system;
mod tasks;
mod tokens;
mod vda5050;

use std::sync::Arc;

use axum::Router;
use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post, put};
use serde::Serialize;
use utoipa::OpenApi;

use crate::auth::{Principal, Role};
use crate::state::Shared;
use contract::Complete;

pub use agvs::{AgvDto, CommandRequest, CommandResponse, EnrollRequest, PoseDto};
pub use live::{HeldSpace, LiveAgv, WhoAmI};
pub use tokens::TokenRequest;

/// The API's router over the shared server state.
pub fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/", get(dashboard::index))
        .route("/dashboard/app.js", get(dashboard::script))
        .route("/dashboard/waits.js", get(dashboard::waits))
        .route("/dashboard/i18n.js", get(dashboard::i18n))
        .route("/dashboard/style.css", get(dashboard::style))
        .route("/dashboard/icon.svg", get(dashboard::icon))
        .route("/favicon.ico", get(dashboard::icon))
        .route("/healthz", get(system::healthz))
        .route("/metrics", get(system::metrics))
        .route("/api/v1/cluster", get(system::cluster))
        .route("/api/openapi.json", get(system::openapi))
        .route("/api/v1/agvs", get(agvs::list))
        .route("/api/v1/agvs/enroll", post(agvs::enroll))
        .route(
            "/api/v1/agvs/{id}",
            get(agvs::one).delete(lifecycle::decommission),
        )
        .route("/api/v1/agvs/{id}/commands", post(agvs::command))
        .route("/api/v1/agvs/{id}/policy", put(agvs::set_policy))
        .route("/api/v1/agvs/{id}/space", delete(grants::clear_space))
        .route("/api/v1/grants", get(grants::list))
        .route("/api/v1/safety", get(grants::safety))
        .route("/api/v1/grants/{id}", delete(grants::revoke))
        .route("/api/v1/tasks", get(tasks::list).post(tasks::submit))
        .route("/api/v1/tasks/{id}", get(tasks::one).delete(tasks::cancel))
        .route("/api/v1/waits", get(tasks::waits))
        .route("/api/v1/maps", get(maps::list))
        .route("/api/v1/maps/{id}", get(maps::one))
        .route("/api/v1/site/files", get(maps::site_files))
        .route("/api/v1/events", get(events::events))
        .route("/api/v1/live", get(live::live))
        .route("/api/v1/space", get(live::space))
        .route("/api/v1/whoami", get(live::whoami))
        .route("/api/v1/audit", get(events::audit))
        .route("/api/v1/tokens", post(tokens::create).get(tokens::list))
        .route("/api/v1/tokens/{id}", delete(tokens::revoke))
        .route("/api/v1/server-key", get(system::server_key))
        .route(
            "/api/v1/vda5050/vehicles",
            get(vda5050::list).put(vda5050::set),
        )
        .fallback(|| async { ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such route") })
        // after every route: it applies to those already added
        .method_not_allowed_fallback(|| async {
            ApiError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "this route does not take this method",
            )
        })
        .layer(axum::extract::DefaultBodyLimit::max(
            shared.config.max_body_bytes,
        ))
        .layer(axum::middleware::from_fn_with_state(
            shared.clone(),
            authenticate_first,
        ))
        // outermost: every answer is counted, a refused token's too
        .layer(axum::middleware::from_fn_with_state(
            shared.clone(),
            count_requests,
        ))
        .with_state(shared)
}

/// Counts every HTTP request by method and status, and times it to the answer's head.
async fn count_requests(
    axum::extract::State(shared): axum::extract::State<Arc<Shared>>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    use axum::http::Method;
    let method = match *request.method() {
        Method::GET => "get",
        Method::POST => "post",
        Method::PUT => "put",
        Method::DELETE => "delete",
        Method::HEAD => "head",
        Method::PATCH => "patch",
        Method::OPTIONS => "options",
        _ => "other",
    };
    let started = std::time::Instant::now();
    let response = next.run(request).await;
    let m = &shared.metrics;
    m.http_request_seconds
        .observe(started.elapsed().as_secs_f64());
    m.http_requests
        .get_or_create(&vec![
            ("method", method.to_owned()),
            ("status", response.status().as_u16().to_string()),
        ])
        .inc();
    response
}

/// The token a browser may put in the query (`?access_token=`), where it cannot set headers.
#[derive(serde::Deserialize)]
struct TokenQuery {
    access_token: Option<String>,
}

/// Authentication comes first: a request to an `/api/v1/` path (but the public
/// `/api/v1/cluster`) without a valid token is answered 401 before its path, query or body is
/// looked at, so nothing about them is told to a caller without a token. Roles (403) are checked
/// by each handler.
async fn authenticate_first(
    axum::extract::State(shared): axum::extract::State<Arc<Shared>>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let path = request.uri().path();
    if path.starts_with("/api/v1/") && path != "/api/v1/cluster" {
        let query_token = axum::extract::Query::<TokenQuery>::try_from_uri(request.uri())
            .ok()
            .and_then(|q| q.0.access_token);
        // A token not known here may have been created a moment ago by the CLI or another
        // instance: looked up in the database (at most every 250 ms) before a 401; the
        // handlers' own checks then find it.
        let presented = request
            .headers()
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::to_owned)
            .or(query_token.clone());
        if let Some(t) = presented {
            shared.tokens.check_fresh(t.trim(), &shared.db).await;
        }
        if let Err(e) = authenticate(&shared, request.headers(), query_token.as_deref()) {
            return e.into_response();
        }
    }
    next.run(request).await
}

/// The OpenAPI document.
#[derive(OpenApi)]
#[openapi(
    info(title = "rcs", description = "The rcs AGV cloud control platform's HTTP API."),
    paths(
        system::healthz,
        system::cluster,
        system::metrics,
        agvs::list,
        agvs::one,
        agvs::command,
        agvs::enroll,
        agvs::set_policy,
        lifecycle::decommission,
        maps::list,
        maps::one,
        maps::site_files,
        grants::list,
        grants::revoke,
        grants::safety,
        tasks::submit,
        tasks::list,
        tasks::one,
        tasks::cancel,
        tasks::waits,
        grants::clear_space,
        events::events,
        live::live,
        live::space,
        live::whoami,
        events::audit,
        tokens::create,
        tokens::list,
        tokens::revoke,
        system::server_key,
        vda5050::list,
        vda5050::set,
    ),
    components(schemas(ApiErrorBody, crate::events::FleetEvent, Role)),
    modifiers(&BearerAuth, &Complete),
    security(("bearer" = []))
)]
pub struct ApiDoc;

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// The body of every error answer.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ApiErrorBody {
    /// A stable machine-readable code (`unauthorized`, `forbidden`, `invalid_json`,
    /// `unknown_agv`, `agv_offline`, `agv_refused`, `timeout`, ...).
    pub error: String,
    /// What went wrong, for people.
    pub message: String,
    /// More, where there is more (the AGV's answer to a refused command).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Object)]
    pub detail: Option<serde_json::Value>,
}

/// An API failure: a status and a JSON [`ApiErrorBody`].
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    body: ApiErrorBody,
}

impl ApiError {
    /// An error with `status`, a code and a message.
    pub fn new(status: StatusCode, error: &str, message: impl Into<String>) -> Self {
        Self {
            status,
            body: ApiErrorBody {
                error: error.to_owned(),
                message: message.into(),
                detail: None,
            },
        }
    }

    /// Adds details.
    pub fn with_detail(mut self, detail: serde_json::Value) -> Self {
        self.body.detail = Some(detail);
        self
    }

    fn bad_request(error: &str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, error, message)
    }

    fn internal(e: impl std::fmt::Display) -> Self {
        tracing::error!(error = %e, "API request failed");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "internal error (see the server log)",
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, axum::Json(self.body)).into_response()
    }
}

impl From<JsonRejection> for ApiError {
    fn from(r: JsonRejection) -> Self {
        let status = r.status();
        if status == StatusCode::PAYLOAD_TOO_LARGE {
            return Self::new(
                status,
                "body_too_large",
                "the request body is larger than this server takes (--max-body-bytes)",
            );
        }
        let code = if status == StatusCode::UNSUPPORTED_MEDIA_TYPE {
            "unsupported_media_type"
        } else {
            "invalid_json"
        };
        Self::new(status, code, r.body_text())
    }
}

impl From<PathRejection> for ApiError {
    fn from(r: PathRejection) -> Self {
        Self::bad_request("invalid_path", r.body_text())
    }
}

impl From<QueryRejection> for ApiError {
    fn from(r: QueryRejection) -> Self {
        Self::bad_request("invalid_query", r.body_text())
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(e: sqlx::Error) -> Self {
        Self::internal(e)
    }
}

/// `Json` whose rejections are [`ApiError`]s.
#[derive(Debug, FromRequest)]
#[from_request(via(axum::Json), rejection(ApiError))]
pub struct Json<T>(pub T);

impl<T: Serialize> IntoResponse for Json<T> {
    fn into_response(self) -> Response {
        axum::Json(self.0).into_response()
    }
}

/// `Path` whose rejections are [`ApiError`]s.
#[derive(Debug, FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(ApiError))]
pub struct Path<T>(pub T);

/// `Query` whose rejections are [`ApiError`]s.
#[derive(Debug, FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(ApiError))]
pub struct Query<T>(pub T);

/// Who sent the request, if they may do what `role` may: 401 without a valid token, 403 with
/// a token whose role is below `role`. `query_token` is accepted where browsers cannot set
/// headers (the event stream).
fn authorize(
    shared: &Shared,
    headers: &HeaderMap,
    query_token: Option<&str>,
    role: Role,
) -> Result<Principal, ApiError> {
    let principal = authenticate(shared, headers, query_token)?;
    if principal.role < role {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            format!(
                "this needs the {} role; the token has {}",
                role.as_str(),
                principal.role.as_str()
            ),
        ));
    }
    Ok(principal)
}

/// Who sent the request: 401 without a valid token.
fn authenticate(
    shared: &Shared,
    headers: &HeaderMap,
    query_token: Option<&str>,
) -> Result<Principal, ApiError> {
    let header = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    let Some(token) = header.or(query_token) else {
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "an `Authorization: Bearer <token>` header is required",
        ));
    };
    let Some(principal) = shared.tokens.check(token.trim()) else {
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "unknown token",
        ));
    };
    Ok(principal)
}

/// An AGV id from a path or a body: 0 is no AGV's id (the protocol refuses it), 400
/// `invalid_agv_id`.
fn agv_id(id: u32) -> Result<u32, ApiError> {
    if id == 0 {
        return Err(ApiError::bad_request(
            "invalid_agv_id",
            "AGV ids are 1 to 4294967295 (0 is no AGV's id)",
        ));
    }
    Ok(id)
}

/// A place among the server-sent event streams open at once (`--max-event-streams`), held for
/// as long as its stream: 503 `too_many_streams` when every place is taken.
pub(crate) struct StreamPlace {
    /// Given back when dropped (none: no limit).
    _permit: Option<tokio::sync::OwnedSemaphorePermit>,
}

impl StreamPlace {
    /// Takes a place, if one is free.
    fn take(shared: &Shared) -> Result<Self, ApiError> {
        let Some(places) = shared.stream_places() else {
            return Ok(Self { _permit: None });
        };
        match places.try_acquire_owned() {
            Ok(permit) => Ok(Self {
                _permit: Some(permit),
            }),
            Err(_) => {
                shared.metrics.refused_streams.inc();
                Err(ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "too_many_streams",
                    format!(
                        "{} event streams are open, the most this server keeps \
                         (--max-event-streams): try again later",
                        shared.config.max_event_streams
                    ),
                ))
            }
        }
    }
}

/// A server-sent event stream with a keep-alive comment every 15 s, ending with the server (so
/// graceful shutdown does not wait on subscribers), holding `place` until it ends.
fn sse_until_stop<S>(
    stream: S,
    mut stop: tokio::sync::watch::Receiver<bool>,
    place: StreamPlace,
) -> Response
where
    S: futures_util::Stream<Item = Result<axum::response::sse::Event, std::convert::Infallible>>
        + Send
        + 'static,
{
    let stream = futures_util::StreamExt::take_until(stream, async move {
        let _ = stop.wait_for(|s| *s).await;
    });
    let stream = futures_util::StreamExt::map(stream, move |event| {
        let _held = &place;
        event
    });
    axum::response::sse::Sse::new(stream)
        .keep_alive(
            axum::response::sse::KeepAlive::new().interval(std::time::Duration::from_secs(15)),
        )
        .into_response()
}

/// `CamelCase` to `snake_case`.
fn snake(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 4);
    for (i, c) in name.chars().enumerate() {
        if c.is_ascii_uppercase() {
            if i > 0 {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// The API name of a wire enumeration value (`snake_case` of its variant; `unknown_N` if the
/// table has no such value).
pub fn enum_name(table: &[(u32, &str, &str)], raw: u32) -> String {
    table
        .iter()
        .find(|(v, _, _)| *v == raw)
        .map_or_else(|| format!("unknown_{raw}"), |(_, n, _)| snake(n))
}

/// The wire value of an API enumeration name.
pub fn enum_value(table: &[(u32, &str, &str)], name: &str) -> Option<u32> {
    table
        .iter()
        .find(|(_, n, _)| snake(n) == name)
        .map(|(v, _, _)| *v)
}

/// The names a table accepts, for error messages.
fn enum_names(table: &[(u32, &str, &str)]) -> String {
    table
        .iter()
        .map(|(_, n, _)| snake(n))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The API name of an `AgvState` raw value.
pub fn agv_state_name(raw: u8) -> String {
    enum_name(protocol::types::AgvState::TABLE, raw.into())
}

/// The API name of a `NavigationMode` raw value.
pub fn navigation_mode_name(raw: u8) -> String {
    enum_name(protocol::types::NavigationMode::TABLE, raw.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enum_names_round_trip() {
        use protocol::types::ResultCode;
        for (v, _, _) in ResultCode::TABLE {
            let name = enum_name(ResultCode::TABLE, *v);
            assert_eq!(enum_value(ResultCode::TABLE, &name), Some(*v));
        }
        assert_eq!(enum_name(ResultCode::TABLE, 3), "invalid_parameter");
        assert_eq!(enum_name(ResultCode::TABLE, 999), "unknown_999");
    }
}
