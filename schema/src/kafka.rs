//! Kafka plumbing both binaries need: connect with a deadline (one log line per failed attempt), create topics that
//! are missing, and list a topic's partitions. rskafka retries forever by default; here every request gets a
//! deadline so a dead broker surfaces as an error the caller can act on.

use std::time::{Duration, Instant};

use rskafka::client::{
    error::{Error as RsError, ProtocolError},
    partition::{PartitionClient, UnknownTopicHandling},
    Client, ClientBuilder,
};
use rskafka::BackoffConfig;
use tracing::{info, warn};

/// Errors talking to the broker, with what the user should do about them.
#[derive(Debug, thiserror::Error)]
pub enum KafkaError {
    /// No broker answered before the deadline.
    #[error(
        "cannot reach the Kafka broker at {brokers} after {waited:?}: {source}. Is it running? \
             (scripts/up.sh starts one; --brokers / KAFKA_BROKERS says where it is)"
    )]
    Unreachable {
        /// The bootstrap list tried.
        brokers: String,
        /// How long we tried.
        waited: Duration,
        /// The last error.
        source: RsError,
    },
    /// A request about one topic failed.
    #[error("Kafka request for topic {topic}: {source}")]
    Topic {
        /// The topic concerned.
        topic: String,
        /// The underlying error.
        source: RsError,
    },
    /// A topic the caller needs does not exist.
    #[error("topic {0} does not exist (create it: the emitter and transformer do so with --create-topics)")]
    MissingTopic(String),
}

/// Backoff for single requests: retry quickly, give up after `deadline`.
pub fn backoff(deadline: Duration) -> BackoffConfig {
    BackoffConfig {
        init_backoff: Duration::from_millis(50),
        max_backoff: Duration::from_secs(1),
        base: 2.0,
        deadline: Some(deadline),
    }
}

/// Connects to the broker, retrying every second and logging each failed attempt, for at most `wait`
/// (`Duration::ZERO`: try forever). Each request of the returned client gives up after `request_deadline`.
pub async fn connect(brokers: &[String], wait: Duration, request_deadline: Duration) -> Result<Client, KafkaError> {
    let started = Instant::now();
    let mut attempt = 0u32;
    loop {
        attempt += 1;
        let built = ClientBuilder::new(brokers.to_vec())
            .client_id("etl-rs")
            .backoff_config(backoff(request_deadline.min(Duration::from_secs(3))))
            .build()
            .await;
        match built {
            Ok(_) => break,
            Err(source) => {
                let waited = started.elapsed();
                if !wait.is_zero() && waited >= wait {
                    return Err(KafkaError::Unreachable { brokers: brokers.join(","), waited, source });
                }
                warn!(attempt, brokers = %brokers.join(","), error = %source, "Kafka broker not reachable, retrying in 1 s");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
    // Connected: build the long-lived client with the full request deadline.
    let client = ClientBuilder::new(brokers.to_vec())
        .client_id("etl-rs")
        .backoff_config(backoff(request_deadline))
        .build()
        .await
        .map_err(|source| KafkaError::Unreachable { brokers: brokers.join(","), waited: started.elapsed(), source })?;
    info!(brokers = %brokers.join(","), "connected to Kafka");
    Ok(client)
}

/// Creates each `(topic, partitions)` that does not exist yet. Existing topics are left as they are.
pub async fn ensure_topics(client: &Client, topics: &[(&str, i32)]) -> Result<(), KafkaError> {
    let existing = client.list_topics().await.map_err(|source| KafkaError::Topic { topic: "*".into(), source })?;
    let controller = client.controller_client().map_err(|source| KafkaError::Topic { topic: "*".into(), source })?;
    for &(topic, partitions) in topics {
        if existing.iter().any(|t| t.name == topic) {
            continue;
        }
        match controller.create_topic(topic, partitions, 1, 10_000).await {
            Ok(()) => info!(topic, partitions, "created topic"),
            Err(RsError::ServerError { protocol_error: ProtocolError::TopicAlreadyExists, .. }) => {}
            Err(source) => return Err(KafkaError::Topic { topic: topic.into(), source }),
        }
    }
    Ok(())
}

/// The partition ids of `topic`, sorted.
pub async fn partitions(client: &Client, topic: &str) -> Result<Vec<i32>, KafkaError> {
    let topics = client.list_topics().await.map_err(|source| KafkaError::Topic { topic: topic.into(), source })?;
    let mut ids = topics
        .into_iter()
        .find(|t| t.name == topic)
        .map(|t| t.partitions.into_iter().collect::<Vec<_>>())
        .ok_or_else(|| KafkaError::MissingTopic(topic.into()))?;
    ids.sort_unstable();
    Ok(ids)
}

/// A client for one partition (fails if the topic does not exist).
pub async fn partition_client(client: &Client, topic: &str, partition: i32) -> Result<PartitionClient, KafkaError> {
    client
        .partition_client(topic, partition, UnknownTopicHandling::Error)
        .await
        .map_err(|source| KafkaError::Topic { topic: topic.into(), source })
}
