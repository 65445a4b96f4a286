#!/usr/bin/env bash
# Shared by up.sh, down.sh, check.sh, test.sh and .ci/run: where things live, how to install and start the servers.
# Source it; it defines variables and functions and does nothing else.

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
STATE_DIR=${STATE_DIR:-$ROOT/.state}
KAFKA_PORT=${KAFKA_PORT:-9092}
CLICKHOUSE_HTTP_PORT=${CLICKHOUSE_HTTP_PORT:-8123}
CLICKHOUSE_TCP_PORT=${CLICKHOUSE_TCP_PORT:-9000}
# Your own servers: with KAFKA_BROKERS (or CLICKHOUSE_URL) set, up.sh uses them and installs and starts nothing for
# them. The security settings (SECURITY_PROTOCOL, SASL_*, SSL_*) pass through to the binaries as they are.
EXTERNAL_KAFKA=${KAFKA_BROKERS:+yes}
EXTERNAL_CLICKHOUSE=${CLICKHOUSE_URL:+yes}
export KAFKA_BROKERS=${KAFKA_BROKERS:-127.0.0.1:$KAFKA_PORT}
CLICKHOUSE_URL=${CLICKHOUSE_URL:-http://127.0.0.1:$CLICKHOUSE_HTTP_PORT}
CLICKHOUSE_DATABASE=${CLICKHOUSE_DATABASE:-default}
[ -n "${CLICKHOUSE_CURL_AUTH+x}" ] || CLICKHOUSE_CURL_AUTH=() # curl's -u for ClickHouse, set by check.sh --compose
# Downloads and builds that survive a wipe of the state folder.
CACHE_DIR=${ETL_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/etl-rs}
NISSHI_VERSION=0.8.1
NISSHI_TOOLCHAIN=1.96.0
CONFLUENT_KAFKA_VERSION=2.16.1
MUSL_TARGET=x86_64-unknown-linux-musl
BIN_DIR=$ROOT/target/$MUSL_TARGET/release

log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# --- installing what is missing -------------------------------------------------------------------------------

apt_updated=0
apt_install() { # apt_install PACKAGE... : installs the Debian packages that are not installed yet
  local missing=()
  # Installed means "install ok installed": a removed package whose config files remain is still known to dpkg -s.
  for p in "$@"; do [ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null)" = "install ok installed" ] || missing+=("$p"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  command -v apt-get >/dev/null || die "missing ${missing[*]} and no apt-get: install them by hand"
  local sudo=""; [ "$(id -u)" -eq 0 ] || sudo=sudo
  if [ $apt_updated -eq 0 ]; then log "apt-get update"; $sudo apt-get update -qq; apt_updated=1; fi
  log "installing ${missing[*]} (apt)"
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
}

nisshi_bin() { # prints the path of the nisshi broker binary, if installed
  if [ -n "${NISSHI_BIN:-}" ] && [ -x "$NISSHI_BIN" ]; then echo "$NISSHI_BIN"; return; fi
  local b
  for b in "$(command -v nisshi 2>/dev/null)" "$HOME/.cargo/bin/nisshi"; do
    if [ -n "$b" ] && [ -x "$b" ] && [[ "$("$b" --version 2>/dev/null)" == *"$NISSHI_VERSION"* ]]; then echo "$b"; return; fi
  done
}

# The broker's build profile: lighter than nisshi's own release profile (fat LTO, one codegen unit), so that both
# cores compile and no serial LTO step closes the build. Measured on 2 cores: see README ("First run").
NISSHI_BUILD_ENV=(CARGO_PROFILE_RELEASE_LTO=false CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16
  CARGO_PROFILE_RELEASE_OPT_LEVEL=2 CARGO_PROFILE_RELEASE_DEBUG=false)
nisshi_build_pid=""
nisshi_build_started=0

nisshi_build_start() { # starts building the nisshi broker with cargo install in the background, if it is missing
  [ -n "$(nisshi_bin)" ] && return 0
  [ -n "$nisshi_build_pid" ] && return 0
  log "installing the nisshi $NISSHI_VERSION broker with cargo install, once: about 10 minutes on 2 cores (log: $CACHE_DIR/nisshi-build.log)"
  mkdir -p "$CACHE_DIR"
  rustup toolchain install "$NISSHI_TOOLCHAIN" --profile minimal >"$CACHE_DIR/nisshi-build.log" 2>&1 \
    || die "rustup could not install toolchain $NISSHI_TOOLCHAIN (see $CACHE_DIR/nisshi-build.log)"
  ( env "${NISSHI_BUILD_ENV[@]}" cargo "+$NISSHI_TOOLCHAIN" install nisshi --version "$NISSHI_VERSION" --locked \
      >>"$CACHE_DIR/nisshi-build.log" 2>&1 ) &
  nisshi_build_pid=$!
  nisshi_build_started=$SECONDS
}

nisshi_build_wait() { # waits for nisshi_build_start's build, saying how far it is every 30 s
  [ -z "$nisshi_build_pid" ] && return 0
  local t=0 done
  while kill -0 "$nisshi_build_pid" 2>/dev/null; do
    sleep 1; t=$((t + 1))
    if [ $((t % 30)) = 0 ]; then
      done=$(grep -c Compiling "$CACHE_DIR/nisshi-build.log" || true)
      log "  waiting for the nisshi build ($((SECONDS - nisshi_build_started)) s since it started): $done of about 465 crates compiled"
    fi
  done
  wait "$nisshi_build_pid" || die "building nisshi failed (see $CACHE_DIR/nisshi-build.log)"
  nisshi_build_pid=""
  [ -n "$(nisshi_bin)" ] || die "nisshi was built but is not on PATH nor in ~/.cargo/bin"
  log "nisshi $NISSHI_VERSION installed ($((SECONDS - nisshi_build_started)) s)"
}

ensure_nisshi() { # builds the nisshi broker with cargo install, once, and waits for it
  nisshi_build_start
  nisshi_build_wait
}

ensure_clickhouse() { # Debian's clickhouse-server and client (18.16), and curl to talk to it
  command -v clickhouse-server >/dev/null && command -v clickhouse-client >/dev/null && command -v curl >/dev/null && return 0
  apt_install clickhouse-server clickhouse-client curl
}

ensure_rdkafka() { # a librdkafka that can talk to nisshi, for ClickHouse's Kafka engine (Debian's 2.0.2 cannot)
  local dir=$CACHE_DIR/rdkafka
  [ -f "$dir/librdkafka.so.1" ] && return 0
  log "fetching librdkafka $CONFLUENT_KAFKA_VERSION (bundled in the confluent-kafka wheel) for ClickHouse's Kafka engine"
  local tmp; tmp=$(mktemp -d)
  python3 -m pip download --quiet --no-deps --only-binary=:all: -d "$tmp" "confluent-kafka==$CONFLUENT_KAFKA_VERSION" \
    || die "pip could not download confluent-kafka $CONFLUENT_KAFKA_VERSION"
  (cd "$tmp" && python3 -m zipfile -e confluent_kafka-*.whl x) || die "cannot unpack the confluent-kafka wheel"
  mkdir -p "$dir"
  cp "$tmp"/x/confluent_kafka.libs/librdkafka-*.so.1 "$dir/librdkafka.so.1" || die "no librdkafka in the wheel"
  rm -rf "$tmp"
}

ensure_confluent_kafka() { # the confluent-kafka wheel (librdkafka 2.16), the foreign client of the codec tests
  local dir=$CACHE_DIR/pylib
  PYTHONPATH=$dir python3 -c "import confluent_kafka" 2>/dev/null && return 0
  log "installing confluent-kafka $CONFLUENT_KAFKA_VERSION (librdkafka as a foreign producer and consumer for tests)"
  python3 -m pip install --quiet --target "$dir" "confluent-kafka==$CONFLUENT_KAFKA_VERSION" \
    || die "pip could not install confluent-kafka $CONFLUENT_KAFKA_VERSION"
}

ensure_musl() {
  local installed; installed=$(rustup target list --installed 2>/dev/null) || true
  grep -qx "$MUSL_TARGET" <<<"$installed" && return 0
  log "adding the Rust target $MUSL_TARGET"
  rustup target add "$MUSL_TARGET" >/dev/null || die "rustup target add $MUSL_TARGET failed"
}

# A fresh scripts/test.sh writes about 2.3 GB of builds under target/ (1.8 GB of debug test binaries, 0.5 GB of the
# static release build; measured on 4fd99aa with Cargo.toml's dev profile) and ~0.3 GB of server state.
FRESH_RUN_MB=2800
disk_check() { # says how much disk target/ has left, and warns before building when a fresh run may not fit
  local free_mb; free_mb=$(df -Pm "$ROOT" | awk 'NR == 2 {print $4}')
  log "disk: $free_mb MB free for target/ and the state folder (a first run writes about $FRESH_RUN_MB MB)"
  if [ ! -d "$ROOT/target/debug/deps" ] && [ "$free_mb" -lt $FRESH_RUN_MB ]; then
    log "WARNING: that may not be enough: a build that fails with 'No space left on device' needs more free disk on $(df -P "$ROOT" | awk 'NR == 2 {print $6}')"
  fi
}

build_binaries() { # static release binaries of emitter and transformer; cargo's own lines show what it compiles
  ensure_musl
  log "building emitter and transformer (release, $MUSL_TARGET): a first build takes about 4 minutes, then seconds"
  (cd "$ROOT" && cargo build --release --locked --target "$MUSL_TARGET" -p emitter -p transformer) \
    || die "cargo build failed (its errors are above)"
  [ -x "$BIN_DIR/emitter" ] && [ -x "$BIN_DIR/transformer" ] || die "cargo build made no binaries in $BIN_DIR"
}

load_pipeline_env() { # exports each default of compose/pipeline.env that the environment does not set already
  local k v
  while IFS='=' read -r k v; do
    [[ $k =~ ^[A-Z_][A-Z0-9_]*$ ]] || continue
    [ -n "${!k+x}" ] || export "$k=$v"
  done <"$ROOT/compose/pipeline.env"
}

# --- processes ----------------------------------------------------------------------------------------------

pid_of() { local f="$STATE_DIR/pids/$1.pid"; [ -f "$f" ] && kill -0 "$(cat "$f")" 2>/dev/null && cat "$f"; }

start_bg() { # start_bg NAME DIR CMD... : runs CMD in DIR in the background, log in logs/NAME.log, pid in pids/NAME.pid
  local name=$1 dir=$2; shift 2
  if [ -n "$(pid_of "$name")" ]; then log "$name already running (pid $(pid_of "$name"))"; return 0; fi
  mkdir -p "$STATE_DIR/logs" "$STATE_DIR/pids" "$dir"
  (cd "$dir" && exec nohup "$@" >>"$STATE_DIR/logs/$name.log" 2>&1 </dev/null) &
  echo $! >"$STATE_DIR/pids/$name.pid"
  disown $! # no "Killed" notices from this shell when chaos.sh kills it
  log "started $name (pid $!, log $STATE_DIR/logs/$name.log)"
}

start_server() { # start_server NAME PORT DIR CMD... : start_bg for a server, unless another process holds its port
  local name=$1 port=$2; shift 2
  if [ -z "$(pid_of "$name")" ] && (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    die "port $port is taken by a process that is not this pipeline's $name: stop it, or pick other ports (KAFKA_PORT, CLICKHOUSE_HTTP_PORT, CLICKHOUSE_TCP_PORT)"
  fi
  start_bg "$name" "$@"
}

stop_bg() { # stop_bg NAME : SIGTERM, then SIGKILL after 15 s
  local pid; pid=$(pid_of "$1") || true
  [ -z "$pid" ] && { rm -f "$STATE_DIR/pids/$1.pid"; return 0; }
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 150); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -0 "$pid" 2>/dev/null && { log "$1 ignored SIGTERM for 15 s: SIGKILL"; kill -KILL "$pid" 2>/dev/null || true; }
  rm -f "$STATE_DIR/pids/$1.pid"
  log "stopped $1"
}

wait_tcp() { # wait_tcp PORT SECONDS NAME
  local end=$((SECONDS + $2))
  log "waiting for $3 to open port $1 (at most $2 s)"
  until (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; do
    [ $SECONDS -ge $end ] && die "$3 did not open port $1 within $2 s (log: $STATE_DIR/logs/)"
    sleep 0.1
  done
}

start_broker() { # the nisshi broker, durable sqlite storage in $STATE_DIR/broker
  ensure_nisshi
  start_server broker "$KAFKA_PORT" "$STATE_DIR/broker" "$(nisshi_bin)" broker \
    --listener-url "tcp://127.0.0.1:$KAFKA_PORT" --advertised-listener-url "tcp://127.0.0.1:$KAFKA_PORT" \
    --storage-engine "sqlite://broker.db"
  wait_tcp "$KAFKA_PORT" 30 "the nisshi broker"
}

start_clickhouse() { # clickhouse-server with our config, data in $STATE_DIR/clickhouse
  ensure_clickhouse
  # The Kafka engine needs a librdkafka that can talk to nisshi; the direct sink (SINK=clickhouse) uses no Kafka engine.
  [ "${SINK:-kafka}" = clickhouse ] || ensure_rdkafka
  local conf=$STATE_DIR/clickhouse-conf
  mkdir -p "$conf" "$STATE_DIR/clickhouse" "$STATE_DIR/logs"
  sed -e "s|@STATE@|$STATE_DIR|g" -e "s|@HTTP_PORT@|$CLICKHOUSE_HTTP_PORT|" -e "s|@TCP_PORT@|$CLICKHOUSE_TCP_PORT|" \
    "$ROOT/scripts/clickhouse/config.xml" >"$conf/config.xml"
  cp "$ROOT/scripts/clickhouse/users.xml" "$conf/users.xml"
  start_server clickhouse "$CLICKHOUSE_HTTP_PORT" "$STATE_DIR/clickhouse" env LD_LIBRARY_PATH="$CACHE_DIR/rdkafka" \
    clickhouse-server --config-file="$conf/config.xml"
  local end=$((SECONDS + 60))
  log "waiting for clickhouse-server to answer $CLICKHOUSE_URL/ping (at most 60 s)"
  until curl -fsS "$CLICKHOUSE_URL/ping" >/dev/null 2>&1; do
    [ -n "$(pid_of clickhouse)" ] || die "clickhouse-server exited at start (log: $STATE_DIR/logs/clickhouse.log, clickhouse.err.log)"
    [ $SECONDS -ge $end ] && die "clickhouse-server did not answer on $CLICKHOUSE_URL within 60 s"
    sleep 0.2
  done
}

ch() { # ch SQL : runs one statement over HTTP, prints the result (CLICKHOUSE_CURL_AUTH: curl's -u, for compose)
  curl -fsS "${CLICKHOUSE_CURL_AUTH[@]}" "$CLICKHOUSE_URL/" --data-binary "$1"
}

render_schema() { # the DDL, rendered by its one renderer, `transformer schema` (needs the built binary). It reads
  # KAFKA_BROKERS, OUTPUT_TOPIC, DEAD_LETTER_TOPIC, CLICKHOUSE_DATABASE, CLICKHOUSE_GROUP, CLICKHOUSE_VERSION (18|current)
  # and SINK (clickhouse: only the tables that store rows, no Kafka engine)
  CLICKHOUSE_DATABASE=$CLICKHOUSE_DATABASE "$BIN_DIR/transformer" schema || die "transformer schema failed"
}

apply_schema() {
  if [ -n "${EXTERNAL_CLICKHOUSE:-}" ]; then # over HTTP, one statement per request: no clickhouse-client needed
    local dir; dir=$(mktemp -d)
    render_schema | awk -v dir="$dir" 'BEGIN { RS = ";\n" } NF { n++; print > (dir "/" sprintf("%03d", n) ".sql") }'
    for f in "$dir"/*.sql; do
      curl -fsS "${CLICKHOUSE_CURL_AUTH[@]}" "$CLICKHOUSE_URL/" --data-binary @"$f" >/dev/null \
        || die "ClickHouse at $CLICKHOUSE_URL refused $(head -c 80 "$f")... (credentials: http://user:password@host:8123)"
    done
    rm -rf "$dir"
  else
    render_schema | clickhouse-client --port "$CLICKHOUSE_TCP_PORT" --multiquery || die "applying schema/sql to ClickHouse failed"
  fi
  log "schema applied (database $CLICKHOUSE_DATABASE)"
}

nisshi_topic() { # nisshi_topic delete NAME | nisshi_topic create NAME PARTITIONS : on the broker at $KAFKA_PORT
  local action=$1 name=$2; shift 2
  case $action in
    delete) "$(nisshi_bin)" topic delete --broker "tcp://127.0.0.1:$KAFKA_PORT" "$name" >/dev/null ;;
    create) "$(nisshi_bin)" topic create --broker "tcp://127.0.0.1:$KAFKA_PORT" --partitions "$1" --silent "$name" ;;
  esac || die "nisshi topic $action $name failed"
}
