//! The other gates of the community over HTTP: a new gate joins here
//! (`POST /api/v1/join`, proven by the one-time code, no login), and guards
//! see which gates this one knows (`GET /api/v1/peers`).

use super::auth::GuardAccess;
use super::error::{ApiError, ApiJson};
use super::AppState;
use crate::domain::join::{self, JoinAnswer, JoinRequest};
use axum::extract::{ConnectInfo, State};
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::Utc;
use std::net::SocketAddr;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/join", post(join))
        .route("/api/v1/peers", get(peers))
        .route("/api/v1/peer/chains", get(chains))
        .route("/api/v1/peer/events", get(peer_events))
        .route("/api/v1/peer/committee", get(committee))
        .route("/api/v1/conflicts", get(conflicts))
}

/// What two gates that could not see each other together let through.
async fn conflicts(
    State(state): State<AppState>,
    _c: super::auth::CommitteeAccess,
) -> Result<Json<serde_json::Value>, ApiError> {
    let list = state.reader()?.conflicts(500)?;
    Ok(Json(serde_json::json!({"conflicts": list})))
}

#[derive(Debug, serde::Deserialize)]
struct CommitteeQuery {
    /// The newest committee record the caller holds.
    #[serde(default)]
    after: u64,
    /// The record the caller's tables are at.
    #[serde(default)]
    have: u64,
}

/// (first directory) The committee records the caller lacks and, once they
/// reach the newest, the state there.
async fn committee(
    State(state): State<AppState>,
    _p: PeerAccess,
    super::error::ApiQuery(q): super::error::ApiQuery<CommitteeQuery>,
) -> Result<Json<crate::gate::community::CommitteeFeed>, ApiError> {
    let feed = state.inner.writer.run(move |g| g.committee_feed(q.after, q.have, Utc::now())).await??;
    Ok(Json(feed))
}

/// Another gate of the community, by the token this gate gave it at the
/// join (checked in the database on every call: a removed gate is out at
/// once).
pub struct PeerAccess(pub String);

impl axum::extract::FromRequestParts<AppState> for PeerAccess {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut axum::http::request::Parts, state: &AppState) -> Result<Self, ApiError> {
        // the first gate and a gate joined to it: the token the other made
        if let Some(token) = crate::web::bearer_token(&parts.headers).ok().flatten() {
            let gate = state.reader()?.peer_by_token(&crate::auth::token_hash(token))?;
            return gate.map(PeerAccess).ok_or(ApiError::Unauthorized);
        }
        // two joined gates: a request signed by the caller's gate key, as the
        // committee's state lists it, for this gate, this path, and recent
        let header = |name: &str| parts.headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_string);
        let (Some(gate), Some(at), Some(sig)) =
            (header(join::PEER_GATE), header(join::PEER_AT), header(join::PEER_SIG))
        else {
            return Err(ApiError::Unauthorized);
        };
        let gate = hex::decode(gate).ok().and_then(|b| String::from_utf8(b).ok()).ok_or(ApiError::Unauthorized)?;
        let at: i64 = at.parse().map_err(|_| ApiError::Unauthorized)?;
        let key = state.reader()?.active_peer_key(&gate)?.and_then(|k| crate::export::parse_key(&k));
        let path = parts.uri.path_and_query().map(|p| p.as_str()).unwrap_or("");
        let now = chrono::Utc::now().timestamp_millis();
        match key {
            Some(k) if crate::domain::join::check_peer_request(&k, &state.inner.identity.gate, path, at, &sig, now) => {
                Ok(PeerAccess(gate))
            }
            _ => Err(ApiError::Unauthorized),
        }
    }
}

/// The chains this gate can hand out: its own, and every other gate's it holds.
async fn chains(State(state): State<AppState>, p: PeerAccess) -> Result<Json<serde_json::Value>, ApiError> {
    tracing::debug!(peer = %p.0, "a peer asks for the chains held here");
    let store = state.reader()?;
    let own = store.head()?.0;
    let held = store.held_chains()?;
    Ok(Json(serde_json::json!({
        "gate": state.inner.identity.gate,
        "gate_key": state.inner.gate_key_hex,
        "head": own,
        "chains": held,
    })))
}

#[derive(Debug, serde::Deserialize)]
struct PeerEventsQuery {
    gate: String,
    #[serde(default)]
    after: u64,
    limit: Option<u32>,
}

/// A page of one gate's chain (this gate's own, or one it holds).
const PEER_PAGE: u32 = 1000;

async fn peer_events(
    State(state): State<AppState>,
    _p: PeerAccess,
    super::error::ApiQuery(q): super::error::ApiQuery<PeerEventsQuery>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let limit = q.limit.unwrap_or(PEER_PAGE).min(PEER_PAGE);
    let after = q.after.min(i64::MAX as u64);
    let store = state.reader()?;
    let (events, head) = if q.gate == state.inner.identity.gate {
        (store.events_after(after, limit)?, store.head()?.0)
    } else {
        (store.peer_events_after(&q.gate, after, limit)?, store.peer_head(&q.gate)?.0)
    };
    Ok(Json(serde_json::json!({"gate": q.gate, "head": head, "events": events})))
}

/// Proven by the code, not a login; failures count against the caller's
/// address like failed logins, so codes cannot be guessed at speed.
async fn join(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    ApiJson(req): ApiJson<JoinRequest>,
) -> Result<Json<JoinAnswer>, ApiError> {
    let key = format!("join:{}", peer.ip());
    let keys = [key.as_str()];
    if state.inner.logins.blocked(&keys) {
        return Err(ApiError::TooManyRequests);
    }
    match state.inner.writer.run(move |g| g.accept_join(&req, Utc::now())).await? {
        Ok(answer) => {
            state.inner.logins.succeeded(&keys);
            Ok(Json(answer))
        }
        Err(e) => {
            state.inner.logins.failed(&keys);
            Err(e.into())
        }
    }
}

async fn peers(State(state): State<AppState>, _g: GuardAccess) -> Result<Json<serde_json::Value>, ApiError> {
    let store = state.reader()?;
    let list = store.peers()?;
    let chains = store.held_chains()?;
    Ok(Json(serde_json::json!({"peers": list, "chains": chains})))
}
