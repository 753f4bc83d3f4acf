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

export function secretToolLookup(env: Record<string, string>, attributes: Record<string, string>): string | null {
  const result = spawnSync("secret-tool", ["lookup", ...Object.entries(attributes).flat()], { env: { ...process.env, ...env }, encoding: "utf8" });
  return result.status === 0 ? result.stdout : null;
}
