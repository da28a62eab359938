//! The register (households, residents, categories), passes and the
//! community's public keys.

use super::{Result, Store, StoreError};
use crate::domain::register::RegisterRow;
use crate::domain::Category;
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
    pub id: u32,
    pub name: String,
    pub household: String,
    pub household_id: u32,
    pub address: String,
    pub grid: String,
    pub phone: Option<String>,
    pub category: Category,
    pub category_until: Option<NaiveDate>,
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
    pub pass_id: u32,
    pub resident_id: u32,
    pub key_id: u16,
    pub valid_from: NaiveDate,
    pub valid_until: NaiveDate,
    pub payload: String,
    pub issued_at: String,
    pub revoked_at: Option<String>,
    pub revoke_reason: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct KeyRow {
    pub key_id: u16,
    pub public_key: String,
    pub created_at: String,
    pub retired_at: Option<String>,
}

fn random_id(tx: &Transaction, table: &str) -> Result<u32> {
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
    Err(StoreError::Invalid(format!("could not find a free {table} id")))
}

pub(crate) fn getrandom(buf: &mut [u8]) {
    use rand_core::RngCore;
    rand_core::OsRng.fill_bytes(buf);
}

pub(super) const RESIDENT_SELECT: &str =
    "SELECT r.id, r.name, h.code, h.id, h.address, h.grid, r.phone, r.category, r.category_until
     FROM residents r JOIN households h ON h.id = r.household_id";

pub(super) fn resident_from_row(r: &rusqlite::Row) -> rusqlite::Result<ResidentView> {
    let cat: String = r.get(7)?;
    let until: Option<String> = r.get(8)?;
    Ok(ResidentView {
        id: r.get(0)?,
        name: r.get(1)?,
        household: r.get(2)?,
        household_id: r.get(3)?,
        address: r.get(4)?,
        grid: r.get(5)?,
        phone: r.get(6)?,
        category: cat.parse().unwrap_or(Category::Normal),
        category_until: until.and_then(|u| u.parse().ok()),
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
                                "UPDATE residents SET category = ?2, category_until = NULL WHERE id = ?1",
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
            if changed {
                counts.updated += 1;
            } else {
                counts.unchanged += 1;
            }
        }
        tx.commit()?;
        Ok(counts)
    }

    pub fn residents(&self) -> Result<Vec<ResidentView>> {
        let mut st = self.conn.prepare(&format!("{RESIDENT_SELECT} ORDER BY h.code, r.name"))?;
        let rows = st.query_map([], resident_from_row)?.collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows)
    }

    pub fn resident(&self, id: u32) -> Result<Option<ResidentView>> {
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
            .ok_or_else(|| {
                StoreError::NotFound(format!(
                    "no resident '{name}' in household '{household}' (see `gatepass household list`)"
                ))
            })
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

    pub fn set_category(&self, resident_id: u32, category: Category, until: Option<NaiveDate>) -> Result<()> {
        self.conn.execute(
            "UPDATE residents SET category = ?2, category_until = ?3 WHERE id = ?1",
            params![resident_id, category.as_str(), until.map(|d| d.to_string())],
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
        let mut st = self
            .conn
            .prepare("SELECT key_id, public_key, created_at, retired_at FROM community_keys ORDER BY key_id")?;
        let rows = st
            .query_map([], |r| {
                Ok(KeyRow { key_id: r.get(0)?, public_key: r.get(1)?, created_at: r.get(2)?, retired_at: r.get(3)? })
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows)
    }

    pub fn retire_key(&self, key_id: u16, now: &str) -> Result<()> {
        let n = self.conn.execute(
            "UPDATE community_keys SET retired_at = ?2 WHERE key_id = ?1 AND retired_at IS NULL",
            params![key_id, now],
        )?;
        if n == 0 {
            return Err(StoreError::NotFound(format!("no active key {key_id} (see `gatepass key list`)")));
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
        sign: impl Fn(u32, &ResidentView) -> std::result::Result<String, String>,
    ) -> Result<Vec<PassRow>> {
        let tx = self.conn.transaction()?;
        let mut out = Vec::with_capacity(residents.len());
        for r in residents {
            let id = random_id(&tx, "passes")?;
            let payload = sign(id, r).map_err(StoreError::Invalid)?;
            tx.execute(
                "UPDATE passes SET revoked_at = ?2, revoke_reason = 'replaced by a new card'
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
            });
        }
        tx.commit()?;
        Ok(out)
    }

    pub fn pass(&self, pass_id: u32) -> Result<Option<PassRow>> {
        Ok(self.conn.query_row(PASS_BY_ID, [pass_id], pass_from_row).optional()?)
    }

    pub fn passes(&self) -> Result<Vec<PassRow>> {
        let mut st = self.conn.prepare(
            "SELECT id, resident_id, key_id, valid_from, valid_until, payload, issued_at, revoked_at, revoke_reason FROM passes ORDER BY issued_at DESC, id",
        )?;
        let rows = st.query_map([], pass_from_row)?.collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows)
    }

    /// Revokes a pass; false when it already was (revoking twice is not an
    /// error: the card is refused either way).
    pub fn revoke_pass(&self, pass_id: u32, reason: &str, now: &str) -> Result<bool> {
        let Some(p) = self.pass(pass_id)? else {
            return Err(StoreError::NotFound(format!("no pass {pass_id} (see passes.csv or the passes page)")));
        };
        if p.revoked_at.is_some() {
            return Ok(false);
        }
        self.conn.execute(
            "UPDATE passes SET revoked_at = ?2, revoke_reason = ?3 WHERE id = ?1",
            params![pass_id, now, reason],
        )?;
        Ok(true)
    }
}

pub(super) const PASS_BY_ID: &str = "SELECT id, resident_id, key_id, valid_from, valid_until, payload, issued_at, revoked_at, revoke_reason FROM passes WHERE id = ?1";

pub(super) fn pass_from_row(r: &rusqlite::Row) -> rusqlite::Result<PassRow> {
    let from: String = r.get(3)?;
    let until: String = r.get(4)?;
    Ok(PassRow {
        pass_id: r.get(0)?,
        resident_id: r.get(1)?,
        key_id: r.get(2)?,
        valid_from: from.parse().unwrap_or(NaiveDate::MIN),
        valid_until: until.parse().unwrap_or(NaiveDate::MIN),
        payload: r.get(5)?,
        issued_at: r.get(6)?,
        revoked_at: r.get(7)?,
        revoke_reason: r.get(8)?,
    })
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
        let ids: Vec<u32> = s.residents().unwrap().iter().map(|r| r.id).collect();
        assert_eq!(s.import_register(&rows).unwrap(), ImportCounts { added: 0, updated: 0, unchanged: 3 });
        let changed = CSV.replace("张三,138", "张三,139");
        let rows = register::parse(changed.as_bytes()).unwrap().rows;
        assert_eq!(s.import_register(&rows).unwrap(), ImportCounts { added: 0, updated: 1, unchanged: 2 });
        let again: Vec<u32> = s.residents().unwrap().iter().map(|r| r.id).collect();
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
        s.set_category(r.id, Category::HomeQuarantine, Some(until)).unwrap();
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
        assert!((10_000_000..100_000_000).contains(&b.pass_id));
        assert!(s.revoke_pass(b.pass_id, "lost", "t").unwrap());
        assert!(!s.revoke_pass(b.pass_id, "lost", "t").unwrap(), "already revoked");
        assert!(s.revoke_pass(1, "lost", "t").is_err());
    }
}
