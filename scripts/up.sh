#!/usr/bin/env bash
# Starts the whole pipeline on this machine, no Docker needed: the nisshi broker (durable, sqlite), ClickHouse,
# the schema, the transformer and the emitter. Installs what is missing. Running it again is harmless.
#   scripts/up.sh            native run (state, logs and pids in .state/, or $STATE_DIR)
#   scripts/up.sh --compose  the same with Docker (compose/docker-compose.yml)
#   KAFKA_BROKERS=host:9092 CLICKHOUSE_URL=http://host:8123 scripts/up.sh
#                            your own Kafka and/or ClickHouse: nothing is installed or started for them; the
#                            security settings (SECURITY_PROTOCOL, SASL_*, SSL_*) pass through to the binaries
#   SINK=clickhouse scripts/up.sh
#                            the transformer inserts straight into ClickHouse, exactly once: no Kafka engine, no
#                            librdkafka for ClickHouse, only the tables that store rows
# Every knob of emitter and transformer can be set as an environment variable (see README), e.g.
#   MESSAGES_PER_SECOND=1000 scripts/up.sh
set -euo pipefail
source "$(dirname "$0")/lib.sh"

if [ "${1:-}" = "--compose" ]; then
  command -v docker >/dev/null || die "docker is not installed; run scripts/up.sh without --compose for the native run"
  exec docker compose --env-file "$ROOT/compose/pipeline.env" -f "$ROOT/compose/docker-compose.yml" up -d --build
fi
[ $# -eq 0 ] || die "unknown argument $1 (usage: scripts/up.sh [--compose])"

started=$SECONDS
mkdir -p "$STATE_DIR/logs" "$STATE_DIR/pids"
load_pipeline_env
# On a first run the broker's build (about 10 minutes) is the long pole: it compiles in the background while
# ClickHouse installs and our binaries build, and start_broker waits for it.
[ -n "$EXTERNAL_KAFKA" ] || nisshi_build_start
if [ -n "$EXTERNAL_CLICKHOUSE" ]; then
  log "ClickHouse: yours at $CLICKHOUSE_URL (CLICKHOUSE_URL is set): nothing installed or started for it"
  command -v curl >/dev/null || apt_install curl
  curl -fsS "$CLICKHOUSE_URL/ping" >/dev/null || die "ClickHouse at $CLICKHOUSE_URL does not answer /ping (CLICKHOUSE_URL)"
else
  start_clickhouse
fi
build_binaries
if [ -n "$EXTERNAL_KAFKA" ]; then
  log "Kafka: yours at $KAFKA_BROKERS (KAFKA_BROKERS is set): nothing installed or started for it"
else
  start_broker
fi
# Topics first, so ClickHouse's Kafka tables find them when they are created.
log "creating the topics (transformer --init)"
"$BIN_DIR/transformer" --init >>"$STATE_DIR/logs/transformer.log" 2>&1 || die "transformer --init failed (log: $STATE_DIR/logs/transformer.log)"
apply_schema
start_bg transformer "$STATE_DIR" "$BIN_DIR/transformer"
start_bg emitter "$STATE_DIR" "$BIN_DIR/emitter"

# The first row in ClickHouse: the end-to-end proof, and the figure a first run is measured by.
first_row="not within 120 s: see scripts/check.sh"
log "waiting for the first row in ClickHouse ($CLICKHOUSE_DATABASE.events_processed, at most 120 s)"
end=$((SECONDS + 120))
while [ $SECONDS -lt $end ]; do
  rows=$(ch "SELECT count() FROM $CLICKHOUSE_DATABASE.events_processed FORMAT TSV" 2>/dev/null || echo 0)
  if [ "${rows:-0}" -gt 0 ] 2>/dev/null; then first_row="after $((SECONDS - started)) s"; break; fi
  sleep 0.5
done
log "first row in ClickHouse: $first_row"

cat <<MSG

Pipeline is up ($((SECONDS - started)) s; first row in ClickHouse $first_row): emitter -> Kafka $KAFKA_BROKERS -> transformer -> ClickHouse $CLICKHOUSE_URL (sink: ${SINK:-kafka})
  logs:     $STATE_DIR/logs/{broker,clickhouse,transformer,emitter}.log
  see it:   scripts/check.sh           (counts per stage, lag; exit 0 when rows grow)
  status:   http://${HTTP_ADDR:-127.0.0.1:9464}/   (live status page; /metrics, /healthz)
  query:    curl $CLICKHOUSE_URL/ --data 'SELECT count() FROM $CLICKHOUSE_DATABASE.events_processed$([ "${SINK:-kafka}" = clickhouse ] || echo ' FINAL')'
  stop:     scripts/down.sh            (data stays; scripts/down.sh --wipe deletes it)
MSG
