//! Reading the committee's register: one row per resident, English or
//! Chinese headers, from CSV (UTF-8, GBK, GB18030) or an `.xlsx` sheet (the
//! bytes are turned into rows by [`super::sheet`]). The header is the first
//! of the top rows that names the household and name columns, so title rows
//! above it are skipped. Bad rows are rejected one by one with their line
//! number, a stable code and why; good rows go on.

use super::category::Category;
use super::sheet::{self, Cell, RowFault, SheetError};
use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegisterRow {
    /// Line number in the file (CSV line or spreadsheet row).
    pub line: u64,
    pub household: String,
    /// None when the file has no such column: leave what the register holds.
    pub address: Option<String>,
    pub grid: Option<String>,
    pub name: String,
    /// None when the file has no phone column; Some("") clears the number.
    /// Digits only, with a leading + when the file had one.
    pub phone: Option<String>,
    /// None when the file has no category column: leave categories as the
    /// committee last set them.
    pub category: Option<Category>,
    /// Returnees (issue 12): where from, the arrival date as written, and
    /// the cadre who answers for them (包保人). None: no such column, or an
    /// empty cell (the register keeps what it had).
    pub origin: Option<String>,
    pub arrived: Option<WrittenDate>,
    pub monitor: Option<String>,
}

/// A returnee's arrival and, while it runs, the last day of their home
/// observation (arrived + `observation_days` − 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Returnee {
    pub arrived: chrono::NaiveDate,
    pub observe_until: Option<chrono::NaiveDate>,
}

pub fn returnee(arrived: Option<WrittenDate>, today: chrono::NaiveDate, observation_days: u32) -> Option<Returnee> {
    let arrived = arrived?.resolve(today)?;
    let observe_until = observation_days
        .checked_sub(1)
        .and_then(|n| arrived.checked_add_days(chrono::Days::new(u64::from(n))))
        .filter(|last| *last >= today);
    Some(Returnee { arrived, observe_until })
}

/// A date as a register writes it: a full date, or month and day
/// ("2月10日") whose year the import fills in from today.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WrittenDate {
    Full(chrono::NaiveDate),
    MonthDay(u32, u32),
}

impl WrittenDate {
    /// "2026-02-10", "2026/2/10", "2026.2.10", "2026年2月10日", "2月10日",
    /// "2-10", or an Excel serial day number (46063).
    pub fn parse(s: &str) -> Option<WrittenDate> {
        use chrono::NaiveDate;
        let t = s.trim().trim_end_matches('日').trim_end_matches('号');
        if let Ok(n) = t.parse::<u32>() {
            // Excel's day numbers: 1900-01-00 based, with its 1900 leap-day bug
            if (20_000..=80_000).contains(&n) {
                return NaiveDate::from_ymd_opt(1899, 12, 30)?
                    .checked_add_days(chrono::Days::new(u64::from(n)))
                    .map(WrittenDate::Full);
            }
            return None;
        }
        let parts: Vec<&str> = t.split(['-', '/', '.', '年', '月']).map(str::trim).filter(|p| !p.is_empty()).collect();
        let num = |p: &str| p.parse::<u32>().ok();
        match parts.as_slice() {
            [y, m, d] => {
                let y = i32::try_from(num(y)?).ok()?;
                NaiveDate::from_ymd_opt(y, num(m)?, num(d)?).map(WrittenDate::Full)
            }
            [m, d] => {
                let (m, d) = (num(m)?, num(d)?);
                // any year with a 29 February checks the day exists
                NaiveDate::from_ymd_opt(2024, m, d).map(|_| WrittenDate::MonthDay(m, d))
            }
            _ => None,
        }
    }

    /// The date meant on `today`: a month and day is the latest such day
    /// not after today (this year's, or last year's).
    pub fn resolve(self, today: chrono::NaiveDate) -> Option<chrono::NaiveDate> {
        use chrono::{Datelike, NaiveDate};
        match self {
            WrittenDate::Full(d) => Some(d),
            WrittenDate::MonthDay(m, d) => {
                let this = NaiveDate::from_ymd_opt(today.year(), m, d);
                match this {
                    Some(x) if x <= today => Some(x),
                    _ => NaiveDate::from_ymd_opt(today.year() - 1, m, d),
                }
            }
        }
    }
}

/// Why a row was rejected: a stable code (`code`) and its parameters
/// (`params`) for pages to put into words.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "code", content = "params", rename_all = "snake_case")]
pub enum Problem {
    MissingHousehold {},
    MissingName {},
    UnknownCategory {
        value: String,
    },
    Duplicate {
        household: String,
        name: String,
        first_line: u64,
    },
    TooLong {
        column: &'static str,
        max: usize,
    },
    ControlCharacters {
        column: &'static str,
    },
    /// A bidi override, zero-width or other invisible character: a name
    /// that renders as someone else's, or two names that look the same.
    HiddenCharacter {
        column: &'static str,
        code_point: String,
    },
    CellError {
        column: &'static str,
        value: String,
    },
    BadPhone {
        value: String,
    },
    /// Excel wrote the number as 1.38E+10: the digits are gone.
    PhoneLostDigits {
        value: String,
    },
    NotText {},
    Unreadable {
        detail: String,
    },
    /// A date column (返回日期) holds no date.
    BadDate {
        column: &'static str,
        value: String,
    },
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Problem::MissingHousehold {} => f.write_str(
                "missing household (户号); if the cell was merged in Excel, import the .xlsx or fill in the code on every row",
            ),
            Problem::MissingName {} => f.write_str("missing name (姓名)"),
            Problem::UnknownCategory { value } => {
                write!(f, "{}", crate::domain::category::UnknownCategory(value.clone()))
            }
            Problem::Duplicate { household, name, first_line } => {
                write!(f, "{name} of household {household} is already on line {first_line}")
            }
            Problem::TooLong { column, max } => write!(f, "the {column} is longer than {max} characters"),
            Problem::ControlCharacters { column } => write!(f, "the {column} contains control characters"),
            Problem::HiddenCharacter { column, code_point } => write!(
                f,
                "the {column} contains the invisible or direction-changing character {code_point}; retype it without copying from another document"
            ),
            Problem::CellError { column, value } => write!(f, "the {column} cell holds the spreadsheet error {value}"),
            Problem::BadPhone { value } => {
                write!(f, "phone '{value}' is not a phone number (digits, spaces, dashes, a leading +)")
            }
            Problem::PhoneLostDigits { value } => write!(
                f,
                "phone '{value}' was saved in scientific notation and its digits are lost; format the column as text in Excel"
            ),
            Problem::NotText {} => f.write_str("the row is not readable text (save the file as CSV UTF-8 or .xlsx)"),
            Problem::Unreadable { detail } => write!(f, "unreadable CSV: {detail}"),
            Problem::BadDate { column, value } => {
                write!(f, "the {column} '{value}' is not a date (write 2026-02-10 or 2月10日)")
            }
        }
    }
}

/// A rejected row: `{"line": 6, "code": "missing_name", "params": {}, "reason": "missing name (姓名)"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Rejection {
    pub line: u64,
    #[serde(flatten)]
    pub problem: Problem,
    /// The problem in English, for scripts and the CLI.
    pub reason: String,
}

impl Rejection {
    fn new(line: u64, problem: Problem) -> Rejection {
        Rejection { line, reason: problem.to_string(), problem }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegisterError {
    #[error("the file is empty: it needs a header row (household/户号, address/地址, grid/网格, name/姓名, phone/电话, category/类别)")]
    Empty,
    #[error("no header row: none of the first {HEADER_SEARCH} rows names the columns household/户号 and name/姓名")]
    NoHeader,
    #[error("the header row lacks the column '{}' (English or Chinese header, e.g. household or 户号)", column_label(.0))]
    MissingColumn(&'static str),
    #[error("the header row names '{0}' twice")]
    DuplicateColumn(String),
    #[error(transparent)]
    File(#[from] SheetError),
}

impl RegisterError {
    /// The stable code pages turn into words.
    pub fn code(&self) -> &'static str {
        match self {
            RegisterError::Empty => "empty",
            RegisterError::NoHeader => "no_header",
            RegisterError::MissingColumn(_) => "missing_column",
            RegisterError::DuplicateColumn(_) => "duplicate_column",
            RegisterError::File(SheetError::Unsupported(_)) => "unsupported_file",
            RegisterError::File(SheetError::BrokenXlsx) => "broken_xlsx",
            RegisterError::File(SheetError::NoSuchSheet { .. }) => "no_such_sheet",
            RegisterError::File(SheetError::NoSheets) => "no_sheets",
            RegisterError::File(SheetError::TooManyRows) => "too_many_rows",
        }
    }

    pub fn params(&self) -> serde_json::Value {
        use serde_json::json;
        match self {
            RegisterError::NoHeader => json!({"rows": HEADER_SEARCH}),
            RegisterError::MissingColumn(c) => json!({"column": c}),
            RegisterError::DuplicateColumn(c) => json!({"column": c}),
            RegisterError::File(SheetError::Unsupported(k)) => json!({"kind": k.as_str()}),
            RegisterError::File(SheetError::NoSuchSheet { sheet, sheets }) => {
                json!({"sheet": sheet, "sheets": sheets.join(", ")})
            }
            RegisterError::File(SheetError::TooManyRows) => json!({"max": sheet::MAX_ROWS}),
            _ => json!({}),
        }
    }
}

fn column_label(c: &str) -> &'static str {
    match c {
        "household" => "household/户号",
        "name" => "name/姓名",
        _ => "?",
    }
}

#[derive(Debug, Default)]
pub struct ParsedRegister {
    pub rows: Vec<RegisterRow>,
    pub rejected: Vec<Rejection>,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Col {
    Household,
    Address,
    Grid,
    Name,
    Phone,
    Category,
    Origin,
    Arrived,
    Monitor,
}

impl Col {
    fn key(self) -> &'static str {
        match self {
            Col::Household => "household",
            Col::Address => "address",
            Col::Grid => "grid",
            Col::Name => "name",
            Col::Phone => "phone",
            Col::Category => "category",
            Col::Origin => "origin",
            Col::Arrived => "arrived",
            Col::Monitor => "monitor",
        }
    }
}

fn column(header: &str) -> Option<Col> {
    // "*姓名" and "姓名*" mark required fields in many templates
    let h: String = header.trim_start_matches('\u{feff}').chars().filter(|c| !c.is_whitespace() && *c != '*').collect();
    Some(match h.to_ascii_lowercase().as_str() {
        "household" | "户号" => Col::Household,
        "address" | "地址" => Col::Address,
        "grid" | "网格" => Col::Grid,
        "name" | "姓名" => Col::Name,
        "phone" | "电话" | "手机" | "手机号" | "联系电话" => Col::Phone,
        "category" | "类别" => Col::Category,
        "origin" | "来源地" | "来源" | "从何地返回" => Col::Origin,
        "arrived" | "返回日期" | "返乡日期" | "到达日期" => Col::Arrived,
        "monitor" | "包保人" | "包保干部" => Col::Monitor,
        _ => return None,
    })
}

const MAX_FIELD: usize = 200;
/// The header is looked for among this many first rows (title rows above it).
pub const HEADER_SEARCH: usize = 10;

/// Reads a register file (CSV in any of its encodings, or the first sheet
/// of an `.xlsx`).
pub fn parse(bytes: &[u8]) -> Result<ParsedRegister, RegisterError> {
    parse_file(bytes, None)
}

/// As [`parse`], with a chosen workbook sheet.
pub fn parse_file(bytes: &[u8], sheet_name: Option<&str>) -> Result<ParsedRegister, RegisterError> {
    if bytes.iter().all(|b| b.is_ascii_whitespace()) || bytes == b"\xEF\xBB\xBF" {
        return Err(RegisterError::Empty);
    }
    let table = sheet::read(bytes, sheet_name)?;
    if table.rows.is_empty() {
        return Err(RegisterError::Empty);
    }
    let (header_at, cols) = find_header(&table.rows)?;
    let idx = |c: Col| cols.iter().position(|x| *x == Some(c));
    let (Some(household), Some(name)) = (idx(Col::Household), idx(Col::Name)) else {
        return Err(RegisterError::NoHeader); // find_header only returns rows with both
    };
    let (address, grid, phone, category) = (idx(Col::Address), idx(Col::Grid), idx(Col::Phone), idx(Col::Category));
    let (origin, arrived, monitor) = (idx(Col::Origin), idx(Col::Arrived), idx(Col::Monitor));

    let mut out = ParsedRegister::default();
    let mut seen = std::collections::HashMap::<(String, String), u64>::new();
    for row in table.rows.iter().skip(header_at + 1) {
        let line = row.line;
        match &row.fault {
            Some(RowFault::NotText) => {
                out.rejected.push(Rejection::new(line, Problem::NotText {}));
                continue;
            }
            Some(RowFault::Unreadable(detail)) => {
                out.rejected.push(Rejection::new(line, Problem::Unreadable { detail: detail.clone() }));
                continue;
            }
            None => {}
        }
        // a header repeated further down (printed page by page) is no resident
        if row_is_header(&row.cells, &cols) {
            continue;
        }
        let field = |i: Option<usize>, c: Col| -> Result<Option<String>, Problem> {
            let Some(i) = i else { return Ok(None) };
            match row.cells.get(i) {
                None => Ok(Some(String::new())),
                Some(Cell::Error(e)) => Err(Problem::CellError { column: c.key(), value: e.clone() }),
                Some(Cell::Text(s)) => {
                    // a line break typed inside a cell (Alt+Enter) is a space
                    let s: String = s
                        .split(['\r', '\n', '\t'])
                        .map(str::trim)
                        .filter(|p| !p.is_empty())
                        .collect::<Vec<_>>()
                        .join(" ");
                    if s.chars().count() > MAX_FIELD {
                        Err(Problem::TooLong { column: c.key(), max: MAX_FIELD })
                    } else if s.chars().any(char::is_control) {
                        Err(Problem::ControlCharacters { column: c.key() })
                    } else if let Some(h) = super::text::hidden_char(&s) {
                        Err(Problem::HiddenCharacter { column: c.key(), code_point: format!("U+{:04X}", u32::from(h)) })
                    } else {
                        Ok(Some(s))
                    }
                }
            }
        };
        let parsed = (|| -> Result<RegisterRow, Problem> {
            let row_household = field(Some(household), Col::Household)?.unwrap_or_default();
            let row_name = field(Some(name), Col::Name)?.unwrap_or_default();
            if row_household.is_empty() {
                return Err(Problem::MissingHousehold {});
            }
            if row_name.is_empty() {
                return Err(Problem::MissingName {});
            }
            let row_address = field(address, Col::Address)?;
            let row_grid = field(grid, Col::Grid)?;
            let row_phone = field(phone, Col::Phone)?.map(|p| normalise_phone(&p)).transpose()?;
            let row_category = field(category, Col::Category)?
                .map(|c| c.parse::<Category>().map_err(|e| Problem::UnknownCategory { value: e.0 }))
                .transpose()?;
            let some = |v: Option<String>| v.filter(|s| !s.is_empty());
            let row_arrived = match some(field(arrived, Col::Arrived)?) {
                Some(a) => Some(
                    WrittenDate::parse(&a).ok_or(Problem::BadDate { column: Col::Arrived.key(), value: a.clone() })?,
                ),
                None => None,
            };
            Ok(RegisterRow {
                line,
                household: row_household,
                address: row_address,
                grid: row_grid,
                name: row_name,
                phone: row_phone,
                category: row_category,
                origin: some(field(origin, Col::Origin)?),
                arrived: row_arrived,
                monitor: some(field(monitor, Col::Monitor)?),
            })
        })();
        let row = match parsed {
            Ok(r) => r,
            Err(p) => {
                out.rejected.push(Rejection::new(line, p));
                continue;
            }
        };
        let key = (row.household.clone(), row.name.clone());
        if let Some(first) = seen.get(&key) {
            let (household, name) = key;
            out.rejected.push(Rejection::new(line, Problem::Duplicate { household, name, first_line: *first }));
            continue;
        }
        seen.insert(key, line);
        out.rows.push(row);
    }
    Ok(out)
}

/// The first of the top rows that names both required columns, and what
/// each of its cells names. Without one, the error speaks of the row that
/// came closest.
fn find_header(rows: &[sheet::Row]) -> Result<(usize, Vec<Option<Col>>), RegisterError> {
    let mut best: Option<Vec<Option<Col>>> = None;
    for (i, row) in rows.iter().take(HEADER_SEARCH).enumerate() {
        if row.fault.is_some() {
            continue;
        }
        let cols: Vec<Option<Col>> = row.cells.iter().map(|c| column(c.text())).collect();
        let has = |c: Col| cols.contains(&Some(c));
        if has(Col::Household) && has(Col::Name) {
            for (j, (c, cell)) in cols.iter().zip(&row.cells).enumerate() {
                if c.is_some() && cols.iter().take(j).any(|earlier| earlier == c) {
                    return Err(RegisterError::DuplicateColumn(cell.text().trim().to_string()));
                }
            }
            return Ok((i, cols));
        }
        let known = cols.iter().flatten().count();
        if known > 0 && best.as_ref().is_none_or(|b| b.iter().flatten().count() < known) {
            best = Some(cols);
        }
    }
    match best {
        Some(cols) if !cols.contains(&Some(Col::Household)) => Err(RegisterError::MissingColumn("household")),
        Some(_) => Err(RegisterError::MissingColumn("name")),
        None => Err(RegisterError::NoHeader),
    }
}

fn row_is_header(cells: &[Cell], cols: &[Option<Col>]) -> bool {
    let at = |c: Col| cols.iter().position(|x| *x == Some(c)).and_then(|i| cells.get(i)).map(|c| column(c.text()));
    at(Col::Household) == Some(Some(Col::Household)) && at(Col::Name) == Some(Some(Col::Name))
}

/// A phone typed on a page or the command line, as the register reads it
/// (issue 12: one-person changes).
pub fn phone(raw: &str) -> Result<String, String> {
    normalise_phone(raw).map_err(|p| p.to_string())
}

/// "138 0000-1234", "(0755) 1234 5678", full-width digits: the digits, with
/// a leading + kept. "-", "/" and "无" (none) mean no phone.
fn normalise_phone(raw: &str) -> Result<String, Problem> {
    let s = raw.trim();
    if matches!(s, "" | "-" | "/" | "无" | "—") {
        return Ok(String::new());
    }
    if (s.contains('E') || s.contains('e')) && s.parse::<f64>().is_ok() {
        return Err(Problem::PhoneLostDigits { value: s.to_string() });
    }
    let mut out = String::new();
    for c in s.chars() {
        let c = match c {
            '０'..='９' => char::from_u32(c as u32 - '０' as u32 + '0' as u32).unwrap_or(c),
            '＋' => '+',
            c => c,
        };
        match c {
            '0'..='9' => out.push(c),
            '+' if out.is_empty() => out.push('+'),
            ' ' | '\u{3000}' | '\u{a0}' | '-' | '－' | '—' | '(' | ')' | '（' | '）' | '.' => {}
            _ => return Err(Problem::BadPhone { value: s.to_string() }),
        }
    }
    let digits = out.trim_start_matches('+').len();
    if !(3..=20).contains(&digits) {
        return Err(Problem::BadPhone { value: s.to_string() });
    }
    Ok(out)
}
#[cfg(test)]
mod tests {

    #[test]
    fn returnee_columns_and_written_dates() {
        use chrono::NaiveDate;
        let d = |y, m, dd| NaiveDate::from_ymd_opt(y, m, dd).unwrap();
        let csv = "户号,姓名,来源地,返回日期,包保人\n1-1,甲,武汉,2026-02-10,王干部\n1-2,乙,,2月10日,\n1-3,丙,北京,46063,李\n1-4,丁,上海,昨天,\n1-5,戊,,,\n";
        let p = parse(csv.as_bytes()).unwrap();
        assert_eq!(p.rows.len(), 4, "{:?}", p.rejected);
        assert_eq!(p.rows[0].origin.as_deref(), Some("武汉"));
        assert_eq!(p.rows[0].arrived, Some(WrittenDate::Full(d(2026, 2, 10))));
        assert_eq!(p.rows[0].monitor.as_deref(), Some("王干部"));
        assert_eq!(p.rows[1].arrived, Some(WrittenDate::MonthDay(2, 10)));
        assert_eq!(p.rows[1].origin, None);
        assert_eq!(p.rows[2].arrived, Some(WrittenDate::Full(d(2026, 2, 10))), "Excel day 46063");
        assert_eq!(p.rows[3].arrived, None);
        assert_eq!(p.rejected.len(), 1);
        assert_eq!(p.rejected[0].line, 5);
        assert_eq!(serde_json::to_value(&p.rejected[0].problem).unwrap()["code"], "bad_date");
        for (s, want) in
            [("2026/2/10", d(2026, 2, 10)), ("2026.02.10", d(2026, 2, 10)), ("2026年2月10日", d(2026, 2, 10))]
        {
            assert_eq!(WrittenDate::parse(s), Some(WrittenDate::Full(want)), "{s}");
        }
        assert_eq!(WrittenDate::parse("2月30日"), None);
        assert_eq!(WrittenDate::parse("13"), None);
        // a month and day is this year's, or last year's when that is still ahead
        let md = WrittenDate::MonthDay(12, 20);
        assert_eq!(md.resolve(d(2027, 1, 5)), Some(d(2026, 12, 20)));
        assert_eq!(md.resolve(d(2026, 12, 20)), Some(d(2026, 12, 20)));
        assert_eq!(WrittenDate::MonthDay(2, 29).resolve(d(2027, 3, 1)), None, "no 29 February in 2027 or 2026");
        // observation: arrived + 14 days, the last day is arrived + 13
        let r = returnee(Some(WrittenDate::Full(d(2026, 2, 10))), d(2026, 2, 20), 14).unwrap();
        assert_eq!((r.arrived, r.observe_until), (d(2026, 2, 10), Some(d(2026, 2, 23))));
        assert_eq!(returnee(Some(WrittenDate::Full(d(2026, 2, 10))), d(2026, 2, 24), 14).unwrap().observe_until, None);
        assert_eq!(
            returnee(Some(WrittenDate::Full(d(2026, 2, 10))), d(2026, 2, 23), 14).unwrap().observe_until,
            Some(d(2026, 2, 23))
        );
        assert_eq!(returnee(Some(WrittenDate::Full(d(2026, 2, 10))), d(2026, 2, 10), 0).unwrap().observe_until, None);
        assert!(returnee(None, d(2026, 2, 10), 14).is_none());
    }

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
        assert_eq!(parse(b"household,address\n1,x\n").unwrap_err(), RegisterError::MissingColumn("name"));
        assert!(parse(b"household,address\n1,x\n").unwrap_err().to_string().contains("name/\u{59d3}\u{540d}"));
        assert_eq!(parse(b"a,b\n1,2\n").unwrap_err(), RegisterError::NoHeader);
        assert_eq!(parse(b"\xEF\xBB\xBF").unwrap_err(), RegisterError::Empty);
        assert!(matches!(parse(b"name,name,household\n").unwrap_err(), RegisterError::DuplicateColumn(_)));
    }

    #[test]
    fn bidi_and_zero_width_rows_rejected_with_line_numbers() {
        let csv = "household,name,phone\n1-1,Ann,\n1-2,\u{202E}nnA,\n1-3,Bo\u{200B}b,\n2-\u{2066}1,Cy,\n1-4,Di\u{FEFF},\n1-5,Ed,1\u{200F}\n1-6,Fay,\n";
        let p = parse(csv.as_bytes()).unwrap();
        assert_eq!(p.rows.iter().map(|r| r.name.as_str()).collect::<Vec<_>>(), vec!["Ann", "Fay"]);
        let lines: Vec<u64> = p.rejected.iter().map(|r| r.line).collect();
        assert_eq!(lines, vec![3, 4, 5, 6, 7]);
        assert!(p.rejected.iter().all(|r| matches!(r.problem, Problem::HiddenCharacter { .. })), "{:?}", p.rejected);
        assert!(
            p.rejected[0].reason.contains("U+202E") && p.rejected[0].reason.contains("the name"),
            "{:?}",
            p.rejected
        );
        assert!(p.rejected[1].reason.contains("U+200B"));
        assert!(p.rejected[2].reason.contains("U+2066") && p.rejected[2].reason.contains("the household"));
        assert!(p.rejected[3].reason.contains("U+FEFF"));
        assert!(p.rejected[4].reason.contains("U+200F") && p.rejected[4].reason.contains("the phone"));
    }

    #[test]
    fn crlf_and_quotes() {
        let csv = "household,name,address\r\n\"1-1\",\"Wang, Wu\",\"Blk \"\"A\"\"\"\r\n";
        let p = parse(csv.as_bytes()).unwrap();
        assert_eq!(p.rows[0].name, "Wang, Wu");
        assert_eq!(p.rows[0].address.as_deref(), Some("Blk \"A\""));
        assert_eq!(p.rows[0].grid, None, "no grid column");
    }

    #[test]
    fn the_gbk_file_that_was_refused_reads() {
        // Excel on Chinese Windows, "CSV (逗号分隔)": GBK, no BOM
        let text = "户号,地址,网格,姓名,电话,类别\r\n1-101,一号楼101,A,张三,13800000000,正常\r\n";
        let gbk = encoding_rs::GBK.encode(text).0.into_owned();
        let p = parse(&gbk).unwrap();
        assert_eq!(p.rejected, vec![]);
        assert_eq!(p.rows[0].name, "张三");
        assert_eq!(p.rows[0].address.as_deref(), Some("一号楼101"));
        assert_eq!(p.rows[0].line, 2, "CRLF lines are counted");
    }

    #[test]
    fn title_rows_above_the_header_and_a_repeated_header() {
        let csv = "阳光花园住户登记表,,,\n填表日期：2026年11月,,,\n序号,户号,姓名,类别\n1,1-101,张三,正常\n序号,户号,姓名,类别\n2,1-102,李四,\n";
        let p = parse(csv.as_bytes()).unwrap();
        assert_eq!(p.rejected, vec![]);
        assert_eq!(
            p.rows.iter().map(|r| (r.line, r.name.as_str())).collect::<Vec<_>>(),
            vec![(4, "张三"), (6, "李四")]
        );
    }

    #[test]
    fn phones_are_digits() {
        let csv = "户号,姓名,电话\n1,a,138 0000-1234\n1,b,+86 138 0000 1234\n1,c,（0755）1234５６７８\n1,d,\n1,e,无\n\
                   1,f,1.38E+10\n1,g,138 wife\n1,h,12\n1,i,138+1\n";
        let p = parse(csv.as_bytes()).unwrap();
        let phones: Vec<_> = p.rows.iter().map(|r| r.phone.clone().unwrap()).collect();
        assert_eq!(phones, vec!["13800001234", "+8613800001234", "075512345678", "", ""]);
        let codes: Vec<_> = p.rejected.iter().map(|r| (r.line, r.problem.clone())).collect();
        assert_eq!(
            codes,
            vec![
                (7, Problem::PhoneLostDigits { value: "1.38E+10".into() }),
                (8, Problem::BadPhone { value: "138 wife".into() }),
                (9, Problem::BadPhone { value: "12".into() }),
                (10, Problem::BadPhone { value: "138+1".into() }),
            ]
        );
    }

    #[test]
    fn rejections_carry_codes_and_params() {
        let csv = "户号,姓名,类别\n1-1,张三,正长\n1-2,,正常\n";
        let p = parse(csv.as_bytes()).unwrap();
        let v = serde_json::to_value(&p.rejected).unwrap();
        assert_eq!(v[0]["line"], 2);
        assert_eq!(v[0]["code"], "unknown_category");
        assert_eq!(v[0]["params"]["value"], "正长");
        assert!(v[0]["reason"].as_str().unwrap().contains("unknown category"));
        assert_eq!(v[1]["code"], "missing_name");
        assert_eq!(v[1]["line"], 3);
        assert_eq!(v[1]["params"], serde_json::json!({}), "params always there");
    }

    #[test]
    fn line_breaks_inside_cells_are_spaces_and_ignored_columns_are_not_checked() {
        let long = "x".repeat(500);
        let csv = format!("户号,姓名,地址,备注\n1-1,张三,\"1栋\n101\",{long}\n");
        let p = parse(csv.as_bytes()).unwrap();
        assert_eq!(p.rejected, vec![]);
        assert_eq!(p.rows[0].address.as_deref(), Some("1栋 101"));
    }

    #[test]
    fn an_empty_household_is_not_guessed_from_the_row_above() {
        // a CSV saved from merged cells: the code is on the first row only
        let p = parse("户号,姓名\n1-1,张三\n,李四\n".as_bytes()).unwrap();
        assert_eq!(p.rows.len(), 1);
        assert_eq!(p.rejected[0].problem, Problem::MissingHousehold {});
        assert!(p.rejected[0].reason.contains("merged"));
    }
}
