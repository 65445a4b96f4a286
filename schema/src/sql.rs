//! The ClickHouse DDL, embedded from `schema/sql/*.sql`.
//!
//! The files hold `{placeholders}`; [`render`] fills them in and splits the text into single statements (ClickHouse's
//! HTTP interface takes one statement per request). It is the only renderer: `transformer schema` prints its output
//! for scripts/lib.sh and compose, and the tests call it, so every path applies the same SQL.

/// The DDL files in the order they must be applied.
pub const FILES: [(&str, &str); 3] = [
    ("01_events.sql", include_str!("../sql/01_events.sql")),
    ("02_dead_letters.sql", include_str!("../sql/02_dead_letters.sql")),
    (KAFKA_ERRORS_FILE, include_str!("../sql/03_kafka_errors.sql")),
];

/// The file applied on a current ClickHouse only: the table of records its Kafka engine could not parse.
const KAFKA_ERRORS_FILE: &str = "03_kafka_errors.sql";

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
    /// Topic of unified records (`{processed_topic}`).
    pub processed_topic: String,
    /// Topic of dead letters (`{dead_letter_topic}`).
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
    let errors_table = p.version == ClickHouseVersion::Current && !p.storage_only;
    FILES
        .iter()
        .filter(|(name, _)| *name != KAFKA_ERRORS_FILE || errors_table)
        .flat_map(|(_, text)| split_statements(text))
        .filter(|stmt| !p.storage_only || !(stmt.contains("ENGINE = Kafka") || stmt.contains("MATERIALIZED VIEW")))
        .map(|stmt| {
            stmt.replace("{database}", &p.database)
                .replace("{kafka_broker}", &p.kafka_broker)
                .replace("{processed_topic}", &p.processed_topic)
                .replace("{dead_letter_topic}", &p.dead_letter_topic)
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

/// The columns of `table` as the DDL declares them: `(name, type)` in order. Empty when no file declares it.
pub fn table_columns(table: &str) -> Vec<(String, String)> {
    let head = format!("{{database}}.{table} (");
    let Some((ddl, start)) = FILES.iter().find_map(|(_, text)| text.find(&head).map(|at| (*text, at + head.len())))
    else {
        return Vec::new();
    };
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
