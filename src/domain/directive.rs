//! Directives from the district to its gates (issue 13): "keep resident N
//! of community C in as `close_contact` until D", signed with the
//! district's Ed25519 key. The gate applies one only if the signature
//! verifies under the district key it pinned, it is for the gate's own
//! community, and its id was never seen before (a replay changes nothing).

use super::{Category, ResidentId};
use chrono::NaiveDate;
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use serde::{Deserialize, Serialize};

/// Domain separation: a directive's signature can never pass for an
/// event's or a pass's.
const TAG: &[u8] = b"gatepass-directive-v1\n";

/// What the district asks. The field order is the signed form.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DirectiveBody {
    /// Random, unique: the gate refuses an id it has seen.
    pub id: String,
    pub community: String,
    pub resident_id: ResidentId,
    pub category: Category,
    /// Kept in through this local day (none: until the committee changes it).
    pub until: Option<NaiveDate>,
    pub issued_at: String,
    /// Who at the district asked (login or system user).
    pub issued_by: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Directive {
    #[serde(flatten)]
    pub body: DirectiveBody,
    /// Ed25519 signature (hex) over the tag and the body's JSON.
    pub sig: String,
}

/// Why a gate did not apply a directive; `Applied` when it did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DirectiveResult {
    Applied,
    /// Its id was seen before: not applied again.
    Replayed,
    /// Not signed by the district key the gate pinned.
    BadSignature,
    /// For another community.
    OtherCommunity,
    /// No such resident at this gate.
    UnknownResident,
    /// The gate has no district key to check it with (set `[district] key`).
    NoDistrictKey,
}

impl DirectiveResult {
    pub fn as_str(self) -> &'static str {
        match self {
            DirectiveResult::Applied => "applied",
            DirectiveResult::Replayed => "replayed",
            DirectiveResult::BadSignature => "bad_signature",
            DirectiveResult::OtherCommunity => "other_community",
            DirectiveResult::UnknownResident => "unknown_resident",
            DirectiveResult::NoDistrictKey => "no_district_key",
        }
    }
}

fn message(body: &DirectiveBody) -> Vec<u8> {
    let mut m = TAG.to_vec();
    // (serialising a struct of strings, numbers and dates cannot fail)
    m.extend(serde_json::to_vec(body).unwrap_or_default());
    m
}

pub fn sign(body: DirectiveBody, key: &SigningKey) -> Directive {
    let sig = hex::encode(key.sign(&message(&body)).to_bytes());
    Directive { body, sig }
}

pub fn verify(d: &Directive, key: &VerifyingKey) -> bool {
    let Ok(bytes) = hex::decode(&d.sig) else { return false };
    let Ok(arr) = <[u8; 64]>::try_from(bytes.as_slice()) else { return false };
    key.verify(&message(&d.body), &Signature::from_bytes(&arr)).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body() -> DirectiveBody {
        DirectiveBody {
            id: "abc".into(),
            community: "阳光花园".into(),
            resident_id: ResidentId(10000017),
            category: Category::CloseContact,
            until: NaiveDate::from_ymd_opt(2026, 12, 14),
            issued_at: "2026-12-01T02:00:00.000Z".into(),
            issued_by: "clerk".into(),
        }
    }

    #[test]
    fn a_signed_directive_verifies_and_any_change_or_other_key_does_not() {
        let k = SigningKey::from_bytes(&[3; 32]);
        let d = sign(body(), &k);
        assert!(verify(&d, &k.verifying_key()));
        // through JSON and back, as it travels
        let back: Directive = serde_json::from_str(&serde_json::to_string(&d).unwrap()).unwrap();
        assert!(verify(&back, &k.verifying_key()));
        let mut other = d.clone();
        other.body.resident_id = ResidentId(10000018);
        assert!(!verify(&other, &k.verifying_key()));
        let mut other = d.clone();
        other.body.until = None;
        assert!(!verify(&other, &k.verifying_key()));
        assert!(!verify(&d, &SigningKey::from_bytes(&[4; 32]).verifying_key()));
        let mut bad = d;
        bad.sig = "zz".into();
        assert!(!verify(&bad, &k.verifying_key()));
    }
}
