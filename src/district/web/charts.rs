//! Inline SVG charts (the district office may have no internet).

use super::*;

/// A chart series: Chinese label, English label, colour, the figure. The
/// labels are the table's column heads.
pub(super) type Series = (&'static str, &'static str, &'static str, fn(&Counts) -> u64);

pub(super) fn series() -> [Series; 4] {
    [
        ("外出", "Exits", "#2b7bb9", |c| c.exits),
        ("返回", "Entries", "#3a9d5d", |c| c.entries),
        ("拒绝外出", "Denied exits", "#c0392b", |c| c.denied),
        ("发热", "Fever", "#e67e22", |c| c.fever),
    ]
}

/// The y axis of a count chart: a step of 1, 2 or 5 times a power of ten
/// (about four steps) and the axis top, a whole number of steps.
fn y_axis(max: u64) -> (u64, u64) {
    let max = max.max(1);
    let raw = max.div_ceil(4);
    let mut p = 1;
    while p * 10 <= raw {
        p *= 10;
    }
    let step = [p, 2 * p, 5 * p, 10 * p].into_iter().find(|s| *s >= raw).unwrap_or(raw);
    (step, step * max.div_ceil(step))
}

const CHART_TOP: u32 = 42;
const CHART_LEFT: u32 = 40;
const PLOT_H: u32 = 170;

/// Legend, horizontal grid lines and y labels; returns the opening of the
/// svg and the y of a value.
fn chart_frame(w: u32, h: u32, label: &str, en: bool, max: u64) -> (String, impl Fn(u64) -> f64) {
    let (step, top) = y_axis(max);
    let y = move |v: u64| f64::from(CHART_TOP) + f64::from(PLOT_H) * (1.0 - v as f64 / top as f64);
    let mut s =
        format!("<svg width={w} height={h} viewBox='0 0 {w} {h}' role=img aria-label='{}'>", html_escape(label));
    let mut lx = CHART_LEFT;
    for (zh, e, colour, _) in series() {
        let text = if en { e } else { zh };
        let _ =
            write!(s, "<rect x={lx} y=6 width=12 height=12 fill='{colour}'/><text x={} y=16>{text}</text>", lx + 16);
        lx += 24 + 13 * text.chars().map(|c| if c.is_ascii() { 1 } else { 2 }).sum::<u32>() / 2 + 16;
    }
    let mut v = 0;
    while v <= top {
        let _ = write!(
            s,
            "<line class=grid x1={CHART_LEFT} x2={} y1='{y:.1}' y2='{y:.1}'/><text x={} y={:.1} text-anchor=end>{v}</text>",
            w - 8,
            CHART_LEFT - 6,
            y(v) + 4.0,
            y = y(v)
        );
        v += step;
    }
    let _ = write!(s, "<line class=axis x1={CHART_LEFT} x2={} y1='{b}' y2='{b}'/>", w - 8, b = CHART_TOP + PLOT_H);
    (s, y)
}

/// Grouped bars per gate, in the table's columns and order.
pub(super) fn bars_svg(r: &report::DailyReport, en: bool) -> String {
    const BAR: u32 = 20;
    const GROUP: u32 = 4 * BAR + 40;
    let max = r.gates.iter().flat_map(|g| series().map(|s| (s.3)(&g.counts))).max().unwrap_or(0);
    let w = (CHART_LEFT + 8 + r.gates.len() as u32 * GROUP).max(400);
    let h = CHART_TOP + PLOT_H + 40;
    let (mut s, y) = chart_frame(w, h, if en { "daily figures per gate" } else { "各门岗当日数据" }, en, max);
    for (gi, g) in r.gates.iter().enumerate() {
        let x0 = CHART_LEFT + 20 + gi as u32 * GROUP;
        for (si, (zh, e, colour, f)) in series().iter().enumerate() {
            let v = f(&g.counts);
            let x = x0 + si as u32 * BAR;
            let top = y(v);
            let _ = write!(
                s,
                "<rect x={x} y={top:.1} width={} height={:.1} fill='{colour}'><title>{} {}: {v}</title></rect>\
                 <text x={} y={:.1} text-anchor=middle>{v}</text>",
                BAR - 2,
                f64::from(CHART_TOP + PLOT_H) - top,
                html_escape(&g.gate),
                if en { *e } else { *zh },
                x + BAR / 2 - 1,
                top - 4.0
            );
        }
        let mid = x0 + 2 * BAR;
        let _ = write!(
            s,
            "<text x={mid} y={} text-anchor=middle>{}</text><text class=sub x={mid} y={} text-anchor=middle>{}</text>",
            CHART_TOP + PLOT_H + 17,
            html_escape(&g.gate),
            CHART_TOP + PLOT_H + 32,
            html_escape(&g.community)
        );
    }
    s.push_str("</svg>");
    s
}

/// The district's daily totals over the last days, one line per figure.
pub(super) fn line_svg(days: &[(chrono::NaiveDate, Counts)], en: bool) -> String {
    let w = 540u32;
    let h = CHART_TOP + PLOT_H + 28;
    let max = days.iter().flat_map(|(_, c)| series().map(|s| (s.3)(c))).max().unwrap_or(0);
    let (mut s, y) = chart_frame(w, h, if en { "daily totals over time" } else { "每日合计走势" }, en, max);
    let n = days.len().max(2) - 1;
    let x = |i: usize| f64::from(CHART_LEFT + 12) + i as f64 * f64::from(w - CHART_LEFT - 32) / n as f64;
    for (i, (d, _)) in days.iter().enumerate() {
        // every other day, counted back from the last so that it is labelled
        if (days.len() - 1 - i) % 2 == 0 {
            let _ = write!(
                s,
                "<text x={:.1} y={} text-anchor=middle>{}</text>",
                x(i),
                CHART_TOP + PLOT_H + 17,
                d.format("%m-%d")
            );
        }
    }
    for (zh, e, colour, f) in series() {
        let pts: Vec<String> =
            days.iter().enumerate().map(|(i, (_, c))| format!("{:.1},{:.1}", x(i), y(f(c)))).collect();
        let _ = write!(s, "<polyline fill=none stroke='{colour}' stroke-width=2 points='{}'/>", pts.join(" "));
        for (i, (d, c)) in days.iter().enumerate() {
            let _ = write!(
                s,
                "<circle cx={:.1} cy={:.1} r=2.5 fill='{colour}'><title>{d} {}: {}</title></circle>",
                x(i),
                y(f(c)),
                if en { e } else { zh },
                f(c)
            );
        }
    }
    s.push_str("</svg>");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chart_axis_steps() {
        assert_eq!(y_axis(0), (1, 1));
        assert_eq!(y_axis(4), (1, 4));
        assert_eq!(y_axis(7), (2, 8));
        assert_eq!(y_axis(37), (10, 40));
        assert_eq!(y_axis(120), (50, 150));
    }
}
