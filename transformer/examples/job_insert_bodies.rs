//! Writes the RowBinary bodies the direct sink INSERTs into a job's ClickHouse tables on a current ClickHouse, for
//! the records of a `run-job` input file: per ClickHouse sink, `<table>.bin` (the rows, as `write_job_row` writes
//! them), `<table>.columns` (the INSERT's columns and their types), `<table>.names`
//! (its column list) and `<table>.sink` (the sink's name). scripts/job-schema-check.py inserts them into
//! the tables the job's DDL makes (chdb) and compares the stored rows with what `run-job` prints for the same records.
//!   cargo run -p transformer --example job_insert_bodies -- JOB RECORDS DIR

use std::io::BufRead;

use contract::sql::ClickHouseVersion;
use job::{Emit, MapError, Plan, Record, Row};
use transformer::sink::rowbinary::write_job_row;

/// The bodies, one per sink (empty for a Kafka sink).
struct Bodies(Vec<Vec<u8>>);

impl Emit for Bodies {
    fn row(&mut self, sink: usize, row: Row<'_>) -> Result<u64, MapError> {
        if row.sink.clickhouse().is_none() {
            return Ok(0);
        }
        let columns = job::ddl::columns(row.sink, ClickHouseVersion::Current);
        let out = &mut self.0[sink];
        let start = out.len();
        write_job_row(out, &columns, &row).inspect_err(|_| out.truncate(start)).map(|()| 0)
    }

    fn dead_letter(&mut self, _sink: Option<usize>, _err: MapError) {}

    fn dropped(&mut self, _sink: usize) {}
}

fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let usage = "usage: job_insert_bodies JOB RECORDS DIR";
    let (job, records, dir) = (args.next().expect(usage), args.next().expect(usage), args.next().expect(usage));
    let plan = Plan::new(&job, &std::fs::read_to_string(&job)?).unwrap_or_else(|e| panic!("{e}"));
    let mut bodies = Bodies(vec![Vec::new(); plan.sinks.len()]);
    for line in std::io::BufReader::new(std::fs::File::open(&records)?).lines() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        let rec: serde_json::Value = serde_json::from_str(&line).expect("a run-job input line");
        let value = rec["value"].as_str();
        let record = Record {
            topic: rec["topic"].as_str().expect("a topic"),
            partition: rec["partition"].as_i64().unwrap_or(0) as i32,
            offset: rec["offset"].as_i64().unwrap_or(0),
            timestamp_ms: 0,
            key: None,
            value: value.map(str::as_bytes),
            headers: None,
        };
        for source in plan.sources_reading(record.topic) {
            plan.map(source, &record, 1 << 20, 0, &mut bodies);
        }
    }
    for (sink, body) in plan.sinks.iter().zip(&bodies.0) {
        let Some(table) = sink.clickhouse() else { continue };
        let columns = job::ddl::columns(sink, ClickHouseVersion::Current);
        let structure: Vec<String> = columns.iter().map(|c| format!("{} {}", job::ddl::quote(&c.name), c.ty)).collect();
        std::fs::write(format!("{dir}/{}.bin", table.table), body)?;
        std::fs::write(format!("{dir}/{}.columns", table.table), structure.join(", "))?;
        std::fs::write(format!("{dir}/{}.sink", table.table), &sink.name)?;
        let names: Vec<String> = columns.iter().map(|c| job::ddl::quote(&c.name)).collect();
        std::fs::write(format!("{dir}/{}.names", table.table), names.join(", "))?;
    }
    Ok(())
}
