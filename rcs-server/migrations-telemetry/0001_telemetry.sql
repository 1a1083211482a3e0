-- The SQLite telemetry file's schema (beside the database: rcs-server/src/db/sqlite_files.rs).
-- The same two tables as the database's own migrations leave (0001, 0002, 0012), which on
-- SQLite stay empty: each AGV's last snapshot, one row an AGV, upserted with every batch (what
-- a restart restores), and the history keyed by time first (a batch is appended at the end,
-- pruning takes from the start; one AGV's history is a range of time filtered by AGV).
CREATE TABLE telemetry_latest (
    agv_id BIGINT PRIMARY KEY,
    at_ms BIGINT NOT NULL,
    map_id INTEGER NOT NULL,
    x DOUBLE PRECISION NOT NULL,
    y DOUBLE PRECISION NOT NULL,
    theta DOUBLE PRECISION NOT NULL,
    state INTEGER NOT NULL,
    battery_pct DOUBLE PRECISION NOT NULL,
    navigation_mode INTEGER NOT NULL,
    charging INTEGER NOT NULL,
    task_id BIGINT NOT NULL
);

CREATE TABLE telemetry (
    at_ms BIGINT NOT NULL,
    agv_id BIGINT NOT NULL,
    map_id INTEGER NOT NULL,
    x DOUBLE PRECISION NOT NULL,
    y DOUBLE PRECISION NOT NULL,
    theta DOUBLE PRECISION NOT NULL,
    state INTEGER NOT NULL,
    battery_pct DOUBLE PRECISION NOT NULL,
    navigation_mode INTEGER NOT NULL,
    charging INTEGER NOT NULL,
    task_id BIGINT NOT NULL,
    PRIMARY KEY (at_ms, agv_id)
);
