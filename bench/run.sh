#!/usr/bin/env bash
# `npm run bench`: builds the binary and runs the benchmarks (CLI with hyperfine, proxy with
# wrk and nginx, the admin console's API on a year of seeded usage). Results: bench/results/cli.md,
# bench/results/proxy.md, bench/results/console.md.
# `bash bench/run.sh cli` runs the CLI benchmark only; `bash bench/run.sh console` the console's only.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/system-deps.sh
if [ "${1:-}" = console ]; then exec node_modules/.bin/bun bench/console-api.ts; fi
node_modules/.bin/bun scripts/build.ts
export BUN_CONFIG_MAX_HTTP_REQUESTS=65535
node_modules/.bin/bun bench/cli.ts
[ "${1:-}" = cli ] && exit 0
echo
node_modules/.bin/bun bench/proxy.ts
echo
node_modules/.bin/bun bench/console-api.ts
