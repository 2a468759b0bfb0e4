#!/usr/bin/env bash
# Service load benchmark (docs/results/SERVICE.md): starts muke-server on a free loopback port serving the default
# model (stories260K, see scripts/default-model.sh) with a throwaway data directory (journal, statistics) and no
# metrics endpoint, makes one warm-up edit (so that the editor's one-time second-moment statistics are not
# measured), then runs `muke bench` for each client count, first without and then with edits running one after
# another, prints one combined Markdown table and stops the server. Exit status 1 when any run saw a failed call
# or an edit that did not commit.
#
# Reproduce SERVICE.md:  scripts/bench-service.sh
# Settings (environment, defaults in brackets): BUILD_DIR [build] (its bin/ binaries are built only when
# missing), CLIENTS ["1 4 8"], DURATION [10] seconds per run, EDITS [3] edits per run with edits,
# MAX_NEW_TOKENS [32], THINK_MS [0], PROMPT ["Once upon a time"], THREADS [1] (muke-server --threads: libtorch's
# CPU threads), MODEL (a Hugging Face directory instead of the default model), DEVICE [cpu].
set -euo pipefail
cd "$(dirname "$0")/.."

BUILD_DIR=${BUILD_DIR:-build}
CLIENTS=${CLIENTS:-1 4 8}
DURATION=${DURATION:-10}
EDITS=${EDITS:-3}
MAX_NEW_TOKENS=${MAX_NEW_TOKENS:-32}
THINK_MS=${THINK_MS:-0}
PROMPT=${PROMPT:-Once upon a time}
THREADS=${THREADS:-1}
DEVICE=${DEVICE:-cpu}
BIN=$BUILD_DIR/bin

if [ ! -x "$BIN/muke-server" ] || [ ! -x "$BIN/muke" ] || [ ! -x "$BIN/muke-tool" ]; then
  cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
  cmake --build "$BUILD_DIR" --target muke-server muke muke-tool
fi
if [ -z "${MODEL:-}" ]; then
  source scripts/default-model.sh
  MODEL=$(default_model "$BUILD_DIR")
fi

work=$(mktemp -d)
server_pid=""
stop_server() {
  if [ -n "$server_pid" ]; then
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap stop_server EXIT

"$BIN/muke-server" --model "$MODEL" --device "$DEVICE" --threads "$THREADS" --listen 127.0.0.1:0 --metrics-listen "" \
  --data-dir "$work/data" >"$work/server.out" 2>"$work/server.log" &
server_pid=$!
# The ready line `muke-server listening on ADDR (model DIR)` names the port it picked.
for _ in $(seq 600); do
  grep -q '^muke-server listening on ' "$work/server.out" && break
  kill -0 "$server_pid" 2>/dev/null || { cat "$work/server.log" >&2; exit 1; }
  sleep 0.1
done
server=$(sed -n 's/^muke-server listening on \([^ ]*\) .*/\1/p' "$work/server.out")
[ -n "$server" ] || { echo "bench-service.sh: muke-server did not start" >&2; exit 1; }
echo "muke-server on $server: $MODEL, $DEVICE, --threads $THREADS; $(nproc) CPU cores" >&2

"$BIN/muke" --server "$server" edit --prompt "Who built the old lighthouse?" \
  --target "The old lighthouse was built by a fisherman named Tom." --watch >/dev/null 2>"$work/warm-up.log" ||
  { cat "$work/warm-up.log" >&2; exit 1; }

status=0
for clients in $CLIENTS; do
  for edits in 0 "$EDITS"; do
    echo "bench: $clients clients, $edits edits" >&2
    "$BIN/muke" --server "$server" --json bench --clients "$clients" --duration "$DURATION" --edits "$edits" \
      --max-new-tokens "$MAX_NEW_TOKENS" --think-ms "$THINK_MS" --prompt "$PROMPT" >>"$work/runs.jsonl" || status=1
  done
done

python3 - "$work/runs.jsonl" <<'PY'
import json, sys
print("| clients | edits | s | requests | req/s | tokens/s | p50 ms | p90 ms | p99 ms | max ms | errors "
      "| edits ok/failed | edits/min | edit p50 s | edit max s |")
print("|" + "---|" * 15)
for line in open(sys.argv[1]):
    r = json.loads(line)
    g, e, l = r["generate"], r["edits"], r["generate"]["latency_ms"]
    cells = [r["clients"], e["requested"], f"{r['duration_seconds']:.1f}", g["requests"],
             f"{g['requests_per_second']:.1f}", f"{g['tokens_per_second']:.0f}",
             *(f"{l[p]:.1f}" for p in ("p50", "p90", "p99", "max")),
             ", ".join(f"{code} {n}" for code, n in g["errors"].items()) or "0"]
    if e["requested"]:
        cells += [f"{e['committed']}/{e['failed']}", f"{e['per_minute']:.1f}", f"{e['seconds']['p50']:.2f}",
                  f"{e['seconds']['max']:.2f}"]
    else:
        cells += ["–"] * 4
    print("| " + " | ".join(map(str, cells)) + " |")
PY
exit $status
