//! Partition discovery (`--partition-discovery-interval-ms`, the job's `scan.topic-partition-discovery.interval`):
//! every so often the loop lists the input topics' partitions again (for a job that reads by `topic-pattern`, the
//! topics that match too). Partitions added since are read from their first record, as Flink reads them: a static
//! single instance takes them at once (a recovery from the last checkpoint follows, as after a rebalance); a group
//! member rejoins, and the group deals every partition anew. With `--instances` above 1 the static assignment is
//! dealt at start only (moving partitions between instances that do not coordinate could let two write one), so
//! the new partitions are reported loudly, with what to do.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use tracing::{error, info};

use super::Pipeline;
use crate::checkpoint::OffsetStore;
use crate::config::Assignment;
use crate::error::Result;
use crate::sink::Sink;
use crate::source::{assign, tp_key};

/// When the partitions were last listed, and what they were.
pub(super) struct Discovery {
    every: Duration,
    last: Instant,
    known: BTreeSet<(String, i32)>,
}

impl Discovery {
    /// Looking every `every`, starting from the partitions `known` now.
    pub(super) fn new(every: Duration, known: impl IntoIterator<Item = (String, i32)>) -> Self {
        Self { every, last: Instant::now(), known: known.into_iter().collect() }
    }
}

impl<S: Sink, O: OffsetStore> Pipeline<S, O> {
    /// Lists the input partitions when it is time to, and takes on those added since (see the module's doc).
    pub(super) async fn discover(&mut self) -> Result<()> {
        let (Some(d), Some(client)) = (&mut self.discovery, self.client.clone()) else { return Ok(()) };
        if d.last.elapsed() < d.every {
            return Ok(());
        }
        d.last = Instant::now();
        let topics = self.cfg.topics_now(&client).await?;
        let all = runtime::kafka::topic_partitions(&client, &topics).await?;
        let added: Vec<(String, i32)> = all.iter().filter(|tp| !d.known.contains(*tp)).cloned().collect();
        if added.is_empty() {
            return Ok(());
        }
        let keys: Vec<String> = added.iter().map(|(t, p)| tp_key(t, *p)).collect();
        d.known.extend(added);
        self.new_partitions.extend(keys.iter().cloned());
        self.cfg.input_topics = topics.clone();
        match self.cfg.assignment() {
            Assignment::Group => {
                info!(partitions = ?keys, "new input partitions: rejoining the group, which deals them out");
                self.store.rediscovered(&topics);
            }
            Assignment::Static if self.cfg.instances == 1 => {
                info!(partitions = ?keys, "new input partitions: reading them from their first record");
                self.take_partitions(assign(&all, 0, 1)).await?;
            }
            Assignment::Static => {
                let msg = format!(
                    "new input partitions {} are read by no instance: with --instances {} the partitions are dealt \
                     at start only; restart every instance (or use --assignment group)",
                    keys.join(", "),
                    self.cfg.instances
                );
                self.metrics.error(msg.clone());
                error!(partitions = ?keys, "{msg}");
            }
        }
        Ok(())
    }
}
