#!/usr/bin/env bash
# What an idle connection costs the server in memory: a fresh release server (SQLite in a
# temporary directory, default limits but for the per-address ones), then plaza-bot opens
# N connections over one transport that say hello, join one of 50 spaces and then send
# nothing (no walking, no chat, no pings; WebSocket keepalive pings come from the server).
# The server's resident memory (RSS) is read before the bots, once all are connected and
# settled, and the difference divided by N is the cost of one idle connection.
#
# Usage: scripts/idle.sh [transport [count]]   (transport: ws | quic | wt; default ws 10000)
#   IDLE_RAMP=40s  time over which the bots connect
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
transport=${1:-ws}
count=${2:-10000}
ramp=${IDLE_RAMP:-40s}
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
cargo build --release --locked -p plaza -p plaza-bot --bins

dir=$(mktemp -d)
server_pid=""
bot_pid=""
cleanup() {
  [[ -n $bot_pid ]] && kill "$bot_pid" 2>/dev/null
  [[ -n $server_pid ]] && kill -TERM "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
  rm -rf "$dir"
}
trap cleanup EXIT
(cd "$dir" && exec env PLAZA_LOG=warn PLAZA_MAX_CONNECTIONS=60000 \
  PLAZA_CONNECTIONS_PER_ADDR__PER_SEC=100000 PLAZA_CONNECTIONS_PER_ADDR__BURST=100000 \
  PLAZA_HTTP_REQUESTS_PER_ADDR__PER_SEC=100000 PLAZA_HTTP_REQUESTS_PER_ADDR__BURST=100000 \
  PLAZA_MAX_CONNECTIONS_PER_ADDR=100000 "$root/target/release/plaza" serve) \
  >"$dir/server.log" 2>&1 &
server_pid=$!
for _ in $(seq 100); do
  curl -fs http://127.0.0.1:8700/health >/dev/null 2>&1 && break
  sleep 0.1
done
rss_kb() { awk '/^VmRSS/{print $2}' "/proc/$server_pid/status"; }
sleep 2
before=$(rss_kb)
ramp_secs=${ramp%s}
"$root/target/release/plaza-bot" --transport "$transport" --bots "$count" --spaces 50 \
  --space-prefix idle --ramp "$ramp" --duration "$((ramp_secs + 40))s" --behaviour chat \
  --chat-hz 0 --ping-hz 0 --quiet --report "$dir/report.json" >"$dir/bot.log" 2>&1 &
bot_pid=$!
# Everyone has connected by the end of the ramp; 20 s more lets buffers settle.
sleep "$((ramp_secs + 20))"
open=$(curl -fs http://127.0.0.1:8700/metrics | awk '/^plaza_connections[{]/{s+=$2} END{print s+0}')
during=$(rss_kb)
wait "$bot_pid" || true
bot_pid=""
printf 'transport %s, %s bots, %s connections open on the server\n' "$transport" "$count" "$open"
printf 'server RSS before %d MB, with them %d MB: %.1f KB per idle connection\n' \
  $((before / 1024)) $((during / 1024)) "$(echo "($during - $before) / $count" | bc -l)"
grep -E 'failed|bots' "$dir/bot.log" | head -5 || true
