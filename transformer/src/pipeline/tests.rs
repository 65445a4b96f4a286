//! The real loop ([`Pipeline::round`] with its overlapped fetch, [`Pipeline::resync`], [`Pipeline::recover`])
//! driven over input partitions, a sink and a checkpoint store held in memory, with a crash at any await: each
//! step polls the round (or the recovery after a restart) a chosen number of times and, if it has not finished by
//! then, drops it there, as a killed process stops. Every await of the fakes is a real suspension (a fetch on the
//! wire, each output of a write, the commit and its acknowledgement), so crashes land between every two of them.

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use chrono::{DateTime, Utc};
use clap::Parser;
use contract::processed::DeadLetter;
use job::{MapError, Row};
use proptest::prelude::*;

use super::Pipeline;
use crate::batch::Layout;
use crate::checkpoint::{Adopted, Checkpoint, CheckpointError, OffsetStore};
use crate::config::Config;
use crate::error::{Error, Result};
use crate::metrics::Metrics;
use crate::ranges::Written;
use crate::sink::memory::TWO_SINKS;
use crate::sink::{Collect, Recovered, Sink};
use crate::source::{Input, MemoryPartition, Partition, Source};

const PARTITIONS: i32 = 2;
const RECORDS: i64 = 120;

/// What outlives a crash: what the sink stores and the checkpoints committed.
#[derive(Debug, Default)]
struct World {
    /// `(output, partition, offset)` of every row stored, in the order stored.
    rows: Vec<(usize, i32, i64)>,
    /// The checkpoints, oldest first.
    commits: Vec<Checkpoint>,
    /// The next write stores its rows and then fails (the loop's own error path, not a crash).
    fail_next_write: bool,
    /// Per `(partition, offset)`: the outputs a run without crashes gives it (set before the run).
    expected: BTreeMap<(i32, i64), BTreeSet<usize>>,
    /// Commits that moved a position past a record whose outputs were not all stored: must stay empty.
    violations: Vec<String>,
}

type Shared = Arc<Mutex<World>>;

fn lock(w: &Shared) -> std::sync::MutexGuard<'_, World> {
    w.lock().expect("world lock")
}

/// A sink that stores each output of a round separately, pausing between them and before its acknowledgement.
struct TestSink(Shared);

/// A round for [`TestSink`].
struct TestRound(Vec<(usize, i32, i64)>);

impl Collect for TestRound {
    fn row(&mut self, sink: usize, _row: Row<'_>, src: Source<'_>) -> Result<u64, MapError> {
        self.0.push((sink, src.partition, src.offset));
        Ok(1)
    }
    fn dead_letter(&mut self, d: &DeadLetter) {
        self.0.push((2, d.source_partition, d.source_offset));
    }
}

impl Sink for TestSink {
    type Round = TestRound;

    async fn open(_cfg: &Config, _security: &runtime::security::Security) -> Result<Self> {
        unreachable!("built by the test")
    }
    fn name(&self) -> &'static str {
        "test"
    }
    fn round(&self, _now: DateTime<Utc>) -> TestRound {
        TestRound(Vec::new())
    }
    async fn write(&mut self, round: TestRound) -> Result<()> {
        for output in 0..3 {
            tokio::task::yield_now().await;
            lock(&self.0).rows.extend(round.0.iter().filter(|r| r.0 == output));
        }
        tokio::task::yield_now().await; // the acknowledgement on its way
        if std::mem::take(&mut lock(&self.0).fail_next_write) {
            return Err(Error::Timeout { server: "test", what: "the write", waited: std::time::Duration::ZERO });
        }
        Ok(())
    }
    async fn recover(&mut self, committed: Option<&Checkpoint>, inputs: &[Input]) -> Result<Recovered> {
        let mut skips = vec![Written::default(); inputs.len()];
        if committed.is_some() {
            for &(output, partition, offset) in &lock(&self.0).rows {
                if let Some(i) =
                    inputs.iter().position(|i| i.client.partition() == partition && offset >= i.next_offset)
                {
                    skips[i].insert(output, offset);
                }
            }
        }
        Ok(Recovered { skips, scanned: 0 })
    }
    fn marks(&self, _skips_ahead: bool) -> BTreeMap<String, i64> {
        BTreeMap::new()
    }
}

/// A checkpoint store that pauses before a commit lands and before its acknowledgement, and checks each commit
/// against what the sink stores.
struct TestStore(Shared);

impl OffsetStore for TestStore {
    fn key(&self) -> &str {
        "test"
    }
    async fn load(&self) -> Result<Option<Checkpoint>, CheckpointError> {
        Ok(lock(&self.0).commits.last().cloned())
    }
    async fn adopt(&self, _group: &str, _inputs: &[String]) -> Result<Option<Adopted>, CheckpointError> {
        Ok(None)
    }
    async fn commit(&self, cp: &Checkpoint) -> Result<(), CheckpointError> {
        tokio::task::yield_now().await;
        {
            let mut w = lock(&self.0);
            if w.expected.is_empty() {
                // The run that finds what is expected.
                w.commits.push(cp.clone());
                return Ok(());
            }
            let stored: BTreeSet<(usize, i32, i64)> = w.rows.iter().copied().collect();
            for (key, &next) in &cp.next_offsets {
                let partition: i32 = key.rsplit('/').next().and_then(|p| p.parse().ok()).expect("topic/partition");
                for offset in 0..next {
                    let missing: Vec<usize> = w.expected[&(partition, offset)]
                        .iter()
                        .filter(|o| !stored.contains(&(**o, partition, offset)))
                        .copied()
                        .collect();
                    if !missing.is_empty() {
                        w.violations.push(format!("{key} committed at {next} before {offset} reached {missing:?}"));
                    }
                }
            }
            w.commits.push(cp.clone());
        }
        tokio::task::yield_now().await; // the acknowledgement on its way
        Ok(())
    }
}

fn record(offset: i64) -> rskafka::record::RecordAndOffset {
    let value = match offset % 7 {
        3 => b"nope".to_vec(),
        5 => br#"{"user_id":"u","timestamp":"whenever"}"#.to_vec(),
        _ => br#"{"user_id":"u","timestamp":"2024-05-01 10:00:00"}"#.to_vec(),
    };
    rskafka::record::RecordAndOffset {
        record: rskafka::record::Record {
            key: None,
            value: Some(value),
            headers: BTreeMap::new(),
            timestamp: Utc::now(),
        },
        offset,
    }
}

/// How a run fetches: `--fetch-max-bytes`, and a round's `--sink-batch-size` when it gathers records
/// (`--sink-flush-interval-ms`, long enough that only the batch size or the end of the inputs ends a round).
#[derive(Debug, Clone, Copy)]
struct Fetching {
    max_bytes: i32,
    batch_size: Option<u64>,
}

/// A new process: its own inputs (positions unknown until recovery), on the world's sink and store.
fn process(world: &Shared, fetching: Fetching) -> Pipeline<TestSink, TestStore> {
    let mut args =
        vec!["transformer".to_owned(), "--drain".into(), format!("--fetch-max-bytes={}", fetching.max_bytes)];
    if let Some(n) = fetching.batch_size {
        args.extend(["--sink-flush-interval-ms=600000".to_owned(), format!("--sink-batch-size={n}")]);
    }
    let cfg = Config::parse_from(args);
    let inputs: Vec<Input> = (0..PARTITIONS)
        .map(|partition| Input {
            client: Partition::Memory(Arc::new(MemoryPartition {
                topic: "orders".into(),
                partition,
                records: (0..RECORDS).map(record).collect(),
            })),
            next_offset: 0,
            high_watermark: 0,
        })
        .collect();
    let plan = Arc::new(job::Plan::new("test.sql", TWO_SINKS).expect("the job plans"));
    let layout = Layout::new(plan, inputs.iter().map(Input::id).collect(), false, 1 << 20, 64);
    let (sink, store) = (TestSink(Arc::clone(world)), TestStore(Arc::clone(world)));
    Pipeline::assemble(cfg, None, layout, inputs, sink, store, Arc::new(Metrics::default()))
}

/// Polls `fut` at most `polls` times (all of them when `None`): its output, or `None` when it was stopped there.
fn run_for<F: Future>(fut: F, polls: Option<u32>) -> Option<F::Output> {
    let mut fut = std::pin::pin!(fut);
    let mut cx = Context::from_waker(std::task::Waker::noop());
    let mut n = 0;
    loop {
        if let Poll::Ready(v) = fut.as_mut().poll(&mut cx) {
            return Some(v);
        }
        n += 1;
        if polls.is_some_and(|p| n >= p) {
            return None;
        }
    }
}

/// Whether every input is past its last record, with nothing pending.
fn done(p: &Pipeline<TestSink, TestStore>) -> bool {
    p.inputs.iter().all(|i| i.next_offset >= RECORDS) && p.skips.iter().all(Written::is_empty)
}

/// One step of a run: how many polls the round (or the restart's recovery) gets before the process dies
/// (`None`: no crash), and whether its write fails on its own after storing (a lost acknowledgement the loop sees).
#[derive(Debug, Clone)]
struct Step {
    crash_after: Option<u32>,
    write_fails: bool,
}

fn step() -> impl Strategy<Value = Step> {
    (prop_oneof![2 => Just(None), 1 => (1u32..14).prop_map(Some)], proptest::bool::weighted(0.15))
        .prop_map(|(crash_after, write_fails)| Step { crash_after, write_fails })
}

/// Runs the loop through `steps` (then without crashes to the end); the world afterwards.
fn run(world: &Shared, steps: &[Step], fetching: Fetching) -> Vec<(usize, i32, i64)> {
    let rt = tokio::runtime::Builder::new_current_thread().enable_time().build().expect("a runtime");
    let _guard = rt.enter();
    let mut steps = steps.iter().cloned().chain(std::iter::repeat(Step { crash_after: None, write_fails: false }));
    let mut p: Option<Pipeline<TestSink, TestStore>> = None;
    for _ in 0..10_000 {
        let step = steps.next().expect("endless");
        let mut live = match p.take() {
            Some(live) => live,
            None => {
                // A restart: recovery, which may itself be cut short.
                let mut fresh = process(world, fetching);
                match run_for(fresh.recover(), step.crash_after) {
                    Some(r) => r.expect("recovery over memory does not fail"),
                    None => continue,
                }
                fresh
            }
        };
        if done(&live) {
            let mut w = lock(world);
            w.rows.sort_unstable();
            return w.rows.clone();
        }
        lock(world).fail_next_write = step.write_fails;
        match run_for(live.round(), step.crash_after) {
            None => continue, // died mid-round: a new process next step
            Some(Ok(())) => {}
            Some(Err(_)) => {
                // As run() does: recover from the last commit, and go on.
                run_for(live.resync(), None).expect("polled to the end").expect("recovers");
            }
        }
        p = Some(live);
    }
    panic!("the run did not finish in 10,000 steps");
}

/// What a run without crashes stores, by record.
fn expected(fetching: Fetching) -> BTreeMap<(i32, i64), BTreeSet<usize>> {
    let world = Shared::default();
    // Every record has some output, so a commit past a record with none stored is a loss.
    let rows = run(&world, &[], fetching);
    let mut by_record: BTreeMap<(i32, i64), BTreeSet<usize>> = BTreeMap::new();
    for (output, partition, offset) in rows {
        by_record.entry((partition, offset)).or_default().insert(output);
    }
    by_record
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// Whatever the crash points: no commit moves a position past a record whose outputs are not all stored, and
    /// in the end every output of every record is stored exactly once.
    #[test]
    fn the_loop_commits_nothing_unwritten_and_stores_everything_once(
        steps in proptest::collection::vec(step(), 1..80),
        fetch_max_bytes in 40i32..400,
        batch_size in proptest::option::of(5u64..100),
    ) {
        let fetching = Fetching { max_bytes: fetch_max_bytes, batch_size };
        let expected = expected(fetching);
        prop_assert_eq!(expected.len() as i64, i64::from(PARTITIONS) * RECORDS, "every record has an output");
        let world = Shared::default();
        lock(&world).expected = expected.clone();
        let rows = run(&world, &steps, fetching);
        let w = lock(&world);
        prop_assert!(w.violations.is_empty(), "{} commits, the first: {:?}", w.violations.len(), &w.violations[..w.violations.len().min(3)]);
        let mut once: Vec<(usize, i32, i64)> =
            expected.iter().flat_map(|(&(p, o), outs)| outs.iter().map(move |&out| (out, p, o))).collect();
        once.sort_unstable();
        prop_assert_eq!(rows, once);
    }
}

/// The overlap is real: while a round is written, the next round's records are already fetched, and the next
/// round maps them without fetching again.
#[test]
fn the_next_rounds_fetch_is_answered_while_this_round_is_written() {
    let world = Shared::default();
    let fetching = Fetching { max_bytes: 200, batch_size: None };
    lock(&world).expected = expected(fetching);
    let rt = tokio::runtime::Builder::new_current_thread().enable_time().build().expect("a runtime");
    let _guard = rt.enter();
    let mut p = process(&world, fetching);
    run_for(p.recover(), None).expect("ran").expect("recovered");
    run_for(p.round(), None).expect("ran").expect("a round");
    let answers = run_for(p.ahead.take().expect("a fetch sent ahead").0, Some(1)).expect("answered during the write");
    let ahead: Vec<i64> = answers.iter().map(|a| a.as_ref().map_or(-1, |(at, _)| *at)).collect();
    let positions: Vec<i64> = p.inputs.iter().map(|i| i.next_offset).collect();
    assert!(positions.iter().all(|&n| n > 0), "the round read both partitions: {positions:?}");
    assert_eq!(ahead, positions, "fetched ahead exactly at the committed positions");
    // A crash-free run stores every record's outputs once, with the overlap.
    let rows = run(&world, &[], fetching);
    let unique: BTreeSet<_> = rows.iter().collect();
    assert_eq!(unique.len(), rows.len(), "nothing doubled");
}

/// With a flush interval, a round fetches again and again until it holds `sink.batch-size` records: one write and
/// one commit for what took several fetches, and never more than the batch size.
#[test]
fn a_gathering_round_takes_several_fetches_up_to_its_batch_size() {
    let world = Shared::default();
    let rt = tokio::runtime::Builder::new_current_thread().enable_time().build().expect("a runtime");
    let _guard = rt.enter();
    // About 50 bytes a record: a fetch of 200 bytes brings about 4 records of a partition.
    let one_fetch = Fetching { max_bytes: 200, batch_size: None };
    let mut p = process(&world, one_fetch);
    run_for(p.recover(), None).expect("ran").expect("recovered");
    run_for(p.round(), None).expect("ran").expect("a round");
    let taken = |p: &Pipeline<TestSink, TestStore>| p.inputs.iter().map(|i| i.next_offset).sum::<i64>();
    let single = taken(&p);
    assert!(single > 0 && single <= 10, "one fetch per partition takes a few records: {single}");

    let world = Shared::default();
    let mut p = process(&world, Fetching { max_bytes: 200, batch_size: Some(90) });
    run_for(p.recover(), None).expect("ran").expect("recovered");
    let commits = lock(&world).commits.len();
    run_for(p.round(), None).expect("ran").expect("a round");
    assert_eq!(taken(&p), 90, "the round gathered up to its batch size, over many fetches");
    assert_eq!(lock(&world).commits.len(), commits + 1, "in one commit");
    run_for(p.round(), None).expect("ran").expect("a round");
    assert_eq!(taken(&p), 180, "and the next round as many");
}
