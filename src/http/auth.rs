//! Who is calling: a bearer token (scripts, the district) or a page session
//! cookie (people). Roles are extractor types, so a handler's signature says
//! who may call it; a wrong role is refused before the handler runs.

use super::error::ApiError;
use super::AppState;
use crate::auth::{self, Role};
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use std::collections::HashMap;
use std::marker::PhantomData;
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub const SESSION_COOKIE: &str = "gp_session";
const SESSION_TTL: Duration = Duration::from_secs(12 * 3600);

#[derive(Debug, Clone)]
pub struct Principal {
    pub role: Role,
    pub name: String,
}

impl Principal {
    /// How this caller appears in the audit trail.
    pub fn actor(&self) -> String {
        format!("{}:{}", self.role.as_str(), self.name)
    }
}

pub trait Allowed {
    const ROLES: &'static [Role];
}

pub struct Access<A: Allowed>(pub Principal, PhantomData<A>);

impl<A: Allowed> Access<A> {
    pub fn principal(&self) -> &Principal {
        &self.0
    }
}

pub struct GuardRoles;
impl Allowed for GuardRoles {
    const ROLES: &'static [Role] = &[Role::Guard, Role::Committee];
}
pub struct CommitteeRoles;
impl Allowed for CommitteeRoles {
    const ROLES: &'static [Role] = &[Role::Committee];
}
pub struct ReaderRoles;
impl Allowed for ReaderRoles {
    const ROLES: &'static [Role] = &[Role::Committee, Role::District];
}
pub struct AnyRole;
impl Allowed for AnyRole {
    const ROLES: &'static [Role] = &[Role::Guard, Role::Committee, Role::District];
}

/// Scan, read who is out.
pub type GuardAccess = Access<GuardRoles>;
/// Everything about the community.
pub type CommitteeAccess = Access<CommitteeRoles>;
/// Read events and reports.
pub type ReaderAccess = Access<ReaderRoles>;
pub type AnyAccess = Access<AnyRole>;

impl<A: Allowed> FromRequestParts<AppState> for Access<A> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let p = principal(parts, state)?;
        if A::ROLES.contains(&p.role) {
            Ok(Access(p, PhantomData))
        } else {
            Err(ApiError::Forbidden)
        }
    }
}

fn principal(parts: &Parts, state: &AppState) -> Result<Principal, ApiError> {
    if let Some(h) = parts.headers.get(axum::http::header::AUTHORIZATION) {
        let text = h.to_str().map_err(|_| ApiError::Unauthorized)?;
        // the scheme is case-insensitive (RFC 9110)
        let (scheme, token) = text.trim().split_once(' ').ok_or(ApiError::Unauthorized)?;
        if !scheme.eq_ignore_ascii_case("bearer") {
            return Err(ApiError::Unauthorized);
        }
        let hash = auth::token_hash(token);
        let found = state.reader()?.token_role(&hash)?;
        let (role, name) = found.ok_or(ApiError::Unauthorized)?;
        let role = role.parse().map_err(|_| ApiError::Unauthorized)?;
        return Ok(Principal { role, name: if name.is_empty() { format!("token-{}", &hash[..8]) } else { name } });
    }
    if let Some(sid) = session_cookie(parts) {
        if let Some(p) = state.inner.sessions.get(&sid) {
            return Ok(p);
        }
    }
    Err(ApiError::Unauthorized)
}

pub fn session_cookie(parts: &Parts) -> Option<String> {
    parts
        .headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == SESSION_COOKIE)
        .map(|(_, v)| v.to_string())
}

/// Page sessions, kept in memory (a restart logs everyone out), stored by
/// the hash of the cookie value.
#[derive(Default)]
pub struct Sessions {
    map: Mutex<HashMap<String, (Principal, Instant)>>,
}

impl Sessions {
    pub fn create(&self, p: Principal) -> String {
        let sid = auth::new_token();
        if let Ok(mut m) = self.map.lock() {
            m.retain(|_, (_, t)| t.elapsed() < SESSION_TTL);
            m.insert(auth::token_hash(&sid), (p, Instant::now()));
        }
        sid
    }

    pub fn get(&self, sid: &str) -> Option<Principal> {
        let m = self.map.lock().ok()?;
        m.get(&auth::token_hash(sid)).filter(|(_, t)| t.elapsed() < SESSION_TTL).map(|(p, _)| p.clone())
    }

    pub fn remove(&self, sid: &str) {
        if let Ok(mut m) = self.map.lock() {
            m.remove(&auth::token_hash(sid));
        }
    }
}

/// Login attempts per user name and per client address: after 5 failures in
/// a minute, further attempts are refused until the minute has passed.
#[derive(Default)]
pub struct LoginLimiter {
    map: Mutex<HashMap<String, (u32, Instant)>>,
}

const MAX_FAILURES: u32 = 5;
const WINDOW: Duration = Duration::from_secs(60);

impl LoginLimiter {
    pub fn blocked(&self, keys: &[&str]) -> bool {
        let Ok(m) = self.map.lock() else { return true };
        keys.iter().any(|k| m.get(*k).is_some_and(|(n, t)| *n >= MAX_FAILURES && t.elapsed() < WINDOW))
    }

    pub fn failed(&self, keys: &[&str]) {
        if let Ok(mut m) = self.map.lock() {
            for k in keys {
                let e = m.entry((*k).to_string()).or_insert((0, Instant::now()));
                if e.1.elapsed() >= WINDOW {
                    *e = (0, Instant::now());
                }
                e.0 += 1;
            }
        }
    }

    pub fn succeeded(&self, keys: &[&str]) {
        if let Ok(mut m) = self.map.lock() {
            for k in keys {
                m.remove(*k);
            }
        }
    }
}
