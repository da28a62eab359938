//! The other gates of the community over HTTP: a new gate joins here
//! (`POST /api/v1/join`, proven by the one-time code, no login), and guards
//! see which gates this one knows (`GET /api/v1/peers`).

use super::auth::GuardAccess;
use super::error::{ApiError, ApiJson};
use super::AppState;
use crate::domain::join::{JoinAnswer, JoinRequest};
use axum::extract::{ConnectInfo, State};
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::Utc;
use std::net::SocketAddr;

pub fn router() -> Router<AppState> {
    Router::new().route("/api/v1/join", post(join)).route("/api/v1/peers", get(peers))
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
    let list = state.reader()?.peers()?;
    Ok(Json(serde_json::json!({"peers": list})))
}
