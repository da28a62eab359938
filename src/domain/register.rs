//! Reading the committee's register spreadsheet (CSV): one row per resident,
//! English or Chinese headers, UTF-8 with or without BOM. Bad rows are
//! rejected one by one with their line number and why; good rows go on.

use super::category::Category;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegisterRow {
    /// Line number in the file (the header is line 1).
    pub line: u64,
    pub household: String,
    /// None when the file has no such column: leave what the register holds.
    pub address: Option<String>,
    pub grid: Option<String>,
    pub name: String,
    /// None when the file has no phone column; Some("") clears the number.
    pub phone: Option<String>,
    /// None when the file has no category column: leave categories as the
    /// committee last set them.
    pub category: Option<Category>,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Rejection {
    pub line: u64,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegisterError {
    #[error("the file is empty: it needs a header row (household/户号, address/地址, grid/网格, name/姓名, phone/电话, category/类别)")]
    Empty,
    #[error("the header row lacks the column '{0}' (English or Chinese header, e.g. household or 户号)")]
    MissingColumn(&'static str),
    #[error("the header row names '{0}' twice")]
    DuplicateColumn(String),
    #[error("the file is not readable CSV: {0}")]
    Unreadable(String),
}

#[derive(Debug, Default)]
pub struct ParsedRegister {
    pub rows: Vec<RegisterRow>,
    pub rejected: Vec<Rejection>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Col {
    Household,
    Address,
    Grid,
    Name,
    Phone,
    Category,
}

fn column(header: &str) -> Option<Col> {
    let h = header.trim().trim_start_matches('\u{feff}').trim();
    Some(match h.to_ascii_lowercase().as_str() {
        "household" | "户号" => Col::Household,
        "address" | "地址" => Col::Address,
        "grid" | "网格" => Col::Grid,
        "name" | "姓名" => Col::Name,
        "phone" | "电话" => Col::Phone,
        "category" | "类别" => Col::Category,
        _ => return None,
    })
}

const MAX_FIELD: usize = 200;

pub fn parse(bytes: &[u8]) -> Result<ParsedRegister, RegisterError> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    if bytes.iter().all(|b| b.is_ascii_whitespace()) {
        return Err(RegisterError::Empty);
    }
    let mut rdr = csv::ReaderBuilder::new().has_headers(false).flexible(true).trim(csv::Trim::All).from_reader(bytes);
    let mut records = rdr.byte_records();
    let header = match records.next() {
        Some(Ok(h)) => h,
        Some(Err(e)) => return Err(RegisterError::Unreadable(e.to_string())),
        None => return Err(RegisterError::Empty),
    };
    let mut cols: Vec<Option<Col>> = Vec::new();
    for raw in header.iter() {
        let text = String::from_utf8_lossy(raw);
        let c = column(&text);
        if let Some(c) = c {
            if cols.contains(&Some(c)) {
                return Err(RegisterError::DuplicateColumn(text.trim().to_string()));
            }
        }
        cols.push(c);
    }
    let idx = |c: Col| cols.iter().position(|x| *x == Some(c));
    let household = idx(Col::Household).ok_or(RegisterError::MissingColumn("household/户号"))?;
    let name = idx(Col::Name).ok_or(RegisterError::MissingColumn("name/姓名"))?;
    let address = idx(Col::Address);
    let grid = idx(Col::Grid);
    let phone = idx(Col::Phone);
    let category = idx(Col::Category);

    let mut out = ParsedRegister::default();
    let mut seen = std::collections::HashMap::<(String, String), u64>::new();
    for rec in records {
        let rec = match rec {
            Ok(r) => r,
            Err(e) => {
                let line = e.position().map(|p| p.line()).unwrap_or(0);
                out.rejected.push(Rejection { line, reason: format!("unreadable CSV: {e}") });
                continue;
            }
        };
        let line = rec.position().map(|p| p.line()).unwrap_or(0);
        if rec.iter().all(|f| f.is_empty()) {
            continue; // blank line at the end of a spreadsheet export
        }
        let mut fields = Vec::with_capacity(rec.len());
        let mut bad = None;
        for (i, f) in rec.iter().enumerate() {
            match std::str::from_utf8(f) {
                Ok(s) if s.chars().count() > MAX_FIELD => {
                    bad = Some(format!("column {} is longer than {MAX_FIELD} characters", i + 1));
                }
                Ok(s) if s.chars().any(|c| c.is_control()) => {
                    bad = Some(format!("column {} contains control characters", i + 1));
                }
                Ok(s) if super::text::hidden_char(s).is_some() => {
                    let why = super::text::name_problem(s).unwrap_or_default();
                    bad = Some(format!("column {} {why}", i + 1));
                }
                Ok(s) => fields.push(s.to_string()),
                Err(_) => bad = Some(format!("column {} is not UTF-8 (save the file as UTF-8 CSV)", i + 1)),
            }
            if bad.is_some() {
                break;
            }
        }
        if let Some(reason) = bad {
            out.rejected.push(Rejection { line, reason });
            continue;
        }
        let get = |i: Option<usize>| i.and_then(|i| fields.get(i)).cloned().unwrap_or_default();
        let row_household = get(Some(household));
        let row_name = get(Some(name));
        if row_household.is_empty() {
            out.rejected.push(Rejection { line, reason: "missing household (户号)".into() });
            continue;
        }
        if row_name.is_empty() {
            out.rejected.push(Rejection { line, reason: "missing name (姓名)".into() });
            continue;
        }
        let row_category = match category {
            None => None,
            Some(i) => match get(Some(i)).parse::<Category>() {
                Ok(c) => Some(c),
                Err(e) => {
                    out.rejected.push(Rejection { line, reason: e.to_string() });
                    continue;
                }
            },
        };
        let key = (row_household.clone(), row_name.clone());
        if let Some(first) = seen.get(&key) {
            out.rejected.push(Rejection {
                line,
                reason: format!("{} of household {} is already on line {first}", key.1, key.0),
            });
            continue;
        }
        seen.insert(key, line);
        let opt = |i: Option<usize>| i.map(|i| fields.get(i).cloned().unwrap_or_default());
        out.rows.push(RegisterRow {
            line,
            household: row_household,
            address: opt(address),
            grid: opt(grid),
            name: row_name,
            phone: opt(phone),
            category: row_category,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chinese_headers_with_bom() {
        let csv = "\u{feff}户号,地址,网格,姓名,电话,类别\n1-101,一号楼101,A,张三,13800000000,正常\n1-101,一号楼101,A,李四,,居家隔离\n";
        let p = parse(csv.as_bytes()).unwrap();
        assert_eq!(p.rejected, vec![]);
        assert_eq!(p.rows.len(), 2);
        assert_eq!(p.rows[0].name, "张三");
        assert_eq!(p.rows[0].line, 2);
        assert_eq!(p.rows[1].category, Some(Category::HomeQuarantine));
        assert_eq!(p.rows[1].phone.as_deref(), Some(""));
    }

    #[test]
    fn english_headers_any_order_without_category() {
        let csv = "name,household,address,grid\nAlice,2-202,Block 2,B\n";
        let p = parse(csv.as_bytes()).unwrap();
        assert_eq!(p.rows[0].household, "2-202");
        assert_eq!(p.rows[0].category, None);
    }

    #[test]
    fn bad_rows_rejected_with_line_numbers() {
        let csv = "household,address,grid,name,phone,category\n\
                   1-101,a,A,Ann,,normal\n\
                   ,a,A,NoHouse,,normal\n\
                   1-102,a,A,,,normal\n\
                   1-103,a,A,Bob,,zombie\n\
                   1-101,a,A,Ann,,normal\n\
                   1-104,a,A,Cat,,essential\n";
        let p = parse(csv.as_bytes()).unwrap();
        let lines: Vec<u64> = p.rejected.iter().map(|r| r.line).collect();
        assert_eq!(lines, vec![3, 4, 5, 6]);
        assert!(p.rejected[0].reason.contains("household"));
        assert!(p.rejected[1].reason.contains("name"));
        assert!(p.rejected[2].reason.contains("zombie"));
        assert!(p.rejected[3].reason.contains("line 2"));
        assert_eq!(p.rows.iter().map(|r| r.name.as_str()).collect::<Vec<_>>(), vec!["Ann", "Cat"]);
    }

    #[test]
    fn invalid_utf8_row_is_rejected_alone() {
        let mut csv = b"household,name\n1-1,Ann\n1-2,".to_vec();
        csv.extend_from_slice(&[0xff, 0xfe]);
        csv.extend_from_slice(b"\n1-3,Cy\n");
        let p = parse(&csv).unwrap();
        assert_eq!(p.rows.len(), 2);
        assert_eq!(p.rejected.len(), 1);
        assert_eq!(p.rejected[0].line, 3);
    }

    #[test]
    fn header_problems() {
        assert_eq!(parse(b"").unwrap_err(), RegisterError::Empty);
        assert_eq!(
            parse(b"household,address\n1,x\n").unwrap_err(),
            RegisterError::MissingColumn("name/\u{59d3}\u{540d}")
        );
        assert!(matches!(parse(b"name,name,household\n").unwrap_err(), RegisterError::DuplicateColumn(_)));
    }

    #[test]
    fn bidi_and_zero_width_rows_rejected_with_line_numbers() {
        let csv = "household,name,phone\n1-1,Ann,\n1-2,\u{202E}nnA,\n1-3,Bo\u{200B}b,\n2-\u{2066}1,Cy,\n1-4,Di\u{FEFF},\n1-5,Ed,1\u{200F}\n1-6,Fay,\n";
        let p = parse(csv.as_bytes()).unwrap();
        assert_eq!(p.rows.iter().map(|r| r.name.as_str()).collect::<Vec<_>>(), vec!["Ann", "Fay"]);
        let lines: Vec<u64> = p.rejected.iter().map(|r| r.line).collect();
        assert_eq!(lines, vec![3, 4, 5, 6, 7]);
        assert!(
            p.rejected[0].reason.contains("U+202E") && p.rejected[0].reason.contains("column 2"),
            "{:?}",
            p.rejected
        );
        assert!(p.rejected[1].reason.contains("U+200B"));
        assert!(p.rejected[2].reason.contains("U+2066") && p.rejected[2].reason.contains("column 1"));
        assert!(p.rejected[3].reason.contains("U+FEFF"));
        assert!(p.rejected[4].reason.contains("U+200F") && p.rejected[4].reason.contains("column 3"));
    }

    #[test]
    fn crlf_and_quotes() {
        let csv = "household,name,address\r\n\"1-1\",\"Wang, Wu\",\"Blk \"\"A\"\"\"\r\n";
        let p = parse(csv.as_bytes()).unwrap();
        assert_eq!(p.rows[0].name, "Wang, Wu");
        assert_eq!(p.rows[0].address.as_deref(), Some("Blk \"A\""));
        assert_eq!(p.rows[0].grid, None, "no grid column");
    }
}
