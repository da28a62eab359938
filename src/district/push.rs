//! Gates that push (issue 13): a gate behind NAT or on 4G cannot be reached
//! by the district, so it sends its new events itself to `POST
//! /api/v1/ingest` with a district token of role `gate` (`district token
//! create --role gate --gate NAME`).
//!
//! A push is an events page as the gate's own `GET /api/v1/events` answers
//! it, and is checked exactly as a pulled page ([`super::pull::store_page`]):
//! the pinned gate key, the chain continuing the held head, the size
//! bounds. A gate first seen by push has its key pinned from that push
//! (the token vouches for it), as a carried file pins it on first sight.
//! Every reply carries the district's acknowledged head: the gate resumes
//! from there, so a lost reply or a re-sent batch changes nothing.

use super::pull::{store_page, EventsPage};
use super::store::{DistrictStore, GateRow, Source};
use super::DistrictError;
use crate::export::parse_key;
use serde::Serialize;

/// The most events one push may carry (the gate's largest page).
pub const MAX_EVENTS: usize = 5000;

/// The district's head for a gate: what the gate may forget it sent.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Ack {
    pub seq: u64,
    pub hash: String,
}

/// The answer to an accepted push.
#[derive(Debug, Clone, Serialize)]
pub struct PushReply {
    pub ok: bool,
    pub gate: String,
    pub community: String,
    pub head: Ack,
    pub added: u64,
    pub duplicates: u64,
    pub quarantined: u64,
    /// `ok`, or `broken`: the chain does not continue what the district
    /// holds; the events are kept apart and never counted.
    pub chain: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// The district's public key: a gate without `[district] key` pins it
    /// from its first successful push.
    pub district_key: String,
    /// Directives for the gate's community it has not answered yet.
    pub directives: Vec<crate::domain::directive::Directive>,
}

/// Why a push was refused; each has a code the gate shows in its health.
#[derive(Debug, thiserror::Error)]
pub enum PushRefused {
    #[error("the token is not a gate token of this district (create one with `gatepass district token create --role gate --gate NAME`)")]
    Unauthorized,
    #[error("this token is for gate {0}, not for the gate that pushed")]
    WrongGate(String),
    #[error("{0}")]
    BadRequest(String),
    #[error("at most {MAX_EVENTS} events per push")]
    TooMany,
    /// Events missing between the held head and the first one sent: send
    /// again from `head`.
    #[error("the push starts at event {starts} but the district holds up to {}: send again after it", head.seq)]
    Gap { head: Ack, starts: u64 },
    #[error("the gate's chain does not continue what the district holds: {detail}")]
    ChainBroken { reply: Box<PushReply>, detail: String },
    #[error(transparent)]
    Internal(#[from] DistrictError),
}

impl PushRefused {
    pub fn code(&self) -> &'static str {
        match self {
            PushRefused::Unauthorized => "unauthorized",
            PushRefused::WrongGate(_) => "wrong_gate",
            PushRefused::BadRequest(_) => "bad_request",
            PushRefused::TooMany => "too_large",
            PushRefused::Gap { .. } => "gap",
            PushRefused::ChainBroken { .. } => "chain_broken",
            PushRefused::Internal(_) => "internal",
        }
    }
}

impl From<crate::store::StoreError> for PushRefused {
    fn from(e: crate::store::StoreError) -> Self {
        PushRefused::Internal(e.into())
    }
}

fn ack_of(g: &GateRow) -> Ack {
    // A broken gate's new events go on into quarantine after its newest
    // one held apart (as a pull of a broken gate does).
    if g.broken() && g.quarantine_seq > g.head_seq {
        Ack { seq: g.quarantine_seq, hash: String::new() }
    } else {
        Ack { seq: g.head_seq, hash: g.head_hash.clone() }
    }
}

/// Checks a pushed page among itself under the key it says it is signed
/// with: the costly part of a push, done before the store is locked so
/// several gates' pages are checked at once.
pub fn precheck(page: &EventsPage) -> Option<(String, (usize, Option<String>))> {
    let key = parse_key(&page.gate_key)?;
    Some((page.gate_key.clone(), super::ingest::check_page(&page.events, &key)))
}

/// Takes one push: `token_hash` is the hash of the bearer token sent;
/// `prechecked` is [`precheck`]'s result, used if the key is the pinned one.
pub fn ingest(
    store: &mut DistrictStore,
    token_hash: &str,
    page: &EventsPage,
    now: &str,
    prechecked: Option<(String, (usize, Option<String>))>,
) -> std::result::Result<PushReply, PushRefused> {
    let tok = store.gate_token(token_hash)?.ok_or(PushRefused::Unauthorized)?;
    let named = |t: &super::store::GateToken| {
        format!(
            "'{}'{}",
            t.gate.as_deref().unwrap_or("?"),
            t.community.as_deref().map(|c| format!(" of {c}")).unwrap_or_default()
        )
    };
    if tok.gate.as_deref() != Some(page.gate.as_str()) || tok.community.as_deref().is_some_and(|c| c != page.community)
    {
        return Err(PushRefused::WrongGate(named(&tok)));
    }
    if page.events.len() > MAX_EVENTS {
        return Err(PushRefused::TooMany);
    }
    if parse_key(&page.gate_key).is_none() {
        return Err(PushRefused::BadRequest(format!("gate_key '{}' is not an Ed25519 key", page.gate_key)));
    }
    let g = match tok.gate_id {
        Some(id) => store.gate(id)?.ok_or(PushRefused::WrongGate(named(&tok)))?,
        None => {
            let known = match store.gate_by_key(&page.gate_key)? {
                Some(g) => Some(g),
                None => store.gate_by_name(&page.community, &page.gate)?,
            };
            let g = match known {
                Some(g) => g,
                None => {
                    // first sight: pinned from this push, as a carried file pins it
                    let id = store.add_gate(&page.gate, &page.community, &page.gate_key, None, None, now)?;
                    store.gate(id)?.ok_or_else(|| DistrictError::Usage("the gate just registered is missing".into()))?
                }
            };
            store.bind_gate_token(&tok.hash, g.id)?;
            g
        }
    };
    if g.name != page.gate || g.community != page.community {
        return Err(PushRefused::WrongGate(named(&tok)));
    }
    let held = ack_of(&g);
    if let Some(first) = page.events.first().map(|e| e.event.body.seq) {
        let anchoring = !g.broken() && g.head_seq == 0 && g.base_seq == 0;
        if first > held.seq.saturating_add(1) && !anchoring {
            store.record_contact_via(g.id, now, Source::Push)?;
            return Err(PushRefused::Gap { head: held, starts: first });
        }
    }
    let pre = prechecked.as_ref().map(|(k, r)| (k.as_str(), r.clone()));
    let counts = store_page(store, &g, page, Source::Push, now, pre)?;
    store.record_contact_via(g.id, now, Source::Push)?;
    super::directives::record(store, g.id, &page.directive_results, now)?;
    let after = store.gate(g.id)?.unwrap_or(g);
    let directives = super::directives::for_gate(store, &after, Source::Push, now)?;
    let reply = PushReply {
        ok: !after.broken(),
        gate: after.name.clone(),
        community: after.community.clone(),
        head: ack_of(&after),
        added: counts.added,
        duplicates: counts.duplicates,
        quarantined: counts.quarantined,
        chain: after.chain_status.clone(),
        detail: after.chain_detail.clone(),
        district_key: super::directives::public_key_hex(store)?,
        directives,
    };
    if after.broken() {
        let detail = after.chain_detail.clone().unwrap_or_default();
        return Err(PushRefused::ChainBroken { reply: Box::new(reply), detail });
    }
    Ok(reply)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::district::ingest::tests::chain;
    use ed25519_dalek::SigningKey;

    fn page(key: &SigningKey, evs: &[crate::domain::chain::ExportedEvent], gate: &str) -> EventsPage {
        EventsPage {
            gate: gate.into(),
            community: "阳光花园".into(),
            gate_key: hex::encode(key.verifying_key().to_bytes()),
            events: evs.to_vec(),
            head: None,
            directive_results: Vec::new(),
            limits: None,
        }
    }

    #[test]
    fn a_push_pins_the_gate_resumes_and_is_idempotent() {
        let mut s = DistrictStore::open_in_memory().unwrap();
        let key = SigningKey::from_bytes(&[9; 32]);
        s.add_gate_token("h1", "east", "东门", None, "now").unwrap();
        s.add_gate_token("h2", "west", "西门", Some("阳光花园"), "now").unwrap();
        let evs = chain(6, &key, None);
        assert!(matches!(
            ingest(&mut s, "nope", &page(&key, &evs, "东门"), "now", None),
            Err(PushRefused::Unauthorized)
        ));
        assert!(matches!(ingest(&mut s, "h2", &page(&key, &evs, "东门"), "now", None), Err(PushRefused::WrongGate(_))));
        let r = ingest(&mut s, "h1", &page(&key, &evs[..4], "东门"), "now", None).unwrap();
        assert_eq!((r.head.seq, r.added), (4, 4));
        // the same again, and overlapping: nothing doubled
        let r = ingest(&mut s, "h1", &page(&key, &evs, "东门"), "now", None).unwrap();
        assert_eq!((r.head.seq, r.added, r.duplicates), (6, 2, 4));
        let r = ingest(&mut s, "h1", &page(&key, &evs, "东门"), "now", None).unwrap();
        assert_eq!((r.head.seq, r.added, r.duplicates), (6, 0, 6));
        assert_eq!(s.event_count().unwrap(), 6);
        let g = s.gates().unwrap().pop().unwrap();
        assert_eq!(g.contact_via.as_deref(), Some("push"));
        // a gap: told where to resume, nothing stored
        let more = chain(10, &key, None);
        match ingest(&mut s, "h1", &page(&key, &more[8..], "东门"), "now", None) {
            Err(PushRefused::Gap { head, starts }) => assert_eq!((head.seq, starts), (6, 9)),
            other => panic!("{other:?}"),
        }
        // another key under the same token: the chain is broken, kept apart
        let other = SigningKey::from_bytes(&[8; 32]);
        let e = ingest(&mut s, "h1", &page(&other, &chain(7, &other, None)[6..], "东门"), "now", None).unwrap_err();
        assert_eq!(e.code(), "chain_broken");
        assert_eq!(s.event_count().unwrap(), 6);
    }

    #[test]
    fn an_empty_push_is_a_hello_that_learns_the_head() {
        let mut s = DistrictStore::open_in_memory().unwrap();
        let key = SigningKey::from_bytes(&[9; 32]);
        s.add_gate_token("h1", "east", "东门", Some("阳光花园"), "now").unwrap();
        let r = ingest(&mut s, "h1", &page(&key, &[], "东门"), "now", None).unwrap();
        assert_eq!(r.head.seq, 0);
        assert_eq!(s.gates().unwrap().len(), 1);
    }
}
