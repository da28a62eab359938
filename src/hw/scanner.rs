//! QR/barcode scanners: a serial one (USB-CDC `/dev/ttyACM*` or a UART
//! engine) or a keyboard-mode (HID) one read from `/dev/input/event*`.
//!
//! Each complete code is trimmed and sent to the daemon's channel, which runs
//! it through the same scan path as the guard page. Lines longer than
//! [`MAX_CODE`] bytes, invalid UTF-8 and control characters are dropped and
//! counted in `rejected`: a pass is short printable text.
//!
//! Usual failures:
//! - `permission denied` on `/dev/ttyACM0`: group `dialout`; on
//!   `/dev/input/event3`: group `input`. Add the `gatepass` user and restart.
//! - HID codes also appear on the console / another app: keep `grab = true`.
//! - HID codes come out garbled: set the scanner to the US keyboard layout
//!   (the translation assumes it), or better, switch it to USB-COM (CDC)
//!   mode and use `kind = "serial"`.
//! - Stable paths: `/dev/serial/by-id/...`, `/dev/input/by-id/...-event-kbd`,
//!   or `firmware-config/99-gatepass.rules` (`/dev/gatepass-scanner`).

use super::config::{ScannerConfig, ScannerKind};
use super::{open_error, DeviceState, DeviceStatus, Health, HwError, Stop};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc::Sender;

/// Longest code accepted; longer lines are garbage (or two codes run together).
pub const MAX_CODE: usize = 512;

/// What the daemon keeps of the scanner: its status for `health`.
#[derive(Clone)]
pub struct ScannerHandle {
    health: Arc<Health>,
}

impl ScannerHandle {
    pub fn status(&self) -> DeviceStatus {
        self.health.snapshot()
    }
}

pub(crate) fn start(
    cfg: &ScannerConfig,
    simulated: bool,
    codes: Sender<String>,
    stop: &Stop,
) -> Result<ScannerHandle, HwError> {
    let (kind, group) = match cfg.kind {
        ScannerKind::None => {
            let h = Health::new("none", DeviceState::Off, "no scanner configured; codes come from the guard page");
            return Ok(ScannerHandle { health: Arc::new(h) });
        }
        ScannerKind::Serial => ("serial", "dialout"),
        ScannerKind::Hid => ("hid", "input"),
    };
    if simulated {
        let h = Health::new(kind, DeviceState::Simulated, "simulated = true; scan codes on the guard page");
        return Ok(ScannerHandle { health: Arc::new(h) });
    }
    let health = Arc::new(Health::new(kind, DeviceState::Down, "starting"));
    let path = cfg.path.clone().unwrap_or_default();
    let (h, stop) = (health.clone(), stop.clone());
    let (baud, grab) = (cfg.baud, cfg.grab);
    let name = format!("gatepass-scan-{kind}");
    std::thread::Builder::new().name(name).spawn(move || {
        if kind == "serial" {
            run_serial(&path, baud, &h, &codes, &stop);
        } else {
            run_hid(&path, grab, group, &h, &codes, &stop);
        }
    })?;
    Ok(ScannerHandle { health })
}

/// Turns a byte stream into codes ending in CR, LF or CRLF.
#[derive(Default)]
pub struct LineAssembler {
    buf: Vec<u8>,
    overlong: bool,
}

/// One finished line: a code, or a reason it was dropped.
#[derive(Debug, PartialEq, Eq)]
pub enum Line {
    Code(String),
    Rejected(&'static str),
}

impl LineAssembler {
    pub fn feed(&mut self, bytes: &[u8]) -> Vec<Line> {
        let mut out = Vec::new();
        for &b in bytes {
            if b == b'\r' || b == b'\n' {
                if self.overlong {
                    out.push(Line::Rejected("longer than 512 bytes"));
                } else if let Some(line) = finish(&self.buf) {
                    out.push(line);
                }
                self.buf.clear();
                self.overlong = false;
            } else if self.buf.len() >= MAX_CODE {
                self.overlong = true;
                self.buf.clear();
            } else if !self.overlong {
                self.buf.push(b);
            }
        }
        out
    }
}

/// Empty lines (the LF of a CRLF, or blank) yield nothing.
fn finish(bytes: &[u8]) -> Option<Line> {
    let Ok(s) = std::str::from_utf8(bytes) else {
        return Some(Line::Rejected("not UTF-8"));
    };
    let s = s.trim();
    if s.is_empty() {
        return None;
    }
    if s.chars().any(char::is_control) {
        return Some(Line::Rejected("control characters"));
    }
    Some(Line::Code(s.to_string()))
}

/// Sends a code; `false` when the daemon has gone away.
fn deliver(line: Line, health: &Health, codes: &Sender<String>) -> bool {
    match line {
        Line::Code(c) => {
            health.accepted();
            codes.blocking_send(c).is_ok()
        }
        Line::Rejected(why) => {
            tracing::debug!("scanner line dropped: {why}");
            health.rejected();
            true
        }
    }
}

fn run_serial(path: &str, baud: u32, health: &Health, codes: &Sender<String>, stop: &Stop) {
    super::serial_loop(
        path,
        baud,
        health,
        stop,
        &mut LineAssembler::default(),
        |lines, _| {
            *lines = LineAssembler::default();
            format!("reading codes from {path} at {baud} baud")
        },
        |lines, bytes| lines.feed(bytes).into_iter().all(|line| deliver(line, health, codes)),
    );
}

// ---------------------------------------------------------------- HID

/// Linux key codes (input-event-codes.h) the translation needs.
pub mod key {
    pub const ENTER: u16 = 28;
    pub const KPENTER: u16 = 96;
    pub const LEFTSHIFT: u16 = 42;
    pub const RIGHTSHIFT: u16 = 54;
    pub const CAPSLOCK: u16 = 58;
    pub const TAB: u16 = 15;
}

/// `(unshifted, shifted)` character of a key on a US keyboard.
pub fn us_char(code: u16) -> Option<(char, char)> {
    const DIGITS: &[(char, char)] = &[
        ('1', '!'),
        ('2', '@'),
        ('3', '#'),
        ('4', '$'),
        ('5', '%'),
        ('6', '^'),
        ('7', '&'),
        ('8', '*'),
        ('9', '('),
        ('0', ')'),
        ('-', '_'),
        ('=', '+'),
    ];
    const LETTERS: &[(u16, char)] = &[
        (16, 'q'),
        (17, 'w'),
        (18, 'e'),
        (19, 'r'),
        (20, 't'),
        (21, 'y'),
        (22, 'u'),
        (23, 'i'),
        (24, 'o'),
        (25, 'p'),
        (30, 'a'),
        (31, 's'),
        (32, 'd'),
        (33, 'f'),
        (34, 'g'),
        (35, 'h'),
        (36, 'j'),
        (37, 'k'),
        (38, 'l'),
        (44, 'z'),
        (45, 'x'),
        (46, 'c'),
        (47, 'v'),
        (48, 'b'),
        (49, 'n'),
        (50, 'm'),
    ];
    if (2..=13).contains(&code) {
        return DIGITS.get(usize::from(code - 2)).copied();
    }
    if let Some((_, c)) = LETTERS.iter().find(|(k, _)| *k == code) {
        return Some((*c, c.to_ascii_uppercase()));
    }
    Some(match code {
        26 => ('[', '{'),
        27 => (']', '}'),
        39 => (';', ':'),
        40 => ('\'', '"'),
        41 => ('`', '~'),
        43 => ('\\', '|'),
        51 => (',', '<'),
        52 => ('.', '>'),
        53 => ('/', '?'),
        57 => (' ', ' '),
        // Keypad: some scanners send digits and operators from it.
        55 => ('*', '*'),
        74 => ('-', '-'),
        78 => ('+', '+'),
        83 => ('.', '.'),
        98 => ('/', '/'),
        71 => ('7', '7'),
        72 => ('8', '8'),
        73 => ('9', '9'),
        75 => ('4', '4'),
        76 => ('5', '5'),
        77 => ('6', '6'),
        79 => ('1', '1'),
        80 => ('2', '2'),
        81 => ('3', '3'),
        82 => ('0', '0'),
        _ => return None,
    })
}

/// Key events (code, value: 1 press, 0 release, 2 repeat) to codes,
/// tracking Shift and Caps Lock; Enter ends a code.
#[derive(Default)]
pub struct KeyTranslator {
    left_shift: bool,
    right_shift: bool,
    caps: bool,
    buf: String,
    overlong: bool,
}

impl KeyTranslator {
    pub fn feed(&mut self, code: u16, value: i32) -> Option<Line> {
        match code {
            key::LEFTSHIFT => self.left_shift = value != 0,
            key::RIGHTSHIFT => self.right_shift = value != 0,
            key::CAPSLOCK if value == 1 => self.caps = !self.caps,
            key::ENTER | key::KPENTER | key::TAB if value == 1 => {
                let line = if self.overlong {
                    Some(Line::Rejected("longer than 512 bytes"))
                } else {
                    finish(self.buf.as_bytes())
                };
                self.buf.clear();
                self.overlong = false;
                return line;
            }
            // Scanners do not auto-repeat; a repeat would duplicate a char.
            _ if value == 1 => {
                if let Some((lower, upper)) = us_char(code) {
                    let shift = self.left_shift || self.right_shift;
                    let c = if lower.is_ascii_lowercase() {
                        if shift != self.caps {
                            upper
                        } else {
                            lower
                        }
                    } else if shift {
                        upper
                    } else {
                        lower
                    };
                    if self.buf.len() >= MAX_CODE {
                        self.overlong = true;
                        self.buf.clear();
                    } else if !self.overlong {
                        self.buf.push(c);
                    }
                }
            }
            _ => {}
        }
        None
    }
}

fn run_hid(path: &str, grab: bool, group: &str, health: &Health, codes: &Sender<String>, stop: &Stop) {
    while !stop.stopped() {
        let mut dev = match evdev::Device::open(path) {
            Ok(d) => d,
            Err(e) => {
                health.set(DeviceState::Down, open_error(path, &e, group));
                stop.sleep(Duration::from_secs(1));
                continue;
            }
        };
        if grab {
            if let Err(e) = dev.grab() {
                health.set(DeviceState::Down, format!("cannot grab {path} ({e}): another program holds it; retrying"));
                stop.sleep(Duration::from_secs(1));
                continue;
            }
        }
        let name = dev.name().unwrap_or("keyboard").to_string();
        health.set(DeviceState::Ok, format!("reading codes from {path} ({name})"));
        let mut keys = KeyTranslator::default();
        let why = 'read: loop {
            if stop.stopped() {
                return;
            }
            match dev.fetch_events() {
                Ok(events) => {
                    for ev in events {
                        if let evdev::EventSummary::Key(_, code, value) = ev.destructure() {
                            if let Some(line) = keys.feed(code.0, value) {
                                if !deliver(line, health, codes) {
                                    return;
                                }
                            }
                        }
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => break 'read format!("{path}: read failed ({e}), unplugged?; reopening every second"),
            }
        };
        health.set(DeviceState::Down, why);
        drop(dev);
        stop.sleep(Duration::from_secs(1));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_end_in_cr_lf_or_crlf() {
        let mut a = LineAssembler::default();
        let got = a.feed(b"GP1:AB\rGP1:CD\nGP1:EF\r\n\r\n  GP1:GH  \r");
        assert_eq!(
            got,
            vec![
                Line::Code("GP1:AB".into()),
                Line::Code("GP1:CD".into()),
                Line::Code("GP1:EF".into()),
                Line::Code("GP1:GH".into()),
            ]
        );
    }

    #[test]
    fn half_lines_wait_and_garbage_is_rejected() {
        let mut a = LineAssembler::default();
        assert_eq!(a.feed(b"GP1:A"), vec![]);
        assert_eq!(a.feed(b"B\n"), vec![Line::Code("GP1:AB".into())]);
        assert_eq!(a.feed(&[0xFF, 0xFE, b'\n']), vec![Line::Rejected("not UTF-8")]);
        assert_eq!(a.feed(&[0x01, b'x', b'\n']), vec![Line::Rejected("control characters")]);
        let long = vec![b'A'; 2000];
        assert_eq!(a.feed(&long), vec![]);
        assert_eq!(a.feed(b"\nOK\n"), vec![Line::Rejected("longer than 512 bytes"), Line::Code("OK".into())]);
        // Non-ASCII text in serial mode is fine (vendors' reason for CDC mode).
        assert_eq!(a.feed("通行证\n".as_bytes()), vec![Line::Code("通行证".into())]);
    }

    /// Presses and releases for `s` as a US-layout scanner sends them.
    fn type_string(s: &str) -> Vec<(u16, i32)> {
        let mut ev = Vec::new();
        for ch in s.chars() {
            let (code, shifted) = (0u16..128)
                .find_map(|k| {
                    let (l, u) = us_char(k)?;
                    if l == ch {
                        Some((k, false))
                    } else if u == ch {
                        Some((k, true))
                    } else {
                        None
                    }
                })
                .unwrap();
            if shifted {
                ev.push((key::LEFTSHIFT, 1));
            }
            ev.push((code, 1));
            ev.push((code, 0));
            if shifted {
                ev.push((key::LEFTSHIFT, 0));
            }
        }
        ev.push((key::ENTER, 1));
        ev.push((key::ENTER, 0));
        ev
    }

    fn run(events: &[(u16, i32)]) -> Vec<Line> {
        let mut t = KeyTranslator::default();
        events.iter().filter_map(|(c, v)| t.feed(*c, *v)).collect()
    }

    #[test]
    fn base45_alphabet_round_trips() {
        let code = "GP1:0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:";
        assert_eq!(run(&type_string(code)), vec![Line::Code(code.trim().into())]);
    }

    #[test]
    fn recorded_scanner_events() {
        // "GP1:6B%" as a keyboard-wedge scanner sends it (written by hand:
        // no scanner was at hand): Shift held across G and P, right Shift
        // for ':', a repeat event (2) on '6' that must not duplicate it,
        // and keypad Enter at the end.
        let ev = [
            (42, 1),
            (34, 1),
            (34, 0),
            (25, 1),
            (25, 0),
            (42, 0),
            (2, 1),
            (2, 0),
            (54, 1),
            (39, 1),
            (39, 0),
            (54, 0),
            (7, 1),
            (7, 2),
            (7, 0),
            (42, 1),
            (48, 1),
            (48, 0),
            (6, 1),
            (6, 0),
            (42, 0),
            (96, 1),
            (96, 0),
        ];
        assert_eq!(run(&ev), vec![Line::Code("GP1:6B%".into())]);
    }

    #[test]
    fn caps_lock_and_unknown_keys() {
        // Caps Lock on: letters upper, digits unshifted; F1 (59) ignored.
        let ev = [(58, 1), (58, 0), (30, 1), (30, 0), (59, 1), (2, 1), (28, 1)];
        assert_eq!(run(&ev), vec![Line::Code("A1".into())]);
        // Enter alone is not a code.
        assert_eq!(run(&[(28, 1), (28, 0)]), vec![]);
    }
}
