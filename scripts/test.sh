#!/usr/bin/env bash
# The whole test suite:
#   1. unit tests, integration tests against the embedded OpenID provider over loopback,
#      property tests, the examples (built) and the doctests: `cargo test`, no outside service;
#   2. end to end: the quickstart and hyper examples against two instances of the OpenID
#      Certified `oidc-provider` (npm) and in headless Chromium (scripts/e2e.sh installs
#      Chromium and the npm packages itself; under CI=true anything missing is a failure).
# Everything listens on loopback and is stopped by PID when the script ends.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
# One build profile for everything: lib, tests, examples and doctests share artifacts.
cargo test --all-features --all-targets
cargo test --all-features --doc
bash scripts/e2e.sh
