//! Everyone at the gate (issue 11), through the real daemon and the real
//! binary: outsiders turned back, emergency vehicles, deliveries and the
//! parcels list, visitor approvals and their uses and windows, urgent
//! outings, forgotten cards, the handover, bad input recorded nowhere, the
//! chain verifying over every kind, and the district counting them.

mod common;
use common::*;
use reqwest::blocking::Client;
use serde_json::{json, Value};

fn post(c: &Client, d: &Daemon, token: &str, path: &str, body: Value) -> (u16, Value) {
    let r = c.post(d.url(path)).bearer_auth(token).json(&body).send().unwrap();
    let status = r.status().as_u16();
    (status, r.json().unwrap_or(Value::Null))
}

fn get(c: &Client, d: &Daemon, token: &str, path: &str) -> (u16, Value) {
    let r = c.get(d.url(path)).bearer_auth(token).send().unwrap();
    let status = r.status().as_u16();
    (status, r.json().unwrap_or(Value::Null))
}

fn events(c: &Client, d: &Daemon) -> u64 {
    let h: Value = c.get(d.url("/api/v1/health")).send().unwrap().json().unwrap();
    h["database"]["events"].as_u64().unwrap()
}

fn named_token(g: &GateDir, role: &str, name: &str) -> String {
    ok(&g.dir, &["token", "create", "--role", role, "--name", name]).trim().to_string()
}

/// Local time `minutes` from now, as the committee types it.
fn local_in(minutes: i64) -> String {
    let t = chrono::Utc::now() + chrono::Duration::minutes(minutes);
    t.with_timezone(&chrono_tz::Asia::Shanghai).format("%Y-%m-%dT%H:%M").to_string()
}

#[test]
fn outsiders_vehicles_and_deliveries() {
    let g = GateDir::new();
    let guard = named_token(&g, "guard", "guard-li");
    let d = Daemon::start(&g.dir);
    let c = client();

    // an outsider without an approval is turned back, and recorded
    let (s, v) = post(
        &c,
        &d,
        &guard,
        "/api/v1/visits",
        json!({"kind": "visitor", "name": "访客甲", "phone": "13912345678", "from": "城关镇", "reason": "探亲", "host": "1-101", "temperature_c": 36.5}),
    );
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["decision"], "deny");
    assert_eq!(v["reasons"], json!(["not_approved"]));
    assert_eq!(v["kind"], "visitor");
    assert_eq!(v["operator"], "guard-li");
    assert_eq!(v["host"], "1-101");
    assert_eq!(v["direction"], "in");

    // a supply truck without an approval: turned back too
    let (_, v) =
        post(&c, &d, &guard, "/api/v1/visits", json!({"kind": "vehicle", "plate": "京A12345", "purpose": "supply"}));
    assert_eq!((v["decision"].as_str(), v["reasons"].clone()), (Some("deny"), json!(["not_approved"])));
    assert_eq!(v["plate"], "京A12345");

    // an ambulance is let in and recorded (a new-energy plate, typed loosely)
    let (_, v) = post(
        &c,
        &d,
        &guard,
        "/api/v1/visits",
        json!({"kind": "vehicle", "plate": "粤b·d12345", "purpose": "emergency"}),
    );
    assert_eq!((v["decision"].as_str(), v["direction"].as_str()), (Some("allow"), Some("in")), "{v}");
    assert_eq!(v["plate"], "粤BD12345");
    assert_eq!(v["kind"], "vehicle");

    // a delivery: a hand-off, no crossing; it waits in the parcels list
    let (_, v) = post(
        &c,
        &d,
        &guard,
        "/api/v1/visits",
        json!({"kind": "delivery", "name": "快递员", "phone": "13700000000", "from": "顺丰", "host": "2-201"}),
    );
    assert_eq!((v["decision"].as_str(), v["direction"].clone()), (Some("allow"), Value::Null), "{v}");
    let parcel = v["parcel_id"].as_u64().unwrap();
    assert_eq!(parcel, v["event_seq"].as_u64().unwrap());
    let (_, list) = get(&c, &d, &guard, "/api/v1/parcels");
    assert_eq!(list["count"], 1);
    assert_eq!(list["parcels"][0]["host"], "2-201");
    assert_eq!(list["parcels"][0]["company"], "顺丰");
    assert_eq!(list["parcels"][0]["phone_masked"], "137****0000");
    let (s, p) = post(&c, &d, &guard, &format!("/api/v1/parcels/{parcel}/collect"), json!({"by": "赵六"}));
    assert_eq!(s, 200, "{p}");
    assert_eq!(p["collected_by"], "赵六");
    let (s, e) = post(&c, &d, &guard, &format!("/api/v1/parcels/{parcel}/collect"), json!({"by": "赵六"}));
    assert_eq!((s, e["error"].as_str()), (409, Some("already_collected")));
    let (s, e) = post(&c, &d, &guard, "/api/v1/parcels/999999/collect", json!({"by": "赵六"}));
    assert_eq!((s, e["error"].as_str()), (404, Some("unknown_parcel")));
    assert_eq!(get(&c, &d, &guard, "/api/v1/parcels").1["count"], 0);
    assert_eq!(get(&c, &d, &guard, "/api/v1/parcels?status=all").1["count"], 1);

    // bad input: a clear code, nothing recorded
    let before = events(&c, &d);
    for (body, status, code) in [
        (json!({"kind": "vehicle", "plate": "京A1234"}), 400, "bad_plate"),
        (json!({"kind": "vehicle", "plate": "AB12345"}), 400, "bad_plate"),
        (json!({"kind": "vehicle"}), 400, "plate_required"),
        (json!({"kind": "visitor", "phone": "12345"}), 400, "bad_phone"),
        (json!({"kind": "alien"}), 400, "bad_kind"),
        (json!({"kind": "vehicle", "plate": "京A12345", "purpose": "party"}), 400, "bad_purpose"),
        (json!({"kind": "delivery"}), 400, "host_required"),
        (json!({"kind": "visitor", "host": "9-999"}), 404, "unknown_household"),
        (json!({"kind": "visitor", "temperature_c": 365}), 400, "bad_temperature"),
        (json!({"kind": "visitor", "direction": "sideways"}), 400, "bad_direction"),
    ] {
        let (s, e) = post(&c, &d, &guard, "/api/v1/visits", body.clone());
        assert_eq!((s, e["error"].as_str()), (status, Some(code)), "{body} → {e}");
        assert!(!e["message"].as_str().unwrap_or("").is_empty());
    }
    assert_eq!(events(&c, &d), before, "a refused request recorded something");

    // the district role may not record visits
    let district = g.token("district");
    assert_eq!(post(&c, &d, &district, "/api/v1/visits", json!({"kind": "visitor"})).0, 403);

    // the export carries the kinds and the operator, never the outsider's details
    let export = ok(&g.dir, &["events", "export"]);
    assert!(export.contains("\"kind\":\"visitor\"") && export.contains("\"operator\":\"guard-li\""), "{export}");
    assert!(export.contains("\"detail_digest\""));
    for secret in ["访客甲", "13912345678", "城关镇", "京A12345", "快递员", "13700000000"] {
        assert!(!export.contains(secret), "{secret} left the gate in the export");
    }
    ok(&g.dir, &["events", "verify"]);

    // the district pulls every kind over the network and counts them
    let district_dir = g.tmp.path().join("district");
    ok(&district_dir, &["district", "init"]);
    ok(&district_dir, &["district", "add-gate", "--url", &d.base, "--token", &district]);
    let p = json(&district_dir, &["district", "pull", "--once"]);
    assert_eq!(p["gates"][0]["added"], 4, "{p}");
    let today = chrono::Utc::now().with_timezone(&chrono_tz::Asia::Shanghai).format("%Y-%m-%d").to_string();
    let r = json(&district_dir, &["district", "report", "daily", "--date", &today]);
    let t = &r["total"];
    assert_eq!(
        (t["visitors"].as_u64(), t["vehicles"].as_u64(), t["deliveries"].as_u64(), t["turned_back"].as_u64()),
        (Some(1), Some(2), Some(1), Some(2)),
        "{r}"
    );

    // the details kept at the gate are tamper-evident: edited, verify says so
    let db = rusqlite::Connection::open(g.dir.join("gatepass.db")).unwrap();
    db.execute("UPDATE visits SET details = replace(details, '访客甲', '访客丙') WHERE kind = 'visitor'", []).unwrap();
    drop(db);
    let out = run(&g.dir, &["events", "verify"]);
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stderr).contains("visit 1"), "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn visitor_passes_uses_windows_and_communities() {
    let g = GateDir::new();
    let committee = named_token(&g, "committee", "主任");
    let guard = named_token(&g, "guard", "guard-wang");
    let d = Daemon::start(&g.dir);
    let c = client();

    let (s, p) = post(
        &c,
        &d,
        &committee,
        "/api/v1/visitor-passes",
        json!({"name": "送药人", "phone": "13812345678", "host": "1-101", "plate": "京B54321",
               "from": local_in(-60), "until": local_in(60), "uses": 1}),
    );
    assert_eq!(s, 200, "{p}");
    let payload = p["payload"].as_str().unwrap().to_string();
    assert!(payload.starts_with("GP1:"));
    assert_eq!(p["uses_left"], 1);
    // no personal data in the QR
    assert!(!payload.contains("送药人"));
    assert_eq!(c.get(d.url(p["qr"].as_str().unwrap())).bearer_auth(&committee).send().unwrap().status(), 200);

    // in (a use spent), out, and in again: used up
    let v: Value = scan(&c, &d, &guard, json!({"payload": payload, "temperature_c": 36.4})).json().unwrap();
    assert_eq!((v["decision"].as_str(), v["direction"].as_str()), (Some("allow"), Some("in")), "{v}");
    assert_eq!(v["kind"], "visitor");
    assert_eq!(v["visitor"]["name"], "送药人");
    assert_eq!(v["visitor"]["uses_left"], 0);
    assert_eq!(v["operator"], "guard-wang");
    let (_, h) = get(&c, &d, &guard, "/api/v1/handover");
    assert_eq!(h["visitors_inside"][0]["name"], "送药人", "{h}");
    let v: Value = scan(&c, &d, &guard, json!({"payload": payload, "temperature_c": 36.4})).json().unwrap();
    assert_eq!((v["decision"].as_str(), v["direction"].as_str()), (Some("allow"), Some("out")), "{v}");
    let v: Value = scan(&c, &d, &guard, json!({"payload": payload, "temperature_c": 36.4})).json().unwrap();
    assert_eq!((v["decision"].as_str(), v["reasons"].clone()), (Some("deny"), json!(["pass_used"])), "{v}");
    // the same through a visit with the code
    let (_, v) =
        post(&c, &d, &guard, "/api/v1/visits", json!({"kind": "vehicle", "code": payload, "temperature_c": 36.4}));
    assert_eq!(v["reasons"], json!(["pass_used"]), "{v}");

    // outside the window
    let (_, later) = post(
        &c,
        &d,
        &committee,
        "/api/v1/visitor-passes",
        json!({"name": "明日客", "phone": "13812345678", "host": "1-101", "from": local_in(120), "until": local_in(240)}),
    );
    let v: Value = scan(&c, &d, &guard, json!({"payload": later["payload"], "temperature_c": 36.4})).json().unwrap();
    assert_eq!(v["reasons"], json!(["not_yet_valid"]), "{v}");
    let (_, past) = post(
        &c,
        &d,
        &committee,
        "/api/v1/visitor-passes",
        json!({"name": "昨日客", "phone": "13812345678", "host": "1-101", "from": local_in(-240), "until": local_in(-120)}),
    );
    let v: Value = scan(&c, &d, &guard, json!({"payload": past["payload"], "temperature_c": 36.4})).json().unwrap();
    assert_eq!(v["reasons"], json!(["expired"]), "{v}");

    // a visitor pass of another community is refused (recorded, as any forged pass)
    let other = tempfile::tempdir().unwrap();
    let odir = other.path().join("g");
    ok(&odir, &["init", "--community", "别的小区", "--gate", "北门"]);
    std::fs::write(other.path().join("r.csv"), "household,name\n1-101,甲\n").unwrap();
    ok(&odir, &["household", "import", other.path().join("r.csv").to_str().unwrap()]);
    let cards = other.path().join("cards");
    let foreign = json(
        &odir,
        &[
            "visitor",
            "issue",
            "--name",
            "外人",
            "--phone",
            "13812345678",
            "--host",
            "1-101",
            "--from",
            &local_in(-60),
            "--until",
            &local_in(60),
            "--out",
            cards.to_str().unwrap(),
        ],
    );
    assert!(cards.join("passes.csv").exists() && cards.join("index.html").exists());
    let csv = std::fs::read(cards.join("passes.csv")).unwrap();
    assert!(csv.starts_with("\u{feff}".as_bytes()), "passes.csv without a BOM");
    let v: Value = scan(&c, &d, &guard, json!({"payload": foreign["payload"], "temperature_c": 36.4})).json().unwrap();
    assert_eq!((v["decision"].as_str(), v["reasons"].clone()), (Some("deny"), json!(["wrong_community"])), "{v}");

    // bad approvals: a clear code, nothing issued
    for (body, code) in [
        (
            json!({"name": "x", "phone": "123", "host": "1-101", "from": local_in(0), "until": local_in(60)}),
            "bad_phone",
        ),
        (
            json!({"name": "x", "phone": "13812345678", "host": "1-101", "from": local_in(60), "until": local_in(0)}),
            "bad_time",
        ),
        (
            json!({"name": "x", "phone": "13812345678", "host": "1-101", "from": "tomorrow", "until": local_in(60)}),
            "bad_time",
        ),
        (
            json!({"name": "x", "phone": "13812345678", "host": "1-101", "plate": "京", "from": local_in(0), "until": local_in(60)}),
            "bad_plate",
        ),
        (json!({"phone": "13812345678", "host": "1-101", "from": local_in(0), "until": local_in(60)}), "name_required"),
    ] {
        let (s, e) = post(&c, &d, &committee, "/api/v1/visitor-passes", body.clone());
        assert_eq!((s, e["error"].as_str()), (400, Some(code)), "{body} → {e}");
    }
    let (s, e) = post(
        &c,
        &d,
        &committee,
        "/api/v1/visitor-passes",
        json!({"name": "x", "phone": "13812345678", "host": "9-999", "from": local_in(0), "until": local_in(60)}),
    );
    assert_eq!((s, e["error"].as_str()), (404, Some("unknown_household")));
    assert_eq!(get(&c, &d, &committee, "/api/v1/visitor-passes").1["count"], 3);
    // a guard may not issue approvals
    assert_eq!(post(&c, &d, &guard, "/api/v1/visitor-passes", json!({})).0, 403);
    ok(&g.dir, &["events", "verify"]);
}

#[test]
fn urgent_outings_forgotten_cards_and_handover() {
    let g = GateDir::new();
    let guard = named_token(&g, "guard", "guard-zhao");
    let committee = g.token("committee");
    let d = Daemon::start(&g.dir);
    let c = client();
    let back = chrono::Utc::now() + chrono::Duration::hours(2);
    let hhmm = back.with_timezone(&chrono_tz::Asia::Shanghai).format("%H:%M").to_string();

    // bad input first: nothing recorded
    let before = events(&c, &d);
    for (body, status, code) in [
        (
            json!({"household": "1-101", "name": "张三", "destination": "县医院", "expected_return": hhmm}),
            400,
            "reason_required",
        ),
        (
            json!({"household": "1-101", "name": "张三", "reason": "  ", "destination": "县医院", "expected_return": hhmm}),
            400,
            "reason_required",
        ),
        (
            json!({"household": "1-101", "name": "张三", "reason": "就医", "expected_return": hhmm}),
            400,
            "destination_required",
        ),
        (
            json!({"household": "1-101", "name": "张三", "reason": "就医", "destination": "县医院", "expected_return": "25:99"}),
            400,
            "bad_time",
        ),
        (
            json!({"household": "1-102", "name": "王五", "reason": "就医", "destination": "县医院", "expected_return": hhmm}),
            400,
            "approval_required",
        ),
        (
            json!({"household": "1-101", "name": "无此人", "reason": "就医", "destination": "县医院", "expected_return": hhmm}),
            404,
            "unknown_resident",
        ),
    ] {
        let (s, e) = post(&c, &d, &guard, "/api/v1/exceptions", body.clone());
        assert_eq!((s, e["error"].as_str()), (status, Some(code)), "{body} → {e}");
    }
    let (s, e) = get(&c, &d, &guard, "/api/v1/residents?q=");
    assert_eq!((s, e["error"].as_str()), (400, Some("empty_query")));
    let (s, e) = get(&c, &d, &guard, "/api/v1/residents?q=%20");
    assert_eq!((s, e["error"].as_str()), (400, Some("empty_query")));
    let (s, e) = post(&c, &d, &guard, "/api/v1/scan", json!({"resident_id": 4_000_000_000u64, "temperature_c": 36.5}));
    assert_eq!((s, e["error"].as_str()), (404, Some("unknown_resident")));
    assert_eq!(events(&c, &d), before, "a refused request recorded something");

    // 张三 rushes to hospital: allowed with `exception`, not using the quota
    let (s, v) = post(
        &c,
        &d,
        &guard,
        "/api/v1/exceptions",
        json!({"household": "1-101", "name": "张三", "reason": "就医", "destination": "县医院", "expected_return": hhmm, "temperature_c": 36.6}),
    );
    assert_eq!(s, 200, "{v}");
    assert_eq!((v["decision"].as_str(), v["direction"].as_str()), (Some("allow"), Some("out")));
    assert_eq!(v["warnings"], json!(["exception"]));
    assert_eq!(v["kind"], "exception");
    assert_eq!(v["operator"], "guard-zhao");
    assert_eq!(v["exception"]["destination"], "县医院");
    // once out, a second exception is refused
    let (s, e) = post(
        &c,
        &d,
        &guard,
        "/api/v1/exceptions",
        json!({"household": "1-101", "name": "张三", "reason": "就医", "destination": "县医院", "expected_return": hhmm}),
    );
    assert_eq!((s, e["error"].as_str()), (409, Some("already_out")));
    // the committee sees it on the alerts, not back yet; so does the handover
    let (_, a) = get(&c, &d, &committee, "/api/v1/alerts");
    assert_eq!(a["exceptions"][0]["name"], "张三", "{a}");
    assert_eq!(a["exceptions"][0]["returned"], false);
    assert!(a["alerts"].as_array().unwrap().iter().any(|e| e["kind"] == "exception"));
    let (_, h) = get(&c, &d, &guard, "/api/v1/handover");
    assert_eq!(h["exceptions_not_back"][0]["name"], "张三", "{h}");
    let metrics = c.get(d.url("/metrics")).send().unwrap().text().unwrap();
    assert!(metrics.contains("gatepass_urgent_outings_out 1"), "{metrics}");
    assert!(metrics.contains("gatepass_urgent_outings_late 0"), "{metrics}");
    assert_eq!(h["out"][0]["name"], "张三");
    assert_eq!(h["operator"], "guard-zhao");

    // he forgot his card coming back: found by pinyin initials, decided as a scan
    let (_, r) = get(&c, &d, &guard, "/api/v1/residents?q=zs");
    let found = r["residents"].as_array().unwrap();
    assert_eq!(found.len(), 1, "{r}");
    assert_eq!(found[0]["name"], "张三");
    assert_eq!(found[0]["phone_masked"], "138****0001");
    assert_eq!(found[0]["out"], true);
    let id = found[0]["id"].as_u64().unwrap();
    assert_eq!(get(&c, &d, &guard, "/api/v1/residents?q=1-10").1["count"], 3);
    assert_eq!(get(&c, &d, &guard, "/api/v1/residents?q=李").1["residents"][0]["name"], "李四");
    let v: Value = scan(&c, &d, &guard, json!({"resident_id": id, "temperature_c": 36.5})).json().unwrap();
    assert_eq!((v["decision"].as_str(), v["direction"].as_str()), (Some("allow"), Some("in")), "{v}");
    assert!(v["warnings"].as_array().unwrap().contains(&json!("no_card")), "{v}");
    assert_eq!(v["kind"], "no_card");
    assert_eq!(v["resident"]["name"], "张三");
    // back: the outing is closed
    let (_, a) = get(&c, &d, &committee, "/api/v1/alerts");
    assert_eq!(a["exceptions"][0]["returned"], true);
    assert_eq!(get(&c, &d, &guard, "/api/v1/handover").1["exceptions_not_back"], json!([]));

    // the urgent outing did not use the household's quota: 李四 goes out
    let v: Value =
        scan(&c, &d, &guard, json!({"payload": g.pass("李四").payload, "direction": "out", "temperature_c": 36.5}))
            .json()
            .unwrap();
    assert_eq!(v["decision"], "allow", "{v}");
    // a forgotten card going out is decided exactly as the card: quota used now
    let lid = v["resident"]["id"].as_u64().unwrap();
    let v: Value = scan(&c, &d, &guard, json!({"resident_id": lid, "temperature_c": 36.5})).json().unwrap();
    assert_eq!(v["direction"], "in");
    let v: Value =
        scan(&c, &d, &guard, json!({"resident_id": id, "direction": "out", "temperature_c": 36.5})).json().unwrap();
    assert_eq!(v["decision"], "deny", "{v}");
    assert!(v["reasons"].as_array().unwrap().contains(&json!("household_quota")), "{v}");
    assert!(v["warnings"].as_array().unwrap().contains(&json!("no_card")));

    // 王五 is kept in (home quarantine): an urgent outing with a named approver
    let (s, v) = post(
        &c,
        &d,
        &guard,
        "/api/v1/exceptions",
        json!({"household": "1-102", "name": "王五", "reason": "急救", "destination": "市医院", "expected_return": hhmm, "approved_by": "医疗队 刘医生"}),
    );
    assert_eq!((s, v["decision"].as_str()), (200, Some("allow")), "{v}");
    assert_eq!(v["exception"]["approved_by"], "医疗队 刘医生");

    // a fever on the way in is a referral for the medical team on the handover
    let v: Value =
        scan(&c, &d, &guard, json!({"payload": g.pass("钱七").payload, "direction": "in", "temperature_c": 38.2}))
            .json()
            .unwrap();
    assert_eq!(v["decision"], "refer");
    let (_, h) = get(&c, &d, &guard, "/api/v1/handover");
    assert_eq!(h["referrals"][0]["name"], "钱七", "{h}");
    assert_eq!(h["exceptions_not_back"][0]["name"], "王五");

    // the chain verifies over every kind; rebuilding derived state changes nothing
    ok(&g.dir, &["events", "verify"]);
}

#[test]
fn cli_every_kind_and_the_district_counts() {
    let g = GateDir::new();
    let dir = &g.dir;
    let back = chrono::Utc::now() + chrono::Duration::hours(2);
    let hhmm = back.with_timezone(&chrono_tz::Asia::Shanghai).format("%H:%M").to_string();

    let v = json(
        dir,
        &[
            "visit",
            "--kind",
            "visitor",
            "--name",
            "访客乙",
            "--phone",
            "13912345678",
            "--host",
            "1-101",
            "--temp",
            "36.5",
        ],
    );
    assert_eq!((v["decision"].as_str(), v["reasons"].clone()), (Some("deny"), json!(["not_approved"])));
    assert_eq!(v["operator"], "cli");
    let v = json(
        dir,
        &["visit", "--kind", "vehicle", "--plate", "京A12345", "--purpose", "emergency", "--operator", "夜班老王"],
    );
    assert_eq!(v["decision"], "allow");
    assert_eq!(v["operator"], "夜班老王");
    let v = json(dir, &["visit", "--kind", "vehicle", "--plate", "京C11111", "--purpose", "garbage"]);
    assert_eq!(v["reasons"], json!(["not_approved"]));
    let v = json(dir, &["visit", "--kind", "delivery", "--host", "2-201", "--from", "京东"]);
    let parcel = v["parcel_id"].as_u64().unwrap().to_string();
    let list = json(dir, &["parcel", "list"]);
    assert_eq!(list.as_array().unwrap().len(), 1);
    ok(dir, &["parcel", "collect", &parcel, "--by", "钱七"]);
    assert_eq!(json(dir, &["parcel", "list"]).as_array().unwrap().len(), 0);
    let v = json(
        dir,
        &[
            "exception",
            "--household",
            "1-101",
            "--name",
            "张三",
            "--reason",
            "就医",
            "--destination",
            "县医院",
            "--expected-return",
            &hhmm,
        ],
    );
    assert_eq!(v["warnings"], json!(["exception"]));
    assert_eq!(v["kind"], "exception");
    let cards = g.tmp.path().join("visitor");
    let p = json(
        dir,
        &[
            "visitor",
            "issue",
            "--name",
            "送菜",
            "--phone",
            "13812345678",
            "--host",
            "1-101",
            "--plate",
            "京D88888",
            "--from",
            &local_in(-30),
            "--until",
            &local_in(30),
            "--uses",
            "2",
            "--out",
            cards.to_str().unwrap(),
        ],
    );
    let payload = p["payload"].as_str().unwrap();
    assert!(cards.join(format!("{}.png", p["pass_id"])).exists());
    let v = json(dir, &["scan", "--payload", payload, "--temp", "36.5"]);
    assert_eq!((v["decision"].as_str(), v["kind"].as_str()), (Some("allow"), Some("visitor")), "{v}");
    assert_eq!(json(dir, &["visitor", "list"])[0]["uses_left"], 1);
    // the text answer names the visitor
    let text = ok(dir, &["scan", "--payload", payload, "--temp", "36.5"]);
    assert!(text.contains("送菜") && text.contains("ALLOW out"), "{text}");

    // bad input: a clear error, exit 1, nothing recorded
    let count = |dir: &std::path::Path| ok(dir, &["events", "export"]).lines().count();
    let before = count(dir);
    for (args, needle) in [
        (vec!["visit", "--kind", "vehicle", "--plate", "京A1234"], "bad_plate"),
        (vec!["visit", "--kind", "visitor", "--phone", "1234"], "bad_phone"),
        (vec!["visit", "--kind", "delivery"], "host_required"),
        (vec!["visit", "--kind", "visitor", "--host", "9-999"], "no household"),
        (
            vec![
                "exception",
                "--household",
                "1-101",
                "--name",
                "李四",
                "--reason",
                "",
                "--destination",
                "x",
                "--expected-return",
                "10:00",
            ],
            "reason_required",
        ),
        (
            vec![
                "exception",
                "--household",
                "1-101",
                "--name",
                "李四",
                "--reason",
                "就医",
                "--destination",
                "x",
                "--expected-return",
                "10点",
            ],
            "bad_time",
        ),
        (
            vec![
                "exception",
                "--household",
                "1-102",
                "--name",
                "王五",
                "--reason",
                "就医",
                "--destination",
                "x",
                "--expected-return",
                "10:00",
            ],
            "approval_required",
        ),
        (
            vec![
                "visitor",
                "issue",
                "--name",
                "x",
                "--phone",
                "13812345678",
                "--host",
                "1-101",
                "--from",
                "2026-13-01T00:00",
                "--until",
                "2026-12-01T00:00",
                "--out",
                "/tmp/never",
            ],
            "bad_time",
        ),
    ] {
        let out = run(dir, &args);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(needle), "{args:?}: {err}");
        assert!(
            err.contains("nothing was recorded") || needle == "no household" || needle == "bad_time",
            "{args:?}: {err}"
        );
    }
    assert_eq!(count(dir), before, "a refused command recorded something");

    // every kind verifies
    let v = ok(dir, &["events", "verify"]);
    assert!(!v.is_empty());

    // the district counts them per gate and day (carried by file)
    let export = g.tmp.path().join("export.ndjson");
    ok(dir, &["events", "export", "--out", export.to_str().unwrap()]);
    let district = g.tmp.path().join("district");
    ok(&district, &["district", "init"]);
    ok(&district, &["district", "import", export.to_str().unwrap()]);
    let today = chrono::Utc::now().with_timezone(&chrono_tz::Asia::Shanghai).format("%Y-%m-%d").to_string();
    let r = json(&district, &["district", "report", "daily", "--date", &today]);
    let t = &r["total"];
    assert_eq!(t["visitors"], 2, "{r}"); // the one turned back, the approved one in
    assert_eq!(t["vehicles"], 2, "{r}");
    assert_eq!(t["deliveries"], 1, "{r}");
    assert_eq!(t["urgent_outings"], 1, "{r}");
    assert_eq!(t["turned_back"], 2, "{r}");
    // an urgent outing is a resident's exit; an outsider is not a resident entry
    assert_eq!(t["exits"], 1, "{r}");
    assert_eq!(t["entries"], 0, "{r}");
    // importing again changes no figure
    ok(&district, &["district", "import", export.to_str().unwrap()]);
    assert_eq!(json(&district, &["district", "report", "daily", "--date", &today])["total"], *t);
    let csv = ok(&district, &["district", "report", "daily", "--date", &today, "--csv"]);
    assert!(csv.lines().next().unwrap().ends_with("visitors,vehicles,deliveries,urgent_outings,turned_back"), "{csv}");
}

#[test]
fn several_guards_each_recorded_as_themselves() {
    let g = GateDir::new();
    for (name, pw) in [("guard-a", "1111"), ("guard-b", "2222")] {
        let mut child = bin()
            .arg("--data-dir")
            .arg(&g.dir)
            .args(["user", "add", "--name", name, "--role", "guard"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap();
        use std::io::Write;
        child.stdin.take().unwrap().write_all(format!("{pw}\n").as_bytes()).unwrap();
        assert!(child.wait().unwrap().success());
    }
    let d = Daemon::start(&g.dir);
    let mut seqs = Vec::new();
    for (name, pw) in [("guard-a", "1111"), ("guard-b", "2222")] {
        let c = client();
        let r = c
            .post(d.url("/api/v1/login"))
            .header("origin", &d.base)
            .json(&json!({"name": name, "password": pw}))
            .send()
            .unwrap();
        assert_eq!(r.status(), 200);
        let cookie = r.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_string();
        let v: Value = c
            .post(d.url("/api/v1/visits"))
            .header("cookie", &cookie)
            .header("origin", &d.base)
            .json(&json!({"kind": "visitor", "name": "某人"}))
            .send()
            .unwrap()
            .json()
            .unwrap();
        assert_eq!(v["operator"], name, "{v}");
        seqs.push(v["event_seq"].as_u64().unwrap());
    }
    // and in the signed events
    let export = ok(&g.dir, &["events", "export"]);
    assert!(export.contains("\"operator\":\"guard-a\"") && export.contains("\"operator\":\"guard-b\""));
    assert_eq!(seqs.len(), 2);
}

/// A backfill time is not taken over the API: refused with a clear code,
/// never recorded as now; nothing is recorded.
#[test]
fn a_backfill_over_the_api_is_refused_not_recorded_as_now() {
    let g = common::GateDir::new();
    let d = common::Daemon::start(&g.dir);
    let guard = g.token("guard");
    let c = common::client();
    for (path, body) in [
        (
            "/api/v1/visits",
            serde_json::json!({"kind": "visitor", "name": "访客", "reason": "探亲", "at": "2026-11-29T08:00:00+08:00"}),
        ),
        (
            "/api/v1/exceptions",
            serde_json::json!({"household": "1-101", "name": "张三", "reason": "就医", "destination": "医院", "expected_return": "23:00", "at": "2026-11-29T08:00:00+08:00"}),
        ),
    ] {
        let r = c.post(d.url(path)).bearer_auth(&guard).json(&body).send().unwrap();
        assert_eq!(r.status(), 400, "{path}");
        let v: serde_json::Value = r.json().unwrap();
        assert_eq!(v["error"], "usage", "{v}");
    }
    let h: serde_json::Value = c.get(d.url("/api/v1/health")).send().unwrap().json().unwrap();
    assert_eq!(h["database"]["events"], 0, "{h}");
}
