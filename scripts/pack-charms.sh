#!/usr/bin/env bash
# Pack the example charms into charms/<name>/<name>_*.charm.
#
# Needs the charmcraft snap and LXD (or Multipass): charmcraft builds in an Ubuntu 24.04
# instance. On an Ubuntu 24.04 host, PACK_ARGS=--destructive-mode builds on the host instead.
# The lib copies are synced first, so a packed charm always carries the libs of lib/.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
python3 "$root/scripts/sync_libs.py"
for charm in "$root"/charms/*/; do
    [ -f "$charm/charmcraft.yaml" ] || continue
    echo "==> packing $(basename "$charm")"
    (cd "$charm" && charmcraft pack ${PACK_ARGS:-})
done
ls -l "$root"/charms/*/*.charm
