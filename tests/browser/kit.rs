//! A small driver for Debian's chromium over the DevTools protocol
//! (`headless_chrome`): one browser per test, one isolated context (its own
//! cookies and storage) per page, and the few actions the tests need. Every
//! wait is for a condition in the page, polled, with a deadline; a page
//! that never gets there fails the test with what it showed.
//!
//! The pages keep their own Content-Security-Policy: DevTools evaluation is
//! not subject to it, so no bypass is needed, and every violation, console
//! error, uncaught exception and `alert()` is collected for the checks.

use headless_chrome::browser::tab::RequestPausedDecision;
use headless_chrome::protocol::cdp::types::{Event, Method};
use headless_chrome::protocol::cdp::{Emulation, Fetch, Page as Cdp, Runtime};
use headless_chrome::{Browser, LaunchOptions, Tab};
use serde_json::{json, Value};
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long one condition may take to become true in the page.
const WAIT: Duration = Duration::from_secs(10);

/// The chromium binary: `$CHROMIUM`, else Debian's.
pub fn chromium_path() -> PathBuf {
    if let Some(p) = std::env::var_os("CHROMIUM") {
        return PathBuf::from(p);
    }
    ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
        .into_iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!("chromium is not installed (apt-get install chromium fonts-noto-cjk, or set CHROMIUM=/path)")
        })
}

/// A CDP method built from its JSON parameters (the generated structs have
/// no constructors; every optional field defaults).
fn method<M: Method + serde::de::DeserializeOwned>(params: Value) -> M {
    from_json(params)
}

/// Any generated protocol type from JSON.
fn from_json<T: serde::de::DeserializeOwned>(v: Value) -> T {
    serde_json::from_value(v.clone()).unwrap_or_else(|e| panic!("{v} as {}: {e}", std::any::type_name::<T>()))
}

pub struct Chromium {
    browser: Browser,
    _profile: tempfile::TempDir,
}

impl Chromium {
    /// Headless chromium with a fresh profile. As root it needs
    /// `--no-sandbox`; the other switches keep it from reaching for the
    /// network in the background (this machine's closed network would make
    /// it hang or log errors).
    pub fn launch() -> Chromium {
        Chromium::launch_with(&[])
    }

    /// As `launch`, with more switches (a fake camera, a self-signed gate).
    #[allow(dead_code)] // tests/camera.rs
    pub fn launch_with(extra: &[&str]) -> Chromium {
        let profile = tempfile::tempdir().expect("chromium profile dir");
        let mut args: Vec<&OsStr> = [
            "--disable-gpu",
            "--hide-scrollbars",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-features=Translate,MediaRouter,OptimizationHints",
            "--autoplay-policy=no-user-gesture-required",
        ]
        .iter()
        .map(OsStr::new)
        .collect();
        args.extend(extra.iter().map(OsStr::new));
        let opts = LaunchOptions {
            path: Some(chromium_path()),
            headless: true,
            sandbox: false,
            user_data_dir: Some(profile.path().to_path_buf()),
            window_size: Some((1100, 760)),
            idle_browser_timeout: Duration::from_secs(300),
            args,
            ..LaunchOptions::default()
        };
        let browser = Browser::new(opts).unwrap_or_else(|e| panic!("launch {}: {e:#}", chromium_path().display()));
        Chromium { browser, _profile: profile }
    }

    /// A new page in its own browser context, `width`×`height` CSS pixels.
    pub fn page(&self, width: u32, height: u32) -> Page {
        let ctx = self.browser.new_context().expect("browser context");
        let tab = ctx.new_tab().expect("new tab");
        tab.set_default_timeout(WAIT);
        let _ = tab.call_method(method::<Emulation::SetDeviceMetricsOverride>(
            json!({"width": width, "height": height, "deviceScaleFactor": 1, "mobile": false}),
        ));
        tab.enable_log().expect("Log.enable");
        tab.enable_runtime().expect("Runtime.enable");
        // Violations are reported to the document too; keep them where the
        // checks can read them, whatever the console says.
        tab.call_method(method::<Cdp::AddScriptToEvaluateOnNewDocument>(json!({
            "source": "window.__csp = []; document.addEventListener('securitypolicyviolation', \
                       (e) => window.__csp.push(e.violatedDirective + ' ' + e.blockedURI));"
        })))
        .expect("Page.addScriptToEvaluateOnNewDocument");
        let problems = Arc::new(Mutex::new(Vec::new()));
        let dialogs = Arc::new(Mutex::new(Vec::new()));
        let (p, d) = (Arc::clone(&problems), Arc::clone(&dialogs));
        tab.add_event_listener(Arc::new(move |ev: &Event| {
            let line = match ev {
                Event::LogEntryAdded(e) if format!("{:?}", e.params.entry.level) == "Error" => {
                    let e = &e.params.entry;
                    Some(format!("console: {} ({})", e.text, e.url.as_deref().unwrap_or("")))
                }
                Event::RuntimeConsoleAPICalled(e) if format!("{:?}", e.params.Type) == "Error" => {
                    let args: Vec<String> = e
                        .params
                        .args
                        .iter()
                        .map(|a| a.description.clone().unwrap_or_else(|| format!("{:?}", a.value)))
                        .collect();
                    Some(format!("console.error: {}", args.join(" ")))
                }
                Event::RuntimeExceptionThrown(e) => {
                    let d = &e.params.exception_details;
                    let what = d.exception.as_ref().and_then(|x| x.description.clone()).unwrap_or_default();
                    Some(format!("uncaught: {} {what}", d.text))
                }
                Event::PageJavascriptDialogOpening(e) => {
                    if let Ok(mut d) = d.lock() {
                        d.push(e.params.message.clone());
                    }
                    None
                }
                _ => None,
            };
            if let (Some(line), Ok(mut p)) = (line, p.lock()) {
                p.push(line);
            }
        }))
        .expect("event listener");
        Page { tab, problems, dialogs }
    }
}

pub struct Page {
    tab: Arc<Tab>,
    problems: Arc<Mutex<Vec<String>>>,
    dialogs: Arc<Mutex<Vec<String>>>,
}

impl Page {
    /// Runs `source` in every document this page opens, before its own
    /// scripts (to take a browser feature away, say).
    #[allow(dead_code)] // tests/camera.rs
    pub fn before_scripts(&self, source: &str) {
        self.tab
            .call_method(method::<Cdp::AddScriptToEvaluateOnNewDocument>(json!({ "source": source })))
            .expect("Page.addScriptToEvaluateOnNewDocument");
    }

    pub fn goto(&self, url: &str) {
        self.tab.navigate_to(url).unwrap_or_else(|e| panic!("navigate to {url}: {e:#}"));
        self.tab.wait_until_navigated().unwrap_or_else(|e| panic!("load {url}: {e:#}"));
        self.wait("document.readyState === 'complete'", &format!("{url} to load"));
    }

    pub fn url(&self) -> String {
        self.eval("location.href").as_str().unwrap_or_default().to_string()
    }

    /// Evaluates `expr` in the page and returns its value through JSON;
    /// `Err` with the exception's text when it throws (or the page is
    /// between documents).
    pub fn try_eval(&self, expr: &str) -> Result<Value, String> {
        let r = self
            .tab
            .call_method(method::<Runtime::Evaluate>(json!({
                "expression": format!("JSON.stringify((() => {{ return ({expr}); }})())"),
                "returnByValue": true,
                "awaitPromise": false,
            })))
            .map_err(|e| format!("{e:#}"))?;
        if let Some(x) = r.exception_details {
            return Err(x.exception.and_then(|o| o.description).unwrap_or(x.text));
        }
        match r.result.value {
            Some(Value::String(s)) => serde_json::from_str(&s).map_err(|e| e.to_string()),
            _ => Ok(Value::Null), // undefined
        }
    }

    pub fn eval(&self, expr: &str) -> Value {
        self.try_eval(expr).unwrap_or_else(|e| panic!("evaluating {expr}: {e}"))
    }

    /// Waits until `cond` (a JS expression) is truthy in the page; panics
    /// with `what` and the page's address and problems when it never is.
    pub fn wait(&self, cond: &str, what: &str) {
        let end = Instant::now() + WAIT;
        loop {
            let last = match self.try_eval(&format!("!!({cond})")) {
                Ok(Value::Bool(true)) => return,
                Ok(v) => v.to_string(),
                Err(e) => e,
            };
            assert!(self.dialogs().is_empty(), "waiting for {what}: the page opened a dialog {:?}", self.dialogs());
            if Instant::now() > end {
                panic!(
                    "timed out after {WAIT:?} waiting for {what} ({cond} was {last}) on {}\nproblems: {:?}",
                    self.tab.get_url(),
                    self.problems()
                );
            }
            std::thread::sleep(Duration::from_millis(40));
        }
    }

    /// The element's text (`textContent`), trimmed.
    pub fn text(&self, sel: &str) -> String {
        self.wait(&format!("document.querySelector({})", js(sel)), &format!("{sel} to exist"));
        let v = self.eval(&format!("document.querySelector({}).textContent.trim()", js(sel)));
        v.as_str().unwrap_or_default().to_string()
    }

    /// The texts of every element matching `sel`, trimmed.
    pub fn texts(&self, sel: &str) -> Vec<String> {
        let v = self.eval(&format!("[...document.querySelectorAll({})].map((e) => e.textContent.trim())", js(sel)));
        serde_json::from_value(v).unwrap_or_default()
    }

    pub fn count(&self, sel: &str) -> usize {
        self.eval(&format!("document.querySelectorAll({}).length", js(sel))).as_u64().unwrap_or(0) as usize
    }

    /// Sets an input's value as a user's typing would end (input and change
    /// events fire), focused.
    pub fn fill(&self, sel: &str, value: &str) {
        self.wait(&format!("document.querySelector({})", js(sel)), &format!("{sel} to exist"));
        self.eval(&format!(
            "(() => {{ const e = document.querySelector({}); e.focus(); e.value = {}; \
             e.dispatchEvent(new Event('input', {{bubbles: true}})); \
             e.dispatchEvent(new Event('change', {{bubbles: true}})); return true; }})()",
            js(sel),
            js(value)
        ));
    }

    /// Focuses `sel` and presses a key there (real key events).
    pub fn press(&self, sel: &str, key: &str) {
        self.eval(&format!("document.querySelector({}).focus()", js(sel)));
        self.key(key);
    }

    /// A key pressed on whatever has the focus.
    pub fn key(&self, key: &str) {
        self.tab.press_key(key).unwrap_or_else(|e| panic!("press {key}: {e:#}"));
    }

    /// Typed into whatever has the focus, as a USB scanner does: the first
    /// characters key by key (the page moves a scanner's keys out of the
    /// temperature box into the scan input), the rest as one insertion
    /// (each DevTools call costs ~0.1 s here; a 150-character code key by
    /// key took half a minute).
    pub fn type_keys(&self, text: &str) {
        let split = text.char_indices().nth(4).map_or(text.len(), |(i, _)| i);
        let (keys, rest) = text.split_at(split);
        self.tab.type_str(keys).unwrap_or_else(|e| panic!("type {keys}: {e:#}"));
        if !rest.is_empty() {
            self.tab.send_character(rest).unwrap_or_else(|e| panic!("type {rest}: {e:#}"));
        }
    }

    /// A real mouse click in the middle of the first element matching `sel`
    /// (waits for it to exist).
    pub fn click(&self, sel: &str) {
        let el = self.tab.wait_for_element(sel).unwrap_or_else(|e| panic!("{sel} never appeared: {e:#}"));
        el.click().unwrap_or_else(|e| panic!("click {sel}: {e:#}"));
    }

    /// The same for an element found by XPath (for a link by its words).
    pub fn click_xpath(&self, xpath: &str) {
        let el = self.tab.wait_for_xpath(xpath).unwrap_or_else(|e| panic!("{xpath} never appeared: {e:#}"));
        el.click().unwrap_or_else(|e| panic!("click {xpath}: {e:#}"));
    }

    /// Clicks and waits until a new document has loaded in its place.
    pub fn click_and_load(&self, sel: &str) {
        self.eval("window.__old_document = true");
        self.click(sel);
        self.wait(
            "!window.__old_document && document.readyState === 'complete'",
            &format!("a new page after clicking {sel}"),
        );
    }

    pub fn click_xpath_and_load(&self, xpath: &str) {
        self.eval("window.__old_document = true");
        self.click_xpath(xpath);
        self.wait(
            "!window.__old_document && document.readyState === 'complete'",
            &format!("a new page after clicking {xpath}"),
        );
    }

    /// Puts a file in a file input, as choosing it in the dialog would.
    pub fn set_file(&self, sel: &str, name: &str, mime: &str, content: &str) {
        self.eval(&format!(
            "(() => {{ const dt = new DataTransfer(); dt.items.add(new File([{}], {}, {{type: {}}})); \
             const e = document.querySelector({}); e.files = dt.files; \
             e.dispatchEvent(new Event('change', {{bubbles: true}})); return true; }})()",
            js(content),
            js(name),
            js(mime),
            js(sel)
        ));
    }

    /// The response headers of the document now shown (a fresh request for it).
    pub fn header(&self, name: &str) -> String {
        let v = self.tab.call_method(method::<Runtime::Evaluate>(json!({
            "expression": format!(
                "fetch(location.href, {{credentials: 'same-origin'}}).then((r) => r.headers.get({}) || '')",
                js(name)
            ),
            "returnByValue": true,
            "awaitPromise": true,
        })));
        v.ok().and_then(|r| r.result.value).and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default()
    }

    /// From now on `/api/v1/scan` is answered by the browser itself with
    /// `status` and `body` (the daemon is not asked).
    pub fn fake_scan_answer(&self, status: u32, body: &str) {
        use base64::Engine;
        let body = base64::engine::general_purpose::STANDARD.encode(body);
        self.tab
            .enable_fetch(Some(&[from_json::<Fetch::RequestPattern>(json!({"urlPattern": "*/api/v1/scan"}))]), None)
            .expect("Fetch.enable");
        self.tab
            .enable_request_interception(Arc::new(
                move |_transport, _session, ev: Fetch::events::RequestPausedEvent| {
                    RequestPausedDecision::Fulfill(method(json!({
                        "requestId": ev.params.request_id,
                        "responseCode": status,
                        "responseHeaders": [{"name": "Content-Type", "value": "application/json"}],
                        "body": body,
                    })))
                },
            ))
            .expect("request interception");
    }

    pub fn real_scan_answers(&self) {
        self.tab.disable_fetch().expect("Fetch.disable");
    }

    /// Writes what the page shows now to a PNG file.
    pub fn screenshot(&self, path: &Path) {
        let png = self
            .tab
            .capture_screenshot(Cdp::CaptureScreenshotFormatOption::Png, None, None, true)
            .unwrap_or_else(|e| panic!("screenshot {}: {e:#}", path.display()));
        std::fs::write(path, png).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
    }

    /// Content-Security-Policy violations: reported on the console, or to
    /// the document now shown.
    pub fn csp_violations(&self) -> Vec<String> {
        let mut v: Vec<String> =
            self.problems().into_iter().filter(|p| p.to_lowercase().contains("content security policy")).collect();
        let here: Vec<String> = serde_json::from_value(self.eval("window.__csp || []")).unwrap_or_default();
        v.extend(here.into_iter().map(|s| format!("violation: {s}")));
        v
    }

    /// Console errors and uncaught exceptions so far.
    pub fn problems(&self) -> Vec<String> {
        self.problems.lock().map(|p| p.clone()).unwrap_or_default()
    }

    pub fn forget_problems(&self) {
        if let Ok(mut p) = self.problems.lock() {
            p.clear();
        }
    }

    /// Messages of every `alert`/`confirm`/`prompt` the page opened.
    pub fn dialogs(&self) -> Vec<String> {
        self.dialogs.lock().map(|d| d.clone()).unwrap_or_default()
    }
}

/// A Rust string as a JavaScript string literal.
pub fn js(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_default()
}

/// One line per check, as the test goes; a failed check panics with what
/// it wanted and what it got.
#[track_caller]
pub fn check(cond: bool, what: &str, got: impl std::fmt::Debug) {
    assert!(cond, "expected {what}, got {got:?}");
    static START: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    let t = START.get_or_init(Instant::now).elapsed().as_secs_f64();
    println!("ok   {what}  [{t:.1} s]");
}
