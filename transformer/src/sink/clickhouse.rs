//! The direct ClickHouse sink (`--sink clickhouse`): unified rows into `events_processed` and dead letters into
//! `dead_letters`, one RowBinary INSERT per table per round, over HTTP(S) with the `clickhouse` crate. The loop
//! commits the input offsets only after ClickHouse has acknowledged both INSERTs.
//!
//! Exactly once without FINAL: every row carries its source coordinates. After a crash (or a failed round),
//! [`ClickHouseSink::recover`] first waits until no INSERT into the two tables is still running on the server (one
//! cut off by our deadline or our death may still be writing), then asks, per input partition, which offsets at or
//! past the committed position are already stored; the loop skips those. An INSERT either lands whole or not at
//! all for a round this size (ClickHouse writes a block only once it is read completely, and a round is far below
//! `max_insert_block_size`), and a partial round (the first table acknowledged, the second not) is found row by row.

use std::time::{Duration, Instant};

use bytes::Bytes;
use chrono::{DateTime, Utc};
use contract::processed::DeadLetter;
use contract::record::{DEAD_LETTERS, EVENTS};
use tracing::{info, warn};

use super::rowbinary::{self, quote};
use super::{Collect, Recovered, Sink};
use crate::checkpoint::Checkpoint;
use crate::config::{Config, ConfigError};
use crate::error::{Error, Result};
use job::{MapError, Row};

use crate::ranges::Written;
use crate::recovery::note_written;
use crate::source::Input;
use crate::source::Source;

/// The table of unified rows.
pub const EVENTS_TABLE: &str = EVENTS.stored;
/// The table of dead letters.
pub const DEAD_LETTERS_TABLE: &str = DEAD_LETTERS.stored;

/// A ClickHouse server and the two tables.
pub struct ClickHouseSink {
    client: clickhouse::Client,
    database: String,
    user: String,
    insert_events: String,
    insert_dead: String,
    /// How long recovery waits for an earlier INSERT still running on the server.
    request_timeout: Duration,
    /// Time marks, in epoch seconds of `inserted_at` ([`MARK`]): rows written after the last commit have
    /// `inserted_at` at or after `ends`; `pinned` is the mark the last recovery looked from (kept while what it found
    /// is still ahead).
    ends: i64,
    pinned: i64,
    /// Rows are stamped `inserted_at` no earlier than this (see [`Sink::barrier`]).
    not_before: i64,
}

/// The key of the direct sink's time mark in checkpoints: rows with `inserted_at` at or after it may be ours and
/// uncommitted. A recovery looks only at those (and at source offsets at or past the committed position), so a
/// recreated topic's old rows, with the same coordinates, are never taken for the new topic's.
pub const MARK: &str = "clickhouse/inserted_at";

/// A round for ClickHouse: the RowBinary bodies of the two INSERTs.
#[derive(Debug, Default)]
pub struct ClickHouseRound {
    events: Vec<u8>,
    dead: Vec<u8>,
    inserted_at: u32,
}

impl ClickHouseRound {
    /// An empty round whose rows are inserted at `now`.
    pub fn new(now: DateTime<Utc>) -> Self {
        Self { inserted_at: now.timestamp().clamp(0, u32::MAX as i64) as u32, ..Default::default() }
    }

    /// The RowBinary bodies of the round's INSERTs: `events_processed`'s and `dead_letters`'.
    pub fn bodies(&self) -> (&[u8], &[u8]) {
        (&self.events, &self.dead)
    }
}

impl Collect for ClickHouseRound {
    fn row(&mut self, _sink: usize, row: Row<'_>, _src: Source<'_>) -> Result<u64, MapError> {
        let before = self.events.len();
        if let Err(e) = rowbinary::write_event(&mut self.events, &row, self.inserted_at) {
            self.events.truncate(before);
            return Err(e);
        }
        Ok((self.events.len() - before) as u64)
    }

    fn dead_letter(&mut self, letter: &DeadLetter) {
        rowbinary::write_dead_letter(&mut self.dead, letter, self.inserted_at);
    }
}

/// A column of a table as ClickHouse describes it.
#[derive(Debug, clickhouse::Row, serde::Deserialize)]
struct Column {
    name: String,
    #[serde(rename = "type")]
    ty: String,
}

/// Source coordinates of a stored row.
#[derive(Debug, clickhouse::Row, serde::Deserialize)]
struct Stored {
    source_topic: String,
    source_partition: i32,
    source_offset: i64,
}

/// Idle connections are closed after this: ClickHouse closes them after 3 s (keep_alive_timeout), and reusing one it
/// is closing fails the request.
const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(2);

impl ClickHouseSink {
    /// The client for `--clickhouse-*`, HTTPS with the pure-Rust TLS provider when the URL says https.
    pub fn client(ch: &crate::config::ClickHouseArgs) -> Result<clickhouse::Client, ConfigError> {
        // `http://user:password@host:8123`, the form scripts/up.sh takes, works too; the flags win.
        let (url, in_url) = split_credentials(&ch.clickhouse_url);
        // Our own connector, for TCP_NODELAY (the crate's default leaves Nagle on): an INSERT's body ends with a
        // small chunk, which Nagle holds until ClickHouse acknowledges the one before, up to its delayed ACK (40 ms).
        let mut tcp = hyper_util::client::legacy::connect::HttpConnector::new();
        tcp.set_nodelay(true);
        tcp.set_keepalive(Some(Duration::from_secs(60)));
        let mut builder = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new());
        builder.pool_idle_timeout(POOL_IDLE_TIMEOUT);
        let client = if url.starts_with("https://") {
            let tls =
                runtime::security::tls_client_config("--clickhouse-ca-location", ch.clickhouse_ca_location.as_deref())?;
            tcp.enforce_http(false);
            let connector = hyper_rustls::HttpsConnectorBuilder::new()
                .with_tls_config(tls)
                .https_or_http()
                .enable_http1()
                .wrap_connector(tcp);
            clickhouse::Client::with_http_client(builder.build(connector))
        } else {
            if ch.clickhouse_ca_location.is_some() {
                return Err(ConfigError::Invalid(format!(
                    "--clickhouse-ca-location is set but --clickhouse-url {url} is not https://"
                )));
            }
            clickhouse::Client::with_http_client(builder.build(tcp))
        };
        let user_flag_given = ch.clickhouse_user != "default";
        let (user, url_password) = match in_url {
            Some((u, p)) if !user_flag_given => (u, Some(p)),
            _ => (ch.clickhouse_user.clone(), None),
        };
        let mut client = client
            .with_url(url)
            .with_user(user)
            .with_database(&ch.clickhouse_database)
            // ClickHouse 18.16 has no RowBinaryWithNamesAndTypes: the rows are checked against the tables at start.
            .with_validation(false);
        if let Some(password) = ch.password()?.or(url_password) {
            client = client.with_password(password);
        }
        Ok(client)
    }

    /// Checks that both tables have the columns the rows are written to, with their types. A missing table or
    /// column, or another type, is an [`Error::Fatal`] that gives the DDL command to run.
    async fn check_tables(&self) -> Result<()> {
        for record in [EVENTS, DEAD_LETTERS] {
            let (table, columns) = (record.stored, rowbinary::columns(&record));
            let found: Vec<Column> = match self
                .client
                .query("SELECT name, type FROM system.columns WHERE database = ? AND table = ?")
                .bind(&self.database)
                .bind(table)
                .fetch_all()
                .await
            {
                Ok(found) => found,
                Err(e) if refused_login(&e) => {
                    return Err(Error::Fatal(format!(
                        "ClickHouse refused the login: {e}. Check --clickhouse-user ({}) and the password \
                         (--clickhouse-password-file or CLICKHOUSE_PASSWORD)",
                        self.user
                    )))
                }
                Err(e) if refused_certificate(&e) => {
                    return Err(Error::Fatal(format!(
                        "ClickHouse's TLS certificate is not trusted: {e:#}. Pass the CA that signed it with \
                         --clickhouse-ca-location (without it, the public web CAs are trusted)"
                    )))
                }
                Err(source) => {
                    let what = format!("reading the columns of {}.{table}", self.database);
                    return Err(Error::ClickHouse { what, source });
                }
            };
            let fix = format!(
                "create the tables with `transformer schema --sink clickhouse --database {db} | clickhouse-client \
                 --multiquery` (or send each statement it prints to ClickHouse's HTTP port)",
                db = self.database
            );
            if found.is_empty() {
                return Err(Error::Fatal(format!("ClickHouse has no table {}.{table}: {fix}", self.database)));
            }
            for (name, ty) in columns {
                match found.iter().find(|c| c.name == *name) {
                    None => {
                        return Err(Error::Fatal(format!(
                            "{}.{table} has no column {name} {ty} (the rows need it): {fix}",
                            self.database
                        )))
                    }
                    Some(c) if !same_type(&c.ty, ty) => {
                        return Err(Error::Fatal(format!(
                            "{}.{table}.{name} is {} but the rows hold {ty}: alter the column, or recreate the table: \
                             {fix}",
                            self.database, c.ty
                        )))
                    }
                    Some(_) => {}
                }
            }
        }
        Ok(())
    }

    /// Waits until no INSERT into our tables is running on the server (see [`wait_for_running_inserts`]).
    async fn wait_for_running_inserts(&self) -> Result<()> {
        let targets = [EVENTS_TABLE, DEAD_LETTERS_TABLE].map(|t| format!("{}.{}", quote(&self.database), quote(t)));
        let label = format!("{}.{EVENTS_TABLE}/{DEAD_LETTERS_TABLE}", self.database);
        wait_for_running_inserts(&self.client, &targets, &label, self.request_timeout).await
    }

    /// One INSERT of `body` (RowBinary rows) into `table` with `sql`; nothing to send, nothing sent.
    async fn insert(&self, table: &str, sql: &str, body: Vec<u8>) -> Result<()> {
        if body.is_empty() {
            return Ok(());
        }
        let mut insert = self.client.insert_formatted_with(sql.to_owned());
        let sent = async {
            insert.send(Bytes::from(body)).await?;
            insert.end().await
        };
        sent.await
            .map_err(|source| Error::ClickHouse { what: format!("INSERT INTO {}.{table}", self.database), source })
    }
}

/// Waits until no INSERT into any of `targets` (`` `database`.`table` ``, as our INSERTs name them) is running on
/// the server (one of ours cut off by a deadline, or by our death, may still be writing): only then does a query see
/// everything it will ever store. After `timeout`, [`Error::InsertsRunning`] naming `label`.
pub async fn wait_for_running_inserts(
    client: &clickhouse::Client,
    targets: &[String],
    label: &str,
    timeout: Duration,
) -> Result<()> {
    let started = Instant::now();
    let condition = vec!["position(query, ?) > 0"; targets.len()].join(" OR ");
    let sql = format!("SELECT count() FROM system.processes WHERE query LIKE 'INSERT INTO%' AND ({condition})");
    loop {
        let mut query = client.query(&sql);
        for t in targets {
            query = query.bind(t);
        }
        let running: u64 = query.fetch_one().await.map_err(|source| Error::ClickHouse {
            what: "asking ClickHouse for running INSERTs (system.processes)".into(),
            source,
        })?;
        if running == 0 {
            return Ok(());
        }
        if started.elapsed() >= timeout {
            return Err(Error::InsertsRunning { running, tables: label.to_owned(), waited: timeout });
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Runs `attempt` until it succeeds, fails for good ([`Error::Fatal`]: a wrong login, a missing table), or
/// `--connect-timeout-secs` pass with ClickHouse at `url` not answering ([`Error::NotReady`], saying what to check).
pub async fn until_ready<T, F, Fut>(cfg: &Config, url: &str, mut attempt: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T>>,
{
    let started = Instant::now();
    let mut backoff = runtime::retry::Backoff::default();
    loop {
        match attempt().await {
            Ok(v) => return Ok(v),
            Err(e @ Error::Fatal(_)) => return Err(e),
            Err(e) if cfg.connect_timeout_secs > 0 && started.elapsed() >= cfg.connect_timeout() => {
                let hint = format!(
                    "ClickHouse at {url} did not answer within {} s (--connect-timeout-secs): is it running, are \
                     --clickhouse-url, --clickhouse-user and the password right?",
                    cfg.connect_timeout_secs
                );
                return Err(Error::NotReady { hint, last: Box::new(e) });
            }
            Err(e) => {
                let delay = backoff.next_delay();
                warn!(error = %format!("{e:#}"), retry_in_s = delay.as_secs(), "ClickHouse not ready; trying again");
                tokio::time::sleep(delay).await;
            }
        }
    }
}

/// A client of `server` for statements that name their database (DDL, the positions): its session database is
/// `default`, which every server has, so it works before the statements create theirs.
pub fn statement_client(server: &crate::config::ClickHouseArgs) -> Result<clickhouse::Client, ConfigError> {
    let session = crate::config::ClickHouseArgs { clickhouse_database: "default".into(), ..server.clone() };
    ClickHouseSink::client(&session)
}

/// `scheme://user:password@host...` → (`scheme://host...`, the user and password); other URLs as they are.
fn split_credentials(url: &str) -> (String, Option<(String, String)>) {
    let Some((scheme, rest)) = url.split_once("://") else { return (url.to_owned(), None) };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let Some(at) = rest[..authority_end].rfind('@') else { return (url.to_owned(), None) };
    let (user, password) = rest[..at].split_once(':').unwrap_or((&rest[..at], ""));
    (format!("{scheme}://{}", &rest[at + 1..]), Some((user.to_owned(), password.to_owned())))
}

/// Whether ClickHouse refused the user or the password (codes 192 UNKNOWN_USER, 193 WRONG_PASSWORD, 194
/// REQUIRED_PASSWORD, 516 AUTHENTICATION_FAILED): no retry makes that work.
pub(crate) fn refused_login(e: &clickhouse::error::Error) -> bool {
    let text = e.to_string();
    ["Code: 192", "Code: 193", "Code: 194", "Code: 516"].iter().any(|c| text.contains(c))
}

/// Whether the TLS handshake failed on ClickHouse's certificate (an unknown CA, another name): no retry helps.
fn refused_certificate(e: &clickhouse::error::Error) -> bool {
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        text.push_str(&s.to_string());
        source = s.source();
    }
    text.contains("invalid peer certificate")
}

/// Whether ClickHouse's `found` type takes values written as `want` in RowBinary (`LowCardinality` is transparent
/// there).
pub(crate) fn same_type(found: &str, want: &str) -> bool {
    let plain = |t: &str| t.replace("LowCardinality(", "").replace(')', "").replace(['\'', '"', '`', ' '], "");
    found == want || plain(found) == plain(want) || (want == "DateTime('UTC')" && found == "DateTime")
}

impl Sink for ClickHouseSink {
    type Round = ClickHouseRound;

    fn name(&self) -> &'static str {
        "ClickHouse"
    }

    async fn open(cfg: &Config, _security: &runtime::security::Security) -> Result<Self> {
        rowbinary::check_job(&cfg.plan()).map_err(|e| Error::Config(ConfigError::Invalid(e)))?;
        let database = cfg.clickhouse.clickhouse_database.clone();
        let sink = Self {
            client: Self::client(&cfg.clickhouse)?,
            user: cfg.clickhouse.clickhouse_user.clone(),
            insert_events: rowbinary::insert_statement(&database, EVENTS_TABLE, &rowbinary::columns(&EVENTS)),
            insert_dead: rowbinary::insert_statement(&database, DEAD_LETTERS_TABLE, &rowbinary::columns(&DEAD_LETTERS)),
            database,
            request_timeout: cfg.request_timeout(),
            ends: Utc::now().timestamp(),
            pinned: 0,
            not_before: 0,
        };
        until_ready(cfg, &cfg.clickhouse.clickhouse_url, || sink.check_tables()).await?;
        info!(url = %cfg.clickhouse.clickhouse_url, database = %sink.database, "ClickHouse tables checked");
        Ok(sink)
    }

    fn round(&self, now: DateTime<Utc>) -> ClickHouseRound {
        let at = DateTime::from_timestamp(now.timestamp().max(self.not_before), 0).unwrap_or(now);
        ClickHouseRound::new(at)
    }

    async fn write(&mut self, round: ClickHouseRound) -> Result<()> {
        let at = i64::from(round.inserted_at);
        tokio::try_join!(
            self.insert(EVENTS_TABLE, &self.insert_events, round.events),
            self.insert(DEAD_LETTERS_TABLE, &self.insert_dead, round.dead)
        )?;
        self.ends = self.ends.max(at);
        Ok(())
    }

    async fn recover(&mut self, committed: Option<&Checkpoint>, inputs: &[Input]) -> Result<Recovered> {
        let mut found = Recovered { skips: vec![Written::default(); inputs.len()], scanned: 0 };
        if committed.is_none() || inputs.is_empty() {
            return Ok(found);
        }
        self.wait_for_running_inserts().await?;
        let committed = committed.expect("checked above");
        let global = committed.output_marks.get(MARK).copied();
        let mark_of = |input: &Input| {
            committed.input_marks.get(&input.key()).and_then(|m| m.get(MARK).copied()).or(global).unwrap_or(0)
        };
        self.pinned = global.unwrap_or(0);
        self.ends = Utc::now().timestamp().max(self.ends);
        let condition = inputs
            .iter()
            .map(|_| {
                "(source_topic = ? AND source_partition = ? AND source_offset >= ? AND inserted_at >= toDateTime(?))"
            })
            .collect::<Vec<_>>()
            .join(" OR ");
        // Output 0: the default job's one sink (events_processed); output 1: the dead letters.
        for (output, table) in [EVENTS_TABLE, DEAD_LETTERS_TABLE].into_iter().enumerate() {
            let sql = format!(
                "SELECT source_topic, source_partition, source_offset FROM {}.{} WHERE {condition}",
                quote(&self.database),
                quote(table)
            );
            let mut query = self.client.query(&sql);
            for input in inputs {
                query = query
                    .bind(input.client.topic())
                    .bind(input.client.partition())
                    .bind(input.next_offset)
                    .bind(mark_of(input).clamp(0, u32::MAX as i64) as u32);
            }
            let read_back = |source| Error::ClickHouse { what: format!("reading {table} back"), source };
            let mut rows = query.fetch::<Stored>().map_err(read_back)?;
            while let Some(row) = rows.next().await.map_err(read_back)? {
                found.scanned += 1;
                note_written(
                    &mut found.skips,
                    inputs,
                    output,
                    &row.source_topic,
                    row.source_partition,
                    row.source_offset,
                );
            }
        }
        Ok(found)
    }

    fn marks(&self, skips_ahead: bool) -> std::collections::BTreeMap<String, i64> {
        [(MARK.to_string(), if skips_ahead { self.pinned } else { self.ends })].into()
    }

    fn barrier(&mut self) -> std::collections::BTreeMap<String, i64> {
        let m = self.ends.max(Utc::now().timestamp()) + 1;
        self.not_before = m;
        self.ends = m;
        self.marks(false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_in_the_url_are_taken_out_of_it() {
        assert_eq!(
            split_credentials("http://etl:etl-local@127.0.0.1:8123/"),
            ("http://127.0.0.1:8123/".to_owned(), Some(("etl".to_owned(), "etl-local".to_owned())))
        );
        assert_eq!(split_credentials("https://host:8443"), ("https://host:8443".to_owned(), None));
        assert_eq!(split_credentials("http://u@h/x@y"), ("http://h/x@y".to_owned(), Some(("u".into(), String::new()))));
    }

    #[test]
    fn types_match_as_clickhouse_reads_rowbinary() {
        assert!(same_type("DateTime('UTC')", "DateTime('UTC')"));
        assert!(same_type("DateTime", "DateTime('UTC')"), "18.16 may print the server zone's DateTime bare");
        assert!(same_type("LowCardinality(String)", "String"));
        assert!(!same_type("String", "Nullable(String)"));
        assert!(!same_type("Int32", "Int64"));
    }
}
