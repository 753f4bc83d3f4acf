/** Recognising an untrusted or invalid server certificate, by the error's code (never its message). */

/** Bun's (and Node's) error codes for an untrusted or invalid server certificate. */
export function isTlsFailure(code: string): boolean {
  return /^(ERR_TLS_|ERR_SSL_|UNABLE_TO_(VERIFY|GET_ISSUER)|SELF_SIGNED_CERT|DEPTH_ZERO_SELF_SIGNED_CERT|CERT_|HOSTNAME_MISMATCH)/.test(code);
}

/** Whether `error` or one of its causes (a few levels down) is a certificate failure. */
export function tlsFailureIn(error: unknown): boolean {
  let e: unknown = error;
  for (let depth = 0; depth < 5 && e; depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === "string" && isTlsFailure(code)) return true;
    e = (e as { cause?: unknown }).cause;
  }
  return false;
}
