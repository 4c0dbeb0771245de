#!/usr/bin/env bash
# The whole test suite, on a fresh machine too: services first, then every test of every
# crate, plus one quick run of each benchmark (criterion's test mode) so they keep working.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/services.sh
export DATABASE_URL=${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test}
export REDIS_URL=${REDIS_URL:-redis://127.0.0.1:6379}
cargo test --workspace --all-targets --locked
# The TypeScript SDK (clients/js): its pinned toolchain from the lockfile, then its tests:
# golden vectors, the client against a fake and a live server (the debug binary built
# above), and the SDK in headless Chromium over WebTransport and WebSocket.
(
  cd clients/js
  npm ci --no-audit --no-fund
  npm run build
  export PLAZA_BIN="$PWD/../../target/debug/plaza"
  npm test
  npm run test:browser
)
# The browser client (clients/web): the committed dist/ (which the server embeds) must be
# what the sources build, byte for byte; then two pages in headless Chromium (SwiftShader)
# against the debug binary built above, serving the page it embeds (WEB_FROM=embedded):
# walking, building, chat, an upload, an ownership refusal, a screen share, a screenshot.
(
  cd clients/web
  npm ci --no-audit --no-fund
  npm run check
  PLAZA_BIN="$PWD/../../target/debug/plaza" WEB_FROM=embedded npm test
)
