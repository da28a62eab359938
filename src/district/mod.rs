//! The district side: collects the entry logs of every gate (pulled over
//! the network, or imported from a file carried by hand), checks that each
//! gate's chain continues unbroken under the gate's pinned key, and turns
//! the collected events into daily figures (JSON, CSV, DHIS2), case traces
//! and the district pages.
//!
//! A district data directory holds `district.db` (see [`store`]) and
//! `district.toml` (see [`config`]). Nothing here drives a barrier: the
//! district only reads what gates recorded.

pub mod config;
pub mod directives;
pub mod ingest;
pub mod pull;
pub mod push;
pub mod report;
pub mod reset;
pub mod store;
pub mod trace;
pub mod web;

use crate::export::VerifyError;
use crate::store::StoreError;
use config::{DistrictConfig, FILE_NAME};
use std::path::{Path, PathBuf};
use store::DistrictStore;

pub const DB_NAME: &str = "district.db";

/// Everything a district clerk can run into, each with what to do next.
#[derive(Debug, thiserror::Error)]
pub enum DistrictError {
    #[error("{0} already holds a district (district.toml exists); use it, or pick another --data-dir")]
    AlreadyInitialised(PathBuf),
    #[error("cannot create {path}: {detail}")]
    CannotCreate { path: PathBuf, detail: String },
    #[error(transparent)]
    Config(#[from] config::ConfigError),
    #[error("district database: {0}")]
    Store(#[from] StoreError),
    #[error("gate at {url}: {detail}")]
    Unreachable { url: String, detail: String },
    #[error("gate '{gate}': {detail}")]
    Gate { gate: String, detail: String },
    #[error("gate '{gate}' of {community} is already registered{how}; the district keeps one record per gate")]
    DuplicateGate { gate: String, community: String, how: String },
    #[error("{file}: cannot read it: {detail}")]
    FileUnreadable { file: String, detail: String },
    #[error("{file} refused, nothing imported: {source}")]
    FileRefused { file: String, source: VerifyError },
    #[error("{file} is empty: no events to import")]
    EmptyFile { file: String },
    #[error(
        "{file} refused, nothing imported: it starts at event {starts} of gate '{gate}', but the district holds events only up to {have}; \
         events {} to {} are missing. Ask the gate for `gatepass events export --after {have}`",
        have + 1, starts - 1
    )]
    ImportGap { file: String, gate: String, have: u64, starts: u64 },
    #[error("'{0}' is not a date; write it as YYYY-MM-DD, e.g. 2026-12-01")]
    BadDate(String),
    #[error("{0}")]
    Usage(String),
}

pub type Result<T> = std::result::Result<T, DistrictError>;

/// An open district data directory.
pub struct District {
    pub dir: PathBuf,
    pub config: DistrictConfig,
    pub store: DistrictStore,
}

impl District {
    /// Makes a new district directory with the default `district.toml`.
    pub fn init(dir: &Path) -> Result<District> {
        let cfg_path = dir.join(FILE_NAME);
        if cfg_path.exists() {
            return Err(DistrictError::AlreadyInitialised(dir.to_path_buf()));
        }
        std::fs::create_dir_all(dir)
            .map_err(|e| DistrictError::CannotCreate { path: dir.to_path_buf(), detail: e.to_string() })?;
        std::fs::write(&cfg_path, config::default_file())
            .map_err(|e| DistrictError::CannotCreate { path: cfg_path.clone(), detail: e.to_string() })?;
        let d = Self::open(dir)?;
        // the key its directives to the gates are signed with (issue 13)
        directives::signing_key(&d.store)?;
        // district.db holds the gates' API tokens (they have to be sent), so
        // only the district's own user may read it.
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let db = dir.join(DB_NAME);
            std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o600))
                .map_err(|e| DistrictError::CannotCreate { path: db, detail: e.to_string() })?;
        }
        Ok(d)
    }

    pub fn open(dir: &Path) -> Result<District> {
        let config = DistrictConfig::load(&dir.join(FILE_NAME))?;
        let store = DistrictStore::open(&dir.join(DB_NAME))?;
        Ok(District { dir: dir.to_path_buf(), config, store })
    }

    pub fn tz(&self) -> chrono_tz::Tz {
        // Validated when the config was parsed.
        self.config.timezone().unwrap_or(chrono_tz::Asia::Shanghai)
    }
}

/// RFC 3339 UTC with milliseconds, as the gates write times.
pub use crate::clock::now_text;
