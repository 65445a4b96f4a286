//! `transformer offsets show|reset`: the operator's view of this instance's checkpoints, and the way to move them
//! (a replay, a skip, or out of a checkpoint record that does not decode).
//!
//! A reset appends a new checkpoint under this instance's key; the transformer reads the newest one at start. To
//! earliest, latest or a time, its output marks are the outputs' current ends, so nothing is skipped as already
//! written: a replay writes again (ClickHouse de-duplicates on event_id). To a checkpoint offset, the old
//! checkpoint is copied whole, marks included, so recovery skips what was written after it: nothing repeated.
//! With the direct ClickHouse sink a reset writes no marks, and nothing already stored is written again (recovery
//! looks rows up by source coordinates): empty the tables for a real replay.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use rskafka::client::Client;

use crate::checkpoint::{Checkpoint, CheckpointStore};
use crate::config::{Assignment, Config, OffsetsAction, ResetTo};
use crate::error::{Error, Result};
use crate::source::{bounds, offset_at, tp_key, PositionProblem};

/// Runs `action` and returns what to print.
pub async fn run(client: &Client, cfg: &Config, action: &OffsetsAction) -> Result<String> {
    if cfg.assignment() == Assignment::Group {
        return group::run(client, cfg, action).await;
    }
    let store = CheckpointStore::new(
        runtime::kafka::partition_client(client, &cfg.checkpoint_topic, 0).await?,
        cfg.checkpoint_key(),
    );
    let inputs = crate::source::open_inputs(client, &cfg.input_topics, cfg.instance, cfg.instances).await?;
    let mut out = String::new();
    match action {
        OffsetsAction::Show { history } => {
            let found = store.history(*history).await?;
            let Some((offset, newest)) = found.first() else {
                writeln!(out, "no checkpoint for key {} in topic {}", store.key(), cfg.checkpoint_topic)?;
                return Ok(out);
            };
            writeln!(out, "checkpoint key={} topic={} offset={offset}", store.key(), cfg.checkpoint_topic)?;
            match newest {
                Ok(cp) => positions(&mut out, &inputs, cp).await?,
                Err(e) => writeln!(out, "INVALID: {e}")?,
            }
            for (offset, cp) in found.iter().skip(1) {
                let valid = cp.as_ref().map_or_else(|e| format!("invalid ({e})"), |_| "valid".into());
                writeln!(out, "earlier offset={offset} {valid}")?;
            }
        }
        OffsetsAction::Reset { to, partition, to_offset, dry_run } => {
            // The current checkpoint only for a one-partition move: a reset to an earlier checkpoint is the way out
            // of one that does not decode.
            let current = match partition {
                Some(_) => store.load().await?.unwrap_or_default(),
                None => Checkpoint::default(),
            };
            let cp = reset_target(client, cfg, &inputs, &store, (to, partition, to_offset), current).await?;
            print_reset(&mut out, &cp)?;
            if *dry_run {
                writeln!(out, "dry run: nothing written")?;
            } else {
                store.commit(&cp).await?;
                writeln!(
                    out,
                    "written: a new checkpoint for key {} (the transformer resumes there at its next start)",
                    store.key()
                )?;
            }
        }
    }
    Ok(out)
}

/// What a reset writes: `current` with one partition moved (`--partition P --to-offset N`, N within P's log), a copy
/// of the checkpoint at an offset of the checkpoint topic (`--to N`), or every input at a position (`--to
/// earliest|latest|<time>`).
async fn reset_target(
    client: &Client,
    cfg: &Config,
    inputs: &[crate::source::Input],
    store: &CheckpointStore,
    (to, partition, to_offset): (&Option<ResetTo>, &Option<String>, &Option<i64>),
    mut current: Checkpoint,
) -> Result<Checkpoint> {
    Ok(match (to, partition, to_offset) {
        (_, Some(key), Some(offset)) => {
            let input = inputs.iter().find(|i| i.key() == *key).ok_or_else(|| {
                let keys: Vec<_> = inputs.iter().map(|i| i.key()).collect();
                Error::Fatal(format!("--partition {key} is not an input of this instance: {}", keys.join(", ")))
            })?;
            let (low, high) = input.client.bounds().await?;
            if !(low..=high).contains(offset) {
                return Err(Error::Fatal(format!("--to-offset {offset} is outside {key}'s log ({low}..={high})")));
            }
            current.next_offsets.insert(key.clone(), *offset);
            current
        }
        (Some(ResetTo::Checkpoint(offset)), _, _) => store.at(*offset).await.map_err(Error::Fatal)?,
        (Some(ResetTo::Position(at)), _, _) => at_position(client, cfg, inputs, *at).await?,
        (None, _, _) => unreachable!("clap requires --to or --partition with --to-offset"),
    })
}

/// The positions and marks a reset writes, a line each.
fn print_reset(out: &mut String, cp: &Checkpoint) -> std::fmt::Result {
    for (k, o) in &cp.next_offsets {
        writeln!(out, "position {k} next={o}")?;
    }
    for (k, m) in &cp.output_marks {
        writeln!(out, "mark {k} offset={m}")?;
    }
    Ok(())
}

/// One `position` line per input (its committed position against the log start and high watermark), then one
/// `mark` line per output partition.
async fn positions(out: &mut String, inputs: &[crate::source::Input], cp: &Checkpoint) -> Result<()> {
    for input in inputs {
        let (low, high) = input.client.bounds().await?;
        let key = input.key();
        let Some(&pos) = cp.next_offsets.get(&key) else {
            writeln!(out, "position {key} committed=none log_start={low} high_watermark={high}")?;
            continue;
        };
        let (state, lag) = PositionProblem::report(Some(pos), low, high);
        writeln!(out, "position {key} committed={pos} log_start={low} high_watermark={high} lag={lag} state={state}")?;
    }
    for (k, m) in &cp.output_marks {
        writeln!(out, "mark {k} offset={m}")?;
    }
    Ok(())
}

/// A checkpoint at `at` for every input, with the outputs' current ends as marks: nothing is skipped as already
/// written. The direct ClickHouse sink keeps no marks (it looks rows up by source coordinates) and may have no
/// output topics at all.
async fn at_position(
    client: &Client,
    cfg: &Config,
    inputs: &[crate::source::Input],
    at: crate::config::StartAt,
) -> Result<Checkpoint> {
    let mut next_offsets = BTreeMap::new();
    for input in inputs {
        next_offsets.insert(input.key(), offset_at(&input.client, at).await?);
    }
    let mut output_marks = BTreeMap::new();
    let outputs: Vec<String> = match cfg.sink {
        crate::config::SinkKind::Kafka => {
            let mut topics = cfg.output_topics();
            topics.push(cfg.dead_letter_topic.clone());
            topics
        }
        crate::config::SinkKind::ClickHouse => Vec::new(),
    };
    for topic in &outputs {
        for p in runtime::kafka::partitions(client, topic).await? {
            let (_, high) = bounds(&runtime::kafka::partition_client(client, topic, p).await?).await?;
            output_marks.insert(tp_key(topic, p), high);
        }
    }
    // The job's ClickHouse tables: rows from before the reset are not taken for the new positions' (the rows they
    // hold past the new positions are written again, as on a topic).
    if cfg.sink == crate::config::SinkKind::Kafka {
        let params = cfg.ddl_params(contract::sql::ClickHouseVersion::V18);
        let now_ms = chrono::Utc::now().timestamp_millis();
        for sink in cfg.plan().sinks.iter().filter(|s| s.clickhouse().is_some()) {
            let (database, table) = job::ddl::stored_table(sink, &params);
            output_marks.insert(crate::sink::tables::mark_key(database, table), now_ms);
        }
    }
    Ok(Checkpoint { next_offsets, output_marks, ..Default::default() })
}

/// `offsets show|reset` for a consumer group: the positions are the group's committed offsets, the marks the
/// newest ones of the group in the checkpoint topic (see `crate::group`).
mod group {
    use super::*;

    /// The group's positions for every input partition and the newest marks covering them.
    async fn current(
        member: &runtime::group::Member,
        store: &CheckpointStore,
        cfg: &Config,
        inputs: &[crate::source::Input],
    ) -> Result<Checkpoint> {
        let parts: Vec<_> = inputs.iter().map(crate::source::Input::id).collect();
        let committed = member.committed(&parts).await?;
        let keys: Vec<String> = inputs.iter().map(crate::source::Input::key).collect();
        let marks = store.newest(&format!("{}/", cfg.group), &keys, None).await?;
        Ok(Checkpoint {
            next_offsets: committed.into_iter().map(|((t, p), c)| (tp_key(&t, p), c.offset)).collect(),
            output_marks: marks.map(|m| m.output_marks).unwrap_or_default(),
            ..Default::default()
        })
    }

    pub(super) async fn run(client: &Client, cfg: &Config, action: &OffsetsAction) -> Result<String> {
        let store = CheckpointStore::new(
            runtime::kafka::partition_client(client, &cfg.checkpoint_topic, 0).await?,
            format!("{}/group", cfg.group),
        );
        let member = crate::group::outsider(cfg)?;
        let inputs = crate::source::open_inputs(client, &cfg.input_topics, cfg.instance, cfg.instances).await?;
        let cp = current(&member, &store, cfg, &inputs).await?;
        let mut out = String::new();
        match action {
            OffsetsAction::Show { .. } => {
                writeln!(
                    out,
                    "group {} (offsets committed to the group; marks from {})",
                    cfg.group, cfg.checkpoint_topic
                )?;
                positions(&mut out, &inputs, &cp).await?;
            }
            OffsetsAction::Reset { to, partition, to_offset, dry_run } => {
                let new = reset_target(client, cfg, &inputs, &store, (to, partition, to_offset), cp).await?;
                print_reset(&mut out, &new)?;
                if *dry_run {
                    writeln!(out, "dry run: nothing written")?;
                    return Ok(out);
                }
                let offsets =
                    inputs.iter().filter_map(|i| new.next_offsets.get(&i.key()).map(|o| (i.id(), *o))).collect();
                member.commit_outside(&offsets).await.map_err(|e| {
                    Error::Fatal(format!(
                        "the group refused the reset ({e}): stop every transformer of group {} first (Kafka takes \
                         an operator's commit only while the group is empty)",
                        cfg.group
                    ))
                })?;
                store.commit(&new).await?;
                writeln!(
                    out,
                    "written: the group's offsets and marks (the transformers resume there at their next start)"
                )?;
            }
        }
        Ok(out)
    }
}
