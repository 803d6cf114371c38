#!/usr/bin/env bash
# Builds kwok from the Go module pinned in test/kwok/go.mod (go.sum checked in) and caches it under
# $MESHINIT_CONTROL_PLANE_DIR (default: <repo>/.cache/control-plane), beside kube-apiserver:
# kwok-VERSION/kwok, and kwok-VERSION/stages.yaml, the Stages that kwokctl gives kwok by default
# (node-initialize, node-heartbeat-with-lease, pod-ready, pod-complete, pod-delete), copied from
# the same module so that they match the binary. The kwok binary itself has no built-in Stages: it
# refuses to start without them. A second run is a no-op. Run through `make control-plane`;
# test/control-plane/control-plane.ts finds the same paths.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
cache="${MESHINIT_CONTROL_PLANE_DIR:-$repo/.cache/control-plane}"

# The version comes from go.mod, the single place where it is pinned.
kwok_version="$(awk '$1 == "sigs.k8s.io/kwok" && $2 ~ /^v/ { print $2; exit }' "$here/go.mod")"
if [[ -z "$kwok_version" ]]; then
  echo "kwok: cannot read the sigs.k8s.io/kwok version from $here/go.mod" >&2
  exit 1
fi
kwok="$cache/kwok-$kwok_version/kwok"
stages="$cache/kwok-$kwok_version/stages.yaml"

if [[ -x "$kwok" && -s "$stages" ]]; then
  echo "kwok: up to date: kwok $kwok_version in $cache"
  exit 0
fi

if ! command -v go >/dev/null 2>&1; then
  if [[ -x /usr/local/go/bin/go ]]; then
    PATH="/usr/local/go/bin:$PATH"
  else
    echo "kwok: the Go toolchain (go >= 1.26) is needed to build kwok" >&2
    exit 1
  fi
fi

# Static binary, no C compiler needed. Written to temporary files and renamed, so an interrupted
# build never leaves a file that a later run would take as finished. No -X version stamp: the
# module's pkg/consts.Version already names its release.
export CGO_ENABLED=0
cd "$here"
start=$SECONDS
echo "kwok: building kwok $kwok_version (sigs.k8s.io/kwok/cmd/kwok) ..."
mkdir -p "$(dirname "$kwok")"
go build -mod=readonly -trimpath -ldflags "-s -w" -o "$kwok.tmp.$$" sigs.k8s.io/kwok/cmd/kwok

module_dir="$(go list -mod=readonly -m -f '{{.Dir}}' sigs.k8s.io/kwok)"
{
  for stage in node/fast/node-initialize node/heartbeat-with-lease/node-heartbeat-with-lease \
    pod/fast/pod-ready pod/fast/pod-complete pod/fast/pod-delete; do
    echo "# $stage.yaml of sigs.k8s.io/kwok $kwok_version (kustomize/stage/)"
    cat "$module_dir/kustomize/stage/$stage.yaml"
    echo "---"
  done
} > "$stages.tmp.$$"
mv -f "$stages.tmp.$$" "$stages"
mv -f "$kwok.tmp.$$" "$kwok"
echo "kwok: built in $((SECONDS - start))s -> $kwok ($("$kwok" --version 2>&1 | head -1))"
