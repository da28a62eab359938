//! The committee's paperwork on the gate (issue 12): one-person changes to
//! the register and home-quarantine follow-up visits. Each change is
//! audited under the caller's name.

use super::{now_text, rules, GateError, Result};
use crate::domain::revocation::RevokeReason;
use crate::domain::{Category, ResidentId};
use crate::store::{FollowupRow, NewFollowup, ResidentView, StoreError};
use chrono::{DateTime, Utc};

/// The longest symptoms or note text kept for a visit.
pub const MAX_NOTE_CHARS: usize = 500;

/// A new resident from the committee page or the CLI.
#[derive(Debug, Clone, Default)]
pub struct NewResident {
    pub household: String,
    pub address: String,
    pub grid: String,
    pub name: String,
    pub phone: Option<String>,
    pub category: Option<Category>,
}

/// A follow-up visit as recorded by a volunteer.
#[derive(Debug, Clone)]
pub struct Visit {
    pub resident: ResidentId,
    pub temperature_c: Option<f64>,
    pub symptoms: String,
    pub note: String,
    /// When the visit was made (default: now); never in the future.
    pub at: Option<DateTime<Utc>>,
}

fn clean_text(what: &str, s: &str) -> Result<String> {
    let t = s.trim();
    if t.chars().count() > MAX_NOTE_CHARS {
        return Err(GateError::Usage(format!("{what} is longer than {MAX_NOTE_CHARS} characters")));
    }
    if let Some(c) = crate::domain::text::hidden_char(t) {
        return Err(GateError::BadName(format!("{what} holds a hidden character U+{:04X}", c as u32)));
    }
    Ok(t.to_string())
}

impl super::Gate {
    fn living(&self, id: ResidentId) -> Result<ResidentView> {
        let r =
            self.store.resident(id)?.ok_or_else(|| GateError::Store(StoreError::UnknownResident(id.to_string())))?;
        if r.left.is_some() {
            return Err(GateError::ResidentLeft(r.name));
        }
        Ok(r)
    }

    /// Adds one person (a household code not yet in the register is made).
    pub fn add_resident(&mut self, new: &NewResident, actor: &str, now: DateTime<Utc>) -> Result<ResidentView> {
        self.require_first("adding a resident")?;
        let household = new.household.trim();
        let name = new.name.trim();
        if household.is_empty() || name.is_empty() {
            return Err(GateError::Usage("give the household code and the name".into()));
        }
        super::check_name("the household code", household)?;
        super::check_name("the name", name)?;
        if self.store.name_taken(household, name)? {
            return Err(GateError::Usage(format!(
                "{name} is already in household {household}; change that resident instead of adding one"
            )));
        }
        let phone = match new.phone.as_deref().map(str::trim).filter(|p| !p.is_empty()) {
            Some(p) => Some(crate::domain::register::phone(p).map_err(GateError::Usage)?),
            None => None,
        };
        let category = new.category.unwrap_or(Category::Normal);
        let id = self.store.add_resident(
            household,
            new.address.trim(),
            new.grid.trim(),
            name,
            phone.as_deref().filter(|p| !p.is_empty()),
            category,
            &now_text(now),
        )?;
        self.audit(
            actor,
            "resident.add",
            &serde_json::json!({"resident_id": id, "household": household, "name": name, "category": category}),
            now,
        )?;
        self.store.resident(id)?.ok_or_else(|| GateError::Store(StoreError::UnknownResident(id.to_string())))
    }

    /// Moves a person to another household already in the register. Their
    /// card names no household, so it keeps working; outings count for the
    /// new household from now on.
    pub fn move_resident(
        &mut self,
        id: ResidentId,
        household: &str,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<ResidentView> {
        self.require_first("moving a resident")?;
        let r = self.living(id)?;
        let to = household.trim();
        if !self.store.household_exists(to)? {
            return Err(GateError::UnknownHousehold(to.to_string()));
        }
        if r.household == to {
            return Ok(r);
        }
        if self.store.name_taken(to, &r.name)? {
            return Err(GateError::Usage(format!("household {to} already has a resident named {}", r.name)));
        }
        self.store.move_resident(id, to)?;
        self.audit(
            actor,
            "resident.move",
            &serde_json::json!({"resident_id": id, "name": r.name, "from": r.household, "to": to}),
            now,
        )?;
        self.store.resident(id)?.ok_or_else(|| GateError::Store(StoreError::UnknownResident(id.to_string())))
    }

    /// Marks a person moved out or deceased: their cards are revoked with
    /// that reason; the row and every event stay.
    pub fn mark_left(
        &mut self,
        id: ResidentId,
        reason: RevokeReason,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<ResidentView> {
        self.require_first("marking a resident moved out")?;
        if !matches!(reason, RevokeReason::MovedOut | RevokeReason::Deceased) {
            return Err(GateError::Usage(format!("'{reason}' is not a way to leave; use moved_out or deceased")));
        }
        let r = self.living(id)?;
        let revoked = self.store.mark_left(id, reason, &now_text(now))?;
        self.audit(
            actor,
            "resident.left",
            &serde_json::json!({"resident_id": id, "name": r.name, "household": r.household, "reason": reason, "passes_revoked": revoked}),
            now,
        )?;
        self.store.resident(id)?.ok_or_else(|| GateError::Store(StoreError::UnknownResident(id.to_string())))
    }

    /// Changes (or with an empty text, removes) a phone number.
    pub fn set_phone(&mut self, id: ResidentId, phone: &str, actor: &str, now: DateTime<Utc>) -> Result<ResidentView> {
        self.require_first("changing a phone number")?;
        let r = self.living(id)?;
        let p = crate::domain::register::phone(phone).map_err(GateError::Usage)?;
        self.store.set_phone(id, Some(p.as_str()).filter(|p| !p.is_empty()))?;
        // the audit shows only the last four digits: the trail is read by many
        let tail: String = p.chars().rev().take(4).collect::<Vec<_>>().into_iter().rev().collect();
        self.audit(
            actor,
            "resident.phone",
            &serde_json::json!({"resident_id": id, "name": r.name, "household": r.household, "phone_tail": tail}),
            now,
        )?;
        self.store.resident(id)?.ok_or_else(|| GateError::Store(StoreError::UnknownResident(id.to_string())))
    }

    /// Records a follow-up visit to a person kept home. A reading at or
    /// over the fever line is an alert.
    pub fn record_followup(&mut self, v: &Visit, actor: &str, now: DateTime<Utc>) -> Result<FollowupRow> {
        let r = self.living(v.resident)?;
        let at = v.at.unwrap_or(now);
        if at > now + chrono::Duration::minutes(5) {
            return Err(GateError::BadDate("the visit time is in the future".into()));
        }
        if let Some(t) = v.temperature_c {
            if !crate::domain::plausible_c(t) {
                return Err(GateError::Usage(format!("{t} °C is not a body temperature (30–45 °C)")));
            }
        }
        let symptoms = clean_text("symptoms", &v.symptoms)?;
        let note = clean_text("the note", &v.note)?;
        let policy = self.policy()?;
        let fever = rules::is_fever(v.temperature_c, &policy);
        let stamp = now_text(now);
        let id = self.store.add_followup(&NewFollowup {
            resident_id: r.id,
            at_ms: at.timestamp_millis(),
            temperature_c: v.temperature_c,
            symptoms: &symptoms,
            note: &note,
            fever,
            actor,
            recorded_at: &stamp,
        })?;
        self.audit(
            actor,
            "followup.record",
            &serde_json::json!({"resident_id": r.id, "name": r.name, "household": r.household, "temperature_c": v.temperature_c, "fever": fever}),
            now,
        )?;
        Ok(FollowupRow {
            id,
            resident_id: r.id,
            name: r.name,
            household: r.household,
            grid: r.grid,
            at_ms: at.timestamp_millis(),
            temperature_c: v.temperature_c,
            symptoms,
            note,
            fever,
            actor: actor.to_string(),
        })
    }

    /// Everyone kept home with their follow-up windows (see `paperwork`).
    pub fn home_status(&self, now: DateTime<Utc>) -> Result<Vec<crate::paperwork::HomeStatus>> {
        Ok(crate::paperwork::home_status(&self.store, &self.config.followup, &self.policy()?, now)?)
    }

    /// The day's entry/exit ledger.
    pub fn ledger(&self, date: chrono::NaiveDate) -> Result<crate::ledger::Ledger> {
        crate::ledger::build(&self.store, &self.identity.community, &self.policy()?, date)?
            .ok_or_else(|| GateError::BadDate(format!("{date} cannot be shown in the community's time zone")))
    }

    /// Visits in a local-day range, for the follow-up book.
    pub fn followup_book(&self, from_ms: i64, to_ms: i64) -> Result<Vec<FollowupRow>> {
        Ok(self.store.followups_between(from_ms, to_ms, 1_000_000)?)
    }
}
