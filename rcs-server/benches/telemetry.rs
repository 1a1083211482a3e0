//! The telemetry writer's database work at 10,000 AGVs, on SQLite (a file, WAL, as the server
//! runs it) and on PostgreSQL (127.0.0.1:5432, a schema of its own; skipped, and said so, when
//! none answers), each beside its baseline in the same run:
//!
//! - **batch**: one batch of 10,000 AGVs (what the writer writes every second whatever the
//!   report rate: 10 Hz reports come to one snapshot an AGV a batch): the last snapshots
//!   replaced and a history row each (every AGV moving: the worst case), the last snapshots
//!   only (every AGV standing), against the baseline: a history row each, in one transaction,
//!   into the history as it was keyed before (AGV, then time; and an index on time), in the same
//!   database, holding as much history.
//! - **prune**: the statement a batch prunes with in steady state (one batch interval of
//!   history, 10,000 rows) against the same from the history keyed by AGV (the baseline pruned
//!   a minute, 600,000 rows, at once: sixty times that): the time the one SQLite connection is
//!   held.
//! - **restore**: a restart's read of the last snapshots from `telemetry_latest` against the
//!   baseline's, grouping the history by AGV.
//!
//! Both histories hold `RCS_BENCH_HISTORY_S` seconds of every AGV first (default 120:
//! 1,200,000 rows each; keyed by AGV, a batch writes into 10,000 places once each AGV has a page
//! of rows of its own, about 50 s of them).
//!
//! `cargo bench -p rcs-server --bench telemetry`; figures in docs/performance.md "Telemetry".

use std::time::{Duration, Instant};

use criterion::{Criterion, SamplingMode, criterion_group, criterion_main};
use rcs_server::db::{Db, TelemetryRow};

const AGVS: u32 = 10_000;

fn batch(at_ms: u64) -> Vec<TelemetryRow> {
    (1..=AGVS)
        .map(|agv_id| TelemetryRow {
            agv_id,
            at_ms,
            map_id: 1 + (agv_id % 3) as u16,
            x: f64::from(agv_id % 100) + at_ms as f64 / 1e6,
            y: f64::from(agv_id / 100),
            theta: 0.5,
            state: 2,
            battery_pct: 80.0,
            navigation_mode: 1,
            charging: false,
            task_id: agv_id,
        })
        .collect()
}

/// The history, `seconds` batches of every AGV from `from_s` on, written the way the server
/// does.
async fn fill(db: &Db, from_s: u64, seconds: u64) {
    for s in from_s..from_s + seconds {
        db.write_telemetry(&[], &batch(s * 1_000))
            .await
            .expect("fill");
    }
}

/// The history as it was keyed before (`telemetry_by_agv`), in the same database.
struct Baseline {
    raw: sqlx::AnyPool,
    table: String,
    postgres: bool,
}

impl Baseline {
    async fn create(&self) {
        sqlx::query(&format!(
            "CREATE TABLE {t} (agv_id BIGINT NOT NULL, at_ms BIGINT NOT NULL, \
             map_id INTEGER NOT NULL, x DOUBLE PRECISION NOT NULL, y DOUBLE PRECISION NOT NULL, \
             theta DOUBLE PRECISION NOT NULL, state INTEGER NOT NULL, \
             battery_pct DOUBLE PRECISION NOT NULL, navigation_mode INTEGER NOT NULL, \
             charging INTEGER NOT NULL, task_id BIGINT NOT NULL, PRIMARY KEY (agv_id, at_ms))",
            t = self.table
        ))
        .execute(&self.raw)
        .await
        .expect("baseline table");
        sqlx::query(&format!(
            "CREATE INDEX telemetry_by_agv_at ON {} (at_ms)",
            self.table
        ))
        .execute(&self.raw)
        .await
        .expect("baseline index");
    }

    /// One batch, as the writer wrote it before: 32-row statements in one transaction.
    async fn insert(&self, rows: &[TelemetryRow]) {
        let mut tx = self.raw.begin().await.expect("begin");
        for chunk in rows.chunks(32) {
            let mut sql = format!(
                "INSERT INTO {} (agv_id, at_ms, map_id, x, y, theta, state, battery_pct, \
                 navigation_mode, charging, task_id) VALUES ",
                self.table
            );
            for i in 0..chunk.len() {
                sql.push_str(if i > 0 { ",(" } else { "(" });
                for j in 1..=11 {
                    if j > 1 {
                        sql.push(',');
                    }
                    if self.postgres {
                        sql.push_str(&format!("${}", i * 11 + j));
                    } else {
                        sql.push('?');
                    }
                }
                sql.push(')');
            }
            sql.push_str(" ON CONFLICT (agv_id, at_ms) DO NOTHING");
            let mut q = sqlx::query(&sql);
            for r in chunk {
                q = q
                    .bind(i64::from(r.agv_id))
                    .bind(r.at_ms as i64)
                    .bind(i32::from(r.map_id))
                    .bind(r.x)
                    .bind(r.y)
                    .bind(r.theta)
                    .bind(i32::from(r.state))
                    .bind(f64::from(r.battery_pct))
                    .bind(i32::from(r.navigation_mode))
                    .bind(i32::from(r.charging))
                    .bind(i64::from(r.task_id));
            }
            q.execute(&mut *tx).await.expect("baseline insert");
        }
        tx.commit().await.expect("commit");
    }

    async fn fill(&self, from_s: u64, seconds: u64) {
        for s in from_s..from_s + seconds {
            self.insert(&batch(s * 1_000)).await;
        }
    }

    async fn prune(&self, before_ms: i64) -> u64 {
        sqlx::query(&format!("DELETE FROM {} WHERE at_ms < $1", self.table))
            .bind(before_ms)
            .execute(&self.raw)
            .await
            .expect("baseline prune")
            .rows_affected()
    }
}

struct Target {
    name: &'static str,
    url: String,
    schema: Option<String>,
}

fn targets(dir: &std::path::Path) -> Vec<Target> {
    let mut t = vec![Target {
        name: "sqlite",
        url: format!("sqlite://{}?mode=rwc", dir.join("bench.sqlite").display()),
        schema: None,
    }];
    if std::net::TcpStream::connect_timeout(
        &"127.0.0.1:5432".parse().expect("address"),
        Duration::from_secs(1),
    )
    .is_ok()
    {
        t.push(Target {
            name: "postgres",
            url: "postgres://postgres@127.0.0.1:5432/test".into(),
            schema: Some(format!("bench_telemetry_{}", std::process::id())),
        });
    } else {
        eprintln!("telemetry bench: PostgreSQL skipped (nothing answers at 127.0.0.1:5432)");
    }
    t
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let dir = tempfile::tempdir().expect("dir");
    let history_s: u64 = std::env::var("RCS_BENCH_HISTORY_S")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(120);
    for target in targets(dir.path()) {
        let (db, raw) = rt.block_on(async {
            let db = Db::open_in(&target.url, target.schema.as_deref())
                .await
                .expect("open");
            db.migrate().await.expect("migrate");
            let raw = sqlx::any::AnyPoolOptions::new()
                .max_connections(1)
                .connect(&target.url)
                .await
                .expect("open");
            (db, raw)
        });
        let table = match &target.schema {
            Some(schema) => format!("{schema}.telemetry_by_agv"),
            None => "telemetry_by_agv".into(),
        };
        let baseline = Baseline {
            raw: raw.clone(),
            table: table.clone(),
            postgres: target.schema.is_some(),
        };
        rt.block_on(baseline.create());
        // the restore before `telemetry_latest`
        let grouped = format!(
            "SELECT t.agv_id, t.at_ms, t.map_id, t.x, t.y, t.theta, t.state, t.battery_pct, \
             t.navigation_mode, t.charging, t.task_id FROM {table} t JOIN \
             (SELECT agv_id, MAX(at_ms) AS m FROM {table} GROUP BY agv_id) l \
             ON t.agv_id = l.agv_id AND t.at_ms = l.m ORDER BY t.agv_id"
        );
        let started = Instant::now();
        rt.block_on(fill(&db, 1, history_s));
        rt.block_on(db.write_telemetry(&batch(history_s * 1_000), &[]))
            .expect("last snapshots");
        let ours = started.elapsed();
        let started = Instant::now();
        rt.block_on(baseline.fill(1, history_s));
        eprintln!(
            "telemetry bench ({}): {history_s} s of history for {AGVS} AGVs stored in {:.1} s \
             (keyed by time) and {:.1} s (keyed by AGV, the baseline)",
            target.name,
            ours.as_secs_f64(),
            started.elapsed().as_secs_f64()
        );
        let mut clock = (history_s + 1) * 1_000;
        let mut g = c.benchmark_group(format!("telemetry/{}/batch of {AGVS} AGVs", target.name));
        g.sample_size(10);
        g.sampling_mode(SamplingMode::Flat);
        g.measurement_time(Duration::from_secs(10));
        for (name, ours, history) in [
            ("moving: last snapshots + history (ours)", true, true),
            ("standing: last snapshots only (ours)", true, false),
            ("history keyed by AGV (baseline)", false, true),
        ] {
            g.bench_function(name, |b| {
                b.iter_custom(|n| {
                    let mut spent = Duration::ZERO;
                    for _ in 0..n {
                        clock += 1_000;
                        let rows = batch(clock);
                        let none: &[TelemetryRow] = &[];
                        let t = Instant::now();
                        if ours {
                            rt.block_on(
                                db.write_telemetry(&rows, if history { &rows } else { none }),
                            )
                            .expect("batch");
                        } else {
                            rt.block_on(baseline.insert(&rows));
                        }
                        spent += t.elapsed();
                    }
                    spent
                })
            });
        }
        g.finish();
        // prune: the oldest second of each history; the rows deleted are stored again,
        // untimed, for the next sample
        let mut g = c.benchmark_group(format!("telemetry/{}/prune", target.name));
        g.sample_size(10);
        g.sampling_mode(SamplingMode::Flat);
        g.measurement_time(Duration::from_secs(10));
        for (name, ours) in [
            ("one batch interval, keyed by time (ours)", true),
            ("one batch interval, keyed by AGV (baseline)", false),
        ] {
            g.bench_function(name, |b| {
                b.iter_custom(|n| {
                    let mut spent = Duration::ZERO;
                    for _ in 0..n {
                        let t = Instant::now();
                        let gone = if ours {
                            rt.block_on(db.prune_telemetry(2_000, 1_000))
                                .expect("prune")
                        } else {
                            rt.block_on(baseline.prune(2_000))
                        };
                        spent += t.elapsed();
                        assert_eq!(gone, u64::from(AGVS));
                        if ours {
                            rt.block_on(fill(&db, 1, 1));
                        } else {
                            rt.block_on(baseline.fill(1, 1));
                        }
                    }
                    spent
                })
            });
        }
        g.finish();
        let mut g = c.benchmark_group(format!(
            "telemetry/{}/restore with {history_s} s of history",
            target.name
        ));
        g.sample_size(10);
        g.sampling_mode(SamplingMode::Flat);
        g.measurement_time(Duration::from_secs(20));
        g.bench_function("last snapshots table (ours)", |b| {
            b.iter(|| {
                let rows = rt.block_on(db.latest_telemetry()).expect("restore");
                assert_eq!(rows.len(), AGVS as usize);
            })
        });
        g.bench_function("history grouped by AGV (baseline)", |b| {
            b.iter(|| {
                let rows = rt
                    .block_on(sqlx::query(&grouped).fetch_all(&raw))
                    .expect("restore");
                assert_eq!(rows.len(), AGVS as usize);
            })
        });
        g.finish();
        rt.block_on(db.close());
        if let Some(schema) = &target.schema {
            rt.block_on(sqlx::query(&format!("DROP SCHEMA {schema} CASCADE")).execute(&raw))
                .expect("drop schema");
        }
        rt.block_on(raw.close());
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
