/**
 * Every failure the CLI reports is a CliError: one clear message (what happened), an optional
 * hint (what to do), the `cause` it came from, and a kind from ONE table that decides the exit
 * code (rendered into `--help`, the man page and docs/cli.md). main.ts maps errors to exit codes
 * in one place: `exitCodeOf`. Callers branch on `instanceof`, `kind`, or a subclass's own `code`
 * (GatewayError, SurfacesError, RefreshRejected, CallbackStateMismatch), never on text. The base
 * has no `code` member so that subclasses can declare theirs as a string union of their own.
 */

/** The exit-code table: one row per kind of failure (0 is success, not a failure). */
export const ERROR_KINDS = {
  "auth-required": { exit: 1, meaning: "authentication needed or failed (not logged in, session expired, login cancelled or timed out)" },
  usage: { exit: 2, meaning: "usage error (unknown command or option, bad value)" },
  "idp-unavailable": { exit: 3, meaning: "the identity provider or tenant is unreachable or answered with an error" },
  "store-unavailable": { exit: 4, meaning: "the secret store is unavailable (no D-Bus or keyring, locked keyring, pass/gpg failure)" },
  /**
   * A configuration or settings file is unreadable or invalid, or a configuration (profile file,
   * tenant discovery document, OpenID metadata) names a URL the endpoint policy refuses.
   */
  config: { exit: 5, meaning: "a configuration file is invalid or cannot be written" },
  internal: { exit: 70, meaning: "internal error (a bug: please report it)" },
  interrupted: { exit: 130, meaning: "interrupted" },
} as const;
export type ErrorKind = keyof typeof ERROR_KINDS;

/** Every exit code with its meaning, success first: `--help`, the man page and docs/cli.md. */
export const EXIT_CODES: [number, string][] = [[0, "success"], ...Object.values(ERROR_KINDS).map((k): [number, string] => [k.exit, k.meaning])];

/** Named exit codes (read from the table above). */
export const ExitCode = {
  ok: 0,
  authRequired: ERROR_KINDS["auth-required"].exit,
  usage: ERROR_KINDS.usage.exit,
  idpUnavailable: ERROR_KINDS["idp-unavailable"].exit,
  storeUnavailable: ERROR_KINDS["store-unavailable"].exit,
  config: ERROR_KINDS.config.exit,
  internal: ERROR_KINDS.internal.exit,
  interrupted: ERROR_KINDS.interrupted.exit,
} as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

function kindOfExit(exit: number): ErrorKind {
  for (const [kind, row] of Object.entries(ERROR_KINDS)) if (row.exit === exit) return kind as ErrorKind;
  return "internal";
}

export interface CliErrorOptions {
  cause?: unknown;
}

export class CliError extends Error {
  override readonly name: string = "CliError";
  /** The table row: decides the exit code. */
  readonly kind: ErrorKind;
  /**
   * `kindOrExit` is a kind of the table; an exit code of the table is accepted too (the older
   * form, still used by the store adaptors and the gateway/surfaces errors).
   */
  constructor(
    kindOrExit: ErrorKind | ExitCode,
    message: string,
    readonly hint?: string,
    options: CliErrorOptions = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.kind = typeof kindOrExit === "number" ? kindOfExit(kindOrExit) : kindOrExit;
  }

  get exitCode(): ExitCode {
    return ERROR_KINDS[this.kind].exit;
  }
}

/** The exit code of any thrown value: a CliError's row of the table, anything else is a bug (70). */
export function exitCodeOf(error: unknown): ExitCode {
  return error instanceof CliError ? error.exitCode : ExitCode.internal;
}

export class UsageError extends CliError {
  override readonly name: string = "UsageError";
  constructor(message: string, hint?: string, options?: CliErrorOptions) {
    super("usage", message, hint, options);
  }
}

export class AuthRequiredError extends CliError {
  override readonly name: string = "AuthRequiredError";
  constructor(message: string, hint?: string, options?: CliErrorOptions) {
    super("auth-required", message, hint, options);
  }
}

export class IdpUnavailableError extends CliError {
  override readonly name: string = "IdpUnavailableError";
  constructor(message: string, hint?: string, options?: CliErrorOptions) {
    super("idp-unavailable", message, hint, options);
  }
}

export class StoreUnavailableError extends CliError {
  override readonly name: string = "StoreUnavailableError";
  constructor(message: string, hint?: string, options?: CliErrorOptions) {
    super("store-unavailable", message, hint, options);
  }
}

export class ConfigError extends CliError {
  override readonly name: string = "ConfigError";
  constructor(message: string, hint?: string, options?: CliErrorOptions) {
    super("config", message, hint, options);
  }
}

export class InterruptedError extends CliError {
  override readonly name: string = "InterruptedError";
  constructor(message = "interrupted") {
    super("interrupted", message);
  }
}

/**
 * The refresh token is expired or revoked (`invalid_grant`): only then is it discarded. Lives
 * here, not in oauth/client.ts, so the session use case can recognise it without loading that.
 */
export class RefreshRejected extends AuthRequiredError {
  override readonly name: string = "RefreshRejected";
  readonly code = "refresh-rejected";
  constructor(
    readonly oauthError: string,
    options?: CliErrorOptions,
  ) {
    super(`the identity provider rejected the refresh token (${oauthError})`, undefined, options);
  }
}

export const usageError = (message: string, hint?: string) => new UsageError(message, hint);
