//! `gatepass scan`: the gate's decision from the command line, recorded in
//! the same log. `--at` backfills a crossing from the paper register.

use super::print_json;
use crate::domain::rules::Direction;
use crate::gate::{Gate, ScanOutcome, ScanRequest, Temperature};
use chrono::Utc;
use clap::Args;
use std::path::Path;

#[derive(Debug, Args)]
pub struct ScanArgs {
    /// The QR text (GP1:...) or a typed pass number.
    #[arg(long)]
    pub payload: String,
    /// in or out (default: out if the person is in, in if out).
    #[arg(long)]
    pub direction: Option<String>,
    /// Temperature in °C, as read by the guard.
    #[arg(long = "temp")]
    pub temp: Option<f64>,
    /// Backfill: the crossing's real time (RFC 3339).
    #[arg(long)]
    pub at: Option<String>,
    /// Who is on duty (recorded in the event; default "cli").
    #[arg(long)]
    pub operator: Option<String>,
}

pub fn parse_temperature(t: f64) -> anyhow::Result<Temperature> {
    if !crate::domain::plausible_c(t) {
        anyhow::bail!("temperature {t} °C is not a body temperature (expected 30–45); measure again");
    }
    Ok(Temperature::manual(t))
}

pub fn run(dir: &Path, a: ScanArgs, json: bool) -> anyhow::Result<i32> {
    let direction = a.direction.as_deref().map(str::parse::<Direction>).transpose().map_err(anyhow::Error::msg)?;
    let temperature = a.temp.map(parse_temperature).transpose()?;
    let now = Utc::now();
    let backfill_at =
        a.at.as_deref().map(|s| crate::clock::backfill_time(s, now)).transpose().map_err(anyhow::Error::msg)?;
    let mut gate = Gate::open(dir)?;
    let operator = Some(super::operator_name(a.operator.as_deref())?);
    let req = ScanRequest { payload: a.payload, direction, temperature, backfill_at, operator, extra: None };
    let outcome =
        gate.scan_batch(&[req], now)?.into_iter().next().ok_or_else(|| anyhow::anyhow!("no decision was recorded"))?;
    if json {
        print_json(&outcome)?;
    } else {
        println!("{}", describe(&outcome));
    }
    Ok(super::exit::OK)
}

/// One line for a terminal.
pub fn describe(o: &ScanOutcome) -> String {
    let who = o.resident.as_ref().map(|r| format!("{} ({}, resident {})", r.name, r.household, r.id)).unwrap_or_else(
        || match (&o.visitor, &o.kind, &o.visit) {
            (Some(v), _, _) => {
                format!("visitor {} (pass {}, for {}, {} use(s) left)", v.name, v.pass_id, v.host, v.uses_left)
            }
            (None, Some(k), Some(v)) => {
                format!("{k}{}", v.host.as_deref().map(|h| format!(" for {h}")).unwrap_or_default())
            }
            _ => "unknown holder".into(),
        },
    );
    let dir = o.direction.map(|d| d.as_str()).unwrap_or("?");
    let temp = o.temperature_c.map(|t| format!(" {t:.1}°C")).unwrap_or_default();
    let mut s = format!("{} {dir} — {who}{temp} [event {}]", o.decision.as_str().to_uppercase(), o.event_seq);
    if !o.reasons.is_empty() {
        s.push_str(&format!(" reasons: {}", o.reasons.iter().map(|r| r.as_str()).collect::<Vec<_>>().join(", ")));
    }
    if !o.warnings.is_empty() {
        s.push_str(&format!(" warnings: {}", o.warnings.iter().map(|w| w.as_str()).collect::<Vec<_>>().join(", ")));
    }
    s
}
