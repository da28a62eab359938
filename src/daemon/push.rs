//! Pushing the gate's events to its district (issue 13), for a gate the
//! district cannot reach (NAT, 4G). With `[district] url` and `token` set,
//! this task sends new events to the district's `POST /api/v1/ingest` as
//! they happen: it looks at the log's head every `POLL`, sends what the
//! district does not hold yet in batches of `[district] batch`, and moves on
//! from the head the district acknowledges in each reply (so a lost reply,
//! a restart of either side or a re-sent batch loses and doubles nothing).
//! A failure is retried after a doubling wait with jitter, capped at
//! `[district] max_backoff_s`; deciding at the gate never waits for it.
//! A quiet gate still says hello every `HELLO` so the district sees it.
//! What happened last is in `GET /api/v1/health` as `push`.

use crate::config::DistrictLink;
use crate::domain::chain::ExportedEvent;
use crate::domain::directive::Directive;
use crate::http::AppState;
use crate::link::PushStatus;
use crate::store::Store;
use crate::writer::Writer;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How often the log's head is looked at (a scan reaches the district
/// within about this plus one round trip).
const POLL: Duration = Duration::from_millis(200);
/// A quiet gate says hello this often: the district sees it alive.
const HELLO: Duration = Duration::from_secs(30);
/// One push's round trip, at most.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// What the push task needs from the daemon.
pub struct Pusher {
    pub data_dir: PathBuf,
    pub link: DistrictLink,
    /// The gate's identity, key, name signer, writer and push status.
    pub state: AppState,
    pub status: Arc<PushStatus>,
    pub writer: Writer,
}

/// The district's reply (accepted, or refused with where to resume).
#[derive(Debug, serde::Deserialize)]
struct Reply {
    #[serde(default)]
    head: Option<Head>,
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    district_key: Option<String>,
    /// Each read on its own: one the gate cannot read is not applied.
    #[serde(default)]
    directives: Vec<serde_json::Value>,
}

#[derive(Debug, serde::Deserialize)]
struct Head {
    seq: u64,
}

enum Outcome {
    /// The district holds the log up to here; its key and directives.
    Acked(u64, Option<String>, Vec<Directive>),
    /// Resume from here, no failure (a gap: the district asks from its head).
    Resume(u64),
    /// Refused or unreachable: code, words, and where to resume if known.
    Failed(String, String, Option<u64>),
}

/// The wait before the next try after `failures` failures in a row: 1 s
/// doubling up to `cap`, then a random part of it (half to all) so gates
/// that lost the district together do not come back together.
pub fn backoff(failures: u32, cap: Duration, random: u32) -> Duration {
    let base = Duration::from_secs(1u64 << failures.saturating_sub(1).min(16)).min(cap);
    let half = base / 2;
    half + half.mul_f64(f64::from(random) / f64::from(u32::MAX))
}

impl Pusher {
    /// Starts the task when `[district] url` and `token` are set.
    pub fn spawn(self) {
        if self.link.push_to().is_none() {
            return;
        }
        self.status.update(|s| s.url = self.link.url.clone());
        tokio::spawn(self.run());
    }

    async fn run(self) {
        let Some((url, token)) = self.link.push_to().map(|(u, t)| (u.to_string(), t.trim().to_string())) else {
            return;
        };
        let endpoint = format!("{}/api/v1/ingest", url.trim_end_matches('/'));
        let client = match reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .connect_timeout(Duration::from_secs(10))
            .user_agent(concat!("gatepass-gate/", env!("CARGO_PKG_VERSION")))
            .build()
        {
            Ok(c) => c,
            Err(e) => {
                self.fail("internal", &format!("cannot set up the HTTP client: {e}"));
                return;
            }
        };
        let store = loop {
            match Store::open(&self.data_dir.join(crate::gate::DB_FILE)) {
                Ok(s) => break Arc::new(Mutex::new(s)),
                Err(e) => {
                    self.fail("internal", &format!("cannot open the database to push from: {e}"));
                    tokio::time::sleep(Duration::from_secs(5)).await;
                }
            }
        };
        let cap = Duration::from_secs(self.link.max_backoff_s);
        let batch = self.link.batch;
        let mut acked: Option<u64> = None;
        let mut failures = 0u32;
        // what the gate did with the directives of the last reply, told
        // to the district with the next push
        let mut answers: Vec<serde_json::Value> = Vec::new();
        let mut last_contact = tokio::time::Instant::now();
        loop {
            let head = match self.read_head(&store).await {
                Some(h) => h,
                None => {
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
            };
            let due_hello = last_contact.elapsed() >= HELLO || !answers.is_empty();
            // Until the district said how far it holds the log, ask with an
            // empty push (a hello); then send what it does not hold.
            let after = match acked {
                Some(a) if a >= head && !due_hello => {
                    tokio::time::sleep(POLL).await;
                    continue;
                }
                Some(a) => Some(a),
                None => None,
            };
            let sent_answers = answers.len();
            let body = match self.page(&store, after, batch, answers.clone()).await {
                Some(b) => b,
                None => {
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
            };
            let mut outcome = self.send(&client, &endpoint, &token, body).await;
            if let (Outcome::Acked(seq, ..), Some(a)) = (&outcome, after) {
                if *seq <= a && head > a {
                    // events sent, and the district's head did not move
                    outcome = Outcome::Failed(
                        "no_progress".into(),
                        format!("the district took the events after {a} but still holds only up to {seq}"),
                        None,
                    );
                }
            }
            last_contact = tokio::time::Instant::now();
            match outcome {
                Outcome::Acked(seq, key, directives) => {
                    failures = 0;
                    answers.drain(..sent_answers.min(answers.len()));
                    if let Some(k) = key {
                        let _ = self.writer.run(move |g| g.pin_district_key(&k, chrono::Utc::now())).await;
                    }
                    if !directives.is_empty() {
                        match crate::http::directives::apply_all(&self.state, directives, "push").await {
                            Ok(a) => answers.extend(a),
                            Err(e) => tracing::warn!("applying the district's directives failed: {e:?}"),
                        }
                    }
                    acked = Some(seq);
                    let now = crate::clock::now_text(chrono::Utc::now());
                    self.status.update(|s| {
                        s.last_ack_seq = Some(seq);
                        s.last_ok_at = Some(now);
                        s.last_error = None;
                        s.last_error_message = None;
                        s.failures = 0;
                    });
                    // held at the district: retention may purge it
                    let _ = self.writer.run(move |g| g.note_collected(seq)).await;
                }
                Outcome::Resume(seq) => {
                    acked = Some(seq);
                    self.status.update(|s| s.last_ack_seq = Some(seq));
                }
                Outcome::Failed(code, message, resume) => {
                    failures = failures.saturating_add(1);
                    if let Some(seq) = resume {
                        acked = Some(seq);
                    }
                    tracing::warn!(code = %code, "push to the district failed: {message}");
                    self.fail(&code, &message);
                    self.status.update(|s| {
                        s.failures = failures;
                        if resume.is_some() {
                            s.last_ack_seq = resume;
                        }
                    });
                    let mut r = [0u8; 4];
                    let _ = getrandom_bytes(&mut r);
                    tokio::time::sleep(backoff(failures, cap, u32::from_le_bytes(r))).await;
                }
            }
        }
    }

    fn fail(&self, code: &str, message: &str) {
        let now = crate::clock::now_text(chrono::Utc::now());
        self.status.update(|s| {
            s.last_error = Some(code.to_string());
            s.last_error_message = Some(message.to_string());
            s.last_error_at = Some(now);
        });
    }

    async fn read_head(&self, store: &Arc<Mutex<Store>>) -> Option<u64> {
        let store = store.clone();
        let r = tokio::task::spawn_blocking(move || store.lock().unwrap_or_else(|p| p.into_inner()).head()).await;
        match r {
            Ok(Ok((seq, _))) => Some(seq),
            Ok(Err(e)) => {
                self.fail("internal", &format!("cannot read the log: {e}"));
                None
            }
            Err(_) => None,
        }
    }

    /// The events page to send: the events after `after` (none for a
    /// hello), names signed as the events API signs them, and the head.
    async fn page(
        &self,
        store: &Arc<Mutex<Store>>,
        after: Option<u64>,
        batch: u32,
        answers: Vec<serde_json::Value>,
    ) -> Option<Vec<u8>> {
        let store = store.clone();
        let state = self.state.clone();
        let r = tokio::task::spawn_blocking(move || -> crate::store::Result<Vec<u8>> {
            let inner = &state.inner;
            let (key, signer) = (&inner.gate_key_hex, inner.name_signer.as_ref());
            let store = store.lock().unwrap_or_else(|p| p.into_inner());
            let events = match after {
                Some(a) => store.events_after(a, batch)?,
                None => Vec::new(),
            };
            let head = store.events_after(store.head()?.0.saturating_sub(1), 1)?.pop();
            let names = if signer.is_some() && !events.is_empty() { store.resident_names()? } else { Default::default() };
            drop(store);
            let lines: Vec<ExportedEvent> = events
                .into_iter()
                .map(|e| {
                    let name = e.body.resident_id.and_then(|id| names.get(&id).cloned());
                    match (name, signer) {
                        (Some(n), Some(s)) => ExportedEvent::new(e, Some(key.clone())).with_signed_name(n, s),
                        _ => ExportedEvent::new(e, Some(key.clone())),
                    }
                })
                .collect();
            let head = head.map(|h| serde_json::json!({"seq": h.body.seq, "hash": h.hash, "sig": h.sig}));
            let limits = state.policy().ok().map(|p| crate::domain::community::Limits::of(&p));
            let body = serde_json::json!({"gate": inner.identity.gate, "community": inner.identity.community, "gate_key": key,
                "events": lines, "head": head, "directive_results": answers, "limits": limits});
            Ok(serde_json::to_vec(&body).unwrap_or_default())
        })
        .await;
        match r {
            Ok(Ok(b)) => Some(b),
            Ok(Err(e)) => {
                self.fail("internal", &format!("cannot read the events to push: {e}"));
                None
            }
            Err(_) => None,
        }
    }

    async fn send(&self, client: &reqwest::Client, endpoint: &str, token: &str, body: Vec<u8>) -> Outcome {
        let resp = client
            .post(endpoint)
            .bearer_auth(token)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body)
            .send()
            .await;
        let resp = match resp {
            Ok(r) => r,
            Err(e) => {
                let why = if e.is_timeout() {
                    format!("no answer from {endpoint} within {} s", REQUEST_TIMEOUT.as_secs())
                } else if e.is_connect() {
                    format!("cannot connect to {endpoint} (district down, wrong address, or no network)")
                } else {
                    format!("pushing to {endpoint} failed: {e}")
                };
                return Outcome::Failed("unreachable".into(), why, None);
            }
        };
        let status = resp.status().as_u16();
        // (a reply is small: a head and a few counts, and directives)
        let bytes = match resp.bytes().await {
            Ok(b) if b.len() <= 4 << 20 => b,
            Ok(_) => return Outcome::Failed("bad_reply".into(), "the district's reply is too large".into(), None),
            Err(e) => return Outcome::Failed("unreachable".into(), format!("reading the district's reply: {e}"), None),
        };
        let reply: Option<Reply> = serde_json::from_slice(&bytes).ok();
        let head = reply.as_ref().and_then(|r| r.head.as_ref()).map(|h| h.seq);
        let code = reply.as_ref().and_then(|r| r.error.clone());
        let message = reply.as_ref().and_then(|r| r.message.clone());
        match (status, head, code.as_deref()) {
            (200, Some(seq), _) => {
                let (key, directives) = reply.map(|r| (r.district_key, r.directives)).unwrap_or_default();
                let directives = directives.into_iter().filter_map(|v| serde_json::from_value(v).ok()).collect();
                Outcome::Acked(seq, key, directives)
            }
            (409, Some(seq), Some("gap")) => Outcome::Resume(seq),
            (_, resume, Some(code)) => Outcome::Failed(
                code.chars().take(40).collect(),
                message.unwrap_or_default().chars().take(500).collect(),
                resume,
            ),
            _ => Outcome::Failed(
                "bad_reply".into(),
                format!("{endpoint} answered HTTP {status} without a gatepass reply; is the URL the district's?"),
                None,
            ),
        }
    }
}

fn getrandom_bytes(buf: &mut [u8]) -> Result<(), rand_core::Error> {
    use rand_core::RngCore;
    rand_core::OsRng.try_fill_bytes(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_with_jitter_up_to_the_cap() {
        let cap = Duration::from_secs(60);
        assert_eq!(backoff(1, cap, 0), Duration::from_millis(500));
        assert_eq!(backoff(1, cap, u32::MAX), Duration::from_secs(1));
        assert_eq!(backoff(4, cap, u32::MAX), Duration::from_secs(8));
        assert!(backoff(4, cap, 0) >= Duration::from_secs(4));
        assert_eq!(backoff(30, cap, u32::MAX), cap);
        assert_eq!(backoff(u32::MAX, cap, 0), cap / 2);
    }
}
