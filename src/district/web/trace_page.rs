//! The trace search: a resident's crossings and who crossed the same gate
//! around each one.

use super::*;

pub(super) async fn trace_page(
    PageUser(user): PageUser,
    State(s): State<Shared>,
    Query(q): Query<TraceQuery>,
) -> Result<Html<String>, WebError> {
    let en = q.lang.as_deref() == Some("en");
    let t = |zh: &'static str, e: &'static str| if en { e } else { zh };
    let l = if en { "en" } else { "zh" };
    let tz = s.config.timezone().unwrap_or(chrono_tz::Asia::Shanghai);
    let resident = q.resident.as_deref().unwrap_or("").trim();
    let community = q.community.as_deref().unwrap_or("").trim();
    let days = q.days.unwrap_or(14);
    let keep = if resident.is_empty() {
        String::new()
    } else {
        format!("&resident={}&community={}&days={days}", url_encode(resident), url_encode(community))
    };
    let mut b = nav(en, &user, Tab::Trace, &keep);
    let _ = write!(
        b,
        "<main><h1>{}</h1><form method=get class=bar><input type=hidden name=lang value={l}>\
         <label>{} <input name=resident value='{}' inputmode=numeric required></label>\
         <label>{} <input name=community value='{}'></label>\
         <label>{} <input name=days type=number min=1 max=366 value={days}></label><button>{}</button></form>",
        t("病例轨迹", "Trace a case"),
        t("居民号", "Resident number"),
        html_escape(resident),
        t("社区（可选）", "Community (optional)"),
        html_escape(community),
        t("天数", "Days"),
        t("查询", "Search")
    );
    let tr = match run_trace(&s, &q) {
        Err(WebError::BadRequest(_)) => {
            let _ = write!(
                b,
                "<p class=error role=alert>{}</p></main>",
                t(
                    "居民号只能是数字，如 10000017（见门岗记录或通行证）。",
                    "The resident number is digits only, e.g. 10000017 (as on the gate's records or the pass)."
                )
            );
            return Ok(Html(page(en, t("病例轨迹 · 区县出入数据", "Trace a case · District gate data"), &b)));
        }
        r => r?,
    };
    let Some(tr) = tr else {
        let _ = write!(
            b,
            "<p class=note>{}</p></main>",
            t(
                "输入居民号，查看此人在所选天数内每次通过哪个门岗，以及前后时段内还有谁通过同一门岗。",
                "Enter a resident number to see every gate crossing in the chosen days, and who else crossed the same gate around each one."
            )
        );
        return Ok(Html(page(en, t("病例轨迹 · 区县出入数据", "Trace a case · District gate data"), &b)));
    };
    if let Some(m) = q.marked.as_deref().filter(|m| m.chars().all(|c| c.is_ascii_digit()) && !m.is_empty()) {
        let _ = write!(
            b,
            "<p class=note role=status>{}</p>",
            if en {
                format!("Resident {m} is marked close contact: every gate of the community keeps them in from its next contact (see `district directives`).")
            } else {
                format!("已将居民号 {m} 标记为密切接触：该社区各门岗下次联络时生效（见 `district directives`）。")
            }
        );
    }
    let period = format!("{} – {}", local(&tr.from, tz), local(&tr.until, tz));
    if tr.crossings.is_empty() {
        let _ = write!(
            b,
            "<p class=empty>{}</p></main>",
            if en {
                format!("No crossings of resident {} between {period}.", tr.resident_id)
            } else {
                format!("居民号 {} 在 {period} 之间没有通行记录。", tr.resident_id)
            }
        );
        return Ok(Html(page(en, t("病例轨迹 · 区县出入数据", "Trace a case · District gate data"), &b)));
    }
    let _ = write!(
        b,
        "<p class=summary>{}</p>",
        if en {
            format!(
                "Resident {}, {period}: {} crossings; {} other people crossed the same gate within ±{} minutes.",
                tr.resident_id,
                tr.crossings.len(),
                tr.distinct_contacts,
                tr.window_minutes
            )
        } else {
            format!(
                "居民号 {}，{period}：通行 {} 次；前后 {} 分钟内另有 {} 人通过同一门岗。",
                tr.resident_id,
                tr.crossings.len(),
                tr.window_minutes,
                tr.distinct_contacts
            )
        }
    );
    let _ = write!(
        b,
        "<table><tr><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th class=n>°C</th><th class=n>{}</th></tr>",
        t("时间", "Time"),
        t("门岗", "Gate"),
        t("社区", "Community"),
        t("方向", "Direction"),
        t("结果", "Decision"),
        t("同时段他人", "Others around")
    );
    let fever_c = s.config.district.fever_c;
    for c in &tr.crossings {
        let _ = write!(
            b,
            "<tr><td>{}{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class='n{}'>{}</td><td class=n>{}</td></tr>",
            local(&c.at, tz),
            if c.backfilled { format!("<span class=tag>{}</span>", t("补录", "backfilled")) } else { String::new() },
            html_escape(&c.gate),
            html_escape(&c.community),
            direction_label(c.direction.as_deref(), en),
            decision_label(&c.decision, en),
            if c.temperature_c.is_some_and(|v| v >= fever_c) { " hot" } else { "" },
            c.temperature_c.map(|v| format!("{v:.1}")).unwrap_or_else(|| "—".into()),
            c.contacts.len()
        );
    }
    b.push_str("</table>");
    for c in tr.crossings.iter().filter(|c| !c.contacts.is_empty()) {
        let _ = write!(
            b,
            "<h2>{} {} {} — {}</h2>",
            local(&c.at, tz),
            html_escape(&c.gate),
            direction_label(c.direction.as_deref(), en),
            if en {
                format!("who else crossed within ±{} minutes", tr.window_minutes)
            } else {
                format!("前后 {} 分钟内通过的人", tr.window_minutes)
            }
        );
        let _ = write!(
            b,
            "<table><tr><th>{}</th><th class=n>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th></th></tr>",
            t("时间", "Time"),
            t("相差分钟", "Minutes apart"),
            t("居民号", "Resident"),
            t("户号", "Household"),
            t("方向", "Direction"),
            t("结果", "Decision")
        );
        for k in &c.contacts {
            let person = match k.resident_id {
                Some(id) => format!(
                    "<a href='/trace?resident={id}&community={}&lang={l}'>{}</a>",
                    url_encode(&c.community),
                    who(Some(id), k.resident_name.as_deref(), en)
                ),
                None => who(None, None, en),
            };
            // a contact can be kept in at the gates of its community (issue 13)
            let mark = match k.resident_id {
                Some(id) => format!(
                    "<form method=post action=/trace/mark><input type=hidden name=community value='{}'>\
                     <input type=hidden name=resident value={id}><input type=hidden name=case value='{}'>\
                     <input type=hidden name=days value={}><input type=hidden name=lang value={l}>\
                     <input type=date name=until aria-label='{}'><button>{}</button></form>",
                    html_escape(&c.community),
                    tr.resident_id,
                    days,
                    t("隔离至（可选）", "Keep in until (optional)"),
                    t("标记密接", "Mark close contact")
                ),
                None => String::new(),
            };
            let _ = write!(
                b,
                "<tr><td>{}</td><td class=n>{:+.1}</td><td>{person}</td><td>{}</td><td>{}</td><td>{}</td><td>{mark}</td></tr>",
                local(&k.at, tz),
                k.minutes_apart,
                html_escape(k.household.as_deref().unwrap_or("")),
                direction_label(k.direction.as_deref(), en),
                decision_label(&k.decision, en)
            );
        }
        b.push_str("</table>");
    }
    b.push_str("</main>");
    Ok(Html(page(en, t("病例轨迹 · 区县出入数据", "Trace a case · District gate data"), &b)))
}

#[derive(Debug, Deserialize)]
pub(super) struct MarkForm {
    community: String,
    resident: String,
    /// The case whose trace the button was on: the page returns there.
    case: Option<String>,
    days: Option<u32>,
    lang: Option<String>,
    until: Option<String>,
}

/// The trace page's button: `district mark` for a contact, signed with the
/// district key, recorded under the logged-in clerk (issue 13).
pub(super) async fn mark(
    PageUser(user): PageUser,
    State(s): State<Shared>,
    Form(f): Form<MarkForm>,
) -> Result<Response, WebError> {
    let id: crate::domain::ResidentId =
        f.resident.trim().parse().map_err(|_| WebError::BadRequest("resident must be a number".into()))?;
    let until = match f.until.as_deref().map(str::trim).filter(|u| !u.is_empty()) {
        None => None,
        Some(u) => Some(
            chrono::NaiveDate::parse_from_str(u, "%Y-%m-%d")
                .map_err(|_| WebError::BadRequest(format!("until '{u}' must be a date, e.g. 2026-12-14")))?,
        ),
    };
    let now = crate::clock::now_text(Utc::now());
    super::super::directives::mark(
        &*lock(&s)?,
        &f.community,
        id,
        crate::domain::Category::CloseContact,
        until,
        &format!("page:{user}"),
        &now,
    )?;
    let case: String = f.case.unwrap_or_default().chars().filter(char::is_ascii_digit).take(12).collect();
    let lang = if f.lang.as_deref() == Some("en") { "en" } else { "zh" };
    Ok(Redirect::to(&format!(
        "/trace?resident={case}&community={}&days={}&lang={lang}&marked={id}",
        url_encode(&f.community),
        f.days.unwrap_or(14).min(366)
    ))
    .into_response())
}
