//! SIGTERM while the broker is unreachable: the process stops at once with exit 0, and it logs one line per
//! connection attempt (not the Kafka client's own retries, ~10 a second). Needs no server: the broker address
//! points at a closed port.

#[path = "support/sigterm.rs"]
mod sigterm;

#[test]
fn sigterm_stops_it_while_the_broker_is_unreachable() {
    sigterm::sigterm_stops_it_while_the_broker_is_unreachable(env!("CARGO_BIN_EXE_transformer"));
}
