//! API tokens and roles. A token is 32 random bytes, hex, prefixed `rcs_`; the server keeps only
//! its SM3 digest (in memory, and in the database for tokens created through the API or CLI),
//! so a leaked database does not leak tokens. The admin token comes from `RCS_API_TOKEN` or is
//! generated once into `<data-dir>/api-token` (mode 0600).

use std::collections::HashMap;
use std::path::Path;
use std::sync::RwLock;

use serde::{Deserialize, Serialize};

use crate::ServerError;
use crate::db::Db;

/// What a token may do. Ordered: each role may do what the ones before it may.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Reads fleet state and events.
    Viewer,
    /// Also commands AGVs and submits tasks.
    Operator,
    /// Also enrolls AGV keys and creates tokens.
    Admin,
}

impl Role {
    /// The role's name as stored.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Operator => "operator",
            Role::Admin => "admin",
        }
    }

    /// Parses a stored name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "viewer" => Some(Role::Viewer),
            "operator" => Some(Role::Operator),
            "admin" => Some(Role::Admin),
            _ => None,
        }
    }
}

/// Who made a request: the token's name and role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The token's name (recorded in the audit log).
    pub name: String,
    /// Its role.
    pub role: Role,
}

/// The digest a token is known by.
pub fn digest(token: &str) -> String {
    hex::encode(crypto::hash::sm3(&[token.as_bytes()]))
}

/// A new random token.
pub fn generate() -> String {
    let mut raw = [0u8; 32];
    getrandom::fill(&mut raw).expect("the system RNG works");
    format!("rcs_{}", hex::encode(raw))
}

/// A stored token's public id: the first 16 hex digits of its digest (names what to revoke;
/// tells nothing about the token).
pub fn token_id(digest: &str) -> &str {
    &digest[..digest.len().min(TOKEN_ID_LEN)]
}

/// Hex digits in a token id.
pub const TOKEN_ID_LEN: usize = 16;

/// A token not known in memory makes the server read the stored tokens again (a token created
/// by the CLI or another instance works at once), at most this often.
const REFRESH_ON_MISS: std::time::Duration = std::time::Duration::from_millis(250);

/// The known tokens, by digest: the admin token (configured or in the data dir's file) and the
/// stored ones, read again from the database every few seconds and on a miss (revocations and
/// tokens from the CLI or another instance take effect without a restart).
#[derive(Default)]
pub struct Tokens {
    by_digest: RwLock<HashMap<String, Principal>>,
    /// The digest of the admin token that is not stored (kept over refreshes).
    fixed: RwLock<Option<(String, Principal)>>,
    /// When a miss last read the stored tokens again.
    missed: std::sync::Mutex<Option<std::time::Instant>>,
}

impl std::fmt::Debug for Tokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let n = self.by_digest.read().map(|t| t.len()).unwrap_or(0);
        write!(f, "Tokens({n})")
    }
}

impl Tokens {
    /// Loads the database's tokens and the admin token (`configured`, else the data dir's
    /// `api-token`, created on first start). Returns the tokens and where the admin token is.
    pub async fn load(
        db: &Db,
        data_dir: &Path,
        configured: Option<&str>,
    ) -> Result<(Self, AdminTokenSource), ServerError> {
        let tokens = Self::default();
        for (digest, name, role) in db.api_tokens().await? {
            if let Some(role) = Role::parse(&role) {
                tokens.insert_digest(digest, Principal { name, role });
            }
        }
        // Presented tokens are trimmed: so is the configured one. A blank one would be a
        // token anyone can present (`?access_token=`): refused.
        let source = match configured {
            Some(t) if !t.is_empty() => {
                let t = t.trim();
                if t.is_empty() {
                    return Err(ServerError::Token(
                        "RCS_API_TOKEN (--api-token) is blank".into(),
                    ));
                }
                tokens.set_fixed(t, "admin (RCS_API_TOKEN)");
                AdminTokenSource::Configured
            }
            _ => {
                let path = data_dir.join("api-token");
                let token = if path.exists() {
                    let token = std::fs::read_to_string(&path)?.trim().to_owned();
                    if token.is_empty() {
                        return Err(ServerError::Token(format!(
                            "{} is empty: delete it and a new token is generated, or write one into it",
                            path.display()
                        )));
                    }
                    token
                } else {
                    let token = generate();
                    write_secret(&path, &token)?;
                    token
                };
                tokens.set_fixed(&token, "admin (api-token file)");
                AdminTokenSource::File(path)
            }
        };
        Ok((tokens, source))
    }

    /// Adds a token in memory.
    pub fn insert(&self, token: &str, name: &str, role: Role) {
        self.insert_digest(
            digest(token),
            Principal {
                name: name.to_owned(),
                role,
            },
        );
    }

    fn set_fixed(&self, token: &str, name: &str) {
        let principal = Principal {
            name: name.to_owned(),
            role: Role::Admin,
        };
        self.insert_digest(digest(token), principal.clone());
        *self.fixed.write().expect("not poisoned") = Some((digest(token), principal));
    }

    /// Reads the stored tokens again: tokens created elsewhere (the CLI, another instance)
    /// are known, revoked ones forgotten. The admin token that is not stored stays.
    pub async fn refresh(&self, db: &Db) -> Result<(), sqlx::Error> {
        let mut fresh = HashMap::new();
        for (digest, name, role) in db.api_tokens().await? {
            if let Some(role) = Role::parse(&role) {
                fresh.insert(digest, Principal { name, role });
            }
        }
        if let Some((d, p)) = self.fixed.read().expect("not poisoned").clone() {
            fresh.insert(d, p);
        }
        *self.by_digest.write().expect("not poisoned") = fresh;
        Ok(())
    }

    /// Who `token` is, reading the stored tokens again first when it is not known (at most
    /// every 250 ms: a flood of wrong tokens costs the database a few reads a second).
    pub async fn check_fresh(&self, token: &str, db: &Db) -> Option<Principal> {
        if let Some(p) = self.check(token) {
            return Some(p);
        }
        if token.is_empty() {
            return None;
        }
        {
            let mut missed = self.missed.lock().expect("not poisoned");
            let now = std::time::Instant::now();
            if missed.is_some_and(|at| now.duration_since(at) < REFRESH_ON_MISS) {
                return None;
            }
            *missed = Some(now);
        }
        if let Err(e) = self.refresh(db).await {
            tracing::warn!(error = %e, "could not read the stored API tokens");
        }
        self.check(token)
    }

    /// Forgets the stored token with id `id` (revoked).
    pub fn forget(&self, id: &str) {
        self.by_digest
            .write()
            .expect("not poisoned")
            .retain(|d, _| token_id(d) != id);
    }

    fn insert_digest(&self, digest: String, principal: Principal) {
        self.by_digest
            .write()
            .expect("not poisoned")
            .insert(digest, principal);
    }

    /// Who `token` is, if anyone (an empty token is no one's).
    pub fn check(&self, token: &str) -> Option<Principal> {
        if token.is_empty() {
            return None;
        }
        self.by_digest
            .read()
            .expect("not poisoned")
            .get(&digest(token))
            .cloned()
    }
}

/// Where the admin token is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AdminTokenSource {
    /// From `RCS_API_TOKEN` / `--api-token`.
    Configured,
    /// In this file (mode 0600).
    File(std::path::PathBuf),
}

/// Writes `text` to a new file readable by its owner only.
pub fn write_secret(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut f = options.open(path)?;
    f.write_all(text.as_bytes())?;
    f.write_all(b"\n")
}

/// Reads the stored tokens again every 2 s until the server stops: a token revoked through the
/// CLI or another instance stops working here within that.
pub async fn run_refresh(shared: std::sync::Arc<crate::state::Shared>) {
    let mut stop = shared.stop_signal();
    loop {
        tokio::select! {
            () = tokio::time::sleep(std::time::Duration::from_secs(2)) => {}
            _ = stop.changed() => return,
        }
        if let Err(e) = shared.tokens.refresh(&shared.db).await {
            tracing::debug!(error = %e, "could not read the stored API tokens");
        }
    }
}
