#!/usr/bin/env bash
# The whole test suite:
#   1. unit tests, integration tests against the embedded OpenID provider over loopback,
#      property tests, the examples (built), the criterion benchmark in criterion's test
#      mode (benches/criterion), the testing recipe's own integration test
#      (examples/testing-recipe) and the doctests: `cargo test --workspace`; the
#      session-store tests run against real SQLite and a real redis-server (Debian
#      package, installed below when missing);
#   2. end to end: the quickstart and hyper examples against two instances of the OpenID
#      Certified `oidc-provider` (npm) and in headless Chromium (scripts/e2e.sh installs
#      Chromium and the npm packages itself; under CI=true anything missing is a failure).
# Everything listens on loopback and is stopped by PID when the script ends.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

# Real Redis for tests/redis_store.rs and tests/redis_tls.rs (each test starts its own
# redis-server on a free loopback port and stops it by PID; `openssl` makes the TLS test's
# certificates). Installed from Debian's packages when missing. Without them the Redis tests
# print SKIPPED and pass, except under CI=true, where a missing redis-server is a failure.
need_packages() {
  local missing=()
  command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
  command -v redis-cli >/dev/null 2>&1 || missing+=(redis-tools)
  command -v openssl >/dev/null 2>&1 || missing+=(openssl)
  echo "${missing[@]}"
}
install_redis() {
  local packages
  packages=$(need_packages)
  [ -z "$packages" ] && return 0
  command -v apt-get >/dev/null 2>&1 || return 1
  local sudo=()
  [ "$(id -u)" = 0 ] || sudo=(sudo)
  export DEBIAN_FRONTEND=noninteractive
  # shellcheck disable=SC2086 # one word per package
  "${sudo[@]}" apt-get install -y $packages ||
    { "${sudo[@]}" apt-get update && "${sudo[@]}" apt-get install -y $packages; } ||
    return 1
  # The package may start a system-wide redis-server on port 6379 and enable it at boot:
  # the tests never use it (they start their own), so it is stopped and disabled again.
  if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
    "${sudo[@]}" systemctl disable --now redis-server >/dev/null 2>&1 || true
  elif command -v service >/dev/null 2>&1; then
    "${sudo[@]}" service redis-server stop >/dev/null 2>&1 || true
  fi
  [ -z "$(need_packages)" ]
}
if ! install_redis; then
  if [ "${CI:-}" = true ]; then
    echo "error: redis-server, redis-cli and openssl are needed (apt-get install -y redis-server openssl) and could not be installed" >&2
    exit 1
  fi
  echo "warning: redis-server could not be installed: the Redis tests will print SKIPPED" >&2
fi

# One build profile and one feature set for everything: the workspace's lib, tests, examples,
# benches and doctests share artifacts (and scripts/e2e.sh's build of the examples shares
# them too: see the `zerocopy` line in Cargo.toml).
cargo test --workspace --all-features --all-targets
cargo test --workspace --all-features --doc
bash scripts/e2e.sh
