//! The pages in a real browser: starts `gatepass demo` on 127.0.0.1:0 and
//! runs `tests/browser/check.js` (playwright-core driving Debian's
//! chromium): guard login, a pass scanned through the guard page's input
//! (allow, with the resident's name), a forged code (deny), a typed pass
//! number, the English switch, a pass revoked on the committee page (listed
//! as revoked, then denied at the gate), and a register upload whose
//! `<script>` name shows as text.
//!
//! Skips (and says so) when chromium, node or `tests/browser/node_modules`
//! (`npm ci` in tests/browser) is missing.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

fn chromium() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("CHROMIUM") {
        return Some(PathBuf::from(p));
    }
    let fixed = ["/usr/bin/chromium", "/usr/bin/chromium-browser"].into_iter().map(PathBuf::from);
    let on_path = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).map(|d| d.join("chromium")).collect::<Vec<_>>())
        .unwrap_or_default();
    fixed.chain(on_path).find(|p| p.is_file())
}

/// The daemon and its throw-away directory, gone when the test ends
/// (passing or not).
struct Demo {
    child: Child,
    _tmp: tempfile::TempDir,
    log: PathBuf,
}

impl Drop for Demo {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts the demo and reads its URL and card folder from stdout (the first
/// line is `gatepass listening on http://ADDR`; no sleeping for readiness).
fn start_demo() -> (Demo, String, PathBuf) {
    let tmp = tempfile::tempdir().expect("temp dir");
    let log = tmp.path().join("daemon.log");
    let child = Command::new(env!("CARGO_BIN_EXE_gatepass"))
        .args(["demo", "--listen", "127.0.0.1:0"])
        .env("TMPDIR", tmp.path())
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&log).expect("log file"))
        .spawn()
        .expect("start gatepass demo");
    let mut demo = Demo { child, _tmp: tmp, log };
    let stdout = demo.child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    let mut url = None;
    let mut cards = None;
    for line in lines.by_ref() {
        let line = line.expect("demo stdout");
        if let Some(u) = line.strip_prefix("gatepass listening on ") {
            url = Some(u.trim().to_string());
        }
        if let Some(c) = line.trim().strip_prefix("card sheet:") {
            cards = Path::new(c.trim()).parent().map(Path::to_path_buf);
        }
        if url.is_some() && cards.is_some() {
            break;
        }
    }
    // Keep draining stdout so the daemon never blocks on a full pipe.
    std::thread::spawn(move || lines.for_each(drop));
    let (Some(url), Some(cards)) = (url, cards) else {
        let log = std::fs::read_to_string(&demo.log).unwrap_or_default();
        panic!("gatepass demo did not print its URL and card folder; its log:\n{log}");
    };
    (demo, url, cards)
}

#[test]
fn pages_in_chromium() {
    let Some(chrome) = chromium() else {
        eprintln!("skipping: chromium not installed (apt-get install chromium)");
        return;
    };
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser");
    if !dir.join("node_modules/playwright-core").is_dir() {
        eprintln!("skipping: tests/browser/node_modules missing (run `npm ci` in tests/browser)");
        return;
    }
    if Command::new("node").arg("--version").output().map(|o| !o.status.success()).unwrap_or(true) {
        eprintln!("skipping: node not installed");
        return;
    }
    let (demo, url, cards) = start_demo();
    let out = Command::new("node")
        .arg("check.js")
        .arg(&url)
        .arg(cards.join("passes.csv"))
        .current_dir(&dir)
        .env("CHROMIUM", &chrome)
        .output()
        .expect("run node check.js");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("{stdout}");
    if !out.status.success() {
        let log = std::fs::read_to_string(&demo.log).unwrap_or_default();
        panic!("browser test failed:\n{stdout}\n{stderr}\n--- daemon log ---\n{log}");
    }
    assert!(stdout.contains("PASS"), "check.js ended without PASS:\n{stdout}\n{stderr}");
}
