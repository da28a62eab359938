//! The day's entry/exit ledger (出入台账, issue 12): the book a supervisor
//! checks, as .xlsx and as a printable page that ends with the chain head,
//! so a paper copy can be checked against the log.

use crate::domain::chain::ChainedEvent;
use crate::domain::{Policy, ResidentId};
use crate::store::{Result, Store};
use crate::xlsx::Cell;
use chrono::{DateTime, NaiveDate, TimeZone};
use serde::Serialize;
use std::collections::HashMap;

/// The most events one day's ledger holds (a busy gate makes a few thousand).
pub const MAX_ROWS: u32 = 200_000;

pub const HEADERS: [&str; 10] =
    ["序号", "时间", "门岗", "方向", "姓名", "户号", "体温(°C)", "结果", "原因", "值班人员"];

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct LedgerRow {
    pub seq: u64,
    /// Local `YYYY-MM-DD HH:MM:SS`.
    pub time: String,
    pub gate: String,
    pub direction: String,
    pub name: String,
    pub household: String,
    pub temperature_c: Option<f64>,
    pub decision: String,
    pub reasons: String,
    pub operator: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Ledger {
    pub date: NaiveDate,
    pub community: String,
    pub rows: Vec<LedgerRow>,
    /// The whole chain's head when the book was made: (seq, hash).
    pub head_seq: u64,
    pub head_hash: String,
}

/// A reason or warning code in the book's words (the code itself when new).
pub fn code_zh(code: &str) -> &str {
    match code {
        "invalid_pass" => "通行证无效",
        "wrong_community" => "非本社区通行证",
        "unknown_pass" => "查无此证",
        "revoked" => "证已注销",
        "expired" => "证已过期",
        "not_yet_valid" => "证未生效",
        "quarantined" => "隔离管控",
        "no_temperature" => "未测体温",
        "fever" => "发热",
        "household_member_out" => "本户已有人在外",
        "household_quota" => "本户次数已用完",
        "outside_hours" => "非外出时间",
        "outside_slot" => "非本户错峰时段",
        "already_out" => "已外出未返回",
        "record_unreadable" => "登记资料无法读取",
        "not_approved" => "未经批准（劝返）",
        "pass_used" => "证已用完",
        "overdue" => "超时返回",
        "no_exit_recorded" => "无外出记录",
        "typed_pass_number" => "手输证号",
        "quota_exempt" => "保障人员",
        "exception" => "紧急外出",
        "no_card" => "未带证",
        other => other,
    }
}

fn decision_zh(d: &str) -> &str {
    match d {
        "allow" => "通行",
        "deny" => "禁止",
        "refer" => "留观",
        other => other,
    }
}

fn direction_zh(d: Option<&str>) -> &str {
    match d {
        Some("out") => "出",
        Some("in") => "入",
        Some(other) => other,
        None => "",
    }
}

/// One event as a ledger line. `operator` and a visitor's `name` are read
/// from the event when it carries them (events of older versions do not).
pub fn row(ev: &ChainedEvent, names: &HashMap<ResidentId, String>, tz: chrono_tz::Tz) -> LedgerRow {
    let b = &ev.body;
    let extra = serde_json::to_value(b).unwrap_or_default();
    let field = |k: &str| extra.get(k).and_then(|v| v.as_str()).map(str::to_string);
    let time = DateTime::parse_from_rfc3339(&b.at)
        .map(|t| t.with_timezone(&tz).format("%Y-%m-%d %H:%M:%S").to_string())
        .unwrap_or_else(|_| b.at.clone());
    let codes: Vec<&str> = b.reasons.iter().chain(b.warnings.iter()).map(|c| code_zh(c)).collect();
    LedgerRow {
        seq: b.seq,
        time,
        gate: b.gate.clone(),
        direction: direction_zh(b.direction.as_deref()).to_string(),
        name: b.resident_id.and_then(|id| names.get(&id).cloned()).or_else(|| field("name")).unwrap_or_default(),
        household: b.household.clone().unwrap_or_default(),
        temperature_c: b.temperature_c,
        decision: decision_zh(&b.decision).to_string(),
        reasons: codes.join("；"),
        operator: field("operator").unwrap_or_default(),
    }
}

/// The ledger of local day `date`.
pub fn build(store: &Store, community: &str, policy: &Policy, date: NaiveDate) -> Result<Option<Ledger>> {
    let tz = policy.timezone;
    let bounds = (|| {
        let start = tz.from_local_datetime(&date.and_hms_opt(0, 0, 0)?).earliest()?;
        let end = tz.from_local_datetime(&date.succ_opt()?.and_hms_opt(0, 0, 0)?).earliest()?;
        Some((start.timestamp_millis(), end.timestamp_millis()))
    })();
    let Some((from, to)) = bounds else { return Ok(None) };
    let names = store.resident_names()?;
    let rows = store.events_between(from, to, MAX_ROWS)?.iter().map(|e| row(e, &names, tz)).collect();
    let (head_seq, head_hash) = store.head()?;
    Ok(Some(Ledger { date, community: community.to_string(), rows, head_seq, head_hash }))
}

impl Ledger {
    pub fn xlsx(&self) -> std::result::Result<Vec<u8>, crate::xlsx::XlsxError> {
        let rows: Vec<Vec<Cell>> = self
            .rows
            .iter()
            .map(|r| {
                vec![
                    Cell::Number(r.seq as f64),
                    r.time.clone().into(),
                    r.gate.clone().into(),
                    r.direction.clone().into(),
                    r.name.clone().into(),
                    r.household.clone().into(),
                    r.temperature_c.into(),
                    r.decision.clone().into(),
                    r.reasons.clone().into(),
                    r.operator.clone().into(),
                ]
            })
            .collect();
        crate::xlsx::book(&format!("出入台账 {}", self.date), &HEADERS, &rows)
    }

    /// A page to print: the rows, then the chain head to check the paper
    /// against the log (`gatepass events verify` prints the same head).
    pub fn html(&self) -> String {
        use crate::web::html_escape as e;
        let mut h = String::with_capacity(1024 + self.rows.len() * 200);
        h.push_str(&format!(
            r#"<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8"><title>{c} 出入台账 {d}</title>
<style>
@page {{ size: A4 landscape; margin: 10mm; }}
body {{ font-family: "Noto Sans CJK SC", "WenQuanYi Micro Hei", "Microsoft YaHei", sans-serif; margin: 8mm; font-size: 11pt; }}
h1 {{ font-size: 16pt; margin: 0 0 4mm; }}
table {{ border-collapse: collapse; width: 100%; }}
th, td {{ border: 0.3mm solid #444; padding: 1mm 2mm; text-align: left; }}
th {{ background: #eee; }}
td.n {{ text-align: right; white-space: nowrap; }}
td.t, td.hh {{ white-space: nowrap; }}
thead {{ display: table-header-group; }}
tr {{ break-inside: avoid; }}
.head {{ margin-top: 5mm; font-family: monospace; word-break: break-all; }}
</style></head><body>
<h1>{c} 出入台账 {d}（共 {n} 条）</h1>
<table><thead><tr>"#,
            c = e(&self.community),
            d = self.date,
            n = self.rows.len()
        ));
        for hd in HEADERS {
            h.push_str(&format!("<th>{}</th>", e(hd)));
        }
        h.push_str("</tr></thead><tbody>\n");
        for r in &self.rows {
            h.push_str(&format!(
                "<tr><td class=\"n\">{}</td><td class=\"t\">{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"hh\">{}</td><td class=\"n\">{}</td><td>{}</td><td>{}</td><td>{}</td></tr>\n",
                r.seq,
                e(&r.time),
                e(&r.gate),
                e(&r.direction),
                e(&r.name),
                e(&r.household),
                r.temperature_c.map(|t| format!("{t:.1}")).unwrap_or_default(),
                e(&r.decision),
                e(&r.reasons),
                e(&r.operator),
            ));
        }
        h.push_str(&format!(
            "</tbody></table>\n<p class=\"head\">链头（打印时）：第 {} 条，哈希 {}<br>核对：gatepass events verify 显示的链头应与此相同或更新；此页各行可用序号在日志中查到。</p>\n</body></html>\n",
            self.head_seq,
            e(&self.head_hash)
        ));
        h
    }
}
