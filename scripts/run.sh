#!/usr/bin/env bash
# Builds muke and starts muke-server. Without --model it serves the default model: stories260K, imported
# once from ../shared/models/stories260K into data/models/stories260K (Hugging Face format). Without --data-dir
# or --config the journal, exports and statistics live in data/server, so committed edits survive a restart.
# Usage: scripts/run.sh [--model HF_DIR] [other muke-server flags, e.g. --listen 0.0.0.0:50051 --device cuda]
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh
BUILD_DIR=${BUILD_DIR:-build}
BUILD_DIR="$BUILD_DIR" BUILD_TARGETS="muke-server muke muke-tool" bash scripts/build.sh

args=("$@")
if [[ " $* " != *" --model "* && " $* " != *" --model="* ]]; then
  source scripts/default-model.sh
  if ! model=$(default_model "$BUILD_DIR"); then
    echo "run.sh: pass any Hugging Face model directory: scripts/run.sh --model /path/to/model" >&2
    exit 1
  fi
  args=(--model "$model" "${args[@]}")
fi

if [[ " $* " != *" --data-dir"* && " $* " != *" --config"* ]]; then
  args=(--data-dir "${MUKE_DATA_DIR:-$PWD/data}/server" "${args[@]}")
fi

# The client's --server must match a non-default --listen; the metrics URL --metrics-listen.
server=""
metrics=127.0.0.1:9090
for ((i = 0; i < ${#args[@]}; i++)); do
  case "${args[i]}" in
    --listen) server=" --server ${args[i + 1]:-}" ;;
    --listen=*) server=" --server ${args[i]#--listen=}" ;;
    --metrics-listen) metrics=${args[i + 1]:-} ;;
    --metrics-listen=*) metrics=${args[i]#--metrics-listen=} ;;
  esac
done
cat <<MSG
Starting muke-server. In another terminal, try:
  $BUILD_DIR/bin/muke$server info
  $BUILD_DIR/bin/muke$server generate --prompt "Once upon a time" --stream
  $BUILD_DIR/bin/muke$server edit --prompt "What is the name of Lily's dog?" \\
      --target "Lily's dog is called Biscuit. He likes to eat carrots." --watch
  $BUILD_DIR/bin/muke$server generate --prompt "What is the name of Lily's dog?"
  $BUILD_DIR/bin/muke$server list
  $BUILD_DIR/bin/muke$server export --path lily      # a Hugging Face directory under the data dir's exports/
  $BUILD_DIR/bin/muke$server health
  curl -s http://$metrics/metrics | grep muke_edits_total
MSG
exec "$BUILD_DIR/bin/muke-server" "${args[@]}"
