/**
 * The direct Secret Service read against a fake session bus on a unix socket (the real
 * gnome-keyring is exercised in test/e2e/keychain.test.ts): the wire format, the order of calls
 * (no session is opened in the caller's first message: that crashed gnome-keyring 42.1), and every
 * case it must decline rather than guess.
 */
import { afterEach, describe, expect, test } from "bun:test";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { FastReadDeclined, busSocketPath, marshalMessage, messageLength, openSecretServiceLookup, parseMessage, type Message, type Writer } from "./secret-service-fast.ts";

type Reply = { signature: string; write: (w: Writer) => void } | { error: string } | "silence";

interface Received {
  member: string;
  /** Whether the Ping had been answered when this message arrived. */
  afterPing: boolean;
  /** Index of the socket read that carried it. */
  read: number;
}

/** A fake bus: answers Hello and Ping, and the Secret Service calls through `answer`. */
function fakeBus(answer: (m: Message) => Reply, options: { auth?: string } = {}) {
  const path = join(mkdtempSync(join(tmpdir(), "ara-fakebus-")), "bus");
  const received: Received[] = [];
  let closed = false;
  let pinged = false;
  let reads = 0;
  let serial = 100;
  let buffer = new Uint8Array(0);
  let authed = false;
  const server = Bun.listen({
    unix: path,
    socket: {
      data(socket, chunk) {
        reads++;
        const joined = new Uint8Array(buffer.length + chunk.length);
        joined.set(buffer);
        joined.set(chunk, buffer.length);
        buffer = joined;
        if (!authed) {
          const text = new TextDecoder().decode(buffer);
          const begin = text.indexOf("BEGIN\r\n");
          if (!text.startsWith("\0AUTH EXTERNAL ") || begin < 0) return;
          socket.write(options.auth ?? "OK 0123456789abcdef0123456789abcdef\r\n");
          authed = true;
          buffer = buffer.slice(begin + "BEGIN\r\n".length);
        }
        for (let n = messageLength(buffer); n > 0; n = messageLength(buffer)) {
          const m = parseMessage(buffer.slice(0, n));
          buffer = buffer.slice(n);
          received.push({ member: m.member ?? "", afterPing: pinged, read: reads });
          const reply = (r: Reply) => {
            if (r === "silence") return;
            const fields: [number, "u" | "s", number | string][] = [[5, "u", m.serial]];
            if ("error" in r) socket.write(marshalMessage(3, ++serial, [...fields, [4, "s", r.error]]));
            else socket.write(marshalMessage(2, ++serial, fields, r));
          };
          if (m.member === "Hello") reply({ signature: "s", write: (w) => w.string(":1.42") });
          else if (m.member === "Ping") {
            pinged = true;
            reply({ signature: "", write: () => {} });
          } else reply(answer(m));
        }
      },
      close() {
        closed = true;
      },
    },
  });
  return {
    address: `unix:path=${path},guid=0123`,
    received,
    members: () => received.map((r) => r.member),
    closed: () => closed,
    stop: () => server.stop(true),
  };
}

const ITEM = "/org/freedesktop/secrets/collection/login/7";
const session = { signature: "vo", write: (w: Writer) => (w.signature("s"), w.string(""), w.string("/org/freedesktop/secrets/session/s1")) };
const found = (unlocked: string[], locked: string[] = []) => ({
  signature: "aoao",
  write: (w: Writer) => {
    w.array(4, () => unlocked.forEach((p) => w.string(p)));
    w.array(4, () => locked.forEach((p) => w.string(p)));
  },
});
const secret = (value: Uint8Array, item = ITEM) => ({
  signature: "a{o(oayays)}",
  write: (w: Writer) =>
    w.array(8, () => {
      w.align(8);
      w.string(item);
      w.align(8);
      w.string("/org/freedesktop/secrets/session/s1");
      w.array(1, () => {});
      w.array(1, () => value.forEach((b) => w.byte(b)));
      w.string("text/plain");
    }),
});

function standard(overrides: Partial<Record<string, Reply>> = {}, value = new TextEncoder().encode("the-secret")) {
  return (m: Message): Reply => overrides[m.member ?? ""] ?? ({ OpenSession: session, SearchItems: found([ITEM]), GetSecrets: secret(value) } as Record<string, Reply>)[m.member ?? ""] ?? { error: "org.freedesktop.DBus.Error.UnknownMethod" };
}

let bus: ReturnType<typeof fakeBus> | undefined;
afterEach(() => bus?.stop());

const attributes = { service: "agent-runner-auth", username: "default:access" };

async function lookup(answer: (m: Message) => Reply, options: { auth?: string; signal?: AbortSignal } = {}) {
  bus = fakeBus(answer, options);
  const client = openSecretServiceLookup(bus.address)!;
  try {
    return await client.lookup(attributes, options.signal ?? new AbortController().signal);
  } finally {
    client.close();
  }
}

describe("the session bus address", () => {
  test("unix path (escaped), abstract socket, the first usable of several; anything else is not ours", () => {
    expect(busSocketPath("unix:path=/run/user/1000/bus")).toBe("/run/user/1000/bus");
    expect(busSocketPath("unix:path=/tmp/a%20b,guid=1")).toBe("/tmp/a b");
    expect(busSocketPath("unix:abstract=/tmp/dbus-x,guid=1")).toBe("\0/tmp/dbus-x");
    expect(busSocketPath("tcp:host=localhost,port=1;unix:path=/tmp/b")).toBe("/tmp/b");
    expect(busSocketPath("tcp:host=localhost,port=1")).toBeNull();
    expect(busSocketPath("unix:runtime=yes")).toBeNull();
    expect(busSocketPath("unix:path=%zz")).toBeNull();
    expect(busSocketPath(undefined)).toBeNull();
    expect(openSecretServiceLookup("")).toBeNull();
  });
});

describe("a lookup", () => {
  test("reads the one unlocked item's secret with a plain session, searched by keyring-rs's attributes", async () => {
    const searched: string[] = [];
    const value = await lookup((m) => {
      if (m.member === "SearchItems") {
        m.body.array(8, () => (m.body.align(8), searched.push(`${m.body.string()}=${m.body.string()}`)));
        return found([ITEM]);
      }
      if (m.member === "OpenSession") expect(m.body.string()).toBe("plain");
      return standard()(m);
    });
    expect(new TextDecoder().decode(value!)).toBe("the-secret");
    expect(searched).toEqual(["service=agent-runner-auth", "username=default:access"]);
    expect(bus!.members()).toEqual(["Hello", "Ping", "OpenSession", "SearchItems", "GetSecrets"]);
  });

  test("opens no session in its first message to the service: OpenSession waits for the Ping's answer", async () => {
    await lookup(standard());
    const [hello, ping, open, search] = bus!.received;
    expect(hello!.read).toBe(ping!.read); // greeting in one write
    expect(open!.afterPing).toBe(true);
    expect(open!.read).toBeGreaterThan(ping!.read);
    expect(search!.read).toBe(open!.read); // the search goes with the session
  });

  test("no matching item: null, and no secret is asked for", async () => {
    expect(await lookup(standard({ SearchItems: found([]) }))).toBeNull();
    expect(bus!.members()).not.toContain("GetSecrets");
  });

  test("keeps bytes exactly (the value is not text-decoded here)", async () => {
    const bytes = Uint8Array.from([0xff, 0x00, 0xc3, 0xa9, 0x0a]);
    expect(await lookup(standard({}, bytes))).toEqual(bytes);
  });

  for (const [name, overrides] of [
    ["a matching item is locked (keyring-rs then unlocks or reports it)", { SearchItems: found([], [ITEM]) }],
    ["an unlocked and a locked item match", { SearchItems: found([ITEM], [ITEM + "0"]) }],
    ["several items match (keyring-rs reports the ambiguity)", { SearchItems: found([ITEM, ITEM + "0"]) }],
    ["the service is not there", { OpenSession: { error: "org.freedesktop.DBus.Error.ServiceUnknown" } }],
    ["the plain algorithm is refused", { OpenSession: { error: "org.freedesktop.DBus.Error.NotSupported" } }],
    ["an unexpected reply type", { SearchItems: { signature: "s", write: (w: Writer) => w.string("?") } }],
    ["the secret is for another item", { GetSecrets: secret(new Uint8Array([1]), ITEM + "9") }],
  ] as const) {
    test(`declines when ${name}`, async () => {
      const error = await lookup(standard(overrides as Record<string, Reply>)).catch((e) => e);
      expect(error).toBeInstanceOf(FastReadDeclined);
      expect(error.code).toBe("fast_read_declined");
    });
  }

  test("declines when authentication is refused or nothing listens", async () => {
    expect(await lookup(standard(), { auth: "REJECTED EXTERNAL\r\n" }).catch((e) => e)).toBeInstanceOf(FastReadDeclined);
    const nobody = openSecretServiceLookup(`unix:path=${join(mkdtempSync(join(tmpdir(), "ara-nobus-")), "bus")}`)!;
    expect(await nobody.lookup(attributes, new AbortController().signal).catch((e) => e)).toBeInstanceOf(FastReadDeclined);
  });

  test("an abort while the service is silent rejects at once and hangs up (the process can exit)", async () => {
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 100);
    const started = performance.now();
    const error = await lookup(standard({ SearchItems: "silence" }), { signal: controller.signal }).catch((e) => e);
    expect(error).toBeInstanceOf(FastReadDeclined);
    expect(performance.now() - started).toBeLessThan(2000);
    await Bun.sleep(50);
    expect(bus!.closed()).toBe(true);
  });
});
