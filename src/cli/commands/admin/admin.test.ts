import { expect, test } from "bun:test";
import { parseArgs } from "../../args.ts";
import { ExitCode, exitCodeOf } from "../../errors.ts";
import type { GatewayHttp } from "../../gateway/client.ts";
import { findCommand } from "../registry.ts";
import { accessRecord, fakeContext, NOW, PROFILE, refreshRecord, memoryGatewayPort } from "../../../../test/support/fake-context.ts";
import { parseOptions, run } from "./admin.ts";

const KEY = "adminkey-0123456789abcdef0123456789abcdef";

/** Parses a command line the way main.ts does: the longest command name, then its options. */
function parse(line: string) {
  const words = line.split(" ");
  for (let n = 3; n >= 2; n--) {
    const spec = findCommand(words.slice(0, n).join(" "));
    if (spec) return parseOptions(parseArgs(words.slice(n), spec.options, spec.name), {}, spec.name.split(" "));
  }
  throw new Error(`no command in ${line}`);
}

interface Seen {
  method: string;
  url: string;
  authorization: string;
  body: unknown;
}

function gateway(answer: (s: Seen) => Response, seen: Seen[] = []): GatewayHttp {
  return async (url, init) => {
    const s = { method: String(init.method), url, authorization: (init.headers as Record<string, string>).authorization ?? "", body: init.body ? JSON.parse(String(init.body)) : undefined };
    seen.push(s);
    return answer(s);
  };
}

const ROW = { user: "demo", sub: "s-1", requests: 2, input_tokens: 10, output_tokens: 20, cache_creation_input_tokens: 30, cache_read_input_tokens: 400, cost_usd: 0.0123 };

test("admin usage --json with the person's own token: the report's rows on stdout, the token as bearer", async () => {
  const seen: Seen[] = [];
  const fake = fakeContext({ gateway: memoryGatewayPort({ http: gateway(() => Response.json([ROW]), seen) }) });
  fake.stores.file.values.set("access", accessRecord("own-token", NOW + 30 * 60_000));
  expect(await run(fake.ctx, parse("admin usage --since 2025-01-01 --by user --json"))).toBe(0);
  expect(seen).toEqual([{ method: "GET", url: "https://acme.proxy.example.com/_gateway/admin/v1/usage?since=2025-01-01&by=user&format=json", authorization: "Bearer own-token", body: undefined }]);
  expect(JSON.parse(fake.stdout.join(""))).toEqual([expect.objectContaining(ROW)]);
});

test("a stale token is refreshed silently (under the lock) before the admin call", async () => {
  const seen: Seen[] = [];
  const fake = fakeContext({
    oauth: { refreshTokens: async () => ({ accessToken: "fresh-token", expiresIn: 3600 }) },
    gateway: memoryGatewayPort({ http: gateway(() => Response.json([]), seen) }),
  });
  fake.stores.file.values.set("access", accessRecord("old", NOW + 10_000));
  fake.stores.file.values.set("refresh", refreshRecord("r"));
  expect(await run(fake.ctx, parse("admin budget list"))).toBe(0);
  expect(fake.calls).toEqual(["refreshTokens"]);
  expect(seen[0]!.authorization).toBe("Bearer fresh-token");
  expect(fake.stdout).toEqual(["No budgets.\n"]);
});

test("no session and no browser possible: exit 1 naming login, nothing sent", async () => {
  const seen: Seen[] = [];
  const fake = fakeContext({ gateway: memoryGatewayPort({ http: gateway(() => Response.json([]), seen) }) });
  const e = await run(fake.ctx, parse("admin revocations")).catch((x: unknown) => x);
  expect(exitCodeOf(e)).toBe(ExitCode.authRequired);
  expect(seen).toEqual([]);
});

test("budget set with the admin key file: PUT with the key as bearer, a confirmation on stderr, no store opened", async () => {
  const seen: Seen[] = [];
  const fake = fakeContext({ gateway: memoryGatewayPort({ keyFiles: { "/k": `${KEY}\n` }, http: gateway((s) => Response.json({ ...(s.body as object), unit: "usd", limit: 0.000001 }), seen) }) });
  fake.ctx.openStore = async () => {
    throw new Error("the store must not be opened with an admin key");
  };
  expect(await run(fake.ctx, parse("admin budget set --user demo --period day --usd 0.000001 --admin-key-file /k"))).toBe(0);
  expect(seen).toEqual([{ method: "PUT", url: "https://acme.proxy.example.com/_gateway/admin/v1/budgets", authorization: `Bearer ${KEY}`, body: { user: "demo", period: "day", usd: 0.000001, soft: false } }]);
  expect(fake.stdout).toEqual([]);
  expect(fake.stderr).toEqual(["Budget set: user demo, daily, $0.000001000."]);
});

test("--tenant-url with --admin-key-file needs no profile; without the key file it is refused (a token stays with its tenant)", async () => {
  const seen: Seen[] = [];
  const fake = fakeContext({ profile: null, gateway: memoryGatewayPort({ keyFiles: { "/k": KEY }, http: gateway(() => Response.json({ cleared: 1 }), seen) }) });
  expect(await run(fake.ctx, parse("admin limit clear --user demo --admin-key-file /k --tenant-url https://other.proxy.example.com"))).toBe(0);
  expect(seen[0]!.url).toBe("https://other.proxy.example.com/_gateway/admin/v1/limits?user=demo");
  expect(() => parse("admin limit list --tenant-url https://other.proxy.example.com")).toThrow("--tenant-url goes with --admin-key-file");
});

test("a missing key file: exit 5 before any request; the key is never quoted", async () => {
  const fake = fakeContext({ gateway: memoryGatewayPort({ keyFiles: { "/short": "tooshort" } }) });
  const missing = await run(fake.ctx, parse("admin revocations --admin-key-file /nope")).catch((x: unknown) => x);
  expect(exitCodeOf(missing)).toBe(ExitCode.config);
  const short = (await run(fake.ctx, parse("admin revocations --admin-key-file /short")).catch((x: unknown) => x)) as Error;
  expect(exitCodeOf(short)).toBe(ExitCode.config);
  expect(short.message).not.toContain("tooshort");
});

test("403 from the gateway: exit 1, 'not in the admin group', the gateway's words kept", async () => {
  const body = { type: "error", error: { type: "permission_error", message: "you must be in one of the admin groups (gateway-admins)" } };
  const fake = fakeContext({ gateway: memoryGatewayPort({ http: gateway(() => Response.json(body, { status: 403 })) }) });
  fake.stores.file.values.set("access", accessRecord("own-token", NOW + 30 * 60_000));
  const e = (await run(fake.ctx, parse("admin revoke --user demo")).catch((x: unknown) => x)) as Error;
  expect(exitCodeOf(e)).toBe(ExitCode.authRequired);
  expect(e.message).toContain("not in the admin group");
  expect(e.message).toContain("gateway-admins");
});

test("the §5 forms are refused when incomplete (usage errors, exit 2, before any request)", () => {
  for (const line of ["admin budget set --user demo --usd 1", "admin budget set --period day --usd 1", "admin limit set --user demo", "admin revoke", "admin usage --json --csv", "admin usage --since 2025-02-30"]) {
    expect(() => parse(line)).toThrow();
    try {
      parse(line);
    } catch (e) {
      expect(exitCodeOf(e)).toBe(ExitCode.usage);
    }
  }
});

test("a profile made with --issuer: exit 5, no gateway to ask", async () => {
  const { tenant: _, ...noTenant } = PROFILE;
  const fake = fakeContext({ profile: noTenant });
  expect(exitCodeOf(await run(fake.ctx, parse("admin revocations")).catch((x: unknown) => x))).toBe(ExitCode.config);
});

test("admin policy check FILE runs offline: no profile, no store, no gateway request", async () => {
  const seen: Seen[] = [];
  const fake = fakeContext({ profile: null, files: { "/repo/policy.yaml": 'groups:\n  contractors:\n    models: ["claude-haiku-*"]\n' }, gateway: memoryGatewayPort({ http: gateway(() => Response.json([]), seen) }) });
  fake.ctx.openStore = async () => {
    throw new Error("no store for an offline check");
  };
  const spec = findCommand("admin policy check")!;
  expect(spec.takesArguments).toBe(true);
  const options = parseOptions(parseArgs(["/repo/policy.yaml"], spec.options, spec.name), {}, ["admin", "policy", "check"]);
  expect(await run(fake.ctx, options)).toBe(0);
  expect(seen).toEqual([]);
  expect(fake.stderr.at(-1)).toMatch(/^\/repo\/policy\.yaml: valid policy \(1 group, no default rule\); hash sha256:[0-9a-f]{12}$/);
});

test("admin policy check: an invalid file is exit 2 naming the member; a missing argument is a usage error", async () => {
  const fake = fakeContext({ files: { "/p.json": '{"groups": {"x": {"budgets": [{"period": "week", "usd": 1}]}}}' } });
  const spec = findCommand("admin policy check")!;
  const e = await run(fake.ctx, parseOptions(parseArgs(["/p.json"], spec.options, spec.name), {}, ["admin", "policy", "check"])).catch((x: unknown) => x);
  expect(exitCodeOf(e)).toBe(ExitCode.usage);
  expect((e as Error).message).toBe('/p.json:1: groups.x.budgets[0].period: must be "day" or "month"');
  const noFile = (() => {
    try {
      parseOptions(parseArgs([], spec.options, spec.name), {}, ["admin", "policy", "check"]);
    } catch (x) {
      return x;
    }
  })();
  expect(exitCodeOf(noFile)).toBe(ExitCode.usage);
});
