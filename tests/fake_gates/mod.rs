//! Many simulated gates behind one loopback server, for the pull round's
//! test and benchmark: gate `n` answers at `BASE/g/n/api/v1/events`. Each
//! answers the identity call (`limit=0`) at once; asked for events, a live
//! gate answers an empty log after `latency`, a dead one never answers.
//! A gauge records how many dead gates were waited on at the same time.

#![allow(dead_code)]

use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use axum::{routing::get, Json, Router};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

#[derive(serde::Deserialize)]
struct Q {
    limit: Option<u32>,
}

pub struct Gauge {
    pub now: AtomicUsize,
    pub max: AtomicUsize,
    pub asked: AtomicUsize,
}

struct Sim {
    latency: Duration,
    dead: Vec<bool>,
    gauge: Arc<Gauge>,
}

pub fn key(n: usize) -> ed25519_dalek::SigningKey {
    let mut b = [7u8; 32];
    b[0] = (n & 0xff) as u8;
    b[1] = ((n >> 8) & 0xff) as u8;
    ed25519_dalek::SigningKey::from_bytes(&b)
}

pub fn name(n: usize) -> String {
    format!("模拟门{n}")
}

pub const COMMUNITY: &str = "模拟社区";

async fn events(State(s): State<Arc<Sim>>, Path(n): Path<usize>, Query(q): Query<Q>) -> Response {
    let key = hex::encode(key(n).verifying_key().to_bytes());
    let page = Json(serde_json::json!({"gate": name(n), "community": COMMUNITY, "gate_key": key,
        "events": [], "head": null}))
    .into_response();
    if q.limit == Some(0) {
        return page;
    }
    s.gauge.asked.fetch_add(1, Ordering::SeqCst);
    if s.dead.get(n).copied().unwrap_or(true) {
        let now = s.gauge.now.fetch_add(1, Ordering::SeqCst) + 1;
        s.gauge.max.fetch_max(now, Ordering::SeqCst);
        // decrements when the district gives up and the request is dropped
        struct Leave(Arc<Gauge>);
        impl Drop for Leave {
            fn drop(&mut self) {
                self.0.now.fetch_sub(1, Ordering::SeqCst);
            }
        }
        let _leave = Leave(s.gauge.clone());
        std::future::pending::<()>().await;
    }
    tokio::time::sleep(s.latency).await;
    page
}

pub struct FakeGates {
    pub base: String,
    pub gauge: Arc<Gauge>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl FakeGates {
    /// `n` gates; gate `i` is dead when `dead(i)`.
    pub fn start(n: usize, latency: Duration, dead: impl Fn(usize) -> bool) -> FakeGates {
        let gauge = Arc::new(Gauge { now: AtomicUsize::new(0), max: AtomicUsize::new(0), asked: AtomicUsize::new(0) });
        let sim = Arc::new(Sim { latency, dead: (0..n).map(dead).collect(), gauge: gauge.clone() });
        let app = Router::new().route("/g/{n}/api/v1/events", get(events)).with_state(sim);
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let (tx, rx) = std::sync::mpsc::channel();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                tx.send(listener.local_addr().unwrap()).unwrap();
                let _ = tokio::time::timeout(
                    Duration::from_secs(3600),
                    axum::serve(listener, app).with_graceful_shutdown(async {
                        let _ = stopped.await;
                    }),
                )
                .await;
            });
        });
        let addr = rx.recv().unwrap();
        FakeGates { base: format!("http://{addr}"), gauge, stop: Some(stop), thread: Some(thread) }
    }

    pub fn url(&self, n: usize) -> String {
        format!("{}/g/{n}", self.base)
    }
}

impl Drop for FakeGates {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        // a dead gate's pending request would hold the graceful shutdown:
        // the thread is left to end with the process
        drop(self.thread.take());
    }
}
