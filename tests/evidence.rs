//! Evidence and fail-closed behaviour (issue 9): unreadable records refuse
//! with `record_unreadable` and are named; derived state (presence,
//! outings, the events table's columns) is checked against the chain and
//! rebuilt from it; the district's pull lets retention purge; names with
//! hidden characters are refused.

mod common;
use common::*;
use std::process::Stdio;

fn db(g: &GateDir) -> rusqlite::Connection {
    rusqlite::Connection::open(g.dir.join("gatepass.db")).unwrap()
}

fn scan_json(g: &GateDir, payload: &str, extra: &[&str]) -> serde_json::Value {
    let mut args = vec!["scan", "--payload", payload];
    args.extend_from_slice(extra);
    json(&g.dir, &args)
}

fn reasons(v: &serde_json::Value) -> Vec<String> {
    v["reasons"].as_array().unwrap().iter().map(|r| r.as_str().unwrap().to_string()).collect()
}

fn stderr(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn unreadable_category_refuses_with_a_reason_and_is_named() {
    let g = GateDir::new();
    let wang = g.pass("王五").payload.clone();
    assert_eq!(reasons(&scan_json(&g, &wang, &["--temp", "36.5", "--direction", "out"])), vec!["quarantined"]);
    db(&g).execute("UPDATE residents SET category = 'garbage' WHERE name = '王五'", []).unwrap();
    // before the fix an unknown category read as normal and let them out
    let v = scan_json(&g, &wang, &["--temp", "36.5", "--direction", "out"]);
    assert_eq!(v["decision"], "deny");
    assert_eq!(reasons(&v), vec!["record_unreadable"]);
    assert_eq!(v["resident"]["name"], "王五", "the guard still sees whose card it is");

    // `config check` names the resident and what cannot be read
    let out = run(&g.dir, &["config", "check"]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.contains("王五") && err.contains("garbage"), "{err}");

    // health names it too
    let d = Daemon::start(&g.dir);
    let h: serde_json::Value = client().get(d.url("/api/v1/health")).send().unwrap().json().unwrap();
    assert_eq!(h["status"], "degraded");
    assert_eq!(h["records"]["ok"], false);
    let listed = h["records"]["unreadable"].to_string();
    assert!(listed.contains("王五") && listed.contains("garbage"), "{listed}");
    let guard = g.token("guard");
    let r: serde_json::Value =
        scan(&client(), &d, &guard, serde_json::json!({"payload": wang, "temperature_c": 36.5})).json().unwrap();
    assert_eq!(r["reasons"], serde_json::json!(["record_unreadable"]));
}

#[test]
fn unreadable_pass_household_link_policy_and_presence_refuse() {
    let g = GateDir::new();
    let zhang = g.pass("张三").clone_payload();
    let li = g.pass("李四").clone_payload();
    let qian = g.pass("钱七").clone_payload();
    let zhao = g.pass("赵六").clone_payload();
    // a pass row's validity date
    db(&g).execute("UPDATE passes SET valid_until = 'soon' WHERE id = ?1", [&g.pass("张三").pass_id]).unwrap();
    assert_eq!(reasons(&scan_json(&g, &zhang, &["--temp", "36.5"])), vec!["record_unreadable"]);
    // a household member's presence row
    assert_eq!(scan_json(&g, &zhao, &["--temp", "36.5", "--direction", "out"])["decision"], "allow");
    db(&g).execute("UPDATE presence SET state = 'maybe'", []).unwrap();
    assert_eq!(reasons(&scan_json(&g, &qian, &["--temp", "36.5", "--direction", "out"])), vec!["record_unreadable"]);
    // the household link
    let conn = db(&g);
    conn.execute_batch("PRAGMA foreign_keys = OFF; UPDATE residents SET household_id = 42 WHERE name = '李四';")
        .unwrap();
    drop(conn);
    assert_eq!(reasons(&scan_json(&g, &li, &["--temp", "36.5", "--direction", "out"])), vec!["record_unreadable"]);
    // the committee's policy override: never a silent fall-back to the file
    db(&g).execute("INSERT INTO policy_override (id, doc) VALUES (1, '{not json')", []).unwrap();
    let v = scan_json(&g, &g.pass("王五").clone_payload(), &["--temp", "36.5", "--direction", "in"]);
    assert_eq!(reasons(&v), vec!["record_unreadable"]);
    let out = run(&g.dir, &["config", "check"]);
    assert!(!out.status.success());
    let err = stderr(&out);
    for what in ["valid_until", "'maybe'", "household id 42", "policy override"] {
        assert!(err.contains(what), "config check should name {what}: {err}");
    }
}

trait Payload {
    fn clone_payload(&self) -> String;
}
impl Payload for Pass {
    fn clone_payload(&self) -> String {
        self.payload.clone()
    }
}

#[test]
fn verify_names_tampered_derived_state_and_rebuild_repairs_it() {
    let g = GateDir::new();
    let zhang = g.pass("张三").clone_payload();
    let li = g.pass("李四").clone_payload();
    let zhao = g.pass("赵六").clone_payload();
    assert_eq!(scan_json(&g, &zhang, &["--temp", "36.5", "--direction", "out"])["decision"], "allow");
    assert_eq!(scan_json(&g, &zhang, &["--temp", "36.5", "--direction", "in"])["decision"], "allow");
    assert_eq!(reasons(&scan_json(&g, &li, &["--temp", "36.5", "--direction", "out"])), vec!["household_quota"]);
    let v = scan_json(&g, &zhao, &["--temp", "36.5", "--direction", "out"]);
    assert_eq!(v["warnings"], serde_json::json!(["quota_exempt"]), "an essential worker's exit says it does not count");
    ok(&g.dir, &["events", "verify"]);

    // 1. the household's outings deleted: the quota is free again
    db(&g).execute("DELETE FROM outings", []).unwrap();
    let out = run(&g.dir, &["events", "verify"]);
    assert_eq!(out.status.code(), Some(3));
    let err = stderr(&out);
    assert!(err.contains("the exit of event 1") && err.contains("missing"), "{err}");
    assert!(err.contains("the exit of event 4"), "{err}");
    // 2. a refusal turned into an allow in the searchable column
    db(&g).execute("UPDATE events SET decision = 'allow' WHERE seq = 3", []).unwrap();
    // 3. presence edited: 张三 shown as out
    db(&g).execute("UPDATE presence SET state = 'out' WHERE seq = 2", []).unwrap();
    let out = run(&g.dir, &["events", "verify", "--json"]);
    assert_eq!(out.status.code(), Some(3));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["intact"], false);
    assert_eq!(v["chain_intact"], true);
    let diffs = v["differences"].to_string();
    assert!(diffs.contains("events row 3: column decision is 'allow', the signed event says 'deny'"), "{diffs}");
    assert!(diffs.contains("presence of resident"), "{diffs}");
    assert_eq!(v["differences"].as_array().unwrap().len(), 4, "{diffs}");

    // rebuild recomputes all of it from the chain
    let r = json(&g.dir, &["events", "rebuild"]);
    assert_eq!(r["differences"].as_array().unwrap().len(), 4);
    ok(&g.dir, &["events", "verify"]);
    // the quota is enforced again
    assert_eq!(reasons(&scan_json(&g, &li, &["--temp", "36.5", "--direction", "out"])), vec!["household_quota"]);
    let audit = json(&g.dir, &["audit"]);
    assert!(audit.as_array().unwrap().iter().any(|a| a["action"] == "events.rebuild"));

    // the daemon rebuilds at start, before it decides anything
    db(&g).execute("DELETE FROM outings", []).unwrap();
    assert_eq!(run(&g.dir, &["events", "verify"]).status.code(), Some(3));
    let mut d = Daemon::start(&g.dir);
    let guard = g.token("guard");
    let r: serde_json::Value =
        scan(&client(), &d, &guard, serde_json::json!({"payload": li, "temperature_c": 36.5, "direction": "out"}))
            .json()
            .unwrap();
    assert_eq!(r["reasons"], serde_json::json!(["household_quota"]));
    d.kill();
    ok(&g.dir, &["events", "verify"]);
}

#[test]
fn rebuild_refuses_a_broken_chain() {
    let g = GateDir::new();
    scan_json(&g, &g.pass("张三").clone_payload(), &["--temp", "36.5", "--direction", "out"]);
    db(&g).execute("UPDATE events SET body = replace(body, '\"allow\"', '\"deny\"') WHERE seq = 1", []).unwrap();
    let out = run(&g.dir, &["events", "rebuild"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("does not verify"), "{}", stderr(&out));
}

#[test]
fn a_district_pull_lets_retention_purge_and_the_state_survives_it() {
    let g = GateDir::with_config(|t| *t = t.replace("[retention]\ndays = 0", "[retention]\ndays = 1"));
    let old = (chrono::Utc::now() - chrono::Duration::days(5)).to_rfc3339();
    let from = (chrono::Utc::now() - chrono::Duration::days(10)).date_naive().to_string();
    let cards = g.tmp.path().join("old-cards");
    ok(&g.dir, &["pass", "issue", "--household", "1-101", "--valid-from", &from, "--out", cards.to_str().unwrap()]);
    let zhang = read_passes(&cards.join("passes.csv")).into_iter().find(|p| p.name == "张三").unwrap().payload;
    // 张三 went out five days ago and is still out
    let v = scan_json(&g, &zhang, &["--temp", "36.5", "--direction", "out", "--at", &old]);
    assert_eq!(v["decision"], "allow", "{v}");
    for i in 0..2 {
        scan_json(&g, &format!("junk {i}"), &["--temp", "36.5", "--at", &old]);
    }
    assert_eq!(json(&g.dir, &["events", "purge"])["purged"], 0, "nothing collected yet");
    let district = g.token("district");
    let d = Daemon::start(&g.dir);
    let c = client();
    let page: serde_json::Value =
        c.get(d.url("/api/v1/events?after=0")).bearer_auth(&district).send().unwrap().json().unwrap();
    assert_eq!(page["events"].as_array().unwrap().len(), 3);
    // the next ask says the district stored 1..3
    let page: serde_json::Value =
        c.get(d.url("/api/v1/events?after=3")).bearer_auth(&district).send().unwrap().json().unwrap();
    assert_eq!(page["events"].as_array().unwrap().len(), 0);
    // a committee reader does not acknowledge anything (and nothing beyond the head counts)
    let committee = g.token("committee");
    c.get(d.url("/api/v1/events?after=99")).bearer_auth(&committee).send().unwrap();
    drop(d);
    let p = json(&g.dir, &["events", "purge"]);
    assert_eq!(p["purged"], 3);
    assert_eq!(p["through_seq"], 3);
    // the purged events' state is carried, signed: verify and rebuild keep 张三 out
    ok(&g.dir, &["events", "verify"]);
    ok(&g.dir, &["events", "rebuild"]);
    let out: serde_json::Value = json(&g.dir, &["scan", "--payload", &zhang, "--temp", "36.5"]);
    assert_eq!(out["direction"], "in", "still out after the purge: the inferred direction is in");
    ok(&g.dir, &["events", "verify"]);
    // a forged carried state is a difference
    db(&g)
        .execute("UPDATE meta SET value = replace(value, '\"out\"', '\"in\"') WHERE key = 'checkpoint_state'", [])
        .unwrap();
    assert_eq!(run(&g.dir, &["events", "verify"]).status.code(), Some(3));
}

#[test]
fn names_with_hidden_characters_are_refused_for_users_and_tokens() {
    let g = GateDir::new();
    for name in ["adm\u{202E}nimda", "guard\u{200B}1", "a\u{2066}b", "x\u{FEFF}y"] {
        let out = run(&g.dir, &["token", "create", "--role", "guard", "--name", name]);
        assert!(!out.status.success(), "token name {name:?} accepted");
        assert!(stderr(&out).contains("U+"), "{}", stderr(&out));
        let mut child = bin()
            .arg("--data-dir")
            .arg(&g.dir)
            .args(["user", "add", "--name", name, "--role", "guard"])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write;
        // the name may be refused before the password is read: a closed pipe is fine
        let _ = child.stdin.take().unwrap().write_all(b"secret1\n");
        let out = child.wait_with_output().unwrap();
        assert!(!out.status.success(), "user name {name:?} accepted");
        assert!(stderr(&out).contains("U+"));
    }
    // the register refuses the row, with its line
    let csv = g.tmp.path().join("bidi.csv");
    std::fs::write(&csv, "户号,姓名\n9-901,正常人\n9-902,张\u{202E}三\n").unwrap();
    let v = json(&g.dir, &["household", "import", csv.to_str().unwrap()]);
    let rejected = v["rejections"].to_string();
    assert!(rejected.contains("\"line\":3") && rejected.contains("U+202E"), "{v}");
}

#[test]
fn an_unreadable_policy_is_a_named_error_on_the_pages_and_saving_the_rules_repairs_it() {
    let g = GateDir::new();
    let committee = g.token("committee");
    let guard = g.token("guard");
    db(&g).execute("INSERT INTO policy_override (id, doc) VALUES (1, '{not json')", []).unwrap();
    let d = Daemon::start(&g.dir);
    let c = client();
    // before: a bare 500 "internal"; now a code the committee page turns into words
    for path in ["/api/v1/policy", "/api/v1/out"] {
        let r = c.get(d.url(path)).bearer_auth(&committee).send().unwrap();
        assert_eq!(r.status().as_u16(), 503, "{path}");
        let v: serde_json::Value = r.json().unwrap();
        assert_eq!(v["error"], "policy_unreadable", "{path}: {v}");
        assert!(v["message"].as_str().unwrap().contains("saved again"), "{v}");
    }
    // scans stay refused meanwhile
    let wang = g.pass("王五").clone_payload();
    let r: serde_json::Value =
        scan(&c, &d, &guard, serde_json::json!({"payload": wang, "temperature_c": 36.5})).json().unwrap();
    assert_eq!(r["reasons"], serde_json::json!(["record_unreadable"]));
    // the page has words for the code, Chinese first
    let js = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/static/common.js")).unwrap();
    assert!(js.contains("'policy_unreadable'"), "common.js maps the code");
    let i18n = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/static/i18n.js")).unwrap();
    assert_eq!(i18n.matches("'common.policy_unreadable'").count(), 2, "both languages");
    // saving the rules again repairs it
    let r = c
        .put(d.url("/api/v1/policy"))
        .bearer_auth(&committee)
        .json(&serde_json::json!({"max_outing_minutes": 120}))
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let v: serde_json::Value = c.get(d.url("/api/v1/policy")).bearer_auth(&committee).send().unwrap().json().unwrap();
    assert_eq!(v["max_outing_minutes"], 120, "{v}");
}
