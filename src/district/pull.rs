//! Pulling events from gate daemons over `GET /api/v1/events`.
//!
//! Per gate: ask for the events after the last stored seq, page by page;
//! check each page links to the stored head, that no event was edited and
//! that the gate's pinned key signed the page's last event; store each page
//! in one transaction. A gate that is down, slow, answers garbage or signs
//! with another key gets a message naming it, and the others are still
//! pulled. As a service (`district pull` without `--once`) every gate is
//! asked each `pull.interval_s`; a failing gate is retried with a doubling
//! back-off up to `pull.max_backoff_s`. The service re-reads each gate's
//! whole log on its first round and then every `pull.recheck_hours`.

use super::config::PullSection;
use super::ingest::{check_page, IngestError, Ingested, Ingestor};
use super::store::{DistrictStore, GateRow, Source};
use super::{now_text, District, DistrictError, Result};
use crate::domain::chain::ExportedEvent;
use crate::export::parse_key;
use chrono::Utc;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// The gate's answer to `GET /api/v1/events`.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct EventsPage {
    pub gate: String,
    pub community: String,
    pub gate_key: String,
    pub events: Vec<ExportedEvent>,
    pub head: Option<PageHead>,
    /// A pushing gate's answers for the directives it was sent (issue 13).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub directive_results: Vec<super::directives::Answer>,
    /// The community's limits, for the conflicts between its gates (issue 10).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limits: Option<crate::domain::community::Limits>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct PageHead {
    pub seq: u64,
    pub hash: String,
    #[serde(default)]
    pub sig: Option<String>,
}

pub struct Client {
    http: reqwest::Client,
    timeout_s: u64,
    max_bytes: usize,
}

impl Client {
    pub fn new(cfg: &PullSection) -> Result<Client> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(cfg.timeout_s))
            .connect_timeout(Duration::from_secs(cfg.timeout_s.min(5)))
            .user_agent(concat!("gatepass-district/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| DistrictError::Usage(format!("cannot set up the HTTP client: {e}")))?;
        Ok(Client { http, timeout_s: cfg.timeout_s, max_bytes: cfg.max_page_bytes() })
    }

    /// One page. Errors say what is wrong in words a clerk can act on; the
    /// caller adds which gate. The body is read piece by piece and cut off
    /// past `pull.max_page_mb`: a gate cannot make the district buffer more.
    pub async fn fetch(
        &self,
        base: &str,
        token: &str,
        after: u64,
        limit: u32,
    ) -> std::result::Result<EventsPage, String> {
        let url = format!("{}/api/v1/events?after={after}&limit={limit}", base.trim_end_matches('/'));
        let mut resp = self.http.get(&url).bearer_auth(token.trim()).send().await.map_err(|e| {
            if e.is_timeout() {
                format!("no answer within {} s from {base} (gate slow or overloaded); will try again", self.timeout_s)
            } else if e.is_connect() {
                format!("cannot connect to {base} (gate down, wrong address, or no network)")
            } else {
                format!("request to {base} failed: {e}")
            }
        })?;
        match resp.status().as_u16() {
            200 => {}
            401 => {
                return Err(format!(
                    "{base} refused the district token (401); on the gate run `gatepass token create --role district` \
                     and register it again with `district add-gate`"
                ))
            }
            403 => return Err(format!("{base} says this token may not read events (403): it is not a district token")),
            s => return Err(format!("{base} answered HTTP {s}; check the gate's daemon and its log")),
        }
        let too_big = || {
            format!(
                "{base} sent more than {} MB for one page; cut off there (pull.max_page_mb). Nothing stored from this page",
                self.max_bytes >> 20
            )
        };
        if resp.content_length().is_some_and(|n| n > self.max_bytes as u64) {
            return Err(too_big());
        }
        let mut bytes: Vec<u8> = Vec::new();
        loop {
            let chunk = resp.chunk().await.map_err(|e| {
                if e.is_timeout() {
                    format!("{base} was too slow sending events (over {} s); will try again", self.timeout_s)
                } else {
                    format!("reading the answer of {base} failed: {e}")
                }
            })?;
            let Some(chunk) = chunk else { break };
            if bytes.len().saturating_add(chunk.len()) > self.max_bytes {
                return Err(too_big());
            }
            bytes.extend_from_slice(&chunk);
        }
        let page = serde_json::from_slice::<EventsPage>(&bytes).map_err(|e| {
            let mut d = e.to_string();
            d.truncate(200);
            format!("{base} answered something that is not a gatepass events page ({d}); is the URL a gatepass gate?")
        })?;
        if page.events.len() > limit as usize {
            return Err(format!(
                "{base} sent {} events when asked for at most {limit}; its daemon is not behaving, nothing stored from this page",
                page.events.len()
            ));
        }
        Ok(page)
    }
}

impl Client {
    /// Hands directives to a gate the district reaches (issue 13); the
    /// gate's answer per directive. A gate too old to know directives
    /// answers 404: nothing is recorded, they go again next round.
    pub async fn post_directives(
        &self,
        base: &str,
        token: &str,
        directives: &[crate::domain::directive::Directive],
    ) -> std::result::Result<Vec<super::directives::Answer>, String> {
        #[derive(Deserialize)]
        struct Answers {
            results: Vec<super::directives::Answer>,
        }
        let url = format!("{}/api/v1/directives", base.trim_end_matches('/'));
        let resp = self
            .http
            .post(&url)
            .bearer_auth(token.trim())
            .json(&serde_json::json!({ "directives": directives }))
            .send()
            .await
            .map_err(|e| format!("handing directives to {base} failed: {e}"))?;
        if !resp.status().is_success() {
            return Err(format!("{base} answered HTTP {} to the directives", resp.status().as_u16()));
        }
        let bytes = resp.bytes().await.map_err(|e| format!("reading {base}'s answer to the directives: {e}"))?;
        if bytes.len() > 1 << 20 {
            return Err(format!("{base}'s answer to the directives is too large"));
        }
        serde_json::from_slice::<Answers>(&bytes)
            .map(|a| a.results)
            .map_err(|_| format!("{base} did not answer the directives as a gatepass gate"))
    }
}

/// After a gate's pull went through: the directives for its community it
/// has not answered yet, posted to it; its answers recorded. A failure
/// here does not fail the pull (they go again next round).
async fn deliver_directives(db: &Db<'_>, client: &Client, gate_id: i64) -> Result<()> {
    let now = now_text(Utc::now());
    let (g, dirs) = {
        let d = lock(db);
        let Some(g) = d.store.gate(gate_id)? else { return Ok(()) };
        let dirs = if d.store.pending_directives(g.id, &g.community, 1)?.is_empty() {
            Vec::new()
        } else {
            super::directives::for_gate(&d.store, &g, Source::Pull, &now)?
        };
        (g, dirs)
    };
    let (Some(url), Some(token)) = (g.url.as_deref(), g.token.as_deref()) else { return Ok(()) };
    if dirs.is_empty() {
        return Ok(());
    }
    match client.post_directives(url, token, &dirs).await {
        Ok(answers) => super::directives::record(&lock(db).store, gate_id, &answers, &now)?,
        Err(e) => tracing::warn!(gate = %g.name, "{e}"),
    }
    Ok(())
}

/// Registers a gate: asks it for its identity (`limit=0`), checks the
/// token, and pins its key.
///
/// With `moved`, a gate already registered under this key gets the new
/// address (a gate whose IP changed); without it that is refused, so a
/// typo cannot silently point one gate's record at another machine.
pub async fn add_gate(d: &mut District, url: &str, token: &str, moved: bool) -> Result<(GateRow, bool)> {
    let url = url.trim().trim_end_matches('/').to_string();
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        return Err(DistrictError::Usage(format!("--url '{url}' must start with http:// or https://")));
    }
    let client = Client::new(&d.config.pull)?;
    let page = client
        .fetch(&url, token, 0, 0)
        .await
        .map_err(|detail| DistrictError::Unreachable { url: url.clone(), detail })?;
    if parse_key(&page.gate_key).is_none() {
        return Err(DistrictError::Unreachable {
            url,
            detail: format!("its gate_key '{}' is not an Ed25519 key", page.gate_key),
        });
    }
    let now = now_text(Utc::now());
    if let Some(g) = d.store.gate_by_key(&page.gate_key)? {
        return match g.url.as_deref() {
            Some(u) if u != url && !moved => Err(DistrictError::DuplicateGate {
                gate: g.name,
                community: g.community,
                how: format!(" with this key at {u} (if the gate moved, add --move)"),
            }),
            _ => {
                // Same gate, same (or first) address: a new token, or the
                // network route for a gate first collected by file.
                d.store.set_gate_endpoint(g.id, &url, token.trim())?;
                let g = d.store.gate(g.id)?.unwrap_or(g);
                Ok((g, false))
            }
        };
    }
    if let Some(g) = d.store.gate_by_name(&page.community, &page.gate)? {
        return Err(DistrictError::DuplicateGate {
            gate: g.name,
            community: g.community,
            how: format!(
                " under another key ({}…); this gate signs with {}… — if it was reinstalled, check it on site before trusting its new key",
                &g.gate_key.get(..12).unwrap_or(&g.gate_key),
                page.gate_key.get(..12).unwrap_or(&page.gate_key)
            ),
        });
    }
    let id = d.store.add_gate(&page.gate, &page.community, &page.gate_key, Some(&url), Some(token.trim()), &now)?;
    let g = d.store.gate(id)?.ok_or_else(|| DistrictError::Usage("the gate just registered is missing".into()))?;
    Ok((g, true))
}

/// What one pull of one gate did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct GatePull {
    #[serde(skip)]
    pub gate_id: i64,
    pub gate: String,
    pub community: String,
    pub url: Option<String>,
    pub ok: bool,
    pub error: Option<String>,
    pub pages: u32,
    /// Set when this round stopped before the gate had nothing newer (the
    /// page or time cap of a round): the rest comes next round.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unfinished: Option<String>,
    #[serde(flatten)]
    pub counts: Ingested,
    pub head_seq: u64,
    pub chain_status: String,
    pub chain_detail: Option<String>,
}

fn add_counts(a: &mut Ingested, b: Ingested) {
    a.added += b.added;
    a.duplicates += b.duplicates;
    a.quarantined += b.quarantined;
    a.older += b.older;
    a.names += b.names;
    a.names_ignored += b.names_ignored;
    if a.broke.is_none() {
        a.broke = b.broke;
    }
}

/// What one round of one gate did.
#[derive(Debug, Clone, Default)]
pub struct GateRound {
    pub counts: Ingested,
    pub pages: u32,
    /// Why the round stopped before the gate had nothing newer.
    pub unfinished: Option<String>,
}

/// Pulls one gate until it has nothing newer, or until the round's caps
/// (`pull.max_pages` pages, `pull.gate_round_s` seconds) are reached: what
/// was stored stays, the rest waits for the next round, and the other gates
/// are asked in the meantime.
///
/// With `recheck`, the gate's whole log is fetched again from the first
/// event the district holds and compared with what was collected: a plain
/// pull only asks for newer events, so an edit to an event already
/// collected shows only this way (or on the gate's own `events verify`).
pub async fn pull_gate(db: &Db<'_>, client: &Client, gate_id: i64, recheck: bool) -> Result<GateRound> {
    let (limit, max_pages, round_s) = {
        let d = lock(db);
        (d.config.pull.page_size, d.config.pull.max_pages, d.config.pull.gate_round_s)
    };
    // (capped at a day: Instant + an absurd configured Duration would panic)
    let deadline = tokio::time::Instant::now() + Duration::from_secs(round_s.min(86_400));
    let mut total = Ingested::default();
    let mut pages = 0u32;
    let mut cursor: Option<u64> = None;
    let mut first = true;
    loop {
        if pages >= max_pages {
            let why = format!("stopped after {pages} pages (pull.max_pages); the rest comes next round");
            return Ok(GateRound { counts: total, pages, unfinished: Some(why) });
        }
        // (the lock is never held across the fetch: the other gates' pages
        // are stored while this one waits)
        let g = lock(db)
            .store
            .gate(gate_id)?
            .ok_or_else(|| DistrictError::Usage(format!("gate {gate_id} is not registered")))?;
        let gate_err = |detail: String| DistrictError::Gate { gate: g.name.clone(), detail };
        let (Some(url), Some(token)) = (g.url.clone(), g.token.clone()) else {
            return Err(gate_err(
                "known from carried files only (no URL); register it with `district add-gate` to pull".into(),
            ));
        };
        parse_key(&g.gate_key)
            .ok_or_else(|| gate_err("the pinned key in the district database is not valid".into()))?;
        // A broken gate's new events keep coming, into quarantine, after
        // the newest one kept apart.
        let normal = if g.broken() && g.quarantined > 0 { g.quarantine_seq } else { g.head_seq };
        if first && recheck && !g.broken() && g.head_seq > g.base_seq {
            cursor = Some(g.base_seq);
        }
        first = false;
        let after = cursor.unwrap_or(normal);
        let page = match tokio::time::timeout_at(deadline, client.fetch(&url, &token, after, limit)).await {
            Ok(page) => page.map_err(gate_err)?,
            Err(_) if pages == 0 => {
                return Err(gate_err(format!(
                    "no complete page within {round_s} s (pull.gate_round_s); the gate is too slow or misbehaving; will try again"
                )))
            }
            Err(_) => {
                let why =
                    format!("stopped after {round_s} s (pull.gate_round_s), {pages} pages in; the rest comes next round");
                return Ok(GateRound { counts: total, pages, unfinished: Some(why) });
            }
        };
        pages += 1;
        let mut guard = lock(db);
        let d: &mut District = &mut guard;
        let now = now_text(Utc::now());
        d.store.record_contact(g.id, &now)?;
        if let Some(bad) = page.events.iter().find(|e| e.event.body.seq <= after) {
            return Err(gate_err(format!(
                "sent event {} when asked for events after {after}; its daemon is not behaving, nothing stored from this page",
                bad.event.body.seq
            )));
        }

        if page.gate_key != g.gate_key && g.quarantined == 0 && after > 0 {
            // A gate re-initialised under a new key has a new log whose seqs
            // say nothing about the ones held: keep all of it apart, from its
            // first event, so `gate-reset --accept` can take it whole.
            cursor = Some(0);
            continue;
        }
        let counts = store_page(&mut d.store, &g, &page, Source::Pull, &now, None)?;
        let n = page.events.len();
        add_counts(&mut total, counts);
        if cursor.is_some() {
            // Still re-reading what was collected: go on from this page's
            // end; once past the held head (or broken), back to plain pulling.
            cursor = match page.events.last().map(|e| e.event.body.seq) {
                Some(end) if end < g.head_seq && total.broke.is_none() => Some(end),
                _ => None,
            };
            if cursor.is_some() {
                continue;
            }
        }
        if n == 0 || n < limit as usize {
            return Ok(GateRound { counts: total, pages, unfinished: None });
        }
    }
}

/// Stores one page of a gate's events, as pulled or as pushed by the gate:
/// checked against the pinned key and the held chain (a page signed by
/// another key, a log that got shorter, an edited or unlinked event breaks
/// the chain and goes to quarantine), in one transaction.
pub(crate) fn store_page(
    store: &mut DistrictStore,
    g: &GateRow,
    page: &EventsPage,
    source: Source,
    now: &str,
    prechecked: Option<(&str, (usize, Option<String>))>,
) -> Result<Ingested> {
    let gate_err = |detail: String| DistrictError::Gate { gate: g.name.clone(), detail };
    let pinned = parse_key(&g.gate_key)
        .ok_or_else(|| gate_err("the pinned key in the district database is not valid".into()))?;
    let tx = store.begin()?;
    let mut ing = Ingestor::new(g, source, now);
    if page.gate_key != g.gate_key {
        ing.break_chain(
            &tx,
            format!(
                "the gate now signs with key {}…, not the key {}… pinned when it was added: \
                 a reinstalled gate or an impostor",
                page.gate_key.get(..12).unwrap_or(&page.gate_key),
                g.gate_key.get(..12).unwrap_or(&g.gate_key)
            ),
        )?;
    }
    if page.events.is_empty() && !g.broken() {
        match &page.head {
            Some(h) if h.seq < g.head_seq => ing.break_chain(
                &tx,
                format!(
                    "the gate's log now ends at event {}, but the district already collected up to {}: \
                     events were deleted or its database was restored from an older backup",
                    h.seq, g.head_seq
                ),
            )?,
            Some(h) if h.seq == g.head_seq && h.hash != g.head_hash => ing.break_chain(
                &tx,
                format!(
                    "the gate's newest event {} differs from the copy the district collected: it was rewritten",
                    h.seq
                ),
            )?,
            None if g.head_seq > 0 => ing.break_chain(
                &tx,
                format!(
                    "the gate reports an empty log, but the district already collected {} events: \
                     its database was replaced",
                    g.head_seq
                ),
            )?,
            _ => {}
        }
    }
    // a page checked beforehand under the pinned key (a push, outside the
    // store's lock) is not checked twice
    let (good, problem) = match prechecked {
        Some((key, result)) if key == g.gate_key => result,
        _ => check_page(&page.events, &pinned),
    };
    // Names are believed only with the gate key's signature for their
    // event. A gate under a new key goes to quarantine: its names are
    // checked with its new key now and again when a reset accepts it.
    let name_key = if page.gate_key == g.gate_key { pinned } else { parse_key(&page.gate_key).unwrap_or(pinned) };
    // (check_page counts within the page, so good <= len)
    let (verified, rest) = page.events.split_at_checked(good).unwrap_or((&page.events, &[]));
    for ev in verified {
        let name = ev.check_name(&name_key);
        match ing.push(&tx, ev, name) {
            Ok(()) => {}
            Err(IngestError::Store(e)) => return Err(e.into()),
            Err(IngestError::Gap { have, starts }) => {
                ing.break_chain(
                    &tx,
                    format!(
                        "the gate sent event {starts} right after {have}: events {} to {} were dropped from its log",
                        have.saturating_add(1),
                        starts.saturating_sub(1)
                    ),
                )?;
                ing.push(&tx, ev, name).map_err(|e| DistrictError::Usage(e.to_string()))?;
            }
        }
    }
    if let Some(p) = problem {
        ing.break_chain(&tx, format!("pulled events do not verify: {p}"))?;
        for ev in rest {
            ing.push(&tx, ev, ev.check_name(&name_key)).map_err(|e| DistrictError::Usage(e.to_string()))?;
        }
    }
    let counts = ing.finish(&tx)?;
    tx.commit()?;
    // the community's limits as this gate last sent them (not evidence: a
    // refused page's limits are kept too, they only shape the conflict count)
    if let Some(l) = page.limits.as_ref().filter(|l| l.policy().is_some()) {
        store.set_gate_limits(g.id, l)?;
    }
    Ok(counts)
}

/// The district shared by the gates pulled at the same time: each takes
/// it only to read its row and to store a page, never while it waits.
pub type Db<'a> = std::sync::Mutex<&'a mut District>;

fn lock<'a, 'b>(db: &'a Db<'b>) -> std::sync::MutexGuard<'a, &'b mut District> {
    // a panic while storing rolled its transaction back: the data is whole
    db.lock().unwrap_or_else(|p| p.into_inner())
}

/// Pulls every registered gate with a URL once; one failing gate never
/// stops the others.
pub async fn pull_all(d: &mut District, client: &Client, only: Option<&[i64]>, recheck: bool) -> Result<Vec<GatePull>> {
    let gates = d
        .store
        .gates()?
        .into_iter()
        .filter(|g| g.url.is_some() && only.is_none_or(|ids| ids.contains(&g.id)))
        .map(|g| (g.id, recheck))
        .collect();
    pull_round(d, client, gates).await
}

/// One round over these gates (each with whether to re-read its whole
/// log), `pull.concurrency` at a time: a slow or dead gate holds its own
/// slot for at most its timeouts, the others go on. Results come in the
/// order the gates were given.
pub async fn pull_round(d: &mut District, client: &Client, gates: Vec<(i64, bool)>) -> Result<Vec<GatePull>> {
    use futures_util::StreamExt;
    let concurrency = d.config.pull.concurrency.clamp(1, 1024);
    let db: Db<'_> = std::sync::Mutex::new(d);
    let db = &db;
    let mut done: Vec<(usize, Result<GatePull>)> = futures_util::stream::iter(gates.into_iter().enumerate())
        .map(|(i, (id, recheck))| async move {
            let res = pull_gate(db, client, id, recheck).await;
            if res.is_ok() {
                if let Err(e) = deliver_directives(db, client, id).await {
                    tracing::warn!("directives for gate {id}: {e}");
                }
            }
            (i, gate_result(&mut lock(db), id, res))
        })
        .buffer_unordered(concurrency)
        .collect()
        .await;
    done.sort_by_key(|(i, _)| *i);
    done.into_iter().map(|(_, r)| r).collect()
}

/// What a gate's round did, with its state after it; a failure is recorded
/// on the gate.
fn gate_result(d: &mut District, id: i64, res: Result<GateRound>) -> Result<GatePull> {
    let after = d.store.gate(id)?.ok_or_else(|| DistrictError::Usage(format!("gate {id} is not registered")))?;
    let mut p = GatePull {
        gate_id: id,
        gate: after.name.clone(),
        community: after.community.clone(),
        url: after.url.clone(),
        head_seq: after.head_seq,
        chain_status: after.chain_status.clone(),
        chain_detail: after.chain_detail.clone(),
        ..Default::default()
    };
    match res {
        Ok(r) => {
            p.ok = true;
            p.counts = r.counts;
            p.pages = r.pages;
            p.unfinished = r.unfinished;
        }
        Err(e) => {
            // The line already names the gate.
            let msg = match e {
                DistrictError::Gate { detail, .. } => detail,
                other => other.to_string(),
            };
            d.store.record_error(id, &msg, &now_text(Utc::now()))?;
            p.error = Some(msg);
        }
    }
    Ok(p)
}

/// One line per gate for the terminal; broken chains are loud.
pub fn describe(p: &GatePull) -> String {
    let mut s = format!("{} ({}): ", p.gate, p.community);
    match &p.error {
        Some(e) => s.push_str(&format!("NOT PULLED: {e}")),
        None => s.push_str(&format!(
            "{} new, {} already held, {} quarantined; collected up to event {}",
            p.counts.added, p.counts.duplicates, p.counts.quarantined, p.head_seq
        )),
    }
    if let Some(u) = &p.unfinished {
        s.push_str(&format!(" ({u})"));
    }
    if let Some(n) = p.counts.names_note() {
        s.push_str(&format!("; {n}"));
    }
    if p.chain_status == "broken" {
        s.push_str(&format!(
            "\n  !!! CHAIN BROKEN: {}. New events of this gate are kept apart (quarantine), never counted; check the gate on site.",
            p.chain_detail.as_deref().unwrap_or("see `district gates`")
        ));
    }
    s
}

/// Whether a gate's whole log is due to be re-read: never re-read yet (the
/// service's first round), or `recheck_hours` since the last recheck that
/// went through; `recheck_hours = 0` means only the first time.
pub fn recheck_due(last: Option<Instant>, now: Instant, recheck_hours: u64) -> bool {
    match last {
        None => true,
        Some(_) if recheck_hours == 0 => false,
        Some(t) => now.saturating_duration_since(t) >= Duration::from_secs(recheck_hours.saturating_mul(3600)),
    }
}

/// `district pull` as a service: every gate each interval, failing gates
/// less often, until Ctrl-C / SIGTERM.
pub async fn run_service(d: &mut District, mut say: impl FnMut(&GatePull)) -> Result<()> {
    let client = Client::new(&d.config.pull)?;
    let interval = Duration::from_secs(d.config.pull.interval_s);
    let max_backoff = Duration::from_secs(d.config.pull.max_backoff_s.max(d.config.pull.interval_s));
    let mut next: HashMap<i64, Instant> = HashMap::new();
    let mut backoff: HashMap<i64, Duration> = HashMap::new();
    let mut rechecked: HashMap<i64, Instant> = HashMap::new();
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .map_err(|e| DistrictError::Usage(format!("cannot listen for SIGTERM: {e}")))?;
    loop {
        let now = Instant::now();
        let due: Vec<i64> = d
            .store
            .gates()?
            .into_iter()
            .filter(|g| g.url.is_some() && next.get(&g.id).is_none_or(|t| *t <= now))
            .map(|g| g.id)
            .collect();
        // The first round re-reads every gate's whole log, so an edit made
        // while the service was down is found; then every recheck_hours.
        let round: Vec<(i64, bool)> = due
            .iter()
            .map(|id| (*id, recheck_due(rechecked.get(id).copied(), now, d.config.pull.recheck_hours)))
            .collect();
        let full: Vec<i64> = round.iter().filter(|(_, r)| *r).map(|(id, _)| *id).collect();
        let results = pull_round(d, &client, round).await?;
        for p in results {
            let id = p.gate_id;
            if p.ok && full.contains(&id) {
                rechecked.insert(id, Instant::now());
            }
            let wait = if p.ok {
                backoff.remove(&id);
                interval
            } else {
                let b = backoff.get(&id).map(|b| (*b * 2).min(max_backoff)).unwrap_or(interval);
                backoff.insert(id, b);
                b
            };
            next.insert(id, Instant::now() + wait);
            say(&p);
        }
        let wake = next
            .values()
            .min()
            .copied()
            .unwrap_or_else(|| Instant::now() + interval)
            .max(Instant::now() + Duration::from_secs(1));
        tokio::select! {
            _ = tokio::time::sleep_until(wake.into()) => {}
            _ = tokio::signal::ctrl_c() => return Ok(()),
            _ = term.recv() => return Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recheck_is_due_first_then_every_recheck_hours() {
        let t0 = Instant::now();
        let h = |n: u64| t0 + Duration::from_secs(n * 3600);
        assert!(recheck_due(None, t0, 24));
        assert!(recheck_due(None, t0, 0));
        assert!(!recheck_due(Some(t0), t0, 24));
        assert!(!recheck_due(Some(t0), h(23), 24));
        assert!(recheck_due(Some(t0), h(24), 24));
        assert!(recheck_due(Some(t0), h(30), 24));
        assert!(!recheck_due(Some(t0), h(1000), 0));
        assert!(recheck_due(Some(t0), h(1), 1));
        // a clock going backwards never triggers one
        assert!(!recheck_due(Some(h(5)), t0, 1));
        // absurd settings do not overflow
        assert!(!recheck_due(Some(t0), h(1), u64::MAX));
    }
}
