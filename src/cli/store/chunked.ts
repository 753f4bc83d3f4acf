/**
 * Values larger than a keychain's item limit, split across entries and joined on read.
 * Windows Credential Manager holds at most 2,560 bytes per credential; a Cognito refresh token
 * alone is ~1.7 KB (and `setPassword` would store it as UTF-16), so the Windows keychain stores
 * UTF-8 bytes through `setSecret` and splits anything larger.
 *
 * Layout: a value that fits is stored as is under its account. A larger one is stored as chunks
 * `<account>#<generation>.<i>` and then a manifest `agent-runner-auth:chunked:v1:<generation>:<n>`
 * under the account; the previous generation's chunks are deleted last. A crash at any point
 * leaves a manifest whose chunks all exist, so a refresh token is never lost halfway.
 */

export interface RawSecrets {
  get(account: string): Promise<Uint8Array | null>;
  set(account: string, bytes: Uint8Array): Promise<void>;
  delete(account: string): Promise<boolean>;
}

const MANIFEST = "agent-runner-auth:chunked:v1:";
const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: true });

interface Manifest {
  generation: string;
  count: number;
}

function parseManifest(bytes: Uint8Array): Manifest | null {
  if (bytes.length > 200) return null;
  const text = decoder.decode(bytes);
  if (!text.startsWith(MANIFEST)) return null;
  const [generation, count] = text.slice(MANIFEST.length).split(":");
  const n = Number(count);
  if (!generation || !/^[a-z0-9]+$/.test(generation) || !Number.isInteger(n) || n < 1 || n > 64) return null;
  return { generation, count: n };
}

const chunkAccount = (account: string, generation: string, index: number) => `${account}#${generation}.${index}`;

export async function readChunked(raw: RawSecrets, account: string): Promise<string | null> {
  const head = await raw.get(account);
  if (head === null) return null;
  const manifest = parseManifest(head);
  if (!manifest) return decoder.decode(head);
  const parts: Uint8Array[] = [];
  for (let i = 0; i < manifest.count; i++) {
    const part = await raw.get(chunkAccount(account, manifest.generation, i));
    if (part === null) return null; // damaged: read as absent, like any other damaged entry
    parts.push(part);
  }
  const whole = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const part of parts) {
    whole.set(part, offset);
    offset += part.length;
  }
  return decoder.decode(whole);
}

async function deleteGeneration(raw: RawSecrets, account: string, manifest: Manifest | null): Promise<void> {
  if (!manifest) return;
  for (let i = 0; i < manifest.count; i++) await raw.delete(chunkAccount(account, manifest.generation, i));
}

export async function writeChunked(raw: RawSecrets, account: string, value: string, maxBytes: number): Promise<void> {
  const bytes = encoder.encode(value);
  const previousHead = await raw.get(account);
  const previous = previousHead ? parseManifest(previousHead) : null;
  if (bytes.length <= maxBytes && !value.startsWith(MANIFEST)) {
    await raw.set(account, bytes);
  } else {
    const generation = `${Date.now().toString(36)}${Math.floor(Math.random() * 36 ** 4).toString(36)}`;
    const count = Math.ceil(bytes.length / maxBytes);
    for (let i = 0; i < count; i++) await raw.set(chunkAccount(account, generation, i), bytes.subarray(i * maxBytes, (i + 1) * maxBytes));
    await raw.set(account, encoder.encode(`${MANIFEST}${generation}:${count}`));
  }
  await deleteGeneration(raw, account, previous);
}

export async function deleteChunked(raw: RawSecrets, account: string): Promise<boolean> {
  const head = await raw.get(account);
  if (head === null) return false;
  await raw.delete(account);
  await deleteGeneration(raw, account, parseManifest(head));
  return true;
}
