#!/usr/bin/env bash
# Profiles the server under load: starts a release server (SQLite in a temporary
# directory) and plaza-bot against it as scripts/load.sh does, records the server with
# perf for 20 s of the measured window, and writes the report by thread and by symbol to
# target/load/NAME.perf.txt (the bots' report to NAME.txt).
#
# Usage: scripts/profile.sh NAME TRANSPORT BOTS [VAR=VALUE...]
#   e.g. scripts/profile.sh quic-1k quic 1000 PLAZA_VIEW_RADIUS=20
set -euo pipefail
cd "$(dirname "$0")/.."
[[ $# -ge 3 ]] || { echo "usage: $0 NAME TRANSPORT BOTS [VAR=VALUE...]" >&2; exit 2; }
command -v perf >/dev/null || { echo "profile: perf is not installed (Debian: linux-perf)" >&2; exit 1; }
name=$1 transport=$2 bots=$3
shift 3
root=$(pwd)
out="$root/target/load"
mkdir -p "$out"
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
cargo build --release --locked -p plaza -p plaza-bot --bins
dir=$(mktemp -d)
(cd "$dir" && exec env PLAZA_LOG=warn \
  PLAZA_CONNECTIONS_PER_ADDR__PER_SEC=100000 PLAZA_CONNECTIONS_PER_ADDR__BURST=100000 \
  PLAZA_HTTP_REQUESTS_PER_ADDR__PER_SEC=100000 PLAZA_HTTP_REQUESTS_PER_ADDR__BURST=100000 \
  PLAZA_MAX_CONNECTIONS_PER_ADDR=100000 \
  "$@" "$root/target/release/plaza" serve) >"$out/$name.server.log" 2>&1 &
server_pid=$!
trap 'kill -TERM $server_pid 2>/dev/null || true' EXIT
for _ in $(seq 100); do
  curl -fs http://127.0.0.1:8700/health >/dev/null 2>&1 && break
  sleep 0.1
done
"$root/target/release/plaza-bot" --quiet --area 200 --walk-hz 10 --transport "$transport" \
  --bots "$bots" --spaces 1 --ramp 20s --duration 30s --report "$out/$name.json" \
  >"$out/$name.txt" 2>&1 &
bots_pid=$!
# Ramp (20 s) and a little settling, then 20 s of the 30-s window.
sleep 28
perf record -F 499 -g -p "$server_pid" -o "$out/$name.perf.data" -- sleep 20 >/dev/null 2>&1
wait "$bots_pid" || true
{
  perf report -i "$out/$name.perf.data" --no-children --sort comm --stdio -g none 2>/dev/null
  perf report -i "$out/$name.perf.data" --no-children --sort dso,symbol --stdio -g none 2>/dev/null
} | grep -v '^#' | grep '%' | head -120 >"$out/$name.perf.txt"
cat "$out/$name.txt"
echo "profile: $out/$name.perf.txt"
