/**
 * BROWSER for test/e2e/login-security.test.ts: records its own argv and pid, waits until the test
 * says go (so the test can read every process's command line while the login waits), then
 * follows the address it was given like a browser (keeping cookies) up to the tenant's login
 * page, and pauses again before signing in, so the test can act as an attacker in between.
 * Files in $PROBE_DIR: argv.json, go, authorize (the Location it was sent to), signin, result.json.
 */
import { existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { signInAndCaptureRedirect } from "./http-login.ts";

const dir = process.env.PROBE_DIR ?? "";
const url = process.argv[2] ?? "";
writeFileSync(join(dir, "argv.json"), JSON.stringify({ pid: process.pid, argv: process.argv }));
const waitFor = async (name: string) => {
  for (let i = 0; i < 600 && !existsSync(join(dir, name)); i++) await Bun.sleep(50);
};
await waitFor("go");
const start = await fetch(url, { redirect: "manual" });
const cookie = (start.headers.get("set-cookie") ?? "").split(";")[0] ?? "";
// A start page redirects to the authorization URL; anything else is taken as the URL itself.
const location = start.status === 302 ? new URL(start.headers.get("location") ?? "", url) : null;
const authorize = location?.searchParams.has("state") ? location.href : url;
writeFileSync(join(dir, "authorize"), authorize);
await waitFor("signin");
const callback = await signInAndCaptureRedirect(authorize, process.env.PROBE_USERNAME ?? "", process.env.PROBE_PASSWORD ?? "");
const first = await fetch(callback, { headers: { cookie } }).catch(() => null); // null: the login is gone
const body = (await first?.text()) ?? "";
// The same callback again, as a replay: refused, whatever the login did with the first.
const replay = await fetch(callback, { headers: { cookie } }).then((r) => r.status).catch(() => "refused");
writeFileSync(join(dir, "result.json"), JSON.stringify({ callback, status: first?.status ?? 0, body, replay }));
