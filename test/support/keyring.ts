/**
 * A real Secret Service for tests: a private D-Bus session bus and gnome-keyring-daemon on it,
 * unlocked (the normal desktop case) or locked (no unlock, no display: the headless failure).
 */
import { execFileSync, spawnSync } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";

export interface SecretService {
  env: Record<string, string>;
  /** SIGSTOP / SIGCONT the keyring daemon: a keychain that hangs (like a locked KWallet waiting for a password). */
  pause(): void;
  resume(): void;
  stop(): void;
}

export function startSecretService(home: Record<string, string>, options: { unlocked: boolean }): SecretService {
  const env = { ...process.env, ...home } as Record<string, string>;
  const out = execFileSync("dbus-daemon", ["--session", "--fork", "--print-address=1", "--print-pid=1"], { env, encoding: "utf8" }).trim().split("\n");
  const address = out[0]!;
  const busPid = Number(out[1]);
  const busEnv = { ...env, DBUS_SESSION_BUS_ADDRESS: address };
  const args = options.unlocked ? ["--unlock", "--components=secrets"] : ["--daemonize", "--components=secrets"];
  const started = spawnSync("gnome-keyring-daemon", args, { env: busEnv, input: options.unlocked ? "test-keyring-password" : "", encoding: "utf8" });
  if (started.status !== 0) throw new Error(`gnome-keyring-daemon failed: ${started.stderr}`);
  // The daemon forks and the starter exits before the secrets component owns its bus name; a
  // loaded machine showed the gap (the first login found no Secret Service, exit 4): wait for it.
  waitForBusName(busEnv, "org.freedesktop.secrets", 10_000);
  // Only the daemons started on this bus: found by their environment, never by name.
  const signalDaemons = (signal: NodeJS.Signals) => {
    for (const pid of readdirSync("/proc").filter((d) => /^\d+$/.test(d))) {
      try {
        const environ = readFileSync(`/proc/${pid}/environ`, "utf8");
        const command = readFileSync(`/proc/${pid}/cmdline`, "utf8");
        if (environ.includes(`DBUS_SESSION_BUS_ADDRESS=${address}\0`) && command.includes("gnome-keyring-daemon")) process.kill(Number(pid), signal);
      } catch {}
    }
  };
  return {
    env: { DBUS_SESSION_BUS_ADDRESS: address },
    pause: () => signalDaemons("SIGSTOP"),
    resume: () => signalDaemons("SIGCONT"),
    stop: () => {
      signalDaemons("SIGCONT");
      signalDaemons("SIGTERM");
      try {
        process.kill(busPid);
      } catch {}
    },
  };
}

/** Polls the bus until `name` has an owner, or throws after `timeoutMs`. */
function waitForBusName(env: Record<string, string>, name: string, timeoutMs: number): void {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const asked = spawnSync("dbus-send", ["--session", "--print-reply", "--dest=org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus.NameHasOwner", `string:${name}`], { env, encoding: "utf8" });
    if (asked.status === 0 && /boolean true/.test(asked.stdout)) return;
    if (Date.now() > deadline) throw new Error(`${name} has no owner on the test bus after ${timeoutMs} ms: ${asked.stderr}`);
    Bun.sleepSync(25);
  }
}

export function secretToolLookup(env: Record<string, string>, attributes: Record<string, string>): string | null {
  const result = spawnSync("secret-tool", ["lookup", ...Object.entries(attributes).flat()], { env: { ...process.env, ...env }, encoding: "utf8" });
  return result.status === 0 ? result.stdout : null;
}

export interface BusMonitor {
  /** Stops dbus-monitor and returns what it saw. */
  stop(): Promise<BusTraffic>;
}

export interface BusTraffic {
  /** The algorithm of each Secret Service OpenSession ("plain", or keyring-rs's "dh-ietf1024-..."). */
  sessions: string[];
  /** Secret Service method names, in order. */
  calls: string[];
}

/**
 * Watches the private bus with dbus-monitor (a real eavesdropper, as any process of the same
 * user could be), to tell which client read the keychain: the direct path opens "plain"
 * sessions, keyring-rs Diffie-Hellman ones.
 */
export async function monitorBus(env: Record<string, string>): Promise<BusMonitor> {
  const child = Bun.spawn(["dbus-monitor", "--monitor"], { env: { ...process.env, ...env }, stdout: "pipe", stderr: "ignore" });
  const decoder = new TextDecoder();
  let text = "";
  const reader = child.stdout.getReader();
  const pump = (async () => {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      text += decoder.decode(value);
    }
  })();
  const ready = Date.now() + 5000;
  while (!text.includes("NameAcquired") && Date.now() < ready) await Bun.sleep(20);
  if (!text.includes("NameAcquired")) throw new Error("dbus-monitor did not start");
  return {
    stop: async () => {
      await Bun.sleep(200); // let the last messages reach the monitor
      child.kill();
      await pump.catch(() => {});
      const calls = [...text.matchAll(/^method call .*interface=org\.freedesktop\.Secret\.\w+; member=(\w+)$/gm)].map((m) => m[1]!);
      const sessions = [...text.matchAll(/member=OpenSession\n\s+string "([^"]*)"/g)].map((m) => m[1]!);
      return { sessions, calls };
    },
  };
}

/** Stores a value the way any libsecret client would (secret-tool), under keyring-rs's attributes. */
export function secretToolStore(env: Record<string, string>, attributes: Record<string, string>, value: string): void {
  const result = spawnSync("secret-tool", ["store", "--label", "stored by secret-tool", ...Object.entries(attributes).flat()], { env: { ...process.env, ...env }, input: value, encoding: "utf8" });
  if (result.status !== 0) throw new Error(`secret-tool store failed: ${result.stderr}`);
}
