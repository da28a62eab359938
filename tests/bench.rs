//! `gatepass bench` reports the floor of a durable decision (a bare SQLite
//! WAL commit) and the decision and HTTP scan as ratios to it. Figures are
//! not asserted (timing belongs to the bench, not the tests): only that the
//! report is whole and its ratios and verdict agree with its own numbers.

use std::process::Command;

#[test]
fn bench_reports_the_commit_floor_and_the_ratios_to_it() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_gatepass"))
        .arg("--data-dir")
        .arg(dir.path())
        .args(["--json", "bench", "--scans", "20", "--passes", "10", "--seconds", "1", "--clients", "2"])
        .env("RUST_LOG", "error")
        .output()
        .expect("run gatepass bench");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "bench failed:\n{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    let r: serde_json::Value = serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}:\n{stdout}"));
    let floor = &r["sqlite_commit_floor"];
    assert_eq!(floor["count"], 20, "{r:#}");
    assert!(floor["p50_ms"].as_f64().is_some_and(|x| x >= 0.0), "{r:#}");
    let over = r["scan_decision_over_floor"].as_f64().expect("decision ratio");
    let http_over = r["http_scan_over_floor"].as_f64().expect("HTTP ratio");
    assert!(over > 0.0 && http_over > 0.0, "{r:#}");
    assert_eq!(r["scan_decision_within_budget"], over <= 2.5, "{r:#}");
    // decisions again with another gate's 20,000 events held and pages of it arriving
    assert_eq!(r["peer_events_held"], 20_000, "{r:#}");
    assert_eq!(r["scan_decision_with_peers"]["count"], 20, "{r:#}");
    assert_eq!(r["peer_page_of_100"]["count"], 1, "{r:#}");
    assert!(r["scan_decision_with_peers_over_floor"].as_f64().is_some_and(|x| x > 0.0), "{r:#}");
    // the scratch folder (and its floor database) is gone afterwards
    let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().filter_map(Result::ok).map(|e| e.file_name()).collect();
    assert!(left.iter().all(|n| !n.to_string_lossy().starts_with(".bench-")), "{left:?}");
}
