#!/usr/bin/env bash
# The whole test suite:
#   1. unit tests, integration tests against the embedded OpenID provider over loopback,
#      property tests, the examples (built), the criterion benchmark in criterion's test
#      mode (benches/criterion), the testing recipe's own integration test
#      (examples/testing-recipe) and the doctests: `cargo test --workspace`, no outside
#      service;
#   2. end to end: the quickstart and hyper examples against two instances of the OpenID
#      Certified `oidc-provider` (npm) and in headless Chromium (scripts/e2e.sh installs
#      Chromium and the npm packages itself; under CI=true anything missing is a failure).
# Everything listens on loopback and is stopped by PID when the script ends.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
# One build profile and one feature set for everything: the workspace's lib, tests, examples,
# benches and doctests share artifacts (and scripts/e2e.sh's build of the examples shares
# them too: see the `zerocopy` line in Cargo.toml).
cargo test --workspace --all-features --all-targets
cargo test --workspace --all-features --doc
bash scripts/e2e.sh
