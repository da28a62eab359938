//! The one place errors become HTTP answers. Clients get a stable code and
//! a message a guard can act on; internal details go to the log only.

use crate::gate::GateError;
use crate::store::StoreError;
use crate::writer::WriterError;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;

/// Every error an API call can answer, each with its HTTP status and a
/// stable code (the `error` field) that pages and scripts act on. The
/// message says the cause and the remedy; it never carries storage text.
#[derive(Debug)]
pub enum ApiError {
    Unauthorized,
    Forbidden,
    /// A request that is malformed (query, body shape, sizes).
    BadRequest(String),
    /// A register file that cannot be read as a whole: 400 with its code.
    Register(crate::domain::register::RegisterError),
    /// No such route or page.
    NotFound(String),
    TooManyRequests,
    /// Used the wrong way; the message says the right way.
    Usage(String),
    UnknownHousehold(String),
    UnknownResident(String),
    UnknownPass(String),
    UnknownToken(String),
    UnknownKey(String),
    BadDate(String),
    BadCategory(String),
    BadDirection(String),
    BadRole(String),
    BadPolicy(String),
    BadName(String),
    BadTemperature(String),
    /// The register has nobody to make passes for.
    EmptyRegister(String),
    /// No community key to sign passes with.
    NoActiveKey(String),
    /// The entry log does not verify.
    ChainBroken(String),
    /// The entry log cannot be written: no decision can be given.
    LogUnavailable(String),
    /// The committee's saved rules cannot be read (scans are refused with
    /// `record_unreadable` meanwhile); saving the rules again repairs it.
    PolicyUnreadable(String),
    /// What a guard typed for a visit, an urgent outing or a search (its
    /// own code: `bad_plate`, `reason_required`…).
    Visit(crate::domain::visit::VisitError),
    /// A refusal with its own status and code (`unknown_parcel`,
    /// `already_collected`, `already_out`).
    Coded(u16, &'static str, String),
    /// Committee work on a joined gate: 409 `not_first_directory`.
    NotFirstDirectory(String),
    /// A join that cannot be proven: 403 `join_refused`.
    JoinRefused(String),
    /// A join code past its time: 403 `join_code_expired`.
    JoinExpired(String),
    Internal,
}

impl ApiError {
    /// The one table from error to HTTP status and code.
    fn parts(&self) -> (StatusCode, &'static str, String) {
        use StatusCode as S;
        let m = |s: &String| s.clone();
        match self {
            ApiError::Unauthorized => (
                S::UNAUTHORIZED,
                "unauthorized",
                "log in, or send Authorization: Bearer TOKEN (create one with `gatepass token create`)".into(),
            ),
            ApiError::Forbidden => (S::FORBIDDEN, "forbidden", "your role may not do this".into()),
            ApiError::BadRequest(t) => (S::BAD_REQUEST, "bad_request", m(t)),
            // `error` stays bad_request for scripts; the body's `code` says which
            ApiError::Register(e) => (S::BAD_REQUEST, "bad_request", e.to_string()),
            ApiError::NotFound(t) => (S::NOT_FOUND, "not_found", m(t)),
            ApiError::TooManyRequests => {
                (S::TOO_MANY_REQUESTS, "too_many_requests", "too many attempts; wait a minute and try again".into())
            }
            ApiError::Usage(t) => (S::BAD_REQUEST, "usage", m(t)),
            ApiError::UnknownHousehold(t) => (S::NOT_FOUND, "unknown_household", m(t)),
            ApiError::UnknownResident(t) => (S::NOT_FOUND, "unknown_resident", m(t)),
            ApiError::UnknownPass(t) => (S::NOT_FOUND, "unknown_pass", m(t)),
            ApiError::UnknownToken(t) => (S::NOT_FOUND, "unknown_token", m(t)),
            ApiError::UnknownKey(t) => (S::NOT_FOUND, "unknown_key", m(t)),
            ApiError::BadDate(t) => (S::BAD_REQUEST, "bad_date", m(t)),
            ApiError::BadCategory(t) => (S::BAD_REQUEST, "bad_category", m(t)),
            ApiError::BadDirection(t) => (S::BAD_REQUEST, "bad_direction", m(t)),
            ApiError::BadRole(t) => (S::BAD_REQUEST, "bad_role", m(t)),
            ApiError::BadPolicy(t) => (S::BAD_REQUEST, "bad_policy", m(t)),
            ApiError::BadName(t) => (S::BAD_REQUEST, "bad_name", m(t)),
            ApiError::BadTemperature(t) => (S::BAD_REQUEST, "bad_temperature", m(t)),
            ApiError::EmptyRegister(t) => (S::CONFLICT, "empty_register", m(t)),
            ApiError::NoActiveKey(t) => (S::CONFLICT, "no_active_key", m(t)),
            ApiError::ChainBroken(t) => (S::CONFLICT, "chain_broken", m(t)),
            ApiError::LogUnavailable(t) => (S::SERVICE_UNAVAILABLE, "log_unavailable", m(t)),
            ApiError::PolicyUnreadable(t) => (
                S::SERVICE_UNAVAILABLE,
                "policy_unreadable",
                format!(
                    "the committee's rules cannot be read ({t}); every scan is refused until they are saved again \
                     (committee page, Rules, or PUT /api/v1/policy)"
                ),
            ),
            ApiError::Visit(e) => (S::BAD_REQUEST, e.code(), e.to_string()),
            ApiError::Coded(status, code, t) => (S::from_u16(*status).unwrap_or(S::BAD_REQUEST), code, m(t)),
            ApiError::NotFirstDirectory(t) => (S::CONFLICT, "not_first_directory", m(t)),
            ApiError::JoinRefused(t) => (S::FORBIDDEN, "join_refused", m(t)),
            ApiError::JoinExpired(t) => (S::FORBIDDEN, "join_code_expired", m(t)),
            ApiError::Internal => (
                S::INTERNAL_SERVER_ERROR,
                "internal",
                "something went wrong inside the gate; it is in the gate's log".into(),
            ),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code, message) = self.parts();
        if let ApiError::Register(e) = &self {
            // `error` stays bad_request for scripts; `code` says which
            let body = serde_json::json!({"error": code, "code": e.code(), "params": e.params(), "message": message});
            return (status, Json(body)).into_response();
        }
        (status, Json(serde_json::json!({"error": code, "message": message}))).into_response()
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        let text = e.to_string();
        match e {
            StoreError::UnknownResident(_) => ApiError::UnknownResident(text),
            StoreError::UnknownPass(_) => ApiError::UnknownPass(text),
            StoreError::UnknownKey(_) => ApiError::UnknownKey(text),
            StoreError::UnknownToken(_) => ApiError::UnknownToken(text),
            StoreError::BadTokenId => ApiError::Usage(text),
            StoreError::PassDates(_) => ApiError::BadDate(text),
            // our own words, no storage text
            StoreError::DiskFull | StoreError::Busy => ApiError::LogUnavailable(text),
            StoreError::Sqlite(_)
            | StoreError::Io(_)
            | StoreError::Encode(_)
            | StoreError::NoFreeId(_)
            | StoreError::Unreadable(_)
            | StoreError::TooNew { .. } => {
                tracing::error!("storage: {text}");
                ApiError::Internal
            }
        }
    }
}

impl From<GateError> for ApiError {
    fn from(e: GateError) -> Self {
        let text = e.to_string();
        match e {
            GateError::Store(s) => s.into(),
            GateError::Usage(_) => ApiError::Usage(text),
            GateError::UnknownHousehold(_) => ApiError::UnknownHousehold(text),
            GateError::EmptyRegister => ApiError::EmptyRegister(text),
            GateError::BadDate(_) => ApiError::BadDate(text),
            GateError::BadPolicy(_) => ApiError::BadPolicy(text),
            GateError::Register(e) => ApiError::Register(e),
            GateError::BadName(_) => ApiError::BadName(text),
            GateError::NoActiveKey => ApiError::NoActiveKey(text),
            GateError::ChainBroken(_) => ApiError::ChainBroken(text),
            GateError::NotFirstDirectory(_) => ApiError::NotFirstDirectory(text),
            GateError::JoinRefused(_) => ApiError::JoinRefused(text),
            GateError::JoinExpired(_) => ApiError::JoinExpired(text),
            GateError::PeerRefused(_) => ApiError::Usage(text),
            GateError::Config(_)
            | GateError::Key(_)
            | GateError::NotInitialised(_)
            | GateError::AlreadyInitialised(_)
            | GateError::Io { .. } => {
                tracing::error!("gate: {text}");
                ApiError::Internal
            }
        }
    }
}

impl From<crate::domain::visit::VisitError> for ApiError {
    fn from(e: crate::domain::visit::VisitError) -> Self {
        ApiError::Visit(e)
    }
}

impl From<WriterError> for ApiError {
    fn from(e: WriterError) -> Self {
        tracing::error!("writer: {e}");
        let cause = match e {
            WriterError::DiskFull => "the disk is full — free space on the SD card",
            WriterError::Busy => "the database is busy — another gatepass command holds it",
            WriterError::Stopped | WriterError::Storage => "the cause is in the gate's log — check the disk",
        };
        ApiError::LogUnavailable(format!(
            "the entry log cannot be written ({cause}); no decision can be given, scans resume by themselves"
        ))
    }
}

impl From<crate::scan::ScanError> for ApiError {
    fn from(e: crate::scan::ScanError) -> Self {
        match e {
            crate::scan::ScanError::ImplausibleTemperature(_) => ApiError::BadTemperature(e.to_string()),
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
                format!(
                    "the body is larger than this call takes ({} bytes; a register upload {}); split the file",
                    super::BODY_LIMIT,
                    super::IMPORT_BODY_LIMIT
                )
            } else {
                rej.body_text()
            };
            (status, Json(serde_json::json!({"error": code, "message": message}))).into_response()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(e: ApiError) -> (u16, serde_json::Value) {
        let (status, code, message) = e.parts();
        (status.as_u16(), serde_json::json!({"error": code, "message": message}))
    }

    fn sqlite_failure() -> StoreError {
        StoreError::from(rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_CORRUPT),
            Some("database disk image is malformed: page 7 of table outings".into()),
        ))
    }

    #[test]
    fn storage_text_never_reaches_the_body() {
        let leaks = ["malformed", "outings", "page 7", "database error"];
        // a write that failed on the scan path: 503
        let w = crate::writer::WriterError::of(&GateError::Store(sqlite_failure()));
        let (status, body) = answer(w.into());
        assert_eq!((status, body["error"].as_str()), (503, Some("log_unavailable")));
        // a read that failed anywhere else: 500
        let (status500, body500) = answer(sqlite_failure().into());
        assert_eq!((status500, body500["error"].as_str()), (500, Some("internal")));
        let (_, io) = answer(StoreError::Io(std::io::Error::other("/secret/path/gatepass.db")).into());
        for b in [body, body500, io] {
            let text = b.to_string();
            for leak in leaks.iter().chain(&["/secret/path"]) {
                assert!(!text.contains(leak), "{leak:?} in {text}");
            }
        }
    }

    #[test]
    fn specific_errors_have_their_status_and_code() {
        let cases: Vec<(ApiError, u16, &str)> = vec![
            (GateError::UnknownHousehold("9-9".into()).into(), 404, "unknown_household"),
            (StoreError::UnknownResident("'王' in household '1-1'".into()).into(), 404, "unknown_resident"),
            (StoreError::UnknownPass(crate::domain::PassId(12345678)).into(), 404, "unknown_pass"),
            (GateError::BadDate("validity runs past the calendar".into()).into(), 400, "bad_date"),
            (GateError::Register(crate::domain::register::RegisterError::Empty).into(), 400, "bad_request"),
            (GateError::Usage("give a reason".into()).into(), 400, "usage"),
            (GateError::EmptyRegister.into(), 409, "empty_register"),
            (StoreError::BadTokenId.into(), 400, "usage"),
            (StoreError::DiskFull.into(), 503, "log_unavailable"),
            (crate::domain::visit::VisitError::BadPlate("x".into()).into(), 400, "bad_plate"),
            (crate::domain::visit::VisitError::ReasonRequired.into(), 400, "reason_required"),
            (crate::domain::visit::VisitError::EmptyQuery.into(), 400, "empty_query"),
            (
                ApiError::Coded(409, "already_collected", "parcel 3 was already collected".into()),
                409,
                "already_collected",
            ),
        ];
        for (e, status, code) in cases {
            let (s, body) = answer(e);
            assert_eq!((s, body["error"].as_str()), (status, Some(code)), "{body}");
            assert!(!body["message"].as_str().unwrap_or("").is_empty());
        }
        // the message names the thing and the remedy
        let (_, body) = answer(GateError::UnknownHousehold("9-9".into()).into());
        assert!(body["message"].as_str().unwrap().contains("9-9"));
        assert!(body["message"].as_str().unwrap().contains("household list"));
    }
}
