#!/usr/bin/env bash
# Reproduces docs/results/: every strategy × {memit, unke} on ../shared/eval/stories_edits_dev.jsonl with the
# tiny model's defaults, the efficacy–locality sweeps behind those defaults, and the first 20 UnKEBench items.
# Usage: scripts/eval-tiny.sh [out_dir]   (default docs/results; needs a built build/bin/muke-tool)
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-docs/results}
SHARED=${MUKE_SHARED_DIR:-../shared}
TOOL=build/bin/muke-tool
MODEL=$(mktemp -d)/stories260K
STATS=$(mktemp -d)
JOBS=${JOBS:-2}
mkdir -p "$OUT/runs"
"$TOOL" import-llama2c "$SHARED/models/stories260K/stories260K.bin" "$SHARED/models/stories260K/tok512.model" "$MODEL" >/dev/null
export OMP_NUM_THREADS=1

# run NAME CASES [flags...]: one eval, its table in runs/NAME.txt and results in runs/NAME.json.
run() {
  local name=$1 cases=$2
  shift 2
  "$TOOL" eval --model "$MODEL" --cases "$cases" --statistics-dir "$STATS" --out "$OUT/runs/$name.json" "$@" \
    >"$OUT/runs/$name.txt" 2>"$OUT/runs/$name.log"
}
export -f run
export TOOL MODEL STATS OUT

DEV="$SHARED/eval/stories_edits_dev.jsonl"
# Statistics first, once, so the parallel runs below share the cache.
run warmup "$DEV" --limit 1 --update memit
{
  for s in one_for_all window_by_window matryoshka muke; do
    for u in memit unke; do echo "run $s-$u $DEV --strategy $s --update $u"; done
  done
  # Efficacy–locality frontier: MEMIT's λ and UnKE's preservation weight (window_by_window and muke).
  for l in 0.3 3 10 30 100 1000; do echo "run sweep-memit-lambda$l $DEV --strategy window_by_window --update memit --lambda $l"; done
  for w in 1 10 30; do echo "run sweep-unke-pw$w $DEV --strategy window_by_window --update unke --preservation-weight $w"; done
  echo "run sweep-unke-pw10-muke $DEV --strategy muke --update unke --preservation-weight 10"
  # Longer windows and an earlier hook: the reference's regime, where the strategies differ.
  for s in window_by_window matryoshka muke; do
    echo "run sweep-w5-hook3-$s $DEV --strategy $s --update memit --window 5 --hook-layer 3 --layers 2,3 --lambda 10"
  done
  echo "run unkebench20-muke-unke $SHARED/benchmarks/unkebench_v2_dev.json --limit 20 --strategy muke --update unke"
} | xargs -P "$JOBS" -I{} bash -c '{}'
echo "results in $OUT/runs"
