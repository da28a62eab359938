//! Everyone at the gate who is not a resident with a card (issue 11): the
//! parts of a scan batch that record an outsider, a vehicle, a delivery or
//! a visitor pass, resolve a resident found by name (a forgotten card),
//! and the committee's visitor approvals. Every one is an event of the
//! same signed chain, with its `kind` and `operator`.

use super::{GateError, Identity, Result, ScanOutcome, ScanRequest};
use crate::domain::chain::{self, EventBody};
use crate::domain::pass::{self, PassClaims, PassError, PassKind};
use crate::domain::policy::Policy;
use crate::domain::rules::{self, Decision, Reason};
use crate::domain::visit::{self, VisitKind, VisitorPassState};
use crate::domain::{HouseholdId, PassId, ResidentId};
use crate::store::{self, VisitRecord, VisitorPassRow};
use chrono::{DateTime, SecondsFormat, Utc};
use ed25519_dalek::{SigningKey, VerifyingKey};
use serde::Serialize;
use sha2::{Digest, Sha256};

/// What a scan request is about when it is not a resident's card.
#[derive(Debug, Clone)]
pub enum ScanExtra {
    /// A forgotten card: the resident the guard found by name.
    NoCard(ResidentId),
    /// An urgent outing.
    Exception(Box<ExceptionInfo>),
    /// An outsider, vehicle or delivery.
    Visit(Box<VisitInfo>),
}

#[derive(Debug, Clone)]
pub struct ExceptionInfo {
    pub resident_id: ResidentId,
    pub reason: String,
    pub destination: String,
    pub expected_return: DateTime<Utc>,
    pub approved_by: Option<String>,
}

/// A checked visit: what the guard typed, normalised.
#[derive(Debug, Clone)]
pub struct VisitInfo {
    pub kind: VisitKind,
    pub record: VisitRecord,
    /// A visitor pass shown (its `GP1:` text).
    pub code: Option<String>,
}

/// What the guard typed for a visit, before checking.
#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct VisitInput {
    pub kind: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub phone: Option<String>,
    #[serde(default)]
    pub plate: Option<String>,
    #[serde(default)]
    pub from: Option<String>,
    #[serde(default)]
    pub reason: Option<String>,
    #[serde(default)]
    pub host: Option<String>,
    #[serde(default)]
    pub purpose: Option<String>,
    #[serde(default)]
    pub code: Option<String>,
}

impl VisitInfo {
    /// Checks what was typed; nothing is recorded for an error.
    pub fn check(i: &VisitInput) -> std::result::Result<VisitInfo, visit::VisitError> {
        let kind: VisitKind = i.kind.parse()?;
        let text = |v: &Option<String>, what, max| visit::text_field(v.as_deref(), what, max);
        let plate = text(&i.plate, "plate", 20)?.map(|p| visit::normalize_plate(&p)).transpose()?;
        let phone = text(&i.phone, "phone", 30)?.map(|p| visit::normalize_phone(&p)).transpose()?;
        let purpose = text(&i.purpose, "purpose", 20)?;
        if let Some(p) = &purpose {
            if !visit::PURPOSES.contains(&p.as_str()) {
                return Err(visit::VisitError::BadPurpose(p.chars().take(20).collect()));
            }
        }
        let host = text(&i.host, "host", 40)?;
        let code = text(&i.code, "code", 400)?;
        match kind {
            VisitKind::Vehicle if plate.is_none() && code.is_none() => return Err(visit::VisitError::PlateRequired),
            VisitKind::Delivery if host.is_none() => return Err(visit::VisitError::HostRequired),
            _ => {}
        }
        Ok(VisitInfo {
            kind,
            record: VisitRecord {
                kind: kind.as_str().to_string(),
                name: text(&i.name, "name", 40)?,
                phone,
                plate,
                origin: text(&i.from, "from", 100)?,
                reason: text(&i.reason, "reason", 200)?,
                host,
                purpose,
                visitor_pass: None,
            },
            code,
        })
    }
}

/// A visitor pass holder, for the guard to compare.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct VisitorRef {
    pub pass_id: PassId,
    pub name: String,
    pub host: String,
    pub plate: Option<String>,
    pub uses_left: u32,
}

/// The visit fields of an answer (all present, null when not known).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct VisitAnswer {
    pub host: Option<String>,
    pub plate: Option<String>,
    pub purpose: Option<String>,
    pub uses_left: Option<u32>,
    pub parcel_id: Option<u64>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ExceptionAnswer {
    pub id: u64,
    pub reason: String,
    pub destination: String,
    pub expected_return: String,
    pub approved_by: Option<String>,
}

impl ExceptionAnswer {
    pub fn of(seq: u64, x: &ExceptionInfo, policy: &Policy) -> ExceptionAnswer {
        ExceptionAnswer {
            id: seq,
            reason: x.reason.clone(),
            destination: x.destination.clone(),
            expected_return: x
                .expected_return
                .with_timezone(&policy.timezone)
                .to_rfc3339_opts(SecondsFormat::Secs, false),
            approved_by: x.approved_by.clone(),
        }
    }
}

/// A visit, or a scanned visitor pass (a `GP1:` code of kind visitor).
pub(super) fn as_visit(req: &ScanRequest) -> Option<VisitInfo> {
    match &req.extra {
        Some(ScanExtra::Visit(v)) => Some((**v).clone()),
        Some(_) => None,
        None => match pass::decode_unverified(&req.payload) {
            Ok((c, _, _)) if c.kind == PassKind::Visitor => Some(VisitInfo {
                kind: VisitKind::Visitor,
                record: VisitRecord { kind: "visitor".into(), ..Default::default() },
                code: Some(req.payload.trim().to_string()),
            }),
            _ => None,
        },
    }
}

/// What a visit event needs from the batch.
pub(super) struct Ctx<'a> {
    pub seq: u64,
    pub at: DateTime<Utc>,
    pub prev: &'a str,
    pub ident: &'a Identity,
    pub keys: &'a [(u16, VerifyingKey)],
    pub policy: &'a Policy,
    pub clock_suspect: bool,
    pub key: &'a SigningKey,
}

/// Decides, signs and stores one visit inside the batch's transaction;
/// returns the new head hash and the answer.
pub(super) fn record_visit(
    tx: &store::ScanTx<'_>,
    c: &Ctx<'_>,
    v: &VisitInfo,
    req: &ScanRequest,
) -> Result<(String, ScanOutcome)> {
    let t = req.temperature.map(|t| t.celsius);
    let mut record = v.record.clone();
    let mut pass_id = None;
    let mut visitor = None;
    let outcome = match &v.code {
        None => visit::decide_unapproved(v.kind, record.purpose.as_deref(), req.direction, t, c.policy),
        Some(code) => {
            let verified = pass::verify(code, c.ident.community_id, |id| {
                c.keys.iter().find(|(k, _)| *k == id).map(|(_, key)| *key)
            });
            let refuse =
                |r: Reason| rules::Outcome::refused(r, req.direction.or(Some(rules::Direction::In)), t, c.policy);
            match verified {
                Err(PassError::WrongCommunity) => refuse(Reason::WrongCommunity),
                Err(_) => refuse(Reason::InvalidPass),
                Ok(claims) if claims.kind != PassKind::Visitor => refuse(Reason::InvalidPass),
                Ok(claims) => match tx.visitor_pass(claims.pass_id)? {
                    None => refuse(Reason::UnknownPass),
                    Some(row) => {
                        pass_id = Some(row.pass_id);
                        let st = VisitorPassState {
                            revoked: row.revoked_at.is_some(),
                            valid_from_ms: row.valid_from_ms,
                            valid_until_ms: row.valid_until_ms,
                            uses: row.uses,
                            used: row.used,
                            inside: row.inside_since_ms.is_some(),
                        };
                        let o = visit::decide_visitor_pass(&st, req.direction, t, c.at, c.policy);
                        let entered = o.decision == Decision::Allow && o.direction == Some(rules::Direction::In);
                        if entered {
                            tx.visitor_entered(row.pass_id, c.at.timestamp_millis())?;
                        } else if o.decision == Decision::Allow {
                            tx.visitor_left(row.pass_id)?;
                        }
                        let used = row.used + u32::from(entered);
                        visitor = Some(VisitorRef {
                            pass_id: row.pass_id,
                            name: row.name.clone(),
                            host: row.host.clone(),
                            plate: row.plate.clone(),
                            uses_left: row.uses.saturating_sub(used),
                        });
                        // the holder's details as the committee approved them
                        record.name = record.name.or(Some(row.name));
                        record.phone = record.phone.or(Some(row.phone));
                        record.plate = record.plate.or(row.plate);
                        record.host = Some(row.host);
                        record.visitor_pass = Some(row.pass_id);
                        o
                    }
                },
            }
        }
    };
    let mut salt = [0u8; 16];
    store::getrandom(&mut salt);
    let salt = hex::encode(salt);
    let body = EventBody {
        seq: c.seq,
        at: super::now_text(c.at),
        gate: c.ident.gate.clone(),
        community: c.ident.community.clone(),
        direction: outcome.direction.map(|d| d.as_str().to_string()),
        pass_id,
        resident_id: None,
        household: record.host.clone(),
        temperature_c: t,
        temperature_raw_c: req.temperature.map(|t| t.raw_celsius),
        temperature_source: req.temperature.map(|t| t.source.to_string()),
        decision: outcome.decision.as_str().to_string(),
        reasons: outcome.reasons.iter().map(|r| r.as_str().to_string()).collect(),
        warnings: outcome.warnings.iter().map(|w| w.as_str().to_string()).collect(),
        backfilled: req.backfill_at.is_some(),
        clock_suspect: c.clock_suspect,
        payload_digest: hex::encode(
            Sha256::digest(v.code.as_deref().unwrap_or("").trim().as_bytes()).get(..8).unwrap_or_default(),
        ),
        kind: Some(v.kind.as_str().to_string()),
        operator: req.operator.clone(),
        purpose: record.purpose.clone(),
        detail_digest: Some(visit::detail_digest(&salt, &record.details())),
    };
    let ev = chain::seal(body, c.prev, c.key);
    tx.append(&ev, c.at.timestamp_millis())?;
    tx.insert_visit(c.seq, &record, &salt)?;
    let answer = ScanOutcome {
        decision: outcome.decision,
        direction: outcome.direction,
        reasons: outcome.reasons,
        warnings: outcome.warnings,
        event_seq: c.seq,
        resident: None,
        temperature_c: t,
        temperature_source: req.temperature.map(|t| t.source),
        at: c.at.with_timezone(&c.policy.timezone).to_rfc3339_opts(SecondsFormat::Millis, false),
        pass_id,
        category: None,
        household_usage: None,
        backfilled: req.backfill_at.is_some(),
        clock_suspect: c.clock_suspect,
        slot: None,
        revoked_reason: None,
        kind: Some(v.kind.as_str().to_string()),
        operator: req.operator.clone(),
        visit: Some(VisitAnswer {
            host: record.host.clone(),
            plate: record.plate.clone(),
            purpose: record.purpose.clone(),
            uses_left: visitor.as_ref().map(|v| v.uses_left),
            parcel_id: (v.kind == VisitKind::Delivery).then_some(c.seq),
        }),
        visitor,
        exception: None,
    };
    Ok((ev.hash, answer))
}

type Resolved = std::result::Result<(PassClaims, store::ResidentView, bool), (Reason, Option<PassClaims>)>;

/// A resident the guard found by name: decided as a scan of their newest
/// unrevoked pass (the card they forgot), or `unknown_pass` without one.
pub(super) fn resolve_resident(
    tx: &store::ScanTx<'_>,
    id: ResidentId,
    keys: &[(u16, VerifyingKey)],
    at: DateTime<Utc>,
    policy: &Policy,
) -> Result<Resolved> {
    let Some(row) = tx.current_pass_of(id)? else { return Ok(Err((Reason::UnknownPass, None))) };
    if !row.unreadable.is_empty() {
        return Ok(Err((Reason::RecordUnreadable, None)));
    }
    let claims = match pass::decode_unverified(&row.payload) {
        // a retired key retires its cards however they are presented
        Ok((c, _, _)) if keys.iter().any(|(k, _)| *k == c.key_id) && c.resident_id == id => c,
        _ => return Ok(Err((Reason::InvalidPass, None))),
    };
    let record = rules::PassRecord { revoked: row.revoked_at.is_some() };
    if let Err(reason) = rules::pass_status(&claims, Some(record), rules::local_day(at, policy)) {
        return Ok(Err((reason, Some(claims))));
    }
    match tx.resident(id)? {
        Some(r) => Ok(Ok((claims, r, false))),
        None => Ok(Err((Reason::UnknownPass, Some(claims)))),
    }
}

/// The committee's approval for an outsider or a vehicle, as issued.
#[derive(Debug, Clone)]
pub struct VisitorPassRequest {
    pub name: String,
    pub phone: String,
    pub host: String,
    pub plate: Option<String>,
    pub from: DateTime<Utc>,
    pub until: DateTime<Utc>,
    pub uses: u32,
}

impl VisitorPassRequest {
    /// Checks what the committee typed; the times are local unless they
    /// carry an offset.
    #[allow(clippy::too_many_arguments)]
    pub fn check(
        name: Option<&str>,
        phone: Option<&str>,
        host: Option<&str>,
        plate: Option<&str>,
        from: Option<&str>,
        until: Option<&str>,
        uses: Option<u32>,
        tz: chrono_tz::Tz,
    ) -> std::result::Result<VisitorPassRequest, visit::VisitError> {
        let name = visit::text_field(name, "name", 40)?.ok_or(visit::VisitError::NameRequired)?;
        let phone = visit::normalize_phone(phone.unwrap_or(""))?;
        let host = visit::text_field(host, "host", 40)?.ok_or(visit::VisitError::HostRequired)?;
        let plate = visit::text_field(plate, "plate", 20)?.map(|p| visit::normalize_plate(&p)).transpose()?;
        let from = visit::parse_local_datetime(from.unwrap_or(""), tz, "from")?;
        let until = visit::parse_local_datetime(until.unwrap_or(""), tz, "until")?;
        if until <= from {
            return Err(visit::VisitError::BadTime("until must be after from".into()));
        }
        Ok(VisitorPassRequest { name, phone, host, plate, from, until, uses: uses.unwrap_or(1) })
    }
}

impl super::Gate {
    /// Signs a visitor pass (kind visitor: no name inside; the id maps to
    /// the holder here). Only where the community key is.
    pub fn issue_visitor_pass(
        &mut self,
        r: &VisitorPassRequest,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<VisitorPassRow> {
        self.require_first("issuing a visitor pass")?;
        if r.name.trim().is_empty() {
            return Err(GateError::Usage("give the visitor's name (--name)".into()));
        }
        if r.until <= r.from {
            return Err(GateError::BadDate("--until must be after --from".into()));
        }
        if r.uses == 0 || r.uses > 100 {
            return Err(GateError::Usage("--uses must be between 1 and 100".into()));
        }
        let host_id = self.household_id(&r.host)?.ok_or_else(|| GateError::UnknownHousehold(r.host.clone()))?;
        let (key_id, key) = self.signing_key()?;
        let tz = self.policy()?.timezone;
        let community = self.identity.community_id;
        let (from_day, until_day) = (r.from.with_timezone(&tz).date_naive(), r.until.with_timezone(&tz).date_naive());
        let stamp = super::now_text(now);
        let row = self.store.insert_visitor_pass(
            r.name.trim(),
            &r.phone,
            &r.host,
            r.plate.as_deref(),
            (r.from.timestamp_millis(), r.until.timestamp_millis()),
            r.uses,
            key_id,
            (&stamp, actor),
            |pass_id| {
                PassClaims {
                    kind: PassKind::Visitor,
                    community,
                    key_id,
                    pass_id,
                    resident_id: ResidentId(0),
                    household_id: host_id,
                    valid_from: from_day,
                    valid_until: until_day,
                }
                .sign(&key)
                .map_err(|e| e.to_string())
            },
        )?;
        self.audit(
            actor,
            "visitor_pass.issue",
            &serde_json::json!({"pass_id": row.pass_id, "host": r.host, "uses": r.uses,
                "from": super::now_text(r.from), "until": super::now_text(r.until)}),
            now,
        )?;
        Ok(row)
    }

    fn household_id(&self, code: &str) -> Result<Option<HouseholdId>> {
        Ok(self.store.household_id_of(code)?)
    }

    /// Marks a parcel collected (by whom, when).
    pub fn collect_parcel(
        &mut self,
        id: u64,
        by: &str,
        actor: &str,
        at: DateTime<Utc>,
    ) -> Result<std::result::Result<store::ParcelRow, store::CollectRefused>> {
        let r = self.store.collect_parcel(id, by, &super::now_text(at))?;
        if r.is_ok() {
            self.audit(actor, "parcel.collect", &serde_json::json!({"id": id, "by": by}), at)?;
        }
        Ok(r)
    }

    // reads for the CLI
    pub fn visitor_passes(&self) -> Result<Vec<VisitorPassRow>> {
        Ok(self.store.visitor_passes(1000)?)
    }
    pub fn parcels(&self, waiting: bool) -> Result<Vec<store::ParcelRow>> {
        Ok(self.store.parcels(waiting, 200)?)
    }
    pub fn search_residents(&self, q: &str, limit: usize) -> Result<(Vec<store::ResidentView>, bool)> {
        Ok(self.store.search_residents(q, limit)?)
    }
    pub fn resident(&self, id: ResidentId) -> Result<Option<store::ResidentView>> {
        Ok(self.store.resident(id)?)
    }
    pub fn find_resident(&self, household: &str, name: &str) -> Result<store::ResidentView> {
        Ok(self.store.find_resident(household, name)?)
    }
    pub fn presence_out(&self, id: ResidentId) -> Result<bool> {
        Ok(self.store.out_now()?.iter().any(|r| r.resident_id == id))
    }
    pub fn household_exists(&self, code: &str) -> Result<bool> {
        Ok(self.store.household_exists(code)?)
    }
    pub fn visit_digest_differences(&self) -> Result<Vec<String>> {
        Ok(self.store.visit_digest_differences(200)?)
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Gate, Temperature};
    use super::*;
    use crate::domain::rules::{Direction, Warning};

    fn gate(dir: &std::path::Path) -> (Gate, Vec<String>) {
        let now = Utc::now();
        drop(Gate::init(dir, "c", "g", now).unwrap());
        let cfg = dir.join(crate::config::FILE_NAME);
        let text = std::fs::read_to_string(&cfg).unwrap().replace("hours = \"06:00-20:00\"", "hours = \"00:00-24:00\"");
        std::fs::write(&cfg, text).unwrap();
        let mut g = Gate::open(dir).unwrap();
        g.import_register(b"household,name\n1-1,a\n1-1,b\n", "t", now).unwrap();
        let today = now.with_timezone(&g.policy().unwrap().timezone).date_naive();
        let passes = g.issue_passes(None, today, 30, "t", now).unwrap();
        (g, passes.into_iter().map(|(p, _)| p.payload).collect())
    }

    fn req(payload: &str, direction: Option<Direction>, extra: Option<ScanExtra>) -> ScanRequest {
        ScanRequest {
            payload: payload.into(),
            direction,
            temperature: Some(Temperature::manual(36.5)),
            backfill_at: None,
            operator: Some("t".into()),
            extra,
        }
    }

    /// An urgent outing and a forgotten-card return, replayed from the
    /// chain, give exactly the tables the scans wrote; the outing is open
    /// until the return and does not use the household's quota.
    #[test]
    fn urgent_outing_is_replayable_and_closed_by_the_return() {
        let dir = tempfile::tempdir().unwrap();
        let (mut g, passes) = gate(dir.path());
        let now = Utc::now();
        let a = g.residents().unwrap().into_iter().find(|r| r.name == "a").unwrap().id;
        let x = ExceptionInfo {
            resident_id: a,
            reason: "就医".into(),
            destination: "县医院".into(),
            expected_return: now - chrono::Duration::minutes(1),
            approved_by: None,
        };
        let o = g.scan_batch(&[req("", Some(Direction::Out), Some(ScanExtra::Exception(Box::new(x))))], now).unwrap();
        assert_eq!(o[0].warnings, vec![Warning::Exception]);
        assert_eq!(o[0].household_usage.as_ref().unwrap().outings_used, 0);
        let open = g.store.exceptions(true, 10).unwrap();
        assert_eq!(open.len(), 1);
        assert!(open[0].expected_return_ms < Utc::now().timestamp_millis(), "late");
        // back without the card
        let o = g.scan_batch(&[req("", None, Some(ScanExtra::NoCard(a)))], Utc::now()).unwrap();
        assert_eq!(o[0].direction, Some(Direction::In));
        assert!(o[0].warnings.contains(&Warning::NoCard));
        assert!(g.store.exceptions(true, 10).unwrap().is_empty());
        // the household's turn is still free: b goes out with the card
        let o = g.scan_batch(&[req(&passes[1], Some(Direction::Out), None)], Utc::now()).unwrap();
        assert_eq!(o[0].decision, Decision::Allow, "{o:?}");
        let d = g.derive(None).unwrap();
        assert!(d.chain.is_ok() && d.differences.is_empty(), "{:?} {:?}", d.chain, d.differences);
        assert!(g.visit_digest_differences().unwrap().is_empty());
    }
}
