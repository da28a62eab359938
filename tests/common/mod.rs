//! Shared test fixtures: run the real `gatepass` binary with a clean
//! environment, make a gate data directory with a register and passes, and
//! start the real daemon on an ephemeral port (read from its first stdout
//! line, never a sleep).

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

pub const REGISTER: &str = "户号,地址,网格,姓名,电话,类别\n\
1-101,1号楼101,A,张三,13800000001,正常\n\
1-101,1号楼101,A,李四,13800000002,正常\n\
1-102,1号楼102,A,王五,,居家隔离\n\
2-201,2号楼201,B,赵六,,保障人员\n\
2-201,2号楼201,B,钱七,,正常\n\
3-301,3号楼301,C,<script>alert(1)</script>,,正常\n";

pub fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_gatepass"));
    c.env_clear();
    if let Ok(p) = std::env::var("PATH") {
        c.env("PATH", p);
    }
    c.env("RUST_LOG", "warn");
    c
}

/// Runs a command and prints everything when it is not what the test wants.
pub fn run(dir: &Path, args: &[&str]) -> Output {
    let out = bin().arg("--data-dir").arg(dir).args(args).stdin(Stdio::null()).output().expect("run gatepass");
    out
}

pub fn ok(dir: &Path, args: &[&str]) -> String {
    let out = run(dir, args);
    assert!(
        out.status.success(),
        "gatepass {args:?} failed ({:?})\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn json(dir: &Path, args: &[&str]) -> serde_json::Value {
    let mut a = args.to_vec();
    a.push("--json");
    let s = ok(dir, &a);
    serde_json::from_str(&s).unwrap_or_else(|e| panic!("not JSON from {args:?}: {e}\n{s}"))
}

pub struct Pass {
    pub pass_id: String,
    pub household: String,
    pub name: String,
    pub payload: String,
}

/// A gate with the register above and passes for everyone.
pub struct GateDir {
    pub tmp: tempfile::TempDir,
    pub dir: PathBuf,
    pub passes: Vec<Pass>,
}

impl GateDir {
    pub fn new() -> GateDir {
        Self::with_config(|_| {})
    }

    pub fn with_config(edit: impl FnOnce(&mut String)) -> GateDir {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("gate");
        ok(&dir, &["init", "--community", "阳光花园", "--gate", "东门"]);
        let cfg = dir.join("gatepass.toml");
        let mut text = std::fs::read_to_string(&cfg).unwrap();
        // tests run at any hour: open the gate all day unless a test says otherwise
        text = text.replace("hours = \"06:00-20:00\"", "hours = \"00:00-24:00\"");
        edit(&mut text);
        std::fs::write(&cfg, text).unwrap();
        let csv = tmp.path().join("register.csv");
        std::fs::write(&csv, REGISTER).unwrap();
        ok(&dir, &["household", "import", csv.to_str().unwrap()]);
        let out = tmp.path().join("cards");
        ok(&dir, &["pass", "issue", "--all", "--out", out.to_str().unwrap()]);
        let passes = read_passes(&out.join("passes.csv"));
        GateDir { tmp, dir, passes }
    }

    pub fn pass(&self, name: &str) -> &Pass {
        self.passes.iter().find(|p| p.name == name).unwrap_or_else(|| panic!("no pass for {name}"))
    }

    pub fn token(&self, role: &str) -> String {
        ok(&self.dir, &["token", "create", "--role", role]).trim().to_string()
    }
}

pub fn read_passes(csv: &Path) -> Vec<Pass> {
    let mut r = csv::Reader::from_path(csv).unwrap();
    r.records()
        .map(|rec| {
            let rec = rec.unwrap();
            Pass {
                pass_id: rec[0].to_string(),
                household: rec[1].to_string(),
                name: rec[2].to_string(),
                payload: rec[3].to_string(),
            }
        })
        .collect()
}

/// The real daemon on 127.0.0.1:0; killed when dropped. Its stderr goes to
/// a file, printed only when the test fails (a test that fills the disk on
/// purpose would otherwise flood `cargo test` with the daemon's ERROR lines).
pub struct Daemon {
    pub child: Child,
    pub base: String,
    log: tempfile::NamedTempFile,
}

impl Daemon {
    pub fn start(dir: &Path) -> Daemon {
        Daemon::start_with(dir, |_| {})
    }

    /// As `start`, with a last say on the command (limits, environment).
    pub fn start_with(dir: &Path, adjust: impl FnOnce(&mut Command)) -> Daemon {
        let log = tempfile::NamedTempFile::new().expect("daemon log file");
        let mut cmd = bin();
        cmd.arg("--data-dir")
            .arg(dir)
            .args(["serve", "--listen", "127.0.0.1:0"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log.reopen().expect("daemon log file"));
        adjust(&mut cmd);
        let mut child = cmd.spawn().expect("start daemon");
        let stdout = child.stdout.take().expect("stdout");
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).expect("read address");
        let Some(base) = line.trim().strip_prefix("gatepass listening on ").map(str::to_string) else {
            let _ = child.kill();
            let _ = child.wait();
            let err = std::fs::read_to_string(log.path()).unwrap_or_default();
            panic!("unexpected first line: {line:?}\n--- daemon stderr ---\n{err}");
        };
        Daemon { child, base, log }
    }

    /// What the daemon wrote to stderr so far.
    pub fn stderr(&self) -> String {
        std::fs::read_to_string(self.log.path()).unwrap_or_default()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.kill();
        if std::thread::panicking() {
            // the test's own output, shown by the harness only on failure
            eprintln!("--- daemon stderr ({}) ---\n{}", self.base, self.stderr());
        }
    }
}

pub fn client() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder().timeout(std::time::Duration::from_secs(20)).build().unwrap()
}

pub fn scan(
    c: &reqwest::blocking::Client,
    d: &Daemon,
    token: &str,
    body: serde_json::Value,
) -> reqwest::blocking::Response {
    c.post(d.url("/api/v1/scan")).bearer_auth(token).json(&body).send().unwrap()
}
