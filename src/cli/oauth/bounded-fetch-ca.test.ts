/** --ca-file in bounded-fetch: trusted besides the system roots and NODE_EXTRA_CA_CERTS; a bad file is a CaFileError (exit 5). */
import { afterAll, afterEach, beforeAll, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createTestCa, type TestCa } from "../../../test/support/network.ts";
import { boundedFetch, CaFileError, caTrust, SYSTEM_TRUST, type TlsTrust } from "./bounded-fetch.ts";
import { ExitCode } from "../errors.ts";

let ca: TestCa;
let other: TestCa;
let server: ReturnType<typeof Bun.serve>;
beforeAll(() => {
  ca = createTestCa();
  other = createTestCa();
  server = Bun.serve({ port: 0, hostname: "127.0.0.1", tls: { cert: Bun.file(ca.certFile), key: Bun.file(ca.keyFile) }, fetch: () => new Response("hi") });
});
afterAll(() => server.stop(true));
afterEach(() => {
  delete process.env.NODE_EXTRA_CA_CERTS;
});
const get = (trust: TlsTrust) => boundedFetch(`https://localhost:${server.port}/`, {}, { timeoutMs: 5000, trust });

test("without a bundle the private CA is not trusted; with it, it is; one request's trust is not another's", async () => {
  await expect(get(SYSTEM_TRUST)).rejects.toMatchObject({ code: expect.stringMatching(/CERT|VERIFY|SELF_SIGNED/) });
  const trusting = caTrust(ca.caFile);
  expect(trusting.caFile).toBe(ca.caFile);
  expect(await (await get(trusting)).text()).toBe("hi");
  // no module state: a request without the bundle is still refused after one with it
  await expect(get(SYSTEM_TRUST)).rejects.toMatchObject({ code: expect.stringMatching(/CERT|VERIFY|SELF_SIGNED/) });
  await expect(boundedFetch(`https://localhost:${server.port}/`, {}, { timeoutMs: 5000 })).rejects.toMatchObject({ code: expect.stringMatching(/CERT|VERIFY|SELF_SIGNED/) });
});

test("NODE_EXTRA_CA_CERTS stays trusted alongside --ca-file (tls.ca replaces Bun's defaults)", async () => {
  process.env.NODE_EXTRA_CA_CERTS = ca.caFile;
  expect(await (await get(caTrust(other.caFile))).text()).toBe("hi");
});

test("a missing file or one without a PEM certificate is a CaFileError, exit 5", async () => {
  const missing = await get(caTrust("/nonexistent/ca.pem")).catch((e: unknown) => e);
  expect(missing).toBeInstanceOf(CaFileError);
  expect((missing as CaFileError).exitCode).toBe(ExitCode.config);
  const junk = join(tmpdir(), `ara-junk-${process.pid}.pem`);
  writeFileSync(junk, "-----BEGIN PRIVATE KEY-----\nabc\n-----END PRIVATE KEY-----\n");
  expect(await get(caTrust(junk)).catch((e: unknown) => (e as Error).message)).toContain("holds no PEM certificate");
});
