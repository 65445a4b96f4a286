//! The default job's cost per record, per raw type, and how much of it is JSON. `cargo bench -p transformer --bench
//! map` (or scripts/bench.sh). Per raw type:
//! - `map_and_write_json`: what the pipeline does per record (the plan's `map`, the row written as JSON);
//! - `map`: reading, evaluating and checking alone (the row dropped unwritten);
//! - `json_decode_only`: serde_json skimming the raw record (the floor of any parse);
//! - `owned_and_serde_encode`: the owned `ProcessedEvent` read back from the row and encoded by serde_json (the
//!   path the pipeline took before it wrote JSON itself, kept as the comparison).

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use job::{Emit, MapError, Plan, Record, Row};
use std::hint::black_box;

/// Writes each row's JSON into a buffer (or, `write: false`, drops it).
struct Json {
    out: Vec<u8>,
    write: bool,
}

impl Emit for Json {
    fn row(&mut self, _sink: usize, row: Row<'_>) -> Result<u64, MapError> {
        if self.write {
            self.out.clear();
            row.write_json(&mut self.out);
        }
        Ok(self.out.len() as u64)
    }
    fn dead_letter(&mut self, _sink: Option<usize>, err: MapError) {
        panic!("a sample was dead-lettered: {err}")
    }
    fn dropped(&mut self, _sink: usize) {}
}

fn samples() -> Vec<(&'static str, Vec<u8>)> {
    let g = emitter::generate::Generator::new(1, Some("2026-01-01T00:00:00Z".parse().unwrap()), 0, 0.0);
    let mut by_topic: Vec<(&'static str, Vec<u8>)> = Vec::new();
    for i in 0.. {
        let e = g.event(i);
        let topic = contract::topics::RAW[e.topic];
        if !by_topic.iter().any(|(t, _)| *t == topic) {
            by_topic.push((topic, e.value));
        }
        if by_topic.len() == 3 {
            break;
        }
    }
    by_topic.sort();
    by_topic
}

fn bench(c: &mut Criterion) {
    let plan = Plan::new(job::DEFAULT_JOB_NAME, job::DEFAULT_JOB).expect("the default job plans");
    let mut scratch = job::Scratch::default();
    let mut group = c.benchmark_group("map");
    group.throughput(Throughput::Elements(1));
    for (topic, value) in samples() {
        let rec =
            Record { topic, partition: 0, offset: 42, timestamp_ms: 0, key: None, value: Some(&value), headers: None };
        let mut json = Json { out: Vec::with_capacity(1024), write: true };
        group.bench_function(format!("{topic}/map_and_write_json"), |b| {
            b.iter(|| {
                plan.map_with(&mut scratch, 0, black_box(&rec), 1 << 20, 0, &mut json);
                json.out.len()
            })
        });
        let mut dropped = Json { out: Vec::new(), write: false };
        group.bench_function(format!("{topic}/map"), |b| {
            b.iter(|| plan.map_with(&mut scratch, 0, black_box(&rec), 1 << 20, 0, &mut dropped))
        });
        group.bench_function(format!("{topic}/json_decode_only"), |b| {
            b.iter(|| serde_json::from_slice::<serde::de::IgnoredAny>(black_box(&value)).unwrap())
        });
        group.bench_function(format!("{topic}/owned_and_serde_encode"), |b| {
            b.iter(|| {
                plan.map_with(&mut scratch, 0, black_box(&rec), 1 << 20, 0, &mut json);
                let owned: contract::processed::ProcessedEvent = serde_json::from_slice(&json.out).unwrap();
                serde_json::to_vec(&owned).unwrap()
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
