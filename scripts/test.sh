#!/usr/bin/env bash
# The one test command (README, .ci/run): build, type-check, lint, then every test.
# Debian packages that tests need are installed here when missing.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v openssl >/dev/null 2>&1 || need_apt+=(openssl)
# The etcd ordering tests run a real etcd cluster (Debian etcd-server: /usr/bin/etcd).
command -v etcd >/dev/null 2>&1 || need_apt+=(etcd-server)
# The key-store and signer tests use a real SoftHSM2 token (Debian softhsm2: softhsm2-util, libsofthsm2.so).
command -v softhsm2-util >/dev/null 2>&1 || need_apt+=(softhsm2)
# The console's browser tests drive Debian's Chromium (/usr/bin/chromium) through playwright-core.
command -v chromium >/dev/null 2>&1 || need_apt+=(chromium)
if ((${#need_apt[@]})); then
  echo "installing Debian packages: ${need_apt[*]}"
  apt-get update -qq && apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

npm run build
# `npm run typecheck` and `npm run lint`, on both cores: ESLint (type-aware, one core) beside
# the type-check and then the format check. A failure of either side fails the run.
(npm run typecheck && npm run lint:format) &
checks=$!
npm run lint:code
wait "$checks"
COFFER_TEST_BUILT=1 npx vitest run
