/**
 * Opens a URL in the user's browser. BROWSER is honoured first (a command that gets the URL as
 * its argument; `%s` in it is replaced by the URL, as in xdg and Python's webbrowser); then the
 * platform opener. The browser is detached: we never wait for it.
 *
 * Whatever is passed here is on a command line that every local user can read (`ps`), so the
 * login hands it only its one-shot loopback start address, never the authorization URL with its
 * state and nonce (see oauth/loopback.ts).
 */
import { spawn } from "node:child_process";
import { isWsl } from "./environment.ts";

export interface BrowserOpener {
  open(url: string): Promise<boolean>;
}

function launch(command: string, args: string[]): Promise<boolean> {
  return new Promise((resolve) => {
    try {
      const child = spawn(command, args, { detached: true, stdio: "ignore" });
      child.once("error", () => resolve(false));
      child.once("spawn", () => {
        child.unref();
        resolve(true);
      });
    } catch {
      resolve(false);
    }
  });
}

export function platformOpenCommand(url: string, platform = process.platform, wsl = isWsl()): [string, string[]] {
  if (platform === "darwin") return ["open", [url]];
  // rundll32 takes the URL verbatim; `cmd /c start` would mangle '&' in the query string.
  if (platform === "win32") return ["rundll32", ["url.dll,FileProtocolHandler", url]];
  if (wsl) return ["rundll32.exe", ["url.dll,FileProtocolHandler", url]];
  return ["xdg-open", [url]];
}

export const systemBrowser: BrowserOpener = {
  async open(url: string): Promise<boolean> {
    const configured = process.env.BROWSER?.trim();
    if (configured) {
      // Run through the shell so BROWSER may hold arguments; the URL travels as "$1", never interpolated.
      const script = configured.includes("%s") ? configured.replaceAll("%s", '"$1"') : `${configured} "$1"`;
      if (process.platform === "win32") {
        // cmd has no "$1": the URL is spliced in, so anything cmd would interpret is not launched.
        if (/[&|<>^%"!\s]/.test(url)) return false;
        return launch("cmd", ["/d", "/s", "/c", configured.includes("%s") ? configured.replaceAll("%s", url) : `${configured} ${url}`]);
      }
      return launch("/bin/sh", ["-c", script, "sh", url]);
    }
    const [command, args] = platformOpenCommand(url);
    return launch(command, args);
  },
};
