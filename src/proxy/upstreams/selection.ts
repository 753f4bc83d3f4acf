/**
 * The order in which a request tries the upstreams that can serve it. `failover`: the configured
 * order, so the first healthy upstream takes everything. `weighted`: drawn by weight without
 * replacement, so the first attempt spreads by weight and a failure moves to another upstream
 * drawn the same way; weight 0 means "only when the others failed", in configured order. The
 * random source is handed in (seeded in tests).
 */
import type { RoutingStrategy } from "./config.ts";

export function attemptOrder<T extends { readonly weight: number }>(members: readonly T[], strategy: RoutingStrategy, random: () => number): readonly T[] {
  if (strategy === "failover" || members.length < 2) return members;
  const drawn: T[] = [];
  const pool = members.filter((m) => m.weight > 0);
  let total = pool.reduce((sum, m) => sum + m.weight, 0);
  while (pool.length > 0) {
    let point = random() * total;
    let index = pool.findIndex((m) => (point -= m.weight) < 0);
    if (index === -1) index = pool.length - 1; // rounding at the very top of the range
    const [member] = pool.splice(index, 1) as [T];
    total -= member.weight;
    drawn.push(member);
  }
  return [...drawn, ...members.filter((m) => m.weight <= 0)];
}
