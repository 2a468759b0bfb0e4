#!/usr/bin/env bash
# Run in an image's build stage after scripts/build.sh: copies the programs into OUT/opt/muke/bin and lists the
# shared libraries they load, so the runtime stage gets exactly what the build linked — no hand-kept list.
# Usage: docker/collect-runtime.sh BUILD_DIR OUT [--bundle [--except DIR]]
#   default       OUT/runtime-packages.txt: the Debian packages owning the libraries they link (the runtime
#                 stage, also Debian 12, installs them with apt-get, which brings their own dependencies)
#   --bundle      copies the libraries themselves into OUT/opt/muke/lib instead, except the C/C++ runtime and
#                 the GPU driver's (for a runtime base that is not Debian 12, e.g. nvidia/cuda:
#                 docker/Dockerfile.cuda)
#   --except DIR  with --bundle: nor those under DIR (a libtorch the runtime stage copies whole, at the same path)
set -euo pipefail

build=$1
out=$2
mode=${3:-}
except=${5:-}
if [ "${4:-}" = --except ] && [ -z "$except" ]; then
  echo "collect-runtime: --except needs a directory" >&2
  exit 2
fi

mkdir -p "$out/opt/muke/bin"
for program in muke-server muke muke-tool; do install -m 0755 "$build/bin/$program" "$out/opt/muke/bin/"; done
# The SentencePiece plugin is looked up next to the programs (core/tokenizer/sentencepiece_loader.cc).
if [ -f "$build/bin/libmuke_sentencepiece.so" ]; then
  install -m 0644 "$build/bin/libmuke_sentencepiece.so" "$out/opt/muke/bin/"
fi

# Every library the programs load (ldd: the whole closure) — bundled with --bundle — and the subset they link
# directly (DT_NEEDED), whose packages pull the rest in through their own dependencies.
ldd_all() { for f in "$out"/opt/muke/bin/*; do ldd "$f"; done; }
mapfile -t libraries < <(ldd_all | awk '$2 == "=>" && $3 ~ /^\// {print $3}' | sort -u)
mapfile -t direct < <(for f in "$out"/opt/muke/bin/*; do
                        needed=$(readelf -d "$f" | awk '/\(NEEDED\)/ {gsub(/[][]/, "", $5); print $5}')
                        ldd "$f" | awk -v needed="$needed" '
                          BEGIN {n = split(needed, list, "\n"); for (i = 1; i <= n; i++) want[list[i]] = 1}
                          $2 == "=>" && ($1 in want) && $3 ~ /^\// {print $3}'
                      done | sort -u)
if [ ${#libraries[@]} -eq 0 ] || [ ${#direct[@]} -eq 0 ]; then
  echo "collect-runtime: ldd found no libraries" >&2
  exit 1
fi
missing=$(ldd_all | grep "not found" || true)
if [ -n "$missing" ]; then
  echo "collect-runtime: unresolved libraries:" >&2
  echo "$missing" >&2
  exit 1
fi

# The Debian package that owns `$1` (following symlinks, e.g. libblas.so.3 → the OpenBLAS alternative, and
# trying both sides of the /lib → /usr/lib merge).
owner() {
  local path candidates=() real
  real=$(readlink -f "$1")
  for path in "$real" "$1"; do
    candidates+=("$path")
    case "$path" in
      /usr/lib/*) candidates+=("${path#/usr}") ;;
      /lib/*) candidates+=("/usr$path") ;;
    esac
  done
  for path in "${candidates[@]}"; do
    if line=$(dpkg -S "$path" 2>/dev/null | grep -v '^diversion' | head -n 1) && [ -n "$line" ]; then
      echo "${line%%:*}"
      return 0
    fi
  done
  return 1
}

if [ "$mode" = --bundle ]; then
  mkdir -p "$out/opt/muke/lib"
  for library in "${libraries[@]}"; do
    if [ -n "$except" ] && [[ "$(readlink -f "$library")" == "$(readlink -f "$except")"/* ]]; then continue; fi
    case "$(basename "$library")" in
      # glibc, the compiler runtime and the NVIDIA driver (mounted into GPU containers) come from the base.
      ld-linux*|libc.so*|libm.so*|libdl.so*|librt.so*|libpthread.so*|libresolv.so*|libutil.so*|\
      libgcc_s.so*|libstdc++.so*|libcuda.so*|libnvidia-*) continue ;;
    esac
    cp -L "$library" "$out/opt/muke/lib/"
  done
  echo "collect-runtime: bundled $(find "$out/opt/muke/lib" -type f | wc -l) libraries into $out/opt/muke/lib"
else
  # Plus the providers of libraries chosen through Debian's alternatives (libblas.so.3 → OpenBLAS), which a
  # dependency names only as "any BLAS".
  alternatives=()
  for library in "${libraries[@]}"; do
    if [[ "$(readlink "$library")" == /etc/alternatives/* ]]; then alternatives+=("$library"); fi
  done
  for library in "${direct[@]}" "${alternatives[@]}"; do
    if ! owner "$library"; then
      echo "collect-runtime: no Debian package owns $library" >&2
      exit 1
    fi
  done | sort -u > "$out/runtime-packages.txt"
  echo "collect-runtime: $(wc -l < "$out/runtime-packages.txt") runtime packages: $(tr '\n' ' ' < "$out/runtime-packages.txt")"
fi
