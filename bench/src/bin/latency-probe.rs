//! End-to-end latency: polls ClickHouse every `--poll-ms` for rows of a 1-in-`--sample` sample of event ids, and
//! takes, for each row the first time it is seen, `seen_at - event_time`. Prints p50/p99/max in ms. The emitter must
//! stamp events with the current time in milliseconds (`--timestamp-format rfc3339`).
//!
//! `seen_at` is when the query that first returned the row was sent: the row was queryable by then (a query reads
//! what was committed when it starts), and the query before it, sent one poll interval plus one query earlier, did
//! not see it. So each figure is an upper bound, too high by at most that interval; taking the time the answer
//! arrived instead would add the query's own duration (tens of ms on a loaded machine) to every figure.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use clap::Parser;

/// Measures emit → queryable latency.
#[derive(Parser)]
struct Args {
    /// ClickHouse HTTP URL.
    #[arg(long, default_value = "http://127.0.0.1:8123")]
    clickhouse_url: String,
    /// Database holding events_processed.
    #[arg(long, default_value = "default")]
    database: String,
    /// How long to measure.
    #[arg(long, default_value_t = 60)]
    seconds: u64,
    /// Keep one event id in this many.
    #[arg(long, default_value_t = 20)]
    sample: u64,
    /// Pause between the end of one query and the start of the next.
    #[arg(long, default_value_t = 50)]
    poll_ms: u64,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let ch = clickhouse::Client::default().with_url(&args.clickhouse_url).with_validation(false);
    let sql = format!(
        "SELECT toString(event_id), toUInt64(event_time_ms) FROM (SELECT event_id, toUInt64(toUnixTimestamp(event_timestamp)) * 1000 + event_timestamp_ms AS event_time_ms, inserted_at FROM {}.events_processed WHERE inserted_at >= now() - 30 AND cityHash64(toString(event_id)) % {} = 0)",
        args.database, args.sample
    );
    let started = Instant::now();
    let first_ms = chrono::Utc::now().timestamp_millis();
    let mut seen = HashSet::new();
    let mut latencies = Vec::new();
    let mut query_ms = Vec::new();
    while started.elapsed() < Duration::from_secs(args.seconds) {
        let now = chrono::Utc::now().timestamp_millis();
        let sent = Instant::now();
        let rows: Vec<(String, u64)> = ch.query(&sql).fetch_all().await?;
        query_ms.push(sent.elapsed().as_millis() as u64);
        for (id, t) in rows {
            // Rows emitted before the probe started would count their wait for the probe: skip them.
            if seen.insert(id) && t as i64 >= first_ms {
                latencies.push(now - t as i64);
            }
        }
        tokio::time::sleep(Duration::from_millis(args.poll_ms)).await;
    }
    anyhow::ensure!(!latencies.is_empty(), "no rows arrived in {} s", args.seconds);
    latencies.sort_unstable();
    query_ms.sort_unstable();
    let q = |p: f64| latencies[((latencies.len() as f64 * p) as usize).min(latencies.len() - 1)];
    println!(
        "latency-probe: samples={} p50_ms={} p90_ms={} p99_ms={} max_ms={} poll_ms={} query_p50_ms={}",
        latencies.len(),
        q(0.5),
        q(0.9),
        q(0.99),
        latencies[latencies.len() - 1],
        args.poll_ms,
        query_ms[query_ms.len() / 2]
    );
    Ok(())
}
