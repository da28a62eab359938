//! `gatepass pass issue | revoke | list`

use super::{parse_date, print_json};
use crate::gate::Gate;
use chrono::Utc;
use clap::{ArgGroup, Subcommand};
use std::path::{Path, PathBuf};

#[derive(Debug, Subcommand)]
pub enum PassCmd {
    /// Sign passes and write one PNG per pass, passes.csv and a printable index.html.
    #[command(group(ArgGroup::new("who").required(true).args(["all", "household"])))]
    Issue {
        #[arg(long)]
        all: bool,
        #[arg(long)]
        household: Option<String>,
        /// First valid day (default today, in the community's time zone).
        #[arg(long)]
        valid_from: Option<String>,
        #[arg(long, default_value_t = 30)]
        valid_days: u32,
        #[arg(long)]
        out: PathBuf,
    },
    /// Revoke a pass (lost, stolen, moved away).
    Revoke {
        pass_id: crate::domain::PassId,
        #[arg(long)]
        reason: String,
    },
    /// List passes.
    List,
}

pub fn run(dir: &Path, cmd: PassCmd, json: bool) -> anyhow::Result<i32> {
    let mut gate = Gate::open(dir)?;
    let now = Utc::now();
    match cmd {
        PassCmd::Issue { all: _, household, valid_from, valid_days, out } => {
            let policy = gate.policy()?;
            let from = match valid_from {
                Some(s) => parse_date(&s, "--valid-from")?,
                None => now.with_timezone(&policy.timezone).date_naive(),
            };
            let passes = gate.issue_passes(household.as_deref(), from, valid_days, "cli", now)?;
            crate::cards::write_folder(&out, &gate.identity.community, &passes, &gate.card_options()?)?;
            if json {
                let list: Vec<_> = passes
                    .iter()
                    .map(|(p, r)| {
                        serde_json::json!({"pass_id": p.pass_id, "resident_id": r.id, "household": r.household,
                        "name": r.name, "valid_from": p.valid_from, "valid_until": p.valid_until, "payload": p.payload})
                    })
                    .collect();
                print_json(&serde_json::json!({"issued": passes.len(), "out": out, "passes": list}))?;
            } else {
                println!(
                    "issued {} passes, valid {} to {}",
                    passes.len(),
                    from,
                    passes.first().map(|p| p.0.valid_until).unwrap_or(from)
                );
                println!("cards: {}", out.join("index.html").display());
                println!("list:  {}", out.join("passes.csv").display());
            }
            Ok(super::exit::OK)
        }
        PassCmd::Revoke { pass_id, reason } => {
            let newly = gate.revoke_pass(pass_id, &reason, "cli", now)?;
            if json {
                print_json(
                    &serde_json::json!({"pass_id": pass_id, "revoked": true, "already_revoked": !newly, "reason": reason}),
                )?;
            } else if newly {
                println!("pass {pass_id} revoked");
            } else {
                println!("pass {pass_id} was already revoked");
            }
            Ok(super::exit::OK)
        }
        PassCmd::List => {
            let passes = gate.passes()?;
            if json {
                print_json(&passes)?;
            } else {
                for p in &passes {
                    let state = match &p.revoked_at {
                        Some(_) => format!("revoked ({})", p.revoke_reason.as_deref().unwrap_or("")),
                        None => "active".into(),
                    };
                    println!(
                        "{}  resident {}  {}..{}  key {}  {}",
                        p.pass_id, p.resident_id, p.valid_from, p.valid_until, p.key_id, state
                    );
                }
            }
            Ok(super::exit::OK)
        }
    }
}
