//! The baseline: copy every record of the input topics (up to their high watermarks at start) to `--output-topic`
//! with plain rskafka fetch and produce, in rounds like the transformer's, with no mapping and no commits.
//! With `--pad-to` the copy writes records as large as the transformer's output, still without mapping: what any
//! transformer writing those records could reach at best. With `--fetch-only` it fetches and decodes the records
//! and writes nothing: `scripts/bench.sh` prices fetching and producing apart with it.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Parser;
use futures::future::join_all;
use rskafka::client::partition::{Compression, OffsetAt};
use rskafka::record::Record;
use transformer::sink::kafka::route;
use transformer::sink::kafka::Topic;
use transformer::source::{fetch, Input};

/// The same allocator as the binaries: the baseline pays what the transformer pays for memory.
#[global_allocator]
static ALLOC: dlmalloc::GlobalDlmalloc = dlmalloc::GlobalDlmalloc;

/// Copies the raw topics to another topic, as fast as the broker allows.
#[derive(Parser)]
struct Args {
    /// Bootstrap brokers.
    #[arg(long, default_value = "127.0.0.1:9092")]
    brokers: String,
    /// Topics to copy.
    #[arg(long, default_value = "user_clicks,page_views,orders", value_delimiter = ',')]
    input_topics: Vec<String>,
    /// Destination topic (created with 3 partitions if missing).
    #[arg(long, default_value = "baseline_copy")]
    output_topic: String,
    /// Most bytes per partition fetch (the transformer's default).
    #[arg(long, default_value_t = 1_048_576)]
    fetch_max_bytes: i32,
    /// Pad every copied value with spaces to at least this many bytes (JSON stays valid); 0 copies as is.
    #[arg(long, default_value_t = 0)]
    pad_to: usize,
    /// Fetch and decode every record, produce nothing.
    #[arg(long)]
    fetch_only: bool,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let client = runtime::kafka::connect(
        std::slice::from_ref(&args.brokers),
        &runtime::security::Security::default(),
        Duration::from_secs(20),
        Duration::from_secs(30),
    )
    .await?;
    runtime::kafka::ensure_topics(&client, &[(args.output_topic.as_str(), 3)]).await?;
    let mut inputs = Vec::new();
    let mut ends = Vec::new();
    for topic in &args.input_topics {
        for p in runtime::kafka::partitions(&client, topic).await? {
            let pc = Arc::new(runtime::kafka::partition_client(&client, topic, p).await?);
            ends.push(pc.get_offset(OffsetAt::Latest).await?);
            inputs.push(Input {
                next_offset: pc.get_offset(OffsetAt::Earliest).await?,
                client: transformer::source::Partition::Kafka(pc),
                high_watermark: 0,
            });
        }
    }
    let sink = Topic::open(&client, &args.output_topic, Compression::NoCompression).await?;
    let total: i64 = ends.iter().zip(&inputs).map(|(e, i)| e - i.next_offset).sum();
    let started = Instant::now();
    let (mut copied, mut rounds) = (0i64, 0u64);
    while inputs.iter().zip(&ends).any(|(i, e)| i.next_offset < *e) {
        let fetched = join_all(inputs.iter_mut().map(|i| fetch(i, args.fetch_max_bytes, 100))).await;
        let mut batches = vec![Vec::new(); sink.partitions.len()];
        let now = chrono::Utc::now();
        for (idx, records) in fetched.into_iter().enumerate() {
            let (input, end) = (&mut inputs[idx], ends[idx]);
            let records = match records? {
                transformer::source::Fetched::Records(records) => records,
                transformer::source::Fetched::Invalid(p) => anyhow::bail!("{}: {p}", input.client.topic()),
            };
            for r in records {
                if r.offset >= end {
                    break;
                }
                input.next_offset = r.offset + 1;
                batches[route(input.client.partition(), sink.partitions.len())].push(Record {
                    key: r.record.key,
                    value: r.record.value.map(|mut v| {
                        if v.len() < args.pad_to {
                            v.resize(args.pad_to, b' ');
                        }
                        v
                    }),
                    headers: BTreeMap::new(),
                    timestamp: now,
                });
                copied += 1;
            }
        }
        if !args.fetch_only {
            sink.produce(batches).await?;
        }
        rounds += 1;
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "copy-baseline: copied={copied} of {total} rounds={rounds} seconds={secs:.3} records_per_s={:.0}",
        copied as f64 / secs
    );
    Ok(())
}
