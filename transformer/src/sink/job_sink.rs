//! The job's sink: each of the job's sinks to its Kafka topic (JSON in Flink's format) or its ClickHouse table
//! (RowBinary, [`super::tables`]), dead letters to the dead-letter topic; a round is written to all of them at once
//! and acknowledged only when every one is. Every output record names its source, so after a crash recovery finds,
//! per output, what the round in flight already wrote: on a topic by scanning it from the committed marks
//! ([`crate::recovery`]; the unified record's `source_*` fields, or the header [`SOURCE_HEADER`] for a sink whose
//! rows do not carry them), in a table from its positions. A record is then written again only where it is
//! missing.
//!
//! Marks kept in the checkpoints: per output partition, the acknowledged end of our writes; per table
//! (`clickhouse/<database>.<table>`), the round stamp (epoch milliseconds) from which rows may be uncommitted.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use contract::processed::DeadLetter;
use futures::future::try_join_all;
use job::ddl::ChColumn;
use rskafka::client::partition::PartitionClient;
use rskafka::record::Record;
use tracing::{info, warn};

use super::kafka::{route, Topic};
use super::tables::{self, Table};
use super::{Collect, Recovered, Sink};
use crate::checkpoint::Checkpoint;
use crate::config::Config;
use crate::error::{Error, Result};
use crate::limits::{output_bound, raw_bound, FRAMING};
use crate::recovery::{self, From, SOURCE_HEADER};
use crate::source::{Input, Source};
use job::{MapError, Row};

/// Where one of the job's sinks writes.
enum Output {
    /// A Kafka topic; `header`: its records carry their source in [`SOURCE_HEADER`].
    Topic { topic: Topic, header: bool },
    /// A ClickHouse table, and its columns (shared with the rounds).
    Table { table: Box<Table>, columns: Arc<[ChColumn]> },
}

/// The job's outputs, and where our writes to each ended.
pub struct JobSink {
    /// One per sink of the job, in its order.
    outputs: Vec<Output>,
    dead: Topic,
    /// Larger JSON rows are dead-lettered ([`Config::max_output_bytes`]).
    max_output_bytes: usize,
    /// The marks the last recovery started from: kept while what it found is still ahead.
    pinned_marks: BTreeMap<String, i64>,
    /// Per output partition: its end after our last acknowledged write (or where the recovery scan ended); per
    /// table: the stamp of the last round written.
    ends: BTreeMap<String, i64>,
    /// Rounds are stamped no earlier than this (see [`Sink::barrier`]).
    not_before_ms: i64,
    /// `--crash-mid-write` and the writes so far (failpoints).
    #[cfg(feature = "failpoints")]
    crash_mid_write: (Option<u64>, u64),
}

impl JobSink {
    /// Opens the outputs: the topics through a client that never retries on its own (a lost acknowledgement fails
    /// the round, and recovery looks at what landed before anything is written again;
    /// [`runtime::kafka::connect_without_retries`]), the tables after checking them against the job.
    pub async fn connect(cfg: &Config, security: &runtime::security::Security) -> Result<Self> {
        let producer = runtime::kafka::connect_without_retries(&cfg.brokers, security).await?;
        let compression = cfg.compression.into();
        let plan = cfg.plan();
        let mut outputs = Vec::new();
        for (i, sink) in plan.sinks.iter().enumerate() {
            outputs.push(match cfg.sink_topic(i) {
                Some(topic) => Output::Topic {
                    topic: Topic::open(&producer, &topic, compression).await?,
                    header: !sink.coords_in_value,
                },
                None => {
                    let table = Box::new(Table::open(cfg, sink).await?);
                    info!(sink = %sink.name, table = %table.place, "ClickHouse table checked");
                    let columns = table.columns().into();
                    Output::Table { table, columns }
                }
            });
        }
        let dead = Topic::open(&producer, &cfg.dead_letter_topic, compression).await?;
        let max_output_bytes = cfg.max_output_bytes();
        let bound = output_bound(cfg.max_record_bytes);
        if bound > max_output_bytes {
            warn!(
                max_record_bytes = cfg.max_record_bytes,
                output_bound = bound,
                output_max_message_bytes = cfg.output_max_message_bytes,
                "a raw record that fits --max-record-bytes may give a unified record of up to {bound} bytes, over \
                 what the output topic takes; such records are dead-lettered as too_large. Raise max.message.bytes \
                 of {} and {} to {} and pass --output-max-message-bytes {}, or lower --max-record-bytes to {}",
                cfg.output_topics().join(" and "),
                cfg.dead_letter_topic,
                bound + FRAMING,
                bound + FRAMING,
                raw_bound(cfg.output_max_message_bytes),
            );
        }
        Ok(Self {
            outputs,
            dead,
            max_output_bytes,
            pinned_marks: BTreeMap::new(),
            ends: BTreeMap::new(),
            not_before_ms: 0,
            #[cfg(feature = "failpoints")]
            crash_mid_write: (cfg.crash_mid_write, 0),
        })
    }

    /// The tables among the outputs.
    fn tables(&self) -> impl Iterator<Item = &Table> {
        self.outputs.iter().filter_map(|o| match o {
            Output::Table { table, .. } => Some(&**table),
            Output::Topic { .. } => None,
        })
    }
}

/// Where one sink's rows of a round go.
#[derive(Debug)]
enum OutputRound {
    /// One vector of records per partition of the topic.
    Topic { partitions: Vec<Vec<Record>>, header: bool },
    /// The INSERT's RowBinary body.
    Table { body: Vec<u8>, columns: Arc<[ChColumn]> },
}

/// A round: per sink its records or rows, and the dead letters per dead-letter partition.
#[derive(Debug)]
pub struct JobRound {
    out: Vec<OutputRound>,
    /// Dead letters, one vector per dead-letter partition.
    pub dead: Vec<Vec<Record>>,
    max_output_bytes: usize,
    /// Where a JSON row is written before it is copied out at its exact size: a round holds its rows until they
    /// are acknowledged, and a buffer per row sized for the largest row so far held a third more than the rows.
    scratch: Vec<u8>,
    now: DateTime<Utc>,
    /// The round's stamp in the tables (epoch milliseconds).
    stamp: u64,
}

impl JobRound {
    /// An empty round of topics only: the sinks' `(partitions, source in a header)` and
    /// `dead_letter_partitions`, dead-lettering rows over `max_output_bytes`, every record stamped `now` (Kafka
    /// retention goes by record time; the event's own time is in the payload).
    pub fn new(
        sinks: &[(usize, bool)],
        dead_letter_partitions: usize,
        max_output_bytes: usize,
        now: DateTime<Utc>,
    ) -> Self {
        let out =
            sinks.iter().map(|&(n, header)| OutputRound::Topic { partitions: vec![Vec::new(); n], header }).collect();
        Self::of(out, dead_letter_partitions, max_output_bytes, now, now.timestamp_millis())
    }

    fn of(
        out: Vec<OutputRound>,
        dead_letter_partitions: usize,
        max_output_bytes: usize,
        now: DateTime<Utc>,
        stamp_ms: i64,
    ) -> Self {
        let stamp = stamp_ms.max(0) as u64;
        Self { out, dead: vec![Vec::new(); dead_letter_partitions], max_output_bytes, scratch: Vec::new(), now, stamp }
    }

    /// The records of sink `sink` (a topic), per partition.
    pub fn topic(&self, sink: usize) -> &[Vec<Record>] {
        match &self.out[sink] {
            OutputRound::Topic { partitions, .. } => partitions,
            OutputRound::Table { .. } => &[],
        }
    }

    /// The INSERT body of sink `sink` (a table).
    pub fn table(&self, sink: usize) -> &[u8] {
        match &self.out[sink] {
            OutputRound::Table { body, .. } => body,
            OutputRound::Topic { .. } => &[],
        }
    }
}

impl Collect for JobRound {
    fn row(&mut self, sink: usize, row: Row<'_>, src: Source<'_>) -> Result<u64, MapError> {
        let (partitions, header) = match &mut self.out[sink] {
            OutputRound::Table { body, columns } => return tables::write_row(body, columns, &row, src, self.stamp),
            OutputRound::Topic { partitions, header } => (partitions, *header),
        };
        self.scratch.clear();
        row.write_json(&mut self.scratch);
        // The broker would refuse a record over the topic's limit forever and stall the partition.
        if self.scratch.len() > self.max_output_bytes {
            return Err(MapError::OutputTooLarge { size: self.scratch.len(), max: self.max_output_bytes });
        }
        let json = self.scratch.clone(); // allocated at its length, not the scratch's capacity
        let size = json.len() as u64;
        let mut headers = BTreeMap::new();
        if header {
            headers.insert(
                SOURCE_HEADER.to_owned(),
                format!("{}/{}/{}", src.topic, src.partition, src.offset).into_bytes(),
            );
        }
        let n = partitions.len();
        partitions[route(src.partition, n)].push(Record {
            // No key, as in the original job's sink: the event id is in the value, and a key would cost an
            // allocation and a second copy of it per record.
            key: None,
            value: Some(json),
            headers,
            timestamp: self.now,
        });
        Ok(size)
    }

    fn dead_letter(&mut self, letter: &DeadLetter) {
        let n = self.dead.len();
        self.dead[route(letter.source_partition, n)].push(Record {
            key: Some(format!("{}/{}/{}", letter.source_topic, letter.source_partition, letter.source_offset).into()),
            value: Some(serde_json::to_vec(letter).expect("a dead letter always serialises")),
            headers: BTreeMap::new(),
            timestamp: self.now,
        });
    }
}

impl Sink for JobSink {
    type Round = JobRound;

    async fn open(cfg: &Config, security: &runtime::security::Security) -> Result<Self> {
        Self::connect(cfg, security).await
    }

    fn name(&self) -> &'static str {
        if self.tables().next().is_some() {
            "Kafka and ClickHouse"
        } else {
            "Kafka"
        }
    }

    fn round(&self, now: DateTime<Utc>) -> JobRound {
        let out = self
            .outputs
            .iter()
            .map(|o| match o {
                Output::Topic { topic, header } => {
                    OutputRound::Topic { partitions: vec![Vec::new(); topic.partitions.len()], header: *header }
                }
                Output::Table { columns, .. } => OutputRound::Table { body: Vec::new(), columns: Arc::clone(columns) },
            })
            .collect();
        let stamp = now.timestamp_millis().max(self.not_before_ms);
        JobRound::of(out, self.dead.partitions.len(), self.max_output_bytes, now, stamp)
    }

    async fn write(&mut self, round: JobRound) -> Result<()> {
        #[cfg(feature = "failpoints")]
        let round = {
            self.crash_mid_write.1 += 1;
            if self.crash_mid_write.0 == Some(self.crash_mid_write.1) {
                if let (Some(Output::Topic { topic, .. }), Some(OutputRound::Topic { partitions, .. })) =
                    (self.outputs.first(), round.out.into_iter().next())
                {
                    topic.produce(partitions).await?;
                }
                tracing::error!("--crash-mid-write: aborting with the first sink's records written, not the others'");
                std::process::abort();
            }
            round
        };
        let stamp = round.stamp as i64;
        self.not_before_ms = self.not_before_ms.max(stamp);
        let (mut produces, mut inserts) = (Vec::new(), Vec::new());
        for (output, out) in self.outputs.iter().zip(round.out) {
            match (output, out) {
                (Output::Topic { topic, .. }, OutputRound::Topic { partitions, .. }) => {
                    produces.push(topic.produce(partitions))
                }
                (Output::Table { table, .. }, OutputRound::Table { body, .. }) => inserts.push(table.insert(body)),
                _ => unreachable!("a round is made by its sink's round()"),
            }
        }
        let produced = async { try_join_all(produces).await.map_err(Error::from) };
        let (out_marks, (), dead_marks) =
            tokio::try_join!(produced, async { try_join_all(inserts).await.map(|_| ()) }, async {
                self.dead.produce(round.dead).await.map_err(Error::from)
            })?;
        for marks in out_marks {
            self.ends.extend(marks);
        }
        self.ends.extend(dead_marks);
        for output in &self.outputs {
            if let Output::Table { table, .. } = output {
                let end = self.ends.entry(table.mark_key.clone()).or_insert(stamp);
                *end = (*end).max(stamp);
            }
        }
        Ok(())
    }

    async fn recover(&mut self, committed: Option<&Checkpoint>, inputs: &[Input]) -> Result<Recovered> {
        // Output i is the job's sink i; the dead letters come after them.
        let topics: Vec<(usize, Arc<PartitionClient>)> = self
            .outputs
            .iter()
            .enumerate()
            .filter_map(|(i, o)| match o {
                Output::Topic { topic, .. } => Some((i, topic)),
                Output::Table { .. } => None,
            })
            .chain([(self.outputs.len(), &self.dead)])
            .flat_map(|(i, t)| t.partitions.iter().map(move |p| (i, Arc::clone(p))))
            .collect();
        let from = |key: &str| match committed {
            None => From::End,
            Some(cp) => cp.output_marks.get(key).map_or(From::Start, |&m| From::Mark(m)),
        };
        let none = Default::default();
        let input_marks = committed.map_or(&none, |cp| &cp.input_marks);
        let mut found = recovery::scan_outputs(&topics, from, inputs, input_marks).await?;
        self.pinned_marks = found.starts;
        self.ends = found.ends;
        let now_ms = Utc::now().timestamp_millis();
        for (output, o) in self.outputs.iter().enumerate() {
            let Output::Table { table, .. } = o else { continue };
            let key = &table.mark_key;
            // A checkpoint holds a table's mark from the first commit on. Without one the table's own positions
            // say what it holds (lost checkpoints must not double its rows).
            let mark = match committed {
                None => {
                    let resumed = table.resume_after_positions(inputs, output, &mut found.skips).await?;
                    found.scanned += resumed;
                    // While what the positions showed is still ahead, a crash must find it again: every position.
                    if resumed > 0 {
                        0
                    } else {
                        now_ms
                    }
                }
                Some(cp) => {
                    // The oldest of the marks that apply: this instance's, and those of the partitions it takes
                    // over from another.
                    let mark = inputs
                        .iter()
                        .filter_map(|i| cp.input_marks.get(&i.key()).and_then(|m| m.get(key)).copied())
                        .chain(cp.output_marks.get(key).copied())
                        .min()
                        .unwrap_or(0);
                    found.scanned += table.recover(mark.max(0) as u64, inputs, output, &mut found.skips).await?;
                    mark
                }
            };
            self.pinned_marks.insert(key.clone(), mark);
            self.ends.insert(key.clone(), mark.max(now_ms));
            // A clock set back must not stamp rows before the mark a recovery reads from.
            self.not_before_ms = self.not_before_ms.max(mark);
        }
        Ok(Recovered { skips: found.skips, scanned: found.scanned })
    }

    async fn lost_checkpoint(&mut self, inputs: &[Input]) -> Result<Option<Checkpoint>> {
        let sinks: Vec<&[Arc<PartitionClient>]> = self
            .outputs
            .iter()
            .filter_map(|o| match o {
                Output::Topic { topic, .. } => Some(&topic.partitions[..]),
                Output::Table { .. } => None,
            })
            .collect();
        if sinks.is_empty() {
            return Ok(None); // the tables keep their own positions (Table::resume_after_positions)
        }
        let marked: Vec<Arc<PartitionClient>> =
            sinks.iter().flat_map(|t| t.iter()).chain(&self.dead.partitions).cloned().collect();
        let rebuilt = super::lost_checkpoints::rebuild(&sinks, &marked, inputs).await?;
        Ok(rebuilt.map(|r| Checkpoint {
            next_offsets: r.next_offsets,
            output_marks: r.output_marks,
            ..Default::default()
        }))
    }

    fn marks(&self, skips_ahead: bool) -> BTreeMap<String, i64> {
        if skips_ahead {
            self.pinned_marks.clone()
        } else {
            self.ends.clone()
        }
    }

    fn barrier(&mut self) -> BTreeMap<String, i64> {
        let now_ms = Utc::now().timestamp_millis();
        let keys: Vec<String> = self.tables().map(|t| t.mark_key.clone()).collect();
        for key in keys {
            let m = self.ends.get(&key).copied().unwrap_or(0).max(now_ms) + 1;
            self.not_before_ms = self.not_before_ms.max(m);
            self.ends.insert(key, m);
        }
        self.marks(false)
    }
}
