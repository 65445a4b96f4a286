//! Typed configuration of the emitter. Names of the environment variables follow the original demo
//! (MESSAGES_PER_SECOND, PRODUCER_ACKS, PRODUCER_BATCH_SIZE, PRODUCER_LINGER_MS).

use std::time::Duration;

use clap::Parser;

/// Writes fake user_clicks / page_views / orders events to Kafka at a set rate.
#[derive(Debug, Clone, Parser)]
#[command(version, about)]
pub struct Config {
    /// Kafka bootstrap brokers, comma-separated host:port.
    #[arg(long, env = "KAFKA_BROKERS", default_value = "127.0.0.1:9092", value_delimiter = ',')]
    pub brokers: Vec<String>,
    /// TLS and SASL, with librdkafka's names.
    #[command(flatten)]
    pub security: runtime::security::SecurityArgs,
    /// Target rate in events per second; 0 sends as fast as the broker takes them.
    #[arg(long, env = "MESSAGES_PER_SECOND", default_value_t = 100)]
    pub messages_per_second: u64,
    /// Stop after this many events in total (0: run until stopped).
    #[arg(long, env = "TOTAL_MESSAGES", default_value_t = 0)]
    pub total: u64,
    /// Seed of the event stream; the same seed (with --start-time) gives the same records. Random when absent
    /// (the chosen seed is logged).
    #[arg(long, env = "SEED")]
    pub seed: Option<u64>,
    /// Stamp event i with START_TIME + i / rate instead of the current time (RFC 3339), making the stream, and so
    /// its event ids, fully reproducible.
    #[arg(long, env = "START_TIME")]
    pub start_time: Option<chrono::DateTime<chrono::Utc>>,
    /// Timestamp format: `original` ("YYYY-MM-DD HH:MM:SS", whole seconds, as the original demo) or `rfc3339`
    /// (milliseconds, for latency measurements).
    #[arg(long, env = "TIMESTAMP_FORMAT", default_value = "original", value_parser = ["original", "rfc3339"])]
    pub timestamp_format: String,
    /// Continue the stream of --seed after its last recorded progress, re-sending exactly what a crash cut from the
    /// last batch (needs --start-time for that; see the progress module): no event is repeated or skipped.
    #[arg(long, env = "RESUME", default_value_t = false, action = clap::ArgAction::Set, requires = "seed")]
    pub resume: bool,
    /// Topic of the emitter's progress records (one partition; created if missing).
    #[arg(long, env = "EMITTER_PROGRESS_TOPIC", default_value = "emitter_progress")]
    pub progress_topic: String,
    /// all / -1 / 1: wait for the broker's acknowledgement of each batch (rskafka always asks for acks=all,
    /// which on one broker is the same as 1); 0: do not wait.
    #[arg(long, env = "PRODUCER_ACKS", default_value = "all", value_parser = ["all", "-1", "1", "0"])]
    pub acks: String,
    /// Most events per produce batch.
    #[arg(long, env = "PRODUCER_BATCH_SIZE", default_value_t = 500, value_parser = clap::value_parser!(u64).range(1..))]
    pub batch_size: u64,
    /// Compression of produced batches: none, gzip, snappy, lz4 or zstd (all pure Rust).
    #[arg(long, env = "COMPRESSION", value_enum, default_value_t = runtime::kafka::CompressionArg::None)]
    pub compression: runtime::kafka::CompressionArg,
    /// How long events may wait to be batched, in milliseconds.
    #[arg(long, env = "PRODUCER_LINGER_MS", default_value_t = 5)]
    pub linger_ms: u64,
    /// Share of records (0.0..=1.0) made malformed on purpose, to exercise the dead-letter path.
    #[arg(long, env = "MALFORMED_RATIO", default_value_t = 0.0)]
    pub malformed_ratio: f64,
    /// Partitions of raw topics created by the emitter.
    #[arg(long, env = "TOPIC_PARTITIONS", default_value_t = 3, value_parser = clap::value_parser!(i32).range(1..))]
    pub topic_partitions: i32,
    /// Prefix of the raw topic names (for tests that need topics of their own); empty in production.
    #[arg(long, env = "TOPIC_PREFIX", default_value = "")]
    pub topic_prefix: String,
    /// Give up starting when the broker has not answered for this many seconds (0: retry forever).
    #[arg(long, env = "CONNECT_TIMEOUT_SECS", default_value_t = 0)]
    pub connect_timeout_secs: u64,
    /// A single produce request gives up after this many seconds (then the batch is retried).
    #[arg(long, env = "REQUEST_TIMEOUT_SECS", default_value_t = 30)]
    pub request_timeout_secs: u64,
    /// Print the stream instead of sending it: one line per event of `[0, --total)` with its index, topic and
    /// event id (or `malformed`), then exit. Needs no broker. With --seed and --start-time this is exactly the set of
    /// ids a run sends (scripts/chaos.sh compares it with ClickHouse).
    #[arg(long)]
    pub list_ids: bool,
    /// Address of the HTTP endpoints (/metrics, /healthz); `off` disables them.
    #[arg(long, env = "EMITTER_HTTP_ADDR", default_value = "127.0.0.1:9465")]
    pub http_addr: String,
    /// Log format: text or json.
    #[arg(long, env = "LOG_FORMAT", value_enum, default_value_t = runtime::logging::LogFormat::Text)]
    pub log_format: runtime::logging::LogFormat,
    /// Print the actual rate every this many seconds.
    #[arg(long, env = "STATS_INTERVAL_SECS", default_value_t = 5)]
    pub stats_interval_secs: u64,
}

impl Config {
    /// Whether to wait for acknowledgements.
    pub fn wait_for_acks(&self) -> bool {
        self.acks != "0"
    }
    /// Linger as a duration (at least 1 ms).
    pub fn linger(&self) -> Duration {
        Duration::from_millis(self.linger_ms.max(1))
    }
    /// The raw topic names with the prefix applied, in [`contract::topics::RAW`] order.
    pub fn topics(&self) -> [String; 3] {
        contract::topics::RAW.map(|t| format!("{}{t}", self.topic_prefix))
    }
    /// The event generator these flags describe.
    pub fn generator(&self, seed: u64) -> crate::generate::Generator {
        crate::generate::Generator::new(seed, self.start_time, self.messages_per_second, self.malformed_ratio)
            .with_rfc3339(self.timestamp_format == "rfc3339")
    }
    /// Checks what clap cannot.
    pub fn validate(&self) -> Result<(), crate::Error> {
        runtime::kafka::check_brokers(&self.brokers).map_err(crate::Error::Config)?;
        self.security.resolve()?;
        if self.list_ids && self.total == 0 {
            return Err(crate::Error::Config("--list-ids needs --total".into()));
        }
        if self.list_ids && self.start_time.is_none() {
            return Err(crate::Error::Config(
                "--list-ids needs --start-time (without it ids depend on the clock)".into(),
            ));
        }
        if self.batch_size == 0 {
            return Err(crate::Error::Config("--batch-size must be at least 1".into()));
        }
        if !(0.0..=1.0).contains(&self.malformed_ratio) {
            return Err(crate::Error::Config(format!(
                "--malformed-ratio must be between 0.0 and 1.0, got {}",
                self.malformed_ratio
            )));
        }
        Ok(())
    }
}
