//! `gatepass events export | verify | rebuild | purge`

use super::print_json;
use crate::domain::chain::ExportedEvent;
use crate::export::{self, VerifyError};
use crate::gate::Gate;
use clap::Subcommand;
use std::io::Write;
use std::path::{Path, PathBuf};

#[derive(Debug, Subcommand)]
pub enum EventsCmd {
    /// Print the gate's events as NDJSON with the chain fields.
    Export {
        #[arg(long, default_value_t = 0)]
        after: u64,
        /// Write to this file instead of standard output.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Check the hash chain and gate signature of this database or of an export file. Exit 0 only if intact.
    Verify {
        file: Option<PathBuf>,
        /// The file is a part (`events export --after N`): accept a start
        /// after event 1, linked to this gate's log when run in its data
        /// directory.
        #[arg(long)]
        partial: bool,
    },
    /// Recompute who is out, the household outings and the events table's
    /// searchable columns from the signed chain (the chain must verify).
    Rebuild,
    /// Apply [retention] now: purge collected or exported events older than its days, keeping a signed checkpoint.
    Purge,
    /// The day's entry/exit ledger (出入台账) as .xlsx and/or a printable page ending with the chain head.
    Ledger {
        /// The local day, YYYY-MM-DD (default today).
        #[arg(long)]
        date: Option<String>,
        #[arg(long)]
        xlsx: Option<PathBuf>,
        #[arg(long)]
        html: Option<PathBuf>,
    },
}

pub fn run(dir: &Path, cmd: EventsCmd, json: bool) -> anyhow::Result<i32> {
    match cmd {
        EventsCmd::Ledger { date, xlsx, html } => super::followup::ledger(dir, date.as_deref(), xlsx, html, json),
        EventsCmd::Export { after, out } => {
            let gate = Gate::open(dir)?;
            let key = hex::encode(gate.gate_public_key().to_bytes());
            let signer = gate.name_signer();
            let residents = if signer.is_some() { gate.resident_names()? } else { Default::default() };
            let mut sink: Box<dyn Write> = match &out {
                Some(p) => Box::new(std::io::BufWriter::new(
                    std::fs::File::create(p).map_err(|e| anyhow::anyhow!("cannot write {}: {e}", p.display()))?,
                )),
                None => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
            };
            let mut failure: Option<anyhow::Error> = None;
            gate.for_each_event(after, |ev| match ev {
                Ok(event) => {
                    let name = event.body.resident_id.and_then(|id| residents.get(&id).cloned());
                    let line = match (name, &signer) {
                        (Some(n), Some(s)) => ExportedEvent::new(event, Some(key.clone())).with_signed_name(n, s),
                        _ => ExportedEvent::new(event, Some(key.clone())),
                    };
                    let r = serde_json::to_writer(&mut sink, &line)
                        .map_err(anyhow::Error::from)
                        .and_then(|_| sink.write_all(b"\n").map_err(anyhow::Error::from));
                    match r {
                        Ok(()) => true,
                        Err(e) => {
                            failure = Some(e);
                            false
                        }
                    }
                }
                Err(e) => {
                    failure = Some(e.into());
                    false
                }
            })?;
            if let Some(e) = failure {
                return Err(e);
            }
            sink.flush()?;
            drop(sink);
            if let Some(p) = out {
                // written and synced to a file: these events are safe elsewhere
                std::fs::File::open(&p).and_then(|f| f.sync_all())?;
                let (head, _) = gate.head()?;
                gate.note_safe_elsewhere("exported_seq", head)?;
            }
            Ok(super::exit::OK)
        }
        EventsCmd::Verify { file: Some(file), partial } => {
            let f = std::fs::File::open(&file).map_err(|e| anyhow::anyhow!("cannot read {}: {e}", file.display()))?;
            // Inside a gate's data directory, its own key is the one to trust.
            let own = Gate::open(dir).ok();
            let first = peek_gate(&file);
            let own_key = own.as_ref().map(|g| g.gate_public_key());
            let same_gate = own
                .as_ref()
                .is_some_and(|g| first.as_ref() == Some(&(g.identity.gate.clone(), g.identity.community.clone())));
            let pinned = own_key.as_ref().filter(|_| same_gate);
            // A whole export starts at event 1 (or right after the signed
            // checkpoint of a purged log): a file starting later has lost its
            // first lines, unless it is a part (`export --after`) checked as
            // such with --partial, which still links it to this gate's log.
            let first_seq = peek_seq(&file).unwrap_or(1);
            let (checkpoint, before) = match (&own, same_gate, first_seq) {
                (Some(g), true, s) if s > 1 => (
                    g.checkpoint()?.filter(|c| c.seq == s - 1).map(|c| (c.seq, c.hash)),
                    g.events_after(s - 2, 1)?.pop().filter(|e| e.body.seq == s - 1).map(|e| (e.body.seq, e.hash)),
                ),
                _ => (None, None),
            };
            let anchor = checkpoint.clone().or(if partial { before } else { None });
            if first_seq > 1 && checkpoint.is_none() && !partial {
                let e = VerifyError::Io(format!(
                    "the file starts at event {first_seq}, not at the start of the log: its first lines are missing \
                     (for a part made with `events export --after`, add --partial)"
                ));
                return report(Err(e), json, &file.display().to_string(), pinned.is_some());
            }
            let start = anchor.as_ref().map(|(s, h)| (*s, h.as_str()));
            let res = export::verify_lines(std::io::BufReader::new(f), pinned, start, |_, _| {});
            report(res, json, &file.display().to_string(), pinned.is_some())
        }
        EventsCmd::Purge => {
            let mut gate = Gate::open(dir)?;
            let r = gate.apply_retention(chrono::Utc::now())?;
            if json {
                print_json(
                    &serde_json::json!({"purged": r.as_ref().map(|r| r.purged).unwrap_or(0), "through_seq": r.as_ref().map(|r| r.through_seq)}),
                )?;
            } else {
                match r {
                    Some(r) => println!(
                        "purged {} events through event {}; the log verifies from its signed checkpoint",
                        r.purged, r.through_seq
                    ),
                    None => println!(
                        "nothing to purge (retention off, or nothing both old enough and collected or exported)"
                    ),
                }
            }
            Ok(super::exit::OK)
        }
        EventsCmd::Verify { file: None, .. } => {
            let gate = Gate::open(dir)?;
            let key = gate.gate_public_key();
            let mut d = gate.derive(None)?;
            if d.chain.is_ok() {
                // outsiders' details kept at the gate against the digest in
                // their signed events (issue 11)
                d.differences.extend(gate.visit_digest_differences()?);
            }
            // the chains held from the other gates of the community (issue 10)
            for (other, n, problem) in gate.verify_held_chains()? {
                match problem {
                    None => d.notes.push(format!("the chain of gate '{other}' held here: {n} events, intact")),
                    Some(p) => d.differences.push(format!("the chain of gate '{other}' held here is broken: {p}")),
                }
            }
            // the committee log: every committee change, chained and signed
            match gate.verify_committee_log()? {
                (n, None) => d.notes.push(format!("the committee log: {n} records, intact")),
                (_, Some(p)) => d.differences.push(format!("the committee log does not verify: {p}")),
            }
            let res = match &d.chain {
                Err(e) => Err(VerifyError::Io(e.clone())),
                Ok(()) => Ok(export::VerifyReport {
                    events: d.events,
                    first_seq: d.first_seq,
                    last_seq: d.last_seq,
                    head_hash: d.head_hash.clone(),
                    gate: Some(gate.identity.gate.clone()),
                    community: Some(gate.identity.community.clone()),
                    gate_key: Some(hex::encode(key.to_bytes())),
                    ..Default::default()
                }),
            };
            if res.is_err() || d.differences.is_empty() {
                for n in &d.notes {
                    if !json {
                        println!("note: {n}");
                    }
                }
                return report(res, json, "the database", true);
            }
            // The chain holds, but the tables read from it say something else.
            if json {
                print_json(&serde_json::json!({
                    "intact": false, "chain_intact": true, "differences": d.differences, "notes": d.notes,
                    "report": res.ok(),
                }))?;
            }
            for diff in &d.differences {
                eprintln!("differs: {diff}");
            }
            eprintln!(
                "error: the database is NOT intact: the chain verifies, but {} derived record(s) differ from it \
                 (run `gatepass events rebuild` to recompute them from the chain)",
                d.differences.len()
            );
            Ok(super::exit::BROKEN)
        }
        EventsCmd::Rebuild => {
            let mut gate = Gate::open(dir)?;
            let r = gate.rebuild_derived("cli", chrono::Utc::now())?;
            if json {
                print_json(&r)?;
            } else if r.differences.is_empty() {
                println!("derived tables already match the chain; nothing changed");
            } else {
                for d in &r.differences {
                    println!("repaired: {d}");
                }
                println!(
                    "rebuilt from the chain: {} presence rows, {} outings rows ({} differences repaired)",
                    r.presence_rows,
                    r.outings_rows,
                    r.differences.len()
                );
            }
            Ok(super::exit::OK)
        }
    }
}

/// The sequence number of the first event in a file (its first line is
/// read under the line cap, as every line is).
fn peek_seq(file: &Path) -> Option<u64> {
    export::first_line(file)?.get("seq")?.as_u64()
}

/// (gate, community) of the first event in a file.
fn peek_gate(file: &Path) -> Option<(String, String)> {
    let v = export::first_line(file)?;
    Some((v.get("gate")?.as_str()?.to_string(), v.get("community")?.as_str()?.to_string()))
}

/// Exit 0 only if the chain is intact and nothing in the file claims what
/// the gate did not sign. A `resident_name` without a valid `name_sig` is
/// such a claim (exit 3); a field no export line has is ignored by every
/// reader, so it is a warning only (exit 0), with the lines named.
fn report(res: Result<export::VerifyReport, VerifyError>, json: bool, what: &str, pinned: bool) -> anyhow::Result<i32> {
    match res {
        Ok(r) if r.unsigned_names.lines > 0 => {
            let msg = format!(
                "{what} is NOT intact: the chain verifies, but the resident_name on {} is not signed by the gate for \
                 that event (added or moved outside the gate; no reader believes it)",
                r.unsigned_names.where_()
            );
            if json {
                print_json(&serde_json::json!({
                    "intact": false, "chain_intact": true, "error": msg, "line": r.unsigned_names.first_lines.first(),
                    "report": r, "key_pinned": pinned,
                }))?;
            }
            warn_unknown(&r);
            eprintln!("error: {msg}");
            Ok(super::exit::BROKEN)
        }
        Ok(r) => {
            if json {
                print_json(&serde_json::json!({"intact": true, "report": r, "key_pinned": pinned}))?;
            } else {
                match (r.first_seq, r.last_seq) {
                    (Some(a), Some(b)) => println!(
                        "intact: {} events (seq {a}..{b}) from gate {} of {}, head {}",
                        r.events,
                        r.gate.as_deref().unwrap_or("?"),
                        r.community.as_deref().unwrap_or("?"),
                        r.head_hash.as_deref().unwrap_or("")
                    ),
                    _ => println!("intact: no events in {what}"),
                }
                if r.names_signed > 0 {
                    println!("{} resident names signed by the gate", r.names_signed);
                }
                if !pinned {
                    println!("note: checked with the key the file carries; compare it with the gate's key to prove its origin");
                }
            }
            warn_unknown(&r);
            Ok(super::exit::OK)
        }
        Err(e) => {
            if json {
                print_json(&serde_json::json!({"intact": false, "error": e.to_string(), "line": e.line()}))?;
            }
            eprintln!("error: {what} is NOT intact: {e}");
            Ok(super::exit::BROKEN)
        }
    }
}

/// Fields outside the signed content: ignored by every reader, named here.
fn warn_unknown(r: &export::VerifyReport) {
    if r.unknown_fields.lines > 0 {
        eprintln!(
            "warning: fields outside the gate's signature on {} ({}); not covered by it, so ignored",
            r.unknown_fields.where_(),
            r.unknown_fields.fields.join(", ")
        );
    }
}
