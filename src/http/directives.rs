//! The district's directives at the gate (issue 13): `POST
//! /api/v1/directives` takes them from a district that reaches the gate
//! (district token, after its pull); `GET /api/v1/directives` lists what
//! arrived and what was done with each (committee). A pushing gate gets
//! them in its push replies instead (`daemon::push`).

use super::auth::{CommitteeAccess, ReaderAccess};
use super::error::{ApiError, ApiJson};
use super::AppState;
use crate::auth::Role;
use crate::domain::directive::Directive;
use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;

/// Directives taken in one call.
const MAX_PER_CALL: usize = 200;

pub fn router() -> Router<AppState> {
    Router::new().route("/api/v1/directives", get(list).post(receive))
}

#[derive(Debug, Deserialize)]
struct Body {
    directives: Vec<Directive>,
}

async fn receive(
    State(state): State<AppState>,
    who: ReaderAccess,
    ApiJson(body): ApiJson<Body>,
) -> Result<Json<serde_json::Value>, ApiError> {
    if who.principal().role != Role::District {
        return Err(ApiError::Forbidden);
    }
    if body.directives.len() > MAX_PER_CALL {
        return Err(ApiError::BadRequest(format!("at most {MAX_PER_CALL} directives per call")));
    }
    let results = apply_all(&state, body.directives, "pull").await?;
    Ok(Json(serde_json::json!({ "results": results })))
}

/// Applies each directive on the writer thread; the answers in order, as
/// `{"id", "result"}` (what the district records per gate).
pub async fn apply_all(
    state: &AppState,
    directives: Vec<Directive>,
    via: &'static str,
) -> Result<Vec<serde_json::Value>, ApiError> {
    let results = state
        .inner
        .writer
        .run(move |g| {
            let now = chrono::Utc::now();
            directives
                .iter()
                .map(|d| {
                    g.apply_directive(d, via, now)
                        .map(|r| serde_json::json!({"id": d.body.id.chars().take(64).collect::<String>(), "result": r}))
                })
                .collect::<Result<Vec<_>, _>>()
        })
        .await??;
    Ok(results)
}

async fn list(State(state): State<AppState>, _who: CommitteeAccess) -> Result<Json<serde_json::Value>, ApiError> {
    let rows = state.inner.writer.run(|g| g.received_directives(200)).await??;
    Ok(Json(serde_json::json!({ "directives": rows })))
}
