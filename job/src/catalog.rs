//! The tables a job declares, checked: which columns each has, what its `WITH` options mean, and whether we
//! support them. Options are validated against a table of known keys, so a misspelt option is an error that lists
//! what is supported, never a silent default.

use std::collections::BTreeMap;

use crate::error::{Pos, Problem};
use crate::parse::{ColumnKind, TableDef};
use crate::types::Type;

/// Connector metadata a Kafka source can read (`METADATA FROM 'key'`), with its type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Meta {
    /// `topic` STRING
    Topic,
    /// `partition` INT
    Partition,
    /// `offset` BIGINT
    Offset,
    /// `timestamp` TIMESTAMP_LTZ(3): the record's timestamp
    Timestamp,
    /// `timestamp-type` STRING: `CreateTime` or `LogAppendTime`
    TimestampType,
    /// `leader-epoch` INT (NULL: not known to the client)
    LeaderEpoch,
    /// `key` BYTES: the record key (etl-rs; Flink reads keys with `key.format`)
    Key,
    /// `etl.event-id` STRING: the stable id of the record (a hash of topic and value)
    EventId,
    /// `etl.raw` STRING: the record's value as text
    Raw,
    /// `headers` MAP<STRING, BYTES>: the record's headers (`MAP<STRING, STRING>` reads them as UTF-8 text)
    Headers,
}

impl Meta {
    fn of(key: &str) -> Option<(Meta, Type)> {
        Some(match key {
            "topic" => (Meta::Topic, Type::String),
            "partition" => (Meta::Partition, Type::Int),
            "offset" => (Meta::Offset, Type::BigInt),
            "timestamp" => (Meta::Timestamp, Type::TimestampLtz(3)),
            "timestamp-type" => (Meta::TimestampType, Type::String),
            "leader-epoch" => (Meta::LeaderEpoch, Type::Int),
            "key" => (Meta::Key, Type::Bytes),
            "etl.event-id" => (Meta::EventId, Type::String),
            "etl.raw" => (Meta::Raw, Type::String),
            "headers" => (Meta::Headers, Type::map(Type::Bytes, false)),
            _ => return None,
        })
    }

    /// The metadata keys, for messages.
    pub const KEYS: &'static str =
        "topic, partition, offset, timestamp, timestamp-type, leader-epoch, key, headers, etl.event-id, etl.raw";
}

/// A column of a declared table, checked.
#[derive(Debug, Clone)]
pub struct Column {
    /// Its name.
    pub name: String,
    /// Its type.
    pub ty: Type,
    /// Whether it may be NULL.
    pub nullable: bool,
    /// What it is.
    pub kind: Kind,
    /// Where it is declared.
    pub pos: Pos,
}

/// What a column is.
#[derive(Debug, Clone)]
pub enum Kind {
    /// A field of the value.
    Physical,
    /// Connector metadata; `virtual_`: read-only.
    Metadata(Meta, bool),
    /// A computed column (its expression is planned where it is used).
    Computed(Box<sqlparser::ast::Expr>),
}

/// A column of a sink.
#[derive(Debug, Clone, PartialEq)]
pub struct SinkColumn {
    /// Its name.
    pub name: String,
    /// Its type.
    pub ty: Type,
    /// Whether it takes NULL.
    pub nullable: bool,
}

/// The connector of a table.
#[derive(Debug, Clone, PartialEq)]
pub enum Connector {
    /// `'connector' = 'kafka'`.
    Kafka,
    /// `'connector' = 'clickhouse'` (a sink only).
    ClickHouse,
}

/// Where a sink's rows go.
#[derive(Debug, Clone, PartialEq)]
pub enum Target {
    /// A Kafka topic of JSON records (`'connector' = 'kafka'`).
    Kafka {
        /// The topic.
        topic: String,
    },
    /// A ClickHouse table, written directly (`'connector' = 'clickhouse'`).
    ClickHouse(ClickHouseTable),
}

/// A ClickHouse sink's options, named as Flink's ClickHouse and JDBC connectors name them. What is not given comes
/// from the flags (`--clickhouse-url`, `--clickhouse-database`, …), which win over the job when given.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ClickHouseTable {
    /// `url`: `http(s)://host:port`.
    pub url: Option<String>,
    /// `database-name`.
    pub database: Option<String>,
    /// `table-name` (default: the sink's name in the job).
    pub table: String,
    /// `username`.
    pub username: Option<String>,
    /// `password`.
    pub password: Option<String>,
    /// `sink.batch-size` (or `sink.batch.size`): flush after this many rows.
    pub batch_rows: Option<u64>,
    /// `sink.flush-interval`: flush after this long, in milliseconds.
    pub flush_interval_ms: Option<u64>,
    /// `sink.max-retries`.
    pub max_retries: Option<u32>,
}

/// How the DDL makes a sink's stored table (`transformer schema --job`): `sink.engine`, `sink.order-by`,
/// `sink.partition-by` (ClickHouse SQL, as written), else a MergeTree ordered by the table's PRIMARY KEY.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TableLayout {
    /// `sink.engine` (default `MergeTree()`).
    pub engine: Option<String>,
    /// `sink.order-by` (default: the PRIMARY KEY's columns, else `tuple()`).
    pub order_by: Option<String>,
    /// `sink.partition-by` (default: none).
    pub partition_by: Option<String>,
    /// `PRIMARY KEY (…) NOT ENFORCED`.
    pub primary_key: Vec<String>,
}

/// Which topics a Kafka source reads.
#[derive(Debug, Clone)]
pub enum Topics {
    /// `'topic' = 'a;b'`.
    List(Vec<String>),
    /// `'topic-pattern' = 'regex'` (the whole name must match, as in Java).
    Pattern(regex::Regex),
}

impl Topics {
    /// Whether the source reads `topic`.
    pub fn matches(&self, topic: &str) -> bool {
        match self {
            Topics::List(l) => l.iter().any(|t| t == topic),
            Topics::Pattern(re) => re.is_match(topic),
        }
    }
}

/// Where a Kafka source starts when it has no position of its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartupMode {
    /// `earliest-offset`.
    Earliest,
    /// `latest-offset`.
    Latest,
    /// `group-offsets` (the group's committed offsets; earliest where there are none, as our default reset).
    GroupOffsets,
}

/// A declared table, checked.
#[derive(Debug, Clone)]
pub struct Table {
    /// Its name.
    pub name: String,
    /// Its columns.
    pub columns: Vec<Column>,
    /// The connector.
    pub connector: Connector,
    /// Every option, as written.
    pub options: BTreeMap<String, String>,
    /// Where the statement is.
    pub pos: Pos,
    /// Where each option is.
    pub option_pos: BTreeMap<String, Pos>,
    /// `PRIMARY KEY (…)`.
    pub primary_key: Vec<String>,
    /// Warnings for the log (WATERMARK ignored, …).
    pub warnings: Vec<String>,
}

impl Table {
    /// Checks a `CREATE TABLE`'s columns and connector.
    pub fn new(def: &TableDef) -> Result<Table, Problem> {
        let mut columns: Vec<Column> = Vec::new();
        for c in &def.columns {
            if columns.iter().any(|x| x.name == c.name.value) {
                return Err(Problem::at(c.name.pos, format!("the column {} is declared twice", c.name.value)));
            }
            let (ty, nullable, kind) = match &c.kind {
                ColumnKind::Physical { ty, not_null } => (*ty, !not_null, Kind::Physical),
                ColumnKind::Metadata { ty, key, is_virtual } => {
                    let key = key.as_deref().unwrap_or(&c.name.value);
                    let (meta, natural) = Meta::of(key).ok_or_else(|| {
                        Problem::at(c.name.pos, format!("unknown metadata key '{key}'"))
                            .hint(format!("the Kafka connector's metadata: {}", Meta::KEYS))
                    })?;
                    let fits = *ty == natural
                        || natural.assignable_to(*ty)
                        || (natural.is_timestamp() && ty.is_timestamp())
                        || (natural == Type::Bytes && *ty == Type::String)
                        || (meta == Meta::Headers && matches!(ty, Type::Map(v) if v.ty == Type::String));
                    if !fits {
                        return Err(Problem::at(
                            c.name.pos,
                            format!("metadata '{key}' is {natural}; it cannot be declared {ty}"),
                        ));
                    }
                    (*ty, true, Kind::Metadata(meta, *is_virtual))
                }
                ColumnKind::Computed { expr } => (Type::Null, true, Kind::Computed(expr.clone())),
            };
            columns.push(Column { name: c.name.value.clone(), ty, nullable, kind, pos: c.name.pos });
        }
        let mut options = BTreeMap::new();
        let mut option_pos = BTreeMap::new();
        for o in &def.options {
            if options.insert(o.key.clone(), o.value.clone()).is_some() {
                return Err(Problem::at(o.pos, format!("the option '{}' is given twice", o.key)));
            }
            option_pos.insert(o.key.clone(), o.pos);
        }
        let connector = match options.get("connector").map(String::as_str) {
            Some("kafka") => Connector::Kafka,
            Some("clickhouse") => Connector::ClickHouse,
            Some(other) => {
                return Err(Problem::at(option_pos["connector"], format!("the connector '{other}' is not supported"))
                    .hint("supported: 'connector' = 'kafka' (sources and sinks), 'clickhouse' (sinks)"))
            }
            None => {
                return Err(Problem::at(def.pos, format!("the table {} has no 'connector' option", def.name.value))
                    .hint("add WITH ('connector' = 'kafka', …)"))
            }
        };
        let mut warnings = Vec::new();
        if let Some(pos) = def.watermark {
            warnings.push(format!(
                "{}:{}: WATERMARK is accepted and ignored: this engine has no event-time windows",
                pos.line, pos.column
            ));
        }
        if let Some(pos) = def.partitioned_by {
            warnings.push(format!("{}:{}: PARTITIONED BY is accepted and ignored", pos.line, pos.column));
        }
        Ok(Table {
            name: def.name.value.clone(),
            columns,
            connector,
            options,
            pos: def.pos,
            option_pos,
            primary_key: def.primary_key.iter().map(|n| n.value.clone()).collect(),
            warnings,
        })
    }

    /// The position of option `key`, or of the statement.
    pub fn pos_of(&self, key: &str) -> Pos {
        self.option_pos.get(key).copied().unwrap_or(self.pos)
    }

    /// Checks the options of a table read as a source; returns its topics and start mode.
    pub fn as_source(&mut self) -> Result<(Topics, StartupMode), Problem> {
        if self.connector == Connector::ClickHouse {
            return Err(Problem::at(
                self.pos_of("connector"),
                format!("{} is a ClickHouse table: a job reads Kafka topics and writes ClickHouse tables", self.name),
            )
            .hint("read from a table with 'connector' = 'kafka'"));
        }
        self.check_options(SOURCE_OPTIONS, "a Kafka source")?;
        self.check_format()?;
        let topics = match (self.options.get("topic"), self.options.get("topic-pattern")) {
            (Some(t), None) => {
                Topics::List(t.split(';').map(|s| s.trim().to_owned()).filter(|s| !s.is_empty()).collect())
            }
            (None, Some(p)) => Topics::Pattern(regex::Regex::new(&format!("^(?:{p})$")).map_err(|e| {
                Problem::at(self.pos_of("topic-pattern"), format!("'topic-pattern' is not a regular expression: {e}"))
            })?),
            (Some(_), Some(_)) => {
                return Err(Problem::at(self.pos_of("topic-pattern"), "give 'topic' or 'topic-pattern', not both"))
            }
            (None, None) => {
                return Err(Problem::at(
                    self.pos,
                    format!("the source {} has neither 'topic' nor 'topic-pattern'", self.name),
                ))
            }
        };
        let mode = match self.options.get("scan.startup.mode").map(String::as_str) {
            None | Some("group-offsets") => StartupMode::GroupOffsets,
            Some("earliest-offset") => StartupMode::Earliest,
            Some("latest-offset") => StartupMode::Latest,
            Some(other) => {
                return Err(Problem::at(
                    self.pos_of("scan.startup.mode"),
                    format!("'scan.startup.mode' = '{other}' is not supported"),
                )
                .hint("supported: 'earliest-offset', 'latest-offset', 'group-offsets'"))
            }
        };
        if let Some(v) = self.options.get("scan.topic-partition-discovery.interval") {
            if duration_ms(v).is_none() {
                return Err(Problem::at(
                    self.pos_of("scan.topic-partition-discovery.interval"),
                    format!("'scan.topic-partition-discovery.interval' = '{v}' is not a duration"),
                )
                .hint("a number and a unit: '30 s', '5 min'; '0' turns discovery off"));
            }
        }
        Ok((topics, mode))
    }

    /// Checks the options of a table written as a sink; returns where its rows go and how its table is made.
    pub fn as_sink(&mut self) -> Result<(Target, TableLayout), Problem> {
        for c in &self.columns {
            if let Kind::Metadata(_, false) = c.kind {
                return Err(Problem::at(
                    c.pos,
                    format!("writing metadata ({}) to a sink is not supported yet", c.name),
                )
                .hint("declare it METADATA … VIRTUAL, or drop it from the sink"));
            }
        }
        let target = match self.connector {
            Connector::Kafka => self.as_kafka_sink()?,
            Connector::ClickHouse => self.as_clickhouse_sink()?,
        };
        let layout = TableLayout {
            engine: self.options.get("sink.engine").cloned(),
            order_by: self.options.get("sink.order-by").cloned(),
            partition_by: self.options.get("sink.partition-by").cloned(),
            primary_key: self.primary_key.clone(),
        };
        for (key, v) in [("sink.engine", &layout.engine), ("sink.order-by", &layout.order_by)] {
            if v.as_ref().is_some_and(|v| v.trim().is_empty()) {
                return Err(Problem::at(self.pos_of(key), format!("'{key}' is empty")));
            }
        }
        Ok((target, layout))
    }

    fn as_kafka_sink(&mut self) -> Result<Target, Problem> {
        self.check_options(SINK_OPTIONS, "a Kafka sink")?;
        self.check_format()?;
        let topic = match self.options.get("topic") {
            Some(t) if !t.contains(';') && !t.trim().is_empty() => t.trim().to_owned(),
            Some(_) => {
                return Err(Problem::at(self.pos_of("topic"), "a Kafka sink writes one topic: 'topic' = 'name'"))
            }
            None => return Err(Problem::at(self.pos, format!("the sink {} has no 'topic' option", self.name))),
        };
        if let Some(p) = self.options.get("sink.partitioner") {
            if p != "default" {
                return Err(Problem::at(
                    self.pos_of("sink.partitioner"),
                    format!("'sink.partitioner' = '{p}' is not supported"),
                )
                .hint("supported: 'default' (each input partition to one output partition, so order is kept)"));
            }
        }
        for key in ["sink.parallelism", "sink.transactional-id-prefix"] {
            if self.options.contains_key(key) {
                self.warnings.push(format!("'{key}' is ignored"));
            }
        }
        Ok(Target::Kafka { topic })
    }

    fn as_clickhouse_sink(&mut self) -> Result<Target, Problem> {
        self.check_options(CLICKHOUSE_OPTIONS, "a ClickHouse sink")?;
        let text = |key: &str| self.options.get(key).map(|v| v.trim().to_owned());
        if let Some(url) = text("url") {
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                return Err(Problem::at(self.pos_of("url"), format!("'url' = '{url}' is not an HTTP(S) URL"))
                    .hint("ClickHouse's HTTP interface: 'url' = 'http://host:8123' (or https://host:8443)"));
            }
        }
        let number = |key: &str| -> Result<Option<u64>, Problem> {
            self.options
                .get(key)
                .map(|v| {
                    v.trim()
                        .parse::<u64>()
                        .map_err(|_| Problem::at(self.pos_of(key), format!("'{key}' takes a whole number, not '{v}'")))
                })
                .transpose()
        };
        if self.options.contains_key("sink.batch-size") && self.options.contains_key("sink.batch.size") {
            return Err(Problem::at(
                self.pos_of("sink.batch.size"),
                "give 'sink.batch-size' or 'sink.batch.size', not both",
            ));
        }
        let batch_rows = number("sink.batch-size")?.or(number("sink.batch.size")?);
        if batch_rows == Some(0) {
            let key = if self.options.contains_key("sink.batch-size") { "sink.batch-size" } else { "sink.batch.size" };
            return Err(Problem::at(self.pos_of(key), format!("'{key}' must be at least 1")));
        }
        let flush_interval_ms = match self.options.get("sink.flush-interval") {
            Some(v) => Some(duration_ms(v).ok_or_else(|| {
                Problem::at(
                    self.pos_of("sink.flush-interval"),
                    format!("'sink.flush-interval' = '{v}' is not a duration"),
                )
                .hint("a number and a unit: '500ms', '1s', '2 min'")
            })?),
            None => None,
        };
        let max_retries = number("sink.max-retries")?.map(|n| n.min(u64::from(u32::MAX)) as u32);
        let table = text("table-name").filter(|t| !t.is_empty()).unwrap_or_else(|| self.name.clone());
        Ok(Target::ClickHouse(ClickHouseTable {
            url: text("url"),
            database: text("database-name").filter(|d| !d.is_empty()),
            table,
            username: text("username"),
            password: self.options.get("password").cloned(),
            batch_rows,
            flush_interval_ms,
            max_retries,
        }))
    }

    fn check_format(&self) -> Result<(), Problem> {
        let format = self.options.get("format").or_else(|| self.options.get("value.format"));
        match format.map(String::as_str) {
            Some("json") => {}
            Some(other) => {
                let key = if self.options.contains_key("format") { "format" } else { "value.format" };
                return Err(Problem::at(self.pos_of(key), format!("the format '{other}' is not supported"))
                    .hint("supported: 'format' = 'json'"));
            }
            None => {
                return Err(Problem::at(self.pos, format!("the table {} has no 'format' option", self.name))
                    .hint("add 'format' = 'json'"))
            }
        }
        for key in ["json.ignore-parse-errors", "json.fail-on-missing-field"] {
            if let Some(v) = self.options.get(key) {
                if v != "true" && v != "false" {
                    return Err(Problem::at(self.pos_of(key), format!("'{key}' takes 'true' or 'false', not '{v}'")));
                }
            }
        }
        if let Some(v) = self.options.get("json.timestamp-format.standard") {
            if v != "SQL" {
                return Err(Problem::at(
                    self.pos_of("json.timestamp-format.standard"),
                    format!("'json.timestamp-format.standard' = '{v}' is not supported yet"),
                )
                .hint("supported: 'SQL' (the default)"));
            }
        }
        Ok(())
    }

    /// A boolean option.
    pub fn flag(&self, key: &str) -> bool {
        self.options.get(key).is_some_and(|v| v == "true")
    }

    fn check_options(&self, known: &[&str], what: &str) -> Result<(), Problem> {
        for key in self.options.keys() {
            if key.starts_with("properties.") || known.contains(&key.as_str()) {
                continue;
            }
            let hint = format!("the options of {what}: {}, properties.*", known.join(", "));
            return Err(
                Problem::at(self.pos_of(key), format!("unknown or unsupported option '{key}' for {what}")).hint(hint)
            );
        }
        Ok(())
    }
}

const SOURCE_OPTIONS: &[&str] = &[
    "connector",
    "topic",
    "topic-pattern",
    "scan.startup.mode",
    "scan.topic-partition-discovery.interval",
    "format",
    "value.format",
    "json.ignore-parse-errors",
    "json.fail-on-missing-field",
    "json.timestamp-format.standard",
];

/// What `sink.engine`, `sink.order-by` and `sink.partition-by` say: how `transformer schema --job` makes the table.
const LAYOUT_OPTIONS: [&str; 3] = ["sink.engine", "sink.order-by", "sink.partition-by"];

const CLICKHOUSE_OPTIONS: &[&str] = &[
    "connector",
    "url",
    "database-name",
    "table-name",
    "username",
    "password",
    "sink.batch-size",
    "sink.batch.size",
    "sink.flush-interval",
    "sink.max-retries",
    LAYOUT_OPTIONS[0],
    LAYOUT_OPTIONS[1],
    LAYOUT_OPTIONS[2],
];

const SINK_OPTIONS: &[&str] = &[
    LAYOUT_OPTIONS[0],
    LAYOUT_OPTIONS[1],
    LAYOUT_OPTIONS[2],
    "connector",
    "topic",
    "format",
    "value.format",
    "json.ignore-parse-errors",
    "json.fail-on-missing-field",
    "json.timestamp-format.standard",
    "sink.partitioner",
    "sink.delivery-guarantee",
    "sink.parallelism",
    "sink.transactional-id-prefix",
];

/// A Flink duration option in milliseconds: a number and a unit (`500ms`, `1s`, `2 min`, `1h`; a bare number is
/// milliseconds, as in Flink).
pub fn duration_ms(text: &str) -> Option<u64> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let n: u64 = t[..split].parse().ok()?;
    let factor = match t[split..].trim().to_ascii_lowercase().as_str() {
        "" | "ms" | "milli" | "millis" | "millisecond" | "milliseconds" => 1,
        "s" | "sec" | "secs" | "second" | "seconds" => 1_000,
        "m" | "min" | "mins" | "minute" | "minutes" => 60_000,
        "h" | "hour" | "hours" => 3_600_000,
        _ => return None,
    };
    n.checked_mul(factor)
}
