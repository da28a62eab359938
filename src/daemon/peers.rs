//! Keeping up with the other gates: one task per peer, every `POLL`, asks
//! the peer which chains it holds (its own and the ones it collected), pins
//! each gate's key on first sight, and fetches what it lacks, page by page.
//! Each page is verified (community, gate, chain continuity, the pinned
//! key's signature on its last event) and stored in one transaction, or
//! refused whole. The first gate's task also follows the committee log.
//! Every gate talks to every other directly (see docs/gates.md), and the
//! first gate hands on every chain it holds.

use crate::domain::chain::ChainedEvent;
use crate::http::AppState;
use chrono::Utc;
use std::time::Duration;

const POLL: Duration = Duration::from_millis(300);
/// How often a peer's last contact is written to the database.
const DB_REFRESH: Duration = Duration::from_secs(30);
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// A peer's answer is read up to this size (a page of 1000 events is ~1 MB).
const MAX_ANSWER_BYTES: usize = 8 * 1024 * 1024;
/// The committee's whole state (register, passes with their signed codes)
/// is larger: a village of 20,000 is about 8 MB; the same cap as `join`.
const MAX_STATE_BYTES: usize = 64 * 1024 * 1024;
/// ...and takes longer than a page to send over a slow link.
const STATE_TIMEOUT: Duration = Duration::from_secs(120);
/// Pages fetched of one chain per round, so one busy chain cannot starve the others.
const MAX_PAGES_PER_ROUND: usize = 20;
/// Chains taken from one peer's list (a peer listing a million names is cut short).
const MAX_CHAINS: usize = 256;

/// Rounds a refused committee answer waits at most before the next try (a minute).
const MAX_COMMITTEE_BACKOFF: u32 = 200;

/// How this gate proves itself to a peer.
#[derive(Clone)]
enum Auth {
    /// The token the peer made for this gate at the join (first gate and joined gate).
    Token(String),
    /// A request signed by this gate's key, for `audience` (two joined gates).
    Signed { signer: std::sync::Arc<crate::gate::community::PeerSigner>, audience: String },
}

#[derive(Debug, serde::Deserialize)]
struct Chains {
    gate: String,
    gate_key: String,
    head: u64,
    #[serde(default)]
    chains: Vec<Held>,
}

#[derive(Debug, serde::Deserialize)]
struct Held {
    gate: String,
    gate_key: String,
    head: u64,
}

#[derive(Debug, serde::Deserialize)]
struct Page {
    head: u64,
    events: Vec<ChainedEvent>,
}

pub fn spawn(state: AppState) {
    tokio::spawn(async move {
        let client = match reqwest::Client::builder().timeout(REQUEST_TIMEOUT).connect_timeout(REQUEST_TIMEOUT).build()
        {
            Ok(c) => c,
            Err(e) => {
                tracing::error!("peers: cannot make an HTTP client: {e}");
                return;
            }
        };
        let Ok(Ok(signer)) = state.inner.writer.run(|g| Ok::<_, crate::gate::GateError>(g.peer_signer())).await else {
            tracing::error!("peers: the gate key cannot be read");
            return;
        };
        let signer = std::sync::Arc::new(signer);
        let mut stopping = state.inner.stopping.subscribe();
        // one task per peer, so a gate that is switched off (each call to it
        // waiting out its timeout) holds up no other
        let mut running: std::collections::HashMap<String, tokio::task::JoinHandle<()>> =
            std::collections::HashMap::new();
        loop {
            let peers = state.reader().ok().and_then(|s| s.peers().ok()).unwrap_or_default();
            let active: std::collections::HashSet<String> =
                peers.iter().filter(|p| p.removed_at.is_none() && !p.url.is_empty()).map(|p| p.gate.clone()).collect();
            running.retain(|gate, task| {
                let keep = active.contains(gate) && !task.is_finished();
                if !keep {
                    task.abort();
                }
                keep
            });
            for gate in active {
                running
                    .entry(gate.clone())
                    .or_insert_with(|| tokio::spawn(follow_peer(state.clone(), client.clone(), signer.clone(), gate)));
            }
            tokio::select! {
                _ = tokio::time::sleep(POLL) => {}
                _ = stopping.changed() => {
                    running.values().for_each(|t| t.abort());
                    return;
                }
            }
        }
    });
}

/// One peer, every [`POLL`], until it is removed (or its address cleared)
/// or the daemon stops: its chains, and the committee's log when it is the
/// first gate.
async fn follow_peer(
    state: AppState,
    client: reqwest::Client,
    signer: std::sync::Arc<crate::gate::community::PeerSigner>,
    gate: String,
) {
    let mut stopping = state.inner.stopping.subscribe();
    // after a refused committee answer, the next try waits 1, 2, 4 ...
    // rounds, up to a minute: a gate stuck on a state it cannot take does
    // not fetch it three times a second
    let (mut committee_wait, mut committee_backoff) = (0u32, 0u32);
    // when this peer's contact was last written to the database, and what
    let mut written: Option<(std::time::Instant, Option<String>)> = None;
    loop {
        let peer =
            state.reader().ok().and_then(|s| s.peers().ok()).and_then(|l| l.into_iter().find(|p| p.gate == gate));
        let Some(p) = peer.filter(|p| p.removed_at.is_none() && !p.url.is_empty()) else { return };
        let first = state.reader().ok().and_then(|s| s.meta("first_gate").ok().flatten());
        // the first gate and this one share tokens from the join; two joined
        // gates sign their requests with their gate keys
        let auth = if p.outbound_token.is_empty() {
            Auth::Signed { signer: signer.clone(), audience: p.gate.clone() }
        } else {
            Auth::Token(p.outbound_token.clone())
        };
        let mut result = sync_peer(&state, &client, &p.gate, &p.url, &auth).await;
        if first.as_deref() == Some(p.gate.as_str()) {
            if committee_wait > 0 {
                committee_wait -= 1;
            } else if let Err(e) = sync_committee(&state, &client, &p.url, &auth).await {
                committee_backoff = (committee_backoff * 2).clamp(1, MAX_COMMITTEE_BACKOFF);
                committee_wait = committee_backoff;
                if result.is_ok() {
                    result = Err(e);
                }
            } else {
                committee_backoff = 0;
            }
        }
        let (behind, error) = match result {
            Ok(b) => (Some(b), None),
            Err(e) => {
                tracing::debug!(peer = %p.gate, "peer sync: {e}");
                (None, Some(e))
            }
        };
        if error.is_none() {
            if let Ok(mut live) = state.inner.peer_live.lock() {
                live.insert(p.gate.clone(), (Utc::now(), behind));
            }
        }
        // the database copy (for `gatepass peers`) is written when the error
        // changes, and otherwise every 30 s: not each round
        let due = match &written {
            Some((at, last_err)) => *last_err != error || at.elapsed() >= DB_REFRESH,
            None => true,
        };
        if due {
            written = Some((std::time::Instant::now(), error.clone()));
            let gate = p.gate.clone();
            let _ =
                state.inner.writer.run(move |g| g.note_peer_contact(&gate, behind, error.as_deref(), Utc::now())).await;
        }
        tokio::select! {
            _ = tokio::time::sleep(POLL) => {}
            _ = stopping.changed() => return,
        }
    }
}

async fn get_json<T: serde::de::DeserializeOwned>(
    client: &reqwest::Client,
    url: &str,
    auth: &Auth,
) -> Result<T, String> {
    get_json_capped(client, url, auth, MAX_ANSWER_BYTES, REQUEST_TIMEOUT).await
}

async fn get_json_capped<T: serde::de::DeserializeOwned>(
    client: &reqwest::Client,
    url: &str,
    auth: &Auth,
    cap: usize,
    timeout: Duration,
) -> Result<T, String> {
    let req = client.get(url).timeout(timeout);
    let req = match auth {
        Auth::Token(t) => req.bearer_auth(t),
        Auth::Signed { signer, audience } => {
            // the path and query as they go on the wire
            let pq = reqwest::Url::parse(url)
                .map(|u| match u.query() {
                    Some(q) => format!("{}?{q}", u.path()),
                    None => u.path().to_string(),
                })
                .map_err(|e| format!("bad address {url}: {e}"))?;
            let (gate, at, sig) = signer.sign(audience, &pq, Utc::now());
            // (a gate's name is Chinese: hex keeps the header plain ASCII)
            req.header(crate::domain::join::PEER_GATE, hex::encode(gate))
                .header(crate::domain::join::PEER_AT, at)
                .header(crate::domain::join::PEER_SIG, sig)
        }
    };
    let mut resp = req.send().await.map_err(|e| format!("unreachable: {e}"))?;
    let status = resp.status();
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(|e| format!("cut off: {e}"))? {
        if body.len() + chunk.len() > cap {
            return Err("answer too large".into());
        }
        body.extend_from_slice(&chunk);
    }
    if !status.is_success() {
        return Err(format!("HTTP {}", status.as_u16()));
    }
    serde_json::from_slice(&body).map_err(|e| format!("unreadable answer: {e}"))
}

/// One round with one peer; returns how many of the peer's own events this
/// gate still lacks.
async fn sync_peer(
    state: &AppState,
    client: &reqwest::Client,
    peer: &str,
    url: &str,
    auth: &Auth,
) -> Result<u64, String> {
    let base = url.trim_end_matches('/');
    let c: Chains = get_json(client, &format!("{base}/api/v1/peer/chains"), auth).await?;
    if c.gate != peer {
        return Err(format!("the gate at {base} says it is '{}', not '{peer}'", c.gate));
    }
    let me = state.inner.identity.gate.clone();
    let mut list = vec![Held { gate: c.gate.clone(), gate_key: c.gate_key.clone(), head: c.head }];
    list.extend(c.chains.into_iter().filter(|h| h.gate != me).take(MAX_CHAINS));
    let mut peer_behind = 0;
    for h in list {
        let (gate, key) = (h.gate.clone(), h.gate_key.clone());
        let from = peer.to_string();
        let pinned = state.inner.writer.run(move |g| g.pin_peer_key(&gate, &key, &from, Utc::now())).await;
        if !matches!(pinned, Ok(Ok(true))) {
            if h.gate == peer {
                return Err(format!("gate '{}' comes with another key than the one pinned here", h.gate));
            }
            // another gate's chain as this peer lists it: not taken, the rest is
            tracing::warn!(peer = %peer, gate = %h.gate, "a chain listed with another key than the one pinned here");
            continue;
        }
        let mut local =
            state.reader().map_err(|_| "database".to_string())?.peer_head(&h.gate).map_err(|e| e.to_string())?.0;
        for _ in 0..MAX_PAGES_PER_ROUND {
            if local >= h.head {
                break;
            }
            let gate_q: String = url_encode(&h.gate);
            let page: Page =
                get_json(client, &format!("{base}/api/v1/peer/events?gate={gate_q}&after={local}&limit=1000"), auth)
                    .await?;
            let Some(last) = page.events.last().map(|e| e.body.seq) else { break };
            let gate = h.gate.clone();
            state
                .inner
                .writer
                .run(move |g| g.take_peer_events(&gate, page.events, Utc::now()))
                .await
                .map_err(|e| e.to_string())?
                .map_err(|e| e.to_string())?;
            local = last.max(local);
            let _ = page.head;
        }
        if h.gate == peer {
            peer_behind = h.head.saturating_sub(local);
        }
    }
    Ok(peer_behind)
}

/// Asks the first gate for the committee records this gate lacks (and the
/// state once they reach the newest), and takes them if the community
/// signed them.
async fn sync_committee(state: &AppState, client: &reqwest::Client, url: &str, auth: &Auth) -> Result<(), String> {
    let base = url.trim_end_matches('/');
    // while catching up, a few answers of 1000 records a round; then one
    for _ in 0..MAX_PAGES_PER_ROUND {
        let (have, after) = state
            .inner
            .writer
            .run(|g| g.committee_position())
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| e.to_string())?;
        let feed: crate::gate::community::CommitteeFeed = get_json_capped(
            client,
            &format!("{base}/api/v1/peer/committee?after={after}&have={have}"),
            auth,
            MAX_STATE_BYTES,
            STATE_TIMEOUT,
        )
        .await?;
        state.inner.committee_head_seen.store(feed.head, std::sync::atomic::Ordering::Relaxed);
        if feed.records.is_empty() && feed.state.is_none() {
            return Ok(());
        }
        let more = feed.state.is_none();
        state
            .inner
            .writer
            .run(move |g| g.take_committee_feed(&feed, Utc::now()))
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| e.to_string())?;
        if !more {
            return Ok(());
        }
    }
    Ok(())
}

fn url_encode(s: &str) -> String {
    crate::web::url_encode(s)
}
