//! The ClickHouse DDL, embedded from `schema/sql/*.sql`.
//!
//! The files hold `{placeholders}`; [`render`] fills them in and splits the text into single statements (ClickHouse's
//! HTTP interface takes one statement per request). `scripts/lib.sh` fills in the same placeholders with sed, so the
//! native run, compose and the tests all apply the same SQL.

/// The DDL files in the order they must be applied.
pub const FILES: [(&str, &str); 2] = [
    ("01_events.sql", include_str!("../sql/01_events.sql")),
    ("02_dead_letters.sql", include_str!("../sql/02_dead_letters.sql")),
];

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
        }
    }
}

/// The DDL with placeholders filled in, as single statements, in order.
pub fn render(p: &SqlParams) -> Vec<String> {
    FILES
        .iter()
        .flat_map(|(_, text)| split_statements(text))
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
    }
}
