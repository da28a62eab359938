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

fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
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
        .route("/", get(gates_page))
        .route("/daily", get(daily_page))
        .route("/alerts", get(alerts_page))
        .route("/trace", get(trace_page))
        .route("/static/district.css", get(css))
        .route("/login", get(login_page).post(login))
        .route("/logout", post(logout))
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

// ---- login ---------------------------------------------------------------

#[derive(Debug, Deserialize)]
pub struct LoginForm {
    pub name: String,
    pub password: String,
    pub lang: Option<String>,
}

async fn login_page(Query(q): Query<LangQuery>) -> Html<String> {
    Html(login_html(q.is_en(), None))
}

/// Why the last attempt failed, for the login page.
#[derive(Debug, Clone, Copy)]
enum LoginFailure {
    Wrong,
    TooMany,
}

fn login_html(en: bool, failed: Option<LoginFailure>) -> String {
    let t = |zh: &'static str, e: &'static str| if en { e } else { zh };
    let (switch, label) = if en { ("zh", "中文") } else { ("en", "English") };
    let mut b = format!("<main class=login><h1>{}</h1>", t("区县出入数据", "District gate data"));
    let msg = match failed {
        None => None,
        Some(LoginFailure::Wrong) => Some(t("用户名或密码不对。", "Wrong name or password.")),
        Some(LoginFailure::TooMany) => {
            Some(t("尝试次数过多，请一分钟后再试。", "Too many attempts; wait a minute and try again."))
        }
    };
    if let Some(m) = msg {
        let _ = write!(b, "<p class=error role=alert>{m}</p>");
    }
    let _ = write!(
        b,
        "<form method=post action=/login><input type=hidden name=lang value={}>\
         <label>{}<input id=login-name name=name autocomplete=username required autofocus></label>\
         <label>{}<input id=login-password name=password type=password autocomplete=current-password required></label>\
         <button type=submit>{}</button></form><p><a href='/login?lang={switch}'>{label}</a></p></main>",
        if en { "en" } else { "zh" },
        t("用户名", "Name"),
        t("密码", "Password"),
        t("登录", "Log in")
    );
    page(en, t("登录 · 区县出入数据", "Log in · District gate data"), &b)
}

async fn login(
    State(s): State<Shared>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Form(f): Form<LoginForm>,
) -> Result<Response, WebError> {
    let en = f.lang.as_deref() == Some("en");
    let ip_key = format!("ip:{}", peer.ip());
    let name_key = format!("name:{}", f.name.trim());
    let keys = [ip_key.as_str(), name_key.as_str()];
    if s.logins.blocked(&keys) {
        return Ok((StatusCode::TOO_MANY_REQUESTS, Html(login_html(en, Some(LoginFailure::TooMany)))).into_response());
    }
    let user = lock(&s)?.user(f.name.trim())?;
    let ok = match &user {
        Some((role, hash)) => auth::verify_password(&f.password, hash) && role == "district",
        None => {
            auth::dummy_password_check(&f.password);
            false
        }
    };
    if !ok {
        s.logins.failed(&keys);
        return Ok((StatusCode::UNAUTHORIZED, Html(login_html(en, Some(LoginFailure::Wrong)))).into_response());
    }
    s.logins.succeeded(&keys);
    let token = auth::new_token();
    let expires = Utc::now().timestamp_millis() + SESSION_HOURS * 3_600_000;
    lock(&s)?.add_session(&auth::token_hash(&token), f.name.trim(), expires)?;
    let c = format!("{SESSION_COOKIE}={token}; HttpOnly; SameSite=Strict; Path=/; Max-Age={}", SESSION_HOURS * 3600);
    Ok(([(header::SET_COOKIE, c)], Redirect::to(if en { "/?lang=en" } else { "/" })).into_response())
}

async fn logout(State(s): State<Shared>, headers: HeaderMap) -> Result<Response, WebError> {
    if let Some(tok) = cookie(&headers, SESSION_COOKIE) {
        lock(&s)?.end_session(&auth::token_hash(tok))?;
    }
    let c = format!("{SESSION_COOKIE}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0");
    Ok(([(header::SET_COOKIE, c)], Redirect::to("/login")).into_response())
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

pub fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '&' => o.push_str("&amp;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c => o.push(c),
        }
    }
    o
}

/// Percent-encodes a query value (community names are Chinese and may hold
/// `&` or `#`).
fn url_enc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            o.push(char::from(b));
        } else {
            let _ = write!(o, "%{b:02X}");
        }
    }
    o
}

/// Served as a file: the pages' Content-Security-Policy (`style-src 'self'`)
/// refuses inline styles.
const CSS: &str = "*{box-sizing:border-box}\
body{font-family:system-ui,'Noto Sans CJK SC','Noto Sans SC',sans-serif;margin:0;color:#222;background:#f7f7f5;font-size:15px;line-height:1.5}\
header.top{display:flex;flex-wrap:wrap;gap:.3rem 1.4rem;align-items:center;padding:.55rem 1.5rem;background:#1f4e79;color:#fff}\
header.top strong{font-size:1.05rem;margin-right:.6rem}\
header.top a{color:#d6e4f2;text-decoration:none;padding:.15rem 0;border-bottom:2px solid transparent}\
header.top a:hover{color:#fff}header.top a.here{color:#fff;border-bottom-color:#fff;font-weight:600}\
header.top .right{margin-left:auto;display:flex;gap:1rem;align-items:center}\
header.top .user{color:#b9cde2}header.top form{margin:0}\
main{max-width:72rem;margin:0 auto;padding:.25rem 1.5rem 2rem}\
h1{font-size:1.35rem;margin:1rem 0 .4rem}h2{font-size:1.05rem;margin:1.3rem 0 .3rem}\
table{border-collapse:collapse;margin:.5rem 0 1rem;background:#fff}\
td,th{border:1px solid #d5d5d5;padding:.3rem .7rem;text-align:left;white-space:nowrap;line-height:1.6rem;vertical-align:middle}\
th{background:#e9eef3;font-weight:600}td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}\
table.wide{width:100%}td.detail{white-space:normal;overflow-wrap:anywhere;min-width:9rem}tr.total td{font-weight:600;background:#f1f1f1}tr.broken td{background:#fde2e2}tr.stale td{background:#fff3d0}\
.badge{display:inline-block;padding:0 .5rem;border-radius:.7rem;font-size:.85rem;border:1px solid}\
.badge.ok{color:#176f2c;border-color:#8cc79c;background:#e8f6ec}\
.badge.stale{color:#7a4f00;border-color:#e0b54a;background:#fff3d0}\
.badge.broken{color:#fff;background:#b3261e;border-color:#b3261e;font-weight:600}\
.badge.file{color:#444;background:#eee;border-color:#c8c8c8}\
.hot{color:#b3261e;font-weight:600}.tag{font-size:.8rem;color:#777;margin-left:.35rem}\
.note{color:#555;font-size:.9rem;max-width:62rem}.summary{margin:.3rem 0 .6rem}\
.empty{padding:.9rem 1rem;background:#fff;border:1px dashed #b5b5b5;color:#555;max-width:62rem}\
.error{color:#b3261e;font-weight:600}\
form.bar{display:flex;flex-wrap:wrap;gap:.5rem 1rem;align-items:center;margin:.5rem 0}\
input,button{font:inherit}button{padding:.15rem .8rem}\
.charts{display:flex;flex-wrap:wrap;gap:1rem 1.5rem;align-items:flex-start}\
figure{margin:.5rem 0;background:#fff;border:1px solid #ddd;padding:.5rem .75rem}\
figcaption{font-weight:600;margin-bottom:.3rem}\
svg text{font-size:12px;fill:#333}svg .sub{font-size:11px;fill:#777}svg .grid{stroke:#e3e3e3}svg .axis{stroke:#999}\
main.login{max-width:22rem;margin:5rem auto;background:#fff;border:1px solid #ddd;padding:1rem 1.5rem}\
.login label{display:block;margin:.8rem 0}.login input{display:block;width:100%;padding:.35rem;margin-top:.25rem}\
.login button{padding:.35rem 1.6rem}";

async fn css() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/css; charset=utf-8"), (header::CACHE_CONTROL, "no-cache")], CSS)
}

fn page(en: bool, title: &str, body: &str) -> String {
    format!(
        "<!doctype html><html lang={}><head><meta charset=utf-8><meta name=viewport content='width=device-width,initial-scale=1'>\
         <title>{}</title><link rel=stylesheet href=/static/district.css><link rel=icon href='data:,'></head><body>{body}</body></html>",
        if en { "en" } else { "zh-CN" },
        esc(title)
    )
}

fn local(at: &str, tz: chrono_tz::Tz) -> String {
    DateTime::parse_from_rfc3339(at)
        .map(|t| t.with_timezone(&tz).format("%Y-%m-%d %H:%M").to_string())
        .unwrap_or_else(|_| at.to_string())
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

fn gate_state(g: &GateRow, now: DateTime<Utc>, stale_minutes: u32) -> &'static str {
    if g.broken() {
        return "broken";
    }
    if g.url.is_none() {
        return "file";
    }
    let fresh = g
        .last_contact
        .as_deref()
        .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
        .is_some_and(|t| now.signed_duration_since(t) < chrono::Duration::minutes(i64::from(stale_minutes)));
    if fresh {
        "ok"
    } else {
        "stale"
    }
}

/// A chart series: Chinese label, English label, colour, the figure. The
/// labels are the table's column heads.
type Series = (&'static str, &'static str, &'static str, fn(&Counts) -> u64);

fn series() -> [Series; 4] {
    [
        ("外出", "Exits", "#2b7bb9", |c| c.exits),
        ("返回", "Entries", "#3a9d5d", |c| c.entries),
        ("拒绝外出", "Denied exits", "#c0392b", |c| c.denied),
        ("发热", "Fever", "#e67e22", |c| c.fever),
    ]
}

/// The y axis of a count chart: a step of 1, 2 or 5 times a power of ten
/// (about four steps) and the axis top, a whole number of steps.
fn y_axis(max: u64) -> (u64, u64) {
    let max = max.max(1);
    let raw = max.div_ceil(4);
    let mut p = 1;
    while p * 10 <= raw {
        p *= 10;
    }
    let step = [p, 2 * p, 5 * p, 10 * p].into_iter().find(|s| *s >= raw).unwrap_or(raw);
    (step, step * max.div_ceil(step))
}

const CHART_TOP: u32 = 42;
const CHART_LEFT: u32 = 40;
const PLOT_H: u32 = 170;

/// Legend, horizontal grid lines and y labels; returns the opening of the
/// svg and the y of a value.
fn chart_frame(w: u32, h: u32, label: &str, en: bool, max: u64) -> (String, impl Fn(u64) -> f64) {
    let (step, top) = y_axis(max);
    let y = move |v: u64| f64::from(CHART_TOP) + f64::from(PLOT_H) * (1.0 - v as f64 / top as f64);
    let mut s = format!("<svg width={w} height={h} viewBox='0 0 {w} {h}' role=img aria-label='{}'>", esc(label));
    let mut lx = CHART_LEFT;
    for (zh, e, colour, _) in series() {
        let text = if en { e } else { zh };
        let _ =
            write!(s, "<rect x={lx} y=6 width=12 height=12 fill='{colour}'/><text x={} y=16>{text}</text>", lx + 16);
        lx += 24 + 13 * text.chars().map(|c| if c.is_ascii() { 1 } else { 2 }).sum::<u32>() / 2 + 16;
    }
    let mut v = 0;
    while v <= top {
        let _ = write!(
            s,
            "<line class=grid x1={CHART_LEFT} x2={} y1='{y:.1}' y2='{y:.1}'/><text x={} y={:.1} text-anchor=end>{v}</text>",
            w - 8,
            CHART_LEFT - 6,
            y(v) + 4.0,
            y = y(v)
        );
        v += step;
    }
    let _ = write!(s, "<line class=axis x1={CHART_LEFT} x2={} y1='{b}' y2='{b}'/>", w - 8, b = CHART_TOP + PLOT_H);
    (s, y)
}

/// Grouped bars per gate, in the table's columns and order.
fn bars_svg(r: &report::DailyReport, en: bool) -> String {
    const BAR: u32 = 20;
    const GROUP: u32 = 4 * BAR + 40;
    let max = r.gates.iter().flat_map(|g| series().map(|s| (s.3)(&g.counts))).max().unwrap_or(0);
    let w = (CHART_LEFT + 8 + r.gates.len() as u32 * GROUP).max(400);
    let h = CHART_TOP + PLOT_H + 40;
    let (mut s, y) = chart_frame(w, h, if en { "daily figures per gate" } else { "各门岗当日数据" }, en, max);
    for (gi, g) in r.gates.iter().enumerate() {
        let x0 = CHART_LEFT + 20 + gi as u32 * GROUP;
        for (si, (zh, e, colour, f)) in series().iter().enumerate() {
            let v = f(&g.counts);
            let x = x0 + si as u32 * BAR;
            let top = y(v);
            let _ = write!(
                s,
                "<rect x={x} y={top:.1} width={} height={:.1} fill='{colour}'><title>{} {}: {v}</title></rect>\
                 <text x={} y={:.1} text-anchor=middle>{v}</text>",
                BAR - 2,
                f64::from(CHART_TOP + PLOT_H) - top,
                esc(&g.gate),
                if en { *e } else { *zh },
                x + BAR / 2 - 1,
                top - 4.0
            );
        }
        let mid = x0 + 2 * BAR;
        let _ = write!(
            s,
            "<text x={mid} y={} text-anchor=middle>{}</text><text class=sub x={mid} y={} text-anchor=middle>{}</text>",
            CHART_TOP + PLOT_H + 17,
            esc(&g.gate),
            CHART_TOP + PLOT_H + 32,
            esc(&g.community)
        );
    }
    s.push_str("</svg>");
    s
}

/// The district's daily totals over the last days, one line per figure.
fn line_svg(days: &[(chrono::NaiveDate, Counts)], en: bool) -> String {
    let w = 540u32;
    let h = CHART_TOP + PLOT_H + 28;
    let max = days.iter().flat_map(|(_, c)| series().map(|s| (s.3)(c))).max().unwrap_or(0);
    let (mut s, y) = chart_frame(w, h, if en { "daily totals over time" } else { "每日合计走势" }, en, max);
    let n = days.len().max(2) - 1;
    let x = |i: usize| f64::from(CHART_LEFT + 12) + i as f64 * f64::from(w - CHART_LEFT - 32) / n as f64;
    for (i, (d, _)) in days.iter().enumerate() {
        // every other day, counted back from the last so that it is labelled
        if (days.len() - 1 - i) % 2 == 0 {
            let _ = write!(
                s,
                "<text x={:.1} y={} text-anchor=middle>{}</text>",
                x(i),
                CHART_TOP + PLOT_H + 17,
                d.format("%m-%d")
            );
        }
    }
    for (zh, e, colour, f) in series() {
        let pts: Vec<String> =
            days.iter().enumerate().map(|(i, (_, c))| format!("{:.1},{:.1}", x(i), y(f(c)))).collect();
        let _ = write!(s, "<polyline fill=none stroke='{colour}' stroke-width=2 points='{}'/>", pts.join(" "));
        for (i, (d, c)) in days.iter().enumerate() {
            let _ = write!(
                s,
                "<circle cx={:.1} cy={:.1} r=2.5 fill='{colour}'><title>{d} {}: {}</title></circle>",
                x(i),
                y(f(c)),
                if en { e } else { zh },
                f(c)
            );
        }
    }
    s.push_str("</svg>");
    s
}

async fn gates_page(
    PageUser(user): PageUser,
    State(s): State<Shared>,
    Query(q): Query<LangQuery>,
) -> Result<Html<String>, WebError> {
    let en = q.is_en();
    let t = |zh: &'static str, e: &'static str| if en { e } else { zh };
    let cfg = &s.config;
    let tz = cfg.timezone().unwrap_or(chrono_tz::Asia::Shanghai);
    let now = Utc::now();
    let gates = lock(&s)?.gates()?;

    let mut b = nav(en, &user, Tab::Gates, "");
    let _ = write!(b, "<main><h1>{}</h1>", t("门岗", "Gates"));
    if gates.is_empty() {
        let _ = write!(
            b,
            "<p class=empty>{}</p></main>",
            t(
                "还没有门岗。联网的门岗用 gatepass district add-gate 登记；不联网的门岗，把 gatepass events export 导出的文件用 gatepass district import 导入。",
                "No gates yet. Register a networked gate with gatepass district add-gate; for a gate without network, import its gatepass events export file with gatepass district import."
            )
        );
        return Ok(Html(page(en, t("门岗 · 区县出入数据", "Gates · District gate data"), &b)));
    }
    let states: Vec<&str> = gates.iter().map(|g| gate_state(g, now, cfg.district.stale_minutes)).collect();
    let count = |k: &str| states.iter().filter(|s| **s == k).count();
    let _ = write!(
        b,
        "<p class=summary>{} {}{} {} {} · {} {} · {} {} · {} {}</p>",
        gates.len(),
        t("个门岗", "gates"),
        t("：", ":"),
        t("正常", "ok"),
        count("ok"),
        t("失联", "stale"),
        count("stale"),
        t("链断裂", "chain broken"),
        count("broken"),
        t("文件导入", "by file"),
        count("file"),
    );
    let _ = write!(
        b,
        "<table class=wide><tr><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th class=n>{}</th><th class=n>{}</th><th>{}</th><th>{}</th></tr>",
        t("门岗", "Gate"),
        t("社区", "Community"),
        t("状态", "Status"),
        t("最近联系", "Last contact"),
        t("最新事件", "Newest event"),
        t("已收事件", "Events"),
        t("隔离事件", "Quarantined"),
        t("姓名", "Names"),
        t("说明", "Detail"),
    );
    for (g, state) in gates.iter().zip(&states) {
        let label = match *state {
            "broken" => t("链断裂", "CHAIN BROKEN"),
            "stale" => t("失联", "stale"),
            "file" => t("文件导入", "by file"),
            _ => t("正常", "ok"),
        };
        let contact = match (&g.last_contact, &g.url) {
            (Some(c), _) => local(c, tz),
            (None, None) => t("—（不联网）", "— (no network)").to_string(),
            (None, Some(_)) => t("从未", "never").to_string(),
        };
        let detail = match (&g.chain_detail, &g.last_error) {
            (Some(d), _) => esc(d),
            (None, Some(e)) => format!(
                "{}{}",
                g.last_error_at.as_deref().map(|a| format!("{} ", local(a, tz))).unwrap_or_default(),
                esc(e)
            ),
            (None, None) => String::new(),
        };
        let _ = write!(
            b,
            "<tr class={state}><td>{}</td><td>{}</td><td><span class='badge {state}'>{label}</span></td><td>{contact}</td>\
             <td>{}</td><td class=n>{}</td><td class=n>{}</td><td>{}</td><td class=detail>{detail}</td></tr>",
            esc(&g.name),
            esc(&g.community),
            g.newest_event.as_deref().map(|c| local(c, tz)).unwrap_or_else(|| "—".into()),
            g.events,
            g.quarantined,
            if g.names_shared { t("共享姓名", "shared") } else { t("仅编号", "ids only") },
        );
    }
    b.push_str("</table>");
    let _ = write!(
        b,
        "<p class=note>{} {}</p><p class=note>{}</p>",
        if en {
            format!("A networked gate not heard from for {} minutes is marked stale.", cfg.district.stale_minutes)
        } else {
            format!("联网门岗超过 {} 分钟没有联系即标为失联。", cfg.district.stale_minutes)
        },
        t(
            "“最新事件”是收到的最后一条记录的时间，不联网的门岗看它就知道数据新不新。",
            "Newest event is the time of the last record held: for a gate without network it shows how fresh its data is."
        ),
        t(
            "数据最小化：门岗只交编号（居民号、户号）；只有社区设置 share_names = true 的门岗才交姓名（见“姓名”列）。链断裂的门岗，其新事件单独隔离，不计入统计。",
            "Data minimisation: gates hand over resident and household numbers only; names only where the community set share_names = true (see the Names column). A gate with a broken chain has its new events kept apart and not counted."
        )
    );
    b.push_str("</main>");
    Ok(Html(page(en, t("门岗 · 区县出入数据", "Gates · District gate data"), &b)))
}

async fn daily_page(
    PageUser(user): PageUser,
    State(s): State<Shared>,
    Query(q): Query<LangQuery>,
) -> Result<Html<String>, WebError> {
    let en = q.is_en();
    let t = |zh: &'static str, e: &'static str| if en { e } else { zh };
    let cfg = &s.config;
    let tz = cfg.timezone().unwrap_or(chrono_tz::Asia::Shanghai);
    let date = report::parse_date(q.date.as_deref().unwrap_or("today"), tz, Utc::now())?;
    let store = lock(&s)?;
    let daily = report::daily(&store, cfg, date)?;
    let over_time = report::series(&store, cfg, date, 14)?;
    drop(store);

    let mut b = nav(en, &user, Tab::Daily, &format!("&date={date}"));
    let _ = write!(
        b,
        "<main><h1>{} {date}</h1><form method=get class=bar><input type=hidden name=lang value={}>\
         <label>{} <input type=date name=date value={date} required></label><button>{}</button>\
         <a href='/api/v1/report/daily?date={date}&format=csv'>{}</a>\
         <a href='/api/v1/report/daily?date={date}&format=dhis2'>DHIS2 JSON</a></form>",
        t("每日数据", "Daily figures"),
        if en { "en" } else { "zh" },
        t("日期", "Date"),
        t("查看", "Show"),
        t("下载 CSV", "Download CSV"),
    );
    if daily.gates.is_empty() {
        let _ = write!(b, "<p class=empty>{}</p></main>", t("还没有门岗，没有数据。", "No gates yet, so no figures."));
        return Ok(Html(page(en, t("每日数据 · 区县出入数据", "Daily figures · District gate data"), &b)));
    }
    let _ = write!(b, "<table><tr><th>{}</th><th>{}</th>", t("门岗", "Gate"), t("社区", "Community"));
    for (zh, e, _, _) in series() {
        let _ = write!(b, "<th class=n>{}</th>", if en { e } else { zh });
    }
    let _ = write!(b, "<th class=n>{}</th></tr>", t("超时未归", "Overdue"));
    let row = |class: &str, gate: &str, comm: &str, c: &Counts| {
        format!(
            "<tr{class}><td>{}</td><td>{}</td><td class=n>{}</td><td class=n>{}</td><td class=n>{}</td><td class=n>{}</td><td class=n>{}</td></tr>",
            esc(gate),
            esc(comm),
            c.exits,
            c.entries,
            c.denied,
            c.fever,
            c.overdue
        )
    };
    for g in &daily.gates {
        b.push_str(&row("", &g.gate, &g.community, &g.counts));
    }
    b.push_str(&row(" class=total", t("合计", "Total"), "", &daily.total));
    b.push_str("</table>");
    let _ = write!(
        b,
        "<div class=charts><figure><figcaption>{} {date}</figcaption>{}</figure>\
         <figure><figcaption>{}</figcaption>{}</figure></div>",
        t("各门岗", "Per gate,"),
        bars_svg(&daily, en),
        if en {
            format!("District totals, 14 days to {date}")
        } else {
            format!("全区合计，截至 {date} 的14天")
        },
        line_svg(&over_time, en)
    );
    let _ = write!(
        b,
        "<p class=note>{}</p></main>",
        if en {
            format!(
                "Counted by each event's own time, local day ({tz}). Exits and entries: allowed crossings. Denied exits: refused on the way out. Fever: {:.1} °C or over, or the gate's fever reason; a fever on the way back is counted as fever, not as an entry. Overdue: came back after the outing limit.",
                cfg.district.fever_c
            )
        } else {
            format!(
                "按每条记录自身的时间计入当地日期（{tz}）。外出、返回：放行的通行；拒绝外出：出门被拒；发热：体温 ≥ {:.1} °C 或门岗判定发热，发热返回计为发热、不计返回；超时未归：超过外出时限才返回。",
                cfg.district.fever_c
            )
        }
    );
    Ok(Html(page(en, t("每日数据 · 区县出入数据", "Daily figures · District gate data"), &b)))
}

async fn alerts_page(
    PageUser(user): PageUser,
    State(s): State<Shared>,
    Query(q): Query<LangQuery>,
) -> Result<Html<String>, WebError> {
    let en = q.is_en();
    let t = |zh: &'static str, e: &'static str| if en { e } else { zh };
    let cfg = &s.config;
    let tz = cfg.timezone().unwrap_or(chrono_tz::Asia::Shanghai);
    let now = Utc::now();
    let days = q.days.unwrap_or(3).clamp(1, 31);
    let store = lock(&s)?;
    let gates = store.gates()?;
    let alerts: Vec<_> = store
        .facts_between((now - chrono::Duration::days(i64::from(days))).timestamp_millis(), now.timestamp_millis() + 1)?
        .into_iter()
        .filter(|e| e.fever_reason || e.temperature_c.is_some_and(|t| t >= cfg.district.fever_c))
        .collect();
    drop(store);

    let l = if en { "en" } else { "zh" };
    let mut b = nav(en, &user, Tab::Alerts, &format!("&days={days}"));
    let _ = write!(
        b,
        "<main><h1>{}</h1><form method=get class=bar><input type=hidden name=lang value={l}>\
         <label>{} <input name=days type=number min=1 max=31 value={days}></label><button>{}</button></form>\
         <p class=note>{}</p>",
        t("发热警报", "Fever alerts"),
        t("最近天数", "Last days"),
        t("查看", "Show"),
        if en {
            format!(
                "Crossings of the last {days} days with {:.1} °C or over, or the gate's fever reason; newest first. The resident number opens their trace.",
                cfg.district.fever_c
            )
        } else {
            format!(
                "近 {days} 天体温 ≥ {:.1} °C 或门岗判定发热的通行记录，最新的在前。点居民号查看其轨迹。",
                cfg.district.fever_c
            )
        }
    );
    if alerts.is_empty() {
        let _ = write!(
            b,
            "<p class=empty>{}</p></main>",
            if en {
                format!("No fever in the last {days} days.")
            } else {
                format!("近 {days} 天没有发热记录。")
            }
        );
        return Ok(Html(page(en, t("发热警报 · 区县出入数据", "Fever alerts · District gate data"), &b)));
    }
    let names: std::collections::HashMap<i64, (&str, &str)> =
        gates.iter().map(|g| (g.id, (g.name.as_str(), g.community.as_str()))).collect();
    let _ = write!(
        b,
        "<table><tr><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th class=n>°C</th><th>{}</th></tr>",
        t("时间", "Time"),
        t("门岗", "Gate"),
        t("社区", "Community"),
        t("居民号", "Resident"),
        t("户号", "Household"),
        t("方向", "Direction"),
        t("结果", "Decision")
    );
    for e in alerts.iter().rev() {
        let (g, c) = names.get(&e.gate_id).copied().unwrap_or(("?", "?"));
        let person = match e.resident_id {
            Some(id) => format!(
                "<a href='/trace?resident={id}&community={}&lang={l}'>{}</a>",
                url_enc(c),
                who(Some(id), e.resident_name.as_deref(), en)
            ),
            None => who(None, None, en),
        };
        let _ = write!(
            b,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{person}</td><td>{}</td><td>{}</td><td class='n hot'>{}</td><td>{}</td></tr>",
            local(&e.at, tz),
            esc(g),
            esc(c),
            esc(e.household.as_deref().unwrap_or("")),
            direction_label(e.direction.as_deref(), en),
            e.temperature_c.map(|t| format!("{t:.1}")).unwrap_or_else(|| "—".into()),
            decision_label(&e.decision, en)
        );
    }
    b.push_str("</table></main>");
    Ok(Html(page(en, t("发热警报 · 区县出入数据", "Fever alerts · District gate data"), &b)))
}

async fn trace_page(
    PageUser(user): PageUser,
    State(s): State<Shared>,
    Query(q): Query<TraceQuery>,
) -> Result<Html<String>, WebError> {
    let en = q.lang.as_deref() == Some("en");
    let t = |zh: &'static str, e: &'static str| if en { e } else { zh };
    let l = if en { "en" } else { "zh" };
    let tz = s.config.timezone().unwrap_or(chrono_tz::Asia::Shanghai);
    let resident = q.resident.as_deref().unwrap_or("").trim();
    let community = q.community.as_deref().unwrap_or("").trim();
    let days = q.days.unwrap_or(14);
    let keep = if resident.is_empty() {
        String::new()
    } else {
        format!("&resident={}&community={}&days={days}", url_enc(resident), url_enc(community))
    };
    let mut b = nav(en, &user, Tab::Trace, &keep);
    let _ = write!(
        b,
        "<main><h1>{}</h1><form method=get class=bar><input type=hidden name=lang value={l}>\
         <label>{} <input name=resident value='{}' inputmode=numeric required></label>\
         <label>{} <input name=community value='{}'></label>\
         <label>{} <input name=days type=number min=1 max=366 value={days}></label><button>{}</button></form>",
        t("病例轨迹", "Trace a case"),
        t("居民号", "Resident number"),
        esc(resident),
        t("社区（可选）", "Community (optional)"),
        esc(community),
        t("天数", "Days"),
        t("查询", "Search")
    );
    let tr = match run_trace(&s, &q) {
        Err(WebError::BadRequest(_)) => {
            let _ = write!(
                b,
                "<p class=error role=alert>{}</p></main>",
                t(
                    "居民号只能是数字，如 10000017（见门岗记录或通行证）。",
                    "The resident number is digits only, e.g. 10000017 (as on the gate's records or the pass)."
                )
            );
            return Ok(Html(page(en, t("病例轨迹 · 区县出入数据", "Trace a case · District gate data"), &b)));
        }
        r => r?,
    };
    let Some(tr) = tr else {
        let _ = write!(
            b,
            "<p class=note>{}</p></main>",
            t(
                "输入居民号，查看此人在所选天数内每次通过哪个门岗，以及前后时段内还有谁通过同一门岗。",
                "Enter a resident number to see every gate crossing in the chosen days, and who else crossed the same gate around each one."
            )
        );
        return Ok(Html(page(en, t("病例轨迹 · 区县出入数据", "Trace a case · District gate data"), &b)));
    };
    let period = format!("{} – {}", local(&tr.from, tz), local(&tr.until, tz));
    if tr.crossings.is_empty() {
        let _ = write!(
            b,
            "<p class=empty>{}</p></main>",
            if en {
                format!("No crossings of resident {} between {period}.", tr.resident_id)
            } else {
                format!("居民号 {} 在 {period} 之间没有通行记录。", tr.resident_id)
            }
        );
        return Ok(Html(page(en, t("病例轨迹 · 区县出入数据", "Trace a case · District gate data"), &b)));
    }
    let _ = write!(
        b,
        "<p class=summary>{}</p>",
        if en {
            format!(
                "Resident {}, {period}: {} crossings; {} other people crossed the same gate within ±{} minutes.",
                tr.resident_id,
                tr.crossings.len(),
                tr.distinct_contacts,
                tr.window_minutes
            )
        } else {
            format!(
                "居民号 {}，{period}：通行 {} 次；前后 {} 分钟内另有 {} 人通过同一门岗。",
                tr.resident_id,
                tr.crossings.len(),
                tr.window_minutes,
                tr.distinct_contacts
            )
        }
    );
    let _ = write!(
        b,
        "<table><tr><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th class=n>°C</th><th class=n>{}</th></tr>",
        t("时间", "Time"),
        t("门岗", "Gate"),
        t("社区", "Community"),
        t("方向", "Direction"),
        t("结果", "Decision"),
        t("同时段他人", "Others around")
    );
    let fever_c = s.config.district.fever_c;
    for c in &tr.crossings {
        let _ = write!(
            b,
            "<tr><td>{}{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class='n{}'>{}</td><td class=n>{}</td></tr>",
            local(&c.at, tz),
            if c.backfilled { format!("<span class=tag>{}</span>", t("补录", "backfilled")) } else { String::new() },
            esc(&c.gate),
            esc(&c.community),
            direction_label(c.direction.as_deref(), en),
            decision_label(&c.decision, en),
            if c.temperature_c.is_some_and(|v| v >= fever_c) { " hot" } else { "" },
            c.temperature_c.map(|v| format!("{v:.1}")).unwrap_or_else(|| "—".into()),
            c.contacts.len()
        );
    }
    b.push_str("</table>");
    for c in tr.crossings.iter().filter(|c| !c.contacts.is_empty()) {
        let _ = write!(
            b,
            "<h2>{} {} {} — {}</h2>",
            local(&c.at, tz),
            esc(&c.gate),
            direction_label(c.direction.as_deref(), en),
            if en {
                format!("who else crossed within ±{} minutes", tr.window_minutes)
            } else {
                format!("前后 {} 分钟内通过的人", tr.window_minutes)
            }
        );
        let _ = write!(
            b,
            "<table><tr><th>{}</th><th class=n>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th></tr>",
            t("时间", "Time"),
            t("相差分钟", "Minutes apart"),
            t("居民号", "Resident"),
            t("户号", "Household"),
            t("方向", "Direction"),
            t("结果", "Decision")
        );
        for k in &c.contacts {
            let person = match k.resident_id {
                Some(id) => format!(
                    "<a href='/trace?resident={id}&community={}&lang={l}'>{}</a>",
                    url_enc(&c.community),
                    who(Some(id), k.resident_name.as_deref(), en)
                ),
                None => who(None, None, en),
            };
            let _ = write!(
                b,
                "<tr><td>{}</td><td class=n>{:+.1}</td><td>{person}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                local(&k.at, tz),
                k.minutes_apart,
                esc(k.household.as_deref().unwrap_or("")),
                direction_label(k.direction.as_deref(), en),
                decision_label(&k.decision, en)
            );
        }
        b.push_str("</table>");
    }
    b.push_str("</main>");
    Ok(Html(page(en, t("病例轨迹 · 区县出入数据", "Trace a case · District gate data"), &b)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_and_cookies() {
        assert_eq!(esc("<a href='x'>&\""), "&lt;a href=&#39;x&#39;&gt;&amp;&quot;");
        let mut h = HeaderMap::new();
        h.insert(header::COOKIE, "a=1; gpd_session=abc; b=2".parse().unwrap());
        assert_eq!(cookie(&h, SESSION_COOKIE), Some("abc"));
        assert_eq!(cookie(&h, "c"), None);
        assert_eq!(url_enc("阳光 a&b#"), "%E9%98%B3%E5%85%89%20a%26b%23");
    }

    #[test]
    fn chart_axis_steps() {
        assert_eq!(y_axis(0), (1, 1));
        assert_eq!(y_axis(4), (1, 4));
        assert_eq!(y_axis(7), (2, 8));
        assert_eq!(y_axis(37), (10, 40));
        assert_eq!(y_axis(120), (50, 150));
    }
}
