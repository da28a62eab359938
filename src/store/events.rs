//! The event chain table and the state derived from it (who is out, the
//! household's outings), written together in one transaction per batch.

use super::people::{PassRow, ResidentView};
use super::{Result, Store};
use crate::domain::chain::{ChainedEvent, EventBody, GENESIS};
use rusqlite::{params, OptionalExtension, Transaction};
use serde::Serialize;

/// (name, category, category end date) of household members out now.
pub type OthersOut = Vec<(String, String, Option<String>)>;

/// A write transaction for a batch of scans (group commit: one fsync for
/// all of them, and nothing is answered before it).
pub struct ScanTx<'a> {
    tx: Transaction<'a>,
}

#[derive(Debug, Clone, Serialize)]
pub struct OutRow {
    pub resident_id: u32,
    pub name: String,
    pub household: String,
    pub since_ms: i64,
    pub seq: u64,
}

impl Store {
    pub fn begin_scans(&mut self) -> Result<ScanTx<'_>> {
        let tx = self.conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        Ok(ScanTx { tx })
    }

    /// The newest (seq, hash), or (0, genesis) for an empty log.
    pub fn head(&self) -> Result<(u64, String)> {
        head(&self.conn)
    }

    pub fn newest_event_ms(&self) -> Result<Option<i64>> {
        Ok(self.conn.query_row("SELECT MAX(at_ms) FROM events", [], |r| r.get(0))?)
    }

    /// Events after `after`, in sequence order, at most `limit`.
    pub fn events_after(&self, after: u64, limit: u32) -> Result<Vec<ChainedEvent>> {
        let mut st = self
            .conn
            .prepare_cached("SELECT body, prev_hash, hash, sig FROM events WHERE seq > ?1 ORDER BY seq LIMIT ?2")?;
        let rows = st.query_map(params![after, limit], event_from_row)?;
        let mut out = Vec::new();
        for r in rows {
            out.push(r??);
        }
        Ok(out)
    }

    /// Calls `f` for every event in order without loading them all.
    pub fn for_each_event(&self, after: u64, mut f: impl FnMut(Result<ChainedEvent>) -> bool) -> Result<()> {
        let mut st = self.conn.prepare("SELECT body, prev_hash, hash, sig FROM events WHERE seq > ?1 ORDER BY seq")?;
        let mut rows = st.query([after])?;
        while let Some(r) = rows.next()? {
            let ev = event_from_row(r).map_err(Into::into).and_then(|x| x);
            if !f(ev) {
                break;
            }
        }
        Ok(())
    }

    /// Deletes events up to `seq` and records the signed checkpoint that
    /// replaces them, in one transaction. Outings older than `outings_before_ms`
    /// (past every quota period) go too.
    pub fn purge_through(
        &mut self,
        checkpoint: &crate::domain::chain::Checkpoint,
        outings_before_ms: i64,
    ) -> Result<u64> {
        let tx = self.conn.transaction()?;
        let n = tx.execute("DELETE FROM events WHERE seq <= ?1", [checkpoint.seq])?;
        tx.execute("DELETE FROM outings WHERE at_ms < ?1", [outings_before_ms])?;
        let json = serde_json::to_string(checkpoint).map_err(|e| super::StoreError::Invalid(e.to_string()))?;
        tx.execute(
            "INSERT INTO meta (key, value) VALUES ('checkpoint', ?1) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            [json],
        )?;
        tx.commit()?;
        Ok(n as u64)
    }

    /// The signed checkpoint of the purged prefix, if anything was purged.
    pub fn checkpoint(&self) -> Result<Option<crate::domain::chain::Checkpoint>> {
        Ok(self.meta("checkpoint")?.and_then(|j| serde_json::from_str(&j).ok()))
    }

    /// The first event at or after `at_ms`, if any.
    pub fn first_seq_at_or_after(&self, at_ms: i64) -> Result<Option<u64>> {
        Ok(self.conn.query_row("SELECT MIN(seq) FROM events WHERE at_ms >= ?1", [at_ms], |r| r.get(0))?)
    }

    /// Everyone out right now, longest out first.
    pub fn out_now(&self) -> Result<Vec<OutRow>> {
        let mut st = self.conn.prepare(
            "SELECT p.resident_id, r.name, h.code, p.since_ms, p.seq FROM presence p
             JOIN residents r ON r.id = p.resident_id JOIN households h ON h.id = r.household_id
             WHERE p.state = 'out' ORDER BY p.since_ms",
        )?;
        let rows = st
            .query_map([], |r| {
                Ok(OutRow {
                    resident_id: r.get(0)?,
                    name: r.get(1)?,
                    household: r.get(2)?,
                    since_ms: r.get(3)?,
                    seq: r.get(4)?,
                })
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows)
    }

    /// Recent events of one kind of interest for the alerts page.
    pub fn alerts(&self, limit: u32) -> Result<Vec<ChainedEvent>> {
        let mut st = self.conn.prepare(
            "SELECT body, prev_hash, hash, sig FROM events WHERE decision != 'allow' OR body LIKE '%\"overdue\"%'
             ORDER BY seq DESC LIMIT ?1",
        )?;
        let rows = st.query_map([limit], event_from_row)?;
        let mut out = Vec::new();
        for r in rows {
            out.push(r??);
        }
        Ok(out)
    }
}

fn head(conn: &rusqlite::Connection) -> Result<(u64, String)> {
    if let Some(h) = conn
        .query_row("SELECT seq, hash FROM events ORDER BY seq DESC LIMIT 1", [], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?
    {
        return Ok(h);
    }
    // everything purged: the chain goes on from the checkpoint
    let cp: Option<String> =
        conn.query_row("SELECT value FROM meta WHERE key = 'checkpoint'", [], |r| r.get(0)).optional()?;
    Ok(cp
        .and_then(|j| serde_json::from_str::<crate::domain::chain::Checkpoint>(&j).ok())
        .map(|c| (c.seq, c.hash))
        .unwrap_or((0, GENESIS.to_string())))
}

fn event_from_row(r: &rusqlite::Row) -> rusqlite::Result<Result<ChainedEvent>> {
    let body: String = r.get(0)?;
    let parsed: std::result::Result<EventBody, _> = serde_json::from_str(&body);
    Ok(match parsed {
        Ok(body) => Ok(ChainedEvent { body, prev_hash: r.get(1)?, hash: r.get(2)?, sig: r.get(3)? }),
        Err(e) => Err(super::StoreError::Invalid(format!("stored event is not readable: {e}"))),
    })
}

impl ScanTx<'_> {
    pub fn head(&self) -> Result<(u64, String)> {
        head(&self.tx)
    }

    pub fn pass(&self, pass_id: u32) -> Result<Option<PassRow>> {
        Ok(self.tx.query_row(super::people::PASS_BY_ID, [pass_id], super::people::pass_from_row).optional()?)
    }

    pub fn resident(&self, id: u32) -> Result<Option<ResidentView>> {
        let sql = format!("{} WHERE r.id = ?1", super::people::RESIDENT_SELECT);
        Ok(self.tx.prepare_cached(&sql)?.query_row([id], super::people::resident_from_row).optional()?)
    }

    /// ("in"|"out", since_ms) of a resident, if ever seen.
    pub fn presence(&self, resident_id: u32) -> Result<Option<(String, i64)>> {
        Ok(self
            .tx
            .query_row("SELECT state, since_ms FROM presence WHERE resident_id = ?1", [resident_id], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .optional()?)
    }

    /// Other members of the household out now, with their category and
    /// category end date (the caller decides who counts).
    pub fn others_out(&self, household_id: u32, resident_id: u32) -> Result<OthersOut> {
        let mut st = self.tx.prepare_cached(
            "SELECT r.name, r.category, r.category_until FROM presence p JOIN residents r ON r.id = p.resident_id
             WHERE r.household_id = ?1 AND p.state = 'out' AND r.id != ?2",
        )?;
        let rows = st
            .query_map(params![household_id, resident_id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows)
    }

    /// Counted outings of a household in [from_ms, to_ms].
    pub fn household_exits(&self, household_id: u32, from_ms: i64, to_ms: i64) -> Result<Vec<i64>> {
        let mut st = self.tx.prepare_cached(
            "SELECT at_ms FROM outings WHERE household_id = ?1 AND counted = 1 AND at_ms >= ?2 AND at_ms <= ?3",
        )?;
        let rows =
            st.query_map(params![household_id, from_ms, to_ms], |r| r.get(0))?.collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows)
    }

    pub fn append(&self, ev: &ChainedEvent, at_ms: i64) -> Result<()> {
        let b = &ev.body;
        self.tx
            .prepare_cached(
                "INSERT INTO events (seq, at_ms, resident_id, household, direction, decision, body, prev_hash, hash, sig)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
            )?
            .execute(params![
                b.seq,
                at_ms,
                b.resident_id,
                b.household,
                b.direction,
                b.decision,
                crate::domain::chain::body_json(b),
                ev.prev_hash,
                ev.hash,
                ev.sig
            ])?;
        Ok(())
    }

    /// Records a crossing. A backfilled crossing older than what is known
    /// does not move the person: the newer knowledge wins.
    pub fn set_presence(&self, resident_id: u32, state: &str, since_ms: i64, seq: u64) -> Result<()> {
        self.tx
            .prepare_cached(
                "INSERT INTO presence (resident_id, state, since_ms, seq) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT(resident_id) DO UPDATE SET state = excluded.state, since_ms = excluded.since_ms, seq = excluded.seq
                 WHERE excluded.since_ms >= presence.since_ms",
            )?
            .execute(params![resident_id, state, since_ms, seq])?;
        Ok(())
    }

    pub fn add_outing(&self, seq: u64, household_id: u32, resident_id: u32, at_ms: i64, counted: bool) -> Result<()> {
        self.tx
            .prepare_cached(
                "INSERT INTO outings (seq, household_id, resident_id, at_ms, counted) VALUES (?1, ?2, ?3, ?4, ?5)",
            )?
            .execute(params![seq, household_id, resident_id, at_ms, counted])?;
        Ok(())
    }

    pub fn commit(self) -> Result<()> {
        self.tx.commit()?;
        Ok(())
    }
}
