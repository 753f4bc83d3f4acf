/**
 * The headless sign-in (SSH, containers, no display): after signing in on another machine, the
 * user pastes the address the browser was sent to (http://localhost:<port>/callback?code=...&state=...)
 * or just the code. It is read from the controlling terminal (never stdin) and checked for shape;
 * the state is checked by the same validation as a real callback.
 */
import { CliError, ExitCode } from "../errors.ts";

/** Authorization codes are long random strings (Cognito: a UUID; oidc-provider: 43 characters). */
const CODE = /^[A-Za-z0-9._~-]{16,2048}$/;

/** Turns what the user pasted into the callback URL, or explains what is wrong with it. */
export function parsePastedCallback(input: string, redirectUri: string, expectedState: string): URL {
  const text = input.trim();
  if (text === "") throw new CliError(ExitCode.authRequired, "nothing was pasted");
  const redirect = new URL(redirectUri);
  if (/^https?:\/\//i.test(text)) {
    let url: URL;
    try {
      url = new URL(text);
    } catch {
      throw new CliError(ExitCode.authRequired, "the pasted text is not a valid address", "Paste the whole address from the browser's address bar.");
    }
    if (url.pathname !== redirect.pathname || (url.hostname !== redirect.hostname && !["localhost", "127.0.0.1", "[::1]"].includes(url.hostname))) {
      throw new CliError(ExitCode.authRequired, `the pasted address is not the sign-in callback (${redirect.origin}${redirect.pathname}...)`);
    }
    if (!url.searchParams.has("code") && !url.searchParams.has("error")) {
      throw new CliError(ExitCode.authRequired, "the pasted address has no code: copy it after the sign-in finished");
    }
    // Re-aim it at our registered redirect URI: the code is bound to that exact URI.
    const callback = new URL(redirectUri);
    url.searchParams.forEach((value, key) => callback.searchParams.set(key, value));
    return callback;
  }
  if (!CODE.test(text)) throw new CliError(ExitCode.authRequired, "the pasted text is neither the callback address nor an authorization code");
  const callback = new URL(redirectUri);
  callback.searchParams.set("code", text);
  callback.searchParams.set("state", expectedState);
  return callback;
}

/**
 * Lines typed or pasted on the controlling terminal, until the signal aborts. One reader for the
 * whole login, so lines pasted in quick succession are not lost between prompts.
 */
export async function* terminalLines(prompt: string, signal: AbortSignal): AsyncGenerator<string> {
  const { createReadStream, writeSync, openSync, closeSync } = await import("node:fs");
  const { createInterface } = await import("node:readline");
  let input;
  try {
    input = createReadStream("/dev/tty");
    await new Promise<void>((resolve, reject) => {
      input!.once("open", () => resolve());
      input!.once("error", reject);
    });
  } catch {
    return;
  }
  const tty = openSync("/dev/tty", "w");
  const rl = createInterface({ input, terminal: false });
  const onAbort = () => rl.close();
  signal.addEventListener("abort", onAbort, { once: true });
  try {
    writeSync(tty, prompt);
    for await (const line of rl) {
      yield line;
      if (signal.aborted) return;
      writeSync(tty, prompt);
    }
  } finally {
    signal.removeEventListener("abort", onAbort);
    rl.close();
    input.destroy();
    closeSync(tty);
  }
}
