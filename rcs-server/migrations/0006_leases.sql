-- Leadership of a site among several instances on one PostgreSQL (unused with SQLite, where one
-- instance is always active): the holder, where AGVs and operators reach it, the fencing epoch
-- (only grows: each new holder takes the next) and when the lease lapses (UTC ms, the
-- database's clock).
CREATE TABLE leases (
    site TEXT PRIMARY KEY,
    holder TEXT NOT NULL,
    agv_address TEXT NOT NULL,
    http_address TEXT NOT NULL,
    epoch BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
