#!/usr/bin/env bash
# Smoke test for the binaries test/legacy-control-plane/build.sh caches: starts the cached etcd 3.4
# on a free 127.0.0.1 port, then each kube-apiserver against it (one after the other, each under
# its own --etcd-prefix) with TLS, a client-certificate CA, RBAC, the Initializers admission plugin
# and admissionregistration.k8s.io/v1alpha1, and checks over the insecure port and over TLS that
#   /version answers with the version, /apis/admissionregistration.k8s.io/v1alpha1 serves
#   initializerconfigurations, a system:masters client certificate may list them, and RBAC
#   forbids an anonymous request.
# Every process it starts is stopped on exit (trap), whatever happens.
#
#   bash test/legacy-control-plane/smoke.sh [--openapi] [VERSION...]   (default: v1.13.0 v1.9.11)
#
# --openapi additionally starts each server the way Kubernetes' hack/update-openapi-spec.sh does
# and compares its /swagger.json with api/openapi-spec/swagger.json of the same source release
# (from the module cache), which shows that the generated OpenAPI code matches upstream's.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
cache="${MESHINIT_CONTROL_PLANE_DIR:-$repo/.cache/control-plane}"
etcd="$cache/etcd-v3.4.23/etcd"

openapi=false
if [[ "${1:-}" == --openapi ]]; then
  openapi=true
  shift
fi
versions=("$@")
if [[ ${#versions[@]} -eq 0 ]]; then
  versions=(v1.13.0 v1.9.11)
fi

for tool in openssl curl; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "smoke: $tool is needed" >&2
    exit 1
  fi
done
missing=()
[[ -x "$etcd" ]] || missing+=("$etcd")
for v in "${versions[@]}"; do
  [[ -x "$cache/kube-apiserver-$v/kube-apiserver" ]] || missing+=("$cache/kube-apiserver-$v/kube-apiserver")
done
if [[ ${#missing[@]} -gt 0 ]]; then
  echo "smoke: missing ${missing[*]}; run: bash test/legacy-control-plane/build.sh ${versions[*]}" >&2
  exit 1
fi
if $openapi && ! command -v go >/dev/null 2>&1; then
  PATH="/usr/local/go/bin:$PATH"
fi

tmp="$(mktemp -d "${TMPDIR:-/tmp}/legacy-smoke.XXXXXX")"
pids=()
cleanup() {
  local pid
  for pid in "${pids[@]}"; do
    kill "$pid" 2>/dev/null || true
  done
  for pid in "${pids[@]}"; do
    wait "$pid" 2>/dev/null || true
  done
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

# stop PID: stops one process this script started.
stop() {
  kill "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
}

# free_port: a port on 127.0.0.1 nobody listens on (and not handed out before by this script),
# below the kernel's ephemeral range so that outgoing connections do not take it meanwhile.
taken=" "
ephemeral_low="$(cut -f1 /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || echo 32768)"
free_port() {
  local port
  for _ in $(seq 200); do
    port=$((10000 + RANDOM % (ephemeral_low - 10000)))
    [[ "$taken" == *" $port "* ]] && continue
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      taken+="$port "
      echo "$port"
      return
    fi
  done
  echo "smoke: no free port found" >&2
  return 1
}

fail() {
  echo "smoke: FAIL: $1" >&2
  if [[ -n "${2:-}" && -f "$2" ]]; then
    echo "smoke: errors and last lines of $(basename "$2"):" >&2
    grep -m 5 -E '^(E|F)[0-9]{4} |unknown flag|[Ee]rror:' "$2" >&2 || true
    tail -n 15 "$2" >&2
  fi
  exit 1
}

# wait_for URL PID LOG: waits up to 90s for URL to answer 200 while PID runs; returns 1 if PID
# exited because a port was taken after all (the caller retries with other ports), fails otherwise.
wait_for() {
  for _ in $(seq 180); do
    if curl -fsS -o /dev/null "$1" 2>/dev/null; then
      return 0
    fi
    if ! kill -0 "$2" 2>/dev/null; then
      grep -q 'address already in use' "$3" && return 1
      fail "the process serving $1 exited" "$3"
    fi
    sleep 0.5
  done
  fail "$1 did not answer within 90s" "$3"
}

# Certificates: a CA that signs the serving certificate (for 127.0.0.1) and a client certificate
# in group system:masters; the same CA is the --client-ca-file.
(
  cd "$tmp"
  openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 1 -subj /CN=legacy-smoke-ca
  openssl req -newkey rsa:2048 -nodes -keyout server.key -out server.csr -subj /CN=kube-apiserver
  printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\n' >server.ext
  openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out server.crt -days 1 -extfile server.ext
  openssl req -newkey rsa:2048 -nodes -keyout admin.key -out admin.csr -subj /O=system:masters/CN=smoke-admin
  openssl x509 -req -in admin.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out admin.crt -days 1
  openssl genrsa -out sa.key 2048
) >"$tmp/openssl.log" 2>&1 || fail "openssl" "$tmp/openssl.log"

for attempt in 1 2 3 4 5; do
  [[ $attempt -lt 5 ]] || fail "etcd: no free ports after 4 attempts" "$tmp/etcd.log"
  etcd_port="$(free_port)"
  etcd_peer="$(free_port)"
  rm -rf "$tmp/etcd"
  "$etcd" --name=smoke --data-dir="$tmp/etcd" \
    --listen-client-urls="http://127.0.0.1:$etcd_port" --advertise-client-urls="http://127.0.0.1:$etcd_port" \
    --listen-peer-urls="http://127.0.0.1:$etcd_peer" --initial-advertise-peer-urls="http://127.0.0.1:$etcd_peer" \
    --initial-cluster="smoke=http://127.0.0.1:$etcd_peer" >"$tmp/etcd.log" 2>&1 &
  etcd_pid=$!
  pids+=("$etcd_pid")
  wait_for "http://127.0.0.1:$etcd_port/health" "$etcd_pid" "$tmp/etcd.log" && break
done
echo "smoke: $("$etcd" --version | head -1) on 127.0.0.1:$etcd_port"

for v in "${versions[@]}"; do
  apiserver="$cache/kube-apiserver-$v/kube-apiserver"
  log="$tmp/kube-apiserver-$v.log"
  # v1.9 has only --admission-control (--enable-admission-plugins came in v1.10); v1.13 still
  # takes --admission-control but marks it deprecated.
  case "$v" in
    v1.9.*) admission=(--admission-control=NamespaceLifecycle,Initializers) ;;
    *) admission=(--enable-admission-plugins=NamespaceLifecycle,Initializers) ;;
  esac
  for attempt in 1 2 3 4 5; do
    [[ $attempt -lt 5 ]] || fail "$v: no free ports after 4 attempts" "$log"
    secure="$(free_port)"
    insecure="$(free_port)"
    flags=(
      --etcd-servers="http://127.0.0.1:$etcd_port" --etcd-prefix="/smoke-$v"
      --bind-address=127.0.0.1 --secure-port="$secure" --cert-dir="$tmp/certs-$v"
      --tls-cert-file="$tmp/server.crt" --tls-private-key-file="$tmp/server.key"
      --client-ca-file="$tmp/ca.crt" --service-account-key-file="$tmp/sa.key"
      --service-cluster-ip-range=10.0.0.0/24
      --insecure-port="$insecure" --insecure-bind-address=127.0.0.1
      --authorization-mode=RBAC "${admission[@]}"
      --runtime-config=admissionregistration.k8s.io/v1alpha1=true --feature-gates=Initializers=true
    )
    [[ $attempt -gt 1 ]] || echo "smoke: $v: kube-apiserver ${flags[*]}"
    "$apiserver" "${flags[@]}" >"$log" 2>&1 &
    pid=$!
    pids+=("$pid")
    base="http://127.0.0.1:$insecure"
    wait_for "$base/healthz" "$pid" "$log" && break
  done

  version="$(curl -fsS "$base/version")" || fail "$v: GET /version" "$log"
  grep -q "\"gitVersion\": \"$v\"" <<<"$version" || fail "$v: /version answered: $version" "$log"
  group="$(curl -fsS "$base/apis/admissionregistration.k8s.io/v1alpha1")" ||
    fail "$v: GET /apis/admissionregistration.k8s.io/v1alpha1" "$log"
  grep -q '"name": "initializerconfigurations"' <<<"$group" ||
    fail "$v: admissionregistration.k8s.io/v1alpha1 does not serve initializerconfigurations: $group" "$log"

  # TLS with the client certificate (system:masters), and RBAC for an anonymous request.
  tls=(--cacert "$tmp/ca.crt" -sS)
  list="$(curl "${tls[@]}" -f --cert "$tmp/admin.crt" --key "$tmp/admin.key" \
    "https://127.0.0.1:$secure/apis/admissionregistration.k8s.io/v1alpha1/initializerconfigurations")" ||
    fail "$v: listing initializerconfigurations with the client certificate" "$log"
  grep -q '"kind": "InitializerConfigurationList"' <<<"$list" || fail "$v: unexpected list: $list" "$log"
  code="$(curl "${tls[@]}" -o /dev/null -w '%{http_code}' "https://127.0.0.1:$secure/api/v1/namespaces/default/pods")"
  [[ "$code" == 403 ]] || fail "$v: an anonymous request got HTTP $code, not 403 (RBAC)" "$log"

  # The Initializers admission plugin at work: with an InitializerConfiguration for configmaps, a
  # new ConfigMap gets metadata.initializers.pending and is left out of lists. (The plugin
  # sees the configuration through an informer, hence the retries with fresh names. v1.9's create
  # handler only takes includeUninitialized=1, not =true: with =true it waits for the
  # initialization and answers 504 after 30s.)
  admin=("${tls[@]}" -f --cert "$tmp/admin.crt" --key "$tmp/admin.key" -H 'Content-Type: application/json')
  curl "${admin[@]}" -o /dev/null -X POST \
    "https://127.0.0.1:$secure/apis/admissionregistration.k8s.io/v1alpha1/initializerconfigurations" \
    -d '{"apiVersion":"admissionregistration.k8s.io/v1alpha1","kind":"InitializerConfiguration",
         "metadata":{"name":"smoke"},"initializers":[{"name":"smoke.initializer.example.com",
         "rules":[{"apiGroups":[""],"apiVersions":["v1"],"resources":["configmaps"]}]}]}' ||
    fail "$v: creating an InitializerConfiguration" "$log"
  initialized=false
  for i in $(seq 40); do
    created="$(curl "${admin[@]}" -X POST \
      "https://127.0.0.1:$secure/api/v1/namespaces/default/configmaps?includeUninitialized=1" \
      -d "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"smoke-$i\"}}")" ||
      fail "$v: creating a ConfigMap" "$log"
    if grep -q '"name": "smoke.initializer.example.com"' <<<"$created"; then
      initialized=true
      break
    fi
    sleep 0.25
  done
  $initialized || fail "$v: new ConfigMaps never got the pending initializer" "$log"
  cms="https://127.0.0.1:$secure/api/v1/namespaces/default/configmaps"
  hidden="$(curl "${admin[@]}" "$cms")" || fail "$v: listing ConfigMaps" "$log"
  shown="$(curl "${admin[@]}" "$cms?includeUninitialized=1")" || fail "$v: listing ConfigMaps" "$log"
  if grep -q "\"name\": \"smoke-$i\"" <<<"$hidden" || ! grep -q "\"name\": \"smoke-$i\"" <<<"$shown"; then
    fail "$v: the uninitialized ConfigMap smoke-$i is not hidden from lists (or missing with includeUninitialized=1)" "$log"
  fi

  echo "smoke: $v: ok: $(grep -o '"gitVersion": "[^"]*"' <<<"$version"), admissionregistration.k8s.io/v1alpha1 serves initializerconfigurations, client certificate accepted, anonymous request forbidden (403), a new ConfigMap gets the pending initializer and is hidden from lists"
  stop "$pid"

  if $openapi; then
    # The flags of hack/update-openapi-spec.sh (both releases use the same ones).
    src="$(cd "$repo/.cache" && env GOFLAGS= GO111MODULE=on GOWORK=off go mod download -json "k8s.io/kubernetes@$v" |
      awk -F'"' '$2 == "Dir" { print $4 }')"
    [[ -f "$src/api/openapi-spec/swagger.json" ]] || fail "$v: no api/openapi-spec/swagger.json in k8s.io/kubernetes@$v"
    printf 'smoke-token,admin,1,"system:masters"\n' >"$tmp/tokens.csv"
    for attempt in 1 2 3 4 5; do
      [[ $attempt -lt 5 ]] || fail "$v: no free ports after 4 attempts" "$log.openapi"
      port="$(free_port)"
      "$apiserver" --insecure-bind-address=127.0.0.1 --bind-address=127.0.0.1 --insecure-port="$port" \
        --secure-port="$(free_port)" --etcd-servers="http://127.0.0.1:$etcd_port" --etcd-prefix="/openapi-$v" \
        --advertise-address=10.10.10.10 --cert-dir="$tmp/openapi-certs-$v" --runtime-config=api/all=true \
        --token-auth-file="$tmp/tokens.csv" --service-cluster-ip-range=10.0.0.0/24 >"$log.openapi" 2>&1 &
      pid=$!
      pids+=("$pid")
      wait_for "http://127.0.0.1:$port/healthz" "$pid" "$log.openapi" && break
    done
    curl -w "\n" -fsS "http://127.0.0.1:$port/swagger.json" >"$tmp/swagger-$v.json"
    stop "$pid"
    cmp -s "$tmp/swagger-$v.json" "$src/api/openapi-spec/swagger.json" ||
      fail "$v: /swagger.json differs from api/openapi-spec/swagger.json of k8s.io/kubernetes@$v"
    echo "smoke: $v: ok: /swagger.json is byte-identical to api/openapi-spec/swagger.json ($(wc -c <"$tmp/swagger-$v.json") bytes)"
  fi
done
echo "smoke: all passed (${versions[*]})"
