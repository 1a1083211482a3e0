-- API tokens (SM3 digests only), the last-known fields the fleet view restores after a restart,
-- and the tables the task dispatcher and traffic control write (tasks and their steps,
-- reservations, safe-space grants): each row is committed before the command that relies on it
-- is sent to an AGV.
CREATE TABLE api_tokens (
    token_digest TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    role TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

ALTER TABLE telemetry ADD COLUMN navigation_mode INTEGER NOT NULL DEFAULT 0;
ALTER TABLE telemetry ADD COLUMN charging INTEGER NOT NULL DEFAULT 0;
ALTER TABLE telemetry ADD COLUMN task_id BIGINT NOT NULL DEFAULT 0;
CREATE INDEX telemetry_at ON telemetry (at_ms);

CREATE TABLE tasks (
    task_id BIGINT PRIMARY KEY,
    kind TEXT NOT NULL,
    agv_id BIGINT,
    state TEXT NOT NULL,
    spec TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE task_steps (
    task_id BIGINT NOT NULL,
    step_no INTEGER NOT NULL,
    kind TEXT NOT NULL,
    state TEXT NOT NULL,
    detail TEXT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (task_id, step_no)
);

CREATE TABLE reservations (
    agv_id BIGINT NOT NULL,
    map_id INTEGER NOT NULL,
    resource TEXT NOT NULL,
    task_id BIGINT,
    reserved_at BIGINT NOT NULL,
    PRIMARY KEY (map_id, resource)
);

CREATE TABLE grants (
    grant_id BIGINT PRIMARY KEY,
    agv_id BIGINT NOT NULL,
    map_id INTEGER NOT NULL,
    region TEXT NOT NULL,
    granted_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    released_at BIGINT,
    release_cause TEXT
);
