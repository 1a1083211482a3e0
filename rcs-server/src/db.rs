//! Persistence: one schema and one set of runtime queries for SQLite (default, WAL) and
//! PostgreSQL, through sqlx's `Any` driver; migrations embedded from `migrations/`.

mod agvs;
mod check;
mod sessions;
mod sqlite_files;
mod statements;
mod tasks;
mod telemetry;
mod tokens;
mod vda5050;

pub use check::{Acknowledged, AcknowledgedGrant, Findings};
pub use sessions::SESSION_LEFT_OPEN;
use statements::{SQLITE_RUN_STATEMENTS, Texts, run_chunks};
pub use vda5050::Vda5050Vehicle;

use sqlx::AnyPool;
use sqlx::Row;
use sqlx::any::AnyPoolOptions;

/// The database.
#[derive(Debug, Clone)]
pub struct Db {
    pool: AnyPool,
    /// Where telemetry goes: on SQLite a file of its own beside the database, so that no
    /// decision waits for the write-behind writer ([`sqlite_files`]); on PostgreSQL `pool`.
    telemetry: AnyPool,
    /// On SQLite, the telemetry file (`None`: in memory, or PostgreSQL).
    telemetry_file: Option<sqlite_files::TelemetryFile>,
    /// PostgreSQL (else SQLite).
    postgres: bool,
    /// Set while this instance is the active one of a cluster: decisions are written only
    /// under its lease epoch ([`crate::lease`]).
    fence: Option<std::sync::Arc<crate::lease::Fence>>,
    /// The multi-row writers' statement texts, built once each.
    texts: std::sync::Arc<Texts>,
}

/// Whether `schema` is a plain PostgreSQL identifier usable unquoted: a-z or `_` first, then
/// a-z, 0-9 or `_`, at most 63 bytes.
pub fn valid_schema(schema: &str) -> bool {
    let b = schema.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && (b[0].is_ascii_lowercase() || b[0] == b'_')
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'_')
}

/// A database that cannot serve this instance.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// The database (schema) holds another site's data.
    #[error(
        "the database holds site `{held}`, this instance serves `{wanted}`: give each site a \
         schema of its own (--db-schema) or a database of its own"
    )]
    OtherSite {
        /// The site it holds.
        held: String,
        /// The site this instance serves.
        wanted: String,
    },
    /// The database failed.
    #[error(transparent)]
    Sql(#[from] sqlx::Error),
}

/// One telemetry snapshot row.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TelemetryRow {
    /// The AGV.
    pub agv_id: u32,
    /// When it was reported, UTC ms.
    pub at_ms: u64,
    /// Its map.
    pub map_id: u16,
    /// Pose x, m.
    pub x: f64,
    /// Pose y, m.
    pub y: f64,
    /// Heading, rad.
    pub theta: f64,
    /// `AgvState` raw value.
    pub state: u8,
    /// Battery, %.
    pub battery_pct: f32,
    /// `NavigationMode` raw value.
    pub navigation_mode: u8,
    /// Whether it was charging.
    pub charging: bool,
    /// Its task.
    pub task_id: u32,
}

/// What registration recorded of an AGV.
#[derive(Debug, Clone, PartialEq)]
pub struct AgvRecord {
    /// The AGV.
    pub agv_id: u32,
    /// Vendor.
    pub vendor: String,
    /// Model.
    pub model: String,
    /// Serial number.
    pub serial: String,
    /// Firmware version.
    pub firmware: String,
    /// `AgvType` raw value.
    pub agv_type: u8,
    /// Whether a key is enrolled.
    pub enrolled: bool,
    /// Registered footprint: front, rear, left, right, m.
    pub footprint: Option<[f64; 4]>,
    /// Taken out of service (UTC ms), if it was and has not come back.
    pub decommissioned_at: Option<u64>,
    /// When an operator last cleared the space it blocked while offline (UTC ms).
    pub space_cleared_at: Option<u64>,
}

/// A stored task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskRow {
    /// Task id.
    pub task_id: u32,
    /// Kind (`move`, `pick`, ...).
    pub kind: String,
    /// The AGV doing it.
    pub agv_id: Option<u32>,
    /// State (`queued`, `running`, ...).
    pub state: String,
    /// The rest as JSON: destination, requested AGV, steps, error, priority, deadline.
    pub spec: String,
    /// Who submitted it.
    pub created_by: String,
    /// Submitted at, UTC ms.
    pub created_at: i64,
    /// Last change, UTC ms.
    pub updated_at: i64,
    /// The submitter's reference (unique), if any.
    pub reference: Option<String>,
}

/// The columns [`task_row`] reads, in order.
const TASK_COLUMNS: &str =
    "task_id, kind, agv_id, state, spec, created_by, created_at, updated_at, reference";

fn task_row(r: &sqlx::any::AnyRow) -> Result<TaskRow, sqlx::Error> {
    Ok(TaskRow {
        task_id: u32::try_from(r.try_get::<i64, _>(0)?).unwrap_or(0),
        kind: r.try_get(1)?,
        agv_id: r
            .try_get::<Option<i64>, _>(2)?
            .and_then(|v| u32::try_from(v).ok()),
        state: r.try_get(3)?,
        spec: r.try_get(4)?,
        created_by: r.try_get(5)?,
        created_at: r.try_get(6)?,
        updated_at: r.try_get(7)?,
        reference: r.try_get(8)?,
    })
}

/// A safe-space grant as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct GrantRow {
    /// Grant id.
    pub grant_id: u32,
    /// The AGV.
    pub agv_id: u32,
    /// The map.
    pub map_id: u16,
    /// The region: JSON `[[[x, y], ...], ...]` (polygon outlines).
    pub region: String,
    /// Granted at, UTC ms.
    pub granted_at: i64,
    /// Expires at, UTC ms.
    pub expires_at: i64,
}

/// An audit/event log entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventRow {
    /// When, UTC ms.
    pub at_ms: i64,
    /// Order within the process.
    pub seq: i64,
    /// Who (token name, `agv:ID` or `server`).
    pub actor: String,
    /// What kind.
    pub kind: String,
    /// Details (JSON).
    pub detail: String,
}

/// Adds the values of `e` to a statement's, in the event log's column order.
fn event_arguments<'q>(
    args: &mut sqlx::any::AnyArguments<'q>,
    e: &'q EventRow,
) -> Result<(), sqlx::error::BoxDynError> {
    use sqlx::Arguments;
    args.add(e.at_ms)?;
    args.add(e.seq)?;
    args.add(&e.actor)?;
    args.add(&e.kind)?;
    args.add(&e.detail)
}

/// The error for a `--db-schema` that cannot be used.
fn schema_error(schema: &str) -> sqlx::Error {
    sqlx::Error::Configuration(
        format!(
            "database schema `{schema}`: only with PostgreSQL, and a plain identifier (a-z, \
             0-9, _; at most 63)"
        )
        .into(),
    )
}

/// An enrolled AGV key as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnrolledKey {
    /// The AGV.
    pub agv_id: u32,
    /// Its public key, SPKI PEM.
    pub public_key_pem: String,
    /// Its distinguishing identifier.
    pub distid: String,
}

impl Db {
    /// Connects (creating a SQLite file if needed).
    pub async fn open(url: &str) -> Result<Self, sqlx::Error> {
        Self::open_in(url, None).await
    }

    /// Connects; on PostgreSQL with `schema`, every table lives in that schema (created if
    /// needed): several sites share one database, each in a schema of its own
    /// (`--db-schema`). `schema` must be a plain identifier ([`valid_schema`]).
    pub async fn open_in(url: &str, schema: Option<&str>) -> Result<Self, sqlx::Error> {
        sqlx::any::install_default_drivers();
        let sqlite = url.starts_with("sqlite:");
        // A SQLite file is created when missing (`mode=rwc`) unless the URL says otherwise.
        let created;
        let url = if sqlite && !url.contains("mode=") {
            created = format!("{url}{}mode=rwc", if url.contains('?') { '&' } else { '?' });
            created.as_str()
        } else {
            url
        };
        if sqlite {
            if let Some(schema) = schema {
                return Err(schema_error(schema));
            }
            let telemetry_url = sqlite_files::telemetry_url(url);
            let telemetry_file = sqlite_files::TelemetryFile::find(&telemetry_url);
            return Ok(Self {
                pool: sqlite_files::open_pool(url).await?,
                telemetry: sqlite_files::open_pool(&telemetry_url).await?,
                telemetry_file,
                postgres: false,
                fence: None,
                texts: Default::default(),
            });
        }
        // One connection first, with a deadline: a server that refuses or does not answer
        // is reported with its cause within seconds (the pool would retry for 30 s and
        // then say only that it timed out).
        match tokio::time::timeout(
            std::time::Duration::from_secs(10),
            <sqlx::AnyConnection as sqlx::Connection>::connect(url),
        )
        .await
        {
            Ok(Ok(conn)) => {
                let _ = sqlx::Connection::close(conn).await;
            }
            Ok(Err(e)) => return Err(e),
            Err(_) => {
                return Err(sqlx::Error::Io(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    "no answer within 10 s",
                )));
            }
        }
        let mut options = AnyPoolOptions::new().max_connections(8);
        if let Some(schema) = schema {
            if !valid_schema(schema) {
                return Err(schema_error(schema));
            }
            // Created once (concurrent instances serialise on an advisory lock).
            let admin = AnyPoolOptions::new()
                .max_connections(1)
                .connect(url)
                .await?;
            sqlx::raw_sql(&format!(
                "DO $$ BEGIN PERFORM pg_advisory_xact_lock(770002); \
                 CREATE SCHEMA IF NOT EXISTS \"{schema}\"; END $$"
            ))
            .execute(&admin)
            .await?;
            admin.close().await;
            let set: std::sync::Arc<str> =
                format!("SET search_path TO \"{schema}\", public").into();
            options = options.after_connect(move |conn, _| {
                let set = set.clone();
                Box::pin(async move {
                    sqlx::Executor::execute(&mut *conn, &*set).await?;
                    Ok(())
                })
            });
        }
        let pool = options.connect(url).await?;
        Ok(Self {
            telemetry: pool.clone(),
            telemetry_file: None,
            pool,
            postgres: true,
            fence: None,
            texts: Default::default(),
        })
    }

    /// Binds this database to the site `name` (PostgreSQL: the first instance to migrate
    /// records it); an error naming both when it holds another site's data, so two sites are
    /// never mixed in one schema.
    pub async fn claim_site(&self, name: &str) -> Result<(), DbError> {
        sqlx::query("INSERT INTO site_meta (id, name) VALUES (1, $1) ON CONFLICT (id) DO NOTHING")
            .bind(name)
            .execute(&self.pool)
            .await?;
        let held: String = sqlx::query("SELECT name FROM site_meta WHERE id = 1")
            .fetch_one(&self.pool)
            .await?
            .try_get(0)?;
        if held == name {
            Ok(())
        } else {
            Err(DbError::OtherSite {
                held,
                wanted: name.to_owned(),
            })
        }
    }

    /// The same database, writing decisions under `fence`: a write that commits a decision
    /// (reservations, grants, task states) first locks the lease row and checks that the
    /// fence's epoch is still the lease's; otherwise it is refused and the fence is marked lost.
    pub fn fenced(&self, fence: std::sync::Arc<crate::lease::Fence>) -> Self {
        Self {
            pool: self.pool.clone(),
            telemetry: self.telemetry.clone(),
            telemetry_file: self.telemetry_file.clone(),
            postgres: self.postgres,
            fence: Some(fence),
            texts: self.texts.clone(),
        }
    }

    /// Whether this is PostgreSQL (else SQLite).
    pub fn is_postgres(&self) -> bool {
        self.postgres
    }

    /// The pool (for the lease's own statements).
    pub(crate) fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// A transaction for a decision: under the fence, if any (PostgreSQL: `FOR SHARE` on the
    /// lease row, so a takeover either waits for this transaction or makes it fail).
    async fn decision(&self) -> Result<sqlx::Transaction<'static, sqlx::Any>, sqlx::Error> {
        let mut tx = self.pool.begin().await?;
        if let Some(f) = &self.fence {
            f.check(&mut tx).await?;
        }
        Ok(tx)
    }

    /// Runs one statement without parameters (administration: creating a test database).
    pub async fn execute_raw(&self, sql: &str) -> Result<(), sqlx::Error> {
        sqlx::raw_sql(sql).execute(&self.pool).await?;
        Ok(())
    }

    /// Closes every connection.
    pub async fn close(&self) {
        self.pool.close().await;
        self.telemetry.close().await;
    }

    /// Applies the embedded migrations; on SQLite first checks that the telemetry file is the
    /// database's own (an error otherwise: [`sqlite_files`]), then applies the telemetry file's
    /// (`migrations-telemetry/`) and moves the telemetry of a database written before the
    /// split into that file (once).
    pub async fn migrate(&self) -> Result<(), sqlx::migrate::MigrateError> {
        sqlx::migrate!("./migrations").run(&self.pool).await?;
        if !self.postgres {
            let pairing = self.pair_telemetry().await?;
            sqlx::migrate!("./migrations-telemetry")
                .run(&self.telemetry)
                .await?;
            if let Some(id) = pairing {
                self.set_pairing(id).await?;
            }
            self.move_telemetry().await?;
        }
        if self.postgres {
            // The database's own check that no two AGVs hold overlapping space on one map:
            // each reservation's bounding box (less 1 cm a side), excluded against every other
            // AGV's on the same map. PostgreSQL only (SQLite serves one instance); once.
            sqlx::raw_sql(
                "DO $$ BEGIN \
                 PERFORM pg_advisory_xact_lock(770001); \
                 CREATE EXTENSION IF NOT EXISTS btree_gist WITH SCHEMA public; \
                 ALTER TABLE reservations ADD COLUMN IF NOT EXISTS extent box; \
                 IF NOT EXISTS (SELECT 1 FROM pg_constraint \
                     WHERE conname = 'reservations_no_overlap' \
                       AND conrelid = 'reservations'::regclass) THEN \
                   ALTER TABLE reservations ADD CONSTRAINT reservations_no_overlap \
                     EXCLUDE USING gist (map_id WITH =, agv_id WITH <>, extent WITH &&); \
                 END IF; END $$",
            )
            .execute(&self.pool)
            .await?;
        }
        Ok(())
    }

    /// Appends an audit/event log entry.
    pub async fn insert_event(&self, e: &EventRow) -> Result<(), sqlx::Error> {
        sqlx::query(
            "INSERT INTO events (at_ms, seq, actor, kind, detail) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(e.at_ms)
        .bind(e.seq)
        .bind(&e.actor)
        .bind(&e.kind)
        .bind(&e.detail)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Appends log entries in order: statements of 32 entries, transactions of at most 1,024
    /// (the write-behind writer's queue; written one entry a transaction, a connection storm of
    /// 10,000 AGVs queued more than it wrote and entries were dropped).
    pub async fn insert_events(&self, events: &[EventRow]) -> Result<(), sqlx::Error> {
        const STATEMENT: usize = 32;
        let statement = |n: usize| {
            let mut sql =
                String::from("INSERT INTO events (at_ms, seq, actor, kind, detail) VALUES ");
            self.push_values(&mut sql, n, 5);
            sql
        };
        let per_run = if self.postgres {
            1
        } else {
            SQLITE_RUN_STATEMENTS
        };
        for piece in events.chunks(1_024) {
            let mut tx = self.pool.begin().await?;
            for chunk in run_chunks(piece, STATEMENT, per_run) {
                let text = self.texts.events.get(chunk.len(), |n| {
                    self.statements_text(n, STATEMENT, statement)
                });
                let mut args = sqlx::any::AnyArguments::default();
                sqlx::Arguments::reserve(&mut args, chunk.len() * 5, 0);
                for e in chunk {
                    event_arguments(&mut args, e).map_err(sqlx::Error::Encode)?;
                }
                sqlx::query_with(&text, args).execute(&mut *tx).await?;
            }
            tx.commit().await?;
        }
        Ok(())
    }

    /// The text of `rows` rows: one statement, or (more than `per_statement` rows, a multiple
    /// of it) that many statements of `per_statement` rows each, one after the other, made by
    /// `statement`.
    fn statements_text(
        &self,
        rows: usize,
        per_statement: usize,
        statement: impl Fn(usize) -> String,
    ) -> String {
        if rows <= per_statement {
            return statement(rows);
        }
        let one = statement(per_statement);
        let mut text = String::with_capacity((one.len() + 2) * rows / per_statement);
        for i in 0..rows / per_statement {
            if i > 0 {
                text.push_str(";\n");
            }
            text.push_str(&one);
        }
        text
    }

    /// Appends the `VALUES` list of a statement inserting `rows` rows of `columns` columns:
    /// `$1, $2, …` on PostgreSQL, anonymous `?` on SQLite (sqlx's SQLite driver looks each named
    /// parameter up by name: docs/performance.md).
    fn push_values(&self, sql: &mut String, rows: usize, columns: usize) {
        use std::fmt::Write;
        for i in 0..rows {
            sql.push_str(if i > 0 { ",(" } else { "(" });
            for j in 1..=columns {
                if j > 1 {
                    sql.push(',');
                }
                if self.postgres {
                    let _ = write!(sql, "${}", i * columns + j);
                } else {
                    sql.push('?');
                }
            }
            sql.push(')');
        }
    }

    /// The latest `limit` log entries, newest first.
    pub async fn events(&self, limit: i64) -> Result<Vec<EventRow>, sqlx::Error> {
        let rows = sqlx::query(
            "SELECT at_ms, seq, actor, kind, detail FROM events ORDER BY at_ms DESC, seq DESC \
             LIMIT $1",
        )
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(event_row).collect()
    }

    /// Log entries with `after < seq < before`: the `limit` newest of them, oldest first,
    /// and how many there are in all.
    pub async fn events_between(
        &self,
        after: i64,
        before: i64,
        limit: i64,
    ) -> Result<(Vec<EventRow>, i64), sqlx::Error> {
        let total: i64 = sqlx::query("SELECT COUNT(*) FROM events WHERE seq > $1 AND seq < $2")
            .bind(after)
            .bind(before)
            .fetch_one(&self.pool)
            .await?
            .try_get(0)?;
        let rows = sqlx::query(
            "SELECT at_ms, seq, actor, kind, detail FROM events WHERE seq > $1 AND seq < $2 \
             ORDER BY seq DESC LIMIT $3",
        )
        .bind(after)
        .bind(before)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        let mut out = rows.iter().map(event_row).collect::<Result<Vec<_>, _>>()?;
        out.reverse();
        Ok((out, total))
    }

    /// A page of the log: `limit` entries, newest first, before the entry `before` (by seq;
    /// none: the newest), or oldest first after the entry `after`.
    pub async fn events_page(
        &self,
        limit: i64,
        before: Option<i64>,
        after: Option<i64>,
    ) -> Result<Vec<EventRow>, sqlx::Error> {
        let q = match (before, after) {
            (_, Some(a)) => sqlx::query(
                "SELECT at_ms, seq, actor, kind, detail FROM events WHERE seq > $1 \
                 ORDER BY seq ASC LIMIT $2",
            )
            .bind(a),
            (Some(b), None) => sqlx::query(
                "SELECT at_ms, seq, actor, kind, detail FROM events WHERE seq < $1 \
                 ORDER BY seq DESC LIMIT $2",
            )
            .bind(b),
            (None, None) => sqlx::query(
                "SELECT at_ms, seq, actor, kind, detail FROM events WHERE seq < $1 \
                 ORDER BY seq DESC LIMIT $2",
            )
            .bind(i64::MAX),
        };
        let rows = q.bind(limit).fetch_all(&self.pool).await?;
        rows.iter().map(event_row).collect()
    }

    /// Every per-AGV secure-mode policy override as (AGV, policy name).
    pub async fn secure_policies(&self) -> Result<Vec<(u32, String)>, sqlx::Error> {
        let rows =
            sqlx::query("SELECT agv_id, secure_policy FROM agvs WHERE secure_policy IS NOT NULL")
                .fetch_all(&self.pool)
                .await?;
        rows.iter()
            .map(|r| {
                Ok((
                    u32::try_from(r.try_get::<i64, _>(0)?).unwrap_or(0),
                    r.try_get(1)?,
                ))
            })
            .collect()
    }

    /// Sets (or with `None` clears) the secure-mode policy override of `agv_id`.
    pub async fn set_secure_policy(
        &self,
        agv_id: u32,
        policy: Option<&str>,
    ) -> Result<(), sqlx::Error> {
        sqlx::query(
            "INSERT INTO agvs (agv_id, distid, secure_policy) VALUES ($1, '', $2) \
             ON CONFLICT (agv_id) DO UPDATE SET secure_policy = $2",
        )
        .bind(i64::from(agv_id))
        .bind(policy)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Records a grant (committed before the grant is sent).
    pub async fn insert_grant(&self, g: &GrantRow) -> Result<(), sqlx::Error> {
        let mut tx = self.decision().await?;
        sqlx::query(
            "INSERT INTO grants (grant_id, agv_id, map_id, region, granted_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(i64::from(g.grant_id))
        .bind(i64::from(g.agv_id))
        .bind(i32::from(g.map_id))
        .bind(&g.region)
        .bind(g.granted_at)
        .bind(g.expires_at)
        .execute(&mut *tx)
        .await?;
        tx.commit().await
    }

    /// Records the end of a grant.
    pub async fn end_grant(&self, grant_id: u32, cause: &str, at: i64) -> Result<(), sqlx::Error> {
        let mut tx = self.decision().await?;
        sqlx::query(
            "UPDATE grants SET released_at = $1, release_cause = $2 \
             WHERE grant_id = $3 AND released_at IS NULL",
        )
        .bind(at)
        .bind(cause)
        .bind(i64::from(grant_id))
        .execute(&mut *tx)
        .await?;
        tx.commit().await
    }

    /// Grants not ended, and the highest grant id ever issued.
    pub async fn open_grants(&self) -> Result<(Vec<GrantRow>, u32), sqlx::Error> {
        let rows = sqlx::query(
            "SELECT grant_id, agv_id, map_id, region, granted_at, expires_at FROM grants \
             WHERE released_at IS NULL ORDER BY grant_id",
        )
        .fetch_all(&self.pool)
        .await?;
        let open = rows
            .iter()
            .map(|r| {
                Ok(GrantRow {
                    grant_id: u32::try_from(r.try_get::<i64, _>(0)?).unwrap_or(0),
                    agv_id: u32::try_from(r.try_get::<i64, _>(1)?).unwrap_or(0),
                    map_id: u16::try_from(r.try_get::<i32, _>(2)?).unwrap_or(0),
                    region: r.try_get(3)?,
                    granted_at: r.try_get(4)?,
                    expires_at: r.try_get(5)?,
                })
            })
            .collect::<Result<Vec<_>, sqlx::Error>>()?;
        let max: Option<i64> = sqlx::query("SELECT MAX(grant_id) FROM grants")
            .fetch_one(&self.pool)
            .await?
            .try_get(0)?;
        Ok((
            open,
            max.map_or(0, |m| u32::try_from(m).unwrap_or(u32::MAX)),
        ))
    }

    /// Records reservations (committed before the motion frame relying on them is sent), with
    /// the bounding box of each piece (`[min x, min y, max x, max y]`, m) where known. Refused
    /// (nothing stored) when another AGV's row holds one of the pieces, or on PostgreSQL when a
    /// box overlaps another AGV's on the same map by more than 2 cm.
    pub async fn insert_reservations(
        &self,
        agv_id: u32,
        map_id: u16,
        task_id: u32,
        resources: &[u64],
        extents: &[Option<[f64; 4]>],
    ) -> Result<(), sqlx::Error> {
        let mut tx = self.decision().await?;
        let sql = if self.postgres {
            "INSERT INTO reservations (agv_id, map_id, resource, task_id, reserved_at, extent) \
             VALUES ($1, $2, $3, $4, $5, $6::box) ON CONFLICT (map_id, resource) DO UPDATE \
             SET task_id = $4, reserved_at = $5, extent = $6::box \
             WHERE reservations.agv_id = $1"
        } else {
            "INSERT INTO reservations (agv_id, map_id, resource, task_id, reserved_at) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (map_id, resource) DO UPDATE \
             SET task_id = $4, reserved_at = $5 WHERE reservations.agv_id = $1"
        };
        for (i, r) in resources.iter().enumerate() {
            let mut q = sqlx::query(sql)
                .bind(i64::from(agv_id))
                .bind(i32::from(map_id))
                .bind(r.to_string())
                .bind(i64::from(task_id))
                .bind(crate::state::now_ms() as i64);
            if self.postgres {
                q = q.bind(extents.get(i).copied().flatten().and_then(|b| {
                    let (x0, y0, x1, y1) = (b[0] + 0.01, b[1] + 0.01, b[2] - 0.01, b[3] - 0.01);
                    (x0 <= x1 && y0 <= y1 && [x0, y0, x1, y1].iter().all(|v| v.is_finite()))
                        .then(|| format!("(({x0},{y0}),({x1},{y1}))"))
                }));
            }
            let done = q.execute(&mut *tx).await?;
            if done.rows_affected() != 1 {
                return Err(sqlx::Error::Protocol(format!(
                    "reservation {r} on map {map_id} is held by another AGV"
                )));
            }
        }
        tx.commit().await
    }

    /// Deletes `agv_id`'s reservations of `resources` (all of them when empty).
    pub async fn release_reservations(
        &self,
        agv_id: u32,
        resources: &[u64],
    ) -> Result<(), sqlx::Error> {
        let mut tx = self.decision().await?;
        if resources.is_empty() {
            sqlx::query("DELETE FROM reservations WHERE agv_id = $1")
                .bind(i64::from(agv_id))
                .execute(&mut *tx)
                .await?;
            return tx.commit().await;
        }
        for r in resources {
            sqlx::query("DELETE FROM reservations WHERE agv_id = $1 AND resource = $2")
                .bind(i64::from(agv_id))
                .bind(r.to_string())
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await
    }

    /// Every stored reservation as (AGV, map, resource).
    pub async fn reservations(&self) -> Result<Vec<(u32, u16, u64)>, sqlx::Error> {
        let rows = sqlx::query("SELECT agv_id, map_id, resource FROM reservations")
            .fetch_all(&self.pool)
            .await?;
        Ok(rows
            .iter()
            .filter_map(|r| {
                Some((
                    u32::try_from(r.try_get::<i64, _>(0).ok()?).ok()?,
                    u16::try_from(r.try_get::<i32, _>(1).ok()?).ok()?,
                    r.try_get::<String, _>(2).ok()?.parse().ok()?,
                ))
            })
            .collect())
    }
}

/// An `events` row of `SELECT at_ms, seq, actor, kind, detail`.
fn event_row(r: &sqlx::any::AnyRow) -> Result<EventRow, sqlx::Error> {
    Ok(EventRow {
        at_ms: r.try_get(0)?,
        seq: r.try_get(1)?,
        actor: r.try_get(2)?,
        kind: r.try_get(3)?,
        detail: r.try_get(4)?,
    })
}
