//! The register (households, residents, categories), passes and the
//! community's public keys.

use super::{Result, Store, StoreError};
use crate::domain::register::RegisterRow;
use crate::domain::revocation::RevokeReason;
use crate::domain::{Category, HouseholdId, PassId, ResidentId};
use chrono::NaiveDate;
use rusqlite::{params, OptionalExtension, Transaction};
use serde::Serialize;

#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct ImportCounts {
    pub added: u64,
    pub updated: u64,
    pub unchanged: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct ResidentView {
    pub id: ResidentId,
    pub name: String,
    pub household: String,
    pub household_id: HouseholdId,
    pub address: String,
    pub grid: String,
    pub phone: Option<String>,
    pub category: Category,
    pub category_until: Option<NaiveDate>,
    /// `moved_out` or `deceased` once the resident left (the row and its
    /// history stay; their passes are revoked).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub left: Option<RevokeReason>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub left_at: Option<String>,
    /// Returnees (返乡人员): where from, when they arrived, who answers for them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub origin: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub arrived: Option<NaiveDate>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub monitor: Option<String>,
    /// When the current category was set (RFC 3339), if known: when
    /// follow-up visits are owed from. Not shown (a list of the register
    /// stays the same however often the same file is imported).
    #[serde(skip)]
    pub category_since: Option<String>,
    /// What of this resident's record cannot be read (a category the code
    /// does not know, a broken date, a household that is not in the
    /// register). Non-empty means every scan of theirs is refused with
    /// `record_unreadable`; `category` then shows the stored text's best
    /// guess for the pages only.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub unreadable: Vec<String>,
}

impl ResidentView {
    /// The resident as the register stands on `today`: an ended dated
    /// category shows as normal.
    pub fn as_of(mut self, today: NaiveDate) -> ResidentView {
        let effective = self.effective_category(today);
        if effective != self.category {
            self.category = effective;
            self.category_until = None;
        }
        self
    }

    /// The category in force on `today`: a dated category ends after its
    /// last day and the resident is normal again.
    pub fn effective_category(&self, today: NaiveDate) -> Category {
        match self.category_until {
            Some(until) if today > until => Category::Normal,
            _ => self.category,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct HouseholdView {
    pub code: String,
    pub address: String,
    pub grid: String,
    pub residents: Vec<ResidentView>,
}

#[derive(Debug, Clone, Serialize)]
pub struct PassRow {
    pub pass_id: PassId,
    pub resident_id: ResidentId,
    pub key_id: u16,
    pub valid_from: NaiveDate,
    pub valid_until: NaiveDate,
    pub payload: String,
    pub issued_at: String,
    pub revoked_at: Option<String>,
    /// The code (earlier free text reads as `other`, kept in `revoke_note`).
    pub revoke_reason: Option<RevokeReason>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revoke_note: Option<String>,
    /// Fields of the stored row that cannot be read: the pass is refused
    /// with `record_unreadable`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub unreadable: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct KeyRow {
    pub key_id: u16,
    pub public_key: String,
    pub created_at: String,
    pub retired_at: Option<String>,
}

/// Writes a row's returnee columns; true when something changed.
fn returnee_fields(
    tx: &Transaction,
    id: u32,
    row: &RegisterRow,
    back: Option<crate::domain::register::Returnee>,
    new: bool,
) -> Result<bool> {
    let (origin, arrived, monitor, category): (Option<String>, Option<String>, Option<String>, String) =
        tx.query_row("SELECT origin, arrived, monitor, category FROM residents WHERE id = ?1", [id], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
        })?;
    let mut changed = false;
    if let Some(o) = &row.origin {
        if origin.as_deref() != Some(o) {
            tx.execute("UPDATE residents SET origin = ?2 WHERE id = ?1", params![id, o])?;
            changed = true;
        }
    }
    if let Some(m) = &row.monitor {
        if monitor.as_deref() != Some(m) {
            tx.execute("UPDATE residents SET monitor = ?2 WHERE id = ?1", params![id, m])?;
            changed = true;
        }
    }
    if let Some(b) = back {
        let date = b.arrived.to_string();
        if arrived.as_deref() != Some(&date) {
            tx.execute("UPDATE residents SET arrived = ?2 WHERE id = ?1", params![id, date])?;
            changed = true;
            let stricter = category.parse::<Category>().is_ok_and(|c| !c.may_go_out() && c != Category::HomeQuarantine);
            if let (Some(until), false) = (b.observe_until, stricter) {
                tx.execute(
                    "UPDATE residents SET category = 'home_quarantine', category_until = ?2,
                     category_since = CASE WHEN category = 'home_quarantine' THEN category_since ELSE NULL END
                     WHERE id = ?1",
                    params![id, until.to_string()],
                )?;
            }
        }
    }
    Ok(changed && !new)
}

pub(super) fn random_id(tx: &Transaction, table: &str) -> Result<u32> {
    // 8-digit ids: short enough for a guard to type, random so a card number
    // says nothing about when or for whom it was made.
    for _ in 0..64 {
        let mut b = [0u8; 4];
        getrandom(&mut b);
        let id = 10_000_000 + u32::from_le_bytes(b) % 90_000_000;
        let taken: bool =
            tx.query_row(&format!("SELECT EXISTS(SELECT 1 FROM {table} WHERE id = ?1)"), [id], |r| r.get(0))?;
        if !taken {
            return Ok(id);
        }
    }
    Err(StoreError::NoFreeId(table.to_string()))
}

pub(crate) fn getrandom(buf: &mut [u8]) {
    use rand_core::RngCore;
    rand_core::OsRng.fill_bytes(buf);
}

macro_rules! resident_select {
    () => {
        "SELECT r.id, r.name, h.code, r.household_id, h.address, h.grid, r.phone, r.category, r.category_until,
            r.left_reason, r.left_at, r.origin, r.arrived, r.monitor, r.category_since
     FROM residents r LEFT JOIN households h ON h.id = r.household_id"
    };
}
pub(super) const RESIDENT_SELECT: &str = resident_select!();
/// A constant string, so the scan's statement cache finds it without a `format!`.
pub(super) const RESIDENT_BY_ID: &str = concat!(resident_select!(), " WHERE r.id = ?1");

/// A text column, or None for NULL; anything else is noted as unreadable.
fn text_cell(r: &rusqlite::Row, i: usize, what: &str, bad: &mut Vec<String>) -> Option<String> {
    use rusqlite::types::Value;
    match r.get::<_, Value>(i) {
        Ok(Value::Text(t)) => Some(t),
        Ok(Value::Null) => None,
        Ok(v) => {
            bad.push(format!("{what} is {}", super::describe(&v)));
            None
        }
        Err(e) => {
            bad.push(format!("{what}: {e}"));
            None
        }
    }
}

/// Reads a resident row without guessing: what cannot be read is named in
/// `unreadable` (fail closed), never replaced by a default.
pub(super) fn resident_from_row(r: &rusqlite::Row) -> rusqlite::Result<ResidentView> {
    use rusqlite::types::Value;
    let id: ResidentId = r.get(0)?;
    let mut unreadable = Vec::new();
    let text = |i: usize, what: &str, bad: &mut Vec<String>| text_cell(r, i, what, bad);
    let name = text(1, "name", &mut unreadable).unwrap_or_default();
    let household_id: Value = r.get(3)?;
    let household_id = match super::int_of::<HouseholdId>(&household_id) {
        Ok(h) => h,
        Err(e) => {
            unreadable.push(format!("household link: {e}"));
            HouseholdId(0)
        }
    };
    let household = match text(2, "household", &mut unreadable) {
        Some(code) => code,
        None => {
            unreadable.push(format!("household link: household id {household_id} is not in the register"));
            String::new()
        }
    };
    let category = match text(7, "category", &mut unreadable) {
        Some(c) => match c.parse::<Category>() {
            Ok(c) => c,
            Err(_) => {
                unreadable.push(format!("category '{}' is not a known category", c.escape_debug()));
                // shown on the pages only; every scan is refused
                Category::HomeQuarantine
            }
        },
        None => {
            unreadable.push("category is empty".into());
            Category::HomeQuarantine
        }
    };
    let category_until = match text(8, "category end date", &mut unreadable) {
        Some(u) => match u.parse::<NaiveDate>() {
            Ok(d) => Some(d),
            Err(_) => {
                unreadable.push(format!("category end date '{}' is not a date", u.escape_debug()));
                None
            }
        },
        None => None,
    };
    // a resident who left cannot go out through this gate: an unknown
    // mark is read as left (fail closed)
    let left = text(9, "left", &mut unreadable).map(|t| match t.as_str() {
        "deceased" => RevokeReason::Deceased,
        _ => RevokeReason::MovedOut,
    });
    Ok(ResidentView {
        id,
        name,
        household,
        household_id,
        address: text(4, "address", &mut Vec::new()).unwrap_or_default(),
        grid: text(5, "grid", &mut Vec::new()).unwrap_or_default(),
        phone: text(6, "phone", &mut Vec::new()),
        category,
        category_until,
        left,
        left_at: text(10, "left_at", &mut Vec::new()),
        origin: text(11, "origin", &mut Vec::new()),
        arrived: text(12, "arrived", &mut Vec::new()).and_then(|d| d.parse().ok()),
        monitor: text(13, "monitor", &mut Vec::new()),
        category_since: text(14, "category_since", &mut Vec::new()),
        unreadable,
    })
}

impl Store {
    /// Imports register rows in one transaction: a resident is identified by
    /// household code and name, so a re-import updates, never duplicates.
    /// Imports register rows in one transaction: a resident is identified by
    /// household code and name, so a re-import updates, never duplicates. A
    /// column the file does not have leaves that field alone; a category
    /// is applied only when the file's value changed since the last import,
    /// so re-importing an old spreadsheet does not undo the committee's
    /// later category changes.
    pub fn import_register(&mut self, rows: &[RegisterRow]) -> Result<ImportCounts> {
        self.import_register_with(rows, |_| None)
    }

    /// As `import_register`; `returnee` says a row's arrival date and home
    /// observation (issue 12). A new arrival date puts the resident in
    /// `home_quarantine` until the observation's last day, unless the
    /// register already keeps them in a stricter category; the same date
    /// again changes nothing (the committee may have ended it early).
    pub fn import_register_with(
        &mut self,
        rows: &[RegisterRow],
        returnee: impl Fn(&RegisterRow) -> Option<crate::domain::register::Returnee>,
    ) -> Result<ImportCounts> {
        let tx = self.conn.transaction()?;
        let mut counts = ImportCounts::default();
        for row in rows {
            let existing: Option<(u32, String, String)> = tx
                .query_row("SELECT id, address, grid FROM households WHERE code = ?1", [&row.household], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?))
                })
                .optional()?;
            let (hid, mut changed) = match existing {
                Some((id, addr, grid)) => {
                    let new_addr = row.address.clone().unwrap_or_else(|| addr.clone());
                    let new_grid = row.grid.clone().unwrap_or_else(|| grid.clone());
                    let differs = new_addr != addr || new_grid != grid;
                    if differs {
                        tx.execute(
                            "UPDATE households SET address = ?2, grid = ?3 WHERE id = ?1",
                            params![id, new_addr, new_grid],
                        )?;
                    }
                    (id, differs)
                }
                None => {
                    let id = random_id(&tx, "households")?;
                    tx.execute(
                        "INSERT INTO households (id, code, address, grid) VALUES (?1, ?2, ?3, ?4)",
                        params![
                            id,
                            row.household,
                            row.address.as_deref().unwrap_or(""),
                            row.grid.as_deref().unwrap_or("")
                        ],
                    )?;
                    (id, false)
                }
            };
            let phone = row.phone.as_ref().map(|p| (!p.is_empty()).then(|| p.clone()));
            let resident: Option<(u32, Option<String>, String, Option<String>)> = tx
                .query_row(
                    "SELECT id, phone, category, imported_category FROM residents WHERE household_id = ?1 AND name = ?2",
                    params![hid, row.name],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
                )
                .optional()?;
            let back = returnee(row);
            let resident_id = resident.as_ref().map(|(id, ..)| *id);
            match resident {
                None => {
                    let id = random_id(&tx, "residents")?;
                    tx.execute(
                        "INSERT INTO residents (id, household_id, name, phone, category, imported_category) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                        params![
                            id,
                            hid,
                            row.name,
                            phone.clone().flatten(),
                            row.category.unwrap_or(Category::Normal).as_str(),
                            row.category.map(|c| c.as_str())
                        ],
                    )?;
                    counts.added += 1;
                    returnee_fields(&tx, id, row, back, true)?;
                    continue;
                }
                Some((id, old_phone, category, imported)) => {
                    if let Some(new_phone) = phone {
                        if new_phone != old_phone {
                            tx.execute("UPDATE residents SET phone = ?2 WHERE id = ?1", params![id, new_phone])?;
                            changed = true;
                        }
                    }
                    if let Some(c) = row.category {
                        let file_changed = match imported.as_deref() {
                            Some(prev) => prev != c.as_str(),
                            None => c.as_str() != category,
                        };
                        if file_changed && c.as_str() != category {
                            tx.execute(
                                "UPDATE residents SET category = ?2, category_until = NULL, category_since = NULL WHERE id = ?1",
                                params![id, c.as_str()],
                            )?;
                            changed = true;
                        }
                        if imported.as_deref() != Some(c.as_str()) {
                            tx.execute(
                                "UPDATE residents SET imported_category = ?2 WHERE id = ?1",
                                params![id, c.as_str()],
                            )?;
                        }
                    }
                }
            }
            if let Some(id) = resident_id {
                changed |= returnee_fields(&tx, id, row, back, false)?;
            }
            if changed {
                counts.updated += 1;
            } else {
                counts.unchanged += 1;
            }
        }
        tx.commit()?;
        Ok(counts)
    }

    /// Every stored record a decision could need but that cannot be read,
    /// named (which resident, pass or row, and what), at most `limit`.
    /// SQL picks the suspects (health asks every few seconds, so the whole
    /// register is not read into memory each time); the row readers decide.
    pub fn unreadable_records(&self, limit: usize) -> Result<Vec<String>> {
        use rusqlite::types::Value;
        let mut out = Vec::new();
        let cats: Vec<String> = Category::ALL.iter().map(|c| format!("'{}'", c.as_str())).collect();
        let sql = format!(
            "{RESIDENT_SELECT} WHERE typeof(r.category) != 'text' OR r.category NOT IN ({}) OR typeof(r.name) != 'text'
             OR h.id IS NULL OR (r.category_until IS NOT NULL AND date(r.category_until) IS NOT r.category_until)
             LIMIT ?1",
            cats.join(",")
        );
        let lim = i64::try_from(limit).unwrap_or(i64::MAX);
        let mut st = self.conn.prepare(&sql)?;
        for r in st.query_map([lim], resident_from_row)? {
            let r = r?;
            for what in &r.unreadable {
                out.push(format!("resident {} ({} of household {}): {what}", r.id, r.name, r.household));
            }
        }
        let mut st = self.conn.prepare(
            "SELECT id, resident_id, key_id, valid_from, valid_until, payload, issued_at, revoked_at, revoke_reason, revoke_note FROM passes
             WHERE typeof(resident_id) != 'integer' OR typeof(key_id) != 'integer' OR typeof(payload) != 'text'
             OR date(valid_from) IS NOT valid_from OR date(valid_until) IS NOT valid_until
             OR (revoked_at IS NOT NULL AND typeof(revoked_at) != 'text') LIMIT ?1",
        )?;
        for p in st.query_map([lim], pass_from_row)? {
            let p = p?;
            for what in &p.unreadable {
                out.push(format!("pass {} (resident {}): {what}", p.pass_id, p.resident_id));
            }
        }
        let rows = |sql: &str, what: &str, out: &mut Vec<String>| -> Result<()> {
            let mut st = self.conn.prepare(sql)?;
            let n = st.column_count();
            let names: Vec<String> = st.column_names().iter().map(|c| c.to_string()).collect();
            let mut q = st.query([lim])?;
            while let Some(r) = q.next()? {
                let cells: Vec<String> = (0..n)
                    .map(|i| {
                        let v: Value = r.get(i).unwrap_or(Value::Null);
                        format!("{}={}", names.get(i).map(String::as_str).unwrap_or("?"), super::describe(&v))
                    })
                    .collect();
                out.push(format!("{what} row ({}) is unreadable", cells.join(", ")));
            }
            Ok(())
        };
        rows(
            "SELECT resident_id, state, since_ms, seq FROM presence WHERE typeof(resident_id) != 'integer'
             OR typeof(state) != 'text' OR state NOT IN ('in', 'out') OR typeof(since_ms) != 'integer'
             OR typeof(seq) != 'integer' LIMIT ?1",
            "presence",
            &mut out,
        )?;
        rows(
            "SELECT seq, household_id, resident_id, at_ms, counted FROM outings WHERE typeof(household_id) != 'integer'
             OR typeof(resident_id) != 'integer' OR typeof(at_ms) != 'integer' OR typeof(counted) != 'integer'
             OR counted NOT IN (0, 1) LIMIT ?1",
            "outings",
            &mut out,
        )?;
        for what in
            [self.policy_override().err(), self.checkpoint().err(), self.carried_state().err()].into_iter().flatten()
        {
            out.push(what.to_string());
        }
        out.truncate(limit);
        Ok(out)
    }

    pub fn residents(&self) -> Result<Vec<ResidentView>> {
        let mut st = self.conn.prepare(&format!("{RESIDENT_SELECT} ORDER BY h.code, r.name"))?;
        let rows = st.query_map([], resident_from_row)?.collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows)
    }

    /// Resident id → name, for the lists that show names beside events
    /// (alerts, exports and pages with `share_names`).
    pub fn resident_names(&self) -> Result<std::collections::HashMap<ResidentId, String>> {
        let mut st = self.conn.prepare("SELECT id, name FROM residents")?;
        let rows = st.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?.collect::<rusqlite::Result<_>>()?;
        Ok(rows)
    }

    pub fn resident(&self, id: ResidentId) -> Result<Option<ResidentView>> {
        Ok(self.conn.query_row(&format!("{RESIDENT_SELECT} WHERE r.id = ?1"), [id], resident_from_row).optional()?)
    }

    pub fn find_resident(&self, household: &str, name: &str) -> Result<ResidentView> {
        self.conn
            .query_row(
                &format!("{RESIDENT_SELECT} WHERE h.code = ?1 AND r.name = ?2"),
                [household, name],
                resident_from_row,
            )
            .optional()?
            .ok_or_else(|| StoreError::UnknownResident(format!("'{name}' in household '{household}'")))
    }

    pub fn households(&self) -> Result<Vec<HouseholdView>> {
        let mut out: Vec<HouseholdView> = Vec::new();
        for r in self.residents()? {
            match out.last_mut() {
                Some(h) if h.code == r.household => h.residents.push(r),
                _ => out.push(HouseholdView {
                    code: r.household.clone(),
                    address: r.address.clone(),
                    grid: r.grid.clone(),
                    residents: vec![r],
                }),
            }
        }
        Ok(out)
    }

    pub fn household_exists(&self, code: &str) -> Result<bool> {
        Ok(self.conn.query_row("SELECT EXISTS(SELECT 1 FROM households WHERE code = ?1)", [code], |r| r.get(0))?)
    }

    pub fn set_category(
        &self,
        resident_id: ResidentId,
        category: Category,
        until: Option<NaiveDate>,
        now: &str,
    ) -> Result<()> {
        self.conn.execute(
            "UPDATE residents SET category = ?2, category_until = ?3,
             category_since = CASE WHEN category IS ?2 THEN category_since ELSE ?4 END WHERE id = ?1",
            params![resident_id, category.as_str(), until.map(|d| d.to_string()), now],
        )?;
        Ok(())
    }

    /// Dates the categories an import set (it has no clock of its own).
    pub fn mark_category_since(&self, now: &str) -> Result<()> {
        self.conn.execute(
            "UPDATE residents SET category_since = ?1 WHERE category_since IS NULL AND category != 'normal'",
            [now],
        )?;
        Ok(())
    }

    // ---- keys -----------------------------------------------------------

    pub fn add_key(&self, public_key_hex: &str, now: &str) -> Result<u16> {
        let next: u16 =
            self.conn.query_row("SELECT COALESCE(MAX(key_id), 0) + 1 FROM community_keys", [], |r| r.get(0))?;
        self.conn.execute(
            "INSERT INTO community_keys (key_id, public_key, created_at) VALUES (?1, ?2, ?3)",
            params![next, public_key_hex, now],
        )?;
        Ok(next)
    }

    pub fn keys(&self) -> Result<Vec<KeyRow>> {
        keys(&self.conn)
    }

    pub fn retire_key(&self, key_id: u16, now: &str) -> Result<()> {
        let n = self.conn.execute(
            "UPDATE community_keys SET retired_at = ?2 WHERE key_id = ?1 AND retired_at IS NULL",
            params![key_id, now],
        )?;
        if n == 0 {
            return Err(StoreError::UnknownKey(key_id));
        }
        Ok(())
    }

    // ---- passes ---------------------------------------------------------

    /// Stores a new pass for each resident and revokes their earlier
    /// passes (one card per person), all in one transaction. `sign` makes
    /// the payload for (pass id, resident).
    pub fn insert_passes(
        &mut self,
        residents: &[ResidentView],
        key_id: u16,
        valid_from: NaiveDate,
        valid_until: NaiveDate,
        now: &str,
        sign: impl Fn(PassId, &ResidentView) -> std::result::Result<String, String>,
    ) -> Result<Vec<PassRow>> {
        let tx = self.conn.transaction()?;
        let mut out = Vec::with_capacity(residents.len());
        for r in residents {
            let id = PassId(random_id(&tx, "passes")?);
            let payload = sign(id, r).map_err(StoreError::PassDates)?;
            tx.execute(
                "UPDATE passes SET revoked_at = ?2, revoke_reason = 'replaced'
                 WHERE resident_id = ?1 AND key_id = ?3 AND revoked_at IS NULL",
                params![r.id, now, key_id],
            )?;
            tx.execute(
                "INSERT INTO passes (id, resident_id, key_id, valid_from, valid_until, payload, issued_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![id, r.id, key_id, valid_from.to_string(), valid_until.to_string(), payload, now],
            )?;
            out.push(PassRow {
                pass_id: id,
                resident_id: r.id,
                key_id,
                valid_from,
                valid_until,
                payload,
                issued_at: now.to_string(),
                revoked_at: None,
                revoke_reason: None,
                revoke_note: None,
                unreadable: Vec::new(),
            });
        }
        tx.commit()?;
        Ok(out)
    }

    pub fn pass(&self, pass_id: PassId) -> Result<Option<PassRow>> {
        Ok(self.conn.query_row(PASS_BY_ID, [pass_id], pass_from_row).optional()?)
    }

    pub fn passes(&self) -> Result<Vec<PassRow>> {
        let mut st = self.conn.prepare(
            "SELECT id, resident_id, key_id, valid_from, valid_until, payload, issued_at, revoked_at, revoke_reason, revoke_note FROM passes ORDER BY issued_at DESC, id",
        )?;
        let rows = st.query_map([], pass_from_row)?.collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows)
    }

    /// Revokes a pass; false when it already was (revoking twice is not an
    /// error: the card is refused either way).
    pub fn revoke_pass(&self, pass_id: PassId, reason: RevokeReason, note: Option<&str>, now: &str) -> Result<bool> {
        let Some(p) = self.pass(pass_id)? else {
            return Err(StoreError::UnknownPass(pass_id));
        };
        if p.revoked_at.is_some() {
            return Ok(false);
        }
        self.conn.execute(
            "UPDATE passes SET revoked_at = ?2, revoke_reason = ?3, revoke_note = ?4 WHERE id = ?1",
            params![pass_id, now, reason.as_str(), note],
        )?;
        Ok(true)
    }

    /// Revokes every active pass of a resident; how many were.
    pub fn revoke_resident_passes(&self, resident_id: ResidentId, reason: RevokeReason, now: &str) -> Result<usize> {
        Ok(self.conn.execute(
            "UPDATE passes SET revoked_at = ?2, revoke_reason = ?3 WHERE resident_id = ?1 AND revoked_at IS NULL",
            params![resident_id, now, reason.as_str()],
        )?)
    }

    /// Cards that work on `today`: not revoked, not expired (valid_from may
    /// be later: a card printed ahead still counts as a printed card).
    pub fn valid_card_count(&self, today: NaiveDate) -> Result<u64> {
        Ok(self.conn.query_row(
            "SELECT COUNT(*) FROM passes WHERE revoked_at IS NULL AND valid_until >= ?1",
            [today.to_string()],
            |r| r.get(0),
        )?)
    }

    /// Residents (still living here) with no card that works on `today`.
    pub fn residents_without_valid_card(&self, today: NaiveDate) -> Result<Vec<ResidentView>> {
        let mut st = self.conn.prepare(&format!(
            "{RESIDENT_SELECT} WHERE r.left_reason IS NULL AND NOT EXISTS (SELECT 1 FROM passes p
             WHERE p.resident_id = r.id AND p.revoked_at IS NULL AND p.valid_until >= ?1) ORDER BY h.code, r.name"
        ))?;
        let rows = st.query_map([today.to_string()], resident_from_row)?.collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows)
    }
}

pub(super) const PASS_BY_ID: &str = "SELECT id, resident_id, key_id, valid_from, valid_until, payload, issued_at, revoked_at, revoke_reason, revoke_note FROM passes WHERE id = ?1";

/// Reads a pass row without guessing (see `resident_from_row`).
pub(super) fn pass_from_row(r: &rusqlite::Row) -> rusqlite::Result<PassRow> {
    use rusqlite::types::Value;
    let mut unreadable = Vec::new();
    let int = |i: usize, what: &str, bad: &mut Vec<String>| -> i64 {
        match r.get::<_, Value>(i) {
            Ok(Value::Integer(n)) => n,
            Ok(v) => {
                bad.push(format!("{what} is {}", super::describe(&v)));
                0
            }
            Err(e) => {
                bad.push(format!("{what}: {e}"));
                0
            }
        }
    };
    let resident_id = ResidentId::try_from(int(1, "resident_id", &mut unreadable)).unwrap_or(ResidentId(0));
    let key_id = u16::try_from(int(2, "key_id", &mut unreadable)).unwrap_or(0);
    let text = |i: usize, what: &str, bad: &mut Vec<String>| text_cell(r, i, what, bad);
    let date = |i: usize, what: &str, bad: &mut Vec<String>| -> NaiveDate {
        let t = text(i, what, bad);
        match t.as_deref().map(str::parse::<NaiveDate>) {
            Some(Ok(d)) => d,
            _ => {
                bad.push(format!("{what} '{}' is not a date", t.unwrap_or_default().escape_debug()));
                NaiveDate::MIN
            }
        }
    };
    let valid_from = date(3, "valid_from", &mut unreadable);
    let valid_until = date(4, "valid_until", &mut unreadable);
    let payload = text(5, "payload", &mut unreadable).unwrap_or_default();
    let issued_at = text(6, "issued_at", &mut Vec::new()).unwrap_or_default();
    let revoked_at = text(7, "revoked_at", &mut unreadable);
    let revoke_reason = text(8, "revoke_reason", &mut Vec::new()).map(|t| RevokeReason::from_stored(&t));
    let revoke_note = text(9, "revoke_note", &mut Vec::new());
    Ok(PassRow {
        pass_id: r.get(0)?,
        resident_id,
        key_id,
        valid_from,
        valid_until,
        payload,
        issued_at,
        revoked_at,
        revoke_reason,
        revoke_note,
        unreadable,
    })
}

/// The community keys, on any connection (the scan reads them inside its
/// own transaction).
pub(super) fn keys(conn: &rusqlite::Connection) -> Result<Vec<KeyRow>> {
    let mut st =
        conn.prepare_cached("SELECT key_id, public_key, created_at, retired_at FROM community_keys ORDER BY key_id")?;
    let rows = st
        .query_map([], |r| {
            Ok(KeyRow { key_id: r.get(0)?, public_key: r.get(1)?, created_at: r.get(2)?, retired_at: r.get(3)? })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::register;

    const CSV: &str = "户号,地址,网格,姓名,电话,类别\n1-101,一号楼,A,张三,138,正常\n1-101,一号楼,A,李四,,居家隔离\n2-201,二号楼,B,王五,,保障人员\n";

    #[test]
    fn reimport_changes_nothing_and_updates_in_place() {
        let mut s = Store::open_in_memory().unwrap();
        let rows = register::parse(CSV.as_bytes()).unwrap().rows;
        assert_eq!(s.import_register(&rows).unwrap(), ImportCounts { added: 3, updated: 0, unchanged: 0 });
        let ids: Vec<ResidentId> = s.residents().unwrap().iter().map(|r| r.id).collect();
        assert_eq!(s.import_register(&rows).unwrap(), ImportCounts { added: 0, updated: 0, unchanged: 3 });
        let changed = CSV.replace("张三,138", "张三,139");
        let rows = register::parse(changed.as_bytes()).unwrap().rows;
        assert_eq!(s.import_register(&rows).unwrap(), ImportCounts { added: 0, updated: 1, unchanged: 2 });
        let again: Vec<ResidentId> = s.residents().unwrap().iter().map(|r| r.id).collect();
        assert_eq!(ids, again);
        assert_eq!(s.households().unwrap().len(), 2);
        let li = s.find_resident("1-101", "李四").unwrap();
        assert_eq!(li.category, Category::HomeQuarantine);
    }

    #[test]
    fn dated_category_ends() {
        let mut s = Store::open_in_memory().unwrap();
        s.import_register(&register::parse(CSV.as_bytes()).unwrap().rows).unwrap();
        let r = s.find_resident("1-101", "张三").unwrap();
        let until = NaiveDate::from_ymd_opt(2026, 12, 10).unwrap();
        s.set_category(r.id, Category::HomeQuarantine, Some(until), "2026-12-01T00:00:00Z").unwrap();
        let r = s.resident(r.id).unwrap().unwrap();
        assert_eq!(r.effective_category(until), Category::HomeQuarantine);
        assert_eq!(r.effective_category(until.succ_opt().unwrap()), Category::Normal);
    }

    #[test]
    fn new_pass_revokes_the_old_one() {
        let mut s = Store::open_in_memory().unwrap();
        s.import_register(&register::parse(CSV.as_bytes()).unwrap().rows).unwrap();
        let r = s.find_resident("1-101", "张三").unwrap();
        let d = NaiveDate::from_ymd_opt(2026, 12, 1).unwrap();
        let a =
            s.insert_passes(std::slice::from_ref(&r), 1, d, d, "t", |id, _| Ok(format!("P{id}"))).unwrap().remove(0);
        let b =
            s.insert_passes(std::slice::from_ref(&r), 1, d, d, "t", |id, _| Ok(format!("P{id}"))).unwrap().remove(0);
        assert!(s.pass(a.pass_id).unwrap().unwrap().revoked_at.is_some());
        assert!(s.pass(b.pass_id).unwrap().unwrap().revoked_at.is_none());
        assert!((10_000_000..100_000_000).contains(&b.pass_id.0));
        assert_eq!(s.pass(a.pass_id).unwrap().unwrap().revoke_reason, Some(RevokeReason::Replaced));
        assert!(s.revoke_pass(b.pass_id, RevokeReason::Lost, None, "t").unwrap());
        assert!(!s.revoke_pass(b.pass_id, RevokeReason::Lost, None, "t").unwrap(), "already revoked");
        assert!(s.revoke_pass(PassId(1), RevokeReason::Lost, None, "t").is_err());
        assert_eq!(s.pass(b.pass_id).unwrap().unwrap().revoke_reason, Some(RevokeReason::Lost));
        // free text an earlier version stored reads as `other`
        s.conn.execute("UPDATE passes SET revoke_reason = 'fell in the river' WHERE id = ?1", [b.pass_id]).unwrap();
        assert_eq!(s.pass(b.pass_id).unwrap().unwrap().revoke_reason, Some(RevokeReason::Other));
    }
}
