//! Several gates of one community: `gate add` on the first directory, `join`
//! on a new one against the first gate's running daemon, and what a joined
//! gate may and may not do. (Sharing crossings between gates comes next.)

mod common;

use common::{bin, client, json, ok, run, scan, Daemon, GateDir};
use serde_json::{json, Value};

/// A guard's scan at the gate at `base`: its answer.
fn scan_at(c: &reqwest::blocking::Client, base: &str, token: &str, payload: &str, direction: &str) -> Value {
    c.post(format!("{base}/api/v1/scan"))
        .bearer_auth(token)
        .json(&json!({"payload": payload, "direction": direction, "temperature_c": 36.5}))
        .send()
        .unwrap()
        .json()
        .unwrap()
}

fn join(dir: &std::path::Path, from: &str, code: &str, gate: &str) -> std::process::Output {
    bin()
        .arg("--data-dir")
        .arg(dir)
        .args(["join", "--from", from, "--code", code, "--gate", gate, "--advertise", "http://127.0.0.1:1"])
        .output()
        .unwrap()
}

#[test]
fn a_joined_gate_holds_public_keys_only_and_decides_on_the_copied_register() {
    let g = GateDir::new();
    let d = Daemon::start(&g.dir);
    let code = json(&g.dir, &["gate", "add", "--name", "西门"])["code"].as_str().unwrap().to_string();
    let west = g.tmp.path().join("west");

    // a wrong code and a code for another name are refused; nothing is made
    let wrong = join(&west, &d.base, "2222-2222-2222", "西门");
    assert!(!wrong.status.success());
    assert!(String::from_utf8_lossy(&wrong.stderr).contains("join_refused"), "{wrong:?}");
    let other = join(&west, &d.base, &code, "北门");
    assert!(!other.status.success());
    assert!(!west.exists(), "a refused join writes nothing");

    let out = join(&west, &d.base, &code.to_lowercase(), "西门");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    // the code works once
    let again = join(&g.tmp.path().join("west2"), &d.base, &code, "西门");
    assert!(!again.status.success());
    assert!(!g.tmp.path().join("west2").exists());

    // no community signing key on the joined gate; passes cannot be made there
    let keys: Vec<String> = std::fs::read_dir(west.join("keys"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(keys.iter().all(|k| !k.starts_with("community")), "{keys:?}");
    let refused = run(&west, &["pass", "issue", "--all", "--out", g.tmp.path().join("c2").to_str().unwrap()]);
    assert!(!refused.status.success());
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(err.contains("first directory") && err.contains("public keys"), "{err}");
    let refused = run(&west, &["key", "rotate"]);
    assert!(!refused.status.success());

    // the register and passes came along: a card issued at the first gate
    // is verified at the joined one
    let listed = ok(&west, &["household", "list"]);
    assert!(listed.contains("张三") && listed.contains("2-201"), "{listed}");
    let cfg = west.join("gatepass.toml");
    let text = std::fs::read_to_string(&cfg).unwrap().replace("hours = \"06:00-20:00\"", "hours = \"00:00-24:00\"");
    std::fs::write(&cfg, text).unwrap();
    let w = Daemon::start(&west);
    let guard = ok(&west, &["token", "create", "--role", "guard"]).trim().to_string();
    let c = client();
    let v: Value =
        scan(&c, &w, &guard, json!({"payload": g.pass("张三").payload, "direction": "out", "temperature_c": 36.5}))
            .json()
            .unwrap();
    assert_eq!(v["decision"], "allow", "{v}");
    assert_eq!(json(&west, &["events", "verify"])["intact"], true);

    // committee changes on the joined gate are refused with a clear code
    let committee = ok(&west, &["token", "create", "--role", "committee"]).trim().to_string();
    let revoke = format!("/api/v1/passes/{}/revoke", g.pass("李四").pass_id);
    let r = c.post(w.url(&revoke)).bearer_auth(&committee).json(&json!({"reason": "遗失"})).send().unwrap();
    assert_eq!(r.status(), 409);
    assert_eq!(r.json::<Value>().unwrap()["error"], "not_first_directory");

    // both gates know each other; health lists the peer
    let east_peers = json(&g.dir, &["peers"]);
    assert_eq!(east_peers[0]["gate"], "西门");
    let west_peers = json(&west, &["peers"]);
    assert_eq!(west_peers[0]["gate"], "东门");
    assert_eq!(west_peers[0]["url"], d.base.as_str());
    let h: Value = c.get(w.url("/api/v1/health")).send().unwrap().json().unwrap();
    assert_eq!(h["peers"][0]["gate"], "东门", "{h}");
    assert!(h["peers"][0].get("last_heard_at").is_some() && h["peers"][0].get("behind").is_some(), "{h}");
    assert!(east_peers[0].get("outbound_token").is_none(), "credentials never listed");

    // removing the gate ends it; a gate cannot be added twice meanwhile
    let twice = run(&g.dir, &["gate", "add", "--name", "西门"]);
    assert!(!twice.status.success());
    ok(&g.dir, &["gate", "remove", "--name", "西门"]);
    assert!(json(&g.dir, &["peers"])[0]["removed_at"].is_string());
    let h: Value = c.get(d.url("/api/v1/health")).send().unwrap().json().unwrap();
    assert_eq!(h["peers"].as_array().unwrap().len(), 0, "{h}");
    let audit = ok(&g.dir, &["audit"]);
    assert!(audit.contains("gate.add") && audit.contains("gate.join") && audit.contains("gate.remove"), "{audit}");
}

#[test]
fn gate_add_is_for_the_first_directory_and_checks_its_input() {
    let g = GateDir::new();
    for bad in [
        vec!["gate", "add", "--name", ""],
        vec!["gate", "add", "--name", "东门"],
        vec!["gate", "add", "--name", "西门", "--minutes", "0"],
    ] {
        let out = run(&g.dir, &bad);
        assert!(!out.status.success(), "{bad:?}");
        assert!(!String::from_utf8_lossy(&out.stderr).trim().is_empty());
    }
    let bad = bin()
        .arg("--data-dir")
        .arg(g.tmp.path().join("x"))
        .args(["join", "--from", "ftp://x", "--code", "2222-2222-2222", "--gate", "西门", "--advertise", "http://a:1"])
        .output()
        .unwrap();
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("--from"));
    // nothing listens there: a clear message, nothing written
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let x = g.tmp.path().join("x");
    let out = join(&x, &format!("http://127.0.0.1:{port}"), "2222-2222-2222", "西门");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot reach"), "{out:?}");
    assert!(!x.exists());
}

/// Crossings travel: a gate joined to the first one collects the first
/// gate's chain, and, through the first gate, the chain of a third gate it
/// never talked to; every page verified against the pinned keys.
#[test]
fn crossings_reach_every_gate_through_the_first() {
    let g = GateDir::new();
    let east = Daemon::start(&g.dir);
    let c = client();
    let mut gates = Vec::new();
    for name in ["西门", "北门"] {
        let dir = joined(&g, &east.base, name, name);
        let d = Listening::start(&dir);
        let token = ok(&dir, &["token", "create", "--role", "guard"]).trim().to_string();
        gates.push((dir, d, token));
    }
    let east_guard = g.token("guard");
    scan(&c, &east, &east_guard, json!({"payload": g.pass("张三").payload, "direction": "out", "temperature_c": 36.5}));
    let (_, north, north_guard) = &gates[1];
    let north_url = |p: &str| format!("{}{p}", north.base);
    c.post(north_url("/api/v1/scan"))
        .bearer_auth(north_guard)
        .json(&json!({"payload": g.pass("赵六").payload, "direction": "out", "temperature_c": 36.5}))
        .send()
        .unwrap();

    // 西门 holds both other chains, each with its head
    let (_, west, west_guard) = &gates[0];
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let v: Value =
            c.get(format!("{}/api/v1/peers", west.base)).bearer_auth(west_guard).send().unwrap().json().unwrap();
        let head = |gate: &str| {
            v["chains"]
                .as_array()
                .unwrap()
                .iter()
                .find(|h| h["gate"] == gate)
                .and_then(|h| h["head"].as_u64())
                .unwrap_or(0)
        };
        if head("东门") >= 1 && head("北门") >= 1 {
            let h: Value = c.get(format!("{}/api/v1/health", west.base)).send().unwrap().json().unwrap();
            assert_eq!(h["peers"][0]["gate"], "东门");
            assert!(h["peers"][0]["last_heard_at"].is_string(), "{h}");
            assert_eq!(h["peers"][0]["behind"], 0, "{h}");
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the chains never arrived: {v}");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    // the first gate lists both joined gates as heard from
    let v: Value = c.get(east.url("/api/v1/peers")).bearer_auth(&east_guard).send().unwrap().json().unwrap();
    assert_eq!(v["peers"].as_array().unwrap().len(), 2, "{v}");
}

/// Joined gates talk to each other directly: the committee's state lists
/// every gate with the hash of its credentials, so with the first gate
/// down, a crossing at 西门 still refuses the household's next member at
/// 北门. Removing a gate on the first directory ends its credentials at
/// the other gates too.
#[test]
fn joined_gates_reach_each_other_without_the_first() {
    let g = GateDir::new();
    let mut east = Daemon::start(&g.dir);
    let c = client();
    let west_dir = joined(&g, &east.base, "西门", "west");
    let north_dir = joined(&g, &east.base, "北门", "north");
    let west = Listening::start(&west_dir);
    let north = Listening::start(&north_dir);
    let west_guard = ok(&west_dir, &["token", "create", "--role", "guard"]).trim().to_string();
    let north_guard = ok(&north_dir, &["token", "create", "--role", "guard"]).trim().to_string();
    let health = |base: &str| -> Value { c.get(format!("{base}/api/v1/health")).send().unwrap().json().unwrap() };
    let wait = |what: &str, done: &dyn Fn() -> bool| {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        while !done() {
            assert!(std::time::Instant::now() < deadline, "{what} never happened");
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
    };
    // each joined gate learns the other from the committee's log, and hears from it
    let heard = |base: &str, other: &str| {
        health(base)["peers"]
            .as_array()
            .is_some_and(|l| l.iter().any(|p| p["gate"] == other && p["last_heard_at"].is_string()))
    };
    wait("西门 hearing from 北门", &|| heard(&west.base, "北门"));
    wait("北门 hearing from 西门", &|| heard(&north.base, "西门"));
    // both are at the first directory's newest committee record
    let head = health(&east.base)["committee"]["log_head"].as_u64().unwrap();
    for base in [&west.base, &north.base] {
        let h = health(base)["committee"].clone();
        assert_eq!(
            (h["version"].as_u64(), h["log_head"].as_u64(), h["behind"].as_u64()),
            (Some(head), Some(head), Some(0)),
            "{h}"
        );
    }

    // the committee log, as the committee reads it at a joined gate
    let committee = ok(&north_dir, &["token", "create", "--role", "committee"]).trim().to_string();
    let l: Value =
        c.get(format!("{}/api/v1/committee/log", north.base)).bearer_auth(&committee).send().unwrap().json().unwrap();
    assert_eq!(l["version"].as_u64(), Some(head), "{l}");
    let records = l["records"].as_array().unwrap();
    assert_eq!(records.len() as u64, head, "{l}");
    assert_eq!(records[0]["seq"].as_u64(), Some(head), "newest first: {l}");
    let joins: Vec<&str> =
        records.iter().filter(|r| r["action"] == "gate.join").filter_map(|r| r["detail"]["gate"].as_str()).collect();
    assert_eq!(joins, ["北门", "西门"], "{l}");
    assert!(records.iter().any(|r| r["action"] == "register.import" && r["actor"] == "cli"), "{l}");
    let status =
        c.get(format!("{}/api/v1/committee/log", north.base)).bearer_auth(&north_guard).send().unwrap().status();
    assert_eq!(status, 403);

    // the first gate goes down
    east.kill();
    let v: Value = scan_at(&c, &west.base, &west_guard, &g.pass("张三").payload, "out");
    assert_eq!(v["decision"], "allow", "{v}");
    let holds = || {
        let v: Value =
            c.get(format!("{}/api/v1/peers", north.base)).bearer_auth(&north_guard).send().unwrap().json().unwrap();
        v["chains"].as_array().is_some_and(|l| l.iter().any(|h| h["gate"] == "西门" && h["head"].as_u64() >= Some(1)))
    };
    wait("西门's crossing reaching 北门 with 东门 down", &holds);
    let v: Value = scan_at(&c, &north.base, &north_guard, &g.pass("李四").payload, "out");
    assert_eq!(v["decision"], "deny", "{v}");
    assert!(v["reasons"].as_array().unwrap().iter().any(|r| r == "household_member_out"), "{v}");
    // both chains and the committee log verify at the joined gates
    let out = ok(&north_dir, &["events", "verify"]);
    assert!(out.contains("the committee log:") && out.contains("intact"), "{out}");

    // 北门 removed on the first directory: 西门 no longer answers it
    ok(&g.dir, &["gate", "remove", "--name", "北门"]);
    // back where the other gates know it
    let _east = Listening::start_at(&g.dir, Some(east.base.trim_start_matches("http://")));
    let removed = || {
        health(&west.base)["committee"]["log_head"].as_u64() > Some(head)
            && !health(&west.base)["peers"].as_array().is_some_and(|l| l.iter().any(|p| p["gate"] == "北门"))
    };
    wait("北门's removal reaching 西门", &removed);
    let log = ok(&west_dir, &["audit"]);
    assert!(log.contains("committee.sync"), "{log}");
}

/// `gate add` on the first directory, then `join` from a new directory
/// `sub` advertising a free port; the joined gate opens all day (tests run
/// at any hour). Its daemon is not started.
fn joined(g: &GateDir, east: &str, name: &str, sub: &str) -> std::path::PathBuf {
    let code = json(&g.dir, &["gate", "add", "--name", name])["code"].as_str().unwrap().to_string();
    let dir = g.tmp.path().join(sub);
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let out = bin()
        .arg("--data-dir")
        .arg(&dir)
        .args(["join", "--from", east, "--code", &code, "--gate", name, "--advertise"])
        .arg(format!("http://127.0.0.1:{port}"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let cfg = dir.join("gatepass.toml");
    let text = std::fs::read_to_string(&cfg).unwrap().replace("hours = \"06:00-20:00\"", "hours = \"00:00-24:00\"");
    std::fs::write(&cfg, text).unwrap();
    dir
}

/// A daemon on the address its gatepass.toml gives (a joined gate listens
/// where it told the others), read from its first line.
struct Listening {
    child: std::process::Child,
    base: String,
}

impl Listening {
    fn start(dir: &std::path::Path) -> Listening {
        Listening::start_at(dir, None)
    }

    /// On `listen` (address:port) instead of the configured address.
    fn start_at(dir: &std::path::Path, listen: Option<&str>) -> Listening {
        use std::io::BufRead;
        let mut cmd = bin();
        cmd.arg("--data-dir").arg(dir).arg("serve");
        if let Some(l) = listen {
            cmd.args(["--listen", l]);
        }
        let mut child = cmd
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        let addr = line.trim().strip_prefix("gatepass listening on http://").unwrap_or_else(|| panic!("{line:?}"));
        let port = addr.rsplit_once(':').unwrap().1;
        Listening { child, base: format!("http://127.0.0.1:{port}") }
    }
}

impl Drop for Listening {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The SPEC's first case for several gates: a household member out
/// through 东门 refuses the household's next member at 西门; the same card
/// cannot leave twice through two gates; the household's one outing used
/// at 东门 counts at 西门.
#[test]
fn a_crossing_at_one_gate_counts_at_the_other() {
    let g = GateDir::new();
    let east = Daemon::start(&g.dir);
    let c = client();
    let dir = joined(&g, &east.base, "西门", "west");
    let west = Listening::start(&dir);
    let west_guard = ok(&dir, &["token", "create", "--role", "guard"]).trim().to_string();
    let east_guard = g.token("guard");
    let at_west = |who: &str, dir: &str| -> Value {
        c.post(format!("{}/api/v1/scan", west.base))
            .bearer_auth(&west_guard)
            .json(&json!({"payload": g.pass(who).payload, "direction": dir, "temperature_c": 36.5}))
            .send()
            .unwrap()
            .json()
            .unwrap()
    };
    let v: Value = scan(
        &c,
        &east,
        &east_guard,
        json!({"payload": g.pass("张三").payload, "direction": "out", "temperature_c": 36.5}),
    )
    .json()
    .unwrap();
    assert_eq!(v["decision"], "allow", "{v}");
    // wait until 西门 holds 东门's crossing
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let v: Value =
            c.get(format!("{}/api/v1/peers", west.base)).bearer_auth(&west_guard).send().unwrap().json().unwrap();
        if v["chains"].as_array().unwrap().iter().any(|h| h["gate"] == "东门" && h["head"].as_u64() >= Some(1)) {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "东门's crossing never reached 西门: {v}");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let v = at_west("李四", "out");
    assert_eq!(v["decision"], "deny", "{v}");
    assert!(v["reasons"].as_array().unwrap().iter().any(|r| r == "household_member_out"), "{v}");
    let v = at_west("张三", "out");
    assert!(v["reasons"].as_array().unwrap().iter().any(|r| r == "already_out"), "anti-passback across gates: {v}");
    // 张三 comes back through 西门; the household's one outing was used at 东门
    assert_eq!(at_west("张三", "in")["decision"], "allow");
    let v = at_west("李四", "out");
    assert_eq!(v["decision"], "deny", "{v}");
    assert!(v["reasons"].as_array().unwrap().iter().any(|r| r == "household_quota"), "{v}");
    // another household is untouched
    assert_eq!(at_west("钱七", "out")["decision"], "allow");
    // the committee traces 张三 by name across both gates, at 西门
    let committee = ok(&dir, &["token", "create", "--role", "committee"]).trim().to_string();
    let t: Value = c
        .get(format!("{}/api/v1/trace?name=%E5%BC%A0%E4%B8%89", west.base))
        .bearer_auth(&committee)
        .send()
        .unwrap()
        .json()
        .unwrap();
    let gates: Vec<&str> =
        t["trace"]["crossings"].as_array().unwrap().iter().filter_map(|c| c["gate"].as_str()).collect();
    assert!(gates.contains(&"东门") && gates.contains(&"西门"), "{t}");
}

/// A revocation on the first directory reaches the other gates: the card
/// is refused there too.
#[test]
fn a_revocation_at_the_first_directory_refuses_the_card_at_the_others() {
    let g = GateDir::new();
    let east = Daemon::start(&g.dir);
    let c = client();
    let dir = joined(&g, &east.base, "西门", "west");
    let west = Listening::start(&dir);
    let west_guard = ok(&dir, &["token", "create", "--role", "guard"]).trim().to_string();
    ok(&g.dir, &["pass", "revoke", &g.pass("钱七").pass_id, "--reason", "遗失"]);
    let health = |base: &str| -> Value { c.get(format!("{base}/api/v1/health")).send().unwrap().json().unwrap() };
    let wanted = health(&east.base)["committee"]["version"].as_u64().unwrap();
    assert_eq!(health(&east.base)["committee"]["first_directory"], true);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let h = health(&west.base);
        if h["committee"]["version"].as_u64() >= Some(wanted) {
            assert_eq!(h["committee"]["first_directory"], false);
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the revocation never reached 西门: {h}");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert!(ok(&dir, &["audit"]).contains("committee.sync"));
    let v: Value = scan_at(&c, &west.base, &west_guard, &g.pass("钱七").payload, "out");
    assert_eq!(v["decision"], "deny", "{v}");
    assert!(v["reasons"].as_array().unwrap().iter().any(|r| r == "revoked"), "{v}");
}

/// A partition, then healing: 东门 and 西门 each let one member of 1-101
/// out while they could not see each other; when 东门 hears from 西门 again
/// it records the conflict (both events, the rule), and neither log is
/// rewritten.
#[test]
fn a_partition_then_healing_records_the_conflict() {
    let g = GateDir::new();
    let mut east = Daemon::start(&g.dir);
    let c = client();
    let dir = joined(&g, &east.base, "西门", "west");
    let west = Listening::start(&dir);
    let west_guard = ok(&dir, &["token", "create", "--role", "guard"]).trim().to_string();
    // the partition: 东门's daemon is gone; its guard records on the Pi itself
    east.kill();
    let v = json(&g.dir, &["scan", "--payload", &g.pass("张三").payload, "--direction", "out", "--temp", "36.5"]);
    assert_eq!(v["decision"], "allow", "{v}");
    let v: Value = scan_at(&c, &west.base, &west_guard, &g.pass("李四").payload, "out");
    assert_eq!(v["decision"], "allow", "西门 could not know: {v}");
    // healing: 东门 is back and hears from 西门
    let east = Daemon::start(&g.dir);
    let committee = g.token("committee");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let list = loop {
        let v: Value = c.get(east.url("/api/v1/conflicts")).bearer_auth(&committee).send().unwrap().json().unwrap();
        if v["conflicts"].as_array().is_some_and(|l| !l.is_empty()) {
            break v["conflicts"].as_array().unwrap().clone();
        }
        assert!(std::time::Instant::now() < deadline, "no conflict recorded: {v}");
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    let rules: Vec<&str> = list.iter().filter_map(|c| c["rule"].as_str()).collect();
    assert!(rules.contains(&"household_member_out"), "{list:?}");
    let one = list.iter().find(|c| c["rule"] == "household_member_out").unwrap();
    assert_eq!((one["first_gate"].as_str(), one["second_gate"].as_str()), (Some("东门"), Some("西门")), "{one}");
    assert_eq!(one["household"], "1-101");
    // neither log was rewritten
    assert_eq!(json(&g.dir, &["events", "verify"])["intact"], true);
    assert_eq!(json(&dir, &["events", "verify"])["intact"], true);
    // only the committee reads them
    let guard = g.token("guard");
    assert_eq!(c.get(east.url("/api/v1/conflicts")).bearer_auth(&guard).send().unwrap().status(), 403);
}

/// `gatepass demo` runs 东门 and 西门 of one community: 张伟 let out at
/// 东门 refuses 王芳 of the same household at 西门.
#[test]
fn the_demo_runs_two_gates_of_one_community() {
    use std::io::BufRead;
    let tmp = tempfile::tempdir().unwrap();
    let mut child = bin()
        .env("TMPDIR", tmp.path())
        .args(["demo", "--listen", "127.0.0.1:0"])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let _child = Listening { child, base: String::new() };
    let (mut east, mut west, mut token, mut passes) = (None, None, None, None);
    for line in lines.by_ref() {
        let line = line.unwrap();
        assert!(!line.contains("did not start"), "{line}");
        if let Some(u) = line.strip_prefix("gatepass listening on ") {
            east = Some(u.trim().to_string());
        }
        if let Some(t) = line.trim().strip_prefix("guard     API token: ") {
            token = Some(t.trim().to_string());
        }
        if let Some(rest) = line.trim().strip_prefix("pass images:") {
            passes = rest.split(" list in ").nth(1).map(|p| p.trim().to_string());
        }
        if let Some(rest) = line.trim().strip_prefix("西门 guard page:") {
            west = rest.split_whitespace().next().map(|u| u.trim_end_matches("/guard").to_string());
            break;
        }
    }
    std::thread::spawn(move || lines.for_each(drop));
    let (east, west, token, passes) = (east.unwrap(), west.unwrap(), token.unwrap(), passes.unwrap());
    let payload_of = |name: &str| {
        common::read_passes(std::path::Path::new(&passes)).into_iter().find(|p| p.name == name).unwrap().payload
    };
    let c = reqwest::blocking::Client::builder()
        .cookie_store(true)
        .timeout(std::time::Duration::from_secs(20))
        .build()
        .unwrap();
    let v: Value = c
        .post(format!("{east}/api/v1/scan"))
        .bearer_auth(&token)
        .json(&json!({"payload": payload_of("张伟"), "direction": "out", "temperature_c": 36.5}))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(v["decision"], "allow", "{v}");
    // the guard at 西门 logs in with the demo's login
    let r = c
        .post(format!("{west}/api/v1/login"))
        .header("origin", &west)
        .json(&json!({"name": "guard", "password": "1234"}))
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let h: Value = c.get(format!("{west}/api/v1/peers")).send().unwrap().json().unwrap();
        if h["chains"]
            .as_array()
            .is_some_and(|l| l.iter().any(|x| x["gate"] == "东门" && x["head"].as_u64() >= Some(1)))
        {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "西门 never heard from 东门: {h}");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let v: Value = c
        .post(format!("{west}/api/v1/scan"))
        .header("origin", &west)
        .json(&json!({"payload": payload_of("王芳"), "direction": "out", "temperature_c": 36.5}))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(v["decision"], "deny", "{v}");
    assert!(v["reasons"].as_array().unwrap().iter().any(|r| r == "household_member_out"), "{v}");
}

/// No LAN: 东门's chains and committee state carried on a file to 西门,
/// taken with the same checks; an edited file or another community's is
/// refused.
#[test]
fn a_carried_sync_file_brings_a_gate_up_to_date() {
    let g = GateDir::new();
    let east = Daemon::start(&g.dir);
    let code = json(&g.dir, &["gate", "add", "--name", "西门"])["code"].as_str().unwrap().to_string();
    let west = g.tmp.path().join("west");
    let out = join(&west, &east.base, &code, "西门");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    drop(east);
    // 东门 works on alone: a crossing and a revocation
    ok(&g.dir, &["scan", "--payload", &g.pass("张三").payload, "--direction", "out", "--temp", "36.5"]);
    ok(&g.dir, &["pass", "revoke", &g.pass("钱七").pass_id, "--reason", "遗失"]);
    let file = g.tmp.path().join("east.sync");
    let v = json(&g.dir, &["sync", "export", "--out", file.to_str().unwrap()]);
    assert_eq!(v["events"], 1, "{v}");
    assert_eq!(v["committee"], true);

    // an edited event is refused, nothing of that chain taken
    let text = std::fs::read_to_string(&file).unwrap();
    let edited = g.tmp.path().join("edited.sync");
    std::fs::write(&edited, text.replace("\"direction\":\"out\"", "\"direction\":\"in\"")).unwrap();
    let bad = run(&west, &["sync", "import", edited.to_str().unwrap()]);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("refused"), "{bad:?}");

    let v = json(&west, &["sync", "import", file.to_str().unwrap()]);
    assert_eq!(v["events"], 1, "{v}");
    assert_eq!(v["committee"], true, "{v}");
    // again: nothing new
    let v = json(&west, &["sync", "import", file.to_str().unwrap()]);
    assert_eq!((v["events"].as_u64(), v["committee"].as_bool()), (Some(0), Some(false)), "{v}");
    // 西门 now decides with both: 李四's household has a member out, 钱七's card is revoked
    let cfg = west.join("gatepass.toml");
    let t = std::fs::read_to_string(&cfg).unwrap().replace("hours = \"06:00-20:00\"", "hours = \"00:00-24:00\"");
    std::fs::write(&cfg, t).unwrap();
    let v = json(&west, &["scan", "--payload", &g.pass("李四").payload, "--direction", "out", "--temp", "36.5"]);
    assert!(v["reasons"].as_array().unwrap().iter().any(|r| r == "household_member_out"), "{v}");
    let v = json(&west, &["scan", "--payload", &g.pass("钱七").payload, "--direction", "out", "--temp", "36.5"]);
    assert!(v["reasons"].as_array().unwrap().iter().any(|r| r == "revoked"), "{v}");

    // `events verify` re-checks the chains held from other gates too
    let v = json(&west, &["events", "verify"]);
    assert_eq!(v["intact"], true, "{v}");
    let out = ok(&west, &["events", "verify"]);
    assert!(out.contains("the chain of gate '东门' held here: 1 events, intact"), "{out}");
    {
        let db = rusqlite::Connection::open(west.join("gatepass.db")).unwrap();
        db.execute("UPDATE peer_events SET body = replace(body, '\"out\"', '\"in\"')", []).unwrap();
    }
    let broken = run(&west, &["events", "verify"]);
    assert_eq!(broken.status.code(), Some(3));
    assert!(
        String::from_utf8_lossy(&broken.stderr).contains("the chain of gate '东门' held here is broken"),
        "{broken:?}"
    );

    // another community's file
    let other = GateDir::new();
    let other_file = other.tmp.path().join("o.sync");
    ok(&other.dir, &["sync", "export", "--out", other_file.to_str().unwrap()]);
    let bad = run(&west, &["sync", "import", other_file.to_str().unwrap()]);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("another community"), "{bad:?}");
}
