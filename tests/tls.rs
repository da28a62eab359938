//! HTTPS at the gate, against the real daemon: `[gate] tls = "self-signed"`
//! serves pages over TLS with the certificate made at `init` (trusted here
//! by pinning that very certificate, as a phone does after the guard
//! compares the fingerprint), plain HTTP on the same port is sent to https
//! for pages and still answered for the API, session cookies over TLS are
//! `Secure`, a silent or garbled opening is closed, and a certificate that
//! cannot be read stops the start with a clear message.

mod common;

use common::{bin, json, GateDir};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

fn tls_gate(extra: &str) -> GateDir {
    let extra = extra.to_string();
    GateDir::with_config(move |t| {
        *t = t.replacen("[gate]\n", &format!("[gate]\ntls = \"self-signed\"\n{extra}"), 1);
    })
}

/// A client that trusts only this gate's own certificate.
fn pinned(g: &GateDir) -> reqwest::blocking::Client {
    let pem = std::fs::read(g.dir.join("tls/cert.pem")).unwrap();
    reqwest::blocking::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(&pem).unwrap())
        .tls_built_in_root_certs(false)
        .tls_info(true)
        .redirect(reqwest::redirect::Policy::none())
        .cookie_store(true)
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap()
}

fn plain() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap()
}

fn fingerprint(der: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(der).iter().map(|b| format!("{b:02X}")).collect::<Vec<_>>().join(":")
}

#[test]
fn pages_are_served_over_tls_with_the_certificate_made_at_init() {
    let g = tls_gate("");
    let shown = json(&g.dir, &["tls", "show"]);
    assert_eq!(shown["mode"], "self-signed");
    let fp = shown["certificate"]["fingerprint_sha256"].as_str().unwrap().to_string();

    let d = common::Daemon::start(&g.dir);
    assert!(d.base.starts_with("https://127.0.0.1:"), "{}", d.base);
    let c = pinned(&g);
    let r = c.get(d.url("/guard")).send().unwrap();
    assert_eq!(r.status(), 200);
    let info = r.extensions().get::<reqwest::tls::TlsInfo>().expect("TLS info");
    let served = info.peer_certificate().expect("peer certificate");
    assert_eq!(fingerprint(served), fp, "the certificate served is the one `tls show` names");
    assert!(r.text().unwrap().contains("<html"));

    // the committee page shows the same fingerprint
    let token = g.token("committee");
    let v: serde_json::Value = c.get(d.url("/api/v1/tls")).bearer_auth(&token).send().unwrap().json().unwrap();
    assert_eq!(v["certificate"]["fingerprint_sha256"], fp.as_str());
    let guard = g.token("guard");
    assert_eq!(c.get(d.url("/api/v1/tls")).bearer_auth(&guard).send().unwrap().status(), 403);

    // a scan over https decides as over http
    let p = &g.pass("张三").payload;
    let r = c
        .post(d.url("/api/v1/scan"))
        .bearer_auth(&guard)
        .json(&serde_json::json!({"payload": p, "direction": "out", "temperature_c": 36.5}))
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: serde_json::Value = r.json().unwrap();
    assert_eq!(v["decision"], "allow", "{v}");
}

#[test]
fn plain_http_on_the_same_port_redirects_pages_and_answers_the_api() {
    let g = tls_gate("");
    let d = common::Daemon::start(&g.dir);
    let http_base = d.base.replacen("https://", "http://", 1);
    let c = plain();
    let r = c.get(format!("{http_base}/guard?lang=en")).send().unwrap();
    assert_eq!(r.status(), 308);
    let loc = r.headers()["location"].to_str().unwrap();
    assert_eq!(loc, format!("{}/guard?lang=en", d.base));
    // the API (scripts, the district's pull) still answers on plain http
    let r = c.get(format!("{http_base}/api/v1/health")).send().unwrap();
    assert_eq!(r.status(), 200);
    let v: serde_json::Value = r.json().unwrap();
    assert!(v["database"]["ok"].as_bool().unwrap(), "{v}");
    // a hostile Host is not echoed into a redirect
    let mut s = TcpStream::connect(d.base.trim_start_matches("https://")).unwrap();
    s.write_all(b"GET /guard HTTP/1.1\r\nhost: evil\"><x\r\nconnection: close\r\n\r\n").unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    assert!(!out.to_ascii_lowercase().contains("location: https://evil"), "{out}");
}

#[test]
fn session_cookies_over_tls_are_secure() {
    let g = tls_gate("");
    let mut child = bin()
        .arg("--data-dir")
        .arg(&g.dir)
        .args(["user", "add", "--name", "门卫甲", "--role", "guard"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(b"2468\n").unwrap();
    assert!(child.wait().unwrap().success());
    let d = common::Daemon::start(&g.dir);
    let c = pinned(&g);
    let r = c
        .post(d.url("/api/v1/login"))
        .header("origin", &d.base)
        .json(&serde_json::json!({"name": "门卫甲", "password": "2468"}))
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    let cookie = r.headers()["set-cookie"].to_str().unwrap().to_string();
    assert!(cookie.contains("; Secure"), "{cookie}");
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"), "{cookie}");
    // and the session works over https
    assert_eq!(c.get(d.url("/api/v1/me")).send().unwrap().status(), 200);
}

#[test]
fn silent_and_garbled_openings_are_closed_and_the_gate_keeps_serving() {
    let g = tls_gate("header_timeout_s = 1\n");
    let d = common::Daemon::start(&g.dir);
    let addr = d.base.trim_start_matches("https://").to_string();
    // a socket that never says hello is closed by the header timeout
    let mut silent = TcpStream::connect(&addr).unwrap();
    silent.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let started = Instant::now();
    let mut buf = [0u8; 16];
    let n = silent.read(&mut buf).unwrap_or(0);
    assert_eq!(n, 0, "closed without a word");
    assert!(started.elapsed() < Duration::from_secs(30));
    // a handshake byte followed by garbage is dropped
    let mut junk = TcpStream::connect(&addr).unwrap();
    junk.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    junk.write_all(&[0x16, 0x03, 0x01, 0x00, 0x05, 1, 2, 3, 4, 5, 6, 7, 8]).unwrap();
    let mut rest = Vec::new();
    let _ = junk.read_to_end(&mut rest);
    // the gate still serves
    let r = pinned(&g).get(d.url("/api/v1/health")).send().unwrap();
    assert_eq!(r.status(), 200);
}

#[test]
fn a_certificate_that_cannot_be_read_stops_the_start_clearly() {
    let g = GateDir::with_config(|t| {
        *t = t.replacen("[gate]\n", "[gate]\ntls_cert = \"missing.pem\"\ntls_key = \"missing-key.pem\"\n", 1);
    });
    let out = bin()
        .arg("--data-dir")
        .arg(&g.dir)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("missing.pem"), "{err}");
    assert!(!String::from_utf8_lossy(&out.stdout).contains("listening"), "never serves plain pages instead");

    // files from elsewhere (here: the self-signed pair copied) are served
    let g = GateDir::with_config(|t| {
        *t = t.replacen("[gate]\n", "[gate]\ntls_cert = \"own/c.pem\"\ntls_key = \"own/k.pem\"\n", 1);
    });
    std::fs::create_dir_all(g.dir.join("own")).unwrap();
    std::fs::copy(g.dir.join("tls/cert.pem"), g.dir.join("own/c.pem")).unwrap();
    std::fs::copy(g.dir.join("tls/key.pem"), g.dir.join("own/k.pem")).unwrap();
    assert_eq!(json(&g.dir, &["tls", "show"])["mode"], "files");
    let d = common::Daemon::start(&g.dir);
    assert!(d.base.starts_with("https://"));
    assert_eq!(pinned(&g).get(d.url("/api/v1/health")).send().unwrap().status(), 200);
}

#[test]
fn tls_off_is_plain_http_as_before_and_the_certificate_is_ready() {
    let g = GateDir::new();
    let shown = json(&g.dir, &["tls", "show"]);
    assert_eq!(shown["mode"], "off");
    assert!(shown["certificate"]["fingerprint_sha256"].as_str().unwrap().len() == 95, "{shown}");
    let d = common::Daemon::start(&g.dir);
    assert!(d.base.starts_with("http://"));
    assert_eq!(plain().get(d.url("/guard")).send().unwrap().status(), 200);
}
