/**
 * Every failure of the surfaces modules (tenant sources, directory profiles, Desktop and MCP
 * configuration, exec) as one typed error: a `code` callers branch on (never the message), the
 * `cause`, and the exit code of the CLI's table (a CliError, so main.ts prints message + hint).
 */
import { CliError, ExitCode } from "../errors.ts";

export type SurfacesErrorCode =
  /** A file we read is not valid JSON/JSONC or not the documented shape. Exit 5. */
  | "bad_file"
  /** A file we read or write is a symlink or not a regular file (repository-controlled places). Exit 5. */
  | "unsafe_path"
  /** A file could not be read for another reason (permissions, I/O). Exit 5. */
  | "unreadable_file"
  /** AGENT_RUNNER_TENANT (or another variable) holds a value we refuse. Exit 5. */
  | "bad_env"
  /** The tenant typed at the prompt is not a usable URL. Exit 2. */
  | "bad_prompt_answer"
  /** No source named a tenant. Exit 2 (today's "no tenant configured yet"). */
  | "no_tenant"
  /** Claude Desktop's configuration asked for on a platform it does not run on. Exit 2. */
  | "unsupported_platform"
  /** `setup claude --mcp-server NAME`: no such server, or not an http/sse server. Exit 2. */
  | "mcp_server"
  /** `setup claude-desktop` finds an entry it did not create under our name, or a broken library. Exit 5. */
  | "desktop_config";

const EXIT: Record<SurfacesErrorCode, ExitCode> = {
  bad_file: ExitCode.config,
  unsafe_path: ExitCode.config,
  unreadable_file: ExitCode.config,
  bad_env: ExitCode.config,
  bad_prompt_answer: ExitCode.usage,
  no_tenant: ExitCode.usage,
  unsupported_platform: ExitCode.usage,
  mcp_server: ExitCode.usage,
  desktop_config: ExitCode.config,
};

export class SurfacesError extends CliError {
  override readonly name = "SurfacesError";
  /** The file the error is about, when there is one. */
  readonly path: string | undefined;
  constructor(
    readonly code: SurfacesErrorCode,
    message: string,
    hint?: string,
    options: { cause?: unknown; path?: string } = {},
  ) {
    super(EXIT[code], message, hint);
    this.cause = options.cause;
    this.path = options.path;
  }
}
