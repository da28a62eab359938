//! The district's directives to its gates (issue 13): `district mark`
//! (or the trace page's button) signs "keep this resident in" with the
//! district's Ed25519 key (made at `district init`, or the first time one
//! is needed; `district key` prints its public half). A directive goes to
//! every gate of its community on the gate's next contact: in the reply to
//! the gate's push, or posted to the gate's `POST /api/v1/directives` after
//! a pull. The gate answers what it did (`applied`, `replayed`,
//! `bad_signature`, `other_community`, ...), recorded per gate.

use super::store::{DirectiveRow, DistrictStore, GateRow, Source};
use super::{DistrictError, Result};
use crate::domain::directive::{self, Directive, DirectiveBody};
use crate::domain::{Category, ResidentId};
use chrono::NaiveDate;
use ed25519_dalek::SigningKey;
use serde::{Deserialize, Serialize};

const KEY: &str = "signing_key";
/// Directives handed to one gate per contact (the rest on the next).
pub const PER_CONTACT: u32 = 50;

/// The district's signing key, made on first use. It lives in district.db
/// (mode 0600, like the gates' tokens it already holds).
pub fn signing_key(store: &DistrictStore) -> Result<SigningKey> {
    if let Some(k) = store.meta(KEY)?.as_deref().and_then(parse_secret) {
        return Ok(k);
    }
    let fresh = SigningKey::generate(&mut rand_core::OsRng);
    let held = store.meta_init(KEY, &hex::encode(fresh.to_bytes()))?;
    parse_secret(&held).ok_or_else(|| DistrictError::Usage("the district key in district.db is not readable".into()))
}

fn parse_secret(hex_text: &str) -> Option<SigningKey> {
    let b = hex::decode(hex_text.trim()).ok()?;
    Some(SigningKey::from_bytes(&<[u8; 32]>::try_from(b.as_slice()).ok()?))
}

/// The public key gates pin (`[district] key`), hex.
pub fn public_key_hex(store: &DistrictStore) -> Result<String> {
    Ok(hex::encode(signing_key(store)?.verifying_key().to_bytes()))
}

fn new_id() -> String {
    let mut b = [0u8; 16];
    rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut b);
    hex::encode(b)
}

/// Signs and records a directive for every gate of `community`.
pub fn mark(
    store: &DistrictStore,
    community: &str,
    resident_id: ResidentId,
    category: Category,
    until: Option<NaiveDate>,
    who: &str,
    now: &str,
) -> Result<Directive> {
    let community = community.trim();
    let gates: Vec<GateRow> = store.gates()?.into_iter().filter(|g| g.community == community).collect();
    if gates.is_empty() {
        return Err(DistrictError::Usage(format!(
            "no gate of community '{community}' is known to this district (see `district gates`); nothing sent"
        )));
    }
    let key = signing_key(store)?;
    let d = directive::sign(
        DirectiveBody {
            id: new_id(),
            community: community.to_string(),
            resident_id,
            category,
            until,
            issued_at: now.to_string(),
            issued_by: who.chars().take(64).collect(),
        },
        &key,
    );
    let signed = serde_json::to_string(&d).map_err(|e| DistrictError::Usage(e.to_string()))?;
    store.add_directive(
        &DirectiveRow {
            id: d.body.id.clone(),
            community: community.to_string(),
            resident_id: resident_id.0,
            category: category.as_str().to_string(),
            until: until.map(|u| u.to_string()),
            issued_at: now.to_string(),
            issued_by: d.body.issued_by.clone(),
            deliveries: Vec::new(),
        },
        &signed,
    )?;
    Ok(d)
}

/// The directives a gate has not answered yet; each noted as sent.
pub fn for_gate(store: &DistrictStore, gate: &GateRow, via: Source, now: &str) -> Result<Vec<Directive>> {
    let mut out = Vec::new();
    for (id, signed) in store.pending_directives(gate.id, &gate.community, PER_CONTACT)? {
        if let Ok(d) = serde_json::from_str::<Directive>(&signed) {
            store.note_directive_sent(&id, gate.id, via, now)?;
            out.push(d);
        }
    }
    Ok(out)
}

/// A gate's answer for one directive.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Answer {
    pub id: String,
    pub result: String,
}

/// Records what a gate said it did with directives it was sent (answers
/// for directives never sent to it are ignored).
pub fn record(store: &DistrictStore, gate_id: i64, answers: &[Answer], now: &str) -> Result<()> {
    for a in answers.iter().take(PER_CONTACT as usize * 4) {
        let result: String = a.result.chars().filter(|c| c.is_ascii_alphanumeric() || *c == '_').take(40).collect();
        store.note_directive_result(&a.id, gate_id, &result, now)?;
    }
    Ok(())
}
