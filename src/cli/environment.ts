/**
 * What the process can do with the person in front of it. "A terminal" is a controlling terminal
 * (/dev/tty opens), not stdout being a TTY: Claude Code runs the helper with sockets for its
 * standard streams, inside the user's terminal.
 */
import { closeSync, openSync, readFileSync } from "node:fs";

export function hasControllingTerminal(): boolean {
  if (process.platform === "win32") return Boolean(process.stdin.isTTY || process.stderr.isTTY);
  try {
    closeSync(openSync("/dev/tty", "r"));
    return true;
  } catch {
    return false;
  }
}

export function isWsl(): boolean {
  if (process.platform !== "linux") return false;
  if (process.env.WSL_DISTRO_NAME || process.env.WSL_INTEROP) return true;
  try {
    return /microsoft/i.test(readFileSync("/proc/sys/kernel/osrelease", "utf8"));
  } catch {
    return false;
  }
}

/** A browser can be shown: always on macOS and Windows; on Linux a display, BROWSER, or WSL. */
export function hasDisplay(): boolean {
  if (process.platform === "darwin" || process.platform === "win32") return true;
  const env = process.env;
  return Boolean(env.DISPLAY || env.WAYLAND_DISPLAY || env.BROWSER || isWsl());
}

export function isCI(): boolean {
  const ci = process.env.CI;
  return ci !== undefined && ci !== "" && ci !== "0" && ci.toLowerCase() !== "false";
}

/** Why an automatic interactive login is impossible here, or null when it is possible. */
export function interactiveLoginBlocker(): string | null {
  if (isCI()) return "$CI is set";
  if (!hasControllingTerminal()) return "there is no terminal";
  if (!hasDisplay()) return "there is no display to open a browser on (no DISPLAY, WAYLAND_DISPLAY or BROWSER)";
  return null;
}
