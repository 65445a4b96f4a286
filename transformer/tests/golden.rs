//! The default job's output, pinned: a seeded stream of 100,000 generated records with a 5% malformed share
//! (emitter's generator, seed 7) through `schema/jobs/unified.sql`, every row's exact JSON and every dead
//! letter's reason and message hashed in order. The digest was taken from the compiled mapping the job replaced
//! (commit "The job engine", where both ran side by side and agreed on every record), so this holds the engine to
//! the bytes the transformer wrote before it.

use emitter::generate::Generator;
use job::{Outcome, Plan, Record};
use xxhash_rust::xxh3::Xxh3;

/// xxh3-64 of the outputs, and how many rows and dead letters there were.
const GOLDEN: (u64, usize, usize) = (17_741_893_868_554_955_729, 95_007, 4_993);

#[test]
fn the_default_job_writes_the_bytes_of_the_mapping_it_replaced() {
    let plan = Plan::new(job::DEFAULT_JOB_NAME, job::DEFAULT_JOB).expect("the default job plans");
    let topics = ["user_clicks", "page_views", "orders"];
    let g = Generator::new(7, Some("2026-01-01T00:00:00Z".parse().unwrap()), 1000, 0.05);
    let mut hash = Xxh3::new();
    let (mut rows, mut dead) = (0, 0);
    let mut first = Vec::new();
    for i in 0..100_000u64 {
        let e = g.event(i);
        let rec = Record {
            topic: topics[e.topic],
            partition: (i % 3) as i32,
            offset: i as i64,
            timestamp_ms: 0,
            key: None,
            value: Some(&e.value),
            headers: None,
        };
        for o in plan.map_owned(&rec, 1 << 20, 0) {
            let line = match o {
                Outcome::Row { sink, json } => {
                    rows += 1;
                    format!("R {sink} {json}\n")
                }
                Outcome::Dead { sink, error } => {
                    dead += 1;
                    format!("D {sink:?} {} {error}\n", error.reason())
                }
                Outcome::Dropped { sink } => format!("X {sink}\n"),
            };
            if first.len() < 3 {
                first.push(line.clone());
            }
            hash.update(line.as_bytes());
        }
    }
    let got = (hash.digest(), rows, dead);
    assert_eq!(got, GOLDEN, "the first outputs:\n{}", first.concat());
}
