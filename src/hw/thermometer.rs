//! Thermometers: a serial IR module (text or binary frames), an MLX90614 on
//! I2C, a simulated one, or none (the guard types the temperature).
//!
//! Readers run on their own threads and keep the recent readings; `latest()`
//! only looks at them, so it never blocks on a device. Readings outside
//! 30–45 °C (after `offset_c`) and frames with a bad checksum are dropped and
//! counted in `rejected`.
//!
//! Usual failures:
//! - `cannot open /dev/ttyUSB0: permission denied`: add the `gatepass` user to
//!   group `dialout` and restart. Busy: stop the serial console
//!   (`raspi-config` → Interface → Serial: login shell off) or ModemManager.
//! - no readings but state `ok`: wrong `baud` or `protocol`; try
//!   `protocol = "text"` with `pattern = '(.+)'` briefly to see what arrives,
//!   or check with `picocom -b 9600 /dev/ttyUSB0`.
//! - MLX90614 `no answer`: wiring (SDA GPIO2 / pin 3, SCL GPIO3 / pin 5,
//!   3.3 V), `i2cdetect -y 1` should show `5a`; I2C enabled with
//!   `firmware-config/i2c.txt`; user in group `i2c`.

use super::config::{SerialProtocol, ThermometerConfig, ThermometerKind};
use super::{open_error, raspberry_pi, DeviceState, DeviceStatus, Health, HwError, Reading, ReadingSource, Stop};
use std::collections::VecDeque;
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub trait Thermometer: Send + Sync {
    /// The reading a scan should use, if one is younger than `max_age`.
    fn latest(&self, max_age: Duration) -> Option<Reading>;
    fn status(&self) -> DeviceStatus;
}

/// The MLX90614 is sampled as a forehead passes; a scan uses the highest
/// reading of this window rather than whatever was read last.
pub const PEAK_WINDOW: Duration = Duration::from_secs(2);

const KEEP: usize = 64;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pick {
    Newest,
    PeakOf(Duration),
}

/// Recent readings plus device health; shared by a reader thread and callers.
pub struct ReadingStore {
    health: Health,
    readings: Mutex<VecDeque<Reading>>,
    source: ReadingSource,
    offset_c: f64,
    pick: Pick,
}

impl ReadingStore {
    fn new(health: Health, source: ReadingSource, offset_c: f64, pick: Pick) -> ReadingStore {
        ReadingStore { health, readings: Mutex::new(VecDeque::with_capacity(KEEP)), source, offset_c, pick }
    }

    /// Applies the offset and the plausibility check; returns whether kept.
    pub fn push_raw(&self, raw: f64) -> bool {
        let celsius = raw + self.offset_c;
        if !crate::domain::plausible_c(celsius) {
            tracing::debug!(raw, celsius, "thermometer reading out of range, ignored");
            self.health.rejected();
            return false;
        }
        let mut q = self.readings.lock().unwrap_or_else(|e| e.into_inner());
        if q.len() == KEEP {
            q.pop_front();
        }
        q.push_back(Reading { celsius, raw_celsius: raw, source: self.source, at: Instant::now() });
        drop(q);
        self.health.accepted();
        true
    }

    pub fn rejected(&self) {
        self.health.rejected();
    }
}

impl Thermometer for ReadingStore {
    fn latest(&self, max_age: Duration) -> Option<Reading> {
        let q = self.readings.lock().unwrap_or_else(|e| e.into_inner());
        match self.pick {
            Pick::Newest => q.back().filter(|r| r.at.elapsed() <= max_age).copied(),
            Pick::PeakOf(window) => {
                let window = window.min(max_age);
                q.iter()
                    .filter(|r| r.at.elapsed() <= window)
                    .copied()
                    .reduce(|a, b| if b.celsius > a.celsius { b } else { a })
            }
        }
    }

    fn status(&self) -> DeviceStatus {
        self.health.snapshot()
    }
}

/// `kind = "none"`: temperatures are typed in by the guard.
pub struct NoThermometer;

impl Thermometer for NoThermometer {
    fn latest(&self, _max_age: Duration) -> Option<Reading> {
        None
    }
    fn status(&self) -> DeviceStatus {
        DeviceStatus {
            kind: "none".into(),
            state: DeviceState::Off,
            detail: "no thermometer configured; the guard types the temperature".into(),
            last_reading_age_ms: None,
            readings: 0,
            rejected: 0,
        }
    }
}

pub(crate) fn start(cfg: &ThermometerConfig, simulated: bool, stop: &Stop) -> Result<Arc<dyn Thermometer>, HwError> {
    let (kind, source, pick) = match cfg.kind {
        ThermometerKind::None => return Ok(Arc::new(NoThermometer)),
        ThermometerKind::Serial => ("serial", ReadingSource::Serial, Pick::Newest),
        ThermometerKind::Mlx90614 => ("mlx90614", ReadingSource::I2c, Pick::PeakOf(PEAK_WINDOW)),
    };
    let why_simulated = if simulated {
        Some("simulated = true; using a simulated thermometer".to_string())
    } else if cfg.kind == ThermometerKind::Mlx90614 {
        raspberry_pi().err().map(|why| format!("{why}; using a simulated thermometer"))
    } else {
        None
    };
    if let Some(why) = why_simulated {
        let store =
            Arc::new(ReadingStore::new(Health::new(kind, DeviceState::Simulated, why), source, cfg.offset_c, pick));
        spawn("gatepass-thermo-sim", {
            let store = store.clone();
            let stop = stop.clone();
            move || simulate(&store, &stop)
        })?;
        return Ok(store);
    }
    let store =
        Arc::new(ReadingStore::new(Health::new(kind, DeviceState::Down, "starting"), source, cfg.offset_c, pick));
    match cfg.kind {
        ThermometerKind::Serial => {
            let path = cfg.path.clone().unwrap_or_default();
            let framer = Framer::new(cfg.protocol, &cfg.pattern)
                .map_err(|e| HwError::Config(format!("thermometer.pattern: {e}")))?;
            let (baud, protocol) = (cfg.baud, cfg.protocol);
            let (store, stop) = (store.clone(), stop.clone());
            spawn("gatepass-thermo", move || run_serial(&path, baud, protocol, framer, &store, &stop))?;
        }
        ThermometerKind::Mlx90614 => {
            let (bus, address) = (cfg.bus, cfg.address);
            let (store, stop) = (store.clone(), stop.clone());
            spawn("gatepass-mlx90614", move || run_mlx(bus, address, &store, &stop))?;
        }
        ThermometerKind::None => {}
    }
    Ok(store)
}

fn spawn(name: &str, f: impl FnOnce() + Send + 'static) -> Result<(), HwError> {
    std::thread::Builder::new().name(name.to_string()).spawn(f)?;
    Ok(())
}

fn simulate(store: &ReadingStore, stop: &Stop) {
    // A fixed walk through 36.2..=36.9 looks alive without an RNG dependency.
    let mut n: u64 = 0;
    loop {
        let tenths = (n.wrapping_mul(37) + 3) % 8;
        store.push_raw(36.2 + tenths as f64 / 10.0 - store.offset_c);
        n = n.wrapping_add(1);
        if stop.sleep(Duration::from_millis(500)) {
            return;
        }
    }
}

// ---------------------------------------------------------------- serial

/// Splits the byte stream of a serial thermometer into readings.
/// `feed` returns `Some(raw °C)` per good reading and `None` per frame with a
/// bad checksum; partial frames are kept for the next call.
pub enum Framer {
    Text { re: regex::bytes::Regex, buf: Vec<u8> },
    Binary { protocol: BinaryProtocol, buf: Vec<u8> },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinaryProtocol {
    GyMcu90615,
    Cjmcu90614,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameError {
    /// Header bytes that happened to occur in noise: not counted.
    NotAFrame,
    /// A real frame damaged on the line: counted as rejected.
    Checksum,
}

/// Both binary modules send 9-byte frames.
pub const FRAME_LEN: usize = 9;
/// Longest text kept while waiting for a reading to complete.
const TEXT_TAIL: usize = 64;
const TEXT_MAX: usize = 4096;

impl BinaryProtocol {
    fn header(self) -> [u8; 2] {
        match self {
            BinaryProtocol::GyMcu90615 => [0x5A, 0x5A],
            BinaryProtocol::Cjmcu90614 => [0x66, 0x66],
        }
    }

    /// Sent once after opening so the module streams readings on its own.
    pub fn start_command(self) -> &'static [u8] {
        match self {
            BinaryProtocol::GyMcu90615 => &[0xA5, 0x45, 0xEA],
            BinaryProtocol::Cjmcu90614 => &[0x66, 0x66, 0x01, 0x56],
        }
    }

    /// Decodes one aligned 9-byte frame into the object temperature in °C.
    pub fn decode(self, f: &[u8; FRAME_LEN]) -> Result<f64, FrameError> {
        let fixed = match self {
            // Type 0x45 with four data bytes: object then ambient.
            BinaryProtocol::GyMcu90615 => f[2] == 0x45 && f[3] == 0x04,
            // Any mode byte; D1 is the target (body), D2 the ambient.
            BinaryProtocol::Cjmcu90614 => f[3] == 0x04,
        };
        if f[..2] != self.header() || !fixed {
            return Err(FrameError::NotAFrame);
        }
        let sum = f[..8].iter().fold(0u8, |a, b| a.wrapping_add(*b));
        if sum != f[8] {
            return Err(FrameError::Checksum);
        }
        Ok(f64::from(i16::from_be_bytes([f[4], f[5]])) / 100.0)
    }

    /// Builds a valid frame (for tests and simulators).
    pub fn encode(self, object_c: f64, ambient_c: f64) -> [u8; FRAME_LEN] {
        let o = ((object_c * 100.0).round() as i16).to_be_bytes();
        let a = ((ambient_c * 100.0).round() as i16).to_be_bytes();
        let [h0, h1] = self.header();
        let (t, l) = match self {
            BinaryProtocol::GyMcu90615 => (0x45, 0x04),
            BinaryProtocol::Cjmcu90614 => (0x01, 0x04),
        };
        let mut f = [h0, h1, t, l, o[0], o[1], a[0], a[1], 0];
        f[8] = f[..8].iter().fold(0u8, |s, b| s.wrapping_add(*b));
        f
    }
}

impl Framer {
    pub fn new(protocol: SerialProtocol, pattern: &str) -> Result<Framer, regex::Error> {
        Ok(match protocol {
            SerialProtocol::Text => Framer::Text { re: regex::bytes::Regex::new(pattern)?, buf: Vec::new() },
            SerialProtocol::GyMcu90615 => Framer::Binary { protocol: BinaryProtocol::GyMcu90615, buf: Vec::new() },
            SerialProtocol::Cjmcu90614 => Framer::Binary { protocol: BinaryProtocol::Cjmcu90614, buf: Vec::new() },
        })
    }

    /// Forgets any partial frame (after a reopen).
    pub fn reset(&mut self) {
        let (Framer::Text { buf, .. } | Framer::Binary { buf, .. }) = self;
        buf.clear();
    }

    pub fn start_command(&self) -> Option<&'static [u8]> {
        match self {
            Framer::Text { .. } => None,
            Framer::Binary { protocol, .. } => Some(protocol.start_command()),
        }
    }

    pub fn feed(&mut self, bytes: &[u8]) -> Vec<Option<f64>> {
        match self {
            Framer::Text { re, buf } => feed_text(re, buf, bytes),
            Framer::Binary { protocol, buf } => feed_binary(*protocol, buf, bytes),
        }
    }
}

fn feed_text(re: &regex::bytes::Regex, buf: &mut Vec<u8>, bytes: &[u8]) -> Vec<Option<f64>> {
    buf.extend_from_slice(bytes);
    let mut out = Vec::new();
    let mut consumed = 0;
    for caps in re.captures_iter(buf) {
        let Some(whole) = caps.get(0) else { continue };
        // A match touching the end may still grow ("36." + "7"); wait for
        // the byte after it.
        if whole.end() >= buf.len() {
            break;
        }
        consumed = whole.end();
        let value =
            caps.get(1).and_then(|g| std::str::from_utf8(g.as_bytes()).ok()).and_then(|s| s.trim().parse::<f64>().ok());
        out.push(value);
    }
    let keep_from = consumed.max(buf.len().saturating_sub(TEXT_TAIL));
    if buf.len() > TEXT_MAX || keep_from > 0 {
        buf.drain(..keep_from.min(buf.len()));
    }
    out
}

fn feed_binary(protocol: BinaryProtocol, buf: &mut Vec<u8>, bytes: &[u8]) -> Vec<Option<f64>> {
    buf.extend_from_slice(bytes);
    let header = protocol.header();
    let mut out = Vec::new();
    loop {
        // Resynchronise: drop noise before the next header (keep a lone
        // first header byte at the end, its partner may be in the next read).
        match buf.windows(2).position(|w| w == header) {
            Some(0) => {}
            Some(i) => {
                buf.drain(..i);
            }
            None => {
                let keep = usize::from(buf.last() == Some(&header[0]));
                let n = buf.len() - keep;
                buf.drain(..n);
                return out;
            }
        }
        let Some(&frame) = buf.first_chunk::<FRAME_LEN>() else {
            return out;
        };
        match protocol.decode(&frame) {
            Ok(v) => {
                out.push(Some(v));
                buf.drain(..FRAME_LEN);
            }
            Err(e) => {
                // Only the header was trusted; the real frame may start
                // inside this one, so skip one byte and search again.
                if e == FrameError::Checksum {
                    out.push(None);
                }
                buf.drain(..1);
            }
        }
    }
}

fn run_serial(path: &str, baud: u32, protocol: SerialProtocol, mut framer: Framer, store: &ReadingStore, stop: &Stop) {
    super::serial_loop(
        path,
        baud,
        &store.health,
        stop,
        &mut framer,
        |framer, port| {
            // A fresh device starts a fresh stream; old half frames are noise.
            framer.reset();
            if let Some(cmd) = framer.start_command() {
                if let Err(e) = port.write_all(cmd) {
                    tracing::warn!(path, "cannot send the start command: {e}");
                }
            }
            format!("reading {path} at {baud} baud ({protocol:?})")
        },
        |framer, bytes| {
            for r in framer.feed(bytes) {
                match r {
                    Some(raw) => {
                        store.push_raw(raw);
                    }
                    None => store.rejected(),
                }
            }
            true
        },
    );
}

// ---------------------------------------------------------------- MLX90614

/// RAM register of the object (forehead) temperature.
pub const MLX_TOBJ1: u8 = 0x07;
/// RAM register of the sensor's own (ambient) temperature.
pub const MLX_TA: u8 = 0x06;

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum MlxError {
    /// The packet error code did not match: a glitch on the bus; read again.
    #[error("PEC mismatch (expected {expected:#04x}, got {got:#04x})")]
    Pec { expected: u8, got: u8 },
    /// Bit 15 set: the sensor flags its own measurement as invalid.
    #[error("sensor error flag set")]
    ErrorFlag,
}

/// SMBus PEC: CRC-8, polynomial x⁸+x²+x+1 (0x07), initial value 0.
pub fn pec(bytes: &[u8]) -> u8 {
    bytes.iter().fold(0u8, |mut crc, b| {
        crc ^= b;
        for _ in 0..8 {
            crc = if crc & 0x80 != 0 { (crc << 1) ^ 0x07 } else { crc << 1 };
        }
        crc
    })
}

/// Decodes the 3 bytes (LSB, MSB, PEC) read from `command` of the sensor at
/// 7-bit `address`, checking the PEC over
/// `[addr<<1, command, (addr<<1)|1, lsb, msb]`.
pub fn mlx_decode(address: u16, command: u8, frame: [u8; 3]) -> Result<f64, MlxError> {
    let [lsb, msb, got] = frame;
    let a = (address as u8) << 1;
    let expected = pec(&[a, command, a | 1, lsb, msb]);
    if expected != got {
        return Err(MlxError::Pec { expected, got });
    }
    let raw = u16::from_le_bytes([lsb, msb]);
    if raw & 0x8000 != 0 {
        return Err(MlxError::ErrorFlag);
    }
    Ok(f64::from(raw) * 0.02 - 273.15)
}

fn i2c_error(bus: u8, e: &rppal::i2c::Error) -> String {
    let path = format!("/dev/i2c-{bus}");
    match e {
        rppal::i2c::Error::Io(io) if io.kind() == std::io::ErrorKind::NotFound => format!(
            "cannot open {path}: no such bus — enable I2C (firmware-config/i2c.txt in /boot/firmware/config.txt) and reboot"
        ),
        rppal::i2c::Error::Io(io) => open_error(&path, io, "i2c"),
        other => format!("{path}: {other}"),
    }
}

fn run_mlx(bus: u8, address: u16, store: &ReadingStore, stop: &Stop) {
    const PEC_RETRIES: usize = 3;
    const FAILS_BEFORE_DOWN: u32 = 5;
    while !stop.stopped() {
        let i2c = rppal::i2c::I2c::with_bus(bus).and_then(|mut i| {
            i.set_slave_address(address)?;
            Ok(i)
        });
        let i2c = match i2c {
            Ok(i) => i,
            Err(e) => {
                store.health.set(DeviceState::Down, i2c_error(bus, &e));
                stop.sleep(Duration::from_secs(2));
                continue;
            }
        };
        let mut fails = 0u32;
        loop {
            if stop.sleep(Duration::from_millis(100)) {
                return;
            }
            let mut outcome = Err(String::new());
            for _ in 0..PEC_RETRIES {
                let mut frame = [0u8; 3];
                // write_read issues the repeated START the sensor requires.
                outcome = match i2c.write_read(&[MLX_TOBJ1], &mut frame) {
                    Err(e) => Err(format!(
                        "no answer from the MLX90614 at {address:#04x} on /dev/i2c-{bus} ({e}) — check wiring (SDA GPIO2/pin 3, SCL GPIO3/pin 5, 3.3 V) and `i2cdetect -y {bus}`"
                    )),
                    Ok(()) => match mlx_decode(address, MLX_TOBJ1, frame) {
                        Err(MlxError::Pec { .. }) => continue,
                        Err(MlxError::ErrorFlag) => Ok(None),
                        Ok(c) => Ok(Some(c)),
                    },
                };
                break;
            }
            match outcome {
                Ok(Some(c)) => {
                    fails = 0;
                    store
                        .health
                        .set(DeviceState::Ok, format!("reading the MLX90614 at {address:#04x} on /dev/i2c-{bus}"));
                    store.push_raw(c);
                }
                Ok(None) => store.rejected(),
                Err(msg) if msg.is_empty() => store.rejected(), // PEC wrong every time
                Err(msg) => {
                    fails += 1;
                    if fails >= FAILS_BEFORE_DOWN {
                        store.health.set(DeviceState::Down, msg);
                        break;
                    }
                }
            }
        }
        stop.sleep(Duration::from_secs(1));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text() -> Framer {
        Framer::new(SerialProtocol::Text, crate::hw::config::DEFAULT_PATTERN).unwrap()
    }

    #[test]
    fn text_readings_in_lines_and_braces() {
        let mut f = text();
        assert_eq!(f.feed(b"T=36.6\r\n{36.7}"), vec![Some(36.6), Some(36.7)]);
    }

    #[test]
    fn text_reading_split_across_reads_waits_for_completion() {
        let mut f = text();
        assert_eq!(f.feed(b"T=36."), vec![]);
        assert_eq!(f.feed(b"65"), vec![]);
        assert_eq!(f.feed(b"\r\n"), vec![Some(36.65)]);
    }

    #[test]
    fn text_survives_binary_noise() {
        let mut f = text();
        let mut input = vec![0xFF, 0x00, 0xC3, 0x28];
        input.extend_from_slice(b"T=37.1\n");
        assert_eq!(f.feed(&input), vec![Some(37.1)]);
        // Endless garbage does not grow the buffer without bound.
        for _ in 0..1000 {
            f.feed(&[0xAB; 100]);
        }
        if let Framer::Text { buf, .. } = &f {
            assert!(buf.len() <= TEXT_TAIL);
        }
    }

    #[test]
    fn gy_frame_decodes_and_checks_sum() {
        // 36.57 °C object, 25.00 °C ambient, written out by hand from the
        // documented layout (no module was at hand to record one).
        let frame = [0x5A, 0x5A, 0x45, 0x04, 0x0E, 0x49, 0x09, 0xC4, 0x00];
        let mut good = frame;
        good[8] = frame[..8].iter().fold(0u8, |a, b| a.wrapping_add(*b));
        assert_eq!(good, BinaryProtocol::GyMcu90615.encode(36.57, 25.0));
        assert_eq!(BinaryProtocol::GyMcu90615.decode(&good), Ok(36.57));
        let mut bad = good;
        bad[8] ^= 1;
        assert_eq!(BinaryProtocol::GyMcu90615.decode(&bad), Err(FrameError::Checksum));
    }

    #[test]
    fn binary_resyncs_after_noise_and_keeps_half_frames() {
        let mut f = Framer::new(SerialProtocol::GyMcu90615, "").unwrap();
        let frame = BinaryProtocol::GyMcu90615.encode(36.5, 24.0);
        let mut input = vec![0x00, 0x5A, 0x13, 0x5A];
        input.extend_from_slice(&frame[..4]);
        assert_eq!(f.feed(&input), vec![]);
        assert_eq!(f.feed(&frame[4..]), vec![Some(36.5)]);
        // A bad frame is reported once, and the good one after it still parses.
        let mut bad = frame;
        bad[8] = bad[8].wrapping_add(1);
        let mut input = bad.to_vec();
        input.extend_from_slice(&BinaryProtocol::GyMcu90615.encode(37.0, 24.0));
        assert_eq!(f.feed(&input), vec![None, Some(37.0)]);
    }

    #[test]
    fn cjmcu_frames() {
        let mut f = Framer::new(SerialProtocol::Cjmcu90614, "").unwrap();
        let frame = BinaryProtocol::Cjmcu90614.encode(36.8, 26.0);
        assert_eq!(&frame[..4], &[0x66, 0x66, 0x01, 0x04]);
        let mut input = vec![0x66, 0x01];
        input.extend_from_slice(&frame);
        assert_eq!(f.feed(&input), vec![Some(36.8)]);
        assert_eq!(f.start_command(), Some(&[0x66, 0x66, 0x01, 0x56][..]));
    }

    #[test]
    fn pec_matches_recorded_frames() {
        // SMBus CRC-8 check value for "123456789".
        assert_eq!(pec(b"123456789"), 0xF4);
        // The MLX90614 datasheet's SMBus example: SA 0x5A reads RAM 0x07 and
        // gets LSB 0xD2, MSB 0x3A, PEC 0x30 (0x3AD2 = 28.01 °C).
        assert_eq!(pec(&[0xB4, 0x07, 0xB5, 0xD2, 0x3A]), 0x30);
        let c = mlx_decode(0x5A, MLX_TOBJ1, [0xD2, 0x3A, 0x30]).unwrap();
        assert!((c - 28.01).abs() < 1e-9, "{c}");
    }

    #[test]
    fn mlx_forehead_reading() {
        // 36.61 °C = (36.61 + 273.15) / 0.02 = 15488 = 0x3C80
        let (lsb, msb) = (0x80, 0x3C);
        let p = pec(&[0xB4, 0x07, 0xB5, lsb, msb]);
        let c = mlx_decode(0x5A, 0x07, [lsb, msb, p]).unwrap();
        assert!((c - 36.61).abs() < 0.001, "{c}");
    }

    #[test]
    fn mlx_bad_pec_and_error_flag() {
        let (lsb, msb) = (0x80, 0x3C);
        let p = pec(&[0xB4, 0x07, 0xB5, lsb, msb]);
        assert!(matches!(mlx_decode(0x5A, 0x07, [lsb, msb, p ^ 0x5A]), Err(MlxError::Pec { .. })));
        // A PEC computed for another address is wrong for this one.
        assert!(mlx_decode(0x5B, 0x07, [lsb, msb, p]).is_err());
        // 0xFFFF with 0xFF PEC: what a bus without a repeated start returns.
        assert!(mlx_decode(0x5A, 0x07, [0xFF, 0xFF, 0xFF]).is_err());
        let (lsb, msb) = (0x00, 0x80);
        let p = pec(&[0xB4, 0x07, 0xB5, lsb, msb]);
        assert_eq!(mlx_decode(0x5A, 0x07, [lsb, msb, p]), Err(MlxError::ErrorFlag));
    }

    #[test]
    fn store_applies_offset_and_rejects_absurd_values() {
        let s = ReadingStore::new(Health::new("serial", DeviceState::Ok, ""), ReadingSource::Serial, 0.5, Pick::Newest);
        assert!(s.push_raw(36.0));
        assert!(!s.push_raw(999.9));
        assert!(!s.push_raw(-40.0));
        assert!(!s.push_raw(f64::NAN));
        let r = s.latest(Duration::from_secs(10)).unwrap();
        assert_eq!((r.raw_celsius, r.celsius), (36.0, 36.5));
        let st = s.status();
        assert_eq!((st.readings, st.rejected), (1, 3));
        assert!(s.latest(Duration::ZERO).is_none() || r.at.elapsed().is_zero());
    }

    #[test]
    fn peak_store_returns_highest_recent() {
        let s = ReadingStore::new(
            Health::new("mlx90614", DeviceState::Ok, ""),
            ReadingSource::I2c,
            0.0,
            Pick::PeakOf(PEAK_WINDOW),
        );
        for c in [33.0, 36.4, 36.9, 35.0] {
            s.push_raw(c);
        }
        let r = s.latest(Duration::from_secs(10)).unwrap();
        assert_eq!(r.celsius, 36.9);
        assert_eq!(r.source, ReadingSource::I2c);
    }
}
