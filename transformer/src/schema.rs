//! `transformer schema`: the ClickHouse DDL, printed, and with `--create-tables` run on ClickHouse. Without
//! `--job`, the product's tables (schema/sql, rendered by `contract::sql`); with `--job`, each sink's tables as
//! the plan declares them (`job::ddl`).

use crate::config::{self, Config};
use crate::error::Error;
use crate::sink::clickhouse::statement_client;

/// What `schema` was asked for.
pub struct SchemaArgs<'a> {
    /// Which ClickHouse.
    pub version: contract::sql::ClickHouseVersion,
    /// The database of the tables (and of job sinks that name none).
    pub database: &'a str,
    /// Prefix of ClickHouse's consumer group names.
    pub group: &'a str,
    /// The broker as ClickHouse reaches it.
    pub kafka_broker: Option<&'a str>,
    /// The field table instead of the DDL.
    pub fields: bool,
    /// Run the DDL too.
    pub create_tables: bool,
}

/// Statements for one ClickHouse server.
struct Batch {
    server: config::ClickHouseArgs,
    statements: Vec<String>,
}

/// Prints (or returns, for `--output`) the DDL, and runs it with `--create-tables`.
pub async fn run(cfg: &Config, plan: &job::Plan, args: &SchemaArgs<'_>) -> Result<String, Error> {
    if args.fields {
        return Ok(contract::record::markdown_table());
    }
    let kafka_broker = args.kafka_broker.map(str::to_owned).unwrap_or_else(|| cfg.brokers[0].clone());
    let batches = if cfg.job.is_none() {
        let params = contract::sql::SqlParams {
            database: args.database.to_owned(),
            kafka_broker,
            processed_topic: cfg.output_topic.clone(),
            dead_letter_topic: cfg.dead_letter_topic.clone(),
            group: args.group.to_owned(),
            version: args.version,
            storage_only: cfg.sink == config::SinkKind::ClickHouse,
        };
        vec![Batch { server: cfg.clickhouse.clone(), statements: contract::sql::render(&params) }]
    } else {
        let database_wins = cfg.given.contains("clickhouse_database");
        let params = job::ddl::DdlParams {
            database: if database_wins { cfg.clickhouse.clickhouse_database.clone() } else { args.database.to_owned() },
            database_wins,
            kafka_broker,
            group: args.group.to_owned(),
            version: args.version,
            // A job with one Kafka sink writes --output-topic when it is given (config.rs, apply_job).
            kafka_topic: (plan.sinks.len() == 1 && cfg.given.contains("output_topic"))
                .then(|| cfg.output_topic.clone()),
        };
        let mut batches = Vec::new();
        for sink in &plan.sinks {
            let statements = job::ddl::render_sink(sink, &params)
                .map_err(|e| Error::Config(config::ConfigError::Invalid(format!("{}: {e}", plan.file))))?;
            let server = match sink.clickhouse() {
                Some(t) => cfg.clickhouse_for(t),
                None => cfg.clickhouse.clone(),
            };
            batches.push(Batch { server, statements });
        }
        batches
    };
    if args.create_tables {
        for b in &batches {
            let client = statement_client(&b.server)?;
            for stmt in &b.statements {
                client.query(stmt).execute().await.map_err(|source| Error::ClickHouse {
                    what: format!(
                        "running the DDL on {} ({})",
                        b.server.clickhouse_url,
                        stmt.lines().next().unwrap_or_default()
                    ),
                    source,
                })?;
            }
            tracing::info!(url = %b.server.clickhouse_url, statements = b.statements.len(), "DDL run");
        }
    }
    let all = batches.into_iter().flat_map(|b| b.statements).collect();
    Ok(job::ddl::without_repeats(all).iter().map(|s| format!("{s};\n\n")).collect())
}
