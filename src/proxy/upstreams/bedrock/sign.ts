/**
 * AWS Signature Version 4 for Bedrock Runtime requests, by the AWS SDK's own signer
 * (`@smithy/signature-v4`: service `bedrock`, the endpoint's Region; it URI-encodes the path once
 * more for the canonical request, as every service but S3 requires). Its SHA-256 comes from
 * node:crypto through the SDK's hash interface (`@smithy/hash-node` does the same and is not
 * installed; these dozen lines are that adaptor, nothing of the protocol).
 */
import { SignatureV4 } from "@smithy/signature-v4";
import { createHash, createHmac, type Hash, type Hmac } from "node:crypto";
import type { AwsCredentials } from "./credentials.ts";

type SourceData = string | ArrayBuffer | ArrayBufferView;

const bytes = (data: SourceData): Buffer | string =>
  typeof data === "string" ? data : ArrayBuffer.isView(data) ? Buffer.from(data.buffer, data.byteOffset, data.byteLength) : Buffer.from(data);

/** SHA-256, or HMAC-SHA-256 when constructed with a secret, as the SDK's `Checksum`. */
export class NodeSha256 {
  private hash: Hash | Hmac;
  constructor(private readonly secret?: SourceData) {
    this.hash = this.make();
  }
  private make(): Hash | Hmac {
    return this.secret === undefined ? createHash("sha256") : createHmac("sha256", bytes(this.secret));
  }
  update(data: SourceData): void {
    this.hash.update(bytes(data));
  }
  async digest(): Promise<Uint8Array> {
    return new Uint8Array(this.hash.digest());
  }
  reset(): void {
    this.hash = this.make();
  }
}

export type BedrockSigner = (url: URL, method: string, headers: Record<string, string>, body: string) => Promise<Record<string, string>>;

/** Signs a request for `url`; returns the headers to send (host, x-amz-date, x-amz-security-token, authorization…). */
export function bedrockSigner(region: string, credentials: () => Promise<AwsCredentials>, now: () => number): BedrockSigner {
  const signer = new SignatureV4({ service: "bedrock", region, credentials, sha256: NodeSha256 });
  return async (url, method, headers, body) => {
    const signed = await signer.sign(
      {
        method,
        protocol: url.protocol,
        hostname: url.hostname,
        ...(url.port ? { port: Number(url.port) } : {}),
        path: url.pathname,
        query: {},
        headers: { ...headers, host: url.host },
        body,
      },
      { signingDate: new Date(now()) },
    );
    return signed.headers as Record<string, string>;
  };
}
