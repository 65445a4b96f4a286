//! `transformer --status`: a snapshot of the pipeline as Kafka sees it, for scripts/check.sh and for humans.
//! One line per partition, then one `total` line, all `key=value`. `state` is `ok`, `past_end` (the topic was
//! recreated: the transformer resumes at the log start) or `before_log_start` (retention deleted unread records):
//! ```text
//! partition topic=user_clicks partition=0 high_watermark=120 committed=118 lag=2 log_start=0 state=ok
//! total emitted=360 processed=350 dead_letters=4 lag=6
//! ```
//! With `--assignment group` the positions are the group's committed offsets, and a `group` line and one `member`
//! line per member come first (from DescribeGroups; a broker that leaves a member's partitions out prints none).

use std::fmt::Write as _;

use rskafka::client::Client;

use crate::checkpoint::{Checkpoint, CheckpointStore};
use crate::config::Config;
use crate::error::Result;
use crate::source::{bounds, tp_key, PositionProblem};

/// Reads the high watermarks of every topic the pipeline touches and the committed checkpoints of every instance
/// of the group, and renders the report.
pub async fn report(client: &Client, cfg: &Config) -> Result<String> {
    let mut out = String::new();
    if cfg.assignment() == crate::config::Assignment::Group {
        let (committed, text) = group_positions(client, cfg).await?;
        out.push_str(&text);
        return partitions(client, cfg, &committed, out).await;
    }
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
    partitions(client, cfg, &committed, out).await
}

/// The group's committed offsets for every input partition, and the `group` and `member` lines.
async fn group_positions(client: &Client, cfg: &Config) -> Result<(Checkpoint, String)> {
    let member = crate::group::outsider(cfg)?;
    let all = runtime::kafka::topic_partitions(client, &cfg.input_topics).await?;
    let mut cp = Checkpoint::default();
    for ((t, p), c) in member.committed(&all).await? {
        cp.next_offsets.insert(tp_key(&t, p), c.offset);
    }
    let d = member.describe().await?;
    let mut out = String::new();
    writeln!(out, "group name={} state={} protocol={} members={}", cfg.group, d.state, d.protocol, d.members.len())?;
    for (id, client_id, host, parts) in &d.members {
        let parts: Vec<String> = parts.iter().map(|(t, p)| tp_key(t, *p)).collect();
        writeln!(out, "member id={id} client={client_id} host={host} partitions={}", parts.join(","))?;
    }
    Ok((cp, out))
}

/// The partition lines and the total, against `committed`.
async fn partitions(client: &Client, cfg: &Config, committed: &Checkpoint, mut out: String) -> Result<String> {
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
    // The job's output topics count together as `processed`.
    let mut processed = 0;
    for topic in cfg.output_topics() {
        processed += high_watermarks(client, &topic, &mut out).await?;
    }
    let dead = high_watermarks(client, &cfg.dead_letter_topic, &mut out).await?;
    writeln!(out, "total emitted={emitted} processed={processed} dead_letters={dead} lag={lag}")?;
    Ok(out)
}

/// Lists the high watermark of each partition of `topic` (none when it does not exist) into `out`; returns their sum.
async fn high_watermarks(client: &Client, topic: &str, out: &mut String) -> Result<i64> {
    let mut n = 0;
    for p in runtime::kafka::partitions(client, topic).await.unwrap_or_default() {
        let (_, high) = bounds(&runtime::kafka::partition_client(client, topic, p).await?).await?;
        writeln!(out, "partition topic={topic} partition={p} high_watermark={high}")?;
        n += high;
    }
    Ok(n)
}
