//! `gatepass pass issue | revoke | list`

use super::{parse_date, print_json};
use crate::gate::Gate;
use chrono::Utc;
use clap::{ArgGroup, Subcommand};
use std::path::{Path, PathBuf};

#[derive(Debug, Subcommand)]
pub enum PassCmd {
    /// Sign passes and write one PNG per pass, passes.csv and a printable index.html.
    #[command(group(ArgGroup::new("who").required(true).args(["all", "household", "missing"])))]
    Issue {
        #[arg(long)]
        all: bool,
        /// Only residents without a valid card (new residents, revoked cards).
        #[arg(long)]
        missing: bool,
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
    /// 补办: a new card for one person; the old card is revoked with the reason.
    #[command(group(ArgGroup::new("person").required(true).args(["resident", "household"])))]
    Reissue {
        /// The resident's id (see `household list --json`).
        #[arg(long)]
        resident: Option<crate::domain::ResidentId>,
        #[arg(long, requires = "name")]
        household: Option<String>,
        #[arg(long)]
        name: Option<String>,
        /// lost | damaged | other (遗失 | 损坏 | 其他)
        #[arg(long)]
        reason: String,
        /// Days the new card runs when the person has no card that still runs.
        #[arg(long, default_value_t = 30)]
        valid_days: u32,
        #[arg(long)]
        out: PathBuf,
    },
    /// List passes.
    List,
}

pub fn run(dir: &Path, cmd: PassCmd, json: bool) -> anyhow::Result<i32> {
    let mut gate = Gate::open(dir)?;
    let now = Utc::now();
    match cmd {
        PassCmd::Reissue { resident, household, name, reason, valid_days, out } => {
            let code = crate::domain::revocation::RevokeReason::parse(&reason)
                .filter(|r| r.for_reissue())
                .ok_or_else(|| anyhow::anyhow!("--reason '{reason}' must be lost, damaged or other"))?;
            let id = match (resident, household, name) {
                (Some(id), _, _) => id,
                (None, Some(h), Some(n)) => gate.find_resident(&h, &n)?.id,
                _ => anyhow::bail!("give --resident ID, or --household CODE --name NAME"),
            };
            let (p, r) = gate.reissue_pass(id, code, valid_days, "cli", now)?;
            let one = [(p, r)];
            crate::cards::write_folder(&out, &gate.identity.community, &one, &gate.card_options()?)?;
            let [(p, r)] = one;
            if json {
                print_json(&serde_json::json!({"pass_id": p.pass_id, "resident_id": r.id, "household": r.household,
                    "name": r.name, "reason": code, "valid_from": p.valid_from, "valid_until": p.valid_until,
                    "payload": p.payload, "out": out}))?;
            } else {
                println!(
                    "new card {} for {} ({}), valid {} to {}; the old card is revoked ({})",
                    p.pass_id,
                    r.name,
                    r.household,
                    p.valid_from,
                    p.valid_until,
                    code.zh()
                );
                println!("card: {}", out.join("index.html").display());
            }
            Ok(super::exit::OK)
        }
        PassCmd::Issue { all: _, missing, household, valid_from, valid_days, out } => {
            let policy = gate.policy()?;
            let from = match valid_from {
                Some(s) => parse_date(&s, "--valid-from")?,
                None => now.with_timezone(&policy.timezone).date_naive(),
            };
            let scope = match (missing, household) {
                (true, _) => crate::gate::IssueScope::Missing,
                (false, Some(h)) => crate::gate::IssueScope::Household(h),
                (false, None) => crate::gate::IssueScope::All,
            };
            let passes = gate.issue_passes_for(&scope, None, from, valid_days, "cli", now)?;
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
                        Some(_) => format!("revoked ({})", p.revoke_reason.map(|r| r.as_str()).unwrap_or("")),
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
