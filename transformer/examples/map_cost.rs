//! A fixed amount of mapping work for instruction counts: `valgrind --tool=callgrind` on this gives a repeatable
//! figure where wall-clock benchmarks on a shared machine do not (used to price serde_json's float_roundtrip,
//! see BENCHMARKS.md). Maps N seed-shaped records (default 100,000) through the default job and writes their
//! unified JSON. The records are mapped topic by topic, as the pipeline maps them (a fetched batch is one
//! partition's records), so what the plan computes once per topic is priced as it runs.
//!   cargo build --release --example map_cost && valgrind --tool=callgrind target/release/examples/map_cost 100000
//! and once more with a second argument `generate-only`: the difference is the mapping's cost. With `map-only`
//! the rows are made but not written as JSON: the difference to a full run is the writer's cost.

use job::{Emit, MapError, Plan, Record, Row};

/// Writes each row's JSON, counting the bytes.
struct Json {
    out: Vec<u8>,
    bytes: usize,
    /// Count the rows instead of writing them (`map-only`).
    map_only: bool,
}

impl Emit for Json {
    fn row(&mut self, _sink: usize, row: Row<'_>) -> Result<u64, MapError> {
        if self.map_only {
            self.bytes += row.len();
            return Ok(0);
        }
        self.out.clear();
        row.write_json(&mut self.out);
        self.bytes += self.out.len();
        Ok(self.out.len() as u64)
    }
    fn dead_letter(&mut self, _sink: Option<usize>, _err: MapError) {}
    fn dropped(&mut self, _sink: usize) {}
}

fn main() {
    let n: u64 = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(100_000);
    let start = "2026-01-01T00:00:00Z".parse().expect("a valid time");
    let generator = emitter::generate::Generator::new(7, Some(start), 0, 0.0);
    let topics = contract::topics::RAW;
    let mut records: Vec<(usize, Vec<u8>)> = (0..n)
        .map(|i| {
            let e = generator.event(i);
            (e.topic, e.value)
        })
        .collect();
    records.sort_by_key(|(topic, _)| *topic);
    if std::env::args().nth(2).as_deref() == Some("generate-only") {
        println!("generated {} records", records.len()); // the cost to subtract
        return;
    }
    let plan = Plan::new(job::DEFAULT_JOB_NAME, job::DEFAULT_JOB).expect("the default job plans");
    let map_only = std::env::args().nth(2).as_deref() == Some("map-only");
    let mut json = Json { out: Vec::with_capacity(1024), bytes: 0, map_only };
    let mut scratch = job::Scratch::default();
    for (i, (t, value)) in records.iter().enumerate() {
        let rec = Record {
            topic: topics[*t],
            partition: 0,
            offset: i as i64,
            timestamp_ms: 0,
            key: None,
            value: Some(value),
            headers: None,
        };
        plan.map_with(&mut scratch, 0, &rec, 1 << 20, 0, &mut json);
    }
    println!("mapped {n} records, {} bytes of JSON", json.bytes);
}
