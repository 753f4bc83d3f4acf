/**
 * Where the CLI keeps its files, per platform (XDG on Linux, as users expect).
 * Plain string joins, no node:path or node:os: this module is on the `token` start-up path,
 * where every Node-compat module costs measurable time.
 */

const APP = "agent-runner-auth";
const SEP = process.platform === "win32" ? "\\" : "/";

export const joinPath = (...parts: string[]): string => parts.join(SEP);

function home(): string {
  if (process.env.HOME) return process.env.HOME;
  if (process.env.USERPROFILE) return process.env.USERPROFILE;
  return (require("node:os") as typeof import("node:os")).homedir();
}

/** Configuration (profiles): ~/.config on Linux, Application Support on macOS, %APPDATA% on Windows. */
export function configDir(): string {
  if (process.platform === "win32") return joinPath(process.env.APPDATA || joinPath(home(), "AppData", "Roaming"), APP);
  if (process.platform === "darwin") return joinPath(home(), "Library", "Application Support", APP);
  return joinPath(process.env.XDG_CONFIG_HOME || joinPath(home(), ".config"), APP);
}

/** Data (the explicit file store): ~/.local/share on Linux. */
export function dataDir(): string {
  if (process.platform === "win32") return joinPath(process.env.LOCALAPPDATA || joinPath(home(), "AppData", "Local"), APP, "data");
  if (process.platform === "darwin") return joinPath(home(), "Library", "Application Support", APP, "data");
  return joinPath(process.env.XDG_DATA_HOME || joinPath(home(), ".local", "share"), APP);
}

/**
 * Private runtime state (locks, login cool-down): a per-user directory, never a shared /tmp path.
 * ~/.local/state on Linux (XDG_STATE_HOME), so it survives where XDG_RUNTIME_DIR is missing (SSH, containers).
 */
export function stateDir(): string {
  if (process.platform === "win32") return joinPath(process.env.LOCALAPPDATA || joinPath(home(), "AppData", "Local"), APP, "state");
  if (process.platform === "darwin") return joinPath(home(), "Library", "Application Support", APP, "state");
  return joinPath(process.env.XDG_STATE_HOME || joinPath(home(), ".local", "state"), APP);
}
