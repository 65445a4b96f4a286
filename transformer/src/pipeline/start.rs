//! Starting a pipeline: connect, create the topics asked for, check the input topics exist, open the sink and the
//! offset store, find the owned partitions (or join the group), and recover from the last checkpoint.

use std::sync::Arc;
use std::time::Instant;

use tracing::{info, warn};

use super::{discover, Pipeline};
use crate::batch::Layout;
use crate::checkpoint::{CheckpointError, CheckpointStore};
use crate::config::{Assignment, Config};
use crate::error::{Error, Result};
use crate::metrics::Metrics;
use crate::positions::Positions;
use crate::sink::Sink;
use crate::source::{open_inputs, Input};

impl<S: Sink> Pipeline<S, Positions> {
    /// Connects, creates topics if asked, opens the owned partitions and recovers from the last checkpoint.
    /// Returns `None` with `--init`, once the topics exist.
    pub async fn start(cfg: Config, metrics: Arc<Metrics>) -> Result<Option<Self>> {
        // The TLS and SASL settings, read once for both clients.
        let security = cfg.security()?;
        let client =
            runtime::kafka::connect(&cfg.brokers, &security, cfg.connect_timeout(), cfg.request_timeout()).await?;
        if cfg.create_topics {
            let outputs = cfg.output_topics();
            // The outputs take the batches --output-max-message-bytes sizes (the broker's default may be smaller).
            let max_message_bytes = cfg.output_max_message_bytes.to_string();
            let sized: &[(&str, &str)] = &[("max.message.bytes", &max_message_bytes)];
            // The input topics only on request (`--init`): a misspelt one must not appear on the user's cluster.
            let mut topics: Vec<runtime::kafka::NewTopic> = if cfg.init {
                cfg.input_topics.iter().map(|t| (t.as_str(), cfg.topic_partitions, &[][..])).collect()
            } else {
                Vec::new()
            };
            if cfg.sink == crate::config::SinkKind::Kafka {
                topics.extend(outputs.iter().map(|t| (t.as_str(), cfg.topic_partitions, sized)));
                topics.push((&cfg.dead_letter_topic, cfg.topic_partitions, sized));
            }
            topics.push((&cfg.checkpoint_topic, 1, &[]));
            runtime::kafka::ensure_topics_configured(&client, &topics).await?;
        }
        if cfg.init {
            info!("topics ready (--init): exiting");
            return Ok(None);
        }
        let there = runtime::kafka::topic_names(&client).await?;
        let missing: Vec<&String> = cfg.input_topics.iter().filter(|t| !there.contains(t)).collect();
        if !missing.is_empty() {
            let mut existing: Vec<&String> = there.iter().filter(|t| !t.starts_with("__")).collect();
            existing.sort();
            return Err(Error::Fatal(format!(
                "the input topic{} {} do{} not exist on {}. Topics there: {}. Fix --input-topics (or the job's \
                 'topic'), or create {} (`transformer --init` creates the input topics too)",
                if missing.len() > 1 { "s" } else { "" },
                missing.iter().map(|t| t.as_str()).collect::<Vec<_>>().join(", "),
                if missing.len() > 1 { "" } else { "es" },
                cfg.brokers.join(","),
                if existing.is_empty() {
                    "none".to_owned()
                } else {
                    existing.iter().map(|t| t.as_str()).collect::<Vec<_>>().join(", ")
                },
                if missing.len() > 1 { "them" } else { "it" },
            )));
        }
        let client = Arc::new(client);
        let sink = S::open(&cfg, &security).await?;
        let log = runtime::kafka::partition_client(&client, &cfg.checkpoint_topic, 0).await?;
        let (store, inputs) = match cfg.assignment() {
            Assignment::Static => (
                Positions::Topic(CheckpointStore::new(log, cfg.checkpoint_key())),
                open_inputs(&client, &cfg.input_topics, cfg.instance, cfg.instances).await?,
            ),
            Assignment::Group => {
                let log = CheckpointStore::new(log, format!("{}/group", cfg.group));
                // The partitions come with the first join, below.
                let group =
                    crate::group::GroupStore::new(&cfg, &security, Arc::clone(&client), log, Arc::clone(&metrics));
                (Positions::Group(Box::new(group)), Vec::new())
            }
        };
        let layout = Layout::new(
            cfg.plan(),
            inputs.iter().map(Input::id).collect(),
            cfg.given.contains("input_topics"),
            cfg.max_record_bytes,
            cfg.dead_letter_max_raw,
        );
        info!(sink = sink.name(), "writing to {}", sink.name());
        let discovery = match cfg.discovery_interval() {
            Some(every) => {
                let known = runtime::kafka::topic_partitions(&client, &cfg.input_topics).await?;
                Some(discover::Discovery::new(every, known))
            }
            None => None,
        };
        let mut p = Self::assemble(cfg, Some(client), layout, inputs, sink, store, metrics);
        p.discovery = discovery;
        // Join the group (if any) and recover. A server that fails meanwhile (a broker restarting while a group
        // settles, which takes seconds) is retried like a connect, for --connect-timeout-secs; what retrying cannot
        // fix (a checkpoint that does not decode, a ClickHouse table of another shape) stops the start at once.
        let (started, wait) = (Instant::now(), p.cfg.connect_timeout());
        let mut backoff = runtime::retry::Backoff::default();
        loop {
            let Err(e) = p.resync().await else { break };
            let bad = matches!(&e, Error::Store(s) if matches!(**s, CheckpointError::Bad { .. }));
            if bad || e.stops() || (!wait.is_zero() && started.elapsed() >= wait) {
                return Err(e);
            }
            p.metrics.error(format!("starting: {e:#}"));
            warn!(error = %format!("{e:#}"), "starting: recovery failed; retrying with backoff");
            tokio::time::sleep(backoff.next_delay()).await;
        }
        Ok(Some(p))
    }
}
