import { expect, test } from "bun:test";
import { isTlsFailure, tlsFailureIn } from "./tls-failure.ts";

test("certificate failures are known by their codes, also a few causes down; other failures are not", () => {
  for (const code of ["UNABLE_TO_VERIFY_LEAF_SIGNATURE", "DEPTH_ZERO_SELF_SIGNED_CERT", "SELF_SIGNED_CERT_IN_CHAIN", "CERT_HAS_EXPIRED", "ERR_TLS_CERT_ALTNAME_INVALID", "HOSTNAME_MISMATCH"]) expect(isTlsFailure(code)).toBe(true);
  for (const code of ["ECONNREFUSED", "ConnectionRefused", "ENOTFOUND", ""]) expect(isTlsFailure(code)).toBe(false);
  const tls = Object.assign(new Error("unable to verify the first certificate"), { code: "UNABLE_TO_VERIFY_LEAF_SIGNATURE" });
  expect(tlsFailureIn(tls)).toBe(true);
  expect(tlsFailureIn(new Error("discovery failed", { cause: new Error("fetch failed", { cause: tls }) }))).toBe(true);
  expect(tlsFailureIn(new Error("no", { cause: Object.assign(new Error("refused"), { code: "ECONNREFUSED" }) }))).toBe(false);
  expect(tlsFailureIn(undefined)).toBe(false);
  expect(tlsFailureIn("a string")).toBe(false);
});
