//! The server's SM2 key pair (created in the data directory on first start, private key 0600)
//! and the enrolled AGV keys, with a cached verifier per key.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, RwLock};

use crypto::sign::{CachedVerifier, SigningKey, VerifyingKey};
use crypto::{DEFAULT_ID, keys};

use crate::ServerError;
use crate::config::SecurePolicy;
use crate::db::Db;

/// Loads `server.key` from `dir`, or creates it (and `server.pub`) on first start.
pub fn load_or_create_server_key(dir: &Path) -> Result<Arc<SigningKey>, ServerError> {
    let private = dir.join("server.key");
    let secret = if private.exists() {
        keys::read_private_pem(&private).map_err(|e| ServerError::Keys(e.to_string()))?
    } else {
        let key = SigningKey::generate(DEFAULT_ID, &mut crypto::system_rng())
            .map_err(|e| ServerError::Keys(e.to_string()))?;
        keys::write_private_pem(&private, key.secret())
            .map_err(|e| ServerError::Keys(e.to_string()))?;
        keys::write_public_pem(&dir.join("server.pub"), key.verifying_key().public_key())
            .map_err(|e| ServerError::Keys(e.to_string()))?;
        tracing::info!(path = %private.display(), "created the server key pair");
        key.secret().clone()
    };
    SigningKey::new(DEFAULT_ID, secret)
        .map(Arc::new)
        .map_err(|e| ServerError::Keys(e.to_string()))
}

/// The RNG the handshakes use.
pub type Rng = rand_core::UnwrapErr<getrandom::SysRng>;

type Table = HashMap<(u32, [u8; 32]), Arc<CachedVerifier>>;

/// The enrolled AGV keys, by AGV id and key id, with their verifiers; and the per-AGV
/// secure-mode policy overrides. Both are consulted by every handshake.
#[derive(Clone, Default)]
pub struct EnrolledKeys {
    table: Arc<RwLock<Table>>,
    policies: Arc<RwLock<crate::state::ByAgv<SecurePolicy>>>,
    allow_fast: bool,
}

impl std::fmt::Debug for EnrolledKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let n = self.table.read().map(|t| t.len()).unwrap_or(0);
        write!(f, "EnrolledKeys({n} keys)")
    }
}

impl EnrolledKeys {
    /// Loads every enrolled key and policy override from the database.
    pub async fn load(db: &Db, allow_fast: bool) -> Result<Self, ServerError> {
        let keys = Self {
            allow_fast,
            ..Self::default()
        };
        for k in db.enrolled_keys().await? {
            let public = sm2::PublicKey::from_public_key_pem(&k.public_key_pem)
                .map_err(|e| ServerError::Keys(format!("AGV {}: {e}", k.agv_id)))?;
            keys.insert(k.agv_id, k.distid.as_bytes(), public)?;
        }
        for (agv_id, policy) in db.secure_policies().await? {
            if let Some(p) = SecurePolicy::parse(&policy) {
                keys.set_policy(agv_id, Some(p));
            }
        }
        Ok(keys)
    }

    /// Sets (or with `None` clears) the secure-mode policy of `agv_id`.
    pub fn set_policy(&self, agv_id: u32, policy: Option<SecurePolicy>) {
        let mut map = self.policies.write().expect("not poisoned");
        match policy {
            Some(p) => map.insert(agv_id, p),
            None => map.remove(&agv_id),
        };
    }

    /// The secure-mode policy override of `agv_id`.
    pub fn policy_of(&self, agv_id: u32) -> Option<SecurePolicy> {
        self.policies
            .read()
            .expect("not poisoned")
            .get(&agv_id)
            .copied()
    }

    /// Forgets the key of `agv_id` (decommissioned): secure access needs a new enrollment.
    pub fn remove(&self, agv_id: u32) {
        let mut table = self.table.write().expect("not poisoned");
        table.retain(|(id, _), _| *id != agv_id);
    }

    /// Adds (or replaces) the key of `agv_id`.
    pub fn insert(
        &self,
        agv_id: u32,
        distid: &[u8],
        public: sm2::PublicKey,
    ) -> Result<(), ServerError> {
        let key =
            VerifyingKey::new(distid, public).map_err(|e| ServerError::Keys(e.to_string()))?;
        let key_id = key.key_id();
        let verifier = Arc::new(CachedVerifier::new(key));
        let mut table = self.table.write().expect("not poisoned");
        table.retain(|(id, _), _| *id != agv_id);
        table.insert((agv_id, key_id), verifier);
        Ok(())
    }
}

impl crypto::session::KeyStore for EnrolledKeys {
    fn lookup(&self, agv_id: u32, key_id: &[u8; 32]) -> Option<Arc<CachedVerifier>> {
        self.table.read().ok()?.get(&(agv_id, *key_id)).cloned()
    }

    fn policy(
        &self,
        agv_id: u32,
        default: protocol::session::RcsPolicy,
    ) -> protocol::session::RcsPolicy {
        self.policy_of(agv_id)
            .map_or(default, |p| p.session_policy(self.allow_fast))
    }
}

use sm2::pkcs8::DecodePublicKey as _;
