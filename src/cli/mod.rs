//! The command line: one file per group of subcommands, each a thin layer
//! over `Gate` (or the district). Errors become one line on stderr and a
//! non-zero exit code; `--json` gives scripts a stable shape on stdout.

mod admin;
mod district;
mod events;
mod gates;
mod passes;
mod register;
mod scan;
mod visits;

use clap::{Parser, Subcommand};
use std::path::PathBuf;

/// Exit codes scripts can rely on.
pub mod exit {
    pub const OK: i32 = 0;
    pub const ERROR: i32 = 1;
    pub const USAGE: i32 = 2;
    /// `events verify` found a broken chain.
    pub const BROKEN: i32 = 3;
}

#[derive(Debug, Parser)]
#[command(
    name = "gatepass",
    version,
    about = "Checkpoint daemon for a closed-off community: signed QR passes, household outing rules, thermometer, tamper-evident entry log"
)]
pub struct Cli {
    /// The data directory (database, keys, gatepass.toml).
    #[arg(long, global = true, env = "GATEPASS_DATA_DIR", default_value = "/var/lib/gatepass")]
    pub data_dir: PathBuf,
    /// Print JSON for scripts.
    #[arg(long, global = true)]
    pub json: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create a new data directory: database, community signing key, gate key, default gatepass.toml.
    Init {
        #[arg(long)]
        community: String,
        #[arg(long)]
        gate: String,
    },
    /// A throw-away demo community with simulated hardware, served on localhost.
    Demo {
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: String,
    },
    /// Run the gate daemon.
    Serve {
        /// Overrides [gate] listen.
        #[arg(long)]
        listen: Option<String>,
    },
    /// (first directory) Gates of the community: a join code for a new one, or remove one.
    #[command(subcommand)]
    Gate(gates::GateCmd),
    /// On a new gate's Pi: join the community with the code from `gate add`.
    Join {
        /// The community's first gate, e.g. http://10.0.3.7:8080
        #[arg(long)]
        from: String,
        #[arg(long)]
        code: String,
        /// This gate's name, as given to `gate add`.
        #[arg(long)]
        gate: String,
        /// Where the other gates reach this one, e.g. http://10.0.3.8:8080
        #[arg(long)]
        advertise: String,
    },
    /// The other gates of the community: address, last heard from, events behind.
    Peers,
    /// The register of households.
    #[command(subcommand)]
    Household(register::HouseholdCmd),
    /// Residents.
    #[command(subcommand)]
    Resident(register::ResidentCmd),
    /// Issue, list and revoke passes.
    #[command(subcommand)]
    Pass(passes::PassCmd),
    /// Decide a scan exactly as the gate does, and record it.
    Scan(scan::ScanArgs),
    /// Record an outsider, vehicle or delivery at the gate (turned back without an approval).
    Visit(visits::VisitArgs),
    /// Visitor and vehicle approvals (signed passes of kind visitor).
    #[command(subcommand)]
    Visitor(visits::VisitorCmd),
    /// An urgent outing (就医, 急救): let out past the rules, its return watched.
    Exception(visits::ExceptionArgs),
    /// Parcels handed off at the gate.
    #[command(subcommand)]
    Parcel(visits::ParcelCmd),
    /// API tokens.
    #[command(subcommand)]
    Token(admin::TokenCmd),
    /// Page logins (name and password) for guards, committee and district.
    #[command(subcommand)]
    User(admin::UserCmd),
    /// The entry log.
    #[command(subcommand)]
    Events(events::EventsCmd),
    /// Community signing keys.
    #[command(subcommand)]
    Key(admin::KeyCmd),
    /// Configuration.
    #[command(subcommand)]
    Config(admin::ConfigCmd),
    /// The district side: collect gates' logs, verify, report, trace.
    #[command(subcommand)]
    District(district::DistrictCmd),
    /// Measure this machine and disk: scan latency with durable logging, throughput, signing and rendering.
    Bench {
        /// Scans measured one at a time (directly and over HTTP).
        #[arg(long, default_value_t = 300)]
        scans: usize,
        /// Passes signed and rendered.
        #[arg(long, default_value_t = 300)]
        passes: usize,
        /// Seconds of concurrent HTTP load.
        #[arg(long, default_value_t = 3)]
        seconds: u64,
        /// Concurrent HTTP clients.
        #[arg(long, default_value_t = 8)]
        clients: usize,
    },
    /// HTTPS at the gate: the certificate and its fingerprint.
    #[command(subcommand)]
    Tls(admin::TlsCmd),
    /// The committee's audit trail.
    Audit {
        #[arg(long, default_value_t = 50)]
        limit: u32,
    },
}

impl Command {
    /// Commands that serve or run for long: they keep SIGPIPE ignored.
    pub fn is_daemon(&self) -> bool {
        matches!(self, Command::Demo { .. } | Command::Serve { .. } | Command::Bench { .. })
            || matches!(self, Command::District(c) if c.is_daemon())
    }
}

/// Runs a parsed command and returns the exit code.
pub fn run(cli: Cli) -> anyhow::Result<i32> {
    let dir = cli.data_dir.clone();
    let json = cli.json;
    match cli.command {
        Command::Init { community, gate } => admin::init(&dir, &community, &gate, json),
        Command::Demo { listen } => crate::demo::run(&listen),
        Command::Serve { listen } => crate::daemon::serve_data_dir(&dir, listen.as_deref()).map(|()| exit::OK),
        Command::Gate(c) => gates::gate(&dir, c, json),
        Command::Join { from, code, gate, advertise } => gates::join(&dir, &from, &code, &gate, &advertise, json),
        Command::Peers => gates::peers(&dir, json),
        Command::Household(c) => register::household(&dir, c, json),
        Command::Resident(c) => register::resident(&dir, c, json),
        Command::Pass(c) => passes::run(&dir, c, json),
        Command::Scan(a) => scan::run(&dir, a, json),
        Command::Visit(a) => visits::visit(&dir, a, json),
        Command::Visitor(c) => visits::visitor(&dir, c, json),
        Command::Exception(a) => visits::exception(&dir, a, json),
        Command::Parcel(c) => visits::parcel(&dir, c, json),
        Command::Token(c) => admin::token(&dir, c, json),
        Command::User(c) => admin::user(&dir, c, json),
        Command::Events(c) => events::run(&dir, c, json),
        Command::Key(c) => admin::key(&dir, c, json),
        Command::Config(c) => admin::config(&dir, c, json),
        Command::District(c) => district::run(&dir, c, json),
        Command::Audit { limit } => admin::audit(&dir, limit, json),
        Command::Tls(c) => admin::tls(&dir, c, json),
        Command::Bench { scans, passes, seconds, clients } => {
            let opts = crate::bench::BenchOptions {
                scans: scans.max(1),
                passes: passes.max(1),
                load_seconds: seconds,
                clients: clients.max(1),
            };
            let r = crate::bench::run(&dir, opts)?;
            if json {
                print_json(&r)?;
            } else {
                crate::bench::print(&r);
            }
            Ok(exit::OK)
        }
    }
}

pub(crate) fn print_json(v: &impl serde::Serialize) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(v)?);
    Ok(())
}

/// `YYYY-MM-DD`, with an error a committee member understands.
pub(crate) fn parse_date(s: &str, flag: &str) -> anyhow::Result<chrono::NaiveDate> {
    s.trim().parse().map_err(|_| anyhow::anyhow!("{flag} '{s}' is not a date; write it as YYYY-MM-DD, e.g. 2026-12-01"))
}

/// Who is on duty for an event recorded from the command line: the
/// `--operator` given, or "cli".
pub(crate) fn operator_name(given: Option<&str>) -> anyhow::Result<String> {
    match given.map(str::trim).filter(|s| !s.is_empty()) {
        None => Ok("cli".into()),
        Some(n) => match crate::domain::text::name_problem(n) {
            Some(p) => anyhow::bail!("--operator {p}"),
            None => Ok(n.to_string()),
        },
    }
}
