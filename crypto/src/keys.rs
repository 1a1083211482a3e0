//! Key files: SM2 private keys as PKCS#8 PEM, public keys as SPKI PEM (both readable by
//! `openssl pkey`). Private key files are created with mode 0600 and the PEM text is zeroized
//! after use.

use std::fs;
use std::io::Write;
use std::path::Path;

use sm2::pkcs8::{
    DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey, LineEnding,
};
use sm2::{PublicKey, SecretKey};

use crate::Error;

fn io(path: &Path, e: impl core::fmt::Display) -> Error {
    Error::KeyFile(format!("{}: {e}", path.display()))
}

/// Writes `text` to `path` with mode `mode` (Unix), replacing the file.
fn write_with_mode(path: &Path, text: &[u8], mode: u32) -> Result<(), Error> {
    let mut options = fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        options.mode(mode);
        // An existing file keeps its mode on open: tighten it before writing the secret.
        if path.exists() {
            fs::set_permissions(path, fs::Permissions::from_mode(mode)).map_err(|e| io(path, e))?;
        }
    }
    #[cfg(not(unix))]
    let _ = mode;
    let mut file = options.open(path).map_err(|e| io(path, e))?;
    file.write_all(text).map_err(|e| io(path, e))?;
    file.sync_all().map_err(|e| io(path, e))
}

/// Writes a private key as PKCS#8 PEM, mode 0600.
pub fn write_private_pem(path: &Path, key: &SecretKey) -> Result<(), Error> {
    let pem = key.to_pkcs8_pem(LineEnding::LF).map_err(|e| io(path, e))?;
    write_with_mode(path, pem.as_bytes(), 0o600)
}

/// Writes a public key as SPKI PEM, mode 0644.
pub fn write_public_pem(path: &Path, key: &PublicKey) -> Result<(), Error> {
    let pem = key
        .to_public_key_pem(LineEnding::LF)
        .map_err(|e| io(path, e))?;
    write_with_mode(path, pem.as_bytes(), 0o644)
}

/// Reads a PKCS#8 PEM private key.
pub fn read_private_pem(path: &Path) -> Result<SecretKey, Error> {
    let text = zeroize::Zeroizing::new(fs::read_to_string(path).map_err(|e| io(path, e))?);
    SecretKey::from_pkcs8_pem(&text).map_err(|e| io(path, e))
}

/// Reads an SPKI PEM public key.
pub fn read_public_pem(path: &Path) -> Result<PublicKey, Error> {
    let text = fs::read_to_string(path).map_err(|e| io(path, e))?;
    PublicKey::from_public_key_pem(&text).map_err(|e| io(path, e))
}
