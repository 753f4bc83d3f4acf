/**
 * The `token` cached path's keychain read on Linux: a minimal D-Bus client that speaks only the
 * Secret Service calls a lookup needs (EXTERNAL auth, Hello, OpenSession "plain", SearchItems,
 * GetSecrets) over the session bus's unix socket, pipelined into three round trips.
 *
 * Why not a library: keyring-rs (through @napi-rs/keyring) costs ~1 ms to load and ~6.5 ms per
 * read (a DH key exchange and a connection set-up); libsecret through bun:ffi pays for loading
 * GLib/GIO and its own exchange. This is what makes cached `token` no slower than `secret-tool`
 * (docs/benchmarks.md). It only ever reads: writes, deletes and every case it does not handle
 * exactly like keyring-rs go to @napi-rs/keyring (see KeychainStore).
 *
 * Why a "plain" session is acceptable here: the secret crosses only the user's own session bus, a
 * local unix socket that only this uid can connect to; whoever can watch it (`dbus-monitor` needs
 * the same uid) can just as well ask the daemon for the secret. The DH-encrypted session that
 * libsecret and keyring-rs negotiate protects against nothing more on a local bus.
 *
 * Items are found by the attributes keyring-rs writes ({service, username}), so entries written
 * by either path are read by the other. Anything but "exactly one unlocked item" or "no item"
 * (a locked item, several items, an error reply, a protocol surprise) throws FastReadDeclined,
 * and the caller asks keyring-rs, which prompts, reports ambiguity and words errors as before.
 *
 * Nothing here is imported but globals (Bun.connect, TextEncoder): the cached path stays lean.
 */

/** Why the fast read gave up; the caller then reads through keyring-rs. Never carries a secret. */
export class FastReadDeclined extends Error {
  readonly code = "fast_read_declined";
  constructor(reason: string, options?: { cause?: unknown }) {
    super(reason, options);
    this.name = "FastReadDeclined";
  }
}

export interface SecretLookup {
  /** The secret of the one item with these attributes, or null when none has them. */
  lookup(attributes: Record<string, string>, signal: AbortSignal): Promise<Uint8Array | null>;
  close(): void;
}

const SERVICE = "org.freedesktop.secrets";
const SERVICE_PATH = "/org/freedesktop/secrets";
const SERVICE_IFACE = "org.freedesktop.Secret.Service";
/** Replies are a few KB (a token, a list of item paths); anything bigger is not ours to parse. */
const MAX_MESSAGE_BYTES = 1 << 20;

const encoder = new TextEncoder();
const utf8 = new TextDecoder("utf-8", { fatal: true });

/** The socket path of the first `unix:path=` or `unix:abstract=` address, or null. */
export function busSocketPath(address: string | undefined): string | null {
  if (!address) return null;
  // Plain loops here and below: JSC compiles builtins such as Array.prototype.map on first use,
  // which costs the cold `token` path more than the work itself.
  for (const one of address.split(";")) {
    if (!one.startsWith("unix:")) continue;
    let path: string | undefined;
    let abstract: string | undefined;
    for (const kv of one.slice("unix:".length).split(",")) {
      const eq = kv.indexOf("=");
      if (kv.slice(0, eq) === "path") path = kv.slice(eq + 1);
      else if (kv.slice(0, eq) === "abstract") abstract = kv.slice(eq + 1);
    }
    try {
      if (path) return decodeURIComponent(path);
      if (abstract) return `\0${decodeURIComponent(abstract)}`;
    } catch {
      continue;
    }
  }
  return null;
}

// --- marshalling (little-endian, the only byte order we send) -------------------------------

export class Writer {
  private bytes = new Uint8Array(256);
  private view = new DataView(this.bytes.buffer);
  length = 0;

  private room(n: number) {
    if (this.length + n <= this.bytes.length) return;
    const bigger = new Uint8Array(Math.max(this.bytes.length * 2, this.length + n));
    bigger.set(this.bytes);
    this.bytes = bigger;
    this.view = new DataView(bigger.buffer);
  }
  /** Padding bytes are already zero: the buffer only grows, and new buffers are zeroed. */
  align(n: number) {
    const pad = (n - (this.length % n)) % n;
    this.room(pad);
    this.length += pad;
  }
  byte(v: number) {
    this.room(1);
    this.bytes[this.length++] = v;
  }
  u32(v: number) {
    this.align(4);
    this.room(4);
    this.view.setUint32(this.length, v, true);
    this.length += 4;
  }
  raw(b: Uint8Array) {
    this.room(b.length);
    this.bytes.set(b, this.length);
    this.length += b.length;
  }
  string(s: string) {
    const b = encoder.encode(s);
    this.u32(b.length);
    this.raw(b);
    this.byte(0);
  }
  signature(s: string) {
    this.byte(s.length);
    this.raw(encoder.encode(s));
    this.byte(0);
  }
  /** An array whose elements align to `elementAlign`; the length excludes the padding before them. */
  array(elementAlign: number, items: () => void) {
    this.u32(0);
    const at = this.length - 4;
    this.align(elementAlign);
    const start = this.length;
    items();
    this.view.setUint32(at, this.length - start, true);
  }
  done(): Uint8Array {
    return this.bytes.subarray(0, this.length);
  }
}

export interface Call {
  path: string;
  iface: string;
  member: string;
  destination: string;
  signature?: string;
  body?: (w: Writer) => void;
}

/** A header field: its code (1 path, 2 interface, 3 member, 4 error name, 5 reply serial, 6 destination, 8 signature) and value. */
export type HeaderField = [code: number, type: "o" | "s" | "g" | "u", value: string | number];

/** One message (type 1 call, 2 return, 3 error), little-endian. */
export function marshalMessage(type: number, serial: number, fields: HeaderField[], body?: { signature: string; write: (w: Writer) => void }): Uint8Array {
  const content = new Writer();
  body?.write(content);
  const w = new Writer();
  w.byte(0x6c); // 'l'
  w.byte(type);
  w.byte(type === 1 ? 0 : 1); // calls expect a reply and may auto-start the service (like libdbus)
  w.byte(1); // protocol version
  w.u32(content.length);
  w.u32(serial);
  const all: HeaderField[] = body ? [...fields, [8, "g", body.signature]] : fields;
  w.array(8, () => {
    for (let i = 0; i < all.length; i++) {
      const [code, sig, value] = all[i]!;
      w.align(8);
      w.byte(code);
      w.signature(sig);
      if (sig === "u") w.u32(Number(value));
      else if (sig === "g") w.signature(String(value));
      else w.string(String(value));
    }
  });
  w.align(8);
  w.raw(content.done());
  return w.done();
}

export function marshalCall(serial: number, call: Call): Uint8Array {
  const fields: HeaderField[] = [
    [1, "o", call.path],
    [2, "s", call.iface],
    [3, "s", call.member],
    [6, "s", call.destination],
  ];
  return marshalMessage(1, serial, fields, call.signature && call.body ? { signature: call.signature, write: call.body } : undefined);
}

export class Reader {
  private view: DataView;
  constructor(
    private readonly bytes: Uint8Array,
    public offset: number,
    private readonly le: boolean,
  ) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }
  private need(n: number) {
    if (this.offset + n > this.bytes.length) throw new FastReadDeclined("truncated D-Bus message");
  }
  align(n: number) {
    this.offset += (n - (this.offset % n)) % n;
  }
  byte(): number {
    this.need(1);
    return this.bytes[this.offset++]!;
  }
  u32(): number {
    this.align(4);
    this.need(4);
    const v = this.view.getUint32(this.offset, this.le);
    this.offset += 4;
    return v;
  }
  bytesOf(n: number): Uint8Array {
    this.need(n);
    const b = this.bytes.slice(this.offset, this.offset + n);
    this.offset += n;
    return b;
  }
  string(): string {
    const n = this.u32();
    const s = utf8.decode(this.bytesOf(n));
    this.offset += 1;
    return s;
  }
  signature(): string {
    const n = this.byte();
    const s = utf8.decode(this.bytesOf(n));
    this.offset += 1;
    return s;
  }
  /** Reads array elements until the array's byte length is used up. */
  array(elementAlign: number, item: () => void) {
    const n = this.u32();
    this.align(elementAlign);
    const end = this.offset + n;
    this.need(n);
    while (this.offset < end) item();
  }
  /** Skips a variant whose value is a basic type (header fields hold only those). */
  basicVariant(): string | number {
    const sig = this.signature();
    if (sig === "s" || sig === "o") return this.string();
    if (sig === "g") return this.signature();
    if (sig === "u") return this.u32();
    throw new FastReadDeclined(`unexpected header field type ${sig}`);
  }
}

export interface Message {
  type: number;
  serial: number;
  member?: string;
  replySerial?: number;
  errorName?: string;
  signature: string;
  body: Reader;
}

/** The length of the first complete message in `buffer`, or 0 if more bytes are needed. */
export function messageLength(buffer: Uint8Array): number {
  if (buffer.length < 16) return 0;
  const le = buffer[0] === 0x6c;
  if (!le && buffer[0] !== 0x42) throw new FastReadDeclined("not a D-Bus message");
  const view = new DataView(buffer.buffer, buffer.byteOffset, buffer.byteLength);
  const bodyLength = view.getUint32(4, le);
  const fieldsLength = view.getUint32(12, le);
  const total = 16 + fieldsLength + ((8 - (fieldsLength % 8)) % 8) + bodyLength;
  if (total > MAX_MESSAGE_BYTES) throw new FastReadDeclined("D-Bus message too large");
  return buffer.length >= total ? total : 0;
}

export function parseMessage(bytes: Uint8Array): Message {
  const le = bytes[0] === 0x6c;
  const r = new Reader(bytes, 12, le);
  const message: Message = { type: bytes[1]!, serial: new DataView(bytes.buffer, bytes.byteOffset).getUint32(8, le), signature: "", body: r };
  r.array(8, () => {
    r.align(8);
    const code = r.byte();
    const value = r.basicVariant();
    if (code === 3) message.member = String(value);
    else if (code === 4) message.errorName = String(value);
    else if (code === 5) message.replySerial = Number(value);
    else if (code === 8) message.signature = String(value);
  });
  r.align(8);
  return message;
}

// --- the client -------------------------------------------------------------------------------

type Pending = { resolve: (m: Message) => void; reject: (e: Error) => void };

interface BusSocket {
  write(data: Uint8Array): number;
  end(): void;
}

/** One connection to the session bus, used for the lookups of one keychain call. */
class BusConnection implements SecretLookup {
  private socket: BusSocket | undefined;
  private opened: Promise<void> | undefined;
  private buffer = new Uint8Array(0);
  private authenticated = false;
  private serial = 0;
  private readonly pending = new Map<number, Pending>();
  private failure: Error | undefined;
  private session: Promise<string> | undefined;
  private outbox: Uint8Array[] = [];

  constructor(private readonly socketPath: string) {}

  private fail(error: Error) {
    this.failure ??= error;
    for (const p of this.pending.values()) p.reject(this.failure);
    this.pending.clear();
  }

  private receive(chunk: Uint8Array) {
    const joined = new Uint8Array(this.buffer.length + chunk.length);
    joined.set(this.buffer);
    joined.set(chunk, this.buffer.length);
    this.buffer = joined;
    try {
      if (!this.authenticated) {
        const eol = this.buffer.indexOf(0x0a);
        if (eol < 0) {
          if (this.buffer.length > 512) throw new FastReadDeclined("no answer to D-Bus authentication");
          return;
        }
        const line = new TextDecoder().decode(this.buffer.subarray(0, eol)).trim();
        if (!line.startsWith("OK ")) throw new FastReadDeclined("D-Bus authentication refused");
        this.authenticated = true;
        this.buffer = this.buffer.slice(eol + 1);
      }
      for (let n = messageLength(this.buffer); n > 0; n = messageLength(this.buffer)) {
        const message = parseMessage(this.buffer.slice(0, n));
        this.buffer = this.buffer.slice(n);
        if ((message.type !== 2 && message.type !== 3) || message.replySerial === undefined) continue; // signals (NameAcquired)
        const waiting = this.pending.get(message.replySerial);
        this.pending.delete(message.replySerial);
        if (!waiting) continue;
        if (message.type === 3) waiting.reject(new FastReadDeclined(`the Secret Service answered ${message.errorName ?? "an error"}`));
        else waiting.resolve(message);
      }
    } catch (e) {
      this.fail(e instanceof FastReadDeclined ? e : new FastReadDeclined("unreadable D-Bus reply", { cause: e }));
      this.close();
    }
  }

  /**
   * Connects and greets the bus and the Secret Service in one write; resolves once the service
   * has answered. gnome-keyring registers a caller asynchronously when its first message
   * arrives: a session opened in that very first message can find no caller and crash the
   * daemon (gnome-keyring 42.1: "plain_negotiate: assertion 'session' failed", SIGTRAP, and
   * D-Bus restarts it locked; seen about once in 500 reads, under hyperfine). So the first
   * message is a Ping, and the session is opened only after its answer, like keyring-rs and
   * libsecret, whose first service call also waits on an earlier reply.
   */
  private open(): Promise<void> {
    if (this.opened) return this.opened;
    // EXTERNAL auth (the kernel vouches for our uid), pipelined with BEGIN and the first calls.
    const uid = String(process.getuid?.() ?? -1);
    let hex = ""; // the uid's ASCII digits in hex: "1000" -> "31303030"
    for (let i = 0; i < uid.length; i++) hex += uid.charCodeAt(i).toString(16);
    this.outbox.push(encoder.encode(`\0AUTH EXTERNAL ${hex}\r\nBEGIN\r\n`));
    this.call({ path: "/org/freedesktop/DBus", iface: "org.freedesktop.DBus", member: "Hello", destination: "org.freedesktop.DBus" }).catch(() => {});
    const greeted = this.call({ path: SERVICE_PATH, iface: "org.freedesktop.DBus.Peer", member: "Ping", destination: SERVICE });
    greeted.catch(() => {});
    const greeting = this.outbox;
    this.outbox = []; // what lookup queues now waits for the answer
    this.opened = Bun.connect({
      unix: this.socketPath,
      socket: {
        data: (_socket, chunk) => this.receive(chunk),
        close: () => this.fail(new FastReadDeclined("the D-Bus connection closed")),
        error: (_socket, e) => this.fail(new FastReadDeclined("D-Bus connection error", { cause: e })),
        connectError: (_socket, e) => this.fail(new FastReadDeclined("cannot connect to D-Bus", { cause: e })),
      },
    }).then(
      async (socket) => {
        this.socket = socket;
        this.write(greeting);
        await greeted;
      },
      (e) => {
        throw new FastReadDeclined("cannot connect to D-Bus", { cause: e });
      },
    );
    return this.opened;
  }

  /** Sends what is queued, in one write (one wake-up of the bus daemon). */
  private flush() {
    const queued = this.outbox;
    this.outbox = [];
    this.write(queued);
  }

  private write(parts: Uint8Array[]) {
    let size = 0;
    for (let i = 0; i < parts.length; i++) size += parts[i]!.length;
    const data = new Uint8Array(size);
    for (let i = 0, at = 0; i < parts.length; at += parts[i]!.length, i++) data.set(parts[i]!, at);
    if (!this.socket || this.socket.write(data) !== data.length) throw new FastReadDeclined("D-Bus write did not complete");
  }

  private call(call: Call): Promise<Message> {
    if (this.failure) return Promise.reject(this.failure);
    const serial = ++this.serial;
    const reply = new Promise<Message>((resolve, reject) => this.pending.set(serial, { resolve, reject }));
    this.outbox.push(marshalCall(serial, call));
    return reply;
  }

  private service(member: string, signature: string, body: (w: Writer) => void): Promise<Message> {
    return this.call({ path: SERVICE_PATH, iface: SERVICE_IFACE, member, destination: SERVICE, signature, body });
  }

  async lookup(attributes: Record<string, string>, signal: AbortSignal): Promise<Uint8Array | null> {
    if (signal.aborted) throw new FastReadDeclined("aborted");
    const onAbort = () => {
      this.fail(new FastReadDeclined("aborted"));
      this.close();
    };
    signal.addEventListener("abort", onAbort, { once: true });
    try {
      const opened = this.open();
      // Marshalled while the greeting is answered, then sent together (the search needs no session).
      this.session ??= this.service("OpenSession", "sv", (w) => {
        w.string("plain");
        w.signature("s");
        w.string("");
      }).then(readOpenSession);
      const search = this.service("SearchItems", "a{ss}", (w) =>
        w.array(8, () => {
          for (const k in attributes) {
            w.align(8);
            w.string(k);
            w.string(attributes[k]!);
          }
        }),
      );
      // Marked handled now: if the connection fails first, they reject before being awaited.
      this.session.catch(() => {});
      search.catch(() => {});
      await opened;
      this.flush();
      const found = readSearch(await search);
      const session = await this.session;
      if (found.locked.length > 0) throw new FastReadDeclined("a matching item is locked");
      if (found.unlocked.length === 0) return null;
      if (found.unlocked.length > 1) throw new FastReadDeclined("several items match");
      const item = found.unlocked[0]!;
      const secrets = this.service("GetSecrets", "aoo", (w) => {
        w.array(4, () => w.string(item));
        w.string(session);
      });
      this.flush();
      const reply = await secrets;
      return readSecret(reply, item);
    } finally {
      signal.removeEventListener("abort", onAbort);
    }
  }

  close() {
    this.socket?.end();
    this.socket = undefined;
  }
}

function expectSignature(m: Message, signature: string) {
  if (m.signature !== signature) throw new FastReadDeclined(`unexpected reply type ${m.signature}`);
}

function readOpenSession(m: Message): string {
  expectSignature(m, "vo");
  const r = m.body;
  if (r.signature() !== "s") throw new FastReadDeclined("unexpected session output");
  r.string();
  return r.string();
}

export function readSearch(m: Message): { unlocked: string[]; locked: string[] } {
  expectSignature(m, "aoao");
  const r = m.body;
  const paths = () => {
    const out: string[] = [];
    r.array(4, () => out.push(r.string()));
    return out;
  };
  const unlocked = paths();
  return { unlocked, locked: paths() };
}

/** GetSecrets' a{o(oayays)}: the value of `item`, which a plain session holds as is. */
export function readSecret(m: Message, item: string): Uint8Array {
  expectSignature(m, "a{o(oayays)}");
  const r = m.body;
  let value: Uint8Array | undefined;
  r.array(8, () => {
    r.align(8);
    const path = r.string();
    r.align(8);
    r.string(); // session
    r.bytesOf(r.u32()); // parameters: empty for plain
    const secret = r.bytesOf(r.u32());
    r.string(); // content type
    if (path === item) value = secret;
  });
  if (!value) throw new FastReadDeclined("the Secret Service returned no secret for the item");
  return value;
}

/** A reader on the session bus, or null when the address is not a local unix socket. */
export function openSecretServiceLookup(busAddress: string | undefined): SecretLookup | null {
  const path = busSocketPath(busAddress);
  return path ? new BusConnection(path) : null;
}
