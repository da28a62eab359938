//! The committee's follow-up lists (issue 12), put together from the store
//! and the pure rules in `domain::followup`: who is kept home, when each
//! was last visited, which visits are due or missed. Used by the CLI (via
//! `Gate`) and the daemon (with its read connection) alike.

use crate::domain::followup::{DueState, Schedule};
use crate::domain::{Category, Policy, ResidentId};
use crate::store::{FollowupRow, ResidentView, Result, Store};
use chrono::{DateTime, Days, NaiveDate, NaiveDateTime, Utc};
use serde::Serialize;
use std::collections::HashMap;

/// The most visits read back for a due check (about 3 days of visits).
const MAX_VISITS_READ: u32 = 200_000;

#[derive(Debug, Clone, Serialize)]
pub struct DueWindow {
    /// Local time the visit was due, `YYYY-MM-DD HH:MM`.
    pub due_at: String,
    pub until: String,
    pub state: DueState,
}

/// A person kept home and where their follow-up stands.
#[derive(Debug, Clone, Serialize)]
pub struct HomeStatus {
    pub resident_id: ResidentId,
    pub name: String,
    pub household: String,
    pub grid: String,
    pub phone: Option<String>,
    pub monitor: Option<String>,
    pub origin: Option<String>,
    pub arrived: Option<NaiveDate>,
    /// Last day of home observation for a returnee (arrived + observation_days).
    pub observation_until: Option<NaiveDate>,
    pub last_visit: Option<String>,
    pub last_temperature_c: Option<f64>,
    pub due: Vec<DueWindow>,
}

impl HomeStatus {
    pub fn missed(&self) -> usize {
        self.due.iter().filter(|d| d.state == DueState::Missed).count()
    }
}

pub fn local_text(t: NaiveDateTime) -> String {
    t.format("%Y-%m-%d %H:%M").to_string()
}

/// Whether a resident is kept at home and visited: home quarantine (居家隔离),
/// in force today, still living here.
pub fn is_kept_home(r: &ResidentView, today: NaiveDate) -> bool {
    r.left.is_none() && r.unreadable.is_empty() && r.effective_category(today) == Category::HomeQuarantine
}

/// The last day of a returnee's home observation.
pub fn observation_until(arrived: NaiveDate, policy: &Policy) -> Option<NaiveDate> {
    arrived.checked_add_days(Days::new(u64::from(policy.observation_days.saturating_sub(1))))
}

/// Everyone kept home, with their follow-up windows at `now`.
pub fn home_status(store: &Store, schedule: &Schedule, policy: &Policy, now: DateTime<Utc>) -> Result<Vec<HomeStatus>> {
    let local_now = now.with_timezone(&policy.timezone).naive_local();
    let today = local_now.date();
    let people: Vec<ResidentView> = store.residents()?.into_iter().filter(|r| is_kept_home(r, today)).collect();
    let from = now - chrono::Duration::days(crate::domain::followup::LOOKBACK_DAYS as i64 + 2);
    let mut visits: HashMap<ResidentId, Vec<FollowupRow>> = HashMap::new();
    for v in store.followups_between(from.timestamp_millis(), now.timestamp_millis() + 1, MAX_VISITS_READ)? {
        visits.entry(v.resident_id).or_default().push(v);
    }
    let local = |ms: i64| DateTime::from_timestamp_millis(ms).map(|t| t.with_timezone(&policy.timezone).naive_local());
    let mut out = Vec::with_capacity(people.len());
    for r in people {
        let mine = visits.remove(&r.id).unwrap_or_default();
        let times: Vec<NaiveDateTime> = mine.iter().filter_map(|v| local(v.at_ms)).collect();
        // owed from when they were kept home: the category's date, or the
        // day they arrived, whichever is later
        let set = r
            .category_since
            .as_deref()
            .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
            .map(|t| t.with_timezone(&policy.timezone).naive_local());
        let arrived = r.arrived.and_then(|d| d.and_hms_opt(0, 0, 0));
        let since = match (set, arrived) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
        let due = schedule
            .due(since, &times, local_now)
            .into_iter()
            .map(|d| DueWindow { due_at: local_text(d.due_at), until: local_text(d.until), state: d.state })
            .collect();
        let last = mine.last();
        out.push(HomeStatus {
            resident_id: r.id,
            observation_until: r.arrived.and_then(|a| observation_until(a, policy)),
            name: r.name,
            household: r.household,
            grid: r.grid,
            phone: r.phone,
            monitor: r.monitor,
            origin: r.origin,
            arrived: r.arrived,
            last_visit: last.and_then(|v| local(v.at_ms)).map(local_text),
            last_temperature_c: last.and_then(|v| v.temperature_c),
            due,
        });
    }
    Ok(out)
}
