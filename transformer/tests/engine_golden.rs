//! The default SQL job (schema/jobs/unified.sql, run by the job engine) against the compiled mapping it replaces,
//! on a seeded stream of 100,000 generated records with a 5% malformed share: the same JSON bytes for every
//! record, and the same dead letter (reason and message) for every record that has one.

use emitter::generate::Generator;
use job::{Emit, MapError, Plan, Record, Row};
use transformer::map::{map, Source};

#[derive(Default)]
struct Out {
    rows: Vec<Vec<u8>>,
    dead: Vec<(Option<usize>, MapError)>,
}

impl Emit for Out {
    fn row(&mut self, _sink: usize, row: Row<'_>) -> Result<u64, MapError> {
        let mut v = Vec::new();
        row.write_json(&mut v);
        let n = v.len() as u64;
        self.rows.push(v);
        Ok(n)
    }
    fn dead_letter(&mut self, sink: Option<usize>, err: MapError) {
        self.dead.push((sink, err));
    }
    fn dropped(&mut self, _sink: usize) {
        unreachable!("the default job does not drop")
    }
}

#[test]
fn the_default_job_writes_todays_bytes() {
    let plan = Plan::new(job::DEFAULT_JOB_NAME, job::DEFAULT_JOB).expect("the default job plans");
    let topics = ["user_clicks", "page_views", "orders"];
    let start = Some("2026-01-01T00:00:00Z".parse().unwrap());
    let g = Generator::new(7, start, 1000, 0.05);
    let (mut rows, mut dead) = (0, 0);
    for i in 0..100_000u64 {
        let e = g.event(i);
        let topic = topics[e.topic];
        let sources = plan.sources_reading(topic);
        assert_eq!(sources, vec![0]);
        let rec = Record {
            topic,
            partition: (i % 3) as i32,
            offset: i as i64,
            timestamp_ms: 0,
            key: None,
            value: Some(&e.value),
        };
        let mut out = Out::default();
        plan.map(0, &rec, 1 << 20, 0, &mut out);
        let today = map(Source { topic, partition: rec.partition, offset: rec.offset }, Some(&e.value), 1 << 20);
        match today {
            Ok(m) => {
                let mut want = Vec::new();
                m.write_json(&mut want);
                assert!(out.dead.is_empty(), "record {i}: {:?}", out.dead);
                assert_eq!(out.rows.len(), 1);
                assert_eq!(String::from_utf8_lossy(&out.rows[0]), String::from_utf8_lossy(&want), "record {i}");
                rows += 1;
            }
            Err(err) => {
                assert!(out.rows.is_empty(), "record {i}: {}", String::from_utf8_lossy(&out.rows[0]));
                assert_eq!(out.dead.len(), 1);
                assert_eq!(out.dead[0].1.reason(), err.reason(), "record {i}: {}", String::from_utf8_lossy(&e.value));
                assert_eq!(out.dead[0].1.to_string(), err.to_string(), "record {i}");
                dead += 1;
            }
        }
    }
    assert!(dead > 4_000 && rows > 90_000, "{rows} rows, {dead} dead letters");
}
