//! Several gates of one community on loopback, measured (not asserted):
//!
//! 1. how long a crossing at 东门 takes to be held at 西门 and 北门 while
//!    each gate serves 8 scanning clients (target p99 ≤ 1 s);
//! 2. how long a gate that was offline takes to catch up on 20,000 events
//!    from its two peers (target < 10 s);
//! 3. one guard's scans at 东门, over HTTP, with its peers quiet and then
//!    while 西门 and 北门 each serve 8 scanning clients (their events
//!    arriving at 东门 in pages), beside a bare SQLite commit on the same disk.
//!
//! `cargo bench --bench gates` (release build of the real binary and
//! daemons). Figures go to the README.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_gatepass");

fn gp(dir: &Path, args: &[&str], stdin: Option<&str>) -> String {
    let mut child = Command::new(BIN)
        .arg("--data-dir")
        .arg(dir)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run gatepass");
    if let Some(s) = stdin {
        let _ = child.stdin.take().expect("stdin").write_all(s.as_bytes());
    }
    drop(child.stdin.take());
    let out = child.wait_with_output().expect("output");
    assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

struct Running(Child);
impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn serve(dir: &Path) -> (Running, String) {
    let mut child = Command::new(BIN)
        .arg("--data-dir")
        .arg(dir)
        .arg("serve")
        .env("RUST_LOG", "error")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("serve");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout")).read_line(&mut line).expect("first line");
    let addr = line.trim().strip_prefix("gatepass listening on http://").expect("address").to_string();
    let port = addr.rsplit_once(':').expect("port").1.to_string();
    (Running(child), format!("http://127.0.0.1:{port}"))
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").expect("port").local_addr().expect("addr").port()
}

fn configure(dir: &Path, port: u16) {
    let cfg = dir.join("gatepass.toml");
    let t = std::fs::read_to_string(&cfg)
        .expect("config")
        .replace("hours = \"06:00-20:00\"", "hours = \"00:00-24:00\"")
        .replacen("listen = \"0.0.0.0:8080\"", &format!("listen = \"127.0.0.1:{port}\""), 1);
    std::fs::write(&cfg, t).expect("config");
}

fn register(n: usize) -> String {
    let mut s = String::from("户号,地址,网格,姓名,电话,类别\n");
    for i in 0..n {
        s.push_str(&format!("{}-{:03},{}号楼,A,居民{i},,正常\n", i / 100 + 1, i % 100, i / 100 + 1));
    }
    s
}

struct Gates {
    _tmp: tempfile::TempDir,
    dirs: Vec<PathBuf>,
    ports: Vec<u16>,
    payloads: Vec<String>,
}

/// 东门 (first), 西门 and 北门 joined to it; not started.
fn community(residents: usize) -> Gates {
    let tmp = tempfile::tempdir().expect("tmp");
    let east = tmp.path().join("east");
    gp(&east, &["init", "--community", "测速", "--gate", "东门"], None);
    let ports = vec![free_port(), free_port(), free_port()];
    configure(&east, ports[0]);
    let reg = tmp.path().join("r.csv");
    std::fs::write(&reg, register(residents)).expect("register");
    gp(&east, &["household", "import", reg.to_str().expect("utf-8")], None);
    let cards = tmp.path().join("cards");
    gp(&east, &["pass", "issue", "--all", "--out", cards.to_str().expect("utf-8")], None);
    let mut r = csv::Reader::from_path(cards.join("passes.csv")).expect("passes");
    let payloads: Vec<String> = r.records().filter_map(Result::ok).map(|x| x[3].to_string()).collect();
    let (first, url) = serve(&east);
    let mut dirs = vec![east];
    for (i, name) in ["西门", "北门"].into_iter().enumerate() {
        let code: serde_json::Value =
            serde_json::from_str(&gp(&dirs[0], &["gate", "add", "--name", name, "--json"], None)).expect("code");
        let dir = tmp.path().join(format!("g{i}"));
        let advertise = format!("http://127.0.0.1:{}", ports[i + 1]);
        gp(
            &dir,
            &[
                "join",
                "--from",
                &url,
                "--code",
                code["code"].as_str().expect("code"),
                "--gate",
                name,
                "--advertise",
                &advertise,
            ],
            None,
        );
        configure(&dir, ports[i + 1]);
        dirs.push(dir);
    }
    drop(first);
    Gates { _tmp: tmp, dirs, ports, payloads }
}

fn token(dir: &Path, role: &str) -> String {
    gp(dir, &["token", "create", "--role", role], None).trim().to_string()
}

fn held(client: &reqwest::blocking::Client, base: &str, token: &str, gate: &str) -> u64 {
    let v: serde_json::Value = match client.get(format!("{base}/api/v1/peers")).bearer_auth(token).send() {
        Ok(r) => r.json().unwrap_or_default(),
        Err(_) => return 0,
    };
    v["chains"]
        .as_array()
        .and_then(|l| l.iter().find(|h| h["gate"] == gate))
        .and_then(|h| h["head"].as_u64())
        .unwrap_or(0)
}

fn pct(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// 8 clients at each of the gates `which` (indexes into `bases`), scanning
/// the village in a loop until `stop`; each scan counted in `scans`.
fn scanners(
    bases: &[String],
    guards: &[String],
    which: &[usize],
    payloads: &[String],
    stop: &Arc<AtomicBool>,
    scans: &Arc<AtomicU64>,
) -> Vec<std::thread::JoinHandle<()>> {
    let mut load = Vec::new();
    for &gi in which {
        for c in 0..8 {
            let (base, tok, stop, scans) = (bases[gi].clone(), guards[gi].clone(), stop.clone(), scans.clone());
            let payloads = payloads.to_vec();
            load.push(std::thread::spawn(move || {
                let client = reqwest::blocking::Client::new();
                let mut i = gi * 131 + c * 17;
                while !stop.load(Ordering::Relaxed) {
                    let p = &payloads[i % payloads.len()];
                    let dir = if (i / payloads.len()) % 2 == 0 { "out" } else { "in" };
                    let _ = client
                        .post(format!("{base}/api/v1/scan"))
                        .bearer_auth(&tok)
                        .json(&serde_json::json!({"payload": p, "direction": dir, "temperature_c": 36.5}))
                        .send();
                    scans.fetch_add(1, Ordering::Relaxed);
                    i += 1;
                }
            }));
        }
    }
    load
}

fn propagation() {
    let g = community(400);
    let guards: Vec<String> = g.dirs.iter().map(|d| token(d, "guard")).collect();
    let running: Vec<(Running, String)> = g.dirs.iter().map(|d| serve(d)).collect();
    let stop = Arc::new(AtomicBool::new(false));
    let scans = Arc::new(AtomicU64::new(0));
    // 8 clients per gate scanning the village in a loop
    let bases: Vec<String> = running.iter().map(|(_, b)| b.clone()).collect();
    let load = scanners(&bases, &guards, &[0, 1, 2], &g.payloads, &stop, &scans);
    std::thread::sleep(Duration::from_secs(2));
    let client = reqwest::blocking::Client::new();
    let mut lat = Vec::new();
    let started = Instant::now();
    for k in 0..60 {
        let p = &g.payloads[(k * 7) % g.payloads.len()];
        let r: serde_json::Value = client
            .post(format!("{}/api/v1/scan", running[0].1))
            .bearer_auth(&guards[0])
            .json(&serde_json::json!({"payload": p, "direction": "in", "temperature_c": 36.5}))
            .send()
            .and_then(|r| r.json())
            .unwrap_or_default();
        let Some(seq) = r["event_seq"].as_u64() else { continue };
        let t0 = Instant::now();
        for peer in 1..3 {
            while held(&client, &running[peer].1, &guards[peer], "东门") < seq {
                if t0.elapsed() > Duration::from_secs(30) {
                    break;
                }
                std::thread::sleep(Duration::from_millis(5));
            }
        }
        lat.push(t0.elapsed().as_secs_f64() * 1000.0);
    }
    let elapsed = started.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    for t in load {
        let _ = t.join();
    }
    lat.sort_by(|a, b| a.total_cmp(b));
    println!(
        "gates/propagation: a crossing at 东门 held at both 西门 and 北门: p50 {:.0} ms, p99 {:.0} ms, max {:.0} ms \
         ({} samples; 3 gates x 8 clients scanning, {:.0} scans/s in all)",
        pct(&lat, 0.5),
        pct(&lat, 0.99),
        lat.last().copied().unwrap_or(f64::NAN),
        lat.len(),
        scans.load(Ordering::Relaxed) as f64 / (elapsed + 2.0)
    );
    drop(running);
}

fn catch_up() {
    let g = community(400);
    let guards: Vec<String> = g.dirs.iter().map(|d| token(d, "guard")).collect();
    // 西門 (g.dirs[1]) stays offline while 东门 and 北门 record 10,000 events each
    let east = serve(&g.dirs[0]);
    let north = serve(&g.dirs[2]);
    let per_gate = 10_000u64;
    let mut threads = Vec::new();
    for (base, tok) in [(east.1.clone(), guards[0].clone()), (north.1.clone(), guards[2].clone())] {
        for c in 0..8u64 {
            let (base, tok) = (base.clone(), tok.clone());
            let payloads = g.payloads.clone();
            threads.push(std::thread::spawn(move || {
                let client = reqwest::blocking::Client::new();
                for i in 0..per_gate / 8 {
                    let p = &payloads[((i * 8 + c) as usize) % payloads.len()];
                    let _ = client
                        .post(format!("{base}/api/v1/scan"))
                        .bearer_auth(&tok)
                        .json(&serde_json::json!({"payload": p, "direction": "in", "temperature_c": 36.5}))
                        .send();
                }
            }));
        }
    }
    for t in threads {
        let _ = t.join();
    }
    let client = reqwest::blocking::Client::new();
    let head = |base: &str, tok: &str, gate: &str| held(&client, base, tok, gate);
    let east_head: serde_json::Value =
        client.get(format!("{}/api/v1/health", east.1)).send().and_then(|r| r.json()).unwrap_or_default();
    let east_n = east_head["database"]["events"].as_u64().unwrap_or(0);
    let north_n: u64 = {
        let v: serde_json::Value =
            client.get(format!("{}/api/v1/health", north.1)).send().and_then(|r| r.json()).unwrap_or_default();
        v["database"]["events"].as_u64().unwrap_or(0)
    };
    // wait until 东门 holds 北门's chain, so 西門 can get both from it
    while head(&east.1, &guards[0], "北门") < north_n {
        std::thread::sleep(Duration::from_millis(50));
    }
    let t0 = Instant::now();
    let west = serve(&g.dirs[1]);
    while head(&west.1, &guards[1], "东门") < east_n || head(&west.1, &guards[1], "北门") < north_n {
        if t0.elapsed() > Duration::from_secs(300) {
            println!("gates/catch_up: did not finish in 300 s");
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    println!(
        "gates/catch_up: a gate offline for {} events from two peers caught up in {:.2} s",
        east_n + north_n,
        t0.elapsed().as_secs_f64()
    );
    drop(west);
    let _ = g.ports.len();
}

/// A bare SQLite WAL commit (`synchronous=FULL`) of an event-sized row:
/// the floor of any durable decision on this disk (as in `gatepass bench`).
fn commit_floor(dir: &Path, n: usize) -> Vec<f64> {
    let conn = rusqlite::Connection::open(dir.join("floor.sqlite")).expect("floor db");
    conn.pragma_update(None, "journal_mode", "WAL").expect("wal");
    conn.pragma_update(None, "synchronous", "FULL").expect("full");
    conn.execute_batch("CREATE TABLE IF NOT EXISTS e (seq INTEGER PRIMARY KEY, body TEXT, hash TEXT, sig TEXT)")
        .expect("table");
    let body = "x".repeat(400);
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        conn.execute("INSERT INTO e (body, hash, sig) VALUES (?1, ?2, ?3)", [&body, &"a".repeat(64), &"b".repeat(128)])
            .expect("commit");
        out.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    out.sort_by(|a, b| a.total_cmp(b));
    out
}

fn one_guard(client: &reqwest::blocking::Client, base: &str, token: &str, payloads: &[String]) -> Vec<f64> {
    let mut lat = Vec::new();
    for (k, p) in payloads.iter().cycle().skip(3).step_by(7).take(300).enumerate() {
        let dir = if k % 2 == 0 { "in" } else { "out" };
        let t = Instant::now();
        let ok = client
            .post(format!("{base}/api/v1/scan"))
            .bearer_auth(token)
            .json(&serde_json::json!({"payload": p, "direction": dir, "temperature_c": 36.5}))
            .send()
            .and_then(|r| r.bytes())
            .is_ok();
        if ok {
            lat.push(t.elapsed().as_secs_f64() * 1000.0);
        }
    }
    lat.sort_by(|a, b| a.total_cmp(b));
    lat
}

fn decisions_with_peers() {
    let g = community(400);
    let guards: Vec<String> = g.dirs.iter().map(|d| token(d, "guard")).collect();
    let running: Vec<(Running, String)> = g.dirs.iter().map(|d| serve(d)).collect();
    std::thread::sleep(Duration::from_secs(1));
    let client = reqwest::blocking::Client::new();
    let floor = commit_floor(&g.dirs[0], 300);
    let quiet = one_guard(&client, &running[0].1, &guards[0], &g.payloads);
    // 8 clients at each of 西门 and 北门
    let stop = Arc::new(AtomicBool::new(false));
    let bases: Vec<String> = running.iter().map(|(_, b)| b.clone()).collect();
    let load = scanners(&bases, &guards, &[1, 2], &g.payloads, &stop, &Arc::new(AtomicU64::new(0)));
    std::thread::sleep(Duration::from_secs(2));
    let busy = one_guard(&client, &running[0].1, &guards[0], &g.payloads);
    let held_west = held(&client, &running[0].1, &guards[0], "西门");
    let floor_busy = commit_floor(&g.dirs[0], 300);
    stop.store(true, Ordering::Relaxed);
    for t in load {
        let _ = t.join();
    }
    println!(
        "gates/decisions: one guard at 东门 over HTTP: peers quiet p50 {:.2} ms p99 {:.2} ms; \
         西门 and 北门 scanning (8 clients each, {held_west} of 西门's events held) p50 {:.2} ms p99 {:.2} ms; \
         bare SQLite commit p50 {:.2} ms quiet, {:.2} ms under that load",
        pct(&quiet, 0.5),
        pct(&quiet, 0.99),
        pct(&busy, 0.5),
        pct(&busy, 0.99),
        pct(&floor, 0.5),
        pct(&floor_busy, 0.5)
    );
    drop(running);
}

fn main() {
    // `cargo test --benches` runs benches once as tests; measure only under `cargo bench`
    if !std::env::args().any(|a| a == "--bench") {
        println!("gates: run with `cargo bench --bench gates`");
        return;
    }
    propagation();
    catch_up();
    decisions_with_peers();
}
