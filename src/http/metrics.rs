//! Prometheus text helpers for `/metrics`; the counters themselves live in
//! `crate::metrics` (the scan service counts decisions from any source).

pub use crate::metrics::Metrics;

/// Escapes a label value.
pub fn label(v: &str) -> String {
    v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}
