#!/usr/bin/env bash
# What abuse costs in memory, with the release build and default limits (SQLite):
#   1. 150 concurrent wrong-password logins from one address;
#   2. 4 concurrent uploads of a 45 MB GLB whose JSON lists 15 M empty nodes (refused for
#      its JSON size) and 8 concurrent uploads of a GLB at the JSON limits (parsed);
# each on a fresh server, printing its resident memory (RSS) before, at its peak (sampled
# every 20 ms) and 1 s after. Usage: scripts/memory.sh
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
root=$PWD
port=${PORT:-18791}
cargo build --release --locked --bin plaza
work=$(mktemp -d)
pid=
trap 'kill $pid 2>/dev/null; rm -rf "$work"' EXIT
api="http://127.0.0.1:$port/api"
# A fresh server (its own data directory) and a registered user's token in $token.
fresh_server() {
  [[ -n $pid ]] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
  rm -rf "$work/data"
  (cd "$work" && exec env PLAZA_LOG=warn PLAZA_LISTEN="127.0.0.1:$port" PLAZA_QUIC_ENABLED=false \
    PLAZA_WEBTRANSPORT_ENABLED=false PLAZA_MAX_CONNECTIONS_PER_ADDR=1000 \
    PLAZA_HTTP_REQUESTS_PER_ADDR__BURST=100000 PLAZA_HTTP_REQUESTS_PER_ADDR__PER_SEC=100000 \
    "$root/target/release/plaza" serve) >"$work/server.log" 2>&1 &
  pid=$!
  for _ in $(seq 1 500); do curl -fs "http://127.0.0.1:$port/health" >/dev/null && break; sleep 0.02; done
  token=$(curl -fs -X POST "$api/users" -H 'content-type: application/json' \
    -d '{"name":"victim","password":"correct horse battery"}' | sed 's/.*"token":"\([0-9a-f]*\)".*/\1/')
}

rss_mb() { awk '/^VmRSS/{printf "%.0f", $2/1024}' "/proc/$pid/status"; }
# Runs "$@" while sampling RSS; prints before / peak / after (1 s later).
measure() {
  local what=$1; shift
  local before peak=0 now
  before=$(rss_mb)
  "$@" &
  local job=$!
  while kill -0 "$job" 2>/dev/null; do
    now=$(rss_mb); (( now > peak )) && peak=$now
    sleep 0.02
  done
  wait "$job" || true
  sleep 1
  printf '%-58s RSS before %4s MB, peak %4s MB, after %4s MB\n' "$what" "$before" "$peak" "$(rss_mb)"
}


flood() {
  seq 1 150 | xargs -P 150 -I{} curl -s -o /dev/null -w '%{http_code}\n' -X POST "$api/login" \
    -H 'content-type: application/json' -d '{"name":"victim","password":"wrong {}"}' \
    | sort | uniq -c | tr '\n' ' ' >"$work/flood"
}
fresh_server
measure "150 concurrent wrong logins" flood
echo "  answers (count status): $(cat "$work/flood")"

python3 - "$work" <<'PY'
import struct, sys
def glb(js):
    pad = (4 - len(js) % 4) % 4
    jl = len(js) + pad
    return b"glTF" + struct.pack("<II", 2, 12 + 8 + jl) + struct.pack("<I", jl) + b"JSON" + js + b" " * pad
work = sys.argv[1]
nodes = lambda n: b'{"asset":{"version":"2.0"},"nodes":[' + b",".join([b"{}"] * n) + b"]}"
open(f"{work}/hostile.glb", "wb").write(glb(nodes(15_000_000)))
# At the limits: under 4 MiB of JSON and 250,000 values (nodes with a name each: 2 values).
open(f"{work}/limit.glb", "wb").write(glb(b'{"asset":{"version":"2.0"},"nodes":[' +
    b",".join(b'{"name":"n%d"}' % i for i in range(124_000)) + b"]}"))
PY
upload() {
  local file=$1 count=$2
  seq 1 "$count" | xargs -P "$count" -I{} curl -s -o /dev/null -w '%{http_code}\n' -X POST \
    "$api/models" -H "authorization: Bearer $token" -H 'content-type: model/gltf-binary' \
    --data-binary "@$work/$file" | sort | uniq -c | tr '\n' ' ' >"$work/uploads"
}
fresh_server
measure "4 concurrent 45 MB GLBs of 15 M nodes" upload hostile.glb 4
echo "  answers (count status): $(cat "$work/uploads")"
fresh_server
measure "8 concurrent GLBs at the JSON limits (parsed)" upload limit.glb 8
echo "  answers (count status): $(cat "$work/uploads")"
