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
# On a fresh machine the broker's build is the long pole (about 10 minutes): it compiles in the background while
# ClickHouse and the tools install and our binaries and tests build.
nisshi_build_start
start_clickhouse
command -v promtool >/dev/null || apt_install prometheus
export TEST_PROMTOOL=$(command -v promtool)
ensure_confluent_kafka
export TEST_PYTHONPATH=$CACHE_DIR/pylib
command -v openssl >/dev/null || apt_install openssl # the TLS tests make their CA and certificates with it

# The e2e features turn on the integration tests (and the transformer's crash injection, for them only).
features=(--features transformer/e2e,emitter/e2e)
cd "$ROOT"
disk_check
build_binaries
if [ -z "$(nisshi_bin)" ]; then
  log "building the tests while the broker builds"
  if cargo nextest --version >/dev/null 2>&1; then cargo nextest run --workspace "${features[@]}" --no-run; else cargo test --workspace "${features[@]}" --no-run; fi
fi
start_broker
export TEST_KAFKA_BROKERS=$KAFKA_BROKERS TEST_CLICKHOUSE_URL=$CLICKHOUSE_URL TEST_NISSHI_BIN=$(nisshi_bin)

log "release checks: no C, static musl binaries, empty root, compose, the pipeline with the musl binaries"
"$ROOT/scripts/release-checks.sh"

if cargo nextest --version >/dev/null 2>&1; then
  log "cargo nextest run --workspace ${features[*]}"
  cargo nextest run --workspace "${features[@]}" --no-fail-fast "$@" 2>&1 | tee "$STATE_DIR/nextest.log"
  unit=$(sed -n 's/.* tests\? run: \([0-9]*\) passed.*/\1/p' "$STATE_DIR/nextest.log" | tail -n 1)
else
  log "cargo test --workspace (cargo-nextest not installed)"
  cargo test --workspace "${features[@]}" --no-fail-fast "$@" 2>&1 | tee "$STATE_DIR/cargo-test.log"
  unit=$(awk '/^test result: ok/ {n += $4} END {print n}' "$STATE_DIR/cargo-test.log")
fi
[ $# -eq 0 ] || { cleanup; exit 0; } # a filtered run is for a developer: skip the scripted checks and the chaos run

# Bring your own servers: scripts/up.sh given the test broker and ClickHouse as if they were the user's. It must
# install and start nothing for them, and rows must grow (scripts/check.sh).
log "bring your own servers: scripts/up.sh with KAFKA_BROKERS and CLICKHOUSE_URL set"
byo=(STATE_DIR="$STATE_DIR/byo" KAFKA_BROKERS="$KAFKA_BROKERS" CLICKHOUSE_URL="$CLICKHOUSE_URL" CLICKHOUSE_DATABASE=byo
  CLICKHOUSE_GROUP=byo HTTP_ADDR=127.0.0.1:19464 EMITTER_HTTP_ADDR=127.0.0.1:19465)
byo_fail() { env "${byo[@]}" "$ROOT/scripts/down.sh" >/dev/null 2>&1 || true; tail -n 20 "$1" >&2; die "$2"; }
env "${byo[@]}" "$ROOT/scripts/up.sh" >"$STATE_DIR/byo-up.log" 2>&1 \
  || byo_fail "$STATE_DIR/byo-up.log" "up.sh with your own servers failed"
for server in broker clickhouse; do
  [ ! -e "$STATE_DIR/byo/pids/$server.pid" ] || byo_fail "$STATE_DIR/byo-up.log" "up.sh started a $server although one was given"
done
env "${byo[@]}" "$ROOT/scripts/check.sh" >"$STATE_DIR/byo-check.log" 2>&1 \
  || byo_fail "$STATE_DIR/byo-check.log" "check.sh saw no rows grow with your own servers"
log "ok: up.sh used the given Kafka and ClickHouse, started neither, and rows grew"

# A stray record on processed_events (anything but the transformer may write there): ClickHouse 18.16's Kafka engine
# stops at it for good. check.sh must name it, and kafka-engine-skip.sh must move the engine past it.
log "a non-JSON record on processed_events: check.sh names it, kafka-engine-skip.sh moves ClickHouse past it"
errlog=$STATE_DIR/logs/clickhouse.err.log
stalls() { if [ -f "$errlog" ]; then grep -c 'StorageKafka.*Cannot parse input' "$errlog" || true; else echo 0; fi; }
stalled_before=$(stalls)
PYTHONPATH="$CACHE_DIR/pylib" python3 -c "
from confluent_kafka import Producer
p = Producer({'bootstrap.servers': '$KAFKA_BROKERS'})
p.produce('processed_events', b'stray: not json', partition=0)
assert p.flush(10) == 0"
# Until the engine has reached the record: before that it may still ingest the good records ahead of it.
end=$((SECONDS + 90))
until [ "$(stalls)" -gt "$stalled_before" ]; do
  [ $SECONDS -lt $end ] || die "ClickHouse's Kafka engine did not reach the stray record within 90 s (log: $errlog)"
  sleep 0.5
done
env "${byo[@]}" CLICKHOUSE_ERR_LOG="$STATE_DIR/logs/clickhouse.err.log" CHECK_PATIENCE_SECS=15 "$ROOT/scripts/check.sh" \
  >"$STATE_DIR/byo-stall.log" 2>&1 && byo_fail "$STATE_DIR/byo-stall.log" "check.sh saw rows grow past a stray record"
grep -q "stuck processed_events/0 at offset .*stray: not json" "$STATE_DIR/byo-stall.log" \
  && grep -q "scripts/kafka-engine-skip.sh" "$STATE_DIR/byo-stall.log" \
  || byo_fail "$STATE_DIR/byo-stall.log" "check.sh did not name the stray record and the way past it"
env "${byo[@]}" "$ROOT/scripts/kafka-engine-skip.sh" >"$STATE_DIR/byo-skip.log" 2>&1 \
  && grep -q "^skipped processed_events/0" "$STATE_DIR/byo-skip.log" \
  || byo_fail "$STATE_DIR/byo-skip.log" "kafka-engine-skip.sh did not skip the stray record"
env "${byo[@]}" "$ROOT/scripts/check.sh" >"$STATE_DIR/byo-check2.log" 2>&1 \
  || byo_fail "$STATE_DIR/byo-check2.log" "rows did not grow again after kafka-engine-skip.sh"
env "${byo[@]}" "$ROOT/scripts/down.sh" >/dev/null 2>&1
log "ok: the stall was named, the record skipped, and rows grow again"

# The direct sink through the scripts: SINK=clickhouse scripts/up.sh (on the same servers, its own database and
# group; it logs in as compose/pipeline.env's user, which scripts/clickhouse/users.xml has too), and check.sh must
# recognise the mode and see rows grow.
log "the direct sink: SINK=clickhouse scripts/up.sh, then check.sh"
byo=(STATE_DIR="$STATE_DIR/direct" SINK=clickhouse KAFKA_BROKERS="$KAFKA_BROKERS" CLICKHOUSE_URL="$CLICKHOUSE_URL"
  CLICKHOUSE_DATABASE=direct TRANSFORMER_GROUP=direct HTTP_ADDR=127.0.0.1:19466 EMITTER_HTTP_ADDR=127.0.0.1:19467)
env "${byo[@]}" "$ROOT/scripts/up.sh" >"$STATE_DIR/direct-up.log" 2>&1 \
  || byo_fail "$STATE_DIR/direct-up.log" "SINK=clickhouse up.sh failed"
env "${byo[@]}" "$ROOT/scripts/check.sh" >"$STATE_DIR/direct-check.log" 2>&1 \
  || byo_fail "$STATE_DIR/direct-check.log" "check.sh saw no rows grow with the direct sink"
grep -q "sink: clickhouse" "$STATE_DIR/direct-check.log" || byo_fail "$STATE_DIR/direct-check.log" "check.sh did not recognise the direct sink"
[ "$(ch "SELECT count() FROM system.tables WHERE database = 'direct' AND engine = 'Kafka'")" = 0 ] \
  || byo_fail "$STATE_DIR/direct-up.log" "the direct sink's schema has Kafka-engine tables"
env "${byo[@]}" "$ROOT/scripts/down.sh" >/dev/null 2>&1
log "ok: the direct sink inserted rows with no Kafka-engine table, and check.sh said so"
cleanup

# The short chaos run (its own servers and ports): SIGKILLs, a broker and a ClickHouse restart, exact id sets.
log "chaos (short form): scripts/chaos.sh 20000 3"
"$ROOT/scripts/chaos.sh" 20000 3
log "chaos with the direct sink: scripts/chaos.sh --sink clickhouse 20000 3"
"$ROOT/scripts/chaos.sh" --sink clickhouse 20000 3
log "chaos in a consumer group of 3: scripts/chaos.sh --group 3 20000 3"
"$ROOT/scripts/chaos.sh" --group 3 20000 3
log "chaos with the original Flink job, unchanged: scripts/chaos.sh --job job/tests/data/seed-job.sql 20000 3"
"$ROOT/scripts/chaos.sh" --job "$ROOT/job/tests/data/seed-job.sql" 20000 3
log "chaos with the example job (two ClickHouse tables and a topic): scripts/chaos.sh --job schema/jobs/shop.sql 20000 3"
"$ROOT/scripts/chaos.sh" --job "$ROOT/schema/jobs/shop.sql" 20000 3
# Reached only when everything above passed (set -e, pipefail): the Rust tests, 8 release checks, the
# bring-your-own-servers run, the stray-record run, the direct-sink scripts run, 5 chaos runs.
echo "test.sh: $((unit + 16)) passed, 0 failed"
