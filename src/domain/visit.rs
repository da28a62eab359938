//! Everyone at the gate who is not a resident scanning a card: outsiders,
//! vehicles, deliveries, urgent outings, forgotten cards. The checks of what
//! a guard types (plates, phones, times) and the search by pinyin initials
//! live here; pure, `now` passed in.

use super::policy::Policy;
use super::rules::{is_fever, Decision, Direction, Outcome, Reason};
use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Utc};
use serde::Serialize;
use sha2::{Digest, Sha256};

/// What came to the gate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum VisitKind {
    Visitor,
    Vehicle,
    Delivery,
}

impl VisitKind {
    pub fn as_str(self) -> &'static str {
        match self {
            VisitKind::Visitor => "visitor",
            VisitKind::Vehicle => "vehicle",
            VisitKind::Delivery => "delivery",
        }
    }
}

impl std::str::FromStr for VisitKind {
    type Err = VisitError;
    fn from_str(s: &str) -> Result<Self, VisitError> {
        match s.trim() {
            "visitor" => Ok(VisitKind::Visitor),
            "vehicle" => Ok(VisitKind::Vehicle),
            "delivery" => Ok(VisitKind::Delivery),
            other => Err(VisitError::BadKind(other.chars().take(40).collect())),
        }
    }
}

/// Why a vehicle came (Harbin notice no. 59's list).
pub const PURPOSES: &[&str] = &["supply", "medical", "garbage", "emergency", "resident"];

/// Input a guard or committee member must correct; nothing is recorded.
/// `code()` is the API's error code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VisitError {
    #[error("kind '{0}' must be visitor, vehicle or delivery")]
    BadKind(String),
    #[error("plate '{0}' is not a mainland plate: a province character, a letter, then 5 letters or digits (京A12345), or 6 for a new-energy plate (京AD12345)")]
    BadPlate(String),
    #[error("phone '{0}' is not a phone number: 11 digits starting 1 (13800138000), or a landline starting 0 (010-12345678)")]
    BadPhone(String),
    #[error("{0}")]
    BadTime(String),
    #[error("purpose '{0}' must be one of supply, medical, garbage, emergency, resident")]
    BadPurpose(String),
    #[error("a vehicle needs its plate (--plate / \"plate\")")]
    PlateRequired,
    #[error("a delivery needs the household it is for (--host / \"host\")")]
    HostRequired,
    #[error("give the reason (--reason / \"reason\"), e.g. 就医")]
    ReasonRequired,
    #[error("give the destination (--destination / \"destination\"), e.g. 县医院")]
    DestinationRequired,
    #[error("give the name (--name / \"name\")")]
    NameRequired,
    #[error("this resident is kept in ({0}): an urgent outing needs a named approver (--approved-by / \"approved_by\": a committee member or the medical team)")]
    ApprovalRequired(String),
    #[error("type part of a name, a household code or pinyin initials (q=wjg)")]
    EmptyQuery,
    #[error("{0} is too long (at most {1} characters)")]
    TooLong(&'static str, usize),
}

impl VisitError {
    pub fn code(&self) -> &'static str {
        match self {
            VisitError::BadKind(_) => "bad_kind",
            VisitError::BadPlate(_) => "bad_plate",
            VisitError::BadPhone(_) => "bad_phone",
            VisitError::BadTime(_) => "bad_time",
            VisitError::BadPurpose(_) => "bad_purpose",
            VisitError::PlateRequired => "plate_required",
            VisitError::HostRequired => "host_required",
            VisitError::ReasonRequired => "reason_required",
            VisitError::DestinationRequired => "destination_required",
            VisitError::NameRequired => "name_required",
            VisitError::ApprovalRequired(_) => "approval_required",
            VisitError::EmptyQuery => "empty_query",
            VisitError::TooLong(..) => "too_long",
        }
    }
}

/// Province abbreviations of mainland plates (and 使/领 are not provinces).
const PROVINCES: &str = "京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼";
/// A last character some 7-character plates carry instead of a digit.
const SUFFIXES: &str = "挂学警港澳领使";

/// A plate as typed (spaces, dots and dashes dropped, letters upper-cased)
/// checked against the mainland format: province character, issuing-office
/// letter, then 5 letters/digits (7 characters), or 6 for a new-energy plate
/// (8 characters). I and O are not used on plates (they read as 1 and 0).
pub fn normalize_plate(input: &str) -> Result<String, VisitError> {
    let plate: String = input
        .chars()
        .filter(|c| !c.is_whitespace() && !matches!(c, '·' | '•' | '.' | '-'))
        .map(|c| c.to_ascii_uppercase())
        .collect();
    let bad = || VisitError::BadPlate(input.trim().chars().take(20).collect());
    let chars: Vec<char> = plate.chars().collect();
    if chars.len() != 7 && chars.len() != 8 {
        return Err(bad());
    }
    let (first, rest) = chars.split_first().ok_or_else(bad)?;
    if !PROVINCES.contains(*first) {
        return Err(bad());
    }
    let (office, serial) = rest.split_first().ok_or_else(bad)?;
    if !office.is_ascii_uppercase() {
        return Err(bad());
    }
    let plain = |c: &char| (c.is_ascii_uppercase() || c.is_ascii_digit()) && *c != 'I' && *c != 'O';
    let ok = match serial.split_last() {
        // 7 characters: 5 letters/digits, the last may be 挂 学 警 港 澳
        Some((last, body)) if serial.len() == 5 => body.iter().all(plain) && (plain(last) || SUFFIXES.contains(*last)),
        // new energy: D/F (small cars) first or last, digits elsewhere; any
        // mix of letters and digits is accepted, the length says new energy
        Some(_) if serial.len() == 6 => serial.iter().all(plain),
        _ => false,
    };
    if ok {
        Ok(plate)
    } else {
        Err(bad())
    }
}

/// A phone as typed (spaces and dashes dropped, a +86 dropped): an 11-digit
/// mobile number `1[3-9]…` or a landline with its area code `0…` (10–12
/// digits).
pub fn normalize_phone(input: &str) -> Result<String, VisitError> {
    let mut digits: String = input.chars().filter(|c| !c.is_whitespace() && *c != '-').collect();
    if let Some(rest) = digits.strip_prefix("+86") {
        digits = rest.to_string();
    }
    let bad = || VisitError::BadPhone(input.trim().chars().take(20).collect());
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let b = digits.as_bytes();
    let mobile = b.len() == 11 && b.first() == Some(&b'1') && b.get(1).is_some_and(|d| (b'3'..=b'9').contains(d));
    let landline = (10..=12).contains(&b.len()) && b.first() == Some(&b'0') && b.get(1) != Some(&b'0');
    if mobile || landline {
        Ok(digits)
    } else {
        Err(bad())
    }
}

/// A phone for the guard to compare without showing it whole: 138****8000.
pub fn mask_phone(phone: &str) -> String {
    let chars: Vec<char> = phone.chars().filter(|c| !c.is_whitespace()).collect();
    if chars.len() < 7 {
        return "*".repeat(chars.len());
    }
    let head: String = chars.iter().take(3).collect();
    let tail: String = chars.iter().skip(chars.len() - 4).collect();
    format!("{head}****{tail}")
}

/// A local date and time as a committee member types it
/// (`2026-11-30T08:00`, `2026-11-30 08:00`, a date alone = its start, or
/// RFC 3339 with an offset).
pub fn parse_local_datetime(s: &str, tz: chrono_tz::Tz, what: &str) -> Result<DateTime<Utc>, VisitError> {
    let t = s.trim();
    let bad = || {
        VisitError::BadTime(format!(
            "{what} '{}' must be a date and time: YYYY-MM-DDTHH:MM (local time) or RFC 3339",
            t.chars().take(40).collect::<String>()
        ))
    };
    if let Ok(d) = DateTime::parse_from_rfc3339(t) {
        return Ok(d.with_timezone(&Utc));
    }
    let naive = ["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S"]
        .iter()
        .find_map(|f| NaiveDateTime::parse_from_str(t, f).ok())
        .or_else(|| NaiveDate::parse_from_str(t, "%Y-%m-%d").ok().and_then(|d| d.and_hms_opt(0, 0, 0)))
        .ok_or_else(bad)?;
    tz.from_local_datetime(&naive).earliest().map(|d| d.with_timezone(&Utc)).ok_or_else(bad)
}

/// The next local `HH:MM` at or after `now` (an expected return of 01:00
/// typed at 23:00 is tomorrow's).
pub fn next_local_time(hhmm: &str, tz: chrono_tz::Tz, now: DateTime<Utc>) -> Result<DateTime<Utc>, VisitError> {
    let t = hhmm.trim();
    let time = NaiveTime::parse_from_str(t, "%H:%M").map_err(|_| {
        VisitError::BadTime(format!(
            "expected return '{}' must be a local time HH:MM (e.g. 14:30)",
            t.chars().take(20).collect::<String>()
        ))
    })?;
    let local = now.with_timezone(&tz);
    for add in 0..3 {
        let day = local.date_naive() + chrono::Days::new(add);
        if let Some(at) = tz.from_local_datetime(&day.and_time(time)).earliest() {
            let at = at.with_timezone(&Utc);
            if at >= now {
                return Ok(at);
            }
        }
    }
    Err(VisitError::BadTime(format!("expected return '{t}' does not exist in the local time zone")))
}

/// Free text a guard types: trimmed, empty is none, bounded.
pub fn text_field(v: Option<&str>, what: &'static str, max: usize) -> Result<Option<String>, VisitError> {
    match v.map(str::trim).filter(|s| !s.is_empty()) {
        None => Ok(None),
        Some(s) if s.chars().count() > max => Err(VisitError::TooLong(what, max)),
        Some(s) if s.chars().any(char::is_control) => Err(VisitError::TooLong(what, max)),
        Some(s) => Ok(Some(s.to_string())),
    }
}

/// The digest that goes into the signed event for details kept at the gate:
/// SHA-256 over a random salt and the details' JSON, so the district can
/// neither read nor guess (a phone has few digits) what it covers, and the
/// gate's table cannot be changed without breaking it.
pub fn detail_digest(salt_hex: &str, details: &serde_json::Value) -> String {
    let mut h = Sha256::new();
    h.update(b"gatepass-visit-v1\n");
    h.update(salt_hex.as_bytes());
    h.update(b"\n");
    h.update(details.to_string().as_bytes());
    hex::encode(h.finalize())
}

/// The first letter of each character's pinyin (non-Chinese characters
/// kept as they are, lower-cased): 王建国 → "wjg".
pub fn pinyin_initials(name: &str) -> String {
    use pinyin::ToPinyin;
    name.chars()
        .map(|c| match c.to_pinyin() {
            Some(p) => p.first_letter().chars().next().unwrap_or(c),
            None => c.to_ascii_lowercase(),
        })
        .collect()
}

/// Whether a resident matches what the guard typed: part of the name, the
/// household code's start, or the start of the name's pinyin initials.
pub fn matches_query(q: &str, name: &str, household: &str) -> bool {
    let q = q.trim();
    if q.is_empty() {
        return false;
    }
    if name.contains(q) || household.starts_with(q) {
        return true;
    }
    let lower = q.to_ascii_lowercase();
    lower.chars().all(|c| c.is_ascii_alphabetic()) && pinyin_initials(name).starts_with(&lower)
}

/// A visitor pass as the gate's database holds it at a scan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VisitorPassState {
    pub revoked: bool,
    pub valid_from_ms: i64,
    pub valid_until_ms: i64,
    pub uses: u32,
    pub used: u32,
    pub inside: bool,
}

/// Decides a visitor pass shown at the gate. Coming in: inside its window,
/// a use left, a temperature taken and no fever (a fever is held for the
/// medical team, `refer`). Going out is always allowed: nobody is kept in
/// who does not live here.
pub fn decide_visitor_pass(
    st: &VisitorPassState,
    requested: Option<Direction>,
    temperature: Option<f64>,
    at: DateTime<Utc>,
    policy: &Policy,
) -> Outcome {
    let direction = requested.unwrap_or(if st.inside { Direction::Out } else { Direction::In });
    if direction == Direction::Out {
        return Outcome { decision: Decision::Allow, direction: Some(direction), reasons: vec![], warnings: vec![] };
    }
    let at_ms = at.timestamp_millis();
    let mut reasons = Vec::new();
    if st.revoked {
        reasons.push(Reason::Revoked);
    } else if at_ms < st.valid_from_ms {
        reasons.push(Reason::NotYetValid);
    } else if at_ms > st.valid_until_ms {
        reasons.push(Reason::Expired);
    } else if st.used >= st.uses {
        reasons.push(Reason::PassUsed);
    }
    if policy.require_temperature.on_entry() && temperature.is_none() {
        reasons.push(Reason::NoTemperature);
    }
    let fever = is_fever(temperature, policy);
    let decision = if !reasons.is_empty() {
        if fever {
            reasons.push(Reason::Fever);
        }
        Decision::Deny
    } else if fever {
        reasons.push(Reason::Fever);
        Decision::Refer
    } else {
        Decision::Allow
    };
    Outcome { decision, direction: Some(direction), reasons, warnings: vec![] }
}

/// Decides an arrival without an approval: turned back (`not_approved`),
/// except an emergency vehicle (let in, recorded) and a delivery (a
/// hand-off at the gate: no crossing, `allow` with no direction).
pub fn decide_unapproved(
    kind: VisitKind,
    purpose: Option<&str>,
    requested: Option<Direction>,
    temperature: Option<f64>,
    policy: &Policy,
) -> Outcome {
    let fever = is_fever(temperature, policy);
    match kind {
        VisitKind::Delivery => {
            Outcome { decision: Decision::Allow, direction: None, reasons: vec![], warnings: vec![] }
        }
        VisitKind::Vehicle if purpose == Some("emergency") => Outcome {
            decision: Decision::Allow,
            direction: Some(requested.unwrap_or(Direction::In)),
            reasons: vec![],
            warnings: vec![],
        },
        _ => {
            let direction = requested.unwrap_or(Direction::In);
            if direction == Direction::Out {
                // an outsider leaving is never held
                return Outcome {
                    decision: Decision::Allow,
                    direction: Some(direction),
                    reasons: vec![],
                    warnings: vec![],
                };
            }
            let mut reasons = vec![Reason::NotApproved];
            if fever {
                reasons.push(Reason::Fever);
            }
            Outcome { decision: Decision::Deny, direction: Some(direction), reasons, warnings: vec![] }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mainland_plates() {
        for (typed, want) in [
            ("京A12345", "京A12345"),
            ("京a 12345", "京A12345"),
            ("粤B·D12345", "粤BD12345"),
            ("沪AF12345", "沪AF12345"),
            ("苏E1234学", "苏E1234学"),
            ("川A-3X5Z9", "川A3X5Z9"),
        ] {
            assert_eq!(normalize_plate(typed).as_deref(), Ok(want), "{typed}");
        }
        for bad in [
            "",
            "京A1234",
            "京A123456789",
            "AA12345",
            "京112345",
            "X京12345",
            "京A1234I",
            "京AO2345",
            "京A12 34$",
            "京A🙂2345",
        ] {
            assert_eq!(normalize_plate(bad).map_err(|e| e.code()), Err("bad_plate"), "{bad}");
        }
    }

    #[test]
    fn phones() {
        assert_eq!(normalize_phone("138 0013 8000").as_deref(), Ok("13800138000"));
        assert_eq!(normalize_phone("+86 13800138000").as_deref(), Ok("13800138000"));
        assert_eq!(normalize_phone("010-12345678").as_deref(), Ok("01012345678"));
        for bad in ["", "1380013800", "12800138000", "abc", "00012345678", "1380013800012"] {
            assert_eq!(normalize_phone(bad).map_err(|e| e.code()), Err("bad_phone"), "{bad}");
        }
        assert_eq!(mask_phone("13800138000"), "138****8000");
        assert_eq!(mask_phone("123"), "***");
    }

    #[test]
    fn pinyin_initials_find_names() {
        assert_eq!(pinyin_initials("王建国"), "wjg");
        assert!(matches_query("wjg", "王建国", "1-101"));
        assert!(matches_query("WJ", "王建国", "1-101"));
        assert!(matches_query("建国", "王建国", "1-101"));
        assert!(matches_query("1-1", "王建国", "1-101"));
        assert!(!matches_query("lm", "王建国", "1-101"));
        assert!(!matches_query("", "王建国", "1-101"));
        assert!(!matches_query("  ", "王建国", "1-101"));
    }

    #[test]
    fn times() {
        let tz = chrono_tz::Asia::Shanghai;
        let t = parse_local_datetime("2026-11-30T08:00", tz, "from").unwrap();
        assert_eq!(t.to_rfc3339(), "2026-11-30T00:00:00+00:00");
        assert_eq!(parse_local_datetime("2026-11-30 08:00", tz, "from").unwrap(), t);
        assert_eq!(
            parse_local_datetime("2026-11-30T00:00:00Z", tz, "from").unwrap().to_rfc3339(),
            "2026-11-30T00:00:00+00:00"
        );
        assert_eq!(parse_local_datetime("30/11/2026", tz, "from").map_err(|e| e.code()), Err("bad_time"));
        // 23:00 local now, back at 01:00 means tomorrow
        let now = parse_local_datetime("2026-11-30T23:00", tz, "now").unwrap();
        let back = next_local_time("01:00", tz, now).unwrap();
        assert_eq!(back, parse_local_datetime("2026-12-01T01:00", tz, "x").unwrap());
        assert_eq!(
            next_local_time("23:30", tz, now).unwrap(),
            parse_local_datetime("2026-11-30T23:30", tz, "x").unwrap()
        );
        assert_eq!(next_local_time("25:00", tz, now).map_err(|e| e.code()), Err("bad_time"));
    }

    #[test]
    fn visitor_pass_window_and_uses() {
        let p = Policy::default();
        let at = parse_local_datetime("2026-11-30T10:00", chrono_tz::Asia::Shanghai, "x").unwrap();
        let ms = at.timestamp_millis();
        let st = VisitorPassState {
            revoked: false,
            valid_from_ms: ms - 1000,
            valid_until_ms: ms + 1000,
            uses: 1,
            used: 0,
            inside: false,
        };
        let o = decide_visitor_pass(&st, None, Some(36.5), at, &p);
        assert_eq!((o.decision, o.direction), (Decision::Allow, Some(Direction::In)));
        let used = VisitorPassState { used: 1, ..st };
        assert_eq!(decide_visitor_pass(&used, None, Some(36.5), at, &p).reasons, vec![Reason::PassUsed]);
        let early = VisitorPassState { valid_from_ms: ms + 1, ..st };
        assert_eq!(decide_visitor_pass(&early, None, Some(36.5), at, &p).reasons, vec![Reason::NotYetValid]);
        let late = VisitorPassState { valid_until_ms: ms - 1, ..st };
        assert_eq!(decide_visitor_pass(&late, None, Some(36.5), at, &p).reasons, vec![Reason::Expired]);
        // leaving is never refused, even used up and late
        let inside = VisitorPassState { inside: true, used: 1, valid_until_ms: ms - 1, ..st };
        let o = decide_visitor_pass(&inside, None, None, at, &p);
        assert_eq!((o.decision, o.direction), (Decision::Allow, Some(Direction::Out)));
        assert_eq!(decide_visitor_pass(&st, None, Some(38.0), at, &p).decision, Decision::Refer);
        assert_eq!(decide_visitor_pass(&st, None, None, at, &p).reasons, vec![Reason::NoTemperature]);
    }

    #[test]
    fn unapproved_arrivals() {
        let p = Policy::default();
        let o = decide_unapproved(VisitKind::Visitor, None, None, Some(36.5), &p);
        assert_eq!((o.decision, o.reasons), (Decision::Deny, vec![Reason::NotApproved]));
        let o = decide_unapproved(VisitKind::Vehicle, Some("supply"), None, None, &p);
        assert_eq!(o.reasons, vec![Reason::NotApproved]);
        let o = decide_unapproved(VisitKind::Vehicle, Some("emergency"), None, None, &p);
        assert_eq!((o.decision, o.direction), (Decision::Allow, Some(Direction::In)));
        let o = decide_unapproved(VisitKind::Delivery, None, None, None, &p);
        assert_eq!((o.decision, o.direction), (Decision::Allow, None));
    }

    #[test]
    fn digest_depends_on_salt_and_details() {
        let d = serde_json::json!({"name": "张三", "phone": "13800138000"});
        let a = detail_digest("00", &d);
        assert_eq!(a.len(), 64);
        assert_ne!(a, detail_digest("01", &d));
        assert_ne!(a, detail_digest("00", &serde_json::json!({"name": "张三", "phone": "13800138001"})));
    }
}
