/**
 * A small argument parser driven by each command's option table (the same table renders
 * `--help` and the man page). Kept local so the `token` path loads nothing it does not need:
 * node:util's parseArgs (with tokens, to keep these messages) was measured slower on the cached
 * token path (hyperfine, file store, 100 runs: median 7.83 vs 7.19 ms, min 7.30 vs 6.76 ms).
 */
import { usageError } from "./errors.ts";

export interface OptionSpec {
  name: string;
  /** "flag" takes no value; "value" takes one; "list" may repeat. */
  kind: "flag" | "value" | "list";
  valueName?: string;
  description: string;
  short?: string;
}

export interface ParsedArgs {
  flags: Record<string, boolean>;
  values: Record<string, string>;
  lists: Record<string, string[]>;
  positionals: string[];
}

export function parseArgs(argv: string[], specs: OptionSpec[], command: string): ParsedArgs {
  const parsed: ParsedArgs = { flags: {}, values: {}, lists: {}, positionals: [] };
  const byName = new Map(specs.map((s) => [s.name, s]));
  const byShort = new Map(specs.filter((s) => s.short).map((s) => [s.short as string, s]));
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (arg === "--") {
      parsed.positionals.push(...argv.slice(i + 1));
      break;
    }
    let spec: OptionSpec | undefined;
    let inline: string | undefined;
    if (arg.startsWith("--")) {
      const eq = arg.indexOf("=");
      const name = eq === -1 ? arg.slice(2) : arg.slice(2, eq);
      inline = eq === -1 ? undefined : arg.slice(eq + 1);
      spec = byName.get(name);
      if (!spec) throw usageError(`unknown option --${name} for '${command}'`, `See: agent-runner-auth ${command} --help`);
    } else if (arg.length === 2 && arg.startsWith("-") && arg !== "-") {
      spec = byShort.get(arg.slice(1));
      if (!spec) throw usageError(`unknown option ${arg} for '${command}'`, `See: agent-runner-auth ${command} --help`);
    } else {
      parsed.positionals.push(arg);
      continue;
    }
    if (spec.kind === "flag") {
      if (inline !== undefined) throw usageError(`option --${spec.name} takes no value`);
      parsed.flags[spec.name] = true;
      continue;
    }
    const value = inline ?? argv[++i];
    if (value === undefined || (inline === undefined && value.startsWith("--"))) {
      throw usageError(`option --${spec.name} needs a value (${spec.valueName ?? "VALUE"})`);
    }
    if (spec.kind === "list") (parsed.lists[spec.name] ??= []).push(value);
    else parsed.values[spec.name] = value;
  }
  return parsed;
}

/** "300", "300s", "5m", "1h" -> milliseconds. */
export function parseDuration(option: string, text: string): number {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(text.trim());
  if (!match) throw usageError(`--${option} must be a duration like 30s, 5m or 1h, got "${text}"`);
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[(match[2] ?? "s") as "ms" | "s" | "m" | "h"];
  return Math.round(Number(match[1]) * unit);
}
