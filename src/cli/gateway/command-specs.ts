/**
 * The option tables of `admin …` and `usage` (issue 13 §5), as data only: commands/registry.ts
 * includes them in every command's --help, the man page and the completions, so this module must
 * stay free of run-time imports (the registry is loaded on the `token` path).
 */
import type { OptionSpec } from "../args.ts";

/** The shape of commands/registry.ts's CommandSpec (structurally), plus where it sits under `admin`. */
export interface GatewayCommandSpec {
  /** Words after the program name: ["admin", "budget", "set"]. */
  path: string[];
  name: string;
  summary: string;
  usage: string;
  description: string;
  options: OptionSpec[];
}

export const ADMIN_KEY_FILE_OPTION: OptionSpec = {
  name: "admin-key-file",
  kind: "value",
  valueName: "FILE",
  description: "authenticate with the admin key in FILE (automation) instead of your own sign-in; the key is never taken from the command line",
};
/** For automation without a profile: where to send the admin key (only with --admin-key-file). */
export const TENANT_URL_OPTION: OptionSpec = {
  name: "tenant-url",
  kind: "value",
  valueName: "URL",
  description: "the tenant (https://<slug>.proxy.<domain>) when using --admin-key-file without a profile (default: the profile's)",
};
const JSON_OPTION: OptionSpec = { name: "json", kind: "flag", description: "print JSON on stdout" };
const KIND_OPTION: OptionSpec = { name: "kind", kind: "value", valueName: "sub|username|email", description: "what --user names, when it must not match the other two (e.g. a username that looks like someone else's e-mail)" };
const SUBJECT_OPTIONS: OptionSpec[] = [
  { name: "user", kind: "value", valueName: "U", description: "a person: their sub, username or e-mail, whichever the value is (the answer says whom it matched)" },
  KIND_OPTION,
  { name: "group", kind: "value", valueName: "G", description: "a Cognito group" },
  { name: "tenant", kind: "flag", description: "the whole tenant" },
];
const PERIOD_OPTION: OptionSpec = { name: "period", kind: "value", valueName: "day|month", description: "the budget's period (UTC days, calendar months)" };
const TARGET_OPTIONS: OptionSpec[] = [
  { name: "user", kind: "value", valueName: "U", description: "a person: whoever has U as sub, username or e-mail (the answer lists the people it matched)" },
  KIND_OPTION,
  { name: "session", kind: "value", valueName: "ORIGIN_JTI", description: "one sign-in (the origin_jti claim of its tokens)" },
];
const ADMIN = (rest: string) => `agent-runner-auth admin ${rest} [--admin-key-file FILE] [options]`;
const ADMIN_AUTH = "Authenticated by your own sign-in when you are in one of the tenant's admin groups, or by --admin-key-file.";

export const GATEWAY_COMMANDS: GatewayCommandSpec[] = [
  {
    path: ["admin", "usage"],
    name: "admin usage",
    summary: "usage and cost per person, group, model, day or upstream",
    usage: ADMIN("usage [--since YYYY-MM-DD] [--until YYYY-MM-DD] [--by user|group|model|day|upstream] [--json|--csv]"),
    description: `Reads the gateway's usage ledger: requests, input, output, cache write and cache read tokens, and cost in USD. Dates are UTC days, both inclusive; default from the 1st of this month to today. A table on a terminal, JSON rows with --json, CSV (for a spreadsheet) with --csv. ${ADMIN_AUTH}`,
    options: [
      { name: "since", kind: "value", valueName: "YYYY-MM-DD", description: "first day (default: the 1st of this month)" },
      { name: "until", kind: "value", valueName: "YYYY-MM-DD", description: "last day (default: today, UTC)" },
      { name: "by", kind: "value", valueName: "user|group|model|day|upstream", description: "one row per person (default), group, model, day or upstream (the pool member that served)" },
      JSON_OPTION,
      { name: "csv", kind: "flag", description: "print CSV on stdout" },
      ADMIN_KEY_FILE_OPTION,
      TENANT_URL_OPTION,
    ],
  },
  {
    path: ["admin", "budget", "set"],
    name: "admin budget set",
    summary: "set a daily or monthly budget in USD or tokens",
    usage: ADMIN("budget set (--user U [--kind K] | --group G | --tenant) --period day|month (--usd N | --tokens N) [--soft]"),
    description: `A hard budget refuses requests once used up (Claude Code shows which budget and when it resets); a soft one only warns. Setting a budget again replaces it. --user matches whoever has U as sub, username or e-mail; with --kind, the one person seen with that identifier (by their sub). The answer lists whom it matches. ${ADMIN_AUTH}`,
    options: [...SUBJECT_OPTIONS, PERIOD_OPTION, { name: "usd", kind: "value", valueName: "N", description: "the budget in US dollars" }, { name: "tokens", kind: "value", valueName: "N", description: "the budget in tokens (all kinds)" }, { name: "soft", kind: "flag", description: "warn, never refuse" }, JSON_OPTION, ADMIN_KEY_FILE_OPTION, TENANT_URL_OPTION],
  },
  {
    path: ["admin", "budget", "clear"],
    name: "admin budget clear",
    summary: "remove a budget",
    usage: ADMIN("budget clear (--user U [--kind K] | --group G | --tenant) --period day|month [--unit usd|tokens]"),
    description: `Removes the budget of that subject and period (both units unless --unit); for --user, the budgets set under any identifier of the people U matches. ${ADMIN_AUTH}`,
    options: [...SUBJECT_OPTIONS, PERIOD_OPTION, { name: "unit", kind: "value", valueName: "usd|tokens", description: "only the budget in this unit" }, JSON_OPTION, ADMIN_KEY_FILE_OPTION, TENANT_URL_OPTION],
  },
  { path: ["admin", "budget", "list"], name: "admin budget list", summary: "list the budgets", usage: ADMIN("budget list"), description: `Every budget of the tenant. ${ADMIN_AUTH}`, options: [JSON_OPTION, ADMIN_KEY_FILE_OPTION, TENANT_URL_OPTION] },
  {
    path: ["admin", "limit", "set"],
    name: "admin limit set",
    summary: "set requests and tokens per minute",
    usage: ADMIN("limit set (--user U [--kind K] | --group G | --tenant) [--rpm N] [--tpm N]"),
    description: `Over the limit, requests get 429 with retry-after, and Claude Code waits and retries. ${ADMIN_AUTH}`,
    options: [...SUBJECT_OPTIONS, { name: "rpm", kind: "value", valueName: "N", description: "requests per minute" }, { name: "tpm", kind: "value", valueName: "N", description: "tokens per minute" }, JSON_OPTION, ADMIN_KEY_FILE_OPTION, TENANT_URL_OPTION],
  },
  { path: ["admin", "limit", "clear"], name: "admin limit clear", summary: "remove a rate limit (the tenant's defaults apply again)", usage: ADMIN("limit clear (--user U [--kind K] | --group G | --tenant)"), description: `For --user, the limits set under any identifier of the people U matches. ${ADMIN_AUTH}`, options: [...SUBJECT_OPTIONS, JSON_OPTION, ADMIN_KEY_FILE_OPTION, TENANT_URL_OPTION] },
  { path: ["admin", "limit", "list"], name: "admin limit list", summary: "list the rate limits", usage: ADMIN("limit list"), description: ADMIN_AUTH, options: [JSON_OPTION, ADMIN_KEY_FILE_OPTION, TENANT_URL_OPTION] },
  {
    path: ["admin", "revoke"],
    name: "admin revoke",
    summary: "cut off a person or one sign-in at the gateway within seconds",
    usage: ADMIN("revoke (--user U [--kind K] | --session ORIGIN_JTI) [--reason TEXT]"),
    description: `Every replica refuses their access tokens (401, "access withdrawn by an administrator") within about a second, until the longest token lifetime has passed. --user U matches whoever has U as sub, username or e-mail (--kind: only that one); the answer lists the people the gateway has seen under it. When it has seen nobody by that name, it says so and revokes anyway: it applies when they first appear. Disable the person in Cognito too, so no new tokens are issued. ${ADMIN_AUTH}`,
    options: [...TARGET_OPTIONS, { name: "reason", kind: "value", valueName: "TEXT", description: "kept with the revocation (at most 500 characters)" }, JSON_OPTION, ADMIN_KEY_FILE_OPTION, TENANT_URL_OPTION],
  },
  {
    path: ["admin", "restore"],
    name: "admin restore",
    summary: "undo a revocation",
    usage: ADMIN("restore (--user U [--kind K] | --session ORIGIN_JTI)"),
    description: `Lifts every revocation of the people U matches, under any of their identifiers (sub, username, e-mail), and of U itself; prints what was lifted, or that nothing was in force. ${ADMIN_AUTH}`,
    options: [...TARGET_OPTIONS, JSON_OPTION, ADMIN_KEY_FILE_OPTION, TENANT_URL_OPTION],
  },
  { path: ["admin", "revocations"], name: "admin revocations", summary: "list the revocations in force", usage: ADMIN("revocations"), description: ADMIN_AUTH, options: [JSON_OPTION, ADMIN_KEY_FILE_OPTION, TENANT_URL_OPTION] },
  {
    path: ["admin", "audit"],
    name: "admin audit",
    summary: "who changed what: budgets, limits, revocations, policy reloads, directory offboarding",
    usage: ADMIN("audit [--since YYYY-MM-DD] [--json|--csv]"),
    description: `The tenant's audit log, oldest first: the time, who (a person, or "admin key" and the first 8 hex of the key's SHA-256), the action, its target, the old and new values, and the request id. Every change made through the admin API or this CLI is recorded, on every replica's shared store, and so are policy reloads and the sessions the directory ended; nothing in the API edits or deletes a row, and rows are kept 400 days. A table on a terminal, JSON rows with --json, CSV with --csv. ${ADMIN_AUTH}`,
    options: [{ name: "since", kind: "value", valueName: "YYYY-MM-DD", description: "from this day on (UTC; default: everything kept)" }, JSON_OPTION, { name: "csv", kind: "flag", description: "print CSV on stdout" }, ADMIN_KEY_FILE_OPTION, TENANT_URL_OPTION],
  },
  {
    path: ["admin", "policy", "show"],
    name: "admin policy show",
    summary: "the tenant policy the gateway enforces now, with its hash",
    usage: ADMIN("policy show [--json]"),
    description: `Asks the gateway (one replica) for the policy in force: its hash (compare it with 'agent-runner-auth admin policy check FILE' and /readyz on each replica), the file it came from and when it was applied, and each group's models, budgets and limits. ${ADMIN_AUTH}`,
    options: [JSON_OPTION, ADMIN_KEY_FILE_OPTION, TENANT_URL_OPTION],
  },
  {
    path: ["admin", "policy", "explain"],
    name: "admin policy explain",
    summary: "what one person may use and spend, and where each rule comes from",
    usage: ADMIN("policy explain --user U [--kind K] [--json]"),
    description: `The person's groups (from the last token the gateway saw of theirs), the models they may use, and every budget and rate limit that applies to them, each with its source: a policy group, the policy's default, the admin API, or the gateway's configuration. Every budget must fit and every limit holds. ${ADMIN_AUTH}`,
    options: [{ name: "user", kind: "value", valueName: "U", description: "the person: their sub, username or e-mail" }, KIND_OPTION, JSON_OPTION, ADMIN_KEY_FILE_OPTION, TENANT_URL_OPTION],
  },
  {
    path: ["usage"],
    name: "usage",
    summary: "your use of the gateway today and this month, and what is left of your budgets",
    usage: "agent-runner-auth usage [--json | --status-line] [options]",
    description:
      "Asks the tenant's gateway for your own figures (your sign-in is enough). --status-line prints one short line for Claude Code's statusLine setting, from a cache refreshed at most once a minute; it never fails and never opens a browser.",
    options: [JSON_OPTION, { name: "status-line", kind: "flag", description: "one line for Claude Code's statusLine (cached, never fails)" }],
  },
];

export function gatewayCommand(path: string[]): GatewayCommandSpec | undefined {
  return GATEWAY_COMMANDS.find((c) => c.path.length === path.length && c.path.every((w, i) => w === path[i]));
}
