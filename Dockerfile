# syntax=docker/dockerfile:1
# meshinit controller image: ghcr.io/meshinit/meshinit:<version>
#   docker build -t ghcr.io/meshinit/meshinit:0.1.0 .

# --- build: compile TypeScript (tsc -p tsconfig.build.json -> dist/) ---
FROM node:20-bookworm-slim AS build
WORKDIR /src
COPY package.json package-lock.json ./
# --ignore-scripts: the package's `prepare` script compiles, and the sources are not copied yet.
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY controller ./controller
RUN npm run build

# --- deps: production dependencies only; none of them needs an install script, and `prepare`
# (tsc) cannot run without the dev dependencies ---
FROM node:20-bookworm-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund && npm cache clean --force

# --- runtime ---
FROM node:20-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /src/dist ./dist
COPY package.json ./
# bin/meshinit.js is the launcher; it imports the compiled entry point from dist/controller/.
COPY bin ./bin
# The built-in default MeshConfig of `meshinit inject`, at the same path relative to the package
# root as in the repository.
COPY manifests/meshconfig-sample.yaml ./manifests/meshconfig-sample.yaml
# Any numeric non-root uid works (the Deployment runs it as 65532 with a read-only root fs);
# nothing under /app is written at run time.
USER 65532:65532
# 9090: health and readiness; 8443: the webhook (webhook mode).
EXPOSE 9090 8443
# node runs as PID 1, where signals have no default action: meshinit handles SIGTERM/SIGINT itself
# (finishes in-flight work, then exits 0).
ENTRYPOINT ["node", "bin/meshinit.js"]
