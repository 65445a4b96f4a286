#!/usr/bin/env bash
# Throughput, latency and memory, each against a baseline measured in the same run (these machines are noisy:
# absolute figures drift, ratios hold). Appends a table to BENCHMARKS.md; the last line printed is
#   bench: baseline_rps=B transformer_rps=T ratio=R p99_ms=P direct_p99_ms=D direct_flush100_p99_ms=F engine_drain_rps=K direct_drain_rps=Q direct_recovery_ms=C rss_mb=M recovery_rss_mb=S rss_1k_batches_mb=A rss_50k_batches_mb=Z … sized_copy_rps=Y ratio_sized=X group_vs_static=G instr_drain=I …
# Steps (own servers: nisshi on 39092 (in memory) and 39093 (sqlite), ClickHouse on 38123/39000, state in .state/bench):
#  1. criterion: the pure mapping, ns per record per raw type (and the JSON shares);
#  2. pre-load N raw records (default 1,000,000; 3 partitions per topic) into an in-memory broker;
#  3. drain that backlog BENCH_RUNS times (default 3) each way, alternating, best run of each counted:
#     the baseline, a plain rskafka copy to another topic with no mapping (bench/src/bin/copy-baseline.rs); the
#     transformer (--drain) into processed_events; and the sized copy, the same plain copy with every value padded
#     to the transformer's average output size (what any transformer writing these records could reach at best);
#     all under /usr/bin/time, with the broker's own CPU read from /proc;
#  3b. recovery over the N records the first transformer run wrote (its checkpoints reset to the first): scan time
#     and peak RSS once the scan is done;
#  3c. peak RSS draining N records written in 1,000- and in 50,000-record producer batches;
#  4. the same on the durable sqlite broker that scripts/up.sh runs, with N/5 records (it is ~30x slower);
#  5. latency: the emitter at RATE events/s (default 10,000) for SECS s (default 60) through the whole pipeline,
#     once with each sink (Kafka + Kafka engine, and --sink clickhouse), and once more with the direct sink's inserts
#     gathered for 100 ms (--sink-flush-interval-ms 100, a job's 'sink.flush-interval'); a probe polls ClickHouse every 50 ms and
#     reports p50/p99/max of emit -> queryable (a row counts as seen when the query that first returned it was sent);
#  6. the N-record backlog of step 2 drained into queryable ClickHouse rows with each sink: rows/s; and the direct
#     sink's recovery lookup over those N stored rows (positions reset to the start): time and peak RSS.
#  3d. where the drain's time goes, in instructions per record (callgrind, repeatable where seconds are not): the
#     whole --drain of step 2's backlog, split into fetching (the plain copy with --fetch-only), producing (the
#     plain copy writing records of the transformer's output size, minus fetching), reading and evaluating the job
#     and encoding its rows (transformer/examples/map_cost.rs: with and without writing the JSON), and the rest
#     (the loop, batching, the allocator). Needs valgrind; skipped, and said, without it;
#  3e. a consumer group of one against the static assignment: N records drained BENCH_RUNS times each way,
#     alternating, a fresh group each run; the drain is timed from the log's "recovered from the last checkpoint" to
#     "drained every input partition", so a group's one-time join (the broker's initial rebalance delay) is apart;
#  7. a job's ClickHouse sink: its recovery at a restart with 1M and with 10M rows already in its table (it reads the
#     positions of the INSERTs since the committed mark, never the table), beside what one scan of the table's
#     source columns costs at each size (the `--sink clickhouse` recovery's way).
#   scripts/bench.sh [N]      env: BENCH_RUNS, BENCH_RATE, BENCH_LATENCY_SECS, BENCH_COMPARE, BENCH_ONLY
# BENCH_ONLY=drain: steps 2 and 3 only (no criterion, no table), ending with a shorter `bench:` line.
# BENCH_ONLY=split: steps 2 and 3d only, ending with `bench: instr_drain=… instr_fetch=… instr_produce=…
#   instr_evaluate=… instr_encode=… instr_rest=…` (instructions per record).
# BENCH_ONLY=group: steps 2 and 3e only, ending with `bench: group_drain_s=… static_drain_s=… group_vs_static=…`.
# BENCH_ONLY=sqlite: step 4 only, ending with `bench: sqlite_baseline_rps=… sqlite_ratio_sized=… sqlite_ratio_sized_mean=…`.
# BENCH_ONLY=latency: step 5 only, ending with `bench: p99_ms=… direct_p99_ms=… direct_flush100_p99_ms=… p50_ms=… …`.
# BENCH_ONLY=recovery: step 7 only, ending with `bench: recovery_ms_1m=… recovery_ms_10m=… scan_ms_1m=… scan_ms_10m=…`.
# BENCH_COMPARE=PATH: another build of the transformer (an older commit: `git worktree add ../old COMMIT`, then
# `cargo build --release --target x86_64-unknown-linux-musl -p transformer` there) drained in the same runs of step 3,
# alternating with this one; the table and the last line then also give its records/s and the ratio of the two.
set -euo pipefail
N=${1:-1000000}
RUNS=${BENCH_RUNS:-3}
COMPARE=${BENCH_COMPARE:-}
[ -z "$COMPARE" ] || [ -x "$COMPARE" ] || { echo "BENCH_COMPARE=$COMPARE is not an executable" >&2; exit 2; }
RATE=${BENCH_RATE:-10000}
SECS=${BENCH_LATENCY_SECS:-60}
export STATE_DIR=${BENCH_STATE_DIR:-$(cd "$(dirname "$0")/.." && pwd)/.state/bench}
export KAFKA_PORT=39092 CLICKHOUSE_HTTP_PORT=38123 CLICKHOUSE_TCP_PORT=39000
# The figures are the pipeline's, comparable across versions: one transformer with its checkpoint topic, no group
# join (a new consumer group waits the broker's initial rebalance delay, 3 s, before its first round).
export ASSIGNMENT=static
unset KAFKA_BROKERS CLICKHOUSE_URL
source "$(dirname "$0")/lib.sh"
SQLITE_BROKERS=127.0.0.1:39093
cleanup() { for name in transformer emitter clickhouse broker broker-sqlite; do stop_bg "$name" >/dev/null 2>&1 || true; done; }
trap cleanup EXIT
cleanup
rm -rf "$STATE_DIR"; mkdir -p "$STATE_DIR/logs"
cd "$ROOT"
apt_install bc time # arithmetic, and /usr/bin/time for CPU seconds and peak RSS

ensure_nisshi
start_server broker "$KAFKA_PORT" "$STATE_DIR/broker" "$(nisshi_bin)" broker --listener-url "tcp://127.0.0.1:$KAFKA_PORT" \
  --advertised-listener-url "tcp://127.0.0.1:$KAFKA_PORT" --storage-engine "memory://nisshi/"
start_server broker-sqlite "${SQLITE_BROKERS#*:}" "$STATE_DIR/broker-sqlite" "$(nisshi_bin)" broker --listener-url "tcp://$SQLITE_BROKERS" \
  --advertised-listener-url "tcp://$SQLITE_BROKERS" --storage-engine "sqlite://broker.db"
wait_tcp "$KAFKA_PORT" 30 "the nisshi broker"
wait_tcp "${SQLITE_BROKERS#*:}" 30 "the nisshi broker (sqlite)"

# job_recovery ROWS : a job's ClickHouse sink whose table holds ROWS rows of another topic, written by one drain of
#   the jr_orders records and restarted: sets jr_ms (the restart's recovery, elapsed_ms of its log line) and
#   jr_scan_ms (one scan of the table's source columns, what a lookup in the table itself would read).
job_recovery() {
  local rows=$1 db=jobrec_$1 job=$STATE_DIR/jobrec_$1.sql log=$STATE_DIR/logs/jobrec_$1.log
  cat >"$job" <<SQL
CREATE TABLE src (order_id STRING, user_id STRING) WITH ('connector' = 'kafka', 'topic' = 'jr_orders', 'format' = 'json');
CREATE TABLE t (order_id STRING, user_id STRING) WITH ('connector' = 'clickhouse', 'database-name' = '$db');
INSERT INTO t SELECT order_id, user_id FROM src;
SQL
  # The database named here: an earlier step's CLICKHOUSE_DATABASE in the environment would win over the job's.
  local args=(--job "$job" --brokers "$KAFKA_BROKERS" --clickhouse-url "$CLICKHOUSE_URL" --clickhouse-database "$db" --input-topics jr_orders
    --checkpoint-topic "jr_${rows}_checkpoints" --dead-letter-topic jr_dead_letters --http-addr off --stats-interval-secs 0)
  "$BIN_DIR/transformer" "${args[@]}" schema --create-tables >>"$log" 2>&1 || die "schema --create-tables failed (log: $log)"
  ch "INSERT INTO $db.t SELECT toString(number), 'u', 'elsewhere', 0, number, 1 FROM numbers($rows)"
  "$BIN_DIR/transformer" "${args[@]}" --drain >>"$log" 2>&1 || die "the first drain failed (log: $log)"
  local restarts=5
  for _ in $(seq "$restarts"); do
    "$BIN_DIR/transformer" "${args[@]}" --drain >>"$log" 2>&1 || die "a restart failed (log: $log)"
  done
  # The median of the restarts' table recoveries (waiting for running INSERTs, then reading the positions), in ms.
  jr_ms=$(grep 'table recovered from its positions' "$log" | tail -n "$restarts" | sed -n 's/.* elapsed_us=\([0-9]*\).*/\1/p' \
    | sort -n | awk '{v[NR] = $1} END {printf "%.1f", v[int((NR + 1) / 2)] / 1000}')
  local t0; t0=$(date +%s%N)
  ch "SELECT count() FROM $db.t WHERE _source_topic = 'jr_orders' AND _source_offset >= 0" >/dev/null
  jr_scan_ms=$(( ($(date +%s%N) - t0) / 1000000 ))
  [ "$(ch "SELECT count() FROM $db.t")" -gt "$rows" ] || die "the job wrote no rows (log: $log)"
  log "   $rows rows in the table: recovery $jr_ms ms; one scan of its source columns $jr_scan_ms ms"
}
step7() { # sets recovery_1m, recovery_10m, scan_1m, scan_10m
  log "7 a job's ClickHouse sink: recovery at a restart with 1M and with 10M rows in its table"
  # What the earlier steps exported is for the default job (step 6 left SINK=clickhouse, which a job with its own
  # tables refuses): the job here names its own outputs.
  unset SINK OUTPUT_TOPIC DEAD_LETTER_TOPIC CLICKHOUSE_GROUP CLICKHOUSE_DATABASE
  "$BIN_DIR/emitter" --brokers "$KAFKA_BROKERS" --topic-prefix jr_ --total 3000 --messages-per-second 0 --malformed-ratio 0 \
    --http-addr off --progress-topic jr_progress >>"$STATE_DIR/logs/emitter.log" 2>&1 || die "the jr_ records failed"
  job_recovery 1000000; recovery_1m=$jr_ms; scan_1m=$jr_scan_ms
  job_recovery 10000000; recovery_10m=$jr_ms; scan_10m=$jr_scan_ms
}

# split BROKERS N OUT_AVG : step 3d; sets split_line (` instr_drain=… …`, empty without valgrind)
split() {
  local brokers=$1 n=$2 out_avg=$3 m=100000 ex=$ROOT/target/release/examples/map_cost
  split_line=""
  if ! command -v valgrind >/dev/null; then
    log "3d where the time goes: skipped (valgrind is not installed: apt-get install valgrind)"
    return
  fi
  log "3d where the drain's time goes: instructions per record under callgrind (a few minutes)"
  # ir LOG CMD... : the instructions CMD runs (callgrind's count, the program's output in LOG)
  ir() {
    local log=$1 vlog=$STATE_DIR/logs/callgrind.txt; shift
    valgrind --tool=callgrind --callgrind-out-file=/dev/null --log-file="$vlog" "$@" >>"$log" 2>&1 || die "$* failed under valgrind (log: $log)"
    sed -n 's/.*Collected : \([0-9]*\).*/\1/p' "$vlog"
  }
  per() { echo "$1 / $2" | bc; } # per TOTAL N : per record, whole instructions
  local built
  built=$(cd "$ROOT" && cargo build --release --locked --example map_cost -p transformer 2>&1) ||
    { grep -E '^error' -A5 <<<"$built" >&2; die "the map_cost example does not build"; }
  # drain_ir BINARY PREFIX : the instructions of one --drain of the backlog by BINARY, into PREFIX* topics
  drain_ir() {
    ir "$STATE_DIR/logs/split-${2}drain.log" "$1" --brokers "$brokers" --drain --http-addr off --stats-interval-secs 0 \
      --output-topic "${2}processed" --dead-letter-topic "${2}dead" --checkpoint-topic "${2}checkpoints"
  }
  local drain fetch copy gen mapped full
  drain=$(drain_ir "$BIN_DIR/transformer" split_)
  fetch=$(ir "$STATE_DIR/logs/split-fetch.log" "$tools/copy-baseline" --brokers "$brokers" --fetch-only)
  copy=$(ir "$STATE_DIR/logs/split-copy.log" "$tools/copy-baseline" --brokers "$brokers" --output-topic split_copy --pad-to "$out_avg")
  gen=$(ir "$STATE_DIR/logs/split-map.log" "$ex" "$m" generate-only)
  mapped=$(ir "$STATE_DIR/logs/split-map.log" "$ex" "$m" map-only)
  full=$(ir "$STATE_DIR/logs/split-map.log" "$ex" "$m")
  local d f p e w r
  d=$(per "$drain" "$n"); f=$(per "$fetch" "$n"); p=$(per "$((copy - fetch))" "$n")
  e=$(per "$((mapped - gen))" "$m"); w=$(per "$((full - mapped))" "$m")
  r=$((d - f - p - e - w))
  log "   instructions per record: the drain $d = fetching $f + producing $p + reading and evaluating the job $e + encoding $w + the rest $r (the loop, batching, dead letters, the allocator)"
  split_line=" instr_drain=$d instr_fetch=$f instr_produce=$p instr_evaluate=$e instr_encode=$w instr_rest=$r"
  if [ -n "$COMPARE" ]; then
    local c
    c=$(per "$(drain_ir "$COMPARE" split_cmp_)" "$n")
    log "   the drain by BENCH_COMPARE: $c instructions per record; this build / it: $(ratio "$d" "$c")"
    split_line+=" instr_drain_compare=$c instr_vs_compare=$(ratio "$d" "$c")"
  fi
}

# group_vs_static BROKERS N : step 3e; sets gs_static, gs_group (the best drains, seconds) and gs_ratio (static /
#   group: above 1 when the group is faster)
group_vs_static() {
  local brokers=$1 n=$2 r a tag log drained secs
  log "3e a consumer group of one against the static assignment: $n records, $RUNS runs each, alternating"
  # span LOG : seconds from the recovery line to the drained line (tracing's RFC 3339 timestamps)
  span() {
    local from to
    from=$(grep -m1 'recovered from the last checkpoint' "$1" | cut -d' ' -f1)
    to=$(grep 'drained every input partition' "$1" | tail -n 1 | cut -d' ' -f1)
    echo "scale=3; ($(date -d "$to" +%s.%N) - $(date -d "$from" +%s.%N)) / 1" | bc
  }
  local -A best=([static]="" [group]="")
  for r in $(seq "$RUNS"); do
    for a in static group; do
      tag=gs_${a}_$r log=$STATE_DIR/logs/assignment-$a.log
      ASSIGNMENT=$a "$BIN_DIR/transformer" --brokers "$brokers" --drain --http-addr off --stats-interval-secs 5 \
        --group "$tag" --output-topic "${tag}_processed" --dead-letter-topic "${tag}_dead" \
        --checkpoint-topic "${tag}_checkpoints" >"$log" 2>&1 || die "the $a drain failed (log: $log)"
      drained=$(grep 'drained every input partition' "$log" | tail -n 1)
      [ "$(summary_field records_in "$drained")" -eq "$n" ] || die "the $a drain handled $(summary_field records_in "$drained") of $n"
      secs=$(span "$log")
      log "   run $r: $a: drained in $secs s"
      [ -n "${best[$a]}" ] && [ "$(echo "$secs >= ${best[$a]}" | bc)" -eq 1 ] || best[$a]=$secs
    done
  done
  gs_static=${best[static]} gs_group=${best[group]}
  gs_ratio=$(ratio "$gs_static" "$gs_group")
  log "   best drains: static $gs_static s, group of one $gs_group s: the group at $gs_ratio of the static speed (goal ≥ 0.95)"
}

# latency SINK TAG [ARGS...] : the emitter at RATE/s for SECS s through transformer (with ARGS) and ClickHouse with
#   that sink (topics, group and database of its own, named by TAG); sets lat_p50 lat_p99 lat_max lat_samples, and for
#   the kafka run the peak RSS of both programs.
latency() {
  local sink=$1 p=lat_$2_
  shift 2
  export SINK=$sink OUTPUT_TOPIC=${p}processed_events DEAD_LETTER_TOPIC=${p}dead_letters CLICKHOUSE_GROUP=${p}ch \
    CLICKHOUSE_DATABASE=${p}db
  local targs=(--input-topics "${p}user_clicks,${p}page_views,${p}orders" --checkpoint-topic ${p}checkpoints
    --http-addr 127.0.0.1:39464 --fetch-max-wait-ms 20 "$@")
  "$BIN_DIR/transformer" "${targs[@]}" --init >>"$STATE_DIR/logs/transformer.log" 2>&1
  apply_schema
  start_bg transformer "$STATE_DIR" "$BIN_DIR/transformer" "${targs[@]}"
  start_bg emitter "$STATE_DIR" "$BIN_DIR/emitter" --topic-prefix "$p" --messages-per-second "$RATE" --timestamp-format rfc3339 \
    --http-addr off --total $(( RATE * (SECS + 20) ))
  [ "$sink" = kafka ] && sleep 5 # past the Kafka engine's start
  "$tools/latency-probe" --clickhouse-url "$CLICKHOUSE_URL" --database "$CLICKHOUSE_DATABASE" --seconds "$SECS" \
    >"$STATE_DIR/latency-$p.txt" || die "latency probe failed ($sink sink, $p)"
  if [ "$sink" = kafka ]; then
    rss_run_kb=$(awk '/VmHWM/ {print $2}' "/proc/$(pid_of transformer)/status")
    emit_rss_kb=$(awk '/VmHWM/ {print $2}' "/proc/$(pid_of emitter)/status")
    actual_rate=$(grep -o 'actual_rate_per_s=[0-9.]*' "$STATE_DIR/logs/emitter.log" | tail -n 1 | cut -d= -f2)
  fi
  stop_bg emitter >/dev/null; stop_bg transformer >/dev/null
  log "   $sink sink${*:+ ($*)}: $(cat "$STATE_DIR/latency-$p.txt")"
  kv() { sed -n "s/.* $1=\([0-9]*\).*/\1/p" "$STATE_DIR/latency-$p.txt"; }
  lat_p50=$(kv p50_ms); lat_p99=$(kv p99_ms); lat_max=$(kv max_ms); lat_samples=$(kv samples)
}
# step5 : latency with each sink, and with the direct sink's inserts gathered for 100 ms (the insert cadence of a
#   job's 'sink.flush-interval'); sets p50 p99 pmax samples (Kafka engine), d_* (direct), f_* (direct, 100 ms)
step5() {
  log "5/6 latency: emitter at $RATE/s for $SECS s through the pipeline into ClickHouse, with each sink"
  start_clickhouse
  export CLICKHOUSE_URL # the direct sink's server
  latency kafka kafka
  p50=$lat_p50 p99=$lat_p99 pmax=$lat_max samples=$lat_samples
  latency clickhouse clickhouse
  d_p50=$lat_p50 d_p99=$lat_p99 d_max=$lat_max d_samples=$lat_samples
  latency clickhouse flush100 --sink-flush-interval-ms 100
  f_p50=$lat_p50 f_p99=$lat_p99 f_max=$lat_max f_samples=$lat_samples
}

if [ "${BENCH_ONLY:-}" = recovery ]; then
  build_binaries
  start_clickhouse
  step7
  echo "bench: recovery_ms_1m=$recovery_1m recovery_ms_10m=$recovery_10m scan_ms_1m=$scan_1m scan_ms_10m=$scan_10m"
  exit 0
fi

if [ "${BENCH_ONLY:-}" = drain ] || [ "${BENCH_ONLY:-}" = split ] || [ "${BENCH_ONLY:-}" = group ] || [ "${BENCH_ONLY:-}" = sqlite ]; then
  log "1/6 criterion: skipped (BENCH_ONLY=${BENCH_ONLY})"
else
  log "1/6 criterion: the mapping"
  cargo bench -p transformer --bench map -- --warm-up-time 1 --measurement-time 3 2>/dev/null >"$STATE_DIR/criterion.txt"
  ns() { # ns NAME : the middle estimate of criterion's "time: [lo mid hi]" for map/NAME, in ns
    awk -v name="map/$1" '
      $1 == name { found = 1 }
      found && /time:/ { for (i = 1; i <= NF; i++) if ($i ~ /^\[/) { v = $(i + 2); u = $(i + 3); break }
                         f = (u == "µs") ? 1000 : (u == "ms") ? 1e6 : 1; printf "%.0f\n", v * f; exit }' "$STATE_DIR/criterion.txt"
  }
  declare -A map_ns write_ns old_ns
  for t in user_clicks page_views orders; do
    map_ns[$t]=$(ns "$t/map_and_write_json"); write_ns[$t]=$(ns "$t/map"); old_ns[$t]=$(ns "$t/owned_and_serde_encode")
  done
  log "   ns/record (map_and_write_json): clicks ${map_ns[user_clicks]}, views ${map_ns[page_views]}, orders ${map_ns[orders]}"
fi

build_binaries
# The tools are built like the binaries (static, musl, the same allocator): the baseline pays what they pay.
# A tool that does not build stops the run: an old binary left in the target directory would be measured instead.
bench_build=$(cargo build --release --locked --target "$MUSL_TARGET" -p bench 2>&1) ||
  { grep -E '^error' -A5 <<<"$bench_build" >&2; echo "bench.sh: the bench tools do not build" >&2; exit 1; }
tools=$BIN_DIR

if [ "${BENCH_ONLY:-}" = latency ]; then
  step5
  echo "bench: p99_ms=$p99 direct_p99_ms=$d_p99 direct_flush100_p99_ms=$f_p99 p50_ms=$p50 direct_p50_ms=$d_p50 direct_flush100_p50_ms=$f_p50"
  exit 0
fi

preload() { # preload BROKERS N : N raw records of a fixed stream; prints records/s
  local t0; t0=$(date +%s.%N)
  "$BIN_DIR/emitter" --brokers "$1" --total "$2" --messages-per-second 0 --batch-size 2000 --seed 7 --http-addr off \
    --stats-interval-secs 30 2>>"$STATE_DIR/logs/emitter.log" || die "pre-load failed (log: $STATE_DIR/logs/emitter.log)"
  echo "$2 / ($(date +%s.%N) - $t0)" | bc
}
broker_cpu() { # broker_cpu NAME : CPU seconds the broker process has used so far
  awk '{printf "%.2f\n", ($14 + $15) / 100}' "/proc/$(pid_of "$1")/stat"
}
timed() { # timed BROKER LOG CMD... : runs CMD under /usr/bin/time; prints "wall_s cpu_s maxrss_kb broker_cpu_s"
  local broker=$1 log=$2; shift 2
  local c0; c0=$(broker_cpu "$broker")
  /usr/bin/time -f "%e %U %S %M" -o "$STATE_DIR/time.txt" "$@" >>"$log" 2>&1 || die "$* failed (log: $log)"
  awk -v b="$(echo "$(broker_cpu "$broker") - $c0" | bc)" '{print $1, $2 + $3, $4, b}' "$STATE_DIR/time.txt"
}
summary_field() { sed -n "s/.* $1=\([0-9]*\).*/\1/p" <<<"$2"; } # summary_field NAME LINE : a number of a drain's summary line
# drain BROKER_NAME BROKERS N TAG : RUNS alternating drains of the backlog: baseline, transformer, sized copy. Sets
#   the globals {b,t,s}_{wall,cpu,rss,bcpu} of the fastest run of each (wall-clock best: a noisy machine only slows
#   runs down; c_* for BENCH_COMPARE, drained after the transformer) and out_avg, the transformer's average output
#   record in bytes.
drain() {
  local name=$1 brokers=$2 n=$3 tag=$4 r drained
  field() { summary_field "$1" "$drained"; }
  # transformer_drain PREFIX LABEL BINARY LOG TOPIC_PREFIX : one --drain of the backlog by BINARY, timed and kept in
  #   PREFIX_*, checked to have handled all n records; its summary line is left in $drained
  transformer_drain() {
    keep_best "$1" "$tag run $r: $2" "$(timed "$name" "$4" "$3" --brokers "$brokers" --drain --http-addr off \
      --stats-interval-secs 5 --output-topic "${5}processed_$r" --dead-letter-topic "${5}dead_$r" \
      --checkpoint-topic "${5}checkpoints_$r")"
    drained=$(grep 'drained every input partition' "$4" | tail -n 1)
    [ "$(field records_in)" -eq "$n" ] || die "the $2 handled $(field records_in) of $n"
  }
  b_wall=""; t_wall=""; s_wall=""; c_wall=""; b_sum=0; t_sum=0; s_sum=0; c_sum=0
  for r in $(seq "$RUNS"); do
    keep_best b "$tag run $r: baseline" "$(timed "$name" "$STATE_DIR/logs/baseline-$tag.log" \
      "$tools/copy-baseline" --brokers "$brokers" --output-topic "baseline_copy_$r")"
    copied=$(sed -n 's/.*copied=\([0-9]*\).*/\1/p' "$STATE_DIR/logs/baseline-$tag.log" | tail -n 1)
    [ "$copied" -eq "$n" ] || die "the baseline copied $copied of $n"

    transformer_drain t transformer "$BIN_DIR/transformer" "$STATE_DIR/logs/transformer-$tag.log" ""
    out_avg=$(( $(field bytes_out) / $(field records_out) ))
    [ -z "$COMPARE" ] || transformer_drain c "transformer (BENCH_COMPARE)" "$COMPARE" "$STATE_DIR/logs/compare-$tag.log" cmp_

    keep_best s "$tag run $r: sized copy ($out_avg bytes)" "$(timed "$name" "$STATE_DIR/logs/sized-$tag.log" \
      "$tools/copy-baseline" --brokers "$brokers" --output-topic "sized_copy_$r" --pad-to "$out_avg")"
  done
}
keep_best() { # keep_best PREFIX LABEL "wall cpu rss bcpu" : logs a run; keeps it in PREFIX_* when it is the fastest
  local p=$1 label=$2 wall cpu rss bcpu best sum
  read -r wall cpu rss bcpu <<<"$3"
  [ -n "$wall" ] || die "$label: no timing (see $STATE_DIR/logs/)"
  log "   $label: $wall s (CPU $cpu s, broker CPU $bcpu s)"
  sum=${p}_sum; printf -v "$sum" %s "$(echo "${!sum:-0} + $wall" | bc)" # for the means BENCH_COMPARE reports
  best=${p}_wall
  if [ -z "${!best}" ] || [ "$(echo "$wall < ${!best}" | bc)" -eq 1 ]; then
    printf -v "${p}_wall" %s "$wall"; printf -v "${p}_cpu" %s "$cpu"; printf -v "${p}_rss" %s "$rss"; printf -v "${p}_bcpu" %s "$bcpu"
  fi
}
per_m() { printf '%.2f' "$(echo "scale=4; $1 * 1000000 / $2" | bc)"; } # per_m SECONDS N : seconds per million records
ratio() { printf '%.2f' "$(echo "scale=4; $1 / $2" | bc)"; }

# step4: the drain of step 3 on the durable sqlite broker, with N/5 records. Each drain writes its output into the
#   same database, so later runs are slower: the programs alternate, and the means are given beside the best runs.
step4() {
  NS=$((N / 5))
  log "4/6 the same on the durable sqlite broker, $NS records"
  preload "$SQLITE_BROKERS" "$NS" >/dev/null
  drain broker-sqlite "$SQLITE_BROKERS" "$NS" sqlite
  sq_b_rps=$(echo "$NS / $b_wall" | bc); sq_t_rps=$(echo "$NS / $t_wall" | bc); sq_s_rps=$(echo "$NS / $s_wall" | bc)
  sq_ratio=$(ratio "$sq_t_rps" "$sq_b_rps")
  sq_sized=$(ratio "$sq_t_rps" "$sq_s_rps") sq_sized_mean=$(ratio "$s_sum" "$t_sum")
  sq_b_bcpu_m=$(per_m "$b_bcpu" "$NS"); sq_t_bcpu_m=$(per_m "$t_bcpu" "$NS"); sq_s_bcpu_m=$(per_m "$s_bcpu" "$NS")
  log "   baseline $sq_b_rps rec/s, transformer $sq_t_rps rec/s: ratio $sq_ratio; of the sized copy $sq_sized (means $sq_sized_mean)"
}
if [ "${BENCH_ONLY:-}" = sqlite ]; then
  step4
  echo "bench: sqlite_baseline_rps=$sq_b_rps sqlite_transformer_rps=$sq_t_rps sqlite_sized_copy_rps=$sq_s_rps sqlite_ratio=$sq_ratio sqlite_ratio_sized=$sq_sized sqlite_ratio_sized_mean=$sq_sized_mean sqlite_broker_cpu_s_per_m=$sq_t_bcpu_m sized_copy_broker_cpu_s_per_m=$sq_s_bcpu_m"
  exit 0
fi
log "2/6 pre-loading $N raw records (in-memory broker)"
load_rps=$(preload "$KAFKA_BROKERS" "$N")
if [ "${BENCH_ONLY:-}" = split ]; then
  # The output size the produce share is priced at: one drain's average, as step 3 finds it.
  "$BIN_DIR/transformer" --brokers "$KAFKA_BROKERS" --drain --http-addr off --stats-interval-secs 0 \
    --output-topic size_processed --dead-letter-topic size_dead --checkpoint-topic size_checkpoints \
    >"$STATE_DIR/logs/size.log" 2>&1 || die "the sizing drain failed (log: $STATE_DIR/logs/size.log)"
  sized=$(grep 'drained every input partition' "$STATE_DIR/logs/size.log" | tail -n 1)
  out_avg=$(( $(summary_field bytes_out "$sized") / $(summary_field records_out "$sized") ))
  split "$KAFKA_BROKERS" "$N" "$out_avg"
  echo "bench:${split_line:- split skipped: no valgrind}"
  exit 0
fi
if [ "${BENCH_ONLY:-}" = group ]; then
  group_vs_static "$KAFKA_BROKERS" "$N"
  echo "bench: group_drain_s=$gs_group static_drain_s=$gs_static group_vs_static=$gs_ratio"
  exit 0
fi
log "3/6 draining the backlog: baseline (plain rskafka copy), transformer, sized copy; $RUNS runs each"
drain broker "$KAFKA_BROKERS" "$N" memory
b_rps=$(echo "$N / $b_wall" | bc); t_rps=$(echo "$N / $t_wall" | bc); s_rps=$(echo "$N / $s_wall" | bc)
ratio=$(ratio "$t_rps" "$b_rps")
ratio_sized=$(ratio "$t_rps" "$s_rps")
b_cpu_m=$(per_m "$b_cpu" "$N"); t_cpu_m=$(per_m "$t_cpu" "$N"); s_cpu_m=$(per_m "$s_cpu" "$N")
b_bcpu_m=$(per_m "$b_bcpu" "$N"); t_bcpu_m=$(per_m "$t_bcpu" "$N"); s_bcpu_m=$(per_m "$s_bcpu" "$N")
t_rss_mb=$(echo "scale=1; $t_rss / 1024" | bc); b_rss_mb=$(echo "scale=1; $b_rss / 1024" | bc)
mem_out_avg=$out_avg
log "   baseline $b_rps rec/s, transformer $t_rps rec/s: ratio $ratio; sized copy $s_rps rec/s (the ceiling: $(ratio "$s_rps" "$b_rps"));"
log "   CPU s per million $b_cpu_m vs $t_cpu_m; peak RSS $t_rss_mb MB"
if [ -n "$COMPARE" ]; then
  c_rps=$(echo "$N / $c_wall" | bc); c_rss_mb=$(echo "scale=1; $c_rss / 1024" | bc)
  log "   BENCH_COMPARE $c_rps rec/s (ratio $(ratio "$c_rps" "$b_rps")), peak RSS $c_rss_mb MB; this build / it: $(ratio "$t_rps" "$c_rps") by the best runs, $(ratio "$c_sum" "$t_sum") by the means"
fi
compared=${COMPARE:+ compare_rps=$c_rps compare_ratio=$(ratio "$c_rps" "$b_rps") vs_compare=$(ratio "$t_rps" "$c_rps") vs_compare_mean=$(ratio "$c_sum" "$t_sum")}
if [ "${BENCH_ONLY:-}" = drain ]; then
  echo "bench: baseline_rps=$b_rps transformer_rps=$t_rps ratio=$ratio sized_copy_rps=$s_rps ratio_sized=$ratio_sized rss_mb=$t_rss_mb$compared"
  exit 0
fi

# Recovery over a whole output already written: the first drain's checkpoints are reset to their first one
# (committed before any write), so the next start scans all N output records, finds them written, and skips them.
log "3b/6 recovery over $N already-written records (the first drain's checkpoints reset to their first)"
rargs=(--brokers "$KAFKA_BROKERS" --output-topic processed_1 --dead-letter-topic dead_1 --checkpoint-topic checkpoints_1)
"$BIN_DIR/transformer" "${rargs[@]}" offsets reset --to 0 >>"$STATE_DIR/logs/recovery.log" 2>&1 \
  || die "offsets reset failed (log: $STATE_DIR/logs/recovery.log)"
read -r rec_wall _ rec_rss _ <<<"$(timed broker "$STATE_DIR/logs/recovery.log" "$BIN_DIR/transformer" "${rargs[@]}" --drain --http-addr off)"
recovered=$(grep 'recovered from the last checkpoint' "$STATE_DIR/logs/recovery.log" | tail -n 1)
rec_found=$(sed -n 's/.* already_written=\([0-9]*\).*/\1/p' <<<"$recovered")
rec_scan_kb=$(sed -n 's/.* peak_rss_kb=\([0-9]*\).*/\1/p' <<<"$recovered")
rec_scan_ms=$(grep 'recovery scan done' "$STATE_DIR/logs/recovery.log" | tail -n 1 | sed -n 's/.* elapsed_ms=\([0-9]*\).*/\1/p')
rec_out=$(grep 'drained every input partition' "$STATE_DIR/logs/recovery.log" | tail -n 1 | sed -n 's/.* records_out=\([0-9]*\).*/\1/p')
[ "$rec_found" -eq "$N" ] && [ "$rec_out" -eq 0 ] || die "recovery found $rec_found of $N and wrote $rec_out again"
rec_scan_mb=$(echo "scale=1; $rec_scan_kb / 1024" | bc); rec_rss_mb=$(echo "scale=1; $rec_rss / 1024" | bc)
log "   found all $N written (nothing written again); scan ${rec_scan_ms} ms, peak RSS after the scan $rec_scan_mb MB, whole run $rec_rss_mb MB"

# Memory whatever the producer's batches: the same N records written in 1,000- and in 50,000-record produce batches
# (the broker returns a producer's batch whole, however small the fetch), each drained once under /usr/bin/time.
split "$KAFKA_BROKERS" "$N" "$mem_out_avg"
group_vs_static "$KAFKA_BROKERS" "$N"

log "3c/6 peak RSS draining $N records written in 1,000- and 50,000-record producer batches"
declare -A batch_rss_mb
for bs in 1000 50000; do
  "$BIN_DIR/emitter" --brokers "$KAFKA_BROKERS" --topic-prefix "bs${bs}_" --total "$N" --messages-per-second 0 \
    --batch-size "$bs" --seed 7 --start-time 2026-01-01T00:00:00Z --http-addr off >>"$STATE_DIR/logs/batches.log" 2>&1 \
    || die "emitter --batch-size $bs failed (log: $STATE_DIR/logs/batches.log)"
  read -r _ _ bs_rss _ <<<"$(timed broker "$STATE_DIR/logs/batches.log" "$BIN_DIR/transformer" --brokers "$KAFKA_BROKERS" \
    --input-topics "bs${bs}_user_clicks,bs${bs}_page_views,bs${bs}_orders" --output-topic "bs${bs}_processed" \
    --dead-letter-topic "bs${bs}_dead" --checkpoint-topic "bs${bs}_checkpoints" --drain --http-addr off)"
  batch_rss_mb[$bs]=$(echo "scale=1; $bs_rss / 1024" | bc)
done
log "   peak RSS: ${batch_rss_mb[1000]} MB (1,000-record batches), ${batch_rss_mb[50000]} MB (50,000-record batches)"

step4
stop_bg broker-sqlite >/dev/null

step5

# The backlog of step 2 (N raw records) drained into rows that can be queried, by a fresh transformer group each
# way: through processed_events and the Kafka engine (done when ClickHouse counts N rows), and straight in (done when
# --drain exits: a round's rows are queryable when it commits).
log "6/6 draining the $N-record backlog into queryable ClickHouse rows: Kafka engine vs direct sink"
rows_in() { ch "SELECT (SELECT count() FROM $1.events_processed) + (SELECT count() FROM $1.dead_letters)"; }
# queryable SINK : sets q_secs, the seconds from the transformer's start until ClickHouse holds all N rows
queryable() {
  local p=drain_$1_ t0
  export SINK=$1 OUTPUT_TOPIC=${p}processed_events DEAD_LETTER_TOPIC=${p}dead_letters CLICKHOUSE_GROUP=${p}ch \
    CLICKHOUSE_DATABASE=${p}db
  local targs=(--checkpoint-topic ${p}checkpoints --http-addr off --stats-interval-secs 10)
  "$BIN_DIR/transformer" "${targs[@]}" --init >>"$STATE_DIR/logs/transformer-$p.log" 2>&1
  apply_schema
  [ "$1" = kafka ] && sleep 10 # the Kafka engine's start, not counted against it
  t0=$(date +%s.%N)
  "$BIN_DIR/transformer" "${targs[@]}" --drain >>"$STATE_DIR/logs/transformer-$p.log" 2>&1 \
    || die "--drain failed ($1 sink; log: $STATE_DIR/logs/transformer-$p.log)"
  local end=$((SECONDS + 900))
  until [ "$(rows_in "$CLICKHOUSE_DATABASE")" -ge "$N" ]; do
    [ $SECONDS -lt $end ] || die "ClickHouse did not get all $N rows within 900 s ($1 sink): $(rows_in "$CLICKHOUSE_DATABASE")"
    sleep 0.2
  done
  q_secs=$(echo "$(date +%s.%N) - $t0" | bc)
  [ "$(rows_in "$CLICKHOUSE_DATABASE")" -eq "$N" ] || die "$1 sink: $(rows_in "$CLICKHOUSE_DATABASE") rows for $N records"
  log "   $1 sink: $N records queryable in $q_secs s ($(echo "$N / $q_secs" | bc) rows/s)"
}
queryable kafka
qk_rps=$(echo "$N / $q_secs" | bc)
queryable clickhouse
qd_rps=$(echo "$N / $q_secs" | bc)
# The direct sink's recovery asks ClickHouse what is stored past the committed positions, reading three columns of
# the whole table: its cost over N stored rows, with the positions reset to the start (everything found, skipped).
"$BIN_DIR/transformer" --checkpoint-topic drain_clickhouse_checkpoints offsets reset --to earliest \
  >>"$STATE_DIR/logs/recovery-direct.log" 2>&1 || die "offsets reset failed (log: $STATE_DIR/logs/recovery-direct.log)"
read -r _ _ rd_rss _ <<<"$(timed broker "$STATE_DIR/logs/recovery-direct.log" "$BIN_DIR/transformer" \
  --checkpoint-topic drain_clickhouse_checkpoints --drain --http-addr off)"
rd_line=$(grep 'recovered from the last checkpoint' "$STATE_DIR/logs/recovery-direct.log" | tail -n 1)
rd_found=$(sed -n 's/.* already_written=\([0-9]*\).*/\1/p' <<<"$rd_line")
rd_ms=$(sed -n 's/.* elapsed_ms=\([0-9]*\).*/\1/p' <<<"$rd_line")
[ "$rd_found" -eq "$N" ] || die "the direct sink's recovery found $rd_found of $N stored rows"
[ "$(rows_in "$CLICKHOUSE_DATABASE")" -eq "$N" ] || die "the direct sink wrote rows again after the reset"
rd_rss_mb=$(echo "scale=1; $rd_rss / 1024" | bc)
log "   direct sink recovery over $N stored rows: ${rd_ms} ms, whole run peak RSS $rd_rss_mb MB, nothing written again"

step7

{
  echo
  echo "## $(date -u +%F) — $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
  echo
  echo "Command: \`scripts/bench.sh $N\` (BENCH_RUNS=$RUNS, BENCH_RATE=$RATE, BENCH_LATENCY_SECS=$SECS). Broker: nisshi $NISSHI_VERSION."
  echo "All programs are static musl builds with the same allocator; the broker runs on the same 2 cores. Drains: the best"
  echo "of $RUNS alternating runs each. The sized copy is the baseline with every value padded to the transformer's average"
  echo "output record ($mem_out_avg bytes): no mapping, but the transformer's bytes, so the most any transformer writing"
  echo "these records could reach here."
  echo
  echo "| measure | baseline | transformer | ratio | sized copy | transformer / sized copy |"
  echo "|---|---|---|---|---|---|"
  echo "| drain $N records, in-memory broker, records/s | $b_rps (plain rskafka copy) | $t_rps | **$ratio** | $s_rps ($(ratio "$s_rps" "$b_rps") of the baseline) | $(ratio "$t_rps" "$s_rps") |"
  echo "| client CPU seconds per million records | $b_cpu_m | $t_cpu_m | $(ratio "$t_cpu_m" "$b_cpu_m") | $s_cpu_m | |"
  echo "| broker CPU seconds per million records (it stores what the client writes) | $b_bcpu_m | $t_bcpu_m | $(ratio "$t_bcpu_m" "$b_bcpu_m") | $s_bcpu_m | |"
  echo "| drain $NS records, durable sqlite broker (as scripts/up.sh runs it), records/s | $sq_b_rps | $sq_t_rps | **$sq_ratio** | $sq_s_rps | $sq_sized (means $sq_sized_mean) |"
  echo "| broker CPU seconds per million records, sqlite | $sq_b_bcpu_m | $sq_t_bcpu_m | $(ratio "$sq_t_bcpu_m" "$sq_b_bcpu_m") | $sq_s_bcpu_m | |"
  echo "| peak RSS while draining, MB | $b_rss_mb | $t_rss_mb | | | |"
  echo "| peak RSS at $RATE events/s (emitter actual ${actual_rate:-?}/s), MB | | $(echo "scale=1; $rss_run_kb / 1024" | bc) (emitter: $(echo "scale=1; $emit_rss_kb / 1024" | bc)) | | | |"
  echo "| emit → queryable in ClickHouse, ms ($samples sampled rows), Kafka sink + Kafka engine | | p50 $p50 · p99 **$p99** · max $pmax | | | |"
  echo "| emit → queryable in ClickHouse, ms ($d_samples sampled rows), direct sink (\`--sink clickhouse\`) | | p50 $d_p50 · p99 **$d_p99** · max $d_max | | | |"
  echo "| … the same, the direct sink's inserts gathered for 100 ms (\`--sink-flush-interval-ms 100\`), $f_samples sampled rows | | p50 $f_p50 · p99 **$f_p99** · max $f_max | | | |"
  echo "| $N-record backlog drained into queryable rows, rows/s: Kafka sink + Kafka engine · direct sink | | $qk_rps · $qd_rps | $(ratio "$qd_rps" "$qk_rps") (direct / Kafka) | | |"
  echo "| direct sink recovery over $N stored rows (positions reset to the start): lookup ms · peak RSS of the run, MB | | $rd_ms · $rd_rss_mb | | | |"
  [ -z "$COMPARE" ] || echo "| the same drain by BENCH_COMPARE ($COMPARE), records/s · peak RSS, MB | $b_rps | $c_rps · $c_rss_mb | $(ratio "$c_rps" "$b_rps") (this build / it: **$(ratio "$t_rps" "$c_rps")**) | | |"
  [ -z "$split_line" ] || echo "| instructions per record (callgrind): the drain = fetching + producing + reading and evaluating + encoding + the rest | $(sed 's/ instr_drain=\([0-9]*\) instr_fetch=\([0-9]*\) instr_produce=\([0-9]*\) instr_evaluate=\([0-9]*\) instr_encode=\([0-9]*\) instr_rest=\([0-9-]*\)/| \1 = \2 + \3 + \4 + \5 + \6/' <<<"$split_line") | | | |"
  echo "| drain $N records through a consumer group of one · with \`--assignment static\`, seconds (best of $RUNS, the group's join apart) | | $gs_group · $gs_static | $gs_ratio (static / group) | | |"
  echo "| pre-load by the emitter, records/s | | $load_rps | | | |"
  echo "| recovery over $N already-written records: scan ms · peak RSS after the scan, MB · the whole run (re-reading and skipping all), MB | | $rec_scan_ms · **$rec_scan_mb** · $rec_rss_mb | | | |"
  echo "| a job's ClickHouse sink, recovery at a restart, ms, with 1M · 10M rows in its table (one scan of its source columns, ms: $scan_1m · $scan_10m) | | $recovery_1m · $recovery_10m | $(ratio "$recovery_10m" "$recovery_1m") (10M / 1M; the median of 5 restarts each) | | |"
  echo
  echo "Mapping (criterion, ns per record, map + write_json as the pipeline does it): clicks ${map_ns[user_clicks]}, views"
  echo "${map_ns[page_views]}, orders ${map_ns[orders]}; the rows made but not written: clicks ${write_ns[user_clicks]}, views ${write_ns[page_views]},"
  echo "orders ${write_ns[orders]}; the owned record + serde_json path it replaced: clicks ${old_ns[user_clicks]}, views ${old_ns[page_views]}, orders ${old_ns[orders]}."
} >>"$ROOT/BENCHMARKS.md"
log "appended to BENCHMARKS.md"
echo "bench: baseline_rps=$b_rps transformer_rps=$t_rps ratio=$ratio p99_ms=$p99 direct_p99_ms=$d_p99 direct_flush100_p99_ms=$f_p99 engine_drain_rps=$qk_rps direct_drain_rps=$qd_rps direct_recovery_ms=$rd_ms rss_mb=$t_rss_mb recovery_rss_mb=$rec_scan_mb rss_1k_batches_mb=${batch_rss_mb[1000]} rss_50k_batches_mb=${batch_rss_mb[50000]} recovery_ms_1m=$recovery_1m recovery_ms_10m=$recovery_10m sized_copy_rps=$s_rps ratio_sized=$ratio_sized sqlite_ratio_sized=$sq_sized group_vs_static=$gs_ratio$split_line$compared"
