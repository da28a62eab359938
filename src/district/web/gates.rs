//! The gates page: last contact and chain status of every gate, stale and
//! broken ones highlighted.

use super::*;

fn gate_state(g: &GateRow, now: DateTime<Utc>, stale_minutes: u32) -> &'static str {
    if g.broken() {
        return "broken";
    }
    // a gate that pushes has no address either, but is heard from (issue 13)
    if g.url.is_none() && g.contact_via.as_deref() != Some("push") {
        return "file";
    }
    let fresh = g
        .last_contact
        .as_deref()
        .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
        .is_some_and(|t| now.signed_duration_since(t) < chrono::Duration::minutes(i64::from(stale_minutes)));
    if fresh {
        "ok"
    } else {
        "stale"
    }
}

pub(super) async fn gates_page(
    PageUser(user): PageUser,
    State(s): State<Shared>,
    Query(q): Query<LangQuery>,
) -> Result<Html<String>, WebError> {
    let en = q.is_en();
    let t = |zh: &'static str, e: &'static str| if en { e } else { zh };
    let cfg = &s.config;
    let tz = cfg.timezone().unwrap_or(chrono_tz::Asia::Shanghai);
    let now = Utc::now();
    let gates = lock(&s)?.gates()?;

    let mut b = nav(en, &user, Tab::Gates, "");
    let _ = write!(b, "<main><h1>{}</h1>", t("门岗", "Gates"));
    if gates.is_empty() {
        let _ = write!(
            b,
            "<p class=empty>{}</p></main>",
            t(
                "还没有门岗。联网的门岗用 gatepass district add-gate 登记；不联网的门岗，把 gatepass events export 导出的文件用 gatepass district import 导入。",
                "No gates yet. Register a networked gate with gatepass district add-gate; for a gate without network, import its gatepass events export file with gatepass district import."
            )
        );
        return Ok(Html(page(en, t("门岗 · 区县出入数据", "Gates · District gate data"), &b)));
    }
    let states: Vec<&str> = gates.iter().map(|g| gate_state(g, now, cfg.district.stale_minutes)).collect();
    let count = |k: &str| states.iter().filter(|s| **s == k).count();
    let _ = write!(
        b,
        "<p class=summary>{} {}{} {} {} · {} {} · {} {} · {} {}</p>",
        gates.len(),
        t("个门岗", "gates"),
        t("：", ":"),
        t("正常", "ok"),
        count("ok"),
        t("失联", "stale"),
        count("stale"),
        t("链断裂", "chain broken"),
        count("broken"),
        t("文件导入", "by file"),
        count("file"),
    );
    let _ = write!(
        b,
        "<table class=wide><tr><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th class=n>{}</th><th class=n>{}</th><th>{}</th><th>{}</th></tr>",
        t("门岗", "Gate"),
        t("社区", "Community"),
        t("状态", "Status"),
        t("最近联系", "Last contact"),
        t("最新事件", "Newest event"),
        t("已收事件", "Events"),
        t("隔离事件", "Quarantined"),
        t("姓名", "Names"),
        t("说明", "Detail"),
    );
    for (g, state) in gates.iter().zip(&states) {
        let label = match *state {
            "broken" => t("链断裂", "CHAIN BROKEN"),
            "stale" => t("失联", "stale"),
            "file" => t("文件导入", "by file"),
            _ => t("正常", "ok"),
        };
        let contact = match (&g.last_contact, &g.url) {
            (Some(c), _) if g.contact_via.as_deref() == Some("push") => {
                format!("{} ({})", local(c, tz), t("推送", "push"))
            }
            (Some(c), _) => local(c, tz),
            (None, None) => t("—（不联网）", "— (no network)").to_string(),
            (None, Some(_)) => t("从未", "never").to_string(),
        };
        let detail = match (&g.chain_detail, &g.last_error) {
            (Some(d), _) => html_escape(d),
            (None, Some(e)) => format!(
                "{}{}",
                g.last_error_at.as_deref().map(|a| format!("{} ", local(a, tz))).unwrap_or_default(),
                html_escape(e)
            ),
            (None, None) => String::new(),
        };
        let _ = write!(
            b,
            "<tr class={state}><td>{}</td><td>{}</td><td><span class='badge {state}'>{label}</span></td><td>{contact}</td>\
             <td>{}</td><td class=n>{}</td><td class=n>{}</td><td>{}</td><td class=detail>{detail}</td></tr>",
            html_escape(&g.name),
            html_escape(&g.community),
            g.newest_event.as_deref().map(|c| local(c, tz)).unwrap_or_else(|| "—".into()),
            g.events,
            g.quarantined,
            if g.names_shared { t("共享姓名", "shared") } else { t("仅编号", "ids only") },
        );
    }
    b.push_str("</table>");
    let _ = write!(
        b,
        "<p class=note>{} {}</p><p class=note>{}</p>",
        if en {
            format!("A networked gate not heard from for {} minutes is marked stale.", cfg.district.stale_minutes)
        } else {
            format!("联网门岗超过 {} 分钟没有联系即标为失联。", cfg.district.stale_minutes)
        },
        t(
            "“最新事件”是收到的最后一条记录的时间，不联网的门岗看它就知道数据新不新。",
            "Newest event is the time of the last record held: for a gate without network it shows how fresh its data is."
        ),
        t(
            "数据最小化：区县只保存门岗签名覆盖的内容（居民号、户号等），不保存姓名：姓名不在签名之内，任何人都能往导出文件里加。链断裂的门岗，其新事件单独隔离，不计入统计。",
            "Data minimisation: the district keeps only what the gate's signature covers (resident and household numbers and the like), never names: a name is outside the signature, and anyone can add one to an export file. A gate with a broken chain has its new events kept apart and not counted."
        )
    );
    b.push_str("</main>");
    Ok(Html(page(en, t("门岗 · 区县出入数据", "Gates · District gate data"), &b)))
}
