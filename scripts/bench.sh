#!/usr/bin/env bash
# Throughput, latency and memory, each against a baseline measured in the same run (these machines are noisy:
# absolute figures drift, ratios hold). Appends a table to BENCHMARKS.md; the last line printed is
#   bench: baseline_rps=B transformer_rps=T ratio=R p99_ms=P rss_mb=M
# Steps (own servers: nisshi with memory:// storage on 39092, ClickHouse on 38123/39000, state in .state/bench):
#  1. criterion: the pure mapping, ns per record per raw type (and the JSON encode share);
#  2. pre-load N raw records (default 1,000,000; 3 partitions per topic);
#  3. baseline: a plain rskafka copy of that backlog to another topic, no mapping (bench/src/bin/copy-baseline.rs);
#  4. the transformer draining the same backlog into processed_events (--drain), under /usr/bin/time;
#  5. latency: the emitter at RATE events/s (default 10,000) for SECS s (default 60) through the whole pipeline;
#     a probe polls ClickHouse and reports p50/p99/max of emit -> queryable.
#   scripts/bench.sh [N]      env: BENCH_RATE, BENCH_LATENCY_SECS
set -euo pipefail
N=${1:-1000000}
RATE=${BENCH_RATE:-10000}
SECS=${BENCH_LATENCY_SECS:-60}
export STATE_DIR=${BENCH_STATE_DIR:-$(cd "$(dirname "$0")/.." && pwd)/.state/bench}
export KAFKA_PORT=39092 CLICKHOUSE_HTTP_PORT=38123 CLICKHOUSE_TCP_PORT=39000
unset KAFKA_BROKERS CLICKHOUSE_URL
source "$(dirname "$0")/lib.sh"
cleanup() { for name in transformer emitter clickhouse broker; do stop_bg "$name" >/dev/null 2>&1 || true; done; }
trap cleanup EXIT
cleanup
rm -rf "$STATE_DIR"; mkdir -p "$STATE_DIR/logs"
cd "$ROOT"

log "1/5 criterion: the mapping"
cargo bench -p transformer --bench map -- --warm-up-time 1 --measurement-time 3 2>/dev/null >"$STATE_DIR/criterion.txt"
ns() { # ns NAME : the middle estimate of criterion's "time: [lo mid hi]" for map/NAME, in ns
  awk -v name="map/$1" '
    $1 == name { found = 1 }
    found && /time:/ { for (i = 1; i <= NF; i++) if ($i ~ /^\[/) { v = $(i + 2); u = $(i + 3); break }
                       f = (u == "µs") ? 1000 : (u == "ms") ? 1e6 : 1; printf "%.0f\n", v * f; exit }' "$STATE_DIR/criterion.txt"
}
declare -A map_ns enc_ns
for t in user_clicks page_views orders; do map_ns[$t]=$(ns "$t/map_record"); enc_ns[$t]=$(ns "$t/json_encode_only"); done
log "   ns/record (map_record): clicks ${map_ns[user_clicks]}, views ${map_ns[page_views]}, orders ${map_ns[orders]}"

ensure_nisshi
start_bg broker "$STATE_DIR/broker" "$(nisshi_bin)" broker --listener-url "tcp://127.0.0.1:$KAFKA_PORT" \
  --advertised-listener-url "tcp://127.0.0.1:$KAFKA_PORT" --storage-engine "memory://nisshi/"
wait_tcp "$KAFKA_PORT" 30 "the nisshi broker"
build_binaries
# The tools are built like the binaries (static, musl): the baseline pays the same libc and allocator.
cargo build --release --locked --target "$MUSL_TARGET" -p bench 2>&1 | grep -E '^error' -A5 >&2 || true
tools=$BIN_DIR

log "2/5 pre-loading $N raw records"
t0=$(date +%s.%N)
"$BIN_DIR/emitter" --total "$N" --messages-per-second 0 --batch-size 2000 --seed 7 --http-addr off --stats-interval-secs 30 \
  2>>"$STATE_DIR/logs/emitter.log" || die "pre-load failed (log: $STATE_DIR/logs/emitter.log)"
load_s=$(echo "$(date +%s.%N) - $t0" | bc)

timed() { # timed LOG CMD... : runs CMD under /usr/bin/time; prints "wall_s cpu_s maxrss_kb"
  local log=$1; shift
  /usr/bin/time -f "%e %U %S %M" -o "$STATE_DIR/time.txt" "$@" >>"$log" 2>&1 || die "$* failed (log: $log)"
  awk '{print $1, $2 + $3, $4}' "$STATE_DIR/time.txt"
}
log "3/5 baseline: plain rskafka copy of the backlog"
read -r b_wall b_cpu b_rss < <(timed "$STATE_DIR/logs/baseline.log" "$tools/copy-baseline" --brokers "$KAFKA_BROKERS")
copied=$(sed -n 's/.*copied=\([0-9]*\).*/\1/p' "$STATE_DIR/logs/baseline.log")
[ "$copied" -eq "$N" ] || die "the baseline copied $copied of $N"
log "4/5 transformer draining the backlog"
read -r t_wall t_cpu t_rss < <(timed "$STATE_DIR/logs/transformer-drain.log" "$BIN_DIR/transformer" --drain --http-addr off --stats-interval-secs 5)
handled=$(sed -n 's/.*drained every input partition.*records_in=\([0-9]*\).*/\1/p' "$STATE_DIR/logs/transformer-drain.log" | tail -n 1)
[ "$handled" -eq "$N" ] || die "the transformer handled $handled of $N"

b_rps=$(echo "$N / $b_wall" | bc); t_rps=$(echo "$N / $t_wall" | bc)
ratio=$(printf '%.2f' "$(echo "scale=4; $t_rps / $b_rps" | bc)")
b_cpu_m=$(printf '%.2f' "$(echo "scale=4; $b_cpu * 1000000 / $N" | bc)"); t_cpu_m=$(printf '%.2f' "$(echo "scale=4; $t_cpu * 1000000 / $N" | bc)")
t_rss_mb=$(echo "scale=1; $t_rss / 1024" | bc); b_rss_mb=$(echo "scale=1; $b_rss / 1024" | bc)
log "   baseline $b_rps rec/s ($b_cpu_m CPU s per million), transformer $t_rps rec/s ($t_cpu_m CPU s per million), ratio $ratio, peak RSS $t_rss_mb MB"

log "5/5 latency: emitter at $RATE/s for $SECS s through the pipeline into ClickHouse"
start_clickhouse
p=lat_
export OUTPUT_TOPIC=${p}processed_events DEAD_LETTER_TOPIC=${p}dead_letters CLICKHOUSE_GROUP=${p}ch
targs=(--input-topics "${p}user_clicks,${p}page_views,${p}orders" --output-topic "$OUTPUT_TOPIC" --dead-letter-topic "$DEAD_LETTER_TOPIC"
       --checkpoint-topic ${p}checkpoints --http-addr 127.0.0.1:39464 --fetch-max-wait-ms 20)
"$BIN_DIR/transformer" "${targs[@]}" --init >>"$STATE_DIR/logs/transformer.log" 2>&1
apply_schema
start_bg transformer "$STATE_DIR" "$BIN_DIR/transformer" "${targs[@]}"
start_bg emitter "$STATE_DIR" "$BIN_DIR/emitter" --topic-prefix "$p" --messages-per-second "$RATE" --timestamp-format rfc3339 \
  --http-addr off --total $(( RATE * (SECS + 20) ))
sleep 5 # past the Kafka engine's start
"$tools/latency-probe" --clickhouse-url "$CLICKHOUSE_URL" --seconds "$SECS" >"$STATE_DIR/latency.txt" || die "latency probe failed"
rss_run_kb=$(awk '/VmHWM/ {print $2}' "/proc/$(pid_of transformer)/status")
emit_rss_kb=$(awk '/VmHWM/ {print $2}' "/proc/$(pid_of emitter)/status")
actual_rate=$(grep -o 'actual_rate_per_s=[0-9.]*' "$STATE_DIR/logs/emitter.log" | tail -n 1 | cut -d= -f2)
cat "$STATE_DIR/latency.txt" >&2
kv() { sed -n "s/.* $1=\([0-9]*\).*/\1/p" "$STATE_DIR/latency.txt"; }
p50=$(kv p50_ms); p99=$(kv p99_ms); pmax=$(kv max_ms); samples=$(kv samples)

{
  echo
  echo "## $(date -u +%F) — $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
  echo
  echo "Command: \`scripts/bench.sh $N\` (BENCH_RATE=$RATE, BENCH_LATENCY_SECS=$SECS). Broker: nisshi $NISSHI_VERSION, memory:// storage."
  echo "Both sides are static musl builds; the broker runs on the same 2 cores."
  echo
  echo "| measure | baseline | transformer | ratio |"
  echo "|---|---|---|---|"
  echo "| drain $N records, records/s | $b_rps (plain rskafka copy) | $t_rps | **$ratio** |"
  echo "| CPU seconds per million records | $b_cpu_m | $t_cpu_m | $(printf '%.2f' "$(echo "scale=4; $t_cpu_m / $b_cpu_m" | bc)") |"
  echo "| peak RSS while draining, MB | $b_rss_mb | $t_rss_mb | |"
  echo "| peak RSS at $RATE events/s (emitter actual ${actual_rate:-?}/s), MB | | $(echo "scale=1; $rss_run_kb / 1024" | bc) (emitter: $(echo "scale=1; $emit_rss_kb / 1024" | bc)) | |"
  echo "| emit → queryable in ClickHouse, ms ($samples sampled rows) | | p50 $p50 · p99 **$p99** · max $pmax | |"
  echo "| pre-load by the emitter, records/s | | $(echo "$N / $load_s" | bc) | |"
  echo
  echo "Mapping (criterion, ns per record): map_record — clicks ${map_ns[user_clicks]}, views ${map_ns[page_views]}, orders ${map_ns[orders]};"
  echo "JSON encode of the result alone — clicks ${enc_ns[user_clicks]}, views ${enc_ns[page_views]}, orders ${enc_ns[orders]}."
} >>"$ROOT/BENCHMARKS.md"
log "appended to BENCHMARKS.md"
echo "bench: baseline_rps=$b_rps transformer_rps=$t_rps ratio=$ratio p99_ms=$p99 rss_mb=$t_rss_mb"
