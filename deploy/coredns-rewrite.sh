#!/usr/bin/env bash
# Inside the kind cluster, dex.localtest.me must reach Kong (it resolves to 127.0.0.1 outside):
# a CoreDNS rewrite sends it to Kong's proxy Service, so the sidecar and the browser use one
# issuer URL. Idempotent. Only POSIX awk and grep (macOS's BSD tools as well as GNU's): the
# rewrite goes on the line after `ready`, with its indentation.
set -euo pipefail
host=${1:-dex.localtest.me}
target=${2:-kong-kong-proxy.kong.svc.cluster.local}
rule="rewrite name $host $target"
corefile=$(kubectl -n kube-system get configmap coredns -o jsonpath='{.data.Corefile}')
if printf '%s\n' "$corefile" | grep -qF "rewrite name $host "; then
  exit 0
fi
patched=$(printf '%s\n' "$corefile" | awk -v rule="$rule" '
  { print }
  /^[ \t]*ready[ \t]*$/ { indent = $0; sub(/ready.*/, "", indent); print indent rule }
')
if ! printf '%s\n' "$patched" | grep -qF "$rule"; then
  echo "coredns-rewrite: no 'ready' line in CoreDNS's Corefile; add '$rule' by hand" >&2
  exit 1
fi
kubectl -n kube-system create configmap coredns --from-literal=Corefile="$patched" \
  --dry-run=client -o yaml | kubectl apply -f -
kubectl -n kube-system rollout restart deployment coredns
