//! The rule engine: given what the gate knows about a pass holder at the
//! moment of a scan, decide allow / deny / refer and say every reason.
//!
//! Pure: the caller passes `now`, the policy and the facts read from the
//! database; nothing here reads a clock or a table.

use super::category::Category;
use super::pass::PassClaims;
use super::policy::Policy;
use chrono::{DateTime, Days, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    In,
    Out,
}

impl Direction {
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::In => "in",
            Direction::Out => "out",
        }
    }
}

impl std::str::FromStr for Direction {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "in" | "入" | "进" => Ok(Direction::In),
            "out" | "出" => Ok(Direction::Out),
            other => Err(format!("direction '{other}' must be 'in' or 'out'")),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Decision {
    Allow,
    Deny,
    Refer,
}

impl Decision {
    pub fn as_str(self) -> &'static str {
        match self {
            Decision::Allow => "allow",
            Decision::Deny => "deny",
            Decision::Refer => "refer",
        }
    }
}

/// Why a crossing was refused (or referred). The snake_case names are the
/// reason codes of the product contract; scripts match on them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    InvalidPass,
    WrongCommunity,
    UnknownPass,
    Revoked,
    Expired,
    NotYetValid,
    Quarantined,
    NoTemperature,
    Fever,
    HouseholdMemberOut,
    HouseholdQuota,
    OutsideHours,
    AlreadyOut,
    /// Something the decision needs (the category, the pass row, the
    /// household link, the committee's policy, who is out…) cannot be read
    /// from the database: refused rather than guessed (fail closed).
    RecordUnreadable,
    /// An outsider or vehicle without the committee's approval: turned
    /// back (劝返), and recorded.
    NotApproved,
    /// A visitor pass whose entries are all used.
    PassUsed,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::InvalidPass => "invalid_pass",
            Reason::WrongCommunity => "wrong_community",
            Reason::UnknownPass => "unknown_pass",
            Reason::Revoked => "revoked",
            Reason::Expired => "expired",
            Reason::NotYetValid => "not_yet_valid",
            Reason::Quarantined => "quarantined",
            Reason::NoTemperature => "no_temperature",
            Reason::Fever => "fever",
            Reason::HouseholdMemberOut => "household_member_out",
            Reason::HouseholdQuota => "household_quota",
            Reason::OutsideHours => "outside_hours",
            Reason::AlreadyOut => "already_out",
            Reason::RecordUnreadable => "record_unreadable",
            Reason::NotApproved => "not_approved",
            Reason::PassUsed => "pass_used",
        }
    }
}

/// Allowed, but worth the guard's (and the committee's) attention.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Warning {
    /// Back later than `max_outing_minutes` after going out.
    Overdue,
    /// Coming in without an exit on record (left before the gate existed,
    /// through another way, or the exit was not scanned).
    NoExitRecorded,
    /// The guard typed the pass number: no signature was checked, so the
    /// guard must compare the face with the name shown.
    TypedPassNumber,
    /// An essential worker's exit: it does not use the household's outings.
    /// Part of the signed event, so the outing count can be rebuilt from
    /// the chain alone.
    QuotaExempt,
    /// An urgent outing (就医, 急救) let out past the rules: it does not use
    /// the household's outings and its return is watched.
    Exception,
    /// A resident without the card, found by name: no signature was
    /// checked, the guard compares the ID card or household book.
    NoCard,
}

impl Warning {
    pub fn as_str(self) -> &'static str {
        match self {
            Warning::Overdue => "overdue",
            Warning::NoExitRecorded => "no_exit_recorded",
            Warning::TypedPassNumber => "typed_pass_number",
            Warning::QuotaExempt => "quota_exempt",
            Warning::Exception => "exception",
            Warning::NoCard => "no_card",
        }
    }
}

/// Where the pass holder is, as far as the log knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Presence {
    /// Inside the compound (or never seen: a resident starts at home).
    In,
    Out {
        since: DateTime<Utc>,
    },
}

/// What the database knows about the pass: used for the validity reasons.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PassRecord {
    pub revoked: bool,
}

/// The holder and their household at the moment of the scan.
#[derive(Debug, Clone, PartialEq)]
pub struct Holder {
    pub category: Category,
    pub presence: Presence,
    /// Other members of the household out right now (essential workers on
    /// duty are not counted: their work does not use the household's turn).
    pub others_out: u32,
    /// Allowed exits of the household's non-essential members, at least the
    /// last `period_days` local days' worth.
    pub household_exits: Vec<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    pub decision: Decision,
    pub direction: Option<Direction>,
    pub reasons: Vec<Reason>,
    pub warnings: Vec<Warning>,
}

impl Outcome {
    /// A refused scan for a pass that could not be trusted or found.
    pub fn refused(reason: Reason, direction: Option<Direction>, temperature: Option<f64>, policy: &Policy) -> Outcome {
        let mut reasons = vec![reason];
        if is_fever(temperature, policy) {
            reasons.push(Reason::Fever);
        }
        Outcome { decision: Decision::Deny, direction, reasons, warnings: vec![] }
    }
}

/// True when a reading is at or over the fever line (compared in hundredths
/// of a degree, so 37.3 from a sensor that says 37.299999 counts).
pub fn is_fever(temperature: Option<f64>, policy: &Policy) -> bool {
    temperature.is_some_and(|t| (t * 100.0).round() >= (policy.fever_c * 100.0).round())
}

/// Checks the dates and the revocation of a pass whose signature is good.
/// `known` is None when the pass id is not in this gate's database.
pub fn pass_status(claims: &PassClaims, known: Option<PassRecord>, today: NaiveDate) -> Result<(), Reason> {
    let record = known.ok_or(Reason::UnknownPass)?;
    if record.revoked {
        return Err(Reason::Revoked);
    }
    if today < claims.valid_from {
        return Err(Reason::NotYetValid);
    }
    if today > claims.valid_until {
        return Err(Reason::Expired);
    }
    Ok(())
}

/// The local calendar day of an instant in the community's time zone.
pub fn local_day(at: DateTime<Utc>, policy: &Policy) -> NaiveDate {
    at.with_timezone(&policy.timezone).date_naive()
}

/// Outings the household made on days D−P+1 … D (D = the day of `now`).
pub fn outings_in_period(exits: &[DateTime<Utc>], now: DateTime<Utc>, policy: &Policy) -> u32 {
    let today = local_day(now, policy);
    let first =
        today.checked_sub_days(Days::new(u64::from(policy.period_days.saturating_sub(1)))).unwrap_or(NaiveDate::MIN);
    let n = exits.iter().map(|e| local_day(*e, policy)).filter(|d| *d >= first && *d <= today).count();
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// Whether a household member who is out counts against `max_members_out`:
/// essential workers on duty do not, unless their dated category ended.
pub fn counts_as_out(category: Category, until: Option<NaiveDate>, today: NaiveDate) -> bool {
    let ended = until.is_some_and(|u| today > u);
    ended || !category.is_essential()
}

/// Whether an exit uses one of the household's outings (essential workers'
/// exits do not).
pub fn exit_counts(category: Category) -> bool {
    !category.is_essential()
}

/// Out longer than the policy allows.
pub fn is_overdue(since: DateTime<Utc>, now: DateTime<Utc>, policy: &Policy) -> bool {
    (now - since).num_minutes() > i64::from(policy.max_outing_minutes)
}

/// Direction left out: out if the person is in (or never seen), in if out.
pub fn inferred_direction(presence: &Presence) -> Direction {
    match presence {
        Presence::Out { .. } => Direction::In,
        Presence::In => Direction::Out,
    }
}

/// Decides a scan of a valid, known pass.
pub fn decide(
    holder: &Holder,
    requested: Option<Direction>,
    temperature: Option<f64>,
    now: DateTime<Utc>,
    policy: &Policy,
) -> Outcome {
    let direction = requested.unwrap_or_else(|| inferred_direction(&holder.presence));
    let fever = is_fever(temperature, policy);
    let mut reasons = Vec::new();
    let mut warnings = Vec::new();
    let decision = match direction {
        Direction::Out => {
            if !holder.category.may_go_out() {
                reasons.push(Reason::Quarantined);
            }
            if policy.require_temperature.on_exit() && temperature.is_none() {
                reasons.push(Reason::NoTemperature);
            }
            if fever {
                reasons.push(Reason::Fever);
            }
            if !holder.category.is_essential() {
                if policy.max_members_out > 0 && holder.others_out >= policy.max_members_out {
                    reasons.push(Reason::HouseholdMemberOut);
                }
                if policy.outings_per_period > 0
                    && outings_in_period(&holder.household_exits, now, policy) >= policy.outings_per_period
                {
                    reasons.push(Reason::HouseholdQuota);
                }
                let local_time = now.with_timezone(&policy.timezone).time();
                if !policy.hours.contains(local_time) {
                    reasons.push(Reason::OutsideHours);
                }
            }
            if policy.anti_passback && matches!(holder.presence, Presence::Out { .. }) {
                reasons.push(Reason::AlreadyOut);
            }
            if reasons.is_empty() {
                Decision::Allow
            } else {
                Decision::Deny
            }
        }
        Direction::In => {
            // Nobody is locked out of home: quota, hours and category never
            // refuse an entry. Only a missing reading (take it and rescan)
            // refuses; a fever holds the person for the medical team.
            match holder.presence {
                Presence::In => warnings.push(Warning::NoExitRecorded),
                Presence::Out { since } => {
                    if (now - since).num_minutes() > i64::from(policy.max_outing_minutes) {
                        warnings.push(Warning::Overdue);
                    }
                }
            }
            if policy.require_temperature.on_entry() && temperature.is_none() {
                reasons.push(Reason::NoTemperature);
                Decision::Deny
            } else if fever {
                reasons.push(Reason::Fever);
                Decision::Refer
            } else {
                Decision::Allow
            }
        }
    };
    Outcome { decision, direction: Some(direction), reasons, warnings }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::pass::PassKind;
    use crate::domain::policy::{PolicyDoc, RequireTemperature};
    use chrono::TimeZone;

    /// A Shanghai wall-clock time as UTC.
    fn sh(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
        chrono_tz::Asia::Shanghai.with_ymd_and_hms(y, mo, d, h, mi, 0).single().unwrap().with_timezone(&Utc)
    }

    fn home(category: Category) -> Holder {
        Holder { category, presence: Presence::In, others_out: 0, household_exits: vec![] }
    }

    fn p() -> Policy {
        Policy::default()
    }

    const NOON: (u32, u32) = (12, 0);

    fn monday_noon() -> DateTime<Utc> {
        // 2026-11-30 is a Monday
        sh(2026, 11, 30, NOON.0, NOON.1)
    }

    #[test]
    fn normal_resident_goes_out() {
        let o = decide(&home(Category::Normal), None, Some(36.5), monday_noon(), &p());
        assert_eq!(o.decision, Decision::Allow);
        assert_eq!(o.direction, Some(Direction::Out));
        assert!(o.reasons.is_empty() && o.warnings.is_empty());
    }

    #[test]
    fn direction_inferred_from_presence() {
        let mut h = home(Category::Normal);
        h.presence = Presence::Out { since: monday_noon() - chrono::Duration::minutes(30) };
        let o = decide(&h, None, Some(36.5), monday_noon(), &p());
        assert_eq!(o.direction, Some(Direction::In));
        assert_eq!(o.decision, Decision::Allow);
        assert!(o.warnings.is_empty());
    }

    #[test]
    fn every_kept_in_category_is_quarantined() {
        for c in Category::ALL.into_iter().filter(|c| !c.may_go_out()) {
            let o = decide(&home(c), Some(Direction::Out), Some(36.5), monday_noon(), &p());
            assert_eq!(o.decision, Decision::Deny, "{c}");
            assert_eq!(o.reasons, vec![Reason::Quarantined], "{c}");
            // ...but always let back in
            let mut h = home(c);
            h.presence = Presence::Out { since: monday_noon() };
            let o = decide(&h, Some(Direction::In), Some(36.5), monday_noon(), &p());
            assert_eq!(o.decision, Decision::Allow, "{c}");
        }
    }

    #[test]
    fn no_temperature_each_way_as_configured() {
        let h = home(Category::Normal);
        let o = decide(&h, Some(Direction::Out), None, monday_noon(), &p());
        assert_eq!((o.decision, o.reasons), (Decision::Deny, vec![Reason::NoTemperature]));
        let mut out = h.clone();
        out.presence = Presence::Out { since: monday_noon() };
        let o = decide(&out, Some(Direction::In), None, monday_noon(), &p());
        assert_eq!((o.decision, o.reasons), (Decision::Deny, vec![Reason::NoTemperature]));

        let only_out =
            p().apply(&PolicyDoc { require_temperature: Some(RequireTemperature::Out), ..Default::default() }).unwrap();
        assert_eq!(decide(&out, Some(Direction::In), None, monday_noon(), &only_out).decision, Decision::Allow);
        assert_eq!(decide(&h, Some(Direction::Out), None, monday_noon(), &only_out).decision, Decision::Deny);
        let none = p()
            .apply(&PolicyDoc { require_temperature: Some(RequireTemperature::None), ..Default::default() })
            .unwrap();
        assert_eq!(decide(&h, Some(Direction::Out), None, monday_noon(), &none).decision, Decision::Allow);
        let only_in =
            p().apply(&PolicyDoc { require_temperature: Some(RequireTemperature::In), ..Default::default() }).unwrap();
        assert_eq!(decide(&h, Some(Direction::Out), None, monday_noon(), &only_in).decision, Decision::Allow);
        assert_eq!(decide(&out, Some(Direction::In), None, monday_noon(), &only_in).decision, Decision::Deny);
    }

    #[test]
    fn fever_line_is_inclusive() {
        let h = home(Category::Normal);
        assert_eq!(decide(&h, Some(Direction::Out), Some(37.2), monday_noon(), &p()).decision, Decision::Allow);
        let o = decide(&h, Some(Direction::Out), Some(37.3), monday_noon(), &p());
        assert_eq!((o.decision, o.reasons), (Decision::Deny, vec![Reason::Fever]));
        assert!(is_fever(Some(37.299_999_9), &p()));
    }

    #[test]
    fn fever_on_return_is_refer() {
        let mut h = home(Category::Normal);
        h.presence = Presence::Out { since: monday_noon() };
        let o = decide(&h, None, Some(38.1), monday_noon(), &p());
        assert_eq!(o.direction, Some(Direction::In));
        assert_eq!((o.decision, o.reasons), (Decision::Refer, vec![Reason::Fever]));
    }

    #[test]
    fn household_member_out_limit() {
        let mut h = home(Category::Normal);
        h.others_out = 1;
        let o = decide(&h, Some(Direction::Out), Some(36.5), monday_noon(), &p());
        assert_eq!(o.reasons, vec![Reason::HouseholdMemberOut]);
        let two = p().apply(&PolicyDoc { max_members_out: Some(2), ..Default::default() }).unwrap();
        assert_eq!(decide(&h, Some(Direction::Out), Some(36.5), monday_noon(), &two).decision, Decision::Allow);
    }

    #[test]
    fn one_per_three_days_monday_then_thursday() {
        let mut h = home(Category::Normal);
        // out Monday 08:00 and back: the household used its turn
        h.household_exits = vec![sh(2026, 11, 30, 8, 0)];
        for (d, want) in [(30, false), (1, false), (2, false), (3, true)] {
            let month = if d == 30 { 11 } else { 12 };
            let now = sh(2026, month, d, 7, 0);
            let o = decide(&h, Some(Direction::Out), Some(36.5), now, &p());
            assert_eq!(o.decision == Decision::Allow, want, "day {d}: {:?}", o.reasons);
            if !want {
                assert_eq!(o.reasons, vec![Reason::HouseholdQuota]);
            }
        }
    }

    #[test]
    fn period_uses_local_days_across_midnight() {
        // 23:30 Shanghai on Monday is 15:30 UTC Monday; 00:30 Shanghai on
        // Tuesday is 16:30 UTC Monday. Local days, not UTC days, count.
        let pol = p()
            .apply(&PolicyDoc { period_days: Some(1), hours: Some("00:00-24:00".into()), ..Default::default() })
            .unwrap();
        let mut h = home(Category::Normal);
        h.household_exits = vec![sh(2026, 11, 30, 23, 30)];
        let tuesday_early = sh(2026, 12, 1, 0, 30);
        assert_eq!(local_day(tuesday_early, &pol), NaiveDate::from_ymd_opt(2026, 12, 1).unwrap());
        assert_eq!(decide(&h, Some(Direction::Out), Some(36.5), tuesday_early, &pol).decision, Decision::Allow);
        let monday_late = sh(2026, 11, 30, 23, 59);
        assert_eq!(
            decide(&h, Some(Direction::Out), Some(36.5), monday_late, &pol).reasons,
            vec![Reason::HouseholdQuota]
        );
    }

    #[test]
    fn quota_of_two() {
        let pol = p().apply(&PolicyDoc { outings_per_period: Some(2), ..Default::default() }).unwrap();
        let mut h = home(Category::Normal);
        h.household_exits = vec![sh(2026, 11, 29, 9, 0)];
        assert_eq!(decide(&h, Some(Direction::Out), Some(36.5), monday_noon(), &pol).decision, Decision::Allow);
        h.household_exits.push(sh(2026, 11, 30, 9, 0));
        assert_eq!(
            decide(&h, Some(Direction::Out), Some(36.5), monday_noon(), &pol).reasons,
            vec![Reason::HouseholdQuota]
        );
    }

    #[test]
    fn outside_hours_local_time() {
        let h = home(Category::Normal);
        let o = decide(&h, Some(Direction::Out), Some(36.5), sh(2026, 11, 30, 5, 59), &p());
        assert_eq!(o.reasons, vec![Reason::OutsideHours]);
        let o = decide(&h, Some(Direction::Out), Some(36.5), sh(2026, 11, 30, 20, 0), &p());
        assert_eq!(o.reasons, vec![Reason::OutsideHours]);
        assert_eq!(
            decide(&h, Some(Direction::Out), Some(36.5), sh(2026, 11, 30, 6, 0), &p()).decision,
            Decision::Allow
        );
        // coming in at night is never refused
        let mut out = h.clone();
        out.presence = Presence::Out { since: sh(2026, 11, 30, 19, 0) };
        let o = decide(&out, None, Some(36.5), sh(2026, 11, 30, 21, 0), &p());
        assert_eq!(o.decision, Decision::Allow);
    }

    #[test]
    fn essential_worker_exempt_except_temperature() {
        let mut h = home(Category::Essential);
        h.others_out = 3;
        h.household_exits = vec![monday_noon() - chrono::Duration::hours(1)];
        let night = sh(2026, 11, 30, 23, 0);
        assert_eq!(decide(&h, Some(Direction::Out), Some(36.5), night, &p()).decision, Decision::Allow);
        let o = decide(&h, Some(Direction::Out), None, night, &p());
        assert_eq!(o.reasons, vec![Reason::NoTemperature]);
        let o = decide(&h, Some(Direction::Out), Some(37.8), night, &p());
        assert_eq!(o.reasons, vec![Reason::Fever]);
    }

    #[test]
    fn who_counts_as_out_and_whose_exits_count() {
        let today = NaiveDate::from_ymd_opt(2026, 12, 1).unwrap();
        assert!(counts_as_out(Category::Normal, None, today));
        assert!(!counts_as_out(Category::Essential, None, today));
        assert!(!counts_as_out(Category::Essential, Some(today), today));
        assert!(counts_as_out(Category::Essential, today.pred_opt(), today), "an ended category counts");
        assert!(exit_counts(Category::Normal));
        assert!(!exit_counts(Category::Essential));
        let since = monday_noon();
        assert!(!is_overdue(since, since + chrono::Duration::minutes(i64::from(p().max_outing_minutes)), &p()));
        assert!(is_overdue(since, since + chrono::Duration::minutes(i64::from(p().max_outing_minutes) + 1), &p()));
    }

    #[test]
    fn anti_passback() {
        let mut h = home(Category::Normal);
        h.presence = Presence::Out { since: monday_noon() };
        let o = decide(&h, Some(Direction::Out), Some(36.5), monday_noon(), &p());
        assert_eq!(o.reasons, vec![Reason::AlreadyOut]);
        let off = p().apply(&PolicyDoc { anti_passback: Some(false), ..Default::default() }).unwrap();
        assert_eq!(decide(&h, Some(Direction::Out), Some(36.5), monday_noon(), &off).decision, Decision::Allow);
    }

    #[test]
    fn all_reasons_listed_together() {
        let mut h = home(Category::HomeQuarantine);
        h.others_out = 1;
        h.household_exits = vec![monday_noon()];
        h.presence = Presence::Out { since: monday_noon() };
        let o = decide(&h, Some(Direction::Out), Some(38.0), sh(2026, 11, 30, 22, 0), &p());
        assert_eq!(
            o.reasons,
            vec![
                Reason::Quarantined,
                Reason::Fever,
                Reason::HouseholdMemberOut,
                Reason::HouseholdQuota,
                Reason::OutsideHours,
                Reason::AlreadyOut
            ]
        );
    }

    #[test]
    fn overdue_and_no_exit_warnings() {
        let mut h = home(Category::Normal);
        h.presence = Presence::Out { since: monday_noon() - chrono::Duration::minutes(180) };
        assert!(decide(&h, None, Some(36.5), monday_noon(), &p()).warnings.is_empty());
        h.presence = Presence::Out { since: monday_noon() - chrono::Duration::minutes(181) };
        let o = decide(&h, None, Some(36.5), monday_noon(), &p());
        assert_eq!((o.decision, o.warnings), (Decision::Allow, vec![Warning::Overdue]));
        let o = decide(&home(Category::Normal), Some(Direction::In), Some(36.5), monday_noon(), &p());
        assert_eq!((o.decision, o.warnings), (Decision::Allow, vec![Warning::NoExitRecorded]));
    }

    #[test]
    fn validity_reasons() {
        let c = PassClaims {
            kind: PassKind::Resident,
            community: 1,
            key_id: 1,
            pass_id: crate::domain::PassId(1),
            resident_id: crate::domain::ResidentId(1),
            household_id: crate::domain::HouseholdId(1),
            valid_from: NaiveDate::from_ymd_opt(2026, 12, 1).unwrap(),
            valid_until: NaiveDate::from_ymd_opt(2026, 12, 30).unwrap(),
        };
        let ok = Some(PassRecord { revoked: false });
        let d = |m, d| NaiveDate::from_ymd_opt(2026, m, d).unwrap();
        assert_eq!(pass_status(&c, None, d(12, 5)), Err(Reason::UnknownPass));
        assert_eq!(pass_status(&c, Some(PassRecord { revoked: true }), d(12, 5)), Err(Reason::Revoked));
        assert_eq!(pass_status(&c, ok, d(11, 30)), Err(Reason::NotYetValid));
        assert_eq!(pass_status(&c, ok, d(12, 1)), Ok(()));
        assert_eq!(pass_status(&c, ok, d(12, 30)), Ok(()));
        assert_eq!(pass_status(&c, ok, d(12, 31)), Err(Reason::Expired));
    }

    #[test]
    fn refused_keeps_fever() {
        let o = Outcome::refused(Reason::InvalidPass, None, Some(39.0), &p());
        assert_eq!(o.reasons, vec![Reason::InvalidPass, Reason::Fever]);
        assert_eq!(o.decision, Decision::Deny);
    }

    #[test]
    fn zero_limits_mean_unlimited() {
        let pol = p()
            .apply(&PolicyDoc { max_members_out: Some(0), outings_per_period: Some(0), ..Default::default() })
            .unwrap();
        let mut h = home(Category::Normal);
        h.others_out = 5;
        h.household_exits = vec![monday_noon(); 5];
        assert_eq!(decide(&h, Some(Direction::Out), Some(36.5), monday_noon(), &pol).decision, Decision::Allow);
    }
}
