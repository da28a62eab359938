//! Can the wall clock be trusted? The Pi has no battery clock: after a power
//! cut without network it restarts at fake-hwclock's last hourly save, so
//! new events could be stamped earlier than old ones. Such events are marked
//! `clock_suspect`; the sequence number still orders the log.

use chrono::{DateTime, NaiveDate, Utc};

/// A time as gatepass writes it everywhere (events, audit, the district):
/// RFC 3339 UTC with milliseconds.
pub fn now_text(now: DateTime<Utc>) -> String {
    now.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// No gatepass build runs before this day; a clock earlier than it is wrong.
pub const EARLIEST_PLAUSIBLE: NaiveDate = match NaiveDate::from_ymd_opt(2026, 11, 1) {
    Some(d) => d,
    None => NaiveDate::MIN,
};

/// The one clock verdict: what the system confirms (`hw::clock`) and what
/// the gate concludes with its log (`assess`) use the same shape.
#[derive(Debug, Clone, serde::Serialize, PartialEq, Eq)]
pub struct ClockState {
    /// True when the time is confirmed and no check failed.
    pub trusted: bool,
    /// "ntp", "rtc", "config" or "none".
    pub source: String,
    pub detail: String,
}

/// What confirms the gate's time: the configuration (`[gate] trust_clock`),
/// or else NTP / an RTC as the system reports them; None when nothing does.
pub fn time_source(trust_clock: bool) -> Option<&'static str> {
    if trust_clock {
        return Some("config");
    }
    let probe = crate::hw::clock::confirmed();
    match probe.source.as_str() {
        "ntp" if probe.trusted => Some("ntp"),
        "rtc" if probe.trusted => Some("rtc"),
        _ => None,
    }
}

/// Decides whether `now` can be trusted. Pure: the caller says what the
/// system reported (`source`) and what the log already holds.
pub fn assess(now: DateTime<Utc>, source: Option<&str>, newest_event: Option<DateTime<Utc>>) -> ClockState {
    let (trusted, detail) = if now.date_naive() < EARLIEST_PLAUSIBLE {
        (false, format!("clock says {} — before this software was built; set the time", now.format("%Y-%m-%d")))
    } else if let Some(newest) = newest_event.filter(|n| now < *n) {
        (
            false,
            format!("clock went backwards: now {} but the log already has {}", now.to_rfc3339(), newest.to_rfc3339()),
        )
    } else if source.is_none() {
        (false, "time not confirmed (no NTP sync, no RTC): events are marked clock_suspect".to_string())
    } else {
        (true, "time confirmed".to_string())
    };
    ClockState { trusted, source: source.unwrap_or("none").to_string(), detail }
}

/// The real time of a crossing entered afterwards from the paper register
/// (`--at`): RFC 3339, and not in the future (a minute of clock slack).
pub fn backfill_time(at: &str, now: DateTime<Utc>) -> Result<DateTime<Utc>, String> {
    let t = DateTime::parse_from_rfc3339(at.trim())
        .map_err(|_| format!("--at '{at}' is not a time; write it as RFC 3339, e.g. 2026-11-29T08:30:00+08:00"))?
        .with_timezone(&Utc);
    if t > now + chrono::Duration::seconds(60) {
        return Err(format!("--at {at} is in the future; a backfill records a crossing that already happened"));
    }
    Ok(t)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn suspect_cases() {
        let now = Utc.with_ymd_and_hms(2026, 12, 1, 8, 0, 0).unwrap();
        assert!(assess(now, Some("ntp"), None).trusted);
        assert!(!assess(now, None, None).trusted);
        let earlier = Utc.with_ymd_and_hms(2020, 1, 1, 0, 0, 0).unwrap();
        assert!(!assess(earlier, Some("ntp"), None).trusted);
        let later = now + chrono::Duration::hours(1);
        let s = assess(now, Some("rtc"), Some(later));
        assert!(!s.trusted && s.detail.contains("backwards"));
    }
}
