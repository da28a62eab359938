//! The devices at the gate: thermometer, QR scanner, lamps/buzzer/relay, and
//! whether the wall clock can be trusted.
//!
//! Each device sits behind a small trait with a real implementation (Linux
//! serial, evdev, rppal I2C/GPIO) and a simulated one. [`start`] picks them:
//! `simulated = true` simulates everything; otherwise the real device is tried,
//! and GPIO/I2C fall back to simulation off a Raspberry Pi (rppal reports an
//! unknown model), with the reason in the device's `detail`. Serial and HID
//! devices are always real when configured: a missing device is reported
//! `down` and reopened every second, so unplugging never stops the daemon.
//!
//! Usual failures and their fix:
//! - "permission denied": add the `gatepass` user to the group named in the
//!   message (`dialout` for ttys, `i2c`, `gpio`, `input`) and restart.
//! - "no such device": check the path (`ls -l /dev/serial/by-id/`,
//!   `ls /dev/input/by-id/`) or install `firmware-config/99-gatepass.rules`
//!   for stable names.
//! - I2C bus missing: enable it with `firmware-config/i2c.txt` and reboot.

pub mod clock;
pub mod config;
pub mod scanner;
pub mod signals;
pub mod thermometer;

pub use config::{HardwareConfig, ScannerConfig, SignalsConfig, ThermometerConfig};
pub use scanner::ScannerHandle;
pub use signals::{SignalAction, Signals, SimulatedSignals};
pub use thermometer::Thermometer;

use serde::Serialize;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// Where a temperature came from (the SPEC's `temperature_source`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ReadingSource {
    Serial,
    I2c,
}

#[derive(Debug, Clone, Copy)]
pub struct Reading {
    /// `raw_celsius + offset_c`: what the rules see.
    pub celsius: f64,
    /// What the sensor said, logged next to the corrected value.
    pub raw_celsius: f64,
    pub source: ReadingSource,
    pub at: Instant,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DeviceState {
    Ok,
    Down,
    Simulated,
    Off,
}

impl DeviceState {
    pub fn as_str(self) -> &'static str {
        match self {
            DeviceState::Ok => "ok",
            DeviceState::Down => "down",
            DeviceState::Simulated => "simulated",
            DeviceState::Off => "off",
        }
    }
}

/// What `health` and `/metrics` show for one device.
#[derive(Debug, Clone, Serialize)]
pub struct DeviceStatus {
    /// "serial", "mlx90614", "hid", "gpio", "none".
    pub kind: String,
    pub state: DeviceState,
    /// A message a guard or installer can act on.
    pub detail: String,
    pub last_reading_age_ms: Option<u64>,
    /// Readings (thermometer), codes (scanner) or decisions shown (signals).
    pub readings: u64,
    /// Readings out of range / bad frames, or overlong / garbled scanner lines.
    pub rejected: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum HwError {
    /// A hardware section failed `validate()`; the message names the key.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// A GPIO pin could not be claimed on a Raspberry Pi (in use by another
    /// program or overlay, or no access to /dev/gpiomem). Reported at start
    /// so a wrong pin is noticed at installation, not at the first allow.
    #[error("GPIO {pin} ({key}): {message}")]
    Gpio { key: &'static str, pin: u8, message: String },
    #[error("cannot start device thread: {0}")]
    Thread(#[from] std::io::Error),
}

/// Everything the daemon talks to. Dropping it stops the reader threads
/// (within about 200 ms; a blocked HID read ends at the next key event).
pub struct Hardware {
    pub thermometer: Arc<dyn Thermometer>,
    pub signals: Arc<dyn Signals>,
    pub scanner: ScannerHandle,
    stop: Stop,
}

impl Hardware {
    /// Device states for `health` / `/metrics`, in a fixed order.
    pub fn statuses(&self) -> Vec<(&'static str, DeviceStatus)> {
        vec![
            ("thermometer", self.thermometer.status()),
            ("scanner", self.scanner.status()),
            ("signals", self.signals.status()),
        ]
    }
}

impl Drop for Hardware {
    fn drop(&mut self) {
        self.stop.stop();
    }
}

/// Starts background readers (std threads). Scanned codes (trimmed, CR/LF/CRLF
/// terminated) are sent to `codes`. It does not block (devices are opened by
/// their threads), so it may be called from async code.
pub fn start(
    cfg: &HardwareConfig,
    simulated: bool,
    codes: tokio::sync::mpsc::Sender<String>,
) -> Result<Hardware, HwError> {
    cfg.validate().map_err(HwError::Config)?;
    let stop = Stop::default();
    let thermometer = thermometer::start(&cfg.thermometer, simulated, &stop)?;
    let scanner = scanner::start(&cfg.scanner, simulated, codes, &stop)?;
    let signals = signals::start(&cfg.signals, simulated)?;
    Ok(Hardware { thermometer, signals, scanner, stop })
}

/// Shared stop flag for the reader threads.
#[derive(Clone, Default)]
pub(crate) struct Stop(Arc<AtomicBool>);

impl Stop {
    pub(crate) fn stop(&self) {
        self.0.store(true, Ordering::Relaxed);
    }
    pub(crate) fn stopped(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
    /// Sleeps up to `d`, waking early when stopped. Returns true if stopped.
    pub(crate) fn sleep(&self, d: Duration) -> bool {
        let end = Instant::now() + d;
        while !self.stopped() {
            let now = Instant::now();
            if now >= end {
                return false;
            }
            std::thread::sleep((end - now).min(Duration::from_millis(50)));
        }
        true
    }
}

/// Mutable part of a [`DeviceStatus`], shared between a reader thread and
/// the callers of `status()`.
pub(crate) struct Health {
    inner: Mutex<HealthInner>,
}

struct HealthInner {
    kind: String,
    state: DeviceState,
    detail: String,
    last: Option<Instant>,
    readings: u64,
    rejected: u64,
}

impl Health {
    pub(crate) fn new(kind: &str, state: DeviceState, detail: impl Into<String>) -> Health {
        Health {
            inner: Mutex::new(HealthInner {
                kind: kind.to_string(),
                state,
                detail: detail.into(),
                last: None,
                readings: 0,
                rejected: 0,
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, HealthInner> {
        // A panicking reader must not take the status page down with it.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Logs only on change, so a device that stays unplugged does not
    /// flood the journal with one line per retry.
    pub(crate) fn set(&self, state: DeviceState, detail: impl Into<String>) {
        let detail = detail.into();
        let mut h = self.lock();
        if h.state != state || h.detail != detail {
            match state {
                DeviceState::Down => tracing::warn!(device = %h.kind, "{detail}"),
                _ => tracing::info!(device = %h.kind, state = state.as_str(), "{detail}"),
            }
            h.state = state;
            h.detail = detail;
        }
    }

    pub(crate) fn accepted(&self) {
        let mut h = self.lock();
        h.readings += 1;
        h.last = Some(Instant::now());
    }

    pub(crate) fn rejected(&self) {
        self.lock().rejected += 1;
    }

    pub(crate) fn snapshot(&self) -> DeviceStatus {
        let h = self.lock();
        DeviceStatus {
            kind: h.kind.clone(),
            state: h.state,
            detail: h.detail.clone(),
            last_reading_age_ms: h.last.map(|t| u64::try_from(t.elapsed().as_millis()).unwrap_or(u64::MAX)),
            readings: h.readings,
            rejected: h.rejected,
        }
    }
}

/// One line naming the path and, for "permission denied", the group to join.
pub(crate) fn open_error(path: &str, err: &std::io::Error, group: &str) -> String {
    use std::io::ErrorKind;
    match err.kind() {
        ErrorKind::PermissionDenied => format!(
            "cannot open {path}: permission denied — add the gatepass user to group {group} (sudo usermod -aG {group} gatepass) and restart"
        ),
        ErrorKind::NotFound => format!(
            "cannot open {path}: no such device — is it plugged in? (retrying every second)"
        ),
        _ => format!("cannot open {path}: {err} (retrying every second)"),
    }
}

/// Why opening a serial device failed, in one line with its remedy.
fn serial_open_error(path: &str, e: serialport::Error) -> String {
    if e.kind() == serialport::ErrorKind::NoDevice {
        return format!(
            "cannot open {path}: busy — another program holds it (serial console, ModemManager, a second gatepass)"
        );
    }
    open_error(path, &std::io::Error::from(e), "dialout")
}

/// Reads a serial device until `stop`, for the thermometer and the scanner
/// alike: a failed open or an unplug is reported `down` on `health` and the
/// device is reopened every second, so unplugging never stops the daemon.
/// `opened` runs after each open (reset the parser, send a start command)
/// and returns the `ok` detail; `chunk` gets each read and returns `false`
/// to end for good (the daemon went away). Both share the parser `state`.
pub(crate) fn serial_loop<S>(
    path: &str,
    baud: u32,
    health: &Health,
    stop: &Stop,
    state: &mut S,
    opened: impl Fn(&mut S, &mut serialport::TTYPort) -> String,
    chunk: impl Fn(&mut S, &[u8]) -> bool,
) {
    use std::io::{ErrorKind, Read};
    let mut buf = [0u8; 256];
    while !stop.stopped() {
        let mut port = match serialport::new(path, baud).timeout(Duration::from_millis(200)).open_native() {
            Ok(p) => p,
            Err(e) => {
                health.set(DeviceState::Down, serial_open_error(path, e));
                stop.sleep(Duration::from_secs(1));
                continue;
            }
        };
        health.set(DeviceState::Ok, opened(state, &mut port));
        let why = loop {
            if stop.stopped() {
                return;
            }
            match port.read(&mut buf) {
                Ok(0) => break format!("{path} closed (unplugged?); reopening every second"),
                Ok(n) => {
                    if !chunk(state, buf.get(..n).unwrap_or_default()) {
                        return;
                    }
                }
                Err(e) if matches!(e.kind(), ErrorKind::TimedOut | ErrorKind::WouldBlock | ErrorKind::Interrupted) => {}
                Err(e) => break format!("{path}: read failed ({e}), unplugged?; reopening every second"),
            }
        };
        health.set(DeviceState::Down, why);
        drop(port);
        stop.sleep(Duration::from_secs(1));
    }
}

/// Whether rppal recognises this board; `Err` carries why not.
pub(crate) fn raspberry_pi() -> Result<(), String> {
    rppal::system::DeviceInfo::new()
        .map(|_| ())
        .map_err(|e| format!("not a Raspberry Pi (rppal: {})", e.to_string().to_lowercase()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_error_names_path_and_group() {
        let e = std::io::Error::from(std::io::ErrorKind::PermissionDenied);
        let m = open_error("/dev/ttyUSB0", &e, "dialout");
        assert!(m.contains("/dev/ttyUSB0") && m.contains("group dialout"), "{m}");
        assert!(!m.contains('\n'));
    }

    #[test]
    fn reading_source_serialises_as_spec() {
        assert_eq!(serde_json::to_string(&ReadingSource::I2c).unwrap(), "\"i2c\"");
        assert_eq!(serde_json::to_string(&ReadingSource::Serial).unwrap(), "\"serial\"");
        assert_eq!(serde_json::to_string(&DeviceState::Simulated).unwrap(), "\"simulated\"");
    }
}
