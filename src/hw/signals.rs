//! Signals at the gate: green and red lamps, a buzzer and the barrier relay,
//! on GPIO through rppal `OutputPin`s (BCM numbering).
//!
//! Each decision lights its lamp for `lamp_ms`, plays a buzzer pattern (one
//! short beep: allow; three: deny; one long: refer) and, only for a live
//! `allow`, pulses the relay for `relay_pulse_ms`. Replayed, backfilled or
//! imported events must call `show(.., live = false)`, which never touches
//! the relay. Timing runs on a short-lived thread, so `show` returns at once.
//!
//! Usual failures (reported by `hw::start`, so a wrong pin is seen at
//! installation):
//! - "pin N is already in use": another program or a device-tree overlay
//!   owns it (I2C uses GPIO 2/3, the UART 14/15, 1-wire 4); pick another.
//! - "permission denied" on `/dev/gpiomem` (`/dev/gpiomem0` on a Pi 5): add
//!   the `gatepass` user to group `gpio`.
//! - The barrier opens at boot: the relay board triggers on a low input; set
//!   `relay_active_low = true`.

use super::config::SignalsConfig;
use super::{raspberry_pi, DeviceState, DeviceStatus, Health, HwError};
use crate::domain::rules::Decision;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub trait Signals: Send + Sync {
    /// Shows a decision; `live` is false for anything not decided right now
    /// at this gate, and then the relay is never driven.
    fn show(&self, decision: Decision, live: bool);
    fn status(&self) -> DeviceStatus;
    /// The recorder behind simulated outputs, so daemon tests can assert
    /// that a scan pulsed (or did not pulse) the relay.
    fn simulated(&self) -> Option<&SimulatedSignals> {
        None
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Output {
    Green,
    Red,
    Buzzer,
    Relay,
}

/// One pin change, as the simulated outputs record it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SignalAction {
    pub output: Output,
    pub on: bool,
}

/// One step of a decision's timeline: at `at_ms` after `show`, set `output`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Step {
    pub at_ms: u64,
    pub output: Output,
    pub on: bool,
}

const BEEP_MS: u64 = 120;
const LONG_BEEP_MS: u64 = 1000;

/// The pin changes for one decision, in time order (pure; tested directly).
pub fn timeline(cfg: &SignalsConfig, decision: Decision, live: bool) -> Vec<Step> {
    let mut steps = Vec::new();
    let mut push = |at_ms, output, on| steps.push(Step { at_ms, output, on });
    let (lamp, other) = match decision {
        Decision::Allow => (Output::Green, Output::Red),
        Decision::Deny | Decision::Refer => (Output::Red, Output::Green),
    };
    let has = |o: Output| match o {
        Output::Green => cfg.green_pin.is_some(),
        Output::Red => cfg.red_pin.is_some(),
        Output::Buzzer => cfg.buzzer_pin.is_some(),
        Output::Relay => cfg.relay_pin.is_some(),
    };
    if has(other) {
        push(0, other, false);
    }
    if has(lamp) {
        push(0, lamp, true);
        push(cfg.lamp_ms, lamp, false);
    }
    if has(Output::Buzzer) {
        let beeps: &[u64] = match decision {
            Decision::Allow => &[BEEP_MS],
            Decision::Deny => &[BEEP_MS, BEEP_MS, BEEP_MS],
            Decision::Refer => &[LONG_BEEP_MS],
        };
        let mut t = 0;
        for len in beeps {
            push(t, Output::Buzzer, true);
            push(t + len, Output::Buzzer, false);
            t += len + BEEP_MS;
        }
    }
    if live && decision == Decision::Allow && has(Output::Relay) {
        push(0, Output::Relay, true);
        push(cfg.relay_pulse_ms, Output::Relay, false);
    }
    steps.sort_by_key(|s| s.at_ms);
    steps
}

type Sink = Arc<dyn Fn(Output, bool) + Send + Sync>;

/// Runs timelines on a sink (real pins or a recorder).
struct Driver {
    cfg: SignalsConfig,
    sink: Sink,
    generation: Arc<AtomicU64>,
    health: Health,
}

impl Driver {
    fn show(&self, decision: Decision, live: bool) {
        let me = self.generation.fetch_add(1, Ordering::SeqCst) + 1;
        self.health.accepted();
        let steps = timeline(&self.cfg, decision, live);
        let (sink, generation) = (self.sink.clone(), self.generation.clone());
        // Immediate steps happen before `show` returns, so the lamp is on
        // when the guard page updates.
        let (now, later): (Vec<Step>, Vec<Step>) = steps.into_iter().partition(|s| s.at_ms == 0);
        for s in now {
            sink(s.output, s.on);
        }
        let spawned = std::thread::Builder::new()
            .name("gatepass-signals".into())
            .spawn(move || {
                let start = std::time::Instant::now();
                for s in later {
                    let due = start + Duration::from_millis(s.at_ms);
                    let now = std::time::Instant::now();
                    if due > now {
                        std::thread::sleep(due - now);
                    }
                    // A newer decision owns the lamps now; but buzzer and
                    // relay always get their "off" so nothing stays on.
                    let superseded = generation.load(Ordering::SeqCst) != me;
                    if superseded && matches!(s.output, Output::Green | Output::Red) {
                        continue;
                    }
                    sink(s.output, s.on);
                }
            });
        if let Err(e) = spawned {
            // Without the timing thread, switch everything off rather than
            // leave the relay energised.
            tracing::error!("cannot start the signal timing thread: {e}");
            for o in [Output::Relay, Output::Buzzer, Output::Green, Output::Red] {
                (self.sink)(o, false);
            }
        }
    }
}

/// Real GPIO outputs.
pub struct GpioSignals {
    driver: Driver,
}

impl Signals for GpioSignals {
    fn show(&self, decision: Decision, live: bool) {
        self.driver.show(decision, live);
    }
    fn status(&self) -> DeviceStatus {
        self.driver.health.snapshot()
    }
}

/// Records every pin change instead of driving pins.
pub struct SimulatedSignals {
    driver: Driver,
    log: Arc<Mutex<Vec<SignalAction>>>,
}

impl SimulatedSignals {
    pub fn new(cfg: &SignalsConfig, detail: impl Into<String>) -> SimulatedSignals {
        let log: Arc<Mutex<Vec<SignalAction>>> = Arc::default();
        let l = log.clone();
        let sink: Sink = Arc::new(move |output, on| {
            l.lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(SignalAction { output, on });
        });
        SimulatedSignals {
            driver: Driver {
                cfg: cfg.clone(),
                sink,
                generation: Arc::default(),
                health: Health::new("gpio", DeviceState::Simulated, detail),
            },
            log,
        }
    }

    /// Everything recorded since the last call.
    pub fn take_actions(&self) -> Vec<SignalAction> {
        std::mem::take(&mut *self.log.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

impl Signals for SimulatedSignals {
    fn show(&self, decision: Decision, live: bool) {
        self.driver.show(decision, live);
    }
    fn status(&self) -> DeviceStatus {
        self.driver.health.snapshot()
    }
    fn simulated(&self) -> Option<&SimulatedSignals> {
        Some(self)
    }
}

/// `enabled = false`.
pub struct NoSignals;

impl Signals for NoSignals {
    fn show(&self, _decision: Decision, _live: bool) {}
    fn status(&self) -> DeviceStatus {
        DeviceStatus {
            kind: "none".into(),
            state: DeviceState::Off,
            detail: "signals disabled ([signals] enabled = false)".into(),
            last_reading_age_ms: None,
            readings: 0,
            rejected: 0,
        }
    }
}

pub(crate) fn start(cfg: &SignalsConfig, simulated: bool) -> Result<Arc<dyn Signals>, HwError> {
    if !cfg.enabled {
        return Ok(Arc::new(NoSignals));
    }
    if simulated {
        return Ok(Arc::new(SimulatedSignals::new(
            cfg,
            "simulated = true; using simulated GPIO",
        )));
    }
    if let Err(why) = raspberry_pi() {
        return Ok(Arc::new(SimulatedSignals::new(
            cfg,
            format!("{why}; using simulated GPIO"),
        )));
    }
    let gpio = match rppal::gpio::Gpio::new() {
        Ok(g) => g,
        Err(rppal::gpio::Error::UnknownModel) => {
            return Ok(Arc::new(SimulatedSignals::new(
                cfg,
                "not a Raspberry Pi (rppal: unknown model); using simulated GPIO",
            )))
        }
        Err(e) => {
            let (key, pin) = cfg.pins().first().copied().unwrap_or(("signals", 0));
            return Err(HwError::Gpio {
                key,
                pin,
                message: gpio_error(&e),
            });
        }
    };
    let mut pins = std::collections::HashMap::new();
    for (key, pin) in cfg.pins() {
        let output = match key {
            "signals.green_pin" => Output::Green,
            "signals.red_pin" => Output::Red,
            "signals.buzzer_pin" => Output::Buzzer,
            _ => Output::Relay,
        };
        let p = gpio.get(pin).map_err(|e| HwError::Gpio {
            key,
            pin,
            message: gpio_error(&e),
        })?;
        let idle_high = output == Output::Relay && cfg.relay_active_low;
        let p = if idle_high {
            p.into_output_high()
        } else {
            p.into_output_low()
        };
        pins.insert(output, p);
    }
    let pins = Mutex::new(pins);
    let active_low = cfg.relay_active_low;
    let sink: Sink = Arc::new(move |output, on| {
        let mut pins = pins.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(p) = pins.get_mut(&output) {
            let high = if output == Output::Relay && active_low {
                !on
            } else {
                on
            };
            if high {
                p.set_high();
            } else {
                p.set_low();
            }
        }
    });
    let detail = format!(
        "GPIO outputs: {}",
        cfg.pins()
            .iter()
            .map(|(k, p)| format!("{} = {p}", k.trim_start_matches("signals.")))
            .collect::<Vec<_>>()
            .join(", ")
    );
    Ok(Arc::new(GpioSignals {
        driver: Driver {
            cfg: cfg.clone(),
            sink,
            generation: Arc::default(),
            health: Health::new("gpio", DeviceState::Ok, detail),
        },
    }))
}

fn gpio_error(e: &rppal::gpio::Error) -> String {
    use rppal::gpio::Error as E;
    match e {
        E::PinUsed(p) => format!("GPIO {p} is already in use by another program or a device-tree overlay (I2C uses 2/3, UART 14/15, 1-wire 4); choose another pin"),
        E::PinNotAvailable(p) => format!("GPIO {p} does not exist on this board; use a BCM number 0..=27"),
        E::PermissionDenied(path) => format!("cannot open {path}: permission denied — add the gatepass user to group gpio (sudo usermod -aG gpio gatepass) and restart"),
        E::Io(io) => super::open_error("/dev/gpiomem", io, "gpio"),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> SignalsConfig {
        SignalsConfig {
            enabled: true,
            green_pin: Some(17),
            red_pin: Some(27),
            buzzer_pin: Some(22),
            relay_pin: Some(23),
            relay_pulse_ms: 1500,
            lamp_ms: 3000,
            relay_active_low: false,
        }
    }

    fn count(steps: &[Step], o: Output, on: bool) -> usize {
        steps.iter().filter(|s| s.output == o && s.on == on).count()
    }

    #[test]
    fn relay_only_on_live_allow() {
        let c = cfg();
        assert_eq!(
            count(&timeline(&c, Decision::Allow, true), Output::Relay, true),
            1
        );
        for (d, live) in [
            (Decision::Allow, false),
            (Decision::Deny, true),
            (Decision::Refer, true),
            (Decision::Deny, false),
        ] {
            let t = timeline(&c, d, live);
            assert_eq!(count(&t, Output::Relay, true), 0, "{d:?} live={live}");
        }
    }

    #[test]
    fn buzzer_patterns_and_lamps() {
        let c = cfg();
        let allow = timeline(&c, Decision::Allow, true);
        assert_eq!(count(&allow, Output::Buzzer, true), 1);
        assert!(allow.contains(&Step {
            at_ms: 0,
            output: Output::Green,
            on: true
        }));
        assert!(allow.contains(&Step {
            at_ms: 3000,
            output: Output::Green,
            on: false
        }));
        assert!(allow.contains(&Step {
            at_ms: 1500,
            output: Output::Relay,
            on: false
        }));
        let deny = timeline(&c, Decision::Deny, true);
        assert_eq!(count(&deny, Output::Buzzer, true), 3);
        assert_eq!(count(&deny, Output::Buzzer, false), 3);
        assert!(deny.contains(&Step {
            at_ms: 0,
            output: Output::Red,
            on: true
        }));
        let refer = timeline(&c, Decision::Refer, false);
        let beep: Vec<_> = refer
            .iter()
            .filter(|s| s.output == Output::Buzzer)
            .collect();
        assert_eq!(beep.len(), 2);
        assert_eq!(beep[1].at_ms - beep[0].at_ms, LONG_BEEP_MS);
    }

    #[test]
    fn unset_pins_are_skipped() {
        let c = SignalsConfig {
            enabled: true,
            relay_pin: Some(23),
            ..Default::default()
        };
        let t = timeline(&c, Decision::Allow, true);
        assert!(t.iter().all(|s| s.output == Output::Relay));
        assert_eq!(t.len(), 2);
    }

    #[test]
    fn simulated_records_pulses_and_ends_off() {
        let c = SignalsConfig {
            relay_pulse_ms: 30,
            lamp_ms: 40,
            ..cfg()
        };
        let s = SimulatedSignals::new(&c, "test");
        s.show(Decision::Allow, true);
        let deadline = std::time::Instant::now() + Duration::from_secs(3);
        let mut all = Vec::new();
        while std::time::Instant::now() < deadline {
            all.extend(s.take_actions());
            if all.contains(&SignalAction {
                output: Output::Relay,
                on: false,
            }) && all.contains(&SignalAction {
                output: Output::Green,
                on: false,
            }) && all.iter().filter(|a| a.output == Output::Buzzer).count() == 2
            {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let relay: Vec<bool> = all
            .iter()
            .filter(|a| a.output == Output::Relay)
            .map(|a| a.on)
            .collect();
        assert_eq!(relay, vec![true, false]);
        assert_eq!(s.status().readings, 1);
        assert_eq!(s.status().state, DeviceState::Simulated);

        s.show(Decision::Allow, false);
        s.show(Decision::Deny, true);
        std::thread::sleep(Duration::from_millis(10));
        let later = s.take_actions();
        assert!(later.iter().all(|a| a.output != Output::Relay), "{later:?}");
    }
}
