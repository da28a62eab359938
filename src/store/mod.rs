//! All SQL lives under this module. One SQLite file per gate, in WAL mode
//! with `synchronous=FULL`: a committed transaction survives a power cut
//! (if the card honours fsync), and readers never block the writer.
//!
//! Schema changes are numbered migrations applied in order at open.

mod changes;
mod committee;
mod directives;
mod events;
mod followups;
mod ids;
mod peers;
mod people;
mod security;
mod visits;

pub use committee::*;
pub use directives::ReceivedDirective;
pub use events::*;
pub use followups::*;
pub use peers::*;
pub use people::*;
pub use security::*;
pub use visits::*;

use rusqlite::{Connection, OptionalExtension};
use std::path::Path;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(
        "the disk is full: the entry log cannot be written (free space on the SD card; scans resume by themselves)"
    )]
    DiskFull,
    #[error("the database is busy (another gatepass command holds it); try again")]
    Busy,
    #[error("database error: {0}")]
    Sqlite(rusqlite::Error),
    #[error("no resident {0} in the register (see `gatepass household list`)")]
    UnknownResident(String),
    #[error("no pass {0} (see passes.csv or the passes page)")]
    UnknownPass(crate::domain::PassId),
    #[error("no active key {0} (see `gatepass key list`)")]
    UnknownKey(u16),
    #[error("no active token {0} (see `gatepass token list`)")]
    UnknownToken(String),
    #[error("give the token id (8 hex digits) shown in the token list")]
    BadTokenId,
    /// A pass could not be signed for these dates.
    #[error("{0}")]
    PassDates(String),
    #[error("I/O error: {0}")]
    Io(std::io::Error),
    /// A value could not be encoded for storage (a bug, never input).
    #[error("cannot encode {0}")]
    Encode(String),
    #[error("could not find a free {0} id")]
    NoFreeId(String),
    /// A stored value the code cannot read (edited or corrupted by hand):
    /// whatever needed it is refused, never guessed.
    #[error("unreadable record: {0} (see `gatepass config check`)")]
    Unreadable(String),
    #[error(
        "this data directory was made by a newer gatepass (schema {found}, this build knows {known}); upgrade gatepass"
    )]
    TooNew { found: i64, known: i64 },
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        match e.sqlite_error_code() {
            Some(rusqlite::ErrorCode::DiskFull) => StoreError::DiskFull,
            Some(rusqlite::ErrorCode::DatabaseBusy) | Some(rusqlite::ErrorCode::DatabaseLocked) => StoreError::Busy,
            _ => StoreError::Sqlite(e),
        }
    }
}

impl From<std::io::Error> for StoreError {
    fn from(e: std::io::Error) -> Self {
        if e.raw_os_error() == Some(libc::ENOSPC) {
            StoreError::DiskFull
        } else {
            StoreError::Io(e)
        }
    }
}

pub type Result<T> = std::result::Result<T, StoreError>;

const MIGRATIONS: &[&str] = &[
    // 1: the register, passes, keys, the event chain, access control, audit
    r#"
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE TABLE households (
        id INTEGER PRIMARY KEY,
        code TEXT NOT NULL UNIQUE,
        address TEXT NOT NULL DEFAULT '',
        grid TEXT NOT NULL DEFAULT ''
    );
    CREATE TABLE residents (
        id INTEGER PRIMARY KEY,
        household_id INTEGER NOT NULL REFERENCES households(id),
        name TEXT NOT NULL,
        phone TEXT,
        category TEXT NOT NULL DEFAULT 'normal',
        category_until TEXT,
        UNIQUE (household_id, name)
    );
    CREATE TABLE community_keys (
        key_id INTEGER PRIMARY KEY,
        public_key TEXT NOT NULL,
        created_at TEXT NOT NULL,
        retired_at TEXT
    );
    CREATE TABLE passes (
        id INTEGER PRIMARY KEY,
        resident_id INTEGER NOT NULL REFERENCES residents(id),
        key_id INTEGER NOT NULL,
        valid_from TEXT NOT NULL,
        valid_until TEXT NOT NULL,
        payload TEXT NOT NULL,
        issued_at TEXT NOT NULL,
        revoked_at TEXT,
        revoke_reason TEXT
    );
    CREATE INDEX passes_resident ON passes(resident_id);
    CREATE TABLE events (
        seq INTEGER PRIMARY KEY,
        at_ms INTEGER NOT NULL,
        resident_id INTEGER,
        household TEXT,
        direction TEXT,
        decision TEXT NOT NULL,
        body TEXT NOT NULL,
        prev_hash TEXT NOT NULL,
        hash TEXT NOT NULL,
        sig TEXT NOT NULL
    );
    CREATE INDEX events_resident ON events(resident_id, seq);
    CREATE TABLE presence (
        resident_id INTEGER PRIMARY KEY,
        state TEXT NOT NULL,
        since_ms INTEGER NOT NULL,
        seq INTEGER NOT NULL
    );
    CREATE TABLE outings (
        seq INTEGER PRIMARY KEY,
        household_id INTEGER NOT NULL,
        resident_id INTEGER NOT NULL,
        at_ms INTEGER NOT NULL,
        counted INTEGER NOT NULL
    );
    CREATE INDEX outings_household ON outings(household_id, at_ms);
    CREATE TABLE tokens (
        hash TEXT PRIMARY KEY,
        role TEXT NOT NULL,
        name TEXT NOT NULL,
        created_at TEXT NOT NULL,
        revoked_at TEXT
    );
    CREATE TABLE users (
        name TEXT PRIMARY KEY,
        role TEXT NOT NULL,
        password_hash TEXT NOT NULL,
        created_at TEXT NOT NULL
    );
    CREATE TABLE audit (
        id INTEGER PRIMARY KEY,
        at TEXT NOT NULL,
        actor TEXT NOT NULL,
        action TEXT NOT NULL,
        detail TEXT NOT NULL
    );
    CREATE TABLE policy_override (id INTEGER PRIMARY KEY CHECK (id = 1), doc TEXT NOT NULL);
    "#,
    // 2: the clock check and retention look events up by time on every
    // batch; without this index that is a scan of the whole log
    "CREATE INDEX events_at ON events(at_ms);",
    // 3: the category the register file last gave, so a re-import only
    // applies categories the spreadsheet changed
    "ALTER TABLE residents ADD COLUMN imported_category TEXT;",
    // 4: from this event on, an essential worker's exit says `quota_exempt`
    // in the signed event, so the outings table can be rebuilt from the
    // chain; before it, the `counted` flag is not in the evidence
    r#"INSERT OR IGNORE INTO meta (key, value) SELECT 'quota_exempt_from_seq', CAST(COALESCE(
        (SELECT MAX(seq) FROM events),
        (SELECT json_extract(value, '$.seq') FROM meta WHERE key = 'checkpoint'), 0) + 1 AS TEXT);"#,
    // -- issue 11: outsiders' details kept at the gate (the chain holds
    // only their digest), visitor approvals and their uses, urgent outings
    r#"
    CREATE TABLE visits (
        seq INTEGER PRIMARY KEY,
        kind TEXT NOT NULL,
        name TEXT, phone TEXT, plate TEXT, origin TEXT, reason TEXT, host TEXT, purpose TEXT,
        visitor_pass INTEGER,
        salt TEXT NOT NULL,
        details TEXT NOT NULL,
        collected_by TEXT, collected_at TEXT
    );
    CREATE INDEX visits_waiting ON visits(kind, collected_at);
    CREATE TABLE visitor_passes (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL, phone TEXT NOT NULL, host TEXT NOT NULL, plate TEXT,
        valid_from_ms INTEGER NOT NULL, valid_until_ms INTEGER NOT NULL,
        uses INTEGER NOT NULL, used INTEGER NOT NULL DEFAULT 0, inside_since_ms INTEGER,
        key_id INTEGER NOT NULL, payload TEXT NOT NULL, issued_at TEXT NOT NULL, issued_by TEXT NOT NULL,
        revoked_at TEXT
    );
    CREATE TABLE exceptions (
        seq INTEGER PRIMARY KEY,
        resident_id INTEGER NOT NULL,
        reason TEXT NOT NULL, destination TEXT NOT NULL,
        expected_return_ms INTEGER NOT NULL,
        approved_by TEXT,
        returned_seq INTEGER
    );
    CREATE INDEX exceptions_open ON exceptions(resident_id, returned_seq);
    "#,
    // -- issue 10: the other gates of the community (join codes by hash;
    // each peer's address, key and credentials both ways)
    r#"
    CREATE TABLE join_codes (
        code_hash TEXT PRIMARY KEY,
        gate TEXT NOT NULL,
        created_at TEXT NOT NULL,
        created_by TEXT NOT NULL,
        expires_at_ms INTEGER NOT NULL,
        used_at TEXT
    );
    CREATE TABLE peers (
        gate TEXT PRIMARY KEY,
        url TEXT NOT NULL,
        gate_key TEXT NOT NULL,
        inbound_token_hash TEXT NOT NULL,
        outbound_token TEXT NOT NULL,
        added_at TEXT NOT NULL,
        removed_at TEXT,
        last_heard_at TEXT,
        heard_seq INTEGER NOT NULL DEFAULT 0,
        behind INTEGER
    );
    "#,
    // -- issue 10: crossings of the other gates, each gate's chain as it
    // signed it (verified before it is stored), and each gate's key as
    // first learned (from the join, or from the first gate's list)
    r#"
    CREATE TABLE peer_events (
        gate TEXT NOT NULL,
        seq INTEGER NOT NULL,
        at_ms INTEGER NOT NULL,
        resident_id INTEGER,
        household TEXT,
        direction TEXT,
        decision TEXT NOT NULL,
        body TEXT NOT NULL,
        prev_hash TEXT NOT NULL,
        hash TEXT NOT NULL,
        sig TEXT NOT NULL,
        PRIMARY KEY (gate, seq)
    );
    CREATE INDEX peer_events_resident ON peer_events(resident_id, at_ms);
    CREATE INDEX peer_events_household ON peer_events(household, at_ms);
    CREATE INDEX peer_events_at ON peer_events(at_ms);
    -- a household's crossings at this gate, for the conflict replay
    CREATE INDEX events_household ON events(household, at_ms);
    CREATE TABLE gate_keys (
        gate TEXT PRIMARY KEY,
        gate_key TEXT NOT NULL,
        learned_from TEXT NOT NULL,
        learned_at TEXT NOT NULL
    );
    ALTER TABLE peers ADD COLUMN last_error TEXT;
    CREATE TABLE conflicts (
        id INTEGER PRIMARY KEY,
        rule TEXT NOT NULL,
        household TEXT NOT NULL,
        first_gate TEXT NOT NULL,
        first_seq INTEGER NOT NULL,
        second_gate TEXT NOT NULL,
        second_seq INTEGER NOT NULL,
        at_ms INTEGER NOT NULL,
        recorded_at TEXT NOT NULL,
        UNIQUE (rule, first_gate, first_seq, second_gate, second_seq)
    );
    "#,
    r#"
    -- issue 12: revocation reasons as codes (earlier free text kept as a
    -- note), residents who left (moved out, deceased: the row and its
    -- history stay), returnees (origin, arrival date, responsible cadre) and
    -- home-quarantine follow-up visits
    ALTER TABLE passes ADD COLUMN revoke_note TEXT;
    UPDATE passes SET revoke_reason = 'replaced' WHERE revoke_reason = 'replaced by a new card';
    UPDATE passes SET revoke_note = revoke_reason, revoke_reason = 'other'
        WHERE revoke_reason IS NOT NULL
        AND revoke_reason NOT IN ('lost', 'damaged', 'replaced', 'moved_out', 'deceased', 'other');
    ALTER TABLE residents ADD COLUMN left_reason TEXT;
    ALTER TABLE residents ADD COLUMN left_at TEXT;
    ALTER TABLE residents ADD COLUMN origin TEXT;
    ALTER TABLE residents ADD COLUMN arrived TEXT;
    ALTER TABLE residents ADD COLUMN monitor TEXT;
    ALTER TABLE residents ADD COLUMN category_since TEXT;
    CREATE TABLE followups (
        id INTEGER PRIMARY KEY,
        resident_id INTEGER NOT NULL REFERENCES residents(id),
        at_ms INTEGER NOT NULL,
        temperature_c REAL,
        symptoms TEXT NOT NULL DEFAULT '',
        note TEXT NOT NULL DEFAULT '',
        fever INTEGER NOT NULL DEFAULT 0,
        actor TEXT NOT NULL,
        recorded_at TEXT NOT NULL
    );
    CREATE INDEX followups_resident ON followups(resident_id, at_ms);
    CREATE INDEX followups_at ON followups(at_ms);
    "#,
    // -- issue 13: directives received from the district, each with what
    // the gate did with it (a replay check looks for an applied id)
    r#"CREATE TABLE directives (
        n INTEGER PRIMARY KEY,
        id TEXT NOT NULL,
        received_at TEXT NOT NULL,
        via TEXT NOT NULL,
        community TEXT NOT NULL,
        resident_id INTEGER NOT NULL,
        category TEXT NOT NULL,
        until TEXT,
        issued_at TEXT NOT NULL,
        issued_by TEXT NOT NULL,
        result TEXT NOT NULL
    );
    CREATE INDEX directives_id ON directives(id);"#,
    // -- issue 10: the committee log, each committee change hash-chained and
    // signed by the community (sealed on the first directory, copied by
    // the other gates); `committee_applied` in meta says which record a
    // joined gate's tables are at
    r#"CREATE TABLE committee_log (
        seq INTEGER PRIMARY KEY,
        at TEXT NOT NULL,
        actor TEXT NOT NULL,
        action TEXT NOT NULL,
        detail TEXT NOT NULL,
        state_hash TEXT NOT NULL,
        prev_hash TEXT NOT NULL,
        hash TEXT NOT NULL,
        key_id INTEGER NOT NULL,
        sig TEXT NOT NULL
    );"#,
];

/// How a stored value looks, for a message naming an unreadable record.
pub(crate) fn describe(v: &rusqlite::types::Value) -> String {
    use rusqlite::types::Value;
    match v {
        Value::Null => "NULL".into(),
        Value::Integer(i) => i.to_string(),
        Value::Real(r) => r.to_string(),
        Value::Text(t) => format!("'{}'", t.chars().take(60).collect::<String>().escape_debug()),
        Value::Blob(b) => format!("a blob of {} bytes", b.len()),
    }
}

/// A stored integer that must fit `T`, or why not.
pub(crate) fn int_of<T: TryFrom<i64>>(v: &rusqlite::types::Value) -> std::result::Result<T, String> {
    match v {
        rusqlite::types::Value::Integer(i) => T::try_from(*i).map_err(|_| format!("{i} is out of range")),
        other => Err(format!("{} is not a number", describe(other))),
    }
}

/// Prepares a connection the way every gatepass database is used: WAL with
/// `synchronous=FULL` (every commit is fsynced to the WAL before it
/// returns, so a shown decision survives a power cut), foreign keys on, and
/// the numbered `migrations` applied in order, each in its own transaction.
pub(crate) fn open_durable(mut conn: Connection, migrations: &[&str], busy: std::time::Duration) -> Result<Connection> {
    conn.busy_timeout(busy)?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    let known = migrations.len() as i64;
    if version > known {
        return Err(StoreError::TooNew { found: version, known });
    }
    for (i, sql) in migrations.iter().enumerate().skip(version as usize) {
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", (i + 1) as i64)?;
        tx.commit()?;
    }
    Ok(conn)
}

pub struct Store {
    pub(crate) conn: Connection,
}

impl Store {
    pub fn open(path: &Path) -> Result<Store> {
        let conn = Connection::open(path)?;
        Self::setup(conn)
    }

    pub fn open_in_memory() -> Result<Store> {
        Self::setup(Connection::open_in_memory()?)
    }

    fn setup(conn: Connection) -> Result<Store> {
        let conn = open_durable(conn, MIGRATIONS, std::time::Duration::from_secs(5))?;
        Ok(Store { conn })
    }

    pub fn meta(&self, key: &str) -> Result<Option<String>> {
        Ok(self.conn.query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0)).optional()?)
    }

    pub fn delete_meta(&self, key: &str) -> Result<()> {
        self.conn.execute("DELETE FROM meta WHERE key = ?1", [key])?;
        Ok(())
    }

    pub fn set_meta(&self, key: &str, value: &str) -> Result<()> {
        self.conn.execute(
            "INSERT INTO meta (key, value) VALUES (?1, ?2) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            [key, value],
        )?;
        Ok(())
    }

    /// Writes the WAL back into the main file (clean shutdown, backups).
    pub fn wal_checkpoint(&self) -> Result<()> {
        self.conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE);")?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrates_and_reopens() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("t.db");
        {
            let s = Store::open(&p).unwrap();
            s.set_meta("x", "1").unwrap();
        }
        let s = Store::open(&p).unwrap();
        assert_eq!(s.meta("x").unwrap().as_deref(), Some("1"));
        let mode: String = s.conn.pragma_query_value(None, "journal_mode", |r| r.get(0)).unwrap();
        assert_eq!(mode, "wal");
        let sync: i64 = s.conn.pragma_query_value(None, "synchronous", |r| r.get(0)).unwrap();
        assert_eq!(sync, 2);
    }

    #[test]
    fn refuses_newer_schema() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("t.db");
        Store::open(&p).unwrap().conn.pragma_update(None, "user_version", 99).unwrap();
        assert!(matches!(Store::open(&p), Err(StoreError::TooNew { found: 99, .. })));
    }
}
