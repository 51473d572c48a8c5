#!/usr/bin/env bash
# End-to-end tests: the quickstart and hyper examples against a real, OpenID Certified
# provider (oidc-provider, in e2e/) with plain HTTP and in headless Chromium (playwright-core
# driving Debian's /usr/bin/chromium); three quickstart replicas sharing a real Redis behind
# a round-robin proxy; the quickstart on a SQLite sessions file; the quickstart behind nginx
# terminating TLS (self-signed certificate) in Chromium; session lifetimes, refresh tokens and
# back-channel logout (lifetimes.test.mjs); private_key_jwt and a stand-in managed identity
# endpoint instead of a client secret (credentials.test.mjs). Everything listens on and talks to
# loopback addresses only, and every process is stopped by PID. The test provider's own
# options are checked first (provider.test.mjs).
#
#   bash scripts/e2e.sh          # installs what it needs, builds the examples, runs e2e/*.test.mjs
#
# Needs Node.js >= 20 and npm, Chromium, redis-server and nginx (Debian packages, installed
# with apt-get when missing and run as root), and the openssl CLI. Under CI=true anything
# missing is a failure; otherwise a missing browser, Node.js or npm package makes it print a
# SKIPPED line and exit 0, a missing redis-server skips replicas.test.mjs only and a missing
# nginx or openssl skips proxy.test.mjs only (each with a SKIPPED line), and a missing
# redis-server also skips the replicas' test of lifetimes.test.mjs (reported by the runner).
#
# Environment: E2E_CHROMIUM (browser binary, default /usr/bin/chromium), E2E_REDIS_SERVER
# (default: redis-server on PATH), E2E_NGINX (default: nginx on PATH or /usr/sbin/nginx),
# E2E_VERBOSE=1 (echo the apps' and providers' output),
# E2E_WAIT_MS (longest single wait, default 20000), E2E_SESSIONS (sessions made for the
# replicas' load run, default 10000), E2E_LOAD_REQUESTS (requests in that run, default 20000).
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

# 2. Debian packages: the browser (playwright's own browser download does not work here),
#    Redis and nginx, installed together when missing. Debian's nginx is in /usr/sbin, which
#    is not on every PATH. (Where systemd runs, the packages start services of their own at
#    install; the tests never use those: they start their own, on free ports, by PID.)
chromium="${E2E_CHROMIUM:-/usr/bin/chromium}"
redis_server="${E2E_REDIS_SERVER:-$(command -v redis-server || true)}"
find_nginx() { command -v nginx || { [[ -x /usr/sbin/nginx ]] && echo /usr/sbin/nginx; } || true; }
nginx="${E2E_NGINX:-$(find_nginx)}"
missing=()
[[ -x "$chromium" || "$chromium" != /usr/bin/chromium ]] || missing+=(chromium)
[[ -n "$redis_server" || -n "${E2E_REDIS_SERVER:-}" ]] || missing+=(redis-server)
[[ -n "$nginx" || -n "${E2E_NGINX:-}" ]] || missing+=(nginx)
command -v openssl >/dev/null || missing+=(openssl)
if [[ ${#missing[@]} -gt 0 && "$(id -u)" == 0 ]] && command -v apt-get >/dev/null; then
    echo "e2e: installing ${missing[*]} with apt-get"
    export DEBIAN_FRONTEND=noninteractive
    timeout 300 apt-get update -qq || true
    timeout 900 apt-get install -y -qq "${missing[@]}" >/dev/null || true
    redis_server="${E2E_REDIS_SERVER:-$(command -v redis-server || true)}"
    nginx="${E2E_NGINX:-$(find_nginx)}"
fi
[[ -x "$chromium" ]] || unavailable "no browser at $chromium and it could not be installed"
export E2E_CHROMIUM="$chromium"
tests=(provider.test.mjs http.test.mjs credentials.test.mjs browser.test.mjs sqlite.test.mjs lifetimes.test.mjs)
if [[ -n "$nginx" && -x "$nginx" ]] && command -v openssl >/dev/null; then
    export E2E_NGINX="$nginx"
    tests+=(proxy.test.mjs)
elif in_ci; then
    echo "e2e: FAILED: no nginx${E2E_NGINX:+ at $E2E_NGINX} or no openssl, and it could not be installed (CI=true: the end-to-end tests must run)" >&2
    exit 1
else
    echo "e2e: SKIPPED proxy.test.mjs: no nginx${E2E_NGINX:+ at $E2E_NGINX} or no openssl, and it could not be installed"
fi
if [[ -n "$redis_server" && -x "$redis_server" ]]; then
    export E2E_REDIS_SERVER="$redis_server"
    tests+=(replicas.test.mjs)
elif in_ci; then
    echo "e2e: FAILED: no redis-server${E2E_REDIS_SERVER:+ at $E2E_REDIS_SERVER} and it could not be installed (CI=true: the end-to-end tests must run)" >&2
    exit 1
else
    echo "e2e: SKIPPED replicas.test.mjs and the replicas' test of lifetimes.test.mjs: no redis-server${E2E_REDIS_SERVER:+ at $E2E_REDIS_SERVER} and it could not be installed"
fi

# 3. The provider and the browser driver, exactly as locked.
if ! (cd e2e && timeout 600 npm ci --no-audit --no-fund --loglevel=error); then
    unavailable "npm ci in e2e/ failed (oidc-provider, playwright-core)"
fi

# 4. The two examples (the only cargo build this needs). --all-features is the feature set
#    outside checks build the quickstart with (`cargo build --examples --features
#    redis,sqlite`: `axum` is a default and the dev-dependency on this crate adds `testing`),
#    so this quickstart accepts every session_store, and `cargo test --all-features` in
#    scripts/test.sh shares these artifacts.
timeout 1800 cargo build --all-features --example quickstart --example hyper
target_dir="$(cargo metadata --format-version 1 --no-deps |
    node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s).target_directory))')"
export E2E_BIN_DIR="$target_dir/debug/examples"

# 5. The tests, one file after the other (node's runner takes them in name order), in a
#    process group of their own.
scratch="$(mktemp -d "${TMPDIR:-/tmp}/tower-oidc-e2e.XXXXXX")"
export E2E_BROWSER_HOME="$scratch/browser-home" E2E_LOG_DIR="$scratch/logs"
mkdir -p "$E2E_BROWSER_HOME" "$E2E_LOG_DIR" "$scratch/tmp"
# The runner writes its reports to files, never to this script's output: on Linux a write
# to a pipe blocks once the pipe is full, so a reader of this output that pauses (a CI log
# collector) would stop the runner's event loop, and every file's timeout would then fire
# the moment it read on, failing tests that were never stuck. The reports are printed once
# the run is over.
echo "e2e: running ${tests[*]} (the report follows when they end)"
set +e
(
    cd e2e
    # The apps' working directories, Redis's data and the browser profile go under $scratch too.
    # Node 20's --test-timeout bounds each file's whole run as well as each test: the replicas
    # file (10,000 real logins) needs minutes on a busy 2-core machine.
    export TMPDIR="$scratch/tmp"
    exec setsid timeout --kill-after=10 900 node --test --test-concurrency=1 --test-timeout=300000 \
        --test-reporter=spec --test-reporter-destination="$scratch/results.txt" \
        --test-reporter=tap --test-reporter-destination="$scratch/results.tap" \
        "${tests[@]}" >"$scratch/runner.txt" 2>&1
) &
test_pgid=$!
wait "$test_pgid"
status=$?
set -e
cat "$scratch/results.txt" 2>/dev/null || true
if [[ -s "$scratch/runner.txt" ]]; then
    echo "----- the test runner's own output"
    cat "$scratch/runner.txt"
fi

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
if [[ "$status" -ne 0 && -s "$E2E_LOG_DIR/steps.txt" ]]; then
    # What each failed file did last (e2e/harness.mjs `step`): its processes, its HTTP
    # exchanges and, every 15 s, what it was still waiting for. A file that timed out ends
    # with the wait it was stuck in.
    failed_files=$(sed -n 's/^not ok [0-9]* - .*\/\([^/]*\.test\.mjs\)$/\1/p' "$scratch/results.tap" 2>/dev/null | sort -u)
    for file in ${failed_files:-}; do
        echo "----- last steps of $file"
        grep -F " $file " "$E2E_LOG_DIR/steps.txt" | tail -n 30
    done
fi
if [[ "$status" -ne 0 && -s "$scratch/results.tap" ]]; then
    # The failures once more, after the logs, so that the end of the output (all a CI summary
    # may keep) says which assertion failed and why: each `not ok` with its YAML block.
    echo "----- failing tests (from the TAP report)"
    awk '/^ *not ok /{show=1} show{print} show && /^ *\.\.\.$/{show=0}' "$scratch/results.tap" | head -n 200
fi
echo "e2e finished in $((SECONDS - started)) s (exit $status)"
echo "e2e: ${passed:-0} passed, ${failed:-0} failed"
if [[ "$status" -eq 0 && "${passed:-0}" -eq 0 ]]; then
    echo "e2e: FAILED: no test ran" >&2
    exit 1
fi
exit "$status"
