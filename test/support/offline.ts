/**
 * Runs a command where it cannot reach the internet: in a new network namespace with only the
 * loopback interface (as root, `unshare --net`). Everything the command talks to must be started
 * inside it.
 */
import { spawn } from "node:child_process";

export interface OfflineResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export function runOffline(command: string[], env: Record<string, string>, timeoutMs = 120_000): Promise<OfflineResult> {
  return new Promise((resolve, reject) => {
    const child = spawn("unshare", ["--net", "--", "sh", "-c", 'ip link set lo up && exec "$@"', "sh", ...command], { env, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.on("error", reject);
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}
