#!/usr/bin/env bash
# Inside the kind cluster, dex.localtest.me must reach Kong (it resolves to 127.0.0.1 outside):
# a CoreDNS rewrite sends it to Kong's proxy Service, so the sidecar and the browser use one
# issuer URL. Idempotent.
set -euo pipefail
host=${1:-dex.localtest.me}
target=${2:-kong-kong-proxy.kong.svc.cluster.local}
corefile=$(kubectl -n kube-system get configmap coredns -o jsonpath='{.data.Corefile}')
if grep -q "rewrite name $host" <<<"$corefile"; then
  exit 0
fi
patched=$(sed "s/^\(\s*\)ready$/\1ready\n\1rewrite name $host $target/" <<<"$corefile")
kubectl -n kube-system create configmap coredns --from-literal=Corefile="$patched" \
  --dry-run=client -o yaml | kubectl apply -f -
kubectl -n kube-system rollout restart deployment coredns
