//! `gatepass demo`: the whole product on any Linux machine. A throw-away
//! village (32 residents in 14 households: some kept in, two essential
//! workers), passes and their card sheet, page logins and API tokens, and
//! the daemon with a simulated thermometer and simulated lamps/relay; and a
//! district beside it (the next port) that collects the gate every few
//! seconds, so a newcomer sees a scan reach the district's figures.

use crate::auth;
use crate::gate::Gate;
use chrono::Utc;
use std::path::PathBuf;

const REGISTER: &str = include_str!("demo_register.csv");

/// Page logins on the gate. The district's own login (`district` /
/// `district`) is on the district's pages, not here.
pub const DEMO_USERS: [(&str, &str, &str); 2] = [("guard", "1234", "guard"), ("committee", "committee", "committee")];

/// The district beside the demo gate: its page login, and how often it
/// collects (the real default is a minute).
pub const DISTRICT_LOGIN: (&str, &str) = ("district", "district");
const DISTRICT_PULL_S: u64 = 3;

fn demo_config(listen: &str) -> String {
    format!(
        r#"# gatepass demo: simulated devices, trusted clock
simulated = true

[gate]
listen = "{listen}"
trust_clock = true

[thermometer]
kind = "serial"
path = "/dev/ttyUSB0"
baud = 9600
protocol = "text"
pattern = '(\d+\.\d+)'
max_age_ms = 10000
offset_c = 0.0

[scanner]
kind = "none"

[signals]
enabled = true
green_pin = 17
red_pin = 27
buzzer_pin = 22
relay_pin = 23
relay_pulse_ms = 1500

[policy]
fever_c = 37.3
max_members_out = 1
outings_per_period = 1
period_days = 3
hours = "00:00-24:00"
max_outing_minutes = 180
require_temperature = "both"
timezone = "Asia/Shanghai"
"#
    )
}

/// Builds the demo data directory and returns it with the printed lines and
/// the gate's token for the district.
pub fn prepare(dir: &std::path::Path, listen: &str) -> anyhow::Result<(Gate, Vec<String>, String)> {
    let now = Utc::now();
    std::fs::create_dir_all(dir)?;
    std::fs::write(dir.join(crate::config::FILE_NAME), demo_config(listen))?;
    let mut gate = Gate::init(dir, "阳光花园社区", "东门", now)?;
    let (counts, _) = gate.import_register(REGISTER.as_bytes(), "demo", now)?;
    let tz = gate.policy()?.timezone;
    let passes = gate.issue_passes(None, now.with_timezone(&tz).date_naive(), 30, "demo", now)?;
    let cards = dir.join("cards");
    crate::cards::write_folder(&cards, &gate.identity.community, &passes)?;
    for (name, pw, role) in DEMO_USERS {
        let hash = auth::hash_password(pw).map_err(anyhow::Error::msg)?;
        let role: auth::Role = role.parse().map_err(anyhow::Error::msg)?;
        gate.upsert_user(name, role, &hash, "demo", now)?;
    }
    let mut lines = vec![
        format!("demo data:   {} ({} residents)", dir.display(), counts.added),
        format!("card sheet:  {}", cards.join("index.html").display()),
        format!("pass images: {}/<pass_id>.png, list in {}", cards.display(), cards.join("passes.csv").display()),
    ];
    for role in ["guard", "committee"] {
        let r: auth::Role = role.parse().map_err(anyhow::Error::msg)?;
        let (token, _) = gate.create_token(r, &format!("demo {role}"), "demo", now)?;
        lines.push(format!("{role:9} API token: {token}"));
    }
    let (district_token, _) = gate.create_token(auth::Role::District, "demo district", "demo", now)?;
    Ok((gate, lines, district_token))
}

/// The district's address: the port after the gate's (any free port when
/// the gate's was chosen by the system).
fn district_addr(gate: std::net::SocketAddr, asked: u16) -> std::net::SocketAddr {
    let port = if asked == 0 { 0 } else { gate.port().wrapping_add(1).max(1) };
    std::net::SocketAddr::new(gate.ip(), port)
}

/// A district directory with a page login, the demo gate registered, and a
/// short pull interval.
fn prepare_district(dir: &std::path::Path) -> anyhow::Result<()> {
    crate::district::District::init(dir)?;
    let cfg = dir.join(crate::district::config::FILE_NAME);
    let text = std::fs::read_to_string(&cfg)?;
    let text = text.replacen("interval_s = 60 ", &format!("interval_s = {DISTRICT_PULL_S} "), 1);
    std::fs::write(&cfg, text)?;
    let d = crate::district::District::open(dir)?;
    let (name, pw) = DISTRICT_LOGIN;
    let hash = auth::hash_password(pw).map_err(anyhow::Error::msg)?;
    d.store.upsert_user(name, auth::Role::District.as_str(), &hash, &crate::district::now_text(Utc::now()))?;
    Ok(())
}

/// Runs the district beside the gate on its own thread and runtime: it
/// registers the gate, serves its pages and pulls the gate every few
/// seconds. A district that cannot start says why and leaves the gate be.
fn spawn_district(dir: PathBuf, gate_url: String, token: String, addr: std::net::SocketAddr) {
    let run = move || -> anyhow::Result<()> {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::bind(addr)
                .await
                .map_err(|e| anyhow::anyhow!("the demo district cannot listen on {addr}: {e}"))?;
            let local = listener.local_addr()?;
            let mut puller = crate::district::District::open(&dir)?;
            crate::district::pull::add_gate(&mut puller, &gate_url, &token, false).await?;
            let web = crate::district::District::open(&dir)?;
            let state = std::sync::Arc::new(crate::district::web::AppState::new(web.store, web.config));
            let (name, pw) = DISTRICT_LOGIN;
            crate::daemon::say(&format!(
                "  区县页面 district pages:  http://{local}/            (login {name} / {pw}; collects the gate every {DISTRICT_PULL_S} s)\n"
            ));
            let limits = crate::http::ServeLimits::default();
            let serve = crate::district::web::serve(listener, state, limits, crate::daemon::shutdown_signal());
            let pull = crate::district::pull::run_service(&mut puller, |p| {
                if !p.ok {
                    tracing::warn!("demo district: {}", crate::district::pull::describe(p));
                }
            });
            tokio::select! {
                r = serve => r.map_err(anyhow::Error::from),
                r = pull => r.map_err(anyhow::Error::from),
            }
        })
    };
    std::thread::spawn(move || {
        if let Err(e) = run() {
            crate::daemon::say(&format!("  (the demo district did not start: {e:#})\n"));
        }
    });
}

pub fn run(listen: &str) -> anyhow::Result<i32> {
    crate::logging::init();
    let addr: std::net::SocketAddr =
        listen.parse().map_err(|_| anyhow::anyhow!("--listen '{listen}' must be address:port, e.g. 127.0.0.1:8080"))?;
    let dir: PathBuf = std::env::temp_dir().join(format!("gatepass-demo-{}", Utc::now().format("%Y%m%d-%H%M%S")));
    let (gate, lines, district_token) = prepare(&dir, listen)?;
    let district_dir = dir.join("district");
    prepare_district(&district_dir)?;
    crate::daemon::run(gate, addr, move |local| {
        let mut t = String::new();
        t.push('\n');
        t.push_str(&format!("  保安页面 guard page:      http://{local}/guard      (login guard / 1234)\n"));
        t.push_str(&format!("  社区页面 committee pages: http://{local}/committee  (login committee / committee)\n"));
        t.push_str(&format!("  health:                   http://{local}/api/v1/health\n"));
        t.push_str(&format!("  metrics:                  http://{local}/metrics\n"));
        for l in &lines {
            t.push_str(&format!("  {l}\n"));
        }
        t.push_str(
            "  try: curl -s -H \"Authorization: Bearer <guard token>\" -H 'content-type: application/json' \\\n",
        );
        t.push_str(&format!(
            "         -d \"{{\\\"payload\\\": \\\"$(sed -n 2p {}/cards/passes.csv | cut -d, -f4)\\\"}}\" http://{local}/api/v1/scan\n",
            dir.display()
        ));
        t.push_str("  Ctrl-C stops the demo; the data directory stays for you to look at.\n");
        // (a closed standard output is ignored, not a panic)
        crate::daemon::say(&t);
        spawn_district(district_dir, format!("http://{local}"), district_token, district_addr(local, addr.port()));
    })?;
    Ok(crate::cli::exit::OK)
}
