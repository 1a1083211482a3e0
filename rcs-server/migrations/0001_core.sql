-- Core tables, portable between SQLite and PostgreSQL (runtime queries through sqlx's Any
-- driver; ids are chosen by the application, times are UTC ms).
CREATE TABLE agvs (
    agv_id BIGINT PRIMARY KEY,
    public_key_pem TEXT,
    key_id TEXT,
    distid TEXT NOT NULL,
    vendor TEXT,
    model TEXT,
    serial TEXT,
    firmware TEXT,
    agv_type INTEGER,
    enrolled_at BIGINT,
    registered_at BIGINT
);

CREATE TABLE sessions (
    session_id BIGINT PRIMARY KEY,
    agv_id BIGINT NOT NULL,
    mode TEXT NOT NULL,
    profile TEXT NOT NULL,
    peer TEXT NOT NULL,
    opened_at BIGINT NOT NULL,
    closed_at BIGINT,
    close_cause TEXT
);

CREATE TABLE telemetry (
    agv_id BIGINT NOT NULL,
    at_ms BIGINT NOT NULL,
    map_id INTEGER NOT NULL,
    x DOUBLE PRECISION NOT NULL,
    y DOUBLE PRECISION NOT NULL,
    theta DOUBLE PRECISION NOT NULL,
    state INTEGER NOT NULL,
    battery_pct DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (agv_id, at_ms)
);

CREATE TABLE events (
    at_ms BIGINT NOT NULL,
    seq BIGINT NOT NULL,
    actor TEXT NOT NULL,
    kind TEXT NOT NULL,
    detail TEXT NOT NULL,
    PRIMARY KEY (at_ms, seq)
);
