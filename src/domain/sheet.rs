//! Turning the bytes of an uploaded table (the committee's register) into
//! numbered rows of text cells, whatever the committee's computer wrote:
//! CSV in UTF-8 (with or without BOM), UTF-16 with BOM ("Unicode text"),
//! GBK or GB18030 (Excel on Chinese Windows), or an `.xlsx` workbook. The
//! format is read from the bytes, never from a file name. No I/O: the whole
//! file is in memory.
//!
//! Line numbers are what the committee sees: the CSV line a record starts
//! on, or the spreadsheet row number in a workbook.

use calamine::{DataRef, Reader, Xlsx};
use std::collections::BTreeMap;
use std::io::Cursor;

/// More data rows than any one community's register; a bound on memory.
pub const MAX_ROWS: usize = 100_000;
/// Columns past this one are ignored (a register has half a dozen).
pub const MAX_COLS: usize = 64;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cell {
    Text(String),
    /// A spreadsheet formula error such as `#N/A`.
    Error(String),
}

impl Cell {
    pub fn text(&self) -> &str {
        match self {
            Cell::Text(s) => s,
            Cell::Error(_) => "",
        }
    }
}

/// What spoilt a whole row before its cells could be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RowFault {
    /// Bytes that are text in no encoding we read.
    NotText,
    /// The CSV reader could not split the record.
    Unreadable(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    pub line: u64,
    pub cells: Vec<Cell>,
    pub fault: Option<RowFault>,
}

/// How the file was read, for messages and tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Format {
    Utf8,
    Utf16,
    Gb18030,
    Xlsx,
}

#[derive(Debug)]
pub struct Table {
    pub format: Format,
    pub rows: Vec<Row>,
}

/// A kind of file that is not a table we read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OtherKind {
    /// Excel 97–2003 `.xls`, WPS `.et`, or another old Office file.
    Xls,
    Ods,
    Docx,
    Pdf,
    Image,
    Zip,
    Binary,
}

impl OtherKind {
    pub fn as_str(self) -> &'static str {
        match self {
            OtherKind::Xls => "xls",
            OtherKind::Ods => "ods",
            OtherKind::Docx => "docx",
            OtherKind::Pdf => "pdf",
            OtherKind::Image => "image",
            OtherKind::Zip => "zip",
            OtherKind::Binary => "binary",
        }
    }

    fn describe(self) -> &'static str {
        match self {
            OtherKind::Xls => "an old Excel .xls (or another Office 97-2003) file",
            OtherKind::Ods => "an OpenDocument spreadsheet (.ods)",
            OtherKind::Docx => "a Word or PowerPoint document",
            OtherKind::Pdf => "a PDF",
            OtherKind::Image => "a picture",
            OtherKind::Zip => "a zip archive that is not an Excel workbook",
            OtherKind::Binary => "not a text file",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SheetError {
    #[error("the file is {}; open it in Excel or WPS and save it as .xlsx or as \"CSV UTF-8\"", .0.describe())]
    Unsupported(OtherKind),
    #[error("the .xlsx file is damaged or incomplete (perhaps cut off while copying); open it in Excel or WPS, save it again and import the new file")]
    BrokenXlsx,
    #[error("the workbook has no sheet named '{sheet}' (its sheets: {})", .sheets.join(", "))]
    NoSuchSheet { sheet: String, sheets: Vec<String> },
    #[error("the workbook has no sheets")]
    NoSheets,
    #[error("the file has more than {MAX_ROWS} rows; split it")]
    TooManyRows,
}

/// Reads a table from `bytes`; `sheet` chooses a workbook's sheet (by name,
/// the first one when None; ignored for CSV).
pub fn read(bytes: &[u8], sheet: Option<&str>) -> Result<Table, SheetError> {
    if let Some(kind) = sniff_other(bytes) {
        return Err(SheetError::Unsupported(kind));
    }
    if bytes.starts_with(b"PK\x03\x04") || bytes.starts_with(b"PK\x05\x06") {
        return read_xlsx(bytes, sheet);
    }
    read_csv(bytes)
}

/// Formats we recognise by their first bytes and do not read.
fn sniff_other(b: &[u8]) -> Option<OtherKind> {
    const OLE2: &[u8] = &[0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1];
    if b.starts_with(OLE2) {
        return Some(OtherKind::Xls);
    }
    if b.starts_with(b"%PDF") {
        return Some(OtherKind::Pdf);
    }
    let image = b.starts_with(b"\x89PNG")
        || b.starts_with(&[0xFF, 0xD8, 0xFF])
        || b.starts_with(b"GIF8")
        || (b.starts_with(b"RIFF") && b.get(8..12) == Some(b"WEBP"))
        || (b.get(4..8) == Some(b"ftyp") && matches!(b.get(8..12), Some(b"heic" | b"heix" | b"mif1" | b"avif")))
        || b.starts_with(b"II*\0")
        || b.starts_with(b"MM\0*");
    if image {
        return Some(OtherKind::Image);
    }
    if b.starts_with(b"PK\x03\x04") {
        // Office files name their parts in the local headers; a workbook has
        // xl/, Word word/, PowerPoint ppt/, OpenDocument a mimetype first.
        let head = b.get(..64 * 1024).unwrap_or(b);
        if contains(head, b"application/vnd.oasis.opendocument.spreadsheet") {
            return Some(OtherKind::Ods);
        }
        if contains(head, b"xl/") {
            return None;
        }
        if contains(head, b"word/") || contains(head, b"ppt/") || contains(head, b"opendocument") {
            return Some(OtherKind::Docx);
        }
        return Some(OtherKind::Zip);
    }
    if b.starts_with(&[0xFF, 0xFE]) || b.starts_with(&[0xFE, 0xFF]) {
        return None; // UTF-16 text has NULs
    }
    if b.get(..8192).unwrap_or(b).contains(&0) {
        return Some(OtherKind::Binary);
    }
    None
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

// ---- CSV -----------------------------------------------------------------

/// Decodes the text: a BOM decides; else UTF-8 if the bytes are UTF-8; else
/// GB18030 (a superset of GBK, which is what Excel on Chinese Windows
/// writes) if they are that; else whichever of the two reads with fewer
/// faults, and the rows with faults are rejected one by one.
fn decode(bytes: &[u8]) -> (Format, String) {
    if let Some(rest) = bytes.strip_prefix(b"\xEF\xBB\xBF") {
        return (Format::Utf8, encoding_rs::UTF_8.decode_without_bom_handling(rest).0.into_owned());
    }
    if let Some(rest) = bytes.strip_prefix(&[0xFF, 0xFE]) {
        return (Format::Utf16, encoding_rs::UTF_16LE.decode_without_bom_handling(rest).0.into_owned());
    }
    if let Some(rest) = bytes.strip_prefix(&[0xFE, 0xFF]) {
        return (Format::Utf16, encoding_rs::UTF_16BE.decode_without_bom_handling(rest).0.into_owned());
    }
    if let Ok(s) = std::str::from_utf8(bytes) {
        return (Format::Utf8, s.to_string());
    }
    let (gb, gb_bad) = encoding_rs::GB18030.decode_without_bom_handling(bytes);
    if !gb_bad {
        return (Format::Gb18030, gb.into_owned());
    }
    let utf8 = String::from_utf8_lossy(bytes);
    let faults = |s: &str| s.chars().filter(|&c| c == char::REPLACEMENT_CHARACTER).count();
    if faults(&utf8) <= faults(&gb) {
        (Format::Utf8, utf8.into_owned())
    } else {
        (Format::Gb18030, gb.into_owned())
    }
}

/// Excel writes `;` or tabs in some settings ("Unicode text" is always
/// tab-separated): the separator that the first lines use most, comma on a tie.
fn delimiter(text: &str) -> u8 {
    let head: String = text.lines().take(5).collect::<Vec<_>>().join("\n");
    let count = |c: char| head.chars().filter(|&x| x == c).count();
    let (commas, tabs, semis) = (count(','), count('\t'), count(';'));
    if tabs > commas && tabs >= semis {
        b'\t'
    } else if semis > commas && semis > tabs {
        b';'
    } else {
        b','
    }
}

fn read_csv(bytes: &[u8]) -> Result<Table, SheetError> {
    let (format, text) = decode(bytes);
    // The csv crate numbers the record after a CRLF one line short; Excel
    // writes CRLF, and the committee needs the real line numbers.
    let text = if text.contains('\r') { text.replace("\r\n", "\n") } else { text };
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .trim(csv::Trim::All)
        .delimiter(delimiter(&text))
        .from_reader(text.as_bytes());
    let mut rows = Vec::new();
    for rec in rdr.records() {
        if rows.len() > MAX_ROWS {
            return Err(SheetError::TooManyRows);
        }
        match rec {
            Ok(r) => {
                let line = r.position().map(|p| p.line()).unwrap_or(0);
                if r.iter().all(str::is_empty) {
                    continue; // blank line, often at the end of an export
                }
                let fault = r.iter().any(|f| f.contains(char::REPLACEMENT_CHARACTER)).then_some(RowFault::NotText);
                let cells = r.iter().take(MAX_COLS).map(|f| Cell::Text(f.to_string())).collect();
                rows.push(Row { line, cells, fault });
            }
            Err(e) => {
                let line = e.position().map(|p| p.line()).unwrap_or(0);
                rows.push(Row { line, cells: vec![], fault: Some(RowFault::Unreadable(e.to_string())) });
            }
        }
    }
    Ok(Table { format, rows })
}

// ---- xlsx ----------------------------------------------------------------

fn read_xlsx(bytes: &[u8], sheet: Option<&str>) -> Result<Table, SheetError> {
    let mut wb: Xlsx<_> = Xlsx::new(Cursor::new(bytes)).map_err(|_| SheetError::BrokenXlsx)?;
    let names = wb.sheet_names();
    let name = match sheet.map(str::trim).filter(|s| !s.is_empty()) {
        None => names.first().cloned().ok_or(SheetError::NoSheets)?,
        Some(want) => names
            .iter()
            .find(|n| n.as_str() == want)
            .or_else(|| names.iter().find(|n| n.trim().to_lowercase() == want.to_lowercase()))
            .cloned()
            .ok_or_else(|| SheetError::NoSuchSheet { sheet: want.to_string(), sheets: names.clone() })?,
    };
    // Cells are streamed, not read into calamine's dense range: a tiny file
    // naming cell XFD1048576 would otherwise ask for billions of cells.
    let mut grid: BTreeMap<u32, BTreeMap<u32, Cell>> = BTreeMap::new();
    {
        let mut cells = wb.worksheet_cells_reader(&name).map_err(|_| SheetError::BrokenXlsx)?;
        while let Some(c) = cells.next_cell().map_err(|_| SheetError::BrokenXlsx)? {
            let (r, col) = c.get_position();
            if col as usize >= MAX_COLS {
                continue;
            }
            let Some(cell) = cell_text(c.get_value()) else { continue };
            let row = grid.entry(r).or_default();
            row.insert(col, cell);
            if grid.len() > MAX_ROWS {
                return Err(SheetError::TooManyRows);
            }
        }
    }
    // A merged block shows its value in every row it spans, so that is what
    // each of its cells holds here (calamine gives only the top-left one).
    if let Some(merges) = wb.worksheet_merge_cells(&name) {
        let merges = merges.map_err(|_| SheetError::BrokenXlsx)?;
        let last_row = grid.keys().next_back().copied().unwrap_or(0);
        for m in merges.iter().take(MAX_ROWS) {
            let Some(value) = grid.get(&m.start.0).and_then(|r| r.get(&m.start.1)).cloned() else { continue };
            for r in m.start.0..=m.end.0.min(last_row) {
                for col in m.start.1..=m.end.1.min(MAX_COLS as u32 - 1) {
                    if (r, col) != m.start {
                        grid.entry(r).or_default().insert(col, value.clone());
                    }
                }
            }
        }
    }
    let rows = grid
        .into_iter()
        .filter(|(_, cells)| cells.values().any(|c| !c.text().is_empty() || matches!(c, Cell::Error(_))))
        .map(|(r, cells)| {
            let width = cells.keys().next_back().map(|c| *c as usize + 1).unwrap_or(0);
            let mut v = vec![Cell::Text(String::new()); width];
            for (c, cell) in cells {
                // width is one past the largest column, so every slot exists
                if let Some(slot) = v.get_mut(c as usize) {
                    *slot = cell;
                }
            }
            Row { line: u64::from(r) + 1, cells: v, fault: None }
        })
        .collect();
    Ok(Table { format: Format::Xlsx, rows })
}

/// A cell as the committee reads it on screen: numbers without a trailing
/// ".0" or an exponent (household 101, a phone typed as a number), dates as
/// YYYY-MM-DD. None for an empty cell.
fn cell_text(v: &DataRef<'_>) -> Option<Cell> {
    use calamine::DataType;
    Some(Cell::Text(match v {
        DataRef::Empty => return None,
        DataRef::String(s) => s.trim().to_string(),
        DataRef::SharedString(s) => s.trim().to_string(),
        DataRef::Int(i) => i.to_string(),
        DataRef::Float(f) => number_text(*f),
        DataRef::Bool(b) => if *b { "TRUE" } else { "FALSE" }.to_string(),
        DataRef::DateTime(d) => match v.as_date() {
            Some(date) if d.is_datetime() => date.format("%Y-%m-%d").to_string(),
            _ => number_text(d.as_f64()),
        },
        DataRef::DateTimeIso(s) | DataRef::DurationIso(s) => s.clone(),
        DataRef::Error(e) => return Some(Cell::Error(e.to_string())),
    }))
}

pub fn number_text(f: f64) -> String {
    if f.is_finite() && f.fract() == 0.0 && f.abs() < 1e17 {
        format!("{}", f as i64)
    } else {
        // Display never uses an exponent
        format!("{f}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(t: &Table) -> Vec<(u64, Vec<String>)> {
        t.rows.iter().map(|r| (r.line, r.cells.iter().map(|c| c.text().to_string()).collect())).collect()
    }

    #[test]
    fn encodings_are_read_from_the_bytes() {
        let text = "户号,姓名\n1-101,王䶮\n";
        let utf8 = read(text.as_bytes(), None).unwrap();
        assert_eq!(utf8.format, Format::Utf8);
        let mut bom = b"\xEF\xBB\xBF".to_vec();
        bom.extend_from_slice(text.as_bytes());
        let gb = encoding_rs::GB18030.encode(text).0.into_owned();
        let gbk_text = "户号,姓名\n1-101,张三\n";
        let gbk = encoding_rs::GBK.encode(gbk_text).0.into_owned();
        let mut utf16 = vec![0xFF, 0xFE];
        for u in "户号\t姓名\r\n1-101\t王䶮\r\n".encode_utf16() {
            utf16.extend_from_slice(&u.to_le_bytes());
        }
        for (bytes, format) in [(bom, Format::Utf8), (gb, Format::Gb18030), (utf16, Format::Utf16)] {
            let t = read(&bytes, None).unwrap();
            assert_eq!(t.format, format);
            assert_eq!(texts(&t), texts(&utf8), "{format:?}");
        }
        let t = read(&gbk, None).unwrap();
        assert_eq!(t.format, Format::Gb18030);
        assert_eq!(texts(&t)[1].1, vec!["1-101", "张三"]);
    }

    #[test]
    fn a_bad_row_in_a_utf8_file_is_marked_alone() {
        let mut csv = "户号,姓名\n1-1,张三\n1-2,".as_bytes().to_vec();
        csv.extend_from_slice(&[0xff, 0xfe, b'\n']);
        csv.extend_from_slice("1-3,李四\n".as_bytes());
        let t = read(&csv, None).unwrap();
        let faults: Vec<_> = t.rows.iter().map(|r| r.fault.is_some()).collect();
        assert_eq!(faults, vec![false, false, true, false]);
    }

    #[test]
    fn semicolons_and_tabs() {
        let t = read("household;name\n1;Ann\n".as_bytes(), None).unwrap();
        assert_eq!(texts(&t)[1].1, vec!["1", "Ann"]);
        let t = read("household\tname\n1\tAnn, Jr\n".as_bytes(), None).unwrap();
        assert_eq!(texts(&t)[1].1, vec!["1", "Ann, Jr"]);
    }

    #[test]
    fn other_files_are_named() {
        let cases: [(&[u8], OtherKind); 6] = [
            (&[0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1, 0, 0], OtherKind::Xls),
            (b"%PDF-1.7\n...", OtherKind::Pdf),
            (b"\x89PNG\r\n\x1a\n\0\0", OtherKind::Image),
            (&[0xFF, 0xD8, 0xFF, 0xE0, 0, 0x10], OtherKind::Image),
            (b"PK\x03\x04\x14\0\0\0word/document.xml", OtherKind::Docx),
            (b"ELF\x7f\0\0\0\x01", OtherKind::Binary),
        ];
        for (bytes, kind) in cases {
            let e = read(bytes, None).unwrap_err();
            assert_eq!(e, SheetError::Unsupported(kind));
            assert!(e.to_string().contains("save it as .xlsx or as \"CSV UTF-8\""), "{e}");
        }
    }

    #[test]
    fn numbers_read_as_shown() {
        assert_eq!(number_text(101.0), "101");
        assert_eq!(number_text(13800001234.0), "13800001234");
        assert_eq!(number_text(1.5), "1.5");
        assert_eq!(number_text(-3.0), "-3");
    }

    fn workbook(fill: impl FnOnce(&mut rust_xlsxwriter::Worksheet)) -> Vec<u8> {
        let mut wb = rust_xlsxwriter::Workbook::new();
        fill(wb.add_worksheet());
        wb.save_to_buffer().unwrap()
    }

    #[test]
    fn xlsx_cells_as_shown_with_spreadsheet_row_numbers() {
        let bytes = workbook(|ws| {
            ws.write_string(0, 0, "登记表").unwrap();
            ws.write_string(2, 0, "户号").unwrap();
            ws.write_number(3, 0, 101.0).unwrap();
            ws.write_number(3, 1, 13800001234.0).unwrap();
            ws.write_number(3, 2, 2.5).unwrap();
            let date = rust_xlsxwriter::ExcelDateTime::from_ymd(2026, 2, 10).unwrap();
            let f = rust_xlsxwriter::Format::new().set_num_format("yyyy-mm-dd");
            ws.write_datetime_with_format(3, 3, &date, &f).unwrap();
            ws.write_boolean(3, 4, true).unwrap();
        });
        let t = read(&bytes, None).unwrap();
        assert_eq!(t.format, Format::Xlsx);
        assert_eq!(
            texts(&t),
            vec![
                (1, vec!["登记表".to_string()]),
                (3, vec!["户号".to_string()]),
                (4, ["101", "13800001234", "2.5", "2026-02-10", "TRUE"].map(String::from).to_vec()),
            ]
        );
    }

    #[test]
    fn a_far_away_cell_costs_nothing() {
        // calamine's dense range would want 17 billion cells for this
        let bytes = workbook(|ws| {
            ws.write_string(0, 0, "户号").unwrap();
            ws.write_string(1_048_575, 16_383, "x").unwrap();
        });
        let t = read(&bytes, None).unwrap();
        assert_eq!(texts(&t), vec![(1, vec!["户号".to_string()])], "columns past MAX_COLS are ignored");
    }
}
