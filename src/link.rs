//! The gate's link to its district (issue 13): what the push task last
//! managed, shared with `GET /api/v1/health` so a refusal (wrong token,
//! another gate's token, a chain that does not continue) or a district
//! that cannot be reached is visible on the gate.

use serde::Serialize;
use std::sync::Mutex;

#[derive(Debug, Clone, Default, Serialize)]
pub struct PushState {
    /// The district's address, when the gate pushes.
    pub url: Option<String>,
    /// The district holds this gate's log up to this event (its last reply).
    pub last_ack_seq: Option<u64>,
    pub last_ok_at: Option<String>,
    /// The code of the last failure (`unreachable`, `unauthorized`,
    /// `wrong_gate`, `chain_broken`, `bad_reply`, ...), cleared by a
    /// push that goes through.
    pub last_error: Option<String>,
    pub last_error_message: Option<String>,
    pub last_error_at: Option<String>,
    /// Failures in a row (the back-off grows with them).
    pub failures: u32,
}

/// Shared between the push task (writes) and the health answer (reads).
#[derive(Debug, Default)]
pub struct PushStatus(Mutex<PushState>);

impl PushStatus {
    pub fn update(&self, f: impl FnOnce(&mut PushState)) {
        f(&mut self.0.lock().unwrap_or_else(|p| p.into_inner()));
    }

    pub fn get(&self) -> PushState {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// The `push` object of the health answer; `head` is the gate's newest
    /// event, so `backlog` is what the district does not hold yet.
    pub fn health(&self, head: Option<u64>) -> serde_json::Value {
        let s = self.get();
        if s.url.is_none() {
            return serde_json::json!({"enabled": false});
        }
        let backlog = match (head, s.last_ack_seq) {
            (Some(h), Some(a)) => Some(h.saturating_sub(a)),
            (Some(h), None) => Some(h),
            _ => None,
        };
        let mut v = serde_json::to_value(&s).unwrap_or_default();
        if let Some(o) = v.as_object_mut() {
            o.insert("enabled".into(), true.into());
            o.insert("ok".into(), s.last_error.is_none().into());
            o.insert("backlog".into(), serde_json::to_value(backlog).unwrap_or_default());
        }
        v
    }
}
