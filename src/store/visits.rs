//! Outsiders' details kept at the gate (issue 11), visitor approvals and
//! their uses, parcels waiting, urgent outings and their returns. The
//! signed chain carries only a digest of the details (see
//! `domain::visit::detail_digest`).

use super::events::ScanTx;
use super::people::{pass_from_row, resident_from_row, PassRow, ResidentView, RESIDENT_SELECT};
use super::{Result, Store};
use crate::domain::{PassId, ResidentId};
use rusqlite::{params, OptionalExtension, Transaction};
use serde::Serialize;

/// What the gate keeps of one outsider's visit, keyed by its event.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct VisitRecord {
    pub kind: String,
    pub name: Option<String>,
    pub phone: Option<String>,
    pub plate: Option<String>,
    pub origin: Option<String>,
    pub reason: Option<String>,
    pub host: Option<String>,
    pub purpose: Option<String>,
    pub visitor_pass: Option<PassId>,
}

impl VisitRecord {
    /// The details as hashed into the event's `detail_digest`.
    pub fn details(&self) -> serde_json::Value {
        serde_json::json!({
            "kind": self.kind, "name": self.name, "phone": self.phone, "plate": self.plate,
            "from": self.origin, "reason": self.reason, "host": self.host, "purpose": self.purpose,
            "visitor_pass": self.visitor_pass,
        })
    }
}

/// A committee approval for an outsider or a vehicle.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct VisitorPassRow {
    pub pass_id: PassId,
    pub name: String,
    pub phone: String,
    pub host: String,
    pub plate: Option<String>,
    pub valid_from_ms: i64,
    pub valid_until_ms: i64,
    pub uses: u32,
    pub used: u32,
    pub inside_since_ms: Option<i64>,
    pub key_id: u16,
    pub payload: String,
    pub issued_at: String,
    pub issued_by: String,
    pub revoked_at: Option<String>,
}

const VP_COLS: &str = "id, name, phone, host, plate, valid_from_ms, valid_until_ms, uses, used, inside_since_ms, \
     key_id, payload, issued_at, issued_by, revoked_at";

fn vp_from_row(r: &rusqlite::Row) -> rusqlite::Result<VisitorPassRow> {
    Ok(VisitorPassRow {
        pass_id: r.get(0)?,
        name: r.get(1)?,
        phone: r.get(2)?,
        host: r.get(3)?,
        plate: r.get(4)?,
        valid_from_ms: r.get(5)?,
        valid_until_ms: r.get(6)?,
        uses: r.get(7)?,
        used: r.get(8)?,
        inside_since_ms: r.get(9)?,
        key_id: r.get(10)?,
        payload: r.get(11)?,
        issued_at: r.get(12)?,
        issued_by: r.get(13)?,
        revoked_at: r.get(14)?,
    })
}

/// A parcel handed off at the gate.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ParcelRow {
    pub id: u64,
    pub at_ms: i64,
    pub host: Option<String>,
    pub courier: Option<String>,
    pub phone: Option<String>,
    pub company: Option<String>,
    pub note: Option<String>,
    pub collected_by: Option<String>,
    pub collected_at: Option<String>,
    pub operator: Option<String>,
}

/// An urgent outing and whether the resident is back.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ExceptionRow {
    pub id: u64,
    pub resident_id: ResidentId,
    pub name: Option<String>,
    pub household: Option<String>,
    pub reason: String,
    pub destination: String,
    pub expected_return_ms: i64,
    pub approved_by: Option<String>,
    pub out_at_ms: i64,
    pub returned_seq: Option<u64>,
}

/// Why a parcel cannot be marked collected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CollectRefused {
    Unknown,
    AlreadyCollected,
}

/// A new id for a visitor pass, free among resident passes too: an event's
/// `pass_id` names one card.
fn free_pass_id(tx: &Transaction) -> Result<u32> {
    for _ in 0..64 {
        let mut b = [0u8; 4];
        super::people::getrandom(&mut b);
        let id = 10_000_000 + u32::from_le_bytes(b) % 90_000_000;
        let taken: bool = tx.query_row(
            "SELECT EXISTS(SELECT 1 FROM passes WHERE id = ?1) OR EXISTS(SELECT 1 FROM visitor_passes WHERE id = ?1)",
            [id],
            |r| r.get(0),
        )?;
        if !taken {
            return Ok(id);
        }
    }
    Err(super::StoreError::NoFreeId("pass".into()))
}

impl ScanTx<'_> {
    pub fn insert_visit(&self, seq: u64, v: &VisitRecord, salt: &str) -> Result<()> {
        self.tx
            .prepare_cached(
                "INSERT INTO visits (seq, kind, name, phone, plate, origin, reason, host, purpose, visitor_pass, salt, details)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
            )?
            .execute(params![
                seq,
                v.kind,
                v.name,
                v.phone,
                v.plate,
                v.origin,
                v.reason,
                v.host,
                v.purpose,
                v.visitor_pass,
                salt,
                v.details().to_string()
            ])?;
        Ok(())
    }

    pub fn visitor_pass(&self, id: PassId) -> Result<Option<VisitorPassRow>> {
        Ok(self
            .tx
            .prepare_cached(&format!("SELECT {VP_COLS} FROM visitor_passes WHERE id = ?1"))?
            .query_row([id], vp_from_row)
            .optional()?)
    }

    /// One entry on a visitor pass: a use is spent, the holder is inside.
    pub fn visitor_entered(&self, id: PassId, at_ms: i64) -> Result<()> {
        self.tx.execute(
            "UPDATE visitor_passes SET used = used + 1, inside_since_ms = ?2 WHERE id = ?1",
            params![id, at_ms],
        )?;
        Ok(())
    }

    pub fn visitor_left(&self, id: PassId) -> Result<()> {
        self.tx.execute("UPDATE visitor_passes SET inside_since_ms = NULL WHERE id = ?1", [id])?;
        Ok(())
    }

    /// The resident's newest unrevoked pass (the card they forgot).
    pub fn current_pass_of(&self, resident_id: ResidentId) -> Result<Option<PassRow>> {
        Ok(self
            .tx
            .prepare_cached(
                "SELECT id, resident_id, key_id, valid_from, valid_until, payload, issued_at, revoked_at, revoke_reason
                 FROM passes WHERE resident_id = ?1 AND revoked_at IS NULL ORDER BY issued_at DESC, id DESC LIMIT 1",
            )?
            .query_row([resident_id], pass_from_row)
            .optional()?)
    }

    pub fn insert_exception(
        &self,
        seq: u64,
        resident_id: ResidentId,
        reason: &str,
        destination: &str,
        expected_return_ms: i64,
        approved_by: Option<&str>,
    ) -> Result<()> {
        self.tx.execute(
            "INSERT INTO exceptions (seq, resident_id, reason, destination, expected_return_ms, approved_by)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![seq, resident_id, reason, destination, expected_return_ms, approved_by],
        )?;
        Ok(())
    }

    /// The resident came back in: their open urgent outings are closed.
    pub fn close_exceptions(&self, resident_id: ResidentId, seq: u64) -> Result<()> {
        self.tx
            .prepare_cached("UPDATE exceptions SET returned_seq = ?2 WHERE resident_id = ?1 AND returned_seq IS NULL")?
            .execute(params![resident_id, seq])?;
        Ok(())
    }
}

impl Store {
    /// Signs and stores a visitor pass; `sign` makes the payload for the id.
    #[allow(clippy::too_many_arguments)]
    pub fn insert_visitor_pass(
        &mut self,
        name: &str,
        phone: &str,
        host: &str,
        plate: Option<&str>,
        valid: (i64, i64),
        uses: u32,
        key_id: u16,
        issued: (&str, &str),
        sign: impl FnOnce(PassId) -> std::result::Result<String, String>,
    ) -> Result<VisitorPassRow> {
        let tx = self.conn.transaction()?;
        let id = PassId(free_pass_id(&tx)?);
        let payload = sign(id).map_err(super::StoreError::PassDates)?;
        tx.execute(
            "INSERT INTO visitor_passes (id, name, phone, host, plate, valid_from_ms, valid_until_ms, uses, key_id, payload, issued_at, issued_by)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
            params![id, name, phone, host, plate, valid.0, valid.1, uses, key_id, payload, issued.0, issued.1],
        )?;
        let row = tx.query_row(&format!("SELECT {VP_COLS} FROM visitor_passes WHERE id = ?1"), [id], vp_from_row)?;
        tx.commit()?;
        Ok(row)
    }

    pub fn visitor_passes(&self, limit: u32) -> Result<Vec<VisitorPassRow>> {
        let mut st =
            self.conn.prepare(&format!("SELECT {VP_COLS} FROM visitor_passes ORDER BY issued_at DESC LIMIT ?1"))?;
        let rows = st.query_map([limit], vp_from_row)?.collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows)
    }

    pub fn visitor_pass(&self, id: PassId) -> Result<Option<VisitorPassRow>> {
        Ok(self
            .conn
            .query_row(&format!("SELECT {VP_COLS} FROM visitor_passes WHERE id = ?1"), [id], vp_from_row)
            .optional()?)
    }

    /// Visitors inside now, on their approvals.
    pub fn visitors_inside(&self) -> Result<Vec<VisitorPassRow>> {
        let mut st = self.conn.prepare(&format!(
            "SELECT {VP_COLS} FROM visitor_passes WHERE inside_since_ms IS NOT NULL ORDER BY inside_since_ms LIMIT 500"
        ))?;
        let rows = st.query_map([], vp_from_row)?.collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows)
    }

    /// Parcels handed off at the gate, newest first; `waiting` only those
    /// not yet collected.
    pub fn parcels(&self, waiting: bool, limit: u32) -> Result<Vec<ParcelRow>> {
        let sql = format!(
            "SELECT v.seq, e.at_ms, v.host, v.name, v.phone, v.origin, v.reason, v.collected_by, v.collected_at,
                    json_extract(e.body, '$.operator')
             FROM visits v JOIN events e ON e.seq = v.seq
             WHERE v.kind = 'delivery' {} ORDER BY v.seq DESC LIMIT ?1",
            if waiting { "AND v.collected_at IS NULL" } else { "" }
        );
        let mut st = self.conn.prepare(&sql)?;
        let rows = st.query_map([limit], parcel_from_row)?.collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows)
    }

    pub fn parcels_waiting(&self) -> Result<u64> {
        Ok(self.conn.query_row(
            "SELECT COUNT(*) FROM visits WHERE kind = 'delivery' AND collected_at IS NULL",
            [],
            |r| r.get(0),
        )?)
    }

    /// Marks a parcel collected, once.
    pub fn collect_parcel(
        &mut self,
        id: u64,
        by: &str,
        at: &str,
    ) -> Result<std::result::Result<ParcelRow, CollectRefused>> {
        let tx = self.conn.transaction()?;
        let state: Option<Option<String>> = tx
            .query_row("SELECT collected_at FROM visits WHERE seq = ?1 AND kind = 'delivery'", [id], |r| r.get(0))
            .optional()?;
        match state {
            None => return Ok(Err(CollectRefused::Unknown)),
            Some(Some(_)) => return Ok(Err(CollectRefused::AlreadyCollected)),
            Some(None) => {}
        }
        tx.execute("UPDATE visits SET collected_by = ?2, collected_at = ?3 WHERE seq = ?1", params![id, by, at])?;
        let row = tx.query_row(
            "SELECT v.seq, e.at_ms, v.host, v.name, v.phone, v.origin, v.reason, v.collected_by, v.collected_at,
                    json_extract(e.body, '$.operator')
             FROM visits v JOIN events e ON e.seq = v.seq WHERE v.seq = ?1",
            [id],
            parcel_from_row,
        )?;
        tx.commit()?;
        Ok(Ok(row))
    }

    /// Residents matching a guard's search (see `domain::visit::matches_query`),
    /// at most `limit`; the bool says whether more matched.
    pub fn search_residents(&self, q: &str, limit: usize) -> Result<(Vec<ResidentView>, bool)> {
        let mut st = self.conn.prepare(&format!("{RESIDENT_SELECT} ORDER BY h.code, r.name"))?;
        let mut out = Vec::new();
        let mut more = false;
        for r in st.query_map([], resident_from_row)? {
            let r = r?;
            if crate::domain::visit::matches_query(q, &r.name, &r.household) {
                if out.len() == limit {
                    more = true;
                    break;
                }
                out.push(r);
            }
        }
        Ok((out, more))
    }

    pub fn household_id_of(&self, code: &str) -> Result<Option<crate::domain::HouseholdId>> {
        Ok(self.conn.query_row("SELECT id FROM households WHERE code = ?1", [code], |r| r.get(0)).optional()?)
    }

    /// The newest unrevoked pass of a resident (for the search list).
    pub fn current_pass_id(&self, resident_id: ResidentId) -> Result<Option<PassId>> {
        Ok(self
            .conn
            .query_row(
                "SELECT id FROM passes WHERE resident_id = ?1 AND revoked_at IS NULL ORDER BY issued_at DESC, id DESC LIMIT 1",
                [resident_id],
                |r| r.get(0),
            )
            .optional()?)
    }

    /// Urgent outings, newest first; `open` only those not back yet.
    pub fn exceptions(&self, open: bool, limit: u32) -> Result<Vec<ExceptionRow>> {
        let sql = format!(
            "SELECT x.seq, x.resident_id, r.name, h.code, x.reason, x.destination, x.expected_return_ms, x.approved_by,
                    e.at_ms, x.returned_seq
             FROM exceptions x JOIN events e ON e.seq = x.seq
             LEFT JOIN residents r ON r.id = x.resident_id LEFT JOIN households h ON h.id = r.household_id
             {} ORDER BY x.seq DESC LIMIT ?1",
            if open { "WHERE x.returned_seq IS NULL" } else { "" }
        );
        let mut st = self.conn.prepare(&sql)?;
        let rows = st
            .query_map([limit], |r| {
                Ok(ExceptionRow {
                    id: r.get(0)?,
                    resident_id: r.get(1)?,
                    name: r.get(2)?,
                    household: r.get(3)?,
                    reason: r.get(4)?,
                    destination: r.get(5)?,
                    expected_return_ms: r.get(6)?,
                    approved_by: r.get(7)?,
                    out_at_ms: r.get(8)?,
                    returned_seq: r.get(9)?,
                })
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows)
    }

    /// Events referred to the medical team (fever on the way in) since `from_ms`.
    pub fn referrals(&self, from_ms: i64, limit: u32) -> Result<Vec<crate::domain::chain::ChainedEvent>> {
        let mut st = self.conn.prepare(
            "SELECT body, prev_hash, hash, sig FROM events WHERE decision = 'refer' AND at_ms >= ?1 ORDER BY seq DESC LIMIT ?2",
        )?;
        let mut out = Vec::new();
        for r in st.query_map(params![from_ms, limit], |r| {
            let body: String = r.get(0)?;
            Ok((body, r.get::<_, String>(1)?, r.get::<_, String>(2)?, r.get::<_, String>(3)?))
        })? {
            let (body, prev_hash, hash, sig) = r?;
            if let Ok(body) = serde_json::from_str(&body) {
                out.push(crate::domain::chain::ChainedEvent { body, prev_hash, hash, sig });
            }
        }
        Ok(out)
    }

    /// Each visit's stored details against the digest its signed event
    /// carries: the rows whose details were changed, named.
    pub fn visit_digest_differences(&self, limit: usize) -> Result<Vec<String>> {
        let mut st = self.conn.prepare(
            "SELECT v.seq, v.salt, v.details, json_extract(e.body, '$.detail_digest')
             FROM visits v LEFT JOIN events e ON e.seq = v.seq ORDER BY v.seq",
        )?;
        let mut out = Vec::new();
        for r in st.query_map([], |r| {
            Ok((r.get::<_, u64>(0)?, r.get::<_, String>(1)?, r.get::<_, String>(2)?, r.get::<_, Option<String>>(3)?))
        })? {
            let (seq, salt, details, want) = r?;
            let got = serde_json::from_str::<serde_json::Value>(&details)
                .map(|d| crate::domain::visit::detail_digest(&salt, &d))
                .ok();
            if want.is_some() && got != want && out.len() < limit {
                out.push(format!(
                    "visit {seq}: the details kept at the gate do not match the digest in its signed event (changed)"
                ));
            }
        }
        Ok(out)
    }
}

fn parcel_from_row(r: &rusqlite::Row) -> rusqlite::Result<ParcelRow> {
    Ok(ParcelRow {
        id: r.get(0)?,
        at_ms: r.get(1)?,
        host: r.get(2)?,
        courier: r.get(3)?,
        phone: r.get(4)?,
        company: r.get(5)?,
        note: r.get(6)?,
        collected_by: r.get(7)?,
        collected_at: r.get(8)?,
        operator: r.get(9)?,
    })
}
