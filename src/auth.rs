//! Secrets: API tokens (random, shown once, stored as SHA-256), page
//! passwords (argon2id), and the roles they carry. Everything that touches a
//! secret is here, so it can be read in one sitting.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use base64::Engine;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Guard,
    Committee,
    District,
    /// Home-quarantine follow-up visits (issue 12).
    Volunteer,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Guard => "guard",
            Role::Committee => "committee",
            Role::District => "district",
            Role::Volunteer => "volunteer",
        }
    }
}

impl std::str::FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "guard" => Ok(Role::Guard),
            "committee" => Ok(Role::Committee),
            "district" => Ok(Role::District),
            "volunteer" => Ok(Role::Volunteer),
            _ => Err(format!("role '{s}' must be guard, committee, district or volunteer")),
        }
    }
}

const TOKEN_PREFIX: &str = "gpt_";

/// A new API token: 32 random bytes, URL-safe, with a recognisable prefix
/// so a leaked one is easy to grep for.
pub fn new_token() -> String {
    let mut b = [0u8; 32];
    crate::store::getrandom(&mut b);
    format!("{TOKEN_PREFIX}{}", base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b))
}

/// Tokens carry 256 bits of entropy, so a fast hash is enough: the stored
/// hash cannot be turned back into a token. A token is checked by looking
/// its hash up, never by comparing it with stored tokens, so the time a
/// check takes depends only on the SHA-256 of the guess, which tells an
/// attacker nothing about any real token (the same reasoning makes this a
/// constant-time check in effect).
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.trim().as_bytes()))
}

pub fn hash_password(password: &str) -> Result<String, String> {
    let mut salt = [0u8; 16];
    crate::store::getrandom(&mut salt);
    let salt = SaltString::encode_b64(&salt).map_err(|e| e.to_string())?;
    Argon2::default().hash_password(password.as_bytes(), &salt).map(|h| h.to_string()).map_err(|e| e.to_string())
}

pub fn verify_password(password: &str, stored: &str) -> bool {
    match PasswordHash::new(stored) {
        Ok(h) => Argon2::default().verify_password(password.as_bytes(), &h).is_ok(),
        Err(_) => false,
    }
}

/// A hash to compare against when the user does not exist, so a wrong name
/// costs as much time as a wrong password.
pub fn dummy_password_check(password: &str) {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let h = DUMMY.get_or_init(|| hash_password("not a password").unwrap_or_default());
    let _ = verify_password(password, h);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_unique_and_hashed() {
        let a = new_token();
        let b = new_token();
        assert_ne!(a, b);
        assert!(a.starts_with("gpt_") && a.len() > 40);
        assert_eq!(token_hash(&a), token_hash(&format!(" {a}\n")));
        assert_ne!(token_hash(&a), token_hash(&b));
    }

    #[test]
    fn passwords() {
        let h = hash_password("1234 五").unwrap();
        assert!(h.starts_with("$argon2"));
        assert!(verify_password("1234 五", &h));
        assert!(!verify_password("1235", &h));
        assert!(!verify_password("x", "garbage"));
    }
}
