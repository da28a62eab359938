//! `gatepass init | token | user | key | config | audit`

use super::print_json;
use crate::auth::{self, Role};
use crate::config::{self, Config};
use crate::gate::Gate;
use chrono::Utc;
use clap::Subcommand;
use std::io::BufRead;
use std::path::{Path, PathBuf};

pub fn init(dir: &Path, community: &str, gate_name: &str, json: bool) -> anyhow::Result<i32> {
    let gate = Gate::init(dir, community, gate_name, Utc::now())?;
    // made now so turning on `[gate] tls = "self-signed"` later is one line,
    // and the fingerprint can be printed on the committee page from day one
    crate::tls::ensure_self_signed(dir, &crate::tls::default_names(&gate.identity.gate))?;
    if json {
        print_json(&serde_json::json!({
            "data_dir": dir, "community": gate.identity.community, "community_id": gate.identity.community_id,
            "gate": gate.identity.gate, "gate_key": hex::encode(gate.gate_public_key().to_bytes()),
        }))?;
    } else {
        println!("created {} for gate '{}' of '{}'", dir.display(), gate.identity.gate, gate.identity.community);
        println!("next: edit {}, then `gatepass household import register.csv`", dir.join(config::FILE_NAME).display());
    }
    Ok(super::exit::OK)
}

#[derive(Debug, Subcommand)]
pub enum TokenCmd {
    /// Create an API token; it is printed once and only its hash is kept.
    Create {
        #[arg(long)]
        role: String,
        #[arg(long, default_value = "")]
        name: String,
    },
    /// List tokens (never the secrets).
    List,
    /// Revoke a token by the id shown in the list.
    Revoke { id: String },
}

pub fn token(dir: &Path, cmd: TokenCmd, json: bool) -> anyhow::Result<i32> {
    let gate = Gate::open(dir)?;
    match cmd {
        TokenCmd::Create { role, name } => {
            let role: Role = role.parse().map_err(anyhow::Error::msg)?;
            let (token, id) = gate.create_token(role, &name, "cli", Utc::now())?;
            let hash = id;
            if json {
                print_json(&serde_json::json!({"token": token, "role": role, "name": name, "id": hash}))?;
            } else {
                println!("{token}");
            }
        }
        TokenCmd::List => {
            let rows = gate.tokens()?;
            if json {
                print_json(&rows)?;
            } else {
                for t in rows {
                    println!(
                        "{}  {:9}  {}  {}{}",
                        t.id,
                        t.role,
                        t.created_at,
                        t.name,
                        if t.revoked_at.is_some() { "  (revoked)" } else { "" }
                    );
                }
            }
        }
        TokenCmd::Revoke { id } => {
            gate.revoke_token(&id, "cli", Utc::now())?;
            if !json {
                println!("token {id} revoked");
            } else {
                print_json(&serde_json::json!({"id": id, "revoked": true}))?;
            }
        }
    }
    Ok(super::exit::OK)
}

#[derive(Debug, Subcommand)]
pub enum UserCmd {
    /// Add or update a page login. The password is read from standard input (first line).
    Add {
        #[arg(long)]
        name: String,
        #[arg(long)]
        role: String,
    },
    /// Remove a page login; its open page sessions end at once.
    Remove {
        #[arg(long)]
        name: String,
    },
}

pub fn user(dir: &Path, cmd: UserCmd, json: bool) -> anyhow::Result<i32> {
    let gate = Gate::open(dir)?;
    match cmd {
        UserCmd::Add { name, role } => {
            let role: Role = role.parse().map_err(anyhow::Error::msg)?;
            // refuse a bad name before asking for the password
            if let Some(p) = crate::domain::text::name_problem(&name) {
                anyhow::bail!("the user name {p}");
            }
            let mut pw = String::new();
            std::io::stdin().lock().read_line(&mut pw)?;
            let pw = pw.trim_end_matches(['\r', '\n']);
            if pw.chars().count() < 4 {
                anyhow::bail!("the password (or PIN) must have at least 4 characters; give it on standard input");
            }
            let hash = auth::hash_password(pw).map_err(anyhow::Error::msg)?;
            gate.upsert_user(&name, role, &hash, "cli", Utc::now())?;
            if json {
                print_json(&serde_json::json!({"name": name, "role": role}))?;
            } else {
                println!("user '{name}' ({}) can now log in to the pages", role.as_str());
            }
        }
        UserCmd::Remove { name } => {
            let name = name.trim();
            if !gate.remove_user(name, "cli", Utc::now())? {
                anyhow::bail!("no page login '{name}'; check the spelling");
            }
            if json {
                print_json(&serde_json::json!({"name": name, "removed": true}))?;
            } else {
                println!("user '{name}' removed; their open page sessions end now");
            }
        }
    }
    Ok(super::exit::OK)
}

#[derive(Debug, Subcommand)]
pub enum KeyCmd {
    /// Make a new community signing key; passes signed by earlier keys stay valid.
    Rotate,
    /// Stop accepting passes signed by this key.
    Retire { key_id: u16 },
    /// List the community keys.
    List,
}

pub fn key(dir: &Path, cmd: KeyCmd, json: bool) -> anyhow::Result<i32> {
    let mut gate = Gate::open(dir)?;
    let now = Utc::now();
    match cmd {
        KeyCmd::Rotate => {
            let id = gate.rotate_key("cli", now)?;
            if json {
                print_json(&serde_json::json!({"key_id": id}))?;
            } else {
                println!("new community key {id}; new passes are signed with it, earlier passes stay valid until `gatepass key retire`");
            }
        }
        KeyCmd::Retire { key_id } => {
            gate.retire_key(key_id, "cli", now)?;
            if json {
                print_json(&serde_json::json!({"key_id": key_id, "retired": true}))?;
            } else {
                println!("key {key_id} retired: passes signed with it are refused from now on");
            }
        }
        KeyCmd::List => {
            let keys = gate.keys()?;
            if json {
                print_json(&keys)?;
            } else {
                for k in keys {
                    println!(
                        "{}  {}  {}  {}",
                        k.key_id,
                        &k.public_key[..16],
                        k.created_at,
                        k.retired_at.map(|r| format!("retired {r}")).unwrap_or_else(|| "active".into())
                    );
                }
            }
        }
    }
    Ok(super::exit::OK)
}

#[derive(Debug, Subcommand)]
pub enum ConfigCmd {
    /// Validate a gatepass.toml before deployment; names every wrong key.
    Check { file: Option<PathBuf> },
}

pub fn config(dir: &Path, cmd: ConfigCmd, json: bool) -> anyhow::Result<i32> {
    match cmd {
        ConfigCmd::Check { file } => {
            let path = file.unwrap_or_else(|| dir.join(config::FILE_NAME));
            let text =
                std::fs::read_to_string(&path).map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))?;
            match Config::parse(&text) {
                Ok(cfg) => {
                    // accepted but not read: the file still works, say so
                    for w in &cfg.warnings {
                        eprintln!("warning: {}: {w}", path.display());
                    }
                    // the data directory's records a decision needs: every one
                    // that cannot be read is named (scans needing it are refused)
                    let unreadable = match Gate::open(dir) {
                        Ok(g) => g.unreadable_records()?,
                        Err(_) => vec![],
                    };
                    if !unreadable.is_empty() {
                        if json {
                            print_json(
                                &serde_json::json!({"ok": false, "file": path, "unreadable": unreadable, "warnings": cfg.warnings}),
                            )?;
                        }
                        for u in &unreadable {
                            eprintln!("error: unreadable record: {u}");
                        }
                        eprintln!("scans that need these records are refused with reason record_unreadable; correct them (e.g. `gatepass household set-category`) and check again");
                        return Ok(super::exit::ERROR);
                    }
                    if json {
                        print_json(&serde_json::json!({"ok": true, "file": path, "warnings": cfg.warnings}))?;
                    } else {
                        println!("{}: ok", path.display());
                    }
                    Ok(super::exit::OK)
                }
                Err(problems) => {
                    if json {
                        print_json(&serde_json::json!({"ok": false, "file": path, "problems": problems}))?;
                    }
                    for p in &problems {
                        eprintln!("error: {}: {p}", path.display());
                    }
                    Ok(super::exit::ERROR)
                }
            }
        }
    }
}

pub fn audit(dir: &Path, limit: u32, json: bool) -> anyhow::Result<i32> {
    let gate = Gate::open(dir)?;
    let rows = gate.audit_log(limit)?;
    if json {
        print_json(&rows)?;
    } else {
        for r in rows {
            println!("{}  {:12}  {:18}  {}", r.at, r.actor, r.action, r.detail);
        }
    }
    Ok(super::exit::OK)
}

#[derive(Debug, Subcommand)]
pub enum TlsCmd {
    /// Whether the gate serves https, and the certificate's SHA-256
    /// fingerprint (compare it with the one the phone shows).
    Show,
}

pub fn tls(dir: &Path, cmd: TlsCmd, json: bool) -> anyhow::Result<i32> {
    let TlsCmd::Show = cmd;
    let config = Config::load(&dir.join(config::FILE_NAME))?;
    let st = crate::tls::status(dir, &config.gate);
    if json {
        print_json(&st)?;
        return Ok(super::exit::OK);
    }
    match st.mode {
        "off" => println!("https: off (set [gate] tls = \"self-signed\" in {} to serve it)", config::FILE_NAME),
        m => println!("https: on ({m})"),
    }
    if let Some(c) = &st.certificate {
        println!("certificate: {}", c.cert.display());
        println!("SHA-256 fingerprint: {}", c.fingerprint_sha256);
    }
    if let Some(p) = &st.problem {
        anyhow::bail!("{p}");
    }
    if st.certificate.is_none() {
        println!("no certificate yet: one is made when the daemon starts with tls = \"self-signed\"");
    }
    Ok(super::exit::OK)
}
