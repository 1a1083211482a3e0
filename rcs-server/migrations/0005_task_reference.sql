-- The business system's own reference of a task (idempotent submission): at most one task has
-- each (NULLs are distinct in both SQLite and PostgreSQL). Priority and deadline live in the
-- task's `spec` JSON.
ALTER TABLE tasks ADD COLUMN reference TEXT;
CREATE UNIQUE INDEX tasks_reference ON tasks (reference);
