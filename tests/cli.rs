//! The command line as a committee member and a script use it: the real
//! binary on a temporary data directory.

mod common;
use common::*;

fn scan_json(g: &GateDir, payload: &str, extra: &[&str]) -> serde_json::Value {
    let mut args = vec!["scan", "--payload", payload];
    args.extend_from_slice(extra);
    json(&g.dir, &args)
}

fn reasons(v: &serde_json::Value) -> Vec<String> {
    v["reasons"].as_array().unwrap().iter().map(|r| r.as_str().unwrap().to_string()).collect()
}

#[test]
fn import_reports_counts_and_rejections_and_reimport_changes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("g");
    ok(&dir, &["init", "--community", "c", "--gate", "g"]);
    let csv = tmp.path().join("r.csv");
    std::fs::write(&csv, "\u{feff}household,address,grid,name,phone,category\n1,a,A,Ann,,normal\n2,a,A,,,normal\n3,a,A,Bob,,zombie\n4,a,A,Cy,,essential\n").unwrap();
    let v = json(&dir, &["household", "import", csv.to_str().unwrap()]);
    assert_eq!(v["added"], 2);
    assert_eq!(v["rejected"], 2);
    let lines: Vec<u64> = v["rejections"].as_array().unwrap().iter().map(|r| r["line"].as_u64().unwrap()).collect();
    assert_eq!(lines, vec![3, 4]);
    assert!(v["rejections"][1]["reason"].as_str().unwrap().contains("zombie"));
    let text = ok(&dir, &["household", "import", csv.to_str().unwrap()]);
    assert!(text.contains("added 0, updated 0, unchanged 2, rejected 2"), "{text}");
    assert!(text.contains("line 3") && text.contains("line 4"));
    let list = json(&dir, &["household", "list"]);
    assert_eq!(list.as_array().unwrap().len(), 2);
}

#[test]
fn passes_print_and_decode_back() {
    let g = GateDir::new();
    let cards = g.tmp.path().join("cards");
    assert_eq!(g.passes.len(), 6);
    for p in &g.passes {
        assert!(p.payload.starts_with("GP1:"));
        assert!(!p.payload.contains(&p.name), "no names in the QR");
        let img = image::open(cards.join(format!("{}.png", p.pass_id))).unwrap().to_luma8();
        let mut prepared = rqrr::PreparedImage::prepare(img);
        let grids = prepared.detect_grids();
        assert_eq!(grids.len(), 1);
        assert_eq!(grids[0].decode().unwrap().1, p.payload);
    }
    let html = std::fs::read_to_string(cards.join("index.html")).unwrap();
    assert!(html.contains("张三") && html.contains("出入证"));
    assert!(html.contains("&lt;script&gt;") && !html.contains("<script>alert"));
}

#[test]
fn the_rules_through_the_cli() {
    let g = GateDir::new();
    let zhang = g.pass("张三").payload.clone();
    let li = g.pass("李四").payload.clone();
    let wang = g.pass("王五").payload.clone();
    let zhao = g.pass("赵六").payload.clone();

    let v = scan_json(&g, &zhang, &["--temp", "36.5"]);
    assert_eq!((v["decision"].as_str(), v["direction"].as_str()), (Some("allow"), Some("out")));
    assert_eq!(v["resident"]["name"], "张三");
    assert_eq!(v["temperature_source"], "manual");
    assert_eq!(v["event_seq"], 1);

    let v = scan_json(&g, &li, &["--temp", "36.5"]);
    assert_eq!(v["decision"], "deny");
    assert_eq!(reasons(&v), vec!["household_member_out", "household_quota"]);

    let v = scan_json(&g, &wang, &["--temp", "36.5"]);
    assert_eq!(reasons(&v), vec!["quarantined"]);

    let v = scan_json(&g, &zhao, &[]);
    assert_eq!(reasons(&v), vec!["no_temperature"]);
    let v = scan_json(&g, &zhao, &["--temp", "36.6"]);
    assert_eq!(v["decision"], "allow", "essential worker");

    // back with a fever: held for the medical team
    let v = scan_json(&g, &zhang, &["--temp", "38.2"]);
    assert_eq!((v["decision"].as_str(), v["direction"].as_str()), (Some("refer"), Some("in")));
    assert_eq!(reasons(&v), vec!["fever"]);

    // out again the same day: the household used its turn
    let v = scan_json(&g, &zhang, &["--temp", "36.5", "--direction", "out"]);
    assert_eq!(reasons(&v), vec!["household_quota"]);

    // in without an exit
    let v = scan_json(&g, &li, &["--temp", "36.5", "--direction", "in"]);
    assert_eq!(v["decision"], "allow");
    assert_eq!(v["warnings"][0], "no_exit_recorded");

    // a garbled code is a recorded deny, exit 0
    let v = scan_json(&g, "GP1:NOT A PASS", &["--temp", "36.5"]);
    assert_eq!((v["decision"].as_str(), v["resident"].is_null()), (Some("deny"), true));
    assert_eq!(reasons(&v), vec!["invalid_pass"]);

    // typed pass number
    let v = scan_json(&g, &g.pass("钱七").pass_id, &["--temp", "36.5", "--direction", "in"]);
    assert!(v["warnings"].as_array().unwrap().iter().any(|w| w == "typed_pass_number"));

    // backfill from the paper register, at its real time
    let v = scan_json(
        &g,
        &g.pass("钱七").payload,
        &["--temp", "36.5", "--direction", "out", "--at", "2026-11-20T09:00:00+08:00"],
    );
    assert_eq!(v["backfilled"], true);
    assert!(v["at"].as_str().unwrap().starts_with("2026-11-20T09:00:00"));
}

#[test]
fn bad_input_is_a_clear_error_and_records_nothing() {
    let g = GateDir::new();
    let p = g.pass("张三").payload.clone();
    for (args, needle) in [
        (vec!["scan", "--payload", &p, "--at", "yesterday"], "RFC 3339"),
        (vec!["scan", "--payload", &p, "--temp", "3.65"], "not a body temperature"),
        (vec!["scan", "--payload", &p, "--direction", "sideways"], "direction"),
        (vec!["resident", "set-category", "--household", "1-101", "--name", "张三", "zombie"], "unknown category"),
        (vec!["resident", "set-category", "--household", "1-101", "--name", "nobody", "normal"], "no resident"),
        (vec!["pass", "revoke", "12345", "--reason", "lost"], "no pass"),
        (vec!["household", "import", "/nonexistent.csv"], "cannot read"),
    ] {
        let out = run(&g.dir, &args);
        assert!(!out.status.success(), "{args:?} should fail");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(needle), "{args:?}: {err}");
        assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
    }
    let v = json(&g.dir, &["events", "verify"]);
    assert_eq!(v["report"]["events"], 0, "nothing was recorded");
    let out = run(&g.tmp.path().join("nowhere"), &["household", "list"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("gatepass init"));
}

#[test]
fn revocation_validity_keys_and_categories() {
    let g = GateDir::new();
    let zhang = g.pass("张三");
    ok(&g.dir, &["pass", "revoke", &zhang.pass_id, "--reason", "lost"]);
    let v = scan_json(&g, &zhang.payload, &["--temp", "36.5"]);
    assert_eq!(reasons(&v), vec!["revoked"]);

    // passes for the future and the past
    let out = g.tmp.path().join("later");
    ok(
        &g.dir,
        &["pass", "issue", "--household", "1-101", "--valid-from", "2099-01-01", "--out", out.to_str().unwrap()],
    );
    let later = read_passes(&out.join("passes.csv"));
    let li = later.iter().find(|p| p.name == "李四").unwrap();
    assert_eq!(reasons(&scan_json(&g, &li.payload, &["--temp", "36.5"])), vec!["not_yet_valid"]);
    let out = g.tmp.path().join("old");
    ok(
        &g.dir,
        &[
            "pass",
            "issue",
            "--household",
            "1-101",
            "--valid-from",
            "2026-01-01",
            "--valid-days",
            "3",
            "--out",
            out.to_str().unwrap(),
        ],
    );
    let old = read_passes(&out.join("passes.csv"));
    let li = old.iter().find(|p| p.name == "李四").unwrap();
    assert_eq!(reasons(&scan_json(&g, &li.payload, &["--temp", "36.5"])), vec!["expired"]);
    // the new card replaced the earlier one: one card per person
    let first = g.pass("李四");
    assert_eq!(reasons(&scan_json(&g, &first.payload, &["--temp", "36.5"])), vec!["revoked"]);

    // a rotated key keeps old passes valid until the old key is retired
    let qian = g.pass("钱七").payload.clone();
    let k = json(&g.dir, &["key", "rotate"]);
    assert_eq!(k["key_id"], 2);
    assert_eq!(scan_json(&g, &qian, &["--temp", "36.5"])["decision"], "allow");
    ok(&g.dir, &["key", "retire", "1"]);
    assert_eq!(reasons(&scan_json(&g, &qian, &["--temp", "36.5", "--direction", "in"])), vec!["invalid_pass"]);
    let out = run(&g.dir, &["key", "retire", "2"]);
    assert!(!out.status.success(), "the only active key cannot be retired");

    // categories, with an end date
    let out = g.tmp.path().join("new");
    ok(&g.dir, &["pass", "issue", "--household", "2-201", "--out", out.to_str().unwrap()]);
    let fresh = read_passes(&out.join("passes.csv"));
    let zhao = fresh.iter().find(|p| p.name == "赵六").unwrap();
    let qian = fresh.iter().find(|p| p.name == "钱七").unwrap();
    assert_eq!(scan_json(&g, &qian.payload, &["--temp", "36.5"])["direction"], "in", "钱七 comes home");
    ok(&g.dir, &["resident", "set-category", "--household", "2-201", "--name", "赵六", "居家隔离"]);
    assert_eq!(reasons(&scan_json(&g, &zhao.payload, &["--temp", "36.5"])), vec!["quarantined", "household_quota"]);
    ok(
        &g.dir,
        &[
            "resident",
            "set-category",
            "--household",
            "2-201",
            "--name",
            "赵六",
            "home_quarantine",
            "--until",
            "2026-01-01",
        ],
    );
    // the dated category ended: 赵六 is a normal resident again, and the
    // household already used its outing today
    assert_eq!(reasons(&scan_json(&g, &zhao.payload, &["--temp", "36.5"])), vec!["household_quota"]);

    let audit = json(&g.dir, &["audit"]);
    let actions: Vec<&str> = audit.as_array().unwrap().iter().map(|a| a["action"].as_str().unwrap()).collect();
    for a in ["register.import", "pass.issue", "pass.revoke", "key.rotate", "key.retire", "resident.category"] {
        assert!(actions.contains(&a), "{a} not audited: {actions:?}");
    }
}

#[test]
fn export_verify_and_tamper() {
    let g = GateDir::new();
    for name in ["张三", "王五", "赵六", "钱七"] {
        ok(&g.dir, &["scan", "--payload", &g.pass(name).payload, "--temp", "36.6"]);
    }
    ok(&g.dir, &["scan", "--payload", "garbage", "--temp", "36.6"]);
    let export = ok(&g.dir, &["events", "export"]);
    let lines: Vec<&str> = export.lines().collect();
    assert_eq!(lines.len(), 5);
    for l in &lines {
        let v: serde_json::Value = serde_json::from_str(l).unwrap();
        for f in ["seq", "prev_hash", "hash", "sig", "decision", "at"] {
            assert!(v.get(f).is_some(), "{f} missing");
        }
        assert!(!l.contains("张三"), "names stay at the gate unless share_names");
    }
    let file = g.tmp.path().join("e.ndjson");
    std::fs::write(&file, &export).unwrap();
    let v = json(&g.dir, &["events", "verify", file.to_str().unwrap()]);
    assert_eq!(v["intact"], true);
    ok(&g.dir, &["events", "verify"]);
    // verifying a file needs no data directory
    let out = bin().args(["events", "verify", file.to_str().unwrap()]).output().unwrap();
    assert!(out.status.success());

    let tampered = |edit: &dyn Fn(&mut Vec<String>)| {
        let mut ls: Vec<String> = lines.iter().map(|s| s.to_string()).collect();
        edit(&mut ls);
        std::fs::write(&file, ls.join("\n") + "\n").unwrap();
        let out = run(&g.dir, &["events", "verify", file.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(3), "{}", String::from_utf8_lossy(&out.stdout));
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let e = tampered(&|ls| ls[1] = ls[1].replace("\"deny\"", "\"allow\""));
    assert!(e.contains("line 2") && e.contains("edited"), "{e}");
    let e = tampered(&|ls| {
        ls.remove(2);
    });
    assert!(e.contains("line 3"), "{e}");
    let e = tampered(&|ls| ls.swap(1, 3));
    assert!(e.contains("line 2"), "{e}");
    let e = tampered(&|ls| ls[0] = ls[0].replace("36.6", "36.1"));
    assert!(e.contains("line 1"), "{e}");
    let e = tampered(&|ls| ls.push("{\"not\": \"an event\"}".into()));
    assert!(e.contains("line 6"), "{e}");

    // the database itself, edited behind the gate's back
    {
        let conn = rusqlite::Connection::open(g.dir.join("gatepass.db")).unwrap();
        conn.execute("UPDATE events SET body = replace(body, '\"quarantined\"', '\"fever\"') WHERE seq = 2", [])
            .unwrap();
    }
    let out = run(&g.dir, &["events", "verify"]);
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stderr).contains("event 2"));
}

#[test]
fn config_check_names_every_wrong_key() {
    let g = GateDir::new();
    ok(&g.dir, &["config", "check"]);
    let bad = g.tmp.path().join("bad.toml");
    std::fs::write(&bad, "[gate]\nlisten = \"0.0.0.0:8080\"\nlisen = 1\n[thermometer]\nkind = \"serial\"\nbaud = 9600\nspeed = 3\n[policy]\nfevr_c = 37\n").unwrap();
    let out = run(&g.dir, &["config", "check", bad.to_str().unwrap()]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    for k in ["gate.lisen", "thermometer.speed", "policy.fevr_c"] {
        assert!(err.contains(k), "{k} not named: {err}");
    }
    std::fs::write(&bad, "[thermometer]\nkind = \"serial\"\n").unwrap();
    let out = run(&g.dir, &["config", "check", bad.to_str().unwrap()]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("thermometer.path"));
}

#[test]
fn tokens_are_printed_once_and_stored_hashed() {
    let g = GateDir::new();
    let t = g.token("guard");
    assert!(t.starts_with("gpt_"));
    let db = std::fs::read(g.dir.join("gatepass.db")).unwrap();
    let wal = std::fs::read(g.dir.join("gatepass.db-wal")).unwrap_or_default();
    let needle = t.as_bytes();
    assert!(!db.windows(needle.len()).any(|w| w == needle) && !wal.windows(needle.len()).any(|w| w == needle));
    let list = ok(&g.dir, &["token", "list"]);
    assert!(!list.contains(&t));
    let out = run(&g.dir, &["token", "create", "--role", "king"]);
    assert!(!out.status.success());
}

#[test]
fn retention_purges_only_old_exported_events_and_the_log_still_verifies() {
    let g = GateDir::with_config(|t| *t = t.replace("[retention]\ndays = 0", "[retention]\ndays = 2"));
    let p = g.pass("钱七").payload.clone();
    let old = (chrono::Utc::now() - chrono::Duration::days(5)).to_rfc3339();
    for _ in 0..3 {
        ok(&g.dir, &["scan", "--payload", &p, "--temp", "36.5", "--at", &old]);
    }
    ok(&g.dir, &["scan", "--payload", "recent 1", "--temp", "36.5"]);
    // not exported or collected yet: nothing goes
    let v = json(&g.dir, &["events", "purge"]);
    assert_eq!(v["purged"], 0);
    let file = g.tmp.path().join("backup.ndjson");
    ok(&g.dir, &["events", "export", "--out", file.to_str().unwrap()]);
    ok(&g.dir, &["scan", "--payload", "recent 2", "--temp", "36.5"]);
    let v = json(&g.dir, &["events", "purge"]);
    assert_eq!((v["purged"].as_u64(), v["through_seq"].as_u64()), (Some(3), Some(3)));
    let v = json(&g.dir, &["events", "verify"]);
    assert_eq!(v["intact"], true);
    assert_eq!(v["report"]["first_seq"], 4);
    // the export before the purge still verifies whole, the one after from the checkpoint on
    ok(&g.dir, &["events", "verify", file.to_str().unwrap()]);
    let after = ok(&g.dir, &["events", "export"]);
    assert_eq!(after.lines().count(), 2);
    let f2 = g.tmp.path().join("after.ndjson");
    std::fs::write(&f2, after).unwrap();
    ok(&g.dir, &["events", "verify", f2.to_str().unwrap()]);
    // new scans continue the chain
    assert_eq!(json(&g.dir, &["scan", "--payload", "recent 3", "--temp", "36.5"])["event_seq"], 6);
    ok(&g.dir, &["events", "verify"]);
    let audit = json(&g.dir, &["audit"]);
    assert!(audit.as_array().unwrap().iter().any(|a| a["action"] == "events.purge"));
}

#[test]
fn retention_never_purges_a_broken_log() {
    let g = GateDir::with_config(|t| *t = t.replace("[retention]\ndays = 0", "[retention]\ndays = 1"));
    let old = (chrono::Utc::now() - chrono::Duration::days(5)).to_rfc3339();
    for i in 0..3 {
        ok(&g.dir, &["scan", "--payload", &format!("x{i}"), "--temp", "36.5", "--at", &old]);
    }
    let file = g.tmp.path().join("b.ndjson");
    ok(&g.dir, &["events", "export", "--out", file.to_str().unwrap()]);
    {
        let conn = rusqlite::Connection::open(g.dir.join("gatepass.db")).unwrap();
        conn.execute("UPDATE events SET body = replace(body, '\"deny\"', '\"allow\"') WHERE seq = 2", []).unwrap();
    }
    let out = run(&g.dir, &["events", "purge"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("broken"));
    assert_eq!(run(&g.dir, &["events", "verify"]).status.code(), Some(3));
}

#[test]
fn review_findings_stay_fixed() {
    let g = GateDir::new();
    // a rotated key: reissued cards do not revoke the earlier key's cards
    let old = g.pass("张三").payload.clone();
    ok(&g.dir, &["key", "rotate"]);
    let out = g.tmp.path().join("k2");
    ok(&g.dir, &["pass", "issue", "--all", "--out", out.to_str().unwrap()]);
    assert_eq!(scan_json(&g, &old, &["--temp", "36.5", "--direction", "in"])["decision"], "allow");
    ok(&g.dir, &["key", "retire", "1"]);
    assert_eq!(reasons(&scan_json(&g, &old, &["--temp", "36.5", "--direction", "in"])), vec!["invalid_pass"]);

    // a refused real card still says whose it is, and which way
    let new = read_passes(&out.join("passes.csv"));
    let li = new.iter().find(|p| p.name == "李四").unwrap();
    ok(&g.dir, &["pass", "revoke", &li.pass_id, "--reason", "lost"]);
    ok(&g.dir, &["pass", "revoke", &li.pass_id, "--reason", "lost"]); // twice is fine
    let v = scan_json(&g, &li.payload, &["--temp", "36.5"]);
    assert_eq!(reasons(&v), vec!["revoked"]);
    assert_eq!((v["resident"]["name"].as_str(), v["direction"].as_str()), (Some("李四"), Some("out")));

    // a file without phone/address columns leaves them; re-importing an old
    // file does not undo the committee's category change
    let csv = g.tmp.path().join("names.csv");
    std::fs::write(&csv, "household,name\n1-101,张三\n").unwrap();
    let v = json(&g.dir, &["household", "import", csv.to_str().unwrap()]);
    assert_eq!((v["updated"].as_u64(), v["unchanged"].as_u64()), (Some(0), Some(1)));
    let list = json(&g.dir, &["household", "list"]);
    let zhang = &list[0]["residents"].as_array().unwrap().iter().find(|r| r["name"] == "张三").unwrap().clone();
    assert_eq!(zhang["address"], "1号楼101");
    assert_eq!(zhang["phone"], "13800000001");
    ok(&g.dir, &["resident", "set-category", "--household", "1-101", "--name", "张三", "close_contact"]);
    let full = g.tmp.path().join("register.csv");
    let v = json(&g.dir, &["household", "import", full.to_str().unwrap()]);
    assert_eq!(v["updated"], 0);
    let list = json(&g.dir, &["household", "list"]);
    let zhang = list[0]["residents"].as_array().unwrap().iter().find(|r| r["name"] == "张三").unwrap().clone();
    assert_eq!(zhang["category"], "close_contact");
    // an ended dated category lists as normal
    ok(
        &g.dir,
        &[
            "resident",
            "set-category",
            "--household",
            "1-101",
            "--name",
            "张三",
            "close_contact",
            "--until",
            "2026-01-01",
        ],
    );
    let list = json(&g.dir, &["household", "list"]);
    let zhang = list[0]["residents"].as_array().unwrap().iter().find(|r| r["name"] == "张三").unwrap().clone();
    assert_eq!(zhang["category"], "normal");

    // an export with its first line dropped does not verify next to its gate
    let export = ok(&g.dir, &["events", "export"]);
    let cut: String = export.lines().skip(1).map(|l| format!("{l}\n")).collect();
    let f = g.tmp.path().join("cut.ndjson");
    std::fs::write(&f, cut).unwrap();
    assert_eq!(run(&g.dir, &["events", "verify", f.to_str().unwrap()]).status.code(), Some(3));
    // ...nor alone, unless asked to check it as a part
    let alone = bin().args(["events", "verify", f.to_str().unwrap()]).output().unwrap();
    assert_eq!(alone.status.code(), Some(3));
    let partial = bin().args(["events", "verify", "--partial", f.to_str().unwrap()]).output().unwrap();
    assert!(partial.status.success());
    // an --after export is a part: it verifies as one, linked to the log
    let after = ok(&g.dir, &["events", "export", "--after", "2"]);
    std::fs::write(&f, &after).unwrap();
    ok(&g.dir, &["events", "verify", "--partial", f.to_str().unwrap()]);
    let mut broken: Vec<String> = after.lines().map(String::from).collect();
    broken[0] = broken[0].replace("\"prev_hash\":\"", "\"prev_hash\":\"f");
    std::fs::write(&f, broken.join("\n")).unwrap();
    assert_eq!(run(&g.dir, &["events", "verify", "--partial", f.to_str().unwrap()]).status.code(), Some(3));
}
