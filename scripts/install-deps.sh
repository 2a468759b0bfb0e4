#!/usr/bin/env bash
# Installs every Debian 12 package muke needs to build, run and test. Idempotent: does nothing when all
# packages are already present. Run as root or with sudo available.
set -euo pipefail

PACKAGES=(
  build-essential cmake ninja-build pkg-config ccache git ca-certificates
  libtorch-dev libopenblas0-openmp
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler
  libabsl-dev prometheus-cpp-dev libyaml-cpp-dev nlohmann-json3-dev
  libsentencepiece-dev googletest libgtest-dev libgmock-dev
  python3 nodejs npm
  yamllint prometheus kubernetes-client
)

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

# nodejs/npm may come from outside Debian (e.g. a preinstalled Node 20); accept any working binaries.
filtered=()
for p in "${missing[@]}"; do
  case "$p" in
    nodejs) command -v node >/dev/null 2>&1 || filtered+=("$p") ;;
    npm) command -v npm >/dev/null 2>&1 || filtered+=("$p") ;;
    python3) command -v python3 >/dev/null 2>&1 || filtered+=("$p") ;;
    # kubectl (for `kubectl kustomize` in the deploy checks) may come from elsewhere, e.g. the Kubernetes apt repository.
    kubernetes-client) command -v kubectl >/dev/null 2>&1 || filtered+=("$p") ;;
    *) filtered+=("$p") ;;
  esac
done

if [ ${#filtered[@]} -eq 0 ]; then
  echo "install-deps: all packages present"
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
echo "install-deps: installing ${filtered[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends "${filtered[@]}"

# The prometheus package starts a system Prometheus on :9090 where systemd runs; the tests start their own,
# and muke-server's metrics default to 127.0.0.1:9090, so stop the one just installed.
if [[ " ${filtered[*]} " == *" prometheus "* ]] && command -v systemctl >/dev/null 2>&1 &&
   systemctl is-active --quiet prometheus 2>/dev/null; then
  echo "install-deps: stopping and disabling the prometheus service (it would hold port 9090)"
  $SUDO systemctl disable --now prometheus || true
fi
