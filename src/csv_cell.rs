//! Every CSV the product writes goes through here, so that it opens safely
//! and cleanly in a spreadsheet.
//!
//! - **Formulas are neutralised.** A cell starting with `=`, `+`, `-`, `@`,
//!   a tab or a carriage return is read by Excel / LibreOffice as a formula
//!   (`=HYPERLINK(...)`, `=cmd|' /C calc'!A0`, `@SUM(...)`): such a cell gets
//!   a leading single quote, as OWASP advises ("CSV injection"). The quote
//!   shows in the cell; the text after it is exactly what was recorded.
//! - **Plain numbers stay numbers.** A cell that is only a number (`-1`,
//!   `+86`, `-3.5`, `+8613800138000`) cannot run anything, so it is left as
//!   it is and still adds up in a sheet. A phone written with spaces or
//!   dashes (`+86 138-0013-8000`) is not a plain number and gets the quote.
//! - **UTF-8 BOM first**, so Excel opens Chinese text as UTF-8 and not as
//!   the system code page. Readers of our own files strip it ([`strip_bom`];
//!   the `csv` crate's reader does too).

use std::borrow::Cow;

/// The UTF-8 byte order mark.
pub const BOM: &str = "\u{feff}";

/// The cell as it is safe to write: prefixed with `'` when a spreadsheet
/// would take it for a formula.
pub fn cell(s: &str) -> Cow<'_, str> {
    let risky = s.starts_with(['=', '+', '-', '@', '\t', '\r']);
    if risky && !is_plain_number(s) {
        Cow::Owned(format!("'{s}"))
    } else {
        Cow::Borrowed(s)
    }
}

/// An optional sign, digits, at most one decimal point with digits after.
fn is_plain_number(s: &str) -> bool {
    let digits = s.strip_prefix(['+', '-']).unwrap_or(s);
    let (int, frac) = match digits.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (digits, None),
    };
    !int.is_empty()
        && int.bytes().all(|b| b.is_ascii_digit())
        && frac.is_none_or(|f| !f.is_empty() && f.bytes().all(|b| b.is_ascii_digit()))
}

/// A CSV writer into memory that has already written the BOM.
pub fn writer() -> csv::Writer<Vec<u8>> {
    csv::Writer::from_writer(BOM.as_bytes().to_vec())
}

/// Writes one row, every cell through [`cell`].
pub fn write_row<W: std::io::Write, S: AsRef<str>>(
    w: &mut csv::Writer<W>,
    row: impl IntoIterator<Item = S>,
) -> csv::Result<()> {
    let cells: Vec<String> = row.into_iter().map(|c| cell(c.as_ref()).into_owned()).collect();
    w.write_record(&cells)
}

/// Text without a leading BOM, for reading a CSV back.
pub fn strip_bom(s: &str) -> &str {
    s.strip_prefix(BOM).unwrap_or(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formulas_get_a_quote_and_numbers_stay() {
        for f in [
            "=HYPERLINK(\"http://evil.example\",\"click\")",
            "=cmd|' /C calc'!A0",
            "@SUM(1+1)*cmd|' /C calc'!A0",
            "+1+cmd|' /C calc'!A0",
            "-2+3",
            "\t=1",
            "\r=1",
            "+86 138-0013-8000",
            "-",
            "+",
            "-1.",
            "--1",
        ] {
            assert_eq!(cell(f), format!("'{f}"), "{f:?}");
        }
        for n in ["-1", "+86", "-3.5", "+8613800138000", "0", "36.5", "张三", "", "1-101", "GP1:ABC-+", "a=b"] {
            assert_eq!(cell(n), n, "{n:?}");
        }
    }

    #[test]
    fn written_with_a_bom_and_read_back_by_the_csv_crate() {
        let mut w = writer();
        write_row(&mut w, ["name", "n"]).unwrap();
        write_row(&mut w, ["=HYPERLINK(\"x\")", "-1"]).unwrap();
        let bytes = w.into_inner().unwrap();
        let text = String::from_utf8(bytes).unwrap();
        assert!(text.starts_with(BOM));
        assert_eq!(strip_bom(&text), "name,n\n\"'=HYPERLINK(\"\"x\"\")\",-1\n");
        let mut r = csv::Reader::from_reader(text.as_bytes());
        assert_eq!(r.headers().unwrap().get(0), Some("name"));
        let row = r.records().next().unwrap().unwrap();
        assert_eq!((row.get(0), row.get(1)), (Some("'=HYPERLINK(\"x\")"), Some("-1")));
    }
}
