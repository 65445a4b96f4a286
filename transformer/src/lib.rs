//! The transformer: raw topics in, `processed_events` and `dead_letters` out, offsets committed after acks.
//!
//! # Layout
//! - [`config`]: flags and environment variables.
//! - [`dead_letter`]: the pure dead-letter record for a rejected input.
//! - [`batch`]: one round's fetched records mapped through the job (crate `job`) into output batches (pure).
//! - [`limits`]: how large an output record can get, and what a record batch around it takes.
//! - [`dry_run`]: `transformer run-job`, the job over records from a file, no broker.
//! - [`source`]: input partitions, static assignment, bounded reads.
//! - [`sink`]: where a round goes: the `Sink` seam, Kafka topics ([`sink::kafka`]) or ClickHouse tables
//!   ([`sink::clickhouse`], RowBinary from [`sink::rowbinary`]).
//! - [`checkpoint`]: the offset store seam, and checkpoints in a Kafka topic of our own (`--assignment static`).
//! - [`group`]: positions in a Kafka consumer group (`--assignment group`): partitions shared and moved by the
//!   group coordinator, stale members fenced.
//! - [`recovery`]: the scan of the outputs for what was written after the last commit.
//! - [`ranges`]: offsets as ranges (what that scan found, in little memory).
//! - [`positions`]: the offset store of `--assignment`: the checkpoint topic or the group.
//! - [`pipeline`]: the loop, recovery after a crash, invalid input positions.
//! - [`offsets`]: `transformer offsets show|reset`.
//! - [`endpoints`]: `/metrics`, `/healthz` and the status page.
//! - [`status`]: the `--status` report (offsets and lag as Kafka sees them).
//! - [`metrics`]: counters, the throughput log line and Prometheus text.
//! - [`error`]: what can go wrong, and which errors stop the loop instead of being retried.

pub mod batch;
pub mod checkpoint;
pub mod config;
pub mod dead_letter;
pub mod dry_run;
pub mod endpoints;
pub mod error;
pub mod group;
pub mod limits;
pub mod metrics;
pub mod offsets;
pub mod pipeline;
pub mod positions;
pub mod ranges;
pub mod recovery;
pub mod schema;
pub mod sink;
pub mod source;
pub mod status;

use std::sync::Arc;

pub use config::Config;
pub use error::Error;

/// Connects to `--brokers` within `--connect-timeout-secs`, each request bounded by `--request-timeout-secs`.
pub async fn connect(cfg: &Config) -> Result<rskafka::client::Client, Error> {
    Ok(runtime::kafka::connect(&cfg.brokers, &cfg.security()?, cfg.connect_timeout(), cfg.request_timeout()).await?)
}

/// Starts a pipeline with `cfg` and runs it until `stop` completes (or, with `--init` / `--status`, does that and
/// returns).
pub async fn run(cfg: Config, stop: impl std::future::Future<Output = ()> + Send + 'static) -> Result<(), Error> {
    run_with_metrics(cfg, Arc::new(metrics::Metrics::default()), stop).await
}

/// [`run`], updating `metrics` (which the caller may read or serve meanwhile).
pub async fn run_with_metrics(
    mut cfg: Config,
    metrics: Arc<metrics::Metrics>,
    stop: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), Error> {
    cfg.validate()?;
    let plan = cfg.load_job()?;
    if let Some(config::Command::RunJob { input }) = &cfg.command {
        let targets = cfg.sink_targets();
        return dry_run::run(&plan, &targets, input, cfg.max_record_bytes, &mut std::io::stdout().lock());
    }
    if let Some(config::Command::Schema {
        clickhouse_version,
        database,
        group,
        kafka_broker,
        output,
        fields,
        create_tables,
    }) = &cfg.command
    {
        let args = schema::SchemaArgs {
            version: (*clickhouse_version).into(),
            database,
            group,
            kafka_broker: kafka_broker.as_deref(),
            fields: *fields,
            create_tables: *create_tables,
        };
        let text = schema::run(&cfg, &plan, &args).await?;
        match output {
            Some(path) => std::fs::write(path, text).map_err(|source| Error::Output { path: path.clone(), source })?,
            None => print!("{text}"),
        }
        return Ok(());
    }
    if cfg.input_topics.is_empty() {
        // The job reads by 'topic-pattern': the topics that match, now (new ones are found while running:
        // --partition-discovery-interval-ms).
        let client = connect(&cfg).await?;
        cfg.input_topics = cfg.topics_now(&client).await?;
        if cfg.input_topics.is_empty() {
            return Err(Error::Config(config::ConfigError::Invalid(format!(
                "no topic on {} matches the job's 'topic-pattern': create the topics first (or give --input-topics)",
                cfg.brokers.join(",")
            ))));
        }
        tracing::info!(input_topics = %cfg.input_topics.join(","), "topics matching the job's 'topic-pattern'");
    }
    if let Some(config::Command::Offsets { action }) = &cfg.command {
        let client = connect(&cfg).await?;
        print!("{}", offsets::run(&client, &cfg, action).await?);
        return Ok(());
    }
    if cfg.status {
        let client = connect(&cfg).await?;
        print!("{}", status::report(&client, &cfg).await?);
        return Ok(());
    }
    let stop = runtime::shutdown::flag(stop);
    metrics.started_ms.store(chrono::Utc::now().timestamp_millis(), std::sync::atomic::Ordering::Relaxed);
    if !cfg.init && cfg.http_addr != "off" {
        let (m, max_age) = (Arc::clone(&metrics), std::time::Duration::from_secs(cfg.health_max_age_secs));
        // A round that gathers records for a while succeeds only that often.
        let max_age = max_age + cfg.cadence().gather;
        let mut done = stop.clone();
        let addr = runtime::http::serve(&cfg.http_addr, move |path| endpoints::handle(&m, max_age, path), async move {
            let _ = done.wait_for(|v| *v).await;
        })
        .await
        .map_err(|source| Error::Listen { addr: cfg.http_addr.clone(), source })?;
        *metrics.http_addr.lock().expect("metrics lock poisoned") = Some(addr);
        let (m, mut done) = (Arc::clone(&metrics), stop.clone());
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(std::time::Duration::from_secs(2));
            loop {
                tokio::select! {
                    _ = tick.tick() => m.sample(),
                    _ = done.wait_for(|v| *v) => return,
                }
            }
        });
    }
    match cfg.sink {
        config::SinkKind::Kafka => run_pipeline::<sink::job_sink::JobSink>(cfg, metrics, stop).await,
        config::SinkKind::ClickHouse => run_pipeline::<sink::clickhouse::ClickHouseSink>(cfg, metrics, stop).await,
    }
}

/// Starts the pipeline writing to `S` and runs it until `stop` turns true.
async fn run_pipeline<S: sink::Sink>(
    cfg: Config,
    metrics: Arc<metrics::Metrics>,
    stop: tokio::sync::watch::Receiver<bool>,
) -> Result<(), Error> {
    let mut stopped = stop.clone();
    let started = tokio::select! {
        started = pipeline::Pipeline::<S>::start(cfg, metrics) => started?,
        // SIGTERM while the broker does not answer yet (or recovery runs): nothing was written, nothing to commit.
        _ = stopped.wait_for(|v| *v) => {
            tracing::info!("stopped before the pipeline started: nothing written");
            return Ok(());
        }
    };
    match started {
        Some(pipeline) => pipeline.run(stop).await,
        None => Ok(()),
    }
}
