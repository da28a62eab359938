//! `district serve`: the district pages (Chinese first, English on a
//! switch) and a small JSON API.
//!
//! Pages: gates with last contact and chain status (stale and broken gates
//! highlighted), the day's figures with charts per gate and over time
//! (inline SVG: the district office may have no internet), fever alerts,
//! and the trace search; no script, and the stylesheet is a file, under the
//! gate pages' Content-Security-Policy. `GET /api/v1/report/daily?date=`
//! and the other API calls answer a district token (`district token
//! create`, `Authorization: Bearer TOKEN`, scheme in any case) or a session.
//!
//! The web side is the gate's kit (`crate::web`): escaping, cookies and
//! bearer parsing, the login limiter (after 5 failed logins in a minute for
//! a name or a client address the login answers 429), argon2 on the one
//! low-priority password thread (a full queue is a 429 too, so a login
//! storm never slows the pages), the cross-origin check for cookie-carrying
//! posts (login and logout must come from this site's own pages), the page
//! security headers and the JSON refusal shape `{"error": CODE, "message":
//! TEXT}`. Connections go through the gate's accept loop
//! (`http::serve_router`) with the header and idle timeouts and caps of
//! `[serve]` in district.toml.
//!
//! One file per page; the layout (page frame, header, labels) is here.

use super::config::DistrictConfig;
use super::report::{self, Counts};
use super::store::{DistrictStore, GateRow};
use super::{trace, DistrictError};
use crate::auth;
use crate::web::{self, cookie_value as cookie, html_escape, url_encode, CsrfPolicy, LoginLimiter, Refusal};
use axum::extract::{ConnectInfo, DefaultBodyLimit, FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Json, Router};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

mod alerts;
mod charts;
mod daily;
mod gates;
mod login;
mod style;
mod trace_page;

pub use crate::http::ServeLimits;

pub const SESSION_COOKIE: &str = "gpd_session";
const SESSION_HOURS: u64 = 12;
/// The district takes no uploads: queries and a login form.
const BODY_LIMIT: usize = 64 * 1024;
/// A login form is a name and a password: nothing near the body limit.
const LOGIN_BODY_LIMIT: usize = 8 * 1024;

/// Cookie-authenticated posts (logout) and the login must come from this
/// site's own pages, as HTML forms; bearer calls are not checked.
const CSRF: CsrfPolicy = CsrfPolicy {
    session_cookie: SESSION_COOKIE,
    always: &["/login"],
    uploads: &[],
    forms: &["/login", "/logout", "/trace/mark"],
};

pub struct AppState {
    pub store: Mutex<DistrictStore>,
    pub config: DistrictConfig,
    pub logins: LoginLimiter,
}

impl AppState {
    pub fn new(store: DistrictStore, config: DistrictConfig) -> AppState {
        AppState { store: Mutex::new(store), config, logins: LoginLimiter::default() }
    }
}

pub type Shared = Arc<AppState>;

/// The one place errors become HTTP answers, in the gate's shape
/// `{"error": CODE, "message": TEXT}`; internal details are logged, never
/// sent.
#[derive(Debug)]
pub enum WebError {
    BadRequest(String),
    Unauthorized,
    /// Not logged in on a page: to the login, which comes back to this
    /// path and query afterwards.
    LoginPage(String),
    /// Already in the refusal shape (a bad query or form, too large).
    Refused(Refusal),
    Internal(String),
}

impl From<DistrictError> for WebError {
    fn from(e: DistrictError) -> Self {
        match e {
            DistrictError::BadDate(_) | DistrictError::Usage(_) => WebError::BadRequest(e.to_string()),
            other => WebError::Internal(other.to_string()),
        }
    }
}

impl From<crate::store::StoreError> for WebError {
    fn from(e: crate::store::StoreError) -> Self {
        WebError::Internal(e.to_string())
    }
}

impl From<Refusal> for WebError {
    fn from(r: Refusal) -> Self {
        WebError::Refused(r)
    }
}

impl IntoResponse for WebError {
    fn into_response(self) -> Response {
        match self {
            WebError::BadRequest(m) => Refusal::new(StatusCode::BAD_REQUEST, "bad_request", m).into_response(),
            WebError::Unauthorized => Refusal::new(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "log in, or send a district token as Authorization: Bearer TOKEN (create one with `gatepass district token create`)",
            )
            .into_response(),
            WebError::LoginPage(next) => match web::safe_next(&next).filter(|n| *n != "/") {
                Some(n) => Redirect::to(&format!("/login?next={}", url_encode(n))).into_response(),
                None => Redirect::to("/login").into_response(),
            },
            WebError::Refused(r) => r.into_response(),
            WebError::Internal(m) => {
                tracing::error!("district web: {m}");
                Refusal::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    "something went wrong inside the district server; it is in the server's log",
                )
                .into_response()
            }
        }
    }
}

/// A rejected body or query in the refusal shape (413 as `too_large`).
fn rejection(status: StatusCode, text: String) -> Refusal {
    if status == StatusCode::PAYLOAD_TOO_LARGE {
        Refusal::new(status, "too_large", "the request body is too large")
    } else {
        Refusal::new(status, "bad_request", text)
    }
}

/// axum's `Query`, with its rejections in the refusal shape.
pub struct Query<T>(pub T);

impl<S: Send + Sync, T: serde::de::DeserializeOwned> FromRequestParts<S> for Query<T> {
    type Rejection = WebError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, WebError> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(v)) => Ok(Query(v)),
            Err(rej) => Err(rejection(StatusCode::BAD_REQUEST, rej.body_text()).into()),
        }
    }
}

fn lock(s: &AppState) -> Result<std::sync::MutexGuard<'_, DistrictStore>, WebError> {
    s.store.lock().map_err(|_| WebError::Internal("store lock poisoned".into()))
}

fn session_user(s: &AppState, headers: &HeaderMap) -> Result<Option<String>, WebError> {
    let Some(tok) = cookie(headers, SESSION_COOKIE) else {
        return Ok(None);
    };
    Ok(lock(s)?.session_user(&auth::token_hash(tok), Utc::now().timestamp_millis())?)
}

/// A logged-in district user (pages): otherwise a redirect to the login.
pub struct PageUser(pub String);

impl FromRequestParts<Shared> for PageUser {
    type Rejection = WebError;
    async fn from_request_parts(parts: &mut Parts, s: &Shared) -> Result<Self, WebError> {
        let here = || parts.uri.path_and_query().map_or("/", |pq| pq.as_str()).to_string();
        session_user(s, &parts.headers)?.map(PageUser).ok_or_else(|| WebError::LoginPage(here()))
    }
}

/// A district token or a session (API): otherwise 401.
pub struct ApiUser;

impl FromRequestParts<Shared> for ApiUser {
    type Rejection = WebError;
    async fn from_request_parts(parts: &mut Parts, s: &Shared) -> Result<Self, WebError> {
        match web::bearer_token(&parts.headers) {
            Ok(Some(tok)) => match lock(s)?.token_role(&auth::token_hash(tok))? {
                Some(r) if r == "district" => Ok(ApiUser),
                _ => Err(WebError::Unauthorized),
            },
            Ok(None) => session_user(s, &parts.headers)?.map(|_| ApiUser).ok_or(WebError::Unauthorized),
            Err(web::BearerError::Malformed) => Err(WebError::Unauthorized),
        }
    }
}

pub fn app(state: Shared) -> Router {
    // a push is a page of events: the same bound as a pulled page
    let ingest_limit = state.config.pull.max_page_bytes();
    Router::new()
        .route("/", get(gates::gates_page))
        .route("/daily", get(daily::daily_page))
        .route("/alerts", get(alerts::alerts_page))
        .route("/trace", get(trace_page::trace_page))
        .route("/trace/mark", post(trace_page::mark))
        .route("/static/district.css", get(style::css))
        .route("/login", get(login::login_page).post(login::login).layer(DefaultBodyLimit::max(LOGIN_BODY_LIMIT)))
        .route("/logout", post(login::logout))
        .route("/api/v1/health", get(|| async { Json(serde_json::json!({"ok": true, "role": "district"})) }))
        .route("/api/v1/report/daily", get(api_daily))
        .route("/api/v1/trace", get(api_trace))
        .route("/api/v1/gates", get(api_gates))
        .route("/api/v1/ingest", post(api_ingest).layer(DefaultBodyLimit::max(ingest_limit)))
        .fallback(|| async {
            Refusal::new(StatusCode::NOT_FOUND, "not_found", "no such page or API endpoint (see the README)")
        })
        .layer(axum::middleware::from_fn_with_state(CSRF, web::csrf_guard))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        // the gate's pages' Content-Security-Policy and security headers
        .layer(axum::middleware::map_response(web::page_headers))
        .with_state(state)
}

/// Serves until `shutdown` resolves, behind the gate's accept loop: header
/// and idle timeouts, connection caps (see `http::serve_router`).
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: Shared,
    limits: ServeLimits,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    crate::http::serve_router(listener, app(state), limits, None, shutdown).await
}

// ---- the API -------------------------------------------------------------

#[derive(Debug, Deserialize)]
pub struct DailyQuery {
    pub date: Option<String>,
    /// json (default), csv or dhis2
    pub format: Option<String>,
}

async fn api_daily(_u: ApiUser, State(s): State<Shared>, Query(q): Query<DailyQuery>) -> Result<Response, WebError> {
    let tz = s.config.timezone().unwrap_or(chrono_tz::Asia::Shanghai);
    let date = report::parse_date(q.date.as_deref().unwrap_or("today"), tz, Utc::now())?;
    let r = report::daily(&*lock(&s)?, &s.config, date)?;
    Ok(match q.format.as_deref() {
        Some("csv") => ([(header::CONTENT_TYPE, "text/csv; charset=utf-8")], report::to_csv(&r)?).into_response(),
        Some("dhis2") => Json(report::to_dhis2(&r, &s.config)?.0).into_response(),
        Some("xlsx") => (
            [
                (header::CONTENT_TYPE, "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet".to_string()),
                (header::CONTENT_DISPOSITION, format!("attachment; filename=\"gatepass-{}.xlsx\"", r.date)),
            ],
            report::to_xlsx(&r)?,
        )
            .into_response(),
        None | Some("json") => Json(r).into_response(),
        Some(f) => return Err(WebError::BadRequest(format!("format '{f}' must be json, csv, dhis2 or xlsx"))),
    })
}

#[derive(Debug, Deserialize)]
pub struct TraceQuery {
    pub resident: Option<String>,
    pub community: Option<String>,
    pub days: Option<u32>,
    pub lang: Option<String>,
    /// Set after a close contact was marked from this page (issue 13).
    pub marked: Option<String>,
}

fn run_trace(s: &AppState, q: &TraceQuery) -> Result<Option<trace::Trace>, WebError> {
    let Some(r) = q.resident.as_deref().map(str::trim).filter(|r| !r.is_empty()) else {
        return Ok(None);
    };
    let id: crate::domain::ResidentId =
        r.parse().map_err(|_| WebError::BadRequest(format!("resident '{r}' must be the resident's number")))?;
    let community = q.community.as_deref().map(str::trim).filter(|c| !c.is_empty());
    Ok(Some(trace::trace(&*lock(s)?, &s.config, id, community, q.days.unwrap_or(14).min(366), Utc::now())?))
}

async fn api_trace(_u: ApiUser, State(s): State<Shared>, Query(q): Query<TraceQuery>) -> Result<Response, WebError> {
    match run_trace(&s, &q)? {
        Some(t) => Ok(Json(t).into_response()),
        None => Err(WebError::BadRequest("give ?resident=ID".into())),
    }
}

/// `POST /api/v1/ingest`: a gate pushes its new events (issue 13). The
/// answer always says how far the district holds the gate's log (`head`),
/// also on a refusal where that helps the gate resume.
async fn api_ingest(State(s): State<Shared>, headers: HeaderMap, body: axum::body::Bytes) -> Response {
    use super::push::PushRefused;
    let refuse = |status: StatusCode, e: &PushRefused, extra: Option<serde_json::Value>| {
        let mut v = serde_json::json!({"error": e.code(), "message": e.to_string()});
        if let (Some(o), Some(serde_json::Value::Object(x))) = (v.as_object_mut(), extra) {
            o.extend(x);
        }
        (status, Json(v)).into_response()
    };
    let token = match web::bearer_token(&headers) {
        Ok(Some(t)) => auth::token_hash(t),
        _ => return refuse(StatusCode::UNAUTHORIZED, &PushRefused::Unauthorized, None),
    };
    let page: super::pull::EventsPage = match serde_json::from_slice(&body) {
        Ok(p) => p,
        Err(e) => {
            let mut d = e.to_string();
            d.truncate(200);
            let e = PushRefused::BadRequest(format!("not an events page: {d}"));
            return refuse(StatusCode::BAD_REQUEST, &e, None);
        }
    };
    let now = crate::clock::now_text(Utc::now());
    let st = s.clone();
    // (checking and storing a page is blocking work: off the async threads)
    let res = tokio::task::spawn_blocking(move || {
        let pre = super::push::precheck(&page);
        let mut store = st.store.lock().unwrap_or_else(|p| p.into_inner());
        super::push::ingest(&mut store, &token, &page, &now, pre)
    })
    .await;
    match res {
        Ok(Ok(reply)) => Json(reply).into_response(),
        Ok(Err(e)) => match &e {
            PushRefused::Unauthorized => refuse(StatusCode::UNAUTHORIZED, &e, None),
            PushRefused::WrongGate(_) => refuse(StatusCode::FORBIDDEN, &e, None),
            PushRefused::BadRequest(_) => refuse(StatusCode::BAD_REQUEST, &e, None),
            PushRefused::TooMany => refuse(StatusCode::PAYLOAD_TOO_LARGE, &e, None),
            PushRefused::Gap { head, .. } => refuse(StatusCode::CONFLICT, &e, Some(serde_json::json!({"head": head}))),
            PushRefused::ChainBroken { reply, .. } => {
                refuse(StatusCode::CONFLICT, &e, serde_json::to_value(reply).ok())
            }
            PushRefused::Internal(detail) => WebError::Internal(detail.to_string()).into_response(),
        },
        Err(join) => WebError::Internal(format!("push task: {join}")).into_response(),
    }
}

async fn api_gates(_u: ApiUser, State(s): State<Shared>) -> Result<Response, WebError> {
    Ok(Json(lock(&s)?.gates()?).into_response())
}

// ---- pages -----------------------------------------------------------------

#[derive(Debug, Deserialize)]
pub struct LangQuery {
    pub lang: Option<String>,
    pub date: Option<String>,
    /// Alerts: how many days back.
    pub days: Option<u32>,
}

impl LangQuery {
    fn is_en(&self) -> bool {
        self.lang.as_deref() == Some("en")
    }
}

fn page(en: bool, title: &str, body: &str) -> String {
    format!(
        "<!doctype html><html lang={}><head><meta charset=utf-8><meta name=viewport content='width=device-width,initial-scale=1'>\
         <title>{}</title><link rel=stylesheet href=/static/district.css><link rel=icon href='data:,'></head><body>{body}</body></html>",
        if en { "en" } else { "zh-CN" },
        html_escape(title)
    )
}

/// A gate's time in the district's zone, as HTML: a time the gate wrote
/// that does not read as one is shown as it came, escaped (it is the gate's
/// text, and a hostile gate chooses it).
fn local(at: &str, tz: chrono_tz::Tz) -> String {
    DateTime::parse_from_rfc3339(at)
        .map(|t| t.with_timezone(&tz).format("%Y-%m-%d %H:%M").to_string())
        .unwrap_or_else(|_| html_escape(at))
}

#[derive(Clone, Copy, PartialEq)]
enum Tab {
    Gates,
    Daily,
    Alerts,
    Trace,
}

/// The page header: the four pages, the language switch (keeping `keep`,
/// an encoded query tail), the user and the logout button.
fn nav(en: bool, user: &str, here: Tab, keep: &str) -> String {
    let l = if en { "en" } else { "zh" };
    let (switch, label) = if en { ("zh", "中文") } else { ("en", "English") };
    let tabs = [
        (Tab::Gates, "/", "门岗", "Gates"),
        (Tab::Daily, "/daily", "每日数据", "Daily figures"),
        (Tab::Alerts, "/alerts", "发热警报", "Fever alerts"),
        (Tab::Trace, "/trace", "病例轨迹", "Trace a case"),
    ];
    let mut s =
        format!("<header class=top><strong>{}</strong>", if en { "District gate data" } else { "区县出入数据" });
    let mut path = "/";
    for (tab, href, zh, e) in tabs {
        if tab == here {
            path = href;
        }
        let _ = write!(
            s,
            "<a href='{href}?lang={l}'{}>{}</a>",
            if tab == here { " class=here aria-current=page" } else { "" },
            if en { e } else { zh }
        );
    }
    let _ = write!(
        s,
        "<span class=right><a href='{path}?lang={switch}{keep}'>{label}</a><span class=user>{}</span>\
         <form method=post action=/logout><button>{}</button></form></span></header>",
        html_escape(user),
        if en { "Log out" } else { "退出" },
    );
    s
}

fn decision_label(d: &str, en: bool) -> String {
    let known = match d {
        "allow" => Some(("通行", "allowed")),
        "deny" => Some(("禁止", "denied")),
        "refer" => Some(("留观", "referred")),
        _ => None,
    };
    known.map_or_else(|| html_escape(d), |(zh, e)| (if en { e } else { zh }).to_string())
}

fn direction_label(d: Option<&str>, en: bool) -> String {
    match (d, en) {
        (Some("out"), false) => "出门".into(),
        (Some("in"), false) => "进门".into(),
        (Some(x), _) => html_escape(x),
        (None, _) => "—".into(),
    }
}

fn who(id: Option<crate::domain::ResidentId>, name: Option<&str>, en: bool) -> String {
    match (id, name) {
        (Some(id), Some(n)) => format!("{id} {}", html_escape(n)),
        (Some(id), None) => id.to_string(),
        _ => (if en { "unknown" } else { "未识别" }).to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unreadable_time_is_shown_escaped() {
        let tz = chrono_tz::Asia::Shanghai;
        assert_eq!(local("2025-03-10T01:00:00.000Z", tz), "2025-03-10 09:00");
        assert_eq!(local("<img src=x onerror=alert(1)>", tz), "&lt;img src=x onerror=alert(1)&gt;");
    }
}
