//! The tasks table: every task submitted, its state and spec.

use sqlx::Row;

use super::{Db, TASK_COLUMNS, TaskRow, task_row};

impl Db {
    /// Stores a task's state (its reference only when it is first stored: it never changes). A
    /// state older than the stored one (`updated_at`) is not written: the API and the
    /// dispatcher may store a new task at the same moment, in either order. The reference is
    /// set on the task's one row, not inserted with it: two inserts of a new task racing on the
    /// reference's unique index made one fail (only the task id's conflict is resolved).
    pub async fn upsert_task(&self, t: &TaskRow) -> Result<(), sqlx::Error> {
        let mut tx = self.decision().await?;
        sqlx::query(
            "INSERT INTO tasks (task_id, kind, agv_id, state, spec, created_by, created_at, \
             updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
             ON CONFLICT (task_id) DO UPDATE SET agv_id = $3, state = $4, spec = $5, \
             updated_at = $8 WHERE tasks.updated_at <= $8",
        )
        .bind(i64::from(t.task_id))
        .bind(&t.kind)
        .bind(t.agv_id.map(i64::from))
        .bind(&t.state)
        .bind(&t.spec)
        .bind(&t.created_by)
        .bind(t.created_at)
        .bind(t.updated_at)
        .execute(&mut *tx)
        .await?;
        if let Some(reference) = &t.reference {
            sqlx::query("UPDATE tasks SET reference = $1 WHERE task_id = $2 AND reference IS NULL")
                .bind(reference)
                .bind(i64::from(t.task_id))
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await
    }

    /// The task stored with `reference`, if any (an index look-up).
    pub async fn task_by_reference(&self, reference: &str) -> Result<Option<TaskRow>, sqlx::Error> {
        let row = sqlx::query(&format!(
            "SELECT {TASK_COLUMNS} FROM tasks WHERE reference = $1"
        ))
        .bind(reference)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(task_row).transpose()
    }

    /// The highest task id stored.
    pub async fn max_task_id(&self) -> Result<u32, sqlx::Error> {
        let max: Option<i64> = sqlx::query("SELECT MAX(task_id) FROM tasks")
            .fetch_one(&self.pool)
            .await?
            .try_get(0)?;
        Ok(max.map_or(0, |m| u32::try_from(m).unwrap_or(0)))
    }

    /// Tasks not finished.
    pub async fn open_tasks(&self) -> Result<Vec<TaskRow>, sqlx::Error> {
        let rows = sqlx::query(&format!(
            "SELECT {TASK_COLUMNS} FROM tasks WHERE state IN ('queued', 'running') \
             ORDER BY task_id"
        ))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(task_row).collect()
    }

    /// Tasks that finished (completed, failed, cancelled) at or after `since_ms` with ids below
    /// `below` (all: `None`), the newest `limit` of them, by id (an index on `updated_at` keeps
    /// this to the recent rows however long the table).
    pub async fn finished_tasks(
        &self,
        since_ms: i64,
        below: Option<u32>,
        limit: usize,
    ) -> Result<Vec<TaskRow>, sqlx::Error> {
        let rows = sqlx::query(&format!(
            "SELECT {TASK_COLUMNS} FROM tasks WHERE state NOT IN ('queued', 'running') \
             AND updated_at >= $1 AND task_id < $2 ORDER BY task_id DESC LIMIT $3"
        ))
        .bind(since_ms)
        .bind(below.map_or(i64::MAX, i64::from))
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_all(&self.pool)
        .await?;
        let mut rows = rows.iter().map(task_row).collect::<Result<Vec<_>, _>>()?;
        rows.reverse();
        Ok(rows)
    }

    /// The task stored with id `task_id`, if any (a task that ended before the last restart
    /// and is no longer in memory).
    pub async fn task(&self, task_id: u32) -> Result<Option<TaskRow>, sqlx::Error> {
        let row = sqlx::query(&format!(
            "SELECT {TASK_COLUMNS} FROM tasks WHERE task_id = $1"
        ))
        .bind(i64::from(task_id))
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(task_row).transpose()
    }
}
