//! The pass token printed in the QR code: `GP1:` + base45 of a 24-byte body
//! and its Ed25519 signature. Base45 keeps the code in QR alphanumeric mode
//! (smaller, easier to scan). The body carries only numbers (ids, dates,
//! key id), never a name: a lost card reveals nothing.
//!
//! Body layout, big-endian:
//! `version u8 | kind u8 | community u32 | key_id u16 | pass_id u32 |
//!  resident_id u32 | household_id u32 | valid_from u16 | valid_until u16`
//! where the dates are days since 2020-01-01 (inclusive range). The signature
//! covers `"GP1" || body` so it cannot be replayed in another format.

use super::ids::{HouseholdId, PassId, ResidentId};
use chrono::{Days, NaiveDate};
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};

pub const PREFIX: &str = "GP1:";
const VERSION: u8 = 1;
const BODY_LEN: usize = 24;
const SIG_LEN: usize = 64;
const DOMAIN: &[u8] = b"GP1";

/// What kind of holder the pass is for. A visitor pass (an approval the
/// committee issued to an outsider or a vehicle) has resident id 0 and the
/// host household's id; who holds it is in the gate's database, not here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PassKind {
    Resident,
    Visitor,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PassClaims {
    pub kind: PassKind,
    pub community: u32,
    pub key_id: u16,
    pub pass_id: PassId,
    pub resident_id: ResidentId,
    pub household_id: HouseholdId,
    pub valid_from: NaiveDate,
    pub valid_until: NaiveDate,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PassError {
    #[error("not a gatepass code (damaged, or not one of ours)")]
    Malformed,
    #[error("pass belongs to another community")]
    WrongCommunity,
    #[error("pass signed by a key this gate does not know (retired or foreign)")]
    UnknownKey,
    #[error("pass signature is not valid (forged or altered)")]
    BadSignature,
}

fn epoch() -> NaiveDate {
    NaiveDate::from_ymd_opt(2020, 1, 1).unwrap_or(NaiveDate::MIN)
}

fn day_number(d: NaiveDate) -> Option<u16> {
    u16::try_from((d - epoch()).num_days()).ok()
}

fn from_day_number(n: u16) -> NaiveDate {
    epoch().checked_add_days(Days::new(u64::from(n))).unwrap_or(NaiveDate::MAX)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("pass dates must lie between 2020-01-01 and 2199-12-31, with the end not before the start")]
pub struct DateOutOfRange;

impl PassClaims {
    fn body(&self) -> Result<[u8; BODY_LEN], DateOutOfRange> {
        let from = day_number(self.valid_from).ok_or(DateOutOfRange)?;
        let until = day_number(self.valid_until).ok_or(DateOutOfRange)?;
        if until < from {
            return Err(DateOutOfRange);
        }
        let mut b = [0u8; BODY_LEN];
        b[0] = VERSION;
        b[1] = match self.kind {
            PassKind::Resident => 1,
            PassKind::Visitor => 2,
        };
        b[2..6].copy_from_slice(&self.community.to_be_bytes());
        b[6..8].copy_from_slice(&self.key_id.to_be_bytes());
        b[8..12].copy_from_slice(&self.pass_id.0.to_be_bytes());
        b[12..16].copy_from_slice(&self.resident_id.0.to_be_bytes());
        b[16..20].copy_from_slice(&self.household_id.0.to_be_bytes());
        b[20..22].copy_from_slice(&from.to_be_bytes());
        b[22..24].copy_from_slice(&until.to_be_bytes());
        Ok(b)
    }

    fn parse_body(b: &[u8; BODY_LEN]) -> Result<PassClaims, PassError> {
        if b[0] != VERSION {
            return Err(PassError::Malformed);
        }
        let kind = match b[1] {
            1 => PassKind::Resident,
            2 => PassKind::Visitor,
            _ => return Err(PassError::Malformed),
        };
        // (the offsets are constants inside BODY_LEN: `get` never fails)
        let u32_at = |i: usize| {
            b.get(i..i + 4).and_then(|s| s.try_into().ok()).map(u32::from_be_bytes).ok_or(PassError::Malformed)
        };
        let u16_at = |i: usize| {
            b.get(i..i + 2).and_then(|s| s.try_into().ok()).map(u16::from_be_bytes).ok_or(PassError::Malformed)
        };
        Ok(PassClaims {
            kind,
            community: u32_at(2)?,
            key_id: u16_at(6)?,
            pass_id: PassId(u32_at(8)?),
            resident_id: ResidentId(u32_at(12)?),
            household_id: HouseholdId(u32_at(16)?),
            valid_from: from_day_number(u16_at(20)?),
            valid_until: from_day_number(u16_at(22)?),
        })
    }

    /// Signs the claims into the text that goes into the QR code.
    pub fn sign(&self, key: &SigningKey) -> Result<String, DateOutOfRange> {
        let body = self.body()?;
        let sig = key.sign(&signed_message(&body));
        let mut raw = Vec::with_capacity(BODY_LEN + SIG_LEN);
        raw.extend_from_slice(&body);
        raw.extend_from_slice(&sig.to_bytes());
        Ok(format!("{PREFIX}{}", base45::encode(&raw)))
    }
}

fn signed_message(body: &[u8; BODY_LEN]) -> [u8; BODY_LEN + 3] {
    let mut m = [0u8; BODY_LEN + 3];
    m[..3].copy_from_slice(DOMAIN);
    m[3..].copy_from_slice(body);
    m
}

/// Reads the claims without checking the signature: used to say *which*
/// community or key a pass claims before refusing it.
pub fn decode_unverified(payload: &str) -> Result<(PassClaims, [u8; BODY_LEN], Signature), PassError> {
    let text = payload.trim();
    let rest = text.strip_prefix(PREFIX).ok_or(PassError::Malformed)?;
    if rest.len() > 400 {
        return Err(PassError::Malformed);
    }
    let raw = base45::decode(rest).map_err(|_| PassError::Malformed)?;
    let (body, sig) = raw.split_first_chunk::<BODY_LEN>().ok_or(PassError::Malformed)?;
    let sig: &[u8; SIG_LEN] = sig.try_into().map_err(|_| PassError::Malformed)?;
    let claims = PassClaims::parse_body(body)?;
    Ok((claims, *body, Signature::from_bytes(sig)))
}

/// Verifies a scanned payload offline: format, community, key, signature.
/// `key_for` returns the community's public key with that id, if it is
/// still accepted (not retired).
pub fn verify(
    payload: &str,
    community: u32,
    key_for: impl Fn(u16) -> Option<VerifyingKey>,
) -> Result<PassClaims, PassError> {
    let (claims, body, sig) = decode_unverified(payload)?;
    if claims.community != community {
        return Err(PassError::WrongCommunity);
    }
    let key = key_for(claims.key_id).ok_or(PassError::UnknownKey)?;
    key.verify(&signed_message(&body), &sig).map_err(|_| PassError::BadSignature)?;
    Ok(claims)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn key(seed: u8) -> SigningKey {
        SigningKey::from_bytes(&[seed; 32])
    }

    fn claims() -> PassClaims {
        PassClaims {
            kind: PassKind::Resident,
            community: 0xC0FFEE,
            key_id: 1,
            pass_id: PassId(12345678),
            resident_id: ResidentId(42),
            household_id: HouseholdId(7),
            valid_from: NaiveDate::from_ymd_opt(2026, 11, 29).unwrap(),
            valid_until: NaiveDate::from_ymd_opt(2026, 12, 28).unwrap(),
        }
    }

    fn keys(k: &SigningKey) -> impl Fn(u16) -> Option<VerifyingKey> + '_ {
        move |id| (id == 1).then(|| k.verifying_key())
    }

    #[test]
    fn round_trip_and_alphanumeric() {
        let k = key(1);
        let p = claims().sign(&k).unwrap();
        assert!(p.starts_with("GP1:"));
        // QR alphanumeric set: 0-9 A-Z space $ % * + - . / :
        assert!(p.chars().all(|c| c.is_ascii_digit() || c.is_ascii_uppercase() || " $%*+-./:".contains(c)));
        assert_eq!(p.len(), 4 + 132);
        assert_eq!(verify(&p, 0xC0FFEE, keys(&k)).unwrap(), claims());
        // scanners append line endings
        assert_eq!(verify(&format!("{p}\r\n"), 0xC0FFEE, keys(&k)).unwrap(), claims());
    }

    #[test]
    fn refuses_wrong_community_key_and_signer() {
        let k = key(1);
        let p = claims().sign(&k).unwrap();
        assert_eq!(verify(&p, 1, keys(&k)), Err(PassError::WrongCommunity));
        assert_eq!(verify(&p, 0xC0FFEE, |_| None), Err(PassError::UnknownKey));
        let other = key(2);
        assert_eq!(verify(&p, 0xC0FFEE, keys(&other)), Err(PassError::BadSignature));
    }

    #[test]
    fn refuses_garbage() {
        let k = key(1);
        for junk in ["", "GP1:", "GP1:ABC", "hello", "GP2:AAAA", "GP1:::::", "GP1:\u{1F600}"] {
            assert_eq!(verify(junk, 0xC0FFEE, keys(&k)), Err(PassError::Malformed), "{junk}");
        }
    }

    #[test]
    fn visitor_kind_round_trips_and_is_not_a_resident_pass() {
        let k = key(1);
        let c = PassClaims { kind: PassKind::Visitor, resident_id: ResidentId(0), ..claims() };
        let p = c.sign(&k).unwrap();
        assert_eq!(verify(&p, 0xC0FFEE, keys(&k)).unwrap().kind, PassKind::Visitor);
        assert_ne!(p, claims().sign(&k).unwrap());
        assert_eq!(verify(&p, 1, keys(&k)), Err(PassError::WrongCommunity));
    }

    #[test]
    fn refuses_inverted_dates() {
        let mut c = claims();
        c.valid_until = NaiveDate::from_ymd_opt(2026, 1, 1).unwrap();
        assert!(c.sign(&key(1)).is_err());
    }

    proptest! {
        #[test]
        fn any_byte_change_fails(idx in 0usize..88, flip in 1u8..=255) {
            let k = key(1);
            let p = claims().sign(&k).unwrap();
            let mut raw = base45::decode(&p[4..]).unwrap();
            raw[idx] ^= flip;
            let forged = format!("GP1:{}", base45::encode(&raw));
            prop_assert!(verify(&forged, 0xC0FFEE, keys(&k)).is_err());
        }

        #[test]
        fn any_text_never_panics(s in ".{0,200}") {
            let k = key(1);
            let _ = verify(&s, 0xC0FFEE, keys(&k));
            let with_prefix = format!("GP1:{s}");
            let _ = verify(&with_prefix, 0xC0FFEE, keys(&k));
        }
    }
}
