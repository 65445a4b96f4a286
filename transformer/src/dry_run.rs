//! `transformer run-job`: the job over records read from a file, with no broker, printing what a pipeline would
//! write. Each input line is one record, `{"topic", "partition", "offset", "value"}` (`value` the raw text, null for
//! a tombstone; `timestamp` in epoch milliseconds, `key` and `headers` (an object of text values) optional); each output line is a row
//! (`{"sink", "source", "target", "value"}`, `target` where a pipeline with these flags writes it,
//! `kafka:<topic>` or `clickhouse:<database>.<table>`, `value` the exact text a Kafka sink writes), a dead letter
//! (`{"dead_letter": {…}}`) or a row dropped by the NOT NULL enforcer (`{"dropped": {…}}`).

use std::io::{BufRead, Write};
use std::path::Path;

use job::{Outcome, Plan, Record};
use serde::Deserialize;
use serde_json::json;

use crate::config::ConfigError;
use crate::error::Error;

/// One input line.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Line {
    topic: String,
    #[serde(default)]
    partition: i32,
    #[serde(default)]
    offset: i64,
    value: Option<String>,
    #[serde(default)]
    timestamp: Option<i64>,
    #[serde(default)]
    key: Option<String>,
    #[serde(default)]
    headers: Option<std::collections::BTreeMap<String, String>>,
}

/// Maps every record of `input` (`-`: standard input) through `plan`, writing the outcomes to `out`; `targets`
/// names where each of the plan's sinks writes.
pub fn run(
    plan: &Plan,
    targets: &[String],
    input: &Path,
    max_record_bytes: usize,
    out: &mut impl Write,
) -> Result<(), Error> {
    let reader: Box<dyn BufRead> = if input == Path::new("-") {
        Box::new(std::io::stdin().lock())
    } else {
        let file =
            std::fs::File::open(input).map_err(|e| invalid(format!("cannot read --input {}: {e}", input.display())))?;
        Box::new(std::io::BufReader::new(file))
    };
    let now_ms = chrono::Utc::now().timestamp_millis();
    for (n, line) in reader.lines().enumerate() {
        let line = line.map_err(|e| invalid(format!("{}:{}: {e}", input.display(), n + 1)))?;
        if line.trim().is_empty() {
            continue;
        }
        let rec: Line = serde_json::from_str(&line).map_err(|e| {
            invalid(format!(
                "{}:{}: {e}; each line is {{\"topic\": …, \"partition\": …, \"offset\": …, \"value\": \"raw text\" | null}}",
                input.display(),
                n + 1
            ))
        })?;
        let headers: Option<job::map::Headers> =
            rec.headers.as_ref().map(|h| h.iter().map(|(k, v)| (k.clone(), v.clone().into_bytes())).collect());
        let record = Record {
            topic: &rec.topic,
            partition: rec.partition,
            offset: rec.offset,
            timestamp_ms: rec.timestamp.unwrap_or(now_ms),
            key: rec.key.as_deref().map(str::as_bytes),
            value: rec.value.as_deref().map(str::as_bytes),
            headers: headers.as_ref(),
        };
        let source = format!("{}/{}/{}", rec.topic, rec.partition, rec.offset);
        for outcome in plan.map_owned(&record, max_record_bytes, now_ms) {
            let v = match outcome {
                Outcome::Row { sink, json } => {
                    let target = plan.sinks.iter().position(|s| s.name == sink).and_then(|i| targets.get(i));
                    json!({ "sink": sink, "target": target, "source": source, "value": json })
                }
                Outcome::Dead { sink, error } => json!({ "dead_letter": {
                    "sink": sink, "source": source, "reason": error.reason(), "error": error.to_string() } }),
                Outcome::Dropped { sink } => json!({ "dropped": { "sink": sink, "source": source } }),
            };
            writeln!(out, "{v}").map_err(|e| invalid(format!("cannot write the output: {e}")))?;
        }
    }
    Ok(())
}

fn invalid(message: String) -> Error {
    Error::Config(ConfigError::Invalid(message))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prints_rows_and_dead_letters() {
        let plan = Plan::new("seed", include_str!("../../job/tests/data/seed-job.sql")).unwrap();
        let dir = std::env::temp_dir().join(format!("run-job-{}", std::process::id()));
        std::fs::write(
            &dir,
            concat!(
                r#"{"topic":"orders","partition":1,"offset":7,"value":"{\"order_id\":\"o\",\"user_id\":\"u\",\"amount\":12.50,\"timestamp\":\"2024-05-01 10:00:00\"}"}"#,
                "\n",
                r#"{"topic":"orders","partition":1,"offset":8,"value":"{not json"}"#,
                "\n\n",
                r#"{"topic":"elsewhere","partition":0,"offset":0,"value":"{}"}"#,
                "\n"
            ),
        )
        .unwrap();
        let mut out = Vec::new();
        run(&plan, &["kafka:out".to_owned()], &dir, 1 << 20, &mut out).unwrap();
        std::fs::remove_file(&dir).unwrap();
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2, "{text}");
        assert_eq!(
            lines[0],
            r#"{"sink":"processed_events_sink","source":"orders/1/7","target":"kafka:out","value":"{\"event_type\":\"ORDERS\",\"event_timestamp\":\"2024-05-01 10:00:00\",\"user_id\":\"u\",\"details\":\"o | 12.5\"}"}"#
        );
        assert!(lines[1].starts_with(r#"{"dead_letter":{"error":"invalid JSON"#), "{}", lines[1]);
    }
}
