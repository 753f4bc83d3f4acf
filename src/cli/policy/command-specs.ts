/**
 * The option table of `admin policy check` (issue 18), as data only: commands/registry.ts includes
 * it in --help, the man page and the completions, so this module must stay free of run-time
 * imports (the registry is loaded on the `token` path). `admin policy show` and
 * `admin policy explain` ask the gateway, so their tables are with the other admin commands
 * (src/cli/gateway/command-specs.ts).
 */
import type { OptionSpec } from "../args.ts";

export interface PolicyCommandSpec {
  name: string;
  summary: string;
  usage: string;
  takesArguments: boolean;
  description: string;
  options: OptionSpec[];
}

export const POLICY_COMMANDS: PolicyCommandSpec[] = [
  {
    name: "admin policy check",
    summary: "validate a tenant policy file offline (groups to models, budgets and limits)",
    usage: "agent-runner-auth admin policy check FILE [--json]",
    takesArguments: true,
    description:
      "Reads FILE (JSON if it ends in .json, else YAML), checks it against the policy schema (deploy/policy.schema.json) and the rules a schema cannot express, and prints its hash: the one the gateway shows once the file is in force. Offline: no sign-in, no network. Exit 0 when valid (warnings on stderr), 2 with one line per problem naming the file, line, member and what is wrong. See docs/policy.md.",
    options: [{ name: "json", kind: "flag", description: "print {file, valid, hash, groups, default, warnings, errors} on stdout" }],
  },
];
