//! The outing rules of one community (`[policy]` in `gatepass.toml`, or set
//! by the committee), parsed once into typed values.

use super::slots::{Slot, SlotDoc};
use chrono::NaiveTime;
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

/// When a temperature reading is required.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RequireTemperature {
    Both,
    Out,
    In,
    None,
}

impl RequireTemperature {
    pub fn on_exit(self) -> bool {
        matches!(self, RequireTemperature::Both | RequireTemperature::Out)
    }
    pub fn on_entry(self) -> bool {
        matches!(self, RequireTemperature::Both | RequireTemperature::In)
    }
}

/// Outing hours as local wall-clock times, `start` inclusive, `end` exclusive.
/// An `end` before `start` wraps over midnight (e.g. a night-shift gate).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hours {
    pub start: NaiveTime,
    pub end: NaiveTime,
}

impl Hours {
    pub fn contains(&self, t: NaiveTime) -> bool {
        if self.start == self.end {
            true
        } else if self.start < self.end {
            t >= self.start && t < self.end
        } else {
            t >= self.start || t < self.end
        }
    }
}

impl std::fmt::Display for Hours {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}-{}", self.start.format("%H:%M"), self.end.format("%H:%M"))
    }
}

impl std::str::FromStr for Hours {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("hours '{s}' must look like 06:00-20:00");
        let (a, b) = s.split_once('-').ok_or_else(bad)?;
        let p = |x: &str| {
            let x = x.trim();
            if x == "24:00" {
                return Ok(NaiveTime::MIN);
            }
            NaiveTime::parse_from_str(x, "%H:%M").map_err(|_| bad())
        };
        Ok(Hours { start: p(a)?, end: p(b)? })
    }
}

/// The rules a gate enforces. Defaults are the city's written rules.
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    pub fever_c: f64,
    pub max_members_out: u32,
    pub outings_per_period: u32,
    pub period_days: u32,
    pub hours: Hours,
    pub max_outing_minutes: u32,
    pub require_temperature: RequireTemperature,
    pub timezone: Tz,
    pub anti_passback: bool,
    /// Staggered outings: a household named by a slot goes out in that
    /// slot instead of `hours` (see `slots`).
    pub slots: Vec<Slot>,
    /// Days a returnee stays in home observation after arriving.
    pub observation_days: u32,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            fever_c: 37.3,
            max_members_out: 1,
            outings_per_period: 1,
            period_days: 3,
            hours: Hours {
                start: NaiveTime::from_hms_opt(6, 0, 0).unwrap_or(NaiveTime::MIN),
                end: NaiveTime::from_hms_opt(20, 0, 0).unwrap_or(NaiveTime::MIN),
            },
            max_outing_minutes: 180,
            require_temperature: RequireTemperature::Both,
            timezone: chrono_tz::Asia::Shanghai,
            anti_passback: true,
            slots: Vec::new(),
            observation_days: 14,
        }
    }
}

/// The serialisable form of a policy, as in `[policy]` and the policy API.
/// Every field is optional so a file or request can change just one rule.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyDoc {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fever_c: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_members_out: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outings_per_period: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub period_days: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hours: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_outing_minutes: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub require_temperature: Option<RequireTemperature>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timezone: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub anti_passback: Option<bool>,
    /// `[[policy.slots]]`; given, it replaces the whole list (an empty list
    /// removes every slot).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub slots: Option<Vec<SlotDoc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub observation_days: Option<u32>,
}

impl Policy {
    /// Applies the fields set in `doc` on top of `self`, checking each.
    pub fn apply(&self, doc: &PolicyDoc) -> Result<Policy, String> {
        let mut p = self.clone();
        if let Some(v) = doc.fever_c {
            if !(34.0..=42.0).contains(&v) {
                return Err(format!("policy.fever_c = {v} is not a plausible fever line (34–42 °C)"));
            }
            p.fever_c = v;
        }
        if let Some(v) = doc.max_members_out {
            p.max_members_out = v;
        }
        if let Some(v) = doc.outings_per_period {
            p.outings_per_period = v;
        }
        if let Some(v) = doc.period_days {
            if v == 0 || v > 366 {
                return Err(format!("policy.period_days = {v} must be between 1 and 366"));
            }
            p.period_days = v;
        }
        if let Some(h) = &doc.hours {
            p.hours = h.parse().map_err(|e| format!("policy.hours: {e}"))?;
        }
        if let Some(v) = doc.max_outing_minutes {
            if v == 0 {
                return Err("policy.max_outing_minutes must be at least 1".into());
            }
            p.max_outing_minutes = v;
        }
        if let Some(v) = doc.require_temperature {
            p.require_temperature = v;
        }
        if let Some(tz) = &doc.timezone {
            p.timezone = tz
                .parse()
                .map_err(|_| format!("policy.timezone '{tz}' is not an IANA time zone such as Asia/Shanghai"))?;
        }
        if let Some(v) = doc.anti_passback {
            p.anti_passback = v;
        }
        if let Some(v) = &doc.slots {
            p.slots = super::slots::parse_all(v)?;
        }
        if let Some(v) = doc.observation_days {
            if v > 366 {
                return Err(format!("policy.observation_days = {v} must be between 0 and 366"));
            }
            p.observation_days = v;
        }
        Ok(p)
    }

    pub fn to_doc(&self) -> PolicyDoc {
        PolicyDoc {
            fever_c: Some(self.fever_c),
            max_members_out: Some(self.max_members_out),
            outings_per_period: Some(self.outings_per_period),
            period_days: Some(self.period_days),
            hours: Some(self.hours.to_string()),
            max_outing_minutes: Some(self.max_outing_minutes),
            require_temperature: Some(self.require_temperature),
            timezone: Some(self.timezone.name().to_string()),
            anti_passback: Some(self.anti_passback),
            slots: Some(self.slots.iter().map(Slot::to_doc).collect()),
            observation_days: Some(self.observation_days),
        }
    }
}

/// The committee's change `over` laid on its earlier changes `base`: what
/// `over` names wins, the rest stays.
pub fn merge_docs(base: &PolicyDoc, over: &PolicyDoc) -> PolicyDoc {
    PolicyDoc {
        fever_c: over.fever_c.or(base.fever_c),
        max_members_out: over.max_members_out.or(base.max_members_out),
        outings_per_period: over.outings_per_period.or(base.outings_per_period),
        period_days: over.period_days.or(base.period_days),
        hours: over.hours.clone().or_else(|| base.hours.clone()),
        max_outing_minutes: over.max_outing_minutes.or(base.max_outing_minutes),
        require_temperature: over.require_temperature.or(base.require_temperature),
        timezone: over.timezone.clone().or_else(|| base.timezone.clone()),
        anti_passback: over.anti_passback.or(base.anti_passback),
        slots: over.slots.clone().or_else(|| base.slots.clone()),
        observation_days: over.observation_days.or(base.observation_days),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(h: u32, m: u32) -> NaiveTime {
        NaiveTime::from_hms_opt(h, m, 0).unwrap()
    }

    #[test]
    fn later_changes_win_field_by_field() {
        let base = PolicyDoc { fever_c: Some(37.5), period_days: Some(3), ..Default::default() };
        let over = PolicyDoc { fever_c: Some(37.2), max_members_out: Some(2), ..Default::default() };
        let m = merge_docs(&base, &over);
        assert_eq!((m.fever_c, m.period_days, m.max_members_out), (Some(37.2), Some(3), Some(2)));
        assert_eq!(merge_docs(&base, &PolicyDoc::default()).fever_c, Some(37.5));
    }

    #[test]
    fn hours_bounds() {
        let h: Hours = "06:00-20:00".parse().unwrap();
        assert!(!h.contains(t(5, 59)));
        assert!(h.contains(t(6, 0)));
        assert!(h.contains(t(19, 59)));
        assert!(!h.contains(t(20, 0)));
        let night: Hours = "20:00-06:00".parse().unwrap();
        assert!(night.contains(t(23, 0)) && night.contains(t(5, 0)) && !night.contains(t(12, 0)));
        assert!("6-20".parse::<Hours>().is_err());
        assert!("00:00-24:00".parse::<Hours>().unwrap().contains(t(23, 59)));
    }

    #[test]
    fn apply_checks_values() {
        let p = Policy::default();
        let doc = PolicyDoc { period_days: Some(0), ..Default::default() };
        assert!(p.apply(&doc).is_err());
        let doc = PolicyDoc { timezone: Some("Mars/Olympus".into()), ..Default::default() };
        assert!(p.apply(&doc).is_err());
        let doc = PolicyDoc { fever_c: Some(37.5), hours: Some("07:00-19:00".into()), ..Default::default() };
        let q = p.apply(&doc).unwrap();
        assert_eq!(q.fever_c, 37.5);
        assert_eq!(q.hours.to_string(), "07:00-19:00");
        assert_eq!(p.apply(&q.to_doc()).unwrap(), q);
    }

    #[test]
    fn slots_replace_as_a_whole_and_round_trip() {
        let slot = |g: &str| SlotDoc {
            grids: vec![g.into()],
            days: "odd".into(),
            hours: "22:00-02:00".into(),
            ..Default::default()
        };
        let base = PolicyDoc { slots: Some(vec![slot("1"), slot("2")]), ..Default::default() };
        let over = PolicyDoc { slots: Some(vec![slot("3")]), ..Default::default() };
        assert_eq!(merge_docs(&base, &over).slots, Some(vec![slot("3")]));
        assert_eq!(merge_docs(&base, &PolicyDoc::default()).slots.map(|s| s.len()), Some(2));
        let p = Policy::default().apply(&base).unwrap();
        assert_eq!(p.slots.len(), 2);
        assert_eq!(Policy::default().apply(&p.to_doc()).unwrap(), p);
        let cleared = p.apply(&PolicyDoc { slots: Some(vec![]), ..Default::default() }).unwrap();
        assert!(cleared.slots.is_empty());
        let bad = PolicyDoc {
            slots: Some(vec![SlotDoc { days: "mon".into(), hours: "08:00-09:00".into(), ..Default::default() }]),
            ..Default::default()
        };
        assert!(Policy::default().apply(&bad).unwrap_err().contains("policy.slots[1]"));
        let toml_text =
            "slots = [{ grids = [\"1\"], days = \"mon,wed,fri\", hours = \"08:00-10:00\" }]\nobservation_days = 7\n";
        let doc: PolicyDoc = toml::from_str(toml_text).unwrap();
        let q = Policy::default().apply(&doc).unwrap();
        assert_eq!((q.slots.len(), q.observation_days), (1, 7));
        assert_eq!(Policy::default().observation_days, 14);
    }
}
