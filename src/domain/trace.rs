//! A case's movements and who stood at the gate with them: for each
//! crossing of the case, every identified person whose event at the same
//! gate is within ± the window. Refused events count too: a person turned
//! back still stood at the gate next to the others.
//!
//! The committee traces by name on its own gates (names live there); the
//! district traces by the pseudonymous id (`district::trace`). Both apply
//! the same rule; this is the gate's, over the events it holds.

use super::ids::ResidentId;
use serde::Serialize;
use std::collections::BTreeSet;

/// One recorded event, as a trace needs it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Sighting {
    pub seq: u64,
    pub gate: String,
    /// As the gate wrote it (local time with its offset).
    pub at: String,
    #[serde(skip)]
    pub at_ms: i64,
    pub resident_id: Option<ResidentId>,
    pub household: Option<String>,
    pub direction: Option<String>,
    pub decision: String,
    pub temperature_c: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Contact {
    #[serde(flatten)]
    pub sighting: Sighting,
    /// Minutes from the case's crossing (negative: before it).
    pub minutes_apart: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Crossing {
    #[serde(flatten)]
    pub sighting: Sighting,
    pub contacts: Vec<Contact>,
}

/// The people near `crossing` among `around` (events of the same period):
/// identified, not the case, at the same gate, within `window_ms`; nearest
/// first, at most `max` of them.
pub fn contacts(
    case: ResidentId,
    crossing: &Sighting,
    around: &[Sighting],
    window_ms: i64,
    max: usize,
) -> Vec<Contact> {
    let mut out: Vec<Contact> = around
        .iter()
        .filter(|s| s.gate == crossing.gate)
        .filter(|s| s.resident_id.is_some_and(|id| id != case))
        .filter(|s| s.at_ms.abs_diff(crossing.at_ms) <= window_ms.unsigned_abs())
        .map(|s| Contact {
            sighting: s.clone(),
            // (a difference of two i64 times; saturating keeps a wild clock from overflowing)
            minutes_apart: s.at_ms.saturating_sub(crossing.at_ms) as f64 / 60_000.0,
        })
        .collect();
    out.sort_by(|a, b| {
        a.minutes_apart.abs().total_cmp(&b.minutes_apart.abs()).then(a.sighting.seq.cmp(&b.sighting.seq))
    });
    out.truncate(max);
    out
}

/// Distinct people among all contacts of all crossings.
pub fn distinct_contacts(crossings: &[Crossing]) -> usize {
    crossings
        .iter()
        .flat_map(|c| c.contacts.iter().filter_map(|k| k.sighting.resident_id))
        .collect::<BTreeSet<_>>()
        .len()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(seq: u64, gate: &str, at_min: i64, id: Option<u32>) -> Sighting {
        Sighting {
            seq,
            gate: gate.into(),
            at: String::new(),
            at_ms: at_min * 60_000,
            resident_id: id.map(ResidentId),
            household: None,
            direction: Some("out".into()),
            decision: "allow".into(),
            temperature_c: None,
        }
    }

    #[test]
    fn contacts_are_near_identified_others_at_the_same_gate() {
        let case = ResidentId(1);
        let crossing = s(10, "东门", 100, Some(1));
        let around = vec![
            s(1, "东门", 69, Some(2)),  // 31 min before: outside a 30 min window
            s(2, "东门", 70, Some(3)),  // exactly 30 min: inside
            s(3, "东门", 100, Some(1)), // the case itself
            s(4, "东门", 101, None),    // a forged code: nobody to follow up
            s(5, "西门", 100, Some(4)), // another gate
            s(6, "东门", 95, Some(5)),
            s(7, "东门", 130, Some(3)), // the same person again, 30 min after
        ];
        let c = contacts(case, &crossing, &around, 30 * 60_000, 100);
        let seqs: Vec<u64> = c.iter().map(|k| k.sighting.seq).collect();
        assert_eq!(seqs, vec![6, 2, 7], "nearest first, ties by seq");
        assert_eq!(c[0].minutes_apart, -5.0);
        assert_eq!(c[2].minutes_apart, 30.0);
        let crossings = vec![Crossing { sighting: crossing, contacts: c }];
        assert_eq!(distinct_contacts(&crossings), 2, "person 3 counted once");
    }

    #[test]
    fn the_list_is_bounded_and_wild_clocks_do_not_overflow() {
        let case = ResidentId(1);
        let crossing = s(1, "东门", 0, Some(1));
        let around: Vec<Sighting> = (0..50).map(|i| s(100 + i, "东门", 1, Some(2 + i as u32))).collect();
        assert_eq!(contacts(case, &crossing, &around, 60_000, 10).len(), 10);
        let mut far = s(2, "东门", 0, Some(9));
        far.at_ms = i64::MIN;
        let mut late = crossing.clone();
        late.at_ms = i64::MAX;
        assert!(contacts(case, &late, &[far], i64::MAX, 10).len() <= 1);
    }
}
