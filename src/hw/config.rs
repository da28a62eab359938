//! The `[thermometer]`, `[scanner]` and `[signals]` sections of `gatepass.toml`.
//!
//! Each section is parsed once into a typed struct; unknown keys are refused
//! (serde names the key), and `validate()` checks what serde cannot, with
//! messages that name the key to fix, e.g.
//! `thermometer.path is required when thermometer.kind = "serial"`.
//! Every key has a default, so an absent section means "no such device".

use serde::{Deserialize, Serialize};
use std::time::Duration;

/// Which thermometer is wired to the gate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ThermometerKind {
    /// A UART or USB-serial IR module.
    Serial,
    /// An MLX90614 (GY-906) on the Pi's I2C bus.
    Mlx90614,
    /// No thermometer: the guard types the temperature in.
    #[default]
    None,
}

/// How a serial thermometer frames its readings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum SerialProtocol {
    /// Text; every match of `pattern` is a reading (group 1 is °C).
    #[default]
    #[serde(rename = "text")]
    Text,
    /// GY-MCU90615: `5A 5A 45 04 TOh TOl TAh TAl SUM`, value/100 °C.
    #[serde(rename = "gy-mcu90615")]
    GyMcu90615,
    /// CJMCU-90614 "human body": `66 66 mode len D1h D1l D2h D2l SUM`, value/100 °C.
    #[serde(rename = "cjmcu-90614")]
    Cjmcu90614,
}

/// Default regex for `protocol = "text"`: the first decimal number.
pub const DEFAULT_PATTERN: &str = r"(\d+\.\d+)";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ThermometerConfig {
    pub kind: ThermometerKind,
    /// Serial only: any tty (`/dev/ttyUSB0`, `/dev/serial0`, `/dev/gatepass-thermometer`).
    pub path: Option<String>,
    pub baud: u32,
    pub protocol: SerialProtocol,
    pub pattern: String,
    /// A reading older than this is not used for a scan.
    pub max_age_ms: u64,
    /// Added to the raw reading (forehead to body); both values are kept.
    pub offset_c: f64,
    /// MLX90614: I2C bus number (`/dev/i2c-<bus>`).
    pub bus: u8,
    /// MLX90614: 7-bit slave address.
    pub address: u16,
}

impl Default for ThermometerConfig {
    fn default() -> Self {
        ThermometerConfig {
            kind: ThermometerKind::None,
            path: None,
            baud: 9600,
            protocol: SerialProtocol::Text,
            pattern: DEFAULT_PATTERN.to_string(),
            max_age_ms: 10_000,
            offset_c: 0.0,
            bus: 1,
            address: 0x5A,
        }
    }
}

impl ThermometerConfig {
    pub fn max_age(&self) -> Duration {
        Duration::from_millis(self.max_age_ms)
    }

    pub fn validate(&self) -> Result<(), String> {
        if self.kind == ThermometerKind::Serial {
            match self.path.as_deref() {
                None | Some("") => return Err("thermometer.path is required when thermometer.kind = \"serial\"".into()),
                Some(_) => {}
            }
            validate_baud("thermometer.baud", self.baud)?;
            if self.protocol == SerialProtocol::Text {
                let re = regex::bytes::Regex::new(&self.pattern)
                    .map_err(|e| format!("thermometer.pattern does not compile: {e}"))?;
                if re.captures_len() < 2 {
                    return Err("thermometer.pattern needs a capture group: group 1 is the temperature in °C, e.g. '(\\d+\\.\\d+)'".into());
                }
            }
        }
        if self.kind == ThermometerKind::Mlx90614 && !(0x03..=0x77).contains(&self.address) {
            return Err(format!(
                "thermometer.address = {:#04x} is not a 7-bit I2C address (0x03..0x77; the MLX90614 default is 0x5A)",
                self.address
            ));
        }
        if self.max_age_ms == 0 || self.max_age_ms > 600_000 {
            return Err("thermometer.max_age_ms must be between 1 and 600000".into());
        }
        if !self.offset_c.is_finite() || self.offset_c.abs() > 10.0 {
            return Err("thermometer.offset_c must be between -10.0 and 10.0".into());
        }
        Ok(())
    }
}

/// Which scanner feeds codes to the daemon (besides the guard page).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ScannerKind {
    #[default]
    None,
    /// USB-CDC (`/dev/ttyACM0`) or UART scanner, codes end in CR, LF or CRLF.
    Serial,
    /// Keyboard-mode scanner read from `/dev/input/event*`.
    Hid,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ScannerConfig {
    pub kind: ScannerKind,
    pub path: Option<String>,
    pub baud: u32,
    /// HID: take the device exclusively so codes do not also reach the console.
    pub grab: bool,
}

impl Default for ScannerConfig {
    fn default() -> Self {
        ScannerConfig { kind: ScannerKind::None, path: None, baud: 9600, grab: true }
    }
}

impl ScannerConfig {
    pub fn validate(&self) -> Result<(), String> {
        let kind = match self.kind {
            ScannerKind::None => return Ok(()),
            ScannerKind::Serial => "serial",
            ScannerKind::Hid => "hid",
        };
        if matches!(self.path.as_deref(), None | Some("")) {
            return Err(format!("scanner.path is required when scanner.kind = \"{kind}\""));
        }
        if self.kind == ScannerKind::Serial {
            validate_baud("scanner.baud", self.baud)?;
        }
        Ok(())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SignalsConfig {
    pub enabled: bool,
    /// BCM GPIO numbers, not physical pin numbers.
    pub green_pin: Option<u8>,
    pub red_pin: Option<u8>,
    pub buzzer_pin: Option<u8>,
    pub relay_pin: Option<u8>,
    pub relay_pulse_ms: u64,
    pub lamp_ms: u64,
    /// Most cheap relay boards switch on a LOW input; set this for them, or
    /// the barrier opens at boot and closes on an allow.
    pub relay_active_low: bool,
}

impl Default for SignalsConfig {
    fn default() -> Self {
        SignalsConfig {
            enabled: false,
            green_pin: None,
            red_pin: None,
            buzzer_pin: None,
            relay_pin: None,
            relay_pulse_ms: 1500,
            lamp_ms: 3000,
            relay_active_low: false,
        }
    }
}

impl SignalsConfig {
    /// The configured pins with their key names, in a fixed order.
    pub fn pins(&self) -> Vec<(&'static str, u8)> {
        [
            ("signals.green_pin", self.green_pin),
            ("signals.red_pin", self.red_pin),
            ("signals.buzzer_pin", self.buzzer_pin),
            ("signals.relay_pin", self.relay_pin),
        ]
        .into_iter()
        .filter_map(|(k, p)| p.map(|p| (k, p)))
        .collect()
    }

    pub fn validate(&self) -> Result<(), String> {
        let pins = self.pins();
        for (key, pin) in &pins {
            if *pin > 27 {
                return Err(format!(
                    "{key} = {pin} is not a header GPIO: use a BCM number 0..=27 (not the physical pin number)"
                ));
            }
        }
        for (i, (key, pin)) in pins.iter().enumerate() {
            if let Some((other, _)) = pins.iter().take(i).find(|(_, p)| p == pin) {
                return Err(format!("{key} and {other} are both GPIO {pin}: each output needs its own pin"));
            }
        }
        if self.enabled && pins.is_empty() {
            return Err(
                "signals.enabled = true but no pin is set: set green_pin, red_pin, buzzer_pin or relay_pin".into()
            );
        }
        if self.relay_pulse_ms == 0 || self.relay_pulse_ms > 60_000 {
            return Err("signals.relay_pulse_ms must be between 1 and 60000".into());
        }
        if self.lamp_ms == 0 || self.lamp_ms > 60_000 {
            return Err("signals.lamp_ms must be between 1 and 60000".into());
        }
        Ok(())
    }
}

fn validate_baud(key: &str, baud: u32) -> Result<(), String> {
    if (50..=4_000_000).contains(&baud) {
        Ok(())
    } else {
        Err(format!("{key} = {baud} is not a usable baud rate (e.g. 9600 or 115200)"))
    }
}

/// The three hardware sections together, as `hw::start` takes them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct HardwareConfig {
    pub thermometer: ThermometerConfig,
    pub scanner: ScannerConfig,
    pub signals: SignalsConfig,
}

impl HardwareConfig {
    pub fn validate(&self) -> Result<(), String> {
        self.thermometer.validate()?;
        self.scanner.validate()?;
        self.signals.validate()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Deserialize)]
    struct File {
        #[serde(default)]
        thermometer: ThermometerConfig,
        #[serde(default)]
        scanner: ScannerConfig,
        #[serde(default)]
        signals: SignalsConfig,
    }

    fn parse(s: &str) -> Result<File, String> {
        toml::from_str(s).map_err(|e| e.to_string())
    }

    #[test]
    fn defaults_mean_no_devices() {
        let f = parse("").unwrap();
        assert_eq!(f.thermometer.kind, ThermometerKind::None);
        assert_eq!(f.thermometer.max_age_ms, 10_000);
        assert_eq!(f.thermometer.address, 0x5A);
        assert_eq!(f.scanner.kind, ScannerKind::None);
        assert!(f.scanner.grab);
        assert!(!f.signals.enabled);
        assert_eq!(f.signals.relay_pulse_ms, 1500);
        f.thermometer.validate().unwrap();
        f.scanner.validate().unwrap();
        f.signals.validate().unwrap();
    }

    #[test]
    fn spec_example_parses() {
        let f = parse(
            r#"
[thermometer]
kind = "serial"
path = "/dev/ttyUSB0"
baud = 9600
protocol = "gy-mcu90615"
pattern = '(\d+\.\d+)'
max_age_ms = 10000
offset_c = 0.5
bus = 1
address = 0x5A
"#,
        )
        .unwrap();
        assert_eq!(f.thermometer.protocol, SerialProtocol::GyMcu90615);
        f.thermometer.validate().unwrap();
    }

    #[test]
    fn unknown_key_is_named() {
        let e = parse("[thermometer]\nkind = \"serial\"\nbaudrate = 9600\n").err().unwrap();
        assert!(e.contains("baudrate"), "{e}");
        let e = parse("[signals]\ngreen = 5\n").err().unwrap();
        assert!(e.contains("green"), "{e}");
    }

    #[test]
    fn validation_names_the_key() {
        let t = ThermometerConfig { kind: ThermometerKind::Serial, ..Default::default() };
        assert_eq!(t.validate().unwrap_err(), "thermometer.path is required when thermometer.kind = \"serial\"");
        let t = ThermometerConfig {
            kind: ThermometerKind::Serial,
            path: Some("/dev/ttyUSB0".into()),
            pattern: r"\d+".into(),
            ..Default::default()
        };
        assert!(t.validate().unwrap_err().contains("thermometer.pattern"));
        let t = ThermometerConfig {
            kind: ThermometerKind::Serial,
            path: Some("/dev/ttyUSB0".into()),
            pattern: r"(\d+".into(),
            ..Default::default()
        };
        assert!(t.validate().unwrap_err().contains("thermometer.pattern"));
        let s = ScannerConfig { kind: ScannerKind::Hid, ..Default::default() };
        assert!(s.validate().unwrap_err().contains("scanner.path"));
        let g = SignalsConfig { enabled: true, green_pin: Some(28), ..Default::default() };
        assert!(g.validate().unwrap_err().contains("signals.green_pin"));
        let g = SignalsConfig { enabled: true, green_pin: Some(17), relay_pin: Some(17), ..Default::default() };
        let e = g.validate().unwrap_err();
        assert!(e.contains("signals.relay_pin") && e.contains("signals.green_pin"), "{e}");
        let g = SignalsConfig { enabled: true, ..Default::default() };
        assert!(g.validate().unwrap_err().contains("signals.enabled"));
    }

    #[test]
    fn kit_examples_are_valid() {
        for (name, text) in [
            ("kit-usb-serial", include_str!("../../firmware-config/kit-usb-serial.toml")),
            ("kit-i2c-gpio", include_str!("../../firmware-config/kit-i2c-gpio.toml")),
        ] {
            // [gate] and [policy] belong to the daemon; the hardware
            // sections must parse strictly and validate.
            let hw: HardwareConfig = toml::from_str(text).unwrap();
            hw.validate().unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_ne!(hw.thermometer.kind, ThermometerKind::None, "{name}");
            assert_ne!(hw.scanner.kind, ScannerKind::None, "{name}");
        }
    }
}
