//! Daily figures per gate: the district's "数据直报". One local calendar day
//! (in `district.timezone`, Asia/Shanghai by default), counted from each
//! event's own time as the gate stamped it:
//!
//! - `exits`, `entries`: allowed crossings (decision `allow`) out and in;
//! - `denied`: refused exits (decision `deny`, direction `out`);
//! - `fever`: every event whose reading is at or over `district.fever_c`
//!   (37.3 °C by default) **or** which the gate refused or referred for
//!   `fever`: the gate's own fever line may differ from the district's, and
//!   either one seeing fever is worth counting. Each event counts once;
//! - `overdue`: events carrying the warning `overdue` (late returns).
//!
//! A fever on the way in is decision `refer` (held for the medical team), so
//! it is counted under `fever`, not `entries`. Quarantined events (a broken
//! chain) are never counted. Pulling or importing again changes nothing,
//! because events are stored once per (gate, seq).

use super::config::DistrictConfig;
use super::store::{DistrictStore, EventFacts};
use super::{DistrictError, Result};
use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use serde::Serialize;
use std::collections::BTreeMap;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    pub exits: u64,
    pub entries: u64,
    pub denied: u64,
    pub fever: u64,
    pub overdue: u64,
    /// Issue 11: outsiders on foot and vehicles (every arrival, let in or
    /// not), deliveries handed off, urgent outings, turned back.
    pub visitors: u64,
    pub vehicles: u64,
    pub deliveries: u64,
    pub urgent_outings: u64,
    pub turned_back: u64,
}

impl Counts {
    /// Adds one event's contribution.
    pub fn add(&mut self, e: &EventFacts, fever_c: f64) {
        let dir = e.direction.as_deref();
        // exits and entries are residents' crossings; an outsider's arrival
        // is counted apart, once, on the way in
        let outsider = matches!(e.kind.as_deref(), Some("visitor" | "vehicle" | "delivery"));
        match e.kind.as_deref() {
            Some("visitor") if dir != Some("out") => self.visitors += 1,
            Some("vehicle") if dir != Some("out") => self.vehicles += 1,
            Some("delivery") => self.deliveries += 1,
            Some("exception") => self.urgent_outings += 1,
            _ => {}
        }
        if e.not_approved {
            self.turned_back += 1;
        }
        match (e.decision.as_str(), dir) {
            _ if outsider => {}
            ("allow", Some("out")) => self.exits += 1,
            ("allow", Some("in")) => self.entries += 1,
            ("deny", Some("out")) => self.denied += 1,
            _ => {}
        }
        if e.fever_reason || e.temperature_c.is_some_and(|t| t >= fever_c) {
            self.fever += 1;
        }
        if e.overdue {
            self.overdue += 1;
        }
    }

    pub fn plus(&mut self, o: &Counts) {
        self.exits += o.exits;
        self.entries += o.entries;
        self.denied += o.denied;
        self.fever += o.fever;
        self.overdue += o.overdue;
        self.visitors += o.visitors;
        self.vehicles += o.vehicles;
        self.deliveries += o.deliveries;
        self.urgent_outings += o.urgent_outings;
        self.turned_back += o.turned_back;
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GateDay {
    pub gate: String,
    pub community: String,
    #[serde(flatten)]
    pub counts: Counts,
    /// Refused crossings (decision `deny`, either way) by the gate's
    /// reason; an event with two reasons counts under each (issue 13).
    pub refusals: BTreeMap<String, u64>,
    /// Different residents with a fever reading or a `fever` refusal here.
    pub fever_people: u64,
}

/// The issue-13 figures of one gate's day, besides the counts.
#[derive(Default)]
struct Extra {
    refusals: BTreeMap<String, u64>,
    fever: std::collections::BTreeSet<u32>,
}

impl Extra {
    fn add(&mut self, e: &EventFacts, fever_c: f64) {
        if e.decision == "deny" {
            // (a gate's reason codes are short words; bounded all the same)
            for r in e.reasons.iter().take(16) {
                *self.refusals.entry(r.chars().take(40).collect()).or_default() += 1;
            }
        }
        if e.fever_reason || e.temperature_c.is_some_and(|t| t >= fever_c) {
            if let Some(id) = e.resident_id {
                self.fever.insert(id.0);
            }
        }
    }
}

/// One community's day over all its gates (issue 10).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CommunityDay {
    pub community: String,
    /// Its gates registered at the district.
    pub gates: u64,
    #[serde(flatten)]
    pub counts: Counts,
    /// Different residents of the community with a fever, at any gate.
    pub fever_people: u64,
    /// Residents let out through two gates of the community with no entry
    /// between (each gate unaware of the other): the one conflict the
    /// district can see without the community's own rules.
    pub conflicts: u64,
}

/// `{"date": D, "gates": [...], "total": {...}}`, the shape in SPEC.md.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DailyReport {
    pub date: String,
    pub gates: Vec<GateDay>,
    /// The same figures added up per community (all its gates).
    pub communities: Vec<CommunityDay>,
    pub total: Counts,
    /// All gates' refusals by reason.
    pub refusals: BTreeMap<String, u64>,
    /// Different residents with a fever in the district (a resident seen at
    /// two gates of one community counts once).
    pub fever_people: u64,
}

/// `YYYY-MM-DD`, or `today` / `yesterday` in the district's time zone.
pub fn parse_date(s: &str, tz: chrono_tz::Tz, now: DateTime<Utc>) -> Result<NaiveDate> {
    let t = s.trim();
    let today = now.with_timezone(&tz).date_naive();
    match t {
        "today" => Ok(today),
        "yesterday" => today.pred_opt().ok_or_else(|| DistrictError::BadDate(s.into())),
        _ => NaiveDate::parse_from_str(t, "%Y-%m-%d").map_err(|_| DistrictError::BadDate(s.into())),
    }
}

/// The instant a local day starts, in ms. A zone whose clocks skip
/// midnight (DST) starts the day at the first local time that exists.
fn local_start_ms(date: NaiveDate, tz: chrono_tz::Tz) -> i64 {
    let midnight = date.and_hms_opt(0, 0, 0).unwrap_or_default();
    (0..=3)
        .find_map(|h| tz.from_local_datetime(&(midnight + chrono::Duration::hours(h))).earliest())
        .map(|t| t.timestamp_millis())
        .unwrap_or_else(|| midnight.and_utc().timestamp_millis())
}

/// `[start, end)` of a local calendar day, in ms since the epoch.
pub fn day_bounds(date: NaiveDate, tz: chrono_tz::Tz) -> (i64, i64) {
    let next = date.succ_opt().unwrap_or(date);
    (local_start_ms(date, tz), local_start_ms(next, tz))
}

/// The figures of one local day, one row per registered gate.
pub fn daily(store: &DistrictStore, cfg: &DistrictConfig, date: NaiveDate) -> Result<DailyReport> {
    let tz = cfg.timezone().unwrap_or(chrono_tz::Asia::Shanghai);
    let (from, to) = day_bounds(date, tz);
    let gates = store.gates()?;
    let mut per: BTreeMap<i64, Counts> = gates.iter().map(|g| (g.id, Counts::default())).collect();
    let mut extra: BTreeMap<i64, Extra> = BTreeMap::new();
    for e in store.facts_between(from, to)? {
        per.entry(e.gate_id).or_default().add(&e, cfg.district.fever_c);
        extra.entry(e.gate_id).or_default().add(&e, cfg.district.fever_c);
    }
    let mut total = Counts::default();
    let mut refusals: BTreeMap<String, u64> = BTreeMap::new();
    let mut fever_people: std::collections::BTreeSet<(&str, u32)> = Default::default();
    let rows: Vec<GateDay> = gates
        .iter()
        .map(|g| {
            let counts = per.get(&g.id).copied().unwrap_or_default();
            total.plus(&counts);
            let x = extra.remove(&g.id).unwrap_or_default();
            for (r, n) in &x.refusals {
                *refusals.entry(r.clone()).or_default() += n;
            }
            fever_people.extend(x.fever.iter().map(|id| (g.community.as_str(), *id)));
            GateDay {
                gate: g.name.clone(),
                community: g.community.clone(),
                counts,
                refusals: x.refusals,
                fever_people: x.fever.len() as u64,
            }
        })
        .collect();
    let communities = per_community(store, &gates, &rows, &fever_people, from, to)?;
    Ok(DailyReport {
        date: date.format("%Y-%m-%d").to_string(),
        gates: rows,
        communities,
        total,
        refusals,
        fever_people: fever_people.len() as u64,
    })
}

/// Each community's gates added up, and what two of its gates together let
/// through (`domain::community::conflicts`, as the gates find it): with
/// the limits its gates send (members out, outings in the period), else
/// only a resident let out through two gates with no entry between. A
/// conflict counts on the day of its second exit; the period before is
/// read so a pair across days is seen.
fn per_community(
    store: &DistrictStore,
    gates: &[super::store::GateRow],
    rows: &[GateDay],
    fever: &std::collections::BTreeSet<(&str, u32)>,
    from: i64,
    to: i64,
) -> Result<Vec<CommunityDay>> {
    let mut out: BTreeMap<String, CommunityDay> = BTreeMap::new();
    for r in rows {
        let c = out.entry(r.community.clone()).or_insert_with(|| CommunityDay {
            community: r.community.clone(),
            gates: 0,
            counts: Counts::default(),
            fever_people: 0,
            conflicts: 0,
        });
        c.gates += 1;
        c.counts.plus(&r.counts);
    }
    for (community, _) in fever.iter() {
        if let Some(c) = out.get_mut(*community) {
            c.fever_people += 1;
        }
    }
    let name_of: BTreeMap<i64, (&str, &str)> =
        gates.iter().map(|g| (g.id, (g.name.as_str(), g.community.as_str()))).collect();
    let limits: BTreeMap<String, crate::domain::Policy> =
        store.community_limits()?.into_iter().filter_map(|(c, l)| Some((c, l.policy()?))).collect();
    let back_days = limits.values().map(|p| i64::from(p.period_days)).max().unwrap_or(0) + 1;
    let mut households: BTreeMap<(&str, String), Vec<crate::domain::community::Crossed>> = BTreeMap::new();
    for e in store.facts_between(from.saturating_sub(back_days * 86_400_000), to)? {
        let (Some((gate, community)), Some(id), Some(h), "allow") =
            (name_of.get(&e.gate_id), e.resident_id, e.household.clone(), e.decision.as_str())
        else {
            continue;
        };
        let out = match e.direction.as_deref() {
            Some("out") => true,
            Some("in") => false,
            _ => continue,
        };
        households.entry((community, h)).or_default().push(crate::domain::community::Crossed {
            gate: (*gate).to_string(),
            seq: e.seq,
            at_ms: e.at_ms,
            resident: id.0,
            out,
            counted: e.kind.as_deref() != Some("exception") && !e.quota_exempt,
            essential: e.quota_exempt,
        });
    }
    let only_twice_out =
        crate::domain::Policy { max_members_out: 0, outings_per_period: 0, ..crate::domain::Policy::default() };
    for ((community, _), history) in households {
        let policy = limits.get(community).unwrap_or(&only_twice_out);
        let n = crate::domain::community::conflicts(&history, policy)
            .iter()
            .filter(|c| c.at_ms >= from && c.at_ms < to)
            .count();
        if let Some(c) = out.get_mut(community) {
            c.conflicts += n as u64;
        }
    }
    Ok(out.into_values().collect())
}

/// Daily totals over a range of days (for the chart over time).
pub fn series(
    store: &DistrictStore,
    cfg: &DistrictConfig,
    last: NaiveDate,
    days: u32,
) -> Result<Vec<(NaiveDate, Counts)>> {
    let mut out = Vec::new();
    for back in (0..days).rev() {
        let d = last - chrono::Duration::days(i64::from(back));
        out.push((d, daily(store, cfg, d)?.total));
    }
    Ok(out)
}

pub fn to_csv(r: &DailyReport) -> Result<String> {
    // gate and community names come from the gates: formula cells are
    // neutralised, and the BOM lets Excel read the Chinese (see csv_cell)
    let mut w = crate::csv_cell::writer();
    let err = |e: csv::Error| DistrictError::Usage(format!("cannot write CSV: {e}"));
    crate::csv_cell::write_row(
        &mut w,
        [
            "date",
            "gate",
            "community",
            "exits",
            "entries",
            "denied",
            "fever",
            "overdue",
            "visitors",
            "vehicles",
            "deliveries",
            "urgent_outings",
            "turned_back",
        ],
    )
    .map_err(err)?;
    let row = |gate: &str, community: &str, c: &Counts| {
        vec![
            r.date.clone(),
            gate.to_string(),
            community.to_string(),
            c.exits.to_string(),
            c.entries.to_string(),
            c.denied.to_string(),
            c.fever.to_string(),
            c.overdue.to_string(),
            c.visitors.to_string(),
            c.vehicles.to_string(),
            c.deliveries.to_string(),
            c.urgent_outings.to_string(),
            c.turned_back.to_string(),
        ]
    };
    // The same rows as the JSON `gates`; the total is theirs to add up
    // (a spreadsheet does it, and a "total" row would read as a gate).
    for g in &r.gates {
        crate::csv_cell::write_row(&mut w, row(&g.gate, &g.community, &g.counts)).map_err(err)?;
    }
    let bytes = w.into_inner().map_err(|e| DistrictError::Usage(format!("cannot write CSV: {e}")))?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// The day's figures as an Excel workbook (issue 13): sheet 每日数据 with
/// one row per gate (the CSV's columns, then fever_people and refusals),
/// sheet 拒绝原因 with one row per gate and reason. Names are written as
/// text cells, never formulas.
pub fn to_xlsx(r: &DailyReport) -> Result<Vec<u8>> {
    use rust_xlsxwriter::Workbook;
    let err = |e: rust_xlsxwriter::XlsxError| DistrictError::Usage(format!("cannot write the workbook: {e}"));
    let mut wb = Workbook::new();
    let ws = wb.add_worksheet();
    ws.set_name("每日数据").map_err(err)?;
    let head =
        ["date", "gate", "community", "exits", "entries", "denied", "fever", "overdue", "fever_people", "refusals"];
    for (c, h) in head.iter().enumerate() {
        ws.write_string(0, c as u16, *h).map_err(err)?;
    }
    for (i, g) in r.gates.iter().enumerate() {
        let row = (i + 1) as u32;
        ws.write_string(row, 0, &r.date).map_err(err)?;
        ws.write_string(row, 1, &g.gate).map_err(err)?;
        ws.write_string(row, 2, &g.community).map_err(err)?;
        let c = &g.counts;
        for (col, n) in
            [(3u16, c.exits), (4, c.entries), (5, c.denied), (6, c.fever), (7, c.overdue), (8, g.fever_people)]
        {
            ws.write_number(row, col, n as f64).map_err(err)?;
        }
        let reasons: Vec<String> = g.refusals.iter().map(|(k, n)| format!("{k}: {n}")).collect();
        ws.write_string(row, 9, reasons.join("; ")).map_err(err)?;
    }
    let ws = wb.add_worksheet();
    ws.set_name("拒绝原因").map_err(err)?;
    for (c, h) in ["date", "gate", "community", "reason", "count"].iter().enumerate() {
        ws.write_string(0, c as u16, *h).map_err(err)?;
    }
    let mut row = 1u32;
    for g in &r.gates {
        for (reason, n) in &g.refusals {
            ws.write_string(row, 0, &r.date).map_err(err)?;
            ws.write_string(row, 1, &g.gate).map_err(err)?;
            ws.write_string(row, 2, &g.community).map_err(err)?;
            ws.write_string(row, 3, reason).map_err(err)?;
            ws.write_number(row, 4, *n as f64).map_err(err)?;
            row += 1;
        }
    }
    wb.save_to_buffer().map_err(err)
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DataValue {
    pub data_element: String,
    pub period: String,
    pub org_unit: String,
    pub value: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DataValueSet {
    pub data_set: String,
    pub period: String,
    pub data_values: Vec<DataValue>,
}

/// The org unit code of a gate: `[org_units]` maps "community/gate" or
/// "gate"; an unmapped gate gets "community/gate" itself, which DHIS2
/// refuses as an unknown code rather than filing under another facility.
pub fn org_unit_of(cfg: &DistrictConfig, community: &str, gate: &str) -> (String, bool) {
    match cfg.org_unit(community, gate) {
        Some(ou) => (ou.to_string(), true),
        None => (format!("{community}/{gate}"), false),
    }
}

/// A DHIS2 `dataValueSets` document: one org unit per gate, period
/// `YYYYMMDD`, data element codes from `[dhis2]` (post it with
/// `idScheme=CODE`). Also returns the gates with no `[org_units]` entry,
/// for a warning.
pub fn to_dhis2(r: &DailyReport, cfg: &DistrictConfig) -> Result<(DataValueSet, Vec<String>)> {
    let period = r.date.replace('-', "");
    let d = &cfg.dhis2;
    let mut values = Vec::new();
    let mut unmapped = Vec::new();
    for g in &r.gates {
        let (ou, mapped) = org_unit_of(cfg, &g.community, &g.gate);
        if !mapped {
            unmapped.push(format!("{}/{}", g.community, g.gate));
        }
        let c = &g.counts;
        for (de, v) in [
            (&d.exits, c.exits),
            (&d.entries, c.entries),
            (&d.denied, c.denied),
            (&d.fever, c.fever),
            (&d.overdue, c.overdue),
        ] {
            values.push(DataValue {
                data_element: de.clone(),
                period: period.clone(),
                org_unit: ou.clone(),
                value: v.to_string(),
            });
        }
    }
    Ok((DataValueSet { data_set: d.data_set.clone(), period, data_values: values }, unmapped))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::district::store::Source;
    use crate::domain::chain::{seal, EventBody, ExportedEvent, GENESIS};
    use ed25519_dalek::SigningKey;

    fn body(
        seq: u64,
        at: &str,
        dir: &str,
        decision: &str,
        temp: f64,
        reasons: &[&str],
        warnings: &[&str],
    ) -> EventBody {
        EventBody {
            seq,
            at: at.into(),
            gate: "东门".into(),
            community: "阳光花园".into(),
            direction: Some(dir.into()),
            pass_id: Some(crate::domain::PassId(1)),
            resident_id: Some(crate::domain::ResidentId(10000000 + seq as u32)),
            household: Some("1-101".into()),
            temperature_c: Some(temp),
            temperature_raw_c: Some(temp),
            temperature_source: Some("manual".into()),
            decision: decision.into(),
            reasons: reasons.iter().map(|s| s.to_string()).collect(),
            warnings: warnings.iter().map(|s| s.to_string()).collect(),
            backfilled: false,
            clock_suspect: false,
            payload_digest: "00".into(),
            kind: None,
            operator: None,
            purpose: None,
            detail_digest: None,
        }
    }

    type Row<'a> = (&'a str, &'a str, &'a str, f64, &'a [&'a str], &'a [&'a str]);

    fn store_with(rows: &[Row<'_>]) -> DistrictStore {
        let key = SigningKey::from_bytes(&[7; 32]);
        let mut s = DistrictStore::open_in_memory().unwrap();
        let id =
            s.add_gate("东门", "阳光花园", &hex::encode(key.verifying_key().to_bytes()), None, None, "now").unwrap();
        let tx = s.begin().unwrap();
        let mut prev = GENESIS.to_string();
        for (i, (at, dir, dec, t, r, w)) in rows.iter().enumerate() {
            let ev = seal(body(i as u64 + 1, at, dir, dec, *t, r, w), &prev, &key);
            prev = ev.hash.clone();
            tx.insert_event(id, &ExportedEvent::new(ev, None), None, Source::Import).unwrap();
        }
        tx.commit().unwrap();
        s
    }

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn local_day_boundaries_in_shanghai() {
        // Shanghai is UTC+8: 2025-03-10 runs from 03-09T16:00Z to 03-10T16:00Z.
        let s = store_with(&[
            ("2025-03-09T15:59:59.999Z", "out", "allow", 36.5, &[], &[]),
            ("2025-03-09T16:00:00.000Z", "out", "allow", 36.5, &[], &[]),
            ("2025-03-10T15:59:59.999Z", "in", "allow", 36.6, &[], &["overdue"]),
            ("2025-03-10T16:00:00.000Z", "in", "allow", 36.6, &[], &[]),
        ]);
        let cfg = DistrictConfig::default();
        let r = daily(&s, &cfg, d("2025-03-10")).unwrap();
        assert_eq!(r.total, Counts { exits: 1, entries: 1, denied: 0, fever: 0, overdue: 1, ..Default::default() });
        assert_eq!(daily(&s, &cfg, d("2025-03-09")).unwrap().total.exits, 1);
        assert_eq!(daily(&s, &cfg, d("2025-03-11")).unwrap().total.entries, 1);
        // In UTC the same events fall on other days.
        let utc = DistrictConfig::parse("[district]\ntimezone = 'UTC'\n").unwrap();
        let r = daily(&s, &utc, d("2025-03-09")).unwrap();
        assert_eq!((r.total.exits, r.total.entries), (2, 0));
    }

    #[test]
    fn counting_rules() {
        let s = store_with(&[
            ("2025-03-10T01:00:00.000Z", "out", "allow", 36.5, &[], &[]),
            ("2025-03-10T01:01:00.000Z", "out", "deny", 37.3, &["fever"], &[]),
            ("2025-03-10T01:02:00.000Z", "out", "deny", 36.5, &["household_quota"], &[]),
            ("2025-03-10T01:03:00.000Z", "in", "refer", 38.0, &["fever"], &["no_exit_recorded"]),
            // gate's fever line was higher than the district's: still fever
            ("2025-03-10T01:04:00.000Z", "in", "allow", 37.4, &[], &["overdue"]),
            ("2025-03-10T01:05:00.000Z", "in", "deny", 37.29, &[], &[]),
        ]);
        let r = daily(&s, &DistrictConfig::default(), d("2025-03-10")).unwrap();
        assert_eq!(r.total, Counts { exits: 1, entries: 1, denied: 2, fever: 3, overdue: 1, ..Default::default() });
        assert_eq!(r.gates.len(), 1);
        assert_eq!(r.gates[0].counts, r.total);
        // refusals by reason (both ways), distinct people with a fever
        let want: BTreeMap<String, u64> = [("fever".to_string(), 1), ("household_quota".to_string(), 1)].into();
        assert_eq!((&r.gates[0].refusals, &r.refusals), (&want, &want));
        assert_eq!((r.gates[0].fever_people, r.fever_people), (3, 3));
        // a workbook comes out, and opens with both sheets
        let bytes = to_xlsx(&r).unwrap();
        let mut wb: calamine::Xlsx<_> = calamine::open_workbook_from_rs(std::io::Cursor::new(bytes)).unwrap();
        use calamine::Reader;
        assert_eq!(wb.sheet_names(), ["每日数据", "拒绝原因"]);
        let sheet = wb.worksheet_range("拒绝原因").unwrap();
        assert_eq!(sheet.height(), 3);
    }

    /// A district with 东门 and 西门 of 阳光花园 registered: (store, (id, key) each).
    fn two_gates() -> (DistrictStore, (i64, SigningKey), (i64, SigningKey)) {
        let s = DistrictStore::open_in_memory().unwrap();
        let (ke, kw) = (SigningKey::from_bytes(&[7; 32]), SigningKey::from_bytes(&[8; 32]));
        let east =
            s.add_gate("东门", "阳光花园", &hex::encode(ke.verifying_key().to_bytes()), None, None, "now").unwrap();
        let west =
            s.add_gate("西门", "阳光花园", &hex::encode(kw.verifying_key().to_bytes()), None, None, "now").unwrap();
        (s, (east, ke), (west, kw))
    }

    /// One resident let out through 东门 and then 西门 of the same
    /// community with no entry between: one conflict for the community,
    /// counted on the day of the second exit.
    #[test]
    fn a_community_adds_its_gates_and_counts_one_person_out_twice() {
        let (mut s, (east, ke), (west, kw)) = two_gates();
        let tx = s.begin().unwrap();
        for (id, key, gate, at) in [
            (east, &ke, "东门", "2025-03-09T15:50:00.000Z"), // 23:50 local, the day before
            (west, &kw, "西门", "2025-03-09T16:10:00.000Z"), // 00:10 local
        ] {
            let mut b = body(1, at, "out", "allow", 36.5, &[], &[]);
            b.gate = gate.into();
            b.resident_id = Some(crate::domain::ResidentId(42));
            let ev = seal(b, GENESIS, key);
            tx.insert_event(id, &ExportedEvent::new(ev, None), None, Source::Import).unwrap();
        }
        tx.commit().unwrap();
        let r = daily(&s, &DistrictConfig::default(), d("2025-03-10")).unwrap();
        assert_eq!(r.communities.len(), 1);
        let c = &r.communities[0];
        assert_eq!((c.gates, c.counts.exits, c.conflicts), (2, 1, 1), "{c:?}");
        // the day before sees one exit and no conflict yet
        let r = daily(&s, &DistrictConfig::default(), d("2025-03-09")).unwrap();
        assert_eq!((r.communities[0].counts.exits, r.communities[0].conflicts), (1, 0));
    }

    /// Two members of one household out through two gates that could not
    /// see each other: with the community's limits (as its gates send them)
    /// the district counts what the gates count; an essential worker on
    /// duty is not a member out.
    #[test]
    fn with_its_limits_a_community_counts_members_out_and_quota() {
        let (mut s, (east, ke), (west, kw)) = two_gates();
        let tx = s.begin().unwrap();
        let mut prev = [GENESIS.to_string(), GENESIS.to_string()];
        for (seq, id, key, gate, at, resident, warnings) in [
            (1, east, &ke, "东门", "2025-03-10T02:00:00.000Z", 42, &[][..]),
            (1, west, &kw, "西门", "2025-03-10T02:10:00.000Z", 43, &[][..]),
            // the nurse of the same household, on duty
            (2, west, &kw, "西门", "2025-03-10T02:20:00.000Z", 44, &["quota_exempt"][..]),
        ] {
            let mut b = body(seq, at, "out", "allow", 36.5, &[], warnings);
            b.gate = gate.into();
            b.household = Some("1-101".into());
            b.resident_id = Some(crate::domain::ResidentId(resident));
            let i = usize::from(gate == "西门");
            let ev = seal(b, &prev[i], key);
            prev[i] = ev.hash.clone();
            tx.insert_event(id, &ExportedEvent::new(ev, None), None, Source::Import).unwrap();
        }
        tx.commit().unwrap();
        // without limits: nobody went out twice, nothing to count
        let r = daily(&s, &DistrictConfig::default(), d("2025-03-10")).unwrap();
        assert_eq!(r.communities[0].conflicts, 0);
        // with the limits the gates send (one member out, one outing in three days)
        let limits = crate::domain::community::Limits::of(&crate::domain::Policy::default());
        s.set_gate_limits(west, &limits).unwrap();
        let r = daily(&s, &DistrictConfig::default(), d("2025-03-10")).unwrap();
        assert_eq!(r.communities[0].conflicts, 2, "members out and quota, not the nurse: {:?}", r.communities);
        // limits no gate could have are not used
        let odd = crate::domain::community::Limits { timezone: "Mars/Olympus".into(), ..limits };
        s.set_gate_limits(west, &odd).unwrap();
        assert!(s.community_limits().unwrap().values().all(|l| l.policy().is_none()));
        assert_eq!(daily(&s, &DistrictConfig::default(), d("2025-03-10")).unwrap().communities[0].conflicts, 0);
    }

    #[test]
    fn shapes() {
        let s = store_with(&[("2025-03-10T01:00:00.000Z", "out", "allow", 36.5, &[], &[])]);
        let mut cfg = DistrictConfig::default();
        let r = daily(&s, &cfg, d("2025-03-10")).unwrap();
        let j = serde_json::to_value(&r).unwrap();
        assert_eq!(
            j,
            serde_json::json!({"date": "2025-03-10", "gates": [{"gate": "东门", "community": "阳光花园", "exits": 1,
                "entries": 0, "denied": 0, "fever": 0, "overdue": 0, "visitors": 0, "vehicles": 0, "deliveries": 0,
                "urgent_outings": 0, "turned_back": 0, "refusals": {}, "fever_people": 0}],
                "communities": [{"community": "阳光花园", "gates": 1, "exits": 1, "entries": 0, "denied": 0, "fever": 0,
                "overdue": 0, "visitors": 0, "vehicles": 0, "deliveries": 0, "urgent_outings": 0, "turned_back": 0,
                "fever_people": 0, "conflicts": 0}],
                "total": {"exits": 1, "entries": 0, "denied": 0, "fever": 0, "overdue": 0, "visitors": 0, "vehicles": 0,
                "deliveries": 0, "urgent_outings": 0, "turned_back": 0},
                "refusals": {}, "fever_people": 0})
        );
        let csv = to_csv(&r).unwrap();
        assert_eq!(
            csv,
            "\u{feff}date,gate,community,exits,entries,denied,fever,overdue,visitors,vehicles,deliveries,urgent_outings,turned_back\n2025-03-10,东门,阳光花园,1,0,0,0,0,0,0,0,0,0\n"
        );
        // a gate chooses its own names: a formula one reaches the sheet as text
        let mut hostile = r.clone();
        hostile.gates[0].gate = "=HYPERLINK(\"http://evil.example\",\"x\")".into();
        hostile.gates[0].community = "@SUM(1+1)*cmd|' /C calc'!A0".into();
        let csv = to_csv(&hostile).unwrap();
        assert!(
            csv.ends_with(
                "\n2025-03-10,\"'=HYPERLINK(\"\"http://evil.example\"\",\"\"x\"\")\",'@SUM(1+1)*cmd|' /C calc'!A0,1,0,0,0,0,0,0,0,0,0\n"
            ),
            "{csv}"
        );
        let (doc, unmapped) = to_dhis2(&r, &cfg).unwrap();
        assert_eq!(unmapped, vec!["阳光花园/东门".to_string()]);
        assert_eq!(doc.data_values[0].org_unit, "阳光花园/东门");
        cfg.org_units.insert("东门".into(), "OU1".into());
        let (doc, unmapped) = to_dhis2(&r, &cfg).unwrap();
        assert!(unmapped.is_empty());
        let doc = serde_json::to_value(doc).unwrap();
        assert_eq!((doc["dataSet"].as_str(), doc["period"].as_str()), (Some("GATEPASS_DAILY"), Some("20250310")));
        assert_eq!(doc["dataValues"].as_array().unwrap().len(), 5);
        assert_eq!(
            doc["dataValues"][0],
            serde_json::json!({"period": "20250310", "orgUnit": "OU1", "dataElement": "GATEPASS_EXITS", "value": "1"})
        );
    }

    #[test]
    fn dates() {
        let now = "2025-03-10T17:00:00Z".parse::<DateTime<Utc>>().unwrap();
        let tz = chrono_tz::Asia::Shanghai;
        assert_eq!(parse_date("today", tz, now).unwrap(), d("2025-03-11"));
        assert_eq!(parse_date("yesterday", tz, now).unwrap(), d("2025-03-10"));
        assert!(matches!(parse_date("2025-02-30", tz, now), Err(DistrictError::BadDate(_))));
        assert!(parse_date("10/03/2025", tz, now).is_err());
        let (a, b) = day_bounds(d("2025-03-10"), tz);
        assert_eq!(b - a, 86_400_000);
    }
}
