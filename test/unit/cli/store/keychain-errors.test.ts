/** keychainError (src/cli/store/keychain.ts, owned by the keychain work: tested from this mirrored path). */
import { describe, expect, test } from "bun:test";
import { keychainError } from "../../../../src/cli/store/keychain.ts";

describe("platform details", () => {
  test("keyring errors become store errors with a fix, never 'invalid token'", () => {
    if (process.platform !== "linux") return;
    const cases: [string, string][] = [
      ["DBus error: Using X11 for dbus-daemon autolaunch was disabled at compile time, set your DBUS_SESSION_BUS_ADDRESS instead", "no D-Bus session bus"],
      ["Couldn't access platform storage: Secret Service: no result found", "keyring is locked"],
      ["Platform failure: the unlock prompt was dismissed", "keyring is locked"],
      ["DBus error: Did not receive a reply. Possible causes include: the remote application did not send a reply, the message bus security policy blocked the reply, the reply timeout expired", "did not answer"],
      ["org.freedesktop.DBus.Error.ServiceUnknown: The name org.freedesktop.secrets was not provided by any .service files", "no Secret Service provider"],
    ];
    for (const [raw, expected] of cases) {
      const e = keychainError("read the access token", new Error(raw), 10_000);
      expect(e.exitCode).toBe(4);
      expect(e.message).toContain(expected);
      expect(e.hint).toContain("--store pass or --store file");
    }
    expect(keychainError("read", Object.assign(new Error("x"), { name: "TimeoutError" }), 10_000).message).toContain("did not answer within 10 s");
  });
});
