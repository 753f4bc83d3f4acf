/** How the console writes numbers: exact where they are compared (tables), short where they are glanced at (cards, axes). */
import { formatMicroUsd } from "../../../shared/money.ts";

const grouped = new Intl.NumberFormat("en-US");
const dollars = new Intl.NumberFormat("en-US", { style: "currency", currency: "USD", minimumFractionDigits: 2, maximumFractionDigits: 2 });
const compactFormat = new Intl.NumberFormat("en-US", { notation: "compact", maximumFractionDigits: 1 });

export const int = (n: number) => grouped.format(n);
export const compact = (n: number) => compactFormat.format(n);

/** Micro-dollars: cents from a dollar up ($1,234.57), else enough digits to be true ($0.0123). */
export function money(micro: number): string {
  if (micro === 0) return "$0.00";
  return Math.abs(micro) >= 1_000_000 ? dollars.format(micro / 1e6) : formatMicroUsd(micro);
}

/** A model's cost in the chart's legend, or "unpriced" when none of its requests had a price (its $0 is not free). */
export function legendValue(costMicroUsd: number, unpriced: boolean): string {
  return unpriced && costMicroUsd === 0 ? "unpriced" : money(costMicroUsd);
}

export const percent = (x: number) => (Number.isFinite(x) ? `${(x * 100).toFixed(x < 0.1 ? 1 : 0)}%` : "over");

/** a against b as "+12%" / "−5%" (nothing to compare with: ""). */
export function change(a: number, b: number): string {
  if (b === 0) return "";
  const d = (a - b) / b;
  return `${d >= 0 ? "+" : "\u2212"}${Math.abs(d * 100).toFixed(0)}%`;
}

export const dateTime = (isoTime: string) => new Date(isoTime).toLocaleString("en-GB", { dateStyle: "medium", timeStyle: "short", timeZone: "UTC" }) + " UTC";

export function amount(unit: "usd" | "tokens", value: number): string {
  return unit === "usd" ? money(value) : `${int(value)} tokens`;
}
