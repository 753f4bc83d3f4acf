/** --ca-file in bounded-fetch: trusted besides the system roots and NODE_EXTRA_CA_CERTS; a bad file is a CaFileError (exit 5). */
import { afterAll, afterEach, beforeAll, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createTestCa, type TestCa } from "../../../test/support/network.ts";
import { boundedFetch, CaFileError, caFileInEffect, trustCaFile } from "./bounded-fetch.ts";
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
  trustCaFile(undefined);
  delete process.env.NODE_EXTRA_CA_CERTS;
});
const get = () => boundedFetch(`https://localhost:${server.port}/`, {}, { timeoutMs: 5000 });

test("without a bundle the private CA is not trusted; with it, it is", async () => {
  await expect(get()).rejects.toMatchObject({ code: expect.stringMatching(/CERT|VERIFY|SELF_SIGNED/) });
  trustCaFile(ca.caFile);
  expect(caFileInEffect()).toBe(ca.caFile);
  expect(await (await get()).text()).toBe("hi");
});

test("NODE_EXTRA_CA_CERTS stays trusted alongside --ca-file (tls.ca replaces Bun's defaults)", async () => {
  process.env.NODE_EXTRA_CA_CERTS = ca.caFile;
  trustCaFile(other.caFile);
  expect(await (await get()).text()).toBe("hi");
});

test("a missing file or one without a PEM certificate is a CaFileError, exit 5", async () => {
  trustCaFile("/nonexistent/ca.pem");
  const missing = await get().catch((e: unknown) => e);
  expect(missing).toBeInstanceOf(CaFileError);
  expect((missing as CaFileError).exitCode).toBe(ExitCode.config);
  const junk = join(tmpdir(), `ara-junk-${process.pid}.pem`);
  writeFileSync(junk, "-----BEGIN PRIVATE KEY-----\nabc\n-----END PRIVATE KEY-----\n");
  trustCaFile(junk);
  expect(await get().catch((e: unknown) => (e as Error).message)).toContain("holds no PEM certificate");
});
