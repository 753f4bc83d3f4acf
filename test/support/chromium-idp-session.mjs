// One real Chromium browser session (one profile, so the tenant's session cookie is kept between
// steps), driven step by step over stdin/stdout JSON lines by a test:
//   {"op":"goto","url":...}                     navigate, follow redirects
//   {"op":"signin","username"?:...,"password":...} fill the page's form (username only if given) and submit
//   {"op":"close"}
// Each step answers {"url","title","form","username"}: where the browser ended and what it shows
// (form: a sign-in form is on the page; username: the user name field's pre-filled value).
// Loopback pages (the CLI's callback and logged-out addresses) are answered by the test's listener.
import { chromium } from "playwright-core";
import { createInterface } from "node:readline";

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM_PATH || "/usr/bin/chromium",
  headless: true,
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
const context = await browser.newContext();
const page = await context.newPage();

async function state() {
  await page.waitForLoadState("load");
  const form = (await page.$("#username")) !== null;
  return { url: page.url(), title: await page.title(), form, username: form ? await page.inputValue("#username") : null };
}

const reply = (value) => process.stdout.write(JSON.stringify(value) + "\n");
for await (const line of createInterface({ input: process.stdin })) {
  const step = JSON.parse(line);
  try {
    if (step.op === "close") break;
    if (step.op === "goto") await page.goto(step.url);
    if (step.op === "signin") {
      if (step.username !== undefined) await page.fill("#username", step.username);
      await page.fill("#password", step.password);
      await Promise.all([page.waitForNavigation(), page.click("#signin")]);
    }
    reply(await state());
  } catch (e) {
    reply({ error: String(e) });
  }
}
await browser.close();
process.exit(0);
