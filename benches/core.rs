//! Criterion benchmarks of the core: `cargo bench`. The whole-machine
//! figures (durable scans, HTTP, memory) come from `gatepass bench`.

use chrono::{NaiveDate, TimeZone, Utc};
use criterion::{black_box, criterion_group, criterion_main, Criterion};
use ed25519_dalek::SigningKey;
use gatepass::domain::chain::{seal, ChainVerifier, EventBody, GENESIS};
use gatepass::domain::pass::{self, PassClaims, PassKind};
use gatepass::domain::rules::{self, Holder, Presence};
use gatepass::domain::{Category, Policy};
use gatepass::gate::{Gate, ScanRequest, Temperature};

fn claims() -> PassClaims {
    PassClaims {
        kind: PassKind::Resident,
        community: 7,
        key_id: 1,
        pass_id: gatepass::domain::PassId(12345678),
        resident_id: gatepass::domain::ResidentId(87654321),
        household_id: gatepass::domain::HouseholdId(11223344),
        valid_from: NaiveDate::from_ymd_opt(2026, 12, 1).unwrap_or_default(),
        valid_until: NaiveDate::from_ymd_opt(2026, 12, 30).unwrap_or_default(),
    }
}

fn body(seq: u64) -> EventBody {
    EventBody {
        seq,
        at: "2026-12-01T04:00:00.000Z".into(),
        gate: "east".into(),
        community: "sunny".into(),
        direction: Some("out".into()),
        pass_id: Some(gatepass::domain::PassId(12345678)),
        resident_id: Some(gatepass::domain::ResidentId(87654321)),
        household: Some("1-101".into()),
        temperature_c: Some(36.6),
        temperature_raw_c: Some(36.6),
        temperature_source: Some("manual".into()),
        decision: "allow".into(),
        reasons: vec![],
        warnings: vec![],
        backfilled: false,
        clock_suspect: false,
        payload_digest: "0011223344556677".into(),
        kind: None,
        operator: None,
        purpose: None,
        detail_digest: None,
    }
}

fn token(c: &mut Criterion) {
    let key = SigningKey::from_bytes(&[9; 32]);
    let vk = key.verifying_key();
    let payload = claims().sign(&key).unwrap_or_default();
    c.bench_function("pass sign", |b| b.iter(|| claims().sign(black_box(&key))));
    c.bench_function("pass verify", |b| b.iter(|| pass::verify(black_box(&payload), 7, |_| Some(vk))));
    c.bench_function("pass reject garbage", |b| {
        b.iter(|| pass::verify(black_box("GP1:NOT A PASS AT ALL"), 7, |_| Some(vk)))
    });
}

fn rule_engine(c: &mut Criterion) {
    let policy = Policy::default();
    let now = Utc.with_ymd_and_hms(2026, 12, 1, 4, 0, 0).single().unwrap_or_default();
    let holder = Holder {
        category: Category::Normal,
        presence: Presence::In,
        others_out: 0,
        household_exits: (0..6).map(|d| now - chrono::Duration::days(d)).collect(),
    };
    c.bench_function("rules decide", |b| b.iter(|| rules::decide(black_box(&holder), None, Some(36.6), now, &policy)));
}

fn chain(c: &mut Criterion) {
    let key = SigningKey::from_bytes(&[3; 32]);
    c.bench_function("event seal (hash + sign)", |b| b.iter(|| seal(black_box(body(1)), GENESIS, &key)));
    let mut prev = GENESIS.to_string();
    let events: Vec<_> = (1..=1000)
        .map(|s| {
            let e = seal(body(s), &prev, &key);
            prev = e.hash.clone();
            e
        })
        .collect();
    let vk = key.verifying_key();
    c.bench_function("chain verify 1000 events", |b| {
        b.iter(|| {
            let mut v = ChainVerifier::from_genesis();
            for e in &events {
                let _ = v.push(e.clone());
            }
            v.finish(&vk)
        })
    });
}

fn append(c: &mut Criterion) {
    // a durable scan in a real data directory: verify + rules + fsynced event
    let Ok(dir) = tempfile::tempdir() else { return };
    let d = dir.path().join("g");
    let Ok(mut gate) = Gate::init(&d, "bench", "bench", Utc::now()) else { return };
    let _ = gate.import_register(b"household,name\n1-1,A\n1-2,B\n", "bench", Utc::now());
    let today = Utc::now().date_naive();
    let Ok(passes) = gate.issue_passes(None, today, 30, "bench", Utc::now()) else { return };
    let payload = passes[0].0.payload.clone();
    c.bench_function("scan decided and fsynced", |b| {
        b.iter(|| {
            let req = ScanRequest {
                payload: payload.clone(),
                direction: None,
                temperature: Some(Temperature::manual(36.5)),
                backfill_at: None,
                operator: None,
                extra: None,
            };
            gate.scan_batch(&[req], Utc::now())
        })
    });
}

criterion_group!(benches, token, rule_engine, chain, append);
criterion_main!(benches);
