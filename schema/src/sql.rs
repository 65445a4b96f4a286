//! The ClickHouse DDL, embedded from `schema/sql/*.sql`.
//!
//! The files hold `{placeholders}`; [`render`] fills them in and splits the text into single statements (ClickHouse's
//! HTTP interface takes one statement per request). It is the only renderer: `transformer schema` prints its output
//! for scripts/lib.sh and compose, and the tests call it, so every path applies the same SQL.

/// The DDL files in the order they must be applied.
pub const FILES: [(&str, &str); 2] = [
    ("01_events.sql", include_str!("../sql/01_events.sql")),
    ("02_dead_letters.sql", include_str!("../sql/02_dead_letters.sql")),
];

/// Which ClickHouse the DDL is for: the Kafka-engine settings differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClickHouseVersion {
    /// 18.16 (Debian's, the native run): no per-table flush interval (it is set server-wide).
    V18,
    /// A current release (compose): `kafka_flush_interval_ms` per table.
    Current,
}

impl ClickHouseVersion {
    /// The extra Kafka-engine settings this version takes (see [`SqlParams::kafka_extra_settings`]).
    pub fn kafka_extra_settings(self) -> &'static str {
        match self {
            Self::V18 => "",
            Self::Current => ", kafka_flush_interval_ms = 500",
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
    /// Extra Kafka-engine settings, starting with a comma, or empty. ClickHouse 18.16 accepts none; a current
    /// ClickHouse wants `, kafka_flush_interval_ms = 500` for sub-second latency.
    pub kafka_extra_settings: String,
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
            kafka_extra_settings: String::new(),
            storage_only: false,
        }
    }
}

/// The DDL with placeholders filled in, as single statements, in order. With `storage_only`, only the database
/// and the tables that store rows (the direct ClickHouse sink needs no Kafka engine and no materialized view).
pub fn render(p: &SqlParams) -> Vec<String> {
    FILES
        .iter()
        .flat_map(|(_, text)| split_statements(text))
        .filter(|stmt| !p.storage_only || !(stmt.contains("ENGINE = Kafka") || stmt.contains("MATERIALIZED VIEW")))
        .map(|stmt| {
            stmt.replace("{database}", &p.database)
                .replace("{kafka_broker}", &p.kafka_broker)
                .replace("{processed_topic}", &p.processed_topic)
                .replace("{dead_letter_topic}", &p.dead_letter_topic)
                .replace("{group}", &p.group)
                .replace("{kafka_extra_settings}", &p.kafka_extra_settings)
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
        let p = SqlParams {
            kafka_extra_settings: ClickHouseVersion::Current.kafka_extra_settings().into(),
            ..SqlParams::default()
        };
        let text = script(&p);
        assert_eq!(text.matches(";\n").count(), render(&p).len());
        assert_eq!(text.matches("kafka_flush_interval_ms = 500").count(), 2, "both Kafka tables: {text}");
        assert!(!script(&SqlParams::default()).contains("kafka_flush_interval_ms"));
    }
}
