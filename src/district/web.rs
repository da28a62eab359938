//! `district serve`: the district pages (Chinese first, English on a
//! switch) and a small JSON API.
//!
//! Pages: gates with last contact and chain status (stale and broken gates
//! highlighted), the day's figures with charts per gate and over time
//! (inline SVG: the district office may have no internet), fever alerts,
//! and the trace search. Logins are `district user add` accounts (argon2);
//! a session is a random cookie, HttpOnly and SameSite=Strict, stored
//! hashed. `GET /api/v1/report/daily?date=` answers a district token
//! (`district token create`) or a session.

use super::config::DistrictConfig;
use super::report::{self, Counts};
use super::store::{DistrictStore, GateRow};
use super::{trace, DistrictError};
use crate::auth;
use axum::extract::{FromRequestParts, Query, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Json, Router};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex};

pub const SESSION_COOKIE: &str = "gpd_session";
const SESSION_HOURS: i64 = 12;

pub struct AppState {
    pub store: Mutex<DistrictStore>,
    pub config: DistrictConfig,
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
            DistrictError::BadDate(_) | DistrictError::UnmappedOrgUnits(_) | DistrictError::Usage(_) => {
                WebError::BadRequest(e.to_string())
            }
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
        .route("/", get(dashboard))
        .route("/trace", get(trace_page))
        .route("/login", get(login_page).post(login))
        .route("/logout", post(logout))
        .route("/api/v1/health", get(|| async { Json(serde_json::json!({"ok": true, "role": "district"})) }))
        .route("/api/v1/report/daily", get(api_daily))
        .route("/api/v1/trace", get(api_trace))
        .route("/api/v1/gates", get(api_gates))
        .with_state(state)
}

/// Serves until Ctrl-C.
pub async fn serve(listener: tokio::net::TcpListener, state: Shared) -> std::io::Result<()> {
    axum::serve(listener, app(state))
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
        Some("dhis2") => Json(report::to_dhis2(&r, &s.config)?).into_response(),
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
}

async fn login_page(Query(q): Query<LangQuery>) -> Html<String> {
    let en = q.is_en();
    let t = |zh: &'static str, e: &'static str| if en { e } else { zh };
    Html(page(
        en,
        t("登录", "Log in"),
        &format!(
            "<form method=post action=/login class=login><label>{}<input name=name autofocus></label>\
             <label>{}<input name=password type=password></label><button>{}</button></form>",
            t("用户名", "Name"),
            t("密码", "Password"),
            t("登录", "Log in")
        ),
    ))
}

async fn login(State(s): State<Shared>, Form(f): Form<LoginForm>) -> Result<Response, WebError> {
    let user = lock(&s)?.user(f.name.trim())?;
    let ok = match &user {
        Some((role, hash)) => auth::verify_password(&f.password, hash) && role == "district",
        None => {
            auth::dummy_password_check(&f.password);
            false
        }
    };
    if !ok {
        return Ok((
            StatusCode::UNAUTHORIZED,
            Html(page(
                false,
                "登录失败 Login failed",
                "<p>用户名或密码不对。Wrong name or password. <a href=/login>↩</a></p>",
            )),
        )
            .into_response());
    }
    let token = auth::new_token();
    let expires = Utc::now().timestamp_millis() + SESSION_HOURS * 3_600_000;
    lock(&s)?.add_session(&auth::token_hash(&token), f.name.trim(), expires)?;
    let c = format!("{SESSION_COOKIE}={token}; HttpOnly; SameSite=Strict; Path=/; Max-Age={}", SESSION_HOURS * 3600);
    Ok(([(header::SET_COOKIE, c)], Redirect::to("/")).into_response())
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

const CSS: &str = "body{font-family:system-ui,'Noto Sans CJK SC',sans-serif;margin:1rem auto;max-width:72rem;padding:0 1rem;color:#222}\
table{border-collapse:collapse;margin:.5rem 0 1.5rem}td,th{border:1px solid #ccc;padding:.3rem .6rem;text-align:left}\
th{background:#f3f3f3}.broken{background:#fdd;font-weight:bold}.stale{background:#ffe9b3}.ok{color:#176f2c}\
.note{color:#555;font-size:.9rem}nav{display:flex;gap:1rem;align-items:center}nav form{margin:0}\
.login label{display:block;margin:.5rem 0}svg text{font-size:11px}";

fn page(en: bool, title: &str, body: &str) -> String {
    format!(
        "<!doctype html><html lang={}><head><meta charset=utf-8><meta name=viewport content='width=device-width,initial-scale=1'>\
         <title>{}</title><style>{CSS}</style></head><body>{body}</body></html>",
        if en { "en" } else { "zh-CN" },
        esc(title)
    )
}

fn local(at: &str, tz: chrono_tz::Tz) -> String {
    DateTime::parse_from_rfc3339(at)
        .map(|t| t.with_timezone(&tz).format("%Y-%m-%d %H:%M").to_string())
        .unwrap_or_else(|_| at.to_string())
}

fn nav(en: bool, user: &str, extra: &str) -> String {
    let (switch, label) = if en { ("zh", "中文") } else { ("en", "English") };
    format!(
        "<nav><strong>{}</strong><a href='/?lang={l}'>{}</a><a href='/trace?lang={l}'>{}</a>\
         <a href='?lang={switch}{extra}'>{label}</a><span class=note>{}</span>\
         <form method=post action=/logout><button>{}</button></form></nav>",
        if en { "District gate data" } else { "区县出入数据" },
        if en { "Overview" } else { "总览" },
        if en { "Trace a case" } else { "病例轨迹" },
        esc(user),
        if en { "Log out" } else { "退出" },
        l = if en { "en" } else { "zh" },
    )
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

/// A chart series: Chinese label, English label, colour, the figure.
type Series = (&'static str, &'static str, &'static str, fn(&Counts) -> u64);

/// Grouped bars per gate: exits, entries, denied, fever.
fn bars_svg(r: &report::DailyReport, en: bool) -> String {
    let series: [Series; 4] = [
        ("出", "exits", "#2b7bb9", |c| c.exits),
        ("进", "entries", "#3a9d5d", |c| c.entries),
        ("拒", "denied", "#c0392b", |c| c.denied),
        ("热", "fever", "#e67e22", |c| c.fever),
    ];
    let max = r.gates.iter().flat_map(|g| series.iter().map(|s| (s.3)(&g.counts))).max().unwrap_or(0).max(1);
    let group_w = 4 * 18 + 24;
    let w = (r.gates.len().max(1) * group_w + 40) as u32;
    let h = 180u32;
    let mut s = format!("<svg width={w} height={} role=img aria-label='daily figures per gate'>", h + 40);
    for (gi, g) in r.gates.iter().enumerate() {
        let x0 = 30 + gi * group_w;
        for (si, (zh, e, colour, f)) in series.iter().enumerate() {
            let v = f(&g.counts);
            let bh = (v as f64 / max as f64 * h as f64) as u32;
            let _ = write!(
                s,
                "<rect x={} y={} width=16 height={bh} fill='{colour}'><title>{} {}: {v}</title></rect>",
                x0 + si * 18,
                h - bh,
                esc(&g.gate),
                if en { *e } else { *zh }
            );
            let _ = write!(s, "<text x={} y={}>{v}</text>", x0 + si * 18 + 3, h.saturating_sub(bh + 2).max(10));
        }
        let _ = write!(s, "<text x={x0} y={}>{}</text>", h + 16, esc(&g.gate));
    }
    let mut lx = 30;
    for (zh, e, colour, _) in series {
        let _ = write!(
            s,
            "<rect x={lx} y={} width=10 height=10 fill='{colour}'/><text x={} y={}>{}</text>",
            h + 26,
            lx + 13,
            h + 35,
            if en { e } else { zh }
        );
        lx += 70;
    }
    s.push_str("</svg>");
    s
}

/// Daily totals over the last days, exits/entries/fever as lines.
fn line_svg(series: &[(chrono::NaiveDate, Counts)], en: bool) -> String {
    let w = 640u32;
    let h = 160u32;
    let max = series.iter().map(|(_, c)| c.exits.max(c.entries).max(c.fever)).max().unwrap_or(0).max(1);
    let n = series.len().max(2) - 1;
    let x = |i: usize| 30.0 + i as f64 * (f64::from(w) - 50.0) / n as f64;
    let y = |v: u64| 10.0 + f64::from(h) * (1.0 - v as f64 / max as f64);
    let mut s = format!("<svg width={w} height={} role=img aria-label='daily totals over time'>", h + 40);
    let lines: [Series; 3] = [
        ("出", "exits", "#2b7bb9", |c| c.exits),
        ("进", "entries", "#3a9d5d", |c| c.entries),
        ("发热", "fever", "#e67e22", |c| c.fever),
    ];
    for (li, (zh, e, colour, f)) in lines.iter().enumerate() {
        let pts: Vec<String> =
            series.iter().enumerate().map(|(i, (_, c))| format!("{:.1},{:.1}", x(i), y(f(c)))).collect();
        let _ = write!(s, "<polyline fill=none stroke='{colour}' stroke-width=2 points='{}'/>", pts.join(" "));
        let _ = write!(s, "<text x={} y={} fill='{colour}'>{}</text>", 30 + li * 80, h + 36, if en { *e } else { *zh });
    }
    for (i, (d, _)) in series.iter().enumerate() {
        if i % 2 == 0 || i + 1 == series.len() {
            let _ = write!(s, "<text x={:.0} y={}>{}</text>", x(i) - 14.0, h + 22, d.format("%m-%d"));
        }
    }
    let _ = write!(s, "<text x=2 y=14>{max}</text><text x=2 y={}>0</text></svg>", h + 10);
    s
}

async fn dashboard(
    PageUser(user): PageUser,
    State(s): State<Shared>,
    Query(q): Query<LangQuery>,
) -> Result<Html<String>, WebError> {
    let en = q.is_en();
    let t = |zh: &'static str, e: &'static str| if en { e } else { zh };
    let cfg = &s.config;
    let tz = cfg.timezone().unwrap_or(chrono_tz::Asia::Shanghai);
    let now = Utc::now();
    let date = report::parse_date(q.date.as_deref().unwrap_or("today"), tz, now)?;
    let store = lock(&s)?;
    let gates = store.gates()?;
    let daily = report::daily(&store, cfg, date)?;
    let over_time = report::series(&store, cfg, date, 14)?;
    let alerts: Vec<_> = store
        .facts_between((now - chrono::Duration::days(3)).timestamp_millis(), now.timestamp_millis() + 1)?
        .into_iter()
        .filter(|e| e.fever_reason || e.temperature_c.is_some_and(|t| t >= cfg.district.fever_c))
        .collect();
    drop(store);

    let mut b = nav(en, &user, &format!("&date={date}"));
    let _ = write!(b, "<h2>{}</h2>", t("门岗", "Gates"));
    b.push_str(&format!(
        "<table><tr><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th></tr>",
        t("门岗", "Gate"),
        t("社区", "Community"),
        t("状态", "Status"),
        t("最近联系", "Last contact"),
        t("已收事件", "Events"),
        t("隔离事件", "Quarantined"),
        t("姓名", "Names"),
        t("说明", "Detail"),
    ));
    for g in &gates {
        let state = gate_state(g, now, cfg.district.stale_minutes);
        let label = match (state, en) {
            ("broken", false) => "链断裂",
            ("broken", true) => "CHAIN BROKEN",
            ("stale", false) => "失联",
            ("stale", true) => "stale",
            ("file", false) => "文件导入",
            ("file", true) => "by file",
            (_, false) => "正常",
            (_, true) => "ok",
        };
        let detail = g.chain_detail.clone().or_else(|| g.last_error.clone()).unwrap_or_default();
        let _ = write!(
            b,
            "<tr class={state}><td>{}</td><td>{}</td><td>{label}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&g.name),
            esc(&g.community),
            g.last_contact.as_deref().map(|c| local(c, tz)).unwrap_or_else(|| "—".into()),
            g.events,
            g.quarantined,
            if g.names_shared { t("共享姓名", "shared") } else { t("仅编号", "ids only") },
            esc(&detail)
        );
    }
    b.push_str("</table>");
    let _ = write!(
        b,
        "<p class=note>{}</p>",
        t(
            "数据最小化：门岗只交编号（居民号、户号）；只有社区设置 share_names = true 的门岗才交姓名（见“姓名”列）。链断裂的门岗，其新事件单独隔离，不计入统计。",
            "Data minimisation: gates hand over resident and household numbers only; names only where the community set share_names = true (see the Names column). A gate with a broken chain has its new events kept apart and not counted."
        )
    );

    let _ = write!(
        b,
        "<h2>{} {date}</h2><form method=get><input type=hidden name=lang value={}><input type=date name=date value={date}> <button>{}</button> \
         <a href='/api/v1/report/daily?date={date}&format=csv'>CSV</a> <a href='/api/v1/report/daily?date={date}&format=dhis2'>DHIS2</a></form>",
        t("每日数据", "Daily figures"),
        if en { "en" } else { "zh" },
        t("查看", "Show")
    );
    let _ = write!(
        b,
        "<table><tr><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th></tr>",
        t("门岗", "Gate"),
        t("社区", "Community"),
        t("外出", "Exits"),
        t("返回", "Entries"),
        t("拒绝外出", "Denied exits"),
        t("发热", "Fever"),
        t("超时未归", "Overdue")
    );
    let row = |gate: &str, comm: &str, c: &Counts| {
        format!(
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
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
        b.push_str(&row(&g.gate, &g.community, &g.counts));
    }
    b.push_str(&row(t("合计", "Total"), "", &daily.total));
    b.push_str("</table>");
    b.push_str(&bars_svg(&daily, en));
    let _ = write!(b, "<h3>{}</h3>{}", t("近14天合计", "Totals, last 14 days"), line_svg(&over_time, en));

    let _ = write!(b, "<h2>{}</h2>", t("发热警报（近3天）", "Fever alerts (last 3 days)"));
    if alerts.is_empty() {
        let _ = write!(b, "<p>{}</p>", t("无", "None"));
    } else {
        let names: std::collections::HashMap<i64, (&str, &str)> =
            gates.iter().map(|g| (g.id, (g.name.as_str(), g.community.as_str()))).collect();
        let _ = write!(
            b,
            "<table><tr><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>°C</th><th>{}</th></tr>",
            t("时间", "Time"),
            t("门岗", "Gate"),
            t("居民号", "Resident"),
            t("户号", "Household"),
            t("结果", "Decision")
        );
        for e in alerts.iter().rev() {
            let (g, c) = names.get(&e.gate_id).copied().unwrap_or(("?", "?"));
            let who = match (&e.resident_id, &e.resident_name) {
                (Some(id), Some(n)) => format!("{id} {}", esc(n)),
                (Some(id), None) => id.to_string(),
                _ => "—".into(),
            };
            let _ = write!(
                b,
                "<tr class=broken><td>{}</td><td>{} ({})</td><td><a href='/trace?resident={}&community={}&lang={}'>{who}</a></td><td>{}</td><td>{}</td><td>{}</td></tr>",
                local(&e.at, tz),
                esc(g),
                esc(c),
                e.resident_id.map(|i| i.to_string()).unwrap_or_default(),
                esc(c),
                if en { "en" } else { "zh" },
                esc(e.household.as_deref().unwrap_or("")),
                e.temperature_c.map(|t| format!("{t:.1}")).unwrap_or_default(),
                esc(&e.decision)
            );
        }
        b.push_str("</table>");
    }
    Ok(Html(page(en, t("区县出入数据", "District gate data"), &b)))
}

async fn trace_page(
    PageUser(user): PageUser,
    State(s): State<Shared>,
    Query(q): Query<TraceQuery>,
) -> Result<Html<String>, WebError> {
    let en = q.lang.as_deref() == Some("en");
    let t = |zh: &'static str, e: &'static str| if en { e } else { zh };
    let tz = s.config.timezone().unwrap_or(chrono_tz::Asia::Shanghai);
    let mut b = nav(en, &user, "");
    let _ = write!(
        b,
        "<h2>{}</h2><form method=get><input type=hidden name=lang value={}>\
         <label>{} <input name=resident value='{}' inputmode=numeric required></label> \
         <label>{} <input name=community value='{}'></label> \
         <label>{} <input name=days type=number min=1 max=366 value={}></label> <button>{}</button></form>",
        t("病例轨迹", "Trace a case"),
        if en { "en" } else { "zh" },
        t("居民号", "Resident number"),
        esc(q.resident.as_deref().unwrap_or("")),
        t("社区（可选）", "Community (optional)"),
        esc(q.community.as_deref().unwrap_or("")),
        t("天数", "Days"),
        q.days.unwrap_or(14),
        t("查询", "Search")
    );
    if let Some(tr) = run_trace(&s, &q)? {
        let _ = write!(
            b,
            "<p>{} {} · ±{} {} · {} {}</p>",
            tr.crossings.len(),
            t("次通行", "crossings"),
            tr.window_minutes,
            t("分钟", "minutes"),
            tr.distinct_contacts,
            t("名接触者", "people crossed the same gate within the window")
        );
        for c in &tr.crossings {
            let _ = write!(
                b,
                "<h3>{} {} ({}) — {} {} {}</h3>",
                local(&c.at, tz),
                esc(&c.gate),
                esc(&c.community),
                esc(c.direction.as_deref().unwrap_or("")),
                esc(&c.decision),
                c.temperature_c.map(|t| format!("{t:.1}°C")).unwrap_or_default()
            );
            if c.contacts.is_empty() {
                let _ =
                    write!(b, "<p class=note>{}</p>", t("窗口内无他人通行", "nobody else crossed within the window"));
                continue;
            }
            let _ = write!(
                b,
                "<table><tr><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th></tr>",
                t("时间", "Time"),
                t("相差分钟", "Minutes apart"),
                t("居民号", "Resident"),
                t("户号", "Household"),
                t("方向", "Direction"),
                t("结果", "Decision")
            );
            for k in &c.contacts {
                let who = match (&k.resident_id, &k.resident_name) {
                    (Some(id), Some(n)) => format!("{id} {}", esc(n)),
                    (Some(id), None) => id.to_string(),
                    _ => t("未识别", "unknown").to_string(),
                };
                let _ = write!(
                    b,
                    "<tr><td>{}</td><td>{:+.1}</td><td>{who}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                    local(&k.at, tz),
                    k.minutes_apart,
                    esc(k.household.as_deref().unwrap_or("")),
                    esc(k.direction.as_deref().unwrap_or("")),
                    esc(&k.decision)
                );
            }
            b.push_str("</table>");
        }
    }
    Ok(Html(page(en, t("病例轨迹", "Trace a case"), &b)))
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
    }
}
