/**
 * Which path a keychain read takes, with fakes for both: the direct Secret Service read on Linux,
 * keyring-rs everywhere else and for whatever the direct read declines; writes always through
 * keyring-rs. (Both real paths run against gnome-keyring in test/e2e/keychain.test.ts.)
 */
import { afterEach, describe, expect, test } from "bun:test";
import { CliError, ExitCode } from "../errors.ts";
import { KeychainStore, fastLookupFor, type KeychainEntry } from "./keychain.ts";
import { FastReadDeclined, type SecretLookup } from "./secret-service-fast.ts";

const encode = (s: string) => new TextEncoder().encode(s);

/** keyring-rs stand-in: a map of accounts, counting calls. */
class FakeKeyring {
  items = new Map<string, Uint8Array>();
  calls: string[] = [];
  entry = async (account: string): Promise<KeychainEntry> => {
    const items = this.items;
    const calls = this.calls;
    return {
      getPassword: async () => (calls.push(`getPassword ${account}`), items.has(account) ? new TextDecoder().decode(items.get(account)) : null),
      getSecret: async () => (calls.push(`getSecret ${account}`), items.has(account) ? [...items.get(account)!] : null),
      setPassword: async (value: string) => void (calls.push(`setPassword ${account}`), items.set(account, encode(value))),
      setSecret: async (value: Uint8Array) => void (calls.push(`setSecret ${account}`), items.set(account, Uint8Array.from(value))),
      deleteCredential: async () => (calls.push(`delete ${account}`), items.delete(account)),
    };
  };
}

/** The direct read stand-in: answers from the same map unless told to decline or hang. */
function fakeLookup(keyring: FakeKeyring, behaviour: { decline?: boolean; hang?: boolean; bytes?: Uint8Array } = {}) {
  const log = { opened: 0, closed: 0, lookups: [] as string[], signals: [] as AbortSignal[] };
  const open = (): SecretLookup => {
    log.opened++;
    return {
      lookup: async (attributes, signal) => {
        log.lookups.push(`${attributes.service}/${attributes.username}`);
        log.signals.push(signal);
        if (behaviour.hang) return new Promise(() => {});
        if (behaviour.decline) throw new FastReadDeclined("a matching item is locked");
        if (behaviour.bytes) return behaviour.bytes;
        return keyring.items.get(attributes.username!) ?? null;
      },
      close: () => void log.closed++,
    };
  };
  return { open, log };
}

function store(keyring: FakeKeyring, fastLookup: (() => SecretLookup | null) | undefined, timeoutMs = 1000) {
  return new KeychainStore("p", { timeoutMs, humanTimeoutMs: timeoutMs, humanPresent: () => false, fastLookup, entry: keyring.entry });
}

afterEach(() => {
  delete process.env.AGENT_RUNNER_AUTH_KEYCHAIN_MAX_ITEM_BYTES;
});

describe("choosing the read path", () => {
  test("only Linux gets the direct Secret Service read; it uses the session bus address of the environment", () => {
    expect(fastLookupFor("darwin", { DBUS_SESSION_BUS_ADDRESS: "unix:path=/x" })).toBeUndefined();
    expect(fastLookupFor("win32", { DBUS_SESSION_BUS_ADDRESS: "unix:path=/x" })).toBeUndefined();
    const linux = fastLookupFor("linux", { DBUS_SESSION_BUS_ADDRESS: "unix:path=/run/user/1/bus" });
    expect(linux).toBeFunction();
    expect(linux!()).not.toBeNull();
    // no usable bus address: no direct read, keyring-rs reports the missing bus as before
    expect(fastLookupFor("linux", {})!()).toBeNull();
    expect(fastLookupFor("linux", { DBUS_SESSION_BUS_ADDRESS: "tcp:host=h,port=1" })!()).toBeNull();
  });

  test("a read the direct path answers never loads keyring-rs, and closes its connection", async () => {
    const keyring = new FakeKeyring();
    keyring.items.set("p:access", encode('{"token":"a"}'));
    const fast = fakeLookup(keyring);
    expect(await store(keyring, fast.open).get("access")).toBe('{"token":"a"}');
    expect(fast.log.lookups).toEqual(["agent-runner-auth/p:access"]);
    expect(fast.log.closed).toBe(fast.log.opened);
    expect(keyring.calls).toEqual([]);
  });

  test("an absent entry is absent: null, without asking keyring-rs again", async () => {
    const keyring = new FakeKeyring();
    const fast = fakeLookup(keyring);
    expect(await store(keyring, fast.open).get("refresh")).toBeNull();
    expect(keyring.calls).toEqual([]);
  });

  test("a declined read goes to keyring-rs, and later reads of the same run skip the direct path", async () => {
    const keyring = new FakeKeyring();
    keyring.items.set("p:access", encode("A"));
    keyring.items.set("p:refresh", encode("R"));
    const fast = fakeLookup(keyring, { decline: true });
    const s = store(keyring, fast.open);
    expect(await s.get("access")).toBe("A");
    expect(await s.get("refresh")).toBe("R");
    expect(fast.log.lookups).toEqual(["agent-runner-auth/p:access"]);
    expect(keyring.calls).toEqual(["getPassword p:access", "getPassword p:refresh"]);
    expect(fast.log.closed).toBe(fast.log.opened);
  });

  test("bytes that are not UTF-8 are read again by keyring-rs (its error, not ours)", async () => {
    const keyring = new FakeKeyring();
    keyring.items.set("p:access", encode("from keyring-rs"));
    const fast = fakeLookup(keyring, { bytes: Uint8Array.from([0xff, 0xfe]) });
    expect(await store(keyring, fast.open).get("access")).toBe("from keyring-rs");
    expect(keyring.calls).toEqual(["getPassword p:access"]);
  });

  test("macOS and Windows (no direct path): every read is keyring-rs's", async () => {
    const keyring = new FakeKeyring();
    keyring.items.set("p:access", encode("A"));
    expect(await store(keyring, undefined).get("access")).toBe("A");
    expect(keyring.calls).toEqual(["getPassword p:access"]);
  });

  test("writes and deletes always go through keyring-rs", async () => {
    const keyring = new FakeKeyring();
    const fast = fakeLookup(keyring);
    const s = store(keyring, fast.open);
    await s.set("access", "A");
    expect(await s.delete("access")).toBe(true);
    expect(keyring.calls).toEqual(["setPassword p:access", "delete p:access"]);
    expect(fast.log.opened).toBe(0);
  });

  test("a split value (item limit) is read chunk by chunk over one direct connection", async () => {
    process.env.AGENT_RUNNER_AUTH_KEYCHAIN_MAX_ITEM_BYTES = "8";
    const keyring = new FakeKeyring();
    const fast = fakeLookup(keyring);
    const s = store(keyring, fast.open);
    const value = "a value of more than eight bytes, é included";
    await s.set("refresh", value); // written by keyring-rs as a manifest and chunks
    keyring.calls = [];
    expect(await s.get("refresh")).toBe(value);
    expect(keyring.calls).toEqual([]);
    expect(fast.log.opened).toBe(1);
    expect(fast.log.closed).toBe(1);
    expect(fast.log.lookups.length).toBe(1 + Math.ceil(new TextEncoder().encode(value).length / 8));
  });

  test("a split value whose head the direct path declines is read whole by keyring-rs", async () => {
    process.env.AGENT_RUNNER_AUTH_KEYCHAIN_MAX_ITEM_BYTES = "8";
    const keyring = new FakeKeyring();
    const s = store(keyring, fakeLookup(keyring, { decline: true }).open);
    await s.set("refresh", "another value longer than eight");
    keyring.calls = [];
    expect(await s.get("refresh")).toBe("another value longer than eight");
    expect(keyring.calls[0]).toBe("getSecret p:refresh");
  });

  test("a direct read that hangs ends with the usual 'did not answer' error and its signal aborted", async () => {
    const keyring = new FakeKeyring();
    const fast = fakeLookup(keyring, { hang: true });
    const error = await store(keyring, fast.open, 50)
      .get("access")
      .catch((e) => e);
    expect(error).toBeInstanceOf(CliError);
    expect(error.exitCode).toBe(ExitCode.storeUnavailable);
    expect(error.message).toContain("did not answer within");
    expect(fast.log.signals[0]!.aborted).toBe(true);
    expect(keyring.calls).toEqual([]); // no fall-back after the bound: the keychain is stuck
  });
});
