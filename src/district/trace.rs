//! Case tracing: where a resident crossed over the last N days, and who
//! crossed the same gate within ± `trace.window_minutes` of each crossing,
//! the list the epidemiological team needs.
//!
//! Every recorded event counts, refused ones too: a person turned back at
//! the gate still stood there next to the others. Resident ids are unique
//! per community, so `--community` narrows a search when several
//! communities are collected. Names only where the gate shares them and
//! its key signed each one for its event (see `ingest::Ingestor::push`).

use super::config::DistrictConfig;
use super::store::{DistrictStore, EventFacts, GateRow};
use super::Result;
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::collections::HashMap;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Contact {
    pub resident_id: Option<crate::domain::ResidentId>,
    pub household: Option<String>,
    pub resident_name: Option<String>,
    pub at: String,
    pub direction: Option<String>,
    pub decision: String,
    /// Minutes from the case's crossing (negative: before it).
    pub minutes_apart: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Crossing {
    pub gate: String,
    pub community: String,
    pub seq: u64,
    pub at: String,
    pub direction: Option<String>,
    pub decision: String,
    pub temperature_c: Option<f64>,
    pub backfilled: bool,
    pub contacts: Vec<Contact>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Trace {
    pub resident_id: crate::domain::ResidentId,
    pub community: Option<String>,
    pub from: String,
    pub until: String,
    pub window_minutes: u32,
    pub crossings: Vec<Crossing>,
    /// Distinct people (by community and resident id) among the contacts.
    pub distinct_contacts: usize,
}

pub fn trace(
    store: &DistrictStore,
    cfg: &DistrictConfig,
    resident_id: crate::domain::ResidentId,
    community: Option<&str>,
    days: u32,
    until: DateTime<Utc>,
) -> Result<Trace> {
    // (any u32 of days from the command line: from the start of time, not a panic)
    let from = until.checked_sub_signed(chrono::Duration::days(i64::from(days))).unwrap_or(DateTime::<Utc>::MIN_UTC);
    let window_ms = i64::from(cfg.trace.window_minutes) * 60_000;
    let gates: HashMap<i64, GateRow> = store.gates()?.into_iter().map(|g| (g.id, g)).collect();
    let name_of = |id: i64| gates.get(&id).map(|g| (g.name.clone(), g.community.clone())).unwrap_or_default();
    let mut crossings = Vec::new();
    let mut distinct = std::collections::BTreeSet::new();
    for e in store.resident_facts(resident_id, community, from.timestamp_millis(), until.timestamp_millis())? {
        let (gate, comm) = name_of(e.gate_id);
        let around = store.gate_facts_around(
            e.gate_id,
            // (at_ms comes from a gate: saturate rather than overflow)
            e.at_ms.saturating_sub(window_ms),
            e.at_ms.saturating_add(window_ms),
        )?;
        let contacts: Vec<Contact> = around
            .into_iter()
            // only identified people can be followed up: a forged or unreadable
            // code names nobody
            .filter(|o: &EventFacts| o.resident_id.is_some() && o.resident_id != Some(resident_id) && o.seq != e.seq)
            .map(|o| {
                if let Some(id) = o.resident_id {
                    distinct.insert((comm.clone(), id));
                }
                Contact {
                    minutes_apart: ((o.at_ms - e.at_ms) as f64 / 60_000.0 * 10.0).round() / 10.0,
                    resident_id: o.resident_id,
                    household: o.household,
                    resident_name: o.resident_name,
                    at: o.at,
                    direction: o.direction,
                    decision: o.decision,
                }
            })
            .collect();
        crossings.push(Crossing {
            gate,
            community: comm,
            seq: e.seq,
            at: e.at,
            direction: e.direction,
            decision: e.decision,
            temperature_c: e.temperature_c,
            backfilled: e.backfilled,
            contacts,
        });
    }
    Ok(Trace {
        resident_id,
        community: community.map(str::to_string),
        from: super::now_text(from),
        until: super::now_text(until),
        window_minutes: cfg.trace.window_minutes,
        crossings,
        distinct_contacts: distinct.len(),
    })
}
