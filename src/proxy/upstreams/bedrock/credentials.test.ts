import { expect, test } from "bun:test";
import { UpstreamError } from "../types.ts";
import { type AwsCredentials, CredentialCache, type CredentialProvider } from "./credentials.ts";

const MIN = 60_000;

function setup(answers: Array<AwsCredentials | Error>) {
  let now = Date.UTC(2026, 11, 4, 12);
  const calls: Array<{ forceRefresh?: boolean } | undefined> = [];
  const logs: Array<[string, string]> = [];
  let release: () => void = () => {};
  let gate: Promise<void> | undefined;
  const provider: CredentialProvider = async (options) => {
    calls.push(options);
    if (gate) await gate;
    const next = answers.shift();
    if (!next) throw new Error("no more answers");
    if (next instanceof Error) throw next;
    return next;
  };
  const cache = new CredentialCache(provider, { upstream: "bedrock-us", now: () => now, log: (level, message) => void logs.push([level, message]) });
  return {
    cache,
    calls,
    logs,
    advance: (ms: number) => (now += ms),
    at: (ms: number) => new Date(now + ms),
    hold: () => (gate = new Promise<void>((r) => (release = r))),
    let: () => {
      gate = undefined;
      release();
    },
  };
}
const creds = (id: string, expiration?: Date): AwsCredentials => ({ accessKeyId: id, secretAccessKey: "s", ...(expiration ? { expiration } : {}) });

test("cached until 5 minutes before the expiry, then refreshed in the background while the current ones sign", async () => {
  const base = Date.UTC(2026, 11, 4, 12);
  const s = setup([creds("A", new Date(base + 60 * MIN)), creds("B", new Date(base + 120 * MIN))]);
  expect((await s.cache.get()).accessKeyId).toBe("A");
  s.advance(50 * MIN);
  expect((await s.cache.get()).accessKeyId).toBe("A");
  expect(s.calls).toHaveLength(1);
  s.advance(6 * MIN); // 4 minutes left: refresh starts, A still answers
  expect((await s.cache.get()).accessKeyId).toBe("A");
  await Bun.sleep(0);
  expect(s.calls).toHaveLength(2);
  expect((await s.cache.get()).accessKeyId).toBe("B");
});

test("credentials about to expire make the request wait for fresh ones", async () => {
  const base = Date.UTC(2026, 11, 4, 12);
  const s = setup([creds("A", new Date(base + 10 * MIN)), creds("B", new Date(base + 70 * MIN))]);
  await s.cache.get();
  s.advance(10 * MIN - 5_000);
  expect((await s.cache.get()).accessKeyId).toBe("B");
});

test("credentials without an expiry (static keys) are kept", async () => {
  const s = setup([creds("STATIC")]);
  await s.cache.get();
  s.advance(1000 * MIN);
  expect((await s.cache.get()).accessKeyId).toBe("STATIC");
  expect(s.calls).toHaveLength(1);
});

test("concurrent requests run the chain once", async () => {
  const s = setup([creds("A")]);
  s.hold();
  const all = Promise.all([s.cache.get(), s.cache.get(), s.cache.get()]);
  s.let();
  expect((await all).map((c) => c.accessKeyId)).toEqual(["A", "A", "A"]);
  expect(s.calls).toHaveLength(1);
});

test("a failed refresh keeps the current credentials while they last, reported once", async () => {
  const base = Date.UTC(2026, 11, 4, 12);
  const s = setup([creds("A", new Date(base + 60 * MIN)), new Error("IMDS timeout"), new Error("IMDS timeout"), creds("B", new Date(base + 180 * MIN))]);
  await s.cache.get();
  s.advance(56 * MIN);
  expect((await s.cache.get()).accessKeyId).toBe("A");
  await Bun.sleep(0);
  expect((await s.cache.get()).accessKeyId).toBe("A");
  await Bun.sleep(0);
  expect(s.logs).toEqual([["warn", "upstream bedrock-us: cannot get AWS credentials (IMDS timeout); signing with the current ones until 2026-12-04T13:00:00.000Z"]]);
  expect((await s.cache.get()).accessKeyId).toBe("A");
  await Bun.sleep(0);
  expect((await s.cache.get()).accessKeyId).toBe("B");
  expect(s.logs.at(-1)).toEqual(["info", "upstream bedrock-us: AWS credentials refreshed"]);
});

test("no credentials at all: a typed error naming the upstream", async () => {
  const s = setup([new Error("Could not load credentials from any providers")]);
  const error = await s.cache.get().catch((e) => e);
  expect(error).toBeInstanceOf(UpstreamError);
  expect((error as UpstreamError).code).toBe("credentials");
  expect((error as Error).message).toBe("upstream bedrock-us: no AWS credentials: Could not load credentials from any providers");
  expect(s.logs[0]![0]).toBe("error");
});

test("invalidated (the upstream said the token expired) or SIGHUP: the chain is re-run past its memo", async () => {
  const s = setup([creds("A"), creds("B"), creds("C")]);
  await s.cache.get();
  s.cache.invalidate();
  expect((await s.cache.get()).accessKeyId).toBe("B");
  await s.cache.refresh();
  expect((await s.cache.get()).accessKeyId).toBe("C");
  expect(s.calls).toEqual([undefined, { forceRefresh: true }, { forceRefresh: true }]);
});
