//! The tamper-evident entry log. Every scan becomes an event; each event's
//! `hash` is SHA-256 over the previous event's hash and the event's own
//! canonical JSON, and the gate key signs each hash. Editing, dropping,
//! inserting or reordering an event breaks the chain at that event; the
//! signature on the newest event proves who made the whole chain.
//!
//! The sequence number, not the wall time, orders events: a clock that
//! jumps backwards can stamp an earlier time but never reorder the log.

use super::ids::{PassId, ResidentId};
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// One line of `gatepass events export` (and of the events API): the event
/// with its chain fields, plus what a verifier without the gate's database
/// needs. `gate_key` and `resident_name` are outside the hash.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExportedEvent {
    #[serde(flatten)]
    pub event: ChainedEvent,
    /// The gate's public key (hex), so a carried file can be checked.
    #[serde(default)]
    pub gate_key: Option<String>,
    /// Only when the community set `share_names = true`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resident_name: Option<String>,
}

/// The hash before the first event.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// The hashed content of an event. Field order is the canonical order; codes
/// are plain strings so that a verifier of this version can check a chain
/// written by a newer one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventBody {
    pub seq: u64,
    /// RFC 3339, UTC, milliseconds: the time the gate's clock said.
    pub at: String,
    pub gate: String,
    pub community: String,
    pub direction: Option<String>,
    pub pass_id: Option<PassId>,
    pub resident_id: Option<ResidentId>,
    pub household: Option<String>,
    pub temperature_c: Option<f64>,
    pub temperature_raw_c: Option<f64>,
    pub temperature_source: Option<String>,
    pub decision: String,
    pub reasons: Vec<String>,
    pub warnings: Vec<String>,
    /// Entered afterwards from the paper register (`scan --at`).
    pub backfilled: bool,
    /// The gate's clock was not confirmed when this was written.
    pub clock_suspect: bool,
    /// First 16 hex digits of SHA-256 of the scanned text: lets the district
    /// see repeated forged codes without storing them.
    pub payload_digest: String,
}

/// An event as stored and exported: the body plus the chain fields.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChainedEvent {
    #[serde(flatten)]
    pub body: EventBody,
    pub prev_hash: String,
    pub hash: String,
    /// Gate signature over this event's hash (hex).
    pub sig: String,
}

pub fn body_json(body: &EventBody) -> String {
    // Serialising a plain struct of strings, numbers and bools cannot fail;
    // an empty string would only ever make the chain fail verification.
    serde_json::to_string(body).unwrap_or_default()
}

pub fn event_hash(prev_hash: &str, body: &EventBody) -> String {
    let mut h = Sha256::new();
    h.update(prev_hash.as_bytes());
    h.update(b"\n");
    h.update(body_json(body).as_bytes());
    hex::encode(h.finalize())
}

fn signed_message(seq: u64, hash: &str) -> Vec<u8> {
    let mut m = Vec::with_capacity(8 + 8 + 64);
    m.extend_from_slice(b"GPCHAIN1");
    m.extend_from_slice(&seq.to_be_bytes());
    m.extend_from_slice(hash.as_bytes());
    m
}

/// Chains `body` after `prev_hash` and signs it with the gate key.
pub fn seal(body: EventBody, prev_hash: &str, gate_key: &SigningKey) -> ChainedEvent {
    let hash = event_hash(prev_hash, &body);
    let sig = hex::encode(gate_key.sign(&signed_message(body.seq, &hash)).to_bytes());
    ChainedEvent { body, prev_hash: prev_hash.to_string(), hash, sig }
}

pub fn check_signature(ev: &ChainedEvent, key: &VerifyingKey) -> bool {
    let Ok(bytes) = hex::decode(&ev.sig) else { return false };
    let Ok(arr) = <[u8; 64]>::try_from(bytes.as_slice()) else { return false };
    key.verify(&signed_message(ev.body.seq, &ev.hash), &Signature::from_bytes(&arr)).is_ok()
}

/// A signed statement that the chain up to `seq` ended in `hash`: what a
/// gate keeps after purging old events, so the rest still verifies.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    pub seq: u64,
    pub hash: String,
    pub sig: String,
}

fn checkpoint_message(seq: u64, hash: &str) -> Vec<u8> {
    let mut m = Vec::with_capacity(8 + 8 + 64);
    m.extend_from_slice(b"GPCKPT01");
    m.extend_from_slice(&seq.to_be_bytes());
    m.extend_from_slice(hash.as_bytes());
    m
}

impl Checkpoint {
    pub fn sign(seq: u64, hash: &str, key: &SigningKey) -> Checkpoint {
        let sig = hex::encode(key.sign(&checkpoint_message(seq, hash)).to_bytes());
        Checkpoint { seq, hash: hash.to_string(), sig }
    }

    pub fn check(&self, key: &VerifyingKey) -> bool {
        let Ok(bytes) = hex::decode(&self.sig) else { return false };
        let Ok(arr) = <[u8; 64]>::try_from(bytes.as_slice()) else { return false };
        key.verify(&checkpoint_message(self.seq, &self.hash), &Signature::from_bytes(&arr)).is_ok()
    }
}

/// Where and how a chain breaks. `seq` is the first event that fails.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChainError {
    #[error("event {seq}: expected sequence number {expected} (an event was dropped, inserted or reordered)")]
    Gap { seq: u64, expected: u64 },
    #[error("event {seq}: prev_hash does not match the event before it (dropped, inserted or reordered)")]
    BrokenLink { seq: u64 },
    #[error("event {seq}: content does not match its hash (edited)")]
    Edited { seq: u64 },
    #[error("event {seq}: the gate signature is not valid (rewritten, or signed by another gate)")]
    BadSignature { seq: u64 },
    /// Past what the gate's log can hold (SQLite integers): only a forged
    /// or corrupt file has it, and nothing could follow it.
    #[error("event {seq}: sequence number out of range (at most {}): not a gate's log", i64::MAX)]
    SeqOutOfRange { seq: u64 },
}

impl ChainError {
    pub fn seq(&self) -> u64 {
        match self {
            ChainError::Gap { seq, .. }
            | ChainError::BrokenLink { seq }
            | ChainError::Edited { seq }
            | ChainError::BadSignature { seq }
            | ChainError::SeqOutOfRange { seq } => *seq,
        }
    }
}

/// Verifies events one at a time, so a file or table of any size is checked
/// without holding it in memory.
#[derive(Debug, Clone)]
pub struct ChainVerifier {
    expected_seq: Option<u64>,
    prev_hash: Option<String>,
    last: Option<ChainedEvent>,
    pub count: u64,
}

impl ChainVerifier {
    /// Starts at the beginning of a chain (seq 1, genesis hash).
    pub fn from_genesis() -> Self {
        Self::after(0, GENESIS)
    }

    /// Continues a chain known up to (`seq`, `hash`).
    pub fn after(seq: u64, hash: &str) -> Self {
        // (an event at u64::MAX is refused by `push` anyway)
        ChainVerifier {
            expected_seq: Some(seq.saturating_add(1)),
            prev_hash: Some(hash.to_string()),
            last: None,
            count: 0,
        }
    }

    /// Accepts whatever the first event links to (an export that starts
    /// after a purged or already-collected prefix).
    pub fn anywhere() -> Self {
        ChainVerifier { expected_seq: None, prev_hash: None, last: None, count: 0 }
    }

    pub fn push(&mut self, ev: ChainedEvent) -> Result<(), ChainError> {
        let seq = ev.body.seq;
        let next = match seq.checked_add(1) {
            Some(n) if i64::try_from(seq).is_ok() => n,
            _ => return Err(ChainError::SeqOutOfRange { seq }),
        };
        if let Some(expected) = self.expected_seq {
            if seq != expected {
                return Err(ChainError::Gap { seq, expected });
            }
        }
        if let Some(prev) = &self.prev_hash {
            if &ev.prev_hash != prev {
                return Err(ChainError::BrokenLink { seq });
            }
        }
        if event_hash(&ev.prev_hash, &ev.body) != ev.hash {
            return Err(ChainError::Edited { seq });
        }
        self.expected_seq = Some(next);
        self.prev_hash = Some(ev.hash.clone());
        self.count = self.count.saturating_add(1);
        self.last = Some(ev);
        Ok(())
    }

    /// Checks the gate's signature on the head and returns it.
    pub fn finish(self, key: &VerifyingKey) -> Result<Option<ChainedEvent>, ChainError> {
        if let Some(last) = &self.last {
            if !check_signature(last, key) {
                return Err(ChainError::BadSignature { seq: last.body.seq });
            }
        }
        Ok(self.last)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(seq: u64) -> EventBody {
        EventBody {
            seq,
            at: format!("2026-11-30T04:00:{:02}.000Z", seq % 60),
            gate: "east".into(),
            community: "sunny".into(),
            direction: Some("out".into()),
            pass_id: Some(PassId(10000000 + seq as u32)),
            resident_id: Some(ResidentId(seq as u32)),
            household: Some("1-101".into()),
            temperature_c: Some(36.6),
            temperature_raw_c: Some(36.1),
            temperature_source: Some("manual".into()),
            decision: "allow".into(),
            reasons: vec![],
            warnings: vec![],
            backfilled: false,
            clock_suspect: false,
            payload_digest: "00ff".into(),
        }
    }

    fn chain(n: u64, key: &SigningKey) -> Vec<ChainedEvent> {
        let mut prev = GENESIS.to_string();
        (1..=n)
            .map(|s| {
                let e = seal(body(s), &prev, key);
                prev = e.hash.clone();
                e
            })
            .collect()
    }

    fn verify(evs: &[ChainedEvent], key: &VerifyingKey) -> Result<u64, ChainError> {
        let mut v = ChainVerifier::from_genesis();
        for e in evs {
            v.push(e.clone())?;
        }
        let n = v.count;
        v.finish(key)?;
        Ok(n)
    }

    /// A body as the gate wrote it before ids were typed: it must read back,
    /// serialise to the same bytes and hash the same, or every stored chain
    /// would stop verifying.
    #[test]
    fn body_written_before_typed_ids_hashes_the_same() {
        let old = r#"{"seq":1,"at":"2026-11-30T04:00:01.000Z","gate":"east","community":"sunny","direction":"out","pass_id":10000001,"resident_id":1,"household":"1-101","temperature_c":36.6,"temperature_raw_c":36.1,"temperature_source":"manual","decision":"allow","reasons":[],"warnings":[],"backfilled":false,"clock_suspect":false,"payload_digest":"00ff"}"#;
        let parsed: EventBody = serde_json::from_str(old).unwrap();
        assert_eq!(parsed, body(1));
        assert_eq!(body_json(&parsed), old);
        // sha256("0"*64 + "\n" + old), computed outside this code
        assert_eq!(event_hash(GENESIS, &parsed), "ee8da4b03ebae8c8e89e210cfdc4cb36fd9570600245f4560f9d12cf936c3556");
    }

    #[test]
    fn a_sequence_number_past_the_log_is_refused_not_overflowed() {
        let k = SigningKey::from_bytes(&[3; 32]);
        let at = |seq| EventBody { seq, ..body(1) };
        for seq in [u64::MAX, i64::MAX as u64 + 1] {
            let mut v = ChainVerifier::anywhere();
            assert_eq!(v.push(seal(at(seq), GENESIS, &k)), Err(ChainError::SeqOutOfRange { seq }));
        }
        let mut v = ChainVerifier::anywhere();
        assert_eq!(v.push(seal(at(i64::MAX as u64), GENESIS, &k)), Ok(()));
    }

    #[test]
    fn intact_chain_verifies_and_survives_json() {
        let k = SigningKey::from_bytes(&[3; 32]);
        let evs = chain(20, &k);
        assert_eq!(verify(&evs, &k.verifying_key()), Ok(20));
        let reparsed: Vec<ChainedEvent> =
            evs.iter().map(|e| serde_json::from_str(&serde_json::to_string(e).unwrap()).unwrap()).collect();
        assert_eq!(verify(&reparsed, &k.verifying_key()), Ok(20));
    }

    #[test]
    fn catches_edit_drop_insert_reorder_and_foreign_key() {
        let k = SigningKey::from_bytes(&[3; 32]);
        let vk = k.verifying_key();
        let evs = chain(10, &k);

        let mut edited = evs.clone();
        edited[4].body.decision = "deny".into();
        assert_eq!(verify(&edited, &vk), Err(ChainError::Edited { seq: 5 }));

        let mut dropped = evs.clone();
        dropped.remove(3);
        assert_eq!(verify(&dropped, &vk), Err(ChainError::Gap { seq: 5, expected: 4 }));

        let mut reordered = evs.clone();
        reordered.swap(2, 3);
        assert_eq!(verify(&reordered, &vk), Err(ChainError::Gap { seq: 4, expected: 3 }));

        // drop an event and renumber the rest: the link breaks
        let mut renumbered = evs.clone();
        renumbered.remove(3);
        for e in renumbered.iter_mut().skip(3) {
            e.body.seq -= 1;
        }
        assert_eq!(verify(&renumbered, &vk), Err(ChainError::BrokenLink { seq: 4 }));

        // rewrite the whole chain with another key: hashes fine, signature not
        let other = SigningKey::from_bytes(&[4; 32]);
        let forged = chain(10, &other);
        assert_eq!(verify(&forged, &vk), Err(ChainError::BadSignature { seq: 10 }));
    }

    #[test]
    fn checkpoints_are_signed() {
        let k = SigningKey::from_bytes(&[3; 32]);
        let c = Checkpoint::sign(7, "ab", &k);
        assert!(c.check(&k.verifying_key()));
        let mut forged = c.clone();
        forged.seq = 8;
        assert!(!forged.check(&k.verifying_key()));
        assert!(!c.check(&SigningKey::from_bytes(&[4; 32]).verifying_key()));
    }

    #[test]
    fn continues_from_a_known_head() {
        let k = SigningKey::from_bytes(&[3; 32]);
        let evs = chain(6, &k);
        let mut v = ChainVerifier::after(3, &evs[2].hash);
        for e in &evs[3..] {
            v.push(e.clone()).unwrap();
        }
        assert_eq!(v.finish(&k.verifying_key()).unwrap().unwrap().body.seq, 6);
        let mut v = ChainVerifier::after(3, GENESIS);
        assert_eq!(v.push(evs[3].clone()), Err(ChainError::BrokenLink { seq: 4 }));
    }
}
