#!/usr/bin/env bash
# Configures and builds muke: the one build command that CI (scripts/test.sh) and the container images
# (docker/Dockerfile, docker/Dockerfile.cuda) run, so their builds cannot drift apart (the ctest
# docker_build_steps_test checks that they call this script and nothing else to build).
# Usage: [BUILD_DIR=build] [JOBS=N] [BUILD_TARGETS="muke-server muke"] scripts/build.sh [extra cmake -D args]
#   BUILD_DIR      build directory (default build/)
#   JOBS           parallel compile jobs (default: the number of cores)
#   BUILD_TARGETS  space-separated targets to build (default: all, the tests included)
#   extra args     passed to the configure step, e.g. -DMUKE_NPM_DIR=DIR (peer tests) or
#                  -DCMAKE_PREFIX_PATH=/opt/libtorch (another libtorch, e.g. a CUDA build)
set -euo pipefail
cd "$(dirname "$0")/.."

BUILD_DIR=${BUILD_DIR:-build}
JOBS=${JOBS:-$(nproc)}

cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release "$@"
targets=()
for target in ${BUILD_TARGETS:-}; do targets+=(--target "$target"); done
cmake --build "$BUILD_DIR" -j "$JOBS" "${targets[@]}"
