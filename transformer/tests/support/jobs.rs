//! The jobs the mapping tests run, through the engine as the pipeline runs them: the default job
//! (schema/jobs/unified.sql) and the original Flink job (shared/seed/job.sql, byte for byte in job/tests/data).
#![allow(dead_code)]

use std::sync::OnceLock;

use contract::processed::ProcessedEvent;
use job::{MapError, Outcome, Plan, Record};

/// The largest record the tests map.
pub const MAX: usize = 1 << 20;

/// The original job's file, unchanged.
pub const SEED_JOB: &str = include_str!("../../../job/tests/data/seed-job.sql");

/// The default job, planned once.
pub fn default_job() -> &'static Plan {
    static PLAN: OnceLock<Plan> = OnceLock::new();
    PLAN.get_or_init(|| Plan::new(job::DEFAULT_JOB_NAME, job::DEFAULT_JOB).expect("the default job plans"))
}

/// The original job, planned once.
pub fn seed_job() -> &'static Plan {
    static PLAN: OnceLock<Plan> = OnceLock::new();
    PLAN.get_or_init(|| Plan::new("seed-job.sql", SEED_JOB).expect("the original job plans"))
}

/// What `plan` writes for one record of `topic` (partition 1, offset 42): the row's JSON, or the dead letter.
pub fn one(plan: &Plan, topic: &str, value: Option<&[u8]>) -> Result<String, MapError> {
    one_at(plan, topic, 1, 42, value)
}

/// [`one`] for the record at `topic/partition/offset`.
pub fn one_at(plan: &Plan, topic: &str, partition: i32, offset: i64, value: Option<&[u8]>) -> Result<String, MapError> {
    let rec = Record { topic, partition, offset, timestamp_ms: 0, key: None, value, headers: None };
    // As the pipeline reads topics named by --input-topics: through the job's one source, whatever their names.
    let out = plan.map_owned_from(0, &rec, MAX, 0);
    match out.as_slice() {
        [Outcome::Row { json, .. }] => Ok(json.clone()),
        [Outcome::Dead { error, .. }] => Err(error.clone()),
        other => panic!("one record gave {other:?}"),
    }
}

/// The default job's unified record for one record (partition 1, offset 42), owned.
pub fn unified(topic: &str, value: Option<&[u8]>) -> Result<ProcessedEvent, MapError> {
    unified_at(topic, 1, 42, value)
}

/// [`unified`] for the record at `topic/partition/offset`.
pub fn unified_at(topic: &str, partition: i32, offset: i64, value: Option<&[u8]>) -> Result<ProcessedEvent, MapError> {
    one_at(default_job(), topic, partition, offset, value)
        .map(|json| serde_json::from_str(&json).expect("the unified record reads back"))
}
