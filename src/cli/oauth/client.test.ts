/** How every failure of a request to the IdP is classified (oauth/client.ts idpFailure, validateCallback, refresh). */
import { afterAll, describe, expect, test } from "bun:test";
import * as oauth from "oauth4webapi";
import { CliError, exitCodeOf, RefreshRejected } from "../errors.ts";
import { EndpointPolicyError } from "../../shared/endpoint-policy.ts";
import { ResponseTooLarge, SYSTEM_TRUST } from "./bounded-fetch.ts";
import { CallbackStateMismatch, idpFailure, refreshTokens, USER_AGENT, validateCallback } from "./client.ts";
import { PROFILE } from "../../../test/support/fake-context.ts";
import { VERSION } from "../version.ts";

const URL_ = "https://idp.example.com/pool/token";
const classify = (e: unknown) => {
  const error = idpFailure("refresh the session", URL_, e);
  return { exit: exitCodeOf(error), message: error.message, hint: error.hint, cause: error.cause };
};
const coded = (code: string, message = "some text that says nothing") => Object.assign(new TypeError(message), { code });

describe("idpFailure", () => {
  test("connection failures by their code: refused, DNS, reset (exit 3, names the host)", () => {
    for (const code of ["ECONNREFUSED", "ConnectionRefused", "ENOTFOUND", "FailedToOpenSocket", "ECONNRESET"]) {
      const e = coded(code);
      expect(classify(e)).toEqual({ exit: 3, message: "cannot reach the identity provider at idp.example.com (refresh the session)", hint: "Check your network, VPN or HTTPS_PROXY settings and try again.", cause: e });
    }
  });
  test("TLS failures by their code point at NODE_EXTRA_CA_CERTS", () => {
    for (const code of ["UNABLE_TO_VERIFY_LEAF_SIGNATURE", "DEPTH_ZERO_SELF_SIGNED_CERT", "SELF_SIGNED_CERT_IN_CHAIN", "CERT_HAS_EXPIRED", "ERR_TLS_CERT_ALTNAME_INVALID", "UNABLE_TO_GET_ISSUER_CERT_LOCALLY"]) {
      const r = classify(coded(code, "unable to verify"));
      expect(r.exit).toBe(3);
      expect(r.message).toStartWith("the TLS certificate of idp.example.com is not trusted");
      expect(r.hint).toContain("NODE_EXTRA_CA_CERTS");
    }
  });
  test("a message that merely mentions TLS or refusal is not classified by its text", () => {
    const r = classify(coded("EWHATEVER", "TLS certificate ECONNREFUSED"));
    expect(r.message).toStartWith("request to the identity provider at idp.example.com failed (refresh the session): TLS certificate ECONNREFUSED");
  });
  test("timeouts: AbortSignal.timeout's DOMException and the bounded fetch's TimeoutError", () => {
    expect(classify(new DOMException("timed out", "TimeoutError")).message).toMatch(/did not answer within \d+ s \(refresh the session\)/);
    expect(classify(Object.assign(new Error("The operation timed out."), { name: "TimeoutError" })).exit).toBe(3);
  });
  test("the IdP's own error, a non-conforming status, too large a response, a refused URL", () => {
    const body = new oauth.ResponseBodyError("server responded with an error", { cause: { error: "invalid_client", error_description: "\x1b[31mno\x1b[0m" }, response: new Response(null, { status: 401 }) } as never);
    const refused = classify(body);
    expect(refused.exit).toBe(3);
    expect(refused.message).not.toContain("\x1b");
    expect(refused.message).toContain("the identity provider refused to refresh the session (401 invalid_client");
    expect(classify(new ResponseTooLarge(URL_, 65536)).message).toContain("too large a response (over 64 KiB)");
    expect(classify(new EndpointPolicyError("the token endpoint", "must use https")).exit).toBe(5);
    const error = new CliError("store-unavailable", "kept as is");
    expect(idpFailure("x", URL_, error)).toBe(error);
  });
});

describe("refresh and callback errors are typed", () => {
  const server = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: () => Response.json({ error: "invalid_grant" }, { status: 400 }) });
  afterAll(() => server.stop(true));
  test("invalid_grant is RefreshRejected (kind auth-required, code refresh-rejected), with the cause kept", async () => {
    const profile = { ...PROFILE, issuer: `http://127.0.0.1:${server.port}`, endpoints: { authorization: `http://127.0.0.1:${server.port}/a`, token: `http://127.0.0.1:${server.port}/token` } };
    const error = await refreshTokens(profile, "dead", SYSTEM_TRUST).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RefreshRejected);
    expect((error as RefreshRejected).code).toBe("refresh-rejected");
    expect((error as RefreshRejected).cause).toBeInstanceOf(oauth.ResponseBodyError);
    expect(exitCodeOf(error)).toBe(1);
  });
  test("a callback with another state is CallbackStateMismatch; a missing code is another auth error", () => {
    const url = new URL("http://localhost:53682/callback?code=c&state=other");
    const error = (() => {
      try {
        validateCallback(PROFILE, url, "expected");
      } catch (e) {
        return e;
      }
    })();
    expect(error).toBeInstanceOf(CallbackStateMismatch);
    expect(exitCodeOf(error)).toBe(1);
    expect(() => validateCallback(PROFILE, new URL("http://localhost:53682/callback?code=c"), "expected")).toThrow(CallbackStateMismatch);
    const ok = validateCallback(PROFILE, new URL("http://localhost:53682/callback?code=c&state=expected"), "expected");
    expect(ok.get("code")).toBe("c");
  });
  test("the User-Agent carries the version, the commit and the platform", () => {
    expect(USER_AGENT).toBe(`agent-runner-auth/${VERSION} (source; ${process.platform} ${process.arch})`);
  });
});
