-- Ended tasks by when they ended: the task list reads the ended tasks of the last day that are
-- no longer in memory from storage (`GET /api/v1/tasks`), which stays a range of recent rows
-- however many tasks the table holds.
CREATE INDEX tasks_updated ON tasks (updated_at);
