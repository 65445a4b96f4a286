//! The pure mapping's cost per record, per raw type, and how much of it is JSON. `cargo bench -p transformer --bench
//! map` (or scripts/bench.sh). Per raw type:
//! - `map_and_write_json`: what the pipeline does per record (`map`, then `Mapped::write_json`);
//! - `map`: parsing and checking alone (the views, nothing copied);
//! - `write_json_only`: writing the unified JSON alone;
//! - `json_decode_only`: serde_json skimming the raw record (the floor of any parse);
//! - `owned_and_serde_encode`: the owned `ProcessedEvent` encoded by serde_json (the path the pipeline took before
//!   `write_json`, kept as the comparison).

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use std::hint::black_box;
use transformer::map::{map, map_record, Source};

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
    let mut group = c.benchmark_group("map");
    group.throughput(Throughput::Elements(1));
    for (topic, value) in samples() {
        let src = Source { topic, partition: 0, offset: 42 };
        group.bench_function(format!("{topic}/map_and_write_json"), |b| {
            b.iter(|| {
                let m = map(black_box(src), Some(black_box(&value)), 1 << 20).unwrap();
                let mut json = Vec::with_capacity(m.json_size_hint());
                m.write_json(&mut json);
                json
            })
        });
        group.bench_function(format!("{topic}/map"), |b| {
            b.iter(|| map(black_box(src), Some(black_box(&value)), 1 << 20).unwrap().event_time_ms)
        });
        let mapped = map(src, Some(&value), 1 << 20).unwrap();
        group.bench_function(format!("{topic}/write_json_only"), |b| {
            b.iter(|| {
                let mut json = Vec::with_capacity(mapped.json_size_hint());
                black_box(&mapped).write_json(&mut json);
                json
            })
        });
        group.bench_function(format!("{topic}/json_decode_only"), |b| {
            b.iter(|| serde_json::from_slice::<serde::de::IgnoredAny>(black_box(&value)).unwrap())
        });
        group.bench_function(format!("{topic}/owned_and_serde_encode"), |b| {
            b.iter(|| {
                serde_json::to_vec(&map_record(black_box(src), Some(black_box(&value)), 1 << 20).unwrap()).unwrap()
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
