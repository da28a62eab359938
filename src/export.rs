//! NDJSON export of the entry log and its verification, shared by
//! `gatepass events export|verify` and the district's import of carried
//! files. Reads and checks one line at a time: any size, little memory.

use crate::domain::chain::{ChainError, ChainVerifier, ChainedEvent, ExportedEvent};
use ed25519_dalek::VerifyingKey;
use std::io::{BufRead, Write};

#[derive(Debug, Clone, serde::Serialize, PartialEq)]
pub struct VerifyReport {
    pub events: u64,
    pub first_seq: Option<u64>,
    pub last_seq: Option<u64>,
    pub head_hash: Option<String>,
    pub gate: Option<String>,
    pub community: Option<String>,
    pub gate_key: Option<String>,
}

#[derive(Debug, Clone, thiserror::Error, PartialEq)]
pub enum VerifyError {
    #[error("line {line}: not an event ({detail})")]
    NotAnEvent { line: u64, detail: String },
    #[error("line {line}: {source}")]
    Chain { line: u64, source: ChainError },
    #[error("line {line}: events come from more than one gate or key")]
    MixedGates { line: u64 },
    #[error("no gate key to check the signature with (the file carries none and this is not its gate)")]
    NoKey,
    #[error("the file is signed by key {found}, not by the gate's pinned key {pinned}")]
    WrongKey { found: String, pinned: String },
    #[error("cannot read: {0}")]
    Io(String),
}

impl VerifyError {
    pub fn line(&self) -> Option<u64> {
        match self {
            VerifyError::NotAnEvent { line, .. }
            | VerifyError::Chain { line, .. }
            | VerifyError::MixedGates { line } => Some(*line),
            _ => None,
        }
    }
}

pub fn parse_key(hex_key: &str) -> Option<VerifyingKey> {
    let b: [u8; 32] = hex::decode(hex_key).ok()?.try_into().ok()?;
    VerifyingKey::from_bytes(&b).ok()
}

/// Verifies an export. `pinned` is the key the caller trusts for this gate
/// (its own, or the district's pinned one); without it the file's own
/// `gate_key` is used, which proves integrity but not origin. `start` is
/// the (seq, hash) the file must continue from, if known. `each` sees every
/// verified event.
pub fn verify_lines(
    reader: impl BufRead,
    pinned: Option<&VerifyingKey>,
    start: Option<(u64, &str)>,
    mut each: impl FnMut(&ExportedEvent),
) -> Result<VerifyReport, VerifyError> {
    let mut verifier: Option<ChainVerifier> = start.map(|(s, h)| ChainVerifier::after(s, h));
    let mut report = VerifyReport {
        events: 0,
        first_seq: None,
        last_seq: None,
        head_hash: None,
        gate: None,
        community: None,
        gate_key: None,
    };
    let mut line_no = 0u64;
    for line in reader.lines() {
        line_no = line_no.saturating_add(1);
        let line = line.map_err(|e| VerifyError::Io(e.to_string()))?;
        if line.trim().is_empty() {
            continue;
        }
        let ev: ExportedEvent = serde_json::from_str(&line)
            .map_err(|e| VerifyError::NotAnEvent { line: line_no, detail: e.to_string() })?;
        let v = verifier.get_or_insert_with(|| {
            if ev.event.body.seq == 1 {
                ChainVerifier::from_genesis()
            } else {
                ChainVerifier::anywhere()
            }
        });
        if report.gate.is_none() {
            report.gate = Some(ev.event.body.gate.clone());
            report.community = Some(ev.event.body.community.clone());
            report.gate_key = ev.gate_key.clone();
            report.first_seq = Some(ev.event.body.seq);
        } else if report.gate.as_deref() != Some(&ev.event.body.gate)
            || (ev.gate_key.is_some() && ev.gate_key != report.gate_key)
        {
            return Err(VerifyError::MixedGates { line: line_no });
        }
        v.push(ev.event.clone()).map_err(|source| VerifyError::Chain { line: line_no, source })?;
        each(&ev);
        report.events = report.events.saturating_add(1);
        report.last_seq = Some(ev.event.body.seq);
        report.head_hash = Some(ev.event.hash.clone());
    }
    let Some(v) = verifier else { return Ok(report) };
    let file_key = report.gate_key.as_deref().and_then(parse_key);
    let key = match (pinned, file_key) {
        (Some(p), Some(f)) if p != &f => {
            return Err(VerifyError::WrongKey { found: hex::encode(f.to_bytes()), pinned: hex::encode(p.to_bytes()) })
        }
        (Some(p), _) => *p,
        (None, Some(f)) => f,
        (None, None) => return Err(VerifyError::NoKey),
    };
    v.finish(&key).map_err(|source| VerifyError::Chain { line: line_no, source })?;
    Ok(report)
}

/// Writes events as NDJSON lines.
pub fn write_lines(out: &mut impl Write, events: &[ChainedEvent], gate_key: &str) -> std::io::Result<()> {
    for e in events {
        let line = ExportedEvent { event: e.clone(), gate_key: Some(gate_key.to_string()), resident_name: None };
        serde_json::to_writer(&mut *out, &line)?;
        out.write_all(b"\n")?;
    }
    Ok(())
}
