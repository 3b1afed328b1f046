#!/usr/bin/env bash
# Build the pinned Pebble binaries the functional tier, the benchmarks and the demo run against.
#
#   scripts/build-pebble.sh [--optional] [--print-dir]
#
# Versions: v1.26.0 (what Juju 3.6 and 4.0 ship) and the newest release. The newest is asked of the
# Go module proxy (`go list -m -versions`); when the proxy refuses the listing (some mirrors answer
# 403 on /@v/list), the pinned PEBBLE_NEWEST_FALLBACK below is used and the script says so.
# Override both with PEBBLE_VERSIONS="v1.26.0 v1.32.2".
#
# Each version is installed with `go install github.com/canonical/pebble/cmd/pebble@<ver>` into
#   ${RECONCILE_LIBS_CACHE:-$HOME/.cache/reconcile-libs}/bin/pebble-<ver>/pebble
# (one GOBIN per version); if that fails because the proxy refuses the version listing, the same
# version is built through a throwaway main module. A version already built is not rebuilt.
#
# --optional: never fail (the demo uses it; without Go or network it simulates Pebble instead).
# --print-dir: print the cache directory and exit.
set -uo pipefail

readonly PEBBLE_MODULE=github.com/canonical/pebble
readonly PEBBLE_JUJU_VERSION=v1.26.0
# Newest release the proxy served on 2026-11-22 (v1.32.2, tagged 2026-09-02, needs go 1.26.7).
readonly PEBBLE_NEWEST_FALLBACK=v1.32.2

optional=0
for arg in "$@"; do
    case "$arg" in
        --optional) optional=1 ;;
        --print-dir)
            echo "${RECONCILE_LIBS_CACHE:-$HOME/.cache/reconcile-libs}/bin"
            exit 0
            ;;
        -h | --help)
            sed -n '2,18p' "$0"
            exit 0
            ;;
        *)
            echo "build-pebble: unknown argument: $arg" >&2
            exit 2
            ;;
    esac
done

cache_bin="${RECONCILE_LIBS_CACHE:-$HOME/.cache/reconcile-libs}/bin"

fail() {
    echo "build-pebble: $*" >&2
    if [ "$optional" = 1 ]; then
        echo "build-pebble: --optional given, continuing without it" >&2
        exit 0
    fi
    exit 1
}

newest_release() {
    # Prints the newest vX.Y.Z tag (no pre-releases) the proxy lists, or nothing.
    local listing
    listing=$(cd "${TMPDIR:-/tmp}" && go list -m -versions "$PEBBLE_MODULE" 2>/dev/null) || return 0
    echo "$listing" | tr ' ' '\n' | grep -E '^v[0-9]+\.[0-9]+\.[0-9]+$' | sort -V | tail -n 1
}

install_direct() {
    # The documented way. Runs outside any module (cd to a temp dir) so a nearby go.mod/go.work
    # cannot interfere. GOTOOLCHAIN=local: never download a toolchain; fail clearly if Go is old.
    (cd "${TMPDIR:-/tmp}" && GOBIN="$2" GOTOOLCHAIN=local GOFLAGS=-mod=mod CGO_ENABLED=0 \
        go install "$PEBBLE_MODULE/cmd/pebble@$1")
}

install_via_module() {
    # `go install pkg@ver` also reads the module's version list (for deprecation notices), so a
    # proxy that refuses /@v/list makes it fail. A throwaway main module that requires the exact
    # version builds the same binary without the listing.
    echo "build-pebble: 'go install ...@$1' failed; retrying through a throwaway module"
    local work rc
    work=$(mktemp -d) || return 1
    printf 'module pebblebuild\n\ngo 1.24\n\nrequire %s %s\n' "$PEBBLE_MODULE" "$1" >"$work/go.mod"
    printf '//go:build tools\n\npackage tools\n\nimport _ "%s/cmd/pebble"\n' "$PEBBLE_MODULE" \
        >"$work/tools.go"
    (
        cd "$work" || exit 1
        export GOTOOLCHAIN=local GOFLAGS=-mod=mod CGO_ENABLED=0
        go mod tidy && GOBIN="$2" go install "$PEBBLE_MODULE/cmd/pebble"
    )
    rc=$?
    rm -rf "$work"
    return $rc
}

if ! command -v go >/dev/null 2>&1; then
    fail "Go is not installed (need Go >= 1.26.7 for the newest Pebble); see https://go.dev/dl/"
fi
echo "build-pebble: using $(go version)"

if [ -n "${PEBBLE_VERSIONS:-}" ]; then
    versions="$PEBBLE_VERSIONS"
else
    newest=$(newest_release)
    if [ -z "$newest" ]; then
        echo "build-pebble: the Go proxy did not list $PEBBLE_MODULE versions;" \
            "using the pinned newest release $PEBBLE_NEWEST_FALLBACK"
        newest="$PEBBLE_NEWEST_FALLBACK"
    else
        echo "build-pebble: newest release on the Go proxy: $newest"
    fi
    versions="$PEBBLE_JUJU_VERSION $newest"
fi

status=0
for ver in $versions; do
    gobin="$cache_bin/pebble-$ver"
    if [ -x "$gobin/pebble" ]; then
        echo "build-pebble: $ver already built: $gobin/pebble (skipped)"
        continue
    fi
    mkdir -p "$gobin" || fail "cannot create $gobin"
    echo "build-pebble: building $ver into $gobin ..."
    start=$(date +%s)
    if install_direct "$ver" "$gobin" || install_via_module "$ver" "$gobin"; then
        end=$(date +%s)
        echo "build-pebble: built $ver in $((end - start)) s: $gobin/pebble" \
            "($("$gobin/pebble" version --client 2>/dev/null | head -n 1))"
    else
        echo "build-pebble: FAILED to build Pebble $ver (see the go output above)" >&2
        rmdir "$gobin" 2>/dev/null
        status=1
    fi
done

if [ "$status" != 0 ]; then
    fail "at least one Pebble version failed to build"
fi
echo "build-pebble: done; binaries under $cache_bin/pebble-<version>/pebble"
