//! `gatepass followup record | due` (issue 12): home-quarantine visits.

use super::print_json;
use crate::gate::{Gate, Visit};
use chrono::{DateTime, Utc};
use clap::Subcommand;
use std::path::Path;

#[derive(Debug, Subcommand)]
pub enum FollowupCmd {
    /// Record a visit to a resident kept home (temperature, symptoms, note).
    Record {
        #[arg(long)]
        household: String,
        #[arg(long)]
        name: String,
        /// Temperature measured, °C.
        #[arg(long)]
        temp: f64,
        #[arg(long, default_value = "")]
        symptoms: String,
        #[arg(long, default_value = "")]
        note: String,
        /// When the visit was made (RFC 3339), default now.
        #[arg(long)]
        at: Option<String>,
    },
    /// Visits due now and visits missed (`[followup] times`).
    Due,
}

pub fn run(dir: &Path, cmd: FollowupCmd, json: bool) -> anyhow::Result<i32> {
    let mut gate = Gate::open(dir)?;
    let now = Utc::now();
    match cmd {
        FollowupCmd::Record { household, name, temp, symptoms, note, at } => {
            let at = match at {
                Some(a) => Some(
                    DateTime::parse_from_rfc3339(a.trim())
                        .map_err(|_| anyhow::anyhow!("--at '{a}' must be a time such as 2026-12-01T08:05:00+08:00"))?
                        .with_timezone(&Utc),
                ),
                None => None,
            };
            let r = gate.find_resident(household.trim(), name.trim())?;
            let visit = Visit { resident: r.id, temperature_c: Some(temp), symptoms, note, at };
            let row = gate.record_followup(&visit, "cli", now)?;
            if json {
                print_json(&row)?;
            } else if row.fever {
                println!("recorded: {} ({}) {temp} °C — FEVER: an alert for the committee", row.name, row.household);
            } else {
                println!("recorded: {} ({}) {temp} °C", row.name, row.household);
            }
            Ok(super::exit::OK)
        }
        FollowupCmd::Due => {
            let people: Vec<_> = gate.home_status(now)?.into_iter().filter(|p| !p.due.is_empty()).collect();
            if json {
                print_json(&serde_json::json!({"due": people}))?;
            } else if people.is_empty() {
                println!("no visit is due or missed");
            } else {
                for p in &people {
                    for d in &p.due {
                        let state = match d.state {
                            crate::domain::followup::DueState::Missed => "MISSED",
                            crate::domain::followup::DueState::Due => "due",
                        };
                        println!(
                            "{state:6}  {}  {} ({}, grid {})  until {}  monitor {}",
                            d.due_at,
                            p.name,
                            p.household,
                            p.grid,
                            d.until,
                            p.monitor.as_deref().unwrap_or("-")
                        );
                    }
                }
            }
            Ok(super::exit::OK)
        }
    }
}

/// `gatepass events ledger`: the day's 出入台账.
pub fn ledger(
    dir: &Path,
    date: Option<&str>,
    xlsx: Option<std::path::PathBuf>,
    html: Option<std::path::PathBuf>,
    json: bool,
) -> anyhow::Result<i32> {
    let gate = Gate::open(dir)?;
    let tz = gate.policy()?.timezone;
    let day = match date {
        Some(d) => super::parse_date(d, "--date")?,
        None => Utc::now().with_timezone(&tz).date_naive(),
    };
    let l = gate.ledger(day)?;
    let write = |p: &Path, bytes: &[u8]| {
        std::fs::write(p, bytes).map_err(|e| anyhow::anyhow!("cannot write {}: {e}", p.display()))
    };
    if let Some(p) = &xlsx {
        write(p, &l.xlsx()?)?;
    }
    if let Some(p) = &html {
        write(p, l.html().as_bytes())?;
    }
    if json {
        print_json(&l)?;
    } else {
        println!(
            "{} 出入台账 {}: {} entries; chain head {} {}",
            l.community,
            l.date,
            l.rows.len(),
            l.head_seq,
            l.head_hash
        );
        for p in xlsx.iter().chain(html.iter()) {
            println!("written: {}", p.display());
        }
        if xlsx.is_none() && html.is_none() {
            for r in &l.rows {
                println!(
                    "{:>6}  {}  {}  {}  {}  {}  {}  {}  {}",
                    r.seq,
                    r.time,
                    r.direction,
                    r.name,
                    r.household,
                    r.temperature_c.map(|t| format!("{t:.1}")).unwrap_or_default(),
                    r.decision,
                    r.reasons,
                    r.operator
                );
            }
        }
    }
    Ok(super::exit::OK)
}
