//! Several instances of one site on one PostgreSQL: exactly one is active (AGV sessions,
//! dispatch, grants, commands), the others are standbys that take over when the active one's
//! lease lapses (docs/architecture.md, "Several instances").
//!
//! An instance starts as a standby: it serves `/healthz` and `/api/v1/cluster`, answers every
//! other request 503 `standby` naming the active instance, and answers an AGV's first frame
//! with `Close(NotActive)` naming the active instance's AGV address (docs/protocol.md 4.4: the
//! AGV goes there at once). When it takes the
//! lease it starts a term: the whole server ([`crate::start_term`]), its state rebuilt from the
//! database, every decision written under the term's fence. The term ends when the server
//! shuts down (the lease is given up at once) or the lease is lost (a renewal failed or came
//! too late, or a write found a newer epoch): every AGV session is closed, nothing more is
//! sent, and the instance is a standby again.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use tokio::sync::watch;

use crate::ServerError;
use crate::config::Config;
use crate::db::Db;
use crate::lease::{Fence, Holder, Identity, Lease};

/// What `/api/v1/cluster` answers.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ClusterStatus {
    /// `active`, `standby`, or `single` (SQLite: one instance, always active).
    pub role: String,
    /// This instance.
    pub me: Option<Identity>,
    /// The epoch this instance acts under, when active.
    pub epoch: Option<u64>,
    /// The lease's holder as stored (the active instance), if any.
    pub holder: Option<Holder>,
    /// Terms this process has held (takeovers).
    pub terms: u64,
    /// Every instance seen alive within three lease times (none for a single instance).
    pub members: Vec<crate::lease::Member>,
}

/// An active term: the lease and the fence its decisions are written under.
#[derive(Debug, Clone)]
pub struct Term {
    /// The lease.
    pub lease: Lease,
    /// Its fence.
    pub fence: Arc<Fence>,
    /// Terms this process has held, this one included.
    pub number: u64,
}

impl Term {
    /// The status as the active instance sees it.
    pub async fn status(&self) -> ClusterStatus {
        ClusterStatus {
            role: if self.fence.is_lost() {
                "stepping_down"
            } else {
                "active"
            }
            .into(),
            me: Some(self.lease.me().clone()),
            epoch: Some(self.fence.epoch()),
            holder: self.lease.holder().await.ok().flatten(),
            terms: self.number,
            members: self.lease.members().await.unwrap_or_default(),
        }
    }
}

/// This instance's identity from the configuration.
pub fn identity(config: &Config) -> Identity {
    let host = std::env::var("HOSTNAME")
        .ok()
        .or_else(|| {
            std::fs::read_to_string("/etc/hostname")
                .ok()
                .map(|h| h.trim().to_owned())
        })
        .unwrap_or_else(|| "rcs".into());
    let mut random = [0u8; 4];
    let _ = getrandom::fill(&mut random);
    Identity {
        id: config.instance_id.clone().unwrap_or_else(|| {
            format!(
                "{host}-{}-{:08x}",
                std::process::id(),
                u32::from_le_bytes(random)
            )
        }),
        agv_address: config
            .advertise_agv
            .clone()
            .unwrap_or_else(|| config.agv_listen.to_string()),
        http_address: config
            .advertise_http
            .clone()
            .unwrap_or_else(|| config.http_listen.to_string()),
    }
}

/// Runs an instance of a cluster until `shutdown` resolves: standby, active when it holds the
/// lease, standby again when it loses it.
pub async fn run(
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServerError> {
    let (stop_tx, stop_rx) = watch::channel(false);
    tokio::spawn(async move {
        shutdown.await;
        let _ = stop_tx.send(true);
    });
    crate::create_data_dir(&config.data_dir)?;
    let site = crate::load_site(&config)?;
    let db = crate::open_db(&config).await?;
    db.migrate().await?;
    db.claim_site(&site.name).await?;
    let lease = Lease::new(
        db.clone(),
        &site.name,
        identity(&config),
        config.lease_ms.max(300),
    );
    drop(site);
    tracing::info!(instance = %lease.me().id, site = %lease.site(), "cluster member: standby until it holds the lease");
    let mut terms = 0u64;
    loop {
        let Some(epoch) = standby(&config, &db, &lease, terms, stop_rx.clone()).await? else {
            return Ok(());
        };
        terms += 1;
        let fence = lease.fence(epoch);
        tracing::warn!(epoch, instance = %lease.me().id, "took the lease: active");
        let term = Term {
            lease: lease.clone(),
            fence: fence.clone(),
            number: terms,
        };
        let renewer = tokio::spawn(renew(lease.clone(), fence.clone()));
        let mut stop = stop_rx.clone();
        let lost = fence.clone();
        let end = async move {
            tokio::select! {
                _ = stop.wait_for(|s| *s) => {}
                () = lost.lost() => {}
            }
        };
        match crate::start_term(config.clone(), end, Some(term)).await {
            Ok((server, serve)) => {
                serve.await;
                if let Some(task) = server.state.failure() {
                    // Another instance takes over from the database.
                    renewer.abort();
                    fence.lose();
                    let _ = lease.release(epoch).await;
                    return Err(crate::ServerError::Failed(task));
                }
            }
            Err(e) => {
                tracing::error!(error = %e, "could not start the term: giving the lease up");
                fence.lose();
            }
        }
        renewer.abort();
        if *stop_rx.borrow() && !fence.is_lost() {
            fence.lose();
            if let Err(e) = lease.release(epoch).await {
                tracing::warn!(error = %e, "could not give the lease up (it lapses by itself)");
            }
            return Ok(());
        }
        tracing::error!(
            epoch,
            "lost the lease: every AGV session closed; standby again"
        );
        if *stop_rx.borrow() {
            return Ok(());
        }
    }
}

/// Renews the lease a few times a lease period; marks the fence lost when a renewal is refused
/// or none succeeded within the lease time less a margin (by this process's monotonic clock,
/// counted from the start of the last successful renewal: another instance can take over only
/// after the lease time since that renewal reached the database).
async fn renew(lease: Lease, fence: Arc<Fence>) {
    let ttl = Duration::from_millis(lease.ttl_ms());
    let margin = ttl / 5;
    let mut valid_until = tokio::time::Instant::now() + ttl - margin;
    loop {
        tokio::time::sleep(ttl / 4).await;
        if fence.is_lost() {
            return;
        }
        let started = tokio::time::Instant::now();
        let left = valid_until.saturating_duration_since(started);
        match tokio::time::timeout(left, lease.renew(fence.epoch())).await {
            Ok(Ok(true)) => {
                valid_until = started + ttl - margin;
                if let Err(e) = lease.heartbeat("active").await {
                    tracing::debug!(error = %e, "member heartbeat failed");
                }
            }
            Ok(Ok(false)) => {
                tracing::error!(
                    epoch = fence.epoch(),
                    "the lease was taken over: stepping down"
                );
                fence.lose();
                return;
            }
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "lease renewal failed (retrying until it lapses)");
                if tokio::time::Instant::now() >= valid_until {
                    fence.lose();
                    return;
                }
            }
            Err(_) => {
                tracing::error!("no lease renewal within the lease time: stepping down");
                fence.lose();
                return;
            }
        }
    }
}

/// Serves as a standby until this instance takes the lease (its epoch) or `stop` is set (none).
async fn standby(
    config: &Config,
    db: &Db,
    lease: &Lease,
    terms: u64,
    mut stop: watch::Receiver<bool>,
) -> Result<Option<u64>, ServerError> {
    let listener = bind(config.http_listen, "HTTP").await?;
    if let Err(e) = lease.heartbeat("standby").await {
        tracing::debug!(error = %e, "member heartbeat failed");
    }
    let (http_stop, mut http_stopped) = watch::channel(false);
    let router = crate::standby::router(config, db, lease, terms);
    let http = tokio::spawn(async move {
        let _ = axum::serve(listener, router)
            .with_graceful_shutdown(async move {
                let _ = http_stopped.wait_for(|s| *s).await;
            })
            .await;
    });
    let agvs = bind(config.agv_listen, "AGV").await?;
    let redirect = tokio::spawn(crate::standby::refuse_agvs(
        agvs,
        lease.clone(),
        config.max_connections,
    ));
    let poll = Duration::from_millis((lease.ttl_ms() / 4).max(50));
    let taken = loop {
        match lease.try_acquire().await {
            Ok(Some(epoch)) => {
                let _ = lease.heartbeat("active").await;
                break Some(epoch);
            }
            Ok(None) => {
                if let Err(e) = lease.heartbeat("standby").await {
                    tracing::debug!(error = %e, "member heartbeat failed");
                }
            }
            Err(e) => tracing::warn!(error = %e, "lease: database unreachable"),
        }
        tokio::select! {
            _ = stop.wait_for(|s| *s) => break None,
            () = tokio::time::sleep(poll) => {}
        }
    };
    redirect.abort();
    let _ = redirect.await;
    let _ = http_stop.send(true);
    let _ = tokio::time::timeout(Duration::from_secs(5), http).await;
    Ok(taken)
}

/// A listener on `addr`; an error names the address (`what`: which one).
async fn bind(
    addr: std::net::SocketAddr,
    what: &str,
) -> Result<tokio::net::TcpListener, std::io::Error> {
    tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| std::io::Error::new(e.kind(), format!("{what} listen address {addr}: {e}")))
}
