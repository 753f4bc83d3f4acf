/**
 * Every response the CLI reads from the IdP, the tenant or the proxy is read through here: at most
 * `maxBytes` of body, and the whole exchange (connect, headers, body) within `timeoutMs`. A hostile
 * or broken server that sends 64 MB, or trickles a body that never ends, costs a bounded amount of
 * memory and time and ends in a typed error the caller maps to a clear message. The body is read
 * to the end here and handed on as an ordinary buffered Response (what oauth4webapi expects from
 * its customFetch).
 */

import { ConfigError } from "../errors.ts";
import { readCapped } from "../../shared/read-capped.ts";

/** Enough for any discovery document, OpenID metadata, JWKS, token or error response. */
export const MAX_RESPONSE_BYTES = 256 * 1024;

export class ResponseTooLarge extends Error {
  override readonly name = "ResponseTooLarge";
  readonly code = "response_too_large";
  constructor(
    readonly url: string,
    readonly limitBytes: number,
  ) {
    super(`the response from ${new URL(url).host} is larger than ${Math.round(limitBytes / 1024)} KiB`);
  }
}

export interface Bounds {
  maxBytes?: number;
  timeoutMs: number;
  /** The certificates trusted (default: the system roots). */
  trust?: TlsTrust;
}

function timeoutError(signal: AbortSignal): Error {
  const reason = signal.reason as unknown;
  if (reason instanceof Error) return reason;
  const e = new Error("The operation timed out.");
  e.name = "TimeoutError";
  return e;
}

/**
 * A custom CA bundle (`--ca-file`, $AGENT_RUNNER_AUTH_CA_FILE, or the profile's, remembered at
 * login): a TLS-inspecting corporate proxy re-signs every site with its own CA. Bun's `tls.ca`
 * replaces the default roots (as Node's does), so the bundle is added to node:tls's root
 * certificates. A TlsTrust is a value handed to each request (the factory makes one per bundle):
 * nothing here is set by reading a profile. The file is read on the first request that uses it,
 * so the cached `token` path never pays for it.
 */
const MAX_CA_FILE_BYTES = 4 * 1024 * 1024;
const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[A-Za-z0-9+/=\s]+?-----END CERTIFICATE-----/g;

export class CaFileError extends ConfigError {
  override readonly name = "CaFileError";
  readonly code = "ca_file";
}

/** Which certificates a request trusts: the system roots, plus a CA bundle when there is one. */
export interface TlsTrust {
  /** The bundle's path, or undefined for the system roots alone. */
  readonly caFile: string | undefined;
  /** fetch's `tls` option ({} without a bundle: Bun's defaults apply). Reads the bundle once; a bad file is a CaFileError. */
  fetchOptions(): { tls?: { ca: string[] } };
}

const CA_HINT = "Pass --ca-file (or set AGENT_RUNNER_AUTH_CA_FILE) with the path of your organisation's CA bundle in PEM format.";

function readCaFile(path: string): string[] {
  const fs = require("node:fs") as typeof import("node:fs");
  let text: string;
  try {
    if (fs.statSync(path).size > MAX_CA_FILE_BYTES) throw new CaFileError(`the CA file ${path} is larger than ${MAX_CA_FILE_BYTES / 1024 / 1024} MiB`, CA_HINT);
    text = fs.readFileSync(path, "utf8");
  } catch (e) {
    if (e instanceof CaFileError) throw e;
    const code = (e as { code?: string }).code ?? "unreadable";
    throw new CaFileError(`cannot read the CA file ${path} (${code})`, CA_HINT, { cause: e });
  }
  const certificates = text.match(PEM_CERTIFICATE);
  if (!certificates) throw new CaFileError(`the CA file ${path} holds no PEM certificate ("-----BEGIN CERTIFICATE-----")`, CA_HINT);
  return certificates;
}

/** NODE_EXTRA_CA_CERTS and SSL_CERT_FILE: Bun adds them to its default roots, which `tls.ca` replaces, so they are kept here. */
function environmentCas(): string[] {
  const files = [process.env.NODE_EXTRA_CA_CERTS, process.env.SSL_CERT_FILE].filter((f): f is string => Boolean(f));
  return files.flatMap((file) => {
    try {
      return readCaFile(file);
    } catch {
      return []; // Bun already warned about its own setting; --ca-file is the one this CLI checks
    }
  });
}

/** The trust of requests with this CA bundle (undefined: the system roots alone). */
export function caTrust(caFile: string | undefined): TlsTrust {
  let trusted: string[] | undefined;
  return {
    caFile,
    fetchOptions() {
      if (caFile === undefined) return {};
      trusted ??= [...(require("node:tls") as typeof import("node:tls")).rootCertificates, ...environmentCas(), ...readCaFile(caFile)];
      return { tls: { ca: trusted } };
    },
  };
}

/** The system roots alone (tests, and callers with no bundle configured). */
export const SYSTEM_TRUST: TlsTrust = caTrust(undefined);

const NO_BODY = new Set([101, 204, 205, 304]);

/** fetch with the body read in full under a size cap and one deadline for the whole exchange. */
export async function boundedFetch(url: string | URL, init: RequestInit, bounds: Bounds): Promise<Response> {
  const href = String(url);
  const maxBytes = bounds.maxBytes ?? MAX_RESPONSE_BYTES;
  const deadline = AbortSignal.timeout(bounds.timeoutMs);
  const signal = init.signal ? AbortSignal.any([deadline, init.signal]) : deadline;
  const response = await fetch(href, { ...init, ...(bounds.trust ?? SYSTEM_TRUST).fetchOptions(), signal });
  const declared = Number(response.headers.get("content-length"));
  if (Number.isFinite(declared) && declared > maxBytes) {
    void response.body?.cancel().catch(() => {});
    throw new ResponseTooLarge(href, maxBytes);
  }
  const body = response.body && !NO_BODY.has(response.status) ? await readCapped(response.body, maxBytes, { tooLarge: () => new ResponseTooLarge(href, maxBytes), signal, aborted: timeoutError }) : null;
  return new Response(body, { status: response.status, statusText: response.statusText, headers: response.headers });
}

/** The same, shaped as oauth4webapi's customFetch. */
export function boundedCustomFetch(bounds: Bounds): (url: string, options: RequestInit) => Promise<Response> {
  return (url, options) => boundedFetch(url, options, bounds);
}

export interface TimedRead {
  /** ms since the request was sent. */
  atMs: number;
  bytes: number;
}

/**
 * A streamed response (`send` makes the request, with the deadline's signal) read under the same
 * bounds, keeping when each piece arrived (`doctor --deep`: a buffering middlebox delivers a
 * streamed answer in one piece at the end). `url` names the server in errors.
 */
export async function timedReads(send: (signal: AbortSignal) => Promise<Response>, url: string, bounds: Omit<Bounds, "trust">, clock: () => number = () => performance.now()): Promise<{ status: number; headers: Headers; headersAtMs: number; reads: TimedRead[]; text: string }> {
  const maxBytes = bounds.maxBytes ?? MAX_RESPONSE_BYTES;
  const signal = AbortSignal.timeout(bounds.timeoutMs);
  const started = clock();
  const response = await send(signal);
  // a buffering middlebox usually holds the headers with the body; a direct stream sends them at once
  const headersAtMs = clock() - started;
  const reads: TimedRead[] = [];
  const decoder = new TextDecoder();
  let text = "";
  let size = 0;
  if (response.body) {
    const reader = response.body.getReader();
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        size += value.byteLength;
        if (size > maxBytes) throw new ResponseTooLarge(url, maxBytes);
        reads.push({ atMs: clock() - started, bytes: value.byteLength });
        text += decoder.decode(value, { stream: true });
      }
    } catch (e) {
      void reader.cancel().catch(() => {});
      if (signal.aborted) throw timeoutError(signal);
      throw e;
    }
  }
  return { status: response.status, headers: response.headers, headersAtMs, reads, text };
}
