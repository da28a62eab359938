//! State derived from the entry log: who is out (`presence`), the
//! household's exits (`outings`) and the searchable columns of the events
//! table. The signed chain is the evidence; these are only faster ways to
//! read it, so each must be exactly what replaying the chain gives. The scan
//! writes them through [`effect`], and `events verify` / `events rebuild`
//! replay the chain through the same function, so the two cannot drift.
//!
//! Pure: no table, no clock.

use super::chain::{ChainedEvent, EventBody};
use super::codes::Presence;
use super::ids::{HouseholdId, ResidentId};
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PresenceRow {
    pub resident_id: ResidentId,
    pub state: Presence,
    pub since_ms: i64,
    pub seq: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutingRow {
    pub seq: u64,
    pub household_id: HouseholdId,
    pub resident_id: ResidentId,
    pub at_ms: i64,
    /// False for an essential worker's exit (`quota_exempt` in the event).
    pub counted: bool,
}

/// Everything derived from the chain.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Derived {
    pub presence: BTreeMap<ResidentId, PresenceRow>,
    pub outings: BTreeMap<u64, OutingRow>,
}

/// What one event changes in the derived state.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Effect {
    pub presence: Option<PresenceRow>,
    pub outing: Option<OutingRow>,
}

/// The instant of an event, in milliseconds, as the body says it.
pub fn at_ms(body: &EventBody) -> Option<i64> {
    chrono::DateTime::parse_from_rfc3339(&body.at).ok().map(|t| t.timestamp_millis())
}

/// What `body` changes: a crossing that was not refused moves its resident;
/// an exit is an outing of the household (`household_id`, which the body
/// names by code). A refused scan changes nothing.
pub fn effect(body: &EventBody, household_id: Option<HouseholdId>) -> Effect {
    let (Some(resident_id), Some(direction), Some(at)) = (body.resident_id, body.direction.as_deref(), at_ms(body))
    else {
        return Effect::default();
    };
    let Ok(state) = direction.parse::<Presence>() else { return Effect::default() };
    if body.decision == "deny" {
        return Effect::default();
    }
    let presence = Some(PresenceRow { resident_id, state, since_ms: at, seq: body.seq });
    let outing = (state == Presence::Out).then_some(()).and(household_id).map(|household_id| OutingRow {
        seq: body.seq,
        household_id,
        resident_id,
        at_ms: at,
        counted: !body.warnings.iter().any(|w| w == "quota_exempt" || w == "exception"),
    });
    Effect { presence, outing }
}

impl Derived {
    /// Applies one event's effect. A crossing older than what is known (a
    /// backfill) does not move the person: the newer knowledge wins.
    pub fn apply(&mut self, e: Effect) {
        if let Some(p) = e.presence {
            match self.presence.get(&p.resident_id) {
                Some(old) if old.since_ms > p.since_ms => {}
                _ => {
                    self.presence.insert(p.resident_id, p);
                }
            }
        }
        if let Some(o) = e.outing {
            self.outings.insert(o.seq, o);
        }
    }
}

/// A cell of the events table as stored (anything can be written there).
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    Null,
    Int(i64),
    Text(String),
    Other(String),
}

impl fmt::Display for Cell {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Cell::Null => f.write_str("NULL"),
            Cell::Int(i) => write!(f, "{i}"),
            Cell::Text(t) => write!(f, "'{}'", t.chars().take(80).collect::<String>().escape_debug()),
            Cell::Other(o) => f.write_str(o),
        }
    }
}

impl From<Option<&str>> for Cell {
    fn from(v: Option<&str>) -> Cell {
        v.map_or(Cell::Null, |s| Cell::Text(s.to_string()))
    }
}

/// The projection columns of the events table, in their order.
pub const PROJECTION_COLUMNS: [&str; 5] = ["at_ms", "resident_id", "household", "direction", "decision"];

/// What the projection columns of an event's row must hold.
pub fn projection(body: &EventBody) -> [Cell; 5] {
    [
        at_ms(body).map_or(Cell::Null, Cell::Int),
        body.resident_id.map_or(Cell::Null, |r| Cell::Int(i64::from(r))),
        body.household.as_deref().into(),
        body.direction.as_deref().into(),
        Cell::Text(body.decision.clone()),
    ]
}

/// Names every column of `stored` that differs from the signed body.
pub fn projection_differences(body: &EventBody, stored: &[Cell; 5]) -> Vec<String> {
    let want = projection(body);
    PROJECTION_COLUMNS
        .iter()
        .zip(want.iter().zip(stored.iter()))
        .filter(|(_, (w, s))| w != s)
        .map(|(col, (w, s))| format!("events row {}: column {col} is {s}, the signed event says {w}", body.seq))
        .collect()
}

/// Names every difference between the derived tables as stored and as the
/// chain says. Exits before event `counted_from` were written before the
/// chain recorded `quota_exempt`: their `counted` flag cannot be checked.
pub fn differences(expected: &Derived, stored: &Derived, counted_from: u64) -> Vec<String> {
    let mut out = Vec::new();
    for (id, want) in &expected.presence {
        match stored.presence.get(id) {
            None => out.push(format!(
                "presence of resident {id}: missing (the chain says {} since event {})",
                want.state, want.seq
            )),
            Some(have) if have != want => out.push(format!(
                "presence of resident {id}: says {} at {} (event {}), the chain says {} at {} (event {})",
                have.state, have.since_ms, have.seq, want.state, want.since_ms, want.seq
            )),
            Some(_) => {}
        }
    }
    for (id, have) in &stored.presence {
        if !expected.presence.contains_key(id) {
            out.push(format!(
                "presence of resident {id}: says {} since event {}, but no event in the chain moved them",
                have.state, have.seq
            ));
        }
    }
    for (seq, want) in &expected.outings {
        match stored.outings.get(seq) {
            None => out.push(format!(
                "outings: the exit of event {seq} (resident {}, household id {}) is missing",
                want.resident_id, want.household_id
            )),
            Some(have) => {
                let mut w = want.clone();
                if *seq < counted_from {
                    w.counted = have.counted;
                }
                if *have != w {
                    out.push(format!(
                        "outings row of event {seq}: says household id {} resident {} at {} counted={}, the chain says household id {} resident {} at {} counted={}",
                        have.household_id, have.resident_id, have.at_ms, have.counted,
                        w.household_id, w.resident_id, w.at_ms, w.counted
                    ));
                }
            }
        }
    }
    for seq in stored.outings.keys() {
        if !expected.outings.contains_key(seq) {
            out.push(format!("outings row of event {seq}: no such exit in the chain"));
        }
    }
    out
}

/// The derived state left by events that retention purged, signed by the
/// gate when it purged them: the state at event `seq` (whose hash the
/// checkpoint holds), so that replaying the rest of the chain on top of it
/// gives today's state. Exits older than `outings_before_ms` that existed
/// when the purge ran (events up to `head_at_purge`) were dropped with it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CarriedState {
    pub seq: u64,
    pub hash: String,
    pub head_at_purge: u64,
    pub outings_before_ms: i64,
    pub presence: Vec<PresenceRow>,
    pub outings: Vec<OutingRow>,
    #[serde(default)]
    pub sig: String,
}

impl CarriedState {
    fn message(&self) -> Vec<u8> {
        let content = serde_json::json!({
            "seq": self.seq, "hash": self.hash, "head_at_purge": self.head_at_purge,
            "outings_before_ms": self.outings_before_ms, "presence": self.presence, "outings": self.outings,
        });
        let digest = Sha256::digest(content.to_string().as_bytes());
        let mut m = Vec::with_capacity(8 + 8 + 32);
        m.extend_from_slice(b"GPSTATE1");
        m.extend_from_slice(&self.seq.to_be_bytes());
        m.extend_from_slice(&digest);
        m
    }

    /// The state `d` at checkpoint `seq`/`hash`, signed.
    pub fn sign(
        d: &Derived,
        seq: u64,
        hash: &str,
        head_at_purge: u64,
        outings_before_ms: i64,
        key: &SigningKey,
    ) -> Self {
        let mut c = CarriedState {
            seq,
            hash: hash.to_string(),
            head_at_purge,
            outings_before_ms,
            presence: d.presence.values().cloned().collect(),
            outings: d.outings.values().filter(|o| o.seq <= seq && o.at_ms >= outings_before_ms).cloned().collect(),
            sig: String::new(),
        };
        c.sig = hex::encode(key.sign(&c.message()).to_bytes());
        c
    }

    pub fn check(&self, key: &VerifyingKey) -> bool {
        let Ok(bytes) = hex::decode(&self.sig) else { return false };
        let Ok(arr) = <[u8; 64]>::try_from(bytes.as_slice()) else { return false };
        key.verify(&self.message(), &Signature::from_bytes(&arr)).is_ok()
    }

    /// The state to replay the rest of the chain on.
    pub fn base(&self) -> Derived {
        Derived {
            presence: self.presence.iter().map(|p| (p.resident_id, p.clone())).collect(),
            outings: self.outings.iter().map(|o| (o.seq, o.clone())).collect(),
        }
    }

    /// Drops, from a replayed state, the exits this purge removed.
    pub fn trim(&self, d: &mut Derived) {
        d.outings.retain(|seq, o| *seq > self.head_at_purge || o.at_ms >= self.outings_before_ms);
    }
}

/// Replays events on `base` (what the checkpoint carried, or nothing).
/// `household_id` turns the body's household code (and resident) into the
/// id the outings table uses.
pub struct Replay<F: Fn(&str, ResidentId) -> Option<HouseholdId>> {
    pub state: Derived,
    household_id: F,
}

impl<F: Fn(&str, ResidentId) -> Option<HouseholdId>> Replay<F> {
    pub fn new(base: Derived, household_id: F) -> Self {
        Replay { state: base, household_id }
    }

    pub fn push(&mut self, ev: &ChainedEvent) {
        let b = &ev.body;
        let hid = match (b.household.as_deref(), b.resident_id) {
            (Some(code), Some(r)) => (self.household_id)(code, r),
            _ => None,
        };
        self.state.apply(effect(b, hid));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(seq: u64, at: &str, resident: u32, dir: &str, decision: &str, warnings: &[&str]) -> EventBody {
        EventBody {
            seq,
            at: at.into(),
            gate: "g".into(),
            community: "c".into(),
            direction: Some(dir.into()),
            pass_id: Some(crate::domain::PassId(1)),
            resident_id: Some(ResidentId(resident)),
            household: Some("1-101".into()),
            temperature_c: None,
            temperature_raw_c: None,
            temperature_source: None,
            decision: decision.into(),
            reasons: vec![],
            warnings: warnings.iter().map(|w| w.to_string()).collect(),
            backfilled: false,
            clock_suspect: false,
            payload_digest: String::new(),
            kind: None,
            operator: None,
            purpose: None,
            detail_digest: None,
        }
    }

    #[test]
    fn refused_crossings_change_nothing_and_exempt_exits_do_not_count() {
        let b = body(1, "2026-12-01T08:00:00.000Z", 7, "out", "deny", &[]);
        assert_eq!(effect(&b, Some(HouseholdId(3))), Effect::default());
        let b = body(2, "2026-12-01T08:00:00.000Z", 7, "out", "allow", &["quota_exempt"]);
        let e = effect(&b, Some(HouseholdId(3)));
        assert_eq!(e.outing.as_ref().map(|o| o.counted), Some(false));
        assert_eq!(e.presence.as_ref().map(|p| p.state.as_str()), Some("out"));
        let b = body(3, "2026-12-01T09:00:00.000Z", 7, "in", "refer", &[]);
        let e = effect(&b, Some(HouseholdId(3)));
        assert!(e.outing.is_none());
        assert_eq!(e.presence.map(|p| p.state), Some(Presence::In));
    }

    #[test]
    fn a_backfill_does_not_move_a_newer_state() {
        let mut d = Derived::default();
        d.apply(effect(&body(1, "2026-12-01T10:00:00.000Z", 7, "out", "allow", &[]), Some(HouseholdId(3))));
        d.apply(effect(&body(2, "2026-12-01T08:00:00.000Z", 7, "in", "allow", &[]), Some(HouseholdId(3))));
        assert_eq!(d.presence[&ResidentId(7)].state, Presence::Out);
        assert_eq!(d.outings.len(), 1);
    }

    #[test]
    fn every_difference_is_named() {
        let mut want = Derived::default();
        want.apply(effect(&body(1, "2026-12-01T10:00:00.000Z", 7, "out", "allow", &[]), Some(HouseholdId(3))));
        want.apply(effect(&body(2, "2026-12-01T10:00:00.000Z", 8, "out", "allow", &[]), Some(HouseholdId(3))));
        let mut have = want.clone();
        have.outings.remove(&1);
        if let Some(p) = have.presence.get_mut(&ResidentId(8)) {
            p.state = Presence::In;
        }
        have.presence.insert(
            ResidentId(9),
            PresenceRow { resident_id: ResidentId(9), state: Presence::Out, since_ms: 0, seq: 5 },
        );
        let d = differences(&want, &have, 0);
        assert_eq!(d.len(), 3, "{d:?}");
        assert!(d.iter().any(|l| l.contains("event 1") && l.contains("missing")));
        assert!(d.iter().any(|l| l.contains("resident 8")));
        assert!(d.iter().any(|l| l.contains("resident 9")));
        assert!(differences(&want, &want, 0).is_empty());
    }

    #[test]
    fn projection_names_the_column() {
        let b = body(4, "2026-12-01T10:00:00.000Z", 7, "out", "deny", &[]);
        let mut stored = projection(&b);
        assert!(projection_differences(&b, &stored).is_empty());
        stored[4] = Cell::Text("allow".into());
        let d = projection_differences(&b, &stored);
        assert_eq!(d.len(), 1);
        assert!(d[0].contains("decision") && d[0].contains("'allow'") && d[0].contains("'deny'"), "{d:?}");
    }

    #[test]
    fn carried_state_is_signed() {
        let key = SigningKey::from_bytes(&[7u8; 32]);
        let mut d = Derived::default();
        d.apply(effect(&body(1, "2026-12-01T10:00:00.000Z", 7, "out", "allow", &[]), Some(HouseholdId(3))));
        let c = CarriedState::sign(&d, 1, "h", 1, 0, &key);
        assert!(c.check(&key.verifying_key()));
        let mut forged = c.clone();
        forged.presence.clear();
        assert!(!forged.check(&key.verifying_key()));
        assert_eq!(c.base(), d);
    }
}
