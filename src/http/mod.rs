//! The gate daemon's HTTP side: JSON API under `/api/v1`, `/metrics`, and
//! the guard and committee pages. `app(state)` builds the router apart from
//! any socket, so tests and `serve` share it.

mod api;
pub mod auth;
mod committee;
/// issue 13: the district's directives
pub mod directives;
pub mod error;
mod metrics;
pub(crate) mod pages;
mod paperwork;
mod peers;
mod server;
pub use server::ServeLimits;
mod visits;
/// Any router behind the same connection limits (the district's web side
/// can use it too).
pub use server::{serve as serve_router, Transport};

use crate::config::Config;
use crate::gate::{Gate, Identity};
use crate::store::Store;
use crate::writer::Writer;
use axum::extract::DefaultBodyLimit;
use axum::Router;
use error::ApiError;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex, MutexGuard};

/// Largest request body (a register CSV of ten thousand residents fits).
pub const BODY_LIMIT: usize = 1024 * 1024;
/// A register upload: a 20,000-resident CSV is about 1 MB, an .xlsx less.
pub const IMPORT_BODY_LIMIT: usize = 16 * 1024 * 1024;

/// Cookie-authenticated changes must come from this gate's own pages
/// (see `web::origin`).
const CSRF: crate::web::CsrfPolicy = crate::web::CsrfPolicy {
    session_cookie: auth::SESSION_COOKIE,
    always: &["/api/v1/login"],
    uploads: &["/api/v1/households/import"],
    forms: &[],
};

pub struct Inner {
    pub writer: Writer,
    reader: Mutex<Store>,
    pub identity: Identity,
    pub gate_key_hex: String,
    /// Set when the community shares names: signs each name exported.
    pub name_signer: Option<crate::domain::chain::NameSigner>,
    pub config: Config,
    pub sessions: auth::Sessions,
    pub logins: auth::LoginLimiter,
    /// Every decision, as JSON, for the guard page's live view.
    pub live: tokio::sync::broadcast::Sender<String>,
    pub metrics: Arc<metrics::Metrics>,
    pub hardware: Option<Arc<crate::hw::Hardware>>,
    /// Decides scans; shares the writer, counters, live channel and
    /// devices above (the USB scanner loop holds a clone).
    pub scan: crate::scan::ScanService,
    /// Set when the daemon is stopping: long-lived streams end so the
    /// graceful shutdown does not wait for a guard page left open.
    pub stopping: tokio::sync::watch::Sender<bool>,
    /// False after a failed write, until the next one succeeds.
    pub log_writable: Arc<AtomicBool>,
    pub started: std::time::Instant,
    /// What the daemon serves over https (read at start).
    pub tls: crate::tls::TlsStatus,
    /// The last contact with each peer gate (time, events behind), kept in
    /// memory: the sync runs every 300 ms and must not write the SD card
    /// each time; the database copy is refreshed every 30 s.
    pub peer_live: Mutex<std::collections::HashMap<String, PeerLive>>,
    /// The first gate's newest committee record, as last heard (joined gates).
    pub committee_head_seen: std::sync::atomic::AtomicU64,
    /// What pushing to the district last did (issue 13; shown in health).
    pub push: Arc<crate::link::PushStatus>,
}

/// When a peer gate was last heard from, and how many of its events this
/// gate lacked then.
pub type PeerLive = (chrono::DateTime<chrono::Utc>, Option<u64>);

#[derive(Clone)]
pub struct AppState {
    pub inner: Arc<Inner>,
}

impl AppState {
    /// Builds the state from an open gate: the writer thread takes the gate,
    /// and a second connection serves reads.
    pub fn new(gate: Gate, hardware: Option<Arc<crate::hw::Hardware>>) -> Result<AppState, crate::gate::GateError> {
        let reader = Store::open(&gate.data_dir.join(crate::gate::DB_FILE))?;
        let identity = gate.identity.clone();
        let gate_key_hex = hex::encode(gate.gate_public_key().to_bytes());
        let name_signer = gate.name_signer();
        let config = gate.config.clone();
        let tls = crate::tls::status(&gate.data_dir, &config.gate);
        let writer = Writer::start(gate);
        let (live, _) = tokio::sync::broadcast::channel(64);
        let (stopping, _) = tokio::sync::watch::channel(false);
        let metrics = Arc::new(metrics::Metrics::default());
        let log_writable = Arc::new(AtomicBool::new(true));
        let scan = crate::scan::ScanService {
            writer: writer.clone(),
            hardware: hardware.clone(),
            thermometer_max_age: config.hardware.thermometer.max_age(),
            metrics: metrics.clone(),
            live: live.clone(),
            log_writable: log_writable.clone(),
        };
        Ok(AppState {
            inner: Arc::new(Inner {
                writer,
                reader: Mutex::new(reader),
                identity,
                gate_key_hex,
                name_signer,
                config,
                sessions: Default::default(),
                logins: Default::default(),
                live,
                metrics,
                hardware,
                scan,
                stopping,
                log_writable,
                started: std::time::Instant::now(),
                tls,
                peer_live: Mutex::new(std::collections::HashMap::new()),
                committee_head_seen: std::sync::atomic::AtomicU64::new(0),
                push: Default::default(),
            }),
        })
    }

    /// The read connection. Reads are short; a poisoned lock (a panic in
    /// another request) is recovered rather than taking the gate down.
    pub fn reader(&self) -> Result<MutexGuard<'_, Store>, ApiError> {
        Ok(self.inner.reader.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// The rules in force, as the writer sees them. An override that
    /// cannot be read, or no longer applies to the file's rules, is
    /// `policy_unreadable` (the pages say how to repair it), not a 500.
    pub fn policy(&self) -> Result<crate::domain::Policy, ApiError> {
        let doc = match self.reader()?.policy_override() {
            Ok(d) => d,
            Err(crate::store::StoreError::Unreadable(m)) => return Err(ApiError::PolicyUnreadable(m)),
            Err(e) => return Err(e.into()),
        };
        match doc {
            Some(d) => self.inner.config.policy.apply(&d).map_err(ApiError::PolicyUnreadable),
            None => Ok(self.inner.config.policy.clone()),
        }
    }
}

pub fn app(state: AppState) -> Router {
    Router::new()
        .merge(api::router())
        .merge(committee::router())
        .merge(paperwork::router())
        .merge(visits::router())
        .merge(peers::router())
        .merge(directives::router())
        .merge(pages::router())
        .fallback(|| async { ApiError::NotFound("no such page or API endpoint (see the README)".into()) })
        .layer(axum::middleware::from_fn_with_state(CSRF, crate::web::csrf_guard))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .with_state(state)
}

/// Serves until `shutdown` resolves, with the connection limits; see
/// `server`. The caller (the daemon, or a test) owns the listener.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    limits: ServeLimits,
    tls: Option<tokio_rustls::TlsAcceptor>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let inner = state.inner.clone();
    let signal = async move {
        shutdown.await;
        // long-lived streams end so the graceful shutdown does not wait
        // for a guard page left open
        let _ = inner.stopping.send(true);
    };
    server::serve(listener, app(state), limits, tls, signal).await
}
