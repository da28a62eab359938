//! The pages in a real browser: starts `gatepass demo` on 127.0.0.1:0 and
//! runs `tests/browser/check.js` (playwright-core driving Debian's
//! chromium): guard login, a pass scanned through the guard page's input
//! (allow, with the resident's name), a forged code (deny), a typed pass
//! number, the English switch, a pass revoked on the committee page (listed
//! as revoked, then denied at the gate), and a register upload whose
//! `<script>` name shows as text.
//!
//! `district_pages_in_chromium` builds a small district from the real
//! binary (a gate's exported log imported, a clerk login), starts
//! `district serve` on port 0 and runs `tests/browser/district.js`: the gate
//! listed (its markup name as text), the day's figures as scanned, the fever
//! alert, the resident's crossings traced, the English switch, all under
//! the pages' Content-Security-Policy.
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

/// Chromium and the scripts' folder, or why the browser tests skip.
fn browser_env() -> Result<(PathBuf, PathBuf), &'static str> {
    let chrome = chromium().ok_or("chromium not installed (apt-get install chromium)")?;
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser");
    if !dir.join("node_modules/playwright-core").is_dir() {
        return Err("tests/browser/node_modules missing (run `npm ci` in tests/browser)");
    }
    if Command::new("node").arg("--version").output().map(|o| !o.status.success()).unwrap_or(true) {
        return Err("node not installed");
    }
    Ok((chrome, dir))
}

/// One chromium at a time: the machines have two cores.
static ONE_BROWSER: std::sync::Mutex<()> = std::sync::Mutex::new(());

#[test]
fn pages_in_chromium() {
    let (chrome, dir) = match browser_env() {
        Ok(e) => e,
        Err(why) => {
            eprintln!("skipping: {why}");
            return;
        }
    };
    let _one = ONE_BROWSER.lock().unwrap_or_else(|e| e.into_inner());
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

/// Runs `gatepass` with `--data-dir dir`, feeding `stdin`; panics with its
/// output when it fails.
fn gp(dir: &Path, args: &[&str], stdin: Option<&str>) -> String {
    use std::io::Write;
    let mut child = Command::new(env!("CARGO_BIN_EXE_gatepass"))
        .arg("--data-dir")
        .arg(dir)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run gatepass");
    if let Some(s) = stdin {
        child.stdin.take().expect("stdin").write_all(s.as_bytes()).expect("write stdin");
    }
    drop(child.stdin.take());
    let out = child.wait_with_output().expect("gatepass output");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "gatepass {args:?} failed:\n{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    stdout
}

#[test]
fn district_pages_in_chromium() {
    let (chrome, dir) = match browser_env() {
        Ok(e) => e,
        Err(why) => {
            eprintln!("skipping: {why}");
            return;
        }
    };
    let _one = ONE_BROWSER.lock().unwrap_or_else(|e| e.into_inner());
    let tmp = tempfile::tempdir().expect("temp dir");
    let (gate, district) = (tmp.path().join("gate"), tmp.path().join("district"));
    let (gate_name, community) = ("东门<b>x</b>", "阳光花园社区");

    // A gate with a morning of yesterday's crossings, typed in afterwards.
    let day = (chrono::Utc::now().with_timezone(&chrono_tz::Asia::Shanghai) - chrono::Duration::days(1)).date_naive();
    let register = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/demo_register.csv");
    gp(&gate, &["init", "--community", community, "--gate", gate_name], None);
    gp(&gate, &["household", "import", register.to_str().unwrap()], None);
    let cards = gate.join("cards");
    let from = (day - chrono::Duration::days(2)).to_string();
    gp(&gate, &["pass", "issue", "--all", "--out", cards.to_str().unwrap(), "--valid-from", &from], None);
    let passes = std::fs::read_to_string(cards.join("passes.csv")).expect("passes.csv");
    let scan = |name: &str, temp: &str, time: &str| -> serde_json::Value {
        let payload = passes
            .lines()
            .find_map(|l| l.split(',').nth(2).filter(|n| *n == name).and(l.split(',').nth(3)))
            .unwrap_or_else(|| panic!("no pass for {name}"));
        let at = format!("{day}T{time}:00+08:00");
        serde_json::from_str(&gp(&gate, &["--json", "scan", "--payload", payload, "--temp", temp, "--at", &at], None))
            .expect("scan JSON")
    };
    let case = scan("张伟", "36.5", "08:00"); // out
    let contact = scan("李娜", "36.6", "08:10"); // out, 10 minutes after the case
    assert_eq!(scan("陈静", "36.4", "08:20")["decision"], "deny"); // quarantined: denied exit
    scan("张伟", "36.7", "09:00"); // in
    assert_eq!(scan("李娜", "38.1", "09:30")["decision"], "refer"); // fever on return
    let id = |v: &serde_json::Value| v["resident"]["id"].as_u64().expect("resident id");

    let export = gp(&gate, &["events", "export"], None);
    let file = tmp.path().join("east.ndjson");
    std::fs::write(&file, export).expect("write export");
    gp(&district, &["district", "init"], None);
    gp(&district, &["district", "import", file.to_str().unwrap()], None);
    gp(&district, &["district", "user", "add", "--name", "clerk", "--role", "district"], Some("district-pass\n"));

    let log = tmp.path().join("district.log");
    let child = Command::new(env!("CARGO_BIN_EXE_gatepass"))
        .arg("--data-dir")
        .arg(&district)
        .args(["district", "serve", "--listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&log).expect("log file"))
        .spawn()
        .expect("start district serve");
    let mut server = Demo { child, _tmp: tmp, log };
    let mut lines = BufReader::new(server.child.stdout.take().expect("stdout")).lines();
    let first = lines.next().and_then(Result::ok).unwrap_or_default();
    let Some(url) = first.strip_prefix("gatepass district listening on ").map(|u| u.trim().to_string()) else {
        let log = std::fs::read_to_string(&server.log).unwrap_or_default();
        panic!("district serve's first line was {first:?}, not its address; its log:\n{log}");
    };
    std::thread::spawn(move || lines.for_each(drop));

    let want = serde_json::json!({
        "user": "clerk", "password": "district-pass",
        "gate": gate_name, "community": community, "date": day.to_string(),
        "counts": {"exits": 2, "entries": 1, "denied": 1, "fever": 1, "overdue": 0},
        "resident": id(&case), "crossings": 2, "contact": id(&contact), "fever": "38.1",
    });
    let out = Command::new("node")
        .arg("district.js")
        .arg(&url)
        .arg(want.to_string())
        .current_dir(&dir)
        .env("CHROMIUM", &chrome)
        .output()
        .expect("run node district.js");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("{stdout}");
    if !out.status.success() {
        let log = std::fs::read_to_string(&server.log).unwrap_or_default();
        panic!("district browser test failed:\n{stdout}\n{stderr}\n--- district serve log ---\n{log}");
    }
    assert!(stdout.contains("PASS"), "district.js ended without PASS:\n{stdout}\n{stderr}");
    drop(server);
}
