/**
 * The "browser" of the hostile-tenant tests: follows the CLI's start address and the IdP's
 * redirect back to the loopback callback, keeping the listener's cookie, like a browser whose user
 * signed in. With HOSTILE_BROWSER_MARKER set it first records that it was opened at all (the
 * tests assert a refused configuration never reaches the browser).
 */
import { appendFileSync } from "node:fs";

const target = process.argv[2] ?? "";
if (process.env.HOSTILE_BROWSER_MARKER) appendFileSync(process.env.HOSTILE_BROWSER_MARKER, target + "\n");
let url = new URL(target);
let cookie = "";
for (let hop = 0; hop < 5; hop++) {
  const response = await fetch(url, { redirect: "manual", headers: cookie ? { cookie } : {} });
  const set = response.headers.get("set-cookie");
  if (set) cookie = set.split(";")[0] ?? "";
  const location = response.headers.get("location");
  await response.body?.cancel();
  if (!location) break;
  url = new URL(location, url);
}
