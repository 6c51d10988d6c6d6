#!/usr/bin/env bash
# Builds forage's fuzz targets (fuzz/, cargo-fuzz + libFuzzer) and runs each for a while, all at
# once: request parsing and validation, MCP message handling, SSE parsing.
#
#   bash scripts/fuzz.sh                  # 60 s per target, all at once (the test suite's run)
#   bash scripts/fuzz.sh 3600             # an hour per target
#   bash scripts/fuzz.sh 600 sse_chunks   # chosen targets only
#
# Exits non-zero when a target finds a crash (a panic, a broken property, a timeout or running
# out of memory), naming the input that caused it (under fuzz/artifacts/<target>/).
# Runs on stable Rust: without a sanitizer (`--sanitizer none`; AddressSanitizer needs nightly,
# and the code fuzzed has no `unsafe` of its own). The build lives in
# $HOME/.cache/forage/fuzz-target and what the fuzzers learn (their corpus, which grows from the
# seeds in fuzz/corpus/) in $HOME/.cache/forage/fuzz-corpus, so later runs start from there.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root/fuzz"

seconds="${1:-60}"
shift || true
case "$seconds" in
  '' | *[!0-9]*) echo "usage: $0 [seconds-per-target] [target...]" >&2; exit 2 ;;
esac

cache="$HOME/.cache/forage"
target_dir="${FORAGE_FUZZ_TARGET_DIR:-$cache/fuzz-target}"
work="${FORAGE_FUZZ_CORPUS_DIR:-$cache/fuzz-corpus}"
# Several codegen units per crate: the big crates build in parallel on few cores, and the fuzzers
# run nearly as fast.
flags=(--sanitizer none --target-dir "$target_dir" --codegen-units 16)

# scripts/install-test-deps.sh installs cargo-fuzz there when it is not on PATH already.
export PATH="$PATH:$cache/tools/bin"
if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "cargo-fuzz is missing: run scripts/install-test-deps.sh (or: cargo install --locked cargo-fuzz)" >&2
  exit 1
fi
host=$(rustc -vV | sed -n 's/^host: //p')

if [ $# -gt 0 ]; then
  targets=("$@")
else
  mapfile -t targets < <(cargo fuzz list)
fi

# As in scripts/test.sh: in CI every run builds from a fresh clone at a new path, so forage's own
# crates are built anew; drop the previous runs' (the dependencies stay cached).
if [ "${CI:-}" = true ] && [ -d "$target_dir/$host/release" ]; then
  cargo clean --quiet --release --target "$host" --target-dir "$target_dir" \
    -p forage-api -p forage-mcp -p forage-fuzz
fi

echo "building fuzz targets: ${targets[*]}"
cargo fuzz build "${flags[@]}"
bin_dir="$target_dir/$host/release"

echo "running each for ${seconds}s"
pids=()
for target in "${targets[@]}"; do
  mkdir -p "$work/$target" "artifacts/$target"
  options=(-max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=8192
    -artifact_prefix="artifacts/$target/" -print_final_stats=1)
  [ -f "dict/$target.dict" ] && options+=(-dict="dict/$target.dict")
  # New inputs go to the first corpus directory (the cache); the checked-in seeds are only read.
  "$bin_dir/$target" "$work/$target" "corpus/$target" "${options[@]}" >"$work/$target.log" 2>&1 &
  pids+=($!)
done

# libFuzzer keeps every input it ever saved, also those a smaller one replaced: past 10,000
# files, fold a cached corpus into the inputs that still add coverage.
compact() {
  local dir="$work/$1"
  [ "$(find "$dir" -type f | wc -l)" -gt 10000 ] || return 0
  rm -rf "$dir.new" && mkdir -p "$dir.new"
  if "$bin_dir/$1" -merge=1 "$dir.new" "$dir" -timeout=10 -rss_limit_mb=2048 -max_len=8192 \
    -artifact_prefix="$dir.new-" >"$work/$1.merge.log" 2>&1; then
    rm -rf "$dir" && mv "$dir.new" "$dir"
  else
    rm -rf "$dir.new"
  fi
}

failed=0
for i in "${!targets[@]}"; do
  target=${targets[$i]}
  if wait "${pids[$i]}"; then
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/$target.log")
    echo "ok   $target: ${runs:-?} inputs, no crash"
    compact "$target"
  else
    failed=1
    echo "FAIL $target: the fuzzer found a crash (full log: $work/$target.log):"
    grep -E -A1 'panicked at|ERROR: libFuzzer|SUMMARY: libFuzzer' "$work/$target.log" | head -n 12 | sed 's/^/    /' || true
    for input in $(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$work/$target.log"); do
      echo "    crashing input: fuzz/$input"
      echo "    reproduce: (cd fuzz && cargo fuzz run ${flags[*]} $target $input)"
    done
  fi
done
exit "$failed"
