//! The gate: one data directory (config, database, keys) and the operations
//! guards and committees perform on it. The CLI and the HTTP daemon both go
//! through here, so `gatepass scan` decides exactly as the gate does.

use crate::clock::{self, ClockState};
use crate::config::{self, Config, ConfigError};
use crate::domain::chain::{self, EventBody};
use crate::domain::pass::{self, PassClaims, PassError, PassKind};
use crate::domain::policy::{Policy, PolicyDoc};
use crate::domain::register::{self, Rejection};
use crate::domain::rules::{self, Decision, Direction, Holder, Outcome, PassRecord, Presence, Reason, Warning};
use crate::domain::Category;
use crate::keys::{self, KeyError};
use crate::store::{self, ImportCounts, PassRow, ResidentView, Store, StoreError};
use chrono::{DateTime, Days, NaiveDate, SecondsFormat, Utc};
use ed25519_dalek::{SigningKey, VerifyingKey};
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

pub const DB_FILE: &str = "gatepass.db";

#[derive(Debug, thiserror::Error)]
pub enum GateError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Key(#[from] KeyError),
    #[error("{0}")]
    Usage(String),
    /// The register file as a whole cannot be read (see its `code()`).
    #[error(transparent)]
    Register(#[from] register::RegisterError),
    #[error("{0} is not a gatepass data directory (no {db}); run `gatepass init --community NAME --gate NAME` first", db = DB_FILE)]
    NotInitialised(String),
    #[error("{0} already holds a gatepass data directory; choose another --data-dir")]
    AlreadyInitialised(String),
    #[error("I/O error on {path}: {source}")]
    Io { path: String, source: std::io::Error },
}

pub type Result<T> = std::result::Result<T, GateError>;

/// A temperature with where it came from.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Temperature {
    pub celsius: f64,
    pub raw_celsius: f64,
    /// "serial", "i2c" or "manual"
    pub source: &'static str,
}

impl Temperature {
    pub fn manual(c: f64) -> Temperature {
        Temperature { celsius: c, raw_celsius: c, source: "manual" }
    }
}

/// Typed temperatures outside this range are typing mistakes, not readings.
pub const PLAUSIBLE_C: std::ops::RangeInclusive<f64> = 30.0..=45.0;

#[derive(Debug, Clone)]
pub struct ScanRequest {
    pub payload: String,
    pub direction: Option<Direction>,
    pub temperature: Option<Temperature>,
    /// Backfill from the paper register: the crossing's real time.
    pub backfill_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ResidentRef {
    pub id: u32,
    pub name: String,
    pub household: String,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct HouseholdUsage {
    pub outings_used: u32,
    pub outings_allowed: u32,
    pub period_days: u32,
    pub members_out: Vec<String>,
}

/// What a scan answers: the contract's fields plus what the guard page shows.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ScanOutcome {
    pub decision: Decision,
    pub direction: Option<Direction>,
    pub reasons: Vec<Reason>,
    pub warnings: Vec<Warning>,
    pub event_seq: u64,
    pub resident: Option<ResidentRef>,
    pub temperature_c: Option<f64>,
    pub temperature_source: Option<&'static str>,
    pub at: String,
    pub pass_id: Option<u32>,
    pub category: Option<Category>,
    pub household_usage: Option<HouseholdUsage>,
    pub backfilled: bool,
    pub clock_suspect: bool,
}

/// Identity of this gate, read once at open.
#[derive(Debug, Clone)]
pub struct Identity {
    pub community: String,
    pub community_id: u32,
    pub gate: String,
}

pub struct Gate {
    pub data_dir: PathBuf,
    pub config: Config,
    pub store: Store,
    pub identity: Identity,
    gate_key: SigningKey,
}

pub fn now_text(now: DateTime<Utc>) -> String {
    now.to_rfc3339_opts(SecondsFormat::Millis, true)
}

impl Gate {
    /// Creates a data directory: config, database, gate key, community key.
    pub fn init(data_dir: &Path, community: &str, gate: &str, now: DateTime<Utc>) -> Result<Gate> {
        let community = community.trim();
        let gate = gate.trim();
        if community.is_empty() || gate.is_empty() {
            return Err(GateError::Usage("--community and --gate must not be empty".into()));
        }
        let io = |source| GateError::Io { path: data_dir.display().to_string(), source };
        std::fs::create_dir_all(data_dir).map_err(io)?;
        if data_dir.join(DB_FILE).exists() {
            return Err(GateError::AlreadyInitialised(data_dir.display().to_string()));
        }
        let cfg_path = data_dir.join(config::FILE_NAME);
        if !cfg_path.exists() {
            std::fs::write(&cfg_path, config::default_file(community, gate)).map_err(io)?;
        }
        let store = Store::open(&data_dir.join(DB_FILE))?;
        let mut id = [0u8; 4];
        store::getrandom(&mut id);
        let community_id = u32::from_le_bytes(id);
        store.set_meta("community", community)?;
        store.set_meta("community_id", &community_id.to_string())?;
        store.set_meta("gate", gate)?;
        store.set_meta("created_at", &now_text(now))?;
        let gate_key = keys::generate();
        keys::save(&keys::gate_key_path(data_dir), &gate_key)?;
        store.set_meta("gate_public_key", &hex::encode(gate_key.verifying_key().to_bytes()))?;
        let ck = keys::generate();
        let key_id = store.add_key(&hex::encode(ck.verifying_key().to_bytes()), &now_text(now))?;
        keys::save(&keys::community_key_path(data_dir, key_id), &ck)?;
        store.audit(&now_text(now), "cli", "init", &serde_json::json!({"community": community, "gate": gate}))?;
        drop(store);
        Gate::open(data_dir)
    }

    pub fn open(data_dir: &Path) -> Result<Gate> {
        let db = data_dir.join(DB_FILE);
        if !db.exists() {
            return Err(GateError::NotInitialised(data_dir.display().to_string()));
        }
        let config = Config::load(&data_dir.join(config::FILE_NAME))?;
        let store = Store::open(&db)?;
        let meta = |k: &str| -> Result<String> {
            store
                .meta(k)?
                .ok_or_else(|| GateError::NotInitialised(format!("{} (meta '{k}' missing)", data_dir.display())))
        };
        let identity = Identity {
            community: meta("community")?,
            community_id: meta("community_id")?.parse().unwrap_or(0),
            gate: meta("gate")?,
        };
        let gate_key = keys::load(&keys::gate_key_path(data_dir))?;
        Ok(Gate { data_dir: data_dir.to_path_buf(), config, store, identity, gate_key })
    }

    pub fn gate_public_key(&self) -> VerifyingKey {
        self.gate_key.verifying_key()
    }

    /// The rules in force: `[policy]` from the file, then the committee's
    /// changes made through the pages or API.
    pub fn policy(&self) -> Result<Policy> {
        match self.store.policy_override()? {
            Some(doc) => Ok(self.config.policy.apply(&doc).map_err(GateError::Usage)?),
            None => Ok(self.config.policy.clone()),
        }
    }

    pub fn set_policy(&mut self, doc: &PolicyDoc, actor: &str, now: DateTime<Utc>) -> Result<Policy> {
        let current = self.store.policy_override()?.unwrap_or_default();
        let merged = merge_docs(&current, doc);
        let policy = self.config.policy.apply(&merged).map_err(GateError::Usage)?;
        self.store.set_policy_override(&merged)?;
        self.store.audit(&now_text(now), actor, "policy.set", &serde_json::to_value(doc).unwrap_or_default())?;
        Ok(policy)
    }

    pub fn clock_state(&self, now: DateTime<Utc>) -> Result<ClockState> {
        let newest = self.store.newest_event_ms()?.and_then(DateTime::<Utc>::from_timestamp_millis);
        Ok(clock::assess(now, clock::time_source(self.config.gate.trust_clock), newest))
    }

    fn verifying_keys(&self) -> Result<Vec<(u16, VerifyingKey)>> {
        Ok(self
            .store
            .keys()?
            .into_iter()
            .filter(|k| k.retired_at.is_none())
            .filter_map(|k| {
                let bytes: [u8; 32] = hex::decode(&k.public_key).ok()?.try_into().ok()?;
                Some((k.key_id, VerifyingKey::from_bytes(&bytes).ok()?))
            })
            .collect())
    }

    // ---- scanning --------------------------------------------------------

    /// Decides and records a batch of scans in one transaction: one fsync
    /// for all, and no answer exists before the commit has returned. If the
    /// commit fails, every scan of the batch fails (fail closed).
    pub fn scan_batch(&mut self, reqs: &[ScanRequest], now: DateTime<Utc>) -> Result<Vec<ScanOutcome>> {
        let policy = self.policy()?;
        let keys = self.verifying_keys()?;
        let clock_suspect = !self.clock_state(now)?.trusted;
        let ident = self.identity.clone();
        let tx = self.store.begin_scans()?;
        let (mut seq, mut prev) = tx.head()?;
        let mut out = Vec::with_capacity(reqs.len());
        for req in reqs {
            seq += 1;
            let at = req.backfill_at.unwrap_or(now);
            let temp = req.temperature;
            let t = temp.map(|t| t.celsius);
            let resolved = resolve(&tx, &req.payload, ident.community_id, &keys, at, &policy)?;
            let (outcome, resident, claims) = match resolved {
                Err((reason, claims)) => {
                    // A real card refused for its state (revoked, expired,
                    // not yet valid) still says whose it is: the guard sees
                    // the name, the log and the district see the resident.
                    let known = match (reason, claims) {
                        (Reason::Revoked | Reason::Expired | Reason::NotYetValid, Some(c)) => {
                            tx.resident(c.resident_id)?
                        }
                        _ => None,
                    };
                    match known {
                        Some(r) => {
                            let (category, holder, others) = load_holder(&tx, &r, at, &policy)?;
                            let direction = req.direction.or(Some(rules::inferred_direction(&holder.presence)));
                            (
                                Outcome::refused(reason, direction, t, &policy),
                                Some((r, category, holder, others)),
                                claims,
                            )
                        }
                        None => (Outcome::refused(reason, req.direction, t, &policy), None, claims),
                    }
                }
                Ok((claims, resident, typed)) => {
                    let (category, holder, others) = load_holder(&tx, &resident, at, &policy)?;
                    let mut o = rules::decide(&holder, req.direction, t, at, &policy);
                    if typed {
                        o.warnings.push(Warning::TypedPassNumber);
                    }
                    (o, Some((resident, category, holder, others)), Some(claims))
                }
            };
            let body = EventBody {
                seq,
                at: now_text(at),
                gate: ident.gate.clone(),
                community: ident.community.clone(),
                direction: outcome.direction.map(|d| d.as_str().to_string()),
                pass_id: claims.map(|c| c.pass_id),
                resident_id: resident.as_ref().map(|r| r.0.id),
                household: resident.as_ref().map(|r| r.0.household.clone()),
                temperature_c: t,
                temperature_raw_c: temp.map(|t| t.raw_celsius),
                temperature_source: temp.map(|t| t.source.to_string()),
                decision: outcome.decision.as_str().to_string(),
                reasons: outcome.reasons.iter().map(|r| r.as_str().to_string()).collect(),
                warnings: outcome.warnings.iter().map(|w| w.as_str().to_string()).collect(),
                backfilled: req.backfill_at.is_some(),
                clock_suspect,
                payload_digest: hex::encode(&Sha256::digest(req.payload.trim().as_bytes())[..8]),
            };
            let ev = chain::seal(body, &prev, &self.gate_key);
            tx.append(&ev, at.timestamp_millis())?;
            prev = ev.hash.clone();
            let mut usage = None;
            if let Some((r, category, holder, others)) = &resident {
                let crossed = outcome.decision != Decision::Deny;
                match outcome.direction {
                    Some(Direction::Out) if crossed => {
                        tx.set_presence(r.id, "out", at.timestamp_millis(), seq)?;
                        tx.add_outing(seq, r.household_id, r.id, at.timestamp_millis(), !category.is_essential())?;
                    }
                    Some(Direction::In) if crossed => tx.set_presence(r.id, "in", at.timestamp_millis(), seq)?,
                    _ => {}
                }
                let mut used = rules::outings_in_period(&holder.household_exits, at, &policy);
                if crossed && outcome.direction == Some(Direction::Out) && !category.is_essential() {
                    used += 1;
                }
                let mut members_out: Vec<String> = others.iter().map(|o| o.0.clone()).collect();
                if crossed && outcome.direction == Some(Direction::Out) {
                    members_out.push(r.name.clone());
                }
                usage = Some(HouseholdUsage {
                    outings_used: used,
                    outings_allowed: policy.outings_per_period,
                    period_days: policy.period_days,
                    members_out,
                });
            }
            out.push(ScanOutcome {
                decision: outcome.decision,
                direction: outcome.direction,
                reasons: outcome.reasons,
                warnings: outcome.warnings,
                event_seq: seq,
                resident: resident.as_ref().map(|(r, ..)| ResidentRef {
                    id: r.id,
                    name: r.name.clone(),
                    household: r.household.clone(),
                }),
                temperature_c: t,
                temperature_source: temp.map(|t| t.source),
                at: at.with_timezone(&policy.timezone).to_rfc3339_opts(SecondsFormat::Millis, false),
                pass_id: claims.map(|c| c.pass_id),
                category: resident.as_ref().map(|r| r.1),
                household_usage: usage,
                backfilled: req.backfill_at.is_some(),
                clock_suspect,
            });
        }
        tx.commit()?;
        Ok(out)
    }

    // ---- the register ------------------------------------------------------

    pub fn import_register(
        &mut self,
        file: &[u8],
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<(ImportCounts, Vec<Rejection>)> {
        self.import_register_sheet(file, None, actor, now)
    }

    /// Imports a register file: CSV (UTF-8, GBK, GB18030) or `.xlsx`, whose
    /// `sheet` (the first when None) is read.
    pub fn import_register_sheet(
        &mut self,
        file: &[u8],
        sheet: Option<&str>,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<(ImportCounts, Vec<Rejection>)> {
        let parsed = register::parse_file(file, sheet)?;
        self.import_parsed_register(parsed, actor, now)
    }

    /// Lands rows already read (the daemon reads the file off the writer
    /// thread, so a large workbook does not hold up scans).
    pub fn import_parsed_register(
        &mut self,
        parsed: register::ParsedRegister,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<(ImportCounts, Vec<Rejection>)> {
        let counts = self.store.import_register(&parsed.rows)?;
        self.store.audit(
            &now_text(now),
            actor,
            "register.import",
            &serde_json::json!({"added": counts.added, "updated": counts.updated, "rejected": parsed.rejected.len()}),
        )?;
        Ok((counts, parsed.rejected))
    }

    pub fn set_category(
        &mut self,
        household: &str,
        name: &str,
        category: Category,
        until: Option<NaiveDate>,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<ResidentView> {
        let r = self.store.find_resident(household, name)?;
        self.set_category_by_id(r.id, category, until, actor, now)
    }

    pub fn set_category_by_id(
        &mut self,
        resident_id: u32,
        category: Category,
        until: Option<NaiveDate>,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<ResidentView> {
        let r = self
            .store
            .resident(resident_id)?
            .ok_or_else(|| GateError::Store(StoreError::NotFound(format!("no resident {resident_id}"))))?;
        self.store.set_category(r.id, category, until)?;
        self.store.audit(
            &now_text(now),
            actor,
            "resident.category",
            &serde_json::json!({"resident_id": r.id, "household": r.household, "from": r.category, "to": category, "until": until}),
        )?;
        Ok(self.store.resident(r.id)?.unwrap_or(r))
    }

    // ---- passes ------------------------------------------------------------

    /// Signs a pass for each chosen resident with the newest active key.
    pub fn issue_passes(
        &mut self,
        household: Option<&str>,
        valid_from: NaiveDate,
        valid_days: u32,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<Vec<(PassRow, ResidentView)>> {
        if valid_days == 0 || valid_days > 366 {
            return Err(GateError::Usage("--valid-days must be between 1 and 366".into()));
        }
        let valid_until = valid_from
            .checked_add_days(Days::new(u64::from(valid_days - 1)))
            .ok_or_else(|| GateError::Usage("validity runs past the calendar".into()))?;
        let (key_id, key) = self.signing_key()?;
        let residents: Vec<ResidentView> = match household {
            Some(code) => {
                if !self.store.household_exists(code)? {
                    return Err(GateError::Usage(format!(
                        "no household '{code}' in the register (see `gatepass household list`)"
                    )));
                }
                self.store.residents()?.into_iter().filter(|r| r.household == code).collect()
            }
            None => self.store.residents()?,
        };
        if residents.is_empty() {
            return Err(GateError::Usage(
                "the register is empty: import it first with `gatepass household import FILE.csv`".into(),
            ));
        }
        let community = self.identity.community_id;
        let stamp = now_text(now);
        let rows = self.store.insert_passes(&residents, key_id, valid_from, valid_until, &stamp, |pass_id, r| {
            PassClaims {
                kind: PassKind::Resident,
                community,
                key_id,
                pass_id,
                resident_id: r.id,
                household_id: r.household_id,
                valid_from,
                valid_until,
            }
            .sign(&key)
            .map_err(|e| e.to_string())
        })?;
        let out: Vec<(PassRow, ResidentView)> = rows.into_iter().zip(residents).collect();
        self.store.audit(
            &stamp,
            actor,
            "pass.issue",
            &serde_json::json!({"count": out.len(), "household": household, "valid_from": valid_from, "valid_until": valid_until}),
        )?;
        Ok(out)
    }

    /// Revokes a pass; false when it was already revoked.
    pub fn revoke_pass(&mut self, pass_id: u32, reason: &str, actor: &str, now: DateTime<Utc>) -> Result<bool> {
        if reason.trim().is_empty() {
            return Err(GateError::Usage("give a reason (--reason \"lost\")".into()));
        }
        if !self.store.revoke_pass(pass_id, reason.trim(), &now_text(now))? {
            return Ok(false);
        }
        self.store.audit(
            &now_text(now),
            actor,
            "pass.revoke",
            &serde_json::json!({"pass_id": pass_id, "reason": reason.trim()}),
        )?;
        Ok(true)
    }

    fn signing_key(&self) -> Result<(u16, SigningKey)> {
        let active = self
            .store
            .keys()?
            .into_iter()
            .filter(|k| k.retired_at.is_none())
            .max_by_key(|k| k.key_id)
            .ok_or_else(|| GateError::Usage("no active community key: run `gatepass key rotate`".into()))?;
        let key = keys::load(&keys::community_key_path(&self.data_dir, active.key_id))?;
        Ok((active.key_id, key))
    }

    /// A new community key; earlier keys stay valid until retired.
    pub fn rotate_key(&mut self, actor: &str, now: DateTime<Utc>) -> Result<u16> {
        let k = keys::generate();
        let next = self.store.keys()?.iter().map(|k| k.key_id).max().unwrap_or(0) + 1;
        // the secret first: a public key without its secret would be a key
        // nobody can sign with
        keys::save(&keys::community_key_path(&self.data_dir, next), &k)?;
        let id = self.store.add_key(&hex::encode(k.verifying_key().to_bytes()), &now_text(now))?;
        self.store.audit(&now_text(now), actor, "key.rotate", &serde_json::json!({"key_id": id}))?;
        Ok(id)
    }

    pub fn retire_key(&mut self, key_id: u16, actor: &str, now: DateTime<Utc>) -> Result<()> {
        let active: Vec<u16> = self.store.keys()?.iter().filter(|k| k.retired_at.is_none()).map(|k| k.key_id).collect();
        if active == [key_id] {
            return Err(GateError::Usage(format!(
                "key {key_id} is the only active key; run `gatepass key rotate` first, then retire it"
            )));
        }
        self.store.retire_key(key_id, &now_text(now))?;
        self.store.audit(&now_text(now), actor, "key.retire", &serde_json::json!({"key_id": key_id}))?;
        Ok(())
    }
}

/// What a retention run removed.
#[derive(Debug, Clone, Serialize)]
pub struct PurgeReport {
    pub purged: u64,
    pub through_seq: u64,
    pub checkpoint_hash: String,
}

impl Gate {
    /// Remembers that everything up to `seq` is safe elsewhere: `key` is
    /// "collected_seq" (the district pulled after it) or "exported_seq" (an
    /// export written to a file).
    pub fn note_safe_elsewhere(&self, key: &str, seq: u64) -> Result<()> {
        let current: u64 = self.store.meta(key)?.and_then(|v| v.parse().ok()).unwrap_or(0);
        if seq > current {
            self.store.set_meta(key, &seq.to_string())?;
        }
        Ok(())
    }

    /// `[retention] days = N`: removes events older than N days that the
    /// district has collected or that were exported to a file, after
    /// checking their chain, and keeps a signed checkpoint of the removed
    /// prefix so the rest of the log still verifies.
    pub fn apply_retention(&mut self, now: DateTime<Utc>) -> Result<Option<PurgeReport>> {
        let days = self.config.retention.days;
        if days == 0 {
            return Ok(None);
        }
        let safe = |k: &str| -> Result<u64> { Ok(self.store.meta(k)?.and_then(|v| v.parse().ok()).unwrap_or(0)) };
        let confirmed = safe("collected_seq")?.max(safe("exported_seq")?);
        let cutoff = now - chrono::Duration::days(i64::from(days));
        let (head_seq, _) = self.store.head()?;
        let old_through = match self.store.first_seq_at_or_after(cutoff.timestamp_millis())? {
            Some(s) => s.saturating_sub(1),
            None => head_seq,
        };
        let through = confirmed.min(old_through);
        let previous = self.store.checkpoint()?;
        let from = previous.as_ref().map(|c| c.seq).unwrap_or(0);
        if through <= from {
            return Ok(None);
        }
        // Check what is about to go: a broken chain is evidence, never purged.
        let mut v = match &previous {
            Some(c) => chain::ChainVerifier::after(c.seq, &c.hash),
            None => chain::ChainVerifier::from_genesis(),
        };
        let mut hash = None;
        let mut broken = None;
        self.store.for_each_event(from, |ev| match ev {
            Ok(ev) if ev.body.seq <= through => {
                let (seq, h) = (ev.body.seq, ev.hash.clone());
                match v.push(ev) {
                    Ok(()) => {
                        if seq == through {
                            hash = Some(h);
                        }
                        true
                    }
                    Err(e) => {
                        broken = Some(e.to_string());
                        false
                    }
                }
            }
            Ok(_) => false,
            Err(e) => {
                broken = Some(e.to_string());
                false
            }
        })?;
        if let Some(b) = broken {
            return Err(GateError::Usage(format!(
                "the entry log is broken ({b}); nothing was purged — run `gatepass events verify`"
            )));
        }
        let Some(hash) = hash else { return Ok(None) };
        let cp = chain::Checkpoint::sign(through, &hash, &self.gate_key);
        let keep_outings = now - chrono::Duration::days(i64::from(self.policy()?.period_days) + 2);
        let purged = self.store.purge_through(&cp, keep_outings.timestamp_millis().min(cutoff.timestamp_millis()))?;
        self.store.audit(
            &now_text(now),
            "retention",
            "events.purge",
            &serde_json::json!({"purged": purged, "through_seq": through, "days": days}),
        )?;
        Ok(Some(PurgeReport { purged, through_seq: through, checkpoint_hash: hash }))
    }
}

/// What the rules need to know about a resident and their household at `at`.
fn load_holder(
    tx: &store::ScanTx<'_>,
    resident: &ResidentView,
    at: DateTime<Utc>,
    policy: &Policy,
) -> Result<(Category, Holder, store::OthersOut)> {
    let today = rules::local_day(at, policy);
    let category = resident.effective_category(today);
    let presence = match tx.presence(resident.id)? {
        Some((state, since)) if state == "out" => {
            Presence::Out { since: DateTime::from_timestamp_millis(since).unwrap_or(at) }
        }
        _ => Presence::In,
    };
    let others = tx.others_out(resident.household_id, resident.id)?;
    let others_out = others
        .iter()
        .filter(|(_, cat, until)| {
            let c: Category = cat.parse().unwrap_or(Category::Normal);
            let ended = until.as_deref().and_then(|u| u.parse::<NaiveDate>().ok()).is_some_and(|u| today > u);
            ended || !c.is_essential()
        })
        .count() as u32;
    let from = at - chrono::Duration::days(i64::from(policy.period_days) + 1);
    let exits = tx
        .household_exits(resident.household_id, from.timestamp_millis(), at.timestamp_millis())?
        .into_iter()
        .filter_map(DateTime::from_timestamp_millis)
        .collect::<Vec<_>>();
    Ok((category, Holder { category, presence, others_out, household_exits: exits }, others))
}

type Resolved = std::result::Result<(PassClaims, ResidentView, bool), (Reason, Option<PassClaims>)>;

/// From scanned (or typed) text to a known resident, or the reason not.
fn resolve(
    tx: &store::ScanTx<'_>,
    payload: &str,
    community_id: u32,
    keys: &[(u16, VerifyingKey)],
    at: DateTime<Utc>,
    policy: &Policy,
) -> Result<Resolved> {
    let text = payload.trim();
    let typed = !text.is_empty() && text.len() <= 10 && text.bytes().all(|b| b.is_ascii_digit());
    let claims = if typed {
        // A pass number typed by the guard: trust the database's copy of
        // the pass (the signature was checked when it was issued).
        let Some(row) = text.parse::<u32>().ok().map(|id| tx.pass(id)).transpose()?.flatten() else {
            return Ok(Err((Reason::UnknownPass, None)));
        };
        match pass::decode_unverified(&row.payload) {
            // a retired key retires its cards however they are presented
            Ok((c, _, _)) if keys.iter().any(|(k, _)| *k == c.key_id) => c,
            _ => return Ok(Err((Reason::InvalidPass, None))),
        }
    } else {
        match pass::verify(text, community_id, |id| keys.iter().find(|(k, _)| *k == id).map(|(_, v)| *v)) {
            Ok(c) => c,
            Err(PassError::WrongCommunity) => return Ok(Err((Reason::WrongCommunity, None))),
            Err(_) => return Ok(Err((Reason::InvalidPass, None))),
        }
    };
    let row = tx.pass(claims.pass_id)?;
    let record = row
        .as_ref()
        .filter(|r| r.resident_id == claims.resident_id)
        .map(|r| PassRecord { revoked: r.revoked_at.is_some() });
    if let Err(reason) = rules::pass_status(&claims, record, rules::local_day(at, policy)) {
        return Ok(Err((reason, Some(claims))));
    }
    match tx.resident(claims.resident_id)? {
        Some(r) => Ok(Ok((claims, r, typed))),
        None => Ok(Err((Reason::UnknownPass, Some(claims)))),
    }
}

fn merge_docs(base: &PolicyDoc, over: &PolicyDoc) -> PolicyDoc {
    PolicyDoc {
        fever_c: over.fever_c.or(base.fever_c),
        max_members_out: over.max_members_out.or(base.max_members_out),
        outings_per_period: over.outings_per_period.or(base.outings_per_period),
        period_days: over.period_days.or(base.period_days),
        hours: over.hours.clone().or_else(|| base.hours.clone()),
        max_outing_minutes: over.max_outing_minutes.or(base.max_outing_minutes),
        require_temperature: over.require_temperature.or(base.require_temperature),
        timezone: over.timezone.clone().or_else(|| base.timezone.clone()),
        anti_passback: over.anti_passback.or(base.anti_passback),
    }
}
