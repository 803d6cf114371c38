#!/usr/bin/env bash
# Builds the helm CLI from the Go module pinned in test/helm/go.mod (go.sum checked in) and caches
# it under $MESHINIT_CONTROL_PLANE_DIR (default: <repo>/.cache/control-plane), beside kube-apiserver
# and etcd: helm-VERSION/helm. A binary that is already there is not built again, so a second run is
# a no-op. Run through `make helm`; test/helm/helm.ts finds the same path.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
cache="${MESHINIT_CONTROL_PLANE_DIR:-$repo/.cache/control-plane}"

# The versions come from go.mod, the single place where they are pinned.
helm_version="$(awk '$1 == "helm.sh/helm/v3" && $2 ~ /^v/ { print $2; exit }' "$here/go.mod")"
client_go_version="$(awk '$1 == "k8s.io/client-go" && $2 ~ /^v/ { print $2; exit }' "$here/go.mod")"
if [[ -z "$helm_version" || -z "$client_go_version" ]]; then
  echo "helm: cannot read the helm.sh/helm/v3 and k8s.io/client-go versions from $here/go.mod" >&2
  exit 1
fi
helm="$cache/helm-$helm_version/helm"

if [[ -x "$helm" ]]; then
  echo "helm: up to date: helm $helm_version in $cache"
  exit 0
fi

if ! command -v go >/dev/null 2>&1; then
  if [[ -x /usr/local/go/bin/go ]]; then
    PATH="/usr/local/go/bin:$PATH"
  else
    echo "helm: the Go toolchain (go >= 1.26) is needed to build helm" >&2
    exit 1
  fi
fi

# The -X flags of helm's own Makefile for a release build: the version, and the Kubernetes version
# that `helm template` and `helm lint` assume without a cluster (.Capabilities.KubeVersion), which
# upstream derives from client-go (v0.37.x -> 1.37). gitTreeState "archive": built from the module
# zip, not from a git checkout (the zip carries no commit).
minor="${client_go_version#v0.}"
minor="${minor%%.*}"
ldflags="-s -w -X helm.sh/helm/v3/internal/version.version=$helm_version -X helm.sh/helm/v3/internal/version.metadata="
ldflags+=" -X helm.sh/helm/v3/internal/version.gitTreeState=archive"
for pkg in helm.sh/helm/v3/pkg/lint/rules helm.sh/helm/v3/pkg/chartutil; do
  ldflags+=" -X $pkg.k8sVersionMajor=1 -X $pkg.k8sVersionMinor=$minor"
done

# Static binary, no C compiler needed. Built into a temporary file and renamed, so an interrupted
# build never leaves a binary that a later run would take as finished.
export CGO_ENABLED=0
cd "$here"
start=$SECONDS
echo "helm: building helm $helm_version (helm.sh/helm/v3/cmd/helm) ..."
mkdir -p "$(dirname "$helm")"
go build -mod=readonly -trimpath -ldflags "$ldflags" -o "$helm.tmp.$$" helm.sh/helm/v3/cmd/helm
mv -f "$helm.tmp.$$" "$helm"
echo "helm: built in $((SECONDS - start))s -> $helm: $("$helm" version --short)"
