//! The register import at the size of a large community: 20,000 residents
//! in an .xlsx (as Excel writes it: numbers stored as numbers), parsed, and
//! imported into a fresh gate in one transaction. `cargo bench --bench register`.

use chrono::Utc;
use criterion::{black_box, criterion_group, criterion_main, BatchSize, Criterion};
use gatepass::domain::register;
use gatepass::gate::Gate;
use rust_xlsxwriter::Workbook;

const ROWS: u32 = 20_000;
const SURNAMES: [&str; 8] = ["张", "王", "李", "赵", "刘", "陈", "杨", "黄"];
const GIVEN: [&str; 8] = ["伟", "芳", "娜", "敏", "静", "丽", "强", "磊"];
const CATEGORIES: [&str; 4] = ["正常", "正常", "居家隔离", "保障人员"];

fn workbook() -> Vec<u8> {
    let mut wb = Workbook::new();
    let ws = wb.add_worksheet();
    let mut put = |r: u32, c: u16, s: &str| {
        ws.write_string(r, c, s).map(|_| ()).unwrap_or_else(|e| panic!("xlsx: {e}"));
    };
    put(0, 0, "阳光花园住户登记表");
    for (c, h) in ["户号", "地址", "网格", "姓名", "电话", "类别"].iter().enumerate() {
        put(1, c as u16, h);
    }
    let mut rows = Vec::new();
    for i in 0..ROWS {
        let household = 10_000 + i / 4; // four residents a household
        let name = format!("{}{}{}", SURNAMES[(i % 8) as usize], GIVEN[(i / 8 % 8) as usize], i);
        rows.push((i + 2, household, name, i));
    }
    for (r, household, name, i) in rows {
        ws.write_number(r, 0, f64::from(household)).map(|_| ()).unwrap_or_else(|e| panic!("{e}"));
        ws.write_string(r, 1, format!("{}栋{}室", household / 100, household % 100))
            .map(|_| ())
            .unwrap_or_else(|e| panic!("{e}"));
        ws.write_string(r, 2, format!("第{}网格", household % 12)).map(|_| ()).unwrap_or_else(|e| panic!("{e}"));
        ws.write_string(r, 3, &name).map(|_| ()).unwrap_or_else(|e| panic!("{e}"));
        ws.write_number(r, 4, 13_800_000_000.0 + f64::from(i)).map(|_| ()).unwrap_or_else(|e| panic!("{e}"));
        ws.write_string(r, 5, CATEGORIES[(i % 4) as usize]).map(|_| ()).unwrap_or_else(|e| panic!("{e}"));
    }
    wb.save_to_buffer().unwrap_or_else(|e| panic!("xlsx: {e}"))
}

fn register_import(c: &mut Criterion) {
    let bytes = workbook();
    let mut g = c.benchmark_group("register 20k xlsx");
    g.sample_size(10);
    g.bench_function("parse", |b| {
        b.iter(|| {
            let p = register::parse(black_box(&bytes)).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(p.rows.len(), ROWS as usize);
        })
    });
    g.bench_function("import into a fresh gate", |b| {
        b.iter_batched(
            || {
                let tmp = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
                let gate =
                    Gate::init(&tmp.path().join("g"), "阳光花园", "东门", Utc::now()).unwrap_or_else(|e| panic!("{e}"));
                (tmp, gate)
            },
            |(tmp, mut gate)| {
                let (counts, rejected) =
                    gate.import_register(&bytes, "bench", Utc::now()).unwrap_or_else(|e| panic!("{e}"));
                assert_eq!((counts.added, rejected.len()), (u64::from(ROWS), 0));
                (tmp, gate)
            },
            BatchSize::PerIteration,
        )
    });
    g.finish();
}

criterion_group!(benches, register_import);
criterion_main!(benches);
