#!/usr/bin/env bash
# Runs the whole benchmark suite in release mode and writes bench/results/latest.{md,json}:
# every figure measured against its baseline in the same run, with its target. Needs what the
# tests need (scripts/install-test-deps.sh: Python and TypeScript MCP clients, PostgreSQL) and
# the embedded model (scripts/fetch-model.sh). Arguments choose benchmarks (default: all).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/forage/target}"
cargo build --release --bins
exec "$CARGO_TARGET_DIR/release/bench-all" "$@"
