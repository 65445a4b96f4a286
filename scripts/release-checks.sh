#!/usr/bin/env bash
# The promises of the release build, checked (called by scripts/test.sh while its test servers run):
#  0. no pipe into a reader that may exit early (grep -q, head, ...) in scripts/ and .ci/: under pipefail the
#     writer then dies of SIGPIPE and the check fails by timing (issue 29: it failed 10 times of 20);
#  1. no crate in the dependency tree compiles C (normal and build dependencies, musl target);
#  2. the musl release binaries are statically linked;
#  3. each runs in an empty root holding only itself: prints its version, and fails with a clear message and a
#     non-zero exit when the broker is unreachable;
#  4. compose/docker-compose.yml is valid (docker-compose config), and the schema works on a current ClickHouse
#     (chdb: tables, views, a row through each view, a parse error kept aside, and the direct sink's exact
#     RowBinary INSERT bodies giving the same rows), and so does a job's own DDL (`transformer --job FILE schema`:
#     the example job and a sink of every type, rows through each Kafka path value by value);
#  5. the whole pipeline runs with those binaries, each in its own empty root, and every event reaches ClickHouse;
#     SIGTERM stops the transformer with exit 0;
#  6. meanwhile its status page renders in headless Chromium, healthy and with a non-zero rate.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
fail() { log "FAIL: $*"; exit 1; }
pass() { log "ok: $*"; }

# 0
early_exit_pipes() { # early_exit_pipes FILE... : prints each line, not a comment, that pipes into grep -q/-m/-l, head
  # or a sed that quits
  grep -nHE '[^|]\|[[:space:]]*(grep[[:space:]]+(-[A-Za-z]*[qml]|--quiet|--max-count|--files-with)|head([[:space:]]|$)|sed[[:space:]][^|]*[0-9]q)' "$@" \
    | grep -vE '^[^:]+:[0-9]+:[[:space:]]*#' || true
}
canary=$(mktemp); printf '%s\n' 'x=$(producer | grep'' -q done)' '# a comment | grep'' -q is fine' 'a ||'' head -n1 f' >"$canary"
[ "$(early_exit_pipes "$canary" | wc -l)" = 1 ] || fail "the pipe lint does not find the pipe it exists for"
rm -f "$canary"
pipes=$(early_exit_pipes scripts/*.sh .ci/run)
[ -z "$pipes" ] || fail "a pipe into a reader that exits early fails by timing under pipefail; capture first (x=\$(cmd); grep -q p <<<\"\$x\"):
$pipes"
pass "no pipe into grep -q, head or an early-quitting reader in scripts/ and .ci/"

# 1
sys=$(cargo tree --workspace --target "$MUSL_TARGET" -e normal,build --prefix none | grep -E '^[a-z0-9_-]+-sys v|^cc v|^cmake v|^bindgen v' | sort -u || true)
[ -z "$sys" ] || fail "crates that compile C are in the tree: $sys"
pass "no -sys/cc/cmake/bindgen crate among normal and build dependencies ($MUSL_TARGET)"

# 2
build_binaries
apt_install file
for b in emitter transformer; do
  kind=$(file "$BIN_DIR/$b")
  grep -Eq 'static(-pie)? linked|statically linked' <<<"$kind" || fail "$b is not statically linked: $kind"
  pass "$b is static: $(stat -c %s "$BIN_DIR/$b") bytes"
done

# 3
in_empty_root() { # in_empty_root BINARY ARGS... : runs BINARY in a fresh root that holds nothing else
  local root; root=$(mktemp -d); cp "$BIN_DIR/$1" "$root/$1"; local b=$1; shift
  local rc=0
  if [ "$(id -u)" -eq 0 ]; then chroot "$root" "/$b" "$@" || rc=$?; else unshare --map-root-user chroot "$root" "/$b" "$@" || rc=$?; fi
  rm -rf "$root"; return $rc
}
for b in emitter transformer; do
  v=$(in_empty_root "$b" --version) || fail "$b --version failed in an empty root"
  grep -q "^$b " <<<"$v" || fail "$b --version printed: $v"
  rc=0; out=$(in_empty_root "$b" --brokers 127.0.0.1:1 --connect-timeout-secs 2 --http-addr off 2>&1) || rc=$?
  [ $rc -ne 0 ] || fail "$b exited 0 with no broker"
  grep -q "cannot reach the Kafka broker at 127.0.0.1:1" <<<"$out" || fail "$b did not say the broker is unreachable: $out"
  pass "$b in an empty root: '$v'; with no broker: exit $rc, '$(grep -m1 'cannot reach' <<<"$out" | cut -c1-100)...'"
done

# 4
apt_install docker-compose
(cd compose && docker-compose -f docker-compose.yml config -q) || fail "compose/docker-compose.yml is not valid"
pass "docker-compose config accepts compose/docker-compose.yml"
# Every knob of pipeline.env can be overridden from the environment, as the file's header promises.
knobs=0
while IFS='=' read -r k _; do
  [[ $k =~ ^[A-Z_][A-Z0-9_]*$ ]] || continue
  out=$(cd compose && env "$k=override-$k" docker-compose -f docker-compose.yml config 2>&1) || fail "compose config with $k set: $out"
  grep -q "$k: override-$k" <<<"$out" || fail "compose ignores $k from the environment"
  knobs=$((knobs + 1))
done <compose/pipeline.env
# Published ports are on 127.0.0.1 only, and ClickHouse has a named user (its image refuses the default one remotely).
config=$(cd compose && docker-compose -f docker-compose.yml config) || fail "docker-compose config failed"
published=$(grep -E '^\s+- ([0-9.]+:)?[0-9]+:[0-9]+(/tcp)?$' <<<"$config" || true)
[ -n "$published" ] && ! grep -qv ' 127\.0\.0\.1:' <<<"$published" || fail "compose publishes ports beyond 127.0.0.1: $published"
grep -q 'CLICKHOUSE_USER: etl' <<<"$config" || fail "compose has no named ClickHouse user"
pass "compose: all $knobs knobs of pipeline.env overridable from the environment; $(wc -l <<<"$published") ports, all on 127.0.0.1; a named ClickHouse user"

# 4b. The same DDL, rendered as compose renders it, on a current ClickHouse (chdb, in-process).
python3 -c "import chdb" 2>/dev/null || { log "installing chdb (ClickHouse in-process) with pip"; python3 -m pip install --quiet chdb >/dev/null 2>&1 || fail "pip install chdb"; }
# And the direct sink's exact INSERT bodies for a few records, replayed into the same tables (see the script).
bodies=$(mktemp -d)
cargo run -q -p transformer --example insert_bodies -- "$bodies" >/dev/null || fail "cargo run --example insert_bodies"
out=$( (CLICKHOUSE_DATABASE=etl KAFKA_BROKERS=kafka:9092 CLICKHOUSE_VERSION=current SINK=kafka render_schema) \
  | python3 "$ROOT/scripts/schema-check-current.py" "$bodies" 2>&1) || fail "schema on a current ClickHouse: $out"
rm -rf "$bodies"
pass "$out"

# 4c. A job's own tables (`transformer --job FILE schema`) on a current ClickHouse: the example job, a job with a
# sink of every type and a job of nested values, rows through each Kafka path and the direct sink's RowBinary for
# each ClickHouse sink, value by value (see the script).
for pair in "schema/jobs/shop.sql:transformer/tests/data/shop-records.jsonl" \
  "transformer/tests/data/typed-job.sql:transformer/tests/data/typed-records.jsonl" \
  "transformer/tests/data/nested-job.sql:transformer/tests/data/nested-records.jsonl"; do
  bodies=$(mktemp -d)
  cargo run -q -p transformer --example job_insert_bodies -- "$ROOT/${pair%%:*}" "$ROOT/${pair#*:}" "$bodies" \
    || fail "cargo run --example job_insert_bodies ${pair%%:*}"
  out=$(python3 "$ROOT/scripts/job-schema-check.py" "$BIN_DIR/transformer" "$ROOT/${pair%%:*}" "$ROOT/${pair#*:}" \
    "$bodies" 2>&1) || fail "${pair%%:*}'s DDL on a current ClickHouse: $out"
  rm -rf "$bodies"
  pass "${pair%%:*}: $out"
done

# 5
apt_install chromium # for 6, before anything starts flowing: a first install takes longer than the emitter runs
[ -n "${KAFKA_BROKERS:-}" ] && curl -fsS "$CLICKHOUSE_URL/ping" >/dev/null || fail "the test servers are not running"
prefix="musl$$_"
export CLICKHOUSE_DATABASE="${prefix}db" OUTPUT_TOPIC="${prefix}processed_events" DEAD_LETTER_TOPIC="${prefix}dead_letters" CLICKHOUSE_GROUP="${prefix}ch"
topics=(--input-topics "${prefix}user_clicks,${prefix}page_views,${prefix}orders" --output-topic "$OUTPUT_TOPIC"
        --dead-letter-topic "$DEAD_LETTER_TOPIC" --checkpoint-topic "${prefix}checkpoints" --brokers "$KAFKA_BROKERS")
in_empty_root transformer "${topics[@]}" --init 2>/dev/null || fail "transformer --init"
apply_schema
root=$(mktemp -d); cp "$BIN_DIR/transformer" "$root/"
status_addr=127.0.0.1:${STATUS_PORT:-18464}
chroot "$root" /transformer "${topics[@]}" --stats-interval-secs 0 --http-addr "$status_addr" >"$STATE_DIR/logs/musl-transformer.log" 2>&1 &
tpid=$!
trap 'kill $tpid 2>/dev/null || true' EXIT # also when a check below fails
n=6000
in_empty_root emitter --brokers "$KAFKA_BROKERS" --http-addr off --topic-prefix "$prefix" --total $n --messages-per-second 500 --seed 3 \
  --malformed-ratio 0.05 2>"$STATE_DIR/logs/musl-emitter.log" &
epid=$!

# 6. The status page, in headless Chromium, while records flow: it renders and shows a non-zero rate.
chrome=(chromium --headless --no-sandbox --disable-gpu --disable-background-networking --disable-component-update
        --disable-sync --no-first-run --user-data-dir="$(mktemp -d)" --virtual-time-budget=4000 --window-size=1280,1000)
rate=0
for _ in $(seq 10); do # the page needs two samples (2 s apart) with records flowing; the emitter runs ~12 s
  sleep 1
  dom=$("${chrome[@]}" --dump-dom "http://$status_addr/" 2>/dev/null) || continue
  rate=$(sed -n 's/.*id="rate-in">\([0-9,]*\)<.*/\1/p' <<<"$dom" | tr -d ,)
  [ -n "$rate" ] && [ "$rate" -gt 0 ] && break
done
"${chrome[@]}" --screenshot="$STATE_DIR/status-page.png" "http://$status_addr/" >/dev/null 2>&1 || true
[ -n "$rate" ] && [ "$rate" -gt 0 ] || fail "the status page shows no rate (rate-in='$rate'; page: ${dom:0:300})"
grep -q 'id="health" class="ok">healthy' <<<"$dom" || fail "the status page does not say healthy"
pass "status page in headless Chromium: healthy, $rate records/s in (screenshot: $STATE_DIR/status-page.png)"

wait $epid || fail "emitter (log: $STATE_DIR/logs/musl-emitter.log)"
end=$((SECONDS + 120)); rows=0; dead=0
while [ $SECONDS -lt $end ]; do
  rows=$(ch "SELECT count() FROM $CLICKHOUSE_DATABASE.events_processed FINAL")
  dead=$(ch "SELECT count() FROM $CLICKHOUSE_DATABASE.dead_letters FINAL")
  [ $((rows + dead)) -ge $n ] && break
  sleep 0.5
done
kill -TERM $tpid; rc=0; wait $tpid || rc=$?
rm -rf "$root"
ch "DROP DATABASE $CLICKHOUSE_DATABASE" >/dev/null
[ $((rows + dead)) -eq $n ] || fail "musl pipeline: $rows rows + $dead dead letters in ClickHouse, want $n (logs: $STATE_DIR/logs/musl-*.log)"
[ $rc -eq 0 ] || fail "the transformer exited $rc on SIGTERM, want 0"
pass "musl pipeline in empty roots: $n emitted = $rows rows + $dead dead letters in ClickHouse; SIGTERM -> exit 0"
