//! District data-loop measurements (issue 13): `cargo bench --bench district`.
//!
//! - pull round: 200 simulated gates behind one loopback server, 200 ms
//!   latency each, every tenth never answering; the round should end
//!   within 1.5 × `pull.timeout_s`.
//!
//! - push ingest: 50 gates pushing signed chains at once to one district
//!   (`POST /api/v1/ingest`, batches of 500), every page checked as a pull
//!   is (links and hashes of each event, the gate key's signature, the held
//!   head); the target is 20,000 events/s.
//!
//! Figures are printed, not asserted (speed is never a test).

#[path = "../tests/fake_gates/mod.rs"]
mod fake_gates;

use std::time::{Duration, Instant};

fn pull_round(gates: usize, latency_ms: u64, concurrency: usize) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("district");
    let mut d = gatepass::district::District::init(&dir).expect("district init");
    d.config.pull.concurrency = concurrency;
    let timeout_s = d.config.pull.timeout_s;
    let fakes = fake_gates::FakeGates::start(gates, Duration::from_millis(latency_ms), |i| i % 10 == 9);
    for n in 0..gates {
        let key = hex::encode(fake_gates::key(n).verifying_key().to_bytes());
        d.store
            .add_gate(&fake_gates::name(n), fake_gates::COMMUNITY, &key, Some(&fakes.url(n)), Some("t"), "now")
            .expect("add gate");
    }
    let client = gatepass::district::pull::Client::new(&d.config.pull).expect("client");
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let t = Instant::now();
    let res = rt.block_on(gatepass::district::pull::pull_all(&mut d, &client, None, false)).expect("pull");
    let took = t.elapsed().as_secs_f64();
    let ok = res.iter().filter(|p| p.ok).count();
    println!(
        "pull round: {gates} gates ({latency_ms} ms latency, {} dead), concurrency {concurrency}, timeout_s {timeout_s}: \
         {took:.2} s = {:.2} x timeout_s ({ok} pulled, {} failed)",
        gates / 10,
        took / timeout_s as f64,
        res.len() - ok
    );
}

fn event(seq: u64, gate: &str) -> gatepass::domain::chain::EventBody {
    gatepass::domain::chain::EventBody {
        seq,
        at: format!("2026-12-01T{:02}:{:02}:00.000Z", (seq / 60) % 24, seq % 60),
        gate: gate.into(),
        community: "推送社区".into(),
        direction: Some(if seq % 2 == 1 { "out" } else { "in" }.into()),
        pass_id: Some(gatepass::domain::PassId(1)),
        resident_id: Some(gatepass::domain::ResidentId(10_000_000 + (seq % 500) as u32)),
        household: Some("1-101".into()),
        temperature_c: Some(36.5),
        temperature_raw_c: Some(36.5),
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

fn push_ingest(gates: usize, per_gate: u64, batch: usize) {
    use gatepass::district::web;
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("district");
    let d = gatepass::district::District::init(&dir).expect("district init");
    let mut tokens = Vec::new();
    for n in 0..gates {
        let t = format!("gate-token-{n}");
        d.store.add_gate_token(&gatepass::auth::token_hash(&t), "", &format!("推送门{n}"), None, "now").expect("token");
        tokens.push(t);
    }
    // the gates' pages, signed beforehand (the gates' work, not the district's)
    let pages: Vec<Vec<Vec<u8>>> = (0..gates)
        .map(|n| {
            let key = fake_gates::key(1000 + n);
            let key_hex = hex::encode(key.verifying_key().to_bytes());
            let name = format!("推送门{n}");
            let mut prev = gatepass::domain::chain::GENESIS.to_string();
            let evs: Vec<_> = (1..=per_gate)
                .map(|s| {
                    let e = gatepass::domain::chain::seal(event(s, &name), &prev, &key);
                    prev = e.hash.clone();
                    gatepass::domain::chain::ExportedEvent::new(e, Some(key_hex.clone()))
                })
                .collect();
            evs.chunks(batch)
                .map(|c| {
                    serde_json::to_vec(&serde_json::json!({"gate": name, "community": "推送社区",
                        "gate_key": key_hex, "events": c, "head": null}))
                    .expect("json")
                })
                .collect()
        })
        .collect();
    let state = std::sync::Arc::new(web::AppState::new(d.store, d.config.clone()));
    let (addr_tx, addr_rx) = std::sync::mpsc::channel();
    let server = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("rt");
        rt.block_on(async move {
            let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
            addr_tx.send(l.local_addr().expect("addr")).expect("send");
            let limits = d.config.serve.limits();
            let _ = tokio::time::timeout(
                Duration::from_secs(600),
                web::serve(l, state, limits, std::future::pending::<()>()),
            )
            .await;
        });
    });
    let addr = addr_rx.recv().expect("addr");
    let url = format!("http://{addr}/api/v1/ingest");
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("rt");
    let t = Instant::now();
    let added: u64 = rt.block_on(async {
        let client = reqwest::Client::new();
        let mut set = tokio::task::JoinSet::new();
        for (tok, gate_pages) in tokens.into_iter().zip(pages) {
            let (client, url) = (client.clone(), url.clone());
            set.spawn(async move {
                let mut added = 0u64;
                for body in gate_pages {
                    let r = client.post(&url).bearer_auth(&tok).body(body).send().await.expect("push");
                    let status = r.status();
                    let v: serde_json::Value = r.json().await.expect("reply");
                    assert!(status.is_success(), "{v}");
                    added += v["added"].as_u64().unwrap_or(0);
                }
                added
            });
        }
        let mut total = 0;
        while let Some(r) = set.join_next().await {
            total += r.expect("gate task");
        }
        total
    });
    let took = t.elapsed().as_secs_f64();
    println!(
        "push ingest: {gates} gates at once, {per_gate} events each in batches of {batch}: {added} events stored in {took:.2} s = {:.0} events/s",
        added as f64 / took
    );
    drop(server);
}

fn main() {
    // `cargo bench` passes --bench; `cargo test --benches` passes nothing
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    pull_round(200, 200, 32);
    push_ingest(50, 4000, 500);
}
