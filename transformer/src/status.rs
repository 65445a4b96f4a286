//! `transformer --status`: a snapshot of the pipeline as Kafka sees it, for scripts/check.sh and for humans.
//! One line per partition, then one `total` line, all `key=value`. `state` is `ok`, `past_end` (the topic was
//! recreated: the transformer resumes at the log start) or `before_log_start` (retention deleted unread records):
//! ```text
//! partition topic=user_clicks partition=0 high_watermark=120 committed=118 lag=2 log_start=0 state=ok
//! total emitted=360 processed=350 dead_letters=4 lag=6
//! ```

use std::fmt::Write as _;

use rskafka::client::Client;

use crate::checkpoint::{Checkpoint, CheckpointStore};
use crate::config::Config;
use crate::source::{bounds, tp_key, PositionProblem};

/// Reads the high watermarks of every topic the pipeline touches and the committed checkpoints of every instance
/// of the group, and renders the report.
pub async fn report(client: &Client, cfg: &Config) -> anyhow::Result<String> {
    let mut committed = Checkpoint::default();
    // Each instance keeps its own checkpoint; together they cover every input partition. No checkpoint topic yet:
    // nothing committed.
    for i in 0..cfg.instances {
        let key = Config { instance: i, ..cfg.clone() }.checkpoint_key();
        let Ok(cp_client) = runtime::kafka::partition_client(client, &cfg.checkpoint_topic, 0).await else {
            break;
        };
        if let Some(cp) = CheckpointStore::new(cp_client, key).load().await? {
            committed.next_offsets.extend(cp.next_offsets);
        }
    }
    let mut out = String::new();
    let (mut emitted, mut lag) = (0i64, 0i64);
    for topic in &cfg.input_topics {
        for p in runtime::kafka::partitions(client, topic).await? {
            let (low, high) = bounds(&runtime::kafka::partition_client(client, topic, p).await?).await?;
            let done = committed.next_offsets.get(&tp_key(topic, p)).copied();
            let (state, l) = PositionProblem::report(done, low, high);
            emitted += high;
            lag += l;
            writeln!(
                out,
                "partition topic={topic} partition={p} high_watermark={high} committed={} lag={l} log_start={low} \
                 state={state}",
                done.unwrap_or(0)
            )?;
        }
    }
    let mut totals = Vec::new();
    for topic in [&cfg.output_topic, &cfg.dead_letter_topic] {
        let mut n = 0;
        for p in runtime::kafka::partitions(client, topic).await.unwrap_or_default() {
            let (_, high) = bounds(&runtime::kafka::partition_client(client, topic, p).await?).await?;
            writeln!(out, "partition topic={topic} partition={p} high_watermark={high}")?;
            n += high;
        }
        totals.push(n);
    }
    writeln!(out, "total emitted={emitted} processed={} dead_letters={} lag={lag}", totals[0], totals[1])?;
    Ok(out)
}
