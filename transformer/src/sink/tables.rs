//! A job's ClickHouse sinks (`'connector' = 'clickhouse'`): each a table written with one RowBinary INSERT per
//! round, its columns as `job::ddl` declares them, plus the hidden source coordinates and round ([`ddl::HIDDEN`]).
//!
//! Exactly once, with a recovery that does not grow with the table: every INSERT also fills, through the view
//! `job::ddl` creates with the table, one row per source partition in the database's `_etl_positions` (the last
//! offset written and the round). The view runs within the INSERT, so an INSERT that landed has its positions.
//! After a crash, recovery waits until no INSERT into the table is still running on the server, then reads the
//! positions written since the committed mark: the offsets up to them, past the committed position, are in the
//! table already, and are not written there again. It reads a table of one row per partition and INSERT since the
//! mark (merged to one per partition), however large the sink's table is.
//!
//! At start each table is compared with the job: a missing table, column or positions view stops the start with
//! the exact DDL to run (`transformer --job FILE schema --create-tables` runs all of it).

use std::time::Duration;

use bytes::Bytes;
use contract::sql::ClickHouseVersion;
use job::ddl::{self, ChColumn};
use job::plan::Sink as JobSinkDecl;
use job::{MapError, Row};

use super::lost_checkpoints::held_as_written;
use super::rowbinary;
use crate::config::{ClickHouseArgs, Config};
use crate::error::{Error, Result};
use crate::ranges::Written;
use crate::recovery::owner;
use crate::source::{Input, Source};

/// One ClickHouse sink of the job.
pub struct Table {
    client: clickhouse::Client,
    /// Where it is, for messages: `url database.table`.
    pub place: String,
    database: String,
    table: String,
    /// Its columns as the job declares them (without the hidden ones).
    columns: Vec<ChColumn>,
    insert: String,
    /// The key of its mark in checkpoints.
    pub mark_key: String,
    request_timeout: Duration,
}

/// A column of a table as ClickHouse describes it.
#[derive(Debug, clickhouse::Row, serde::Deserialize)]
struct Described {
    name: String,
    #[serde(rename = "type")]
    ty: String,
}

/// A row of the positions table, as recovery reads it.
#[derive(Debug, clickhouse::Row, serde::Deserialize)]
struct Position {
    topic: String,
    partition: i32,
    offset: i64,
}

/// The newest position of a source partition in the positions table, and the round that wrote it.
#[derive(Debug, clickhouse::Row, serde::Deserialize)]
struct Latest {
    topic: String,
    partition: i32,
    newest_offset: i64,
    newest_round: u64,
}

impl Table {
    /// The table of the job's sink `sink` (a ClickHouse sink) at its server (its `url`, `database-name`,
    /// `username` and `password`, where the flags do not say otherwise), checked against the job: waits for the
    /// server as long as `--connect-timeout-secs` allows. The column types follow the server's version (18.16, or
    /// 22 and later with DateTime64 and Bool).
    pub async fn open(cfg: &Config, sink: &JobSinkDecl) -> Result<Self> {
        let t = sink.clickhouse().expect("a ClickHouse sink");
        let server: ClickHouseArgs = cfg.clickhouse_for(t);
        let client = super::clickhouse::statement_client(&server)?;
        let version = super::clickhouse::until_ready(cfg, &server.clickhouse_url, || server_version(&client)).await?;
        let params = cfg.ddl_params(version);
        let (database, table) = ddl::stored_table(sink, &params);
        let columns = ddl::columns(sink, params.version);
        let names: Vec<String> =
            columns.iter().map(|c| ddl::quote(&c.name)).chain(ddl::HIDDEN.iter().map(|(n, _)| ddl::quote(n))).collect();
        let insert = format!(
            "INSERT INTO {}.{} ({}) FORMAT RowBinary",
            ddl::quote(database),
            ddl::quote(table),
            names.join(", ")
        );
        let me = Self {
            client,
            place: format!("{} {database}.{table}", server.clickhouse_url),
            database: database.to_owned(),
            table: table.to_owned(),
            columns,
            insert,
            mark_key: mark_key(database, table),
            request_timeout: cfg.request_timeout(),
        };
        let statements = ddl::render_sink(sink, &params).map_err(|e| Error::Fatal(format!("{}: {e}", sink.name)))?;
        me.check(&statements, cfg.evolve).await?;
        Ok(me)
    }

    /// The columns the rows are written as.
    pub fn columns(&self) -> &[ChColumn] {
        &self.columns
    }

    /// Checks the table, its columns and types, and its positions view against the job; what is missing is an
    /// [`Error::Fatal`] with the exact DDL to run (`ddl_statements`: the sink's, for a missing table); with
    /// `evolve` (`--evolve`) the missing columns are added instead.
    async fn check(&self, ddl_statements: &[String], evolve: bool) -> Result<()> {
        let found: Vec<Described> = self
            .client
            .query("SELECT name, type FROM system.columns WHERE database = ? AND table = ?")
            .bind(&self.database)
            .bind(&self.table)
            .fetch_all()
            .await
            .map_err(|source| Error::ClickHouse { what: format!("reading the columns of {}", self.place), source })?;
        let create = ddl_statements.join(";\n");
        if found.is_empty() {
            return Err(Error::Fatal(format!(
                "ClickHouse has no table {}, which the job writes. Create it with `transformer --job FILE schema \
                 --create-tables`, or run:\n{create};",
                self.place
            )));
        }
        let want = self.columns.iter().map(|c| (c.name.as_str(), c.ty.as_str())).chain(ddl::HIDDEN.iter().copied());
        let mut alter = Vec::new();
        for (name, ty) in want {
            match found.iter().find(|c| c.name == name) {
                None => alter.push(format!(
                    "ALTER TABLE {}.{} ADD COLUMN {} {ty}",
                    ddl::quote(&self.database),
                    ddl::quote(&self.table),
                    ddl::quote(name)
                )),
                Some(c) if !super::clickhouse::same_type(&c.ty, ty) => {
                    return Err(Error::Fatal(format!(
                        "{}: the column {name} is {} and the job writes {ty}: change the job's type or the \
                         column's (`ALTER TABLE … MODIFY COLUMN`), or recreate the table",
                        self.place, c.ty
                    )))
                }
                Some(_) => {}
            }
        }
        if !alter.is_empty() && evolve {
            for stmt in &alter {
                self.client
                    .query(stmt)
                    .execute()
                    .await
                    .map_err(|source| Error::ClickHouse { what: format!("{stmt} (--evolve)"), source })?;
                tracing::warn!(table = %self.place, statement = %stmt, "--evolve: added a column the job writes");
            }
        } else if !alter.is_empty() {
            return Err(Error::Fatal(format!(
                "{} lacks columns the job writes; run (or start with --evolve to have them added):\n{};",
                self.place,
                alter.join(";\n")
            )));
        }
        let view = ddl::positions_view(&self.table);
        let views: u64 = self
            .client
            .query("SELECT count() FROM system.tables WHERE database = ? AND (name = ? OR name = ?)")
            .bind(&self.database)
            .bind(&view)
            .bind(ddl::POSITIONS)
            .fetch_one()
            .await
            .map_err(|source| Error::ClickHouse { what: format!("looking for {view}"), source })?;
        if views < 2 {
            return Err(Error::Fatal(format!(
                "{}: the positions table {} or its view {view} is missing (recovery after a crash reads them); \
                 run:\n{};\n{};",
                self.place,
                ddl::POSITIONS,
                ddl::create_positions(&self.database),
                ddl::create_positions_view(&self.database, &self.table)
            )));
        }
        Ok(())
    }

    /// One INSERT of `body` (RowBinary rows); nothing to send, nothing sent.
    pub async fn insert(&self, body: Vec<u8>) -> Result<()> {
        if body.is_empty() {
            return Ok(());
        }
        let mut insert = self.client.insert_formatted_with(self.insert.clone());
        let sent = async {
            insert.send(Bytes::from(body)).await?;
            insert.end().await
        };
        sent.await.map_err(|source| Error::ClickHouse { what: format!("INSERT INTO {}", self.place), source })
    }

    /// Notes in `skips` (as output `output`) the offsets of `inputs`, at or past their positions, that this
    /// table holds: every offset up to the last one each INSERT since `mark` (a round stamp) wrote per partition.
    pub async fn recover(&self, mark: u64, inputs: &[Input], output: usize, skips: &mut [Written]) -> Result<u64> {
        let started = std::time::Instant::now();
        self.wait_for_running_inserts().await?;
        let sql = format!(
            "SELECT topic, partition, max(offset) AS offset FROM {}.{} WHERE table = ? AND round >= ? \
             GROUP BY topic, partition",
            ddl::quote(&self.database),
            ddl::quote(ddl::POSITIONS)
        );
        let found: Vec<Position> =
            self.client.query(&sql).bind(&self.table).bind(mark).fetch_all().await.map_err(|source| {
                Error::ClickHouse { what: format!("reading the positions of {}", self.place), source }
            })?;
        let mut noted = 0;
        for p in &found {
            if let Some(idx) = owner(inputs, &p.topic, p.partition) {
                noted += note_held(&mut skips[idx], output, inputs[idx].next_offset, p.offset);
            }
        }
        let elapsed_us = started.elapsed().as_micros() as u64;
        tracing::info!(table = %self.place, mark, positions = found.len(), already_written = noted, elapsed_us, "table recovered from its positions");
        Ok(noted)
    }

    /// With no checkpoint at all (a first start, or lost ones: an emptied checkpoint topic, a new group name,
    /// expired group offsets), what the table holds says where it stands: per source partition, the offsets up to
    /// its newest position are noted in `skips` (as output `output`) and not written to it again, out loud. Only
    /// where the topic still holds that record and it is not newer than the round that wrote it: a recreated topic's
    /// records, with the same offsets, are written (also out loud).
    pub async fn resume_after_positions(&self, inputs: &[Input], output: usize, skips: &mut [Written]) -> Result<u64> {
        self.wait_for_running_inserts().await?;
        let sql = format!(
            "SELECT topic, partition, argMax(offset, round) AS newest_offset, max(round) AS newest_round FROM {}.{} \
             WHERE table = ? GROUP BY topic, partition",
            ddl::quote(&self.database),
            ddl::quote(ddl::POSITIONS)
        );
        let latest: Vec<Latest> =
            self.client.query(&sql).bind(&self.table).fetch_all().await.map_err(|source| Error::ClickHouse {
                what: format!("reading the positions of {}", self.place),
                source,
            })?;
        let mut noted = 0;
        for p in &latest {
            let Some(idx) = owner(inputs, &p.topic, p.partition) else { continue };
            let from = inputs[idx].next_offset;
            if p.newest_offset < from {
                continue;
            }
            let round_ms = p.newest_round.min(i64::MAX as u64) as i64;
            match held_as_written(&inputs[idx], p.newest_offset, round_ms).await? {
                (true, _) => {
                    noted += note_held(&mut skips[idx], output, from, p.newest_offset);
                    tracing::warn!(
                        table = %self.place, input = %inputs[idx].key(), from, to = p.newest_offset,
                        "no checkpoint: the table already holds this partition's rows up to its newest position; \
                         they are not written to it again (the other sinks get theirs)"
                    );
                }
                (false, made_ms) => tracing::warn!(
                    table = %self.place, input = %inputs[idx].key(), position = p.newest_offset, round_ms,
                    record_ms = ?made_ms,
                    "no checkpoint, and the table's newest position names a record this topic does not hold as it \
                     was then (recreated or truncated?): its records are written to the table"
                ),
            }
        }
        Ok(noted)
    }

    /// Waits until no INSERT into this table is running on the server (one cut off by our deadline or our death
    /// may still be writing): only then do the positions hold everything that will ever land.
    async fn wait_for_running_inserts(&self) -> Result<()> {
        let target = format!("{}.{}", ddl::quote(&self.database), ddl::quote(&self.table));
        super::clickhouse::wait_for_running_inserts(&self.client, &[target], &self.place, self.request_timeout).await
    }
}

/// Notes that `output` holds the offsets from `from` (an input's position) to `last`; returns how many (none when
/// `last` is before `from`).
fn note_held(skips: &mut Written, output: usize, from: i64, last: i64) -> u64 {
    if last < from {
        return 0;
    }
    skips.insert_range(output, from..last + 1);
    (last + 1 - from) as u64
}

/// The key of a table's mark in checkpoints.
pub fn mark_key(database: &str, table: &str) -> String {
    format!("clickhouse/{database}.{table}")
}

/// Which ClickHouse answers on `client`: 22 and later take DateTime64 and Bool, older ones get 18.16's types.
async fn server_version(client: &clickhouse::Client) -> Result<ClickHouseVersion> {
    let v: String = client.query("SELECT version()").fetch_one().await.map_err(|e| {
        if super::clickhouse::refused_login(&e) {
            Error::Fatal(format!(
                "ClickHouse refused the login: {e}. Check the sink's 'username' and 'password' (or \
                 --clickhouse-user and the password flags)"
            ))
        } else {
            Error::ClickHouse { what: "asking ClickHouse for its version".into(), source: e }
        }
    })?;
    let major: u32 = v.split('.').next().and_then(|m| m.parse().ok()).unwrap_or(0);
    Ok(if major >= 22 { ClickHouseVersion::Current } else { ClickHouseVersion::V18 })
}

/// Appends `row` to a table's INSERT body: its `columns`, then the source coordinates `src` and the `round`.
pub fn write_row(
    out: &mut Vec<u8>,
    columns: &[ChColumn],
    row: &Row<'_>,
    src: Source<'_>,
    round: u64,
) -> Result<u64, MapError> {
    let before = out.len();
    if let Err(e) = rowbinary::write_job_row(out, columns, row) {
        out.truncate(before);
        return Err(e);
    }
    rowbinary::string(out, src.topic);
    out.extend_from_slice(&src.partition.to_le_bytes());
    out.extend_from_slice(&src.offset.to_le_bytes());
    out.extend_from_slice(&round.to_le_bytes());
    Ok((out.len() - before) as u64)
}
