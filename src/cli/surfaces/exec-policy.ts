/**
 * `exec -- CMD ARGS...`: the child's environment and how its end becomes ours. No side effects:
 * the command spawns with stdio inherited, prints nothing on stdout of its own, and uses these.
 *
 * Signals, as `aws-vault exec` and `op run` do:
 *  - SIGTERM, SIGHUP, SIGUSR1, SIGUSR2 sent to us are forwarded to the child (a supervisor or
 *    `timeout` signals only our pid), and we keep waiting for it;
 *  - SIGINT and SIGQUIT from the terminal reach the child directly (same foreground process
 *    group): we ignore them while it runs instead of forwarding a second copy (a double Ctrl-C
 *    means "force quit" to many tools). A `kill -INT` aimed at our pid alone therefore does not
 *    reach the child: send SIGTERM;
 *  - when the child ends, we exit with its status: its exit code, or 128 + the signal number
 *    when a signal killed it (SIGINT 130, SIGKILL 137, SIGTERM 143), the shells' convention,
 *    so `$?` reads the same as if the command had run alone;
 *  - it could not start: 127 when not found, 126 when not executable (the shells' codes).
 */

export const FORWARDED_SIGNALS = ["SIGTERM", "SIGHUP", "SIGUSR1", "SIGUSR2"] as const;
export const IGNORED_WHILE_CHILD_RUNS = ["SIGINT", "SIGQUIT"] as const;

/** The parent's environment, less ANTHROPIC_API_KEY (it would win for x-api-key), plus `set`. */
export function childEnvironment(parent: Readonly<Record<string, string | undefined>>, set: Readonly<Record<string, string>>, unset: readonly string[]): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [name, value] of Object.entries(parent)) if (value !== undefined && !unset.includes(name)) env[name] = value;
  return { ...env, ...set };
}

/** Our exit code from the child's end (node's `exit` event: code, or the signal's name). */
export function exitCodeFor(code: number | null, signal: string | null, signals: Readonly<Record<string, number>>): number {
  if (code !== null) return code;
  const number = signal ? signals[signal] : undefined;
  return number !== undefined ? 128 + number : 1;
}

/** Our exit code when the child could not be started (spawn's error code). */
export function spawnFailureExitCode(errorCode: string | undefined): 126 | 127 {
  return errorCode === "ENOENT" ? 127 : 126;
}

/** The message for that case (the command's name is the user's, shown as given, quoted). */
export function spawnFailureMessage(command: string, errorCode: string | undefined): string {
  return errorCode === "ENOENT" ? `${JSON.stringify(command)}: command not found` : `${JSON.stringify(command)}: cannot run it (${errorCode ?? "unknown error"})`;
}
