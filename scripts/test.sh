#!/usr/bin/env bash
# The whole test suite, on a fresh machine too: services first, then every test of every
# crate, plus one quick run of each benchmark (criterion's test mode) so they keep working.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/services.sh
export DATABASE_URL=${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test}
export REDIS_URL=${REDIS_URL:-redis://127.0.0.1:6379}
cargo test --workspace --all-targets --locked
