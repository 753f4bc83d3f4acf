/**
 * Amounts of money as the gateway and the CLI show them (budgets, refusals): precise enough to
 * be true, so "$0.0009 left, less than this request may cost ($0.0015)" never reads "$0.00 left,
 * less than $0.00".
 */

/** Micro-dollars as dollars: whole cents as $5.00; otherwise 4 significant digits (at least 2 decimals): $0.0009000, $0.001100, $0.01234, $5.013, $123.46. */
export function formatMicroUsd(micro: number): string {
  const n = micro / 1e6;
  if (micro % 10_000 === 0) return `$${n.toFixed(2)}`;
  const magnitude = Math.floor(Math.log10(Math.abs(n))) + 1;
  return `$${n.toFixed(Math.min(9, Math.max(2, 4 - magnitude)))}`;
}
