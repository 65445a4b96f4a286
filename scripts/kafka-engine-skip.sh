#!/usr/bin/env bash
# Moves ClickHouse's Kafka engine past a record it cannot parse. ClickHouse 18.16 retries such a record forever and
# stops all ingestion from processed_events (or dead_letters); scripts/check.sh detects that and points here.
# For each Kafka table of the schema, it finds the record where the engine's consumer group stands and, if that
# record is not a JSON object, detaches the table, commits the group's position one past it, and attaches the
# table again. The skipped record is printed; nothing else is touched. (A current ClickHouse streams such records
# into the table kafka_errors instead and never stops: see schema/sql/03_kafka_errors.sql.)
#   scripts/kafka-engine-skip.sh [--dry-run]     (reads KAFKA_BROKERS, CLICKHOUSE_URL, CLICKHOUSE_DATABASE,
#                                                 CLICKHOUSE_GROUP, OUTPUT_TOPIC, DEAD_LETTER_TOPIC like up.sh)
set -euo pipefail
source "$(dirname "$0")/lib.sh"
dry=0
[ "${1:-}" = "--dry-run" ] && dry=1
ensure_confluent_kafka
group=${CLICKHOUSE_GROUP:-clickhouse}
found=0
for spec in "events_queue ${OUTPUT_TOPIC:-processed_events} ${group}_events" \
  "dead_letters_queue ${DEAD_LETTER_TOPIC:-dead_letters} ${group}_dead_letters"; do
  read -r table topic engine_group <<<"$spec"
  stuck=$(PYTHONPATH="$CACHE_DIR/pylib" python3 "$ROOT/scripts/kafka-engine-stall.py" "$KAFKA_BROKERS" "$engine_group" "$topic") \
    || die "cannot read the position of $engine_group on $topic"
  [ -n "$stuck" ] || continue
  found=1
  echo "$stuck"
  [ $dry -eq 1 ] && continue
  ch "DETACH TABLE $CLICKHOUSE_DATABASE.$table" || die "DETACH TABLE $CLICKHOUSE_DATABASE.$table failed"
  PYTHONPATH="$CACHE_DIR/pylib" python3 "$ROOT/scripts/kafka-engine-stall.py" "$KAFKA_BROKERS" "$engine_group" "$topic" --skip \
    | grep '^skipped' || true
  ch "ATTACH TABLE $CLICKHOUSE_DATABASE.$table" || die "ATTACH TABLE $CLICKHOUSE_DATABASE.$table failed: attach it by hand"
done
if [ $found -eq 0 ]; then echo "no record blocks ClickHouse's Kafka engine"; fi
if [ $dry -eq 1 ] && [ $found -eq 1 ]; then echo "to skip: scripts/kafka-engine-skip.sh"; fi
exit 0
