//! Secret keys on disk: the gate key (signs the event chain) and the
//! community keys (sign passes), each a file of 64 hex digits readable by
//! the gatepass user only. Public halves live in the database.

use ed25519_dalek::SigningKey;
use std::io::Write;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("cannot read key {path}: {source} (is the data directory complete? keys live in its keys/ folder)")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("key file {0} is damaged (expected 64 hex digits)")]
    Damaged(PathBuf),
    #[error("cannot write key {path}: {source}")]
    Write { path: PathBuf, source: std::io::Error },
}

pub fn generate() -> SigningKey {
    SigningKey::generate(&mut rand_core::OsRng)
}

pub fn gate_key_path(data_dir: &Path) -> PathBuf {
    data_dir.join("keys").join("gate.key")
}

pub fn community_key_path(data_dir: &Path, key_id: u16) -> PathBuf {
    data_dir.join("keys").join(format!("community-{key_id}.key"))
}

pub fn load(path: &Path) -> Result<SigningKey, KeyError> {
    let text = std::fs::read_to_string(path).map_err(|source| KeyError::Read { path: path.into(), source })?;
    let bytes = hex::decode(text.trim()).map_err(|_| KeyError::Damaged(path.into()))?;
    let arr: [u8; 32] = bytes.try_into().map_err(|_| KeyError::Damaged(path.into()))?;
    Ok(SigningKey::from_bytes(&arr))
}

/// Writes a new key file (never overwrites one) with mode 0600, synced.
pub fn save(path: &Path, key: &SigningKey) -> Result<(), KeyError> {
    let err = |source| KeyError::Write { path: path.into(), source };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(err)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let _ = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700));
        }
    }
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(path).map_err(err)?;
    f.write_all(hex::encode(key.to_bytes()).as_bytes()).map_err(err)?;
    f.sync_all().map_err(err)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn save_load_never_overwrite() {
        let d = tempfile::tempdir().unwrap();
        let p = gate_key_path(d.path());
        let k = generate();
        save(&p, &k).unwrap();
        assert_eq!(load(&p).unwrap().to_bytes(), k.to_bytes());
        assert!(save(&p, &generate()).is_err());
        std::fs::write(&p, "zz").unwrap();
        assert!(matches!(load(&p), Err(KeyError::Damaged(_))));
    }
}
