#!/usr/bin/env bash
# Build the envtest control plane (kube-apiserver + etcd) from the Go module proxy.
#
# Needs only Go (>= the `go` line of the pinned releases; 1.26 today) and access to the Go module
# proxy. Nothing is downloaded from GitHub releases.
#
# kube-apiserver: k8s.io/kubernetes cannot be `go install`ed because its go.mod replaces every
# staging module (k8s.io/api, k8s.io/apiserver, ...) with ./staging/src/...; we build it from a
# throwaway main module that requires k8s.io/kubernetes@$K8S_VERSION and replaces each staging
# module with its published v0.X.Y tag (the list is derived from the go.mod the proxy serves).
# etcd: go.etcd.io/etcd/server/v3 is the etcd main package; its require lines name real versions,
# so a throwaway module that requires it needs no replaces.
#
# Output: ${RECONCILE_LIBS_CACHE:-$HOME/.cache/reconcile-libs}/bin/{kube-apiserver,etcd}-<version>
# A binary already present is not rebuilt. The throwaway modules live in a temp dir and are
# deleted afterwards; Go's module and build caches (GOMODCACHE, GOCACHE) make a rebuild fast.
#
# Usage: scripts/build-envtest.sh            # both binaries
#        K8S_VERSION=v1.36.3 ETCD_VERSION=v3.6.16 scripts/build-envtest.sh
set -euo pipefail

K8S_VERSION="${K8S_VERSION:-v1.37.2}"
ETCD_VERSION="${ETCD_VERSION:-v3.6.16}"
CACHE_DIR="${RECONCILE_LIBS_CACHE:-$HOME/.cache/reconcile-libs}"
BIN_DIR="$CACHE_DIR/bin"

export CGO_ENABLED=0
export GOTOOLCHAIN="${GOTOOLCHAIN:-local}"  # never download a toolchain behind the user's back
export GOFLAGS="${GOFLAGS:-} -mod=mod -buildvcs=false"

if ! command -v go >/dev/null 2>&1; then
    echo "build-envtest: 'go' not found; install Go >= 1.26 (https://go.dev/dl/)" >&2
    exit 1
fi

mkdir -p "$BIN_DIR"
WORK_ROOT="$(mktemp -d "${TMPDIR:-/tmp}/reconcile-libs-envtest.XXXXXX")"
trap 'rm -rf "$WORK_ROOT"' EXIT

now() { date +%s; }
SCRIPT_START="$(now)"

# Print the staging modules that k8s.io/kubernetes@$1 replaces with ./staging/src/... paths.
staging_modules() {
    local version="$1" gomod
    gomod="$(go mod download -json "k8s.io/kubernetes@$version" | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",$/\1/p')"
    if [[ -z "$gomod" || ! -f "$gomod" ]]; then
        echo "build-envtest: could not download the go.mod of k8s.io/kubernetes@$version" >&2
        return 1
    fi
    sed -n 's|^[[:space:]]*\(k8s\.io/[a-z0-9-]*\) => \./staging/src/.*$|\1|p' "$gomod"
}

build_kube_apiserver() {
    local out="$BIN_DIR/kube-apiserver-$K8S_VERSION"
    if [[ -x "$out" ]]; then
        echo "build-envtest: $out present, skipping"
        return 0
    fi
    local start dir minor staging_version
    start="$(now)"
    dir="$WORK_ROOT/kube-apiserver"
    mkdir -p "$dir"
    minor="$(echo "$K8S_VERSION" | cut -d. -f2)"
    staging_version="v0.${K8S_VERSION#v1.}"
    echo "build-envtest: building kube-apiserver $K8S_VERSION (staging modules at $staging_version)"
    (
        cd "$dir"
        go mod init reconcile-libs.invalid/envtest-kube-apiserver >/dev/null 2>&1
        local modules=() edits=()
        mapfile -t modules < <(staging_modules "$K8S_VERSION")
        if [[ "${#modules[@]}" -eq 0 ]]; then
            echo "build-envtest: no staging replace directives found for $K8S_VERSION" >&2
            exit 1
        fi
        for module in "${modules[@]}"; do
            edits+=("-replace=$module=$module@$staging_version")
        done
        go mod edit "${edits[@]}"
        go get "k8s.io/kubernetes/cmd/kube-apiserver@$K8S_VERSION"
        go build -trimpath -o "$out.tmp" -ldflags "-s -w \
            -X k8s.io/component-base/version.gitVersion=$K8S_VERSION \
            -X k8s.io/component-base/version.gitMajor=1 \
            -X k8s.io/component-base/version.gitMinor=$minor \
            -X k8s.io/component-base/version.gitTreeState=clean" \
            k8s.io/kubernetes/cmd/kube-apiserver
    )
    mv "$out.tmp" "$out"
    echo "build-envtest: kube-apiserver $K8S_VERSION built in $(($(now) - start)) s -> $out"
}

build_etcd() {
    local out="$BIN_DIR/etcd-$ETCD_VERSION"
    if [[ -x "$out" ]]; then
        echo "build-envtest: $out present, skipping"
        return 0
    fi
    local start dir
    start="$(now)"
    dir="$WORK_ROOT/etcd"
    mkdir -p "$dir"
    echo "build-envtest: building etcd $ETCD_VERSION"
    (
        cd "$dir"
        go mod init reconcile-libs.invalid/envtest-etcd >/dev/null 2>&1
        go get "go.etcd.io/etcd/server/v3@$ETCD_VERSION"
        go build -trimpath -o "$out.tmp" -ldflags "-s -w" go.etcd.io/etcd/server/v3
    )
    mv "$out.tmp" "$out"
    echo "build-envtest: etcd $ETCD_VERSION built in $(($(now) - start)) s -> $out"
}

build_etcd
build_kube_apiserver
echo "build-envtest: done in $(($(now) - SCRIPT_START)) s; binaries in $BIN_DIR"
ls -l "$BIN_DIR"
