//! Telemetry: each AGV's last snapshot (`telemetry_latest`, one row an AGV, what a restart
//! restores) and the history of snapshots (`telemetry`, one row per AGV and batch in which its
//! snapshot changed, keyed by time then AGV so that a batch is appended and pruning takes from
//! the start, pruned by age). On SQLite both live in the telemetry file beside the database,
//! with a connection of their own ([`super::sqlite_files`]).

use sqlx::any::AnyArguments;
use sqlx::error::BoxDynError;
use sqlx::{Arguments, Row};

use super::statements::{SQLITE_RUN_STATEMENTS, run_chunks};
use super::{Db, TelemetryRow};

/// Rows in one SQLite statement: 11 parameters a row. Kept small: sqlx's SQLite driver
/// resolves each bound parameter by name, which costs in proportion to the statement's
/// parameter count; with 1,000-row statements that lookup was a third of the server's CPU at
/// 2,000 AGVs (perf). On SQLite the parameters are anonymous (`?`), which leaves SQLite no
/// names to search: with `$n` the lookup was still 7 % of the server's instructions per status
/// frame (scripts/callgrind-status).
const SQLITE_STATEMENT_ROWS: usize = 32;

/// Rows in one SQLite transaction. The telemetry file has one connection: a read of it (the
/// API's history, a restart's restore) waits for the transaction in hand, so a batch of 10,000
/// AGVs is written as several short transactions, not one long one (docs/performance.md,
/// "Telemetry"). Decisions are in the database's own file and do not wait.
const SQLITE_TRANSACTION_ROWS: usize = 1_024;

/// Rows in one PostgreSQL statement (5,632 parameters; at most 65,535): a statement is a round
/// trip, and PostgreSQL has no per-name lookup.
const POSTGRES_STATEMENT_ROWS: usize = 512;

/// The columns of both telemetry tables, in the order rows bind them.
pub(super) const COLUMNS: &str =
    "agv_id, at_ms, map_id, x, y, theta, state, battery_pct, navigation_mode, charging, task_id";

/// How a row meets a stored one: a last snapshot replaces an older one (never a newer one).
pub(super) const LATEST_ON_CONFLICT: &str = " ON CONFLICT (agv_id) DO UPDATE SET at_ms = excluded.at_ms, map_id = excluded.map_id, \
     x = excluded.x, y = excluded.y, theta = excluded.theta, state = excluded.state, \
     battery_pct = excluded.battery_pct, navigation_mode = excluded.navigation_mode, \
     charging = excluded.charging, task_id = excluded.task_id \
     WHERE telemetry_latest.at_ms <= excluded.at_ms";

/// How a row meets a stored one: a history row already stored is kept.
pub(super) const HISTORY_ON_CONFLICT: &str = " ON CONFLICT (at_ms, agv_id) DO NOTHING";
/// The values a row binds (its [`COLUMNS`]).
const PARAMETERS: usize = 11;

/// Adds the values of `r` to a statement's, in [`COLUMNS`]' order.
fn row_arguments(args: &mut AnyArguments<'_>, r: &TelemetryRow) -> Result<(), BoxDynError> {
    args.add(i64::from(r.agv_id))?;
    args.add(r.at_ms as i64)?;
    args.add(i32::from(r.map_id))?;
    args.add(r.x)?;
    args.add(r.y)?;
    args.add(r.theta)?;
    args.add(i32::from(r.state))?;
    args.add(f64::from(r.battery_pct))?;
    args.add(i32::from(r.navigation_mode))?;
    args.add(i32::from(r.charging))?;
    args.add(i64::from(r.task_id))
}

/// Where a batch goes.
#[derive(Clone, Copy)]
enum Table {
    /// `telemetry_latest`: replaced, never older by newer.
    Latest,
    /// `telemetry`: appended (a row already stored is skipped).
    History,
}

impl Db {
    /// Writes a telemetry batch: `latest` replaces each AGV's last snapshot (one row an AGV; a
    /// row older than the stored one is not written), `history` is appended (a row already
    /// stored is skipped), the last snapshots first. On SQLite in the telemetry file, in
    /// transactions of at most 1,024 rows; on PostgreSQL in one
    /// transaction on a connection of its own, its commit not waited for on disk
    /// (`synchronous_commit` off: a crash may lose the last batch, which write-behind telemetry
    /// may anyway).
    pub async fn write_telemetry(
        &self,
        latest: &[TelemetryRow],
        history: &[TelemetryRow],
    ) -> Result<(), sqlx::Error> {
        self.write_telemetry_over(latest, history, std::time::Duration::ZERO)
            .await
    }

    /// [`Db::write_telemetry`], its SQLite transactions spread evenly over about `spread` (a
    /// pause between two; PostgreSQL writes one transaction, at once). SQLite's thread shares the server's cores with
    /// the runtime: at 10,000 AGVs a batch written at once held one core for about 100 ms, in
    /// which the runtime ran at half speed and commands' answers queued behind the reports
    /// (docs/performance.md, "Telemetry: spread over the interval").
    pub async fn write_telemetry_over(
        &self,
        latest: &[TelemetryRow],
        history: &[TelemetryRow],
        spread: std::time::Duration,
    ) -> Result<(), sqlx::Error> {
        if self.postgres {
            let mut tx = self.telemetry.begin().await?;
            sqlx::query("SET LOCAL synchronous_commit TO OFF")
                .execute(&mut *tx)
                .await?;
            self.write_rows(&mut tx, Table::Latest, latest, POSTGRES_STATEMENT_ROWS, 1)
                .await?;
            self.write_rows(&mut tx, Table::History, history, POSTGRES_STATEMENT_ROWS, 1)
                .await?;
            return tx.commit().await;
        }
        let transactions = latest.len().div_ceil(SQLITE_TRANSACTION_ROWS)
            + history.len().div_ceil(SQLITE_TRANSACTION_ROWS);
        let pause = spread / u32::try_from(transactions.max(2) - 1).unwrap_or(u32::MAX);
        let mut written = 0;
        for (table, rows) in [(Table::Latest, latest), (Table::History, history)] {
            for piece in rows.chunks(SQLITE_TRANSACTION_ROWS) {
                if written > 0 && !pause.is_zero() {
                    tokio::time::sleep(pause).await;
                }
                written += 1;
                let mut tx = self.telemetry.begin().await?;
                self.write_rows(
                    &mut tx,
                    table,
                    piece,
                    SQLITE_STATEMENT_ROWS,
                    SQLITE_RUN_STATEMENTS,
                )
                .await?;
                tx.commit().await?;
            }
        }
        Ok(())
    }

    /// Writes `rows` to `table` in statements of `per_statement` rows, up to `per_run` of them
    /// in one text ([`run_chunks`]; SQLite only: PostgreSQL binds arguments to one statement).
    async fn write_rows(
        &self,
        tx: &mut sqlx::Transaction<'_, sqlx::Any>,
        table: Table,
        rows: &[TelemetryRow],
        per_statement: usize,
        per_run: usize,
    ) -> Result<(), sqlx::Error> {
        if rows.is_empty() {
            return Ok(());
        }
        let texts = match table {
            Table::Latest => &self.texts.latest,
            Table::History => &self.texts.history,
        };
        for chunk in run_chunks(rows, per_statement, per_run) {
            let text = texts.get(chunk.len(), |n| {
                self.statements_text(n, per_statement, |n| self.insert_sql(table, n))
            });
            // the statement's values in one allocation (binding one by one grew the list
            // about nine times for a 32-row statement's 352)
            let mut args = AnyArguments::default();
            args.reserve(chunk.len() * PARAMETERS, 0);
            for r in chunk {
                row_arguments(&mut args, r).map_err(sqlx::Error::Encode)?;
            }
            sqlx::query_with(&text, args).execute(&mut **tx).await?;
        }
        Ok(())
    }

    /// The statement that writes `n` rows to `table`.
    fn insert_sql(&self, table: Table, n: usize) -> String {
        let name = match table {
            Table::Latest => "telemetry_latest",
            Table::History => "telemetry",
        };
        let mut sql = format!("INSERT INTO {name} ({COLUMNS}) VALUES ");
        self.push_values(&mut sql, n, PARAMETERS);
        sql.push_str(match table {
            Table::Latest => LATEST_ON_CONFLICT,
            Table::History => HISTORY_ON_CONFLICT,
        });
        sql
    }

    /// The last snapshot of every AGV that has one (one row an AGV, by AGV id).
    pub async fn latest_telemetry(&self) -> Result<Vec<TelemetryRow>, sqlx::Error> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM telemetry_latest ORDER BY agv_id"
        ))
        .fetch_all(&self.telemetry)
        .await?;
        rows.iter().map(row).collect()
    }

    /// The history of `agv_id` from `from_ms` up to (not including) `to_ms`, oldest first: a
    /// scan of that time range (of every AGV's rows in it).
    pub async fn telemetry_history(
        &self,
        agv_id: u32,
        from_ms: u64,
        to_ms: u64,
    ) -> Result<Vec<TelemetryRow>, sqlx::Error> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM telemetry WHERE at_ms >= $2 AND at_ms < $3 AND agv_id = $1 \
             ORDER BY at_ms"
        ))
        .bind(i64::from(agv_id))
        .bind(from_ms.min(i64::MAX as u64) as i64)
        .bind(to_ms.min(i64::MAX as u64) as i64)
        .fetch_all(&self.telemetry)
        .await?;
        rows.iter().map(row).collect()
    }

    /// Deletes history older than `before_ms`, but only its oldest `span_ms` in one statement
    /// (a long backlog goes over several calls; each holds the connection briefly). Returns
    /// how many rows went. The last snapshots (`telemetry_latest`) are never pruned.
    pub async fn prune_telemetry(&self, before_ms: i64, span_ms: i64) -> Result<u64, sqlx::Error> {
        let oldest: Option<i64> = sqlx::query("SELECT MIN(at_ms) FROM telemetry")
            .fetch_one(&self.telemetry)
            .await?
            .try_get(0)?;
        let Some(oldest) = oldest.filter(|o| *o < before_ms) else {
            return Ok(0);
        };
        let upto = before_ms.min(oldest.saturating_add(span_ms.max(1)));
        let r = sqlx::query("DELETE FROM telemetry WHERE at_ms < $1")
            .bind(upto)
            .execute(&self.telemetry)
            .await?;
        Ok(r.rows_affected())
    }
}

/// A stored snapshot.
fn row(r: &sqlx::any::AnyRow) -> Result<TelemetryRow, sqlx::Error> {
    Ok(TelemetryRow {
        agv_id: u32::try_from(r.try_get::<i64, _>(0)?).unwrap_or(0),
        at_ms: r.try_get::<i64, _>(1)?.max(0) as u64,
        map_id: u16::try_from(r.try_get::<i32, _>(2)?).unwrap_or(0),
        x: r.try_get(3)?,
        y: r.try_get(4)?,
        theta: r.try_get(5)?,
        state: u8::try_from(r.try_get::<i32, _>(6)?).unwrap_or(0),
        battery_pct: r.try_get::<f64, _>(7)? as f32,
        navigation_mode: u8::try_from(r.try_get::<i32, _>(8)?).unwrap_or(0),
        charging: r.try_get::<i32, _>(9)? != 0,
        task_id: u32::try_from(r.try_get::<i64, _>(10)?).unwrap_or(0),
    })
}
