//! The phone as a scanner, in a real browser: a gate serving https with its
//! self-signed certificate, Chromium's fake camera playing a video of a
//! printed card, and `BarcodeDetector` taken away (as in Firefox and iOS
//! Safari), so the page must decode with the jsQR it ships. The guard taps
//! "用摄像头扫码" and gets the decision for that card.
//!
//! `#[ignore]`d: it needs Debian's chromium; `.ci/run` installs it and runs
//! `cargo test --test camera -- --ignored`.

// the kit is shared with tests/browser.rs; this test uses part of it
#[path = "browser/kit.rs"]
#[allow(dead_code)]
mod kit;

use kit::{check, Chromium};
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};

const REGISTER: &str = "户号,地址,网格,姓名,电话,类别\n1-101,1号楼101,A,张三,13800000001,正常\n";

fn gp(dir: &Path, args: &[&str], stdin: Option<&str>) -> String {
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

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A 640×480 Y4M video (a few identical frames, grey only) of `payload`'s
/// QR code, as a phone held over a printed card would see it.
fn card_video(payload: &str, path: &Path) {
    let (w, h) = (640usize, 480usize);
    let code = qrcode::QrCode::new(payload.as_bytes()).expect("QR code");
    let qr = code.render::<image::Luma<u8>>().min_dimensions(360, 360).max_dimensions(440, 440).build();
    let (qw, qh) = (qr.width() as usize, qr.height() as usize);
    assert!(qw <= w && qh <= h, "the code fits the frame");
    let mut y = vec![255u8; w * h];
    let (x0, y0) = ((w - qw) / 2, (h - qh) / 2);
    for (x, yy, px) in qr.enumerate_pixels() {
        y[(y0 + yy as usize) * w + x0 + x as usize] = px.0[0];
    }
    let chroma = vec![128u8; (w / 2) * (h / 2)];
    let mut f = std::fs::File::create(path).expect("video file");
    writeln!(f, "YUV4MPEG2 W{w} H{h} F10:1 Ip A1:1 C420jpeg").unwrap();
    for _ in 0..10 {
        f.write_all(b"FRAME\n").unwrap();
        f.write_all(&y).unwrap();
        f.write_all(&chroma).unwrap();
        f.write_all(&chroma).unwrap();
    }
}

#[test]
#[ignore = "needs Debian's chromium; .ci/run installs it and runs this"]
fn a_card_scanned_by_the_phone_camera_without_barcode_detector() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("gate");
    gp(&dir, &["init", "--community", "阳光花园", "--gate", "东门"], None);
    let cfg = dir.join("gatepass.toml");
    let text = std::fs::read_to_string(&cfg).unwrap();
    let text = text
        .replacen("[gate]\n", "[gate]\ntls = \"self-signed\"\n", 1)
        .replace("hours = \"06:00-20:00\"", "hours = \"00:00-24:00\"");
    std::fs::write(&cfg, text).unwrap();
    let reg = tmp.path().join("register.csv");
    std::fs::write(&reg, REGISTER).unwrap();
    gp(&dir, &["household", "import", reg.to_str().unwrap()], None);
    let cards = tmp.path().join("cards");
    gp(&dir, &["pass", "issue", "--all", "--out", cards.to_str().unwrap()], None);
    gp(&dir, &["user", "add", "--name", "门卫", "--role", "guard"], Some("2468\n"));
    gp(&dir, &["user", "add", "--name", "主任", "--role", "committee"], Some("1357\n"));
    let shown: serde_json::Value = serde_json::from_str(&gp(&dir, &["tls", "show", "--json"], None)).unwrap();
    let fp = shown["certificate"]["fingerprint_sha256"].as_str().unwrap().to_string();
    let mut r = csv::Reader::from_path(cards.join("passes.csv")).unwrap();
    let payload = r.records().filter_map(Result::ok).find(|rec| rec.get(2) == Some("张三")).unwrap()[3].to_string();
    let video = tmp.path().join("card.y4m");
    card_video(&payload, &video);

    let mut child = Command::new(env!("CARGO_BIN_EXE_gatepass"))
        .arg("--data-dir")
        .arg(&dir)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let _server = Server(child);
    let base = line.trim().strip_prefix("gatepass listening on ").unwrap().to_string();
    check(base.starts_with("https://"), "the gate serves https", &base);

    let fake = format!("--use-file-for-fake-video-capture={}", video.display());
    let chromium = Chromium::launch_with(&[
        "--use-fake-device-for-media-stream",
        "--use-fake-ui-for-media-stream",
        &fake,
        // the gate's self-signed certificate (a phone asks the guard once)
        "--ignore-certificate-errors",
    ]);
    let page = chromium.page(412, 915);
    page.before_scripts("delete window.BarcodeDetector;");
    page.goto(&format!("{base}/login?next=%2Fguard"));
    page.fill("#login-name", "门卫");
    page.fill("#login-password", "2468");
    page.click("button[type=submit]");
    page.wait("location.pathname === '/guard'", "the login to land on /guard");
    let secure = page.eval("window.isSecureContext && location.protocol === 'https:'");
    check(secure == true, "the guard page is a secure context over https", secure);
    let bd = page.eval("'BarcodeDetector' in window");
    check(bd == false, "BarcodeDetector taken away", bd);
    page.wait("!document.getElementById('camera-btn').hidden", "the camera button to show");
    page.fill("#temp-input", "36.5");
    page.click("#camera-btn");
    page.wait(
        "(() => { const a = document.getElementById('answer'); return a && !a.hidden; })()",
        "a decision from the camera",
    );
    let used = page.eval("typeof window.jsQR === 'function'");
    check(used == true, "the shipped jsQR decoded the frame", used);
    let word = page.text("#answer-word");
    let name = page.text("#answer-name");
    check(word == "可以通行" && name == "张三", "ALLOW for 张三's card seen by the camera", (&word, &name));
    let cam_closed = page.eval("document.getElementById('camera').hidden");
    check(cam_closed == true, "the camera closed after the read", cam_closed);
    shot(&page, "guard-camera-412x915");
    let problems = [page.problems(), page.csp_violations()].concat();
    check(problems.is_empty(), "no console errors or CSP violations", &problems);

    // the committee page shows the fingerprint the phone's warning shows
    let com = chromium.page(412, 915);
    com.goto(&format!("{base}/login?next=%2Fcommittee%23tokens"));
    com.fill("#login-name", "主任");
    com.fill("#login-password", "1357");
    com.click("button[type=submit]");
    com.wait("location.pathname === '/committee'", "the login to land on /committee");
    com.wait("document.getElementById('tls-fingerprint').textContent.length > 0", "the certificate panel");
    let shown = com.text("#tls-fingerprint");
    check(shown.contains(&fp), "the fingerprint on the committee page", &shown);
    let mode = com.text("#tls-mode");
    check(mode.contains("已开启 https"), "https on, in Chinese", &mode);
    com.eval("document.getElementById('tls-panel').scrollIntoView()");
    shot(&com, "committee-tls-412x915");

    // the committee traces 张三 by name: the crossing the camera made
    com.click("button[data-tab=trace]");
    com.fill("#trace-name", "张三");
    com.click("#trace-form button[type=submit]");
    com.wait("document.getElementById('trace-summary').textContent.length > 0", "the trace");
    let summary = com.text("#trace-summary");
    check(summary.contains("张三") && summary.contains("1 次出入"), "张三's one crossing traced", &summary);
    shot(&com, "committee-trace-412x915");
    com.fill("#trace-name", "没有这人");
    com.click("#trace-form button[type=submit]");
    com.wait("document.getElementById('trace-error').textContent.length > 0", "the unknown-name message");
    let err = com.text("#trace-error");
    check(err.contains("登记册里没有这个人"), "an unknown name told in Chinese", &err);
    let problems = [com.problems(), com.csp_violations()].concat();
    check(
        problems.iter().all(|p| p.contains("404")),
        "no console errors or CSP violations on the committee page (the 404 asked for)",
        &problems,
    );
}

/// A screenshot to a scratch folder (kept for a look with
/// `GATEPASS_SHOTS_DIR`), or over `docs/screenshots/` with
/// `GATEPASS_SCREENSHOTS=1`.
fn shot(page: &kit::Page, name: &str) {
    let dir = if std::env::var("GATEPASS_SCREENSHOTS").as_deref() == Ok("1") {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/screenshots")
    } else {
        std::env::var_os("GATEPASS_SHOTS_DIR").map(Into::into).unwrap_or_else(std::env::temp_dir)
    };
    let file = dir.join(format!("{name}.png"));
    page.screenshot(&file);
    let png = std::fs::read(&file).expect("read screenshot");
    check(png.starts_with(b"\x89PNG"), &format!("{name}.png written"), file.display().to_string());
}
