//! Leadership of a site among several instances on one PostgreSQL: a lease row per site with a
//! fencing epoch that only grows (docs/architecture.md, "Several instances").
//!
//! An instance takes the lease when it has lapsed (the next epoch is its own), renews it a few
//! times a lease period, and gives it up on a clean shutdown. Times are the database's clock, so
//! the instances' clocks do not matter; an instance also keeps its own deadline (the start of
//! its last successful renewal plus the lease time, less a margin) and stops acting when it
//! passes, before any other instance can have taken over. Every write that commits a decision
//! goes through a [`Fence`]: it locks the lease row (`FOR SHARE`) and checks the epoch in the
//! same transaction, so after a takeover has committed, no write of an older epoch can commit.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use sqlx::Row;
use tokio::sync::Notify;

use crate::db::Db;

/// The database's clock, UTC ms (PostgreSQL).
const NOW_MS: &str = "(extract(epoch from clock_timestamp()) * 1000)::bigint";

/// Who an instance is and where it is reached.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct Identity {
    /// A unique id of this process (host, process id and a random part unless configured).
    pub id: String,
    /// Where AGVs reach it (`host:port`).
    pub agv_address: String,
    /// Where operators reach its HTTP API (`host:port`).
    pub http_address: String,
}

/// The lease's holder as stored.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct Holder {
    /// The holder.
    #[serde(flatten)]
    pub who: Identity,
    /// Its fencing epoch.
    pub epoch: u64,
    /// Milliseconds until the lease lapses unless renewed (negative: lapsed).
    pub expires_in_ms: i64,
}

/// An instance of the cluster as it last said it was alive.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct Member {
    /// Who and where.
    #[serde(flatten)]
    pub who: Identity,
    /// `active` or `standby`, as it last said.
    pub role: String,
    /// Milliseconds since it last said so.
    pub seen_ms_ago: i64,
}

/// The lease of one site.
#[derive(Debug, Clone)]
pub struct Lease {
    db: Db,
    site: String,
    me: Identity,
    ttl_ms: u64,
}

impl Lease {
    /// The lease of `site` for instance `me`, `ttl_ms` long.
    pub fn new(db: Db, site: &str, me: Identity, ttl_ms: u64) -> Self {
        Self {
            db,
            site: site.to_owned(),
            me,
            ttl_ms,
        }
    }

    /// The site.
    pub fn site(&self) -> &str {
        &self.site
    }

    /// This instance.
    pub fn me(&self) -> &Identity {
        &self.me
    }

    /// The lease time, ms.
    pub fn ttl_ms(&self) -> u64 {
        self.ttl_ms
    }

    /// Takes the lease if it is free or has lapsed; returns the new epoch if it did.
    pub async fn try_acquire(&self) -> Result<Option<u64>, sqlx::Error> {
        let row = sqlx::query(&format!(
            "INSERT INTO leases (site, holder, agv_address, http_address, epoch, expires_at) \
             VALUES ($1, $2, $3, $4, 1, {NOW_MS} + $5) \
             ON CONFLICT (site) DO UPDATE SET holder = EXCLUDED.holder, \
             agv_address = EXCLUDED.agv_address, http_address = EXCLUDED.http_address, \
             epoch = leases.epoch + 1, expires_at = EXCLUDED.expires_at \
             WHERE leases.expires_at < {NOW_MS} RETURNING epoch"
        ))
        .bind(&self.site)
        .bind(&self.me.id)
        .bind(&self.me.agv_address)
        .bind(&self.me.http_address)
        .bind(self.ttl_ms as i64)
        .fetch_optional(self.db.pool())
        .await?;
        row.map(|r| r.try_get::<i64, _>(0).map(|e| e as u64))
            .transpose()
    }

    /// Renews the lease held with `epoch`; false when it is no longer this instance's.
    pub async fn renew(&self, epoch: u64) -> Result<bool, sqlx::Error> {
        let done = sqlx::query(&format!(
            "UPDATE leases SET expires_at = {NOW_MS} + $1 \
             WHERE site = $2 AND holder = $3 AND epoch = $4"
        ))
        .bind(self.ttl_ms as i64)
        .bind(&self.site)
        .bind(&self.me.id)
        .bind(epoch as i64)
        .execute(self.db.pool())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Gives the lease held with `epoch` up at once (a clean shutdown: a standby takes over
    /// without waiting for it to lapse).
    pub async fn release(&self, epoch: u64) -> Result<(), sqlx::Error> {
        sqlx::query(&format!(
            "UPDATE leases SET expires_at = {NOW_MS} - 1 \
             WHERE site = $1 AND holder = $2 AND epoch = $3"
        ))
        .bind(&self.site)
        .bind(&self.me.id)
        .bind(epoch as i64)
        .execute(self.db.pool())
        .await?;
        Ok(())
    }

    /// The holder as stored (none before anyone took it).
    pub async fn holder(&self) -> Result<Option<Holder>, sqlx::Error> {
        let row = sqlx::query(&format!(
            "SELECT holder, agv_address, http_address, epoch, expires_at - {NOW_MS} \
             FROM leases WHERE site = $1"
        ))
        .bind(&self.site)
        .fetch_optional(self.db.pool())
        .await?;
        row.map(|r| {
            Ok(Holder {
                who: Identity {
                    id: r.try_get(0)?,
                    agv_address: r.try_get(1)?,
                    http_address: r.try_get(2)?,
                },
                epoch: r.try_get::<i64, _>(3)? as u64,
                expires_in_ms: r.try_get(4)?,
            })
        })
        .transpose()
    }

    /// Says this instance is alive in `role` (`active`, `standby`): listed by [`Lease::members`]
    /// (and forgets instances not seen for thirty lease times).
    pub async fn heartbeat(&self, role: &str) -> Result<(), sqlx::Error> {
        sqlx::query(&format!(
            "INSERT INTO members (instance, agv_address, http_address, role, seen_at) \
             VALUES ($1, $2, $3, $4, {NOW_MS}) ON CONFLICT (instance) DO UPDATE SET \
             agv_address = EXCLUDED.agv_address, http_address = EXCLUDED.http_address, \
             role = EXCLUDED.role, seen_at = EXCLUDED.seen_at"
        ))
        .bind(&self.me.id)
        .bind(&self.me.agv_address)
        .bind(&self.me.http_address)
        .bind(role)
        .execute(self.db.pool())
        .await?;
        // instances gone for good (thirty lease times) are forgotten
        sqlx::query(&format!(
            "DELETE FROM members WHERE seen_at < {NOW_MS} - $1"
        ))
        .bind(30 * self.ttl_ms as i64)
        .execute(self.db.pool())
        .await?;
        Ok(())
    }

    /// The instances seen alive within three lease times, by id (a read only: the API answers
    /// it without a token).
    pub async fn members(&self) -> Result<Vec<Member>, sqlx::Error> {
        let horizon = 3 * self.ttl_ms as i64;
        let rows = sqlx::query(&format!(
            "SELECT instance, agv_address, http_address, role, {NOW_MS} - seen_at FROM members \
             WHERE seen_at >= {NOW_MS} - $1 ORDER BY instance"
        ))
        .bind(horizon)
        .fetch_all(self.db.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(Member {
                    who: Identity {
                        id: r.try_get(0)?,
                        agv_address: r.try_get(1)?,
                        http_address: r.try_get(2)?,
                    },
                    role: r.try_get(3)?,
                    seen_ms_ago: r.try_get(4)?,
                })
            })
            .collect()
    }

    /// The fence of a term held with `epoch`.
    pub fn fence(&self, epoch: u64) -> Arc<Fence> {
        Arc::new(Fence {
            site: self.site.clone(),
            epoch,
            lost: AtomicBool::new(false),
            lost_signal: Notify::new(),
        })
    }
}

/// The epoch a term writes its decisions under.
#[derive(Debug)]
pub struct Fence {
    site: String,
    epoch: u64,
    lost: AtomicBool,
    lost_signal: Notify,
}

impl Fence {
    /// The epoch.
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// Whether a write found the epoch superseded (or the term was ended).
    pub fn is_lost(&self) -> bool {
        self.lost.load(Ordering::SeqCst)
    }

    /// Marks the term lost: no decision is written under it any more.
    pub fn lose(&self) {
        if !self.lost.swap(true, Ordering::SeqCst) {
            self.lost_signal.notify_waiters();
        }
        self.lost_signal.notify_one();
    }

    /// Resolves when the term is lost.
    pub async fn lost(&self) {
        loop {
            let notified = self.lost_signal.notified();
            if self.is_lost() {
                return;
            }
            notified.await;
        }
    }

    /// Checks within `tx` (before its writes) that the epoch is still the lease's, locking the
    /// lease row against a takeover until `tx` ends.
    pub(crate) async fn check(
        &self,
        tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    ) -> Result<(), sqlx::Error> {
        if self.is_lost() {
            return Err(fenced(self.epoch, None));
        }
        let row = sqlx::query("SELECT epoch FROM leases WHERE site = $1 FOR SHARE")
            .bind(&self.site)
            .fetch_optional(&mut **tx)
            .await?;
        let now: Option<i64> = row.map(|r| r.try_get(0)).transpose()?;
        if now != Some(self.epoch as i64) {
            self.lose();
            return Err(fenced(self.epoch, now));
        }
        Ok(())
    }
}

fn fenced(epoch: u64, now: Option<i64>) -> sqlx::Error {
    sqlx::Error::Protocol(format!(
        "fenced: this instance's epoch {epoch} is no longer the lease's ({})",
        now.map_or("none".to_owned(), |e| e.to_string())
    ))
}
