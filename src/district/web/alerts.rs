//! Fever alerts of the last days, newest first.

use super::*;

pub(super) async fn alerts_page(
    PageUser(user): PageUser,
    State(s): State<Shared>,
    Query(q): Query<LangQuery>,
) -> Result<Html<String>, WebError> {
    let en = q.is_en();
    let t = |zh: &'static str, e: &'static str| if en { e } else { zh };
    let cfg = &s.config;
    let tz = cfg.timezone().unwrap_or(chrono_tz::Asia::Shanghai);
    let now = Utc::now();
    let days = q.days.unwrap_or(3).clamp(1, 31);
    let store = lock(&s)?;
    let gates = store.gates()?;
    let alerts: Vec<_> = store
        .facts_between((now - chrono::Duration::days(i64::from(days))).timestamp_millis(), now.timestamp_millis() + 1)?
        .into_iter()
        .filter(|e| e.fever_reason || e.temperature_c.is_some_and(|t| t >= cfg.district.fever_c))
        .collect();
    drop(store);

    let l = if en { "en" } else { "zh" };
    let mut b = nav(en, &user, Tab::Alerts, &format!("&days={days}"));
    let _ = write!(
        b,
        "<main><h1>{}</h1><form method=get class=bar><input type=hidden name=lang value={l}>\
         <label>{} <input name=days type=number min=1 max=31 value={days}></label><button>{}</button></form>\
         <p class=note>{}</p>",
        t("发热警报", "Fever alerts"),
        t("最近天数", "Last days"),
        t("查看", "Show"),
        if en {
            format!(
                "Crossings of the last {days} days with {:.1} °C or over, or the gate's fever reason; newest first. The resident number opens their trace.",
                cfg.district.fever_c
            )
        } else {
            format!(
                "近 {days} 天体温 ≥ {:.1} °C 或门岗判定发热的通行记录，最新的在前。点居民号查看其轨迹。",
                cfg.district.fever_c
            )
        }
    );
    if alerts.is_empty() {
        let _ = write!(
            b,
            "<p class=empty>{}</p></main>",
            if en {
                format!("No fever in the last {days} days.")
            } else {
                format!("近 {days} 天没有发热记录。")
            }
        );
        return Ok(Html(page(en, t("发热警报 · 区县出入数据", "Fever alerts · District gate data"), &b)));
    }
    let names: std::collections::HashMap<i64, (&str, &str)> =
        gates.iter().map(|g| (g.id, (g.name.as_str(), g.community.as_str()))).collect();
    let _ = write!(
        b,
        "<table><tr><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th class=n>°C</th><th>{}</th></tr>",
        t("时间", "Time"),
        t("门岗", "Gate"),
        t("社区", "Community"),
        t("居民号", "Resident"),
        t("户号", "Household"),
        t("方向", "Direction"),
        t("结果", "Decision")
    );
    for e in alerts.iter().rev() {
        let (g, c) = names.get(&e.gate_id).copied().unwrap_or(("?", "?"));
        let person = match e.resident_id {
            Some(id) => format!(
                "<a href='/trace?resident={id}&community={}&lang={l}'>{}</a>",
                url_encode(c),
                who(Some(id), e.resident_name.as_deref(), en)
            ),
            None => who(None, None, en),
        };
        let _ = write!(
            b,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{person}</td><td>{}</td><td>{}</td><td class='n hot'>{}</td><td>{}</td></tr>",
            local(&e.at, tz),
            html_escape(g),
            html_escape(c),
            html_escape(e.household.as_deref().unwrap_or("")),
            direction_label(e.direction.as_deref(), en),
            e.temperature_c.map(|t| format!("{t:.1}")).unwrap_or_else(|| "—".into()),
            decision_label(&e.decision, en)
        );
    }
    b.push_str("</table></main>");
    Ok(Html(page(en, t("发热警报 · 区县出入数据", "Fever alerts · District gate data"), &b)))
}
