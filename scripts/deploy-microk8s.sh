#!/usr/bin/env bash
# Deploy both example charms to a Juju model on MicroK8s, relate them, and send a request
# through the proxy.
#
# One-time setup on an Ubuntu machine (Juju 3.6 and MicroK8s from snaps):
#   sudo snap install microk8s --channel=1.32-strict/stable
#   sudo microk8s enable hostpath-storage dns
#   sudo snap install juju --channel=3.6/stable
#   juju bootstrap microk8s micro
#   scripts/pack-charms.sh
# Then: scripts/deploy-microk8s.sh [model-name]      (default model: reconcile-demo)
# The integration tests do the same in a temporary model: scripts/tox -e integration
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
model="${1:-reconcile-demo}"
image() { python3 -c "import sys, yaml; print(yaml.safe_load(open(sys.argv[1]))['resources'][sys.argv[2]]['upstream-source'])" "$@"; }
charm() { ls "$root/charms/$1"/*.charm | tail -n 1; }

juju add-model "$model"
juju deploy "$(charm web-k8s)" web-k8s \
    --resource web-image="$(image "$root/charms/web-k8s/charmcraft.yaml" web-image)"
juju deploy "$(charm proxy-k8s)" proxy-k8s --trust \
    --resource proxy-image="$(image "$root/charms/proxy-k8s/charmcraft.yaml" proxy-image)"
juju integrate web-k8s:k8s-service proxy-k8s:backend
juju wait-for application proxy-k8s --query='status=="active"' --timeout=15m
juju wait-for application web-k8s --query='status=="active"' --timeout=15m
juju ssh --container proxy proxy-k8s/0 \
    python3 -c '"import urllib.request; print(urllib.request.urlopen(\"http://localhost:8000/\").read().decode())"'
juju run proxy-k8s/0 show-conditions
