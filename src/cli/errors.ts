/**
 * Every failure the CLI reports is a CliError: one clear message (what happened), an optional
 * hint (what to do), and a documented exit code. main.ts prints it on stderr; no stack traces.
 */

export const ExitCode = {
  ok: 0,
  /** No usable session, login failed, cancelled or timed out, refresh token rejected. */
  authRequired: 1,
  /** Bad command line. */
  usage: 2,
  /** The identity provider or tenant could not be reached or answered with an error. */
  idpUnavailable: 3,
  /** The secret store (keychain, pass, file) is unavailable, locked or failed. */
  storeUnavailable: 4,
  /**
   * A configuration or settings file is unreadable or invalid, or a configuration (profile file,
   * tenant discovery document, OpenID metadata) names a URL the endpoint policy refuses.
   */
  config: 5,
  /** Interrupted (Ctrl-C). */
  interrupted: 130,
} as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

export class CliError extends Error {
  constructor(
    readonly exitCode: ExitCode,
    message: string,
    readonly hint?: string,
  ) {
    super(message);
    this.name = "CliError";
  }
}

export const usageError = (message: string, hint?: string) => new CliError(ExitCode.usage, message, hint);
