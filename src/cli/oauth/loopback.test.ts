/** The loopback listener's gate, with the socket owner injected (the e2e suite uses real users). */
import { describe, expect, test } from "bun:test";
import { listenForCallback, sameSecret, type CallbackOutcome } from "./loopback.ts";
import { kernelHexAddress, loopbackPeerUid } from "./loopback-peer.ts";

const port = () => 20000 + Math.floor(Math.random() * 12000) /* below the ephemeral range */;

function listener(owner: () => number | null) {
  const calls: URL[] = [];
  const p = port();
  const l = listenForCallback([`http://localhost:${p}/callback`], async (url): Promise<CallbackOutcome> => {
    calls.push(url);
    return { ok: true, message: "ok" };
  }, { peerUid: owner, allowedUids: [1000] });
  const start = l.arm({ authorizationUrl: new URL("https://idp.example/authorize?state=S3CRET-STATE-VALUE"), state: "S3CRET-STATE-VALUE", startPage: true });
  return { l, p, start, calls };
}

describe("loopback listener", () => {
  test("start address: one redirect with a binding cookie, then 410; the callback needs state and cookie", async () => {
    const { l, p, start, calls } = listener(() => 1000);
    try {
      expect(start).toMatch(new RegExp(`^http://localhost:${p}/start/[A-Za-z0-9_-]{43}$`));
      const first = await fetch(start, { redirect: "manual" });
      expect(first.status).toBe(302);
      expect(first.headers.get("location")).toBe("https://idp.example/authorize?state=S3CRET-STATE-VALUE");
      const cookie = first.headers.get("set-cookie")!;
      expect(cookie).toMatch(/HttpOnly/);
      expect(cookie).toMatch(/Path=\/callback/);
      const again = await fetch(start, { redirect: "manual" });
      expect(again.status).toBe(410);
      expect(await again.text()).not.toContain("S3CRET");
      const cb = `http://127.0.0.1:${p}/callback?code=c&state=S3CRET-STATE-VALUE`;
      expect((await fetch(cb)).status).toBe(400); // no cookie
      expect((await fetch(cb, { headers: { cookie: `ara-login-${p}=wrong` } })).status).toBe(400);
      expect((await fetch(`http://127.0.0.1:${p}/callback?code=c&state=S3CRET-STATE-VALUX`, { headers: { cookie: cookie.split(";")[0]! } })).status).toBe(400);
      expect((await fetch(`http://127.0.0.1:${p}/start/guess`)).status).toBe(404);
      expect(calls).toHaveLength(0);
      expect((await fetch(cb, { headers: { cookie: cookie.split(";")[0]! } })).status).toBe(200);
      expect(calls).toHaveLength(1);
    } finally {
      await l.close();
    }
  });

  test("requests from another user's socket are refused and consume nothing", async () => {
    let owner = 4242;
    const { l, start, calls } = listener(() => owner);
    try {
      const refused = await fetch(start, { redirect: "manual" });
      expect(refused.status).toBe(403);
      expect(refused.headers.get("location")).toBeNull();
      owner = 1000;
      expect((await fetch(start, { redirect: "manual" })).status).toBe(302);
      expect(calls).toHaveLength(0);
    } finally {
      await l.close();
    }
  });

  test("before it is armed, and for POSTs, only error pages", async () => {
    const p = port();
    const l = listenForCallback([`http://127.0.0.1:${p}/callback`], async () => ({ ok: true, message: "x" }), { peerUid: () => null });
    try {
      const early = await fetch(`http://127.0.0.1:${p}/callback?code=c&state=s`);
      expect(early.status).toBe(404);
      expect(early.headers.get("content-type")).toStartWith("text/html");
      l.arm({ authorizationUrl: new URL("https://idp.example/a"), state: "s", startPage: false });
      expect((await fetch(`http://127.0.0.1:${p}/callback?code=c&state=s`, { method: "POST" })).status).toBe(404);
      expect((await fetch(`http://127.0.0.1:${p}/callback?code=c&state=s`)).status).toBe(200); // no start page: no cookie needed
    } finally {
      await l.close();
    }
  });

  test("binds loopback only: other hosts are refused", () => {
    expect(() => listenForCallback(["http://0.0.0.0:53682/callback", "http://example.com:53682/callback"], async () => ({ ok: true, message: "" }))).toThrow(/no loopback redirect URI/);
  });

  test("sameSecret", () => {
    expect(sameSecret("abc", "abc")).toBe(true);
    expect(sameSecret("abd", "abc")).toBe(false);
    expect(sameSecret("ab", "abc")).toBe(false);
    expect(sameSecret(null, "abc")).toBe(false);
  });
});

describe("loopback peer owner", () => {
  test("kernel hex addresses", () => {
    expect(kernelHexAddress("0100007F")).toBe("127.0.0.1");
    expect(kernelHexAddress("00000000000000000000000001000000")).toBe("::1");
    expect(kernelHexAddress("0000000000000000FFFF00000100007F")).toBe("127.0.0.1");
    expect(kernelHexAddress("zz")).toBeNull();
  });

  test("finds the client socket's uid in a /proc/net/tcp table", () => {
    const table = [
      "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode",
      "   0: 0100007F:D431 0100007F:9C40 01 00000000:00000000 00:00000000 00000000     0        0 1 1",
      "   1: 0100007F:9C40 0100007F:D432 01 00000000:00000000 00:00000000 00000000  1000        0 2 1",
      "   2: 0100007F:D432 0100007F:9C40 01 00000000:00000000 00:00000000 00000000  4242        0 3 1",
    ].join("\n");
    const read = (path: string) => (path === "/proc/net/tcp" ? table : "");
    expect(loopbackPeerUid({ address: "127.0.0.1", port: 0xd432 }, 0x9c40, read)).toBe(4242);
    expect(loopbackPeerUid({ address: "::ffff:127.0.0.1", port: 0xd431 }, 0x9c40, read)).toBe(0);
    expect(loopbackPeerUid({ address: "127.0.0.1", port: 0xd433 }, 0x9c40, read)).toBeNull();
  });

  test("on this machine, a real connection is owned by this process's user", async () => {
    let seen: number | null | undefined;
    const server = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: (req, s) => {
      const peer = s.requestIP(req)!;
      seen = loopbackPeerUid({ address: peer.address, port: peer.port }, s.port!);
      return new Response("ok");
    } });
    try {
      await (await fetch(`http://127.0.0.1:${server.port}/`)).text();
      expect(seen).toBe(process.platform === "linux" ? process.getuid!() : null);
    } finally {
      server.stop(true);
    }
  });
});
