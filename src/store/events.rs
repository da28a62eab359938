//! The event chain table and the state derived from it (who is out, the
//! household's outings), written together in one transaction per batch.

use super::people::{PassRow, ResidentView};
use super::{Result, Store};
use crate::domain::chain::{ChainedEvent, EventBody, GENESIS};
use crate::domain::derived::{CarriedState, Cell, Derived, OutingRow, PresenceRow};
use crate::domain::{Category, HouseholdId, PassId, ResidentId};
use chrono::NaiveDate;
use rusqlite::types::Value;
use rusqlite::{params, OptionalExtension, Transaction};
use serde::Serialize;
use std::collections::HashMap;

/// A household member out now: name, and their category and its end date
/// as stored, or why they cannot be read.
pub type OthersOut = Vec<(String, std::result::Result<(Category, Option<NaiveDate>), String>)>;

/// A presence row as the decision needs it, or why it cannot be read.
pub type PresenceFact = std::result::Result<(Presence, i64), String>;

pub use crate::domain::Presence;

/// See [`ScanTx::change_stamp`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChangeStamp {
    data_version: i64,
    total_changes: u64,
}

/// A write transaction for a batch of scans (group commit: one fsync for
/// all of them, and nothing is answered before it).
pub struct ScanTx<'a> {
    pub(super) tx: Transaction<'a>,
}

#[derive(Debug, Clone, Serialize)]
pub struct OutRow {
    pub resident_id: ResidentId,
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
    /// With it goes the signed derived state those events leave (`carried`),
    /// so presence and outings can still be rebuilt and checked.
    pub fn purge_through(
        &mut self,
        checkpoint: &crate::domain::chain::Checkpoint,
        outings_before_ms: i64,
        carried: &CarriedState,
    ) -> Result<u64> {
        let tx = self.conn.transaction()?;
        let n = tx.execute("DELETE FROM events WHERE seq <= ?1", [checkpoint.seq])?;
        tx.execute("DELETE FROM outings WHERE at_ms < ?1", [outings_before_ms])?;
        let json =
            serde_json::to_string(checkpoint).map_err(|e| super::StoreError::Encode(format!("a checkpoint: {e}")))?;
        let state =
            serde_json::to_string(carried).map_err(|e| super::StoreError::Encode(format!("the carried state: {e}")))?;
        for (k, v) in [("checkpoint", json), ("checkpoint_state", state)] {
            tx.execute(
                "INSERT INTO meta (key, value) VALUES (?1, ?2) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                [k, v.as_str()],
            )?;
        }
        tx.commit()?;
        Ok(n as u64)
    }

    /// The signed checkpoint of the purged prefix, if anything was purged.
    pub fn checkpoint(&self) -> Result<Option<crate::domain::chain::Checkpoint>> {
        match self.meta("checkpoint")? {
            None => Ok(None),
            Some(j) => serde_json::from_str(&j)
                .map(Some)
                .map_err(|e| super::StoreError::Unreadable(format!("the retention checkpoint: {e}"))),
        }
    }

    /// The signed derived state kept at the checkpoint (None for a log
    /// purged before gatepass kept it).
    pub fn carried_state(&self) -> Result<Option<CarriedState>> {
        match self.meta("checkpoint_state")? {
            None => Ok(None),
            Some(j) => serde_json::from_str(&j)
                .map(Some)
                .map_err(|e| super::StoreError::Unreadable(format!("the state kept at the checkpoint: {e}"))),
        }
    }

    /// The first event whose exit records `quota_exempt` when it applies.
    pub fn quota_exempt_from_seq(&self) -> Result<u64> {
        Ok(self.meta("quota_exempt_from_seq")?.and_then(|v| v.parse().ok()).unwrap_or(1))
    }

    /// The district has stored every event up to `seq` (it asked for the
    /// events after it): retention may purge them. Never moves backwards,
    /// and never past this log's head (a district that knows more than
    /// this log holds is talking about another log).
    pub fn note_collected(&self, seq: u64) -> Result<()> {
        let (head, _) = self.head()?;
        if seq == 0 || seq > head {
            return Ok(());
        }
        self.conn.execute(
            "INSERT INTO meta (key, value) VALUES ('collected_seq', ?1)
             ON CONFLICT(key) DO UPDATE SET value = excluded.value
             WHERE CAST(meta.value AS INTEGER) < CAST(excluded.value AS INTEGER)",
            [seq.to_string()],
        )?;
        Ok(())
    }

    /// Calls `f` for every event with the projection columns its row holds.
    pub fn for_each_event_row(
        &self,
        after: u64,
        mut f: impl FnMut(Result<(ChainedEvent, [Cell; 5])>) -> bool,
    ) -> Result<()> {
        let mut st = self.conn.prepare(
            "SELECT body, prev_hash, hash, sig, at_ms, resident_id, household, direction, decision, seq
             FROM events WHERE seq > ?1 ORDER BY seq",
        )?;
        let mut rows = st.query([after])?;
        while let Some(r) = rows.next()? {
            let ev = event_from_row(r).map_err(Into::into).and_then(|x| x);
            let cells = [cell(r.get(4)?), cell(r.get(5)?), cell(r.get(6)?), cell(r.get(7)?), cell(r.get(8)?)];
            let seq: i64 = r.get(9)?;
            let ev = ev.map_err(|e| super::StoreError::Unreadable(format!("event {seq}: {e}")));
            if !f(ev.map(|e| (e, cells))) {
                break;
            }
        }
        Ok(())
    }

    /// Household ids by code, and each resident's household id: the outings
    /// table keys exits by household id, the event names the code.
    pub fn household_ids(&self) -> Result<(HashMap<String, HouseholdId>, HashMap<ResidentId, HouseholdId>)> {
        let mut st = self.conn.prepare("SELECT code, id FROM households")?;
        let codes = st
            .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, HouseholdId>(1)?)))?
            .filter_map(|r| r.ok())
            .collect();
        let mut st = self.conn.prepare("SELECT id, household_id FROM residents")?;
        let residents = st
            .query_map([], |r| Ok((r.get::<_, ResidentId>(0)?, r.get::<_, HouseholdId>(1)?)))?
            .filter_map(|r| r.ok())
            .collect();
        Ok((codes, residents))
    }

    /// The derived tables as stored; rows that cannot be read are named in
    /// the second list (and left out of the first).
    pub fn read_derived(&self) -> Result<(Derived, Vec<String>)> {
        let mut d = Derived::default();
        let mut bad = Vec::new();
        let mut st = self.conn.prepare("SELECT resident_id, state, since_ms, seq, rowid FROM presence")?;
        let mut rows = st.query([])?;
        while let Some(r) = rows.next()? {
            let vals: [Value; 4] = [r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?];
            let row = (|| -> std::result::Result<PresenceRow, String> {
                let state = match &vals[1] {
                    Value::Text(t) => {
                        t.parse::<Presence>().map_err(|_| format!("state {}", super::describe(&vals[1])))?
                    }
                    v => return Err(format!("state {}", super::describe(v))),
                };
                Ok(PresenceRow {
                    resident_id: super::int_of(&vals[0]).map_err(|e| format!("resident_id {e}"))?,
                    state,
                    since_ms: super::int_of(&vals[2]).map_err(|e| format!("since_ms {e}"))?,
                    seq: super::int_of(&vals[3]).map_err(|e| format!("seq {e}"))?,
                })
            })();
            match row {
                Ok(p) => {
                    d.presence.insert(p.resident_id, p);
                }
                Err(e) => {
                    bad.push(format!("presence row of resident {}: {e} is unreadable", super::describe(&vals[0])))
                }
            }
        }
        let mut st = self.conn.prepare("SELECT seq, household_id, resident_id, at_ms, counted FROM outings")?;
        let mut rows = st.query([])?;
        while let Some(r) = rows.next()? {
            let vals: [Value; 5] = [r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?];
            let row = (|| -> std::result::Result<OutingRow, String> {
                Ok(OutingRow {
                    seq: super::int_of(&vals[0]).map_err(|e| format!("seq {e}"))?,
                    household_id: super::int_of(&vals[1]).map_err(|e| format!("household_id {e}"))?,
                    resident_id: super::int_of(&vals[2]).map_err(|e| format!("resident_id {e}"))?,
                    at_ms: super::int_of(&vals[3]).map_err(|e| format!("at_ms {e}"))?,
                    counted: match super::int_of::<i64>(&vals[4]) {
                        Ok(0) => false,
                        Ok(1) => true,
                        _ => return Err(format!("counted {}", super::describe(&vals[4]))),
                    },
                })
            })();
            match row {
                Ok(o) => {
                    d.outings.insert(o.seq, o);
                }
                Err(e) => bad.push(format!("outings row of event {}: {e} is unreadable", super::describe(&vals[0]))),
            }
        }
        Ok((d, bad))
    }

    /// Replaces the derived tables with `d` and sets the projection columns
    /// of the listed events to what their signed bodies say, in one
    /// transaction.
    pub fn rewrite_derived(&mut self, d: &Derived, projections: &[(u64, [Cell; 5])]) -> Result<()> {
        let tx = self.conn.transaction()?;
        tx.execute("DELETE FROM presence", [])?;
        tx.execute("DELETE FROM outings", [])?;
        {
            let mut p =
                tx.prepare("INSERT INTO presence (resident_id, state, since_ms, seq) VALUES (?1, ?2, ?3, ?4)")?;
            for r in d.presence.values() {
                p.execute(params![r.resident_id, r.state, r.since_ms, r.seq])?;
            }
            let mut o = tx.prepare(
                "INSERT INTO outings (seq, household_id, resident_id, at_ms, counted) VALUES (?1, ?2, ?3, ?4, ?5)",
            )?;
            for r in d.outings.values() {
                o.execute(params![r.seq, r.household_id, r.resident_id, r.at_ms, r.counted])?;
            }
            let mut e = tx.prepare(
                "UPDATE events SET at_ms = ?2, resident_id = ?3, household = ?4, direction = ?5, decision = ?6 WHERE seq = ?1",
            )?;
            for (seq, cells) in projections {
                let v: [Value; 5] = cells.each_ref().map(value);
                e.execute(params![seq, v[0], v[1], v[2], v[3], v[4]])?;
            }
        }
        tx.commit()?;
        Ok(())
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
    /// A resident's events in [from_ms, until_ms], oldest first, at most `limit`.
    pub fn resident_sightings(
        &self,
        id: ResidentId,
        from_ms: i64,
        until_ms: i64,
        limit: u32,
    ) -> Result<Vec<crate::domain::trace::Sighting>> {
        // this gate's events and those held from the other gates of the community
        let mut st = self.conn.prepare(
            "SELECT body, prev_hash, hash, sig FROM (
               SELECT body, prev_hash, hash, sig, at_ms, seq FROM events
                 WHERE resident_id = ?1 AND at_ms BETWEEN ?2 AND ?3
               UNION ALL
               SELECT body, prev_hash, hash, sig, at_ms, seq FROM peer_events
                 WHERE resident_id = ?1 AND at_ms BETWEEN ?2 AND ?3)
             ORDER BY at_ms, seq LIMIT ?4",
        )?;
        let rows = st.query_map(params![i64::from(id), from_ms, until_ms, limit], event_from_row)?;
        rows.map(|r| Ok(sighting(&r??.body))).collect()
    }

    /// Every event in [from_ms, until_ms], oldest first, at most `limit`.
    pub fn sightings_between(
        &self,
        from_ms: i64,
        until_ms: i64,
        limit: u32,
    ) -> Result<Vec<crate::domain::trace::Sighting>> {
        let mut st = self.conn.prepare(
            "SELECT body, prev_hash, hash, sig FROM (
               SELECT body, prev_hash, hash, sig, at_ms, seq FROM events WHERE at_ms BETWEEN ?1 AND ?2
               UNION ALL
               SELECT body, prev_hash, hash, sig, at_ms, seq FROM peer_events WHERE at_ms BETWEEN ?1 AND ?2)
             ORDER BY at_ms, seq LIMIT ?3",
        )?;
        let rows = st.query_map(params![from_ms, until_ms, limit], event_from_row)?;
        rows.map(|r| Ok(sighting(&r??.body))).collect()
    }

    pub fn alerts(&self, limit: u32) -> Result<Vec<ChainedEvent>> {
        let mut st = self.conn.prepare(
            "SELECT body, prev_hash, hash, sig FROM events WHERE decision != 'allow' OR body LIKE '%\"overdue\"%' OR body LIKE '%\"exception\"%'
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

fn cell(v: Value) -> Cell {
    match v {
        Value::Null => Cell::Null,
        Value::Integer(i) => Cell::Int(i),
        Value::Text(t) => Cell::Text(t),
        other => Cell::Other(super::describe(&other)),
    }
}

fn value(c: &Cell) -> Value {
    match c {
        Cell::Null | Cell::Other(_) => Value::Null,
        Cell::Int(i) => Value::Integer(*i),
        Cell::Text(t) => Value::Text(t.clone()),
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

fn sighting(b: &EventBody) -> crate::domain::trace::Sighting {
    crate::domain::trace::Sighting {
        seq: b.seq,
        gate: b.gate.clone(),
        at: b.at.clone(),
        at_ms: chrono::DateTime::parse_from_rfc3339(&b.at).map(|t| t.timestamp_millis()).unwrap_or(0),
        resident_id: b.resident_id,
        household: b.household.clone(),
        direction: b.direction.clone(),
        decision: b.decision.clone(),
        temperature_c: b.temperature_c,
    }
}

pub(super) fn event_from_row(r: &rusqlite::Row) -> rusqlite::Result<Result<ChainedEvent>> {
    let body: String = r.get(0)?;
    let parsed: std::result::Result<EventBody, _> = serde_json::from_str(&body);
    Ok(match parsed {
        Ok(body) => Ok(ChainedEvent { body, prev_hash: r.get(1)?, hash: r.get(2)?, sig: r.get(3)? }),
        Err(e) => Err(super::StoreError::Unreadable(format!("stored event: {e}"))),
    })
}

impl ScanTx<'_> {
    pub fn head(&self) -> Result<(u64, String)> {
        head(&self.tx)
    }

    /// Changes the database has seen, as this transaction sees them:
    /// `PRAGMA data_version` moves when another connection (another
    /// process: the CLI) has committed, `total_changes()` when this one has
    /// written rows. Equal stamps mean nothing the scan reads once per batch
    /// (keys, policy override, newest event, head) can have changed.
    pub fn change_stamp(&self) -> Result<ChangeStamp> {
        let data_version = self.tx.prepare_cached("PRAGMA data_version")?.query_row([], |r| r.get(0))?;
        let total_changes = self.tx.total_changes();
        Ok(ChangeStamp { data_version, total_changes })
    }

    pub fn policy_override(&self) -> Result<Option<crate::domain::policy::PolicyDoc>> {
        super::security::policy_override(&self.tx)
    }

    pub fn keys(&self) -> Result<Vec<super::people::KeyRow>> {
        super::people::keys(&self.tx)
    }

    pub fn newest_event_ms(&self) -> Result<Option<i64>> {
        Ok(self.tx.prepare_cached("SELECT MAX(at_ms) FROM events")?.query_row([], |r| r.get(0))?)
    }

    pub fn pass(&self, pass_id: PassId) -> Result<Option<PassRow>> {
        Ok(self
            .tx
            .prepare_cached(super::people::PASS_BY_ID)?
            .query_row([pass_id], super::people::pass_from_row)
            .optional()?)
    }

    pub fn resident(&self, id: ResidentId) -> Result<Option<ResidentView>> {
        Ok(self
            .tx
            .prepare_cached(super::people::RESIDENT_BY_ID)?
            .query_row([id], super::people::resident_from_row)
            .optional()?)
    }

    /// Where a resident is (and since when), if ever seen, or why the row
    /// cannot be read.
    pub fn presence(&self, resident_id: ResidentId) -> Result<Option<PresenceFact>> {
        let row: Option<(Value, Value)> = self
            .tx
            .prepare_cached("SELECT state, since_ms FROM presence WHERE resident_id = ?1")?
            .query_row([resident_id], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?;
        Ok(row.map(|(state, since)| {
            let state = match &state {
                Value::Text(t) => {
                    t.parse::<Presence>().map_err(|_| format!("presence state {}", super::describe(&state)))?
                }
                v => return Err(format!("presence state {}", super::describe(v))),
            };
            let since = super::int_of::<i64>(&since).map_err(|e| format!("presence since_ms: {e}"))?;
            Ok((state, since))
        }))
    }

    /// Other members of the household out now (or whose presence cannot be
    /// read), with their category and category end date; the caller
    /// decides who counts.
    pub fn others_out(&self, household_id: HouseholdId, resident_id: ResidentId) -> Result<OthersOut> {
        let mut st = self.tx.prepare_cached(
            "SELECT r.name, r.category, r.category_until, p.state FROM presence p JOIN residents r ON r.id = p.resident_id
             WHERE r.household_id = ?1 AND r.id != ?2 AND (typeof(p.state) != 'text' OR p.state != 'in')",
        )?;
        let rows = st
            .query_map(params![household_id, resident_id], |r| {
                Ok((r.get::<_, Value>(0)?, r.get::<_, Value>(1)?, r.get::<_, Value>(2)?, r.get::<_, Value>(3)?))
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows
            .into_iter()
            .map(|(name, cat, until, state)| {
                let name = match name {
                    Value::Text(t) => t,
                    v => super::describe(&v),
                };
                let read = (|| {
                    if !matches!(&state, Value::Text(t) if t == Presence::Out.as_str()) {
                        return Err(format!("presence state {}", super::describe(&state)));
                    }
                    let cat = match &cat {
                        Value::Text(t) => {
                            t.parse::<Category>().map_err(|_| format!("category {}", super::describe(&cat)))?
                        }
                        v => return Err(format!("category {}", super::describe(v))),
                    };
                    let until = match &until {
                        Value::Null => None,
                        Value::Text(t) => Some(
                            t.parse::<NaiveDate>()
                                .map_err(|_| format!("category end date {}", super::describe(&until)))?,
                        ),
                        v => return Err(format!("category end date {}", super::describe(v))),
                    };
                    Ok((cat, until))
                })();
                (name, read)
            })
            .collect())
    }

    /// Counted outings of a household in [from_ms, to_ms], or why its
    /// outings cannot be read.
    pub fn household_exits(
        &self,
        household_id: HouseholdId,
        from_ms: i64,
        to_ms: i64,
    ) -> Result<std::result::Result<Vec<i64>, String>> {
        // rows whose at_ms or counted is not what the scan wrote would
        // silently drop out of a range query: fetch them too and refuse
        let mut st = self.tx.prepare_cached(
            "SELECT seq, at_ms, counted FROM outings WHERE household_id = ?1 AND (
               typeof(at_ms) != 'integer' OR typeof(counted) != 'integer' OR counted NOT IN (0, 1)
               OR (counted = 1 AND at_ms >= ?2 AND at_ms <= ?3))",
        )?;
        let rows = st
            .query_map(params![household_id, from_ms, to_ms], |r| {
                Ok((r.get::<_, Value>(0)?, r.get::<_, Value>(1)?, r.get::<_, Value>(2)?))
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        let mut out = Vec::with_capacity(rows.len());
        for (seq, at, counted) in rows {
            match (&at, &counted) {
                (Value::Integer(at), Value::Integer(1)) => out.push(*at),
                _ => {
                    return Ok(Err(format!(
                        "outings row of event {}: at_ms {} counted {}",
                        super::describe(&seq),
                        super::describe(&at),
                        super::describe(&counted)
                    )))
                }
            }
        }
        Ok(Ok(out))
    }

    /// The latest allowed crossing of `resident_id` held from another gate.
    pub fn peer_latest(&self, resident_id: ResidentId) -> Result<Option<crate::domain::community::Crossing>> {
        Ok(self
            .tx
            .prepare_cached(
                "SELECT at_ms, gate, direction FROM peer_events
                 WHERE resident_id = ?1 AND decision = 'allow' AND direction IN ('in', 'out')
                 ORDER BY at_ms DESC, gate DESC LIMIT 1",
            )?
            .query_row([resident_id], |r| {
                Ok(crate::domain::community::Crossing {
                    at_ms: r.get(0)?,
                    gate: r.get(1)?,
                    out: r.get::<_, String>(2)? == "out",
                })
            })
            .optional()?)
    }

    /// Other members of a household with a crossing held from another
    /// gate: each with their latest such crossing.
    pub fn peer_household_latest(
        &self,
        household_id: HouseholdId,
        resident_id: ResidentId,
    ) -> Result<Vec<(ResidentId, crate::domain::community::Crossing)>> {
        // one query: each other member's latest crossing held, if any
        let mut st = self.tx.prepare_cached(
            "SELECT r.id, e.at_ms, e.gate, e.direction FROM residents r
               JOIN peer_events e ON e.rowid = (
                 SELECT p.rowid FROM peer_events p
                  WHERE p.resident_id = r.id AND p.decision = 'allow' AND p.direction IN ('in', 'out')
                  ORDER BY p.at_ms DESC, p.gate DESC LIMIT 1)
              WHERE r.household_id = ?1 AND r.id != ?2",
        )?;
        let rows = st.query_map(params![household_id, resident_id], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                crate::domain::community::Crossing {
                    at_ms: r.get(1)?,
                    gate: r.get(2)?,
                    out: r.get::<_, String>(3)? == "out",
                },
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (id, c) = row?;
            if let Ok(rid) = ResidentId::try_from(id) {
                out.push((rid, c));
            }
        }
        Ok(out)
    }

    /// A household's allowed exits at other gates in [from_ms, to_ms], each
    /// with its warnings (whether it counts is the domain's call).
    pub fn peer_household_exits(&self, household: &str, from_ms: i64, to_ms: i64) -> Result<Vec<(i64, Vec<String>)>> {
        let mut st = self.tx.prepare_cached(
            "SELECT at_ms, body FROM peer_events
             WHERE household = ?1 AND direction = 'out' AND decision = 'allow' AND at_ms >= ?2 AND at_ms <= ?3",
        )?;
        let rows = st
            .query_map(params![household, from_ms, to_ms], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?)))?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows
            .into_iter()
            .map(|(at, body)| {
                // (the body was verified before it was stored; an unreadable
                // one counts, which errs on the side of the quota)
                let warnings = serde_json::from_str::<EventBody>(&body).map(|b| b.warnings).unwrap_or_default();
                (at, warnings)
            })
            .collect())
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
    pub fn set_presence(&self, resident_id: ResidentId, state: Presence, since_ms: i64, seq: u64) -> Result<()> {
        self.tx
            .prepare_cached(
                "INSERT INTO presence (resident_id, state, since_ms, seq) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT(resident_id) DO UPDATE SET state = excluded.state, since_ms = excluded.since_ms, seq = excluded.seq
                 WHERE excluded.since_ms >= presence.since_ms",
            )?
            .execute(params![resident_id, state, since_ms, seq])?;
        Ok(())
    }

    pub fn add_outing(
        &self,
        seq: u64,
        household_id: HouseholdId,
        resident_id: ResidentId,
        at_ms: i64,
        counted: bool,
    ) -> Result<()> {
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
