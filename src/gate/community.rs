//! One community, several gates. The community's first data directory
//! (`init`) alone holds the community signing key, and is where the
//! committee works; `gate add` there makes a one-time code, and `join` on a
//! new Pi makes a gate that holds the community's public keys only, with a
//! copy of the register, passes and policy, and credentials both ways with
//! the first gate. A stolen joined gate cannot make passes.

use super::{now_text, Gate, GateError, Result, DB_FILE};
use crate::domain::committee_log::{self, LogVerifier, Record};
use crate::domain::join::{self, JoinAnswer, JoinRequest};
use crate::store::{CommunityGate, PeerRow, Store, TableRows};
use chrono::{DateTime, Utc};
use ed25519_dalek::SigningKey;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// How long a join code works unless `gate add` is told otherwise.
pub const JOIN_CODE_MINUTES: u32 = 30;
pub const MAX_JOIN_CODE_MINUTES: u32 = 24 * 60;
/// A gate name, like a community name, is short text.
const MAX_GATE_NAME: usize = 64;

/// What the first gate answers a joining gate (inside a [`JoinAnswer`]).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct JoinBody {
    pub community: String,
    pub community_id: u32,
    /// The first gate's name and public key.
    pub gate: String,
    pub gate_key: String,
    pub community_keys: Vec<CommunityKey>,
    /// The committee's state at the newest of `records`.
    pub state: CommitteeState,
    /// The token the new gate presents when it calls the first gate.
    pub peer_token: String,
    /// The committee log up to the record the tables are at (its newest
    /// [`JOIN_RECORDS`] records, for an old community).
    #[serde(default)]
    pub records: Vec<Record>,
}

/// Committee records a joining gate is given: the newest ones suffice to
/// follow on; an older history stays on the first directory.
const JOIN_RECORDS: u32 = 10_000;

/// The committee's state at committee record `version`, as JSON text of
/// [`CommitteeTables`]: a gate believes it when its SHA-256 is the
/// `state_hash` of that record, which the community signed.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct CommitteeState {
    pub version: u64,
    pub body: String,
}

/// What the first gate sends a gate about the committee: its newest record
/// number, the records the gate lacks (at most [`MAX_FEED_RECORDS`]) and,
/// once those reach the head, the state there.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct CommitteeFeed {
    pub head: u64,
    #[serde(default)]
    pub records: Vec<Record>,
    #[serde(default)]
    pub state: Option<CommitteeState>,
}

/// This gate's name and key, for signing requests to the other gates.
#[derive(Clone)]
pub struct PeerSigner {
    pub gate: String,
    key: SigningKey,
}

impl PeerSigner {
    /// (gate, time, signature) for a request to `audience` at `path_and_query`.
    pub fn sign(&self, audience: &str, path_and_query: &str, now: DateTime<Utc>) -> (String, String, String) {
        let at = now.timestamp_millis();
        (self.gate.clone(), at.to_string(), join::sign_peer_request(&self.key, audience, path_and_query, at))
    }
}

/// Set (in meta) when a committee change could not be recorded.
const UNSEALED: &str = "committee_unsealed";

/// Records sent in one answer (a record is a few hundred bytes).
pub const MAX_FEED_RECORDS: u32 = 1000;
/// Gates a committee state may list (a community has a handful).
const MAX_GATES: usize = 64;

/// The register, passes (with revocations), rule changes, the community's
/// public keys and its gates: everything the committee decides.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct CommitteeTables {
    pub tables: Vec<TableRows>,
    pub community_keys: TableRows,
    #[serde(default)]
    pub gates: Vec<CommunityGate>,
}

/// Audit actions that are committee changes (and so committee records);
/// the rest (logins, tokens, follow-up visits, parcels, purges) stay in
/// the gate's own audit trail.
fn is_committee_action(action: &str) -> bool {
    const PREFIXES: &[&str] = &["register.", "resident.", "pass.", "visitor_pass.", "policy.", "key.", "gate."];
    action == "init" || action == "district.directive" || PREFIXES.iter().any(|p| action.starts_with(p))
}

/// The gates a committee state lists, but the first: every removal, and at
/// most [`MAX_GATES`] active gates (a signed list is never cut short of a
/// removal).
fn listed_gates(gates: &[CommunityGate], first: &str) -> Vec<CommunityGate> {
    let (removed, active): (Vec<&CommunityGate>, Vec<&CommunityGate>) =
        gates.iter().filter(|g| g.gate != first).partition(|g| g.removed);
    removed.into_iter().chain(active.into_iter().take(MAX_GATES)).cloned().collect()
}

fn parse_time(t: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(t).ok().map(|t| t.with_timezone(&Utc))
}

fn parse_public(hex_key: &str) -> Option<ed25519_dalek::VerifyingKey> {
    let b = hex::decode(hex_key).ok()?;
    ed25519_dalek::VerifyingKey::from_bytes(&<[u8; 32]>::try_from(b.as_slice()).ok()?).ok()
}

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct CommunityKey {
    pub key_id: u16,
    pub public_key: String,
    pub created_at: String,
    pub retired_at: Option<String>,
}

/// A join as the new gate prepares it, before anything is written.
pub struct JoinPlan {
    gate_key: SigningKey,
    peer_token: String,
    pub request: JoinRequest,
    code: String,
}

impl JoinPlan {
    pub fn new(code: &str, gate: &str, advertise: &str) -> Result<JoinPlan> {
        let code = join::normalise_code(code).ok_or_else(|| {
            GateError::Usage("--code must be the 12-letter code `gatepass gate add` printed (XXXX-XXXX-XXXX)".into())
        })?;
        let gate = check_gate_name(gate)?;
        let advertise = join::check_advertise(advertise).map_err(GateError::Usage)?;
        let gate_key = crate::keys::generate();
        let peer_token = crate::auth::new_token();
        let request = JoinRequest::signed(
            &code,
            &gate,
            &advertise,
            &hex::encode(gate_key.verifying_key().to_bytes()),
            &peer_token,
        );
        Ok(JoinPlan { gate_key, peer_token, request, code })
    }
}

/// A joining gate's check of the log and state it was given: the records
/// chain and are signed by the community's keys, and the state is the one
/// the newest record names. Returns the state's tables.
fn check_join_log(body: &JoinBody) -> std::result::Result<CommitteeTables, String> {
    let keys: BTreeMap<u16, ed25519_dalek::VerifyingKey> =
        body.community_keys.iter().filter_map(|k| Some((k.key_id, parse_public(&k.public_key)?))).collect();
    let first = body.records.first().ok_or("it has no record")?;
    let mut v = LogVerifier::after(first.seq.saturating_sub(1), &first.prev_hash, keys, BTreeSet::new());
    for r in &body.records {
        v.push(r).map_err(|e| e.to_string())?;
    }
    let head = v.last.ok_or("it has no record")?;
    if head.seq != body.state.version || committee_log::state_hash(&body.state.body) != head.state_hash {
        return Err(format!("the register sent is not the one record {} names", head.seq));
    }
    let t: CommitteeTables = serde_json::from_str(&body.state.body).map_err(|e| format!("unreadable state: {e}"))?;
    if t.community_keys.rows.is_empty() {
        return Err("the state carries no community key".into());
    }
    Ok(t)
}

fn check_gate_name(name: &str) -> Result<String> {
    let n = name.trim();
    if n.is_empty() || n.chars().count() > MAX_GATE_NAME || n.chars().any(char::is_control) {
        return Err(GateError::BadName(format!("a gate name must be 1 to {MAX_GATE_NAME} characters of plain text")));
    }
    Ok(n.to_string())
}

impl Gate {
    /// Runs `f` inside `BEGIN IMMEDIATE` ... `COMMIT`; on any error, and on
    /// a failed commit (a full disk may leave the transaction open), rolls
    /// back, so the connection is never left inside a transaction.
    fn in_immediate<T>(&self, f: impl FnOnce() -> Result<T>) -> Result<T> {
        self.store.begin_immediate()?;
        let done = f().and_then(|v| self.store.commit().map(|_| v).map_err(GateError::from));
        if done.is_err() {
            let _ = self.store.rollback();
        }
        done
    }

    /// Where this gate was joined from, if it is not the first directory.
    pub fn joined_from(&self) -> Result<Option<String>> {
        Ok(self.store.meta("joined_from")?)
    }

    /// Refuses committee work on a joined gate, naming where it is done.
    pub(crate) fn require_first(&self, what: &str) -> Result<()> {
        match self.joined_from()? {
            None => Ok(()),
            Some(from) => Err(GateError::NotFirstDirectory(format!(
                "this gate ({}) was joined to {} from {from}: it holds only the community's public keys and a \
                 copy of the register, so {what} is done on the community's first directory",
                self.identity.gate, self.identity.community
            ))),
        }
    }

    /// `gate add`: a one-time code for a new gate named `name`.
    pub fn add_gate_code(
        &self,
        name: &str,
        minutes: u32,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<(String, DateTime<Utc>)> {
        self.require_first("adding a gate")?;
        let name = check_gate_name(name)?;
        if name == self.identity.gate {
            return Err(GateError::Usage(format!("'{name}' is this gate's own name; give the new gate another")));
        }
        if self.store.peers()?.iter().any(|p| p.gate == name && p.removed_at.is_none()) {
            return Err(GateError::Usage(format!(
                "gate '{name}' already belongs to the community (`gatepass gate remove --name {name}` first)"
            )));
        }
        if !(1..=MAX_JOIN_CODE_MINUTES).contains(&minutes) {
            return Err(GateError::Usage(format!("a join code lives 1 to {MAX_JOIN_CODE_MINUTES} minutes")));
        }
        let mut random = [0u8; join::CODE_LEN];
        crate::store::getrandom(&mut random);
        let code = join::new_code(&random);
        let canon = join::normalise_code(&code).unwrap_or_default();
        let expires = now + chrono::Duration::minutes(i64::from(minutes));
        self.store.add_join_code(&name, &join::code_hash(&canon), expires.timestamp_millis(), actor, &now_text(now))?;
        self.audit(actor, "gate.add", &serde_json::json!({"gate": name, "expires_at": now_text(expires)}), now)?;
        Ok((code, expires))
    }

    /// The first gate's side of a join: checks the proof, uses the code up,
    /// records the new gate, and answers what it needs.
    pub fn accept_join(&mut self, req: &JoinRequest, now: DateTime<Utc>) -> Result<JoinAnswer> {
        self.require_first("joining a gate")?;
        let refused = || {
            GateError::JoinRefused(
                "the join code is wrong, already used, or was made for another gate name; \
                 make a new one with `gatepass gate add --name NAME` on the first directory"
                    .into(),
            )
        };
        let name = check_gate_name(&req.gate).map_err(|_| refused())?;
        let pending = self.store.pending_join(&name)?.ok_or_else(refused)?;
        if !req.proves(&pending.code_hash) {
            return Err(refused());
        }
        if now.timestamp_millis() > pending.expires_at_ms {
            return Err(GateError::JoinExpired(format!(
                "the join code for '{name}' has expired; make a new one with `gatepass gate add --name {name}`"
            )));
        }
        let advertise = join::check_advertise(&req.advertise).map_err(GateError::Usage)?;
        let key = hex::decode(&req.gate_key).ok().filter(|k| k.len() == 32);
        if key.is_none() || req.peer_token.is_empty() || req.peer_token.len() > 128 {
            return Err(GateError::Usage("the joining gate's key or token is malformed".into()));
        }
        let token_for_them = crate::auth::new_token();
        let peer = PeerRow {
            gate: name.clone(),
            url: advertise.clone(),
            gate_key: req.gate_key.clone(),
            added_at: now_text(now),
            removed_at: None,
            last_heard_at: None,
            heard_seq: 0,
            behind: None,
            // we call them with the token they chose for us
            outbound_token: req.peer_token.clone(),
        };
        // they call us with the token made here; only its hash is kept
        if !self.store.use_join_code(
            &pending.code_hash,
            &peer,
            &crate::auth::token_hash(&token_for_them),
            &now_text(now),
        )? {
            return Err(refused());
        }
        self.store.pin_gate_key(&name, &req.gate_key, "join", &now_text(now))?;
        self.audit(
            "join",
            "gate.join",
            &serde_json::json!({"gate": name, "url": advertise, "gate_key": req.gate_key}),
            now,
        )?;
        // built after the join is recorded, so the log it carries ends with
        // that record and the state lists the new gate
        let head = self.store.committee_head()?.map(|r| r.seq).unwrap_or(0);
        let (head, records, state_body) =
            self.log_and_state(head.saturating_sub(u64::from(JOIN_RECORDS)), JOIN_RECORDS + 1, now)?;
        let body = JoinBody {
            community: self.identity.community.clone(),
            community_id: self.identity.community_id,
            gate: self.identity.gate.clone(),
            gate_key: hex::encode(self.gate_public_key().to_bytes()),
            community_keys: self
                .store
                .keys()?
                .into_iter()
                .map(|k| CommunityKey {
                    key_id: k.key_id,
                    public_key: k.public_key,
                    created_at: k.created_at,
                    retired_at: k.retired_at,
                })
                .collect(),
            state: CommitteeState { version: head, body: state_body },
            peer_token: token_for_them.clone(),
            records,
        };
        let text = serde_json::to_string(&body).map_err(|e| GateError::Usage(format!("cannot encode: {e}")))?;
        Ok(JoinAnswer::signed(&pending.code_hash, text))
    }

    /// The new gate's side: checks the answer came from a gate that knows
    /// the code, then makes the data directory. Nothing is written unless
    /// the whole answer is good.
    pub fn join_new(
        data_dir: &Path,
        from: &str,
        plan: JoinPlan,
        answer: &JoinAnswer,
        now: DateTime<Utc>,
    ) -> Result<Gate> {
        if !answer.proves(&plan.code) {
            return Err(GateError::JoinRefused(format!(
                "the answer from {from} is not proven by the join code: it is not the community's first gate, \
                 or something on the way changed it; nothing was written"
            )));
        }
        let body: JoinBody = serde_json::from_str(&answer.body)
            .map_err(|e| GateError::JoinRefused(format!("the answer from {from} cannot be read: {e}")))?;
        if body.community_keys.is_empty()
            || body.community_keys.iter().any(|k| hex::decode(&k.public_key).map(|b| b.len()) != Ok(32))
        {
            return Err(GateError::JoinRefused(format!("the answer from {from} carries no usable community key")));
        }
        let tables = check_join_log(&body).map_err(|why| {
            GateError::JoinRefused(format!("the committee's log from {from} does not hold: {why}; nothing was written"))
        })?;
        let io = |source| GateError::Io { path: data_dir.display().to_string(), source };
        if data_dir.join(DB_FILE).exists() {
            return Err(GateError::AlreadyInitialised(data_dir.display().to_string()));
        }
        std::fs::create_dir_all(data_dir).map_err(io)?;
        let cfg_path = data_dir.join(crate::config::FILE_NAME);
        if !cfg_path.exists() {
            let mut text = crate::config::default_file(&body.community, &plan.request.gate);
            // listen on the port the other gates were told
            if let Some(port) = plan.request.advertise.rsplit_once(':').and_then(|(_, p)| p.parse::<u16>().ok()) {
                text = text.replacen("listen = \"0.0.0.0:8080\"", &format!("listen = \"0.0.0.0:{port}\""), 1);
            }
            std::fs::write(&cfg_path, text).map_err(io)?;
        }
        let mut store = Store::open(&data_dir.join(DB_FILE))?;
        store.set_meta("community", &body.community)?;
        store.set_meta("community_id", &body.community_id.to_string())?;
        store.set_meta("gate", &plan.request.gate)?;
        store.set_meta("created_at", &now_text(now))?;
        store.set_meta("joined_from", from)?;
        store.set_meta("first_gate", &body.gate)?;
        store.set_meta("committee_applied", &body.state.version.to_string())?;
        crate::keys::save(&crate::keys::gate_key_path(data_dir), &plan.gate_key)?;
        store.set_meta("gate_public_key", &hex::encode(plan.gate_key.verifying_key().to_bytes()))?;
        for k in &body.community_keys {
            store.add_key_with_id(k.key_id, &k.public_key, &k.created_at, k.retired_at.as_deref())?;
        }
        store.load_snapshot(&tables.tables)?;
        for r in &body.records {
            store.append_committee_record(r)?;
        }
        let first = PeerRow {
            gate: body.gate.clone(),
            url: from.trim_end_matches('/').to_string(),
            gate_key: body.gate_key.clone(),
            added_at: now_text(now),
            removed_at: None,
            last_heard_at: None,
            heard_seq: 0,
            behind: None,
            outbound_token: body.peer_token.clone(),
        };
        store.add_peer(&first, &crate::auth::token_hash(&plan.peer_token))?;
        store.pin_gate_key(&body.gate, &body.gate_key, "join", &now_text(now))?;
        // the community's other gates, called with signed requests
        let others = listed_gates(&tables.gates, &body.gate);
        store.take_gates(&others, &plan.request.gate, &now_text(now))?;
        store.audit(
            &now_text(now),
            "cli",
            "join",
            &serde_json::json!({"community": body.community, "gate": plan.request.gate, "from": from,
                "first_gate": body.gate}),
        )?;
        drop(store);
        crate::tls::ensure_self_signed(data_dir, &crate::tls::default_names(&plan.request.gate))
            .map_err(|e| GateError::Usage(e.to_string()))?;
        Gate::open(data_dir)
    }

    /// Takes a run of `gate`'s events fetched from a peer: they must be of
    /// this community and that gate, continue the chain held here, and end
    /// in an event signed by the key pinned for that gate. All or nothing.
    pub fn take_peer_events(
        &mut self,
        gate: &str,
        events: Vec<crate::domain::chain::ChainedEvent>,
        now: DateTime<Utc>,
    ) -> Result<usize> {
        let refuse = |why: String| GateError::PeerRefused(format!("events of gate '{gate}' refused: {why}"));
        if gate == self.identity.gate {
            return Err(refuse("they claim to be this gate's own".into()));
        }
        let key_hex = self.store.gate_key_of(gate)?.ok_or_else(|| refuse("no key is pinned for that gate".into()))?;
        let key = hex::decode(&key_hex)
            .ok()
            .and_then(|b| <[u8; 32]>::try_from(b.as_slice()).ok())
            .and_then(|b| ed25519_dalek::VerifyingKey::from_bytes(&b).ok())
            .ok_or_else(|| refuse("its pinned key is unreadable".into()))?;
        let (seq, hash) = self.store.peer_head(gate)?;
        // events already held (a repeated page) are skipped, the rest must continue the chain
        let fresh: Vec<_> = events.into_iter().filter(|e| e.body.seq > seq).collect();
        if fresh.is_empty() {
            return Ok(0);
        }
        let mut v = crate::domain::chain::ChainVerifier::after(seq, &hash);
        for e in &fresh {
            if e.body.gate != gate || e.body.community != self.identity.community {
                return Err(refuse(format!("event {} is of {} / {}", e.body.seq, e.body.gate, e.body.community)));
            }
            v.push(e.clone()).map_err(|e| refuse(e.to_string()))?;
        }
        v.finish(&key).map_err(|e| refuse(e.to_string()))?;
        // the page and the conflicts it shows: one transaction, one fsync
        self.store.begin_immediate()?;
        let stored = self.store.append_peer_events(gate, &fresh).map_err(GateError::from).and_then(|n| {
            self.find_conflicts(&fresh, now)?;
            self.store.commit()?;
            Ok(n)
        });
        if stored.is_err() {
            let _ = self.store.rollback();
        }
        let n = stored?;
        Ok(n)
    }

    /// Pins `gate`'s key as learned from `from` (first sight wins); false
    /// when a different key is already pinned for that gate.
    pub fn pin_peer_key(&self, gate: &str, key: &str, from: &str, now: DateTime<Utc>) -> Result<bool> {
        if gate == self.identity.gate {
            return Ok(key == hex::encode(self.gate_public_key().to_bytes()));
        }
        Ok(self.store.pin_gate_key(gate, key, from, &now_text(now))?)
    }

    pub fn note_peer_contact(
        &self,
        peer: &str,
        behind: Option<u64>,
        error: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<()> {
        Ok(self.store.note_peer_contact(peer, &now_text(now), behind, error)?)
    }

    /// Audits a committee action and, on the first directory, seals it in
    /// the committee log with the state it left, in one transaction (a CLI
    /// command and the daemon may both be writing).
    pub(crate) fn audit_and_seal(
        &self,
        actor: &str,
        action: &str,
        detail: &serde_json::Value,
        now: DateTime<Utc>,
    ) -> Result<()> {
        if !is_committee_action(action) || self.joined_from()?.is_some() {
            return Ok(self.store.audit(&now_text(now), actor, action, detail)?);
        }
        let sealed = self.in_immediate(|| {
            self.store.audit(&now_text(now), actor, action, detail)?;
            let text = serde_json::to_string(detail).unwrap_or_else(|_| "{}".into());
            self.seal(actor, action, &text, now)
        });
        if let Err(e) = sealed {
            // the change itself is done: keep its audit row, and mark the
            // tables as unrecorded so the next hand-out seals them first
            tracing::error!(action, "committee log: the change could not be recorded: {e}");
            self.store.audit(&now_text(now), actor, action, detail)?;
            self.store.set_meta(UNSEALED, "1")?;
        }
        Ok(())
    }

    /// Chains one record after the head, with the state as it is now.
    fn seal(&self, actor: &str, action: &str, detail: &str, now: DateTime<Utc>) -> Result<Record> {
        let (_, state_hash) = self.committee_body()?;
        self.seal_state(actor, action, detail, &state_hash, now)
    }

    /// [`Gate::seal`] with the state's hash already computed (the state is
    /// a snapshot of the whole register: taken once, not twice).
    fn seal_state(
        &self,
        actor: &str,
        action: &str,
        detail: &str,
        state_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<Record> {
        let active = self.store.keys()?.into_iter().filter(|k| k.retired_at.is_none()).min_by_key(|k| k.key_id);
        let key_id = active.ok_or(GateError::NoActiveKey)?.key_id;
        let key = crate::keys::load(&crate::keys::community_key_path(&self.data_dir, key_id))?;
        let head = self.store.committee_head()?;
        let at = now_text(now);
        let change = committee_log::Change { at: &at, actor, action, detail, state_hash };
        let r = committee_log::seal(head.as_ref(), &change, key_id, &key);
        self.store.append_committee_record(&r)?;
        Ok(r)
    }

    /// (first directory) Seals what changed without a record: a directory
    /// made before the log existed, or a change cut off by a power cut
    /// between the change and its record. Run when the daemon starts and
    /// before the state is handed out; returns the record made, if any.
    pub fn seal_unrecorded(&self, now: DateTime<Utc>) -> Result<Option<Record>> {
        if self.joined_from()?.is_some() {
            return Ok(None);
        }
        let (r, _) = self.in_immediate(|| self.seal_unrecorded_locked(now))?;
        if let Some(r) = &r {
            tracing::warn!(seq = r.seq, action = %r.action, "committee log: sealed the tables as they are");
        }
        Ok(r)
    }

    /// [`Gate::seal_unrecorded`] inside the caller's `BEGIN IMMEDIATE`.
    /// Returns the record made, if any, and the state's text (which a seal
    /// does not change: the log is not part of the state).
    fn seal_unrecorded_locked(&self, now: DateTime<Utc>) -> Result<(Option<Record>, String)> {
        let head = self.store.committee_head()?;
        let (body, hash) = self.committee_body()?;
        let r = match head {
            Some(h) if h.state_hash == hash => None,
            Some(_) => Some(self.seal_state(
                "gatepass",
                "committee.unrecorded",
                r#"{"why":"the tables changed without a record"}"#,
                &hash,
                now,
            )?),
            None => Some(self.seal_state("gatepass", "committee.start", "{}", &hash, now)?),
        };
        self.store.delete_meta(UNSEALED)?;
        Ok((r, body))
    }

    /// (first directory) The newest records (at most `limit`) and the state
    /// at the head, read in one transaction after sealing what is unrecorded:
    /// the state is always the one the newest record names.
    fn log_and_state(&self, after: u64, limit: u32, now: DateTime<Utc>) -> Result<(u64, Vec<Record>, String)> {
        self.in_immediate(|| {
            let (_, body) = self.seal_unrecorded_locked(now)?;
            let head = self.store.committee_head()?.map(|r| r.seq).unwrap_or(0);
            let records = self.store.committee_records_after(after, limit)?;
            Ok((head, records, body))
        })
    }

    /// The committee's state as text and its SHA-256.
    fn committee_body(&self) -> Result<(String, String)> {
        let body = CommitteeTables {
            tables: self.store.snapshot()?,
            community_keys: self.store.key_rows()?,
            gates: self.store.community_gates()?,
        };
        let body = serde_json::to_string(&body).map_err(|e| GateError::Usage(format!("cannot encode: {e}")))?;
        let hash = committee_log::state_hash(&body);
        Ok((body, hash))
    }

    /// (first directory) What a gate that holds the log up to `after` and
    /// whose tables are at `applied` needs next: up to
    /// [`MAX_FEED_RECORDS`] records, and the state at the head once the
    /// records reach it.
    pub fn committee_feed(&self, after: u64, applied: u64, now: DateTime<Utc>) -> Result<CommitteeFeed> {
        self.require_first("handing out the committee's log")?;
        let mut head = self.store.committee_head()?.map(|r| r.seq).unwrap_or(0);
        // (a change whose record could not be written is sealed now)
        let unsealed = self.store.meta(UNSEALED)?.is_some();
        if applied >= head && after >= head && !unsealed {
            return Ok(CommitteeFeed { head, records: Vec::new(), state: None });
        }
        // the state handed out is the one the newest record names
        let (h, records, body) = self.log_and_state(after, MAX_FEED_RECORDS, now)?;
        head = h;
        let reaches = records.last().map(|r| r.seq).unwrap_or(after) >= head;
        let state = (reaches && applied < head).then_some(CommitteeState { version: head, body });
        Ok(CommitteeFeed { head, records, state })
    }

    /// (first directory) The whole committee log and the state at its head,
    /// for a carried file: at most [`JOIN_RECORDS`] records, the newest.
    pub fn committee_export(&self, now: DateTime<Utc>) -> Result<CommitteeFeed> {
        self.require_first("writing the committee's log")?;
        let head = self.store.committee_head()?.map(|r| r.seq).unwrap_or(0);
        let (head, records, body) =
            self.log_and_state(head.saturating_sub(u64::from(JOIN_RECORDS)), JOIN_RECORDS + 1, now)?;
        Ok(CommitteeFeed { head, records, state: Some(CommitteeState { version: head, body }) })
    }

    /// (joined gate) Takes what the first gate sent: records that continue
    /// the log held here, each signed by a community key (learned in
    /// order), and the state if its hash is the one the newest record
    /// names. All or nothing. Returns whether the tables moved on.
    pub fn take_committee_feed(&mut self, feed: &CommitteeFeed, now: DateTime<Utc>) -> Result<bool> {
        let refuse = |why: String| GateError::PeerRefused(format!("the committee's log was refused: {why}"));
        if self.joined_from()?.is_none() {
            return Err(refuse("this is the community's first directory".into()));
        }
        let held = self.store.committee_head()?;
        let held_seq = held.as_ref().map(|r| r.seq).unwrap_or(0);
        let applied = self.store.committee_applied()?;
        // records already held are skipped, after checking they are the same
        let mut fresh = Vec::new();
        for r in &feed.records {
            if r.seq > held_seq {
                fresh.push(r.clone());
            } else if r.seq == held_seq && held.as_ref().map(|h| &h.hash) != Some(&r.hash) {
                return Err(refuse(format!(
                    "record {} differs from the one held here: the first directory's log is not the one this gate                      followed (restored from an old copy?)",
                    r.seq
                )));
            }
        }
        let mut v = self.log_verifier_at_held()?;
        for r in &fresh {
            v.push(r).map_err(|e| refuse(e.to_string()))?;
        }
        let newest = v.last.clone().or(held);
        let tables = match &feed.state {
            Some(st) if st.version > applied => {
                let at = newest.as_ref().filter(|r| r.seq == st.version).ok_or_else(|| {
                    refuse(format!("the state is at record {} but the log held ends elsewhere", st.version))
                })?;
                if committee_log::state_hash(&st.body) != at.state_hash {
                    return Err(refuse(format!("the state is not the one record {} names", at.seq)));
                }
                let t: CommitteeTables =
                    serde_json::from_str(&st.body).map_err(|e| refuse(format!("unreadable state: {e}")))?;
                if t.community_keys.rows.is_empty() {
                    return Err(refuse("the state carries no community key".into()));
                }
                Some((t, st.version))
            }
            _ => None,
        };
        if fresh.is_empty() && tables.is_none() {
            return Ok(false);
        }
        let first = self.first_gate()?.unwrap_or_default();
        let me = self.identity.gate.clone();
        let at = now_text(now);
        // the first gate is a peer since the join, with its own credentials
        let gates: Vec<CommunityGate> =
            tables.as_ref().map(|(t, _)| listed_gates(&t.gates, &first)).unwrap_or_default();
        let update = crate::store::CommitteeUpdate {
            records: &fresh,
            state: tables.as_ref().map(|(t, seq)| (t.tables.as_slice(), &t.community_keys, gates.as_slice(), *seq)),
            me: &me,
            now: &at,
        };
        self.store.take_committee_update(&update)?;
        let Some((_, seq)) = tables else { return Ok(false) };
        let kept = self.reapply_directives(now)?;
        self.audit(
            "sync",
            "committee.sync",
            &serde_json::json!({"version": seq, "records": fresh.len(), "directives_kept": kept}),
            now,
        )?;
        Ok(true)
    }

    /// A verifier positioned at the newest record held: the community keys
    /// of the tables applied, then whatever the held records after them
    /// announced or retired.
    fn log_verifier_at_held(&self) -> Result<LogVerifier> {
        let (mut keys, mut retired) = (BTreeMap::new(), BTreeSet::new());
        for k in self.store.keys()? {
            if let Some(pk) = parse_public(&k.public_key) {
                keys.insert(k.key_id, pk);
            }
            if k.retired_at.is_some() {
                retired.insert(k.key_id);
            }
        }
        let applied = self.store.committee_applied()?;
        let at = self.store.committee_records_after(applied.saturating_sub(1), 1)?;
        let hash = match at.first() {
            Some(r) if r.seq == applied => r.hash.clone(),
            _ => committee_log::GENESIS.to_string(),
        };
        let start = if hash == committee_log::GENESIS { 0 } else { applied };
        let mut v = LogVerifier::after(start, &hash, keys, retired);
        let mut after = start;
        loop {
            let page = self.store.committee_records_after(after, 1000)?;
            let Some(last) = page.last().map(|r| r.seq) else { break };
            for r in &page {
                v.push(r).map_err(|e| GateError::PeerRefused(format!("the committee log held here: {e}")))?;
            }
            after = last;
        }
        Ok(v)
    }

    /// (joined gate) A district directive changes a category here at once;
    /// until the first directory has applied the same directive (its
    /// `district.directive` record), the committee's state does not carry
    /// it, so it is laid over the state again; once the committee has set
    /// that resident's category itself after the directive arrived here,
    /// the committee's word holds. Returns how many were laid over.
    fn reapply_directives(&self, now: DateTime<Utc>) -> Result<usize> {
        let directives = self.store.applied_directives()?;
        if directives.is_empty() {
            return Ok(0);
        }
        let mut in_log = BTreeSet::new();
        // each resident's newest category change by the committee
        let mut decided: BTreeMap<u32, DateTime<Utc>> = BTreeMap::new();
        let mut after = 0;
        loop {
            let page = self.store.committee_records_after(after, 1000)?;
            let Some(last) = page.last().map(|r| r.seq) else { break };
            for r in &page {
                if let Some(id) = committee_log::applied_directive(r) {
                    in_log.insert(id);
                }
                if r.action == "resident.category" {
                    let who = serde_json::from_str::<serde_json::Value>(&r.detail)
                        .ok()
                        .and_then(|d| d.get("resident_id").and_then(serde_json::Value::as_u64))
                        .and_then(|id| u32::try_from(id).ok());
                    if let (Some(who), Some(at)) = (who, parse_time(&r.at)) {
                        decided.insert(who, at);
                    }
                }
            }
            after = last;
        }
        let mut n = 0;
        for d in directives {
            let later = match (decided.get(&d.resident_id.0), parse_time(&d.received_at)) {
                (Some(c), Some(received)) => *c > received,
                _ => false,
            };
            if in_log.contains(&d.id) || later || self.store.resident(d.resident_id)?.is_none() {
                continue;
            }
            self.store.set_category(d.resident_id, d.category, d.until, &now_text(now))?;
            n += 1;
        }
        Ok(n)
    }

    /// The committee record this gate's tables are at, and the newest held.
    pub fn committee_position(&self) -> Result<(u64, u64)> {
        let held = self.store.committee_head()?.map(|r| r.seq).unwrap_or(0);
        let applied = if self.joined_from()?.is_some() { self.store.committee_applied()? } else { held };
        Ok((applied, held))
    }

    /// Re-checks the committee log held here from its first record: (records,
    /// problem if any). On the first directory the tables must also be the
    /// state the newest record names.
    pub fn verify_committee_log(&self) -> Result<(u64, Option<String>)> {
        let mut keys = BTreeMap::new();
        for k in self.store.keys()? {
            if let Some(pk) = parse_public(&k.public_key) {
                keys.insert(k.key_id, pk);
            }
        }
        // from the first record held (a gate that joined an old community
        // was given only the newest part of its log)
        let first = self.store.committee_records_after(0, 1)?;
        let mut v = match first.first() {
            Some(r) => LogVerifier::after(r.seq.saturating_sub(1), &r.prev_hash, keys, BTreeSet::new()),
            None => LogVerifier::from_genesis(keys),
        };
        let mut after = 0;
        loop {
            let page = self.store.committee_records_after(after, 1000)?;
            let Some(last) = page.last().map(|r| r.seq) else { break };
            for r in &page {
                if let Err(e) = v.push(r) {
                    return Ok((v.count, Some(e.to_string())));
                }
            }
            after = last;
        }
        if self.joined_from()?.is_none() {
            if let Some(head) = &v.last {
                if self.committee_body()?.1 != head.state_hash {
                    return Ok((
                        v.count,
                        Some(format!(
                            "the register, passes or rules differ from what committee record {} says they were (changed outside gatepass, or a change cut off before it was recorded)",
                            head.seq
                        )),
                    ));
                }
            }
        }
        Ok((v.count, None))
    }

    /// The newest committee records, newest first (who changed what).
    pub fn committee_log(&self, limit: u32) -> Result<Vec<Record>> {
        let held = self.store.committee_head()?.map(|r| r.seq).unwrap_or(0);
        let from = held.saturating_sub(u64::from(limit));
        let mut out = self.store.committee_records_after(from, limit)?;
        out.reverse();
        Ok(out)
    }

    /// What this gate signs a request to another gate with (see
    /// `domain::join::sign_peer_request`).
    pub fn peer_signer(&self) -> PeerSigner {
        PeerSigner { gate: self.identity.gate.clone(), key: self.gate_key.clone() }
    }

    /// The name of the community's first gate, on a joined gate.
    pub fn first_gate(&self) -> Result<Option<String>> {
        Ok(self.store.meta("first_gate")?)
    }

    /// With new crossings from another gate, replays each household they
    /// touch over the period around them and records what two gates
    /// together broke (see `domain::community::conflicts`).
    fn find_conflicts(&self, fresh: &[crate::domain::chain::ChainedEvent], now: DateTime<Utc>) -> Result<usize> {
        let policy = self.policy()?;
        let span = chrono::Duration::days(i64::from(policy.period_days) + 1).num_milliseconds();
        let mut around: std::collections::BTreeMap<String, (i64, i64)> = std::collections::BTreeMap::new();
        // only an exit can break a rule together with another gate's crossing
        for e in fresh.iter().filter(|e| {
            e.body.decision == "allow" && e.body.resident_id.is_some() && e.body.direction.as_deref() == Some("out")
        }) {
            let (Some(h), Ok(at)) = (&e.body.household, chrono::DateTime::parse_from_rfc3339(&e.body.at)) else {
                continue;
            };
            let t = at.timestamp_millis();
            let w = around.entry(h.clone()).or_insert((t, t));
            w.0 = w.0.min(t);
            w.1 = w.1.max(t);
        }
        let mut n = 0;
        for (household, (lo, hi)) in around {
            let history = self.store.household_crossings(
                &self.identity.gate,
                &household,
                lo.saturating_sub(span),
                hi.saturating_add(span),
            )?;
            let found = crate::domain::community::conflicts(&history, &policy);
            let new = self.store.record_conflicts(&household, &found, &now_text(now))?;
            if new > 0 {
                tracing::warn!(household = %household, "{new} conflict(s) between gates recorded");
            }
            n += new;
        }
        Ok(n)
    }

    /// Every chain this gate can hand on: its own and the ones it holds,
    /// each with its key, for a carried file (`sync export`).
    pub fn chains_for_export(&self) -> Result<Vec<(String, String)>> {
        let mut out = vec![(self.identity.gate.clone(), hex::encode(self.gate_public_key().to_bytes()))];
        out.extend(self.store.held_chains()?.into_iter().map(|h| (h.gate, h.gate_key)));
        Ok(out)
    }

    /// A page of one chain for export: this gate's own, or a held one.
    pub fn chain_page(&self, gate: &str, after: u64, limit: u32) -> Result<Vec<crate::domain::chain::ChainedEvent>> {
        if gate == self.identity.gate {
            Ok(self.store.events_after(after, limit)?)
        } else {
            Ok(self.store.peer_events_after(gate, after, limit)?)
        }
    }

    /// Re-checks every chain held from another gate, from its first event,
    /// against the key pinned for that gate: (gate, events, problem if any).
    pub fn verify_held_chains(&self) -> Result<Vec<(String, u64, Option<String>)>> {
        let mut out = Vec::new();
        for h in self.store.held_chains()? {
            let key = hex::decode(&h.gate_key)
                .ok()
                .and_then(|b| <[u8; 32]>::try_from(b.as_slice()).ok())
                .and_then(|b| ed25519_dalek::VerifyingKey::from_bytes(&b).ok());
            let Some(key) = key else {
                out.push((h.gate, 0, Some("its pinned key is unreadable".into())));
                continue;
            };
            let mut v = crate::domain::chain::ChainVerifier::from_genesis();
            let (mut after, mut problem) = (0, None);
            'pages: loop {
                let page = self.store.peer_events_after(&h.gate, after, 1000)?;
                let Some(last) = page.last().map(|e| e.body.seq) else { break };
                for e in page {
                    if let Err(err) = v.push(e) {
                        problem = Some(err.to_string());
                        break 'pages;
                    }
                }
                after = last;
            }
            let n = v.count;
            if problem.is_none() {
                if let Err(err) = v.finish(&key) {
                    problem = Some(err.to_string());
                }
            }
            out.push((h.gate, n, problem));
        }
        Ok(out)
    }

    pub fn conflicts(&self, limit: u32) -> Result<Vec<crate::store::ConflictRow>> {
        Ok(self.store.conflicts(limit)?)
    }

    pub fn peers(&self) -> Result<Vec<PeerRow>> {
        Ok(self.store.peers()?)
    }

    /// The peer gate a bearer token belongs to, if it is one.
    pub fn peer_by_token(&self, token_hash: &str) -> Result<Option<String>> {
        Ok(self.store.peer_by_token(token_hash)?)
    }

    /// `gate remove`: the gate's credentials end both ways; its history stays.
    pub fn remove_gate(&self, name: &str, actor: &str, now: DateTime<Utc>) -> Result<bool> {
        self.require_first("removing a gate")?;
        let removed = self.store.remove_peer(name.trim(), &now_text(now))?;
        if removed {
            self.audit(actor, "gate.remove", &serde_json::json!({"gate": name.trim()}), now)?;
        }
        Ok(removed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::directive::DirectiveResult;
    use crate::domain::Category;

    fn person(name: &str) -> crate::gate::paperwork::NewResident {
        crate::gate::paperwork::NewResident {
            household: "1-101".into(),
            address: "1栋101".into(),
            grid: "1".into(),
            name: name.into(),
            phone: None,
            category: None,
        }
    }

    /// 西门 joined to `g` (with a real code and answer), in `t/west`.
    fn join_west(t: &tempfile::TempDir, g: &mut Gate, now: DateTime<Utc>) -> Gate {
        let (code, _) = g.add_gate_code("西门", 30, "test", now).unwrap();
        let plan = JoinPlan::new(&code, "西门", "http://10.0.0.8:8080").unwrap();
        let answer = g.accept_join(&plan.request, now).unwrap();
        Gate::join_new(&t.path().join("west"), "http://x:1", plan, &answer, now).unwrap()
    }

    fn first() -> (tempfile::TempDir, Gate) {
        let t = tempfile::tempdir().unwrap();
        let g = Gate::init(&t.path().join("east"), "阳光花园", "东门", Utc::now()).unwrap();
        (t, g)
    }

    #[test]
    fn an_expired_code_is_refused_and_a_proven_one_works_once() {
        let (_t, mut g) = first();
        let now = Utc::now();
        let (code, _) = g.add_gate_code("西门", 30, "test", now).unwrap();
        let plan = JoinPlan::new(&code, "西门", "http://10.0.0.8:8080").unwrap();
        let late = now + chrono::Duration::minutes(31);
        assert!(matches!(g.accept_join(&plan.request, late), Err(GateError::JoinExpired(_))));
        assert!(g.accept_join(&plan.request, now).is_ok());
        assert!(matches!(g.accept_join(&plan.request, now), Err(GateError::JoinRefused(_))));
    }

    #[test]
    fn a_forged_answer_writes_nothing() {
        let (t, mut g) = first();
        let now = Utc::now();
        let (code, _) = g.add_gate_code("西门", 30, "test", now).unwrap();
        let plan = JoinPlan::new(&code, "西门", "http://10.0.0.8:8080").unwrap();
        let good = g.accept_join(&plan.request, now).unwrap();
        // the body swapped by someone on the way
        let forged = JoinAnswer { body: good.body.replace("阳光花园", "别的社区"), proof: good.proof.clone() };
        let west = t.path().join("west");
        assert!(matches!(Gate::join_new(&west, "http://x:1", plan, &forged, now), Err(GateError::JoinRefused(_))));
        assert!(!west.exists());
        // an answer proven with another code
        let (code2, _) = g.add_gate_code("北门", 30, "test", now).unwrap();
        let plan2 = JoinPlan::new(&code2, "北门", "http://10.0.0.9:8080").unwrap();
        let other = JoinAnswer::signed(&join::code_hash("ABCDEFGHJKMN"), good.body);
        assert!(matches!(Gate::join_new(&west, "http://x:1", plan2, &other, now), Err(GateError::JoinRefused(_))));
        assert!(!west.exists());
    }

    fn peer_chain(community: &str, gate: &str, n: u64, key: &SigningKey) -> Vec<crate::domain::chain::ChainedEvent> {
        let mut prev = crate::domain::chain::GENESIS.to_string();
        (1..=n)
            .map(|seq| {
                // (from JSON, so fields added later keep their defaults)
                let body: crate::domain::chain::EventBody = serde_json::from_value(serde_json::json!({
                    "seq": seq, "at": format!("2026-11-29T10:00:{:02}.000+08:00", seq % 60), "gate": gate,
                    "community": community, "direction": "out", "pass_id": null, "resident_id": 7,
                    "household": "1-101", "temperature_c": 36.5, "temperature_raw_c": null,
                    "temperature_source": "manual", "decision": "allow", "reasons": [], "warnings": [],
                    "backfilled": false, "clock_suspect": false, "payload_digest": "00"
                }))
                .unwrap();
                let e = crate::domain::chain::seal(body, &prev, key);
                prev = e.hash.clone();
                e
            })
            .collect()
    }

    #[test]
    fn peer_events_are_taken_only_when_they_verify() {
        let (_t, mut g) = first();
        let now = Utc::now();
        let k = crate::keys::generate();
        let other = crate::keys::generate();
        let evs = peer_chain("阳光花园", "西门", 5, &k);
        // no key pinned yet: refused
        assert!(matches!(g.take_peer_events("西门", evs.clone(), now), Err(GateError::PeerRefused(_))));
        assert!(g.pin_peer_key("西门", &hex::encode(k.verifying_key().to_bytes()), "test", now).unwrap());
        assert!(!g.pin_peer_key("西门", &hex::encode(other.verifying_key().to_bytes()), "test", now).unwrap());
        // a gap (events 1 and 2 missing) is refused, nothing stored
        assert!(matches!(g.take_peer_events("西门", evs[2..].to_vec(), now), Err(GateError::PeerRefused(_))));
        assert_eq!(g.take_peer_events("西门", evs[..3].to_vec(), now).unwrap(), 3);
        // a repeated page adds nothing; the rest continues
        assert_eq!(g.take_peer_events("西门", evs.clone(), now).unwrap(), 2);
        assert_eq!(g.take_peer_events("西门", evs.clone(), now).unwrap(), 0);
        // signed by another key, or of another community or gate: refused
        let forged = peer_chain("阳光花园", "西门", 6, &other);
        assert!(matches!(g.take_peer_events("西门", forged[5..].to_vec(), now), Err(GateError::PeerRefused(_))));
        let foreign = peer_chain("别的社区", "北门", 1, &k);
        g.pin_peer_key("北门", &hex::encode(k.verifying_key().to_bytes()), "test", now).unwrap();
        assert!(matches!(g.take_peer_events("北门", foreign, now), Err(GateError::PeerRefused(_))));
        assert!(matches!(g.take_peer_events("东门", evs, now), Err(GateError::PeerRefused(_))), "its own name");
        assert_eq!(g.store.peer_head("西门").unwrap().0, 5);
    }

    #[test]
    fn the_committee_log_is_taken_only_when_the_community_signed_it() {
        let (t, mut g) = first();
        let now = Utc::now();
        let mut west = join_west(&t, &mut g, now);
        // init, the code, the join: three records, and the west gate holds them all
        let (applied, held) = west.committee_position().unwrap();
        assert_eq!((applied, held), (3, 3));
        let f = g.committee_feed(held, applied, now).unwrap();
        assert!(f.records.is_empty() && f.state.is_none(), "nothing new yet");
        let actions: Vec<String> = west.committee_log(10).unwrap().into_iter().map(|r| r.action).collect();
        assert_eq!(actions, ["gate.join", "gate.add", "init"]);

        g.add_resident(&person("张三"), "主任", now).unwrap();
        let feed = g.committee_feed(held, applied, now).unwrap();
        assert_eq!(feed.records.len(), 1);
        let st = feed.state.clone().unwrap();
        // the state changed on the way
        let forged = CommitteeFeed {
            state: Some(CommitteeState { body: st.body.replace("张三", "李四"), ..st.clone() }),
            ..feed.clone()
        };
        assert!(matches!(west.take_committee_feed(&forged, now), Err(GateError::PeerRefused(_))));
        // a record edited, or re-made with a key the community does not have
        let mut edited = feed.clone();
        edited.records[0].actor = "someone".into();
        assert!(matches!(west.take_committee_feed(&edited, now), Err(GateError::PeerRefused(_))));
        let mut foreign = feed.clone();
        let prev = west.committee_log(1).unwrap().remove(0);
        let change = committee_log::Change {
            at: &foreign.records[0].at,
            actor: "主任",
            action: "resident.add",
            detail: &foreign.records[0].detail,
            state_hash: &foreign.records[0].state_hash,
        };
        foreign.records[0] = committee_log::seal(Some(&prev), &change, 1, &crate::keys::generate());
        assert!(matches!(west.take_committee_feed(&foreign, now), Err(GateError::PeerRefused(_))));
        assert_eq!(west.committee_position().unwrap(), (3, 3), "nothing taken");
        assert!(west.store.find_resident("1-101", "张三").is_err());

        assert!(west.take_committee_feed(&feed, now).unwrap());
        assert_eq!(west.committee_position().unwrap(), (4, 4));
        assert!(west.store.find_resident("1-101", "张三").is_ok());
        // replayed: nothing new
        assert!(!west.take_committee_feed(&feed, now).unwrap());

        // a new key and the old one retired: the west gate learns the new
        // key from the log, in order, and follows
        g.rotate_key("主任", now).unwrap();
        g.retire_key(1, "主任", now).unwrap();
        g.add_resident(&person("王五"), "主任", now).unwrap();
        let (applied, held) = west.committee_position().unwrap();
        let feed = g.committee_feed(held, applied, now).unwrap();
        assert_eq!(feed.records.iter().map(|r| r.key_id).collect::<Vec<_>>(), [1, 2, 2]);
        assert!(west.take_committee_feed(&feed, now).unwrap());
        assert_eq!(west.committee_position().unwrap(), (7, 7));

        // the log is only handed out by, and only taken on, the right side
        assert!(matches!(g.take_committee_feed(&feed, now), Err(GateError::PeerRefused(_))));
        assert!(matches!(west.committee_feed(0, 0, now), Err(GateError::NotFirstDirectory(_))));
        assert_eq!(g.verify_committee_log().unwrap(), (7, None));
        assert_eq!(west.verify_committee_log().unwrap(), (7, None));
        // a register row edited behind gatepass's back shows on the first directory
        g.store
            .conn
            .execute("UPDATE residents SET category = 'normal', name = '赵六' WHERE name = '王五'", [])
            .unwrap();
        let (n, problem) = g.verify_committee_log().unwrap();
        assert_eq!(n, 7);
        assert!(problem.unwrap().contains("record 7"));
        // and is sealed as an unrecorded change when the daemon starts
        let r = g.seal_unrecorded(now).unwrap().unwrap();
        assert_eq!((r.seq, r.action.as_str()), (8, "committee.unrecorded"));
        assert_eq!(g.verify_committee_log().unwrap(), (8, None));
    }

    #[test]
    fn a_directive_at_a_joined_gate_holds_until_the_first_directory_has_it() {
        use crate::domain::directive::{self, DirectiveBody};
        let (t, mut g) = first();
        let now = Utc::now();
        let mut west = join_west(&t, &mut g, now);
        let follow = |west: &mut Gate, g: &Gate| {
            let (applied, held) = west.committee_position().unwrap();
            let feed = g.committee_feed(held, applied, now).unwrap();
            west.take_committee_feed(&feed, now).unwrap();
        };
        let zhang = g.add_resident(&person("张三"), "主任", now).unwrap().id;
        follow(&mut west, &g);
        let district = crate::keys::generate();
        let public = hex::encode(district.verifying_key().to_bytes());
        assert!(west.pin_district_key(&public, now).unwrap());
        let d = directive::sign(
            DirectiveBody {
                id: "d-1".into(),
                community: "阳光花园".into(),
                resident_id: zhang,
                category: Category::CloseContact,
                until: None,
                issued_at: "2026-11-29T10:00:00Z".into(),
                issued_by: "区疾控".into(),
            },
            &district,
        );
        assert_eq!(west.apply_directive(&d, "push", now).unwrap(), DirectiveResult::Applied);
        let category = |gate: &Gate| gate.store.resident(zhang).unwrap().unwrap().category;
        assert_eq!(category(&west), Category::CloseContact);
        // a volunteer's visit recorded here refers to the resident: the
        // committee's next state still replaces the register
        let visit = crate::gate::paperwork::Visit {
            resident: zhang,
            temperature_c: Some(36.6),
            symptoms: String::new(),
            note: String::new(),
            at: None,
        };
        west.record_followup(&visit, "志愿者", now).unwrap();
        // a committee change elsewhere: the state that arrives does not
        // carry the directive yet, which is laid over it again
        g.add_resident(&person("王五"), "主任", now).unwrap();
        follow(&mut west, &g);
        assert_eq!(west.committee_position().unwrap().0, g.committee_position().unwrap().0);
        assert_eq!(category(&west), Category::CloseContact);
        // the first directory applies it; later the committee releases the person
        assert!(g.pin_district_key(&public, now).unwrap());
        assert_eq!(g.apply_directive(&d, "push", now).unwrap(), DirectiveResult::Applied);
        g.apply_category(zhang, Category::Normal, None, "主任", now).unwrap();
        follow(&mut west, &g);
        assert_eq!(category(&west), Category::Normal, "the committee's word, after the directive, holds");

        // a second directive reaches 西门 only; the committee later decides
        // on the same person itself: its word holds at 西门 too
        let d2 = directive::sign(DirectiveBody { id: "d-2".into(), ..d.body.clone() }, &district);
        assert_eq!(west.apply_directive(&d2, "push", now).unwrap(), DirectiveResult::Applied);
        assert_eq!(category(&west), Category::CloseContact);
        g.add_resident(&person("赵六"), "主任", now).unwrap();
        follow(&mut west, &g);
        assert_eq!(category(&west), Category::CloseContact, "laid over again");
        let later = now + chrono::Duration::seconds(5);
        g.apply_category(zhang, Category::Normal, None, "主任", later).unwrap();
        follow(&mut west, &g);
        assert_eq!(category(&west), Category::Normal);
    }

    #[test]
    fn gate_local_actions_are_not_committee_records() {
        let (_t, g) = first();
        let now = Utc::now();
        g.create_token(crate::auth::Role::Guard, "门卫", "主任", now).unwrap();
        g.audit("主任", "parcel.collect", &serde_json::json!({}), now).unwrap();
        let actions: Vec<String> = g.committee_log(10).unwrap().into_iter().map(|r| r.action).collect();
        assert_eq!(actions, ["init"]);
        assert!(is_committee_action("district.directive"));
        assert!(!is_committee_action("district.directive_refused"));
    }
}
