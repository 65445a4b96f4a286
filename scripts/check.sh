#!/usr/bin/env bash
# Is data flowing? Prints, per stage, what each holds, takes a second sample a few seconds later, and exits 0 when
# the rows in ClickHouse grew; otherwise exits 1 and names the first stage that stalls. Either sink: with no
# Kafka-engine table in the database it takes the pipeline for the direct one (SINK=clickhouse). A stalled Kafka
# engine is looked into: a record it cannot parse (ClickHouse 18.16 stops there for good) is named, with the way past
# it (scripts/kafka-engine-skip.sh). CLICKHOUSE_ERR_LOG: ClickHouse's error log, if not the native run's.
#   scripts/check.sh [--compose] [SECONDS between samples, default 5]   (CHECK_PATIENCE_SECS: extra wait for ClickHouse, 30)
# --compose: the pipeline of `scripts/up.sh --compose`, through what compose publishes on 127.0.0.1 (Kafka 9092,
# ClickHouse 8123 with the user of compose/pipeline.env, the transformer 9464); `transformer --status` runs in its image.
set -euo pipefail
compose=0
[ "${1:-}" = "--compose" ] && { compose=1; shift; }
if [ $compose -eq 1 ]; then
  # The compose defaults, unless set in the environment (as compose itself takes them).
  eval "$(grep -E '^CLICKHOUSE_(USER|PASSWORD|DATABASE)=' "$(dirname "$0")/../compose/pipeline.env" | sed 's/^\([A-Z_]*\)=\(.*\)$/: ${\1:=\2}/')"
  export KAFKA_BROKERS=127.0.0.1:9092 CLICKHOUSE_URL=http://127.0.0.1:8123 HTTP_ADDR=127.0.0.1:9464
  CLICKHOUSE_CURL_AUTH=(-u "$CLICKHOUSE_USER:$CLICKHOUSE_PASSWORD")
fi
source "$(dirname "$0")/lib.sh"
gap=${1:-5}

transformer_bin=$BIN_DIR/transformer
if [ $compose -eq 1 ]; then
  status() { docker compose -f "$ROOT/compose/docker-compose.yml" run --rm --no-deps -T topics --status; }
else
  [ -x "$transformer_bin" ] || die "no $transformer_bin: run scripts/up.sh first"
  status() { "$transformer_bin" --status --connect-timeout-secs 5; }
fi

# Which sink: the direct one (SINK=clickhouse) leaves no Kafka-engine table behind events_processed.
direct=0
queue=$(ch "SELECT count() FROM system.tables WHERE database = '$CLICKHOUSE_DATABASE' AND name = 'events_queue' FORMAT TSV" 2>/dev/null) \
  || die "cannot query ClickHouse at $CLICKHOUSE_URL: is it running? (scripts/up.sh starts it)"
[ "$queue" = 0 ] && direct=1

report_file=$(mktemp); trap 'rm -f "$report_file"' EXIT
sample() { # prints "emitted processed dead lag rows distinct dead_rows"; the full report goes to $report_file
  local report; report=$(status 2>/dev/null) \
    || die "cannot read Kafka at $KAFKA_BROKERS: is the broker running? (scripts/up.sh starts it)"
  echo "$report" >"$report_file"
  local total; total=$(grep '^total ' <<<"$report")
  local kv; kv() { sed -n "s/.* $1=\([0-9-]*\).*/\1/p" <<<"$total"; }
  local ch_rows
  ch_rows=$(ch "SELECT count(), uniqExact(event_id) FROM $CLICKHOUSE_DATABASE.events_processed FORMAT TSV" 2>/dev/null) \
    || die "cannot query ClickHouse at $CLICKHOUSE_URL: is it running? (scripts/up.sh starts it)"
  local dead_rows; dead_rows=$(ch "SELECT count() FROM $CLICKHOUSE_DATABASE.dead_letters FORMAT TSV")
  echo "$(kv emitted) $(kv processed) $(kv dead_letters) $(kv lag) $ch_rows $dead_rows"
}

read -r e1 p1 d1 l1 r1 u1 x1 < <(sample)
sleep "$gap"
read -r e2 p2 d2 l2 r2 u2 x2 < <(sample)
# ClickHouse's Kafka engine needs ~10-15 s after a (re)start before rows arrive: while the stages before it flow,
# give it up to $patience s more before calling it stalled.
patience=${CHECK_PATIENCE_SECS:-30}
waited=0
[ $direct -eq 1 ] && patience=0 # rows are in ClickHouse when the transformer commits: nothing to wait for
while [ "$r2" -le "$r1" ] && [ "$p2" -gt "$p1" ] && [ $waited -lt "$patience" ]; do
  [ $waited -eq 0 ] && echo "ClickHouse has not ingested anything new yet; waiting up to $patience s (its Kafka engine starts slowly)..."
  sleep "$gap"; waited=$((waited + gap))
  read -r e2 p2 d2 l2 r2 u2 x2 < <(sample)
done
gap=$((gap + waited))

echo "Per partition (second sample):"
grep '^partition ' "$report_file" | sed 's/^partition /  /'
printf '\n%-44s %12s %12s %10s\n' "stage" "before" "after" "per s"
row() { printf '%-44s %12s %12s %10s\n' "$1" "$2" "$3" "$(( ($3 - $2) / gap ))"; }
row "1 emitted (raw topics, sum of high watermarks)" "$e1" "$e2"
if [ $direct -eq 1 ]; then
  echo "(sink: clickhouse, straight into the tables; the topics processed_events and dead_letters are not used)"
  row "2 transformer committed (records)" "$((e1 - l1))" "$((e2 - l2))"
else
  row "2 processed_events (records)" "$p1" "$p2"
  row "2 dead_letters (records)" "$d1" "$d2"
fi
row "2 transformer lag (records not committed)" "$l1" "$l2"
row "3 ClickHouse events_processed (rows)" "$r1" "$r2"
row "3 ClickHouse events_processed (distinct ids)" "$u1" "$u2"
row "3 ClickHouse dead_letters (rows)" "$x1" "$x2"

# The transformer's own view, from its HTTP endpoints (scripts/up.sh leaves them on 127.0.0.1:9464).
http=${HTTP_ADDR:-127.0.0.1:9464}
if health=$(curl -s --max-time 2 "http://$http/healthz"); then
  echo "transformer /healthz: $health (status page: http://$http/, metrics: http://$http/metrics)"
  curl -s --max-time 2 "http://$http/metrics" | grep -E '^transformer_(records_in|records_out|round_errors|recoveries)_total ' | sed 's/^/  /'
else
  echo "transformer HTTP endpoints not reachable at $http"
fi

if [ "$r2" -gt "$r1" ]; then
  echo; echo "OK: rows in ClickHouse grow ($(( (r2 - r1) / gap ))/s)"; exit 0
fi
echo
if [ "$e2" -le "$e1" ]; then echo "STALLED at stage 1: the emitter adds nothing (log: $STATE_DIR/logs/emitter.log)"
elif [ $direct -eq 1 ]; then echo "STALLED at stage 2: the transformer inserts nothing into ClickHouse (its /healthz above says why; log: $STATE_DIR/logs/transformer.log)"
elif [ "$p2" -le "$p1" ] && [ "$d2" -le "$d1" ]; then echo "STALLED at stage 2: the transformer writes nothing (log: $STATE_DIR/logs/transformer.log)"
else
  echo "STALLED at stage 3: ClickHouse does not ingest processed_events (log: $STATE_DIR/logs/clickhouse.err.log)"
  # ClickHouse 18.16's Kafka engine stops for good at a record it cannot parse: say so, and which record.
  errlog=${CLICKHOUSE_ERR_LOG:-$STATE_DIR/logs/clickhouse.err.log}
  recent=$([ -f "$errlog" ] && tail -n 400 "$errlog" || true)
  if grep -q 'StorageKafka.*Cannot parse input' <<<"$recent"; then
    echo "ClickHouse's log, again and again: $(grep -o 'Cannot parse input[^,]*' <<<"$recent" | tail -n 1)"
  fi
  stuck=$("$ROOT/scripts/kafka-engine-skip.sh" --dry-run 2>/dev/null || true)
  if grep -q '^stuck' <<<"$stuck"; then
    echo "ClickHouse's Kafka engine is stuck on a record that is not JSON; it retries it forever and nothing else gets in:"
    grep '^stuck' <<<"$stuck" | sed 's/^/  /'
    echo "Move the engine past it (prints what it skips): scripts/kafka-engine-skip.sh"
  fi
fi
exit 1
