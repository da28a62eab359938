//! The committee log: every change the committee makes on the first
//! directory (register rows, categories, passes issued, revocations, rules,
//! keys, gates) is a record of who did what and when, hash-chained to the
//! record before it and signed with a community key. Each record also
//! carries the SHA-256 of the committee's whole state after the change, so a
//! gate that receives the log and the state at its head knows the state is
//! exactly what the community's last change left (see docs/gates.md).
//!
//! Keys: a record is signed with the lowest-numbered community key that is
//! active when it is sealed. A new key is announced by a `key.rotate` record
//! (signed by an older key) that carries its public half, and a key is
//! ended by a `key.retire` record; a verifier learns both as it reads, so a
//! gate that was away for a rotation and a retirement follows them in order
//! and believes no record signed by a key it never learned, or after that
//! key was retired.

use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet};

/// The hash a first record links to.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// One committee change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    pub seq: u64,
    /// When it was made (RFC 3339, the first directory's clock).
    pub at: String,
    /// Who made it: the page login, the token's name, `cli`, or
    /// `district:NAME` for a district directive.
    pub actor: String,
    /// What kind of change (`register.import`, `pass.revoke`, ...).
    pub action: String,
    /// The change's details as JSON text (the bytes that were hashed).
    pub detail: String,
    /// SHA-256 (hex) of the committee's state after this change.
    pub state_hash: String,
    pub prev_hash: String,
    pub hash: String,
    /// The community key that signed `hash`.
    pub key_id: u16,
    pub sig: String,
}

/// SHA-256 of a committee state body, as a record carries it.
pub fn state_hash(body: &str) -> String {
    hex::encode(Sha256::digest(body.as_bytes()))
}

fn record_hash(seq: u64, prev_hash: &str, at: &str, actor: &str, action: &str, detail: &str, state: &str) -> String {
    let mut h = Sha256::new();
    h.update(b"gatepass-committee-log-v1\0");
    h.update(seq.to_be_bytes());
    // each text field with its length first: no two records share a byte string
    for field in [prev_hash, at, actor, action, detail, state] {
        h.update((field.len() as u64).to_be_bytes());
        h.update(field.as_bytes());
    }
    hex::encode(h.finalize())
}

fn signed_message(seq: u64, hash: &str) -> Vec<u8> {
    let mut m = b"GPCOMMITTEE1".to_vec();
    m.extend_from_slice(&seq.to_be_bytes());
    m.extend_from_slice(hash.as_bytes());
    m
}

/// What a new record says, before it is chained and signed.
pub struct Change<'a> {
    pub at: &'a str,
    pub actor: &'a str,
    pub action: &'a str,
    pub detail: &'a str,
    pub state_hash: &'a str,
}

/// Chains `change` after `prev` (None: the first record) and signs it.
pub fn seal(prev: Option<&Record>, change: &Change, key_id: u16, key: &SigningKey) -> Record {
    let (seq, prev_hash) = match prev {
        Some(p) => (p.seq.saturating_add(1), p.hash.clone()),
        None => (1, GENESIS.to_string()),
    };
    let hash = record_hash(seq, &prev_hash, change.at, change.actor, change.action, change.detail, change.state_hash);
    let sig = hex::encode(key.sign(&signed_message(seq, &hash)).to_bytes());
    Record {
        seq,
        at: change.at.to_string(),
        actor: change.actor.to_string(),
        action: change.action.to_string(),
        detail: change.detail.to_string(),
        state_hash: change.state_hash.to_string(),
        prev_hash,
        hash,
        key_id,
        sig,
    }
}

/// Where and how a committee log breaks; `seq` is the first record that fails.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LogError {
    #[error("committee record {seq}: expected number {expected} (a record was dropped, inserted or reordered)")]
    Gap { seq: u64, expected: u64 },
    #[error("committee record {seq}: it does not link to the record before it")]
    BrokenLink { seq: u64 },
    #[error("committee record {seq}: its content does not match its hash (edited)")]
    Edited { seq: u64 },
    #[error("committee record {seq}: signed with community key {key_id}, which this gate never learned")]
    UnknownKey { seq: u64, key_id: u16 },
    #[error("committee record {seq}: signed with community key {key_id} after that key was retired")]
    RetiredKey { seq: u64, key_id: u16 },
    #[error("committee record {seq}: the community's signature is not valid")]
    BadSignature { seq: u64 },
    #[error("committee record {seq}: it announces a key it does not carry")]
    BadKeyAnnouncement { seq: u64 },
}

/// Checks records one at a time, learning keys from `key.rotate` and
/// forgetting them at `key.retire`.
#[derive(Debug, Clone)]
pub struct LogVerifier {
    next: u64,
    prev_hash: String,
    keys: BTreeMap<u16, VerifyingKey>,
    retired: BTreeSet<u16>,
    pub last: Option<Record>,
    pub count: u64,
}

impl LogVerifier {
    /// From the first record, believing `keys` (key id → public key).
    pub fn from_genesis(keys: BTreeMap<u16, VerifyingKey>) -> LogVerifier {
        Self::after(0, GENESIS, keys, BTreeSet::new())
    }

    /// Continues a log held up to (`seq`, `hash`), with the keys known and
    /// the ones retired as of that record.
    pub fn after(seq: u64, hash: &str, keys: BTreeMap<u16, VerifyingKey>, retired: BTreeSet<u16>) -> LogVerifier {
        LogVerifier { next: seq.saturating_add(1), prev_hash: hash.to_string(), keys, retired, last: None, count: 0 }
    }

    pub fn push(&mut self, r: &Record) -> Result<(), LogError> {
        let seq = r.seq;
        if seq != self.next || i64::try_from(seq).is_err() {
            return Err(LogError::Gap { seq, expected: self.next });
        }
        if r.prev_hash != self.prev_hash {
            return Err(LogError::BrokenLink { seq });
        }
        if record_hash(seq, &r.prev_hash, &r.at, &r.actor, &r.action, &r.detail, &r.state_hash) != r.hash {
            return Err(LogError::Edited { seq });
        }
        if self.retired.contains(&r.key_id) {
            return Err(LogError::RetiredKey { seq, key_id: r.key_id });
        }
        let key = self.keys.get(&r.key_id).ok_or(LogError::UnknownKey { seq, key_id: r.key_id })?;
        let sig = hex::decode(&r.sig)
            .ok()
            .and_then(|b| <[u8; 64]>::try_from(b.as_slice()).ok())
            .map(|b| Signature::from_bytes(&b))
            .ok_or(LogError::BadSignature { seq })?;
        key.verify(&signed_message(seq, &r.hash), &sig).map_err(|_| LogError::BadSignature { seq })?;
        match r.action.as_str() {
            "key.rotate" => {
                let (id, public) = announced_key(&r.detail).ok_or(LogError::BadKeyAnnouncement { seq })?;
                self.keys.insert(id, public);
            }
            "key.retire" => {
                if let Some(id) = detail_key_id(&r.detail) {
                    self.retired.insert(id);
                }
            }
            _ => {}
        }
        self.next = seq.saturating_add(1);
        self.prev_hash = r.hash.clone();
        self.count = self.count.saturating_add(1);
        self.last = Some(r.clone());
        Ok(())
    }
}

fn detail_key_id(detail: &str) -> Option<u16> {
    let v: serde_json::Value = serde_json::from_str(detail).ok()?;
    u16::try_from(v.get("key_id")?.as_u64()?).ok()
}

/// The key a `key.rotate` record announces: its number and public half.
fn announced_key(detail: &str) -> Option<(u16, VerifyingKey)> {
    let v: serde_json::Value = serde_json::from_str(detail).ok()?;
    let id = u16::try_from(v.get("key_id")?.as_u64()?).ok()?;
    let bytes = hex::decode(v.get("public_key")?.as_str()?).ok()?;
    let key = VerifyingKey::from_bytes(&<[u8; 32]>::try_from(bytes.as_slice()).ok()?).ok()?;
    Some((id, key))
}

/// The district directive ids the committee log records as applied on the
/// first directory (`district.directive` records): once there, the
/// committee's state carries the directive's effect.
pub fn applied_directive(r: &Record) -> Option<String> {
    if r.action != "district.directive" {
        return None;
    }
    let v: serde_json::Value = serde_json::from_str(&r.detail).ok()?;
    Some(v.get("id")?.as_str()?.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(n: u8) -> SigningKey {
        SigningKey::from_bytes(&[n; 32])
    }

    fn keys(list: &[(u16, &SigningKey)]) -> BTreeMap<u16, VerifyingKey> {
        list.iter().map(|(id, k)| (*id, k.verifying_key())).collect()
    }

    fn change<'a>(action: &'a str, detail: &'a str) -> Change<'a> {
        Change { at: "2026-11-29T10:00:00+08:00", actor: "主任", action, detail, state_hash: "ab" }
    }

    fn log(n: usize, k: &SigningKey) -> Vec<Record> {
        let mut out: Vec<Record> = Vec::new();
        for i in 0..n {
            let d = format!("{{\"n\":{i}}}");
            let r = seal(out.last(), &change("pass.revoke", &d), 1, k);
            out.push(r);
        }
        out
    }

    #[test]
    fn a_sealed_log_verifies_from_the_start_and_from_the_middle() {
        let k = key(1);
        let l = log(5, &k);
        assert_eq!(l[0].seq, 1);
        assert_eq!(l[0].prev_hash, GENESIS);
        let mut v = LogVerifier::from_genesis(keys(&[(1, &k)]));
        for r in &l {
            v.push(r).unwrap();
        }
        assert_eq!(v.count, 5);
        assert_eq!(v.last.as_ref().map(|r| r.seq), Some(5));
        let mut v = LogVerifier::after(2, &l[1].hash, keys(&[(1, &k)]), BTreeSet::new());
        for r in &l[2..] {
            v.push(r).unwrap();
        }
        assert_eq!(v.count, 3);
    }

    #[test]
    fn every_kind_of_tampering_is_named_at_its_record() {
        let k = key(1);
        let l = log(4, &k);
        let check = |l: &[Record]| {
            let mut v = LogVerifier::from_genesis(keys(&[(1, &k)]));
            l.iter().try_for_each(|r| v.push(r))
        };
        let mut edited = l.clone();
        edited[2].actor = "someone else".into();
        assert_eq!(check(&edited), Err(LogError::Edited { seq: 3 }));
        let mut dropped = l.clone();
        dropped.remove(1);
        assert_eq!(check(&dropped), Err(LogError::Gap { seq: 3, expected: 2 }));
        let mut relinked = l.clone();
        relinked[3].prev_hash = l[1].hash.clone();
        assert_eq!(check(&relinked), Err(LogError::BrokenLink { seq: 4 }));
        // a whole record re-made by someone without the community key
        let mut forged = l.clone();
        forged[3] = seal(Some(&l[2]), &change("pass.revoke", "{}"), 1, &key(9));
        assert_eq!(check(&forged), Err(LogError::BadSignature { seq: 4 }));
        let mut unknown = l.clone();
        unknown[3] = seal(Some(&l[2]), &change("pass.revoke", "{}"), 7, &key(9));
        assert_eq!(check(&unknown), Err(LogError::UnknownKey { seq: 4, key_id: 7 }));
        // the state hash is inside the record's hash
        let mut state = l.clone();
        state[0].state_hash = "cd".into();
        assert_eq!(check(&state), Err(LogError::Edited { seq: 1 }));
    }

    #[test]
    fn a_rotation_and_a_retirement_are_followed_in_order() {
        let (k1, k2) = (key(1), key(2));
        let pk2 = hex::encode(k2.verifying_key().to_bytes());
        let a = seal(None, &change("register.import", "{}"), 1, &k1);
        let rot = format!("{{\"key_id\":2,\"public_key\":\"{pk2}\"}}");
        let b = seal(Some(&a), &change("key.rotate", &rot), 1, &k1);
        let c = seal(Some(&b), &change("key.retire", "{\"key_id\":1}"), 2, &k2);
        let d = seal(Some(&c), &change("pass.issue", "{}"), 2, &k2);
        // a gate that only knew key 1 learns key 2 from the rotation
        let mut v = LogVerifier::from_genesis(keys(&[(1, &k1)]));
        for r in [&a, &b, &c, &d] {
            v.push(r).unwrap();
        }
        // after the retirement, key 1 signs nothing more
        let late = seal(Some(&d), &change("pass.issue", "{}"), 1, &k1);
        assert_eq!(v.clone().push(&late), Err(LogError::RetiredKey { seq: 5, key_id: 1 }));
        // a record signed with key 2 before anything announced it is not believed
        let early = seal(Some(&a), &change("pass.issue", "{}"), 2, &k2);
        let mut v = LogVerifier::from_genesis(keys(&[(1, &k1)]));
        v.push(&a).unwrap();
        assert_eq!(v.push(&early), Err(LogError::UnknownKey { seq: 2, key_id: 2 }));
        // a rotation that does not carry its key is refused
        let bad = seal(Some(&a), &change("key.rotate", "{\"key_id\":2}"), 1, &k1);
        let mut v = LogVerifier::from_genesis(keys(&[(1, &k1)]));
        v.push(&a).unwrap();
        assert_eq!(v.push(&bad), Err(LogError::BadKeyAnnouncement { seq: 2 }));
    }

    #[test]
    fn no_two_field_splits_hash_alike() {
        let a = record_hash(1, GENESIS, "t", "ab", "c", "{}", "s");
        let b = record_hash(1, GENESIS, "t", "a", "bc", "{}", "s");
        assert_ne!(a, b);
    }

    #[test]
    fn directives_applied_on_the_first_directory_are_found() {
        let k = key(1);
        let r = seal(None, &change("district.directive", "{\"id\":\"d-1\",\"resident_id\":3}"), 1, &k);
        assert_eq!(applied_directive(&r).as_deref(), Some("d-1"));
        let r = seal(None, &change("district.directive_refused", "{\"id\":\"d-1\"}"), 1, &k);
        assert_eq!(applied_directive(&r), None);
    }
}
