//! Counters for `/metrics` (Prometheus text format). Kept outside `http`
//! so the scan service (used by the USB scanner too) can count decisions.

use std::collections::BTreeMap;
use std::sync::Mutex;

#[derive(Default)]
pub struct Metrics {
    counters: Mutex<BTreeMap<String, u64>>,
}

impl Metrics {
    pub fn inc(&self, series: String) {
        if let Ok(mut m) = self.counters.lock() {
            *m.entry(series).or_insert(0) += 1;
        }
    }

    pub fn snapshot(&self) -> BTreeMap<String, u64> {
        self.counters.lock().map(|m| m.clone()).unwrap_or_default()
    }
}
