//! `gatepass household ...` and `gatepass resident ...`

use super::{parse_date, print_json};
use crate::domain::Category;
use crate::gate::Gate;
use chrono::Utc;
use clap::Subcommand;
use std::path::{Path, PathBuf};

const MAX_IMPORT_BYTES: u64 = 64 * 1024 * 1024;

#[derive(Debug, Subcommand)]
pub enum HouseholdCmd {
    /// Import or update the register from a CSV file (UTF-8, GBK or GB18030)
    /// or an .xlsx workbook; English or Chinese headers.
    Import {
        file: PathBuf,
        /// The workbook sheet to read (default: the first).
        #[arg(long)]
        sheet: Option<String>,
    },
    /// Print the register.
    List,
}

#[derive(Debug, Subcommand)]
pub enum ResidentCmd {
    /// Change a resident's category (normal, home_quarantine, isolated, confirmed, suspected, fever, close_contact, essential).
    SetCategory {
        #[arg(long)]
        household: String,
        #[arg(long)]
        name: String,
        category: String,
        /// Last day of the category; the resident is normal again after it.
        #[arg(long)]
        until: Option<String>,
    },
}

pub fn household(dir: &Path, cmd: HouseholdCmd, json: bool) -> anyhow::Result<i32> {
    let mut gate = Gate::open(dir)?;
    match cmd {
        HouseholdCmd::Import { file, sheet } => {
            let size =
                std::fs::metadata(&file).map_err(|e| anyhow::anyhow!("cannot read {}: {e}", file.display()))?.len();
            // a register is a few MB at most; a wrong path to a disk image is not
            if size > MAX_IMPORT_BYTES {
                anyhow::bail!("{} is {size} bytes; a register file is at most {MAX_IMPORT_BYTES}", file.display());
            }
            let bytes = std::fs::read(&file).map_err(|e| anyhow::anyhow!("cannot read {}: {e}", file.display()))?;
            let (counts, rejected) = gate.import_register_sheet(&bytes, sheet.as_deref(), "cli", Utc::now())?;
            if json {
                print_json(&serde_json::json!({
                    "added": counts.added, "updated": counts.updated, "unchanged": counts.unchanged,
                    "rejected": rejected.len(), "rejections": rejected,
                }))?;
            } else {
                println!(
                    "added {}, updated {}, unchanged {}, rejected {}",
                    counts.added,
                    counts.updated,
                    counts.unchanged,
                    rejected.len()
                );
                for r in &rejected {
                    println!("  line {}: {}", r.line, r.reason);
                }
            }
            Ok(super::exit::OK)
        }
        HouseholdCmd::List => {
            let today = Utc::now().with_timezone(&gate.policy()?.timezone).date_naive();
            let mut households = gate.households()?;
            for h in &mut households {
                h.residents = std::mem::take(&mut h.residents).into_iter().map(|r| r.as_of(today)).collect();
            }
            if json {
                print_json(&households)?;
            } else {
                for h in &households {
                    println!("{}  {}  {}", h.code, h.address, h.grid);
                    for r in &h.residents {
                        let until = r.category_until.map(|u| format!(" until {u}")).unwrap_or_default();
                        println!("    {:>8}  {}  {}{}", r.id, r.name, r.category, until);
                    }
                }
                println!(
                    "{} households, {} residents",
                    households.len(),
                    households.iter().map(|h| h.residents.len()).sum::<usize>()
                );
            }
            Ok(super::exit::OK)
        }
    }
}

pub fn resident(dir: &Path, cmd: ResidentCmd, json: bool) -> anyhow::Result<i32> {
    let mut gate = Gate::open(dir)?;
    match cmd {
        ResidentCmd::SetCategory { household, name, category, until } => {
            let category: Category = category.parse()?;
            let until = until.map(|u| parse_date(&u, "--until")).transpose()?;
            let r = gate.set_category(&household, &name, category, until, "cli", Utc::now())?;
            if json {
                print_json(&r)?;
            } else {
                let until = r.category_until.map(|u| format!(" until {u}")).unwrap_or_default();
                println!("{} ({}) is now {}{}", r.name, r.household, r.category, until);
            }
            Ok(super::exit::OK)
        }
    }
}
