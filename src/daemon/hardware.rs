//! Wiring the devices to the daemon: start them from the config, feed codes
//! from the USB scanner into the same scan path as the guard page, and tell
//! systemd we are ready and alive (the watchdog is only fed while the
//! writer thread answers, so a hung log restarts the daemon).

use crate::config::Config;
use crate::scan::ScanService;
use crate::writer::Writer;
use std::time::Duration;

/// Starts the configured devices. A device that cannot start is reported
/// in the log and the gate keeps serving with typed temperatures and the
/// guard page.
pub fn start(config: &Config, codes: tokio::sync::mpsc::Sender<String>) -> Option<std::sync::Arc<crate::hw::Hardware>> {
    match crate::hw::start(&config.hardware, config.simulated, codes) {
        Ok(hw) => {
            for (name, st) in hw.statuses() {
                tracing::info!(device = name, kind = %st.kind, state = st.state.as_str(), "{}", st.detail);
            }
            Some(std::sync::Arc::new(hw))
        }
        Err(e) => {
            tracing::error!("hardware not started: {e}");
            eprintln!("error: hardware not started: {e}");
            None
        }
    }
}

/// Each code the scanner reads is decided like a guard-page scan: the
/// direction is inferred and the thermometer's fresh reading is used. It
/// goes straight to the scan service, never through HTTP, so the network
/// (however busy) cannot keep a scanned code from being decided.
pub fn spawn_scanner_loop(scans: ScanService, mut codes: tokio::sync::mpsc::Receiver<String>) {
    tokio::spawn(async move {
        while let Some(code) = codes.recv().await {
            match scans.scan(code, None, None).await {
                Ok(o) => tracing::info!(seq = o.event_seq, decision = o.decision.as_str(), "scanner"),
                Err(e) => tracing::warn!("scanner code not decided: {e:?}"),
            }
        }
    });
}

pub fn notify_ready_and_watchdog(writer: Writer) {
    let _ = sd_notify::notify(false, &[sd_notify::NotifyState::Ready]);
    let mut usec = 0u64;
    if !sd_notify::watchdog_enabled(false, &mut usec) || usec == 0 {
        return;
    }
    let every = Duration::from_micros(usec / 2);
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(every).await;
            let alive = tokio::time::timeout(every, writer.run(|_| Ok(()))).await;
            if matches!(alive, Ok(Ok(Ok(())))) {
                let _ = sd_notify::notify(false, &[sd_notify::NotifyState::Watchdog]);
            } else {
                tracing::error!("writer thread not answering; withholding the watchdog ping");
            }
        }
    });
}
