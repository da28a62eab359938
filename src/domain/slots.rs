//! Staggered outings (错峰出门): `[[policy.slots]]` give groups of
//! households their own days and hours to go out.
//!
//! A household's slot is the **first** slot that names it (by its grid, or
//! by a household pattern such as `3-*`), in the order written: like a
//! firewall rule list, so an overlap never leaves it unclear which applies.
//! A household in no slot uses `[policy] hours`.
//!
//! A slot whose hours run past midnight (`22:00-02:00`) belongs to the day
//! it **starts** on: `days = "mon"` with `22:00-02:00` is open from Monday
//! 22:00 to Tuesday 02:00, and not from Monday 00:00 to 02:00. Odd/even
//! days work the same way (a slot of the 31st runs into the 1st).

use super::policy::Hours;
use chrono::{Datelike, NaiveDate, NaiveDateTime};
use serde::{Deserialize, Serialize};

/// The most slots and names per slot a policy may hold (a bound on what a
/// committee request can make every scan walk through).
pub const MAX_SLOTS: usize = 64;
pub const MAX_NAMES: usize = 256;

/// Which days a slot is open on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SlotDays {
    /// Bit 0 = Monday … bit 6 = Sunday.
    Weekdays(u8),
    /// Odd days of the month (1, 3, … 31).
    Odd,
    /// Even days of the month.
    Even,
}

const WEEKDAYS: [(&str, &str); 7] =
    [("mon", "一"), ("tue", "二"), ("wed", "三"), ("thu", "四"), ("fri", "五"), ("sat", "六"), ("sun", "日")];

impl SlotDays {
    pub fn contains(self, day: NaiveDate) -> bool {
        match self {
            SlotDays::Weekdays(bits) => bits & (1 << day.weekday().num_days_from_monday()) != 0,
            SlotDays::Odd => day.day() % 2 == 1,
            SlotDays::Even => day.day() % 2 == 0,
        }
    }
}

impl std::str::FromStr for SlotDays {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let t = s.trim().to_ascii_lowercase();
        match t.as_str() {
            "odd" | "单" | "单日" => return Ok(SlotDays::Odd),
            "even" | "双" | "双日" => return Ok(SlotDays::Even),
            "daily" | "all" | "every" => return Ok(SlotDays::Weekdays(0x7f)),
            _ => {}
        }
        let mut bits = 0u8;
        for part in t.split([',', '，', ' ']).map(str::trim).filter(|p| !p.is_empty()) {
            let i = WEEKDAYS
                .iter()
                .position(|(en, zh)| part == *en || part.strip_prefix("周") == Some(*zh) || part == *zh)
                .or_else(|| match part.get(..3) {
                    Some(p) if part.len() > 3 => WEEKDAYS.iter().position(|(en, _)| *en == p),
                    _ => None,
                })
                .ok_or_else(|| {
                    format!("days '{s}': '{part}' is not a weekday; write e.g. \"mon,wed,fri\", \"odd\" or \"even\"")
                })?;
            bits |= 1 << i;
        }
        if bits == 0 {
            return Err(format!("days '{s}' names no day; write e.g. \"mon,wed,fri\", \"odd\" or \"even\""));
        }
        Ok(SlotDays::Weekdays(bits))
    }
}

impl std::fmt::Display for SlotDays {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SlotDays::Odd => f.write_str("odd"),
            SlotDays::Even => f.write_str("even"),
            SlotDays::Weekdays(bits) => {
                let names: Vec<&str> =
                    WEEKDAYS.iter().enumerate().filter(|(i, _)| bits & (1 << i) != 0).map(|(_, (en, _))| *en).collect();
                f.write_str(&names.join(","))
            }
        }
    }
}

/// One slot: who, which days, which hours.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Slot {
    pub grids: Vec<String>,
    /// Household codes; a trailing `*` matches any code starting with what
    /// comes before it (`3-*` is every household of building 3).
    pub households: Vec<String>,
    pub days: SlotDays,
    pub hours: Hours,
}

/// The serialisable form, as written in `[[policy.slots]]` and sent by the
/// committee page.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlotDoc {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub grids: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub households: Vec<String>,
    pub days: String,
    pub hours: String,
}

/// What a scan answer and a card say about a household's slot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SlotView {
    /// `mon,wed,fri`, `odd` or `even`.
    pub days: String,
    /// `08:00-10:00`.
    pub hours: String,
}

impl Slot {
    pub fn parse(doc: &SlotDoc) -> Result<Slot, String> {
        let clean = |v: &[String]| -> Vec<String> {
            v.iter().map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect()
        };
        let grids = clean(&doc.grids);
        let households = clean(&doc.households);
        if grids.is_empty() && households.is_empty() {
            return Err("a slot must name grids = [...] or households = [...]".into());
        }
        if grids.len() + households.len() > MAX_NAMES {
            return Err(format!("a slot may name at most {MAX_NAMES} grids and households"));
        }
        if let Some(bad) = households.iter().find(|h| h.trim_end_matches('*').contains('*')) {
            return Err(format!("household pattern '{bad}': '*' may only end a pattern, as in \"3-*\""));
        }
        let hours: Hours = doc.hours.parse()?;
        if hours.start == hours.end {
            return Err(format!("hours '{}' is empty; a slot needs a start and a later end", doc.hours));
        }
        Ok(Slot { grids, households, days: doc.days.parse()?, hours })
    }

    pub fn to_doc(&self) -> SlotDoc {
        SlotDoc {
            grids: self.grids.clone(),
            households: self.households.clone(),
            days: self.days.to_string(),
            hours: self.hours.to_string(),
        }
    }

    pub fn view(&self) -> SlotView {
        SlotView { days: self.days.to_string(), hours: self.hours.to_string() }
    }

    /// Whether this slot names the household (code) or its grid.
    pub fn names(&self, grid: &str, household: &str) -> bool {
        let grid = grid.trim();
        (!grid.is_empty() && self.grids.iter().any(|g| g == grid))
            || self.households.iter().any(|p| match p.strip_suffix('*') {
                Some(prefix) => household.starts_with(prefix),
                None => p == household,
            })
    }

    /// Whether the slot is open at a local wall-clock time. Hours past
    /// midnight belong to the day they start on (see the module doc).
    pub fn open_at(&self, local: NaiveDateTime) -> bool {
        let (day, t) = (local.date(), local.time());
        let (start, end) = (self.hours.start, self.hours.end);
        if start < end {
            self.days.contains(day) && t >= start && t < end
        } else if t >= start {
            self.days.contains(day)
        } else if t < end {
            day.pred_opt().is_some_and(|d| self.days.contains(d))
        } else {
            false
        }
    }
}

/// The household's slot: the first that names it, or None (then
/// `[policy] hours` apply).
pub fn slot_for<'a>(slots: &'a [Slot], grid: &str, household: &str) -> Option<&'a Slot> {
    slots.iter().find(|s| s.names(grid, household))
}

/// Parses a list of slot docs, naming the bad one by its place.
pub fn parse_all(docs: &[SlotDoc]) -> Result<Vec<Slot>, String> {
    if docs.len() > MAX_SLOTS {
        return Err(format!("policy.slots: at most {MAX_SLOTS} slots"));
    }
    docs.iter().enumerate().map(|(i, d)| Slot::parse(d).map_err(|e| format!("policy.slots[{}]: {e}", i + 1))).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(y: i32, m: u32, d: u32, h: u32, mi: u32) -> NaiveDateTime {
        NaiveDate::from_ymd_opt(y, m, d).unwrap().and_hms_opt(h, mi, 0).unwrap()
    }

    fn slot(days: &str, hours: &str) -> Slot {
        Slot::parse(&SlotDoc { grids: vec!["1".into()], households: vec![], days: days.into(), hours: hours.into() })
            .unwrap()
    }

    #[test]
    fn weekday_lists() {
        // 2026-11-30 is a Monday
        let s = slot("mon,wed,fri", "08:00-10:00");
        assert!(s.open_at(at(2026, 11, 30, 8, 0)));
        assert!(s.open_at(at(2026, 11, 30, 9, 59)));
        assert!(!s.open_at(at(2026, 11, 30, 10, 0)), "end is exclusive");
        assert!(!s.open_at(at(2026, 11, 30, 7, 59)));
        assert!(!s.open_at(at(2026, 12, 1, 9, 0)), "Tuesday");
        assert!(s.open_at(at(2026, 12, 2, 9, 0)), "Wednesday");
        assert!(s.open_at(at(2026, 12, 4, 9, 0)), "Friday");
        assert!(!s.open_at(at(2026, 12, 6, 9, 0)), "Sunday");
        assert_eq!(s.days.to_string(), "mon,wed,fri");
        assert_eq!("周一,周三".parse::<SlotDays>().unwrap(), SlotDays::Weekdays(0b101));
        assert_eq!("Monday, Sunday".parse::<SlotDays>().unwrap(), SlotDays::Weekdays(0b100_0001));
        assert!("mon,funday".parse::<SlotDays>().is_err());
        assert!("".parse::<SlotDays>().is_err());
    }

    #[test]
    fn odd_and_even_days_of_the_month() {
        let odd = slot("odd", "08:00-12:00");
        let even = slot("even", "08:00-12:00");
        assert!(odd.open_at(at(2026, 11, 29, 9, 0)) && !even.open_at(at(2026, 11, 29, 9, 0)));
        assert!(even.open_at(at(2026, 11, 30, 9, 0)) && !odd.open_at(at(2026, 11, 30, 9, 0)));
        // the 31st and the 1st are both odd: two odd days in a row
        assert!(odd.open_at(at(2026, 12, 31, 9, 0)) && odd.open_at(at(2027, 1, 1, 9, 0)));
        assert!(even.open_at(at(2028, 2, 28, 9, 0)) && !even.open_at(at(2028, 2, 29, 9, 0)));
    }

    #[test]
    fn across_midnight_belongs_to_the_day_it_starts() {
        let s = slot("mon", "22:00-02:00");
        assert!(s.open_at(at(2026, 11, 30, 22, 0)), "Monday 22:00");
        assert!(s.open_at(at(2026, 11, 30, 23, 59)));
        assert!(s.open_at(at(2026, 12, 1, 0, 0)), "Tuesday 00:00 is Monday's night");
        assert!(s.open_at(at(2026, 12, 1, 1, 59)));
        assert!(!s.open_at(at(2026, 12, 1, 2, 0)), "end exclusive");
        assert!(!s.open_at(at(2026, 11, 30, 1, 0)), "Monday 01:00 is Sunday's night");
        assert!(!s.open_at(at(2026, 12, 1, 22, 0)), "Tuesday evening");
        assert!(!s.open_at(at(2026, 11, 30, 12, 0)));
        // odd days across the month end: the 31st's night runs into the 1st
        let o = slot("odd", "23:00-01:00");
        assert!(o.open_at(at(2026, 12, 31, 23, 30)) && o.open_at(at(2027, 1, 1, 0, 30)));
        assert!(!o.open_at(at(2026, 12, 1, 0, 30)), "Nov 30 is even");
        // Sunday night into Monday, across a week boundary
        let sun = slot("sun", "21:00-03:00");
        assert!(sun.open_at(at(2026, 11, 30, 2, 0)) && !sun.open_at(at(2026, 12, 1, 2, 0)));
    }

    #[test]
    fn who_a_slot_names_and_first_match_wins() {
        let a = Slot::parse(&SlotDoc {
            grids: vec![],
            households: vec!["1-01".into(), "3-*".into()],
            days: "odd".into(),
            hours: "08:00-10:00".into(),
        })
        .unwrap();
        let b = slot("even", "14:00-16:00");
        assert!(a.names("", "1-01") && !a.names("", "1-011") && a.names("", "3-101") && !a.names("", "13-1"));
        assert!(b.names("1", "9-9") && !b.names("2", "9-9") && !b.names("", "1"));
        let slots = vec![a.clone(), b.clone()];
        assert_eq!(slot_for(&slots, "1", "3-101"), Some(&a), "first match");
        assert_eq!(slot_for(&slots, "1", "2-101"), Some(&b));
        assert_eq!(slot_for(&slots, "2", "2-101"), None);
        let star_all = Slot::parse(&SlotDoc {
            households: vec!["*".into()],
            days: "mon".into(),
            hours: "08:00-09:00".into(),
            ..Default::default()
        })
        .unwrap();
        assert!(star_all.names("", "anything"));
    }

    #[test]
    fn bad_slots_are_named() {
        let doc = |g: &[&str], h: &[&str], d: &str, hr: &str| SlotDoc {
            grids: g.iter().map(|s| s.to_string()).collect(),
            households: h.iter().map(|s| s.to_string()).collect(),
            days: d.into(),
            hours: hr.into(),
        };
        assert!(Slot::parse(&doc(&[], &[], "mon", "08:00-10:00")).is_err(), "names nobody");
        assert!(Slot::parse(&doc(&["1"], &[], "mon", "8-10")).is_err());
        assert!(Slot::parse(&doc(&["1"], &[], "mon", "08:00-08:00")).is_err());
        assert!(Slot::parse(&doc(&[], &["1-*-2"], "mon", "08:00-10:00")).is_err());
        let e = parse_all(&[doc(&["1"], &[], "mon", "08:00-10:00"), doc(&["1"], &[], "someday", "08:00-10:00")])
            .unwrap_err();
        assert!(e.starts_with("policy.slots[2]"), "{e}");
        let s = Slot::parse(&doc(&[" 1 "], &[], "wed,mon", "08:00-10:00")).unwrap();
        assert_eq!(s.to_doc(), doc(&["1"], &[], "mon,wed", "08:00-10:00"));
    }
}
