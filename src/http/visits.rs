//! Everyone at the gate (issue 11): outsiders, vehicles and deliveries,
//! parcels waiting, urgent outings, the forgotten-card search, the shift
//! handover and the committee's visitor approvals. Each recorded event
//! carries the caller's name as `operator`.

use super::auth::{CommitteeAccess, GuardAccess};
use super::error::{ApiError, ApiJson, ApiQuery};
use super::AppState;
use crate::domain::rules::Direction;
use crate::domain::visit::{self, VisitError};
use crate::domain::{PassId, ResidentId};
use crate::gate::{ExceptionInfo, ScanExtra, ScanOutcome, VisitInfo, VisitInput, VisitorPassRequest};
use crate::store::{CollectRefused, ParcelRow, VisitorPassRow};
use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::{DateTime, SecondsFormat, Utc};
use serde::Deserialize;

/// Most residents a search answers.
pub const SEARCH_LIMIT: usize = 20;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/visits", post(visit))
        .route("/api/v1/parcels", get(parcels))
        .route("/api/v1/parcels/{id}/collect", post(collect))
        .route("/api/v1/exceptions", post(exception))
        .route("/api/v1/residents", get(residents))
        .route("/api/v1/handover", get(handover))
        .route("/api/v1/visitor-passes", get(visitor_passes).post(issue_visitor_pass))
        .route("/api/v1/visitor-passes/{id}/qr.png", get(visitor_qr))
}

fn parse_direction(d: Option<&str>) -> Result<Option<Direction>, ApiError> {
    match d.map(str::trim) {
        None | Some("") => Ok(None),
        Some(d) => Ok(Some(d.parse::<Direction>().map_err(ApiError::BadDirection)?)),
    }
}

fn local(at: DateTime<Utc>, tz: chrono_tz::Tz) -> String {
    at.with_timezone(&tz).to_rfc3339_opts(SecondsFormat::Secs, false)
}

fn local_ms(ms: i64, tz: chrono_tz::Tz) -> String {
    DateTime::from_timestamp_millis(ms).map(|t| local(t, tz)).unwrap_or_default()
}

#[derive(Debug, Deserialize)]
struct VisitBody {
    #[serde(flatten)]
    input: VisitInput,
    #[serde(default)]
    direction: Option<String>,
    #[serde(default)]
    temperature_c: Option<f64>,
    /// Backfills are entered on the gate (`gatepass visit --at`): named
    /// here only to be refused, never silently recorded as now.
    #[serde(default)]
    at: Option<serde_json::Value>,
}

const NO_BACKFILL: &str =
    "\"at\" is not taken over the API: enter a crossing from the paper register on the gate with `--at`";

async fn visit(
    State(state): State<AppState>,
    who: GuardAccess,
    ApiJson(body): ApiJson<VisitBody>,
) -> Result<Json<ScanOutcome>, ApiError> {
    if body.at.is_some() {
        return Err(ApiError::Usage(NO_BACKFILL.into()));
    }
    let info = VisitInfo::check(&body.input)?;
    let direction = parse_direction(body.direction.as_deref())?;
    if let Some(h) = &info.record.host {
        if !state.reader()?.household_exists(h)? {
            return Err(ApiError::UnknownHousehold(format!(
                "no household '{h}' in the register: search the household, or leave it empty"
            )));
        }
    }
    let operator = Some(who.principal().name.clone());
    let o = state
        .inner
        .scan
        .decide(String::new(), direction, body.temperature_c, operator, Some(ScanExtra::Visit(Box::new(info))))
        .await?;
    Ok(Json(o))
}

#[derive(Debug, Deserialize)]
struct ParcelsQuery {
    #[serde(default)]
    status: Option<String>,
}

fn parcel_json(p: &ParcelRow, tz: chrono_tz::Tz) -> serde_json::Value {
    serde_json::json!({
        "id": p.id, "at": local_ms(p.at_ms, tz), "host": p.host, "courier": p.courier,
        "phone_masked": p.phone.as_deref().map(visit::mask_phone), "company": p.company, "note": p.note,
        "collected_by": p.collected_by, "collected_at": p.collected_at, "operator": p.operator,
    })
}

async fn parcels(
    State(state): State<AppState>,
    _who: GuardAccess,
    ApiQuery(q): ApiQuery<ParcelsQuery>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let waiting = match q.status.as_deref().map(str::trim) {
        None | Some("") | Some("waiting") => true,
        Some("all") => false,
        Some(other) => {
            return Err(ApiError::BadRequest(format!(
                "status '{}' must be waiting or all",
                other.chars().take(20).collect::<String>()
            )))
        }
    };
    let tz = state.policy()?.timezone;
    let rows = state.reader()?.parcels(waiting, 200)?;
    let list: Vec<_> = rows.iter().map(|p| parcel_json(p, tz)).collect();
    Ok(Json(serde_json::json!({"count": list.len(), "parcels": list})))
}

#[derive(Debug, Deserialize)]
struct CollectBody {
    #[serde(default)]
    by: Option<String>,
    #[serde(default)]
    at: Option<String>,
}

async fn collect(
    State(state): State<AppState>,
    who: GuardAccess,
    Path(id): Path<u64>,
    ApiJson(body): ApiJson<CollectBody>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let by = visit::text_field(body.by.as_deref(), "by", 40)?.ok_or(VisitError::NameRequired)?;
    let tz = state.policy()?.timezone;
    let at = match body.at.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        None => Utc::now(),
        Some(s) => visit::parse_local_datetime(s, tz, "at")?,
    };
    let actor = who.principal().actor();
    let r = state.inner.writer.run(move |g| g.collect_parcel(id, &by, &actor, at)).await??;
    match r {
        Ok(p) => Ok(Json(parcel_json(&p, tz))),
        Err(CollectRefused::Unknown) => {
            Err(ApiError::Coded(404, "unknown_parcel", format!("no parcel {id} (see the parcels waiting)")))
        }
        Err(CollectRefused::AlreadyCollected) => {
            Err(ApiError::Coded(409, "already_collected", format!("parcel {id} was already collected")))
        }
    }
}

#[derive(Debug, Deserialize)]
struct ExceptionBody {
    #[serde(default)]
    resident_id: Option<ResidentId>,
    #[serde(default)]
    household: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    reason: Option<String>,
    #[serde(default)]
    destination: Option<String>,
    #[serde(default)]
    expected_return: Option<String>,
    #[serde(default)]
    approved_by: Option<String>,
    #[serde(default)]
    temperature_c: Option<f64>,
    #[serde(default)]
    at: Option<serde_json::Value>,
}

async fn exception(
    State(state): State<AppState>,
    who: GuardAccess,
    ApiJson(b): ApiJson<ExceptionBody>,
) -> Result<Json<ScanOutcome>, ApiError> {
    if b.at.is_some() {
        return Err(ApiError::Usage(NO_BACKFILL.into()));
    }
    let reason = visit::text_field(b.reason.as_deref(), "reason", 200)?.ok_or(VisitError::ReasonRequired)?;
    let destination =
        visit::text_field(b.destination.as_deref(), "destination", 200)?.ok_or(VisitError::DestinationRequired)?;
    let approved_by = visit::text_field(b.approved_by.as_deref(), "approved_by", 40)?;
    let policy = state.policy()?;
    let now = Utc::now();
    let expected_return = visit::next_local_time(b.expected_return.as_deref().unwrap_or(""), policy.timezone, now)?;
    let (resident, out) = {
        let store = state.reader()?;
        let r = match (b.resident_id, b.household.as_deref(), b.name.as_deref()) {
            (Some(id), _, _) => store
                .resident(id)?
                .ok_or_else(|| ApiError::UnknownResident(format!("no resident {id} in the register")))?,
            (None, Some(h), Some(n)) => store.find_resident(h.trim(), n.trim())?,
            _ => return Err(ApiError::Usage("say who: \"resident_id\", or \"household\" and \"name\"".into())),
        };
        let out = store.out_now()?.iter().any(|o| o.resident_id == r.id);
        (r, out)
    };
    let category = resident.effective_category(crate::domain::rules::local_day(now, &policy));
    if !category.may_go_out() && approved_by.is_none() {
        return Err(VisitError::ApprovalRequired(category.as_str().to_string()).into());
    }
    if out {
        return Err(ApiError::Coded(
            409,
            "already_out",
            format!("{} is already out: record the return first", resident.name),
        ));
    }
    let info = ExceptionInfo { resident_id: resident.id, reason, destination, expected_return, approved_by };
    let operator = Some(who.principal().name.clone());
    let o = state
        .inner
        .scan
        .decide(
            String::new(),
            Some(Direction::Out),
            b.temperature_c,
            operator,
            Some(ScanExtra::Exception(Box::new(info))),
        )
        .await?;
    Ok(Json(o))
}

#[derive(Debug, Deserialize)]
struct SearchQuery {
    #[serde(default)]
    q: String,
}

async fn residents(
    State(state): State<AppState>,
    _who: GuardAccess,
    ApiQuery(q): ApiQuery<SearchQuery>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let text = q.q.trim();
    if text.is_empty() {
        return Err(VisitError::EmptyQuery.into());
    }
    if text.chars().count() > 40 {
        return Err(VisitError::TooLong("q", 40).into());
    }
    let policy = state.policy()?;
    let today = crate::domain::rules::local_day(Utc::now(), &policy);
    let store = state.reader()?;
    let (found, more) = store.search_residents(text, SEARCH_LIMIT)?;
    let out: std::collections::HashSet<ResidentId> = store.out_now()?.into_iter().map(|o| o.resident_id).collect();
    let mut list = Vec::with_capacity(found.len());
    for r in found {
        list.push(serde_json::json!({
            "id": r.id, "name": r.name, "household": r.household, "address": r.address,
            "phone_masked": r.phone.as_deref().map(visit::mask_phone),
            "category": r.effective_category(today), "out": out.contains(&r.id),
            "pass_id": store.current_pass_id(r.id)?,
        }));
    }
    Ok(Json(serde_json::json!({"count": list.len(), "truncated": more, "residents": list})))
}

async fn handover(State(state): State<AppState>, who: GuardAccess) -> Result<Json<serde_json::Value>, ApiError> {
    let policy = state.policy()?;
    let tz = policy.timezone;
    let now = Utc::now();
    let store = state.reader()?;
    let names = store.resident_names()?;
    let out: Vec<_> = store
        .out_now()?
        .iter()
        .map(|r| {
            let since = DateTime::from_timestamp_millis(r.since_ms).unwrap_or(now);
            serde_json::json!({"resident_id": r.resident_id, "name": r.name, "household": r.household,
                "since": local(since, tz), "minutes": (now - since).num_minutes().max(0),
                "overdue": crate::domain::rules::is_overdue(since, now, &policy)})
        })
        .collect();
    let day_ago = (now - chrono::Duration::hours(24)).timestamp_millis();
    let referrals: Vec<_> = store
        .referrals(day_ago, 200)?
        .into_iter()
        .map(|e| {
            let b = e.body;
            serde_json::json!({"seq": b.seq, "at": b.at, "kind": b.kind, "resident_id": b.resident_id,
                "name": b.resident_id.and_then(|id| names.get(&id).cloned()), "household": b.household,
                "temperature_c": b.temperature_c, "reasons": b.reasons})
        })
        .collect();
    let exceptions: Vec<_> = store.exceptions(true, 200)?.iter().map(|x| exception_json(x, now, tz)).collect();
    let visitors: Vec<_> = store
        .visitors_inside()?
        .iter()
        .map(|v| {
            serde_json::json!({"pass_id": v.pass_id, "name": v.name, "host": v.host, "plate": v.plate,
                "since": v.inside_since_ms.map(|ms| local_ms(ms, tz))})
        })
        .collect();
    Ok(Json(serde_json::json!({
        "at": local(now, tz), "operator": who.principal().name,
        "out": out, "referrals": referrals, "exceptions_not_back": exceptions,
        "parcels_waiting": store.parcels_waiting()?, "visitors_inside": visitors,
    })))
}

/// An urgent outing as the alerts page and the handover show it.
pub fn exception_json(x: &crate::store::ExceptionRow, now: DateTime<Utc>, tz: chrono_tz::Tz) -> serde_json::Value {
    serde_json::json!({
        "id": x.id, "resident_id": x.resident_id, "name": x.name, "household": x.household,
        "reason": x.reason, "destination": x.destination, "expected_return": local_ms(x.expected_return_ms, tz),
        "approved_by": x.approved_by, "out_at": local_ms(x.out_at_ms, tz),
        "returned": x.returned_seq.is_some(),
        "late": x.returned_seq.is_none() && now.timestamp_millis() > x.expected_return_ms,
    })
}

fn visitor_pass_json(p: &VisitorPassRow, tz: chrono_tz::Tz) -> serde_json::Value {
    serde_json::json!({
        "pass_id": p.pass_id, "payload": p.payload, "name": p.name, "phone": p.phone, "host": p.host,
        "plate": p.plate, "valid_from": local_ms(p.valid_from_ms, tz), "valid_until": local_ms(p.valid_until_ms, tz),
        "uses": p.uses, "uses_left": p.uses.saturating_sub(p.used), "inside": p.inside_since_ms.is_some(),
        "issued_at": p.issued_at, "issued_by": p.issued_by,
        "qr": format!("/api/v1/visitor-passes/{}/qr.png", p.pass_id),
    })
}

#[derive(Debug, Deserialize)]
struct VisitorPassBody {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    phone: Option<String>,
    #[serde(default)]
    host: Option<String>,
    #[serde(default)]
    plate: Option<String>,
    #[serde(default)]
    from: Option<String>,
    #[serde(default)]
    until: Option<String>,
    #[serde(default)]
    uses: Option<u32>,
}

async fn issue_visitor_pass(
    State(state): State<AppState>,
    who: CommitteeAccess,
    ApiJson(b): ApiJson<VisitorPassBody>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let tz = state.policy()?.timezone;
    let req = VisitorPassRequest::check(
        b.name.as_deref(),
        b.phone.as_deref(),
        b.host.as_deref(),
        b.plate.as_deref(),
        b.from.as_deref(),
        b.until.as_deref(),
        b.uses,
        tz,
    )?;
    let actor = who.principal().actor();
    let row = state.inner.writer.run(move |g| g.issue_visitor_pass(&req, &actor, Utc::now())).await??;
    Ok(Json(visitor_pass_json(&row, tz)))
}

async fn visitor_passes(
    State(state): State<AppState>,
    _who: CommitteeAccess,
) -> Result<Json<serde_json::Value>, ApiError> {
    let tz = state.policy()?.timezone;
    let rows = state.reader()?.visitor_passes(1000)?;
    let list: Vec<_> = rows.iter().map(|p| visitor_pass_json(p, tz)).collect();
    Ok(Json(serde_json::json!({"count": list.len(), "passes": list})))
}

async fn visitor_qr(
    State(state): State<AppState>,
    _who: CommitteeAccess,
    Path(id): Path<PassId>,
) -> Result<Response, ApiError> {
    let p = state
        .reader()?
        .visitor_pass(id)?
        .ok_or_else(|| ApiError::UnknownPass(format!("no visitor pass {id} (see the visitor passes)")))?;
    let png = crate::cards::qr_png(&p.payload, 8).map_err(|_| ApiError::Internal)?;
    Ok(([(header::CONTENT_TYPE, "image/png")], png).into_response())
}
