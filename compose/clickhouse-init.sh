#!/bin/bash
# Runs once, at ClickHouse's first start (docker-entrypoint-initdb.d): applies schema/sql with the placeholders
# filled in the same way as scripts/lib.sh (render_schema) does for the native run.
set -euo pipefail
cat /schema/*.sql | sed -e "s|{database}|${CLICKHOUSE_DATABASE:-default}|g" -e "s|{kafka_broker}|${KAFKA_BROKER}|g" \
  -e "s|{processed_topic}|processed_events|g" -e "s|{dead_letter_topic}|dead_letters|g" \
  -e "s|{group}|clickhouse|g" -e "s|{kafka_extra_settings}|${KAFKA_EXTRA_SETTINGS:-}|g" \
  | clickhouse-client --multiquery
