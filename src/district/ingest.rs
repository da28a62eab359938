//! Storing a gate's events at the district, shared by `pull` (a page from
//! the gate's API) and `import` (a carried `events export` file).
//!
//! The rule, as in ODK's submissions: an event is keyed by (gate, seq); an
//! identical re-delivery is a no-op, a different event at a seq the
//! district already holds is a conflict. A conflict, or a new event that
//! does not link to the stored head, marks the gate `broken` and from then
//! on its events go to the quarantine table: they are kept, never merged,
//! never counted, until someone has looked at that gate.

use super::store::{GateRow, IngestTx, Source};
use super::{District, DistrictError, Result};
use crate::domain::chain::{check_signature, ChainError, ChainVerifier, ExportedEvent, NameCheck};
use crate::export::{self, VerifyError};
use crate::store::StoreError;
use ed25519_dalek::VerifyingKey;
use serde::Serialize;
use std::path::Path;

/// What one page or file did to the district database.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Ingested {
    pub added: u64,
    /// Events the district already held, identical.
    pub duplicates: u64,
    /// Events kept apart because the gate's chain is broken.
    pub quarantined: u64,
    /// Events older than the first one the district ever saw of this gate.
    pub older: u64,
    /// Set when this delivery found the chain broken.
    pub broke: Option<String>,
    /// Names stored (the gate key signed each for its event).
    pub names: u64,
    /// Names ignored: no valid gate signature for that event (added to a
    /// carried file, or moved from another line).
    pub names_ignored: u64,
}

impl Ingested {
    /// The warning a clerk sees, if any names were ignored.
    pub fn names_note(&self) -> Option<String> {
        (self.names_ignored > 0).then(|| {
            format!(
                "{} name(s) without a valid gate signature ignored (added outside the gate, or moved between lines)",
                self.names_ignored
            )
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The delivery starts after the stored head: events in between are missing.
    #[error("events {} to {} are missing", have.saturating_add(1), starts.saturating_sub(1))]
    Gap { have: u64, starts: u64 },
}

/// Feeds a gate's events, in seq order, into an open transaction.
pub struct Ingestor {
    gate_id: i64,
    head_seq: u64,
    head_hash: String,
    base_seq: u64,
    /// Why new events are quarantined (already broken, or broken now).
    broken: Option<String>,
    source: Source,
    now: String,
    /// Events from before the first one the district holds, kept until the
    /// same (verified) file reaches that first event: then they are proven
    /// to lead to it and are stored too (with what their name check said).
    earlier: Vec<(ExportedEvent, NameCheck)>,
    pub counts: Ingested,
}

impl Ingestor {
    pub fn new(gate: &GateRow, source: Source, now: &str) -> Ingestor {
        let broken = gate.broken().then(|| {
            format!(
                "held apart: the gate's chain is broken ({})",
                gate.chain_detail.as_deref().unwrap_or("see the gate's status")
            )
        });
        Ingestor {
            gate_id: gate.id,
            head_seq: gate.head_seq,
            head_hash: gate.head_hash.clone(),
            base_seq: gate.base_seq,
            broken,
            source,
            now: now.to_string(),
            earlier: Vec::new(),
            counts: Ingested::default(),
        }
    }

    /// Breaks the chain here: this and every later event goes to quarantine.
    pub fn break_chain(&mut self, tx: &IngestTx<'_>, detail: String) -> std::result::Result<(), StoreError> {
        if self.broken.is_none() {
            tx.flag_broken(self.gate_id, &detail)?;
            self.counts.broke = Some(detail.clone());
            self.broken = Some(detail);
        }
        Ok(())
    }

    fn hold(&mut self, tx: &IngestTx<'_>, ev: &ExportedEvent, name: NameCheck) -> std::result::Result<(), StoreError> {
        let reason = self.broken.as_deref().unwrap_or("held apart");
        if tx.quarantine(self.gate_id, ev, name == NameCheck::Signed, reason, self.source, &self.now)? {
            self.counts.quarantined += 1;
        } else {
            self.counts.duplicates += 1;
        }
        Ok(())
    }

    /// Takes the next event. Events must come in seq order and already be
    /// checked among themselves (links, hashes, the gate's signature);
    /// `name` is what its name signature says, checked with the same key:
    /// only a `Signed` name is stored.
    pub fn push(
        &mut self,
        tx: &IngestTx<'_>,
        ev: &ExportedEvent,
        name: NameCheck,
    ) -> std::result::Result<(), IngestError> {
        if name == NameCheck::Unsigned {
            self.counts.names_ignored += 1;
        }
        if self.broken.is_some() {
            return Ok(self.hold(tx, ev, name)?);
        }
        let seq = ev.event.body.seq;
        if seq <= self.head_seq {
            match tx.stored_hash(self.gate_id, seq)? {
                Some(h) if h == ev.event.hash => {
                    self.counts.duplicates += 1;
                    if let Some(n) = signed(ev, name) {
                        if tx.fill_name(self.gate_id, seq, n)? {
                            self.counts.names += 1;
                        }
                    }
                    if self.base_seq.checked_add(1) == Some(seq) {
                        self.take_earlier(tx)?;
                    }
                }
                Some(_) => {
                    self.break_chain(
                        tx,
                        format!(
                            "event {seq} differs from the copy the district collected earlier: \
                             the gate's log was edited, or its database replaced"
                        ),
                    )?;
                    self.hold(tx, ev, name)?;
                }
                None => self.earlier.push((ev.clone(), name)),
            }
            return Ok(());
        }
        if self.head_seq == 0 && self.base_seq == 0 && seq > 1 {
            // First sight of a gate that already purged its oldest events:
            // the chain is anchored at the first event received.
            self.base_seq = seq - 1;
            self.head_seq = seq - 1;
            self.head_hash = ev.event.prev_hash.clone();
        }
        if seq != self.head_seq + 1 {
            return Err(IngestError::Gap { have: self.head_seq, starts: seq });
        }
        if ev.event.prev_hash != self.head_hash {
            self.break_chain(
                tx,
                format!(
                    "event {seq} does not continue event {} the district holds: \
                     events were dropped or rewritten, or the gate's database was restored from an older backup",
                    self.head_seq
                ),
            )?;
            return Ok(self.hold(tx, ev, name)?);
        }
        self.insert(tx, ev, name)?;
        self.head_seq = seq;
        self.head_hash = ev.event.hash.clone();
        self.counts.added += 1;
        Ok(())
    }

    /// The earlier events held back lead, within one verified file, to the
    /// first event the district holds: store them and move the base down.
    fn take_earlier(&mut self, tx: &IngestTx<'_>) -> std::result::Result<(), StoreError> {
        let contiguous = self.earlier.last().is_some_and(|(last, _)| last.event.body.seq == self.base_seq)
            && self.earlier.iter().zip(self.earlier.iter().skip(1)).all(|((a, _), (b, _))| follows(a, b));
        if !contiguous {
            return Ok(());
        }
        let first = self.earlier.first().map(|(e, _)| e.event.body.seq).unwrap_or(1);
        for (ev, name) in std::mem::take(&mut self.earlier) {
            self.insert(tx, &ev, name)?;
            self.counts.added += 1;
        }
        self.base_seq = first.saturating_sub(1);
        Ok(())
    }

    /// Records the new head; the caller commits.
    pub fn finish(mut self, tx: &IngestTx<'_>) -> std::result::Result<Ingested, StoreError> {
        // earlier events that never reached what the district holds
        self.counts.older += self.earlier.len() as u64;
        tx.set_head(self.gate_id, self.head_seq, &self.head_hash, self.base_seq)?;
        if self.counts.names > 0 {
            tx.set_names_shared(self.gate_id)?;
        }
        Ok(self.counts)
    }

    fn insert(
        &mut self,
        tx: &IngestTx<'_>,
        ev: &ExportedEvent,
        name: NameCheck,
    ) -> std::result::Result<(), StoreError> {
        let name = signed(ev, name);
        tx.insert_event(self.gate_id, ev, name, self.source)?;
        if name.is_some() {
            self.counts.names += 1;
        }
        Ok(())
    }
}

/// The line's name, if its check said the gate signed it.
fn signed(ev: &ExportedEvent, check: NameCheck) -> Option<&str> {
    match check {
        NameCheck::Signed => ev.resident_name.as_deref(),
        NameCheck::Absent | NameCheck::Unsigned => None,
    }
}

/// `b` is the event right after `a` (a seq at the top of u64 has no next).
fn follows(a: &ExportedEvent, b: &ExportedEvent) -> bool {
    a.event.body.seq.checked_add(1) == Some(b.event.body.seq)
}

/// Checks a page on its own: the events link to each other, none was
/// edited, and the gate's key signed the last good one. Returns how many
/// leading events passed, and why the rest did not.
pub fn check_page(events: &[ExportedEvent], key: &VerifyingKey) -> (usize, Option<String>) {
    let mut v = ChainVerifier::anywhere();
    let mut good = events.len();
    let mut problem = None;
    for (i, ev) in events.iter().enumerate() {
        if let Err(e) = v.push(ev.event.clone()) {
            good = i;
            problem = Some(e.to_string());
            break;
        }
    }
    if let Some(last) = good.checked_sub(1).and_then(|i| events.get(i)) {
        if !check_signature(&last.event, key) {
            let seq = last.event.body.seq;
            return (0, Some(ChainError::BadSignature { seq }.to_string()));
        }
    }
    (good, problem)
}

/// The result of `district import`.
#[derive(Debug, Clone, Serialize)]
pub struct ImportReport {
    pub file: String,
    pub gate: String,
    pub community: String,
    pub gate_key: String,
    /// The gate was unknown and its key was pinned from this file.
    pub newly_pinned: bool,
    pub events_in_file: u64,
    pub first_seq: Option<u64>,
    pub last_seq: Option<u64>,
    #[serde(flatten)]
    pub counts: Ingested,
    /// Lines with fields outside the gate's signature (ignored).
    pub unknown_fields: export::LinesNoted,
    pub chain_status: String,
}

/// The identity fields of the first event in a file, read before checking
/// it so the right pinned key can be chosen.
fn peek_identity(path: &Path) -> Option<(String, String, Option<String>)> {
    let v = export::first_line(path)?;
    let s = |k: &str| v.get(k).and_then(|x| x.as_str()).map(str::to_string);
    Some((s("gate")?, s("community")?, s("gate_key")))
}

/// Imports a carried export file: checks it whole (refusing it, with the
/// line, if altered, truncated or reordered) and stores it in one
/// transaction, continuing what the district already holds of that gate.
pub fn import_file(d: &mut District, path: &Path, now: &str) -> Result<ImportReport> {
    let file = path.display().to_string();
    let unreadable = |e: std::io::Error| DistrictError::FileUnreadable { file: file.clone(), detail: e.to_string() };
    let text_len = std::fs::metadata(path).map_err(unreadable)?.len();
    // (only a small file can be all blank lines; a big one is never read twice)
    if text_len < 4096 && std::fs::read(path).map_err(unreadable)?.iter().all(|b| b.is_ascii_whitespace()) {
        return Err(DistrictError::EmptyFile { file });
    }
    let identity = peek_identity(path);
    let known = match &identity {
        Some((gate, community, key)) => match key.as_deref().map(|k| d.store.gate_by_key(k)).transpose()?.flatten() {
            Some(g) => Some(g),
            None => d.store.gate_by_name(community, gate)?,
        },
        None => None,
    };
    let pinned = match &known {
        Some(g) => Some(export::parse_key(&g.gate_key).ok_or_else(|| DistrictError::Gate {
            gate: g.name.clone(),
            detail: "the pinned key in the district database is not a valid key".into(),
        })?),
        None => None,
    };
    // (verify_lines caps the line length)
    let reader = std::io::BufReader::new(std::fs::File::open(path).map_err(unreadable)?);

    let tx = d.store.begin()?;
    let gate = match known {
        Some(g) => g,
        None => {
            // Pin the file's key on first sight; if the file turns out bad
            // the transaction (and this registration) is rolled back.
            let (name, community, key) = identity.clone().ok_or_else(|| DistrictError::FileRefused {
                file: file.clone(),
                source: VerifyError::NotAnEvent { line: 1, detail: "the first line is not a gatepass event".into() },
            })?;
            let key =
                key.ok_or_else(|| DistrictError::FileRefused { file: file.clone(), source: VerifyError::NoKey })?;
            let id = tx.add_gate(&name, &community, &key, now)?;
            tx.gate(id)?.ok_or_else(|| DistrictError::Usage("the gate just registered is missing".into()))?
        }
    };
    let newly_pinned = pinned.is_none();
    let mut ing = Ingestor::new(&gate, Source::Import, now);
    let mut failure: Option<IngestError> = None;
    let verified = export::verify_lines(reader, pinned.as_ref(), None, |ev, name| {
        if failure.is_none() {
            if let Err(e) = ing.push(&tx, ev, name) {
                failure = Some(e);
            }
        }
    });
    let report = verified.map_err(|source| DistrictError::FileRefused { file: file.clone(), source })?;
    match failure {
        Some(IngestError::Store(e)) => return Err(e.into()),
        Some(IngestError::Gap { have, starts }) => {
            return Err(DistrictError::ImportGap { file, gate: gate.name, have, starts });
        }
        None => {}
    }
    if report.events == 0 {
        return Err(DistrictError::EmptyFile { file });
    }
    let counts = ing.finish(&tx)?;
    tx.commit()?;
    let after = d.store.gate(gate.id)?;
    Ok(ImportReport {
        file,
        gate: gate.name,
        community: gate.community,
        gate_key: gate.gate_key,
        newly_pinned,
        events_in_file: report.events,
        first_seq: report.first_seq,
        last_seq: report.last_seq,
        counts,
        unknown_fields: report.unknown_fields,
        chain_status: after.map(|g| g.chain_status).unwrap_or_default(),
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::district::store::DistrictStore;
    use crate::domain::chain::{seal, EventBody, GENESIS};
    use ed25519_dalek::SigningKey;

    fn body(seq: u64, temp: f64) -> EventBody {
        EventBody {
            seq,
            at: format!("2025-03-10T01:{:02}:00.000Z", seq % 60),
            gate: "东门".into(),
            community: "阳光花园".into(),
            direction: Some("out".into()),
            pass_id: Some(crate::domain::PassId(1)),
            resident_id: Some(crate::domain::ResidentId(10000000 + seq as u32)),
            household: Some("1-101".into()),
            temperature_c: Some(temp),
            temperature_raw_c: Some(temp),
            temperature_source: Some("manual".into()),
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
        }
    }

    /// A chain of `n` events; `alt` changes the temperature of every event
    /// from that seq on (an alternative history signed by the same key).
    pub(crate) fn chain(n: u64, key: &SigningKey, alt: Option<u64>) -> Vec<ExportedEvent> {
        let mut prev = GENESIS.to_string();
        (1..=n)
            .map(|s| {
                let t = if alt.is_some_and(|a| s >= a) { 36.9 } else { 36.5 };
                let e = seal(body(s, t), &prev, key);
                prev = e.hash.clone();
                ExportedEvent::new(e, None)
            })
            .collect()
    }

    pub(crate) fn feed(
        s: &mut DistrictStore,
        gate_id: i64,
        evs: &[ExportedEvent],
    ) -> std::result::Result<Ingested, IngestError> {
        let g = s.gate(gate_id).unwrap().unwrap();
        let tx = s.begin().unwrap();
        let mut ing = Ingestor::new(&g, Source::Pull, "now");
        for e in evs {
            ing.push(&tx, e, NameCheck::Absent)?;
        }
        let c = ing.finish(&tx)?;
        tx.commit().unwrap();
        Ok(c)
    }

    fn setup() -> (DistrictStore, i64, SigningKey) {
        let key = SigningKey::from_bytes(&[9; 32]);
        let s = DistrictStore::open_in_memory().unwrap();
        let id =
            s.add_gate("东门", "阳光花园", &hex::encode(key.verifying_key().to_bytes()), None, None, "now").unwrap();
        (s, id, key)
    }

    #[test]
    fn redelivery_is_a_no_op_and_overlap_adds_only_new() {
        let (mut s, id, key) = setup();
        let evs = chain(6, &key, None);
        assert_eq!(feed(&mut s, id, &evs[..4]).unwrap().added, 4);
        let c = feed(&mut s, id, &evs).unwrap();
        assert_eq!((c.added, c.duplicates, c.quarantined), (2, 4, 0));
        let c = feed(&mut s, id, &evs).unwrap();
        assert_eq!((c.added, c.duplicates), (0, 6));
        assert_eq!(s.gate(id).unwrap().unwrap().head_seq, 6);
        assert_eq!(s.event_count().unwrap(), 6);
    }

    #[test]
    fn a_different_event_at_a_held_seq_breaks_the_gate() {
        let (mut s, id, key) = setup();
        feed(&mut s, id, &chain(5, &key, None)).unwrap();
        // the gate's log rewritten from event 3 on (e.g. restored and re-scanned)
        let other = chain(7, &key, Some(3));
        let c = feed(&mut s, id, &other).unwrap();
        assert_eq!((c.added, c.duplicates, c.quarantined), (0, 2, 5));
        let g = s.gate(id).unwrap().unwrap();
        assert!(g.broken());
        assert!(g.chain_detail.unwrap().contains("event 3 differs"));
        assert_eq!((g.head_seq, g.events, g.quarantined), (5, 5, 5));
        // later deliveries of that gate stay apart; re-delivery stores nothing twice
        let c = feed(&mut s, id, &other).unwrap();
        assert_eq!((c.added, c.quarantined), (0, 2));
        assert_eq!(s.gate(id).unwrap().unwrap().quarantined, 7);
    }

    #[test]
    fn a_new_event_that_does_not_link_breaks_the_gate_and_a_gap_is_reported() {
        let (mut s, id, key) = setup();
        feed(&mut s, id, &chain(3, &key, None)).unwrap();
        let other = chain(5, &key, Some(2));
        let c = feed(&mut s, id, &other[3..]).unwrap();
        assert_eq!((c.added, c.quarantined), (0, 2));
        assert!(c.broke.unwrap().contains("does not continue event 3"));

        let (mut s, id, key) = setup();
        feed(&mut s, id, &chain(3, &key, None)).unwrap();
        let evs = chain(8, &key, None);
        assert!(matches!(feed(&mut s, id, &evs[5..]), Err(IngestError::Gap { have: 3, starts: 6 })));
    }

    #[test]
    fn first_sight_after_a_purge_anchors_there() {
        let (mut s, id, key) = setup();
        let evs = chain(8, &key, None);
        let c = feed(&mut s, id, &evs[4..]).unwrap();
        assert_eq!(c.added, 4);
        let g = s.gate(id).unwrap().unwrap();
        assert_eq!((g.base_seq, g.head_seq), (4, 8));
        // earlier events alone cannot be shown to lead to the anchor...
        assert_eq!(feed(&mut s, id, &evs[..3]).unwrap().older, 3);
        // ...a whole file that reaches it can: the district fills the start in
        let c = feed(&mut s, id, &evs).unwrap();
        assert_eq!((c.added, c.older, c.duplicates), (4, 0, 4));
        let g = s.gate(id).unwrap().unwrap();
        assert_eq!((g.base_seq, g.head_seq, g.events), (0, 8, 8));
    }

    #[test]
    fn check_page_finds_the_first_bad_event_and_a_foreign_key() {
        let key = SigningKey::from_bytes(&[9; 32]);
        let mut evs = chain(5, &key, None);
        assert_eq!(check_page(&evs, &key.verifying_key()), (5, None));
        evs[3].event.body.decision = "deny".into();
        let (good, why) = check_page(&evs, &key.verifying_key());
        assert_eq!(good, 3);
        assert!(why.unwrap().contains("event 4"));
        let other = SigningKey::from_bytes(&[8; 32]);
        let (good, why) = check_page(&chain(5, &other, None), &key.verifying_key());
        assert_eq!(good, 0);
        assert!(why.unwrap().contains("signature"));
    }

    /// Writes a sealed export of `n` events, imports it, then imports it
    /// again; returns the seconds of each import.
    fn import_twice(n: u64, names: bool) -> (f64, f64) {
        let key = SigningKey::from_bytes(&[9; 32]);
        let signer = crate::domain::chain::NameSigner::new(key.clone());
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("export.ndjson");
        {
            use std::io::Write;
            let mut f = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
            let key_hex = hex::encode(key.verifying_key().to_bytes());
            let mut prev = GENESIS.to_string();
            for s in 1..=n {
                let e = seal(body(s, 36.5), &prev, &key);
                prev = e.hash.clone();
                let mut line = ExportedEvent::new(e, Some(key_hex.clone()));
                if names {
                    line = line.with_signed_name(format!("居民{s}"), &signer);
                }
                serde_json::to_writer(&mut f, &line).unwrap();
                f.write_all(b"\n").unwrap();
            }
        }
        let ddir = dir.path().join("district");
        let mut d = crate::district::District::init(&ddir).unwrap();
        let t = std::time::Instant::now();
        let r = import_file(&mut d, &path, "now").unwrap();
        let first = t.elapsed().as_secs_f64();
        assert_eq!((r.counts.added, r.counts.duplicates), (n, 0));
        assert_eq!((r.counts.names, r.counts.names_ignored), (if names { n } else { 0 }, 0));
        let t = std::time::Instant::now();
        let r = import_file(&mut d, &path, "now").unwrap();
        let again = t.elapsed().as_secs_f64();
        assert_eq!((r.counts.added, r.counts.duplicates), (0, n));
        (first, again)
    }

    /// The same path as the measurement below, small enough for every run.
    #[test]
    fn a_large_export_imports_once_and_again_as_duplicates() {
        import_twice(2_000, false);
        import_twice(300, true);
    }

    /// Ingest speed for the README's table (a measurement, not a check).
    #[test]
    #[ignore = "a speed measurement on 200,000 events, meaningful only in release: cargo test --release --lib ingest_speed -- --ignored --nocapture"]
    fn ingest_speed() {
        let n = 200_000u64;
        for names in [false, true] {
            let what = if names { "with signed names" } else { "ids only" };
            let (first, again) = import_twice(n, names);
            println!(
                "ingest, {what}: {n} events (parse + verify chain + store, one transaction) in {first:.2} s = {:.0} events/s",
                n as f64 / first
            );
            println!("re-import, {what}: {n} duplicates in {again:.2} s = {:.0} events/s", n as f64 / again);
        }
    }
}
