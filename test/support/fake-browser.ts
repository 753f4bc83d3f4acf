/**
 * A deliberately misbehaving "browser" for bad-input tests: it follows the CLI's one-shot start
 * address like a browser (keeping its cookie), but instead of signing in it calls the loopback
 * callback directly, as a stale tab, a forged request or a failing IdP would.
 * FAKE_BROWSER_MODE: wrong-state | idp-error
 */
export {};
const start = await fetch(process.argv[2] ?? "", { redirect: "manual" });
const cookie = (start.headers.get("set-cookie") ?? "").split(";")[0] ?? "";
const authorize = new URL(start.headers.get("location") ?? process.argv[2] ?? "");
const redirect = new URL(authorize.searchParams.get("redirect_uri") ?? "");
const state = authorize.searchParams.get("state") ?? "";
const mode = process.env.FAKE_BROWSER_MODE;
if (mode === "wrong-state") {
  redirect.searchParams.set("code", "forged-code");
  redirect.searchParams.set("state", "not-the-state-we-sent");
} else if (mode === "idp-error") {
  redirect.searchParams.set("error", "access_denied");
  redirect.searchParams.set("error_description", "<script>alert(1)</script> user said no");
  redirect.searchParams.set("state", state);
}
const response = await fetch(redirect, { headers: { cookie } });
const body = await response.text();
if (process.env.FAKE_BROWSER_RESULT) await Bun.write(process.env.FAKE_BROWSER_RESULT, JSON.stringify({ status: response.status, body }));
// A second callback must be refused: exactly one is accepted.
const again = await fetch(redirect, { headers: { cookie } }).catch(() => null);
if (process.env.FAKE_BROWSER_RESULT && again) await Bun.write(process.env.FAKE_BROWSER_RESULT + ".second", String(again.status));
