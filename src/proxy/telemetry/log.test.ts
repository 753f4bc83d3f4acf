import { expect, test } from "bun:test";
import { join } from "node:path";

/** A process that logs `count` request lines then exits at once, as the gateway's shutdown does; its stdout a pipe. */
async function linesThroughPipe(count: number, flushFirst: boolean): Promise<string[]> {
  const script = `
    import { stdoutLogger } from ${JSON.stringify(join(import.meta.dir, "log.ts"))};
    const out = stdoutLogger();
    for (let i = 0; i < ${count}; i++) out.log({ time: "t", tenant: "acme", method: "POST", route: "messages", status: 200, duration_ms: i, request_id: "req_" + i });
    ${flushFirst ? "await out.flush();" : ""}
    process.exit(0);
  `;
  const child = Bun.spawn([process.execPath, "-e", script], { stdout: "pipe", stderr: "inherit" });
  const text = await new Response(child.stdout).text();
  await child.exited;
  return text.split("\n").filter(Boolean);
}

test("every request line reaches a piped stdout when the process flushes before it exits", async () => {
  const lines = await linesThroughPipe(5000, true);
  expect(lines.length).toBe(5000);
  expect(JSON.parse(lines[4999] as string)).toMatchObject({ request_id: "req_4999", duration_ms: 4999 });
  // each line whole, in order
  expect(lines.every((l, i) => JSON.parse(l).request_id === `req_${i}`)).toBe(true);
});
