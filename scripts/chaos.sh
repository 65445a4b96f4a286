#!/usr/bin/env bash
# Crash-safety, proven end to end on real servers. The emitter sends a fixed, seeded stream of N events (1% malformed);
# meanwhile, at random moments and in random order:
#  - the transformer is killed with SIGKILL K times and restarted each time;
#  - K kill pairs: SIGKILL, restart, and SIGKILL again 0.2-2 s after the restart (inside the recovery window);
#  - the emitter is killed once and restarted with --resume;
#  - the broker is stopped and restarted once (durable sqlite storage; /healthz must flip to 503 and back to 200);
#  - ClickHouse is stopped and restarted once;
#  - an input topic is deleted and recreated while the transformer runs, and once while it is down (its checkpoint
#    is then past the topic's end at start). Those topics (r_user_clicks, r_page_views, r_orders) carry small
#    seeded streams of their own, a new one after each recreation, whose ids are expected too.
# At the end the set of event ids the streams hold is compared with the set in ClickHouse. Last line:
#   chaos: emitted=N in_clickhouse_distinct=D lost=L duplicates_in_topic=T duplicates_in_clickhouse=C
#          duplicates_in_clickhouse_without_final=W dead_letters=Q
# Exit 0 only when lost, both kinds of duplicates and duplicates in the topic are 0, and every malformed record is in
# dead_letters.
#   scripts/chaos.sh [--sink kafka|clickhouse] [--group M] [--job FILE] [N] [K]   (defaults kafka, 20000, 3; long: 1000000 10)
# --sink clickhouse: the transformer inserts straight into ClickHouse; then ClickHouse's restart fails its rounds,
# there is no topic to count, and "duplicates_inserted" counts rows ever inserted twice (a plain MergeTree copy of
# every insert, which background merges cannot thin out) where the Kafka run counts duplicates in the topic.
# --group M: M transformers in one consumer group (--assignment group, session timeout 6 s). The kills pick a member
# at random; one more disruption freezes a member (SIGSTOP) past the session timeout, then wakes it (SIGCONT): the
# zombie. Its fenced round may be written twice (it is counted: "fenced: ... written=N" in its log), so the topic's
# duplicates must be at most that count; ClickHouse with FINAL must still hold each id once. The last line adds
# takeover_ms (after each SIGKILL, until a member logs a new generation) and zombie_written.
# --job FILE: the transformer runs that Flink SQL job (e.g. the original job.sql, whose rows carry no event id and
# no source coordinates: recovery finds its outputs by their etl.src header; or schema/jobs/shop.sql, two
# ClickHouse tables and a topic). Its tables come from `transformer schema --create-tables`. There are no ids to
# count then: each sink must hold exactly the rows `transformer run-job` makes of every input record, each once,
# and the dead letters likewise (scripts/chaos-job-check.py: topics read with librdkafka, tables over HTTP without
# FINAL). No topic is recreated in this mode (a recreated partition reuses its coordinates; the default mode covers
# recreation). Last line:
#   chaos: job=FILE emitted=N sinks=S rows=R lost=L duplicates=D dead_letters=K dead_lost=DL dead_duplicates=DD
# Runs its own servers on ports 29092 / 28123 / 29000, state in .state/chaos (wiped first).
set -euo pipefail
export SINK=kafka
MEMBERS=0
JOB=""
while [ $# -gt 0 ]; do
  case $1 in
    --sink) SINK=${2:?--sink kafka|clickhouse}; shift 2 ;;
    --group) MEMBERS=${2:?--group M}; shift 2 ;;
    --job) JOB=$(realpath "${2:?--job FILE}"); shift 2 ;;
    *) break ;;
  esac
done
case $SINK in kafka | clickhouse) ;; *) echo "chaos.sh: --sink kafka|clickhouse, not $SINK" >&2; exit 2 ;; esac
[ -z "$JOB" ] || [ "$SINK" = kafka ] || { echo "chaos.sh: --job runs with --sink kafka" >&2; exit 2; }
N=${1:-20000}
K=${2:-3}
SEED=${CHAOS_SEED:-42}
RATE=${CHAOS_RATE:-$(( N / 40 > 100 ? N / 40 : 100 ))}
export STATE_DIR=${CHAOS_STATE_DIR:-$(cd "$(dirname "$0")/.." && pwd)/.state/chaos}
export KAFKA_PORT=29092 CLICKHOUSE_HTTP_PORT=28123 CLICKHOUSE_TCP_PORT=29000
HEALTH_PORT=29464
unset KAFKA_BROKERS CLICKHOUSE_URL CLICKHOUSE_USER CLICKHOUSE_PASSWORD
source "$(dirname "$0")/lib.sh"
export CLICKHOUSE_URL # the direct sink's server
# The recreated topics' streams: R events first (seed 7), then R/3 after the first recreation (seed 8) and R/9 after
# the second (seed 9), whichever kind comes first. Each is shorter than the last, so a recreated partition is always shorter than the
# position the transformer had in it (the case it must catch; an equal or longer one is indistinguishable
# without topic ids, see README).
R=$(( N / 100 > 900 ? N / 100 : 900 ))
export INPUT_TOPICS=user_clicks,page_views,orders,r_user_clicks,r_page_views,r_orders
if [ -n "$JOB" ]; then
  export JOB_FILE=$JOB INPUT_TOPICS=user_clicks,page_views,orders
fi

cleanup() {
  local f names=(emitter)
  for f in "$STATE_DIR"/pids/transformer*.pid; do [ -e "$f" ] && names+=("$(basename "$f" .pid)"); done
  for name in "${names[@]}" clickhouse broker; do stop_bg "$name" >/dev/null 2>&1 || true; done
}
trap cleanup EXIT
cleanup
rm -rf "$STATE_DIR"
mkdir -p "$STATE_DIR/logs"
start_broker
start_clickhouse
build_binaries
"$BIN_DIR/transformer" --init >>"$STATE_DIR/logs/transformer.log" 2>&1 || die "transformer --init failed"
apply_schema
if [ -n "$JOB" ]; then
  # The job's rows are not the unified record: ClickHouse's Kafka engine must not read them (it would stop at the
  # first one). Dead letters still go through it.
  ch "DROP TABLE IF EXISTS $CLICKHOUSE_DATABASE.events_mv"
  ch "DROP TABLE IF EXISTS $CLICKHOUSE_DATABASE.events_queue"
  # The job's own tables: its ClickHouse sinks' (the transformer checks them at start), its Kafka sinks' paths.
  "$BIN_DIR/transformer" schema --create-tables >>"$STATE_DIR/logs/transformer.log" 2>&1 || die "transformer schema --create-tables failed"
fi
if [ "$SINK" = clickhouse ]; then # every row ever inserted, kept by a plain MergeTree that never merges one away
  ch "CREATE MATERIALIZED VIEW $CLICKHOUSE_DATABASE.audit_events ENGINE = MergeTree() ORDER BY tuple() AS SELECT event_id FROM $CLICKHOUSE_DATABASE.events_processed"
fi

stream=(--seed "$SEED" --start-time 2026-01-01T00:00:00Z --messages-per-second "$RATE" --total "$N" --malformed-ratio 0.01)
"$BIN_DIR/emitter" "${stream[@]}" --list-ids >"$STATE_DIR/stream.txt"
r_stream() { # r_stream SEED TOTAL [--list-ids]: one of the recreated topics' streams
  "$BIN_DIR/emitter" --topic-prefix r_ --progress-topic r_progress --seed "$1" --start-time 2026-02-01T00:00:00Z \
    --messages-per-second 0 --total "$2" --http-addr off "${@:3}"
}
if [ -z "$JOB" ]; then
  for phase in "7 $R" "8 $((R / 3))" "9 $((R / 9))"; do r_stream $phase --list-ids; done >>"$STATE_DIR/stream.txt"
fi
awk '$3 != "malformed" {print $3}' "$STATE_DIR/stream.txt" | sort -u >"$STATE_DIR/expected_ids.txt"
malformed=$(awk '$3 == "malformed"' "$STATE_DIR/stream.txt" | wc -l)
if [ -z "$JOB" ]; then
  r_stream 7 "$R" >>"$STATE_DIR/logs/r-emitter.log" 2>&1 || die "the r_ stream failed (log: $STATE_DIR/logs/r-emitter.log)"
else
  R=0
  ensure_confluent_kafka # the checker reads the topics with librdkafka
fi
if [ -n "$JOB" ]; then extra="job $(basename "$JOB"), no topic recreation"; else extra="+ $R on the r_ topics, two topic recreations"; fi
log "chaos (sink $SINK, $([ "$MEMBERS" -gt 0 ] && echo "a group of $MEMBERS" || echo "one transformer")): N=$N at $RATE/s (seed $SEED, $malformed malformed), $extra; $K SIGKILLs, $K kill pairs, an emitter kill, a broker and a ClickHouse restart"

transformer_args=(--fetch-max-wait-ms 20)
members=(transformer)
if [ "$MEMBERS" -gt 0 ]; then
  # Every transformer command here, --status included, speaks to the group.
  export ASSIGNMENT=group TRANSFORMER_GROUP=chaos SESSION_TIMEOUT_MS=6000 HEARTBEAT_INTERVAL_MS=500
  members=(); for i in $(seq 0 $((MEMBERS - 1))); do members+=("transformer$i"); done
fi
http_port() { # http_port MEMBER: member i listens on HEALTH_PORT + i
  local i=${1#transformer}; echo $((HEALTH_PORT + ${i:-0}))
}
start_member() { start_bg "$1" "$STATE_DIR" "$BIN_DIR/transformer" "${transformer_args[@]}" --http-addr "127.0.0.1:$(http_port "$1")"; }
random_member() { echo "${members[RANDOM % ${#members[@]}]}"; }
for m in "${members[@]}"; do start_member "$m"; done
start_bg emitter "$STATE_DIR" "$BIN_DIR/emitter" "${stream[@]}" --http-addr off

wait_health() { # wait_health CODE SECONDS : until the (first) transformer's /healthz answers CODE
  local end=$((SECONDS + $2)) code
  while [ $SECONDS -lt $end ]; do
    code=$(curl -s -o /dev/null -w '%{http_code}' "127.0.0.1:$(http_port "${members[0]}")/healthz" || true)
    [ "$code" = "$1" ] && { log "chaos: /healthz says $1"; return 0; }
    sleep 0.5
  done
  die "/healthz did not answer $1 within $2 s (last: $code)"
}

takeovers=()
restart_transformer() { # restart_transformer [MEMBER]: SIGKILL and restart (a random member of a group)
  local m=${1:-$(random_member)} pid; pid=$(pid_of "$m") || true
  [ -n "$pid" ] && kill -KILL "$pid" && log "chaos: SIGKILL $m (pid $pid)"
  rm -f "$STATE_DIR/pids/$m.pid"
  [ "$MEMBERS" -gt 0 ] && [ -n "$pid" ] && measure_takeover "$m"
  start_member "$m"
}
joins() { cat "$STATE_DIR"/logs/transformer*.log | grep -c "joined the group" || true; }
measure_takeover() { # measure_takeover KILLED: until another member joins a new generation (the killed one's partitions
  # moved), at most 60 s; the time goes into takeovers
  local before n0; n0=$(joins); before=$(date +%s%3N)
  for _ in $(seq 600); do
    [ "$(joins)" -gt "$n0" ] && { takeovers+=($(( $(date +%s%3N) - before ))); log "chaos: $1's partitions taken over after ${takeovers[-1]} ms"; return 0; }
    sleep 0.1
  done
  log "chaos: no takeover within 60 s after killing $1"
}
zombie() { # freeze a member past the session timeout, then wake it
  local m; m=$(random_member); local pid; pid=$(pid_of "$m") || return 0
  log "chaos: SIGSTOP $m (pid $pid) for 10 s, past the 6 s session timeout"
  kill -STOP "$pid"; sleep 10; kill -CONT "$pid"; log "chaos: SIGCONT $m"
}

wait_r_committed() { # until the transformer has committed everything on the r_ topics (so a deletion loses nothing);
  # it reads every partition at the same pace, so under a large backlog this takes a while
  local end=$((SECONDS + 900)) report
  while [ $SECONDS -lt $end ]; do
    report=$("$BIN_DIR/transformer" --status 2>/dev/null) || true
    # Every r_ partition committed and none with lag: counted, not a grep piped into grep -q (a pipe under pipefail fails
    # when the reader exits early).
    if grep -q 'topic=r_' <<<"$report" && [ "$(grep 'topic=r_.*committed=' <<<"$report" | grep -vc ' lag=0 ')" = 0 ]; then return 0; fi
    sleep 0.5
  done
  die "the transformer did not catch up on the r_ topics within 900 s"
}

recreations=0
recreate_r_orders() { # delete and recreate r_orders, then send the next r_ stream
  recreations=$((recreations + 1))
  log "chaos: deleting and recreating r_orders"
  nisshi_topic delete r_orders
  nisshi_topic create r_orders 3
  r_stream $((7 + recreations)) $((R / 3 ** recreations)) >>"$STATE_DIR/logs/r-emitter.log" 2>&1 \
    || die "the r_ stream failed (log: $STATE_DIR/logs/r-emitter.log)"
}

# The disruptions, spread over the emitter's run time, in random order and at random moments.
duration=$(( N / RATE + 1 ))
events=()
for _ in $(seq "$K"); do events+=("kill" "killpair"); done
events+=("emitter" "broker" "clickhouse")
[ -n "$JOB" ] || events+=("recreate_live" "recreate_down")
[ "$MEMBERS" -gt 0 ] && events+=("zombie")
slot=$(( duration * 1000 / (${#events[@]} + 1) ))
for ev in $(printf '%s\n' "${events[@]}" | shuf); do
  sleep "$(awk -v ms=$(( slot / 2 + RANDOM % slot )) 'BEGIN{printf "%.3f", ms/1000}')"
  case $ev in
    kill)
      restart_transformer ;;
    killpair)
      restart_transformer
      sleep "$(awk -v ms=$(( 200 + RANDOM % 1800 )) 'BEGIN{printf "%.3f", ms/1000}')"
      restart_transformer ;;
    recreate_live)
      wait_r_committed
      recreate_r_orders ;;
    recreate_down)
      # The transformer is down while the topic is recreated: at start its checkpoint is past the new topic's end.
      wait_r_committed
      for m in "${members[@]}"; do
        pid=$(pid_of "$m") || true
        [ -n "$pid" ] && kill -KILL "$pid" && log "chaos: SIGKILL $m (pid $pid) for the recreation"
        rm -f "$STATE_DIR/pids/$m.pid"
      done
      recreate_r_orders
      for m in "${members[@]}"; do start_member "$m"; done ;;
    zombie)
      zombie ;;
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

if [ -n "$JOB" ]; then
  log "chaos: waiting for the transformer to commit everything (up to 10 minutes)"
  end=$((SECONDS + 600))
  while :; do
    report=$("$BIN_DIR/transformer" --status 2>/dev/null) || true
    grep -Eq '^total emitted=[0-9]+ .* lag=0$' <<<"$report" && break
    [ $SECONDS -ge $end ] && die "the transformer did not commit everything within 600 s"
    sleep 2
  done
  result=$(PYTHONPATH="$CACHE_DIR/pylib" python3 "$ROOT/scripts/chaos-job-check.py" "$KAFKA_BROKERS" "$INPUT_TOPICS" \
    "$BIN_DIR/transformer" "$CLICKHOUSE_URL" dead_letters) || { echo "$result"; die "the sinks do not hold every row exactly once"; }
  log "chaos: $(tail -n +2 <<<"$result" | paste -sd ';' -)"
  logs=$(cat "$STATE_DIR"/logs/transformer*.log)
  restarts=$(grep -c "recovered from the last checkpoint" <<<"$logs" || true)
  skipped=$(grep "recovered from the last checkpoint" <<<"$logs" | sed -n 's/.*already_written=\([0-9]*\).*/\1/p' | paste -sd+ | bc)
  log "chaos: transformer recoveries=$restarts, records found already written at recovery (not rewritten)=$skipped"
  echo "chaos: job=$(basename "$JOB") emitted=$N $(head -n 1 <<<"$result")"
  exit 0
fi
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
dups_no_final=$(ch "SELECT count() - uniqExact(event_id) FROM $CLICKHOUSE_DATABASE.events_processed")
if [ "$SINK" = clickhouse ]; then
  inserted=$(ch "SELECT count() FROM $CLICKHOUSE_DATABASE.audit_events")
  dups_topic=$(( inserted - distinct )) dups_label=duplicates_inserted
else
  topic_records=$("$BIN_DIR/transformer" --status 2>/dev/null | sed -n 's/^total .* processed=\([0-9]*\).*/\1/p')
  dups_topic=$(( topic_records - distinct )) dups_label=duplicates_in_topic
fi
# The direct sink must hold each dead letter once without FINAL; the Kafka path's ReplacingMergeTree may need it.
dead=$(ch "SELECT count() FROM $CLICKHOUSE_DATABASE.dead_letters$([ "$SINK" = clickhouse ] || echo ' FINAL')")
logs=$(cat "$STATE_DIR"/logs/transformer*.log)
restarts=$(grep -c "recovered from the last checkpoint" <<<"$logs" || true)
skipped=$(grep "recovered from the last checkpoint" <<<"$logs" | sed -n 's/.*already_written=\([0-9]*\).*/\1/p' | paste -sd+ | bc)
resets=$(grep -c "resuming at the log start" <<<"$logs" || true)
zombie_written=$( { grep "fenced: this round was written" <<<"$logs" || true; } | sed -n 's/.*written=\([0-9]*\).*/\1/p' | paste -sd+ | bc)
zombie_written=${zombie_written:-0}
log "chaos: transformer recoveries=$restarts, records found already written at recovery (not rewritten)=$skipped, positions moved after a recreation=$resets"
emitted=$(wc -l <"$STATE_DIR/stream.txt")
group_figures=""
if [ "$MEMBERS" -gt 0 ]; then
  rebalances=$(grep -c "joined the group" <<<"$logs" || true)
  group_figures=" members=$MEMBERS rebalances=$rebalances takeover_ms=$(IFS=,; echo "${takeovers[*]:-none}") zombie_written=$zombie_written"
fi
echo "chaos: sink=$SINK emitted=$emitted in_clickhouse_distinct=$distinct lost=$lost $dups_label=$dups_topic duplicates_in_clickhouse=$dups_ch duplicates_in_clickhouse_without_final=$dups_no_final dead_letters=$dead$group_figures"
[ "$resets" -ge 2 ] || die "expected the two recreations of r_orders to be caught, found $resets"
# A zombie's fenced round may be doubled in the topic (and so in ClickHouse without FINAL), never more than counted.
[ "$lost" -eq 0 ] && [ "$dups_ch" -eq 0 ] && [ "$dups_no_final" -le "$zombie_written" ] && [ "$dups_topic" -le "$zombie_written" ] && [ "$dead" -eq "$malformed" ]
