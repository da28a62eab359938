//! The committee's API: register, categories, passes and their card sheet,
//! rules, tokens, alerts and the audit trail. Every change goes through the
//! writer thread and is audited under the caller's name.

use super::auth::{CommitteeAccess, GuardAccess};
use super::error::{ApiBytes, ApiError, ApiJson, ApiQuery};
use super::AppState;
use crate::auth::Role;
use crate::domain::policy::PolicyDoc;
use crate::domain::revocation::RevokeReason;
use crate::domain::Category;
use crate::gate::IssueScope;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use base64::Engine;
use chrono::{NaiveDate, Utc};
use serde::Deserialize;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/households", get(households))
        .route(
            "/api/v1/households/import",
            post(import).layer(axum::extract::DefaultBodyLimit::max(super::IMPORT_BODY_LIMIT)),
        )
        .route("/api/v1/residents/{id}/category", put(set_category))
        .route("/api/v1/passes", get(passes))
        .route("/api/v1/passes/issue", post(issue))
        .route("/api/v1/passes/valid-count", get(valid_cards))
        .route("/api/v1/residents/{id}/reissue", post(reissue))
        .route("/api/v1/passes/sheet", get(sheet))
        .route("/api/v1/passes/{id}/qr.png", get(qr))
        .route("/api/v1/passes/{id}/revoke", post(revoke))
        .route("/api/v1/policy", get(policy).put(set_policy))
        .route("/api/v1/tokens", get(tokens).post(create_token))
        .route("/api/v1/tokens/{id}/revoke", post(revoke_token))
        .route("/api/v1/audit", get(audit))
        .route("/api/v1/committee/log", get(committee_log))
        .route("/api/v1/alerts", get(alerts))
        .route("/api/v1/tls", get(tls))
        .route("/api/v1/trace", get(trace))
}

#[derive(Debug, Deserialize)]
struct TraceQuery {
    /// A name as in the register (exact, after trimming).
    name: Option<String>,
    /// Narrows a name shared by several residents.
    household: Option<String>,
    /// Or the resident's number.
    resident: Option<crate::domain::ResidentId>,
    days: Option<u32>,
    window_minutes: Option<u32>,
}

/// Bounds of a trace: the period and window asked, and how much is read.
const TRACE_MAX_DAYS: u32 = 60;
const TRACE_MAX_WINDOW_MIN: u32 = 240;
const TRACE_MAX_CROSSINGS: u32 = 500;
const TRACE_MAX_AROUND: u32 = 5_000;
const TRACE_MAX_CONTACTS: usize = 200;

/// A case traced by name where names live: every crossing of the resident
/// at this gate over the last `days`, and who was at the gate within
/// ± `window_minutes` of each. A name shared by several residents answers
/// the candidates (`matches`) and no trace until one is chosen.
async fn trace(
    State(state): State<AppState>,
    _c: CommitteeAccess,
    ApiQuery(q): ApiQuery<TraceQuery>,
) -> Result<Json<serde_json::Value>, ApiError> {
    use crate::domain::trace as t;
    let days = q.days.unwrap_or(14);
    let window = q.window_minutes.unwrap_or(30);
    if !(1..=TRACE_MAX_DAYS).contains(&days) {
        return Err(ApiError::BadRequest(format!("days = {days} must be 1 to {TRACE_MAX_DAYS}")));
    }
    if !(1..=TRACE_MAX_WINDOW_MIN).contains(&window) {
        return Err(ApiError::BadRequest(format!("window_minutes = {window} must be 1 to {TRACE_MAX_WINDOW_MIN}")));
    }
    let store = state.reader()?;
    let residents = store.residents()?;
    let name = q.name.as_deref().map(str::trim).filter(|n| !n.is_empty());
    let household = q.household.as_deref().map(str::trim).filter(|h| !h.is_empty());
    let matches: Vec<_> = match (q.resident, name) {
        (Some(id), _) => residents.iter().filter(|r| r.id == id).collect(),
        (None, Some(n)) => {
            residents.iter().filter(|r| r.name == n && household.is_none_or(|h| r.household == h)).collect()
        }
        (None, None) => {
            return Err(ApiError::Usage("give the resident's name (and household if shared), or resident=ID".into()))
        }
    };
    let brief = |r: &&crate::store::ResidentView| serde_json::json!({"id": r.id, "name": r.name, "household": r.household, "category": r.category});
    let listed: Vec<_> = matches.iter().map(brief).collect();
    let [case] = matches.as_slice() else {
        if matches.is_empty() {
            return Err(ApiError::UnknownResident(match name {
                Some(n) => format!("nobody named {n} in the register"),
                None => "no such resident in the register".into(),
            }));
        }
        return Ok(Json(serde_json::json!({"matches": listed, "trace": null})));
    };
    let until = Utc::now();
    let from = until - chrono::Duration::days(i64::from(days));
    let window_ms = i64::from(window) * 60_000;
    let own =
        store.resident_sightings(case.id, from.timestamp_millis(), until.timestamp_millis(), TRACE_MAX_CROSSINGS)?;
    let names = store.resident_names()?;
    let mut crossings = Vec::with_capacity(own.len());
    for c in own {
        let around = store.sightings_between(
            c.at_ms.saturating_sub(window_ms),
            c.at_ms.saturating_add(window_ms),
            TRACE_MAX_AROUND,
        )?;
        let contacts = t::contacts(case.id, &c, &around, window_ms, TRACE_MAX_CONTACTS);
        crossings.push(t::Crossing { sighting: c, contacts });
    }
    let distinct = t::distinct_contacts(&crossings);
    #[derive(serde::Serialize)]
    struct ContactView<'a> {
        #[serde(flatten)]
        contact: &'a t::Contact,
        name: Option<String>,
    }
    #[derive(serde::Serialize)]
    struct CrossingView<'a> {
        #[serde(flatten)]
        sighting: &'a t::Sighting,
        contacts: Vec<ContactView<'a>>,
    }
    let crossings: Vec<CrossingView> = crossings
        .iter()
        .map(|c| CrossingView {
            sighting: &c.sighting,
            contacts: c
                .contacts
                .iter()
                .map(|k| ContactView {
                    contact: k,
                    name: k.sighting.resident_id.and_then(|id| names.get(&id).cloned()),
                })
                .collect(),
        })
        .collect();
    Ok(Json(serde_json::json!({
        "matches": listed,
        "trace": {
            "resident": brief(case),
            "from": from.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            "until": until.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            "window_minutes": window,
            "crossings": crossings,
            "distinct_contacts": distinct,
        }
    })))
}

/// The gate's certificate fingerprint, for the committee page: guards
/// compare it with what the phone shows the first time it warns.
async fn tls(State(state): State<AppState>, _c: CommitteeAccess) -> Json<crate::tls::TlsStatus> {
    Json(state.inner.tls.clone())
}

/// Phone numbers in lists show only the last four digits.
pub(crate) fn mask_phone(p: &str) -> String {
    let digits: Vec<char> = p.chars().collect();
    match digits.len().checked_sub(4) {
        Some(hidden) if hidden > 0 => {
            let tail: String = digits.iter().skip(hidden).collect();
            format!("{}{}", "*".repeat(hidden), tail)
        }
        _ => "****".into(),
    }
}

async fn households(State(state): State<AppState>, _w: CommitteeAccess) -> Result<Json<serde_json::Value>, ApiError> {
    let today = Utc::now().with_timezone(&state.policy()?.timezone).date_naive();
    let mut hs = state.reader()?.households()?;
    for h in &mut hs {
        h.residents = std::mem::take(&mut h.residents).into_iter().map(|r| r.as_of(today)).collect();
        for r in &mut h.residents {
            r.phone = r.phone.as_deref().map(mask_phone);
        }
    }
    let residents: usize = hs.iter().map(|h| h.residents.len()).sum();
    Ok(Json(serde_json::json!({"households": hs, "household_count": hs.len(), "resident_count": residents})))
}

#[derive(Deserialize)]
struct ImportQuery {
    /// The workbook sheet to read (default: the first).
    #[serde(default)]
    sheet: Option<String>,
}

/// The register as CSV (UTF-8, GBK, GB18030) or .xlsx, told apart by its
/// bytes; whole-file errors come back with a `code`, rejected rows with theirs.
async fn import(
    State(state): State<AppState>,
    who: CommitteeAccess,
    headers: axum::http::HeaderMap,
    ApiQuery(q): ApiQuery<ImportQuery>,
    ApiBytes(body): ApiBytes,
) -> Result<Json<serde_json::Value>, ApiError> {
    // a page may send the file as a form upload; scripts send the CSV itself
    let body = match crate::web::multipart::boundary(&headers) {
        Some(b) => Bytes::from(crate::web::multipart::first_file(&body, &b).ok_or_else(|| {
            ApiError::BadRequest("the upload holds no file; send the register (CSV or .xlsx)".into())
        })?),
        None => body,
    };
    let actor = who.principal().actor();
    let sheet = q.sheet.filter(|s| !s.trim().is_empty());
    // read the file here, not on the writer thread that scans wait for
    let parsed = tokio::task::spawn_blocking(move || crate::domain::register::parse_file(&body, sheet.as_deref()))
        .await
        .map_err(|e| {
            tracing::error!("register parse task: {e}");
            ApiError::Internal
        })?
        .map_err(ApiError::Register)?;
    let (counts, rejected) =
        state.inner.writer.run(move |g| g.import_parsed_register(parsed, &actor, Utc::now())).await??;
    Ok(Json(serde_json::json!({
        "added": counts.added, "updated": counts.updated, "unchanged": counts.unchanged,
        "rejected": rejected.len(), "rejections": rejected,
    })))
}

#[derive(Deserialize)]
struct CategoryBody {
    category: String,
    #[serde(default)]
    until: Option<String>,
}

async fn set_category(
    State(state): State<AppState>,
    who: CommitteeAccess,
    Path(id): Path<crate::domain::ResidentId>,
    ApiJson(body): ApiJson<CategoryBody>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let category: Category = body
        .category
        .parse()
        .map_err(|e: crate::domain::category::UnknownCategory| ApiError::BadCategory(e.to_string()))?;
    let until = match body.until.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(u) => {
            Some(u.parse::<NaiveDate>().map_err(|_| ApiError::BadDate(format!("until '{u}' must be YYYY-MM-DD")))?)
        }
    };
    let actor = who.principal().actor();
    let r = state.inner.writer.run(move |g| g.set_category_by_id(id, category, until, &actor, Utc::now())).await??;
    Ok(Json(
        serde_json::json!({"id": r.id, "name": r.name, "household": r.household, "category": r.category, "until": r.category_until}),
    ))
}

async fn passes(State(state): State<AppState>, _w: CommitteeAccess) -> Result<Json<serde_json::Value>, ApiError> {
    let store = state.reader()?;
    let residents: std::collections::HashMap<crate::domain::ResidentId, crate::store::ResidentView> =
        store.residents()?.into_iter().map(|r| (r.id, r)).collect();
    let list: Vec<_> = store
        .passes()?
        .into_iter()
        .map(|p| {
            let r = residents.get(&p.resident_id);
            serde_json::json!({
                "pass_id": p.pass_id, "resident_id": p.resident_id,
                "name": r.map(|r| r.name.clone()), "household": r.map(|r| r.household.clone()),
                "valid_from": p.valid_from, "valid_until": p.valid_until, "key_id": p.key_id,
                "issued_at": p.issued_at, "revoked_at": p.revoked_at, "revoke_reason": p.revoke_reason,
                "revoke_note": p.revoke_note,
            })
        })
        .collect();
    Ok(Json(serde_json::json!({"passes": list})))
}

#[derive(Deserialize)]
struct IssueBody {
    /// `missing` (default: residents without a valid card), `all`
    /// (needs `confirm`) or `household`.
    #[serde(default)]
    scope: Option<String>,
    /// For `all`: the number of valid cards that stop working, as shown.
    #[serde(default)]
    confirm: Option<u64>,
    #[serde(default)]
    household: Option<String>,
    #[serde(default)]
    all: bool,
    #[serde(default)]
    valid_from: Option<String>,
    #[serde(default)]
    valid_days: Option<u32>,
}

async fn issue(
    State(state): State<AppState>,
    who: CommitteeAccess,
    ApiJson(body): ApiJson<IssueBody>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let household = body.household.filter(|h| !h.trim().is_empty());
    let scope = match (body.scope.as_deref().map(str::trim), household, body.all) {
        (Some("all"), _, _) | (None, None, true) => IssueScope::All,
        (Some("missing"), _, _) | (None, None, false) => IssueScope::Missing,
        (Some("household") | None, Some(h), _) => IssueScope::Household(h),
        (Some("household"), None, _) => {
            return Err(ApiError::Usage("scope \"household\" needs a \"household\" code".into()));
        }
        (Some(other), _, _) => {
            return Err(ApiError::Usage(format!("scope '{other}' must be missing, all or household")));
        }
    };
    // new cards for everyone stop every printed card: asked, never assumed
    let confirm = match scope {
        IssueScope::All => Some(body.confirm.unwrap_or(u64::MAX)),
        _ => None,
    };
    let tz = state.policy()?.timezone;
    let from = match body.valid_from.as_deref().map(str::trim) {
        None | Some("") => Utc::now().with_timezone(&tz).date_naive(),
        Some(s) => s.parse().map_err(|_| ApiError::BadDate(format!("valid_from '{s}' must be YYYY-MM-DD")))?,
    };
    let days = body.valid_days.unwrap_or(30);
    let actor = who.principal().actor();
    let issued =
        state.inner.writer.run(move |g| g.issue_passes_for(&scope, confirm, from, days, &actor, Utc::now())).await??;
    let list: Vec<_> = issued
        .iter()
        .map(|(p, r)| {
            serde_json::json!({"pass_id": p.pass_id, "resident_id": r.id, "name": r.name, "household": r.household,
            "valid_from": p.valid_from, "valid_until": p.valid_until, "payload": p.payload})
        })
        .collect();
    Ok(Json(serde_json::json!({"issued": list.len(), "passes": list})))
}

#[derive(Deserialize)]
struct SheetQuery {
    #[serde(default)]
    household: Option<String>,
}

/// The printable card sheet of the active passes, images inline.
async fn sheet(
    State(state): State<AppState>,
    _w: CommitteeAccess,
    ApiQuery(q): ApiQuery<SheetQuery>,
) -> Result<Response, ApiError> {
    let (cards, community) = {
        let store = state.reader()?;
        let residents: std::collections::HashMap<crate::domain::ResidentId, crate::store::ResidentView> =
            store.residents()?.into_iter().map(|r| (r.id, r)).collect();
        let cards: Vec<_> = store
            .passes()?
            .into_iter()
            .filter(|p| p.revoked_at.is_none())
            .filter_map(|p| residents.get(&p.resident_id).cloned().map(|r| (p, r)))
            .filter(|(_, r)| q.household.as_deref().is_none_or(|h| h.is_empty() || r.household == h))
            .collect();
        (cards, state.inner.identity.community.clone())
    };
    let opts = crate::cards::SheetOptions::from_config(&state.inner.config, &state.policy()?);
    let html = tokio::task::spawn_blocking(move || {
        crate::cards::sheet_html(&community, &cards, &opts, |p| match crate::cards::qr_png(&p.payload, 6) {
            Ok(png) => format!("data:image/png;base64,{}", base64::engine::general_purpose::STANDARD.encode(png)),
            Err(_) => String::new(),
        })
    })
    .await
    .map_err(|_| ApiError::Internal)?;
    // inline style and data: images, no script
    Ok(crate::web::headers::with_csp(Html(html).into_response(), crate::web::headers::DOCUMENT_CSP))
}

async fn qr(
    State(state): State<AppState>,
    _w: CommitteeAccess,
    Path(id): Path<crate::domain::PassId>,
) -> Result<Response, ApiError> {
    let p = state
        .reader()?
        .pass(id)?
        .ok_or_else(|| ApiError::UnknownPass(format!("no pass {id} (see passes.csv or the passes page)")))?;
    let png = crate::cards::qr_png(&p.payload, 8).map_err(|_| ApiError::Internal)?;
    Ok(([(header::CONTENT_TYPE, "image/png")], png).into_response())
}

#[derive(Deserialize)]
struct RevokeBody {
    reason: String,
}

async fn revoke(
    State(state): State<AppState>,
    who: CommitteeAccess,
    Path(id): Path<crate::domain::PassId>,
    ApiJson(body): ApiJson<RevokeBody>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let actor = who.principal().actor();
    let reason = body.reason.clone();
    state.inner.writer.run(move |g| g.revoke_pass(id, &reason, &actor, Utc::now())).await??;
    Ok(Json(serde_json::json!({"pass_id": id, "revoked": true, "reason": body.reason})))
}

/// How many printed cards new cards for everyone would stop (the number
/// the page shows and sends back as `confirm`).
async fn valid_cards(State(state): State<AppState>, _w: CommitteeAccess) -> Result<Json<serde_json::Value>, ApiError> {
    let today = crate::domain::rules::local_day(Utc::now(), &state.policy()?);
    let n = state.reader()?.valid_card_count(today)?;
    Ok(Json(serde_json::json!({"valid_cards": n})))
}

#[derive(Deserialize)]
struct ReissueBody {
    reason: String,
    #[serde(default)]
    valid_days: Option<u32>,
}

/// 补办: one person's new card; the old one is revoked with the reason.
async fn reissue(
    State(state): State<AppState>,
    who: CommitteeAccess,
    Path(id): Path<crate::domain::ResidentId>,
    ApiJson(body): ApiJson<ReissueBody>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let reason = RevokeReason::parse(&body.reason).ok_or_else(|| {
        ApiError::Usage(format!("reason '{}' must be lost, damaged or other", body.reason.escape_debug()))
    })?;
    let days = body.valid_days.unwrap_or(30);
    let actor = who.principal().actor();
    let (p, r) = state.inner.writer.run(move |g| g.reissue_pass(id, reason, days, &actor, Utc::now())).await??;
    Ok(Json(serde_json::json!({"pass_id": p.pass_id, "resident_id": r.id, "name": r.name, "household": r.household,
        "valid_from": p.valid_from, "valid_until": p.valid_until, "payload": p.payload, "reason": reason})))
}

async fn policy(State(state): State<AppState>, _w: GuardAccess) -> Result<Json<PolicyDoc>, ApiError> {
    Ok(Json(state.policy()?.to_doc()))
}

async fn set_policy(
    State(state): State<AppState>,
    who: CommitteeAccess,
    ApiJson(doc): ApiJson<PolicyDoc>,
) -> Result<Json<PolicyDoc>, ApiError> {
    let actor = who.principal().actor();
    let p = state.inner.writer.run(move |g| g.set_policy(&doc, &actor, Utc::now())).await??;
    Ok(Json(p.to_doc()))
}

async fn tokens(State(state): State<AppState>, _w: CommitteeAccess) -> Result<Json<serde_json::Value>, ApiError> {
    Ok(Json(serde_json::json!({"tokens": state.reader()?.tokens()?})))
}

#[derive(Deserialize)]
struct TokenBody {
    role: String,
    #[serde(default)]
    name: String,
}

async fn create_token(
    State(state): State<AppState>,
    who: CommitteeAccess,
    ApiJson(body): ApiJson<TokenBody>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let role: Role = body.role.parse().map_err(ApiError::BadRole)?;
    let actor = who.principal().actor();
    let name = body.name.clone();
    let (token, id) = state.inner.writer.run(move |g| g.create_token(role, &name, &actor, Utc::now())).await??;
    Ok(Json(serde_json::json!({"token": token, "role": role, "name": body.name, "id": id})))
}

async fn revoke_token(
    State(state): State<AppState>,
    who: CommitteeAccess,
    Path(id): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let actor = who.principal().actor();
    let id2 = id.clone();
    state.inner.writer.run(move |g| g.revoke_token(&id2, &actor, Utc::now())).await??;
    // streams opened with that token end now
    state.inner.sessions.bump();
    Ok(Json(serde_json::json!({"id": id, "revoked": true})))
}

async fn audit(State(state): State<AppState>, _w: CommitteeAccess) -> Result<Json<serde_json::Value>, ApiError> {
    Ok(Json(serde_json::json!({"audit": state.reader()?.audit_log(500)?})))
}

/// The committee log held here, newest first (at most 500): every committee
/// change with who made it, the same at every gate of the community.
async fn committee_log(
    State(state): State<AppState>,
    _w: CommitteeAccess,
) -> Result<Json<serde_json::Value>, ApiError> {
    let (records, (version, log_head)) = state
        .inner
        .writer
        .run(|g| Ok::<_, crate::gate::GateError>((g.committee_log(500)?, g.committee_position()?)))
        .await??;
    let records: Vec<serde_json::Value> = records
        .into_iter()
        .map(|r| {
            serde_json::json!({"seq": r.seq, "at": r.at, "actor": r.actor, "action": r.action,
                "detail": serde_json::from_str::<serde_json::Value>(&r.detail).unwrap_or(serde_json::Value::Null),
                "hash": r.hash, "key_id": r.key_id})
        })
        .collect();
    Ok(Json(serde_json::json!({"version": version, "log_head": log_head, "records": records})))
}

/// Fever, refer, kept-in residents who tried to leave, forged passes and
/// overdue returns, newest first, with names for the committee.
async fn alerts(State(state): State<AppState>, _w: CommitteeAccess) -> Result<Json<serde_json::Value>, ApiError> {
    // (the policy reads the database: before taking the reader lock)
    let tz = state.policy()?.timezone;
    let store = state.reader()?;
    let names = store.resident_names()?;
    let list: Vec<_> = store
        .alerts(200)?
        .into_iter()
        .map(|e| {
            let b = e.body;
            serde_json::json!({"seq": b.seq, "at": b.at, "decision": b.decision, "direction": b.direction,
                "reasons": b.reasons, "warnings": b.warnings, "resident_id": b.resident_id,
                "name": b.resident_id.and_then(|id| names.get(&id).cloned()), "household": b.household,
                "temperature_c": b.temperature_c, "kind": b.kind, "operator": b.operator})
        })
        .collect();
    // issue 11: urgent outings, and whether each is back (late when not by
    // the expected return)
    let now = Utc::now();
    let exceptions: Vec<_> =
        store.exceptions(false, 200)?.iter().map(|x| super::visits::exception_json(x, now, tz)).collect();
    let late = exceptions.iter().filter(|x| x["late"] == true).count();
    drop(store);
    // issue 12: fevers found at home and missed follow-up visits
    let mut body = super::paperwork::alert_extras(&state)?;
    if let Some(o) = body.as_object_mut() {
        o.insert("alerts".into(), serde_json::Value::Array(list));
        o.insert("exceptions".into(), serde_json::Value::Array(exceptions));
        o.insert("exceptions_late".into(), late.into());
    }
    Ok(Json(body))
}
