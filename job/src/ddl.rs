//! The ClickHouse DDL of a job's sinks, from the plan (`transformer schema --job FILE`): for a ClickHouse sink its
//! table; for a Kafka sink the table that stores its rows, the Kafka-engine table that reads its topic and the
//! materialized view between them. Every identifier is quoted, so a database named `analytics-prod` works.
//!
//! Types map as the sink's columns declare them ([`columns`]): STRING→String, INT/BIGINT→Int32/Int64,
//! DOUBLE→Float64, DECIMAL(p,s)→Decimal(p,s), BOOLEAN→Bool (UInt8 on 18.16), DATE→Date, TIMESTAMP(p)→
//! DateTime64(p, 'UTC') (on 18.16, which has no DateTime64: a DateTime, and for the direct sink a `<name>_ms` UInt16
//! column), NOT NULL →
//! the type itself, otherwise Nullable. The direct writer and the start-up check use the same list.

use std::fmt::Write as _;

use contract::sql::ClickHouseVersion;

use crate::catalog::{SinkColumn, TableLayout, Target};
use crate::plan::{Plan, Sink};
use crate::types::Type;

/// What the DDL needs besides the plan.
#[derive(Debug, Clone)]
pub struct DdlParams {
    /// The database of a sink that names none (`database-name`), and of the Kafka paths.
    pub database: String,
    /// Whether [`DdlParams::database`] wins over every sink's `database-name` (the flag was given).
    pub database_wins: bool,
    /// `host:port` of the Kafka broker as ClickHouse reaches it.
    pub kafka_broker: String,
    /// Prefix of the Kafka engine's consumer groups: `<group>_<sink>`.
    pub group: String,
    /// Which ClickHouse.
    pub version: ClickHouseVersion,
    /// The topic the job's one Kafka sink writes when a flag overrides the job's (`--output-topic`).
    pub kafka_topic: Option<String>,
}

/// Which part of a sink column's value a ClickHouse column holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    /// The value itself.
    Value,
    /// A timestamp's whole seconds (18.16's DateTime); in a nested value, every timestamp's.
    Seconds,
    /// A timestamp's milliseconds within its second (18.16's `<name>_ms` UInt16).
    Millis,
    /// On 18.16, field k of every element of an array of rows, or of every entry of a map (0 the key, 1 the
    /// value): 18.16 splits a column of `Array(Tuple(…))` into one array per field (`items.sku`, `attrs.key`,
    /// as its `Nested` columns are), so such a column is written as those arrays.
    Sub(u16),
}

/// A column of a sink's ClickHouse table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChColumn {
    /// Its name.
    pub name: String,
    /// Its ClickHouse type, `Nullable(…)` included.
    pub ty: String,
    /// The sink column it comes from.
    pub from: usize,
    /// Which part of that column's value.
    pub part: Part,
}

/// The columns a ClickHouse sink's table has besides the job's, written by the direct sink with every row: the
/// source record's coordinates, and the round that wrote it (epoch milliseconds, strictly increasing). After a
/// crash, the view into [`POSITIONS`] has kept, per INSERT, the last offset of each source partition and the round:
/// recovery reads that small table, never the sink's.
pub const HIDDEN: [(&str, &str); 4] =
    [("_source_topic", "String"), ("_source_partition", "Int32"), ("_source_offset", "Int64"), ("_round", "UInt64")];

/// The table of positions in each database that holds a ClickHouse sink: one row per INSERT and source partition
/// (merged to the newest per table and partition), filled by a view on each sink's table.
pub const POSITIONS: &str = "_etl_positions";

/// The view that fills [`POSITIONS`] from `table`'s INSERTs.
pub fn positions_view(table: &str) -> String {
    format!("_etl_positions_{table}")
}

/// The ClickHouse type of a value of `ty` (not Nullable). Nested types: ARRAY is `Array`, ROW a `Tuple` (named on a
/// current ClickHouse), MAP a `Map(String, …)`, on 18.16 (which has no Map) `Array(Tuple(String, …))`, the same
/// bytes in RowBinary (a top-level column of it is split into arrays: [`Part::Sub`]). Their parts are `Nullable`
/// where they may be NULL; a timestamp inside one is a
/// `DateTime64(p)`, on 18.16 a `DateTime` of whole seconds.
fn base_type(ty: Type, version: ClickHouseVersion) -> String {
    match ty {
        Type::Array(e) => format!("Array({})", column_type(e.ty, e.nullable, version)),
        Type::Map(e) => match version {
            ClickHouseVersion::Current => format!("Map(String, {})", column_type(e.ty, e.nullable, version)),
            ClickHouseVersion::V18 => format!("Array(Tuple(String, {}))", column_type(e.ty, e.nullable, version)),
        },
        Type::Row(fields) => {
            let parts: Vec<String> = fields
                .iter()
                .map(|f| match version {
                    ClickHouseVersion::Current => {
                        format!("{} {}", quote(&f.name), column_type(f.ty, f.nullable, version))
                    }
                    ClickHouseVersion::V18 => column_type(f.ty, f.nullable, version),
                })
                .collect();
            format!("Tuple({})", parts.join(", "))
        }
        Type::String | Type::Bytes | Type::Null => "String".into(),
        Type::Boolean if version == ClickHouseVersion::V18 => "UInt8".into(),
        Type::Boolean => "Bool".into(),
        Type::TinyInt => "Int8".into(),
        Type::SmallInt => "Int16".into(),
        Type::Int => "Int32".into(),
        Type::BigInt => "Int64".into(),
        Type::Float => "Float32".into(),
        Type::Double => "Float64".into(),
        Type::Decimal(p, s) => format!("Decimal({p}, {s})"),
        Type::Date => "Date".into(),
        Type::Timestamp(p) | Type::TimestampLtz(p) => match version {
            ClickHouseVersion::V18 => "DateTime('UTC')".into(),
            ClickHouseVersion::Current => format!("DateTime64({}, 'UTC')", p.min(9)),
        },
    }
}

/// The fields of a column 18.16 splits into one array per field ([`Part::Sub`]): a MAP's `key` and `value`, an
/// array of rows' fields; `None` for any other type.
fn split_on_v18(ty: Type) -> Option<Vec<(String, Type, bool)>> {
    match ty {
        Type::Map(value) => Some(vec![("key".into(), Type::String, false), ("value".into(), value.ty, value.nullable)]),
        Type::Array(elem) => match elem.ty {
            Type::Row(fields) => Some(fields.iter().map(|f| (f.name.clone(), f.ty, f.nullable)).collect()),
            _ => None,
        },
        _ => None,
    }
}

/// The type of a column (or a nested part) of `ty`: `Nullable` where it may be NULL, except for nested types,
/// which ClickHouse does not allow inside `Nullable`: a NULL ARRAY or MAP is stored empty, a NULL ROW as a tuple of
/// NULLs (its NOT NULL fields as their type's default).
pub fn column_type(ty: Type, nullable: bool, version: ClickHouseVersion) -> String {
    let base = base_type(ty, version);
    if nullable && !ty.is_nested() {
        format!("Nullable({base})")
    } else {
        base
    }
}

fn nullable(ty: String, is_nullable: bool) -> String {
    if is_nullable {
        format!("Nullable({ty})")
    } else {
        ty
    }
}

/// The columns of `sink`'s ClickHouse table, in order.
///
/// On 18.16 a Kafka sink's timestamps keep whole seconds only: its materialized view would have to read the text
/// twice (for the seconds and for the milliseconds), and 18.16 resolves the second reading to the first one's
/// alias (a view over a subquery or a chain of views does not run there either). The direct sink writes both.
pub fn columns(sink: &Sink, version: ClickHouseVersion) -> Vec<ChColumn> {
    let mut out = Vec::new();
    let kafka = matches!(sink.target, Target::Kafka { .. });
    for (i, c) in sink.columns.iter().enumerate() {
        let ty = column_type(c.ty, c.nullable, version);
        let split = c.ty.is_timestamp() && version == ClickHouseVersion::V18 && !kafka;
        if c.ty.is_nested() {
            if version == ClickHouseVersion::V18 {
                if let Some(fields) = split_on_v18(c.ty) {
                    for (k, (field, ty, nullable)) in fields.into_iter().enumerate() {
                        let ty = format!("Array({})", column_type(ty, nullable, version));
                        out.push(ChColumn {
                            name: format!("{}.{field}", c.name),
                            ty,
                            from: i,
                            part: Part::Sub(k as u16),
                        });
                    }
                    continue;
                }
            }
            // Timestamps inside are whole seconds on 18.16 (its DateTime), in place.
            let part = if version == ClickHouseVersion::V18 { Part::Seconds } else { Part::Value };
            out.push(ChColumn { name: c.name.clone(), ty, from: i, part });
            continue;
        }
        out.push(ChColumn { name: c.name.clone(), ty, from: i, part: if split { Part::Seconds } else { Part::Value } });
        if split {
            let ty = nullable("UInt16".into(), c.nullable);
            out.push(ChColumn { name: format!("{}_ms", c.name), ty, from: i, part: Part::Millis });
        }
    }
    out
}

/// `name` as a ClickHouse identifier: in backquotes, with `\` and `` ` `` escaped.
pub fn quote(name: &str) -> String {
    format!("`{}`", name.replace('\\', "\\\\").replace('`', "\\`"))
}

/// `text` as a ClickHouse string literal.
pub fn literal(text: &str) -> String {
    format!("'{}'", text.replace('\\', "\\\\").replace('\'', "\\'"))
}

/// Where a sink's rows are stored: its database and table.
pub fn stored_table<'a>(sink: &'a Sink, p: &'a DdlParams) -> (&'a str, &'a str) {
    match &sink.target {
        Target::ClickHouse(t) if !p.database_wins => (t.database.as_deref().unwrap_or(&p.database), &t.table),
        Target::ClickHouse(t) => (&p.database, &t.table),
        Target::Kafka { .. } => (&p.database, &sink.name),
    }
}

/// Why a job's DDL cannot be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct DdlError(pub String);

/// The DDL of every sink of `plan`, as single statements in order (each database created before its first table).
pub fn render(plan: &Plan, p: &DdlParams) -> Result<Vec<String>, DdlError> {
    let mut stmts = Vec::new();
    for sink in &plan.sinks {
        stmts.extend(render_sink(sink, p)?);
    }
    Ok(without_repeats(stmts))
}

/// `stmts` with each statement kept only where it first appears (the sinks of one database each create it, and
/// its positions table).
pub fn without_repeats(stmts: Vec<String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(stmts.len());
    for s in stmts {
        if !out.contains(&s) {
            out.push(s);
        }
    }
    out
}

/// The DDL of one sink: its database, its table, and for a Kafka sink the Kafka table and the view.
pub fn render_sink(sink: &Sink, p: &DdlParams) -> Result<Vec<String>, DdlError> {
    let (database, table) = stored_table(sink, p);
    let cols = columns(sink, p.version);
    let mut stmts = vec![format!("CREATE DATABASE IF NOT EXISTS {}", quote(database))];
    match &sink.target {
        Target::Kafka { topic } => {
            stmts.push(create_table(sink, database, table, &cols, false, p.version)?);
            let topic = p.kafka_topic.as_deref().unwrap_or(topic);
            stmts.extend(kafka_path(sink, topic, database, table, &cols, p)?);
        }
        Target::ClickHouse(_) => {
            stmts.push(create_table(sink, database, table, &cols, true, p.version)?);
            stmts.push(create_positions(database));
            stmts.push(create_positions_view(database, table));
        }
    }
    Ok(stmts)
}

/// The DDL as one script for `clickhouse-client --multiquery`.
pub fn script(plan: &Plan, p: &DdlParams) -> Result<String, DdlError> {
    Ok(render(plan, p)?.iter().map(|s| format!("{s};\n\n")).collect())
}

/// `CREATE TABLE` of a sink's stored table; a direct sink's has the [`HIDDEN`] columns too.
fn create_table(
    sink: &Sink,
    database: &str,
    table: &str,
    cols: &[ChColumn],
    hidden: bool,
    version: ClickHouseVersion,
) -> Result<String, DdlError> {
    let layout = &sink.layout;
    let mut s = format!("CREATE TABLE IF NOT EXISTS {}.{} (\n", quote(database), quote(table));
    let mut body: Vec<String> = cols.iter().map(|c| format!("    {} {}", quote(&c.name), c.ty)).collect();
    if hidden {
        body.extend(HIDDEN.iter().map(|(name, ty)| format!("    {} {ty}", quote(name))));
    }
    s.push_str(&body.join(",\n"));
    s.push_str("\n) ENGINE = ");
    s.push_str(&engine(layout));
    if let Some(by) = &layout.partition_by {
        write!(s, "\nPARTITION BY {by}").expect("writing to a String");
    }
    write!(s, "\nORDER BY {}", order_by(sink, &sink.columns, version)?).expect("writing to a String");
    Ok(s)
}

/// The positions table of `database` ([`POSITIONS`]). `ReplacingMergeTree(round)`: merges keep the newest row of
/// each table and source partition, so it stays as small as the partitions are many.
pub fn create_positions(database: &str) -> String {
    format!(
        "CREATE TABLE IF NOT EXISTS {}.{} (\n    `table` String,\n    `topic` String,\n    `partition` Int32,\n    \
         `offset` Int64,\n    `round` UInt64,\n    `rows` UInt64\n) ENGINE = ReplacingMergeTree(`round`)\n\
         ORDER BY (`table`, `topic`, `partition`)",
        quote(database),
        quote(POSITIONS)
    )
}

/// The view that keeps, for every INSERT into `table`, its last offset of each source partition and its round.
/// It runs within the INSERT: an INSERT that landed has its positions.
pub fn create_positions_view(database: &str, table: &str) -> String {
    format!(
        "CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.{view} TO {db}.{positions} AS\nSELECT\n    {name} AS `table`,\n    \
         `_source_topic` AS `topic`,\n    `_source_partition` AS `partition`,\n    max(`_source_offset`) AS `offset`,\n    \
         max(`_round`) AS `round`,\n    count() AS `rows`\nFROM {db}.{table}\nGROUP BY `_source_topic`, `_source_partition`",
        db = quote(database),
        view = quote(&positions_view(table)),
        positions = quote(POSITIONS),
        name = literal(table),
        table = quote(table),
    )
}

/// `sink.engine`, else ReplacingMergeTree for a table with a PRIMARY KEY (Flink's upsert semantics: the last row
/// of a key stays after merges), else MergeTree.
fn engine(layout: &TableLayout) -> String {
    match &layout.engine {
        Some(e) => e.trim().to_owned(),
        None if !layout.primary_key.is_empty() => "ReplacingMergeTree()".into(),
        None => "MergeTree()".into(),
    }
}

/// `sink.order-by`, else the PRIMARY KEY's columns, else `tuple()` (no sort key).
fn order_by(sink: &Sink, columns: &[SinkColumn], version: ClickHouseVersion) -> Result<String, DdlError> {
    let layout = &sink.layout;
    if let Some(by) = &layout.order_by {
        return Ok(by.trim().to_owned());
    }
    if layout.primary_key.is_empty() {
        return Ok("tuple()".into());
    }
    let mut keys = Vec::new();
    for k in &layout.primary_key {
        let c = columns.iter().find(|c| &c.name == k).ok_or_else(|| {
            DdlError(format!("the PRIMARY KEY of {} names {k}, which is not one of its columns", sink.name))
        })?;
        if c.nullable {
            return Err(DdlError(format!(
                "the PRIMARY KEY column {}.{k} may be NULL, and ClickHouse's sort key takes no Nullable column: \
                 declare it NOT NULL (Flink's primary keys are NOT NULL), or give 'sink.order-by'",
                sink.name
            )));
        }
        keys.push(quote(k));
        if c.ty.is_timestamp() && version == ClickHouseVersion::V18 && sink.clickhouse().is_some() {
            keys.push(quote(&format!("{k}_ms")));
        }
    }
    Ok(if keys.len() == 1 { keys.remove(0) } else { format!("({})", keys.join(", ")) })
}

/// A Kafka sink's Kafka-engine table and materialized view: ClickHouse reads the topic's JSON (as Flink's format
/// writes it) and moves each row into the stored table.
fn kafka_path(
    sink: &Sink,
    topic: &str,
    database: &str,
    table: &str,
    cols: &[ChColumn],
    p: &DdlParams,
) -> Result<Vec<String>, DdlError> {
    let version = match p.version {
        ClickHouseVersion::V18 => "ClickHouse 18.16",
        ClickHouseVersion::Current => "a current ClickHouse",
    };
    let direct =
        "or write this sink to ClickHouse directly ('connector' = 'clickhouse'), which takes every nested type";
    if let Some(c) = sink.columns.iter().find(|c| c.ty.is_nested() && !reads_nested(c.ty, p.version)) {
        return Err(DdlError(format!(
            "the Kafka sink {}'s column {} ({}) has no ClickHouse Kafka-engine reading on {version}: the Kafka table \
             reads arrays of numbers, strings, booleans, decimals and dates (and, on a current ClickHouse, maps and \
             rows of them) as Flink's JSON writes them. Change the column's type, {direct}",
            sink.name, c.name, c.ty,
        )));
    }
    // A current ClickHouse reads a JSON null into an Array as an empty one; 18.16 stops at it.
    if let Some(c) = sink.columns.iter().find(|c| c.ty.is_nested() && c.nullable && p.version == ClickHouseVersion::V18)
    {
        return Err(DdlError(format!(
            "the Kafka sink {}'s column {} ({}) may be NULL, and the Kafka table of ClickHouse 18.16 cannot read a \
             JSON null as an array (its ingestion would stop there): declare it NOT NULL (a NULL is then that sink's \
             dead letter), {direct}",
            sink.name, c.name, c.ty,
        )));
    }
    let queue = format!("{table}_queue");
    let view = format!("{table}_mv");
    let queue_cols: Vec<String> = sink
        .columns
        .iter()
        .map(|c| {
            let ty = nullable(queue_type(c.ty, p.version), c.nullable && !c.ty.is_nested());
            format!("    {} {}", quote(&c.name), ty)
        })
        .collect();
    let mut settings = vec![
        format!("kafka_broker_list = {}", literal(&p.kafka_broker)),
        format!("kafka_topic_list = {}", literal(topic)),
        format!("kafka_group_name = {}", literal(&format!("{}_{}", p.group, sink.name))),
        "kafka_format = 'JSONEachRow'".into(),
        "kafka_max_block_size = 100".into(),
    ];
    if p.version == ClickHouseVersion::Current {
        settings.push("kafka_flush_interval_ms = 500".into());
        settings.push("kafka_handle_error_mode = 'stream'".into());
    }
    let create_queue = format!(
        "CREATE TABLE IF NOT EXISTS {}.{} (\n{}\n) ENGINE = Kafka SETTINGS\n    {}",
        quote(database),
        quote(&queue),
        queue_cols.join(",\n"),
        settings.join(",\n    ")
    );
    let select: Vec<String> = cols
        .iter()
        .map(|c| {
            let from = &sink.columns[c.from];
            let expr = view_expr(&quote(&from.name), from.ty, from.nullable, p.version);
            if expr == quote(&c.name) {
                format!("    {expr}")
            } else {
                format!("    {expr} AS {}", quote(&c.name))
            }
        })
        .collect();
    let filter = if p.version == ClickHouseVersion::Current { "\nWHERE length(_error) = 0" } else { "" };
    let create_view = format!(
        "CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.{view} TO {db}.{table} AS\nSELECT\n{}\nFROM {db}.{queue}{filter}",
        select.join(",\n"),
        db = quote(database),
        view = quote(&view),
        table = quote(table),
        queue = quote(&queue),
    );
    Ok(vec![create_queue, create_view])
}

/// Whether the Kafka table reads a nested value of `ty` from Flink's JSON as it is (JSONEachRow): parts that are
/// JSON numbers, strings, booleans or dates; objects (ROW, MAP) on a current ClickHouse only.
fn reads_nested(ty: Type, version: ClickHouseVersion) -> bool {
    match ty {
        Type::Array(e) => reads_nested(e.ty, version),
        Type::Map(e) => version == ClickHouseVersion::Current && reads_nested(e.ty, version),
        Type::Row(fields) => {
            version == ClickHouseVersion::Current && fields.iter().all(|f| reads_nested(f.ty, version))
        }
        Type::Timestamp(_) | Type::TimestampLtz(_) | Type::Bytes | Type::Null => false,
        _ => true,
    }
}

/// The Kafka table's column type for a value as Flink's JSON format writes it: numbers, booleans (UInt8 reads
/// `true` on 18.16 too) and dates as they are, timestamps and bytes as text the view converts.
fn queue_type(ty: Type, version: ClickHouseVersion) -> String {
    match ty {
        Type::Timestamp(_) | Type::TimestampLtz(_) | Type::Bytes | Type::Null | Type::String => "String".into(),
        other => base_type(other, version),
    }
}

/// What the view makes of the Kafka table's column `q` (of a sink column of type `ty`) for the stored table. A
/// nullable text is parsed with the `…OrNull` function: ClickHouse runs a function on the values under NULLs too.
fn view_expr(q: &str, ty: Type, nullable: bool, version: ClickHouseVersion) -> String {
    let or_null = if nullable { "OrNull" } else { "" };
    match (ty, version) {
        // `2024-05-01 10:00:00.25` (TIMESTAMP) or `…Z` (TIMESTAMP_LTZ), as Flink's format writes them.
        (Type::Timestamp(p) | Type::TimestampLtz(p), ClickHouseVersion::Current) => {
            format!("parseDateTime64BestEffort{or_null}({q}, {}, 'UTC')", p.min(9))
        }
        (Type::Timestamp(_) | Type::TimestampLtz(_), ClickHouseVersion::V18) => {
            format!("parseDateTimeBestEffort{or_null}({q}, 'UTC')")
        }
        // 18.16 has no base64Decode: its Kafka path stores BYTES as the base64 text Flink's format writes.
        (Type::Bytes, ClickHouseVersion::Current) => format!("base64Decode({q})"),
        _ => q.to_owned(),
    }
}
