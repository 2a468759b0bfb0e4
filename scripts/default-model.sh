# The default model of scripts/run.sh and scripts/bench-service.sh, sourced from the repository root:
# `default_model BUILD_DIR` prints the directory of stories260K in Hugging Face format,
# ${MUKE_DATA_DIR:-data}/models/stories260K, importing it on first use with BUILD_DIR/bin/muke-tool from
# ${MUKE_SHARED_DIR:-../shared}/models/stories260K. Returns 1 (after a message on stderr) when neither exists.
default_model() {
  local build_dir=$1
  local model=${MUKE_DATA_DIR:-$PWD/data}/models/stories260K
  local shared=${MUKE_SHARED_DIR:-$PWD/../shared}/models/stories260K
  if [ ! -f "$model/config.json" ]; then
    if [ ! -f "$shared/stories260K.bin" ]; then
      echo "no default model: $shared not found." >&2
      return 1
    fi
    "$build_dir/bin/muke-tool" import-llama2c "$shared/stories260K.bin" "$shared/tok512.model" "$model" >&2
  fi
  echo "$model"
}
