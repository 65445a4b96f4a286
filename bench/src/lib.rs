//! Benchmark tools for `scripts/bench.sh` (not shipped in the images):
//! - `copy-baseline`: copies the raw topics to another topic with rskafka, in the same rounds and batch sizes as
//!   the transformer but with no mapping and no commits. It is the "broker alone" baseline the transformer's
//!   throughput is divided by.
//! - `latency-probe`: polls ClickHouse and reports how long after its event time each (sampled) row became
//!   queryable.
