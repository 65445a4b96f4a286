//! The ClickHouse DDL, embedded from `schema/sql/*.sql`.
//!
//! The files hold `{placeholders}`; [`render`] fills them in and splits the text into single statements (ClickHouse's
//! HTTP interface takes one statement per request). It is the only renderer: `transformer schema` prints its output
//! for scripts/lib.sh and compose, and the tests call it, so every path applies the same SQL.
//!
//! Per record on an output topic (the unified record, the dead letter): its stored table (`01_events.sql`,
//! `02_dead_letters.sql`), then its Kafka path, one template for both (`kafka_path.sql`: the Kafka-engine table and
//! the materialized view). The column lists come from the records' declaration ([`crate::record`]):
//! `{stored_columns}`, `{queue_columns}` (as the JSON is written) and `{select}` (what the view makes of a row).
//! On a current ClickHouse, `03_kafka_errors.sql` comes last.

use crate::record::{Record, DEAD_LETTERS, EVENTS};

/// The template of a record's Kafka path.
const KAFKA_PATH: &str = include_str!("../sql/kafka_path.sql");

/// Applied on a current ClickHouse only: the table of records its Kafka engine could not parse.
const KAFKA_ERRORS: &str = include_str!("../sql/03_kafka_errors.sql");

/// A record's part of the DDL.
struct RecordSql {
    /// The declaration.
    record: Record,
    /// Its stored table's DDL.
    file: &'static str,
    /// The name of its Kafka path: the view is `{name}_mv`, the Kafka table reads as consumer group `{group}_{name}`.
    name: &'static str,
    /// Its topic.
    topic: fn(&SqlParams) -> &str,
}

/// The records, in the order their DDL is applied.
const RECORDS: [RecordSql; 2] = [
    RecordSql::new(EVENTS, include_str!("../sql/01_events.sql"), "events", |p| &p.processed_topic),
    RecordSql::new(DEAD_LETTERS, include_str!("../sql/02_dead_letters.sql"), "dead_letters", |p| &p.dead_letter_topic),
];

impl RecordSql {
    const fn new(record: Record, file: &'static str, name: &'static str, topic: fn(&SqlParams) -> &str) -> Self {
        Self { record, file, name, topic }
    }

    /// `stmt` with this record's placeholders filled.
    fn fill(&self, stmt: &str, p: &SqlParams) -> String {
        let lines = |items: Vec<String>| items.iter().map(|i| format!("    {i}")).collect::<Vec<_>>().join(",\n");
        let r = &self.record;
        let queue_columns = r.fields.iter().map(|f| format!("{} {}", f.name, f.queue_type)).collect();
        let stored_columns = r.stored_columns().map(|c| format!("{} {}", c.name, c.ty)).collect();
        let select = r
            .stored_columns()
            .map(|c| if c.from == c.name { c.name.to_string() } else { format!("{} AS {}", c.from, c.name) })
            .collect();
        stmt.replace("{queue}", r.queue)
            .replace("{stored}", r.stored)
            .replace("{view}", &format!("{}_mv", self.name))
            .replace("{consumer}", self.name)
            .replace("{topic}", (self.topic)(p))
            .replace("{queue_columns}", &lines(queue_columns))
            .replace("{stored_columns}", &lines(stored_columns))
            .replace("{select}", &lines(select))
    }
}

/// Which ClickHouse the DDL is for: the Kafka-engine settings differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ClickHouseVersion {
    /// 18.16 (Debian's, the native run): no per-table flush interval (it is set server-wide), and no way past a
    /// record the engine cannot parse (scripts/check.sh detects that stall and prints the way out).
    #[default]
    V18,
    /// A current release (compose): `kafka_flush_interval_ms` per table, and `kafka_handle_error_mode = 'stream'`:
    /// a record that does not parse goes to the table `kafka_errors` and ingestion goes on.
    Current,
}

impl ClickHouseVersion {
    /// The extra Kafka-engine settings this version takes (`{kafka_extra_settings}`, after the others).
    pub fn kafka_extra_settings(self) -> &'static str {
        match self {
            Self::V18 => "",
            Self::Current => ", kafka_flush_interval_ms = 500, kafka_handle_error_mode = 'stream'",
        }
    }
    /// What the views add after `FROM <Kafka table>` (`{queue_filter}`): with errors streamed, only the rows that
    /// parsed.
    pub fn queue_filter(self) -> &'static str {
        match self {
            Self::V18 => "",
            Self::Current => "\nWHERE length(_error) = 0",
        }
    }
}

/// Values for the placeholders of the DDL.
#[derive(Debug, Clone)]
pub struct SqlParams {
    /// ClickHouse database holding the tables (`{database}`).
    pub database: String,
    /// `host:port` of the Kafka broker as ClickHouse sees it (`{kafka_broker}`).
    pub kafka_broker: String,
    /// Topic of unified records (the `{topic}` of their Kafka path).
    pub processed_topic: String,
    /// Topic of dead letters (the `{topic}` of their Kafka path).
    pub dead_letter_topic: String,
    /// Prefix of ClickHouse's consumer group names (`{group}`).
    pub group: String,
    /// Which ClickHouse (the Kafka-engine settings and the error table differ).
    pub version: ClickHouseVersion,
    /// Only the database and the tables that store rows (see [`render`]).
    pub storage_only: bool,
}

impl Default for SqlParams {
    fn default() -> Self {
        Self {
            database: "default".into(),
            kafka_broker: "127.0.0.1:9092".into(),
            processed_topic: crate::topics::PROCESSED.into(),
            dead_letter_topic: crate::topics::DEAD_LETTERS.into(),
            group: "clickhouse".into(),
            version: ClickHouseVersion::V18,
            storage_only: false,
        }
    }
}

/// The DDL with placeholders filled in, as single statements, in order. With `storage_only`, only the database
/// and the tables that store rows (the direct ClickHouse sink needs no Kafka engine and no materialized view).
pub fn render(p: &SqlParams) -> Vec<String> {
    let mut stmts = Vec::new();
    for r in &RECORDS {
        stmts.extend(split_statements(r.file).iter().map(|s| r.fill(s, p)));
        if !p.storage_only {
            stmts.extend(split_statements(KAFKA_PATH).iter().map(|s| r.fill(s, p)));
        }
    }
    if p.version == ClickHouseVersion::Current && !p.storage_only {
        stmts.extend(split_statements(KAFKA_ERRORS));
    }
    stmts
        .into_iter()
        .map(|stmt| {
            stmt.replace("{database}", &p.database)
                .replace("{kafka_broker}", &p.kafka_broker)
                .replace("{group}", &p.group)
                .replace("{kafka_extra_settings}", p.version.kafka_extra_settings())
                .replace("{queue_filter}", p.version.queue_filter())
        })
        .collect()
}

/// The DDL as one script for `clickhouse-client --multiquery`: the statements of [`render`], each ended by `;`.
pub fn script(p: &SqlParams) -> String {
    render(p).iter().map(|s| format!("{s};\n\n")).collect()
}

/// The columns of `table` as the rendered DDL creates them: `(name, type)` in order. Empty when it creates no such
/// table.
pub fn table_columns(table: &str) -> Vec<(String, String)> {
    let ddl = script(&SqlParams { version: ClickHouseVersion::Current, ..SqlParams::default() });
    let head = format!("CREATE TABLE IF NOT EXISTS default.{table} (");
    let Some(start) = ddl.find(&head).map(|at| at + head.len()) else { return Vec::new() };
    let body = &ddl[start..start + ddl[start..].find("\n)").unwrap_or(0)];
    body.lines()
        .map(|l| l.trim().trim_end_matches(','))
        .filter(|l| !l.is_empty())
        .filter_map(|l| l.split_once(' ').map(|(name, ty)| (name.to_string(), ty.to_string())))
        .collect()
}

/// Splits a file into statements: drops `--` comment lines, splits on `;`.
fn split_statements(text: &str) -> Vec<String> {
    let code: String = text.lines().filter(|l| !l.trim_start().starts_with("--")).collect::<Vec<_>>().join("\n");
    code.split(';').map(str::trim).filter(|s| !s.is_empty()).map(String::from).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_placeholder_is_filled() {
        let stmts = render(&SqlParams::default());
        assert_eq!(stmts.len(), 7, "{stmts:#?}");
        let current = render(&SqlParams { version: ClickHouseVersion::Current, ..SqlParams::default() });
        assert_eq!(current.len(), 10, "and the error table with its two views: {current:#?}");
        for s in &stmts {
            assert!(!s.contains('{') && !s.contains('}'), "unfilled placeholder in {s}");
        }
        assert!(stmts.iter().any(|s| s.contains("kafka_topic_list = 'processed_events'")));
        let storage = render(&SqlParams { storage_only: true, ..SqlParams::default() });
        assert_eq!(storage.len(), 3, "the database and the two stored tables: {storage:#?}");
        assert!(storage.iter().all(|s| !s.contains("Kafka") && !s.contains("VIEW")));
    }

    #[test]
    fn the_script_holds_every_statement_once_and_the_version_settings() {
        let p = SqlParams { version: ClickHouseVersion::Current, ..SqlParams::default() };
        let text = script(&p);
        assert_eq!(text.matches(";\n").count(), render(&p).len());
        assert_eq!(text.matches("kafka_flush_interval_ms = 500").count(), 2, "both Kafka tables: {text}");
        assert_eq!(text.matches("kafka_handle_error_mode = 'stream'").count(), 2, "both Kafka tables: {text}");
        assert_eq!(text.matches("WHERE length(_error) = 0").count(), 2, "both views take only parsed rows: {text}");
        assert_eq!(text.matches("WHERE length(_error) > 0").count(), 2, "and keep the rest: {text}");
        let v18 = script(&SqlParams::default());
        assert!(!v18.contains("kafka_flush_interval_ms") && !v18.contains("_error") && !v18.contains("kafka_errors"));
        let direct = script(&SqlParams { storage_only: true, ..p });
        assert!(!direct.contains("kafka_errors"), "no Kafka engine, no error table: {direct}");
    }
}
