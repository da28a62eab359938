//! The other gates of the community: one-time join codes (their hashes),
//! each peer's address, key and credentials, and the snapshot of the
//! committee's state a new gate starts from.

use super::{Result, Store, StoreError};
use rusqlite::types::Value;
use rusqlite::{params, OptionalExtension};
use serde::Serialize;

/// A gate of the same community, as this gate knows it.
#[derive(Debug, Clone, Serialize)]
pub struct PeerRow {
    pub gate: String,
    pub url: String,
    pub gate_key: String,
    pub added_at: String,
    pub removed_at: Option<String>,
    pub last_heard_at: Option<String>,
    /// Their newest event this gate holds (0: none yet).
    pub heard_seq: u64,
    /// Events they have that this gate does not, as of the last contact.
    pub behind: Option<u64>,
    #[serde(skip)]
    pub outbound_token: String,
}

/// What a join code is for, found by its gate name.
#[derive(Debug, Clone)]
pub struct PendingJoin {
    pub gate: String,
    pub code_hash: String,
    pub expires_at_ms: i64,
}

/// The committee's tables a new gate copies whole at join. Later changes
/// travel in the committee log.
pub const SNAPSHOT_TABLES: &[&str] = &["households", "residents", "passes", "policy_override"];

/// A table's rows as column names and values (text, integer, real, null).
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct TableRows {
    pub table: String,
    pub columns: Vec<String>,
    pub rows: Vec<Vec<serde_json::Value>>,
}

impl Store {
    /// Stores a new join code for `gate` (replacing an unused one for the
    /// same name).
    pub fn add_join_code(&self, gate: &str, code_hash: &str, expires_at_ms: i64, by: &str, now: &str) -> Result<()> {
        self.conn.execute("DELETE FROM join_codes WHERE gate = ?1 AND used_at IS NULL", [gate])?;
        self.conn.execute(
            "INSERT INTO join_codes (code_hash, gate, created_at, created_by, expires_at_ms) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![code_hash, gate, now, by, expires_at_ms],
        )?;
        Ok(())
    }

    /// The unused code for `gate`, if any (expired ones too: the caller says why).
    pub fn pending_join(&self, gate: &str) -> Result<Option<PendingJoin>> {
        Ok(self
            .conn
            .query_row(
                "SELECT gate, code_hash, expires_at_ms FROM join_codes WHERE gate = ?1 AND used_at IS NULL",
                [gate],
                |r| Ok(PendingJoin { gate: r.get(0)?, code_hash: r.get(1)?, expires_at_ms: r.get(2)? }),
            )
            .optional()?)
    }

    /// Marks the code used and records the peer, in one transaction: a
    /// code that was used meanwhile (a second request racing the first)
    /// adds nothing and answers false.
    pub fn use_join_code(
        &mut self,
        code_hash: &str,
        peer: &PeerRow,
        inbound_token_hash: &str,
        now: &str,
    ) -> Result<bool> {
        let tx = self.conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let n = tx.execute(
            "UPDATE join_codes SET used_at = ?2 WHERE code_hash = ?1 AND used_at IS NULL",
            params![code_hash, now],
        )?;
        if n != 1 {
            return Ok(false);
        }
        insert_peer(&tx, peer, inbound_token_hash)?;
        tx.commit()?;
        Ok(true)
    }

    pub fn add_peer(&self, peer: &PeerRow, inbound_token_hash: &str) -> Result<()> {
        insert_peer(&self.conn, peer, inbound_token_hash)
    }

    /// Every peer, removed ones last.
    pub fn peers(&self) -> Result<Vec<PeerRow>> {
        let mut st = self.conn.prepare(
            "SELECT gate, url, gate_key, added_at, removed_at, last_heard_at, heard_seq, behind, outbound_token
             FROM peers ORDER BY removed_at IS NOT NULL, gate",
        )?;
        let rows = st.query_map([], |r| {
            Ok(PeerRow {
                gate: r.get(0)?,
                url: r.get(1)?,
                gate_key: r.get(2)?,
                added_at: r.get(3)?,
                removed_at: r.get(4)?,
                last_heard_at: r.get(5)?,
                heard_seq: r.get::<_, i64>(6).map(|v| u64::try_from(v).unwrap_or(0))?,
                behind: r.get::<_, Option<i64>>(7)?.and_then(|v| u64::try_from(v).ok()),
                outbound_token: r.get(8)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// The active peer whose inbound token hashes to `hash`.
    pub fn peer_by_token(&self, hash: &str) -> Result<Option<String>> {
        Ok(self
            .conn
            .query_row("SELECT gate FROM peers WHERE inbound_token_hash = ?1 AND removed_at IS NULL", [hash], |r| {
                r.get(0)
            })
            .optional()?)
    }

    /// Ends a peer's credentials (both ways); its history stays.
    pub fn remove_peer(&self, gate: &str, now: &str) -> Result<bool> {
        let n = self.conn.execute(
            "UPDATE peers SET removed_at = ?2, outbound_token = '' WHERE gate = ?1 AND removed_at IS NULL",
            params![gate, now],
        )?;
        self.conn.execute("DELETE FROM join_codes WHERE gate = ?1 AND used_at IS NULL", [gate])?;
        Ok(n == 1)
    }

    /// The committee's tables, whole, for a joining gate.
    pub fn snapshot(&self) -> Result<Vec<TableRows>> {
        let mut out = Vec::new();
        for table in SNAPSHOT_TABLES {
            // in row order, so the same tables always give the same text (and hash)
            let mut st = self.conn.prepare(&format!("SELECT * FROM {table} ORDER BY rowid"))?;
            let columns: Vec<String> = st.column_names().into_iter().map(str::to_string).collect();
            let n = columns.len();
            let rows = st.query_map([], |r| {
                (0..n)
                    .map(|i| {
                        r.get::<_, Value>(i).map(|v| match v {
                            Value::Null => serde_json::Value::Null,
                            Value::Integer(i) => i.into(),
                            Value::Real(f) => f.into(),
                            Value::Text(t) => t.into(),
                            // the committee's tables hold no blobs
                            Value::Blob(_) => serde_json::Value::Null,
                        })
                    })
                    .collect::<rusqlite::Result<Vec<_>>>()
            })?;
            out.push(TableRows { table: (*table).to_string(), columns, rows: rows.collect::<rusqlite::Result<_>>()? });
        }
        Ok(out)
    }

    /// Loads a snapshot into this (new, empty) database in one transaction.
    /// Only the snapshot's tables, and only columns this schema has, are
    /// written; anything else is refused whole.
    pub fn load_snapshot(&mut self, tables: &[TableRows]) -> Result<()> {
        if let Some(t) = tables.iter().find(|t| !SNAPSHOT_TABLES.contains(&t.table.as_str())) {
            return Err(StoreError::Unreadable(format!("snapshot table '{}' is not one a gate copies", t.table)));
        }
        let tx = self.conn.transaction()?;
        insert_tables(&tx, tables)?;
        tx.commit()?;
        Ok(())
    }

    /// The community's public keys as rows (for the committee's state).
    pub fn key_rows(&self) -> Result<TableRows> {
        let mut st = self
            .conn
            .prepare("SELECT key_id, public_key, created_at, retired_at FROM community_keys ORDER BY key_id")?;
        let rows = st.query_map([], |r| {
            Ok(vec![
                serde_json::Value::from(r.get::<_, i64>(0)?),
                serde_json::Value::from(r.get::<_, String>(1)?),
                serde_json::Value::from(r.get::<_, String>(2)?),
                r.get::<_, Option<String>>(3)?.map(serde_json::Value::from).unwrap_or(serde_json::Value::Null),
            ])
        })?;
        Ok(TableRows {
            table: "community_keys".into(),
            columns: ["key_id", "public_key", "created_at", "retired_at"].map(String::from).to_vec(),
            rows: rows.collect::<rusqlite::Result<_>>()?,
        })
    }

    /// A community public key as the first gate numbered it.
    pub fn add_key_with_id(
        &self,
        key_id: u16,
        public_key_hex: &str,
        created_at: &str,
        retired_at: Option<&str>,
    ) -> Result<()> {
        self.conn.execute(
            "INSERT INTO community_keys (key_id, public_key, created_at, retired_at) VALUES (?1, ?2, ?3, ?4)",
            params![key_id, public_key_hex, created_at, retired_at],
        )?;
        Ok(())
    }
}

/// Another gate's chain as this gate holds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HeldChain {
    pub gate: String,
    pub gate_key: String,
    /// Newest event held (0: none).
    pub head: u64,
}

impl Store {
    /// The key pinned for `gate`'s chain, if any.
    pub fn gate_key_of(&self, gate: &str) -> Result<Option<String>> {
        Ok(self.conn.query_row("SELECT gate_key FROM gate_keys WHERE gate = ?1", [gate], |r| r.get(0)).optional()?)
    }

    /// Pins `gate`'s key the first time it is learned; a later, different
    /// key is not taken (the caller reports it).
    pub fn pin_gate_key(&self, gate: &str, key: &str, from: &str, now: &str) -> Result<bool> {
        self.conn.execute(
            "INSERT OR IGNORE INTO gate_keys (gate, gate_key, learned_from, learned_at) VALUES (?1, ?2, ?3, ?4)",
            params![gate, key, from, now],
        )?;
        Ok(self.gate_key_of(gate)?.as_deref() == Some(key))
    }

    /// Every other gate's chain held here, with its key.
    pub fn held_chains(&self) -> Result<Vec<HeldChain>> {
        let mut st = self.conn.prepare(
            "SELECT k.gate, k.gate_key, COALESCE((SELECT MAX(seq) FROM peer_events e WHERE e.gate = k.gate), 0)
             FROM gate_keys k ORDER BY k.gate",
        )?;
        let rows = st.query_map([], |r| {
            Ok(HeldChain {
                gate: r.get(0)?,
                gate_key: r.get(1)?,
                head: u64::try_from(r.get::<_, i64>(2)?).unwrap_or(0),
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// The newest (seq, hash) held of `gate`'s chain, or (0, genesis).
    pub fn peer_head(&self, gate: &str) -> Result<(u64, String)> {
        let row: Option<(i64, String)> = self
            .conn
            .query_row("SELECT seq, hash FROM peer_events WHERE gate = ?1 ORDER BY seq DESC LIMIT 1", [gate], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .optional()?;
        Ok(match row {
            Some((s, h)) => (u64::try_from(s).unwrap_or(0), h),
            None => (0, crate::domain::chain::GENESIS.to_string()),
        })
    }

    /// Stores a verified run of `gate`'s events in one transaction (one
    /// fsync for the batch). Events already held are skipped.
    /// (A savepoint: inside the caller's transaction when there is one, so
    /// the page and the conflicts it shows are one commit.)
    pub fn append_peer_events(&mut self, gate: &str, events: &[crate::domain::chain::ChainedEvent]) -> Result<usize> {
        let tx = self.conn.savepoint()?;
        let mut n = 0;
        {
            let mut st = tx.prepare_cached(
                "INSERT OR IGNORE INTO peer_events
                 (gate, seq, at_ms, resident_id, household, direction, decision, body, prev_hash, hash, sig)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
            )?;
            for e in events {
                let at_ms = chrono::DateTime::parse_from_rfc3339(&e.body.at).map(|t| t.timestamp_millis()).unwrap_or(0);
                n += st.execute(params![
                    gate,
                    i64::try_from(e.body.seq).unwrap_or(i64::MAX),
                    at_ms,
                    e.body.resident_id.map(i64::from),
                    e.body.household,
                    e.body.direction,
                    e.body.decision,
                    crate::domain::chain::body_json(&e.body),
                    e.prev_hash,
                    e.hash,
                    e.sig
                ])?;
            }
        }
        tx.commit()?;
        Ok(n)
    }

    /// `gate`'s events after `after`, oldest first.
    pub fn peer_events_after(
        &self,
        gate: &str,
        after: u64,
        limit: u32,
    ) -> Result<Vec<crate::domain::chain::ChainedEvent>> {
        let mut st = self.conn.prepare(
            "SELECT body, prev_hash, hash, sig FROM peer_events WHERE gate = ?1 AND seq > ?2 ORDER BY seq LIMIT ?3",
        )?;
        let rows = st.query_map(params![gate, i64::try_from(after).unwrap_or(i64::MAX), limit], |r| {
            let body: String = r.get(0)?;
            Ok((body, r.get::<_, String>(1)?, r.get::<_, String>(2)?, r.get::<_, String>(3)?))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (body, prev_hash, hash, sig) = row?;
            let body = serde_json::from_str(&body)
                .map_err(|e| StoreError::Unreadable(format!("a held event of {gate}: {e}")))?;
            out.push(crate::domain::chain::ChainedEvent { body, prev_hash, hash, sig });
        }
        Ok(out)
    }

    /// After a contact with a peer: when, how far behind, and the error if any.
    pub fn note_peer_contact(&self, peer: &str, at: &str, behind: Option<u64>, error: Option<&str>) -> Result<()> {
        match error {
            None => self.conn.execute(
                "UPDATE peers SET last_heard_at = ?2, behind = ?3, last_error = NULL WHERE gate = ?1",
                params![peer, at, behind.map(|b| i64::try_from(b).unwrap_or(i64::MAX))],
            )?,
            Some(e) => self.conn.execute("UPDATE peers SET last_error = ?2 WHERE gate = ?1", params![peer, e])?,
        };
        Ok(())
    }
}

/// Inserts rows of known tables; only columns this schema has are
/// written, anything else is refused whole (the caller's transaction).
/// Replaces the committee's tables (and the community's public keys) with
/// the first directory's, inside the caller's transaction.
pub(super) fn replace_tables(tx: &rusqlite::Transaction, tables: &[TableRows], keys: &TableRows) -> Result<()> {
    let mut all: Vec<TableRows> = tables.to_vec();
    all.push(keys.clone());
    let allowed: Vec<&str> = SNAPSHOT_TABLES.iter().copied().chain(std::iter::once("community_keys")).collect();
    if let Some(t) = all.iter().find(|t| !allowed.contains(&t.table.as_str())) {
        return Err(StoreError::Unreadable(format!("committee table '{}' is not one a gate copies", t.table)));
    }
    // rows kept at this gate only (follow-up visits, urgent outings) refer to
    // residents: they are checked when the new tables are in, at commit
    tx.pragma_update(None, "defer_foreign_keys", "ON")?;
    // children first, so the references hold at every step
    for table in ["passes", "residents", "households", "policy_override", "community_keys"] {
        tx.execute(&format!("DELETE FROM {table}"), [])?;
    }
    insert_tables(tx, &all)
}

fn insert_tables(tx: &rusqlite::Transaction, tables: &[TableRows]) -> Result<()> {
    for t in tables {
        let known: Vec<String> = {
            let mut st = tx.prepare("SELECT name FROM pragma_table_info(?1)")?;
            let names = st.query_map([&t.table], |r| r.get::<_, String>(0))?;
            names.collect::<rusqlite::Result<_>>()?
        };
        if known.is_empty() {
            return Err(StoreError::Unreadable(format!("no table {} here", t.table)));
        }
        if let Some(c) = t.columns.iter().find(|c| !known.contains(c)) {
            return Err(StoreError::Unreadable(format!(
                "column {}.{c} is not in this gate's schema (run the same gatepass version at every gate)",
                t.table
            )));
        }
        let cols = t.columns.iter().map(|c| format!("\"{c}\"")).collect::<Vec<_>>().join(", ");
        let marks = (1..=t.columns.len()).map(|i| format!("?{i}")).collect::<Vec<_>>().join(", ");
        let mut st = tx.prepare(&format!("INSERT INTO {} ({cols}) VALUES ({marks})", t.table))?;
        for row in &t.rows {
            if row.len() != t.columns.len() {
                return Err(StoreError::Unreadable(format!("a row of {} has the wrong width", t.table)));
            }
            let values: Vec<Value> = row
                .iter()
                .map(|v| match v {
                    serde_json::Value::Null => Ok(Value::Null),
                    serde_json::Value::Bool(b) => Ok(Value::Integer(i64::from(*b))),
                    serde_json::Value::Number(n) => Ok(match n.as_i64() {
                        Some(i) => Value::Integer(i),
                        None => Value::Real(n.as_f64().unwrap_or(0.0)),
                    }),
                    serde_json::Value::String(s) => Ok(Value::Text(s.clone())),
                    _ => Err(StoreError::Unreadable(format!("a value of {} is not plain", t.table))),
                })
                .collect::<Result<_>>()?;
            st.execute(rusqlite::params_from_iter(values))?;
        }
    }
    Ok(())
}

/// A recorded conflict, as the committee sees it.
#[derive(Debug, Clone, Serialize)]
pub struct ConflictRow {
    pub id: i64,
    pub rule: String,
    pub household: String,
    pub first_gate: String,
    pub first_seq: u64,
    pub second_gate: String,
    pub second_seq: u64,
    pub at_ms: i64,
    pub recorded_at: String,
}

impl Store {
    /// A household's allowed crossings in [from_ms, to_ms] at this gate
    /// (named `own_gate`) and at every gate held here.
    pub fn household_crossings(
        &self,
        own_gate: &str,
        household: &str,
        from_ms: i64,
        to_ms: i64,
    ) -> Result<Vec<crate::domain::community::Crossed>> {
        let mut st = self.conn.prepare(
            "SELECT ?4, seq, at_ms, resident_id, direction, body FROM events
               WHERE household = ?1 AND decision = 'allow' AND direction IN ('in', 'out')
                 AND resident_id IS NOT NULL AND at_ms BETWEEN ?2 AND ?3
             UNION ALL
             SELECT gate, seq, at_ms, resident_id, direction, body FROM peer_events
               WHERE household = ?1 AND decision = 'allow' AND direction IN ('in', 'out')
                 AND resident_id IS NOT NULL AND at_ms BETWEEN ?2 AND ?3",
        )?;
        let rows = st.query_map(params![household, from_ms, to_ms, own_gate], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, i64>(2)?,
                r.get::<_, i64>(3)?,
                r.get::<_, String>(4)?,
                r.get::<_, String>(5)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (gate, seq, at_ms, resident, direction, body) = row?;
            let warnings =
                serde_json::from_str::<crate::domain::chain::EventBody>(&body).map(|b| b.warnings).unwrap_or_default();
            out.push(crate::domain::community::Crossed {
                gate,
                seq: u64::try_from(seq).unwrap_or(0),
                at_ms,
                resident: u32::try_from(resident).unwrap_or(0),
                out: direction == "out",
                counted: crate::domain::community::counted(&warnings),
                essential: warnings.iter().any(|w| w == "quota_exempt"),
            });
        }
        Ok(out)
    }

    /// Records conflicts (each once, whichever gate or round finds it);
    /// returns how many were new.
    pub fn record_conflicts(
        &self,
        household: &str,
        found: &[crate::domain::community::Conflict],
        now: &str,
    ) -> Result<usize> {
        let mut n = 0;
        for c in found {
            n += self.conn.execute(
                "INSERT OR IGNORE INTO conflicts
                 (rule, household, first_gate, first_seq, second_gate, second_seq, at_ms, recorded_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                params![
                    c.rule,
                    household,
                    c.first_gate,
                    i64::try_from(c.first_seq).unwrap_or(i64::MAX),
                    c.second_gate,
                    i64::try_from(c.second_seq).unwrap_or(i64::MAX),
                    c.at_ms,
                    now
                ],
            )?;
        }
        Ok(n)
    }

    /// The newest conflicts first.
    pub fn conflicts(&self, limit: u32) -> Result<Vec<ConflictRow>> {
        let mut st = self.conn.prepare(
            "SELECT id, rule, household, first_gate, first_seq, second_gate, second_seq, at_ms, recorded_at
             FROM conflicts ORDER BY at_ms DESC, id DESC LIMIT ?1",
        )?;
        let rows = st.query_map([limit], |r| {
            Ok(ConflictRow {
                id: r.get(0)?,
                rule: r.get(1)?,
                household: r.get(2)?,
                first_gate: r.get(3)?,
                first_seq: u64::try_from(r.get::<_, i64>(4)?).unwrap_or(0),
                second_gate: r.get(5)?,
                second_seq: u64::try_from(r.get::<_, i64>(6)?).unwrap_or(0),
                at_ms: r.get(7)?,
                recorded_at: r.get(8)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }
}

fn insert_peer(conn: &rusqlite::Connection, peer: &PeerRow, inbound_token_hash: &str) -> Result<()> {
    // a gate removed earlier and joined again under its name starts afresh
    conn.execute(
        "INSERT INTO peers (gate, url, gate_key, inbound_token_hash, outbound_token, added_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)
         ON CONFLICT(gate) DO UPDATE SET url = excluded.url, gate_key = excluded.gate_key,
           inbound_token_hash = excluded.inbound_token_hash, outbound_token = excluded.outbound_token,
           added_at = excluded.added_at, removed_at = NULL, last_heard_at = NULL, heard_seq = 0, behind = NULL",
        params![peer.gate, peer.url, peer.gate_key, inbound_token_hash, peer.outbound_token, peer.added_at],
    )?;
    Ok(())
}
