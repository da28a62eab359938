//! All SQL of the district side: its own SQLite file (`district.db`), in WAL
//! mode with `synchronous=FULL` like the gate's, with numbered migrations.
//!
//! Events are keyed by (gate, seq) where a gate is identified by its pinned
//! public key. Events that do not continue a gate's verified chain go to
//! `quarantine` and are never counted. Resetting a broken gate (see
//! [`super::reset`]) is written to `audit`; events a reset replaces move to
//! `superseded`, never deleted.

use crate::domain::chain::{body_json, ExportedEvent, GENESIS};
use crate::store::Result;
use rusqlite::{params, Connection, OptionalExtension, Transaction};
use serde::Serialize;
use std::path::Path;

const MIGRATIONS: &[&str] = &[
    // 1: gates, their collected events, the quarantine, logins
    r#"
    CREATE TABLE gates (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL,
        community TEXT NOT NULL,
        gate_key TEXT NOT NULL UNIQUE,
        url TEXT,
        token TEXT,
        head_seq INTEGER NOT NULL DEFAULT 0,
        head_hash TEXT NOT NULL,
        base_seq INTEGER NOT NULL DEFAULT 0,
        chain_status TEXT NOT NULL DEFAULT 'ok',
        chain_detail TEXT,
        names_shared INTEGER NOT NULL DEFAULT 0,
        added_at TEXT NOT NULL,
        last_contact TEXT,
        last_error TEXT,
        last_error_at TEXT
    );
    CREATE TABLE events (
        gate_id INTEGER NOT NULL REFERENCES gates(id),
        seq INTEGER NOT NULL,
        at_ms INTEGER NOT NULL,
        at TEXT NOT NULL,
        resident_id INTEGER,
        household TEXT,
        resident_name TEXT,
        direction TEXT,
        decision TEXT NOT NULL,
        temperature_c REAL,
        fever_reason INTEGER NOT NULL,
        overdue INTEGER NOT NULL,
        backfilled INTEGER NOT NULL,
        clock_suspect INTEGER NOT NULL,
        reasons TEXT NOT NULL,
        warnings TEXT NOT NULL,
        body TEXT NOT NULL,
        prev_hash TEXT NOT NULL,
        hash TEXT NOT NULL,
        sig TEXT NOT NULL,
        source TEXT NOT NULL,
        PRIMARY KEY (gate_id, seq)
    ) WITHOUT ROWID;
    CREATE INDEX events_at ON events(at_ms);
    CREATE INDEX events_resident ON events(resident_id, at_ms);
    CREATE TABLE quarantine (
        id INTEGER PRIMARY KEY,
        gate_id INTEGER NOT NULL REFERENCES gates(id),
        seq INTEGER NOT NULL,
        hash TEXT NOT NULL,
        line TEXT NOT NULL,
        reason TEXT NOT NULL,
        source TEXT NOT NULL,
        received_at TEXT NOT NULL,
        UNIQUE (gate_id, seq, hash)
    );
    CREATE TABLE tokens (
        hash TEXT PRIMARY KEY,
        role TEXT NOT NULL,
        name TEXT NOT NULL,
        created_at TEXT NOT NULL
    );
    CREATE TABLE users (
        name TEXT PRIMARY KEY,
        role TEXT NOT NULL,
        password_hash TEXT NOT NULL,
        created_at TEXT NOT NULL
    );
    CREATE TABLE sessions (
        hash TEXT PRIMARY KEY,
        user TEXT NOT NULL,
        expires_ms INTEGER NOT NULL
    );
    "#,
    // 2: resets of broken gates (who, when, why) and the events they replaced
    r#"
    CREATE TABLE audit (
        id INTEGER PRIMARY KEY,
        at TEXT NOT NULL,
        who TEXT NOT NULL,
        gate_id INTEGER NOT NULL REFERENCES gates(id),
        action TEXT NOT NULL,
        reason TEXT NOT NULL,
        detail TEXT NOT NULL
    );
    CREATE TABLE superseded (
        audit_id INTEGER NOT NULL REFERENCES audit(id),
        gate_id INTEGER NOT NULL REFERENCES gates(id),
        gate_key TEXT NOT NULL,
        seq INTEGER NOT NULL,
        at TEXT NOT NULL,
        body TEXT NOT NULL,
        prev_hash TEXT NOT NULL,
        hash TEXT NOT NULL,
        sig TEXT NOT NULL,
        source TEXT NOT NULL,
        PRIMARY KEY (audit_id, seq)
    );
    "#,
    // 3: names came from a field outside the gate's signature (anyone could
    // add one to a carried file); the district no longer believes them, so
    // the ones taken in before are dropped too. Names now arrive only with
    // the gate key's signature over them (`name_sig`, see domain::chain).
    r#"
    UPDATE events SET resident_name = NULL WHERE resident_name IS NOT NULL;
    UPDATE gates SET names_shared = 0;
    "#,
    // -- issue 13: gates push (tokens of role `gate`, each for one gate:
    // its name, optionally its community, and the gate it first pushed
    // as); how each gate was last heard from
    r#"
    ALTER TABLE tokens ADD COLUMN gate TEXT;
    ALTER TABLE tokens ADD COLUMN community TEXT;
    ALTER TABLE tokens ADD COLUMN gate_id INTEGER REFERENCES gates(id);
    ALTER TABLE gates ADD COLUMN contact_via TEXT;
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE TABLE directives (
        id TEXT PRIMARY KEY,
        community TEXT NOT NULL,
        resident_id INTEGER NOT NULL,
        category TEXT NOT NULL,
        until TEXT,
        issued_at TEXT NOT NULL,
        issued_by TEXT NOT NULL,
        signed TEXT NOT NULL
    );
    CREATE INDEX directives_community ON directives(community);
    CREATE TABLE directive_deliveries (
        directive_id TEXT NOT NULL REFERENCES directives(id),
        gate_id INTEGER NOT NULL REFERENCES gates(id),
        sent_at TEXT NOT NULL,
        via TEXT NOT NULL,
        result TEXT,
        result_at TEXT,
        PRIMARY KEY (directive_id, gate_id)
    );
    "#,
    // -- issue 10: each gate's community limits as it last sent them, to
    // count the conflicts between a community's gates
    "ALTER TABLE gates ADD COLUMN limits TEXT;",
];

/// A registered gate. `Debug` leaves out the API token.
#[derive(Clone, Serialize)]
pub struct GateRow {
    pub id: i64,
    pub name: String,
    pub community: String,
    pub gate_key: String,
    pub url: Option<String>,
    #[serde(skip)]
    pub token: Option<String>,
    pub head_seq: u64,
    pub head_hash: String,
    /// The chain was first seen after this seq (the gate had purged older events).
    pub base_seq: u64,
    /// `ok` or `broken`.
    pub chain_status: String,
    pub chain_detail: Option<String>,
    pub names_shared: bool,
    pub added_at: String,
    pub last_contact: Option<String>,
    pub last_error: Option<String>,
    pub last_error_at: Option<String>,
    pub events: u64,
    pub quarantined: u64,
    pub quarantine_seq: u64,
    /// Events an accepted reset replaced (kept in `superseded`, not counted).
    pub superseded: u64,
    /// The time of the newest event held (by seq): how fresh a gate's data
    /// is, also for a gate only seen in carried files.
    pub newest_event: Option<String>,
    /// How the gate was last heard from: `pull` or `push` (issue 13).
    pub contact_via: Option<String>,
}

impl std::fmt::Debug for GateRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GateRow")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("community", &self.community)
            .field("gate_key", &self.gate_key)
            .field("url", &self.url)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("head_seq", &self.head_seq)
            .field("chain_status", &self.chain_status)
            .finish_non_exhaustive()
    }
}

impl GateRow {
    pub fn broken(&self) -> bool {
        self.chain_status == "broken"
    }
}

/// A directive the district sent (issue 13), with where it went.
#[derive(Debug, Clone, Serialize)]
pub struct DirectiveRow {
    pub id: String,
    pub community: String,
    pub resident_id: u32,
    pub category: String,
    pub until: Option<String>,
    pub issued_at: String,
    pub issued_by: String,
    pub deliveries: Vec<Delivery>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Delivery {
    pub gate: String,
    pub sent_at: String,
    /// `push` (in a push's reply) or `pull` (posted to the gate).
    pub via: String,
    /// What the gate said: `applied`, `replayed`, `bad_signature`, ...;
    /// none yet when it has not answered.
    pub result: Option<String>,
    pub result_at: Option<String>,
}

/// A token of role `gate`: the gate it may push for.
#[derive(Debug, Clone)]
pub struct GateToken {
    pub hash: String,
    pub gate: Option<String>,
    pub community: Option<String>,
    /// Set on the token's first push: from then on only that gate.
    pub gate_id: Option<i64>,
}

/// The facts of one stored event that reports and traces need.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EventFacts {
    pub gate_id: i64,
    pub seq: u64,
    pub at_ms: i64,
    pub at: String,
    pub resident_id: Option<crate::domain::ResidentId>,
    pub household: Option<String>,
    pub resident_name: Option<String>,
    pub direction: Option<String>,
    pub decision: String,
    pub temperature_c: Option<f64>,
    pub fever_reason: bool,
    pub overdue: bool,
    pub backfilled: bool,
    /// The event's kind (issue 11): none for a resident's card, else
    /// `visitor`, `vehicle`, `delivery`, `exception`, `no_card`.
    pub kind: Option<String>,
    /// Turned back: reason `not_approved`.
    pub not_approved: bool,
    /// The gate's reasons for its decision (issue 13: refusals by reason).
    #[serde(skip)]
    pub reasons: Vec<String>,
    /// An essential worker's exit (warning `quota_exempt`, issue 10).
    #[serde(skip)]
    pub quota_exempt: bool,
}

/// One reset of a broken gate, as `district audit` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct AuditRow {
    pub id: i64,
    pub at: String,
    pub who: String,
    pub gate: String,
    pub community: String,
    /// `discard` or `accept`.
    pub action: String,
    pub reason: String,
    /// What the reset did, in words.
    pub detail: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct QuarantineRow {
    pub gate_id: i64,
    pub seq: u64,
    pub reason: String,
    pub source: String,
    pub received_at: String,
}

pub struct DistrictStore {
    conn: Connection,
}

const GATE_COLS: &str = "g.id, g.name, g.community, g.gate_key, g.url, g.token, g.head_seq, g.head_hash, g.base_seq, \
     g.chain_status, g.chain_detail, g.names_shared, g.added_at, g.last_contact, g.last_error, g.last_error_at, \
     (SELECT COUNT(*) FROM events e WHERE e.gate_id = g.id), \
     (SELECT COUNT(*) FROM quarantine q WHERE q.gate_id = g.id), \
     (SELECT COALESCE(MAX(seq), 0) FROM quarantine q WHERE q.gate_id = g.id), \
     (SELECT COUNT(*) FROM superseded s WHERE s.gate_id = g.id), \
     (SELECT e.at FROM events e WHERE e.gate_id = g.id ORDER BY e.seq DESC LIMIT 1), \
     g.contact_via";

fn gate_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<GateRow> {
    Ok(GateRow {
        id: r.get(0)?,
        name: r.get(1)?,
        community: r.get(2)?,
        gate_key: r.get(3)?,
        url: r.get(4)?,
        token: r.get(5)?,
        head_seq: r.get(6)?,
        head_hash: r.get(7)?,
        base_seq: r.get(8)?,
        chain_status: r.get(9)?,
        chain_detail: r.get(10)?,
        names_shared: r.get(11)?,
        added_at: r.get(12)?,
        last_contact: r.get(13)?,
        last_error: r.get(14)?,
        last_error_at: r.get(15)?,
        events: r.get(16)?,
        quarantined: r.get(17)?,
        quarantine_seq: r.get(18)?,
        superseded: r.get(19)?,
        newest_event: r.get(20)?,
        contact_via: r.get(21)?,
    })
}

const FACT_COLS: &str = "gate_id, seq, at_ms, at, resident_id, household, resident_name, direction, decision, \
     temperature_c, fever_reason, overdue, backfilled, json_extract(body, '$.kind'), instr(reasons, 'not_approved') > 0, \
     reasons, instr(warnings, 'quota_exempt') > 0";

fn facts_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<EventFacts> {
    Ok(EventFacts {
        gate_id: r.get(0)?,
        seq: r.get(1)?,
        at_ms: r.get(2)?,
        at: r.get(3)?,
        resident_id: r.get(4)?,
        household: r.get(5)?,
        resident_name: r.get(6)?,
        direction: r.get(7)?,
        decision: r.get(8)?,
        temperature_c: r.get(9)?,
        fever_reason: r.get(10)?,
        overdue: r.get(11)?,
        backfilled: r.get(12)?,
        kind: r.get(13)?,
        not_approved: r.get(14)?,
        reasons: r.get::<_, String>(15)?.split(',').filter(|x| !x.is_empty()).map(str::to_string).collect(),
        quota_exempt: r.get(16)?,
    })
}

impl DistrictStore {
    pub fn open(path: &Path) -> Result<DistrictStore> {
        Self::setup(Connection::open(path)?)
    }

    pub fn open_in_memory() -> Result<DistrictStore> {
        Self::setup(Connection::open_in_memory()?)
    }

    fn setup(conn: Connection) -> Result<DistrictStore> {
        // WAL + FULL: a committed page survives a power cut, and the pages
        // read while `pull` writes.
        let conn = crate::store::open_durable(conn, MIGRATIONS, std::time::Duration::from_secs(10))?;
        Ok(DistrictStore { conn })
    }

    // ---- gates -----------------------------------------------------------

    pub fn gates(&self) -> Result<Vec<GateRow>> {
        let mut st =
            self.conn.prepare(&format!("SELECT {GATE_COLS} FROM gates g ORDER BY g.community, g.name, g.id"))?;
        let rows = st.query_map([], gate_from_row)?.collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows)
    }

    pub fn gate(&self, id: i64) -> Result<Option<GateRow>> {
        gate_by(&self.conn, "g.id = ?1", &id)
    }

    pub fn gate_by_key(&self, key: &str) -> Result<Option<GateRow>> {
        gate_by(&self.conn, "g.gate_key = ?1", &key)
    }

    pub fn gate_by_name(&self, community: &str, name: &str) -> Result<Option<GateRow>> {
        Ok(self
            .conn
            .query_row(
                &format!("SELECT {GATE_COLS} FROM gates g WHERE g.community = ?1 AND g.name = ?2"),
                params![community, name],
                gate_from_row,
            )
            .optional()?)
    }

    /// Registers a gate (pinning its key) and returns its id.
    pub fn add_gate(
        &self,
        name: &str,
        community: &str,
        key: &str,
        url: Option<&str>,
        token: Option<&str>,
        now: &str,
    ) -> Result<i64> {
        add_gate(&self.conn, name, community, key, url, token, now)
    }

    pub fn set_gate_limits(&self, id: i64, limits: &crate::domain::community::Limits) -> Result<()> {
        let text = serde_json::to_string(limits).unwrap_or_default();
        self.conn.execute("UPDATE gates SET limits = ?2 WHERE id = ?1", params![id, text])?;
        Ok(())
    }

    /// Each community's limits: those of its first registered gate that
    /// sent any (the gates of one community share the committee's rules).
    pub fn community_limits(&self) -> Result<std::collections::BTreeMap<String, crate::domain::community::Limits>> {
        let mut st =
            self.conn.prepare("SELECT community, limits FROM gates WHERE limits IS NOT NULL ORDER BY id DESC")?;
        let rows = st.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?;
        let mut out = std::collections::BTreeMap::new();
        for row in rows {
            let (community, text) = row?;
            if let Ok(l) = serde_json::from_str(&text) {
                // newest gate first: the first gate's limits are taken last and win
                out.insert(community, l);
            }
        }
        Ok(out)
    }

    pub fn set_gate_endpoint(&self, id: i64, url: &str, token: &str) -> Result<()> {
        self.conn.execute("UPDATE gates SET url = ?2, token = ?3 WHERE id = ?1", params![id, url, token])?;
        Ok(())
    }

    pub fn record_contact(&self, id: i64, now: &str) -> Result<()> {
        self.record_contact_via(id, now, Source::Pull)
    }

    /// The gate was heard from, by a pull or by its own push.
    pub fn record_contact_via(&self, id: i64, now: &str, via: Source) -> Result<()> {
        self.conn.execute(
            "UPDATE gates SET last_contact = ?2, last_error = NULL, last_error_at = NULL, contact_via = ?3 WHERE id = ?1",
            params![id, now, via.as_str()],
        )?;
        Ok(())
    }

    // ---- the district's key and its directives (issue 13) ----------------

    pub fn meta(&self, key: &str) -> Result<Option<String>> {
        Ok(self.conn.query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0)).optional()?)
    }

    /// Sets a value only if none is set yet; returns the value in force.
    pub fn meta_init(&self, key: &str, value: &str) -> Result<String> {
        self.conn.execute("INSERT OR IGNORE INTO meta (key, value) VALUES (?1, ?2)", params![key, value])?;
        Ok(self.meta(key)?.unwrap_or_else(|| value.to_string()))
    }

    pub fn add_directive(&self, d: &DirectiveRow, signed: &str) -> Result<()> {
        self.conn.execute(
            "INSERT INTO directives (id, community, resident_id, category, until, issued_at, issued_by, signed) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            params![d.id, d.community, d.resident_id, d.category, d.until, d.issued_at, d.issued_by, signed],
        )?;
        Ok(())
    }

    /// The signed directives for a gate's community that the gate has not
    /// answered yet, oldest first.
    pub fn pending_directives(&self, gate_id: i64, community: &str, limit: u32) -> Result<Vec<(String, String)>> {
        let mut st = self.conn.prepare_cached(
            "SELECT d.id, d.signed FROM directives d WHERE d.community = ?2 AND NOT EXISTS \
             (SELECT 1 FROM directive_deliveries x WHERE x.directive_id = d.id AND x.gate_id = ?1 AND x.result IS NOT NULL) \
             ORDER BY d.issued_at, d.id LIMIT ?3",
        )?;
        let rows = st
            .query_map(params![gate_id, community, limit], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows)
    }

    /// A directive was handed to a gate (first time only).
    pub fn note_directive_sent(&self, id: &str, gate_id: i64, via: Source, now: &str) -> Result<()> {
        self.conn.execute(
            "INSERT OR IGNORE INTO directive_deliveries (directive_id, gate_id, sent_at, via) VALUES (?1, ?2, ?3, ?4)",
            params![id, gate_id, now, via.as_str()],
        )?;
        Ok(())
    }

    /// What the gate said it did with a directive it was sent.
    pub fn note_directive_result(&self, id: &str, gate_id: i64, result: &str, now: &str) -> Result<bool> {
        Ok(self.conn.execute(
            "UPDATE directive_deliveries SET result = ?3, result_at = ?4 WHERE directive_id = ?1 AND gate_id = ?2",
            params![id, gate_id, result, now],
        )? > 0)
    }

    /// Every directive with its deliveries, newest first.
    pub fn directives(&self, limit: u32) -> Result<Vec<DirectiveRow>> {
        let mut st = self.conn.prepare(
            "SELECT id, community, resident_id, category, until, issued_at, issued_by FROM directives \
             ORDER BY issued_at DESC, id LIMIT ?1",
        )?;
        let mut rows = st
            .query_map([limit], |r| {
                Ok(DirectiveRow {
                    id: r.get(0)?,
                    community: r.get(1)?,
                    resident_id: r.get(2)?,
                    category: r.get(3)?,
                    until: r.get(4)?,
                    issued_at: r.get(5)?,
                    issued_by: r.get(6)?,
                    deliveries: Vec::new(),
                })
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        let mut st = self.conn.prepare_cached(
            "SELECT g.name, x.sent_at, x.via, x.result, x.result_at FROM directive_deliveries x \
             JOIN gates g ON g.id = x.gate_id WHERE x.directive_id = ?1 ORDER BY g.name",
        )?;
        for d in &mut rows {
            d.deliveries = st
                .query_map([&d.id], |r| {
                    Ok(Delivery {
                        gate: r.get(0)?,
                        sent_at: r.get(1)?,
                        via: r.get(2)?,
                        result: r.get(3)?,
                        result_at: r.get(4)?,
                    })
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?;
        }
        Ok(rows)
    }

    /// A token for one gate to push with (role `gate`).
    pub fn add_gate_token(&self, hash: &str, name: &str, gate: &str, community: Option<&str>, now: &str) -> Result<()> {
        self.conn.execute(
            "INSERT INTO tokens (hash, role, name, created_at, gate, community) VALUES (?1, 'gate', ?2, ?3, ?4, ?5)",
            params![hash, name, now, gate, community],
        )?;
        Ok(())
    }

    /// The gate a `gate` token pushes for, if the token is one.
    pub fn gate_token(&self, hash: &str) -> Result<Option<GateToken>> {
        Ok(self
            .conn
            .query_row(
                "SELECT hash, gate, community, gate_id FROM tokens WHERE hash = ?1 AND role = 'gate'",
                [hash],
                |r| Ok(GateToken { hash: r.get(0)?, gate: r.get(1)?, community: r.get(2)?, gate_id: r.get(3)? }),
            )
            .optional()?)
    }

    /// Ties a gate token to the gate it first pushed as.
    pub fn bind_gate_token(&self, hash: &str, gate_id: i64) -> Result<()> {
        self.conn
            .execute("UPDATE tokens SET gate_id = ?2 WHERE hash = ?1 AND gate_id IS NULL", params![hash, gate_id])?;
        Ok(())
    }

    pub fn record_error(&self, id: i64, error: &str, now: &str) -> Result<()> {
        self.conn
            .execute("UPDATE gates SET last_error = ?2, last_error_at = ?3 WHERE id = ?1", params![id, error, now])?;
        Ok(())
    }

    /// Flags a gate whose chain does not continue (outside an ingest).
    pub fn flag_broken(&self, id: i64, detail: &str) -> Result<()> {
        flag_broken(&self.conn, id, detail)
    }

    pub fn quarantine_rows(&self, gate_id: i64, limit: u32) -> Result<Vec<QuarantineRow>> {
        let mut st = self.conn.prepare(
            "SELECT gate_id, seq, reason, source, received_at FROM quarantine WHERE gate_id = ?1 ORDER BY seq, id LIMIT ?2",
        )?;
        let rows = st
            .query_map(params![gate_id, limit], |r| {
                Ok(QuarantineRow {
                    gate_id: r.get(0)?,
                    seq: r.get(1)?,
                    reason: r.get(2)?,
                    source: r.get(3)?,
                    received_at: r.get(4)?,
                })
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows)
    }

    /// Every reset, oldest first; of one gate if given.
    pub fn audit(&self, gate_id: Option<i64>) -> Result<Vec<AuditRow>> {
        let mut st = self.conn.prepare(
            "SELECT a.id, a.at, a.who, g.name, g.community, a.action, a.reason, a.detail \
             FROM audit a JOIN gates g ON g.id = a.gate_id WHERE ?1 IS NULL OR a.gate_id = ?1 ORDER BY a.id",
        )?;
        let rows = st
            .query_map([gate_id], |r| {
                Ok(AuditRow {
                    id: r.get(0)?,
                    at: r.get(1)?,
                    who: r.get(2)?,
                    gate: r.get(3)?,
                    community: r.get(4)?,
                    action: r.get(5)?,
                    reason: r.get(6)?,
                    detail: r.get(7)?,
                })
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows)
    }

    /// One write transaction: a page or a file is stored whole or not at all.
    pub fn begin(&mut self) -> Result<IngestTx<'_>> {
        let tx = self.conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        Ok(IngestTx { tx })
    }

    // ---- reading events ----------------------------------------------------

    /// Events (not quarantined) with `from_ms <= at_ms < to_ms`.
    pub fn facts_between(&self, from_ms: i64, to_ms: i64) -> Result<Vec<EventFacts>> {
        let mut st = self.conn.prepare_cached(&format!(
            "SELECT {FACT_COLS} FROM events WHERE at_ms >= ?1 AND at_ms < ?2 ORDER BY at_ms, gate_id, seq"
        ))?;
        let rows = st.query_map(params![from_ms, to_ms], facts_from_row)?.collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows)
    }

    /// A resident's events in a time range, optionally in one community.
    pub fn resident_facts(
        &self,
        resident_id: crate::domain::ResidentId,
        community: Option<&str>,
        from_ms: i64,
        to_ms: i64,
    ) -> Result<Vec<EventFacts>> {
        let mut st = self.conn.prepare_cached(&format!(
            "SELECT {FACT_COLS} FROM events WHERE resident_id = ?1 AND at_ms >= ?2 AND at_ms <= ?3 \
             AND (?4 IS NULL OR gate_id IN (SELECT id FROM gates WHERE community = ?4)) ORDER BY at_ms, gate_id, seq"
        ))?;
        let rows = st
            .query_map(params![resident_id, from_ms, to_ms, community], facts_from_row)?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows)
    }

    /// Events at one gate with `from_ms <= at_ms <= to_ms`.
    pub fn gate_facts_around(&self, gate_id: i64, from_ms: i64, to_ms: i64) -> Result<Vec<EventFacts>> {
        let mut st = self.conn.prepare_cached(&format!(
            "SELECT {FACT_COLS} FROM events WHERE gate_id = ?1 AND at_ms >= ?2 AND at_ms <= ?3 ORDER BY at_ms, seq"
        ))?;
        let rows =
            st.query_map(params![gate_id, from_ms, to_ms], facts_from_row)?.collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows)
    }

    pub fn event_count(&self) -> Result<u64> {
        Ok(self.conn.query_row("SELECT COUNT(*) FROM events", [], |r| r.get(0))?)
    }

    // ---- logins --------------------------------------------------------------

    pub fn add_token(&self, hash: &str, role: &str, name: &str, now: &str) -> Result<()> {
        self.conn.execute(
            "INSERT INTO tokens (hash, role, name, created_at) VALUES (?1, ?2, ?3, ?4)",
            params![hash, role, name, now],
        )?;
        Ok(())
    }

    pub fn token_role(&self, hash: &str) -> Result<Option<String>> {
        Ok(self.conn.query_row("SELECT role FROM tokens WHERE hash = ?1", [hash], |r| r.get(0)).optional()?)
    }

    /// Adds a login, or changes its password: a changed password ends the
    /// user's open sessions (the pages check the session table on every
    /// request, so a running `district serve` sees it at once).
    pub fn upsert_user(&self, name: &str, role: &str, password_hash: &str, now: &str) -> Result<()> {
        crate::store::upsert_user(&self.conn, name, role, password_hash, now)?;
        self.conn.execute("DELETE FROM sessions WHERE user = ?1", [name])?;
        Ok(())
    }

    /// Removes a login and ends its sessions; false if there was none.
    pub fn remove_user(&self, name: &str) -> Result<bool> {
        let n = self.conn.execute("DELETE FROM users WHERE name = ?1", [name])?;
        self.conn.execute("DELETE FROM sessions WHERE user = ?1", [name])?;
        Ok(n > 0)
    }

    /// Revokes the token with this hash; false if there was none.
    pub fn revoke_token(&self, hash: &str) -> Result<bool> {
        Ok(self.conn.execute("DELETE FROM tokens WHERE hash = ?1", [hash])? > 0)
    }

    /// Revokes every token created under this name; how many.
    pub fn revoke_tokens_named(&self, name: &str) -> Result<u64> {
        Ok(self.conn.execute("DELETE FROM tokens WHERE name = ?1", [name])? as u64)
    }

    /// (name, role, created_at) of every token; the tokens themselves are
    /// not kept.
    pub fn tokens(&self) -> Result<Vec<(String, String, String)>> {
        let mut st = self.conn.prepare("SELECT name, role, created_at FROM tokens ORDER BY created_at, name")?;
        let rows =
            st.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?.collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows)
    }

    /// (role, password hash) of a user.
    pub fn user(&self, name: &str) -> Result<Option<(String, String)>> {
        crate::store::user(&self.conn, name)
    }

    pub fn add_session(&self, hash: &str, user: &str, expires_ms: i64) -> Result<()> {
        self.conn.execute("DELETE FROM sessions WHERE expires_ms < ?1", [expires_ms - 48 * 3_600_000])?;
        self.conn.execute(
            "INSERT INTO sessions (hash, user, expires_ms) VALUES (?1, ?2, ?3)",
            params![hash, user, expires_ms],
        )?;
        Ok(())
    }

    /// The user of a live session.
    pub fn session_user(&self, hash: &str, now_ms: i64) -> Result<Option<String>> {
        Ok(self
            .conn
            .query_row("SELECT user FROM sessions WHERE hash = ?1 AND expires_ms > ?2", params![hash, now_ms], |r| {
                r.get(0)
            })
            .optional()?)
    }

    pub fn end_session(&self, hash: &str) -> Result<()> {
        self.conn.execute("DELETE FROM sessions WHERE hash = ?1", [hash])?;
        Ok(())
    }
}

fn gate_by(conn: &Connection, cond: &str, arg: &dyn rusqlite::ToSql) -> Result<Option<GateRow>> {
    Ok(conn.query_row(&format!("SELECT {GATE_COLS} FROM gates g WHERE {cond}"), [arg], gate_from_row).optional()?)
}

fn add_gate(
    conn: &Connection,
    name: &str,
    community: &str,
    key: &str,
    url: Option<&str>,
    token: Option<&str>,
    now: &str,
) -> Result<i64> {
    conn.execute(
        "INSERT INTO gates (name, community, gate_key, url, token, head_hash, added_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![name, community, key, url, token, GENESIS, now],
    )?;
    Ok(conn.last_insert_rowid())
}

fn flag_broken(conn: &Connection, id: i64, detail: &str) -> Result<()> {
    // The first detail is kept: it names where the chain first stopped
    // continuing, which is what the clerk has to investigate.
    conn.execute(
        "UPDATE gates SET chain_status = 'broken', chain_detail = COALESCE(chain_detail, ?2) WHERE id = ?1",
        params![id, detail],
    )?;
    Ok(())
}

/// What kind of delivery an event came in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Pull,
    Import,
    /// Sent by the gate itself (`POST /api/v1/ingest`, issue 13).
    Push,
}

impl Source {
    /// The stored text back (anything else was a pull).
    pub fn from_text(s: &str) -> Source {
        if s == "import" {
            Source::Import
        } else if s == "push" {
            Source::Push
        } else {
            Source::Pull
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Source::Pull => "pull",
            Source::Import => "import",
            Source::Push => "push",
        }
    }
}

/// The write side of one page or one file.
pub struct IngestTx<'a> {
    tx: Transaction<'a>,
}

impl IngestTx<'_> {
    pub fn gate(&self, id: i64) -> Result<Option<GateRow>> {
        gate_by(&self.tx, "g.id = ?1", &id)
    }

    /// Registers a gate first seen in a carried file (no URL to pull from).
    pub fn add_gate(&self, name: &str, community: &str, key: &str, now: &str) -> Result<i64> {
        add_gate(&self.tx, name, community, key, None, None, now)
    }

    /// The hash the district holds for (gate, seq).
    pub fn stored_hash(&self, gate_id: i64, seq: u64) -> Result<Option<String>> {
        Ok(self
            .tx
            .prepare_cached("SELECT hash FROM events WHERE gate_id = ?1 AND seq = ?2")?
            .query_row(params![gate_id, seq], |r| r.get(0))
            .optional()?)
    }

    /// Stores what the gate's chain covers, and `name` only as the caller
    /// passes it: a name the gate key signed for this event (see
    /// `ExportedEvent::check_name`). The line's own `resident_name`, and
    /// any other field next to the signed body, is never read here.
    pub fn insert_event(&self, gate_id: i64, ev: &ExportedEvent, name: Option<&str>, source: Source) -> Result<()> {
        let b = &ev.event.body;
        // The gate stamps `at` as RFC 3339 UTC; anything unreadable would
        // have failed no chain check, so it is kept at time 0 rather than
        // dropped: the chain must stay whole.
        let at_ms = chrono::DateTime::parse_from_rfc3339(&b.at).map(|t| t.timestamp_millis()).unwrap_or(0);
        self.tx
            .prepare_cached(
                "INSERT INTO events (gate_id, seq, at_ms, at, resident_id, household, resident_name, direction, decision, \
                 temperature_c, fever_reason, overdue, backfilled, clock_suspect, reasons, warnings, body, prev_hash, hash, sig, source) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21)",
            )?
            .execute(params![
                gate_id,
                b.seq,
                at_ms,
                b.at,
                b.resident_id,
                b.household,
                name,
                b.direction,
                b.decision,
                b.temperature_c,
                b.reasons.iter().any(|r| r == "fever"),
                b.warnings.iter().any(|w| w == "overdue"),
                b.backfilled,
                b.clock_suspect,
                b.reasons.join(","),
                b.warnings.join(","),
                body_json(b),
                ev.event.prev_hash,
                ev.event.hash,
                ev.event.sig,
                source.as_str(),
            ])?;
        Ok(())
    }

    /// Keeps an event apart; an identical re-delivery is stored once.
    /// `signed_name` is true when the line's name was checked against the
    /// pinned key (an accepted reset checks it again with the key it takes).
    pub fn quarantine(
        &self,
        gate_id: i64,
        ev: &ExportedEvent,
        signed_name: bool,
        reason: &str,
        source: Source,
        now: &str,
    ) -> Result<bool> {
        // the signed event and the key it claims (a reset may accept a new
        // key), never an unsigned name
        let mut kept = ExportedEvent::new(ev.event.clone(), ev.gate_key.clone());
        if signed_name {
            kept.resident_name = ev.resident_name.clone();
            kept.name_sig = ev.name_sig.clone();
        }
        let line = serde_json::to_string(&kept).unwrap_or_default();
        let n = self
            .tx
            .prepare_cached(
                "INSERT INTO quarantine (gate_id, seq, hash, line, reason, source, received_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) \
                 ON CONFLICT(gate_id, seq, hash) DO NOTHING",
            )?
            .execute(params![gate_id, ev.event.body.seq, ev.event.hash, line, reason, source.as_str(), now])?;
        Ok(n > 0)
    }

    /// A name the gate signed for an event already held without one (the
    /// community turned `share_names` on after it was collected).
    pub fn fill_name(&self, gate_id: i64, seq: u64, name: &str) -> Result<bool> {
        let n = self
            .tx
            .prepare_cached(
                "UPDATE events SET resident_name = ?3 WHERE gate_id = ?1 AND seq = ?2 AND resident_name IS NULL",
            )?
            .execute(params![gate_id, seq, name])?;
        Ok(n > 0)
    }

    /// The gate's events carried names its key signed.
    pub fn set_names_shared(&self, gate_id: i64) -> Result<()> {
        self.tx.execute("UPDATE gates SET names_shared = 1 WHERE id = ?1 AND names_shared = 0", [gate_id])?;
        Ok(())
    }

    pub fn set_head(&self, gate_id: i64, seq: u64, hash: &str, base_seq: u64) -> Result<()> {
        self.tx.execute(
            "UPDATE gates SET head_seq = ?2, head_hash = ?3, base_seq = ?4 WHERE id = ?1",
            params![gate_id, seq, hash, base_seq],
        )?;
        Ok(())
    }

    pub fn flag_broken(&self, gate_id: i64, detail: &str) -> Result<()> {
        flag_broken(&self.tx, gate_id, detail)
    }

    pub fn gate_by_key(&self, key: &str) -> Result<Option<GateRow>> {
        gate_by(&self.tx, "g.gate_key = ?1", &key)
    }

    /// The quarantined (line, source) of a gate, by seq.
    pub fn quarantine_lines(&self, gate_id: i64) -> Result<Vec<(String, String)>> {
        let mut st = self.tx.prepare("SELECT line, source FROM quarantine WHERE gate_id = ?1 ORDER BY seq, id")?;
        let rows = st.query_map([gate_id], |r| Ok((r.get(0)?, r.get(1)?)))?.collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows)
    }

    /// Deletes a gate's quarantined events; returns how many.
    pub fn clear_quarantine(&self, gate_id: i64) -> Result<u64> {
        Ok(self.tx.execute("DELETE FROM quarantine WHERE gate_id = ?1", [gate_id])? as u64)
    }

    /// The gate's chain counts again (`ok`, no detail, no last error).
    pub fn clear_broken(&self, gate_id: i64) -> Result<()> {
        self.tx.execute(
            "UPDATE gates SET chain_status = 'ok', chain_detail = NULL, last_error = NULL, last_error_at = NULL WHERE id = ?1",
            [gate_id],
        )?;
        Ok(())
    }

    pub fn set_key(&self, gate_id: i64, key: &str) -> Result<()> {
        self.tx.execute("UPDATE gates SET gate_key = ?2 WHERE id = ?1", params![gate_id, key])?;
        Ok(())
    }

    /// Moves the gate's events with `seq >= from_seq` to `superseded`
    /// (under the audit entry and the key they were pinned under); returns how many.
    pub fn supersede_from(&self, gate_id: i64, from_seq: u64, audit_id: i64, gate_key: &str) -> Result<u64> {
        self.tx.execute(
            "INSERT INTO superseded (audit_id, gate_id, gate_key, seq, at, body, prev_hash, hash, sig, source) \
             SELECT ?3, gate_id, ?4, seq, at, body, prev_hash, hash, sig, source FROM events WHERE gate_id = ?1 AND seq >= ?2",
            params![gate_id, from_seq, audit_id, gate_key],
        )?;
        Ok(self.tx.execute("DELETE FROM events WHERE gate_id = ?1 AND seq >= ?2", params![gate_id, from_seq])? as u64)
    }

    /// Records a reset; returns its id.
    pub fn add_audit(
        &self,
        at: &str,
        who: &str,
        gate_id: i64,
        action: &str,
        reason: &str,
        detail: &str,
    ) -> Result<i64> {
        self.tx.execute(
            "INSERT INTO audit (at, who, gate_id, action, reason, detail) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![at, who, gate_id, action, reason, detail],
        )?;
        Ok(self.tx.last_insert_rowid())
    }

    pub fn set_audit_detail(&self, id: i64, detail: &str) -> Result<()> {
        self.tx.execute("UPDATE audit SET detail = ?2 WHERE id = ?1", params![id, detail])?;
        Ok(())
    }

    pub fn commit(self) -> Result<()> {
        Ok(self.tx.commit()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrates_and_registers_gates() {
        let s = DistrictStore::open_in_memory().unwrap();
        let id = s.add_gate("东门", "阳光花园", "ab", Some("http://x"), Some("t"), "2026-01-01T00:00:00Z").unwrap();
        let g = s.gate(id).unwrap().unwrap();
        assert_eq!((g.head_seq, g.head_hash.as_str(), g.chain_status.as_str()), (0, GENESIS, "ok"));
        assert!(!format!("{g:?}").contains("\"t\""));
        assert!(s.gate_by_key("ab").unwrap().is_some());
        assert!(s.add_gate("x", "y", "ab", None, None, "now").is_err());
        s.flag_broken(id, "first").unwrap();
        s.flag_broken(id, "second").unwrap();
        let g = s.gate(id).unwrap().unwrap();
        assert!(g.broken());
        assert_eq!(g.chain_detail.as_deref(), Some("first"));
    }
}
