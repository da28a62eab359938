//! `district serve`: the district pages (Chinese first, English on a
//! switch) and a small JSON API.
//!
//! Pages: gates with last contact and chain status (stale and broken gates
//! highlighted), the day's figures with charts per gate and over time
//! (inline SVG: the district office may have no internet), fever alerts,
//! and the trace search; no script, and the stylesheet is a file, under the
//! gate pages' Content-Security-Policy. Logins are `district user add` accounts (argon2);
//! a session is a random cookie, HttpOnly and SameSite=Strict, stored
//! hashed; after 5 failed logins in a minute for a name or a client address
//! (the gate's limiter) the login answers 429 "too many attempts". `GET /api/v1/report/daily?date=` answers a district token
//! (`district token create`) or a session.
//!
//! One file per page; the layout (page frame, header, labels) is here,
//! escaping and cookies in [`kit`], the one place to swap for the shared
//! web kit.

use super::config::DistrictConfig;
use super::report::{self, Counts};
use super::store::{DistrictStore, GateRow};
use super::{trace, DistrictError};
use crate::auth;
use crate::http::auth::LoginLimiter;
use axum::extract::{ConnectInfo, FromRequestParts, Query, State};
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
mod kit;
mod login;
mod style;
mod trace_page;

pub use kit::esc;
use kit::{cookie, url_enc};

pub const SESSION_COOKIE: &str = "gpd_session";
const SESSION_HOURS: i64 = 12;

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

/// The one place errors become HTTP answers; internal details are logged,
/// never sent.
#[derive(Debug)]
pub enum WebError {
    BadRequest(String),
    Unauthorized,
    LoginPage,
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

impl IntoResponse for WebError {
    fn into_response(self) -> Response {
        match self {
            WebError::BadRequest(m) => (StatusCode::BAD_REQUEST, Json(serde_json::json!({"error": m}))).into_response(),
            WebError::Unauthorized => (
                StatusCode::UNAUTHORIZED,
                Json(serde_json::json!({"error": "log in, or send a district token as Authorization: Bearer"})),
            )
                .into_response(),
            WebError::LoginPage => Redirect::to("/login").into_response(),
            WebError::Internal(m) => {
                tracing::error!("district web: {m}");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    Json(serde_json::json!({"error": "internal error; see the server log"})),
                )
                    .into_response()
            }
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
        session_user(s, &parts.headers)?.map(PageUser).ok_or(WebError::LoginPage)
    }
}

/// A district token or a session (API): otherwise 401.
pub struct ApiUser;

impl FromRequestParts<Shared> for ApiUser {
    type Rejection = WebError;
    async fn from_request_parts(parts: &mut Parts, s: &Shared) -> Result<Self, WebError> {
        if let Some(tok) = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
        {
            return match lock(s)?.token_role(&auth::token_hash(tok))? {
                Some(r) if r == "district" => Ok(ApiUser),
                _ => Err(WebError::Unauthorized),
            };
        }
        session_user(s, &parts.headers)?.map(|_| ApiUser).ok_or(WebError::Unauthorized)
    }
}

pub fn app(state: Shared) -> Router {
    Router::new()
        .route("/", get(gates::gates_page))
        .route("/daily", get(daily::daily_page))
        .route("/alerts", get(alerts::alerts_page))
        .route("/trace", get(trace_page::trace_page))
        .route("/static/district.css", get(style::css))
        .route("/login", get(login::login_page).post(login::login))
        .route("/logout", post(login::logout))
        .route("/api/v1/health", get(|| async { Json(serde_json::json!({"ok": true, "role": "district"})) }))
        .route("/api/v1/report/daily", get(api_daily))
        .route("/api/v1/trace", get(api_trace))
        .route("/api/v1/gates", get(api_gates))
        // the gate's pages' Content-Security-Policy and security headers
        .layer(axum::middleware::map_response(crate::http::pages::page_headers))
        .with_state(state)
}

/// Serves until Ctrl-C.
pub async fn serve(listener: tokio::net::TcpListener, state: Shared) -> std::io::Result<()> {
    axum::serve(listener, app(state).into_make_service_with_connect_info::<SocketAddr>())
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await
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
        None | Some("json") => Json(r).into_response(),
        Some(f) => return Err(WebError::BadRequest(format!("format '{f}' must be json, csv or dhis2"))),
    })
}

#[derive(Debug, Deserialize)]
pub struct TraceQuery {
    pub resident: Option<String>,
    pub community: Option<String>,
    pub days: Option<u32>,
    pub lang: Option<String>,
}

fn run_trace(s: &AppState, q: &TraceQuery) -> Result<Option<trace::Trace>, WebError> {
    let Some(r) = q.resident.as_deref().map(str::trim).filter(|r| !r.is_empty()) else {
        return Ok(None);
    };
    let id: u32 =
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
        esc(title)
    )
}

/// A gate's time in the district's zone, as HTML: a time the gate wrote
/// that does not read as one is shown as it came, escaped (it is the gate's
/// text, and a hostile gate chooses it).
fn local(at: &str, tz: chrono_tz::Tz) -> String {
    DateTime::parse_from_rfc3339(at)
        .map(|t| t.with_timezone(&tz).format("%Y-%m-%d %H:%M").to_string())
        .unwrap_or_else(|_| esc(at))
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
        esc(user),
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
    known.map_or_else(|| esc(d), |(zh, e)| (if en { e } else { zh }).to_string())
}

fn direction_label(d: Option<&str>, en: bool) -> String {
    match (d, en) {
        (Some("out"), false) => "出门".into(),
        (Some("in"), false) => "进门".into(),
        (Some(x), _) => esc(x),
        (None, _) => "—".into(),
    }
}

fn who(id: Option<u32>, name: Option<&str>, en: bool) -> String {
    match (id, name) {
        (Some(id), Some(n)) => format!("{id} {}", esc(n)),
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
