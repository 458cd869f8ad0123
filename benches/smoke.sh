#!/usr/bin/env bash
# CI's smoke run of the benchmark harness: benches/run.sh --smoke with tiny sizes (a few thousand
# rows, about half a minute), against the loopback server only, installing nothing. It fails
# only if a run fails or the server saw other calls than the rows asked for; it never checks a
# timing. Uses the release ccbulk CI has just built, and the bench server `cargo test` built.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x target/release/ccbulk ]; then cargo build --release --locked --bin ccbulk; fi
cargo build --locked --example bench_server
CCBULK_BIN=$PWD/target/release/ccbulk SERVER_BIN=$PWD/target/debug/examples/bench_server \
    OUT=${OUT:-$PWD/target/bench-smoke} bash benches/run.sh --smoke
