#!/usr/bin/env bash
# End-to-end tests: the quickstart and hyper examples against a real, OpenID Certified
# provider (oidc-provider, in e2e/) with plain HTTP and in headless Chromium (playwright-core
# driving Debian's /usr/bin/chromium), after a check of the test provider's own options
# (provider.test.mjs). Everything listens on and talks to 127.0.0.1 only.
#
#   bash scripts/e2e.sh          # installs what it needs, builds the examples, runs e2e/*.test.mjs
#
# Needs Node.js >= 20 and npm, and Chromium (installed with apt-get when missing and run as
# root). Under CI=true anything missing is a failure; otherwise a missing browser, Node.js or
# npm package makes it print a SKIPPED line and exit 0.
#
# Environment: E2E_CHROMIUM (browser binary, default /usr/bin/chromium), E2E_VERBOSE=1 (echo
# the apps' and providers' output), E2E_WAIT_MS (longest single wait, default 20000).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
started=$SECONDS

in_ci() { [[ "${CI:-}" == "true" || "${CI:-}" == "1" ]]; }

# Missing tooling: a failure in CI, a clear skip elsewhere.
unavailable() {
    if in_ci; then
        echo "e2e: FAILED: $* (CI=true: the end-to-end tests must run)" >&2
        exit 1
    fi
    echo "e2e: SKIPPED: $*"
    exit 0
}

# Everything the tests start (apps, providers, Chromium) lives in one process group that this
# script made; it is stopped by that group's id on the way out, whatever happens.
test_pgid=""
scratch=""
cleanup() {
    local status=$?
    if [[ -n "$test_pgid" ]] && kill -0 -- "-$test_pgid" 2>/dev/null; then
        kill -TERM -- "-$test_pgid" 2>/dev/null || true
        for _ in 1 2 3 4 5 6 7 8 9 10; do
            kill -0 -- "-$test_pgid" 2>/dev/null || break
            sleep 0.5
        done
        kill -KILL -- "-$test_pgid" 2>/dev/null || true
    fi
    [[ -n "$scratch" ]] && rm -rf "$scratch"
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# 1. Node.js >= 20 (oidc-provider 9 and playwright-core need it).
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    unavailable "node and npm are not installed"
fi
if ! node -e 'process.exit(Number(process.versions.node.split(".")[0]) >= 20 ? 0 : 1)'; then
    unavailable "node $(node --version) is too old (need >= 20)"
fi

# 2. The browser: Debian's Chromium (playwright's own browser download does not work here).
chromium="${E2E_CHROMIUM:-/usr/bin/chromium}"
if [[ ! -x "$chromium" ]]; then
    if [[ "$chromium" == /usr/bin/chromium && "$(id -u)" == 0 ]] && command -v apt-get >/dev/null; then
        echo "e2e: installing chromium with apt-get"
        export DEBIAN_FRONTEND=noninteractive
        timeout 300 apt-get update -qq || true
        timeout 900 apt-get install -y -qq chromium >/dev/null || true
    fi
    [[ -x "$chromium" ]] || unavailable "no browser at $chromium and it could not be installed"
fi
export E2E_CHROMIUM="$chromium"

# 3. The provider and the browser driver, exactly as locked.
if ! (cd e2e && timeout 600 npm ci --no-audit --no-fund --loglevel=error); then
    unavailable "npm ci in e2e/ failed (oidc-provider, playwright-core)"
fi

# 4. The two examples (the only cargo build this needs).
timeout 1800 cargo build --all-features --example quickstart --example hyper
target_dir="$(cargo metadata --format-version 1 --no-deps |
    node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s).target_directory))')"
export E2E_BIN_DIR="$target_dir/debug/examples"

# 5. The tests, one file after the other, in a process group of their own.
scratch="$(mktemp -d "${TMPDIR:-/tmp}/tower-oidc-e2e.XXXXXX")"
export E2E_BROWSER_HOME="$scratch/browser-home" E2E_LOG_DIR="$scratch/logs"
mkdir -p "$E2E_BROWSER_HOME" "$E2E_LOG_DIR" "$scratch/tmp"
set +e
(
    cd e2e
    # The apps' working directories and the browser profile go under $scratch too.
    export TMPDIR="$scratch/tmp"
    exec setsid timeout --kill-after=10 600 node --test --test-concurrency=1 --test-timeout=120000 \
        --test-reporter=spec --test-reporter-destination=stdout \
        --test-reporter=tap --test-reporter-destination="$scratch/results.tap" \
        provider.test.mjs http.test.mjs browser.test.mjs
) &
test_pgid=$!
wait "$test_pgid"
status=$?
set -e

passed=$(sed -n 's/^# pass \([0-9]*\)$/\1/p' "$scratch/results.tap" 2>/dev/null | tail -1)
failed=$(sed -n 's/^# fail \([0-9]*\)$/\1/p' "$scratch/results.tap" 2>/dev/null | tail -1)
if [[ "$status" -ne 0 ]]; then
    # What the apps and providers printed, for the failure above.
    for log in "$E2E_LOG_DIR"/*.log; do
        [[ -e "$log" ]] || continue
        echo "----- $(basename "$log") (last 60 lines)"
        tail -n 60 "$log"
    done
fi
echo "e2e finished in $((SECONDS - started)) s (exit $status)"
echo "e2e: ${passed:-0} passed, ${failed:-0} failed"
if [[ "$status" -eq 0 && "${passed:-0}" -eq 0 ]]; then
    echo "e2e: FAILED: no test ran" >&2
    exit 1
fi
exit "$status"
