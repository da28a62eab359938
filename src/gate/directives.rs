//! Applying the district's directives at the gate (issue 13).

use super::{now_text, Gate, GateError, Result};
use crate::domain::directive::{self, Directive, DirectiveResult};
use crate::store::StoreError;
use chrono::{DateTime, Utc};
use ed25519_dalek::VerifyingKey;

const PINNED: &str = "district_key";

impl Gate {
    /// The district key directives must be signed with: `[district] key`,
    /// else the one pinned on the first successful push.
    pub fn district_key(&self) -> Result<Option<VerifyingKey>> {
        if let Some(k) = self.config.district.key.as_deref() {
            return Ok(crate::export::parse_key(k));
        }
        Ok(self.store.meta(PINNED)?.as_deref().and_then(crate::export::parse_key))
    }

    /// Pins the district's key on first sight (trust on first use), when
    /// none is configured or pinned; true if it was pinned now.
    pub fn pin_district_key(&self, key_hex: &str, now: DateTime<Utc>) -> Result<bool> {
        if self.config.district.key.is_some()
            || self.store.meta(PINNED)?.is_some()
            || crate::export::parse_key(key_hex).is_none()
        {
            return Ok(false);
        }
        self.store.set_meta(PINNED, key_hex)?;
        self.audit(
            "district",
            "district.key_pinned",
            &serde_json::json!({"key": key_hex, "how": "first successful push"}),
            now,
        )?;
        Ok(true)
    }

    /// Checks and applies one directive: signed by the pinned district key,
    /// for this community, never seen before, about a known resident. Every
    /// delivery is kept (with what was done) and audited with who asked.
    pub fn apply_directive(&mut self, d: &Directive, via: &str, now: DateTime<Utc>) -> Result<DirectiveResult> {
        let b = &d.body;
        let result = match self.district_key()? {
            None => DirectiveResult::NoDistrictKey,
            Some(k) if !directive::verify(d, &k) => DirectiveResult::BadSignature,
            Some(_) if b.community != self.identity.community => DirectiveResult::OtherCommunity,
            Some(_) if self.store.directive_applied(&b.id)? => DirectiveResult::Replayed,
            Some(_) => {
                let actor = format!("district:{}", b.issued_by.chars().take(64).collect::<String>());
                match self.apply_category(b.resident_id, b.category, b.until, &actor, now) {
                    Ok(_) => DirectiveResult::Applied,
                    Err(GateError::Store(StoreError::UnknownResident(_))) => DirectiveResult::UnknownResident,
                    Err(e) => return Err(e),
                }
            }
        };
        self.store.add_directive(d, via, result, &now_text(now))?;
        let detail = serde_json::json!({"id": b.id.chars().take(64).collect::<String>(),
            "resident_id": b.resident_id, "category": b.category, "until": b.until,
            "issued_by": b.issued_by.chars().take(64).collect::<String>(),
            "issued_at": b.issued_at.chars().take(40).collect::<String>(), "via": via, "result": result});
        let action =
            if result == DirectiveResult::Applied { "district.directive" } else { "district.directive_refused" };
        self.audit("district", action, &detail, now)?;
        if result != DirectiveResult::Applied {
            tracing::warn!(result = result.as_str(), "a directive from the district was not applied");
        }
        Ok(result)
    }

    pub fn received_directives(&self, limit: u32) -> Result<Vec<crate::store::ReceivedDirective>> {
        Ok(self.store.directives(limit)?)
    }
}
