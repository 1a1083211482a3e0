//! A standby instance of a cluster ([`crate::cluster`]): its HTTP API (health, cluster status,
//! reads from the database's view, mutations refused naming the active instance) and its AGV
//! port (every AGV sent to the active instance).

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tower::ServiceExt;

use crate::cluster::ClusterStatus;
use crate::config::Config;
use crate::db::Db;
use crate::lease::Lease;
use crate::{ServerError, api};

/// How old a standby's view of the database may be before a read rebuilds it.
pub const VIEW_MAX_AGE: Duration = Duration::from_secs(2);

/// State of the standby's HTTP API.
#[derive(Clone)]
struct StandbyState {
    lease: Lease,
    terms: u64,
    config: Config,
    db: Db,
    /// The last view read from the database (the API over it) and when it was read.
    view: Arc<tokio::sync::Mutex<Option<(axum::Router, Instant)>>>,
}

impl StandbyState {
    /// The API over the database's view, read again when older than [`VIEW_MAX_AGE`] (one
    /// read at a time; readers meanwhile wait for it); and its age.
    async fn view(&self) -> Result<(axum::Router, Duration), ServerError> {
        let mut view = self.view.lock().await;
        if let Some((router, at)) = view.as_ref()
            && at.elapsed() < VIEW_MAX_AGE
        {
            return Ok((router.clone(), at.elapsed()));
        }
        let shared = crate::snapshot(self.config.clone(), self.db.clone()).await?;
        let router = api::router(shared);
        *view = Some((router.clone(), Instant::now()));
        Ok((router, Duration::ZERO))
    }
}

/// The standby's HTTP API: `/healthz` and `/api/v1/cluster` of its own; every other read
/// answered by the active instance's API over the database's view (tasks as stored, AGVs
/// offline at their last stored pose, held space, the site); every mutation refused with 503
/// `standby` naming the active instance.
pub(crate) fn router(config: &Config, db: &Db, lease: &Lease, terms: u64) -> axum::Router {
    axum::Router::new()
        .route("/healthz", get(standby_health))
        .route("/api/v1/cluster", get(standby_cluster))
        .route("/", get(standby_page))
        .route("/metrics", get(standby_metrics))
        .fallback(standby_fallback)
        .with_state(StandbyState {
            lease: lease.clone(),
            terms,
            config: config.clone(),
            db: db.clone(),
            view: Arc::default(),
        })
}

/// A standby's AGV port: every connection's first frame (its AGV id) is answered with
/// `Close(NotActive)` naming the active instance's AGV address when a lease is held, then the
/// connection is closed. At most `limit` connections at once, 5 s and 64 KiB each.
pub(crate) async fn refuse_agvs(listener: tokio::net::TcpListener, lease: Lease, limit: usize) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let permits = Arc::new(tokio::sync::Semaphore::new(limit.max(1)));
    loop {
        let Ok((mut stream, _)) = listener.accept().await else {
            continue;
        };
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            continue; // dropped: the AGV retries
        };
        let lease = lease.clone();
        tokio::spawn(async move {
            let _permit = permit;
            let answer = async {
                let mut buf = bytes::BytesMut::with_capacity(512);
                let mut decoder = protocol::FrameDecoder::default();
                let first = loop {
                    if buf.len() > 64 * 1024 || stream.read_buf(&mut buf).await.ok()? == 0 {
                        return None;
                    }
                    match decoder.decode(&mut buf) {
                        Ok(Some(frame)) => break frame,
                        Ok(None) => {}
                        Err(_) => return None,
                    }
                };
                let active = lease
                    .holder()
                    .await
                    .ok()
                    .flatten()
                    .filter(|h| h.expires_in_ms > 0)
                    .and_then(|h| protocol::address::RcsAddress::parse(&h.who.agv_address).ok());
                let close = protocol::session::not_active_frame(
                    first.header.agv_id,
                    crate::state::now_ms(),
                    active.as_ref(),
                )
                .ok()?;
                stream.write_all(&close).await.ok()?;
                Some(())
            };
            let _ = tokio::time::timeout(Duration::from_secs(5), answer).await;
            let _ = stream.shutdown().await;
        });
    }
}

async fn standby_status(s: &StandbyState) -> ClusterStatus {
    ClusterStatus {
        role: "standby".into(),
        me: Some(s.lease.me().clone()),
        epoch: None,
        holder: s.lease.holder().await.ok().flatten(),
        terms: s.terms,
        members: s.lease.members().await.unwrap_or_default(),
    }
}

async fn standby_health(State(s): State<StandbyState>) -> Response {
    let status = standby_status(&s).await;
    (
        StatusCode::OK,
        axum::Json(serde_json::json!({
            "status": "standby",
            "role": "standby",
            "agvs_online": 0,
            "version": env!("CARGO_PKG_VERSION"),
            "active": status.holder,
        })),
    )
        .into_response()
}

/// The metrics of a standby: `rcs_cluster_active` 0, the terms it held; the rest zero.
async fn standby_metrics(
    State(s): State<StandbyState>,
    headers: axum::http::HeaderMap,
) -> Response {
    let m = crate::metrics::Metrics::default();
    m.cluster_terms.set(s.terms as i64);
    crate::metrics::respond(&headers, m.render())
}

async fn standby_page(State(s): State<StandbyState>) -> Response {
    api::dashboard::page(&s.lease.members().await.unwrap_or_default())
}

async fn standby_cluster(State(s): State<StandbyState>) -> Response {
    axum::Json(standby_status(&s).await).into_response()
}

/// Reads (GET, HEAD) are answered from the database's view, through the same API as an active
/// instance's; anything else is refused, naming the active instance.
async fn standby_fallback(State(s): State<StandbyState>, request: Request) -> Response {
    if request.method() != Method::GET && request.method() != Method::HEAD {
        return refuse(&s).await;
    }
    let (router, age) = match s.view().await {
        Ok(v) => v,
        Err(e) => {
            tracing::warn!(error = %e, "standby: the database's view could not be read");
            return api::ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "standby",
                format!("this instance is a standby and could not read the database: {e}"),
            )
            .into_response();
        }
    };
    let mut response = match router.oneshot(request).await {
        Ok(r) => r,
        Err(never) => match never {},
    };
    let headers = response.headers_mut();
    headers.insert("x-rcs-role", HeaderValue::from_static("standby"));
    if let Ok(v) = HeaderValue::from_str(&age.as_millis().to_string()) {
        headers.insert("x-rcs-view-age-ms", v);
    }
    response
}

/// 503 `standby`, naming the active instance.
async fn refuse(s: &StandbyState) -> Response {
    let holder = s.lease.holder().await.ok().flatten();
    let message = match &holder {
        Some(h) if h.expires_in_ms > 0 => format!(
            "this instance is a standby; the active instance is {} at http://{}",
            h.who.id, h.who.http_address
        ),
        _ => "this instance is a standby and no instance is active at the moment".to_owned(),
    };
    api::ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "standby", message)
        .with_detail(serde_json::json!({ "active": holder }))
        .into_response()
}
