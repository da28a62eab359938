//! Home-quarantine follow-up visits (随访): when a volunteer's visit is due
//! and which were missed.
//!
//! `[followup] visits_per_day` visits a day at `times` (local). Each due
//! time's visit may be made from that time until the next due time (the
//! last of the day runs to the first of the next day); a window that ended
//! without a visit is **missed**. A visit made before the first due time
//! of a day (say 07:50 for 08:00) therefore still counts, for the evening
//! before: volunteers should visit at or after the due time. Pure: the
//! caller passes the visits and `now`.

use chrono::{Days, NaiveDate, NaiveDateTime, NaiveTime};
use serde::Serialize;

/// The most visits a day (a bound on the windows a check walks through).
pub const MAX_VISITS_PER_DAY: u32 = 24;
/// How far back `due` looks for missed visits.
pub const LOOKBACK_DAYS: u64 = 2;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schedule {
    /// Sorted, distinct; empty means no visits are due.
    times: Vec<NaiveTime>,
}

impl Default for Schedule {
    fn default() -> Self {
        Schedule { times: [8, 16].iter().filter_map(|h| NaiveTime::from_hms_opt(*h, 0, 0)).collect() }
    }
}

/// One due visit's window and whether it was kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DueState {
    /// The window ended without a visit.
    Missed,
    /// The window is open and nobody has visited yet.
    Due,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct DueVisit {
    pub due_at: NaiveDateTime,
    pub until: NaiveDateTime,
    pub state: DueState,
}

impl Schedule {
    pub fn parse(visits_per_day: u32, times: &[String]) -> Result<Schedule, String> {
        if visits_per_day > MAX_VISITS_PER_DAY {
            return Err(format!("visits_per_day = {visits_per_day}: at most {MAX_VISITS_PER_DAY}"));
        }
        let mut parsed = times
            .iter()
            .map(|t| {
                NaiveTime::parse_from_str(t.trim(), "%H:%M")
                    .map_err(|_| format!("times: '{t}' is not a time such as \"08:00\""))
            })
            .collect::<Result<Vec<_>, _>>()?;
        parsed.sort();
        parsed.dedup();
        if parsed.len() != visits_per_day as usize {
            return Err(format!(
                "visits_per_day = {visits_per_day} but times names {} different times; give one time per visit, e.g. times = [\"08:00\", \"16:00\"]",
                parsed.len()
            ));
        }
        Ok(Schedule { times: parsed })
    }

    pub fn times(&self) -> &[NaiveTime] {
        &self.times
    }

    pub fn visits_per_day(&self) -> usize {
        self.times.len()
    }

    /// The windows that start on `day`: (due time, end of its window).
    fn windows(&self, day: NaiveDate) -> Vec<(NaiveDateTime, NaiveDateTime)> {
        let next_day = day.checked_add_days(Days::new(1));
        self.times
            .iter()
            .enumerate()
            .filter_map(|(i, t)| {
                let end = match self.times.get(i + 1) {
                    Some(n) => day.and_time(*n),
                    None => next_day?.and_time(*self.times.first()?),
                };
                Some((day.and_time(*t), end))
            })
            .collect()
    }

    /// The due visits of one person kept home at local time `now`: windows
    /// that ended without a visit (missed) in the last `LOOKBACK_DAYS`,
    /// and the open window if not yet visited. `since` is when the person
    /// was first kept home (windows starting before it are not owed);
    /// `visits` are their recorded visits, local times, any order.
    pub fn due(&self, since: Option<NaiveDateTime>, visits: &[NaiveDateTime], now: NaiveDateTime) -> Vec<DueVisit> {
        let today = now.date();
        let first = today.checked_sub_days(Days::new(LOOKBACK_DAYS)).unwrap_or(today);
        let mut out = Vec::new();
        let mut day = first;
        while day <= today {
            for (due_at, until) in self.windows(day) {
                if due_at > now || since.is_some_and(|s| due_at < s) {
                    continue;
                }
                if visits.iter().any(|v| *v >= due_at && *v < until) {
                    continue;
                }
                let state = if now >= until { DueState::Missed } else { DueState::Due };
                out.push(DueVisit { due_at, until, state });
            }
            match day.succ_opt() {
                Some(d) => day = d,
                None => break,
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(m: u32, d: u32, h: u32, mi: u32) -> NaiveDateTime {
        NaiveDate::from_ymd_opt(2026, m, d).unwrap().and_hms_opt(h, mi, 0).unwrap()
    }

    fn two() -> Schedule {
        Schedule::parse(2, &["16:00".into(), "08:00".into()]).unwrap()
    }

    #[test]
    fn config_is_checked() {
        assert_eq!(two(), Schedule::default());
        assert!(Schedule::parse(3, &["08:00".into(), "16:00".into()]).is_err());
        assert!(Schedule::parse(2, &["08:00".into(), "8am".into()]).is_err());
        assert!(Schedule::parse(2, &["08:00".into(), "08:00".into()]).is_err(), "the same time twice");
        assert!(Schedule::parse(25, &[]).is_err());
        assert!(Schedule::parse(0, &[]).unwrap().due(None, &[], at(12, 1, 12, 0)).is_empty());
    }

    #[test]
    fn a_window_runs_to_the_next_due_time() {
        let s = two();
        let since = Some(at(12, 1, 0, 0));
        // 07:00 on the first day: nothing due yet
        assert!(s.due(since, &[], at(12, 1, 7, 0)).is_empty());
        // 09:00, no visit: the morning visit is due
        let d = s.due(since, &[], at(12, 1, 9, 0));
        assert_eq!(d, vec![DueVisit { due_at: at(12, 1, 8, 0), until: at(12, 1, 16, 0), state: DueState::Due }]);
        // visited at 10:00: nothing due
        assert!(s.due(since, &[at(12, 1, 10, 0)], at(12, 1, 12, 0)).is_empty());
        // 16:00 without the morning visit: missed, and the evening one due
        let d = s.due(since, &[], at(12, 1, 16, 0));
        assert_eq!(d.iter().map(|v| v.state).collect::<Vec<_>>(), vec![DueState::Missed, DueState::Due]);
    }

    #[test]
    fn the_evening_window_runs_past_midnight() {
        let s = two();
        let since = Some(at(12, 1, 0, 0));
        let morning = at(12, 1, 9, 0);
        // the evening visit may be made until 08:00 the next day
        let d = s.due(since, &[morning], at(12, 2, 7, 59));
        assert_eq!(d, vec![DueVisit { due_at: at(12, 1, 16, 0), until: at(12, 2, 8, 0), state: DueState::Due }]);
        assert!(s.due(since, &[morning, at(12, 2, 0, 30)], at(12, 2, 7, 59)).is_empty(), "a visit at 00:30");
        // at 08:00 it is missed, and the new morning is due
        let d = s.due(since, &[morning], at(12, 2, 8, 0));
        assert_eq!(d.len(), 2);
        assert_eq!((d[0].due_at, d[0].state), (at(12, 1, 16, 0), DueState::Missed));
        assert_eq!((d[1].due_at, d[1].state), (at(12, 2, 8, 0), DueState::Due));
    }

    #[test]
    fn across_month_end_and_lookback() {
        let s = two();
        // kept home since long ago, no visits at all: two days back plus today
        let d = s.due(Some(at(11, 1, 0, 0)), &[], at(12, 1, 12, 0));
        let missed: Vec<_> = d.iter().filter(|v| v.state == DueState::Missed).map(|v| v.due_at).collect();
        assert_eq!(missed, vec![at(11, 29, 8, 0), at(11, 29, 16, 0), at(11, 30, 8, 0), at(11, 30, 16, 0)]);
        assert_eq!(d.last().map(|v| (v.due_at, v.state)), Some((at(12, 1, 8, 0), DueState::Due)));
        // nothing before `since` is owed
        let d = s.due(Some(at(11, 30, 12, 0)), &[], at(12, 1, 12, 0));
        assert_eq!(d.iter().map(|v| v.due_at).collect::<Vec<_>>(), vec![at(11, 30, 16, 0), at(12, 1, 8, 0)]);
    }

    #[test]
    fn an_early_visit_counts_for_the_evening_before() {
        let s = two();
        let since = Some(at(12, 1, 0, 0));
        // visits at 09:00 and 07:50 next morning: the 07:50 one closes the
        // evening window; the morning of the 2nd is still due at 09:00
        let d = s.due(since, &[at(12, 1, 9, 0), at(12, 2, 7, 50)], at(12, 2, 9, 0));
        assert_eq!(d, vec![DueVisit { due_at: at(12, 2, 8, 0), until: at(12, 2, 16, 0), state: DueState::Due }]);
    }
}
