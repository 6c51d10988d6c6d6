#!/usr/bin/env bash
# Installs the system packages needed to build forage besides Rust: the embedded model's
# llama.cpp (crate llama-cpp-sys-2) is compiled with CMake and a C/C++ compiler, and its
# bindings are generated with bindgen, which needs libclang.
# Idempotent: installs only what is missing. As root it uses apt-get; otherwise it prints
# what to install.
set -euo pipefail

need=()
command -v cmake >/dev/null 2>&1 || need+=(cmake)
command -v clang >/dev/null 2>&1 || need+=(clang)
if ! dpkg-query -W -f='${Status}' libclang-dev 2>/dev/null | grep -q "install ok installed"; then
  need+=(libclang-dev)
fi

if [ ${#need[@]} -eq 0 ]; then
  echo "build dependencies present: cmake clang libclang-dev"
  exit 0
fi

if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
  echo "installed: ${need[*]}"
else
  echo "missing build dependencies: ${need[*]}" >&2
  echo "install them with: sudo apt-get install -y ${need[*]}" >&2
  exit 1
fi
