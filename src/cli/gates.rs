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
pub enum SyncCmd {
    /// Write every chain this gate holds (and, on the first directory, the
    /// committee's signed state) to a file to carry to a gate without a LAN.
    Export {
        #[arg(long)]
        out: std::path::PathBuf,
    },
    /// Bring this gate up to date from a carried file: the same checks as
    /// over the LAN (pinned keys, chain continuity, the community's signature).
    Import { file: std::path::PathBuf },
}

/// One line of a sync file.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum SyncLine {
    Header {
        format: String,
        community: String,
        community_id: u32,
        gate: String,
    },
    Chain {
        gate: String,
        gate_key: String,
    },
    Event {
        gate: String,
        event: Box<crate::domain::chain::ChainedEvent>,
    },
    /// The committee log and the state at its newest record (first directory).
    Committee {
        feed: crate::gate::community::CommitteeFeed,
    },
}

const SYNC_FORMAT: &str = "gatepass-sync-1";
/// A line of a sync file is one event or the committee's state.
const MAX_SYNC_LINE: usize = 64 * 1024 * 1024;
/// Events taken per transaction on import.
const SYNC_BATCH: usize = 1000;

pub fn sync(dir: &Path, cmd: SyncCmd, json: bool) -> anyhow::Result<i32> {
    use std::io::{BufRead, Write};
    let mut g = Gate::open(dir)?;
    match cmd {
        SyncCmd::Export { out } => {
            let tmp = out.with_extension("partial");
            let mut w = std::io::BufWriter::new(std::fs::File::create(&tmp)?);
            let line = |w: &mut std::io::BufWriter<std::fs::File>, l: &SyncLine| -> anyhow::Result<()> {
                serde_json::to_writer(&mut *w, l)?;
                w.write_all(b"\n")?;
                Ok(())
            };
            line(
                &mut w,
                &SyncLine::Header {
                    format: SYNC_FORMAT.into(),
                    community: g.identity.community.clone(),
                    community_id: g.identity.community_id,
                    gate: g.identity.gate.clone(),
                },
            )?;
            let mut events = 0u64;
            let chains = g.chains_for_export()?;
            for (gate, key) in &chains {
                line(&mut w, &SyncLine::Chain { gate: gate.clone(), gate_key: key.clone() })?;
                let mut after = 0;
                loop {
                    let page = g.chain_page(gate, after, 1000)?;
                    let Some(last) = page.last().map(|e| e.body.seq) else { break };
                    for e in page {
                        line(&mut w, &SyncLine::Event { gate: gate.clone(), event: Box::new(e) })?;
                        events += 1;
                    }
                    after = last;
                }
            }
            let committee = if g.joined_from()?.is_none() { Some(g.committee_export(Utc::now())?) } else { None };
            let has_committee = committee.is_some();
            if let Some(feed) = committee {
                line(&mut w, &SyncLine::Committee { feed })?;
            }
            w.flush()?;
            w.get_ref().sync_all()?;
            drop(w);
            std::fs::rename(&tmp, &out)?;
            if json {
                print_json(&serde_json::json!({"file": out, "chains": chains.len(), "events": events,
                    "committee": has_committee}))?;
            } else {
                println!(
                    "wrote {}: {} chains, {events} events{}",
                    out.display(),
                    chains.len(),
                    if has_committee { ", the committee's log and state" } else { "" }
                );
            }
            Ok(exit::OK)
        }
        SyncCmd::Import { file } => {
            let f = std::fs::File::open(&file).map_err(|e| anyhow::anyhow!("cannot open {}: {e}", file.display()))?;
            let reader = crate::export::LineCap::new(std::io::BufReader::new(f), MAX_SYNC_LINE);
            let now = Utc::now();
            let mut header_seen = false;
            let mut pending: Vec<crate::domain::chain::ChainedEvent> = Vec::new();
            let mut pending_gate = String::new();
            let (mut taken, mut committee) = (0usize, false);
            let flush = |g: &mut Gate,
                         gate: &str,
                         evs: &mut Vec<crate::domain::chain::ChainedEvent>|
             -> anyhow::Result<usize> {
                if evs.is_empty() {
                    return Ok(0);
                }
                let n = g.take_peer_events(gate, std::mem::take(evs), Utc::now())?;
                Ok(n)
            };
            for (i, l) in reader.lines().enumerate() {
                let l = l.map_err(|e| anyhow::anyhow!("{} line {}: {e}", file.display(), i + 1))?;
                if l.trim().is_empty() {
                    continue;
                }
                let parsed: SyncLine = serde_json::from_str(&l).map_err(|e| {
                    anyhow::anyhow!("{} line {}: not a sync line ({e}); nothing more taken", file.display(), i + 1)
                })?;
                match parsed {
                    SyncLine::Header { format, community_id, community, gate } => {
                        if format != SYNC_FORMAT {
                            anyhow::bail!("{} is a '{format}' file, not {SYNC_FORMAT}", file.display());
                        }
                        if community_id != g.identity.community_id {
                            anyhow::bail!(
                                "{} comes from gate '{gate}' of {community}, another community; nothing taken",
                                file.display()
                            );
                        }
                        header_seen = true;
                    }
                    _ if !header_seen => anyhow::bail!("{} does not start with a gatepass sync header", file.display()),
                    SyncLine::Chain { gate, gate_key } => {
                        taken += flush(&mut g, &pending_gate, &mut pending)?;
                        if gate != g.identity.gate && !g.pin_peer_key(&gate, &gate_key, "file", now)? {
                            anyhow::bail!(
                                "the file's key for gate '{gate}' is not the one pinned here; nothing more taken"
                            );
                        }
                        pending_gate = gate;
                    }
                    SyncLine::Event { gate, event } => {
                        if gate == g.identity.gate {
                            continue; // this gate's own chain, carried back
                        }
                        if gate != pending_gate {
                            anyhow::bail!("{} line {}: an event of '{gate}' outside its chain", file.display(), i + 1);
                        }
                        pending.push(*event);
                        if pending.len() >= SYNC_BATCH {
                            taken += flush(&mut g, &pending_gate, &mut pending)?;
                        }
                    }
                    SyncLine::Committee { feed } => {
                        taken += flush(&mut g, &pending_gate, &mut pending)?;
                        committee |= g.take_committee_feed(&feed, now)?;
                    }
                }
            }
            taken += flush(&mut g, &pending_gate, &mut pending)?;
            if !header_seen {
                anyhow::bail!("{} is empty or not a gatepass sync file", file.display());
            }
            if json {
                print_json(&serde_json::json!({"events": taken, "committee": committee}))?;
            } else {
                println!("took {taken} new events{}", if committee { " and the committee's newer state" } else { "" });
            }
            Ok(exit::OK)
        }
    }
}

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
    let (applied, held) = g.committee_position()?;
    match g.joined_from()? {
        Some(from) => println!("committee log: record {applied} applied, {held} held (from {from})"),
        None => println!("committee log: {held} records (this is the first directory)"),
    }
    Ok(exit::OK)
}
