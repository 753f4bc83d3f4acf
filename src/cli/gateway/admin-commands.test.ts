import { describe, expect, test } from "bun:test";
import { parseArgs } from "../args.ts";
import { CliError, ExitCode } from "../errors.ts";
import { GATEWAY_COMMANDS, gatewayCommand, parseAdminCommand, parseUsageCommand, renderAdmin, renderUsageCommand, runAdmin, type AdminRequest } from "./admin-commands.ts";
import type { AdminClient } from "./client.ts";
import type { MyUsage, UsageReportRow } from "../../shared/gateway-api.ts";
import { csvForOutput, renderUsageReport, statusLineFor, tightestBudget } from "./usage-view.ts";

/** What the command layer will do: the option table parses argv, then the pure parser. */
function parse(line: string): AdminRequest {
  const words = line.split(" ");
  const spec = GATEWAY_COMMANDS.filter((c) => c.path[0] === "admin" && c.path.slice(1).every((w, i) => words[i] === w)).sort((a, b) => b.path.length - a.path.length)[0]!;
  const args = parseArgs(words.slice(spec.path.length - 1), spec.options, spec.name);
  return parseAdminCommand(spec.path.slice(1), args);
}

function usageFailure(line: string): CliError {
  try {
    parse(line);
  } catch (e) {
    expect(e).toBeInstanceOf(CliError);
    expect((e as CliError).exitCode).toBe(ExitCode.usage);
    return e as CliError;
  }
  throw new Error(`accepted: ${line}`);
}

describe("option tables", () => {
  test("every command has a path, a usage line and unique option names in the OptionSpec shape", () => {
    for (const c of GATEWAY_COMMANDS) {
      expect(c.usage).toStartWith(`agent-runner-auth ${c.path.join(" ")}`);
      expect(new Set(c.options.map((o) => o.name)).size).toBe(c.options.length);
      for (const o of c.options) expect(["flag", "value", "list"]).toContain(o.kind);
      if (c.path[0] === "admin") expect(c.options.map((o) => o.name)).toContain("admin-key-file");
    }
    expect(gatewayCommand(["admin", "budget", "set"])?.name).toBe("admin budget set");
  });
});

describe("parsing the issue's forms", () => {
  test("admin usage", () => {
    expect(parse("usage")).toEqual({ op: "usage", output: "table", query: { by: "user", format: "json" } });
    expect(parse("usage --since 2026-11-01 --until 2026-11-29 --by model --csv")).toEqual({ op: "usage", output: "csv", query: { since: "2026-11-01", until: "2026-11-29", by: "model", format: "csv" } });
    expect(parse("usage --by day --json")).toMatchObject({ output: "json", query: { by: "day", format: "json" } });
    expect(usageFailure("usage --json --csv").message).toContain("one of --json or --csv");
    expect(usageFailure("usage --since 2026-02-30").message).toContain("YYYY-MM-DD");
    expect(usageFailure("usage --since 2026-11-02 --until 2026-11-01").message).toContain("after");
    expect(usageFailure("usage --by person").message).toContain("user, group, model, day or upstream");
  });

  test("admin budget set|clear|list", () => {
    expect(parse("budget set --user alice --period day --usd 5")).toEqual({ op: "budget-set", json: false, budget: { subject: { user: "alice" }, period: "day", soft: false, usd: 5 } });
    expect(parse("budget set --group developers --period month --tokens 5000000 --soft --json")).toEqual({ op: "budget-set", json: true, budget: { subject: { group: "developers" }, period: "month", soft: true, tokens: 5000000 } });
    expect(parse("budget clear --tenant --period month --unit usd")).toEqual({ op: "budget-clear", json: false, selector: { subject: { tenant: true }, period: "month", unit: "usd" } });
    expect(parse("budget list")).toEqual({ op: "budget-list", json: false });
    expect(usageFailure("budget set --user a --group g --period day --usd 5").message).toContain("exactly one of --user");
    expect(usageFailure("budget set --user a --period week --usd 5").message).toContain("day or month");
    expect(usageFailure("budget set --user a --period day").message).toContain("--usd N or --tokens N");
    expect(usageFailure("budget set --user a --period day --usd 5 --tokens 9").message).toContain("exactly one of --usd");
    expect(usageFailure("budget set --user a --period day --usd -5").message).toContain("amount in US dollars");
    expect(usageFailure("budget set --user a --period day --tokens 1.5").message).toContain("whole number");
    expect(usageFailure("budget clear --user a").message).toContain("--period");
  });

  test("admin limit set|clear", () => {
    expect(parse("limit set --user bob --rpm 10")).toEqual({ op: "limit-set", json: false, limit: { subject: { user: "bob" }, rpm: 10 } });
    expect(parse("limit set --group g --rpm 10 --tpm 400000")).toMatchObject({ limit: { rpm: 10, tpm: 400000 } });
    expect(parse("limit clear --group g")).toEqual({ op: "limit-clear", json: false, subject: { group: "g" } });
    expect(usageFailure("limit set --user bob").message).toContain("--rpm N, --tpm N");
    expect(usageFailure("limit set --user bob --rpm ten").message).toContain("whole number");
    // --kind says what --user is, for budgets and limits too
    expect(parse("limit set --user bob@example.com --kind username --rpm 3")).toMatchObject({ limit: { subject: { user: "bob@example.com", kind: "username" } } });
    expect(parse("budget clear --user s-1 --kind sub --period day")).toMatchObject({ selector: { subject: { user: "s-1", kind: "sub" } } });
    expect(usageFailure("limit set --group g --kind email --rpm 3").message).toContain("--kind is sub, username or email, and goes with --user");
    expect(usageFailure("budget set --user a --kind phone --period day --usd 1").message).toContain("--kind is sub, username or email");
  });

  test("admin revoke|restore", () => {
    expect(parse("revoke --user bob@example.com --reason left")).toEqual({ op: "revoke", json: false, target: { user: "bob@example.com", reason: "left" } });
    expect(parse("revoke --user bob --kind username")).toEqual({ op: "revoke", json: false, target: { user: "bob", kind: "username" } });
    expect(parse("restore --session 0f9e8d7c-1111")).toEqual({ op: "restore", json: false, target: { session: "0f9e8d7c-1111" } });
    expect(usageFailure("revoke --user a --session b").message).toContain("exactly one of --user U or --session");
    expect(usageFailure("revoke").message).toContain("exactly one");
    expect(usageFailure("revoke --session s --kind sub").message).toContain("--kind");
    expect(usageFailure("restore --user a --reason x").message).toContain("unknown option --reason");
  });

  test("names with control characters are refused, and shown inert", () => {
    const e = usageFailure("budget set --user a\u001b[2Jb --period day --usd 1");
    expect(e.message).not.toContain("\u001b");
  });

  test("usage (self-service)", () => {
    const spec = gatewayCommand(["usage"])!;
    expect(parseUsageCommand(parseArgs([], spec.options, "usage"))).toEqual({ output: "view" });
    expect(parseUsageCommand(parseArgs(["--status-line"], spec.options, "usage"))).toEqual({ output: "status-line" });
    expect(() => parseUsageCommand(parseArgs(["--json", "--status-line"], spec.options, "usage"))).toThrow(CliError);
  });
});

const F = { requests: 12, input_tokens: 310, output_tokens: 5120, cache_creation_input_tokens: 2048, cache_creation_5m_input_tokens: 2048, cache_creation_1h_input_tokens: 0, cache_read_input_tokens: 181000, web_search_requests: 0, cost_usd: 0.1432, unpriced_requests: 0 };

describe("rendering", () => {
  test("the usage table: aligned columns, a total, a hostile name inert", () => {
    const rows: UsageReportRow[] = [
      { key: "alice@example.com", sub: "s-a", ...F },
      { key: "mallory\u001b]52;c;ZXZpbA==\u0007\u202e", sub: "s-m", ...F, requests: 1, cost_usd: 12.5, unpriced_requests: 1 },
    ];
    const text = renderUsageReport(rows, "user");
    const lines = text.trimEnd().split("\n");
    expect(lines[0]).toMatch(/^USER\s+REQUESTS\s+INPUT\s+OUTPUT\s+CACHE WRITE\s+CACHE READ\s+COST$/);
    expect(lines[1]).toContain("181,000");
    expect(lines[3]).toMatch(/^TOTAL\s+13\s/);
    expect(lines[3]).toContain("$12.64*");
    // every table line is as wide as the header's columns: the COST column ends at the same place
    const widths = lines.slice(0, 4).map((l) => l.length);
    expect(new Set(widths.slice(1)).size).toBe(1);
    expect(text).not.toMatch(/[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u202a-\u202e]/);
    expect(text).toContain("\\x1b]52");
    expect(text).toContain("* 1 request of models without a price");
    expect(renderUsageReport([], "day")).toBe("No usage in this period.\n");
    // by group: no total (a request counts under each of its groups); "" is the no-group row
    const groups = renderUsageReport([{ key: "", ...F }, { key: "developers", ...F }], "group");
    expect(groups).toContain("(no group)");
    expect(groups).not.toContain("TOTAL");
  });

  test("CSV passthrough keeps CRLF records and makes anything else inert", () => {
    const csv = 'user,sub,requests\r\n"evil\u001b[2J\nname",s,1\r\n';
    const out = csvForOutput(csv);
    expect(out.split("\r\n")).toHaveLength(3);
    expect(out).not.toContain("\u001b");
    expect(out).toContain("\\x1b[2J\\x0aname");
  });

  test("runAdmin + renderAdmin: confirmations on stderr, data and --json on stdout", async () => {
    const client = {
      setBudget: async (b) => ({ subject: b.subject, period: b.period, unit: "usd", limit: 5, soft: false }),
      usage: async (q) => ({ format: "json", by: q.by ?? "user", rows: [{ key: "alice", sub: "s-a", ...F }] }),
      listRevocations: async () => [],
    } as Partial<AdminClient> as AdminClient;
    const set = parse("budget set --user alice --period day --usd 5");
    expect(renderAdmin(set, await runAdmin(client, set))).toEqual({ stdout: "", stderr: "Budget set: user alice, daily, $5.00.\n" });
    const usage = parse("usage --json");
    const rendered = renderAdmin(usage, await runAdmin(client, usage));
    expect(JSON.parse(rendered.stdout)).toEqual([{ user: "alice", sub: "s-a", ...F }]);
    const revs = parse("revocations");
    expect(renderAdmin(revs, await runAdmin(client, revs)).stdout).toBe("No revocations in force.\n");
  });

  const at = "2026-11-29T10:00:00.000Z";
  const until = "2026-11-29T11:01:00.000Z";
  const dev = { sub: "s-dev", username: "dev@example.com", email: "dev.other@example.com", display_name: "dev.other@example.com", matched_by: ["username" as const], last_seen: at };

  test("revoke prints whom the gateway matched, never a guess; nobody seen: its note, and that it waits for them", async () => {
    const revoke = parse("revoke --user dev@example.com");
    const matched = { revoke: async () => ({ kind: "user" as const, value: "dev@example.com", at, until, matched: [dev], revocations: [] }) } as Partial<AdminClient> as AdminClient;
    expect(renderAdmin(revoke, await runAdmin(matched, revoke)).stderr).toBe(
      "Revoked user (any of sub, username, e-mail) dev@example.com until 2026-11-29 11:01 UTC. It matches 1 person seen by the gateway:\n  username dev@example.com, e-mail dev.other@example.com, sub s-dev; matched by username; last seen 2026-11-29 10:00 UTC\nEvery replica refuses their tokens within about a second.\n",
    );
    const note = "no token seen for new@example.com: no person whose sub, username or e-mail is new@example.com has used this gateway yet; revoked anyway: it applies when they first appear";
    const nobody = { revoke: async () => ({ kind: "user" as const, value: "new@example.com", at, until, matched: [], note }) } as Partial<AdminClient> as AdminClient;
    const said = renderAdmin(revoke, await runAdmin(nobody, revoke)).stderr;
    expect(said).toBe(`${note} (until 2026-11-29 11:01 UTC).\n`);
    expect(said).not.toContain("refuses their tokens");
    // an older gateway that does not say whom it matched: no claim either way
    const older = { revoke: async () => ({ kind: "email" as const, value: "dev@example.com", at, until }) } as Partial<AdminClient> as AdminClient;
    expect(renderAdmin(revoke, await runAdmin(older, revoke)).stderr).toContain("does not say whom this matched");
    const json = renderAdmin(parse("revoke --user dev@example.com --json"), await runAdmin(matched, revoke));
    expect(JSON.parse(json.stdout)).toMatchObject({ matched: [{ sub: "s-dev", matched_by: ["username"] }] });
  });

  test("restore prints what was lifted, or that nothing was in force", async () => {
    const restore = parse("restore --user dev.other@example.com");
    const lifted = { restore: async () => ({ restored: true, kind: "user", value: "dev.other@example.com", matched: [{ ...dev, matched_by: ["email" as const] }], lifted: [{ kind: "user" as const, value: "dev@example.com", at, until }, { kind: "sub" as const, value: "s-dev", at, until }] }) } as Partial<AdminClient> as AdminClient;
    const text = renderAdmin(restore, await runAdmin(lifted, restore)).stderr;
    expect(text).toStartWith("Restored dev.other@example.com: lifted user (any of sub, username, e-mail) dev@example.com, sub s-dev.");
    expect(text).toContain("matched by e-mail");
    const none = { restore: async () => ({ restored: false, kind: "user", value: "x", matched: [], lifted: [], note: "no token seen for x: no person whose sub, username or e-mail is x has used this gateway yet" }) } as Partial<AdminClient> as AdminClient;
    expect(renderAdmin(parse("restore --user x"), await runAdmin(none, parse("restore --user x"))).stderr).toBe("No revocation of x was in force: nothing lifted.\nno token seen for x: no person whose sub, username or e-mail is x has used this gateway yet.\n");
  });
});

const ME: MyUsage = {
  user: "alice@example.com",
  sub: "s-a",
  groups: ["developers"],
  today: { day: "2026-11-29", ...F },
  month: { month: "2026-11", ...F, cost_usd: 3.2, requests: 240 },
  budgets: [
    { subject: { group: "developers" }, period: "month", unit: "tokens", soft: true, limit: 5e6, used: 4.9e6, remaining: 1e5, resets_at: "2026-12-01T00:00:00.000Z" },
    { subject: { user: "alice" }, period: "day", unit: "usd", soft: false, limit: 5, used: 0.1432, remaining: 4.8568, resets_at: "2026-11-30T00:00:00.000Z" },
  ],
};

describe("self-service view and status line", () => {
  test("the view: today, this month, each budget with what is left", () => {
    const text = renderUsageCommand(ME, "view");
    expect(text).toContain("Usage of alice@example.com (groups: developers)");
    expect(text).toMatch(/today 2026-11-29\s+12\s+310\s+5,120\s+2,048\s+181,000\s+\$0.1432/);
    expect(text).toContain("your daily budget: $4.86 left of $5.00, resets 2026-11-30 00:00 UTC");
    expect(text).toContain("group developers's monthly budget (soft): 100k tokens left of 5.0M tokens");
    expect(JSON.parse(renderUsageCommand(ME, "json"))).toEqual(ME);
  });

  test("one line: the hard budget is shown before a tighter soft one; used up says when it resets", () => {
    expect(tightestBudget(ME.budgets)?.period).toBe("day");
    expect(statusLineFor(ME)).toBe("$0.1432 today · $3.20 this month · $4.86 of $5.00 left today");
    const usedUp = { ...ME, budgets: [{ ...ME.budgets[1]!, used: 5.01, remaining: 0 }] };
    expect(statusLineFor(usedUp)).toBe("$0.1432 today · $3.20 this month · budget used up today (resets 2026-11-30 00:00 UTC)");
    expect(statusLineFor({ ...ME, budgets: [] })).not.toContain("\n");
  });
});

describe("admin audit", () => {
  const rows = [
    { time: "2026-12-04T10:00:00.000Z", actor: "carol@example.com", actor_sub: "s-carol", action: "budget.set", target: "user bob", old: null, new: { period: "month", unit: "usd", limit: 50, soft: false, user: "bob" }, request_id: "req_1" },
    { time: "2026-12-04T11:00:00.000Z", actor: "admin key 1a2b3c4d", action: "revoke", target: "=cmd", old: null, new: [], request_id: "req_2" },
  ];
  const client = { listAudit: async (since?: string) => (since ? rows.slice(1) : rows) } as Partial<AdminClient> as AdminClient;

  test("--since is a real day; --json and --csv exclude each other", () => {
    expect(parse("audit --since 2026-12-04")).toEqual({ op: "audit", output: "table", since: "2026-12-04" });
    expect(usageFailure("audit --since 2026-02-30").message).toContain("since");
    expect(usageFailure("audit --json --csv").message).toContain("one of --json or --csv");
  });

  test("JSON rows with time, actor, action, target, old and new; CSV with the same columns, a formula-looking value made inert; a table", async () => {
    const json = parse("audit --json");
    expect(JSON.parse(renderAdmin(json, await runAdmin(client, json)).stdout)).toEqual(rows);
    const csv = parse("audit --csv");
    const lines = renderAdmin(csv, await runAdmin(client, csv)).stdout.split("\r\n");
    expect(lines[0]).toBe("time,actor,actor_sub,action,target,old,new,request_id");
    expect(lines[1]).toBe('2026-12-04T10:00:00.000Z,carol@example.com,s-carol,budget.set,user bob,,"{""period"":""month"",""unit"":""usd"",""limit"":50,""soft"":false,""user"":""bob""}",req_1');
    expect(lines[2]).toBe("2026-12-04T11:00:00.000Z,admin key 1a2b3c4d,,revoke,'=cmd,,[],req_2");
    const table = parse("audit --since 2026-12-04");
    expect(renderAdmin(table, await runAdmin(client, table)).stdout).toContain("admin key 1a2b3c4d");
  });
});
