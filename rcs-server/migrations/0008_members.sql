-- The instances of a cluster as they last said they were alive (unused with SQLite): where
-- each is reached and its role, so operators and the dashboard find every instance, not only
-- the lease's holder. `seen_at`: UTC ms, the database's clock.
CREATE TABLE members (
    instance TEXT PRIMARY KEY,
    agv_address TEXT NOT NULL,
    http_address TEXT NOT NULL,
    role TEXT NOT NULL,
    seen_at BIGINT NOT NULL
);
