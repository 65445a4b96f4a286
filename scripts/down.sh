#!/usr/bin/env bash
# Stops what scripts/up.sh started, newest first. Data stays in the state folder unless --wipe is given.
#   scripts/down.sh [--wipe]      scripts/down.sh --compose [--wipe]
set -euo pipefail
source "$(dirname "$0")/lib.sh"

wipe=0 compose=0
for a in "$@"; do
  case $a in
    --wipe) wipe=1 ;;
    --compose) compose=1 ;;
    *) die "unknown argument $a (usage: scripts/down.sh [--compose] [--wipe])" ;;
  esac
done
if [ $compose -eq 1 ]; then
  if [ $wipe -eq 1 ]; then exec docker compose -f "$ROOT/compose/docker-compose.yml" down -v; fi
  exec docker compose -f "$ROOT/compose/docker-compose.yml" down
fi
for name in emitter transformer clickhouse broker; do stop_bg "$name"; done
if [ $wipe -eq 1 ]; then
  rm -rf "$STATE_DIR"
  log "wiped $STATE_DIR"
fi
