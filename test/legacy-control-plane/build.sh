#!/usr/bin/env bash
# Builds the Initializer-era kube-apiservers (v1.13.0, v1.9.11) from Go modules only, and provides
# etcd 3.4 for them, cached under $MESHINIT_CONTROL_PLANE_DIR (default: <repo>/.cache/control-plane)
# in the same layout as test/control-plane/build.sh:
#   kube-apiserver-v1.13.0/kube-apiserver, kube-apiserver-v1.9.11/kube-apiserver, etcd-v3.4.23/etcd
# A binary that is already there is not built again, so a second run is a no-op.
#
#   bash test/legacy-control-plane/build.sh v1.13.0 v1.9.11      (or: make legacy-control-plane)
#
# Each version is built in GOPATH mode, with the Go release of its time (taken from the module
# proxy as golang.org/toolchain), from the module versions pinned in deps-VERSION.tsv; every module
# is checked against the go.sum hash recorded there. See README.md for how and why.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
cache="${MESHINIT_CONTROL_PLANE_DIR:-$repo/.cache/control-plane}"
work_root="$repo/.cache/legacy-control-plane"

# etcd 3.4 from Debian (bookworm): the binary is taken out of the pinned package, nothing is
# installed and no service is started.
etcd_version=v3.4.23
etcd_deb=etcd-server=3.4.23-4+b4
etcd_deb_sha256=3a9445d4560ad6de1c375756b2a17d97713df44cbd20a658c871fe108af7ef5d
etcd="$cache/etcd-$etcd_version/etcd"

versions=("$@")
if [[ ${#versions[@]} -eq 0 ]]; then
  versions=(v1.13.0 v1.9.11)
fi
for v in "${versions[@]}"; do
  if [[ ! -f "$here/deps-$v.tsv" ]]; then
    echo "legacy-control-plane: unsupported version $v (no $here/deps-$v.tsv)" >&2
    exit 1
  fi
done

up_to_date=true
for v in "${versions[@]}"; do
  [[ -x "$cache/kube-apiserver-$v/kube-apiserver" ]] || up_to_date=false
done
[[ -x "$etcd" ]] || up_to_date=false
if $up_to_date; then
  echo "legacy-control-plane: up to date: kube-apiserver ${versions[*]}, etcd $etcd_version in $cache"
  exit 0
fi

if [[ "$(uname -s)/$(uname -m)" != Linux/x86_64 ]]; then
  echo "legacy-control-plane: the pinned Go toolchains are linux-amd64 builds; this is $(uname -s)/$(uname -m)" >&2
  exit 1
fi
if ! command -v go >/dev/null 2>&1; then
  if [[ -x /usr/local/go/bin/go ]]; then
    PATH="/usr/local/go/bin:$PATH"
  else
    echo "legacy-control-plane: Go (a current release) is needed to fetch the modules" >&2
    exit 1
  fi
fi

start=$SECONDS

# modgo: the current Go, only for `go mod download` (module mode, outside any module; the proxy
# and the checksum database from the user's environment apply).
modgo() {
  (cd "$work_root" && env GOFLAGS= GO111MODULE=on GOWORK=off go "$@")
}

# fetch TSV: downloads every module of TSV in one `go mod download`, checks each go.sum hash
# against the TSV and prints "import-root<TAB>module directory" lines.
fetch() {
  local tsv="$1" json rc=0
  json="$work_root/download.$$.json"
  # shellcheck disable=SC2046
  if ! modgo mod download -json $(awk -F'\t' '!/^#/ && NF >= 5 { print $3 "@" $4 }' "$tsv") >"$json"; then
    grep -h '"Error"' "$json" >&2 || true
    echo "legacy-control-plane: go mod download failed for modules of $tsv" >&2
    rm -f "$json"
    return 1
  fi
  # The -json output is one pretty-printed object per module, one field per line.
  awk -F'\t' -v json="$json" '
    BEGIN {
      while ((getline line < json) > 0) {
        if (line ~ /^\t"(Path|Version|Dir|Sum)": /) {
          key = line; sub(/^\t"/, "", key); sub(/".*/, "", key)
          val = line; sub(/^[^:]*: "/, "", val); sub(/",?$/, "", val)
          cur[key] = val
        } else if (line ~ /^}/) {
          id = cur["Path"] "@" cur["Version"]; dir[id] = cur["Dir"]; sum[id] = cur["Sum"]; delete cur
        }
      }
    }
    /^#/ || NF < 5 { next }
    {
      id = $3 "@" $4
      if (!(id in dir)) { printf "legacy-control-plane: %s was not downloaded\n", id > "/dev/stderr"; bad = 1; next }
      if (sum[id] != $5) { printf "legacy-control-plane: %s: go.sum hash %s, deps file says %s\n", id, sum[id], $5 > "/dev/stderr"; bad = 1; next }
      print $1 "\t" dir[id]
    }
    END { exit bad }' "$tsv" || rc=$?
  rm -f "$json"
  return "$rc"
}

build_apiserver() {
  local v="$1" out="$cache/kube-apiserver-$1/kube-apiserver" t0=$SECONDS
  if [[ -x "$out" ]]; then
    echo "legacy-control-plane: kube-apiserver $v: cached at $out"
    return
  fi
  local tsv="$here/deps-$v.tsv" work="$work_root/work-$v"
  echo "legacy-control-plane: building kube-apiserver $v in $work ..."
  if [[ -d "$work" ]]; then
    chmod -R u+w "$work" && rm -rf "$work"
  fi
  mkdir -p "$work/gopath/src" "$(dirname "$out")"

  local dirs
  dirs="$(fetch "$tsv")"

  # GOROOT: the module zip loses the file modes, so copy it and make the tools executable again.
  cp -R "$(awk -F'\t' '$1 == "GOROOT" { print $2 }' <<<"$dirs")" "$work/goroot"
  chmod -R u+w "$work/goroot"
  chmod +x "$work/goroot/bin/"* "$work/goroot/pkg/tool/linux_amd64/"*

  # The Kubernetes tree is copied (the generator writes into it); everything else is a symlink into
  # the module cache. The staging repositories take the place of the upstream vendor/k8s.io links.
  local src="$work/gopath/src" root dir name
  mkdir -p "$src/k8s.io"
  cp -R "$(awk -F'\t' '$1 == "k8s.io/kubernetes" { print $2 }' <<<"$dirs")" "$src/k8s.io/kubernetes"
  chmod -R u+w "$src/k8s.io/kubernetes"
  for dir in "$src/k8s.io/kubernetes/staging/src/k8s.io/"*; do
    name="$(basename "$dir")"
    ln -s "../k8s.io/kubernetes/staging/src/k8s.io/$name" "$src/k8s.io/$name"
  done
  while IFS=$'\t' read -r root dir; do
    [[ "$root" == GOROOT || "$root" == k8s.io/kubernetes ]] && continue
    mkdir -p "$(dirname "$src/$root")"
    ln -s "$dir" "$src/$root"
  done <<<"$dirs"

  # oldgo: the pinned toolchain in GOPATH mode, away from the current Go's settings and caches.
  oldgo() {
    (cd "$src/k8s.io/kubernetes" && env -u GOFLAGS -u GOTOOLCHAIN -u GOEXPERIMENT \
      GOROOT="$work/goroot" GOPATH="$work/gopath" GO111MODULE=off GOPROXY=off CGO_ENABLED=0 \
      GOOS=linux GOARCH=amd64 GOCACHE="$work/gocache" PATH="$work/goroot/bin:$PATH" \
      nice -n 10 "$work/goroot/bin/go" "$@")
  }
  echo "legacy-control-plane: $(oldgo version)"

  # pkg/generated/openapi/zz_generated.openapi.go is not in the source; generate it the way
  # build/root/Makefile.generated_files does (gen_openapi): openapi-gen over every package with a
  # +k8s:openapi-gen= tag, found with the same find/grep as the Makefile.
  local gen_pkg find_extra=() gen_flags=() git_commit
  case "$v" in
    v1.13.0)
      git_commit=ddf47ac13c1a9483ea035a79cd7c10005ff21a6d
      gen_pkg=k8s.io/kube-openapi/cmd/openapi-gen
      find_extra=(-path ./vendor)
      gen_flags=(-h staging/src/k8s.io/code-generator/hack/boilerplate.go.txt -r "$work/violations.report")
      ;;
    v1.9.11)
      git_commit=1bfeeb6f212135a22dc787b73e1980e5bccef13d
      gen_pkg=k8s.io/code-generator/cmd/openapi-gen
      find_extra=(-path ./vendor -o -path ./staging -o -path ./examples)
      ;;
  esac
  oldgo build -o "$work/openapi-gen" "$gen_pkg"
  local inputs
  inputs="$(
    cd "$src/k8s.io/kubernetes"
    {
      find -H . \( -not \( \( "${find_extra[@]}" -o -path './_*' -o -path './.*' -o -path ./docs \) -prune \) \) \
        -type f -name '*.go'
      # v1.9 lists the staging repositories it scans; v1.13 scans all of staging/.
      if [[ "$v" == v1.9.11 ]]; then
        for name in apimachinery apiserver kube-aggregator apiextensions-apiserver metrics sample-apiserver api \
          client-go code-generator sample-controller; do
          find -H "staging/src/k8s.io/$name" -type f -name '*.go'
        done
      fi
    } | sed 's|^\./||' | xargs grep --color=never -l '^// *+k8s:' | xargs grep --color=never -l '+k8s:openapi-gen=' \
      | xargs -n1 dirname | sed 's|^staging/src/|vendor/|' | LC_ALL=C sort -u \
      | sed 's|^vendor/||; t; s|^|k8s.io/kubernetes/|' | paste -sd, -
  )"
  (cd "$src/k8s.io/kubernetes" && env -u GOFLAGS GOPATH="$work/gopath" GOROOT="$work/goroot" CGO_ENABLED=0 \
    nice -n 10 "$work/openapi-gen" --logtostderr -i "$inputs" -p k8s.io/kubernetes/pkg/generated/openapi \
    -O zz_generated.openapi "${gen_flags[@]}")
  if [[ "$v" == v1.13.0 ]] && ! diff "$work/violations.report" "$src/k8s.io/kubernetes/api/api-rules/violation_exceptions.list"; then
    echo "legacy-control-plane: openapi-gen's API rule report differs from api/api-rules/violation_exceptions.list" >&2
    exit 1
  fi

  # The -X flags of hack/lib/version.sh, with the commit the release tag points to. Upstream's
  # second package is k8s.io/kubernetes/vendor/k8s.io/client-go/pkg/version; here client-go is not
  # vendored. gitTreeState "archive": built from the module zip, not from a git checkout.
  local minor="${v#v1.}" ldflags="-s -w" pkg build_date
  minor="${minor%%.*}"
  # (SOURCE_DATE_EPOCH pins the build date; with it two builds give identical binaries.)
  build_date="$(date -u ${SOURCE_DATE_EPOCH:+-d "@$SOURCE_DATE_EPOCH"} +%Y-%m-%dT%H:%M:%SZ)"
  for pkg in k8s.io/kubernetes/pkg/version k8s.io/client-go/pkg/version; do
    ldflags+=" -X $pkg.gitVersion=$v -X $pkg.gitCommit=$git_commit -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
    ldflags+=" -X $pkg.gitTreeState=archive -X $pkg.buildDate=$build_date"
  done
  oldgo build -ldflags "$ldflags" -o "$out.tmp.$$" k8s.io/kubernetes/cmd/kube-apiserver
  local got
  got="$("$out.tmp.$$" --version)"
  if [[ "$got" != "Kubernetes $v" ]]; then
    echo "legacy-control-plane: the new binary says '$got', not 'Kubernetes $v'" >&2
    exit 1
  fi
  mv -f "$out.tmp.$$" "$out"
  # The work tree (a copy of the source, the GOROOT and the build cache) is only needed again for a
  # rebuild; keep it with LEGACY_CONTROL_PLANE_KEEP_WORK=1.
  if [[ "${LEGACY_CONTROL_PLANE_KEEP_WORK:-}" != 1 ]]; then
    chmod -R u+w "$work" && rm -rf "$work"
  fi
  echo "legacy-control-plane: kube-apiserver $v built in $((SECONDS - t0))s -> $out"
}

provide_etcd() {
  local t0=$SECONDS dl="$work_root/etcd-deb"
  if [[ -x "$etcd" ]]; then
    echo "legacy-control-plane: etcd $etcd_version: cached at $etcd"
    return
  fi
  if ! command -v apt-get >/dev/null 2>&1 || ! command -v dpkg-deb >/dev/null 2>&1; then
    echo "legacy-control-plane: etcd $etcd_version comes from Debian's etcd-server package; apt-get and dpkg-deb are needed" >&2
    exit 1
  fi
  echo "legacy-control-plane: fetching etcd $etcd_version ($etcd_deb, Debian bookworm) ..."
  rm -rf "$dl"
  mkdir -p "$dl" "$(dirname "$etcd")"
  # apt-get download only fetches the .deb: nothing is installed, no service is started.
  # (The download directory is world-writable so that apt's unprivileged _apt user can write it.)
  chmod 0777 "$dl"
  if ! (cd "$dl" && apt-get download -q "$etcd_deb"); then
    if [[ "$(id -u)" == 0 ]]; then
      echo "legacy-control-plane: apt-get update, then trying again ..."
      apt-get update -qq
      (cd "$dl" && apt-get download -q "$etcd_deb")
    else
      echo "legacy-control-plane: apt-get download $etcd_deb failed; run 'apt-get update' as root and retry" >&2
      exit 1
    fi
  fi
  local deb
  deb="$(ls "$dl"/etcd-server_*.deb)"
  if [[ "$(sha256sum "$deb" | cut -d' ' -f1)" != "$etcd_deb_sha256" ]]; then
    echo "legacy-control-plane: $deb does not have the pinned sha256 $etcd_deb_sha256" >&2
    exit 1
  fi
  dpkg-deb --fsys-tarfile "$deb" | tar -xO ./usr/bin/etcd >"$etcd.tmp.$$"
  chmod +x "$etcd.tmp.$$"
  if ! "$etcd.tmp.$$" --version | grep -q "^etcd Version: ${etcd_version#v}$"; then
    echo "legacy-control-plane: the etcd in $deb is not $etcd_version" >&2
    exit 1
  fi
  mv -f "$etcd.tmp.$$" "$etcd"
  rm -rf "$dl"
  echo "legacy-control-plane: etcd $etcd_version ready in $((SECONDS - t0))s -> $etcd"
}

mkdir -p "$work_root"
for v in "${versions[@]}"; do
  build_apiserver "$v"
done
provide_etcd

echo "legacy-control-plane: done in $((SECONDS - start))s:" \
  "$(for v in "${versions[@]}"; do "$cache/kube-apiserver-$v/kube-apiserver" --version; done | paste -sd, - | sed 's/,/, /g')," \
  "etcd $("$etcd" --version | awk '/^etcd Version/ { print $3 }')"
