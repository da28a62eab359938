//! The guard's and the district's API: scan, events, who is out, health,
//! metrics, the live stream of decisions, and page login.

use super::auth::{AnyAccess, Credential, GuardAccess, Principal, ReaderAccess, SESSION_COOKIE};
use super::error::{ApiError, ApiJson, ApiQuery};
use super::metrics::label;
use super::AppState;
use crate::auth::Role;
use crate::domain::chain::ExportedEvent;
use crate::domain::rules::Direction;
use crate::web;

use crate::gate::ScanOutcome;
use axum::extract::{ConnectInfo, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/scan", post(scan))
        .route("/api/v1/events", get(events))
        .route("/api/v1/out", get(out))
        .route("/api/v1/health", get(health))
        .route("/api/v1/stream", get(stream))
        // a login body is a name and a password: nothing near a megabyte
        .route("/api/v1/login", post(login).layer(axum::extract::DefaultBodyLimit::max(LOGIN_BODY_LIMIT)))
        .route("/api/v1/logout", post(logout))
        .route("/api/v1/me", get(me))
        .route("/metrics", get(metrics))
}

#[derive(Debug, Deserialize)]
pub struct ScanBody {
    /// Anything but a string (or nothing) is an unreadable payload: a
    /// recorded `invalid_pass`, never an HTTP error.
    #[serde(default)]
    pub payload: serde_json::Value,
    #[serde(default)]
    pub direction: Option<String>,
    #[serde(default)]
    pub temperature_c: Option<f64>,
    /// A forgotten card: the resident the guard found by name, instead of
    /// `payload`.
    #[serde(default)]
    pub resident_id: Option<crate::domain::ResidentId>,
}

async fn scan(
    State(state): State<AppState>,
    who: GuardAccess,
    ApiJson(body): ApiJson<ScanBody>,
) -> Result<Json<ScanOutcome>, ApiError> {
    let direction = match body.direction.as_deref() {
        None | Some("") => None,
        Some(d) => Some(d.parse::<Direction>().map_err(ApiError::BadDirection)?),
    };
    // Only text is a pass. A number is not a typed pass number (that is
    // text the guard typed): anything else is an unreadable pass, recorded.
    let payload = match body.payload {
        serde_json::Value::String(s) => s,
        _ => String::new(),
    };
    let operator = Some(who.principal().name.clone());
    let extra = match body.resident_id {
        Some(id) => {
            if state.reader()?.resident(id)?.is_none() {
                return Err(ApiError::UnknownResident(format!("no resident {id} in the register (search again)")));
            }
            Some(crate::gate::ScanExtra::NoCard(id))
        }
        None => None,
    };
    // the decision itself knows nothing of HTTP (the USB scanner uses it too)
    Ok(Json(state.inner.scan.decide(payload, direction, body.temperature_c, operator, extra).await?))
}

#[derive(Debug, Deserialize)]
struct EventsQuery {
    #[serde(default)]
    after: u64,
    limit: Option<u32>,
}

const MAX_PAGE: u32 = 5000;

async fn events(
    State(state): State<AppState>,
    who: ReaderAccess,
    ApiQuery(q): ApiQuery<EventsQuery>,
) -> Result<Response, ApiError> {
    if q.after > i64::MAX as u64 {
        return Err(ApiError::BadRequest(format!(
            "after={} is past any sequence number (at most {})",
            q.after,
            i64::MAX
        )));
    }
    // the district asks after N only once it stored N: everything up to N is collected
    if who.principal().role == Role::District {
        let a = q.after;
        let _ = state.inner.writer.run(move |g| g.note_collected(a)).await;
    }
    let limit = q.limit.unwrap_or(1000).min(MAX_PAGE);
    let (events, head) = {
        let store = state.reader()?;
        let events = if limit == 0 { vec![] } else { store.events_after(q.after, limit)? };
        let head = store.events_after(store.head()?.0.saturating_sub(1), 1)?.pop();
        (events, head)
    };
    let signer = state.inner.name_signer.as_ref();
    let names =
        if signer.is_some() && !events.is_empty() { state.reader()?.resident_names()? } else { Default::default() };
    let key = &state.inner.gate_key_hex;
    let lines: Vec<ExportedEvent> = events
        .into_iter()
        .map(|e| {
            let name = e.body.resident_id.and_then(|id| names.get(&id).cloned());
            match (name, signer) {
                // the name goes out with the gate key's signature binding it
                // to this event: the district believes nothing else
                (Some(n), Some(s)) => ExportedEvent::new(e, Some(key.clone())).with_signed_name(n, s),
                _ => ExportedEvent::new(e, Some(key.clone())),
            }
        })
        .collect();
    let head = head.map(|h| serde_json::json!({"seq": h.body.seq, "hash": h.hash, "sig": h.sig}));
    // the community's limits, so the district can find what two gates
    // together let through (issue 10)
    let limits = state.policy().ok().map(|p| crate::domain::community::Limits::of(&p));
    Ok(Json(serde_json::json!({
        "gate": state.inner.identity.gate,
        "community": state.inner.identity.community,
        "gate_key": key,
        "events": lines,
        "head": head,
        "limits": limits,
    }))
    .into_response())
}

async fn out(State(state): State<AppState>, _who: GuardAccess) -> Result<Json<serde_json::Value>, ApiError> {
    let policy = state.policy()?;
    let rows = state.reader()?.out_now()?;
    let now = chrono::Utc::now();
    let list: Vec<_> = rows
        .iter()
        .map(|r| {
            let since = chrono::DateTime::from_timestamp_millis(r.since_ms).unwrap_or(now);
            let minutes = (now - since).num_minutes().max(0);
            serde_json::json!({
                "resident_id": r.resident_id, "name": r.name, "household": r.household,
                "since": since.with_timezone(&policy.timezone).to_rfc3339_opts(chrono::SecondsFormat::Secs, false),
                "minutes": minutes, "overdue": crate::domain::rules::is_overdue(since, now, &policy), "event_seq": r.seq,
            })
        })
        .collect();
    let overdue: Vec<serde_json::Value> = list.iter().filter(|v| v["overdue"] == true).cloned().collect();
    Ok(Json(serde_json::json!({
        "out": list, "count": list.len(),
        "overdue": overdue, "overdue_count": overdue.len(),
        "max_outing_minutes": policy.max_outing_minutes,
    })))
}

/// How far the committee's log has reached this gate: `version` is the
/// record its tables are at, `log_head` the newest record held, `behind`
/// how many records the first gate has that are not applied here.
fn committee_health(state: &AppState) -> serde_json::Value {
    let Ok(store) = state.reader() else { return serde_json::Value::Null };
    let joined = store.meta("joined_from").ok().flatten();
    let held = store.committee_head().ok().flatten().map(|r| r.seq).unwrap_or(0);
    let version = match &joined {
        Some(_) => store.committee_applied().unwrap_or(0),
        None => held,
    };
    let seen = state.inner.committee_head_seen.load(std::sync::atomic::Ordering::Relaxed).max(held);
    serde_json::json!({"version": version, "log_head": held, "behind": seen.saturating_sub(version),
        "first_directory": joined.is_none(), "joined_from": joined})
}

fn peer_health(state: &AppState) -> Vec<serde_json::Value> {
    let peers = state.reader().ok().and_then(|s| s.peers().ok()).unwrap_or_default();
    let live = state.inner.peer_live.lock().map(|m| m.clone()).unwrap_or_default();
    peers
        .into_iter()
        .filter(|p| p.removed_at.is_none())
        .map(|p| {
            // the sync loop's memory is newer than the database's copy
            let (heard, behind) = match live.get(&p.gate) {
                Some((at, behind)) => (Some(crate::clock::now_text(*at)), *behind),
                None => (p.last_heard_at, p.behind),
            };
            serde_json::json!({"gate": p.gate, "url": p.url, "last_heard_at": heard, "behind": behind})
        })
        .collect()
}

async fn health(State(state): State<AppState>) -> Json<serde_json::Value> {
    let now = chrono::Utc::now();
    let db = state.reader().ok().map(|s| (s.head(), s.newest_event_ms()));
    let (database, newest) = match db {
        Some((Ok((seq, hash)), newest)) => (
            serde_json::json!({"ok": true, "events": seq, "head_hash": hash,
                "log_writable": state.inner.log_writable.load(Ordering::Relaxed)}),
            newest.ok().flatten(),
        ),
        _ => (serde_json::json!({"ok": false, "detail": "the database cannot be read"}), None),
    };
    let source = crate::clock::time_source(state.inner.config.gate.trust_clock);
    let clock = crate::clock::assess(now, source, newest.and_then(chrono::DateTime::from_timestamp_millis));
    let mut devices = serde_json::Map::new();
    match &state.inner.hardware {
        Some(hw) => {
            for (name, st) in hw.statuses() {
                devices.insert(name.to_string(), serde_json::to_value(st).unwrap_or_default());
            }
        }
        None => {
            for name in ["thermometer", "scanner", "signals"] {
                devices.insert(
                    name.into(),
                    serde_json::json!({"kind": "none", "state": "off", "detail": "no hardware started"}),
                );
            }
        }
    }
    let unreadable = state.reader().ok().map(|s| s.unreadable_records(50).unwrap_or_else(|e| vec![e.to_string()]));
    let records = serde_json::json!({"ok": unreadable.as_ref().is_some_and(Vec::is_empty), "unreadable": unreadable});
    let yes = |v: &serde_json::Value, k: &str| v.get(k).and_then(serde_json::Value::as_bool) == Some(true);
    let ok = yes(&database, "ok") && yes(&database, "log_writable") && yes(&records, "ok");
    let mut v = serde_json::json!({
        "status": if ok { "ok" } else { "degraded" },
        "version": env!("CARGO_PKG_VERSION"),
        "gate": state.inner.identity.gate,
        "community": state.inner.identity.community,
        "gate_key": state.inner.gate_key_hex,
        "database": database,
        "records": records,
        "clock": {"trusted": clock.trusted, "suspect": !clock.trusted, "source": clock.source, "detail": clock.detail, "now": now.to_rfc3339()},
        "uptime_s": state.inner.started.elapsed().as_secs(),
        "push": state.inner.push.health(database.get("events").and_then(serde_json::Value::as_u64)),
        // the other gates of the community: when each was last heard from
        // and how many of its events this gate does not hold yet
        "peers": peer_health(&state),
        // how long the guard screen shows an answer ([gate] answer_*_s)
        "guard": {"answer_allow_s": state.inner.config.gate.answer_allow_s,
            "answer_deny_s": state.inner.config.gate.answer_deny_s},
        // how far the committee's changes have reached this gate (on the
        // first directory: its own version)
        "committee": committee_health(&state),
    });
    if let Some(obj) = v.as_object_mut() {
        obj.extend(devices);
    }
    Json(v)
}

async fn metrics(State(state): State<AppState>) -> Response {
    let mut out = String::new();
    out.push_str("# HELP gatepass_build_info Build information.\n# TYPE gatepass_build_info gauge\n");
    out.push_str(&format!(
        "gatepass_build_info{{version=\"{}\",gate=\"{}\",community=\"{}\"}} 1\n",
        env!("CARGO_PKG_VERSION"),
        label(&state.inner.identity.gate),
        label(&state.inner.identity.community)
    ));
    let snap = state.inner.metrics.snapshot();
    let mut typed = std::collections::BTreeSet::new();
    for (series, v) in &snap {
        let name = series.split('{').next().unwrap_or(series);
        if typed.insert(name.to_string()) {
            out.push_str(&format!("# TYPE {name} counter\n"));
        }
        out.push_str(&format!("{series} {v}\n"));
    }
    // the policy reads the database: fetch it before taking the reader lock
    let max = state.policy().map(|p| p.max_outing_minutes).unwrap_or(180);
    if let Ok(store) = state.reader() {
        if let Ok(rows) = store.out_now() {
            let now = chrono::Utc::now().timestamp_millis();
            let overdue = rows.iter().filter(|r| (now - r.since_ms) / 60_000 > i64::from(max)).count();
            out.push_str(&format!("# TYPE gatepass_people_out gauge\ngatepass_people_out {}\n", rows.len()));
            out.push_str(&format!("# TYPE gatepass_people_overdue gauge\ngatepass_people_overdue {overdue}\n"));
        }
        if let Ok((seq, _)) = store.head() {
            out.push_str(&format!("# TYPE gatepass_events gauge\ngatepass_events {seq}\n"));
        }
        // issue 11: urgent outings not back by their expected return
        if let Ok(open) = store.exceptions(true, 1000) {
            let now = chrono::Utc::now().timestamp_millis();
            let late = open.iter().filter(|x| now > x.expected_return_ms).count();
            out.push_str(&format!(
                "# TYPE gatepass_urgent_outings_out gauge\ngatepass_urgent_outings_out {}\n",
                open.len()
            ));
            out.push_str(&format!("# TYPE gatepass_urgent_outings_late gauge\ngatepass_urgent_outings_late {late}\n"));
        }
    }
    out.push_str(&format!(
        "# TYPE gatepass_log_writable gauge\ngatepass_log_writable {}\n",
        u8::from(state.inner.log_writable.load(Ordering::Relaxed))
    ));
    if let Some(hw) = &state.inner.hardware {
        out.push_str("# TYPE gatepass_device_up gauge\n");
        for (name, st) in hw.statuses() {
            let up = matches!(st.state, crate::hw::DeviceState::Ok | crate::hw::DeviceState::Simulated);
            out.push_str(&format!(
                "gatepass_device_up{{device=\"{name}\",kind=\"{}\",state=\"{}\"}} {}\n",
                label(&st.kind),
                st.state.as_str(),
                u8::from(up)
            ));
        }
        out.push_str("# TYPE gatepass_device_last_reading_age_seconds gauge\n");
        for (name, st) in hw.statuses() {
            if let Some(ms) = st.last_reading_age_ms {
                out.push_str(&format!(
                    "gatepass_device_last_reading_age_seconds{{device=\"{name}\"}} {:.3}\n",
                    ms as f64 / 1000.0
                ));
            }
        }
        out.push_str("# TYPE gatepass_device_rejected_total counter\n");
        for (name, st) in hw.statuses() {
            out.push_str(&format!("gatepass_device_rejected_total{{device=\"{name}\"}} {}\n", st.rejected));
        }
    }
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], out).into_response()
}

/// How often an open stream checks that its token or session still holds
/// (a revocation from the CLI, another process, is seen this late at most).
const STREAM_RECHECK: std::time::Duration = std::time::Duration::from_secs(2);

/// Server-sent events: every decision as it is made, for the guard page
/// (scans from the USB scanner appear without a click). The stream ends
/// when the daemon stops or when the caller's credential no longer allows it.
async fn stream(
    State(state): State<AppState>,
    who: GuardAccess,
) -> Sse<impl futures_util::Stream<Item = Result<Event, std::convert::Infallible>>> {
    let rx = state.inner.live.subscribe();
    let stop = state.inner.stopping.subscribe();
    let changed = state.inner.sessions.subscribe();
    let cred = who.credential().clone();
    let mut tick = tokio::time::interval(STREAM_RECHECK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let still_allowed = move |state: &AppState, cred: &Credential| {
        super::auth::check(state, cred)
            .is_ok_and(|p| <super::auth::GuardRoles as super::auth::Allowed>::ROLES.contains(&p.role))
    };
    let s = futures_util::stream::unfold(
        (rx, stop, changed, tick, state, cred),
        move |(mut rx, mut stop, mut changed, mut tick, state, cred)| async move {
            loop {
                if *stop.borrow() {
                    return None;
                }
                tokio::select! {
                    r = rx.recv() => match r {
                        Ok(json) => {
                            if !still_allowed(&state, &cred) {
                                return None;
                            }
                            return Some((Ok(Event::default().event("scan").data(json)), (rx, stop, changed, tick, state, cred)));
                        }
                        Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                        Err(tokio::sync::broadcast::error::RecvError::Closed) => return None,
                    },
                    // the daemon is stopping: end the stream
                    _ = stop.changed() => return None,
                    // a credential was revoked here, or time for the periodic check
                    r = changed.changed() => {
                        if r.is_err() || !still_allowed(&state, &cred) {
                            return None;
                        }
                    }
                    _ = tick.tick() => {
                        if !still_allowed(&state, &cred) {
                            return None;
                        }
                    }
                }
            }
        },
    );
    Sse::new(s).keep_alive(KeepAlive::default())
}

const LOGIN_BODY_LIMIT: usize = 8 * 1024;

#[derive(Debug, Deserialize)]
struct LoginBody {
    name: String,
    password: String,
    /// Where the page goes after login; only a path on this site is kept.
    #[serde(default)]
    next: Option<String>,
}

async fn login(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    ApiJson(body): ApiJson<LoginBody>,
) -> Result<Response, ApiError> {
    let name = body.name.trim();
    let ip_key = format!("ip:{}", peer.ip());
    // absurd input is refused before it costs a hash or a limiter entry
    if name.is_empty() || name.len() > web::MAX_NAME_BYTES || body.password.len() > web::MAX_PASSWORD_BYTES {
        state.inner.logins.failed(&[ip_key.as_str()]);
        return Err(ApiError::BadRequest(format!(
            "a user name has 1 to {} bytes and a password at most {}",
            web::MAX_NAME_BYTES,
            web::MAX_PASSWORD_BYTES
        )));
    }
    let name_key = format!("name:{name}");
    let keys = [ip_key.as_str(), name_key.as_str()];
    if state.inner.logins.blocked(&keys) {
        return Err(ApiError::TooManyRequests);
    }
    let user = state.reader()?.user(name)?;
    let worker = web::PasswordWorker::shared().map_err(|_| ApiError::Internal)?;
    let matched = match worker.verify(&body.password, user.as_ref().map(|(_, h)| h.as_str())).await {
        Ok(m) => m,
        Err(web::passwords::PasswordError::Busy) => return Err(ApiError::TooManyRequests),
        Err(web::passwords::PasswordError::Stopped) => return Err(ApiError::Internal),
    };
    let ok = match user {
        Some((role, hash)) if matched => role.parse::<Role>().ok().map(|r| (r, hash)),
        _ => None,
    };
    let Some((role, hash)) = ok else {
        state.inner.logins.failed(&keys);
        return Err(ApiError::Unauthorized);
    };
    state.inner.logins.succeeded(&keys);
    let sid = state.inner.sessions.create(Principal { role, name: name.to_string() }, hash);
    let cookie = web::session_cookie(SESSION_COOKIE, &sid, super::auth::SESSION_TTL.as_secs());
    let next = body.next.as_deref().and_then(web::safe_next).unwrap_or(match role {
        Role::Committee => "/committee",
        Role::Volunteer => "/volunteer",
        _ => "/guard",
    });
    Ok((
        StatusCode::OK,
        [(header::SET_COOKIE, cookie)],
        Json(serde_json::json!({"name": name, "role": role, "next": next})),
    )
        .into_response())
}

async fn logout(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if let Some(sid) = web::cookie_value(&headers, SESSION_COOKIE) {
        state.inner.sessions.remove(sid);
    }
    let cookie = web::session_cookie(SESSION_COOKIE, "", 0);
    (StatusCode::OK, [(header::SET_COOKIE, cookie)], Json(serde_json::json!({"ok": true}))).into_response()
}

async fn me(State(state): State<AppState>, who: AnyAccess) -> Json<serde_json::Value> {
    let p = who.principal();
    Json(serde_json::json!({
        "name": p.name, "role": p.role,
        "gate": state.inner.identity.gate, "community": state.inner.identity.community,
    }))
}
