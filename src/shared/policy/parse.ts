/**
 * Policy text (JSON or YAML) to a validated Policy, or a PolicyError naming each member at fault
 * and its line: `groups.contractors.budgets[0].period: must be "day" or "month"`.
 *
 * Both formats go through the `yaml` parser, which refuses duplicate keys (JSON.parse would keep
 * the last `"contractors"` silently: a reviewed file must mean what it shows) and bounds alias
 * expansion; a `.json` file must also be strict JSON. The structure is checked against
 * deploy/policy.schema.json with ajv (the same schema editors and CI use), then by the rules a
 * schema cannot express (semanticIssues). Warnings (allowed but probably unintended) come back
 * beside the policy.
 */
import { Ajv2020, type ErrorObject, type ValidateFunction } from "ajv/dist/2020.js";
import { isMap, isPair, isScalar, isSeq, LineCounter, parseDocument, type Document } from "yaml";
import schema from "../../../deploy/policy.schema.json" with { type: "json" };
import { PolicyError, type PolicyIssue } from "./errors.ts";
import type { Policy, PolicyBudget, PolicyRule } from "./types.ts";

/** Larger than any sensible policy (10,000 groups fit), small enough to read on every reload. */
export const MAX_POLICY_BYTES = 4 * 1024 * 1024;
const MAX_ALIASES = 100;
const MAX_ISSUES = 50;

export type PolicyFormat = "json" | "yaml";

export interface ParsedPolicy {
  policy: Policy;
  /** Allowed, but probably not meant (a group rule that allows every model, a duplicate pattern). */
  warnings: PolicyIssue[];
}

/** The format a file name implies: `.json` is JSON, anything else YAML (a superset of JSON). */
export function formatOf(path: string): PolicyFormat {
  return /\.json$/i.test(path) ? "json" : "yaml";
}

type Segment = string | number;

// ---- member names ----

const IDENTIFIER = /^[A-Za-z_$][A-Za-z0-9_$-]*$/;

function quoteKey(key: string): string {
  const short = key.length > 60 ? `${key.slice(0, 57)}...` : key;
  return `[${JSON.stringify(short)}]`;
}

/** `["groups", "contractors", "budgets", 0, "period"]` → `groups.contractors.budgets[0].period`. */
export function memberName(path: readonly Segment[]): string {
  if (path.length === 0) return "(policy)";
  let out = "";
  for (const segment of path) {
    if (typeof segment === "number") out += `[${segment}]`;
    else if (IDENTIFIER.test(segment) && segment.length <= 60) out += out === "" ? segment : `.${segment}`;
    else out += quoteKey(segment);
  }
  return out;
}

/** A JSON pointer of ajv's into segments, array indices as numbers (found by walking the data). */
function segmentsOf(pointer: string, data: unknown): Segment[] {
  if (pointer === "") return [];
  const segments: Segment[] = [];
  let at: unknown = data;
  for (const raw of pointer.slice(1).split("/")) {
    const key = raw.replaceAll("~1", "/").replaceAll("~0", "~");
    if (Array.isArray(at)) {
      segments.push(Number(key));
      at = at[Number(key)];
    } else {
      segments.push(key);
      at = at !== null && typeof at === "object" ? (at as Record<string, unknown>)[key] : undefined;
    }
  }
  return segments;
}

// ---- lines ----

type Locate = (path: readonly Segment[]) => number | undefined;

/** The 1-based line of a member in the YAML/JSON document (its key's line for a map entry). */
function locator(doc: Document, lines: LineCounter): Locate {
  return (path) => {
    let node: unknown = doc.contents;
    let offset: number | undefined = (node as { range?: [number] } | null)?.range?.[0];
    for (const segment of path) {
      if (isMap(node)) {
        const pair = node.items.find((p) => isPair(p) && isScalar(p.key) && String(p.key.value) === String(segment));
        if (!pair) break;
        offset = (pair.key as { range?: [number] }).range?.[0] ?? offset;
        node = pair.value;
      } else if (isSeq(node) && typeof segment === "number") {
        const item = node.items[segment] as { range?: [number] } | undefined;
        if (!item) break;
        offset = item.range?.[0] ?? offset;
        node = item;
      } else {
        break;
      }
    }
    return offset === undefined ? undefined : lines.linePos(offset).line;
  };
}

// ---- schema errors ----

let compiled: ValidateFunction | undefined;

function validator(): ValidateFunction {
  // strictTypes/strictRequired off: `{"required": ["usd"]}` branches name properties declared beside them, by design.
  compiled ??= new Ajv2020({ allErrors: true, verbose: true, strict: true, strictTypes: false, strictRequired: false, logger: false }).compile(schema);
  return compiled;
}

const TYPE_WORDS: Record<string, string> = { object: "an object", array: "a list", string: "a string", number: "a number", integer: "a whole number", boolean: "true or false", null: "null" };

const list = (words: string[], last: "or" | "and") => (words.length <= 1 ? words.join("") : `${words.slice(0, -1).join(", ")} ${last} ${words.at(-1)}`);

/** A `oneOf`/`anyOf` of `{"required": [x]}` branches, said in words. */
function alternatives(e: ErrorObject): string | undefined {
  const branches = e.schema as { required?: string[] }[];
  if (!Array.isArray(branches) || !branches.every((b) => Array.isArray(b.required) && b.required.length === 1)) return undefined;
  const names = branches.map((b) => b.required![0]!);
  return e.keyword === "oneOf" ? `needs exactly one of ${list(names, "or")}` : `needs at least one of ${list(names, "or")}`;
}

const GROUP_NAME = "is not a Cognito group name (1 to 128 characters, no spaces or control characters)";

function patternMessage(e: ErrorObject): string {
  if (e.schemaPath.includes("modelPattern")) return "must be a model id or pattern: letters, digits, . _ : / @ - and * (any run of characters) only";
  if (e.schemaPath.includes("groupName")) return GROUP_NAME;
  return `must match ${String(e.schema)}`;
}

/** One schema error in words, at the member it concerns; undefined for an error said by another. */
function describeSchemaError(e: ErrorObject, data: unknown): { path: Segment[]; message: string } | undefined {
  const path = segmentsOf(e.instancePath, data);
  const params = e.params as Record<string, unknown>;
  if (e.propertyName !== undefined) {
    // propertyNames (only group names have a rule): the sub-error is about the key itself
    return { path: [...path, e.propertyName], message: GROUP_NAME };
  }
  switch (e.keyword) {
    case "propertyNames":
      return undefined; // said by its sub-error
    case "required":
      return { path: [...path, String(params.missingProperty)], message: "is required" };
    case "additionalProperties": {
      if (path[0] === "default" && params.additionalProperty === "pool") return { path: [...path, "pool"], message: "is for groups only: `default` is the rule of people in no listed group, who share nothing" };
      const known = Object.keys((e.parentSchema as { properties?: object } | undefined)?.properties ?? {}).filter((k) => k !== "$schema");
      return { path: [...path, String(params.additionalProperty)], message: `is not a field here${known.length ? ` (expected ${list(known, "or")})` : ""}` };
    }
    case "enum":
      return { path, message: `must be ${list((params.allowedValues as unknown[]).map((v) => JSON.stringify(v)), "or")}` };
    case "const":
      return { path, message: `must be ${JSON.stringify(params.allowedValue)}` };
    case "type":
      return { path, message: `must be ${list(String(params.type).split(",").map((t) => TYPE_WORDS[t] ?? t), "or")}` };
    case "minimum":
      return { path, message: `must be at least ${String(params.limit)}` };
    case "exclusiveMinimum":
      return { path, message: `must be more than ${String(params.limit)}` };
    case "maximum":
      return { path, message: `must be at most ${String(params.limit)}` };
    case "minLength":
      return { path, message: Number(params.limit) === 1 ? "must not be empty" : `must be at least ${String(params.limit)} characters` };
    case "maxLength":
      return { path, message: `must be at most ${String(params.limit)} characters` };
    case "maxItems":
      return { path, message: `must have at most ${String(params.limit)} entries` };
    case "maxProperties":
      return { path, message: `must have at most ${String(params.limit)} entries` };
    case "pattern":
      return { path, message: patternMessage(e) };
    case "oneOf":
    case "anyOf":
      return { path, message: alternatives(e) ?? (e.message ?? "is not valid") };
    default:
      return { path, message: e.message ?? "is not valid" };
  }
}

function schemaIssues(data: unknown, locate: Locate): PolicyIssue[] {
  const validate = validator();
  if (validate(data)) return [];
  const errors = validate.errors ?? [];
  // the branches of a oneOf/anyOf are said by the oneOf/anyOf itself
  const combinators = errors.filter((e) => (e.keyword === "oneOf" || e.keyword === "anyOf") && alternatives(e) !== undefined).map((e) => `${e.instancePath}\n${e.schemaPath}/`);
  const issues: PolicyIssue[] = [];
  const seen = new Set<string>();
  for (const e of errors) {
    if (combinators.some((c) => `${e.instancePath}\n${e.schemaPath}`.startsWith(c))) continue;
    const described = describeSchemaError(e, data);
    if (!described) continue;
    const member = memberName(described.path);
    const key = `${member}\n${described.message}`;
    if (seen.has(key)) continue;
    seen.add(key);
    const line = locate(described.path);
    issues.push({ member, message: described.message, ...(line !== undefined ? { line } : {}) });
  }
  return issues;
}

// ---- what the schema cannot say ----

const unitOf = (b: PolicyBudget): "usd" | "tokens" => (b.usd !== undefined ? "usd" : "tokens");
const amountText = (b: PolicyBudget) => (b.usd !== undefined ? `$${b.usd}` : `${b.tokens} tokens`);
const periodWord = (b: PolicyBudget) => (b.period === "day" ? "daily" : "monthly");

function ruleIssues(rule: PolicyRule, at: Segment[], locate: Locate, issues: PolicyIssue[], warnings: PolicyIssue[]): void {
  const push = (into: PolicyIssue[], path: Segment[], message: string) => {
    const line = locate(path);
    into.push({ member: memberName(path), message, ...(line !== undefined ? { line } : {}) });
  };
  const budgets = rule.budgets ?? [];
  budgets.forEach((b, i) => {
    // the ledger counts micro-dollars
    if (b.usd !== undefined && Number(b.usd.toFixed(6)) !== b.usd) push(issues, [...at, "budgets", i, "usd"], "must have at most 6 decimals (the gateway counts micro-dollars)");
    const twin = budgets.findIndex((o, j) => j < i && o.period === b.period && unitOf(o) === unitOf(b) && Boolean(o.soft) === Boolean(b.soft) && Boolean(o.pool) === Boolean(b.pool));
    if (twin !== -1) push(issues, [...at, "budgets", i], `repeats budgets[${twin}]: a second ${b.soft ? "soft " : ""}${periodWord(b)} ${unitOf(b)} budget${b.pool ? " for the pool" : ""} (keep one)`);
    if (b.soft) {
      const hard = budgets.find((o) => !o.soft && o.period === b.period && unitOf(o) === unitOf(b) && Boolean(o.pool) === Boolean(b.pool));
      const amount = (x: PolicyBudget) => x.usd ?? x.tokens ?? 0;
      if (hard && amount(b) >= amount(hard)) push(issues, [...at, "budgets", i], `the soft budget (${amountText(b)}) is not below the hard ${periodWord(b)} budget (${amountText(hard)}): it would never warn before the hard one refuses`);
    }
  });
  if (at[0] === "groups") {
    if (rule.models === undefined) push(warnings, at, "has no `models`: its members may use every model (write models: [\"*\"] to say so)");
    else if (rule.models.length === 0) push(warnings, [...at, "models"], "is empty: this group adds no model to its members' set (they get the models of their other groups)");
  }
  rule.models?.forEach((pattern, i) => {
    if (rule.models!.indexOf(pattern) < i) push(warnings, [...at, "models", i], `repeats ${JSON.stringify(pattern)}`);
  });
}

function semanticIssues(policy: Policy, locate: Locate): { issues: PolicyIssue[]; warnings: PolicyIssue[] } {
  const issues: PolicyIssue[] = [];
  const warnings: PolicyIssue[] = [];
  for (const [name, rule] of Object.entries(policy.groups ?? {})) ruleIssues(rule, ["groups", name], locate, issues, warnings);
  if (policy.default) ruleIssues(policy.default, ["default"], locate, issues, warnings);
  return { issues, warnings };
}

// ---- entry points ----

/** Validates an already-parsed value (the `policy` object of a tenant's config). */
export function validatePolicy(value: unknown, origin: string, locate: Locate = () => undefined): ParsedPolicy {
  const issues = schemaIssues(value, locate);
  if (issues.length > 0) throw new PolicyError("policy_invalid", origin, issues.slice(0, MAX_ISSUES));
  const policy = value as Policy;
  const semantic = semanticIssues(policy, locate);
  if (semantic.issues.length > 0) throw new PolicyError("policy_invalid", origin, semantic.issues.slice(0, MAX_ISSUES));
  return { policy: deepFreeze(structuredClone(policy)), warnings: semantic.warnings };
}

/** Parses and validates policy text. `origin` names it in errors (a file path). */
export function parsePolicyText(text: string, origin: string, format: PolicyFormat = formatOf(origin)): ParsedPolicy {
  if (Buffer.byteLength(text, "utf8") > MAX_POLICY_BYTES) throw new PolicyError("policy_unreadable", origin, [{ member: "(policy)", message: `is larger than ${MAX_POLICY_BYTES} bytes` }]);
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, uniqueKeys: true, prettyErrors: false, strict: true });
  if (doc.errors.length > 0) {
    throw new PolicyError(
      "policy_syntax",
      origin,
      doc.errors.slice(0, MAX_ISSUES).map((e) => ({ member: "(policy)", message: syntaxMessage(e.code, e.message, format), line: lines.linePos(e.pos[0]).line })),
    );
  }
  if (format === "json") {
    try {
      JSON.parse(text);
    } catch (e) {
      throw new PolicyError("policy_syntax", origin, [{ member: "(policy)", message: `is not valid JSON (${(e as Error).message}); YAML belongs in a .yaml file` }]);
    }
  }
  let value: unknown;
  try {
    value = doc.toJS({ maxAliasCount: MAX_ALIASES });
  } catch (e) {
    throw new PolicyError("policy_syntax", origin, [{ member: "(policy)", message: (e as Error).message }]);
  }
  if (value === null || value === undefined) throw new PolicyError("policy_invalid", origin, [{ member: "(policy)", message: "is empty: a policy is an object with `groups` and/or `default`" }]);
  return validatePolicy(value, origin, locator(doc, lines));
}

function syntaxMessage(code: string, message: string, format: PolicyFormat): string {
  const first = message.split("\n")[0] ?? message;
  if (code === "DUPLICATE_KEY") return `${first} (each group and field once)`;
  // `- *` and `models: [*]` read as YAML aliases
  if (format === "yaml" && /alias/i.test(code + first)) return `${first} (quote a model pattern that starts with *: "*" or "*-haiku-*")`;
  return first;
}

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === "object") {
    for (const child of Object.values(value)) deepFreeze(child);
    Object.freeze(value);
  }
  return value;
}
