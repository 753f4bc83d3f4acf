/**
 * The `pass` store (the standard Unix password manager, gpg-encrypted files): entries at
 * `agent-runner-auth/<profile>/<name>`. Secrets go through stdin, never argv. pass's stderr is
 * captured and turned into a message (gpg and pinentry failures included).
 */
import { spawn } from "node:child_process";
import { CliError, ExitCode } from "../errors.ts";
import type { SecretName, SecretStore } from "./types.ts";

interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
}

function run(args: string[], input: string | undefined, timeoutMs: number): Promise<Result> {
  return new Promise((resolve, reject) => {
    const child = spawn("pass", args, { stdio: ["pipe", "pipe", "pipe"], timeout: timeoutMs });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (d: string) => (stdout += d));
    child.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(input ?? "");
  });
}

export class PassStore implements SecretStore {
  readonly kind = "pass" as const;
  readonly description: string;

  constructor(
    private readonly profile: string,
    private readonly options: { timeoutMs: number },
  ) {
    this.description = `pass (${process.env.PASSWORD_STORE_DIR || "~/.password-store"})`;
  }

  private path(name: SecretName): string {
    return `agent-runner-auth/${this.profile}/${name}`;
  }

  private async pass(operation: string, args: string[], input?: string): Promise<Result> {
    let result: Result;
    try {
      result = await run(args, input, this.options.timeoutMs);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      throw new CliError(
        ExitCode.storeUnavailable,
        code === "ENOENT" ? `the 'pass' command is not installed (${operation})` : `could not run 'pass' to ${operation}: ${(e as Error).message}`,
        code === "ENOENT" ? "Install it (for example 'apt install pass') and run 'pass init <gpg-id>', or choose --store keychain." : undefined,
      );
    }
    if (result.code === null) {
      throw new CliError(ExitCode.storeUnavailable, `'pass' did not finish within ${Math.round(this.options.timeoutMs / 1000)} s while trying to ${operation} (waiting for a gpg passphrase?)`, "Unlock your gpg key (gpg-agent) and try again.");
    }
    return result;
  }

  private failure(operation: string, result: Result): CliError {
    const detail = result.stderr.trim().split("\n").slice(-3).join(" ").slice(0, 400);
    let hint = "Check that 'pass' works on its own (pass ls).";
    if (/not initialized|try "pass init"/i.test(detail)) hint = "Initialise it first with 'pass init <your-gpg-id>'.";
    else if (/decryption failed|no secret key|pinentry|passphrase|gpg/i.test(detail)) hint = "gpg could not use your key: unlock it with gpg-agent (or check GNUPGHOME) and try again.";
    return new CliError(ExitCode.storeUnavailable, `pass failed to ${operation}: ${detail || `exit ${result.code}`}`, hint);
  }

  async get(name: SecretName): Promise<string | null> {
    const op = `read the ${name} token`;
    const result = await this.pass(op, ["show", this.path(name)]);
    if (result.code === 0) return result.stdout.replace(/\n$/, "");
    if (/is not in the password store/.test(result.stderr)) return null;
    throw this.failure(op, result);
  }

  async set(name: SecretName, value: string): Promise<void> {
    const op = `store the ${name} token`;
    const result = await this.pass(op, ["insert", "--multiline", "--force", this.path(name)], value);
    if (result.code !== 0) throw this.failure(op, result);
  }

  async delete(name: SecretName): Promise<boolean> {
    const op = `delete the ${name} token`;
    const result = await this.pass(op, ["rm", "--force", this.path(name)]);
    if (result.code === 0) return true;
    if (/is not in the password store/.test(result.stderr)) return false;
    throw this.failure(op, result);
  }
}
