#!/usr/bin/env bash
# `make run`: leapsync on its embedded default (SQLite, the built-in Leap simulator, django-q2's
# ORM broker), with data in it. Safe to re-run: migrations, groups, schedules and demo users are
# idempotent; the simulator's data is regenerated from its seed and synced again.
set -euo pipefail
cd "$(dirname "$0")/.."

export DEBUG="${DEBUG:-1}"
PY=.venv/bin/python
HOST="${HOST:-127.0.0.1}"
PORT="${PORT:-8000}"
SIMULATOR_PORT="${SIMULATOR_PORT:-8765}"
SIMULATOR_METERS="${SIMULATOR_METERS:-3000}"
export SIMULATOR_PORT
# Links in emails (the digest, alerts; sent by the cluster) point where this server listens,
# unless SITE_URL is set in the environment or in .env.
if [ -z "${SITE_URL:-}" ] && ! grep -qsE '^[[:space:]]*(export[[:space:]]+)?SITE_URL=' .env; then
  case "$HOST" in 0.0.0.0 | "::") SITE_URL="http://127.0.0.1:$PORT" ;; *) SITE_URL="http://$HOST:$PORT" ;; esac
  export SITE_URL
fi
mkdir -p var/log

pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT INT TERM

$PY manage.py migrate --noinput -v 0
$PY manage.py setup_leapsync
$PY manage.py create_demo_users

if [ -z "${LEAP_BASE_URL:-}" ]; then
  echo "Starting the Leap simulator ($SIMULATOR_METERS meters) on 127.0.0.1:$SIMULATOR_PORT ..."
  $PY manage.py leap_simulator --meters "$SIMULATOR_METERS" --seed 1 --port "$SIMULATOR_PORT" \
    >var/log/simulator.log 2>&1 &
  pids+=($!)
  for _ in $(seq 1 120); do
    if $PY - "$SIMULATOR_PORT" <<'PYEOF' 2>/dev/null; then break; fi
import socket, sys
socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=1).close()
PYEOF
    sleep 0.5
  done
  echo "First full sync from the simulator ..."
  $PY manage.py leap_sync --full
fi

echo "Starting the django-q2 cluster (scheduled syncs) ..."
$PY manage.py qcluster >var/log/qcluster.log 2>&1 &
pids+=($!)

echo
echo "leapsync is up: http://$HOST:$PORT/  (sign in with a demo user above; Ctrl-C stops everything)"
echo
$PY manage.py runserver "$HOST:$PORT" --noreload
