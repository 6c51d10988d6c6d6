#!/usr/bin/env bash
# Sets up forage on a fresh machine and runs it: installs build tools, fetches the embedded model,
# builds forage, starts the server with no API key and no LLM configured (the embedded model answers),
# answers a demonstration task, then keeps serving on http://127.0.0.1:8080 until Ctrl-C.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/forage/target}"
listen="${FORAGE_LISTEN:-127.0.0.1:8080}"
data="${FORAGE_DATA:-$root/.forage-data}"

echo "==> installing build tools (cmake, clang) and fetching the embedded model"
bash scripts/install-build-deps.sh
bash scripts/fetch-model.sh

echo "==> building forage (release)"
cargo build --release --bin forage
forage="$CARGO_TARGET_DIR/release/forage"

echo "==> starting forage on $listen (data in $data)"
"$forage" serve --listen "$listen" --data "$data" &
server=$!
trap 'kill -TERM $server 2>/dev/null; wait $server 2>/dev/null' EXIT INT TERM
for _ in $(seq 1 300); do
  if curl -fsS "http://$listen/healthz" >/dev/null 2>&1; then break; fi
  if ! kill -0 $server 2>/dev/null; then echo "forage exited during start-up" >&2; exit 1; fi
  sleep 0.2
done

echo "==> a demonstration task, answered by the embedded model"
"$forage" run "Name three primary colours." --server "http://$listen" --processor lite || true

echo
echo "forage is serving on http://$listen — point the Parallel SDKs at it with"
echo "  export PARALLEL_BASE_URL=http://$listen PARALLEL_API_KEY=local"
echo "Press Ctrl-C to stop."
wait $server
