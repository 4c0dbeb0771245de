#!/usr/bin/env bash
# Reproduces the load-test numbers in docs/benchmarks.md: builds the release binaries,
# then for each scenario starts a fresh server (SQLite in a temporary directory) and runs
# plaza-bot against it on the same machine, keeping each report in target/load/.
#
# Usage: scripts/load.sh [scenario...]
#   quic-1k         1,000 bots in one space over QUIC, view radius 20 m
#   mixed-5k        5,000 bots over 50 spaces, QUIC + WebTransport + WebSocket
#   everyone-ws-1k  1,000 bots in one space over WebSocket, no view radius
#   sweep           100 / 500 / 1,000 / 1,500 / 2,000 / 3,000 bots in one space (QUIC, 20 m)
#   sweep-everyone  the same sweep with no view radius, over WebSocket
#   protocols       everyone sees everyone, 500 bots, WebSocket then QUIC, protocol 1
#                   then 2 (the same binaries), and 1,000 over WebSocket with protocol 2
#   cluster         1,200 bots over 24 spaces (WebSocket, view radius 20 m) on one node
#                   without the cluster layer, then on a cluster of 1, 2 and 3 nodes over
#                   PostgreSQL and Redis (DATABASE_URL, REDIS_URL; a fresh schema each):
#                   the plaza processes' CPU in the steady state, per node p99 tick
# With no scenario, runs them all (about 32 minutes). Every bot walks at 10 Hz inside
# 200 m × 200 m; the server ticks at 20 Hz. A scenario that misses its thresholds is
# reported (FAIL lines) and the script goes on.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
out="$root/target/load"
mkdir -p "$out"
# Each QUIC bot has its own UDP socket, and the server a socket per WebSocket.
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"

cargo build --release --locked -p plaza -p plaza-bot --bins

server_pid=""
stop_server() {
  if [[ -n "$server_pid" ]]; then
    kill -TERM "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
    server_pid=""
  fi
}
trap stop_server EXIT

# start_server NAME [VAR=VALUE...]: a server on the default ports with that environment.
# Every bot connects from 127.0.0.1, so the per-address limits are lifted for load runs.
start_server() {
  local name=$1
  shift
  local dir
  dir=$(mktemp -d)
  (cd "$dir" && exec env PLAZA_LOG=warn \
    PLAZA_CONNECTIONS_PER_ADDR__PER_SEC=100000 PLAZA_CONNECTIONS_PER_ADDR__BURST=100000 \
    PLAZA_HTTP_REQUESTS_PER_ADDR__PER_SEC=100000 PLAZA_HTTP_REQUESTS_PER_ADDR__BURST=100000 \
    PLAZA_MAX_CONNECTIONS_PER_ADDR=100000 \
    "$@" "$root/target/release/plaza" serve) \
    >"$out/$name.server.log" 2>&1 &
  server_pid=$!
  for _ in $(seq 100); do
    if curl -fs http://127.0.0.1:8700/health >/dev/null 2>&1; then
      return
    fi
    sleep 0.1
  done
  echo "load: the server for $name did not start; see $out/$name.server.log" >&2
  exit 1
}

# run_bots NAME [plaza-bot options...]
run_bots() {
  local name=$1
  shift
  echo "== $name: plaza-bot $*"
  "$root/target/release/plaza-bot" --quiet --area 200 --walk-hz 10 \
    --report "$out/$name.json" "$@" | tee "$out/$name.txt" || true
}

# cpu_ticks PID...: user + system clock ticks of those processes so far.
cpu_ticks() {
  local total=0 pid fields
  for pid in "$@"; do
    read -r -a fields <"/proc/$pid/stat"
    # Fields 14 and 15 (utime, stime); the command name (field 2) has no spaces here.
    total=$((total + fields[13] + fields[14]))
  done
  echo "$total"
}

# cluster_run NAME NODES CLUSTERED: 1,200 bots over 24 spaces on NODES nodes sharing one
# fresh PostgreSQL schema and Redis prefix; each node gets its share of the bots and
# spaces from its own plaza-bot. Prints the plaza processes' CPU over the steady state.
cluster_run() {
  local name=$1 nodes=$2 clustered=$3
  local database=${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test}
  local redis=${REDIS_URL:-redis://127.0.0.1:6379}
  local schema="load_${name//-/_}_$$"
  PGOPTIONS="-c client_min_messages=warning" psql -q "$database" \
    -c "DROP SCHEMA IF EXISTS $schema CASCADE; CREATE SCHEMA $schema"
  local pids=() bot_pids=() n dir port
  for n in $(seq 0 $((nodes - 1))); do
    port=$((8700 + 10 * n))
    dir=$(mktemp -d)
    (cd "$dir" && exec env PLAZA_LOG=warn PLAZA_LISTEN="127.0.0.1:$port" \
      PLAZA_QUIC_ENABLED=false PLAZA_WEBTRANSPORT_ENABLED=false PLAZA_VIEW_RADIUS=20 \
      PLAZA_DATABASE_URL="$database?options[search_path]=$schema" PLAZA_REDIS_URL="$redis" \
      PLAZA_REDIS_PREFIX="$schema:" PLAZA_CLUSTER_ENABLED="$clustered" \
      PLAZA_CONNECTIONS_PER_ADDR__PER_SEC=100000 PLAZA_CONNECTIONS_PER_ADDR__BURST=100000 \
      PLAZA_HTTP_REQUESTS_PER_ADDR__PER_SEC=100000 PLAZA_HTTP_REQUESTS_PER_ADDR__BURST=100000 \
      PLAZA_MAX_CONNECTIONS_PER_ADDR=100000 "$root/target/release/plaza" serve) \
      >"$out/$name.node$n.log" 2>&1 &
    pids+=($!)
  done
  for n in $(seq 0 $((nodes - 1))); do
    port=$((8700 + 10 * n))
    for _ in $(seq 100); do
      curl -fs "http://127.0.0.1:$port/health" >/dev/null 2>&1 && break
      sleep 0.1
    done
  done
  echo "== $name: $nodes node(s), cluster_enabled=$clustered"
  for n in $(seq 0 $((nodes - 1))); do
    port=$((8700 + 10 * n))
    "$root/target/release/plaza-bot" --quiet --area 200 --walk-hz 10 \
      --url "http://127.0.0.1:$port" --transport ws --bots $((1200 / nodes)) \
      --spaces $((24 / nodes)) --space-prefix "n$n-" --ramp 20s --duration 40s \
      --report "$out/$name.bots$n.json" >"$out/$name.bots$n.txt" 2>&1 &
    bot_pids+=($!)
  done
  # The steady state: from the end of the ramp (plus 5 s) for 30 s.
  sleep 25
  local before after hz
  before=$(cpu_ticks "${pids[@]}")
  sleep 30
  after=$(cpu_ticks "${pids[@]}")
  hz=$(getconf CLK_TCK)
  wait "${bot_pids[@]}" || true
  echo "$name: plaza CPU over 30 s of steady state: $(( (after - before) * 100 / (30 * hz) ))% of a core"
  for n in $(seq 0 $((nodes - 1))); do
    grep -E "^(ws|all) |server:" "$out/$name.bots$n.txt" | sed "s/^/  node $n: /" || true
  done
  kill -TERM "${pids[@]}" 2>/dev/null || true
  wait "${pids[@]}" 2>/dev/null || true
  PGOPTIONS="-c client_min_messages=warning" psql -q "$database" -c "DROP SCHEMA $schema CASCADE"
}

scenario() {
  case $1 in
    cluster)
      cluster_run cluster-off-1 1 false
      for nodes in 1 2 3; do
        cluster_run "cluster-$nodes" "$nodes" true
      done ;;
    quic-1k)
      start_server quic-1k PLAZA_VIEW_RADIUS=20
      run_bots quic-1k --transport quic --bots 1000 --spaces 1 --ramp 30s --duration 60s \
        --max-failures 0 --max-p99-latency 100ms --max-p99-tick 10ms
      stop_server ;;
    mixed-5k)
      start_server mixed-5k PLAZA_VIEW_RADIUS=20
      run_bots mixed-5k --transport quic,wt,ws --bots 5000 --spaces 50 --ramp 60s \
        --duration 60s --threads 2 --max-failures 0 --max-p99-latency 100ms --max-p99-tick 10ms
      stop_server ;;
    everyone-ws-1k)
      start_server everyone-ws-1k
      run_bots everyone-ws-1k --transport ws --bots 1000 --spaces 1 --ramp 30s --duration 60s \
        --max-failures 0 --max-p99-latency 100ms
      stop_server ;;
    sweep)
      for n in 100 500 1000 1500 2000 3000; do
        start_server "sweep-$n" PLAZA_VIEW_RADIUS=20
        run_bots "sweep-$n" --transport quic --bots "$n" --spaces 1 --ramp 20s --duration 30s \
          --max-p99-tick 25ms
        stop_server
      done ;;
    sweep-everyone)
      for n in 100 250 500 1000; do
        start_server "sweep-everyone-$n"
        run_bots "sweep-everyone-$n" --transport ws --bots "$n" --spaces 1 --ramp 20s \
          --duration 30s --max-p99-tick 25ms
        stop_server
      done ;;
    protocols)
      for transport in ws quic; do
        for protocol in 1 2; do
          start_server "everyone-$transport-500-v$protocol"
          run_bots "everyone-$transport-500-v$protocol" --transport "$transport" --protocol "$protocol" \
            --bots 500 --spaces 1 --ramp 20s --duration 30s --max-failures 0 --max-p99-latency 100ms
          stop_server
        done
      done
      start_server everyone-ws-1k-v2
      run_bots everyone-ws-1k-v2 --transport ws --protocol 2 --bots 1000 --spaces 1 --ramp 30s \
        --duration 30s --max-failures 0 --max-p99-latency 100ms
      stop_server ;;
    *)
      echo "load: unknown scenario $1 (quic-1k, mixed-5k, everyone-ws-1k, sweep, sweep-everyone, protocols, cluster)" >&2
      exit 2 ;;
  esac
}

if [[ $# -eq 0 ]]; then
  set -- quic-1k mixed-5k everyone-ws-1k sweep sweep-everyone protocols cluster
fi
for s in "$@"; do
  scenario "$s"
done
echo "load: reports in $out"
