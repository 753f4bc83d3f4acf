#!/usr/bin/env bash
# `npm run bench`: builds the binary and runs both benchmarks (CLI with hyperfine, proxy with
# wrk and nginx). Results: bench/results/cli.md and bench/results/proxy.md.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/system-deps.sh
node_modules/.bin/bun scripts/build.ts
export BUN_CONFIG_MAX_HTTP_REQUESTS=65535
node_modules/.bin/bun bench/cli.ts
echo
node_modules/.bin/bun bench/proxy.ts
