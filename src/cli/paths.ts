/** Where the CLI keeps its files, per platform (XDG on Linux, as users expect). */
import { homedir } from "node:os";
import { join } from "node:path";

const APP = "agent-runner-auth";

function home(): string {
  return process.env.HOME || homedir();
}

/** Configuration (profiles): ~/.config on Linux, Application Support on macOS, %APPDATA% on Windows. */
export function configDir(): string {
  if (process.platform === "win32") return join(process.env.APPDATA || join(home(), "AppData", "Roaming"), APP);
  if (process.platform === "darwin") return join(home(), "Library", "Application Support", APP);
  return join(process.env.XDG_CONFIG_HOME || join(home(), ".config"), APP);
}

/** Data (the explicit file store): ~/.local/share on Linux. */
export function dataDir(): string {
  if (process.platform === "win32") return join(process.env.LOCALAPPDATA || join(home(), "AppData", "Local"), APP, "data");
  if (process.platform === "darwin") return join(home(), "Library", "Application Support", APP, "data");
  return join(process.env.XDG_DATA_HOME || join(home(), ".local", "share"), APP);
}

/**
 * Private runtime state (locks, login cool-down): a per-user directory, never a shared /tmp path.
 * ~/.local/state on Linux (XDG_STATE_HOME), so it survives where XDG_RUNTIME_DIR is missing (SSH, containers).
 */
export function stateDir(): string {
  if (process.platform === "win32") return join(process.env.LOCALAPPDATA || join(home(), "AppData", "Local"), APP, "state");
  if (process.platform === "darwin") return join(home(), "Library", "Application Support", APP, "state");
  return join(process.env.XDG_STATE_HOME || join(home(), ".local", "state"), APP);
}
