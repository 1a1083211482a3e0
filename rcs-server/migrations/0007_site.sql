-- The site whose data this database (PostgreSQL: this schema) holds: written by the first
-- instance that migrates it; an instance of another site refuses to start on it.
CREATE TABLE site_meta (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL
);
