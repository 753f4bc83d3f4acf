/**
 * The interactive login: authorization code + PKCE S256 with a loopback listener and the
 * browser. The browser tab shows "Signed in" only once the code exchange has succeeded; stray
 * requests to the listener are answered and ignored (loopback.ts), so only the timeout, the IdP's
 * error for this login, or a failed exchange end it early.
 */
import { CliError, ExitCode } from "../errors.ts";
import type { Profile } from "../config.ts";
import type { TokenSet } from "../session/records.ts";
import type { BrowserOpener } from "../browser.ts";
import type { TlsTrust } from "./bounded-fetch.ts";
import { listenForCallback, type CallbackOutcome, type LoopbackListener } from "./loopback.ts";
import { parsePastedCallback, terminalLines } from "./paste.ts";
import { exchangeCode, newAuthorizationRequest, validateCallback } from "./client.ts";

export interface LoginOptions {
  profile: Profile;
  /** null prints the URL instead of opening a browser (--no-browser). */
  browser: BrowserOpener | null;
  timeoutMs: number;
  /** Status lines for the user (stderr). */
  say: (line: string) => void;
  /** Restricts the registered redirect URIs to this port (--port). */
  port?: number;
  /** identity_provider, idp_identifier, login_hint, prompt (authorize-params.ts). */
  authorizeParams?: Readonly<Record<string, string>>;
  /**
   * Without a browser: how this place reaches the callback port actually listened on (null: none,
   * paste only), shown under the address (surfaces/where-am-i.ts signInScreen).
   */
  headlessHelp?: (callbackPort: number | null) => string[];
  /** The certificates the code exchange trusts. */
  trust: TlsTrust;
}

export async function interactiveLogin(options: LoginOptions): Promise<TokenSet> {
  const { profile } = options;
  let redirectUris = profile.redirectUris;
  if (options.port !== undefined) {
    redirectUris = redirectUris.filter((u) => Number(new URL(u).port || 80) === options.port);
    if (redirectUris.length === 0) {
      throw new CliError(ExitCode.usage, `port ${options.port} is not a registered callback port`, `Registered: ${profile.redirectUris.map((u) => new URL(u).port || "80").join(", ")}.`);
    }
  }

  let settle!: { resolve: (t: TokenSet) => void; reject: (e: unknown) => void };
  const done = new Promise<TokenSet>((resolve, reject) => (settle = { resolve, reject }));
  let request: Awaited<ReturnType<typeof newAuthorizationRequest>> | undefined;
  let redirectUri = "";
  let handled = false;

  /** One callback, from the loopback listener or pasted: validated, exchanged, settled. */
  const onCallback = async (url: URL) => {
    if (handled) return { ok: false, alreadyHandled: true, message: "This sign-in was already handled. You can close this tab." };
    handled = true;
    try {
      if (!request) throw new CliError(ExitCode.authRequired, "callback arrived before the login started");
      const parameters = validateCallback(profile, url, request.state);
      const tokens = await exchangeCode(profile, { callbackParameters: parameters, redirectUri, codeVerifier: request.codeVerifier, nonce: request.nonce }, options.trust);
      settle.resolve(tokens);
      return { ok: true, message: "You are signed in to agent-runner. You can close this tab and return to the terminal." };
    } catch (e) {
      settle.reject(e);
      return { ok: false, message: `${(e as Error).message}. Return to the terminal and run the login again.` };
    }
  };

  let listener: LoopbackListener | null = null;
  try {
    listener = listenForCallback(redirectUris, onCallback);
    redirectUri = listener.redirectUri;
  } catch (e) {
    // Headless with every port busy: the pasted address still works (it never reaches a port).
    if (options.browser || !(e instanceof CliError)) throw e;
    options.say(`${e.message}; continuing with a pasted address only.`);
    redirectUri = redirectUris[0] as string;
  }
  const pasteAbort = new AbortController();
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    request = await newAuthorizationRequest(profile, redirectUri, options.authorizeParams);
    if (options.browser && listener) {
      // Only the one-shot start address goes on the browser's command line (see loopback.ts).
      const start = listener.arm({ authorizationUrl: request.url, state: request.state, startPage: true });
      const opened = await options.browser.open(start);
      options.say(opened ? "Opened your browser to sign in. If it did not open, visit:" : "Could not open a browser. Visit this address to sign in:");
      options.say(`  ${start}`);
    } else {
      // The user's own terminal, not argv: the full URL may be opened on another machine.
      listener?.arm({ authorizationUrl: request.url, state: request.state, startPage: false });
      options.say("Visit this URL to sign in, on this or any other machine:");
      options.say(`  ${request.url.href}`);
      const help = options.headlessHelp?.(listener ? Number(new URL(redirectUri).port || 80) : null);
      for (const line of help ?? ["If the browser then fails to open a localhost address, copy that address from its address bar and paste it here."]) options.say(line);
      void pasteFromTerminal(redirectUri, request.state, pasteAbort.signal, onCallback, options.say);
    }
    options.say(`Waiting for the sign-in to finish (up to ${Math.round(options.timeoutMs / 1000)} s)...`);
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new CliError(ExitCode.authRequired, `the sign-in was not completed within ${Math.round(options.timeoutMs / 1000)} s`, "Run the login again and finish it in the browser (use --timeout to allow longer).")),
        options.timeoutMs,
      );
    });
    return await Promise.race([done, timeout]);
  } finally {
    clearTimeout(timer);
    pasteAbort.abort();
    await listener?.close();
  }
}

/** Waits for pasted input on the terminal, until a valid callback or the login ends. */
async function pasteFromTerminal(
  redirectUri: string,
  state: string,
  signal: AbortSignal,
  onCallback: (url: URL) => Promise<CallbackOutcome>,
  say: (line: string) => void,
): Promise<void> {
  for await (const line of terminalLines("Paste the address (or the code): ", signal)) {
    let url: URL;
    try {
      url = parsePastedCallback(line, redirectUri, state);
    } catch (e) {
      say(`agent-runner-auth: ${(e as Error).message}${e instanceof CliError && e.hint ? `. ${e.hint}` : ""}`);
      continue;
    }
    await onCallback(url);
    return;
  }
}
