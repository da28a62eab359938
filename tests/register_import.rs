//! The register as committees really have it: the same register saved as
//! UTF-8, UTF-8 with BOM, GBK, GB18030 and .xlsx gives the same households,
//! residents and rejections; damaged and foreign files are refused whole
//! with a code; the daemon takes a GBK upload from a committee token.

mod common;
use common::*;
use rust_xlsxwriter::{Format, Workbook};
use serde_json::Value;
use std::path::Path;

/// One cell of the test register: text, or a number as Excel stores it.
#[derive(Clone, Copy)]
enum C {
    S(&'static str),
    N(f64),
}
use C::{N, S};

/// Line 1 is a title, line 2 the header; 101's household and address are
/// one merged cell over lines 3–4 in the workbook.
fn register() -> Vec<Vec<C>> {
    vec![
        vec![S("阳光花园小区住户登记表")],
        vec![S("户号"), S("地址"), S("网格"), S("姓名"), S("电话"), S("类别")],
        vec![N(101.0), S("1号楼101"), S("A"), S("张三"), S("138 0000 1234"), S("正常")],
        vec![N(101.0), S("1号楼101"), S("A"), S("李四"), N(13800005678.0), S("居家隔离")],
        vec![N(102.0), S("1号楼102"), S("A"), S("王五"), S(""), S("保障人员")],
        vec![N(102.0), S("1号楼102"), S("A"), S(""), S(""), S("正常")],
        vec![N(103.0), S("1号楼103"), S("B"), S("赵六"), S(""), S("正长")],
        vec![N(101.0), S("1号楼101"), S("A"), S("张三"), S(""), S("正常")],
        vec![S("2-201"), S("2号楼201"), S("B"), S("钱七"), S("+86 139-0000-1111"), S("")],
    ]
}

fn csv_text(rows: &[Vec<C>]) -> String {
    let mut out = String::new();
    for r in rows {
        let cells: Vec<String> = r
            .iter()
            .map(|c| match c {
                S(s) => s.to_string(),
                N(n) => format!("{n}"),
            })
            .collect();
        out.push_str(&cells.join(","));
        out.push_str("\r\n"); // as Excel writes it
    }
    out
}

fn xlsx(rows: &[Vec<C>], merge_101: bool) -> Vec<u8> {
    let mut wb = Workbook::new();
    let ws = wb.add_worksheet();
    ws.set_name("登记表").unwrap();
    for (r, row) in rows.iter().enumerate() {
        for (c, cell) in row.iter().enumerate() {
            if merge_101 && r == 3 && c < 2 {
                continue; // under the merged block: Excel keeps no value there
            }
            match cell {
                S("") => {}
                S(s) => {
                    ws.write_string(r as u32, c as u16, *s).unwrap();
                }
                N(n) => {
                    ws.write_number(r as u32, c as u16, *n).unwrap();
                }
            }
        }
    }
    if merge_101 {
        // rows 3-4 (0-based 2-3): household and address merged, as committees do
        ws.merge_range(2, 0, 3, 0, "", &Format::new()).unwrap();
        ws.write_number(2, 0, 101.0).unwrap();
        assert!(matches!(rows[3][0], N(_)) && matches!(rows[2][0], N(_)));
        ws.merge_range(2, 1, 3, 1, "1号楼101", &Format::new()).unwrap();
    }
    wb.save_to_buffer().unwrap()
}

/// Imports `bytes` into a fresh gate; the import's answer and the register
/// as listed, without the gate's random ids.
fn import(bytes: &[u8], name: &str, extra: &[&str]) -> (Value, Value) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("g");
    ok(&dir, &["init", "--community", "c", "--gate", "g"]);
    let file = tmp.path().join(name);
    std::fs::write(&file, bytes).unwrap();
    let mut args = vec!["household", "import", file.to_str().unwrap()];
    args.extend_from_slice(extra);
    let answer = json(&dir, &args);
    let mut list = json(&dir, &["household", "list"]);
    strip_ids(&mut list);
    (answer, list)
}

fn strip_ids(v: &mut Value) {
    match v {
        Value::Object(m) => {
            m.retain(|k, _| k != "id" && !k.ends_with("_id"));
            m.values_mut().for_each(strip_ids);
        }
        Value::Array(a) => a.iter_mut().for_each(strip_ids),
        _ => {}
    }
}

fn codes(answer: &Value) -> Vec<(u64, String)> {
    answer["rejections"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["line"].as_u64().unwrap(), r["code"].as_str().unwrap().to_string()))
        .collect()
}

#[test]
fn the_same_register_in_every_format_gives_the_same_result() {
    let rows = register();
    let text = csv_text(&rows);
    let mut bom = b"\xEF\xBB\xBF".to_vec();
    bom.extend_from_slice(text.as_bytes());
    let gbk = encoding_rs::GBK.encode(&text).0.into_owned();
    let gb18030 = encoding_rs::GB18030.encode(&text).0.into_owned();
    assert!(std::str::from_utf8(&gbk).is_err(), "the GBK file must not be UTF-8 by chance");

    let (want_answer, want_list) = import(text.as_bytes(), "register.csv", &[]);
    assert_eq!(want_answer["added"], 4, "{want_answer}");
    assert_eq!(
        codes(&want_answer),
        vec![(6, "missing_name".into()), (7, "unknown_category".into()), (8, "duplicate".into())]
    );
    assert_eq!(want_answer["rejections"][1]["params"]["value"], "正长");
    assert_eq!(want_answer["rejections"][2]["params"]["first_line"], 3);
    // household 101 stored as a number is "101"; phones are digits
    let listed = want_list.to_string();
    for needle in ["\"code\":\"101\"", "\"name\":\"李四\"", "\"2-201\""] {
        assert!(listed.contains(needle), "{needle} missing from {listed}");
    }
    assert!(!listed.contains("101.0") && !listed.contains("E+"), "{listed}");

    // same file, other encodings and the workbook: a .txt name, so nothing is
    // guessed from the extension
    for (name, bytes) in [
        ("bom.txt", bom),
        ("gbk.txt", gbk),
        ("gb18030.txt", gb18030),
        ("register.txt", xlsx(&rows, false)),
        ("merged.xlsx", xlsx(&rows, true)),
    ] {
        let (answer, list) = import(&bytes, name, &[]);
        assert_eq!(answer, want_answer, "{name}");
        assert_eq!(list, want_list, "{name}");
    }
}

#[test]
fn phones_and_numbers_as_stored() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("g");
    ok(&dir, &["init", "--community", "c", "--gate", "g"]);
    let file = tmp.path().join("r.xlsx");
    std::fs::write(&file, xlsx(&register(), true)).unwrap();
    ok(&dir, &["household", "import", file.to_str().unwrap()]);
    // phones are masked in lists; the card sheet and the database hold digits
    let db = phones_listed(&dir);
    assert!(db.contains(&"13800001234".to_string()), "{db:?}");
    assert!(db.contains(&"13800005678".to_string()), "{db:?}");
    assert!(db.contains(&"+8613900001111".to_string()), "{db:?}");
}

/// The phones as stored, through
/// `household list --json`, which shows them unmasked on the command line.
fn phones_listed(dir: &Path) -> Vec<String> {
    let list = json(dir, &["household", "list"]);
    let mut out = vec![];
    for h in list.as_array().unwrap() {
        for r in h["residents"].as_array().unwrap() {
            if let Some(p) = r["phone"].as_str() {
                out.push(p.to_string());
            }
        }
    }
    out
}

#[test]
fn a_rare_character_in_gb18030_reads_as_in_utf8() {
    // 䶮 is outside GBK: GB18030 writes it in four bytes
    let text = "户号,姓名\n1-1,刘䶮\n1-2,𠀀一\n";
    let gb = encoding_rs::GB18030.encode(text).0.into_owned();
    let (a, l) = import(&gb, "r.csv", &[]);
    let (b, m) = import(text.as_bytes(), "r.csv", &[]);
    assert_eq!((a, l.clone()), (b, m));
    assert!(l.to_string().contains("刘䶮"), "{l}");
}

fn import_fails(bytes: &[u8], name: &str, extra: &[&str]) -> (String, Value) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("g");
    ok(&dir, &["init", "--community", "c", "--gate", "g"]);
    let file = tmp.path().join(name);
    std::fs::write(&file, bytes).unwrap();
    let mut args = vec!["household", "import", file.to_str().unwrap()];
    args.extend_from_slice(extra);
    let out = run(&dir, &args);
    assert!(!out.status.success(), "{name} was accepted");
    (String::from_utf8_lossy(&out.stderr).into_owned(), json(&dir, &["household", "list"]))
}

#[test]
fn damaged_and_foreign_files_are_refused_whole() {
    let good = xlsx(&register(), true);
    let (err, list) = import_fails(&good[..good.len() / 2], "half.xlsx", &[]);
    assert!(err.contains("damaged or incomplete"), "{err}");
    assert_eq!(list, Value::Array(vec![]), "a broken workbook imported rows");

    let ole2 = [0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1, 0, 0, 0, 0];
    for (bytes, name, words) in [
        (&ole2[..], "old.xls", "old Excel .xls"),
        (&b"%PDF-1.4\n%..."[..], "register.csv", "PDF"),
        (&b"\xFF\xD8\xFF\xE0\x00\x10JFIF"[..], "photo.csv", "picture"),
        (&b"PK\x03\x04\x14\x00\x00\x00\x08\x00word/document.xml"[..], "r.docx", "Word"),
    ] {
        let (err, list) = import_fails(bytes, name, &[]);
        assert!(err.contains(words) && err.contains("CSV UTF-8"), "{name}: {err}");
        assert_eq!(list, Value::Array(vec![]));
    }
}

#[test]
fn a_chosen_sheet_is_read() {
    let mut wb = Workbook::new();
    wb.add_worksheet().set_name("说明").unwrap().write_string(0, 0, "填表说明").unwrap();
    let ws = wb.add_worksheet().set_name("住户").unwrap();
    for (c, h) in ["户号", "姓名"].iter().enumerate() {
        ws.write_string(0, c as u16, *h).unwrap();
    }
    ws.write_string(1, 0, "1-1").unwrap();
    ws.write_string(1, 1, "张三").unwrap();
    let bytes = wb.save_to_buffer().unwrap();

    let (err, _) = import_fails(&bytes, "r.xlsx", &[]);
    assert!(err.contains("no header row"), "the first sheet is read by default: {err}");
    let (answer, _) = import(&bytes, "r.xlsx", &["--sheet", "住户"]);
    assert_eq!(answer["added"], 1);
    let (err, _) = import_fails(&bytes, "r.xlsx", &["--sheet", "名单"]);
    assert!(err.contains("no sheet named '名单'") && err.contains("说明, 住户"), "{err}");
}

#[test]
fn the_daemon_takes_a_gbk_upload_and_answers_codes() {
    let g = GateDir::new();
    let token = g.token("committee");
    let d = Daemon::start(&g.dir);
    let c = client();
    let text =
        "户号,地址,网格,姓名,电话,类别\r\n5-501,5号楼501,E,孙八,139 0000 5555,正常\r\n5-501,5号楼501,E,,,正常\r\n";
    let gbk = encoding_rs::GBK.encode(text).0.into_owned();
    let r = c
        .post(d.url("/api/v1/households/import"))
        .bearer_auth(&token)
        .header("content-type", "text/csv")
        .body(gbk)
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().unwrap();
    assert_eq!(v["added"], 1, "{v}");
    assert_eq!(v["rejections"][0]["line"], 3);
    assert_eq!(v["rejections"][0]["code"], "missing_name");
    assert!(v["rejections"][0]["reason"].as_str().unwrap().contains("missing name"));
    let hs: Value = c.get(d.url("/api/v1/households")).bearer_auth(&token).send().unwrap().json().unwrap();
    assert!(hs.to_string().contains("孙八"), "{hs}");

    // a PDF: refused whole, with a code the page puts into words
    let r = c
        .post(d.url("/api/v1/households/import"))
        .bearer_auth(&token)
        .header("content-type", "application/octet-stream")
        .body(&b"%PDF-1.7\n"[..])
        .send()
        .unwrap();
    assert_eq!(r.status(), 400);
    let v: Value = r.json().unwrap();
    assert_eq!(v["error"], "bad_request");
    assert_eq!(v["code"], "unsupported_file");
    assert_eq!(v["params"]["kind"], "pdf");

    // a workbook's sheet by name, from the page's sheet field
    let mut wb = Workbook::new();
    wb.add_worksheet().set_name("封面").unwrap();
    let ws = wb.add_worksheet().set_name("名单").unwrap();
    ws.write_string(0, 0, "户号").unwrap();
    ws.write_string(0, 1, "姓名").unwrap();
    ws.write_number(1, 0, 601.0).unwrap();
    ws.write_string(1, 1, "周九").unwrap();
    let r = c
        .post(d.url("/api/v1/households/import?sheet=%E5%90%8D%E5%8D%95"))
        .bearer_auth(&token)
        .header("content-type", "application/octet-stream")
        .body(wb.save_to_buffer().unwrap())
        .send()
        .unwrap();
    let v: Value = r.json().unwrap();
    assert_eq!(v["added"], 1, "{v}");
    let hs: Value = c.get(d.url("/api/v1/households")).bearer_auth(&token).send().unwrap().json().unwrap();
    assert!(hs.to_string().contains("\"code\":\"601\""), "{hs}");
}
