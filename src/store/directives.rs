//! Directives received from the district (issue 13): each delivery and
//! what the gate did with it.

use super::{Result, Store};
use crate::domain::directive::{Directive, DirectiveResult};
use rusqlite::params;
use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
pub struct ReceivedDirective {
    pub id: String,
    pub received_at: String,
    pub via: String,
    pub community: String,
    pub resident_id: u32,
    pub category: String,
    pub until: Option<String>,
    pub issued_at: String,
    pub issued_by: String,
    pub result: String,
}

impl Store {
    /// Whether a directive with this id was applied before.
    pub fn directive_applied(&self, id: &str) -> Result<bool> {
        Ok(self.conn.query_row(
            "SELECT EXISTS (SELECT 1 FROM directives WHERE id = ?1 AND result = 'applied')",
            [id],
            |r| r.get(0),
        )?)
    }

    pub fn add_directive(&self, d: &Directive, via: &str, result: DirectiveResult, now: &str) -> Result<()> {
        let b = &d.body;
        // (the text fields came from outside: bounded before they are kept)
        let cut = |s: &str, n: usize| s.chars().take(n).collect::<String>();
        self.conn.execute(
            "INSERT INTO directives (id, received_at, via, community, resident_id, category, until, issued_at, issued_by, result) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
            params![
                cut(&b.id, 64),
                now,
                via,
                cut(&b.community, 128),
                b.resident_id.0,
                b.category.as_str(),
                b.until.map(|u| u.to_string()),
                cut(&b.issued_at, 40),
                cut(&b.issued_by, 64),
                result.as_str()
            ],
        )?;
        Ok(())
    }

    /// The newest deliveries first.
    pub fn directives(&self, limit: u32) -> Result<Vec<ReceivedDirective>> {
        let mut st = self.conn.prepare(
            "SELECT id, received_at, via, community, resident_id, category, until, issued_at, issued_by, result \
             FROM directives ORDER BY n DESC LIMIT ?1",
        )?;
        let rows = st
            .query_map([limit], |r| {
                Ok(ReceivedDirective {
                    id: r.get(0)?,
                    received_at: r.get(1)?,
                    via: r.get(2)?,
                    community: r.get(3)?,
                    resident_id: r.get(4)?,
                    category: r.get(5)?,
                    until: r.get(6)?,
                    issued_at: r.get(7)?,
                    issued_by: r.get(8)?,
                    result: r.get(9)?,
                })
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows)
    }
}
