//! Books that open in Excel (issue 12): one sheet, a bold frozen header
//! row, text written as text (never a formula: a name such as "=1+1" from
//! the register stays a name), numbers as numbers.

use rust_xlsxwriter::{Format, Workbook};

#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    Text(String),
    Number(f64),
    Empty,
}

impl From<&str> for Cell {
    fn from(s: &str) -> Cell {
        Cell::Text(s.to_string())
    }
}
impl From<String> for Cell {
    fn from(s: String) -> Cell {
        Cell::Text(s)
    }
}
impl From<Option<f64>> for Cell {
    fn from(v: Option<f64>) -> Cell {
        v.map(Cell::Number).unwrap_or(Cell::Empty)
    }
}
impl From<Option<String>> for Cell {
    fn from(v: Option<String>) -> Cell {
        v.map(Cell::Text).unwrap_or(Cell::Empty)
    }
}

#[derive(Debug, thiserror::Error)]
#[error("cannot write the spreadsheet: {0}")]
pub struct XlsxError(String);

/// A workbook of one sheet as bytes.
pub fn book(sheet: &str, headers: &[&str], rows: &[Vec<Cell>]) -> Result<Vec<u8>, XlsxError> {
    let e = |x: rust_xlsxwriter::XlsxError| XlsxError(x.to_string());
    let mut wb = Workbook::new();
    let ws = wb.add_worksheet();
    ws.set_name(sheet).map_err(e)?;
    let bold = Format::new().set_bold();
    let mut widths: Vec<usize> = headers.iter().map(|h| display_width(h)).collect();
    for (c, h) in headers.iter().enumerate() {
        ws.write_string_with_format(0, col(c), *h, &bold).map_err(e)?;
    }
    for (r, row) in rows.iter().enumerate() {
        let r = u32::try_from(r + 1).map_err(|_| XlsxError("too many rows".into()))?;
        for (c, cell) in row.iter().enumerate() {
            let w = match cell {
                Cell::Text(t) => {
                    ws.write_string(r, col(c), t).map_err(e)?;
                    display_width(t)
                }
                Cell::Number(n) => {
                    ws.write_number(r, col(c), *n).map_err(e)?;
                    6
                }
                Cell::Empty => 0,
            };
            if let Some(m) = widths.get_mut(c) {
                *m = (*m).max(w);
            }
        }
    }
    for (c, w) in widths.iter().enumerate() {
        ws.set_column_width(col(c), (*w as f64 + 2.0).min(60.0)).map_err(e)?;
    }
    ws.set_freeze_panes(1, 0).map_err(e)?;
    wb.save_to_buffer().map_err(e)
}

fn col(c: usize) -> u16 {
    u16::try_from(c).unwrap_or(u16::MAX)
}

/// Columns wide enough for Chinese text (two units a character).
fn display_width(s: &str) -> usize {
    s.chars().map(|c| if c.is_ascii() { 1 } else { 2 }).sum()
}
