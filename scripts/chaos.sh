#!/usr/bin/env bash
# Crash-safety, proven end to end on real servers. The emitter sends a fixed, seeded stream of N events (1% malformed);
# meanwhile the transformer is killed with SIGKILL K times at random moments and restarted each time, the emitter is
# killed once and restarted with --resume, the broker is
# stopped and restarted once (durable sqlite storage; the transformer's /healthz must flip to 503 and back to 200),
# and ClickHouse is stopped and restarted once. At the end the
# set of event ids the stream holds is compared with the set in ClickHouse. Last line:
#   chaos: emitted=N in_clickhouse_distinct=D lost=L duplicates_in_topic=T duplicates_in_clickhouse=C dead_letters=Q
# Exit 0 only when lost=0, duplicates_in_clickhouse=0 and every malformed record is in dead_letters.
#   scripts/chaos.sh [N] [K]        (defaults 20000 and 3; the long form: scripts/chaos.sh 1000000 10)
# Runs its own servers on ports 29092 / 28123 / 29000, state in .state/chaos (wiped first).
set -euo pipefail
N=${1:-20000}
K=${2:-3}
SEED=${CHAOS_SEED:-42}
RATE=${CHAOS_RATE:-$(( N / 40 > 100 ? N / 40 : 100 ))}
export STATE_DIR=${CHAOS_STATE_DIR:-$(cd "$(dirname "$0")/.." && pwd)/.state/chaos}
export KAFKA_PORT=29092 CLICKHOUSE_HTTP_PORT=28123 CLICKHOUSE_TCP_PORT=29000
HEALTH_PORT=29464
unset KAFKA_BROKERS CLICKHOUSE_URL
source "$(dirname "$0")/lib.sh"

cleanup() { for name in emitter transformer clickhouse broker; do stop_bg "$name" >/dev/null 2>&1 || true; done; }
trap cleanup EXIT
cleanup
rm -rf "$STATE_DIR"
mkdir -p "$STATE_DIR/logs"
start_broker
start_clickhouse
build_binaries
"$BIN_DIR/transformer" --init >>"$STATE_DIR/logs/transformer.log" 2>&1 || die "transformer --init failed"
apply_schema

stream=(--seed "$SEED" --start-time 2026-01-01T00:00:00Z --messages-per-second "$RATE" --total "$N" --malformed-ratio 0.01)
"$BIN_DIR/emitter" "${stream[@]}" --list-ids >"$STATE_DIR/stream.txt"
awk '$3 != "malformed" {print $3}' "$STATE_DIR/stream.txt" | sort -u >"$STATE_DIR/expected_ids.txt"
malformed=$(awk '$3 == "malformed"' "$STATE_DIR/stream.txt" | wc -l)
log "chaos: N=$N at $RATE/s (seed $SEED, $malformed malformed), $K transformer SIGKILLs, one broker and one ClickHouse restart"

transformer_args=(--fetch-max-wait-ms 20 --http-addr "127.0.0.1:$HEALTH_PORT")
start_bg transformer "$STATE_DIR" "$BIN_DIR/transformer" "${transformer_args[@]}"
start_bg emitter "$STATE_DIR" "$BIN_DIR/emitter" "${stream[@]}" --http-addr off

wait_health() { # wait_health CODE SECONDS : until the transformer's /healthz answers CODE
  local end=$((SECONDS + $2)) code
  while [ $SECONDS -lt $end ]; do
    code=$(curl -s -o /dev/null -w '%{http_code}' "127.0.0.1:$HEALTH_PORT/healthz" || true)
    [ "$code" = "$1" ] && { log "chaos: /healthz says $1"; return 0; }
    sleep 0.5
  done
  die "/healthz did not answer $1 within $2 s (last: $code)"
}

# The disruptions, spread over the emitter's run time, in random order and at random moments.
duration=$(( N / RATE + 1 ))
events=()
for _ in $(seq "$K"); do events+=("kill"); done
events+=("emitter" "broker" "clickhouse")
slot=$(( duration * 1000 / (${#events[@]} + 1) ))
for ev in $(printf '%s\n' "${events[@]}" | shuf); do
  sleep "$(awk -v ms=$(( slot / 2 + RANDOM % slot )) 'BEGIN{printf "%.3f", ms/1000}')"
  case $ev in
    kill)
      pid=$(pid_of transformer) || true
      [ -n "$pid" ] && kill -KILL "$pid" && log "chaos: SIGKILL transformer (pid $pid)"
      rm -f "$STATE_DIR/pids/transformer.pid"
      start_bg transformer "$STATE_DIR" "$BIN_DIR/transformer" "${transformer_args[@]}" ;;
    emitter)
      # The emitter too: restarted with --resume, it re-sends exactly what the kill cut from its last batch.
      pid=$(pid_of emitter) || true
      [ -n "$pid" ] && kill -KILL "$pid" && log "chaos: SIGKILL emitter (pid $pid)"
      rm -f "$STATE_DIR/pids/emitter.pid"
      start_bg emitter "$STATE_DIR" "$BIN_DIR/emitter" "${stream[@]}" --http-addr off --resume true ;;
    broker)
      # Also the health check's test: 503 while the broker is away, 200 once it is back.
      wait_health 200 90
      log "chaos: stopping the broker"; stop_bg broker
      wait_health 503 60
      start_broker
      wait_health 200 90 ;;
    clickhouse)
      log "chaos: stopping ClickHouse"; stop_bg clickhouse; sleep 2; start_clickhouse ;;
  esac
done

log "chaos: waiting for the emitter to finish"
while [ -n "$(pid_of emitter)" ]; do sleep 1; done
rm -f "$STATE_DIR/pids/emitter.pid"

log "chaos: waiting for ClickHouse to hold every valid event and dead letter (up to 10 minutes)"
want=$(wc -l <"$STATE_DIR/expected_ids.txt")
end=$((SECONDS + 600)); last=-1; since=$SECONDS
while [ $SECONDS -lt $end ]; do
  got=$(ch "SELECT uniqExact(event_id) FROM $CLICKHOUSE_DATABASE.events_processed")
  dead=$(ch "SELECT count() FROM $CLICKHOUSE_DATABASE.dead_letters FINAL")
  [ "$got" -ge "$want" ] && [ "$dead" -ge "$malformed" ] && break
  if [ "$got" != "$last" ]; then last=$got; since=$SECONDS; log "  $got / $want ids, $dead / $malformed dead letters"; fi
  [ $((SECONDS - since)) -ge 120 ] && { log "  no progress for 120 s: giving up"; break; }
  sleep 2
done

ch "SELECT lower(toString(event_id)) FROM $CLICKHOUSE_DATABASE.events_processed FINAL" | sort -u >"$STATE_DIR/clickhouse_ids.txt"
distinct=$(wc -l <"$STATE_DIR/clickhouse_ids.txt")
lost=$(comm -23 "$STATE_DIR/expected_ids.txt" "$STATE_DIR/clickhouse_ids.txt" | wc -l)
final_rows=$(ch "SELECT count() FROM $CLICKHOUSE_DATABASE.events_processed FINAL")
dups_ch=$(( final_rows - distinct ))
topic_records=$("$BIN_DIR/transformer" --status 2>/dev/null | sed -n 's/^total .* processed=\([0-9]*\).*/\1/p')
dups_topic=$(( topic_records - distinct ))
dead=$(ch "SELECT count() FROM $CLICKHOUSE_DATABASE.dead_letters FINAL")
restarts=$(grep -c "recovered from the last checkpoint" "$STATE_DIR/logs/transformer.log" || true)
skipped=$(grep "recovered from the last checkpoint" "$STATE_DIR/logs/transformer.log" | sed -n 's/.*already_written=\([0-9]*\).*/\1/p' | paste -sd+ | bc)
log "chaos: transformer recoveries=$restarts, records found already written at recovery (not rewritten)=$skipped"
echo "chaos: emitted=$N in_clickhouse_distinct=$distinct lost=$lost duplicates_in_topic=$dups_topic duplicates_in_clickhouse=$dups_ch dead_letters=$dead"
[ "$lost" -eq 0 ] && [ "$dups_ch" -eq 0 ] && [ "$dead" -eq "$malformed" ]
