# Repository tasks. `make demo` and `make test` are the README's two commands; both install what
# they need (npm packages from package-lock.json, kube-apiserver and etcd from Go modules).

.PHONY: demo demo-webhook test unit e2e bench bench-memory deps control-plane clean-control-plane legacy-control-plane helm chart-files chart-crds

# npm ci when package-lock.json is newer than the last install (npm ci rewrites this file). The
# package's "prepare" script builds dist/ as part of it.
node_modules/.package-lock.json: package-lock.json package.json
	npm ci --no-audit --no-fund

deps: node_modules/.package-lock.json

# The Initializer mode on a real kube-apiserver v1.13.0: install with kubectl as README.md says,
# create the example app with plain blocking creates, edit the MeshConfig, tail the log until
# Ctrl-C, tear down. The first run builds kube-apiserver v1.13.0 and fetches etcd 3.4 (only what
# the demo needs; minutes on 2 cores, see README.md); later runs start in seconds.
demo: deps
	@bash test/legacy-control-plane/build.sh v1.13.0
	npm run build --silent
	node --import tsx demo/demo.ts

# The webhook mode on the modern kube-apiserver (v1.36.3) with kube-controller-manager, kube-scheduler
# and kwok (real Pods): injection, then a MeshConfig edit rolled out (the first run builds them, ~16 min).
demo-webhook: deps control-plane
	npm run build --silent
	node --import tsx demo/webhook-demo.ts

# Everything CI runs: unit tests (typecheck, lint, build, mocha), then the end-to-end tests.
test: unit e2e

unit: deps
	npm test

e2e: deps control-plane legacy-control-plane helm
	npm run build --silent
	npm run test:e2e

# Benchmarks (issue 9): each runner writes bench/results/<runner>.json, bench/report.ts prints the
# table, writes bench/results/latest.json and draws docs/bench-*.svg. Initializer figures on the real
# kube-apiserver v1.13.0, the webhook on the modern one. Not part of `make test`: about 35 minutes
# of load (memory at 50,000 Deployments is half of it; `make bench-memory` and `make bench-webhook`
# run one part alone).
bench: deps control-plane
	@bash test/legacy-control-plane/build.sh v1.13.0
	npm run build --silent
	node --import tsx bench/initializer-throughput.ts
	node --import tsx bench/blocking-create.ts
	node --import tsx bench/ceiling.ts
	node --import tsx bench/memory.ts
	node --import tsx bench/webhook.ts
	node --import tsx bench/cli-start.ts
	node --import tsx bench/report.ts

# Memory and start-up on the real kube-apiserver v1.13.0 (issue 9): meshinit's RSS idle and with
# 10,000, 20,000 and 50,000 Deployments watched, and its time from start to ready, beside a bare
# `node -e` measured in the same run. Prints a table and writes bench/results/memory.json. About
# 15 minutes on 2 cores (creating 50,000 Deployments is about a minute of it).
bench-memory: deps
	@bash test/legacy-control-plane/build.sh v1.13.0
	npm run build --silent
	node --import tsx bench/memory.ts

# Webhook latency and throughput on the modern kube-apiserver (issue 9): the compiled meshinit in
# webhook mode beside a bare node:https server answering a constant AdmissionReview, same run, same
# load generator: p50/p99 at 500 req/s from the moment /readyz says ready (and in its first 2 s),
# latency vs offered load, and saturation with 32 keep-alive clients. Prints a table and writes
# bench/results/webhook.json. About 3.5 minutes. Flags of bench/webhook.ts (see its head): --rounds,
# --seconds, --rates, --clients, --distinct-pods (every Pod another ReplicaSet's), --cpu-prof DIR.
.PHONY: bench-cli
# Start time of the offline CLI (issue 12): `node bin/meshinit.js inject --help`, inject and
# explain -f of one Deployment, inject of a 1,000-document file, beside `node -e ''` in the same
# rounds (median of 11). No cluster needed; about a minute. Writes bench/results/cli-start.json;
# `node --import tsx bench/cli-start.ts --ref REF` adds the same commands built from REF.
bench-cli: deps
	npm run build --silent
	node --import tsx bench/cli-start.ts
	node --import tsx bench/report.ts

.PHONY: bench-webhook
bench-webhook: deps control-plane
	npm run build --silent
	node --import tsx bench/webhook.ts

# kube-apiserver, kube-controller-manager, kube-scheduler and etcd for the end-to-end tests and the
# demo, built from the Go modules pinned in test/control-plane/go.mod, and kwok (fake Node and Pod
# status, test/kwok/go.mod), cached under .cache/control-plane/ (or $MESHINIT_CONTROL_PLANE_DIR).
# Needs Go >= 1.26. Cold: about 16 minutes on 2 cores; when cached: a no-op.
control-plane:
	@bash test/control-plane/build.sh
	@bash test/kwok/build.sh

# The Initializer-era kube-apiservers v1.13.0 and v1.9.11 and etcd 3.4, built from Go modules only
# (see test/legacy-control-plane/README.md). Cold: about 5 minutes on 2 cores; when cached: a no-op.
legacy-control-plane:
	@bash test/legacy-control-plane/build.sh v1.13.0 v1.9.11

# helm, for the chart tests (charts/meshinit, test/e2e/helm-*.test.ts): built from the Go module pinned in
# test/helm/go.mod (go.sum checked in) and cached as .cache/control-plane/helm-VERSION/helm (or under
# $MESHINIT_CONTROL_PLANE_DIR). Needs Go >= 1.26. Cold: about 2 to 4 minutes on 2 cores; cached: a no-op.
helm:
	@bash test/helm/build.sh

# The chart carries copies of crds/ and of the monitoring files it renders (a chart can only read
# its own files); test/helm/chart-files.test.ts checks that they are identical. Run after changing
# a CRD, the alert rules or the dashboard.
chart-files:
	cp crds/meshconfig.v1.yaml crds/meshconfig.v1beta1.yaml charts/meshinit/files/
	cp manifests/monitoring/prometheusrule.yaml manifests/monitoring/grafana-dashboard.json charts/meshinit/files/

# The former name of chart-files.
chart-crds: chart-files

clean-control-plane:
	rm -rf "$${MESHINIT_CONTROL_PLANE_DIR:-.cache/control-plane}"
