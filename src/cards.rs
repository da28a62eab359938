//! Printing passes: a QR PNG per pass, `passes.csv` for scripts, and an A4
//! sheet of cards (`index.html`) in Chinese with the holder's name for the
//! guard to compare. The QR holds only the signed token, never the name.

use crate::domain::slots::Slot;
use crate::store::{PassRow, ResidentView};
use image::{ImageBuffer, Luma};
use qrcode::{EcLevel, QrCode};
use std::io::Write;
use std::path::Path;

#[derive(Debug, thiserror::Error)]
pub enum CardError {
    #[error("cannot encode the QR code: {0}")]
    Qr(String),
    #[error("cannot write {path}: {source}")]
    Write { path: String, source: std::io::Error },
}

/// Renders a payload as a PNG: error correction Q (a scratched or folded
/// card still scans) and the standard 4-module quiet zone.
pub fn qr_png(payload: &str, module_px: u32) -> Result<Vec<u8>, CardError> {
    let code = QrCode::with_error_correction_level(payload.as_bytes(), EcLevel::Q)
        .map_err(|e| CardError::Qr(e.to_string()))?;
    let img: ImageBuffer<Luma<u8>, Vec<u8>> =
        code.render::<Luma<u8>>().module_dimensions(module_px, module_px).quiet_zone(true).build();
    let mut out = Vec::new();
    image::DynamicImage::ImageLuma8(img)
        .write_to(&mut std::io::Cursor::new(&mut out), image::ImageFormat::Png)
        .map_err(|e| CardError::Qr(e.to_string()))?;
    Ok(out)
}

/// HTML escaping, from the web kit.
pub use crate::web::html_escape as escape;

/// What a card shows besides the name and dates.
#[derive(Debug, Clone, Default)]
pub struct SheetOptions {
    /// `[cards] show_address`: the full address (off: household code and
    /// building only, so a lost card says less about where someone lives).
    pub show_address: bool,
    /// `[[policy.slots]]`: each card shows its household's slot.
    pub slots: Vec<Slot>,
}

impl SheetOptions {
    pub fn from_config(config: &crate::config::Config, policy: &crate::domain::Policy) -> SheetOptions {
        SheetOptions { show_address: config.cards.show_address, slots: policy.slots.clone() }
    }
}

/// A category in Chinese, for printed and exported books.
pub fn category_zh(c: crate::domain::Category) -> &'static str {
    use crate::domain::Category as C;
    match c {
        C::Normal => "正常",
        C::HomeQuarantine => "居家隔离",
        C::Isolated => "集中隔离",
        C::Confirmed => "确诊",
        C::Suspected => "疑似",
        C::Fever => "发热",
        C::CloseContact => "密切接触",
        C::Essential => "保障人员",
    }
}

/// The building part of a household code (`3-101` → `3`), if it has one.
fn building(code: &str) -> Option<&str> {
    code.split_once(['-', '—', '－']).map(|(b, _)| b.trim()).filter(|b| !b.is_empty())
}

/// A slot in Chinese, as printed on a card.
fn slot_zh(slot: &Slot) -> String {
    let days = slot.days.to_string();
    let days = match days.as_str() {
        "odd" => "单日".to_string(),
        "even" => "双日".to_string(),
        list => list
            .split(',')
            .map(|d| match d {
                "mon" => "一",
                "tue" => "二",
                "wed" => "三",
                "thu" => "四",
                "fri" => "五",
                "sat" => "六",
                _ => "日",
            })
            .collect::<Vec<_>>()
            .join("、"),
    };
    let days = if days.starts_with(['单', '双']) { days } else { format!("周{days}") };
    format!("{days} {}", slot.hours)
}

/// The printable sheet. `img_src` gives each card's image URL (a file name
/// for the folder, a data: URI for the page served by the daemon).
pub fn sheet_html(
    community: &str,
    passes: &[(PassRow, ResidentView)],
    opts: &SheetOptions,
    img_src: impl Fn(&PassRow) -> String,
) -> String {
    let mut h = String::with_capacity(2048 + passes.len() * 900);
    h.push_str(&format!(
        r#"<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8"><title>{c} 出入证</title>
<style>
@page {{ size: A4; margin: 0; }}
body {{ font-family: "Noto Sans CJK SC", "WenQuanYi Micro Hei", "Microsoft YaHei", sans-serif; margin: 0; }}
@media print {{ .sheet {{ padding: 10mm 0; }} }}
.sheet {{ display: grid; grid-template-columns: repeat(2, 90mm); gap: 4mm 6mm; justify-content: center; }}
.card {{ width: 90mm; height: 55mm; border: 0.3mm dashed #888; box-sizing: border-box; padding: 3mm; display: flex; gap: 3mm; break-inside: avoid; page-break-inside: avoid; }}
.card img {{ width: 42mm; height: 42mm; image-rendering: pixelated; }}
.info {{ display: flex; flex-direction: column; font-size: 3.2mm; line-height: 1.35; min-width: 0; }}
.title {{ font-weight: bold; font-size: 3.8mm; border-bottom: 0.3mm solid #c00; color: #c00; margin-bottom: 1mm; display: flex; white-space: nowrap; }}
.title .c {{ overflow: hidden; text-overflow: ellipsis; min-width: 0; font-size: 3mm; align-self: flex-end; margin-left: 1.5mm; }}
.title b {{ flex: none; }}
.hh {{ white-space: nowrap; }}
.name {{ font-size: 6mm; font-weight: bold; }}
.no {{ font-family: monospace; font-size: 3.4mm; margin-top: auto; }}
.hint {{ font-size: 2.6mm; color: #555; }}
@media screen {{ body {{ background: #eee; }} .sheet {{ padding: 10mm 0; }} .card {{ background: #fff; }} }}
</style></head><body><div class="sheet">
"#,
        c = escape(community)
    ));
    for (p, r) in passes {
        let place = if opts.show_address {
            format!("<div>{}</div>", escape(&r.address))
        } else {
            building(&r.household).map(|b| format!("<div>{} 号楼</div>", escape(b))).unwrap_or_default()
        };
        let slot = crate::domain::slots::slot_for(&opts.slots, &r.grid, &r.household)
            .map(|s| format!("<div class=\"hh\">错峰 {}</div>", escape(&slot_zh(s))))
            .unwrap_or_default();
        h.push_str(&format!(
            r#"<div class="card"><img src="{src}" alt="QR {no}"><div class="info"><div class="title"><b>出入证</b><span class="c">{c}</span></div><div class="name">{name}</div><div class="hh">户号 {hh}</div>{place}{slot}<div>有效期 {from} 至 {until}</div><div class="no">证号 {no}</div><div class="hint">一人一证 · 遗失请告知社区</div></div></div>
"#,
            src = escape(&img_src(p)),
            no = p.pass_id,
            c = escape(community),
            name = escape(&r.name),
            hh = escape(&r.household),
            from = p.valid_from,
            until = p.valid_until,
        ));
    }
    h.push_str("</div></body></html>\n");
    h
}

/// Writes `<pass_id>.png` for each pass, `passes.csv` and `index.html`.
pub fn write_folder(
    dir: &Path,
    community: &str,
    passes: &[(PassRow, ResidentView)],
    opts: &SheetOptions,
) -> Result<(), CardError> {
    let werr = |path: &Path| {
        let path = path.display().to_string();
        move |source| CardError::Write { path, source }
    };
    std::fs::create_dir_all(dir).map_err(werr(dir))?;
    // PNG encoding is the slow part: spread it over the cores
    let threads = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1).clamp(1, 8);
    let chunk = passes.len().div_ceil(threads).max(1);
    std::thread::scope(|s| {
        let workers: Vec<_> = passes
            .chunks(chunk)
            .map(|part| {
                s.spawn(move || -> Result<(), CardError> {
                    for (p, _) in part {
                        let png = qr_png(&p.payload, 8)?;
                        let path = dir.join(format!("{}.png", p.pass_id));
                        std::fs::write(&path, png)
                            .map_err(|source| CardError::Write { path: path.display().to_string(), source })?;
                    }
                    Ok(())
                })
            })
            .collect();
        workers
            .into_iter()
            .try_for_each(|w| w.join().unwrap_or_else(|_| Err(CardError::Qr("a renderer thread failed".into()))))
    })?;
    let csv_path = dir.join("passes.csv");
    // names and households are whatever the register said: formula cells
    // are neutralised (see csv_cell)
    let mut csv = crate::csv_cell::writer();
    let _ = crate::csv_cell::write_row(&mut csv, ["pass_id", "household", "name", "payload"]);
    for (p, r) in passes {
        let _ =
            crate::csv_cell::write_row(&mut csv, [p.pass_id.to_string().as_str(), &r.household, &r.name, &p.payload]);
    }
    let bytes = csv
        .into_inner()
        .map_err(|e| CardError::Write { path: csv_path.display().to_string(), source: e.into_error() })?;
    let mut f = std::fs::File::create(&csv_path).map_err(werr(&csv_path))?;
    f.write_all(&bytes).map_err(werr(&csv_path))?;
    let html_path = dir.join("index.html");
    std::fs::write(&html_path, sheet_html(community, passes, opts, |p| format!("{}.png", p.pass_id)))
        .map_err(werr(&html_path))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn qr_decodes_back() {
        let payload = "GP1:6BFOXN*TS0BI$ZDFRH6BFOXN*TS0BI$ZD 1234";
        let png = qr_png(payload, 4).unwrap();
        let img = image::load_from_memory(&png).unwrap().to_luma8();
        let mut prepared = rqrr::PreparedImage::prepare(img);
        let grids = prepared.detect_grids();
        assert_eq!(grids.len(), 1);
        let (_, content) = grids[0].decode().unwrap();
        assert_eq!(content, payload);
    }

    #[test]
    fn card_shows_building_and_slot_not_the_address() {
        use crate::domain::slots::SlotDoc;
        use chrono::NaiveDate;
        let d = NaiveDate::from_ymd_opt(2026, 12, 1).unwrap();
        let p = PassRow {
            pass_id: crate::domain::PassId(12345678),
            resident_id: crate::domain::ResidentId(1),
            key_id: 1,
            valid_from: d,
            valid_until: d,
            payload: "GP1:X".into(),
            issued_at: String::new(),
            revoked_at: None,
            revoke_reason: None,
            revoke_note: None,
            unreadable: vec![],
        };
        let r = ResidentView {
            id: crate::domain::ResidentId(1),
            name: "张三".into(),
            household: "3-101".into(),
            household_id: crate::domain::HouseholdId(1),
            address: "幸福路 8 号 3 栋 101".into(),
            grid: "A".into(),
            phone: None,
            category: crate::domain::Category::Normal,
            category_until: None,
            left: None,
            left_at: None,
            origin: None,
            arrived: None,
            monitor: None,
            category_since: None,
            unreadable: vec![],
        };
        let slot = Slot::parse(&SlotDoc {
            households: vec!["3-*".into()],
            days: "mon,wed".into(),
            hours: "08:00-10:00".into(),
            ..Default::default()
        })
        .unwrap();
        let cards = [(p, r)];
        let opts = SheetOptions { show_address: false, slots: vec![slot] };
        let h = sheet_html("幸福里", &cards, &opts, |_| "x.png".into());
        assert!(h.contains("3 号楼") && !h.contains("幸福路"), "{h}");
        assert!(h.contains("错峰 周一、三 08:00-10:00"), "{h}");
        assert!(h.contains("@page { size: A4; margin: 0; }"));
        assert!(h.contains("<b>出入证</b><span class=\"c\">幸福里</span>"));
        let h =
            sheet_html("幸福里", &cards, &SheetOptions { show_address: true, slots: vec![] }, |_| "x.png".into());
        assert!(h.contains("幸福路 8 号 3 栋 101") && !h.contains("错峰"));
        assert_eq!(building("1-101"), Some("1"));
        assert_eq!(building("101"), None);
    }

    #[test]
    fn escapes_html() {
        assert_eq!(escape("<script>\"&'"), "&lt;script&gt;&quot;&amp;&#39;");
    }
}
