//! NDJSON export of the entry log and its verification, shared by
//! `gatepass events export|verify` and the district's import of carried
//! files. Reads and checks one line at a time: any size, little memory.

use crate::domain::chain::{outside_fields, ChainError, ChainVerifier, ChainedEvent, ExportedEvent, NameCheck};
use ed25519_dalek::VerifyingKey;
use std::io::{BufRead, Write};
use std::path::Path;

#[derive(Debug, Clone, Default, serde::Serialize, PartialEq)]
pub struct VerifyReport {
    pub events: u64,
    pub first_seq: Option<u64>,
    pub last_seq: Option<u64>,
    pub head_hash: Option<String>,
    pub gate: Option<String>,
    pub community: Option<String>,
    pub gate_key: Option<String>,
    /// Names the gate key signed for their event.
    pub names_signed: u64,
    /// Lines with a `resident_name` the gate did not sign for that event.
    pub unsigned_names: LinesNoted,
    /// Lines with fields no export line has (outside the signed content).
    pub unknown_fields: LinesNoted,
}

/// Lines that carry something the gate's signatures do not cover: how
/// many, the first line numbers, and (for unknown fields) the first names.
#[derive(Debug, Clone, Default, serde::Serialize, PartialEq)]
pub struct LinesNoted {
    pub lines: u64,
    pub first_lines: Vec<u64>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<String>,
}

impl LinesNoted {
    const KEEP: usize = 5;

    fn note(&mut self, line: u64, fields: &[String]) {
        self.lines += 1;
        if self.first_lines.len() < Self::KEEP {
            self.first_lines.push(line);
        }
        for f in fields {
            if self.fields.len() < Self::KEEP && !self.fields.contains(f) {
                self.fields.push(f.clone());
            }
        }
    }

    /// "lines 1, 2, 3 …" for a message.
    pub fn where_(&self) -> String {
        let list: Vec<String> = self.first_lines.iter().map(u64::to_string).collect();
        let more = if self.lines > self.first_lines.len() as u64 { ", …" } else { "" };
        format!("line{} {}{more}", if self.lines == 1 { "" } else { "s" }, list.join(", "))
    }
}

/// The longest line read from an export file. An event line is well under
/// 2 KB; a longer one is not an event, and reading it whole would let a
/// file take the reader's memory (a 300 MB line took 930 MB at the
/// district). Used by every reader of export lines, gate and district.
pub const MAX_LINE_BYTES: usize = 64 * 1024;

/// A reader that fails, instead of buffering on, when a line grows past
/// `max` bytes: `lines()` over it holds at most `max` bytes of one line.
pub struct LineCap<R> {
    inner: R,
    max: usize,
    /// Bytes of the current line already handed out.
    run: usize,
}

impl<R: BufRead> LineCap<R> {
    pub fn new(inner: R, max: usize) -> LineCap<R> {
        LineCap { inner, max, run: 0 }
    }
}

impl<R: BufRead> std::io::Read for LineCap<R> {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        let n = {
            let buf = self.fill_buf()?;
            let n = buf.len().min(out.len());
            if let (Some(dst), Some(src)) = (out.get_mut(..n), buf.get(..n)) {
                dst.copy_from_slice(src);
            }
            n
        };
        self.consume(n);
        Ok(n)
    }
}

impl<R: BufRead> BufRead for LineCap<R> {
    fn fill_buf(&mut self) -> std::io::Result<&[u8]> {
        let (max, run) = (self.max, self.run);
        let buf = self.inner.fill_buf()?;
        let upto = buf.iter().position(|b| *b == b'\n').unwrap_or(buf.len());
        if run.saturating_add(upto) > max {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("a line is longer than {} KB: not a gatepass event", max / 1024),
            ));
        }
        Ok(buf)
    }

    fn consume(&mut self, n: usize) {
        // The bytes being consumed are still in the inner buffer: count
        // from their last newline.
        if let Ok(buf) = self.inner.fill_buf() {
            let taken = buf.get(..n).unwrap_or(buf);
            self.run = match taken.iter().rposition(|b| *b == b'\n') {
                Some(i) => taken.len() - i - 1,
                None => self.run.saturating_add(taken.len()),
            };
        }
        self.inner.consume(n);
    }
}

/// The first non-blank line of an export file, as JSON, read under the
/// line cap: what identifies the file's gate before it is checked.
pub fn first_line(path: &Path) -> Option<serde_json::Value> {
    let f = std::fs::File::open(path).ok()?;
    let line = LineCap::new(std::io::BufReader::new(f), MAX_LINE_BYTES)
        .lines()
        .map_while(Result::ok)
        .find(|l| !l.trim().is_empty())?;
    serde_json::from_str(&line).ok()
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
/// verified event with what its name signature says (checked with the same
/// key). Lines are read under [`MAX_LINE_BYTES`].
///
/// Only the chain decides `Ok`/`Err`; what lies outside the signatures
/// (unsigned names, unknown fields) is counted in the report for the
/// caller to judge.
pub fn verify_lines(
    reader: impl BufRead,
    pinned: Option<&VerifyingKey>,
    start: Option<(u64, &str)>,
    mut each: impl FnMut(&ExportedEvent, NameCheck),
) -> Result<VerifyReport, VerifyError> {
    let mut verifier: Option<ChainVerifier> = start.map(|(s, h)| ChainVerifier::after(s, h));
    let mut report = VerifyReport::default();
    // The key names are checked with: the pinned one, else the file's own
    // (a file whose key differs from the pinned one is refused at the end).
    let mut name_key: Option<VerifyingKey> = pinned.copied();
    let mut line_no = 0u64;
    for line in LineCap::new(reader, MAX_LINE_BYTES).lines() {
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
            if name_key.is_none() {
                name_key = report.gate_key.as_deref().and_then(parse_key);
            }
        } else if report.gate.as_deref() != Some(&ev.event.body.gate)
            || (ev.gate_key.is_some() && ev.gate_key != report.gate_key)
        {
            return Err(VerifyError::MixedGates { line: line_no });
        }
        v.push(ev.event.clone()).map_err(|source| VerifyError::Chain { line: line_no, source })?;
        let outside = outside_fields(&line);
        if outside.count > 0 {
            report.unknown_fields.note(line_no, &outside.first);
        }
        let name = match &name_key {
            Some(k) => ev.check_name(k),
            None if ev.resident_name.is_some() => NameCheck::Unsigned,
            None => NameCheck::Absent,
        };
        match name {
            NameCheck::Signed => report.names_signed = report.names_signed.saturating_add(1),
            NameCheck::Unsigned => report.unsigned_names.note(line_no, &[]),
            NameCheck::Absent => {}
        }
        each(&ev, name);
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
        let line = ExportedEvent::new(e.clone(), Some(gate_key.to_string()));
        serde_json::to_writer(&mut *out, &line)?;
        out.write_all(b"\n")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn line_cap_passes_short_lines_and_stops_a_long_one_early() {
        use std::io::Read;
        let text = "a\nbb\n\nccc".to_string();
        let lines: Vec<String> = LineCap::new(std::io::BufReader::with_capacity(2, text.as_bytes()), 3)
            .lines()
            .map(|l| l.unwrap())
            .collect();
        assert_eq!(lines, ["a", "bb", "", "ccc"]);
        // a 10 MB line is refused after reading no more than the cap
        let long = format!("x\n{}\nnext\n", "y".repeat(10 << 20));
        let mut r = LineCap::new(std::io::BufReader::new(long.as_bytes()), 1024);
        let mut lines = (&mut r).lines();
        assert_eq!(lines.next().unwrap().unwrap(), "x");
        let e = lines.next().unwrap().unwrap_err();
        assert!(e.to_string().contains("longer than 1 KB"), "{e}");
        let mut rest = Vec::new();
        assert!(r.read_to_end(&mut rest).is_err());
    }

    use crate::domain::chain::{seal, EventBody, NameSigner, GENESIS};
    use ed25519_dalek::SigningKey;

    fn lines(n: u64, key: &SigningKey, names: bool) -> Vec<ExportedEvent> {
        let signer = NameSigner::new(key.clone());
        let key_hex = hex::encode(key.verifying_key().to_bytes());
        let mut prev = GENESIS.to_string();
        (1..=n)
            .map(|seq| {
                let body = EventBody {
                    seq,
                    at: "2026-11-30T04:00:00.000Z".into(),
                    gate: "east".into(),
                    community: "sunny".into(),
                    direction: Some("out".into()),
                    pass_id: Some(crate::domain::PassId(1)),
                    resident_id: Some(crate::domain::ResidentId(seq as u32)),
                    household: Some("1-101".into()),
                    temperature_c: None,
                    temperature_raw_c: None,
                    temperature_source: None,
                    decision: "allow".into(),
                    reasons: vec![],
                    warnings: vec![],
                    backfilled: false,
                    clock_suspect: false,
                    payload_digest: "00".into(),
                    kind: None,
                    operator: None,
                    purpose: None,
                    detail_digest: None,
                };
                let e = seal(body, &prev, key);
                prev = e.hash.clone();
                let line = ExportedEvent::new(e, Some(key_hex.clone()));
                if names {
                    line.with_signed_name(format!("居民{seq}"), &signer)
                } else {
                    line
                }
            })
            .collect()
    }

    fn text(evs: &[ExportedEvent]) -> String {
        evs.iter().map(|e| serde_json::to_string(e).unwrap() + "\n").collect()
    }

    fn verify(t: &str, pinned: Option<&VerifyingKey>) -> (Result<VerifyReport, VerifyError>, Vec<NameCheck>) {
        let mut seen = Vec::new();
        let r = verify_lines(t.as_bytes(), pinned, None, |_, n| seen.push(n));
        (r, seen)
    }

    #[test]
    fn signed_names_unsigned_names_and_unknown_fields_are_told_apart() {
        let k = SigningKey::from_bytes(&[5; 32]);
        let vk = k.verifying_key();
        // a share_names gate: every name signed
        let (r, seen) = verify(&text(&lines(4, &k, true)), Some(&vk));
        let r = r.unwrap();
        assert_eq!((r.events, r.names_signed, r.unsigned_names.lines, r.unknown_fields.lines), (4, 4, 0, 0));
        assert!(seen.iter().all(|n| *n == NameCheck::Signed));
        // without a pinned key, the file's own key checks them
        assert_eq!(verify(&text(&lines(4, &k, true)), None).0.unwrap().names_signed, 4);

        // names added to an ids-only export, plus a field of someone's own
        let forged: String = lines(4, &k, false)
            .iter()
            .map(|e| {
                let mut v = serde_json::to_value(e).unwrap();
                v["resident_name"] = serde_json::json!("冒名");
                v["share_names"] = serde_json::json!(true);
                format!("{v}\n")
            })
            .collect();
        let (r, seen) = verify(&forged, Some(&vk));
        let r = r.unwrap();
        assert_eq!((r.names_signed, r.unsigned_names.lines), (0, 4));
        assert_eq!(r.unsigned_names.first_lines, [1, 2, 3, 4]);
        assert_eq!((r.unknown_fields.lines, r.unknown_fields.fields.clone()), (4, vec!["share_names".to_string()]));
        assert!(seen.iter().all(|n| *n == NameCheck::Unsigned));

        // two lines' names (with their signatures) swapped: both refused
        let mut evs = lines(4, &k, true);
        let (a, b) = (evs[1].clone(), evs[2].clone());
        evs[1].resident_name = b.resident_name;
        evs[1].name_sig = b.name_sig;
        evs[2].resident_name = a.resident_name;
        evs[2].name_sig = a.name_sig;
        let (r, seen) = verify(&text(&evs), Some(&vk));
        let r = r.unwrap();
        assert_eq!((r.names_signed, r.unsigned_names.lines, r.unsigned_names.first_lines.clone()), (2, 2, vec![2, 3]));
        assert_eq!(seen, [NameCheck::Signed, NameCheck::Unsigned, NameCheck::Unsigned, NameCheck::Signed]);

        // names signed by another key are not this gate's
        let other = SigningKey::from_bytes(&[6; 32]);
        let mut evs = lines(2, &k, false);
        for e in &mut evs {
            *e = e.clone().with_signed_name("x".into(), &NameSigner::new(other.clone()));
        }
        assert_eq!(verify(&text(&evs), Some(&vk)).0.unwrap().unsigned_names.lines, 2);
    }

    #[test]
    fn an_eight_megabyte_line_is_refused_without_reading_it_whole() {
        let k = SigningKey::from_bytes(&[5; 32]);
        let mut t = text(&lines(2, &k, false));
        t.push_str(&format!("{{\"seq\": 3, \"pad\": \"{}\"}}\n", "x".repeat(8 << 20)));
        let (r, seen) = verify(&t, Some(&k.verifying_key()));
        let e = r.unwrap_err();
        assert!(matches!(&e, VerifyError::Io(d) if d.contains("longer than 64 KB")), "{e}");
        assert_eq!(seen.len(), 2);
        // the first-line peek is capped too
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("long.ndjson");
        std::fs::write(&p, format!("{}\n", "y".repeat(8 << 20))).unwrap();
        assert_eq!(first_line(&p), None);
        std::fs::write(&p, text(&lines(1, &k, false))).unwrap();
        assert_eq!(first_line(&p).unwrap()["seq"], 1);
    }
}
