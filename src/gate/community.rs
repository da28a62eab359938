//! One community, several gates. The community's first data directory
//! (`init`) alone holds the community signing key, and is where the
//! committee works; `gate add` there makes a one-time code, and `join` on a
//! new Pi makes a gate that holds the community's public keys only, with a
//! copy of the register, passes and policy, and credentials both ways with
//! the first gate. A stolen joined gate cannot make passes.

use super::{now_text, Gate, GateError, Result, DB_FILE};
use crate::domain::join::{self, JoinAnswer, JoinRequest};
use crate::store::{PeerRow, Store, TableRows};
use chrono::{DateTime, Utc};
use ed25519_dalek::SigningKey;
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
    pub tables: Vec<TableRows>,
    /// The token the new gate presents when it calls the first gate.
    pub peer_token: String,
    /// The committee's state version the tables are at.
    #[serde(default)]
    pub committee_version: u64,
}

/// The committee's state as the first directory hands it to its gates:
/// the register, passes (with revocations), rule changes and the
/// community's public keys, at `version`, signed with a community key so a
/// gate believes only what the community signed.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct CommitteeState {
    pub version: u64,
    /// JSON text of [`CommitteeTables`]; the signature covers its bytes.
    pub body: String,
    pub key_id: u16,
    /// Ed25519 (hex) over `committee_message(version, body)`.
    pub sig: String,
}

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct CommitteeTables {
    pub tables: Vec<TableRows>,
    pub community_keys: TableRows,
}

fn committee_message(version: u64, body: &str) -> Vec<u8> {
    use sha2::Digest;
    let mut m = b"gatepass-committee-v1\0".to_vec();
    m.extend_from_slice(&version.to_be_bytes());
    m.extend_from_slice(&sha2::Sha256::digest(body.as_bytes()));
    m
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

fn check_gate_name(name: &str) -> Result<String> {
    let n = name.trim();
    if n.is_empty() || n.chars().count() > MAX_GATE_NAME || n.chars().any(char::is_control) {
        return Err(GateError::BadName(format!("a gate name must be 1 to {MAX_GATE_NAME} characters of plain text")));
    }
    Ok(n.to_string())
}

impl Gate {
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
        // built after the join is recorded, so the version it carries
        // already counts that record
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
            tables: self.store.snapshot()?,
            peer_token: token_for_them.clone(),
            committee_version: self.store.committee_version()?,
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
        store.set_meta("committee_version", &body.committee_version.to_string())?;
        crate::keys::save(&crate::keys::gate_key_path(data_dir), &plan.gate_key)?;
        store.set_meta("gate_public_key", &hex::encode(plan.gate_key.verifying_key().to_bytes()))?;
        for k in &body.community_keys {
            store.add_key_with_id(k.key_id, &k.public_key, &k.created_at, k.retired_at.as_deref())?;
        }
        store.load_snapshot(&body.tables)?;
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
        let n = self.store.append_peer_events(gate, &fresh)?;
        self.find_conflicts(&fresh, now)?;
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

    /// (first directory) The committee's state for the gates, unless a gate
    /// already has version `have`. Signed with the lowest-numbered active
    /// community key: a gate that followed each change knows it (a new key
    /// reaches the gates inside a state signed by the older one).
    pub fn committee_state(&self, have: u64) -> Result<Option<CommitteeState>> {
        self.require_first("handing out the committee's state")?;
        let version = self.store.committee_version()?;
        if have >= version {
            return Ok(None);
        }
        let body = CommitteeTables { tables: self.store.snapshot()?, community_keys: self.store.key_rows()? };
        let body = serde_json::to_string(&body).map_err(|e| GateError::Usage(format!("cannot encode: {e}")))?;
        let active = self.store.keys()?.into_iter().filter(|k| k.retired_at.is_none()).min_by_key(|k| k.key_id);
        let key_id = active.ok_or(GateError::NoActiveKey)?.key_id;
        let key = crate::keys::load(&crate::keys::community_key_path(&self.data_dir, key_id))?;
        use ed25519_dalek::Signer;
        let sig = hex::encode(key.sign(&committee_message(version, &body)).to_bytes());
        Ok(Some(CommitteeState { version, body, key_id, sig }))
    }

    /// (joined gate) Takes the committee's state if it is newer than the one
    /// held and signed by a community key this gate knows; else refused,
    /// nothing changed. Returns whether it was applied.
    pub fn apply_committee_state(&mut self, st: &CommitteeState, now: DateTime<Utc>) -> Result<bool> {
        let refuse = |why: &str| GateError::PeerRefused(format!("the committee's state was refused: {why}"));
        if self.joined_from()?.is_none() {
            return Err(refuse("this is the community's first directory"));
        }
        let have: u64 = self.store.meta("committee_version")?.and_then(|v| v.parse().ok()).unwrap_or(0);
        if st.version <= have {
            return Ok(false);
        }
        let key = self
            .store
            .keys()?
            .into_iter()
            .find(|k| k.key_id == st.key_id)
            .and_then(|k| hex::decode(k.public_key).ok())
            .and_then(|b| <[u8; 32]>::try_from(b.as_slice()).ok())
            .and_then(|b| ed25519_dalek::VerifyingKey::from_bytes(&b).ok())
            .ok_or_else(|| refuse("signed with a community key this gate does not know"))?;
        let sig = hex::decode(&st.sig)
            .ok()
            .and_then(|b| <[u8; 64]>::try_from(b.as_slice()).ok())
            .map(|b| ed25519_dalek::Signature::from_bytes(&b))
            .ok_or_else(|| refuse("unreadable signature"))?;
        use ed25519_dalek::Verifier;
        key.verify(&committee_message(st.version, &st.body), &sig)
            .map_err(|_| refuse("not signed by the community"))?;
        let tables: CommitteeTables =
            serde_json::from_str(&st.body).map_err(|e| refuse(&format!("unreadable: {e}")))?;
        if tables.community_keys.rows.is_empty() {
            return Err(refuse("it carries no community key"));
        }
        self.store.replace_committee_state(&tables.tables, &tables.community_keys)?;
        self.store.set_meta("committee_version", &st.version.to_string())?;
        self.audit("sync", "committee.sync", &serde_json::json!({"version": st.version}), now)?;
        Ok(true)
    }

    /// The name of the community's first gate, on a joined gate.
    pub fn first_gate(&self) -> Result<Option<String>> {
        Ok(self.store.meta("first_gate")?)
    }

    /// The committee's state version held here.
    pub fn committee_version_held(&self) -> Result<u64> {
        Ok(self.store.meta("committee_version")?.and_then(|v| v.parse().ok()).unwrap_or(0))
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
    fn the_committee_state_is_taken_only_newer_and_signed_by_the_community() {
        let (t, mut g) = first();
        let now = Utc::now();
        let (code, _) = g.add_gate_code("西门", 30, "test", now).unwrap();
        let plan = JoinPlan::new(&code, "西门", "http://10.0.0.8:8080").unwrap();
        let answer = g.accept_join(&plan.request, now).unwrap();
        let mut west = Gate::join_new(&t.path().join("west"), "http://x:1", plan, &answer, now).unwrap();
        let have = west.committee_version_held().unwrap();
        assert!(g.committee_state(have).unwrap().is_none(), "nothing new yet");
        g.audit("test", "policy.set", &serde_json::json!({}), now).unwrap();
        let st = g.committee_state(have).unwrap().unwrap();
        // changed on the way, or signed by a key the community does not have
        let forged = CommitteeState { body: st.body.replace("residents", "residentz"), ..st.clone() };
        assert!(matches!(west.apply_committee_state(&forged, now), Err(GateError::PeerRefused(_))));
        let other = crate::keys::generate();
        use ed25519_dalek::Signer;
        let foreign = CommitteeState {
            sig: hex::encode(other.sign(&committee_message(st.version, &st.body)).to_bytes()),
            ..st.clone()
        };
        assert!(matches!(west.apply_committee_state(&foreign, now), Err(GateError::PeerRefused(_))));
        assert!(west.apply_committee_state(&st, now).unwrap());
        // replayed: not newer, nothing done
        assert!(!west.apply_committee_state(&st, now).unwrap());
        assert!(matches!(g.apply_committee_state(&st, now), Err(GateError::PeerRefused(_))), "not on the first");
        assert!(matches!(west.committee_state(0), Err(GateError::NotFirstDirectory(_))));
    }
}
