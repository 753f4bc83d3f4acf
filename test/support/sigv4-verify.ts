/**
 * Verifies an AWS Signature Version 4 request as AWS does, rebuilt here from the specification
 * with node:crypto alone (never with the signer under test): canonical request (the path as sent,
 * each segment URI-encoded once more, as every service but S3 requires: a `:` sent as `%3A` is
 * `%253A` here), canonical query, the signed headers, the payload's SHA-256; string to sign;
 * the HMAC chain of the signing key; constant-time comparison; the clock skew AWS allows.
 */
import { createHash, createHmac, timingSafeEqual } from "node:crypto";

export interface AwsTestCredentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
}

export type SigV4Failure =
  | "MissingAuthenticationTokenException"
  | "IncompleteSignatureException"
  | "UnrecognizedClientException"
  | "InvalidSignatureException";

export type SigV4Result = { ok: true; accessKeyId: string; region: string; service: string; signedHeaders: string[] } | { ok: false; errorType: SigV4Failure; message: string };

export interface SignedRequestParts {
  method: string;
  /** The path exactly as sent (percent-encoding untouched). */
  rawPath: string;
  /** Without `?`; "" when none. */
  rawQuery: string;
  headers: Headers;
  body: Uint8Array;
}

const sha256hex = (data: string | Uint8Array) => createHash("sha256").update(data).digest("hex");
const hmac = (key: string | Buffer, data: string) => createHmac("sha256", key).update(data).digest();

/** RFC 3986 unreserved characters kept, everything else %XX (upper case), as SigV4 specifies. */
export function uriEncode(text: string): string {
  return encodeURIComponent(text).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

export function canonicalUri(rawPath: string): string {
  if (rawPath === "" || rawPath === "/") return "/";
  return rawPath.split("/").map(uriEncode).join("/");
}

export function canonicalQuery(rawQuery: string): string {
  if (rawQuery === "") return "";
  const pairs = rawQuery.split("&").map((pair) => {
    const eq = pair.indexOf("=");
    const [k, v] = eq === -1 ? [pair, ""] : [pair.slice(0, eq), pair.slice(eq + 1)];
    return [uriEncode(decodeURIComponent(k)), uriEncode(decodeURIComponent(v))] as const;
  });
  pairs.sort(([ak, av], [bk, bv]) => (ak < bk ? -1 : ak > bk ? 1 : av < bv ? -1 : av > bv ? 1 : 0));
  return pairs.map(([k, v]) => `${k}=${v}`).join("&");
}

const AUTH = /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([^/]+)\/([^/]+)\/aws4_request, ?SignedHeaders=([a-z0-9;_.-]+), ?Signature=([0-9a-f]{64})$/;

export function signingKey(secret: string, date: string, region: string, service: string): Buffer {
  return hmac(hmac(hmac(hmac(`AWS4${secret}`, date), region), service), "aws4_request");
}

export function verifySigV4(request: SignedRequestParts, known: readonly AwsTestCredentials[], options: { now: number; maxSkewMs?: number }): SigV4Result {
  const authorization = request.headers.get("authorization");
  if (!authorization) return { ok: false, errorType: "MissingAuthenticationTokenException", message: "Missing Authentication Token" };
  const match = AUTH.exec(authorization);
  if (!match) return { ok: false, errorType: "IncompleteSignatureException", message: "Authorization header requires Credential, SignedHeaders and Signature" };
  const [, accessKeyId, date, region, service, signedList, signature] = match as unknown as [string, string, string, string, string, string, string];
  const credentials = known.find((c) => c.accessKeyId === accessKeyId);
  if (!credentials) return { ok: false, errorType: "UnrecognizedClientException", message: "The security token included in the request is invalid." };
  const signedHeaders = signedList.split(";");
  if (!signedHeaders.includes("host")) return { ok: false, errorType: "IncompleteSignatureException", message: "the host header must be signed" };
  const amzDate = request.headers.get("x-amz-date") ?? "";
  if (!/^\d{8}T\d{6}Z$/.test(amzDate) || amzDate.slice(0, 8) !== date) return { ok: false, errorType: "IncompleteSignatureException", message: "X-Amz-Date is missing or does not match the credential scope" };
  const signedAt = Date.UTC(+amzDate.slice(0, 4), +amzDate.slice(4, 6) - 1, +amzDate.slice(6, 8), +amzDate.slice(9, 11), +amzDate.slice(11, 13), +amzDate.slice(13, 15));
  if (Math.abs(options.now - signedAt) > (options.maxSkewMs ?? 5 * 60_000)) return { ok: false, errorType: "InvalidSignatureException", message: "Signature expired: the request was signed too long ago (or the clock is off)" };
  if (credentials.sessionToken !== undefined) {
    if (request.headers.get("x-amz-security-token") !== credentials.sessionToken || !signedHeaders.includes("x-amz-security-token")) {
      return { ok: false, errorType: "UnrecognizedClientException", message: "The security token included in the request is invalid." };
    }
  }
  const payloadHash = sha256hex(request.body);
  const declared = request.headers.get("x-amz-content-sha256");
  if (declared !== null && declared !== payloadHash) return { ok: false, errorType: "InvalidSignatureException", message: "The provided x-amz-content-sha256 header does not match what was computed." };
  const canonicalHeaders = signedHeaders.map((name) => `${name}:${(request.headers.get(name) ?? "").trim().replace(/\s+/g, " ")}\n`).join("");
  const canonicalRequest = [request.method, canonicalUri(request.rawPath), canonicalQuery(request.rawQuery), canonicalHeaders, signedList, payloadHash].join("\n");
  const scope = `${date}/${region}/${service}/aws4_request`;
  const stringToSign = ["AWS4-HMAC-SHA256", amzDate, scope, sha256hex(canonicalRequest)].join("\n");
  const expected = createHmac("sha256", signingKey(credentials.secretAccessKey, date, region, service)).update(stringToSign).digest();
  if (!timingSafeEqual(expected, Buffer.from(signature, "hex"))) {
    return { ok: false, errorType: "InvalidSignatureException", message: `The request signature we calculated does not match the signature you provided. The Canonical String for this request should have been\n'${canonicalRequest}'` };
  }
  return { ok: true, accessKeyId, region, service, signedHeaders };
}
