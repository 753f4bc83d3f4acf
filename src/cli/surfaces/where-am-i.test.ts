import { expect, test } from "bun:test";
import { browserHere, detectPlace, signInScreen, type PlaceFacts } from "./where-am-i.ts";

const facts = (over: Partial<PlaceFacts> = {}): PlaceFacts => ({ env: {}, platform: "linux", exists: () => false, osRelease: "6.1.0-18-amd64", callbackPorts: [53682, 53683], loginCommand: "agent-runner-auth login", ...over });

test("a local desktop: nothing to say", () => {
  expect(detectPlace(facts())).toEqual({ kind: "local", signals: [], loopbackWorks: true, advice: [] });
  expect(detectPlace(facts({ platform: "darwin", osRelease: null })).kind).toBe("local");
});

test("SSH: the exact port-forward command and the paste flow", () => {
  const p = detectPlace(facts({ env: { SSH_CONNECTION: "10.0.0.2 50000 10.0.0.1 22" } }));
  expect(p).toMatchObject({ kind: "ssh", loopbackWorks: false, signals: ["SSH_CONNECTION is set"] });
  expect(p.advice.join("\n")).toContain("ssh -L 53682:localhost:53682 <this host>");
  expect(p.advice.join("\n")).toContain("agent-runner-auth login --no-browser");
  expect(p.advice.length).toBeLessThanOrEqual(4);
  expect(detectPlace(facts({ env: { SSH_TTY: "/dev/pts/1" } })).kind).toBe("ssh");
});

test("containers: docker, podman, $container, dev containers and Codespaces told apart", () => {
  expect(detectPlace(facts({ exists: (p) => p === "/.dockerenv" })).kind).toBe("container");
  expect(detectPlace(facts({ exists: (p) => p === "/run/.containerenv" })).kind).toBe("container");
  expect(detectPlace(facts({ env: { container: "podman" } })).kind).toBe("container");
  // SSHed into a container: the sshd shares its loopback, so ssh -L is the way
  expect(detectPlace(facts({ env: { SSH_CONNECTION: "a b c d" }, exists: (p) => p === "/.dockerenv" })).kind).toBe("ssh");
  const dev = detectPlace(facts({ env: { REMOTE_CONTAINERS: "true" }, exists: (p) => p === "/.dockerenv" }));
  expect(dev.kind).toBe("dev-container");
  expect(dev.advice.join("\n")).toContain(`"forwardPorts": [53682, 53683]`);
  const cs = detectPlace(facts({ env: { CODESPACES: "true", SSH_CONNECTION: "x" } }));
  expect(cs.kind).toBe("codespaces");
  expect(cs.signals).toContain("SSH_CONNECTION is set");
  expect(cs.advice.join("\n")).toMatch(/browser client it is not/);
  expect(detectPlace(facts({ exists: (p) => p === "/.dockerenv" })).advice.join("\n")).toContain("docker run -p 127.0.0.1:53682:53682");
});

test("WSL: loopback works through Windows' forwarding; the kernel string or the variables detect it", () => {
  expect(detectPlace(facts({ osRelease: "5.15.167.4-microsoft-standard-WSL2" }))).toMatchObject({ kind: "wsl", loopbackWorks: true });
  expect(detectPlace(facts({ env: { WSL_DISTRO_NAME: "Ubuntu" } })).kind).toBe("wsl");
  expect(detectPlace(facts({ platform: "darwin", env: { WSL_DISTRO_NAME: "x" } })).kind).toBe("local");
});

test("a browser opened here is in front of the user: a display or BROWSER; over SSH or in a container only a forwarded one", () => {
  const here = (over: Partial<PlaceFacts>) => browserHere(detectPlace(facts(over)), over.env ?? {}, over.platform ?? "linux");
  expect(here({ env: { DISPLAY: ":0" } })).toBe(true);
  expect(here({ env: {} })).toBe(false);
  expect(here({ platform: "darwin", osRelease: null })).toBe(true);
  expect(here({ env: { SSH_CONNECTION: "a b c d" } })).toBe(false);
  expect(here({ platform: "darwin", osRelease: null, env: { SSH_CONNECTION: "a b c d" } })).toBe(false);
  expect(here({ env: { SSH_CONNECTION: "a b c d", DISPLAY: "localhost:10.0" } })).toBe(true);
  expect(here({ env: { REMOTE_CONTAINERS: "true", BROWSER: "/vscode/bin/helpers/browser.sh" } })).toBe(true);
  expect(here({ exists: (p) => p === "/.dockerenv" })).toBe(false);
  expect(here({ env: { WSL_DISTRO_NAME: "Ubuntu" } })).toBe(true);
});

test("the one screen of a browserless login: the listened port forwarded, and the paste", () => {
  const ssh = signInScreen(detectPlace(facts({ env: { SSH_CONNECTION: "a b c d" } })), 53683);
  expect(ssh).toHaveLength(2);
  expect(ssh[0]).toContain("ssh -L 53683:localhost:53683 <this host>");
  expect(ssh[0]).toContain("VS Code's Ports view");
  expect(ssh[1]).toContain("paste here the address your browser ends on");
  expect(signInScreen(detectPlace(facts({ exists: (p) => p === "/.dockerenv" })), 53682)[0]).toContain("docker run -p 127.0.0.1:53682:53682");
  expect(signInScreen(detectPlace(facts()), 53682)[0]).toContain("No browser can be opened here");
  const busy = signInScreen(detectPlace(facts({ env: { SSH_CONNECTION: "a b c d" } })), null);
  expect(busy).toEqual(["Paste here the address your browser ends on (its page fails to load; that is expected), or just the code in it."]);
});
