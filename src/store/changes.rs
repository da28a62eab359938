//! One-person changes to the register (issue 12): add a resident, move
//! them to another household, mark them moved out or deceased (the row and
//! its history stay), change a phone.

use super::people::random_id;
use super::{Result, Store, StoreError};
use crate::domain::revocation::RevokeReason;
use crate::domain::{Category, HouseholdId, ResidentId};
use rusqlite::{params, OptionalExtension};

impl Store {
    fn household_id(&self, code: &str) -> Result<Option<HouseholdId>> {
        Ok(self.conn.query_row("SELECT id FROM households WHERE code = ?1", [code], |r| r.get(0)).optional()?)
    }

    /// Whether someone of that name already lives in (or left) the household.
    pub fn name_taken(&self, household: &str, name: &str) -> Result<bool> {
        Ok(self.conn.query_row(
            "SELECT EXISTS(SELECT 1 FROM residents r JOIN households h ON h.id = r.household_id
             WHERE h.code = ?1 AND r.name = ?2)",
            [household, name],
            |r| r.get(0),
        )?)
    }

    /// Adds one resident; a household code not yet in the register is
    /// made with the address and grid given.
    #[allow(clippy::too_many_arguments)]
    pub fn add_resident(
        &mut self,
        household: &str,
        address: &str,
        grid: &str,
        name: &str,
        phone: Option<&str>,
        category: Category,
        now: &str,
    ) -> Result<ResidentId> {
        let tx = self.conn.transaction()?;
        let hid: Option<u32> =
            tx.query_row("SELECT id FROM households WHERE code = ?1", [household], |r| r.get(0)).optional()?;
        let hid = match hid {
            Some(h) => h,
            None => {
                let id = random_id(&tx, "households")?;
                tx.execute(
                    "INSERT INTO households (id, code, address, grid) VALUES (?1, ?2, ?3, ?4)",
                    params![id, household, address, grid],
                )?;
                id
            }
        };
        let id = random_id(&tx, "residents")?;
        tx.execute(
            "INSERT INTO residents (id, household_id, name, phone, category, category_since) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![id, hid, name, phone, category.as_str(), now],
        )?;
        tx.commit()?;
        Ok(ResidentId(id))
    }

    /// Moves a resident to an existing household.
    pub fn move_resident(&self, id: ResidentId, household: &str) -> Result<()> {
        let hid = self
            .household_id(household)?
            .ok_or_else(|| StoreError::UnknownResident(format!("household '{household}'")))?;
        self.conn.execute("UPDATE residents SET household_id = ?2 WHERE id = ?1", params![id, hid])?;
        Ok(())
    }

    /// Marks a resident as gone and revokes their cards with the same
    /// reason, in one transaction; how many cards were revoked.
    pub fn mark_left(&mut self, id: ResidentId, reason: RevokeReason, now: &str) -> Result<usize> {
        let tx = self.conn.transaction()?;
        tx.execute(
            "UPDATE residents SET left_reason = ?2, left_at = ?3 WHERE id = ?1",
            params![id, reason.as_str(), now],
        )?;
        let n = tx.execute(
            "UPDATE passes SET revoked_at = ?2, revoke_reason = ?3 WHERE resident_id = ?1 AND revoked_at IS NULL",
            params![id, now, reason.as_str()],
        )?;
        tx.commit()?;
        Ok(n)
    }

    pub fn set_phone(&self, id: ResidentId, phone: Option<&str>) -> Result<()> {
        self.conn.execute("UPDATE residents SET phone = ?2 WHERE id = ?1", params![id, phone])?;
        Ok(())
    }
}
