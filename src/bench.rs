//! `gatepass bench`: measures this machine and this disk before a gate goes
//! live. Everything runs in a scratch folder inside the data directory, so
//! the figures are those of the SD card the gate will write to.
//!
//! What it measures, and what to look for on a Pi (see the README):
//! - fsync: what the disk charges for one flush;
//! - the floor of a durable decision: a bare SQLite WAL commit
//!   (`synchronous=FULL`) of one event-sized row, in the same folder; the
//!   decision and the HTTP scan are reported as multiples of it;
//! - scan decision latency: pass check + rules + durable event, one at a time;
//! - the same through HTTP, one guard screen, then 8 at once (group commit);
//! - the daemon's memory under that load;
//! - Ed25519 verifications, passes signed and rendered, events verified.

use crate::domain::chain::ChainVerifier;
use crate::domain::pass;
use crate::gate::{Gate, ScanRequest, Temperature};
use chrono::Utc;
use serde::Serialize;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy)]
pub struct BenchOptions {
    pub scans: usize,
    pub passes: usize,
    pub load_seconds: u64,
    pub clients: usize,
}

#[derive(Debug, Serialize)]
pub struct Latency {
    pub count: usize,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

impl Latency {
    fn of(mut v: Vec<Duration>) -> Latency {
        v.sort();
        let ms = |d: Duration| (d.as_secs_f64() * 1e5).round() / 100.0;
        let at = |q: f64| v.get(((v.len() as f64 - 1.0) * q).round() as usize).copied().unwrap_or_default();
        Latency {
            count: v.len(),
            p50_ms: ms(at(0.5)),
            p99_ms: ms(at(0.99)),
            max_ms: ms(v.last().copied().unwrap_or_default()),
        }
    }
}

#[derive(Debug, Serialize)]
pub struct BenchReport {
    pub machine: String,
    pub directory: String,
    pub fsync: Latency,
    pub sqlite_commit_floor: Latency,
    pub scan_decision: Latency,
    /// `scan_decision` p50 over `sqlite_commit_floor` p50.
    pub scan_decision_over_floor: f64,
    /// `http_scan_single_client` p50 over `sqlite_commit_floor` p50.
    pub http_scan_over_floor: f64,
    /// The decision's p50 is within [`FLOOR_BUDGET`] times the floor.
    pub scan_decision_within_budget: bool,
    pub http_scan_single_client: Latency,
    /// Another gate's events held here (issue 10): how many.
    pub peer_events_held: usize,
    /// Taking them, a page of 1000 at a time (verified, one commit a page).
    pub peer_events_taken_per_s: f64,
    /// Decisions with those held and laid over, while pages of 100 more
    /// arrive between decisions (the pages themselves are not timed here).
    pub scan_decision_with_peers: Latency,
    /// `scan_decision_with_peers` p50 over the floor's p50.
    pub scan_decision_with_peers_over_floor: f64,
    /// A page of 100 of the other gate's events taken.
    pub peer_page_of_100: Latency,
    pub http_load_clients: usize,
    pub http_load_scans_per_s: f64,
    pub http_load_latency: Latency,
    pub daemon_rss_mib: Option<f64>,
    pub daemon_peak_rss_mib: Option<f64>,
    pub ed25519_verifications_per_s: f64,
    pub passes: usize,
    pub passes_signed_and_rendered_s: f64,
    pub passes_per_s: f64,
    pub events_verified: u64,
    pub events_verified_per_s: f64,
}

/// How far above the bare commit a decision may sit (pass check, rules and
/// the event's chain hash and signature cost this much at most).
pub const FLOOR_BUDGET: f64 = 2.5;

/// A bare SQLite WAL commit (`synchronous=FULL`) of one row shaped like an
/// entry-log event, in its own database beside the gate's: what any durable
/// decision costs at least on this disk. Nothing of gatepass is in it.
struct CommitFloor {
    conn: rusqlite::Connection,
    body: String,
    hash: String,
    sig: String,
}

impl CommitFloor {
    fn open(dir: &Path) -> anyhow::Result<CommitFloor> {
        let conn = rusqlite::Connection::open(dir.join("floor.sqlite"))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.execute_batch(
            "CREATE TABLE events (seq INTEGER PRIMARY KEY, at_ms INTEGER NOT NULL, resident_id INTEGER,
             household TEXT, direction TEXT, decision TEXT NOT NULL, body TEXT NOT NULL,
             prev_hash TEXT NOT NULL, hash TEXT NOT NULL, sig TEXT NOT NULL)",
        )?;
        // The sizes of a real scan event: a JSON body of a few hundred
        // bytes, two SHA-256 hashes and an Ed25519 signature in hex.
        Ok(CommitFloor {
            conn,
            body: format!("{{\"kind\":\"scan\",\"pad\":\"{}\"}}", "x".repeat(360)),
            hash: "a".repeat(64),
            sig: "b".repeat(128),
        })
    }

    /// One row, committed on its own; how long it took.
    fn commit(&self, i: usize) -> anyhow::Result<Duration> {
        let t = Instant::now();
        self.conn.execute(
            "INSERT INTO events (at_ms, resident_id, household, direction, decision, body, prev_hash, hash, sig)
             VALUES (?1, ?1, '3-3', 'out', 'allow', ?2, ?3, ?3, ?4)",
            rusqlite::params![i as i64, self.body, self.hash, self.sig],
        )?;
        Ok(t.elapsed())
    }
}

/// The p50 of `a` over the p50 of `b`, two decimals (from the unrounded
/// times: a floor of 0.05 ms would lose its precision in `Latency`); 0 when
/// either is empty.
fn ratio(a: &[Duration], b: &[Duration]) -> f64 {
    let p50 = |v: &[Duration]| {
        let mut v = v.to_vec();
        v.sort();
        v.get(v.len() / 2).map_or(0.0, Duration::as_secs_f64)
    };
    let (a, b) = (p50(a), p50(b));
    if b > 0.0 {
        (a / b * 100.0).round() / 100.0
    } else {
        0.0
    }
}

/// The other gate's events the bench holds before it measures decisions:
/// a day of a busy gate.
const PEER_EVENTS: usize = 20_000;
const PEER_GATE: &str = "西门";

/// 西门's chain, made here with its own key: each resident out and back in
/// turn, stamped over the last hours so every one is back in by now.
struct PeerChain {
    key: ed25519_dalek::SigningKey,
    community: String,
    residents: usize,
    seq: u64,
    prev: String,
    start_ms: i64,
    step_ms: i64,
}

impl PeerChain {
    /// `more`: events taken after the first [`PEER_EVENTS`] (they too stay in the past).
    fn new(gate: &mut Gate, residents: usize, more: usize, now: chrono::DateTime<Utc>) -> anyhow::Result<PeerChain> {
        let key = crate::keys::generate();
        gate.pin_peer_key(PEER_GATE, &hex::encode(key.verifying_key().to_bytes()), "bench", now)?;
        Ok(PeerChain {
            key,
            community: gate.identity.community.clone(),
            residents: residents.max(1),
            seq: 0,
            prev: crate::domain::chain::GENESIS.to_string(),
            // each resident crosses 4 times a day, as in a village under
            // the rules: 20,000 events are about two weeks of 300 people,
            // and a decision looks at the last few days of them
            start_ms: now.timestamp_millis() - step(residents) * (PEER_EVENTS + more) as i64 - 60_000,
            step_ms: step(residents),
        })
    }

    fn next(&mut self, n: usize) -> Vec<crate::domain::chain::ChainedEvent> {
        (0..n)
            .filter_map(|_| {
                self.seq += 1;
                let i = (self.seq - 1) as usize;
                let resident = (i / 2) % self.residents;
                let at = chrono::DateTime::from_timestamp_millis(self.start_ms + self.step_ms * i as i64)?;
                let body: crate::domain::chain::EventBody = serde_json::from_value(serde_json::json!({
                    "seq": self.seq, "at": crate::clock::now_text(at), "gate": PEER_GATE,
                    "community": self.community, "direction": if i % 2 == 0 { "out" } else { "in" },
                    "pass_id": null, "resident_id": resident + 1,
                    "household": format!("{h}-{h}", h = resident / 3), "temperature_c": 36.5,
                    "temperature_raw_c": null, "temperature_source": "manual", "decision": "allow",
                    "reasons": [], "warnings": [], "backfilled": false, "clock_suspect": false,
                    "payload_digest": "00"
                }))
                .ok()?;
                let e = crate::domain::chain::seal(body, &self.prev, &self.key);
                self.prev = e.hash.clone();
                Some(e)
            })
            .collect()
    }
}

/// Milliseconds between two of the other gate's events: 4 crossings a
/// resident a day.
fn step(residents: usize) -> i64 {
    86_400_000 / (4 * residents.max(1) as i64)
}

/// A card scanned with a typed temperature, direction left to the gate.
fn scan_of(payload: &str) -> ScanRequest {
    ScanRequest {
        payload: payload.to_string(),
        direction: None,
        temperature: Some(Temperature::manual(36.5)),
        backfill_at: None,
        operator: None,
        extra: None,
    }
}

fn register(n_residents: usize) -> String {
    let mut s = String::from("household,address,grid,name\n");
    for i in 0..n_residents {
        s.push_str(&format!("{h}-{h},Block {h},G{},Resident {i}\n", i % 7, h = i / 3));
    }
    s
}

fn machine() -> String {
    let model = std::fs::read_to_string("/proc/device-tree/model").unwrap_or_default();
    let model = model.trim_end_matches('\0').trim();
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
        })
        .unwrap_or_default();
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    format!("{} {} ({cores} cores, {})", model, cpu, std::env::consts::ARCH).trim().to_string()
}

fn rss_mib(pid: u32) -> (Option<f64>, Option<f64>) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|kb| kb.parse::<f64>().ok())
            .map(|kb| (kb / 1024.0 * 10.0).round() / 10.0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

pub fn run(data_dir: &Path, opts: BenchOptions) -> anyhow::Result<BenchReport> {
    let scratch = data_dir.join(format!(".bench-{}", std::process::id()));
    std::fs::create_dir_all(&scratch).map_err(|e| {
        anyhow::anyhow!("cannot create {}: {e} (give --data-dir on the disk to measure)", scratch.display())
    })?;
    struct Cleanup<'a>(&'a Path);
    impl Drop for Cleanup<'_> {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(self.0);
        }
    }
    let _cleanup = Cleanup(&scratch);

    // fsync of a 4 KiB write: what one durable decision costs at least
    let mut f = std::fs::File::create(scratch.join("fsync.bin"))?;
    let block = [0u8; 4096];
    let mut fsync = Vec::new();
    for _ in 0..200 {
        let t = Instant::now();
        f.write_all(&block)?;
        f.sync_data()?;
        fsync.push(t.elapsed());
    }

    let gate_dir = scratch.join("gate");
    let now = Utc::now();
    let mut gate = Gate::init(&gate_dir, "bench", "bench", now)?;
    let cfg_path = gate_dir.join(crate::config::FILE_NAME);
    let cfg = std::fs::read_to_string(&cfg_path)?.replace("hours = \"06:00-20:00\"", "hours = \"00:00-24:00\"");
    std::fs::write(&cfg_path, cfg)?;
    gate = {
        drop(gate);
        Gate::open(&gate_dir)?
    };
    gate.import_register(register(opts.passes).as_bytes(), "bench", now)?;

    // passes signed, rendered to PNG, card sheet and CSV written
    let t = Instant::now();
    let tz = gate.policy()?.timezone;
    let issued = gate.issue_passes(None, now.with_timezone(&tz).date_naive(), 30, "bench", now)?;
    crate::cards::write_folder(&scratch.join("cards"), "bench", &issued, &gate.card_options()?)?;
    let pass_time = t.elapsed().as_secs_f64();
    let payloads: Vec<String> = issued.iter().map(|(p, _)| p.payload.clone()).collect();
    anyhow::ensure!(!payloads.is_empty(), "bench issued no passes");

    // Ed25519 verification of a pass (the offline check)
    let keys: Vec<_> =
        gate.keys()?.iter().filter_map(|k| crate::export::parse_key(&k.public_key).map(|v| (k.key_id, v))).collect();
    let community = gate.identity.community_id;
    // 2,000 by default; fewer for a short run (a debug build checks ~100 a second)
    let n_verify = opts.scans.saturating_mul(10).clamp(50, 2000);
    let t = Instant::now();
    for p in payloads.iter().cycle().take(n_verify) {
        let _ = pass::verify(p, community, |id| keys.iter().find(|(k, _)| *k == id).map(|(_, v)| *v));
    }
    let verify_rate = n_verify as f64 / t.elapsed().as_secs_f64();

    // one decision at a time: verify + rules + durable event; each beside
    // a bare commit (the floor), so both see the same disk and load
    let floor_db = CommitFloor::open(&scratch)?;
    let mut floor = Vec::with_capacity(opts.scans);
    let mut scan_lat = Vec::with_capacity(opts.scans);
    for (i, p) in payloads.iter().cycle().take(opts.scans).enumerate() {
        floor.push(floor_db.commit(i)?);
        let t = Instant::now();
        gate.scan_batch(&[scan_of(p)], Utc::now())?;
        scan_lat.push(t.elapsed());
    }

    // issue 10: another gate of the community, 西门, whose crossings of the
    // same residents are held here and laid over each decision
    let mut peer = PeerChain::new(&mut gate, opts.passes, opts.scans.div_ceil(20) * 100, now)?;
    let t = Instant::now();
    let mut held = 0;
    while held < PEER_EVENTS {
        held += gate.take_peer_events(PEER_GATE, peer.next(1000), Utc::now())?;
    }
    let peer_rate = held as f64 / t.elapsed().as_secs_f64();
    let (mut floor2, mut with_peers, mut pages) = (Vec::new(), Vec::new(), Vec::new());
    for (i, p) in payloads.iter().cycle().skip(7).take(opts.scans).enumerate() {
        if i % 20 == 0 {
            let page = peer.next(100);
            let t = Instant::now();
            gate.take_peer_events(PEER_GATE, page, Utc::now())?;
            pages.push(t.elapsed());
        }
        floor2.push(floor_db.commit(opts.scans + i)?);
        let t = Instant::now();
        gate.scan_batch(&[scan_of(p)], Utc::now())?;
        with_peers.push(t.elapsed());
    }
    let with_peers_over = ratio(&with_peers, &floor2);
    drop(floor_db);
    let (token, _) = gate.create_token(crate::auth::Role::Guard, "bench", "bench", now)?;
    drop(gate);

    // the daemon as a separate process, so its memory is its own
    let exe = std::env::current_exe()?;
    let mut child = std::process::Command::new(exe)
        .arg("--data-dir")
        .arg(&gate_dir)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env("RUST_LOG", "error")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .spawn()?;
    let mut first = String::new();
    if let Some(out) = child.stdout.take() {
        BufReader::new(out).read_line(&mut first)?;
    }
    let base = first.trim().strip_prefix("gatepass listening on ").unwrap_or("").to_string();
    let http = if base.is_empty() {
        Err(anyhow::anyhow!("the daemon did not start for the HTTP measurement"))
    } else {
        http_phase(&base, &token, &payloads, opts)
    };
    let (rss, peak) = rss_mib(child.id());
    let _ = child.kill();
    let _ = child.wait();
    let (single, load_rate, load_lat) = http?;

    // events verified: read back from the database, re-hashed, signature on the head
    let gate = Gate::open(&gate_dir)?;
    let key = gate.gate_public_key();
    let mut v = ChainVerifier::from_genesis();
    let t = Instant::now();
    let mut broken = None;
    gate.for_each_event(0, |e| match e {
        Ok(e) => match v.push(e) {
            Ok(()) => true,
            Err(err) => {
                broken = Some(err.to_string());
                false
            }
        },
        Err(err) => {
            broken = Some(err.to_string());
            false
        }
    })?;
    let n_events = v.count;
    v.finish(&key).map_err(|e| anyhow::anyhow!("{e}"))?;
    if let Some(b) = broken {
        anyhow::bail!("the bench's own chain did not verify: {b}");
    }
    let events_rate = n_events as f64 / t.elapsed().as_secs_f64();

    let over = ratio(&scan_lat, &floor);
    let http_over = ratio(&single, &floor);
    Ok(BenchReport {
        machine: machine(),
        directory: data_dir.display().to_string(),
        fsync: Latency::of(fsync),
        scan_decision_over_floor: over,
        http_scan_over_floor: http_over,
        scan_decision_within_budget: over <= FLOOR_BUDGET,
        sqlite_commit_floor: Latency::of(floor),
        scan_decision: Latency::of(scan_lat),
        http_scan_single_client: Latency::of(single),
        peer_events_held: held,
        peer_events_taken_per_s: peer_rate.round(),
        scan_decision_with_peers: Latency::of(with_peers),
        scan_decision_with_peers_over_floor: with_peers_over,
        peer_page_of_100: Latency::of(pages),
        http_load_clients: opts.clients,
        http_load_scans_per_s: load_rate.round(),
        http_load_latency: load_lat,
        daemon_rss_mib: rss,
        daemon_peak_rss_mib: peak,
        ed25519_verifications_per_s: verify_rate.round(),
        passes: issued.len(),
        passes_signed_and_rendered_s: (pass_time * 100.0).round() / 100.0,
        passes_per_s: (issued.len() as f64 / pass_time).round(),
        events_verified: n_events,
        events_verified_per_s: events_rate.round(),
    })
}

fn http_phase(
    base: &str,
    token: &str,
    payloads: &[String],
    opts: BenchOptions,
) -> anyhow::Result<(Vec<Duration>, f64, Latency)> {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    rt.block_on(async {
        let client = reqwest::Client::builder().timeout(Duration::from_secs(10)).build()?;
        let url = format!("{base}/api/v1/scan");
        let body = |p: &String| serde_json::json!({"payload": p, "temperature_c": 36.5});
        let mut single = Vec::with_capacity(opts.scans);
        for p in payloads.iter().cycle().take(opts.scans) {
            let t = Instant::now();
            let r = client.post(&url).bearer_auth(token).json(&body(p)).send().await?;
            anyhow::ensure!(r.status().is_success(), "scan answered {}", r.status());
            r.bytes().await?;
            single.push(t.elapsed());
        }
        let end = Instant::now() + Duration::from_secs(opts.load_seconds);
        let t0 = Instant::now();
        let mut tasks = Vec::new();
        for w in 0..opts.clients {
            let (client, url, token) = (client.clone(), url.clone(), token.to_string());
            let payloads = payloads.to_vec();
            tasks.push(tokio::spawn(async move {
                let mut lat = Vec::new();
                // each client its own stride (clients > w, so never 0)
                let mut next = payloads.iter().cycle().skip(w).step_by(opts.clients);
                while Instant::now() < end {
                    let Some(p) = next.next() else { break };
                    let t = Instant::now();
                    let b = serde_json::json!({"payload": p, "temperature_c": 36.5});
                    match client.post(&url).bearer_auth(&token).json(&b).send().await {
                        Ok(r) if r.status().is_success() => {
                            let _ = r.bytes().await;
                            lat.push(t.elapsed());
                        }
                        _ => break,
                    }
                }
                lat
            }));
        }
        let mut all = Vec::new();
        for t in tasks {
            all.extend(t.await.unwrap_or_default());
        }
        let rate = all.len() as f64 / t0.elapsed().as_secs_f64();
        Ok((single, rate, Latency::of(all)))
    })
}

pub fn print(r: &BenchReport) {
    let l = |name: &str, x: &Latency| {
        println!(
            "{name:<34} p50 {:>7.2} ms   p99 {:>7.2} ms   max {:>7.2} ms   (n={})",
            x.p50_ms, x.p99_ms, x.max_ms, x.count
        )
    };
    println!("machine: {}", r.machine);
    println!("disk:    {}", r.directory);
    l("fsync (4 KiB)", &r.fsync);
    l("SQLite WAL commit (floor)", &r.sqlite_commit_floor);
    l("scan decision (durable)", &r.scan_decision);
    l("HTTP scan, one client", &r.http_scan_single_client);
    println!(
        "{:<34} {} taken at {:.0} /s (pages of 1000)",
        "another gate's events held", r.peer_events_held, r.peer_events_taken_per_s
    );
    l("scan decision, other gate held", &r.scan_decision_with_peers);
    l("a page of 100 of its events taken", &r.peer_page_of_100);
    println!(
        "{:<34} {:.2}x (p50 over the floor's p50)",
        "decision with the other gate", r.scan_decision_with_peers_over_floor
    );
    println!(
        "{:<34} decision {:.2}x, HTTP scan {:.2}x (p50 over the floor's p50)",
        "over the floor", r.scan_decision_over_floor, r.http_scan_over_floor
    );
    println!(
        "{:<34} {}",
        format!("decision within {FLOOR_BUDGET}x the floor"),
        if r.scan_decision_within_budget { "yes" } else { "NO" }
    );
    l(&format!("HTTP scan, {} clients", r.http_load_clients), &r.http_load_latency);
    println!(
        "{:<34} {:.0} scans/s",
        format!("HTTP throughput, {} clients", r.http_load_clients),
        r.http_load_scans_per_s
    );
    if let (Some(a), Some(b)) = (r.daemon_rss_mib, r.daemon_peak_rss_mib) {
        println!("{:<34} {a:.1} MiB (peak {b:.1} MiB)", "daemon memory under load");
    }
    println!("{:<34} {:.0} /s", "Ed25519 pass verifications", r.ed25519_verifications_per_s);
    println!(
        "{:<34} {} in {:.2} s ({:.0} /s)",
        "passes signed + PNG + sheet", r.passes, r.passes_signed_and_rendered_s, r.passes_per_s
    );
    println!("{:<34} {} at {:.0} /s", "events verified (chain + head sig)", r.events_verified, r.events_verified_per_s);
}
