//! `gatepass visit`, `gatepass visitor issue | list`, `gatepass exception`,
//! `gatepass parcel list | collect`: everyone at the gate who is not a
//! resident with a card (issue 11).

use super::print_json;
use super::scan::{describe, parse_temperature};
use crate::domain::rules::Direction;
use crate::domain::visit;
use crate::gate::{
    ExceptionInfo, Gate, ScanExtra, ScanOutcome, ScanRequest, VisitInfo, VisitInput, VisitorPassRequest,
};
use chrono::{DateTime, Utc};
use clap::{Args, Subcommand};
use std::path::{Path, PathBuf};

#[derive(Debug, Args)]
pub struct VisitArgs {
    /// visitor, vehicle or delivery.
    #[arg(long)]
    pub kind: String,
    #[arg(long)]
    pub name: Option<String>,
    #[arg(long)]
    pub phone: Option<String>,
    /// A mainland plate: 京A12345 (8 characters for new-energy plates).
    #[arg(long)]
    pub plate: Option<String>,
    /// Where from (a delivery: the courier's company).
    #[arg(long)]
    pub from: Option<String>,
    #[arg(long)]
    pub reason: Option<String>,
    /// The household visited (a delivery: the household it is for).
    #[arg(long)]
    pub host: Option<String>,
    /// supply, medical, garbage, emergency or resident.
    #[arg(long)]
    pub purpose: Option<String>,
    /// A visitor pass shown (its GP1: text).
    #[arg(long)]
    pub code: Option<String>,
    #[arg(long = "temp")]
    pub temp: Option<f64>,
    #[arg(long)]
    pub direction: Option<String>,
    /// Backfill: the arrival's real time (RFC 3339).
    #[arg(long)]
    pub at: Option<String>,
    /// Who is on duty (default "cli").
    #[arg(long)]
    pub operator: Option<String>,
}

#[derive(Debug, Args)]
pub struct ExceptionArgs {
    #[arg(long)]
    pub household: String,
    #[arg(long)]
    pub name: String,
    /// Why (就医, 急救…): required.
    #[arg(long)]
    pub reason: String,
    #[arg(long)]
    pub destination: String,
    /// Local time HH:MM the resident is expected back.
    #[arg(long)]
    pub expected_return: String,
    /// A committee member or the medical team: required for a kept-in resident.
    #[arg(long)]
    pub approved_by: Option<String>,
    #[arg(long = "temp")]
    pub temp: Option<f64>,
    /// Backfill: the outing's real time (RFC 3339).
    #[arg(long)]
    pub at: Option<String>,
    #[arg(long)]
    pub operator: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum VisitorCmd {
    /// (committee, first directory) sign an approval for an outsider or a vehicle.
    Issue {
        #[arg(long)]
        name: String,
        #[arg(long)]
        phone: String,
        #[arg(long)]
        host: String,
        #[arg(long)]
        plate: Option<String>,
        /// Local date and time (YYYY-MM-DDTHH:MM) or RFC 3339.
        #[arg(long)]
        from: String,
        #[arg(long)]
        until: String,
        /// Entries allowed (one entry and its exit each).
        #[arg(long, default_value_t = 1)]
        uses: u32,
        #[arg(long)]
        out: PathBuf,
    },
    /// The approvals, with uses left.
    List,
}

#[derive(Debug, Subcommand)]
pub enum ParcelCmd {
    /// Parcels waiting at the gate (--all: collected ones too).
    List {
        #[arg(long)]
        all: bool,
    },
    /// A parcel collected.
    Collect {
        id: u64,
        #[arg(long)]
        by: String,
    },
}

fn backfill(at: Option<&str>, now: DateTime<Utc>) -> anyhow::Result<Option<DateTime<Utc>>> {
    at.map(|s| crate::clock::backfill_time(s, now)).transpose().map_err(anyhow::Error::msg)
}

fn one(gate: &mut Gate, req: ScanRequest, now: DateTime<Utc>) -> anyhow::Result<ScanOutcome> {
    gate.scan_batch(&[req], now)?.into_iter().next().ok_or_else(|| anyhow::anyhow!("nothing was recorded"))
}

fn show(o: &ScanOutcome, json: bool) -> anyhow::Result<i32> {
    if json {
        print_json(o)?;
    } else {
        println!("{}", describe(o));
    }
    Ok(super::exit::OK)
}

/// A guard's error: the message, nothing recorded.
fn refuse(e: visit::VisitError) -> anyhow::Error {
    anyhow::anyhow!("{e} ({}); nothing was recorded", e.code())
}

pub fn visit(dir: &Path, a: VisitArgs, json: bool) -> anyhow::Result<i32> {
    let input = VisitInput {
        kind: a.kind,
        name: a.name,
        phone: a.phone,
        plate: a.plate,
        from: a.from,
        reason: a.reason,
        host: a.host,
        purpose: a.purpose,
        code: a.code,
    };
    let info = VisitInfo::check(&input).map_err(refuse)?;
    let direction = a.direction.as_deref().map(str::parse::<Direction>).transpose().map_err(anyhow::Error::msg)?;
    let temperature = a.temp.map(parse_temperature).transpose()?;
    let now = Utc::now();
    let backfill_at = backfill(a.at.as_deref(), now)?;
    let operator = Some(super::operator_name(a.operator.as_deref())?);
    let mut gate = Gate::open(dir)?;
    if let Some(h) = &info.record.host {
        if !gate.household_exists(h)? {
            anyhow::bail!("no household '{h}' in the register (see `gatepass household list`); nothing was recorded");
        }
    }
    let req = ScanRequest {
        payload: String::new(),
        direction,
        temperature,
        backfill_at,
        operator,
        extra: Some(ScanExtra::Visit(Box::new(info))),
    };
    let o = one(&mut gate, req, now)?;
    show(&o, json)
}

pub fn exception(dir: &Path, a: ExceptionArgs, json: bool) -> anyhow::Result<i32> {
    let reason = visit::text_field(Some(&a.reason), "reason", 200)
        .map_err(refuse)?
        .ok_or_else(|| refuse(visit::VisitError::ReasonRequired))?;
    let destination = visit::text_field(Some(&a.destination), "destination", 200)
        .map_err(refuse)?
        .ok_or_else(|| refuse(visit::VisitError::DestinationRequired))?;
    let approved_by = visit::text_field(a.approved_by.as_deref(), "approved_by", 40).map_err(refuse)?;
    let temperature = a.temp.map(parse_temperature).transpose()?;
    let now = Utc::now();
    let backfill_at = backfill(a.at.as_deref(), now)?;
    let operator = Some(super::operator_name(a.operator.as_deref())?);
    let mut gate = Gate::open(dir)?;
    let policy = gate.policy()?;
    let expected_return =
        visit::next_local_time(&a.expected_return, policy.timezone, backfill_at.unwrap_or(now)).map_err(refuse)?;
    let r = gate.find_resident(a.household.trim(), a.name.trim())?;
    let category = r.effective_category(crate::domain::rules::local_day(now, &policy));
    if !category.may_go_out() && approved_by.is_none() {
        return Err(refuse(visit::VisitError::ApprovalRequired(category.as_str().to_string())));
    }
    if gate.presence_out(r.id)? {
        anyhow::bail!("{} is already out: record the return first (already_out); nothing was recorded", r.name);
    }
    let info = ExceptionInfo { resident_id: r.id, reason, destination, expected_return, approved_by };
    let req = ScanRequest {
        payload: String::new(),
        direction: Some(Direction::Out),
        temperature,
        backfill_at,
        operator,
        extra: Some(ScanExtra::Exception(Box::new(info))),
    };
    let o = one(&mut gate, req, now)?;
    show(&o, json)
}

pub fn visitor(dir: &Path, cmd: VisitorCmd, json: bool) -> anyhow::Result<i32> {
    let mut gate = Gate::open(dir)?;
    let tz = gate.policy()?.timezone;
    let local = |ms: i64| {
        DateTime::from_timestamp_millis(ms)
            .map(|t| t.with_timezone(&tz).format("%Y-%m-%d %H:%M").to_string())
            .unwrap_or_default()
    };
    match cmd {
        VisitorCmd::Issue { name, phone, host, plate, from, until, uses, out } => {
            let req = VisitorPassRequest::check(
                Some(&name),
                Some(&phone),
                Some(&host),
                plate.as_deref(),
                Some(&from),
                Some(&until),
                Some(uses),
                tz,
            )
            .map_err(refuse)?;
            let row = gate.issue_visitor_pass(&req, "cli", Utc::now())?;
            // printed as a card like a resident's: the holder's name for the
            // guard to compare, the window and the uses
            let card = crate::store::PassRow {
                pass_id: row.pass_id,
                resident_id: crate::domain::ResidentId(0),
                key_id: row.key_id,
                valid_from: req.from.with_timezone(&tz).date_naive(),
                valid_until: req.until.with_timezone(&tz).date_naive(),
                payload: row.payload.clone(),
                issued_at: row.issued_at.clone(),
                revoked_at: None,
                revoke_reason: None,
                revoke_note: None,
                unreadable: vec![],
            };
            let holder = crate::store::ResidentView {
                id: crate::domain::ResidentId(0),
                name: format!("访客 {}", row.name),
                household: row.host.clone(),
                household_id: crate::domain::HouseholdId(0),
                address: format!(
                    "{} 至 {} · {} 次{}",
                    local(row.valid_from_ms),
                    local(row.valid_until_ms),
                    row.uses,
                    row.plate.as_deref().map(|p| format!(" · {p}")).unwrap_or_default()
                ),
                grid: String::new(),
                phone: None,
                category: crate::domain::Category::Normal,
                category_until: None,
                left: None,
                left_at: None,
                origin: None,
                arrived: None,
                monitor: None,
                category_since: None,
                unreadable: vec![],
            };
            // a visitor's card shows what the address line says (no building, no slot)
            let opts = crate::cards::SheetOptions { show_address: true, slots: vec![] };
            crate::cards::write_folder(&out, &gate.identity.community, &[(card, holder)], &opts)?;
            if json {
                print_json(&serde_json::json!({
                    "pass_id": row.pass_id, "payload": row.payload, "name": row.name, "host": row.host,
                    "plate": row.plate, "valid_from": local(row.valid_from_ms), "valid_until": local(row.valid_until_ms),
                    "uses": row.uses, "out": out,
                }))?;
            } else {
                println!(
                    "visitor pass {} for {} (household {}), {} to {}, {} use(s)",
                    row.pass_id,
                    row.name,
                    row.host,
                    local(row.valid_from_ms),
                    local(row.valid_until_ms),
                    row.uses
                );
                println!("card: {}", out.join("index.html").display());
            }
            Ok(super::exit::OK)
        }
        VisitorCmd::List => {
            let rows = gate.visitor_passes()?;
            if json {
                let list: Vec<_> = rows
                    .iter()
                    .map(|p| {
                        serde_json::json!({"pass_id": p.pass_id, "name": p.name, "host": p.host, "plate": p.plate,
                        "valid_from": local(p.valid_from_ms), "valid_until": local(p.valid_until_ms),
                        "uses": p.uses, "uses_left": p.uses.saturating_sub(p.used), "inside": p.inside_since_ms.is_some()})
                    })
                    .collect();
                print_json(&list)?;
            } else {
                for p in &rows {
                    println!(
                        "{}  {}  {}  {}..{}  {}/{} used{}",
                        p.pass_id,
                        p.name,
                        p.host,
                        local(p.valid_from_ms),
                        local(p.valid_until_ms),
                        p.used,
                        p.uses,
                        if p.inside_since_ms.is_some() { "  inside" } else { "" }
                    );
                }
            }
            Ok(super::exit::OK)
        }
    }
}

pub fn parcel(dir: &Path, cmd: ParcelCmd, json: bool) -> anyhow::Result<i32> {
    let mut gate = Gate::open(dir)?;
    match cmd {
        ParcelCmd::List { all } => {
            let rows = gate.parcels(!all)?;
            if json {
                print_json(&rows)?;
            } else {
                for p in &rows {
                    println!(
                        "{}  for {}  {}  {}{}",
                        p.id,
                        p.host.as_deref().unwrap_or("?"),
                        p.company.as_deref().unwrap_or(""),
                        p.courier.as_deref().unwrap_or(""),
                        match (&p.collected_by, &p.collected_at) {
                            (Some(b), Some(at)) => format!("  collected by {b} at {at}"),
                            _ => "  waiting".into(),
                        }
                    );
                }
            }
            Ok(super::exit::OK)
        }
        ParcelCmd::Collect { id, by } => {
            let by = visit::text_field(Some(&by), "by", 40)
                .map_err(refuse)?
                .ok_or_else(|| refuse(visit::VisitError::NameRequired))?;
            match gate.collect_parcel(id, &by, "cli", Utc::now())? {
                Ok(p) => {
                    if json {
                        print_json(&p)?;
                    } else {
                        println!("parcel {id} collected by {by}");
                    }
                    Ok(super::exit::OK)
                }
                Err(crate::store::CollectRefused::Unknown) => {
                    anyhow::bail!("no parcel {id} (see `gatepass parcel list`)")
                }
                Err(crate::store::CollectRefused::AlreadyCollected) => {
                    anyhow::bail!("parcel {id} was already collected (already_collected)")
                }
            }
        }
    }
}
