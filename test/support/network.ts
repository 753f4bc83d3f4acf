/** A private CA with a localhost certificate (openssl), and a counting HTTP CONNECT forward proxy. */
import { execFileSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { connect, createServer, type AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

export interface TestCa {
  caFile: string;
  certFile: string;
  keyFile: string;
}

export function createTestCa(): TestCa {
  const dir = mkdtempSync(join(tmpdir(), "ara-ca-"));
  const f = (name: string) => join(dir, name);
  const quiet = { stdio: "ignore" as const };
  execFileSync("openssl", ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", f("ca.key"), "-out", f("ca.pem"), "-days", "2", "-subj", "/CN=agent-runner test CA"], quiet);
  execFileSync("openssl", ["req", "-newkey", "rsa:2048", "-nodes", "-keyout", f("server.key"), "-out", f("server.csr"), "-subj", "/CN=localhost"], quiet);
  writeFileSync(f("ext"), "subjectAltName=DNS:localhost,IP:127.0.0.1\n");
  execFileSync("openssl", ["x509", "-req", "-in", f("server.csr"), "-CA", f("ca.pem"), "-CAkey", f("ca.key"), "-CAcreateserial", "-out", f("server.pem"), "-days", "2", "-extfile", f("ext")], quiet);
  return { caFile: f("ca.pem"), certFile: f("server.pem"), keyFile: f("server.key") };
}

export interface ForwardProxy {
  url: string;
  tunnels: () => number;
  stop(): void;
}

/** An HTTP CONNECT proxy, as corporate networks have; counts the tunnels it opened. */
export async function startForwardProxy(): Promise<ForwardProxy> {
  let tunnels = 0;
  const server = createServer((client) => {
    client.once("data", (head) => {
      const match = /^CONNECT ([^:\s]+):(\d+) HTTP/.exec(head.toString());
      if (!match) {
        client.end("HTTP/1.1 405 Method Not Allowed\r\n\r\n");
        return;
      }
      tunnels++;
      const upstream = connect(Number(match[2]), match[1] === "localhost" ? "127.0.0.1" : match[1], () => {
        client.write("HTTP/1.1 200 Connection Established\r\n\r\n");
        upstream.pipe(client);
        client.pipe(upstream);
      });
      upstream.on("error", () => client.destroy());
      client.on("error", () => upstream.destroy());
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, tunnels: () => tunnels, stop: () => server.close() };
}

/** Takes ports on 127.0.0.1 (another program using the registered callback ports); returns a release. */
export async function occupyPorts(ports: number[]): Promise<() => void> {
  const servers = await Promise.all(
    ports.map(
      (port) =>
        new Promise<ReturnType<typeof createServer>>((resolve) => {
          const s = createServer();
          s.listen(port, "127.0.0.1", () => resolve(s));
        }),
    ),
  );
  return () => {
    for (const s of servers) s.close();
  };
}

export interface InterceptingProxy {
  url: string;
  /** mitmproxy's own CA: the only thing that makes its re-signed certificates trusted. */
  caFile: string;
  /** The request lines mitmproxy decrypted and logged ("GET https://localhost:1234/path"). */
  flows: () => string[];
  stop(): Promise<void>;
}

/**
 * A real TLS-intercepting proxy (mitmproxy's mitmdump), as a TLS-inspecting corporate network
 * has: it answers CONNECT, re-signs the site with its own CA (generated in a fresh confdir) and
 * logs each decrypted request. Upstream verification is off: the upstream is the local tenant.
 */
export async function startInterceptingProxy(): Promise<InterceptingProxy> {
  const confdir = mkdtempSync(join(tmpdir(), "ara-mitm-"));
  const port = await freePort();
  const child = Bun.spawn(["mitmdump", "--listen-host", "127.0.0.1", "--listen-port", String(port), "--set", `confdir=${confdir}`, "--ssl-insecure", "--set", "flow_detail=1"], { stdout: "pipe", stderr: "pipe" });
  let output = "";
  const ready = (async () => {
    const decoder = new TextDecoder();
    for await (const chunk of child.stdout) output += decoder.decode(chunk, { stream: true });
  })();
  void ready;
  const deadline = Date.now() + 20_000;
  while (!output.includes("Proxy server listening")) {
    if (Date.now() > deadline || child.exitCode !== null) throw new Error(`mitmdump did not start: ${output}${await new Response(child.stderr).text()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    url: `http://127.0.0.1:${port}`,
    caFile: join(confdir, "mitmproxy-ca-cert.pem"),
    flows: () => [...output.matchAll(/^\S+: ([A-Z]+ https:\/\/\S+)/gm)].map((m) => m[1]!),
    async stop() {
      child.kill();
      await child.exited;
    },
  };
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}
