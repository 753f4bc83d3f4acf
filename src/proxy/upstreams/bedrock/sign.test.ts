import { describe, expect, test } from "bun:test";
import { canonicalUri, verifySigV4 } from "../../../../test/support/sigv4-verify.ts";
import { modelPath } from "./request.ts";
import { bedrockSigner } from "./sign.ts";

const NOW = Date.UTC(2026, 11, 4, 12, 0, 0);
const creds = { accessKeyId: "AKIDTEST", secretAccessKey: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", sessionToken: "session-token-1" };
const enc = (s: string) => new TextEncoder().encode(s);

describe("the stand-in's verifier (rebuilt from the specification)", () => {
  test("accepts AWS's documented example request (IAM ListUsers, 2015-08-30)", () => {
    const headers = new Headers({
      "content-type": "application/x-www-form-urlencoded; charset=utf-8",
      host: "iam.amazonaws.com",
      "x-amz-date": "20150830T123600Z",
      authorization: "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/iam/aws4_request, SignedHeaders=content-type;host;x-amz-date, Signature=5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7",
    });
    const result = verifySigV4(
      { method: "GET", rawPath: "/", rawQuery: "Action=ListUsers&Version=2010-05-08", headers, body: new Uint8Array() },
      [{ accessKeyId: "AKIDEXAMPLE", secretAccessKey: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY" }],
      { now: Date.UTC(2015, 7, 30, 12, 36) },
    );
    expect(result).toMatchObject({ ok: true, region: "us-east-1", service: "iam" });
  });
  test("non-S3 canonical paths encode each segment once more", () => {
    expect(canonicalUri("/model/us.anthropic.claude-sonnet-4-5-20250929-v1%3A0/invoke")).toBe("/model/us.anthropic.claude-sonnet-4-5-20250929-v1%253A0/invoke");
  });
});

describe("requests signed by bedrockSigner", () => {
  async function signed(path: string, body: string) {
    const sign = bedrockSigner("us-east-1", async () => creds, () => NOW);
    const url = new URL(`http://127.0.0.1:8443${path}`);
    const headers = await sign(url, "POST", { "content-type": "application/json", accept: "application/json" }, body);
    return { url, headers: new Headers(headers) };
  }
  const verify = (rawPath: string, headers: Headers, body: string, now = NOW) => verifySigV4({ method: "POST", rawPath, rawQuery: "", headers, body: enc(body) }, [creds], { now });

  test("verify, with the model id's ':' (and an ARN's '/') encoded in the path", async () => {
    for (const id of ["us.anthropic.claude-sonnet-4-5-20250929-v1:0", "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/abc123"]) {
      const path = modelPath(id, "invoke");
      expect(path).not.toContain(":");
      const { url, headers } = await signed(path, '{"a":1}');
      expect(url.pathname).toBe(path);
      expect(headers.get("host")).toBe("127.0.0.1:8443");
      expect(headers.get("x-amz-security-token")).toBe("session-token-1");
      expect(verify(url.pathname, headers, '{"a":1}')).toMatchObject({ ok: true, accessKeyId: "AKIDTEST", region: "us-east-1", service: "bedrock" });
    }
  });

  test("a changed body, path or clock fails verification", async () => {
    const path = modelPath("anthropic.claude-3-haiku-20240307-v1:0", "invoke");
    const { headers } = await signed(path, '{"a":1}');
    expect(verify(path, headers, '{"a":2}')).toMatchObject({ ok: false, errorType: "InvalidSignatureException" });
    expect(verify(path.replace("invoke", "invoke-with-response-stream"), headers, '{"a":1}')).toMatchObject({ ok: false, errorType: "InvalidSignatureException" });
    expect(verify(path, headers, '{"a":1}', NOW + 6 * 60_000)).toMatchObject({ ok: false, errorType: "InvalidSignatureException", message: expect.stringContaining("Signature expired") });
    headers.set("x-amz-security-token", "other");
    expect(verify(path, headers, '{"a":1}')).toMatchObject({ ok: false, errorType: "UnrecognizedClientException" });
  });
});
