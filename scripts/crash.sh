#!/usr/bin/env bash
# Crash figures on PostgreSQL, with the release build:
#
# RPO: a client moves an object every 10 ms and notes when the server acknowledged each
#      position (sent it back in a delta); the server is killed with SIGKILL; the stored
#      position tells which acknowledged changes were lost. RPO is the age, at the kill, of
#      the oldest acknowledged change that was lost (0 if none was).
# RTO: a space of OBJECTS objects (50,000) is in the store; the server process is started
#      and a client connects as early as it can, joins the space and waits for every object
#      (joined, then the backfill deltas). RTO is from process start to the last object;
#      the time to the first answer and to `joined` are printed too.
#
# Usage: scripts/crash.sh [RUNS]   (RUNS defaults to 6; OBJECTS=50000 in the environment)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
root=$PWD
runs=${1:-6}
objects=${OBJECTS:-50000}
port=${PORT:-18790}
base=${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test}
schema="crash_$$"
url="$base?options[search_path]=$schema"

bash scripts/services.sh >/dev/null
cargo build --release --locked --bin plaza --example crash_probe
plaza="$root/target/release/plaza"
probe="$root/target/release/examples/crash_probe"
work=$(mktemp -d)
server_pid=
cleanup() {
  [[ -n $server_pid ]] && kill -9 "$server_pid" 2>/dev/null || true
  psql -q "$base" -c "DROP SCHEMA IF EXISTS $schema CASCADE" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
# psql does not read sqlx's options[search_path]: the schema goes in PGOPTIONS for it.
in_schema() { PGOPTIONS="-c search_path=$schema" psql -tAq "$base" "$@"; }
psql -q "$base" -c "CREATE SCHEMA $schema"
PLAZA_DATABASE_URL=$url "$plaza" migrate >/dev/null 2>&1

now_us() { date +%s%6N; }
start_server() {
  (cd "$work" && exec env PLAZA_LOG=warn PLAZA_DATABASE_URL="$url" PLAZA_LISTEN="127.0.0.1:$port" \
    PLAZA_QUIC_ENABLED=false PLAZA_WEBTRANSPORT_ENABLED=false PLAZA_MIGRATE_ON_START=false \
    "$plaza" serve) >>"$work/server.log" 2>&1 &
  server_pid=$!
}
wait_healthy() {
  for _ in $(seq 1 500); do
    curl -fs "http://127.0.0.1:$port/health" >/dev/null 2>&1 && return 0
    sleep 0.02
  done
  echo "the server did not become healthy; log:" >&2
  tail -20 "$work/server.log" >&2
  exit 1
}

echo "RPO: kill -9 while one client moves an object every 10 ms ($runs runs)"
for run in $(seq 1 "$runs"); do
  start_server
  wait_healthy
  "$probe" write "127.0.0.1:$port" >"$work/write.log" 2>"$work/probe.log" &
  probe_pid=$!
  sleep "3.$((RANDOM % 100))"  # kill at a random phase of the flush interval
  killed=$(now_us)
  kill -9 "$server_pid"
  wait "$server_pid" 2>/dev/null || true
  server_pid=
  wait "$probe_pid" 2>/dev/null || true
  object=$(awk '/^object /{print $2}' "$work/write.log")
  if [[ -z $object ]]; then
    echo "the probe did not get going; its output:" >&2
    cat "$work/probe.log" "$work/server.log" >&2
    exit 1
  fi
  stored=$(in_schema -c "SELECT px::int FROM world_objects WHERE id = '$object'")
  awk -v stored="${stored:-0}" -v killed="$killed" -v run="$run" '
    /^ack / { seq=$2; at=$3; acked++; if (seq > stored && !lost_at) lost_at=at; if (seq > stored) lost++;
              if (seq == stored) kept_at=at }
    END {
      rpo = lost_at ? (killed - lost_at) / 1000 : 0
      printf "run %d: %d acknowledged positions, stored %d; lost %d; RPO %.1f ms (newest stored change %.1f ms old at the kill)\n",
        run, acked, stored, lost, rpo, kept_at ? (killed - kept_at) / 1000 : -1
    }' "$work/write.log"
done

echo "RTO: restart to serving a space of $objects objects"
in_schema <<SQL
INSERT INTO users (id, name) VALUES ('00000000-0000-0000-0000-00000000a001', 'seeder');
INSERT INTO spaces (id, name) VALUES ('00000000-0000-0000-0000-00000000b001', 'warehouse');
INSERT INTO world_objects (id, space_id, model, px, py, pz, rx, ry, rz, rw, sx, sy, sz, props, owner_id, version)
SELECT gen_random_uuid(), '00000000-0000-0000-0000-00000000b001', 'crate', g % 250, 0, g / 250,
       0, 0, 0, 1, 1, 1, 1, '{"color":"red"}', '00000000-0000-0000-0000-00000000a001', 1
FROM generate_series(1, $objects) AS g;
SQL
for run in 1 2 3; do
  started=$(now_us)
  start_server
  "$probe" join "127.0.0.1:$port" warehouse "$objects" >"$work/join.log"
  awk -v started="$started" -v run="$run" '
    { at[$1] = $2 }
    END {
      printf "run %d: first answer %.0f ms, joined %.0f ms, all objects %.0f ms after the process started (RTO)\n",
        run, (at["connected"] - started) / 1000, (at["joined"] - started) / 1000, (at["complete"] - started) / 1000
    }' "$work/join.log"
  kill -9 "$server_pid"
  wait "$server_pid" 2>/dev/null || true
  server_pid=
done
