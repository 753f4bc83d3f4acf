#!/usr/bin/env bash
# `npm run bench`: builds the binary and runs the benchmarks (CLI with hyperfine, policy
# resolution, the policy through the gateway, proxy with wrk and nginx, the admin console's API on a
# year of seeded usage). Results: bench/results/ cli.md, policy.md, policy-gateway.md, proxy.md, console.md.
#   bash bench/run.sh cli        the CLI benchmark only
#   bash bench/run.sh policy     stops after the policy ones
#   bash bench/run.sh proxy      the proxy benchmark only (headline and every target, ~12 min)
#   bash bench/run.sh headline   the gateway as shipped vs a bare Bun proxy vs nginx only (~3 min;
#                                bench/results/proxy-headline.md); BENCH_SLICES=12 for more slices
#   bash bench/run.sh console    the admin console's API only (bench/results/console.md)
#   bash bench/run.sh pool       the upstream pool's cost: its own in process (~1 min; bench/results/pool-inprocess.md),
#                                then an A/B through the gateway in one tree (~6 min; bench/results/pool-gateway.md)
set -euo pipefail
cd "$(dirname "$0")/.."
part="${1:-all}"
case "$part" in all | cli | policy | proxy | headline | console | pool) ;; *) echo "usage: bash bench/run.sh [cli|policy|proxy|headline|console|pool]" >&2; exit 2 ;; esac
bash scripts/system-deps.sh
if [ "$part" = console ]; then exec node_modules/.bin/bun bench/console-api.ts; fi
if [ "$part" = pool ]; then node_modules/.bin/bun bench/pool-inprocess.ts; exec node_modules/.bin/bun bench/pool-gateway.ts; fi
node_modules/.bin/bun scripts/build.ts
export BUN_CONFIG_MAX_HTTP_REQUESTS=65535
if [ "$part" = all ] || [ "$part" = cli ]; then node_modules/.bin/bun bench/cli.ts; fi
[ "$part" = cli ] && exit 0
echo
if [ "$part" = headline ]; then exec node_modules/.bin/bun bench/proxy.ts --headline; fi
if [ "$part" = all ] || [ "$part" = policy ]; then
  node_modules/.bin/bun bench/policy.ts
  echo
  node_modules/.bin/bun bench/policy-gateway.ts
  [ "$part" = policy ] && exit 0
  echo
fi
node_modules/.bin/bun bench/proxy.ts
echo
node_modules/.bin/bun bench/console-api.ts
