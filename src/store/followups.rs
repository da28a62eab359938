//! Home-quarantine follow-up visits (随访台账), issue 12.

use super::{Result, Store};
use crate::domain::ResidentId;
use rusqlite::params;
use serde::Serialize;

/// One recorded visit, with who it was for.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct FollowupRow {
    pub id: i64,
    pub resident_id: ResidentId,
    pub name: String,
    pub household: String,
    pub grid: String,
    pub at_ms: i64,
    pub temperature_c: Option<f64>,
    pub symptoms: String,
    pub note: String,
    pub fever: bool,
    /// Who recorded it (`volunteer:name`).
    pub actor: String,
}

/// A visit to store.
#[derive(Debug, Clone)]
pub struct NewFollowup<'a> {
    pub resident_id: ResidentId,
    pub at_ms: i64,
    pub temperature_c: Option<f64>,
    pub symptoms: &'a str,
    pub note: &'a str,
    pub fever: bool,
    pub actor: &'a str,
    pub recorded_at: &'a str,
}

const SELECT: &str = "SELECT f.id, f.resident_id, COALESCE(r.name, ''), COALESCE(h.code, ''), COALESCE(h.grid, ''),
    f.at_ms, f.temperature_c, f.symptoms, f.note, f.fever, f.actor
    FROM followups f LEFT JOIN residents r ON r.id = f.resident_id LEFT JOIN households h ON h.id = r.household_id";

fn row(r: &rusqlite::Row) -> rusqlite::Result<FollowupRow> {
    Ok(FollowupRow {
        id: r.get(0)?,
        resident_id: r.get(1)?,
        name: r.get(2)?,
        household: r.get(3)?,
        grid: r.get(4)?,
        at_ms: r.get(5)?,
        temperature_c: r.get(6)?,
        symptoms: r.get(7)?,
        note: r.get(8)?,
        fever: r.get::<_, i64>(9)? != 0,
        actor: r.get(10)?,
    })
}

impl Store {
    /// Events written from `from_ms` to `to_ms` (exclusive) in chain
    /// order, at most `limit` (the day's ledger).
    pub fn events_between(
        &self,
        from_ms: i64,
        to_ms: i64,
        limit: u32,
    ) -> Result<Vec<crate::domain::chain::ChainedEvent>> {
        let mut st = self.conn.prepare(
            "SELECT body, prev_hash, hash, sig FROM events WHERE at_ms >= ?1 AND at_ms < ?2 ORDER BY seq LIMIT ?3",
        )?;
        let rows = st.query_map(params![from_ms, to_ms, limit], super::events::event_from_row)?;
        let mut out = Vec::new();
        for r in rows {
            out.push(r??);
        }
        Ok(out)
    }

    pub fn add_followup(&self, f: &NewFollowup<'_>) -> Result<i64> {
        self.conn.execute(
            "INSERT INTO followups (resident_id, at_ms, temperature_c, symptoms, note, fever, actor, recorded_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            params![f.resident_id, f.at_ms, f.temperature_c, f.symptoms, f.note, f.fever, f.actor, f.recorded_at],
        )?;
        Ok(self.conn.last_insert_rowid())
    }

    /// Visits from `from_ms` (inclusive) to `to_ms` (exclusive), oldest
    /// first, at most `limit`.
    pub fn followups_between(&self, from_ms: i64, to_ms: i64, limit: u32) -> Result<Vec<FollowupRow>> {
        let mut st = self
            .conn
            .prepare(&format!("{SELECT} WHERE f.at_ms >= ?1 AND f.at_ms < ?2 ORDER BY f.at_ms, f.id LIMIT ?3"))?;
        let rows = st.query_map(params![from_ms, to_ms, limit], row)?.collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows)
    }

    /// Fevers found at home, newest first.
    pub fn followup_fevers(&self, limit: u32) -> Result<Vec<FollowupRow>> {
        let mut st = self.conn.prepare(&format!("{SELECT} WHERE f.fever = 1 ORDER BY f.at_ms DESC LIMIT ?1"))?;
        let rows = st.query_map([limit], row)?.collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows)
    }
}
