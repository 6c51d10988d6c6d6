#!/usr/bin/env bash
# Runs the MCP conformance suite's client scenarios (@modelcontextprotocol/conformance 0.1.13,
# installed in testkit/node by scripts/install-test-deps.sh; offline) against
# forage-mcp-conformance-client, and prints one line per scenario: "SCENARIO PASS|FAIL".
#
# usage: scripts/mcp-conformance.sh [SCENARIO...]   (default: the tool-calling scenarios)
# env:   CONFORMANCE_CLIENT=path/to/binary (default: builds it with cargo)
#        CONFORMANCE_LOG_DIR=dir            (full output of each scenario; default: a temp dir)
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
suite="$root/testkit/node/node_modules/@modelcontextprotocol/conformance/dist/index.js"
if [[ ! -f "$suite" ]]; then
  echo "missing $suite: run scripts/install-test-deps.sh first" >&2
  exit 2
fi

client="${CONFORMANCE_CLIENT:-}"
if [[ -z "$client" ]]; then
  export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/forage/target}"
  (cd "$root" && cargo build -q -p forage-mcp --bin forage-mcp-conformance-client)
  client="$CARGO_TARGET_DIR/debug/forage-mcp-conformance-client"
fi

scenarios=("$@")
if [[ ${#scenarios[@]} -eq 0 ]]; then
  scenarios=(initialize tools_call sse-retry)
fi
logs="${CONFORMANCE_LOG_DIR:-$(mktemp -d)}"
mkdir -p "$logs"

failed=0
for scenario in "${scenarios[@]}"; do
  log="$logs/${scenario//\//_}.log"
  # The suite exits 0 even when checks fail: read its verdict.
  (cd "$root/testkit/node" && timeout 180 node "$suite" client --command "$client" --scenario "$scenario") >"$log" 2>&1 || true
  if grep -q "OVERALL: PASSED" "$log"; then
    verdict=PASS
  else
    verdict=FAIL
    failed=1
  fi
  summary="$(grep -Eo 'Passed: [0-9]+/[0-9]+.*' "$log" | tail -1 || true)"
  printf '%-28s %s  %s\n' "$scenario" "$verdict" "$summary"
done
echo "logs: $logs"
exit "$failed"
