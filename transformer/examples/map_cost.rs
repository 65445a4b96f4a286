//! A fixed amount of mapping work for instruction counts: `valgrind --tool=callgrind` on this gives a repeatable
//! figure where wall-clock benchmarks on a shared machine do not (used to price serde_json's float_roundtrip,
//! see BENCHMARKS.md). Maps N seed-shaped records (default 100,000) and writes their unified JSON.
//!   cargo build --release --example map_cost && valgrind --tool=callgrind target/release/examples/map_cost 100000
//! and once more with a second argument `generate-only`: the difference is the mapping's cost.

use transformer::map::{map, Source};

fn main() {
    let n: u64 = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(100_000);
    let start = "2026-01-01T00:00:00Z".parse().expect("a valid time");
    let generator = emitter::generate::Generator::new(7, Some(start), 0, 0.0);
    let topics = contract::topics::RAW;
    let records: Vec<(usize, Vec<u8>)> = (0..n)
        .map(|i| {
            let e = generator.event(i);
            (e.topic, e.value)
        })
        .collect();
    if std::env::args().nth(2).as_deref() == Some("generate-only") {
        println!("generated {} records", records.len()); // the cost to subtract
        return;
    }
    let mut out = Vec::with_capacity(1024);
    let mut bytes = 0usize;
    for (i, (t, value)) in records.iter().enumerate() {
        let src = Source { topic: topics[*t], partition: 0, offset: i as i64 };
        if let Ok(m) = map(src, Some(value), 1 << 20) {
            out.clear();
            m.write_json(&mut out);
            bytes += out.len();
        }
    }
    println!("mapped {n} records, {bytes} bytes of JSON");
}
