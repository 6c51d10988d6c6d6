#!/usr/bin/env bash
# Installs what the test suite drives besides Rust: the official Parallel SDKs (PyPI and npm),
# MCP servers used as real peers (FastMCP, server-everything), the MCP conformance suite,
# and PostgreSQL. Idempotent: a second run only checks.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

# Debian packages: sqlite3 CLI for inspection, PostgreSQL server binaries for the Postgres store tests,
# chromium for the web UI's browser tests (driven by playwright-core; no browser download).
need_apt=()
command -v sqlite3 >/dev/null 2>&1 || need_apt+=(sqlite3)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need_apt+=(postgresql)
[ -x /usr/bin/chromium ] || need_apt+=(chromium)
if [ ${#need_apt[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
  else
    echo "note: missing ${need_apt[*]} (run as root to install)" >&2
  fi
fi

# Python: a venv with the official SDK and FastMCP.
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
if ! .venv/bin/python -c 'import parallel, fastmcp, mcp' >/dev/null 2>&1; then
  .venv/bin/pip install -q --disable-pip-version-check -r testkit/python/requirements.txt
fi

# Node: the official npm SDK, the reference MCP server, the conformance suite and playwright-core.
if [ ! -d testkit/node/node_modules/parallel-web ] || [ ! -d testkit/node/node_modules/@modelcontextprotocol/server-everything ] || [ ! -d testkit/node/node_modules/playwright-core ]; then
  (cd testkit/node && npm ci --no-audit --no-fund --loglevel=error 2>/dev/null || npm install --no-audit --no-fund --loglevel=error)
fi
# cargo-fuzz for the fuzz targets (scripts/fuzz.sh), kept beside the build cache so CI keeps it.
if ! cargo fuzz --version >/dev/null 2>&1 && [ ! -x "$HOME/.cache/forage/tools/bin/cargo-fuzz" ]; then
  cargo install --quiet --locked --root "$HOME/.cache/forage/tools" cargo-fuzz --version 0.13.2
fi
echo "test dependencies ready"
