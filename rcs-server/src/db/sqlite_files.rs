//! The embedded database's files: the database itself and, beside it, the telemetry file.
//!
//! SQLite lets one writer at a time into a file, and the server reaches each file through one
//! connection. With telemetry in the database's own file, every decision (a command's audit
//! row, a grant, a task's state) waited for the write-behind writer's transaction in hand: at
//! 10,000 AGVs that wait was most of a command's p99 (docs/performance.md, "Telemetry"). So the
//! history and the last snapshots live in a file of their own, `NAME-telemetry.EXT` beside
//! `NAME.EXT`, with its own connection, its own write lock and its own schema
//! (`migrations-telemetry/`). A database written before the split has its telemetry moved
//! into that file on the first start ([`Db::migrate`](super::Db::migrate)).
//!
//! The telemetry file holds every AGV's last pose, from which a restart blocks the space of the
//! AGVs that are offline. So the two files are paired: the same random number in both files'
//! `user_version` (SQLite's slot for the application). A start with a telemetry file that is
//! not the database's (lost, or another database's) is refused, before anything is written,
//! rather than restoring the fleet with no last poses. An operator who has checked the floor
//! and accepts that puts an empty file (0 bytes) in its place: the start then pairs it.

use std::ops::Range;
use std::sync::Arc;

use sqlx::Row;
use sqlx::any::AnyPoolOptions;

use super::Db;
use super::telemetry::{COLUMNS, HISTORY_ON_CONFLICT, LATEST_ON_CONFLICT};

/// A SQLite database's telemetry file.
#[derive(Debug, Clone)]
pub(super) struct TelemetryFile {
    /// Its path.
    path: Arc<str>,
    /// It was an empty file (0 bytes) when the server opened it: an operator's consent to
    /// start without the telemetry the database was written with.
    emptied: bool,
}

impl TelemetryFile {
    /// The telemetry file at `url` (`None`: in memory), looked at before it is opened.
    pub(super) fn find(url: &str) -> Option<Self> {
        let path = sqlite_file(url)?;
        let emptied = std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.len() == 0);
        Some(Self {
            path: path.to_str()?.into(),
            emptied,
        })
    }
}

/// The byte range of the file's path in a `sqlite:` URL (`None`: in memory).
fn path_range(url: &str) -> Option<Range<usize>> {
    let rest = url.strip_prefix("sqlite:")?;
    let rest = rest.strip_prefix("//").unwrap_or(rest);
    let start = url.len() - rest.len();
    let end = start + rest.find('?').unwrap_or(rest.len());
    let path = &url[start..end];
    let memory = path.is_empty() || path == ":memory:" || url.contains("mode=memory");
    (!memory).then_some(start..end)
}

/// The file a `sqlite:` URL names (`None`: in memory).
fn sqlite_file(url: &str) -> Option<&std::path::Path> {
    path_range(url).map(|r| std::path::Path::new(&url[r]))
}

/// The URL of the telemetry file beside the database at `url`: `DIR/NAME.EXT` gives
/// `DIR/NAME-telemetry.EXT` (`DIR/NAME` gives `DIR/NAME-telemetry`), created when missing
/// whatever `mode` the database's URL asks for (the server writes it), the URL's other options
/// kept. A database in memory gets a telemetry database in memory of its own.
pub(super) fn telemetry_url(url: &str) -> String {
    let Some(range) = path_range(url) else {
        return "sqlite::memory:".into();
    };
    let path = &url[range.clone()];
    let name_at = path.rfind('/').map_or(0, |i| i + 1);
    let stem_end = match path[name_at..].rfind('.') {
        Some(dot) if dot > 0 => name_at + dot,
        _ => path.len(),
    };
    let query = url[range.end..].strip_prefix('?').unwrap_or("");
    let mut options: Vec<&str> = query
        .split('&')
        .filter(|o| !o.is_empty() && !o.starts_with("mode="))
        .collect();
    options.push("mode=rwc");
    format!(
        "{}{}-telemetry{}?{}",
        &url[..range.start],
        &path[..stem_end],
        &path[stem_end..],
        options.join("&")
    )
}

/// Creates the SQLite file, readable by its owner only (0600), when it does not exist yet:
/// it holds token hashes and enrolled keys. SQLite gives its `-wal` and `-shm` files the same
/// permissions. An existing file is left as it is.
fn create_private(path: &std::path::Path) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    match options.open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}

/// A pool of one connection to the SQLite file at `url` (created 0600 when the URL says
/// `mode=rwc`), in WAL mode with `synchronous=NORMAL`.
pub(super) async fn open_pool(url: &str) -> Result<sqlx::AnyPool, sqlx::Error> {
    if url.contains("mode=rwc") {
        if let Some(path) = sqlite_file(url) {
            create_private(path).map_err(sqlx::Error::Io)?;
        }
    }
    AnyPoolOptions::new()
        .max_connections(1)
        // The embedded database's one connection lives in this process: a ping to its worker
        // thread before every use (sqlx's default, for connections over a network) buys
        // nothing. A worker that failed fails the statement itself, as the ping would have
        // failed the acquire: the caller gets a database error either way.
        .test_before_acquire(false)
        // On every connection the pool opens (it replaces its connection after 30 min, and
        // `synchronous` is a connection's setting: set once, the replacement synced the log at
        // every commit).
        .after_connect(|conn, _| {
            Box::pin(async move {
                sqlx::Executor::execute(&mut *conn, "PRAGMA journal_mode=WAL").await?;
                sqlx::Executor::execute(&mut *conn, "PRAGMA synchronous=NORMAL").await?;
                Ok(())
            })
        })
        .connect(url)
        .await
}

impl Db {
    /// Checks that the telemetry file is the database's own, before either is written to.
    /// Returns the number to pair them with when they are not paired yet: a new database, one
    /// written before the split (either with a telemetry file of any kind: an extra last pose
    /// only blocks more space), or an emptied telemetry file.
    pub(super) async fn pair_telemetry(&self) -> Result<Option<i32>, sqlx::Error> {
        let Some(file) = &self.telemetry_file else {
            return Ok(None);
        };
        let ours = user_version(&self.pool).await?;
        let theirs = user_version(&self.telemetry).await?;
        if ours != 0 && theirs == ours {
            return Ok(None);
        }
        if ours != 0 && !file.emptied {
            return Err(sqlx::Error::Configuration(
                format!(
                    "the telemetry file {} is not the one this database was written with (it \
                     is new, or another database's): it holds the last poses from which a \
                     restart blocks the space of AGVs that are offline. Restore it together \
                     with the database; or, once the floor is checked, replace it with an empty \
                     file (0 bytes, mode 0600) to start without them: offline AGVs then block no \
                     space until they report",
                    file.path
                )
                .into(),
            ));
        }
        if ours != 0 {
            tracing::warn!(
                file = %file.path,
                "an emptied telemetry file: started without the last poses and the history"
            );
        }
        let mut id = [0u8; 4];
        getrandom::fill(&mut id).map_err(|e| sqlx::Error::Io(std::io::Error::other(e)))?;
        // positive and not 0 (0: not paired)
        Ok(Some((i32::from_le_bytes(id) & i32::MAX).max(1)))
    }

    /// Pairs the telemetry file with the database: `id` in both, the telemetry file first.
    pub(super) async fn set_pairing(&self, id: i32) -> Result<(), sqlx::Error> {
        for pool in [&self.telemetry, &self.pool] {
            sqlx::query(&format!("PRAGMA user_version = {id}"))
                .execute(pool)
                .await?;
        }
        Ok(())
    }

    /// Moves the telemetry a database written before the split holds in its own file into the
    /// telemetry file (SQLite, once): copied first (a row already there is kept, a newer last
    /// snapshot wins), then deleted from the database, each step a transaction of its own, so
    /// a crash between them leaves both copies and the next start finishes the move. Returns
    /// how many rows it found.
    pub(super) async fn move_telemetry(&self) -> Result<u64, sqlx::Error> {
        let Some(file) = self.telemetry_file.as_ref().map(|f| f.path.to_string()) else {
            return Ok(0);
        };
        let mut conn = self.pool.acquire().await?;
        let found: i64 = sqlx::query(
            "SELECT (SELECT count(*) FROM telemetry_latest) + (SELECT count(*) FROM telemetry)",
        )
        .fetch_one(&mut *conn)
        .await?
        .try_get(0)?;
        if found == 0 {
            return Ok(0);
        }
        tracing::info!(
            rows = found,
            file = %file,
            "moving the telemetry into its own file (once)"
        );
        sqlx::query("ATTACH DATABASE $1 AS moved")
            .bind(file)
            .execute(&mut *conn)
            .await?;
        let moved = move_attached(&mut conn).await;
        // a transaction that failed was rolled back when dropped; the connection goes on
        // serving the server without the file attached
        let detached = sqlx::query("DETACH DATABASE moved")
            .execute(&mut *conn)
            .await;
        moved?;
        detached?;
        Ok(found.max(0) as u64)
    }
}

/// A SQLite file's `user_version`.
async fn user_version(pool: &sqlx::AnyPool) -> Result<i64, sqlx::Error> {
    sqlx::query("PRAGMA user_version")
        .fetch_one(pool)
        .await?
        .try_get(0)
}

/// Copies the database's telemetry into the attached telemetry file (`moved`) in one
/// transaction, then empties the database's tables in another.
async fn move_attached(conn: &mut sqlx::AnyConnection) -> Result<(), sqlx::Error> {
    let mut tx = sqlx::Connection::begin(&mut *conn).await?;
    // (`WHERE true`: SQLite's parser reads an upsert after a bare `SELECT ... FROM t` as a join)
    sqlx::query(&format!(
        "INSERT INTO moved.telemetry_latest ({COLUMNS}) SELECT {COLUMNS} \
         FROM main.telemetry_latest WHERE true{LATEST_ON_CONFLICT}"
    ))
    .execute(&mut *tx)
    .await?;
    sqlx::query(&format!(
        "INSERT INTO moved.telemetry ({COLUMNS}) SELECT {COLUMNS} FROM main.telemetry \
         WHERE true{HISTORY_ON_CONFLICT}"
    ))
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    let mut tx = sqlx::Connection::begin(&mut *conn).await?;
    sqlx::query("DELETE FROM main.telemetry_latest")
        .execute(&mut *tx)
        .await?;
    sqlx::query("DELETE FROM main.telemetry")
        .execute(&mut *tx)
        .await?;
    tx.commit().await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_telemetry_file_sits_beside_the_database() {
        for (database, telemetry) in [
            (
                "sqlite:///var/lib/rcs/rcs.sqlite?mode=rwc",
                Some("sqlite:///var/lib/rcs/rcs-telemetry.sqlite?mode=rwc"),
            ),
            (
                "sqlite://rcs-data/rcs.sqlite",
                Some("sqlite://rcs-data/rcs-telemetry.sqlite?mode=rwc"),
            ),
            (
                "sqlite:site.db?mode=rw&cache=private",
                Some("sqlite:site-telemetry.db?cache=private&mode=rwc"),
            ),
            (
                "sqlite:///data.d/store",
                Some("sqlite:///data.d/store-telemetry?mode=rwc"),
            ),
            (
                "sqlite:///x/.hidden",
                Some("sqlite:///x/.hidden-telemetry?mode=rwc"),
            ),
            ("sqlite::memory:", None),
            ("sqlite:", None),
            ("sqlite:file:shared?mode=memory&cache=shared", None),
        ] {
            let got = telemetry_url(database);
            match telemetry {
                Some(want) => assert_eq!(got, want, "{database}"),
                None => assert_eq!(got, "sqlite::memory:", "{database}"),
            }
        }
        assert_eq!(
            sqlite_file("sqlite:///var/lib/rcs/rcs.sqlite?mode=rwc"),
            Some(std::path::Path::new("/var/lib/rcs/rcs.sqlite"))
        );
        assert_eq!(sqlite_file("sqlite::memory:"), None);
    }
}
