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

# Ctrl-C (SIGINT to the terminal's process group) and SIGTERM to this script or to its process
# group stop everything within STOP_SECONDS. The django-q2 cluster runs in a session of its own:
# a signal to the whole group would also reach its sentinel process, which dies at once (its
# SIGTERM is left at the default) while waiting on the stop event, and the cluster's own stop
# then waits on that event forever. Told alone, the cluster stops its workers itself; a worker
# still busy (a sync) when STOP_SECONDS are up is killed: a killed run is safe, its lock dies
# with it and the next run records it abandoned.
STOP_SECONDS="${STOP_SECONDS:-5}"
pids=()
cluster=""
stopping=""
cleanup() {
  [ -n "$stopping" ] && return
  stopping=1
  trap '' INT TERM
  if [ -n "$cluster" ]; then kill -TERM "$cluster" 2>/dev/null || true; fi
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for _ in $(seq 1 $((STOP_SECONDS * 10))); do
    if [ -z "$cluster" ] || ! kill -0 "$cluster" 2>/dev/null; then break; fi
    sleep 0.1
  done
  # Whatever of the cluster is left (its main process, sentinel and workers share its session).
  if [ -n "$cluster" ]; then kill -KILL -- "-$cluster" 2>/dev/null || true; fi
  wait 2>/dev/null || true
}
trap cleanup EXIT
trap 'cleanup; exit 130' INT
trap 'cleanup; exit 143' TERM

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
# `setsid` in Python: not every system has setsid(1). No job control here, so the child does not
# lead a process group and may start a session; exec keeps its pid, the one in $!.
OWN_SESSION='import os, sys; os.setsid(); os.execv(sys.argv[1], sys.argv[1:])'
$PY -c "$OWN_SESSION" $PY manage.py qcluster >var/log/qcluster.log 2>&1 &
cluster=$!

echo
echo "leapsync is up: http://$HOST:$PORT/  (sign in with a demo user above; Ctrl-C stops everything)"
echo
# In the background, so that a signal to this script alone runs its trap at once (bash runs a
# trap only after the foreground command returns).
$PY manage.py runserver "$HOST:$PORT" --noreload &
pids+=($!)
wait "$!"
