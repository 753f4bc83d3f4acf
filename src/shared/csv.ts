/**
 * CSV for spreadsheets (RFC 4180, CRLF): a field that starts with =, +, -, @, a tab or a CR is
 * prefixed with ' so a spreadsheet shows it instead of running it as a formula (CSV injection).
 * Numbers are written as they are.
 */
export function csvField(v: string | number | boolean | null | undefined): string {
  if (v === null || v === undefined) return "";
  let s = String(v);
  if (typeof v === "string" && /^[=+\-@\t\r]/.test(s)) s = `'${s}`;
  return /[",\r\n]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s;
}

export function toCsv(columns: readonly string[], rows: readonly (readonly (string | number | boolean | null | undefined)[])[]): string {
  return [columns.map(csvField).join(","), ...rows.map((r) => r.map(csvField).join(","))].join("\r\n") + "\r\n";
}
