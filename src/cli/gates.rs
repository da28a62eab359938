//! `gatepass gate add|remove`, `join`, `peers`: several gates of one
//! community (see `gate::community`).

use super::{exit, print_json};
use crate::domain::join::JoinAnswer;
use crate::gate::community::{JoinPlan, JOIN_CODE_MINUTES};
use crate::gate::Gate;
use chrono::Utc;
use clap::Subcommand;
use std::path::Path;

#[derive(Debug, Subcommand)]
pub enum GateCmd {
    /// (first directory) A one-time code for a new gate; run `gatepass join` on its Pi with it.
    Add {
        #[arg(long)]
        name: String,
        /// How long the code works.
        #[arg(long, default_value_t = JOIN_CODE_MINUTES)]
        minutes: u32,
    },
    /// (first directory) Take a gate out of the community: its credentials end; its history stays.
    Remove {
        #[arg(long)]
        name: String,
    },
}

pub fn gate(dir: &Path, cmd: GateCmd, json: bool) -> anyhow::Result<i32> {
    let g = Gate::open(dir)?;
    let now = Utc::now();
    match cmd {
        GateCmd::Add { name, minutes } => {
            let (code, expires) = g.add_gate_code(&name, minutes, "cli", now)?;
            let tz = g.policy()?.timezone;
            let until = expires.with_timezone(&tz).format("%Y-%m-%d %H:%M");
            if json {
                print_json(&serde_json::json!({"gate": name.trim(), "code": code,
                    "expires_at": expires.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)}))?;
            } else {
                println!("join code for gate '{}': {code}  (works once, until {until})", name.trim());
                println!(
                    "on the new gate's Pi: gatepass join --from http://THIS-GATE:PORT --code {code} --gate '{}' --advertise http://NEW-GATE:8080",
                    name.trim()
                );
                println!("this gate's daemon must be running for the join to reach it");
            }
            Ok(exit::OK)
        }
        GateCmd::Remove { name } => {
            if !g.remove_gate(&name, "cli", now)? {
                anyhow::bail!("no gate '{}' in the community (see `gatepass peers`)", name.trim());
            }
            if json {
                print_json(&serde_json::json!({"gate": name.trim(), "removed": true}))?;
            } else {
                println!("gate '{}' removed: its credentials no longer work, its history stays", name.trim());
            }
            Ok(exit::OK)
        }
    }
}

/// The largest join answer read (the register of a big village is a few MB).
const MAX_ANSWER_BYTES: usize = 64 * 1024 * 1024;

pub fn join(dir: &Path, from: &str, code: &str, gate: &str, advertise: &str, json: bool) -> anyhow::Result<i32> {
    let from = crate::domain::join::check_advertise(from)
        .map_err(|_| anyhow::anyhow!("--from '{from}' must be the first gate's address, e.g. http://10.0.3.7:8080"))?;
    if dir.join(crate::gate::DB_FILE).exists() {
        anyhow::bail!("{} already holds a gatepass data directory; choose another --data-dir", dir.display());
    }
    let plan = JoinPlan::new(code, gate, advertise)?;
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let answer = rt.block_on(ask(&from, &plan))?;
    let g = Gate::join_new(dir, &from, plan, &answer, Utc::now())?;
    if json {
        print_json(&serde_json::json!({"data_dir": dir, "community": g.identity.community,
            "community_id": g.identity.community_id, "gate": g.identity.gate,
            "gate_key": hex::encode(g.gate_public_key().to_bytes()), "joined_from": from}))?;
    } else {
        println!(
            "joined gate '{}' to {} from {from}: {} holds the community's public keys and the register, not its signing key",
            g.identity.gate,
            g.identity.community,
            dir.display()
        );
        println!("next: `gatepass serve` here, then make this gate's guard logins with `gatepass user add`");
    }
    Ok(exit::OK)
}

async fn ask(from: &str, plan: &JoinPlan) -> anyhow::Result<JoinAnswer> {
    let client = reqwest::Client::builder()
        .connect_timeout(std::time::Duration::from_secs(10))
        .timeout(std::time::Duration::from_secs(120))
        .build()?;
    let mut resp = client
        .post(format!("{from}/api/v1/join"))
        .json(&plan.request)
        .send()
        .await
        .map_err(|e| anyhow::anyhow!("cannot reach {from}: {e} (is the first gate's daemon running there?)"))?;
    let status = resp.status();
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await? {
        if body.len() + chunk.len() > MAX_ANSWER_BYTES {
            anyhow::bail!("{from} answered more than {} MB; not a gatepass join answer", MAX_ANSWER_BYTES >> 20);
        }
        body.extend_from_slice(&chunk);
    }
    if !status.is_success() {
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
        let msg = v.get("message").and_then(|m| m.as_str()).unwrap_or("no explanation");
        let code = v.get("error").and_then(|m| m.as_str()).unwrap_or("");
        anyhow::bail!("{from} refused the join ({} {code}): {msg}; nothing was written", status.as_u16());
    }
    serde_json::from_slice(&body).map_err(|e| anyhow::anyhow!("{from} did not answer as a gatepass gate: {e}"))
}

pub fn peers(dir: &Path, json: bool) -> anyhow::Result<i32> {
    let g = Gate::open(dir)?;
    let peers = g.peers()?;
    if json {
        print_json(&peers)?;
        return Ok(exit::OK);
    }
    if peers.is_empty() {
        println!("no other gates; add one with `gatepass gate add --name NAME` on the first directory");
    }
    for p in peers {
        let state = if p.removed_at.is_some() {
            "removed".to_string()
        } else {
            match (&p.last_heard_at, p.behind) {
                (Some(t), Some(b)) => format!("last heard {t}, {b} events behind"),
                (Some(t), None) => format!("last heard {t}"),
                (None, _) => "not heard from yet".to_string(),
            }
        };
        println!("{}\t{}\t{state}", p.gate, p.url);
    }
    Ok(exit::OK)
}
