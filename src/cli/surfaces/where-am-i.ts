/**
 * Where this CLI runs, and how a browser sign-in can reach it (issue 11, section 4): a container
 * (/.dockerenv, /run/.containerenv, $container, Codespaces, VS Code dev containers), an SSH
 * session, WSL, or a local desktop. The advice is one screen: forward the loopback callback port,
 * or use the paste flow (`login --no-browser`), which always works.
 */

export interface PlaceFacts {
  env: Readonly<Record<string, string | undefined>>;
  platform: string;
  exists: (path: string) => boolean;
  /** /proc/sys/kernel/osrelease, or null. */
  osRelease: string | null;
  /** The loopback ports of the profile's redirect URIs, in order. */
  callbackPorts: number[];
  /** `agent-runner-auth login [--profile P]`. */
  loginCommand: string;
}

export type PlaceKind = "codespaces" | "dev-container" | "container" | "ssh" | "wsl" | "local";

export interface Place {
  kind: PlaceKind;
  /** The evidence, for `doctor` ("SSH_CONNECTION is set"). */
  signals: string[];
  /** A browser on this machine can reach the loopback callback without help. */
  loopbackWorks: boolean;
  /** The one-screen advice (empty for a local desktop). */
  advice: string[];
}

export function detectPlace(f: PlaceFacts): Place {
  const signals: string[] = [];
  const env = f.env;
  if (env.CODESPACES === "true") signals.push("CODESPACES=true");
  if (env.REMOTE_CONTAINERS === "true") signals.push("REMOTE_CONTAINERS=true");
  if (f.exists("/.dockerenv")) signals.push("/.dockerenv exists");
  if (f.exists("/run/.containerenv")) signals.push("/run/.containerenv exists");
  if (env.container) signals.push("$container is set");
  const ssh = Boolean(env.SSH_CONNECTION || env.SSH_TTY || env.SSH_CLIENT);
  if (ssh) signals.push(env.SSH_CONNECTION ? "SSH_CONNECTION is set" : env.SSH_TTY ? "SSH_TTY is set" : "SSH_CLIENT is set");
  const wsl = f.platform === "linux" && Boolean(env.WSL_DISTRO_NAME || env.WSL_INTEROP || /microsoft/i.test(f.osRelease ?? ""));
  if (wsl) signals.push("WSL");
  // SSH before a plain container: whoever SSHed into a container can forward with ssh -L, since
  // the sshd shares the container's loopback.
  const kind: PlaceKind = env.CODESPACES === "true" ? "codespaces" : env.REMOTE_CONTAINERS === "true" ? "dev-container" : ssh ? "ssh" : signals.some((s) => /docker|containerenv|\$container/.test(s)) ? "container" : wsl ? "wsl" : "local";
  const port = f.callbackPorts[0] ?? 53682;
  const ports = f.callbackPorts.length > 0 ? f.callbackPorts : [port];
  const paste = `Or sign in without a forwarded port: ${f.loginCommand} --no-browser, open the address it prints in any browser, and paste the address the browser ends on (it shows an error page; that is expected).`;
  const advice: Record<PlaceKind, string[]> = {
    local: [],
    wsl: [`WSL: the browser opens on Windows, and WSL 2 forwards localhost:${port} to this distribution by default, so ${f.loginCommand} works as is.`, `If the sign-in page cannot reach the callback (localhostForwarding=false in .wslconfig): ${paste.slice(3)}`],
    ssh: [
      `You are in an SSH session: a browser here is on the remote machine.`,
      `Forward the callback port from your own machine, then sign in: ssh -L ${port}:localhost:${port} <this host>, and run ${f.loginCommand} --no-browser --port ${port} here; open the printed address in your local browser.`,
      paste,
    ],
    "dev-container": [
      `You are in a VS Code dev container: VS Code forwards localhost ports to your machine.`,
      `Run ${f.loginCommand} --no-browser --port ${port}, and open the printed address in your browser; if the port is not forwarded automatically, add it in the Ports view (or "forwardPorts": [${ports.join(", ")}] in devcontainer.json).`,
      paste,
    ],
    codespaces: [
      `You are in a GitHub Codespace: in the VS Code desktop client, localhost:${port} is forwarded to your machine; in the browser client it is not (forwarded ports get an https://…app.github.dev address the sign-in page cannot redirect to).`,
      `Desktop client: run ${f.loginCommand} --no-browser --port ${port} and open the printed address.`,
      paste,
    ],
    container: [
      `You are in a container: a browser on your machine reaches its loopback port only if it is published or forwarded.`,
      `Publish it (docker run -p 127.0.0.1:${port}:${port} ...), then run ${f.loginCommand} --no-browser --port ${port} and open the printed address.`,
      paste,
    ],
  };
  return { kind, signals, loopbackWorks: kind === "local" || kind === "wsl", advice: advice[kind] };
}

/**
 * Whether a browser this process opens would be in front of the user. BROWSER is trusted (VS Code
 * sets it in dev containers and Codespaces to open the browser on the user's machine); over SSH
 * or in a container only a forwarded display counts (`open` on a Mac someone SSHed into shows the
 * page on that Mac's screen, not the user's).
 */
export function browserHere(place: Place, env: PlaceFacts["env"], platform: string): boolean {
  if (env.BROWSER?.trim()) return true;
  const graphical = Boolean(env.DISPLAY || env.WAYLAND_DISPLAY);
  if (place.kind === "wsl") return true;
  if (place.kind === "local") return graphical || platform === "darwin" || platform === "win32";
  return graphical;
}

/**
 * The one screen of a login that cannot open a browser here, printed under the sign-in address
 * while the login waits for both the forwarded callback and a pasted address. `port` is the
 * callback port actually listened on (null: every registered port was busy, paste only).
 */
export function signInScreen(place: Place, port: number | null): string[] {
  const paste = "Or paste here the address your browser ends on (its page fails to load; that is expected), or just the code in it.";
  if (port === null) return [paste.replace(/^Or p/, "P")];
  const reach: Record<PlaceKind, string> = {
    ssh: `This is an SSH session, so a browser here would be on the remote machine. To use the browser on your own machine, forward the callback port: ssh -L ${port}:localhost:${port} <this host> (or add port ${port} in VS Code's Ports view), then open the address above there; this login finishes by itself.`,
    "dev-container": `In a VS Code dev container, port ${port} is forwarded to your machine (add it in the Ports view if it is not), so the address above works in your own browser; this login finishes by itself.`,
    codespaces: `In a Codespace opened in the VS Code desktop client, port ${port} is forwarded to your machine, so the address above works in your browser and this login finishes by itself (the browser client cannot forward it: paste instead).`,
    container: `In a container, a browser on your machine reaches the callback only if port ${port} is published or forwarded (docker run -p 127.0.0.1:${port}:${port} ..., or VS Code's Ports view); then open the address above there and this login finishes by itself.`,
    wsl: `Open the address above in a Windows browser: WSL forwards localhost:${port} here, and this login finishes by itself.`,
    local: `No browser can be opened here (no DISPLAY, WAYLAND_DISPLAY or BROWSER). Open the address above in a browser on this machine, or on another one with the callback port forwarded (ssh -L ${port}:localhost:${port} <this host>); this login finishes by itself.`,
  };
  return [reach[place.kind], paste];
}
