#!/usr/bin/env bash
# The deployment files' static checks, one ctest each (tests/CMakeLists.txt): run from anywhere as
#   tests/deploy/check.sh yamllint | kustomize DIR | promtool-config | promtool-rules | promtool-test-rules
# Exit 0 pass, 1 fail, 77 skipped (ctest SKIP_RETURN_CODE) when the tool is missing — scripts/install-deps.sh
# installs them all from Debian 12 (yamllint, prometheus for promtool, kubernetes-client for kubectl).
set -euo pipefail
cd "$(dirname "$0")/../.."

need() {
  if ! command -v "$1" > /dev/null 2>&1; then
    echo "SKIPPED: $1 not found ($2; scripts/install-deps.sh installs it)"
    exit 77
  fi
}

case "${1:-}" in
  yamllint)
    need yamllint "Debian package yamllint"
    # Every YAML file of the tree except build outputs (.yamllint's ignore list); make sure the deployment's are
    # among them, so an ignore pattern cannot quietly skip them.
    files=$(yamllint --list-files -c .yamllint .)
    echo "$files"
    for expected in deploy/k8s/base/deployment.yaml deploy/prometheus/alerts.yml docker/muke-server.yaml; do
      if ! grep -qx "./$expected" <<< "$files"; then
        echo "FAILED: yamllint does not see $expected"
        exit 1
      fi
    done
    yamllint --strict -c .yamllint .
    echo "yamllint: $(wc -l <<< "$files") files clean"
    ;;
  kustomize)
    dir=${2:?usage: check.sh kustomize DIR}
    need kubectl "kubectl kustomize renders $dir; Debian package kubernetes-client"
    kubectl version --client 2>/dev/null | head -n 2 || true
    out=$(mktemp)
    trap 'rm -f "$out"' EXIT
    kubectl kustomize "$dir" > "$out"
    # What the deployment needs, rendered: the editor, its Service, both claims, the config and the monitoring.
    for kind in Deployment Service PersistentVolumeClaim ConfigMap ServiceMonitor PrometheusRule; do
      if ! grep -q "^kind: $kind$" "$out"; then
        echo "FAILED: kubectl kustomize $dir rendered no $kind"
        exit 1
      fi
    done
    echo "kubectl kustomize $dir: $(grep -c '^kind: ' "$out") objects ($(grep '^kind: ' "$out" | cut -d' ' -f2 | sort |
      uniq -c | awk '{printf "%s%s×%s", sep, $1, $2; sep=", "}'))"
    ;;
  promtool-config)
    need promtool "Debian package prometheus"
    promtool check config deploy/prometheus/prometheus.yml
    ;;
  promtool-rules)
    need promtool "Debian package prometheus"
    promtool check rules deploy/prometheus/alerts.yml
    ;;
  promtool-test-rules)
    need promtool "Debian package prometheus"
    promtool test rules deploy/prometheus/alerts_test.yml
    ;;
  *)
    echo "usage: $0 yamllint | kustomize DIR | promtool-config | promtool-rules | promtool-test-rules" >&2
    exit 2
    ;;
esac
