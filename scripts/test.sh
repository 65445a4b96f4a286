#!/usr/bin/env bash
# Runs every test: the release checks (scripts/release-checks.sh), unit and property tests, the short chaos run
# (scripts/chaos.sh), and the integration tests against a real nisshi broker and a real
# ClickHouse, which this script installs if missing and starts on ports of their own (19092, 18123/19000) with a
# fresh state folder, so a pipeline started by scripts/up.sh is not disturbed. A server that fails to start fails
# the run; nothing is skipped.
#   scripts/test.sh [extra arguments for cargo nextest / cargo test, e.g. a test name filter]
set -euo pipefail
export STATE_DIR=${TEST_STATE_DIR:-$(cd "$(dirname "$0")/.." && pwd)/.state/test}
export KAFKA_PORT=${TEST_KAFKA_PORT:-19092}
export CLICKHOUSE_HTTP_PORT=${TEST_CLICKHOUSE_HTTP_PORT:-18123}
export CLICKHOUSE_TCP_PORT=${TEST_CLICKHOUSE_TCP_PORT:-19000}
unset KAFKA_BROKERS CLICKHOUSE_URL
source "$(dirname "$0")/lib.sh"

cleanup() { for name in clickhouse broker; do stop_bg "$name" || true; done; }
trap cleanup EXIT

log "test servers: state in $STATE_DIR (wiped first)"
cleanup
rm -rf "$STATE_DIR"
start_broker
start_clickhouse
command -v promtool >/dev/null || apt_install prometheus
export TEST_KAFKA_BROKERS=$KAFKA_BROKERS TEST_CLICKHOUSE_URL=$CLICKHOUSE_URL TEST_NISSHI_BIN=$(nisshi_bin)
export TEST_PROMTOOL=$(command -v promtool)
ensure_confluent_kafka
export TEST_PYTHONPATH=$CACHE_DIR/pylib
command -v openssl >/dev/null || apt_install openssl # the TLS tests make their CA and certificates with it

cd "$ROOT"
log "release checks: no C, static musl binaries, empty root, compose, the pipeline with the musl binaries"
"$ROOT/scripts/release-checks.sh"

# The e2e features turn on the integration tests (and the transformer's crash injection, for them only).
features=(--features transformer/e2e,emitter/e2e)
if cargo nextest --version >/dev/null 2>&1; then
  log "cargo nextest run --workspace ${features[*]}"
  cargo nextest run --workspace "${features[@]}" --no-fail-fast "$@" 2>&1 | tee "$STATE_DIR/nextest.log"
  unit=$(sed -n 's/.* tests\? run: \([0-9]*\) passed.*/\1/p' "$STATE_DIR/nextest.log" | tail -n 1)
else
  log "cargo test --workspace (cargo-nextest not installed)"
  cargo test --workspace "${features[@]}" --no-fail-fast "$@" 2>&1 | tee "$STATE_DIR/cargo-test.log"
  unit=$(awk '/^test result: ok/ {n += $4} END {print n}' "$STATE_DIR/cargo-test.log")
fi
cleanup
[ $# -eq 0 ] || exit 0 # a filtered run is for a developer: skip the chaos run

# The short chaos run (its own servers and ports): SIGKILLs, a broker and a ClickHouse restart, exact id sets.
log "chaos (short form): scripts/chaos.sh 20000 3"
"$ROOT/scripts/chaos.sh" 20000 3
# Reached only when everything above passed (set -e, pipefail): the Rust tests, 7 release checks, 1 chaos run.
echo "test.sh: $((unit + 8)) passed, 0 failed"
