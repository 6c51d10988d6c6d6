#!/usr/bin/env bash
# Runs forage's whole test suite: installs what the tests drive (build tools, the embedded model,
# the Parallel SDKs, MCP peers), builds every binary, checks formatting and lints, then runs every test.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/forage/target}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

step() { printf '\n==> %s\n' "$*"; }

# In CI every run builds from a fresh clone at a new path, and the artifacts of workspace crates
# carry that path in their names: drop the previous runs' (dependencies stay cached), and skip
# incremental compilation, which only helps repeated local builds. This keeps the cache bounded.
if [ "${CI:-}" = true ]; then
  export CARGO_INCREMENTAL=0
  step "dropping workspace build artifacts of earlier CI runs"
  packages=()
  for manifest in crates/*/Cargo.toml testkit/Cargo.toml tests/Cargo.toml bench/Cargo.toml; do
    packages+=(-p "$(sed -n 's/^name = "\(.*\)"$/\1/p' "$manifest" | head -n 1)")
  done
  cargo clean --quiet "${packages[@]}"
fi

# A build cache made before AMX was turned off for llama.cpp (.cargo/config.toml) keeps that
# build, since its build script does not watch the CMAKE_* flags: clean it once so it is rebuilt.
if grep -L -s -- '-mno-amx' "$CARGO_TARGET_DIR"/*/build/llama-cpp-sys-2-*/out/build/CMakeCache.txt | grep -q .; then
  step "cleaning a llama.cpp build made with AMX"
  cargo clean --quiet -p llama-cpp-sys-2
fi

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

step "fuzzing (each target for ${FORAGE_FUZZ_SECONDS:-60}s)"
bash scripts/fuzz.sh "${FORAGE_FUZZ_SECONDS:-60}"
