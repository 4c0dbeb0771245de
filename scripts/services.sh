#!/usr/bin/env bash
# Makes sure PostgreSQL (127.0.0.1:5432, trust auth, database "test"), Redis
# (127.0.0.1:6379) and an S3-compatible server (127.0.0.1:9100) answer, and that headless
# Chromium is installed: uses them if they do, starts them if installed, installs them
# from Debian's packages when missing and running as root, and otherwise stops with a
# message saying what to do. Sourced by scripts/test.sh.
set -euo pipefail

PG_HOST=127.0.0.1 PG_PORT=5432 REDIS_PORT=6379

say() { printf 'services: %s\n' "$*" >&2; }
die() { say "$*"; exit 1; }

wait_for() { # wait_for DESCRIPTION COMMAND...
  local what=$1; shift
  for _ in $(seq 1 60); do "$@" >/dev/null 2>&1 && return 0; sleep 0.5; done
  die "$what did not come up within 30 s"
}

apt_install() {
  [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null ||
    die "$1 is missing. Install it (Debian: apt-get install $*) or start it on the default port, then rerun."
  say "installing $* from Debian's packages"
  DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

pg_ready() { pg_isready -h "$PG_HOST" -p "$PG_PORT" -q; }

ensure_postgres() {
  if command -v pg_isready >/dev/null && pg_ready; then
    :
  else
    command -v pg_ctlcluster >/dev/null || apt_install postgresql
    local version
    version=$(ls /etc/postgresql | sort -V | tail -n 1)
    [[ -n $version ]] || die "PostgreSQL is installed but has no cluster in /etc/postgresql"
    local hba=/etc/postgresql/$version/main/pg_hba.conf
    if ! grep -q '^host all all 127.0.0.1/32 trust' "$hba" 2>/dev/null; then
      # Tests connect as postgres over TCP without a password, as CI machines do.
      sed -i '1i host all all 127.0.0.1/32 trust' "$hba"
    fi
    say "starting PostgreSQL $version"
    pg_ctlcluster --skip-systemctl-redirect "$version" main start 2>/dev/null ||
      pg_ctlcluster --skip-systemctl-redirect "$version" main reload
    wait_for "PostgreSQL" pg_ready
  fi
  if ! psql -h "$PG_HOST" -p "$PG_PORT" -U postgres -d postgres -tAc \
      "SELECT 1 FROM pg_database WHERE datname = 'test'" | grep -q 1; then
    psql -h "$PG_HOST" -p "$PG_PORT" -U postgres -d postgres -qc 'CREATE DATABASE test' ||
      die "cannot create database test as user postgres on $PG_HOST:$PG_PORT (is trust auth on?)"
  fi
}

redis_ready() { [[ $(redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping 2>/dev/null) == PONG ]]; }

ensure_redis() {
  command -v redis-cli >/dev/null && redis_ready && return 0
  command -v redis-server >/dev/null || apt_install redis-server
  say "starting Redis"
  mkdir -p /var/lib/redis /var/log/redis
  redis-server --daemonize yes --bind 127.0.0.1 -::1 --port "$REDIS_PORT" --save "" \
    --appendonly no --dir /var/lib/redis --logfile /var/log/redis/ci.log
  wait_for "Redis" redis_ready
}

# Headless Chromium for the browser test (Debian's chromium package).
ensure_chromium() {
  command -v chromium >/dev/null || command -v chromium-browser >/dev/null && return 0
  apt_install chromium
}

# An S3-compatible server for the upload storage test: moto's S3 server (PyPI, in memory,
# speaks the S3 HTTP API), since MinIO is not packaged by Debian. R2 and AWS are reached the
# same way, through object_store's S3 client.
S3_PORT=9100
s3_ready() { curl -fs -o /dev/null "http://127.0.0.1:$S3_PORT/"; }

ensure_s3() {
  s3_ready && return 0
  if ! command -v moto_server >/dev/null; then
    command -v python3 >/dev/null || apt_install python3 python3-pip
    say "installing moto's S3 server from PyPI"
    python3 -m pip install --quiet --disable-pip-version-check 'moto[server]==5.2.1' ||
      die "cannot install moto[server] with pip; install it (pip install 'moto[server]') or run any S3-compatible server on 127.0.0.1:$S3_PORT"
    hash -r
  fi
  say "starting an S3-compatible server on 127.0.0.1:$S3_PORT"
  mkdir -p /tmp/plaza-s3
  (setsid nohup moto_server -H 127.0.0.1 -p "$S3_PORT" >/tmp/plaza-s3/server.log 2>&1 &)
  wait_for "the S3-compatible server" s3_ready
}

# Leftovers of earlier test and benchmark runs (schemas and keys they did not get to drop).
clear_leftovers() {
  psql -h "$PG_HOST" -p "$PG_PORT" -U postgres -d test -qAt -c \
    "SELECT format('DROP SCHEMA %I CASCADE;', nspname) FROM pg_namespace
     WHERE nspname ~ '^(it|bench|e2e)_[0-9a-f]{32}$'" | psql -h "$PG_HOST" -p "$PG_PORT" -U postgres -d test -q >/dev/null
  for pattern in 'it:*' 'bench:*' 'e2e:*'; do
    redis-cli -h 127.0.0.1 -p "$REDIS_PORT" --scan --pattern "$pattern" | xargs -r -n 500 redis-cli -h 127.0.0.1 -p "$REDIS_PORT" DEL >/dev/null
  done
}

ensure_postgres
ensure_redis
ensure_chromium
ensure_s3
clear_leftovers
say "PostgreSQL on $PG_HOST:$PG_PORT, Redis on 127.0.0.1:$REDIS_PORT and S3 on 127.0.0.1:$S3_PORT answer; Chromium is installed"

