//! The one place errors become HTTP answers. Clients get a stable code and
//! a message a guard can act on; internal details go to the log only.

use crate::gate::GateError;
use crate::store::StoreError;
use crate::writer::WriterError;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;

#[derive(Debug)]
pub enum ApiError {
    Unauthorized,
    Forbidden,
    BadRequest(String),
    NotFound(String),
    TooManyRequests,
    /// The entry log cannot be written: no decision can be given.
    LogUnavailable(String),
    /// The committee's saved rules cannot be read (scans are refused with
    /// `record_unreadable` meanwhile); saving the rules again repairs it.
    PolicyUnreadable(String),
    Internal,
}

impl ApiError {
    fn parts(&self) -> (StatusCode, &'static str, String) {
        match self {
            ApiError::Unauthorized => (
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "log in, or send Authorization: Bearer TOKEN (create one with `gatepass token create`)".into(),
            ),
            ApiError::Forbidden => (StatusCode::FORBIDDEN, "forbidden", "your role may not do this".into()),
            ApiError::BadRequest(m) => (StatusCode::BAD_REQUEST, "bad_request", m.clone()),
            ApiError::NotFound(m) => (StatusCode::NOT_FOUND, "not_found", m.clone()),
            ApiError::TooManyRequests => (
                StatusCode::TOO_MANY_REQUESTS,
                "too_many_requests",
                "too many attempts; wait a minute and try again".into(),
            ),
            ApiError::LogUnavailable(m) => (StatusCode::SERVICE_UNAVAILABLE, "log_unavailable", m.clone()),
            ApiError::PolicyUnreadable(m) => (
                StatusCode::SERVICE_UNAVAILABLE,
                "policy_unreadable",
                format!(
                    "the committee's rules cannot be read ({m}); every scan is refused until they are saved again \
                     (committee page, Rules, or PUT /api/v1/policy)"
                ),
            ),
            ApiError::Internal => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "something went wrong inside the gate; it is in the gate's log".into(),
            ),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code, message) = self.parts();
        (status, Json(serde_json::json!({"error": code, "message": message}))).into_response()
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound(m) => ApiError::NotFound(m),
            StoreError::Invalid(m) => ApiError::BadRequest(m),
            StoreError::DiskFull | StoreError::Busy => ApiError::LogUnavailable(e.to_string()),
            other => {
                tracing::error!("storage: {other}");
                ApiError::Internal
            }
        }
    }
}

impl From<GateError> for ApiError {
    fn from(e: GateError) -> Self {
        match e {
            GateError::Store(s) => s.into(),
            GateError::Usage(m) => ApiError::BadRequest(m),
            other => {
                tracing::error!("gate: {other}");
                ApiError::Internal
            }
        }
    }
}

impl From<WriterError> for ApiError {
    fn from(e: WriterError) -> Self {
        tracing::error!("writer: {e}");
        ApiError::LogUnavailable(format!(
            "the entry log cannot be written ({e}); no decision can be given — check the disk, scans resume by themselves"
        ))
    }
}

impl From<crate::scan::ScanError> for ApiError {
    fn from(e: crate::scan::ScanError) -> Self {
        match e {
            crate::scan::ScanError::ImplausibleTemperature(_) => ApiError::BadRequest(e.to_string()),
            crate::scan::ScanError::Log(w) => w.into(),
        }
    }
}

/// A JSON body whose rejections come back in our error shape.
pub struct ApiJson<T>(pub T);

impl<S, T> axum::extract::FromRequest<S> for ApiJson<T>
where
    T: serde::de::DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = Response;

    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Self, Self::Rejection> {
        // Scripts post JSON with whatever content-type their tool sends
        // (curl -d says form-urlencoded): the body is read as JSON anyway.
        let bytes = match axum::body::Bytes::from_request(req, state).await {
            Ok(b) => b,
            Err(rej) => {
                let status = rej.status();
                let code = if status == StatusCode::PAYLOAD_TOO_LARGE { "too_large" } else { "bad_request" };
                let body = Json(serde_json::json!({"error": code, "message": rej.body_text()}));
                return Err((status, body).into_response());
            }
        };
        serde_json::from_slice::<T>(&bytes).map(ApiJson).map_err(|e| {
            let status = if e.is_data() { axum::http::StatusCode::UNPROCESSABLE_ENTITY } else { axum::http::StatusCode::BAD_REQUEST };
            (status, Json(serde_json::json!({"error": "bad_request", "message": format!("the body is not the JSON expected: {e}")})))
                .into_response()
        })
    }
}

/// A query string whose rejections come back in our error shape.
pub struct ApiQuery<T>(pub T);

impl<S, T> axum::extract::FromRequestParts<S> for ApiQuery<T>
where
    T: serde::de::DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = Response;

    async fn from_request_parts(parts: &mut axum::http::request::Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(v)) => Ok(ApiQuery(v)),
            Err(rej) => Err((
                axum::http::StatusCode::BAD_REQUEST,
                Json(serde_json::json!({"error": "bad_request", "message": rej.body_text()})),
            )
                .into_response()),
        }
    }
}

/// A raw body whose rejections (413 too large above all) come back in our
/// error shape.
pub struct ApiBytes(pub axum::body::Bytes);

impl<S: Send + Sync> axum::extract::FromRequest<S> for ApiBytes {
    type Rejection = Response;

    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Self, Self::Rejection> {
        axum::body::Bytes::from_request(req, state).await.map(ApiBytes).map_err(|rej| {
            let status = rej.status();
            let code = if status == StatusCode::PAYLOAD_TOO_LARGE { "too_large" } else { "bad_request" };
            let message = if status == StatusCode::PAYLOAD_TOO_LARGE {
                format!("the body is larger than {} bytes; split the file", super::BODY_LIMIT)
            } else {
                rej.body_text()
            };
            (status, Json(serde_json::json!({"error": code, "message": message}))).into_response()
        })
    }
}
