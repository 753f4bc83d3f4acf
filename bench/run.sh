#!/usr/bin/env bash
# `npm run bench`: builds the binary and runs the benchmarks (CLI with hyperfine, policy
# resolution, the policy through the gateway, proxy with wrk and nginx). Results: bench/results/
# cli.md, policy.md, policy-gateway.md and proxy.md.
# `bash bench/run.sh cli` runs the CLI benchmark only; `policy` stops after the policy ones.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/system-deps.sh
node_modules/.bin/bun scripts/build.ts
export BUN_CONFIG_MAX_HTTP_REQUESTS=65535
node_modules/.bin/bun bench/cli.ts
[ "${1:-}" = cli ] && exit 0
echo
node_modules/.bin/bun bench/policy.ts
echo
node_modules/.bin/bun bench/policy-gateway.ts
[ "${1:-}" = policy ] && exit 0
echo
node_modules/.bin/bun bench/proxy.ts
