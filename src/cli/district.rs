//! `gatepass district ...`: the district side on the command line. The
//! global `--data-dir` is the district directory (`district.db`,
//! `district.toml`); `--json` gives scripts a stable shape.

use super::{exit, print_json};
use crate::auth::{self, Role};
use crate::district::ingest::import_file;
use crate::district::{pull, report, reset, trace, web, District, DistrictError};
use chrono::{DateTime, Utc};
use clap::Subcommand;
use std::io::BufRead;
use std::path::{Path, PathBuf};

#[derive(Debug, Subcommand)]
pub enum DistrictCmd {
    /// Create a district directory: district.db and a default district.toml.
    Init,
    /// Register a gate daemon: fetches its identity and pins its key.
    AddGate {
        /// The gate's address, e.g. http://10.0.3.7:8080
        #[arg(long)]
        url: String,
        /// A token made on the gate with `gatepass token create --role district`.
        #[arg(long)]
        token: String,
        /// The gate (same key) moved to this address: update its record.
        #[arg(long = "move")]
        moved: bool,
    },
    /// Collect new events from every gate; without --once, keep doing it as a service.
    Pull {
        #[arg(long)]
        once: bool,
        /// Fetch each gate's whole log again and compare it with what was collected.
        #[arg(long)]
        recheck: bool,
    },
    /// Import an `events export` file carried from a gate (USB stick).
    Import { file: PathBuf },
    /// Figures.
    #[command(subcommand)]
    Report(ReportCmd),
    /// A case's crossings and who crossed the same gate around them.
    Trace {
        /// The resident's number (as on the gate).
        #[arg(long)]
        resident: String,
        #[arg(long, default_value_t = 14)]
        days: u32,
        /// Only this community (resident numbers are unique per community).
        #[arg(long)]
        community: Option<String>,
        /// End of the period (RFC 3339 or YYYY-MM-DD, local end of day); default now.
        #[arg(long)]
        until: Option<String>,
    },
    /// The district pages and API.
    Serve {
        /// Overrides [serve] listen in district.toml.
        #[arg(long)]
        listen: Option<String>,
    },
    /// Registered gates, their last contact and chain status.
    Gates,
    /// Release a gate flagged broken, once it was checked on site (recorded in the audit).
    GateReset {
        /// The gate's name, as `district gates` shows it.
        #[arg(long)]
        gate: String,
        /// Needed when two communities have a gate of that name.
        #[arg(long)]
        community: Option<String>,
        /// Accept the gate's new log (the quarantined events); replaced events are kept as superseded.
        #[arg(long, conflicts_with = "discard", required_unless_present = "discard")]
        accept: bool,
        /// Delete the quarantined events; the district keeps what it held.
        #[arg(long)]
        discard: bool,
        /// What was checked on site, for the audit.
        #[arg(long)]
        reason: String,
    },
    /// Every reset of a broken gate: who, when, what and why.
    Audit,
    /// Page logins.
    #[command(subcommand)]
    User(UserCmd),
    /// API tokens for scripts reading the district's figures.
    #[command(subcommand)]
    Token(TokenCmd),
    /// Keep a resident in at every gate of the community: a directive
    /// signed with the district key, delivered on each gate's next contact.
    Mark {
        #[arg(long)]
        community: String,
        /// The resident's number (as in a trace).
        #[arg(long)]
        resident: String,
        /// The category the gates set (close_contact keeps the resident in).
        #[arg(long, default_value = "close_contact")]
        category: String,
        /// Kept in through this day (YYYY-MM-DD); without it, until the committee changes it.
        #[arg(long)]
        until: Option<String>,
    },
    /// The district's public key: `[district] key` in each gate's gatepass.toml.
    Key,
    /// Directives sent, and what each gate did with them.
    Directives,
}

impl DistrictCmd {
    pub(crate) fn is_daemon(&self) -> bool {
        matches!(self, DistrictCmd::Serve { .. } | DistrictCmd::Pull { .. })
    }
}

#[derive(Debug, Subcommand)]
pub enum ReportCmd {
    /// One local day's figures per gate and in total.
    Daily {
        /// YYYY-MM-DD (or today / yesterday).
        #[arg(long)]
        date: String,
        #[arg(long, conflicts_with_all = ["dhis2", "xlsx"])]
        csv: bool,
        /// A DHIS2 dataValueSets document.
        #[arg(long, conflicts_with = "xlsx")]
        dhis2: bool,
        /// An Excel workbook, written to this file.
        #[arg(long, value_name = "FILE")]
        xlsx: Option<PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
pub enum UserCmd {
    /// Add or update a login; the password is read from standard input.
    Add {
        #[arg(long)]
        name: String,
        #[arg(long, default_value = "district")]
        role: String,
    },
    /// Remove a login; its open sessions end at once (a running
    /// `district serve` checks every request against the database).
    Remove {
        #[arg(long)]
        name: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum TokenCmd {
    /// A district API token, printed once (only its hash is kept). With
    /// `--role gate --gate NAME`: the token one gate pushes its events with
    /// (`[district] token` in its gatepass.toml); it pushes for that gate only.
    Create {
        #[arg(long, default_value = "")]
        name: String,
        /// `district` (scripts reading the figures) or `gate` (one gate pushing).
        #[arg(long, default_value = "district")]
        role: String,
        /// The gate this token pushes for (its name as set at the gate's `init`); needs --role gate.
        #[arg(long)]
        gate: Option<String>,
        /// The gate's community, when two communities have a gate of that name.
        #[arg(long, requires = "gate")]
        community: Option<String>,
    },
    /// Revoke district API tokens, by the name given at creation or by the
    /// token itself; a running `district serve` refuses them from the next
    /// request on.
    Revoke {
        /// Every token created with this --name.
        #[arg(long, required_unless_present = "token", conflicts_with = "token")]
        name: Option<String>,
        /// The token itself (only its hash is compared).
        #[arg(long)]
        token: Option<String>,
    },
    /// The tokens there are (name, created); the tokens themselves are not kept.
    List,
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_current_thread().enable_all().build()?)
}

pub fn run(dir: &Path, cmd: DistrictCmd, json: bool) -> anyhow::Result<i32> {
    if let DistrictCmd::Init = cmd {
        let d = District::init(dir)?;
        if json {
            print_json(&serde_json::json!({"data_dir": d.dir, "config": dir.join(crate::district::config::FILE_NAME),
                "database": dir.join(crate::district::DB_NAME)}))?;
        } else {
            println!("created district directory {}", dir.display());
            println!(
                "next: set the DHIS2 codes and [org_units] in {}, then `gatepass district add-gate --url URL --token T`",
                dir.join(crate::district::config::FILE_NAME).display()
            );
        }
        return Ok(exit::OK);
    }
    let mut d = District::open(dir)?;
    let now = Utc::now();
    match cmd {
        DistrictCmd::Init => Ok(exit::OK),
        DistrictCmd::AddGate { url, token, moved } => {
            let (g, new) = runtime()?.block_on(pull::add_gate(&mut d, &url, &token, moved))?;
            if json {
                print_json(&serde_json::json!({"gate": g.name, "community": g.community, "url": g.url,
                    "gate_key": g.gate_key, "new": new}))?;
            } else if new {
                println!(
                    "registered gate '{}' of {} at {}; its key is pinned: {}",
                    g.name, g.community, url, g.gate_key
                );
            } else {
                println!(
                    "gate '{}' of {} was already registered (same key); its address and token are updated",
                    g.name, g.community
                );
            }
            Ok(exit::OK)
        }
        DistrictCmd::Pull { once: true, recheck } => {
            let client = pull::Client::new(&d.config.pull)?;
            let results = runtime()?.block_on(pull::pull_all(&mut d, &client, None, recheck))?;
            if json {
                print_json(&serde_json::json!({ "gates": results }))?;
            } else if results.is_empty() {
                println!("no gates to pull; register one with `gatepass district add-gate --url URL --token T`");
            }
            for p in &results {
                if !json {
                    let line = pull::describe(p);
                    if p.ok && p.chain_status != "broken" {
                        println!("{line}");
                    } else {
                        eprintln!("{line}");
                    }
                }
            }
            Ok(if results.iter().any(|p| p.chain_status == "broken") {
                exit::BROKEN
            } else if results.iter().any(|p| !p.ok) {
                exit::ERROR
            } else {
                exit::OK
            })
        }
        DistrictCmd::Pull { once: false, .. } => {
            eprintln!(
                "pulling every gate each {} s (failing gates less often); Ctrl-C to stop",
                d.config.pull.interval_s
            );
            runtime()?.block_on(pull::run_service(&mut d, |p| {
                let line = format!("{} {}", crate::district::now_text(Utc::now()), pull::describe(p));
                if p.ok && p.chain_status != "broken" {
                    println!("{line}");
                } else {
                    eprintln!("{line}");
                }
            }))?;
            Ok(exit::OK)
        }
        DistrictCmd::Import { file } => {
            let r = match import_file(&mut d, &file, &crate::district::now_text(now)) {
                Ok(r) => r,
                Err(e @ (DistrictError::FileRefused { .. } | DistrictError::ImportGap { .. })) => {
                    if json {
                        let line = match &e {
                            DistrictError::FileRefused { source, .. } => source.line(),
                            _ => None,
                        };
                        print_json(&serde_json::json!({"imported": false, "error": e.to_string(), "line": line}))?;
                    }
                    eprintln!("error: {e}");
                    return Ok(exit::BROKEN);
                }
                Err(e) => return Err(e.into()),
            };
            if json {
                print_json(&r)?;
            } else {
                let span = match (r.first_seq, r.last_seq) {
                    (Some(a), Some(b)) => format!(" (events {a}..{b})"),
                    _ => String::new(),
                };
                println!(
                    "{}: gate '{}' of {}, {} events{span}: {} new, {} already held, {} quarantined",
                    r.file,
                    r.gate,
                    r.community,
                    r.events_in_file,
                    r.counts.added,
                    r.counts.duplicates,
                    r.counts.quarantined
                );
                if r.counts.names > 0 {
                    println!("{} resident names signed by the gate stored", r.counts.names);
                }
                if let Some(n) = r.counts.names_note() {
                    eprintln!("warning: {n}");
                }
                if r.unknown_fields.lines > 0 {
                    eprintln!(
                        "warning: fields outside the gate's signature on {} ({}); ignored, not stored",
                        r.unknown_fields.where_(),
                        r.unknown_fields.fields.join(", ")
                    );
                }
                if r.newly_pinned {
                    println!(
                        "note: this gate was not known; its key {} is now pinned from this file. \
                         Compare it with the key the gate shows (`gatepass events verify`) to be sure of its origin",
                        r.gate_key
                    );
                }
            }
            if r.chain_status == "broken" {
                let detail = d.store.gate_by_key(&r.gate_key)?.and_then(|g| g.chain_detail).unwrap_or_default();
                eprintln!(
                    "!!! CHAIN BROKEN for gate '{}' of {}: {detail}. Its new events are kept apart (quarantine), never counted.",
                    r.gate, r.community
                );
                return Ok(exit::BROKEN);
            }
            Ok(exit::OK)
        }
        DistrictCmd::Report(ReportCmd::Daily { date, csv, dhis2, xlsx }) => {
            let date = report::parse_date(&date, d.tz(), now)?;
            let r = report::daily(&d.store, &d.config, date)?;
            if let Some(file) = xlsx {
                std::fs::write(&file, report::to_xlsx(&r)?)
                    .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", file.display()))?;
                if json {
                    print_json(&serde_json::json!({"date": r.date, "xlsx": file}))?;
                } else {
                    println!("{}: the figures of {} for {} gates", file.display(), r.date, r.gates.len());
                }
            } else if dhis2 {
                let (doc, unmapped) = report::to_dhis2(&r, &d.config)?;
                if !unmapped.is_empty() {
                    eprintln!(
                        "warning: no [org_units] code for {}; using \"community/gate\" as the org unit (map them in district.toml)",
                        unmapped.join(", ")
                    );
                }
                print_json(&doc)?;
            } else if csv {
                print!("{}", report::to_csv(&r)?);
            } else if json {
                print_json(&r)?;
            } else {
                println!("{}  ({})", r.date, d.config.district.timezone);
                println!(
                    "{:<12} {:<12} {:>6} {:>7} {:>6} {:>5} {:>7}",
                    "gate", "community", "exits", "entries", "denied", "fever", "overdue"
                );
                let line = |g: &str, c: &str, n: &report::Counts| {
                    println!(
                        "{:<12} {:<12} {:>6} {:>7} {:>6} {:>5} {:>7}",
                        g, c, n.exits, n.entries, n.denied, n.fever, n.overdue
                    )
                };
                for g in &r.gates {
                    line(&g.gate, &g.community, &g.counts);
                }
                line("total", "", &r.total);
            }
            Ok(exit::OK)
        }
        DistrictCmd::Trace { resident, days, community, until } => {
            let id: crate::domain::ResidentId = resident.trim().parse().map_err(|_| {
                anyhow::anyhow!(
                    "--resident '{resident}' must be the resident's number as shown on the gate (e.g. 10000001)"
                )
            })?;
            let until = match until {
                None => now,
                Some(u) => parse_until(&u, d.tz())?,
            };
            let t = trace::trace(&d.store, &d.config, id, community.as_deref(), days, until)?;
            if json {
                print_json(&t)?;
            } else {
                print_trace(&t, d.tz());
            }
            Ok(exit::OK)
        }
        DistrictCmd::Serve { listen } => {
            let addr = listen.unwrap_or_else(|| d.config.serve.listen.clone());
            crate::logging::init();
            // before any socket is opened, as the gate daemon does
            let files = crate::daemon::limits::raise_nofile();
            let limits = crate::daemon::limits::fit(d.config.serve.limits(), files);
            let state = std::sync::Arc::new(web::AppState::new(d.store, d.config));
            let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::bind(&addr).await.map_err(|e| {
                    anyhow::anyhow!("cannot listen on {addr}: {e} (is another program using the port?)")
                })?;
                let local = listener.local_addr()?;
                // First line, like the gate daemon's: scripts and tests read the
                // port from it. A reader that has gone (a closed pipe) is no
                // reason to stop serving, so write errors are ignored, not a panic.
                {
                    use std::io::Write;
                    let mut out = std::io::stdout().lock();
                    let _ = write!(
                        out,
                        "gatepass district listening on http://{local}\nlog in with a `district user add` account\n"
                    );
                    let _ = out.flush();
                }
                tracing::info!(files = files.soft, max_connections = limits.max_connections, "serving on {local}");
                web::serve(listener, state, limits, crate::daemon::shutdown_signal()).await?;
                anyhow::Ok(())
            })?;
            Ok(exit::OK)
        }
        DistrictCmd::GateReset { gate, community, accept, discard: _, reason } => {
            let g = reset::find_gate(&d, &gate, community.as_deref())?;
            let action = if accept { reset::ResetAction::Accept } else { reset::ResetAction::Discard };
            let r = reset::reset_gate(&mut d, &g, action, &reason, &reset::who(), &crate::district::now_text(now))?;
            if json {
                print_json(&r)?;
            } else {
                println!("gate '{}' of {}: {} by {}: {}", r.gate, r.community, r.action.as_str(), r.who, r.detail);
                if let Some(old) = &r.previous_key {
                    println!("note: key {} is now pinned for this gate instead of {old}", r.gate_key);
                }
            }
            Ok(exit::OK)
        }
        DistrictCmd::Audit => {
            let rows = d.store.audit(None)?;
            if json {
                print_json(&rows)?;
            } else if rows.is_empty() {
                println!("no gate has been reset");
            } else {
                for a in rows {
                    println!(
                        "{} {} {} ({}) {}: {} — {}",
                        a.at, a.who, a.gate, a.community, a.action, a.reason, a.detail
                    );
                }
            }
            Ok(exit::OK)
        }
        DistrictCmd::Gates => {
            let gates = d.store.gates()?;
            if json {
                // Each gate with its resets, so the audit is where the status is.
                let mut rows = Vec::new();
                for g in &gates {
                    let mut v = serde_json::to_value(g)?;
                    if let Some(o) = v.as_object_mut() {
                        o.insert("resets".into(), serde_json::to_value(d.store.audit(Some(g.id))?)?);
                    }
                    rows.push(v);
                }
                print_json(&rows)?;
            } else {
                for g in gates {
                    println!(
                        "{} ({}) {} — {} events up to {}, {} quarantined{}, chain {}{}; last contact {}{}",
                        g.name,
                        g.community,
                        g.url.as_deref().unwrap_or("[by file]"),
                        g.events,
                        g.head_seq,
                        g.quarantined,
                        if g.superseded > 0 { format!(", {} superseded", g.superseded) } else { String::new() },
                        g.chain_status,
                        g.chain_detail.as_deref().map(|x| format!(" ({x})")).unwrap_or_default(),
                        g.last_contact.as_deref().unwrap_or("never"),
                        g.last_error.as_deref().map(|e| format!("; last error: {e}")).unwrap_or_default()
                    );
                }
            }
            Ok(exit::OK)
        }
        DistrictCmd::User(UserCmd::Add { name, role }) => {
            let role: Role = role.parse().map_err(anyhow::Error::msg)?;
            if role != Role::District {
                anyhow::bail!("the district pages only have district logins; use --role district");
            }
            let mut pw = String::new();
            std::io::stdin().lock().read_line(&mut pw)?;
            let pw = pw.trim_end_matches(['\r', '\n']);
            if pw.chars().count() < 8 {
                anyhow::bail!("the password must have at least 8 characters; give it on standard input");
            }
            let hash = auth::hash_password(pw).map_err(anyhow::Error::msg)?;
            d.store.upsert_user(name.trim(), role.as_str(), &hash, &crate::district::now_text(now))?;
            if json {
                print_json(&serde_json::json!({"name": name.trim(), "role": role}))?;
            } else {
                println!("user '{}' can now log in to the district pages", name.trim());
            }
            Ok(exit::OK)
        }
        DistrictCmd::User(UserCmd::Remove { name }) => {
            let name = name.trim();
            if !d.store.remove_user(name)? {
                anyhow::bail!("there is no district login '{name}' (see the users with `district user add`)");
            }
            if json {
                print_json(&serde_json::json!({"removed": name}))?;
            } else {
                println!("user '{name}' removed; their open sessions are ended");
            }
            Ok(exit::OK)
        }
        DistrictCmd::Token(TokenCmd::Revoke { name, token }) => {
            let n = match (&name, &token) {
                (_, Some(t)) => u64::from(d.store.revoke_token(&auth::token_hash(t.trim()))?),
                (Some(n), None) => d.store.revoke_tokens_named(n)?,
                (None, None) => anyhow::bail!("give --name N or --token T"),
            };
            if n == 0 {
                anyhow::bail!("no such district token (see `gatepass district token list`)");
            }
            if json {
                print_json(&serde_json::json!({"revoked": n}))?;
            } else {
                println!("{n} token(s) revoked; the district API refuses them from now on");
            }
            Ok(exit::OK)
        }
        DistrictCmd::Token(TokenCmd::List) => {
            let rows = d.store.tokens()?;
            if json {
                let v: Vec<_> =
                    rows.iter().map(|(n, r, c)| serde_json::json!({"name": n, "role": r, "created_at": c})).collect();
                print_json(&v)?;
            } else if rows.is_empty() {
                println!("no district tokens; make one with `gatepass district token create --name N`");
            } else {
                for (n, r, c) in rows {
                    println!("{c}  {r}  {}", if n.is_empty() { "(no name)" } else { &n });
                }
            }
            Ok(exit::OK)
        }
        DistrictCmd::Key => {
            let key = crate::district::directives::public_key_hex(&d.store)?;
            if json {
                print_json(&serde_json::json!({ "key": key }))?;
            } else {
                println!("{key}");
            }
            Ok(exit::OK)
        }
        DistrictCmd::Mark { community, resident, category, until } => {
            let id: crate::domain::ResidentId = resident.trim().parse().map_err(|_| {
                anyhow::anyhow!("--resident '{resident}' must be the resident's number (e.g. 10000001)")
            })?;
            let category: crate::domain::Category = category.parse().map_err(|e| anyhow::anyhow!("--category: {e}"))?;
            let until = match until {
                None => None,
                Some(u) => Some(
                    chrono::NaiveDate::parse_from_str(u.trim(), "%Y-%m-%d")
                        .map_err(|_| anyhow::anyhow!("--until '{u}' must be a date, e.g. 2026-12-14"))?,
                ),
            };
            let dir = crate::district::directives::mark(
                &d.store,
                &community,
                id,
                category,
                until,
                &reset::who(),
                &crate::district::now_text(now),
            )?;
            if json {
                print_json(&dir)?;
            } else {
                println!(
                    "directive {}: resident {} of {} set to {}{} at every gate of the community, on each gate's next contact",
                    dir.body.id,
                    id,
                    dir.body.community,
                    category.as_str(),
                    until.map(|u| format!(" until {u}")).unwrap_or_default()
                );
            }
            Ok(exit::OK)
        }
        DistrictCmd::Directives => {
            let rows = d.store.directives(500)?;
            if json {
                print_json(&rows)?;
            } else if rows.is_empty() {
                println!("no directives sent (see `district mark`)");
            } else {
                for r in rows {
                    println!(
                        "{} {} by {}: resident {} of {} -> {}{}",
                        r.issued_at,
                        r.id,
                        r.issued_by,
                        r.resident_id,
                        r.community,
                        r.category,
                        r.until.as_deref().map(|u| format!(" until {u}")).unwrap_or_default()
                    );
                    for x in r.deliveries {
                        println!(
                            "    {}: sent {} by {}, {}",
                            x.gate,
                            x.sent_at,
                            x.via,
                            x.result.as_deref().unwrap_or("no answer yet")
                        );
                    }
                }
            }
            Ok(exit::OK)
        }
        DistrictCmd::Token(TokenCmd::Create { name, role, gate, community }) if role == "gate" => {
            let Some(gate) = gate.map(|g| g.trim().to_string()).filter(|g| !g.is_empty()) else {
                anyhow::bail!("a gate token is for one gate: give --gate NAME (the gate's name, as its `init` set it)");
            };
            let community = community.map(|c| c.trim().to_string()).filter(|c| !c.is_empty());
            let name = if name.is_empty() { format!("gate:{gate}") } else { name };
            let token = auth::new_token();
            d.store.add_gate_token(
                &auth::token_hash(&token),
                &name,
                &gate,
                community.as_deref(),
                &crate::district::now_text(now),
            )?;
            if json {
                print_json(&serde_json::json!({"token": token, "role": "gate", "name": name, "gate": gate,
                    "community": community}))?;
            } else {
                println!("{token}");
                eprintln!(
                    "on gate '{gate}': put url = \"<this district's address>\" and token = \"{token}\" under [district] in its gatepass.toml"
                );
            }
            Ok(exit::OK)
        }
        DistrictCmd::Token(TokenCmd::Create { name, role, gate, .. }) => {
            if role != "district" {
                anyhow::bail!("--role must be district or gate");
            }
            if gate.is_some() {
                anyhow::bail!("--gate is for a gate's push token: add --role gate");
            }
            let token = auth::new_token();
            d.store.add_token(
                &auth::token_hash(&token),
                Role::District.as_str(),
                &name,
                &crate::district::now_text(now),
            )?;
            if json {
                print_json(&serde_json::json!({"token": token, "role": "district", "name": name}))?;
            } else {
                println!("{token}");
            }
            Ok(exit::OK)
        }
    }
}

/// RFC 3339, or a date meaning the end of that local day.
fn parse_until(s: &str, tz: chrono_tz::Tz) -> anyhow::Result<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s.trim()) {
        return Ok(t.with_timezone(&Utc));
    }
    let date = report::parse_date(s, tz, Utc::now())
        .map_err(|_| anyhow::anyhow!("--until '{s}' is not a time; write 2026-12-01 or 2026-12-01T18:00:00+08:00"))?;
    let (_, end) = report::day_bounds(date, tz);
    DateTime::from_timestamp_millis(end - 1).ok_or_else(|| anyhow::anyhow!("--until '{s}' is out of range"))
}

fn print_trace(t: &trace::Trace, tz: chrono_tz::Tz) {
    let local = |at: &str| {
        DateTime::parse_from_rfc3339(at)
            .map(|x| x.with_timezone(&tz).format("%Y-%m-%d %H:%M:%S").to_string())
            .unwrap_or_else(|_| at.to_string())
    };
    println!(
        "resident {}{}: {} crossings from {} to {}, contacts within ±{} min: {} people",
        t.resident_id,
        t.community.as_deref().map(|c| format!(" of {c}")).unwrap_or_default(),
        t.crossings.len(),
        local(&t.from),
        local(&t.until),
        t.window_minutes,
        t.distinct_contacts
    );
    for c in &t.crossings {
        println!(
            "{}  {} ({})  {} {}{}",
            local(&c.at),
            c.gate,
            c.community,
            c.direction.as_deref().unwrap_or("?"),
            c.decision,
            c.temperature_c.map(|x| format!(" {x:.1}°C")).unwrap_or_default()
        );
        for k in &c.contacts {
            println!(
                "    {:+6.1} min  {}  resident {}{}  household {}  {} {}",
                k.minutes_apart,
                local(&k.at),
                k.resident_id.map(|i| i.to_string()).unwrap_or_else(|| "unknown".into()),
                k.resident_name.as_deref().map(|n| format!(" ({n})")).unwrap_or_default(),
                k.household.as_deref().unwrap_or("-"),
                k.direction.as_deref().unwrap_or("?"),
                k.decision
            );
        }
    }
}
