//! The committee's paperwork (issue 12) from outside: staggered outings,
//! revocation reasons and reissue, one-person changes, returnees, follow-up
//! visits and the books that open in Excel. The real binary and daemon.

mod common;
use common::*;
use serde_json::{json, Value};

fn add_user(dir: &std::path::Path, name: &str, role: &str, pw: &str) {
    use std::io::Write;
    let mut child = bin()
        .arg("--data-dir")
        .arg(dir)
        .args(["user", "add", "--name", name, "--role", role])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(format!("{pw}\n").as_bytes()).unwrap();
    assert!(child.wait().unwrap().success());
}

fn reasons(v: &Value) -> Vec<String> {
    v["reasons"].as_array().unwrap().iter().map(|r| r.as_str().unwrap().to_string()).collect()
}

const SLOTS: &str = "\n[[policy.slots]]\ngrids = [\"A\"]\ndays = \"mon,wed,fri\"\nhours = \"08:00-10:00\"\n\n\
[[policy.slots]]\nhouseholds = [\"2-*\"]\ndays = \"odd\"\nhours = \"22:00-02:00\"\n";

/// A local (Shanghai) date well in the past that is a Monday, and passes
/// valid around it, so `scan --at` can backfill crossings on known days.
fn past_monday(g: &GateDir) -> (chrono::NaiveDate, Vec<Pass>) {
    use chrono::{Datelike, Days};
    let today = chrono::Utc::now().with_timezone(&chrono_tz::Asia::Shanghai).date_naive();
    let mut m = today.checked_sub_days(Days::new(8)).unwrap();
    while m.weekday() != chrono::Weekday::Mon {
        m = m.pred_opt().unwrap();
    }
    let from = m.checked_sub_days(Days::new(10)).unwrap().to_string();
    let out = g.tmp.path().join("cards-past");
    ok(
        &g.dir,
        &["pass", "issue", "--all", "--valid-from", &from, "--valid-days", "40", "--out", out.to_str().unwrap()],
    );
    (m, read_passes(&out.join("passes.csv")))
}

#[test]
fn staggered_outings_by_grid_and_household_pattern() {
    use chrono::{Datelike, Days};
    // one household outing per period would refuse the later scans: off here
    let g = GateDir::with_config(|t| {
        *t = t.replace("outings_per_period = 1", "outings_per_period = 0");
        t.push_str(SLOTS)
    });
    let (monday, passes) = past_monday(&g);
    let payload = |name: &str| passes.iter().find(|p| p.name == name).unwrap().payload.clone();
    let scan = |name: &str, dir: &str, day: chrono::NaiveDate, hm: &str| {
        let at = format!("{day}T{hm}:00+08:00");
        json(&g.dir, &["scan", "--payload", &payload(name), "--direction", dir, "--temp", "36.5", "--at", &at])
    };
    let tuesday = monday.succ_opt().unwrap();
    // 张三 (grid A) may go out Monday 08:00-10:00
    let v = scan("张三", "out", monday, "09:00");
    assert_eq!(v["decision"], "allow", "{v}");
    assert_eq!(v["slot"], json!({"days": "mon,wed,fri", "hours": "08:00-10:00"}));
    // back in at noon: entry is never refused for the slot
    let v = scan("张三", "in", monday, "12:00");
    assert_eq!(v["decision"], "allow", "{v}");
    // 李四 (same grid) on Tuesday: refused, outside_slot, not outside_hours
    let v = scan("李四", "out", tuesday, "09:00");
    assert_eq!((v["decision"].as_str(), reasons(&v)), (Some("deny"), vec!["outside_slot".to_string()]), "{v}");
    // 钱七 (household 2-201): odd days 22:00 to 02:00; 00:30 after an odd day is that day's night
    let odd = [monday.checked_sub_days(Days::new(2)).unwrap(), monday.pred_opt().unwrap()]
        .into_iter()
        .find(|d| d.day() % 2 == 1)
        .unwrap();
    let night = odd.succ_opt().unwrap();
    let v = scan("钱七", "out", night, "00:30");
    assert_eq!(v["decision"], "allow", "{v}");
    assert_eq!(v["slot"]["days"], "odd");
    let v = scan("钱七", "in", night, "01:00");
    assert_eq!(v["decision"], "allow", "{v}");
    // ...and the even day's night is not
    let v = scan("钱七", "out", night.succ_opt().unwrap(), "00:30");
    assert_eq!(reasons(&v), vec!["outside_slot".to_string()], "{v}");
    // 赵六 (essential, same household) is exempt
    let v = scan("赵六", "out", night, "12:00");
    assert_eq!(v["decision"], "allow", "{v}");
    // 3-301 is in no slot: [policy] hours (all day in these tests), no slot field
    let v = scan("<script>alert(1)</script>", "out", monday, "12:00");
    assert_eq!(v["decision"], "allow", "{v}");
    assert!(v["slot"].is_null());
    // the printed card shows the slot
    let sheet = std::fs::read_to_string(g.tmp.path().join("cards-past/index.html")).unwrap();
    assert!(sheet.contains("错峰 周一、三、五 08:00-10:00"), "{sheet}");
    assert!(sheet.contains("错峰 单日 22:00-02:00"));
    // a wrong slot is named by config check
    let bad = g.tmp.path().join("bad.toml");
    let text = std::fs::read_to_string(g.dir.join("gatepass.toml")).unwrap().replace("\"odd\"", "\"someday\"");
    std::fs::write(&bad, text).unwrap();
    let out = run(&g.dir, &["config", "check", bad.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("slots"), "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn committee_sets_slots_through_the_policy_api() {
    let g = GateDir::new();
    let committee = g.token("committee");
    let guard = g.token("guard");
    let d = Daemon::start(&g.dir);
    let c = client();
    let put = |body: Value| c.put(d.url("/api/v1/policy")).bearer_auth(&committee).json(&body).send().unwrap();
    // a slot that is never open: every day, an hour that has already gone by is not needed;
    // a slot of one minute a week, far from any time this test runs, is
    let r = put(json!({"slots": [{"households": ["1-101"], "days": "sun", "hours": "03:00-03:01"}]}));
    assert_eq!(r.status(), 200);
    let r = put(json!({"slots": [{"days": "sun", "hours": "03:00-04:00"}]}));
    assert_eq!(r.status(), 400, "a slot naming nobody");
    let p: Value = c.get(d.url("/api/v1/policy")).bearer_auth(&committee).send().unwrap().json().unwrap();
    assert_eq!(p["slots"], json!([{"households": ["1-101"], "days": "sun", "hours": "03:00-03:01"}]));
    let v: Value =
        scan(&c, &d, &guard, json!({"payload": g.pass("张三").payload, "direction": "out", "temperature_c": 36.5}))
            .json()
            .unwrap();
    assert_eq!(v["slot"]["hours"], "03:00-03:01");
    // the one minute of Sunday 03:00 is the only time this could allow
    if v["decision"] == "deny" {
        assert!(reasons(&v).contains(&"outside_slot".to_string()), "{v}");
    }
    let r = put(json!({"slots": []}));
    assert_eq!(r.status(), 200);
    let v: Value =
        scan(&c, &d, &guard, json!({"payload": g.pass("李四").payload, "direction": "out", "temperature_c": 36.5}))
            .json()
            .unwrap();
    assert!(v["slot"].is_null() && !reasons(&v).contains(&"outside_slot".to_string()), "{v}");
}

#[test]
fn revocation_codes_reissue_and_issuing_for_everyone_asks_first() {
    let g = GateDir::new();
    let committee = g.token("committee");
    let guard = g.token("guard");
    let d = Daemon::start(&g.dir);
    let c = client();
    let post = |path: &str, body: Value| {
        let r = c.post(d.url(path)).bearer_auth(&committee).json(&body).send().unwrap();
        (r.status().as_u16(), r.json::<Value>().unwrap())
    };
    let passes = || -> Vec<Value> {
        let v: Value = c.get(d.url("/api/v1/passes")).bearer_auth(&committee).send().unwrap().json().unwrap();
        v["passes"].as_array().unwrap().clone()
    };
    let n = g.passes.len() as u64;

    // the default is "residents without a valid card": there are none
    let (s, v) = post("/api/v1/passes/issue", json!({}));
    assert_eq!((s, v["error"].as_str()), (409, Some("nothing_to_issue")), "{v}");
    // everyone: refused without the number of cards it stops, and with a wrong one
    let (s, v) = post("/api/v1/passes/issue", json!({"scope": "all"}));
    assert_eq!((s, v["error"].as_str(), v["valid_cards"].as_u64()), (409, Some("confirm_required"), Some(n)), "{v}");
    let (s, _) = post("/api/v1/passes/issue", json!({"all": true, "confirm": n - 1}));
    assert_eq!(s, 409);
    assert_eq!(passes().len() as u64, n, "nothing issued");
    let v: Value = c.get(d.url("/api/v1/passes/valid-count")).bearer_auth(&committee).send().unwrap().json().unwrap();
    assert_eq!(v["valid_cards"].as_u64(), Some(n));

    // revoke as lost: a code, shown as a code, and in the scan answer
    let zhang = g.pass("张三");
    let (s, v) = post(&format!("/api/v1/passes/{}/revoke", zhang.pass_id), json!({"reason": "lost"}));
    assert_eq!(s, 200, "{v}");
    let v: Value = scan(&c, &d, &guard, json!({"payload": zhang.payload, "temperature_c": 36.5})).json().unwrap();
    assert_eq!((v["decision"].as_str(), v["revoked_reason"].as_str()), (Some("deny"), Some("lost")), "{v}");
    // free text (as earlier versions took) is stored as `other` with a note
    let li = g.pass("李四");
    post(&format!("/api/v1/passes/{}/revoke", li.pass_id), json!({"reason": "washed with the laundry"}));
    let row = passes().into_iter().find(|p| p["pass_id"] == li.pass_id.parse::<u64>().unwrap()).unwrap();
    assert_eq!(
        (row["revoke_reason"].as_str(), row["revoke_note"].as_str()),
        (Some("other"), Some("washed with the laundry"))
    );
    // an unrevoked card's scan has no revoked_reason
    let v: Value =
        scan(&c, &d, &guard, json!({"payload": g.pass("钱七").payload, "temperature_c": 36.5})).json().unwrap();
    assert!(v.get("revoked_reason").is_none(), "{v}");

    // the default issue now makes cards for exactly the two without one
    let (s, v) = post("/api/v1/passes/issue", json!({}));
    assert_eq!((s, v["issued"].as_u64()), (200, Some(2)), "{v}");

    // 补办 for 钱七 (damaged): the old card stops with that reason, the new one runs to the old end
    let qian_old =
        passes().into_iter().find(|p| p["pass_id"] == g.pass("钱七").pass_id.parse::<u64>().unwrap()).unwrap();
    let rid = qian_old["resident_id"].as_u64().unwrap();
    let (s, v) = post(&format!("/api/v1/residents/{rid}/reissue"), json!({"reason": "replaced"}));
    assert_eq!((s, v["error"].as_str()), (400, Some("usage")), "only lost, damaged or other: {v}");
    let (s, v) = post(&format!("/api/v1/residents/{rid}/reissue"), json!({"reason": "damaged"}));
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["valid_until"], qian_old["valid_until"]);
    let old = passes().into_iter().find(|p| p["pass_id"] == qian_old["pass_id"]).unwrap();
    assert_eq!(old["revoke_reason"], "damaged");
    let v2: Value = scan(&c, &d, &guard, json!({"payload": v["payload"], "temperature_c": 36.5})).json().unwrap();
    assert!(!reasons(&v2).contains(&"revoked".to_string()), "{v2}");
    let audit: Value = c.get(d.url("/api/v1/audit")).bearer_auth(&committee).send().unwrap().json().unwrap();
    assert!(audit["audit"].as_array().unwrap().iter().any(|a| a["action"] == "pass.reissue"), "{audit}");

    // confirmed with the right number: everyone gets a new card
    let count: Value =
        c.get(d.url("/api/v1/passes/valid-count")).bearer_auth(&committee).send().unwrap().json().unwrap();
    let (s, v) = post("/api/v1/passes/issue", json!({"scope": "all", "confirm": count["valid_cards"]}));
    assert_eq!((s, v["issued"].as_u64()), (200, Some(n)), "{v}");
    drop(d);

    // the CLI: 补办 by household and name, card written
    let out = g.tmp.path().join("reissue");
    let v = json(
        &g.dir,
        &[
            "pass",
            "reissue",
            "--household",
            "1-101",
            "--name",
            "张三",
            "--reason",
            "遗失",
            "--out",
            out.to_str().unwrap(),
        ],
    );
    assert_eq!(v["reason"], "lost");
    assert!(out.join("index.html").exists() && out.join("passes.csv").exists());
    let bad = run(
        &g.dir,
        &[
            "pass",
            "reissue",
            "--household",
            "1-101",
            "--name",
            "张三",
            "--reason",
            "moved_out",
            "--out",
            out.to_str().unwrap(),
        ],
    );
    assert!(!bad.status.success());
}

#[test]
fn volunteers_record_visits_fevers_and_missed_visits_are_alerts() {
    // 王五 (1-102) is in home quarantine in the register
    let g = GateDir::new();
    let committee = g.token("committee");
    let volunteer = ok(&g.dir, &["token", "create", "--role", "volunteer", "--name", "小李"]).trim().to_string();
    let guard = g.token("guard");
    add_user(&g.dir, "vol1", "volunteer", "vol-pass-1"); // a page login too
    let d = Daemon::start(&g.dir);
    let c = client();
    let get = |path: &str, tok: &str| {
        let r = c.get(d.url(path)).bearer_auth(tok).send().unwrap();
        (r.status().as_u16(), r.json::<Value>().unwrap_or(Value::Null))
    };
    let (s, home) = get("/api/v1/followups/home", &volunteer);
    assert_eq!(s, 200, "{home}");
    let people = home["people"].as_array().unwrap();
    assert_eq!(people.len(), 1, "{home}");
    assert_eq!((people[0]["name"].as_str(), people[0]["household"].as_str()), (Some("王五"), Some("1-102")));
    assert_eq!(home["times"], json!(["08:00", "16:00"]));
    // a guard may not see or record visits; a volunteer may not change the register
    assert_eq!(get("/api/v1/followups/home", &guard).0, 403);
    assert_eq!(get("/api/v1/households", &volunteer).0, 403);
    let post = |tok: &str, body: Value| {
        let r = c.post(d.url("/api/v1/followups")).bearer_auth(tok).json(&body).send().unwrap();
        (r.status().as_u16(), r.json::<Value>().unwrap())
    };
    assert_eq!(post(&guard, json!({"household": "1-102", "name": "王五", "temperature_c": 36.5})).0, 403);
    let (s, v) = post(
        &volunteer,
        json!({"household": "1-102", "name": "王五", "temperature_c": 36.6, "symptoms": "", "note": "在家"}),
    );
    assert_eq!((s, v["fever"].as_bool(), v["actor"].as_str()), (200, Some(false), Some("volunteer:小李")), "{v}");
    let (s, v) = post(&volunteer, json!({"household": "1-102", "name": "王五", "temperature_c": 99.0}));
    assert_eq!((s, v["error"].as_str()), (400, Some("usage")), "{v}");
    let (s, v) = post(&volunteer, json!({"household": "1-102", "name": "王五"}));
    assert_eq!((s, v["error"].as_str()), (400, Some("bad_temperature")), "{v}");
    // a fever at home is an alert
    let rid = people[0]["resident_id"].clone();
    let (s, v) = post(&volunteer, json!({"resident_id": rid, "temperature_c": 38.2, "symptoms": "咳嗽"}));
    assert_eq!((s, v["fever"].as_bool()), (200, Some(true)), "{v}");
    let (_, alerts) = get("/api/v1/alerts", &committee);
    let fevers = alerts["followup_fevers"].as_array().unwrap();
    assert_eq!(fevers.len(), 1, "{alerts}");
    assert_eq!((fevers[0]["name"].as_str(), fevers[0]["temperature_c"].as_f64()), (Some("王五"), Some(38.2)));
    assert!(alerts["alerts"].is_array() && alerts["missed_visits"].is_array());
    // the day's book
    let (_, book) = get("/api/v1/followups", &committee);
    assert_eq!(book["followups"].as_array().unwrap().len(), 2, "{book}");
    let (_, audit) = get("/api/v1/audit", &committee);
    assert!(audit["audit"].as_array().unwrap().iter().any(|a| a["action"] == "followup.record"));
    // the volunteer logs in on a page and lands on theirs
    let r = c
        .post(d.url("/api/v1/login"))
        .header("origin", &d.base)
        .json(&json!({"name": "vol1", "password": "vol-pass-1"}))
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().unwrap()["next"], "/volunteer");
    let page = c.get(d.url("/volunteer")).send().unwrap().text().unwrap();
    assert!(page.contains("volunteer.js") && page.contains("居家随访"));
    drop(d);

    // the CLI: record, and visits missed since 王五 was kept home show in `due`
    // (kept home three days ago: the register's date set by hand)
    let three_days_ago = (chrono::Utc::now() - chrono::Duration::days(3)).to_rfc3339();
    let db = rusqlite::Connection::open(g.dir.join("gatepass.db")).unwrap();
    db.execute("UPDATE residents SET category_since = ?1 WHERE name = '王五'", [&three_days_ago]).unwrap();
    drop(db);
    let due = json(&g.dir, &["followup", "due"]);
    let windows = due["due"][0]["due"].as_array().unwrap().len();
    // noon two local days ago: inside that day's 08:00-16:00 window, whatever the hour now
    let today = chrono::Utc::now().with_timezone(&chrono_tz::Asia::Shanghai).date_naive();
    let two_days_ago = format!("{}T12:00:00+08:00", today - chrono::Days::new(2));
    let v = json(
        &g.dir,
        &[
            "followup",
            "record",
            "--household",
            "1-102",
            "--name",
            "王五",
            "--temp",
            "36.4",
            "--symptoms",
            "无",
            "--at",
            &two_days_ago,
        ],
    );
    assert_eq!(v["fever"], false);
    let due = json(&g.dir, &["followup", "due"]);
    let due = due["due"].as_array().unwrap();
    assert_eq!(due.len(), 1);
    let states: Vec<&str> = due[0]["due"].as_array().unwrap().iter().map(|w| w["state"].as_str().unwrap()).collect();
    assert!(states.contains(&"missed"), "{states:?}");
    assert_eq!(states.len(), windows - 1, "the visit two days ago kept one window");
    let human = ok(&g.dir, &["followup", "due"]);
    assert!(human.contains("王五"), "{human}");
    let bad = run(&g.dir, &["followup", "record", "--household", "1-102", "--name", "nobody", "--temp", "36.4"]);
    assert!(!bad.status.success());
}

/// Reads the first sheet of an xlsx as rows of text (numbers as shown).
fn read_xlsx(bytes: &[u8]) -> Vec<Vec<String>> {
    use calamine::{Data, Reader};
    let mut wb = calamine::Xlsx::new(std::io::Cursor::new(bytes.to_vec())).unwrap();
    let name = wb.sheet_names().first().cloned().unwrap();
    let range = wb.worksheet_range(&name).unwrap();
    range
        .rows()
        .map(|r| {
            r.iter()
                .map(|c| match c {
                    Data::Empty => String::new(),
                    Data::Float(f) => format!("{f}"),
                    Data::Int(i) => i.to_string(),
                    other => other.to_string(),
                })
                .collect()
        })
        .collect()
}

#[test]
fn the_ledger_xlsx_reads_back_as_the_log() {
    let g = GateDir::new();
    let committee = g.token("committee");
    // a day of crossings: allowed, refused, a fever on return
    let s = |name: &str, extra: &[&str]| {
        let mut a = vec!["scan", "--payload", &g.pass(name).payload];
        a.extend_from_slice(extra);
        json(&g.dir, &a)
    };
    s("张三", &["--direction", "out", "--temp", "36.5"]);
    s("李四", &["--direction", "out", "--temp", "36.6"]); // household member out
    s("王五", &["--direction", "out", "--temp", "36.4"]); // quarantined
    s("张三", &["--direction", "in", "--temp", "38.1"]); // fever: refer
    json(&g.dir, &["scan", "--payload", "GP1:FORGED"]);
    let today = chrono::Utc::now().with_timezone(&chrono_tz::Asia::Shanghai).date_naive().to_string();
    let xlsx = g.tmp.path().join("ledger.xlsx");
    let html = g.tmp.path().join("ledger.html");
    ok(
        &g.dir,
        &["events", "ledger", "--date", &today, "--xlsx", xlsx.to_str().unwrap(), "--html", html.to_str().unwrap()],
    );
    let rows = read_xlsx(&std::fs::read(&xlsx).unwrap());
    assert_eq!(rows[0], ["序号", "时间", "门岗", "方向", "姓名", "户号", "体温(°C)", "结果", "原因", "值班人员"]);
    // the log, as exported
    let export = ok(&g.dir, &["events", "export"]);
    let events: Vec<Value> = export.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(rows.len() - 1, events.len(), "one line per event");
    let names: std::collections::HashMap<String, String> =
        g.passes.iter().map(|p| (p.household.clone() + "/" + &p.name, p.name.clone())).collect();
    for (row, ev) in rows[1..].iter().zip(&events) {
        assert_eq!(row[0], ev["seq"].to_string(), "{row:?}");
        assert_eq!(row[2], ev["gate"].as_str().unwrap());
        let dir = match ev["direction"].as_str() {
            Some("out") => "出",
            Some("in") => "入",
            _ => "",
        };
        assert_eq!(row[3], dir);
        assert_eq!(row[5], ev["household"].as_str().unwrap_or(""));
        if !row[4].is_empty() {
            assert!(names.contains_key(&(row[5].clone() + "/" + &row[4])), "{row:?}");
        }
        assert_eq!(row[6], ev["temperature_c"].as_f64().map(|t| format!("{t}")).unwrap_or_default());
        let dec = match ev["decision"].as_str().unwrap() {
            "allow" => "通行",
            "deny" => "禁止",
            _ => "留观",
        };
        assert_eq!(row[7], dec);
        assert_eq!(
            row[8].is_empty(),
            ev["reasons"].as_array().unwrap().is_empty() && ev["warnings"].as_array().unwrap().is_empty()
        );
    }
    assert!(rows[2][8].contains("本户已有人在外"), "{:?}", rows[2]);
    assert!(rows[3][8].contains("隔离管控"));
    assert_eq!(rows[4][7], "留观");
    assert!(rows[5][8].contains("通行证无效"));
    // the print view ends with the chain head
    let page = std::fs::read_to_string(&html).unwrap();
    let last = events.last().unwrap();
    let tail = &page[page.rfind("</table>").unwrap()..];
    assert!(tail.contains(last["hash"].as_str().unwrap()), "{tail}");
    assert!(tail.contains(&format!("第 {} 条", last["seq"])));

    // the same from the daemon, and the other books
    let d = Daemon::start(&g.dir);
    let c = client();
    let r = c.get(d.url(&format!("/api/v1/ledger?date={today}&format=xlsx"))).bearer_auth(&committee).send().unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers()["content-type"].to_str().unwrap().contains("spreadsheetml"));
    assert!(r.headers()["content-disposition"].to_str().unwrap().contains("ledger-"));
    assert_eq!(read_xlsx(&r.bytes().unwrap()), rows);
    let r = c.get(d.url(&format!("/api/v1/ledger?date={today}&format=html"))).bearer_auth(&committee).send().unwrap();
    assert!(r.text().unwrap().contains(last["hash"].as_str().unwrap()));
    for book in ["register.xlsx", "passes.xlsx", "followups.xlsx", "alerts.xlsx"] {
        let r = c.get(d.url(&format!("/api/v1/export/{book}"))).bearer_auth(&committee).send().unwrap();
        assert_eq!(r.status(), 200, "{book}");
        let rows = read_xlsx(&r.bytes().unwrap());
        match book {
            "register.xlsx" => {
                assert_eq!(rows.len(), 7);
                assert!(rows.iter().any(|r| r[3] == "<script>alert(1)</script>" && r[5] == "正常"), "{rows:?}");
            }
            "passes.xlsx" => assert_eq!(rows.len(), 7),
            "alerts.xlsx" => assert!(rows.len() >= 4, "{rows:?}"),
            _ => assert_eq!(rows.len(), 1),
        }
    }
    let guard = g.token("guard");
    assert_eq!(c.get(d.url("/api/v1/export/register.xlsx")).bearer_auth(&guard).send().unwrap().status(), 403);
}

#[test]
fn one_person_changes_are_audited_and_a_leaver_keeps_their_history() {
    let g = GateDir::new();
    let committee = g.token("committee");
    let guard = g.token("guard");
    let d = Daemon::start(&g.dir);
    let c = client();
    let call = |m: reqwest::Method, path: &str, body: Value| {
        let r = c.request(m, d.url(path)).bearer_auth(&committee).json(&body).send().unwrap();
        (r.status().as_u16(), r.json::<Value>().unwrap())
    };
    use reqwest::Method as M;
    // add
    let (s, v) =
        call(M::POST, "/api/v1/residents", json!({"household": "1-101", "name": "孙八", "phone": "138 0000 1234"}));
    assert_eq!(s, 200, "{v}");
    let sun = v["id"].as_u64().unwrap();
    let (s, v) = call(M::POST, "/api/v1/residents", json!({"household": "1-101", "name": "孙八"}));
    assert_eq!((s, v["error"].as_str()), (400, Some("usage")), "twice: {v}");
    let (s, _) = call(
        M::POST,
        "/api/v1/residents",
        json!({"household": "9-901", "name": "周九", "address": "9号楼", "grid": "D", "category": "home_quarantine"}),
    );
    assert_eq!(s, 200, "a new household is made");
    // phone
    let (s, v) = call(M::PUT, &format!("/api/v1/residents/{sun}/phone"), json!({"phone": "139-0000-5678"}));
    assert_eq!(s, 200, "{v}");
    let (s, _) = call(M::PUT, &format!("/api/v1/residents/{sun}/phone"), json!({"phone": "call me"}));
    assert_eq!(s, 400);
    // move
    let (s, v) = call(M::POST, &format!("/api/v1/residents/{sun}/move"), json!({"household": "2-201"}));
    assert_eq!((s, v["household"].as_str()), (200, Some("2-201")), "{v}");
    let (s, v) = call(M::POST, &format!("/api/v1/residents/{sun}/move"), json!({"household": "7-777"}));
    assert_eq!((s, v["error"].as_str()), (404, Some("unknown_household")));
    // a card for the new resident (the default: those without one), then moved out
    let (s, v) = call(M::POST, "/api/v1/passes/issue", json!({}));
    assert_eq!((s, v["issued"].as_u64()), (200, Some(2)), "{v}");
    let payload = v["passes"].as_array().unwrap().iter().find(|p| p["name"] == "孙八").unwrap()["payload"].clone();
    let v: Value =
        scan(&c, &d, &guard, json!({"payload": payload, "direction": "out", "temperature_c": 36.5})).json().unwrap();
    assert_eq!(v["decision"], "allow", "{v}");
    let v: Value =
        scan(&c, &d, &guard, json!({"payload": payload, "direction": "in", "temperature_c": 36.5})).json().unwrap();
    assert_eq!(v["decision"], "allow", "{v}");
    let (s, v) = call(M::POST, &format!("/api/v1/residents/{sun}/left"), json!({"reason": "lost"}));
    assert_eq!(s, 400, "only moved_out or deceased: {v}");
    let (s, v) = call(M::POST, &format!("/api/v1/residents/{sun}/left"), json!({"reason": "moved_out"}));
    assert_eq!((s, v["left"].as_str()), (200, Some("moved_out")), "{v}");
    let v: Value =
        scan(&c, &d, &guard, json!({"payload": payload, "direction": "out", "temperature_c": 36.5})).json().unwrap();
    assert_eq!((v["decision"].as_str(), v["revoked_reason"].as_str()), (Some("deny"), Some("moved_out")), "{v}");
    // no further change, no new card; the history stays
    let (s, v) = call(M::POST, &format!("/api/v1/residents/{sun}/move"), json!({"household": "1-101"}));
    assert_eq!((s, v["error"].as_str()), (409, Some("resident_left")), "{v}");
    let (s, v) = call(M::POST, &format!("/api/v1/residents/{sun}/reissue"), json!({"reason": "lost"}));
    assert_eq!((s, v["error"].as_str()), (409, Some("resident_left")), "{v}");
    let (s, v) = call(M::POST, "/api/v1/passes/issue", json!({}));
    assert_eq!((s, v["error"].as_str()), (409, Some("nothing_to_issue")), "a leaver is not missing a card: {v}");
    let hs: Value = c.get(d.url("/api/v1/households")).bearer_auth(&committee).send().unwrap().json().unwrap();
    let found = hs["households"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|h| h["residents"].as_array().unwrap().clone())
        .find(|r| r["name"] == "孙八")
        .unwrap();
    assert_eq!(found["left"], "moved_out");
    let events = ok(&g.dir, &["events", "export"]);
    assert_eq!(events.lines().filter(|l| l.contains(&format!("\"resident_id\":{sun}"))).count(), 3, "history stays");
    let audit: Value = c.get(d.url("/api/v1/audit")).bearer_auth(&committee).send().unwrap().json().unwrap();
    let actions: Vec<&str> = audit["audit"].as_array().unwrap().iter().map(|a| a["action"].as_str().unwrap()).collect();
    for a in ["resident.add", "resident.phone", "resident.move", "resident.left"] {
        assert!(actions.contains(&a), "{a} in {actions:?}");
    }
    // the audit keeps only the phone's last digits
    assert!(!audit.to_string().contains("13900005678"));
}

#[test]
fn returnees_are_kept_home_for_their_observation_days() {
    let g = GateDir::new();
    let today = chrono::Utc::now().with_timezone(&chrono_tz::Asia::Shanghai).date_naive();
    let arrived = today - chrono::Days::new(3);
    let long_ago = today - chrono::Days::new(30);
    let csv = format!(
        "户号,姓名,网格,来源地,返回日期,包保人\n4-401,吴十,D,武汉,{arrived},王干部\n4-401,郑一,D,北京,{long_ago},\n4-402,冯二,D,上海,明天,\n"
    );
    let file = g.tmp.path().join("back.csv");
    std::fs::write(&file, csv).unwrap();
    let v = json(&g.dir, &["household", "import", file.to_str().unwrap()]);
    assert_eq!(v["added"], 2, "{v}");
    assert_eq!(v["rejections"][0]["line"], 4);
    assert_eq!(v["rejections"][0]["code"], "bad_date");
    let list = json(&g.dir, &["household", "list"]);
    let people: Vec<Value> =
        list.as_array().unwrap().iter().flat_map(|h| h["residents"].as_array().unwrap().clone()).collect();
    let wu = people.iter().find(|r| r["name"] == "吴十").unwrap();
    let until = (arrived + chrono::Days::new(13)).to_string();
    assert_eq!(
        (wu["category"].as_str(), wu["category_until"].as_str()),
        (Some("home_quarantine"), Some(until.as_str())),
        "{wu}"
    );
    assert_eq!((wu["origin"].as_str(), wu["monitor"].as_str()), (Some("武汉"), Some("王干部")));
    let zheng = people.iter().find(|r| r["name"] == "郑一").unwrap();
    assert_eq!(zheng["category"], "normal", "observation over: {zheng}");
    // re-importing changes nothing, and does not undo the committee ending it early
    ok(&g.dir, &["resident", "set-category", "--household", "4-401", "--name", "吴十", "normal"]);
    let v = json(&g.dir, &["household", "import", file.to_str().unwrap()]);
    assert_eq!((v["added"].as_u64(), v["updated"].as_u64()), (Some(0), Some(0)), "{v}");
    let list = json(&g.dir, &["household", "list"]);
    assert!(list.to_string().contains("\"category\":\"normal\""));
    ok(
        &g.dir,
        &["resident", "set-category", "--household", "4-401", "--name", "吴十", "home_quarantine", "--until", &until],
    );
    // the committee's list: days left and the 包保人
    let committee = g.token("committee");
    let d = Daemon::start(&g.dir);
    let home: Value =
        client().get(d.url("/api/v1/followups/home")).bearer_auth(&committee).send().unwrap().json().unwrap();
    let wu = home["people"].as_array().unwrap().iter().find(|p| p["name"] == "吴十").unwrap().clone();
    assert_eq!(
        (wu["observation_until"].as_str(), wu["monitor"].as_str()),
        (Some(until.as_str()), Some("王干部")),
        "{wu}"
    );
    assert_eq!(wu["arrived"], arrived.to_string());
}
