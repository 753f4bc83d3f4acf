/**
 * What the proxy benchmarks share (bench/proxy.ts, bench/gwperf-quick.ts): processes started and
 * stopped, wrk run asynchronously (so servers in the benchmark's own process keep answering),
 * CPU time by thread from /proc, nginx as a plain reverse proxy, medians.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";

export const ROOT = join(import.meta.dir, "..");
export const BUN = process.execPath;

/** Starts a process and resolves with the first line it prints (its URL, for the stub). */
export function firstLine(child: ChildProcess): Promise<string> {
  let stderr = "";
  child.stderr?.on("data", (d) => (stderr += d));
  return new Promise((resolve, reject) => {
    createInterface({ input: child.stdout! }).once("line", resolve);
    child.once("exit", (code) => reject(new Error(`exited ${code}: ${stderr}`)));
  });
}

export async function waitFor(url: string): Promise<void> {
  for (let i = 0; i < 200; i++) {
    try {
      if ((await fetch(url)).status < 500) return;
    } catch {}
    await Bun.sleep(50);
  }
  throw new Error(`${url} did not come up`);
}

export function stopChild(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    child.once("exit", () => resolve());
    child.kill("SIGTERM");
  });
}

export interface WrkResult {
  rps: number;
  p50: number;
  p99: number;
  requests: number;
  errors: string;
  /** wrk's own CPU time per request (µs): the load generator shares the cores. */
  wrkCpuUs: number;
}

export function toMs(text: string): number {
  const m = /^([\d.]+)(us|ms|s|m)$/.exec(text.trim());
  if (!m) return NaN;
  return Number(m[1]) * { us: 0.001, ms: 1, s: 1000, m: 60_000 }[m[2] as "us" | "ms" | "s" | "m"];
}

/** Non-streamed POST /v1/messages (bench/post.lua) with the credentials in `env`. */
export async function wrk(url: string, connections: number, env: Record<string, string>, duration: string): Promise<WrkResult> {
  const threads = Math.min(2, connections);
  const child = Bun.spawn(["wrk", "-t", String(threads), "-c", String(connections), "-d", duration, "--latency", "-s", join(ROOT, "bench", "post.lua"), url], {
    env: { ...process.env, ...env },
    stdout: "pipe",
    stderr: "pipe",
  });
  const [out, err, code] = await Promise.all([new Response(child.stdout).text(), new Response(child.stderr).text(), child.exited]);
  if (code !== 0) throw new Error(`wrk failed: ${err}`);
  const usage = child.resourceUsage();
  const errors = [/Non-2xx or 3xx responses: (\d+)/.exec(out)?.[1], /Socket errors: (.*)/.exec(out)?.[1]].filter(Boolean).join("; ");
  const requests = Number(/(\d+) requests in/.exec(out)?.[1]);
  return {
    rps: Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1]),
    requests,
    wrkCpuUs: usage ? Number(usage.cpuTime.user + usage.cpuTime.system) / requests : NaN,
    // the distribution lines start with the percentile ("Thread Stats" lines also contain "50%")
    p50: toMs(/^\s*50%\s+(\S+)/m.exec(out)?.[1] ?? ""),
    p99: toMs(/^\s*99%\s+(\S+)/m.exec(out)?.[1] ?? ""),
    errors: errors || "none",
  };
}

interface ProcStat {
  comm: string;
  ppid: number;
  ticks: number;
}

function procStat(path: string): ProcStat | undefined {
  try {
    const text = readFileSync(path, "utf8");
    const close = text.lastIndexOf(")");
    const fields = text.slice(close + 2).split(" ");
    return { comm: text.slice(text.indexOf("(") + 1, close), ppid: Number(fields[1]), ticks: Number(fields[11]) + Number(fields[12]) };
  } catch {
    return undefined;
  }
}

/** CPU time (ms, user + system) by thread name of a process and all its descendants (Linux /proc). */
export function cpuByThread(root: number): Map<string, number> {
  const pids = readdirSync("/proc").filter((d) => /^\d+$/.test(d)).map(Number);
  const parents = new Map(pids.map((p) => [p, procStat(`/proc/${p}/stat`)?.ppid]));
  const tree = new Set([root]);
  for (let grew = true; grew; ) {
    grew = false;
    for (const [p, pp] of parents) if (pp !== undefined && tree.has(pp) && !tree.has(p)) (tree.add(p), (grew = true));
  }
  const out = new Map<string, number>();
  for (const p of tree) {
    let tids: string[] = [];
    try {
      tids = readdirSync(`/proc/${p}/task`);
    } catch {}
    for (const t of tids) {
      const s = procStat(`/proc/${p}/task/${t}/stat`);
      if (!s) continue;
      // a process's main thread is "main"; Bun's threads keep their names ("HTTP Client", "Worker"...)
      const name = t === String(p) ? "main" : s.comm.replace(/\d+$/, "").trim();
      out.set(name, (out.get(name) ?? 0) + s.ticks * 10);
    }
  }
  return out;
}

/** CPU µs per request between two snapshots: total and by thread (threads under 2 µs left out). */
export function cpuPerRequest(before: Map<string, number>, after: Map<string, number>, requests: number): { total: number; threads: [string, number][] } {
  let total = 0;
  const threads: [string, number][] = [];
  for (const [name, ms] of after) {
    const us = ((ms - (before.get(name) ?? 0)) * 1000) / requests;
    total += us;
    if (us >= 2) threads.push([name, us]);
  }
  return { total, threads: threads.sort((a, b) => b[1] - a[1]) };
}

export const describeCpu = (c: { total: number; threads: [string, number][] }) => `${c.total.toFixed(0)} (${c.threads.map(([n, us]) => `${n} ${us.toFixed(0)}`).join(", ")})`;

export function median(xs: number[]): number {
  const sorted = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

/** nginx as a plain keep-alive reverse proxy in front of `upstream`, `workers` worker processes. */
export function startNginx(workers: number, port: number, upstream: string): ChildProcess {
  const dir = mkdtempSync(join(tmpdir(), "ara-nginx-"));
  writeFileSync(
    join(dir, "nginx.conf"),
    `daemon off; worker_processes ${workers}; pid ${dir}/nginx.pid; error_log ${dir}/error.log;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path ${dir}/body; proxy_temp_path ${dir}/proxy; fastcgi_temp_path ${dir}/fcgi; uwsgi_temp_path ${dir}/uwsgi; scgi_temp_path ${dir}/scgi;
  upstream stub { server ${new URL(upstream).host}; keepalive 128; }
  server {
    listen 127.0.0.1:${port};
    location / { proxy_pass http://stub; proxy_http_version 1.1; proxy_set_header Connection ""; proxy_buffering off; }
  }
}
`,
  );
  return spawn("nginx", ["-c", join(dir, "nginx.conf"), "-p", dir], { stdio: "ignore" });
}

/** The machine's load average, for the report. */
export const loadAverage = () => readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ");
