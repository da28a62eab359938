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
