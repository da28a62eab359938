//! `gatepass demo`: the whole product on any Linux machine. A throw-away
//! village (32 residents in 14 households: some kept in, two essential
//! workers), passes and their card sheet, page logins and API tokens, and
//! the daemon with a simulated thermometer and simulated lamps/relay.

use crate::auth;
use crate::gate::Gate;
use chrono::Utc;
use std::path::PathBuf;

const REGISTER: &str = include_str!("demo_register.csv");

pub const DEMO_USERS: [(&str, &str, &str); 3] =
    [("guard", "1234", "guard"), ("committee", "committee", "committee"), ("district", "district", "district")];

fn demo_config(listen: &str) -> String {
    format!(
        r#"# gatepass demo: simulated devices, trusted clock
simulated = true

[gate]
name = "东门"
community = "阳光花园社区"
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

/// Builds the demo data directory and returns it with the printed lines.
pub fn prepare(dir: &std::path::Path, listen: &str) -> anyhow::Result<(Gate, Vec<String>)> {
    let now = Utc::now();
    std::fs::create_dir_all(dir)?;
    std::fs::write(dir.join(crate::config::FILE_NAME), demo_config(listen))?;
    let mut gate = Gate::init(dir, "阳光花园社区", "东门", now)?;
    let (counts, _) = gate.import_register(REGISTER.as_bytes(), "demo", now)?;
    let tz = gate.policy()?.timezone;
    let passes = gate.issue_passes(None, now.with_timezone(&tz).date_naive(), 30, "demo", now)?;
    let cards = dir.join("cards");
    crate::cards::write_folder(&cards, &gate.identity.community, &passes, &gate.card_options()?)?;
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
    for role in ["guard", "committee", "district"] {
        let r: auth::Role = role.parse().map_err(anyhow::Error::msg)?;
        let (token, _) = gate.create_token(r, &format!("demo {role}"), "demo", now)?;
        lines.push(format!("{role:9} API token: {token}"));
    }
    Ok((gate, lines))
}

pub fn run(listen: &str) -> anyhow::Result<i32> {
    crate::logging::init();
    let addr: std::net::SocketAddr =
        listen.parse().map_err(|_| anyhow::anyhow!("--listen '{listen}' must be address:port, e.g. 127.0.0.1:8080"))?;
    let dir: PathBuf = std::env::temp_dir().join(format!("gatepass-demo-{}", Utc::now().format("%Y%m%d-%H%M%S")));
    let (gate, lines) = prepare(&dir, listen)?;
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
    })?;
    Ok(crate::cli::exit::OK)
}
