//! District data-loop measurements (issue 13): `cargo bench --bench district`.
//!
//! - pull round: 200 simulated gates behind one loopback server, 200 ms
//!   latency each, every tenth never answering; the round should end
//!   within 1.5 × `pull.timeout_s`.
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

fn main() {
    // `cargo bench` passes --bench; `cargo test --benches` passes nothing
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    pull_round(200, 200, 32);
}
