//! `district.toml`: the district's settings, parsed once into a validated
//! struct. Unknown keys are refused by name, so a typo in a DHIS2 code's
//! key does not silently fall back to a default.

use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::Path;

pub const FILE_NAME: &str = "district.toml";

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DistrictSection {
    /// The local calendar the daily figures are counted in.
    pub timezone: String,
    /// A reading at or over this line counts as fever.
    pub fever_c: f64,
    /// A gate not heard from for this long is shown as stale.
    pub stale_minutes: u32,
}

impl Default for DistrictSection {
    fn default() -> Self {
        DistrictSection { timezone: "Asia/Shanghai".into(), fever_c: 37.3, stale_minutes: 15 }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Dhis2Section {
    pub data_set: String,
    pub exits: String,
    pub entries: String,
    pub denied: String,
    pub fever: String,
    pub overdue: String,
}

impl Default for Dhis2Section {
    fn default() -> Self {
        Dhis2Section {
            data_set: "GATEPASS_DAILY".into(),
            exits: "GATEPASS_EXITS".into(),
            entries: "GATEPASS_ENTRIES".into(),
            denied: "GATEPASS_DENIED".into(),
            fever: "GATEPASS_FEVER".into(),
            overdue: "GATEPASS_OVERDUE".into(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TraceSection {
    pub window_minutes: u32,
}

impl Default for TraceSection {
    fn default() -> Self {
        TraceSection { window_minutes: 30 }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PullSection {
    pub interval_s: u64,
    /// A gate that has not answered in this time is reported as slow.
    pub timeout_s: u64,
    pub page_size: u32,
    /// The longest wait between tries of a failing gate.
    pub max_backoff_s: u64,
    /// The service re-reads each gate's whole log this often (besides its
    /// first round); 0 = only on the first round.
    pub recheck_hours: u64,
    /// The largest answer read from a gate for one page; a gate sending
    /// more is cut off there (a page of 5000 events is about 4 MB).
    pub max_page_mb: u64,
    /// Pages asked of one gate per round; the rest waits for the next round,
    /// so one gate with an endless log cannot hold up the others.
    pub max_pages: u32,
    /// Time spent on one gate per round, all pages together; what was
    /// stored stays, the rest waits for the next round.
    pub gate_round_s: u64,
    /// Gates asked at the same time: a slow or dead gate holds one slot
    /// for its own timeout, never the others.
    pub concurrency: usize,
}

impl Default for PullSection {
    fn default() -> Self {
        PullSection {
            interval_s: 60,
            timeout_s: 10,
            page_size: 1000,
            max_backoff_s: 1800,
            recheck_hours: 24,
            max_page_mb: 16,
            max_pages: 200,
            gate_round_s: 120,
            concurrency: 32,
        }
    }
}

impl PullSection {
    pub fn max_page_bytes(&self) -> usize {
        usize::try_from(self.max_page_mb.saturating_mul(1 << 20)).unwrap_or(usize::MAX)
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServeSection {
    pub listen: String,
    /// The same connection bounds as the gate's `[gate]` keys: seconds a
    /// new connection has to send its first request head,
    pub header_timeout_s: u32,
    /// seconds a kept-alive connection may sit with no request in flight,
    pub idle_timeout_s: u32,
    /// open connections in all (also kept under the file limit),
    pub max_connections: usize,
    /// and from one address (IPv6: one /64).
    pub max_connections_per_address: usize,
}

impl Default for ServeSection {
    fn default() -> Self {
        ServeSection {
            listen: "127.0.0.1:8090".into(),
            header_timeout_s: 10,
            idle_timeout_s: 60,
            max_connections: 512,
            max_connections_per_address: 64,
        }
    }
}

/// The gate's bounds for the same keys.
const TIMEOUT_S: std::ops::RangeInclusive<u32> = 1..=3600;
const CONNECTIONS: std::ops::RangeInclusive<usize> = 1..=65536;

impl ServeSection {
    /// The connection bounds asked for (`daemon::limits::fit` then fits
    /// the total under the file limit).
    pub fn limits(&self) -> crate::http::ServeLimits {
        crate::http::ServeLimits {
            header_timeout: std::time::Duration::from_secs(self.header_timeout_s.into()),
            idle_timeout: std::time::Duration::from_secs(self.idle_timeout_s.into()),
            max_connections: self.max_connections,
            max_per_address: self.max_connections_per_address.min(self.max_connections),
        }
    }

    fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        for (key, v) in [("header_timeout_s", self.header_timeout_s), ("idle_timeout_s", self.idle_timeout_s)] {
            if !TIMEOUT_S.contains(&v) {
                out.push(format!("serve.{key} = {v} must be 1 to 3600 seconds"));
            }
        }
        for (key, v) in [
            ("max_connections", self.max_connections),
            ("max_connections_per_address", self.max_connections_per_address),
        ] {
            if !CONNECTIONS.contains(&v) {
                out.push(format!("serve.{key} = {v} must be 1 to 65536"));
            }
        }
        out
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DistrictConfig {
    pub district: DistrictSection,
    pub dhis2: Dhis2Section,
    /// Gate name (or `community/gate`) → DHIS2 org unit code.
    pub org_units: BTreeMap<String, String>,
    pub trace: TraceSection,
    pub pull: PullSection,
    pub serve: ServeSection,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{path}: {detail} (fix the file, or move it away and run `gatepass district init` for a fresh one)")]
    Invalid { path: String, detail: String },
    #[error("cannot read {path}: {detail} (is this a district directory? run `gatepass district init` first)")]
    Unreadable { path: String, detail: String },
}

impl DistrictConfig {
    pub fn load(path: &Path) -> Result<DistrictConfig, ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| ConfigError::Unreadable { path: path.display().to_string(), detail: e.to_string() })?;
        Self::parse(&text).map_err(|detail| ConfigError::Invalid { path: path.display().to_string(), detail })
    }

    pub fn parse(text: &str) -> Result<DistrictConfig, String> {
        let c: DistrictConfig = toml::from_str(text).map_err(|e| e.to_string().trim().replace('\n', " "))?;
        c.timezone().map_err(|_| {
            format!("district.timezone '{}' is not a time zone name such as Asia/Shanghai", c.district.timezone)
        })?;
        if !(c.district.fever_c.is_finite() && (35.0..=42.0).contains(&c.district.fever_c)) {
            return Err(format!("district.fever_c {} is not a fever line in °C (e.g. 37.3)", c.district.fever_c));
        }
        if c.pull.interval_s == 0 || c.pull.timeout_s == 0 {
            return Err("pull.interval_s and pull.timeout_s must be at least 1".into());
        }
        if c.pull.max_page_mb == 0 || c.pull.max_pages == 0 || c.pull.gate_round_s == 0 {
            return Err("pull.max_page_mb, pull.max_pages and pull.gate_round_s must be at least 1".into());
        }
        if !(1..=1024).contains(&c.pull.concurrency) {
            return Err("pull.concurrency must be between 1 and 1024 (gates asked at the same time)".into());
        }
        if c.pull.max_page_mb > 1024 {
            return Err("pull.max_page_mb must be at most 1024".into());
        }
        if !(1..=5000).contains(&c.pull.page_size) {
            return Err("pull.page_size must be between 1 and 5000 (the gate's largest page)".into());
        }
        let serve = c.serve.problems();
        if !serve.is_empty() {
            return Err(serve.join("; "));
        }
        Ok(c)
    }

    pub fn timezone(&self) -> Result<chrono_tz::Tz, chrono_tz::ParseError> {
        self.district.timezone.parse()
    }

    /// The org unit code of a gate: `community/gate` first, then the gate name.
    pub fn org_unit(&self, community: &str, gate: &str) -> Option<&str> {
        self.org_units.get(&format!("{community}/{gate}")).or_else(|| self.org_units.get(gate)).map(String::as_str)
    }
}

pub fn default_file() -> String {
    r#"# gatepass district settings

[district]
timezone = "Asia/Shanghai"   # daily figures count local calendar days
fever_c = 37.3               # a reading at or over this line counts as fever
stale_minutes = 15           # a gate not heard from for longer is shown as stale

[pull]
interval_s = 60              # how often `district pull` asks every gate
timeout_s = 10               # a gate slower than this is reported and skipped this round
page_size = 1000             # events per request (the gate allows up to 5000)
max_backoff_s = 1800         # a failing gate is retried less and less often, up to this
recheck_hours = 24           # the service re-reads every gate's whole log this often (0 = only when it starts)
max_page_mb = 16             # a gate's answer for one page is cut off past this size
max_pages = 200              # pages asked of one gate per round; the rest comes next round
gate_round_s = 120           # time spent on one gate per round, all pages together
concurrency = 32             # gates asked at the same time; a dead gate holds up only its own slot

[trace]
window_minutes = 30          # who crossed the same gate within ± this of a case

[serve]
listen = "127.0.0.1:8090"
# header_timeout_s = 10    # a new connection must send its request within this
# idle_timeout_s = 60      # an idle kept-alive connection is closed after this
# max_connections = 512    # open HTTP connections in all (kept under the file limit)
# max_connections_per_address = 64   # from one address; over it the idlest is closed

# DHIS2 data element codes for `district report daily --dhis2`
[dhis2]
data_set = "GATEPASS_DAILY"
exits = "GATEPASS_EXITS"
entries = "GATEPASS_ENTRIES"
denied = "GATEPASS_DENIED"
fever = "GATEPASS_FEVER"
overdue = "GATEPASS_OVERDUE"

# gate name (or "community/gate" when two communities name a gate alike) = DHIS2 org unit code
[org_units]
# "东门" = "OU_SUNNY_EAST"
# "阳光花园/西门" = "OU_SUNNY_WEST"
"#
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_file_parses_and_unknown_keys_are_named() {
        let c = DistrictConfig::parse(&default_file()).unwrap();
        assert_eq!(c.trace.window_minutes, 30);
        assert_eq!(c.pull.interval_s, 60);
        assert_eq!(c.pull.recheck_hours, 24);
        assert_eq!(DistrictConfig::parse("[pull]\nrecheck_hours = 0\n").unwrap().pull.recheck_hours, 0);
        assert_eq!(c.dhis2.exits, "GATEPASS_EXITS");
        assert_eq!((c.pull.max_page_mb, c.pull.max_pages, c.pull.gate_round_s), (16, 200, 120));
        assert_eq!(c.pull.max_page_bytes(), 16 << 20);
        // an old district.toml without the caps gets the defaults
        assert_eq!(DistrictConfig::parse("[pull]\ninterval_s = 30\n").unwrap().pull.max_pages, 200);
        assert!(DistrictConfig::parse("[pull]\nmax_pages = 0\n").unwrap_err().contains("max_pages"));
        assert_eq!(c.pull.concurrency, 32);
        assert_eq!(DistrictConfig::parse("[pull]\ninterval_s = 30\n").unwrap().pull.concurrency, 32);
        assert!(DistrictConfig::parse("[pull]\nconcurrency = 0\n").unwrap_err().contains("pull.concurrency"));
        assert!(DistrictConfig::parse("[pull]\nmax_page = 3\n").unwrap_err().contains("max_page"));
        let e = DistrictConfig::parse("[dhis2]\nexit = 'X'\n").unwrap_err();
        assert!(e.contains("exit"), "{e}");
        let e = DistrictConfig::parse("[district]\ntimezone = 'Mars/Base'\n").unwrap_err();
        assert!(e.contains("Mars/Base"));
    }

    #[test]
    fn serve_connection_keys_have_defaults_and_bounds() {
        let c = DistrictConfig::parse(&default_file()).unwrap();
        let l = c.serve.limits();
        assert_eq!((l.header_timeout.as_secs(), l.idle_timeout.as_secs()), (10, 60));
        assert_eq!((l.max_connections, l.max_per_address), (512, 64));
        let c = DistrictConfig::parse(
            "[serve]\nheader_timeout_s = 2\nidle_timeout_s = 1\nmax_connections = 8\nmax_connections_per_address = 20\n",
        )
        .unwrap();
        let l = c.serve.limits();
        assert_eq!((l.header_timeout.as_secs(), l.idle_timeout.as_secs(), l.max_per_address), (2, 1, 8));
        let e = DistrictConfig::parse("[serve]\nidle_timeout_s = 0\nmax_connections = 70000\n").unwrap_err();
        assert!(e.contains("serve.idle_timeout_s") && e.contains("serve.max_connections"), "{e}");
        let e = DistrictConfig::parse("[serve]\nidle_timeout = 5\n").unwrap_err();
        assert!(e.contains("idle_timeout"), "{e}");
    }

    #[test]
    fn org_units_by_community_first() {
        let c = DistrictConfig::parse("[org_units]\n\"东门\" = \"A\"\n\"阳光花园/东门\" = \"B\"\n").unwrap();
        assert_eq!(c.org_unit("阳光花园", "东门"), Some("B"));
        assert_eq!(c.org_unit("幸福里", "东门"), Some("A"));
        assert_eq!(c.org_unit("幸福里", "西门"), None);
    }
}
