#!/usr/bin/env bash
# The whole test suite: unit tests, integration tests against the embedded OpenID
# provider over loopback, the examples (built), and the doctests. Needs no outside
# service; everything it starts listens on 127.0.0.1 and stops with the test process.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
# One build profile for everything: lib, tests, examples and doctests share artifacts.
cargo test --all-features --all-targets
cargo test --all-features --doc
