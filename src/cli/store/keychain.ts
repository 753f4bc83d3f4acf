/**
 * The OS keychain through @napi-rs/keyring: macOS Keychain, Windows Credential Manager, and on
 * Linux the Secret Service (gnome-keyring, KWallet, KeePassXC), pinned so that keyring-rs never
 * falls back silently to the kernel keyutils store (memory only, lost on reboot).
 *
 * On Linux, reads first try a direct Secret Service lookup (secret-service-fast.ts: the `token`
 * cached path at secret-tool's speed); whatever that path declines is read by keyring-rs, which
 * is loaded only then, so its errors and prompts are unchanged.
 *
 * Every call is bounded: a locked KWallet may wait forever for a password. With a terminal the
 * bound is long enough for a human to type it; without one it is short.
 */
import type { AsyncEntry } from "@napi-rs/keyring";
import { CliError, ExitCode } from "../errors.ts";
import type { SecretName, SecretStore } from "./types.ts";
import { deleteChunked, readChunked, writeChunked, type RawSecrets } from "./chunked.ts";
import { openSecretServiceLookup, type SecretLookup } from "./secret-service-fast.ts";

/** Windows Credential Manager's limit for one credential blob. */
export const WINDOWS_MAX_ITEM_BYTES = 2560;

/**
 * The item size above which values are split (see chunked.ts): Windows' limit there; elsewhere
 * none, unless AGENT_RUNNER_AUTH_KEYCHAIN_MAX_ITEM_BYTES sets one (the tests use it to run the
 * splitting against a real Secret Service).
 */
export function maxItemBytes(): number | undefined {
  const override = Number(process.env.AGENT_RUNNER_AUTH_KEYCHAIN_MAX_ITEM_BYTES);
  if (Number.isInteger(override) && override > 0) return override;
  return process.platform === "win32" ? WINDOWS_MAX_ITEM_BYTES : undefined;
}

export const KEYCHAIN_SERVICE = "agent-runner-auth";

const utf8 = new TextDecoder("utf-8", { fatal: true });

export interface KeychainOptions {
  /** Milliseconds before a keychain call is abandoned when nobody can answer a prompt. */
  timeoutMs: number;
  /** The longer bound, used when a human is at a terminal (checked only once a call is slow). */
  humanTimeoutMs: number;
  humanPresent: () => boolean;
  /** A direct read path tried before keyring-rs (Linux only: see fastLookupFor). */
  fastLookup?: () => SecretLookup | null;
  /** The keyring-rs entry for an account (tests pass fakes). */
  entry?: (account: string) => Promise<KeychainEntry>;
}

export type KeychainEntry = Pick<AsyncEntry, "getPassword" | "setPassword" | "getSecret" | "setSecret" | "deleteCredential">;

const ENTRY_OPTIONS = { linux: { store: "secret-service" } } as const;

/** keyring-rs, loaded on first use: the cached `token` read on Linux does without it. */
async function keyringEntry(account: string): Promise<KeychainEntry> {
  const { AsyncEntry } = await import("@napi-rs/keyring");
  return new AsyncEntry(KEYCHAIN_SERVICE, account, ENTRY_OPTIONS);
}

/**
 * The direct Secret Service read, on Linux only: macOS and Windows keep keyring-rs for every
 * call. The session bus address is read when the lookup opens (the same variable keyring-rs reads).
 */
export function fastLookupFor(platform: NodeJS.Platform, env: Record<string, string | undefined>): (() => SecretLookup | null) | undefined {
  if (platform !== "linux") return undefined;
  return () => openSecretServiceLookup(env.DBUS_SESSION_BUS_ADDRESS);
}

export function keychainDescription(): string {
  if (process.platform === "darwin") return "macOS Keychain";
  if (process.platform === "win32") return "Windows Credential Manager";
  return "Secret Service (D-Bus)";
}

/** Turns a keyring error into a message that says what is wrong and what to do. */
export function keychainError(operation: string, error: unknown, timeoutMs: number): CliError {
  const classified = classifyKeychainError(operation, error, timeoutMs);
  const raw = error instanceof Error ? error.message : String(error);
  // The library's own words, for whoever debugs it (never a secret: keyring errors carry none).
  return classified.message.includes(raw) ? classified : new CliError(classified.exitCode, classified.message, `${classified.hint ?? ""}\n(keychain: ${raw.split("\n")[0]})`.trim());
}

/**
 * The one place where an error is told apart by its text, on purpose: keyring-rs (through
 * @napi-rs/keyring) reports every platform failure as a plain Error whose message is all there
 * is (no code). This adaptor turns those strings into typed errors; nothing above it looks at text.
 */
function classifyKeychainError(operation: string, error: unknown, timeoutMs: number): CliError {
  const raw = error instanceof Error ? error.message : String(error);
  const others = "Choose another store with --store pass or --store file (plaintext, explicit), or set AGENT_RUNNER_AUTH_STORE.";
  if ((error as Error)?.name === "AbortError" || (error as Error)?.name === "TimeoutError" || /abort|Did not receive a reply|NoReply/i.test(raw)) {
    return new CliError(
      ExitCode.storeUnavailable,
      /Did not receive a reply|NoReply/i.test(raw)
        ? `the keychain did not answer while trying to ${operation} (D-Bus gave up waiting: is it stuck or waiting for a password?)`
        : `the keychain did not answer within ${Math.round(timeoutMs / 1000)} s while trying to ${operation} (is it waiting for a password?)`,
      `Unlock your keyring and try again. ${others}`,
    );
  }
  if (process.platform === "linux") {
    if (/ServiceUnknown|org\.freedesktop\.secrets|not provided by any \.service/i.test(raw)) {
      return new CliError(
        ExitCode.storeUnavailable,
        `no Secret Service provider (gnome-keyring, KWallet or KeePassXC) answers on D-Bus (${operation})`,
        `Install and start one (for example 'apt install gnome-keyring'). ${others}`,
      );
    }
    if (/prompt|\blocked\b|dismissed|no result found/i.test(raw)) {
      // keyring-rs says "no result found" when the default collection is locked or missing.
      return new CliError(
        ExitCode.storeUnavailable,
        `the Secret Service keyring is locked (or has no default keyring) and no unlock prompt can be shown (${operation})`,
        `Unlock it (log in to your desktop, or 'printf %s "$PASSWORD" | gnome-keyring-daemon --unlock --replace') and try again. ${others}`,
      );
    }
    if (/DBUS_SESSION_BUS_ADDRESS|autolaunch|Failed to connect to socket|Connection refused|No such file or directory/i.test(raw)) {
      return new CliError(
        ExitCode.storeUnavailable,
        `no D-Bus session bus, so the Secret Service keychain cannot be reached (${operation})`,
        `Run inside a desktop session, or start one with 'dbus-run-session -- $SHELL' and an unlocked gnome-keyring. ${others}`,
      );
    }
  }
  return new CliError(ExitCode.storeUnavailable, `the ${keychainDescription()} failed to ${operation}: ${raw}`, others);
}

export class KeychainStore implements SecretStore {
  readonly kind = "keychain" as const;
  readonly description = keychainDescription();

  constructor(
    private readonly profile: string,
    private readonly options: KeychainOptions,
  ) {}

  private readonly maxItemBytes = maxItemBytes();
  /** Set once the direct read declined: later reads of this run go straight to keyring-rs. */
  private fastDeclined = false;

  private entry(account: string): Promise<KeychainEntry> {
    return (this.options.entry ?? keyringEntry)(account);
  }

  /**
   * The bytes of one entry through the direct read: null when no item has its attributes,
   * undefined when that path declined (the caller then asks keyring-rs).
   */
  private async fastGet(lookup: SecretLookup | null, account: string, signal: AbortSignal): Promise<Uint8Array | null | undefined> {
    if (!lookup || this.fastDeclined) return undefined;
    try {
      return await lookup.lookup({ service: KEYCHAIN_SERVICE, username: account }, signal);
    } catch (e) {
      if (signal.aborted) throw e;
      // Declined (FastReadDeclined) or failed in any other way: keyring-rs reads it, and words
      // any error the way users have always seen it.
      this.fastDeclined = true;
      return undefined;
    }
  }

  private account(name: SecretName): string {
    return `${this.profile}:${name}`;
  }

  /** Byte-level access for the splitting layer (UTF-8 through setSecret: no UTF-16 doubling). */
  private raw(signal: AbortSignal, lookup: SecretLookup | null = null): RawSecrets {
    return {
      get: async (account) => {
        const fast = await this.fastGet(lookup, account, signal);
        if (fast !== undefined) return fast;
        const bytes = await (await this.entry(account)).getSecret(signal);
        return bytes === null ? null : Uint8Array.from(bytes);
      },
      set: async (account, bytes) => (await this.entry(account)).setSecret(bytes, signal),
      delete: async (account) => (await this.entry(account)).deleteCredential(signal),
    };
  }

  /** One entry as text: the direct read if it answers with valid UTF-8, else keyring-rs (its errors). */
  private async getText(lookup: SecretLookup | null, account: string, signal: AbortSignal): Promise<string | null> {
    const fast = await this.fastGet(lookup, account, signal);
    if (fast === null) return null;
    if (fast !== undefined) {
      try {
        return utf8.decode(fast);
      } catch {
        this.fastDeclined = true; // not UTF-8: keyring-rs reports it as it always did
      }
    }
    return (await this.entry(account)).getPassword(signal);
  }

  /**
   * Runs one keychain call with a bound. The short bound applies first; only if it passes is
   * the terminal checked, and the bound extended for a human who may be typing a password
   * (the check is not made up front: it would cost the cached path a module load).
   */
  private async call<T>(operation: string, run: (signal: AbortSignal) => Promise<T>): Promise<T> {
    const controller = new AbortController();
    let timer: ReturnType<typeof setTimeout> | undefined;
    let limitMs = this.options.timeoutMs;
    const expired = new Promise<never>((_, reject) => {
      const fire = () => {
        const extended = this.options.humanTimeoutMs - limitMs;
        if (limitMs === this.options.timeoutMs && extended > 0 && this.options.humanPresent()) {
          limitMs = this.options.humanTimeoutMs;
          timer = setTimeout(fire, extended);
          return;
        }
        controller.abort();
        reject(Object.assign(new Error("aborted"), { name: "TimeoutError" }));
      };
      timer = setTimeout(fire, limitMs);
    });
    try {
      // The abort signal is advisory for a blocked native call: race it so we always return.
      // A D-Bus hiccup gets one more try within the same bound; a timeout does not.
      return await Promise.race([
        run(controller.signal).catch(async (e: Error) => {
          if (e?.name === "TimeoutError" || controller.signal.aborted) throw e;
          await new Promise((r) => setTimeout(r, 100));
          return run(controller.signal);
        }),
        expired,
      ]);
    } catch (e) {
      throw keychainError(operation, e, limitMs);
    } finally {
      clearTimeout(timer);
    }
  }

  get(name: SecretName): Promise<string | null> {
    const limit = this.maxItemBytes;
    return this.call(`read the ${name} token`, async (signal) => {
      // One bus connection per read (a split value's chunks share it), closed before returning.
      const lookup = this.fastDeclined ? null : (this.options.fastLookup?.() ?? null);
      try {
        return limit === undefined ? await this.getText(lookup, this.account(name), signal) : await readChunked(this.raw(signal, lookup), this.account(name));
      } finally {
        lookup?.close();
      }
    });
  }

  set(name: SecretName, value: string): Promise<void> {
    const limit = this.maxItemBytes;
    return this.call(`store the ${name} token`, async (signal) =>
      limit === undefined ? (await this.entry(this.account(name))).setPassword(value, signal) : writeChunked(this.raw(signal), this.account(name), value, limit),
    );
  }

  delete(name: SecretName): Promise<boolean> {
    const limit = this.maxItemBytes;
    return this.call(`delete the ${name} token`, async (signal) =>
      limit === undefined ? (await this.entry(this.account(name))).deleteCredential(signal) : deleteChunked(this.raw(signal), this.account(name)),
    );
  }
}
