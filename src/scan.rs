//! Deciding a scan, from any source: the guard page and API (`http`) and
//! the USB scanner loop (`daemon::hardware`) both call `ScanService::scan`.
//! It knows nothing of HTTP: the writer decides and records, then the
//! decision is shown (metrics, the live view, the lamps and relay).

use crate::domain::rules::{Decision, Direction, Reason};
use crate::domain::TemperatureSource;
use crate::gate::{ScanOutcome, ScanRequest, Temperature};
use crate::hw::Hardware;
use crate::metrics::Metrics;
use crate::writer::{Writer, WriterError};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum ScanError {
    /// A typed temperature outside what a body can have: measure again.
    #[error("temperature_c {0} is not a body temperature (30–45 °C); measure again")]
    ImplausibleTemperature(f64),
    /// The entry log could not be written: no decision was given.
    #[error(transparent)]
    Log(#[from] WriterError),
}

/// The handles a decision needs. They are shared with the daemon's state
/// (the same writer queue, counters and live channel), not copies of data.
#[derive(Clone)]
pub struct ScanService {
    pub writer: Writer,
    pub hardware: Option<Arc<Hardware>>,
    /// How old a thermometer reading may be and still be used.
    pub thermometer_max_age: Duration,
    pub metrics: Arc<Metrics>,
    /// Every decision, as JSON, for the guard page's live view.
    pub live: tokio::sync::broadcast::Sender<String>,
    /// False after a failed write, until the next one succeeds.
    pub log_writable: Arc<AtomicBool>,
}

impl ScanService {
    /// Decides one scan and shows it. The lamps and relay are driven only
    /// for a live decision, and only after the event is on disk; a failed
    /// write shows red (fail closed), never the relay.
    pub async fn scan(
        &self,
        payload: String,
        direction: Option<Direction>,
        typed_temperature: Option<f64>,
    ) -> Result<ScanOutcome, ScanError> {
        self.decide(payload, direction, typed_temperature, None, None).await
    }

    /// Decides a scan, a visit, an urgent outing or a forgotten card and
    /// shows it: every one goes through the same writer queue, and the
    /// lamps and relay are driven the same way (the barrier opens for an
    /// allowed crossing only).
    pub async fn decide(
        &self,
        payload: String,
        direction: Option<Direction>,
        typed_temperature: Option<f64>,
        operator: Option<String>,
        extra: Option<crate::gate::ScanExtra>,
    ) -> Result<ScanOutcome, ScanError> {
        let temperature = match typed_temperature {
            Some(t) => {
                if !crate::domain::plausible_c(t) {
                    return Err(ScanError::ImplausibleTemperature(t));
                }
                Some(Temperature::manual(t))
            }
            None => self.thermometer_reading(),
        };
        let req = ScanRequest { payload, direction, temperature, backfill_at: None, operator, extra };
        let outcome = match self.writer.scan(req).await {
            Ok(o) => {
                self.log_writable.store(true, Ordering::Relaxed);
                o
            }
            Err(e) => {
                self.log_writable.store(false, Ordering::Relaxed);
                self.metrics.inc("gatepass_log_write_failures_total".into());
                if let Some(hw) = &self.hardware {
                    hw.signals.show(Decision::Deny, false);
                }
                return Err(e.into());
            }
        };
        self.count(&outcome);
        if let Some(hw) = &self.hardware {
            // a delivery is a hand-off at the gate: lamps, never the barrier
            hw.signals.show(outcome.decision, outcome.kind.as_deref() != Some("delivery"));
        }
        // the decision is shown to open guard pages; with none open, no JSON
        if self.live.receiver_count() > 0 {
            if let Ok(json) = serde_json::to_string(&outcome) {
                let _ = self.live.send(json);
            }
        }
        Ok(outcome)
    }

    fn thermometer_reading(&self) -> Option<Temperature> {
        let hw = self.hardware.as_ref()?;
        hw.thermometer.latest(self.thermometer_max_age).map(|r| Temperature {
            celsius: (r.celsius * 100.0).round() / 100.0,
            raw_celsius: (r.raw_celsius * 100.0).round() / 100.0,
            source: match r.source {
                crate::hw::ReadingSource::Serial => TemperatureSource::Serial,
                crate::hw::ReadingSource::I2c => TemperatureSource::I2c,
            },
        })
    }

    fn count(&self, outcome: &ScanOutcome) {
        let m = &self.metrics;
        m.inc(format!("gatepass_scans_total{{decision=\"{}\"}}", outcome.decision.as_str()));
        for r in &outcome.reasons {
            m.inc(format!("gatepass_scan_reasons_total{{reason=\"{}\"}}", r.as_str()));
        }
        // every reading at or over the fever line carries reason `fever`,
        // whatever the decision
        if outcome.reasons.contains(&Reason::Fever) {
            m.inc("gatepass_fever_alerts_total".into());
        }
        for w in &outcome.warnings {
            m.inc(format!("gatepass_scan_warnings_total{{warning=\"{}\"}}", w.as_str()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gate::{ExceptionInfo, Gate, ScanExtra, VisitInfo, VisitInput};
    use crate::hw::signals::Output;
    use crate::hw::{HardwareConfig, SignalAction, SignalsConfig};

    /// An urgent outing opens the barrier like an allowed scan; a delivery
    /// (a hand-off, no crossing) and a turned-back outsider never do.
    #[test]
    fn exception_opens_the_barrier_delivery_does_not() {
        let dir = tempfile::tempdir().unwrap();
        let now = chrono::Utc::now();
        let mut g = Gate::init(dir.path(), "c", "g", now).unwrap();
        g.import_register(b"household,name\n1-1,a\n", "t", now).unwrap();
        let id = g.residents().unwrap()[0].id;
        let cfg = HardwareConfig {
            signals: SignalsConfig { enabled: true, green_pin: Some(17), relay_pin: Some(23), ..Default::default() },
            ..Default::default()
        };
        let (tx, _rx) = tokio::sync::mpsc::channel(1);
        let hw = Arc::new(crate::hw::start(&cfg, true, tx).unwrap());
        let svc = ScanService {
            writer: Writer::start(g),
            hardware: Some(hw.clone()),
            thermometer_max_age: Duration::from_secs(10),
            metrics: Arc::new(Metrics::default()),
            live: tokio::sync::broadcast::channel(4).0,
            log_writable: Arc::new(AtomicBool::new(true)),
        };
        let rec = hw.signals.simulated().unwrap();
        let relay_on = SignalAction { output: Output::Relay, on: true };
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let visit = |kind: &str, host: Option<&str>| {
            let input = VisitInput { kind: kind.into(), host: host.map(Into::into), ..Default::default() };
            Some(ScanExtra::Visit(Box::new(VisitInfo::check(&input).unwrap())))
        };
        rt.block_on(async {
            let _ = rec.take_actions();
            let o =
                svc.decide(String::new(), None, None, Some("t".into()), visit("delivery", Some("1-1"))).await.unwrap();
            assert_eq!(o.decision, Decision::Allow);
            assert!(!rec.take_actions().contains(&relay_on), "a delivery opened the barrier");
            let o = svc.decide(String::new(), None, None, Some("t".into()), visit("visitor", None)).await.unwrap();
            assert_eq!(o.decision, Decision::Deny);
            assert!(!rec.take_actions().contains(&relay_on));
            let x = ExceptionInfo {
                resident_id: id,
                reason: "就医".into(),
                destination: "县医院".into(),
                expected_return: now + chrono::Duration::hours(1),
                approved_by: None,
            };
            let o = svc
                .decide(
                    String::new(),
                    Some(Direction::Out),
                    None,
                    Some("t".into()),
                    Some(ScanExtra::Exception(Box::new(x))),
                )
                .await
                .unwrap();
            assert_eq!(o.decision, Decision::Allow);
            assert!(rec.take_actions().contains(&relay_on), "an urgent outing did not open the barrier");
        });
    }
}
