#!/usr/bin/env bash
# Builds kube-apiserver, kube-controller-manager, kube-scheduler and etcd from the Go modules pinned
# in test/control-plane/go.mod and caches them under $MESHINIT_CONTROL_PLANE_DIR (default: <repo>/.cache/control-plane), one folder per
# version. A binary that is already there is not built again, so a second run is a no-op.
# Run through `make control-plane`; test/control-plane/control-plane.ts finds the same paths.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
cache="${MESHINIT_CONTROL_PLANE_DIR:-$repo/.cache/control-plane}"

# The versions come from go.mod, the single place where they are pinned.
kube_version="$(awk '$1 == "k8s.io/kubernetes" && $2 ~ /^v/ { print $2; exit }' "$here/go.mod")"
etcd_version="$(awk '$1 == "go.etcd.io/etcd/server/v3" && $2 ~ /^v/ { print $2; exit }' "$here/go.mod")"
if [[ -z "$kube_version" || -z "$etcd_version" ]]; then
  echo "control-plane: cannot read the k8s.io/kubernetes and go.etcd.io/etcd/server/v3 versions from $here/go.mod" >&2
  exit 1
fi
apiserver="$cache/kube-apiserver-$kube_version/kube-apiserver"
controller_manager="$cache/kube-controller-manager-$kube_version/kube-controller-manager"
scheduler="$cache/kube-scheduler-$kube_version/kube-scheduler"
etcd="$cache/etcd-$etcd_version/etcd"

if [[ -x "$apiserver" && -x "$controller_manager" && -x "$scheduler" && -x "$etcd" ]]; then
  echo "control-plane: up to date: kube-apiserver, kube-controller-manager, kube-scheduler $kube_version, etcd $etcd_version in $cache"
  exit 0
fi

if ! command -v go >/dev/null 2>&1; then
  if [[ -x /usr/local/go/bin/go ]]; then
    PATH="/usr/local/go/bin:$PATH"
  else
    echo "control-plane: the Go toolchain (go >= 1.26) is needed to build the Kubernetes binaries and etcd" >&2
    exit 1
  fi
fi
if ! command -v openssl >/dev/null 2>&1; then
  echo "control-plane: note: the test helper also needs openssl on PATH (apt-get install openssl)" >&2
fi

# Static binaries, no C compiler needed; -s -w makes the link step shorter and the files smaller.
export CGO_ENABLED=0
cd "$here"
start=$SECONDS

# step NAME OUT PACKAGE LDFLAGS: builds into a temporary file and renames it, so an interrupted
# build never leaves a binary that a later run would take as finished.
step() {
  local name="$1" out="$2" pkg="$3" ldflags="$4" t0=$SECONDS
  if [[ -x "$out" ]]; then
    echo "control-plane: $name: cached at $out"
    return
  fi
  echo "control-plane: building $name ($pkg) ..."
  mkdir -p "$(dirname "$out")"
  go build -mod=readonly -ldflags "$ldflags" -o "$out.tmp.$$" "$pkg"
  mv -f "$out.tmp.$$" "$out"
  echo "control-plane: $name built in $((SECONDS - t0))s -> $out"
}

# The same -X flags as Kubernetes' own release builds (hack/lib/version.sh), so that /version
# answers with the pinned version instead of v0.0.0-master.
minor="${kube_version#v1.}"
minor="${minor%%.*}"
build_date="$(date -u +%Y-%m-%dT%H:%M:%SZ)"
kube_ldflags="-s -w"
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  kube_ldflags+=" -X $pkg.gitVersion=$kube_version -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
  kube_ldflags+=" -X $pkg.gitTreeState=archive -X $pkg.buildDate=$build_date"
done

step "kube-apiserver $kube_version" "$apiserver" k8s.io/kubernetes/cmd/kube-apiserver "$kube_ldflags"
# Only started by startControlPlane({ controllers: true }): Deployments, ReplicaSets, Jobs and the
# garbage collector (kube-controller-manager), and Pods bound to a node (kube-scheduler).
step "kube-controller-manager $kube_version" "$controller_manager" k8s.io/kubernetes/cmd/kube-controller-manager "$kube_ldflags"
step "kube-scheduler $kube_version" "$scheduler" k8s.io/kubernetes/cmd/kube-scheduler "$kube_ldflags"
step "etcd $etcd_version" "$etcd" go.etcd.io/etcd/server/v3 "-s -w"

echo "control-plane: done in $((SECONDS - start))s: $("$apiserver" --version), etcd $("$etcd" --version | awk '/^etcd Version/ { print $3 }')"
