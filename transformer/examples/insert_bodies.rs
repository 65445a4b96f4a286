//! Writes the exact INSERT bodies the direct ClickHouse sink sends for a few sample records (RowBinary, with the
//! column list of each INSERT), and the JSON the Kafka sink writes for the same records, into a folder.
//! scripts/release-checks.sh replays both into a current ClickHouse (chdb) and compares the rows they make.
//!   cargo run -p transformer --example insert_bodies -- DIR

use std::collections::BTreeMap;

use contract::record::{DEAD_LETTERS, EVENTS};
use rskafka::record::{Record, RecordAndOffset};
use transformer::batch::{prepare, Layout};
use transformer::ranges::Written;
use transformer::sink::clickhouse::ClickHouseRound;
use transformer::sink::job_sink::JobRound;
use transformer::sink::rowbinary::columns;

/// `(topic, partition, offset, raw value)`: one event of each kind, nulls and a non-ASCII string among them, and a
/// record that is not JSON (a dead letter).
const SAMPLES: [(&str, i32, i64, &str); 4] = [
    (
        "orders",
        1,
        42,
        r#"{"user_id":"u-1","timestamp":"2024-05-01 10:00:00.250","order_id":"o-1","amount":12.3,"ip_address":"10.0.0.1"}"#,
    ),
    ("user_clicks", 0, 5, r#"{"user_id":"u-2","timestamp":"2024-05-01 10:00:01","url":"/ä?q=1","element_id":"btn-1"}"#),
    ("page_views", 2, 9, r#"{"user_id":"","timestamp":"2024-05-01 10:00:02.5","url":"/p","duration_seconds":30}"#),
    ("orders", 2, 7, "{"),
];

fn main() -> std::io::Result<()> {
    let dir = std::path::PathBuf::from(std::env::args().nth(1).expect("usage: insert_bodies DIR"));
    std::fs::create_dir_all(&dir)?;
    let plan = std::sync::Arc::new(job::Plan::new(job::DEFAULT_JOB_NAME, job::DEFAULT_JOB).expect("the default job"));
    let inputs = SAMPLES.iter().map(|(t, p, ..)| (t.to_string(), *p)).collect();
    let layout = Layout::new(plan, inputs, false, 512_000, 65_536);
    let fetched = || -> Vec<Vec<RecordAndOffset>> {
        SAMPLES
            .iter()
            .map(|(_, _, offset, raw)| {
                let record = Record {
                    key: None,
                    value: Some(raw.as_bytes().to_vec()),
                    headers: BTreeMap::new(),
                    timestamp: chrono::Utc::now(),
                };
                vec![RecordAndOffset { record, offset: *offset }]
            })
            .collect()
    };
    let skips = || vec![Written::default(); SAMPLES.len()];
    let now = chrono::Utc::now();
    let now_ms = now.timestamp_millis();
    let direct = prepare(&layout, fetched(), &mut skips(), ClickHouseRound::new(now), now_ms);
    let (events, dead) = direct.out.bodies();
    std::fs::write(dir.join("events_processed.bin"), events)?;
    std::fs::write(dir.join("dead_letters.bin"), dead)?;
    let structure = |cols: &[(&str, &str)]| cols.iter().map(|(c, t)| format!("{c} {t}")).collect::<Vec<_>>().join(", ");
    std::fs::write(dir.join("events_processed.columns"), structure(&columns(&EVENTS)))?;
    std::fs::write(dir.join("dead_letters.columns"), structure(&columns(&DEAD_LETTERS)))?;
    let kafka = prepare(&layout, fetched(), &mut skips(), JobRound::new(&[(1, false)], 1, usize::MAX, now), now_ms);
    let lines = |records: &[Vec<Record>]| -> Vec<u8> {
        records.iter().flatten().flat_map(|r| [r.value.as_deref().unwrap_or_default(), b"\n"].concat()).collect()
    };
    std::fs::write(dir.join("events_queue.jsonl"), lines(kafka.out.topic(0)))?;
    std::fs::write(dir.join("dead_letters_queue.jsonl"), lines(&kafka.out.dead))?;
    println!("{} events and {} dead letters in {}", direct.records_out, direct.reasons.len(), dir.display());
    Ok(())
}
