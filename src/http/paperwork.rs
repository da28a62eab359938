//! The committee's paperwork over HTTP (issue 12): one-person changes to
//! the register, follow-up visits (the volunteer role) and the lists they
//! feed. Thin: every rule lives in the gate and the domain.

use super::auth::{CommitteeAccess, VolunteerAccess};
use super::error::{ApiError, ApiJson, ApiQuery};
use super::AppState;
use crate::domain::revocation::RevokeReason;
use crate::domain::{Category, ResidentId};
use crate::gate::{NewResident, Visit};
use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use serde::Deserialize;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/residents", post(add_resident))
        .route("/api/v1/residents/{id}/move", post(move_resident))
        .route("/api/v1/residents/{id}/left", post(mark_left))
        .route("/api/v1/residents/{id}/phone", put(set_phone))
        .route("/api/v1/followups", post(record_followup).get(followup_book))
        .route("/api/v1/followups/home", get(home))
        .route("/api/v1/followups/due", get(due))
        .route("/api/v1/ledger", get(ledger))
        .route("/api/v1/export/{book}", get(export))
}

const XLSX_TYPE: &str = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";

/// A spreadsheet download; the file name is ASCII with the Chinese name
/// beside it (RFC 5987), so every browser saves it.
fn xlsx_response(bytes: Vec<u8>, ascii_name: &str, zh_name: &str) -> Response {
    let disposition = format!("attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{}", utf8_percent(zh_name));
    ([(header::CONTENT_TYPE, XLSX_TYPE.to_string()), (header::CONTENT_DISPOSITION, disposition)], bytes).into_response()
}

fn utf8_percent(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

#[derive(Deserialize)]
struct LedgerQuery {
    #[serde(default)]
    date: Option<String>,
    /// json (default), xlsx or html
    #[serde(default)]
    format: Option<String>,
}

/// The day's 出入台账: JSON, a workbook, or a page to print.
async fn ledger(
    State(state): State<AppState>,
    _w: CommitteeAccess,
    ApiQuery(q): ApiQuery<LedgerQuery>,
) -> Result<Response, ApiError> {
    let policy = state.policy()?;
    let day = parse_day(q.date.as_deref(), policy.timezone)?;
    let community = state.inner.identity.community.clone();
    let l = {
        let store = state.reader()?;
        crate::ledger::build(&store, &community, &policy, day)?
            .ok_or_else(|| ApiError::BadDate(format!("{day} cannot be shown")))?
    };
    match q.format.as_deref().unwrap_or("json") {
        "json" => Ok(Json(serde_json::to_value(&l).map_err(|_| ApiError::Internal)?).into_response()),
        "xlsx" => {
            let bytes =
                tokio::task::spawn_blocking(move || l.xlsx()).await.map_err(|_| ApiError::Internal)?.map_err(|e| {
                    tracing::error!("ledger: {e}");
                    ApiError::Internal
                })?;
            Ok(xlsx_response(bytes, &format!("ledger-{day}.xlsx"), &format!("出入台账-{day}.xlsx")))
        }
        "html" => Ok(crate::web::headers::with_csp(Html(l.html()).into_response(), crate::web::headers::DOCUMENT_CSP)),
        other => Err(ApiError::Usage(format!("format '{other}' must be json, xlsx or html"))),
    }
}

#[derive(Deserialize)]
struct ExportQuery {
    #[serde(default)]
    date: Option<String>,
}

/// The register, passes, a day's follow-up book or the alerts as .xlsx.
async fn export(
    State(state): State<AppState>,
    _w: CommitteeAccess,
    Path(book): Path<String>,
    ApiQuery(q): ApiQuery<ExportQuery>,
) -> Result<Response, ApiError> {
    use crate::xlsx::Cell;
    let policy = state.policy()?;
    let tz = policy.timezone;
    let today = Utc::now().with_timezone(&tz).date_naive();
    let (headers, rows, ascii, zh): (Vec<&str>, Vec<Vec<Cell>>, String, String) = match book.as_str() {
        "register.xlsx" => {
            let rs = state.reader()?.residents()?;
            let rows = rs
                .into_iter()
                .map(|r| {
                    vec![
                        r.household.clone().into(),
                        r.address.clone().into(),
                        r.grid.clone().into(),
                        r.name.clone().into(),
                        r.phone.clone().into(),
                        crate::cards::category_zh(r.effective_category(today)).into(),
                        r.category_until.map(|d| d.to_string()).into(),
                        r.origin.clone().into(),
                        r.arrived.map(|d| d.to_string()).into(),
                        r.monitor.clone().into(),
                        r.left.map(|l| l.zh().to_string()).into(),
                    ]
                })
                .collect();
            let h = vec![
                "户号",
                "地址",
                "网格",
                "姓名",
                "电话",
                "类别",
                "类别截止",
                "来源地",
                "返回日期",
                "包保人",
                "离开",
            ];
            (h, rows, format!("register-{today}.xlsx"), format!("住户登记-{today}.xlsx"))
        }
        "passes.xlsx" => {
            let store = state.reader()?;
            let names: std::collections::HashMap<ResidentId, (String, String)> =
                store.residents()?.into_iter().map(|r| (r.id, (r.name, r.household))).collect();
            let rows = store
                .passes()?
                .into_iter()
                .map(|p| {
                    let (n, h) = names.get(&p.resident_id).cloned().unwrap_or_default();
                    vec![
                        p.pass_id.to_string().into(),
                        n.into(),
                        h.into(),
                        p.valid_from.to_string().into(),
                        p.valid_until.to_string().into(),
                        p.issued_at.clone().into(),
                        (if p.revoked_at.is_some() { "已注销" } else { "有效" }).into(),
                        p.revoke_reason.map(|r| r.zh().to_string()).into(),
                        p.revoke_note.clone().into(),
                    ]
                })
                .collect();
            let h = vec!["证号", "姓名", "户号", "生效", "截止", "签发时间", "状态", "注销原因", "说明"];
            (h, rows, format!("passes-{today}.xlsx"), format!("通行证-{today}.xlsx"))
        }
        "followups.xlsx" => {
            let day = parse_day(q.date.as_deref(), tz)?;
            let (from, to) = day_bounds(day, tz).ok_or_else(|| ApiError::BadDate("that day cannot be shown".into()))?;
            let rows = state
                .reader()?
                .followups_between(from, to, 100_000)?
                .into_iter()
                .map(|f| {
                    let at = DateTime::from_timestamp_millis(f.at_ms)
                        .map(|t| t.with_timezone(&tz).format("%Y-%m-%d %H:%M").to_string());
                    vec![
                        at.into(),
                        f.name.into(),
                        f.household.into(),
                        f.grid.into(),
                        f.temperature_c.into(),
                        (if f.fever { "发热" } else { "" }).into(),
                        f.symptoms.into(),
                        f.note.into(),
                        f.actor.into(),
                    ]
                })
                .collect();
            let h = vec!["时间", "姓名", "户号", "网格", "体温(°C)", "发热", "症状", "备注", "随访人"];
            (h, rows, format!("followups-{day}.xlsx"), format!("随访记录台账-{day}.xlsx"))
        }
        "alerts.xlsx" => {
            let store = state.reader()?;
            let names = store.resident_names()?;
            let mut rows: Vec<Vec<Cell>> = store
                .alerts(10_000)?
                .iter()
                .map(|e| {
                    let r = crate::ledger::row(e, &names, tz);
                    vec![
                        r.time.into(),
                        "门岗".into(),
                        r.decision.into(),
                        r.direction.into(),
                        r.reasons.into(),
                        r.name.into(),
                        r.household.into(),
                        r.temperature_c.into(),
                    ]
                })
                .collect();
            for f in store.followup_fevers(10_000)? {
                let at = DateTime::from_timestamp_millis(f.at_ms)
                    .map(|t| t.with_timezone(&tz).format("%Y-%m-%d %H:%M:%S").to_string());
                rows.push(vec![
                    at.into(),
                    "居家随访".into(),
                    "发热".into(),
                    Cell::Empty,
                    f.symptoms.into(),
                    f.name.into(),
                    f.household.into(),
                    f.temperature_c.into(),
                ]);
            }
            let h = vec!["时间", "来源", "结果", "方向", "原因", "姓名", "户号", "体温(°C)"];
            (h, rows, format!("alerts-{today}.xlsx"), format!("预警-{today}.xlsx"))
        }
        _ => return Err(ApiError::NotFound("books: register.xlsx, passes.xlsx, followups.xlsx, alerts.xlsx".into())),
    };
    let bytes = tokio::task::spawn_blocking(move || crate::xlsx::book("Sheet1", &headers, &rows))
        .await
        .map_err(|_| ApiError::Internal)?
        .map_err(|e| {
            tracing::error!("export: {e}");
            ApiError::Internal
        })?;
    Ok(xlsx_response(bytes, &ascii, &zh))
}

fn resident_json(r: &crate::store::ResidentView) -> serde_json::Value {
    serde_json::json!({"id": r.id, "name": r.name, "household": r.household, "grid": r.grid,
        "category": r.category, "left": r.left, "phone": r.phone.as_deref().map(super::committee::mask_phone)})
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AddBody {
    household: String,
    name: String,
    #[serde(default)]
    address: String,
    #[serde(default)]
    grid: String,
    #[serde(default)]
    phone: Option<String>,
    #[serde(default)]
    category: Option<String>,
}

async fn add_resident(
    State(state): State<AppState>,
    who: CommitteeAccess,
    ApiJson(b): ApiJson<AddBody>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let category = match b.category.as_deref().map(str::trim).filter(|c| !c.is_empty()) {
        Some(c) => Some(c.parse::<Category>().map_err(|e| ApiError::BadCategory(e.to_string()))?),
        None => None,
    };
    let new = NewResident {
        household: b.household,
        address: b.address,
        grid: b.grid,
        name: b.name,
        phone: b.phone,
        category,
    };
    let actor = who.principal().actor();
    let r = state.inner.writer.run(move |g| g.add_resident(&new, &actor, Utc::now())).await??;
    Ok(Json(resident_json(&r)))
}

#[derive(Deserialize)]
struct MoveBody {
    household: String,
}

async fn move_resident(
    State(state): State<AppState>,
    who: CommitteeAccess,
    Path(id): Path<ResidentId>,
    ApiJson(b): ApiJson<MoveBody>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let actor = who.principal().actor();
    let r = state.inner.writer.run(move |g| g.move_resident(id, &b.household, &actor, Utc::now())).await??;
    Ok(Json(resident_json(&r)))
}

#[derive(Deserialize)]
struct LeftBody {
    /// `moved_out` or `deceased`
    reason: String,
}

async fn mark_left(
    State(state): State<AppState>,
    who: CommitteeAccess,
    Path(id): Path<ResidentId>,
    ApiJson(b): ApiJson<LeftBody>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let reason = RevokeReason::parse(&b.reason)
        .filter(|r| matches!(r, RevokeReason::MovedOut | RevokeReason::Deceased))
        .ok_or_else(|| {
            ApiError::Usage(format!("reason '{}' must be moved_out or deceased", b.reason.escape_debug()))
        })?;
    let actor = who.principal().actor();
    let r = state.inner.writer.run(move |g| g.mark_left(id, reason, &actor, Utc::now())).await??;
    Ok(Json(resident_json(&r)))
}

#[derive(Deserialize)]
struct PhoneBody {
    phone: String,
}

async fn set_phone(
    State(state): State<AppState>,
    who: CommitteeAccess,
    Path(id): Path<ResidentId>,
    ApiJson(b): ApiJson<PhoneBody>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let actor = who.principal().actor();
    let r = state.inner.writer.run(move |g| g.set_phone(id, &b.phone, &actor, Utc::now())).await??;
    Ok(Json(resident_json(&r)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct VisitBody {
    /// The resident's id, or `household` + `name`.
    #[serde(default)]
    resident_id: Option<ResidentId>,
    #[serde(default)]
    household: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    temperature_c: Option<f64>,
    #[serde(default)]
    symptoms: String,
    #[serde(default)]
    note: String,
    /// RFC 3339; default now.
    #[serde(default)]
    at: Option<String>,
}

async fn record_followup(
    State(state): State<AppState>,
    who: VolunteerAccess,
    ApiJson(b): ApiJson<VisitBody>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let resident = match (b.resident_id, b.household.as_deref(), b.name.as_deref()) {
        (Some(id), _, _) => id,
        (None, Some(h), Some(n)) => state.reader()?.find_resident(h.trim(), n.trim())?.id,
        _ => return Err(ApiError::Usage("give \"resident_id\", or \"household\" and \"name\"".into())),
    };
    let at = match b.at.as_deref().map(str::trim).filter(|a| !a.is_empty()) {
        Some(a) => Some(
            DateTime::parse_from_rfc3339(a)
                .map_err(|_| ApiError::BadDate(format!("at '{a}' must be a time such as 2026-12-01T08:05:00+08:00")))?
                .with_timezone(&Utc),
        ),
        None => None,
    };
    let temperature_c = b.temperature_c;
    if temperature_c.is_none() {
        return Err(ApiError::BadTemperature("give the temperature measured (\"temperature_c\")".into()));
    }
    let visit = Visit { resident, temperature_c, symptoms: b.symptoms, note: b.note, at };
    let actor = who.principal().actor();
    let row = state.inner.writer.run(move |g| g.record_followup(&visit, &actor, Utc::now())).await??;
    Ok(Json(serde_json::to_value(&row).map_err(|_| ApiError::Internal)?))
}

#[derive(Deserialize)]
struct BookQuery {
    /// A local day, YYYY-MM-DD (default today).
    #[serde(default)]
    date: Option<String>,
}

/// The local day `[start, end)` in milliseconds, in the community's zone.
pub(crate) fn day_bounds(day: chrono::NaiveDate, tz: chrono_tz::Tz) -> Option<(i64, i64)> {
    use chrono::TimeZone;
    let start = tz.from_local_datetime(&day.and_hms_opt(0, 0, 0)?).earliest()?;
    let end = tz.from_local_datetime(&day.succ_opt()?.and_hms_opt(0, 0, 0)?).earliest()?;
    Some((start.timestamp_millis(), end.timestamp_millis()))
}

pub(crate) fn parse_day(s: Option<&str>, tz: chrono_tz::Tz) -> Result<chrono::NaiveDate, ApiError> {
    match s.map(str::trim).filter(|s| !s.is_empty()) {
        None => Ok(Utc::now().with_timezone(&tz).date_naive()),
        Some(d) => d.parse().map_err(|_| ApiError::BadDate(format!("date '{d}' must be YYYY-MM-DD"))),
    }
}

/// The follow-up book (随访记录台账) of one day.
async fn followup_book(
    State(state): State<AppState>,
    _w: CommitteeAccess,
    ApiQuery(q): ApiQuery<BookQuery>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let tz = state.policy()?.timezone;
    let day = parse_day(q.date.as_deref(), tz)?;
    let (from, to) = day_bounds(day, tz).ok_or_else(|| ApiError::BadDate("that day cannot be shown".into()))?;
    let rows = state.reader()?.followups_between(from, to, 100_000)?;
    let list: Vec<_> = rows.iter().map(|r| visit_json(r, tz)).collect();
    Ok(Json(serde_json::json!({"date": day, "followups": list})))
}

pub(crate) fn visit_json(r: &crate::store::FollowupRow, tz: chrono_tz::Tz) -> serde_json::Value {
    let at = DateTime::from_timestamp_millis(r.at_ms).map(|t| t.with_timezone(&tz).to_rfc3339());
    serde_json::json!({"id": r.id, "resident_id": r.resident_id, "name": r.name, "household": r.household,
        "grid": r.grid, "at": at, "temperature_c": r.temperature_c, "symptoms": r.symptoms, "note": r.note,
        "fever": r.fever, "actor": r.actor})
}

fn home_list(state: &AppState) -> Result<Vec<crate::paperwork::HomeStatus>, ApiError> {
    let policy = state.policy()?;
    let store = state.reader()?;
    Ok(crate::paperwork::home_status(&store, &state.inner.config.followup, &policy, Utc::now())?)
}

/// Everyone kept home, for the volunteer's page.
async fn home(State(state): State<AppState>, _w: VolunteerAccess) -> Result<Json<serde_json::Value>, ApiError> {
    let people = home_list(&state)?;
    let times: Vec<String> =
        state.inner.config.followup.times().iter().map(|t| t.format("%H:%M").to_string()).collect();
    Ok(Json(serde_json::json!({"times": times, "people": people})))
}

/// Who has a visit due or missed.
async fn due(State(state): State<AppState>, _w: VolunteerAccess) -> Result<Json<serde_json::Value>, ApiError> {
    let people: Vec<_> = home_list(&state)?.into_iter().filter(|p| !p.due.is_empty()).collect();
    Ok(Json(serde_json::json!({"due": people})))
}

/// What the alerts page adds to the gate's events: fevers found at home
/// and missed visits.
pub(crate) fn alert_extras(state: &AppState) -> Result<serde_json::Value, ApiError> {
    let tz = state.policy()?.timezone;
    let fevers: Vec<_> = state.reader()?.followup_fevers(100)?.iter().map(|r| visit_json(r, tz)).collect();
    let missed: Vec<_> = home_list(state)?.into_iter().filter(|p| p.missed() > 0).collect();
    Ok(serde_json::json!({"followup_fevers": fevers, "missed_visits": missed}))
}
