/**
 * Who is on the other end of a loopback connection. On Linux the kernel lists every TCP socket
 * of this network namespace, with its owner's uid, in /proc/net/tcp{,6} (readable by anyone,
 * also under hidepid): the client's socket is the one whose local address is the client's and
 * whose remote port is ours. Elsewhere (macOS, Windows) the owner is unknown (null).
 */
import { readFileSync } from "node:fs";

export interface PeerAddress {
  address: string;
  port: number;
}

/** The kernel's hex form: IPv4 as one little-endian word, IPv6 as four. Only loopback forms are named. */
export function kernelHexAddress(hex: string): string | null {
  const bytes = (word: string) => (word.match(/../g) ?? []).reverse().map((b) => parseInt(b, 16));
  if (hex.length === 8) return bytes(hex).join(".");
  if (hex.length !== 32) return null;
  const all = [0, 8, 16, 24].flatMap((i) => bytes(hex.slice(i, i + 8)));
  if (all.slice(0, 15).every((b) => b === 0) && all[15] === 1) return "::1";
  if (all.slice(0, 10).every((b) => b === 0) && all[10] === 0xff && all[11] === 0xff) return all.slice(12).join(".");
  return null;
}

const canonical = (address: string) => address.toLowerCase().replace(/^::ffff:(?=\d+\.)/, "");

/** The uid owning the client socket `peer` connected to our `serverPort`, or null when unknown. */
export function loopbackPeerUid(peer: PeerAddress, serverPort: number, read: (path: string) => string = (p) => readFileSync(p, "utf8")): number | null {
  const want = canonical(peer.address);
  for (const table of ["/proc/net/tcp", "/proc/net/tcp6"]) {
    let text: string;
    try {
      text = read(table);
    } catch {
      continue;
    }
    for (const line of text.split("\n").slice(1)) {
      const fields = line.trim().split(/\s+/);
      const [localHex, localPort] = (fields[1] ?? "").split(":");
      const remotePort = (fields[2] ?? "").split(":")[1];
      if (!localHex || !localPort || !remotePort || fields[7] === undefined) continue;
      if (parseInt(localPort, 16) !== peer.port || parseInt(remotePort, 16) !== serverPort) continue;
      if (kernelHexAddress(localHex) !== want) continue;
      const uid = Number(fields[7]);
      return Number.isInteger(uid) ? uid : null;
    }
  }
  return null;
}
