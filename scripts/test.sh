#!/usr/bin/env bash
# Runs forage's whole test suite: installs what the tests drive (build tools, the embedded model,
# the Parallel SDKs, MCP peers), builds every binary, checks formatting and lints, then runs every test.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/forage/target}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

step() { printf '\n==> %s\n' "$*"; }

step "installing build and test dependencies"
bash scripts/install-build-deps.sh
bash scripts/install-test-deps.sh
bash scripts/fetch-model.sh

step "checking formatting"
cargo fmt --all -- --check

step "building every binary"
cargo build --workspace --bins

step "lints"
cargo clippy --workspace --all-targets -- -D warnings

step "tests"
cargo test --workspace --no-fail-fast
