//! The consistency of a server's database at rest (`rcs-server check`, docs/operations.md
//! "Checking the database"): the storage engine's own check of its files, then the rows against
//! each other, then optionally against what clients were told (the tasks the API accepted, the
//! grants AGVs received). Meant for a database no server is writing: after a graceful stop
//! (which closes every session), or after a crash once a server started on it again (a start
//! closes the sessions a crash left open).

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};
use sqlx::Row;

use super::{Db, SESSION_LEFT_OPEN};

/// Problems of one kind listed by name; beyond this many, only counted.
const LISTED: usize = 10;

/// How long after its expiry an open grant of an AGV that was online may stay open in a
/// settled check (its AGV acknowledges every revoke: agv-sim's do), ms.
const EXPIRED_GRANT_SLACK_MS: i64 = 30_000;

/// What a check found.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Findings {
    /// Problems, one sentence each; empty when the database is consistent.
    pub problems: Vec<String>,
    /// What was looked at, counted by name (rows by table and state, checks that ran).
    pub figures: BTreeMap<String, i64>,
    /// Checks that could not run, and why.
    pub notes: Vec<String>,
}

impl Findings {
    /// Whether no problem was found.
    pub fn ok(&self) -> bool {
        self.problems.is_empty()
    }

    /// Records problems of one kind: `what` followed by the items (the first few listed).
    fn problems(&mut self, what: &str, items: &[String]) {
        if items.is_empty() {
            return;
        }
        let mut text = format!("{what}: {}", items[..items.len().min(LISTED)].join(", "));
        if items.len() > LISTED {
            text.push_str(&format!(" and {} more", items.len() - LISTED));
        }
        self.problems.push(text);
    }

    fn figure(&mut self, name: impl Into<String>, n: i64) {
        *self.figures.entry(name.into()).or_default() += n;
    }

    /// A human-readable account: the verdict, each problem, the figures, the notes.
    pub fn text(&self) -> String {
        let mut out = if self.ok() {
            "consistent: no problem found\n".to_owned()
        } else {
            format!("{} problem(s):\n", self.problems.len())
        };
        for p in &self.problems {
            out.push_str(&format!("  problem: {p}\n"));
        }
        for (k, v) in &self.figures {
            out.push_str(&format!("  {k}: {v}\n"));
        }
        for n in &self.notes {
            out.push_str(&format!("  note: {n}\n"));
        }
        out
    }
}

/// What clients were told was accepted: the tasks the API answered with an id, the safe-space
/// grants AGVs received. As JSON: `{"tasks": [7, 8], "grants": [{"agv": 1, "grant": 12}]}`
/// (agv-sim's `--report-json` carries it as `acknowledged`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Acknowledged {
    /// Ids of the tasks the API accepted.
    #[serde(default)]
    pub tasks: Vec<u32>,
    /// The grants AGVs received.
    #[serde(default)]
    pub grants: Vec<AcknowledgedGrant>,
}

/// A grant an AGV received.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct AcknowledgedGrant {
    /// The AGV.
    pub agv: u32,
    /// The grant's id.
    pub grant: u32,
}

/// The task states the server writes.
const STATES: [&str; 5] = ["queued", "running", "completed", "failed", "cancelled"];

/// Whether a stored task's spec gives a reason (its `error`).
fn has_reason(spec: &str) -> bool {
    serde_json::from_str::<serde_json::Value>(spec)
        .ok()
        .and_then(|v| v["error"].as_str().map(|e| !e.trim().is_empty()))
        .unwrap_or(false)
}

impl Db {
    /// Checks the database: the engine's own check (SQLite: `PRAGMA integrity_check` of the
    /// database and of the telemetry file, and `foreign_key_check`; PostgreSQL: amcheck's
    /// `verify_heapam` on every table and `bt_index_check` on every index of the schema in
    /// force, when amcheck is installed), then
    /// the rows: task states known, running tasks with an AGV, failed ones with a reason, no step
    /// or reservation of a task that is not stored, no reservation or grant of an AGV never
    /// registered, grants' ends recorded whole, no two AGVs' reservation boxes overlapping
    /// (PostgreSQL), no session open or ending before it began.
    pub async fn check(&self) -> Result<Findings, sqlx::Error> {
        let mut f = Findings::default();
        if self.postgres {
            self.check_postgres_files(&mut f).await?;
        } else {
            self.check_sqlite_files(&mut f).await?;
        }
        self.check_tasks(&mut f).await?;
        self.check_space(&mut f).await?;
        self.check_sessions(&mut f).await?;
        let episodes: i64 =
            sqlx::query("SELECT count(*) FROM events WHERE kind = 'safety.overlap'")
                .fetch_one(&self.pool)
                .await?
                .try_get(0)?;
        f.figure("safety episodes in the audit log", episodes);
        Ok(f)
    }

    async fn check_sqlite_files(&self, f: &mut Findings) -> Result<(), sqlx::Error> {
        for (pool, what, figure) in [
            (
                &self.pool,
                "SQLite integrity_check",
                "sqlite integrity_check ok",
            ),
            (
                &self.telemetry,
                "SQLite integrity_check of the telemetry file",
                "sqlite telemetry file integrity_check ok",
            ),
        ] {
            let rows = sqlx::query("PRAGMA integrity_check")
                .fetch_all(pool)
                .await?;
            let said: Vec<String> = rows
                .iter()
                .map(|r| r.try_get::<String, _>(0))
                .collect::<Result<_, _>>()?;
            if said != ["ok"] {
                f.problems(what, &said);
            }
            f.figure(figure, i64::from(said == ["ok"]));
        }
        // The schema declares no foreign keys (the references are checked row by row below);
        // this finds any a later migration adds.
        let broken = sqlx::query("PRAGMA foreign_key_check")
            .fetch_all(&self.pool)
            .await?
            .len();
        if broken > 0 {
            f.problems.push(format!(
                "SQLite foreign_key_check: {broken} row(s) refer to missing rows"
            ));
        }
        f.figure("sqlite foreign_key_check rows", broken as i64);
        Ok(())
    }

    async fn check_postgres_files(&self, f: &mut Findings) -> Result<(), sqlx::Error> {
        let amcheck = sqlx::query("SELECT extversion FROM pg_extension WHERE extname = 'amcheck'")
            .fetch_optional(&self.pool)
            .await?;
        if amcheck.is_none() {
            f.notes.push(
                "PostgreSQL's amcheck is not installed (CREATE EXTENSION amcheck): the tables' \
                 and indexes' structure was not checked"
                    .into(),
            );
            return Ok(());
        }
        // Every table of the schema in force, page by page.
        let corrupt = sqlx::query(
            "SELECT c.relname::text, v.msg FROM pg_class c, verify_heapam(c.oid) v \
             WHERE c.relkind = 'r' AND c.relnamespace = current_schema()::regnamespace",
        )
        .fetch_all(&self.pool)
        .await?;
        let said: Vec<String> = corrupt
            .iter()
            .map(|r| {
                Ok(format!(
                    "{}: {}",
                    r.try_get::<String, _>(0)?,
                    r.try_get::<String, _>(1)?
                ))
            })
            .collect::<Result<_, sqlx::Error>>()?;
        f.problems("PostgreSQL verify_heapam", &said);
        // Every B-tree index, with every table row found in it (bt_index_check raises an error
        // on the first inconsistency).
        let indexes = sqlx::query(
            "SELECT c.relname::text FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid \
             JOIN pg_am a ON a.oid = c.relam \
             WHERE a.amname = 'btree' AND c.relnamespace = current_schema()::regnamespace",
        )
        .fetch_all(&self.pool)
        .await?;
        let mut checked = 0;
        for r in &indexes {
            let name: String = r.try_get(0)?;
            let done = sqlx::query(&format!(
                "SELECT bt_index_check('\"{name}\"'::regclass, true)::text"
            ))
            .fetch_one(&self.pool)
            .await;
            match done {
                Ok(_) => checked += 1,
                Err(e) => f
                    .problems
                    .push(format!("PostgreSQL bt_index_check of {name}: {e}")),
            }
        }
        f.figure("postgresql tables checked (verify_heapam)", {
            sqlx::query(
                "SELECT count(*) FROM pg_class WHERE relkind = 'r' \
                 AND relnamespace = current_schema()::regnamespace",
            )
            .fetch_one(&self.pool)
            .await?
            .try_get::<i64, _>(0)?
        });
        f.figure("postgresql indexes checked (bt_index_check)", checked);
        Ok(())
    }

    async fn check_tasks(&self, f: &mut Findings) -> Result<(), sqlx::Error> {
        let rows = sqlx::query("SELECT task_id, state, agv_id, spec FROM tasks ORDER BY task_id")
            .fetch_all(&self.pool)
            .await?;
        let (mut unknown, mut driverless, mut reasonless) = (vec![], vec![], vec![]);
        for r in &rows {
            let id: i64 = r.try_get(0)?;
            let state: String = r.try_get(1)?;
            let agv: Option<i64> = r.try_get(2)?;
            let spec: String = r.try_get(3)?;
            f.figure(format!("tasks {state}"), 1);
            if !STATES.contains(&state.as_str()) {
                unknown.push(format!("{id} ({state})"));
            }
            if state == "running" && agv.is_none() {
                driverless.push(id.to_string());
            }
            if state == "failed" && !has_reason(&spec) {
                reasonless.push(id.to_string());
            }
        }
        f.problems("tasks in a state the server does not write", &unknown);
        f.problems("running tasks without an AGV", &driverless);
        f.problems("failed tasks without a reason", &reasonless);
        let steps = self
            .ids(
                "SELECT s.task_id, s.step_no FROM task_steps s WHERE NOT EXISTS \
                 (SELECT 1 FROM tasks t WHERE t.task_id = s.task_id)",
            )
            .await?;
        f.problems("steps of tasks that are not stored", &steps);
        Ok(())
    }

    async fn check_space(&self, f: &mut Findings) -> Result<(), sqlx::Error> {
        let count = |sql: &'static str| async move {
            sqlx::query(sql)
                .fetch_one(&self.pool)
                .await?
                .try_get::<i64, _>(0)
        };
        f.figure(
            "reservations",
            count("SELECT count(*) FROM reservations").await?,
        );
        f.figure(
            "reservations of ended tasks",
            count(
                "SELECT count(*) FROM reservations r JOIN tasks t ON t.task_id = r.task_id \
                 WHERE t.state NOT IN ('queued', 'running')",
            )
            .await?,
        );
        f.figure(
            "grants open",
            count("SELECT count(*) FROM grants WHERE released_at IS NULL").await?,
        );
        f.figure(
            "grants ended",
            count("SELECT count(*) FROM grants WHERE released_at IS NOT NULL").await?,
        );
        let orphans = self
            .ids(
                "SELECT r.agv_id, r.resource, r.task_id FROM reservations r \
                 WHERE r.task_id IS NOT NULL AND r.task_id <> 0 AND NOT EXISTS \
                 (SELECT 1 FROM tasks t WHERE t.task_id = r.task_id)",
            )
            .await?;
        f.problems(
            "reservations (AGV, resource, task) of tasks that are not stored",
            &orphans,
        );
        let strangers = self
            .ids(
                "SELECT r.agv_id, r.resource FROM reservations r WHERE NOT EXISTS \
                 (SELECT 1 FROM agvs a WHERE a.agv_id = r.agv_id)",
            )
            .await?;
        f.problems(
            "reservations (AGV, resource) of AGVs never registered",
            &strangers,
        );
        let strangers = self
            .ids(
                "SELECT g.grant_id, g.agv_id FROM grants g WHERE NOT EXISTS \
                 (SELECT 1 FROM agvs a WHERE a.agv_id = g.agv_id)",
            )
            .await?;
        f.problems("grants (id, AGV) of AGVs never registered", &strangers);
        let half = self
            .ids(
                "SELECT grant_id FROM grants WHERE (released_at IS NULL AND release_cause IS NOT \
                 NULL) OR (released_at IS NOT NULL AND release_cause IS NULL) \
                 OR released_at < granted_at OR expires_at < granted_at",
            )
            .await?;
        f.problems(
            "grants whose end is recorded in part, or before they began",
            &half,
        );
        if self.postgres {
            let overlapping = self
                .ids(
                    "SELECT r1.agv_id, r2.agv_id, r1.map_id FROM reservations r1 \
                     JOIN reservations r2 ON r1.map_id = r2.map_id AND r1.agv_id < r2.agv_id \
                     AND r1.extent && r2.extent",
                )
                .await?;
            f.problems(
                "overlapping reservations of two AGVs (AGV, AGV, map)",
                &overlapping,
            );
        }
        Ok(())
    }

    async fn check_sessions(&self, f: &mut Findings) -> Result<(), sqlx::Error> {
        let rows = sqlx::query(
            "SELECT session_id, agv_id, opened_at, closed_at, close_cause FROM sessions \
             ORDER BY session_id",
        )
        .fetch_all(&self.pool)
        .await?;
        let (mut open, mut backwards) = (vec![], vec![]);
        for r in &rows {
            let id: i64 = r.try_get(0)?;
            let agv: i64 = r.try_get(1)?;
            let opened: i64 = r.try_get(2)?;
            let closed: Option<i64> = r.try_get(3)?;
            let cause: Option<String> = r.try_get(4)?;
            match closed {
                None => open.push(format!("{id} (AGV {agv})")),
                Some(c) if c < opened => backwards.push(id.to_string()),
                Some(_) => {}
            }
            if cause.as_deref() == Some(SESSION_LEFT_OPEN) {
                f.figure("sessions closed by a start after a crash", 1);
            }
        }
        f.figure("sessions", rows.len() as i64);
        f.problems(
            "sessions still open (a server is running on this database, or one was killed and \
             has not been started again: its next start closes them)",
            &open,
        );
        f.problems("sessions that end before they began", &backwards);
        Ok(())
    }

    /// Each row of `sql` as its columns (integers) joined by `/`.
    async fn ids(&self, sql: &str) -> Result<Vec<String>, sqlx::Error> {
        let rows = sqlx::query(sql).fetch_all(&self.pool).await?;
        rows.iter()
            .map(|r| {
                let mut parts = Vec::new();
                for i in 0..r.len() {
                    parts.push(match r.try_get::<i64, _>(i) {
                        Ok(v) => v.to_string(),
                        Err(_) => r.try_get::<String, _>(i)?,
                    });
                }
                Ok(parts.join("/"))
            })
            .collect()
    }

    /// Checks what clients were told against the rows: every task the API accepted is stored
    /// and every grant an AGV received is stored for that AGV. With `settled` (the fleet's
    /// tasks were given time to end and its AGVs acknowledge every revoke, as agv-sim's do),
    /// every such task has also ended, and no such grant is still open more than 30 s after it
    /// expired while its AGV was connected (sessions closed by a start after a crash are not
    /// counted: their end is not known).
    pub async fn check_acknowledged(
        &self,
        ack: &Acknowledged,
        settled: bool,
        f: &mut Findings,
    ) -> Result<(), sqlx::Error> {
        let mut tasks: HashMap<u32, (String, String)> = HashMap::new();
        for r in sqlx::query("SELECT task_id, state, spec FROM tasks")
            .fetch_all(&self.pool)
            .await?
        {
            let id = u32::try_from(r.try_get::<i64, _>(0)?).unwrap_or(0);
            tasks.insert(id, (r.try_get(1)?, r.try_get(2)?));
        }
        let (mut missing, mut unended) = (vec![], vec![]);
        for id in &ack.tasks {
            match tasks.get(id) {
                None => missing.push(id.to_string()),
                Some((state, spec)) => {
                    f.figure(format!("acknowledged tasks {state}"), 1);
                    if state == "failed" && !has_reason(spec) {
                        f.figure("acknowledged tasks failed without a reason", 1);
                    }
                    if settled && (state == "queued" || state == "running") {
                        unended.push(format!("{id} ({state})"));
                    }
                }
            }
        }
        f.figure("acknowledged tasks", ack.tasks.len() as i64);
        f.problems("tasks the API accepted that are not stored", &missing);
        f.problems("tasks the API accepted that did not end", &unended);

        let mut grants: HashMap<u32, (u32, i64, Option<String>)> = HashMap::new();
        for r in sqlx::query("SELECT grant_id, agv_id, expires_at, release_cause FROM grants")
            .fetch_all(&self.pool)
            .await?
        {
            let id = u32::try_from(r.try_get::<i64, _>(0)?).unwrap_or(0);
            let agv = u32::try_from(r.try_get::<i64, _>(1)?).unwrap_or(0);
            grants.insert(id, (agv, r.try_get(2)?, r.try_get(3)?));
        }
        // Each AGV's sessions whose end is known: (opened, closed).
        let mut online: HashMap<u32, Vec<(i64, i64)>> = HashMap::new();
        for r in sqlx::query(
            "SELECT agv_id, opened_at, closed_at FROM sessions \
             WHERE closed_at IS NOT NULL AND close_cause <> $1",
        )
        .bind(SESSION_LEFT_OPEN)
        .fetch_all(&self.pool)
        .await?
        {
            let agv = u32::try_from(r.try_get::<i64, _>(0)?).unwrap_or(0);
            online
                .entry(agv)
                .or_default()
                .push((r.try_get(1)?, r.try_get(2)?));
        }
        let (mut missing, mut elsewhere, mut stuck) = (vec![], vec![], vec![]);
        for g in &ack.grants {
            match grants.get(&g.grant) {
                None => missing.push(format!("{} (AGV {})", g.grant, g.agv)),
                Some((agv, _, _)) if *agv != g.agv => {
                    elsewhere.push(format!("{} (AGV {}, stored for {agv})", g.grant, g.agv))
                }
                Some((_, expires, cause)) => {
                    f.figure(
                        format!(
                            "acknowledged grants {}",
                            cause.as_deref().unwrap_or("still held")
                        ),
                        1,
                    );
                    let online_after = online.get(&g.agv).map_or(0, |s| {
                        s.iter().map(|(o, c)| c - o.max(expires)).max().unwrap_or(0)
                    });
                    if settled && cause.is_none() && online_after > EXPIRED_GRANT_SLACK_MS {
                        stuck.push(format!(
                            "{} (AGV {}, online {} s after it expired)",
                            g.grant,
                            g.agv,
                            online_after / 1000
                        ));
                    }
                }
            }
        }
        f.figure("acknowledged grants", ack.grants.len() as i64);
        f.problems("grants AGVs received that are not stored", &missing);
        f.problems(
            "grants AGVs received that are stored for another AGV",
            &elsewhere,
        );
        f.problems(
            "grants AGVs received still open long after they expired",
            &stuck,
        );
        Ok(())
    }
}
