#!/usr/bin/env bash
# `npm run bench`: builds the binary and runs both benchmarks (CLI with hyperfine, proxy with
# wrk and nginx). Results: bench/results/cli.md and bench/results/proxy.md.
# `bash bench/run.sh cli` runs the CLI benchmark only.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/system-deps.sh
node_modules/.bin/bun scripts/build.ts
export BUN_CONFIG_MAX_HTTP_REQUESTS=65535
node_modules/.bin/bun bench/cli.ts
[ "${1:-}" = cli ] && exit 0
echo
node_modules/.bin/bun bench/proxy.ts
