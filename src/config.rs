//! `gatepass.toml`: read once, checked whole, passed around as a value.
//!
//! Unknown keys are refused, and every one of them is named (not just the
//! first), so a committee member fixing a file before deployment sees the
//! whole list at once (`gatepass config check`).

use crate::domain::policy::{Policy, PolicyDoc};
use crate::hw::config::HardwareConfig;
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::Path;

pub const FILE_NAME: &str = "gatepass.toml";

/// Keys each section may hold. Kept in one table so `config check` can name
/// every wrong key before the typed parse (which stops at the first).
const SCHEMA: &[(&str, &[&str])] = &[
    (
        "gate",
        &[
            "listen",
            "name",
            "community",
            "share_names",
            "simulated",
            "trust_clock",
            "header_timeout_s",
            "idle_timeout_s",
            "max_connections",
            "max_connections_per_address",
            "tls",
            "tls_cert",
            "tls_key",
            "answer_allow_s",
            "answer_deny_s",
        ],
    ),
    ("thermometer", &["kind", "path", "baud", "protocol", "pattern", "max_age_ms", "offset_c", "bus", "address"]),
    ("scanner", &["kind", "path", "baud", "grab"]),
    (
        "signals",
        &[
            "enabled",
            "green_pin",
            "red_pin",
            "buzzer_pin",
            "relay_pin",
            "relay_pulse_ms",
            "relay_active_low",
            "lamp_ms",
        ],
    ),
    (
        "policy",
        &[
            "fever_c",
            "max_members_out",
            "outings_per_period",
            "period_days",
            "hours",
            "max_outing_minutes",
            "require_temperature",
            "timezone",
            "anti_passback",
            "slots",
            "observation_days",
        ],
    ),
    ("retention", &["days"]),
    // issue 12
    ("cards", &["show_address"]),
    ("followup", &["visits_per_day", "times"]),
    // issue 13: the district this gate pushes its events to
    ("district", &["url", "token", "key", "batch", "max_backoff_s"]),
];
const ROOT_KEYS: &[&str] = &["simulated"];

/// Keys still accepted, so files written by older versions keep working,
/// but no longer read: `config check` warns about each one found.
const RETIRED: &[(&str, &str)] = &[("gate", "name"), ("gate", "community")];
const RETIRED_WHY: &str = "is no longer read: the gate's name and community are set once by `gatepass init` \
     and kept in its database (signed into every event); delete the line";

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GateSection {
    pub listen: String,
    /// Hand residents' names to the district with the events (off: ids only).
    pub share_names: bool,
    pub simulated: Option<bool>,
    /// Treat the wall clock as confirmed even without NTP or an RTC (a gate
    /// whose time is set by hand by the guard each morning).
    pub trust_clock: bool,
    /// Seconds a new HTTP connection has to send its first request head.
    pub header_timeout_s: u32,
    /// Seconds a kept-alive HTTP connection may sit with no request in
    /// flight (the live stream of decisions is a request in flight).
    pub idle_timeout_s: u32,
    /// Open HTTP connections in all (also kept under the file limit).
    pub max_connections: usize,
    /// Open HTTP connections from one address (IPv6: one /64).
    pub max_connections_per_address: usize,
    /// `"off"` (default) or `"self-signed"`: serve https with the
    /// certificate made at `init` (`tls/` in the data directory).
    pub tls: TlsMode,
    /// A certificate (PEM, leaf first) and its key from elsewhere; relative
    /// paths are in the data directory. Both or neither.
    pub tls_cert: Option<std::path::PathBuf>,
    pub tls_key: Option<std::path::PathBuf>,
    /// Seconds the guard screen shows an allowed answer before it clears
    /// itself (0: until tapped); `answer_deny_s` for every other answer.
    pub answer_allow_s: u32,
    pub answer_deny_s: u32,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TlsMode {
    #[default]
    Off,
    SelfSigned,
}

/// Where the daemon's certificate and key come from, if it serves https.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TlsSource {
    SelfSigned,
    Files { cert: std::path::PathBuf, key: std::path::PathBuf },
}

impl GateSection {
    pub fn tls_source(&self) -> Option<TlsSource> {
        match (&self.tls_cert, &self.tls_key, self.tls) {
            (Some(cert), Some(key), _) => Some(TlsSource::Files { cert: cert.clone(), key: key.clone() }),
            (_, _, TlsMode::SelfSigned) => Some(TlsSource::SelfSigned),
            _ => None,
        }
    }

    fn tls_problems(&self) -> Vec<String> {
        match (&self.tls_cert, &self.tls_key, self.tls) {
            (Some(_), None, _) => vec!["gate.tls_cert is set without gate.tls_key: give both files".into()],
            (None, Some(_), _) => vec!["gate.tls_key is set without gate.tls_cert: give both files".into()],
            (Some(_), Some(_), TlsMode::SelfSigned) => vec![
                "gate.tls = \"self-signed\" and gate.tls_cert/tls_key are both set: keep one (the files, or the certificate made at init)".into(),
            ],
            _ => Vec::new(),
        }
    }
}

/// Bounds for the connection keys: a value outside is named by `config check`.
const TIMEOUT_S: std::ops::RangeInclusive<u32> = 1..=3600;
const CONNECTIONS: std::ops::RangeInclusive<usize> = 1..=65536;

impl GateSection {
    fn limit_problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        for (key, v) in [("answer_allow_s", self.answer_allow_s), ("answer_deny_s", self.answer_deny_s)] {
            if v > 600 {
                out.push(format!("gate.{key} = {v} must be 0 (until tapped) to 600 seconds"));
            }
        }
        for (key, v) in [("header_timeout_s", self.header_timeout_s), ("idle_timeout_s", self.idle_timeout_s)] {
            if !TIMEOUT_S.contains(&v) {
                out.push(format!("gate.{key} = {v} must be 1 to 3600 seconds"));
            }
        }
        for (key, v) in [
            ("max_connections", self.max_connections),
            ("max_connections_per_address", self.max_connections_per_address),
        ] {
            if !CONNECTIONS.contains(&v) {
                out.push(format!("gate.{key} = {v} must be 1 to 65536"));
            }
        }
        out
    }
}

impl Default for GateSection {
    fn default() -> Self {
        GateSection {
            listen: "0.0.0.0:8080".into(),
            share_names: false,
            simulated: None,
            trust_clock: false,
            header_timeout_s: 10,
            idle_timeout_s: 60,
            max_connections: 512,
            max_connections_per_address: 64,
            tls: TlsMode::Off,
            tls_cert: None,
            tls_key: None,
            answer_allow_s: 6,
            answer_deny_s: 10,
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetentionSection {
    /// Keep events this many days once the district has collected them
    /// (0 = keep for ever).
    pub days: u32,
}

/// `[cards]`: what a printed card shows.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CardsSection {
    /// Print the full address (default: household code and building only).
    pub show_address: bool,
}

/// `[followup]`: home-quarantine visits (随访).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FollowupSection {
    pub visits_per_day: u32,
    /// Local times the visits are due, `HH:MM`; `visits_per_day` of them.
    pub times: Vec<String>,
}

impl Default for FollowupSection {
    fn default() -> Self {
        FollowupSection { visits_per_day: 2, times: vec!["08:00".into(), "16:00".into()] }
    }
}

/// `[district]`: where the gate pushes its events (issue 13). Without `url`
/// the gate does not push (the district pulls it, or files are carried).
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DistrictLink {
    /// The district's address, e.g. https://district.example.org
    pub url: Option<String>,
    /// A token from `gatepass district token create --role gate --gate NAME`.
    pub token: Option<String>,
    /// The district's public key (hex), pinned for the directives it signs;
    /// without it the gate pins the key of its first successful push.
    pub key: Option<String>,
    /// Events per push.
    pub batch: u32,
    /// The longest wait between tries while the district cannot be reached.
    pub max_backoff_s: u64,
}

impl Default for DistrictLink {
    fn default() -> Self {
        DistrictLink { url: None, token: None, key: None, batch: 500, max_backoff_s: 300 }
    }
}

impl std::fmt::Debug for DistrictLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DistrictLink")
            .field("url", &self.url)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("key", &self.key)
            .field("batch", &self.batch)
            .field("max_backoff_s", &self.max_backoff_s)
            .finish()
    }
}

impl DistrictLink {
    /// The url and token to push with, when both are set.
    pub fn push_to(&self) -> Option<(&str, &str)> {
        Some((self.url.as_deref()?, self.token.as_deref()?))
    }

    fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        if let Some(u) = &self.url {
            if !(u.starts_with("http://") || u.starts_with("https://")) {
                out.push(format!("district.url = '{u}' must start with https:// (or http://)"));
            }
            if self.token.as_deref().is_none_or(|t| t.trim().is_empty()) {
                out.push(
                    "district.token is needed with district.url (`gatepass district token create --role gate --gate NAME` on the district)"
                        .into(),
                );
            }
        }
        if let Some(k) = &self.key {
            if crate::export::parse_key(k).is_none() {
                out.push(format!("district.key = '{k}' is not the district's public key (64 hex digits from `gatepass district key`)"));
            }
        }
        if !(1..=5000).contains(&self.batch) {
            out.push(format!("district.batch = {} must be 1 to 5000", self.batch));
        }
        if !(1..=86_400).contains(&self.max_backoff_s) {
            out.push(format!("district.max_backoff_s = {} must be 1 to 86400", self.max_backoff_s));
        }
        out
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default)]
    simulated: Option<bool>,
    #[serde(default)]
    gate: GateSection,
    #[serde(default)]
    thermometer: Option<toml::Table>,
    #[serde(default)]
    scanner: Option<toml::Table>,
    #[serde(default)]
    signals: Option<toml::Table>,
    #[serde(default)]
    policy: PolicyDoc,
    #[serde(default)]
    retention: RetentionSection,
    #[serde(default)]
    cards: CardsSection,
    #[serde(default)]
    followup: FollowupSection,
    #[serde(default)]
    district: DistrictLink,
}

/// The validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub gate: GateSection,
    pub listen: SocketAddr,
    /// `[policy]` from the file; the committee can override it in the database.
    pub policy: Policy,
    pub retention: RetentionSection,
    pub cards: CardsSection,
    pub followup: crate::domain::followup::Schedule,
    /// `[district]`: pushing events to the district (issue 13).
    pub district: DistrictLink,
    pub simulated: bool,
    pub hardware: HardwareConfig,
    /// Keys that are accepted but not read (see `RETIRED`), one line each.
    pub warnings: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source} (is --data-dir right? run `gatepass init` first)")]
    Read { path: String, source: std::io::Error },
    #[error("{path}: {problems}", problems = .problems.join("; "))]
    Invalid { path: String, problems: Vec<String> },
}

impl Config {
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|source| ConfigError::Read { path: path.display().to_string(), source })?;
        Config::parse(&text).map_err(|problems| ConfigError::Invalid { path: path.display().to_string(), problems })
    }

    /// Parses and checks a whole file; the error lists every problem found.
    pub fn parse(text: &str) -> Result<Config, Vec<String>> {
        let mut table: toml::Table =
            toml::from_str(text).map_err(|e| vec![format!("not valid TOML: {}", e.message())])?;
        let mut problems = unknown_keys(&table);
        let mut warnings = Vec::new();
        for (section, key) in RETIRED {
            if let Some(t) = table.get_mut(*section).and_then(toml::Value::as_table_mut) {
                if t.remove(*key).is_some() {
                    warnings.push(format!("{section}.{key} {RETIRED_WHY}"));
                }
            }
        }
        problems.extend(key_problems(&table));
        if !problems.is_empty() {
            return Err(problems);
        }
        let raw: RawConfig = match RawConfig::deserialize(toml::Value::Table(table)) {
            Ok(r) => r,
            Err(e) => return Err(vec![e.message().to_string()]),
        };
        problems.extend(raw.gate.limit_problems());
        problems.extend(raw.district.problems());
        problems.extend(raw.gate.tls_problems());
        let listen = match raw.gate.listen.parse::<SocketAddr>() {
            Ok(a) => Some(a),
            Err(_) => {
                problems
                    .push(format!("gate.listen = '{}' must be an address:port such as 0.0.0.0:8080", raw.gate.listen));
                None
            }
        };
        let policy = match Policy::default().apply(&raw.policy) {
            Ok(p) => Some(p),
            Err(e) => {
                problems.push(e);
                None
            }
        };
        let followup = match crate::domain::followup::Schedule::parse(raw.followup.visits_per_day, &raw.followup.times)
        {
            Ok(f) => Some(f),
            Err(e) => {
                problems.push(format!("followup: {e}"));
                None
            }
        };
        let hardware = HardwareConfig {
            thermometer: typed("thermometer", raw.thermometer, &mut problems),
            scanner: typed("scanner", raw.scanner, &mut problems),
            signals: typed("signals", raw.signals, &mut problems),
        };
        for check in [hardware.thermometer.validate(), hardware.scanner.validate(), hardware.signals.validate()] {
            if let Err(e) = check {
                problems.push(e);
            }
        }
        match (listen, policy, followup, problems.is_empty()) {
            (Some(listen), Some(policy), Some(followup), true) => Ok(Config {
                simulated: raw.gate.simulated.or(raw.simulated).unwrap_or(false),
                gate: raw.gate,
                listen,
                policy,
                retention: raw.retention,
                cards: raw.cards,
                followup,
                district: raw.district,
                hardware,
                warnings,
            }),
            _ => Err(problems),
        }
    }
}

/// Checks every known key on its own, so each wrong value is reported with
/// its `section.key` (a whole-file parse stops at the first, and its
/// messages do not always say which key).
fn key_problems(table: &toml::Table) -> Vec<String> {
    fn one<T: serde::de::DeserializeOwned>(key: &str, value: &toml::Value) -> Result<T, String> {
        let mut t = toml::Table::new();
        t.insert(key.to_string(), value.clone());
        toml::Value::Table(t).try_into::<T>().map_err(|e| e.message().trim().to_string())
    }
    let mut out = Vec::new();
    if let Some(v) = table.get("simulated") {
        if !v.is_bool() {
            out.push("simulated must be true or false".to_string());
        }
    }
    for (section, keys) in SCHEMA {
        let Some(sec) = table.get(*section).and_then(|v| v.as_table()) else { continue };
        for (key, value) in sec.iter().filter(|(k, _)| keys.contains(&k.as_str())) {
            let checked = match *section {
                "gate" => one::<GateSection>(key, value).and_then(|g| {
                    if key == "listen" && g.listen.parse::<SocketAddr>().is_err() {
                        Err(format!("'{}' must be an address:port such as 0.0.0.0:8080", g.listen))
                    } else {
                        Ok(())
                    }
                }),
                "policy" => one::<PolicyDoc>(key, value).and_then(|doc| {
                    Policy::default().apply(&doc).map(|_| ()).map_err(|e| {
                        e.replace(&format!("policy.{key}"), "").trim_start_matches([':', ' ', '=']).to_string()
                    })
                }),
                "retention" => one::<RetentionSection>(key, value).map(|_| ()),
                "cards" => one::<CardsSection>(key, value).map(|_| ()),
                "followup" => one::<FollowupSection>(key, value).map(|_| ()),
                "district" => one::<DistrictLink>(key, value).map(|_| ()),
                "thermometer" => one::<crate::hw::config::ThermometerConfig>(key, value).map(|_| ()),
                "scanner" => one::<crate::hw::config::ScannerConfig>(key, value).map(|_| ()),
                "signals" => one::<crate::hw::config::SignalsConfig>(key, value).map(|_| ()),
                _ => Ok(()),
            };
            if let Err(e) = checked {
                out.push(format!("{section}.{key}: {e}"));
            }
        }
    }
    out
}

/// A hardware section as its typed struct; a wrong value becomes a problem
/// naming the section, and the defaults stand in so checking goes on.
fn typed<T: serde::de::DeserializeOwned + Default>(
    name: &str,
    t: Option<toml::Table>,
    problems: &mut Vec<String>,
) -> T {
    match t.map(|t| toml::Value::Table(t).try_into::<T>()) {
        None => T::default(),
        Some(Ok(v)) => v,
        Some(Err(e)) => {
            problems.push(format!("[{name}]: {}", e.message()));
            T::default()
        }
    }
}

fn unknown_keys(table: &toml::Table) -> Vec<String> {
    let mut out = Vec::new();
    for (key, value) in table {
        if ROOT_KEYS.contains(&key.as_str()) {
            continue;
        }
        let Some((_, keys)) = SCHEMA.iter().find(|(s, _)| s == key) else {
            out.push(format!("unknown key '{key}'"));
            continue;
        };
        let Some(section) = value.as_table() else {
            out.push(format!("'{key}' must be a [{key}] section"));
            continue;
        };
        for k in section.keys() {
            if !keys.contains(&k.as_str()) {
                out.push(format!("unknown key '{key}.{k}' (known: {})", keys.join(", ")));
            }
        }
    }
    out
}

/// The file `gatepass init` writes: every key a gate needs, with comments.
pub fn default_file(community: &str, gate: &str) -> String {
    // (named in a comment: a line break must not end it)
    let esc = |s: &str| s.chars().map(|c| if c.is_control() { ' ' } else { c }).collect::<String>();
    format!(
        r#"# gatepass configuration. Check it with `gatepass config check`.

# Gate "{gate}" of "{community}": set by `gatepass init`, kept in the database.
[gate]
listen = "0.0.0.0:8080"
share_names = false        # hand residents' names to the district (default: ids only)
# simulated = true         # use simulated devices even on a Raspberry Pi
# header_timeout_s = 10    # a new connection must send its request within this
# idle_timeout_s = 60      # an idle kept-alive connection is closed after this
# max_connections = 512    # open HTTP connections in all (kept under the file limit)
# max_connections_per_address = 64   # from one address; over it the idlest is closed
# answer_allow_s = 6       # the guard screen clears an allowed answer after this (0: until tapped)
# answer_deny_s = 10       # ...and every other answer after this
# tls = "self-signed"      # https with the certificate made at init (phones' cameras need https)
# tls_cert = "/etc/gatepass/cert.pem"  # or a certificate and key from elsewhere
# tls_key = "/etc/gatepass/key.pem"

[thermometer]
kind = "none"              # serial | mlx90614 | none (temperatures typed in by the guard)
# path = "/dev/ttyUSB0"    # serial: any tty, a USB adapter or the Pi's UART
# baud = 9600
# protocol = "text"        # text | gy-mcu90615 | cjmcu-90614
# pattern = '(\d+\.\d+)'   # text: each match is a reading; group 1 is °C
max_age_ms = 10000         # an older reading is not used for a scan
offset_c = 0.0             # added to the raw reading (forehead to body)
# bus = 1                  # mlx90614
# address = 0x5A           # mlx90614

[scanner]
kind = "none"              # none (guard page only) | serial | hid
# path = "/dev/ttyACM0"    # serial: /dev/ttyACM0; hid: /dev/input/by-id/...-event-kbd

[signals]
enabled = false            # GPIO lamps, buzzer and barrier relay (BCM pin numbers)
# green_pin = 17
# red_pin = 27
# buzzer_pin = 22
# relay_pin = 23
# relay_pulse_ms = 1500

[policy]
fever_c = 37.3
max_members_out = 1
outings_per_period = 1
period_days = 3
hours = "06:00-20:00"
max_outing_minutes = 180
require_temperature = "both"   # both | out | in | none
timezone = "Asia/Shanghai"
anti_passback = true

[retention]
days = 0                   # purge collected events older than this (0 = keep)
"#,
        gate = esc(gate),
        community = esc(community)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_file_parses() {
        let text = default_file("Sunny \"Garden\"\n[x]", "east");
        assert!(text.contains("# Gate \"east\" of \"Sunny \"Garden\" [x]\""), "{text}");
        let c = Config::parse(&text).unwrap();
        assert_eq!(c.policy, Policy::default());
        assert_eq!(c.listen.port(), 8080);
        assert!(c.warnings.is_empty(), "{:?}", c.warnings);
    }

    #[test]
    fn retired_gate_name_and_community_are_accepted_with_a_warning() {
        // files written by earlier versions of `init` have them
        let c = Config::parse("[gate]\nname = \"east\"\ncommunity = \"Sunny\"\n").unwrap();
        assert_eq!(c.warnings.len(), 2, "{:?}", c.warnings);
        assert!(c.warnings[0].starts_with("gate.name is no longer read"), "{:?}", c.warnings);
        assert!(c.warnings[1].starts_with("gate.community is no longer read"), "{:?}", c.warnings);
    }

    #[test]
    fn the_guard_screens_answer_times_are_read_and_bounded() {
        let c = Config::parse("").unwrap();
        assert_eq!((c.gate.answer_allow_s, c.gate.answer_deny_s), (6, 10));
        let c = Config::parse("[gate]\nanswer_allow_s = 0\nanswer_deny_s = 30\n").unwrap();
        assert_eq!((c.gate.answer_allow_s, c.gate.answer_deny_s), (0, 30));
        let e = Config::parse("[gate]\nanswer_deny_s = 601\n").unwrap_err();
        assert!(e[0].contains("gate.answer_deny_s"), "{e:?}");
    }

    #[test]
    fn tls_is_off_self_signed_or_two_files() {
        assert_eq!(Config::parse("").unwrap().gate.tls_source(), None);
        let c = Config::parse("[gate]\ntls = \"self-signed\"\n").unwrap();
        assert_eq!(c.gate.tls_source(), Some(TlsSource::SelfSigned));
        let c = Config::parse("[gate]\ntls_cert = \"c.pem\"\ntls_key = \"k.pem\"\n").unwrap();
        assert_eq!(c.gate.tls_source(), Some(TlsSource::Files { cert: "c.pem".into(), key: "k.pem".into() }));
        let e = Config::parse("[gate]\ntls_cert = \"c.pem\"\n").unwrap_err();
        assert!(e[0].contains("without gate.tls_key"), "{e:?}");
        let e = Config::parse("[gate]\ntls = \"self-signed\"\ntls_cert = \"c\"\ntls_key = \"k\"\n").unwrap_err();
        assert!(e[0].contains("keep one"), "{e:?}");
        let e = Config::parse("[gate]\ntls = \"yes\"\n").unwrap_err();
        assert!(e[0].contains("gate.tls") || e[0].contains("unknown variant"), "{e:?}");
    }

    #[test]
    fn names_every_wrong_key() {
        let text = "[gate]\nlisten='0.0.0.0:1'\ncolour='red'\n[policy]\nfever=37\n[thermometer]\nkind='none'\nspeed=3\n[extra]\n";
        let errs = Config::parse(text).unwrap_err();
        let all = errs.join("\n");
        for k in ["gate.colour", "policy.fever", "thermometer.speed", "'extra'"] {
            assert!(all.contains(k), "{k} missing from {all}");
        }
    }

    #[test]
    fn bad_values_are_named() {
        let errs = Config::parse("[gate]\nlisten='nowhere'\n").unwrap_err();
        assert!(errs[0].contains("gate.listen"));
        let errs = Config::parse("[policy]\nhours='6-20'\n").unwrap_err();
        assert!(errs[0].contains("policy.hours"));
        let errs = Config::parse("[policy]\nfever_c='hot'\n").unwrap_err();
        assert!(!errs.is_empty());
        assert!(Config::parse("this is not toml").is_err());
    }

    #[test]
    fn connection_limits_are_read_and_bounded() {
        let c = Config::parse("[gate]\nheader_timeout_s = 2\nidle_timeout_s = 5\nmax_connections = 100\nmax_connections_per_address = 8\n").unwrap();
        assert_eq!((c.gate.header_timeout_s, c.gate.idle_timeout_s), (2, 5));
        assert_eq!((c.gate.max_connections, c.gate.max_connections_per_address), (100, 8));
        let errs = Config::parse("[gate]\nheader_timeout_s = 0\nmax_connections = 0\n").unwrap_err().join("\n");
        assert!(errs.contains("gate.header_timeout_s") && errs.contains("gate.max_connections"), "{errs}");
        let errs = Config::parse("[gate]\nidle_timeout_s = -1\n").unwrap_err().join("\n");
        assert!(errs.contains("gate.idle_timeout_s"), "{errs}");
    }

    #[test]
    fn empty_file_is_all_defaults() {
        let c = Config::parse("").unwrap();
        assert!(!c.simulated);
        assert_eq!(c.policy, Policy::default());
    }
}
