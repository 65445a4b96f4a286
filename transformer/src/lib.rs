//! The transformer: raw topics in, `processed_events` and `dead_letters` out, offsets committed after acks.
//!
//! # Layout
//! - [`config`]: flags and environment variables.
//! - [`map`]: the pure mapping, raw bytes → unified record or [`map::MapError`].
//! - [`dead_letter`]: the pure dead-letter record for a rejected input.
//! - [`source`]: input partitions, static assignment, bounded reads.
//! - [`sink`]: producing batches to an output topic's partitions and collecting the acknowledged ends.
//! - [`checkpoint`]: the offset store (a Kafka topic of JSON checkpoints).
//! - [`pipeline`]: the loop, and recovery after a crash.
//! - [`status`]: the `--status` report (offsets and lag as Kafka sees them).
//! - [`metrics`]: counters, the throughput log line and Prometheus text.

pub mod checkpoint;
pub mod config;
pub mod dead_letter;
pub mod map;
pub mod metrics;
pub mod pipeline;
pub mod sink;
pub mod source;
pub mod status;

use std::sync::Arc;

pub use config::Config;

/// Starts a pipeline with `cfg` and runs it until `stop` completes (or, with `--init` / `--status`, does that and
/// returns).
pub async fn run(cfg: Config, stop: impl std::future::Future<Output = ()> + Send + 'static) -> anyhow::Result<()> {
    run_with_metrics(cfg, Arc::new(metrics::Metrics::default()), stop).await
}

/// [`run`], updating `metrics` (which the caller may read or serve meanwhile).
pub async fn run_with_metrics(
    cfg: Config,
    metrics: Arc<metrics::Metrics>,
    stop: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    cfg.validate()?;
    if cfg.status {
        let client = schema::kafka::connect(&cfg.brokers, cfg.connect_timeout(), cfg.request_timeout()).await?;
        print!("{}", status::report(&client, &cfg).await?);
        return Ok(());
    }
    match pipeline::Pipeline::start(cfg, metrics).await? {
        Some(pipeline) => pipeline.run(schema::shutdown::flag(stop)).await,
        None => Ok(()),
    }
}
