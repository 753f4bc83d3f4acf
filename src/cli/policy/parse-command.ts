/** `admin policy …` arguments to a request (usage errors, exit 2), without loading the policy parser. */
import type { ParsedArgs } from "../args.ts";
import { usageError } from "../errors.ts";
import { sanitizeForTerminal } from "../terminal-text.ts";

export interface PolicyCheckRequest {
  file: string;
  json: boolean;
}

/** `path` is what follows `admin policy`: ["check"]. */
export function parsePolicyCommand(path: string[], args: ParsedArgs): PolicyCheckRequest {
  if (path.join(" ") !== "check") throw usageError(`unknown command 'admin policy ${sanitizeForTerminal(path.join(" "))}'`, "See: agent-runner-auth admin policy --help");
  if (args.positionals.length !== 1 || args.positionals[0] === "") throw usageError("give one policy file: agent-runner-auth admin policy check FILE");
  return { file: args.positionals[0]!, json: args.flags.json === true };
}
