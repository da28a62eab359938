//! `district gate-reset`: releasing a gate flagged `broken` once district
//! staff have checked it on site. Both actions run in one transaction and
//! are written to the `audit` table (who, when, gate, action, reason, what
//! was done).
//!
//! - `discard`: the gate's quarantined events are deleted and the flag is
//!   cleared. The district keeps what it held; the next pull continues from
//!   the held head, and a gate whose log still does not continue from it is
//!   flagged again.
//! - `accept`: the gate's new log (the quarantined events) is the truth. The
//!   quarantined events must form one chain, each signed by one key (the
//!   key they carry, re-pinned if it differs). Where that chain links to an
//!   event the district holds, the held events from there on are replaced;
//!   otherwise every held event is, and the chain is anchored before the
//!   first accepted event (as for a gate first seen after a purge). Replaced
//!   events move to `superseded`, never deleted, never counted.

use super::store::{GateRow, Source};
use super::{District, DistrictError, Result};
use crate::domain::chain::{check_signature, ChainVerifier, ExportedEvent, GENESIS};
use crate::export::parse_key;
use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ResetAction {
    Discard,
    Accept,
}

impl ResetAction {
    pub fn as_str(self) -> &'static str {
        match self {
            ResetAction::Discard => "discard",
            ResetAction::Accept => "accept",
        }
    }
}

/// What a reset did.
#[derive(Debug, Clone, Serialize)]
pub struct ResetReport {
    pub gate: String,
    pub community: String,
    pub action: ResetAction,
    pub who: String,
    pub at: String,
    pub reason: String,
    /// Quarantined events deleted (`discard`).
    pub discarded: u64,
    /// Quarantined events now counted as the gate's log (`accept`).
    pub accepted: u64,
    /// Held events moved to `superseded` (`accept`).
    pub superseded: u64,
    /// The key pinned before, when `accept` re-pinned another.
    pub previous_key: Option<String>,
    pub gate_key: String,
    pub head_seq: u64,
    pub detail: String,
}

/// Who runs the reset: the OS user, or `cli`.
pub fn who() -> String {
    ["SUDO_USER", "USER", "LOGNAME"]
        .iter()
        .filter_map(|k| std::env::var(k).ok())
        .map(|u| u.trim().to_string())
        .find(|u| !u.is_empty())
        .unwrap_or_else(|| "cli".into())
}

/// Finds a gate by name (and community, needed when two share the name).
pub fn find_gate(d: &District, name: &str, community: Option<&str>) -> Result<GateRow> {
    let matches: Vec<GateRow> = d
        .store
        .gates()?
        .into_iter()
        .filter(|g| g.name == name.trim() && community.is_none_or(|c| g.community == c.trim()))
        .collect();
    match matches.len() {
        1 => Ok(matches.into_iter().next().ok_or_else(|| DistrictError::Usage("no gate".into()))?),
        0 => Err(DistrictError::Usage(format!(
            "no gate '{}'{} is registered; `district gates` lists them",
            name.trim(),
            community.map(|c| format!(" of {}", c.trim())).unwrap_or_default()
        ))),
        _ => Err(DistrictError::Usage(format!("several communities have a gate '{}'; add --community", name.trim()))),
    }
}

/// Resets a broken gate; refused when it is not broken.
pub fn reset_gate(
    d: &mut District,
    gate: &GateRow,
    action: ResetAction,
    reason: &str,
    who: &str,
    now: &str,
) -> Result<ResetReport> {
    let refuse = |detail: String| DistrictError::Gate { gate: gate.name.clone(), detail };
    let reason = reason.trim();
    if reason.is_empty() {
        return Err(DistrictError::Usage("--reason must say what was checked on site".into()));
    }
    let tx = d.store.begin()?;
    // Read again inside the transaction: a pull may have run meanwhile.
    let g = tx.gate(gate.id)?.ok_or_else(|| refuse("is no longer registered".into()))?;
    if !g.broken() {
        return Err(refuse("its chain is not broken; there is nothing to reset".into()));
    }
    let was = g.chain_detail.clone().unwrap_or_default();
    let mut report = ResetReport {
        gate: g.name.clone(),
        community: g.community.clone(),
        action,
        who: who.to_string(),
        at: now.to_string(),
        reason: reason.to_string(),
        discarded: 0,
        accepted: 0,
        superseded: 0,
        previous_key: None,
        gate_key: g.gate_key.clone(),
        head_seq: g.head_seq,
        detail: String::new(),
    };
    match action {
        ResetAction::Discard => {
            report.discarded = tx.clear_quarantine(g.id)?;
            tx.clear_broken(g.id)?;
            report.detail = format!(
                "was broken ({was}); {} quarantined events deleted; the district keeps events up to {}",
                report.discarded, g.head_seq
            );
            tx.add_audit(now, who, g.id, action.as_str(), reason, &report.detail)?;
        }
        ResetAction::Accept => {
            let mut evs: Vec<(ExportedEvent, Source)> = Vec::new();
            for (line, source) in tx.quarantine_lines(g.id)? {
                let ev: ExportedEvent = serde_json::from_str(&line)
                    .map_err(|e| refuse(format!("a quarantined event cannot be read ({e}); use --discard")))?;
                evs.push((ev, Source::from_text(&source)));
            }
            let (Some(first), Some(last)) = (evs.first(), evs.last()) else {
                return Err(refuse(
                    "no quarantined events to accept; pull or import the gate's new log first, or use --discard".into(),
                ));
            };
            let (first, last) = (first.0.event.clone(), last.0.event.clone());
            let mut keys: Vec<&str> = evs.iter().filter_map(|(e, _)| e.gate_key.as_deref()).collect();
            keys.sort_unstable();
            keys.dedup();
            let key_hex = match keys.as_slice() {
                [] => g.gate_key.clone(),
                [k] => (*k).to_string(),
                _ => return Err(refuse("the quarantined events carry different keys; use --discard".into())),
            };
            let key = parse_key(&key_hex)
                .ok_or_else(|| refuse(format!("the quarantined events carry '{key_hex}', not a key")))?;
            let mut v = ChainVerifier::anywhere();
            for (e, _) in &evs {
                v.push(e.event.clone()).map_err(|e| {
                    refuse(format!("the quarantined events are not one chain ({e}); they cannot be accepted"))
                })?;
                if !check_signature(&e.event, &key) {
                    return Err(refuse(format!(
                        "quarantined event {} is not signed by key {}…; it cannot be accepted",
                        e.event.body.seq,
                        key_hex.get(..12).unwrap_or(&key_hex)
                    )));
                }
            }
            if key_hex != g.gate_key {
                if let Some(other) = tx.gate_by_key(&key_hex)? {
                    return Err(refuse(format!(
                        "the quarantined events' key is pinned for gate '{}' of {}",
                        other.name, other.community
                    )));
                }
            }
            let start = first.body.seq;
            if start == 1 && first.prev_hash != GENESIS {
                return Err(refuse("quarantined event 1 does not start a chain; it cannot be accepted".into()));
            }
            // Where the new log continues a held event, keep what leads to it.
            let links = start > 1 && tx.stored_hash(g.id, start - 1)?.is_some_and(|h| h == first.prev_hash);
            let (cut, base) =
                if links || start == 1 { (start, g.base_seq.min(start - 1)) } else { (0, start.saturating_sub(1)) };
            let audit = tx.add_audit(now, who, g.id, action.as_str(), reason, "")?;
            report.superseded = tx.supersede_from(g.id, cut, audit, &g.gate_key)?;
            let mut names = false;
            for (e, source) in &evs {
                // a kept name is believed again only under the key taken now
                let name = e.signed_name(&key);
                names |= name.is_some();
                tx.insert_event(g.id, e, name, *source)?;
            }
            if names {
                tx.set_names_shared(g.id)?;
            }
            report.accepted = evs.len() as u64;
            tx.clear_quarantine(g.id)?;
            tx.set_head(g.id, last.body.seq, &last.hash, base)?;
            if key_hex != g.gate_key {
                tx.set_key(g.id, &key_hex)?;
                report.previous_key = Some(g.gate_key.clone());
            }
            tx.clear_broken(g.id)?;
            report.gate_key = key_hex.clone();
            report.head_seq = last.body.seq;
            report.detail = format!(
                "was broken ({was}); events {start} to {} accepted as the gate's log, {} held events superseded{}{}",
                last.body.seq,
                report.superseded,
                if links || start == 1 { String::new() } else { format!("; the chain now starts after event {base}") },
                report
                    .previous_key
                    .as_deref()
                    .map(|k| format!(
                        "; key {}… replaced by {}…",
                        k.get(..12).unwrap_or(k),
                        key_hex.get(..12).unwrap_or(&key_hex)
                    ))
                    .unwrap_or_default()
            );
            tx.set_audit_detail(audit, &report.detail)?;
        }
    }
    tx.commit()?;
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::district::ingest::tests::{chain, feed};
    use ed25519_dalek::SigningKey;

    fn setup(dir: &std::path::Path) -> (District, GateRow, SigningKey) {
        let key = SigningKey::from_bytes(&[9; 32]);
        let d = District::init(dir).unwrap();
        let id = d
            .store
            .add_gate("东门", "阳光花园", &hex::encode(key.verifying_key().to_bytes()), None, None, "t")
            .unwrap();
        let g = d.store.gate(id).unwrap().unwrap();
        (d, g, key)
    }

    #[test]
    fn accept_replaces_held_events_from_where_the_new_log_links() {
        let tmp = tempfile::tempdir().unwrap();
        let (mut d, g, key) = setup(tmp.path());
        feed(&mut d.store, g.id, &chain(5, &key, None)).unwrap();
        // restored from a backup after event 3, then scanning went on
        feed(&mut d.store, g.id, &chain(6, &key, Some(4))).unwrap();
        let g = d.store.gate(g.id).unwrap().unwrap();
        assert!(g.broken());
        let r = reset_gate(&mut d, &g, ResetAction::Accept, "restored on site", "clerk", "now").unwrap();
        assert_eq!((r.accepted, r.superseded, r.head_seq, r.previous_key), (3, 2, 6, None));
        let g = d.store.gate(g.id).unwrap().unwrap();
        assert_eq!((g.chain_status.as_str(), g.events, g.quarantined, g.superseded), ("ok", 6, 0, 2));
        assert_eq!(g.head_hash, chain(6, &key, Some(4))[5].event.hash);
        // the accepted chain goes on like any other
        let c = feed(&mut d.store, g.id, &chain(7, &key, Some(4))).unwrap();
        assert_eq!((c.added, c.duplicates, c.broke), (1, 6, None));
        let a = d.store.audit(None).unwrap();
        assert_eq!((a.len(), a[0].who.as_str(), a[0].action.as_str()), (1, "clerk", "accept"));
        assert!(a[0].detail.contains("events 4 to 6 accepted"), "{}", a[0].detail);
    }

    #[test]
    fn accept_refuses_a_quarantine_that_is_not_one_signed_chain() {
        let tmp = tempfile::tempdir().unwrap();
        let (mut d, g, key) = setup(tmp.path());
        feed(&mut d.store, g.id, &chain(3, &key, None)).unwrap();
        let mut other = chain(5, &key, Some(2));
        other[3].event.body.decision = "deny".into(); // edited: does not hash
        feed(&mut d.store, g.id, &other).unwrap();
        let g = d.store.gate(g.id).unwrap().unwrap();
        let e = reset_gate(&mut d, &g, ResetAction::Accept, "x", "clerk", "now").unwrap_err();
        assert!(e.to_string().contains("not one chain"), "{e}");
        let after = d.store.gate(g.id).unwrap().unwrap();
        assert!(after.broken());
        assert_eq!((after.events, after.quarantined), (3, 4));
        assert!(d.store.audit(None).unwrap().is_empty());
        // a blank reason is refused before anything else
        let e = reset_gate(&mut d, &after, ResetAction::Discard, " ", "clerk", "now").unwrap_err();
        assert!(e.to_string().contains("--reason"), "{e}");
        // discard works, and a second reset is refused
        let r = reset_gate(&mut d, &after, ResetAction::Discard, "checked", "clerk", "now").unwrap();
        assert_eq!(r.discarded, 4);
        let e = reset_gate(&mut d, &after, ResetAction::Discard, "again", "clerk", "now").unwrap_err();
        assert!(e.to_string().contains("not broken"), "{e}");
    }
}
