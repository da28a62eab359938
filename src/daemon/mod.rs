//! The gate daemon's life: open the data directory, raise the file limit,
//! start the devices, the writer and the scanner loop, serve HTTP with its
//! connection limits, apply retention, tell systemd we are ready, and stop
//! cleanly on SIGTERM or Ctrl-C.
//!
//! `http` knows nothing of this module (nor of `cli`): it offers the router
//! (`http::app`) and `http::serve(listener, state, limits, shutdown)`.

pub mod hardware;
pub mod limits;
pub mod peers;
pub mod push;
pub mod retention;

use crate::gate::Gate;
use crate::http::AppState;
use std::path::Path;

/// `gatepass serve`: the daemon for a data directory.
pub fn serve_data_dir(dir: &Path, listen: Option<&str>) -> anyhow::Result<()> {
    crate::logging::init();
    let gate = Gate::open(dir)?;
    let addr = match listen {
        Some(l) => l.parse().map_err(|_| anyhow::anyhow!("--listen '{l}' must be address:port, e.g. 0.0.0.0:8080"))?,
        None => gate.config.listen,
    };
    run(gate, addr, |_| {})
}

/// Runs the daemon until SIGTERM or Ctrl-C. The first line on stdout is
/// `gatepass listening on http://ADDR` (scripts and tests read the port from
/// it); `after_bind` can print more.
pub fn run(
    gate: Gate,
    addr: std::net::SocketAddr,
    after_bind: impl FnOnce(std::net::SocketAddr),
) -> anyhow::Result<()> {
    run_announced(gate, addr, true, after_bind)
}

/// As `run`; `announce = false` leaves out the first line (a second gate
/// in the same process, as the demo's 西门, must not look like the first).
pub fn run_announced(
    gate: Gate,
    addr: std::net::SocketAddr,
    announce: bool,
    after_bind: impl FnOnce(std::net::SocketAddr),
) -> anyhow::Result<()> {
    // presence and outings are recomputed from the chain before the first
    // decision: a table edited or emptied behind the daemon's back is
    // evidence, not state to trust
    let mut gate = gate;
    gate.repair_derived_at_start(chrono::Utc::now())?;
    // the committee log names the tables as they are (a directory made
    // before the log, or a change cut off before its record)
    if let Err(e) = gate.seal_unrecorded(chrono::Utc::now()) {
        // the gate still decides; the next hand-out to the gates tries again
        tracing::error!("committee log: could not seal the tables at start: {e}");
    }
    // before any socket or device is opened
    let files = limits::raise_nofile();
    let serve_limits = limits::serve_limits(&gate.config.gate, files);
    for w in &gate.config.warnings {
        tracing::warn!("{}: {w}", crate::config::FILE_NAME);
    }
    let tls = tls_acceptor(&gate)?;
    let scheme = if tls.is_some() { "https" } else { "http" };
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(addr).await.map_err(|e| {
            anyhow::anyhow!("cannot listen on {addr}: {e} (is another gatepass running? choose --listen)")
        })?;
        let local = listener.local_addr()?;
        let (codes_tx, codes_rx) = tokio::sync::mpsc::channel(16);
        let devices = hardware::start(&gate.config, codes_tx);
        let data_dir = gate.data_dir.clone();
        let state = AppState::new(gate, devices)?;
        hardware::spawn_scanner_loop(state.inner.scan.clone(), codes_rx);
        if announce {
            say(&format!("gatepass listening on {scheme}://{local}\n"));
        }
        after_bind(local);
        tracing::info!(
            gate = %state.inner.identity.gate,
            community = %state.inner.identity.community,
            files = files.soft,
            max_connections = serve_limits.max_connections,
            "serving on {local}"
        );
        hardware::notify_ready_and_watchdog(state.inner.writer.clone());
        retention::spawn(state.inner.writer.clone(), state.inner.config.retention.days);
        peers::spawn(state.clone());
        push::Pusher {
            data_dir,
            link: state.inner.config.district.clone(),
            state: state.clone(),
            status: state.inner.push.clone(),
            writer: state.inner.writer.clone(),
        }
        .spawn();
        crate::http::serve(listener, state, serve_limits, tls, shutdown_signal()).await?;
        tracing::info!("stopped");
        Ok::<_, anyhow::Error>(())
    })
}

/// The TLS side of the daemon's port, if `[gate]` asks for https. The
/// self-signed certificate is made at `init`; a data directory from before
/// gets one now. A certificate that cannot be read stops the start: a gate
/// configured for https must not quietly serve plain pages.
fn tls_acceptor(gate: &Gate) -> anyhow::Result<Option<tokio_rustls::TlsAcceptor>> {
    use crate::config::TlsSource;
    let (cert, key) = match gate.config.gate.tls_source() {
        None => return Ok(None),
        Some(TlsSource::SelfSigned) => {
            if crate::tls::ensure_self_signed(&gate.data_dir, &crate::tls::default_names(&gate.identity.gate))? {
                tracing::info!("made a self-signed certificate in {}", gate.data_dir.join("tls").display());
            }
            crate::tls::self_signed_paths(&gate.data_dir)
        }
        Some(TlsSource::Files { cert, key }) => (gate.data_dir.join(cert), gate.data_dir.join(key)),
    };
    let config = crate::tls::server_config(&cert, &key)?;
    let info = crate::tls::cert_info(&cert)?;
    tracing::info!(fingerprint = %info.fingerprint_sha256, "serving https with {}", cert.display());
    Ok(Some(tokio_rustls::TlsAcceptor::from(config)))
}

/// Resolves on SIGTERM or Ctrl-C (`district serve` stops on it too).
pub async fn shutdown_signal() {
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

/// Writes start-up lines to standard output, ignoring errors: a reader
/// that closed it early (`| head -1`, a supervisor that read the address)
/// must not make the daemon panic, as `println!` would.
pub fn say(text: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes());
    let _ = out.flush();
}
