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
/// needs. `gate_key`, `resident_name` and `name_sig` are outside the hash:
/// the key is only believed if it is the pinned one (or proves the chain),
/// and a name only with a valid `name_sig` (see [`sign_name`]).
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
    /// The gate key's signature (hex) binding `resident_name` to this
    /// event's hash: a name without it, or with one that does not verify,
    /// is not believed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name_sig: Option<String>,
}

/// Every field an export line may carry. Anything else is outside what the
/// gate signed and is reported by `events verify` (and never stored).
pub const LINE_FIELDS: &[&str] = &[
    "seq",
    "at",
    "gate",
    "community",
    "direction",
    "pass_id",
    "resident_id",
    "household",
    "temperature_c",
    "temperature_raw_c",
    "temperature_source",
    "decision",
    "reasons",
    "warnings",
    "backfilled",
    "clock_suspect",
    "payload_digest",
    "kind",
    "operator",
    "purpose",
    "detail_digest",
    "prev_hash",
    "hash",
    "sig",
    "gate_key",
    "resident_name",
    "name_sig",
];

/// What a line says about the resident's name, checked against the gate key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameCheck {
    /// No name (a `name_sig` without a name claims nothing).
    Absent,
    /// A name the gate key signed for this very event.
    Signed,
    /// A name without a signature, or with one that is not the gate's for
    /// this event (added, or moved from another line): not believed.
    Unsigned,
}

impl ExportedEvent {
    /// A line without a name.
    pub fn new(event: ChainedEvent, gate_key: Option<String>) -> ExportedEvent {
        ExportedEvent { event, gate_key, resident_name: None, name_sig: None }
    }

    /// Adds the resident's name with the gate's signature over it.
    pub fn with_signed_name(mut self, name: String, signer: &NameSigner) -> ExportedEvent {
        self.name_sig = Some(signer.sign(&self.event.hash, &name));
        self.resident_name = Some(name);
        self
    }

    /// Whether the name (if any) is signed by `key` for this event.
    pub fn check_name(&self, key: &VerifyingKey) -> NameCheck {
        match (&self.resident_name, &self.name_sig) {
            (None, _) => NameCheck::Absent,
            (Some(name), Some(sig)) if check_name(key, &self.event.hash, name, sig) => NameCheck::Signed,
            (Some(_), _) => NameCheck::Unsigned,
        }
    }

    /// The name only if `key` signed it for this event.
    pub fn signed_name(&self, key: &VerifyingKey) -> Option<&str> {
        match self.check_name(key) {
            NameCheck::Signed => self.resident_name.as_deref(),
            NameCheck::Absent | NameCheck::Unsigned => None,
        }
    }

    /// The same line with an unsigned name dropped.
    pub fn keep_signed_name(mut self, key: &VerifyingKey) -> ExportedEvent {
        if self.check_name(key) != NameCheck::Signed {
            self.resident_name = None;
            self.name_sig = None;
        }
        self
    }
}

/// Signs residents' names with the gate key for export lines. Holds the
/// key without handing it out; a gate makes one only when it shares names.
pub struct NameSigner {
    key: SigningKey,
}

impl NameSigner {
    pub fn new(key: SigningKey) -> NameSigner {
        NameSigner { key }
    }

    pub fn sign(&self, hash: &str, name: &str) -> String {
        sign_name(&self.key, hash, name)
    }
}

/// What a name signature covers. The prefix keeps it apart from the chain
/// and checkpoint signatures (same key); the NULs keep hash and name apart
/// (neither contains one: the hash is hex, names are checked text).
fn name_message(hash: &str, name: &str) -> Vec<u8> {
    let mut m = Vec::with_capacity(17 + hash.len() + 1 + name.len());
    m.extend_from_slice(b"gatepass-name-v1\0");
    m.extend_from_slice(hash.as_bytes());
    m.push(0);
    m.extend_from_slice(name.as_bytes());
    m
}

/// Signs that event `hash` is of the resident named `name` (hex signature).
pub fn sign_name(key: &SigningKey, hash: &str, name: &str) -> String {
    hex::encode(key.sign(&name_message(hash, name)).to_bytes())
}

pub fn check_name(key: &VerifyingKey, hash: &str, name: &str, sig_hex: &str) -> bool {
    let Ok(bytes) = hex::decode(sig_hex) else { return false };
    let Ok(arr) = <[u8; 64]>::try_from(bytes.as_slice()) else { return false };
    key.verify(&name_message(hash, name), &Signature::from_bytes(&arr)).is_ok()
}

/// Fields of one JSON line that are not in [`LINE_FIELDS`]: how many, and
/// the first few names (bounded: a line is capped, but may hold many keys).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OutsideFields {
    pub count: usize,
    pub first: Vec<String>,
}

impl OutsideFields {
    const KEEP: usize = 5;
}

/// The top-level keys of `line` that no export line has. Reads keys only,
/// skipping values; not a JSON object gives none (the event parse says why).
pub fn outside_fields(line: &str) -> OutsideFields {
    struct Keys(OutsideFields);
    struct Key<'a>(&'a mut OutsideFields);
    impl<'de> serde::de::DeserializeSeed<'de> for Key<'_> {
        type Value = ();
        fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
            d.deserialize_str(self)
        }
    }
    impl<'de> serde::de::Visitor<'de> for Key<'_> {
        type Value = ();
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a field name")
        }
        fn visit_str<E: serde::de::Error>(self, k: &str) -> Result<(), E> {
            if !LINE_FIELDS.contains(&k) {
                self.0.count += 1;
                if self.0.first.len() < OutsideFields::KEEP && !self.0.first.iter().any(|f| f == k) {
                    // a hostile key is shown, so it is cut short
                    self.0.first.push(k.chars().take(40).collect());
                }
            }
            Ok(())
        }
    }
    impl<'de> serde::de::Visitor<'de> for Keys {
        type Value = OutsideFields;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a JSON object")
        }
        fn visit_map<A: serde::de::MapAccess<'de>>(mut self, mut m: A) -> Result<OutsideFields, A::Error> {
            while m.next_key_seed(Key(&mut self.0))?.is_some() {
                m.next_value::<serde::de::IgnoredAny>()?;
            }
            Ok(self.0)
        }
    }
    let mut de = serde_json::Deserializer::from_str(line);
    serde::Deserializer::deserialize_map(&mut de, Keys(OutsideFields::default())).unwrap_or_default()
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
    /// What crossed: absent for a resident's pass (every event written
    /// before kinds existed), else `visitor`, `vehicle`, `delivery`,
    /// `exception` or `no_card`. Absent fields are not serialised, so old
    /// events hash exactly as before.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// Who was on duty: the page login or the token's name (`cli` from
    /// the command line unless `--operator`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operator: Option<String>,
    /// A vehicle's purpose (`supply`, `medical`, `garbage`, `emergency`,
    /// `resident`): a code, no personal data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub purpose: Option<String>,
    /// SHA-256 (hex) over a salt and the outsider's details kept at the
    /// gate (name, phone, plate, origin…): the chain makes them
    /// tamper-evident without carrying them to the district.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail_digest: Option<String>,
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
            kind: None,
            operator: None,
            purpose: None,
            detail_digest: None,
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

    /// A visit event carries its kind, operator and digest in the hash;
    /// a resident scan without them serialises as before.
    #[test]
    fn new_fields_are_hashed_when_present_and_absent_otherwise() {
        assert!(!body_json(&body(1)).contains("kind"));
        let mut b = body(1);
        b.kind = Some("visitor".into());
        b.operator = Some("li".into());
        b.detail_digest = Some("ab".into());
        let json = body_json(&b);
        assert!(json.contains("\"kind\":\"visitor\"") && json.contains("\"operator\":\"li\""));
        assert_ne!(event_hash(GENESIS, &b), event_hash(GENESIS, &body(1)));
        let back: EventBody = serde_json::from_str(&json).unwrap();
        assert_eq!(back, b);
        let k = SigningKey::from_bytes(&[3; 32]);
        let mut e = seal(b, GENESIS, &k);
        let mut v = ChainVerifier::from_genesis();
        v.push(e.clone()).unwrap();
        e.body.operator = Some("wang".into());
        let mut v = ChainVerifier::from_genesis();
        assert_eq!(v.push(e), Err(ChainError::Edited { seq: 1 }));
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
    fn names_are_believed_only_with_the_gate_signature_for_that_event() {
        let k = SigningKey::from_bytes(&[3; 32]);
        let vk = k.verifying_key();
        let signer = NameSigner::new(k.clone());
        let evs = chain(2, &k);
        let a = ExportedEvent::new(evs[0].clone(), None).with_signed_name("张三".into(), &signer);
        let b = ExportedEvent::new(evs[1].clone(), None).with_signed_name("李四".into(), &signer);
        assert_eq!(a.check_name(&vk), NameCheck::Signed);
        assert_eq!(a.signed_name(&vk), Some("张三"));
        // survives the line format
        let back: ExportedEvent = serde_json::from_str(&serde_json::to_string(&a).unwrap()).unwrap();
        assert_eq!(back.signed_name(&vk), Some("张三"));
        // no name at all
        assert_eq!(ExportedEvent::new(evs[0].clone(), None).check_name(&vk), NameCheck::Absent);
        // a name added without a signature
        let mut added = ExportedEvent::new(evs[0].clone(), None);
        added.resident_name = Some("冒名".into());
        assert_eq!(added.check_name(&vk), NameCheck::Unsigned);
        assert_eq!(added.clone().keep_signed_name(&vk).resident_name, None);
        // a name changed under a real signature
        let mut changed = a.clone();
        changed.resident_name = Some("王五".into());
        assert_eq!(changed.check_name(&vk), NameCheck::Unsigned);
        // names (with their signatures) swapped between two lines: both fail
        let (mut a2, mut b2) = (a.clone(), b.clone());
        std::mem::swap(&mut a2.resident_name, &mut b2.resident_name);
        std::mem::swap(&mut a2.name_sig, &mut b2.name_sig);
        assert_eq!((a2.check_name(&vk), b2.check_name(&vk)), (NameCheck::Unsigned, NameCheck::Unsigned));
        // signed by another key, or garbage
        let other = NameSigner::new(SigningKey::from_bytes(&[4; 32]));
        let foreign = ExportedEvent::new(evs[0].clone(), None).with_signed_name("张三".into(), &other);
        assert_eq!(foreign.check_name(&vk), NameCheck::Unsigned);
        let mut junk = a.clone();
        junk.name_sig = Some("zz".into());
        assert_eq!(junk.check_name(&vk), NameCheck::Unsigned);
        // the chain signature over the same hash is not a name signature
        let mut chain_sig = a.clone();
        chain_sig.name_sig = Some(a.event.sig.clone());
        assert_eq!(chain_sig.check_name(&vk), NameCheck::Unsigned);
        // the hash and the event stay as they were
        assert_eq!(verify(&[a.event, b.event], &vk), Ok(2));
    }

    #[test]
    fn line_fields_list_every_field_a_line_has_and_others_are_found() {
        let k = SigningKey::from_bytes(&[3; 32]);
        // every optional field present (a visit's kind, operator, purpose, digest)
        let full = EventBody {
            kind: Some("vehicle".into()),
            operator: Some("li".into()),
            purpose: Some("supply".into()),
            detail_digest: Some("ab".into()),
            ..body(1)
        };
        let ev = ExportedEvent::new(seal(full, GENESIS, &k), Some("ab".into()))
            .with_signed_name("n".into(), &NameSigner::new(k.clone()));
        let v = serde_json::to_value(&ev).unwrap();
        let mut keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
        let mut known = LINE_FIELDS.to_vec();
        keys.sort_unstable();
        known.sort_unstable();
        assert_eq!(keys, known);
        let line = serde_json::to_string(&ev).unwrap();
        assert_eq!(outside_fields(&line), OutsideFields::default());
        let mut v2 = v.clone();
        v2["share_names"] = serde_json::json!(true);
        v2["extra"] = serde_json::json!({"nested": [1, 2, {"seq": 3}]});
        for i in 0..10 {
            v2[format!("f{i}")] = serde_json::json!(i);
        }
        let o = outside_fields(&v2.to_string());
        assert_eq!(o.count, 12);
        // (serde_json writes keys sorted) the first five, each once
        assert_eq!(o.first, ["extra", "f0", "f1", "f2", "f3"]);
        assert_eq!(outside_fields("not json"), OutsideFields::default());
        assert_eq!(outside_fields("[1,2]"), OutsideFields::default());
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
