//! Who is calling: a bearer token (scripts, the district) or a page session
//! cookie (people). Roles are extractor types, so a handler's signature says
//! who may call it; a wrong role is refused before the handler runs.
//!
//! A credential is checked against the database on every request, so a
//! change made by another process (`gatepass token revoke`, `user add`,
//! `user remove`) holds at once: a revoked token stops working, and a page
//! session ends when its user's role or password changes or the user goes.

use super::error::ApiError;
use super::AppState;
use crate::auth::{self, Role};
use crate::web;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use std::collections::HashMap;
use std::marker::PhantomData;
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub use crate::web::LoginLimiter;

pub const SESSION_COOKIE: &str = "gp_session";
pub const SESSION_TTL: Duration = Duration::from_secs(12 * 3600);
/// Page sessions held at most; the oldest goes first.
const MAX_SESSIONS: usize = 1024;

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

/// What a caller showed, kept so long-lived answers (the live stream) can
/// check it again.
#[derive(Debug, Clone)]
pub enum Credential {
    /// SHA-256 of a bearer token.
    Token(String),
    /// A page session cookie.
    Session(String),
}

pub trait Allowed {
    const ROLES: &'static [Role];
}

pub struct Access<A: Allowed>(pub Principal, pub Credential, PhantomData<A>);

impl<A: Allowed> Access<A> {
    pub fn principal(&self) -> &Principal {
        &self.0
    }

    pub fn credential(&self) -> &Credential {
        &self.1
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
    const ROLES: &'static [Role] = &[Role::Guard, Role::Committee, Role::District, Role::Volunteer];
}
/// Follow-up visits (issue 12).
pub struct VolunteerRoles;
impl Allowed for VolunteerRoles {
    const ROLES: &'static [Role] = &[Role::Volunteer, Role::Committee];
}
pub type VolunteerAccess = Access<VolunteerRoles>;

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
        let cred = credential(parts)?;
        let p = check(state, &cred)?;
        if A::ROLES.contains(&p.role) {
            Ok(Access(p, cred, PhantomData))
        } else {
            Err(ApiError::Forbidden)
        }
    }
}

fn credential(parts: &Parts) -> Result<Credential, ApiError> {
    match web::bearer_token(&parts.headers) {
        Ok(Some(token)) => return Ok(Credential::Token(auth::token_hash(token))),
        Ok(None) => {}
        Err(_) => return Err(ApiError::Unauthorized),
    }
    session_cookie(parts).map(Credential::Session).ok_or(ApiError::Unauthorized)
}

/// Who a credential belongs to now, read from the database.
pub fn check(state: &AppState, cred: &Credential) -> Result<Principal, ApiError> {
    match cred {
        Credential::Token(hash) => {
            let found = state.reader()?.token_role(hash)?;
            let (role, name) = found.ok_or(ApiError::Unauthorized)?;
            let role = role.parse().map_err(|_| ApiError::Unauthorized)?;
            let name = if name.is_empty() { format!("token-{}", hash.get(..8).unwrap_or(hash)) } else { name };
            Ok(Principal { role, name })
        }
        Credential::Session(sid) => {
            let s = state.inner.sessions.get(sid).ok_or(ApiError::Unauthorized)?;
            let now = state.reader()?.user(&s.principal.name)?;
            // the same role and the same password hash as at login, or the
            // session is over
            match now {
                Some((role, hash)) if role == s.principal.role.as_str() && hash == s.password_hash => Ok(s.principal),
                _ => {
                    state.inner.sessions.remove(sid);
                    Err(ApiError::Unauthorized)
                }
            }
        }
    }
}

pub fn session_cookie(parts: &Parts) -> Option<String> {
    web::cookie_value(&parts.headers, SESSION_COOKIE).map(str::to_string)
}

#[derive(Debug, Clone)]
pub struct Session {
    pub principal: Principal,
    /// The user's password hash at login: a new password ends the session.
    pub password_hash: String,
    created: Instant,
}

/// Page sessions, kept in memory (a restart logs everyone out), stored by
/// the hash of the cookie value.
pub struct Sessions {
    map: Mutex<HashMap<String, Session>>,
    /// Bumped when a credential is revoked here, so open streams check
    /// theirs at once rather than at their next periodic check.
    changed: tokio::sync::watch::Sender<u64>,
}

impl Default for Sessions {
    fn default() -> Self {
        Sessions { map: Mutex::new(HashMap::new()), changed: tokio::sync::watch::channel(0).0 }
    }
}

impl Sessions {
    pub fn create(&self, principal: Principal, password_hash: String) -> String {
        let sid = auth::new_token();
        if let Ok(mut m) = self.map.lock() {
            m.retain(|_, s| s.created.elapsed() < SESSION_TTL);
            if m.len() >= MAX_SESSIONS {
                if let Some(oldest) = m.iter().min_by_key(|(_, s)| s.created).map(|(k, _)| k.clone()) {
                    m.remove(&oldest);
                }
            }
            m.insert(auth::token_hash(&sid), Session { principal, password_hash, created: Instant::now() });
        }
        sid
    }

    pub fn get(&self, sid: &str) -> Option<Session> {
        let m = self.map.lock().ok()?;
        m.get(&auth::token_hash(sid)).filter(|s| s.created.elapsed() < SESSION_TTL).cloned()
    }

    pub fn remove(&self, sid: &str) {
        if let Ok(mut m) = self.map.lock() {
            m.remove(&auth::token_hash(sid));
        }
        self.bump();
    }

    /// Tells open streams to check their credential now.
    pub fn bump(&self) {
        self.changed.send_modify(|n| *n = n.wrapping_add(1));
    }

    pub fn subscribe(&self) -> tokio::sync::watch::Receiver<u64> {
        self.changed.subscribe()
    }
}
