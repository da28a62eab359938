//! The committee log as each gate holds it (see `domain::committee_log`),
//! and the list of the community's gates the committee's state carries, so
//! joined gates can reach each other without the first gate.

use super::{Result, Store, StoreError, TableRows};
use crate::domain::committee_log::Record;
use rusqlite::{params, OptionalExtension};
use serde::{Deserialize, Serialize};

/// A gate of the community as the committee's state lists it. Joined gates
/// call each other with requests signed by their gate keys (see
/// `domain::join::sign_peer_request`): no token is shared between them, so
/// a gate that is removed, or lost, holds nothing that opens another.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CommunityGate {
    pub gate: String,
    pub url: String,
    pub gate_key: String,
    pub removed: bool,
}

fn record(r: &rusqlite::Row) -> rusqlite::Result<Record> {
    Ok(Record {
        seq: u64::try_from(r.get::<_, i64>(0)?).unwrap_or(0),
        at: r.get(1)?,
        actor: r.get(2)?,
        action: r.get(3)?,
        detail: r.get(4)?,
        state_hash: r.get(5)?,
        prev_hash: r.get(6)?,
        hash: r.get(7)?,
        key_id: u16::try_from(r.get::<_, i64>(8)?).unwrap_or(0),
        sig: r.get(9)?,
    })
}

const COLUMNS: &str = "seq, at, actor, action, detail, state_hash, prev_hash, hash, key_id, sig";

fn insert_record(conn: &rusqlite::Connection, r: &Record) -> Result<()> {
    conn.execute(
        &format!("INSERT INTO committee_log ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)"),
        params![
            i64::try_from(r.seq).map_err(|_| StoreError::Unreadable("committee record number out of range".into()))?,
            r.at,
            r.actor,
            r.action,
            r.detail,
            r.state_hash,
            r.prev_hash,
            r.hash,
            r.key_id,
            r.sig
        ],
    )?;
    Ok(())
}

/// What a joined gate takes from the first gate in one step.
pub struct CommitteeUpdate<'a> {
    pub records: &'a [Record],
    /// The state at the newest record (number `.3`), when the records
    /// reach the head.
    pub state: Option<(&'a [TableRows], &'a TableRows, &'a [CommunityGate], u64)>,
    /// This gate's own name.
    pub me: &'a str,
    pub now: &'a str,
}

impl Store {
    /// The newest committee record held here.
    pub fn committee_head(&self) -> Result<Option<Record>> {
        Ok(self
            .conn
            .query_row(&format!("SELECT {COLUMNS} FROM committee_log ORDER BY seq DESC LIMIT 1"), [], record)
            .optional()?)
    }

    /// Up to `limit` records after `after`, oldest first.
    pub fn committee_records_after(&self, after: u64, limit: u32) -> Result<Vec<Record>> {
        let mut st =
            self.conn.prepare(&format!("SELECT {COLUMNS} FROM committee_log WHERE seq > ?1 ORDER BY seq LIMIT ?2"))?;
        let rows = st.query_map(params![i64::try_from(after).unwrap_or(i64::MAX), limit], record)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// (first directory) Appends a record sealed here.
    pub fn append_committee_record(&self, r: &Record) -> Result<()> {
        insert_record(&self.conn, r)
    }

    /// The committee record this gate's tables are at (0: none yet).
    pub fn committee_applied(&self) -> Result<u64> {
        Ok(self.meta("committee_applied")?.and_then(|v| v.parse().ok()).unwrap_or(0))
    }

    /// (first directory) The community's other gates, for the committee's state.
    pub fn community_gates(&self) -> Result<Vec<CommunityGate>> {
        let mut st =
            self.conn.prepare("SELECT gate, url, gate_key, removed_at IS NOT NULL FROM peers ORDER BY gate")?;
        let rows = st.query_map([], |r| {
            Ok(CommunityGate { gate: r.get(0)?, url: r.get(1)?, gate_key: r.get(2)?, removed: r.get(3)? })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// (joined gate, at the join) The other gates the committee's state lists.
    pub fn take_gates(&mut self, gates: &[CommunityGate], me: &str, now: &str) -> Result<()> {
        let tx = self.conn.transaction()?;
        for g in gates.iter().filter(|g| g.gate != me) {
            take_gate(&tx, g, now)?;
        }
        tx.commit()?;
        Ok(())
    }

    /// (joined gate) Stores verified records and, with them, the state they
    /// end at: the committee's tables, the community's keys and the other
    /// gates (added as peers, or ended), all in one transaction.
    pub fn take_committee_update(&mut self, u: &CommitteeUpdate) -> Result<()> {
        let tx = self.conn.transaction()?;
        for r in u.records {
            insert_record(&tx, r)?;
        }
        if let Some((tables, keys, gates, at_seq)) = u.state {
            super::peers::replace_tables(&tx, tables, keys)?;
            for g in gates.iter().filter(|g| g.gate != u.me) {
                take_gate(&tx, g, u.now)?;
            }
            tx.execute(
                "INSERT INTO meta (key, value) VALUES ('committee_applied', ?1)
                 ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                [at_seq.to_string()],
            )?;
        }
        tx.commit()?;
        Ok(())
    }
}

/// A gate the committee's state lists, as a peer of this (joined) gate:
/// called and answered with signed requests (no token: `outbound_token`
/// and `inbound_token_hash` stay empty, which no bearer token matches).
fn take_gate(tx: &rusqlite::Transaction, g: &CommunityGate, now: &str) -> Result<()> {
    if g.removed {
        tx.execute(
            "UPDATE peers SET removed_at = ?2, outbound_token = '' WHERE gate = ?1 AND removed_at IS NULL",
            params![g.gate, now],
        )?;
        return Ok(());
    }
    let known: Option<(String, Option<String>)> = tx
        .query_row("SELECT gate_key, removed_at FROM peers WHERE gate = ?1", [&g.gate], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    match known {
        // the same gate: its address may have changed
        Some((key, None)) if key == g.gate_key => {
            tx.execute("UPDATE peers SET url = ?2 WHERE gate = ?1", params![g.gate, g.url])?;
        }
        _ => {
            tx.execute(
                "INSERT INTO peers (gate, url, gate_key, inbound_token_hash, outbound_token, added_at)
                 VALUES (?1, ?2, ?3, '', '', ?4)
                 ON CONFLICT(gate) DO UPDATE SET url = excluded.url, gate_key = excluded.gate_key,
                   inbound_token_hash = '', outbound_token = '', added_at = excluded.added_at,
                   removed_at = NULL, last_heard_at = NULL, heard_seq = 0, behind = NULL",
                params![g.gate, g.url, g.gate_key, now],
            )?;
        }
    }
    // the community's word on a gate's key is final: a key some peer's list
    // pinned earlier for that name gives way
    tx.execute(
        "INSERT INTO gate_keys (gate, gate_key, learned_from, learned_at) VALUES (?1, ?2, 'committee', ?3)
         ON CONFLICT(gate) DO UPDATE SET gate_key = excluded.gate_key, learned_from = 'committee',
           learned_at = excluded.learned_at WHERE gate_keys.gate_key != excluded.gate_key",
        params![g.gate, g.gate_key, now],
    )?;
    Ok(())
}

impl Store {
    /// The key of an active peer, for a request it signed.
    pub fn active_peer_key(&self, gate: &str) -> Result<Option<String>> {
        Ok(self
            .conn
            .query_row("SELECT gate_key FROM peers WHERE gate = ?1 AND removed_at IS NULL", [gate], |r| r.get(0))
            .optional()?)
    }
}

/// A directive this gate applied, to lay over the committee's state again.
pub struct AppliedDirective {
    pub id: String,
    pub received_at: String,
    pub resident_id: crate::domain::ResidentId,
    pub category: crate::domain::Category,
    pub until: Option<chrono::NaiveDate>,
}

impl Store {
    /// Starts a write transaction that holds the database until
    /// [`Store::commit`] (another process writing waits, up to the busy
    /// timeout): a committee record is sealed after the head it read.
    pub fn begin_immediate(&self) -> Result<()> {
        Ok(self.conn.execute_batch("BEGIN IMMEDIATE")?)
    }

    pub fn commit(&self) -> Result<()> {
        Ok(self.conn.execute_batch("COMMIT")?)
    }

    pub fn rollback(&self) -> Result<()> {
        Ok(self.conn.execute_batch("ROLLBACK")?)
    }

    /// Directives applied here, oldest first.
    pub fn applied_directives(&self) -> Result<Vec<AppliedDirective>> {
        let mut st = self.conn.prepare(
            "SELECT id, resident_id, category, until, received_at FROM directives WHERE result = 'applied' ORDER BY n",
        )?;
        let rows = st.query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, Option<String>>(3)?,
                r.get::<_, String>(4)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (id, resident, category, until, received_at) = row?;
            let (Ok(resident_id), Ok(category)) = (u32::try_from(resident), category.parse()) else { continue };
            let until = until.and_then(|u| chrono::NaiveDate::parse_from_str(&u, "%Y-%m-%d").ok());
            out.push(AppliedDirective {
                id,
                received_at,
                resident_id: crate::domain::ResidentId(resident_id),
                category,
                until,
            });
        }
        Ok(out)
    }
}
