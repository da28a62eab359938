//! The gate daemon's HTTP side: JSON API under `/api/v1`, `/metrics`, and
//! the guard and committee pages. `app(state)` builds the router apart from
//! any socket, so tests and `serve` share it.

mod api;
pub use api::perform_scan;
pub mod auth;
mod committee;
pub mod error;
mod metrics;
pub(crate) mod pages;

use crate::config::Config;
use crate::gate::{Gate, Identity};
use crate::store::Store;
use crate::writer::Writer;
use axum::extract::DefaultBodyLimit;
use axum::Router;
use error::ApiError;
use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex, MutexGuard};

/// Largest request body (a register CSV of ten thousand residents fits).
pub const BODY_LIMIT: usize = 1024 * 1024;

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
    pub config: Config,
    pub sessions: auth::Sessions,
    pub logins: auth::LoginLimiter,
    /// Every decision, as JSON, for the guard page's live view.
    pub live: tokio::sync::broadcast::Sender<String>,
    pub metrics: metrics::Metrics,
    pub hardware: Option<crate::hw::Hardware>,
    /// Set when the daemon is stopping: long-lived streams end so the
    /// graceful shutdown does not wait for a guard page left open.
    pub stopping: tokio::sync::watch::Sender<bool>,
    /// False after a failed write, until the next one succeeds.
    pub log_writable: AtomicBool,
    pub started: std::time::Instant,
}

#[derive(Clone)]
pub struct AppState {
    pub inner: Arc<Inner>,
}

impl AppState {
    /// Builds the state from an open gate: the writer thread takes the gate,
    /// and a second connection serves reads.
    pub fn new(gate: Gate, hardware: Option<crate::hw::Hardware>) -> Result<AppState, crate::gate::GateError> {
        let reader = Store::open(&gate.data_dir.join(crate::gate::DB_FILE))?;
        let identity = gate.identity.clone();
        let gate_key_hex = hex::encode(gate.gate_public_key().to_bytes());
        let config = gate.config.clone();
        let writer = Writer::start(gate);
        let (live, _) = tokio::sync::broadcast::channel(64);
        let (stopping, _) = tokio::sync::watch::channel(false);
        Ok(AppState {
            inner: Arc::new(Inner {
                writer,
                reader: Mutex::new(reader),
                identity,
                gate_key_hex,
                config,
                sessions: Default::default(),
                logins: Default::default(),
                live,
                metrics: Default::default(),
                hardware,
                stopping,
                log_writable: AtomicBool::new(true),
                started: std::time::Instant::now(),
            }),
        })
    }

    /// The read connection. Reads are short; a poisoned lock (a panic in
    /// another request) is recovered rather than taking the gate down.
    pub fn reader(&self) -> Result<MutexGuard<'_, Store>, ApiError> {
        Ok(self.inner.reader.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// The rules in force, as the writer sees them.
    pub fn policy(&self) -> Result<crate::domain::Policy, ApiError> {
        let doc = self.reader()?.policy_override()?;
        match doc {
            Some(d) => self.inner.config.policy.apply(&d).map_err(ApiError::BadRequest),
            None => Ok(self.inner.config.policy.clone()),
        }
    }
}

pub fn app(state: AppState) -> Router {
    Router::new()
        .merge(api::router())
        .merge(committee::router())
        .merge(pages::router())
        .fallback(|| async { ApiError::NotFound("no such page or API endpoint (see the README)".into()) })
        .layer(axum::middleware::from_fn_with_state(CSRF, crate::web::csrf_guard))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .with_state(state)
}

/// Serves until `shutdown` resolves.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let inner = state.inner.clone();
    let signal = async move {
        shutdown.await;
        let _ = inner.stopping.send(true);
    };
    axum::serve(listener, app(state).into_make_service_with_connect_info::<std::net::SocketAddr>())
        .with_graceful_shutdown(signal)
        .await
}

/// `gatepass serve`: the daemon for a data directory.
pub fn serve_data_dir(dir: &Path, listen: Option<&str>) -> anyhow::Result<i32> {
    crate::logging::init();
    let gate = Gate::open(dir)?;
    let addr = match listen {
        Some(l) => l.parse().map_err(|_| anyhow::anyhow!("--listen '{l}' must be address:port, e.g. 0.0.0.0:8080"))?,
        None => gate.config.listen,
    };
    run_daemon(gate, addr, |_| {})
}

/// Runs the daemon until SIGTERM or Ctrl-C. The first line on stdout is
/// `gatepass listening on http://ADDR` (scripts and tests read the port from
/// it); `after_bind` can print more.
pub fn run_daemon(
    gate: Gate,
    addr: std::net::SocketAddr,
    after_bind: impl FnOnce(std::net::SocketAddr),
) -> anyhow::Result<i32> {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|e| anyhow::anyhow!("cannot listen on {addr}: {e} (is another gatepass running? choose --listen)"))?;
        let local = listener.local_addr()?;
        let (codes_tx, codes_rx) = tokio::sync::mpsc::channel(16);
        let hardware = crate::hw_glue::start(&gate.config, codes_tx);
        let state = AppState::new(gate, hardware)?;
        crate::hw_glue::spawn_scanner_loop(state.clone(), codes_rx);
        println!("gatepass listening on http://{local}");
        after_bind(local);
        use std::io::Write;
        let _ = std::io::stdout().flush();
        tracing::info!(gate = %state.inner.identity.gate, community = %state.inner.identity.community, "serving on {local}");
        crate::hw_glue::notify_ready_and_watchdog(state.clone());
        spawn_retention(state.clone());
        serve(listener, state, shutdown_signal()).await?;
        tracing::info!("stopped");
        Ok::<_, anyhow::Error>(())
    })?;
    Ok(crate::cli::exit::OK)
}

/// Applies `[retention]` at start and every hour, on the writer thread.
fn spawn_retention(state: AppState) {
    if state.inner.config.retention.days == 0 {
        return;
    }
    tokio::spawn(async move {
        loop {
            match state.inner.writer.run(|g| g.apply_retention(chrono::Utc::now())).await {
                Ok(Ok(Some(r))) => tracing::info!(purged = r.purged, through = r.through_seq, "retention"),
                Ok(Ok(None)) => {}
                Ok(Err(e)) => tracing::error!("retention: {e}"),
                Err(e) => tracing::error!("retention: {e}"),
            }
            tokio::time::sleep(std::time::Duration::from_secs(3600)).await;
        }
    });
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
}
