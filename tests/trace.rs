//! The committee traces a case by name on its gate: the case's crossings
//! over the last days and who was at the gate within the window of each
//! (refused people too), against the real daemon.

mod common;

use common::{client, ok, scan, Daemon, GateDir};
use serde_json::{json, Value};

#[test]
fn a_case_is_traced_by_name_with_the_people_around_each_crossing() {
    let g = GateDir::new();
    // 钱七 crossed two hours ago (from the paper book): not near anyone
    let two_hours_ago = (chrono::Utc::now() - chrono::Duration::hours(2)).to_rfc3339();
    ok(
        &g.dir,
        &["scan", "--payload", &g.pass("钱七").payload, "--direction", "out", "--temp", "36.4", "--at", &two_hours_ago],
    );
    let d = Daemon::start(&g.dir);
    let c = client();
    let guard = g.token("guard");
    let committee = g.token("committee");
    for (who, dir) in [("张三", "out"), ("李四", "out"), ("王五", "out")] {
        let r = scan(&c, &d, &guard, json!({"payload": g.pass(who).payload, "direction": dir, "temperature_c": 36.5}));
        assert_eq!(r.status(), 200);
    }
    let get = |q: &str, token: &str| c.get(d.url(&format!("/api/v1/trace?{q}"))).bearer_auth(token).send().unwrap();

    let v: Value = get("name=%E5%BC%A0%E4%B8%89", &committee).json().unwrap();
    let t = &v["trace"];
    assert_eq!(t["resident"]["name"], "张三", "{v}");
    let crossings = t["crossings"].as_array().unwrap();
    assert_eq!(crossings.len(), 1, "{v}");
    assert_eq!(crossings[0]["gate"], "东门");
    let names: Vec<&str> =
        crossings[0]["contacts"].as_array().unwrap().iter().filter_map(|k| k["name"].as_str()).collect();
    // 李四 was refused (one member of the household out at a time) and
    // 王五 (home quarantine) too: both stood at the gate
    assert!(names.contains(&"李四") && names.contains(&"王五"), "{names:?}");
    assert!(!names.contains(&"钱七") && !names.contains(&"张三"), "{names:?}");
    assert_eq!(t["distinct_contacts"], 2);
    assert!(crossings[0]["contacts"][0]["minutes_apart"].as_f64().unwrap().abs() < 5.0);

    // by number, the same; 钱七's own crossing is found over the period
    let id = t["resident"]["id"].as_u64().unwrap();
    let by_id: Value = get(&format!("resident={id}"), &committee).json().unwrap();
    assert_eq!(by_id["trace"]["crossings"].as_array().unwrap().len(), 1);
    let qian: Value = get("name=%E9%92%B1%E4%B8%83", &committee).json().unwrap();
    assert_eq!(qian["trace"]["crossings"].as_array().unwrap().len(), 1, "{qian}");
    assert_eq!(qian["trace"]["distinct_contacts"], 0, "{qian}");

    // bad asks: clear codes, and only the committee may trace
    let code = |r: reqwest::blocking::Response| -> (u16, String) {
        let s = r.status().as_u16();
        let v: Value = r.json().unwrap_or(Value::Null);
        (s, v["error"].as_str().unwrap_or_default().to_string())
    };
    assert_eq!(code(get("name=%E6%97%A0%E4%BA%BA", &committee)), (404, "unknown_resident".into()));
    assert_eq!(code(get("name=", &committee)), (400, "usage".into()));
    assert_eq!(code(get("name=%E5%BC%A0%E4%B8%89&days=0", &committee)), (400, "bad_request".into()));
    assert_eq!(code(get("name=%E5%BC%A0%E4%B8%89&days=61", &committee)), (400, "bad_request".into()));
    assert_eq!(code(get("name=%E5%BC%A0%E4%B8%89&window_minutes=100000", &committee)), (400, "bad_request".into()));
    assert_eq!(get("name=%E5%BC%A0%E4%B8%89", &guard).status(), 403);
}
