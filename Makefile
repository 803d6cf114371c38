# Repository tasks. `make demo` and `make test` are the README's two commands; both install what
# they need (npm packages from package-lock.json, kube-apiserver and etcd from Go modules).

.PHONY: demo test unit e2e deps control-plane clean-control-plane

# npm ci when package-lock.json is newer than the last install (npm ci rewrites this file). The
# package's "prepare" script builds dist/ as part of it.
node_modules/.package-lock.json: package-lock.json package.json
	npm ci --no-audit --no-fund

deps: node_modules/.package-lock.json

# meshinit on a real kube-apiserver: install, inject the example workloads, tail the log until
# Ctrl-C, tear down. The first run builds the control plane (about 12 minutes on 2 cores).
demo: deps control-plane
	npm run build --silent
	node --import tsx demo/demo.ts

# Everything CI runs: unit tests (typecheck, lint, build, mocha), then the end-to-end tests.
test: unit e2e

unit: deps
	npm test

e2e: deps control-plane
	npm run build --silent
	npm run test:e2e

# kube-apiserver and etcd for the end-to-end tests and the demo, built from the Go modules pinned
# in test/control-plane/go.mod and cached under .cache/control-plane/ (or
# $MESHINIT_CONTROL_PLANE_DIR). Needs Go >= 1.26. Cold: about 12 minutes; when cached: a no-op.
control-plane:
	@bash test/control-plane/build.sh

clean-control-plane:
	rm -rf "$${MESHINIT_CONTROL_PLANE_DIR:-.cache/control-plane}"
