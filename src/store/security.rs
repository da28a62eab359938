//! API tokens, page logins, the committee audit trail and the committee's
//! policy override. Secrets are stored hashed only.

use super::{Result, Store, StoreError};
use crate::domain::policy::PolicyDoc;
use rusqlite::{params, OptionalExtension};
use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
pub struct AuditRow {
    pub id: i64,
    pub at: String,
    pub actor: String,
    pub action: String,
    pub detail: serde_json::Value,
}

#[derive(Debug, Clone, Serialize)]
pub struct TokenRow {
    pub role: String,
    pub name: String,
    pub created_at: String,
    pub revoked_at: Option<String>,
    /// First 8 hex digits of the hash: enough to tell tokens apart.
    pub id: String,
}

/// Adds or updates a page login in a database with a `users` table (the
/// gate's and the district's have the same one).
pub(crate) fn upsert_user(
    conn: &rusqlite::Connection,
    name: &str,
    role: &str,
    password_hash: &str,
    now: &str,
) -> Result<()> {
    conn.execute(
        "INSERT INTO users (name, role, password_hash, created_at) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT(name) DO UPDATE SET role = excluded.role, password_hash = excluded.password_hash",
        params![name, role, password_hash, now],
    )?;
    Ok(())
}

/// (role, password hash) of a page login.
pub(crate) fn user(conn: &rusqlite::Connection, name: &str) -> Result<Option<(String, String)>> {
    Ok(conn
        .query_row("SELECT role, password_hash FROM users WHERE name = ?1", [name], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?)
}

impl Store {
    pub fn add_token(&self, hash_hex: &str, role: &str, name: &str, now: &str) -> Result<()> {
        self.conn.execute(
            "INSERT INTO tokens (hash, role, name, created_at) VALUES (?1, ?2, ?3, ?4)",
            params![hash_hex, role, name, now],
        )?;
        Ok(())
    }

    /// (role, name) of an unrevoked token with this hash.
    pub fn token_role(&self, hash_hex: &str) -> Result<Option<(String, String)>> {
        Ok(self
            .conn
            .prepare_cached("SELECT role, name FROM tokens WHERE hash = ?1 AND revoked_at IS NULL")?
            .query_row([hash_hex], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?)
    }

    pub fn tokens(&self) -> Result<Vec<TokenRow>> {
        let mut st =
            self.conn.prepare("SELECT hash, role, name, created_at, revoked_at FROM tokens ORDER BY created_at")?;
        let rows = st
            .query_map([], |r| {
                let h: String = r.get(0)?;
                Ok(TokenRow {
                    id: h.chars().take(8).collect(),
                    role: r.get(1)?,
                    name: r.get(2)?,
                    created_at: r.get(3)?,
                    revoked_at: r.get(4)?,
                })
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows)
    }

    pub fn revoke_token(&self, id_prefix: &str, now: &str) -> Result<()> {
        if id_prefix.len() < 8 || !id_prefix.chars().all(|c| c.is_ascii_hexdigit()) {
            return Err(StoreError::BadTokenId);
        }
        let n = self.conn.execute(
            "UPDATE tokens SET revoked_at = ?2 WHERE substr(hash, 1, 8) = ?1 AND revoked_at IS NULL",
            params![id_prefix.to_ascii_lowercase(), now],
        )?;
        if n == 0 {
            return Err(StoreError::UnknownToken(id_prefix.to_string()));
        }
        Ok(())
    }

    pub fn upsert_user(&self, name: &str, role: &str, password_hash: &str, now: &str) -> Result<()> {
        upsert_user(&self.conn, name, role, password_hash, now)
    }

    /// Removes a page login; false when there was none. A running daemon
    /// ends the user's sessions at their next request (it checks here).
    pub fn remove_user(&self, name: &str) -> Result<bool> {
        Ok(self.conn.execute("DELETE FROM users WHERE name = ?1", [name])? > 0)
    }

    /// (role, password hash) of a page user.
    pub fn user(&self, name: &str) -> Result<Option<(String, String)>> {
        user(&self.conn, name)
    }

    pub fn audit(&self, at: &str, actor: &str, action: &str, detail: &serde_json::Value) -> Result<()> {
        self.conn.execute(
            "INSERT INTO audit (at, actor, action, detail) VALUES (?1, ?2, ?3, ?4)",
            params![at, actor, action, detail.to_string()],
        )?;
        Ok(())
    }

    pub fn audit_log(&self, limit: u32) -> Result<Vec<AuditRow>> {
        let mut st = self.conn.prepare("SELECT id, at, actor, action, detail FROM audit ORDER BY id DESC LIMIT ?1")?;
        let rows = st
            .query_map([limit], |r| {
                let d: String = r.get(4)?;
                Ok(AuditRow {
                    id: r.get(0)?,
                    at: r.get(1)?,
                    actor: r.get(2)?,
                    action: r.get(3)?,
                    detail: serde_json::from_str(&d).unwrap_or(serde_json::Value::String(d)),
                })
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows)
    }

    pub fn policy_override(&self) -> Result<Option<PolicyDoc>> {
        policy_override(&self.conn)
    }

    pub fn set_policy_override(&self, doc: &PolicyDoc) -> Result<()> {
        let json = serde_json::to_string(doc).map_err(|e| StoreError::Encode(format!("the policy: {e}")))?;
        self.conn.execute(
            "INSERT INTO policy_override (id, doc) VALUES (1, ?1) ON CONFLICT(id) DO UPDATE SET doc = excluded.doc",
            [json],
        )?;
        Ok(())
    }
}

/// The committee's policy override, on any connection (the scan reads it
/// inside its own transaction).
pub(super) fn policy_override(conn: &rusqlite::Connection) -> Result<Option<PolicyDoc>> {
    let doc: Option<String> =
        conn.prepare_cached("SELECT doc FROM policy_override WHERE id = 1")?.query_row([], |r| r.get(0)).optional()?;
    // an unreadable override must not quietly fall back to the file's
    // (possibly looser) rules
    match doc {
        None => Ok(None),
        Some(d) => serde_json::from_str(&d)
            .map(Some)
            .map_err(|e| StoreError::Unreadable(format!("the committee's policy override (policy_override.doc): {e}"))),
    }
}
