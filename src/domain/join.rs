//! Joining a new gate to a community: the one-time code and the proofs
//! that travel instead of it.
//!
//! `gate add` on the community's first directory makes a short code the
//! committee reads out or sends to whoever sets up the new Pi. The code
//! itself never crosses the network: the new gate proves it knows it with
//! an HMAC over its request (name, address, key, the token the first gate
//! will call it with), and the first gate proves its answer (the community's
//! public keys, the register) with an HMAC over the answer. Someone who
//! only watches or alters the LAN traffic cannot join, nor feed the new
//! gate another community. A code is single use and short lived.

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

/// No I, L, O, 0 or 1: read aloud or copied by hand without mistakes.
const ALPHABET: &[u8] = b"ABCDEFGHJKMNPQRSTUVWXYZ23456789";
/// 12 symbols of 31: about 59 bits, for a code that lives minutes and
/// works once.
pub const CODE_LEN: usize = 12;

/// A code from 12 random bytes, shown as `XXXX-XXXX-XXXX`.
pub fn new_code(random: &[u8; CODE_LEN]) -> String {
    let mut out = String::with_capacity(CODE_LEN + 2);
    for (i, b) in random.iter().enumerate() {
        if i > 0 && i % 4 == 0 {
            out.push('-');
        }
        // 256 % 31 leaves a slight bias toward the first symbols; a
        // short-lived single-use code does not care
        let sym = ALPHABET.get(usize::from(*b) % ALPHABET.len()).copied().unwrap_or(b'A');
        out.push(char::from(sym));
    }
    out
}

/// The code as typed (any case, dashes or spaces anywhere) in its one
/// canonical form, or None if it cannot be a code.
pub fn normalise_code(typed: &str) -> Option<String> {
    let s: String = typed.chars().filter(|c| !matches!(c, '-' | ' ')).map(|c| c.to_ascii_uppercase()).collect();
    (s.len() == CODE_LEN && s.bytes().all(|b| ALPHABET.contains(&b))).then_some(s)
}

/// What is stored of a code: its SHA-256 (the code itself is never kept).
pub fn code_hash(code: &str) -> String {
    hex::encode(Sha256::digest(code.as_bytes()))
}

/// What a joining gate sends.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct JoinRequest {
    /// The new gate's name, as given to `gate add`.
    pub gate: String,
    /// Where the other gates reach it, e.g. `http://10.0.3.8:8080`.
    pub advertise: String,
    /// Its gate public key (hex).
    pub gate_key: String,
    /// The token the first gate will present when it calls the new gate.
    pub peer_token: String,
    /// HMAC-SHA256 keyed with the code over the fields above (hex).
    pub proof: String,
}

/// HMAC keyed with the code's hash ([`code_hash`]): the first gate keeps
/// only that, and the new gate computes it from the code it was given. The
/// key sits in a block-size buffer, so the infallible constructor applies.
fn mac(hash_hex: &str) -> Hmac<Sha256> {
    let mut key = [0u8; 64];
    for (k, d) in key.iter_mut().zip(hex::decode(hash_hex).unwrap_or_default()) {
        *k = d;
    }
    <Hmac<Sha256> as hmac::digest::KeyInit>::new(&key.into())
}

fn request_message(gate: &str, advertise: &str, gate_key: &str, peer_token: &str) -> Vec<u8> {
    let mut m = b"gatepass-join-request-v1".to_vec();
    for f in [gate, advertise, gate_key, peer_token] {
        // NUL cannot be inside a field (names are checked text, the rest
        // are hex, URLs and tokens), so fields cannot run into each other
        m.push(0);
        m.extend_from_slice(f.as_bytes());
    }
    m
}

impl JoinRequest {
    /// Made by the new gate from the code it was given.
    pub fn signed(code: &str, gate: &str, advertise: &str, gate_key: &str, peer_token: &str) -> JoinRequest {
        let mut m = mac(&code_hash(code));
        m.update(&request_message(gate, advertise, gate_key, peer_token));
        JoinRequest {
            gate: gate.into(),
            advertise: advertise.into(),
            gate_key: gate_key.into(),
            peer_token: peer_token.into(),
            proof: hex::encode(m.finalize().into_bytes()),
        }
    }

    /// Whether the sender knew the code whose hash is `hash_hex` (constant time).
    pub fn proves(&self, hash_hex: &str) -> bool {
        let Ok(proof) = hex::decode(&self.proof) else { return false };
        let mut m = mac(hash_hex);
        m.update(&request_message(&self.gate, &self.advertise, &self.gate_key, &self.peer_token));
        m.verify_slice(&proof).is_ok()
    }
}

/// The first gate's answer: `body` is JSON text, `proof` the HMAC keyed
/// with the code over exactly those bytes (checked before it is parsed).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct JoinAnswer {
    pub body: String,
    pub proof: String,
}

fn answer_message(body: &str) -> Vec<u8> {
    let mut m = b"gatepass-join-answer-v1\0".to_vec();
    m.extend_from_slice(body.as_bytes());
    m
}

impl JoinAnswer {
    /// Made by the first gate with the stored hash of the code.
    pub fn signed(hash_hex: &str, body: String) -> JoinAnswer {
        let mut m = mac(hash_hex);
        m.update(&answer_message(&body));
        JoinAnswer { proof: hex::encode(m.finalize().into_bytes()), body }
    }

    /// Checked by the new gate with the code it was given.
    pub fn proves(&self, code: &str) -> bool {
        let Ok(proof) = hex::decode(&self.proof) else { return false };
        let mut m = mac(&code_hash(code));
        m.update(&answer_message(&self.body));
        m.verify_slice(&proof).is_ok()
    }
}

/// The headers of a request signed by another gate's key: its name (hex of
/// the UTF-8, so the header stays ASCII), the time (ms) and the signature.
pub const PEER_GATE: &str = "x-gatepass-gate";
pub const PEER_AT: &str = "x-gatepass-at";
pub const PEER_SIG: &str = "x-gatepass-sig";

/// How far a signed peer request's time may be from the answering gate's
/// clock (gates keep their clocks within seconds of each other).
pub const PEER_REQUEST_WINDOW_MS: i64 = 60_000;

/// What a gate signs to call another gate it learned from the committee's
/// state: the gate it calls (so the request is no good at any other), the
/// path and query, and the time (so it is no good for long).
fn peer_request_message(audience: &str, path_and_query: &str, at_ms: i64) -> Vec<u8> {
    let mut m = b"gatepass-peer-request-v1\0".to_vec();
    for part in [audience, path_and_query] {
        m.extend_from_slice(&(part.len() as u64).to_be_bytes());
        m.extend_from_slice(part.as_bytes());
    }
    m.extend_from_slice(&at_ms.to_be_bytes());
    m
}

/// The signature (hex) a gate sends with a request to `audience`.
pub fn sign_peer_request(key: &ed25519_dalek::SigningKey, audience: &str, path_and_query: &str, at_ms: i64) -> String {
    use ed25519_dalek::Signer;
    hex::encode(key.sign(&peer_request_message(audience, path_and_query, at_ms)).to_bytes())
}

/// Whether a request signed by `key` is for this gate (`audience`), this
/// path, and recent.
pub fn check_peer_request(
    key: &ed25519_dalek::VerifyingKey,
    audience: &str,
    path_and_query: &str,
    at_ms: i64,
    sig_hex: &str,
    now_ms: i64,
) -> bool {
    use ed25519_dalek::Verifier;
    if (now_ms - at_ms).abs() > PEER_REQUEST_WINDOW_MS {
        return false;
    }
    let Some(sig) = hex::decode(sig_hex).ok().and_then(|b| <[u8; 64]>::try_from(b.as_slice()).ok()) else {
        return false;
    };
    key.verify(&peer_request_message(audience, path_and_query, at_ms), &ed25519_dalek::Signature::from_bytes(&sig))
        .is_ok()
}

/// An address other gates can call: `http(s)://host[:port]`, nothing after.
pub fn check_advertise(url: &str) -> Result<String, String> {
    let u = url.trim().trim_end_matches('/');
    let rest = u
        .strip_prefix("http://")
        .or_else(|| u.strip_prefix("https://"))
        .ok_or_else(|| format!("--advertise '{u}' must start with http:// or https://"))?;
    let plain = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']');
    if rest.is_empty() || rest.len() > 255 || !rest.chars().all(plain) {
        return Err(format!(
            "--advertise '{u}' must be http(s)://HOST[:PORT] with nothing after, e.g. http://10.0.3.8:8080"
        ));
    }
    Ok(u.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_read_back_however_they_are_typed() {
        let code = new_code(&[0, 1, 2, 3, 30, 31, 62, 255, 128, 7, 8, 9]);
        assert_eq!(code.len(), 14);
        assert_eq!(code.matches('-').count(), 2);
        let canon = normalise_code(&code).unwrap();
        assert_eq!(normalise_code(&code.to_lowercase().replace('-', " ")), Some(canon.clone()));
        assert_eq!(canon.len(), CODE_LEN);
        assert!(!canon.contains(['I', 'L', 'O', '0', '1']));
        assert_eq!(normalise_code("ABCD-EFGH-JKM"), None, "too short");
        assert_eq!(normalise_code("ABCD-EFGH-JKM0"), None, "0 is not a symbol");
        assert_eq!(normalise_code(""), None);
        assert_ne!(code_hash(&canon), canon);
    }

    #[test]
    fn a_request_proves_the_code_and_every_field() {
        let h = code_hash("ABCDEFGHJKMN");
        let r = JoinRequest::signed("ABCDEFGHJKMN", "西门", "http://10.0.0.8:8080", "aa", "gpt_x");
        assert!(r.proves(&h));
        assert!(!r.proves(&code_hash("ABCDEFGHJKMP")), "another code");
        for tamper in [
            |r: &mut JoinRequest| r.gate = "北门".into(),
            |r: &mut JoinRequest| r.advertise = "http://evil:1".into(),
            |r: &mut JoinRequest| r.gate_key = "bb".into(),
            |r: &mut JoinRequest| r.peer_token = "gpt_y".into(),
            |r: &mut JoinRequest| r.proof = "zz".into(),
        ] {
            let mut t = r.clone();
            tamper(&mut t);
            assert!(!t.proves(&h), "{t:?}");
        }
        // fields cannot be shifted into each other
        let a = JoinRequest::signed("ABCDEFGHJKMN", "ab", "c", "k", "t");
        let b = JoinRequest { gate: "a".into(), advertise: "bc".into(), ..a.clone() };
        assert!(!b.proves(&h));
    }

    #[test]
    fn an_answer_is_believed_only_with_the_code() {
        let a = JoinAnswer::signed(&code_hash("ABCDEFGHJKMN"), "{\"community\":\"x\"}".into());
        assert!(a.proves("ABCDEFGHJKMN"));
        let forged = JoinAnswer { body: "{\"community\":\"y\"}".into(), ..a.clone() };
        assert!(!forged.proves("ABCDEFGHJKMN"));
        assert!(!a.proves("ABCDEFGHJKMP"));
    }

    #[test]
    fn advertised_addresses_are_plain() {
        assert_eq!(check_advertise("http://10.0.0.8:8080/").unwrap(), "http://10.0.0.8:8080");
        assert!(check_advertise("https://gate-west.local").is_ok());
        assert!(check_advertise("10.0.0.8:8080").is_err());
        assert!(check_advertise("http://10.0.0.8/x").is_err());
        assert!(check_advertise("http://").is_err());
        assert!(check_advertise("http://a\"b").is_err());
    }

    #[test]
    fn a_signed_peer_request_is_good_only_for_its_gate_path_and_time() {
        let k = ed25519_dalek::SigningKey::from_bytes(&[4; 32]);
        let pk = k.verifying_key();
        let now = 1_800_000_000_000;
        let sig = sign_peer_request(&k, "北门", "/api/v1/peer/chains", now);
        assert!(check_peer_request(&pk, "北门", "/api/v1/peer/chains", now, &sig, now + 5_000));
        // replayed at another gate, for another path, or too late
        assert!(!check_peer_request(&pk, "西门", "/api/v1/peer/chains", now, &sig, now));
        assert!(!check_peer_request(&pk, "北门", "/api/v1/peer/events?gate=x", now, &sig, now));
        assert!(!check_peer_request(&pk, "北门", "/api/v1/peer/chains", now, &sig, now + PEER_REQUEST_WINDOW_MS + 1));
        // by another key
        let other = ed25519_dalek::SigningKey::from_bytes(&[5; 32]).verifying_key();
        assert!(!check_peer_request(&other, "北门", "/api/v1/peer/chains", now, &sig, now));
        assert!(!check_peer_request(&pk, "北门", "/api/v1/peer/chains", now, "zz", now));
    }
}
