//! The day's figures per gate, with charts per gate and over 14 days.

use super::charts::{bars_svg, line_svg, series};
use super::*;

pub(super) async fn daily_page(
    PageUser(user): PageUser,
    State(s): State<Shared>,
    Query(q): Query<LangQuery>,
) -> Result<Html<String>, WebError> {
    let en = q.is_en();
    let t = |zh: &'static str, e: &'static str| if en { e } else { zh };
    let cfg = &s.config;
    let tz = cfg.timezone().unwrap_or(chrono_tz::Asia::Shanghai);
    let date = report::parse_date(q.date.as_deref().unwrap_or("today"), tz, Utc::now())?;
    let store = lock(&s)?;
    let daily = report::daily(&store, cfg, date)?;
    let over_time = report::series(&store, cfg, date, 14)?;
    drop(store);

    let mut b = nav(en, &user, Tab::Daily, &format!("&date={date}"));
    let _ = write!(
        b,
        "<main><h1>{} {date}</h1><form method=get class=bar><input type=hidden name=lang value={}>\
         <label>{} <input type=date name=date value={date} required></label><button>{}</button>\
         <a href='/api/v1/report/daily?date={date}&format=csv'>{}</a>\
         <a href='/api/v1/report/daily?date={date}&format=dhis2'>DHIS2 JSON</a></form>",
        t("每日数据", "Daily figures"),
        if en { "en" } else { "zh" },
        t("日期", "Date"),
        t("查看", "Show"),
        t("下载 CSV", "Download CSV"),
    );
    if daily.gates.is_empty() {
        let _ = write!(b, "<p class=empty>{}</p></main>", t("还没有门岗，没有数据。", "No gates yet, so no figures."));
        return Ok(Html(page(en, t("每日数据 · 区县出入数据", "Daily figures · District gate data"), &b)));
    }
    let _ = write!(b, "<table><tr><th>{}</th><th>{}</th>", t("门岗", "Gate"), t("社区", "Community"));
    for (zh, e, _, _) in series() {
        let _ = write!(b, "<th class=n>{}</th>", if en { e } else { zh });
    }
    let _ = write!(b, "<th class=n>{}</th></tr>", t("超时未归", "Overdue"));
    let row = |class: &str, gate: &str, comm: &str, c: &Counts| {
        format!(
            "<tr{class}><td>{}</td><td>{}</td><td class=n>{}</td><td class=n>{}</td><td class=n>{}</td><td class=n>{}</td><td class=n>{}</td></tr>",
            html_escape(gate),
            html_escape(comm),
            c.exits,
            c.entries,
            c.denied,
            c.fever,
            c.overdue
        )
    };
    for g in &daily.gates {
        b.push_str(&row("", &g.gate, &g.community, &g.counts));
    }
    b.push_str(&row(" class=total", t("合计", "Total"), "", &daily.total));
    b.push_str("</table>");
    let _ = write!(
        b,
        "<div class=charts><figure><figcaption>{} {date}</figcaption>{}</figure>\
         <figure><figcaption>{}</figcaption>{}</figure></div>",
        t("各门岗", "Per gate,"),
        bars_svg(&daily, en),
        if en {
            format!("District totals, 14 days to {date}")
        } else {
            format!("全区合计，截至 {date} 的14天")
        },
        line_svg(&over_time, en)
    );
    let _ = write!(
        b,
        "<p class=note>{}</p></main>",
        if en {
            format!(
                "Counted by each event's own time, local day ({tz}). Exits and entries: allowed crossings. Denied exits: refused on the way out. Fever: {:.1} °C or over, or the gate's fever reason; a fever on the way back is counted as fever, not as an entry. Overdue: came back after the outing limit.",
                cfg.district.fever_c
            )
        } else {
            format!(
                "按每条记录自身的时间计入当地日期（{tz}）。外出、返回：放行的通行；拒绝外出：出门被拒；发热：体温 ≥ {:.1} °C 或门岗判定发热，发热返回计为发热、不计返回；超时未归：超过外出时限才返回。",
                cfg.district.fever_c
            )
        }
    );
    Ok(Html(page(en, t("每日数据 · 区县出入数据", "Daily figures · District gate data"), &b)))
}
